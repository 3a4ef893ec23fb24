"""Acknowledged writes survive `kill -9`; a restart on the same data directory
reuses the account, the region and the admin credentials."""
import os
import re
import stat
import threading
import unittest

import botocore.exceptions

import harness


class DurabilityTest(unittest.TestCase):

    def setUp(self):
        self.servers = []

    def tearDown(self):
        # Later servers first: the first one's temporary directory holds the data directory.
        for s in reversed(self.servers):
            s.cleanup()

    def start(self, data_dir=None):
        s = harness.Server(data_dir=data_dir)
        self.servers.append(s)
        return s.start()

    def test_acknowledged_writes_survive_kill9(self):
        first = self.start()
        iot = first.boto3_client("iot")
        iot.create_thing_type(thingTypeName="dur-type", thingTypeProperties={"thingTypeDescription": "t"})
        iot.create_thing_group(thingGroupName="dur-root", tags=[{"Key": "env", "Value": "prod"}])
        iot.create_thing_group(thingGroupName="dur-child", parentGroupName="dur-root",
                               thingGroupProperties={"thingGroupDescription": "child"})
        expected = {}
        for i in range(40):
            name = f"dur-{i:03d}"
            attrs = {"idx": str(i), "batch": "dur"}
            kw = {"thingTypeName": "dur-type"} if i % 4 == 0 else {}
            arn = iot.create_thing(thingName=name, attributePayload={"attributes": attrs}, **kw)["thingArn"]
            expected[name] = {"attributes": attrs, "version": 1, "type": kw.get("thingTypeName"), "arn": arn}
        for i in range(0, 40, 3):   # updates bump versions
            name = f"dur-{i:03d}"
            iot.update_thing(thingName=name, expectedVersion=1,
                             attributePayload={"attributes": {"idx": f"{i}u"}, "merge": True})
            expected[name]["attributes"]["idx"] = f"{i}u"
            expected[name]["version"] = 2
        for i in range(5, 40, 7):   # deletes
            name = f"dur-{i:03d}"
            iot.delete_thing(thingName=name)
            del expected[name]
        iot.add_thing_to_thing_group(thingGroupName="dur-child", thingName="dur-001")
        iot.add_thing_to_thing_group(thingGroupName="dur-root", thingName="dur-002")
        iot.deprecate_thing_type(thingTypeName="dur-type")
        ids = {t["thingName"]: iot.describe_thing(thingName=t["thingName"])["thingId"]
               for t in iot.list_things(attributeName="batch", attributeValue="dur", maxResults=250)["things"]}
        self.assertEqual(set(ids), set(expected))
        account = first.ready["account_id"]

        first.kill9()
        second = self.start(data_dir=first.data_dir)
        self.assertEqual(second.ready["account_id"], account)
        iot = second.boto3_client("iot")

        listed = {}
        for page in iot.get_paginator("list_things").paginate(attributeName="batch", attributeValue="dur"):
            for t in page["things"]:
                listed[t["thingName"]] = t
        self.assertEqual(set(listed), set(expected))
        for name, want in expected.items():
            thing = iot.describe_thing(thingName=name)
            self.assertEqual(thing["attributes"], want["attributes"], name)
            self.assertEqual(thing["version"], want["version"], name)
            self.assertEqual(thing.get("thingTypeName"), want["type"], name)
            self.assertEqual(thing["thingArn"], want["arn"], name)
            self.assertEqual(thing["thingId"], ids[name], name)
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.describe_thing(thingName="dur-005")

        child = iot.describe_thing_group(thingGroupName="dur-child")
        self.assertEqual(child["thingGroupMetadata"]["parentGroupName"], "dur-root")
        self.assertEqual(child["thingGroupProperties"]["thingGroupDescription"], "child")
        self.assertEqual(iot.list_things_in_thing_group(thingGroupName="dur-child")["things"], ["dur-001"])
        self.assertEqual(sorted(iot.list_things_in_thing_group(thingGroupName="dur-root", recursive=True)["things"]),
                         ["dur-001", "dur-002"])
        root_arn = iot.describe_thing_group(thingGroupName="dur-root")["thingGroupArn"]
        self.assertEqual(iot.list_tags_for_resource(resourceArn=root_arn)["tags"], [{"Key": "env", "Value": "prod"}])
        self.assertTrue(iot.describe_thing_type(thingTypeName="dur-type")["thingTypeMetadata"]["deprecated"])

        # The restarted server keeps working normally.
        iot.create_thing(thingName="dur-after")
        self.assertEqual(iot.describe_thing(thingName="dur-after")["version"], 1)

    def test_writes_in_flight_at_kill9_lose_nothing_acknowledged(self):
        first = self.start()
        acked = []            # names whose create_thing returned success
        lock = threading.Lock()
        enough = threading.Event()
        stop = threading.Event()

        def writer(w):
            client = first.boto3_client("iot")
            i = 0
            while not stop.is_set():
                name = f"fly-{w}-{i:05d}"
                try:
                    client.create_thing(thingName=name, attributePayload={"attributes": {"w": str(w)}})
                except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                    return   # the server is gone; this write was never acknowledged
                with lock:
                    acked.append(name)
                    if len(acked) >= 150:
                        enough.set()
                i += 1

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        try:
            self.assertTrue(enough.wait(120), f"only {len(acked)} writes acknowledged")
            first.kill9()    # while the writers are still writing
        finally:
            stop.set()
            for t in threads:
                t.join(120)
        with lock:
            acknowledged = set(acked)

        second = self.start(data_dir=first.data_dir)
        iot = second.boto3_client("iot")
        present = set()
        for page in iot.get_paginator("list_things").paginate(PaginationConfig={"PageSize": 250}):
            present |= {t["thingName"] for t in page["things"] if t["thingName"].startswith("fly-")}
        missing = sorted(acknowledged - present)
        self.assertEqual(missing, [], f"{len(missing)} acknowledged writes lost")
        # At most one unacknowledged create per writer may have landed.
        self.assertLessEqual(len(present - acknowledged), len(threads))

    def test_sigterm_then_restart_keeps_data(self):
        first = self.start()
        first.boto3_client("iot").create_thing(thingName="term-1", attributePayload={"attributes": {"k": "v"}})
        rc = first.stop()
        self.assertEqual(rc, 0, "SIGTERM should shut down cleanly:\n" + first.read_log())
        second = self.start(data_dir=first.data_dir)
        thing = second.boto3_client("iot").describe_thing(thingName="term-1")
        self.assertEqual(thing["attributes"], {"k": "v"})

    def test_account_region_and_credentials_are_reused(self):
        first = self.start()
        creds_before = harness.read_credentials(first.credentials_file)
        with open(first.credentials_file, "rb") as f:
            raw_before = f.read()
        ready_before = dict(first.ready)
        iot_before = first.boto3_client("iot")
        arn = iot_before.create_thing(thingName="reuse-1")["thingArn"]

        first.kill9()
        second = self.start(data_dir=first.data_dir)
        self.assertEqual(second.ready["account_id"], ready_before["account_id"])
        self.assertEqual(second.ready["region"], ready_before["region"])
        self.assertEqual(os.path.realpath(second.credentials_file), os.path.realpath(first.credentials_file))
        with open(second.credentials_file, "rb") as f:
            self.assertEqual(f.read(), raw_before)
        self.assertEqual(harness.read_credentials(second.credentials_file), creds_before)

        # The old key pair still works against the new process (a new endpoint, same keys).
        iot = second.boto3_client("iot", access_key=creds_before["aws_access_key_id"],
                                  secret_key=creds_before["aws_secret_access_key"])
        self.assertEqual(iot.describe_thing(thingName="reuse-1")["thingArn"], arn)
        sts = second.boto3_client("sts")
        self.assertEqual(sts.get_caller_identity()["Account"], ready_before["account_id"])
        self.assertEqual(self_arn_account(arn), ready_before["account_id"])

    def test_credentials_file_shape_and_mode(self):
        s = self.start()
        path = s.credentials_file
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode, 0o600, oct(mode))
        with open(path) as f:
            text = f.read()
        lines = [l.strip() for l in text.splitlines() if l.strip()]
        self.assertIn("[default]", lines, text)
        creds = harness.read_credentials(path)
        for key in ("aws_access_key_id", "aws_secret_access_key", "region"):
            self.assertTrue(creds.get(key), f"{key} missing in:\n{text}")
        self.assertEqual(creds["region"], s.ready["region"])
        self.assertRegex(s.ready["account_id"], r"^\d{12}$")
        # The ready file points at a data directory that is really this server's.
        self.assertTrue(os.path.isdir(s.data_dir))


def self_arn_account(arn):
    m = re.fullmatch(r"arn:aws:iot:[a-z0-9-]+:(\d{12}):thing/.+", arn)
    return m.group(1) if m else None


if __name__ == "__main__":
    harness.main()

"""Jobs 06: jobs survive `kill -9`. A rate-limited rollout (maximumPerMinute=2
over 8 things, --jobs-time-scale 60 so a job minute is a second) is under
way; devices have acknowledged updates over HTTP (iot-jobs-data) and one
over MQTT, and one execution is IN_PROGRESS with a step timeout. The server
is killed with SIGKILL and stays down past that deadline; restarted on the
same data directory, every acknowledged update is there as it was answered,
the rollout carries on (still at most two per minute) to all 8 things, and
the execution whose step timer ran out while the server was down is
TIMED_OUT exactly once: one version step, numberOfTimedOutThings == 1, also
after another restart."""
import json
import math
import time
import unittest

import harness
import jobs_helpers as jh
import mqtt_helpers as mh
from mqtt_helpers import wait_for

MINUTE = 1.0   # real seconds per job minute at --jobs-time-scale 60


class JobsKill9Test(jh.JobsMixin, unittest.TestCase):

    def setUp(self):
        self.servers = []

    def tearDown(self):
        # Later servers first: the first one's temporary directory holds the data directory.
        for s in reversed(self.servers):
            s.cleanup()

    def start(self, data_dir=None):
        s = harness.Server(data_dir=data_dir, extra_args=jh.FAST_JOBS)
        self.servers.append(s)
        s.start()
        self.server = s
        self.iot = s.boto3_client("iot")
        self.region, self.account = s.ready["region"], s.ready["account_id"]
        return s

    def assertRateHeld(self, count, t0, seen):
        windows = math.floor((time.monotonic() - t0) / MINUTE) + 1
        self.assertLessEqual(count, 2 * windows, f"rollout faster than 2 per minute: {seen}")

    def test_rollout_and_acknowledged_updates_survive_kill9(self):
        first = self.start()
        group, things = self.make_group("k9", 8)
        # One device answers over MQTT (connected before the rollout starts, to keep the
        # time until the kill short: the rollout must still be under way then).
        devices = mh.Provisioner(first)
        devices.policy("k9-all", document=mh.ALLOW_ALL)
        client = mh.MqttClient(first, devices.certificate(policies=["k9-all"]), clean=True)
        self.addCleanup(client.close)
        self.assertEqual(client.connect(), 0)
        self.assertEqual(client.subscribe([("$aws/things/+/jobs/+/update/accepted", 1),
                                           ("$aws/things/+/jobs/+/update/rejected", 1)]), [1, 1])
        t0 = time.monotonic()
        job_id = self.create_job([self.group_arn(group)], jobExecutionsRolloutConfig={"maximumPerMinute": 2},
                                 document={"firmware": "2.1.0"})
        self.wait_execution_count(job_id, 4, timeout=10 * MINUTE)
        out = sorted(self.executions(job_id))
        done, working, failing, slow = out[:4]

        # Acknowledged updates, each answered by the server before the kill.
        self.assertEqual(self.start_next(done)["jobId"], job_id)
        self.update(done, job_id, "SUCCEEDED", statusDetails={"fw": "2.1.0"}, expectedVersion=2)
        self.start_next(working, statusDetails={"step": "start"})
        self.update(working, job_id, "IN_PROGRESS", statusDetails={"step": "download", "pct": "40"})
        # This one over MQTT: update/accepted is published once the change is durable.
        self.start_next(failing)
        base = f"$aws/things/{failing}/jobs/{job_id}/update"
        self.assertTrue(client.publish(base, json.dumps({"status": "FAILED", "expectedVersion": 2,
                                                         "statusDetails": {"error": "checksum"}}), qos=1))
        answers = client.wait_messages(1, topic=base + "/accepted")
        self.assertEqual(len(answers), 1, [(m.topic, m.payload) for m in client.messages])
        acked = {t: (e["status"], e["versionNumber"], e["statusDetails"].get("detailsMap", {}))
                 for t, e in ((t, self.execution(job_id, t)) for t in (done, working, failing))}
        self.assertEqual(acked, {done: ("SUCCEEDED", 3, {"fw": "2.1.0"}),
                                 working: ("IN_PROGRESS", 3, {"step": "download", "pct": "40"}),
                                 failing: ("FAILED", 3, {"error": "checksum"})})
        # Last: a step timeout of 2 job minutes, then the kill at once.
        started = self.start_next(slow, stepTimeoutInMinutes=2)
        deadline = time.monotonic() + 2 * MINUTE
        self.assertEqual((started["jobId"], started["status"], started["versionNumber"]), (job_id, "IN_PROGRESS", 2))
        before_kill = self.executions(job_id)
        first.kill9()
        client.close()
        self.assertEqual(before_kill[slow]["status"], "IN_PROGRESS", "timed out before the kill already")
        self.assertLess(len(before_kill), 8, "the rollout finished before the kill: nothing left to continue")

        # Down past the step deadline (time is the subject: half a job minute beyond it).
        time.sleep(max(0.0, deadline + 0.5 * MINUTE - time.monotonic()))
        self.start(data_dir=first.data_dir)

        # Every acknowledged update is there as it was answered.
        for t, (status, version, details) in acked.items():
            e = self.execution(job_id, t)
            self.assertEqual((e["status"], e["versionNumber"], e["statusDetails"].get("detailsMap", {})),
                             (status, version, details), t)
        self.assertEqual(self.start_next(working)["statusDetails"], {"step": "download", "pct": "40"})

        # The expired step timer fires once after the restart.
        e = self.wait_execution_status(job_id, slow, "TIMED_OUT", timeout=10 * MINUTE)
        self.assertEqual(e["versionNumber"], 3)
        self.assertEqual(self.details(job_id)["numberOfTimedOutThings"], 1)

        # The rollout continues to all 8 things, still at most two per minute.
        seen = []

        def all_out():
            count = len(self.executions(job_id))
            seen.append(count)
            self.assertRateHeld(count, t0, seen)
            return count == 8
        self.assertTrue(wait_for(all_out, 20 * MINUTE, 0.05), f"the rollout stopped: {seen}")
        self.assertEqual(set(self.executions(job_id)), set(things))

        # The devices finish; the job completes with each thing counted once.
        self.update(working, job_id, "SUCCEEDED", expectedVersion=3)
        for t in things:
            if t not in (done, working, failing, slow):
                self.assertEqual(self.start_next(t)["jobId"], job_id)
                self.update(t, job_id, "SUCCEEDED")
        job = self.wait_job_status(job_id, "COMPLETED")
        d = job["jobProcessDetails"]
        counts = (d["numberOfSucceededThings"], d["numberOfFailedThings"], d["numberOfTimedOutThings"],
                  d["numberOfQueuedThings"], d["numberOfInProgressThings"])
        self.assertEqual(counts, (6, 1, 1, 0, 0), d)

        # Another restart (SIGTERM this time) changes nothing: no second time-out.
        self.assertEqual(self.server.stop(), 0)
        self.start(data_dir=first.data_dir)
        self.assertEqual(self.describe_job(job_id)["jobProcessDetails"], d)
        e = self.execution(job_id, slow)
        self.assertEqual((e["status"], e["versionNumber"]), ("TIMED_OUT", 3))
        self.assertEqual(self.describe_job(job_id)["status"], "COMPLETED")


if __name__ == "__main__":
    harness.main()

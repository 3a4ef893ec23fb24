"""The IoT registry API driven through the real AWS CLI v2 (/usr/bin/aws).

Every registry operation is exercised on its success path and its main error
paths, with the CLI parsing the server's responses exactly as it would AWS's.
Bulk setup goes through boto3 to keep the run short; each operation still has
at least one representative CLI invocation.
"""
import json
import re
import tempfile

import harness


class RegistryCliTest(harness.ServerTestCase):

    # ---- helpers ---------------------------------------------------------
    def describe_thing(self, name):
        # Verification reads go through boto3 to keep the run short; describe-thing itself
        # has its own CLI tests below.
        return self.iot.describe_thing(thingName=name)

    def list_thing_names(self, *args):
        out = self.assertAwsOk(self.aws("iot", "list-things", *args))
        names = [t["thingName"] for t in out["things"]]
        self.assertEqual(len(names), len(set(names)), f"duplicates in {names}")
        return set(names)

    def group_names(self, out):
        return {g["groupName"] for g in out["thingGroups"]}

    # ---- things: create / describe ---------------------------------------
    def test_create_thing_is_idempotent_for_the_same_configuration(self):
        payload = json.dumps({"attributes": {"model": "m1", "fw": "1.0"}})
        first = self.assertAwsOk(self.aws("iot", "create-thing", "--thing-name", "cli-idem",
                                          "--attribute-payload", payload))
        self.assertEqual(first["thingName"], "cli-idem")
        self.assertEqual(first["thingArn"], self.arn("thing", "cli-idem"))
        self.assertTrue(first["thingId"])

        again = self.assertAwsOk(self.aws("iot", "create-thing", "--thing-name", "cli-idem",
                                          "--attribute-payload", payload))
        self.assertEqual(again["thingId"], first["thingId"])
        self.assertEqual(again["thingArn"], first["thingArn"])

        differing = json.dumps({"attributes": {"model": "m2", "fw": "1.0"}})
        self.assertAwsError(self.aws("iot", "create-thing", "--thing-name", "cli-idem",
                                     "--attribute-payload", differing),
                            "ResourceAlreadyExistsException")
        # The refused create changed nothing.
        thing = self.describe_thing("cli-idem")
        self.assertEqual(thing["attributes"], {"model": "m1", "fw": "1.0"})
        self.assertEqual(thing["version"], 1)
        self.assertEqual(thing["thingId"], first["thingId"])

    def test_describe_thing(self):
        created = self.assertAwsOk(self.aws(
            "iot", "create-thing", "--thing-name", "cli-desc",
            "--attribute-payload", '{"attributes":{"color":"red","serial":"sn-0001"}}'))
        thing = self.assertAwsOk(self.aws("iot", "describe-thing", "--thing-name", "cli-desc"))
        self.assertEqual(thing["thingName"], "cli-desc")
        self.assertEqual(thing["thingArn"], f"arn:aws:iot:{self.region}:{self.account}:thing/cli-desc")
        self.assertEqual(thing["thingId"], created["thingId"])
        self.assertEqual(thing["version"], 1)
        self.assertEqual(thing["attributes"], {"color": "red", "serial": "sn-0001"})
        self.assertEqual(thing.get("defaultClientId"), "cli-desc")
        self.assertNotIn("thingTypeName", thing)
        self.assertTrue(re.fullmatch(r"\d{12}", self.account), self.account)

    def test_create_thing_without_options_and_name_with_colon(self):
        # ':' is legal in a thing name; the CLI sends it percent-encoded in the path
        # (SigV4 then encodes the path once more).
        out = self.assertAwsOk(self.aws("iot", "create-thing", "--thing-name", "cli:plain_1-x"))
        self.assertEqual(out["thingArn"], self.arn("thing", "cli:plain_1-x"))
        thing = self.describe_thing("cli:plain_1-x")
        self.assertEqual(thing["thingName"], "cli:plain_1-x")
        self.assertEqual(thing.get("attributes", {}), {})
        self.assertEqual(thing["version"], 1)

    # ---- things: update --------------------------------------------------
    def test_update_thing_merge_remove_and_replace(self):
        self.iot.create_thing(thingName="cli-upd",
                              attributePayload={"attributes": {"a": "1", "b": "2"}})

        self.assertAwsOk(self.aws("iot", "update-thing", "--thing-name", "cli-upd", "--attribute-payload",
                                  '{"attributes":{"b":"20","c":"3"},"merge":true}'))
        thing = self.describe_thing("cli-upd")
        self.assertEqual(thing["attributes"], {"a": "1", "b": "20", "c": "3"})
        self.assertEqual(thing["version"], 2)

        # An empty value removes the attribute when merging.
        self.assertAwsOk(self.aws("iot", "update-thing", "--thing-name", "cli-upd", "--attribute-payload",
                                  '{"attributes":{"a":""},"merge":true}'))
        thing = self.describe_thing("cli-upd")
        self.assertEqual(thing["attributes"], {"b": "20", "c": "3"})
        self.assertEqual(thing["version"], 3)

        # merge=false replaces the whole set.
        self.assertAwsOk(self.aws("iot", "update-thing", "--thing-name", "cli-upd", "--attribute-payload",
                                  '{"attributes":{"z":"9"},"merge":false}'))
        thing = self.describe_thing("cli-upd")
        self.assertEqual(thing["attributes"], {"z": "9"})
        self.assertEqual(thing["version"], 4)

    def test_update_thing_expected_version(self):
        self.iot.create_thing(thingName="cli-ver", attributePayload={"attributes": {"k": "v0"}})
        self.assertAwsOk(self.aws("iot", "update-thing", "--thing-name", "cli-ver", "--expected-version", "1",
                                  "--attribute-payload", '{"attributes":{"k":"v1"},"merge":true}'))
        # Version is now 2: a stale expected version is refused and changes nothing.
        self.assertAwsError(self.aws("iot", "update-thing", "--thing-name", "cli-ver", "--expected-version", "1",
                                     "--attribute-payload", '{"attributes":{"k":"stale"},"merge":true}'),
                            "VersionConflictException")
        thing = self.describe_thing("cli-ver")
        self.assertEqual(thing["attributes"], {"k": "v1"})
        self.assertEqual(thing["version"], 2)

    def test_update_missing_thing(self):
        self.assertAwsError(self.aws("iot", "update-thing", "--thing-name", "cli-upd-nope",
                                     "--attribute-payload", '{"attributes":{"k":"v"},"merge":true}'),
                            "ResourceNotFoundException")

    def test_update_thing_type_and_remove_thing_type(self):
        self.iot.create_thing_type(thingTypeName="cli-utype")
        self.iot.create_thing(thingName="cli-typed")
        self.assertAwsOk(self.aws("iot", "update-thing", "--thing-name", "cli-typed",
                                  "--thing-type-name", "cli-utype"))
        thing = self.describe_thing("cli-typed")
        self.assertEqual(thing["thingTypeName"], "cli-utype")
        self.assertEqual(thing["version"], 2)

        self.assertAwsOk(self.aws("iot", "update-thing", "--thing-name", "cli-typed", "--remove-thing-type"))
        thing = self.describe_thing("cli-typed")
        self.assertNotIn("thingTypeName", thing)
        self.assertEqual(thing["version"], 3)

        self.assertAwsError(self.aws("iot", "update-thing", "--thing-name", "cli-typed",
                                     "--thing-type-name", "cli-no-such-type"),
                            "ResourceNotFoundException")

    # ---- things: delete --------------------------------------------------
    def test_delete_thing(self):
        self.iot.create_thing(thingName="cli-del")
        self.assertAwsError(self.aws("iot", "delete-thing", "--thing-name", "cli-del", "--expected-version", "7"),
                            "VersionConflictException")
        self.assertEqual(self.describe_thing("cli-del")["thingName"], "cli-del")

        self.assertAwsOk(self.aws("iot", "delete-thing", "--thing-name", "cli-del", "--expected-version", "1"))
        self.assertAwsError(self.aws("iot", "describe-thing", "--thing-name", "cli-del"),
                            "ResourceNotFoundException")
        self.assertNotIn("cli-del", {t["thingName"] for t in self.iot.list_things(maxResults=250)["things"]})

        # The API reference: "Returns successfully with no error if ... you specify a thing that doesn't exist."
        self.assertAwsOk(self.aws("iot", "delete-thing", "--thing-name", "cli-del"))
        # The name can be used again, and the new thing starts over at version 1.
        self.iot.create_thing(thingName="cli-del")
        self.assertEqual(self.describe_thing("cli-del")["version"], 1)

    # ---- things: list ----------------------------------------------------
    def test_list_things_filters(self):
        self.iot.create_thing_type(thingTypeName="cli-lf-type")
        things = {
            "cli-lf-1": ({"lfcolor": "red", "lfserial": "sn-100"}, None),
            "cli-lf-2": ({"lfcolor": "blue", "lfserial": "sn-101"}, None),
            "cli-lf-3": ({"lfcolor": "red", "lfserial": "xx-102"}, "cli-lf-type"),
            "cli-lf-4": ({"lfother": "red"}, "cli-lf-type"),
        }
        for name, (attrs, ttype) in things.items():
            kw = {"thingTypeName": ttype} if ttype else {}
            self.iot.create_thing(thingName=name, attributePayload={"attributes": attrs}, **kw)

        self.assertEqual(self.list_thing_names("--attribute-name", "lfcolor", "--attribute-value", "red"),
                         {"cli-lf-1", "cli-lf-3"})
        self.assertEqual(self.list_thing_names("--attribute-name", "lfserial", "--attribute-value", "sn-",
                                               "--use-prefix-attribute-value"),
                         {"cli-lf-1", "cli-lf-2"})
        # Without the prefix flag the value must match exactly.
        self.assertEqual(self.iot.list_things(attributeName="lfserial", attributeValue="sn-")["things"], [])
        self.assertEqual([t["thingName"] for t in self.iot.list_things(attributeName="lfserial",
                                                                       attributeValue="sn-101")["things"]],
                         ["cli-lf-2"])
        self.assertEqual(self.list_thing_names("--thing-type-name", "cli-lf-type"), {"cli-lf-3", "cli-lf-4"})
        self.assertEqual(self.list_thing_names("--thing-type-name", "cli-lf-type",
                                               "--attribute-name", "lfcolor", "--attribute-value", "red"),
                         {"cli-lf-3"})

        # Each entry carries the thing's ARN, type, attributes and version.
        out = self.assertAwsOk(self.aws("iot", "list-things", "--attribute-name", "lfcolor",
                                        "--attribute-value", "red"))
        entries = {t["thingName"]: t for t in out["things"]}
        self.assertEqual(entries["cli-lf-3"]["thingArn"], self.arn("thing", "cli-lf-3"))
        self.assertEqual(entries["cli-lf-3"]["thingTypeName"], "cli-lf-type")
        self.assertEqual(entries["cli-lf-3"]["attributes"], {"lfcolor": "red", "lfserial": "xx-102"})
        self.assertEqual(entries["cli-lf-3"]["version"], 1)
        self.assertNotIn("thingTypeName", entries["cli-lf-1"])

        # Unfiltered listing contains all of them.
        self.assertTrue(set(things) <= {t["thingName"] for page in self.iot.get_paginator("list_things").paginate()
                                        for t in page["things"]})

    def test_list_things_pagination(self):
        names = {f"cli-pg-{i}" for i in range(7)}
        for name in names:
            self.iot.create_thing(thingName=name, attributePayload={"attributes": {"pgbatch": "cli"}})
        flt = ("--attribute-name", "pgbatch", "--attribute-value", "cli")

        # --page-size sets maxResults; the CLI follows nextToken until the end.
        self.assertEqual(self.list_thing_names(*flt, "--page-size", "2"), names)

        # --max-items truncates client-side and hands back a token; --starting-token resumes.
        first = self.assertAwsOk(self.aws("iot", "list-things", *flt, "--page-size", "2", "--max-items", "3"))
        self.assertEqual(len(first["things"]), 3)
        self.assertIn("NextToken", first)
        rest = self.assertAwsOk(self.aws("iot", "list-things", *flt, "--page-size", "2",
                                         "--starting-token", first["NextToken"]))
        seen = [t["thingName"] for t in first["things"]] + [t["thingName"] for t in rest["things"]]
        self.assertEqual(sorted(seen), sorted(names))
        self.assertNotIn("NextToken", rest)

        # --max-results turns the CLI's paging off: one page and the service's own nextToken.
        page1 = self.assertAwsOk(self.aws("iot", "list-things", *flt, "--max-results", "4"))
        self.assertEqual(len(page1["things"]), 4)
        self.assertTrue(page1.get("nextToken"))
        page2 = self.assertAwsOk(self.aws("iot", "list-things", *flt, "--max-results", "4",
                                          "--next-token", page1["nextToken"]))
        self.assertEqual(len(page2["things"]), 3)
        self.assertFalse(page2.get("nextToken"))
        seen = [t["thingName"] for t in page1["things"] + page2["things"]]
        self.assertEqual(sorted(seen), sorted(names))

    def test_forged_next_token_is_rejected(self):
        iot = self.server.boto3_client("iot")
        with self.assertRaises(iot.exceptions.InvalidRequestException):
            iot.list_things(nextToken="forged-token-that-the-server-never-issued")
        with self.assertRaises(iot.exceptions.InvalidRequestException):
            iot.list_thing_groups(nextToken="AAAAforged////==")

    # ---- validation ------------------------------------------------------
    def test_invalid_names_are_rejected(self):
        self.assertAwsError(self.aws("iot", "create-thing", "--thing-name", "bad name!"),
                            "InvalidRequestException")
        self.assertAwsError(self.aws("iot", "create-thing", "--thing-name", "a" * 129),
                            "InvalidRequestException")
        self.assertAwsError(self.aws("iot", "create-thing-group", "--thing-group-name", "bad*group"),
                            "InvalidRequestException")
        self.assertAwsError(self.aws("iot", "create-thing-type", "--thing-type-name", "b" * 129),
                            "InvalidRequestException")
        # Attribute names and values have their own pattern ([a-zA-Z0-9_.,@/:#-]).
        self.assertAwsError(self.aws("iot", "create-thing", "--thing-name", "cli-badattr",
                                     "--attribute-payload", '{"attributes":{"has space":"v"}}'),
                            "InvalidRequestException")
        self.assertAwsError(self.aws("iot", "create-thing", "--thing-name", "cli-badattr",
                                     "--attribute-payload", '{"attributes":{"k":"has space"}}'),
                            "InvalidRequestException")
        # 128 characters is the maximum, and is fine.
        self.iot.create_thing(thingName="c" * 128)
        self.assertEqual(self.describe_thing("c" * 128)["thingName"], "c" * 128)
        # Nothing refused was created.
        with self.assertRaises(self.iot.exceptions.ResourceNotFoundException):
            self.iot.describe_thing(thingName="cli-badattr")
        self.assertNotIn("a" * 129, {t["thingName"] for t in self.iot.list_things(maxResults=250)["things"]})

    def test_more_than_three_attributes_needs_a_thing_type(self):
        four = '{"attributes":{"a1":"1","a2":"2","a3":"3","a4":"4"}}'
        self.assertAwsError(self.aws("iot", "create-thing", "--thing-name", "cli-four",
                                     "--attribute-payload", four),
                            "InvalidRequestException")
        with self.assertRaises(self.iot.exceptions.ResourceNotFoundException):
            self.iot.describe_thing(thingName="cli-four")

        # Merging a fourth attribute into an untyped thing is refused too.
        self.iot.create_thing(thingName="cli-three",
                              attributePayload={"attributes": {"a1": "1", "a2": "2", "a3": "3"}})
        self.assertAwsError(self.aws("iot", "update-thing", "--thing-name", "cli-three", "--attribute-payload",
                                     '{"attributes":{"a4":"4"},"merge":true}'),
                            "InvalidRequestException")
        self.assertEqual(self.describe_thing("cli-three")["attributes"], {"a1": "1", "a2": "2", "a3": "3"})

        # With a thing type, more attributes are allowed.
        self.iot.create_thing_type(thingTypeName="cli-four-type")
        self.assertAwsOk(self.aws("iot", "create-thing", "--thing-name", "cli-four",
                                  "--thing-type-name", "cli-four-type", "--attribute-payload", four))
        self.assertEqual(len(self.describe_thing("cli-four")["attributes"]), 4)

    # ---- thing types -----------------------------------------------------
    def test_thing_type_lifecycle(self):
        props = json.dumps({"thingTypeDescription": "light bulbs", "searchableAttributes": ["wattage", "model"]})
        created = self.assertAwsOk(self.aws("iot", "create-thing-type", "--thing-type-name", "cli-bulb",
                                            "--thing-type-properties", props))
        self.assertEqual(created["thingTypeName"], "cli-bulb")
        self.assertEqual(created["thingTypeArn"], self.arn("thingtype", "cli-bulb"))
        self.assertTrue(created["thingTypeId"])

        desc = self.assertAwsOk(self.aws("iot", "describe-thing-type", "--thing-type-name", "cli-bulb"))
        self.assertEqual(desc["thingTypeName"], "cli-bulb")
        self.assertEqual(desc["thingTypeId"], created["thingTypeId"])
        self.assertEqual(desc["thingTypeArn"], created["thingTypeArn"])
        self.assertEqual(desc["thingTypeProperties"]["thingTypeDescription"], "light bulbs")
        self.assertEqual(desc["thingTypeProperties"]["searchableAttributes"], ["wattage", "model"])
        self.assertFalse(desc["thingTypeMetadata"]["deprecated"])
        self.assertIn("creationDate", desc["thingTypeMetadata"])

        listed = self.assertAwsOk(self.aws("iot", "list-thing-types"))
        self.assertIn("cli-bulb", [t["thingTypeName"] for t in listed["thingTypes"]])
        only = self.assertAwsOk(self.aws("iot", "list-thing-types", "--thing-type-name", "cli-bulb"))
        self.assertEqual([t["thingTypeName"] for t in only["thingTypes"]], ["cli-bulb"])
        self.assertEqual(only["thingTypes"][0]["thingTypeArn"], self.arn("thingtype", "cli-bulb"))
        self.assertEqual(only["thingTypes"][0]["thingTypeProperties"]["thingTypeDescription"], "light bulbs")

        self.assertAwsOk(self.aws("iot", "create-thing", "--thing-name", "cli-bulb-1", "--thing-type-name", "cli-bulb"))
        self.assertEqual(self.describe_thing("cli-bulb-1")["thingTypeName"], "cli-bulb")

        # Not deprecated: cannot be deleted.
        self.assertAwsError(self.aws("iot", "delete-thing-type", "--thing-type-name", "cli-bulb"),
                            "InvalidRequestException")

        self.assertAwsOk(self.aws("iot", "deprecate-thing-type", "--thing-type-name", "cli-bulb"))
        desc = self.iot.describe_thing_type(thingTypeName="cli-bulb")
        self.assertTrue(desc["thingTypeMetadata"]["deprecated"])
        self.assertIn("deprecationDate", desc["thingTypeMetadata"])

        # A deprecated type cannot be given to new things.
        self.assertAwsError(self.aws("iot", "create-thing", "--thing-name", "cli-bulb-2",
                                     "--thing-type-name", "cli-bulb"),
                            "InvalidRequestException")
        with self.assertRaises(self.iot.exceptions.ResourceNotFoundException):
            self.iot.describe_thing(thingName="cli-bulb-2")

        self.assertAwsOk(self.aws("iot", "deprecate-thing-type", "--thing-type-name", "cli-bulb",
                                  "--undo-deprecate"))
        desc = self.iot.describe_thing_type(thingTypeName="cli-bulb")
        self.assertFalse(desc["thingTypeMetadata"]["deprecated"])
        self.assertAwsOk(self.aws("iot", "create-thing", "--thing-name", "cli-bulb-2", "--thing-type-name", "cli-bulb"))

        # Deprecated but still in use by things: refused.
        self.iot.deprecate_thing_type(thingTypeName="cli-bulb")
        self.assertAwsError(self.aws("iot", "delete-thing-type", "--thing-type-name", "cli-bulb"),
                            "InvalidRequestException")
        self.iot.delete_thing(thingName="cli-bulb-1")
        self.iot.update_thing(thingName="cli-bulb-2", removeThingType=True)

        self.assertAwsOk(self.aws("iot", "delete-thing-type", "--thing-type-name", "cli-bulb"))
        self.assertAwsError(self.aws("iot", "describe-thing-type", "--thing-type-name", "cli-bulb"),
                            "ResourceNotFoundException")
        listed = self.iot.list_thing_types()
        self.assertNotIn("cli-bulb", [t["thingTypeName"] for t in listed["thingTypes"]])

    def test_missing_thing_type(self):
        self.assertAwsError(self.aws("iot", "describe-thing-type", "--thing-type-name", "cli-type-nope"),
                            "ResourceNotFoundException")
        self.assertAwsError(self.aws("iot", "deprecate-thing-type", "--thing-type-name", "cli-type-nope"),
                            "ResourceNotFoundException")
        self.assertAwsError(self.aws("iot", "create-thing", "--thing-name", "cli-untypable",
                                     "--thing-type-name", "cli-type-nope"),
                            "ResourceNotFoundException")

    # ---- thing groups ----------------------------------------------------
    def test_thing_group_hierarchy_describe_update_delete(self):
        props = json.dumps({"thingGroupDescription": "root group",
                            "attributePayload": {"attributes": {"k1": "v1"}}})
        root = self.assertAwsOk(self.aws("iot", "create-thing-group", "--thing-group-name", "cli-tg-root",
                                         "--thing-group-properties", props))
        self.assertEqual(root["thingGroupName"], "cli-tg-root")
        self.assertEqual(root["thingGroupArn"], self.arn("thinggroup", "cli-tg-root"))
        self.assertTrue(root["thingGroupId"])
        child = self.assertAwsOk(self.aws("iot", "create-thing-group", "--thing-group-name", "cli-tg-child",
                                          "--parent-group-name", "cli-tg-root"))
        self.iot.create_thing_group(thingGroupName="cli-tg-gc", parentGroupName="cli-tg-child")

        gc = self.assertAwsOk(self.aws("iot", "describe-thing-group", "--thing-group-name", "cli-tg-gc"))
        self.assertEqual(gc["thingGroupName"], "cli-tg-gc")
        self.assertEqual(gc["thingGroupArn"], self.arn("thinggroup", "cli-tg-gc"))
        self.assertEqual(gc["version"], 1)
        self.assertEqual(gc["thingGroupMetadata"]["parentGroupName"], "cli-tg-child")
        self.assertEqual(gc["thingGroupMetadata"]["rootToParentThingGroups"], [
            {"groupName": "cli-tg-root", "groupArn": root["thingGroupArn"]},
            {"groupName": "cli-tg-child", "groupArn": child["thingGroupArn"]},
        ])
        self.assertIn("creationDate", gc["thingGroupMetadata"])

        rd = self.assertAwsOk(self.aws("iot", "describe-thing-group", "--thing-group-name", "cli-tg-root"))
        self.assertEqual(rd["thingGroupId"], root["thingGroupId"])
        self.assertEqual(rd["version"], 1)
        self.assertNotIn("parentGroupName", rd["thingGroupMetadata"])
        self.assertFalse(rd["thingGroupMetadata"].get("rootToParentThingGroups"))
        self.assertEqual(rd["thingGroupProperties"]["thingGroupDescription"], "root group")
        self.assertEqual(rd["thingGroupProperties"]["attributePayload"]["attributes"], {"k1": "v1"})

        # Update with the right expected version, merging attributes.
        upd = json.dumps({"thingGroupDescription": "root v2",
                          "attributePayload": {"attributes": {"k2": "v2"}, "merge": True}})
        out = self.assertAwsOk(self.aws("iot", "update-thing-group", "--thing-group-name", "cli-tg-root",
                                        "--thing-group-properties", upd, "--expected-version", "1"))
        self.assertEqual(out["version"], 2)
        rd = self.iot.describe_thing_group(thingGroupName="cli-tg-root")
        self.assertEqual(rd["version"], 2)
        self.assertEqual(rd["thingGroupProperties"]["thingGroupDescription"], "root v2")
        self.assertEqual(rd["thingGroupProperties"]["attributePayload"]["attributes"], {"k1": "v1", "k2": "v2"})

        # A stale expected version is refused and changes nothing.
        self.assertAwsError(self.aws("iot", "update-thing-group", "--thing-group-name", "cli-tg-root",
                                     "--thing-group-properties", '{"thingGroupDescription":"stale"}',
                                     "--expected-version", "1"),
                            "VersionConflictException")
        rd = self.iot.describe_thing_group(thingGroupName="cli-tg-root")
        self.assertEqual(rd["thingGroupProperties"]["thingGroupDescription"], "root v2")
        self.assertEqual(rd["version"], 2)

        # A group with child groups cannot be deleted.
        self.assertAwsError(self.aws("iot", "delete-thing-group", "--thing-group-name", "cli-tg-child"),
                            "InvalidRequestException")
        self.assertEqual(self.iot.describe_thing_group(thingGroupName="cli-tg-child")["thingGroupName"],
                         "cli-tg-child")

        self.assertAwsOk(self.aws("iot", "delete-thing-group", "--thing-group-name", "cli-tg-gc"))
        self.assertAwsOk(self.aws("iot", "delete-thing-group", "--thing-group-name", "cli-tg-child",
                                  "--expected-version", "1"))
        self.assertAwsError(self.aws("iot", "describe-thing-group", "--thing-group-name", "cli-tg-child"),
                            "ResourceNotFoundException")

    def test_list_thing_groups(self):
        self.iot.create_thing_group(thingGroupName="cli-lg-root")
        self.iot.create_thing_group(thingGroupName="cli-lg-kid1", parentGroupName="cli-lg-root")
        self.iot.create_thing_group(thingGroupName="cli-lg-kid2", parentGroupName="cli-lg-root")
        self.iot.create_thing_group(thingGroupName="cli-lg-grandkid", parentGroupName="cli-lg-kid1")
        self.iot.create_thing_group(thingGroupName="cli-lx-other")
        family = {"cli-lg-root", "cli-lg-kid1", "cli-lg-kid2", "cli-lg-grandkid"}

        everything = self.assertAwsOk(self.aws("iot", "list-thing-groups"))
        self.assertTrue(family | {"cli-lx-other"} <= self.group_names(everything))
        by_name = {g["groupName"]: g["groupArn"] for g in everything["thingGroups"]}
        self.assertEqual(by_name["cli-lg-grandkid"], self.arn("thinggroup", "cli-lg-grandkid"))

        self.assertEqual(self.group_names(self.assertAwsOk(self.aws(
            "iot", "list-thing-groups", "--name-prefix-filter", "cli-lg-"))), family)
        self.assertEqual(self.group_names(self.assertAwsOk(self.aws(
            "iot", "list-thing-groups", "--name-prefix-filter", "cli-lg-kid"))), {"cli-lg-kid1", "cli-lg-kid2"})

        self.assertEqual(self.group_names(self.assertAwsOk(self.aws(
            "iot", "list-thing-groups", "--parent-group", "cli-lg-root", "--no-recursive"))),
            {"cli-lg-kid1", "cli-lg-kid2"})
        self.assertEqual(self.group_names(self.assertAwsOk(self.aws(
            "iot", "list-thing-groups", "--parent-group", "cli-lg-root", "--recursive"))),
            {"cli-lg-kid1", "cli-lg-kid2", "cli-lg-grandkid"})
        self.assertEqual(self.group_names(self.iot.list_thing_groups(parentGroup="cli-lg-kid1", recursive=False)),
                         {"cli-lg-grandkid"})
        self.assertEqual(self.group_names(self.iot.list_thing_groups(parentGroup="cli-lg-kid2", recursive=True)),
                         set())

        # CLI paging over thing groups.
        paged = self.assertAwsOk(self.aws("iot", "list-thing-groups", "--name-prefix-filter", "cli-lg-",
                                          "--page-size", "1"))
        names = [g["groupName"] for g in paged["thingGroups"]]
        self.assertEqual(sorted(names), sorted(family))

    def test_missing_thing_group(self):
        self.assertAwsError(self.aws("iot", "describe-thing-group", "--thing-group-name", "cli-tg-nope"),
                            "ResourceNotFoundException")
        self.assertAwsError(self.aws("iot", "update-thing-group", "--thing-group-name", "cli-tg-nope",
                                     "--thing-group-properties", '{"thingGroupDescription":"x"}'),
                            "ResourceNotFoundException")
        self.assertAwsError(self.aws("iot", "list-things-in-thing-group", "--thing-group-name", "cli-tg-nope"),
                            "ResourceNotFoundException")

    def test_group_membership(self):
        self.iot.create_thing_group(thingGroupName="cli-m-root")
        child_arn = self.iot.create_thing_group(thingGroupName="cli-m-child",
                                                parentGroupName="cli-m-root")["thingGroupArn"]
        self.iot.create_thing_group(thingGroupName="cli-m-solo")
        self.iot.create_thing(thingName="cli-m-t1")
        t2_arn = self.iot.create_thing(thingName="cli-m-t2")["thingArn"]

        # By name, and by ARN.
        self.assertAwsOk(self.aws("iot", "add-thing-to-thing-group", "--thing-group-name", "cli-m-root",
                                  "--thing-name", "cli-m-t1"))
        self.assertAwsOk(self.aws("iot", "add-thing-to-thing-group", "--thing-group-arn", child_arn,
                                  "--thing-arn", t2_arn))

        def cli_things_in(group, *flags):
            out = self.assertAwsOk(self.aws("iot", "list-things-in-thing-group", "--thing-group-name", group, *flags))
            self.assertEqual(len(out["things"]), len(set(out["things"])), out)
            return set(out["things"])

        def things_in(group):
            return set(self.iot.list_things_in_thing_group(thingGroupName=group)["things"])

        self.assertEqual(cli_things_in("cli-m-root"), {"cli-m-t1"})
        self.assertEqual(cli_things_in("cli-m-root", "--no-recursive"), {"cli-m-t1"})
        self.assertEqual(cli_things_in("cli-m-root", "--recursive"), {"cli-m-t1", "cli-m-t2"})
        self.assertEqual(things_in("cli-m-child"), {"cli-m-t2"})

        groups = self.assertAwsOk(self.aws("iot", "list-thing-groups-for-thing", "--thing-name", "cli-m-t2"))
        self.assertEqual(groups["thingGroups"], [{"groupName": "cli-m-child", "groupArn": child_arn}])

        # update-thing-groups-for-thing: add two, remove one.
        self.assertAwsOk(self.aws("iot", "update-thing-groups-for-thing", "--thing-name", "cli-m-t1",
                                  "--thing-groups-to-add", "cli-m-child", "cli-m-solo",
                                  "--thing-groups-to-remove", "cli-m-root"))
        groups = self.assertAwsOk(self.aws("iot", "list-thing-groups-for-thing", "--thing-name", "cli-m-t1"))
        self.assertEqual(self.group_names(groups), {"cli-m-child", "cli-m-solo"})
        self.assertEqual(things_in("cli-m-root"), set())
        self.assertEqual(things_in("cli-m-child"), {"cli-m-t1", "cli-m-t2"})

        # Remove by ARN, and by name.
        self.assertAwsOk(self.aws("iot", "remove-thing-from-thing-group", "--thing-group-arn", child_arn,
                                  "--thing-arn", t2_arn))
        self.assertAwsOk(self.aws("iot", "remove-thing-from-thing-group", "--thing-group-name", "cli-m-solo",
                                  "--thing-name", "cli-m-t1"))
        self.assertEqual(things_in("cli-m-child"), {"cli-m-t1"})
        self.assertEqual(things_in("cli-m-solo"), set())
        self.assertEqual(self.iot.list_thing_groups_for_thing(thingName="cli-m-t2")["thingGroups"], [])

        # Missing thing or group.
        self.assertAwsError(self.aws("iot", "add-thing-to-thing-group", "--thing-group-name", "cli-m-root",
                                     "--thing-name", "cli-m-nope"),
                            "ResourceNotFoundException")
        self.assertAwsError(self.aws("iot", "add-thing-to-thing-group", "--thing-group-name", "cli-m-nope",
                                     "--thing-name", "cli-m-t1"),
                            "ResourceNotFoundException")
        self.assertAwsError(self.aws("iot", "list-thing-groups-for-thing", "--thing-name", "cli-m-nope"),
                            "ResourceNotFoundException")

        # Deleting a thing takes it out of its groups; deleting a group takes it off its things.
        self.iot.delete_thing(thingName="cli-m-t1")
        self.assertEqual(things_in("cli-m-child"), set())
        self.iot.add_thing_to_thing_group(thingGroupName="cli-m-solo", thingName="cli-m-t2")
        self.iot.delete_thing_group(thingGroupName="cli-m-solo")
        self.assertEqual(self.iot.list_thing_groups_for_thing(thingName="cli-m-t2")["thingGroups"], [])

    # ---- tags ------------------------------------------------------------
    def test_tags_on_thing_group_and_thing_type(self):
        group = self.assertAwsOk(self.aws("iot", "create-thing-group", "--thing-group-name", "cli-tagged",
                                          "--tags", "Key=env,Value=test", "Key=team,Value=blue"))
        group_arn = group["thingGroupArn"]

        def tags(arn):
            return {t["Key"]: t.get("Value") for t in self.iot.list_tags_for_resource(resourceArn=arn)["tags"]}

        out = self.assertAwsOk(self.aws("iot", "list-tags-for-resource", "--resource-arn", group_arn))
        self.assertEqual(sorted(out["tags"], key=lambda t: t["Key"]),
                         [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "blue"}])
        self.assertAwsOk(self.aws("iot", "tag-resource", "--resource-arn", group_arn,
                                  "--tags", "Key=env,Value=prod", "Key=owner,Value=ops"))
        self.assertEqual(tags(group_arn), {"env": "prod", "team": "blue", "owner": "ops"})
        self.assertAwsOk(self.aws("iot", "untag-resource", "--resource-arn", group_arn,
                                  "--tag-keys", "team", "owner"))
        self.assertEqual(tags(group_arn), {"env": "prod"})

        type_arn = self.iot.create_thing_type(thingTypeName="cli-tagged-type",
                                              tags=[{"Key": "fw", "Value": "v1"}])["thingTypeArn"]
        self.assertEqual(type_arn, self.arn("thingtype", "cli-tagged-type"))
        self.assertEqual(tags(type_arn), {"fw": "v1"})
        self.assertAwsOk(self.aws("iot", "tag-resource", "--resource-arn", type_arn, "--tags", "Key=hw,Value=rev2"))
        self.assertEqual(tags(type_arn), {"fw": "v1", "hw": "rev2"})
        self.assertAwsOk(self.aws("iot", "untag-resource", "--resource-arn", type_arn, "--tag-keys", "fw"))
        self.assertEqual(tags(type_arn), {"hw": "rev2"})
        # Tags of one resource do not leak onto another.
        self.assertEqual(tags(group_arn), {"env": "prod"})

        missing = self.arn("thinggroup", "cli-tagged-nope")
        self.assertAwsError(self.aws("iot", "list-tags-for-resource", "--resource-arn", missing),
                            "ResourceNotFoundException")
        self.assertAwsError(self.aws("iot", "tag-resource", "--resource-arn", missing, "--tags", "Key=a,Value=b"),
                            "ResourceNotFoundException")

    # ---- endpoint, identity, configuration ---------------------------------
    def test_describe_endpoint(self):
        out = self.assertAwsOk(self.aws("iot", "describe-endpoint", "--endpoint-type", "iot:Data-ATS"))
        address = out["endpointAddress"]
        self.assertIsInstance(address, str)
        self.assertTrue(address.strip())
        self.assertNotIn("://", address)   # a host name, as AWS returns it

    def test_sts_get_caller_identity(self):
        out = self.assertAwsOk(self.aws("sts", "get-caller-identity"))
        self.assertRegex(out["Account"], r"^\d{12}$")
        self.assertEqual(out["Account"], self.account)
        self.assertTrue(out["Arn"].startswith("arn:aws:"), out)
        self.assertIn(self.account, out["Arn"])

    def test_cli_needs_nothing_but_the_credentials_file(self):
        creds = harness.read_credentials(self.server.credentials_file)
        self.assertEqual(creds.get("region"), self.region)
        self.iot.create_thing(thingName="cli-nocfg")
        with tempfile.TemporaryDirectory() as home:   # no ~/.aws either
            r = self.aws("iot", "list-things", env={"HOME": home})
        out = self.assertAwsOk(r)
        arns = {t["thingName"]: t["thingArn"] for t in out["things"]}
        self.assertEqual(arns.get("cli-nocfg"), self.arn("thing", "cli-nocfg"))

    def test_missing_resources(self):
        # (Missing thing groups, thing types and group members are covered with their operations above.)
        self.assertAwsError(self.aws("iot", "describe-thing", "--thing-name", "cli-gone"),
                            "ResourceNotFoundException")
        self.assertAwsError(self.aws("iot", "remove-thing-from-thing-group", "--thing-group-name", "cli-gone",
                                     "--thing-name", "cli-gone"),
                            "ResourceNotFoundException")


if __name__ == "__main__":
    harness.main()

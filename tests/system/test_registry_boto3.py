"""The IoT registry API driven through boto3: modeled exceptions, value types,
paginators (also while other writers insert), group hierarchies."""
import datetime
import random
import threading

import harness


class RegistryBoto3Test(harness.ServerTestCase):

    # ---- modeled exceptions ---------------------------------------------
    def test_resource_not_found_is_the_modeled_exception(self):
        iot = self.iot
        with self.assertRaises(iot.exceptions.ResourceNotFoundException) as ctx:
            iot.describe_thing(thingName="b3-missing")
        self.assertClientError(ctx, "ResourceNotFoundException", 404)
        with self.assertRaises(iot.exceptions.ResourceNotFoundException) as ctx:
            iot.describe_thing_group(thingGroupName="b3-missing")
        self.assertClientError(ctx, "ResourceNotFoundException", 404)
        with self.assertRaises(iot.exceptions.ResourceNotFoundException) as ctx:
            iot.describe_thing_type(thingTypeName="b3-missing")
        self.assertClientError(ctx, "ResourceNotFoundException", 404)

    def test_resource_already_exists_carries_id_and_arn(self):
        iot = self.iot
        created = iot.create_thing(thingName="b3-dup", attributePayload={"attributes": {"v": "1"}})
        with self.assertRaises(iot.exceptions.ResourceAlreadyExistsException) as ctx:
            iot.create_thing(thingName="b3-dup", attributePayload={"attributes": {"v": "2"}})
        err = self.assertClientError(ctx, "ResourceAlreadyExistsException", 409)
        # Modeled members of ResourceAlreadyExistsException (botocore lifts them to the top level).
        self.assertEqual(err.get("resourceArn"), created["thingArn"], err)
        self.assertEqual(err.get("resourceId"), created["thingId"], err)

        # The same for thing types and thing groups created twice with a different configuration.
        iot.create_thing_type(thingTypeName="b3-dup-type",
                              thingTypeProperties={"thingTypeDescription": "one"})
        with self.assertRaises(iot.exceptions.ResourceAlreadyExistsException) as ctx:
            iot.create_thing_type(thingTypeName="b3-dup-type",
                                  thingTypeProperties={"thingTypeDescription": "two"})
        self.assertClientError(ctx, "ResourceAlreadyExistsException", 409)
        iot.create_thing_group(thingGroupName="b3-dup-group",
                               thingGroupProperties={"thingGroupDescription": "one"})
        with self.assertRaises(iot.exceptions.ResourceAlreadyExistsException) as ctx:
            iot.create_thing_group(thingGroupName="b3-dup-group",
                                   thingGroupProperties={"thingGroupDescription": "two"})
        self.assertClientError(ctx, "ResourceAlreadyExistsException", 409)
        self.assertEqual(iot.describe_thing_group(thingGroupName="b3-dup-group")
                         ["thingGroupProperties"]["thingGroupDescription"], "one")

    def test_version_conflict_and_invalid_request(self):
        iot = self.iot
        iot.create_thing(thingName="b3-vc")
        with self.assertRaises(iot.exceptions.VersionConflictException) as ctx:
            iot.update_thing(thingName="b3-vc", expectedVersion=5,
                             attributePayload={"attributes": {"a": "b"}, "merge": True})
        self.assertClientError(ctx, "VersionConflictException", 409)
        with self.assertRaises(iot.exceptions.VersionConflictException):
            iot.delete_thing(thingName="b3-vc", expectedVersion=2)
        with self.assertRaises(iot.exceptions.InvalidRequestException) as ctx:
            iot.create_thing(thingName="b3 bad name")
        self.assertClientError(ctx, "InvalidRequestException", 400)
        with self.assertRaises(iot.exceptions.InvalidRequestException):
            iot.create_thing(thingName="x" * 129)
        self.assertEqual(iot.describe_thing(thingName="b3-vc")["version"], 1)

    # ---- value types -----------------------------------------------------
    def test_ints_floats_and_numeric_looking_strings(self):
        iot = self.iot
        iot.create_thing_type(thingTypeName="b3-num-type")
        attrs = {"zeros": "007", "dec": "1.50", "neg": "-0", "exp": "1e3", "big": "12345678901234567890"}
        iot.create_thing(thingName="b3-num", thingTypeName="b3-num-type",
                         attributePayload={"attributes": attrs})
        thing = iot.describe_thing(thingName="b3-num")
        # Attribute values are strings, returned byte for byte (never re-formatted as numbers).
        self.assertEqual(thing["attributes"], attrs)
        for v in thing["attributes"].values():
            self.assertIsInstance(v, str)
        # Versions are JSON integers (botocore would hand back a float for 1.0).
        self.assertIs(type(thing["version"]), int)
        self.assertEqual(thing["version"], 1)

        iot.update_thing(thingName="b3-num", expectedVersion=1,
                         attributePayload={"attributes": {"dec": "2.25"}, "merge": True})
        thing = iot.describe_thing(thingName="b3-num")
        self.assertIs(type(thing["version"]), int)
        self.assertEqual(thing["version"], 2)
        self.assertEqual(thing["attributes"]["dec"], "2.25")

        # Timestamps parse as datetimes (epoch numbers, integral or fractional, or ISO 8601).
        group = iot.create_thing_group(thingGroupName="b3-num-group")
        desc = iot.describe_thing_group(thingGroupName="b3-num-group")
        self.assertEqual(desc["thingGroupId"], group["thingGroupId"])
        created = desc["thingGroupMetadata"]["creationDate"]
        self.assertIsInstance(created, datetime.datetime)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((now - created).total_seconds()), 24 * 3600, created)   # a sane value, not 1970
        self.assertIs(type(desc["version"]), int)
        ttype = iot.describe_thing_type(thingTypeName="b3-num-type")
        self.assertIsInstance(ttype["thingTypeMetadata"]["creationDate"], datetime.datetime)
        self.assertIs(ttype["thingTypeMetadata"]["deprecated"], False)

        out = iot.update_thing_group(thingGroupName="b3-num-group", expectedVersion=1,
                                     thingGroupProperties={"thingGroupDescription": "d"})
        self.assertIs(type(out["version"]), int)
        self.assertEqual(out["version"], 2)

    # ---- paginators ------------------------------------------------------
    def test_list_things_paginator_yields_each_thing_once_while_others_insert(self):
        iot = self.iot
        base = [f"pgx-{i:04d}-a" for i in range(250)]
        for name in base:
            iot.create_thing(thingName=name)

        # Thread 1 inserts a batch between every two pages (so inserts certainly land while a
        # token is outstanding), at names that sort before and after the current position.
        # Thread 2 inserts freely for the whole listing.
        go, done = threading.Semaphore(0), threading.Semaphore(0)
        finished = threading.Event()
        inserted, errors = [], []

        def stepper():
            client = self.server.boto3_client("iot")
            batch = 0
            try:
                while True:
                    go.acquire()
                    if finished.is_set():
                        return
                    for pos in random.Random(batch).sample(range(250), 8):
                        name = f"pgx-{pos:04d}-b{batch:03d}"
                        client.create_thing(thingName=name)
                        inserted.append(name)
                    batch += 1
                    done.release()
            except Exception as e:   # reported below
                errors.append(e)
                done.release()

        def free_runner():
            client = self.server.boto3_client("iot")
            try:
                for i in range(0, 250, 3):
                    if finished.is_set():
                        return
                    name = f"pgx-{i:04d}-c"
                    client.create_thing(thingName=name)
                    inserted.append(name)
            except Exception as e:
                errors.append(e)

        threads = [threading.Thread(target=stepper), threading.Thread(target=free_runner)]
        for t in threads:
            t.start()
        seen = []
        try:
            for page in iot.get_paginator("list_things").paginate(PaginationConfig={"PageSize": 10}):
                seen += [t["thingName"] for t in page["things"]]
                go.release()
                self.assertTrue(done.acquire(timeout=60), "inserting thread stalled")
                self.assertEqual(errors, [])
        finally:
            finished.set()
            go.release()
            for t in threads:
                t.join(120)
        self.assertEqual(errors, [])
        self.assertGreater(len(inserted), 100)

        mine = [n for n in seen if n.startswith("pgx-")]
        dupes = sorted({n for n in mine if mine.count(n) > 1})
        self.assertEqual(dupes, [], "names listed more than once")
        self.assertEqual(sorted(set(base) - set(mine)), [], "names never listed")
        self.assertTrue(set(mine) <= set(base) | set(inserted))

        # Once the writers are done, a full listing shows every thing exactly once.
        final = [t["thingName"] for page in iot.get_paginator("list_things").paginate(
            PaginationConfig={"PageSize": 100}) for t in page["things"] if t["thingName"].startswith("pgx-")]
        self.assertEqual(len(final), len(set(final)))
        self.assertEqual(set(final), set(base) | set(inserted))

    def test_list_things_with_max_results_and_next_token(self):
        iot = self.iot
        names = {f"b3-tok-{i}" for i in range(5)}
        for n in names:
            iot.create_thing(thingName=n, attributePayload={"attributes": {"tokbatch": "x"}})
        seen, token, pages = [], None, 0
        while True:
            kw = {"nextToken": token} if token else {}
            page = iot.list_things(maxResults=2, attributeName="tokbatch", attributeValue="x", **kw)
            self.assertLessEqual(len(page["things"]), 2)
            seen += [t["thingName"] for t in page["things"]]
            pages += 1
            token = page.get("nextToken")
            if not token:
                break
            self.assertLess(pages, 10, "pagination does not terminate")
        self.assertEqual(sorted(seen), sorted(names))
        self.assertGreaterEqual(pages, 3)

        with self.assertRaises(iot.exceptions.InvalidRequestException):
            iot.list_things(nextToken="not-a-token-this-server-issued")

    def test_list_things_in_thing_group_recursive_three_levels(self):
        iot = self.iot
        iot.create_thing_group(thingGroupName="b3-L1")
        iot.create_thing_group(thingGroupName="b3-L2", parentGroupName="b3-L1")
        iot.create_thing_group(thingGroupName="b3-L3", parentGroupName="b3-L2")
        iot.create_thing_group(thingGroupName="b3-L2b", parentGroupName="b3-L1")
        members = {}
        for group in ("b3-L1", "b3-L2", "b3-L3", "b3-L2b"):
            members[group] = {f"{group}-t{i}" for i in range(4)}
            for name in members[group]:
                iot.create_thing(thingName=name)
                iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)

        def listed(group, recursive):
            names = []
            for page in iot.get_paginator("list_things_in_thing_group").paginate(
                    thingGroupName=group, recursive=recursive, PaginationConfig={"PageSize": 3}):
                names += page["things"]
            self.assertEqual(len(names), len(set(names)), f"duplicates: {sorted(names)}")
            return set(names)

        self.assertEqual(listed("b3-L1", False), members["b3-L1"])
        self.assertEqual(listed("b3-L1", True),
                         members["b3-L1"] | members["b3-L2"] | members["b3-L3"] | members["b3-L2b"])
        self.assertEqual(listed("b3-L2", True), members["b3-L2"] | members["b3-L3"])
        self.assertEqual(listed("b3-L2", False), members["b3-L2"])
        self.assertEqual(listed("b3-L3", True), members["b3-L3"])

        # The grandchild knows its whole ancestry.
        meta = iot.describe_thing_group(thingGroupName="b3-L3")["thingGroupMetadata"]
        self.assertEqual([g["groupName"] for g in meta["rootToParentThingGroups"]], ["b3-L1", "b3-L2"])
        self.assertEqual(meta["rootToParentThingGroups"][0]["groupArn"], self.arn("thinggroup", "b3-L1"))

        groups = iot.list_thing_groups(parentGroup="b3-L1", recursive=True)["thingGroups"]
        self.assertEqual({g["groupName"] for g in groups}, {"b3-L2", "b3-L3", "b3-L2b"})

    def test_update_thing_groups_for_thing(self):
        iot = self.iot
        for g in ("b3-u1", "b3-u2", "b3-u3"):
            iot.create_thing_group(thingGroupName=g)
        iot.create_thing(thingName="b3-u-thing")
        iot.add_thing_to_thing_group(thingGroupName="b3-u1", thingName="b3-u-thing")

        iot.update_thing_groups_for_thing(thingName="b3-u-thing",
                                          thingGroupsToAdd=["b3-u2", "b3-u3"],
                                          thingGroupsToRemove=["b3-u1"])
        groups = iot.list_thing_groups_for_thing(thingName="b3-u-thing")["thingGroups"]
        self.assertEqual({g["groupName"]: g["groupArn"] for g in groups},
                         {"b3-u2": self.arn("thinggroup", "b3-u2"), "b3-u3": self.arn("thinggroup", "b3-u3")})
        self.assertEqual(iot.list_things_in_thing_group(thingGroupName="b3-u1")["things"], [])
        self.assertEqual(iot.list_things_in_thing_group(thingGroupName="b3-u3")["things"], ["b3-u-thing"])

        iot.update_thing_groups_for_thing(thingName="b3-u-thing", thingGroupsToRemove=["b3-u2", "b3-u3"])
        self.assertEqual(iot.list_thing_groups_for_thing(thingName="b3-u-thing")["thingGroups"], [])

        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.update_thing_groups_for_thing(thingName="b3-u-thing", thingGroupsToAdd=["b3-u-nope"])
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.update_thing_groups_for_thing(thingName="b3-u-nope", thingGroupsToAdd=["b3-u1"])

    def test_list_thing_groups_and_types_paginators(self):
        iot = self.iot
        groups = {f"b3-pgg-{i}" for i in range(6)}
        for g in groups:
            iot.create_thing_group(thingGroupName=g)
        names = [g["groupName"] for page in iot.get_paginator("list_thing_groups").paginate(
            namePrefixFilter="b3-pgg-", PaginationConfig={"PageSize": 4}) for g in page["thingGroups"]]
        self.assertEqual(sorted(names), sorted(groups))

        types = {f"b3-pgt-{i}" for i in range(5)}
        for t in types:
            iot.create_thing_type(thingTypeName=t)
        names = [t["thingTypeName"] for page in iot.get_paginator("list_thing_types").paginate(
            PaginationConfig={"PageSize": 2}) for t in page["thingTypes"]]
        self.assertEqual(len(names), len(set(names)))
        self.assertTrue(types <= set(names))

    def test_list_things_filtered_by_type(self):
        iot = self.iot
        iot.create_thing_type(thingTypeName="b3-ft")
        typed = {f"b3-ft-{i}" for i in range(5)}
        for n in typed:
            iot.create_thing(thingName=n, thingTypeName="b3-ft")
        iot.create_thing(thingName="b3-ft-untyped")
        names = [t["thingName"] for page in iot.get_paginator("list_things").paginate(
            thingTypeName="b3-ft", PaginationConfig={"PageSize": 2}) for t in page["things"]]
        self.assertEqual(sorted(names), sorted(typed))


if __name__ == "__main__":
    harness.main()

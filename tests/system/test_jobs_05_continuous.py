"""Jobs 05: CONTINUOUS jobs follow their target groups. A thing that joins a
target group (or one of its child groups) after the job was created gets a
QUEUED execution; a thing that leaves has its QUEUED execution REMOVED,
while an IN_PROGRESS one carries on; the job never completes. A SNAPSHOT job
for the same group keeps the things the group held at creation.
AssociateTargetsWithJob adds targets to a CONTINUOUS job and is refused
(InvalidRequestException, nothing changed) for a SNAPSHOT job."""
import harness
import jobs_helpers as jh


class JobsContinuousTest(jh.JobsTestCase):

    def test_continuous_job_follows_group_membership(self):
        iot = self.iot
        group, (first,) = self.make_group("co", 1)
        child = jh.unique("co-child")
        iot.create_thing_group(thingGroupName=child, parentGroupName=group)
        target = self.group_arn(group)
        continuous = self.create_job([target], targetSelection="CONTINUOUS")
        snapshot = self.create_job([target])
        self.wait_statuses(continuous, {first: "QUEUED"})
        self.wait_statuses(snapshot, {first: "QUEUED"})
        self.assertEqual(self.describe_job(continuous)["targetSelection"], "CONTINUOUS")

        # Joining the group, or its child group, after creation: a QUEUED execution.
        joiner, nested = jh.unique("co-join"), jh.unique("co-nested")
        iot.create_thing(thingName=joiner)
        iot.create_thing(thingName=nested)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=joiner)
        iot.add_thing_to_thing_group(thingGroupName=child, thingName=nested)
        self.wait_statuses(continuous, {first: "QUEUED", joiner: "QUEUED", nested: "QUEUED"})
        pending = self.jobs_data.get_pending_job_executions(thingName=joiner)
        self.assertEqual([j["jobId"] for j in pending["queuedJobs"]], [continuous])

        # Leaving: the QUEUED execution is REMOVED ...
        iot.remove_thing_from_thing_group(thingGroupName=group, thingName=joiner)
        self.wait_statuses(continuous, {first: "QUEUED", joiner: "REMOVED", nested: "QUEUED"})
        self.assertEqual(self.execution(continuous, joiner)["versionNumber"], 2)
        pending = self.jobs_data.get_pending_job_executions(thingName=joiner)
        self.assertEqual((pending["inProgressJobs"], pending["queuedJobs"]), ([], []))
        self.assertEqual(self.details(continuous)["numberOfRemovedThings"], 1)

        # ... an IN_PROGRESS one carries on, and the device may finish it.
        self.assertEqual(self.start_next(nested)["jobId"], continuous)
        iot.remove_thing_from_thing_group(thingGroupName=child, thingName=nested)
        # A marker change after the removal: once it shows, the removal has been judged.
        marker = jh.unique("co-marker")
        iot.create_thing(thingName=marker)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=marker)
        self.wait_statuses(continuous, {first: "QUEUED", joiner: "REMOVED", nested: "IN_PROGRESS",
                                        marker: "QUEUED"})
        self.update(nested, continuous, "SUCCEEDED")

        # Every execution finished: a CONTINUOUS job is still IN_PROGRESS (it never completes).
        for t in (first, marker):
            self.start_next(t)
            self.update(t, continuous, "SUCCEEDED")
        self.assertEqual(self.statuses(continuous), {first: "SUCCEEDED", joiner: "REMOVED", nested: "SUCCEEDED",
                                                     marker: "SUCCEEDED"})
        job = self.describe_job(continuous)
        self.assertEqual(job["status"], "IN_PROGRESS")
        self.assertNotIn("completedAt", job)
        # And it still takes newcomers.
        late = jh.unique("co-late")
        iot.create_thing(thingName=late)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=late)
        self.wait_execution_status(continuous, late, "QUEUED")

        # The SNAPSHOT job kept the group as it was at creation.
        self.assertEqual(set(self.executions(snapshot)), {first})
        self.start_next(first)
        self.update(first, snapshot, "SUCCEEDED")
        self.wait_job_status(snapshot, "COMPLETED")

    def test_associate_targets(self):
        iot = self.iot
        group, (member,) = self.make_group("co-assoc", 1)
        extra = jh.unique("co-extra")
        iot.create_thing(thingName=extra)
        continuous = self.create_job([self.group_arn(group)], targetSelection="CONTINUOUS")
        snapshot = self.create_job([self.group_arn(group)])
        self.wait_execution_count(snapshot, 1)

        # SNAPSHOT: refused, and nothing changes.
        before = self.describe_job(snapshot)
        with self.assertRaises(iot.exceptions.InvalidRequestException) as ctx:
            iot.associate_targets_with_job(jobId=snapshot, targets=[self.thing_arn(extra)], comment="more")
        self.assertClientError(ctx, "InvalidRequestException", 400)
        self.assertEqual(self.describe_job(snapshot), before)
        self.assertEqual(set(self.executions(snapshot)), {member})
        pending = self.jobs_data.get_pending_job_executions(thingName=extra)
        self.assertEqual(pending["queuedJobs"], [])

        # CONTINUOUS: the thing is a target now and gets an execution.
        out = iot.associate_targets_with_job(jobId=continuous, targets=[self.thing_arn(extra)])
        self.assertEqual((out["jobId"], out["jobArn"]), (continuous, self.job_arn(continuous)))
        self.assertEqual(set(self.describe_job(continuous)["targets"]),
                         {self.group_arn(group), self.thing_arn(extra)})
        self.wait_statuses(continuous, {member: "QUEUED", extra: "QUEUED"})

        # Unknown job or thing: ResourceNotFoundException.
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.associate_targets_with_job(jobId=jh.unique("nope"), targets=[self.thing_arn(extra)])
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.associate_targets_with_job(jobId=continuous, targets=[self.thing_arn(jh.unique("ghost"))])
        self.assertEqual(set(self.executions(continuous)), {member, extra})


if __name__ == "__main__":
    harness.main()

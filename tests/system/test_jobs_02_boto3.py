"""Jobs 02: the jobs control plane and the iot-jobs-data data plane through
boto3: job templates (create, describe, list, delete, ConflictException on a
taken id, a job made from a template, a template made from a job);
CancelJob with reasonCode, comment and force; CancelJobExecution (force,
expectedVersion); DeleteJobExecution; and the device's view:
DescribeJobExecution with includeJobDocument and jobId `$next`,
UpdateJobExecution with includeJobExecutionState / includeJobDocument, and
TerminalStateException for a finished execution. Modeled exceptions come
with their HTTP statuses, and a refused request changes nothing."""
import json

from botocore.exceptions import ClientError

import harness
import jobs_helpers as jh


def without_metadata(response):
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


class JobsBoto3Test(jh.JobsTestCase):

    # ---- templates ---------------------------------------------------------------
    def test_job_templates(self):
        iot = self.iot
        tid = jh.unique("tmpl")
        doc = json.dumps({"operation": "reboot", "delaySeconds": 5})
        made = iot.create_job_template(
            jobTemplateId=tid, description="reboot template", document=doc,
            timeoutConfig={"inProgressTimeoutInMinutes": 30},
            jobExecutionsRolloutConfig={"maximumPerMinute": 50},
            abortConfig={"criteriaList": [{"failureType": "ALL", "action": "CANCEL",
                                           "thresholdPercentage": 40, "minNumberOfExecutedThings": 5}]},
            jobExecutionsRetryConfig={"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]})
        arn = f"arn:aws:iot:{self.region}:{self.account}:jobtemplate/{tid}"
        self.assertEqual((made["jobTemplateId"], made["jobTemplateArn"]), (tid, arn))

        described = iot.describe_job_template(jobTemplateId=tid)
        self.assertEqual(described["jobTemplateId"], tid)
        self.assertEqual(described["jobTemplateArn"], arn)
        self.assertEqual(described["description"], "reboot template")
        self.assertEqual(json.loads(described["document"]), json.loads(doc))
        self.assertEqual(described["timeoutConfig"], {"inProgressTimeoutInMinutes": 30})
        self.assertEqual(described["jobExecutionsRolloutConfig"], {"maximumPerMinute": 50})
        self.assertEqual(described["abortConfig"]["criteriaList"][0]["failureType"], "ALL")
        self.assertEqual(described["abortConfig"]["criteriaList"][0]["thresholdPercentage"], 40)
        self.assertEqual(described["jobExecutionsRetryConfig"],
                         {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]})
        self.assertIn("createdAt", described)

        listed = {t["jobTemplateId"]: t for t in iot.list_job_templates(maxResults=250)["jobTemplates"]}
        self.assertIn(tid, listed)
        self.assertEqual(listed[tid]["jobTemplateArn"], arn)
        self.assertEqual(listed[tid]["description"], "reboot template")

        # A taken id: ConflictException, and the template is as it was.
        with self.assertRaises(iot.exceptions.ConflictException) as ctx:
            iot.create_job_template(jobTemplateId=tid, description="other", document='{"x":1}')
        self.assertClientError(ctx, "ConflictException", 409)
        self.assertEqual(without_metadata(iot.describe_job_template(jobTemplateId=tid)), without_metadata(described))

        # A job from the template takes its document and configs.
        group, things = self.make_group("b3-tmpl", 2)
        job_id = self.create_job([self.group_arn(group)], jobTemplateArn=arn)
        job = self.describe_job(job_id)
        self.assertEqual(job["jobTemplateArn"], arn)
        self.assertEqual(job["timeoutConfig"], {"inProgressTimeoutInMinutes": 30})
        self.assertEqual(job["jobExecutionsRolloutConfig"], {"maximumPerMinute": 50})
        self.assertEqual(json.loads(iot.get_job_document(jobId=job_id)["document"]), json.loads(doc))
        self.wait_execution_count(job_id, 2)
        self.assertEqual(json.loads(self.start_next(things[0])["jobDocument"]), json.loads(doc))

        # A template from that job.
        tid2 = jh.unique("tmpl-from-job")
        iot.create_job_template(jobTemplateId=tid2, description="copied", jobArn=self.job_arn(job_id))
        copied = iot.describe_job_template(jobTemplateId=tid2)
        self.assertEqual(json.loads(copied["document"]), json.loads(doc))
        self.assertEqual(copied["timeoutConfig"], {"inProgressTimeoutInMinutes": 30})

        # Delete: gone from describe and list; deleting again is ResourceNotFound.
        iot.delete_job_template(jobTemplateId=tid)
        with self.assertRaises(iot.exceptions.ResourceNotFoundException) as ctx:
            iot.describe_job_template(jobTemplateId=tid)
        self.assertClientError(ctx, "ResourceNotFoundException", 404)
        self.assertNotIn(tid, {t["jobTemplateId"] for t in iot.list_job_templates(maxResults=250)["jobTemplates"]})
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.delete_job_template(jobTemplateId=tid)
        # A job from a deleted template is refused.
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.create_job(jobId=jh.unique("from-gone"), targets=[self.group_arn(group)], jobTemplateArn=arn)
        # The job made from it is unaffected.
        self.assertEqual(self.describe_job(job_id)["jobTemplateArn"], arn)

    # ---- targets and deletion ----------------------------------------------------------
    def test_targets_resolve_to_one_execution_per_thing(self):
        iot = self.iot
        group, (a, b) = self.make_group("b3-tgt", 2)
        child, (c,) = self.make_group("b3-tgt-child", 1, parent=group)
        # The group (with its child group), the child again and one member by name: each thing once.
        job_id = self.create_job([self.group_arn(group), self.group_arn(child), self.thing_arn(a)])
        self.wait_execution_count(job_id, 3)
        self.assertEqual(self.statuses(job_id), {a: "QUEUED", b: "QUEUED", c: "QUEUED"})
        self.assertEqual(self.details(job_id)["numberOfQueuedThings"], 3)
        # Pages of one: each execution once, in full.
        pages = iot.get_paginator("list_job_executions_for_job").paginate(jobId=job_id,
                                                                         PaginationConfig={"PageSize": 1})
        arns = [e["thingArn"] for p in pages for e in p["executionSummaries"]]
        self.assertEqual(sorted(arns), sorted(self.thing_arn(t) for t in (a, b, c)))

        jobs_before = {j["jobId"] for j in iot.list_jobs(maxResults=250)["jobs"]}
        refusals = [
            ("ResourceNotFoundException", 404, [self.thing_arn(jh.unique("ghost"))], jh.unique("j")),
            ("ResourceNotFoundException", 404, [self.group_arn(jh.unique("ghost-grp"))], jh.unique("j")),
            ("InvalidRequestException", 400, [f"arn:aws:iot:{self.region}:{self.account}:policy/p"], jh.unique("j")),
            ("LimitExceededException", 410, [self.thing_arn(f"t{i}") for i in range(101)], jh.unique("j")),
            ("InvalidRequestException", 400, [self.thing_arn(a)], "bad.job.id"),
        ]
        for code, status, targets, jid in refusals:
            with self.assertRaises(ClientError, msg=code) as ctx:
                iot.create_job(jobId=jid, targets=targets, document='{"x":1}')
            self.assertClientError(ctx, code, status)
        self.assertEqual({j["jobId"] for j in iot.list_jobs(maxResults=250)["jobs"]}, jobs_before)
        self.assertEqual(self.jobs_data.get_pending_job_executions(thingName=a)["queuedJobs"][0]["jobId"], job_id)
        self.assertEqual(len(self.jobs_data.get_pending_job_executions(thingName=a)["queuedJobs"]), 1)

        # DeleteJob of an IN_PROGRESS job needs force.
        with self.assertRaises(iot.exceptions.InvalidStateTransitionException) as ctx:
            iot.delete_job(jobId=job_id)
        self.assertClientError(ctx, "InvalidStateTransitionException", 409)
        self.assertEqual(self.describe_job(job_id)["status"], "IN_PROGRESS")
        self.assertEqual(len(self.executions(job_id)), 3)

    def test_list_jobs_pages_through_a_thing_group_filter(self):
        # Three jobs in a row (by id and by creation), the middle one for another group.
        ours, _ = self.make_group("b3-page", 1)
        theirs, _ = self.make_group("b3-page-other", 1)
        prefix = jh.unique("page")
        ids = [self.create_job([self.group_arn(g)], job_id=f"{prefix}-{n}")
               for n, g in (("a", ours), ("b", theirs), ("c", ours))]
        for size in (1, 2, 50):
            with self.subTest(maxResults=size):
                pages = list(self.iot.get_paginator("list_jobs").paginate(thingGroupName=ours,
                                                                           PaginationConfig={"PageSize": size}))
                got = [j["jobId"] for p in pages for j in p["jobs"]]
                self.assertEqual(sorted(got), [ids[0], ids[2]],
                                 f"ListJobs thingGroupName={ours} maxResults={size}: pages "
                                 f"{[([j['jobId'] for j in p['jobs']], p.get('nextToken')) for p in pages]}")
        # The filter on target selection pages the same way.
        pages = self.iot.get_paginator("list_jobs").paginate(targetSelection="SNAPSHOT", status="IN_PROGRESS",
                                                              PaginationConfig={"PageSize": 1})
        self.assertTrue(set(ids) <= {j["jobId"] for p in pages for j in p["jobs"]})

    # ---- CancelJob ------------------------------------------------------------------
    def test_cancel_job_reason_comment_force(self):
        iot = self.iot
        group, (working, waiting, finished) = self.make_group("b3-cancel", 3)
        job_id = self.create_job([self.group_arn(group)])
        self.wait_execution_count(job_id, 3)
        for t in (working, finished):
            self.start_next(t)
        self.update(finished, job_id, "SUCCEEDED")

        out = iot.cancel_job(jobId=job_id, reasonCode="OPERATOR_STOP", comment="stopped by the operator")
        self.assertEqual((out["jobId"], out["jobArn"]), (job_id, self.job_arn(job_id)))
        job = self.describe_job(job_id)
        self.assertEqual(job["status"], "CANCELED")
        self.assertEqual(job["reasonCode"], "OPERATOR_STOP")
        self.assertEqual(job["comment"], "stopped by the operator")
        self.assertFalse(job["forceCanceled"])
        # Not forced: the QUEUED one is canceled, the IN_PROGRESS one left to finish.
        self.assertEqual(self.statuses(job_id), {working: "IN_PROGRESS", waiting: "CANCELED", finished: "SUCCEEDED"})
        d = job["jobProcessDetails"]
        self.assertEqual((d["numberOfCanceledThings"], d["numberOfInProgressThings"], d["numberOfSucceededThings"],
                          d["numberOfQueuedThings"]), (1, 1, 1, 0), d)

        # Canceling a canceled job again needs force; the refusal changes nothing.
        with self.assertRaises(iot.exceptions.InvalidRequestException) as ctx:
            iot.cancel_job(jobId=job_id, comment="again")
        self.assertClientError(ctx, "InvalidRequestException", 400)
        self.assertEqual(self.describe_job(job_id), job)

        iot.cancel_job(jobId=job_id, force=True, reasonCode="FORCED", comment="now forced")
        job = self.describe_job(job_id)
        self.assertEqual((job["status"], job["forceCanceled"], job["reasonCode"], job["comment"]),
                         ("CANCELED", True, "FORCED", "now forced"))
        self.assertEqual(self.statuses(job_id), {working: "CANCELED", waiting: "CANCELED", finished: "SUCCEEDED"})
        e = self.execution(job_id, working)
        self.assertEqual(e["status"], "CANCELED")
        self.assertTrue(e["forceCanceled"])
        self.assertEqual(e["versionNumber"], 3)   # queued 1, started 2, canceled 3
        self.assertEqual(job["jobProcessDetails"]["numberOfCanceledThings"], 2)

        # A reasonCode outside [A-Z0-9_] is refused.
        job_id2 = self.create_job([self.group_arn(group)])
        with self.assertRaises(iot.exceptions.InvalidRequestException):
            iot.cancel_job(jobId=job_id2, reasonCode="not valid!")
        self.assertEqual(self.describe_job(job_id2)["status"], "IN_PROGRESS")
        with self.assertRaises(iot.exceptions.ResourceNotFoundException) as ctx:
            iot.cancel_job(jobId=jh.unique("nope"))
        self.assertClientError(ctx, "ResourceNotFoundException", 404)

    # ---- CancelJobExecution / DeleteJobExecution ------------------------------------------
    def test_cancel_and_delete_job_execution(self):
        iot = self.iot
        group, (queued, running, done) = self.make_group("b3-exec", 3)
        job_id = self.create_job([self.group_arn(group)])
        self.wait_execution_count(job_id, 3)
        self.start_next(running)
        self.start_next(done)
        self.update(done, job_id, "SUCCEEDED")

        # A stale expectedVersion: VersionConflictException, nothing changes.
        with self.assertRaises(iot.exceptions.VersionConflictException) as ctx:
            iot.cancel_job_execution(jobId=job_id, thingName=queued, expectedVersion=7)
        self.assertClientError(ctx, "VersionConflictException", 409)
        self.assertEqual((self.execution(job_id, queued)["status"], self.execution(job_id, queued)["versionNumber"]),
                         ("QUEUED", 1))
        iot.cancel_job_execution(jobId=job_id, thingName=queued, expectedVersion=1,
                                 statusDetails={"why": "operator"})
        e = self.execution(job_id, queued)
        self.assertEqual((e["status"], e["versionNumber"]), ("CANCELED", 2))
        self.assertEqual(e["statusDetails"]["detailsMap"], {"why": "operator"})

        # IN_PROGRESS needs force.
        with self.assertRaises(iot.exceptions.InvalidStateTransitionException) as ctx:
            iot.cancel_job_execution(jobId=job_id, thingName=running)
        self.assertClientError(ctx, "InvalidStateTransitionException", 409)
        self.assertEqual(self.execution(job_id, running)["status"], "IN_PROGRESS")
        iot.cancel_job_execution(jobId=job_id, thingName=running, force=True, expectedVersion=2)
        e = self.execution(job_id, running)
        self.assertEqual((e["status"], e["forceCanceled"], e["versionNumber"]), ("CANCELED", True, 3))

        # A finished one cannot be canceled.
        with self.assertRaises(iot.exceptions.InvalidStateTransitionException):
            iot.cancel_job_execution(jobId=job_id, thingName=done, force=True)
        self.assertEqual(self.execution(job_id, done)["status"], "SUCCEEDED")
        # All three finished: the SNAPSHOT job is COMPLETED.
        self.wait_job_status(job_id, "COMPLETED")

        # DeleteJobExecution: a finished one goes; then it is not found.
        iot.delete_job_execution(jobId=job_id, thingName=done, executionNumber=1)
        with self.assertRaises(iot.exceptions.ResourceNotFoundException) as ctx:
            iot.describe_job_execution(jobId=job_id, thingName=done)
        self.assertClientError(ctx, "ResourceNotFoundException", 404)
        self.assertEqual(set(self.executions(job_id)), {queued, running})
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.delete_job_execution(jobId=job_id, thingName=done, executionNumber=1)
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.delete_job_execution(jobId=job_id, thingName=queued, executionNumber=2)
        self.assertEqual(self.execution(job_id, queued)["status"], "CANCELED")

        # An unfinished one only with force.
        job2 = self.create_job([self.thing_arn(queued)])
        self.wait_execution_count(job2, 1)
        self.start_next(queued)
        with self.assertRaises(iot.exceptions.InvalidStateTransitionException):
            iot.delete_job_execution(jobId=job2, thingName=queued, executionNumber=1)
        self.assertEqual(self.execution(job2, queued)["status"], "IN_PROGRESS")
        iot.delete_job_execution(jobId=job2, thingName=queued, executionNumber=1, force=True)
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.describe_job_execution(jobId=job2, thingName=queued)
        # Nothing pending for the device any more.
        pending = self.jobs_data.get_pending_job_executions(thingName=queued)
        self.assertEqual((pending["inProgressJobs"], pending["queuedJobs"]), ([], []))

    # ---- the device's view: iot-jobs-data ------------------------------------------------------
    def test_jobs_data_describe_and_update(self):
        jd = self.jobs_data
        group, (dev,) = self.make_group("b3-data", 1)
        doc1 = {"step": "first"}
        doc2 = {"step": "second"}
        job1 = self.create_job([self.group_arn(group)], document=doc1)
        self.wait_execution_count(job1, 1)
        job2 = self.create_job([self.thing_arn(dev)], document=doc2)
        self.wait_execution_count(job2, 1)

        # $next is the oldest QUEUED one while nothing is IN_PROGRESS.
        nxt = jd.describe_job_execution(thingName=dev, jobId="$next", includeJobDocument=True)["execution"]
        self.assertEqual((nxt["jobId"], nxt["thingName"], nxt["status"], nxt["versionNumber"]),
                         (job1, dev, "QUEUED", 1))
        self.assertEqual(json.loads(nxt["jobDocument"]), doc1)
        without = jd.describe_job_execution(thingName=dev, jobId=job2)["execution"]
        self.assertEqual((without["jobId"], without["status"]), (job2, "QUEUED"))
        self.assertNotIn("jobDocument", without)
        with_doc = jd.describe_job_execution(thingName=dev, jobId=job2, includeJobDocument=True)["execution"]
        self.assertEqual(json.loads(with_doc["jobDocument"]), doc2)

        # An IN_PROGRESS execution comes before an older QUEUED one.
        jd.update_job_execution(thingName=dev, jobId=job2, status="IN_PROGRESS")
        nxt = jd.describe_job_execution(thingName=dev, jobId="$next")["execution"]
        self.assertEqual((nxt["jobId"], nxt["status"]), (job2, "IN_PROGRESS"))

        out = jd.update_job_execution(thingName=dev, jobId=job2, status="IN_PROGRESS",
                                      statusDetails={"progress": "50"}, expectedVersion=2,
                                      includeJobExecutionState=True, includeJobDocument=True)
        self.assertEqual(out["executionState"], {"status": "IN_PROGRESS", "statusDetails": {"progress": "50"},
                                                 "versionNumber": 3})
        self.assertEqual(json.loads(out["jobDocument"]), doc2)
        plain = jd.update_job_execution(thingName=dev, jobId=job2, status="SUCCEEDED", expectedVersion=3)
        self.assertNotIn("executionState", plain)
        self.assertNotIn("jobDocument", plain)

        # A finished execution: TerminalStateException to the device; the operator still sees it.
        with self.assertRaises(jd.exceptions.TerminalStateException) as ctx:
            jd.describe_job_execution(thingName=dev, jobId=job2, includeJobDocument=True)
        self.assertClientError(ctx, "TerminalStateException", 410)
        e = self.execution(job2, dev)
        self.assertEqual((e["status"], e["versionNumber"], e["statusDetails"]["detailsMap"]),
                         ("SUCCEEDED", 4, {"progress": "50"}))
        # Updating it: InvalidStateTransitionException; a stale version: VersionConflictException.
        with self.assertRaises(jd.exceptions.InvalidStateTransitionException):
            jd.update_job_execution(thingName=dev, jobId=job2, status="FAILED")
        # (iot-jobs-data's model has no VersionConflictException; boto3 raises a plain ClientError.)
        with self.assertRaises(ClientError) as ctx:
            jd.update_job_execution(thingName=dev, jobId=job1, status="IN_PROGRESS", expectedVersion=5)
        self.assertClientError(ctx, "VersionConflictException", 409)
        # A status a device may not set.
        with self.assertRaises(jd.exceptions.InvalidRequestException):
            jd.update_job_execution(thingName=dev, jobId=job1, status="CANCELED")
        self.assertEqual((self.execution(job1, dev)["status"], self.execution(job1, dev)["versionNumber"]),
                         ("QUEUED", 1))
        self.assertEqual(self.execution(job2, dev)["versionNumber"], 4)
        # Unknown execution: ResourceNotFoundException.
        with self.assertRaises(jd.exceptions.ResourceNotFoundException):
            jd.describe_job_execution(thingName=dev, jobId=jh.unique("nope"))

        # $next is job1 again; once that finishes, $next has no execution.
        started = jd.start_next_pending_job_execution(thingName=dev, statusDetails={"s": "1"},
                                                      stepTimeoutInMinutes=30)["execution"]
        self.assertEqual((started["jobId"], started["status"], started["statusDetails"]), (job1, "IN_PROGRESS",
                                                                                           {"s": "1"}))
        self.assertIn("approximateSecondsBeforeTimedOut", started)
        jd.update_job_execution(thingName=dev, jobId=job1, status="REJECTED")
        self.assertNotIn("execution", jd.describe_job_execution(thingName=dev, jobId="$next"))
        self.assertNotIn("execution", jd.start_next_pending_job_execution(thingName=dev))
        pending = jd.get_pending_job_executions(thingName=dev)
        self.assertEqual((pending["inProgressJobs"], pending["queuedJobs"]), ([], []))
        self.wait_job_status(job1, "COMPLETED")
        self.assertEqual(self.details(job1)["numberOfRejectedThings"], 1)


if __name__ == "__main__":
    harness.main()

"""Jobs 01: the reference recipe's job steps through the real AWS CLI v2.

A thing group with three things gets the recipe's job (rollout, abort,
timeout and presigned-URL configs); describe-job echoes the configs,
get-job-document returns the document as stored, three executions are
QUEUED; a device works its execution with `aws iot-jobs-data`
(get-pending, start-next, update with statusDetails, SUCCEEDED) and is
refused going back to IN_PROGRESS and with a stale expected version; the job
completes with three succeeded things; list-jobs filters by status, target
selection and thing group; a COMPLETED job cannot be canceled; delete-job
--force removes it (asynchronously). Bad input is refused with the modeled
error and changes nothing. Setup and verification reads go through boto3 to
keep the run short; every step under test is a CLI call."""
import concurrent.futures
import json
import os
import tempfile

import harness
import jobs_helpers as jh
from mqtt_helpers import wait_for

ROLLOUT = ("maximumPerMinute=10,exponentialRate={baseRatePerMinute=5,incrementFactor=2,"
           "rateIncreaseCriteria={numberOfNotifiedThings=5,numberOfSucceededThings=3}}")
ABORT = 'criteriaList=[{failureType="FAILED",action="CANCEL",thresholdPercentage=25,minNumberOfExecutedThings=3}]'


class JobsCliTest(jh.JobsTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.files = tempfile.mkdtemp(prefix="jobs-cli-", dir=cls.server.tmp)

    def write(self, name, text):
        path = os.path.join(self.files, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def recipe_document(self, bucket, sha):
        return json.dumps({
            "operation": "firmwareUpdate",
            "firmwareVersion": "v2.1.0",
            "downloadUrl": "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/%s/firmware/firmware-v2.1.0.bin}"
                           % bucket,
            "checksumAlgorithm": "SHA256",
            "checksum": sha,
            "installationSteps": ["Download firmware package from specified URL",
                                  "Validate package integrity using checksum",
                                  "Install new firmware version"],
            "rollbackInstructions": {"enabled": True, "maxAttempts": 3, "fallbackVersion": "v2.0.0"},
            "timeoutConfig": {"inProgressTimeoutInMinutes": 30, "stepTimeoutInMinutes": 10},
        }, indent=2) + "\n"

    def aws_all(self, *commands):
        """Runs independent CLI commands at once (each CLI start costs most of a second);
        returns their results in order."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda args: self.aws(*args), commands))

    def detail_map(self, job_id, thing):
        e = self.execution(job_id, thing)
        return e["status"], e["versionNumber"], e["statusDetails"].get("detailsMap", {})

    # ---- the recipe -------------------------------------------------------------
    def test_recipe_job_flow(self):
        group = jh.unique("ProductionDevices")
        self.assertAwsOk(self.aws("iot", "create-thing-group", "--thing-group-name", group,
                                  "--thing-group-properties",
                                  '{"thingGroupDescription":"Production IoT devices for OTA updates"}'))
        things = [f"IoTDevice-{group}-{i}" for i in (1, 2, 3)]
        for t in things:
            self.iot.create_thing(thingName=t, attributePayload={"attributes": {"deviceType": "sensor"}})
            self.iot.add_thing_to_thing_group(thingGroupName=group, thingName=t)

        job_id = f"firmware-update-v2-1-0-{group}"   # job ids allow no dots: v2.1.0 -> v2-1-0
        sha = "ab" * 32
        document = self.recipe_document("iot-firmware-updates-x", sha)
        doc_path = self.write("firmware-update-job.json", document)
        role = f"arn:aws:iam::{self.account}:role/iot-firmware-download"
        created = self.assertAwsOk(self.aws(
            "iot", "create-job", "--job-id", job_id, "--targets", self.group_arn(group),
            "--document", "file://" + doc_path,
            "--description", "Deploy firmware version v2.1.0 to production devices",
            "--job-executions-rollout-config", ROLLOUT, "--abort-config", ABORT,
            "--timeout-config", "inProgressTimeoutInMinutes=60",
            "--presigned-url-config", f"roleArn={role},expiresInSec=3600"))
        self.assertEqual(created["jobId"], job_id)
        self.assertEqual(created["jobArn"], self.job_arn(job_id))

        # describe-job echoes every config as given; get-job-document returns the document.
        described, document_out = self.aws_all(("iot", "describe-job", "--job-id", job_id),
                                               ("iot", "get-job-document", "--job-id", job_id))
        job = self.assertAwsOk(described)["job"]
        self.assertEqual(job["jobId"], job_id)
        self.assertEqual(job["jobArn"], self.job_arn(job_id))
        self.assertEqual(job["targets"], [self.group_arn(group)])
        self.assertEqual(job["targetSelection"], "SNAPSHOT")
        self.assertEqual(job["status"], "IN_PROGRESS")
        self.assertEqual(job["description"], "Deploy firmware version v2.1.0 to production devices")
        self.assertEqual(job["jobExecutionsRolloutConfig"], {
            "maximumPerMinute": 10,
            "exponentialRate": {"baseRatePerMinute": 5, "incrementFactor": 2.0,
                                "rateIncreaseCriteria": {"numberOfNotifiedThings": 5,
                                                         "numberOfSucceededThings": 3}}})
        self.assertEqual(job["abortConfig"], {"criteriaList": [{
            "failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 25.0,
            "minNumberOfExecutedThings": 3}]})
        self.assertEqual(job["timeoutConfig"], {"inProgressTimeoutInMinutes": 60})
        self.assertEqual(job["presignedUrlConfig"], {"roleArn": role, "expiresInSec": 3600})

        # get-job-document: the document as stored, placeholder kept.
        got = self.assertAwsOk(document_out)["document"]
        self.assertEqual(json.loads(got), json.loads(document))
        self.assertIn("${aws:iot:s3-presigned-url:https://s3.amazonaws.com/", got)

        # Base rate 5 per minute: all three are out in the first window.
        self.wait_execution_count(job_id, 3)
        listed = self.assertAwsOk(self.aws("iot", "list-job-executions-for-job", "--job-id", job_id))
        self.assertEqual(sorted(e["thingArn"] for e in listed["executionSummaries"]),
                         sorted(self.thing_arn(t) for t in things))
        for e in listed["executionSummaries"]:
            self.assertEqual(e["jobExecutionSummary"]["status"], "QUEUED", e)
            self.assertEqual(e["jobExecutionSummary"]["executionNumber"], 1, e)

        # ---- the first device works its execution with aws iot-jobs-data ----
        dev = things[0]
        pending = self.assertAwsOk(self.aws("iot-jobs-data", "get-pending-job-executions", "--thing-name", dev))
        self.assertEqual(pending["inProgressJobs"], [])
        self.assertEqual([j["jobId"] for j in pending["queuedJobs"]], [job_id])
        self.assertEqual(pending["queuedJobs"][0]["versionNumber"], 1)

        started = self.assertAwsOk(self.aws("iot-jobs-data", "start-next-pending-job-execution",
                                            "--thing-name", dev))["execution"]
        self.assertEqual(started["jobId"], job_id)
        self.assertEqual(started["thingName"], dev)
        self.assertEqual(started["status"], "IN_PROGRESS")
        self.assertEqual(started["versionNumber"], 2)
        self.assertEqual(json.loads(started["jobDocument"])["checksum"], sha)
        self.assertIn("startedAt", started)

        progress = {"step": "downloading", "progress": "25%", "details": "Downloading firmware package"}
        self.assertAwsOk(self.aws("iot-jobs-data", "update-job-execution", "--job-id", job_id, "--thing-name", dev,
                                  "--status", "IN_PROGRESS", "--status-details", json.dumps(progress)))
        self.assertEqual(self.detail_map(job_id, dev), ("IN_PROGRESS", 3, progress))

        # A stale expected version is refused and changes nothing.
        self.assertAwsError(self.aws("iot-jobs-data", "update-job-execution", "--job-id", job_id,
                                     "--thing-name", dev, "--status", "SUCCEEDED", "--expected-version", "2",
                                     "--status-details", '{"step":"completed"}'),
                            "VersionConflictException")
        self.assertEqual(self.detail_map(job_id, dev), ("IN_PROGRESS", 3, progress))

        done = {"step": "completed", "progress": "100%", "newVersion": "v2.1.0"}
        self.assertAwsOk(self.aws("iot-jobs-data", "update-job-execution", "--job-id", job_id, "--thing-name", dev,
                                  "--status", "SUCCEEDED", "--expected-version", "3",
                                  "--status-details", json.dumps(done)))
        self.assertEqual(self.detail_map(job_id, dev), ("SUCCEEDED", 4, done))

        # A finished execution cannot go back to IN_PROGRESS.
        self.assertAwsError(self.aws("iot-jobs-data", "update-job-execution", "--job-id", job_id,
                                     "--thing-name", dev, "--status", "IN_PROGRESS"),
                            "InvalidStateTransitionException")
        self.assertEqual(self.detail_map(job_id, dev), ("SUCCEEDED", 4, done))
        self.assertEqual(self.describe_job(job_id)["status"], "IN_PROGRESS")

        # The other two devices (boto3's iot-jobs-data client, the same operations).
        for t in things[1:]:
            self.assertEqual(self.start_next(t)["jobId"], job_id)
            self.update(t, job_id, "SUCCEEDED", statusDetails={"step": "completed"}, expectedVersion=2)

        self.wait_job_status(job_id, "COMPLETED")
        job = self.assertAwsOk(self.aws("iot", "describe-job", "--job-id", job_id))["job"]
        self.assertEqual(job["status"], "COMPLETED")
        self.assertIn("completedAt", job)
        d = job["jobProcessDetails"]
        self.assertEqual(d["numberOfSucceededThings"], 3, d)
        for k in ("numberOfQueuedThings", "numberOfInProgressThings", "numberOfFailedThings",
                  "numberOfCanceledThings", "numberOfTimedOutThings", "numberOfRejectedThings"):
            self.assertEqual(d[k], 0, (k, d))
        succeeded = self.assertAwsOk(self.aws("iot", "list-job-executions-for-job", "--job-id", job_id,
                                              "--status", "SUCCEEDED"))["executionSummaries"]
        self.assertEqual(sorted(e["thingArn"] for e in succeeded), sorted(self.thing_arn(t) for t in things))

        # list-jobs filters, against a CONTINUOUS job for another group.
        other_group, _ = self.make_group("cli-other", 1)
        other = self.create_job([self.group_arn(other_group)], targetSelection="CONTINUOUS")

        by_status, by_selection, by_group, for_thing = self.aws_all(
            ("iot", "list-jobs", "--status", "COMPLETED"),
            ("iot", "list-jobs", "--target-selection", "CONTINUOUS"),
            ("iot", "list-jobs", "--thing-group-name", group),
            ("iot", "list-job-executions-for-thing", "--thing-name", dev))

        def listed_ids(result):
            return {j["jobId"] for j in self.assertAwsOk(result)["jobs"]}
        self.assertIn(job_id, listed_ids(by_status))
        self.assertNotIn(other, listed_ids(by_status))
        self.assertIn(other, listed_ids(by_selection))
        self.assertNotIn(job_id, listed_ids(by_selection))
        self.assertEqual(listed_ids(by_group), {job_id})

        for_thing = self.assertAwsOk(for_thing)
        self.assertEqual([(e["jobId"], e["jobExecutionSummary"]["status"]) for e in for_thing["executionSummaries"]],
                         [(job_id, "SUCCEEDED")])

        # A COMPLETED job cannot be canceled; the refusal changes nothing.
        before = self.describe_job(job_id)
        self.assertAwsError(self.aws("iot", "cancel-job", "--job-id", job_id, "--comment", "Cleanup"),
                            "InvalidRequestException")
        self.assertEqual(self.describe_job(job_id), before)

        # delete-job --force; the deletion finishes in the background.
        self.assertAwsOk(self.aws("iot", "delete-job", "--job-id", job_id, "--force"))

        def gone():
            try:
                self.iot.describe_job(jobId=job_id)
                return False
            except self.iot.exceptions.ResourceNotFoundException:
                return True
        if not wait_for(gone, jh.WAIT, 0.05):
            self.fail(f"job {job_id} still there {jh.WAIT}s after delete-job --force: {self.describe_job(job_id)}")
        self.assertAwsError(self.aws("iot", "describe-job", "--job-id", job_id), "ResourceNotFoundException")
        self.assertEqual(self.iot.list_job_executions_for_thing(thingName=dev)["executionSummaries"], [])
        self.assertNotIn(job_id, {j["jobId"] for j in self.iot.list_jobs(maxResults=250)["jobs"]})

    # ---- bad input --------------------------------------------------------------------
    def test_bad_input_is_refused_and_changes_nothing(self):
        group, things = self.make_group("cli-bad", 1)
        target = self.group_arn(group)
        kept = self.create_job([target], document={"keep": "me"}, description="the original")

        def snapshot():
            return ({j["jobId"]: j["status"] for j in self.iot.list_jobs(maxResults=250)["jobs"]},
                    self.describe_job(kept), self.iot.get_job_document(jobId=kept)["document"],
                    self.executions(kept))
        self.wait_execution_count(kept, 1)
        before = snapshot()

        doc = '{"op":"x"}'
        # 32,769 bytes of a valid JSON object: one byte over the limit.
        big = '{"pad":"' + "x" * (32769 - len('{"pad":""}')) + '"}'
        self.assertEqual(len(big), 32769)
        refusals = [  # (job id, code, arguments)
            (self.job_id("bad-rate"), "InvalidRequestException",
             ["--document", doc, "--job-executions-rollout-config", "maximumPerMinute=1001"]),
            (self.job_id("bad-factor"), "InvalidRequestException",
             ["--document", doc, "--job-executions-rollout-config",
              "exponentialRate={baseRatePerMinute=5,incrementFactor=6,"
              "rateIncreaseCriteria={numberOfNotifiedThings=5}}"]),
            (self.job_id("bad-threshold"), "InvalidRequestException",
             ["--document", doc, "--abort-config", 'criteriaList=[{failureType="FAILED",action="CANCEL",'
                                                    'thresholdPercentage=101,minNumberOfExecutedThings=3}]']),
            (self.job_id("bad-size"), "InvalidRequestException",
             ["--document", "file://" + self.write("big.json", big)]),
            # The same id again, even with the same document, is taken.
            (kept, "ResourceAlreadyExistsException",
             ["--document", '{"keep": "me"}', "--description", "a replacement"]),
        ]
        unknown = self.job_id("nope")
        results = self.aws_all(*[("iot", "create-job", "--job-id", jid, "--targets", target, *args)
                                 for jid, _, args in refusals],
                               ("iot", "describe-job", "--job-id", unknown),
                               ("iot", "get-job-document", "--job-id", unknown))
        for (jid, code, args), result in zip(refusals, results):
            with self.subTest(job=jid, code=code):
                self.assertAwsError(result, code)
                if jid != kept:
                    with self.assertRaises(self.iot.exceptions.ResourceNotFoundException):
                        self.iot.describe_job(jobId=jid)
        # Unknown jobs.
        self.assertAwsError(results[-2], "ResourceNotFoundException")
        self.assertAwsError(results[-1], "ResourceNotFoundException")
        # Nothing changed: no new job, the original as it was (its description, document, executions).
        self.assertEqual(snapshot(), before)

        # Exactly at the limit is accepted.
        at_limit = big[:8] + big[9:]
        self.assertEqual(len(at_limit), 32768)
        ok = self.job_id("size-ok")
        self.assertAwsOk(self.aws("iot", "create-job", "--job-id", ok, "--targets", target,
                                  "--document", "file://" + self.write("limit.json", at_limit)))
        self.assertEqual(self.iot.get_job_document(jobId=ok)["document"], at_limit)


if __name__ == "__main__":
    harness.main()

"""Jobs 04: time-driven job behaviour with --jobs-time-scale 60 (a job
minute is one real second): a rollout at maximumPerMinute=2 creates at most
two executions per (scaled) minute window and eventually reaches every
target; an abort config (FAILED, 50 %, at least 2 executed) cancels the job
with ABORT_CRITERIA_MET once two executions fail, canceling the queued ones
and leaving the in-progress one; a step timeout given on start-next and the
job's in-progress timeout time executions out (TIMED_OUT, counted once);
a retry config queues a FAILED or TIMED_OUT execution again with its
retryAttempt counting up, until the retries are used up."""
import math
import time

import harness
import jobs_helpers as jh
from mqtt_helpers import wait_for


class JobsRolloutTest(jh.JobsTestCase):
    server_args = jh.FAST_JOBS
    MINUTE = 1.0   # real seconds per job minute at --jobs-time-scale 60

    # ---- rollout rate -----------------------------------------------------------------
    def test_maximum_per_minute_limits_each_window(self):
        group, things = self.make_group("ro-rate", 6)
        t0 = time.monotonic()   # no rollout window can open before this
        job_id = self.create_job([self.group_arn(group)],
                                 jobExecutionsRolloutConfig={"maximumPerMinute": 2})
        first = len(self.executions(job_id))
        self.assertLessEqual(first, 2, "more than maximumPerMinute executions right after CreateJob")

        # Watch the rollout: the count never exceeds 2 per window that could have opened.
        seen = []
        deadline = t0 + 20 * self.MINUTE
        while time.monotonic() < deadline:
            count = len(self.executions(job_id))
            elapsed = time.monotonic() - t0
            windows = math.floor(elapsed / self.MINUTE) + 1
            seen.append((round(elapsed, 2), count))
            self.assertLessEqual(count, 2 * windows, f"rollout faster than 2 per minute: {seen}")
            if count == len(things):
                break
            time.sleep(0.05)
        self.assertEqual(len(self.executions(job_id)), len(things), f"the rollout did not finish: {seen}")
        # It went in steps: there was a moment with some but not all executions out.
        self.assertTrue(any(0 < c < len(things) for _, c in seen), seen)
        self.assertEqual(set(self.executions(job_id)), set(things))
        self.assertEqual(self.details(job_id)["numberOfQueuedThings"], 6)
        self.assertEqual(self.describe_job(job_id)["status"], "IN_PROGRESS")

    def test_exponential_rate_starts_at_the_base_rate(self):
        # baseRatePerMinute is "the initial rate of the rollout"; each time 2 things have been
        # notified the rate doubles, up to maximumPerMinute. Per minute window that allows at
        # most 2, then 4, then 8: cumulatively 2, 6, 14.
        group, things = self.make_group("ro-exp", 14)
        t0 = time.monotonic()
        job_id = self.create_job([self.group_arn(group)], jobExecutionsRolloutConfig={
            "maximumPerMinute": 8,
            "exponentialRate": {"baseRatePerMinute": 2, "incrementFactor": 2,
                                "rateIncreaseCriteria": {"numberOfNotifiedThings": 2}}})
        cumulative = [2, 6, 14]
        seen = []
        deadline = t0 + 20 * self.MINUTE
        while time.monotonic() < deadline:
            count = len(self.executions(job_id))
            elapsed = time.monotonic() - t0
            windows = math.floor(elapsed / self.MINUTE) + 1
            seen.append((round(elapsed, 2), count))
            self.assertLessEqual(count, cumulative[min(windows, 3) - 1],
                                 f"more than the exponential rate allows by window {windows}: {seen}")
            if count == len(things):
                break
            time.sleep(0.05)
        self.assertEqual(set(self.executions(job_id)), set(things), f"the rollout did not finish: {seen}")

    def test_cancel_stops_the_rollout(self):
        group, things = self.make_group("ro-cancel", 6)
        job_id = self.create_job([self.group_arn(group)], jobExecutionsRolloutConfig={"maximumPerMinute": 2})
        self.wait_execution_count(job_id, 1)
        self.iot.cancel_job(jobId=job_id, comment="stop the rollout")
        out = self.executions(job_id)
        self.assertLessEqual(len(out), 2)
        self.assertEqual({s["status"] for s in out.values()}, {"CANCELED"})
        # Time is the subject: two and a half more rollout windows create nothing.
        time.sleep(2.5 * self.MINUTE)
        self.assertEqual(set(self.executions(job_id)), set(out))
        job = self.describe_job(job_id)
        self.assertEqual(job["status"], "CANCELED")
        self.assertEqual(job["jobProcessDetails"]["numberOfQueuedThings"], 0)
        for t in things:
            if t not in out:
                self.assertEqual(self.jobs_data.get_pending_job_executions(thingName=t)["queuedJobs"], [])

    # ---- abort ---------------------------------------------------------------------------
    def test_abort_criteria_cancel_the_job(self):
        group, (busy, bad1, bad2, idle) = self.make_group("ro-abort", 4)
        job_id = self.create_job([self.group_arn(group)], abortConfig={"criteriaList": [
            {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 50,
             "minNumberOfExecutedThings": 2}]})
        self.wait_execution_count(job_id, 4)
        for t in (busy, bad1, bad2):
            self.assertEqual(self.start_next(t)["jobId"], job_id)

        # One failure: fewer than 2 executed, the job goes on.
        self.update(bad1, job_id, "FAILED")
        job = self.describe_job(job_id)
        self.assertEqual(job["status"], "IN_PROGRESS")
        self.assertNotIn("reasonCode", job)

        # The second: 2 executed, 100 % failed: canceled, with the abort's reason code.
        self.update(bad2, job_id, "FAILED")
        job = self.wait_job_status(job_id, "CANCELED")
        self.assertEqual(job["reasonCode"], "ABORT_CRITERIA_MET")
        self.assertTrue(job.get("comment"), job)
        self.assertFalse(job["forceCanceled"])
        self.assertEqual(self.statuses(job_id), {busy: "IN_PROGRESS", bad1: "FAILED", bad2: "FAILED",
                                                 idle: "CANCELED"})
        d = job["jobProcessDetails"]
        self.assertEqual((d["numberOfFailedThings"], d["numberOfCanceledThings"], d["numberOfInProgressThings"],
                          d["numberOfQueuedThings"]), (2, 1, 1, 0), d)
        # The in-progress device may still finish; the job stays CANCELED.
        self.update(busy, job_id, "SUCCEEDED")
        self.assertEqual(self.execution(job_id, busy)["status"], "SUCCEEDED")
        self.assertEqual(self.describe_job(job_id)["status"], "CANCELED")
        pending = self.jobs_data.get_pending_job_executions(thingName=idle)
        self.assertEqual((pending["inProgressJobs"], pending["queuedJobs"]), ([], []))

    def test_failures_below_the_threshold_do_not_abort(self):
        group, things = self.make_group("ro-noabort", 4)
        job_id = self.create_job([self.group_arn(group)], abortConfig={"criteriaList": [
            {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 50,
             "minNumberOfExecutedThings": 4}]})
        self.wait_execution_count(job_id, 4)
        for t, status in zip(things, ("SUCCEEDED", "FAILED", "SUCCEEDED", "REJECTED")):
            self.start_next(t)
            self.update(t, job_id, status)
        # 4 executed, 1 FAILED = 25 % < 50 %: the job completes normally.
        job = self.wait_job_status(job_id, "COMPLETED")
        self.assertNotIn("reasonCode", job)

    # ---- timeouts ------------------------------------------------------------------------
    def test_step_timeout_times_the_execution_out(self):
        group, (slow, fine) = self.make_group("ro-step", 2)
        job_id = self.create_job([self.group_arn(group)])
        self.wait_execution_count(job_id, 2)
        started = self.start_next(slow, stepTimeoutInMinutes=1)
        self.assertEqual(started["status"], "IN_PROGRESS")
        self.assertLessEqual(started["approximateSecondsBeforeTimedOut"], 60)
        self.start_next(fine, stepTimeoutInMinutes=1)
        fine_deadline = time.monotonic() + self.MINUTE
        # A new step timer replaces the old one; -1 clears it.
        self.update(fine, job_id, "IN_PROGRESS", stepTimeoutInMinutes=-1)

        e = self.wait_execution_status(job_id, slow, "TIMED_OUT", timeout=10 * self.MINUTE)
        self.assertEqual(e["versionNumber"], 3)   # queued 1, started 2, timed out 3
        # A device cannot move a timed-out execution.
        with self.assertRaises(self.jobs_data.exceptions.InvalidStateTransitionException):
            self.update(slow, job_id, "SUCCEEDED")
        # The other one had its step timer cleared: still IN_PROGRESS well after the deadline it
        # had first (time is the subject here: half a job minute past it, and a few ticks).
        time.sleep(max(0.0, fine_deadline + 0.5 * self.MINUTE - time.monotonic()))
        self.assertEqual(self.execution(job_id, fine)["status"], "IN_PROGRESS")
        self.update(fine, job_id, "SUCCEEDED")
        job = self.wait_job_status(job_id, "COMPLETED")
        d = job["jobProcessDetails"]
        self.assertEqual((d["numberOfTimedOutThings"], d["numberOfSucceededThings"]), (1, 1), d)

    def test_in_progress_timeout_of_the_job(self):
        group, (thing,) = self.make_group("ro-inprog", 1)
        job_id = self.create_job([self.group_arn(group)], timeoutConfig={"inProgressTimeoutInMinutes": 1})
        self.wait_execution_count(job_id, 1)
        self.assertEqual(self.start_next(thing)["status"], "IN_PROGRESS")
        self.wait_execution_status(job_id, thing, "TIMED_OUT", timeout=10 * self.MINUTE)
        job = self.wait_job_status(job_id, "COMPLETED")
        self.assertEqual(job["jobProcessDetails"]["numberOfTimedOutThings"], 1)
        self.assertEqual(self.execution(job_id, thing)["versionNumber"], 3)

    # ---- retries -------------------------------------------------------------------------------
    def test_retry_config_queues_a_failed_execution_again(self):
        group, (thing,) = self.make_group("ro-retry", 1)
        job_id = self.create_job([self.group_arn(group)], jobExecutionsRetryConfig={"criteriaList": [
            {"failureType": "FAILED", "numberOfRetries": 1}]})
        self.wait_execution_count(job_id, 1)
        self.assertEqual(self.executions(job_id)[thing]["retryAttempt"], 0)
        self.start_next(thing)
        self.update(thing, job_id, "FAILED")

        summary = self.executions(job_id)[thing]
        self.assertEqual((summary["status"], summary["retryAttempt"]), ("QUEUED", 1), summary)
        self.assertEqual(self.describe_job(job_id)["status"], "IN_PROGRESS")
        pending = self.jobs_data.get_pending_job_executions(thingName=thing)
        self.assertEqual([j["jobId"] for j in pending["queuedJobs"]], [job_id])

        # The retry fails too: no retries left, FAILED for good, the job completes.
        self.assertEqual(self.start_next(thing)["jobId"], job_id)
        self.update(thing, job_id, "FAILED")
        summary = self.executions(job_id)[thing]
        self.assertEqual((summary["status"], summary["retryAttempt"]), ("FAILED", 1), summary)
        job = self.wait_job_status(job_id, "COMPLETED")
        self.assertEqual(job["jobProcessDetails"]["numberOfFailedThings"], 1)

    def test_retry_config_for_timeouts(self):
        group, (thing,) = self.make_group("ro-retry-to", 1)
        job_id = self.create_job([self.group_arn(group)], jobExecutionsRetryConfig={"criteriaList": [
            {"failureType": "TIMED_OUT", "numberOfRetries": 1}]})
        self.wait_execution_count(job_id, 1)
        self.start_next(thing, stepTimeoutInMinutes=1)

        def requeued():
            s = self.executions(job_id)[thing]
            return s if s["retryAttempt"] == 1 else None
        summary = wait_for(requeued, 10 * self.MINUTE, 0.05)
        self.assertTrue(summary, f"no retry after the step timeout: {self.executions(job_id)}")
        self.assertEqual(summary["status"], "QUEUED")
        # A FAILED execution is not retried by a TIMED_OUT criterion.
        self.start_next(thing)
        self.update(thing, job_id, "FAILED")
        self.assertEqual(self.executions(job_id)[thing]["status"], "FAILED")
        self.wait_job_status(job_id, "COMPLETED")


if __name__ == "__main__":
    harness.main()

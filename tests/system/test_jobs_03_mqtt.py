"""Jobs 03: devices working jobs over the MQTT jobs API, as the AWS IoT
Device SDK does it (aws-wire-format.md section 7): certificates from
CreateKeysAndCertificate, the recipe's policy confining each device to
$aws/things/${iot:Connection.Thing.ThingName}/jobs/*, paho over TLS with
clean_session=False and the SDK's subscriptions. A job for the devices'
group reaches each of them on notify-next with the execution and its
jobDocument as a JSON object; start-next (clientToken echoed) and update
SUCCEEDED with expectedVersion are accepted; the job completes and a last
notify-next carries no execution; jobs/get lists in-progress and queued
jobs. Refused requests come back on /rejected with AWS's codes
(VersionMismatch and InvalidStateTransition with executionState). A device
publishing on another thing's jobs topic is disconnected by policy and the
other thing's execution is unchanged; a gateway whose policy names two
things works for both; a persistent session gets the notify-next that was
published while the device was away."""
import json

import jobs_helpers as jh
import mqtt_helpers as mh


class JobsMqttTest(jh.JobsMqttTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.policy = cls.devices.policy("jobs-device-policy",
                                            document=jh.device_policy(cls.region, cls.account))
        except BaseException:
            cls.server.cleanup()
            raise

    def device(self, thing):
        """A device for `thing` (its own certificate, the device policy), connected as the
        thing with clean_session=False and subscribed to the SDK's jobs topics."""
        cert = self.devices.certificate(name=mh.unique(thing), policies=[self.policy], thing=thing)
        dev = jh.JobsDevice(self, self.mqtt(cert, client_id=thing, clean=False), thing, cert)
        dev.subscribe_all()
        return dev

    def topic(self, thing, suffix):
        return f"$aws/things/{thing}/jobs/{suffix}"

    def assertTimestamp(self, body):
        self.assertIsInstance(body.get("timestamp"), int, body)

    # ---- the whole job ----------------------------------------------------------------
    def test_devices_run_a_job_over_mqtt(self):
        group, things = self.make_group("mq-run", 3)
        devices = [self.device(t) for t in things]
        events = self.mqtt()   # allow-all: the $aws/events of the job
        self.assertEqual(events.subscribe([("$aws/events/job/+/completed", 1),
                                           ("$aws/events/jobExecution/+/succeeded", 1)]), [1, 1])
        document = {"operation": "update", "url": "https://example.com/fw.bin", "size": 1024}
        job_id = self.create_job([self.group_arn(group)], document=document)

        for dev in devices:
            t = dev.thing
            # notify-next: the execution with its document as a JSON object.
            _, note = dev.wait_message(self.topic(t, "notify-next"), lambda b: "execution" in b)
            ex = note["execution"]
            self.assertEqual((ex["jobId"], ex["thingName"], ex["status"], ex["versionNumber"],
                              ex["executionNumber"]), (job_id, t, "QUEUED", 1, 1))
            self.assertEqual(ex["jobDocument"], document)
            self.assertTimestamp(note)
            for k in ("queuedAt", "lastUpdatedAt"):
                self.assertIsInstance(ex[k], int, ex)

            # jobs/get: queued before it starts.
            code, got = dev.request("get")
            self.assertEqual(code, "accepted", got)
            self.assertEqual(got["inProgressJobs"], [])
            self.assertEqual([j["jobId"] for j in got["queuedJobs"]], [job_id])
            self.assertEqual(got["queuedJobs"][0]["versionNumber"], 1)
            self.assertTimestamp(got)

            # start-next, with a clientToken that comes back.
            code, started = dev.request("start-next", {"clientToken": "tok-" + t[-2:],
                                                       "statusDetails": {"phase": "download"}})
            self.assertEqual(code, "accepted", started)
            self.assertEqual(started["clientToken"], "tok-" + t[-2:])
            ex = started["execution"]
            self.assertEqual((ex["jobId"], ex["thingName"], ex["status"], ex["versionNumber"]),
                             (job_id, t, "IN_PROGRESS", 2))
            self.assertEqual(ex["jobDocument"], document)
            self.assertEqual(ex["statusDetails"], {"phase": "download"})
            self.assertIsInstance(ex["startedAt"], int)

            code, got = dev.request("get")
            self.assertEqual([j["jobId"] for j in got["inProgressJobs"]], [job_id])
            self.assertEqual(got["queuedJobs"], [])
            code, got = dev.request(f"{job_id}/get")
            self.assertEqual(code, "accepted", got)
            self.assertEqual((got["execution"]["status"], got["execution"]["jobDocument"]), ("IN_PROGRESS", document))

            before_update = len(dev.client.messages) - 1
            code, updated = dev.request(f"{job_id}/update", {"status": "SUCCEEDED", "expectedVersion": 2,
                                                              "statusDetails": {"phase": "done"},
                                                              "includeJobExecutionState": True})
            self.assertEqual(code, "accepted", updated)
            self.assertEqual(updated["executionState"], {"status": "SUCCEEDED", "statusDetails": {"phase": "done"},
                                                         "versionNumber": 3})
            self.assertTimestamp(updated)
            # Nothing pending any more: a notify-next without an execution (before the
            # update, every notify-next had one).
            self.assertTrue(all("execution" in b for i, b in dev.messages(self.topic(t, "notify-next"))
                                if i <= before_update))
            _, last = dev.wait_message(self.topic(t, "notify-next"), lambda b: "execution" not in b,
                                       after=before_update)
            self.assertTimestamp(last)

        job = self.wait_job_status(job_id, "COMPLETED")
        self.assertEqual(job["jobProcessDetails"]["numberOfSucceededThings"], 3)
        for t in things:
            e = self.execution(job_id, t)
            self.assertEqual((e["status"], e["versionNumber"], e["statusDetails"]["detailsMap"]),
                             ("SUCCEEDED", 3, {"phase": "done"}))
        # The events of the job.
        done = events.wait_messages(1, topic=f"$aws/events/job/{job_id}/completed")
        self.assertEqual(len(done), 1)
        body = json.loads(done[0].payload)
        self.assertEqual((body["eventType"], body["operation"], body["jobId"], body["status"]),
                         ("JOB", "completed", job_id, "COMPLETED"))
        self.assertEqual(body["jobProcessDetails"]["numberOfSucceededThings"], 3)
        succeeded = events.wait_messages(3, topic=f"$aws/events/jobExecution/{job_id}/succeeded")
        self.assertEqual(sorted(json.loads(m.payload)["thingArn"] for m in succeeded),
                         sorted(self.thing_arn(t) for t in things))

    # ---- rejections --------------------------------------------------------------------
    def test_rejected_requests_carry_aws_codes(self):
        group, (thing,) = self.make_group("mq-rej", 1)
        dev = self.device(thing)
        job_id = self.create_job([self.group_arn(group)])
        dev.wait_message(self.topic(thing, "notify-next"), lambda b: "execution" in b)
        code, _ = dev.request("start-next")
        self.assertEqual(code, "accepted")

        # A wrong expectedVersion: VersionMismatch with the current state, nothing changed.
        code, body = dev.request(f"{job_id}/update", {"status": "SUCCEEDED", "expectedVersion": 7,
                                                       "clientToken": "vm-1"})
        self.assertEqual(code, "rejected", body)
        self.assertEqual(body["code"], "VersionMismatch", body)
        self.assertEqual(body["clientToken"], "vm-1")
        self.assertEqual(body["executionState"], {"status": "IN_PROGRESS", "statusDetails": {}, "versionNumber": 2})
        self.assertTrue(body["message"])
        self.assertTimestamp(body)
        e = self.execution(job_id, thing)
        self.assertEqual((e["status"], e["versionNumber"]), ("IN_PROGRESS", 2))

        # A status a device may not set.
        code, body = dev.request(f"{job_id}/update", {"status": "CANCELED"})
        self.assertEqual((code, body["code"]), ("rejected", "InvalidRequest"), body)
        # Not JSON.
        self.assertTrue(dev.client.publish(self.topic(thing, f"{job_id}/update"), b"{not json", qos=1))
        _, body = dev.wait_message(self.topic(thing, f"{job_id}/update/rejected"),
                                   lambda b: b.get("code") == "InvalidJson")
        # An unknown job.
        unknown = jh.unique("nojob")
        code, body = dev.request(f"{unknown}/update", {"status": "SUCCEEDED"})
        self.assertEqual((code, body["code"]), ("rejected", "ResourceNotFound"), body)
        e = self.execution(job_id, thing)
        self.assertEqual((e["status"], e["versionNumber"]), ("IN_PROGRESS", 2))

        code, body = dev.request(f"{job_id}/update", {"status": "SUCCEEDED", "expectedVersion": 2})
        self.assertEqual(code, "accepted", body)
        # An update to a finished execution: InvalidStateTransition with its state.
        code, body = dev.request(f"{job_id}/update", {"status": "IN_PROGRESS", "clientToken": "ist-1"})
        self.assertEqual(code, "rejected", body)
        self.assertEqual((body["code"], body["clientToken"]), ("InvalidStateTransition", "ist-1"), body)
        self.assertEqual(body["executionState"], {"status": "SUCCEEDED", "statusDetails": {}, "versionNumber": 3})
        # Describing it: TerminalStateReached.
        code, body = dev.request(f"{job_id}/get")
        self.assertEqual((code, body["code"]), ("rejected", "TerminalStateReached"), body)
        e = self.execution(job_id, thing)
        self.assertEqual((e["status"], e["versionNumber"]), ("SUCCEEDED", 3))
        # With nothing pending, start-next is accepted without an execution.
        code, body = dev.request("start-next")
        self.assertEqual(code, "accepted", body)
        self.assertNotIn("execution", body)
        self.assertFalse(dev.client.closed)

    # ---- policy -------------------------------------------------------------------------
    def test_a_device_cannot_act_for_another_thing(self):
        group, (mine, theirs) = self.make_group("mq-pol", 2)
        me, them = self.device(mine), self.device(theirs)
        job_id = self.create_job([self.group_arn(group)])
        them.wait_message(self.topic(theirs, "notify-next"), lambda b: "execution" in b)
        before = self.execution(job_id, theirs)
        self.assertEqual((before["status"], before["versionNumber"]), ("QUEUED", 1))

        # Subscribing to the other thing's answers is refused (that filter only).
        self.assertEqual(me.client.subscribe([(self.topic(theirs, "+/update/accepted"), 1),
                                              (self.topic(mine, "notify"), 1)]), [0x80, 1])
        self.assertFalse(me.client.closed)
        # Publishing a request for it: the broker refuses the PUBLISH and disconnects.
        me.client.publish(self.topic(theirs, f"{job_id}/update"),
                          json.dumps({"status": "SUCCEEDED", "clientToken": "forged"}), qos=1)
        self.assertClosed(me.client, msg="publishing on another thing's jobs topic was not refused")
        self.assertIn(me.client.disconnect_reason, (None, 0x87))   # 3.1.1: the connection just closes
        # The other thing's own device sees its execution as it was.
        code, body = them.request(f"{job_id}/get")
        self.assertEqual(code, "accepted", body)
        self.assertEqual((body["execution"]["status"], body["execution"]["versionNumber"]), ("QUEUED", 1))
        self.assertEqual(self.execution(job_id, theirs), before)
        # ... and its answers never carried the forged token.
        self.assertNotIn(b"forged", b"".join(m.payload for m in them.client.messages))
        # The refused device's own execution is untouched too, and it may come back and work it.
        again = jh.JobsDevice(self, self.mqtt(me.cert, client_id=mine, clean=False), mine)
        code, body = again.request("start-next")
        self.assertEqual((code, body["execution"]["jobId"]), ("accepted", job_id), body)

    def test_a_gateway_acts_for_the_things_its_policy_names(self):
        group, (left, right) = self.make_group("mq-gw", 2)
        policy = self.devices.policy(jh.unique("gw-pol"),
                                     document=jh.device_policy(self.region, self.account, [left, right]))
        cert = self.devices.certificate(name=jh.unique("gateway"), policies=[policy])
        gw = jh.JobsDevice(self, self.mqtt(cert, client_id=jh.unique("gateway"), clean=False), [left, right])
        gw.subscribe_all()
        job_id = self.create_job([self.group_arn(group)])
        for t in (left, right):
            gw.wait_message(self.topic(t, "notify-next"), lambda b: "execution" in b)
            code, body = gw.request("start-next", thing=t)
            self.assertEqual(code, "accepted", body)
            self.assertEqual((body["execution"]["thingName"], body["execution"]["jobId"]), (t, job_id))
            code, body = gw.request(f"{job_id}/update", {"status": "SUCCEEDED", "expectedVersion": 2}, thing=t)
            self.assertEqual(code, "accepted", body)
        self.wait_job_status(job_id, "COMPLETED")
        self.assertEqual(self.statuses(job_id), {left: "SUCCEEDED", right: "SUCCEEDED"})
        self.assertFalse(gw.client.closed)

    # ---- notify and notify-next ------------------------------------------------------------
    def test_notify_next_only_when_the_next_job_changes(self):
        # AWS: NextJobExecutionChanged "is not sent when the next job's execution details
        # change, only when the next job that would be returned by DescribeJobExecution with
        # jobId $next has changed"; a ListNotification (notify) goes out whenever an execution
        # is queued, changes to a non-terminal status, or ends.
        group, (thing,) = self.make_group("mq-next", 1)
        dev = self.device(thing)
        notify, notify_next = self.topic(thing, "notify"), self.topic(thing, "notify-next")
        first = self.create_job([self.group_arn(group)], document={"n": 1})
        _, note = dev.wait_message(notify_next, lambda b: "execution" in b)
        self.assertEqual(note["execution"]["jobId"], first)
        _, lst = dev.wait_message(notify, lambda b: first in [j["jobId"] for j in b["jobs"].get("QUEUED", [])])
        self.assertTimestamp(lst)
        quiet_from = len(dev.client.messages) - 1
        second = self.create_job([self.thing_arn(thing)], document={"n": 2})
        # The second job is queued behind the first: notify lists both, notify-next stays quiet.
        _, lst = dev.wait_message(notify, lambda b: len(b["jobs"].get("QUEUED", [])) == 2)
        self.assertEqual([j["jobId"] for j in lst["jobs"]["QUEUED"]], [first, second])

        # The second goes IN_PROGRESS (the device updates it directly): it is next now, and
        # that is the first notify-next since it was queued.
        mark = len(dev.client.messages) - 1
        code, body = dev.request(f"{second}/update", {"status": "IN_PROGRESS"})
        self.assertEqual(code, "accepted", body)
        _, note = dev.wait_message(notify_next, lambda b: True, after=quiet_from)
        self.assertEqual((note["execution"]["jobId"], note["execution"]["status"]), (second, "IN_PROGRESS"))
        _, lst = dev.wait_message(notify, lambda b: "IN_PROGRESS" in b["jobs"], after=mark)
        self.assertEqual([j["jobId"] for j in lst["jobs"]["IN_PROGRESS"]], [second])
        self.assertEqual([j["jobId"] for j in lst["jobs"]["QUEUED"]], [first])

        # It finishes: the first is next again.
        mark = len(dev.client.messages) - 1
        code, body = dev.request(f"{second}/update", {"status": "SUCCEEDED"})
        _, note = dev.wait_message(notify_next, lambda b: "execution" in b, after=mark)
        self.assertEqual((note["execution"]["jobId"], note["execution"]["status"]), (first, "QUEUED"))

        # The first (next already) starts: notify says so, notify-next does not (same next job).
        mark = len(dev.client.messages) - 1
        code, body = dev.request("start-next")
        self.assertEqual((code, body["execution"]["jobId"]), ("accepted", first), body)
        dev.wait_message(notify, lambda b: "IN_PROGRESS" in b["jobs"], after=mark)
        # It ends: now the next job changes (to none). Per-thing notifications keep their order,
        # so anything the start-next caused has arrived before this one.
        code, body = dev.request(f"{first}/update", {"status": "SUCCEEDED"})
        i, _ = dev.wait_message(notify_next, lambda b: "execution" not in b, after=mark)
        between = [b for j, b in dev.messages(notify_next) if mark < j < i]
        self.assertEqual(between, [], "notify-next sent although the next job did not change "
                                      "(only its status went QUEUED -> IN_PROGRESS)")
        _, lst = dev.wait_message(notify, lambda b: b["jobs"] == {}, after=mark)

    # ---- operator changes reach the device ---------------------------------------------------
    def test_retry_and_cancel_reach_the_device(self):
        group, (thing,) = self.make_group("mq-retry", 1)
        dev = self.device(thing)
        job_id = self.create_job([self.group_arn(group)], document={"try": 1},
                                 jobExecutionsRetryConfig={"criteriaList": [{"failureType": "FAILED",
                                                                             "numberOfRetries": 1}]})
        dev.wait_message(self.topic(thing, "notify-next"), lambda b: "execution" in b)
        # $next/get describes the next execution, with its document unless told otherwise.
        code, body = dev.request("$next/get")
        self.assertEqual(code, "accepted", body)
        self.assertEqual((body["execution"]["jobId"], body["execution"]["jobDocument"]), (job_id, {"try": 1}))
        code, body = dev.request("$next/get", {"includeJobDocument": False})
        self.assertNotIn("jobDocument", body["execution"])

        code, body = dev.request("start-next", {"stepTimeoutInMinutes": 30})
        self.assertEqual(code, "accepted", body)
        self.assertIn("approximateSecondsBeforeTimedOut", body["execution"])
        mark = len(dev.client.messages) - 1
        code, body = dev.request(f"{job_id}/update", {"status": "FAILED", "includeJobDocument": True})
        self.assertEqual((code, body["jobDocument"]), ("accepted", {"try": 1}), body)
        # The retry queues it again, and notify-next says so.
        _, note = dev.wait_message(self.topic(thing, "notify-next"),
                                   lambda b: b.get("execution", {}).get("status") == "QUEUED", after=mark)
        self.assertEqual(note["execution"]["jobId"], job_id)
        self.assertEqual(self.executions(job_id)[thing]["retryAttempt"], 1)

        # The operator cancels the job: nothing is pending, and notify-next says that too.
        mark = len(dev.client.messages) - 1
        self.iot.cancel_job(jobId=job_id)
        dev.wait_message(self.topic(thing, "notify-next"), lambda b: "execution" not in b, after=mark)
        code, body = dev.request("get")
        self.assertEqual((body["inProgressJobs"], body["queuedJobs"]), ([], []), body)
        code, body = dev.request("start-next")
        self.assertNotIn("execution", body)

    # ---- persistent session ---------------------------------------------------------------
    def test_notify_next_waits_in_the_persistent_session(self):
        group, (thing,) = self.make_group("mq-away", 1)
        dev = self.device(thing)
        dev.client.disconnect()
        job_id = self.create_job([self.group_arn(group)], document={"while": "away"})
        self.wait_execution_count(job_id, 1)
        back = jh.JobsDevice(self, self.mqtt(dev.cert, client_id=thing, clean=False), thing)
        self.assertTrue(back.client.session_present)
        _, note = back.wait_message(self.topic(thing, "notify-next"), lambda b: "execution" in b)
        self.assertEqual((note["execution"]["jobId"], note["execution"]["jobDocument"]), (job_id, {"while": "away"}))
        code, body = back.request("start-next")
        self.assertEqual((code, body["execution"]["status"]), ("accepted", "IN_PROGRESS"), body)


if __name__ == "__main__":
    mh.main()

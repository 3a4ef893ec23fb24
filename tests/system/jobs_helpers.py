"""Helpers for the IoT Jobs system tests (test_jobs_*.py).

The jobs surfaces are driven by clients nobody here wrote: /usr/bin/aws
(`aws iot ...`, `aws iot-jobs-data ...`), boto3's `iot` and `iot-jobs-data`
clients, and paho for devices speaking the MQTT jobs API on
$aws/things/<thing>/jobs/... .

Pieces:
  * FAST_JOBS: server arguments that make a job minute one real second
    (--jobs-time-scale 60) and let the scheduler look often, for tests whose
    subject is time (rollout windows, timeouts);
  * JobsMixin: fleets (a thing group with N things), job creation, reads of
    jobs and executions through boto3, and waits on them with deadlines;
    mixed into harness.ServerTestCase (JobsTestCase) or
    mqtt_helpers.MqttTestCase (JobsMqttTestCase);
  * device_policy(): the recipe's device policy (each device confined to
    $aws/things/${iot:Connection.Thing.ThingName}/jobs/*);
  * JobsDevice: a paho device subscribed to its jobs topics, with
    request/response helpers that wait for the accepted/rejected answer.

Every wait polls with a deadline; nothing here sleeps to let time pass.
"""
import json

import harness
import mqtt_helpers as mh
from mqtt_helpers import WAIT, unique, wait_for

# A job minute is one real second; the scheduler ticks every 50 ms.
FAST_JOBS = ["--jobs-time-scale", "60", "--jobs-tick-ms", "50"]

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "REMOVED", "CANCELED"}


class JobsMixin:
    """Needs self.server, self.iot, self.region and self.account (the test case bases set them)."""

    # ---- names --------------------------------------------------------------
    def group_arn(self, group):
        return f"arn:aws:iot:{self.region}:{self.account}:thinggroup/{group}"

    def thing_arn(self, thing):
        return f"arn:aws:iot:{self.region}:{self.account}:thing/{thing}"

    def job_arn(self, job_id):
        return f"arn:aws:iot:{self.region}:{self.account}:job/{job_id}"

    def job_id(self, prefix="job"):
        # Job ids allow [a-zA-Z0-9_-]: unique() gives exactly that.
        return unique(prefix)

    @property
    def jobs_data(self):
        """A boto3 iot-jobs-data client for the server's current endpoint (it changes on restart)."""
        cache = getattr(self, "_jobs_data_cache", None)
        if cache is None or cache[0] != self.server.endpoint:
            cache = (self.server.endpoint, self.server.boto3_client("iot-jobs-data"))
            self._jobs_data_cache = cache
        return cache[1]

    # ---- fleet ----------------------------------------------------------------
    def make_group(self, prefix, count, parent=None):
        """A new thing group holding `count` new things: (group, [thing names])."""
        group = unique(prefix + "-grp")
        kw = {"parentGroupName": parent} if parent else {}
        self.iot.create_thing_group(thingGroupName=group, **kw)
        things = []
        for i in range(count):
            thing = f"{group}-t{i}"
            self.iot.create_thing(thingName=thing)
            self.iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
            things.append(thing)
        return group, things

    # ---- jobs -----------------------------------------------------------------
    def create_job(self, targets, document=None, job_id=None, **kw):
        """CreateJob through boto3; returns the job id."""
        job_id = job_id or self.job_id()
        if document is None and "jobTemplateArn" not in kw:
            document = {"operation": "test", "job": job_id}
        if document is not None:
            kw["document"] = document if isinstance(document, str) else json.dumps(document)
        out = self.iot.create_job(jobId=job_id, targets=list(targets), **kw)
        self.assertEqual(out["jobId"], job_id)
        self.assertEqual(out["jobArn"], self.job_arn(job_id))
        return job_id

    def describe_job(self, job_id):
        return self.iot.describe_job(jobId=job_id)["job"]

    def details(self, job_id):
        return self.describe_job(job_id)["jobProcessDetails"]

    def executions(self, job_id, status=None):
        """{thing name: jobExecutionSummary} of every execution of the job (all pages)."""
        out, kw = {}, {"jobId": job_id, "maxResults": 250}
        if status:
            kw["status"] = status
        while True:
            page = self.iot.list_job_executions_for_job(**kw)
            for item in page["executionSummaries"]:
                thing = item["thingArn"].rsplit("/", 1)[1]
                self.assertNotIn(thing, out, f"{thing} listed twice")
                out[thing] = item["jobExecutionSummary"]
            if not page.get("nextToken"):
                return out
            kw["nextToken"] = page["nextToken"]

    def statuses(self, job_id):
        return {thing: s["status"] for thing, s in self.executions(job_id).items()}

    def execution(self, job_id, thing):
        """The control plane's view (iot DescribeJobExecution) of the execution."""
        return self.iot.describe_job_execution(jobId=job_id, thingName=thing)["execution"]

    # ---- waits ----------------------------------------------------------------
    def wait_job_status(self, job_id, status, timeout=WAIT):
        job = wait_for(lambda: (lambda j: j if j["status"] == status else None)(self.describe_job(job_id)),
                       timeout, 0.05)
        if not job:
            self.fail(f"job {job_id} did not reach {status} within {timeout}s: {self.describe_job(job_id)}")
        return job

    def wait_statuses(self, job_id, want, timeout=WAIT):
        """Waits until the executions' statuses are exactly `want` ({thing: status})."""
        got = wait_for(lambda: self.statuses(job_id) == want, timeout, 0.05)
        if not got:
            self.assertEqual(self.statuses(job_id), want, f"executions of {job_id} after {timeout}s")

    def wait_execution_status(self, job_id, thing, status, timeout=WAIT):
        def check():
            try:
                e = self.execution(job_id, thing)
            except self.iot.exceptions.ResourceNotFoundException:
                return None   # not rolled out yet
            return e if e["status"] == status else None
        e = wait_for(check, timeout, 0.05)
        if not e:
            self.fail(f"execution of {job_id} on {thing} did not become {status} within {timeout}s: "
                      f"{self.executions(job_id).get(thing)}")
        return e

    def wait_execution_count(self, job_id, count, timeout=WAIT):
        got = wait_for(lambda: len(self.executions(job_id)) >= count, timeout, 0.05)
        if not got:
            self.fail(f"job {job_id} has {len(self.executions(job_id))} executions after {timeout}s, "
                      f"wanted {count}")

    # ---- a device over HTTP (iot-jobs-data) -------------------------------------
    def start_next(self, thing, **kw):
        return self.jobs_data.start_next_pending_job_execution(thingName=thing, **kw).get("execution")

    def update(self, thing, job_id, status, **kw):
        return self.jobs_data.update_job_execution(thingName=thing, jobId=job_id, status=status, **kw)


class JobsTestCase(JobsMixin, harness.ServerTestCase):
    """One server per class; server_args as in harness.ServerTestCase."""


class JobsMqttTestCase(JobsMixin, mh.MqttTestCase):
    """One server per class with the TLS broker and an allow-all `admin` device."""


# ---------------------------------------------------------------------------
# Devices over MQTT
# ---------------------------------------------------------------------------
def device_policy(region, account, things=None):
    """The recipe's device policy: connect as its thing, publish, subscribe and
    receive only under $aws/things/<thing>/jobs/. things=None uses the policy
    variable ${iot:Connection.Thing.ThingName}; a list of names covers those
    things (a gateway) and lets the certificate connect under any client id."""
    arn = f"arn:aws:iot:{region}:{account}"
    if things is None:
        names = ["${iot:Connection.Thing.ThingName}"]
        connect = f"{arn}:client/${{iot:Connection.Thing.ThingName}}"
    else:
        names = list(things)
        connect = f"{arn}:client/*"
    resources = []
    for n in names:
        resources += [f"{arn}:topic/$aws/things/{n}/jobs/*", f"{arn}:topicfilter/$aws/things/{n}/jobs/*"]
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": connect},
        {"Effect": "Allow", "Action": ["iot:Publish", "iot:Subscribe", "iot:Receive"], "Resource": resources}]})


# What the AWS IoT Device SDK subscribes to before it asks for work (aws-wire-format.md §7).
def device_topics(thing):
    base = f"$aws/things/{thing}/jobs"
    return [f"{base}/notify-next", f"{base}/notify", f"{base}/get/accepted", f"{base}/get/rejected",
            f"{base}/start-next/accepted", f"{base}/start-next/rejected",
            f"{base}/+/update/accepted", f"{base}/+/update/rejected",
            f"{base}/+/get/accepted", f"{base}/+/get/rejected"]


class JobsDevice:
    """A paho MqttClient acting for one thing (or several, for a gateway):
    publishes jobs requests and waits for their answers by clientToken."""

    def __init__(self, test, client, things, cert=None):
        self.test, self.client, self.cert = test, client, cert
        self.things = [things] if isinstance(things, str) else list(things)

    @property
    def thing(self):
        return self.things[0]

    def subscribe_all(self):
        # AWS IoT takes at most 8 filters per SUBSCRIBE (so does our broker); the SDK
        # sends one SUBSCRIBE per topic, here four to a packet.
        for thing in self.things:
            topics = device_topics(thing)
            for i in range(0, len(topics), 4):
                filters = [(t, 1) for t in topics[i:i + 4]]
                self.test.assertEqual(self.client.subscribe(filters), [1] * len(filters),
                                      f"SUBACK for the jobs topics of {thing}: {filters}")

    def messages(self, topic):
        """[(index, parsed JSON)] of every message received on `topic`."""
        out = []
        for i, m in enumerate(list(self.client.messages)):
            if m.topic == topic:
                out.append((i, json.loads(m.payload)))
        return out

    def wait_message(self, topic, predicate=lambda body: True, after=-1, timeout=WAIT):
        """The first message on `topic` received after index `after` whose body satisfies predicate."""
        def find():
            for i, body in self.messages(topic):
                if i > after and predicate(body):
                    return (i, body)
            return None
        got = wait_for(find, timeout)
        if not got:
            seen = [(m.topic, m.payload[:300]) for m in self.client.messages]
            self.test.fail(f"nothing on {topic} matched within {timeout}s; received: {seen}")
        return got

    def request(self, topic, body=None, thing=None):
        """Publishes `body` (a clientToken added) on $aws/things/<thing>/jobs/<topic>
        and returns (answer suffix 'accepted'|'rejected', the answer's body)."""
        thing = thing or self.thing
        body = dict(body or {})
        token = body.setdefault("clientToken", unique("tok"))
        full = f"$aws/things/{thing}/jobs/{topic}"
        self.test.assertTrue(self.client.publish(full, json.dumps(body), qos=1), f"PUBACK for {full}")

        def answer():
            for m in list(self.client.messages):
                if m.topic in (full + "/accepted", full + "/rejected"):
                    parsed = json.loads(m.payload)
                    if parsed.get("clientToken") == token:
                        return m.topic.rsplit("/", 1)[1], parsed
            return None
        got = wait_for(answer)
        if not got:
            self.test.fail(f"no answer to {full} {body} within {WAIT}s; received: "
                           f"{[(m.topic, m.payload[:200]) for m in self.client.messages]}")
        return got

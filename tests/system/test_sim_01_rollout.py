"""Sim 01: `airfleet-sim rollout` rehearses firmware rollouts end to end.

The simulator provisions its things and certificates through the API,
uploads the image to S3, connects every device over MQTT/TLS with its own
certificate and creates the job; its devices run the jobs protocol and
download through the presigned links. It shares airfleet's MQTT code, so it
is not the only witness: real `airfleet-agent` processes (libmosquitto,
libcurl) sit in the same thing group and take the same job, and every
count the simulator prints is checked against what the server says
(boto3: DescribeJob, ListJobExecutionsForJob) and against the simulator's
own per-device report.

* 500 simulated devices and 3 real agents, a 64 KiB image, no rate cap:
  the job ends COMPLETED with 503 SUCCEEDED executions; every simulated
  device downloaded the image and reports the new version; each agent holds
  the image byte-identical (as stored in S3) in its active slot.
* --fail-rate 0.5 with an abort rule and a throttled rollout: the job is
  CANCELED (ABORT_CRITERIA_MET) after the first window; devices that were
  never handed an execution never downloaded or changed version, and the
  real agents at the end of the rollout order have no execution and are
  untouched.
* --reject-rate and --hang-rate (over the HTTPS API and MQTT 5): exactly the
  chosen devices end REJECTED and TIMED_OUT (the job's in-progress timeout,
  one job minute = one second here), the rest SUCCEEDED or FAILED as told.
* Options the simulator cannot use are refused with exit status 2 and a
  message; a rollout config the server refuses ends with exit status 1 and
  the server's error in the final line.
"""
import json
import os
import subprocess
import unittest

import agent_helpers as ah
import harness
import jobs_helpers as jh
import mqtt_helpers as mh
from agent_helpers import NEW_VERSION, OLD_IMAGE, OLD_VERSION, sha256
from mqtt_helpers import unique, wait_for

SIM_WAIT = 300   # seconds a whole simulator run may take


def sim_bin():
    path = os.environ.get("AIRFLEET_SIM_BIN") or os.path.join(harness.ROOT, "build", "dev", "bin", "airfleet-sim")
    if not os.path.exists(path):
        raise unittest.SkipTest(f"airfleet-sim binary not found at {path}")
    return path


class RolloutTest(ah.AgentTestCase):
    server_args = jh.FAST_JOBS + ["--mqtt-max-connections", "2000"]

    @classmethod
    def setUpClass(cls):
        sim_bin()
        super().setUpClass()

    def rollout(self, *args, endpoint=None, expect_code=0):
        """Runs `airfleet-sim rollout` against the server; returns (final JSON line, devices report)."""
        report = os.path.join(self.files, unique("devices") + ".jsonl")
        cmd = [sim_bin(), "rollout", "--endpoint", endpoint or self.server.endpoint,
               "--credentials", self.server.credentials_file, "--ca", self.server.ready["root_ca"],
               "--mqtt", f"127.0.0.1:{mh.mqtt_port(self.server)}", "--progress", "lines",
               "--server-pid", str(self.server.proc.pid), "--devices-report", report, *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=SIM_WAIT)
        self.assertEqual(p.returncode, expect_code, f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-4000:]}")
        lines = p.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stdout)
        devices = {}
        if os.path.exists(report):
            with open(report) as f:
                for line in f:
                    d = json.loads(line)
                    devices[d["thing"]] = d
        return json.loads(lines[0]), devices

    def start_agents(self, prefix, count):
        group, devices = self.make_devices(prefix, count)
        agents = [self.start_agent(d) for d in devices]
        for a in agents:   # connected, subscribed, and told there is nothing pending
            self.assertTrue(wait_for(lambda: "nothing pending" in a.read_log(), ah.LONG_WAIT, 0.05),
                            f"{a.thing} did not connect:\n{a.read_log()[-2000:]}")
        return group, agents

    def firmware_in_s3(self, result):
        bucket, key = result["firmware_object"][len("s3://"):].split("/", 1)
        data = self.server.boto3_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        self.assertEqual(sha256(data), result["firmware_sha256"])
        self.assertEqual(len(data), result["firmware_bytes"])
        return data

    def assertAgentUpdated(self, agent, firmware):
        self.assertEqual(agent.active(), "b", agent.thing)
        self.assertEqual(agent.version(), NEW_VERSION, agent.thing)
        self.assertEqual(sha256(agent.active_image()), sha256(firmware), f"{agent.thing}: the image differs")

    def assertAgentUntouched(self, agent):
        self.assertEqual(agent.active(), "a", agent.thing)
        self.assertEqual(agent.version(), OLD_VERSION, agent.thing)
        self.assertTrue(agent.image("a") == OLD_IMAGE, f"{agent.thing}: slot a changed")
        self.assertIsNone(agent.image("b"), f"{agent.thing}: something was written to slot b")
        self.assertNotIn("downloading", agent.read_log())

    def test_500_simulated_devices_and_3_agents_complete_a_firmware_job(self):
        group, agents = self.start_agents("sim-mixed", 3)
        prefix = unique("simdev")
        result, devices = self.rollout(
            "--devices", "500", "--prefix", prefix, "--thing-group", group, "--bucket", self.bucket,
            "--firmware-size", str(64 * 1024), "--firmware-version", NEW_VERSION)

        self.assertEqual(result["status"], "COMPLETED", result)
        self.assertTrue(result["ok"], result)
        self.assertEqual((result["devices"], result["things"]), (500, 503))
        self.assertEqual(result["succeeded"], 503)
        for key in ("failed", "rejected", "timed_out", "canceled", "queued", "in_progress"):
            self.assertEqual(result[key], 0, key)
        self.assertEqual((result["downloads"], result["checksum_mismatches"], result["download_failures"]),
                         (500, 0, 0))
        self.assertEqual(result["devices_updated"], 500)
        self.assertEqual(result["downloaded_bytes"], 500 * 64 * 1024)
        self.assertGreater(result["p99_notify_to_start_ms"], 0)
        self.assertLessEqual(result["p50_notify_to_start_ms"], result["p99_notify_to_start_ms"])
        self.assertGreater(result["seconds"], 0)
        self.assertGreater(result["server_peak_rss_kib"], 0)

        # The server's view agrees, execution by execution.
        job_id = result["job_id"]
        statuses = self.statuses(job_id)
        self.assertEqual(len(statuses), 503)
        self.assertEqual(set(statuses.values()), {"SUCCEEDED"})
        self.assertEqual(self.describe_job(job_id)["jobProcessDetails"]["numberOfSucceededThings"], 503)
        details = self.execution(job_id, f"{prefix}-123")["statusDetails"]["detailsMap"]
        self.assertEqual(details["newVersion"], NEW_VERSION)
        # ... and so does the simulator's per-device report.
        self.assertEqual(sorted(devices), sorted(f"{prefix}-{i}" for i in range(500)))
        for d in devices.values():
            self.assertEqual((d["outcome"], d["version"], d["executions"], d["downloaded_bytes"]),
                             ("SUCCEEDED", NEW_VERSION, 1, 64 * 1024), d)

        firmware = self.firmware_in_s3(result)
        for a in agents:
            self.assertEqual(statuses[a.thing], "SUCCEEDED")
            self.assertAgentUpdated(a, firmware)

    def test_fail_rate_half_with_an_abort_rule_cancels_and_leaves_the_rest_untouched(self):
        # Executions roll out in thing-name order: the agents' things ("zz-...")
        # come after every simulated one.
        group, agents = self.start_agents("zz-abort", 2)
        prefix = unique("abort")
        result, devices = self.rollout(
            "--devices", "200", "--prefix", prefix, "--thing-group", group, "--bucket", self.bucket,
            "--firmware-size", "4096", "--firmware-version", NEW_VERSION, "--fail-rate", "0.5",
            "--rollout", "maximumPerMinute=20",
            "--abort", "criteriaList=[{failureType=FAILED,action=CANCEL,thresholdPercentage=30,"
                       "minNumberOfExecutedThings=10}]")

        self.assertEqual(result["status"], "CANCELED", result)
        self.assertEqual(result["reason_code"], "ABORT_CRITERIA_MET", result)
        self.assertTrue(result["ok"], result)
        self.assertEqual(sum(f == "fail" for f in (d["fate"] for d in devices.values())), 100)

        job_id = result["job_id"]
        statuses = self.statuses(job_id)
        # The first window (20 a job minute) went out; the abort stopped the rest.
        self.assertLessEqual(len(statuses), 40, statuses)
        self.assertGreaterEqual(len(statuses), 10)
        self.assertGreaterEqual(list(statuses.values()).count("FAILED"), 3)
        # Executions still QUEUED at the abort were canceled before any device had them.
        reached = {d["thing"] for d in devices.values() if d["executions"] > 0}
        started = {t for t, s in statuses.items() if s != "CANCELED"}
        self.assertEqual(reached, started, "the simulator and the server disagree on who got an execution")
        self.assertEqual(result["devices_untouched"], 200 - len(reached))
        for thing, d in devices.items():
            if thing not in started:
                self.assertEqual((d["outcome"], d["downloaded_bytes"], d["version"]), ("", 0, "1.0.0"), d)
            elif statuses[thing] == "SUCCEEDED":
                self.assertEqual((d["fate"], d["version"]), ("succeed", NEW_VERSION), d)
            else:
                self.assertEqual(statuses[thing], "FAILED", d)
                self.assertEqual((d["fate"], d["version"]), ("fail", "1.0.0"), d)
        counts = {k: result[k] for k in ("succeeded", "failed", "canceled")}
        self.assertEqual(counts, {"succeeded": list(statuses.values()).count("SUCCEEDED"),
                                  "failed": list(statuses.values()).count("FAILED"),
                                  "canceled": list(statuses.values()).count("CANCELED")})
        for a in agents:
            self.assertNotIn(a.thing, statuses)
            self.assertAgentUntouched(a)

    def test_rejecting_and_hanging_devices_end_rejected_and_timed_out(self):
        https = self.server.ready["https_endpoint"]
        result, devices = self.rollout(
            "--devices", "40", "--prefix", unique("hang"), "--reject-rate", "0.25", "--hang-rate", "0.25",
            "--fail-rate", "0.1", "--in-progress-timeout", "1", "--mqtt-version", "5", endpoint=https)

        self.assertEqual(result["status"], "COMPLETED", result)
        self.assertTrue(result["ok"], result)
        self.assertEqual({k: result[k] for k in ("succeeded", "failed", "rejected", "timed_out")},
                         {"succeeded": 16, "failed": 4, "rejected": 10, "timed_out": 10})
        self.assertEqual(result["devices_hung"], 10)
        self.assertEqual(result["devices_updated"], 16)
        want = {"succeed": "SUCCEEDED", "fail": "FAILED", "reject": "REJECTED", "hang": "TIMED_OUT"}
        statuses = self.statuses(result["job_id"])
        self.assertEqual(statuses, {t: want[d["fate"]] for t, d in devices.items()})
        some_rejected = next(t for t, d in devices.items() if d["fate"] == "reject")
        reason = self.execution(result["job_id"], some_rejected)["statusDetails"]["detailsMap"]["reason"]
        self.assertIn("declined", reason)

    def test_unusable_options_are_refused(self):
        base = {"--endpoint": self.server.endpoint, "--credentials": self.server.credentials_file,
                "--mqtt": f"127.0.0.1:{mh.mqtt_port(self.server)}"}
        for args, message in [
                (["--fail-rate", "1.5"], "--fail-rate must be between 0 and 1"),
                (["--fail-rate", "0.6", "--hang-rate", "0.6"], "add up to more than 1"),
                (["--abort", "criteriaList=[{failureType=FAILED"], "--abort: shorthand syntax"),
                (["--rollout", "{not json"], "--rollout: not a JSON object"),
                (["--devices", "0"], "--devices must be at least 1"),
                (["--endpoint", "ftp://127.0.0.1/"], "--endpoint"),
                (["--mqtt", "127.0.0.1"], "--mqtt takes HOST:PORT"),
                (["--credentials", "/nonexistent/credentials"], "cannot read the file"),
                (["--prefix", "a/b"], "--prefix takes")]:
            given = dict(base, **dict(zip(args[::2], args[1::2])))
            cmd = [sim_bin(), "rollout"] + [x for pair in given.items() for x in pair]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
            self.assertIn(message, p.stderr, args)
            self.assertEqual(p.stdout, "", args)

    def test_a_rollout_the_server_refuses_is_reported(self):
        result, _ = self.rollout("--devices", "2", "--prefix", unique("refused"),
                                 "--rollout", "maximumPerMinute=5000", expect_code=1)
        self.assertFalse(result["ok"])
        self.assertIn("InvalidRequestException", result["error"])
        self.assertIn("maximumPerMinute", result["error"])
        self.assertNotIn("status", result)   # no job was made


if __name__ == "__main__":
    harness.main()

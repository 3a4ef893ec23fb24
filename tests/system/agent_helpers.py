"""Helpers for the device agent's system tests (test_agent_*.py).

Real `airfleet-agent` processes (libmosquitto over mutual TLS, libcurl for
downloads) against the real `airfleet` server. Everything the operator does
goes through /usr/bin/aws, the way the recipe does it: things and thing
groups, `aws iot create-keys-and-certificate` for each device's identity,
the recipe's device policy, `aws s3 cp` for the firmware and
`aws iot create-job --presigned-url-config` for a document whose downloadUrl
is a `${aws:iot:s3-presigned-url:...}` placeholder.

Pieces:
  * agent_bin(): $AIRFLEET_AGENT_BIN, else build/dev/bin/airfleet-agent;
  * Agent: one airfleet-agent process with its own state directory (slot a
    holding the "old" firmware, STATE/version = OLD_VERSION), started and
    stopped (SIGTERM, or SIGKILL for crash tests), its stderr in a log file;
  * AgentTestCase: jobs_helpers.JobsMqttTestCase plus a firmware bucket,
    devices provisioned through the CLI, firmware upload and firmware jobs,
    and waits on executions with their statusDetails.

Every process a test starts is stopped by addCleanup.
"""
import hashlib
import json
import os
import signal
import subprocess
import time
import unittest

import harness
import jobs_helpers as jh
import mqtt_helpers as mh
from mqtt_helpers import unique, wait_for

OLD_VERSION = "2.0.0"
NEW_VERSION = "2.1.0"
OLD_IMAGE = b"the firmware the device shipped with\n" * 100
LONG_WAIT = 90.0   # seconds for a whole firmware job


def agent_bin():
    path = os.environ.get("AIRFLEET_AGENT_BIN") or os.path.join(harness.ROOT, "build", "dev", "bin",
                                                                  "airfleet-agent")
    if not os.path.exists(path):
        raise unittest.SkipTest(f"airfleet-agent binary not found at {path}")
    return path


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def read(path, default=None):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return default


class Agent:
    """One airfleet-agent process for `thing` with its own state directory."""

    def __init__(self, server, thing, cert_path, key_path, directory, extra_args=(), use_config=False):
        self.server, self.thing, self.use_config = server, thing, use_config
        self.config_path = os.path.join(directory, "agent.toml")
        self.cert_path, self.key_path = cert_path, key_path
        self.state = os.path.join(directory, "state")
        self.log_path = os.path.join(directory, "agent.log")
        self.extra_args = list(extra_args)
        self.proc = None
        self.log = None
        os.makedirs(os.path.join(self.state, "slots", "a"), exist_ok=True)
        with open(os.path.join(self.state, "slots", "a", "image"), "wb") as f:
            f.write(OLD_IMAGE)
        with open(os.path.join(self.state, "version"), "w") as f:
            f.write(OLD_VERSION + "\n")

    def settings(self):
        return {"mqtt": f"127.0.0.1:{mh.mqtt_port(self.server)}", "ca": self.server.ready["root_ca"],
                "cert": self.cert_path, "key": self.key_path, "thing-name": self.thing, "state-dir": self.state}

    def args(self):
        if self.use_config:
            # The same settings from a TOML file (keys are the flag names).
            with open(self.config_path, "w") as f:
                f.write("# airfleet-agent settings\n[agent]\n")
                for k, v in self.settings().items():
                    f.write(f"{k} = {json.dumps(v)}\n")
            return [agent_bin(), "--config", self.config_path] + self.extra_args
        out = [agent_bin()]
        for k, v in self.settings().items():
            out += ["--" + k, v]
        return out + self.extra_args

    def start(self, extra_args=None):
        if extra_args is not None:
            self.extra_args = list(extra_args)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def stop(self, sig=signal.SIGTERM, timeout=20):
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            rc = self.proc.returncode
            self.proc = None
        if self.log:
            self.log.close()
            self.log = None
        return rc

    def kill9(self):
        return self.stop(sig=signal.SIGKILL)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def read_log(self):
        return (read(self.log_path, b"") or b"").decode(errors="replace")

    # ---- the device's state ----
    def path(self, *parts):
        return os.path.join(self.state, *parts)

    def active(self):
        return (read(self.path("active"), b"a\n") or b"").decode().strip()

    def version(self):
        return (read(self.path("version"), b"") or b"").decode().strip()

    def image(self, slot):
        return read(self.path("slots", slot, "image"))

    def active_image(self):
        return self.image(self.active())

    def journal(self):
        data = read(self.path("job.json"))
        return json.loads(data) if data else None

    def part_size(self):
        try:
            return os.path.getsize(self.path("download.part"))
        except FileNotFoundError:
            return 0


class AgentTestCase(jh.JobsMqttTestCase):
    """A server with the TLS broker, the recipe's device policy and a firmware bucket."""

    @classmethod
    def setUpClass(cls):
        agent_bin()   # skip early, before starting a server
        super().setUpClass()
        try:
            cls.policy = unique("agent-device-policy")
            r = cls.server.aws("iot", "create-policy", "--policy-name", cls.policy,
                               "--policy-document", jh.device_policy(cls.region, cls.account))
            assert r.code == 0, r
            cls.bucket = unique("iot-firmware").lower()
            r = cls.server.aws("s3", "mb", f"s3://{cls.bucket}")
            assert r.code == 0, r
            cls.role = f"arn:aws:iam::{cls.account}:role/iot-firmware-download"
            cls.files = os.path.join(cls.server.tmp, "files")
            os.makedirs(cls.files, exist_ok=True)
        except BaseException:
            cls.server.cleanup()
            raise

    def setUp(self):
        super().setUp()
        self.agents = []
        self.addCleanup(self.stop_agents)

    def stop_agents(self):
        for a in self.agents:
            a.stop()

    def run(self, result=None):
        # On a failure, show what the agents said.
        failures = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            for a in getattr(self, "agents", []):
                print(f"\n---- {a.thing}: end of agent log ----\n{a.read_log()[-3000:]}")
        return out

    # ---- files ----
    def write(self, name, data):
        path = os.path.join(self.files, name)
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        return path

    # ---- devices, through the AWS CLI ----
    def aws_ok(self, *args):
        r = self.aws(*args)
        self.assertEqual(r.code, 0, r)
        return r.json

    def make_devices(self, prefix, count):
        """A thing group with `count` things, each with a certificate from
        `aws iot create-keys-and-certificate`, the device policy and the
        thing attached: (group, [(thing, cert_path, key_path)])."""
        group = unique(prefix + "-grp")
        self.aws_ok("iot", "create-thing-group", "--thing-group-name", group)
        devices = []
        for i in range(count):
            thing = f"{group}-dev{i}"
            self.aws_ok("iot", "create-thing", "--thing-name", thing)
            self.aws_ok("iot", "add-thing-to-thing-group", "--thing-group-name", group, "--thing-name", thing)
            cert = self.aws_ok("iot", "create-keys-and-certificate", "--set-as-active")
            cert_path = self.write(thing + ".pem", cert["certificatePem"])
            key_path = self.write(thing + ".key", cert["keyPair"]["PrivateKey"])
            os.chmod(key_path, 0o600)
            self.aws_ok("iot", "attach-policy", "--policy-name", self.policy, "--target", cert["certificateArn"])
            self.aws_ok("iot", "attach-thing-principal", "--thing-name", thing, "--principal", cert["certificateArn"])
            devices.append((thing, cert_path, key_path))
        return group, devices

    def start_agent(self, device, extra_args=(), use_config=False):
        thing, cert_path, key_path = device
        directory = os.path.join(self.server.tmp, "agents", thing)
        os.makedirs(directory, exist_ok=True)
        agent = Agent(self.server, thing, cert_path, key_path, directory, extra_args, use_config)
        self.agents.append(agent)
        return agent.start()

    # ---- firmware and jobs ----
    def upload_firmware(self, data, key=None):
        key = key or f"firmware/{unique('firmware')}-{NEW_VERSION}.bin"
        path = self.write(os.path.basename(key), data)
        r = self.aws("s3", "cp", path, f"s3://{self.bucket}/{key}")
        self.assertEqual(r.code, 0, r)
        return key

    def firmware_document(self, key, checksum, **extra):
        doc = {
            "operation": "firmwareUpdate",
            "firmwareVersion": NEW_VERSION,
            "downloadUrl": "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/%s/%s}" % (self.bucket, key),
            "checksumAlgorithm": "SHA256",
            "checksum": checksum,
            "installationSteps": [
                "Download firmware package from specified URL",
                "Validate package integrity using checksum",
                "Backup current firmware version",
                "Install new firmware version",
                "Restart device and validate functionality",
                "Report installation status to AWS IoT"],
            "rollbackInstructions": {"enabled": True, "maxAttempts": 1, "fallbackVersion": OLD_VERSION},
            "timeoutConfig": {"inProgressTimeoutInMinutes": 30, "stepTimeoutInMinutes": 10},
        }
        doc.update(extra)
        return doc

    def create_firmware_job(self, target_arn, document, prefix="firmware-update"):
        job_id = unique(prefix)
        path = self.write(job_id + ".json", json.dumps(document, indent=2))
        out = self.aws_ok("iot", "create-job", "--job-id", job_id, "--targets", target_arn,
                          "--document", "file://" + path,
                          "--presigned-url-config", f"roleArn={self.role},expiresInSec=3600")
        self.assertEqual(out["jobId"], job_id)
        return job_id

    def wait_outcome(self, job_id, thing, status, timeout=LONG_WAIT):
        """Waits until the execution is terminal, asserts it is `status`, and returns
        its statusDetails map."""
        def terminal():
            try:
                e = self.execution(job_id, thing)
            except self.iot.exceptions.ResourceNotFoundException:
                return None
            return e if e["status"] in jh.TERMINAL else None
        e = wait_for(terminal, timeout, 0.1)
        if not e:
            self.fail(f"the execution of {job_id} on {thing} did not end within {timeout}s: "
                      f"{self.execution(job_id, thing)}")
        details = (e.get("statusDetails") or {}).get("detailsMap") or {}
        self.assertEqual(e["status"], status, details)
        return details

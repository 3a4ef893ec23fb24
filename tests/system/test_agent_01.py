"""Agent 01: real `airfleet-agent` processes update firmware end to end.

Each device is an airfleet-agent process (libmosquitto over mutual TLS with
a certificate from `aws iot create-keys-and-certificate`, the recipe's
device policy, libcurl downloading through the job's presigned link) with
its own state directory: slot a holds the shipped image and STATE/version
says 2.0.0. Jobs are made the recipe's way (`aws s3 cp`, `aws iot
create-job --presigned-url-config`).

* Three devices run a firmware job to COMPLETED: each ends with the image
  byte-identical in its active slot (b), STATE/version 2.1.0, and the
  server heard SUCCEEDED with newVersion once per device.
* A corrupt image (the document's checksum does not match) -> FAILED with
  "checksum mismatch", nothing installed, still 2.0.0; an unknown operation
  -> REJECTED with the reason; the same device then still updates.
* A failing health check (`--health-check false`-like, counted) is tried
  rollbackInstructions.maxAttempts times, rolled back to slot a, FAILED,
  version unchanged.
* An agent stopped with SIGTERM, and then killed with SIGKILL, in the middle
  of a 64 MiB download (slowed by --download-rate-limit) resumes with a
  Range request each time it is started again (the server's access log
  shows GetObject with status 206) and finishes.
* A device whose server goes away reconnects with backoff when it is back
  (same MQTT port) and runs the next job, downloading it over HTTPS (the
  server's --public-url) verified with the agent's --ca. One agent of the
  three reads its settings from a --config TOML file instead of flags."""
import json
import os
import re
import socket

import agent_helpers as ah
from agent_helpers import NEW_VERSION, OLD_IMAGE, OLD_VERSION, sha256
from mqtt_helpers import wait_for

MiB = 1024 * 1024


class AgentTest(ah.AgentTestCase):

    def assertUnchanged(self, agent):
        self.assertEqual(agent.active(), "a")
        self.assertEqual(agent.version(), OLD_VERSION)
        self.assertTrue(agent.active_image() == OLD_IMAGE, "slot a changed")

    def assertUpdated(self, agent, firmware):
        self.assertEqual(agent.active(), "b")
        self.assertEqual(agent.version(), NEW_VERSION)
        image = agent.active_image()
        self.assertIsNotNone(image)
        self.assertEqual(sha256(image), sha256(firmware), f"{agent.thing}: the active slot's image differs")
        self.assertTrue(agent.image("a") == OLD_IMAGE, "the previous slot was touched")
        self.assertIsNone(agent.journal(), "the journal outlived the job")
        self.assertFalse(os.path.exists(agent.path("download.part")))

    def test_three_devices_complete_a_firmware_job(self):
        group, devices = self.make_devices("agent-fleet", 3)
        # The third takes its settings from a config file.
        agents = [self.start_agent(d, use_config=i == 2) for i, d in enumerate(devices)]
        events = self.mqtt()   # allow-all: the job's $aws/events
        self.assertEqual(events.subscribe([("$aws/events/jobExecution/+/succeeded", 1)]), [1])
        firmware = os.urandom(3 * MiB + 123)
        key = self.upload_firmware(firmware)
        job_id = self.create_firmware_job(self.group_arn(group), self.firmware_document(key, sha256(firmware)))

        self.wait_job_status(job_id, "COMPLETED", timeout=ah.LONG_WAIT)
        for agent in agents:
            details = self.wait_outcome(job_id, agent.thing, "SUCCEEDED")
            self.assertEqual(details.get("newVersion"), NEW_VERSION, details)
            self.assertEqual(details.get("step"), "completed", details)
            self.assertUpdated(agent, firmware)
            log = agent.read_log()
            for line in ("downloading", "checksum verified", "installing into slot b", "healthy; committing"):
                self.assertIn(line, log, f"{agent.thing} did not log '{line}'")
        job = self.describe_job(job_id)
        self.assertEqual(job["jobProcessDetails"]["numberOfSucceededThings"], 3)
        # The server heard each device's outcome once.
        got = events.wait_messages(3, topic=f"$aws/events/jobExecution/{job_id}/succeeded")
        things = sorted(json.loads(m.payload)["thingArn"].rsplit("/", 1)[1] for m in got)
        self.assertEqual(things, sorted(a.thing for a in agents))

    def test_corrupt_image_and_unknown_operation_change_nothing(self):
        _, (device,) = self.make_devices("agent-corrupt", 1)
        agent = self.start_agent(device)
        thing_arn = self.thing_arn(agent.thing)
        firmware = os.urandom(256 * 1024)
        key = self.upload_firmware(firmware)

        wrong = sha256(firmware + b"x")
        job_id = self.create_firmware_job(thing_arn, self.firmware_document(key, wrong), prefix="corrupt")
        details = self.wait_outcome(job_id, agent.thing, "FAILED")
        self.assertTrue(details.get("reason", "").startswith("checksum mismatch"), details)
        self.assertIn(wrong, details["reason"])
        self.assertIn(sha256(firmware), details["reason"])
        self.assertUnchanged(agent)
        self.assertIsNone(agent.image("b"), "a corrupt image was installed")

        job_id = self.create_firmware_job(thing_arn, {"operation": "factoryReset", "wipe": True}, prefix="unknown")
        details = self.wait_outcome(job_id, agent.thing, "REJECTED")
        self.assertIn("unsupported operation 'factoryReset'", details.get("reason", ""), details)
        self.assertUnchanged(agent)

        # The device is still fine: the right image installs.
        job_id = self.create_firmware_job(thing_arn, self.firmware_document(key, sha256(firmware)), prefix="good")
        self.wait_outcome(job_id, agent.thing, "SUCCEEDED")
        self.assertUpdated(agent, firmware)

    def test_failing_health_check_rolls_back(self):
        _, (device,) = self.make_devices("agent-unhealthy", 1)
        counter = os.path.join(self.server.tmp, device[0] + "-health.log")
        reboots = os.path.join(self.server.tmp, device[0] + "-reboots.log")
        agent = self.start_agent(device, [
            "--health-check", f'echo "$AIRFLEET_SLOT $AIRFLEET_FIRMWARE_VERSION" >> {counter}; false',
            "--reboot-command", f"echo reboot >> {reboots}"])
        firmware = os.urandom(256 * 1024)
        key = self.upload_firmware(firmware)
        document = self.firmware_document(key, sha256(firmware),
                                          rollbackInstructions={"enabled": True, "maxAttempts": 2})
        job_id = self.create_firmware_job(self.thing_arn(agent.thing), document, prefix="unhealthy")
        details = self.wait_outcome(job_id, agent.thing, "FAILED")
        self.assertIn("health check exited with status 1", details.get("reason", ""), details)
        self.assertIn("rolled back to slot a", details["reason"])
        self.assertEqual(details.get("attempts"), "2", details)
        self.assertEqual(details.get("version"), OLD_VERSION, details)
        self.assertUnchanged(agent)
        # Each attempt installed, "rebooted" into slot b and checked it.
        with open(counter) as f:
            self.assertEqual(f.read().split("\n")[:-1], [f"b {NEW_VERSION}"] * 2)
        with open(reboots) as f:
            self.assertEqual(f.read().count("reboot"), 2)
        self.assertIsNone(agent.journal())

    def test_killed_mid_download_resumes(self):
        _, (device,) = self.make_devices("agent-kill", 1)
        rate = 8 * MiB
        agent = self.start_agent(device, ["--download-rate-limit", str(rate)])
        firmware = os.urandom(64 * MiB)
        key = self.upload_firmware(firmware)
        log_before = len(self.server.read_log())
        job_id = self.create_firmware_job(self.thing_arn(agent.thing), self.firmware_document(key, sha256(firmware)),
                                          prefix="kill")

        # Stopped politely early on: it exits 0 and keeps what it has.
        got = wait_for(lambda: 2 * MiB <= agent.part_size() < 32 * MiB, ah.LONG_WAIT, 0.05)
        self.assertTrue(got, f"the download did not get going: {agent.part_size()} bytes")
        self.assertEqual(agent.stop(), 0)
        stopped_at = agent.part_size()
        self.assertEqual(agent.journal()["step"], "downloading")
        agent.start()
        self.assertTrue(wait_for(lambda: f"resuming the download at byte {stopped_at}" in agent.read_log(),
                                 ah.LONG_WAIT, 0.05), "the download did not resume after SIGTERM")

        # Killed mid-way: a good part of the image is on disk, and the server heard progress.
        got = wait_for(lambda: stopped_at + 4 * MiB <= agent.part_size() < 56 * MiB, ah.LONG_WAIT, 0.05)
        self.assertTrue(got, f"the download did not get going again: {agent.part_size()} bytes")
        agent.kill9()
        partial = agent.part_size()
        self.assertLess(partial, len(firmware))
        journal = agent.journal()
        self.assertEqual((journal["jobId"], journal["step"]), (job_id, "downloading"), journal)
        e = self.execution(job_id, agent.thing)
        self.assertEqual(e["status"], "IN_PROGRESS")
        self.assertEqual(e["statusDetails"]["detailsMap"]["step"], "downloading", e)
        self.assertUnchanged(agent)

        agent.start(["--download-rate-limit", str(4 * rate)])
        details = self.wait_outcome(job_id, agent.thing, "SUCCEEDED")
        self.assertEqual(details.get("newVersion"), NEW_VERSION, details)
        self.assertUpdated(agent, firmware)
        self.assertIn(f"resuming the download at byte {partial}", agent.read_log())
        # The server served the rest as a range.
        log = self.server.read_log()[log_before:]
        self.assertTrue(re.search(r"operation=GetObject status=206", log),
                        "no GetObject answered 206 in the server's access log:\n" +
                        "\n".join(l for l in log.splitlines() if "GetObject" in l)[-2000:])
        self.assertEqual(self.describe_job(job_id)["status"], "COMPLETED")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AgentReconnectTest(ah.AgentTestCase):
    """A server on fixed ports, so that it can come back where the agent looks for it,
    whose firmware links name its HTTPS listener (--public-url)."""

    @classmethod
    def setUpClass(cls):
        https_port = free_port()
        cls.server_args = ["--mqtt-listen", f"127.0.0.1:{free_port()}",
                           "--https-listen", f"127.0.0.1:{https_port}",
                           "--public-url", f"https://127.0.0.1:{https_port}"]
        super().setUpClass()

    def test_reconnects_after_the_server_restarts(self):
        _, (device,) = self.make_devices("agent-reconnect", 1)
        agent = self.start_agent(device)
        self.assertTrue(wait_for(lambda: "nothing pending" in agent.read_log(), ah.LONG_WAIT, 0.05),
                        "the agent did not ask for work")
        self.restart_server()
        self.assertTrue(wait_for(lambda: agent.read_log().count("mqtt: connected") >= 2, ah.LONG_WAIT, 0.05),
                        "the agent did not reconnect")
        self.assertIn("reconnecting in", agent.read_log())
        self.assertTrue(agent.running())

        firmware = os.urandom(128 * 1024)
        key = self.upload_firmware(firmware)
        job_id = self.create_firmware_job(self.thing_arn(agent.thing), self.firmware_document(key, sha256(firmware)),
                                          prefix="after-restart")
        self.wait_outcome(job_id, agent.thing, "SUCCEEDED")
        # Downloaded over HTTPS, the server verified against the agent's --ca.
        self.assertIn(f"GET https://127.0.0.1:{self.server_args[3].rsplit(':', 1)[1]}/", agent.read_log())
        self.assertEqual(agent.active(), "b")
        self.assertEqual(agent.version(), NEW_VERSION)
        self.assertEqual(sha256(agent.active_image()), sha256(firmware))
        self.assertEqual(agent.stop(), 0, "SIGTERM should end the agent cleanly")


if __name__ == "__main__":
    ah.harness.main()

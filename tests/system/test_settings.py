"""Settings: every flag is also AIRFLEET_<FLAG> and a key in the --config TOML
file, with precedence flag > environment > file; the ready file reports what
the server really bound; bad settings fail fast with a message."""
import json
import os
import subprocess
import tempfile
import unittest

import harness


class SettingsPrecedence(unittest.TestCase):
    def start(self, extra_args=(), env=None):
        server = harness.Server(extra_args=extra_args, env=env)
        self.addCleanup(server.cleanup)
        return server.start()

    def config_file(self, text):
        fd, path = tempfile.mkstemp(suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def test_file_alone_sets_the_value(self):
        cfg = self.config_file('region = "eu-west-1"\n')
        server = self.start(["--config", cfg])
        self.assertEqual(server.ready["region"], "eu-west-1")

    def test_environment_beats_the_file(self):
        cfg = self.config_file('region = "eu-west-1"\n')
        server = self.start(["--config", cfg], env={"AIRFLEET_REGION": "ap-south-1"})
        self.assertEqual(server.ready["region"], "ap-south-1")

    def test_flag_beats_environment_and_file(self):
        cfg = self.config_file('region = "eu-west-1"\n')
        server = self.start(["--config", cfg, "--region", "us-west-2"], env={"AIRFLEET_REGION": "ap-south-1"})
        self.assertEqual(server.ready["region"], "us-west-2")
        # The credentials file carries the region, so the CLI needs nothing else.
        creds = harness.read_credentials(server.credentials_file)
        self.assertEqual(creds["region"], "us-west-2")

    def test_ready_file_reports_bound_ports(self):
        server = self.start()
        self.assertRegex(server.ready["http_endpoint"], r"^http://127\.0\.0\.1:\d+$")
        self.assertNotEqual(server.ready["http_endpoint"].rsplit(":", 1)[1], "0")
        self.assertRegex(server.ready["https_endpoint"], r"^https://127\.0\.0\.1:\d+$")
        self.assertTrue(os.path.isfile(server.ready["root_ca"]))
        self.assertEqual(server.ready["mqtt_host"], "127.0.0.1")
        self.assertIsInstance(server.ready["mqtt_port"], int)
        self.assertNotEqual(server.ready["mqtt_port"], 0)
        self.assertIsNone(server.ready["mqtt_plain_port"])  # off unless asked for
        self.assertRegex(server.ready["account_id"], r"^\d{12}$")

    def test_bad_listen_address_fails_fast_with_a_message(self):
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run([harness.airfleet_bin(), "serve", "--data-dir", d, "--http-listen", "nonsense"],
                               capture_output=True, text=True, timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("--http-listen", p.stdout + p.stderr)

    def test_a_different_account_id_on_restart_is_refused(self):
        server = self.start(["--account-id", "111122223333"])
        self.assertEqual(server.ready["account_id"], "111122223333")
        server.stop()
        p = subprocess.run([harness.airfleet_bin(), "serve", "--data-dir", server.data_dir, "--http-listen",
                            "127.0.0.1:0", "--account-id", "444455556666"], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("111122223333", p.stdout + p.stderr)


if __name__ == "__main__":
    harness.main()

"""Shared harness for airfleet system tests.

Starts the real `airfleet` binary on loopback port 0 with a fresh data
directory and a ready file, and hands tests real clients that nobody here
wrote: /usr/bin/aws (AWS CLI v2) and boto3. Every process started is stopped.

The binary comes from $AIRFLEET_BIN (set by CTest), else build/dev/bin/airfleet.
"""
import json
import os
import signal
import shutil
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
AWS_BIN = "/usr/bin/aws"


def airfleet_bin():
    path = os.environ.get("AIRFLEET_BIN") or os.path.join(ROOT, "build", "dev", "bin", "airfleet")
    if not os.path.exists(path):
        raise unittest.SkipTest(f"airfleet binary not found at {path}")
    return path


class Server:
    """One `airfleet serve` process on a data directory it owns (or is given)."""

    def __init__(self, data_dir=None, extra_args=(), env=None):
        self.tmp = tempfile.mkdtemp(prefix="airfleet-test-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.ready = None
        self.log_path = os.path.join(self.tmp, "server.log")

    def start(self, timeout=30):
        ready_file = os.path.join(self.tmp, "ready.json")
        if os.path.exists(ready_file):
            os.unlink(ready_file)
        args = [airfleet_bin(), "serve", "--data-dir", self.data_dir,
                "--http-listen", "127.0.0.1:0", "--https-listen", "127.0.0.1:0",
                "--mqtt-listen", "127.0.0.1:0",
                "--ready-file", ready_file] + self.extra_args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                log = self.read_log()
                code = self.proc.returncode
                self.cleanup()
                raise RuntimeError(f"airfleet exited with {code}:\n{log}")
            if os.path.exists(ready_file):
                try:
                    with open(ready_file) as f:
                        self.ready = json.load(f)
                    break
                except ValueError:
                    pass  # written but not complete yet
            time.sleep(0.05)
        else:
            log = self.read_log()
            self.cleanup()
            raise RuntimeError("airfleet did not become ready:\n" + log)
        self.endpoint = self.ready["http_endpoint"]
        self.credentials_file = self.ready["credentials_file"]
        return self

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None
        return rc

    def kill9(self):
        return self.stop(sig=signal.SIGKILL)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- clients -------------------------------------------------------
    def aws_env(self, credentials_file=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_SHARED_CREDENTIALS_FILE=credentials_file or self.credentials_file,
                   AWS_CONFIG_FILE="/dev/null", AWS_PAGER="", AWS_MAX_ATTEMPTS="1")
        return env

    def aws(self, *args, credentials_file=None, env=None, input=None):
        """Runs /usr/bin/aws against the server. Returns (exit_code, stdout, stderr);
        when stdout is JSON it is also parsed into .json of the result."""
        e = self.aws_env(credentials_file)
        if env:
            e.update(env)
        p = subprocess.run([AWS_BIN, "--endpoint-url", self.endpoint, "--output", "json", *args],
                           capture_output=True, text=True, env=e, input=input, timeout=120)
        return AwsResult(p.returncode, p.stdout, p.stderr)

    def boto3_client(self, service, access_key=None, secret_key=None, region=None):
        import boto3
        import botocore.config
        creds = read_credentials(self.credentials_file)
        return boto3.session.Session().client(
            service, endpoint_url=self.endpoint,
            aws_access_key_id=access_key or creds["aws_access_key_id"],
            aws_secret_access_key=secret_key or creds["aws_secret_access_key"],
            region_name=region or creds.get("region", "us-east-1"),
            config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}))

    def run_cli(self, *args):
        """Runs an airfleet operator subcommand on this server's data directory."""
        return subprocess.run([airfleet_bin(), *args, "--data-dir", self.data_dir],
                              capture_output=True, text=True, timeout=60)


class AwsResult:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err
        try:
            self.json = json.loads(out) if out.strip() else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"AwsResult(code={self.code}, out={self.out[:500]!r}, err={self.err[:500]!r})"


def read_credentials(path):
    values = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.split("=", 1)
                values[k.strip()] = v.strip()
    return values


class ServerTestCase(unittest.TestCase):
    """One server per test class (started in setUpClass, stopped in tearDownClass)."""
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra_args=cls.server_args).start()
        cls.region = cls.server.ready["region"]
        cls.account = cls.server.ready["account_id"]
        cls.iot = cls.server.boto3_client("iot")

    def arn(self, kind, name):
        return f"arn:aws:iot:{self.region}:{self.account}:{kind}/{name}"

    def assertClientError(self, ctx, code, status):
        """For `with self.assertRaises(ClientError) as ctx`: the AWS code, HTTP status and a message."""
        err = ctx.exception.response
        self.assertEqual(err["Error"]["Code"], code, err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        self.assertTrue(err["Error"]["Message"], f"empty error message: {err}")
        return err

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def aws(self, *args, **kw):
        return self.server.aws(*args, **kw)

    def assertAwsOk(self, r):
        self.assertEqual(r.code, 0, r)
        return r.json

    def assertAwsError(self, r, code):
        self.assertNotEqual(r.code, 0, r)
        self.assertIn(f"({code})", r.err, r)


def main():
    # warnings=False keeps Python's default warning filters; unittest's own default
    # ("default") would print a ResourceWarning for every boto3 connection pool left to the GC.
    unittest.main(verbosity=2, warnings=False)

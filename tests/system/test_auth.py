"""SigV4 authentication as AWS clients experience it, and the `airfleet keys`
operator subcommand that manages access keys."""
import datetime
import json
import os
import tempfile

import botocore.exceptions

import harness
import rawhttp


class AuthTest(harness.ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.creds = harness.read_credentials(cls.server.credentials_file)
        cls.raw = rawhttp.Client(cls.server)

    def assertAwsJsonError(self, resp, status, code):
        self.assertEqual(resp.status, status, resp)
        header = resp.headers.get("x-amzn-errortype")
        self.assertTrue(header, f"no x-amzn-ErrorType header: {resp}")
        self.assertEqual(header.split(":", 1)[0], code, resp)
        body = resp.json
        self.assertIsInstance(body, dict, resp)
        self.assertEqual(body.get("__type", "").rsplit("#", 1)[-1], code, resp)
        self.assertIsInstance(body.get("message"), str, resp)
        return body

    def assertClientError(self, call, status, code):
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            call()
        err = ctx.exception.response
        self.assertEqual(err["Error"]["Code"], code, err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        return err

    # ---- header-signed requests -------------------------------------------
    def test_admin_credentials_work(self):
        out = self.server.boto3_client("iot").list_things()
        self.assertIn("things", out)

    def test_wrong_secret_is_invalid_signature(self):
        iot = self.server.boto3_client("iot", secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYWRONGSECRET")
        err = self.assertClientError(iot.list_things, 403, "InvalidSignatureException")
        self.assertTrue(err["Error"]["Message"])
        # The same through the CLI.
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "credentials")
            with open(path, "w") as f:
                f.write(f"[default]\naws_access_key_id = {self.creds['aws_access_key_id']}\n"
                        f"aws_secret_access_key = not-the-secret\nregion = {self.creds['region']}\n")
            self.assertAwsError(self.aws("iot", "list-things", credentials_file=path),
                                "InvalidSignatureException")

    def test_unknown_access_key_is_unrecognized_client(self):
        iot = self.server.boto3_client("iot", access_key="AKIAUNKNOWNKEY000000", secret_key="whatever")
        self.assertClientError(iot.list_things, 403, "UnrecognizedClientException")
        # STS (query protocol, XML errors) names the same failure as AWS STS does.
        sts = self.server.boto3_client("sts", access_key="AKIAUNKNOWNKEY000000", secret_key="whatever")
        self.assertClientError(sts.get_caller_identity, 403, "InvalidClientTokenId")

    def test_unsigned_request_is_missing_authentication_token(self):
        resp = self.raw.send("GET", "/things")
        self.assertAwsJsonError(resp, 403, "MissingAuthenticationTokenException")
        resp = self.raw.send("POST", "/things/auth-unsigned", body=b"{}",
                             headers={"Content-Type": "application/json"})
        self.assertAwsJsonError(resp, 403, "MissingAuthenticationTokenException")
        iot = self.server.boto3_client("iot")
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.describe_thing(thingName="auth-unsigned")

    def test_garbled_authorization_header(self):
        resp = self.raw.send("GET", "/things", headers={
            "Authorization": "AWS4-HMAC-SHA256 this is not a valid header",
            "X-Amz-Date": rawhttp.utcnow().strftime(rawhttp.SIGV4_TIMESTAMP)})
        self.assertEqual(resp.status // 100, 4, resp)
        self.assertTrue(resp.error_type, resp)

    def test_signed_raw_request_works(self):
        # Sanity check of the raw signing helper the other tests rely on.
        resp = self.raw.signed("GET", "/things")
        self.assertEqual(resp.status, 200, resp)
        self.assertIn("things", resp.json)

    def test_tampered_body_is_invalid_signature(self):
        path, headers = self.raw.sign("POST", "/things/auth-tamper", b'{"attributePayload":{"attributes":{"a":"1"}}}')
        resp = self.raw.send("POST", path, body=b'{"attributePayload":{"attributes":{"a":"2"}}}', headers=headers)
        self.assertAwsJsonError(resp, 403, "InvalidSignatureException")
        iot = self.server.boto3_client("iot")
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.describe_thing(thingName="auth-tamper")

    def test_request_signed_twenty_minutes_ago_is_expired(self):
        when = rawhttp.utcnow() - datetime.timedelta(minutes=20)
        resp = self.raw.signed("GET", "/things", when=when)
        body = self.assertAwsJsonError(resp, 403, "InvalidSignatureException")
        self.assertIn("Signature expired", body["message"])
        # A write signed with a stale clock changes nothing.
        resp = self.raw.signed("POST", "/things/auth-stale", b"{}", when=when)
        self.assertAwsJsonError(resp, 403, "InvalidSignatureException")
        iot = self.server.boto3_client("iot")
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.describe_thing(thingName="auth-stale")

    def test_request_signed_twenty_minutes_ahead_is_refused(self):
        when = rawhttp.utcnow() + datetime.timedelta(minutes=20)
        resp = self.raw.signed("GET", "/things", when=when)
        self.assertAwsJsonError(resp, 403, "InvalidSignatureException")

    def test_request_signed_a_minute_ago_is_fine(self):
        # Small clock skew is tolerated (AWS allows 15 minutes).
        resp = self.raw.signed("GET", "/things", when=rawhttp.utcnow() - datetime.timedelta(minutes=1))
        self.assertEqual(resp.status, 200, resp)

    def test_any_region_in_the_scope_is_accepted(self):
        iot = self.server.boto3_client("iot", region="eu-west-1")
        iot.create_thing(thingName="auth-eu")
        self.assertEqual(iot.describe_thing(thingName="auth-eu")["thingName"], "auth-eu")
        resp = self.raw.signed("GET", "/things/auth-eu", region="ap-southeast-2")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["thingName"], "auth-eu")
        out = self.assertAwsOk(self.aws("--region", "eu-west-1", "iot", "describe-thing", "--thing-name", "auth-eu"))
        self.assertEqual(out["thingName"], "auth-eu")

    def test_service_name_iot_in_the_scope_is_accepted(self):
        # The CLI signs the IoT control plane as execute-api, but the design routes `iot` there too.
        resp = self.raw.signed("GET", "/things", service="iot")
        self.assertEqual(resp.status, 200, resp)
        self.assertIn("things", resp.json)

    # ---- query-string (presigned) requests -------------------------------
    def test_presigned_get_works(self):
        # botocore's generic SigV4QueryAuth (unlike the S3 one) signs the payload hash of the
        # (empty) body over http, i.e. sha256(""), not UNSIGNED-PAYLOAD.
        self.server.boto3_client("iot").create_thing(thingName="auth-presigned")
        path = self.raw.presign("GET", "/things/auth-presigned")
        self.assertIn("X-Amz-Signature=", path)
        resp = self.raw.send("GET", path)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["thingName"], "auth-presigned")

        path = self.raw.presign("GET", "/things?maxResults=1")
        resp = self.raw.send("GET", path)
        self.assertEqual(resp.status, 200, resp)
        self.assertLessEqual(len(resp.json["things"]), 1)

    def test_presigned_with_wrong_secret_or_altered_query_is_refused(self):
        bad = rawhttp.Client(self.server, secret_key="not-the-secret")
        resp = self.raw.send("GET", bad.presign("GET", "/things"))
        self.assertAwsJsonError(resp, 403, "InvalidSignatureException")
        path = self.raw.presign("GET", "/things?maxResults=1")
        resp = self.raw.send("GET", path.replace("maxResults=1", "maxResults=2"))
        self.assertAwsJsonError(resp, 403, "InvalidSignatureException")

    def test_expired_presigned_url_is_refused(self):
        when = rawhttp.utcnow() - datetime.timedelta(minutes=30)
        path = self.raw.presign("GET", "/things", expires=60, when=when)
        resp = self.raw.send("GET", path)
        self.assertEqual(resp.status, 403, resp)
        self.assertTrue(resp.error_type, resp)

    # ---- unsigned paths ----------------------------------------------------
    def test_healthz_needs_no_signature(self):
        resp = self.raw.send("GET", "/healthz")
        self.assertEqual(resp.status, 200, resp)

    # ---- the `airfleet keys` subcommand -------------------------------------
    def test_keys_create_list_delete(self):
        created = self.server.run_cli("keys", "create")
        self.assertEqual(created.returncode, 0, created)
        key = json.loads(created.stdout)
        key_id, secret = key["access_key_id"], key["secret_access_key"]
        self.assertTrue(key_id and secret)
        self.assertNotEqual(key_id, self.creds["aws_access_key_id"])

        # The new key works at once, for boto3 and the CLI.
        iot = self.server.boto3_client("iot", access_key=key_id, secret_key=secret)
        iot.create_thing(thingName="auth-newkey")
        self.assertEqual(iot.describe_thing(thingName="auth-newkey")["thingName"], "auth-newkey")
        sts = self.server.boto3_client("sts", access_key=key_id, secret_key=secret)
        self.assertEqual(sts.get_caller_identity()["Account"], self.server.ready["account_id"])
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "credentials")
            with open(path, "w") as f:
                f.write(f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
                        f"region = {self.creds['region']}\n")
            out = self.assertAwsOk(self.aws("iot", "describe-thing", "--thing-name", "auth-newkey",
                                            credentials_file=path))
            self.assertEqual(out["thingName"], "auth-newkey")

        listed = self.server.run_cli("keys", "list")
        self.assertEqual(listed.returncode, 0, listed)
        lines = [l for l in listed.stdout.splitlines() if l.strip()]
        self.assertTrue(any(l.startswith(key_id) for l in lines), listed.stdout)
        self.assertTrue(any(l.startswith(self.creds["aws_access_key_id"]) for l in lines), listed.stdout)
        self.assertFalse(any(secret in l for l in lines), "keys list must not print secrets")

        deleted = self.server.run_cli("keys", "delete", key_id)
        self.assertEqual(deleted.returncode, 0, deleted)
        # Refused immediately, by the running server.
        self.assertClientError(lambda: iot.describe_thing(thingName="auth-newkey"), 403,
                               "UnrecognizedClientException")
        self.assertIsNone(self.server.proc.poll(), "the server must keep running")
        listed = self.server.run_cli("keys", "list")
        self.assertEqual(listed.returncode, 0, listed)
        self.assertFalse(any(l.startswith(key_id) for l in listed.stdout.splitlines()), listed.stdout)
        # The admin key is untouched.
        self.assertEqual(self.server.boto3_client("iot").describe_thing(thingName="auth-newkey")["thingName"],
                         "auth-newkey")

    def test_keys_delete_unknown_key_fails(self):
        r = self.server.run_cli("keys", "delete", "AKIANOSUCHKEY0000000")
        self.assertNotEqual(r.returncode, 0, r)
        self.assertIn("things", self.server.boto3_client("iot").list_things())


class RateLimit(harness.ServerTestCase):
    """--api-rate-limit caps requests per second per access key with 429 ThrottlingException."""
    server_args = ("--api-rate-limit", "1")

    def test_a_burst_over_the_rate_is_throttled_with_429(self):
        import botocore.exceptions
        iot = self.server.boto3_client("iot")
        codes = []
        for _ in range(20):
            try:
                iot.list_things()
                codes.append("ok")
            except botocore.exceptions.ClientError as e:
                codes.append((e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]))
        self.assertIn("ok", codes)
        self.assertIn(("ThrottlingException", 429), codes)

    def test_other_keys_have_their_own_budget(self):
        out = self.server.run_cli("keys", "create")
        self.assertEqual(out.returncode, 0, out.stderr)
        key = json.loads(out.stdout)
        iot = self.server.boto3_client("iot", access_key=key["access_key_id"], secret_key=key["secret_access_key"])
        iot.list_things()  # the first request of a fresh key is within its burst


if __name__ == "__main__":
    harness.main()

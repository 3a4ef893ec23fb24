"""Device identities through the real AWS CLI v2 (/usr/bin/aws) and the openssl CLI.

Certificates (server-issued, from CSRs, bring-your-own CA, without CA), their
status rules, thing principals, policies with versions, policy attachments,
effective policies and TestAuthorization, checked against the AWS IoT API model
and the rules written at the top of src/identity/identity.hpp. Whatever the
server says about a certificate is checked independently with `openssl`.

Setup that the CLI adds nothing to goes through boto3, to keep the run short;
every identity operation still has at least one CLI invocation.
"""
import base64
import collections
import datetime
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import textwrap

import harness


def openssl(*args, cwd, input=None):
    """Runs the openssl CLI; returns the CompletedProcess (text mode)."""
    return subprocess.run(["openssl", *args], capture_output=True, text=True, input=input, cwd=cwd, timeout=60)


class IdentityCliTest(harness.ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="airfleet-identity-cli-")
        cls.root_ca = cls.server.ready["root_ca"]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    # ---- helpers ---------------------------------------------------------
    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def file_url(self, name):
        return "file://" + self.path(name)

    def ssl(self, *args, input=None):
        p = openssl(*args, cwd=self.tmp, input=input)
        self.assertEqual(p.returncode, 0, f"openssl {' '.join(args)} failed: {p.stderr}")
        return p.stdout

    def verifies(self, cert_name, ca_path):
        """True when `openssl verify -CAfile ca cert` accepts the certificate."""
        p = openssl("verify", "-CAfile", ca_path, cert_name, cwd=self.tmp)
        return p.returncode == 0 and p.stdout.strip() == f"{cert_name}: OK"

    def der_sha256(self, cert_name):
        der = cert_name + ".der"
        self.ssl("x509", "-in", cert_name, "-outform", "DER", "-out", der)
        with open(self.path(der), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    def cert_pubkey(self, cert_name):
        return self.ssl("x509", "-in", cert_name, "-pubkey", "-noout")

    def key_pubkey(self, key_name):
        return self.ssl("pkey", "-in", key_name, "-pubout")

    def subject(self, cert_name):
        return self.ssl("x509", "-in", cert_name, "-noout", "-subject", "-nameopt", "RFC2253").strip()

    def make_key_and_csr(self, base, cn):
        self.ssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", f"/CN={cn}", "-keyout", base + ".key", "-out", base + ".csr")

    def make_ca(self, base, cn):
        self.ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", f"/CN={cn}", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign", "-days", "30",
                 "-keyout", base + ".key", "-out", base + ".pem")

    _serial = 1000

    def sign_with_ca(self, base, cn, ca_base):
        """A key, a CSR with CN=cn, and <base>.pem issued by <ca_base>.pem/.key."""
        self.make_key_and_csr(base, cn)
        IdentityCliTest._serial += 1
        self.ssl("x509", "-req", "-in", base + ".csr", "-CA", ca_base + ".pem", "-CAkey", ca_base + ".key",
                 "-set_serial", str(IdentityCliTest._serial), "-days", "30", "-out", base + ".pem")
        self.assertTrue(self.verifies(base + ".pem", self.path(ca_base + ".pem")))

    def read(self, name):
        with open(self.path(name)) as f:
            return f.read()

    def assertAwsErrorIn(self, r, codes):
        self.assertNotEqual(r.code, 0, r)
        self.assertTrue(any(f"({c})" in r.err for c in codes), f"expected one of {codes}: {r}")

    def boto_error(self, call, *a, **kw):
        import botocore.exceptions
        try:
            call(*a, **kw)
        except botocore.exceptions.ClientError as e:
            return e.response["Error"]["Code"]
        self.fail(f"{call.__name__} succeeded, an error was expected")

    def new_cert(self, active=True):
        c = self.iot.create_keys_and_certificate(setAsActive=active)
        return c["certificateId"], c["certificateArn"]

    def policy_doc(self, *statements):
        return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})

    @staticmethod
    def parse_time(value):
        return datetime.datetime.fromisoformat(value).astimezone(datetime.timezone.utc)

    # ---- PKI files and the HTTPS listener -----------------------------------
    def test_ready_file_root_ca_and_https_listener(self):
        ready = self.server.ready
        data_dir = os.path.realpath(self.server.data_dir)
        self.assertEqual(os.path.realpath(ready["root_ca"]), os.path.join(data_dir, "pki", "root-ca.pem"))
        self.assertTrue(os.path.isfile(ready["root_ca"]))
        m = re.fullmatch(r"https://127\.0\.0\.1:(\d+)", ready["https_endpoint"])
        self.assertIsNotNone(m, ready)
        port = int(m.group(1))
        self.assertNotEqual(ready["https_endpoint"].split(":")[-1], ready["http_endpoint"].split(":")[-1])

        key_path = os.path.join(data_dir, "pki", "root-ca.key")
        self.assertEqual(stat.S_IMODE(os.stat(key_path).st_mode), 0o600)
        # The root is a CA certificate.
        bc = self.ssl("x509", "-in", self.root_ca, "-noout", "-ext", "basicConstraints")
        self.assertIn("CA:TRUE", bc)

        # The server's certificate chains to the root and covers 127.0.0.1.
        server_pem = os.path.join(data_dir, "pki", "server.pem")
        p = openssl("verify", "-CAfile", self.root_ca, "-verify_ip", "127.0.0.1", server_pem, cwd=self.tmp)
        self.assertEqual((p.returncode, p.stdout.strip()), (0, f"{server_pem}: OK"), p.stderr)

        # A TLS handshake with the listener verifies against root-ca.pem ...
        p = openssl("s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", self.root_ca,
                    "-verify_return_error", "-verify_ip", "127.0.0.1", "-brief", cwd=self.tmp, input="")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("Verification: OK", p.stdout + p.stderr)
        # ... and not against some other CA (so the check above can fail).
        self.make_ca("tls-other-ca", "not-the-root")
        p = openssl("s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", self.path("tls-other-ca.pem"),
                    "-verify_return_error", "-brief", cwd=self.tmp, input="")
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)

        # The AWS CLI over HTTPS, trusting only the server's root CA: the same API.
        self.iot.create_thing(thingName="tls-thing")

        def aws_https(ca_bundle):
            env = self.server.aws_env()
            if ca_bundle:
                env["AWS_CA_BUNDLE"] = ca_bundle
            return subprocess.run([harness.AWS_BIN, "--endpoint-url", ready["https_endpoint"], "--output", "json",
                                   "iot", "list-things"], capture_output=True, text=True, env=env, timeout=120)

        p = aws_https(self.root_ca)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("tls-thing", {t["thingName"] for t in json.loads(p.stdout)["things"]})
        # With the system CAs only, the CLI refuses the server's certificate.
        p = aws_https(None)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertRegex(p.stderr, r"(?i)ssl|certificate")

    # ---- certificates: issued by the server ------------------------------
    def test_create_keys_and_certificate(self):
        out = self.assertAwsOk(self.aws("iot", "create-keys-and-certificate", "--set-as-active"))
        cert_id, pem = out["certificateId"], out["certificatePem"]
        self.write("ckc.pem", pem)
        self.write("ckc.key", out["keyPair"]["PrivateKey"])
        self.write("ckc.pub", out["keyPair"]["PublicKey"])

        self.assertTrue(self.verifies("ckc.pem", self.root_ca))
        self.assertRegex(cert_id, r"^[0-9a-f]{64}$")
        self.assertEqual(cert_id, self.der_sha256("ckc.pem"))
        self.assertEqual(out["certificateArn"], self.arn("cert", cert_id))
        # The private key belongs to the certificate, and so does the returned public key.
        self.assertEqual(self.key_pubkey("ckc.key"), self.cert_pubkey("ckc.pem"))
        self.assertEqual(self.ssl("pkey", "-pubin", "-in", "ckc.pub", "-pubout"), self.cert_pubkey("ckc.pem"))

        r = self.aws("iot", "describe-certificate", "--certificate-id", cert_id)
        desc = self.assertAwsOk(r)["certificateDescription"]
        self.assertEqual(desc["certificateId"], cert_id)
        self.assertEqual(desc["certificateArn"], out["certificateArn"])
        self.assertEqual(desc["status"], "ACTIVE")
        self.assertEqual(desc["certificatePem"].strip(), pem.strip())
        # The private key is returned once and never again.
        self.assertNotIn("keyPair", desc)
        self.assertNotIn("PRIVATE KEY", r.out)
        self.assertNotIn(out["keyPair"]["PrivateKey"].strip().splitlines()[1], r.out)
        # The validity is the certificate's own.
        end = self.ssl("x509", "-in", "ckc.pem", "-noout", "-enddate").strip().split("=", 1)[1]
        not_after = datetime.datetime.strptime(end, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=datetime.timezone.utc)
        self.assertEqual(self.parse_time(desc["validity"]["notAfter"]).replace(microsecond=0), not_after)
        self.assertLess(self.parse_time(desc["validity"]["notBefore"]), not_after)

        # Without --set-as-active a certificate starts INACTIVE.
        inactive = self.iot.create_keys_and_certificate(setAsActive=False)
        self.assertEqual(self.iot.describe_certificate(certificateId=inactive["certificateId"])
                         ["certificateDescription"]["status"], "INACTIVE")

    # ---- certificates: from a CSR ----------------------------------------
    def test_create_certificate_from_csr(self):
        self.make_key_and_csr("csr1", "dev-csr")
        out = self.assertAwsOk(self.aws("iot", "create-certificate-from-csr", "--set-as-active",
                                        "--certificate-signing-request", self.file_url("csr1.csr")))
        self.write("csr1.pem", out["certificatePem"])
        self.assertEqual(self.subject("csr1.pem"), "subject=CN=dev-csr")
        self.assertTrue(self.verifies("csr1.pem", self.root_ca))
        self.assertEqual(self.cert_pubkey("csr1.pem"), self.key_pubkey("csr1.key"))
        self.assertEqual(out["certificateId"], self.der_sha256("csr1.pem"))
        self.assertEqual(out["certificateArn"], self.arn("cert", out["certificateId"]))
        self.assertEqual(self.iot.describe_certificate(certificateId=out["certificateId"])
                         ["certificateDescription"]["status"], "ACTIVE")

        before = len(self.iot.list_certificates(pageSize=250)["certificates"])
        self.assertAwsError(self.aws("iot", "create-certificate-from-csr",
                                     "--certificate-signing-request", "not a csr"),
                            "InvalidRequestException")

        # A CSR that parses but whose self-signature no longer matches: one byte of the
        # subject changed inside the base64 body (which stays valid base64).
        lines = self.read("csr1.csr").strip().splitlines()
        der = base64.b64decode("".join(lines[1:-1]))
        at = der.find(b"dev-csr")
        self.assertGreater(at, 0)
        der = der[:at] + b"dev-csx" + der[at + 7:]
        self.write("bad.csr", lines[0] + "\n" + "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
                   + "\n" + lines[-1] + "\n")
        p = openssl("req", "-in", "bad.csr", "-noout", "-verify", "-subject", "-nameopt", "RFC2253", cwd=self.tmp)
        self.assertIn("subject=CN=dev-csx", p.stdout)            # still parses ...
        self.assertIn("verify failure", p.stdout + p.stderr)      # ... but does not verify
        self.assertAwsError(self.aws("iot", "create-certificate-from-csr",
                                     "--certificate-signing-request", self.file_url("bad.csr")),
                            "InvalidRequestException")
        # Neither refusal created a certificate.
        self.assertEqual(len(self.iot.list_certificates(pageSize=250)["certificates"]), before)

        # Without setAsActive the certificate is INACTIVE.
        self.make_key_and_csr("csr2", "dev-csr2")
        c = self.iot.create_certificate_from_csr(certificateSigningRequest=self.read("csr2.csr"))
        self.assertEqual(self.iot.describe_certificate(certificateId=c["certificateId"])
                         ["certificateDescription"]["status"], "INACTIVE")

    # ---- certificates: list ----------------------------------------------
    def test_list_certificates_paginates_each_once(self):
        # Enough certificates that a listing without --page-size spans more than one page
        # of the server's default size as well.
        mine = [self.new_cert()[0] for _ in range(28)]
        everything = {c["certificateId"] for c in self.iot.list_certificates(pageSize=250)["certificates"]}

        # With --page-size the CLI turns its own pagination off (the IoT model's pageSize is
        # taken as a manual paging argument), so the pages are walked with --marker.
        page_size = str(max(2, -(-len(everything) // 3)))
        certs, marker, pages = [], None, 0
        while True:
            args = ["--marker", marker] if marker else []
            out = self.assertAwsOk(self.aws("iot", "list-certificates", "--page-size", page_size, *args))
            pages += 1
            self.assertLessEqual(len(out["certificates"]), int(page_size), out)
            certs += out["certificates"]
            marker = out.get("nextMarker")
            if not marker:
                break
            self.assertLess(pages, 10, "the markers do not end")
        self.assertGreaterEqual(pages, 3)
        ids = [c["certificateId"] for c in certs]
        dupes = [i for i, n in collections.Counter(ids).items() if n > 1]
        self.assertEqual(dupes, [])
        self.assertEqual(set(ids), everything)
        self.assertTrue(set(mine) <= set(ids))
        for c in certs:
            self.assertEqual(c["certificateArn"], self.arn("cert", c["certificateId"]))
            self.assertIn(c["status"], ("ACTIVE", "INACTIVE", "REVOKED"))
            self.assertIn("creationDate", c)
        # Default order: newest first.
        dates = [self.parse_time(c["creationDate"]) for c in certs]
        self.assertEqual(dates, sorted(dates, reverse=True))

        # Without --page-size the CLI follows nextMarker itself.
        out = self.assertAwsOk(self.aws("iot", "list-certificates", "--ascending-order"))
        self.assertNotIn("nextMarker", out)
        ids = [c["certificateId"] for c in out["certificates"]]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(set(ids), everything)
        dates = [self.parse_time(c["creationDate"]) for c in out["certificates"]]
        self.assertEqual(dates, sorted(dates))

    # ---- certificates: status --------------------------------------------
    def test_update_certificate_transitions(self):
        cid, _ = self.new_cert()

        def status():
            return self.iot.describe_certificate(certificateId=cid)["certificateDescription"]["status"]

        self.assertAwsOk(self.aws("iot", "update-certificate", "--certificate-id", cid, "--new-status", "INACTIVE"))
        self.assertEqual(status(), "INACTIVE")
        self.assertAwsOk(self.aws("iot", "update-certificate", "--certificate-id", cid, "--new-status", "ACTIVE"))
        self.assertEqual(status(), "ACTIVE")

        # An unknown status is refused (the CLI does not check enums; it sends it).
        self.assertAwsError(self.aws("iot", "update-certificate", "--certificate-id", cid, "--new-status", "BOGUS"),
                            "InvalidRequestException")
        # Statuses that UpdateCertificate cannot set.
        for s in ("PENDING_TRANSFER", "PENDING_ACTIVATION", "REGISTER_INACTIVE"):
            code = self.boto_error(self.iot.update_certificate, certificateId=cid, newStatus=s)
            self.assertIn(code, ("InvalidRequestException", "CertificateStateException"), s)
        self.assertEqual(status(), "ACTIVE")

        self.assertAwsOk(self.aws("iot", "update-certificate", "--certificate-id", cid, "--new-status", "REVOKED"))
        self.assertEqual(status(), "REVOKED")
        self.assertAwsError(self.aws("iot", "update-certificate", "--certificate-id", cid, "--new-status", "ACTIVE"),
                            "CertificateStateException")
        self.assertEqual(self.boto_error(self.iot.update_certificate, certificateId=cid, newStatus="INACTIVE"),
                         "CertificateStateException")
        self.assertEqual(status(), "REVOKED")

        # INACTIVE -> REVOKED is allowed too.
        cid2, _ = self.new_cert(active=False)
        self.iot.update_certificate(certificateId=cid2, newStatus="REVOKED")
        self.assertEqual(self.iot.describe_certificate(certificateId=cid2)["certificateDescription"]["status"],
                         "REVOKED")
        # A revoked certificate with nothing attached can be deleted.
        self.iot.delete_certificate(certificateId=cid)
        self.assertEqual(self.boto_error(self.iot.describe_certificate, certificateId=cid),
                         "ResourceNotFoundException")
        self.assertEqual(self.boto_error(self.iot.update_certificate, certificateId="0" * 64, newStatus="ACTIVE"),
                         "ResourceNotFoundException")

    # ---- certificates: delete --------------------------------------------
    def test_delete_certificate_rules(self):
        self.iot.create_policy(policyName="del-pol", policyDocument=self.policy_doc(
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}))
        self.iot.create_thing(thingName="del-thing")
        a_id, a_arn = self.new_cert()

        self.assertAwsError(self.aws("iot", "delete-certificate", "--certificate-id", a_id),
                            "CertificateStateException")
        self.iot.update_certificate(certificateId=a_id, newStatus="INACTIVE")
        self.iot.attach_policy(policyName="del-pol", target=a_arn)
        self.assertAwsError(self.aws("iot", "delete-certificate", "--certificate-id", a_id),
                            "DeleteConflictException")
        # The refusals changed nothing.
        self.assertEqual(self.iot.describe_certificate(certificateId=a_id)["certificateDescription"]["status"],
                         "INACTIVE")
        self.assertIn(a_arn, self.iot.list_targets_for_policy(policyName="del-pol")["targets"])

        # forceDelete detaches the policies and deletes.
        self.assertAwsOk(self.aws("iot", "delete-certificate", "--certificate-id", a_id, "--force-delete"))
        self.assertEqual(self.boto_error(self.iot.describe_certificate, certificateId=a_id),
                         "ResourceNotFoundException")
        self.assertNotIn(a_arn, self.iot.list_targets_for_policy(policyName="del-pol")["targets"])
        self.assertNotIn(a_id, {c["certificateId"] for c in self.iot.list_certificates(pageSize=250)["certificates"]})

        # A thing attached blocks deletion even with forceDelete.
        b_id, b_arn = self.new_cert(active=False)
        self.iot.attach_policy(policyName="del-pol", target=b_arn)
        self.iot.attach_thing_principal(thingName="del-thing", principal=b_arn)
        self.assertAwsError(self.aws("iot", "delete-certificate", "--certificate-id", b_id, "--force-delete"),
                            "DeleteConflictException")
        self.assertEqual(self.iot.describe_certificate(certificateId=b_id)["certificateDescription"]["status"],
                         "INACTIVE")
        self.assertIn(b_arn, self.iot.list_targets_for_policy(policyName="del-pol")["targets"])
        self.assertAwsOk(self.aws("iot", "detach-thing-principal", "--thing-name", "del-thing", "--principal", b_arn))
        self.assertAwsOk(self.aws("iot", "delete-certificate", "--certificate-id", b_id, "--force-delete"))
        self.assertEqual(self.boto_error(self.iot.describe_certificate, certificateId=b_id),
                         "ResourceNotFoundException")
        self.assertEqual(self.iot.list_thing_principals(thingName="del-thing")["principals"], [])

    # ---- thing principals ------------------------------------------------
    def test_thing_principals(self):
        self.iot.create_thing(thingName="tp-1")
        self.iot.create_thing(thingName="tp-2")
        _, arn = self.new_cert()

        self.assertAwsOk(self.aws("iot", "attach-thing-principal", "--thing-name", "tp-1", "--principal", arn))
        self.iot.attach_thing_principal(thingName="tp-2", principal=arn)
        out = self.assertAwsOk(self.aws("iot", "list-thing-principals", "--thing-name", "tp-1"))
        self.assertEqual(out["principals"], [arn])
        out = self.assertAwsOk(self.aws("iot", "list-principal-things", "--principal", arn))
        self.assertEqual(sorted(out["things"]), ["tp-1", "tp-2"])

        self.assertAwsOk(self.aws("iot", "detach-thing-principal", "--thing-name", "tp-1", "--principal", arn))
        self.assertEqual(self.iot.list_principal_things(principal=arn)["things"], ["tp-2"])
        self.assertEqual(self.iot.list_thing_principals(thingName="tp-1")["principals"], [])

        self.assertAwsError(self.aws("iot", "attach-thing-principal", "--thing-name", "tp-1",
                                     "--principal", self.arn("cert", "0" * 64)),
                            "ResourceNotFoundException")
        self.assertAwsError(self.aws("iot", "attach-thing-principal", "--thing-name", "tp-1",
                                     "--principal", "not-an-arn"),
                            "InvalidRequestException")
        self.assertEqual(self.boto_error(self.iot.attach_thing_principal, thingName="tp-missing", principal=arn),
                         "ResourceNotFoundException")
        self.assertEqual(self.boto_error(self.iot.list_thing_principals, thingName="tp-missing"),
                         "ResourceNotFoundException")
        self.assertEqual(self.iot.list_thing_principals(thingName="tp-1")["principals"], [])

    # ---- policies --------------------------------------------------------
    def test_create_and_get_policy(self):
        text = ('{\n  "Version": "2012-10-17",\n  "Statement": [\n    {"Effect": "Allow", "Action": "iot:Connect",\n'
                f'     "Resource": "arn:aws:iot:{self.region}:{self.account}:client/${{iot:ClientId}}"}}\n  ]\n}}\n')
        json.loads(text)
        self.write("pol-a.json", text)
        out = self.assertAwsOk(self.aws("iot", "create-policy", "--policy-name", "pol-a",
                                        "--policy-document", self.file_url("pol-a.json")))
        self.assertEqual(out["policyName"], "pol-a")
        self.assertEqual(out["policyArn"], self.arn("policy", "pol-a"))
        self.assertEqual(out["policyDocument"], text)
        self.assertEqual(out["policyVersionId"], "1")

        got = self.assertAwsOk(self.aws("iot", "get-policy", "--policy-name", "pol-a"))
        self.assertEqual(got["policyDocument"], text)      # byte for byte, trailing newline included
        self.assertEqual(got["policyName"], "pol-a")
        self.assertEqual(got["policyArn"], self.arn("policy", "pol-a"))
        self.assertEqual(got["defaultVersionId"], "1")
        self.assertIn("creationDate", got)
        self.assertIn("lastModifiedDate", got)

        self.write("pol-a2.json", self.policy_doc({"Effect": "Allow", "Action": "iot:*", "Resource": "*"}))
        self.assertAwsError(self.aws("iot", "create-policy", "--policy-name", "pol-a",
                                     "--policy-document", self.file_url("pol-a2.json")),
                            "ResourceAlreadyExistsException")
        self.assertEqual(self.iot.get_policy(policyName="pol-a")["policyDocument"], text)

        bad = {
            "pol-bad-json": '{"Version":"2012-10-17","Statement":[\n',
            "pol-no-resource": self.policy_doc({"Effect": "Allow", "Action": "iot:Connect"}),
            "pol-lower-allow": self.policy_doc({"Effect": "allow", "Action": "iot:Connect", "Resource": "*"}),
        }
        for name, doc in bad.items():
            self.write(name + ".json", doc)
            self.assertAwsError(self.aws("iot", "create-policy", "--policy-name", name,
                                         "--policy-document", self.file_url(name + ".json")),
                                "MalformedPolicyException")
            self.assertEqual(self.boto_error(self.iot.get_policy, policyName=name), "ResourceNotFoundException")

        out = self.assertAwsOk(self.aws("iot", "list-policies"))
        self.assertIn({"policyName": "pol-a", "policyArn": self.arn("policy", "pol-a")}, out["policies"])
        self.assertFalse(set(bad) & {p["policyName"] for p in out["policies"]})

    def test_policy_versions(self):
        def doc(n):
            return self.policy_doc({"Effect": "Allow", "Action": "iot:Publish",
                                    "Resource": self.arn("topic", f"pv/{n}")}) + "\n"

        for n in range(1, 7):
            self.write(f"pv{n}.json", doc(n))
        self.iot.create_policy(policyName="pv", policyDocument=doc(1))

        out = self.assertAwsOk(self.aws("iot", "create-policy-version", "--policy-name", "pv",
                                        "--policy-document", self.file_url("pv2.json")))
        self.assertEqual(out["policyVersionId"], "2")
        self.assertIs(out["isDefaultVersion"], False)
        self.assertEqual(out["policyArn"], self.arn("policy", "pv"))
        self.assertEqual(out["policyDocument"], doc(2))
        self.assertEqual(self.iot.get_policy(policyName="pv")["defaultVersionId"], "1")
        self.iot.create_policy_version(policyName="pv", policyDocument=doc(3))
        self.iot.create_policy_version(policyName="pv", policyDocument=doc(4))
        out = self.assertAwsOk(self.aws("iot", "create-policy-version", "--policy-name", "pv", "--set-as-default",
                                        "--policy-document", self.file_url("pv5.json")))
        self.assertEqual(out["policyVersionId"], "5")
        self.assertIs(out["isDefaultVersion"], True)
        got = self.iot.get_policy(policyName="pv")
        self.assertEqual((got["defaultVersionId"], got["policyDocument"]), ("5", doc(5)))

        # Five versions at most.
        self.assertAwsError(self.aws("iot", "create-policy-version", "--policy-name", "pv",
                                     "--policy-document", self.file_url("pv6.json")),
                            "VersionsLimitExceededException")

        out = self.assertAwsOk(self.aws("iot", "get-policy-version", "--policy-name", "pv",
                                        "--policy-version-id", "2"))
        self.assertEqual(out["policyDocument"], doc(2))
        self.assertEqual(out["policyVersionId"], "2")
        self.assertEqual(out["policyName"], "pv")
        self.assertIs(out["isDefaultVersion"], False)

        out = self.assertAwsOk(self.aws("iot", "list-policy-versions", "--policy-name", "pv"))
        versions = {v["versionId"]: v["isDefaultVersion"] for v in out["policyVersions"]}
        self.assertEqual(versions, {"1": False, "2": False, "3": False, "4": False, "5": True})
        for v in out["policyVersions"]:
            self.assertIn("createDate", v)

        self.assertAwsOk(self.aws("iot", "set-default-policy-version", "--policy-name", "pv",
                                  "--policy-version-id", "2"))
        got = self.iot.get_policy(policyName="pv")
        self.assertEqual((got["defaultVersionId"], got["policyDocument"]), ("2", doc(2)))
        self.assertIs(self.iot.get_policy_version(policyName="pv", policyVersionId="5")["isDefaultVersion"], False)
        self.assertEqual(self.boto_error(self.iot.set_default_policy_version, policyName="pv", policyVersionId="9"),
                         "ResourceNotFoundException")

        self.assertAwsError(self.aws("iot", "delete-policy-version", "--policy-name", "pv",
                                     "--policy-version-id", "2"),
                            "DeleteConflictException")
        self.assertAwsError(self.aws("iot", "delete-policy", "--policy-name", "pv"), "DeleteConflictException")
        self.assertEqual(len(self.iot.list_policy_versions(policyName="pv")["policyVersions"]), 5)

        for v in ("1", "3", "4", "5"):
            self.iot.delete_policy_version(policyName="pv", policyVersionId=v)
        self.assertEqual(self.boto_error(self.iot.get_policy_version, policyName="pv", policyVersionId="3"),
                         "ResourceNotFoundException")
        # Version ids are not reused.
        self.assertEqual(self.iot.create_policy_version(policyName="pv", policyDocument=doc(6))["policyVersionId"],
                         "6")
        self.iot.delete_policy_version(policyName="pv", policyVersionId="6")

        # Attached policies cannot be deleted.
        _, cert_arn = self.new_cert()
        self.iot.attach_policy(policyName="pv", target=cert_arn)
        self.assertAwsError(self.aws("iot", "delete-policy", "--policy-name", "pv"), "DeleteConflictException")
        self.iot.detach_policy(policyName="pv", target=cert_arn)

        self.assertAwsOk(self.aws("iot", "delete-policy", "--policy-name", "pv"))
        self.assertAwsError(self.aws("iot", "get-policy", "--policy-name", "pv"), "ResourceNotFoundException")
        self.assertEqual(self.iot.list_attached_policies(target=cert_arn)["policies"], [])

    # ---- policy attachments ----------------------------------------------
    def test_policy_attachments_and_effective_policies(self):
        iot = self.iot
        for name in ("pa-cert", "pa-parent", "pa-child"):
            iot.create_policy(policyName=name, policyDocument=self.policy_doc(
                {"Effect": "Allow", "Action": "iot:Publish", "Resource": self.arn("topic", name)}))
        iot.create_thing_group(thingGroupName="pa-parent-g")
        iot.create_thing_group(thingGroupName="pa-child-g", parentGroupName="pa-parent-g")
        iot.create_thing(thingName="pa-thing")
        iot.add_thing_to_thing_group(thingGroupName="pa-child-g", thingName="pa-thing")
        _, cert = self.new_cert()
        iot.attach_thing_principal(thingName="pa-thing", principal=cert)
        parent, child = self.arn("thinggroup", "pa-parent-g"), self.arn("thinggroup", "pa-child-g")

        self.assertAwsOk(self.aws("iot", "attach-policy", "--policy-name", "pa-cert", "--target", cert))
        iot.attach_policy(policyName="pa-parent", target=parent)
        self.assertAwsOk(self.aws("iot", "attach-policy", "--policy-name", "pa-child", "--target", child))

        out = self.assertAwsOk(self.aws("iot", "list-attached-policies", "--target", cert))
        self.assertEqual(out["policies"], [{"policyName": "pa-cert", "policyArn": self.arn("policy", "pa-cert")}])
        out = self.assertAwsOk(self.aws("iot", "list-attached-policies", "--target", child, "--recursive"))
        self.assertEqual(sorted(p["policyName"] for p in out["policies"]), ["pa-child", "pa-parent"])
        self.assertEqual([p["policyName"] for p in iot.list_attached_policies(target=child)["policies"]],
                         ["pa-child"])

        out = self.assertAwsOk(self.aws("iot", "list-targets-for-policy", "--policy-name", "pa-parent"))
        self.assertEqual(out["targets"], [parent])

        self.assertAwsError(self.aws("iot", "attach-policy", "--policy-name", "pa-missing", "--target", cert),
                            "ResourceNotFoundException")

        out = self.assertAwsOk(self.aws("iot", "get-effective-policies", "--principal", cert,
                                        "--thing-name", "pa-thing"))
        effective = {p["policyName"]: p for p in out["effectivePolicies"]}
        self.assertEqual(set(effective), {"pa-cert", "pa-child", "pa-parent"})
        for name, p in effective.items():
            self.assertEqual(p["policyArn"], self.arn("policy", name))
            self.assertEqual(json.loads(p["policyDocument"])["Statement"][0]["Resource"], self.arn("topic", name))

        self.assertAwsOk(self.aws("iot", "detach-policy", "--policy-name", "pa-cert", "--target", cert))
        self.assertEqual(iot.list_attached_policies(target=cert)["policies"], [])
        self.assertEqual(iot.list_targets_for_policy(policyName="pa-cert")["targets"], [])
        got = iot.get_effective_policies(principal=cert, thingName="pa-thing")["effectivePolicies"]
        self.assertEqual({p["policyName"] for p in got}, {"pa-child", "pa-parent"})

    # ---- TestAuthorization -----------------------------------------------
    def test_authorization_with_the_recipe_device_policy(self):
        iot, R, A = self.iot, self.region, self.account
        # seed-recipe.sh, Step 1, with this server's account and region.
        device_policy = (
            '{\n  "Version": "2012-10-17",\n  "Statement": [\n'
            '    { "Effect": "Allow", "Action": ["iot:Connect"],\n'
            f'      "Resource": "arn:aws:iot:{R}:{A}:client/${{iot:Connection.Thing.ThingName}}" }},\n'
            '    { "Effect": "Allow", "Action": ["iot:Publish", "iot:Subscribe", "iot:Receive"],\n'
            '      "Resource": [\n'
            f'        "arn:aws:iot:{R}:{A}:topic/$aws/things/${{iot:Connection.Thing.ThingName}}/jobs/*",\n'
            f'        "arn:aws:iot:{R}:{A}:topicfilter/$aws/things/${{iot:Connection.Thing.ThingName}}/jobs/*" ] }}\n'
            '  ]\n}\n')
        json.loads(device_policy)
        iot.create_policy(policyName="DevicePolicy", policyDocument=device_policy)
        certs = {}
        for dev in ("dev-1", "dev-2"):
            iot.create_thing(thingName=dev)
            _, certs[dev] = self.new_cert()
            iot.attach_policy(policyName="DevicePolicy", target=certs[dev])
            iot.attach_thing_principal(thingName=dev, principal=certs[dev])
        cert1 = certs["dev-1"]

        def topic(dev, leaf="get"):
            return self.arn("topic", f"$aws/things/{dev}/jobs/{leaf}")

        def decisions(out):
            return {(r["authInfo"]["actionType"], r["authInfo"]["resources"][0]): r["authDecision"]
                    for r in out["authResults"]}

        # The shorthand, as a user would type it.
        out = self.assertAwsOk(self.aws("iot", "test-authorization", "--principal", cert1, "--client-id", "dev-1",
                                        "--auth-infos", f"actionType=PUBLISH,resources={topic('dev-1')}"))
        self.assertEqual(len(out["authResults"]), 1)
        res = out["authResults"][0]
        self.assertEqual(res["authDecision"], "ALLOWED")
        self.assertEqual(res["authInfo"], {"actionType": "PUBLISH", "resources": [topic("dev-1")]})
        self.assertIn("DevicePolicy", [p["policyName"] for p in res["allowed"]["policies"]])

        infos = [
            ("PUBLISH", topic("dev-1")), ("PUBLISH", topic("dev-2")),
            ("CONNECT", self.arn("client", "dev-1")), ("CONNECT", self.arn("client", "dev-2")),
            ("SUBSCRIBE", self.arn("topicfilter", "$aws/things/dev-1/jobs/*")),
            ("RECEIVE", topic("dev-1", "notify")),
        ]
        auth_infos = json.dumps([{"actionType": a, "resources": [r]} for a, r in infos])
        out = self.assertAwsOk(self.aws("iot", "test-authorization", "--principal", cert1, "--client-id", "dev-1",
                                        "--auth-infos", auth_infos))
        self.assertEqual(decisions(out), {
            infos[0]: "ALLOWED", infos[1]: "IMPLICIT_DENY", infos[2]: "ALLOWED", infos[3]: "IMPLICIT_DENY",
            infos[4]: "ALLOWED", infos[5]: "ALLOWED"})

        # Client id dev-2 with cert1: the thing dev-2 is not attached to cert1, so the thing
        # variable does not resolve and nothing matches, not even dev-2's own resources.
        out = self.assertAwsOk(self.aws("iot", "test-authorization", "--principal", cert1, "--client-id", "dev-2",
                                        "--auth-infos", auth_infos))
        self.assertEqual(set(decisions(out).values()), {"IMPLICIT_DENY"}, out)
        # dev-2's own certificate can.
        got = iot.test_authorization(principal=certs["dev-2"], clientId="dev-2",
                                     authInfos=[{"actionType": "PUBLISH", "resources": [topic("dev-2")]},
                                                {"actionType": "CONNECT", "resources": [self.arn("client", "dev-2")]}])
        self.assertEqual([r["authDecision"] for r in got["authResults"]], ["ALLOWED", "ALLOWED"])

        # An explicit deny wins over the allow.
        iot.create_policy(policyName="DenyGet", policyDocument=self.policy_doc(
            {"Effect": "Deny", "Action": "iot:Publish", "Resource": topic("dev-1")}))
        iot.attach_policy(policyName="DenyGet", target=cert1)
        two = json.dumps([{"actionType": "PUBLISH", "resources": [topic("dev-1")]},
                          {"actionType": "PUBLISH", "resources": [topic("dev-1", "update")]}])
        out = self.assertAwsOk(self.aws("iot", "test-authorization", "--principal", cert1, "--client-id", "dev-1",
                                        "--auth-infos", two))
        self.assertEqual(decisions(out), {("PUBLISH", topic("dev-1")): "EXPLICIT_DENY",
                                          ("PUBLISH", topic("dev-1", "update")): "ALLOWED"})
        denied = [r for r in out["authResults"] if r["authDecision"] == "EXPLICIT_DENY"][0]
        self.assertEqual([p["policyName"] for p in denied["denied"]["explicitDeny"]["policies"]], ["DenyGet"])

        out = self.assertAwsOk(self.aws("iot", "test-authorization", "--principal", cert1, "--client-id", "dev-1",
                                        "--auth-infos", two, "--policy-names-to-skip", "DenyGet"))
        self.assertEqual(set(decisions(out).values()), {"ALLOWED"}, out)

    # ---- bring your own CA -----------------------------------------------
    def test_byo_ca_registration_and_device_certificates(self):
        iot = self.iot
        code = self.assertAwsOk(self.aws("iot", "get-registration-code"))["registrationCode"]
        self.assertTrue(code)
        self.assertEqual(iot.get_registration_code()["registrationCode"], code)

        self.make_ca("myca", "myca")
        self.make_ca("otherca", "otherca")
        self.sign_with_ca("verif-ok", code, "myca")
        self.sign_with_ca("verif-wrong-cn", "not-the-code", "myca")
        self.sign_with_ca("verif-other", code, "otherca")
        ca_id = self.der_sha256("myca.pem")

        def register_ca(verification):
            return self.aws("iot", "register-ca-certificate", "--ca-certificate", self.file_url("myca.pem"),
                            "--verification-certificate", self.file_url(verification), "--set-as-active")

        self.assertAwsErrorIn(register_ca("verif-wrong-cn.pem"),
                              ("InvalidRequestException", "RegistrationCodeValidationException"))
        self.assertAwsError(register_ca("verif-other.pem"), "CertificateValidationException")
        self.assertEqual(self.boto_error(iot.describe_ca_certificate, certificateId=ca_id),
                         "ResourceNotFoundException")

        out = self.assertAwsOk(register_ca("verif-ok.pem"))
        self.assertEqual(out["certificateId"], ca_id)
        self.assertEqual(out["certificateArn"], self.arn("cacert", ca_id))
        self.assertEqual(self.boto_error(iot.register_ca_certificate, caCertificate=self.read("myca.pem"),
                                         verificationCertificate=self.read("verif-ok.pem")),
                         "ResourceAlreadyExistsException")

        desc = self.assertAwsOk(self.aws("iot", "describe-ca-certificate", "--certificate-id", ca_id))
        ca = desc["certificateDescription"]
        self.assertEqual(ca["certificateId"], ca_id)
        self.assertEqual(ca["certificateArn"], self.arn("cacert", ca_id))
        self.assertEqual(ca["status"], "ACTIVE")
        self.assertEqual(ca["certificatePem"].strip(), self.read("myca.pem").strip())
        self.assertEqual(ca["autoRegistrationStatus"], "DISABLE")

        out = self.assertAwsOk(self.aws("iot", "list-ca-certificates"))
        listed = {c["certificateId"]: c for c in out["certificates"]}
        self.assertEqual(set(listed), {ca_id})
        self.assertEqual(listed[ca_id]["status"], "ACTIVE")
        self.assertEqual(listed[ca_id]["certificateArn"], self.arn("cacert", ca_id))

        # Device certificates signed by the registered CA.
        self.sign_with_ca("byo-dev1", "byo-dev1", "myca")
        out = self.assertAwsOk(self.aws("iot", "register-certificate",
                                        "--certificate-pem", self.file_url("byo-dev1.pem"),
                                        "--ca-certificate-pem", self.file_url("myca.pem"), "--set-as-active"))
        dev1 = out["certificateId"]
        self.assertEqual(dev1, self.der_sha256("byo-dev1.pem"))
        self.assertEqual(out["certificateArn"], self.arn("cert", dev1))
        d = iot.describe_certificate(certificateId=dev1)["certificateDescription"]
        self.assertEqual((d["status"], d["caCertificateId"]), ("ACTIVE", ca_id))
        self.assertEqual(d["certificatePem"].strip(), self.read("byo-dev1.pem").strip())
        self.assertEqual(self.boto_error(iot.register_certificate, certificatePem=self.read("byo-dev1.pem"),
                                         caCertificatePem=self.read("myca.pem")),
                         "ResourceAlreadyExistsException")
        # Without caCertificatePem the issuer is found among the registered CAs.
        self.sign_with_ca("byo-dev2", "byo-dev2", "myca")
        dev2 = iot.register_certificate(certificatePem=self.read("byo-dev2.pem"), status="ACTIVE")["certificateId"]
        self.assertEqual(iot.describe_certificate(certificateId=dev2)["certificateDescription"]["caCertificateId"],
                         ca_id)

        out = self.assertAwsOk(self.aws("iot", "list-certificates-by-ca", "--ca-certificate-id", ca_id))
        self.assertEqual(sorted(c["certificateId"] for c in out["certificates"]), sorted([dev1, dev2]))

        # Signed by a CA nobody registered.
        self.sign_with_ca("byo-stranger", "byo-stranger", "otherca")
        self.assertAwsError(self.aws("iot", "register-certificate",
                                     "--certificate-pem", self.file_url("byo-stranger.pem"), "--set-as-active"),
                            "CertificateValidationException")
        # Claimed to be signed by the registered CA, but it was not.
        self.assertEqual(self.boto_error(iot.register_certificate, certificatePem=self.read("byo-stranger.pem"),
                                         caCertificatePem=self.read("myca.pem"), setAsActive=True),
                         "CertificateValidationException")

        # An ACTIVE CA cannot be deleted.
        self.assertAwsError(self.aws("iot", "delete-ca-certificate", "--certificate-id", ca_id),
                            "CertificateStateException")
        self.assertEqual(iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]["status"],
                         "ACTIVE")

        # An INACTIVE CA registers nothing new.
        self.assertAwsOk(self.aws("iot", "update-ca-certificate", "--certificate-id", ca_id,
                                  "--new-status", "INACTIVE"))
        self.assertEqual(iot.describe_ca_certificate(certificateId=ca_id)["certificateDescription"]["status"],
                         "INACTIVE")
        self.sign_with_ca("byo-dev3", "byo-dev3", "myca")
        self.assertAwsError(self.aws("iot", "register-certificate",
                                     "--certificate-pem", self.file_url("byo-dev3.pem"),
                                     "--ca-certificate-pem", self.file_url("myca.pem"), "--set-as-active"),
                            "CertificateStateException")
        self.assertEqual(sorted(c["certificateId"] for c in
                                iot.list_certificates_by_ca(caCertificateId=ca_id)["certificates"]),
                         sorted([dev1, dev2]))

        # A self-signed certificate registered without a CA.
        self.ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", "/CN=selfsigned", "-days", "30", "-keyout", "self.key", "-out", "self.pem")
        out = self.assertAwsOk(self.aws("iot", "register-certificate-without-ca",
                                        "--certificate-pem", self.file_url("self.pem"), "--status", "ACTIVE"))
        self_id = out["certificateId"]
        self.assertEqual(self_id, self.der_sha256("self.pem"))
        self.assertEqual(out["certificateArn"], self.arn("cert", self_id))
        d = iot.describe_certificate(certificateId=self_id)["certificateDescription"]
        self.assertEqual(d["status"], "ACTIVE")
        self.assertEqual(d["certificateMode"], "SNI_ONLY")
        self.assertNotIn("caCertificateId", d)


if __name__ == "__main__":
    harness.main()

"""Device identities through boto3: modeled exceptions with their HTTP statuses,
marker paginators, TestAuthorization's response structure, and keys that the
server hands out actually working for signatures."""
import base64
import collections
import json
import os
import subprocess
import tempfile

import harness

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    HAVE_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - Debian ships python3-cryptography
    HAVE_CRYPTOGRAPHY = False


class IdentityBoto3Test(harness.ServerTestCase):

    def doc(self, effect="Allow", action="iot:Publish", resource="*"):
        return json.dumps({"Version": "2012-10-17",
                           "Statement": [{"Effect": effect, "Action": action, "Resource": resource}]})

    # ---- modeled exceptions ---------------------------------------------
    def test_modeled_exceptions(self):
        iot = self.iot
        cert = iot.create_keys_and_certificate(setAsActive=True)
        with self.assertRaises(iot.exceptions.CertificateStateException) as ctx:
            iot.delete_certificate(certificateId=cert["certificateId"])
        self.assertClientError(ctx, "CertificateStateException", 406)

        iot.create_policy(policyName="b3-exc", policyDocument=self.doc())
        with self.assertRaises(iot.exceptions.ResourceAlreadyExistsException) as ctx:
            iot.create_policy(policyName="b3-exc", policyDocument=self.doc())
        self.assertClientError(ctx, "ResourceAlreadyExistsException", 409)

        with self.assertRaises(iot.exceptions.MalformedPolicyException) as ctx:
            iot.create_policy(policyName="b3-exc-bad", policyDocument='{"Version": "2012-10-17", "Statement": ')
        self.assertClientError(ctx, "MalformedPolicyException", 400)
        with self.assertRaises(iot.exceptions.MalformedPolicyException) as ctx:
            iot.create_policy_version(policyName="b3-exc", policyDocument=self.doc(effect="Maybe"))
        self.assertClientError(ctx, "MalformedPolicyException", 400)

        for n in range(2, 6):
            iot.create_policy_version(policyName="b3-exc", policyDocument=self.doc(resource=f"arn:x:{n}"))
        with self.assertRaises(iot.exceptions.VersionsLimitExceededException) as ctx:
            iot.create_policy_version(policyName="b3-exc", policyDocument=self.doc(resource="arn:x:6"))
        self.assertClientError(ctx, "VersionsLimitExceededException", 409)

        with self.assertRaises(iot.exceptions.DeleteConflictException) as ctx:
            iot.delete_policy(policyName="b3-exc")
        self.assertClientError(ctx, "DeleteConflictException", 409)
        with self.assertRaises(iot.exceptions.DeleteConflictException) as ctx:
            iot.delete_policy_version(policyName="b3-exc", policyVersionId="1")
        self.assertClientError(ctx, "DeleteConflictException", 409)

        with self.assertRaises(iot.exceptions.ResourceNotFoundException) as ctx:
            iot.describe_certificate(certificateId="0" * 64)
        self.assertClientError(ctx, "ResourceNotFoundException", 404)
        with self.assertRaises(iot.exceptions.ResourceNotFoundException) as ctx:
            iot.get_policy(policyName="b3-nope")
        self.assertClientError(ctx, "ResourceNotFoundException", 404)
        with self.assertRaises(iot.exceptions.InvalidRequestException) as ctx:
            iot.create_certificate_from_csr(certificateSigningRequest="junk")
        self.assertClientError(ctx, "InvalidRequestException", 400)

    # ---- paginators ------------------------------------------------------
    def collect(self, paginator, result_key, page_size, **kw):
        pages = list(self.iot.get_paginator(paginator).paginate(PaginationConfig={"PageSize": page_size}, **kw))
        for p in pages:
            self.assertLessEqual(len(p[result_key]), page_size, p)
        return pages, [item for p in pages for item in p[result_key]]

    def test_list_certificates_paginator(self):
        mine = [self.iot.create_keys_and_certificate(setAsActive=(i % 2 == 0))["certificateId"] for i in range(7)]
        for ascending in (False, True):
            pages, certs = self.collect("list_certificates", "certificates", 2, ascendingOrder=ascending)
            ids = [c["certificateId"] for c in certs]
            counts = collections.Counter(ids)
            self.assertEqual([i for i, n in counts.items() if n != 1], [], ids)
            for cid in mine:
                self.assertEqual(counts[cid], 1, cid)
            self.assertGreaterEqual(len(pages), (len(ids) + 1) // 2)
            self.assertEqual(set(ids), {c["certificateId"] for c in
                                        self.iot.list_certificates(pageSize=250)["certificates"]})
            dates = [c["creationDate"] for c in certs]
            self.assertEqual(dates, sorted(dates, reverse=not ascending))

    def test_list_policies_paginator(self):
        names = [f"b3-pg-{i}" for i in range(5)]
        for n in names:
            self.iot.create_policy(policyName=n, policyDocument=self.doc())
        pages, policies = self.collect("list_policies", "policies", 2)
        got = [p["policyName"] for p in policies]
        self.assertEqual(len(got), len(set(got)), got)
        self.assertTrue(set(names) <= set(got))
        self.assertGreaterEqual(len(pages), 3)
        for p in policies:
            self.assertEqual(p["policyArn"], self.arn("policy", p["policyName"]))

    def test_list_targets_for_policy_paginator(self):
        self.iot.create_policy(policyName="b3-targets", policyDocument=self.doc())
        arns = []
        for _ in range(5):
            arn = self.iot.create_keys_and_certificate(setAsActive=True)["certificateArn"]
            self.iot.attach_policy(policyName="b3-targets", target=arn)
            arns.append(arn)
        _, targets = self.collect("list_targets_for_policy", "targets", 2, policyName="b3-targets")
        self.assertEqual(sorted(targets), sorted(arns))

    # ---- TestAuthorization -----------------------------------------------
    def test_test_authorization_response_structure(self):
        iot = self.iot
        topic = self.arn("topic", "b3/telemetry")
        other = self.arn("topic", "b3/other")
        iot.create_policy(policyName="b3-allow", policyDocument=self.doc(resource=self.arn("topic", "b3/*")))
        iot.create_policy(policyName="b3-deny", policyDocument=self.doc(effect="Deny", resource=other))
        iot.create_policy(policyName="b3-extra", policyDocument=self.doc(action="iot:Subscribe", resource="*"))
        cert = iot.create_keys_and_certificate(setAsActive=True)["certificateArn"]
        iot.attach_policy(policyName="b3-allow", target=cert)
        iot.attach_policy(policyName="b3-deny", target=cert)

        out = iot.test_authorization(principal=cert, clientId="b3-client", authInfos=[
            {"actionType": "PUBLISH", "resources": [topic]},
            {"actionType": "PUBLISH", "resources": [other]},
            {"actionType": "CONNECT", "resources": [self.arn("client", "b3-client")]},
        ])
        results = out["authResults"]
        self.assertEqual(len(results), 3)
        self.assertEqual([r["authInfo"]["resources"] for r in results], [[topic], [other],
                                                                         [self.arn("client", "b3-client")]])

        allowed = results[0]
        self.assertEqual(allowed["authDecision"], "ALLOWED")
        self.assertEqual(allowed["authInfo"]["actionType"], "PUBLISH")
        self.assertEqual([p["policyName"] for p in allowed["allowed"]["policies"]], ["b3-allow"])
        self.assertEqual(allowed["allowed"]["policies"][0]["policyArn"], self.arn("policy", "b3-allow"))

        denied = results[1]
        self.assertEqual(denied["authDecision"], "EXPLICIT_DENY")
        self.assertEqual([p["policyName"] for p in denied["denied"]["explicitDeny"]["policies"]], ["b3-deny"])
        self.assertEqual(denied["denied"]["explicitDeny"]["policies"][0]["policyArn"], self.arn("policy", "b3-deny"))

        implicit = results[2]
        self.assertEqual(implicit["authDecision"], "IMPLICIT_DENY")
        self.assertEqual(implicit.get("allowed", {}).get("policies", []), [])
        self.assertEqual(implicit["denied"].get("explicitDeny", {}).get("policies", []), [])

        # policyNamesToAdd: evaluated as if attached.
        sub = {"actionType": "SUBSCRIBE", "resources": [self.arn("topicfilter", "b3/#")]}
        self.assertEqual(iot.test_authorization(principal=cert, clientId="b3-client", authInfos=[sub])
                         ["authResults"][0]["authDecision"], "IMPLICIT_DENY")
        out = iot.test_authorization(principal=cert, clientId="b3-client", authInfos=[sub],
                                     policyNamesToAdd=["b3-extra"])
        self.assertEqual(out["authResults"][0]["authDecision"], "ALLOWED")
        self.assertEqual([p["policyName"] for p in out["authResults"][0]["allowed"]["policies"]], ["b3-extra"])

    def test_policy_matching_rules(self):
        """Documented AWS IoT policy semantics: action names are case-insensitive, resources
        are case-sensitive, `*` and `?` are wildcards, MQTT's `+` and `#` are literal
        characters in policies, policy variables and conditions resolve per request."""
        iot, arn = self.iot, self.arn
        statements = {
            "b3-m-case": {"Effect": "Allow", "Action": "iot:publish", "Resource": arn("topic", "m/case")},
            "b3-m-wild": {"Effect": "Allow", "Action": "iot:*", "Resource": arn("topic", "m/w/?/*")},
            "b3-m-plus": {"Effect": "Allow", "Action": ["iot:Subscribe", "iot:Publish"],
                          "Resource": [arn("topicfilter", "m/f/+/x"), arn("topic", "m/p/#")]},
            "b3-m-var": {"Effect": "Allow", "Action": "iot:Publish", "Resource": arn("topic", "m/c/${iot:ClientId}")},
            "b3-m-cond": {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*",
                          "Condition": {"StringEquals": {"iot:ClientId": "b3-m-1"}}},
        }
        cert = iot.create_keys_and_certificate(setAsActive=True)["certificateArn"]
        for name, st in statements.items():
            iot.create_policy(policyName=name, policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [st]}))
            iot.attach_policy(policyName=name, target=cert)

        cases = [
            ("PUBLISH", arn("topic", "m/case"), "b3-m-1", "ALLOWED"),
            ("PUBLISH", arn("topic", "M/case"), "b3-m-1", "IMPLICIT_DENY"),
            ("RECEIVE", arn("topic", "m/w/a/b/c"), "b3-m-1", "ALLOWED"),
            ("RECEIVE", arn("topic", "m/w/ab/c"), "b3-m-1", "IMPLICIT_DENY"),
            ("SUBSCRIBE", arn("topicfilter", "m/f/+/x"), "b3-m-1", "ALLOWED"),
            ("SUBSCRIBE", arn("topicfilter", "m/f/a/x"), "b3-m-1", "IMPLICIT_DENY"),
            ("PUBLISH", arn("topic", "m/p/a"), "b3-m-1", "IMPLICIT_DENY"),
            ("PUBLISH", arn("topic", "m/p/#"), "b3-m-1", "ALLOWED"),
            ("PUBLISH", arn("topic", "m/c/b3-m-1"), "b3-m-1", "ALLOWED"),
            ("PUBLISH", arn("topic", "m/c/b3-m-2"), "b3-m-1", "IMPLICIT_DENY"),
            ("CONNECT", arn("client", "b3-m-1"), "b3-m-1", "ALLOWED"),
            ("CONNECT", arn("client", "b3-m-2"), "b3-m-2", "IMPLICIT_DENY"),
        ]
        got = []
        for action, resource, client, _ in cases:
            out = iot.test_authorization(principal=cert, clientId=client,
                                         authInfos=[{"actionType": action, "resources": [resource]}])
            got.append(out["authResults"][0]["authDecision"])
        self.assertEqual(list(zip(cases, got)), [(c, c[3]) for c in cases])

        with self.assertRaises(iot.exceptions.InvalidRequestException):
            iot.test_authorization(principal=cert, authInfos=[{"actionType": "DELETE", "resources": ["*"]}])
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.test_authorization(principal=cert, authInfos=[{"actionType": "PUBLISH", "resources": ["*"]}],
                                   policyNamesToAdd=["b3-m-missing"])
        with self.assertRaises(iot.exceptions.ResourceNotFoundException):
            iot.test_authorization(principal=self.arn("cert", "0" * 64),
                                   authInfos=[{"actionType": "PUBLISH", "resources": ["*"]}])

    def test_thing_group_policies_apply_through_the_attached_thing(self):
        iot = self.iot
        resource = self.arn("topic", "b3grp/${iot:Connection.Thing.ThingName}")
        iot.create_policy(policyName="b3-grp-pol", policyDocument=self.doc(resource=resource))
        iot.create_thing_group(thingGroupName="b3-root-g")
        iot.create_thing_group(thingGroupName="b3-leaf-g", parentGroupName="b3-root-g")
        iot.attach_policy(policyName="b3-grp-pol", target=self.arn("thinggroup", "b3-root-g"))
        iot.create_thing(thingName="b3-gthing")
        iot.create_thing(thingName="b3-gother")
        iot.add_thing_to_thing_group(thingGroupName="b3-leaf-g", thingName="b3-gthing")
        iot.add_thing_to_thing_group(thingGroupName="b3-leaf-g", thingName="b3-gother")
        cert = iot.create_keys_and_certificate(setAsActive=True)["certificateArn"]
        iot.attach_thing_principal(thingName="b3-gthing", principal=cert)

        def decision(client_id, thing):
            out = iot.test_authorization(principal=cert, clientId=client_id, authInfos=[
                {"actionType": "PUBLISH", "resources": [self.arn("topic", f"b3grp/{thing}")]}])
            return out["authResults"][0]["authDecision"]

        # The ancestor group's policy applies when the client id names the attached thing.
        self.assertEqual(decision("b3-gthing", "b3-gthing"), "ALLOWED")
        # Another thing in the same group, not attached to this certificate: no group policies.
        self.assertEqual(decision("b3-gother", "b3-gother"), "IMPLICIT_DENY")
        self.assertEqual(decision("b3-gother", "b3-gthing"), "IMPLICIT_DENY")
        # Once the thing is detached, its groups no longer count.
        iot.detach_thing_principal(thingName="b3-gthing", principal=cert)
        self.assertEqual(decision("b3-gthing", "b3-gthing"), "IMPLICIT_DENY")

    # ---- keys that work --------------------------------------------------
    def test_issued_private_key_signs_and_certificate_verifies(self):
        out = self.iot.create_keys_and_certificate(setAsActive=True)
        key_pem = out["keyPair"]["PrivateKey"].encode()
        cert_pem = out["certificatePem"].encode()
        message = b"airfleet device says hello"
        if not HAVE_CRYPTOGRAPHY:
            return self._sign_with_openssl(key_pem, cert_pem, message)

        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
        self.assertEqual(cert.fingerprint(hashes.SHA256()).hex(), out["certificateId"])
        pub = cert.public_key()
        if isinstance(key, ec.EllipticCurvePrivateKey):
            sig = key.sign(message, ec.ECDSA(hashes.SHA256()))
            pub.verify(sig, message, ec.ECDSA(hashes.SHA256()))
            with self.assertRaises(InvalidSignature):
                pub.verify(sig, message + b"!", ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPrivateKey):
            sig = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
            pub.verify(sig, message, padding.PKCS1v15(), hashes.SHA256())
            with self.assertRaises(InvalidSignature):
                pub.verify(sig, message + b"!", padding.PKCS1v15(), hashes.SHA256())
        else:
            self.fail(f"unexpected key type {type(key)}")

        # The certificate is signed by the server's root CA.
        with open(self.server.ready["root_ca"], "rb") as f:
            root = x509.load_pem_x509_certificate(f.read())
        self.assertEqual(cert.issuer, root.subject)
        root_pub = root.public_key()
        if isinstance(root_pub, ec.EllipticCurvePublicKey):
            root_pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            root_pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                            cert.signature_hash_algorithm)

    def test_private_key_is_not_stored(self):
        out = self.iot.create_keys_and_certificate(setAsActive=True)
        key_pem = out["keyPair"]["PrivateKey"]
        lines = [line for line in key_pem.strip().splitlines() if not line.startswith("-----")]
        der = base64.b64decode("".join(lines))
        # The DER and every PEM line but the first (which starts with the algorithm
        # identifiers that all keys of one type share).
        needles = [der] + [line.encode() for line in lines[1:] if len(line) >= 16]
        if HAVE_CRYPTOGRAPHY:
            key = serialization.load_pem_private_key(key_pem.encode(), password=None)
            if isinstance(key, ec.EllipticCurvePrivateKey):   # the raw private scalar
                needles.append(key.private_numbers().private_value.to_bytes(32, "big"))
        # Whatever the server has written to its data directory (database, WAL, files) so far.
        for root, _, files in os.walk(self.server.data_dir):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
                for n in needles:
                    self.assertNotIn(n, data, f"the device private key is in {name}")

    def test_bad_markers_and_page_sizes(self):
        iot = self.iot
        for _ in range(3):
            iot.create_keys_and_certificate(setAsActive=False)
        with self.assertRaises(iot.exceptions.InvalidRequestException) as ctx:
            iot.list_certificates(marker="not-a-marker")
        self.assertClientError(ctx, "InvalidRequestException", 400)
        with self.assertRaises(iot.exceptions.InvalidRequestException) as ctx:
            iot.list_certificates(pageSize=251)
        self.assertClientError(ctx, "InvalidRequestException", 400)
        with self.assertRaises(iot.exceptions.InvalidRequestException) as ctx:
            iot.list_policies(marker="not-a-marker")
        self.assertClientError(ctx, "InvalidRequestException", 400)
        # A marker is a position in one listing, not a key to another.
        marker = iot.list_certificates(pageSize=1)["nextMarker"]
        with self.assertRaises(iot.exceptions.InvalidRequestException):
            iot.list_policies(marker=marker)

    def _sign_with_openssl(self, key_pem, cert_pem, message):
        with tempfile.TemporaryDirectory() as d:
            for name, data in (("k.pem", key_pem), ("c.pem", cert_pem), ("m", message)):
                with open(f"{d}/{name}", "wb") as f:
                    f.write(data)
            run = lambda *a: subprocess.run(["openssl", *a], cwd=d, capture_output=True, timeout=60)  # noqa: E731
            self.assertEqual(run("dgst", "-sha256", "-sign", "k.pem", "-out", "sig", "m").returncode, 0)
            self.assertEqual(run("x509", "-in", "c.pem", "-pubkey", "-noout", "-out", "pub.pem").returncode, 0)
            self.assertEqual(run("dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig", "m").returncode, 0)


class IdentityRestartTest(harness.ServerTestCase):
    """Identities, policies and attachments, the root CA and the registration code
    survive a restart on the same data directory."""

    def test_state_survives_restart(self):
        server = self.server
        iot = server.boto3_client("iot")
        region, account = server.ready["region"], server.ready["account_id"]
        with open(server.ready["root_ca"], "rb") as f:
            root_before = f.read()
        code = iot.get_registration_code()["registrationCode"]
        topic = f"arn:aws:iot:{region}:{account}:topic/rs/t"
        iot.create_policy(policyName="rs-pol", policyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:Publish", "Resource": topic}]}))
        iot.create_policy_version(policyName="rs-pol", setAsDefault=True, policyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": topic}]}))
        made = iot.create_keys_and_certificate(setAsActive=True)
        cert = made["certificateArn"]
        iot.attach_policy(policyName="rs-pol", target=cert)
        iot.create_thing(thingName="rs-thing")
        iot.attach_thing_principal(thingName="rs-thing", principal=cert)
        revoked = iot.create_keys_and_certificate(setAsActive=False)["certificateId"]
        iot.update_certificate(certificateId=revoked, newStatus="REVOKED")

        self.assertEqual(server.stop(), 0)
        server.start()
        iot = server.boto3_client("iot")

        with open(server.ready["root_ca"], "rb") as f:
            self.assertEqual(f.read(), root_before)
        self.assertEqual(iot.get_registration_code()["registrationCode"], code)
        desc = iot.describe_certificate(certificateId=made["certificateId"])["certificateDescription"]
        self.assertEqual((desc["status"], desc["certificatePem"].strip()), ("ACTIVE", made["certificatePem"].strip()))
        self.assertEqual(iot.describe_certificate(certificateId=revoked)["certificateDescription"]["status"],
                         "REVOKED")
        with self.assertRaises(iot.exceptions.CertificateStateException):
            iot.update_certificate(certificateId=revoked, newStatus="ACTIVE")
        got = iot.get_policy(policyName="rs-pol")
        self.assertEqual(got["defaultVersionId"], "2")
        self.assertEqual([v["versionId"] for v in
                          sorted(iot.list_policy_versions(policyName="rs-pol")["policyVersions"],
                                 key=lambda v: v["versionId"])], ["1", "2"])
        self.assertEqual(iot.list_targets_for_policy(policyName="rs-pol")["targets"], [cert])
        self.assertEqual(iot.list_thing_principals(thingName="rs-thing")["principals"], [cert])
        out = iot.test_authorization(principal=cert, clientId="rs-thing",
                                     authInfos=[{"actionType": "SUBSCRIBE", "resources": [topic]}])
        self.assertEqual(out["authResults"][0]["authDecision"], "ALLOWED")   # version 2 (iot:*) is in force
        # The next policy version continues the numbering.
        self.assertEqual(iot.create_policy_version(policyName="rs-pol", policyDocument=got["policyDocument"])
                         ["policyVersionId"], "3")


if __name__ == "__main__":
    harness.main()

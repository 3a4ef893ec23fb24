"""Hostile and broken HTTP input: each gets a clear AWS-shaped error or a clean
close, nothing stored changes, and the server keeps serving everyone else.

Requests are signed with botocore's SigV4 signer (service execute-api) and sent
over raw sockets or http.client so they can be malformed on purpose.
"""
import json
import select
import socket
import time

import harness
import rawhttp

# Codes AWS's rest-json services use for a body that does not parse or does not match the model.
BAD_BODY_CODES = {"InvalidRequestException", "SerializationException"}


class BadInputTest(harness.ServerTestCase):
    server_args = ("--http-header-timeout", "2")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.raw = rawhttp.Client(cls.server)
        cls.iot = cls.server.boto3_client("iot")
        cls.iot.create_thing(thingName="bi-sentinel",
                             attributePayload={"attributes": {"color": "green", "serial": "sn-1"}})
        cls.sentinel = cls.iot.describe_thing(thingName="bi-sentinel")

    # ---- helpers ---------------------------------------------------------
    def assertStillServing(self):
        self.assertIsNone(self.server.proc.poll(), "server exited:\n" + self.server.read_log()[-4000:])
        out = self.server.boto3_client("iot").describe_thing(thingName="bi-sentinel")
        self.assertEqual(out["attributes"], self.sentinel["attributes"])

    def assertNoThing(self, name):
        with self.assertRaises(self.iot.exceptions.ResourceNotFoundException):
            self.iot.describe_thing(thingName=name)

    def assertErrorShape(self, resp, statuses, codes=None):
        self.assertIn(resp.status, statuses, resp)
        self.assertTrue(resp.headers.get("x-amzn-errortype"), f"no x-amzn-ErrorType: {resp}")
        body = resp.json
        self.assertIsInstance(body, dict, f"error body is not a JSON object: {resp}")
        self.assertTrue(body.get("__type"), resp)
        self.assertIsInstance(body.get("message"), str, resp)
        if codes is not None:
            self.assertIn(resp.error_type, codes, resp)

    def read_until_closed(self, sock, within=30):
        """Reads until the peer closes; fails if it has not closed within `within` seconds
        (a functional bound, far above the configured 2 s header timeout)."""
        deadline = time.monotonic() + within
        data = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"server did not close the connection within {within} s (got {data[:200]!r})")
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk

    def assertHttp4xxOrNothing(self, data):
        if data:
            # 4xx, or 505 for an HTTP version the server does not speak.
            self.assertRegex(data[:12], rb"^HTTP/1\.[01] (4\d\d|505)", data[:300])

    # ---- bodies ----------------------------------------------------------
    def test_malformed_json_body(self):
        for body in (b'{"attributePayload": {', b"not json at all", b'{"attributePayload": {"attributes": }}'):
            with self.subTest(body=body):
                resp = self.raw.signed("POST", "/things/bi-badjson", body)
                self.assertErrorShape(resp, (400,), BAD_BODY_CODES)
        self.assertNoThing("bi-badjson")
        self.assertStillServing()

    def test_wrong_member_types(self):
        bodies = [
            {"attributePayload": "not-an-object"},
            {"attributePayload": {"attributes": ["a", "b"]}},
            {"attributePayload": {"attributes": {"a": 5}}},
            {"thingTypeName": 12},
        ]
        for body in bodies:
            with self.subTest(body=body):
                resp = self.raw.signed("POST", "/things/bi-types", json.dumps(body))
                self.assertErrorShape(resp, (400,), BAD_BODY_CODES)
        self.assertNoThing("bi-types")
        # A JSON array where an object belongs.
        resp = self.raw.signed("POST", "/things/bi-types", b"[]")
        self.assertErrorShape(resp, (400,), BAD_BODY_CODES)
        self.assertNoThing("bi-types")
        # A string where a long belongs, on an update: nothing changes.
        resp = self.raw.signed("PATCH", "/things/bi-sentinel",
                               json.dumps({"expectedVersion": "one",
                                           "attributePayload": {"attributes": {"color": "red"}, "merge": True}}))
        self.assertErrorShape(resp, (400,), BAD_BODY_CODES)
        self.assertStillServing()

    def test_valid_raw_request_is_accepted(self):
        # Sanity check of the raw path the other tests use: a well-formed signed create succeeds.
        resp = self.raw.signed("POST", "/things/bi-raw-ok", json.dumps({"attributePayload": {"attributes": {"x": "1"}}}))
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["thingName"], "bi-raw-ok")
        self.assertEqual(self.iot.describe_thing(thingName="bi-raw-ok")["attributes"], {"x": "1"})

    def test_oversized_body(self):
        body = b'{"attributePayload":{"attributes":{"a":"' + b"x" * (2 * 1024 * 1024) + b'"}}}'
        head = self.raw.raw_request_bytes("POST", "/things/bi-big", body)
        sock = self.raw.connect()
        try:
            sock.sendall(head)
            sent = 0
            # Send the body until it is all out or the server has answered (it may answer early).
            while sent < len(body):
                readable, writable, _ = select.select([sock], [sock], [], 30)
                if readable:
                    break
                if not writable:
                    break
                try:
                    sent += sock.send(body[sent:sent + 65536])
                except OSError:
                    break    # the server stopped reading after answering
            resp = rawhttp.read_http_response(sock, timeout=30)
        finally:
            sock.close()
        self.assertIsNotNone(resp, "connection closed without a response to an oversized body")
        self.assertErrorShape(resp, (400, 413))
        self.assertNoThing("bi-big")
        self.assertStillServing()

    def test_huge_declared_content_length_is_refused_without_waiting_for_it(self):
        head = self.raw.raw_request_bytes("POST", "/things/bi-huge", b"{}", content_length=1 << 40)
        sock = self.raw.connect()
        try:
            sock.sendall(head + b"{}")
            resp = rawhttp.read_http_response(sock, timeout=30)
        finally:
            sock.close()
        self.assertIsNotNone(resp, "connection closed without a response")
        self.assertErrorShape(resp, (400, 413))
        self.assertNoThing("bi-huge")
        self.assertStillServing()

    def test_body_cut_short_then_closed(self):
        body = b'{"attributePayload":{"attributes":{"a":"1"}}}'
        head = self.raw.raw_request_bytes("POST", "/things/bi-short", body, content_length=100)
        sock = self.raw.connect()
        sock.sendall(head + body[:10])
        sock.close()
        self.assertStillServing()
        self.assertNoThing("bi-short")

    def test_body_cut_short_and_left_open_does_not_block_others(self):
        body = b'{"attributePayload":{"attributes":{"a":"1"}}}'
        head = self.raw.raw_request_bytes("POST", "/things/bi-stall", body, content_length=100)
        socks = []
        try:
            for _ in range(8):     # more stalled requests than the machine has cores
                s = self.raw.connect()
                s.sendall(head + body[:10])
                socks.append(s)
            self.assertStillServing()
            self.iot.create_thing(thingName="bi-during-stall")
            self.assertEqual(self.iot.describe_thing(thingName="bi-during-stall")["version"], 1)
        finally:
            for s in socks:
                s.close()
        self.assertNoThing("bi-stall")

    # ---- heads -----------------------------------------------------------
    def test_unfinished_headers_are_closed_by_the_server(self):
        sock = self.raw.connect()
        try:
            sock.sendall(b"GET /things HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Partial: never-end")
            data = self.read_until_closed(sock)
        finally:
            sock.close()
        self.assertHttp4xxOrNothing(data)
        self.assertStillServing()

    def test_silent_connection_is_closed_by_the_server(self):
        sock = self.raw.connect()
        try:
            data = self.read_until_closed(sock)
        finally:
            sock.close()
        self.assertHttp4xxOrNothing(data)

    def test_five_hundred_idle_connections(self):
        socks = []
        try:
            for i in range(500):
                s = self.raw.connect()
                if i % 2:
                    s.sendall(b"POST /things/bi-idle HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                socks.append(s)
            # A normal request still gets through, signed by boto3 and by hand.
            self.assertStillServing()
            resp = self.raw.signed("GET", "/things/bi-sentinel")
            self.assertEqual(resp.status, 200, resp)
            self.iot.create_thing(thingName="bi-among-idle")
        finally:
            for s in socks:
                s.close()
        self.assertEqual(self.iot.describe_thing(thingName="bi-among-idle")["thingName"], "bi-among-idle")
        self.assertNoThing("bi-idle")
        self.assertStillServing()

    def test_garbage_request_line(self):
        for junk in (b"HELLO WORLD\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
                     b"GET /things HTTP/9.9\r\nHost: x\r\n\r\n"):
            with self.subTest(junk=junk[:16]):
                sock = self.raw.connect()
                try:
                    sock.sendall(junk)
                    try:
                        sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    data = self.read_until_closed(sock)
                finally:
                    sock.close()
                self.assertHttp4xxOrNothing(data)
        self.assertStillServing()

    def test_oversized_header(self):
        sock = self.raw.connect()
        try:
            try:
                sock.sendall(b"GET /things HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (256 * 1024) + b"\r\n\r\n")
            except OSError:
                pass   # the server may cut us off part way
            data = self.read_until_closed(sock)
        finally:
            sock.close()
        self.assertHttp4xxOrNothing(data)
        self.assertStillServing()

    # ---- routing ---------------------------------------------------------
    def test_unknown_path_is_404_with_an_error_type(self):
        resp = self.raw.signed("GET", "/no-such-resource/at-all")
        self.assertErrorShape(resp, (404,))
        resp = self.raw.signed("POST", "/things/bi-x/no-such-sub-resource", b"{}")
        self.assertErrorShape(resp, (404,))
        self.assertNoThing("bi-x")

    def test_wrong_method_on_a_known_path(self):
        resp = self.raw.signed("PUT", "/things/bi-wrongmethod", b"{}")
        self.assertErrorShape(resp, (404, 405))
        self.assertNoThing("bi-wrongmethod")
        resp = self.raw.signed("DELETE", "/things")
        self.assertErrorShape(resp, (404, 405))
        self.assertStillServing()

    def test_bad_percent_encoding_in_the_path(self):
        resp = self.raw.signed("GET", "/things/%ZZbad")
        self.assertEqual(resp.status // 100, 4, resp)
        self.assertTrue(resp.error_type, resp)
        self.assertStillServing()

    # ---- last: nothing above disturbed what was stored -------------------
    def test_zz_sentinel_thing_is_unchanged_after_the_abuse(self):
        now = self.iot.describe_thing(thingName="bi-sentinel")
        for key in ("thingName", "thingId", "thingArn", "attributes", "version"):
            self.assertEqual(now[key], self.sentinel[key], key)
        self.assertIsNone(self.server.proc.poll())


if __name__ == "__main__":
    harness.main()

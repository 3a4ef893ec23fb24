"""MQTT 09: input no well-behaved client sends, over the plain listener and
over TLS. Packets before CONNECT, a wrong protocol name or level, oversized
or malformed Remaining Lengths, ill-formed UTF-8, wildcards in a PUBLISH
topic, a second CONNECT, bad fixed-header flags, TLS garbage, a client that
never sends CONNECT, a reader that never reads. Each gets its reason code or
a clean close, nothing else is disturbed, and afterwards the server still
serves a normal client (every test ends by checking that)."""
import os
import socket
import ssl
import time

import mqtt_helpers as mh
from mqtt_helpers import CONNACK, DISCONNECT, PUBLISH, SUBACK

TRANSPORTS = ("plain", "tls")


class BadInputTest(mh.MqttTestCase):
    plain_policy_document = mh.ALLOW_ALL

    def setUp(self):
        super().setUp()
        # Nothing a bad client sends may reach subscribers.
        self.watch = self.mqtt()
        self.watch_end = self.unique("b09-end")
        self.assertEqual(self.watch.subscribe([("#", 1), (self.watch_end, 1)]), [1, 1])

    def tearDown(self):
        if self.server.proc.poll() is not None:
            return   # assert_server_alive reports it
        self.sentinel(self.watch, self.mqtt(), self.watch_end)
        leaked = [m for m in self.watch.messages if m.topic.startswith("b09/")]   # what bad clients sent
        self.assertEqual(leaked, [], "bad input reached a subscriber")
        self.assert_still_serving()

    def assert_still_serving(self):
        super().assert_still_serving()
        c = self.mqtt(plain=True)
        topic = self.unique("health-plain")
        self.assertEqual(c.subscribe(topic, qos=1), [1])
        self.assertTrue(c.publish(topic, b"ok", qos=1))
        self.assertEqual([m.payload for m in c.wait_messages(1)], [b"ok"])
        c.disconnect()

    def open(self, transport):
        return self.raw_plain() if transport == "plain" else self.raw_tls()

    def connected(self, transport, level=4):
        raw = self.open(transport)
        self.assertEqual(raw.connect(level=level), (False, 0))
        return raw

    def assertClosedWith(self, raw, level, allowed_reasons, what):
        """The connection closes; a v5 connection may first get a DISCONNECT
        with one of allowed_reasons, a 3.1.1 connection gets nothing."""
        closed, packets = raw.wait_closed()
        self.assertTrue(closed, f"{what}: the connection stayed open")
        if level == 5 and packets:
            self.assertEqual([p.type for p in packets], [DISCONNECT], f"{what}: {packets}")
            self.assertIn(mh.disconnect_reason(packets[0]), allowed_reasons, what)
        else:
            self.assertEqual(packets, [], what)

    # ---- before and during CONNECT -----------------------------------------
    def test_packets_before_connect(self):
        for transport in TRANSPORTS:
            for name, data in (("publish", mh.publish_packet("b09/early", b"x")),
                               ("subscribe", mh.subscribe_packet(1, [("b09/#", 0)])),
                               ("pingreq", mh.PINGREQ_PACKET),
                               ("connack", mh.packet(CONNACK, 0, b"\x00\x00")),
                               ("disconnect", mh.disconnect_packet())):
                raw = self.open(transport)
                raw.send(data)
                closed, packets = raw.wait_closed()
                self.assertTrue(closed, f"{transport} {name}")
                self.assertEqual([p.type for p in packets if p.type != DISCONNECT], [], f"{transport} {name}")

    def test_wrong_protocol_name(self):
        for transport in TRANSPORTS:
            for name, level in (("MQTX", 4), ("mqtt", 4), ("", 4), ("MQTT\x00", 5)):
                raw = self.open(transport)
                raw.send(mh.connect_packet("b09-name", level=level, protocol_name=name))
                closed, packets = raw.wait_closed()
                self.assertTrue(closed, f"{transport} {name!r}")
                # No CONNACK, or one that refuses.
                for p in packets:
                    self.assertEqual(p.type, CONNACK, packets)
                    self.assertNotEqual(mh.parse_connack(p)[1], 0, packets)
            # MQTT 3.1's name and level: "unacceptable protocol version" (what makes clients fall back).
            raw = self.open(transport)
            raw.send(mh.connect_packet("b09-31", level=3, protocol_name="MQIsdp"))
            closed, packets = raw.wait_closed()
            self.assertTrue(closed)
            if packets:
                self.assertEqual([(p.type, p.body) for p in packets], [(CONNACK, b"\x00\x01")])

    def test_unknown_protocol_level(self):
        for transport in TRANSPORTS:
            for level in (0, 2, 3, 6, 255):
                raw = self.open(transport)
                raw.send(mh.connect_packet("b09-level", level=level))
                closed, packets = raw.wait_closed()
                self.assertTrue(closed, f"{transport} level {level}")
                self.assertEqual(len(packets), 1, f"{transport} level {level}: {packets}")
                self.assertEqual(packets[0].type, CONNACK)
                # 3.1.1's "unacceptable protocol version", or v5's 0x84 (with a property length).
                self.assertIn(bytes(packets[0].body), (b"\x00\x01", b"\x00\x84\x00"), f"level {level}")

    def test_malformed_connect(self):
        cases = {
            "reserved flag": mh.connect_packet("b09-flag", reserved_flag=True),
            "will qos 3": mh.connect_packet("b09-wq3", will={"topic": "b09/w", "qos": 3}),
            "password without user name": mh.connect_packet("b09-pw", password="secret"),
            "truncated": mh.packet(mh.CONNECT, 0, mh.string("MQTT") + b"\x04\x02"),
            "trailing bytes": mh.packet(mh.CONNECT, 0, mh.connect_packet("b09-trail")[2:] + b"\x00"),
            "wrong flags in the fixed header": bytes([0x11]) + mh.connect_packet("b09-fh")[1:],
            "client id not utf-8": mh.connect_packet(b"b09-\xff\xfe"),
        }
        for transport in TRANSPORTS:
            for name, data in cases.items():
                raw = self.open(transport)
                raw.send(data)
                closed, packets = raw.wait_closed()
                self.assertTrue(closed, f"{transport}: {name}")
                for p in packets:   # no CONNACK, or a refusing one
                    self.assertEqual(p.type, CONNACK, f"{name}: {packets}")
                    self.assertNotEqual(mh.parse_connack(p)[1], 0, f"{name}: {packets}")

    def test_empty_client_id_needs_clean_session(self):
        for transport in TRANSPORTS:
            raw = self.open(transport)
            self.assertEqual(raw.connect("", level=4, clean=False), (False, 2))   # identifier rejected
            self.assertTrue(raw.wait_closed()[0])

    def test_oversized_remaining_length(self):
        for transport in TRANSPORTS:
            # Five length bytes: not a Remaining Length at all.
            raw = self.open(transport)
            raw.send(bytes([0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]))
            self.assertTrue(raw.wait_closed()[0], f"{transport}: 5-byte length before CONNECT")
            # A CONNECT announcing 200 MB: refused on the header, without waiting for the body.
            raw = self.open(transport)
            raw.send(bytes([0x10]) + mh.varint(200 * 1024 * 1024) + mh.string("MQTT") + b"\x04\x02\x00\x3c")
            self.assertTrue(raw.wait_closed()[0], f"{transport}: 200 MB CONNECT")
            for level in (4, 5):
                raw = self.connected(transport, level)
                raw.send(bytes([0x30]) + mh.varint(mh.MAX_REMAINING_LENGTH) + mh.string("b09/huge"))
                self.assertClosedWith(raw, level, (0x95, 0x81), f"{transport} v{level}: 256 MB PUBLISH")
                raw = self.connected(transport, level)
                raw.send(bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))
                self.assertClosedWith(raw, level, (0x81, 0x95), f"{transport} v{level}: 5-byte length")

    # ---- after CONNECT ----------------------------------------------------------
    def test_invalid_utf8_topic(self):
        bad_topics = {"invalid byte": b"b09/\xff\xfe", "overlong": b"b09/\xc0\xaf", "surrogate": b"b09/\xed\xa0\x80",
                      "truncated": b"b09/\xe2\x82", "nul": b"b09/a\x00b"}
        for transport in TRANSPORTS:
            for level in (4, 5):
                for name, topic in bad_topics.items():
                    raw = self.connected(transport, level)
                    raw.send(mh.publish_packet(topic, b"x", qos=1, pid=1, level=level))
                    self.assertClosedWith(raw, level, (0x81, 0x82, 0x90), f"{transport} v{level} {name}")
            raw = self.connected(transport)
            raw.send(mh.subscribe_packet(1, [(b"b09/\xff", 0)]))
            closed, packets = raw.wait_closed()
            self.assertTrue(closed, f"{transport}: SUBSCRIBE with ill-formed UTF-8")
            self.assertEqual(packets, [])

    def test_wildcards_in_a_publish_topic(self):
        for transport in TRANSPORTS:
            for level in (4, 5):
                for topic in ("b09/+/x", "b09/#", "#", "b09/a+"):
                    raw = self.connected(transport, level)
                    raw.send(mh.publish_packet(topic, b"x", level=level))
                    self.assertClosedWith(raw, level, (0x90, 0x82, 0x81), f"{transport} v{level} {topic}")

    def test_second_connect(self):
        for transport in TRANSPORTS:
            for level in (4, 5):
                raw = self.connected(transport, level)
                raw.send(mh.connect_packet(self.unique("b09-again"), level=level))
                self.assertClosedWith(raw, level, (0x82,), f"{transport} v{level}")

    def test_bad_packets_after_connect(self):
        cases = {
            "publish qos 3": mh.packet(PUBLISH, 0x06, mh.string("b09/q3") + b"\x00\x01x"),
            "publish qos 1 packet id 0": mh.publish_packet("b09/pid0", b"x", qos=1, pid=0),
            "publish dup at qos 0": mh.packet(PUBLISH, 0x08, mh.string("b09/dup") + b"x"),
            "empty topic": mh.publish_packet("", b"x"),
            "subscribe flags 0": mh.subscribe_packet(1, [("b09/f", 0)], flags=0),
            "subscribe without filters": mh.packet(mh.SUBSCRIBE, 0x02, b"\x00\x01"),
            "subscribe qos 3": mh.subscribe_packet(1, [("b09/s", 3)]),
            "unsubscribe without filters": mh.packet(mh.UNSUBSCRIBE, 0x02, b"\x00\x01"),
            "pingreq with a body": mh.packet(mh.PINGREQ, 0, b"\x00"),
            "packet type 0": mh.packet(0, 0, b""),
            "auth in 3.1.1": mh.packet(mh.AUTH, 0, b""),
            "connack from a client": mh.packet(CONNACK, 0, b"\x00\x00"),
            "suback from a client": mh.packet(SUBACK, 0, b"\x00\x01\x00"),
            # (Random bytes may well announce a long packet that is legitimately waited for.)
            "zero bytes": b"\x00" * 64,
            "0xff bytes": b"\xff" * 64,
        }
        for transport in TRANSPORTS:
            for name, data in cases.items():
                raw = self.connected(transport, 4)
                raw.send(data)
                closed, packets = raw.wait_closed()
                self.assertTrue(closed, f"{transport}: {name}")
                self.assertEqual(packets, [], f"{transport}: {name}")

    def test_v5_topic_alias_out_of_range(self):
        for transport in TRANSPORTS:
            raw = self.connected(transport, 5)
            raw.send(mh.publish_packet("b09/alias", b"x", level=5, props=mh.prop_u16(0x23, 1000)))
            self.assertClosedWith(raw, 5, (0x94,), f"{transport}: topic alias 1000")
            raw = self.connected(transport, 5)
            raw.send(mh.publish_packet("", b"x", level=5, props=mh.prop_u16(0x23, 1)))   # alias never set
            self.assertClosedWith(raw, 5, (0x82, 0x94), f"{transport}: unknown topic alias")

    def test_half_a_packet_then_gone(self):
        for transport in TRANSPORTS:
            raw = self.connected(transport, 4)
            raw.send(mh.publish_packet("b09/half", b"x" * 1000)[:200])
            raw.close()
            raw = self.open(transport)
            raw.send(mh.connect_packet("b09-half")[:5])
            raw.close()

    # ---- TLS -------------------------------------------------------------------
    def test_garbage_to_the_tls_port(self):
        for name, data in (("random", os.urandom(512)), ("http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                           ("plain mqtt", mh.connect_packet("b09-notls")),
                           ("truncated hello", bytes.fromhex("160301020001"))):
            raw = mh.RawClient.tcp_to_tls_port(self.server)
            self.addCleanup(raw.close)
            raw.send(data)
            if name == "truncated hello":
                raw.sock.shutdown(socket.SHUT_WR)
            closed, _ = raw.wait_closed(15)
            self.assertTrue(closed, name)

    def test_clients_closing_right_after_the_tls_handshake(self):
        # The server still writes (TLS 1.3 session tickets, a CONNACK) to a socket the peer has
        # closed: EPIPE, which must be an error on that connection, not a SIGPIPE for the process.
        ctx = mh.tls_context(self.server.ready["root_ca"], self.admin)
        port = mh.mqtt_port(self.server)
        for i in range(60):
            sock = socket.create_connection((mh.HOST, port), timeout=mh.WAIT)
            try:
                tls = ctx.wrap_socket(sock, server_hostname=mh.HOST)
            except OSError as e:
                sock.close()
                self.fail(f"handshake {i} failed: {e!r}; server exit code {self.server.proc.poll()}")
            if i % 3 == 1:
                tls.sendall(mh.connect_packet(self.unique("b09-gone")))   # the CONNACK will find no reader
            elif i % 3 == 2:
                tls.sendall(mh.connect_packet("b09-half")[:5])
            tls.close()
        self.assertIsNone(self.server.proc.poll(), "the server died")

    def test_tls_to_the_plain_port(self):
        ctx = mh.tls_context(self.server.ready["root_ca"], self.admin)
        sock = socket.create_connection((mh.HOST, mh.mqtt_port(self.server, plain=True)), timeout=15)
        self.addCleanup(sock.close)
        with self.assertRaises((ssl.SSLError, OSError)):
            ctx.wrap_socket(sock, server_hostname=mh.HOST)

    # ---- clients that do nothing, or read nothing ----------------------------------
    def test_client_that_never_sends_connect_is_closed(self):
        idle = [self.open("plain"), self.open("tls"), mh.RawClient.tcp_to_tls_port(self.server)]
        self.addCleanup(idle[2].close)
        start = time.monotonic()
        # Meanwhile everybody else is served.
        self.assert_still_serving()
        for raw in idle:
            closed, packets = raw.wait_closed(max(1.0, 40 - (time.monotonic() - start)))
            self.assertTrue(closed, "a connection without CONNECT was kept for 40 s")
            self.assertEqual(packets, [])

    def test_slow_reader_does_not_stall_others(self):
        topic = self.unique("flood")
        # A subscriber with a tiny receive buffer that never reads.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect((mh.HOST, mh.mqtt_port(self.server)))
        ctx = mh.tls_context(self.server.ready["root_ca"], self.admin)
        slow = mh.RawClient(ctx.wrap_socket(sock, server_hostname=mh.HOST))
        self.addCleanup(slow.close)
        self.assertEqual(slow.connect(level=4), (False, 0))
        slow.send(mh.subscribe_packet(1, [(topic + "/#", 1)]))
        self.assertEqual(mh.parse_suback(slow.expect(SUBACK)), (1, [1]))
        fast = self.mqtt()
        self.assertEqual(fast.subscribe(topic + "/#", qos=0), [0])
        pub = self.mqtt()
        chunk = os.urandom(60 * 1024)
        flood = [pub.client.publish(f"{topic}/data", chunk, qos=0) for _ in range(200)]   # 12 MB
        self.assertTrue(mh.wait_for(lambda: all(i.is_published() for i in flood), 60), "the publisher was stalled")
        # The publisher still gets its acknowledgements, the fast subscriber its messages,
        # and new clients are served, while the slow one still has not read a byte.
        self.assertTrue(pub.publish(f"{topic}/marker", b"after the flood", qos=1, timeout=30))
        got = mh.wait_for(lambda: any(m.payload == b"after the flood" for m in fast.messages), 60)
        self.assertTrue(got, "the fast subscriber did not get the message sent after the flood")
        other = self.mqtt()
        self.assertTrue(other.publish(self.unique("other"), b"x", qos=1))


if __name__ == "__main__":
    mh.main()

"""MQTT 10: limits, AWS IoT's and MQTT 5's. Topics and filters of at most 256
bytes and 7 slashes (a reserved topic's first levels not counted); payloads
up to 128 KB (a larger packet: v5 DISCONNECT 0x95 or a close); 8 filters per
SUBSCRIBE, 50 subscriptions per session; client ids up to 128 bytes; the
keep-alive cap announced as Server Keep Alive; and the client's own limits:
Maximum Packet Size and Receive Maximum."""

import mqtt_helpers as mh
from mqtt_helpers import DISCONNECT, PUBACK, PUBLISH, SUBACK


class LimitsTest(mh.MqttTestCase):

    def watcher(self, topic_filter):
        w = self.mqtt()
        w.end_topic = self.unique("l10-end")
        self.assertEqual(w.subscribe([(topic_filter, 1), (w.end_topic, 1)]), [1, 1])
        return w

    def seen(self, watcher):
        self.sentinel(watcher, self.mqtt(), watcher.end_topic)
        return [m for m in watcher.messages if m.topic != watcher.end_topic]

    def assertPublishRefused(self, topic, payload=b"x", v5=False, reasons=(0x90,)):
        c = self.mqtt(v5=v5)
        c.publish(topic, payload, qos=1)
        self.assertClosed(c, msg=f"publishing {len(topic)} bytes / {topic.count('/')} slashes was accepted")
        if c.disconnect_reason is not None:
            self.assertIn(c.disconnect_reason, reasons)

    def test_topic_length(self):
        base = self.unique("l10/len")
        w = self.watcher(base + "/#")
        ok = base + "/" + "a" * (256 - len(base) - 1)
        too_long = ok + "b"
        self.assertEqual(len(ok.encode()), 256)
        c = self.mqtt()
        self.assertTrue(c.publish(ok, b"256", qos=1))
        for v5 in (False, True):
            self.assertPublishRefused(too_long, v5=v5)
        self.assertEqual([(m.topic, m.payload) for m in self.seen(w)], [(ok, b"256")])
        for v5 in (False, True):
            s = self.mqtt(v5=v5)
            got = s.subscribe([(ok, 1), (too_long, 1)])
            self.assertEqual(got[0], 1)
            self.assertGreaterEqual(got[1], 0x80, f"a {len(too_long)}-byte filter was granted")
            self.assertFalse(s.closed)

    def test_topic_slashes(self):
        base = self.unique("l10-slash")   # no slash in it
        seven = base + "/a" * 7
        eight = base + "/a" * 8
        w = self.watcher(base + "/#")
        self.assertTrue(self.mqtt().publish(seven, b"7", qos=1))
        for v5 in (False, True):
            self.assertPublishRefused(eight, v5=v5)
        self.assertEqual([m.payload for m in self.seen(w)], [b"7"])
        s = self.mqtt()
        got = s.subscribe([(seven, 1), (eight, 1), (base + "/+/+/+/+/+/+/#", 1), (base + "/+/+/+/+/+/+/+/#", 1)])
        self.assertEqual(got[0], 1)
        self.assertEqual(got[1], 0x80)
        self.assertEqual(got[2], 1)
        self.assertEqual(got[3], 0x80)
        # A reserved topic's first levels do not count: $aws/things/<thing>/ + 6 more slashes is fine,
        # + 8 more is not, however the first levels are counted.
        thing = self.unique("l10-thing")
        got = s.subscribe([(f"$aws/things/{thing}" + "/x" * 6, 1), (f"$aws/things/{thing}" + "/x" * 9, 1)])
        self.assertEqual(got[0], 1)
        self.assertGreaterEqual(got[1], 0x80)

    def test_payload_size(self):
        topic = self.unique("l10/big")
        w = self.watcher(topic)
        big = bytes(range(256)) * 512   # 128 KiB
        self.assertEqual(len(big), 128 * 1024)
        for v5 in (False, True):
            c = self.mqtt(v5=v5)
            self.assertTrue(c.publish(topic, big, qos=1), f"v5={v5}: a 128 KiB payload was refused")
            c.disconnect()
        for v5 in (False, True):
            self.assertPublishRefused(topic, payload=b"x" * 140000, v5=v5, reasons=(0x95,))
        got = self.seen(w)
        self.assertEqual([len(m.payload) for m in got], [len(big), len(big)])
        self.assertTrue(all(m.payload == big for m in got))

    def test_mosquitto_pub_of_a_too_large_payload(self):
        topic = self.unique("l10/mosqbig")
        w = self.watcher(topic)
        # 3.1.1: the broker ends the connection, mosquitto_pub reports it.
        p = mh.mosquitto_pub(self.server, self.admin, topic, b"y" * 140000, qos=1)
        self.assertNotEqual(p.returncode, 0)
        # v5: mosquitto_pub heeds the CONNACK's Maximum Packet Size and does not even send it.
        mh.mosquitto_pub(self.server, self.admin, topic, b"y" * 140000, qos=1, version="mqttv5")
        self.assertEqual(self.seen(w), [])

    def test_filters_per_subscribe(self):
        base = self.unique("l10/per")
        for level in (4, 5):
            raw = self.raw_tls()
            self.assertEqual(raw.connect(level=level), (False, 0))
            raw.send(mh.subscribe_packet(1, [(f"{base}/{i}", 1) for i in range(8)], level=level))
            self.assertEqual(mh.parse_suback(raw.expect(SUBACK), level), (1, [1] * 8))
            raw.send(mh.subscribe_packet(2, [(f"{base}/n{i}", 1) for i in range(9)], level=level))
            closed, packets = raw.wait_closed()
            self.assertTrue(closed, f"v{level}: 9 filters in one SUBSCRIBE were accepted")
            if level == 5 and packets:
                self.assertEqual([(p.type, mh.disconnect_reason(p)) for p in packets], [(DISCONNECT, 0x97)])
            else:
                self.assertEqual(packets, [])

    def test_subscriptions_per_session(self):
        base = self.unique("l10/many")
        for v5 in (False, True):
            c = self.mqtt(v5=v5)
            for start in range(0, 50, 8):
                filters = [(f"{base}/{i}", 1) for i in range(start, min(start + 8, 50))]
                self.assertEqual(c.subscribe(filters), [1] * len(filters))
            self.assertEqual(c.subscribe(f"{base}/7", qos=0), [0])   # the same filter again: still 50
            got = c.subscribe(f"{base}/50", qos=1)
            self.assertGreaterEqual(got[0], 0x80, f"v5={v5}: a 51st subscription was granted")
            self.assertFalse(c.closed)
            self.assertEqual(c.unsubscribe([f"{base}/0"]), [0] if v5 else [])
            self.assertEqual(c.subscribe(f"{base}/50", qos=1), [1])
            c.disconnect()

    def test_client_id_length(self):
        ok = "c" * 128
        for v5, refused in ((False, 2), (True, 0x85)):
            c = self.mqtt(v5=v5, client_id=ok)
            c.disconnect()
            c = self.mqtt(v5=v5, client_id=ok + "c", connect=False)
            self.assertEqual(c.connect(), refused)

    def test_keep_alive_cap_is_announced(self):
        c = self.mqtt(v5=True, keepalive=3000)
        self.assertEqual(c.connack_properties.ServerKeepAlive, 1200)
        ok = self.mqtt(v5=True, keepalive=60)
        self.assertEqual(getattr(ok.connack_properties, "ServerKeepAlive", 60), 60)

    def test_client_maximum_packet_size(self):
        topic = self.unique("l10/maxpkt")
        small = self.mqtt(v5=True, properties=mh.paho_properties("CONNECT", MaximumPacketSize=1024))
        small.end_topic = self.unique("l10-end")
        self.assertEqual(small.subscribe([(topic, 1), (small.end_topic, 1)]), [1, 1])
        w = self.watcher(topic)
        pub = self.mqtt()
        self.assertTrue(pub.publish(topic, b"s" * 2000, qos=1))
        self.assertTrue(pub.publish(topic, b"fits", qos=1))
        self.sentinel(small, pub, small.end_topic)
        self.assertEqual([m.payload for m in small.messages if m.topic == topic], [b"fits"])
        self.assertFalse(small.closed)
        self.assertEqual([len(m.payload) for m in self.seen(w)], [2000, 4])

    def test_client_receive_maximum(self):
        topic = self.unique("l10/rxmax")
        raw = self.raw_tls()
        self.assertEqual(raw.connect(level=5, props=mh.prop_u16(mh.PROP_RECEIVE_MAXIMUM, 2)), (False, 0))
        raw.send(mh.subscribe_packet(1, [(topic, 1)], level=5))
        self.assertEqual(mh.parse_suback(raw.expect(SUBACK), 5), (1, [1]))
        pub = self.mqtt()
        for i in range(5):
            self.assertTrue(pub.publish(topic, str(i).encode(), qos=1))
        first = [mh.parse_publish(raw.expect(PUBLISH), 5) for _ in range(2)]
        self.assertEqual([p["payload"] for p in first], [b"0", b"1"])
        # Nothing more until one is acknowledged.
        raw.send(mh.PINGREQ_PACKET)
        self.assertEqual(raw.read_packet().type, mh.PINGRESP)
        with self.assertRaises(TimeoutError):
            raw.read_packet(mh.QUIET)
        got = []
        for p in first:
            raw.send(mh.ack_packet(PUBACK, p["pid"], 5))
        while len(got) < 3:
            p = mh.parse_publish(raw.expect(PUBLISH), 5)
            got.append(p["payload"])
            raw.send(mh.ack_packet(PUBACK, p["pid"], 5))
        self.assertEqual(got, [b"2", b"3", b"4"])

    def test_connack_announces_the_limits(self):
        c = self.mqtt(v5=True)
        props = c.connack_properties
        self.assertLessEqual(props.MaximumPacketSize, 128 * 1024 + 1024 * 4)
        self.assertGreaterEqual(props.MaximumPacketSize, 128 * 1024)
        self.assertEqual(props.TopicAliasMaximum, 8)
        self.assertGreaterEqual(props.ReceiveMaximum, 1)


if __name__ == "__main__":
    mh.main()

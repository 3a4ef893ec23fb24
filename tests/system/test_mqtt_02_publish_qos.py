"""MQTT 02: publishing at QoS 0, 1 and 2 (PUBACK; PUBREC/PUBREL/PUBCOMP),
delivery at the lower of the published and the granted QoS, payloads kept
byte for byte, order kept, MQTT 5 properties forwarded, 3.1.1 and 5.0
clients talking to each other."""
import struct

import mqtt_helpers as mh
from mqtt_helpers import PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK


def pid_of(pkt):
    return struct.unpack("!H", pkt.body[:2])[0]


class PublishQosTest(mh.MqttTestCase):

    def test_each_qos_round_trips(self):
        for v5 in (False, True):
            topic = self.unique("q02/round")
            sub = self.mqtt(v5=v5)
            self.assertEqual(sub.subscribe(topic, qos=2), [2])
            pub = self.mqtt(v5=v5)
            for qos in (0, 1, 2):
                self.assertTrue(pub.publish(topic, f"qos{qos}".encode(), qos=qos), f"v5={v5} qos={qos}")
            got = sub.wait_messages(3)
            self.assertEqual([(m.topic, m.payload, m.qos) for m in got],
                             [(topic, b"qos0", 0), (topic, b"qos1", 1), (topic, b"qos2", 2)], f"v5={v5}")
            self.assertFalse(any(m.retain for m in got))

    def test_delivery_qos_is_the_lower_of_publish_and_subscription(self):
        topic = self.unique("q02/min")
        subs = {}
        for granted in (0, 1, 2):
            subs[granted] = self.mqtt()
            self.assertEqual(subs[granted].subscribe(topic, qos=granted), [granted])
        pub = self.mqtt(v5=True)
        for qos in (0, 1, 2):
            self.assertTrue(pub.publish(topic, f"{qos}".encode(), qos=qos))
        for granted, sub in subs.items():
            got = sub.wait_messages(3)
            self.assertEqual([(m.payload, m.qos) for m in got],
                             [(b"0", 0), (b"1", min(1, granted)), (b"2", min(2, granted))], f"granted {granted}")

    def test_raw_publisher_flows(self):
        watcher = self.mqtt()
        for level in (4, 5):
            topic = self.unique("q02/raw")
            # QoS 1, not 2: paho hands a QoS 2 message over only after the PUBREL,
            # which would let a later QoS 0 message overtake it in the watcher.
            self.assertEqual(watcher.subscribe(topic, qos=1), [1])
            raw = self.raw_tls()
            self.assertEqual(raw.connect(level=level), (False, 0))
            # QoS 1: PUBACK with the same packet id (v5: success, or 0x10 no matching subscribers).
            raw.send(mh.publish_packet(topic, b"one", qos=1, pid=7, level=level))
            ack = raw.expect(PUBACK)
            self.assertEqual(pid_of(ack), 7)
            if level == 5 and len(ack.body) > 2:
                self.assertIn(ack.body[2], (0x00, 0x10))
            # QoS 2: PUBREC, then PUBREL -> PUBCOMP; sent twice before the PUBREL, delivered once.
            raw.send(mh.publish_packet(topic, b"two", qos=2, pid=8, level=level))
            self.assertEqual(pid_of(raw.expect(PUBREC)), 8)
            raw.send(mh.publish_packet(topic, b"two", qos=2, pid=8, level=level, dup=True))
            self.assertEqual(pid_of(raw.expect(PUBREC)), 8)
            raw.send(mh.ack_packet(PUBREL, 8, level))
            comp = raw.expect(PUBCOMP)
            self.assertEqual(pid_of(comp), 8)
            if level == 5 and len(comp.body) > 2:
                self.assertEqual(comp.body[2], 0)
            # QoS 0: nothing comes back; the sentinel proves the order.
            raw.send(mh.publish_packet(topic, b"zero", qos=0, level=level))
            raw.send(mh.publish_packet(topic, b"end", qos=1, pid=9, level=level))
            self.assertEqual(pid_of(raw.expect(PUBACK)), 9)
            got = watcher.wait_messages(4, topic=topic)
            self.assertEqual([m.payload for m in got], [b"one", b"two", b"zero", b"end"])
            raw.send(mh.disconnect_packet(level))

    def test_raw_subscriber_flows(self):
        for level in (4, 5):
            topic = self.unique("q02/rawsub")
            raw = self.raw_tls()
            self.assertEqual(raw.connect(level=level), (False, 0))
            raw.send(mh.subscribe_packet(3, [(topic, 2)], level=level))
            self.assertEqual(mh.parse_suback(raw.expect(SUBACK), level), (3, [2]))
            pub = self.mqtt()
            self.assertTrue(pub.publish(topic, b"at least once", qos=1))
            p1 = mh.parse_publish(raw.expect(PUBLISH), level)
            self.assertEqual((p1["topic"], p1["payload"], p1["qos"]), (topic, b"at least once", 1))
            self.assertNotIn(p1["pid"], (None, 0))
            raw.send(mh.ack_packet(PUBACK, p1["pid"], level))
            self.assertTrue(pub.publish(topic, b"exactly once", qos=2))
            p2 = mh.parse_publish(raw.expect(PUBLISH), level)
            self.assertEqual((p2["payload"], p2["qos"]), (b"exactly once", 2))
            self.assertNotIn(p2["pid"], (None, 0))
            raw.send(mh.ack_packet(PUBREC, p2["pid"], level))
            rel = raw.expect(PUBREL)
            self.assertEqual((rel.flags, pid_of(rel)), (0x02, p2["pid"]))
            raw.send(mh.ack_packet(PUBCOMP, p2["pid"], level))
            raw.send(mh.PINGREQ_PACKET)
            self.assertEqual(raw.read_packet().type, mh.PINGRESP)   # nothing else was due
            raw.send(mh.disconnect_packet(level))

    def test_mosquitto_clients_at_each_qos(self):
        topic = self.unique("q02/mosq")
        sub = self.mosquitto_sub(topic, qos=2)
        self.assertEqual(sub.granted, [2])
        for qos in (0, 1, 2):
            p = mh.mosquitto_pub(self.server, self.admin, topic, f"m{qos}", qos=qos, version="mqttv5")
            self.assertEqual(p.returncode, 0, p.stderr)
        got = sub.wait_messages(3)
        self.assertEqual([(m.payload, m.qos) for m in got], [(b"m0", 0), (b"m1", 1), (b"m2", 2)])

    def test_payloads_arrive_byte_for_byte(self):
        topic = self.unique("q02/bytes")
        sub = self.mosquitto_sub(topic, qos=1)
        paho_sub = self.mqtt(v5=True)
        self.assertEqual(paho_sub.subscribe(topic, qos=1), [1])
        payloads = [bytes(range(256)), b"", b"\x00" * 10, "h\u00e9llo \u2603".encode(), bytes(range(256)) * 400]
        pub = self.mqtt()
        for p in payloads:
            self.assertTrue(pub.publish(topic, p, qos=1))
        via_mosquitto = [m.payload for m in sub.wait_messages(len(payloads))]
        via_paho = [m.payload for m in paho_sub.wait_messages(len(payloads))]
        self.assertEqual(via_mosquitto, payloads)
        self.assertEqual(via_paho, payloads)
        # mosquitto_pub's bytes, too.
        p = mh.mosquitto_pub(self.server, self.admin, topic, bytes(range(255, -1, -1)), qos=1)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(paho_sub.wait_messages(len(payloads) + 1)[-1].payload, bytes(range(255, -1, -1)))

    def test_order_is_kept_per_publisher(self):
        topic = self.unique("q02/order")
        sub = self.mqtt()
        self.assertEqual(sub.subscribe(topic, qos=1), [1])
        pub = self.mqtt()
        infos = [pub.client.publish(topic, str(i).encode(), qos=1) for i in range(200)]
        self.assertTrue(mh.wait_for(lambda: all(i.is_published() for i in infos)), "not all PUBACKs came")
        got = sub.wait_messages(200)
        self.assertEqual([int(m.payload) for m in got], list(range(200)))

    def test_publish_without_subscribers_is_acknowledged(self):
        pub = self.mqtt()
        for qos in (1, 2):
            self.assertTrue(pub.publish(self.unique("q02/nobody"), b"x", qos=qos))
        self.assertFalse(pub.closed)

    def test_v5_properties_are_forwarded(self):
        topic = self.unique("q02/props")
        sub = self.mqtt(v5=True)
        self.assertEqual(sub.subscribe(topic, qos=1), [1])
        props = mh.paho_properties("PUBLISH", UserProperty=[("a", "1"), ("b", "two"), ("a", "3")],
                                   ContentType="application/json", ResponseTopic=topic + "/reply",
                                   CorrelationData=b"\x01\x02corr", PayloadFormatIndicator=1)
        pub = self.mqtt(v5=True)
        self.assertTrue(pub.publish(topic, b'{"k": 1}', qos=1, properties=props))
        (m,) = sub.wait_messages(1)
        self.assertEqual(m.payload, b'{"k": 1}')
        got = m.properties
        self.assertEqual(list(got.UserProperty), [("a", "1"), ("b", "two"), ("a", "3")])
        self.assertEqual(got.ContentType, "application/json")
        self.assertEqual(got.ResponseTopic, topic + "/reply")
        self.assertEqual(got.CorrelationData, b"\x01\x02corr")
        self.assertEqual(got.PayloadFormatIndicator, 1)

    def test_v5_topic_alias(self):
        topic = self.unique("q02/alias")
        sub = self.mqtt()
        self.assertEqual(sub.subscribe(topic, qos=1), [1])
        raw = self.raw_tls()
        self.assertEqual(raw.connect(level=5), (False, 0))
        alias = mh.prop_u16(0x23, 3)
        raw.send(mh.publish_packet(topic, b"named", qos=1, pid=1, level=5, props=alias))
        self.assertEqual(pid_of(raw.expect(PUBACK)), 1)
        raw.send(mh.publish_packet("", b"aliased", qos=1, pid=2, level=5, props=alias))
        self.assertEqual(pid_of(raw.expect(PUBACK)), 2)
        got = sub.wait_messages(2)
        self.assertEqual([(m.topic, m.payload) for m in got], [(topic, b"named"), (topic, b"aliased")])

    def test_3_1_1_and_5_clients_exchange_messages(self):
        topic = self.unique("q02/mixed")
        old, new = self.mqtt(v5=False), self.mqtt(v5=True)
        self.assertEqual(old.subscribe(topic, qos=1), [1])
        self.assertEqual(new.subscribe(topic, qos=1), [1])
        self.assertTrue(old.publish(topic, b"from 3.1.1", qos=1))
        self.assertTrue(new.publish(topic, b"from 5", qos=1))
        for c in (old, new):
            self.assertEqual([m.payload for m in c.wait_messages(2)], [b"from 3.1.1", b"from 5"])


if __name__ == "__main__":
    mh.main()

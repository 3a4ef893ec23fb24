"""MQTT 06: persistent sessions. 3.1.1 Clean Session 0 and v5 Session Expiry
> 0 keep subscriptions and queue QoS 1 messages while the client is away;
the reconnect gets Session Present 1 and the queue in order; unacknowledged
deliveries are sent again (DUP, same packet id); a clean session discards
it; sessions expire; and all of it survives a server restart."""
import time

import mqtt_helpers as mh
from mqtt_helpers import PUBLISH, PUBREC, PUBREL, SUBACK


def expiry(seconds):
    return mh.paho_properties("CONNECT", SessionExpiryInterval=seconds)


class PersistentSessionTest(mh.MqttTestCase):

    def persistent(self, cid, v5=False, session_expiry=300, connect=True):
        if v5:
            return self.mqtt(v5=True, client_id=cid, clean=False, properties=expiry(session_expiry), connect=connect)
        return self.mqtt(v5=False, client_id=cid, clean=False, connect=connect)

    def publish_numbered(self, topic, numbers, qos=1):
        pub = self.mqtt()
        for n in numbers:
            self.assertTrue(pub.publish(topic, str(n).encode(), qos=qos))
        pub.disconnect()

    def test_subscriptions_and_qos1_messages_wait_for_the_client(self):
        for v5 in (False, True):
            cid, topic = self.unique("p06-keep"), self.unique("p06/keep")
            first = self.persistent(cid, v5)
            self.assertFalse(first.session_present)
            self.assertEqual(first.subscribe(topic, qos=1), [1])
            first.disconnect()
            self.publish_numbered(topic, range(5))
            back = self.persistent(cid, v5)
            self.assertTrue(back.session_present, f"v5={v5}")
            got = back.wait_messages(5)
            self.assertEqual([(m.payload, m.qos) for m in got], [(str(n).encode(), 1) for n in range(5)], f"v5={v5}")
            # The subscription is still there without subscribing again.
            self.publish_numbered(topic, [5])
            self.assertEqual(back.wait_messages(6)[-1].payload, b"5")
            back.disconnect()

    def test_mosquitto_sub_persistent_session(self):
        cid, topic = self.unique("p06-mosq"), self.unique("p06/mosq")
        sub = self.mosquitto_sub(topic, qos=1, client_id=cid, extra=["-c"])
        sub.stop()
        self.publish_numbered(topic, ["a", "b"])
        msgs, rc, again = mh.mosquitto_sub_once(self.server, self.admin, topic, count=2, wait=10, qos=1,
                                                client_id=cid, extra=["-c"])
        self.assertEqual(rc, 0, again.stderr)
        self.assertEqual([m.payload for m in msgs], [b"a", b"b"])

    def test_clean_session_discards_the_stored_one(self):
        cid, topic = self.unique("p06-clean"), self.unique("p06/clean")
        first = self.persistent(cid)
        self.assertEqual(first.subscribe(topic, qos=1), [1])
        first.disconnect()
        self.publish_numbered(topic, [1])
        clean = self.mqtt(client_id=cid, clean=True)
        self.assertFalse(clean.session_present)
        # Neither the queued message nor the subscription survived.
        clean.end_topic = self.unique("p06-end")
        self.assertEqual(clean.subscribe(clean.end_topic, qos=1), [1])
        self.publish_numbered(topic, [2])
        self.sentinel(clean, self.mqtt(), clean.end_topic)
        self.assertEqual([m.payload for m in clean.messages if m.topic == topic], [])
        clean.disconnect()
        # A clean 3.1.1 session ends with its connection: nothing to resume.
        again = self.persistent(cid)
        self.assertFalse(again.session_present)
        again.disconnect()

    def test_v5_message_expiry_while_queued(self):
        cid, topic = self.unique("p06-msgexp"), self.unique("p06/msgexp")
        first = self.persistent(cid, v5=True)
        self.assertEqual(first.subscribe(topic, qos=1), [1])
        first.disconnect()
        pub = self.mqtt(v5=True)
        self.assertTrue(pub.publish(topic, b"short-lived", qos=1,
                                    properties=mh.paho_properties("PUBLISH", MessageExpiryInterval=1)))
        self.assertTrue(pub.publish(topic, b"long-lived", qos=1,
                                    properties=mh.paho_properties("PUBLISH", MessageExpiryInterval=600)))
        self.assertTrue(pub.publish(topic, b"forever", qos=1))
        time.sleep(2.5)   # the expiry is the behaviour under test
        back = self.persistent(cid, v5=True)
        self.assertTrue(back.session_present)
        got = back.wait_messages(2)
        self.assertEqual([m.payload for m in got], [b"long-lived", b"forever"])
        # What is left of the expiry interval travels with the message.
        self.assertLessEqual(got[0].properties.MessageExpiryInterval, 600)
        self.assertGreater(got[0].properties.MessageExpiryInterval, 500)
        self.assertFalse(hasattr(got[1].properties, "MessageExpiryInterval"))

    def test_v5_clean_start_and_expiry_zero(self):
        cid, topic = self.unique("p06-v5zero"), self.unique("p06/v5zero")
        first = self.mqtt(v5=True, client_id=cid, clean=False)   # no Session Expiry Interval: 0
        self.assertEqual(first.subscribe(topic, qos=1), [1])
        first.disconnect()
        again = self.persistent(cid, v5=True)
        self.assertFalse(again.session_present)
        self.assertEqual(again.subscribe(topic, qos=1), [1])
        again.disconnect()
        # Clean Start discards a stored session even when it has not expired.
        fresh = self.mqtt(v5=True, client_id=cid, clean=True, properties=expiry(300))
        self.assertFalse(fresh.session_present)
        fresh.disconnect()

    def test_v5_session_expires(self):
        cid, topic = self.unique("p06-expire"), self.unique("p06/expire")
        first = self.persistent(cid, v5=True, session_expiry=1)
        self.assertEqual(first.subscribe(topic, qos=1), [1])
        first.disconnect()
        time.sleep(2.5)   # the expiry is the behaviour under test
        again = self.persistent(cid, v5=True)
        self.assertFalse(again.session_present)
        again.disconnect()

    def test_v5_session_expiry_set_at_disconnect(self):
        cid, topic = self.unique("p06-atdisc"), self.unique("p06/atdisc")
        first = self.persistent(cid, v5=True, session_expiry=300)
        self.assertEqual(first.subscribe(topic, qos=1), [1])
        # DISCONNECT with Session Expiry 0: the session ends now.
        first.disconnect(reason=0, properties=mh.paho_properties("DISCONNECT", SessionExpiryInterval=0))
        again = self.persistent(cid, v5=True)
        self.assertFalse(again.session_present)
        again.disconnect()

    def test_take_over_keeps_the_session(self):
        cid, topic = self.unique("p06-takeover"), self.unique("p06/takeover")
        first = self.persistent(cid)
        self.assertEqual(first.subscribe(topic, qos=1), [1])
        second = self.persistent(cid)
        self.assertTrue(second.session_present)
        self.assertClosed(first)
        self.publish_numbered(topic, [1])
        self.assertEqual([m.payload for m in second.wait_messages(1)], [b"1"])

    def test_unacknowledged_deliveries_are_sent_again(self):
        for level in (4, 5):
            cid, topic = self.unique("p06-dup"), self.unique("p06/dup")
            props = mh.prop_u32(mh.PROP_SESSION_EXPIRY, 300) if level == 5 else b""
            raw = self.raw_tls()
            self.assertEqual(raw.connect(cid, level=level, clean=False, props=props), (False, 0))
            raw.send(mh.subscribe_packet(1, [(topic, 2)], level=level))
            self.assertEqual(mh.parse_suback(raw.expect(SUBACK), level), (1, [2]))
            self.publish_numbered(topic, ["one"], qos=1)
            self.publish_numbered(topic, ["two"], qos=2)
            p1 = mh.parse_publish(raw.expect(PUBLISH), level)
            p2 = mh.parse_publish(raw.expect(PUBLISH), level)
            self.assertEqual([(p1["payload"], p1["qos"]), (p2["payload"], p2["qos"])], [(b"one", 1), (b"two", 2)])
            raw.send(mh.ack_packet(PUBREC, p2["pid"], level))       # "two" waits for its PUBCOMP
            self.assertEqual(raw.expect(PUBREL).body[:2], p2["pid"].to_bytes(2, "big"))
            raw.close()                                              # "one" was never acknowledged

            again = self.raw_tls()
            self.assertEqual(again.connect(cid, level=level, clean=False, props=props), (True, 0))
            resent = again.expect(PUBLISH)
            r = mh.parse_publish(resent, level)
            self.assertEqual((r["payload"], r["qos"], r["pid"], r["dup"]), (b"one", 1, p1["pid"], True))
            rel = again.expect(PUBREL)
            self.assertEqual(rel.body[:2], p2["pid"].to_bytes(2, "big"))
            again.send(mh.ack_packet(mh.PUBACK, r["pid"], level))
            again.send(mh.ack_packet(mh.PUBCOMP, p2["pid"], level))
            again.send(mh.PINGREQ_PACKET)
            self.assertEqual(again.read_packet().type, mh.PINGRESP)   # nothing else was pending
            again.send(mh.disconnect_packet(level))

    def test_qos2_publish_completes_across_a_reconnect(self):
        for level in (4, 5):
            cid, topic = self.unique("p06-q2pub"), self.unique("p06/q2pub")
            watcher = self.mqtt()
            end = self.unique("p06-end")
            self.assertEqual(watcher.subscribe([(topic, 2), (end, 1)]), [2, 1])
            props = mh.prop_u32(mh.PROP_SESSION_EXPIRY, 300) if level == 5 else b""
            raw = self.raw_tls()
            self.assertEqual(raw.connect(cid, level=level, clean=False, props=props), (False, 0))
            raw.send(mh.publish_packet(topic, b"exactly once", qos=2, pid=21, level=level))
            self.assertEqual(raw.expect(PUBREC).body[:2], b"\x00\x15")
            raw.close()   # gone before sending PUBREL
            again = self.raw_tls()
            self.assertEqual(again.connect(cid, level=level, clean=False, props=props), (True, 0))
            # The client sends the PUBLISH again (DUP) and then the PUBREL, as a client must.
            again.send(mh.publish_packet(topic, b"exactly once", qos=2, pid=21, level=level, dup=True))
            self.assertEqual(again.expect(PUBREC).body[:2], b"\x00\x15")
            again.send(mh.ack_packet(PUBREL, 21, level))
            comp = again.expect(mh.PUBCOMP)
            self.assertEqual(comp.body[:2], b"\x00\x15")
            if level == 5 and len(comp.body) > 2:
                self.assertEqual(comp.body[2], 0)
            again.send(mh.disconnect_packet(level))
            self.sentinel(watcher, self.mqtt(), end)
            self.assertEqual([m.payload for m in watcher.messages if m.topic == topic], [b"exactly once"],
                             f"v{level}")

    def test_sessions_survive_a_server_restart(self):
        cid4, cid5 = self.unique("p06-rs4"), self.unique("p06-rs5")
        topic = self.unique("p06/restart")
        for cid, v5 in ((cid4, False), (cid5, True)):
            c = self.persistent(cid, v5)
            self.assertEqual(c.subscribe(topic, qos=1), [1])
            c.disconnect()
        self.publish_numbered(topic, [1, 2])
        self.restart_server()
        self.publish_numbered(topic, [3])
        for cid, v5 in ((cid4, False), (cid5, True)):
            back = self.persistent(cid, v5)
            self.assertTrue(back.session_present, f"v5={v5}")
            self.assertEqual([m.payload for m in back.wait_messages(3)], [b"1", b"2", b"3"], f"v5={v5}")
            back.disconnect()

    def test_unsubscribe_is_durable_too(self):
        cid, base = self.unique("p06-unsub"), self.unique("p06/unsub")
        c = self.persistent(cid)
        self.assertEqual(c.subscribe([(base + "/gone", 1), (base + "/kept", 1)]), [1, 1])
        c.unsubscribe([base + "/gone"])
        c.disconnect()
        self.restart_server()
        pub = self.mqtt()
        self.assertTrue(pub.publish(base + "/gone", b"no", qos=1))
        self.assertTrue(pub.publish(base + "/kept", b"yes", qos=1))
        back = self.persistent(cid)
        self.assertTrue(back.session_present)
        self.assertEqual([m.payload for m in back.wait_messages(1)], [b"yes"])
        self.sentinel(back, pub, base + "/kept")
        self.assertNotIn(b"no", [m.payload for m in back.messages])

    def test_connected_persistent_client_resumes_after_a_restart(self):
        cid, topic = self.unique("p06-live"), self.unique("p06/live")
        c = self.persistent(cid, v5=True)
        self.assertEqual(c.subscribe(topic, qos=1), [1])
        self.restart_server()
        self.assertClosed(c)
        self.publish_numbered(topic, ["after"])
        back = self.persistent(cid, v5=True)
        self.assertTrue(back.session_present)
        self.assertEqual([m.payload for m in back.wait_messages(1)], [b"after"])


if __name__ == "__main__":
    mh.main()

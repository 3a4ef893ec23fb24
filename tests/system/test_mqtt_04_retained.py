"""MQTT 04: retained messages. A new subscription gets the last retained
message of each matching topic with the retain flag; live deliveries to
existing subscriptions carry no retain flag; a newer retained message
replaces the older; an empty retained payload clears it; v5 Retain Handling;
retained messages survive a server restart; an expired one is gone."""
import time

import mqtt_helpers as mh


class RetainedTest(mh.MqttTestCase):

    def retained_for(self, topic_filter, expect, v5=False, qos=1):
        """Subscribes a fresh client and returns what it got once `expect` messages came
        (plus a sentinel so that nothing beyond them is missed)."""
        c = self.mqtt(v5=v5)
        sentinel_topic = self.unique("r04-end")
        self.assertEqual(c.subscribe([(topic_filter, qos), (sentinel_topic, 1)]), [qos, 1])
        c.wait_messages(expect)
        self.sentinel(c, self.mqtt(), sentinel_topic)
        return [m for m in c.messages if m.topic != sentinel_topic]

    def test_new_subscriber_gets_the_retained_message(self):
        topic = self.unique("r04/one")
        live = self.mqtt()
        self.assertEqual(live.subscribe(topic, qos=1), [1])
        p = mh.mosquitto_pub(self.server, self.admin, topic, "kept", qos=1, retain=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        # The subscriber that was already there gets it as a live message: no retain flag.
        (m,) = live.wait_messages(1)
        self.assertEqual((m.payload, m.retain), (b"kept", False))
        for v5 in (False, True):
            got = self.retained_for(topic, 1, v5=v5)
            self.assertEqual([(m.topic, m.payload, m.retain, m.qos) for m in got], [(topic, b"kept", True, 1)])
        # mosquitto_sub sees it too, and exits after one message.
        msgs, rc, sub = mh.mosquitto_sub_once(self.server, self.admin, topic, count=1, wait=10)
        self.assertEqual(rc, 0, sub.stderr)
        self.assertEqual([(m.payload, m.retain) for m in msgs], [(b"kept", True)])

    def test_newer_retained_message_replaces_the_older(self):
        topic = self.unique("r04/replace")
        pub = self.mqtt()
        for payload in (b"first", b"second", b"third"):
            self.assertTrue(pub.publish(topic, payload, qos=1, retain=True))
        # A message without the retain flag does not replace it.
        self.assertTrue(pub.publish(topic, b"not retained", qos=1))
        got = self.retained_for(topic, 1)
        self.assertEqual([m.payload for m in got], [b"third"])

    def test_wildcard_subscription_gets_every_matching_retained_message(self):
        base = self.unique("r04/many")
        pub = self.mqtt()
        topics = {f"{base}/a": b"A", f"{base}/b/c": b"BC", f"{base}/d": b"D", f"{base}x/e": b"no"}
        for t, payload in topics.items():
            self.assertTrue(pub.publish(t, payload, qos=1, retain=True))
        got = self.retained_for(base + "/#", 3)
        self.assertEqual(sorted((m.topic, m.payload) for m in got),
                         sorted((t, p) for t, p in topics.items() if t.startswith(base + "/")))
        self.assertTrue(all(m.retain for m in got))
        got = self.retained_for(base + "/+", 2)
        self.assertEqual(sorted(m.payload for m in got), [b"A", b"D"])

    def test_empty_payload_clears_the_retained_message(self):
        topic = self.unique("r04/clear")
        pub = self.mqtt()
        self.assertTrue(pub.publish(topic, b"soon gone", qos=1, retain=True))
        self.assertEqual([m.payload for m in self.retained_for(topic, 1)], [b"soon gone"])
        p = mh.mosquitto_pub(self.server, self.admin, topic, b"", qos=1, retain=True)   # mosquitto_pub -r -n
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.retained_for(topic, 0), [])
        msgs, rc, _ = mh.mosquitto_sub_once(self.server, self.admin, topic, count=1, wait=1)
        self.assertEqual(msgs, [])
        self.assertEqual(rc, 27)   # mosquitto_sub: timed out waiting for a message

    def test_retained_qos_is_the_lower_of_stored_and_granted(self):
        topic = self.unique("r04/qos")
        self.assertTrue(self.mqtt().publish(topic, b"q2", qos=2, retain=True))
        self.assertEqual([(m.payload, m.qos) for m in self.retained_for(topic, 1, qos=0)], [(b"q2", 0)])
        self.assertEqual([(m.payload, m.qos) for m in self.retained_for(topic, 1, qos=1)], [(b"q2", 1)])
        self.assertEqual([(m.payload, m.qos) for m in self.retained_for(topic, 1, qos=2)], [(b"q2", 2)])

    def test_v5_retain_handling(self):
        topic = self.unique("r04/handling")
        self.assertTrue(self.mqtt().publish(topic, b"stored", qos=1, retain=True))
        c = self.mqtt(v5=True)
        end = self.unique("r04-end")
        # 2: never send retained messages at subscribe time.
        self.assertEqual(c.subscribe([(topic, mh.subscribe_options(1, retain_handling=2)), (end, 1)]), [1, 1])
        self.sentinel(c, self.mqtt(), end)
        self.assertEqual([m.payload for m in c.messages if m.topic == topic], [])
        # 1: only when the subscription is new -- it exists now, so nothing again.
        self.assertEqual(c.subscribe(topic, options=mh.subscribe_options(1, retain_handling=1)), [1])
        self.sentinel(c, self.mqtt(), end)
        self.assertEqual([m.payload for m in c.messages if m.topic == topic], [])
        # 0: on every subscribe.
        self.assertEqual(c.subscribe(topic, options=mh.subscribe_options(1, retain_handling=0)), [1])
        self.assertEqual([m.payload for m in c.wait_messages(1, topic=topic)], [b"stored"])
        # Retain As Published keeps the flag on live deliveries.
        rap = self.mqtt(v5=True)
        self.assertEqual(rap.subscribe(topic, options=mh.subscribe_options(1, retain_handling=2,
                                                                           retain_as_published=True)), [1])
        self.assertTrue(self.mqtt().publish(topic, b"live retained", qos=1, retain=True))
        (m,) = rap.wait_messages(1)
        self.assertEqual((m.payload, m.retain), (b"live retained", True))

    def test_retained_message_expiry(self):
        topic = self.unique("r04/expiry")
        pub = self.mqtt(v5=True)
        self.assertTrue(pub.publish(topic + "/short", b"short", qos=1, retain=True,
                                    properties=mh.paho_properties("PUBLISH", MessageExpiryInterval=1)))
        self.assertTrue(pub.publish(topic + "/long", b"long", qos=1, retain=True,
                                    properties=mh.paho_properties("PUBLISH", MessageExpiryInterval=600)))
        time.sleep(2.5)   # the expiry is the behaviour under test
        got = self.retained_for(topic + "/#", 1, v5=True)
        self.assertEqual([m.payload for m in got], [b"long"])
        self.assertLessEqual(got[0].properties.MessageExpiryInterval, 600)

    def test_retained_messages_survive_a_restart(self):
        base = self.unique("r04/restart")
        pub = self.mqtt()
        self.assertTrue(pub.publish(base + "/kept", b"across restarts", qos=1, retain=True))
        self.assertTrue(pub.publish(base + "/binary", bytes(range(256)), qos=1, retain=True))
        self.assertTrue(pub.publish(base + "/cleared", b"x", qos=1, retain=True))
        self.assertTrue(pub.publish(base + "/cleared", b"", qos=1, retain=True))
        self.assertTrue(pub.publish(base + "/replaced", b"old", qos=1, retain=True))
        self.assertTrue(pub.publish(base + "/replaced", b"new", qos=1, retain=True))
        pub.disconnect()
        self.restart_server()
        got = self.retained_for(base + "/#", 3)
        self.assertEqual(sorted((m.topic, m.payload) for m in got),
                         [(base + "/binary", bytes(range(256))), (base + "/kept", b"across restarts"),
                          (base + "/replaced", b"new")])
        self.assertTrue(all(m.retain for m in got))


if __name__ == "__main__":
    mh.main()

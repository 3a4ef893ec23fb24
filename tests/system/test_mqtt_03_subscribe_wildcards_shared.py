"""MQTT 03: subscriptions. `+` matches one level, `#` the rest (and the
parent); topics starting with `$` are not matched by a leading wildcard;
invalid filters fail alone in their SUBACK; UNSUBSCRIBE stops delivery;
shared subscriptions `$share/<group>/<filter>` hand each message to one
member of each group."""
import mqtt_helpers as mh
from mqtt_helpers import SUBACK, UNSUBACK


class SubscribeTest(mh.MqttTestCase):

    def matches(self, filters, topics):
        """{filter: [topics it received]} for one publication on each topic, in order."""
        base = self.unique("w03")
        subs = {}
        for i, f in enumerate(filters):
            subs[f] = self.mqtt()
            # Each subscriber also listens on its own sentinel topic, outside BASE.
            self.assertEqual(subs[f].subscribe([(f.replace("BASE", base), 1), (f"{base}-end/{i}", 1)]), [1, 1], f)
        pub = self.mqtt()
        for t in topics:
            self.assertTrue(pub.publish(t.replace("BASE", base), t.encode(), qos=1))
        # Once a subscriber has the sentinel sent after the publications, it has had
        # everything due to it (one publisher, one subscriber: in order).
        for i, sub in enumerate(subs.values()):
            self.sentinel(sub, pub, f"{base}-end/{i}")
        return {f: [m.payload.decode() for m in sub.messages if not m.payload.startswith(b"sentinel-")]
                for f, sub in subs.items()}

    def test_wildcards(self):
        topics = ["BASE/a", "BASE/a/b", "BASE/a/b/c", "BASE/x/b", "BASE//b", "BASE/a/", "BASE"]
        got = self.matches(["BASE/+", "BASE/+/b", "BASE/#", "BASE/a/#", "BASE/+/+/c", "+/a", "BASE/a/+",
                            "BASE/a/b"], topics)
        self.assertEqual(got["BASE/+"], ["BASE/a"])
        self.assertEqual(got["BASE/+/b"], ["BASE/a/b", "BASE/x/b", "BASE//b"])
        self.assertEqual(got["BASE/#"], ["BASE/a", "BASE/a/b", "BASE/a/b/c", "BASE/x/b", "BASE//b", "BASE/a/",
                                         "BASE"])
        self.assertEqual(got["BASE/a/#"], ["BASE/a", "BASE/a/b", "BASE/a/b/c", "BASE/a/"])
        self.assertEqual(got["BASE/+/+/c"], ["BASE/a/b/c"])
        self.assertEqual(got["+/a"], ["BASE/a"])
        self.assertEqual(got["BASE/a/+"], ["BASE/a/b", "BASE/a/"])
        self.assertEqual(got["BASE/a/b"], ["BASE/a/b"])

    def test_topics_are_case_sensitive_and_exact(self):
        got = self.matches(["BASE/Case", "BASE/case"], ["BASE/case", "BASE/CASE", "BASE/Case", "BASE/case "])
        self.assertEqual(got["BASE/Case"], ["BASE/Case"])
        self.assertEqual(got["BASE/case"], ["BASE/case"])

    def test_dollar_topics_are_not_matched_by_leading_wildcards(self):
        everything = self.mqtt()
        self.assertEqual(everything.subscribe([("#", 1), ("+/events/presence/connected/+", 1)]), [1, 1])
        explicit = self.mqtt()
        self.assertEqual(explicit.subscribe("$aws/events/presence/connected/+", qos=1), [1])
        cid = self.unique("w03-dollar")
        self.mqtt(client_id=cid).disconnect()
        got = explicit.wait_messages(1, topic=f"$aws/events/presence/connected/{cid}")
        self.assertEqual(len(got), 1)
        # The `#` subscriber sees ordinary topics (the sentinel), never the `$aws` one.
        sentinel_topic = self.unique("w03/sentinel")
        self.sentinel(everything, self.mqtt(), sentinel_topic)
        self.assertEqual([m.topic for m in everything.messages if m.topic.startswith("$")], [])

    def test_granted_qos_and_invalid_filters_in_one_subscribe(self):
        # paho refuses to send invalid filters, hence raw packets.
        base = self.unique("w03/mixed")
        filters = [(base + "/q0", 0), (base + "/a/#/b", 1), (base + "/q1", 1), (base + "/a+", 1),
                   (base + "/#a", 1), (base + "/q2", 2), (base + "/x#", 1)]
        for level in (4, 5):
            raw = self.raw_tls()
            self.assertEqual(raw.connect(level=level), (False, 0))
            raw.send(mh.subscribe_packet(5, filters, level=level))
            pid, got = mh.parse_suback(raw.expect(SUBACK), level)
            self.assertEqual(pid, 5)
            if level == 4:
                self.assertEqual(got, [0, 0x80, 1, 0x80, 0x80, 2, 0x80])
            else:
                self.assertEqual([g if g < 0x80 else "failure" for g in got],
                                 [0, "failure", 1, "failure", "failure", 2, "failure"])
                self.assertTrue(all(g in (0x80, 0x8F) for g in got if g >= 0x80), got)  # unspecified / invalid
            # The valid ones work, and the connection is still there.
            pub = self.mqtt()
            self.assertTrue(pub.publish(base + "/q1", b"ok", qos=1))
            p = mh.parse_publish(raw.expect(mh.PUBLISH), level)
            self.assertEqual((p["topic"], p["payload"]), (base + "/q1", b"ok"))
            raw.send(mh.ack_packet(mh.PUBACK, p["pid"], level))
            raw.send(mh.disconnect_packet(level))

    def test_subscribing_again_replaces_the_qos(self):
        topic = self.unique("w03/again")
        c = self.mqtt()
        self.assertEqual(c.subscribe(topic, qos=0), [0])
        self.assertEqual(c.subscribe(topic, qos=2), [2])
        pub = self.mqtt()
        self.assertTrue(pub.publish(topic, b"once", qos=2))
        self.sentinel(c, pub, topic)
        got = [m for m in c.messages if m.payload == b"once"]
        self.assertEqual([(m.payload, m.qos) for m in got], [(b"once", 2)])   # one subscription, not two

    def test_unsubscribe_stops_delivery(self):
        topic = self.unique("w03/unsub")
        other = self.unique("w03/keep")
        for level in (4, 5):
            raw = self.raw_tls()
            self.assertEqual(raw.connect(level=level), (False, 0))
            raw.send(mh.subscribe_packet(1, [(topic, 1), (other, 1)], level=level))
            self.assertEqual(mh.parse_suback(raw.expect(SUBACK), level), (1, [1, 1]))
            raw.send(mh.unsubscribe_packet(2, [topic, self.unique("w03/never")], level=level))
            ack = raw.expect(UNSUBACK)
            self.assertEqual(ack.body[:2], b"\x00\x02")
            if level == 5:   # success for the one that existed; 0x11 (or success) for the one that didn't
                _, pos = mh._read_props(ack.body, 2)
                codes = list(ack.body[pos:])
                self.assertEqual(codes[0], 0)
                self.assertIn(codes[1], (0, 0x11))
            pub = self.mqtt()
            self.assertTrue(pub.publish(topic, b"gone", qos=1))
            self.assertTrue(pub.publish(other, b"kept", qos=1))
            p = mh.parse_publish(raw.expect(mh.PUBLISH), level)
            self.assertEqual((p["topic"], p["payload"]), (other, b"kept"))
            raw.send(mh.ack_packet(mh.PUBACK, p["pid"], level))
            raw.send(mh.disconnect_packet(level))

    def test_v5_no_local_and_subscription_identifiers(self):
        base = self.unique("w03/v5opts")
        c = self.mqtt(v5=True)
        self.assertEqual(c.subscribe(base + "/own", options=mh.subscribe_options(1, no_local=True)), [1])
        self.assertEqual(c.subscribe(base + "/+", qos=1,
                                     properties=mh.paho_properties("SUBSCRIBE", SubscriptionIdentifier=7)), [1])
        self.assertEqual(c.subscribe(base + "/#", qos=1,
                                     properties=mh.paho_properties("SUBSCRIBE", SubscriptionIdentifier=42)), [1])
        # No Local: its own publication comes back only through the other two subscriptions.
        self.assertTrue(c.publish(base + "/own", b"mine", qos=1))
        other = self.mqtt(v5=True)
        self.assertTrue(other.publish(base + "/x/y", b"deep", qos=1))
        got = c.wait_messages(2)
        self.assertEqual([m.payload for m in got], [b"mine", b"deep"])
        self.assertEqual(sorted(got[0].properties.SubscriptionIdentifier), [7, 42])
        self.assertEqual(list(got[1].properties.SubscriptionIdentifier), [42])
        # A subscription with No Local alone does not echo.
        only = self.mqtt(v5=True)
        self.assertEqual(only.subscribe(base + "/quiet", options=mh.subscribe_options(1, no_local=True)), [1])
        only.end_topic = self.unique("w03-end")
        self.assertEqual(only.subscribe(only.end_topic, qos=1), [1])
        self.assertTrue(only.publish(base + "/quiet", b"echo?", qos=1))
        self.sentinel(only, self.mqtt(), only.end_topic)
        self.assertEqual([m.payload for m in only.messages if m.topic == base + "/quiet"], [])

    def test_mosquitto_sub_with_several_filters(self):
        base = self.unique("w03/mosq")
        sub = self.mosquitto_sub([base + "/a/+", base + "/b/#"], qos=1)
        self.assertEqual(sub.granted, [1, 1])
        pub = self.mqtt()
        for t in ("a/1", "a/1/2", "b", "b/1/2", "c/1"):
            self.assertTrue(pub.publish(f"{base}/{t}", t.encode(), qos=1))
        self.assertTrue(pub.publish(base + "/a/end", b"end", qos=1))
        got = sub.wait_messages(4)
        self.assertEqual([m.payload for m in got], [b"a/1", b"b", b"b/1/2", b"end"])


class SharedSubscriptionTest(mh.MqttTestCase):

    def publish_all(self, topic, count, publisher=None):
        pub = publisher or self.mqtt()
        infos = [pub.client.publish(topic, f"{i}".encode(), qos=1) for i in range(count)]
        self.assertTrue(mh.wait_for(lambda: all(i.is_published() for i in infos)), "not all PUBACKs came")
        return pub

    def received(self, clients, count):
        """Waits until the clients together hold `count` messages; returns {client: [the numbered ones]}."""
        mh.wait_for(lambda: sum(len(c.messages) for c in clients) >= count)
        return {c: [int(m.payload) for m in c.messages if m.payload.isdigit()] for c in clients}

    def test_each_message_goes_to_one_member_of_each_group(self):
        topic = self.unique("s03/t")
        group_a = [self.mqtt(v5=True), self.mqtt(v5=True), self.mqtt(v5=False)]
        group_b = [self.mqtt(v5=True), self.mqtt()]
        plain = self.mqtt()
        for c in group_a:
            self.assertEqual(c.subscribe(f"$share/ga/{topic}", qos=1), [1])
        for c in group_b:
            self.assertEqual(c.subscribe(f"$share/gb/{topic}", qos=1), [1])
        self.assertEqual(plain.subscribe(topic, qos=1), [1])
        pub = self.publish_all(topic, 60)
        self.assertEqual([int(m.payload) for m in plain.wait_messages(60)], list(range(60)))
        # A sentinel through the ordinary subscriber: the groups have had their chance.
        self.sentinel(plain, pub, topic)
        for name, group in (("ga", group_a), ("gb", group_b)):
            got = self.received(group, 61)   # the 60 and the sentinel
            everything = sorted(n for c in group for n in got[c])
            self.assertEqual(everything, list(range(60)), f"group {name}: each message exactly once")
            for c in group:   # each member keeps the publisher's order among what it got
                self.assertEqual(got[c], sorted(got[c]))
            self.assertTrue(all(m.topic == topic for c in group for m in c.messages), name)

    def test_shared_filter_with_wildcards_and_a_leaving_member(self):
        base = self.unique("s03/w")
        first, second = self.mqtt(v5=True), self.mqtt(v5=True)
        for c in (first, second):
            self.assertEqual(c.subscribe(f"$share/g/{base}/+/data", qos=1), [1])
        pub = self.publish_all(f"{base}/dev1/data", 20)
        got = self.received([first, second], 20)
        self.assertEqual(sorted(got[first] + got[second]), list(range(20)))
        # The second member leaves: everything goes to the first.
        self.assertEqual(second.unsubscribe(f"$share/g/{base}/+/data"), [0])
        before = len(first.messages)
        self.publish_all(f"{base}/dev2/data", 10, pub)
        got = first.wait_messages(before + 10)
        self.assertEqual([int(m.payload) for m in got[before:]], list(range(10)))
        self.assertEqual({m.topic for m in got[before:]}, {f"{base}/dev2/data"})
        second.disconnect()
        self.publish_all(f"{base}/dev3/data", 5, pub)
        self.assertEqual(len(first.wait_messages(before + 15)), before + 15)

    def test_mosquitto_sub_shared_members(self):
        topic = self.unique("s03/mosq")
        members = [self.mosquitto_sub(f"$share/m/{topic}", qos=1, version="mqttv5") for _ in range(2)]
        for m in members:
            self.assertEqual(m.granted, [1])
        watcher = self.mqtt()
        self.assertEqual(watcher.subscribe(topic, qos=1), [1])
        self.publish_all(topic, 30)
        watcher.wait_messages(30)
        mh.wait_for(lambda: sum(len(m.messages) for m in members) >= 30)
        payloads = sorted(int(msg.payload) for m in members for msg in m.messages)
        self.assertEqual(payloads, list(range(30)))

    def test_invalid_shared_filters_fail(self):
        raw = self.raw_tls()
        self.assertEqual(raw.connect(level=5), (False, 0))
        ok = self.unique("s03/ok")
        raw.send(mh.subscribe_packet(1, [("$share/g", 1), ("$share//t", 1), ("$share/g+/t", 1), ("$share/g#/t", 1),
                                         ("$share/g/" + ok, 1)], level=5))
        _, got = mh.parse_suback(raw.expect(mh.SUBACK), 5)
        self.assertEqual(len(got), 5, got)
        self.assertTrue(all(code >= 0x80 for code in got[:4]), got)
        self.assertEqual(got[4], 1)


if __name__ == "__main__":
    mh.main()

"""MQTT 07: authorization as AWS IoT does it. iot:Publish on topic/<topic>,
iot:Subscribe on topicfilter/<filter> (the filter's `+`/`#` are literal
characters there), iot:Receive on topic/<topic>; policy variables
${iot:ClientId} and ${iot:Connection.Thing.ThingName}; explicit Deny wins;
thing-group policies apply when the client id is the certificate's thing.
A refused PUBLISH ends the connection, a refused SUBSCRIBE fails that filter,
a refused Receive is not delivered. Changes apply to live connections:
detaching a policy, a new default policy version, a certificate set
INACTIVE or REVOKED (which closes its connections)."""
import mqtt_helpers as mh
from mqtt_helpers import statement


class AuthorizationTest(mh.MqttTestCase):

    def setUp(self):
        super().setUp()
        self.watch = self.mqtt()   # allow-all, sees what was really published
        self.watch_end = self.unique("a07-end")
        self.assertEqual(self.watch.subscribe([("a07/#", 1), (self.watch_end, 1)]), [1, 1])

    def published(self):
        """Topics the watcher saw, after a sentinel."""
        self.sentinel(self.watch, self.mqtt(), self.watch_end)
        return [m.topic for m in self.watch.messages if m.topic != self.watch_end]

    def connect_any(self):
        return statement("iot:Connect", self.arn("client", "*"))

    def assertPublishRefused(self, client, topic):
        payload = mh.unique("refused").encode()
        client.publish(topic, payload, qos=1)
        self.assertClosed(client, msg=f"publishing to {topic} was not refused")
        self.assertIn(client.disconnect_reason, (None, 0x87))
        self.published()
        self.assertNotIn(payload, [m.payload for m in self.watch.messages])

    def test_client_id_policy_variable(self):
        dev = self.devices.device(self.connect_any(),
                                  statement("iot:Publish", self.arn("topic", "a07/dev/${iot:ClientId}/*")))
        for v5 in (False, True):
            cid = self.unique("a07-cid")
            c = self.mqtt(dev, client_id=cid, v5=v5)
            self.assertTrue(c.publish(f"a07/dev/{cid}/telemetry", b"mine", qos=1))
            self.assertFalse(c.closed)
            self.assertPublishRefused(c, "a07/dev/someone-else/telemetry")
            self.assertIn(f"a07/dev/{cid}/telemetry", self.published())

    def test_thing_name_policy_variable(self):
        thing = self.unique("a07-thing")
        dev = self.devices.device(
            statement("iot:Connect", self.arn("client", "${iot:Connection.Thing.ThingName}")),
            statement("iot:Publish", self.arn("topic", "a07/thing/${iot:Connection.Thing.ThingName}")),
            thing=thing)
        c = self.mqtt(dev, client_id=thing)
        self.assertTrue(c.publish(f"a07/thing/{thing}", b"hello", qos=1))
        self.assertIn(f"a07/thing/{thing}", self.published())
        # Any other client id is not the thing: no thing variable, no connection.
        for v5, code in ((False, 5), (True, 0x87)):
            other = self.mqtt(dev, client_id=self.unique("a07-notthing"), v5=v5, connect=False)
            self.assertEqual(other.connect(), code)

    def test_subscribe_is_judged_per_filter(self):
        dev = self.devices.device(self.connect_any(),
                                  statement("iot:Subscribe", self.arn("topicfilter", "a07/open/*")),
                                  statement("iot:Subscribe", self.arn("topicfilter", "a07/lit/+/x")),
                                  statement("iot:Receive", self.arn("topic", "a07/*")))
        for v5, refused in ((False, 0x80), (True, 0x87)):
            c = self.mqtt(dev, v5=v5)
            got = c.subscribe([("a07/open/a", 1), ("a07/closed/a", 1), ("a07/open/#", 0), ("a07/lit/+/x", 1),
                               ("a07/lit/a/x", 1)])
            # `+` in a policy resource is a literal character: only the filter spelled so is allowed.
            self.assertEqual(got, [1, refused, 0, 1, refused], f"v5={v5}")
            self.assertFalse(c.closed)
            self.assertTrue(self.mqtt().publish("a07/open/a", b"x", qos=1))
            self.assertEqual([m.topic for m in c.wait_messages(1)], ["a07/open/a"])
            c.disconnect()

    def test_receive_is_judged_per_message(self):
        dev = self.devices.device(self.connect_any(),
                                  statement("iot:Subscribe", self.arn("topicfilter", "a07/rx/#")),
                                  statement("iot:Receive", self.arn("topic", "a07/rx/ok*")))
        c = self.mqtt(dev)
        self.assertEqual(c.subscribe("a07/rx/#", qos=1), [1])
        pub = self.mqtt()
        for t in ("a07/rx/no", "a07/rx/ok", "a07/rx/no/2", "a07/rx/ok/end"):
            self.assertTrue(pub.publish(t, t.encode(), qos=1))
        got = c.wait_messages(2)
        self.assertEqual([m.topic for m in got], ["a07/rx/ok", "a07/rx/ok/end"])
        self.assertFalse(c.closed)

    def test_retained_messages_need_receive_too(self):
        base = self.unique("a07/ret")
        pub = self.mqtt()
        for name in ("secret", "ok"):
            self.assertTrue(pub.publish(f"{base}/{name}", name.encode(), qos=1, retain=True))
        dev = self.devices.device(self.connect_any(),
                                  statement("iot:Subscribe", self.arn("topicfilter", f"{base}/#")),
                                  statement("iot:Receive", self.arn("topic", f"{base}/ok")))
        c = self.mqtt(dev)
        self.assertEqual(c.subscribe(f"{base}/#", qos=1), [1])
        self.assertEqual([m.payload for m in c.wait_messages(1)], [b"ok"])
        self.sentinel(c, pub, f"{base}/ok")
        self.assertNotIn(b"secret", [m.payload for m in c.messages])

    def test_a_will_needs_publish_permission(self):
        will_topic = self.unique("a07/will/forbidden")
        dev = self.devices.device(self.connect_any())   # may connect, may publish nothing
        c = self.mqtt(dev, will={"topic": will_topic, "payload": b"smuggled", "qos": 1}, connect=False)
        rc = c.connect()
        if rc == 0:   # accepted (the will is judged when it would be published) ...
            c.drop()
        # ... either way it must not be published. A will that is allowed, dropped after it,
        # shows when the broker has dealt with both.
        allowed_topic = self.unique("a07/will/allowed")
        ok = self.devices.device(self.connect_any(), statement("iot:Publish", self.arn("topic", allowed_topic)))
        c = self.mqtt(ok, will={"topic": allowed_topic, "payload": b"fine", "qos": 1})
        c.drop()
        self.assertEqual([m.payload for m in self.watch.wait_messages(1, topic=allowed_topic)], [b"fine"])
        self.assertNotIn(will_topic, self.published())

    def test_explicit_deny_wins(self):
        dev = self.devices.device(statement("iot:*", "*"),
                                  statement("iot:Publish", self.arn("topic", "a07/deny/secret"), effect="Deny"),
                                  statement("iot:Subscribe", self.arn("topicfilter", "a07/deny/#"), effect="Deny"))
        c = self.mqtt(dev, v5=True)
        self.assertEqual(c.subscribe([("a07/deny/#", 1), ("a07/deny/public", 1)]), [0x87, 1])
        self.assertTrue(c.publish("a07/deny/public", b"fine", qos=1))
        self.assertPublishRefused(c, "a07/deny/secret")

    def test_thing_group_policies_apply_to_the_thing_connection(self):
        root, leaf = self.unique("a07-root"), self.unique("a07-leaf")
        self.iot.create_thing_group(thingGroupName=root)
        self.iot.create_thing_group(thingGroupName=leaf, parentGroupName=root)
        group_policy = self.devices.policy(self.unique("a07-grp"), statement(
            "iot:Publish", self.arn("topic", "a07/group/${iot:Connection.Thing.ThingName}")))
        self.iot.attach_policy(policyName=group_policy, target=self.arn("thinggroup", root))
        thing = self.unique("a07-gthing")
        self.devices.thing(thing, groups=[leaf])
        dev = self.devices.device(self.connect_any(), thing=thing)
        c = self.mqtt(dev, client_id=thing)
        self.assertTrue(c.publish(f"a07/group/{thing}", b"via the group", qos=1))
        self.assertIn(f"a07/group/{thing}", self.published())
        # The same certificate under another client id is not the thing: no group policies.
        other = self.mqtt(dev, client_id=self.unique("a07-notthing"))
        self.assertPublishRefused(other, f"a07/group/{thing}")

    def test_reserved_aws_topics_cannot_be_published(self):
        for v5 in (False, True):
            c = self.mqtt(v5=v5)   # allow-all
            spy = self.mqtt()
            self.assertEqual(spy.subscribe("$aws/events/presence/connected/+", qos=1), [1])
            c.publish("$aws/events/presence/connected/forged", b'{"eventType": "connected"}', qos=1)
            self.assertClosed(c, msg="publishing to $aws/events was not refused")
            spy.end_topic = self.unique("a07-end")
            self.assertEqual(spy.subscribe(spy.end_topic, qos=1), [1])
            self.sentinel(spy, self.mqtt(), spy.end_topic)
            self.assertNotIn("$aws/events/presence/connected/forged", [m.topic for m in spy.messages])

    # ---- changes reach live connections -------------------------------------
    def test_detached_policy_no_longer_allows(self):
        end = self.unique("a07-detach-end")
        connect = self.devices.policy(self.unique("a07-conn"), self.connect_any(),
                                      statement("iot:Subscribe", self.arn("topicfilter", end)),
                                      statement("iot:Receive", self.arn("topic", end)))
        pubsub = self.devices.policy(self.unique("a07-pubsub"), statement(
            ["iot:Publish", "iot:Subscribe", "iot:Receive"], "*"))
        dev = self.devices.certificate(policies=[connect, pubsub])
        c = self.mqtt(dev, v5=True)
        self.assertEqual(c.subscribe([("a07/detach/0", 1), (end, 1)]), [1, 1])
        self.assertTrue(c.publish("a07/detach/ok", b"before", qos=1))
        self.iot.detach_policy(policyName=pubsub, target=dev.cert_arn)
        n = iter(range(1, 10 ** 6))
        refused = mh.wait_for(lambda: c.subscribe(f"a07/detach/{next(n)}", qos=1) == [0x87], timeout=10,
                              interval=0.2)
        self.assertTrue(refused, "SUBSCRIBE still allowed 10 s after DetachPolicy")
        # The subscription made before no longer delivers (Receive is judged per message).
        pub = self.mqtt()
        self.assertTrue(pub.publish("a07/detach/0", b"after detach", qos=1))
        self.sentinel(c, pub, end)
        self.assertNotIn(b"after detach", [m.payload for m in c.messages])
        self.assertPublishRefused(c, "a07/detach/after")

    def test_attached_policy_allows(self):
        dev = self.devices.device(self.connect_any())
        c = self.mqtt(dev)
        self.assertEqual(c.subscribe("a07/attach/x", qos=1), [0x80])
        policy = self.devices.policy(self.unique("a07-late"), statement(["iot:Subscribe", "iot:Receive"], "*"))
        self.iot.attach_policy(policyName=policy, target=dev.cert_arn)
        granted = mh.wait_for(lambda: c.subscribe("a07/attach/x", qos=1) == [1], timeout=10, interval=0.2)
        self.assertTrue(granted, "SUBSCRIBE still refused 10 s after AttachPolicy")

    def test_new_default_policy_version_applies(self):
        name = self.devices.policy(self.unique("a07-ver"), self.connect_any(),
                                   statement(["iot:Subscribe", "iot:Receive", "iot:Publish"], "*"))
        dev = self.devices.certificate(policies=[name])
        c = self.mqtt(dev)
        self.assertEqual(c.subscribe("a07/ver/1", qos=1), [1])
        self.iot.create_policy_version(policyName=name, setAsDefault=True, policyDocument=mh.policy_document(
            self.connect_any(), statement("iot:Subscribe", self.arn("topicfilter", "a07/ver/1"))))
        n = iter(range(2, 10 ** 6))
        refused = mh.wait_for(lambda: c.subscribe(f"a07/ver/{next(n)}", qos=1) == [0x80], timeout=10,
                              interval=0.2)
        self.assertTrue(refused, "the new default version did not apply within 10 s")
        self.assertEqual(c.subscribe("a07/ver/1", qos=1), [1])

    def test_inactive_or_revoked_certificate_loses_its_connections(self):
        dev = self.devices.certificate(policies=["mqtt-allow-all"])
        for status in ("INACTIVE", "REVOKED"):
            clients = [self.mqtt(dev, v5=False), self.mqtt(dev, v5=True)]
            self.devices.set_status(dev, status)
            for c in clients:
                self.assertClosed(c, timeout=10, msg=f"still connected 10 s after {status}")
            refused = self.mqtt(dev, connect=False)
            self.assertNotEqual(refused.connect(), 0)
            if status == "INACTIVE":
                self.devices.set_status(dev, "ACTIVE")
                self.mqtt(dev).disconnect()
        self.assert_still_serving()


if __name__ == "__main__":
    mh.main()

"""MQTT 08: lifecycle events as AWS IoT publishes them.
$aws/events/presence/connected/<clientId> and .../disconnected/<clientId>
carry clientId, timestamp (ms), eventType, sessionIdentifier,
principalIdentifier (the certificate id), versionNumber, and for a
disconnect clientInitiatedDisconnect and disconnectReason
(CLIENT_INITIATED_DISCONNECT, DUPLICATE_CLIENTID, MQTT_KEEP_ALIVE_TIMEOUT,
CONNECTION_LOST, AUTH_ERROR, ...). $aws/events/subscriptions/subscribed|
unsubscribed/<clientId> list the topics. Receiving them takes a policy that
allows them; nobody can forge them."""
import json
import time

import mqtt_helpers as mh
from mqtt_helpers import statement

PRESENCE = "$aws/events/presence"
SUBSCRIPTIONS = "$aws/events/subscriptions"


class LifecycleEventsTest(mh.MqttTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.observer_device = cls.devices.device(
            statement("iot:Connect", "*"),
            statement("iot:Subscribe", cls.devices.arn("topicfilter", "$aws/events/*")),
            statement("iot:Receive", cls.devices.arn("topic", "$aws/events/*")))

    def setUp(self):
        super().setUp()
        self.observer = self.mqtt(self.observer_device)
        self.assertEqual(self.observer.subscribe([(PRESENCE + "/connected/+", 1), (PRESENCE + "/disconnected/+", 1),
                                                  (SUBSCRIPTIONS + "/subscribed/+", 1),
                                                  (SUBSCRIPTIONS + "/unsubscribed/+", 1)]), [1, 1, 1, 1])

    def events(self, kind, cid, count=1, timeout=mh.WAIT):
        """The JSON payloads on <kind>/<cid> (kind e.g. "presence/connected") once there are `count`."""
        topic = f"$aws/events/{kind}/{cid}"
        got = self.observer.wait_messages(count, topic=topic, timeout=timeout)
        self.assertGreaterEqual(len(got), count, f"no {kind} event for {cid}")
        return [json.loads(m.payload) for m in got]

    def assertPresence(self, event, cid, event_type, device):
        now_ms = time.time() * 1000
        self.assertEqual(event["clientId"], cid)
        self.assertEqual(event["eventType"], event_type)
        self.assertIsInstance(event["timestamp"], int)
        self.assertLess(abs(event["timestamp"] - now_ms), 5 * 60 * 1000, "timestamp is not epoch milliseconds")
        self.assertIsInstance(event["sessionIdentifier"], str)
        self.assertTrue(event["sessionIdentifier"])
        self.assertEqual(event["principalIdentifier"], device.cert_id)
        self.assertIsInstance(event["versionNumber"], int)

    def disconnected(self, cid, reason, client_initiated=False, device=None):
        (event,) = self.events("presence/disconnected", cid)
        self.assertPresence(event, cid, "disconnected", device or self.admin)
        self.assertEqual(event["disconnectReason"], reason)
        self.assertIs(event["clientInitiatedDisconnect"], client_initiated)
        return event

    def test_connect_and_clean_disconnect(self):
        for v5 in (False, True):
            cid = self.unique("e08-clean")
            c = self.mqtt(client_id=cid, v5=v5)
            (connected,) = self.events("presence/connected", cid)
            self.assertPresence(connected, cid, "connected", self.admin)
            c.disconnect()
            gone = self.disconnected(cid, "CLIENT_INITIATED_DISCONNECT", client_initiated=True)
            self.assertEqual(gone["sessionIdentifier"], connected["sessionIdentifier"])
            self.assertGreaterEqual(gone["versionNumber"], connected["versionNumber"])
            self.assertGreaterEqual(gone["timestamp"], connected["timestamp"])

    def test_every_connection_is_a_new_session_with_a_higher_version(self):
        cid = self.unique("e08-again")
        self.mqtt(client_id=cid).disconnect()
        self.mqtt(client_id=cid).disconnect()
        first, second = self.events("presence/connected", cid, count=2)
        self.assertNotEqual(first["sessionIdentifier"], second["sessionIdentifier"])
        self.assertGreater(second["versionNumber"], first["versionNumber"])

    def test_take_over_is_a_duplicate_client_id(self):
        cid = self.unique("e08-dup")
        first = self.mqtt(client_id=cid)
        (c1,) = self.events("presence/connected", cid)
        self.mqtt(client_id=cid)
        self.assertClosed(first)
        gone = self.disconnected(cid, "DUPLICATE_CLIENTID")
        self.assertEqual(gone["sessionIdentifier"], c1["sessionIdentifier"])
        c1_again, c2 = self.events("presence/connected", cid, count=2)
        self.assertNotEqual(c2["sessionIdentifier"], c1["sessionIdentifier"])

    def test_dropped_connection_is_connection_lost(self):
        cid = self.unique("e08-lost")
        self.mqtt(client_id=cid).drop()
        self.disconnected(cid, "CONNECTION_LOST")

    def test_keep_alive_timeout(self):
        cid = self.unique("e08-keepalive")
        raw = self.raw_tls()
        self.assertEqual(raw.connect(cid, keepalive=2), (False, 0))
        self.events("presence/connected", cid)
        self.assertTrue(raw.wait_closed(12)[0])
        self.disconnected(cid, "MQTT_KEEP_ALIVE_TIMEOUT")

    def test_refused_publish_is_an_auth_error(self):
        dev = self.devices.device(statement("iot:Connect", "*"))
        cid = self.unique("e08-auth")
        c = self.mqtt(dev, client_id=cid)
        c.publish("e08/not/allowed", b"x", qos=1)
        self.assertClosed(c)
        self.disconnected(cid, "AUTH_ERROR", device=dev)

    def test_protocol_violations_are_client_errors(self):
        reasons = []
        # AWS's examples of CLIENT_ERROR: a second CONNECT on a connection, too many filters in one
        # SUBSCRIBE, a payload beyond the limit; also any malformed packet.
        for name, bad in (("second-connect", mh.connect_packet("e08-second")),
                          ("wildcard-topic", mh.publish_packet("e08/wild/+", b"x")),
                          ("nine-filters", mh.subscribe_packet(1, [(f"e08/f{i}", 0) for i in range(9)])),
                          ("too-large", mh.publish_packet("e08/big", b"x" * 140000))):
            cid = self.unique("e08-" + name)
            raw = self.raw_tls()
            self.assertEqual(raw.connect(cid), (False, 0))
            raw.send(bad)
            self.assertTrue(raw.wait_closed()[0], name)
            (event,) = self.events("presence/disconnected", cid)
            reasons.append((name, event["disconnectReason"], event["clientInitiatedDisconnect"]))
        self.assertEqual(reasons, [(name, "CLIENT_ERROR", False) for name, _, _ in reasons])

    def test_refused_connect_is_not_announced(self):
        dev = self.devices.certificate()   # no policy: CONNACK 5
        cid = self.unique("e08-refused")
        c = self.mqtt(dev, client_id=cid, connect=False)
        self.assertEqual(c.connect(), 5)
        # A later connection under another id is announced; the refused one never was.
        marker = self.unique("e08-marker")
        self.mqtt(client_id=marker).disconnect()
        self.events("presence/disconnected", marker)
        topics = [m.topic for m in self.observer.messages]
        self.assertNotIn(f"{PRESENCE}/connected/{cid}", topics)
        self.assertNotIn(f"{PRESENCE}/disconnected/{cid}", topics)

    def test_client_ids_with_wildcards_get_no_events(self):
        # AWS IoT: client ids containing # or + do not get lifecycle events (no valid topic names).
        everything = self.mqtt(self.observer_device)
        self.assertEqual(everything.subscribe("$aws/events/#", qos=1), [1])
        for cid in (self.unique("e08-plus+"), self.unique("e08-hash#")):
            c = self.mqtt(client_id=cid)
            self.assertTrue(c.connected, cid)
            c.disconnect()
        # The events of a later connection arrive after whatever those two caused.
        marker = self.unique("e08-after-wildcards")
        self.mqtt(client_id=marker).disconnect()
        self.assertTrue(everything.wait_messages(1, topic=f"{PRESENCE}/disconnected/{marker}"))
        topics = [m.topic for m in everything.messages]
        self.assertFalse([t for t in topics if "e08-plus" in t or "e08-hash" in t], topics)

    def test_subscription_events(self):
        cid = self.unique("e08-subs")
        base = self.unique("e08/subs")
        c = self.mqtt(client_id=cid)
        self.assertEqual(c.subscribe([(base + "/a", 1), (base + "/b/#", 0)]), [1, 0])
        (sub,) = self.events("subscriptions/subscribed", cid)
        self.assertEqual(sub["clientId"], cid)
        self.assertEqual(sub["eventType"], "subscribed")
        self.assertEqual(sorted(sub["topics"]), sorted([base + "/a", base + "/b/#"]))
        self.assertEqual(sub["principalIdentifier"], self.admin.cert_id)
        self.assertIsInstance(sub["timestamp"], int)
        (connected,) = self.events("presence/connected", cid)
        self.assertEqual(sub["sessionIdentifier"], connected["sessionIdentifier"])
        c.unsubscribe([base + "/a"])
        (unsub,) = self.events("subscriptions/unsubscribed", cid)
        self.assertEqual(unsub["eventType"], "unsubscribed")
        self.assertEqual(unsub["topics"], [base + "/a"])

    def test_events_need_a_policy_that_allows_them(self):
        dev = self.devices.device(statement("iot:Connect", "*"),
                                  statement(["iot:Subscribe", "iot:Receive"], self.arn("topicfilter", "e08/*")),
                                  statement("iot:Receive", self.arn("topic", "e08/*")))
        c = self.mqtt(dev, v5=True)
        self.assertEqual(c.subscribe([(PRESENCE + "/connected/+", 1), ("e08/ok", 1)]), [0x87, 1])
        # Allowed to subscribe to the filter but not to receive the events: nothing arrives.
        dev2 = self.devices.device(statement("iot:Connect", "*"),
                                   statement("iot:Subscribe", [self.arn("topicfilter", "$aws/events/*"),
                                                               self.arn("topicfilter", "e08/*")]),
                                   statement("iot:Receive", self.arn("topic", "e08/*")))
        c2 = self.mqtt(dev2)
        self.assertEqual(c2.subscribe([(PRESENCE + "/connected/+", 1), ("e08/end", 1)]), [1, 1])
        cid = self.unique("e08-unseen")
        self.mqtt(client_id=cid).disconnect()
        self.events("presence/disconnected", cid)   # the observer saw it ...
        self.sentinel(c2, self.mqtt(), "e08/end")
        self.assertEqual([m.topic for m in c2.messages if m.topic.startswith("$aws")], [])   # ... c2 did not

    def test_events_cannot_be_forged(self):
        cid = self.unique("e08-forger")
        c = self.mqtt(client_id=cid)
        c.publish(f"{PRESENCE}/disconnected/{cid}-victim", b'{"eventType": "disconnected"}', qos=1)
        self.assertClosed(c)
        self.events("presence/disconnected", cid)
        self.assertNotIn(f"{PRESENCE}/disconnected/{cid}-victim", [m.topic for m in self.observer.messages])


if __name__ == "__main__":
    mh.main()

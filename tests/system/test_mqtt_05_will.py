"""MQTT 05: will messages. Published when a connection ends without a
DISCONNECT (dropped socket, killed process, keep-alive timeout), or with a v5
DISCONNECT 0x04; not after a normal DISCONNECT; with its QoS and retain flag;
v5 Will Delay Interval (a reconnect within the delay cancels it, the end of
the session brings it forward)."""
import signal
import time

import mqtt_helpers as mh


class WillTest(mh.MqttTestCase):

    def watcher(self, topic, qos=1):
        w = self.mqtt()
        w.end_topic = self.unique("w05-end")
        self.assertEqual(w.subscribe([(topic, qos), (w.end_topic, 1)]), [qos, 1])
        return w

    def assertNoWill(self, watcher, topic):
        """Nothing on `topic` by the time a sentinel sent after the fact arrived."""
        self.sentinel(watcher, self.mqtt(), watcher.end_topic)
        self.assertEqual([m.payload for m in watcher.messages if m.topic == topic], [])

    def test_will_on_dropped_connection(self):
        for v5 in (False, True):
            topic = self.unique("w05/drop")
            w = self.watcher(topic)
            c = self.mqtt(v5=v5, will={"topic": topic, "payload": b"gone", "qos": 1})
            c.drop()
            (m,) = w.wait_messages(1)
            self.assertEqual((m.topic, m.payload, m.qos, m.retain), (topic, b"gone", 1, False), f"v5={v5}")

    def test_will_when_a_mosquitto_client_is_killed(self):
        topic = self.unique("w05/kill")
        w = self.watcher(topic)
        sub = self.mosquitto_sub(self.unique("w05/anything"), extra=["--will-topic", topic, "--will-payload",
                                                                     "killed", "--will-qos", "1"])
        sub.proc.send_signal(signal.SIGKILL)
        (m,) = w.wait_messages(1)
        self.assertEqual((m.payload, m.qos), (b"killed", 1))

    def test_no_will_after_a_normal_disconnect(self):
        for v5 in (False, True):
            topic = self.unique("w05/clean")
            w = self.watcher(topic)
            c = self.mqtt(v5=v5, will={"topic": topic, "payload": b"should not appear", "qos": 1})
            c.disconnect()
            self.assertNoWill(w, topic)

    def test_v5_disconnect_with_will_message(self):
        topic = self.unique("w05/0x04")
        w = self.watcher(topic)
        c = self.mqtt(v5=True, will={"topic": topic, "payload": b"asked for", "qos": 1})
        c.disconnect(reason=0x04)
        self.assertEqual([m.payload for m in w.wait_messages(1)], [b"asked for"])

    def test_will_on_keep_alive_timeout(self):
        topic = self.unique("w05/keepalive")
        w = self.watcher(topic)
        for level in (4, 5):
            raw = self.raw_tls()
            self.assertEqual(raw.connect(level=level, keepalive=2,
                                         will={"topic": topic, "payload": f"silent {level}", "qos": 1}), (False, 0))
            start = time.monotonic()
            closed, packets = raw.wait_closed(12)
            self.assertTrue(closed, "a client silent for 12 s with keep-alive 2 is still connected")
            if level == 5 and packets:   # at most a DISCONNECT 0x8D keep-alive timeout
                self.assertEqual([(p.type, mh.disconnect_reason(p)) for p in packets], [(mh.DISCONNECT, 0x8D)])
            self.assertGreaterEqual(time.monotonic() - start, 1.5)
            got = w.wait_messages(level - 3, topic=topic)
            self.assertEqual(got[-1].payload, f"silent {level}".encode())

    def test_will_when_taken_over(self):
        # AWS IoT publishes the will of a connection closed for DUPLICATE_CLIENTID.
        for v5 in (False, True):
            topic = self.unique("w05/takeover")
            w = self.watcher(topic)
            cid = self.unique("w05-dup")
            first = self.mqtt(v5=v5, client_id=cid, will={"topic": topic, "payload": b"replaced", "qos": 1})
            self.mqtt(v5=v5, client_id=cid)
            self.assertClosed(first)
            self.assertEqual([m.payload for m in w.wait_messages(1)], [b"replaced"], f"v5={v5}")

    def test_will_when_disconnected_for_a_refused_publish(self):
        # AUTH_ERROR disconnects publish the will (AWS IoT's table of disconnect reasons).
        topic = self.unique("w05/autherror")
        w = self.watcher(topic)
        dev = self.devices.device(mh.statement("iot:Connect", "*"),
                                  mh.statement("iot:Publish", self.arn("topic", topic)))
        c = self.mqtt(dev, will={"topic": topic, "payload": b"auth error", "qos": 1})
        c.publish(self.unique("w05/forbidden"), b"x", qos=1)
        self.assertClosed(c)
        self.assertEqual([m.payload for m in w.wait_messages(1)], [b"auth error"])

    def test_retained_will(self):
        topic = self.unique("w05/retained")
        c = self.mqtt(will={"topic": topic, "payload": b"offline", "qos": 1, "retain": True})
        c.drop()
        later = self.mqtt()
        self.assertEqual(later.subscribe(topic, qos=1), [1])
        (m,) = later.wait_messages(1)
        self.assertEqual((m.payload, m.retain), (b"offline", True))

    def test_will_qos_0_and_2(self):
        for qos in (0, 2):
            topic = self.unique("w05/qos")
            w = self.watcher(topic, qos=2)
            c = self.mqtt(v5=True, will={"topic": topic, "payload": b"q", "qos": qos})
            c.drop()
            (m,) = w.wait_messages(1)
            self.assertEqual(m.qos, qos)

    def test_v5_will_properties_are_forwarded(self):
        topic = self.unique("w05/props")
        w = self.mqtt(v5=True)
        self.assertEqual(w.subscribe(topic, qos=1), [1])
        props = mh.paho_properties("WILLMESSAGE", ContentType="text/plain", UserProperty=[("why", "test")])
        c = self.mqtt(v5=True, will={"topic": topic, "payload": b"bye", "qos": 1, "properties": props})
        c.drop()
        (m,) = w.wait_messages(1)
        self.assertEqual(m.properties.ContentType, "text/plain")
        self.assertEqual(list(m.properties.UserProperty), [("why", "test")])

    # ---- v5 will delay -----------------------------------------------------
    def v5_client(self, cid, will_topic, delay, session_expiry, clean=True):
        will = {"topic": will_topic, "payload": f"delayed {delay}".encode(), "qos": 1,
                "properties": mh.paho_properties("WILLMESSAGE", WillDelayInterval=delay)}
        return self.mqtt(v5=True, client_id=cid, clean=clean, will=will,
                         properties=mh.paho_properties("CONNECT", SessionExpiryInterval=session_expiry))

    def test_will_delay(self):
        topic = self.unique("w05/delay")
        w = self.watcher(topic)
        c = self.v5_client(self.unique("w05-delay"), topic, delay=2, session_expiry=60)
        c.drop()
        dropped = time.monotonic()
        got = w.wait_messages(1, timeout=mh.QUIET)
        self.assertEqual(got, [], "the will came before its delay")
        got = w.wait_messages(1, timeout=15)
        self.assertEqual([m.payload for m in got], [b"delayed 2"])
        self.assertGreaterEqual(time.monotonic() - dropped, 1.5)

    def test_reconnect_within_the_will_delay_cancels_the_will(self):
        topic = self.unique("w05/cancel")
        w = self.watcher(topic)
        cid = self.unique("w05-cancel")
        c = self.v5_client(cid, topic, delay=3, session_expiry=60)
        c.drop()
        again = self.mqtt(v5=True, client_id=cid, clean=False,
                          properties=mh.paho_properties("CONNECT", SessionExpiryInterval=60))
        self.assertTrue(again.session_present)
        # Past the delay (3 s) with room to spare: still no will.
        time.sleep(4.5)
        self.assertNoWill(w, topic)
        again.disconnect()

    def test_session_end_brings_the_delayed_will_forward(self):
        topic = self.unique("w05/expiry")
        w = self.watcher(topic)
        c = self.v5_client(self.unique("w05-expiry"), topic, delay=300, session_expiry=1)
        c.drop()
        got = w.wait_messages(1, timeout=15)
        self.assertEqual([m.payload for m in got], [b"delayed 300"])

    def test_server_restart_does_not_lose_a_pending_retained_will(self):
        # A will that is already published and retained is just a retained message.
        topic = self.unique("w05/restart")
        c = self.mqtt(will={"topic": topic, "payload": b"was offline", "qos": 1, "retain": True})
        w = self.watcher(topic)
        c.drop()
        self.assertEqual([m.payload for m in w.wait_messages(1)], [b"was offline"])
        w.disconnect()
        self.restart_server()
        later = self.mqtt()
        self.assertEqual(later.subscribe(topic, qos=1), [1])
        self.assertEqual([(m.payload, m.retain) for m in later.wait_messages(1)], [(b"was offline", True)])


if __name__ == "__main__":
    mh.main()

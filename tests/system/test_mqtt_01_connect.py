"""MQTT 01: connecting. MQTT over TLS 1.2/1.3 with mandatory client
certificates that chain to the server's root CA or a registered CA and are
ACTIVE and known; iot:Connect on the client id; client-id take-over;
keep-alive at 1.5x; AWS SDK metadata in the user name; the ready file; the
plain development listener judged by a named policy; shutdown with clients."""
import os
import signal
import ssl
import subprocess
import tempfile
import time

import harness
import mqtt_helpers as mh
from mqtt_helpers import PINGRESP


class ConnectTest(mh.MqttTestCase):

    def test_ready_file_names_the_broker(self):
        ready = self.server.ready
        self.assertEqual(ready["mqtt_host"], "127.0.0.1")
        self.assertIsInstance(ready["mqtt_port"], int)
        self.assertGreater(ready["mqtt_port"], 0)
        self.assertIn("mqtt_plain_port", ready)
        self.assertIsNone(ready["mqtt_plain_port"])   # the plain listener is off unless asked for

    def test_mosquitto_clients_311_and_v5(self):
        topic = self.unique("c01/hello")
        sub = self.mosquitto_sub(topic, qos=1)
        sub5 = self.mosquitto_sub(topic, qos=1, version="mqttv5")
        for version in (None, "mqttv5"):
            p = mh.mosquitto_pub(self.server, self.admin, topic, f"hello {version}", qos=1, version=version)
            self.assertEqual(p.returncode, 0, p.stderr)
        for s in (sub, sub5):
            got = s.wait_messages(2)
            self.assertEqual([m.payload for m in got], [b"hello None", b"hello mqttv5"])
            self.assertEqual({m.topic for m in got}, {topic})

    def test_tls_1_2_and_1_3(self):
        topic = self.unique("c01/tls")
        for version in ("tlsv1.2", "tlsv1.3"):
            p = mh.mosquitto_pub(self.server, self.admin, topic, "x", tls_version=version)
            self.assertEqual(p.returncode, 0, f"{version}: {p.stderr}")
        for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
            c = self.mqtt(tls_version=version)
            self.assertEqual(c.client.socket().version(), name)
            c.disconnect()

    def test_connack_311_and_v5(self):
        c = self.mqtt(v5=False)
        self.assertEqual(c.connack, 0)
        self.assertFalse(c.session_present)
        c.disconnect()
        c5 = self.mqtt(v5=True)
        self.assertEqual(c5.connack, 0)
        self.assertFalse(c5.session_present)
        c5.disconnect()

    def test_raw_connect_ping_disconnect(self):
        for level in (4, 5):
            raw = self.raw_tls()
            self.assertEqual(raw.connect(level=level), (False, 0))
            raw.send(mh.PINGREQ_PACKET)
            self.assertEqual(raw.read_packet().type, PINGRESP)
            raw.send(mh.disconnect_packet(level))
            closed, packets = raw.wait_closed()
            self.assertTrue(closed)
            self.assertEqual(packets, [])

    def test_empty_client_id(self):
        # 3.1.1 with a clean session and v5: accepted; v5 learns the identifier the server assigned.
        c = self.mqtt(client_id="")
        self.assertTrue(c.connected)
        c.disconnect()
        c5 = self.mqtt(client_id="", v5=True)
        assigned = c5.connack_properties.AssignedClientIdentifier
        self.assertTrue(assigned)
        c5.disconnect()
        raw = self.raw_tls()
        self.assertEqual(raw.connect("", level=4, clean=False), (False, 2))   # identifier rejected

    def test_sdk_metadata_user_name_is_accepted(self):
        for v5 in (False, True):
            c = self.mqtt(v5=v5, username="?SDK=PythonV2&Version=1.0")
            topic = self.unique("c01/sdk")
            self.assertEqual(c.subscribe(topic, qos=1), [1])
            self.assertTrue(c.publish(topic, b"sdk", qos=1))
            self.assertEqual([m.payload for m in c.wait_messages(1)], [b"sdk"])
            c.disconnect()
        p = mh.mosquitto_pub(self.server, self.admin, self.unique("c01/sdk"), "x",
                             username="?SDK=Java&Version=1.2.3&Platform=linux")
        self.assertEqual(p.returncode, 0, p.stderr)

    # ---- certificates that are not a valid identity ------------------------
    def assertRefused(self, device, v5=False):
        c = self.mqtt(device, connect=False, v5=v5)
        rc = c.connect()
        self.assertNotEqual(rc, 0, f"{device} was let in")
        self.assertClosed(c)
        return rc

    def test_client_without_certificate_is_refused(self):
        c = mh.MqttClient(self.server, None)
        self.addCleanup(c.close)
        self.assertIsNone(c.connect())
        self.assertTrue(c.closed)
        p = mh.mosquitto_pub(self.server, None, "c01/nocert", "x")
        self.assertNotEqual(p.returncode, 0)
        self.assert_still_serving()

    def test_certificate_from_an_unknown_ca_is_refused(self):
        self.assertRefused(self.devices.stranger())
        self.assert_still_serving()

    def test_certificate_signed_by_the_root_ca_but_never_issued_is_refused(self):
        pki = os.path.join(self.server.data_dir, "pki")
        issuer = mh.load_issuer(os.path.join(pki, "root-ca.pem"), os.path.join(pki, "root-ca.key"))
        self.assertRefused(self.devices.stranger(issuer=issuer))
        self.assert_still_serving()

    def test_inactive_and_revoked_certificates_are_refused(self):
        inactive = self.devices.certificate(policies=["mqtt-allow-all"], active=False)
        self.assertRefused(inactive)
        self.assertRefused(inactive, v5=True)
        self.devices.set_status(inactive, "ACTIVE")
        self.mqtt(inactive).disconnect()
        revoked = self.devices.certificate(policies=["mqtt-allow-all"])
        self.devices.set_status(revoked, "REVOKED")
        self.assertRefused(revoked)

    def test_device_certificate_from_a_registered_ca(self):
        ca_pem, issuer = self.devices.register_ca()
        dev = self.devices.register_device(ca_pem, issuer, policies=["mqtt-allow-all"])
        c = self.mqtt(dev)
        topic = self.unique("c01/byo")
        self.assertEqual(c.subscribe(topic, qos=1), [1])
        self.assertTrue(c.publish(topic, b"byo", qos=1))
        self.assertEqual([m.payload for m in c.wait_messages(1)], [b"byo"])
        c.disconnect()
        # Signed by the registered CA but never registered itself: not an identity.
        self.assertRefused(self.devices.stranger(issuer=issuer))
        # Registered but not active.
        self.assertRefused(self.devices.register_device(ca_pem, issuer, policies=["mqtt-allow-all"], active=False))

    # ---- iot:Connect ---------------------------------------------------------
    def test_certificate_without_policy_is_not_authorized(self):
        dev = self.devices.certificate()
        self.assertEqual(self.assertRefused(dev, v5=False), 5)
        self.assertEqual(self.assertRefused(dev, v5=True), 0x87)
        p = mh.mosquitto_pub(self.server, dev, "c01/nopolicy", "x")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("not authori", p.stderr.lower())

    def test_connect_is_judged_on_the_client_id(self):
        dev = self.devices.device(mh.statement("iot:Connect", self.arn("client", "c01-allowed-*")))
        ok = self.mqtt(dev, client_id="c01-allowed-1")
        self.assertTrue(ok.connected)
        ok.disconnect()
        ok5 = self.mqtt(dev, client_id="c01-allowed-2", v5=True)
        ok5.disconnect()
        for v5, code in ((False, 5), (True, 0x87)):
            c = self.mqtt(dev, client_id="c01-other", v5=v5, connect=False)
            self.assertEqual(c.connect(), code)
            self.assertClosed(c)

    # ---- take-over -------------------------------------------------------------
    def test_second_connection_with_the_same_client_id_takes_over_311(self):
        cid = self.unique("c01-dup")
        first = self.mqtt(client_id=cid)
        second = self.mqtt(client_id=cid)
        self.assertClosed(first)
        self.assertIsNone(first.disconnect_reason)
        topic = self.unique("c01/dup")
        self.assertEqual(second.subscribe(topic, qos=1), [1])
        self.assertTrue(second.publish(topic, b"still mine", qos=1))
        self.assertEqual([m.payload for m in second.wait_messages(1)], [b"still mine"])
        self.assertFalse(second.closed)

    def test_second_connection_with_the_same_client_id_takes_over_v5(self):
        cid = self.unique("c01-dup5")
        first = self.mqtt(client_id=cid, v5=True)
        second = self.mqtt(client_id=cid, v5=True)
        self.assertClosed(first)
        self.assertEqual(first.disconnect_reason, 0x8E)   # session taken over
        self.assertTrue(second.publish(self.unique("c01/dup5"), b"x", qos=1))
        self.assertFalse(second.closed)

    # ---- keep-alive ------------------------------------------------------------
    def test_keep_alive_is_enforced_and_pings_keep_a_client(self):
        silent = self.raw_tls()
        pinging = self.raw_tls()
        self.assertEqual(silent.connect(level=4, keepalive=2), (False, 0))
        self.assertEqual(pinging.connect(level=5, keepalive=2), (False, 0))
        start = time.monotonic()
        silent_closed = None
        # The silent client must go (1.5 x 2 s = 3 s, plus slack); the one that pings every
        # second must stay, for longer than the silent one's grace.
        while time.monotonic() - start < 6 or silent_closed is None:
            self.assertLess(time.monotonic() - start, 15, "the silent client was never dropped")
            self.assertTrue(pinging.send(mh.PINGREQ_PACKET))
            self.assertEqual(pinging.read_packet(5).type, PINGRESP)
            if silent_closed is None:
                closed, packets = silent.wait_closed(0.8)
                if closed:
                    silent_closed = time.monotonic() - start
                    self.assertEqual(packets, [])
            else:
                time.sleep(0.8)
        self.assertGreaterEqual(silent_closed, 1.5, "dropped before its keep-alive ran out")

    # ---- start-up and shutdown ----------------------------------------------------
    def test_plain_listener_without_policy_refuses_to_start(self):
        with tempfile.TemporaryDirectory() as d:
            args = [harness.airfleet_bin(), "serve", "--data-dir", os.path.join(d, "data"),
                    "--http-listen", "127.0.0.1:0", "--https-listen", "127.0.0.1:0",
                    "--mqtt-listen", "127.0.0.1:0", "--mqtt-plain", "127.0.0.1:0",
                    "--ready-file", os.path.join(d, "ready.json")]
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                out, _ = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                self.fail("airfleet started with --mqtt-plain and no --mqtt-plain-policy")
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("--mqtt-plain-policy", out.decode(errors="replace"))
            self.assertFalse(os.path.exists(os.path.join(d, "ready.json")))

    def test_plain_listener_naming_a_missing_policy(self):
        # Either refused at start with a message, or every plain client is refused (an
        # unknown policy allows nothing) -- never an open door, never a crash.
        try:
            server = harness.Server(extra_args=mh.plain_args("no-such-policy")).start()
        except RuntimeError as e:
            self.assertIn("no-such-policy", str(e))
            return
        try:
            c = mh.MqttClient(server, None, plain=True)
            self.addCleanup(c.close)
            self.assertEqual(c.connect(), 5)
            self.assertIsNone(server.proc.poll())
        finally:
            server.cleanup()

    def test_sigterm_with_connected_clients_exits_cleanly(self):
        server = mh.start_server()
        try:
            devices = mh.Provisioner(server)
            devices.policy("all", document=mh.ALLOW_ALL)
            dev = devices.certificate(policies=["all"])
            c4 = mh.MqttClient(server, dev)
            c5 = mh.MqttClient(server, dev, v5=True)
            self.addCleanup(c4.close)
            self.addCleanup(c5.close)
            self.assertEqual(c4.connect(), 0)
            self.assertEqual(c5.connect(), 0)
            self.assertEqual(c4.subscribe("c01/shutdown", qos=1), [1])
            server.proc.send_signal(signal.SIGTERM)
            self.assertEqual(server.proc.wait(25), 0, server.read_log()[-3000:])
            self.assertTrue(c4.wait_closed())
            self.assertTrue(c5.wait_closed())
            self.assertIn(c5.disconnect_reason, (None, 0x8B))   # server shutting down, or just closed
        finally:
            server.cleanup()


class PlainListenerTest(mh.MqttTestCase):
    """--mqtt-plain: no TLS, every client judged by the named policy."""
    plain_policy_document = mh.policy_document(
        mh.statement("iot:Connect", "arn:aws:iot:*:*:client/plain-*"),
        mh.statement(["iot:Publish", "iot:Receive"], "arn:aws:iot:*:*:topic/plain/*"),
        mh.statement("iot:Subscribe", "arn:aws:iot:*:*:topicfilter/plain/*"))

    def test_ready_file_names_the_plain_port(self):
        port = self.server.ready["mqtt_plain_port"]
        self.assertIsInstance(port, int)
        self.assertNotEqual(port, self.server.ready["mqtt_port"])

    def test_plain_clients_follow_the_plain_policy(self):
        watcher = self.mqtt()   # TLS, allow-all
        self.assertEqual(watcher.subscribe("plain/#", qos=1), [1])
        c = self.mqtt(plain=True, client_id="plain-1")
        self.assertEqual(c.subscribe([("plain/#", 1), ("secret/#", 1)]), [1, 0x80])
        self.assertTrue(c.publish("plain/x", b"over tcp", qos=1))
        self.assertEqual([m.payload for m in watcher.wait_messages(1)], [b"over tcp"])
        self.assertEqual([m.payload for m in c.wait_messages(1)], [b"over tcp"])
        p = mh.mosquitto_pub(self.server, None, "plain/y", "from mosquitto", plain=True, client_id="plain-2",
                             qos=1)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([m.payload for m in watcher.wait_messages(2)], [b"over tcp", b"from mosquitto"])
        # Publishing outside the policy ends the connection.
        c.publish("secret/x", b"no", qos=1)
        self.assertClosed(c)

    def test_plain_client_id_outside_the_policy_is_not_authorized(self):
        for v5, code in ((False, 5), (True, 0x87)):
            c = self.mqtt(plain=True, client_id="intruder", v5=v5, connect=False)
            self.assertEqual(c.connect(), code)
            self.assertClosed(c)

    def test_tls_port_still_requires_a_certificate(self):
        c = mh.MqttClient(self.server, None, client_id="plain-3")
        self.addCleanup(c.close)
        self.assertIsNone(c.connect())


if __name__ == "__main__":
    mh.main()

"""Helpers for the MQTT broker's system tests (test_mqtt_*.py).

The broker is driven by clients nobody here wrote -- mosquitto_pub and
mosquitto_sub (mosquitto-clients 2.0), python3-paho-mqtt (1.6 API) -- and, for
input no real client would send, by raw sockets speaking MQTT built by hand.
Devices get their identities the AWS way: CreateKeysAndCertificate,
CreatePolicy/AttachPolicy, CreateThing/AttachThingPrincipal through boto3,
written into a temporary directory as cert/key files next to the server's
root CA.

Pieces:
  * start_server(): `airfleet serve` with the MQTT listeners, optionally the
    plain development listener judged by a named IoT policy;
  * MqttTestCase: one server per test class, a provisioner, an allow-all
    `admin` device, factories whose clients are closed by addCleanup, and
    assert_still_serving() for the end of every bad-input test;
  * Provisioner / Device: certificates, policies, things, thing groups;
  * MosquittoSub / mosquitto_pub(): the mosquitto command-line clients;
  * MqttClient: a paho client on its own loop thread that never reconnects
    by itself and records CONNACK, SUBACK, messages and DISCONNECT;
  * RawClient and the packet builders/parsers: MQTT 3.1.1/5.0 by hand.

Waiting: every wait polls for a condition with a deadline. That something
did *not* happen is shown by a sentinel message sent after it (see
MqttTestCase.sentinel) rather than by sleeping; only tests whose subject is
time itself (expiry intervals, will delay, keep-alive) let time pass.
"""
import collections
import itertools
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import uuid

import harness

MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"
STDBUF = "/usr/bin/stdbuf"
HOST = "127.0.0.1"
# The server certificate names localhost and 127.0.0.1: the mosquitto clients
# connect by name and paho and raw sockets by address, so that both are used.
MOSQUITTO_HOST = "localhost"

WAIT = 10.0        # seconds to wait for something that should happen
QUIET = 1.0        # seconds to listen for something that should not happen

_ids = itertools.count(1)


def unique(prefix="t"):
    """A name no other test in this process uses (topics, client ids, policies)."""
    return f"{prefix}-{os.getpid()}-{next(_ids)}"


def wait_for(predicate, timeout=WAIT, interval=0.02):
    """Polls predicate() until it returns something truthy; returns that value,
    or the last (falsy) value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# ---------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------
def statement(actions, resources, effect="Allow", condition=None):
    st = {"Effect": effect, "Action": actions, "Resource": resources}
    if condition:
        st["Condition"] = condition
    return st


def policy_document(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ALLOW_ALL = policy_document(statement("iot:*", "*"))


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------
def plain_args(policy_name):
    return ["--mqtt-plain", f"{HOST}:0", "--mqtt-plain-policy", policy_name]


def start_server(extra_args=(), plain_policy=None):
    """Starts `airfleet serve` (its harness already passes --mqtt-listen
    127.0.0.1:0). plain_policy=(name, document) also opens the plain listener
    judged by that policy. The server may refuse --mqtt-plain-policy naming a
    policy that does not exist yet; then it is started once without the plain
    listener, the policy is created through the API, and it is started again
    on the same data directory."""
    if not plain_policy:
        return harness.Server(extra_args=extra_args).start()
    name, document = plain_policy
    args = list(extra_args) + plain_args(name)
    try:
        server = harness.Server(extra_args=args).start()
    except RuntimeError:
        server = harness.Server(extra_args=extra_args).start()
        try:
            _put_policy(server.boto3_client("iot"), name, document)
            rc = server.stop()
            if rc != 0:
                raise RuntimeError(f"airfleet exited with {rc} on SIGTERM:\n{server.read_log()}")
            server.extra_args = args
            server.start()
        except BaseException:
            server.cleanup()
            raise
        return server
    try:
        _put_policy(server.boto3_client("iot"), name, document)
    except BaseException:
        server.cleanup()
        raise
    return server


def _put_policy(iot, name, document):
    try:
        iot.create_policy(policyName=name, policyDocument=document)
    except iot.exceptions.ResourceAlreadyExistsException:
        iot.create_policy_version(policyName=name, policyDocument=document, setAsDefault=True)


def mqtt_port(server, plain=False):
    port = server.ready.get("mqtt_plain_port" if plain else "mqtt_port")
    if port is None:
        raise AssertionError("the ready file has no MQTT port (%s): the broker is not in this binary or the "
                             "listener is off: %r" % ("mqtt_plain_port" if plain else "mqtt_port", server.ready))
    return int(port)


# ---------------------------------------------------------------------------
# Provisioning through the AWS API
# ---------------------------------------------------------------------------
class Device:
    """One device identity: a certificate and its private key in files."""

    def __init__(self, name, cert_id, cert_arn, cert_path, key_path, ca_path):
        self.name, self.cert_id, self.cert_arn = name, cert_id, cert_arn
        self.cert_path, self.key_path, self.ca_path = cert_path, key_path, ca_path

    def __repr__(self):
        return f"Device({self.name}, {(self.cert_id or 'unregistered')[:12]})"


class Provisioner:
    """Certificates, policies and things through boto3, files under directory."""

    def __init__(self, server, directory=None):
        self.server = server
        self.directory = directory or os.path.join(server.tmp, "devices")
        os.makedirs(self.directory, exist_ok=True)
        self._iot, self._endpoint = None, None

    @property
    def iot(self):
        # The endpoint changes when the server restarts (port 0).
        if self._endpoint != self.server.endpoint:
            self._iot, self._endpoint = self.server.boto3_client("iot"), self.server.endpoint
        return self._iot

    def arn(self, kind, name):
        ready = self.server.ready
        return f"arn:aws:iot:{ready['region']}:{ready['account_id']}:{kind}/{name}"

    def policy(self, name, *statements, document=None):
        _put_policy(self.iot, name, document or policy_document(*statements))
        return name

    def write_files(self, name, cert_pem, key_pem):
        cert_path = os.path.join(self.directory, name + ".pem")
        key_path = os.path.join(self.directory, name + ".key")
        with open(cert_path, "w") as f:
            f.write(cert_pem)
        with open(key_path, "w") as f:
            f.write(key_pem)
        os.chmod(key_path, 0o600)
        return cert_path, key_path

    def certificate(self, name=None, policies=(), active=True, thing=None):
        """CreateKeysAndCertificate, AttachPolicy for each name in policies, and
        AttachThingPrincipal to `thing` (created if missing)."""
        name = name or unique("dev")
        out = self.iot.create_keys_and_certificate(setAsActive=active)
        cert_path, key_path = self.write_files(name, out["certificatePem"], out["keyPair"]["PrivateKey"])
        for p in policies:
            self.iot.attach_policy(policyName=p, target=out["certificateArn"])
        if thing:
            self.thing(thing)
            self.iot.attach_thing_principal(thingName=thing, principal=out["certificateArn"])
        return Device(name, out["certificateId"], out["certificateArn"], cert_path, key_path,
                      self.server.ready["root_ca"])

    def device(self, *statements, name=None, thing=None):
        """A certificate with its own policy made of these statements."""
        policy = self.policy(unique("pol"), *statements)
        return self.certificate(name=name, policies=[policy], thing=thing)

    def thing(self, name, groups=()):
        try:
            self.iot.create_thing(thingName=name)
        except self.iot.exceptions.ResourceAlreadyExistsException:
            pass
        for g in groups:
            self.iot.add_thing_to_thing_group(thingGroupName=g, thingName=name)
        return name

    def set_status(self, device, status):
        self.iot.update_certificate(certificateId=device.cert_id, newStatus=status)

    def register_ca(self):
        """A new CA registered (ACTIVE) with a verification certificate for the
        registration code. Returns (ca_pem, issuer) for register_device()."""
        code = self.iot.get_registration_code()["registrationCode"]
        ca_pem, _, issuer = make_certificate(unique("byo-ca"), ca=True)
        verification_pem, _, _ = make_certificate(code, issuer=issuer)
        self.iot.register_ca_certificate(caCertificate=ca_pem, verificationCertificate=verification_pem,
                                         setAsActive=True)
        return ca_pem, issuer

    def register_device(self, ca_pem, issuer, name=None, policies=(), active=True):
        """A device certificate signed by a registered CA, registered with RegisterCertificate."""
        name = name or unique("byo-dev")
        cert_pem, key_pem, _ = make_certificate(name, issuer=issuer)
        out = self.iot.register_certificate(certificatePem=cert_pem, caCertificatePem=ca_pem, setAsActive=active)
        cert_path, key_path = self.write_files(name, cert_pem, key_pem)
        for p in policies:
            self.iot.attach_policy(policyName=p, target=out["certificateArn"])
        return Device(name, out["certificateId"], out["certificateArn"], cert_path, key_path,
                      self.server.ready["root_ca"])

    def stranger(self, issuer=None, name=None):
        """Files for a certificate the server has never heard of: self-signed, or
        signed by issuer=(cert, key) (e.g. the server's own root CA key)."""
        name = name or unique("stranger")
        if issuer is None:
            _, _, issuer = make_certificate(name + "-ca", ca=True)
        cert_pem, key_pem, _ = make_certificate(name, issuer=issuer)
        cert_path, key_path = self.write_files(name, cert_pem, key_pem)
        return Device(name, None, None, cert_path, key_path, self.server.ready["root_ca"])


# ---------------------------------------------------------------------------
# Certificates made here (bring-your-own CA, strangers)
# ---------------------------------------------------------------------------
def make_certificate(cn, issuer=None, ca=False, days=30):
    """(cert_pem, key_pem, (cert, key)) for a P-256 key; self-signed when issuer is
    None, else signed by issuer=(cert, key) as returned in the third element."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer_cert.subject if issuer_cert else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    cert = builder.sign(issuer_key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert_pem, key_pem, (cert, key)


def load_issuer(cert_path, key_path):
    """(cert, key) of an existing CA, e.g. the server's own root in <data>/pki."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    return cert, key


# ---------------------------------------------------------------------------
# mosquitto_pub / mosquitto_sub
# ---------------------------------------------------------------------------
Message = collections.namedtuple("Message", "topic payload qos retain properties")


def mosquitto_connection_args(server, device=None, plain=False, version=None, client_id=None,
                              username=None, keepalive=None, tls_version=None):
    if plain:
        args = ["-h", HOST, "-p", str(mqtt_port(server, plain=True))]
    else:
        args = ["-h", MOSQUITTO_HOST, "-p", str(mqtt_port(server)), "--cafile", server.ready["root_ca"]]
        if device is not None:
            args += ["--cert", device.cert_path, "--key", device.key_path]
        if tls_version:
            args += ["--tls-version", tls_version]
    if version:
        args += ["-V", version]
    if client_id:
        args += ["-i", client_id]
    if username is not None:
        args += ["-u", username]
    if keepalive is not None:
        args += ["-k", str(keepalive)]
    return args


def mosquitto_pub(server, device, topic, message=b"", qos=0, retain=False, extra=(), timeout=WAIT, **conn):
    """One mosquitto_pub run; the payload goes through stdin (-s) so that any
    bytes survive. Returns the CompletedProcess (text stderr)."""
    if isinstance(message, str):
        message = message.encode()
    args = [MOSQUITTO_PUB, *mosquitto_connection_args(server, device, **conn), "-t", topic, "-q", str(qos)]
    if retain:
        args.append("-r")
    args += list(extra)
    args += ["-n"] if message == b"" else ["-s"]
    p = subprocess.run(args, input=message, capture_output=True, timeout=timeout + 5)
    p.stderr = p.stderr.decode(errors="replace")
    return p


class MosquittoSub:
    """mosquitto_sub in the background, line-buffered with -d so that its
    SUBACK shows (wait_subscribed) and every message is one parsed line."""
    FORMAT = "MSG\\t%q\\t%r\\t%l\\t%x\\t%t"

    def __init__(self, server, device, topics, qos=1, count=None, wait=None, extra=(), **conn):
        if isinstance(topics, str):
            topics = [topics]
        self.args = [STDBUF, "-oL", MOSQUITTO_SUB, "-d", *mosquitto_connection_args(server, device, **conn),
                     "-q", str(qos), "-F", self.FORMAT]
        for t in topics:
            self.args += ["-t", t]
        if count is not None:
            self.args += ["-C", str(count)]
        if wait is not None:
            self.args += ["-W", str(wait)]
        self.args += list(extra)
        self.messages, self.granted, self.connack, self.lines = [], None, None, []
        self.stderr = ""
        self._cond = threading.Condition()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()
        return self

    def _read_stdout(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                if line.startswith("MSG\t"):
                    _, qos, retain, length, hexpayload, topic = line.split("\t", 5)
                    payload = bytes.fromhex(hexpayload)
                    assert len(payload) == int(length), line
                    self.messages.append(Message(topic, payload, int(qos), bool(int(retain)), None))
                elif line.startswith("Subscribed (mid:"):
                    self.granted = [int(x) for x in line.split("):", 1)[1].split(",")]
                elif "received CONNACK (" in line:
                    self.connack = int(line.rsplit("(", 1)[1].rstrip(")"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_stderr(self):
        data = self.proc.stderr.read()
        with self._cond:
            self.stderr = data.decode(errors="replace")
            self._cond.notify_all()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_subscribed(self, timeout=WAIT):
        """The granted QoS / reason codes of the SUBACK; fails if none came."""
        with self._cond:
            self._cond.wait_for(lambda: self.granted is not None or self.proc.poll() is not None, timeout)
            if self.granted is None:
                raise AssertionError(f"mosquitto_sub got no SUBACK (rc={self.proc.poll()}):\n"
                                     + "\n".join(self.lines[-20:]) + "\n" + self.stderr)
            return list(self.granted)

    def wait_messages(self, count=1, timeout=WAIT):
        """Messages received so far once there are `count` of them, or at the deadline."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count or self.proc.poll() is not None, timeout)
            return list(self.messages)

    def wait_exit(self, timeout=WAIT):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._threads:
            t.join(5)
        return self.proc.returncode

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            for t in self._threads:
                t.join(5)
            self.proc.stdout.close()
            self.proc.stderr.close()
        return self.proc.returncode if self.proc else None


def mosquitto_sub_once(server, device, topics, count, wait, **kw):
    """mosquitto_sub -C count -W wait to completion: (messages, exit code, sub)."""
    sub = MosquittoSub(server, device, topics, count=count, wait=wait, **kw).start()
    try:
        rc = sub.wait_exit(wait + 10)
    finally:
        sub.stop()
    return sub.messages, rc, sub


# ---------------------------------------------------------------------------
# paho-mqtt (1.6 API)
# ---------------------------------------------------------------------------
def _paho():
    import paho.mqtt.client as mqtt
    return mqtt


def paho_properties(packet_type, **values):
    """paho Properties for a packet type name ("CONNECT", "PUBLISH", "WILLMESSAGE", ...)."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    props = Properties(getattr(PacketTypes, packet_type))
    for k, v in values.items():
        setattr(props, k, v)
    return props


def subscribe_options(qos=0, no_local=False, retain_as_published=False, retain_handling=0):
    from paho.mqtt.subscribeoptions import SubscribeOptions
    return SubscribeOptions(qos=qos, noLocal=no_local, retainAsPublished=retain_as_published,
                            retainHandling=retain_handling)


def tls_context(ca_path, device=None, tls_version=None):
    ctx = ssl.create_default_context(cafile=ca_path)
    if device is not None:
        ctx.load_cert_chain(device.cert_path, device.key_path)
    if tls_version:
        ctx.minimum_version = ctx.maximum_version = tls_version
    return ctx


class MqttClient:
    """A paho client that connects once and never reconnects by itself (paho's
    loop_start() would, which hides take-overs and refusals). Everything the
    broker sends is recorded: connack (3.1.1 return code or v5 reason code,
    None when no CONNACK came), session_present, suback codes, messages,
    disconnect_reason (the v5 DISCONNECT's reason code, None if the
    connection just closed), and `closed` once the connection is gone."""

    def __init__(self, server, device=None, client_id=None, v5=False, clean=True, keepalive=30,
                 username=None, password=None, will=None, properties=None, plain=False, host=HOST,
                 tls_version=None):
        mqtt = _paho()
        self.server, self.v5, self.clean, self.keepalive = server, v5, clean, keepalive
        self.client_id = client_id if client_id is not None else unique("client")
        self.host, self.port = host, mqtt_port(server, plain)
        self.connect_properties = properties
        # paho 2.x wants the callback API version first; these callbacks are 1.x's.
        api = (mqtt.CallbackAPIVersion.VERSION1,) if hasattr(mqtt, "CallbackAPIVersion") else ()
        if v5:
            self.client = mqtt.Client(*api, client_id=self.client_id, protocol=mqtt.MQTTv5)
        else:
            self.client = mqtt.Client(*api, client_id=self.client_id, clean_session=clean, protocol=mqtt.MQTTv311)
        self.client.suppress_exceptions = False
        # paho 1.6 ignores the reason code of a DISCONNECT shorter than 3 bytes
        # (e.g. 0x8E alone), so read it from the packet before paho does.
        handle_disconnect = self.client._handle_disconnect

        def _handle_disconnect():
            body = self.client._in_packet["packet"]
            with self._cond:
                self.disconnect_reason = body[0] if len(body) else 0
            return handle_disconnect()
        self.client._handle_disconnect = _handle_disconnect
        if not plain:
            self.client.tls_set_context(tls_context(server.ready["root_ca"], device, tls_version))
        if username is not None:
            self.client.username_pw_set(username, password)
        if will:
            self.client.will_set(will["topic"], will.get("payload", b""), will.get("qos", 0),
                                 will.get("retain", False), will.get("properties"))
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self._cond = threading.Condition()
        self.connack = None
        self.session_present = None
        self.connack_properties = None
        self.subacks, self.unsubacks = {}, {}
        self.messages = []
        self.disconnect_reason = None
        self.closed = False
        self.error = None
        self._thread = None
        self._stopping = False

    # -- callbacks (on the loop thread) --
    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self._cond:
            self.connack = rc.value if hasattr(rc, "value") else int(rc)
            self.session_present = bool(flags.get("session present"))
            self.connack_properties = properties
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self._cond:
            self.subacks[mid] = [g.value if hasattr(g, "value") else int(g) for g in granted]
            self._cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, properties=None, reasons=None):
        with self._cond:
            if isinstance(reasons, list):
                self.unsubacks[mid] = [r.value if hasattr(r, "value") else int(r) for r in reasons]
            elif reasons is not None and hasattr(reasons, "value"):
                self.unsubacks[mid] = [reasons.value]
            else:
                self.unsubacks[mid] = []
            self._cond.notify_all()

    def _on_message(self, client, userdata, msg):
        with self._cond:
            self.messages.append(Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain),
                                         getattr(msg, "properties", None)))
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        with self._cond:
            self._cond.notify_all()

    # -- connection --
    def connect(self, timeout=WAIT, clean_start=None):
        """Connects and waits for the CONNACK. Returns its code, or None when the
        TLS handshake failed or the connection closed before a CONNACK."""
        kwargs = {}
        if self.v5:
            kwargs["clean_start"] = self.clean if clean_start is None else clean_start
            kwargs["properties"] = self.connect_properties
        try:
            self.client.connect(self.host, self.port, self.keepalive, **kwargs)
        except (OSError, ssl.SSLError, ValueError) as e:
            self.error = e
            self._set_closed()
            return None
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"paho-{self.client_id}")
        # Tell paho a loop thread exists, as loop_start() would: publish() and
        # subscribe() then queue and wake the loop instead of writing the TLS
        # socket from the caller's thread at the same time (SSL BAD_LENGTH).
        self.client._thread = self._thread
        self._thread.start()
        with self._cond:
            self._cond.wait_for(lambda: self.connack is not None or self.closed, timeout)
            rc = self.connack
        if rc is None and not self.closed:
            raise AssertionError(f"no CONNACK for {self.client_id} within {timeout}s")
        return rc

    def _loop(self):
        while not self._stopping:
            try:
                rc = self.client.loop(0.05)
            except Exception as e:  # e.g. ssl.SSLError: the server refused the certificate (TLS 1.3)
                self.error = e
                rc = -1
            if rc != 0:
                break
        try:
            self.client._sock_close()
        except Exception:
            pass
        self._set_closed()

    def _set_closed(self):
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    @property
    def connected(self):
        return self.connack == 0 and not self.closed

    def wait_closed(self, timeout=WAIT):
        with self._cond:
            return self._cond.wait_for(lambda: self.closed, timeout)

    # -- operations --
    def subscribe(self, topics, qos=1, options=None, properties=None, timeout=WAIT):
        """topics: a filter, or a list of (filter, qos) / (filter, subscribe_options()).
        Returns the SUBACK codes, or None when the connection closed instead."""
        if isinstance(topics, str):
            if self.v5:
                topics = [(topics, options or subscribe_options(qos))]
            else:
                topics = [(topics, qos)]
        elif self.v5:
            topics = [(t, o if not isinstance(o, int) else subscribe_options(o)) for t, o in topics]
        rc, mid = self.client.subscribe(topics, properties=properties)
        if rc != 0:
            return None
        with self._cond:
            self._cond.wait_for(lambda: mid in self.subacks or self.closed, timeout)
            if mid not in self.subacks and not self.closed:
                raise AssertionError(f"no SUBACK for {topics} within {timeout}s")
            return self.subacks.get(mid)

    def unsubscribe(self, topics, timeout=WAIT):
        rc, mid = self.client.unsubscribe(topics)
        if rc != 0:
            return None
        with self._cond:
            self._cond.wait_for(lambda: mid in self.unsubacks or self.closed, timeout)
            return self.unsubacks.get(mid)

    def publish(self, topic, payload=b"", qos=0, retain=False, properties=None, timeout=WAIT):
        """Publishes and waits until paho considers it done (QoS 0: written;
        1: PUBACK; 2: PUBCOMP). False when the connection closed first."""
        info = self.client.publish(topic, payload, qos, retain, properties)
        if info.rc != 0:
            return False

        def done():
            try:
                return info.is_published() or self.closed
            except (ValueError, RuntimeError):
                return True
        wait_for(done, timeout, 0.01)
        try:
            return info.is_published()
        except (ValueError, RuntimeError):
            return False

    def wait_messages(self, count=1, timeout=WAIT, topic=None):
        """The messages received (on `topic` if given) once there are `count`, or at the deadline."""
        def matching():
            return [m for m in self.messages if topic is None or m.topic == topic]
        with self._cond:
            self._cond.wait_for(lambda: len(matching()) >= count, timeout)
            return matching()

    def disconnect(self, reason=None, properties=None, timeout=WAIT):
        """A clean DISCONNECT (v5: with this reason code), then the socket closes."""
        if self.closed:
            return
        if reason is not None:
            from paho.mqtt.reasoncodes import ReasonCodes
            from paho.mqtt.packettypes import PacketTypes
            reason = ReasonCodes(PacketTypes.DISCONNECT, identifier=reason)
        self.client.disconnect(reason, properties)
        self.wait_closed(timeout)
        self.close()

    def drop(self):
        """Ends the TCP connection without a DISCONNECT (the will is due)."""
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.wait_closed()
        self.close()

    def close(self):
        self._stopping = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        try:
            self.client._sock_close()
        except Exception:
            pass
        try:
            self.client._reset_sockets()
        except Exception:
            pass
        self._set_closed()


# ---------------------------------------------------------------------------
# Raw MQTT
# ---------------------------------------------------------------------------
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

# MQTT 5 property identifiers used here
PROP_PAYLOAD_FORMAT = 0x01
PROP_MESSAGE_EXPIRY = 0x02
PROP_CONTENT_TYPE = 0x03
PROP_RESPONSE_TOPIC = 0x08
PROP_CORRELATION_DATA = 0x09
PROP_SESSION_EXPIRY = 0x11
PROP_RECEIVE_MAXIMUM = 0x21
PROP_MAXIMUM_PACKET_SIZE = 0x27
PROP_WILL_DELAY = 0x18
PROP_USER_PROPERTY = 0x26
PROP_REASON_STRING = 0x1F


MAX_REMAINING_LENGTH = 268435455   # the most four length bytes can say


def varint(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(s):
    data = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack("!H", len(data)) + data


def prop_u32(ident, value):
    return bytes([ident]) + struct.pack("!I", value)


def prop_u16(ident, value):
    return bytes([ident]) + struct.pack("!H", value)


def prop_str(ident, value):
    return bytes([ident]) + string(value)


def properties(*props):
    body = b"".join(props)
    return varint(len(body)) + body


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


def connect_packet(client_id="", level=4, clean=True, keepalive=60, will=None, username=None, password=None,
                   protocol_name="MQTT", props=b"", reserved_flag=False):
    """will: dict(topic, payload, qos, retain, props (v5 will properties bytes, without length))."""
    flags = 0x02 if clean else 0
    if reserved_flag:
        flags |= 0x01
    payload = string(client_id)
    if will:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if level == 5:
            payload += properties(will.get("props", b""))
        payload += string(will["topic"]) + string(will.get("payload", b""))
    if username is not None:
        flags |= 0x80
        payload += string(username)
    if password is not None:
        flags |= 0x40
        payload += string(password)
    body = string(protocol_name) + bytes([level, flags]) + struct.pack("!H", keepalive)
    if level == 5:
        body += properties(props)
    return packet(CONNECT, 0, body + payload)


def publish_packet(topic, payload=b"", qos=0, pid=None, retain=False, dup=False, level=4, props=b""):
    if isinstance(payload, str):
        payload = payload.encode()
    flags = (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = string(topic)
    if qos:
        body += struct.pack("!H", pid if pid is not None else 1)
    if level == 5:
        body += properties(props)
    return packet(PUBLISH, flags, body + payload)


def subscribe_packet(pid, filters, level=4, props=b"", flags=0x02):
    """filters: [(filter, options byte)]; options = QoS for 3.1.1."""
    body = struct.pack("!H", pid)
    if level == 5:
        body += properties(props)
    for f, opts in filters:
        body += string(f) + bytes([opts])
    return packet(SUBSCRIBE, flags, body)


def unsubscribe_packet(pid, filters, level=4):
    body = struct.pack("!H", pid)
    if level == 5:
        body += properties()
    for f in filters:
        body += string(f)
    return packet(UNSUBSCRIBE, 0x02, body)


def ack_packet(ptype, pid, level=4, reason=None):
    body = struct.pack("!H", pid)
    if level == 5 and reason is not None:
        body += bytes([reason])
    return packet(ptype, 0x02 if ptype == PUBREL else 0, body)


PINGREQ_PACKET = packet(PINGREQ, 0, b"")


def disconnect_packet(level=4, reason=None, props=None):
    body = b""
    if level == 5 and (reason is not None or props is not None):
        body = bytes([reason or 0])
        if props is not None:
            body += properties(props)
    return packet(DISCONNECT, 0, body)


Packet = collections.namedtuple("Packet", "type flags body")


def _read_varint(data, pos):
    value, mult = 0, 1
    for i in range(4):
        if pos + i >= len(data):
            return None, pos
        b = data[pos + i]
        value += (b & 0x7F) * mult
        if not b & 0x80:
            return value, pos + i + 1
        mult *= 128
    raise ValueError("malformed remaining length from the server")


def _read_props(body, pos):
    length, pos = _read_varint(body, pos)
    return body[pos:pos + length], pos + length


def parse_connack(pkt, level=4):
    """(session_present, return/reason code)."""
    assert pkt.type == CONNACK, pkt
    return bool(pkt.body[0] & 1), pkt.body[1]


def parse_suback(pkt, level=4):
    """(packet id, [codes])."""
    assert pkt.type == SUBACK, pkt
    pid = struct.unpack("!H", pkt.body[:2])[0]
    pos = 2
    if level == 5:
        _, pos = _read_props(pkt.body, pos)
    return pid, list(pkt.body[pos:])


def parse_publish(pkt, level=4):
    assert pkt.type == PUBLISH, pkt
    qos = (pkt.flags >> 1) & 3
    tlen = struct.unpack("!H", pkt.body[:2])[0]
    topic = pkt.body[2:2 + tlen].decode()
    pos = 2 + tlen
    pid = None
    if qos:
        pid = struct.unpack("!H", pkt.body[pos:pos + 2])[0]
        pos += 2
    props = b""
    if level == 5:
        props, pos = _read_props(pkt.body, pos)
    return {"topic": topic, "qos": qos, "pid": pid, "retain": bool(pkt.flags & 1), "dup": bool(pkt.flags & 8),
            "payload": bytes(pkt.body[pos:]), "props": props}


def disconnect_reason(pkt):
    assert pkt.type == DISCONNECT, pkt
    return pkt.body[0] if pkt.body else 0


class RawClient:
    """A socket (plain or TLS) that sends bytes and reads whole MQTT packets."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""
        self.eof = False

    @classmethod
    def plain(cls, server, timeout=WAIT):
        return cls(socket.create_connection((HOST, mqtt_port(server, plain=True)), timeout=timeout))

    @classmethod
    def tls(cls, server, device, timeout=WAIT, tls_version=None):
        ctx = tls_context(server.ready["root_ca"], device, tls_version)
        sock = socket.create_connection((HOST, mqtt_port(server)), timeout=timeout)
        try:
            return cls(ctx.wrap_socket(sock, server_hostname=HOST))
        except BaseException:
            sock.close()
            raise

    @classmethod
    def tcp_to_tls_port(cls, server, timeout=WAIT):
        return cls(socket.create_connection((HOST, mqtt_port(server)), timeout=timeout))

    def send(self, data):
        """False when the connection is already gone."""
        try:
            self.sock.sendall(data)
            return True
        except (OSError, ssl.SSLError):
            return False

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise TimeoutError
        except ssl.SSLWantReadError:
            return
        except (ConnectionError, ssl.SSLError, OSError):
            chunk = b""
        if not chunk:
            self.eof = True
        self.buffer += chunk

    def read_packet(self, timeout=WAIT):
        """The next packet; None when the connection closed; TimeoutError at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buffer) >= 2:
                length, pos = _read_varint(self.buffer, 1)
                if length is not None and len(self.buffer) >= pos + length:
                    first = self.buffer[0]
                    pkt = Packet(first >> 4, first & 0x0F, self.buffer[pos:pos + length])
                    self.buffer = self.buffer[pos + length:]
                    return pkt
            if self.eof:
                return None
            self._fill(deadline)

    def expect(self, ptype, timeout=WAIT, skip=()):
        """The next packet, which must be of type ptype (packets of types in skip are passed over)."""
        while True:
            pkt = self.read_packet(timeout)
            if pkt is not None and pkt.type in skip:
                continue
            if pkt is None or pkt.type != ptype:
                raise AssertionError(f"expected packet type {ptype}, got {pkt}")
            return pkt

    def wait_closed(self, timeout=WAIT):
        """(closed, packets received before the close). closed is False at the deadline."""
        packets = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                pkt = self.read_packet(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return False, packets
            if pkt is None:
                return True, packets
            packets.append(pkt)

    def connect(self, client_id=None, level=4, timeout=WAIT, **kw):
        """Sends CONNECT and returns (session_present, code) from the CONNACK, or None on close."""
        self.send(connect_packet(client_id if client_id is not None else unique("raw"), level=level, **kw))
        pkt = self.read_packet(timeout)
        if pkt is None:
            return None
        return parse_connack(pkt, level)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Test case base
# ---------------------------------------------------------------------------
class MqttTestCase(harness.ServerTestCase):
    """One server per class with the TLS broker (and the plain listener when
    plain_policy_document is set), a provisioner and an allow-all `admin` device."""
    server_args = ()
    plain_policy_document = None
    plain_policy_name = "mqtt-plain-dev"

    @classmethod
    def setUpClass(cls):
        plain = (cls.plain_policy_name, cls.plain_policy_document) if cls.plain_policy_document else None
        cls.server = start_server(cls.server_args, plain)
        try:
            cls.region = cls.server.ready["region"]
            cls.account = cls.server.ready["account_id"]
            cls.iot = cls.server.boto3_client("iot")
            mqtt_port(cls.server)
            if plain:
                mqtt_port(cls.server, plain=True)
            cls.devices = Provisioner(cls.server)
            cls.devices.policy("mqtt-allow-all", document=ALLOW_ALL)
            cls.admin = cls.devices.certificate("admin", policies=["mqtt-allow-all"])
        except BaseException:
            cls.server.cleanup()
            raise

    def setUp(self):
        super().setUp()
        self.addCleanup(self.assert_server_alive)   # runs last, after the test's own cleanups

    def assert_server_alive(self):
        proc = self.server.proc
        if proc is not None and proc.poll() is not None:
            log = self.server.read_log()[-4000:]
            # Start it again on the same data directory so that the tests after this one
            # report their own results rather than this crash.
            type(self).server.stop()
            type(self).server.start()
            type(self).iot = self.server.boto3_client("iot")
            self.fail(f"airfleet exited with {proc.returncode} during the test:\n{log}")

    @classmethod
    def restart_server(cls):
        """SIGTERM, then start again on the same data directory (new ports)."""
        rc = cls.server.stop()
        if rc != 0:
            raise AssertionError(f"airfleet exited with {rc} on SIGTERM:\n{cls.server.read_log()[-3000:]}")
        cls.server.start()
        cls.iot = cls.server.boto3_client("iot")

    # -- factories whose products are cleaned up --
    def mqtt(self, device=None, connect=True, **kw):
        """A paho MqttClient (admin's certificate unless another device is given);
        connected, with its CONNACK asserted successful, unless connect=False."""
        c = MqttClient(self.server, device if device is not None else
                       (None if kw.get("plain") else self.admin), **kw)
        self.addCleanup(c.close)
        if connect:
            rc = c.connect()
            self.assertEqual(rc, 0, f"CONNACK for {c.client_id}: {rc} (error: {c.error!r})")
        return c

    def mosquitto_sub(self, topics, device=None, subscribed=True, **kw):
        sub = MosquittoSub(self.server, device if device is not None else
                           (None if kw.get("plain") else self.admin), topics, **kw)
        self.addCleanup(sub.stop)
        sub.start()
        if subscribed:
            sub.wait_subscribed()
        return sub

    def raw_plain(self, **kw):
        c = RawClient.plain(self.server, **kw)
        self.addCleanup(c.close)
        return c

    def raw_tls(self, device=None, **kw):
        c = RawClient.tls(self.server, device if device is not None else self.admin, **kw)
        self.addCleanup(c.close)
        return c

    def unique(self, prefix="t"):
        return unique(prefix)

    def sentinel(self, subscriber, publisher, topic, qos=1, timeout=WAIT):
        """Publishes a marker on `topic` and waits until `subscriber` (an
        MqttClient subscribed to it) has it: whatever the same publisher sent
        before has had its chance to arrive."""
        marker = ("sentinel-" + uuid.uuid4().hex).encode()
        self.assertTrue(publisher.publish(topic, marker, qos=qos), "sentinel publish failed")
        got = wait_for(lambda: any(m.payload == marker for m in subscriber.messages), timeout)
        self.assertTrue(got, f"the sentinel on {topic} did not arrive")

    def assert_still_serving(self):
        """A fresh client still connects, subscribes, publishes and receives."""
        c = self.mqtt(self.admin)
        topic = self.unique("health")
        self.assertEqual(c.subscribe(topic, qos=1), [1])
        self.assertTrue(c.publish(topic, b"still here", qos=1))
        got = c.wait_messages(1, topic=topic)
        self.assertEqual([m.payload for m in got], [b"still here"])
        c.disconnect()

    def assertClosed(self, client, timeout=WAIT, msg=None):
        self.assertTrue(client.wait_closed(timeout), msg or f"{client.client_id} is still connected")


main = harness.main

"""Raw HTTP helpers for the system tests.

Requests are signed with botocore's own SigV4 signer (nobody here wrote it) and
sent with http.client or a plain socket, so a test can send what no SDK would:
broken JSON, wrong member types, wrong methods, skewed clocks, partial bodies.
Everything connects to the server's loopback endpoint only; nothing binds.
"""
import datetime
import http.client
import json
import socket
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials

import harness

SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class _FixedTimeMixin:
    """Signs as if the clock read `when` (a naive UTC datetime) instead of now."""

    def __init__(self, *args, when=None, **kw):
        super().__init__(*args, **kw)
        self._when = when

    def add_auth(self, request):
        if self._when is None:
            return super().add_auth(request)
        request.context["timestamp"] = self._when.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))


class FixedTimeSigV4Auth(_FixedTimeMixin, botocore.auth.SigV4Auth):
    pass


class FixedTimeSigV4QueryAuth(_FixedTimeMixin, botocore.auth.SigV4QueryAuth):
    pass


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # lower-cased names
        self.body = body

    @property
    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    @property
    def error_type(self):
        """The error code as botocore's rest-json parser would find it (header first, then body)."""
        header = self.headers.get("x-amzn-errortype")
        if header:
            return header.split(":", 1)[0]
        body = self.json
        if isinstance(body, dict):
            code = body.get("code") or body.get("Code") or body.get("__type")
            if code:
                return code.rsplit("#", 1)[-1]
        return None

    def __repr__(self):
        return f"Response(status={self.status}, headers={self.headers!r}, body={self.body[:500]!r})"


class Client:
    """Signs and sends raw requests to one server."""

    def __init__(self, server, access_key=None, secret_key=None, region=None):
        creds = harness.read_credentials(server.credentials_file)
        url = urllib.parse.urlsplit(server.endpoint)
        self.host = url.hostname
        self.port = url.port
        self.netloc = url.netloc
        self.access_key = access_key or creds["aws_access_key_id"]
        self.secret_key = secret_key or creds["aws_secret_access_key"]
        self.region = region or creds.get("region", "us-east-1")

    # ---- signing -------------------------------------------------------
    def sign(self, method, path, body=b"", headers=None, service="execute-api", when=None,
             region=None):
        """Returns (path_with_query, headers) signed in the Authorization header.
        `path` is sent as given (already percent-encoded, query included)."""
        hdrs = {"Host": self.netloc}
        if body:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        request = botocore.awsrequest.AWSRequest(
            method=method, url=f"http://{self.netloc}{path}", data=body, headers=hdrs)
        credentials = botocore.credentials.Credentials(self.access_key, self.secret_key)
        FixedTimeSigV4Auth(credentials, service, region or self.region, when=when).add_auth(request)
        return path, dict(request.headers.items())

    def presign(self, method, path, expires=300, service="execute-api", when=None, region=None):
        """Returns a query-string (presigned) SigV4 path, as botocore's SigV4QueryAuth makes it."""
        request = botocore.awsrequest.AWSRequest(
            method=method, url=f"http://{self.netloc}{path}", headers={"Host": self.netloc})
        credentials = botocore.credentials.Credentials(self.access_key, self.secret_key)
        FixedTimeSigV4QueryAuth(credentials, service, region or self.region,
                                expires=expires, when=when).add_auth(request)
        url = urllib.parse.urlsplit(request.url)
        return url.path + ("?" + url.query if url.query else "")

    # ---- sending -------------------------------------------------------
    def send(self, method, path, body=None, headers=None, timeout=30):
        """Sends one request on a fresh connection, returns a Response."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    def signed(self, method, path, body=b"", headers=None, timeout=30, **sign_kw):
        if isinstance(body, str):
            body = body.encode()
        signed_path, hdrs = self.sign(method, path, body, headers, **sign_kw)
        return self.send(method, signed_path, body=body if (body or method in ("POST", "PUT", "PATCH")) else None,
                         headers=hdrs, timeout=timeout)

    def connect(self, timeout=30):
        return socket.create_connection((self.host, self.port), timeout=timeout)

    def raw_request_bytes(self, method, path, body=b"", headers=None, content_length=None, **sign_kw):
        """Signed request head (bytes) for sending by hand over a socket. The
        Content-Length header is len(body) unless `content_length` overrides it."""
        signed_path, hdrs = self.sign(method, path, body, headers, **sign_kw)
        length = len(body) if content_length is None else content_length
        lines = [f"{method} {signed_path} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in hdrs.items()]
        lines.append(f"Content-Length: {length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_http_response(sock, timeout=30):
    """Reads one HTTP/1.1 response from a socket (Content-Length bodies, or until EOF).
    Returns a Response, or None if the peer closed before sending anything."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            if not data:
                return None
            raise AssertionError(f"connection closed inside the response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        want = int(headers["content-length"])
        while len(rest) < want:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        rest = rest[:want]
    elif headers.get("transfer-encoding", "").lower() != "chunked":
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            rest += chunk
    return Response(status, headers, rest)

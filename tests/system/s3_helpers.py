"""Helpers for the firmware store (S3 API) system tests (test_s3_*.py).

The S3 surfaces are driven by clients nobody here wrote: /usr/bin/aws
(`aws s3 ...`, `aws s3api ...`), boto3's `s3` client, /usr/bin/curl, and,
for what no SDK here sends, requests signed with botocore's own SigV4 signer
and sent over http.client.

Pieces:
  * S3TestCase: harness.ServerTestCase with a boto3 `s3` client, a scratch
    directory, bucket names, files and the AWS CLI pointed at either
    endpoint (the HTTPS one with AWS_CA_BUNDLE set to the server's root CA);
  * curl(): /usr/bin/curl with its status, headers and body;
  * s3_error(): the <Error> document S3 answers with, as a dict;
  * on_disk(): whether some bytes appear in any file under <data>/blobs;
  * multipart_etag(): S3's md5-of-part-md5s-N;
  * S3Raw: requests signed with SigV4 for service s3 (any x-amz-content-sha256),
    and aws-chunked bodies (STREAMING-AWS4-HMAC-SHA256-PAYLOAD with chunk
    signatures, STREAMING-UNSIGNED-PAYLOAD-TRAILER with a checksum trailer).
"""
import base64
import concurrent.futures
import hashlib
import hmac
import itertools
import os
import re
import subprocess
import time
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

import botocore.auth
import botocore.awsrequest
import botocore.credentials

import harness
import rawhttp

CURL = "/usr/bin/curl"
MiB = 1024 * 1024
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_ids = itertools.count(1)


def bucket_name(prefix="fw"):
    """A bucket name no other test in this process uses (lower case, digits, '-')."""
    return f"{prefix}-{os.getpid()}-{next(_ids)}"


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def md5_b64(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def multipart_etag(data, part_size=8 * MiB):
    """S3's ETag of a multipart object: md5 of the parts' binary md5s, '-', the part count."""
    parts = [data[i:i + part_size] for i in range(0, len(data), part_size)]
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def random_bytes(n):
    return os.urandom(n)


def windows(data, count=8, size=32):
    """`count` windows of `size` bytes spread over data (first, last and between)."""
    if len(data) <= size:
        return [data]
    step = max(1, (len(data) - size) // max(1, count - 1))
    return [data[min(i * step, len(data) - size):min(i * step, len(data) - size) + size] for i in range(count)]


def blob_files(data_dir):
    """Every file under <data>/blobs (temporary ones included)."""
    out = []
    for root, _dirs, files in os.walk(os.path.join(data_dir, "blobs")):
        out += [os.path.join(root, f) for f in files]
    return out


def on_disk(data_dir, needles):
    """The needles (bytes) found in any file under <data>/blobs: {needle index: path}."""
    found = {}
    for path in blob_files(data_dir):
        try:
            with open(path, "rb") as f:
                content = f.read()
        except OSError:
            continue   # a temporary file that went away
        for i, needle in enumerate(needles):
            if i not in found and needle in content:
                found[i] = path
    return found


def s3_error(body):
    """The S3 <Error> document as {tag: text}, or None if the body is not one."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    if root.tag != "Error":
        return None
    return {child.tag: (child.text or "") for child in root}


# ---------------------------------------------------------------------------
# curl
# ---------------------------------------------------------------------------
class CurlResult:
    def __init__(self, code, status, headers, body, err):
        self.code, self.status, self.headers, self.body, self.err = code, status, headers, body, err

    def __repr__(self):
        return (f"CurlResult(code={self.code}, status={self.status}, headers={self.headers!r}, "
                f"body={self.body[:400]!r}, err={self.err[-400:]!r})")


def curl(url, *args, timeout=60):
    """Runs curl on `url`; returns a CurlResult (status and headers of the last response,
    the body curl wrote to stdout). Extra args go before the URL."""
    import tempfile
    with tempfile.NamedTemporaryFile(prefix="curl-headers-") as h:
        p = subprocess.run([CURL, "-sS", "-D", h.name, *args, url], capture_output=True, timeout=timeout)
        with open(h.name, "rb") as f:
            raw = f.read().decode("latin-1")
    status, headers = None, {}
    for block in re.split(r"\r\n\r\n", raw):
        lines = [l for l in block.split("\r\n") if l]
        if not lines or not lines[0].startswith("HTTP/"):
            continue
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    return CurlResult(p.returncode, status, headers, p.stdout, p.stderr.decode(errors="replace"))


# ---------------------------------------------------------------------------
# Raw S3 requests
# ---------------------------------------------------------------------------
def signing_key(secret, date, region, service="s3"):
    k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def _hmac_hex(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


class FixedTimeS3SigV4QueryAuth(rawhttp._FixedTimeMixin, botocore.auth.S3SigV4QueryAuth):
    pass


class S3Raw(rawhttp.Client):
    """rawhttp.Client for S3: SigV4 (service s3) with the x-amz-content-sha256 header,
    no default Content-Type, and aws-chunked bodies."""

    def s3_sign(self, method, path, body=b"", headers=None, payload_hash=None, when=None):
        """(path, headers) signed in the Authorization header (as if at `when`, naive UTC, if
        given). x-amz-content-sha256 is `payload_hash` (default: the body's sha256) and is signed."""
        hdrs = {"Host": self.netloc}
        hdrs.update(headers or {})
        hdrs["X-Amz-Content-SHA256"] = payload_hash or sha256_hex(body)
        request = botocore.awsrequest.AWSRequest(
            method=method, url=f"http://{self.netloc}{path}", data=body, headers=hdrs)
        credentials = botocore.credentials.Credentials(self.access_key, self.secret_key)
        rawhttp.FixedTimeSigV4Auth(credentials, "s3", self.region, when=when).add_auth(request)
        return path, dict(request.headers.items())

    def s3(self, method, path, body=b"", headers=None, payload_hash=None, timeout=60, when=None):
        """Signs and sends one S3 request; returns a rawhttp.Response."""
        signed_path, hdrs = self.s3_sign(method, path, body, headers, payload_hash, when)
        return self.send(method, signed_path, body=body if (body or method in ("PUT", "POST")) else None,
                         headers=hdrs, timeout=timeout)

    def s3_presign(self, method, path, expires=600, when=None):
        """A presigned path+query as S3 clients make it (S3SigV4QueryAuth: UNSIGNED-PAYLOAD,
        only host signed), optionally as if signed at `when` (naive UTC)."""
        request = botocore.awsrequest.AWSRequest(method=method, url=f"http://{self.netloc}{path}",
                                                 headers={"Host": self.netloc})
        credentials = botocore.credentials.Credentials(self.access_key, self.secret_key)
        FixedTimeS3SigV4QueryAuth(credentials, "s3", self.region, expires=expires, when=when).add_auth(request)
        url = urllib.parse.urlsplit(request.url)
        return url.path + ("?" + url.query if url.query else "")

    def anonymous(self, method, path, body=None, headers=None):
        return self.send(method, path, body=body, headers=headers or {})

    # ---- aws-chunked -------------------------------------------------------
    def streaming_put(self, path, data, chunk_size=64 * 1024, headers=None, tamper_chunk=None):
        """PUT with X-Amz-Content-SHA256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD. The seed
        signature is the request's SigV4 signature; each chunk's signature chains from the
        previous one (AWS: "Transferring Payload in Multiple Chunks"). tamper_chunk=i sends
        chunk i with a wrong signature. Returns (Response, the body as sent)."""
        chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
        body_len = sum(len(f"{len(c):x};chunk-signature=".encode()) + 64 + 2 + len(c) + 2 for c in chunks)
        hdrs = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                "Content-Length": str(body_len), "Content-Type": "application/octet-stream"}
        hdrs.update(headers or {})
        signed_path, signed = self.s3_sign("PUT", path, b"", hdrs, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        auth = signed["Authorization"]
        seed = re.search(r"Signature=([0-9a-f]{64})", auth).group(1)
        amz_date = signed["X-Amz-Date"]
        scope = f"{amz_date[:8]}/{self.region}/s3/aws4_request"
        key = signing_key(self.secret_key, amz_date[:8], self.region)
        previous, body = seed, b""
        for i, c in enumerate(chunks):
            to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_SHA256,
                                 sha256_hex(c)])
            sig = _hmac_hex(key, to_sign)
            sent = sig
            if tamper_chunk == i:
                sent = ("0" if sig[0] != "0" else "1") + sig[1:]
            body += f"{len(c):x};chunk-signature={sent}\r\n".encode() + c + b"\r\n"
            previous = sig
        assert len(body) == body_len, (len(body), body_len)
        return self.send("PUT", signed_path, body=body, headers=signed), body

    def unsigned_trailer_put(self, path, data, checksum_b64, chunk_size=64 * 1024, headers=None,
                             algorithm="crc32"):
        """PUT with X-Amz-Content-SHA256: STREAMING-UNSIGNED-PAYLOAD-TRAILER: plain aws-chunked
        chunks, then the trailer x-amz-checksum-<algorithm>: checksum_b64."""
        chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]
        body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
        body += b"0\r\n" + f"x-amz-checksum-{algorithm}:{checksum_b64}\r\n".encode() + b"\r\n"
        hdrs = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                "x-amz-trailer": f"x-amz-checksum-{algorithm}", "Content-Length": str(len(body)),
                "Content-Type": "application/octet-stream"}
        hdrs.update(headers or {})
        signed_path, signed = self.s3_sign("PUT", path, b"", hdrs, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        return self.send("PUT", signed_path, body=body, headers=signed)


def quote_key(key):
    """A key as it goes into a request path (what botocore sends)."""
    return urllib.parse.quote(key, safe="/~")


# ---------------------------------------------------------------------------
# The test case
# ---------------------------------------------------------------------------
class S3TestCase(harness.ServerTestCase):
    """One server per class; self.s3 is a boto3 client, self.raw an S3Raw.

    A test after which the server is no longer serving fails (with the end of the
    server's log), and the server is started again on the same data directory
    for the tests that follow, so one crash is reported once, where it happens."""

    @classmethod
    def setUpClass(cls):
        # As harness.ServerTestCase, with glibc's fatal messages (double free...) sent to the
        # server's log instead of the terminal.
        cls.server = harness.Server(extra_args=cls.server_args, env={"LIBC_FATAL_STDERR_": "1"}).start()
        cls.region = cls.server.ready["region"]
        cls.account = cls.server.ready["account_id"]
        cls.iot = cls.server.boto3_client("iot")
        cls.files = os.path.join(cls.server.tmp, "files")
        os.makedirs(cls.files, exist_ok=True)
        cls.data_dir = cls.server.ready["data_dir"]
        cls.make_clients()

    @classmethod
    def make_clients(cls):
        """(Re)creates the clients for the server's current endpoint."""
        cls.s3 = cls.server.boto3_client("s3")
        cls.raw = S3Raw(cls.server)

    def setUp(self):
        super().setUp()
        if self.server.proc is None or self.server.proc.poll() is not None:
            self.server.stop()
            self.server.start()
            type(self).iot = self.server.boto3_client("iot")
            type(self).make_clients()
        self._log_start = len(self.server.read_log())

    def tearDown(self):
        # The server must still serve after each test (a crash shows up on the next request).
        alive = self.server.proc is not None and self.server.proc.poll() is None
        if alive:
            try:
                self.s3.list_buckets()
            except Exception:   # noqa: BLE001 - any failure to answer
                alive = False
        if not alive:
            for _ in range(20):
                if self.server.proc is None or self.server.proc.poll() is not None:
                    break
                time.sleep(0.05)
            code = self.server.proc.poll() if self.server.proc else None
            log = self.server.read_log()[getattr(self, "_log_start", 0):]
            self.fail(f"the server stopped serving during this test (exit status {code}); "
                      f"its log during the test ends:\n{log[-1500:]}")
        super().tearDown()

    # ---- files ----------------------------------------------------------------
    def write(self, name, data):
        path = os.path.join(self.files, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def path(self, name):
        return os.path.join(self.files, name)

    # ---- buckets ----------------------------------------------------------------
    def make_bucket(self, prefix="fw", versioned=False, encrypted=False):
        """A new bucket (through boto3), optionally versioned and/or encrypted by default."""
        name = bucket_name(prefix)
        self.s3.create_bucket(Bucket=name)
        if versioned:
            self.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if encrypted:
            self.s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        return name

    def get_bytes(self, bucket, key, **kw):
        return self.s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()

    # ---- the CLI at either endpoint -----------------------------------------------
    def aws_at(self, endpoint, *args, env=None):
        e = self.server.aws_env()
        e.update(env or {})
        p = subprocess.run([harness.AWS_BIN, "--endpoint-url", endpoint, "--output", "json", *args],
                           capture_output=True, text=True, env=e, timeout=180)
        return harness.AwsResult(p.returncode, p.stdout, p.stderr)

    def aws_https(self, *args):
        return self.aws_at(self.server.ready["https_endpoint"], *args,
                           env={"AWS_CA_BUNDLE": self.server.ready["root_ca"]})

    def aws_all(self, *commands):
        """Runs independent CLI commands at once (each CLI start costs most of a second)."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda args: self.aws(*args), commands))

    # ---- assertions ---------------------------------------------------------------
    def assertS3Error(self, resp, status, code):
        """A raw/curl response that is S3's XML <Error> with `code` and HTTP `status`."""
        self.assertEqual(resp.status, status, resp)
        err = s3_error(resp.body)
        self.assertIsNotNone(err, f"not an S3 <Error> document: {resp}")
        self.assertEqual(err.get("Code"), code, resp)
        self.assertTrue(err.get("Message"), f"empty Message: {resp}")
        self.assertTrue(err.get("RequestId"), f"no RequestId: {resp}")
        return err

    def assertServerAlive(self):
        self.assertIsNone(self.server.proc.poll(),
                          f"the server exited with {self.server.proc.returncode}:\n{self.server.read_log()[-2000:]}")

    def assertClientErrorS3(self, ctx, code, status):
        """Like assertClientError, for S3 responses where a HEAD/304 has no message."""
        err = ctx.exception.response
        self.assertEqual(err["Error"]["Code"], code, err)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status, err)
        return err

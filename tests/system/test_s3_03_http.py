"""S3 03: the firmware store at the HTTP level, with /usr/bin/curl and raw
requests signed by botocore's SigV4 signer.

What devices and odd clients do: presigned URLs fetched with `curl -r`
(206 with Content-Range, suffix and open ranges, 416 InvalidRange with
`Content-Range: bytes */size`, several ranges ignored as S3 does), `curl -C -`
resuming a partial download, plain and encrypted objects alike (ranges across
the 64 KiB encryption chunks); conditional requests (304/412); anonymous
requests refused (403 AccessDenied); expired and tampered SigV4 presigned URLs;
errors in S3's XML form (<Error><Code>…<Message>…<RequestId>…); the
x-amz-content-sha256 and Content-MD5 checks (XAmzContentSHA256Mismatch,
BadDigest, UNSIGNED-PAYLOAD accepted); aws-chunked uploads built by hand
(STREAMING-AWS4-HMAC-SHA256-PAYLOAD with chained chunk signatures; a wrong
chunk signature is SignatureDoesNotMatch and stores nothing) and
STREAMING-UNSIGNED-PAYLOAD-TRAILER with an x-amz-checksum-crc32 trailer; and
an upload cut off half way: its temporary file holds no plaintext when the
bucket encrypts (and does for a plain bucket, the control), it never becomes
an object, and the temporary file goes away.

If-Modified-Since with a date in the future is ignored by S3 (the object
comes back, 200), as RFC 7232 says for invalid dates; ceph/s3-tests notes the
same of Amazon ("Amazon returns 200 if the date is in the future")."""
import datetime
import email.utils
import os
import time
import urllib.parse

import harness
import rawhttp
import s3_helpers as sh
from mqtt_helpers import wait_for
from s3_helpers import MiB


class S3HttpTest(sh.S3TestCase):

    def url(self, bucket, key, expires=600, method="GET", when=None):
        """A SigV4 presigned URL (botocore's SigV4QueryAuth) on the server's endpoint."""
        path = self.raw.s3_presign(method, f"/{bucket}/{sh.quote_key(key)}", expires=expires, when=when)
        return self.server.endpoint + path

    def put(self, bucket, key, data, **kw):
        self.s3.put_object(Bucket=bucket, Key=key, Body=data, **kw)

    def exists(self, bucket, key):
        try:
            self.s3.head_object(Bucket=bucket, Key=key)
            return True
        except self.s3.exceptions.ClientError as e:
            if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return False
            raise

    # ---- anonymous -----------------------------------------------------------------
    def test_anonymous_requests_are_refused(self):
        bucket = self.make_bucket("anon")
        self.put(bucket, "fw.bin", b"secret firmware")
        base = self.server.endpoint
        for name, url, args in (("get object", f"{base}/{bucket}/fw.bin", ()),
                                ("list bucket", f"{base}/{bucket}", ()),
                                ("list buckets", f"{base}/", ()),
                                ("put object", f"{base}/{bucket}/new.bin", ("-X", "PUT", "--data-binary", "x")),
                                ("delete object", f"{base}/{bucket}/fw.bin", ("-X", "DELETE"))):
            with self.subTest(name):
                r = sh.curl(url, *args)
                self.assertS3Error(r, 403, "AccessDenied")
                self.assertNotIn(b"secret firmware", r.body)
        r = sh.curl(f"{base}/{bucket}/fw.bin", "-I")
        self.assertEqual(r.status, 403, r)
        self.assertFalse(self.exists(bucket, "new.bin"))
        self.assertEqual(self.get_bytes(bucket, "fw.bin"), b"secret firmware")

    # ---- ranges and resume -------------------------------------------------------------
    def check_ranges(self, bucket, key, data):
        url, n = self.url(bucket, key), len(data)
        for rng, first, last in (("0-99", 0, 99), ("1000-", 1000, n - 1), ("-500", n - 500, n - 1),
                                 ("65530-65545", 65530, 65545), (f"{n - 10}-{n + 100}", n - 10, n - 1),
                                 (f"{n - 1}-{n - 1}", n - 1, n - 1)):
            with self.subTest(range=rng):
                r = sh.curl(url, "-r", rng)
                self.assertEqual(r.status, 206, r)
                self.assertEqual(r.headers.get("content-range"), f"bytes {first}-{last}/{n}")
                self.assertEqual(r.headers.get("content-length"), str(last - first + 1))
                self.assertTrue(r.body == data[first:last + 1], f"range {rng}: wrong bytes")
        # Past the end: 416 InvalidRange, with the size in Content-Range.
        r = sh.curl(url, "-r", f"{n}-")
        err = self.assertS3Error(r, 416, "InvalidRange")
        self.assertEqual(r.headers.get("content-range"), f"bytes */{n}")
        self.assertEqual(err.get("ActualObjectSize"), str(n))
        # Several ranges: S3 serves only single ranges and sends the whole object.
        r = sh.curl(url, "-r", "0-1,5-6")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.body == data)

    def test_curl_ranges_plain_object(self):
        bucket = self.make_bucket("rplain")
        data = sh.random_bytes(300 * 1024 + 7)
        self.put(bucket, "fw.bin", data)
        self.check_ranges(bucket, "fw.bin", data)

    def test_curl_ranges_encrypted_object(self):
        bucket = self.make_bucket("renc", encrypted=True)
        data = sh.random_bytes(300 * 1024 + 7)
        self.put(bucket, "fw.bin", data)
        self.assertEqual(self.s3.head_object(Bucket=bucket, Key="fw.bin")["ServerSideEncryption"], "AES256")
        self.check_ranges(bucket, "fw.bin", data)

    def test_curl_resume_partial_download(self):
        plain = self.make_bucket("resume")
        encrypted = self.make_bucket("resumeenc", encrypted=True)
        data = sh.random_bytes(1 * MiB + 333)
        for bucket in (plain, encrypted):
            with self.subTest(bucket=bucket):
                self.put(bucket, "fw.bin", data)
                partial = self.write(f"{bucket}.part", data[:200_000])
                r = sh.curl(self.url(bucket, "fw.bin"), "-C", "-", "-o", partial)
                self.assertEqual(r.code, 0, r)
                self.assertEqual(r.status, 206, r)
                self.assertEqual(r.headers.get("content-range"), f"bytes 200000-{len(data) - 1}/{len(data)}")
                self.assertTrue(self.read(partial) == data, "resumed file differs")

    # ---- conditional requests ---------------------------------------------------------------
    def test_conditional_requests_with_curl(self):
        bucket = self.make_bucket("cond")
        self.put(bucket, "fw.bin", b"conditional body")
        url = self.url(bucket, "fw.bin")
        first = sh.curl(url)
        self.assertEqual(first.status, 200, first)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        future = email.utils.formatdate(time.time() + 86400, usegmt=True)
        past = email.utils.formatdate(time.time() - 86400, usegmt=True)

        r = sh.curl(url, "-H", f"If-None-Match: {etag}")
        self.assertEqual((r.status, r.body), (304, b""), r)
        self.assertEqual(r.headers.get("etag"), etag)
        r = sh.curl(url, "-H", f"If-Modified-Since: {modified}")
        self.assertEqual((r.status, r.body), (304, b""), r)
        r = sh.curl(url, "-H", f"If-Modified-Since: {past}")
        self.assertEqual((r.status, r.body), (200, b"conditional body"), r)
        r = sh.curl(url, "-H", f"If-Modified-Since: {future}")      # a future date is ignored
        self.assertEqual((r.status, r.body), (200, b"conditional body"), r)
        r = sh.curl(url, "-H", f"If-Match: {etag}")
        self.assertEqual((r.status, r.body), (200, b"conditional body"), r)
        r = sh.curl(url, "-H", f"If-Unmodified-Since: {future}")
        self.assertEqual(r.status, 200, r)
        # The failing preconditions last: 412 PreconditionFailed.
        r = sh.curl(url, "-H", 'If-Match: "0123456789abcdef0123456789abcdef"')
        self.assertS3Error(r, 412, "PreconditionFailed")
        r = sh.curl(url, "-H", f"If-Unmodified-Since: {past}")
        self.assertS3Error(r, 412, "PreconditionFailed")

    # ---- presigned SigV4 -------------------------------------------------------------------------
    def test_presigned_sigv4_expired_tampered_and_too_long(self):
        bucket = self.make_bucket("pv4")
        self.put(bucket, "fw.bin", b"presigned body")
        self.put(bucket, "other.bin", b"other body")
        good = self.url(bucket, "fw.bin", expires=120)
        self.assertEqual(sh.curl(good).body, b"presigned body")

        expired = self.url(bucket, "fw.bin", expires=60,
                           when=rawhttp.utcnow() - datetime.timedelta(hours=2))
        self.assertS3Error(sh.curl(expired), 403, "AccessDenied")

        q = urllib.parse.parse_qs(urllib.parse.urlsplit(good).query)
        sig = q["X-Amz-Signature"][0]
        for name, bad in (("signature", good.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])),
                          ("another key", good.replace("/fw.bin?", "/other.bin?")),
                          ("longer expiry", good.replace("X-Amz-Expires=120", "X-Amz-Expires=600"))):
            with self.subTest(name):
                self.assertNotEqual(bad, good)
                self.assertS3Error(sh.curl(bad), 403, "SignatureDoesNotMatch")
        # A presigned PUT URL does not read, and a GET URL does not write.
        self.assertS3Error(sh.curl(self.url(bucket, "fw.bin", method="PUT")), 403, "SignatureDoesNotMatch")
        r = sh.curl(good, "-X", "PUT", "--data-binary", "overwrite")
        self.assertS3Error(r, 403, "SignatureDoesNotMatch")
        self.assertEqual(self.get_bytes(bucket, "fw.bin"), b"presigned body")
        # Seven days is the longest a SigV4 URL may last.
        week = self.url(bucket, "fw.bin", expires=604800)
        self.assertEqual(sh.curl(week).status, 200)
        self.assertS3Error(sh.curl(self.url(bucket, "fw.bin", expires=604801)), 400,
                           "AuthorizationQueryParametersError")

    def test_presigned_put_with_curl(self):
        bucket = self.make_bucket("pput")
        data = sh.random_bytes(100 * 1024)
        src = self.write("pput.bin", data)
        r = sh.curl(self.url(bucket, "up/fw.bin", method="PUT"), "-T", src)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("etag"), f'"{sh.md5_hex(data)}"')
        self.assertTrue(self.get_bytes(bucket, "up/fw.bin") == data)

    # ---- errors in S3's XML form ---------------------------------------------------------------------
    def test_errors_are_s3_xml(self):
        bucket = self.make_bucket("xmlerr")
        self.put(bucket, "fw.bin", b"x")
        missing_bucket = sh.bucket_name("nob")

        r = self.raw.s3("GET", f"/{bucket}/no/such/key.bin")
        err = self.assertS3Error(r, 404, "NoSuchKey")
        self.assertEqual(err.get("Key"), "no/such/key.bin")
        self.assertTrue(r.headers.get("content-type", "").startswith("application/xml"), r)
        self.assertEqual(r.headers.get("x-amz-request-id"), err["RequestId"])
        self.assertTrue(r.body.startswith(b"<?xml"), r)

        err = self.assertS3Error(self.raw.s3("GET", f"/{missing_bucket}/k"), 404, "NoSuchBucket")
        self.assertEqual(err.get("BucketName"), missing_bucket)
        self.assertS3Error(self.raw.s3("GET", f"/{missing_bucket}?list-type=2"), 404, "NoSuchBucket")
        self.assertS3Error(self.raw.s3("PUT", "/Not_Valid"), 400, "InvalidBucketName")
        self.assertS3Error(self.raw.s3("GET", f"/{bucket}/fw.bin?versionId=nope-no-version"), 404, "NoSuchVersion")
        self.assertS3Error(self.raw.s3("PUT", f"/{bucket}?versioning", b"<VersioningConfiguration><Status>"),
                           400, "MalformedXML")
        # A HEAD error has no body, only the status.
        r = self.raw.s3("HEAD", f"/{bucket}/no-such-key")
        self.assertEqual((r.status, r.body), (404, b""), r)
        # A wrong secret and an unknown key id, in the Authorization header.
        wrong = sh.S3Raw(self.server, secret_key=self.raw.secret_key[:-1] + ("x" if self.raw.secret_key[-1] != "x" else "y"))
        self.assertS3Error(wrong.s3("GET", f"/{bucket}/fw.bin"), 403, "SignatureDoesNotMatch")
        stranger = sh.S3Raw(self.server, access_key="AKIAIOSFODNN7EXAMPLE")
        self.assertS3Error(stranger.s3("GET", f"/{bucket}/fw.bin"), 403, "InvalidAccessKeyId")
        # A request signed an hour ago (S3 allows 15 minutes of skew).
        skewed = self.raw.s3("GET", f"/{bucket}/fw.bin", when=rawhttp.utcnow() - datetime.timedelta(hours=1))
        self.assertS3Error(skewed, 403, "RequestTimeTooSkewed")
        # Bad list arguments.
        self.assertS3Error(self.raw.s3("GET", f"/{bucket}?list-type=2&max-keys=-1"), 400, "InvalidArgument")
        self.assertS3Error(self.raw.s3("GET", f"/{bucket}?list-type=2&encoding-type=base64"), 400, "InvalidArgument")
        self.assertS3Error(self.raw.s3("GET", f"/{bucket}?list-type=2&continuation-token=not-a-token"), 400,
                           "InvalidArgument")

    # Refusals before any storage is touched, each with S3's code and status (one test each).
    def refuse(self, method, path, body=b"", headers=None, status=400, code=None):
        self.assertS3Error(self.raw.s3(method, path, body, headers or {}), status, code)

    def test_refuse_unbuilt_sub_resource_not_implemented(self):
        bucket = self.make_bucket("refuse")
        self.refuse("GET", f"/{bucket}?acl", status=501, code="NotImplemented")

    def test_refuse_method_not_allowed(self):
        bucket = self.make_bucket("refuse")
        self.refuse("POST", f"/{bucket}", status=405, code="MethodNotAllowed")

    def test_refuse_key_too_long(self):
        bucket = self.make_bucket("refuse")
        self.refuse("PUT", f"/{bucket}/{'k' * 1025}", b"x", status=400, code="KeyTooLongError")

    def test_refuse_metadata_too_large(self):
        bucket = self.make_bucket("refuse")
        self.refuse("PUT", f"/{bucket}/meta.bin", b"x", {"x-amz-meta-big": "v" * 2100}, status=400,
                    code="MetadataTooLarge")
        self.assertFalse(self.exists(bucket, "meta.bin"))

    def test_refuse_complete_without_parts_malformed_xml(self):
        bucket = self.make_bucket("refuse")
        upload = self.s3.create_multipart_upload(Bucket=bucket, Key="mp.bin")["UploadId"]
        self.refuse("POST", f"/{bucket}/mp.bin?uploadId={upload}",
                    b"<CompleteMultipartUpload></CompleteMultipartUpload>", status=400, code="MalformedXML")

    # ---- integrity -------------------------------------------------------------------------------------
    def test_content_sha256_and_md5_checks(self):
        bucket = self.make_bucket("integrity")
        data = b"firmware bytes " * 1000
        r = self.raw.s3("PUT", f"/{bucket}/sha.bin", data, payload_hash=sh.sha256_hex(data + b"!"))
        self.assertS3Error(r, 400, "XAmzContentSHA256Mismatch")
        r = self.raw.s3("PUT", f"/{bucket}/md5.bin", data, {"Content-MD5": sh.md5_b64(data + b"!")})
        self.assertS3Error(r, 400, "BadDigest")
        self.assertFalse(self.exists(bucket, "sha.bin"))
        self.assertFalse(self.exists(bucket, "md5.bin"))

        r = self.raw.s3("PUT", f"/{bucket}/ok.bin", data, {"Content-MD5": sh.md5_b64(data)})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("etag"), f'"{sh.md5_hex(data)}"')
        r = self.raw.s3("PUT", f"/{bucket}/unsigned.bin", data, payload_hash="UNSIGNED-PAYLOAD")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.get_bytes(bucket, "unsigned.bin"), data)
        # x-amz-checksum-crc32 as a header: checked, and returned with x-amz-checksum-mode.
        r = self.raw.s3("PUT", f"/{bucket}/crc.bin", data, {"x-amz-checksum-crc32": sh.crc32_b64(data)})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("x-amz-checksum-crc32"), sh.crc32_b64(data))
        r = self.raw.s3("PUT", f"/{bucket}/crc-bad.bin", data, {"x-amz-checksum-crc32": sh.crc32_b64(b"x")})
        self.assertS3Error(r, 400, "BadDigest")
        self.assertFalse(self.exists(bucket, "crc-bad.bin"))

    # ---- aws-chunked -------------------------------------------------------------------------------------
    def test_aws_chunked_signed_upload(self):
        bucket = self.make_bucket("chunked", encrypted=True)
        data = sh.random_bytes(150 * 1024 + 99)      # chunks of 64 KiB, 64 KiB, 22 KiB + 99, then the empty one
        r, sent = self.raw.streaming_put(f"/{bucket}/stream.bin", data)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("etag"), f'"{sh.md5_hex(data)}"')
        self.assertIn(b";chunk-signature=", sent)
        got = self.s3.get_object(Bucket=bucket, Key="stream.bin")
        self.assertEqual(got["ContentLength"], len(data))
        self.assertEqual(got["ContentType"], "application/octet-stream")
        self.assertTrue(got["Body"].read() == data, "the decoded body differs")
        self.assertNotIn(b"chunk-signature", self.get_bytes(bucket, "stream.bin"))

        # A wrong signature on the second chunk: refused, nothing stored.
        for tamper in (1, 3):     # a data chunk, and the final empty chunk
            with self.subTest(tampered_chunk=tamper):
                key = f"tampered-{tamper}.bin"
                r, _ = self.raw.streaming_put(f"/{bucket}/{key}", data, tamper_chunk=tamper)
                self.assertS3Error(r, 403, "SignatureDoesNotMatch")
                self.assertFalse(self.exists(bucket, key))

    def test_unsigned_payload_trailer_crc32(self):
        bucket = self.make_bucket("trailer")
        data = sh.random_bytes(100 * 1024 + 1)
        r = self.raw.unsigned_trailer_put(f"/{bucket}/good.bin", data, sh.crc32_b64(data))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("etag"), f'"{sh.md5_hex(data)}"')
        self.assertEqual(r.headers.get("x-amz-checksum-crc32"), sh.crc32_b64(data))
        got = self.s3.get_object(Bucket=bucket, Key="good.bin", ChecksumMode="ENABLED")
        self.assertTrue(got["Body"].read() == data)
        self.assertEqual(got.get("ChecksumCRC32"), sh.crc32_b64(data))

        r = self.raw.unsigned_trailer_put(f"/{bucket}/bad.bin", data, sh.crc32_b64(data + b"x"))
        self.assertS3Error(r, 400, "BadDigest")
        self.assertFalse(self.exists(bucket, "bad.bin"))

    # ---- an upload cut off half way ------------------------------------------------------------------------
    def half_upload(self, bucket, key, data):
        """Sends the head and the first half of a signed PUT and leaves the socket open."""
        path, headers = self.raw.s3_sign("PUT", f"/{bucket}/{key}", data, {"Content-Length": str(len(data))})
        head = [f"PUT {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
        sock = self.raw.connect()
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data[:len(data) // 2])
        return sock

    def temp_files(self):
        tmp = os.path.join(self.data_dir, "blobs", "tmp")
        return [os.path.join(tmp, f) for f in os.listdir(tmp)] if os.path.isdir(tmp) else []

    def test_interrupted_upload_leaves_no_plaintext_and_no_object(self):
        plain = self.make_bucket("cutplain")
        encrypted = self.make_bucket("cutenc", encrypted=True)
        data = sh.random_bytes(4 * MiB)
        sent_windows = sh.windows(data[:len(data) // 2 - 64 * 1024])

        # Control: the plain bucket's temporary file holds the bytes sent so far, and the scan finds them.
        sock = self.half_upload(plain, "cut.bin", data)
        try:
            found = wait_for(lambda: len(sh.on_disk(self.data_dir, sent_windows)) == len(sent_windows), 10, 0.05)
            self.assertTrue(found, "the plain temporary file never showed the bytes sent")
        finally:
            sock.close()

        sock = self.half_upload(encrypted, "cut.bin", data)
        try:
            big = wait_for(lambda: [p for p in self.temp_files() if os.path.getsize(p) >= MiB], 10, 0.05)
            self.assertTrue(big, f"no temporary file grew: {self.temp_files()}")
            self.assertEqual(sh.on_disk(self.data_dir, sent_windows), {},
                             "plaintext of an upload to an encrypted bucket is on disk")
        finally:
            sock.close()

        for bucket in (plain, encrypted):
            self.assertFalse(self.exists(bucket, "cut.bin"))
        self.assertTrue(wait_for(lambda: self.temp_files() == [], 10, 0.05),
                        f"temporary files left after the connections closed: {self.temp_files()}")


if __name__ == "__main__":
    harness.main()

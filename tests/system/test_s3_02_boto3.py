"""S3 02: the firmware store through boto3's s3 client (python3-boto3).

put/get/head/list/delete with metadata and stored headers; upload_file and
download_file (multipart above 8 MiB); presigned URLs as boto3 makes them by
default (SigV2 query: AWSAccessKeyId, Expires, Signature) downloaded by
urllib, with a signed response-content-disposition sub-resource, expired
(403 AccessDenied) and tampered (403 SignatureDoesNotMatch, as S3 answers),
an unknown key id (InvalidAccessKeyId); SigV4 presigned URLs
(signature_version='s3v4') for GET, HEAD and PUT; presigned PUT uploads with
requests; Content-MD5 and x-amz-checksum-crc32 checked (BadDigest);
conditional GETs (304/412); ranges; ListObjectsV2 pages (MaxKeys,
continuation tokens, StartAfter, the paginator), ListObjects v1 and
ListObjectVersions paging; suspended versioning (the "null" version);
copy-in-place rules; modeled exceptions with S3's statuses."""
import datetime
import urllib.error
import urllib.parse
import urllib.request

import botocore.config
import requests
from botocore.exceptions import ClientError

import harness
import s3_helpers as sh
from s3_helpers import MiB


def http_get(url, method="GET", data=None, headers=None):
    """(status, headers, body) of a urllib request; HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


class S3Boto3Test(sh.S3TestCase):

    @classmethod
    def make_clients(cls):
        super().make_clients()
        creds = harness.read_credentials(cls.server.credentials_file)
        import boto3
        cls.s3v4 = boto3.session.Session().client(
            "s3", endpoint_url=cls.server.endpoint, aws_access_key_id=creds["aws_access_key_id"],
            aws_secret_access_key=creds["aws_secret_access_key"], region_name=cls.region,
            config=botocore.config.Config(signature_version="s3v4", retries={"max_attempts": 1}))

    def assertErrorBody(self, status, body, want_status, code):
        self.assertEqual(status, want_status, body)
        err = sh.s3_error(body)
        self.assertIsNotNone(err, body)
        self.assertEqual(err["Code"], code, body)
        self.assertTrue(err.get("Message"), body)
        return err

    # ---- basics ---------------------------------------------------------------------
    def test_put_get_head_list_delete(self):
        bucket = self.make_bucket("basic")
        data = sh.random_bytes(4096)
        put = self.s3.put_object(Bucket=bucket, Key="fw/app.bin", Body=data, ContentType="application/x-fw",
                                 Metadata={"fw-version": "1.2.3", "sha256": sh.sha256_hex(data)},
                                 CacheControl="max-age=60", ContentDisposition='attachment; filename="app.bin"')
        self.assertEqual(put["ETag"], f'"{sh.md5_hex(data)}"')
        self.assertNotIn("VersionId", put)   # not versioned

        got = self.s3.get_object(Bucket=bucket, Key="fw/app.bin")
        self.assertEqual(got["Body"].read(), data)
        self.assertEqual(got["ContentLength"], len(data))
        self.assertEqual(got["ContentType"], "application/x-fw")
        self.assertEqual(got["Metadata"], {"fw-version": "1.2.3", "sha256": sh.sha256_hex(data)})
        self.assertEqual(got["CacheControl"], "max-age=60")
        self.assertEqual(got["ContentDisposition"], 'attachment; filename="app.bin"')
        self.assertEqual(got["ETag"], put["ETag"])
        self.assertEqual(got["AcceptRanges"], "bytes")
        self.assertIsInstance(got["LastModified"], datetime.datetime)
        self.assertNotIn("ServerSideEncryption", got)

        head = self.s3.head_object(Bucket=bucket, Key="fw/app.bin")
        self.assertEqual((head["ContentLength"], head["ETag"], head["Metadata"]["fw-version"]),
                         (len(data), put["ETag"], "1.2.3"))
        self.assertEqual(head["LastModified"], got["LastModified"])

        listed = self.s3.list_objects_v2(Bucket=bucket)
        self.assertEqual([(c["Key"], c["Size"], c["ETag"]) for c in listed["Contents"]],
                         [("fw/app.bin", len(data), put["ETag"])])
        self.assertEqual(listed["KeyCount"], 1)
        self.assertFalse(listed["IsTruncated"])

        deleted = self.s3.delete_object(Bucket=bucket, Key="fw/app.bin")
        self.assertEqual(deleted["ResponseMetadata"]["HTTPStatusCode"], 204)
        self.assertNotIn("DeleteMarker", deleted)
        with self.assertRaises(self.s3.exceptions.NoSuchKey) as ctx:
            self.s3.get_object(Bucket=bucket, Key="fw/app.bin")
        err = self.assertClientError(ctx, "NoSuchKey", 404)
        self.assertEqual(err["Error"].get("Key"), "fw/app.bin")
        with self.assertRaises(ClientError) as ctx:
            self.s3.head_object(Bucket=bucket, Key="fw/app.bin")
        self.assertClientErrorS3(ctx, "404", 404)
        self.assertEqual(self.s3.list_objects_v2(Bucket=bucket)["KeyCount"], 0)
        # Deleting what is not there is a success, as in S3.
        self.assertEqual(self.s3.delete_object(Bucket=bucket, Key="fw/app.bin")["ResponseMetadata"]["HTTPStatusCode"],
                         204)

    def test_modeled_errors(self):
        bucket = self.make_bucket("modeled")
        with self.assertRaises(self.s3.exceptions.BucketAlreadyOwnedByYou) as ctx:
            self.s3.create_bucket(Bucket=bucket)
        self.assertClientError(ctx, "BucketAlreadyOwnedByYou", 409)
        with self.assertRaises(self.s3.exceptions.NoSuchBucket) as ctx:
            self.s3.get_object(Bucket=sh.bucket_name("nob"), Key="k")
        self.assertClientError(ctx, "NoSuchBucket", 404)
        with self.assertRaises(self.s3.exceptions.NoSuchBucket) as ctx:
            self.s3.put_object(Bucket=sh.bucket_name("nob"), Key="k", Body=b"x")
        self.assertClientError(ctx, "NoSuchBucket", 404)
        with self.assertRaises(self.s3.exceptions.NoSuchUpload) as ctx:
            self.s3.list_parts(Bucket=bucket, Key="k", UploadId="no-such-upload")
        self.assertClientError(ctx, "NoSuchUpload", 404)
        with self.assertRaises(ClientError) as ctx:
            self.s3.create_bucket(Bucket="Upper_Case")
        self.assertClientError(ctx, "InvalidBucketName", 400)
        # A wrong secret: SignatureDoesNotMatch; an unknown key id: InvalidAccessKeyId (both 403).
        creds = harness.read_credentials(self.server.credentials_file)
        bad_secret = self.server.boto3_client("s3", secret_key=creds["aws_secret_access_key"][:-1] + "x")
        with self.assertRaises(ClientError) as ctx:
            bad_secret.list_objects_v2(Bucket=bucket)
        self.assertClientError(ctx, "SignatureDoesNotMatch", 403)
        stranger = self.server.boto3_client("s3", access_key="AKIAIOSFODNN7EXAMPLE")
        with self.assertRaises(ClientError) as ctx:
            stranger.list_objects_v2(Bucket=bucket)
        self.assertClientError(ctx, "InvalidAccessKeyId", 403)

    def test_content_md5_and_checksums(self):
        bucket = self.make_bucket("digest")
        data = b"firmware image body\n" * 50
        with self.assertRaises(ClientError) as ctx:
            self.s3.put_object(Bucket=bucket, Key="md5.bin", Body=data, ContentMD5=sh.md5_b64(b"something else"))
        self.assertClientError(ctx, "BadDigest", 400)
        with self.assertRaises(ClientError) as ctx:
            self.s3.put_object(Bucket=bucket, Key="md5.bin", Body=data, ContentMD5="not-base64-md5")
        self.assertClientError(ctx, "InvalidDigest", 400)
        self.assertEqual(self.s3.list_objects_v2(Bucket=bucket)["KeyCount"], 0)
        ok = self.s3.put_object(Bucket=bucket, Key="md5.bin", Body=data, ContentMD5=sh.md5_b64(data))
        self.assertEqual(ok["ETag"], f'"{sh.md5_hex(data)}"')

        # x-amz-checksum-crc32 computed by botocore (ChecksumAlgorithm), returned with ChecksumMode.
        put = self.s3.put_object(Bucket=bucket, Key="crc.bin", Body=data, ChecksumAlgorithm="CRC32")
        self.assertEqual(put.get("ChecksumCRC32"), sh.crc32_b64(data))
        got = self.s3.get_object(Bucket=bucket, Key="crc.bin", ChecksumMode="ENABLED")
        self.assertEqual(got.get("ChecksumCRC32"), sh.crc32_b64(data))
        self.assertEqual(got["Body"].read(), data)
        # A wrong one is refused and stores nothing.
        with self.assertRaises(ClientError) as ctx:
            self.s3.put_object(Bucket=bucket, Key="crc-bad.bin", Body=data, ChecksumCRC32=sh.crc32_b64(b"other"))
        self.assertClientError(ctx, "BadDigest", 400)
        self.assertEqual(sorted(c["Key"] for c in self.s3.list_objects_v2(Bucket=bucket)["Contents"]),
                         ["crc.bin", "md5.bin"])

    # ---- transfers ---------------------------------------------------------------------
    def test_upload_file_and_download_file_multipart(self):
        bucket = self.make_bucket("xfer", encrypted=True)
        data = sh.random_bytes(20 * MiB + 5)
        src = self.write("xfer.bin", data)
        self.s3.upload_file(src, bucket, "fw/xfer.bin")         # 8 MiB threshold and parts: 3 parts
        head = self.s3.head_object(Bucket=bucket, Key="fw/xfer.bin")
        self.assertEqual(head["ContentLength"], len(data))
        self.assertEqual(head["ETag"], sh.multipart_etag(data))
        self.assertTrue(head["ETag"].endswith('-3"'), head["ETag"])
        self.assertEqual(head["ServerSideEncryption"], "AES256")
        self.assertEqual(head.get("PartsCount", 3), 3)
        dst = self.path("xfer.back")
        self.s3.download_file(bucket, "fw/xfer.bin", dst)      # ranged GETs in parallel
        self.assertTrue(self.read(dst) == data, "download_file differs")
        self.assertEqual(sh.on_disk(self.data_dir, sh.windows(data)), {})

    # ---- presigned URLs: SigV2 (boto3's default) ---------------------------------------------
    def test_presigned_get_sigv2_default(self):
        bucket = self.make_bucket("v2")
        data = sh.random_bytes(150 * 1024)
        self.s3.put_object(Bucket=bucket, Key="dir/fw v2.bin", Body=data)
        url = self.s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "dir/fw v2.bin"},
                                             ExpiresIn=300)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        self.assertEqual(sorted(q), ["AWSAccessKeyId", "Expires", "Signature"], url)
        self.assertTrue(url.startswith(f"{self.server.endpoint}/{bucket}/dir/fw%20v2.bin?"), url)
        status, headers, body = http_get(url)
        self.assertEqual(status, 200, body[:300])
        self.assertTrue(body == data)
        self.assertEqual(headers.get("etag"), f'"{sh.md5_hex(data)}"')

        # A signed sub-resource: response-content-disposition overrides the header.
        url = self.s3.generate_presigned_url("get_object", Params={
            "Bucket": bucket, "Key": "dir/fw v2.bin",
            "ResponseContentDisposition": 'attachment; filename="fw.bin"'}, ExpiresIn=300)
        status, headers, body = http_get(url)
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(headers.get("content-disposition"), 'attachment; filename="fw.bin"')
        # The same sub-resource changed after signing: the signature no longer matches.
        tampered = url.replace("fw.bin%22", "evil.exe%22")
        self.assertNotEqual(tampered, url)
        status, _, body = http_get(tampered)
        self.assertErrorBody(status, body, 403, "SignatureDoesNotMatch")

    def test_presigned_sigv2_expired_tampered_and_unknown_key(self):
        bucket = self.make_bucket("v2bad")
        self.s3.put_object(Bucket=bucket, Key="fw.bin", Body=b"payload")
        self.s3.put_object(Bucket=bucket, Key="other.bin", Body=b"other")
        expired = self.s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "fw.bin"},
                                                 ExpiresIn=-60)
        status, _, body = http_get(expired)
        self.assertErrorBody(status, body, 403, "AccessDenied")

        url = self.s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "fw.bin"},
                                             ExpiresIn=300)
        parts = urllib.parse.urlsplit(url)
        q = dict(urllib.parse.parse_qsl(parts.query))

        def with_query(path=parts.path, **changes):
            return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path,
                                            urllib.parse.urlencode(dict(q, **changes)), ""))
        sig = q["Signature"]
        flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
        for name, bad in (("signature", with_query(Signature=flipped)),
                          ("expires extended", with_query(Expires=str(int(q["Expires"]) + 3600))),
                          ("another key", with_query(path=parts.path.replace("fw.bin", "other.bin")))):
            with self.subTest(name):
                status, _, body = http_get(bad)
                self.assertErrorBody(status, body, 403, "SignatureDoesNotMatch")
        status, _, body = http_get(with_query(AWSAccessKeyId="AKIAIOSFODNN7EXAMPLE"))
        self.assertErrorBody(status, body, 403, "InvalidAccessKeyId")
        # The untouched URL still works.
        status, _, body = http_get(url)
        self.assertEqual((status, body), (200, b"payload"))

    # ---- presigned URLs: SigV4 -----------------------------------------------------------------
    def test_presigned_sigv4_get_head_and_tampered(self):
        bucket = self.make_bucket("v4")
        data = sh.random_bytes(64 * 1024 + 3)
        self.s3.put_object(Bucket=bucket, Key="fw.bin", Body=data)
        url = self.s3v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "fw.bin"},
                                               ExpiresIn=900)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        self.assertEqual(q["X-Amz-Algorithm"], ["AWS4-HMAC-SHA256"], url)
        self.assertEqual(q["X-Amz-Expires"], ["900"])
        self.assertTrue(q["X-Amz-Credential"][0].endswith(f"/{self.region}/s3/aws4_request"), url)
        self.assertNotIn("AWSAccessKeyId", q)
        status, _, body = http_get(url)
        self.assertEqual(status, 200, body[:300])
        self.assertTrue(body == data)

        head_url = self.s3v4.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "fw.bin"})
        r = requests.head(head_url, timeout=30)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers.get("Content-Length"), str(len(data)))
        # A GET URL used for HEAD (another method) does not verify.
        self.assertEqual(requests.head(url, timeout=30).status_code, 403)

        sig = q["X-Amz-Signature"][0]
        flipped = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
        status, _, body = http_get(flipped)
        self.assertErrorBody(status, body, 403, "SignatureDoesNotMatch")
        longer = url.replace("X-Amz-Expires=900", "X-Amz-Expires=3600")
        self.assertNotEqual(longer, url)
        status, _, body = http_get(longer)
        self.assertErrorBody(status, body, 403, "SignatureDoesNotMatch")

    def test_presigned_put_uploads(self):
        bucket = self.make_bucket("pput", versioned=True)
        for name, client in (("sigv2", self.s3), ("sigv4", self.s3v4)):
            with self.subTest(name):
                key = f"upload-{name}.bin"
                data = sh.random_bytes(200 * 1024)
                url = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key},
                                                    ExpiresIn=300)
                r = requests.put(url, data=data, timeout=60)
                self.assertEqual(r.status_code, 200, r.text)
                self.assertEqual(r.headers.get("ETag"), f'"{sh.md5_hex(data)}"')
                self.assertTrue(r.headers.get("x-amz-version-id"))
                self.assertTrue(self.get_bytes(bucket, key) == data)
                # The PUT URL does not read.
                status, _, body = http_get(url)
                self.assertErrorBody(status, body, 403, "SignatureDoesNotMatch")

        # SigV2 with a signed Content-Type: urllib sends exactly that type.
        url = self.s3.generate_presigned_url("put_object", Params={
            "Bucket": bucket, "Key": "typed.bin", "ContentType": "application/x-firmware"}, ExpiresIn=300)
        status, _, body = http_get(url, method="PUT", data=b"typed body",
                                   headers={"Content-Type": "application/x-firmware"})
        self.assertEqual(status, 200, body)
        got = self.s3.get_object(Bucket=bucket, Key="typed.bin")
        self.assertEqual((got["ContentType"], got["Body"].read()), ("application/x-firmware", b"typed body"))
        # Another Content-Type than signed: refused, nothing new stored.
        status, _, body = http_get(url, method="PUT", data=b"other body", headers={"Content-Type": "text/plain"})
        self.assertErrorBody(status, body, 403, "SignatureDoesNotMatch")
        self.assertEqual(self.get_bytes(bucket, "typed.bin"), b"typed body")

    # ---- conditions and ranges ---------------------------------------------------------------------
    def test_conditional_gets(self):
        bucket = self.make_bucket("cond")
        self.s3.put_object(Bucket=bucket, Key="fw.bin", Body=b"0123456789")
        head = self.s3.head_object(Bucket=bucket, Key="fw.bin")
        etag, modified = head["ETag"], head["LastModified"]
        past = modified - datetime.timedelta(days=1)

        def status_of(**kw):
            try:
                r = self.s3.get_object(Bucket=bucket, Key="fw.bin", **kw)
                r["Body"].read()
                return r["ResponseMetadata"]["HTTPStatusCode"]
            except ClientError as e:
                return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
        self.assertEqual(status_of(IfNoneMatch=etag), ("304", 304))
        self.assertEqual(status_of(IfNoneMatch='"0123"'), 200)
        self.assertEqual(status_of(IfMatch=etag), 200)
        self.assertEqual(status_of(IfMatch='"0123"'), ("PreconditionFailed", 412))
        self.assertEqual(status_of(IfModifiedSince=modified), ("304", 304))
        self.assertEqual(status_of(IfModifiedSince=past), 200)
        self.assertEqual(status_of(IfUnmodifiedSince=past), ("PreconditionFailed", 412))
        self.assertEqual(status_of(IfUnmodifiedSince=modified), 200)
        # If-Match true wins over If-Unmodified-Since false; If-None-Match false over If-Modified-Since true.
        self.assertEqual(status_of(IfMatch=etag, IfUnmodifiedSince=past), 200)
        self.assertEqual(status_of(IfNoneMatch=etag, IfModifiedSince=past), ("304", 304))
        with self.assertRaises(ClientError) as ctx:
            self.s3.head_object(Bucket=bucket, Key="fw.bin", IfNoneMatch=etag)
        self.assertEqual(ctx.exception.response["ResponseMetadata"]["HTTPStatusCode"], 304)

    def test_ranges(self):
        bucket = self.make_bucket("range", encrypted=True)
        data = sh.random_bytes(200 * 1024 + 17)      # several 64 KiB encryption chunks
        self.s3.put_object(Bucket=bucket, Key="fw.bin", Body=data)
        n = len(data)
        for rng, first, last in (("bytes=0-9", 0, 9), ("bytes=65530-65545", 65530, 65545),
                                 ("bytes=131000-", 131000, n - 1), ("bytes=-100", n - 100, n - 1),
                                 (f"bytes=10-{n + 1000}", 10, n - 1)):
            with self.subTest(rng):
                got = self.s3.get_object(Bucket=bucket, Key="fw.bin", Range=rng)
                self.assertEqual(got["ResponseMetadata"]["HTTPStatusCode"], 206)
                self.assertEqual(got["ContentRange"], f"bytes {first}-{last}/{n}")
                self.assertEqual(got["ContentLength"], last - first + 1)
                self.assertTrue(got["Body"].read() == data[first:last + 1])
        with self.assertRaises(ClientError) as ctx:
            self.s3.get_object(Bucket=bucket, Key="fw.bin", Range=f"bytes={n}-")
        self.assertClientError(ctx, "InvalidRange", 416)

    # ---- listings -------------------------------------------------------------------------------------
    def test_list_objects_v2_pages(self):
        bucket = self.make_bucket("lpages")
        keys = [f"k{i}" for i in range(5)]
        for k in keys:
            self.s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
        seen, token, pages = [], None, 0
        while True:
            kw = {"ContinuationToken": token} if token else {}
            page = self.s3.list_objects_v2(Bucket=bucket, MaxKeys=2, **kw)
            pages += 1
            self.assertEqual(page["MaxKeys"], 2)
            self.assertEqual(page["KeyCount"], len(page.get("Contents", [])))
            if token:
                self.assertEqual(page["ContinuationToken"], token)
            seen += [c["Key"] for c in page.get("Contents", [])]
            if not page["IsTruncated"]:
                self.assertNotIn("NextContinuationToken", page)
                break
            self.assertEqual(page["KeyCount"], 2)
            token = page["NextContinuationToken"]
            self.assertLess(pages, 10)
        self.assertEqual((seen, pages), (keys, 3))

        after = self.s3.list_objects_v2(Bucket=bucket, StartAfter="k2")
        self.assertEqual([c["Key"] for c in after["Contents"]], ["k3", "k4"])
        self.assertEqual(after["StartAfter"], "k2")
        paginated = [c["Key"] for p in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}) for c in p.get("Contents", [])]
        self.assertEqual(paginated, keys)
        v1 = [c["Key"] for p in self.s3.get_paginator("list_objects").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}) for c in p.get("Contents", [])]
        self.assertEqual(v1, keys)
        marker = self.s3.list_objects(Bucket=bucket, Marker="k1", MaxKeys=2)
        self.assertEqual([c["Key"] for c in marker["Contents"]], ["k2", "k3"])
        self.assertTrue(marker["IsTruncated"])

        # Common prefixes count toward MaxKeys and page like keys.
        for k in ("d1/a", "d1/b", "d2/a", "d3/a"):
            self.s3.put_object(Bucket=bucket, Key=k, Body=b"")
        pages = list(self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}))
        prefixes = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
        contents = [c["Key"] for page in pages for c in page.get("Contents", [])]
        self.assertEqual(prefixes, ["d1/", "d2/", "d3/"])
        self.assertEqual(contents, keys)
        self.assertEqual(len(pages), 4)

    def test_versions_listing_and_suspended_versioning(self):
        bucket = self.make_bucket("susp", versioned=True)
        v1 = self.s3.put_object(Bucket=bucket, Key="fw.bin", Body=b"v1")["VersionId"]
        v2 = self.s3.put_object(Bucket=bucket, Key="fw.bin", Body=b"v2")["VersionId"]
        marker = self.s3.delete_object(Bucket=bucket, Key="fw.bin")
        self.assertTrue(marker["DeleteMarker"])
        self.s3.put_object(Bucket=bucket, Key="other.bin", Body=b"o")

        # Paged two at a time: the markers say where the next page starts.
        first = self.s3.list_object_versions(Bucket=bucket, MaxKeys=2)
        self.assertTrue(first["IsTruncated"])
        self.assertEqual(first["NextKeyMarker"], "fw.bin")
        self.assertTrue(first["NextVersionIdMarker"])
        entries = [(e["Key"], e["VersionId"]) for p in self.s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}) for e in p.get("Versions", []) + p.get("DeleteMarkers", [])]
        self.assertEqual(sorted(entries), sorted([("fw.bin", v1), ("fw.bin", v2), ("fw.bin", marker["VersionId"]),
                                                  ("other.bin", self.s3.head_object(Bucket=bucket, Key="other.bin")["VersionId"])]))

        # Suspended: new writes are the "null" version, replacing each other; old versions stay.
        self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
        self.assertEqual(self.s3.get_bucket_versioning(Bucket=bucket)["Status"], "Suspended")
        self.s3.put_object(Bucket=bucket, Key="fw.bin", Body=b"n1")
        self.s3.put_object(Bucket=bucket, Key="fw.bin", Body=b"n2")
        head = self.s3.head_object(Bucket=bucket, Key="fw.bin")
        self.assertEqual(head.get("VersionId"), "null")
        self.assertEqual(self.get_bytes(bucket, "fw.bin"), b"n2")
        versions = self.s3.list_object_versions(Bucket=bucket, Prefix="fw.bin")
        ids = [v["VersionId"] for v in versions["Versions"]]
        self.assertEqual(sorted(ids), sorted(["null", v1, v2]))
        self.assertEqual(self.get_bytes(bucket, "fw.bin", VersionId=v1), b"v1")
        # A delete now puts a "null" delete marker in place of the null version.
        deleted = self.s3.delete_object(Bucket=bucket, Key="fw.bin")
        self.assertTrue(deleted.get("DeleteMarker"))
        self.assertEqual(deleted.get("VersionId"), "null")
        versions = self.s3.list_object_versions(Bucket=bucket, Prefix="fw.bin")
        self.assertEqual(sorted(v["VersionId"] for v in versions["Versions"]), sorted([v1, v2]))
        self.assertIn("null", [m["VersionId"] for m in versions["DeleteMarkers"]])
        with self.assertRaises(self.s3.exceptions.NoSuchKey):
            self.s3.get_object(Bucket=bucket, Key="fw.bin")

    def test_copy_in_place_needs_a_change(self):
        bucket = self.make_bucket("inplace")
        self.s3.put_object(Bucket=bucket, Key="fw.bin", Body=b"body", Metadata={"a": "1"})
        with self.assertRaises(ClientError) as ctx:
            self.s3.copy_object(Bucket=bucket, Key="fw.bin", CopySource={"Bucket": bucket, "Key": "fw.bin"})
        self.assertClientError(ctx, "InvalidRequest", 400)
        self.s3.copy_object(Bucket=bucket, Key="fw.bin", CopySource={"Bucket": bucket, "Key": "fw.bin"},
                            MetadataDirective="REPLACE", Metadata={"a": "2"})
        got = self.s3.get_object(Bucket=bucket, Key="fw.bin")
        self.assertEqual((got["Metadata"], got["Body"].read()), ({"a": "2"}, b"body"))
        # And in place with encryption requested: the copy is encrypted.
        self.s3.copy_object(Bucket=bucket, Key="fw.bin", CopySource={"Bucket": bucket, "Key": "fw.bin"},
                            ServerSideEncryption="AES256")
        got = self.s3.get_object(Bucket=bucket, Key="fw.bin")
        self.assertEqual((got.get("ServerSideEncryption"), got["Body"].read()), ("AES256", b"body"))


if __name__ == "__main__":
    harness.main()

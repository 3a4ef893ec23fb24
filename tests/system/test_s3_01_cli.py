"""S3 01: the firmware store through the real AWS CLI v2 (/usr/bin/aws).

The recipe's bucket steps (`s3 mb`, put/get-bucket-versioning, put/get-bucket-
encryption), `s3 cp` of a small file and of a 40 MiB file that goes multipart
(ETag md5-of-md5s-5 for 8 MiB parts), copies back byte-identical, `s3 ls` with
prefixes, `s3 presign` downloaded with curl, versions and delete markers
(list-object-versions, get by --version-id, a delete that leaves a marker,
NoSuchKey, the marker deleted brings the object back), encryption shown by
head-object and absent from the blob files on disk (with an unencrypted
control that IS found), `s3 rb` refused with BucketNotEmpty while any version
remains, multipart through s3api (parts out of order, list-parts,
list-multipart-uploads, InvalidPartOrder, InvalidPart, EntityTooSmall,
abort then NoSuchUpload), copy-object with metadata, delete-objects,
list-objects-v2 paging, keys that need URL encoding, user metadata, S3's error
codes, and the HTTPS endpoint (where the CLI sends UNSIGNED-PAYLOAD).
head-bucket of a missing bucket (404, and the server keeps serving) runs on a
server of its own. Setup, verification reads and secondary checks go through
boto3 to keep the run short (each CLI start costs most of a second of CPU);
every CLI command named above is run at least once."""
import concurrent.futures
import hashlib
import json
import urllib.parse

import harness
import s3_helpers as sh
from s3_helpers import MiB


class S3CliTest(sh.S3TestCase):

    # ---- the recipe's bucket steps -------------------------------------------------
    def test_bucket_with_versioning_encryption_and_location(self):
        bucket = sh.bucket_name("recipe")
        r = self.aws("s3", "mb", f"s3://{bucket}")
        self.assertEqual(r.code, 0, r)
        self.assertIn(f"make_bucket: {bucket}", r.out)
        self.assertIn(bucket, [b["Name"] for b in self.s3.list_buckets()["Buckets"]])

        # Before: no versioning status, no encryption configuration, the empty (us-east-1) location.
        self.assertNotIn("Status", self.s3.get_bucket_versioning(Bucket=bucket))
        with self.assertRaises(self.s3.exceptions.ClientError) as ctx:
            self.s3.get_bucket_encryption(Bucket=bucket)
        self.assertClientError(ctx, "ServerSideEncryptionConfigurationNotFoundError", 404)
        self.assertIn(self.s3.get_bucket_location(Bucket=bucket).get("LocationConstraint"), (None, ""))

        put_versioning, put_encryption = self.aws_all(
            ("s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Enabled"),
            ("s3api", "put-bucket-encryption", "--bucket", bucket, "--server-side-encryption-configuration",
             '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'))
        self.assertAwsOk(put_versioning)
        self.assertAwsOk(put_encryption)
        versioning, encryption = self.aws_all(("s3api", "get-bucket-versioning", "--bucket", bucket),
                                              ("s3api", "get-bucket-encryption", "--bucket", bucket))
        self.assertEqual(self.assertAwsOk(versioning)["Status"], "Enabled")
        rules = self.assertAwsOk(encryption)["ServerSideEncryptionConfiguration"]["Rules"]
        self.assertEqual(len(rules), 1, rules)
        self.assertEqual(rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256")

        # A bucket made in another region (LocationConstraint, signed for that region) reports it.
        eu = sh.bucket_name("eu")
        self.server.boto3_client("s3", region="eu-west-1").create_bucket(
            Bucket=eu, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        self.assertEqual(self.s3.get_bucket_location(Bucket=eu)["LocationConstraint"], "eu-west-1")

        # An object put now is versioned and encrypted by default.
        self.s3.put_object(Bucket=bucket, Key="fw.bin", Body=b"x" * 100)
        head = self.s3.head_object(Bucket=bucket, Key="fw.bin")
        self.assertEqual(head.get("ServerSideEncryption"), "AES256", head)
        self.assertTrue(head.get("VersionId") and head["VersionId"] != "null", head)

    # ---- cp ---------------------------------------------------------------------
    def test_cp_small_file_and_back(self):
        bucket = self.make_bucket("small")
        data = sh.random_bytes(100)
        src = self.write("small.bin", data)
        r = self.aws("s3", "cp", src, f"s3://{bucket}/dir/small.bin")
        self.assertEqual(r.code, 0, r)
        self.assertIn("upload: ", r.out)

        head = self.s3.head_object(Bucket=bucket, Key="dir/small.bin")
        self.assertEqual(head["ContentLength"], 100)
        self.assertEqual(head["ETag"], f'"{sh.md5_hex(data)}"')
        self.assertTrue(head["LastModified"], head)
        self.assertEqual(head["ContentType"], "application/octet-stream")   # guessed by the CLI from .bin

        dst = self.path("small.back")
        r = self.aws("s3", "cp", f"s3://{bucket}/dir/small.bin", dst)
        self.assertEqual(r.code, 0, r)
        self.assertEqual(self.read(dst), data)

    def test_cp_40_mib_goes_multipart_and_comes_back_identical(self):
        bucket = self.make_bucket("big")
        data = sh.random_bytes(40 * MiB)
        src = self.write("big.bin", data)
        r = self.aws("s3", "cp", src, f"s3://{bucket}/firmware/big.bin")
        self.assertEqual(r.code, 0, r)

        head = self.s3.head_object(Bucket=bucket, Key="firmware/big.bin")
        self.assertEqual(head["ContentLength"], 40 * MiB)
        # 8 MiB parts: md5 of the five part md5s, "-5".
        self.assertTrue(head["ETag"].endswith('-5"'), head["ETag"])
        self.assertEqual(head["ETag"], sh.multipart_etag(data, 8 * MiB))
        self.assertEqual(self.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []), [])

        dst = self.path("big.back")
        r = self.aws("s3", "cp", f"s3://{bucket}/firmware/big.bin", dst)   # ranged GETs of 8 MiB
        self.assertEqual(r.code, 0, r)
        back = self.read(dst)
        self.assertEqual(len(back), len(data))
        self.assertTrue(back == data, "the 40 MiB copy back differs")

    # ---- ls -----------------------------------------------------------------------
    def test_ls_with_prefixes_and_delimiter(self):
        bucket = self.make_bucket("ls")
        for key, size in (("a.txt", 1), ("dir/b.txt", 2), ("dir/sub/c.txt", 3), ("dir/sub/d.txt", 4),
                          ("dir2/e.txt", 5)):
            self.s3.put_object(Bucket=bucket, Key=key, Body=b"z" * size)

        top, sub, recursive = self.aws_all(
            ("s3", "ls", f"s3://{bucket}/"), ("s3", "ls", f"s3://{bucket}/dir/"),
            ("s3", "ls", "--recursive", f"s3://{bucket}"))

        def parse(r):
            self.assertEqual(r.code, 0, r)
            prefixes, files = [], {}
            for line in r.out.splitlines():
                if line.strip().startswith("PRE "):
                    prefixes.append(line.split("PRE ", 1)[1])
                elif line.strip():
                    files[line.split(None, 3)[3]] = int(line.split()[2])
            return prefixes, files
        self.assertEqual(parse(top), (["dir/", "dir2/"], {"a.txt": 1}))
        self.assertEqual(parse(sub), (["sub/"], {"b.txt": 2}))
        self.assertEqual(parse(recursive), ([], {"a.txt": 1, "dir/b.txt": 2, "dir/sub/c.txt": 3,
                                                 "dir/sub/d.txt": 4, "dir2/e.txt": 5}))

        listed = self.s3.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/")
        self.assertEqual([c["Key"] for c in listed["Contents"]], ["dir/b.txt"])
        self.assertEqual([p["Prefix"] for p in listed["CommonPrefixes"]], ["dir/sub/"])
        self.assertEqual(listed["Contents"][0]["Size"], 2)
        self.assertEqual(listed["Contents"][0]["ETag"], f'"{sh.md5_hex(b"zz")}"')

    def test_list_objects_v2_pages(self):
        bucket = self.make_bucket("pages")
        keys = [f"k{i}" for i in range(5)]
        for k in keys:
            self.s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
        # --page-size 2 asks with max-keys=2 and follows the continuation tokens; --max-items 2
        # stops with a NextToken, and --starting-token resumes after it.
        first = self.assertAwsOk(self.aws("s3api", "list-objects-v2", "--bucket", bucket,
                                          "--page-size", "2", "--max-items", "2"))
        self.assertEqual([c["Key"] for c in first["Contents"]], keys[:2])
        self.assertTrue(first.get("NextToken"), first)
        rest = self.assertAwsOk(self.aws("s3api", "list-objects-v2", "--bucket", bucket, "--page-size", "2",
                                         "--starting-token", first["NextToken"]))
        self.assertEqual([c["Key"] for c in rest["Contents"]], keys[2:])

    # ---- presign ------------------------------------------------------------------
    def test_presign_and_curl_download(self):
        bucket = self.make_bucket("presign")
        data = sh.random_bytes(300 * 1024)
        self.s3.put_object(Bucket=bucket, Key="dir/fw.bin", Body=data)
        r = self.aws("s3", "presign", f"s3://{bucket}/dir/fw.bin", "--expires-in", "600")
        self.assertEqual(r.code, 0, r)
        url = r.out.strip()
        self.assertTrue(url.startswith(f"{self.server.endpoint}/{bucket}/dir/fw.bin?"), url)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        self.assertEqual(q["X-Amz-Algorithm"], ["AWS4-HMAC-SHA256"])
        self.assertEqual(q["X-Amz-Expires"], ["600"])
        got = sh.curl(url)
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.headers.get("content-length"), str(len(data)))
        self.assertTrue(got.body == data, "presigned download differs")

    # ---- versions and delete markers ------------------------------------------------
    def test_versions_delete_markers_and_rb(self):
        bucket = self.make_bucket("ver", versioned=True)
        v1_data, v2_data = b"firmware v1\n" * 10, b"firmware v2\n" * 20
        v1 = self.s3.put_object(Bucket=bucket, Key="fw.bin", Body=v1_data)
        v2 = self.s3.put_object(Bucket=bucket, Key="fw.bin", Body=v2_data)
        self.assertTrue(v1["VersionId"] and v2["VersionId"] and v1["VersionId"] != v2["VersionId"], (v1, v2))
        self.assertEqual(v2["ETag"], f'"{sh.md5_hex(v2_data)}"')

        out1 = self.path("got-v1.bin")
        listed, got1 = self.aws_all(("s3api", "list-object-versions", "--bucket", bucket),
                                    ("s3api", "get-object", "--bucket", bucket, "--key", "fw.bin",
                                     f"--version-id={v1['VersionId']}", out1))
        versions = self.assertAwsOk(listed)
        got = [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in versions["Versions"]]
        self.assertEqual(got, [("fw.bin", v2["VersionId"], True, len(v2_data)),
                               ("fw.bin", v1["VersionId"], False, len(v1_data))])
        self.assertNotIn("DeleteMarkers", versions)
        self.assertEqual(self.assertAwsOk(got1)["VersionId"], v1["VersionId"])
        self.assertEqual(self.read(out1), v1_data)

        # A delete without a version id leaves a delete marker.
        deleted = self.assertAwsOk(self.aws("s3api", "delete-object", "--bucket", bucket, "--key", "fw.bin"))
        self.assertTrue(deleted.get("DeleteMarker"), deleted)
        marker = deleted["VersionId"]
        self.assertNotIn(marker, (v1["VersionId"], v2["VersionId"]))
        gone = self.aws("s3api", "get-object", "--bucket", bucket, "--key", "fw.bin", self.path("gone.bin"))
        self.assertAwsError(gone, "NoSuchKey")
        with self.assertRaises(self.s3.exceptions.ClientError) as ctx:
            self.s3.head_object(Bucket=bucket, Key="fw.bin")
        self.assertClientErrorS3(ctx, "404", 404)
        self.assertEqual(self.get_bytes(bucket, "fw.bin", VersionId=v2["VersionId"]), v2_data)   # versions stay
        versions = self.s3.list_object_versions(Bucket=bucket)
        self.assertEqual([(m["VersionId"], m["IsLatest"]) for m in versions["DeleteMarkers"]], [(marker, True)])
        self.assertEqual(len(versions["Versions"]), 2)
        self.assertFalse(any(v["IsLatest"] for v in versions["Versions"]), versions["Versions"])

        # Deleting the marker brings the object back.
        undeleted = self.assertAwsOk(self.aws("s3api", "delete-object", "--bucket", bucket, "--key", "fw.bin",
                                              f"--version-id={marker}"))
        self.assertEqual(undeleted.get("VersionId"), marker)
        self.assertTrue(undeleted.get("DeleteMarker"), undeleted)
        self.assertEqual(self.get_bytes(bucket, "fw.bin"), v2_data)

        # rb: refused while any version (or marker) remains, even with no current object.
        r = self.aws("s3", "rm", f"s3://{bucket}/fw.bin")           # a marker; the versions stay
        self.assertEqual(r.code, 0, r)
        self.assertEqual(self.s3.list_objects_v2(Bucket=bucket)["KeyCount"], 0)
        r = self.aws("s3", "rb", f"s3://{bucket}")
        self.assertNotEqual(r.code, 0, r)
        self.assertIn("BucketNotEmpty", r.err)
        self.assertIn(bucket, [b["Name"] for b in self.s3.list_buckets()["Buckets"]])

        versions = self.s3.list_object_versions(Bucket=bucket)
        everything = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                      for v in versions.get("Versions", []) + versions.get("DeleteMarkers", [])]
        self.assertEqual(len(everything), 3)   # two versions and the marker `s3 rm` left
        out = self.s3.delete_objects(Bucket=bucket, Delete={"Objects": everything})
        self.assertEqual(sorted(d["VersionId"] for d in out["Deleted"]), sorted(o["VersionId"] for o in everything))
        self.assertNotIn("Errors", out)
        r = self.aws("s3", "rb", f"s3://{bucket}")
        self.assertEqual(r.code, 0, r)
        self.assertIn(f"remove_bucket: {bucket}", r.out)
        self.assertNotIn(bucket, [b["Name"] for b in self.s3.list_buckets()["Buckets"]])
        with self.assertRaises(self.s3.exceptions.NoSuchBucket) as ctx:
            self.s3.list_objects_v2(Bucket=bucket)
        self.assertClientError(ctx, "NoSuchBucket", 404)

    # ---- encryption at rest -----------------------------------------------------------
    def test_encryption_visible_in_head_and_invisible_on_disk(self):
        encrypted = self.make_bucket("enc", encrypted=True)
        plain = self.make_bucket("plain")
        secret = sh.random_bytes(3 * MiB + 12345)
        secret_mp = sh.random_bytes(9 * MiB + 7)      # goes multipart
        control = sh.random_bytes(3 * MiB + 12345)
        requested = sh.random_bytes(200 * 1024)      # --sse AES256 into the plain bucket

        ups = self.aws_all(
            ("s3", "cp", self.write("secret.bin", secret), f"s3://{encrypted}/secret.bin"),
            ("s3", "cp", self.write("secret-mp.bin", secret_mp), f"s3://{encrypted}/secret-mp.bin"),
            ("s3", "cp", "--sse", "AES256", self.write("requested.bin", requested), f"s3://{plain}/requested.bin"))
        for r in ups:
            self.assertEqual(r.code, 0, r)
        self.s3.put_object(Bucket=plain, Key="control.bin", Body=control)   # the control: stored plain

        h_secret = self.assertAwsOk(self.aws("s3api", "head-object", "--bucket", encrypted, "--key", "secret.bin"))
        h_mp = self.s3.head_object(Bucket=encrypted, Key="secret-mp.bin")
        h_control = self.s3.head_object(Bucket=plain, Key="control.bin")
        h_requested = self.s3.head_object(Bucket=plain, Key="requested.bin")
        self.assertEqual(h_secret.get("ServerSideEncryption"), "AES256", h_secret)
        self.assertEqual(h_mp.get("ServerSideEncryption"), "AES256", h_mp)
        self.assertTrue(h_mp["ETag"].endswith('-2"'), h_mp)
        self.assertEqual(h_requested.get("ServerSideEncryption"), "AES256", h_requested)
        self.assertNotIn("ServerSideEncryption", h_control)
        self.assertEqual(h_secret["ETag"], f'"{sh.md5_hex(secret)}"')   # the ETag is of the plaintext

        # On disk: no 32-byte window of an encrypted body in any blob file...
        found = sh.on_disk(self.data_dir, sh.windows(secret) + sh.windows(secret_mp) + sh.windows(requested))
        self.assertEqual(found, {}, "plaintext of an encrypted object found on disk")
        # ...while the control, stored plain, is found (the scan does see bodies).
        found = sh.on_disk(self.data_dir, sh.windows(control))
        self.assertEqual(len(found), len(sh.windows(control)), found)

        # And the encrypted bodies come back whole (the multipart one by the CLI's ranged GETs).
        r = self.aws("s3", "cp", f"s3://{encrypted}/secret-mp.bin", self.path("secret-mp.back"))
        self.assertEqual(r.code, 0, r)
        self.assertTrue(self.read(self.path("secret-mp.back")) == secret_mp)
        self.assertTrue(self.get_bytes(encrypted, "secret.bin") == secret)
        self.assertTrue(self.get_bytes(plain, "requested.bin") == requested)

    def test_unfinished_multipart_parts_are_encrypted_on_disk(self):
        bucket = self.make_bucket("encparts", encrypted=True)
        part = sh.random_bytes(5 * MiB)
        up = self.s3.create_multipart_upload(Bucket=bucket, Key="p.bin")
        self.assertEqual(up.get("ServerSideEncryption"), "AES256", up)
        r = self.assertAwsOk(self.aws("s3api", "upload-part", "--bucket", bucket, "--key", "p.bin",
                                      "--part-number", "1", f"--upload-id={up['UploadId']}",
                                      "--body", self.write("part.bin", part)))
        self.assertEqual(r["ETag"], f'"{sh.md5_hex(part)}"')
        self.assertEqual(sh.on_disk(self.data_dir, sh.windows(part)), {}, "a part of an encrypted upload is plain")
        self.s3.abort_multipart_upload(Bucket=bucket, Key="p.bin", UploadId=up["UploadId"])

    # ---- multipart through s3api ----------------------------------------------------------
    def complete_all(self, bucket, *completions):
        """complete-multipart-upload for each (key, upload id, part list), at once; the results in order."""
        commands = []
        for key, upload_id, part_list in completions:
            path = self.write(f"complete-{sh.bucket_name('c')}.json", json.dumps({"Parts": part_list}).encode())
            commands.append(("s3api", "complete-multipart-upload", "--bucket", bucket, "--key", key,
                             f"--upload-id={upload_id}", "--multipart-upload", "file://" + path))
        return self.aws_all(*commands)

    def test_multipart_through_s3api(self):
        bucket = self.make_bucket("mpu")
        key = "fw/image.bin"
        parts = {1: sh.random_bytes(5 * MiB), 2: sh.random_bytes(5 * MiB), 3: sh.random_bytes(1234)}
        up = self.assertAwsOk(self.aws("s3api", "create-multipart-upload", "--bucket", bucket, "--key", key,
                                       "--content-type", "application/x-firmware",
                                       "--metadata", "fw-version=3.0.0"))
        self.assertEqual((up["Bucket"], up["Key"]), (bucket, key))
        uid = up["UploadId"]

        # Ids go as --upload-id=<id>: an id may start with '-', which the CLI would read as an option.
        def upload(n):
            return ("s3api", "upload-part", "--bucket", bucket, "--key", key, f"--upload-id={uid}",
                    "--part-number", str(n), "--body", self.write(f"part{n}.bin", parts[n]))
        # The last part first (through the CLI), then 2, then 1.
        etags = {3: self.assertAwsOk(self.aws(*upload(3)))["ETag"]}
        for n in (2, 1):
            etags[n] = self.s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=parts[n])["ETag"]
        for n in parts:
            self.assertEqual(etags[n], f'"{sh.md5_hex(parts[n])}"', n)

        listed_parts, uploads = self.aws_all(
            ("s3api", "list-parts", "--bucket", bucket, "--key", key, f"--upload-id={uid}"),
            ("s3api", "list-multipart-uploads", "--bucket", bucket))
        listed = self.assertAwsOk(listed_parts)["Parts"]
        self.assertEqual([(p["PartNumber"], p["ETag"], p["Size"]) for p in listed],
                         [(n, etags[n], len(parts[n])) for n in (1, 2, 3)])
        self.assertEqual([(u["Key"], u["UploadId"]) for u in self.assertAwsOk(uploads)["Uploads"]], [(key, uid)])

        right = [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]
        wrong_order = [right[1], right[0], right[2]]
        bad_etag = [right[0], {"PartNumber": 2, "ETag": '"' + "0" * 32 + '"'}, right[2]]
        missing_part = [right[0], right[1], {"PartNumber": 4, "ETag": etags[3]}]
        # A part that is not the last must be at least 5 MiB (another upload, completed at the same time).
        small = self.s3.create_multipart_upload(Bucket=bucket, Key="small.bin")["UploadId"]
        small_etags = [self.s3.upload_part(Bucket=bucket, Key="small.bin", UploadId=small, PartNumber=n,
                                           Body=b"s" * 1024)["ETag"] for n in (1, 2)]
        r_order, r_etag, r_small = self.complete_all(
            bucket, (key, uid, wrong_order), (key, uid, bad_etag),
            ("small.bin", small, [{"PartNumber": n, "ETag": small_etags[n - 1]} for n in (1, 2)]))
        self.assertAwsError(r_order, "InvalidPartOrder")
        self.assertAwsError(r_etag, "InvalidPart")
        self.assertAwsError(r_small, "EntityTooSmall")
        with self.assertRaises(self.s3.exceptions.ClientError) as ctx:   # a part never uploaded
            self.s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                              MultipartUpload={"Parts": missing_part})
        self.assertClientError(ctx, "InvalidPart", 400)
        # The refused completions left the upload as it was and made no object.
        self.assertEqual(len(self.s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)["Parts"]), 3)
        self.assertEqual(self.s3.list_objects_v2(Bucket=bucket)["KeyCount"], 0)

        done = self.assertAwsOk(self.complete_all(bucket, (key, uid, right))[0])
        whole = parts[1] + parts[2] + parts[3]
        expected_etag = '"%s-3"' % sh.md5_hex(b"".join(hashlib.md5(parts[n]).digest() for n in (1, 2, 3)))
        self.assertEqual(done["ETag"], expected_etag)
        self.assertEqual((done["Bucket"], done["Key"]), (bucket, key))
        got = self.s3.get_object(Bucket=bucket, Key=key)
        self.assertEqual(got["ETag"], expected_etag)
        self.assertEqual(got["ContentType"], "application/x-firmware")
        self.assertEqual(got["Metadata"], {"fw-version": "3.0.0"})
        self.assertTrue(got["Body"].read() == whole)
        self.assertEqual([u["UploadId"] for u in self.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])],
                         [small])
        # A completed upload is gone.
        with self.assertRaises(self.s3.exceptions.NoSuchUpload) as ctx:
            self.s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
        self.assertClientError(ctx, "NoSuchUpload", 404)

        # A single small part is fine (it is the last).
        self.s3.complete_multipart_upload(Bucket=bucket, Key="small.bin", UploadId=small, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": small_etags[0]}]})
        self.assertEqual(self.get_bytes(bucket, "small.bin"), b"s" * 1024)

        # abort-multipart-upload, then NoSuchUpload.
        doomed = self.s3.create_multipart_upload(Bucket=bucket, Key="doomed.bin")["UploadId"]
        self.s3.upload_part(Bucket=bucket, Key="doomed.bin", UploadId=doomed, PartNumber=1, Body=b"d" * 100)
        self.assertAwsOk(self.aws("s3api", "abort-multipart-upload", "--bucket", bucket, "--key", "doomed.bin",
                                  f"--upload-id={doomed}"))
        with self.assertRaises(self.s3.exceptions.NoSuchUpload) as ctx:
            self.s3.list_parts(Bucket=bucket, Key="doomed.bin", UploadId=doomed)
        self.assertClientError(ctx, "NoSuchUpload", 404)
        with self.assertRaises(self.s3.exceptions.NoSuchUpload) as ctx:
            self.s3.upload_part(Bucket=bucket, Key="doomed.bin", UploadId=doomed, PartNumber=2, Body=b"late")
        self.assertClientError(ctx, "NoSuchUpload", 404)
        self.assertNotIn(doomed, [u["UploadId"] for u in self.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])])
        self.assertNotIn("doomed.bin", [c["Key"] for c in self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])])

    # ---- copy, delete-objects, metadata, odd keys -----------------------------------------
    def test_copy_object_with_metadata(self):
        src_bucket = self.make_bucket("cpsrc", versioned=True)
        dst_bucket = self.make_bucket("cpdst", encrypted=True)
        data = sh.random_bytes(70 * 1024)
        put = self.s3.put_object(Bucket=src_bucket, Key="src.bin", Body=data, ContentType="application/x-fw",
                                 Metadata={"fw-version": "2.1.0", "channel": "stable"})
        copied, replaced = self.aws_all(
            ("s3api", "copy-object", "--bucket", dst_bucket, "--key", "copy.bin",
             "--copy-source", f"{src_bucket}/src.bin"),
            ("s3api", "copy-object", "--bucket", dst_bucket, "--key", "replaced.bin",
             "--copy-source", f"{src_bucket}/src.bin", "--metadata-directive", "REPLACE",
             "--metadata", "fw-version=2.1.1", "--content-type", "application/x-other"))
        c = self.assertAwsOk(copied)
        self.assertEqual(c["CopyObjectResult"]["ETag"], f'"{sh.md5_hex(data)}"')
        self.assertEqual(c.get("CopySourceVersionId"), put["VersionId"])
        self.assertEqual(c.get("ServerSideEncryption"), "AES256")
        self.assertAwsOk(replaced)

        h = self.s3.head_object(Bucket=dst_bucket, Key="copy.bin")
        self.assertEqual(h["Metadata"], {"fw-version": "2.1.0", "channel": "stable"})
        self.assertEqual(h["ContentType"], "application/x-fw")
        self.assertEqual(h["ServerSideEncryption"], "AES256")
        h = self.s3.head_object(Bucket=dst_bucket, Key="replaced.bin")
        self.assertEqual(h["Metadata"], {"fw-version": "2.1.1"})
        self.assertEqual(h["ContentType"], "application/x-other")
        self.assertTrue(self.get_bytes(dst_bucket, "copy.bin") == data)
        self.assertTrue(self.get_bytes(dst_bucket, "replaced.bin") == data)

        # A copy of a missing key: NoSuchKey; of a missing bucket: NoSuchBucket.
        for source, code in ((f"{src_bucket}/nope", "NoSuchKey"), (f"{sh.bucket_name('nob')}/src.bin", "NoSuchBucket")):
            with self.assertRaises(self.s3.exceptions.ClientError) as ctx:
                self.s3.copy_object(Bucket=dst_bucket, Key="x", CopySource=source)
            self.assertClientError(ctx, code, 404)

    def test_delete_objects(self):
        bucket = self.make_bucket("delobj")
        for k in ("a", "b", "c", "d"):
            self.s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
        out = self.assertAwsOk(self.aws("s3api", "delete-objects", "--bucket", bucket, "--delete",
                                        json.dumps({"Objects": [{"Key": "a"}, {"Key": "c"}, {"Key": "never"}]})))
        # S3 reports a key that was not there as deleted too.
        self.assertEqual(sorted(d["Key"] for d in out["Deleted"]), ["a", "c", "never"])
        self.assertNotIn("Errors", out)
        self.assertEqual([c["Key"] for c in self.s3.list_objects_v2(Bucket=bucket)["Contents"]], ["b", "d"])
        quiet = self.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b"}], "Quiet": True})
        self.assertNotIn("Deleted", quiet)
        self.assertEqual([c["Key"] for c in self.s3.list_objects_v2(Bucket=bucket)["Contents"]], ["d"])

    def test_user_metadata_and_odd_key_names(self):
        bucket = self.make_bucket("odd")
        key = "dir/a b+c=d€~(1).txt"
        data = b"odd key\n"
        src = self.write("odd.txt", data)
        r = self.aws("s3", "cp", src, f"s3://{bucket}/{key}", "--metadata", "fw-version=2.1.0,Build-Id=42")
        self.assertEqual(r.code, 0, r)
        ls, encoded = self.aws_all(
            ("s3", "ls", f"s3://{bucket}/dir/"),
            ("s3api", "list-objects-v2", "--bucket", bucket, "--encoding-type", "url", "--no-paginate"))
        h = self.s3.head_object(Bucket=bucket, Key=key)
        # S3 returns metadata names in lower case.
        self.assertEqual(h["Metadata"], {"fw-version": "2.1.0", "build-id": "42"})
        self.assertEqual(h["ContentLength"], len(data))
        self.assertEqual(ls.code, 0, ls)
        self.assertIn("a b+c=d€~(1).txt", ls.out)
        # Without EncodingType botocore asks for url encoding itself and decodes the keys.
        self.assertEqual([c["Key"] for c in self.s3.list_objects_v2(Bucket=bucket)["Contents"]], [key])
        # With it, the keys stay encoded: no raw space, '+' or non-ASCII, and unquote_plus gives the key back.
        e = self.assertAwsOk(encoded)
        self.assertEqual(e.get("EncodingType"), "url")
        raw = e["Contents"][0]["Key"]
        for ch in (" ", "+", "€"):
            self.assertNotIn(ch, raw)
        self.assertEqual(urllib.parse.unquote_plus(raw), key)

        got = self.s3.get_object(Bucket=bucket, Key=key)
        self.assertEqual(got["Body"].read(), data)
        self.assertEqual(got["Metadata"]["fw-version"], "2.1.0")

    # ---- errors ----------------------------------------------------------------------------
    def test_error_codes(self):
        bucket = self.make_bucket("errs", versioned=True)
        self.s3.put_object(Bucket=bucket, Key="k", Body=b"one")
        gone_version = self.s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
        self.s3.delete_object(Bucket=bucket, Key="k", VersionId=gone_version)
        missing = sh.bucket_name("missing")
        out = self.path("err.out")
        results = self.aws_all(
            ("s3api", "create-bucket", "--bucket", "Bad_Name"),
            ("s3api", "create-bucket", "--bucket", bucket),
            ("s3api", "get-object", "--bucket", missing, "--key", "k", out),
            ("s3api", "get-object", "--bucket", bucket, "--key", "k", f"--version-id={gone_version}", out),
            ("s3api", "put-object", "--bucket", bucket, "--key", "md5", "--body", self.write("md5.bin", b"body"),
             "--content-md5", sh.md5_b64(b"other body")))
        codes = ["InvalidBucketName", "BucketAlreadyOwnedByYou", "NoSuchBucket", "NoSuchVersion", "BadDigest"]
        for r, code in zip(results, codes):
            with self.subTest(code=code):
                self.assertAwsError(r, code)
        names = [b["Name"] for b in self.s3.list_buckets()["Buckets"]]
        self.assertNotIn("Bad_Name", names)
        for name in ("ab", "a" * 64, "-dash", "192.168.1.1", "a..b"):
            with self.assertRaises(self.s3.exceptions.ClientError) as ctx:
                self.s3.create_bucket(Bucket=name)
            self.assertClientError(ctx, "InvalidBucketName", 400)
        for call in (lambda: self.s3.delete_bucket(Bucket=missing),
                     lambda: self.s3.get_bucket_versioning(Bucket=missing),
                     lambda: self.s3.list_object_versions(Bucket=missing)):
            with self.assertRaises(self.s3.exceptions.NoSuchBucket) as ctx:
                call()
            self.assertClientError(ctx, "NoSuchBucket", 404)
        self.assertNotIn("md5", [c["Key"] for c in self.s3.list_objects_v2(Bucket=bucket).get("Contents", [])])

    # ---- https ------------------------------------------------------------------------------
    def test_https_endpoint_cp_up_and_down(self):
        bucket = self.make_bucket("tls")
        small = sh.random_bytes(1000)
        big = sh.random_bytes(9 * MiB + 1)      # multipart: UploadPart with UNSIGNED-PAYLOAD too
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            up_small, up_big = pool.map(lambda a: self.aws_https(*a), [
                ("s3", "cp", self.write("tls-small.bin", small), f"s3://{bucket}/small.bin"),
                ("s3", "cp", self.write("tls-big.bin", big), f"s3://{bucket}/big.bin")])
        self.assertEqual(up_small.code, 0, up_small)
        self.assertEqual(up_big.code, 0, up_big)
        self.assertEqual(self.s3.head_object(Bucket=bucket, Key="small.bin")["ETag"], f'"{sh.md5_hex(small)}"')
        self.assertEqual(self.s3.head_object(Bucket=bucket, Key="big.bin")["ETag"], sh.multipart_etag(big))
        down_big = self.aws_https("s3", "cp", f"s3://{bucket}/big.bin", self.path("tls-big.back"))
        self.assertEqual(down_big.code, 0, down_big)
        self.assertTrue(self.read(self.path("tls-big.back")) == big)
        self.assertEqual(self.get_bytes(bucket, "small.bin"), small)


class S3CliMissingBucketTest(sh.S3TestCase):
    """head-bucket on a bucket that does not exist, on a server of its own."""

    def test_head_bucket_missing_is_404_and_the_server_stays_up(self):
        existing = self.make_bucket("here")
        self.assertEqual(self.s3.head_bucket(Bucket=existing)["ResponseMetadata"]["HTTPStatusCode"], 200)
        r = self.aws("s3api", "head-bucket", "--bucket", sh.bucket_name("not-here"))
        # A HEAD response has no body: the CLI can only show the status.
        self.assertAwsError(r, "404")
        self.assertServerAlive()
        self.assertIn(existing, [b["Name"] for b in self.s3.list_buckets()["Buckets"]])


if __name__ == "__main__":
    harness.main()

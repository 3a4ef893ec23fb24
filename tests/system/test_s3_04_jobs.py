"""S3 04: firmware links in job documents, end to end.

The recipe's flow: firmware goes into a versioned, encrypted bucket with
`aws s3 cp`; a job whose document holds
`${aws:iot:s3-presigned-url:https://s3.amazonaws.com/<bucket>/<key>}` is made
with `aws iot create-job --presigned-url-config`; GetJobDocument keeps the
placeholder, while a device reading its execution (`aws iot-jobs-data
describe-job-execution --include-job-document`, and start-next) gets a SigV4
presigned URL to this server, valid for expiresInSec, which `curl` downloads
byte-identical (whole, and resumed with a range). The other URL forms AWS
accepts (`<bucket>.s3.amazonaws.com`, the regional `s3.<region>` and
`s3-<region>` forms, virtual-hosted and path style) resolve the same way; a
tampered link is refused. A job document can come from the bucket
(documentSource), and a missing one is refused. With --public-url the links
name the public address devices use (curl reaches it with --connect-to)."""
import hashlib
import json
import urllib.parse

import harness
import jobs_helpers as jh
import s3_helpers as sh


PLACEHOLDER = "${aws:iot:s3-presigned-url:%s}"


class S3JobsTestCase(jh.JobsMixin, sh.S3TestCase):
    """A server with a firmware bucket (versioned, encrypted by default) holding one image."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bucket = sh.bucket_name("iot-firmware-updates")
        cls.s3.create_bucket(Bucket=cls.bucket)
        cls.s3.put_bucket_versioning(Bucket=cls.bucket, VersioningConfiguration={"Status": "Enabled"})
        cls.s3.put_bucket_encryption(Bucket=cls.bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        cls.key = "firmware/firmware-v2.1.0.bin"
        cls.firmware = sh.random_bytes(256 * 1024 + 11)
        cls.role = f"arn:aws:iam::{cls.account}:role/iot-firmware-download"

    def thing(self, prefix="fwdev"):
        name = jh.unique(prefix)
        self.iot.create_thing(thingName=name)
        return name

    def document(self, url, **extra):
        doc = {"operation": "firmwareUpdate", "firmwareVersion": "v2.1.0", "downloadUrl": PLACEHOLDER % url,
               "checksumAlgorithm": "SHA256", "checksum": hashlib.sha256(self.firmware).hexdigest()}
        doc.update(extra)
        return json.dumps(doc, indent=2) + "\n"

    def upload_firmware(self):
        if not getattr(type(self), "_uploaded", False):
            r = self.aws("s3", "cp", self.write("firmware-v2.1.0.bin", self.firmware), f"s3://{self.bucket}/{self.key}")
            self.assertEqual(r.code, 0, r)
            type(self)._uploaded = True

    def assertDownloads(self, url, public_base=None, curl_args=()):
        """The link points at the server (or public_base), is a SigV4 presigned GET, and curl
        downloads the firmware byte-identical."""
        base = public_base or self.server.endpoint
        self.assertTrue(url.startswith(base + "/"), url)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        self.assertEqual(q.get("X-Amz-Algorithm"), ["AWS4-HMAC-SHA256"], url)
        self.assertEqual(q.get("X-Amz-SignedHeaders"), ["host"], url)
        self.assertTrue(q["X-Amz-Credential"][0].endswith("/s3/aws4_request"), url)
        r = sh.curl(url, *curl_args)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.body == self.firmware, f"the download from {url} differs from the firmware")
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), hashlib.sha256(self.firmware).hexdigest())
        return q


class S3JobsTest(S3JobsTestCase):

    def test_recipe_job_link_downloads_the_firmware(self):
        self.upload_firmware()
        head = self.s3.head_object(Bucket=self.bucket, Key=self.key)
        self.assertEqual(head["ServerSideEncryption"], "AES256")
        thing = self.thing()
        job_id = self.job_id("firmware-update-v2-1-0")
        document = self.document(f"https://s3.amazonaws.com/{self.bucket}/{self.key}")
        created = self.assertAwsOk(self.aws(
            "iot", "create-job", "--job-id", job_id, "--targets", self.thing_arn(thing),
            "--document", "file://" + self.write(f"{job_id}.json", document.encode()),
            "--presigned-url-config", f"roleArn={self.role},expiresInSec=3600"))
        self.assertEqual(created["jobId"], job_id)

        # The control plane keeps the placeholder.
        stored = self.iot.get_job_document(jobId=job_id)["document"]
        self.assertEqual(json.loads(stored), json.loads(document))
        self.wait_execution_status(job_id, thing, "QUEUED")

        # The device's view: a presigned URL to this server, valid for an hour.
        described = self.assertAwsOk(self.aws("iot-jobs-data", "describe-job-execution", "--job-id", job_id,
                                              "--thing-name", thing, "--include-job-document"))["execution"]
        doc = json.loads(described["jobDocument"])
        url = doc["downloadUrl"]
        self.assertNotIn("${aws:iot", url)
        self.assertTrue(url.startswith(f"{self.server.endpoint}/{self.bucket}/{self.key}?"), url)
        q = self.assertDownloads(url)
        self.assertEqual(q["X-Amz-Expires"], ["3600"])
        self.assertEqual({k: v for k, v in doc.items() if k != "downloadUrl"},
                         {k: v for k, v in json.loads(document).items() if k != "downloadUrl"})

        # A download cut short resumes with a range on the same link.
        partial = self.write(f"{job_id}.part", self.firmware[:100_000])
        r = sh.curl(url, "-C", "-", "-o", partial)
        self.assertEqual((r.code, r.status), (0, 206), r)
        self.assertTrue(self.read(partial) == self.firmware)

        # start-next gives the document again with a working link.
        started = self.assertAwsOk(self.aws("iot-jobs-data", "start-next-pending-job-execution",
                                            "--thing-name", thing))["execution"]
        self.assertEqual((started["jobId"], started["status"]), (job_id, "IN_PROGRESS"))
        self.assertDownloads(json.loads(started["jobDocument"])["downloadUrl"])

        # The link is for that object only: changed, it is refused.
        sig = q["X-Amz-Signature"][0]
        tampered = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
        self.assertS3Error(sh.curl(tampered), 403, "SignatureDoesNotMatch")
        other = url.replace(f"/{self.key}?", "/firmware/other.bin?")
        self.assertS3Error(sh.curl(other), 403, "SignatureDoesNotMatch")
        self.update(thing, job_id, "SUCCEEDED")

    def test_every_s3_url_form_resolves(self):
        self.upload_firmware()
        b, k = self.bucket, self.key
        forms = {
            "path": f"https://s3.amazonaws.com/{b}/{k}",
            "virtual": f"https://{b}.s3.amazonaws.com/{k}",
            "regional-path": f"https://s3.us-west-2.amazonaws.com/{b}/{k}",
            "regional-virtual": f"https://{b}.s3.us-west-2.amazonaws.com/{k}",
            "dash-regional-path": f"https://s3-us-west-2.amazonaws.com/{b}/{k}",
            "dash-regional-virtual": f"https://{b}.s3-us-west-2.amazonaws.com/{k}",
        }
        thing = self.thing()
        job_id = self.create_job([self.thing_arn(thing)],
                                 document=json.dumps({name: PLACEHOLDER % url for name, url in forms.items()}),
                                 presignedUrlConfig={"roleArn": self.role, "expiresInSec": 900})
        self.wait_execution_status(job_id, thing, "QUEUED")
        got = self.assertAwsOk(self.aws("iot-jobs-data", "describe-job-execution", "--job-id", job_id,
                                        "--thing-name", thing, "--include-job-document"))["execution"]
        links = json.loads(got["jobDocument"])
        self.assertEqual(sorted(links), sorted(forms))
        for name, url in links.items():
            with self.subTest(form=name):
                self.assertTrue(url.startswith(f"{self.server.endpoint}/{b}/{k}?"), url)
                q = self.assertDownloads(url)
                self.assertEqual(q["X-Amz-Expires"], ["900"])

    def test_key_that_needs_encoding(self):
        key = "firmware/fw v2+build(7).bin"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=self.firmware)
        thing = self.thing()
        url = f"https://s3.amazonaws.com/{self.bucket}/{urllib.parse.quote(key)}"
        job_id = self.create_job([self.thing_arn(thing)], document=json.dumps({"url": PLACEHOLDER % url}),
                                 presignedUrlConfig={"roleArn": self.role, "expiresInSec": 60})
        self.wait_execution_status(job_id, thing, "QUEUED")
        doc = json.loads(self.start_next(thing)["jobDocument"])
        q = self.assertDownloads(doc["url"])
        self.assertEqual(q["X-Amz-Expires"], ["60"])

    def test_document_source_from_the_bucket(self):
        self.upload_firmware()
        document = self.document(f"https://{self.bucket}.s3.amazonaws.com/{self.key}")
        r = self.aws("s3", "cp", self.write("job-document.json", document.encode()),
                     f"s3://{self.bucket}/jobs/firmware-update.json")
        self.assertEqual(r.code, 0, r)
        thing = self.thing()
        job_id = self.job_id("docsource")
        self.assertAwsOk(self.aws(
            "iot", "create-job", "--job-id", job_id, "--targets", self.thing_arn(thing),
            "--document-source", f"https://s3.amazonaws.com/{self.bucket}/jobs/firmware-update.json",
            "--presigned-url-config", f"roleArn={self.role},expiresInSec=600"))
        self.assertEqual(json.loads(self.iot.get_job_document(jobId=job_id)["document"]), json.loads(document))
        self.wait_execution_status(job_id, thing, "QUEUED")
        doc = json.loads(self.start_next(thing)["jobDocument"])
        self.assertEqual(doc["checksum"], hashlib.sha256(self.firmware).hexdigest())
        q = self.assertDownloads(doc["downloadUrl"])
        self.assertEqual(q["X-Amz-Expires"], ["600"])

        # A documentSource that is not in the bucket: refused, no job.
        missing = self.job_id("docsource-missing")
        with self.assertRaises(self.iot.exceptions.InvalidRequestException) as ctx:
            self.iot.create_job(jobId=missing, targets=[self.thing_arn(thing)],
                                documentSource=f"https://s3.amazonaws.com/{self.bucket}/jobs/nope.json")
        self.assertClientError(ctx, "InvalidRequestException", 400)
        with self.assertRaises(self.iot.exceptions.ResourceNotFoundException):
            self.iot.describe_job(jobId=missing)


class S3JobsPublicUrlTest(S3JobsTestCase):
    """Devices reach the server by a name it cannot guess: --public-url."""
    PUBLIC = "http://firmware.example.test:8443"
    server_args = ("--public-url", PUBLIC)

    def test_links_name_the_public_url(self):
        self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=self.firmware)
        thing = self.thing()
        job_id = self.create_job([self.thing_arn(thing)],
                                 document=self.document(f"https://s3.amazonaws.com/{self.bucket}/{self.key}"),
                                 presignedUrlConfig={"roleArn": self.role, "expiresInSec": 3600})
        self.wait_execution_status(job_id, thing, "QUEUED")
        got = self.assertAwsOk(self.aws("iot-jobs-data", "describe-job-execution", "--job-id", job_id,
                                        "--thing-name", thing, "--include-job-document"))["execution"]
        url = json.loads(got["jobDocument"])["downloadUrl"]
        self.assertTrue(url.startswith(f"{self.PUBLIC}/{self.bucket}/{self.key}?"), url)
        port = urllib.parse.urlsplit(self.server.endpoint).port
        # curl sends Host: firmware.example.test:8443, the host the link was signed for.
        self.assertDownloads(url, public_base=self.PUBLIC,
                             curl_args=("--connect-to", f"firmware.example.test:8443:127.0.0.1:{port}"))


if __name__ == "__main__":
    harness.main()

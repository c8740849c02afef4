"""cairn-s3 against a real cluster, with real S3 clients: boto3 for the breadth,
one short round trip each with s3cmd, rclone and the AWS CLI, curl for
presigned URLs and public buckets.

One cluster and one gateway serve the whole module (CI time); tests use
their own buckets. The multipart upload is 100 MiB in 8 MiB parts (24 MiB
under the sanitizers; CAIRN_S3_BIG_MIB sets it).
"""
import concurrent.futures
import hashlib
import io
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from cluster import Cluster
from conftest import BIN, free_port, wait_listening

boto3 = pytest.importorskip("boto3")
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

KEY_ID = "AKCAIRNTEST"
SECRET = "cairn/secret+key"
BIG_MIB = int(os.environ.get("CAIRN_S3_BIG_MIB",
                             "24" if os.environ.get("CAIRN_SANITIZE") == "1" else "100"))


class Gateway:
    """One cairn-s3 process."""

    def __init__(self, tmp, meta_addr, name="s3"):
        self.tmp = str(tmp)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.keys = os.path.join(self.tmp, "keys")
        with open(self.keys, "w") as f:
            f.write("# test keys\n%s %s\n" % (KEY_ID, SECRET))
        self.log_path = os.path.join(self.tmp, name + ".log")
        self.argv = [os.path.join(BIN, "cairn-s3"), "--meta", meta_addr, "--listen",
                     "127.0.0.1:%d" % self.port, "--keys", self.keys, "--public", "pub",
                     "--timeout", "20s"]
        self.proc = None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        if not wait_listening(self.proc, self.port):
            raise RuntimeError("cairn-s3 did not start:\n" + self.log())
        return self

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(30)
        return None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def client(self, key_id=KEY_ID, secret=SECRET):
        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=key_id,
                            aws_secret_access_key=secret, region_name="us-east-1",
                            config=Config(signature_version="s3v4",
                                          s3={"addressing_style": "path"},
                                          retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("s3")
    cluster = Cluster(tmp, nchunks=3, chunk_size="4M").start()
    gw = None
    try:
        gw = Gateway(tmp, cluster.meta.addr).start()
        yield cluster, gw
    finally:
        if gw:
            gw.kill()
        cluster.kill()


@pytest.fixture
def gw(env):
    return env[1]


@pytest.fixture
def s3(gw):
    return gw.client()


def code_of(call, *args, **kw):
    """The S3 error code a call fails with."""
    with pytest.raises(ClientError) as e:
        call(*args, **kw)
    return e.value.response["Error"]["Code"]


def curl(*args):
    r = subprocess.run(["curl", "-s", "-i", "--max-time", "30"] + list(args),
                       capture_output=True, timeout=60)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return status, headers, body


def test_buckets(s3):
    s3.create_bucket(Bucket="bk-one")
    assert "bk-one" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket="bk-one")
    assert code_of(s3.create_bucket, Bucket="bk-one") == "BucketAlreadyOwnedByYou"
    assert code_of(s3.create_bucket, Bucket="Bad_Name") == "InvalidBucketName"
    assert code_of(s3.head_bucket, Bucket="bk-missing") == "404"
    assert code_of(s3.list_objects_v2, Bucket="bk-missing") == "NoSuchBucket"
    s3.put_object(Bucket="bk-one", Key="a/b", Body=b"x")
    assert code_of(s3.delete_bucket, Bucket="bk-one") == "BucketNotEmpty"
    s3.delete_object(Bucket="bk-one", Key="a/b")
    s3.delete_bucket(Bucket="bk-one")
    assert "bk-one" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_put_get_keeps_metadata_and_md5_etag(s3):
    s3.create_bucket(Bucket="bk-meta")
    body = b"hello, cairn\n" * 1000
    r = s3.put_object(Bucket="bk-meta", Key="docs/hello.txt", Body=body,
                      ContentType="text/plain", CacheControl="max-age=60",
                      Metadata={"owner": "alice", "n": "1"})
    assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    g = s3.get_object(Bucket="bk-meta", Key="docs/hello.txt")
    assert g["Body"].read() == body
    assert g["ContentType"] == "text/plain"
    assert g["CacheControl"] == "max-age=60"
    assert g["Metadata"] == {"owner": "alice", "n": "1"}
    assert g["ETag"] == r["ETag"]
    h = s3.head_object(Bucket="bk-meta", Key="docs/hello.txt")
    assert h["ContentLength"] == len(body) and h["Metadata"]["owner"] == "alice"
    # Metadata too long to be kept in a name goes into the sidecar's file.
    s3.put_object(Bucket="bk-meta", Key="long", Body=b"l", Metadata={"long": "v" * 1500})
    assert s3.head_object(Bucket="bk-meta", Key="long")["Metadata"] == {"long": "v" * 1500}
    assert code_of(s3.put_object, Bucket="bk-meta", Key="toolong", Body=b"l",
                   Metadata={"long": "v" * 2100}) == "MetadataTooLarge"
    # An overwrite replaces data and metadata whole.
    s3.put_object(Bucket="bk-meta", Key="docs/hello.txt", Body=b"v2")
    g = s3.get_object(Bucket="bk-meta", Key="docs/hello.txt")
    assert g["Body"].read() == b"v2" and g["Metadata"] == {}
    assert g["ContentType"] == "binary/octet-stream"
    assert code_of(s3.get_object, Bucket="bk-meta", Key="docs/nope") == "NoSuchKey"
    assert code_of(s3.get_object, Bucket="bk-nobucket", Key="x") == "NoSuchBucket"
    assert code_of(s3.put_object, Bucket="bk-nobucket", Key="x", Body=b"1") == "NoSuchBucket"
    # A wrong Content-MD5 is refused and stores nothing.
    assert code_of(s3.put_object, Bucket="bk-meta", Key="bad", Body=b"abc",
                   ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==") == "BadDigest"
    assert code_of(s3.head_object, Bucket="bk-meta", Key="bad") == "404"


def test_ranges_and_conditions(s3):
    s3.create_bucket(Bucket="bk-range")
    body = bytes(range(256)) * 4096  # 1 MiB
    etag = s3.put_object(Bucket="bk-range", Key="r", Body=body)["ETag"]

    def rng(spec):
        return s3.get_object(Bucket="bk-range", Key="r", Range=spec)

    g = rng("bytes=100-199")
    assert g["Body"].read() == body[100:200]
    assert g["ContentRange"] == "bytes 100-199/%d" % len(body)
    assert rng("bytes=-10")["Body"].read() == body[-10:]
    assert rng("bytes=1048000-")["Body"].read() == body[1048000:]
    assert rng("bytes=1048000-99999999")["Body"].read() == body[1048000:]
    assert code_of(rng, "bytes=2000000-") == "InvalidRange"
    assert s3.get_object(Bucket="bk-range", Key="r", IfMatch=etag)["Body"].read() == body
    assert code_of(s3.get_object, Bucket="bk-range", Key="r",
                   IfMatch='"0123"') == "PreconditionFailed"
    assert code_of(s3.get_object, Bucket="bk-range", Key="r", IfNoneMatch=etag) == "304"
    future = "Fri, 01 Jan 2100 00:00:00 GMT"
    past = "Thu, 01 Jan 1970 00:00:01 GMT"
    assert code_of(s3.get_object, Bucket="bk-range", Key="r", IfModifiedSince=future) == "304"
    assert s3.get_object(Bucket="bk-range", Key="r", IfModifiedSince=past)["ContentLength"]
    assert code_of(s3.get_object, Bucket="bk-range", Key="r",
                   IfUnmodifiedSince=past) == "PreconditionFailed"


def md5_of(data):
    return hashlib.md5(data).digest()


def test_multipart_upload(s3):
    s3.create_bucket(Bucket="bk-mpu")
    part = 8 << 20
    data = os.urandom(1 << 20) * BIG_MIB  # BIG_MIB MiB, cheap to make
    cfg = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=4)
    s3.upload_fileobj(io.BytesIO(data), "bk-mpu", "big/object.bin", Config=cfg)
    n = (len(data) + part - 1) // part
    want = hashlib.md5(b"".join(md5_of(data[i:i + part])
                                for i in range(0, len(data), part))).hexdigest()
    h = s3.head_object(Bucket="bk-mpu", Key="big/object.bin")
    assert h["ETag"] == '"%s-%d"' % (want, n)
    assert h["ContentLength"] == len(data)
    got = hashlib.sha256()
    stream = s3.get_object(Bucket="bk-mpu", Key="big/object.bin")["Body"]
    for piece in iter(lambda: stream.read(4 << 20), b""):
        got.update(piece)
    assert got.digest() == hashlib.sha256(data).digest()
    mid = s3.get_object(Bucket="bk-mpu", Key="big/object.bin",
                        Range="bytes=%d-%d" % (part - 5, part + 4))["Body"].read()
    assert mid == data[part - 5:part + 5]

    # The low-level calls: parts listed, uploads listed, bad lists refused, abort.
    up = s3.create_multipart_upload(Bucket="bk-mpu", Key="m", ContentType="text/csv")["UploadId"]
    p1 = s3.upload_part(Bucket="bk-mpu", Key="m", UploadId=up, PartNumber=1,
                        Body=b"a" * (5 << 20))["ETag"]
    p2 = s3.upload_part(Bucket="bk-mpu", Key="m", UploadId=up, PartNumber=2, Body=b"tail")["ETag"]
    parts = s3.list_parts(Bucket="bk-mpu", Key="m", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [
        (1, p1, 5 << 20), (2, p2, 4)]
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket="bk-mpu")["Uploads"]] == ["m"]
    assert code_of(s3.complete_multipart_upload, Bucket="bk-mpu", Key="m", UploadId=up,
                   MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": p2},
                                              {"PartNumber": 1, "ETag": p1}]}) == "InvalidPartOrder"
    assert code_of(s3.complete_multipart_upload, Bucket="bk-mpu", Key="m", UploadId=up,
                   MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p2}]}) == "InvalidPart"
    assert code_of(s3.complete_multipart_upload, Bucket="bk-mpu", Key="m", UploadId=up,
                   MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": p2},
                                              {"PartNumber": 3, "ETag": p2}]}) == "EntityTooSmall"
    assert code_of(s3.head_object, Bucket="bk-mpu", Key="m") == "404"
    r = s3.complete_multipart_upload(Bucket="bk-mpu", Key="m", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]})
    mm = hashlib.md5(md5_of(b"a" * (5 << 20)) + md5_of(b"tail")).hexdigest()
    assert r["ETag"] == '"%s-2"' % mm
    g = s3.get_object(Bucket="bk-mpu", Key="m")
    assert g["ContentType"] == "text/csv" and g["ContentLength"] == (5 << 20) + 4
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="bk-mpu")
    assert code_of(s3.list_parts, Bucket="bk-mpu", Key="m", UploadId=up) == "NoSuchUpload"

    up = s3.create_multipart_upload(Bucket="bk-mpu", Key="gone")["UploadId"]
    s3.upload_part(Bucket="bk-mpu", Key="gone", UploadId=up, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket="bk-mpu", Key="gone", UploadId=up)
    assert code_of(s3.upload_part, Bucket="bk-mpu", Key="gone", UploadId=up, PartNumber=2,
                   Body=b"y") == "NoSuchUpload"
    assert code_of(s3.head_object, Bucket="bk-mpu", Key="gone") == "404"


def test_listing_prefix_delimiter_pagination(s3):
    s3.create_bucket(Bucket="bk-list")
    keys = ["k/%04d" % i for i in range(1000)] + ["k/sub%d/x" % i for i in range(20)]
    keys += ["k-dash", "k.dot", "top", "k/sub3/y/z"]

    def put(k):
        s3.put_object(Bucket="bk-list", Key=k, Body=k.encode())

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, keys))
    want = sorted(keys)

    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket="bk-list", PaginationConfig={"PageSize": 300})
    got, npages = [], 0
    for page in pages:
        npages += 1
        got += [o["Key"] for o in page.get("Contents", [])]
    assert got == want and npages == 4

    subs = sorted("k/sub%d/" % i for i in range(20))
    r = s3.list_objects_v2(Bucket="bk-list", Prefix="k/", Delimiter="/")
    assert len(r["Contents"]) == 1000 and r["IsTruncated"] and "CommonPrefixes" not in r
    r = s3.list_objects_v2(Bucket="bk-list", Prefix="k/", Delimiter="/",
                           ContinuationToken=r["NextContinuationToken"])
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == subs and not r["IsTruncated"]
    r = s3.list_objects_v2(Bucket="bk-list", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["k-dash", "k.dot", "top"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["k/"]
    r = s3.list_objects_v2(Bucket="bk-list", Prefix="k/sub3/")
    assert [o["Key"] for o in r["Contents"]] == ["k/sub3/x", "k/sub3/y/z"]
    r = s3.list_objects_v2(Bucket="bk-list", StartAfter="k/0997", MaxKeys=4)
    assert [o["Key"] for o in r["Contents"]] == ["k/0998", "k/0999", "k/sub0/x", "k/sub1/x"]
    assert r["Contents"][0]["Size"] == 6 and r["Contents"][0]["ETag"].startswith('"')
    # A page that ends on a common prefix resumes after all of it.
    got = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket="bk-list", Prefix="k/sub", Delimiter="/", PaginationConfig={"PageSize": 7}):
        got += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert got == subs
    # ListObjects V1 with markers.
    got = []
    for page in s3.get_paginator("list_objects").paginate(
            Bucket="bk-list", PaginationConfig={"PageSize": 500}):
        got += [o["Key"] for o in page.get("Contents", [])]
    assert got == want
    assert code_of(s3.list_objects_v2, Bucket="bk-list", ContinuationToken="zz") == \
        "InvalidArgument"


def test_copy_delete_and_multi_delete(s3):
    s3.create_bucket(Bucket="bk-copy")
    s3.create_bucket(Bucket="bk-copy2")
    s3.put_object(Bucket="bk-copy", Key="src/a", Body=b"payload", ContentType="text/x-a",
                  Metadata={"m": "1"})
    r = s3.copy_object(Bucket="bk-copy2", Key="dst/b", CopySource={"Bucket": "bk-copy",
                                                                  "Key": "src/a"})
    assert r["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"payload").hexdigest()
    g = s3.get_object(Bucket="bk-copy2", Key="dst/b")
    assert g["Body"].read() == b"payload" and g["ContentType"] == "text/x-a"
    assert g["Metadata"] == {"m": "1"}
    s3.copy_object(Bucket="bk-copy", Key="c", CopySource="bk-copy/src/a",
                   MetadataDirective="REPLACE", ContentType="text/y", Metadata={"z": "2"})
    h = s3.head_object(Bucket="bk-copy", Key="c")
    assert h["ContentType"] == "text/y" and h["Metadata"] == {"z": "2"}
    assert code_of(s3.copy_object, Bucket="bk-copy", Key="d",
                   CopySource="bk-copy/nope") == "NoSuchKey"
    assert code_of(s3.copy_object, Bucket="bk-copy", Key="d",
                   CopySource="../etc/passwd") == "InvalidArgument"

    s3.delete_object(Bucket="bk-copy2", Key="dst/b")
    s3.delete_object(Bucket="bk-copy2", Key="dst/b")  # deleting nothing succeeds, as in S3
    assert "Contents" not in s3.list_objects_v2(Bucket="bk-copy2")
    # The emptied directory went too: no phantom common prefix.
    assert "CommonPrefixes" not in s3.list_objects_v2(Bucket="bk-copy2", Delimiter="/")

    for i in range(5):
        s3.put_object(Bucket="bk-copy", Key="many/%d" % i, Body=b"x")
    r = s3.delete_objects(Bucket="bk-copy", Delete={"Objects": [
        {"Key": "many/%d" % i} for i in range(5)] + [{"Key": "never-was"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["many/%d" % i for i in range(5)] + [
        "never-was"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="bk-copy")["Contents"]] == ["c", "src/a"]


def test_keys_that_are_not_plain_paths(s3, env):
    cluster = env[0]
    s3.create_bucket(Bucket="bk-odd")
    odd = ["a//b", "./dot", "../up", "folder/", "100%", "%25", "%", "sp ace+plus&amp",
           "ünï/cödé", "x/./y", "/lead"]
    for k in odd:
        s3.put_object(Bucket="bk-odd", Key=k, Body=k.encode())
    for k in odd:
        assert s3.get_object(Bucket="bk-odd", Key=k)["Body"].read() == k.encode(), k
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="bk-odd")["Contents"]]
    assert listed == sorted(odd, key=lambda k: k.encode())
    # The escaping is visible to cairn users, and documented.
    names = cluster.cli("ls", "/s3/bk-odd")
    assert "%2E%2E" in names and "%25" in names
    # A key cannot be an object and a directory at once.
    s3.put_object(Bucket="bk-odd", Key="p/q", Body=b"1")
    assert code_of(s3.put_object, Bucket="bk-odd", Key="p/q/r", Body=b"2") == "KeyConflict"
    assert code_of(s3.put_object, Bucket="bk-odd", Key="p", Body=b"3") == "KeyConflict"
    assert s3.get_object(Bucket="bk-odd", Key="p/q")["Body"].read() == b"1"
    assert code_of(s3.put_object, Bucket="bk-odd", Key="k" * 1025, Body=b"") == "KeyTooLongError"


def test_signatures(s3, gw):
    s3.create_bucket(Bucket="bk-auth")
    s3.put_object(Bucket="bk-auth", Key="secret.txt", Body=b"top secret")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "bk-auth",
                                                          "Key": "secret.txt"}, ExpiresIn=300)
    status, _, body = curl(url)
    assert status == 200 and body == b"top secret"
    status, _, body = curl(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    status, _, body = curl(url.replace("secret.txt", "other.txt"))
    assert status == 403 and b"SignatureDoesNotMatch" in body
    old = s3.generate_presigned_url("get_object", Params={"Bucket": "bk-auth",
                                                          "Key": "secret.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    status, _, body = curl(old)
    assert status == 403 and b"expired" in body
    assert code_of(gw.client(secret="wrong").list_buckets) == "SignatureDoesNotMatch"
    assert code_of(gw.client(key_id="AKNOBODY").list_buckets) == "InvalidAccessKeyId"
    assert code_of(gw.client(secret="wrong").put_object, Bucket="bk-auth", Key="w",
                   Body=b"x") == "SignatureDoesNotMatch"
    assert code_of(s3.head_object, Bucket="bk-auth", Key="w") == "404"
    status, _, body = curl(gw.url + "/bk-auth/secret.txt")
    assert status == 403 and b"AccessDenied" in body


def test_public_bucket_with_curl(s3, gw):
    s3.create_bucket(Bucket="pub")
    body = bytes(range(100))
    s3.put_object(Bucket="pub", Key="img/logo.png", Body=body, ContentType="image/png",
                  CacheControl="public, max-age=3600")
    url = gw.url + "/pub/img/logo.png"
    status, h, got = curl(url)
    assert status == 200 and got == body
    assert h["content-type"] == "image/png" and h["cache-control"] == "public, max-age=3600"
    status, h, got = curl("-H", "Range: bytes=10-19", url)
    assert status == 206 and got == body[10:20] and h["content-range"] == "bytes 10-19/100"
    status, h2, got = curl("-H", "If-None-Match: " + h["etag"], url)
    assert status == 304 and got == b""
    status, _, got = curl("-H", "If-Modified-Since: " + h["last-modified"], url)
    assert status == 304
    status, _, _ = curl("-I", url)
    assert status == 200
    status, _, got = curl(gw.url + "/pub/img/none")
    assert status == 404 and b"NoSuchKey" in got
    status, _, got = curl("-X", "PUT", "--data-binary", "x", url)
    assert status == 403 and b"AccessDenied" in got
    status, _, got = curl("-X", "DELETE", url)
    assert status == 403
    assert s3.get_object(Bucket="pub", Key="img/logo.png")["Body"].read() == body


def test_bad_requests(gw):
    def raw(data):
        with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as s:
            s.sendall(data)
            out = b""
            while True:
                got = s.recv(65536)
                if not got:
                    return out
                out += got

    assert raw(b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(b"GET / HTTP/1.1\r\nX: " + b"a" * 40000 + b"\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(b"PATCH /bk-x HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 405")
    # Bucket names that are not S3's cannot reach paths outside --root.
    for path in (b"/%2E%2E/x", b"/..%2Fs3/x", b"/Bk/x", b"/a%2Fb/c"):
        reply = raw(b"GET " + path + b" HTTP/1.0\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 404") and b"NoSuchBucket" in reply, path
    # Signature Version 2 is refused as not implemented, never served unsigned.
    reply = raw(b"GET /bk-x/k HTTP/1.0\r\nAuthorization: AWS AKID:c2lnbmF0dXJl\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 501") and b"NotImplemented" in reply
    assert gw.proc.poll() is None


def test_unsupported_operation_is_refused(s3):
    s3.create_bucket(Bucket="bk-upc")
    s3.put_object(Bucket="bk-upc", Key="src", Body=b"x" * 100)
    up = s3.create_multipart_upload(Bucket="bk-upc", Key="dst")["UploadId"]
    assert code_of(s3.upload_part_copy, Bucket="bk-upc", Key="dst", UploadId=up, PartNumber=1,
                   CopySource={"Bucket": "bk-upc", "Key": "src"}) == "NotImplemented"
    s3.abort_multipart_upload(Bucket="bk-upc", Key="dst", UploadId=up)
    assert s3.get_object(Bucket="bk-upc", Key="src")["Body"].read() == b"x" * 100


def test_gateway_killed_mid_upload_leaves_no_object(env, s3):
    cluster, gw = env
    s3.create_bucket(Bucket="bk-kill")
    s3.put_object(Bucket="bk-kill", Key="obj", Body=b"old")
    # A second gateway on the same cluster: gateways are stateless.
    other = Gateway(cluster.tmp, cluster.meta.addr, name="s3-other").start()
    try:
        c2 = other.client()
        assert c2.get_object(Bucket="bk-kill", Key="obj")["Body"].read() == b"old"
        # A presigned PUT (UNSIGNED-PAYLOAD) sent by hand: the gateway accepts it and
        # streams the body into cairn; it dies 8 MiB into 64 MiB.
        url = c2.generate_presigned_url("put_object", Params={"Bucket": "bk-kill",
                                                              "Key": "obj"}, ExpiresIn=300)
        target = url[len(other.url):]
        sock = socket.create_connection(("127.0.0.1", other.port), timeout=30)
        sock.sendall(("PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n\r\n"
                      % (target, other.port, 64 << 20)).encode())
        for _ in range(8):
            sock.sendall(b"z" * (1 << 20))
        wait_for_tmp(cluster, "/s3/bk-kill")
        other.kill()
        sock.close()
    finally:
        other.kill()
    assert s3.get_object(Bucket="bk-kill", Key="obj")["Body"].read() == b"old"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="bk-kill")["Contents"]] == ["obj"]


def wait_for_tmp(cluster, bucket_dir, seconds=30.0):
    """Waits until an upload's temporary file exists (its data is on the way)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = cluster.cli.run("ls", bucket_dir + "/%.tmp", check=False)
        if r.returncode == 0 and r.stdout.strip():
            return
        time.sleep(0.05)
    raise AssertionError("no upload in progress under " + bucket_dir)


def test_s3cmd_round_trip(gw, tmp_path):
    if not shutil.which("s3cmd"):
        pytest.skip("s3cmd is not installed")
    cfg = tmp_path / "s3cfg"
    host = "127.0.0.1:%d" % gw.port
    cfg.write_text("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\n"
                   "host_bucket = %s\nuse_https = False\nsignature_v2 = False\n"
                   % (KEY_ID, SECRET, host, host))
    data = os.urandom(300000)
    (tmp_path / "f").write_bytes(data)

    def run(*args):
        r = subprocess.run(["s3cmd", "-c", str(cfg)] + list(args), capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    run("mb", "s3://bk-s3cmd")
    run("put", str(tmp_path / "f"), "s3://bk-s3cmd/dir/f")
    assert "s3://bk-s3cmd/dir/f" in run("ls", "-r", "s3://bk-s3cmd")
    run("get", "--force", "s3://bk-s3cmd/dir/f", str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == data
    run("del", "s3://bk-s3cmd/dir/f")
    run("rb", "s3://bk-s3cmd")


def test_rclone_round_trip(gw, tmp_path):
    if not shutil.which("rclone"):
        pytest.skip("rclone is not installed")
    conf = tmp_path / "rclone.conf"
    conf.write_text("[cs]\ntype = s3\nprovider = Other\naccess_key_id = %s\n"
                    "secret_access_key = %s\nendpoint = %s\nregion = us-east-1\n"
                    % (KEY_ID, SECRET, gw.url))
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(200000))
    (src / "sub").mkdir()
    (src / "sub" / "b.txt").write_bytes(b"bee\n")
    envv = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}

    def run(*args):
        r = subprocess.run(["rclone", "--config", str(conf)] + list(args), capture_output=True,
                           text=True, timeout=60, env=envv)
        assert r.returncode == 0, r.stderr
        return r.stdout

    run("mkdir", "cs:bk-rclone")
    run("copy", str(src), "cs:bk-rclone/d")
    assert sorted(run("lsf", "-R", "cs:bk-rclone/d").split()) == ["a.bin", "sub/", "sub/b.txt"]
    run("check", str(src), "cs:bk-rclone/d")  # sizes and MD5s (the ETags) agree
    run("copy", "cs:bk-rclone/d", str(tmp_path / "back"))
    assert (tmp_path / "back" / "a.bin").read_bytes() == (src / "a.bin").read_bytes()
    run("purge", "cs:bk-rclone")


def test_awscli_round_trip(gw, tmp_path):
    aws = "/usr/bin/aws" if os.path.exists("/usr/bin/aws") else shutil.which("aws")
    if not aws:
        pytest.skip("awscli is not installed")
    envv = dict(os.environ, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
                AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"))
    envv.pop("AWS_CA_BUNDLE", None)
    data = os.urandom(100000)
    (tmp_path / "f").write_bytes(data)

    def run(*args):
        r = subprocess.run([aws, "--endpoint-url", gw.url] + list(args), capture_output=True,
                           text=True, timeout=60, env=envv)
        assert r.returncode == 0, r.stderr
        return r.stdout

    run("s3", "mb", "s3://bk-aws")
    run("s3", "cp", str(tmp_path / "f"), "s3://bk-aws/x/f", "--only-show-errors")
    run("s3", "cp", "s3://bk-aws/x/f", str(tmp_path / "g"), "--only-show-errors")
    assert (tmp_path / "g").read_bytes() == data


def test_unsigned_aws_chunked_body(s3, gw):
    """Newer SDKs frame bodies as aws-chunked with a checksum trailer."""
    s3.create_bucket(Bucket="bk-chunked")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "bk-chunked", "Key": "c"},
                                    ExpiresIn=300)
    framed = (b"5;chunk-ext=1\r\nhello\r\n6\r\n, aws!\r\n0\r\n"
              b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n")
    with socket.create_connection(("127.0.0.1", gw.port), timeout=20) as sock:
        sock.sendall(("PUT %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n"
                      "Content-Encoding: aws-chunked\r\nX-Amz-Decoded-Content-Length: 11\r\n"
                      "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n"
                      "Connection: close\r\n\r\n" % (url[len(gw.url):], gw.port, len(framed))
                      ).encode() + framed)
        reply = sock.makefile("rb").read()
    assert reply.startswith(b"HTTP/1.1 200"), reply
    g = s3.get_object(Bucket="bk-chunked", Key="c")
    assert g["Body"].read() == b"hello, aws!" and "ContentEncoding" not in g


def test_tls(env, tmp_path):
    cluster = env[0]
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    tls = Gateway(tmp_path, cluster.meta.addr, name="s3-tls")
    tls.argv += ["--tls-cert", str(cert), "--tls-key", str(key)]
    tls.url = tls.url.replace("http:", "https:")
    tls.start()
    try:
        c = boto3.client("s3", endpoint_url=tls.url, aws_access_key_id=KEY_ID,
                         aws_secret_access_key=SECRET, region_name="us-east-1",
                         verify=str(cert), config=Config(signature_version="s3v4"))
        c.create_bucket(Bucket="bk-tls")
        c.put_object(Bucket="bk-tls", Key="k", Body=b"over tls")
        assert c.get_object(Bucket="bk-tls", Key="k")["Body"].read() == b"over tls"
        status, _, _ = curl("--cacert", str(cert), tls.url + "/bk-tls/k")
        assert status == 403  # anonymous, over TLS as well
        r = subprocess.run(["curl", "-s", "--max-time", "10", "http" + tls.url[5:] + "/"],
                           capture_output=True)
        assert r.returncode != 0 or not r.stdout.startswith(b"HTTP/1.1 200")
    finally:
        tls.kill()


def test_flags_and_clean_stop(env, tmp_path):
    cluster = env[0]
    s3bin = os.path.join(BIN, "cairn-s3")
    r = subprocess.run([s3bin, "--listen", "nowhere"], capture_output=True, text=True)
    assert r.returncode == 2 and "--listen" in r.stderr
    r = subprocess.run([s3bin, "--keys", str(tmp_path / "missing")], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "keys file" in r.stderr
    (tmp_path / "badkeys").write_text("only-one-field\n")
    r = subprocess.run([s3bin, "--keys", str(tmp_path / "badkeys")], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "badkeys:1" in r.stderr
    r = subprocess.run([s3bin, "--listen", "0.0.0.0:%d" % free_port()], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "give --keys" in r.stderr
    g = Gateway(tmp_path, cluster.meta.addr, name="s3-stop").start()
    assert g.stop() == 0


def test_idle_connection_yields_its_worker(env, tmp_path):
    """With every worker held by idle keep-alive clients, a new client is still served."""
    g = Gateway(tmp_path, env[0].meta.addr, name="s3-one")
    g.argv += ["--workers", "1", "--idle", "60s"]
    g.start()
    try:
        idle = socket.create_connection(("127.0.0.1", g.port), timeout=10)
        idle.sendall(b"GET /pub HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(65536).startswith(b"HTTP/1.1 ")  # served, then kept open
        with socket.create_connection(("127.0.0.1", g.port), timeout=10) as other:
            other.sendall(b"GET /pub HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert other.recv(65536).startswith(b"HTTP/1.1 ")
        idle.close()
    finally:
        g.kill()

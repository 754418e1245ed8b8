"""The boto3 client scenario, run in-process (Debian boto3) and as a child
under a pyenv python (newer boto3: trailing checksums by default).

As a child:  PYENV_PY t/lib/scenario_boto3.py   with the environment
    SCN_ENDPOINT SCN_AK SCN_SK SCN_BUCKET SCN_PREFIX SCN_STYLE SCN_BIG
It prints TAP through tap.py; the parent relays each result.

The scenario works under SCN_PREFIX (e.g. "debian-path/") and leaves the
objects listed in SPECIAL_KEYS in place so the parent can check, straight
on RGW, that they were stored under exactly those names.
"""

import hashlib
import io
import os
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clients  # noqa: E402
import tap      # noqa: E402

SPECIAL_KEYS = [
    "with space/file name.txt",
    "unicode/\u00e9t\u00e9-\u043a\u043b\u044e\u0447-\u6587\u4ef6.txt",
    "plus+sign+c++.txt",
    "percent%20literal%.txt",
    "equals=a=b.txt",
    "tilde~home.txt",
    "double//slash//key.txt",
]

MiB = 1024 * 1024


def _http(method, url, port, body=None):
    url, host = clients.virtual_host_url(url, port)
    req = urllib.request.Request(url, data=body, method=method)
    if host:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _code(fn):
    try:
        fn()
        return None
    except Exception as e:
        return clients.error_code(e)


def run(endpoint, ak, sk, bucket, prefix, style, big=False, label=""):
    from boto3.s3.transfer import TransferConfig
    port = int(endpoint.rsplit(":", 1)[1].split("/")[0])
    s3 = clients.boto3_client(endpoint, ak, sk, style=style)
    L = (label + ": ") if label else ""
    P = prefix

    # put / get / head
    body = b"hello objspace\n" * 100
    r = s3.put_object(Bucket=bucket, Key=P + "small.txt", Body=body,
                      ContentType="text/plain")
    tap.ok(r["ResponseMetadata"]["HTTPStatusCode"] == 200, L + "put_object")
    got = s3.get_object(Bucket=bucket, Key=P + "small.txt")
    tap.is_(got["Body"].read(), body, L + "get_object returns the bytes")
    h = s3.head_object(Bucket=bucket, Key=P + "small.txt")
    tap.is_(h["ContentLength"], len(body), L + "head_object ContentLength")
    tap.is_(h.get("ContentType"), "text/plain", L + "  and Content-Type")
    rg = s3.get_object(Bucket=bucket, Key=P + "small.txt", Range="bytes=6-13")
    tap.is_(rg["Body"].read(), body[6:14], L + "range get bytes=6-13")
    tap.is_(rg["ResponseMetadata"]["HTTPStatusCode"], 206, L + "  is a 206")

    # sizes
    s3.put_object(Bucket=bucket, Key=P + "empty", Body=b"")
    tap.is_(s3.get_object(Bucket=bucket, Key=P + "empty")["Body"].read(),
            b"", L + "0-byte object round-trips")
    one = os.urandom(MiB)
    s3.put_object(Bucket=bucket, Key=P + "one-mib", Body=one)
    tap.ok(s3.get_object(Bucket=bucket, Key=P + "one-mib")["Body"].read()
           == one, L + "1 MiB object round-trips")
    if big:
        data = os.urandom(100 * MiB)
        want = hashlib.sha256(data).hexdigest()
        cfg = TransferConfig(multipart_threshold=8 * MiB,
                             multipart_chunksize=16 * MiB, max_concurrency=4)
        s3.upload_fileobj(io.BytesIO(data), bucket, P + "hundred-mib",
                          Config=cfg)
        del data
        out = io.BytesIO()
        s3.download_fileobj(bucket, P + "hundred-mib", out, Config=cfg)
        tap.is_(hashlib.sha256(out.getvalue()).hexdigest(), want,
                L + "100 MiB object (multipart transfer) round-trips")
        out = None
        s3.put_object(Bucket=bucket, Key=P + "hundred-single",
                      Body=os.urandom(100 * MiB))
        h = s3.head_object(Bucket=bucket, Key=P + "hundred-single")
        tap.is_(h["ContentLength"], 100 * MiB,
                L + "100 MiB single put_object stored whole")
        s3.delete_object(Bucket=bucket, Key=P + "hundred-single")
        s3.delete_object(Bucket=bucket, Key=P + "hundred-mib")

    # special keys
    for k in SPECIAL_KEYS:
        s3.put_object(Bucket=bucket, Key=P + k, Body=k.encode())
        g = s3.get_object(Bucket=bucket, Key=P + k)["Body"].read()
        tap.is_(g, k.encode(), L + "key %r put+get" % k)

    # listings
    v2 = s3.list_objects_v2(Bucket=bucket, Prefix=P)
    names = sorted(o["Key"] for o in v2.get("Contents", []))
    tap.ok(all(P + k in names for k in SPECIAL_KEYS),
           L + "list_objects_v2 shows every special key")
    v2d = s3.list_objects_v2(Bucket=bucket, Prefix=P, Delimiter="/")
    cps = sorted(c["Prefix"] for c in v2d.get("CommonPrefixes", []))
    tap.ok(P + "with space/" in cps and P + "unicode/" in cps,
           L + "list v2 with delimiter: common prefixes")
    v1 = s3.list_objects(Bucket=bucket, Prefix=P, MaxKeys=2)
    tap.ok(len(v1.get("Contents", [])) == 2 and v1.get("IsTruncated"),
           L + "list_objects v1 max-keys=2 truncates")
    pag = s3.get_paginator("list_objects_v2")
    n = sum(len(p.get("Contents", [])) for p in pag.paginate(
        Bucket=bucket, Prefix=P, PaginationConfig={"PageSize": 3}))
    tap.is_(n, len(names), L + "list v2 pagination (continuation tokens)")
    v1m = s3.list_objects(Bucket=bucket, Prefix=P, Marker=P + "one-mib")
    tap.ok(all(o["Key"] > P + "one-mib" for o in v1m.get("Contents", [])),
           L + "list v1 with marker")

    # copy, delete
    s3.copy_object(Bucket=bucket, Key=P + "copy.txt",
                   CopySource={"Bucket": bucket, "Key": P + "small.txt"})
    tap.is_(s3.get_object(Bucket=bucket, Key=P + "copy.txt")["Body"].read(),
            body, L + "copy_object")
    s3.delete_object(Bucket=bucket, Key=P + "copy.txt")
    tap.is_(_code(lambda: s3.get_object(Bucket=bucket, Key=P + "copy.txt")),
            "NoSuchKey", L + "delete_object, then get: NoSuchKey")
    s3.put_object(Bucket=bucket, Key=P + "m1", Body=b"1")
    s3.put_object(Bucket=bucket, Key=P + "m2", Body=b"2")
    d = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": P + "m1"}, {"Key": P + "m2"}]})
    tap.is_(len(d.get("Deleted", [])), 2, L + "delete_objects (multi)")

    # multipart, explicit
    mp = s3.create_multipart_upload(Bucket=bucket, Key=P + "mp.bin")
    uid = mp["UploadId"]
    p1 = os.urandom(5 * MiB)
    p2 = os.urandom(1024)
    e1 = s3.upload_part(Bucket=bucket, Key=P + "mp.bin", UploadId=uid,
                        PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=P + "mp.bin", UploadId=uid,
                        PartNumber=2, Body=p2)["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key=P + "mp.bin", UploadId=uid)
    tap.is_(len(parts.get("Parts", [])), 2, L + "list_parts")
    ups = s3.list_multipart_uploads(Bucket=bucket, Prefix=P)
    tap.ok(any(u["UploadId"] == uid for u in ups.get("Uploads", [])),
           L + "list_multipart_uploads")
    s3.complete_multipart_upload(
        Bucket=bucket, Key=P + "mp.bin", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                   {"PartNumber": 2, "ETag": e2}]})
    tap.ok(s3.get_object(Bucket=bucket, Key=P + "mp.bin")["Body"].read()
           == p1 + p2, L + "multipart upload completes")
    mp = s3.create_multipart_upload(Bucket=bucket, Key=P + "aborted.bin")
    s3.upload_part(Bucket=bucket, Key=P + "aborted.bin",
                   UploadId=mp["UploadId"], PartNumber=1, Body=b"x" * 1024)
    s3.abort_multipart_upload(Bucket=bucket, Key=P + "aborted.bin",
                              UploadId=mp["UploadId"])
    ups = s3.list_multipart_uploads(Bucket=bucket, Prefix=P)
    tap.ok(not any(u["UploadId"] == mp["UploadId"]
                   for u in ups.get("Uploads", [])),
           L + "abort_multipart_upload")
    tap.is_(_code(lambda: s3.head_object(Bucket=bucket,
                                         Key=P + "aborted.bin")),
            "404", L + "  nothing stored for the aborted upload")
    s3.delete_object(Bucket=bucket, Key=P + "mp.bin")

    # presigned
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": P + "small.txt"}, ExpiresIn=300)
    st, data = _http("GET", url, port)
    tap.ok(st == 200 and data == body, L + "presigned GET (urllib)")
    special = P + SPECIAL_KEYS[1]
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": special}, ExpiresIn=300)
    st, data = _http("GET", url, port)
    tap.ok(st == 200 and data == SPECIAL_KEYS[1].encode(),
           L + "presigned GET of a unicode key")
    url = s3.generate_presigned_url("put_object", Params={
        "Bucket": bucket, "Key": P + "presigned-put.txt"}, ExpiresIn=300)
    st, data = _http("PUT", url, port, body=b"via presigned put")
    tap.is_(st, 200, L + "presigned PUT (urllib)")
    tap.is_(s3.get_object(Bucket=bucket, Key=P + "presigned-put.txt")
            ["Body"].read(), b"via presigned put", L + "  stored")
    s3.delete_object(Bucket=bucket, Key=P + "presigned-put.txt")


def _child():
    e = os.environ
    try:
        run(e["SCN_ENDPOINT"], e["SCN_AK"], e["SCN_SK"], e["SCN_BUCKET"],
            e["SCN_PREFIX"], e["SCN_STYLE"], big=e.get("SCN_BIG") == "1")
    except Exception as ex:
        import traceback
        tap.fail("scenario finished", traceback.format_exc())
    tap.done_testing()


if __name__ == "__main__":
    _child()

#!/usr/bin/python3
# Usage is what is stored (issue 5): overwrite one key 50 times, delete half
# of the objects (DeleteObject and DeleteObjects), a completed and an
# aborted multipart upload, a copy, aws-chunked uploads: the gateway's
# usage in Redis equals what RGW itself reports (admin API bucket stats),
# and no reservation is left behind.

import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients  # noqa: E402
import stack    # noqa: E402
import tap      # noqa: E402

MiB = 1024 * 1024

st = stack.Stack()
if not stack.start_or_fail(
        st, extra_http="objspace_metrics_zone metrics:1m;",
        extra_server="location = /metrics { objspace_metrics; }"):
    sys.exit(1)

sp = st.seed_space(quota_bytes=200 * MiB)
key = st.seed_key(sp, "read-write-delete")
c = st.boto3_client(key["ak"], key["sk"])
bucket = sp["bucket"]
r = st.seeder.r
rnd = random.Random(5)


def rgw_stats(bucket=bucket):
    s = st.seeder.rgw.admin("GET", "bucket", {"bucket": bucket,
                                              "stats": "true",
                                              "format": "json"})
    main = s.get("usage", {}).get("rgw.main", {})
    return main.get("size", 0), main.get("num_objects", 0)


def usage(space=sp):
    u = r.hgetall("objspace:usage:" + space["id"])
    return int(u.get("bytes", 0)), int(u.get("objects", 0))


def same(name, space=sp):
    # the usage update is sent right after the response: allow it to land
    deadline = time.time() + 5
    while True:
        got, want = usage(space), rgw_stats(space["bucket"])
        if got == want or time.time() > deadline:
            break
        time.sleep(0.05)
    tap.is_(got, want, name + ": usage (bytes, objects) == RGW bucket stats")


# 50 overwrites of one key, with different sizes
for i in range(50):
    c.put_object(Bucket=bucket, Key="over/write",
                 Body=os.urandom(rnd.randrange(1, 200000)))
same("50 overwrites of one key")

# 20 objects, then half of them deleted: 5 by DeleteObject, 5 in one
# DeleteObjects
for i in range(20):
    c.put_object(Bucket=bucket, Key="many/%02d" % i,
                 Body=os.urandom(rnd.randrange(1000, 300000)))
same("20 more objects")
for i in range(5):
    c.delete_object(Bucket=bucket, Key="many/%02d" % i)
c.delete_objects(Bucket=bucket, Delete={"Objects": [
    {"Key": "many/%02d" % i} for i in range(5, 10)]})
tap.is_(len(st.rgw_keys(sp, "many/")), 10, "10 of the 20 left in RGW")
same("half of them deleted")

# a delete of a key that does not exist changes nothing
c.delete_object(Bucket=bucket, Key="many/none")
same("delete of a missing key")

# multipart: one completed, one aborted.  (A part uploaded twice is
# counted once by the gateway; RGW's bucket stats keep counting the
# replaced part's data, so that case is left to the reconcile.)
mp = c.create_multipart_upload(Bucket=bucket, Key="mp/done")
parts = []
for n, size in ((1, 5 * MiB), (2, 5 * MiB + 7), (3, 123457)):
    body = os.urandom(size)
    e = c.upload_part(Bucket=bucket, Key="mp/done", UploadId=mp["UploadId"],
                      PartNumber=n, Body=body)
    parts.append({"PartNumber": n, "ETag": e["ETag"]})
c.complete_multipart_upload(Bucket=bucket, Key="mp/done",
                            UploadId=mp["UploadId"],
                            MultipartUpload={"Parts": parts})
same("completed multipart upload")
tap.is_(r.exists("objspace:mpu:%s:%s" % (sp["id"], mp["UploadId"])), 0,
        "the upload's part sizes are gone after completion")

mp = c.create_multipart_upload(Bucket=bucket, Key="mp/aborted")
for n in (1, 2):
    c.upload_part(Bucket=bucket, Key="mp/aborted", UploadId=mp["UploadId"],
                  PartNumber=n, Body=os.urandom(5 * MiB))
time.sleep(0.5)
tap.is_(usage()[0], rgw_stats()[0],
        "parts of an open upload count as used bytes, as RGW counts them")
tap.is_(usage()[1], rgw_stats()[1] - 2,
        "... but not as objects (RGW counts each open part as an object)")
c.abort_multipart_upload(Bucket=bucket, Key="mp/aborted",
                         UploadId=mp["UploadId"])
tap.is_(st.rgw_uploads(sp), [], "no upload left open in RGW")
same("aborted multipart upload")

# a copy inside the space (source size from the size index)
c.copy_object(Bucket=bucket, Key="copy/of-done",
              CopySource={"Bucket": bucket, "Key": "mp/done"})
same("CopyObject")

# overwrite the multipart object with a small one, delete the copy
c.put_object(Bucket=bucket, Key="mp/done", Body=b"small")
c.delete_object(Bucket=bucket, Key="copy/of-done")
same("overwrite of a multipart object, delete of a copy")

# an upload refused by the quota is not counted
r.hset("objspace:space:" + sp["id"], "quota_bytes", str(usage()[0] + 10))
st.seeder.publish("space:" + sp["id"])
time.sleep(0.3)
try:
    c.put_object(Bucket=bucket, Key="refused", Body=b"x" * 100)
    tap.fail("an upload over the (lowered) quota is refused")
except Exception as e:
    tap.is_(clients.error_code(e), "QuotaExceeded",
            "an upload over the (lowered) quota is refused")
same("a refused upload")

u = r.hgetall("objspace:usage:" + sp["id"])
tap.is_(int(u.get("reserved", 0)), 0, "nothing left reserved")
tap.is_(r.hlen("objspace:resvsz:" + sp["id"]), 0, "no reservation left")
fields = r.hkeys("objspace:osz:" + sp["id"])
tap.ok(fields and all(len(f) == 32 for f in fields)
       and not any("many" in f or "mp/" in f for f in fields),
       "the size index holds fingerprints, never object names")

# A space without a quota: its usage updates are batched per worker (one
# EVAL per 64 updates or 20 ms), and a run of plain puts and deletes in a
# batch is applied together (ngx_http_objspace_quota.c, the batch tail).
# Concurrent clients make the batches mix overwrites, deletes, repeated
# and missing keys in DeleteObjects, and a multipart completion.
sp2 = st.seed_space()
key2 = st.seed_key(sp2, "read-write-delete")
b2 = sp2["bucket"]


def worker(w):
    cw = st.boto3_client(key2["ak"], key2["sk"])
    wr = random.Random(100 + w)
    for i in range(25):
        cw.put_object(Bucket=b2, Key="w%d/k%02d" % (w, i % 10),
                      Body=os.urandom(wr.randrange(0, 40000)))
        if i % 7 == 6:
            cw.delete_object(Bucket=b2, Key="w%d/k%02d" % (w, i % 5))
    cw.delete_objects(Bucket=b2, Delete={"Objects": [
        {"Key": "w%d/k01" % w}, {"Key": "w%d/k01" % w},
        {"Key": "w%d/none" % w}, {"Key": "w%d/k02" % w}]})
    if w == 0:
        mp = cw.create_multipart_upload(Bucket=b2, Key="w0/mp")
        e = cw.upload_part(Bucket=b2, Key="w0/mp", UploadId=mp["UploadId"],
                           PartNumber=1, Body=os.urandom(123456))
        cw.complete_multipart_upload(
            Bucket=b2, Key="w0/mp", UploadId=mp["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1,
                                        "ETag": e["ETag"]}]})
    for i in range(10):
        cw.put_object(Bucket=b2, Key="w%d/late%d" % (w, i),
                      Body=os.urandom(wr.randrange(1, 5000)))


import concurrent.futures  # noqa: E402
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    for f in [ex.submit(worker, w) for w in range(8)]:
        f.result()
same("no-quota space, 8 concurrent clients (batched updates)", sp2)
c2 = st.boto3_client(key2["ak"], key2["sk"])
c2.delete_objects(Bucket=b2, Delete={"Objects": [
    {"Key": "w%d/late%d" % (w, i)} for w in range(8) for i in range(10)]})
same("no-quota space, one DeleteObjects of 80 keys", sp2)
tap.is_(usage(sp2)[1], len(st.rgw_keys(sp2, "")),
        "no-quota space: objects counted == objects in RGW")


def gauge(space):
    """objspace_usage_bytes of the space on the metrics endpoint: the bytes
    the last usage update's reply carried (a batched run answers them on
    its last entry of each space)."""
    status, _, body = st.http("GET", st.endpoint + "/metrics")
    m = re.search(r'^objspace_usage_bytes\{space="%s"\} (\d+)$' % space["id"],
                  body.decode(), re.M)
    return int(m.group(1)) if m else None


for name, s_ in (("space with a quota", sp), ("no-quota space", sp2)):
    tap.is_(gauge(s_), usage(s_)[0],
            "%s: the usage gauge on the metrics endpoint == Redis" % name)

tap.is_(st.alerts(), [], "no [alert] in the error log")
tap.done_testing()

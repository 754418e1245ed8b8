#!/usr/bin/python3
# Quota at the gateway (issue 5): 20 concurrent uploads race for the last
# 10 MiB of a space's quota.  Reservations are atomic in Redis, so the
# bytes RGW holds never exceed the quota, exactly the uploads that fit
# win, and the others get 403 QuotaExceeded (which SDKs do not retry).
# Afterwards Redis' usage equals what RGW stores and nothing is reserved.

import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients  # noqa: E402
import stack    # noqa: E402
import tap      # noqa: E402

MiB = 1024 * 1024

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)

QUOTA = 15 * MiB
sp = st.seed_space(quota_bytes=QUOTA)
key = st.seed_key(sp, "read-write-delete")
c = st.boto3_client(key["ak"], key["sk"])
bucket = sp["bucket"]
rgw = st.rgw_client(sp)
r = st.seeder.r


def settle(cond):
    # usage updates are sent in per-worker batches, within about 20 ms of
    # the response (docs/redis-schema.md): allow them to land
    deadline = time.time() + 5
    while not cond() and time.time() < deadline:
        time.sleep(0.02)


def stored_bytes():
    total = 0
    for page in rgw.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        total += sum(o["Size"] for o in page.get("Contents", []))
    return total


c.put_object(Bucket=bucket, Key="base.bin", Body=b"b" * (5 * MiB))
tap.is_(stored_bytes(), 5 * MiB, "5 MiB stored before the race")
settle(lambda: r.hget("objspace:usage:" + sp["id"], "bytes") == str(5 * MiB))
tap.is_(r.hget("objspace:usage:" + sp["id"], "bytes"), str(5 * MiB),
        "usage in Redis counts the first upload")

results = [None] * 20
body = b"r" * MiB


def upload(i):
    cl = st.boto3_client(key["ak"], key["sk"])
    try:
        cl.put_object(Bucket=bucket, Key="race/%02d" % i, Body=body)
        results[i] = "ok"
    except Exception as e:
        results[i] = clients.error_code(e)


threads = [threading.Thread(target=upload, args=(i,)) for i in range(20)]
for t in threads:
    t.start()
for t in threads:
    t.join()

wins = results.count("ok")
losers = [x for x in results if x != "ok"]
tap.is_(wins, 10, "exactly the 10 uploads that fit are stored")
tap.ok(all(x == "QuotaExceeded" for x in losers),
       "every loser got QuotaExceeded", )
tap.is_(len(losers), 10, "10 losers")
tap.ok(stored_bytes() <= QUOTA, "RGW holds no more than the quota (%d)"
       % stored_bytes())
tap.is_(len(st.rgw_keys(sp, "race/")), wins, "only the winners are in RGW")

settle(lambda: r.hget("objspace:usage:" + sp["id"], "bytes")
       == str(stored_bytes())
       and r.hget("objspace:usage:" + sp["id"], "reserved") in (None, "0"))
u = r.hgetall("objspace:usage:" + sp["id"])
tap.is_(int(u.get("bytes", 0)), stored_bytes(), "usage bytes == RGW bytes")
tap.is_(int(u.get("objects", 0)), 11, "usage objects == RGW objects")
tap.is_(int(u.get("reserved", 0)), 0, "nothing left reserved")
tap.is_(r.zcard("objspace:resv:" + sp["id"]), 0, "no reservation left")

# The answer is an S3 error with the code and HTTP 403
try:
    c.put_object(Bucket=bucket, Key="one-more", Body=b"x")
    tap.fail("a 1-byte upload over a full quota is refused")
except Exception as e:
    tap.is_(e.response["ResponseMetadata"]["HTTPStatusCode"], 403,
            "over quota is HTTP 403")
    tap.is_(clients.error_code(e), "QuotaExceeded", "... QuotaExceeded")

# An overwrite that does not grow the object fits in a full space
try:
    c.put_object(Bucket=bucket, Key="race/%02d" % results.index("ok"),
                 Body=b"s" * MiB)
    tap.pass_("overwrite of the same size in a full space is accepted")
except Exception as e:
    tap.fail("overwrite of the same size in a full space is accepted",
             clients.error_code(e))

# Deleting frees quota
c.delete_object(Bucket=bucket, Key="base.bin")
try:
    c.put_object(Bucket=bucket, Key="after-delete", Body=b"d" * (4 * MiB))
    tap.pass_("a delete frees quota for a new upload")
except Exception as e:
    tap.fail("a delete frees quota for a new upload", clients.error_code(e))

settle(lambda: int(r.hget("objspace:usage:" + sp["id"], "bytes"))
       == stored_bytes())
tap.is_(int(r.hget("objspace:usage:" + sp["id"], "bytes")), stored_bytes(),
        "usage bytes == RGW bytes after overwrite and delete")

tap.is_(st.alerts(), [], "no [alert] in the error log")
tap.done_testing()

#!/usr/bin/python3
# Changes reach a running gateway through pub/sub (objspace:invalidate,
# docs/redis-schema.md), not by the cache timing out: this nginx caches
# identities for 300 s (objspace_cache_valid) and unknown keys for 300 s
# (objspace_cache_negative), and every check below allows 3 s at most.
#   - a key created while the gateway runs works at once, even one the
#     gateway had just answered InvalidAccessKeyId for (negative entry);
#   - revoked -> InvalidAccessKeyId; mode read-only -> PUT AccessDenied;
#     space disabled -> AccessDenied; space enabled again -> works;
#   - a record changed without a message stays cached (so the checks above
#     do test the messages), and `all` drops everything.

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import seed    # noqa: E402
import sigv4   # noqa: E402
import stack   # noqa: E402
import tap     # noqa: E402

WITHIN = 3.0           # seconds; the cache TTLs are 300 s

st = stack.Stack()
if not stack.start_or_fail(st, extra_http="objspace_cache_valid 300s;\n"
                           "objspace_cache_negative 300s;"):
    sys.exit(1)

sp = st.seed_space()
bucket = sp["bucket"]
n = [0]


def req(ident, method, body=b""):
    """A header-signed GET or PUT of a new key; (status, S3 code)."""
    n[0] += 1
    url = "%s/%s/ps/%d" % (st.endpoint, bucket, n[0])
    if method == "GET":
        url = "%s/%s/ps/seed" % (st.endpoint, bucket)
    h = sigv4.wire_headers(sigv4.sign_headers(
        method, url, ident["ak"], ident["sk"], st.region, body=body))
    status, _, data = st.http(method, url, headers=h,
                              body=body if method == "PUT" else None,
                              timeout=20)
    return status, stack.s3_error_code(data)


def becomes(ident, method, want, secs=WITHIN):
    """Poll until req() gives `want`; (got, seconds taken)."""
    t0 = time.time()
    while True:
        got = req(ident, method, b"x" if method == "PUT" else b"")
        if got == want or time.time() - t0 > secs:
            return got, time.time() - t0


def stays(ident, method, want, secs=1.0):
    """req() keeps giving `want` for `secs`; returns the odd result."""
    t0 = time.time()
    while time.time() - t0 < secs:
        got = req(ident, method, b"x" if method == "PUT" else b"")
        if got != want:
            return got
        time.sleep(0.1)
    return want


base = st.seed_key(sp, "read-write-delete")
st.rgw_client(sp).put_object(Bucket=bucket, Key="ps/seed", Body=b"seed")
tap.is_(req(base, "PUT", b"x"), (200, None), "control: a seeded key works")

# --- created while running, after a negative answer -------------------------
ak, sk = seed.new_access_key(), seed.new_secret_key()
tap.is_(req({"ak": ak, "sk": sk}, "GET"), (403, "InvalidAccessKeyId"),
        "a key not created yet: InvalidAccessKeyId (now negatively cached)")
tap.is_(stays({"ak": ak, "sk": sk}, "GET", (403, "InvalidAccessKeyId"), 0.5),
        (403, "InvalidAccessKeyId"), "  and stays so")
st.seeder.identity(sp, ak=ak, sk=sk)
got, secs = becomes({"ak": ak, "sk": sk}, "GET", (200, None))
tap.is_(got, (200, None), "created while the gateway runs: works at once "
        "(%.2f s, negative cache 300 s)" % secs)
late = st.seed_key(sp, "read-write")
got, secs = becomes(late, "PUT", (200, None))
tap.is_(got, (200, None), "a key never asked for before: works at once")

# --- changes to a cached identity -------------------------------------------
k = st.seed_key(sp, "read-write-delete")
tap.is_(req(k, "PUT", b"x"), (200, None), "a second key works (cached now)")
st.seeder.update_identity(k["ak"], mode="read-only")
got, secs = becomes(k, "PUT", (403, "AccessDenied"))
tap.is_(got, (403, "AccessDenied"),
        "mode changed to read-only: PUT AccessDenied (%.2f s)" % secs)
tap.is_(req(k, "GET"), (200, None), "  GET still allowed")
st.seeder.update_identity(k["ak"], status="revoked")
got, secs = becomes(k, "GET", (403, "InvalidAccessKeyId"))
tap.is_(got, (403, "InvalidAccessKeyId"),
        "revoked: InvalidAccessKeyId (%.2f s)" % secs)

# --- changes to the space ---------------------------------------------------
st.seeder.update_space(sp["id"], status="disabled")
got, secs = becomes(base, "GET", (403, "AccessDenied"))
tap.is_(got, (403, "AccessDenied"),
        "space disabled: AccessDenied (%.2f s)" % secs)
st.seeder.update_space(sp["id"], status="active")
got, secs = becomes(base, "GET", (200, None))
tap.is_(got, (200, None), "space enabled again: works (%.2f s)" % secs)

# --- no message, no change; then `all` --------------------------------------
q = st.seed_key(sp, "read-write-delete")
# seeding publishes ak:{AK}; a worker applying it while the first read of
# the key is in flight stores that read as already stale (by design), and
# the next request would re-read the changed record below: let the
# message land in every worker first
time.sleep(0.3)
tap.is_(req(q, "PUT", b"x"), (200, None), "a third key works (cached now)")
st.seeder.r.hset("objspace:ak:" + q["ak"], "mode", "read-only")
tap.is_(stays(q, "PUT", (200, None)), (200, None),
        "record changed without a message: the cached copy still rules")
st.seeder.publish("all")
got, secs = becomes(q, "PUT", (403, "AccessDenied"))
tap.is_(got, (403, "AccessDenied"),
        "`all` published: the change applies (%.2f s)" % secs)
tap.is_(req(base, "PUT", b"x"), (200, None), "  other keys still work")

tap.is_(st.alerts(), [], "no [alert]/[crit]/[emerg] in the error log")
tap.done_testing()

#!/usr/bin/python3
# Resource limits against abuse: a flood of bad signatures (known key) or of
# an unknown key id is answered from the shared-memory cache, not by asking
# Redis for every request (identity reads counted with MONITOR);
# per-key and per-IP request rates with nginx's own limit_req keyed on
# $objspace_key_fingerprint, which is computed on use (so in the preaccess
# phase, where $objspace_identity is not known yet); the
# example config's header / request-line bounds (large_client_header_buffers).

import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients  # noqa: E402
import redismon # noqa: E402
import stack    # noqa: E402
import tap      # noqa: E402

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)

sp = st.seed_space()
good = st.seed_key(sp, "read-write-delete")
other = st.seed_key(sp, "read-only")


def code_of(fn):
    try:
        fn()
        return "OK"
    except Exception as e:
        return clients.error_code(e) or repr(e)


def flood(ak, sk, n):
    c = st.boto3_client(ak, sk)
    codes = {}
    for i in range(n):
        k = code_of(lambda: c.head_object(Bucket=sp["bucket"], Key="x"))
        codes[k] = codes.get(k, 0) + 1
    return codes


# --- negative cache and cached identities (no limit_req yet) -----------

# warm the cache for the good key, then flood it with a wrong secret
tap.is_(code_of(lambda: st.boto3_client(good["ak"], good["sk"])
                .list_objects_v2(Bucket=sp["bucket"])), "OK",
        "a good request works (identity now cached)")
with redismon.IdentityReads(st) as reads:
    codes = flood(good["ak"], "not-the-secret-" + "x" * 25, 100)
tap.is_(codes, {"403": 100}, "100 bad signatures: all 403")
tap.ok(reads.count <= 2,
       "  answered from the cache: %d identity reads in Redis for 100 "
       "requests" % reads.count)
tap.ok(any("signature mismatch" in l for l in st.error_log_lines()),
       "  denials logged (reason: signature mismatch)")

unknown = "RS3UNKNOWN" + os.urandom(5).hex().upper()
with redismon.IdentityReads(st) as reads:
    codes = flood(unknown, "whatever-" + "y" * 31, 100)
tap.is_(codes, {"403": 100}, "100 requests with an unknown key id: all 403")
tap.ok(1 <= reads.count <= 2,
       "  negative cache: %d identity reads in Redis (one per worker at "
       "most) for 100 requests" % reads.count)
c = st.boto3_client(unknown, "whatever")
try:
    c.head_bucket(Bucket=sp["bucket"])
    tap.fail("  unknown key: InvalidAccessKeyId")
except Exception as e:
    tap.is_(clients.error_code(e), "403", "  unknown key: 403")

# --- limit_req keyed on the key fingerprint and on the client address ---

LIMITS_HTTP = """
limit_req_zone $objspace_key_fingerprint zone=objspace_key:1m rate=1r/m;
limit_req_zone $binary_remote_addr        zone=objspace_ip:1m  rate=1r/m;
limit_req_status 503;
log_format limits '$status $objspace_key_fingerprint $objspace_identity';
access_log {prefix}/limits.log limits;
""".replace("{prefix}", os.path.join(st.dir, "nginx"))
LIMITS_LOCATION = """
limit_req zone=objspace_key burst=4 nodelay;
limit_req zone=objspace_ip  burst=12 nodelay;
"""
try:
    st.start_nginx(extra_http=LIMITS_HTTP, extra_location=LIMITS_LOCATION)
    started = True
except stack.StackError as e:
    tap.fail("nginx starts with limit_req keyed on $objspace_key_fingerprint",
             str(e))
    started = False

if started:
    c1 = st.boto3_client(good["ak"], good["sk"])
    res = [code_of(lambda: c1.list_objects_v2(Bucket=sp["bucket"]))
           for _ in range(8)]
    tap.is_(res, ["OK"] * 5 + ["ServiceUnavailable"] * 3,
            "per key: burst 4 + 1 pass, then 503 (limit_req, preaccess)")
    c2 = st.boto3_client(other["ak"], other["sk"])
    res = [code_of(lambda: c2.list_objects_v2(Bucket=sp["bucket"]))
           for _ in range(5)]
    tap.is_(res, ["OK"] * 5, "another key from the same address is not "
            "limited by the first key's rate")
    # anonymous requests have no fingerprint: only the per-IP zone counts
    res = []
    for _ in range(4):
        s, _h, _b = st.http("GET", st.endpoint + "/" + sp["bucket"])
        res.append(s)
    tap.is_(res, [403, 403, 403, 503], "per address: anonymous requests "
            "(no fingerprint) count in the address zone only: 13 from "
            "127.0.0.1 (burst 12) pass, the next is refused")

    fp = hashlib.sha256(good["ak"].encode()).hexdigest()[:8]
    with open(os.path.join(st.dir, "nginx", "limits.log")) as f:
        lines = f.read().splitlines()
    tap.ok(any(l.startswith("200 %s %s" % (fp, good["id"])) for l in lines),
           "$objspace_key_fingerprint is sha256(access key)[:8], as in the "
           "error log")
    tap.ok(not any(good["ak"] in l for l in lines),
           "  the access key id itself is not logged")
    tap.ok(any(l.startswith("503 %s -" % fp) for l in lines),
           "  limited requests are logged with the fingerprint, no identity")

# --- header and request-line bounds of the example config ---------------

BOUNDS = """
large_client_header_buffers 4 8k;
client_header_timeout 10s;
client_body_timeout   30s;
send_timeout          30s;
"""
st.start_nginx(extra_server=BOUNDS)
s, _h, _b = st.http("GET", st.endpoint + "/" + sp["bucket"] + "?prefix="
                    + "a" * 9000)
tap.is_(s, 414, "a request line over 8k is refused (414)")
s, _h, _b = st.http("GET", st.endpoint + "/" + sp["bucket"],
                    headers={"X-Amz-Meta-Big": "b" * 9000})
tap.is_(s, 400, "a header over 8k is refused (400)")
c = st.boto3_client(good["ak"], good["sk"])
tap.is_(code_of(lambda: c.put_object(Bucket=sp["bucket"], Key="k" * 1025,
                                     Body=b"x")),
        "KeyTooLongError", "a key over 1,024 bytes is refused")

tap.is_(st.alerts(), [], "no [alert] in the error log")
tap.done_testing()

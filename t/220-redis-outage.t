#!/usr/bin/python3
# Redis away, then back (docs/directives.md objspace_redis_timeout,
# docs/redis-schema.md):
#   - Redis frozen (SIGSTOP: connections accepted, never answered) and
#     Redis stopped (connection refused): an identity not in the cache gets
#     503 ServiceUnavailable within the client's patience (never a hang,
#     never a false 403 such as InvalidAccessKeyId), also for many requests
#     at once and for HEAD (no body); nothing is stored for refused PUTs;
#   - an identity already in the cache keeps working, even once its entry
#     is past objspace_cache_valid (the stale copy is served);
#   - Redis restarted empty on the same address and the records written
#     again: new keys, restored keys and the cached key work again.
# No [alert], no secret in the error log.

import os
import signal
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import seed    # noqa: E402
import sigv4   # noqa: E402
import stack   # noqa: E402
import tap     # noqa: E402

PATIENCE = 20          # seconds a client waits before calling it a hang

st = stack.Stack()
# entries go stale after 1 s: "keeps working" then means "stale copy served"
if not stack.start_or_fail(st, extra_http="objspace_cache_valid 1s;"):
    sys.exit(1)

sp = st.seed_space()
bucket = sp["bucket"]
cached = st.seed_key(sp, "read-write-delete")
fresh_frozen = st.seed_key(sp, "read-write-delete")
fresh_stopped = st.seed_key(sp, "read-write-delete")


def req(ident, method, key, body=b"", ak=None):
    """A header-signed request; (status, S3 code, headers, body), or
    (None, 'no answer: ...', {}, b'') when the client gave up."""
    url = "%s/%s/%s" % (st.endpoint, bucket, urllib.parse.quote(key))
    h = sigv4.wire_headers(sigv4.sign_headers(
        method, url, ak or ident["ak"], ident["sk"], st.region, body=body))
    try:
        status, hdrs, data = st.http(method, url, headers=h,
                                     body=body if method == "PUT" else None,
                                     timeout=PATIENCE)
    except Exception as e:
        return None, "no answer: %r" % e, {}, b""
    return status, stack.s3_error_code(data), hdrs, data


def on_rgw(key):
    return key in st.rgw_keys(sp, key)


def unavailable(ident, label, ak=None):
    """GET, PUT and HEAD of an uncached identity: 503 ServiceUnavailable,
    PUT not stored, HEAD without a body."""
    status, code, _, _ = req(ident, "GET", "o/before", ak=ak)
    tap.is_((status, code), (503, "ServiceUnavailable"),
            "%s: GET -> 503 ServiceUnavailable" % label)
    k = "o/refused-%s" % label.replace(" ", "-")
    status, code, _, _ = req(ident, "PUT", k, b"must not land", ak=ak)
    tap.is_((status, code), (503, "ServiceUnavailable"),
            "%s: PUT -> 503 ServiceUnavailable" % label)
    tap.ok(not on_rgw(k), "%s:   nothing stored on RGW" % label)
    status, code, hdrs, data = req(ident, "HEAD", "o/before", ak=ak)
    tap.is_((status, data), (503, b""),
            "%s: HEAD -> 503 without a body" % label)


def parallel(ident, n, label):
    """n GETs at once with an uncached identity: every one answered 503."""
    out = [None] * n

    def one(i):
        out[i] = req(ident, "GET", "o/before")[:2]

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    tap.is_(sorted(set(out), key=repr), [(503, "ServiceUnavailable")],
            "%s: %d requests at once, all 503 ServiceUnavailable" % (label, n))


def cached_works(label):
    status, code, _, data = req(cached, "GET", "o/before")
    tap.is_((status, data), (200, b"before"),
            "%s: cached key, GET works (stale entry served)" % label)
    k = "o/during-%s" % label.replace(" ", "-")
    status, code, _, _ = req(cached, "PUT", k, b"during")
    tap.is_(status, 200, "%s: cached key, PUT works" % label)
    tap.ok(on_rgw(k), "%s:   stored on RGW" % label)


def until_ok(fn, secs=15):
    """Retry fn() -> (status, ...) until 200 or `secs` pass (the gateway
    reconnects with a backoff); returns the last result and the tries."""
    deadline = time.time() + secs
    tries = 0
    while True:
        tries += 1
        r = fn()
        if r[0] == 200 or time.time() > deadline:
            return r, tries
        time.sleep(0.2)


# --- healthy: the cached identity is cached --------------------------------
status, _, _, _ = req(cached, "PUT", "o/before", b"before")
tap.is_(status, 200, "healthy: PUT with the first key (now cached)")
time.sleep(1.2)                     # past objspace_cache_valid 1s

# --- Redis frozen: accepts, never answers ----------------------------------
redis_pid = int(st.redis_env["REDIS_PID"])
os.kill(redis_pid, signal.SIGSTOP)
try:
    unavailable(fresh_frozen, "redis frozen")
    unavailable({"sk": cached["sk"]}, "redis frozen, invented key",
                ak=seed.new_access_key())
    parallel(fresh_frozen, 8, "redis frozen")
    cached_works("redis frozen")
finally:
    os.kill(redis_pid, signal.SIGCONT)

(status, code, _, _), tries = until_ok(
    lambda: req(fresh_frozen, "GET", "o/before"))
tap.is_((status, code), (200, None),
        "redis thawed: the key that got 503 works (after %d tries)" % tries)

# --- Redis stopped: connection refused -------------------------------------
st.stop_redis()
unavailable(fresh_stopped, "redis stopped")
parallel(fresh_stopped, 8, "redis stopped")
cached_works("redis stopped")

# --- Redis restarted empty on the same address, records written again ------
st.restart_redis()
st.seeder.restore_space(sp)
new = st.seed_key(sp, "read-write-delete")
(status, code, _, _), tries = until_ok(
    lambda: req(new, "PUT", "o/after-new", b"new"))
tap.is_((status, code), (200, None),
        "redis restarted: a key created now works (after %d tries)" % tries)
tap.ok(on_rgw("o/after-new"), "  stored on RGW")
st.seeder.identity(sp, ak=fresh_stopped["ak"], sk=fresh_stopped["sk"])
(status, code, _, data), tries = until_ok(
    lambda: req(fresh_stopped, "GET", "o/before"))
tap.is_((status, data), (200, b"before"),
        "redis restarted: the key refused while it was down works once "
        "written again")
st.seeder.identity(sp, ak=cached["ak"], sk=cached["sk"])
status, code, _, _ = req(cached, "GET", "o/before")
tap.is_(status, 200, "redis restarted: the cached key works")
status, code, _, _ = req({"sk": new["sk"]}, "GET", "o/before",
                         ak=seed.new_access_key())
tap.is_((status, code), (403, "InvalidAccessKeyId"),
        "redis back: an invented key is InvalidAccessKeyId again")

tap.is_(st.alerts(), [], "no [alert]/[crit]/[emerg] in the error log")
log = "\n".join(st.error_log_lines())
tap.ok(not any(k["sk"] in log for k in (cached, fresh_frozen, fresh_stopped,
                                         new)),
       "no client secret in the error log")
tap.done_testing()

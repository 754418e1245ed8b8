#!/usr/bin/python3
# Reload safety: `nginx -s reload` (SIGHUP) under steady load loses no
# request; the shared-memory identity cache survives a reload (with Redis
# stopped a cached identity keeps working while an uncached one gets 503);
# a reload with a changed objspace_cache_zone size maps a fresh, empty zone
# (nginx reuses a same-named zone only at the same size): the module logs a
# notice, nothing is corrupted, nginx keeps serving.

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients   # noqa: E402
import redismon  # noqa: E402
import stack     # noqa: E402
import tap       # noqa: E402

# entries stay fresh for the whole test: what we see is the reload's doing
CONF = dict(extra_http="objspace_cache_valid 10m;")

st = stack.Stack()
if not stack.start_or_fail(st, **CONF):
    sys.exit(1)

sp = st.seed_space()
key = st.seed_key(sp, "read-write-delete")
late = st.seed_key(sp, "read-only")      # never used before Redis stops
c = st.boto3_client(key["ak"], key["sk"])
c.put_object(Bucket=sp["bucket"], Key="reload/obj", Body=b"x" * 1000)


def code_of(fn):
    try:
        fn()
        return "OK"
    except Exception as e:
        return clients.error_code(e)


def reload_and_wait(conf_text=None):
    """SIGHUP, then wait until the old workers are gone ("exiting" ->
    "exited" in the error log) so later requests meet the new cycle."""
    if conf_text is not None:
        with open(os.path.join(st.dir, "nginx", "nginx.conf"), "w") as f:
            f.write(conf_text)
    mark = st.log_mark()
    st.nginx_proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 15
    while time.time() < deadline:
        lines = st.error_log_since(mark)
        if (any("reconfiguring" in l for l in lines)
                and sum("exited with code 0" in l for l in lines)
                >= st.workers):
            return lines
        time.sleep(0.1)
    return st.error_log_since(mark)


# --- steady load across three reloads -----------------------------------

results = []
stop = threading.Event()


def load():
    cl = st.boto3_client(key["ak"], key["sk"])
    while not stop.is_set():
        code = code_of(lambda: cl.get_object(Bucket=sp["bucket"],
                                             Key="reload/obj")["Body"].read())
        results.append(code)


threads = [threading.Thread(target=load) for _ in range(3)]
for t in threads:
    t.start()
time.sleep(1)
reloads = 0
for _ in range(3):
    lines = reload_and_wait()
    reloads += any("reconfiguring" in l for l in lines)
    time.sleep(0.5)
stop.set()
for t in threads:
    t.join(60)
failed = [r for r in results if r != "OK"]
tap.is_(reloads, 3, "three reloads done under load")
tap.ok(len(results) > 50, "steady load: %d requests" % len(results))
tap.is_(failed, [], "no request failed across the reloads")

# --- the cache survives a reload ----------------------------------------

with redismon.IdentityReads(st) as reads:
    reload_and_wait()
    tap.is_(code_of(lambda: c.head_object(Bucket=sp["bucket"],
                                          Key="reload/obj")), "OK",
            "after a reload the cached identity works")
# new workers subscribe again and mark entries for revalidation (a message
# may have been missed): at most one read per worker, not one per request
tap.ok(reads.count <= st.workers,
       "  %d identity reads (revalidation after resubscribing)" % reads.count)

# --- a changed zone size: a fresh zone, a notice, still serving ---------

conf32 = st.nginx_conf(**CONF).replace("objspace_cache_zone       objspace:16m",
                                        "objspace_cache_zone       objspace:32m")
tap.ok("objspace:32m" in conf32, "config with the zone at 32m")
with redismon.IdentityReads(st) as reads:
    lines = reload_and_wait(conf32)
    tap.is_(code_of(lambda: c.head_object(Bucket=sp["bucket"],
                                          Key="reload/obj")), "OK",
            "after a reload with a changed zone size requests work")
tap.is_(reads.count, 1, "  the identity was read again: a new, empty zone")
tap.ok(any('objspace_cache_zone "objspace" is new or changed size' in l
           for l in lines), "  nginx logs a notice naming the zone")
tap.ok(st.nginx_proc.poll() is None, "  nginx is still running")

# --- Redis gone: cached identities keep working across a reload ---------

st.stop_redis()
lines = reload_and_wait()
tap.ok(any("reconfiguring" in l for l in lines), "reload with Redis stopped")
tap.is_(code_of(lambda: c.head_object(Bucket=sp["bucket"], Key="reload/obj")),
        "OK", "  a cached identity still works (served from shared memory)")
c2 = st.boto3_client(late["ak"], late["sk"])
tap.is_(code_of(lambda: c2.head_object(Bucket=sp["bucket"], Key="reload/obj")),
        "503", "  an identity never cached gets 503, not 403")

# --- Redis still gone: a changed size drops the cache, nothing else ------

conf16 = st.nginx_conf(**CONF)
lines = reload_and_wait(conf16)
tap.ok(any('objspace_cache_zone "objspace" is new or changed size' in l
           for l in lines), "reload back to 16m with Redis stopped: notice")
tap.is_(code_of(lambda: c.head_object(Bucket=sp["bucket"], Key="reload/obj")),
        "503", "  the identity cached before is gone (fresh zone): 503")
tap.ok(st.nginx_proc.poll() is None, "  nginx is still running")

tap.is_(st.alerts(), [], "no [alert] in the error log")
tap.done_testing()

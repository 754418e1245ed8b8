#!/usr/bin/python3
# Audit that loses nothing (issue 5): a steady load of allowed and denied
# requests; Redis is shut down for 30 s in the middle (and nginx reloaded
# while it is away, so exiting workers hand their events over through the
# spool), then started again.  Every request made is in the stream
# objspace:audit exactly once, in order per worker (seq without gaps), the
# gateway kept serving cached identities throughout, and no log, audit
# record, spool or Redis dump holds a secret the test created.

import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients  # noqa: E402
import stack    # noqa: E402
import tap      # noqa: E402

st = stack.Stack()
spool = os.path.join(st.dir, "spool")
extra_http = """
objspace_audit_buffer  4k;
objspace_audit_spool   %s max_size=8m;
objspace_metrics_zone  metrics:1m;
objspace_cache_valid   5s;
log_format objspace '$objspace_identity $objspace_operation $status '
                    '$objspace_decision "$objspace_deny_reason" '
                    '$objspace_request_bytes $objspace_quota_bytes';
access_log %s/nginx/objspace.log objspace;
""" % (spool, st.dir)
extra_server = "location = /metrics { objspace_metrics; }"

if not stack.start_or_fail(st, nginx=False):
    sys.exit(1)
os.makedirs(spool)
subprocess.run(["chown", "nobody:nogroup", spool], check=True)
st.start_nginx(extra_http=extra_http, extra_server=extra_server)

sp = st.seed_space(tenant="tn_audit")
key = st.seed_key(sp, "read-write-delete")
bad_sk = "x" * 40
bucket = sp["bucket"]
r = st.seeder.r

made = []          # (key, expected decision)
outcomes = []      # (time, phase, status) of allowed requests
stop = threading.Event()
phase = ["before"]


def load():
    good = st.boto3_client(key["ak"], key["sk"])
    bad = st.boto3_client(key["ak"], bad_sk)
    i = 0
    while not stop.is_set():
        i += 1
        k = "load/%05d" % i
        try:
            good.put_object(Bucket=bucket, Key=k, Body=b"a" * 100)
            status = 200
        except Exception as e:
            status = clients.error_code(e)
        made.append((k, "allow"))
        outcomes.append((time.time(), phase[0], status))
        if i % 5 == 0:
            kd = k + "-denied"
            try:
                bad.put_object(Bucket=bucket, Key=kd, Body=b"b")
            except Exception:
                pass
            made.append((kd, "deny"))
        time.sleep(0.02)


# warm the cache, then load
st.boto3_client(key["ak"], key["sk"]).list_objects_v2(Bucket=bucket)
t = threading.Thread(target=load)
t.start()
time.sleep(5)

# Redis away for 30 s (state saved so the identities are still there after)
redis_dir = os.path.join(st.dir, "redis")
r.shutdown(save=True)
phase[0] = "outage"
time.sleep(12)
st.reload_nginx()            # old workers spool what they hold and exit
time.sleep(18)
pid = subprocess.Popen(["redis-server", os.path.join(redis_dir, "redis.conf")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       start_new_session=True).pid
with open(os.path.join(redis_dir, "env"), "w") as f:
    f.write("REDIS_HOST=127.0.0.1\nREDIS_PORT=%d\nREDIS_ADDR=%s\n"
            "REDIS_PID=%d\n" % (st.redis_port, st.redis_addr, pid))
deadline = time.time() + 10
while time.time() < deadline:
    try:
        r.ping()
        break
    except Exception:
        time.sleep(0.1)
phase[0] = "after"
time.sleep(5)
stop.set()
t.join()


def stream():
    out = []
    for _id, f in r.xrange("objspace:audit"):
        out.append(f)
    return out


wanted = {k for k, _ in made}
deadline = time.time() + 30
while time.time() < deadline:
    evs = [e for e in stream() if e.get("space") == sp["id"]
           or e.get("bucket") == bucket]
    if wanted <= {e.get("key") for e in evs}:
        break
    time.sleep(0.5)

evs = stream()
mine = [e for e in evs if e.get("kind") == "request"
        and e.get("bucket") == bucket and e.get("key", "").startswith("load/")]
by_key = {}
for e in mine:
    by_key.setdefault(e["key"], []).append(e)

out_phase = [o for o in outcomes if o[1] == "outage"]
tap.ok(len(made) > 100, "the load made %d requests" % len(made))
tap.ok(len(out_phase) > 20 and all(o[2] == 200 for o in out_phase),
       "cached identity served throughout the outage (%d uploads, all 200)"
       % len(out_phase))
tap.ok(all(o[2] == 200 for o in outcomes), "every allowed upload succeeded")
missing = [k for k in wanted if k not in by_key]
tap.is_(missing[:5], [], "every request made is in the audit stream")
dups = [k for k, v in by_key.items() if len(v) > 1]
tap.is_(dups[:5], [], "... exactly once")
bad_dec = [k for k, d in made if k in by_key and by_key[k][0]["decision"] != d]
tap.is_(bad_dec[:5], [], "... with the right decision")
tap.ok(all(by_key[k][0]["reason"] == "signature mismatch"
           for k, d in made if d == "deny" and k in by_key),
       "denied requests carry the deny reason")

# order per worker: the worker's seq grows by one along the stream
workers = {}
gaps = []
for e in evs:
    if e.get("kind") != "request":
        continue
    w, s = e["worker"], int(e["seq"])
    if w in workers and s != workers[w] + 1:
        gaps.append((w, workers[w], s))
    workers[w] = s
tap.is_(gaps[:5], [], "in order per worker, no gap (%d workers)"
        % len(workers))
tap.ok(len(workers) >= 3, "events of the reloaded-away workers arrived too")
tap.like("\n".join(st.error_log_lines()), r"replaying the audit spool",
         "... through their spool, adopted by a live worker")

e = by_key[made[0][0]][0]
tap.ok(e["tenant"] == "tn_audit" and e["space"] == sp["id"]
       and e["identity"] == key["id"] and e["op"] == "PutObject"
       and e["status"] == "200" and e["ip"] == "127.0.0.1"
       and e["request_id"] and e["id"] == "%s-%s" % (e["worker"], e["seq"])
       and int(e["bytes_in"]) > 100 and "Boto3" in e["ua"],
       "an event carries tenant, space, identity, op, status, ip, ua, "
       "bytes, request id")

m = st.http("GET", st.endpoint + "/metrics")
text = m[2].decode()
tap.is_(m[0], 200, "objspace_metrics answers")
tap.like(text, r'objspace_requests_total\{space="%s",decision="allow"\} \d+'
         % sp["id"], "metrics: requests per space")
tap.like(text, r'objspace_denied_total\{space="%s",reason="signature '
         r'mismatch"\} [1-9]' % sp["id"], "metrics: denials per reason")
tap.like(text, r"objspace_audit_spooled_total [1-9]",
         "metrics: the spool was used")
tap.like(text, r"objspace_redis_errors_total [1-9]",
         "metrics: Redis errors counted")
tap.like(text, r"objspace_audit_dropped_total 0\n", "metrics: nothing dropped")
tap.like(text, r"objspace_cache_hits_total [1-9]", "metrics: cache hits")

# secrets: the identity's and the backend's, the wrong one, the key file
with open(st.key_file) as f:
    keyfile = f.read().strip()
secrets = [key["sk"], sp["backend_sk"], bad_sk, keyfile]
r.save()
blobs = {}
for root, _dirs, files in os.walk(st.dir):
    if root.startswith(os.path.join(st.dir, "rgw")):
        continue            # the backend's own logs are not ours
    for fn in files:
        if fn.endswith((".log", ".spool", ".rdb")) or fn == "out":
            with open(os.path.join(root, fn), "rb") as f:
                blobs[os.path.join(root, fn)] = f.read()
blobs["stream"] = repr(evs).encode()
hits = [(s[:4], p) for s in secrets for p, b in blobs.items()
        if s.encode() in b]
# the access key id names Redis keys; logs, spools and the stream never
hits += [("ak", p) for p, b in blobs.items()
         if not p.endswith(".rdb") and key["ak"].encode() in b]
tap.ok(any(p.endswith(".rdb") for p in blobs) and len(blobs) > 4,
       "logs, spools, the stream and a Redis dump were read (%d)"
       % len(blobs))
tap.is_(hits, [], "no secret in any of them, no access key id outside Redis")
tap.unlike("\n".join(st.error_log_lines()), r"load/\d",
           "no object key in the error log")
lost = [x for x in st.error_log_lines() if "not sent (redis" in x]
tap.ok(0 < len(lost) <= 8, "lost usage updates are logged, once a minute "
       "per worker (%d lines)" % len(lost))
tap.is_(st.alerts(), [], "no [alert] in the error log")
tap.done_testing()

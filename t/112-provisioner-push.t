#!/usr/bin/python3
# The provisioner daemon pushes usage, key last-used times and audit events
# to RustShare on its own schedule (docs/rustshare-api.md "Push",
# docs/provisioner.md "RustShare mode").  RustShare is not available here:
# provisioner/test/fake_rustshare.py is a FAKE that follows
# docs/rustshare-api.md (bearer token, Idempotency-Key: a batch is applied
# once, every push request recorded, injected 5xx and timeouts).  Redis,
# Ceph RGW, nginx with the module and boto3 are real: the traffic below goes
# through the gateway, whose audit events and usage counters are what the
# daemon pushes.
#
#   - usage: the bytes/objects the gateway counted, per RustShare space;
#     null for a space not measured yet; never a local (CLI) space;
#   - key usage: last_used_at of the key that was used, not of an unused
#     one, not of a local key; only what moved is sent again;
#   - audit: every event of the RustShare space arrives exactly once (by
#     event id), none of the local space, through 500s, a timeout after
#     which RustShare had applied the batch, a SIGKILL while a batch was
#     failing (re-sent under the same batch id) and a restart (nothing
#     acknowledged is sent again);
#   - status shows the last push per kind and the backlog; config refuses
#     a bad push_interval; the daemon log has no secret, token, access key
#     id or object name; valgrind is clean on a push pass.

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import prov      # noqa: E402
import provtest  # noqa: E402
import seed      # noqa: E402
import stack     # noqa: E402
import tap       # noqa: E402

import redis     # noqa: E402

if prov.available() is None:
    tap.plan(skip_all="cannot build the provisioner")

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)

R = redis.Redis(host="127.0.0.1", port=st.redis_port, decode_responses=True)
p = prov.Provisioner(st)

TOKEN, token_file = provtest.bearer_token(st)
HO = os.path.join(st.dir, "handover.pem")
if os.path.exists(HO):
    os.unlink(HO)
PUB, KID = provtest.keygen(p, HO)

fake = provtest.FakeRustShare(TOKEN, PUB)
AUDIT_DIR = os.path.join(st.dir, "audit")
shutil.rmtree(AUDIT_DIR, ignore_errors=True)
conf = provtest.rustshare_config(p, fake.url, token_file, HO,
                                 rustshare_wait=1, lease_ttl=4,
                                 push_interval=2, audit_dir=AUDIT_DIR)

SFX = os.urandom(3).hex()
TEN = "push" + SFX


def sid(n):
    return "sp_%016x" % (0x7100000000000000 + n)


def kid(n):
    return "key_%016x" % (0x7200000000000000 + n)


def akid(n):
    return "RS3PUSH" + "ABCDEFGH"[n % 8] + "Q" * 12


SEC = {n: seed.new_secret_key().replace("+", "x").replace("/", "y")
       for n in (1, 2)}
seed.record_secret(TOKEN, *SEC.values())       # for t/990-secrets-sweep


def space(n):
    return {"id": sid(n), "tenant_id": TEN, "name": "s%d" % n,
            "purpose": "generic", "visibility": "private", "quota_bytes": 0,
            "status": "active"}


def ident(n, sp):
    return {"id": kid(n), "access_key_id": akid(n), "space_id": sid(sp),
            "name": "k%d" % n, "permissions": "read-write-delete",
            "prefix": "", "immutable": False, "status": "active",
            "expires_at": None, "secret_plain": SEC[n]}


BUCKET1 = "t-%s-s1" % TEN
fake.post("space", space(1))
fake.post("identity", ident(1, 1))        # used below
fake.post("identity", ident(2, 1))        # never used

# a local (CLI) space of the same tenant, with a key that is used too
r = p.cli("space", "create", "--tenant", TEN, "--name", "local")
LOCAL = (r.json or {}).get("id")
LBUCKET = (r.json or {}).get("bucket")
r = p.cli("key", "create", "--space", LOCAL, "--name", "lw", "--mode",
          "read-write")
LKEY, LAK, LSK = [(r.json or {}).get(k) for k in
                  ("id", "access_key_id", "secret_access_key")]
tap.ok(LOCAL and LKEY and LSK, "a local space and key (CLI)")

logs = []
daemons = []


def start_daemon():
    path = os.path.join(st.dir, "daemon-%d.log" % len(logs))
    logs.append(path)
    d = subprocess.Popen([prov.BIN, "--config", conf, "run"],
                         stdout=open(path, "w"), stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    daemons.append(d)
    return d


def stop_daemon(d, sig=signal.SIGTERM):
    if d.poll() is None:
        d.send_signal(sig)
        d.wait(30)


def wait_for(cond, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    return cond()


def state():
    return fake.state()


def pushed_events(s=None):
    """Every audit event RustShare applied (batches are applied once by
    Idempotency-Key), in arrival order."""
    s = s or state()
    return [e for doc in s["pushed"]["audit"] for e in doc["events"]]


def stream_ids(space_id):
    """Event ids in the audit stream of one space (the gateway's and the
    provisioner's control events)."""
    return [f["id"] for _, f in R.xrange("objspace:audit")
            if f.get("space") == space_id]


def audit_attempts(s=None):
    return [a for a in (s or state())["attempts"] if a["kind"] == "audit"]


def all_arrived(space_id):
    want = stream_ids(space_id)
    got = [e["id"] for e in pushed_events()]
    return want and all(i in got for i in want)


def status():
    r = p.cli("status", "--no-check")
    return (r.json or {}).get("push") or {}


def latest_usage(space_id):
    for doc in reversed(state()["pushed"]["usage"]):
        for s in doc["spaces"]:
            if s["space_id"] == space_id:
                return s
    return None


d = start_daemon()
tap.ok(wait_for(lambda: R.exists("objspace:ak:" + akid(1))),
       "daemon synced the RustShare space and keys")

# ------------------------------------------------------------ traffic

c1 = st.boto3_client(akid(1), SEC[1])
OBJ = "push-obj-%s" % SFX
sizes = {"a": 100, "b": 2000, "c": 30000}
for k, n in sizes.items():
    c1.put_object(Bucket=BUCKET1, Key="%s-%s" % (OBJ, k), Body=b"x" * n)
c1.get_object(Bucket=BUCKET1, Key=OBJ + "-a")["Body"].read()
c1.delete_object(Bucket=BUCKET1, Key=OBJ + "-c")
c1.list_objects_v2(Bucket=BUCKET1)
cl = st.boto3_client(LAK, LSK)
cl.put_object(Bucket=LBUCKET, Key=OBJ + "-local", Body=b"local")
EXPECT = (2100, 2)

# a second RustShare space, after the daemon's first usage reconcile: it is
# not measured until the next one (usage_interval = 300 s)
fake.post("space", space(2))

u = wait_for(lambda: (latest_usage(sid(1)) or {}).get("bytes") == EXPECT[0]
             and latest_usage(sid(1)), 20)
tap.is_((u or {}).get("bytes"), EXPECT[0],
        "usage pushed: bytes the gateway counted (100 + 2000)")
tap.is_((u or {}).get("objects"), EXPECT[1], "usage pushed: 2 objects")
cu = p.cli("usage", sid(1))
tap.is_(((cu.json or {}).get("bytes_used"), (cu.json or {}).get("objects")),
        EXPECT, "the same figures as `usage` shows")
u2 = wait_for(lambda: latest_usage(sid(2)), 20)
tap.ok(u2 is not None and u2["bytes"] is None and u2["objects"] is None,
       "a space not measured yet is pushed with null bytes/objects (%s)"
       % u2)
tap.ok(all(s["space_id"] != LOCAL for doc in state()["pushed"]["usage"]
           for s in doc["spaces"]), "usage: the local space is not pushed")

# ------------------------------------------------------------ key usage


def key_pushes(identity):
    return [k for doc in state()["pushed"]["key-usage"] for k in doc["keys"]
            if k["identity_id"] == identity]


def iso(unix_s):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(unix_s or 0)))


def key_current(identity):
    """The last push of identity carries its current last_used_at."""
    k = key_pushes(identity)
    lu = R.hget("objspace:lastused", identity)
    return k and lu and k[-1]["last_used_at"] == iso(lu) and k


k1 = wait_for(lambda: key_current(kid(1)), 20)
tap.ok(k1, "key usage: last_used_at pushed for the key that was used (%s)"
       % (k1[-1] if k1 else key_pushes(kid(1))))
n1 = len(key_pushes(kid(1)))
time.sleep(4)                       # two more push intervals
tap.is_(key_pushes(kid(2)), [], "key usage: nothing for the unused key")
tap.is_(key_pushes(LKEY), [], "key usage: nothing for the local key")
tap.is_(len(key_pushes(kid(1))), n1,
        "key usage: not sent again while it did not move")
tap.is_(R.scard("objspace:prov:rs:push:keys"), 0,
        "key usage: nothing left to send (objspace:prov:rs:push:keys)")

# ------------------------------------------------------------ audit


def exactly_once(space_id):
    ids = [e["id"] for e in pushed_events()]
    want = stream_ids(space_id)
    return [i for i in want if ids.count(i) != 1]


tap.ok(wait_for(lambda: all_arrived(sid(1)), 20),
       "audit: every event of the RustShare space arrived")
ev = [e for e in pushed_events() if e.get("space") == sid(1)]
ops = set(e.get("op") for e in ev)
tap.ok({"PutObject", "GetObject", "DeleteObject", "ListObjectsV2"} <= ops,
       "audit: the requests' events (%s)" % sorted(ops))
tap.ok(any(e.get("key") == OBJ + "-a" and e.get("identity") == kid(1)
           for e in ev), "audit: events carry the object name and key id")
tap.is_(exactly_once(sid(1)), [], "audit: each event exactly once (by id)")
ctl = [e for e in ev if e.get("kind") == "control"]
tap.is_(sorted((e.get("op"), e.get("identity") or "") for e in ctl),
        [("key.created", kid(1)), ("key.created", kid(2)),
         ("space.created", "")],
        "audit: the control events of what the daemon applied from "
        "RustShare go back to it too (RustShare sees its change applied)")
tap.ok(ctl and all(e.get("actor") == "rustshare"
                   and isinstance(e.get("revision"), int) for e in ctl),
       "audit: with actor rustshare and the revision applied")
tap.ok(not any(e.get("space") == LOCAL for e in pushed_events()),
       "audit: no event of the local space is shipped")
tap.ok(all(len(doc["events"]) <= 500 for doc in state()["pushed"]["audit"]),
       "audit: at most 500 events per batch")
dump = json.dumps(state()["pushed"])
tap.ok(akid(1) not in dump and LAK not in dump and TOKEN not in dump
       and not any(s in dump for s in SEC.values()),
       "pushes carry no access key id, secret or token")
s = status()
tap.ok(s.get("audit", {}).get("result") == "ok"
       and s["audit"].get("backlog_events") == 0
       and s.get("usage", {}).get("result") == "ok"
       and s.get("key_usage", {}).get("result") == "ok",
       "status --json: last push per kind ok, no audit backlog")

# 500s: retried on later ticks under the same batch id, applied once
fake.post("fail", {"path_prefix": "/v1/objspace/audit", "status": 500,
                   "count": 3})
n0 = len(audit_attempts())
c1.put_object(Bucket=BUCKET1, Key=OBJ + "-d", Body=b"d" * 10)
wait_for(lambda: any(a["status"] == 500 for a in audit_attempts()[n0:]), 20)
s = wait_for(lambda: status().get("audit", {}).get("result") == "error"
             and status(), 5) or status()
tap.ok(s.get("audit", {}).get("result") == "error"
       and "HTTP 500" in s["audit"].get("error", "")
       and s["audit"].get("backlog_events", 0) >= 1,
       "status while RustShare answers 500: audit error and a backlog (%s)"
       % s.get("audit"))
r = p.cli("status", "--no-check", json_out=False)
tap.like(r.stdout, r"Push audit: error at .*HTTP 500.*backlog [1-9]",
         "status (text): the audit push error and backlog")
tap.ok(wait_for(lambda: all_arrived(sid(1)), 30),
       "after three 500s the batch is accepted")
att = audit_attempts()[n0:]
keys = set(a["key"] for a in att)
tap.ok(len(att) >= 4 and len(keys) == 1
       and [a["status"] for a in att[:3]] == [500, 500, 500],
       "the failed batch is re-sent with the same Idempotency-Key (%s)"
       % [(a["status"], a["key"][:8]) for a in att])
tap.is_(exactly_once(sid(1)), [], "audit: still each event exactly once")

# a timeout after which RustShare had applied the batch: the retry carries
# the same batch id and RustShare de-duplicates it
fake.post("fail", {"path_prefix": "/v1/objspace/audit", "delay": 2.5,
                   "count": 1})
n0 = len(audit_attempts())
c1.put_object(Bucket=BUCKET1, Key=OBJ + "-e", Body=b"e" * 10)
tap.ok(wait_for(lambda: all_arrived(sid(1))
                and len(audit_attempts()[n0:]) >= 2, 30),
       "a timed-out batch arrives")
att = audit_attempts()[n0:]
tap.ok(len(set(a["key"] for a in att)) == 1
       and sorted(a["duplicate"] for a in att) == [False, True],
       "the timed-out batch was sent again under its id and applied once "
       "(%s)" % att)
tap.is_(exactly_once(sid(1)), [], "audit: still each event exactly once")

# RustShare's audit endpoint timing out keeps the rest of the loop going:
# a change made in RustShare meanwhile still reaches Redis within seconds
fake.post("fail", {"path_prefix": "/v1/objspace/audit", "delay": 2.5,
                   "count": 2})
c1.put_object(Bucket=BUCKET1, Key=OBJ + "-t", Body=b"t" * 10)
time.sleep(1.5)                     # the daemon is in its first timeout
t0 = time.time()
fake.post("identity", dict(ident(2, 1), name="renamed"))
applied = wait_for(lambda: R.hget("objspace:ak:" + akid(2), "name")
                   == "renamed", 15)
took = time.time() - t0
tap.ok(applied and took < 6, "a sync is applied while audit pushes time "
       "out (%.1fs)" % took)
tap.ok(wait_for(lambda: all_arrived(sid(1)) and status().get(
    "audit", {}).get("backlog_events") == 0, 40),
    "after the timeouts the batch arrives and leaves the queue")
tap.is_(exactly_once(sid(1)), [], "audit: still each event exactly once")

# SIGKILL while a batch keeps failing: after the restart the same batch id
fake.post("fail", {"path_prefix": "/v1/objspace/audit", "status": 503,
                   "count": 2})
n0 = len(audit_attempts())
c1.put_object(Bucket=BUCKET1, Key=OBJ + "-f", Body=b"f" * 10)
wait_for(lambda: any(a["status"] == 503 for a in audit_attempts()[n0:]), 20)
failed_key = next((a["key"] for a in audit_attempts()[n0:]
                   if a["status"] == 503), None)
stop_daemon(d, signal.SIGKILL)
d = start_daemon()
tap.ok(wait_for(lambda: all_arrived(sid(1)), 40),
       "after a SIGKILL and a restart the failing batch arrives")
att = audit_attempts()[n0:]
tap.ok(failed_key and any(a["key"] == failed_key and a["status"] == 200
                          and not a["duplicate"] for a in att),
       "the batch that failed before the kill is accepted under the same id")
tap.is_(exactly_once(sid(1)), [], "audit: still each event exactly once")

# a restart does not send again what RustShare acknowledged
wait_for(lambda: status().get("audit", {}).get("backlog_events") == 0)
acked = set(a["key"] for a in audit_attempts() if a["status"] == 200)
n0 = len(audit_attempts())
stop_daemon(d)
d = start_daemon()
c1.put_object(Bucket=BUCKET1, Key=OBJ + "-g", Body=b"g" * 10)
tap.ok(wait_for(lambda: all_arrived(sid(1)), 30),
       "restarted daemon: the new event arrives")
time.sleep(3)
after = audit_attempts()[n0:]
tap.ok(after and not any(a["key"] in acked for a in after),
       "restarted daemon: no acknowledged batch is sent again (%d new "
       "requests)" % len(after))
tap.is_(exactly_once(sid(1)), [], "audit: still each event exactly once")
tap.ok(not any(e.get("space") == LOCAL for e in pushed_events()),
       "audit: still no event of the local space")

# key usage after a restart: only what moved is sent
n1 = len(key_pushes(kid(1)))
time.sleep(1.2)
c1.get_object(Bucket=BUCKET1, Key=OBJ + "-a")["Body"].read()
tap.ok(wait_for(lambda: len(key_pushes(kid(1))) > n1, 20),
       "key usage: a key used again is pushed again")
tap.ok(wait_for(lambda: key_current(kid(1)), 20),
       "key usage: with its new last_used_at")
tap.is_(key_pushes(kid(2)), [], "key usage: still nothing for the unused key")

# RustShare deletes a space: the control event (written after the space
# left objspace:prov:rs:spaces) still goes, as the space was RustShare's
fake.post("delete", {"type": "space", "id": sid(2)})


def deleted_in_stream(space_id):
    return any(f.get("op") == "space.deleted" and f.get("space") == space_id
               for _, f in R.xrange("objspace:audit"))


tap.ok(wait_for(lambda: deleted_in_stream(sid(2)) and all_arrived(sid(2)),
                30), "the deleted RustShare space's events arrive")
tap.is_([e.get("op") for e in pushed_events() if e.get("space") == sid(2)
         and e.get("kind") == "control"], ["space.created", "space.deleted"],
        "audit: the space's space.created and space.deleted are shipped")
tap.is_(exactly_once(sid(2)), [], "audit: each of them exactly once")

stop_daemon(d)
text = ""
for path in logs:
    with open(path) as f:
        text += f.read()
tap.ok(TOKEN not in text and not any(s in text for s in SEC.values())
       and LSK not in text, "daemon log: no token, no secret")
tap.ok(akid(1) not in text and akid(2) not in text and LAK not in text,
       "daemon log: no access key id")
tap.ok(OBJ not in text, "daemon log: no object name")
tap.unlike(text, r"\[(alert|crit)\]", "daemon log: no alert")

# ------------------------------------------------------------ config

bad = os.path.join(st.dir, "bad.conf")
for v, msg in (("0", 'invalid push_interval "0", it must be 1 to 86400'),
               ("86401", 'invalid push_interval "86401"'),
               ("1m", 'invalid number "1m"')):
    provtest.rustshare_config(p, fake.url, token_file, HO, path=bad,
                              push_interval=v)
    r = subprocess.run([prov.BIN, "--config", bad, "run", "--once"],
                       capture_output=True, text=True)
    tap.ok(r.returncode != 0 and msg in r.stderr,
           "push_interval = %s refused (%s)" % (v, r.stderr.strip()[-120:]))

# ------------------------------------------------------------ valgrind

# 1,500 more RustShare spaces (records of the sync's own hash only: the
# usage push reads objspace:prov:rs:spaces and the usage counters): the
# usage push pages them, at most 1000 per POST
MANY = ["sp_%016x" % (0x7300000000000000 + i) for i in range(1500)]
R.hset("objspace:prov:rs:spaces", mapping={i: "0" * 32 for i in MANY})
nu = len(state()["pushed"]["usage"])

if shutil.which("valgrind"):
    c1.put_object(Bucket=BUCKET1, Key=OBJ + "-h", Body=b"h" * 10)
    c1.get_object(Bucket=BUCKET1, Key=OBJ + "-h")["Body"].read()
    time.sleep(0.5)
    R.hdel("objspace:prov:rs:push", "keys_seeded")  # the seeding path too
    r = subprocess.run(["valgrind", "-q", "--leak-check=full",
                        "--errors-for-leak-kinds=definite,indirect",
                        "--error-exitcode=9", prov.BIN, "--config", conf,
                        "run", "--once"], capture_output=True, text=True,
                       timeout=300)
    tap.ok(r.returncode == 0, "valgrind: a daemon pass with pushes (queue, "
           "send, key usage, usage) is clean (%s)" % r.stderr.strip()[-300:])
    tap.ok(all_arrived(sid(1)), "valgrind pass: the new events arrived")
else:
    r = subprocess.run([prov.BIN, "--config", conf, "run", "--once"],
                       capture_output=True, text=True, timeout=300)
    tap.skip("valgrind not installed", 2)

docs = state()["pushed"]["usage"][nu:]
got = [s["space_id"] for doc in docs for s in doc["spaces"]]
tap.ok([len(doc["spaces"]) for doc in docs] == [1000, 501]
       and set(MANY + [sid(1)]) == set(got) and len(got) == 1501,
       "usage of 1501 spaces pushed in pages of 1000 (%s)"
       % [len(doc["spaces"]) for doc in docs])
R.hdel("objspace:prov:rs:spaces", *MANY)

fake.stop()
tap.ok(not st.alerts(), "no [alert] in the nginx error log")
tap.done_testing()

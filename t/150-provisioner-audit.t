#!/usr/bin/python3
# objspace-provisioner audit trail, against a real redis-server and Ceph RGW:
# control-plane events (space created/disabled/enabled/deleted, key
# created/revoked/rotated/expired/deleted, public access and quota changed)
# land in the stream objspace:audit with no secret; the daemon consumes the
# stream (group "provisioner") into per-tenant JSON Lines files and acks
# only after fsync; a daemon killed between write and XACK, or a torn last
# line, does not duplicate or lose an event; duplicate event ids are
# written once; last_used_at comes from the stream (objspace:lastused);
# "audit --tenant T" never shows another tenant's object names or
# identities (crafted tenants, names and filters); the daemon is valgrind
# clean on these paths.
#
# Request events are XADDed by this test exactly as docs/redis-schema.md
# ("Audit stream") specifies for the gateway, so the consumer is tested on
# its own (t/5xx test the module's emission).

import atexit
import glob
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import stack  # noqa: E402
import tap    # noqa: E402

import redis  # noqa: E402

BIN = os.path.join(stack.BUILD, "objspace-provisioner")

r = subprocess.run(["make", "-s", "-C", os.path.join(stack.ROOT,
                                                     "provisioner")],
                   capture_output=True, text=True)
if r.returncode != 0:
    tap.plan(skip_all="cannot build the provisioner: " + r.stderr[-300:])

st = stack.Stack()
if not stack.start_or_fail(st, nginx=False):
    sys.exit(1)

R = redis.Redis(host="127.0.0.1", port=st.redis_port, decode_responses=True)
R.delete("objspace:audit", "objspace:lastused", "objspace:prov:expired")

AUDIT = os.path.join(st.dir, "audit")
creds = os.path.join(st.dir, "storage.creds")
with open(creds, "w") as f:
    f.write("access_key = %s\nsecret_key = %s\n"
            % (st.rgw_env["RGW_ADMIN_ACCESS_KEY"],
               st.rgw_env["RGW_ADMIN_SECRET_KEY"]))
os.chmod(creds, 0o600)

conf = os.path.join(st.dir, "provisioner.conf")
with open(conf, "w") as f:
    f.write("""redis = %s
key_file = %s
region = %s
endpoint = http://127.0.0.1:18080
storage = rgw
storage_endpoint = %s
storage_credentials_file = %s
reconcile_interval = 1
lease_ttl = 3
usage_interval = 1
audit_dir = %s
""" % (st.redis_addr, st.key_file, st.region, st.rgw_endpoint, creds,
       AUDIT))

SUFFIX = os.urandom(3).hex()
TA, TB = "ta" + SUFFIX, "tb" + SUFFIX
secrets_seen = []
logs = []


def cli(*args, json_out=False, expect=0, env=None, valgrind=False):
    argv = [BIN, "--config", conf] + (["--json"] if json_out else []) \
        + list(args)
    if valgrind:
        argv = VALGRIND + argv
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                       env=env)
    logs.append(p.stderr)
    if expect is not None and p.returncode != expect:
        tap.diag("%s -> %d (expected %d)\nstdout: %s\nstderr: %s"
                 % (" ".join(args), p.returncode, expect, p.stdout[-1500:],
                    p.stderr[-1500:]))
    p.json = None
    if json_out and p.returncode == 0:
        try:
            p.json = json.loads(p.stdout)
        except ValueError as e:
            tap.diag("bad JSON from %s: %s\n%s" % (args, e, p.stdout[:500]))
    return p


def control_events():
    return [f for _, f in R.xrange("objspace:audit")
            if f.get("kind") == "control"]


def find(events, op, **kw):
    return [e for e in events if e.get("op") == op
            and all(e.get(k) == v for k, v in kw.items())]


VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite"]
HAVE_VALGRIND = shutil.which("valgrind") is not None

# ------------------------------------------------------------- control events

ra = cli("space", "create", "--tenant", TA, "--name", "alpha", "--quota",
         "10M", json_out=True)
rb = cli("space", "create", "--tenant", TB, "--name", "beta", json_out=True)
tap.ok(ra.json and rb.json, "two tenants' spaces created")
SA, SB = (ra.json or {}).get("id", ""), (rb.json or {}).get("id", "")
BA, BB = (ra.json or {}).get("bucket", ""), (rb.json or {}).get("bucket", "")

ka = cli("key", "create", "--space", SA, "--name", "writer", "--mode",
         "read-write", json_out=True)
kb = cli("key", "create", "--space", SB, "--name", "writer", "--mode",
         "read-write", json_out=True)
kx = cli("key", "create", "--space", SA, "--name", "short", "--mode",
         "read-only", "--expires", "1s", json_out=True)
ke = cli("key", "create", "--space", SA, "--name", "expiring", "--mode",
         "read-only", "--expires", "1s", json_out=True)
KA, KB, KX, KE = [(k.json or {}).get("id", "") for k in (ka, kb, kx, ke)]
AKA, AKB = (ka.json or {}).get("access_key_id", ""), \
    (kb.json or {}).get("access_key_id", "")
for k in (ka, kb, kx, ke):
    secrets_seen.append((k.json or {}).get("secret_access_key"))

rot = cli("key", "rotate", KA, "--grace", "10m", json_out=True)
secrets_seen.append((rot.json or {}).get("secret_access_key"))
cli("key", "revoke", KX)
cli("space", "public", SA, "on")
cli("space", "quota", SA, "20M")
cli("space", "disable", SB)
cli("space", "enable", SB)
kd = cli("key", "create", "--space", SB, "--name", "gone", "--mode",
         "read-only", json_out=True)
secrets_seen.append((kd.json or {}).get("secret_access_key"))
KD = (kd.json or {}).get("id", "")
cli("key", "delete", KD)

ev = control_events()
tap.ok(find(ev, "space.created", tenant=TA, space=SA, bucket=BA)
       and find(ev, "space.created", tenant=TB, space=SB),
       "space.created for both spaces (tenant, space, bucket)")
tap.ok(find(ev, "key.created", tenant=TA, space=SA, identity=KA),
       "key.created names the identity id")
tap.ok(find(ev, "key.rotated", identity=KA, tenant=TA), "key.rotated")
tap.ok(find(ev, "key.revoked", identity=KX, tenant=TA), "key.revoked")
tap.ok(find(ev, "public.changed", space=SA, detail="public"),
       "public.changed with the new visibility")
tap.ok(find(ev, "quota.changed", space=SA,
            detail="quota_bytes %d" % (20 << 20)), "quota.changed")
tap.ok(find(ev, "space.disabled", space=SB)
       and find(ev, "space.enabled", space=SB), "space.disabled/enabled")
tap.ok(find(ev, "key.deleted", identity=KD), "key.deleted")
tap.ok(all(e.get("id", "").startswith("ctl-") and e.get("ts", "").isdigit()
           and e.get("actor") == "cli" for e in ev),
       "control events: ctl- ids, ts in ms, actor cli")
tap.ok(len(set(e["id"] for e in ev)) == len(ev), "event ids are unique")
dump = json.dumps(R.xrange("objspace:audit"))
tap.ok(all(s and s not in dump for s in secrets_seen)
       and AKA not in dump and AKB not in dump,
       "no secret and no access key id in the stream")

# ------------------------------------------------------------- request events

now_ms = int(time.time() * 1000)
WORKER = os.urandom(8).hex()
seq = [0]


def req(tenant, space, identity, key, decision="allow", status="200",
        ts=None, evid=None, **extra):
    seq[0] += 1
    f = {"id": evid or "%s-%d" % (WORKER, seq[0]),
         "ts": str(ts or now_ms + seq[0]), "kind": "request",
         "tenant": tenant, "space": space, "identity": identity,
         "op": "PutObject", "bucket": BA if tenant == TA else BB,
         "key": key, "ip": "127.0.0.1", "ua": "test/1.0", "status": status,
         "bytes_in": "10", "bytes_out": "0", "request_id": os.urandom(8).hex(),
         "decision": decision, "reason": "" if decision == "allow"
         else "mode", "worker": WORKER, "seq": str(seq[0]), "node": "t"}
    f.update(extra)
    f = {k: v for k, v in f.items() if v != ""}
    return R.xadd("objspace:audit", f)


B_NAME = "b-private-report-%s.pdf" % SUFFIX
A_EVIL = "a-obj\n{\"tenant\":\"%s\",\"key\":\"%s\"}\x1b[2J" % (TB, B_NAME)
req(TA, SA, KA, "a-first-%s.txt" % SUFFIX)
req(TB, SB, KB, B_NAME)
req(TA, SA, KA, A_EVIL)
req(TB, SB, KB, "b-second-%s" % SUFFIX)
req("../" + TB, SA, KA, "traversal-%s" % SUFFIX)     # not a tenant: no file
req("", "", "", "anon-%s" % SUFFIX, decision="deny", status="403")
last_allowed = now_ms + 1000
req(TA, SA, KA, "a-late-%s" % SUFFIX, ts=last_allowed)
req(TA, SA, KA, "a-denied-%s" % SUFFIX, decision="deny", status="403",
    ts=last_allowed + 60000)
DUP = "%s-dup" % WORKER
req(TA, SA, KA, "a-dup-%s" % SUFFIX, evid=DUP)
req(TA, SA, KA, "a-dup-%s" % SUFFIX, evid=DUP)         # a replayed event
total_events = R.xlen("objspace:audit")

# ------------------------------------------------------------- consume

daemons = []
atexit.register(lambda: [p.kill() for p in daemons if p.poll() is None])


def start_daemon(env=None, use_valgrind=False):
    argv = [BIN, "--config", conf, "run"]
    if use_valgrind:
        argv = VALGRIND + argv
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, **(env or {})))
    daemons.append(p)
    return p


def stop_daemon(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    err = p.stderr.read()
    logs.append(err)
    return err


def pending():
    try:
        return R.xpending("objspace:audit", "provisioner")["pending"]
    except redis.ResponseError:
        return -1


def wait_for(cond, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def group_lag():
    for g in R.xinfo_groups("objspace:audit"):
        if g["name"] == "provisioner":
            return g["last-delivered-id"] == \
                R.xinfo_stream("objspace:audit")["last-generated-id"]
    return False


def lines(tenant):
    out = []
    for path in sorted(glob.glob(os.path.join(AUDIT, tenant, "*.jsonl"))):
        with open(path, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            out.append({"__torn__": True})
        for ln in data.splitlines():
            try:
                out.append(json.loads(ln))
            except ValueError:
                out.append({"__bad__": ln})
    return out


d = start_daemon()
tap.ok(wait_for(lambda: group_lag() and pending() == 0),
       "daemon consumed the stream and acknowledged everything")
tap.ok(wait_for(lambda: R.hget("objspace:lastused", KA) is not None, 10),
       "last_used_at written to objspace:lastused")
tap.ok(wait_for(lambda: find(control_events(), "key.expired", identity=KE),
                15), "the daemon reports an expired key (key.expired)")
time.sleep(2.5)             # more reconcile passes
err = stop_daemon(d)

la, lb = lines(TA), lines(TB)
tap.ok(la and all(x.get("tenant") == TA for x in la),
       "tenant A's file holds only tenant A's events")
tap.ok(lb and all(x.get("tenant") == TB for x in lb),
       "tenant B's file holds only tenant B's events")
tap.ok(not any("__bad__" in x or "__torn__" in x for x in la + lb),
       "every line is one complete JSON object")
tap.ok(any(x.get("key") == A_EVIL for x in la),
       "a crafted object name round-trips as one line")
tap.ok(B_NAME not in json.dumps(la) or all(
    x.get("key") != B_NAME for x in la), "B's object name is not A's event")
tap.ok(not os.path.exists(os.path.join(AUDIT, "..", TB))
       and not os.path.exists(os.path.join(os.path.dirname(AUDIT), TB)),
       "a tenant field with ../ does not escape audit_dir")
un = lines("_unattributed")
tap.ok(any(x.get("key") == "traversal-%s" % SUFFIX for x in un)
       and any(x.get("key") == "anon-%s" % SUFFIX for x in un),
       "events without a valid tenant go to _unattributed")
ids = [x.get("id") for x in la + lb + un]
tap.is_(ids.count(DUP), 1, "a duplicated event id is written once")
stream_ids = [x.get("stream_id") for x in la + lb + un]
tap.is_(len(stream_ids), R.xlen("objspace:audit") - 1,
        "every stream entry is in exactly one file (minus the duplicate)")
tap.ok(all(isinstance(x.get("ts"), int) and x.get("time") for x in la),
       "lines carry ts (ms) and an ISO time")
tap.ok(find([x for x in la if x.get("kind") == "control"], "key.rotated",
            identity=KA), "control events are in the tenant's file too")
tap.is_(R.hget("objspace:lastused", KA), str(last_allowed // 1000),
        "last_used_at: latest allowed request (a later denial does not "
        "count)")
kshow = cli("key", "show", KA, json_out=True)
tap.ok((kshow.json or {}).get("last_used_at"), "key show --json has "
       "last_used_at")
exp = find(control_events(), "key.expired")
tap.ok(len(find(exp, "key.expired", identity=KE)) == 1
       and find(exp, "key.expired", identity=KE)[0].get("actor") == "daemon"
       and find(exp, "key.expired", identity=KE)[0].get("tenant") == TA,
       "key.expired once per key, actor daemon, with its tenant")
tap.ok(not find(exp, "key.expired", identity=KX),
       "a revoked key is not reported as expired")
tap.ok(not [s for s in secrets_seen if s and s in err],
       "the daemon logged no secret")
tap.ok(B_NAME not in err and "a-first" not in err,
       "the daemon logged no object name")

# ------------------------------------------------------------- crash safety


def counts(tenant):
    c = {}
    for x in lines(tenant):
        c[x.get("id")] = c.get(x.get("id"), 0) + 1
    return c


# killed (SIGKILL) after the batch is written and fsynced, before XACK
batch = [req(TA, SA, KA, "crash-%d-%s" % (i, SUFFIX)) for i in range(5)]
d = start_daemon(env={"OBJSPACE_PROV_TEST_KILL_BEFORE_ACK": "1"})
d.wait(timeout=60)
logs.append(d.stderr.read())
tap.is_(d.returncode, -9, "test hook: the daemon died between write and ack")
c = counts(TA)
crash_ids = ["%s-%d" % (WORKER, n) for n in range(seq[0] - 4, seq[0] + 1)]
tap.ok(all(c.get(i) == 1 for i in crash_ids),
       "the batch was on disk before the crash")
tap.ok(pending() >= 5, "and still pending in the group (not acked)")

# a torn last line, as a crash in the middle of a write leaves it
newest = sorted(glob.glob(os.path.join(AUDIT, TA, "*.jsonl")))[-1]
with open(newest, "ab") as f:
    f.write(b'{"stream_id":"1-0","id":"torn-' + SUFFIX.encode())
after = [req(TA, SA, KA, "after-%d-%s" % (i, SUFFIX)) for i in range(3)]

d = start_daemon()
tap.ok(wait_for(lambda: group_lag() and pending() == 0),
       "restarted daemon acknowledged the redelivered entries")
err = stop_daemon(d)
c = counts(TA)
tap.ok(all(c.get(i) == 1 for i in crash_ids),
       "redelivered entries are not written twice")
tap.ok(all(c.get("%s-%d" % (WORKER, n)) == 1
           for n in range(seq[0] - 2, seq[0] + 1)),
       "new entries after the restart are written once")
tap.ok(not any("__bad__" in x or "__torn__" in x for x in lines(TA))
       and "torn-" + SUFFIX not in json.dumps(lines(TA)),
       "the torn line was cut off; every line is complete")
tap.ok("torn last line" in err, "and the cut was logged")
tap.ok(all(v == 1 for v in c.values()), "no event id twice in A's files")

# ------------------------------------------------------------- audit CLI

ra = cli("audit", "--tenant", TA, json_out=True)
rb = cli("audit", "--tenant", TB, json_out=True)
A_OUT, B_OUT = ra.stdout, rb.stdout
tap.ok(isinstance(ra.json, list) and isinstance(rb.json, list)
       and ra.json and rb.json, "audit --tenant T --json: a JSON array")
tap.ok(all(x.get("tenant") == TA for x in ra.json or [])
       and all(x.get("tenant") == TB for x in rb.json or []),
       "each tenant sees only its own events")
tap.ok(KB not in A_OUT and SB not in A_OUT and "b-second" not in A_OUT
       and not any(x.get("key") == B_NAME for x in ra.json or []),
       "A never sees B's identity, space or object names")
tap.ok(KA not in B_OUT and SA not in B_OUT and "a-first" not in B_OUT
       and "crash-" not in B_OUT, "B never sees A's identity, space or "
       "object names")
tap.ok("traversal-" not in A_OUT + B_OUT and "anon-" not in A_OUT + B_OUT,
       "unattributed events are shown to nobody")
tap.ok(any(x.get("key") == A_EVIL for x in ra.json or []),
       "A sees its own crafted name intact in JSON")
rt = cli("audit", "--tenant", TA)
evil_lines = [ln for ln in rt.stdout.splitlines() if "a-obj" in ln]
tap.ok(len(evil_lines) == 1 and "\\x0a" in evil_lines[0]
       and "\x1b" not in rt.stdout,
       "text output: a newline or escape in a name cannot fake a line")
tap.is_(len(rt.stdout.splitlines()), len(ra.json or []),
        "text output: one line per event")
for bad in ("../" + TB, TB + "/..", "_unattributed", "", "TA", "a b"):
    r = cli("audit", "--tenant", bad, expect=2)
    tap.ok(r.returncode == 2 and not r.stdout.strip().startswith("[{"),
           "crafted --tenant %r refused" % bad)
r = cli("audit", "--tenant", TA, "--space", SB, json_out=True)
tap.ok(r.json == [], "--space of another tenant's id: nothing")
for ref in (BB, TB + "/beta"):
    r = cli("audit", "--tenant", TA, "--space", ref, expect=3)
    tap.is_(r.returncode, 3, "--space %s (B's) for tenant A: unknown" % ref)
r = cli("audit", "--tenant", TA, "--key", AKB, expect=3)
tap.is_(r.returncode, 3, "--key with B's access key id for A: unknown")
r = cli("audit", "--tenant", TA, "--key", KB, json_out=True)
tap.ok(r.json == [], "--key with B's key id for A: nothing")
r = cli("audit", "--tenant", TA, "--key", AKA, json_out=True)
tap.ok(r.json and all(x.get("identity") == KA for x in r.json),
       "--key by access key id (A's own)")
r = cli("audit", "--tenant", TA, "--space", "alpha", json_out=True)
tap.ok(r.json and all(x.get("space") == SA for x in r.json),
       "--space by name")
r = cli("audit", "--tenant", TA, "--since", str(last_allowed // 1000 + 30),
        json_out=True)
tap.ok(r.json is not None and all(x.get("ts") >= last_allowed + 30000
                                  for x in r.json)
       and any(x.get("key") == "a-denied-%s" % SUFFIX for x in r.json),
       "--since (unix seconds) filters by event time")
r = cli("audit", "--tenant", TA, "--since", "yesterday", expect=2)
tap.is_(r.returncode, 2, "bad --since refused")
r = cli("audit", "--tenant", "nobody-" + SUFFIX, json_out=True)
tap.ok(r.json == [], "a tenant without files: empty list")

# ------------------------------------------------------------- valgrind

if HAVE_VALGRIND:
    for i in range(3):
        req(TA, SA, KA, "vg-%d-%s" % (i, SUFFIX))
    req(TB, SB, KB, "vg-b-%s" % SUFFIX)
    R.hset("objspace:usage:" + SA, mapping={"bytes": 5, "objects": 1})
    vg = cli("run", "--once", valgrind=True, expect=None)
    tap.is_(vg.returncode, 0, "valgrind: daemon pass (audit, usage, expiry, "
            "reconcile) without memory errors or definite leaks")
    if vg.returncode != 0:
        tap.diag(vg.stderr[-3000:])
    tap.ok(group_lag() and pending() == 0, "valgrind pass consumed the "
           "stream")
    vg = cli("audit", "--tenant", TA, "--key", AKA, "--since", "1d",
             valgrind=True, expect=None)
    tap.is_(vg.returncode, 0, "valgrind: audit CLI clean")
    vg = cli("usage", SA, "--json", valgrind=True, expect=None)
    tap.is_(vg.returncode, 0, "valgrind: usage CLI clean")
else:
    tap.ok(False, "valgrind is installed (make deps)")

alltext = "\n".join(logs)
tap.ok(not [s for s in secrets_seen if s and s in alltext],
       "no secret in any provisioner log")
for s in secrets_seen:
    if s:
        tap.ok(not any(s.encode() in open(p, "rb").read() for p in
                       glob.glob(os.path.join(AUDIT, "*", "*.jsonl"))),
               "no secret in the audit files")
        break

cli("space", "delete", SA)
cli("space", "delete", SB)
tap.done_testing()

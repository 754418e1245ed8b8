#!/usr/bin/python3
# The mass-delete guard of a full RustShare snapshot, against a FAKE
# RustShare (provisioner/test/fake_rustshare.py, which follows
# docs/rustshare-api.md: RustShare is not available here).  Redis and Ceph
# RGW are real.
#
# A snapshot that would delete more than sync_max_delete_fraction (default
# 0.5) and more than sync_max_delete_min (default 10) of the spaces or of
# the identities applied from RustShare is refused whole, like any invalid
# set: nothing applied, the reason on stderr, in the daemon's log and in
# `status`; `sync --full --allow-mass-delete` applies it once; a tiny fleet
# (deletions within sync_max_delete_min) is never held back.

import os
import subprocess
import sys

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
PUB, _ = provtest.keygen(p, HO)
fake = provtest.FakeRustShare(TOKEN, PUB)
conf = provtest.rustshare_config(p, fake.url, token_file, HO,
                                 rustshare_page_size=50)

TEN = "t%s" % os.urandom(3).hex()
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def sid(n):
    return "sp_%016x" % (0x5d00000000000000 + n)


def kid(n):
    return "key_%016x" % (0x4d00000000000000 + n)


def akid(n):
    return "RS3GUARD" + B32[n // 32] + B32[n % 32] + "A" * 10


def space(n):
    return {"id": sid(n), "tenant_id": TEN, "name": "g%d" % n,
            "purpose": "generic", "visibility": "private", "quota_bytes": 0,
            "status": "active"}


def ident(n, sp):
    return {"id": kid(n), "access_key_id": akid(n), "space_id": sid(sp),
            "name": "k%d" % n, "permissions": "read-only", "prefix": "",
            "immutable": False, "status": "active", "expires_at": None,
            "secret_plain": SECRET}


def dump():
    """What a sync writes (not the daemon's usage, pushes, lease or
    status)."""
    return provtest.redis_dump(R, ("objspace:prov:rs:status",
                                   "objspace:prov:rs:push",
                                   "objspace:audit", "objspace:prov:lock",
                                   "objspace:prov:leader",
                                   "objspace:prov:status",
                                   "objspace:usage:"))


def status_error():
    s = p.cli("status", "--no-check")
    rs = (s.json or {}).get("rustshare") or {}
    return rs.get("result"), rs.get("error") or ""


SECRET = seed.new_secret_key().replace("+", "x").replace("/", "y")
seed.record_secret(TOKEN, SECRET)       # for t/990-secrets-sweep

# 3 spaces, 24 identities: 20 in space 1, 2 each in spaces 2 and 3
for n in (1, 2, 3):
    fake.post("space", space(n))
for n in range(24):
    fake.post("identity", ident(n, 1 if n < 20 else 2 if n < 22 else 3))
r = p.cli("sync")
tap.ok(r.returncode == 0 and r.json and r.json["spaces_written"] == 3
       and r.json["identities_written"] == 24,
       "first snapshot: 3 spaces, 24 identities (%s)" % r.stderr.strip())
rev0 = R.get("objspace:prov:rs:revision")

# ------------------------------------------------------------ identities

# RustShare "loses" 14 of the 24 identities, and its change log no longer
# reaches back (410), so the next pass is a full snapshot that would
# delete them: 14 > 10 and 14 > 0.5 * 24
for n in range(14):
    fake.post("delete", {"type": "identity", "id": kid(n)})
fake.post("compact")
before = dump()
r = p.cli("sync")
tap.ok(r.returncode == 1
       and "refusing RustShare revision" in r.stderr
       and "nothing applied" in r.stderr
       and "would delete 0 of 3 spaces and 14 of 24 identities" in r.stderr
       and "--allow-mass-delete" in r.stderr,
       "a snapshot deleting 14 of 24 identities is refused, reason and "
       "override named (%s)" % r.stderr.strip()[-300:])
tap.ok(dump() == before and R.get("objspace:prov:rs:revision") == rev0,
       "refused: nothing applied, the revision stays")
res, err = status_error()
tap.ok(res == "error" and "would delete 0 of 3 spaces and 14 of 24 "
       "identities" in err, "status shows the refusal (%s)" % err[-200:])

# the daemon refuses it the same way, and says so in its log
dconf = provtest.rustshare_config(p, fake.url, token_file, HO,
                                  path=os.path.join(st.dir, "daemon.conf"),
                                  rustshare_page_size=50,
                                  audit_dir=os.path.join(st.dir, "audit"))
dlog_path = os.path.join(st.dir, "daemon.log")
with open(dlog_path, "w") as dlog:
    d = subprocess.run([prov.BIN, "--config", dconf, "run", "--once"],
                       stdout=dlog, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=120)
with open(dlog_path) as f:
    text = f.read()
tap.ok("[error] rustshare: refusing RustShare revision" in text
       and "would delete 0 of 3 spaces and 14 of 24 identities" in text,
       "daemon: the refusal is in its log")
tap.ok(dump() == before, "daemon: nothing applied")
tap.ok(SECRET not in text and TOKEN not in text,
       "daemon log: no secret, no token")

# the fraction must be 0..1 (refused at start otherwise)
bad = provtest.rustshare_config(p, fake.url, token_file, HO,
                                path=os.path.join(st.dir, "bad.conf"),
                                sync_max_delete_fraction="1.5")
r = subprocess.run([prov.BIN, "--config", bad, "sync"], capture_output=True,
                   text=True)
tap.ok(r.returncode != 0 and "invalid fraction \"1.5\"" in r.stderr,
       "sync_max_delete_fraction out of 0..1 is refused (%s)"
       % r.stderr.strip())

# the operator's override: this pass only
r = p.cli("sync", "--full", "--allow-mass-delete")
tap.ok(r.returncode == 0 and r.json and r.json["identities_deleted"] == 14
       and not R.exists("objspace:ak:" + akid(0))
       and R.exists("objspace:ak:" + akid(14)),
       "sync --full --allow-mass-delete applies it (%s)" % r.stderr.strip())
res, err = status_error()
tap.is_(res, "ok", "status: ok again")

# ------------------------------------------------------------ spaces

# a tiny fleet: 2 of 3 spaces (and their 4 identities) go; within
# sync_max_delete_min (10) that is never held back ...
fake.post("delete", {"type": "space", "id": sid(2)})
fake.post("delete", {"type": "space", "id": sid(3)})
fake.post("compact")
small = provtest.rustshare_config(p, fake.url, token_file, HO,
                                  path=os.path.join(st.dir, "small.conf"),
                                  rustshare_page_size=50,
                                  sync_max_delete_min=1)
before = dump()
r = subprocess.run([prov.BIN, "--config", small, "sync"],
                   capture_output=True, text=True)
tap.ok(r.returncode == 1
       and "would delete 2 of 3 spaces and 4 of 10 identities" in r.stderr
       and "sync_max_delete_min 1" in r.stderr,
       "with sync_max_delete_min = 1, deleting 2 of 3 spaces is refused (%s)"
       % r.stderr.strip()[-200:])
tap.ok(dump() == before, "refused: nothing applied")

# ... and with the defaults it is applied
r = p.cli("sync")
tap.ok(r.returncode == 0 and r.json and r.json["mode"] == "snapshot"
       and r.json["spaces_deleted"] == 2
       and not R.exists("objspace:space:" + sid(2))
       and R.exists("objspace:space:" + sid(1)),
       "defaults: 2 of 3 spaces deleted (within sync_max_delete_min) (%s)"
       % r.stderr.strip())

# changes are explicit deletions: never held back (14 of 18 here)
for n in range(30, 42):
    fake.post("identity", ident(n, 1))
r = p.cli("sync")
tap.ok(r.returncode == 0 and r.json and r.json["identities_written"] == 12,
       "12 more identities (%s)" % r.stderr.strip())
for n in list(range(14, 20)) + list(range(30, 38)):
    fake.post("delete", {"type": "identity", "id": kid(n)})
r = p.cli("sync")
tap.ok(r.returncode == 0 and r.json and r.json["mode"] == "changes"
       and r.json["identities_deleted"] == 14
       and R.hlen("objspace:prov:rs:identities") == 4,
       "changes deleting 14 of 18 identities are applied (%s)"
       % r.stderr.strip())

fake.stop()
tap.ok(not st.alerts(), "no [alert] in the nginx error log")
tap.done_testing()

#!/usr/bin/python3
# The provisioner in RustShare mode against a FAKE RustShare
# (provisioner/test/fake_rustshare.py).  RustShare is not available here,
# so the fake implements exactly docs/rustshare-api.md: bearer token, paged
# snapshot pinned to a revision, changes since a revision (long poll,
# If-None-Match / 304, 410), push endpoints with Idempotency-Key, secrets
# sealed to the provisioner's hand-over key (RSA-OAEP + AES-256-GCM).
# Redis, Ceph RGW, nginx with the module and boto3 are real.
#
# Snapshot, incremental change, deletion, rotation grace, bad token (401),
# 500s and timeouts (retried with backoff; nothing half-applied), malformed
# JSON and invalid change sets (refused whole, nothing applied), TLS, push,
# and the daemon following the change feed.

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients   # noqa: E402
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

key = seed.read_key_file(st.key_file)
R = redis.Redis(host="127.0.0.1", port=st.redis_port, decode_responses=True)
p = prov.Provisioner(st)
rgw = seed.RGWAdmin(st.rgw_endpoint, st.rgw_env["RGW_ADMIN_ACCESS_KEY"],
                    st.rgw_env["RGW_ADMIN_SECRET_KEY"], st.region)

TOKEN, token_file = provtest.bearer_token(st)

# ------------------------------------------------------------ hand-over key

HO = os.path.join(st.dir, "handover.pem")
r = p.cli("handover", "keygen", HO, "--bits", "2048")
tap.ok(r.returncode == 0 and r.json and len(r.json.get("kid", "")) == 16
       and "BEGIN PUBLIC KEY" in r.json.get("public_key_pem", ""),
       "handover keygen prints the public key and a 16-hex kid")
tap.is_(oct(os.stat(HO).st_mode & 0o777), "0o600", "private key is 0600")
KID = (r.json or {}).get("kid")
PUB = HO + ".pub"
with open(PUB, "w") as f:
    f.write((r.json or {}).get("public_key_pem", ""))
r = p.cli("handover", "keygen", HO)
tap.ok(r.returncode == 4 and "never replaced" in r.stderr,
       "handover keygen refuses to overwrite an existing key")

fake = provtest.FakeRustShare(TOKEN, PUB)
conf = provtest.rustshare_config(p, fake.url, token_file, HO,
                                 rustshare_timeout=1, rustshare_retries=2,
                                 rustshare_page_size=2)
r = p.cli("handover", "pubkey")
tap.is_((r.json or {}).get("kid"), KID, "handover pubkey: same kid")

TEN = "t%s" % os.urandom(3).hex()


def sid(n):
    return "sp_%016x" % (0x5a00000000000000 + n)


def kid(n):
    return "key_%016x" % (0x4b00000000000000 + n)


def akid(n):
    return "RS3" + "TEST" + "ABCDEFGHIJKLM"[n % 13] + "A" * 11 + "Q"


def space(n, **kw):
    d = {"id": sid(n), "tenant_id": TEN, "name": "s%d" % n,
         "purpose": "generic", "visibility": "private", "quota_bytes": 0,
         "status": "active"}
    d.update(kw)
    return d


def ident(n, sp, secret, **kw):
    d = {"id": kid(n), "access_key_id": akid(n), "space_id": sid(sp),
         "name": "k%d" % n, "permissions": "read-write-delete", "prefix": "",
         "immutable": False, "status": "active", "expires_at": None,
         "secret_plain": secret}
    d.update(kw)
    return d


def sync(*args):
    r = p.cli("sync", *args)
    return r


def dump():
    return provtest.redis_dump(R, ("objspace:prov:rs:status",
                                   "objspace:audit", "objspace:prov:lock"))


def requests_since(n):
    """The API requests (not the test's /_fake/ ones) since the n-th."""
    return [q for q in fake.state()["requests"][n:]
            if q[1].startswith("/v1/")]


def works(n, secret, bucket):
    """A put + get through the gateway with identity n's secret."""
    c = st.boto3_client(akid(n), secret)
    try:
        c.put_object(Bucket=bucket, Key="k%d.txt" % n, Body=b"hello")
        return c.get_object(Bucket=bucket, Key="k%d.txt" % n)["Body"] \
            .read() == b"hello"
    except Exception as e:
        works.last = clients.error_code(e) or str(e)
        return False


works.last = None


def refused(n, secret, bucket):
    c = st.boto3_client(akid(n), secret)
    try:
        c.list_objects_v2(Bucket=bucket)
        return None
    except Exception as e:
        return clients.error_code(e)


SEC = {n: seed.new_secret_key().replace("+", "x").replace("/", "y")
       for n in range(1, 10)}
seed.record_secret(TOKEN, *SEC.values())       # for t/990-secrets-sweep
BUCKET1 = "t-%s-s1" % TEN          # prov.Provisioner: t-{tenant}-{name}
BUCKET2 = "t-%s-s2" % TEN

# ------------------------------------------------------------ snapshot

fake.post("space", space(1))
fake.post("space", space(2, quota_bytes=1 << 30))
fake.post("identity", ident(1, 1, SEC[1]))
fake.post("identity", ident(2, 1, SEC[2], permissions="read-only"))
fake.post("identity", ident(3, 2, SEC[3], prefix="ci/"))
r = sync()
tap.is_(r.returncode, 0, "first sync (snapshot) exits 0")
tap.ok(r.json and r.json["mode"] == "snapshot" and r.json["revision"] == 5
       and r.json["spaces_written"] == 2
       and r.json["identities_written"] == 3,
       "snapshot: revision 5, 2 spaces and 3 identities written")
tap.ok(r.json and r.json["requests"] == 3,
       "snapshot paged: 5 objects in pages of 2 = 3 requests (%s)"
       % (r.json or {}).get("requests"))
rec = R.hgetall("objspace:space:" + sid(1))
tap.is_((rec.get("tenant"), rec.get("bucket"), rec.get("status")),
        (TEN, BUCKET1, "active"), "space record published")
tap.is_(R.get("objspace:bucket:" + BUCKET1), sid(1), "bucket -> space id")
u = rgw.admin("GET", "user", {"uid": sid(2), "format": "json"})
tap.ok(u.get("user_id") == sid(2), "RGW user for the space exists")
tap.is_((u.get("user_quota") or {}).get("max_size"),
        seed.storage_quota(1 << 30),
        "storage quota a little above the gateway's (the gateway answers "
        "first)")
a = R.hgetall("objspace:ak:" + akid(3))
tap.is_((a.get("id"), a.get("space"), a.get("tenant"), a.get("mode"),
         a.get("prefix")), (kid(3), sid(2), TEN, "read-write-delete", "ci/"),
        "identity record published with its space's tenant")
tap.is_(seed.unseal(key, a.get("secret", ""), "ak:" + akid(3)), SEC[3],
        "the secret is re-sealed with the key file (AAD ak:{access key id})")
d = json.dumps(dump())
tap.ok(not any(s in d for s in SEC.values()),
       "no plaintext secret anywhere in Redis")
tap.is_(R.get("objspace:prov:rs:revision"), "5", "revision recorded")
tap.ok(works(1, SEC[1], BUCKET1),
       "identity 1 works through the gateway (%s)" % works.last)

# ------------------------------------------------------------ no change

n0 = len(fake.state()["requests"])
r = sync()
req = requests_since(n0)
tap.ok(r.returncode == 0 and r.json["mode"] == "unchanged"
       and len(req) == 1 and req[0][2] == 304,
       "nothing new: one changes request answered 304 (If-None-Match)")

# ------------------------------------------------------------ changes

ps = R.pubsub()
ps.subscribe("objspace:invalidate")
ps.get_message(timeout=1)
fake.post("identity", ident(2, 1, SEC[2], permissions="read-only",
                            status="revoked"))
fake.post("identity", ident(4, 2, SEC[4]))
fake.post("space", space(2, quota_bytes=2 << 30))
r = sync()
tap.ok(r.returncode == 0 and r.json["mode"] == "changes"
       and r.json["revision"] == 8 and r.json["identities_written"] == 2
       and r.json["spaces_written"] == 1,
       "incremental: 3 changes applied (revision 8)")
tap.is_(R.hget("objspace:ak:" + akid(2), "status"), "revoked",
        "revoked identity is revoked in Redis")
tap.is_(R.hget("objspace:space:" + sid(2), "quota_bytes"), str(2 << 30),
        "quota change applied")
tap.is_(((rgw.admin("GET", "user", {"uid": sid(2), "format": "json"})
          .get("user_quota") or {}).get("max_size")),
        seed.storage_quota(2 << 30),
        "changed storage quota a little above the gateway's")
msgs = set()
end = time.time() + 2
while time.time() < end:
    m = ps.get_message(timeout=0.2)
    if m and m["type"] == "message":
        msgs.add(m["data"])
tap.ok({"ak:" + akid(2), "ak:" + akid(4), "space:" + sid(2)} <= msgs,
       "every change published its invalidation")
code = refused(2, SEC[2], BUCKET1)
tap.ok(code in ("InvalidAccessKeyId", "AccessDenied"),
       "the revoked key is refused by the gateway (%s)" % code)
tap.ok(works(4, SEC[4], BUCKET2), "the new identity works (%s)" % works.last)

# rotation with a grace period: both secrets work
NEW1 = seed.new_secret_key().replace("+", "x").replace("/", "y")
seed.record_secret(NEW1)
until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 600))
fake.post("identity", ident(1, 1, NEW1, previous_secret_plain=SEC[1],
                            previous_secret_valid_until=until))
r = sync()
tap.is_(r.returncode, 0, "rotation with previous_secret applied")
tap.ok(works(1, NEW1, BUCKET1) and works(1, SEC[1], BUCKET1),
       "during the grace period both secrets work (%s)" % works.last)
fake.post("identity", ident(1, 1, NEW1))
sync()
tap.ok(works(1, NEW1, BUCKET1) and refused(1, SEC[1], BUCKET1)
       == "SignatureDoesNotMatch",
       "grace ended by RustShare: old secret refused, new works")

# ------------------------------------------------------------ deletion

fake.post("delete", {"type": "identity", "id": kid(3)})
r = sync()
tap.ok(r.returncode == 0 and r.json["identities_deleted"] == 1
       and not R.exists("objspace:ak:" + akid(3))
       and not R.exists("objspace:keyid:" + kid(3))
       and not R.sismember("objspace:idx:keys:" + sid(2), akid(3)),
       "identity deletion removes its records")
fake.post("delete", {"type": "space", "id": sid(2)})
r = sync()
tap.ok(r.returncode == 0 and r.json["spaces_deleted"] == 1
       and not R.exists("objspace:space:" + sid(2))
       and not R.exists("objspace:ak:" + akid(4))
       and not R.hexists("objspace:prov:rs:identities", kid(4)),
       "space deletion removes the space and its identities")
try:
    rgw.admin("GET", "user", {"uid": sid(2), "format": "json"})
    gone = False
except RuntimeError:
    gone = True
tap.ok(gone, "the deleted space's RGW user is gone")

# an identity and, later in the same set, the deletion of its space
fake.post("space", space(4))
sync()
fake.post("identity", ident(10, 4, SEC[1]))
fake.post("delete", {"type": "space", "id": sid(4)})
r = sync()
tap.ok(r.returncode == 0 and not R.exists("objspace:space:" + sid(4))
       and not R.exists("objspace:ak:" + akid(10)),
       "identity upsert + its space's deletion in one set: both gone")

# 410: the change log no longer reaches back -> full snapshot, which also
# finds what RustShare deleted meanwhile
fake.post("delete", {"type": "identity", "id": kid(2)})
fake.post("compact")
r = sync()
tap.ok(r.returncode == 0 and r.json["mode"] == "snapshot"
       and r.json["identities_deleted"] == 1
       and not R.exists("objspace:ak:" + akid(2)),
       "410 on changes -> snapshot; a deletion found by the snapshot")

# ------------------------------------------------------------ failures


def refused_whole(what, r, before, msg_like):
    after = dump()
    tap.ok(r.returncode != 0 and msg_like in r.stderr,
           "%s: refused with a clear error (%s)"
           % (what, r.stderr.strip()[-200:]))
    tap.ok(after == before, "%s: nothing applied" % what)
    s = p.cli("status", "--no-check")
    tap.ok(s.json and s.json["rustshare"]["result"] == "error"
           and msg_like in s.json["rustshare"]["error"],
           "%s: status shows the error" % what)


# bad token
bad_tok = os.path.join(st.dir, "bad.token")
with open(bad_tok, "w") as f:
    f.write("wrong\n")
bad_conf = provtest.rustshare_config(p, fake.url, bad_tok, HO,
                                     path=os.path.join(st.dir, "bad.conf"))
fake.post("identity", ident(5, 1, SEC[5]))
before = dump()
r = subprocess.run([prov.BIN, "--config", bad_conf, "sync"],
                   capture_output=True, text=True)
tap.ok(r.returncode == 1 and "HTTP 401" in r.stderr
       and "rustshare_token_file" in r.stderr and TOKEN not in r.stderr,
       "bad token: exit 1, 401 named, token file hinted, no token echoed")
tap.is_(dump(), before, "bad token: nothing applied")
tap.ok(sum(1 for q in fake.state()["requests"] if q[2] == 401) == 1,
       "bad token: not retried")

# 500s: retried with backoff, then applied
n0 = len(fake.state()["requests"])
fake.post("fail", {"path_prefix": "/v1/objspace/changes", "status": 500,
                   "count": 2})
t0 = time.time()
r = sync()
took = time.time() - t0
req = requests_since(n0)
tap.ok(r.returncode == 0 and [q[2] for q in req] == [500, 500, 200]
       and R.exists("objspace:ak:" + akid(5)),
       "two 500s retried, third attempt applied (%s)" % [q[2] for q in req])
tap.ok(took >= 0.75, "retries back off (%.2fs for 2 retries)" % took)

# persistent 500 on page 2 of a snapshot: nothing applied
fake.post("identity", ident(6, 1, SEC[6]))
before = dump()
fake.post("fail", {"path_prefix": "/v1/objspace/snapshot?limit=2&cursor",
                   "status": 503, "count": 3})
r = p.cli("sync", "--full")
refused_whole("snapshot page 2 failing (503)", r, before, "giving up after 3")

# timeouts
fake.post("fail", {"path_prefix": "/v1/objspace/changes", "delay": 2,
                   "count": 1})
r = sync()
tap.ok(r.returncode == 0 and R.exists("objspace:ak:" + akid(6)),
       "a timed-out request is retried and the change applied")
fake.post("identity", ident(7, 1, SEC[7]))
before = dump()
fake.post("fail", {"path_prefix": "/v1/objspace/changes", "delay": 2,
                   "count": 3})
r = sync()
refused_whole("every attempt timing out", r, before, "Timeout")

# malformed JSON
fake.post("fail", {"path_prefix": "/v1/objspace/changes", "status": 200,
                   "body": '{"revision": 99, "changes": [', "count": 1})
before = dump()
r = sync()
refused_whole("malformed JSON", r, before, "malformed JSON")

# a valid change next to an invalid one: the whole set is refused
fake.post("identity", ident(8, 1, SEC[8], permissions="admin"))
before = dump()
r = sync()
refused_whole("an invalid identity in the set", r, before,
              'identity %s: invalid mode "admin"' % kid(8))
tap.ok(not R.exists("objspace:ak:" + akid(7)),
       "the valid identity of the refused set was not applied either")
fake.post("identity", ident(8, 1, SEC[8]))
fake.post("identity", ident(9, 3, SEC[9]))
before = dump()
r = sync()
refused_whole("an identity of an unknown space", r, before,
              'unknown space "%s"' % sid(3))
fake.post("space", space(3))
r = sync()
tap.ok(r.returncode == 0 and all(R.exists("objspace:ak:" + akid(n))
                                 for n in (7, 8, 9)),
       "once consistent, the whole set applies")

# a secret sealed to another key: refused, nothing applied
other = os.path.join(st.dir, "other.pem")
o = p.cli("handover", "keygen", other, "--bits", "2048")
oenv = subprocess.run(
    [prov.BIN, "--config",
     provtest.rustshare_config(p, fake.url, token_file, other,
                               path=os.path.join(st.dir, "other.conf")),
     "handover", "seal", "--access-key-id", akid(10)],
    input="x" * 40 + "\n", capture_output=True, text=True)
env = json.loads(oenv.stdout or "{}")
tap.ok(env.get("secret", {}).get("kid") == (o.json or {}).get("kid")
       and env.get("data_keys"), "handover seal prints an envelope + data key")
provtest.rustshare_config(p, fake.url, token_file, HO)

# ------------------------------------------------------------ push

for kind, items in (("usage", [{"space_id": sid(1), "bytes": 5,
                                "objects": 1}]),
                    ("key-usage", [{"identity_id": kid(1),
                                    "last_used_at": "2025-01-31T12:00:00Z"}]),
                    ("audit", [{"op": "key.created", "tenant": TEN}])):
    fn = os.path.join(st.dir, kind + ".json")
    with open(fn, "w") as f:
        json.dump(items, f)
    fake.post("fail", {"path_prefix": "/v1/objspace/" + kind, "status": 502,
                       "count": 1})
    r = p.cli("rustshare", "push", kind, fn)
    pushed = fake.state()["pushed"][kind]
    tap.ok(r.returncode == 0 and len(pushed) == 1
           and pushed[0][{"usage": "spaces", "key-usage": "keys",
                          "audit": "events"}[kind]] == items,
           "push %s: retried after a 502, recorded once" % kind)
hdrs = [q for q in fake.state()["requests"] if q[0] == "POST"
        and q[1].startswith("/v1/")]
tap.ok(len(hdrs) == 6, "push: 3 batches, each sent twice (%d)" % len(hdrs))

# ------------------------------------------------------------ TLS

cert = os.path.join(st.dir, "tls.crt")
ckey = os.path.join(st.dir, "tls.key")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", ckey, "-out", cert, "-days", "1", "-subj",
                "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
               capture_output=True, check=True)
tfake = provtest.FakeRustShare(TOKEN, PUB, tls=(cert, ckey))
tls_conf = provtest.rustshare_config(
    p, tfake.url, token_file, HO, path=os.path.join(st.dir, "tls.conf"),
    rustshare_retries=0)
r = subprocess.run([prov.BIN, "--config", tls_conf, "sync", "--full"],
                   capture_output=True, text=True)
tap.ok(r.returncode == 1 and "certificate" in r.stderr.lower(),
       "TLS: an unknown CA is refused (%s)" % r.stderr.strip()[-120:])
provtest.rustshare_config(p, tfake.url, token_file, HO, path=tls_conf,
                          rustshare_retries=0, rustshare_ca_file=cert)
r = subprocess.run([prov.BIN, "--config", tls_conf, "--json", "sync"],
                   capture_output=True, text=True)
tap.ok(r.returncode == 0 and json.loads(r.stdout or "{}").get("mode")
       == "snapshot", "TLS with rustshare_ca_file: sync works")
tfake.stop()

# ------------------------------------------------------------ valgrind

if shutil.which("valgrind"):
    fake.post("identity", ident(1, 1, NEW1, previous_secret_plain=SEC[1],
                                previous_secret_valid_until=until))
    r = subprocess.run(["valgrind", "-q", "--leak-check=full",
                        "--errors-for-leak-kinds=definite,indirect",
                        "--error-exitcode=9", prov.BIN, "--config", p.conf,
                        "sync", "--full"], capture_output=True, text=True,
                       timeout=300)
    tap.ok(r.returncode == 0, "valgrind: a full sync (envelopes, re-seal, "
           "batches) is clean (%s)" % r.stderr.strip()[-300:])
else:
    tap.skip("valgrind not installed")

# ------------------------------------------------------------ audit events
#
# Every change a sync applies adds one control event to objspace:audit in
# the transaction that writes it (docs/provisioner.md "Audit"), with the
# CLI's op names and details, actor "rustshare" and the revision applied;
# nothing for what a sync skips (unchanged) or refuses.  A fresh tenant
# keeps these apart from the objects above.  (After the TLS section, whose
# empty snapshot must stay under the mass-delete guard's minimum.)

ETEN = "e%s" % os.urandom(3).hex()
E = {n: "t-%s-s%d" % (ETEN, n) for n in range(20, 26)}    # buckets
for n in range(20, 30):
    SEC.setdefault(n, seed.new_secret_key().replace("+", "x")
                   .replace("/", "y"))
    seed.record_secret(SEC[n])


def espace(n, **kw):
    return space(n, tenant_id=ETEN, **kw)


def controls(seen=None):
    """Control events in the stream, by event id (those in seen left out):
    {id: fields}."""
    return {f["id"]: f for _, f in R.xrange("objspace:audit")
            if f.get("kind") == "control" and f["id"] not in (seen or ())}


def shape(evs):
    """Sorted (op, tenant, space, bucket, identity, detail) of the events
    of tenant ETEN."""
    return sorted((f.get("op"), f.get("tenant"), f.get("space"),
                   f.get("bucket"), f.get("identity"), f.get("detail"))
                  for f in evs.values() if f.get("tenant") == ETEN)


def from_sync(evs, revision):
    """Every event is the sync's: actor rustshare, the revision applied,
    decision allow, no access key id or secret in any field."""
    text = json.dumps(evs)
    return (all(f.get("actor") == "rustshare"
                and f.get("revision") == str(revision)
                and f.get("decision") == "allow"
                and f["id"].startswith("ctl-") for f in evs.values())
            and "RS3" not in text
            and not any(x in text for x in SEC.values()))


def eak(n):
    return "RS3EVNT" + "ABCDEFGHIJKLMNOP"[n - 20] + "Q" * 12


def ekey(n, sp, secret=None, **kw):
    return ident(n, sp, secret or SEC[n], access_key_id=eak(n), **kw)


# a snapshot with new spaces and keys: one created event each
seen = controls()
fake.post("space", espace(20))
fake.post("space", espace(21, quota_bytes=1 << 30))
fake.post("space", espace(23))
fake.post("identity", ekey(20, 20))
fake.post("identity", ekey(21, 21))
fake.post("identity", ekey(23, 23, permissions="read-only"))
fake.post("identity", ekey(24, 20))
fake.post("identity", ekey(25, 20))
r = sync("--full")
tap.ok(r.returncode == 0 and r.json["mode"] == "snapshot",
       "audit: a snapshot with new objects applied")
new = controls(seen)
RWD = "read-write-delete"
tap.is_(shape(new), sorted(
    [("space.created", ETEN, sid(n), E[n], None, "s%d" % n)
     for n in (20, 21, 23)]
    + [("key.created", ETEN, sid(20), E[20], kid(n), RWD)
       for n in (20, 24, 25)]
    + [("key.created", ETEN, sid(21), E[21], kid(21), RWD),
       ("key.created", ETEN, sid(23), E[23], kid(23), "read-only")]),
    "audit: the snapshot added space.created and key.created once per new "
    "object, nothing for the unchanged ones")
tap.ok(from_sync(new, r.json["revision"]),
       "audit: actor rustshare, revision %s, no access key id or secret"
       % r.json["revision"])

# the same snapshot again: every object unchanged, no event
seen = controls()
r = sync("--full")
tap.ok(r.returncode == 0 and r.json["spaces_written"] == 0
       and r.json["identities_written"] == 0 and controls(seen) == {},
       "audit: a re-applied unchanged snapshot adds no event")

# one change set: a new space and key, quota, public on, a rotation, a
# revocation, an expiry, a space disabled, a key and a space deleted
seen = controls()
fake.post("space", espace(22))
fake.post("identity", ekey(22, 22))
fake.post("space", espace(21, quota_bytes=2 << 30))
fake.post("space", espace(20, visibility="public"))
NEW20 = seed.new_secret_key().replace("+", "x").replace("/", "y")
seed.record_secret(NEW20)
fake.post("identity", ekey(20, 20, NEW20))
fake.post("identity", ekey(21, 21, status="revoked"))
fake.post("identity", ekey(25, 20, expires_at="2031-01-02T03:04:05Z"))
fake.post("space", espace(21, quota_bytes=2 << 30, status="disabled"))
fake.post("delete", {"type": "identity", "id": kid(24)})
fake.post("delete", {"type": "space", "id": sid(23)})
# other managed identities (digests only): a space deletion must not
# cost in proportion to them
OTHERS = {"key_%016x" % (0x6600000000000000 + i):
          "sp_%016x RS3OTHERQQQQQQQQQQQQ %032x" % (0x6600000000000000, i)
          for i in range(3000)}
R.hset("objspace:prov:rs:identities", mapping=OTHERS)
R.config_resetstat()
r = sync()
stats = R.info("commandstats")
R.hdel("objspace:prov:rs:identities", *OTHERS)
tap.ok(r.returncode == 0 and r.json["mode"] == "changes",
       "audit: the change set applied")
new = controls(seen)
want = sorted([
    ("space.created", ETEN, sid(22), E[22], None, "s22"),
    ("key.created", ETEN, sid(22), E[22], kid(22), RWD),
    ("quota.changed", ETEN, sid(21), E[21], None,
     "quota_bytes %d" % (2 << 30)),
    ("public.changed", ETEN, sid(20), E[20], None, "public"),
    ("key.rotated", ETEN, sid(20), None, kid(20), None),
    ("key.revoked", ETEN, sid(21), None, kid(21), None),
    ("expiry.changed", ETEN, sid(20), None, kid(25),
     "expires_at 2031-01-02T03:04:05Z"),
    ("space.disabled", ETEN, sid(21), E[21], None, None),
    ("key.deleted", ETEN, sid(20), None, kid(24), None),
    ("space.deleted", ETEN, sid(23), E[23], None, None)])
tap.is_(shape(new), want,
        "audit: one event per change, with the CLI's names (none for the "
        "key that went with its space)")
tap.ok(from_sync(new, r.json["revision"]),
       "audit: actor rustshare, revision %s" % r.json["revision"])
c = st.boto3_client(eak(20), NEW20)
try:
    c.put_object(Bucket=E[20], Key="x", Body=b"x")
    ok = True
except Exception as e:
    ok = clients.error_code(e) or str(e)
tap.is_(ok, True, "the rotated key works")

# the space deletion: its own keys' records, not the whole managed hash
tap.ok(not R.hexists("objspace:prov:rs:spaces", sid(23))
       and not R.hexists("objspace:prov:rs:identities", kid(23))
       and all(R.hexists("objspace:prov:rs:identities", kid(n))
               for n in (20, 21, 22, 25)),
       "space deletion: its and its key's digests gone, the others kept")
tap.ok(R.hexists("objspace:prov:rs:push:owned", sid(23)),
       "space deletion: the space stays RustShare's for the audit shipper")
calls = {k[len("cmdstat_"):]: v["calls"] for k, v in stats.items()}
tap.ok(sum(calls.values()) < 500 and "hkeys" not in calls,
       "the change set with a space deletion: %d Redis commands with %d "
       "other managed identities (%s)"
       % (sum(calls.values()), len(OTHERS), sorted(calls.items())))

# a refused set (an invalid key next to a valid change): no event; once
# fixed, its events come once
seen = controls()
fake.post("space", espace(22, quota_bytes=5 << 20))
fake.post("identity", ekey(26, 22, permissions="admin"))
r = sync()
tap.ok(r.returncode != 0 and controls(seen) == {},
       "audit: a refused set adds no event")
fake.post("identity", ekey(26, 22))
r = sync()
new = controls(seen)
tap.is_(shape(new), sorted([
    ("quota.changed", ETEN, sid(22), E[22], None,
     "quota_bytes %d" % (5 << 20)),
    ("key.created", ETEN, sid(22), E[22], kid(26), RWD)]),
    "audit: the set applied once valid: its events, once")
EVENTS = controls()
EIDS = sorted(i for i, f in EVENTS.items() if f.get("tenant") == ETEN)

# ------------------------------------------------------------ daemon

R.delete("objspace:prov:rs:revision")
AUDIT = os.path.join(st.dir, "audit")
shutil.rmtree(AUDIT, ignore_errors=True)
seen = controls()
dconf = provtest.rustshare_config(p, fake.url, token_file, HO,
                                  path=os.path.join(st.dir, "daemon.conf"),
                                  rustshare_wait=1, lease_ttl=4,
                                  audit_dir=AUDIT)
dlog = open(os.path.join(st.dir, "daemon.log"), "w")
daemon = subprocess.Popen([prov.BIN, "--config", dconf, "run"],
                          stdout=dlog, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
end = time.time() + 30
while time.time() < end and R.get("objspace:prov:rs:revision") is None:
    time.sleep(0.1)
tap.ok(R.get("objspace:prov:rs:revision") is not None,
       "daemon: first pass fetched a snapshot")
lat = []
for i in range(3):
    ps.get_message(timeout=0.1)
    while ps.get_message(timeout=0.05):
        pass
    c = fake.post("identity", ident(1, 1, NEW1,
                                    status="revoked" if i % 2 == 0
                                    else "active"))
    got = None
    end = time.time() + 10
    while time.time() < end:
        m = ps.get_message(timeout=0.2)
        if m and m["type"] == "message" and m["data"] == "ak:" + akid(1):
            got = time.time()
            break
    if got:
        lat.append(got - c["committed_at"])
tap.is_(len(lat), 3, "daemon: every change reached Redis and was "
        "invalidated (%s ms)" % ", ".join("%.0f" % (x * 1000) for x in lat))
tap.note("daemon change -> invalidation latency: %s ms"
         % ", ".join("%.0f" % (x * 1000) for x in lat))
flips = [f["op"] for i, f in sorted(controls(seen).items(),
                                    key=lambda x: int(x[1]["ts"]))
         if f.get("identity") == kid(1)
         and f["op"] in ("key.revoked", "key.reactivated")]
tap.is_(flips, ["key.revoked", "key.reactivated", "key.revoked"],
        "daemon: each status change of the key is one audit event")


def tenant_lines(tenant):
    """The control lines of a tenant's audit files: [(id, line)]."""
    out = []
    d = os.path.join(AUDIT, tenant)
    for fn in sorted(os.listdir(d)) if os.path.isdir(d) else ():
        with open(os.path.join(d, fn)) as f:
            out += [(j["id"], j) for j in map(json.loads, f)
                    if j.get("kind") == "control"]
    return out


end = time.time() + 20
while time.time() < end and sorted(i for i, _ in tenant_lines(ETEN)) != EIDS:
    time.sleep(0.2)
lines = tenant_lines(ETEN)
tap.is_(sorted(i for i, _ in lines), EIDS,
        "the tenant's audit file holds every control event of the synced "
        "changes, once each (%d)" % len(EIDS))
tap.ok(lines and all(j.get("actor") == "rustshare"
                     and isinstance(j.get("revision"), int)
                     and j.get("op") == EVENTS[i]["op"] for i, j in lines),
       "audit file: op, actor rustshare and the revision as a number")
a = subprocess.run([prov.BIN, "--config", dconf, "--json", "audit",
                    "--tenant", ETEN], capture_output=True, text=True)
tap.is_(sorted(e["id"] for e in json.loads(a.stdout or "[]")
               if e.get("kind") == "control"),
        EIDS, "audit --tenant shows them")
daemon.terminate()
daemon.wait(15)
dlog.close()
with open(os.path.join(st.dir, "daemon.log")) as f:
    text = f.read()
tap.ok(TOKEN not in text and not any(s in text for s in SEC.values())
       and NEW1 not in text, "daemon log: no token, no secret")

fake.stop()
tap.ok(not st.alerts(), "no [alert] in the nginx error log")
tap.done_testing()

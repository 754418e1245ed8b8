#!/usr/bin/python3
# objspace-provisioner CLI against a real redis-server and Ceph RGW:
# space create / key create / list / show / rotate / revoke / public /
# quota / disable / enable / delete, drift repair (reconcile), status and
# the daemon's lease; Redis records (sealed, no plaintext secret anywhere
# in a dump), pub/sub invalidations, RGW users/buckets/quotas, JSON output
# shape, --help for every command, bad input refused with a clear message
# and a non-zero exit status.  (End to end through nginx: t/11x.)

import atexit
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import stack  # noqa: E402
import seed   # noqa: E402
import tap    # noqa: E402

import redis  # noqa: E402

BIN = os.path.join(stack.BUILD, "objspace-provisioner")

if not os.access(BIN, os.X_OK):
    r = subprocess.run(["make", "-s", "-C",
                        os.path.join(stack.ROOT, "provisioner")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        tap.plan(skip_all="cannot build the provisioner: " + r.stderr[-300:])

st = stack.Stack()
if not stack.start_or_fail(st, nginx=False):
    sys.exit(1)

key = seed.read_key_file(st.key_file)
rgw = seed.RGWAdmin(st.rgw_endpoint, st.rgw_env["RGW_ADMIN_ACCESS_KEY"],
                    st.rgw_env["RGW_ADMIN_SECRET_KEY"], st.region)
R = redis.Redis(host="127.0.0.1", port=st.redis_port, decode_responses=True)

ENDPOINT = "http://127.0.0.1:18080"
creds = os.path.join(st.dir, "storage.creds")
with open(creds, "w") as f:
    f.write("access_key = %s\nsecret_key = %s\n"
            % (st.rgw_env["RGW_ADMIN_ACCESS_KEY"],
               st.rgw_env["RGW_ADMIN_SECRET_KEY"]))
os.chmod(creds, 0o600)

conf = os.path.join(st.dir, "provisioner.conf")
with open(conf, "w") as f:
    f.write("""# written by %s
redis = %s
key_file = %s
region = %s
endpoint = %s
storage = rgw
storage_endpoint = %s
storage_credentials_file = %s
bucket_pattern = rs-{tenant}-{name}
reconcile_interval = 2
lease_ttl = 3
""" % (st.name, st.redis_addr, st.key_file, st.region, ENDPOINT,
       st.rgw_endpoint, creds))

TENANT = "t%s" % os.urandom(3).hex()
all_stderr = []
secrets_seen = []


def cli(*args, json_out=False, expect=0):
    argv = [BIN, "--config", conf] + (["--json"] if json_out else []) \
        + list(args)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    all_stderr.append(r.stderr)
    if expect is not None and r.returncode != expect:
        tap.diag("%s -> %d (expected %d)\nstdout: %s\nstderr: %s"
                 % (" ".join(args), r.returncode, expect, r.stdout[-1500:],
                    r.stderr[-1500:]))
    if json_out and r.returncode == 0:
        try:
            r.json = json.loads(r.stdout)
        except ValueError as e:
            tap.diag("bad JSON from %s: %s\n%s" % (args, e, r.stdout))
            r.json = None
    return r


def rgw_user(uid):
    try:
        return rgw.admin("GET", "user", {"uid": uid, "format": "json"})
    except RuntimeError:
        return None


def rgw_bucket(bucket):
    try:
        return rgw.admin("GET", "bucket", {"bucket": bucket,
                                           "format": "json"})
    except RuntimeError:
        return None


def redis_dump():
    """Every key and every value in the database, as one string."""
    out = []
    for k in R.scan_iter(count=1000):
        t = R.type(k)
        out.append(k)
        if t == "string":
            out.append(R.get(k))
        elif t == "hash":
            for f, v in R.hgetall(k).items():
                out += [f, v]
        elif t == "set":
            out += list(R.smembers(k))
    return "\n".join(out)


# pub/sub listener on the invalidation channel
messages = []
ps = R.pubsub()
ps.subscribe("objspace:invalidate")
ps.get_message(timeout=2)


def drain(wait=0.5):
    end = time.time() + wait
    while time.time() < end:
        m = ps.get_message(timeout=0.1)
        if m and m["type"] == "message":
            messages.append(m["data"])


# ------------------------------------------------------------- --help

cmds = [["space", "create"], ["space", "list"], ["space", "show"],
        ["space", "disable"], ["space", "enable"], ["space", "delete"],
        ["space", "public"], ["space", "quota"], ["key", "create"],
        ["key", "list"], ["key", "show"], ["key", "revoke"],
        ["key", "rotate"], ["key", "delete"], ["status"], ["reconcile"],
        ["run"]]
bad = [" ".join(c) for c in cmds
       if not re.search(r"^usage: objspace-provisioner .*" + " ".join(c),
                        cli(*(c + ["--help"])).stdout)]
tap.ok(not bad, "--help prints usage for every command (%d)" % len(cmds))
if bad:
    tap.diag("no usage: %s" % bad)
r = cli("--help")
tap.ok(r.returncode == 0 and "key create" in r.stdout
       and "space create" in r.stdout, "top-level --help lists commands")
r = cli(expect=2)
tap.is_(r.returncode, 2, "no command: exit 2")

# ------------------------------------------------------------- space create

r = cli("space", "create", "--tenant", TENANT, "--name", "artifacts",
        "--purpose", "artifacts", "--quota", "10G", json_out=True)
tap.is_(r.returncode, 0, "space create --json exits 0")
sp = r.json or {}
tap.is_(sorted(k for k in ("id", "tenant_id", "name", "bucket", "purpose",
                           "visibility", "quota_bytes") if k in sp),
        sorted(["id", "tenant_id", "name", "bucket", "purpose",
                "visibility", "quota_bytes"]),
        "space JSON has the data model's names")
tap.like(sp.get("id", ""), r"^sp_[0-9a-f]{16}$", "space id: sp_ + 16 hex")
BUCKET = "rs-%s-artifacts" % TENANT
tap.is_(sp.get("bucket"), BUCKET, "bucket from bucket_pattern")
tap.is_(sp.get("quota_bytes"), 10 * 1024 ** 3, "quota 10G = 10 GiB")
tap.is_((sp.get("visibility"), sp.get("s3_api_access"),
         sp.get("public_web_access"), sp.get("endpoint")),
        ("private", "authenticated endpoint", "disabled", ENDPOINT),
        "visibility, access lines and endpoint in JSON")
SID = sp.get("id", "sp_none")
drain()
tap.ok("space:" + SID in messages, "space create published space:ID")

rec = R.hgetall("objspace:space:" + SID)
tap.is_((rec.get("v"), rec.get("id"), rec.get("tenant"), rec.get("name"),
         rec.get("bucket"), rec.get("status"), rec.get("purpose"),
         rec.get("visibility"), rec.get("quota_bytes")),
        ("1", SID, TENANT, "artifacts", BUCKET, "active", "artifacts",
         "private", str(10 * 1024 ** 3)),
        "Redis space record fields")
tap.is_(R.get("objspace:bucket:" + BUCKET), SID, "bucket -> space id")
tap.ok(R.sismember("objspace:idx:spaces", SID), "space in idx:spaces")
try:
    backend_sk = seed.unseal(key, rec["backend_secret"], "backend:" + SID)
except Exception as e:
    backend_sk = None
    tap.diag("unseal backend secret: %r" % e)
tap.ok(backend_sk, "backend_secret is sealed with AAD backend:{space_id}")
secrets_seen.append(backend_sk or "")

u = rgw_user(SID) or {}
tap.is_(u.get("user_id"), SID, "RGW user = space id exists")
tap.ok(any(k.get("access_key") == rec.get("backend_ak")
           for k in u.get("keys", [])), "RGW user holds backend_ak")
tap.is_(((u.get("user_quota") or {}).get("enabled"),
         (u.get("user_quota") or {}).get("max_size")),
        (True, seed.storage_quota(10 * 1024 ** 3)),
        "RGW user quota 10G + margin (above the gateway's)")
b = rgw_bucket(BUCKET) or {}
tap.is_(b.get("owner"), SID, "RGW bucket exists, owned by the space user")
st_code, _ = rgw.request("HEAD", "/" + BUCKET, ak=rec.get("backend_ak"),
                         sk=backend_sk or "x")
tap.is_(st_code, 200, "the sealed backend key works on RGW")

r = cli("space", "create", "--tenant", TENANT, "--name", "web",
        "--public")
tap.is_(r.returncode, 0, "space create (text) exits 0")
tap.like(r.stdout, r"(?m)^S3 API Access: authenticated endpoint$",
         "text output: S3 API Access line")
tap.like(r.stdout, r"(?m)^Public Web Access: enabled$",
         "text output: Public Web Access: enabled (--public)")
tap.like(r.stdout, r"(?m)^ID: sp_[0-9a-f]{16}$", "text output: ID")
tap.like(r.stdout, r"(?m)^Endpoint: " + re.escape(ENDPOINT) + "$",
         "text output: endpoint")
WEB = re.search(r"ID: (sp_\w+)", r.stdout).group(1) \
    if "ID: sp_" in r.stdout else "sp_none"

r = cli("space", "create", "--tenant", TENANT, "--name", "artifacts",
        expect=4)
tap.is_(r.returncode, 4, "duplicate space: exit 4")
tap.like(r.stderr, r"already exists", "duplicate space: clear message")

# ------------------------------------------------------------- key create

r = cli("key", "create", "--space", SID, "--name", "release-ci",
        "--mode", "read-write", "--prefix", "releases/", "--expires", "30d",
        json_out=True)
tap.is_(r.returncode, 0, "key create --json exits 0")
k = r.json or {}
tap.is_(sorted(x for x in ("id", "access_key_id", "secret_access_key",
                           "endpoint", "bucket", "prefix", "region",
                           "permissions", "expires_at") if x in k),
        sorted(["id", "access_key_id", "secret_access_key", "endpoint",
                "bucket", "prefix", "region", "permissions", "expires_at"]),
        "key JSON has the data model's names")
AK, SK, KID = k.get("access_key_id", ""), k.get("secret_access_key", ""), \
    k.get("id", "")
secrets_seen.append(SK)
tap.like(AK, r"^RS3[A-Z2-7]{17}$", "access key id: RS3 + 17 base32")
tap.like(SK, r"^[A-Za-z0-9]{40}$", "secret: 40 characters")
tap.like(KID, r"^key_[0-9a-f]{16}$", "identity id: key_ + 16 hex")
tap.is_((k.get("bucket"), k.get("prefix"), k.get("region"),
         k.get("permissions"), k.get("endpoint")),
        (BUCKET, "releases/", st.region, "read-write", ENDPOINT),
        "bucket, prefix, region, permissions, endpoint")
tap.like(k.get("expires_at") or "", r"^\d{4}-\d\d-\d\dT", "expires_at set")
ex = k.get("examples") or {}
tap.ok(SK in ex.get("aws", "") and "--endpoint-url " + ENDPOINT in
       ex.get("aws", "") and "s3://%s/releases/" % BUCKET in ex.get("aws", ""),
       "aws example: endpoint, bucket/prefix, credentials")
tap.like(ex.get("s3cfg", ""), r"(?m)^host_base = 127\.0\.0\.1:18080$",
         ".s3cfg example: host_base")
tap.like(ex.get("rclone", ""), r"(?m)^force_path_style = true$",
         "rclone example: path style")
drain()
tap.ok("ak:" + AK in messages, "key create published ak:ACCESS_KEY")

rec = R.hgetall("objspace:ak:" + AK)
tap.is_((rec.get("v"), rec.get("id"), rec.get("space"), rec.get("tenant"),
         rec.get("name"), rec.get("mode"), rec.get("prefix"),
         rec.get("immutable"), rec.get("status")),
        ("1", KID, SID, TENANT, "release-ci", "read-write", "releases/", "0",
         "active"), "Redis identity record fields")
tap.ok(abs(int(rec.get("expires_at", 0)) - (time.time() + 30 * 86400)) < 60,
       "expires_at = now + 30d")
try:
    opened = seed.unseal(key, rec["secret"], "ak:" + AK)
except Exception:
    opened = None
tap.is_(opened, SK, "secret sealed with AAD ak:{access_key_id}")
tap.is_(R.get("objspace:keyid:" + KID), AK, "keyid -> access key id")
tap.ok(R.sismember("objspace:idx:keys:" + SID, AK), "ak in idx:keys")

r = cli("key", "create", "--space", BUCKET, "--name", "uploader",
        "--mode", "write-only", "--immutable")
tap.is_(r.returncode, 0, "key create (text, space by bucket name)")
for label in ("Endpoint", "Bucket", "Prefix", "Access Key", "Secret Key",
              "Region", "Path-style"):
    tap.like(r.stdout, r"(?m)^%s: \S" % label, "text output: %s" % label)
m = re.search(r"Secret Key: (\S+)", r.stdout)
SK2 = m.group(1) if m else ""
secrets_seen.append(SK2)
tap.like(r.stdout, r"\[default\][\s\S]*secret_key = " + SK2,
         "text output: .s3cfg section")
tap.like(r.stdout, r"\[objspace-uploader\][\s\S]*type = s3",
         "text output: rclone remote section")
m = re.search(r"Access Key: (\S+)", r.stdout)
AK2 = m.group(1) if m else ""
tap.is_(R.hget("objspace:ak:" + AK2, "immutable"), "1", "--immutable")

# ------------------------------------------------------------- bad input

r = cli("key", "create", "--space", SID, "--name", "x", "--mode",
        "admin", expect=2)
tap.ok(r.returncode == 2 and "invalid mode \"admin\"" in r.stderr,
       "unknown mode refused (exit 2, names the mode)")
r = cli("space", "quota", SID, "10Q", expect=2)
tap.ok(r.returncode == 2 and "invalid size \"10Q\"" in r.stderr,
       "bad size refused (exit 2)")
r = cli("space", "create", "--tenant", TENANT, "--name", "x",
        "--quota", "lots", expect=2)
tap.ok(r.returncode == 2 and "invalid size" in r.stderr,
       "bad --quota refused")
r = cli("space", "show", "sp_0000000000000000", expect=3)
tap.ok(r.returncode == 3 and "unknown space" in r.stderr,
       "unknown space: exit 3")
r = cli("key", "create", "--space", "nope-bucket", "--name", "x", "--mode",
        "read-only", expect=3)
tap.ok(r.returncode == 3 and "unknown space" in r.stderr,
       "key create in unknown space: exit 3")
r = cli("key", "show", "key_0000000000000000", expect=3)
tap.ok(r.returncode == 3 and "unknown key" in r.stderr,
       "unknown key: exit 3")
r = cli("space", "create", "--tenant", "Bad_Tenant", "--name", "x",
        expect=2)
tap.ok(r.returncode == 2 and "invalid tenant" in r.stderr,
       "bad tenant refused")
r = cli("space", "create", "--tenant", TENANT, expect=2)
tap.ok(r.returncode == 2 and "--name" in r.stderr, "missing --name refused")
r = cli("space", "list", "--bogus", expect=2)
tap.ok(r.returncode == 2 and "unknown option \"--bogus\"" in r.stderr,
       "unknown option refused")
r = cli("space", "frobnicate", expect=2)
tap.ok(r.returncode == 2 and "unknown command" in r.stderr,
       "unknown command refused")
r = cli("key", "create", "--space", SID, "--name", "x", "--mode",
        "read-only", "--expires", "soon", expect=2)
tap.ok(r.returncode == 2 and "invalid duration" in r.stderr,
       "bad --expires refused")
r = cli("key", "create", "--space", SID, "--name", "x", "--mode",
        "read-only", "--prefix", "/abs", expect=2)
tap.ok(r.returncode == 2 and "invalid prefix" in r.stderr,
       "prefix starting with / refused")
r = cli("space", "public", SID, "maybe", expect=2)
tap.ok(r.returncode == 2 and "\"on\" or \"off\"" in r.stderr,
       "space public needs on|off")
r = cli("space", "show", "nope", json_out=True, expect=3)
try:
    ej = json.loads(r.stdout)
except ValueError:
    ej = {}
tap.is_((ej.get("error") or {}).get("code"), "not_found",
        "--json errors: {\"error\": {\"code\", \"message\"}}")

# ------------------------------------------------------------- list / show

r = cli("space", "list", "--tenant", TENANT, json_out=True)
ids = sorted(s["id"] for s in (r.json or []))
tap.is_(ids, sorted([SID, WEB]), "space list --tenant (JSON)")
r = cli("space", "list")
tap.ok(SID in r.stdout and BUCKET in r.stdout, "space list (text)")
r = cli("space", "show", "%s/artifacts" % TENANT, json_out=True)
s = r.json or {}
tap.is_((s.get("id"), len(s.get("keys", [])), s.get("drift")),
        (SID, 2, None), "space show tenant/name: keys, no drift")
r = cli("key", "list", "--space", SID, json_out=True)
tap.is_(sorted(x["access_key_id"] for x in (r.json or [])),
        sorted([AK, AK2]), "key list --space (JSON)")
r1 = cli("key", "show", KID, json_out=True)
r2 = cli("key", "show", AK, json_out=True)
tap.ok(r1.json and r1.json == r2.json and r1.json["access_key_id"] == AK,
       "key show by id == by access key id")
tap.ok(r1.json and "secret_access_key" not in r1.json,
       "key show has no secret")
r = cli("key", "list")
tap.ok(AK in r.stdout and SK not in r.stdout, "key list (text), no secret")

# ------------------------------------------------------------- rotate

messages.clear()
r = cli("key", "rotate", AK, "--grace", "10m", json_out=True)
tap.is_(r.returncode, 0, "key rotate --grace 10m")
rk = r.json or {}
NSK = rk.get("secret_access_key", "")
secrets_seen.append(NSK)
tap.ok(rk.get("access_key_id") == AK and NSK and NSK != SK,
       "rotate: same access key id, new secret shown once")
rec = R.hgetall("objspace:ak:" + AK)
try:
    tap.is_(seed.unseal(key, rec["secret"], "ak:" + AK), NSK,
            "rotate: secret = new secret")
    tap.is_(seed.unseal(key, rec["secret_prev"], "ak-prev:" + AK), SK,
            "rotate: secret_prev = old secret (AAD ak-prev:)")
except Exception as e:
    tap.fail("rotate: sealed fields open", repr(e))
    tap.fail("rotate: secret_prev")
tap.ok(abs(int(rec.get("secret_prev_until", 0)) - (time.time() + 600)) < 30,
       "rotate: secret_prev_until = now + 10m")
drain()
tap.ok("ak:" + AK in messages, "rotate published ak:ACCESS_KEY")
r = cli("key", "rotate", KID)
m = re.search(r"Secret Key: (\S+)", r.stdout)
NSK2 = m.group(1) if m else ""
secrets_seen.append(NSK2)
rec = R.hgetall("objspace:ak:" + AK)
tap.ok(r.returncode == 0 and "secret_prev" not in rec
       and seed.unseal(key, rec["secret"], "ak:" + AK) == NSK2,
       "rotate without --grace drops the previous secret")
r = cli("key", "rotate", AK, "--grace", "30d", expect=2)
tap.is_(r.returncode, 2, "grace longer than 7d refused")

# ------------------------------------------------------------- revoke

messages.clear()
r = cli("key", "revoke", AK2)
tap.is_(r.returncode, 0, "key revoke")
tap.is_(R.hget("objspace:ak:" + AK2, "status"), "revoked",
        "revoked in Redis")
drain()
tap.ok("ak:" + AK2 in messages, "revoke published ak:ACCESS_KEY")
r = cli("key", "rotate", AK2, expect=4)
tap.is_(r.returncode, 4, "a revoked key cannot be rotated")

# ------------------------------------------------------------- public, quota

messages.clear()
r = cli("space", "public", SID, "on")
tap.ok(r.returncode == 0 and "Public Web Access: enabled" in r.stdout,
       "space public on")
tap.is_(R.hget("objspace:space:" + SID, "visibility"), "public",
        "visibility public in Redis")
cli("space", "public", SID, "off")
tap.is_(R.hget("objspace:space:" + SID, "visibility"), "private",
        "space public off")
r = cli("space", "quota", SID, "5G")
tap.is_(R.hget("objspace:space:" + SID, "quota_bytes"), str(5 * 1024 ** 3),
        "space quota 5G in Redis")
tap.is_(((rgw_user(SID) or {}).get("user_quota") or {}).get("max_size"),
        seed.storage_quota(5 * 1024 ** 3), "space quota 5G (+ margin) on RGW")
drain()
tap.ok(messages.count("space:" + SID) >= 3,
       "public/quota published space:ID")

# ------------------------------------------------------------- disable

r = cli("space", "disable", SID)
tap.is_(R.hget("objspace:space:" + SID, "status"), "disabled",
        "space disable: Redis status disabled")
tap.is_((rgw_user(SID) or {}).get("suspended"), 1,
        "space disable: RGW user suspended")
r = cli("key", "create", "--space", SID, "--name", "x", "--mode",
        "read-only", expect=4)
tap.ok(r.returncode == 4 and "disabled" in r.stderr,
       "no key creation in a disabled space")
r = cli("space", "enable", SID)
tap.ok(R.hget("objspace:space:" + SID, "status") == "active"
       and (rgw_user(SID) or {}).get("suspended") == 0,
       "space enable: active in Redis and on RGW")

# ------------------------------------------------------------- drift

rgw.set_user_quota(SID, 0)
r = cli("status", json_out=True)
d = (r.json or {}).get("drift") or []
tap.ok(any(x.get("space") == SID and "quota" in x.get("drift", "")
           for x in d), "status reports quota drift")
r = cli("reconcile", json_out=True)
tap.is_(((r.json or {}).get("drift_found"),
         (r.json or {}).get("drift_repaired")), (1, 1),
        "reconcile repairs it")
tap.is_(((rgw_user(SID) or {}).get("user_quota") or {}).get("max_size"),
        seed.storage_quota(5 * 1024 ** 3), "RGW quota restored")

old_ak = R.hget("objspace:space:" + WEB, "backend_ak")
rgw.delete_user(WEB)
tap.ok(rgw_user(WEB) is None and rgw_bucket("rs-%s-web" % TENANT) is None,
       "drift: backend user and bucket of a space deleted behind our back")
messages.clear()
r = cli("reconcile", json_out=True)
rep = (r.json or {}).get("report") or []
tap.ok(r.returncode == 0 and any(x.get("space") == WEB and x.get("repaired")
                                 for x in rep),
       "reconcile recreates them")
rec = R.hgetall("objspace:space:" + WEB)
tap.isnt(rec.get("backend_ak"), old_ak, "new backend key recorded")
try:
    bsk = seed.unseal(key, rec["backend_secret"], "backend:" + WEB)
except Exception:
    bsk = "x"
secrets_seen.append(bsk)
code, _ = rgw.request("HEAD", "/rs-%s-web" % TENANT,
                      ak=rec.get("backend_ak"), sk=bsk)
tap.is_(code, 200, "recreated bucket answers to the new sealed key")
drain()
tap.ok("space:" + WEB in messages, "repair published space:ID")
r = cli("status", json_out=True)
tap.is_((r.json or {}).get("drift"), [], "no drift left")

# ------------------------------------------------------------- secrets

dump = redis_dump()
leaks = [i for i, s in enumerate(secrets_seen) if s and s in dump]
tap.ok(not leaks and len(secrets_seen) >= 6,
       "no plaintext secret anywhere in a Redis dump (%d secrets checked)"
       % len(secrets_seen))
errs = "\n".join(all_stderr)
tap.ok(not [s for s in secrets_seen if s and s in errs],
       "no secret on stderr of any command")
r = cli("status")
tap.ok(r.returncode == 0 and not [s for s in secrets_seen if s in r.stdout],
       "status shows no secret")

# ------------------------------------------------------------- daemon

daemons = []
atexit.register(lambda: [p.kill() for p in daemons if p.poll() is None])
d1 = subprocess.Popen([BIN, "--config", conf, "run"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                      text=True)
daemons.append(d1)
time.sleep(1.5)
d2 = subprocess.Popen([BIN, "--config", conf, "run"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                      text=True)
daemons.append(d2)
time.sleep(1.5)
leader = R.get("objspace:prov:leader") or ""
tap.ok(leader.endswith(":%d" % d1.pid), "first daemon holds the lease")
r = cli("status", "--no-check", json_out=True)
tap.ok(((r.json or {}).get("leader") or {}).get("node") == leader
       and (r.json or {}).get("last_sync"), "status shows leader, last sync")
d1.kill()
d1.wait()
end = time.time() + 8
while time.time() < end and not (R.get("objspace:prov:leader") or "") \
        .endswith(":%d" % d2.pid):
    time.sleep(0.2)
tap.ok((R.get("objspace:prov:leader") or "").endswith(":%d" % d2.pid),
       "standby takes the lease within lease_ttl after the leader dies")
d2.terminate()
try:
    d2.wait(timeout=10)
except subprocess.TimeoutExpired:
    d2.kill()
tap.is_(d2.returncode, 0, "SIGTERM stops the daemon cleanly")
tap.ok(R.get("objspace:prov:leader") is None, "it released the lease")

# ------------------------------------------------------------- delete

messages.clear()
r = cli("key", "delete", AK2)
tap.ok(r.returncode == 0 and not R.exists("objspace:ak:" + AK2)
       and not R.sismember("objspace:idx:keys:" + SID, AK2),
       "key delete removes the record and index entry")
r = cli("space", "delete", SID, json_out=True)
tap.is_(r.returncode, 0, "space delete")
tap.ok(not R.exists("objspace:space:" + SID, "objspace:bucket:" + BUCKET,
                    "objspace:ak:" + AK, "objspace:keyid:" + KID,
                    "objspace:idx:keys:" + SID)
       and not R.sismember("objspace:idx:spaces", SID),
       "space delete: space, bucket, identity, keyid and index keys gone")
tap.ok(rgw_user(SID) is None and rgw_bucket(BUCKET) is None,
       "space delete: RGW user and bucket gone")
tap.is_(R.hlen("objspace:prov:tombstones"), 0, "no pending deletion left")
drain()
tap.ok("space:" + SID in messages and "ak:" + AK in messages,
       "space delete published space:ID and ak: for its keys")
r = cli("space", "delete", WEB)
tap.ok(r.returncode == 0 and rgw_user(WEB) is None, "delete the other space")
for p in (d1, d2):
    errs = p.stderr.read() if p.stderr else ""
    tap.ok(not [s for s in secrets_seen if s and s in errs],
           "daemon %d logged no secret" % p.pid)

tap.done_testing()

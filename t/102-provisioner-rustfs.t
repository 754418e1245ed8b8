#!/usr/bin/python3
# The provisioner's rustfs driver against a FAKE RustFS
# (provisioner/test/fake_rustfs.py).  RustFS cannot be built or run here,
# so the fake implements exactly the contract in /work/shared/RUSTFS.md
# (SigV4 with the root key, /rustfs/admin/v3 plain-JSON endpoints, strict
# policy parser, remove-user answering 500 for a missing user, PolicyInUse,
# 503 while quota is not ready); docs/provisioner.md has the manual smoke
# procedure against a real RustFS.  Redis is real.

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import stack  # noqa: E402
import seed   # noqa: E402
import tap    # noqa: E402

import redis  # noqa: E402

BIN = os.path.join(stack.BUILD, "objspace-provisioner")
FAKE = os.path.join(stack.ROOT, "provisioner", "test", "fake_rustfs.py")

if not os.access(BIN, os.X_OK):
    r = subprocess.run(["make", "-s", "-C",
                        os.path.join(stack.ROOT, "provisioner")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        tap.plan(skip_all="cannot build the provisioner")

st = stack.Stack()
if os.path.isdir(st.dir):
    st.stop_recorded()
    shutil.rmtree(st.dir, ignore_errors=True)
os.makedirs(st.dir)
try:
    st.start_redis()
except Exception as e:
    tap.fail("redis starts", str(e))
    tap.done_testing()
seed.write_key_file(st.key_file)
key = seed.read_key_file(st.key_file)
R = redis.Redis(host="127.0.0.1", port=st.redis_port, decode_responses=True)

ROOT_AK, ROOT_SK = "rustfsroot", seed.new_secret_key()
port = stack.free_port()
fake = subprocess.Popen([sys.executable, FAKE, str(port), ROOT_AK, ROOT_SK],
                        stdout=subprocess.PIPE, text=True)
atexit.register(lambda: fake.poll() is None and fake.kill())
fake.stdout.readline()
FURL = "http://127.0.0.1:%d" % port


def fake_state():
    with urllib.request.urlopen(FURL + "/_fake/state") as r:
        return json.loads(r.read())


def fake_fail(prefix, status=503, count=1):
    req = urllib.request.Request(FURL + "/_fake/fail", method="POST",
                                 data=json.dumps({"path_prefix": prefix,
                                                  "status": status,
                                                  "count": count}).encode())
    urllib.request.urlopen(req).read()


def write_conf(name, sk):
    creds = os.path.join(st.dir, name + ".creds")
    with open(creds, "w") as f:
        f.write("access_key = %s\nsecret_key = %s\n" % (ROOT_AK, sk))
    conf = os.path.join(st.dir, name + ".conf")
    with open(conf, "w") as f:
        f.write("redis = %s\nkey_file = %s\nendpoint = https://s3.example\n"
                "storage = rustfs\nstorage_endpoint = %s\n"
                "storage_credentials_file = %s\n"
                % (st.redis_addr, st.key_file, FURL, creds))
    return conf


conf = write_conf("good", ROOT_SK)
badconf = write_conf("bad", "wrong-secret")
all_err = []


def cli(*args, c=None, expect=0):
    r = subprocess.run([BIN, "--config", c or conf, "--json"] + list(args),
                       capture_output=True, text=True, timeout=60)
    all_err.append(r.stderr)
    if expect is not None and r.returncode != expect:
        tap.diag("%s -> %d\n%s%s" % (args, r.returncode, r.stdout[-800:],
                                     r.stderr[-800:]))
    try:
        r.json = json.loads(r.stdout)
    except ValueError:
        r.json = {}
    return r


# ------------------------------------------------------------- bad creds

r = cli("space", "create", "--tenant", "acme", "--name", "x", c=badconf,
        expect=1)
tap.ok(r.returncode == 1 and "SignatureDoesNotMatch" in r.stderr,
       "wrong root secret: clear error (%s)" % r.stderr.strip()[-80:])
tap.ok(not R.keys("objspace:space:*") and not fake_state()["users"],
       "wrong root secret: nothing applied in Redis or RustFS")

# ------------------------------------------------------------- create

fake_fail("/rustfs/admin/v3/quota/", 503, 1)
r = cli("space", "create", "--tenant", "acme", "--name", "site",
        "--quota", "1G")
sp = r.json
SID, BUCKET = sp.get("id", ""), sp.get("bucket", "")
tap.ok(r.returncode == 0 and BUCKET == "rs-acme-site",
       "space create on rustfs (after a 503 on quota, retried)")
rec = R.hgetall("objspace:space:" + SID)
BAK = rec.get("backend_ak", "")
s = fake_state()
u = s["users"].get(BAK, {})
tap.like(BAK, r"^RSB[A-Z2-7]{17}$", "backend user: RSB + 17 base32")
tap.is_(u.get("status"), "enabled", "RustFS user enabled")
try:
    bsk = seed.unseal(key, rec["backend_secret"], "backend:" + SID)
except Exception:
    bsk = None
tap.ok(bsk and u.get("secretKey") == bsk,
       "sealed backend secret = the user's secret on RustFS")
pol = s["policies"].get("objspace-" + SID)
tap.is_(u.get("policyName"), "objspace-" + SID, "policy attached to user")
tap.is_(pol, {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow",
     "Action": ["s3:ListBucket", "s3:GetBucketLocation",
                "s3:ListBucketMultipartUploads"],
     "Resource": ["arn:aws:s3:::" + BUCKET]},
    {"Effect": "Allow",
     "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::%s/*" % BUCKET]}]},
    "least-privilege policy limited to the bucket (RUSTFS.md)")
tap.ok(BUCKET in s["buckets"], "bucket created")
tap.is_(s["quotas"].get(BUCKET), seed.storage_quota(1024 ** 3),
        "HARD quota 1G + margin")

adm = seed.RGWAdmin(FURL, BAK, bsk or "x")
code, _ = adm.request("PUT", "/%s/index.html" % BUCKET, body=b"<html/>")
tap.is_(code, 200, "the backend key may write its bucket")
r2 = cli("space", "create", "--tenant", "other", "--name", "b")
code, _ = adm.request("PUT", "/%s/x" % r2.json.get("bucket", "nob"),
                      body=b"x")
tap.is_(code, 403, "but not another space's bucket")
code, _ = adm.request("PUT", "/newbucket-by-user")
tap.is_(code, 403, "and cannot create buckets")

# ------------------------------------------------------------- changes

cli("space", "quota", SID, "2G")
tap.is_(fake_state()["quotas"].get(BUCKET), seed.storage_quota(2 * 1024 ** 3),
        "quota 2G + margin")
cli("space", "quota", SID, "0")
tap.ok(BUCKET not in fake_state()["quotas"], "quota 0 clears it")
cli("space", "disable", SID)
tap.is_(fake_state()["users"][BAK]["status"], "disabled",
        "disable: user disabled")
code, _ = adm.request("GET", "/%s/index.html" % BUCKET)
tap.is_(code, 403, "a disabled backend user is refused")
cli("space", "enable", SID)
tap.is_(fake_state()["users"][BAK]["status"], "enabled", "enable")
r = cli("space", "show", SID)
tap.is_((r.json.get("usage_bytes"), r.json.get("drift")), (7, None),
        "usage from datausageinfo; no drift")

# ------------------------------------------------------------- drift

adm_root = seed.RGWAdmin(FURL, ROOT_AK, ROOT_SK)
adm_root.request("PUT", "/rustfs/admin/v3/set-user-or-group-policy",
                 {"policyName": "objspace-" + r2.json.get("id", ""),
                  "userOrGroup": BAK, "isGroup": "false"})
r = cli("status")
tap.ok(any(d.get("space") == SID and "policy" in d.get("drift", "")
           for d in r.json.get("drift") or []),
       "status: wrong policy reported as drift")
adm_root.request("DELETE", "/rustfs/admin/v3/remove-user",
                 {"accessKey": R.hget("objspace:space:" +
                                      r2.json.get("id", ""), "backend_ak")})
r = cli("reconcile")
tap.is_((r.json.get("drift_found"), r.json.get("drift_repaired")), (2, 2),
        "reconcile repairs the policy and the deleted user")
s = fake_state()
tap.is_(s["users"].get(BAK, {}).get("policyName"), "objspace-" + SID,
        "policy re-attached")
nb = R.hget("objspace:space:" + r2.json.get("id", ""), "backend_ak")
tap.ok(nb in s["users"] and s["users"][nb].get("policyName") ==
       "objspace-" + r2.json.get("id", ""),
       "deleted user recreated (new key, policy attached)")
tap.is_(cli("status").json.get("drift"), [], "no drift left")

# ------------------------------------------------------------- delete

r = cli("space", "delete", SID)
s = fake_state()
tap.ok(r.returncode == 0 and BUCKET not in s["buckets"]
       and BAK not in s["users"] and "objspace-" + SID not in s["policies"],
       "delete: objects, bucket, user and policy removed")
tap.ok(not R.exists("objspace:space:" + SID), "delete: gone from Redis")
r = cli("space", "delete", r2.json.get("id", ""))
tap.ok(r.returncode == 0 and not fake_state()["buckets"],
       "delete the other space")
secrets = [bsk or "", ROOT_SK]
tap.ok(not [x for x in secrets if x and x in "\n".join(all_err)],
       "no secret in any error output")

fake.terminate()
fake.wait(timeout=10)
tap.done_testing()

#!/usr/bin/python3
# objspace-provisioner usage: "usage SPACE [--json]" shows the gateway's
# counters (objspace:usage:{id}); the daemon's usage reconcile compares
# them with the storage's own figures (Ceph RGW bucket stats; RustFS
# datausageinfo through provisioner/test/fake_rustfs.py, which follows
# /work/shared/RUSTFS.md because RustFS cannot run here), corrects injected
# drift once it is stable, never while an upload holds a reservation, logs
# the drift without object names; the storage-level quota is set above the
# gateway's (RGW user quota, RustFS HARD bucket quota).

import atexit
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients  # noqa: E402
import seed     # noqa: E402
import stack    # noqa: E402
import tap      # noqa: E402

import redis  # noqa: E402

BIN = os.path.join(stack.BUILD, "objspace-provisioner")
FAKE = os.path.join(stack.ROOT, "provisioner", "test", "fake_rustfs.py")

r = subprocess.run(["make", "-s", "-C", os.path.join(stack.ROOT,
                                                     "provisioner")],
                   capture_output=True, text=True)
if r.returncode != 0:
    tap.plan(skip_all="cannot build the provisioner: " + r.stderr[-300:])

st = stack.Stack()
if not stack.start_or_fail(st, nginx=False):
    sys.exit(1)

R = redis.Redis(host="127.0.0.1", port=st.redis_port, decode_responses=True)
key = seed.read_key_file(st.key_file)
rgw = seed.RGWAdmin(st.rgw_endpoint, st.rgw_env["RGW_ADMIN_ACCESS_KEY"],
                    st.rgw_env["RGW_ADMIN_SECRET_KEY"], st.region)
ROOT_AK, ROOT_SK = "rustfsroot", seed.new_secret_key()
fport = stack.free_port()
fake = subprocess.Popen([sys.executable, FAKE, str(fport), ROOT_AK, ROOT_SK],
                        stdout=subprocess.PIPE, text=True)
atexit.register(lambda: fake.poll() is None and fake.kill())
fake.stdout.readline()


def write_conf(name, storage, endpoint, ak, sk):
    creds = os.path.join(st.dir, name + ".creds")
    with open(creds, "w") as f:
        f.write("access_key = %s\nsecret_key = %s\n" % (ak, sk))
    os.chmod(creds, 0o600)
    path = os.path.join(st.dir, name + ".conf")
    with open(path, "w") as f:
        f.write("redis = %s\nkey_file = %s\nregion = %s\n"
                "endpoint = http://127.0.0.1:1\nstorage = %s\n"
                "storage_endpoint = %s\nstorage_credentials_file = %s\n"
                "reconcile_interval = 60\nlease_ttl = 3\nusage_interval = 1\n"
                "audit_dir = %s\n"
                % (st.redis_addr, st.key_file, st.region, storage, endpoint,
                   creds, os.path.join(st.dir, "audit-" + name)))
    return path


conf = write_conf("rgw", "rgw", st.rgw_endpoint,
                  st.rgw_env["RGW_ADMIN_ACCESS_KEY"],
                  st.rgw_env["RGW_ADMIN_SECRET_KEY"])
rconf = write_conf("rustfs", "rustfs", "http://127.0.0.1:%d" % fport,
                   ROOT_AK, ROOT_SK)


def cli(*args, c=None, json_out=False, expect=0):
    argv = [BIN, "--config", c or conf] + (["--json"] if json_out else []) \
        + list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if expect is not None and p.returncode != expect:
        tap.diag("%s -> %d\n%s%s" % (args, p.returncode, p.stdout[-800:],
                                     p.stderr[-800:]))
    p.json = None
    if json_out and p.returncode == 0:
        p.json = json.loads(p.stdout)
    return p


def wait_for(cond, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def usage(sid):
    return R.hgetall("objspace:usage:" + sid)


MIB = 1 << 20
TENANT = "u" + os.urandom(3).hex()

# ------------------------------------------------------------- RGW quota

s = cli("space", "create", "--tenant", TENANT, "--name", "data", "--quota",
        "10M", json_out=True).json or {}
SID, BUCKET = s.get("id", ""), s.get("bucket", "")
u = rgw.admin("GET", "user", {"uid": SID, "format": "json"})
q = (u.get("user_quota") or {})
tap.ok(q.get("enabled") and q.get("max_size") == seed.storage_quota(10 * MIB)
       and q.get("max_size") > 10 * MIB,
       "RGW user quota is set above the gateway's (10M + 64 MiB)")
cli("space", "quota", SID, "20G")
q = rgw.admin("GET", "user", {"uid": SID, "format": "json"})["user_quota"]
tap.is_(q.get("max_size"), 20 * 1024 ** 3 + 205 * MIB,
        "20G: the margin is 1% (rounded up to a MiB) when above 64 MiB")
cli("space", "quota", SID, "10M")
r = cli("status", json_out=True)
tap.ok(r.json is not None and not [d for d in r.json.get("drift") or []
                                   if d.get("space") == SID],
       "status sees no quota drift with the margin")

# ------------------------------------------------------------- usage CLI

r = cli("usage", SID, json_out=True)
tap.ok(r.json is not None and r.json.get("bytes_used") == 0
       and r.json.get("bytes_reserved") == 0 and r.json.get("objects") == 0
       and r.json.get("quota_bytes") == 10 * MIB
       and r.json.get("percent") == 0, "usage --json of a new space")
R.hset("objspace:usage:" + SID, mapping={"bytes": 2 * MIB + MIB // 2,
                                         "objects": 3, "reserved": 4096})
r = cli("usage", TENANT + "/data", json_out=True)
tap.is_({k: (r.json or {}).get(k) for k in ("bytes_used", "bytes_reserved",
                                            "objects", "quota_bytes",
                                            "percent")},
        {"bytes_used": 2 * MIB + MIB // 2, "bytes_reserved": 4096,
         "objects": 3, "quota_bytes": 10 * MIB, "percent": 25.0},
        "usage --json: bytes_used, bytes_reserved, objects, quota_bytes, "
        "percent (by tenant/name)")
r = cli("usage", SID)
tap.ok("Used: " in r.stdout and "25.00% used" in r.stdout
       and "Reserved: " in r.stdout, "usage text output")
r = cli("usage", "sp_0000000000000000", expect=3)
tap.is_(r.returncode, 3, "usage of an unknown space: exit 3")

# ------------------------------------------------------------- reconcile

rec = R.hgetall("objspace:space:" + SID)
bsk = seed.unseal(key, rec["backend_secret"], "backend:" + SID)
s3 = clients.boto3_client(st.rgw_endpoint, rec["backend_ak"], bsk,
                          style="path", region=st.region)
NAMES = ["secret-name-%d-%s" % (i, os.urandom(3).hex()) for i in range(3)]
sizes = [1000, 2000, 3333]
for n, sz in zip(NAMES, sizes):
    s3.put_object(Bucket=BUCKET, Key=n, Body=b"x" * sz)
stored = sum(sizes)

# drift while an upload holds a reservation: left alone
R.hset("objspace:usage:" + SID, mapping={"bytes": 5, "objects": 1,
                                         "reserved": 100})
d = subprocess.Popen([BIN, "--config", conf, "run"], stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, text=True)
atexit.register(lambda: d.poll() is None and d.kill())
time.sleep(4)
tap.is_((usage(SID).get("bytes"), usage(SID).get("objects")), ("5", "1"),
        "no correction while an upload holds a reservation")
R.hset("objspace:usage:" + SID, "reserved", 0)
tap.ok(wait_for(lambda: usage(SID).get("bytes") == str(stored)),
       "drift corrected to RGW's bytes once stable")
u = usage(SID)
tap.is_((u.get("objects"), u.get("drift_bytes"), u.get("reserved")),
        (str(len(NAMES)), str(5 - stored), "0"),
        "objects corrected, drift_bytes recorded, reserved untouched")
tap.ok(int(u.get("reconciled_at", 0)) >= int(time.time()) - 30,
       "reconciled_at set")

# an open multipart upload: RGW counts its part as an object
mp = s3.create_multipart_upload(Bucket=BUCKET, Key=NAMES[0] + "-mp")
s3.upload_part(Bucket=BUCKET, Key=NAMES[0] + "-mp",
               UploadId=mp["UploadId"], PartNumber=1, Body=b"y" * 5 * MIB)
R.hset("objspace:usage:" + SID, mapping={"bytes": 1, "objects": 99})
tap.ok(wait_for(lambda: usage(SID).get("bytes") == str(stored + 5 * MIB)),
       "open multipart upload: bytes include the part, as RGW counts them")
tap.is_(usage(SID).get("objects"), "99",
        "objects are not corrected while RGW counts parts as objects")
s3.abort_multipart_upload(Bucket=BUCKET, Key=NAMES[0] + "-mp",
                          UploadId=mp["UploadId"])
tap.ok(wait_for(lambda: usage(SID).get("objects") == str(len(NAMES))
                and usage(SID).get("bytes") == str(stored)),
       "after the abort both are corrected")
d.terminate()
d.wait(timeout=30)
log = d.stderr.read()
tap.ok("space %s: drift" % SID in log and "corrected" in log,
       "the drift found is logged")
tap.ok("checking again on the next pass" in log, "deferrals are logged")
tap.ok(not any(n in log for n in NAMES) and bsk not in log,
       "no object name or secret in the log")
tap.is_(d.returncode, 0, "daemon stops cleanly")

# ------------------------------------------------------------- RustFS

r = cli("space", "create", "--tenant", TENANT, "--name", "rfs", "--quota",
        "1G", c=rconf, json_out=True)
RID, RBUCKET = (r.json or {}).get("id", ""), (r.json or {}).get("bucket", "")
fs = json.loads(urllib.request.urlopen(
    "http://127.0.0.1:%d/_fake/state" % fport).read())
tap.ok(fs["quotas"].get(RBUCKET) == seed.storage_quota(1024 ** 3)
       and fs["quotas"].get(RBUCKET) > 1024 ** 3,
       "RustFS HARD quota is set above the gateway's")
R.hset("objspace:usage:" + RID, mapping={"bytes": 777, "objects": 2})
d = subprocess.Popen([BIN, "--config", rconf, "run"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                     text=True)
tap.ok(wait_for(lambda: usage(RID).get("bytes") == "0"
                and usage(RID).get("objects") == "0"),
       "RustFS: drift corrected to datausageinfo's figures")
d.terminate()
d.wait(timeout=30)
tap.ok("space %s: drift +777 bytes" % RID in d.stderr.read(),
       "RustFS: drift logged")

cli("space", "delete", SID)
cli("space", "delete", RID, c=rconf)
tap.done_testing()

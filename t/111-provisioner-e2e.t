#!/usr/bin/python3
# End to end: the provisioner CLI against the test stack (redis, Ceph RGW,
# nginx with the module).  `space create` + `key create` print ready-to-paste
# examples for aws (v2, Debian's), s3cmd (a .s3cfg) and rclone (a remote
# section): they are parsed out of the CLI's text output and run exactly as
# printed, in a fresh HOME (rclone and s3cmd without AWS_CA_BUNDLE).  Then
# `key revoke` (the key fails; the time from the CLI returning to the first
# refusal is reported), `key rotate` (old fails, new works), `key rotate
# --grace` (both work until the grace period ends) and `space disable`
# (refused).  t/301 measures the propagation to every worker in depth.

import os
import re
import secrets
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import prov       # noqa: E402
import rawclient  # noqa: E402
import seed       # noqa: E402
import stack      # noqa: E402
import tap        # noqa: E402

if prov.available() is None:
    tap.plan(skip_all="objspace-provisioner not built")

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)
p = prov.Provisioner(st)
raw = rawclient.RawClient(st.port)
TENANT = "e2e" + secrets.token_hex(3)
SANITY = 5.0


def get(ak, sk, bucket, key=""):
    """(status, S3 error code) of a signed GET (list or object)."""
    s, h, b = raw.request("GET", "/%s/%s" % (bucket, key), ak, sk)
    return s, stack.s3_error_code(b) if s >= 300 else None


def until(fn, want, bound=SANITY):
    t0 = time.monotonic()
    while True:
        got = fn()
        if got == want or time.monotonic() - t0 > bound:
            return got, time.monotonic() - t0
        time.sleep(0.005)


def sections(text):
    """The CLI's text output cut at its '# aws cli', '# s3cmd:' and
    '# rclone:' headers: {name: (header line, body lines)}."""
    out, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^# (aws cli|s3cmd|rclone)", line)
        if m:
            name = m.group(1).split()[0]
            out[name] = (line, [])
        elif name and line.strip():
            out[name][1].append(line)
    return out


def fresh_home(name):
    home = os.path.join(st.dir, "home-" + name)
    shutil.rmtree(home, ignore_errors=True)
    os.makedirs(home)
    with open(os.path.join(home, "release.tar.gz"), "wb") as f:
        f.write(b"release " + secrets.token_bytes(2048))
    env = {"HOME": home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    return home, env


def run_shell(lines, home, env):
    r = subprocess.run(["/bin/bash", "-e", "-c", "\n".join(lines)], cwd=home,
                       env=env, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    return r


# ------------------------------------------------------------ create

r = p.cli("space", "create", "--tenant", TENANT, "--name", "artifacts",
          "--purpose", "artifacts", "--quota", "1G", json_out=False)
tap.is_(r.returncode, 0, "space create exits 0")
tap.like(r.stdout, r"S3 API Access: authenticated endpoint",
         "space create prints the S3 API access line")
tap.like(r.stdout, r"Public Web Access: disabled",
         "space create prints the public web access line")
sp = p.cli("space", "show", "%s/artifacts" % TENANT).json or {}
BUCKET = sp.get("bucket", "none")

r = p.cli("key", "create", "--space", BUCKET, "--name", "release-ci-writer",
          "--mode", "read-write-delete", "--prefix", "releases/",
          json_out=False)
tap.is_(r.returncode, 0, "key create exits 0")
out = r.stdout
AK = (re.search(r"^Access Key: (\S+)$", out, re.M) or [None, ""])[1]
SK = (re.search(r"^Secret Key: (\S+)$", out, re.M) or [None, ""])[1]
KID = (re.search(r"^Key ID: (\S+)$", out, re.M) or [None, ""])[1]
tap.ok(AK.startswith("RS3") and len(SK) == 40 and KID.startswith("key_"),
       "key create prints access key, secret and key id")
seed.record_secret(SK)                  # for t/990-secrets-sweep
sec = sections(out)
tap.is_(sorted(sec), ["aws", "rclone", "s3cmd"],
        "three examples printed: aws, s3cmd, rclone")

# ------------------------------------------------------------ aws, as printed

home, env = fresh_home("aws")
lines = sec.get("aws", ("", []))[1]
r = run_shell(lines, home, env)
tap.ok(r.returncode == 0 and "release.tar.gz" in r.stdout,
       "the aws example runs as printed: upload, then list shows it")
if r.returncode:
    tap.diag(r.stdout + r.stderr)
tap.is_(get(AK, SK, BUCKET, "releases/release.tar.gz")[0], 200,
        "the object uploaded by aws is in the space")

# ------------------------------------------------------------ s3cmd

home, env = fresh_home("s3cmd")
hdr, body = sec.get("s3cmd", ("", []))
m = re.search(r"save as (\S+), then: (.*)$", hdr)
tap.ok(m is not None, "the s3cmd example says where to save and what to run")
if m:
    path = m.group(1).replace("~", home)
    with open(path, "w") as f:
        f.write("\n".join(body) + "\n")
    r = run_shell([m.group(2)], home, env)
    tap.ok(r.returncode == 0, "the s3cmd example runs as printed")
    if r.returncode:
        tap.diag(r.stdout + r.stderr)
    r = run_shell([m.group(2).replace("put ./release.tar.gz", "ls")], home,
                  env)
    tap.like(r.stdout, r"releases/release\.tar\.gz",
             "s3cmd with the printed .s3cfg lists the upload")
else:
    tap.skip("no s3cmd example", count=2)

# ------------------------------------------------------------ rclone

home, env = fresh_home("rclone")
hdr, body = sec.get("rclone", ("", []))
m = re.search(r"append to (\S+), then: (.*)$", hdr)
tap.ok(m is not None, "the rclone example says where to append and what "
       "to run")
if m:
    path = m.group(1).replace("~", home)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        f.write("\n".join(body) + "\n")
    tap.ok("AWS_CA_BUNDLE" not in env, "rclone runs without AWS_CA_BUNDLE")
    os.unlink(os.path.join(home, "release.tar.gz"))
    with open(os.path.join(home, "release.tar.gz"), "wb") as f:
        f.write(b"rclone " + secrets.token_bytes(4096))
    r = run_shell([m.group(2)], home, env)
    tap.ok(r.returncode == 0, "the rclone example runs as printed")
    if r.returncode:
        tap.diag(r.stdout + r.stderr)
    remote = m.group(2).split()[-1]
    r = run_shell(["rclone lsf %s" % remote], home, env)
    tap.like(r.stdout, r"release\.tar\.gz",
             "rclone with the printed remote lists the upload")
    s, h, b = raw.request("GET", "/%s/releases/release.tar.gz" % BUCKET, AK,
                          SK)
    tap.ok(s == 200 and b.startswith(b"rclone "),
           "rclone's copy replaced the object (read back via the gateway)")
else:
    tap.skip("no rclone example", count=5)

# ------------------------------------------------------------ revoke

k2 = p.cli("key", "create", "--space", BUCKET, "--name", "revoked",
           "--mode", "read-only").json or {}
ak2, sk2 = k2.get("access_key_id", ""), k2.get("secret_access_key", "")
tap.is_(get(ak2, sk2, BUCKET)[0], 200, "a second key works")
r = p.cli("key", "revoke", k2.get("id", "none"))
t_cli = time.monotonic()
got, waited = until(lambda: get(ak2, sk2, BUCKET)[1], "InvalidAccessKeyId")
tap.is_(got, "InvalidAccessKeyId", "key revoke: the key is refused "
        "(%.0f ms after the CLI returned)" % (waited * 1000))
tap.note("revoke propagation: %.1f ms after `key revoke` returned "
         "(target: within 1 s)" % (waited * 1000))
tap.is_(get(AK, SK, BUCKET, "releases/release.tar.gz")[0], 200,
        "the other key of the space still works")

# ------------------------------------------------------------ rotate

OBJ = "releases/release.tar.gz"          # the key is limited to releases/

r = p.cli("key", "rotate", AK, json_out=False)
NEW = (re.search(r"^Secret Key: (\S+)$", r.stdout, re.M) or [None, ""])[1]
seed.record_secret(NEW)
tap.ok(r.returncode == 0 and len(NEW) == 40 and NEW != SK,
       "key rotate prints a new secret once")
got, waited = until(lambda: get(AK, SK, BUCKET, OBJ)[1], "SignatureDoesNotMatch")
tap.is_(got, "SignatureDoesNotMatch", "after rotate the old secret fails "
        "(%.0f ms)" % (waited * 1000))
tap.is_(get(AK, NEW, BUCKET, OBJ)[0], 200, "after rotate the new secret works")

# with a grace period both work until it ends
r = p.cli("key", "rotate", AK, "--grace", "4s")
NEWER = (r.json or {}).get("secret_access_key", "")
seed.record_secret(NEWER, sk2)
t_rot = time.time()
tap.ok(r.returncode == 0 and NEWER and (r.json or {}).get(
    "previous_secret_valid_until"), "key rotate --grace 4s")
both = [get(AK, NEW, BUCKET, OBJ)[0], get(AK, NEWER, BUCKET, OBJ)[0]]
tap.is_(both, [200, 200], "during the grace period both secrets work")
time.sleep(max(0.0, t_rot + 5.2 - time.time()))
tap.is_(get(AK, NEW, BUCKET, OBJ)[1], "SignatureDoesNotMatch",
        "after the grace period the previous secret fails")
tap.is_(get(AK, NEWER, BUCKET, OBJ)[0], 200, "and the new one works")

# ------------------------------------------------------------ disable

r = p.cli("space", "disable", BUCKET)
tap.is_(r.returncode, 0, "space disable")
got, waited = until(lambda: get(AK, NEWER, BUCKET, OBJ)[0], 403)
tap.is_(got, 403, "a disabled space is refused (%.0f ms)" % (waited * 1000))
r = p.cli("space", "enable", BUCKET)
got, waited = until(lambda: get(AK, NEWER, BUCKET, OBJ)[0], 200)
tap.is_(got, 200, "enabled again: the key works")

out_all = open(st.error_log, errors="replace").read()
tap.ok(SK not in out_all and NEW not in out_all and NEWER not in out_all
       and AK not in out_all, "no secret or access key id in the error log")
tap.ok(not st.alerts(), "no [alert] in the error log")
tap.done_testing()

#!/usr/bin/python3
# s3cmd (Debian, SigV4, path style) through the gateway: put, get, ls, info,
# multipart put (12 MiB in 5 MiB parts), sync, del, del --recursive.

import hashlib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import stack  # noqa: E402
import tap    # noqa: E402

if not os.path.exists("/usr/bin/s3cmd"):
    tap.plan(skip_all="s3cmd not installed (make deps)")

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)

sp = st.seed_space()
key = st.seed_key(sp, "read-write-delete", prefix="")
bucket = sp["bucket"]
cfg = st.s3cmd_config(key["ak"], key["sk"])
work = os.path.join(st.dir, "work")
os.makedirs(os.path.join(work, "tree", "sub"))
env = st.client_env(key["ak"], key["sk"])


def s3cmd(*args):
    r = subprocess.run(["/usr/bin/s3cmd", "-c", cfg, "--no-progress"]
                       + list(args), env=env, capture_output=True,
                       text=True, timeout=600, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        tap.diag("s3cmd %s -> %d\n%s%s" % (" ".join(args), r.returncode,
                                           r.stdout, r.stderr[-2000:]))
    return r


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


small = os.path.join(work, "file one.txt")
with open(small, "wb") as f:
    f.write(b"s3cmd says hi\n" * 50)
big = os.path.join(work, "big.bin")
with open(big, "wb") as f:
    f.write(os.urandom(12 * 1024 * 1024))
for n, size in (("a.txt", 5), ("sub/b.bin", 4096)):
    with open(os.path.join(work, "tree", n), "wb") as f:
        f.write(os.urandom(size))

s3 = "s3://%s/" % bucket
tap.note((s3cmd("--version").stdout or "").strip())
r = s3cmd("put", small, s3 + "s3cmd/file one.txt")
tap.is_(r.returncode, 0, "s3cmd put")
r = s3cmd("ls", s3 + "s3cmd/")
tap.like(r.stdout, r"s3cmd/file one\.txt", "s3cmd ls")
back = os.path.join(work, "back.txt")
r = s3cmd("get", s3 + "s3cmd/file one.txt", back)
tap.ok(r.returncode == 0 and sha(back) == sha(small), "s3cmd get: same bytes")
r = s3cmd("info", s3 + "s3cmd/file one.txt")
tap.like(r.stdout, r"File size:\s+700", "s3cmd info")
r = s3cmd("put", big, s3 + "s3cmd/big.bin")
tap.is_(r.returncode, 0, "s3cmd put 12 MiB (multipart, 5 MiB parts)")
bigback = os.path.join(work, "big.back")
r = s3cmd("get", s3 + "s3cmd/big.bin", bigback)
tap.ok(r.returncode == 0 and sha(bigback) == sha(big),
       "s3cmd get 12 MiB: same bytes")
r = s3cmd("sync", os.path.join(work, "tree") + "/", s3 + "s3cmd/tree/")
tap.is_(r.returncode, 0, "s3cmd sync up")
tap.ok({"s3cmd/tree/a.txt", "s3cmd/tree/sub/b.bin"}
       <= set(st.rgw_keys(sp, "s3cmd/tree/")), "  stored on RGW")
r = s3cmd("del", s3 + "s3cmd/file one.txt")
tap.is_(r.returncode, 0, "s3cmd del")
r = s3cmd("del", "--recursive", "--force", s3 + "s3cmd/")
tap.is_(r.returncode, 0, "s3cmd del --recursive")
tap.is_(st.rgw_keys(sp, "s3cmd/"), [], "  nothing left on RGW")

tap.is_(st.alerts(), [], "no [alert] in nginx's error log")
tap.unlike("\n".join(st.error_log_lines()), re.escape(key["sk"]),
           "the client secret is never logged")
tap.done_testing()

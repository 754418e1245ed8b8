#!/usr/bin/python3
# rclone (Debian, provider Other, path style) through the gateway: copy,
# lsf, cat, copyto of a 12 MiB file in 5 MiB multipart chunks, sync, check,
# delete, purge of a prefix. Runs with AWS_CA_BUNDLE unset (it breaks
# rclone).

import hashlib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import stack  # noqa: E402
import tap    # noqa: E402

if not os.path.exists("/usr/bin/rclone"):
    tap.plan(skip_all="rclone not installed (make deps)")

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)

sp = st.seed_space()
key = st.seed_key(sp, "read-write-delete", prefix="")
bucket = sp["bucket"]
conf = st.rclone_config(key["ak"], key["sk"], remote="gw")
env = st.client_env(key["ak"], key["sk"])
work = os.path.join(st.dir, "work")
os.makedirs(os.path.join(work, "tree", "sub dir"))


def rclone(*args):
    r = subprocess.run(["/usr/bin/rclone", "--config", conf, "--retries",
                        "1", "--low-level-retries", "1",
                        "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]
                       + list(args), env=env, capture_output=True,
                       text=True, timeout=600, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        tap.diag("rclone %s -> %d\n%s%s" % (" ".join(args), r.returncode,
                                            r.stdout, r.stderr[-2000:]))
    return r


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


small = os.path.join(work, "hello.txt")
with open(small, "wb") as f:
    f.write(b"rclone was here\n")
big = os.path.join(work, "big.bin")
with open(big, "wb") as f:
    f.write(os.urandom(12 * 1024 * 1024))
for n, size in (("a.txt", 3), ("sub dir/b~c+d.bin", 9000)):
    with open(os.path.join(work, "tree", n), "wb") as f:
        f.write(os.urandom(size))

R = "gw:%s/rclone/" % bucket
tap.note((rclone("version").stdout.splitlines() or [""])[0])
r = rclone("copy", small, R)
tap.is_(r.returncode, 0, "rclone copy")
r = rclone("lsf", R)
tap.like(r.stdout, r"hello\.txt", "rclone lsf")
r = rclone("cat", R + "hello.txt")
tap.is_(r.stdout, "rclone was here\n", "rclone cat")
r = rclone("copyto", big, R + "big.bin")
tap.is_(r.returncode, 0, "rclone copyto 12 MiB (multipart)")
bigback = os.path.join(work, "big.back")
r = rclone("copyto", R + "big.bin", bigback)
tap.ok(r.returncode == 0 and sha(bigback) == sha(big),
       "  and back: same bytes")
r = rclone("sync", os.path.join(work, "tree"), R + "tree")
tap.is_(r.returncode, 0, "rclone sync")
tap.is_(sorted(st.rgw_keys(sp, "rclone/tree/")),
        ["rclone/tree/a.txt", "rclone/tree/sub dir/b~c+d.bin"],
        "  RGW holds the tree verbatim")
r = rclone("check", os.path.join(work, "tree"), R + "tree")
tap.is_(r.returncode, 0, "rclone check: no differences")
r = rclone("deletefile", R + "hello.txt")
tap.is_(r.returncode, 0, "rclone deletefile")
r = rclone("purge", R)
tap.is_(r.returncode, 0, "rclone purge of the prefix")
tap.is_(st.rgw_keys(sp, "rclone/"), [], "  nothing left on RGW")

tap.is_(st.alerts(), [], "no [alert] in nginx's error log")
tap.unlike("\n".join(st.error_log_lines()), re.escape(key["sk"]),
           "the client secret is never logged")
tap.done_testing()

#!/usr/bin/python3
# aws cli through the gateway: Debian's aws v2 (/usr/bin/aws, 2.9) and the
# pyenv aws v1: s3 cp (up, down, multipart-sized), ls, sync (up, down), rm,
# rm --recursive, presign (fetched with urllib), s3api head-object.
# Errors are asserted elsewhere with boto3 (aws v2 2.9 crashes printing
# RGW errors).

import filecmp
import hashlib
import os
import re
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import stack  # noqa: E402
import tap    # noqa: E402

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)

sp = st.seed_space()
key = st.seed_key(sp, "read-write-delete", prefix="")
bucket = sp["bucket"]
work = os.path.join(st.dir, "work")
os.makedirs(work)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def aws(version, *args, **kw):
    r = st.run_awscli(version, list(args), key["ak"], key["sk"], **kw)
    if r.returncode != 0:
        tap.diag("aws %s %s -> %d\n%s%s" % (version, " ".join(args),
                                           r.returncode, r.stdout,
                                           r.stderr[-2000:]))
    return r


def scenario(version):
    L = "aws %s: " % version
    P = "awscli-%s/" % version
    d = os.path.join(work, version)
    up = os.path.join(d, "up")
    os.makedirs(os.path.join(up, "sub dir"))
    small = os.path.join(d, "release.tar.gz")
    with open(small, "wb") as f:
        f.write(os.urandom(300 * 1024))
    big = os.path.join(d, "big.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(20 * 1024 * 1024))
    for name, size in (("a.txt", 10), ("b.bin", 70000),
                       ("sub dir/c d.txt", 0)):
        with open(os.path.join(up, name), "wb") as f:
            f.write(os.urandom(size))

    s3 = "s3://%s/%s" % (bucket, P)
    r = aws(version, "s3", "cp", small, s3 + "releases/v1.0/")
    tap.is_(r.returncode, 0, L + "s3 cp file up")
    r = aws(version, "s3", "ls", s3 + "releases/v1.0/")
    tap.like(r.stdout, r"release\.tar\.gz", L + "s3 ls shows it")
    back = os.path.join(d, "back.tar.gz")
    r = aws(version, "s3", "cp", s3 + "releases/v1.0/release.tar.gz", back)
    tap.ok(r.returncode == 0 and os.path.exists(back)
           and sha(back) == sha(small), L + "s3 cp down: same bytes")

    r = aws(version, "s3", "cp", big, s3 + "big.bin")
    tap.is_(r.returncode, 0, L + "s3 cp 20 MiB (multipart) up")
    bigback = os.path.join(d, "big.back")
    r = aws(version, "s3", "cp", s3 + "big.bin", bigback)
    tap.ok(r.returncode == 0 and os.path.exists(bigback)
           and sha(bigback) == sha(big), L + "  and down, same bytes")
    r = aws(version, "s3api", "head-object", "--bucket", bucket,
            "--key", P + "big.bin")
    tap.like(r.stdout, r'"ContentLength": %d' % (20 * 1024 * 1024),
             L + "s3api head-object ContentLength")

    r = aws(version, "s3", "sync", up, s3 + "tree/")
    tap.is_(r.returncode, 0, L + "s3 sync up")
    stored = set(st.rgw_keys(sp, P + "tree/"))
    tap.is_(sorted(stored), sorted(P + "tree/" + n for n in
                                   ("a.txt", "b.bin", "sub dir/c d.txt")),
            L + "  RGW holds exactly the synced tree")
    r = aws(version, "s3", "sync", up, s3 + "tree/")
    tap.ok(r.returncode == 0 and "upload:" not in r.stdout,
           L + "s3 sync again uploads nothing")
    down = os.path.join(d, "down")
    r = aws(version, "s3", "sync", s3 + "tree/", down)
    cmp = filecmp.dircmp(up, down)
    tap.ok(r.returncode == 0 and not cmp.diff_files and not cmp.left_only
           and not cmp.right_only, L + "s3 sync down: identical tree")

    r = aws(version, "s3", "presign", s3 + "releases/v1.0/release.tar.gz",
            "--expires-in", "300")
    url = r.stdout.strip()
    tap.like(url, r"X-Amz-Algorithm=AWS4-HMAC-SHA256",
             L + "s3 presign makes a SigV4 URL (signature_version = s3v4)")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            data = resp.read()
        tap.ok(hashlib.sha256(data).hexdigest() == sha(small),
               L + "s3 presign URL fetched with urllib")
    except Exception as e:
        tap.fail(L + "s3 presign URL fetched with urllib", "%s %s" % (url, e))

    r = aws(version, "s3", "rm", s3 + "releases/v1.0/release.tar.gz")
    tap.is_(r.returncode, 0, L + "s3 rm")
    r = aws(version, "s3", "rm", "--recursive", s3)
    tap.is_(r.returncode, 0, L + "s3 rm --recursive")
    tap.is_(st.rgw_keys(sp, P), [], L + "  nothing left on RGW")


for version in ("v2", "v1"):
    if st.awscli(version) is None:
        tap.skip("aws cli %s not installed" % version, 1)
        continue
    r = st.run_awscli(version, ["--version"], key["ak"], key["sk"])
    tap.note("aws %s: %s" % (version, (r.stdout + r.stderr).strip()))
    try:
        scenario(version)
    except Exception as e:
        tap.fail("aws %s scenario finished" % version, repr(e))

tap.is_(st.alerts(), [], "no [alert] in nginx's error log")
tap.unlike("\n".join(st.error_log_lines()), re.escape(key["sk"]),
           "the client secret is never logged")
tap.done_testing()

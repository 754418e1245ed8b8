#!/usr/bin/python3
# curl --aws-sigv4 "aws:amz:us-east-1:s3" through the gateway: PUT (-T),
# GET, range GET, HEAD, list v2, DELETE.
# curl 7.88 (Debian 12) quirks the test follows, as a user must: it sends no
# x-amz-content-sha256 by itself (we pass UNSIGNED-PAYLOAD or the body's
# sha256 with -H, which curl then signs and uses as the payload hash), and
# it neither sorts nor encodes the query (we write it canonical already).

import hashlib
import os
import re
import subprocess
import sys

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
UNSIGNED = "x-amz-content-sha256: UNSIGNED-PAYLOAD"


def curl(*args):
    cmd = ["curl", "-sS", "--max-time", "120", "-o",
           os.path.join(work, "body"), "-D", os.path.join(work, "hdrs"),
           "-w", "%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:s3",
           "--user", "%s:%s" % (key["ak"], key["sk"])] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180,
                       env=st.client_env(key["ak"], key["sk"]))
    with open(os.path.join(work, "body"), "rb") as f:
        body = f.read()
    return int(r.stdout or 0), body


base = st.endpoint + "/" + bucket
src = os.path.join(work, "hello world.txt")
with open(src, "wb") as f:
    f.write(b"hello from curl\n" * 64)
with open(src, "rb") as f:
    data = f.read()

code, body = curl("-H", UNSIGNED, "-T", src, base + "/curl/hello%20world.txt")
tap.is_(code, 200, "PUT -T with UNSIGNED-PAYLOAD")
code, body = curl("-H", UNSIGNED, base + "/curl/hello%20world.txt")
tap.ok(code == 200 and body == data, "GET returns the bytes")
code, body = curl("-H", UNSIGNED, "-H", "Range: bytes=6-9",
                  base + "/curl/hello%20world.txt")
tap.ok(code == 206 and body == data[6:10], "range GET")
code, body = curl("-H", UNSIGNED, "-I", base + "/curl/hello%20world.txt")
with open(os.path.join(work, "hdrs")) as f:
    hdrs = f.read()
tap.ok(code == 200 and re.search(r"(?i)content-length: %d" % len(data),
                                 hdrs), "HEAD: 200 with Content-Length")

sha = hashlib.sha256(data).hexdigest()
code, body = curl("-H", "x-amz-content-sha256: " + sha, "-T", src,
                  base + "/curl/signed.txt")
tap.is_(code, 200, "PUT -T with the signed payload sha256")
tap.is_(st.rgw_client(sp).get_object(Bucket=bucket, Key="curl/signed.txt")
        ["Body"].read(), data, "  stored on RGW")

code, body = curl("-H", UNSIGNED, base + "?list-type=2&prefix=curl%2F")
tap.is_(code, 200, "list v2 (canonical query)")
tap.like(body.decode(errors="replace"), r"<Key>curl/hello world\.txt</Key>",
         "  lists the key")

code, body = curl("-H", UNSIGNED, "-X", "DELETE",
                  base + "/curl/hello%20world.txt")
tap.is_(code, 204, "DELETE")
code, body = curl("-H", UNSIGNED, base + "/curl/hello%20world.txt")
tap.is_(stack.s3_error_code(body), "NoSuchKey", "  then GET: NoSuchKey")
code, body = curl("-H", UNSIGNED, "-X", "DELETE", base + "/curl/signed.txt")
tap.is_(st.rgw_keys(sp, "curl/"), [], "nothing left on RGW")

tap.is_(st.alerts(), [], "no [alert] in nginx's error log")
tap.unlike("\n".join(st.error_log_lines()), re.escape(key["sk"]),
           "the client secret is never logged")
tap.done_testing()

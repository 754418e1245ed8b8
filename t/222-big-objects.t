#!/usr/bin/python3
# 100 MiB objects through the gateway, checked byte for byte on RGW (sha256
# of what RGW holds, read straight with the backend key):
#   - aws cli v2 (Debian) and v1 (pyenv): `s3 cp` (multipart) and
#     `s3api put-object` (one 100 MiB PUT);
#   - boto3 Debian (in-process) and pyenv (child): one put_object of
#     100 MiB (t/200 covers the multipart transfer round trip);
#   - a signed aws-chunked stream (STREAMING-AWS4-HMAC-SHA256-PAYLOAD,
#     64 KiB chunks), which no client here sends by default.
# Gateway worker memory stays flat through all of it (a coarse sanity
# bound; the real figure is `make bench`: growth < 1 MiB per 1 GiB upload).

import hashlib
import os
import subprocess
import sys

LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib")
sys.path.insert(0, LIB)
import clients  # noqa: E402
import sigv4    # noqa: E402
import stack    # noqa: E402
import tap      # noqa: E402

MiB = 1024 * 1024
SIZE = 100 * MiB
RSS_BOUND = 16 * 1024          # KiB; a buffered 100 MiB body would show

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)

sp = st.seed_space()
key = st.seed_key(sp, "read-write-delete")
bucket = sp["bucket"]
work = os.path.join(st.dir, "work")
os.makedirs(work)
src = os.path.join(work, "big.bin")
block = os.urandom(MiB)
with open(src, "wb") as f:
    for i in range(SIZE // MiB):
        f.write(block[i:] + block[:i])      # no two MiB alike
with open(src, "rb") as f:
    want = hashlib.file_digest(f, "sha256").hexdigest()


def on_rgw(k, label):
    """The object on RGW is exactly the source file; then delete it (RGW
    here keeps objects in memory)."""
    try:
        got = st.rgw_digest(sp, k)
    except Exception as e:
        tap.fail(label + ": on RGW, sha256 matches", clients.error_code(e))
        return
    tap.is_(got, (SIZE, want), label + ": on RGW, 100 MiB, sha256 matches")
    st.rgw_client(sp).delete_object(Bucket=bucket, Key=k)


workers = st.nginx_workers()
with stack.RSSWatch(workers) as rss:
    for version in ("v2", "v1"):
        if st.awscli(version) is None:
            tap.skip("aws cli %s not installed" % version, 4)
            continue
        cp, put = "big/%s-cp.bin" % version, "big/%s-put.bin" % version
        for how, k, args in (
                ("s3 cp", cp, ["s3", "cp", src, "s3://%s/%s" % (bucket, cp)]),
                ("s3api put-object", put, [
                    "s3api", "put-object", "--bucket", bucket, "--key", put,
                    "--body", src])):
            r = st.run_awscli(version, args, key["ak"], key["sk"])
            if not tap.is_(r.returncode, 0, "aws %s %s 100 MiB"
                           % (version, how)):
                tap.diag(r.stderr[-1500:])
            on_rgw(k, "aws %s %s" % (version, how))

    s3 = st.boto3_client(key["ak"], key["sk"])
    with open(src, "rb") as f:
        try:
            s3.put_object(Bucket=bucket, Key="big/boto3-debian.bin", Body=f)
            tap.pass_("Debian boto3 put_object 100 MiB")
        except Exception as e:
            tap.fail("Debian boto3 put_object 100 MiB", clients.error_code(e))
    on_rgw("big/boto3-debian.bin", "Debian boto3 put_object")

    py = clients.pyenv_python_with("boto3")
    if py is None:
        tap.skip("no pyenv python with boto3", 2)
    else:
        r = subprocess.run(
            [py, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
             "import clients; "
             "c = clients.boto3_client(*sys.argv[2:5]); "
             "c.put_object(Bucket=sys.argv[5], Key=sys.argv[6], "
             "Body=open(sys.argv[7], 'rb'))",
             LIB, st.endpoint, key["ak"], key["sk"], bucket,
             "big/boto3-pyenv.bin", src],
            capture_output=True, text=True, timeout=600,
            stdin=subprocess.DEVNULL)
        if not tap.is_(r.returncode, 0, "pyenv boto3 put_object 100 MiB"):
            tap.diag(r.stderr[-1500:])
        on_rgw("big/boto3-pyenv.bin", "pyenv boto3 put_object")

    path = "/%s/big/chunked-signed.bin" % bucket

    def pieces():
        with open(src, "rb") as f:
            yield from iter(lambda: f.read(65536), b"")

    h, body = sigv4.chunked_stream("PUT", st.endpoint + path, key["ak"],
                                   key["sk"], st.region, pieces(), SIZE)
    status, data = clients.stream_request(st.port, "PUT", path, h, body)
    tap.is_(status, 200, "signed aws-chunked stream, 100 MiB")
    on_rgw("big/chunked-signed.bin", "signed aws-chunked stream")

tap.ok(rss.growth < RSS_BOUND,
       "gateway worker VmRSS grew %d KiB over all these uploads (< %d)"
       % (rss.growth, RSS_BOUND))
tap.is_(st.alerts(), [], "no [alert]/[crit]/[emerg] in the error log")
tap.done_testing()

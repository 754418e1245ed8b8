#!/usr/bin/python3
# TLS at the public endpoint: nginx runs the shipped conf/objspace-tls.conf
# (addresses, names and paths substituted) with a certificate made here by
# openssl, on a non-default port.  The S3 core cases (boto3 path and
# virtual-hosted style, multipart), presigned GET/PUT and aws cli v2/v1
# (--ca-bundle) work over https: the signed host is HOST:PORT behind TLS.
# Plain http to the TLS port is refused; the CDN host sends HSTS; only
# TLS 1.2/1.3 are negotiated.

import hashlib
import http.client
import os
import re
import socket
import ssl
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients  # noqa: E402
import stack    # noqa: E402
import tap      # noqa: E402

ROOT = stack.ROOT
st = stack.Stack()
if not stack.start_or_fail(st, nginx=False):
    sys.exit(1)

prefix = os.path.join(st.dir, "nginx")
os.makedirs(prefix, exist_ok=True)
crt = os.path.join(st.dir, "tls.crt")
key = os.path.join(st.dir, "tls.key")
r = subprocess.run(
    ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
     "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
     "/CN=s3.localhost", "-keyout", key, "-out", crt, "-addext",
     "subjectAltName=DNS:s3.localhost,DNS:*.s3.localhost,DNS:cdn.localhost,"
     "IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:TRUE"],
    capture_output=True, text=True)
tap.is_(r.returncode, 0, "openssl makes a certificate for s3.localhost, "
        "*.s3.localhost, cdn.localhost, 127.0.0.1")

port, port80 = stack.free_port(), stack.free_port()
with open(os.path.join(ROOT, "conf", "objspace-tls.conf")) as f:
    conf = f.read()
subst = [
    ("/usr/lib/nginx/modules/ngx_http_objspace_module.so", stack.MODULE),
    ("/var/log/nginx/", prefix + "/"),
    ("/etc/objspace/secret.key", st.key_file),
    ("/etc/nginx/tls/s3.example.crt", crt),
    ("/etc/nginx/tls/s3.example.key", key),
    ("/etc/nginx/tls/cdn.example.crt", crt),
    ("/etc/nginx/tls/cdn.example.key", key),
    ("10.0.0.5:7480", st.rgw_hostport),
    ("127.0.0.1:6379", st.redis_addr),
    ("listen 443 ", "listen 127.0.0.1:%d " % port),
    ("listen 80 default_server;", "listen 127.0.0.1:%d default_server;"
     % port80),
    ("listen 80;", "listen 127.0.0.1:%d;" % port80),
    ("include cdn-proxy.conf;",
     "include %s;" % os.path.join(ROOT, "conf", "cdn-proxy.conf")),
    ("cdn.example", "cdn.localhost"),
    ("s3.example", "s3.localhost"),
    ("worker_processes auto;", "worker_processes 2;\ndaemon off;\n"
     "pid %s/nginx.pid;" % prefix),
    ("http {", "http {\n    client_body_temp_path %s/tmp/body;\n"
     "    proxy_temp_path %s/tmp/proxy;" % (prefix, prefix)),
]
for a, b in subst:
    tap.ok(a in conf, "conf/objspace-tls.conf has %r" % a.strip())
    conf = conf.replace(a, b)
try:
    st.start_nginx(conf_text=conf, port=port)
    started = True
except stack.StackError as e:
    tap.fail("nginx runs conf/objspace-tls.conf", str(e))
    started = False
if not started:
    tap.done_testing()

st.endpoint = "https://127.0.0.1:%d" % port
ctx = ssl.create_default_context(cafile=crt)
sp = st.seed_space()
k = st.seed_key(sp, "read-write-delete")
bucket = sp["bucket"]

with socket.create_connection(("127.0.0.1", port)) as raw:
    with ctx.wrap_socket(raw, server_hostname="s3.localhost") as tls:
        tap.ok(tls.version() in ("TLSv1.3", "TLSv1.2"),
               "TLS handshake verifies against the test CA (%s)"
               % tls.version())


def get(url, headers=None, method="GET", body=None):
    u, host = clients.virtual_host_url(url, port)
    h = dict(headers or {})
    if host:
        h["Host"] = host
    req = urllib.request.Request(u, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# --- boto3, both addressing styles ---------------------------------------

for style in ("path", "virtual"):
    c = st.boto3_client(k["ak"], k["sk"], style=style, verify=crt)
    p = "tls-%s/" % style
    body = os.urandom(100 * 1024)
    try:
        c.put_object(Bucket=bucket, Key=p + "a b+c.bin", Body=body)
        got = c.get_object(Bucket=bucket, Key=p + "a b+c.bin")["Body"].read()
        tap.ok(got == body, "boto3 %s over https: put + get" % style)
        r = c.list_objects_v2(Bucket=bucket, Prefix=p)
        tap.is_([o["Key"] for o in r.get("Contents", [])], [p + "a b+c.bin"],
                "  list")
        mpu = c.create_multipart_upload(Bucket=bucket, Key=p + "mpu")
        part = os.urandom(5 * 1024 * 1024)
        parts = []
        for n in (1, 2):
            e = c.upload_part(Bucket=bucket, Key=p + "mpu", PartNumber=n,
                              UploadId=mpu["UploadId"], Body=part)
            parts.append({"PartNumber": n, "ETag": e["ETag"]})
        c.complete_multipart_upload(Bucket=bucket, Key=p + "mpu",
                                    UploadId=mpu["UploadId"],
                                    MultipartUpload={"Parts": parts})
        h = c.head_object(Bucket=bucket, Key=p + "mpu")
        tap.is_(h["ContentLength"], 10 * 1024 * 1024, "  multipart upload")
        url = c.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": p + "a b+c.bin"},
            ExpiresIn=300)
        tap.like(url, r"^https://[^/]*:%d/" % port,
                 "  presigned URL names https and the port")
        s, _h, b = get(url)
        tap.ok(s == 200 and b == body, "  presigned GET over https")
        url = c.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": p + "pre-put"},
            ExpiresIn=300)
        s, _h, _b = get(url, method="PUT", body=b"presigned put")
        tap.is_(s, 200, "  presigned PUT over https")
        tap.ok(p + "pre-put" in st.rgw_keys(sp, p), "    stored on RGW")
        bad = re.sub(r"(X-Amz-Signature=[0-9a-f]{63})([0-9a-f])",
                     lambda m: m.group(1) + ("0" if m.group(2) != "0"
                                             else "1"), url)
        s, _h, b = get(bad, method="PUT", body=b"x")
        tap.is_(s, 403, "  a tampered presigned URL is refused")
        c.delete_object(Bucket=bucket, Key=p + "a b+c.bin")
        tap.ok(p + "a b+c.bin" not in st.rgw_keys(sp, p), "  delete")
    except Exception as e:
        tap.fail("boto3 %s over https" % style, repr(e))

# --- aws cli v2 (Debian) and v1 (pyenv) with --ca-bundle ------------------

src = os.path.join(st.dir, "cli.bin")
with open(src, "wb") as f:
    f.write(os.urandom(300 * 1024))
for v in ("v2", "v1"):
    if st.awscli(v) is None:
        tap.skip("aws cli %s not available" % v)
        continue
    dst = "s3://%s/tls-cli-%s/cli.bin" % (bucket, v)
    r = st.run_awscli(v, ["--ca-bundle", crt, "s3", "cp", src, dst],
                      k["ak"], k["sk"])
    # aws cli v1 (botocore 1.43) over https streams the file as
    # STREAMING-UNSIGNED-PAYLOAD-TRAILER with Transfer-Encoding: chunked; the
    # gateway reads and verifies it first, then sends RGW the decoded body
    # with its Content-Length (S3 backends refuse chunked uploads without
    # one).
    todo = None
    tap.ok(r.returncode == 0, "aws %s --ca-bundle: s3 cp up" % v, todo=todo)
    if r.returncode != 0:
        tap.diag(r.stderr[-500:])
    back = src + "." + v
    r = st.run_awscli(v, ["--ca-bundle", crt, "s3", "cp", dst, back],
                      k["ak"], k["sk"])
    same = (r.returncode == 0 and os.path.exists(back) and
            hashlib.sha256(open(back, "rb").read()).digest()
            == hashlib.sha256(open(src, "rb").read()).digest())
    tap.ok(same, "  s3 cp down: same bytes", todo=todo)
    r = st.run_awscli(v, ["--ca-bundle", crt, "s3", "presign", dst],
                      k["ak"], k["sk"])
    url = r.stdout.strip()
    s, _h, b = get(url) if url.startswith("https://") else (0, {}, b"")
    tap.ok(s == 200, "  s3 presign: the URL works over https (%s)" % s,
           todo=todo)
    r = st.run_awscli(v, ["s3", "ls", "s3://%s/" % bucket], k["ak"],
                      k["sk"])
    tap.ok(r.returncode != 0 and re.search(r"(?i)ssl|certificate", r.stderr),
           "  without the CA bundle the certificate is refused")

# --- clear text, HSTS ------------------------------------------------------

s, _h, b = st.http("GET", "http://127.0.0.1:%d/%s" % (port, bucket))
tap.is_(s, 400, "plain http to the TLS port is refused (400)")
s, h, _b = get(st.endpoint + "/", headers={"Host": "cdn.localhost"})
tap.like(h.get("Strict-Transport-Security", ""), r"max-age=\d{7,}",
         "the CDN host sends HSTS (status %d)" % s)
conn = http.client.HTTPConnection("127.0.0.1", port80, timeout=10)
conn.request("GET", "/x", headers={"Host": "cdn.localhost"})
resp = conn.getresponse()
tap.ok(resp.status == 301 and (resp.getheader("Location") or "")
       .startswith("https://cdn.localhost"),
       "http on the CDN host redirects to https")
conn.close()

tap.is_(st.alerts(), [], "no [alert] in the error log")
tap.done_testing()

#!/usr/bin/python3
# Log hygiene: the whole client workflow (Debian boto3 path + virtual style,
# pyenv boto3, aws cli v2 and v1, s3cmd, rclone, presigned URLs, refused
# requests) runs through nginx with the recommended access log_format of
# conf/objspace.conf and the error log at info (debug off).  Then every log
# is searched for every secret, signature, access key id and object key the
# run used: nginx's error, access and stderr logs and Redis' log must hold
# none of them; RGW's logs none of the client's credentials or signatures
# (the backend gets re-signed requests; object names are its business).
# Also: the storage root (admin) credentials appear nowhere in Redis, in
# nginx's config or in anything under nginx's prefix.

import os
import re
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients         # noqa: E402
import scenario_boto3  # noqa: E402
import stack           # noqa: E402
import tap             # noqa: E402

import redis           # noqa: E402

ROOT = stack.ROOT
with open(os.path.join(ROOT, "conf", "objspace.conf")) as f:
    example = f.read()
m = re.search(r"^\s*(log_format objspace .*?;)\s*$", example, re.M | re.S)
tap.ok(m is not None, "conf/objspace.conf has the objspace log_format")
fmt = m.group(1) if m else ""
for var in ("$request ", "$request_uri", "$uri", "$args", "$query_string",
            "$http_authorization", "$objspace_upstream_uri"):
    tap.ok(var not in fmt + " ", "  it does not log %s" % var.strip())

template = stack.NGINX_CONF.replace(
    "    access_log {prefix}/access.log;",
    "    " + fmt.replace("{", "{{").replace("}", "}}")
    + "\n    access_log {prefix}/access.log objspace;")
tap.ok("debug" not in template, "error log at info, no debug")

st = stack.Stack()
if not stack.start_or_fail(st, template=template):
    sys.exit(1)

token = os.urandom(6).hex()           # in every object key of this run
sp = st.seed_space()
key = st.seed_key(sp, "read-write-delete")
ro = st.seed_key(sp, "read-only")
bucket = sp["bucket"]
env = st.client_env(key["ak"], key["sk"])
work = os.path.join(st.dir, "work")
os.makedirs(work)
signatures = set()


def record_signature(request, **kwargs):
    m = re.search(r"Signature=([0-9a-f]{64})",
                  str(request.headers.get("Authorization", "")))
    if m:
        signatures.add(m.group(1))
    m = re.search(r"X-Amz-Signature=([0-9a-f]{64})", request.url)
    if m:
        signatures.add(m.group(1))


def recording_client(ak, sk, style="path"):
    c = st.boto3_client(ak, sk, style=style)
    c.meta.events.register_first("before-send", record_signature)
    return c


def run(label, argv, **kw):
    r = subprocess.run(argv, env=kw.pop("env", env), capture_output=True,
                       text=True, timeout=600, stdin=subprocess.DEVNULL, **kw)
    if not tap.is_(r.returncode, 0, label):
        tap.diag(r.stderr[-1500:])
    return r


# --- the workflow ---------------------------------------------------------

for style in ("path", "virtual"):
    p = "hyg-%s-%s/" % (token, style)
    try:
        scenario_boto3.run(st.endpoint, key["ak"], key["sk"], bucket, p,
                           style, big=False, label="debian boto3 " + style)
    except Exception as e:
        tap.fail("debian boto3 %s scenario" % style, repr(e))

py = clients.pyenv_python_with("boto3")
if py:
    cenv = dict(os.environ, SCN_ENDPOINT=st.endpoint, SCN_AK=key["ak"],
                SCN_SK=key["sk"], SCN_BUCKET=bucket,
                SCN_PREFIX="hyg-%s-pyenv/" % token, SCN_STYLE="path",
                SCN_BIG="0")
    r = subprocess.run([py, scenario_boto3.__file__], env=cenv,
                       capture_output=True, text=True, timeout=900,
                       stdin=subprocess.DEVNULL)
    bad = [l for l in r.stdout.splitlines() if l.startswith("not ok")]
    tap.ok(r.returncode == 0 and not bad,
           "pyenv boto3 scenario (%d results)" % r.stdout.count("ok "))
else:
    tap.skip("no pyenv boto3")

c = recording_client(key["ak"], key["sk"])
obj = "hyg-%s-signed/caf\u00e9 report+1.txt" % token
c.put_object(Bucket=bucket, Key=obj, Body=b"signed")
c.get_object(Bucket=bucket, Key=obj)["Body"].read()
c.list_objects_v2(Bucket=bucket, Prefix="hyg-%s-signed/" % token)
c.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": obj}]})
tap.ok(len(signatures) >= 4, "signatures recorded: %d" % len(signatures))

for method, body in (("put_object", b"presigned body"), ("get_object", None)):
    url = c.generate_presigned_url(
        method, Params={"Bucket": bucket,
                        "Key": "hyg-%s-presigned/obj.bin" % token},
        ExpiresIn=600)
    record_signature(type("R", (), {"headers": {}, "url": url})())
    s, _h, _b = st.http("PUT" if body else "GET", url, body=body)
    tap.is_(s, 200, "presigned %s" % method)
bad_url = re.sub(r"(X-Amz-Signature=[0-9a-f]{63})([0-9a-f])",
                 lambda m: m.group(1) + ("1" if m.group(2) == "0" else "0"),
                 url)
s, _h, _b = st.http("GET", bad_url)
tap.is_(s, 403, "tampered presigned URL refused")

src = os.path.join(work, "cli %s.txt" % token)
with open(src, "w") as f:
    f.write("cli\n")
for v in ("v2", "v1"):
    if st.awscli(v) is None:
        tap.skip("aws cli %s not available" % v)
        continue
    dst = "s3://%s/hyg-%s-cli%s/up load.txt" % (bucket, token, v)
    r = st.run_awscli(v, ["--debug", "s3", "cp", src, dst], key["ak"],
                      key["sk"])
    tap.is_(r.returncode, 0, "aws %s s3 cp" % v)
    signatures.update(re.findall(r"Signature=([0-9a-f]{64})", r.stderr))
    r = st.run_awscli(v, ["s3", "ls", "s3://%s/hyg-%s-cli%s/" % (bucket,
                                                                  token, v)],
                      key["ak"], key["sk"])
    tap.like(r.stdout, r"up load\.txt", "  s3 ls")
    r = st.run_awscli(v, ["s3", "presign", dst], key["ak"], key["sk"])
    signatures.update(re.findall(r"X-Amz-Signature=([0-9a-f]{64})",
                                 r.stdout))
    s, _h, _b = st.http("GET", r.stdout.strip())
    tap.is_(s, 200, "  s3 presign URL works")
    r = st.run_awscli(v, ["s3", "rm", dst], key["ak"], key["sk"])
    tap.is_(r.returncode, 0, "  s3 rm")

if os.path.exists("/usr/bin/s3cmd"):
    cfg = st.s3cmd_config(key["ak"], key["sk"])
    s3 = "s3://%s/hyg-%s-s3cmd/" % (bucket, token)
    s3c = ["/usr/bin/s3cmd", "-c", cfg, "--no-progress"]
    run("s3cmd put", s3c + ["put", src, s3 + "s3cmd file.txt"])
    run("s3cmd ls", s3c + ["ls", s3])
    run("s3cmd get", s3c + ["get", "--force", s3 + "s3cmd file.txt",
                            os.path.join(work, "back.txt")])
    run("s3cmd del", s3c + ["del", s3 + "s3cmd file.txt"])
else:
    tap.skip("no s3cmd")

if os.path.exists("/usr/bin/rclone"):
    conf = st.rclone_config(key["ak"], key["sk"])
    rc = ["/usr/bin/rclone", "--config", conf, "--retries", "1"]
    remote = "gw:%s/hyg-%s-rclone/" % (bucket, token)
    run("rclone copyto", rc + ["copyto", src, remote + "r clone.txt"])
    run("rclone lsf", rc + ["lsf", remote])
    run("rclone deletefile", rc + ["deletefile", remote + "r clone.txt"])
else:
    tap.skip("no rclone")

# refusals are logged too: make some
bad = recording_client(key["ak"], key["sk"][:-2] + "xx")
for fn in (lambda: bad.list_objects_v2(Bucket=bucket),
           lambda: recording_client(ro["ak"], ro["sk"]).put_object(
               Bucket=bucket, Key="hyg-%s-denied/x" % token, Body=b"x"),
           lambda: recording_client("RS3NOSUCHKEY" + token.upper(),
                                    "s" * 40).head_bucket(Bucket=bucket)):
    try:
        fn()
        tap.fail("refused request")
    except Exception:
        tap.pass_("refused request")

# --- the search -----------------------------------------------------------

st.stop_nginx()          # flush and close every log

secrets_ = {
    "client access key id": key["ak"],
    "client secret": key["sk"],
    "read-only access key id": ro["ak"],
    "read-only secret": ro["sk"],
    "backend secret": sp["backend_sk"],
    "storage admin access key": st.rgw_env["RGW_ADMIN_ACCESS_KEY"],
    "storage admin secret": st.rgw_env["RGW_ADMIN_SECRET_KEY"],
}
for i, sig in enumerate(sorted(signatures)):
    secrets_["signature %d" % i] = sig
names = {"object key token": token}
for k in scenario_boto3.SPECIAL_KEYS:
    names["object key %r" % k] = k
    names["object key %r (encoded)" % k] = urllib.parse.quote(k, safe="/")


def logs_under(d, pattern=r"\.log$|^stderr"):
    out = []
    for base, _dirs, files in os.walk(d):
        out += [os.path.join(base, f) for f in files if re.search(pattern, f)]
    return out


nginx_logs = logs_under(os.path.join(st.dir, "nginx"))
redis_logs = logs_under(os.path.join(st.dir, "redis"))
rgw_dir = os.path.dirname(st.rgw_env.get("RGW_CEPH_CONF", ""))
rgw_logs = [f for f in logs_under(os.path.join(rgw_dir, "log"))
            if not f.endswith("setup.log")]   # the stack tool's own commands
tap.ok(any(f.endswith("error.log") for f in nginx_logs)
       and any(f.endswith("access.log") for f in nginx_logs),
       "nginx error and access logs found (%d files)" % len(nginx_logs))
tap.ok(redis_logs, "redis log found")
tap.ok(rgw_logs, "RGW logs found (%d files)" % len(rgw_logs))
access = open(os.path.join(st.dir, "nginx", "access.log")).read()
tap.ok(access.count("\n") > 100 and key["id"] in access,
       "the access log has the run (%d lines) and names identities"
       % access.count("\n"))


def find(files, needles):
    hits = []
    for path in files:
        with open(path, "rb") as f:
            data = f.read().decode("utf-8", "replace")
        for label, needle in needles.items():
            if needle and needle in data:
                hits.append("%s in %s" % (label, os.path.relpath(path, ROOT)))
    return hits


def search(files, needles, what):
    tap.is_(find(files, needles), [], what)


# the search itself finds what is there (a file written for the purpose)
control = os.path.join(work, "control.log")
with open(control, "w") as f:
    f.write("GET /%s/%s?X-Amz-Signature=%s key=%s\n"
            % (bucket, scenario_boto3.SPECIAL_KEYS[0] + token,
               sorted(signatures)[0], key["sk"]))
tap.is_(len(find([control], dict(secrets_, **names))), 4,
        "control: the search finds a key, the token, a signature, a secret")
os.remove(control)      # it holds secrets on purpose: not a log to keep


search(nginx_logs + redis_logs, dict(secrets_, **names),
       "nginx and Redis logs: no secret, signature, access key id or object "
       "key (%d needles)" % (len(secrets_) + len(names)))
client_creds = {k: v for k, v in secrets_.items()
                if k.startswith(("client", "read-only", "signature"))}
search(rgw_logs, client_creds,
       "RGW logs: no client access key id, secret or signature")

# --- root storage credentials never reach Redis or nginx -----------------

r = redis.Redis(host="127.0.0.1", port=st.redis_port)
r.ping()  # redis was left running: stop_nginx only
dump = []
for k in r.scan_iter(count=1000):
    t = r.type(k).decode()
    dump.append(k)
    if t == "string":
        dump.append(r.get(k))
    elif t == "hash":
        for f, v in r.hgetall(k).items():
            dump += [f, v]
    elif t == "set":
        dump += list(r.smembers(k))
    elif t == "zset":
        dump += [m for m, _s in r.zrange(k, 0, -1, withscores=True)]
    elif t == "list":
        dump += r.lrange(k, 0, -1)
    elif t == "stream":
        for _id, fields in r.xrange(k):
            for f, v in fields.items():
                dump += [f, v]
blob = b"\n".join(x if isinstance(x, bytes) else str(x).encode()
                  for x in dump).decode("utf-8", "replace")
tap.ok(len(dump) > 10, "Redis dumped: %d keys and values" % len(dump))
for label in ("storage admin access key", "storage admin secret",
              "client secret", "backend secret"):
    tap.ok(secrets_[label] not in blob, "Redis holds no %s" % label)

files = [os.path.join(b, f) for b, _d, fs in
         os.walk(os.path.join(st.dir, "nginx")) for f in fs]
search(files, {k: secrets_[k] for k in ("storage admin access key",
                                        "storage admin secret",
                                        "client secret", "backend secret")},
       "nginx's config, logs and prefix: no storage admin credential, no "
       "plaintext secret")

tap.done_testing()

#!/usr/bin/python3
# The public frontend without proxy_cache (the backend answers every
# request): conditionals, single and multi-range, HEAD, listing, public off;
# and the configurations nginx must refuse.

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tap    # noqa: E402
import cdn    # noqa: E402
import stack  # noqa: E402

st = stack.Stack()
st.start(nginx=False)
CDN_PORT = stack.free_port()
st.start_nginx(extra_http=cdn.plain_server(st, CDN_PORT))
conf = cdn.provisioner_conf(st)
sp = st.seed_space()
s3 = st.rgw_client(sp)
body = bytes(range(256)) * 64          # 16 KiB
s3.put_object(Bucket=sp["bucket"], Key="f/data.bin", Body=body,
              ContentType="application/x-test")
s3.put_object(Bucket=sp["bucket"], Key="f/a.txt", Body=b"a")
cdn.prov(conf, "space", "public", sp["bucket"], "on", "--prefix", "f/",
         "--slug", "nc", "--listing")


class Client(cdn.CdnStack):
    """Only the HTTP helpers of CdnStack, on this server."""
    def __init__(self, port):
        self.cdn_port = port


c = Client(CDN_PORT)
s, h, b = c.get("/nc/f/data.bin")
tap.is_((s, b, h.get("content-type")), (200, body, "application/x-test"),
        "no cache: GET")
etag = h.get("etag")
s, h, b = c.request("HEAD", "/nc/f/data.bin")
tap.is_((s, b, h.get("content-length")), (200, b"", str(len(body))),
        "no cache: HEAD")
s, h, b = c.get("/nc/f/data.bin", headers={"If-None-Match": etag})
tap.is_((s, b), (304, b""), "no cache: If-None-Match -> 304 (backend)")
s, h, b = c.get("/nc/f/data.bin",
                headers={"If-Modified-Since":
                         "Sat, 01 Jan 2000 00:00:00 GMT"})
tap.is_(s, 200, "no cache: If-Modified-Since in the past -> 200")
s, h, b = c.get("/nc/f/data.bin", headers={"Range": "bytes=100-199"})
tap.is_((s, b, h.get("content-range")),
        (206, body[100:200], "bytes 100-199/%d" % len(body)),
        "no cache: single range from the backend")
s, h, b = c.get("/nc/f/data.bin", headers={"Range": "bytes=0-9,16000-"})
m = re.match(r"multipart/byteranges; boundary=(\S+)",
             h.get("content-type", ""))
tap.ok(s == 206 and m and body[:10] in b and body[16000:] in b
       and b"bytes 0-9/16384" in b and b"bytes 16000-16383/16384" in b
       and h.get("content-length") == str(len(b)),
       "no cache: multi-range streamed from the whole object (206)")
s, h, b = c.get("/nc/f/")
tap.ok(s == 200 and b"a.txt" in b and b"data.bin" in b,
       "no cache: listing")
cdn.prov(conf, "space", "public", sp["bucket"], "off")
deadline = time.time() + 1
while time.time() < deadline and c.get("/nc/f/data.bin")[0] != 404:
    time.sleep(0.02)
tap.is_(c.get("/nc/f/data.bin")[0], 404, "public off: 404 within 1 s")
tap.is_(st.alerts(), [], "no [alert]")

# space delete releases the space's CDN names and rules
cdn.prov(conf, "space", "public", sp["bucket"], "on", "--slug", "nc",
         "--host", "nc.example")
R = st.seeder.r
tap.ok(R.get("objspace:slug:nc") == sp["id"]
       and R.get("objspace:pubhost:nc.example") == sp["id"],
       "slug and host claimed")
r = subprocess.run([cdn.PROVISIONER, "--config", conf, "space", "delete",
                    sp["bucket"]], capture_output=True, text=True)
tap.ok(r.returncode == 0 and R.get("objspace:slug:nc") is None
       and R.get("objspace:pubhost:nc.example") is None
       and not R.exists("objspace:public:" + sp["id"]),
       "space delete: slug, host and rules released")
tap.is_(c.get("/nc/f/a.txt")[0], 404, "the deleted space's URLs: 404")
sp2 = st.seed_space()
out = cdn.prov(conf, "space", "public", sp2["bucket"], "on", "--slug", "nc")
tap.is_(out["public_slug"], "nc", "another space may claim the slug now")

# configurations nginx refuses
base = st.nginx_conf(port=stack.free_port())
for label, server, want in (
        ("objspace_backend_host missing",
         "server { listen 127.0.0.1:1; objspace_public on; }",
         r'"objspace_public" requires "objspace_backend_host"'),
        ("an unknown mode",
         "server { listen 127.0.0.1:1; objspace_public maybe; }",
         r'invalid value "maybe"'),
        ("list limit out of range",
         "server { listen 127.0.0.1:1; objspace_public_list_limit 5000; }",
         r"must be between 1 and 1000"),
        ("metrics zone without size",
         "objspace_public_metrics_zone pm;",
         r'invalid zone "pm"')):
    text = base.replace("    upstream objspace_backend {",
                        "    %s\n    upstream objspace_backend {" % server,
                        1)
    rc, out = st.nginx_test(text)
    tap.ok(rc != 0 and re.search(want, out),
           "nginx refuses: %s (%s)" % (label, want))
no_redis = re.sub(r"objspace_redis .*;", "", base).replace(
    "    upstream objspace_backend {",
    "    server { listen 127.0.0.1:1; objspace_public on;\n"
    "             objspace_backend_host 127.0.0.1:1; }\n"
    "    upstream objspace_backend {", 1)
no_redis = no_redis.replace("objspace_gateway       on;",
                            "objspace_gateway       off;")
rc, out = st.nginx_test(no_redis)
tap.ok(rc != 0 and '"objspace_public" requires "objspace_redis"' in out,
       "nginx refuses objspace_public without objspace_redis")

tap.done_testing()

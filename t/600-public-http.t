#!/usr/bin/python3
# Public web/CDN frontend (issue 6) over HTTP, running the shipped
# conf/cdn.conf (proxy_cache, slices, error_page 404): publication rules set
# with the provisioner CLI, GET/HEAD/405, Content-Type, Cache-Control,
# ETag/Last-Modified, conditional requests, ranges, index document, 404
# page, listings with paging past 1,000 keys, CORS, content types, private
# spaces and prefixes (404, no existence leak), path tricks, backend errors
# that leak nothing, turning public off within 1 s with a warm cache,
# custom hosts, per-space metrics.

import os
import re
import sys
import time
import json
import http.client
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tap   # noqa: E402
import cdn   # noqa: E402
import stack  # noqa: E402


def edit(text):
    # X-Cache shows nginx's cache status; a second server for custom hosts
    host_server = """
    server {
        listen 127.0.0.1:%d;
        objspace_public        host;
        objspace_backend_host  %s;
        location / {
            include %s;
        }
    }
""" % (HOST_PORT, st.rgw_hostport, cdn.PROXY_CONF)
    text = text.replace("include                %s;" % cdn.PROXY_CONF,
                        "include                %s;\n"
                        "            add_header X-Cache $upstream_cache_status "
                        "always;" % cdn.PROXY_CONF, 1)
    i = text.rindex("}")
    return text[:i] + host_server + "}\n"


st = cdn.CdnStack()
HOST_PORT = stack.free_port()
st.start(nginx=False)
st.start_cdn(edit=edit)

sp = st.seed_space()
other = st.seed_space()
BUCKET = sp["bucket"]
RGW_PORT = st.rgw_hostport.split(":")[1]
s3 = st.rgw_client(sp)
s3o = st.rgw_client(other)

big = os.urandom(3 * 1024 * 1024 + 17)
objects = {
    "site/index.html": (b"<html><body>home</body></html>", "text/html"),
    "site/style.css": (b"body { color: red }", None),   # binary/octet-stream
    "site/404.html": (b"<h1>custom not found</h1>", "text/html"),
    "site/sub/page.txt": (b"0123456789abcdefghij", "text/plain"),
    "site/assets/app.0f3a.js": (b"console.log(1)", None),
    "site/big.bin": (big, "application/x-test"),
    "typed/a.txt": (b"plain", "text/plain"),
    "typed/b.html": (b"<b>html</b>", "text/html"),
    "private/secret.txt": (b"top secret", "text/plain"),
}
for k, (body, ct) in objects.items():
    kw = {"ContentType": ct} if ct else {}
    s3.put_object(Bucket=BUCKET, Key=k, Body=body, **kw)
s3o.put_object(Bucket=other["bucket"], Key="site/index.html",
               Body=b"other space", ContentType="text/html")

# 1,005 keys for listing pages (the backend's page is 1,000 keys)
NLIST = 1005
with ThreadPoolExecutor(16) as ex:
    list(ex.map(lambda i: s3.put_object(Bucket=BUCKET,
                                        Key="list/k%04d.txt" % i, Body=b"x"),
                range(NLIST)))
s3.put_object(Bucket=BUCKET, Key="list/dir/inner.txt", Body=b"y")

# ------------------------------------------------------------ provisioner

out = st.public(sp, "on", "--prefix", "site/", "--slug", "acme",
                "--index", "index.html", "--error-page", "site/404.html",
                "--cors", "https://app.example",
                "--cache-control", "public, max-age=300")
tap.is_(out.get("public_base_url"), "http://cdn.invalid/acme/",
        "space public --json: public_base_url is web_endpoint/slug/")
tap.is_((out.get("visibility"), out.get("public_slug")), ("public", "acme"),
        "space public on: visibility public, slug claimed")
tap.is_(out["public_rules"].get("site/"),
        {"index": "index.html", "error_page": "site/404.html",
         "cors": "https://app.example",
         "cache_control": "public, max-age=300"},
        "space public --json: the rule's options")
st.public(sp, "on", "--prefix", "site/assets/", "--immutable")
st.public(sp, "on", "--prefix", "list/", "--listing")
out = st.public(sp, "on", "--prefix", "typed/", "--types", "text/plain",
                "--host", "files.example")
tap.is_(sorted(out["public_rules"]), ["list/", "site/", "site/assets/",
                                      "typed/"],
        "four public prefixes; the slug stays")
tap.is_(out.get("public_host_url"), "http://files.example/",
        "custom host: public_host_url")
r = st.public(other, "on", "--slug", "acme", expect=4)
tap.like(r.stderr, r"slug \"acme\" is taken",
         "a slug names one space: a second claim is refused (exit 4)")
r = st.public(sp, "on", "--slug", "../x", expect=2)
tap.like(r.stderr, r"invalid --slug", "an invalid slug is refused (exit 2)")
r = st.public(sp, "off", "--prefix", "nope/", expect=3)
tap.like(r.stderr, r"no public rule", "off for an unknown prefix: exit 3")

# ------------------------------------------------------------ objects


def hdr(h, name):
    return h.get(name.lower())


s, h, b = st.get("/acme/site/index.html")
tap.is_((s, b), (200, objects["site/index.html"][0]), "GET object: 200, body")
tap.is_(hdr(h, "content-type"), "text/html", "stored Content-Type")
tap.is_(hdr(h, "cache-control"), "public, max-age=300",
        "Cache-Control from the rule")
tap.ok(hdr(h, "etag") and hdr(h, "last-modified"),
       "ETag and Last-Modified present")
tap.is_(hdr(h, "content-length"), str(len(b)), "Content-Length")
tap.ok(not any(k.startswith("x-amz-") or k.startswith("x-rgw-") for k in h),
       "no x-amz-*/x-rgw-* response headers")
etag, lastmod = hdr(h, "etag"), hdr(h, "last-modified")

s, h, b = st.get("/acme/site/")
tap.is_((s, b), (200, objects["site/index.html"][0]),
        "directory URL serves the index document")
s, h, b = st.get("/acme/site/style.css")
tap.is_((s, hdr(h, "content-type")), (200, "text/css"),
        "octet-stream object: Content-Type by extension")
s, h, b = st.get("/acme/site/assets/app.0f3a.js")
tap.is_((s, hdr(h, "content-type"), hdr(h, "cache-control")),
        (200, "application/javascript",
         "public, max-age=31536000, immutable"),
        "immutable rule on a longer prefix")
s, h, b = st.get("/acme")
tap.is_((s, hdr(h, "location")), (301, "http://127.0.0.1:%d/acme/"
                                  % st.cdn_port),
        "/slug redirects to /slug/")

s, h, b = st.request("HEAD", "/acme/site/index.html")
tap.is_((s, b, hdr(h, "content-length"), hdr(h, "etag")),
        (200, b"", str(len(objects["site/index.html"][0])), etag),
        "HEAD: headers, no body")

for m in ("POST", "PUT", "DELETE", "PATCH"):
    s, h, b = st.request(m, "/acme/site/index.html")
    tap.is_((s, hdr(h, "allow")), (405, "GET, HEAD"), "%s: 405" % m)
s, h, b = st.request("DELETE", "/nosuchslug/x")
tap.is_(s, 405, "405 for an unknown slug too (decided before any lookup)")

# conditional requests (served by nginx's cache after the first fetch)
for label, hh, want in (
        ("If-None-Match matching", {"If-None-Match": etag}, 304),
        ("If-None-Match other", {"If-None-Match": '"x"'}, 200),
        ("If-Modified-Since = Last-Modified", {"If-Modified-Since": lastmod},
         304),
        ("If-Match other", {"If-Match": '"x"'}, 412)):
    s, h, b = st.get("/acme/site/index.html", headers=hh)
    tap.is_(s, want, "conditional: %s -> %d" % (label, want))

# ranges
s, h, b = st.get("/acme/site/sub/page.txt", headers={"Range": "bytes=3-6"})
tap.is_((s, b, hdr(h, "content-range")), (206, b"3456", "bytes 3-6/20"),
        "single range: 206")
s, h, b = st.get("/acme/site/sub/page.txt", headers={"Range": "bytes=-4"})
tap.is_((s, b), (206, b"ghij"), "suffix range: 206")
s, h, b = st.get("/acme/site/big.bin",
                 headers={"Range": "bytes=1048570-1048585"})
tap.is_((s, b), (206, big[1048570:1048586]),
        "a range across a 1 MiB slice boundary")
s, h, b = st.get("/acme/site/big.bin")
tap.ok(s == 200 and b == big and hdr(h, "content-length") == str(len(big)),
       "a 3 MiB object through slices: whole and intact")


def parts(h, body):
    """(content-range, bytes) of each part of a multipart/byteranges."""
    m = re.match(r"multipart/byteranges; boundary=(\S+)$",
                 h.get("content-type", ""))
    if not m:
        return None
    out = []
    for chunk in body.split(b"--" + m.group(1).encode())[1:-1]:
        head, _, data = chunk.partition(b"\r\n\r\n")
        cr = re.search(rb"Content-Range: bytes (\S+)", head).group(1)
        out.append((cr.decode(), data[:-2] if data.endswith(b"\r\n")
                    else data))
    return out


for label, path, want in (
        ("small object", "/acme/site/sub/page.txt",
         [("0-1/20", b"01"), ("5-7/20", b"567"), ("17-19/20", b"hij")]),
        ("3 MiB object across slices", "/acme/site/big.bin",
         [("10-19/%d" % len(big), big[10:20]),
          ("1048570-1048585/%d" % len(big), big[1048570:1048586]),
          ("%d-%d/%d" % (len(big) - 5, len(big) - 1, len(big)),
           big[-5:])])):
    rng = {"small object": "bytes=0-1, 5-7,-3",
           "3 MiB object across slices":
           "bytes=10-19,1048570-1048585,-5"}[label]
    for attempt in ("first", "cached"):
        s, h, b = st.get(path, headers={"Range": rng})
        tap.is_((s, parts(h, b)), (206, want),
                "multi-range, %s (%s): 206 multipart/byteranges"
                % (label, attempt))
        tap.is_(h.get("content-length"), str(len(b)),
                "multi-range: Content-Length is the multipart body's")
s, h, b = st.get("/acme/site/sub/page.txt",
                 headers={"Range": "bytes=5-7,0-1"})
tap.is_((s, b), (200, objects["site/sub/page.txt"][0]),
        "ranges out of order with slices: the whole object (200)")
s, h, b = st.get("/acme/site/sub/page.txt",
                 headers={"Range": "bytes=99999-"})
tap.is_(s, 416, "unsatisfiable range: 416")
tap.ok(BUCKET.encode() not in b and RGW_PORT.encode() not in b,
       "416 body names neither the bucket nor the backend")

# missing keys, private prefixes and spaces: 404 without a leak
s, h, b = st.get("/acme/site/missing.html")
tap.is_((s, b), (404, objects["site/404.html"][0]),
        "missing key: 404 with the space's 404 page")
s, h, b = st.get("/acme/site/sub/")
tap.is_((s, b), (404, objects["site/404.html"][0]),
        "directory without index document (no listing): the 404 page")
s_plain, h_plain, b_plain = st.get("/nosuchslug/site/index.html")
tap.is_(s_plain, 404, "unknown slug: 404")
for path, label in (("/acme/private/secret.txt", "an unpublished prefix"),
                    ("/acme/private/missing.txt",
                     "a missing key in an unpublished prefix"),
                    ("/acme/", "the space root (not published)")):
    s, h, b = st.get(path)
    tap.is_((s, b), (404, b_plain),
            "%s: the same 404 as an unknown slug" % label)

st.public(other, "on", "--slug", "other")
s, h, b = st.get("/other/site/index.html")
tap.is_((s, b), (200, b"other space"), "a second space, published")
st.public(other, "off")
for path in ("/other/site/index.html", "/other/site/nothing",
             "/other/", "/other/site/"):
    s, h, b = st.get(path)
    tap.is_((s, b), (404, b_plain), "private space: %s is the plain 404"
            % path)

# path tricks
tricks = [
    "/acme/site/../private/secret.txt",
    "/acme/site/%2e%2e/private/secret.txt",
    "/acme/site/%2E%2E%2Fprivate%2Fsecret.txt",
    "/acme/site%2F..%2Fprivate/secret.txt",
    "/acme/private%2Fsecret.txt",
    "/acme/./private/secret.txt",
    "/acme//site/../private/secret.txt",
    "//acme/private/secret.txt",
    "/acme/site/..\\private\\secret.txt",
    "/acme/site/%00/../../private/secret.txt",
    "/%61cme/private/secret.txt",
    "/ACME/private/secret.txt",
    "/acme/site/index.html%00.txt",
    "/other/../acme/private/secret.txt",
    "/" + other["bucket"] + "/site/index.html",
    "/acme/site/../../" + other["bucket"] + "/site/index.html",
]
leaked = []
for t in tricks:
    s, h, b = st.get(t)
    if s not in (400, 404) or b"top secret" in b or b"other space" in b:
        leaked.append((t, s))
tap.is_(leaked, [], "%d path tricks reach neither another space nor an "
        "unpublished prefix (400/404)" % len(tricks))
s, h, b = st.get("/acme/site%2Findex.html")
tap.is_((s, b), (200, objects["site/index.html"][0]),
        "an encoded slash inside a key names the same key")

# CORS
s, h, b = st.get("/acme/site/index.html",
                 headers={"Origin": "https://app.example"})
tap.is_((hdr(h, "access-control-allow-origin"), hdr(h, "vary")),
        ("https://app.example", "Origin"), "CORS: configured origin allowed")
s, h, b = st.get("/acme/site/index.html",
                 headers={"Origin": "https://evil.example"})
tap.is_(hdr(h, "access-control-allow-origin"), None,
        "CORS: other origins get no Allow-Origin")
s, h, b = st.request("OPTIONS", "/acme/site/index.html",
                     headers={"Origin": "https://app.example",
                              "Access-Control-Request-Method": "GET"})
tap.is_((s, hdr(h, "access-control-allow-methods")), (204, "GET, HEAD"),
        "CORS preflight from a configured origin: 204")
s, h, b = st.request("OPTIONS", "/acme/site/index.html",
                     headers={"Origin": "https://evil.example",
                              "Access-Control-Request-Method": "GET"})
tap.is_(s, 405, "preflight from another origin: 405")

# allowed content types
s, h, b = st.get("/acme/typed/a.txt")
tap.is_((s, b), (200, b"plain"), "types rule: an allowed type is served")
s, h, b = st.get("/acme/typed/b.html")
tap.ok(s == 403 and b"<b>html</b>" not in b,
       "types rule: another type is refused (403, no body)")

# custom host


def host_get(path, host):
    c = http.client.HTTPConnection("127.0.0.1", HOST_PORT, timeout=30)
    c.putrequest("GET", path, skip_host=True)
    c.putheader("Host", host)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


tap.is_(host_get("/typed/a.txt", "files.example"), (200, b"plain"),
        "custom host: /{key} on the space's own host")
tap.is_(host_get("/private/secret.txt", "files.example")[0], 404,
        "custom host: unpublished prefix 404")
tap.is_(host_get("/typed/a.txt", "unknown.example")[0], 404,
        "custom host: unknown host 404")

# listings
s, h, b = st.get("/acme/list/")
names = re.findall(r'href="\./([^"]+)"', b.decode())
nxt = re.search(r'href="\?page=([^"]+)"', b.decode())
tap.ok(s == 200 and hdr(h, "content-type").startswith("text/html"),
       "listing: HTML")
tap.is_(len(names), 1000, "listing: first page has 1,000 entries")
tap.ok(nxt is not None, "listing: a next-page link")
s, h, b2 = st.get("/acme/list/?page=" + nxt.group(1))
names2 = re.findall(r'href="\./([^"]+)"', b2.decode())
tap.is_(sorted(set(names + names2)),
        sorted(["k%04d.txt" % i for i in range(NLIST)] + ["dir/"]),
        "listing: the second page completes it (1,005 keys + 1 directory)")
s, h, b = st.get("/acme/list/?format=json")
j = json.loads(b)
tap.is_((s, hdr(h, "content-type"), len(j["objects"]) + len(j["directories"]),
         j["next_page"] is not None),
        (200, "application/json", 1000, True), "listing: JSON page 1")
s, h, b = st.get("/acme/list/?format=json&page="
                 + urllib.parse.quote(j["next_page"], safe=""))
j2 = json.loads(b)
tap.is_((len(j2["objects"]) + len(j2["directories"]), j2["next_page"]),
        (6, None), "listing: JSON page 2, last")
tap.is_([o["size"] for o in j["objects"][:2]], [1, 1], "JSON sizes")
s, h, b = st.get("/acme/list/dir/")
tap.ok(s == 200 and b"inner.txt" in b and b"../" in b,
       "listing of a sub-directory")
s, h, b = st.get("/acme/site/sub/?format=json")
tap.is_(s, 404, "no listing where the rule does not enable it")

# backend errors leak nothing
s3.put_object(Bucket=BUCKET, Key="site/fresh.txt", Body=b"fresh")
good_ak = st.seeder.r.hget("objspace:space:" + sp["id"], "backend_ak")
st.seeder.update_space(sp["id"], backend_ak="OSBWRONGKEY0000000000")
time.sleep(0.2)
s, h, b = st.get("/acme/site/fresh.txt")   # not cached yet
allh = json.dumps(h)
tap.is_(s, 502, "backend refuses the space's key: 502")
tap.ok(BUCKET not in allh and BUCKET.encode() not in b
       and RGW_PORT.encode() not in b and b"AccessDenied" not in b
       and b"InvalidAccessKeyId" not in b and RGW_PORT not in allh,
       "the 502 names neither bucket, backend host nor backend error")
st.seeder.update_space(sp["id"], backend_ak=good_ak)
time.sleep(0.2)

# public off within 1 s, with a warm cache; on again: no old entry
st.get("/acme/site/sub/page.txt")
s, h, b = st.get("/acme/site/sub/page.txt")
tap.is_((s, hdr(h, "x-cache")), (200, "HIT"), "warm: served from the cache")
t0 = time.time()
st.public(sp, "off", "--prefix", "site/")
seen = None
while time.time() - t0 < 1.0:
    s, h, b = st.get("/acme/site/sub/page.txt")
    if s == 404:
        seen = time.time() - t0
        break
    time.sleep(0.02)
tap.ok(seen is not None, "public off: the cached object is a 404 within "
       "1 s of the command (%.3f s)" % (seen or -1))
s, h, b = st.get("/acme/site/index.html")
tap.is_((s, b), (404, b_plain), "public off for the prefix: plain 404")
s, h, b = st.get("/acme/typed/a.txt")
tap.is_(s, 200, "other prefixes stay public")
st.public(sp, "on", "--prefix", "site/", "--index", "index.html")
s, h, b = st.get("/acme/site/sub/page.txt")
tap.is_((s, hdr(h, "x-cache")), (200, "MISS"),
        "public on again: a new cache generation (no entry from before)")

# metrics
s, h, b = st.get("/_objspace/public-metrics")
m = dict(re.findall(r'^(\w+)\{space="' + sp["id"] + r'"\} (\d+)$',
                    b.decode(), re.M))
tap.ok(s == 200 and int(m.get("objspace_public_requests_total", 0)) > 40,
       "metrics: requests per space")
tap.ok(int(m.get("objspace_public_bytes_sent_total", 0)) > len(big),
       "metrics: bytes served")
tap.ok(all(int(m.get("objspace_public_%s_total" % k, 0)) > 0
           for k in ("hits", "not_modified", "not_found", "cache_hits")),
       "metrics: hits, 304s, 404s and cache hits counted")

# logs
# nginx itself logs a request line it refuses to parse (%00: 400) at info,
# before any module runs; every other line is the module's sanitized context
log = "\n".join(l for l in open(st.error_log).read().splitlines()
                if "client sent invalid request" not in l)
tap.is_(st.alerts(), [], "no [alert] in the error log")
errs = [l for l in st.error_log_lines("error")
        if "backend answered 403" not in l]
tap.is_(errs, [], "no [error] but the refused backend key")
tap.ok("secret.txt" not in log and "page.txt" not in log
       and "index.html" not in log, "no object key in the error log")
acc = open(os.path.join(st.dir, "nginx", "access.log")).read()
tap.ok("secret.txt" not in acc and sp["id"] in acc,
       "access log: space id, no object key")

tap.done_testing()

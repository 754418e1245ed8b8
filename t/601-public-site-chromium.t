#!/usr/bin/python3
# A static site (HTML, CSS, JS module, SVG, PNG, WOFF2) uploaded with
# `aws s3 sync` by a publisher key through the S3 gateway, published with
# the provisioner CLI, loads in headless Chromium through the public
# frontend (conf/cdn.conf): every resource with its right type, the page's
# own checks pass (CSS applied, images decoded, font loaded, the module
# script ran: browsers refuse a module served with a wrong type), no
# console error, and a screenshot shows the page (its CSS background).

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tap   # noqa: E402
import cdn   # noqa: E402

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    tap.plan(skip_all="chromium is not installed (make deps)")
try:
    import logging
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    from fontTools import subset
    from fontTools.ttLib import TTFont
except ImportError:
    tap.plan(skip_all="python3-fonttools is not installed (make deps)")

BG = (10, 120, 200)


def png(w, h, rgb):
    """A small RGB PNG (zlib + struct only)."""
    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c \
            + struct.pack(">I", zlib.crc32(c) & 0xffffffff)
    raw = b"".join(b"\0" + bytes(rgb) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png_pixel(data, x, y):
    """RGB(A) of one pixel of an 8-bit, non-interlaced PNG."""
    w, h, depth, ctype = struct.unpack(">IIBB", data[16:26])
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    bpp = {2: 3, 6: 4}[ctype]
    stride = w * bpp
    raw = zlib.decompress(idat)
    prev = bytearray(stride)
    for row in range(y + 1):
        f = raw[row * (stride + 1)]
        line = bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        prev = line
    return tuple(prev[x * bpp:x * bpp + 3])


st = cdn.CdnStack().start()
sp = st.seed_space()
pub = st.seed_key(sp, "publisher", prefix="www/", name="website-cdn-uploader")

site = os.path.join(st.dir, "site")
for d in ("css", "js", "img", "fonts"):
    os.makedirs(os.path.join(site, d), exist_ok=True)

font = TTFont("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
sub = subset.Subsetter()
sub.populate(text="Objspace CDN works 0123456789")
sub.subset(font)
font.flavor = "woff2"
font.save(os.path.join(site, "fonts", "objfont.woff2"))

files = {
    "index.html": """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>objspace CDN</title>
<link rel="stylesheet" href="css/style.css">
<script type="module" src="js/app.js"></script></head>
<body><h1>Objspace CDN works</h1>
<img id="svg" src="img/logo.svg" width="64" height="64" alt="logo">
<img id="png" src="img/pixel.png" width="64" height="64" alt="pixel">
<p id="result">pending</p></body></html>
""",
    "css/style.css": """@font-face { font-family: ObjFont;
  src: url(../fonts/objfont.woff2) format("woff2"); }
body { background: rgb(%d, %d, %d); color: white; font-family: ObjFont; }
""" % BG,
    "js/app.js": """const failed = [];
const ok = (c, what) => { if (!c) failed.push(what); };
window.addEventListener("load", async () => {
  await document.fonts.ready;
  const faces = [...document.fonts].filter(f => f.family === "ObjFont");
  for (const f of faces) { try { await f.load(); } catch (e) {} }
  ok(faces.length === 1 && faces[0].status === "loaded", "font");
  ok(getComputedStyle(document.body).backgroundColor
     === "rgb(%d, %d, %d)", "css");
  for (const id of ["svg", "png"]) {
    const i = document.getElementById(id);
    ok(i.complete && i.naturalWidth > 0, id);
  }
  document.getElementById("result").textContent =
    failed.length ? "FAIL " + failed.join(",") : "ALL-OK";
  if (failed.length) console.error("site check failed: " + failed);
  else console.log("site check ok");
});
""" % BG,
    "img/logo.svg": """<svg xmlns="http://www.w3.org/2000/svg" width="64"
 height="64"><circle cx="32" cy="32" r="30" fill="orange"/></svg>
""",
}
for name, text in files.items():
    with open(os.path.join(site, name), "w") as f:
        f.write(text)
with open(os.path.join(site, "img", "pixel.png"), "wb") as f:
    f.write(png(4, 4, (255, 0, 0)))

r = st.run_awscli("v2", ["s3", "sync", site, "s3://%s/www/" % sp["bucket"]],
                  pub["ak"], pub["sk"])
tap.is_(r.returncode, 0, "aws s3 sync by the publisher key: exit 0")
keys = sorted(st.rgw_keys(sp, "www/"))
tap.is_(len(keys), 6, "six files in the space: %s" % ", ".join(keys))

out = st.public(sp, "on", "--prefix", "www/", "--slug", "site",
                "--index", "index.html")
base = "/site/www/"
tap.is_(out["public_base_url"], "http://cdn.invalid/site/",
        "public_base_url of the site's space")

want = {
    "": "text/html",
    "css/style.css": "text/css",
    "js/app.js": "text/javascript",       # as aws cli stored it
    "img/logo.svg": "image/svg+xml",
    "img/pixel.png": "image/png",
    "fonts/objfont.woff2": "font/woff2",
}
got = {}
for path, ct in want.items():
    s, h, b = st.get(base + path)
    got[path] = (s, h.get("content-type", "").split(";")[0])
tap.is_(got, {p: (200, ct) for p, ct in want.items()},
        "every resource: 200 with its right Content-Type")

url = "http://127.0.0.1:%d%s" % (st.cdn_port, base)
profile = tempfile.mkdtemp(prefix="chromium-", dir=st.dir)
common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
          "--disable-background-networking", "--disable-component-update",
          "--disable-default-apps", "--disable-extensions", "--disable-sync",
          "--no-first-run", "--no-default-browser-check",
          "--disable-dev-shm-usage", "--user-data-dir=" + profile,
          "--enable-logging=stderr", "--v=0",
          "--virtual-time-budget=10000"]
env = dict(os.environ, HOME=profile)
env.pop("AWS_CA_BUNDLE", None)

shot = os.path.join(st.dir, "screenshot.png")
r = subprocess.run(common + ["--screenshot=" + shot, "--window-size=800,600",
                             "--hide-scrollbars", "--dump-dom", url],
                   capture_output=True, text=True, timeout=120, env=env)
m = re.search(r'<p id="result">([^<]*)</p>', r.stdout)
tap.is_(m.group(1) if m else r.stdout[-500:], "ALL-OK",
        "the page's own checks pass in Chromium (CSS, SVG, PNG, WOFF2 "
        "font, module script)")
console = [l for l in r.stderr.splitlines() if "CONSOLE" in l]
errors = [l for l in console if "site check ok" not in l]
tap.ok(any("site check ok" in l for l in console),
       "the page logged its success to the console")
tap.is_(errors, [], "no other console message (no error, no refused "
        "resource)")
tap.unlike(r.stderr, r"Failed to load resource|Refused to|MIME type",
           "no failed or refused resource")

tap.ok(os.path.exists(shot) and os.path.getsize(shot) > 1000,
       "a screenshot was taken (%s)" % shot)
if os.path.exists(shot):
    with open(shot, "rb") as f:
        data = f.read()
    tap.is_(png_pixel(data, 790, 590), BG,
            "the screenshot shows the CSS background")
else:
    tap.fail("the screenshot shows the CSS background")

s, h, b = st.get("/site/private.txt")
tap.is_(s, 404, "outside the published prefix: 404")
tap.is_(st.alerts(), [], "no [alert] in the error log")

tap.done_testing()

#!/usr/bin/python3
# registry-backend mode for real: Debian's docker-registry (CNCF
# Distribution 2.8, S3 storage driver) stores its data through the gateway
# with a registry-backend identity scoped to `registry/`. skopeo pushes a
# tiny OCI image made here by hand (layer tar, config, manifest, index.json,
# oci-layout, sha256 digests) and pulls it back; the digests match and the
# objects are on RGW under the identity's prefix only. A registry using a
# read-only identity of the same space cannot push (and stores nothing). A
# third registry with redirects on answers blob GETs with 307 to presigned
# URLs on the gateway, which verifies them: the pull through it works too.

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import stack  # noqa: E402
import tap    # noqa: E402

REGISTRY = shutil.which("docker-registry")
SKOPEO = shutil.which("skopeo")
if not REGISTRY or not SKOPEO:
    tap.plan(skip_all="docker-registry or skopeo missing (make deps)")

st = stack.Stack()
# an access log that says whether a request was presigned, naming no key
REGLOG = os.path.join(st.dir, "nginx", "registry-access.log")
if not stack.start_or_fail(
        st,
        extra_http="map $args $objspace_t_presigned {\n"
                   "    ~(^|&)X-Amz-Signature= presigned;\n"
                   "    default header;\n}\n"
                   "log_format objspace_t_registry '$objspace_operation "
                   "$status $objspace_t_presigned $objspace_identity';",
        extra_server="access_log %s objspace_t_registry;" % REGLOG):
    sys.exit(1)
sp = st.seed_space(purpose="registry")
BUCKET = sp["bucket"]
ROOT = "registry"
rk = st.seed_key(sp, "registry-backend", ROOT + "/", name="registry")
ro = st.seed_key(sp, "read-only", "", name="registry-reader")
procs = []


# ---------------------------------------------------------------- image

def blob(d, data):
    h = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(d, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + h, "size": len(data)}


def make_image(d, text):
    """An OCI image layout with one layer holding hello.txt."""
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(text), 1700000000, 0o644
        t.addfile(info, io.BytesIO(text))
    tar = tbuf.getvalue()
    layer = blob(d, gzip.compress(tar, mtime=0))
    layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    config = blob(d, json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [
            "sha256:" + hashlib.sha256(tar).hexdigest()]}},
        sort_keys=True).encode())
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = blob(d, json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config, "layers": [layer]}, sort_keys=True).encode())
    manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
    manifest["annotations"] = {"org.opencontainers.image.ref.name": "latest"}
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [manifest]}, f)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return manifest["digest"], layer["digest"], config["digest"]


# ---------------------------------------------------------------- registry

def start_registry(name, ident, redirect=False):
    port = stack.free_port()
    d = os.path.join(st.dir, name)
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "config.yml")
    with open(conf, "w") as f:
        f.write("""version: 0.1
log:
  level: info
storage:
  s3:
    regionendpoint: %s
    region: %s
    bucket: %s
    rootdirectory: /%s
    accesskey: %s
    secretkey: %s
    secure: false
    v4auth: true
    chunksize: 5242880
  redirect:
    disable: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:%d
""" % (st.endpoint, st.region, BUCKET, ROOT, ident["ak"], ident["sk"],
           "false" if redirect else "true", port))
    env = st.client_env(ident["ak"], ident["sk"], home=d)
    log = open(os.path.join(d, "registry.log"), "ab")
    p = subprocess.Popen([REGISTRY, "serve", conf], env=env, stdout=log,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    log.close()
    procs.append(p)
    deadline = time.time() + 20
    while time.time() < deadline and p.poll() is None:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/v2/" % port,
                                        timeout=2) as r:
                if r.status == 200:
                    return port
        except Exception:
            time.sleep(0.1)
    return None


def stop_registries():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def registry_log(name):
    try:
        with open(os.path.join(st.dir, name, "registry.log"),
                  errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def skopeo(*args):
    env = st.client_env("x", "x")
    return subprocess.run([SKOPEO, "--insecure-policy"] + list(args),
                          env=env, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)


def files_digest(d, digest):
    path = os.path.join(d, "blobs", "sha256", digest.split(":", 1)[1])
    try:
        with open(path, "rb") as f:
            return "sha256:" + hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


try:
    img = os.path.join(st.dir, "img")
    m_digest, l_digest, c_digest = make_image(img, b"hello, objspace\n")

    port = start_registry("reg", rk)
    if not tap.ok(port, "docker-registry starts with a registry-backend "
                  "identity (S3 driver through the gateway)"):
        tap.diag(registry_log("reg")[-2000:])
        tap.done_testing()
    ref = "docker://127.0.0.1:%d/demo/hello:1.0" % port

    r = skopeo("copy", "--dest-tls-verify=false", "oci:%s:latest" % img, ref)
    if not tap.is_(r.returncode, 0, "skopeo pushes the OCI image"):
        tap.diag(r.stderr[-1500:] + registry_log("reg")[-1500:])

    r = skopeo("inspect", "--tls-verify=false", "--raw", ref)
    raw_manifest = r.stdout.encode()
    tap.is_("sha256:" + hashlib.sha256(raw_manifest).hexdigest(), m_digest,
            "the registry serves the manifest back byte for byte "
            "(digest %s...)" % m_digest[:19])

    back = os.path.join(st.dir, "back")
    shutil.rmtree(back, ignore_errors=True)
    r = skopeo("copy", "--src-tls-verify=false", ref, "oci:%s:pulled" % back)
    if not tap.is_(r.returncode, 0, "skopeo pulls it back"):
        tap.diag(r.stderr[-1500:])
    for what, dg in (("manifest", m_digest), ("layer", l_digest),
                     ("config", c_digest)):
        tap.is_(files_digest(back, dg), dg,
                "pulled %s has the pushed digest" % what)

    keys = st.rgw_keys(sp)
    tap.ok(any(k.startswith(ROOT + "/docker/registry/v2/blobs/sha256/")
               and k.endswith("/data") for k in keys),
           "blobs stored on RGW under %s/docker/registry/v2/" % ROOT)
    tap.is_([k for k in keys if not k.startswith(ROOT + "/")], [],
            "nothing stored outside the identity's prefix")
    tap.ok(any("/_manifests/tags/1.0/" in k for k in keys),
           "the tag is stored")

    # -------------------------------------------------- read-only identity
    before = set(st.rgw_keys(sp))
    port_ro = start_registry("reg-ro", ro)
    tap.ok(port_ro, "a registry on a read-only identity of the same space "
           "starts")
    img2 = os.path.join(st.dir, "img2")
    make_image(img2, b"must not be stored\n")
    if port_ro:
        r = skopeo("copy", "--dest-tls-verify=false", "--retry-times", "0",
                   "oci:%s:latest" % img2,
                   "docker://127.0.0.1:%d/demo/evil:1.0" % port_ro)
        tap.isnt(r.returncode, 0, "read-only identity: the push fails")
        tap.ok(any(ro["id"] in l and 'reason "mode"' in l
                   for l in st.error_log_lines("error")),
               "read-only identity: refused by the gateway (reason mode)")
        tap.is_(sorted(set(st.rgw_keys(sp)) - before), [],
                "read-only identity: nothing new on RGW")
        r = skopeo("inspect", "--tls-verify=false", "--raw",
                   "docker://127.0.0.1:%d/demo/hello:1.0" % port_ro)
        tap.is_("sha256:" + hashlib.sha256(r.stdout.encode()).hexdigest(),
                m_digest, "read-only identity: the registry still reads "
                "the manifest")

    # -------------------------------------------------- redirects on
    port_rd = start_registry("reg-redirect", rk, redirect=True)
    tap.ok(port_rd, "a registry with redirects on starts")
    if port_rd:
        mark = st.log_mark()
        back2 = os.path.join(st.dir, "back2")
        shutil.rmtree(back2, ignore_errors=True)
        r = skopeo("copy", "--src-tls-verify=false",
                   "docker://127.0.0.1:%d/demo/hello:1.0" % port_rd,
                   "oci:%s:pulled" % back2)
        if not tap.is_(r.returncode, 0, "redirects on: skopeo follows the "
                       "presigned URLs to the gateway and pulls"):
            tap.diag(r.stderr[-1500:])
        tap.is_(files_digest(back2, l_digest), l_digest,
                "redirects on: the layer has the pushed digest")
        with open(REGLOG, errors="replace") as f:
            presigned_gets = [l for l in f
                              if l.startswith("GetObject 20")
                              and " presigned %s" % rk["id"] in l]
        tap.ok(presigned_gets, "the gateway answered presigned GETs (%d)"
               % len(presigned_gets))
        tap.unlike("\n".join(st.error_log_since(mark)), r"\[(alert|crit)\]",
                   "no alert while serving presigned blob reads")
finally:
    stop_registries()

tap.ok(not st.alerts(), "no [alert] in the error log")
tap.done_testing()

#!/usr/bin/python3
# A Debian package repository end to end (issue 6, phase 3 by
# integration): aptly publishes to its S3 endpoint pointed at the gateway
# with a publisher key, signed with a GnuPG key made here; the repository
# is served by the public frontend (conf/cdn.conf, proxy_cache) with
# publication rules (dists/ not cached, pool/ immutable); apt-get in a
# throwaway configuration updates, installs a package built here with
# dpkg-deb (into a scratch root), then sees an update and a rollback made
# with aptly's snapshot / publish switch.

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tap   # noqa: E402
import cdn   # noqa: E402

for tool in ("aptly", "gpg", "dpkg-deb", "apt-get", "dpkg"):
    if shutil.which(tool) is None:
        tap.plan(skip_all="%s is not installed (make deps)" % tool)

st = cdn.CdnStack().start()
sp = st.seed_space()
pub = st.seed_key(sp, "publisher", prefix="debian/", name="apt-repo-publisher")
D = st.dir
GNUPG = os.path.join(D, "gnupg")
os.makedirs(GNUPG, mode=0o700)
ENV = dict(os.environ, GNUPGHOME=GNUPG, HOME=D)
ENV.pop("AWS_CA_BUNDLE", None)


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, env=ENV,
                       timeout=300, **kw)
    if r.returncode != 0:
        tap.diag("%s: exit %d\n%s%s" % (" ".join(argv), r.returncode,
                                        r.stdout[-2000:], r.stderr[-2000:]))
    return r


def build_deb(version):
    root = os.path.join(D, "pkg-%s" % version)
    os.makedirs(os.path.join(root, "DEBIAN"))
    os.makedirs(os.path.join(root, "usr", "share", "objspace-hello"))
    with open(os.path.join(root, "DEBIAN", "control"), "w") as f:
        f.write("Package: objspace-hello\nVersion: %s\nArchitecture: all\n"
                "Maintainer: objspace tests <t@example.invalid>\n"
                "Description: a package served by the objspace CDN\n"
                % version)
    with open(os.path.join(root, "usr", "share", "objspace-hello",
                           "hello.txt"), "w") as f:
        f.write("hello %s\n" % version)
    deb = os.path.join(D, "objspace-hello_%s_all.deb" % version)
    run(["dpkg-deb", "--root-owner-group", "--build", root, deb])
    return deb


# the repository key
r = run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
         "--quick-gen-key", "objspace repo <repo@example.invalid>", "ed25519",
         "sign", "1y"])
tap.is_(r.returncode, 0, "GnuPG signing key made")
r = run(["gpg", "--batch", "--with-colons", "--list-keys"])
KEYID = [l.split(":")[4] for l in r.stdout.splitlines()
         if l.startswith("pub:")][0]
keyring = os.path.join(D, "repo-key.gpg")
run(["gpg", "--batch", "--export", "--output", keyring, KEYID])

deb1 = build_deb("1.0")
tap.ok(os.path.exists(deb1), "package 1.0 built with dpkg-deb")

aptly_conf = os.path.join(D, "aptly.conf")
with open(aptly_conf, "w") as f:
    json.dump({
        "rootDir": os.path.join(D, "aptly"),
        "gpgProvider": "gpg",
        "S3PublishEndpoints": {"cdn": {
            "region": st.region, "bucket": sp["bucket"],
            "endpoint": st.s3, "prefix": "debian",
            "awsAccessKeyID": pub["ak"], "awsSecretAccessKey": pub["sk"],
            "acl": "private", "forceSigV2": False}}}, f)


def aptly(*args):
    return run(["aptly", "-config=" + aptly_conf] + list(args))


aptly("repo", "create", "-distribution=stable", "-component=main", "hello")
aptly("repo", "add", "hello", deb1)
aptly("snapshot", "create", "v1", "from", "repo", "hello")
r = aptly("publish", "snapshot", "-batch", "-gpg-key=" + KEYID,
          "-acquire-by-hash", "-architectures=amd64,all",
          "-distribution=stable", "v1", "s3:cdn:")
tap.is_(r.returncode, 0, "aptly publish snapshot v1 to the gateway (S3)")
keys = st.rgw_keys(sp, "debian/")
tap.ok("debian/dists/stable/InRelease" in keys
       and any(k.startswith("debian/pool/") and k.endswith(".deb")
               for k in keys),
       "InRelease and the pool file are in the space")

st.public(sp, "on", "--prefix", "debian/", "--slug", "kubedo-packages",
          "--cache-control", "no-cache")
out = st.public(sp, "on", "--prefix", "debian/pool/", "--immutable")
tap.is_(sorted(out["public_rules"]), ["debian/", "debian/pool/"],
        "published: debian/ (not cached), debian/pool/ (immutable)")

# apt in a throwaway configuration
A = os.path.join(D, "apt")
for d in ("state/lists/partial", "cache/archives/partial", "etc/prefs",
          "root/var/lib/dpkg/info", "root/var/lib/dpkg/updates",
          "root/var/lib/dpkg/triggers"):
    os.makedirs(os.path.join(A, d), exist_ok=True)
open(os.path.join(A, "status"), "w").close()
open(os.path.join(A, "root/var/lib/dpkg/status"), "w").close()
sources = os.path.join(A, "sources.list")
with open(sources, "w") as f:
    f.write("deb [signed-by=%s] http://127.0.0.1:%d/kubedo-packages/debian "
            "stable main\n" % (keyring, st.cdn_port))
APT = ["-o", "Dir::Etc::sourcelist=" + sources,
       "-o", "Dir::Etc::sourceparts=-",
       "-o", "Dir::Etc::preferencesparts=" + os.path.join(A, "etc/prefs"),
       "-o", "Dir::State=" + os.path.join(A, "state"),
       "-o", "Dir::State::status=" + os.path.join(A, "root/var/lib/dpkg/"
                                                     "status"),
       "-o", "Dir::Cache=" + os.path.join(A, "cache"),
       "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root",
       "-o", "Acquire::Languages=none", "-o", "APT::Architecture=amd64",
       "-o", "APT::Architectures=amd64"]


def apt_get(*args, **kw):
    return run(["apt-get", "-q"] + APT + list(args), **kw)


def candidate():
    r = run(["apt-cache"] + APT + ["policy", "objspace-hello"])
    for line in r.stdout.splitlines():
        if "Candidate:" in line:
            return line.split()[-1]
    return None


r = apt_get("update")
tap.ok(r.returncode == 0 and "Err:" not in r.stdout
       and "W:" not in r.stderr, "apt-get update through the CDN: signed, "
       "no error, no warning")
tap.is_(candidate(), "1.0", "apt sees objspace-hello 1.0")

r = apt_get("install", "-y", "--no-install-recommends",
            "-o", "DPkg::Options::=--root=" + os.path.join(A, "root"),
            "-o", "DPkg::Options::=--force-not-root",
            "-o", "DPkg::Options::=--force-script-chrootless",
            "-o", "DPkg::Options::=--no-triggers",
            "-o", "DPkg::Options::=--log=" + os.path.join(A, "dpkg.log"),
            "-o", "DPkg::Chroot-Directory=/",
            "-o", "DPkg::Pre-Invoke::=", "-o", "DPkg::Post-Invoke::=",
            "objspace-hello")
installed = os.path.join(A, "root", "usr", "share", "objspace-hello",
                         "hello.txt")
tap.ok(r.returncode == 0 and os.path.exists(installed)
       and open(installed).read() == "hello 1.0\n",
       "apt-get install objspace-hello (into a scratch root): 1.0 "
       "installed")

r = apt_get("download", "objspace-hello", cwd=A)
tap.ok(r.returncode == 0
       and os.path.exists(os.path.join(A, "objspace-hello_1.0_all.deb")),
       "apt-get download objspace-hello")

# an update, then a rollback: aptly snapshot + publish switch
deb2 = build_deb("2.0")
aptly("repo", "add", "hello", deb2)
aptly("snapshot", "create", "v2", "from", "repo", "hello")
r = aptly("publish", "switch", "-batch", "-gpg-key=" + KEYID, "stable",
          "s3:cdn:", "v2")
tap.is_(r.returncode, 0, "aptly publish switch stable -> v2")
apt_get("update")
tap.is_(candidate(), "2.0", "apt-get update sees 2.0 at once (dists/ is "
        "not cached by nginx)")
# apt revalidates InRelease with If-Modified-Since, and Last-Modified has
# one-second resolution: a rollback published in the same second as the
# v2 it replaces would be answered 304 (docs/public.md says so too).
time.sleep(1.1)
r = aptly("publish", "switch", "-batch", "-gpg-key=" + KEYID, "stable",
          "s3:cdn:", "v1")
tap.is_(r.returncode, 0, "rollback: aptly publish switch stable -> v1")
r = apt_get("update")
tap.ok(r.returncode == 0 and "Err:" not in r.stdout,
       "apt-get update after the rollback")
tap.is_(candidate(), "1.0", "apt sees 1.0 again")

s, h, b = st.get("/kubedo-packages/debian/dists/stable/InRelease")
tap.is_((s, h.get("cache-control")), (200, "no-cache"),
        "InRelease: Cache-Control no-cache")
pool = [k for k in st.rgw_keys(sp, "debian/pool/") if k.endswith(".deb")][0]
s, h, b = st.get("/kubedo-packages/" + pool)
tap.is_((s, h.get("cache-control")),
        (200, "public, max-age=31536000, immutable"),
        "pool file: immutable")
tap.is_(st.alerts(), [], "no [alert] in the error log")

tap.done_testing()

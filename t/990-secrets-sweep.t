#!/usr/bin/python3
# After the whole suite: every secret the suite created (client secrets,
# backend secrets, sealing keys, secrets printed once by the provisioner;
# recorded by t/lib/seed.record_secret) is searched for in every log, audit
# file, audit spool, Redis dump and nginx configuration the suite left under
# build/t/: zero hits.  Runs last (prove runs t/ in order).
#
# Files that must hold a secret by design are not logs and are not
# searched: the sealing key file, client configuration files written for
# s3cmd/rclone/aws, and the RGW stack's admin credentials (env).
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tap  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
T = os.path.join(ROOT, "build", "t")
SECRETS = os.path.join(T, "_secrets")

secrets = set()
if os.path.isdir(SECRETS):
    for name in os.listdir(SECRETS):
        with open(os.path.join(SECRETS, name)) as f:
            secrets.update(line.strip() for line in f if line.strip())

if len(secrets) < 10:
    tap.plan(skip_all="fewer than 10 secrets recorded: run the whole "
                      "suite (make test) first")


LOGS = (".log", ".err", ".jsonl", ".rdb", ".aof", ".conf", ".spool")
# client configurations hold their client's key by design
CLIENT_CONFIGS = ("rclone.conf", "s3cfg.conf", "provisioner.conf",
                  "aptly.conf")


def searched(path):
    base = os.path.basename(path)
    parts = os.path.relpath(path, T).split(os.sep)
    if base.endswith(CLIENT_CONFIGS) or base.endswith(".key"):
        return False
    return (base.endswith(LOGS) or ".log." in base
            or any("spool" in x or "audit" in x for x in parts[:-1]))


files = []
for d, dirs, names in os.walk(T):
    if d.startswith(SECRETS):
        continue
    for n in names:
        p = os.path.join(d, n)
        if searched(p) and os.path.isfile(p):
            files.append(p)

tap.diag("%d secrets recorded, %d files searched" % (len(secrets),
                                                    len(files)))
tap.ok(len(files) > 20, "the suite left logs to search")

needles = [s.encode() for s in secrets]
hits = []
for p in files:
    try:
        with open(p, "rb") as f:
            data = f.read()
    except OSError:
        continue
    for s in needles:
        if s in data:
            hits.append("%s: %s..." % (os.path.relpath(p, ROOT),
                                       s[:4].decode()))
tap.is_(hits[:20], [], "no recorded secret in any log, audit file, spool, "
                       "Redis dump or nginx config (%d hits)" % len(hits))
tap.done_testing()

#!/usr/bin/python3
# boto3 through the gateway to RGW: Debian's boto3 1.26 in-process and a
# pyenv boto3 (newer: trailing checksums by default) as a child, each
# path-style and virtual-hosted style (Host: BUCKET.s3.localhost): put, get,
# range, head, list v1/v2, copy, delete, multipart incl. abort, presigned GET
# and PUT, 0 B / 1 MiB / 100 MiB, keys with spaces, unicode, + % = ~ //.
# Objects land on RGW under exactly the names the client used.

import os
import re
import subprocess
import sys
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients         # noqa: E402
import scenario_boto3  # noqa: E402
import stack           # noqa: E402
import tap             # noqa: E402

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)

sp = st.seed_space()
key = st.seed_key(sp, "read-write-delete", prefix="")
bucket = sp["bucket"]


def check_on_rgw(prefix, label):
    try:
        stored = set(st.rgw_keys(sp, prefix))
    except Exception as e:
        tap.fail(label + ": read RGW directly", str(e))
        return
    missing = [k for k in scenario_boto3.SPECIAL_KEYS
               if prefix + k not in stored]
    tap.is_(missing, [], label + ": special keys stored on RGW verbatim")


def in_process(style, big):
    label = "debian boto3 %s" % style
    prefix = "debian-%s/" % style
    try:
        scenario_boto3.run(st.endpoint, key["ak"], key["sk"], bucket, prefix,
                           style, big=big, label=label)
    except Exception:
        tap.fail(label + ": scenario finished", traceback.format_exc())
    check_on_rgw(prefix, label)


def child(py, style, big):
    label = "pyenv boto3 %s" % style
    prefix = "pyenv-%s/" % style
    env = dict(os.environ, SCN_ENDPOINT=st.endpoint, SCN_AK=key["ak"],
               SCN_SK=key["sk"], SCN_BUCKET=bucket, SCN_PREFIX=prefix,
               SCN_STYLE=style, SCN_BIG="1" if big else "0")
    for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(k, None)
    p = subprocess.Popen([py, scenario_boto3.__file__], env=env,
                         stdout=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    seen = 0
    for line in p.stdout:
        m = re.match(r"^(not ok|ok) \d+ - (.*)$", line.rstrip("\n"))
        if m:
            seen += 1
            tap.ok(m.group(1) == "ok", "%s: %s" % (label, m.group(2)))
        elif line.startswith("#"):
            tap.note(line.rstrip()[2:])
    p.wait(timeout=900)
    tap.ok(p.returncode == 0 and seen > 0,
           "%s: child exited 0 after %d results" % (label, seen))
    check_on_rgw(prefix, label)


import boto3  # noqa: E402
tap.note("Debian boto3 %s" % boto3.__version__)
in_process("path", big=True)
in_process("virtual", big=False)

py = clients.pyenv_python_with("boto3")
if py is None:
    tap.skip("no pyenv python with boto3 (/root/.pyenv/versions/*)", 2)
else:
    v = subprocess.run([py, "-c", "import boto3; print(boto3.__version__)"],
                       capture_output=True, text=True).stdout.strip()
    tap.note("pyenv boto3 %s (%s)" % (v, py))
    child(py, "path", big=True)
    child(py, "virtual", big=False)

tap.is_(st.alerts(), [], "no [alert] in nginx's error log")
log = "\n".join(st.error_log_lines())
tap.unlike(log, re.escape(key["sk"]), "the client secret is never logged")
tap.unlike(log, re.escape(sp["backend_sk"]), "the backend secret neither")
tap.done_testing()

#!/usr/bin/python3
# Per-space public (CDN) counters (issue 6): real requests through the
# shipped conf/cdn.conf (hits, a 304 by If-None-Match, a 404, HEAD, bytes
# of a known object) show exact counts for their space in the gateway's
# objspace_metrics endpoint (valid Prometheus text: one HELP and TYPE per
# family, each family's samples together) and in the standalone
# objspace_public_metrics location; the module adds them to Redis
# (objspace:pubstats:{space}) about once a second, so that
# "objspace-provisioner usage SPACE --json" shows the same figures; other
# spaces' counters do not move; a frozen Redis (SIGSTOP, commands timing
# out and executed later) loses nothing and counts nothing twice.

import os
import re
import signal
import socket
import subprocess
import sys
import time

import redis

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import tap       # noqa: E402
import cdn       # noqa: E402
import redismon  # noqa: E402

FAMILIES = {
    "requests": "objspace_public_requests_total",
    "bytes_served": "objspace_public_bytes_sent_total",
    "hits": "objspace_public_hits_total",
    "not_modified": "objspace_public_not_modified_total",
    "not_found": "objspace_public_not_found_total",
    "cache_hits": "objspace_public_cache_hits_total",
}


def edit(text):
    zone = "objspace_public_metrics_zone  objspace_public:1m;"
    loc = "location = /_objspace/public-metrics {"
    assert zone in text and loc in text
    text = text.replace(zone, zone + "\n    objspace_metrics_zone  metrics:1m;")
    return text.replace(loc, "location = /_objspace/metrics {\n"
                             "            objspace_public off;\n"
                             "            objspace_metrics;\n"
                             "        }\n\n        " + loc)


st = cdn.CdnStack()
st.start(edit=edit)

sp = st.seed_space()
other = st.seed_space()
idle = st.seed_space()
BODY = b"0123456789" * 100 + b"public"          # 1006 bytes
st.rgw_client(sp).put_object(Bucket=sp["bucket"], Key="f/a.txt", Body=BODY,
                             ContentType="text/plain")
st.rgw_client(other).put_object(Bucket=other["bucket"], Key="b.txt",
                                Body=b"other", ContentType="text/plain")
st.public(sp, "on", "--slug", "pm1")
st.public(other, "on", "--slug", "pm2")
st.public(idle, "on", "--slug", "pm3")


def raw(method, path, headers=()):
    """One request on its own connection (Connection: close), so the bytes
    read are exactly what nginx sent: (status, head, body, bytes)."""
    s = socket.create_connection(("127.0.0.1", st.cdn_port), timeout=30)
    req = "%s %s HTTP/1.1\r\nHost: cdn.example\r\nConnection: close\r\n" % (
        method, path)
    for k, v in headers:
        req += "%s: %s\r\n" % (k, v)
    s.sendall((req + "\r\n").encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode("latin-1"), body, len(data)


def parse(text):
    """Prometheus text -> ({(name, labels): value}, problems)."""
    samples, problems = {}, []
    helps, types, seen, current = {}, {}, set(), None
    for line in text.splitlines():
        m = re.match(r"# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$", line)
        if m:
            kind, name, rest = m.groups()
            d = helps if kind == "HELP" else types
            if name in d:
                problems.append("second %s for %s" % (kind, name))
            d[name] = rest
            if kind == "TYPE" and rest not in ("counter", "gauge"):
                problems.append("type %r" % line)
            if name != current:
                if name in seen:
                    problems.append("%s split in two groups" % name)
                seen.add(name)
                current = name
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*'
                     r'="(?:[^"\\\n]|\\.)*",?)*\})? (-?\d+)$', line)
        if not m:
            problems.append("bad line %r" % line)
            continue
        name, labels, value = m.groups()
        if name != current:
            if name in seen:
                problems.append("%s split in two groups" % name)
            seen.add(name)
            current = name
        if name not in types or name not in helps:
            problems.append("%s without HELP/TYPE before it" % name)
        key = (name, labels or "")
        if key in samples:
            problems.append("duplicate series %s%s" % key)
        samples[key] = int(value)
    for name in set(helps) | set(types):
        if name not in helps or name not in types:
            problems.append("%s lacks HELP or TYPE" % name)
    return samples, problems


def scrape(path):
    s, h, b = st.get(path)
    assert s == 200, (path, s)
    return parse(b.decode())


def public_of(samples, space):
    """The six public counters of space in samples (None if absent)."""
    out = {}
    for k, fam in FAMILIES.items():
        out[k] = samples.get((fam, '{space="%s"}' % space["id"]))
    return out


def usage_public(space):
    return (st.prov("usage", space["id"]) or {}).get("public")


def wait_usage(space, want, timeout=10):
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = usage_public(space)
        if got == want:
            return got
        time.sleep(0.2)
    return got


# ------------------------------------------------------------ baseline

ZERO = {k: 0 for k in FAMILIES}
tap.is_(usage_public(sp), ZERO,
        "usage --json of a space never read publicly: public counters 0")
s, _, _, _ = raw("GET", "/pm2/b.txt")
tap.is_(s, 200, "another space: one GET")
samples, problems = scrape("/_objspace/metrics")
other_before = public_of(samples, other)
tap.is_(other_before["requests"], 1, "metrics: the other space's request")

# ------------------------------------------------------------ requests

sent = 0
s, head, b, n = raw("GET", "/pm1/f/a.txt")
sent += n
tap.is_((s, b), (200, BODY), "GET: 200 and the object")
etag = re.search(r"(?im)^etag: *(.+?)\s*$", head).group(1)
s, head, b, n = raw("GET", "/pm1/f/a.txt")
sent += n
tap.is_((s, b), (200, BODY), "GET again: 200 (from the cache)")
for i in range(2):
    s, head, b, n = raw("GET", "/pm1/f/a.txt", [("If-None-Match", etag)])
    sent += n
    tap.is_((s, b), (304, b""), "If-None-Match: 304 (%d)" % (i + 1))
s, head, b, n = raw("GET", "/pm1/f/none.txt")
sent += n
tap.is_(s, 404, "a missing key: 404")
s, head, b, n = raw("HEAD", "/pm1/f/a.txt")
sent += n
tap.is_((s, b), (200, b""), "HEAD: 200, no body")
s, _, _, _ = raw("GET", "/nosuchslug/x")
tap.is_(s, 404, "an unknown slug: 404 (no space to count it for)")

WANT = {"requests": 6, "hits": 3, "not_modified": 2, "not_found": 1,
        "bytes_served": sent}

# ------------------------------------------------------------ metrics

samples, problems = scrape("/_objspace/metrics")
tap.is_(problems, [], "objspace_metrics: valid Prometheus text (one HELP "
        "and TYPE per family, families together, no duplicate series)")
got = public_of(samples, sp)
tap.is_({k: got[k] for k in WANT}, WANT,
        "objspace_metrics: exact requests, hits, 304s, 404s and bytes sent "
        "for the space")
tap.ok(got["cache_hits"] is not None and 1 <= got["cache_hits"] <= 5,
       "objspace_metrics: cache hits counted (%r)" % got["cache_hits"])
tap.is_(public_of(samples, other), other_before,
        "objspace_metrics: the other space's counters did not move")
tap.is_(public_of(samples, idle), {k: None for k in FAMILIES},
        "objspace_metrics: a space without requests has no series")
tap.ok(("objspace_cache_hits_total", "") in samples,
       "objspace_metrics: the gateway's own families are still there")
text = st.get("/_objspace/metrics")[2].decode()
tap.ok(all(re.fullmatch(r'space="sp_[0-9a-f]{16}"(,(decision|reason)='
                        r'"[^"]*")?', l) for l in
           re.findall(r"\{([^}]*)\}", text)),
       "objspace_metrics: labels are space ids (and decision/reason), "
       "never an object key")
tap.ok("a.txt" not in text and "none.txt" not in text,
       "objspace_metrics: no object key")

psamples, pproblems = scrape("/_objspace/public-metrics")
tap.is_(pproblems, [], "objspace_public_metrics: valid Prometheus text")
tap.is_(public_of(psamples, sp), got,
        "objspace_public_metrics: the same counters")
tap.is_(sorted({k[0] for k in psamples}), sorted(FAMILIES.values()),
        "objspace_public_metrics: only the public families")

# ------------------------------------------------------------ usage

want_usage = dict(got)
u = wait_usage(sp, want_usage)
tap.is_(u, want_usage, "usage --json: public counters equal the node's "
        "(flushed to Redis within seconds)")
tap.is_(wait_usage(other, other_before), other_before,
        "usage --json: the other space's counters are its own")
tap.is_(usage_public(idle), ZERO, "usage --json: an idle space stays at 0")
out = subprocess.run([cdn.PROVISIONER, "--config", st.prov_conf, "usage",
                    sp["id"]], capture_output=True, text=True)
tap.like(out.stdout, r"Public: 6 requests \(3 hits, 2 not modified, 1 not "
         r"found, \d+ from cache\), .* served \(%d bytes\)" % sent,
         "usage (text): the public line")

host, port = st.redis_addr.rsplit(":", 1)
R = redis.Redis(host=host, port=int(port), decode_responses=True)
keys = sorted(R.scan_iter("objspace:pubstats:*"))
hwm = [k for k in keys if k.startswith("objspace:pubstats:hwm:")]
tap.ok(len(hwm) == 1 and 0 < R.ttl(hwm[0]) <= 7 * 86400
       and set(R.hkeys(hwm[0])) == {sp["id"], other["id"]},
       "objspace:pubstats:hwm:{writer}: one writer for this nginx, per "
       "space sequence, with a TTL")
tap.is_(sorted(set(keys) - set(hwm)),
        sorted(["objspace:pubstats:" + sp["id"],
                "objspace:pubstats:" + other["id"]]),
        "objspace:pubstats:{space}: one hash per space read publicly")

# ------------------------------------------------------------ Redis frozen

tap.is_(st.error_log_lines("error"), [],
        "no [error] in the error log while Redis was there")
mark = st.log_mark()
# MONITOR sees each flush entry: the hwm key, the space, its sequence
with redismon.IdentityReads(st) as mon:
    redis_pid = int(st.redis_env["REDIS_PID"])
    os.kill(redis_pid, signal.SIGSTOP)
    try:
        extra = 0
        for i in range(3):
            s, head, b, n = raw("GET", "/pm1/f/a.txt")
            extra += n
            tap.is_(s, 200, "Redis frozen: GET from the cache (%d)" % (i + 1))
            time.sleep(1)
        time.sleep(2)          # flushes time out meanwhile
    finally:
        os.kill(redis_pid, signal.SIGCONT)

    samples, _ = scrape("/_objspace/metrics")
    got = public_of(samples, sp)
    tap.is_((got["requests"], got["hits"], got["bytes_served"]),
            (9, 6, sent + extra), "metrics counted through the outage")
    u = wait_usage(sp, got, timeout=15)
    tap.is_(u, got, "Redis back: usage catches up exactly (nothing lost, "
            "nothing counted twice)")
    time.sleep(2.5)
    tap.is_(usage_public(sp), got, "and stays there (no replay adds again)")

with open(mon.path) as f:
    seqs = re.findall(r'"objspace:pubstats:hwm:[0-9a-f]{16}" "%s" "(\d+)"'
                      % sp["id"], f.read())
tap.ok(len(seqs) > len(set(seqs)),
       "a delta sent while Redis was frozen (executed when it woke up) was "
       "sent again under the same sequence: %s" % " ".join(seqs))

# ------------------------------------------------------------ reload

old_workers = set(st.nginx_workers())
st.reload_nginx()
deadline = time.time() + 10
while time.time() < deadline and set(st.nginx_workers()) & old_workers:
    time.sleep(0.1)
s, head, b, n = raw("GET", "/pm1/f/a.txt")
samples, _ = scrape("/_objspace/metrics")
after = public_of(samples, sp)
tap.is_((after["requests"], after["bytes_served"]),
        (got["requests"] + 1, got["bytes_served"] + n),
        "reload: the zone and its counters are kept, new workers count on")
tap.is_(wait_usage(sp, after), after,
        "reload: the new workers flush under the same writer, exactly")
tap.is_(len([k for k in R.scan_iter("objspace:pubstats:hwm:*")]), 1,
        "reload: still one writer")

tap.is_(st.alerts(), [], "no [alert] in the error log")
tap.is_([l for l in st.error_log_since(mark)
         if "[error]" in l and "redis" not in l], [],
        "during the outage: [error] lines only about Redis")

tap.done_testing()

#!/usr/bin/python3
# The batched usage updates (docs/redis-schema.md, "Quota and usage"):
# the Lua the module sends for a batch of log-phase updates of spaces
# without a quota (NGX_HTTP_OBJSPACE_QUOTA_SCRIPT wrapped by the batch
# head and NGX_HTTP_OBJSPACE_QUOTA_BATCH_TAIL, read from
# ngx_http_objspace_quota.c exactly as the module sends it) run by a real
# redis-server against a model written here from the documented rules:
#   put f size: a new key adds one object; bytes move by size - old size;
#   del f...:   each key present removes its size and one object
#               (duplicates and absent keys count nothing);
# entries apply in order, in one or several spaces at once.  Random
# batches (seeded, printed) from random starting states: the per-object
# size index, the usage counters and every entry's answer (1, or for the
# last entry of each space {1, size, bytes, reserved}) must equal the
# model.  Also: an empty batch, a batch of one, a put without a key (an
# error for that entry only), and 1,500 keys in one space (more than one
# HMGET/HSET chunk of 1,000).

import os
import random
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import stack   # noqa: E402
import tap     # noqa: E402

import redis   # noqa: E402

SRC = os.path.join(stack.ROOT, "ngx_objspace_module")


def macro(path, name):
    """The string a C macro of concatenated literals expands to."""
    text = open(path).read()
    m = re.search(r"#define " + name + r"\s*\\\n(.*?)\n\n", text, re.S)
    if m is None:
        raise SystemExit("%s: no macro %s" % (path, name))
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
    return "".join(p.encode().decode("unicode_escape") for p in parts)


QUOTA_C = os.path.join(SRC, "ngx_http_objspace_quota.c")
BATCH_C = os.path.join(SRC, "ngx_http_objspace_redis_batch.c")
SCRIPT = (macro(BATCH_C, "NGX_HTTP_OBJSPACE_REDIS_BATCH_HEAD")
          + macro(QUOTA_C, "NGX_HTTP_OBJSPACE_QUOTA_SCRIPT")
          + macro(QUOTA_C, "NGX_HTTP_OBJSPACE_QUOTA_BATCH_TAIL"))

st = stack.Stack()
st.start_redis()
r = redis.Redis(host="127.0.0.1", port=st.redis_port)
sha = r.script_load(SCRIPT)


def put(s, size, f):
    return ["2", "3", "usage:" + s, "osz:" + s, "put", str(size), f]


def delete(s, fps):
    return ["2", str(2 + len(fps)), "usage:" + s, "osz:" + s, "del",
            "0"] + fps


def model(state, entries):
    """Apply entries (lists as put()/delete() build them) to state
    {space: (osz dict, usage dict)}; returns the answers."""
    out, last, sizes = [], {}, []
    for n, e in enumerate(entries):
        s = e[2][len("usage:"):]
        osz, use = state[s]
        if e[4] == "put":
            size, f = int(e[5]), e[6]
            old = osz.get(f)
            if old is None:
                use["objects"] = use.get("objects", 0) + 1
                old = 0
            use["bytes"] = use.get("bytes", 0) + size - old
            osz[f] = size
            sizes.append(size)
        else:
            for f in e[6:]:
                if f in osz:
                    use["bytes"] = use.get("bytes", 0) - osz.pop(f)
                    use["objects"] = use.get("objects", 0) - 1
            sizes.append(0)
        out.append(1)
        last[s] = n
    for s, n in last.items():
        use = state[s][1]
        out[n] = [1, sizes[n], use.get("bytes", 0), use.get("reserved", 0)]
    return out


def load(state):
    r.flushall()
    for s, (osz, use) in state.items():
        if osz:
            r.hset("osz:" + s, mapping=osz)
        if use:
            r.hset("usage:" + s, mapping=use)


def read(spaces):
    got = {}
    for s in spaces:
        osz = {k.decode(): int(v) for k, v in r.hgetall("osz:" + s).items()}
        use = {k.decode(): int(v)
               for k, v in r.hgetall("usage:" + s).items()}
        got[s] = (osz, {k: v for k, v in use.items() if v != 0})
    return got


def norm(state):
    return {s: (dict(osz), {k: v for k, v in use.items() if v != 0})
            for s, (osz, use) in state.items()}


def check(label, state, entries):
    load(state)
    want = model(state, entries)
    flat = [x for e in entries for x in e]
    got = r.evalsha(sha, 0, *flat)
    return got == want and read(state.keys()) == norm(state), got, want


seed = int(os.environ.get("OBJSPACE_T_SEED", random.randrange(1 << 30)))
tap.diag("seed %d (OBJSPACE_T_SEED=%d reproduces)" % (seed, seed))
rng = random.Random(seed)
bad = []
for case in range(300):
    spaces = ["s%d" % i for i in range(rng.randint(1, 3))]
    state = {}
    for s in spaces:
        osz = {"f%d" % rng.randint(0, 30): rng.randint(0, 1000)
               for _ in range(rng.randint(0, 20))}
        use = {"bytes": sum(osz.values()), "objects": len(osz)}
        if rng.random() < 0.5:
            use["reserved"] = rng.randint(1, 100)
        state[s] = (osz, use)
    entries = []
    for _ in range(rng.randint(1, 64)):
        s = rng.choice(spaces)
        if rng.random() < 0.6:
            entries.append(put(s, rng.randint(0, 5000),
                               "f%d" % rng.randint(0, 30)))
        else:
            entries.append(delete(s, ["f%d" % rng.randint(0, 30)
                                      for _ in range(rng.randint(0, 6))]))
    ok, got, want = check("random", state, entries)
    if not ok:
        bad.append((case, got, want))
tap.is_(len(bad), 0, "300 random batches (1-64 puts and deletes, 1-3 "
        "spaces, duplicate and absent keys): index, counters and answers "
        "equal the model")
for case, got, want in bad[:3]:
    tap.diag("case %d: got %r, want %r" % (case, got, want))

load({})
tap.is_(r.evalsha(sha, 0), [], "an empty batch answers an empty list")

ok, got, want = check("one", {"a": ({}, {})}, [put("a", 7, "k")])
tap.ok(ok, "a batch of one new key: [1, 7, 7, 0] and the index holds it")

load({"a": ({}, {})})
got = r.evalsha(sha, 0, *(["2", "2", "usage:a", "osz:a", "put", "5"]
                          + put("a", 3, "k")))
tap.ok(isinstance(got[0], redis.ResponseError)
       and "without a key" in str(got[0]),
       "a put without a key: that entry answers an error")
tap.is_(got[1:], [[1, 3, 3, 0]], "  the next entry is applied")

keys = ["k%05d" % i for i in range(1500)]
state = {"big": ({k: 1 for k in keys[:700]},
                 {"bytes": 700, "objects": 700})}
entries = [put("big", 2, k) for k in keys[:64]]
entries += [delete("big", keys[600:1500])]
ok, got, want = check("big", state, entries)
tap.ok(ok, "1,500 keys of one space in a batch (HMGET/HDEL in chunks of "
       "1,000): equal the model")

st.stop()
tap.done_testing()

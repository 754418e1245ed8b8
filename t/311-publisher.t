#!/usr/bin/python3
# publisher, write-only and write-once identities with real clients.
#   - publisher (prefix site/): `aws s3 sync` of a small website tree with
#     both aws cli generations (v2 = Debian's, v1 = pyenv's), then a second
#     sync --delete after a change; RGW holds exactly the tree;
#   - write-only CI key (prefix ci/): `aws s3 cp` uploads (single PUT and a
#     multipart upload); it cannot read back, HEAD or list (AccessDenied);
#   - write-once (immutable) key: a new key is written, an overwrite (PUT,
#     copy or multipart complete) is refused with 412 PreconditionFailed
#     (the gateway's claim in Redis; `If-None-Match: *` for the backend
#     too) and the object keeps its content; two concurrent PUTs, completes
#     or copies of a new key: exactly one wins, and the stored object is
#     the winner's; claims are settled (none left, the index knows every
#     key); a claim held elsewhere refuses, an expired one does not; a
#     read/write identity is unaffected; Redis stopped: 503, nothing
#     written.

import concurrent.futures
import hashlib
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients    # noqa: E402
import stack      # noqa: E402
import tap        # noqa: E402

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)
sp = st.seed_space(purpose="cdn")
B = sp["bucket"]
pub = st.seed_key(sp, "publisher", "site/", name="site-publisher")
ci = st.seed_key(sp, "write-only", "ci/", name="ci-uploader")
once = st.seed_key(sp, "read-write", "pkgs/", immutable=True,
                   name="package-once")
rgw = st.rgw_client(sp)


def rgw_tree(prefix):
    out = {}
    for k in st.rgw_keys(sp, prefix):
        body = rgw.get_object(Bucket=B, Key=k)["Body"].read()
        out[k[len(prefix):]] = hashlib.sha256(body).hexdigest()
    return out


def local_tree(d):
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = hashlib.sha256(
                    fh.read()).hexdigest()
    return out


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- publisher
site = os.path.join(st.dir, "site")
shutil.rmtree(site, ignore_errors=True)
write(os.path.join(site, "index.html"), b"<h1>hello</h1>\n")
write(os.path.join(site, "css", "style.css"), b"h1 { color: red }\n")
write(os.path.join(site, "img", "logo.png"), os.urandom(70000))
write(os.path.join(site, "docs", "guide", "a b+c.html"), b"<p>spaces</p>")

for gen in ("v2", "v1"):
    if st.awscli(gen) is None:
        tap.skip("aws cli %s not available" % gen, 4)
        continue
    dest = "s3://%s/site/%s/" % (B, gen)
    r = st.run_awscli(gen, ["s3", "sync", site, dest], pub["ak"], pub["sk"])
    if not tap.is_(r.returncode, 0, "publisher: aws cli %s s3 sync" % gen):
        tap.diag(r.stderr[-1500:])
    tap.is_(rgw_tree("site/%s/" % gen), local_tree(site),
            "aws cli %s: RGW holds exactly the tree" % gen)
    # change one file, delete one, sync --delete
    write(os.path.join(site, "index.html"), b"<h1>hello again</h1>\n")
    gone = os.path.join(site, "css", "style.css")
    saved = open(gone, "rb").read()
    os.unlink(gone)
    r = st.run_awscli(gen, ["s3", "sync", "--delete", site, dest],
                      pub["ak"], pub["sk"])
    if not tap.is_(r.returncode, 0, "publisher: aws cli %s s3 sync --delete"
                   % gen):
        tap.diag(r.stderr[-1500:])
    tap.is_(rgw_tree("site/%s/" % gen), local_tree(site),
            "aws cli %s: changed file replaced, deleted file removed" % gen)
    write(gone, saved)
    write(os.path.join(site, "index.html"), b"<h1>hello</h1>\n")

s3p = st.boto3_client(pub["ak"], pub["sk"])
try:
    s3p.put_object(Bucket=B, Key="ci/not-mine", Body=b"x")
    tap.fail("publisher scoped to site/ cannot write ci/")
except Exception as e:
    tap.is_(clients.error_code(e), "AccessDenied",
            "publisher scoped to site/ cannot write ci/")

# ---------------------------------------------------------------- write-only
art = os.path.join(st.dir, "artifacts")
write(os.path.join(art, "build.tar.gz"), os.urandom(200000))
write(os.path.join(art, "big.tar.gz"), os.urandom(9 * 1024 * 1024))
for name in ("build.tar.gz", "big.tar.gz"):
    r = st.run_awscli("v2", ["s3", "cp", os.path.join(art, name),
                             "s3://%s/ci/run-1/%s" % (B, name)],
                      ci["ak"], ci["sk"])
    if not tap.is_(r.returncode, 0, "write-only: aws s3 cp %s%s" % (
            name, " (multipart)" if name.startswith("big") else "")):
        tap.diag(r.stderr[-1500:])
tap.is_(rgw_tree("ci/run-1/"), local_tree(art),
        "write-only: RGW holds the uploads")

s3w = st.boto3_client(ci["ak"], ci["sk"])
for what, fn in (
        ("GetObject", lambda: s3w.get_object(Bucket=B,
                                             Key="ci/run-1/build.tar.gz")),
        ("HeadObject", lambda: s3w.head_object(Bucket=B,
                                               Key="ci/run-1/build.tar.gz")),
        ("ListObjectsV2", lambda: s3w.list_objects_v2(Bucket=B,
                                                      Prefix="ci/")),
        ("ListObjects", lambda: s3w.list_objects(Bucket=B, Prefix="ci/")),
        ("ListMultipartUploads",
         lambda: s3w.list_multipart_uploads(Bucket=B, Prefix="ci/")),
        ("CopyObject", lambda: s3w.copy_object(
            Bucket=B, Key="ci/copy", CopySource="%s/ci/run-1/build.tar.gz"
            % B)),
        ("DeleteObject", lambda: s3w.delete_object(
            Bucket=B, Key="ci/run-1/build.tar.gz"))):
    try:
        fn()
        tap.fail("write-only: %s refused" % what)
    except Exception as e:
        code = clients.error_code(e)
        tap.ok(code in ("AccessDenied", "403"),
               "write-only: %s refused (%s)" % (what, code))
r = st.run_awscli("v2", ["s3", "ls", "s3://%s/ci/" % B], ci["ak"], ci["sk"])
tap.isnt(r.returncode, 0, "write-only: aws s3 ls fails")
r = st.run_awscli("v2", ["s3", "cp", "s3://%s/ci/run-1/build.tar.gz" % B,
                         os.path.join(st.dir, "readback")],
                  ci["ak"], ci["sk"])
tap.isnt(r.returncode, 0, "write-only: aws s3 cp back fails")
tap.ok(not os.path.exists(os.path.join(st.dir, "readback")),
       "write-only: nothing was read back")
tap.ok("ci/copy" not in st.rgw_keys(sp, "ci/"), "write-only: no copy made")

# ---------------------------------------------------------------- write-once
s3o = st.boto3_client(once["ak"], once["sk"])
s3o.put_object(Bucket=B, Key="pkgs/a_1.0.deb", Body=b"first")
tap.is_(rgw.get_object(Bucket=B, Key="pkgs/a_1.0.deb")["Body"].read(),
        b"first", "write-once: a new key is written")
s3o.put_object(Bucket=B, Key="pkgs/other.deb", Body=b"other")


def complete_over(key, c=None):
    c = c or s3o
    mp = c.create_multipart_upload(Bucket=B, Key=key)
    part = c.upload_part(Bucket=B, Key=key, PartNumber=1,
                         UploadId=mp["UploadId"], Body=b"multipart")
    c.complete_multipart_upload(
        Bucket=B, Key=key, UploadId=mp["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1,
                                    "ETag": part["ETag"]}]})


# three ways to replace a key: each refused with 412 before the backend
# (the claim in Redis; RGW Pacific would let Copy and Complete through)
for what, fn in (
        ("PutObject", lambda: s3o.put_object(Bucket=B, Key="pkgs/a_1.0.deb",
                                             Body=b"second")),
        ("CopyObject", lambda: s3o.copy_object(
            Bucket=B, Key="pkgs/a_1.0.deb",
            CopySource="%s/pkgs/other.deb" % B)),
        ("CompleteMultipartUpload",
         lambda: complete_over("pkgs/a_1.0.deb"))):
    try:
        fn()
        code = None
    except Exception as e:
        code = clients.error_code(e)
    body = rgw.get_object(Bucket=B, Key="pkgs/a_1.0.deb")["Body"].read()
    tap.ok(code == "PreconditionFailed" and body == b"first",
           "write-once: overwrite by %s refused with 412 PreconditionFailed, "
           "the object keeps its first content (got %s)" % (what, code))
    if body != b"first":
        rgw.put_object(Bucket=B, Key="pkgs/a_1.0.deb", Body=b"first")
try:
    s3o.delete_object(Bucket=B, Key="pkgs/a_1.0.deb")
    tap.fail("write-once: delete refused")
except Exception as e:
    tap.is_(clients.error_code(e), "AccessDenied",
            "write-once: delete refused (AccessDenied: no delete mode)")
for u in rgw.list_multipart_uploads(Bucket=B, Prefix="pkgs/").get(
        "Uploads", []):
    rgw.abort_multipart_upload(Bucket=B, Key=u["Key"],
                               UploadId=u["UploadId"])


def race(kind, rounds):
    """Two write-once writes of one new key at once, `rounds` times:
    returns the number of rounds where exactly one got 200, the other 412
    PreconditionFailed, and RGW holds the winner's content."""
    good = 0
    for rnd in range(rounds):
        key = "pkgs/%s-race-%d.deb" % (kind, rnd)
        bodies = [os.urandom(256 * 1024) + bytes([i]) for i in range(2)]
        cls = [st.boto3_client(once["ak"], once["sk"]) for _ in range(2)]
        go = []
        for i in range(2):
            if kind == "put":
                go.append(lambda c=cls[i], b=bodies[i]: c.put_object(
                    Bucket=B, Key=key, Body=b))
            elif kind == "copy":
                src = "pkgs/src-%d-%d.deb" % (rnd, i)
                cls[i].put_object(Bucket=B, Key=src, Body=bodies[i])
                go.append(lambda c=cls[i], src=src: c.copy_object(
                    Bucket=B, Key=key, CopySource="%s/%s" % (B, src)))
            else:
                mp = cls[i].create_multipart_upload(Bucket=B, Key=key)
                part = cls[i].upload_part(
                    Bucket=B, Key=key, PartNumber=1, UploadId=mp["UploadId"],
                    Body=bodies[i])
                go.append(lambda c=cls[i], u=mp["UploadId"], e=part["ETag"]:
                          c.complete_multipart_upload(
                              Bucket=B, Key=key, UploadId=u,
                              MultipartUpload={"Parts": [
                                  {"PartNumber": 1, "ETag": e}]}))
        barrier = threading.Barrier(2)

        def racer(i):
            barrier.wait()
            try:
                go[i]()
                return 200, None
            except Exception as e:
                return (e.response["ResponseMetadata"]["HTTPStatusCode"]
                        if hasattr(e, "response") else 0,
                        clients.error_code(e))

        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            res = list(ex.map(racer, range(2)))
        stored = rgw.get_object(Bucket=B, Key=key)["Body"].read()
        winners = [i for i, (s, _) in enumerate(res) if s == 200]
        losers = [res[i] for i in range(2) if i not in winners]
        if (len(winners) == 1 and stored == bodies[winners[0]]
                and losers == [(412, "PreconditionFailed")]):
            good += 1
        else:
            tap.diag("%s round %d: answers %r, stored = %s" % (
                kind, rnd, res,
                [i for i in range(2) if bodies[i] == stored]))
    return good


ROUNDS = 6
tap.is_(race("put", ROUNDS), ROUNDS,
        "write-once: two concurrent PUTs of a new key, %d rounds: exactly "
        "one 200, the other 412, RGW holds the winner's body" % ROUNDS)
RACES = 4
tap.is_(race("complete", RACES), RACES,
        "write-once: two concurrent CompleteMultipartUpload of a new key, "
        "%d rounds: exactly one 200, the other 412, RGW holds the winner's "
        "parts" % RACES)
tap.is_(race("copy", RACES), RACES,
        "write-once: two concurrent CopyObject to a new key, %d rounds: "
        "exactly one 200, the other 412, RGW holds the winner's source"
        % RACES)

# the claims are settled: none left, every key written is in the index
R = st.seeder.r
tap.is_(R.zcard("objspace:claim:%s" % sp["id"]), 0,
        "write-once: no claim left in Redis after the races")
tap.is_(R.hlen("objspace:claimid:%s" % sp["id"]), 0,
        "write-once: no claim owner left in Redis")


def fp(key):
    return hashlib.sha256(key.encode()).hexdigest()[:32]


tap.ok(all(R.hexists("objspace:osz:%s" % sp["id"], fp(k))
           for k in st.rgw_keys(sp, "pkgs/")),
       "write-once: every object under pkgs/ is in the space's index")

# a claim held by another request (injected, unexpired) refuses; an
# expired one does not
now_ms = int(time.time() * 1000)
for key, exp, want in (("pkgs/held.deb", now_ms + 600000, 412),
                       ("pkgs/stale.deb", now_ms - 1000, 200)):
    R.zadd("objspace:claim:%s" % sp["id"], {fp(key): exp})
    R.hset("objspace:claimid:%s" % sp["id"], fp(key), "other-1")
    try:
        s3o.put_object(Bucket=B, Key=key, Body=b"x")
        got = 200
    except Exception as e:
        got = e.response["ResponseMetadata"]["HTTPStatusCode"]
    tap.is_(got, want, "write-once: PUT of a key with %s claim -> %d" % (
        "another request's" if want == 412 else "an expired", want))
tap.ok("pkgs/held.deb" not in st.rgw_keys(sp, "pkgs/"),
       "  the claimed key was not written")
tap.is_(R.hget("objspace:claimid:%s" % sp["id"], fp("pkgs/held.deb")),
        "other-1", "  and the other request's claim is left alone")
R.zrem("objspace:claim:%s" % sp["id"], fp("pkgs/held.deb"))
R.hdel("objspace:claimid:%s" % sp["id"], fp("pkgs/held.deb"))

# a key the index does not know (written around the gateway): PutObject is
# still refused by the backend (If-None-Match); Copy on RGW is not
# (docs/permissions.md, "Limits of the index")
rgw.put_object(Bucket=B, Key="pkgs/outside.deb", Body=b"outside")
try:
    s3o.put_object(Bucket=B, Key="pkgs/outside.deb", Body=b"mine")
    code = None
except Exception as e:
    code = clients.error_code(e)
tap.ok(code == "PreconditionFailed"
       and rgw.get_object(Bucket=B, Key="pkgs/outside.deb")["Body"].read()
       == b"outside",
       "write-once: PUT over a key unknown to the index: 412 from the "
       "backend, object kept (got %s)" % code)
try:
    s3o.copy_object(Bucket=B, Key="pkgs/outside.deb",
                    CopySource="%s/pkgs/other.deb" % B)
    code = None
except Exception as e:
    code = clients.error_code(e)
tap.ok(code == "PreconditionFailed",
       "write-once: copy over a key unknown to the index refused",
       todo="the index only knows objects written through the gateway; "
       "RGW ignores If-None-Match on CopyObject")

# a normal (read/write) identity on the same prefix is unaffected: it
# overwrites by PUT, copy and multipart, and two concurrent copies to a
# new key both succeed
rw = st.seed_key(sp, "read-write", "pkgs/", name="package-rw")
s3rw = st.boto3_client(rw["ak"], rw["sk"])
for what, fn, want in (
        ("PutObject", lambda: s3rw.put_object(
            Bucket=B, Key="pkgs/a_1.0.deb", Body=b"rw-put"), b"rw-put"),
        ("CopyObject", lambda: s3rw.copy_object(
            Bucket=B, Key="pkgs/a_1.0.deb",
            CopySource="%s/pkgs/other.deb" % B), b"other"),
        ("CompleteMultipartUpload", lambda: complete_over(
            "pkgs/a_1.0.deb", s3rw), b"multipart")):
    try:
        fn()
        code = None
    except Exception as e:
        code = clients.error_code(e)
    body = rgw.get_object(Bucket=B, Key="pkgs/a_1.0.deb")["Body"].read()
    tap.ok(code is None and body == want,
           "read/write identity: overwrite by %s allowed (got %s)"
           % (what, code))
barrier = threading.Barrier(2)


def rw_copy(i):
    c = st.boto3_client(rw["ak"], rw["sk"])
    barrier.wait()
    try:
        c.copy_object(Bucket=B, Key="pkgs/rw-race.deb",
                      CopySource="%s/pkgs/src-0-%d.deb" % (B, i))
        return "ok"
    except Exception as e:
        return clients.error_code(e)


with concurrent.futures.ThreadPoolExecutor(2) as ex:
    res = list(ex.map(rw_copy, range(2)))
tap.is_(res, ["ok", "ok"],
        "read/write identity: two concurrent copies to a new key both "
        "succeed (no claim)")
tap.is_(R.zcard("objspace:claim:%s" % sp["id"]), 0,
        "read/write identity: no claim made")
try:
    s3o.copy_object(Bucket=B, Key="pkgs/a_1.0.deb",
                    CopySource="%s/pkgs/other.deb" % B)
    code = None
except Exception as e:
    code = clients.error_code(e)
tap.is_(code, "PreconditionFailed",
        "write-once: a key overwritten by the read/write identity is still "
        "refused to the write-once one")

# Redis unreachable: a write-once write is refused (fail closed) and
# nothing reaches RGW; the identity is cached, so the request is
# authenticated without Redis
mark = st.log_mark()
st.stop_redis()
for what, fn in (
        ("PutObject", lambda: s3o.put_object(Bucket=B, Key="pkgs/down.deb",
                                             Body=b"down")),
        ("CopyObject", lambda: s3o.copy_object(
            Bucket=B, Key="pkgs/down.deb",
            CopySource="%s/pkgs/other.deb" % B)),
        ("CompleteMultipartUpload", lambda: complete_over("pkgs/down.deb"))):
    try:
        fn()
        got = (200, None)
    except Exception as e:
        got = (e.response["ResponseMetadata"]["HTTPStatusCode"]
               if hasattr(e, "response") else 0, clients.error_code(e))
    tap.is_(got, (503, "ServiceUnavailable"),
            "redis stopped: write-once %s -> 503 ServiceUnavailable" % what)
tap.ok("pkgs/down.deb" not in st.rgw_keys(sp, "pkgs/"),
       "redis stopped: nothing written to RGW")
tap.ok(any("write-once store unreachable" in line
           for line in st.error_log_since(mark)),
       "redis stopped: the refusal says why in the error log")

tap.ok(not st.alerts(), "no [alert] in the error log")
tap.done_testing()

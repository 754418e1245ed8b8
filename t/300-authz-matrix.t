#!/usr/bin/python3
# The authorization matrix: no identity reaches anything outside its Object
# Space and prefix, whatever the operation, the target or the encoding.
#
# Two tenants, three Object Spaces (tn_a: A1, A2; tn_b: B1) and a bucket on
# RGW that is no Object Space (U). Identities of every mode, with and
# without the prefix `release/`, two write-once ones, and one each in A2 and
# B1. Generated cases: every operation class (object reads and writes,
# copies with the source in and out of scope, multipart: create, upload,
# complete, abort, list parts, upload-part-copy; listings v1/v2/versions/
# uploads with prefixes inside, outside, shorter and none; multi-object
# delete with one key outside; bucket administration; ListBuckets,
# HeadBucket, GetBucketLocation; presigned URLs) x targets (inside the
# scope, a sibling prefix, a prefix that only shares a string prefix: `rel`,
# `release`, `releasex/`, another space of the same tenant, another tenant,
# the unregistered bucket, the deny-listed `blobs/` and `apps/rustshare/`)
# x path-style and virtual-hosted style, plus encodings (`..` segments,
# %2F, %2e%2e, `//`, a leading slash, upper-case bucket, invalid UTF-8,
# control characters, 1024/1025-byte keys).
#
# The expected answer comes from an independent model of
# docs/permissions.md (below), not from the module. Each case asserts the
# status and the exact S3 error code. Leak checks, all against the real
# thing:
#   - a refused request never reached RGW ($upstream_addr empty in an access
#     log keyed by a case id) and its reason is logged;
#   - no answer carries the content marker of an object outside the
#     identity's scope, and no listing names one;
#   - RGW itself, read with the backend keys at the end: every object outside
#     a writer's scope is untouched (same ETag), nothing was created or
#     deleted that the model does not expect, multipart uploads that refused
#     requests targeted still exist with their parts unchanged.
# The summary diag prints the number of cases and of leaks (must be 0).

import concurrent.futures
import hashlib
import base64
import html
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients    # noqa: E402
import rawclient  # noqa: E402
import seed       # noqa: E402
import stack      # noqa: E402
import tap        # noqa: E402

T0 = time.time()
DENY = ("apps/rustshare/", "blobs/", "meta/")       # the default list
PREFIX = "release/"

st = stack.Stack()
LOG = os.path.join(st.dir, "nginx", "matrix.log")
if not stack.start_or_fail(
        st,
        extra_http="log_format objspace_matrix '$http_x_objspace_case "
                   "$status $objspace_deny_reason \"$upstream_addr\"';",
        extra_server="access_log %s objspace_matrix;" % LOG):
    sys.exit(1)
PORT = st.port

# ---------------------------------------------------------------- world

A1 = st.seed_space(tenant="tn_a")
A2 = st.seed_space(tenant="tn_a")
B1 = st.seed_space(tenant="tn_b")

# U: a bucket on RGW that is no Object Space (its own backend user)
u_ak = seed.new_access_key("OSB")
u_bucket = st.unique_bucket("unreg")
u_sk = st.seeder.rgw.create_user("objspace-unreg-" + secrets.token_hex(4),
                                 u_ak)
st.seeder.rgw.create_bucket(u_bucket, u_ak, u_sk)
U = {"bucket": u_bucket, "backend_ak": u_ak, "backend_sk": u_sk}

SPACES = {s["bucket"]: s for s in (A1, A2, B1, U)}
_local = threading.local()


def backend(bucket):
    """boto3 straight to RGW with the bucket owner's key (per thread)."""
    cache = getattr(_local, "backend", None)
    if cache is None:
        cache = _local.backend = {}
    if bucket not in cache:
        cache[bucket] = st.rgw_client(SPACES[bucket])
    return cache[bucket]


def raw():
    c = getattr(_local, "raw", None)
    if c is None:
        c = _local.raw = rawclient.RawClient(PORT)
    return c


# sentinel objects in every bucket; content = a marker naming the object
SENTINEL_KEYS = ("release/x", "release/sub/y", "release", "releasex/y",
                 "rel", "other/x", "blobs/x", "apps/rustshare/db", "meta/m")
MARK = {}            # marker token -> (bucket, key)
CONTENT = {}         # (bucket, key) -> bytes
ETAG = {}            # (bucket, key) -> etag at seeding


def put_backend(bucket, key, body=None):
    tok = secrets.token_hex(8)
    body = body if body is not None else (b"SENTINEL-" + tok.encode())
    MARK[tok] = (bucket, key)
    CONTENT[(bucket, key)] = body
    r = backend(bucket).put_object(Bucket=bucket, Key=key, Body=body)
    ETAG[(bucket, key)] = r["ETag"]
    return tok


with concurrent.futures.ThreadPoolExecutor(8) as ex:
    list(ex.map(lambda bk: put_backend(*bk),
                [(b, k) for b in SPACES for k in SENTINEL_KEYS]))

# identities
IDS = []
for mode in seed.MODES:
    for prefix in ("", PREFIX):
        IDS.append(st.seed_key(A1, mode, prefix, name="m-" + mode))
IDS.append(st.seed_key(A1, "publisher", PREFIX, immutable=True,
                       name="publisher-once"))
IDS.append(st.seed_key(A1, "read-write", "", immutable=True, name="rw-once"))
IDS.append(st.seed_key(A2, "read-only", PREFIX, name="a2-reader"))
IDS.append(st.seed_key(B1, "read-write-delete", "", name="b1-rwd"))
for i in IDS:
    i["immutable"] = i["immutable"] == "1"

# ---------------------------------------------------------------- model
# docs/permissions.md, written out again independently of the C code

PROBE = {"HeadBucket", "GetBucketLocation"}
READ = {"ListObjects", "ListObjectsV2", "ListObjectVersions", "GetObject",
        "HeadObject", "GetObjectTagging"}
WRITE = {"PutObject", "CreateMultipartUpload", "UploadPart",
         "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts"}
RW = {"CopyObject", "UploadPartCopy", "ListMultipartUploads"}
DELETE = {"DeleteObject", "DeleteObjects"}
OPS = {
    "read-only": PROBE | READ,
    "write-only": PROBE | WRITE,
    "read-write": PROBE | READ | WRITE | RW,
    "read-write-delete": PROBE | READ | WRITE | RW | DELETE,
    "publisher": PROBE | READ | WRITE | RW | DELETE,
    "registry-backend": {"ListObjects", "ListObjectsV2", "GetObject",
                         "PutObject", "CreateMultipartUpload", "UploadPart",
                         "ListMultipartUploads", "ListParts",
                         "CompleteMultipartUpload", "AbortMultipartUpload",
                         "CopyObject", "UploadPartCopy", "DeleteObjects"},
}
ADMIN = "BucketAdmin"


def dot_segment(key):
    return any(s in (".", "..") for s in key.split("/"))


def key_in_scope(ident, bucket, key):
    """True scope: the identity's bucket and prefix, no dot segment, not
    under a deny entry."""
    return (bucket == ident["bucket"] and key.startswith(ident["prefix"])
            and not dot_segment(key)
            and not any(key.startswith(d) for d in DENY))


def model(ident, op, bucket, key=None, list_prefix=None, src=None,
          keys=None):
    """Expected: True (allowed) or False (AccessDenied)."""
    if op == ADMIN:
        return False
    if op == "ListBuckets":
        return True
    if bucket != ident["bucket"] or op not in OPS[ident["mode"]]:
        return False
    if ident["immutable"] and op in DELETE:
        return False
    if key is not None and not key_in_scope(ident, bucket, key):
        return False
    if list_prefix is not None:
        if not list_prefix.startswith(ident["prefix"]):
            return False
        if any(list_prefix.startswith(d) for d in DENY):
            return False
    if src is not None and not key_in_scope(ident, *src):
        return False
    if keys is not None and not all(key_in_scope(ident, bucket, k)
                                    for k in keys):
        return False
    return True


# ---------------------------------------------------------------- cases

CASES = []


class Case:
    __slots__ = ("n", "ident", "op", "desc", "allowed", "status", "code",
                 "run", "result", "check", "lists", "core")

    def __init__(self, ident, op, desc, allowed, run, status=None,
                 code=None, check=None, lists=False, core=False):
        self.n = len(CASES)
        self.ident, self.op, self.desc = ident, op, desc
        self.allowed = allowed
        self.status = status
        self.code = code
        self.run = run
        self.check = check
        self.lists = lists
        self.core = core        # refused by nginx itself, before headers
        self.result = None
        CASES.append(self)


OK_STATUS = {"GetObject": 200, "HeadObject": 200, "GetObjectTagging": 200,
             "PutObject": 200, "DeleteObject": 204, "CopyObject": 200,
             "CreateMultipartUpload": 200, "UploadPart": 200,
             "ListParts": 200, "CompleteMultipartUpload": 200,
             "AbortMultipartUpload": 204, "UploadPartCopy": 200,
             "ListObjects": 200, "ListObjectsV2": 200,
             "ListObjectVersions": 200, "ListMultipartUploads": 200,
             "DeleteObjects": 200, "HeadBucket": 200,
             "GetBucketLocation": 200, "ListBuckets": 200}


def q(key):
    return urllib.parse.quote(key, safe="/~")


def where(bucket, rawkey, style):
    """(Host, path) for bucket + raw (already encoded) key."""
    if style == "virtual":
        return ("%s.%s:%d" % (bucket, st.host_suffix, PORT),
                "/" + (rawkey or ""))
    return None, "/" + bucket + ("/" + rawkey if rawkey is not None else "")


def send(case, method, bucket, rawkey, style, query="", body=b"",
         headers=None, presign=False):
    host, path = where(bucket, rawkey, style)
    if query:
        path += "?" + query
    extra = {"X-Objspace-Case": str(case.n)}
    ident = case.ident
    if presign:
        return raw().presigned(method, path, ident["ak"], ident["sk"],
                               host=host, extra=extra, body=body)
    return raw().request(method, path, ident["ak"], ident["sk"], host=host,
                         headers=headers, body=body, extra=extra)


# expected RGW state at the end: (bucket, key) -> True present / False absent
EXPECT_OBJ = {}
EXPECT_UPLOAD = {}       # (bucket, key, upload id) -> present?
EXPECT_PARTS = {}        # (bucket, key, upload id) -> number of parts
LOCK = threading.Lock()


def expect_obj(bucket, key, present):
    with LOCK:
        EXPECT_OBJ[(bucket, key)] = present


def new_upload(bucket, key, parts=0, present=True, want_parts=None):
    """An upload made on RGW for a case, and what must be left of it."""
    c = backend(bucket)
    uid = c.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etags = []
    for p in range(1, parts + 1):
        etags.append(c.upload_part(Bucket=bucket, Key=key, PartNumber=p,
                                   UploadId=uid, Body=b"part")["ETag"])
    with LOCK:
        EXPECT_UPLOAD[(bucket, key, uid)] = present
        if want_parts is not None:
            EXPECT_PARTS[(bucket, key, uid)] = want_parts
    return uid, etags


# targets: (label, bucket-of(ident), read key, write key base)
def targets(ident):
    own = ident["bucket"]
    others = [b for b in (A1["bucket"], A2["bucket"], B1["bucket"])
              if b != own]
    same_tenant = [b for b in others
                   if SPACES[b].get("tenant") == SPACES[own].get("tenant")]
    other_tenant = [b for b in others if b not in same_tenant]
    t = [("inside", own, "release/x", "release/"),
         ("sibling", own, "other/x", "other/"),
         ("string-prefix rel", own, "rel", "rel"),
         ("string-prefix releasex/", own, "releasex/y", "releasex/"),
         ("string-prefix release", own, "release", "release")]
    if same_tenant:
        t.append(("other space, same tenant", same_tenant[0], "release/x",
                  "release/"))
    if other_tenant:
        t.append(("other tenant", other_tenant[0], "release/x", "release/"))
    t += [("unregistered bucket", U["bucket"], "release/x", "release/"),
          ("deny blobs/", own, "blobs/x", "blobs/"),
          ("deny apps/rustshare/", own, "apps/rustshare/db",
           "apps/rustshare/")]
    return t


def body_ok(expected):
    return lambda st_, h, b: b == expected


def gen_object_cases(ident):
    for label, bucket, rkey, wbase in targets(ident):
        for style in ("path", "virtual"):
            tag = "%s %s (%s)" % (ident["name"], label, style)

            # reads of an existing object
            for op, method, query in (("GetObject", "GET", ""),
                                      ("HeadObject", "HEAD", ""),
                                      ("GetObjectTagging", "GET",
                                       "tagging")):
                if style == "virtual" and query:
                    continue
                a = model(ident, op, bucket, rkey)
                Case(ident, op, tag, a,
                     (lambda c, m=method, b=bucket, k=rkey, s=style, qq=query:
                      send(c, m, b, q(k), s, qq)),
                     check=(body_ok(CONTENT[(bucket, rkey)])
                            if a and op == "GetObject" else None))

            # PutObject of a new key
            def put(c, b=bucket, base=wbase, s=style):
                k = "%sw%d" % (base, c.n)
                expect_obj(b, k, c.allowed)
                return send(c, "PUT", b, q(k), s, body=b"put %d" % c.n)
            Case(ident, "PutObject", tag,
                 model(ident, "PutObject", bucket, wbase + "w"), put)

            # DeleteObject of an object made for the case
            def delete(c, b=bucket, base=wbase, s=style):
                k = "%sd%d" % (base, c.n)
                put_backend(b, k)
                expect_obj(b, k, not c.allowed)
                return send(c, "DELETE", b, q(k), s)
            Case(ident, "DeleteObject", tag,
                 model(ident, "DeleteObject", bucket, wbase + "d"), delete)

            if style == "virtual":
                continue

            # multipart, on uploads made for the case on RGW
            def create(c, b=bucket, base=wbase):
                k = "%sm%d" % (base, c.n)
                r = send(c, "POST", b, q(k), "path", "uploads")
                m = re.search(rb"<UploadId>([^<]+)</UploadId>", r[2])
                if m:
                    with LOCK:
                        EXPECT_UPLOAD[(b, k, m.group(1).decode())] = True
                return r
            Case(ident, "CreateMultipartUpload", tag,
                 model(ident, "CreateMultipartUpload", bucket, wbase + "m"),
                 create)

            def part(c, b=bucket, base=wbase):
                k = "%sp%d" % (base, c.n)
                uid, _ = new_upload(b, k, want_parts=int(c.allowed))
                return send(c, "PUT", b, q(k), "path",
                            "partNumber=1&uploadId=" + q(uid),
                            body=b"part %d" % c.n)
            Case(ident, "UploadPart", tag,
                 model(ident, "UploadPart", bucket, wbase + "p"), part)

            def listparts(c, b=bucket, base=wbase):
                k = "%sl%d" % (base, c.n)
                uid, _ = new_upload(b, k, parts=1)
                return send(c, "GET", b, q(k), "path", "uploadId=" + q(uid))
            Case(ident, "ListParts", tag,
                 model(ident, "ListParts", bucket, wbase + "l"), listparts)

            def complete(c, b=bucket, base=wbase):
                k = "%sc%d" % (base, c.n)
                uid, etags = new_upload(b, k, parts=1, present=not c.allowed)
                expect_obj(b, k, c.allowed)
                xml = ("<CompleteMultipartUpload><Part><PartNumber>1"
                       "</PartNumber><ETag>%s</ETag></Part>"
                       "</CompleteMultipartUpload>" % etags[0]).encode()
                return send(c, "POST", b, q(k), "path", "uploadId=" + q(uid),
                            body=xml)
            Case(ident, "CompleteMultipartUpload", tag,
                 model(ident, "CompleteMultipartUpload", bucket,
                       wbase + "c"), complete)

            def abort(c, b=bucket, base=wbase):
                k = "%sa%d" % (base, c.n)
                uid, _ = new_upload(b, k, parts=1, present=not c.allowed)
                return send(c, "DELETE", b, q(k), "path",
                            "uploadId=" + q(uid))
            Case(ident, "AbortMultipartUpload", tag,
                 model(ident, "AbortMultipartUpload", bucket, wbase + "a"),
                 abort)

            # presigned URLs: scope checked when used
            a = model(ident, "GetObject", bucket, rkey)
            Case(ident, "GetObject", tag + " presigned", a,
                 (lambda c, b=bucket, k=rkey:
                  send(c, "GET", b, q(k), "path", presign=True)),
                 check=body_ok(CONTENT[(bucket, rkey)]) if a else None)

            def pput(c, b=bucket, base=wbase):
                k = "%sq%d" % (base, c.n)
                expect_obj(b, k, c.allowed)
                return send(c, "PUT", b, q(k), "path", body=b"presigned",
                            presign=True)
            Case(ident, "PutObject", tag + " presigned",
                 model(ident, "PutObject", bucket, wbase + "q"), pput)


def gen_copy_cases(ident):
    own = ident["bucket"]
    tl = targets(ident)
    # source variants, destination inside the scope
    srcs = [(label, b, k) for label, b, k, _ in tl]
    srcs.append(("dot segment", own, "release/../other/x"))
    for label, sb, sk in srcs:
        for op in ("CopyObject", "UploadPartCopy"):
            tag = "%s source %s" % (ident["name"], label)
            a = model(ident, op, own, "release/w", src=(sb, sk))

            def run(c, op=op, sb=sb, sk=sk):
                k = "release/y%d" % c.n
                hdr = {"x-amz-copy-source": "/%s/%s" % (sb, q(sk))}
                if op == "CopyObject":
                    expect_obj(own, k, c.allowed)
                    return send(c, "PUT", own, q(k), "path", headers=hdr)
                uid, _ = new_upload(own, k, want_parts=int(c.allowed))
                return send(c, "PUT", own, q(k), "path",
                            "partNumber=1&uploadId=" + q(uid), headers=hdr)
            Case(ident, op, tag, a, run)
    # destination variants, source inside the scope
    for label, db, _, base in tl:
        tag = "%s copy into %s" % (ident["name"], label)
        a = model(ident, "CopyObject", db, base + "y",
                  src=(own, "release/x"))

        def run(c, db=db, base=base):
            k = "%sy%d" % (base, c.n)
            expect_obj(db, k, c.allowed)
            return send(c, "PUT", db, q(k), "path", headers={
                "x-amz-copy-source": "/%s/release/x" % own})
        Case(ident, "CopyObject", tag, a, run)


LIST_OPS = (("ListObjects", ""), ("ListObjectsV2", "list-type=2"),
            ("ListObjectVersions", "versions"),
            ("ListMultipartUploads", "uploads"))
LIST_PREFIXES = (None, "", "release/", "release/sub/", "rel", "release",
                 "releasex/", "other/", "blobs/", "apps/", "apps/rustshare/",
                 "release%2F", "rel%65ase/", "release/+")


def decode_query_value(v):
    return urllib.parse.unquote_plus(v)


def gen_list_cases(ident):
    own = ident["bucket"]
    buckets = [own] + [b for b in SPACES if b != own]
    for b in buckets:
        for op, sub in LIST_OPS:
            for p in LIST_PREFIXES:
                if b != own and p not in (None, "release/"):
                    continue
                for style in (("path", "virtual") if b == own and p in
                              (None, "release/", "other/", "blobs/")
                              else ("path",)):
                    lp = "" if p is None else decode_query_value(p)
                    a = model(ident, op, b, list_prefix=lp)
                    parts = [sub] if sub else []
                    if p is not None:
                        parts.append("prefix=" + (p if "%" in p or "+" in p
                                                  else q(p)))
                    query = "&".join(parts)
                    Case(ident, op, "%s %s prefix=%r (%s)"
                         % (ident["name"], "own" if b == own else b, p,
                            style), a,
                         (lambda c, b=b, query=query, s=style:
                          send(c, "GET", b, None, s, query)),
                         lists=True)


def md5_b64(body):
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def gen_multidelete_cases(ident):
    own = ident["bucket"]
    outs = [("all inside", None), ("one sibling", "other/"),
            ("one string-prefix", "rel"), ("one deny", "blobs/"),
            ("one dot segment", "release/../other/"),
            ("one leading slash", "/release/")]
    for label, extra in outs:
        def run(c, extra=extra):
            keys = ["release/md%d-1" % c.n, "release/md%d-2" % c.n]
            for k in keys:
                put_backend(own, k)
            if extra is not None:
                k = "%smd%d" % (extra, c.n)
                if not dot_segment(k):
                    put_backend(own, k)
                keys.append(k)
            for k in keys:
                if not dot_segment(k):
                    expect_obj(own, k, not c.allowed)
            body = ("<Delete>" + "".join(
                "<Object><Key>%s</Key></Object>" % html.escape(k)
                for k in keys) + "</Delete>").encode()
            return send(c, "POST", own, None, "path", "delete", body=body,
                        headers={"Content-MD5": md5_b64(body)})
        keys_model = ["release/md"] + ([extra + "md"] if extra else [])
        Case(ident, "DeleteObjects", "%s %s" % (ident["name"], label),
             model(ident, "DeleteObjects", own, keys=keys_model), run)
    # another bucket
    for b in (A2["bucket"], U["bucket"]):
        if b == own:
            continue

        def run(c, b=b):
            k = "release/mdo%d" % c.n
            put_backend(b, k)
            expect_obj(b, k, True)
            body = ("<Delete><Object><Key>%s</Key></Object></Delete>"
                    % k).encode()
            return send(c, "POST", b, None, "path", "delete", body=body,
                        headers={"Content-MD5": md5_b64(body)})
        Case(ident, "DeleteObjects", "%s bucket %s" % (ident["name"], b),
             False, run)


ADMIN_REQS = (
    ("GET", "policy", b""),
    ("PUT", "policy", b'{"Version":"2012-10-17","Statement":[{"Effect":'
     b'"Allow","Principal":"*","Action":"s3:GetObject","Resource":'
     b'"arn:aws:s3:::%(b)s/*"}]}'),
    ("DELETE", "policy", b""),
    ("GET", "acl", b""),
    ("PUT", "acl", b""),
    ("GET", "cors", b""),
    ("PUT", "cors", b"<CORSConfiguration><CORSRule><AllowedOrigin>*"
     b"</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>"
     b"</CORSConfiguration>"),
    ("DELETE", "cors", b""),
    ("GET", "lifecycle", b""),
    ("PUT", "lifecycle", b"<LifecycleConfiguration><Rule><ID>x</ID>"
     b"<Filter><Prefix></Prefix></Filter><Status>Enabled</Status>"
     b"<Expiration><Days>1</Days></Expiration></Rule>"
     b"</LifecycleConfiguration>"),
    ("DELETE", "lifecycle", b""),
    ("GET", "versioning", b""),
    ("PUT", "versioning", b"<VersioningConfiguration><Status>Enabled"
     b"</Status></VersioningConfiguration>"),
    ("GET", "tagging", b""),
    ("PUT", "tagging", b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value>"
     b"</Tag></TagSet></Tagging>"),
    ("DELETE", "tagging", b""),
    ("GET", "encryption", b""),
    ("PUT", "", b""),           # CreateBucket (exists)
    ("DELETE", "", b""),        # DeleteBucket
)


def gen_admin_cases(ident):
    own = ident["bucket"]
    for b in (own, A2["bucket"] if own != A2["bucket"] else A1["bucket"],
              U["bucket"]):
        for method, sub, body in ADMIN_REQS:
            # every request on the own bucket; on the others the writes that
            # would hurt most (a leak there is a leak anywhere)
            if b != own and (method, sub) not in (("PUT", "policy"),
                                                  ("PUT", "acl"),
                                                  ("DELETE", "")):
                continue
            body = body.replace(b"%(b)s", b.encode())
            hdrs = {"Content-MD5": md5_b64(body)} if body else None
            if sub == "acl" and method == "PUT":
                hdrs = {"x-amz-acl": "public-read"}
            Case(ident, ADMIN, "%s %s %s?%s" % (ident["name"], method,
                                              "own" if b == own else b, sub),
                 False,
                 (lambda c, m=method, b=b, sub=sub, body=body, h=hdrs:
                  send(c, m, b, None, "path", sub, body=body, headers=h)))
    new = st.unique_bucket("new")

    def create(c):
        expect_bucket_absent.append(new)
        return send(c, "PUT", new, None, "path")
    Case(ident, ADMIN, "%s CreateBucket new" % ident["name"], False, create)


expect_bucket_absent = []


def gen_probe_cases(ident):
    own = ident["bucket"]
    Case(ident, "ListBuckets", ident["name"] + " ListBuckets", True,
         lambda c: raw().request("GET", "/", c.ident["ak"], c.ident["sk"],
                                 extra={"X-Objspace-Case": str(c.n)}),
         check=lambda s, h, b, own=own: re.findall(
             rb"<Name>([^<]*)</Name>", b) == [own.encode()])
    for b in [own] + [x for x in SPACES if x != own]:
        for style in ("path", "virtual"):
            for op, method, query in (("HeadBucket", "HEAD", ""),
                                      ("GetBucketLocation", "GET",
                                       "location")):
                Case(ident, op, "%s %s (%s)" % (
                    ident["name"], "own" if b == own else b, style),
                     model(ident, op, b),
                     (lambda c, m=method, b=b, s=style, qq=query:
                      send(c, m, b, None, s, qq)))


def gen_encoding_cases(ident):
    own = ident["bucket"]
    rd = [
        # (label, raw key, decoded key or None, fixed (status, code))
        ("..", "release/../other/x", "release/../other/x", None),
        ("%2e%2e", "release/%2e%2e/other/x", "release/../other/x", None),
        ("%2E%2E to another bucket", "%2E%2E/" + A2["bucket"] + "/release/x",
         "../%s/release/x" % A2["bucket"], None),
        ("./", "./release/x", "./release/x", None),
        ("%2F", "release%2Fx", "release/x", None),
        ("%2F sibling", "other%2Fx", "other/x", None),
        ("%2F deny", "blobs%2Fx", "blobs/x", None),
        ("leading slash", "/release/x", "/release/x", None),
        ("//", "release//x", "release//x", None),
        ("invalid UTF-8", "release/%C3%28", None, (400, "InvalidArgument")),
        ("overlong UTF-8", "release/%C0%AF", None, (400, "InvalidArgument")),
        ("control char", "release/%01x", None, (400, "InvalidArgument")),
        ("DEL char", "release/%7F", None, (400, "InvalidArgument")),
        ("1025-byte key", "release/" + "k" * 1017, None,
         (400, "KeyTooLongError")),
    ]
    for label, rk, dk, fixed in rd:
        for style in ("path", "virtual"):
            core = False
            if fixed:
                a, st_, code = False, fixed[0], fixed[1]
            elif style == "virtual" and rk.startswith("%2E%2E/"):
                # "/../x" climbs above the root: nginx's own 400
                a, st_, code, core = False, 400, None, True
            else:
                a, st_, code = model(ident, "GetObject", own, dk), None, None
            exists = (own, dk) in CONTENT
            if a and not exists:
                st_, code = 404, "NoSuchKey"
            Case(ident, "GetObject", "%s %s (%s)" % (ident["name"], label,
                                                     style), a,
                 (lambda c, rk=rk, s=style: send(c, "GET", own, rk, s)),
                 status=st_, code=code, core=core,
                 check=body_ok(CONTENT[(own, dk)]) if a and exists
                 else None)
    # writes with encodings: where does the object land?
    wr = [("%2F", "release%%2Fe%d", "release/e%d"),
          ("//", "release//e%d", "release//e%d"),
          ("leading slash", "/release/e%d", "/release/e%d"),
          ("leading slash deny", "/blobs/e%d", "/blobs/e%d"),
          ("%2F deny", "blobs%%2Fe%d", "blobs/e%d")]
    for label, rfmt, dfmt in wr:
        for style in ("path", "virtual"):
            def put(c, rfmt=rfmt, dfmt=dfmt, s=style):
                rk = rfmt % c.n
                if dfmt is None:
                    rk = rk[:1024]
                    dk = rk
                else:
                    dk = dfmt % c.n
                expect_obj(own, dk, c.allowed)
                return send(c, "PUT", own, rk, s, body=b"enc")
            dk0 = (dfmt % 0) if dfmt else "release/0"
            Case(ident, "PutObject", "%s PUT %s (%s)" % (ident["name"],
                                                         label, style),
                 model(ident, "PutObject", own, dk0), put)
    # a 1024-byte key passes the gateway; the test RGW then refuses names
    # over its "osd max object name len" (500, ENAMETOOLONG): either is fine
    # as long as the request was the gateway's to pass (model) and nothing
    # lands elsewhere
    for style in ("path", "virtual"):
        def put1024(c, s=style):
            k = ("release/%d-" % c.n).ljust(1024, "k")
            r = send(c, "PUT", own, k, s, body=b"long")
            expect_obj(own, k, c.allowed and r[0] == 200)
            return r
        a = model(ident, "PutObject", own, "release/1024")
        Case(ident, "PutObject", "%s PUT 1024-byte key (%s)"
             % (ident["name"], style), a, put1024,
             status=(200, 500) if a else None, code=(None, "UnknownError")
             if a else None)

    # upper case bucket, both styles; percent-encoded bucket name
    for style in ("path", "virtual"):
        Case(ident, "GetObject", "%s upper-case bucket (%s)"
             % (ident["name"], style), False,
             (lambda c, s=style: send(c, "GET", own.upper(), "release/x",
                                      s)),
             status=400, code="InvalidBucketName")
    enc = "".join("%%%02X" % ord(ch) for ch in A2["bucket"])
    Case(ident, "GetObject", "%s percent-encoded bucket name" % ident["name"],
         False,
         lambda c: raw().request("GET", "/%s/release/x" % enc,
                                 c.ident["ak"], c.ident["sk"],
                                 extra={"X-Objspace-Case": str(c.n)}),
         status=400, code="InvalidBucketName")


for ident in IDS:
    gen_object_cases(ident)
    gen_copy_cases(ident)
    gen_list_cases(ident)
    gen_multidelete_cases(ident)
    gen_admin_cases(ident)
    gen_probe_cases(ident)
    gen_encoding_cases(ident)

# ---------------------------------------------------------------- run


def execute(c):
    try:
        c.result = c.run(c)
    except Exception as e:
        c.result = (None, {}, repr(e).encode())
    return c


t_setup = time.time() - T0
t_run = time.time()
with concurrent.futures.ThreadPoolExecutor(12) as ex:
    list(ex.map(execute, CASES))
t_run = time.time() - t_run

# access log: case id -> (status, reason, upstream)
time.sleep(0.2)
seen = {}
anonymous_upstream = 0
with open(LOG, errors="replace") as f:
    for line in f:
        m = re.match(r'(\S+) (\d+) (.*) "(.*)"$', line.rstrip("\n"))
        if m and m.group(1).isdigit():
            seen[int(m.group(1))] = (int(m.group(2)), m.group(3),
                                     m.group(4))
        elif not m or m.group(4) not in ("-", ""):
            anonymous_upstream += 1

# ---------------------------------------------------------------- verdicts

leaks = []
exposed_deny_names = 0


def markers(body):
    return re.findall(rb"SENTINEL-([0-9a-f]{16})", body or b"")


def leak(c, why):
    leaks.append("case %d %s %s: %s" % (c.n, c.op, c.desc, why))


for c in CASES:
    status, hdrs, body = c.result
    code = stack.s3_error_code(body) if status and status >= 300 else None
    log = seen.get(c.n)
    if c.allowed:
        want = (c.status or OK_STATUS[c.op], c.code)
    else:
        want = (c.status or 403, c.code if c.status else "AccessDenied")
    got = (status, code)
    if c.op == "HeadObject" or (c.op == "HeadBucket"):
        got = (status, want[1] if status == want[0] else None)
    if isinstance(want[0], tuple):              # one of several answers
        good = status in want[0] and code in want[1]
    else:
        good = got == want
    good = good and (c.check is None or c.check(status, hdrs, body))
    # leak checks on the answer
    if (c.allowed and c.op != "ListBuckets"
            and (log is None or log[2] in ("-", ""))):
        good = False                    # allowed, yet never proxied
    if not c.allowed:
        if log is None and c.core:
            pass                        # checked with the anonymous lines
        elif log is None:
            leak(c, "no access log line")
        elif log[2] not in ("-", ""):
            leak(c, "refused case reached RGW (%s)" % log[2])
        elif want[0] == 403 and log[1] in ("-", ""):
            leak(c, "refusal without a logged reason")
    for tok in markers(body):
        b, k = MARK.get(tok.decode(), (None, None))
        if b is None or not key_in_scope(c.ident, b, k):
            leak(c, "answer carries the content of %s/%s" % (b, k))
    if c.lists and status == 200:
        for k in re.findall(rb"<Key>([^<]*)</Key>", body):
            k = html.unescape(k.decode())
            if key_in_scope(c.ident, c.ident["bucket"], k):
                continue
            if (k.startswith(c.ident["prefix"])
                    and any(k.startswith(d) for d in DENY)):
                exposed_deny_names += 1     # documented: wider listing
                continue
            leak(c, "listing names %r" % k)
    tap.ok(good, "%s %s: %s%s" % (
        c.op, c.desc, "allowed" if c.allowed else "refused",
        "" if good else " (got %r, want %r)" % (got, want)))

# ---------------------------------------------------------------- RGW state

state = {}
uploads = {}
for b in SPACES:
    cl = backend(b)
    objs = {}
    for page in cl.get_paginator("list_objects_v2").paginate(Bucket=b):
        for o in page.get("Contents", []):
            objs[o["Key"]] = o["ETag"]
    state[b] = objs
    ups = set()
    for page in cl.get_paginator("list_multipart_uploads").paginate(
            Bucket=b):
        for u in page.get("Uploads", []):
            ups.add((b, u["Key"], u["UploadId"]))
    uploads[b] = ups


def case_of(key):
    m = re.search(r"[a-z](\d+)(?:-\d|-k)?", key.rsplit("/", 1)[-1])
    return m.group(1) if m else "?"


rgw_leaks = 0
for b in SPACES:
    for k in SENTINEL_KEYS:
        if state[b].get(k) != ETAG[(b, k)]:
            leaks.append("RGW: sentinel %s/%s changed or gone" % (b, k))
            rgw_leaks += 1
    for (eb, k), present in EXPECT_OBJ.items():
        if eb != b:
            continue
        if present and k not in state[b]:
            leaks.append("RGW: %s/%s missing (case %s)" % (b, k, case_of(k)))
            rgw_leaks += 1
        if not present and k in state[b]:
            leaks.append("RGW: %s/%s exists (case %s)" % (b, k, case_of(k)))
            rgw_leaks += 1
    for k in state[b]:
        if (b, k) not in EXPECT_OBJ and (b, k) not in ETAG:
            leaks.append("RGW: unexpected object %s/%s" % (b, k))
            rgw_leaks += 1
    for up in uploads[b]:
        if up not in EXPECT_UPLOAD:
            leaks.append("RGW: unexpected upload %s/%s" % up[:2])
            rgw_leaks += 1
for up, present in EXPECT_UPLOAD.items():
    if present != (up in uploads[up[0]]):
        leaks.append("RGW: upload %s/%s %s" % (
            up[0], up[1], "gone" if present else "still there"))
        rgw_leaks += 1


def count_parts(up):
    b, k, uid = up
    try:
        r = backend(b).list_parts(Bucket=b, Key=k, UploadId=uid)
        return len(r.get("Parts", []))
    except Exception:
        return -1


with concurrent.futures.ThreadPoolExecutor(16) as ex:
    parts = dict(zip(EXPECT_PARTS, ex.map(count_parts, EXPECT_PARTS)))
for up, n in EXPECT_PARTS.items():
    if parts[up] != n:
        leaks.append("RGW: upload %s/%s has %d parts, want %d"
                     % (up[0], up[1], parts[up], n))
        rgw_leaks += 1
for b in expect_bucket_absent:
    st_, _ = st.seeder.rgw.request("HEAD", "/" + b)
    if st_ != 404:
        leaks.append("RGW: bucket %s was created (%d)" % (b, st_))
        rgw_leaks += 1

tap.is_(anonymous_upstream, 0, "requests refused by nginx itself (no case "
        "id in the log) never reached RGW")
if anonymous_upstream:
    leaks.append("%d requests without a case id reached RGW"
                 % anonymous_upstream)
tap.is_(rgw_leaks, 0, "RGW, read directly: nothing outside a scope was "
        "written, overwritten or deleted; no upload outside was touched")
for line in leaks[:40]:
    tap.diag("LEAK " + line)
tap.is_(len(leaks), 0, "no leak")
tap.ok(not st.alerts(), "no [alert] in the error log")

n_allowed = sum(1 for c in CASES if c.allowed)
tap.diag("authz matrix: %d cases (%d allowed, %d refused), %d identities, "
         "%d leaks; %d requests in %.1f s; names under a key-relative deny "
         "prefix shown by wider listings (documented): %d; setup %.1f s, "
         "total %.1f s"
         % (len(CASES), n_allowed, len(CASES) - n_allowed, len(IDS),
            len(leaks), len(CASES), t_run, exposed_deny_names, t_setup,
            time.time() - T0))
tap.done_testing()

#!/usr/bin/python3
# The shape of every error a client can get (t/210 checks which code each
# refusal gets; this checks what an error looks like):
#   - the body is well-formed XML: <Error> with non-empty <Code>, <Message>
#     and <RequestId>, Content-Type application/xml (RGW Pacific's own
#     errors carry an empty <Message>: the gateway passes backend error
#     bodies on unchanged, so for those the element only has to be there);
#   - an x-amz-request-id header, equal to <RequestId>, different on every
#     request;
#   - the same request as HEAD: the same status and x-amz-request-id, no
#     body at all.
# Errors the gateway makes (auth, authorization, payload, Redis away) and
# errors RGW makes that the gateway passes on (NoSuchKey, NoSuchUpload).

import datetime
import os
import sys
import urllib.parse
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import seed    # noqa: E402
import sigv4   # noqa: E402
import stack   # noqa: E402
import tap     # noqa: E402

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)

sp = st.seed_space()
other = st.seed_space()
bucket = sp["bucket"]
rw = st.seed_key(sp, "read-write-delete", prefix="in/")
ro = st.seed_key(sp, "read-only")
st.rgw_client(sp).put_object(Bucket=bucket, Key="in/there", Body=b"x")
request_ids = []


def url_of(key, b=None, query=""):
    return "%s/%s/%s%s" % (st.endpoint, b or bucket, urllib.parse.quote(key),
                           query)


def signed(ident, method, url, body=b"", sk=None, **kw):
    h = sigv4.wire_headers(sigv4.sign_headers(
        method, url, ident["ak"], sk or ident["sk"], st.region, body=body,
        **kw))
    return h


def get_head(label, status, code, build, backend=False):
    """build(method) -> (url, headers): check the error for GET, then the
    same request as HEAD."""
    url, h = build("GET")
    check(label, "GET", url, h, None, status, code, backend)
    url, h = build("HEAD")
    check_head(label, url, h, status)


def check(label, method, url, h, body, status, code, backend=False):
    """The error answer to one request; backend=True: made by RGW, whose
    <Message> may be empty."""
    got, hdrs, data = st.http(method, url, headers=h, body=body)
    hdrs = {k.lower(): v for k, v in hdrs.items()}
    tap.is_(got, status, "%s: %d" % (label, status))
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        tap.fail("%s: body is well-formed XML" % label,
                 "%s: %r" % (e, data[:300]))
        return
    fields = {c.tag: (c.text or "").strip() for c in root}
    message = "Message" in fields if backend else fields.get("Message")
    if not tap.ok(root.tag == "Error" and fields.get("Code") == code
                  and message and fields.get("RequestId"),
                  "%s: <Error> with Code %s, a Message and a RequestId"
                  % (label, code)):
        tap.diag("<%s> %r" % (root.tag, fields))
    tap.like(hdrs.get("content-type"), r"^application/xml",
             "%s:   Content-Type application/xml" % label)
    rid = hdrs.get("x-amz-request-id")
    tap.ok(rid and rid == fields.get("RequestId"),
           "%s:   x-amz-request-id header = RequestId" % label)
    request_ids.append(rid)


def check_head(label, url, h, status):
    got, hdrs, data = st.http("HEAD", url, headers=h)
    hdrs = {k.lower(): v for k, v in hdrs.items()}
    tap.ok(got == status and data == b"" and hdrs.get("x-amz-request-id"),
           "%s, as HEAD: %d, x-amz-request-id, no body" % (label, status))
    if data:
        tap.diag("HEAD body: %r" % data[:300])
    request_ids.append(hdrs.get("x-amz-request-id"))


# --- made by the gateway ----------------------------------------------------
get_head("anonymous", 403, "AccessDenied",
         lambda m: (url_of("in/there"), {}))
get_head("unknown key", 403, "InvalidAccessKeyId",
         lambda m: (url_of("in/there"), signed(
             {"ak": seed.new_access_key(), "sk": rw["sk"]}, m,
             url_of("in/there"))))
get_head("wrong secret", 403, "SignatureDoesNotMatch",
         lambda m: (url_of("in/there"), signed(
             rw, m, url_of("in/there"), sk=seed.new_secret_key())))
skew = datetime.datetime.now(datetime.timezone.utc) - \
    datetime.timedelta(minutes=30)
get_head("clock 30 min behind", 403, "RequestTimeTooSkewed",
         lambda m: (url_of("in/there"), signed(rw, m, url_of("in/there"),
                                               now=skew)))
get_head("credential scope eu-west-1", 400, "AuthorizationHeaderMalformed",
         lambda m: (url_of("in/there"), signed(rw, m, url_of("in/there"),
                                               scope_region="eu-west-1")))


def malformed(m):
    h = signed(rw, m, url_of("in/there"))
    h["Authorization"] = h["Authorization"].split(",")[0]
    return url_of("in/there"), h


get_head("truncated Authorization", 400, "AuthorizationHeaderMalformed",
         malformed)
get_head("key outside the identity's prefix", 403, "AccessDenied",
         lambda m: (url_of("out/there"), signed(rw, m, url_of("out/there"))))
get_head("another space's bucket", 403, "AccessDenied",
         lambda m: (url_of("x", b=other["bucket"]),
                    signed(rw, m, url_of("x", b=other["bucket"]))))
get_head("presigned URL expired", 403, "AccessDenied",
         lambda m: (sigv4.presign(m, url_of("in/there"), rw["ak"], rw["sk"],
                                  st.region, expires=60, now=skew), {}))

u = url_of("in/new")
check("read-only key, PUT", "PUT", u, signed(ro, "PUT", u, b"x"), b"x",
      403, "AccessDenied")
h = signed(rw, "PUT", u, b"signed body")
check("body differs from the signed sha256", "PUT", u, h, b"other body",
      400, "XAmzContentSHA256Mismatch")
u = "%s/%s" % (st.endpoint, bucket)
check("bucket administration (DeleteBucket)", "DELETE", u,
      signed(rw, "DELETE", u), None, 403, "AccessDenied")
u = "%s/%s?policy=" % (st.endpoint, bucket)
check("bucket administration (PutBucketPolicy)", "PUT", u,
      signed(rw, "PUT", u, b"{}"), b"{}", 403, "AccessDenied")

# --- made by RGW, passed on -------------------------------------------------
get_head("missing object (RGW)", 404, "NoSuchKey",
         lambda m: (url_of("in/missing"), signed(rw, m, url_of("in/missing"))),
         backend=True)
u = url_of("in/there", query="?uploadId=2~nosuchupload")
check("unknown multipart upload (RGW)", "DELETE", u, signed(rw, "DELETE", u),
      None, 404, "NoSuchUpload", backend=True)

# --- Redis away: 503 --------------------------------------------------------
fresh = st.seed_key(sp, "read-write-delete")
st.stop_redis()
get_head("identity store unreachable", 503, "ServiceUnavailable",
         lambda m: (url_of("in/there"), signed(fresh, m, url_of("in/there"))))

ids = [r for r in request_ids if r]
tap.is_(len(set(ids)), len(request_ids),
        "every answer had its own x-amz-request-id (%d)" % len(request_ids))
tap.is_(st.alerts(), [], "no [alert]/[crit]/[emerg] in the error log")
tap.done_testing()

#!/usr/bin/python3
# Refusals: each bad request gets the S3 error code S3 uses, and nothing is
# stored (checked straight on RGW with the backend key):
#   wrong secret -> SignatureDoesNotMatch     unknown key -> InvalidAccessKeyId
#   tampered presigned URL -> SignatureDoesNotMatch
#   expired presigned URL -> AccessDenied     skewed clock -> RequestTimeTooSkewed
#   wrong region -> AuthorizationHeaderMalformed
#   host not signed -> AccessDenied or SignatureDoesNotMatch
#   tampered payload -> XAmzContentSHA256Mismatch
#   tampered aws-chunked chunk / chunk signature -> SignatureDoesNotMatch
#   wrong trailer checksum -> BadDigest (or InvalidRequest)
# No [alert] in the error log, and no secret or signature in it.

import datetime
import hashlib
import os
import re
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
import clients  # noqa: E402
import sigv4    # noqa: E402
import stack    # noqa: E402
import tap      # noqa: E402

st = stack.Stack()
if not stack.start_or_fail(st):
    sys.exit(1)

sp = st.seed_space()
key = st.seed_key(sp, "read-write-delete", prefix="")
bucket = sp["bucket"]
base = st.endpoint + "/" + bucket
AK, SK = key["ak"], key["sk"]
REGION = st.region
secrets_seen = [SK, sp["backend_sk"]]
object_names = []


def stored(k):
    return k in st.rgw_keys(sp, k)


def nothing_stored(k, name):
    tap.ok(not stored(k), "  %s: nothing stored on RGW" % name)
    object_names.append(k)


def boto_code(fn):
    try:
        fn()
        return None
    except Exception as e:
        return clients.error_code(e)


def send(method, url, headers, body=None):
    status, hdrs, data = st.http(method, url, headers=headers, body=body)
    return status, stack.s3_error_code(data), data


def signed_put(k, body, **kw):
    url = base + "/" + urllib.parse.quote(k)
    h = sigv4.sign_headers("PUT", url, kw.pop("ak", AK), kw.pop("sk", SK),
                           REGION, body=body, **kw)
    for s in ("_seed_signature",):
        secrets_seen.append(h[s])
    return url, sigv4.wire_headers(h)


# --- sanity: the identity works at all ------------------------------------
s3 = st.boto3_client(AK, SK)
try:
    s3.put_object(Bucket=bucket, Key="ok/first", Body=b"fine")
    tap.ok(stored("ok/first"), "control: a correct put is stored")
except Exception as e:
    tap.fail("control: a correct put is stored", clients.error_code(e))

# --- wrong secret, unknown key (boto3) ------------------------------------
bad = st.boto3_client(AK, SK[:-4] + "AAAA")
tap.is_(boto_code(lambda: bad.put_object(Bucket=bucket, Key="r/wrong-secret",
                                         Body=b"x")),
        "SignatureDoesNotMatch", "wrong secret: SignatureDoesNotMatch")
nothing_stored("r/wrong-secret", "wrong secret")
tap.is_(boto_code(lambda: bad.get_object(Bucket=bucket, Key="ok/first")),
        "SignatureDoesNotMatch", "wrong secret on GET: SignatureDoesNotMatch")

unknown = st.boto3_client("OSKUNKNOWN0000000000", SK)
tap.is_(boto_code(lambda: unknown.put_object(Bucket=bucket,
                                             Key="r/unknown-key", Body=b"x")),
        "InvalidAccessKeyId", "unknown key: InvalidAccessKeyId")
nothing_stored("r/unknown-key", "unknown key")

# --- presigned: tampered, expired -----------------------------------------
url = s3.generate_presigned_url("put_object", Params={
    "Bucket": bucket, "Key": "r/presigned-ok"}, ExpiresIn=300)
tampered = url.replace("/r/presigned-ok?", "/r/presigned-tampered?")
status, code, _ = send("PUT", tampered, {}, b"evil")
tap.is_(code, "SignatureDoesNotMatch",
        "presigned URL with another key name: SignatureDoesNotMatch")
nothing_stored("r/presigned-tampered", "tampered presigned")
t2 = re.sub(r"X-Amz-Expires=\d+", "X-Amz-Expires=600", url)
status, code, _ = send("PUT", t2.replace("presigned-ok", "presigned-t2"),
                       {}, b"evil")
tap.is_(code, "SignatureDoesNotMatch",
        "presigned URL with a longer X-Amz-Expires: SignatureDoesNotMatch")
sig = re.search(r"X-Amz-Signature=([0-9a-f]+)", url).group(1)
secrets_seen.append(sig)
flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
status, code, _ = send("PUT", url.replace(sig, flipped), {}, b"evil")
tap.is_(code, "SignatureDoesNotMatch",
        "presigned URL with a flipped signature: SignatureDoesNotMatch")
nothing_stored("r/presigned-ok", "flipped presigned")

past = datetime.datetime.now(datetime.timezone.utc) - \
    datetime.timedelta(hours=2)
exp = sigv4.presign("PUT", base + "/r/expired", AK, SK, REGION, expires=60,
                    now=past)
secrets_seen.append(exp.rsplit("X-Amz-Signature=", 1)[1])
status, code, _ = send("PUT", exp, {}, b"late")
tap.is_(code, "AccessDenied", "expired presigned URL: AccessDenied")
nothing_stored("r/expired", "expired presigned")
exp = sigv4.presign("GET", base + "/ok/first", AK, SK, REGION, expires=60,
                    now=past)
status, code, _ = send("GET", exp, {})
tap.is_(code, "AccessDenied", "expired presigned GET: AccessDenied")
good = sigv4.presign("GET", base + "/ok/first", AK, SK, REGION, expires=60)
status, code, data = send("GET", good, {})
tap.ok(status == 200 and data == b"fine",
       "control: a fresh presigned GET from our own signer works")

# --- header auth: skew, region, unsigned host -----------------------------
skewed = datetime.datetime.now(datetime.timezone.utc) - \
    datetime.timedelta(minutes=20)
url, h = signed_put("r/skewed", b"x", now=skewed)
status, code, _ = send("PUT", url, h, b"x")
tap.is_(code, "RequestTimeTooSkewed", "clock 20 min behind: "
        "RequestTimeTooSkewed")
nothing_stored("r/skewed", "skewed clock")
url, h = signed_put("r/skewed-ahead", b"x", now=skewed +
                    datetime.timedelta(minutes=40))
status, code, _ = send("PUT", url, h, b"x")
tap.is_(code, "RequestTimeTooSkewed", "clock 20 min ahead: "
        "RequestTimeTooSkewed")
nothing_stored("r/skewed-ahead", "clock ahead")

url, h = signed_put("r/region", b"x", scope_region="eu-west-1")
status, code, _ = send("PUT", url, h, b"x")
tap.is_(code, "AuthorizationHeaderMalformed",
        "credential scope eu-west-1: AuthorizationHeaderMalformed")
nothing_stored("r/region", "wrong region")
eu = clients.boto3_client(st.endpoint, AK, SK, region="eu-west-1")
tap.is_(boto_code(lambda: eu.put_object(Bucket=bucket, Key="r/region-boto",
                                        Body=b"x")),
        "AuthorizationHeaderMalformed",
        "boto3 in region eu-west-1: AuthorizationHeaderMalformed")
nothing_stored("r/region-boto", "boto3 wrong region")

url, h = signed_put("r/nohost", b"x",
                    signed_headers=["x-amz-content-sha256", "x-amz-date"])
status, code, _ = send("PUT", url, h, b"x")
tap.ok(code in ("AccessDenied", "SignatureDoesNotMatch"),
       "host not signed: AccessDenied or SignatureDoesNotMatch (got %s)"
       % code)
nothing_stored("r/nohost", "unsigned host")

url, h = signed_put("r/otherhost", b"x")
h["Host"] = "evil.example:%d" % st.port
status, code, _ = send("PUT", url, h, b"x")
tap.ok(code in ("AccessDenied", "SignatureDoesNotMatch", "NoSuchBucket"),
       "Host changed after signing: refused (got %s)" % code)
nothing_stored("r/otherhost", "changed host")

url, h = signed_put("r/unsigned-amz", b"x")
h["x-amz-meta-added"] = "after signing"
status, code, _ = send("PUT", url, h, b"x")
if code is None:
    tap.ok(status == 200 and "x-amz-meta-added" not in {
        k.lower() for k in st.rgw_client(sp).head_object(
            Bucket=bucket, Key="r/unsigned-amz").get("Metadata", {})},
        "unsigned x-amz-* header: stripped before the backend")
else:
    tap.ok(code in ("AccessDenied", "SignatureDoesNotMatch"),
           "unsigned x-amz-* header: refused (%s)" % code)

# --- payload --------------------------------------------------------------
url = base + "/r/payload"
h = sigv4.sign_headers("PUT", url, AK, SK, REGION, body=b"the good body")
status, code, _ = send("PUT", url, sigv4.wire_headers(h), b"the evil body")
tap.is_(code, "XAmzContentSHA256Mismatch",
        "body differs from the signed sha256: XAmzContentSHA256Mismatch")
nothing_stored("r/payload", "tampered payload")
h = sigv4.sign_headers("PUT", url, AK, SK, REGION,
                       payload_hash=hashlib.sha256(b"x").hexdigest())
h = sigv4.wire_headers(h)
h["x-amz-content-sha256"] = hashlib.sha256(b"y").hexdigest()
status, code, _ = send("PUT", url, h, b"y")
tap.is_(code, "SignatureDoesNotMatch",
        "x-amz-content-sha256 changed after signing: SignatureDoesNotMatch")
nothing_stored("r/payload", "changed payload hash")

# --- aws-chunked ----------------------------------------------------------
data = os.urandom(200 * 1024)


def chunked(k, **kw):
    url = base + "/" + k
    h, body = sigv4.chunked_upload("PUT", url, AK, SK, REGION, data,
                                   chunk_size=64 * 1024, **kw)
    return send("PUT", url, h, body)


status, code, _ = chunked("r/chunked-ok")
tap.ok(status == 200 and stored("r/chunked-ok"),
       "control: a correct STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload "
       "is stored")
if stored("r/chunked-ok"):
    got = st.rgw_client(sp).get_object(Bucket=bucket, Key="r/chunked-ok")
    tap.ok(got["Body"].read() == data, "  decoded: RGW holds the raw bytes")
else:
    tap.skip("not stored")
status, code, _ = chunked("r/chunk-tampered", tamper_chunk=1)
tap.is_(code, "SignatureDoesNotMatch",
        "chunk 2 altered after signing: SignatureDoesNotMatch")
nothing_stored("r/chunk-tampered", "tampered chunk")
status, code, _ = chunked("r/chunk-last-tampered", tamper_chunk=3)
tap.is_(code, "SignatureDoesNotMatch",
        "last (short) chunk altered: SignatureDoesNotMatch")
nothing_stored("r/chunk-last-tampered", "tampered last chunk")
status, code, _ = chunked("r/chunk-sig", tamper_sig=0)
tap.is_(code, "SignatureDoesNotMatch",
        "chunk 1 signature wrong: SignatureDoesNotMatch")
nothing_stored("r/chunk-sig", "bad chunk signature")
status, code, _ = chunked("r/chunk-final-sig", tamper_sig=4)
tap.is_(code, "SignatureDoesNotMatch",
        "final 0-chunk signature wrong: SignatureDoesNotMatch")
nothing_stored("r/chunk-final-sig", "bad final chunk signature")

for signed in (True, False):
    form = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" if signed
            else "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    k = "r/trailer-ok-%d" % signed
    status, code, _ = chunked(k, trailer="crc32", signed=signed)
    tap.ok(status == 200 and stored(k),
           "control: %s with a correct crc32 is stored" % form)
    for algo in ("crc32", "sha256"):
        k = "r/trailer-bad-%s-%d" % (algo, signed)
        wrong = sigv4.checksum_value(algo, b"something else")
        status, code, _ = chunked(k, trailer=algo, signed=signed,
                                  trailer_value=wrong)
        tap.ok(code in ("BadDigest", "InvalidRequest"),
               "%s, wrong x-amz-checksum-%s: BadDigest (got %s)"
               % (form, algo, code))
        nothing_stored(k, "wrong trailer checksum")
    if not signed:
        k = "r/trailer-unsigned-tampered"
        status, code, _ = chunked(k, trailer="crc32", signed=False,
                                  tamper_chunk=0)
        tap.ok(code in ("BadDigest", "InvalidRequest"),
               "unsigned trailer form, chunk altered: checksum catches it "
               "(got %s)" % code)
        nothing_stored(k, "altered unsigned-trailer chunk")

# --- error responses and the log ------------------------------------------
status, hdrs, body = st.http("PUT", base + "/r/anon", body=b"x")
tap.like(body.decode(errors="replace"), r"<RequestId>[^<]+</RequestId>",
         "errors carry a RequestId")
tap.is_(st.alerts(), [], "no [alert] in nginx's error log")
log = "\n".join(st.error_log_lines())
leaks = [s for s in secrets_seen if s and s in log]
tap.is_(leaks, [], "no secret or signature in the error log")
tap.unlike(log, r"Authorization: AWS4|Credential=%s" % AK,
           "no Authorization value or credential in the error log")
tap.unlike(log, r"X-Amz-Signature=",
           "no presigned query signature in the error log (nginx's request "
           "line context included)")
tap.is_([k for k in object_names if k in log], [],
        "no object name in the error log (they belong in the audit only)")
tap.done_testing()

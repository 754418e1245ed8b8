"""A small, independent AWS Signature V4 signer for crafting requests.

Tests use it where real clients cannot produce the request they need
(skewed clocks, tampered chunks, wrong trailer checksums) and to call the
RGW admin REST API. Pure standard library; follows the AWS S3 SigV4
documentation ("Signature Calculations for the Authorization Header",
"Signature Calculation: Transferring Payload in Multiple Chunks",
"Authenticating Requests: Using Query Parameters").

    sign_headers(method, url, ak, sk, region, headers=None, body=b"",
                 payload_hash=None, now=None, service="s3",
                 signed_headers=None) -> dict of headers to send
    presign(method, url, ak, sk, region, expires=3600, now=None) -> url
    chunked_body(...)  aws-chunked framing with chunk signatures / trailers
"""

import base64
import datetime
import hashlib
import hmac
import itertools
import urllib.parse
import zlib

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def _h(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(sk, date, region, service="s3"):
    k = _h(("AWS4" + sk).encode(), date)
    k = _h(k, region)
    k = _h(k, service)
    return _h(k, "aws4_request")


def uri_encode(s, slash=True):
    safe = "-_.~" + ("/" if not slash else "")
    return urllib.parse.quote(s, safe=safe)


def canonical_query(query):
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    enc = sorted((uri_encode(k, True), uri_encode(v, True)) for k, v in pairs)
    return "&".join("%s=%s" % kv for kv in enc)


def _stamp(now):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")


def canonical_request(method, path, query, headers, signed, payload_hash):
    lines = [method, path, canonical_query(query)]
    lower = {k.lower(): " ".join(str(v).strip().split())
             for k, v in headers.items()}
    for h in signed:
        lines.append("%s:%s" % (h, lower[h]))
    return "\n".join(lines[:3]) + "\n" + "\n".join(lines[3:]) + "\n\n" + \
        ";".join(signed) + "\n" + payload_hash


def sign_headers(method, url, ak, sk, region, headers=None, body=b"",
                 payload_hash=None, now=None, service="s3",
                 signed_headers=None, scope_region=None, host=None):
    """Return the full header dict (incl. Authorization) for the request.

    url's path must already be URI-encoded the way it goes on the wire
    (S3 does not double-encode). payload_hash defaults to the body's
    sha256; pass UNSIGNED or a STREAMING-* value as needed.
    signed_headers: names to sign (default: host + every x-amz-* +
    content-type/content-md5 present). scope_region: region to put in the
    credential scope (defaults to region).
    """
    u = urllib.parse.urlsplit(url)
    amz_date, date = _stamp(now)
    hdrs = dict(headers or {})
    hdrs["Host"] = host or hdrs.get("Host") or u.netloc
    if payload_hash is None:
        payload_hash = hashlib.sha256(body or b"").hexdigest()
    hdrs["x-amz-date"] = amz_date
    hdrs["x-amz-content-sha256"] = payload_hash
    if signed_headers is None:
        signed_headers = sorted(
            k.lower() for k in hdrs
            if k.lower() in ("host", "content-type", "content-md5",
                             "content-encoding", "x-amz-decoded-content-length",
                             "x-amz-trailer") or
            k.lower().startswith("x-amz-"))
    signed = sorted(set(signed_headers))
    creq = canonical_request(method, u.path or "/", u.query, hdrs, signed,
                             payload_hash)
    scope = "%s/%s/%s/aws4_request" % (date, scope_region or region, service)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (
        amz_date, scope, hashlib.sha256(creq.encode()).hexdigest())
    key = signing_key(sk, date, scope_region or region, service)
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    hdrs["Authorization"] = (
        "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
        % (ak, scope, ";".join(signed), sig))
    hdrs["_seed_signature"] = sig
    hdrs["_signing_key"] = key
    hdrs["_scope"] = scope
    hdrs["_amz_date"] = amz_date
    return hdrs


def wire_headers(hdrs):
    """Drop the private _* entries sign_headers() adds."""
    return {k: v for k, v in hdrs.items() if not k.startswith("_")}


def presign(method, url, ak, sk, region, expires=3600, now=None,
            service="s3", host=None):
    u = urllib.parse.urlsplit(url)
    amz_date, date = _stamp(now)
    scope = "%s/%s/%s/aws4_request" % (date, region, service)
    q = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
    q += [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
          ("X-Amz-Credential", "%s/%s" % (ak, scope)),
          ("X-Amz-Date", amz_date),
          ("X-Amz-Expires", str(expires)),
          ("X-Amz-SignedHeaders", "host")]
    query = "&".join("%s=%s" % (uri_encode(k), uri_encode(v)) for k, v in q)
    creq = canonical_request(method, u.path or "/", query,
                             {"host": host or u.netloc}, ["host"], UNSIGNED)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (
        amz_date, scope, hashlib.sha256(creq.encode()).hexdigest())
    sig = hmac.new(signing_key(sk, date, region, service), sts.encode(),
                   hashlib.sha256).hexdigest()
    return urllib.parse.urlunsplit(
        (u.scheme, u.netloc, u.path, query + "&X-Amz-Signature=" + sig, ""))


def _chunk_sig(key, amz_date, scope, prev, data):
    sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev,
                     EMPTY_SHA256, hashlib.sha256(data).hexdigest()])
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def checksum_value(algo, data):
    algo = algo.lower()
    if algo == "crc32":
        v = zlib.crc32(data).to_bytes(4, "big")
    elif algo == "sha256":
        v = hashlib.sha256(data).digest()
    elif algo == "sha1":
        v = hashlib.sha1(data).digest()
    else:
        raise ValueError("checksum %s not supported here" % algo)
    return base64.b64encode(v).decode()


def _chunked_headers(headers, total, signed, trailer):
    """(headers, payload hash) of an aws-chunked upload of `total` bytes:
    the caller's headers plus the framing ones, Content-Length not yet."""
    hdrs = dict(headers or {})
    hdrs["Content-Encoding"] = "aws-chunked"
    hdrs["x-amz-decoded-content-length"] = str(total)
    if trailer:
        hdrs["x-amz-trailer"] = "x-amz-checksum-" + trailer
    if signed:
        ph = STREAMING_TRAILER if trailer else STREAMING
    else:
        ph = STREAMING_UNSIGNED_TRAILER
    return hdrs, ph


def chunked_upload(method, url, ak, sk, region, data, chunk_size=65536,
                   signed=True, trailer=None, trailer_value=None,
                   tamper_chunk=None, tamper_sig=None, now=None,
                   headers=None):
    """Build (headers, body) for an aws-chunked upload.

    signed=True: STREAMING-AWS4-HMAC-SHA256-PAYLOAD (+ -TRAILER when
    trailer is given: "crc32"/"sha1"/"sha256"); signed=False with a trailer:
    STREAMING-UNSIGNED-PAYLOAD-TRAILER. trailer_value overrides the computed
    checksum (to send a wrong one). tamper_chunk=i flips a byte of chunk i
    after signing; tamper_sig=i corrupts chunk i's signature.
    """
    chunks = [data[i:i + chunk_size] for i in range(0, len(data),
                                                    chunk_size)]
    hdrs, ph = _chunked_headers(headers, len(data), signed, trailer)
    # Content-Length of the framed body must be known before signing: build
    # the body with placeholder signatures of the same length first.
    body = _frame(chunks, [("0" * 64) if signed else None] * (len(chunks) + 1),
                  trailer, trailer_value or (checksum_value(trailer, data)
                                             if trailer else None), signed)
    hdrs["Content-Length"] = str(len(body))
    h = sign_headers(method, url, ak, sk, region, headers=hdrs,
                     payload_hash=ph, now=now)
    key, scope, amz_date = h["_signing_key"], h["_scope"], h["_amz_date"]
    prev = h["_seed_signature"]
    sigs = []
    if signed:
        for c in chunks + [b""]:
            prev = _chunk_sig(key, amz_date, scope, prev, c)
            sigs.append(prev)
    else:
        sigs = [None] * (len(chunks) + 1)
    tv = trailer_value or (checksum_value(trailer, data) if trailer else None)
    trailer_sig = None
    if signed and trailer:
        tline = "x-amz-checksum-%s:%s\n" % (trailer, tv)
        sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, prev,
                         hashlib.sha256(tline.encode()).hexdigest()])
        trailer_sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    if tamper_sig is not None and signed:
        s = sigs[tamper_sig]
        sigs[tamper_sig] = ("1" if s[0] != "1" else "2") + s[1:]
    if tamper_chunk is not None:
        c = bytearray(chunks[tamper_chunk])
        c[0] ^= 0x01
        chunks[tamper_chunk] = bytes(c)
    body = _frame(chunks, sigs, trailer, tv, signed, trailer_sig)
    return wire_headers(h), body


def _frame(chunks, sigs, trailer, tv, signed, trailer_sig=None):
    out = []
    for c, s in zip(chunks + [b""], sigs):
        head = "%x" % len(c)
        if signed:
            head += ";chunk-signature=" + s
        out.append(head.encode() + b"\r\n" + c)
        if len(c) or not trailer:
            out.append(b"\r\n")
    if trailer:
        out.append(("x-amz-checksum-%s:%s\r\n" % (trailer, tv)).encode())
        if signed:
            out.append(("x-amz-trailer-signature:%s\r\n"
                        % (trailer_sig or "0" * 64)).encode())
        out.append(b"\r\n")
    return b"".join(out)


_DIGEST_SIZE = {"crc32": 4, "crc32c": 4, "sha1": 20, "sha256": 32}


class _Checksum:
    """Incremental form of checksum_value() (crc32, sha1, sha256)."""

    def __init__(self, algo):
        self.algo = algo.lower()
        self.crc = 0
        self.h = None if self.algo == "crc32" else hashlib.new(self.algo)

    def update(self, data):
        if self.h is None:
            self.crc = zlib.crc32(data, self.crc)
        else:
            self.h.update(data)

    def value(self):
        raw = (self.crc.to_bytes(4, "big") if self.h is None
               else self.h.digest())
        return base64.b64encode(raw).decode()


def _framed_length(total, chunk_size, signed, trailer):
    """Length of _frame()'s output for `total` bytes cut in chunk_size
    pieces (Content-Length of an aws-chunked body, known before any
    signature is computed)."""
    sizes = [chunk_size] * (total // chunk_size)
    if total % chunk_size:
        sizes.append(total % chunk_size)
    sig = len(";chunk-signature=") + 64 if signed else 0
    n = sum(len("%x" % s) + sig + 2 + s + 2 for s in sizes)
    n += 1 + sig + 2 + (0 if trailer else 2)
    if trailer:
        b64 = 4 * ((_DIGEST_SIZE[trailer] + 2) // 3)
        n += len("x-amz-checksum-%s:" % trailer) + b64 + 2
        if signed:
            n += len("x-amz-trailer-signature:") + 64 + 2
        n += 2
    return n


def chunked_stream(method, url, ak, sk, region, chunks, total,
                   chunk_size=65536, signed=True, trailer=None, now=None,
                   headers=None):
    """Streaming form of chunked_upload() for bodies too large to build in
    memory (benchmarks): `chunks` yields the payload in chunk_size pieces
    (the last may be shorter), `total` bytes in all. Same framing, chunk
    signatures, trailer and trailer signature as chunked_upload().
    Returns (headers, generator of body pieces)."""
    hdrs, ph = _chunked_headers(headers, total, signed, trailer)
    hdrs["Content-Length"] = str(_framed_length(total, chunk_size, signed,
                                                trailer))
    h = sign_headers(method, url, ak, sk, region, headers=hdrs,
                     payload_hash=ph, now=now)
    key, scope, amz_date = h["_signing_key"], h["_scope"], h["_amz_date"]

    def body():
        prev = h["_seed_signature"]
        ck = _Checksum(trailer) if trailer else None
        for c in itertools.chain(chunks, [b""]):
            head = "%x" % len(c)
            if signed:
                prev = _chunk_sig(key, amz_date, scope, prev, c)
                head += ";chunk-signature=" + prev
            if ck is not None:
                ck.update(c)
            tail = b"\r\n" if len(c) or not trailer else b""
            yield head.encode() + b"\r\n" + c + tail
        if not trailer:
            return
        tline = "x-amz-checksum-%s:%s\n" % (trailer, ck.value())
        out = tline.replace("\n", "\r\n")
        if signed:
            sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope,
                             prev, hashlib.sha256(tline.encode())
                             .hexdigest()])
            out += "x-amz-trailer-signature:%s\r\n" % hmac.new(
                key, sts.encode(), hashlib.sha256).hexdigest()
        yield (out + "\r\n").encode()

    return wire_headers(h), body()


/*
 * Copyright (C) objspace authors
 *
 * AWS Signature Version 4 for S3: pure canonicalisation, signing and
 * verification.  No request I/O, no nginx pools: callers pass buffers in,
 * so this file is unit-testable and fuzzable on its own.  Only nginx types
 * and macros are used (ngx_str_t, ngx_int_t, u_char), no nginx functions.
 *
 * Spec: "Authenticating Requests (AWS Signature Version 4)", S3 API
 * reference: canonical request, string to sign, signing key, presigned
 * query auth, and "Signature Calculations for the Authorization Header:
 * Transferring Payload in Multiple Chunks" (chunked upload).
 */


#ifndef _NGX_HTTP_OBJSPACE_SIGV4_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_SIGV4_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_OBJSPACE_SHA256_LEN        32
#define NGX_HTTP_OBJSPACE_SHA256_HEX_LEN    64
#define NGX_HTTP_OBJSPACE_AMZ_DATE_LEN      16   /* 20130524T000000Z */
#define NGX_HTTP_OBJSPACE_MAX_SIGNED        64   /* signed headers */
#define NGX_HTTP_OBJSPACE_MAX_ARGS          128  /* query parameters */

/* RFC 3986 "unreserved" bytes (ALPHA DIGIT - . _ ~), a 256-bit map */
extern const uint32_t  ngx_http_objspace_unreserved[];

#define ngx_http_objspace_is_unreserved(c)                                   \
    (ngx_http_objspace_unreserved[(c) >> 5] & (1U << ((c) & 0x1f)))

#define NGX_HTTP_OBJSPACE_EMPTY_SHA256                                        \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


/* why a parse failed; the module maps these to S3 error codes */
typedef enum {
    NGX_HTTP_OBJSPACE_SIGV4_OK = 0,
    NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,       /* bad syntax, missing parts */
    NGX_HTTP_OBJSPACE_SIGV4_ALGORITHM,       /* not AWS4-HMAC-SHA256 */
    NGX_HTTP_OBJSPACE_SIGV4_SCOPE,           /* bad scope / terminator */
    NGX_HTTP_OBJSPACE_SIGV4_SERVICE,         /* service is not "s3" */
    NGX_HTTP_OBJSPACE_SIGV4_DATE,            /* bad X-Amz-Date, or scope
                                                date != X-Amz-Date day */
    NGX_HTTP_OBJSPACE_SIGV4_EXPIRES,         /* X-Amz-Expires not 1..604800 */
    NGX_HTTP_OBJSPACE_SIGV4_HOST_UNSIGNED,   /* "host" not in SignedHeaders */
    NGX_HTTP_OBJSPACE_SIGV4_HEADER_UNSIGNED, /* an x-amz-* header unsigned */
    NGX_HTTP_OBJSPACE_SIGV4_HEADER_MISSING,  /* a signed header is absent */
    NGX_HTTP_OBJSPACE_SIGV4_TOO_MANY         /* over MAX_SIGNED / MAX_ARGS */
} ngx_http_objspace_sigv4_err_e;


/* a request header: name lowercased by the caller, value as received */
typedef struct {
    ngx_str_t                   key;
    ngx_str_t                   value;
} ngx_http_objspace_kv_t;


/*
 * The parsed credential of a request (header or presigned).  Every ngx_str_t
 * points into the caller's input (Authorization value or query string,
 * percent-decoded copies go into "buf").
 */
typedef struct {
    ngx_str_t                   access_key;
    ngx_str_t                   scope;          /* DATE/REGION/SERVICE/
                                                   aws4_request */
    ngx_str_t                   scope_date;     /* YYYYMMDD */
    ngx_str_t                   region;
    ngx_str_t                   service;
    ngx_str_t                   signed_headers; /* "host;x-amz-date" */
    ngx_str_t                   amz_date;       /* YYYYMMDDTHHMMSSZ */
    time_t                      amz_time;       /* amz_date as UTC seconds */
    time_t                      expires;        /* presigned: X-Amz-Expires */
    u_char                      signature[NGX_HTTP_OBJSPACE_SHA256_LEN];
    unsigned                    presigned:1;

    /* room for percent-decoded credential/signed headers (presigned) */
    u_char                      buf[512];
} ngx_http_objspace_sigv4_auth_t;


/* what is hashed into the canonical request */
typedef struct {
    ngx_str_t                   method;
    ngx_str_t                   canonical_uri;  /* already canonical */
    ngx_str_t                   query;          /* raw, without '?' */
    ngx_http_objspace_kv_t     *headers;        /* all headers, any order */
    ngx_uint_t                  nheaders;
    ngx_str_t                   signed_headers; /* "a;b;c", sorted, lowercase */
    ngx_str_t                   payload_hash;   /* last line, literally */
    unsigned                    skip_signature_arg:1; /* presigned */
} ngx_http_objspace_sigv4_creq_t;


/*
 * Parses an "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=..." value.  amz_date is the request's X-Amz-Date (or Date
 * in ISO8601 basic form).  Returns an ngx_http_objspace_sigv4_err_e.
 */
ngx_int_t ngx_http_objspace_sigv4_parse_header(ngx_str_t *value,
    ngx_str_t *amz_date, ngx_http_objspace_sigv4_auth_t *auth);

/*
 * Parses presigned query parameters (X-Amz-Algorithm, X-Amz-Credential,
 * X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature) out of a
 * raw query string.  Returns NGX_DECLINED when the query carries no
 * X-Amz-Signature / X-Amz-Credential at all (not a presigned request),
 * otherwise an ngx_http_objspace_sigv4_err_e.
 */
ngx_int_t ngx_http_objspace_sigv4_parse_query(ngx_str_t *query,
    ngx_http_objspace_sigv4_auth_t *auth);

/*
 * Checks that every header named in auth->signed_headers is present, that
 * "host" is signed and that every present x-amz-* header is signed.
 */
ngx_int_t ngx_http_objspace_sigv4_check_headers(
    ngx_http_objspace_sigv4_auth_t *auth, ngx_http_objspace_kv_t *headers,
    ngx_uint_t nheaders);

/*
 * kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
 * "aws4_request").  Wipes its intermediates.
 */
void ngx_http_objspace_sigv4_signing_key(const u_char *secret, size_t len,
    ngx_str_t *date, ngx_str_t *region, ngx_str_t *service,
    u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN]);

/*
 * Canonical request hash (hex digest is what goes into the string to sign).
 * Query: split on '&', each name/value percent-decoded then UriEncode'd
 * (RFC 3986 unreserved kept), sorted by name then value; with
 * skip_signature_arg, X-Amz-Signature is left out.  Headers: the signed
 * ones, values trimmed, inner runs of spaces folded, repeated names joined
 * with ','.  Returns NGX_ERROR on TOO_MANY or a missing signed header.
 */
ngx_int_t ngx_http_objspace_sigv4_creq_hash(
    ngx_http_objspace_sigv4_creq_t *creq,
    u_char hash[NGX_HTTP_OBJSPACE_SHA256_LEN]);

/*
 * signature = HMAC(key, "AWS4-HMAC-SHA256\n" amz_date "\n" scope "\n"
 * hex(creq_hash))
 */
void ngx_http_objspace_sigv4_sign(
    const u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN], ngx_str_t *amz_date,
    ngx_str_t *scope, const u_char creq_hash[NGX_HTTP_OBJSPACE_SHA256_LEN],
    u_char sig[NGX_HTTP_OBJSPACE_SHA256_LEN]);

/*
 * Chunk signature (STREAMING-AWS4-HMAC-SHA256-PAYLOAD):
 * HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD\n" amz_date "\n" scope "\n" hex(prev)
 * "\n" hex(sha256("")) "\n" hex(chunk_hash))
 */
void ngx_http_objspace_sigv4_chunk_sign(
    const u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN], ngx_str_t *amz_date,
    ngx_str_t *scope, const u_char prev[NGX_HTTP_OBJSPACE_SHA256_LEN],
    const u_char chunk_hash[NGX_HTTP_OBJSPACE_SHA256_LEN],
    u_char sig[NGX_HTTP_OBJSPACE_SHA256_LEN]);

/*
 * Trailer signature (..._PAYLOAD-TRAILER):
 * HMAC(key, "AWS4-HMAC-SHA256-TRAILER\n" amz_date "\n" scope "\n" hex(prev)
 * "\n" hex(sha256(trailer lines, each "name:value\n")))
 */
void ngx_http_objspace_sigv4_trailer_sign(
    const u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN], ngx_str_t *amz_date,
    ngx_str_t *scope, const u_char prev[NGX_HTTP_OBJSPACE_SHA256_LEN],
    const u_char trailer_hash[NGX_HTTP_OBJSPACE_SHA256_LEN],
    u_char sig[NGX_HTTP_OBJSPACE_SHA256_LEN]);

/*
 * constant-time equality of two 32-byte signatures (CRYPTO_memcmp):
 * 1 if equal, 0 if not
 */
ngx_int_t ngx_http_objspace_sigv4_equal(const u_char *a, const u_char *b);

/*
 * UriEncode from the SigV4 spec: every byte except A-Z a-z 0-9 - _ . ~ is
 * %XX (upper hex); '/' is kept when keep_slash.  dst must hold 3 * len.
 * Returns the end of what was written.
 */
u_char *ngx_http_objspace_sigv4_uri_encode(u_char *dst, const u_char *src,
    size_t len, ngx_uint_t keep_slash);

/* lowercase hex of 32 bytes into dst[64] */
u_char *ngx_http_objspace_sigv4_hex(u_char *dst, const u_char *src, size_t len);

/*
 * decodes 2 * n hex digits (either case) into dst[n]; NGX_ERROR on an odd
 * length or a non-hex digit.  (Added by helper A for the chunked decoder.)
 */
/*
 * SHA-256 of data with the low-level API: OpenSSL 3's one-shot SHA256()
 * fetches the digest (EVP_Q_digest: allocations, a name lookup) per call.
 */
void ngx_http_objspace_sigv4_sha256(const u_char *data, size_t len,
    u_char md[NGX_HTTP_OBJSPACE_SHA256_LEN]);

ngx_int_t ngx_http_objspace_sigv4_unhex(u_char *dst, const u_char *src,
    size_t len);

/* parses 20130524T000000Z; returns (time_t) -1 on error */
time_t ngx_http_objspace_sigv4_parse_amz_date(u_char *p, size_t len);


#endif /* _NGX_HTTP_OBJSPACE_SIGV4_H_INCLUDED_ */

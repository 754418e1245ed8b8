
/*
 * Copyright (C) objspace authors
 *
 * AWS Signature Version 4 for S3: parsing of the credential (header and
 * presigned query forms), canonical request hashing, signing, chunk and
 * trailer signatures.  Pure code: nginx types and macros only, OpenSSL for
 * the crypto, no allocation.
 *
 * Performance: a verification with a cached signing key is one canonical
 * request hash (hashed incrementally through a small staging buffer, never
 * materialised) plus one HMAC over the string to sign.  HMAC is built on
 * SHA256_CTX directly so no EVP object is fetched per call.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/sha.h>
#include <openssl/crypto.h>

#include "ngx_http_objspace_sigv4.h"


#define NGX_HTTP_OBJSPACE_SIGV4_ALGO        "AWS4-HMAC-SHA256"
#define NGX_HTTP_OBJSPACE_SIGV4_TERM        "aws4_request"
#define NGX_HTTP_OBJSPACE_SIGV4_MAX_EXPIRES 604800

#define NGX_HTTP_OBJSPACE_HMAC_BLOCK        64

/*
 * Wipes key material: glibc's explicit_bzero (memset the compiler may not
 * drop); OPENSSL_cleanse's byte loop cost ~2 instructions a byte here.
 * Not ngx_explicit_memzero: the unit tests and fuzz targets link this file
 * without nginx's core.
 */
#define ngx_http_objspace_wipe(p, n)        explicit_bzero(p, n)


typedef struct {
    SHA256_CTX                  inner;
    SHA256_CTX                  outer;
} ngx_http_objspace_hmac_t;


/* canonical request writer: a staging buffer in front of SHA256_Update */
typedef struct {
    SHA256_CTX                  sha;
    size_t                      len;
    u_char                      buf[512];
} ngx_http_objspace_hw_t;


/* one query parameter, raw (still percent-encoded) */
typedef struct {
    u_char                     *name;
    size_t                      name_len;
    u_char                     *value;
    size_t                      value_len;
} ngx_http_objspace_qarg_t;


static void ngx_http_objspace_hmac_init(ngx_http_objspace_hmac_t *h,
    const u_char *key, size_t len);
static void ngx_http_objspace_hmac_update(ngx_http_objspace_hmac_t *h,
    const void *data, size_t len);
static void ngx_http_objspace_hmac_final(ngx_http_objspace_hmac_t *h,
    u_char out[NGX_HTTP_OBJSPACE_SHA256_LEN]);
static void ngx_http_objspace_hmac_str(const u_char *key, size_t klen,
    ngx_str_t *msg, u_char out[NGX_HTTP_OBJSPACE_SHA256_LEN]);

static void ngx_http_objspace_hw_put(ngx_http_objspace_hw_t *hw,
    const u_char *p, size_t n);
static void ngx_http_objspace_hw_byte(ngx_http_objspace_hw_t *hw, u_char c);
static void ngx_http_objspace_hw_qarg(ngx_http_objspace_hw_t *hw,
    const u_char *p, size_t n);
static void ngx_http_objspace_hw_value(ngx_http_objspace_hw_t *hw,
    const u_char *p, size_t n);
static void ngx_http_objspace_hw_final(ngx_http_objspace_hw_t *hw,
    u_char hash[NGX_HTTP_OBJSPACE_SHA256_LEN]);

static ngx_int_t ngx_http_objspace_qdecode_next(const u_char **p,
    const u_char *end);
static int ngx_http_objspace_qcmp(const u_char *a, size_t alen,
    const u_char *b, size_t blen);
static int ngx_http_objspace_qarg_cmp(const void *one, const void *two);
static ngx_int_t ngx_http_objspace_qarg_is(ngx_http_objspace_qarg_t *arg,
    const char *name);
static size_t ngx_http_objspace_qdecode(u_char *dst, size_t size,
    const u_char *src, size_t len);
static ngx_int_t ngx_http_objspace_split_query(ngx_str_t *query,
    ngx_http_objspace_qarg_t *args, ngx_uint_t max);

static ngx_int_t ngx_http_objspace_sigv4_credential(u_char *p, size_t len,
    ngx_http_objspace_sigv4_auth_t *auth);
static ngx_int_t ngx_http_objspace_sigv4_signed_list(ngx_str_t *sh,
    ngx_str_t *names, ngx_uint_t max);
static ngx_int_t ngx_http_objspace_sigv4_check_date(
    ngx_http_objspace_sigv4_auth_t *auth);
static void ngx_http_objspace_sigv4_hmac_sts(
    const u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN], const char *algo,
    size_t algo_len, ngx_str_t *amz_date, ngx_str_t *scope,
    const u_char *h1, const u_char *h2, const u_char *h3,
    u_char sig[NGX_HTTP_OBJSPACE_SHA256_LEN]);
static ngx_int_t ngx_http_objspace_is_ws(u_char c);
static ngx_inline ngx_int_t ngx_http_objspace_hexval(u_char c);


static const u_char  ngx_http_objspace_hex_uc[] = "0123456789ABCDEF";

/* lowercase hex of every byte value: two characters at 2 * byte */
static const u_char  ngx_http_objspace_hex_pairs[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

/* hex digit value + 1; 0: not a hex digit */
static const u_char  ngx_http_objspace_hex_value[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
    ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16
};


/*
 * Bytes a SignedHeaders name may hold: visible ASCII except uppercase
 * (names are lowercase), ':' and ';' (the separator).
 */
static const uint32_t  ngx_http_objspace_sh_name[] = {
    0x00000000,  /* 0x00-0x1f */
    0xf3fffffe,  /* 0x20-0x3f: not ' ', ':', ';' */
    0xf8000001,  /* 0x40-0x5f: not A-Z */
    0x7fffffff,  /* 0x60-0x7f: not DEL */
    0, 0, 0, 0
};


/*
 * RFC 3986 "unreserved" (ALPHA DIGIT - . _ ~): the only bytes SigV4's
 * UriEncode leaves as they are.
 */
const uint32_t  ngx_http_objspace_unreserved[] = {
    0x00000000,  /* 0x00-0x1f */
    0x03ff6000,  /* 0x20-0x3f: - . 0-9 */
    0x87fffffe,  /* 0x40-0x5f: A-Z _ */
    0x47fffffe,  /* 0x60-0x7f: a-z ~ */
    0, 0, 0, 0
};


/*
 * RFC 2104 HMAC-SHA256 on SHA256_CTX: key longer than the block is hashed
 * first, then zero padded; inner = H(K ^ ipad || m), outer = H(K ^ opad ||
 * inner).  Wipes the padded key.
 */

static void
ngx_http_objspace_hmac_init(ngx_http_objspace_hmac_t *h, const u_char *key,
    size_t len)
{
    size_t  i;
    u_char  block[NGX_HTTP_OBJSPACE_HMAC_BLOCK];

    ngx_memzero(block, sizeof(block));

    if (len > NGX_HTTP_OBJSPACE_HMAC_BLOCK) {
        SHA256(key, len, block);

    } else {
        ngx_memcpy(block, key, len);
    }

    for (i = 0; i < sizeof(block); i++) {
        block[i] ^= 0x36;
    }

    SHA256_Init(&h->inner);
    SHA256_Update(&h->inner, block, sizeof(block));

    for (i = 0; i < sizeof(block); i++) {
        block[i] ^= 0x36 ^ 0x5c;
    }

    SHA256_Init(&h->outer);
    SHA256_Update(&h->outer, block, sizeof(block));

    ngx_http_objspace_wipe(block, sizeof(block));
}


static void
ngx_http_objspace_hmac_update(ngx_http_objspace_hmac_t *h, const void *data,
    size_t len)
{
    SHA256_Update(&h->inner, data, len);
}


static void
ngx_http_objspace_hmac_final(ngx_http_objspace_hmac_t *h,
    u_char out[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    u_char  ih[NGX_HTTP_OBJSPACE_SHA256_LEN];

    SHA256_Final(ih, &h->inner);
    SHA256_Update(&h->outer, ih, sizeof(ih));
    SHA256_Final(out, &h->outer);

    ngx_http_objspace_wipe(ih, sizeof(ih));
    ngx_http_objspace_wipe(h, sizeof(ngx_http_objspace_hmac_t));
}


static void
ngx_http_objspace_hmac_str(const u_char *key, size_t klen, ngx_str_t *msg,
    u_char out[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    ngx_http_objspace_hmac_t  h;

    ngx_http_objspace_hmac_init(&h, key, klen);
    ngx_http_objspace_hmac_update(&h, msg->data, msg->len);
    ngx_http_objspace_hmac_final(&h, out);
}


static void
ngx_http_objspace_hw_put(ngx_http_objspace_hw_t *hw, const u_char *p,
    size_t n)
{
    if (n > sizeof(hw->buf) - hw->len) {
        SHA256_Update(&hw->sha, hw->buf, hw->len);
        hw->len = 0;

        if (n >= sizeof(hw->buf)) {
            SHA256_Update(&hw->sha, p, n);
            return;
        }
    }

    ngx_memcpy(hw->buf + hw->len, p, n);
    hw->len += n;
}


static void
ngx_http_objspace_hw_byte(ngx_http_objspace_hw_t *hw, u_char c)
{
    if (hw->len == sizeof(hw->buf)) {
        SHA256_Update(&hw->sha, hw->buf, hw->len);
        hw->len = 0;
    }

    hw->buf[hw->len++] = c;
}


/*
 * Canonical query component: the raw name or value is percent-decoded
 * ('+' is a space, an invalid escape is a literal '%'), then UriEncode'd
 * with '/' encoded too, as the SigV4 canonical query string requires.
 */

static void
ngx_http_objspace_hw_qarg(ngx_http_objspace_hw_t *hw, const u_char *p,
    size_t n)
{
    u_char        *d;
    ngx_int_t      c;
    const u_char  *end;

    end = p + n;

    while (p < end) {
        c = ngx_http_objspace_qdecode_next(&p, end);

        if (hw->len + 3 > sizeof(hw->buf)) {
            SHA256_Update(&hw->sha, hw->buf, hw->len);
            hw->len = 0;
        }

        d = hw->buf + hw->len;

        if (ngx_http_objspace_is_unreserved(c)) {
            *d = (u_char) c;
            hw->len++;

        } else {
            d[0] = '%';
            d[1] = ngx_http_objspace_hex_uc[c >> 4];
            d[2] = ngx_http_objspace_hex_uc[c & 0xf];
            hw->len += 3;
        }
    }
}


/*
 * Canonical header value (SigV4 "Trimall"): leading and trailing blanks
 * dropped, every inner run of blanks folded into one space.
 */

static void
ngx_http_objspace_hw_value(ngx_http_objspace_hw_t *hw, const u_char *p,
    size_t n)
{
    const u_char  *end, *start;

    end = p + n;

    while (p < end && ngx_http_objspace_is_ws(*p)) {
        p++;
    }

    while (end > p && ngx_http_objspace_is_ws(end[-1])) {
        end--;
    }

    while (p < end) {
        start = p;

        while (p < end && !ngx_http_objspace_is_ws(*p)) {
            p++;
        }

        ngx_http_objspace_hw_put(hw, start, p - start);

        if (p == end) {
            break;
        }

        ngx_http_objspace_hw_byte(hw, ' ');

        while (p < end && ngx_http_objspace_is_ws(*p)) {
            p++;
        }
    }
}


static void
ngx_http_objspace_hw_final(ngx_http_objspace_hw_t *hw,
    u_char hash[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    SHA256_Update(&hw->sha, hw->buf, hw->len);
    SHA256_Final(hash, &hw->sha);
}


static ngx_int_t
ngx_http_objspace_is_ws(u_char c)
{
    return c == ' ' || c == '\t';
}


static ngx_inline ngx_int_t
ngx_http_objspace_hexval(u_char c)
{
    return (ngx_int_t) ngx_http_objspace_hex_value[c] - 1;
}


/* next percent-decoded byte of a raw query component; *p < end */

static ngx_int_t
ngx_http_objspace_qdecode_next(const u_char **p, const u_char *end)
{
    ngx_int_t      hi, lo;
    const u_char  *s;

    s = *p;

    if (*s == '+') {
        *p = s + 1;
        return ' ';
    }

    if (*s == '%' && end - s >= 3) {
        hi = ngx_http_objspace_hexval(s[1]);
        lo = ngx_http_objspace_hexval(s[2]);

        if (hi >= 0 && lo >= 0) {
            *p = s + 3;
            return (hi << 4) | lo;
        }
    }

    *p = s + 1;
    return *s;
}


/*
 * Orders two raw components as their canonical (decoded, then UriEncode'd)
 * forms compare byte-wise, without building them: an encoded byte starts
 * with '%' (0x25), which sorts below every unreserved byte, and "%XX" with
 * upper hex sorts like the byte value; so reserved bytes weigh c,
 * unreserved ones 256 + c.
 */

static int
ngx_http_objspace_qcmp(const u_char *a, size_t alen, const u_char *b,
    size_t blen)
{
    ngx_int_t      ca, cb;
    const u_char  *aend, *bend;

    aend = a + alen;
    bend = b + blen;

    for ( ;; ) {
        if (a == aend || b == bend) {
            return (b == bend) - (a == aend);
        }

        ca = ngx_http_objspace_qdecode_next(&a, aend);
        cb = ngx_http_objspace_qdecode_next(&b, bend);

        if (ngx_http_objspace_is_unreserved(ca)) {
            ca += 256;
        }

        if (ngx_http_objspace_is_unreserved(cb)) {
            cb += 256;
        }

        if (ca != cb) {
            return ca < cb ? -1 : 1;
        }
    }
}


static int
ngx_http_objspace_qarg_cmp(const void *one, const void *two)
{
    int                              rc;
    const ngx_http_objspace_qarg_t  *a, *b;

    a = one;
    b = two;

    rc = ngx_http_objspace_qcmp(a->name, a->name_len, b->name, b->name_len);

    if (rc != 0) {
        return rc;
    }

    return ngx_http_objspace_qcmp(a->value, a->value_len, b->value,
                                  b->value_len);
}


/* the decoded name of arg equals name */

static ngx_int_t
ngx_http_objspace_qarg_is(ngx_http_objspace_qarg_t *arg, const char *name)
{
    const u_char  *p, *end, *n;

    p = arg->name;
    end = p + arg->name_len;
    n = (const u_char *) name;

    while (p < end) {
        if (*n == '\0' || ngx_http_objspace_qdecode_next(&p, end) != *n) {
            return 0;
        }

        n++;
    }

    return *n == '\0';
}


/* percent-decodes into dst; returns the length or (size_t) -1 if too long */

static size_t
ngx_http_objspace_qdecode(u_char *dst, size_t size, const u_char *src,
    size_t len)
{
    size_t         n;
    const u_char  *end;

    end = src + len;
    n = 0;

    while (src < end) {
        if (n == size) {
            return (size_t) -1;
        }

        dst[n++] = (u_char) ngx_http_objspace_qdecode_next(&src, end);
    }

    return n;
}


/*
 * Splits a raw query on '&' into args (empty segments skipped, a segment
 * without '=' has an empty value).  Returns the count, or NGX_ERROR when
 * there are more than max.
 */

static ngx_int_t
ngx_http_objspace_split_query(ngx_str_t *query, ngx_http_objspace_qarg_t *args,
    ngx_uint_t max)
{
    u_char      *p, *end, *seg, *eq;
    ngx_uint_t   n;

    if (query->len == 0) {
        return 0;           /* the data of an absent query may be NULL */
    }

    p = query->data;
    end = p + query->len;
    n = 0;

    while (p < end) {
        seg = p;

        while (p < end && *p != '&') {
            p++;
        }

        if (p > seg) {
            if (n == max) {
                return NGX_ERROR;
            }

            eq = memchr(seg, '=', p - seg);

            args[n].name = seg;

            if (eq) {
                args[n].name_len = eq - seg;
                args[n].value = eq + 1;
                args[n].value_len = p - eq - 1;

            } else {
                args[n].name_len = p - seg;
                args[n].value = p;
                args[n].value_len = 0;
            }

            n++;
        }

        p++;
    }

    return n;
}


/*
 * Credential "AKID/YYYYMMDD/region/service/aws4_request" (SigV4 credential
 * scope).  The access key is everything before the first '/'; the scope is
 * the rest and must have exactly four non-empty parts.
 */

static ngx_int_t
ngx_http_objspace_sigv4_credential(u_char *p, size_t len,
    ngx_http_objspace_sigv4_auth_t *auth)
{
    u_char      *end, *part[4], *slash;
    size_t       plen[4];
    ngx_uint_t   i;

    end = p + len;

    slash = memchr(p, '/', len);

    if (slash == NULL || slash == p) {
        return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
    }

    auth->access_key.data = p;
    auth->access_key.len = slash - p;

    p = slash + 1;
    auth->scope.data = p;
    auth->scope.len = end - p;

    for (i = 0; i < 4; i++) {
        part[i] = p;

        while (p < end && *p != '/') {
            p++;
        }

        plen[i] = p - part[i];

        if (plen[i] == 0) {
            return NGX_HTTP_OBJSPACE_SIGV4_SCOPE;
        }

        if (i < 3) {
            if (p == end) {
                return NGX_HTTP_OBJSPACE_SIGV4_SCOPE;
            }

            p++;

        } else if (p != end) {
            return NGX_HTTP_OBJSPACE_SIGV4_SCOPE;
        }
    }

    if (plen[3] != sizeof(NGX_HTTP_OBJSPACE_SIGV4_TERM) - 1
        || ngx_memcmp(part[3], NGX_HTTP_OBJSPACE_SIGV4_TERM, plen[3]) != 0)
    {
        return NGX_HTTP_OBJSPACE_SIGV4_SCOPE;
    }

    if (plen[0] != 8) {
        return NGX_HTTP_OBJSPACE_SIGV4_SCOPE;
    }

    for (i = 0; i < 8; i++) {
        if (part[0][i] < '0' || part[0][i] > '9') {
            return NGX_HTTP_OBJSPACE_SIGV4_SCOPE;
        }
    }

    auth->scope_date.data = part[0];
    auth->scope_date.len = plen[0];
    auth->region.data = part[1];
    auth->region.len = plen[1];
    auth->service.data = part[2];
    auth->service.len = plen[2];

    if (plen[2] != 2 || part[2][0] != 's' || part[2][1] != '3') {
        return NGX_HTTP_OBJSPACE_SIGV4_SERVICE;
    }

    return NGX_HTTP_OBJSPACE_SIGV4_OK;
}


/*
 * SignedHeaders: non-empty lowercase names joined by ';', in strictly
 * ascending byte order (the SigV4 canonical headers order, which also
 * rules out duplicates).  Fills names[]; returns the count or a negative
 * ngx_http_objspace_sigv4_err_e.
 */

static ngx_int_t
ngx_http_objspace_sigv4_signed_list(ngx_str_t *sh, ngx_str_t *names,
    ngx_uint_t max)
{
    int          rc;
    size_t       len;
    u_char      *p, *end, *start, c;
    ngx_uint_t   n;

    p = sh->data;
    end = p + sh->len;
    n = 0;

    if (sh->len == 0) {
        return -NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
    }

    for ( ;; ) {
        start = p;

        while (p < end) {
            c = *p;

            if (!(ngx_http_objspace_sh_name[c >> 5] & (1U << (c & 0x1f)))) {
                break;
            }

            p++;
        }

        if (p == start || (p < end && *p != ';')) {
            return -NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
        }

        if (n == max) {
            return -NGX_HTTP_OBJSPACE_SIGV4_TOO_MANY;
        }

        names[n].data = start;
        names[n].len = p - start;

        if (n > 0) {
            len = ngx_min(names[n - 1].len, names[n].len);
            rc = ngx_memcmp(names[n - 1].data, names[n].data, len);

            if (rc > 0 || (rc == 0 && names[n - 1].len >= names[n].len)) {
                return -NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
            }
        }

        n++;

        if (p == end) {
            return n;
        }

        p++;
    }
}


/* X-Amz-Date is well formed and on the scope's day */

static ngx_int_t
ngx_http_objspace_sigv4_check_date(ngx_http_objspace_sigv4_auth_t *auth)
{
    if (auth->amz_date.len != NGX_HTTP_OBJSPACE_AMZ_DATE_LEN) {
        return NGX_HTTP_OBJSPACE_SIGV4_DATE;
    }

    auth->amz_time = ngx_http_objspace_sigv4_parse_amz_date(
                                     auth->amz_date.data, auth->amz_date.len);

    if (auth->amz_time == (time_t) -1) {
        return NGX_HTTP_OBJSPACE_SIGV4_DATE;
    }

    if (ngx_memcmp(auth->amz_date.data, auth->scope_date.data, 8) != 0) {
        return NGX_HTTP_OBJSPACE_SIGV4_DATE;
    }

    return NGX_HTTP_OBJSPACE_SIGV4_OK;
}


/*
 * Authorization header (SigV4 "Using an Authorization Header"):
 * "AWS4-HMAC-SHA256" SP Credential=..., SignedHeaders=..., Signature=<64
 * hex>; components in any order, each exactly once, separated by ',' with
 * optional blanks.  Unknown components are refused.
 */

ngx_int_t
ngx_http_objspace_sigv4_parse_header(ngx_str_t *value, ngx_str_t *amz_date,
    ngx_http_objspace_sigv4_auth_t *auth)
{
    u_char      *p, *end, *k, *v, *cred, *sig;
    size_t       klen, vlen, cred_len, sig_len;
    ngx_int_t    rc;
    ngx_str_t    names[NGX_HTTP_OBJSPACE_MAX_SIGNED];
    ngx_uint_t   have_sh;

    ngx_memzero(auth, offsetof(ngx_http_objspace_sigv4_auth_t, buf));

    p = value->data;
    end = p + value->len;

    klen = sizeof(NGX_HTTP_OBJSPACE_SIGV4_ALGO) - 1;

    if (value->len <= klen
        || ngx_memcmp(p, NGX_HTTP_OBJSPACE_SIGV4_ALGO, klen) != 0
        || !ngx_http_objspace_is_ws(p[klen]))
    {
        k = memchr(p, ' ', value->len);
        return (k == NULL || k == p) ? NGX_HTTP_OBJSPACE_SIGV4_MALFORMED
                                     : NGX_HTTP_OBJSPACE_SIGV4_ALGORITHM;
    }

    p += klen;

    cred = NULL;
    sig = NULL;
    cred_len = 0;
    sig_len = 0;
    have_sh = 0;

    for ( ;; ) {
        while (p < end && ngx_http_objspace_is_ws(*p)) {
            p++;
        }

        k = p;

        while (p < end && *p != '=' && *p != ',') {
            p++;
        }

        if (p == end || *p != '=') {
            return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
        }

        klen = p - k;
        v = ++p;

        while (p < end && *p != ',' && !ngx_http_objspace_is_ws(*p)) {
            p++;
        }

        vlen = p - v;

        if (klen == 10 && ngx_memcmp(k, "Credential", 10) == 0) {
            if (cred) {
                return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
            }

            cred = v;
            cred_len = vlen;

        } else if (klen == 13 && ngx_memcmp(k, "SignedHeaders", 13) == 0) {
            if (have_sh) {
                return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
            }

            have_sh = 1;
            auth->signed_headers.data = v;
            auth->signed_headers.len = vlen;

        } else if (klen == 9 && ngx_memcmp(k, "Signature", 9) == 0) {
            if (sig) {
                return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
            }

            sig = v;
            sig_len = vlen;

        } else {
            return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
        }

        while (p < end && ngx_http_objspace_is_ws(*p)) {
            p++;
        }

        if (p == end) {
            break;
        }

        if (*p != ',') {
            return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
        }

        p++;
    }

    if (cred == NULL || sig == NULL || !have_sh) {
        return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
    }

    if (sig_len != NGX_HTTP_OBJSPACE_SHA256_HEX_LEN
        || ngx_http_objspace_sigv4_unhex(auth->signature, sig, sig_len)
           != NGX_OK)
    {
        return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
    }

    rc = ngx_http_objspace_sigv4_credential(cred, cred_len, auth);

    if (rc != NGX_HTTP_OBJSPACE_SIGV4_OK) {
        return rc;
    }

    rc = ngx_http_objspace_sigv4_signed_list(&auth->signed_headers, names,
                                             NGX_HTTP_OBJSPACE_MAX_SIGNED);
    if (rc < 0) {
        return -rc;
    }

    if (amz_date == NULL) {
        return NGX_HTTP_OBJSPACE_SIGV4_DATE;
    }

    auth->amz_date = *amz_date;

    return ngx_http_objspace_sigv4_check_date(auth);
}


/*
 * Presigned URL (SigV4 "Query Parameters"): X-Amz-Algorithm,
 * X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and
 * X-Amz-Signature, each exactly once; names compared after decoding.
 * Credential, SignedHeaders and Date are percent-decoded into auth->buf.
 */

ngx_int_t
ngx_http_objspace_sigv4_parse_query(ngx_str_t *query,
    ngx_http_objspace_sigv4_auth_t *auth)
{
    u_char                    *b, *bend, tmp[NGX_HTTP_OBJSPACE_SHA256_HEX_LEN];
    size_t                     n;
    time_t                     expires;
    ngx_int_t                  rc, nargs;
    ngx_str_t                  names[NGX_HTTP_OBJSPACE_MAX_SIGNED];
    ngx_uint_t                 i;
    ngx_http_objspace_qarg_t   args[NGX_HTTP_OBJSPACE_MAX_ARGS];
    ngx_http_objspace_qarg_t  *algo, *cred, *date, *exp, *sh, *sig, **slot;

    ngx_memzero(auth, offsetof(ngx_http_objspace_sigv4_auth_t, buf));

    nargs = ngx_http_objspace_split_query(query, args,
                                          NGX_HTTP_OBJSPACE_MAX_ARGS);

    algo = NULL;
    cred = NULL;
    date = NULL;
    exp = NULL;
    sh = NULL;
    sig = NULL;

    for (i = 0; nargs > 0 && i < (ngx_uint_t) nargs; i++) {

        if (args[i].name_len < 10 || (args[i].name[0] != 'X'
                                      && args[i].name[0] != '%'))
        {
            continue;
        }

        if (ngx_http_objspace_qarg_is(&args[i], "X-Amz-Algorithm")) {
            slot = &algo;

        } else if (ngx_http_objspace_qarg_is(&args[i], "X-Amz-Credential")) {
            slot = &cred;

        } else if (ngx_http_objspace_qarg_is(&args[i], "X-Amz-Date")) {
            slot = &date;

        } else if (ngx_http_objspace_qarg_is(&args[i], "X-Amz-Expires")) {
            slot = &exp;

        } else if (ngx_http_objspace_qarg_is(&args[i], "X-Amz-SignedHeaders"))
        {
            slot = &sh;

        } else if (ngx_http_objspace_qarg_is(&args[i], "X-Amz-Signature")) {
            slot = &sig;

        } else {
            continue;
        }

        if (*slot) {
            return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
        }

        *slot = &args[i];
    }

    if (cred == NULL && sig == NULL) {
        return nargs < 0 ? NGX_HTTP_OBJSPACE_SIGV4_TOO_MANY : NGX_DECLINED;
    }

    if (nargs < 0) {
        return NGX_HTTP_OBJSPACE_SIGV4_TOO_MANY;
    }

    auth->presigned = 1;

    if (algo == NULL || cred == NULL || date == NULL || exp == NULL
        || sh == NULL || sig == NULL)
    {
        return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
    }

    n = ngx_http_objspace_qdecode(tmp, sizeof(tmp), algo->value,
                                  algo->value_len);

    if (n != sizeof(NGX_HTTP_OBJSPACE_SIGV4_ALGO) - 1
        || ngx_memcmp(tmp, NGX_HTTP_OBJSPACE_SIGV4_ALGO, n) != 0)
    {
        return NGX_HTTP_OBJSPACE_SIGV4_ALGORITHM;
    }

    n = ngx_http_objspace_qdecode(tmp, sizeof(tmp), sig->value,
                                  sig->value_len);

    if (n != NGX_HTTP_OBJSPACE_SHA256_HEX_LEN
        || ngx_http_objspace_sigv4_unhex(auth->signature, tmp, n) != NGX_OK)
    {
        return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
    }

    b = auth->buf;
    bend = b + sizeof(auth->buf);

    n = ngx_http_objspace_qdecode(b, bend - b, cred->value, cred->value_len);

    if (n == (size_t) -1) {
        return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
    }

    rc = ngx_http_objspace_sigv4_credential(b, n, auth);

    if (rc != NGX_HTTP_OBJSPACE_SIGV4_OK) {
        return rc;
    }

    b += n;

    n = ngx_http_objspace_qdecode(b, bend - b, sh->value, sh->value_len);

    if (n == (size_t) -1) {
        return NGX_HTTP_OBJSPACE_SIGV4_MALFORMED;
    }

    auth->signed_headers.data = b;
    auth->signed_headers.len = n;
    b += n;

    rc = ngx_http_objspace_sigv4_signed_list(&auth->signed_headers, names,
                                             NGX_HTTP_OBJSPACE_MAX_SIGNED);
    if (rc < 0) {
        return -rc;
    }

    n = ngx_http_objspace_qdecode(b, bend - b, date->value, date->value_len);

    if (n == (size_t) -1) {
        return NGX_HTTP_OBJSPACE_SIGV4_DATE;
    }

    auth->amz_date.data = b;
    auth->amz_date.len = n;

    rc = ngx_http_objspace_sigv4_check_date(auth);

    if (rc != NGX_HTTP_OBJSPACE_SIGV4_OK) {
        return rc;
    }

    n = ngx_http_objspace_qdecode(tmp, sizeof(tmp), exp->value,
                                  exp->value_len);

    if (n == 0 || n > 7) {
        return NGX_HTTP_OBJSPACE_SIGV4_EXPIRES;
    }

    expires = 0;

    for (i = 0; i < n; i++) {
        if (tmp[i] < '0' || tmp[i] > '9') {
            return NGX_HTTP_OBJSPACE_SIGV4_EXPIRES;
        }

        expires = expires * 10 + (tmp[i] - '0');
    }

    if (expires < 1 || expires > NGX_HTTP_OBJSPACE_SIGV4_MAX_EXPIRES) {
        return NGX_HTTP_OBJSPACE_SIGV4_EXPIRES;
    }

    auth->expires = expires;

    return NGX_HTTP_OBJSPACE_SIGV4_OK;
}


/*
 * SigV4 signed-header rules as S3 enforces them: "host" must be signed,
 * every x-amz-* header present must be signed, and every signed header
 * must be present.  Header names are lowercase (the caller's contract).
 */

ngx_int_t
ngx_http_objspace_sigv4_check_headers(ngx_http_objspace_sigv4_auth_t *auth,
    ngx_http_objspace_kv_t *headers, ngx_uint_t nheaders)
{
    ngx_int_t   n;
    ngx_str_t   names[NGX_HTTP_OBJSPACE_MAX_SIGNED];
    ngx_uint_t  i, j, host;

    n = ngx_http_objspace_sigv4_signed_list(&auth->signed_headers, names,
                                            NGX_HTTP_OBJSPACE_MAX_SIGNED);
    if (n < 0) {
        return -n;
    }

    host = 0;

    for (i = 0; i < (ngx_uint_t) n; i++) {

        if (names[i].len == 4 && ngx_memcmp(names[i].data, "host", 4) == 0) {
            host = 1;
        }

        for (j = 0; j < nheaders; j++) {
            if (headers[j].key.len == names[i].len
                && ngx_memcmp(headers[j].key.data, names[i].data,
                              names[i].len) == 0)
            {
                break;
            }
        }

        if (j == nheaders) {
            return NGX_HTTP_OBJSPACE_SIGV4_HEADER_MISSING;
        }
    }

    if (!host) {
        return NGX_HTTP_OBJSPACE_SIGV4_HOST_UNSIGNED;
    }

    for (j = 0; j < nheaders; j++) {
        if (headers[j].key.len < 6
            || ngx_memcmp(headers[j].key.data, "x-amz-", 6) != 0)
        {
            continue;
        }

        for (i = 0; i < (ngx_uint_t) n; i++) {
            if (headers[j].key.len == names[i].len
                && ngx_memcmp(headers[j].key.data, names[i].data,
                              names[i].len) == 0)
            {
                break;
            }
        }

        if (i == (ngx_uint_t) n) {
            return NGX_HTTP_OBJSPACE_SIGV4_HEADER_UNSIGNED;
        }
    }

    return NGX_HTTP_OBJSPACE_SIGV4_OK;
}


/*
 * SigV4 "Calculate the signature", step 1: the signing key chain
 * DATE -> REGION -> SERVICE -> "aws4_request", keyed first with "AWS4" +
 * secret.  Intermediates are wiped.
 */

void
ngx_http_objspace_sigv4_signing_key(const u_char *secret, size_t len,
    ngx_str_t *date, ngx_str_t *region, ngx_str_t *service,
    u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    u_char                    k[NGX_HTTP_OBJSPACE_SHA256_LEN];
    u_char                    kk[NGX_HTTP_OBJSPACE_HMAC_BLOCK];
    ngx_str_t                 term;
    SHA256_CTX                sha;
    ngx_http_objspace_hmac_t  h;

    if (len + 4 <= sizeof(kk)) {
        ngx_memcpy(kk, "AWS4", 4);
        ngx_memcpy(kk + 4, secret, len);
        ngx_http_objspace_hmac_init(&h, kk, len + 4);

    } else {
        /* RFC 2104: an over-long key is hashed */
        SHA256_Init(&sha);
        SHA256_Update(&sha, "AWS4", 4);
        SHA256_Update(&sha, secret, len);
        SHA256_Final(kk, &sha);
        ngx_http_objspace_wipe(&sha, sizeof(sha));
        ngx_http_objspace_hmac_init(&h, kk, NGX_HTTP_OBJSPACE_SHA256_LEN);
    }

    ngx_http_objspace_hmac_update(&h, date->data, date->len);
    ngx_http_objspace_hmac_final(&h, k);

    ngx_http_objspace_hmac_str(k, sizeof(k), region, k);
    ngx_http_objspace_hmac_str(k, sizeof(k), service, k);

    ngx_str_set(&term, NGX_HTTP_OBJSPACE_SIGV4_TERM);
    ngx_http_objspace_hmac_str(k, sizeof(k), &term, key);

    ngx_http_objspace_wipe(k, sizeof(k));
    ngx_http_objspace_wipe(kk, sizeof(kk));
}


/*
 * SigV4 "Create a canonical request": METHOD \n URI \n QUERY \n
 * (name:trimall(values joined by ',') \n)* \n SIGNED \n PAYLOAD, hashed as
 * it is produced.  The query is split on '&', each part decoded then
 * UriEncode'd, sorted by name then value (see qcmp for the order).
 */

ngx_int_t
ngx_http_objspace_sigv4_creq_hash(ngx_http_objspace_sigv4_creq_t *creq,
    u_char hash[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    ngx_int_t                  n, nargs;
    ngx_str_t                  names[NGX_HTTP_OBJSPACE_MAX_SIGNED];
    ngx_uint_t                 i, j, first, amp;
    ngx_http_objspace_hw_t     hw;
    ngx_http_objspace_kv_t    *h;
    ngx_http_objspace_qarg_t   args[NGX_HTTP_OBJSPACE_MAX_ARGS];

    n = ngx_http_objspace_sigv4_signed_list(&creq->signed_headers, names,
                                            NGX_HTTP_OBJSPACE_MAX_SIGNED);
    if (n < 0) {
        return NGX_ERROR;
    }

    nargs = ngx_http_objspace_split_query(&creq->query, args,
                                          NGX_HTTP_OBJSPACE_MAX_ARGS);
    if (nargs < 0) {
        return NGX_ERROR;
    }

    if (nargs > 1) {
        qsort(args, nargs, sizeof(ngx_http_objspace_qarg_t),
              ngx_http_objspace_qarg_cmp);
    }

    SHA256_Init(&hw.sha);
    hw.len = 0;

    ngx_http_objspace_hw_put(&hw, creq->method.data, creq->method.len);
    ngx_http_objspace_hw_byte(&hw, '\n');
    ngx_http_objspace_hw_put(&hw, creq->canonical_uri.data,
                             creq->canonical_uri.len);
    ngx_http_objspace_hw_byte(&hw, '\n');

    amp = 0;

    for (i = 0; i < (ngx_uint_t) nargs; i++) {

        if (creq->skip_signature_arg
            && ngx_http_objspace_qarg_is(&args[i], "X-Amz-Signature"))
        {
            continue;
        }

        if (amp) {
            ngx_http_objspace_hw_byte(&hw, '&');
        }

        amp = 1;

        ngx_http_objspace_hw_qarg(&hw, args[i].name, args[i].name_len);
        ngx_http_objspace_hw_byte(&hw, '=');
        ngx_http_objspace_hw_qarg(&hw, args[i].value, args[i].value_len);
    }

    ngx_http_objspace_hw_byte(&hw, '\n');

    for (i = 0; i < (ngx_uint_t) n; i++) {
        first = 1;

        for (j = 0; j < creq->nheaders; j++) {
            h = &creq->headers[j];

            if (h->key.len != names[i].len
                || ngx_memcmp(h->key.data, names[i].data, names[i].len) != 0)
            {
                continue;
            }

            if (first) {
                ngx_http_objspace_hw_put(&hw, names[i].data, names[i].len);
                ngx_http_objspace_hw_byte(&hw, ':');
                first = 0;

            } else {
                ngx_http_objspace_hw_byte(&hw, ',');
            }

            ngx_http_objspace_hw_value(&hw, h->value.data, h->value.len);
        }

        if (first) {
            ngx_http_objspace_wipe(&hw, sizeof(hw));
            return NGX_ERROR;
        }

        ngx_http_objspace_hw_byte(&hw, '\n');
    }

    ngx_http_objspace_hw_byte(&hw, '\n');
    ngx_http_objspace_hw_put(&hw, creq->signed_headers.data,
                             creq->signed_headers.len);
    ngx_http_objspace_hw_byte(&hw, '\n');
    ngx_http_objspace_hw_put(&hw, creq->payload_hash.data,
                             creq->payload_hash.len);

    ngx_http_objspace_hw_final(&hw, hash);

    return NGX_OK;
}


/*
 * HMAC(key, algo \n amz_date \n scope \n hex(h1) [\n hex(h2) [\n hex(h3)]]):
 * the shape shared by the request, chunk and trailer strings to sign.
 */

static void
ngx_http_objspace_sigv4_hmac_sts(
    const u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN], const char *algo,
    size_t algo_len, ngx_str_t *amz_date, ngx_str_t *scope,
    const u_char *h1, const u_char *h2, const u_char *h3,
    u_char sig[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    u_char                    buf[256], *p;
    const u_char             *hs[3];
    ngx_uint_t                i;
    ngx_http_objspace_hmac_t  h;

    ngx_http_objspace_hmac_init(&h, key, NGX_HTTP_OBJSPACE_SHA256_LEN);

    ngx_http_objspace_hmac_update(&h, algo, algo_len);
    ngx_http_objspace_hmac_update(&h, "\n", 1);
    ngx_http_objspace_hmac_update(&h, amz_date->data, amz_date->len);
    ngx_http_objspace_hmac_update(&h, "\n", 1);
    ngx_http_objspace_hmac_update(&h, scope->data, scope->len);

    hs[0] = h1;
    hs[1] = h2;
    hs[2] = h3;

    p = buf;

    for (i = 0; i < 3 && hs[i]; i++) {
        *p++ = '\n';
        p = ngx_http_objspace_sigv4_hex(p, hs[i], NGX_HTTP_OBJSPACE_SHA256_LEN);
    }

    ngx_http_objspace_hmac_update(&h, buf, p - buf);
    ngx_http_objspace_hmac_final(&h, sig);
}


/* SigV4 "Create a string to sign" + "Calculate the signature" */

void
ngx_http_objspace_sigv4_sign(const u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN],
    ngx_str_t *amz_date, ngx_str_t *scope,
    const u_char creq_hash[NGX_HTTP_OBJSPACE_SHA256_LEN],
    u_char sig[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    ngx_http_objspace_sigv4_hmac_sts(key, NGX_HTTP_OBJSPACE_SIGV4_ALGO,
                                     sizeof(NGX_HTTP_OBJSPACE_SIGV4_ALGO) - 1,
                                     amz_date, scope, creq_hash, NULL, NULL,
                                     sig);
}


/* S3 streaming upload, "Calculating the chunk signature" */

void
ngx_http_objspace_sigv4_chunk_sign(
    const u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN], ngx_str_t *amz_date,
    ngx_str_t *scope, const u_char prev[NGX_HTTP_OBJSPACE_SHA256_LEN],
    const u_char chunk_hash[NGX_HTTP_OBJSPACE_SHA256_LEN],
    u_char sig[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    static const u_char  empty[NGX_HTTP_OBJSPACE_SHA256_LEN] = {
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
        0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
        0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
        0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55
    };

    ngx_http_objspace_sigv4_hmac_sts(key, "AWS4-HMAC-SHA256-PAYLOAD",
                                     sizeof("AWS4-HMAC-SHA256-PAYLOAD") - 1,
                                     amz_date, scope, prev, empty, chunk_hash,
                                     sig);
}


/* S3 streaming upload with trailer, "Trailing header signature" */

void
ngx_http_objspace_sigv4_trailer_sign(
    const u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN], ngx_str_t *amz_date,
    ngx_str_t *scope, const u_char prev[NGX_HTTP_OBJSPACE_SHA256_LEN],
    const u_char trailer_hash[NGX_HTTP_OBJSPACE_SHA256_LEN],
    u_char sig[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    ngx_http_objspace_sigv4_hmac_sts(key, "AWS4-HMAC-SHA256-TRAILER",
                                     sizeof("AWS4-HMAC-SHA256-TRAILER") - 1,
                                     amz_date, scope, prev, trailer_hash,
                                     NULL, sig);
}


ngx_int_t
ngx_http_objspace_sigv4_equal(const u_char *a, const u_char *b)
{
    return CRYPTO_memcmp(a, b, NGX_HTTP_OBJSPACE_SHA256_LEN) == 0;
}


/* SigV4 UriEncode(): RFC 3986 unreserved kept, the rest %XX upper hex */

u_char *
ngx_http_objspace_sigv4_uri_encode(u_char *dst, const u_char *src, size_t len,
    ngx_uint_t keep_slash)
{
    u_char  c;

    while (len--) {
        c = *src++;

        if (ngx_http_objspace_is_unreserved(c) || (c == '/' && keep_slash)) {
            *dst++ = c;
            continue;
        }

        *dst++ = '%';
        *dst++ = ngx_http_objspace_hex_uc[c >> 4];
        *dst++ = ngx_http_objspace_hex_uc[c & 0xf];
    }

    return dst;
}


u_char *
ngx_http_objspace_sigv4_hex(u_char *dst, const u_char *src, size_t len)
{
    const u_char  *hp;

    while (len--) {
        hp = &ngx_http_objspace_hex_pairs[2 * *src++];
        *dst++ = hp[0];
        *dst++ = hp[1];
    }

    return dst;
}


void
ngx_http_objspace_sigv4_sha256(const u_char *data, size_t len,
    u_char md[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    SHA256_CTX  sha;

    SHA256_Init(&sha);
    SHA256_Update(&sha, data, len);
    SHA256_Final(md, &sha);
}


ngx_int_t
ngx_http_objspace_sigv4_unhex(u_char *dst, const u_char *src, size_t len)
{
    ngx_int_t  hi, lo;

    if (len & 1) {
        return NGX_ERROR;
    }

    while (len) {
        hi = ngx_http_objspace_hex_value[src[0]];
        lo = ngx_http_objspace_hex_value[src[1]];

        if (hi == 0 || lo == 0) {
            return NGX_ERROR;
        }

        *dst++ = (u_char) (((hi - 1) << 4) | (lo - 1));
        src += 2;
        len -= 2;
    }

    return NGX_OK;
}


/* ISO 8601 basic "YYYYMMDDTHHMMSSZ" (SigV4 X-Amz-Date), UTC */

time_t
ngx_http_objspace_sigv4_parse_amz_date(u_char *p, size_t len)
{
    static const u_char  mdays[] = {
        31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };
    static const u_char  width[] = { 4, 2, 2, 2, 2, 2 };

    time_t      days;
    ngx_int_t   v[6], y, m, d, era, yoe, doy, doe;
    ngx_uint_t  i, j, w;

    if (len != NGX_HTTP_OBJSPACE_AMZ_DATE_LEN || p[8] != 'T' || p[15] != 'Z') {
        return (time_t) -1;
    }

    for (i = 0; i < 6; i++) {
        if (i == 3) {
            p++;                                      /* 'T' */
        }

        v[i] = 0;

        for (w = width[i], j = 0; j < w; j++) {
            if (*p < '0' || *p > '9') {
                return (time_t) -1;
            }

            v[i] = v[i] * 10 + (*p++ - '0');
        }
    }

    y = v[0];
    m = v[1];
    d = v[2];

    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]
        || v[3] > 23 || v[4] > 59 || v[5] > 59)
    {
        return (time_t) -1;
    }

    if (m == 2 && d == 29 && (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0)))
    {
        return (time_t) -1;
    }

    /* days from civil (proleptic Gregorian), epoch 1970-01-01 */

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    days = (time_t) era * 146097 + doe - 719468;

    return days * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
}


/*
 * Copyright (C) objspace authors
 *
 * S3 request parsing: addressing style, bucket, key and operation.
 *
 * Pure: only nginx types and macros, no nginx functions, no allocation, so
 * the file is unit-testable and fuzzable (t/unit/s3_test.c, fuzz/fuzz_s3.c).
 *
 * The key is taken from the raw request target (r->unparsed_uri), never from
 * nginx's normalised r->uri, and decoded exactly once.  Whatever we decode is
 * what we send upstream, re-encoded (ngx_http_objspace_s3_upstream_path), so
 * the backend sees the same key the authorization looked at.
 *
 * Query parameter names are matched exactly (after percent-decoding, as the
 * backend does), in any order, with or without '='.  A parameter we do not
 * know is refused (NOT_IMPLEMENTED) instead of ignored: on S3 and RGW an
 * unknown name may be a subresource that turns a read into something else.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_objspace_s3.h"
#include "ngx_http_objspace_sigv4.h"


#define NGX_HTTP_OBJSPACE_S3_MAX_ARGS      128
#define NGX_HTTP_OBJSPACE_S3_MAX_ARG_NAME  64


/* what a query parameter does to the operation */
typedef enum {
    NGX_HTTP_OBJSPACE_Q_PARAM = 0,      /* ordinary: prefix, max-keys, ... */
    NGX_HTTP_OBJSPACE_Q_SELECTOR,       /* selects the operation */
    NGX_HTTP_OBJSPACE_Q_ADMIN           /* bucket administration */
} ngx_http_objspace_q_kind_e;


/* parameters the classifier looks at; index into seen[] */
typedef enum {
    NGX_HTTP_OBJSPACE_Q_ACL = 0,
    NGX_HTTP_OBJSPACE_Q_TAGGING,
    NGX_HTTP_OBJSPACE_Q_ATTRIBUTES,
    NGX_HTTP_OBJSPACE_Q_RETENTION,
    NGX_HTTP_OBJSPACE_Q_LEGAL_HOLD,
    NGX_HTTP_OBJSPACE_Q_RESTORE,
    NGX_HTTP_OBJSPACE_Q_SELECT,
    NGX_HTTP_OBJSPACE_Q_TORRENT,
    NGX_HTTP_OBJSPACE_Q_UPLOADS,
    NGX_HTTP_OBJSPACE_Q_UPLOAD_ID,
    NGX_HTTP_OBJSPACE_Q_DELETE,
    NGX_HTTP_OBJSPACE_Q_VERSIONS,
    NGX_HTTP_OBJSPACE_Q_LOCATION,
    NGX_HTTP_OBJSPACE_Q_PART_NUMBER,
    NGX_HTTP_OBJSPACE_Q_LIST_TYPE,
    NGX_HTTP_OBJSPACE_Q_OTHER           /* the rest: no own index */
} ngx_http_objspace_q_id_e;


typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  kind;       /* ngx_http_objspace_q_kind_e */
    ngx_uint_t                  id;         /* ngx_http_objspace_q_id_e */
} ngx_http_objspace_q_t;


/* the outcome of scanning a query string */
typedef struct {
    ngx_uint_t                  seen;       /* 1 << Q_ACL ... Q_LIST_TYPE */
    ngx_uint_t                  nselectors;
    unsigned                    admin:1;
    unsigned                    unknown:1;
    unsigned                    list_type_2:1;
} ngx_http_objspace_q_scan_t;


static ngx_int_t ngx_http_objspace_s3_host(ngx_str_t *host,
    ngx_str_t *suffixes, ngx_uint_t n, ngx_str_t *bucket);
static ngx_int_t ngx_http_objspace_s3_valid_bucket(u_char *p, size_t len);
static ngx_int_t ngx_http_objspace_s3_decode(u_char *dst, size_t cap,
    u_char *src, size_t len, size_t *out, ngx_uint_t plus_is_space);
static ngx_int_t ngx_http_objspace_s3_unhex(u_char c);
static ngx_int_t ngx_http_objspace_s3_scan_query(ngx_str_t *query,
    ngx_http_objspace_q_scan_t *scan);
static ngx_int_t ngx_http_objspace_s3_classify(ngx_str_t *method,
    ngx_http_objspace_s3_req_t *s3, ngx_uint_t has_copy_source,
    ngx_http_objspace_q_scan_t *scan);
static ngx_int_t ngx_http_objspace_s3_classify_bucket(ngx_str_t *method,
    ngx_http_objspace_q_scan_t *scan);
static ngx_int_t ngx_http_objspace_s3_classify_object(ngx_str_t *method,
    ngx_uint_t has_copy_source, ngx_http_objspace_q_scan_t *scan);


#define ngx_http_objspace_q(name, kind, id)                                   \
    { ngx_string(name), NGX_HTTP_OBJSPACE_Q_##kind, NGX_HTTP_OBJSPACE_Q_##id }


static ngx_http_objspace_q_t  ngx_http_objspace_s3_params[] = {

    /* selectors: object and bucket subresources */
    ngx_http_objspace_q("acl", SELECTOR, ACL),
    ngx_http_objspace_q("tagging", SELECTOR, TAGGING),
    ngx_http_objspace_q("attributes", SELECTOR, ATTRIBUTES),
    ngx_http_objspace_q("retention", SELECTOR, RETENTION),
    ngx_http_objspace_q("legal-hold", SELECTOR, LEGAL_HOLD),
    ngx_http_objspace_q("restore", SELECTOR, RESTORE),
    ngx_http_objspace_q("select", SELECTOR, SELECT),
    ngx_http_objspace_q("torrent", SELECTOR, TORRENT),
    ngx_http_objspace_q("uploads", SELECTOR, UPLOADS),
    ngx_http_objspace_q("uploadId", SELECTOR, UPLOAD_ID),
    ngx_http_objspace_q("delete", SELECTOR, DELETE),
    ngx_http_objspace_q("versions", SELECTOR, VERSIONS),
    ngx_http_objspace_q("location", SELECTOR, LOCATION),

    /* bucket administration, on any method */
    ngx_http_objspace_q("policy", ADMIN, OTHER),
    ngx_http_objspace_q("policyStatus", ADMIN, OTHER),
    ngx_http_objspace_q("cors", ADMIN, OTHER),
    ngx_http_objspace_q("lifecycle", ADMIN, OTHER),
    ngx_http_objspace_q("versioning", ADMIN, OTHER),
    ngx_http_objspace_q("encryption", ADMIN, OTHER),
    ngx_http_objspace_q("replication", ADMIN, OTHER),
    ngx_http_objspace_q("website", ADMIN, OTHER),
    ngx_http_objspace_q("logging", ADMIN, OTHER),
    ngx_http_objspace_q("notification", ADMIN, OTHER),
    ngx_http_objspace_q("ownershipControls", ADMIN, OTHER),
    ngx_http_objspace_q("publicAccessBlock", ADMIN, OTHER),
    ngx_http_objspace_q("object-lock", ADMIN, OTHER),
    ngx_http_objspace_q("accelerate", ADMIN, OTHER),
    ngx_http_objspace_q("requestPayment", ADMIN, OTHER),
    ngx_http_objspace_q("inventory", ADMIN, OTHER),
    ngx_http_objspace_q("metrics", ADMIN, OTHER),
    ngx_http_objspace_q("analytics", ADMIN, OTHER),
    ngx_http_objspace_q("intelligent-tiering", ADMIN, OTHER),

    /* ordinary parameters */
    ngx_http_objspace_q("partNumber", PARAM, PART_NUMBER),
    ngx_http_objspace_q("list-type", PARAM, LIST_TYPE),
    ngx_http_objspace_q("prefix", PARAM, OTHER),
    ngx_http_objspace_q("delimiter", PARAM, OTHER),
    ngx_http_objspace_q("marker", PARAM, OTHER),
    ngx_http_objspace_q("max-keys", PARAM, OTHER),
    ngx_http_objspace_q("continuation-token", PARAM, OTHER),
    ngx_http_objspace_q("start-after", PARAM, OTHER),
    ngx_http_objspace_q("fetch-owner", PARAM, OTHER),
    ngx_http_objspace_q("encoding-type", PARAM, OTHER),
    ngx_http_objspace_q("allow-unordered", PARAM, OTHER),
    ngx_http_objspace_q("key-marker", PARAM, OTHER),
    ngx_http_objspace_q("version-id-marker", PARAM, OTHER),
    ngx_http_objspace_q("upload-id-marker", PARAM, OTHER),
    ngx_http_objspace_q("max-uploads", PARAM, OTHER),
    ngx_http_objspace_q("max-parts", PARAM, OTHER),
    ngx_http_objspace_q("part-number-marker", PARAM, OTHER),
    ngx_http_objspace_q("versionId", PARAM, OTHER),
    ngx_http_objspace_q("response-content-type", PARAM, OTHER),
    ngx_http_objspace_q("response-content-language", PARAM, OTHER),
    ngx_http_objspace_q("response-expires", PARAM, OTHER),
    ngx_http_objspace_q("response-cache-control", PARAM, OTHER),
    ngx_http_objspace_q("response-content-disposition", PARAM, OTHER),
    ngx_http_objspace_q("response-content-encoding", PARAM, OTHER),
    ngx_http_objspace_q("select-type", PARAM, OTHER),
    ngx_http_objspace_q("max-buckets", PARAM, OTHER),
    ngx_http_objspace_q("bucket-region", PARAM, OTHER),
    ngx_http_objspace_q("id", PARAM, OTHER),
    ngx_http_objspace_q("x-id", PARAM, OTHER),   /* AWS SDKs: x-id=PutObject */

    { ngx_null_string, 0, 0 }
};


ngx_str_t  ngx_http_objspace_s3_op_names[] = {
    ngx_string("Unknown"),
    ngx_string("ListBuckets"),
    ngx_string("HeadBucket"),
    ngx_string("GetBucketLocation"),
    ngx_string("ListObjects"),
    ngx_string("ListObjectsV2"),
    ngx_string("ListObjectVersions"),
    ngx_string("ListMultipartUploads"),
    ngx_string("GetObject"),
    ngx_string("HeadObject"),
    ngx_string("PutObject"),
    ngx_string("CopyObject"),
    ngx_string("DeleteObject"),
    ngx_string("DeleteObjects"),
    ngx_string("CreateMultipartUpload"),
    ngx_string("UploadPart"),
    ngx_string("UploadPartCopy"),
    ngx_string("CompleteMultipartUpload"),
    ngx_string("AbortMultipartUpload"),
    ngx_string("ListParts"),
    ngx_string("GetObjectAcl"),
    ngx_string("PutObjectAcl"),
    ngx_string("GetObjectTagging"),
    ngx_string("PutObjectTagging"),
    ngx_string("DeleteObjectTagging"),
    ngx_string("GetObjectAttributes"),
    ngx_string("ObjectOther"),
    ngx_string("CreateBucket"),
    ngx_string("DeleteBucket"),
    ngx_string("BucketAdmin"),
    ngx_null_string
};


#define ngx_http_objspace_method_is(m, s)                                     \
    ((m)->len == sizeof(s) - 1 && ngx_strncmp((m)->data, s, sizeof(s) - 1) == 0)

#define ngx_http_objspace_has(scan, q)                                        \
    ((scan)->seen & ((ngx_uint_t) 1 << NGX_HTTP_OBJSPACE_Q_##q))


/*
 * Parses one S3 request (see ngx_http_objspace_s3.h for the contract).
 * The key is the percent-decoded raw path below the bucket; bucket and
 * raw_path/query point into host and unparsed, key into buf.
 */

ngx_int_t
ngx_http_objspace_s3_parse(ngx_str_t *method, ngx_str_t *host,
    ngx_str_t *unparsed, ngx_str_t *suffixes, ngx_uint_t n,
    ngx_str_t *copy_source, u_char *buf, ngx_http_objspace_s3_req_t *s3)
{
    u_char                      *p, *last, *q;
    size_t                       len;
    ngx_int_t                    rc;
    ngx_http_objspace_q_scan_t   scan;

    ngx_memzero(s3, sizeof(ngx_http_objspace_s3_req_t));

    p = unparsed->data;
    last = p + unparsed->len;

    q = (p == last) ? NULL : ngx_strlchr(p, last, '?');

    s3->raw_path.data = p;
    s3->raw_path.len = (q ? q : last) - p;

    if (q) {
        s3->query.data = q + 1;
        s3->query.len = last - q - 1;

    } else {
        s3->query.data = last;
        s3->query.len = 0;
    }

    if (s3->raw_path.len == 0 || p[0] != '/') {
        return NGX_HTTP_OBJSPACE_S3_INVALID_URI;
    }

    p++;
    last = s3->raw_path.data + s3->raw_path.len;

    if (host && ngx_http_objspace_s3_host(host, suffixes, n, &s3->bucket)
                == NGX_OK)
    {
        s3->virtual_host = 1;

    } else {
        /* path-style: "/" bucket ["/" key] */

        q = ngx_strlchr(p, last, '/');

        s3->bucket.data = p;
        s3->bucket.len = (q ? q : last) - p;

        if (s3->bucket.len == 0 && q) {
            return NGX_HTTP_OBJSPACE_S3_INVALID_BUCKET;     /* "//key" */
        }

        p = q ? q + 1 : last;
    }

    if (s3->bucket.len
        && ngx_http_objspace_s3_valid_bucket(s3->bucket.data, s3->bucket.len)
           != NGX_OK)
    {
        return NGX_HTTP_OBJSPACE_S3_INVALID_BUCKET;
    }

    if (ngx_http_objspace_s3_decode(buf, last - p, p, last - p, &len, 0)
        != NGX_OK)
    {
        return NGX_HTTP_OBJSPACE_S3_INVALID_URI;
    }

    s3->key.data = buf;
    s3->key.len = len;

    if (len) {
        rc = ngx_http_objspace_s3_check_key(&s3->key);
        if (rc != NGX_HTTP_OBJSPACE_S3_OK) {
            return rc;
        }

        s3->key_has_dot_segment =
                             ngx_http_objspace_s3_has_dot_segment(&s3->key);
    }

    rc = ngx_http_objspace_s3_scan_query(&s3->query, &scan);
    if (rc != NGX_HTTP_OBJSPACE_S3_OK) {
        return rc;
    }

    return ngx_http_objspace_s3_classify(method, s3,
                                   copy_source && copy_source->len, &scan);
}


/*
 * Virtual-hosted style: Host = BUCKET "." SUFFIX, port stripped, suffix
 * compared case-insensitively; the longest matching suffix wins.  NGX_OK
 * and the bucket (pointing into host) when it matches, NGX_DECLINED for a
 * Host that is a suffix itself, matches none, or is empty.
 */

static ngx_int_t
ngx_http_objspace_s3_host(ngx_str_t *host, ngx_str_t *suffixes,
    ngx_uint_t n, ngx_str_t *bucket)
{
    u_char      *p, *last;
    size_t       len, best;
    ngx_uint_t   i, j;

    if (host->len == 0 || host->data[0] == '[') {
        return NGX_DECLINED;                        /* IPv6 literal */
    }

    p = host->data;
    last = p + host->len;

    for (len = 0; p + len < last && p[len] != ':'; len++) {
        /* void */
    }

    best = 0;

    for (i = 0; i < n; i++) {

        if (suffixes[i].len == 0 || len < suffixes[i].len + 2
            || suffixes[i].len <= best)
        {
            continue;
        }

        if (p[len - suffixes[i].len - 1] != '.') {
            continue;
        }

        for (j = 0; j < suffixes[i].len; j++) {
            if (ngx_tolower(p[len - suffixes[i].len + j])
                != ngx_tolower(suffixes[i].data[j]))
            {
                break;
            }
        }

        if (j == suffixes[i].len) {
            best = suffixes[i].len;
        }
    }

    if (best == 0) {
        return NGX_DECLINED;
    }

    bucket->data = p;
    bucket->len = len - best - 1;

    return NGX_OK;
}


/*
 * S3 bucket naming rules ("Bucket naming rules", general purpose buckets):
 * 3-63 characters of a-z 0-9 '.' '-', starting and ending with a letter or
 * digit, no "..", not an IPv4 address, not "xn--" / "sthree-" prefixed, not
 * "-s3alias" / "--ol-s3" suffixed.  Upper case is refused, not lowered.
 */

static ngx_int_t
ngx_http_objspace_s3_valid_bucket(u_char *p, size_t len)
{
    size_t      i;
    u_char      c;
    ngx_uint_t  dots, digits_only;

    if (len < 3 || len > NGX_HTTP_OBJSPACE_MAX_BUCKET_LEN) {
        return NGX_ERROR;
    }

    dots = 0;
    digits_only = 1;

    for (i = 0; i < len; i++) {
        c = p[i];

        if ((c >= 'a' && c <= 'z') || c == '-') {
            digits_only = 0;

        } else if (c == '.') {
            if (i && p[i - 1] == '.') {
                return NGX_ERROR;
            }

            dots++;

        } else if (c < '0' || c > '9') {
            return NGX_ERROR;
        }
    }

    if (!((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= '0' && p[0] <= '9'))
        || !((p[len - 1] >= 'a' && p[len - 1] <= 'z')
             || (p[len - 1] >= '0' && p[len - 1] <= '9')))
    {
        return NGX_ERROR;
    }

    if (digits_only && dots == 3) {
        return NGX_ERROR;                           /* 192.168.5.4 */
    }

    if ((len >= 4 && ngx_strncmp(p, "xn--", 4) == 0)
        || (len >= 7 && ngx_strncmp(p, "sthree-", 7) == 0)
        || (len >= 8 && ngx_strncmp(p + len - 8, "-s3alias", 8) == 0)
        || (len >= 7 && ngx_strncmp(p + len - 7, "--ol-s3", 7) == 0))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Checks a decoded key: at most NGX_HTTP_OBJSPACE_MAX_KEY_LEN bytes
 * (KEY_TOO_LONG), no NUL (INVALID_URI), no other control character
 * 0x01-0x1f / 0x7f and well-formed UTF-8 (INVALID_KEY): no overlong forms,
 * no surrogates, nothing above U+10FFFF.  An empty key is INVALID_KEY.
 */

ngx_int_t
ngx_http_objspace_s3_check_key(ngx_str_t *key)
{
    u_char  *p, *last, c;
    size_t   n, i;
    uint32_t cp, min;

    if (key->len == 0) {
        return NGX_HTTP_OBJSPACE_S3_INVALID_KEY;
    }

    if (key->len > NGX_HTTP_OBJSPACE_MAX_KEY_LEN) {
        return NGX_HTTP_OBJSPACE_S3_KEY_TOO_LONG;
    }

    p = key->data;
    last = p + key->len;

    while (p < last) {
        c = *p++;

        if (c < 0x80) {
            if (c == '\0') {
                return NGX_HTTP_OBJSPACE_S3_INVALID_URI;
            }

            if (c < 0x20 || c == 0x7f) {
                return NGX_HTTP_OBJSPACE_S3_INVALID_KEY;
            }

            continue;
        }

        if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
            min = 0x80;

        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
            min = 0x800;

        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;

        } else {
            return NGX_HTTP_OBJSPACE_S3_INVALID_KEY;
        }

        if ((size_t) (last - p) < n) {
            return NGX_HTTP_OBJSPACE_S3_INVALID_KEY;
        }

        for (i = 0; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return NGX_HTTP_OBJSPACE_S3_INVALID_KEY;
            }

            cp = (cp << 6) | (p[i] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return NGX_HTTP_OBJSPACE_S3_INVALID_KEY;
        }

        p += n;
    }

    return NGX_HTTP_OBJSPACE_S3_OK;
}


/* 1 if a '/'-separated segment of the decoded key is "." or ".." */

ngx_uint_t
ngx_http_objspace_s3_has_dot_segment(ngx_str_t *key)
{
    u_char  *p, *last, *seg;

    if (key->len == 0) {
        return 0;
    }

    p = key->data;
    last = p + key->len;
    seg = p;

    for ( ;; ) {
        if (p == last || *p == '/') {
            if ((p - seg == 1 && seg[0] == '.')
                || (p - seg == 2 && seg[0] == '.' && seg[1] == '.'))
            {
                return 1;
            }

            if (p == last) {
                return 0;
            }

            seg = p + 1;
        }

        p++;
    }
}


/*
 * Percent-decoding of a path (plus_is_space = 0: '+' is a plus sign) or a
 * query component (plus_is_space = 1: '+' is a space, as S3 and RGW read
 * query strings).  Writes at most cap bytes into dst (dst may be NULL with
 * cap 0: validate only); *out is the full decoded length.  NGX_ERROR for a
 * '%' not followed by two hex digits, NGX_DECLINED when the result does not
 * fit in cap (the whole input is still validated), else NGX_OK.
 */

static ngx_int_t
ngx_http_objspace_s3_decode(u_char *dst, size_t cap, u_char *src,
    size_t len, size_t *out, ngx_uint_t plus_is_space)
{
    u_char     *last, c;
    size_t      n;
    ngx_int_t   hi, lo;

    n = 0;
    last = src + len;

    while (src < last) {

        if (*src == '%') {
            if (last - src < 3) {
                return NGX_ERROR;
            }

            hi = ngx_http_objspace_s3_unhex(src[1]);
            lo = ngx_http_objspace_s3_unhex(src[2]);

            if (hi < 0 || lo < 0) {
                return NGX_ERROR;
            }

            c = (u_char) (hi << 4 | lo);
            src += 3;

        } else {
            c = (*src == '+' && plus_is_space) ? ' ' : *src;
            src++;
        }

        if (n < cap) {
            dst[n] = c;
        }

        n++;
    }

    *out = n;

    return (n <= cap) ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_objspace_s3_unhex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * Scans "a=1&b&c=" for the parameters that matter to classification.
 * Names are percent-decoded and compared exactly; empty pieces ("&&") are
 * skipped; names starting with "x-amz-" (any case: presigned auth, headers
 * sent as parameters) are ordinary.  A bad escape, a repeated known name or
 * more than NGX_HTTP_OBJSPACE_S3_MAX_ARGS pieces is INVALID_URI.
 */

static ngx_int_t
ngx_http_objspace_s3_scan_query(ngx_str_t *query,
    ngx_http_objspace_q_scan_t *scan)
{
    u_char                 *p, *last, *amp, *eq;
    size_t                  len, vlen;
    ngx_int_t               rc;
    ngx_uint_t              i, nargs;
    ngx_http_objspace_q_t  *qp;
    u_char                  seen[sizeof(ngx_http_objspace_s3_params)
                                 / sizeof(ngx_http_objspace_q_t)];
    u_char                  name[NGX_HTTP_OBJSPACE_S3_MAX_ARG_NAME];
    u_char                  value[8];

    ngx_memzero(scan, sizeof(ngx_http_objspace_q_scan_t));
    ngx_memzero(seen, sizeof(seen));

    p = query->data;
    last = p + query->len;
    nargs = 0;

    while (p < last) {

        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            p++;
            continue;
        }

        if (++nargs > NGX_HTTP_OBJSPACE_S3_MAX_ARGS) {
            return NGX_HTTP_OBJSPACE_S3_INVALID_URI;
        }

        eq = ngx_strlchr(p, amp, '=');
        if (eq == NULL) {
            eq = amp;
        }

        if (eq < amp
            && ngx_http_objspace_s3_decode(NULL, 0, eq + 1, amp - eq - 1,
                                           &vlen, 1)
               == NGX_ERROR)
        {
            return NGX_HTTP_OBJSPACE_S3_INVALID_URI;
        }

        rc = ngx_http_objspace_s3_decode(name, sizeof(name), p, eq - p, &len,
                                         1);
        if (rc == NGX_ERROR) {
            return NGX_HTTP_OBJSPACE_S3_INVALID_URI;
        }

        if (rc == NGX_DECLINED) {
            scan->unknown = 1;                  /* longer than any we know */
            p = amp;
            continue;
        }

        if (len >= 6
            && ngx_tolower(name[0]) == 'x' && name[1] == '-'
            && ngx_tolower(name[2]) == 'a' && ngx_tolower(name[3]) == 'm'
            && ngx_tolower(name[4]) == 'z' && name[5] == '-')
        {
            p = amp;
            continue;
        }

        for (i = 0, qp = ngx_http_objspace_s3_params; qp->name.len;
             i++, qp++)
        {
            if (qp->name.len == len
                && ngx_strncmp(qp->name.data, name, len) == 0)
            {
                break;
            }
        }

        if (qp->name.len == 0) {
            scan->unknown = 1;
            p = amp;
            continue;
        }

        if (seen[i]) {
            return NGX_HTTP_OBJSPACE_S3_INVALID_URI;
        }

        seen[i] = 1;

        switch (qp->kind) {

        case NGX_HTTP_OBJSPACE_Q_ADMIN:
            scan->admin = 1;
            break;

        case NGX_HTTP_OBJSPACE_Q_SELECTOR:
            scan->nselectors++;
            break;

        default: /* NGX_HTTP_OBJSPACE_Q_PARAM */
            break;
        }

        if (qp->id != NGX_HTTP_OBJSPACE_Q_OTHER) {
            scan->seen |= (ngx_uint_t) 1 << qp->id;
        }

        if (qp->id == NGX_HTTP_OBJSPACE_Q_LIST_TYPE
            && eq < amp
            && ngx_http_objspace_s3_decode(value, sizeof(value), eq + 1,
                                           amp - eq - 1, &vlen, 1)
               == NGX_OK
            && vlen == 1 && value[0] == '2')
        {
            scan->list_type_2 = 1;
        }

        p = amp;
    }

    return NGX_HTTP_OBJSPACE_S3_OK;
}


/*
 * The operation from method, addressing level and query.  Bucket
 * administration wins over everything (it is refused for every identity
 * anyway); then an unknown parameter is NOT_IMPLEMENTED; then the level.
 */

static ngx_int_t
ngx_http_objspace_s3_classify(ngx_str_t *method,
    ngx_http_objspace_s3_req_t *s3, ngx_uint_t has_copy_source,
    ngx_http_objspace_q_scan_t *scan)
{
    ngx_int_t  op;

    if (s3->bucket.len && scan->admin) {
        s3->op = NGX_HTTP_OBJSPACE_OP_BUCKET_ADMIN;
        return NGX_HTTP_OBJSPACE_S3_OK;
    }

    if (scan->unknown || (scan->admin && s3->bucket.len == 0)) {
        return NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
    }

    if (s3->bucket.len == 0) {

        /* service level: GET / is ListBuckets, nothing else exists */

        if (!ngx_http_objspace_method_is(method, "GET")) {
            return NGX_HTTP_OBJSPACE_S3_METHOD;
        }

        if (scan->nselectors || has_copy_source) {
            return NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
        }

        s3->op = NGX_HTTP_OBJSPACE_OP_LIST_BUCKETS;
        return NGX_HTTP_OBJSPACE_S3_OK;
    }

    if (s3->key.len == 0) {
        op = ngx_http_objspace_s3_classify_bucket(method, scan);

        if (op > 0 && has_copy_source) {
            return NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
        }

    } else {
        op = ngx_http_objspace_s3_classify_object(method, has_copy_source,
                                                  scan);
    }

    if (op < 0) {
        return -op;
    }

    s3->op = op;

    return NGX_HTTP_OBJSPACE_S3_OK;
}


/*
 * Bucket level (no key).  Returns an op, or minus an s3 error.  ?acl and
 * ?tagging on a bucket are bucket administration.
 */

static ngx_int_t
ngx_http_objspace_s3_classify_bucket(ngx_str_t *method,
    ngx_http_objspace_q_scan_t *scan)
{
    if (ngx_http_objspace_has(scan, ACL)
        || ngx_http_objspace_has(scan, TAGGING))
    {
        return NGX_HTTP_OBJSPACE_OP_BUCKET_ADMIN;
    }

    if (scan->nselectors > 1) {
        return -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
    }

    if (ngx_http_objspace_method_is(method, "GET")) {

        if (scan->nselectors == 0) {
            if (!ngx_http_objspace_has(scan, LIST_TYPE)) {
                return NGX_HTTP_OBJSPACE_OP_LIST_OBJECTS;
            }

            if (scan->list_type_2) {
                return NGX_HTTP_OBJSPACE_OP_LIST_OBJECTS_V2;
            }

            return -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
        }

        if (ngx_http_objspace_has(scan, LOCATION)) {
            return NGX_HTTP_OBJSPACE_OP_GET_BUCKET_LOCATION;
        }

        if (ngx_http_objspace_has(scan, VERSIONS)) {
            return NGX_HTTP_OBJSPACE_OP_LIST_OBJECT_VERSIONS;
        }

        if (ngx_http_objspace_has(scan, UPLOADS)) {
            return NGX_HTTP_OBJSPACE_OP_LIST_MULTIPART_UPLOADS;
        }

        return -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
    }

    if (ngx_http_objspace_method_is(method, "HEAD")) {
        return scan->nselectors ? -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED
                                : NGX_HTTP_OBJSPACE_OP_HEAD_BUCKET;
    }

    if (ngx_http_objspace_method_is(method, "PUT")) {
        return scan->nselectors ? -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED
                                : NGX_HTTP_OBJSPACE_OP_CREATE_BUCKET;
    }

    if (ngx_http_objspace_method_is(method, "DELETE")) {
        return scan->nselectors ? -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED
                                : NGX_HTTP_OBJSPACE_OP_DELETE_BUCKET;
    }

    if (ngx_http_objspace_method_is(method, "POST")) {
        /* POST without ?delete would be a browser form upload */
        return ngx_http_objspace_has(scan, DELETE)
               ? NGX_HTTP_OBJSPACE_OP_DELETE_OBJECTS
               : -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
    }

    return -NGX_HTTP_OBJSPACE_S3_METHOD;
}


/*
 * Object level.  Returns an op, or minus an s3 error.  x-amz-copy-source is
 * accepted only where S3 reads it (PUT, PUT ?partNumber&uploadId): anywhere
 * else it is NOT_IMPLEMENTED, so a copy never passes for a plain write.
 */

static ngx_int_t
ngx_http_objspace_s3_classify_object(ngx_str_t *method,
    ngx_uint_t has_copy_source, ngx_http_objspace_q_scan_t *scan)
{
    ngx_uint_t  put;

    if (ngx_http_objspace_has(scan, RETENTION)
        || ngx_http_objspace_has(scan, LEGAL_HOLD)
        || ngx_http_objspace_has(scan, RESTORE)
        || ngx_http_objspace_has(scan, SELECT)
        || ngx_http_objspace_has(scan, TORRENT))
    {
        return NGX_HTTP_OBJSPACE_OP_OBJECT_OTHER;
    }

    if (scan->nselectors > 1) {
        return -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
    }

    put = ngx_http_objspace_method_is(method, "PUT");

    if (has_copy_source
        && !(put && (scan->nselectors == 0
                     || ngx_http_objspace_has(scan, UPLOAD_ID))))
    {
        return -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
    }

    if (ngx_http_objspace_method_is(method, "GET")) {

        if (scan->nselectors == 0) {
            return NGX_HTTP_OBJSPACE_OP_GET_OBJECT;
        }

        if (ngx_http_objspace_has(scan, UPLOAD_ID)) {
            return NGX_HTTP_OBJSPACE_OP_LIST_PARTS;
        }

        if (ngx_http_objspace_has(scan, ACL)) {
            return NGX_HTTP_OBJSPACE_OP_GET_OBJECT_ACL;
        }

        if (ngx_http_objspace_has(scan, TAGGING)) {
            return NGX_HTTP_OBJSPACE_OP_GET_OBJECT_TAGGING;
        }

        if (ngx_http_objspace_has(scan, ATTRIBUTES)) {
            return NGX_HTTP_OBJSPACE_OP_GET_OBJECT_ATTRIBUTES;
        }

        return -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
    }

    if (ngx_http_objspace_method_is(method, "HEAD")) {
        return scan->nselectors ? -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED
                                : NGX_HTTP_OBJSPACE_OP_HEAD_OBJECT;
    }

    if (put) {

        if (scan->nselectors == 0) {
            if (ngx_http_objspace_has(scan, PART_NUMBER)) {
                return -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
            }

            return has_copy_source ? NGX_HTTP_OBJSPACE_OP_COPY_OBJECT
                                   : NGX_HTTP_OBJSPACE_OP_PUT_OBJECT;
        }

        if (ngx_http_objspace_has(scan, UPLOAD_ID)) {
            if (!ngx_http_objspace_has(scan, PART_NUMBER)) {
                return -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
            }

            return has_copy_source ? NGX_HTTP_OBJSPACE_OP_UPLOAD_PART_COPY
                                   : NGX_HTTP_OBJSPACE_OP_UPLOAD_PART;
        }

        if (ngx_http_objspace_has(scan, ACL)) {
            return NGX_HTTP_OBJSPACE_OP_PUT_OBJECT_ACL;
        }

        if (ngx_http_objspace_has(scan, TAGGING)) {
            return NGX_HTTP_OBJSPACE_OP_PUT_OBJECT_TAGGING;
        }

        return -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
    }

    if (ngx_http_objspace_method_is(method, "DELETE")) {

        if (scan->nselectors == 0) {
            return NGX_HTTP_OBJSPACE_OP_DELETE_OBJECT;
        }

        if (ngx_http_objspace_has(scan, UPLOAD_ID)) {
            return NGX_HTTP_OBJSPACE_OP_ABORT_MULTIPART;
        }

        if (ngx_http_objspace_has(scan, TAGGING)) {
            return NGX_HTTP_OBJSPACE_OP_DELETE_OBJECT_TAGGING;
        }

        return -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
    }

    if (ngx_http_objspace_method_is(method, "POST")) {

        if (ngx_http_objspace_has(scan, UPLOADS)) {
            return NGX_HTTP_OBJSPACE_OP_CREATE_MULTIPART;
        }

        if (ngx_http_objspace_has(scan, UPLOAD_ID)) {
            return NGX_HTTP_OBJSPACE_OP_COMPLETE_MULTIPART;
        }

        return -NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED;
    }

    return -NGX_HTTP_OBJSPACE_S3_METHOD;
}


/*
 * One query parameter, percent-decoded ('+' is a space) into buf (cap
 * bytes).  NGX_OK: found once, *value set (empty for "name" or "name=");
 * NGX_DECLINED: absent; NGX_ERROR: repeated, a bad escape anywhere in the
 * query, or a value longer than cap.  The name is matched exactly after
 * decoding, as in ngx_http_objspace_s3_parse().
 */

ngx_int_t
ngx_http_objspace_s3_arg(ngx_str_t *query, ngx_str_t *name, u_char *buf,
    size_t cap, ngx_str_t *value)
{
    u_char     *p, *last, *amp, *eq;
    size_t      len;
    ngx_int_t   rc, found;
    u_char      tmp[NGX_HTTP_OBJSPACE_S3_MAX_ARG_NAME];

    if (query->len == 0) {
        return NGX_DECLINED;    /* the data of an absent query may be NULL */
    }

    p = query->data;
    last = p + query->len;
    found = NGX_DECLINED;

    while (p < last) {

        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');
        if (eq == NULL) {
            eq = amp;
        }

        rc = ngx_http_objspace_s3_decode(tmp, sizeof(tmp), p, eq - p, &len,
                                         1);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK && len == name->len
            && ngx_strncmp(tmp, name->data, len) == 0)
        {
            if (found == NGX_OK) {
                return NGX_ERROR;
            }

            found = NGX_OK;

            value->data = buf;
            value->len = 0;

            if (eq < amp
                && ngx_http_objspace_s3_decode(buf, cap, eq + 1, amp - eq - 1,
                                               &value->len, 1)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

        } else if (eq < amp
                   && ngx_http_objspace_s3_decode(NULL, 0, eq + 1,
                                                  amp - eq - 1, &len, 1)
                      == NGX_ERROR)
        {
            return NGX_ERROR;
        }

        p = (amp < last) ? amp + 1 : last;
    }

    return found;
}


/*
 * Splits x-amz-copy-source: "[/]bucket/key[?versionId=...]", the key
 * percent-encoded ('+' is a plus sign, as in a path).  The first raw '?'
 * ends the key (a '?' inside a key arrives as %3F); after it only
 * "versionId=..." is accepted.  bucket points into src, key into buf
 * (src->len bytes).  Returns an ngx_http_objspace_s3_err_e.
 */

ngx_int_t
ngx_http_objspace_s3_parse_copy_source(ngx_str_t *src, u_char *buf,
    ngx_str_t *bucket, ngx_str_t *key)
{
    u_char  *p, *last, *q, *slash;
    size_t   len;

    p = src->data;
    last = p + src->len;

    if (p < last && *p == '/') {
        p++;
    }

    q = ngx_strlchr(p, last, '?');

    if (q) {
        if (last - q - 1 < 10
            || ngx_strncmp(q + 1, "versionId=", 10) != 0
            || ngx_strlchr(q + 1, last, '&') != NULL)
        {
            return NGX_HTTP_OBJSPACE_S3_INVALID_URI;
        }

        last = q;
    }

    slash = ngx_strlchr(p, last, '/');
    if (slash == NULL) {
        return NGX_HTTP_OBJSPACE_S3_INVALID_KEY;
    }

    bucket->data = p;
    bucket->len = slash - p;

    if (ngx_http_objspace_s3_valid_bucket(bucket->data, bucket->len)
        != NGX_OK)
    {
        return NGX_HTTP_OBJSPACE_S3_INVALID_BUCKET;
    }

    p = slash + 1;

    if (ngx_http_objspace_s3_decode(buf, last - p, p, last - p, &len, 0)
        != NGX_OK)
    {
        return NGX_HTTP_OBJSPACE_S3_INVALID_URI;
    }

    key->data = buf;
    key->len = len;

    return ngx_http_objspace_s3_check_key(key);
}


/*
 * Canonicalisation (SigV4 "CanonicalURI" for S3: the path URI-encoded
 * once): "/" bucket ["/" UriEncode(key, keep '/')].  This is the path sent
 * upstream and the backend request's canonical URI, so whatever bytes the
 * key holds reach the backend exactly as authorised.
 */

u_char *
ngx_http_objspace_s3_upstream_path(u_char *dst, ngx_str_t *bucket,
    ngx_str_t *key)
{
    *dst++ = '/';
    dst = ngx_cpymem(dst, bucket->data, bucket->len);

    if (key->len) {
        *dst++ = '/';
        dst = ngx_http_objspace_sigv4_uri_encode(dst, key->data, key->len, 1);
    }

    return dst;
}


/*
 * Canonicalisation of the client's path (SigV4 "CanonicalURI" for S3):
 * every byte is UriEncode'd once; a literal '/' stays '/', while an escaped
 * one (%2F) stays %2F, since the client signed what it sent.  Escapes are
 * normalised (%7e -> ~, %2b -> %2B, raw '+' -> %2B).  An empty path is "/".
 * Call after a successful parse; a stray '%' would come out as %25.  dst
 * needs max(1, 3 * raw_path->len) bytes.
 */

u_char *
ngx_http_objspace_s3_canonical_uri(u_char *dst, ngx_str_t *raw_path)
{
    u_char     *p, *last, c;
    ngx_int_t   hi, lo;

    p = raw_path->data;
    last = p + raw_path->len;

    if (p == last) {
        *dst++ = '/';
        return dst;
    }

    while (p < last) {
        c = *p++;

        if (c == '/') {
            *dst++ = '/';
            continue;
        }

        if (c == '%' && last - p >= 2) {
            hi = ngx_http_objspace_s3_unhex(p[0]);
            lo = ngx_http_objspace_s3_unhex(p[1]);

            if (hi >= 0 && lo >= 0) {
                c = (u_char) (hi << 4 | lo);
                p += 2;
            }
        }

        if (ngx_http_objspace_is_unreserved(c)) {
            *dst++ = c;
            continue;
        }

        dst = ngx_http_objspace_sigv4_uri_encode(dst, &c, 1, 0);
    }

    return dst;
}

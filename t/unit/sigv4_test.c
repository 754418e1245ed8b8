
/*
 * Copyright (C) objspace authors
 *
 * Unit tests of ngx_http_objspace_sigv4.c against AWS's published S3 SigV4
 * examples (t/data/aws-s3-sigv4-examples.json) plus negative cases.
 * Prints TAP.  Usage: sigv4_test [examples.json]
 */


#include "ngx_http_objspace_sigv4.c"

#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>


#define T_JSON  "t/data/aws-s3-sigv4-examples.json"
#define T_MAXH  16


typedef struct {
    ngx_http_objspace_kv_t      kv[T_MAXH];
    ngx_uint_t                  n;
} t_headers_t;


static void t_ok(int ok, const char *fmt, ...);
static int t_done(void);
static ngx_str_t t_str(const char *s);
static void t_headers_from_json(json_t *obj, t_headers_t *h);
static void t_headers_add(t_headers_t *h, const char *k, const char *v);
static void t_hex(const u_char *sig, char *out);
static void t_key(json_t *cred, u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN]);
static void t_header_auth(json_t *root);
static void t_query_auth(json_t *root);
static void t_chunked_seed(json_t *root);
static void t_negative_header(void);
static void t_negative_query(void);
static void t_check_headers(void);
static void t_canonical(void);
static void t_helpers(void);
static int t_parse_hdr(const char *value, const char *date);
static int t_parse_query(const char *query);


static int          t_n;
static int          t_failed;
static const char  *t_date = "20130524T000000Z";


static void
t_ok(int ok, const char *fmt, ...)
{
    va_list  args;

    t_n++;

    if (!ok) {
        t_failed++;
    }

    printf("%sok %d - ", ok ? "" : "not ", t_n);
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    printf("\n");
}


static int
t_done(void)
{
    printf("1..%d\n", t_n);
    return t_failed ? 1 : 0;
}


static ngx_str_t
t_str(const char *s)
{
    ngx_str_t  v;

    v.data = (u_char *) s;
    v.len = strlen(s);

    return v;
}


static void
t_headers_add(t_headers_t *h, const char *k, const char *v)
{
    h->kv[h->n].key = t_str(k);
    h->kv[h->n].value = t_str(v);
    h->n++;
}


static void
t_headers_from_json(json_t *obj, t_headers_t *h)
{
    const char  *k;
    json_t      *v;

    h->n = 0;

    json_object_foreach(obj, k, v) {
        t_headers_add(h, k, json_string_value(v));
    }
}


static void
t_hex(const u_char *sig, char *out)
{
    *ngx_http_objspace_sigv4_hex((u_char *) out, sig, 32) = '\0';
}


static void
t_key(json_t *cred, u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    ngx_str_t    date, region, service;
    const char  *secret;

    secret = json_string_value(json_object_get(cred, "secret_access_key"));

    date = t_str(json_string_value(json_object_get(cred, "date")));
    date.len = 8;
    region = t_str(json_string_value(json_object_get(cred, "region")));
    service = t_str(json_string_value(json_object_get(cred, "service")));

    ngx_http_objspace_sigv4_signing_key((u_char *) secret, strlen(secret),
                                        &date, &region, &service, key);
}


static void
t_header_auth(json_t *root)
{
    char                            value[512], hex[65];
    u_char                          key[32], hash[32], sig[32];
    size_t                          i;
    json_t                         *ex, *cred;
    ngx_int_t                       rc;
    ngx_str_t                       v, date;
    const char                     *name, *akid, *expect;
    t_headers_t                     h;
    ngx_http_objspace_sigv4_auth_t  auth;
    ngx_http_objspace_sigv4_creq_t  creq;

    cred = json_object_get(root, "credentials");
    akid = json_string_value(json_object_get(cred, "access_key_id"));
    t_key(cred, key);

    json_array_foreach(json_object_get(root, "header_auth"), i, ex) {
        name = json_string_value(json_object_get(ex, "name"));
        expect = json_string_value(json_object_get(ex, "signature"));

        snprintf(value, sizeof(value),
                 "AWS4-HMAC-SHA256 Credential=%s/20130524/us-east-1/s3/"
                 "aws4_request, SignedHeaders=%s, Signature=%s", akid,
                 json_string_value(json_object_get(ex, "signed_headers")),
                 expect);

        v = t_str(value);
        date = t_str(t_date);

        rc = ngx_http_objspace_sigv4_parse_header(&v, &date, &auth);
        t_ok(rc == NGX_HTTP_OBJSPACE_SIGV4_OK, "%s: header parses", name);
        t_ok(auth.access_key.len == strlen(akid)
             && memcmp(auth.access_key.data, akid, auth.access_key.len) == 0
             && auth.region.len == 9 && auth.service.len == 2
             && auth.scope.len == sizeof("20130524/us-east-1/s3/aws4_request")
                                  - 1
             && auth.amz_time == 1369353600 && !auth.presigned,
             "%s: credential fields", name);

        t_headers_from_json(json_object_get(ex, "headers"), &h);

        rc = ngx_http_objspace_sigv4_check_headers(&auth, h.kv, h.n);
        t_ok(rc == NGX_HTTP_OBJSPACE_SIGV4_OK, "%s: signed headers ok", name);

        creq.method = t_str(json_string_value(json_object_get(ex, "method")));
        creq.canonical_uri = t_str(json_string_value(
                                               json_object_get(ex, "path")));
        creq.query = t_str(json_string_value(json_object_get(ex, "query")));
        creq.headers = h.kv;
        creq.nheaders = h.n;
        creq.signed_headers = auth.signed_headers;
        creq.payload_hash = t_str(json_string_value(json_object_get(
                  json_object_get(ex, "headers"), "x-amz-content-sha256")));
        creq.skip_signature_arg = 0;

        rc = ngx_http_objspace_sigv4_creq_hash(&creq, hash);
        t_ok(rc == NGX_OK, "%s: canonical request hashed", name);

        ngx_http_objspace_sigv4_sign(key, &auth.amz_date, &auth.scope, hash,
                                     sig);
        t_hex(sig, hex);
        t_ok(strcmp(hex, expect) == 0, "%s: signature matches AWS (%s)",
             name, hex);
        t_ok(ngx_http_objspace_sigv4_equal(sig, auth.signature),
             "%s: constant-time compare accepts", name);

        sig[31] ^= 1;
        t_ok(!ngx_http_objspace_sigv4_equal(sig, auth.signature),
             "%s: tampered signature rejected", name);

        /* a tampered signed header value changes the signature */
        h.kv[0].value = t_str("evil.example");
        ngx_http_objspace_sigv4_creq_hash(&creq, hash);
        ngx_http_objspace_sigv4_sign(key, &auth.amz_date, &auth.scope, hash,
                                     sig);
        t_ok(!ngx_http_objspace_sigv4_equal(sig, auth.signature),
             "%s: tampered header value rejected", name);
    }
}


static void
t_query_auth(json_t *root)
{
    char                            query[1024], hex[65];
    u_char                          key[32], hash[32], sig[32];
    size_t                          i;
    json_t                         *ex;
    ngx_int_t                       rc;
    ngx_str_t                       q;
    const char                     *name, *expect;
    t_headers_t                     h;
    ngx_http_objspace_sigv4_auth_t  auth;
    ngx_http_objspace_sigv4_creq_t  creq;

    t_key(json_object_get(root, "credentials"), key);

    json_array_foreach(json_object_get(root, "query_auth"), i, ex) {
        name = json_string_value(json_object_get(ex, "name"));
        expect = json_string_value(json_object_get(ex, "signature"));

        snprintf(query, sizeof(query), "%s&X-Amz-Signature=%s",
                 json_string_value(json_object_get(ex, "query")), expect);

        q = t_str(query);

        rc = ngx_http_objspace_sigv4_parse_query(&q, &auth);
        t_ok(rc == NGX_HTTP_OBJSPACE_SIGV4_OK, "%s: query parses", name);
        t_ok(auth.presigned && auth.expires == 86400
             && auth.amz_time == 1369353600
             && auth.access_key.len == 20
             && auth.scope.len == sizeof("20130524/us-east-1/s3/aws4_request")
                                  - 1
             && auth.signed_headers.len == 4,
             "%s: credential fields (decoded %%2F)", name);

        h.n = 0;
        t_headers_add(&h, "host",
                      json_string_value(json_object_get(ex, "host")));

        rc = ngx_http_objspace_sigv4_check_headers(&auth, h.kv, h.n);
        t_ok(rc == NGX_HTTP_OBJSPACE_SIGV4_OK, "%s: signed headers ok", name);

        creq.method = t_str(json_string_value(json_object_get(ex, "method")));
        creq.canonical_uri = t_str(json_string_value(
                                               json_object_get(ex, "path")));
        creq.query = q;
        creq.headers = h.kv;
        creq.nheaders = h.n;
        creq.signed_headers = auth.signed_headers;
        creq.payload_hash = t_str(json_string_value(
                                            json_object_get(ex, "payload")));
        creq.skip_signature_arg = 1;

        rc = ngx_http_objspace_sigv4_creq_hash(&creq, hash);
        t_ok(rc == NGX_OK, "%s: canonical request hashed", name);

        ngx_http_objspace_sigv4_sign(key, &auth.amz_date, &auth.scope, hash,
                                     sig);
        t_hex(sig, hex);
        t_ok(strcmp(hex, expect) == 0, "%s: signature matches AWS (%s)",
             name, hex);
        t_ok(ngx_http_objspace_sigv4_equal(sig, auth.signature),
             "%s: constant-time compare accepts", name);

        /* the signature argument must not be hashed in */
        creq.skip_signature_arg = 0;
        ngx_http_objspace_sigv4_creq_hash(&creq, hash);
        ngx_http_objspace_sigv4_sign(key, &auth.amz_date, &auth.scope, hash,
                                     sig);
        t_ok(!ngx_http_objspace_sigv4_equal(sig, auth.signature),
             "%s: X-Amz-Signature is left out of the canonical query", name);

        /* a tampered expiry changes the signature */
        snprintf(query, sizeof(query), "%s&X-Amz-Signature=%s",
                 json_string_value(json_object_get(ex, "query")), expect);
        memcpy(strstr(query, "86400"), "86401", 5);
        creq.query = t_str(query);
        creq.skip_signature_arg = 1;
        ngx_http_objspace_sigv4_creq_hash(&creq, hash);
        ngx_http_objspace_sigv4_sign(key, &auth.amz_date, &auth.scope, hash,
                                     sig);
        t_ok(!ngx_http_objspace_sigv4_equal(sig, auth.signature),
             "%s: tampered X-Amz-Expires rejected", name);
    }
}


static void
t_chunked_seed(json_t *root)
{
    char                            hex[65];
    u_char                          key[32], hash[32], sig[32], prev[32];
    u_char                          data[65536];
    size_t                          i, len;
    json_t                         *ex, *chunk;
    ngx_str_t                       date, scope;
    const char                     *expect;
    t_headers_t                     h;
    ngx_http_objspace_sigv4_creq_t  creq;

    t_key(json_object_get(root, "credentials"), key);
    ex = json_object_get(root, "chunked_upload");

    t_headers_from_json(json_object_get(ex, "headers"), &h);

    creq.method = t_str(json_string_value(json_object_get(ex, "method")));
    creq.canonical_uri = t_str(json_string_value(json_object_get(ex, "path")));
    creq.query = t_str("");
    creq.headers = h.kv;
    creq.nheaders = h.n;
    creq.signed_headers = t_str(json_string_value(
                                     json_object_get(ex, "signed_headers")));
    creq.payload_hash = t_str("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    creq.skip_signature_arg = 0;

    date = t_str(t_date);
    scope = t_str("20130524/us-east-1/s3/aws4_request");

    t_ok(ngx_http_objspace_sigv4_creq_hash(&creq, hash) == NGX_OK,
         "chunked: seed canonical request hashed");
    ngx_http_objspace_sigv4_sign(key, &date, &scope, hash, sig);
    t_hex(sig, hex);
    expect = json_string_value(json_object_get(ex, "seed_signature"));
    t_ok(strcmp(hex, expect) == 0, "chunked: seed signature matches AWS");

    memcpy(prev, sig, 32);
    memset(data, 'a', sizeof(data));

    json_array_foreach(json_object_get(ex, "chunks"), i, chunk) {
        len = (i == 0) ? 65536 : (i == 1) ? 1024 : 0;
        SHA256(data, len, hash);
        ngx_http_objspace_sigv4_chunk_sign(key, &date, &scope, prev, hash,
                                           sig);
        t_hex(sig, hex);
        expect = json_string_value(json_object_get(chunk, "signature"));
        t_ok(strcmp(hex, expect) == 0,
             "chunked: chunk %d (%d bytes) signature matches AWS",
             (int) i, (int) len);
        memcpy(prev, sig, 32);
    }
}


static int
t_parse_hdr(const char *value, const char *date)
{
    ngx_str_t                       v, d;
    ngx_http_objspace_sigv4_auth_t  auth;

    v = t_str(value);
    d = t_str(date);

    return ngx_http_objspace_sigv4_parse_header(&v, &d, &auth);
}


#define T_SIG  "f0e8bdb87c964420e857bd35b5d6ed31" \
               "0bd44f0170aba48dd91039c6036bdb41"
#define T_CRED "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"


static void
t_negative_header(void)
{
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ",SignedHeaders="
                     "host;x-amz-date,Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_OK, "header: no blanks after ',' ok");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256   Signature=" T_SIG " , Credential="
                     T_CRED ",  SignedHeaders=host", t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_OK, "header: any component order ok");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA1 Credential=" T_CRED ", SignedHeaders="
                     "host, Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_ALGORITHM, "header: other algorithm");
    t_ok(t_parse_hdr("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
                     t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_ALGORITHM, "header: SigV2 is ALGORITHM");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host", t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED, "header: missing Signature");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", Signature="
                     T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED, "header: missing SignedHeaders");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host, Signature=" T_SIG ", Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED, "header: duplicate Signature");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host, Signature=" T_SIG ", Foo=bar", t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED, "header: unknown component");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host, Signature=f0e8", t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED, "header: short signature");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host, Signature=z0e8bdb87c964420e857bd35b5d6ed310bd44f0"
                     "170aba48dd91039c6036bdb41", t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED, "header: non-hex signature");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/"
                     "aws4_reques, SignedHeaders=host, Signature=" T_SIG,
                     t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_SCOPE, "header: bad scope terminator");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/"
                     "aws4_request, SignedHeaders=host, Signature=" T_SIG,
                     t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_SCOPE, "header: scope missing a part");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/"
                     "aws4_request/x, SignedHeaders=host, Signature=" T_SIG,
                     t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_SCOPE, "header: scope with extra part");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=AKID/2013052/us-east-1/s3/"
                     "aws4_request, SignedHeaders=host, Signature=" T_SIG,
                     t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_SCOPE, "header: short scope date");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=AKID/20130524//s3/"
                     "aws4_request, SignedHeaders=host, Signature=" T_SIG,
                     t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_SCOPE, "header: empty region");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/"
                     "aws4_request, SignedHeaders=host, Signature=" T_SIG,
                     t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED, "header: empty access key");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/"
                     "ec2/aws4_request, SignedHeaders=host, Signature=" T_SIG,
                     t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_SERVICE, "header: service is not s3");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=AKID/20130525/us-east-1/s3/"
                     "aws4_request, SignedHeaders=host, Signature=" T_SIG,
                     t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_DATE, "header: scope date != X-Amz-Date");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host, Signature=" T_SIG, "Fri, 24 May 2013 00:00:00 GMT")
         == NGX_HTTP_OBJSPACE_SIGV4_DATE, "header: X-Amz-Date not ISO 8601");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "x-amz-date;host, Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,
         "header: unsorted SignedHeaders");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host;host, Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,
         "header: duplicate SignedHeaders name");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "Host;x-amz-date, Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,
         "header: uppercase SignedHeaders name");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host;;x-amz-date, Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,
         "header: empty SignedHeaders name");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host x-amz-date, Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED, "header: blank inside a value");
    t_ok(t_parse_hdr("", t_date) == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,
         "header: empty value");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host;x:y, Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,
         "header: ':' in a SignedHeaders name");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host;x\x7f, Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,
         "header: DEL in a SignedHeaders name");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host;x\x01y, Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,
         "header: control byte in a SignedHeaders name");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host;x\xc3\xa9, Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,
         "header: non-ASCII byte in a SignedHeaders name");
    t_ok(t_parse_hdr("AWS4-HMAC-SHA256 Credential=" T_CRED ", SignedHeaders="
                     "host;x-_~@[]^`{|}!, Signature=" T_SIG, t_date)
         == NGX_HTTP_OBJSPACE_SIGV4_OK,
         "header: punctuation in a SignedHeaders name is a name");

    {
        char        buf[2048], *p;
        ngx_uint_t  i;

        p = buf + sprintf(buf, "AWS4-HMAC-SHA256 Credential=" T_CRED
                          ", Signature=" T_SIG ", SignedHeaders=host");

        for (i = 0; i < NGX_HTTP_OBJSPACE_MAX_SIGNED; i++) {
            p += sprintf(p, ";x-%03d", (int) i);
        }

        t_ok(t_parse_hdr(buf, t_date) == NGX_HTTP_OBJSPACE_SIGV4_TOO_MANY,
             "header: more than %d signed headers is TOO_MANY",
             NGX_HTTP_OBJSPACE_MAX_SIGNED);
    }
}


static int
t_parse_query(const char *query)
{
    ngx_str_t                       q;
    ngx_http_objspace_sigv4_auth_t  auth;

    q = t_str(query);

    return ngx_http_objspace_sigv4_parse_query(&q, &auth);
}


#define T_Q0  "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" \
              "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F" \
              "aws4_request&X-Amz-Date=20130524T000000Z&" \
              "X-Amz-SignedHeaders=host"
#define T_QS  "&X-Amz-Signature=" T_SIG


static void
t_negative_query(void)
{
    ngx_str_t                       q;
    ngx_http_objspace_sigv4_auth_t  auth;

    t_ok(t_parse_query("") == NGX_DECLINED, "query: empty is not presigned");
    t_ok(t_parse_query("max-keys=2&prefix=J") == NGX_DECLINED,
         "query: plain query is not presigned");
    t_ok(t_parse_query("X-Amz-Algorithm=AWS4-HMAC-SHA256&x=1")
         == NGX_DECLINED, "query: algorithm alone is not presigned");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=1" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_OK, "query: X-Amz-Expires=1 ok");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=604800" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_OK, "query: X-Amz-Expires=604800 ok");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=0" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_EXPIRES, "query: X-Amz-Expires=0");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=604801" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_EXPIRES, "query: X-Amz-Expires=604801");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=-5" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_EXPIRES, "query: X-Amz-Expires=-5");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=1e3" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_EXPIRES, "query: X-Amz-Expires=1e3");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_EXPIRES, "query: X-Amz-Expires empty");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=99999999999999999999" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_EXPIRES, "query: X-Amz-Expires overflow");
    t_ok(t_parse_query(T_Q0 T_QS) == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,
         "query: X-Amz-Expires missing");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=60")
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED, "query: signature missing");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=60" T_QS T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED, "query: duplicate signature");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=60&X-Amz-Expires=60" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED, "query: duplicate expires");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=60&X-Amz-Credential=x" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,
         "query: duplicate credential");
    t_ok(t_parse_query(T_Q0 "&X-Amz-Expires=60&X%2DAmz-Expires=60" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_MALFORMED,
         "query: duplicate via encoded name");
    t_ok(t_parse_query("X-Amz-Algorithm=AWS4-HMAC-SHA1&X-Amz-Credential="
                       "AKID%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&"
                       "X-Amz-Date=20130524T000000Z&X-Amz-SignedHeaders=host&"
                       "X-Amz-Expires=60" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_ALGORITHM, "query: other algorithm");
    t_ok(t_parse_query("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                       "AKID%2F20130524%2Fus-east-1%2Fs3%2Faws4_requests&"
                       "X-Amz-Date=20130524T000000Z&X-Amz-SignedHeaders=host&"
                       "X-Amz-Expires=60" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_SCOPE, "query: bad scope");
    t_ok(t_parse_query("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                       "AKID%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&"
                       "X-Amz-Date=20130525T000000Z&X-Amz-SignedHeaders=host&"
                       "X-Amz-Expires=60" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_DATE, "query: date off the scope day");
    t_ok(t_parse_query("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                       "AKID%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&"
                       "X-Amz-Date=20130524T000000Z&X-Amz-SignedHeaders="
                       "host%3Bx-amz-meta-a&X-Amz-Expires=60" T_QS)
         == NGX_HTTP_OBJSPACE_SIGV4_OK, "query: SignedHeaders with %%3B");

    q = t_str("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
              "AKID%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&"
              "X-Amz-Date=20130524T000000Z&X-Amz-SignedHeaders="
              "host%3Bx-amz-meta-a&X-Amz-Expires=60" T_QS);
    ngx_http_objspace_sigv4_parse_query(&q, &auth);
    t_ok(auth.signed_headers.len == 17
         && memcmp(auth.signed_headers.data, "host;x-amz-meta-a", 17) == 0,
         "query: decoded SignedHeaders");
}


static void
t_check_headers(void)
{
    ngx_int_t                       rc;
    t_headers_t                     h;
    ngx_http_objspace_sigv4_auth_t  auth;

    memset(&auth, 0, sizeof(auth));

    h.n = 0;
    t_headers_add(&h, "host", "b.s3.example");
    t_headers_add(&h, "x-amz-date", t_date);
    t_headers_add(&h, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    t_headers_add(&h, "range", "bytes=0-1");

    auth.signed_headers = t_str("host;x-amz-content-sha256;x-amz-date");
    rc = ngx_http_objspace_sigv4_check_headers(&auth, h.kv, h.n);
    t_ok(rc == NGX_HTTP_OBJSPACE_SIGV4_OK,
         "check: all x-amz-* signed, range unsigned is fine");

    auth.signed_headers = t_str("host;range;x-amz-content-sha256;x-amz-date;"
                                "x-amz-security-token");
    rc = ngx_http_objspace_sigv4_check_headers(&auth, h.kv, h.n);
    t_ok(rc == NGX_HTTP_OBJSPACE_SIGV4_HEADER_MISSING,
         "check: signed header absent");

    auth.signed_headers = t_str("host;x-amz-date");
    rc = ngx_http_objspace_sigv4_check_headers(&auth, h.kv, h.n);
    t_ok(rc == NGX_HTTP_OBJSPACE_SIGV4_HEADER_UNSIGNED,
         "check: x-amz-content-sha256 present but unsigned");

    t_headers_add(&h, "x-amz-meta-owner", "me");
    auth.signed_headers = t_str("host;x-amz-content-sha256;x-amz-date");
    rc = ngx_http_objspace_sigv4_check_headers(&auth, h.kv, h.n);
    t_ok(rc == NGX_HTTP_OBJSPACE_SIGV4_HEADER_UNSIGNED,
         "check: x-amz-meta-* present but unsigned");

    auth.signed_headers = t_str("range;x-amz-content-sha256;x-amz-date;"
                                "x-amz-meta-owner");
    rc = ngx_http_objspace_sigv4_check_headers(&auth, h.kv, h.n);
    t_ok(rc == NGX_HTTP_OBJSPACE_SIGV4_HOST_UNSIGNED, "check: host unsigned");

    auth.signed_headers = t_str("host;x-amz-content-sha256;x-amz-date;"
                                "x-amz-meta-owner");
    rc = ngx_http_objspace_sigv4_check_headers(&auth, h.kv, h.n);
    t_ok(rc == NGX_HTTP_OBJSPACE_SIGV4_OK, "check: everything signed");
}


/*
 * The canonical request is built here by hand (as the spec writes it) and
 * its SHA-256 compared with the incremental one: query decoding, '+',
 * invalid escapes, sort order with encoded bytes, header trimming and
 * folding, repeated headers.
 */

static void
t_canonical(void)
{
    u_char                          want[32], got[32];
    ngx_int_t                       rc;
    const char                     *s;
    t_headers_t                     h;
    ngx_http_objspace_sigv4_creq_t  creq;

    h.n = 0;
    t_headers_add(&h, "host", "b.s3.example");
    t_headers_add(&h, "x-amz-meta-a", "  one   two \t three  ");
    t_headers_add(&h, "x-amz-date", t_date);
    t_headers_add(&h, "x-amz-meta-a", "four");
    t_headers_add(&h, "user-agent", "unsigned");

    creq.method = t_str("GET");
    creq.canonical_uri = t_str("/dir/a%20b");
    creq.query = t_str("b=2&a=1&a=0&%7E=x&c%20d=%2a&e=a+b&f=%zz&&g&a-b=1"
                       "&A=%2f&_=~&%41=0");
    creq.headers = h.kv;
    creq.nheaders = h.n;
    creq.signed_headers = t_str("host;x-amz-date;x-amz-meta-a");
    creq.payload_hash = t_str("UNSIGNED-PAYLOAD");
    creq.skip_signature_arg = 0;

    /* "%41=0" decodes to "A=0"; sort: "A" == "A", then value %2F < 0 */
    s = "GET\n/dir/a%20b\n"
        "A=%2F&A=0&_=~&a=0&a=1&a-b=1&b=2&c%20d=%2A&e=a%20b&f=%25zz&"
        "g=&~=x\n"
        "host:b.s3.example\n"
        "x-amz-date:20130524T000000Z\n"
        "x-amz-meta-a:one two three,four\n"
        "\n"
        "host;x-amz-date;x-amz-meta-a\n"
        "UNSIGNED-PAYLOAD";

    SHA256((u_char *) s, strlen(s), want);

    rc = ngx_http_objspace_sigv4_creq_hash(&creq, got);
    t_ok(rc == NGX_OK && memcmp(want, got, 32) == 0,
         "canonical: query sort/encode, header trim/fold/join");

    creq.signed_headers = t_str("host;x-amz-date;x-amz-meta-b");
    rc = ngx_http_objspace_sigv4_creq_hash(&creq, got);
    t_ok(rc == NGX_ERROR, "canonical: missing signed header is NGX_ERROR");

    {
        char        q[4096], *p;
        ngx_uint_t  i;

        p = q;

        for (i = 0; i <= NGX_HTTP_OBJSPACE_MAX_ARGS; i++) {
            p += sprintf(p, "a%d=1&", (int) i);
        }

        creq.signed_headers = t_str("host");
        creq.query = t_str(q);
        rc = ngx_http_objspace_sigv4_creq_hash(&creq, got);
        t_ok(rc == NGX_ERROR, "canonical: more than %d args is NGX_ERROR",
             NGX_HTTP_OBJSPACE_MAX_ARGS);

        p = q;

        for (i = 0; i < 400; i++) {
            p += sprintf(p, "%%2F");
        }

        creq.query = t_str(q);
        rc = ngx_http_objspace_sigv4_creq_hash(&creq, got);
        t_ok(rc == NGX_OK, "canonical: long encoded name crosses the buffer");
    }
}


static void
t_helpers(void)
{
    u_char      buf[64], *p;
    const char  *in;

    in = "a b/c~d-e_f.g%h+";
    p = ngx_http_objspace_sigv4_uri_encode(buf, (u_char *) in, strlen(in), 1);
    *p = '\0';
    t_ok(strcmp((char *) buf, "a%20b/c~d-e_f.g%25h%2B") == 0,
         "uri_encode: keep_slash");

    p = ngx_http_objspace_sigv4_uri_encode(buf, (u_char *) in, strlen(in), 0);
    *p = '\0';
    t_ok(strcmp((char *) buf, "a%20b%2Fc~d-e_f.g%25h%2B") == 0,
         "uri_encode: slash encoded");

    p = ngx_http_objspace_sigv4_uri_encode(buf, (u_char *) "\xff\x00", 2, 0);
    t_ok(p - buf == 6 && memcmp(buf, "%FF%00", 6) == 0,
         "uri_encode: high and NUL bytes");

    t_ok(ngx_http_objspace_sigv4_parse_amz_date((u_char *) t_date, 16)
         == 1369353600, "amz_date: 20130524T000000Z");
    t_ok(ngx_http_objspace_sigv4_parse_amz_date(
             (u_char *) "20240229T235959Z", 16) == 1709251199,
         "amz_date: leap day");
    t_ok(ngx_http_objspace_sigv4_parse_amz_date(
             (u_char *) "19700101T000000Z", 16) == 0, "amz_date: epoch");
    t_ok(ngx_http_objspace_sigv4_parse_amz_date(
             (u_char *) "20230229T000000Z", 16) == (time_t) -1,
         "amz_date: Feb 29 in a common year");
    t_ok(ngx_http_objspace_sigv4_parse_amz_date(
             (u_char *) "21000229T000000Z", 16) == (time_t) -1,
         "amz_date: Feb 29 2100");
    t_ok(ngx_http_objspace_sigv4_parse_amz_date(
             (u_char *) "20131324T000000Z", 16) == (time_t) -1,
         "amz_date: month 13");
    t_ok(ngx_http_objspace_sigv4_parse_amz_date(
             (u_char *) "20130524T240000Z", 16) == (time_t) -1,
         "amz_date: hour 24");
    t_ok(ngx_http_objspace_sigv4_parse_amz_date(
             (u_char *) "20130524 000000Z", 16) == (time_t) -1,
         "amz_date: no T");
    t_ok(ngx_http_objspace_sigv4_parse_amz_date(
             (u_char *) "2013052a T000000Z", 16) == (time_t) -1,
         "amz_date: non-digit");
    t_ok(ngx_http_objspace_sigv4_parse_amz_date(
             (u_char *) "20130524T000000", 15) == (time_t) -1,
         "amz_date: short");

    t_ok(ngx_http_objspace_sigv4_unhex(buf, (u_char *) "00fFa9", 6) == NGX_OK
         && buf[0] == 0 && buf[1] == 0xff && buf[2] == 0xa9,
         "unhex: mixed case");
    t_ok(ngx_http_objspace_sigv4_unhex(buf, (u_char *) "0g", 2) == NGX_ERROR,
         "unhex: bad digit");

    /* the table-driven hex and unhex against snprintf, every byte value */
    {
        char        want[3];
        u_char      in[256], hex[512], back[256];
        ngx_uint_t  i, bad;

        for (i = 0; i < 256; i++) {
            in[i] = (u_char) i;
        }

        bad = (ngx_http_objspace_sigv4_hex(hex, in, 256) != hex + 512);

        for (i = 0; i < 256; i++) {
            snprintf(want, sizeof(want), "%02x", (unsigned) i);
            bad |= (memcmp(hex + 2 * i, want, 2) != 0);
        }

        t_ok(!bad, "hex: every byte value as snprintf %%02x");
        t_ok(ngx_http_objspace_sigv4_unhex(back, hex, 512) == NGX_OK
             && memcmp(back, in, 256) == 0, "unhex: every byte value back");

        bad = 0;

        for (i = 0; i < 256; i++) {
            want[0] = '0';
            want[1] = (char) i;

            if ((i >= '0' && i <= '9') || (i >= 'a' && i <= 'f')
                || (i >= 'A' && i <= 'F'))
            {
                continue;
            }

            bad |= (ngx_http_objspace_sigv4_unhex(back, (u_char *) want, 2)
                    != NGX_ERROR);
        }

        t_ok(!bad, "unhex: every non-hex byte refused");
    }
}


int
main(int argc, char **argv)
{
    json_t        *root;
    json_error_t   err;

    root = json_load_file(argc > 1 ? argv[1] : T_JSON, 0, &err);

    if (root == NULL) {
        printf("Bail out! %s: %s\n", argc > 1 ? argv[1] : T_JSON, err.text);
        return 1;
    }

    t_header_auth(root);
    t_query_auth(root);
    t_chunked_seed(root);
    t_negative_header();
    t_negative_query();
    t_check_headers();
    t_canonical();
    t_helpers();

    json_decref(root);

    return t_done();
}

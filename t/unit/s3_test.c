
/*
 * Copyright (C) objspace authors
 *
 * Unit tests for ngx_http_objspace_s3.c (S3 request parsing), TAP output.
 */


#include "../../ngx_objspace_module/ngx_http_objspace_sigv4.c"
#include "../../ngx_objspace_module/ngx_http_objspace_s3.c"

#include <stdlib.h>

#include "b_tap.h"


typedef struct {
    const char                 *method;
    const char                 *uri;
    const char                 *copy_source;
    ngx_int_t                   rc;
    ngx_uint_t                  op;
} op_case_t;


typedef struct {
    const char                 *uri;
    ngx_int_t                   rc;
    const char                 *key;        /* expected decoded key */
    const char                 *canonical;  /* expected canonical URI */
    const char                 *upstream;   /* expected upstream path */
    ngx_uint_t                  dot;
} key_case_t;


static ngx_int_t parse(const char *method, const char *host, const char *uri,
    const char *copy_source, ngx_http_objspace_s3_req_t *s3);
static int str_is(ngx_str_t *s, const char *c);
static void test_addressing(void);
static void test_buckets(void);
static void test_ops(void);
static void test_admin(void);
static void test_keys(void);
static void test_key_length(void);
static void test_copy_source(void);
static void test_arg(void);


#define OP(x)  NGX_HTTP_OBJSPACE_OP_##x
#define S3(x)  NGX_HTTP_OBJSPACE_S3_##x


static ngx_str_t   suffixes[] = {
    ngx_string("s3.example"),
    ngx_string("s3.localhost"),
    ngx_string("example")           /* only with nsuffixes = 3 */
};

static ngx_uint_t  nsuffixes = 2;

static u_char     keybuf[8192];


int
main(void)
{
    test_addressing();
    test_buckets();
    test_ops();
    test_admin();
    test_keys();
    test_key_length();
    test_copy_source();
    test_arg();

    return tap_done();
}


static ngx_int_t
parse(const char *method, const char *host, const char *uri,
    const char *copy_source, ngx_http_objspace_s3_req_t *s3)
{
    ngx_str_t  m, h, u, cs;

    m.data = (u_char *) method;
    m.len = strlen(method);
    u.data = (u_char *) uri;
    u.len = strlen(uri);
    h.data = (u_char *) (host ? host : "");
    h.len = host ? strlen(host) : 0;

    if (copy_source) {
        cs.data = (u_char *) copy_source;
        cs.len = strlen(copy_source);
    }

    return ngx_http_objspace_s3_parse(&m, host ? &h : NULL, &u, suffixes,
                                      nsuffixes,
                                      copy_source ? &cs : NULL, keybuf, s3);
}


static int
str_is(ngx_str_t *s, const char *c)
{
    return s->len == strlen(c) && memcmp(s->data, c, s->len) == 0;
}


static void
test_addressing(void)
{
    ngx_int_t                   rc;
    ngx_http_objspace_s3_req_t  s3;

    rc = parse("GET", "s3.example", "/bucket/dir/key.txt", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.op == OP(GET_OBJECT) && !s3.virtual_host
           && str_is(&s3.bucket, "bucket") && str_is(&s3.key, "dir/key.txt")
           && str_is(&s3.raw_path, "/bucket/dir/key.txt")
           && s3.query.len == 0,
           "path-style: Host = suffix, bucket and key from the path");

    rc = parse("GET", "127.0.0.1:8080", "/bucket/k?versionId=1", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.op == OP(GET_OBJECT) && !s3.virtual_host
           && str_is(&s3.bucket, "bucket") && str_is(&s3.key, "k")
           && str_is(&s3.query, "versionId=1"),
           "path-style: IP Host with port, query split off");

    rc = parse("GET", NULL, "/bucket/k", NULL, &s3);
    tap_ok(rc == S3(OK) && !s3.virtual_host && str_is(&s3.bucket, "bucket"),
           "path-style: no Host header");

    rc = parse("GET", "my-bucket.s3.example", "/a/b", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.op == OP(GET_OBJECT) && s3.virtual_host
           && str_is(&s3.bucket, "my-bucket") && str_is(&s3.key, "a/b"),
           "virtual-hosted: bucket from Host, key is the whole path");

    rc = parse("GET", "my-bucket.s3.example:8443", "/a", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.virtual_host
           && str_is(&s3.bucket, "my-bucket") && str_is(&s3.key, "a"),
           "virtual-hosted: port stripped");

    rc = parse("GET", "my-bucket.S3.Example", "/a", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.virtual_host
           && str_is(&s3.bucket, "my-bucket"),
           "virtual-hosted: suffix matched case-insensitively");

    rc = parse("GET", "MyBucket.s3.example", "/a", NULL, &s3);
    tap_ok(rc == S3(INVALID_BUCKET),
           "virtual-hosted: mixed-case bucket is InvalidBucketName");

    rc = parse("GET", "rs.assets.s3.localhost", "/", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.virtual_host && s3.op == OP(LIST_OBJECTS)
           && str_is(&s3.bucket, "rs.assets") && s3.key.len == 0,
           "virtual-hosted: dotted bucket, longest suffix wins, / lists");

    nsuffixes = 3;

    rc = parse("GET", "bkt.s3.example", "/", NULL, &s3);
    tap_ok(rc == S3(OK) && str_is(&s3.bucket, "bkt"),
           "virtual-hosted: \"s3.example\" preferred over \"example\"");

    rc = parse("GET", "evil-s3.example", "/bucket/k", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.virtual_host
           && str_is(&s3.bucket, "evil-s3"),
           "virtual-hosted: \"evil-s3.example\" is bucket evil-s3 under "
           "\"example\"");

    nsuffixes = 2;

    rc = parse("GET", "x.s3.example", "/k", NULL, &s3);
    tap_ok(rc == S3(INVALID_BUCKET), "virtual-hosted: 1-char bucket refused");

    rc = parse("GET", "evil-s3.example", "/bucket/k", NULL, &s3);
    tap_ok(rc == S3(OK) && !s3.virtual_host
           && str_is(&s3.bucket, "bucket"),
           "\"evil-s3.example\" does not match \"s3.example\" (no dot)");

    rc = parse("GET", "bucket.s3.localhostx", "/other/k", NULL, &s3);
    tap_ok(rc == S3(OK) && !s3.virtual_host
           && str_is(&s3.bucket, "other"),
           "Host matching no suffix is path-style");

    rc = parse("GET", "[::1]:8080", "/bucket/k", NULL, &s3);
    tap_ok(rc == S3(OK) && !s3.virtual_host && str_is(&s3.bucket, "bucket"),
           "IPv6 literal Host is path-style");

    rc = parse("GET", "b.example", "/k", NULL, &s3);
    tap_ok(rc == S3(INVALID_BUCKET), "too-short bucket on \"example\"");

    rc = parse("GET", "s3.example", "/", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.op == OP(LIST_BUCKETS) && s3.bucket.len == 0,
           "path-style GET / is ListBuckets");

    rc = parse("HEAD", "s3.example", "/", NULL, &s3);
    tap_ok(rc == S3(METHOD), "HEAD / is MethodNotAllowed");

    rc = parse("GET", "s3.example", "/?x-id=ListBuckets", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.op == OP(LIST_BUCKETS),
           "GET /?x-id=ListBuckets is ListBuckets");

    rc = parse("GET", "s3.example", "/?uploads", NULL, &s3);
    tap_ok(rc == S3(NOT_IMPLEMENTED), "GET /?uploads is NotImplemented");

    rc = parse("GET", "s3.example", "/?policy", NULL, &s3);
    tap_ok(rc == S3(NOT_IMPLEMENTED), "GET /?policy is NotImplemented");

    rc = parse("GET", "s3.example", "/bucket", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.op == OP(LIST_OBJECTS) && s3.key.len == 0,
           "path-style /bucket is the bucket");

    rc = parse("GET", "s3.example", "/bucket/", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.op == OP(LIST_OBJECTS) && s3.key.len == 0,
           "path-style /bucket/ is the bucket");

    rc = parse("GET", "s3.example", "/bucket//", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.op == OP(GET_OBJECT) && str_is(&s3.key, "/"),
           "path-style /bucket// is the object \"/\"");

    rc = parse("GET", "s3.example", "//key", NULL, &s3);
    tap_ok(rc == S3(INVALID_BUCKET), "path-style //key: empty bucket");

    rc = parse("GET", "s3.example", "bucket/key", NULL, &s3);
    tap_ok(rc == S3(INVALID_URI), "path without leading slash");

    rc = parse("GET", "s3.example", "", NULL, &s3);
    tap_ok(rc == S3(INVALID_URI), "empty request target");

    rc = parse("GET", "s3.example", "?list-type=2", NULL, &s3);
    tap_ok(rc == S3(INVALID_URI), "query without path");

    rc = parse("GET", "bucket.s3.example", "//k", NULL, &s3);
    tap_ok(rc == S3(OK) && str_is(&s3.key, "/k"),
           "virtual-hosted //k: key \"/k\"");
}


static void
test_buckets(void)
{
    size_t                      i;
    ngx_int_t                   rc;
    ngx_http_objspace_s3_req_t  s3;
    char                        uri[128];

    static const struct {
        const char  *bucket;
        int          ok;
    } cases[] = {
        { "abc", 1 },
        { "rs-kubedo-artifacts", 1 },
        { "a.b.c", 1 },
        { "123", 1 },
        { "1.2.3", 1 },
        { "b-1.example-2", 1 },
        { "ab", 0 },
        { "-abc", 0 },
        { "abc-", 0 },
        { ".abc", 0 },
        { "abc.", 0 },
        { "a..b", 0 },
        { "ABC", 0 },
        { "aBc", 0 },
        { "a_b", 0 },
        { "a b", 0 },
        { "a%62c", 0 },
        { "192.168.5.4", 0 },
        { "xn--abc", 0 },
        { "sthree-abc", 0 },
        { "abc-s3alias", 0 },
        { "abc--ol-s3", 0 },
        { "a\xc3\xa9z", 0 },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          1 },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(uri, sizeof(uri), "/%s/key", cases[i].bucket);
        rc = parse("GET", "s3.example", uri, NULL, &s3);

        tap_ok(cases[i].ok ? rc == S3(OK) : rc == S3(INVALID_BUCKET),
               "bucket \"%s\" (%zu chars) %s", cases[i].bucket,
               strlen(cases[i].bucket), cases[i].ok ? "valid" : "invalid");
    }
}


static void
test_ops(void)
{
    size_t                      i;
    ngx_int_t                   rc;
    ngx_http_objspace_s3_req_t  s3;

    static const op_case_t  cases[] = {

        /* bucket level */
        { "HEAD", "/bkt", NULL, S3(OK), OP(HEAD_BUCKET) },
        { "GET", "/bkt?location", NULL, S3(OK), OP(GET_BUCKET_LOCATION) },
        { "GET", "/bkt?location=", NULL, S3(OK), OP(GET_BUCKET_LOCATION) },
        { "GET", "/bkt?prefix=a/&max-keys=1", NULL, S3(OK),
          OP(LIST_OBJECTS) },
        { "GET", "/bkt?max-keys=1000&prefix=", NULL, S3(OK),
          OP(LIST_OBJECTS) },
        { "GET", "/bkt/?delimiter=%2F&list-type=2", NULL, S3(OK),
          OP(LIST_OBJECTS_V2) },
        { "GET", "/bkt?list-type=2&delimiter=/&continuation-token=x%3D%3D",
          NULL, S3(OK), OP(LIST_OBJECTS_V2) },
        { "GET", "/bkt?list-type=1", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "GET", "/bkt?list-type", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "GET", "/bkt?versions&prefix=a", NULL, S3(OK),
          OP(LIST_OBJECT_VERSIONS) },
        { "GET", "/bkt?uploads&prefix=", NULL, S3(OK),
          OP(LIST_MULTIPART_UPLOADS) },
        { "GET", "/bkt?prefix=&uploads=", NULL, S3(OK),
          OP(LIST_MULTIPART_UPLOADS) },
        { "POST", "/bkt?delete", NULL, S3(OK), OP(DELETE_OBJECTS) },
        { "POST", "/bkt/?delete=", NULL, S3(OK), OP(DELETE_OBJECTS) },
        { "POST", "/bkt", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "PUT", "/bkt", NULL, S3(OK), OP(CREATE_BUCKET) },
        { "DELETE", "/bkt", NULL, S3(OK), OP(DELETE_BUCKET) },
        { "PUT", "/bkt", "/src/k", S3(NOT_IMPLEMENTED), 0 },
        { "GET", "/bkt?uploadId=1", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "GET", "/bkt?torrent", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "GET", "/bkt?versions&uploads", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "HEAD", "/bkt?location", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "OPTIONS", "/bkt", NULL, S3(METHOD), 0 },
        { "GET", "/bkt?acl", NULL, S3(OK), OP(BUCKET_ADMIN) },
        { "PUT", "/bkt?tagging", NULL, S3(OK), OP(BUCKET_ADMIN) },
        { "GET", "/bkt?session", NULL, S3(NOT_IMPLEMENTED), 0 },

        /* object level */
        { "GET", "/bkt/k", NULL, S3(OK), OP(GET_OBJECT) },
        { "GET", "/bkt/k?partNumber=2", NULL, S3(OK), OP(GET_OBJECT) },
        { "GET", "/bkt/k?response-content-type=text%2Fplain&versionId=v",
          NULL, S3(OK), OP(GET_OBJECT) },
        { "GET", "/bkt/k?x-id=GetObject", NULL, S3(OK), OP(GET_OBJECT) },
        { "GET", "/bkt/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
          "AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
          "20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
          "&X-Amz-Signature=abc", NULL, S3(OK), OP(GET_OBJECT) },
        { "HEAD", "/bkt/k", NULL, S3(OK), OP(HEAD_OBJECT) },
        { "HEAD", "/bkt/k?acl", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "PUT", "/bkt/k", NULL, S3(OK), OP(PUT_OBJECT) },
        { "PUT", "/bkt/k?x-id=PutObject", NULL, S3(OK), OP(PUT_OBJECT) },
        { "PUT", "/bkt/k", "/bkt/src", S3(OK), OP(COPY_OBJECT) },
        { "PUT", "/bkt/k", "", S3(OK), OP(PUT_OBJECT) },
        { "DELETE", "/bkt/k", NULL, S3(OK), OP(DELETE_OBJECT) },
        { "DELETE", "/bkt/k?versionId=3", NULL, S3(OK), OP(DELETE_OBJECT) },
        { "POST", "/bkt/k?uploads", NULL, S3(OK), OP(CREATE_MULTIPART) },
        { "POST", "/bkt/k?uploads=", NULL, S3(OK), OP(CREATE_MULTIPART) },
        { "POST", "/bkt/k?%75ploads", NULL, S3(OK), OP(CREATE_MULTIPART) },
        { "PUT", "/bkt/k?partNumber=1&uploadId=abc", NULL, S3(OK),
          OP(UPLOAD_PART) },
        { "PUT", "/bkt/k?uploadId=abc&partNumber=1", NULL, S3(OK),
          OP(UPLOAD_PART) },
        { "PUT", "/bkt/k?uploadId=abc&partNumber=2", "bkt/src", S3(OK),
          OP(UPLOAD_PART_COPY) },
        { "PUT", "/bkt/k?uploadId=abc", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "PUT", "/bkt/k?partNumber=1", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "POST", "/bkt/k?uploadId=abc", NULL, S3(OK),
          OP(COMPLETE_MULTIPART) },
        { "DELETE", "/bkt/k?uploadId=abc", NULL, S3(OK),
          OP(ABORT_MULTIPART) },
        { "GET", "/bkt/k?uploadId=abc", NULL, S3(OK), OP(LIST_PARTS) },
        { "GET", "/bkt/k?max-parts=10&uploadId=abc&part-number-marker=2",
          NULL, S3(OK), OP(LIST_PARTS) },
        { "GET", "/bkt/k?acl", NULL, S3(OK), OP(GET_OBJECT_ACL) },
        { "PUT", "/bkt/k?acl", NULL, S3(OK), OP(PUT_OBJECT_ACL) },
        { "GET", "/bkt/k?tagging", NULL, S3(OK), OP(GET_OBJECT_TAGGING) },
        { "PUT", "/bkt/k?tagging", NULL, S3(OK), OP(PUT_OBJECT_TAGGING) },
        { "DELETE", "/bkt/k?tagging", NULL, S3(OK),
          OP(DELETE_OBJECT_TAGGING) },
        { "GET", "/bkt/k?attributes", NULL, S3(OK),
          OP(GET_OBJECT_ATTRIBUTES) },
        { "GET", "/bkt/k?torrent", NULL, S3(OK), OP(OBJECT_OTHER) },
        { "POST", "/bkt/k?restore", NULL, S3(OK), OP(OBJECT_OTHER) },
        { "POST", "/bkt/k?select&select-type=2", NULL, S3(OK),
          OP(OBJECT_OTHER) },
        { "PUT", "/bkt/k?retention", NULL, S3(OK), OP(OBJECT_OTHER) },
        { "GET", "/bkt/k?legal-hold", NULL, S3(OK), OP(OBJECT_OTHER) },
        { "PUT", "/bkt/k?legal-hold", "/bkt/x", S3(OK), OP(OBJECT_OTHER) },
        { "PUT", "/bkt/k?acl", "/bkt/src", S3(NOT_IMPLEMENTED), 0 },
        { "PUT", "/bkt/k?tagging", "/bkt/src", S3(NOT_IMPLEMENTED), 0 },
        { "GET", "/bkt/k", "/bkt/src", S3(NOT_IMPLEMENTED), 0 },
        { "POST", "/bkt/k?uploadId=1", "/bkt/src", S3(NOT_IMPLEMENTED), 0 },
        { "POST", "/bkt/k", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "POST", "/bkt/k?delete", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "GET", "/bkt/k?uploads", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "GET", "/bkt/k?versions", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "PATCH", "/bkt/k", NULL, S3(METHOD), 0 },
        { "get", "/bkt/k", NULL, S3(METHOD), 0 },

        /* exact names: no substring or prefix matches */
        { "POST", "/bkt/k?uploadIdx=1", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "POST", "/bkt/k?xuploads", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "POST", "/bkt/k?upload", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "POST", "/bkt/k?Uploads", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "POST", "/bkt/k?uploads&uploadId=1", NULL, S3(NOT_IMPLEMENTED),
          0 },
        { "GET", "/bkt/k?prefix=uploadId", NULL, S3(OK), OP(GET_OBJECT) },
        { "GET", "/bkt/k?foo", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "GET", "/bkt/k?foo=bar", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "GET", "/bkt/k?=bar", NULL, S3(NOT_IMPLEMENTED), 0 },
        { "GET", "/bkt?&&list-type=2&", NULL, S3(OK), OP(LIST_OBJECTS_V2) },
        { "GET", "/bkt?list-type=%32", NULL, S3(OK), OP(LIST_OBJECTS_V2) },
        { "GET", "/bkt?list-type=2&list-type=2", NULL, S3(INVALID_URI), 0 },
        { "POST", "/bkt/k?uploads&uploads", NULL, S3(INVALID_URI), 0 },
        { "GET", "/bkt?prefix=%zz", NULL, S3(INVALID_URI), 0 },
        { "GET", "/bkt?prefix=%2", NULL, S3(INVALID_URI), 0 },
        { "GET", "/bkt?foo=%", NULL, S3(INVALID_URI), 0 },
        { "GET", "/bkt?%g0=1", NULL, S3(INVALID_URI), 0 },
        { "GET", "/bkt?X-Amz-Foo=%", NULL, S3(INVALID_URI), 0 },
        { "GET", "/bkt?prefix=a+b%20c&x-amz-whatever=1", NULL, S3(OK),
          OP(LIST_OBJECTS) },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = parse(cases[i].method, "s3.example", cases[i].uri,
                   cases[i].copy_source, &s3);

        tap_ok(rc == cases[i].rc
               && (rc != S3(OK) || s3.op == cases[i].op),
               "%s %s%s%s -> %s (rc %d)", cases[i].method, cases[i].uri,
               cases[i].copy_source ? " copy-source " : "",
               cases[i].copy_source ? cases[i].copy_source : "",
               cases[i].rc == S3(OK)
                   ? (char *) ngx_http_objspace_s3_op_names[cases[i].op].data
                   : "error",
               (int) rc);
    }

    for (i = 0; i < NGX_HTTP_OBJSPACE_OP_MAX; i++) {
        if (ngx_http_objspace_s3_op_names[i].len == 0) {
            break;
        }
    }

    tap_ok(i == NGX_HTTP_OBJSPACE_OP_MAX
           && ngx_http_objspace_s3_op_names[i].len == 0,
           "an op name for every op class (%zu)", i);
}


static void
test_admin(void)
{
    size_t                      i, j;
    ngx_int_t                   rc;
    ngx_http_objspace_s3_req_t  s3;
    char                        uri[128];

    static const char  *names[] = {
        "policy", "policyStatus", "acl", "cors", "lifecycle", "versioning",
        "encryption", "replication", "tagging", "website", "logging",
        "notification", "ownershipControls", "publicAccessBlock",
        "object-lock", "accelerate", "requestPayment", "inventory",
        "metrics", "analytics", "intelligent-tiering"
    };

    static const char  *methods[] = { "GET", "PUT", "DELETE", "POST" };

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int  ok = 1;

        for (j = 0; j < 4; j++) {
            snprintf(uri, sizeof(uri), "/bkt?%s", names[i]);
            rc = parse(methods[j], "s3.example", uri, NULL, &s3);
            ok &= (rc == S3(OK) && s3.op == OP(BUCKET_ADMIN));

            snprintf(uri, sizeof(uri), "/bkt/?id=x&%s=", names[i]);
            rc = parse(methods[j], "s3.example", uri, NULL, &s3);
            ok &= (rc == S3(OK) && s3.op == OP(BUCKET_ADMIN));
        }

        rc = parse("GET", "bkt.s3.example", "/?prefix=&%s", NULL, &s3);
        snprintf(uri, sizeof(uri), "/?prefix=&%s", names[i]);
        rc = parse("PUT", "bkt.s3.example", uri, NULL, &s3);
        ok &= (rc == S3(OK) && s3.op == OP(BUCKET_ADMIN));

        tap_ok(ok, "?%s on a bucket is BucketAdmin (any method, any style)",
               names[i]);
    }

    rc = parse("PUT", "s3.example", "/bkt/key?cors", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.op == OP(BUCKET_ADMIN),
           "?cors on an object is BucketAdmin (never a PutObject)");

    rc = parse("GET", "s3.example", "/bkt?policy&foo=1", NULL, &s3);
    tap_ok(rc == S3(OK) && s3.op == OP(BUCKET_ADMIN),
           "admin plus an unknown parameter is BucketAdmin");

    rc = parse("GET", "s3.example", "/bkt?policyx", NULL, &s3);
    tap_ok(rc == S3(NOT_IMPLEMENTED), "?policyx is NotImplemented");
}


static void
test_keys(void)
{
    size_t                      i;
    u_char                     *end;
    ngx_int_t                   rc;
    ngx_http_objspace_s3_req_t  s3;
    u_char                      canon[8192], up[8192];
    ngx_str_t                   c, u;

    static const key_case_t  cases[] = {
        { "/bkt/plain.txt", S3(OK), "plain.txt", "/bkt/plain.txt",
          "/bkt/plain.txt", 0 },
        { "/bkt/a%2Fb", S3(OK), "a/b", "/bkt/a%2Fb", "/bkt/a/b", 0 },
        { "/bkt/a%2fb", S3(OK), "a/b", "/bkt/a%2Fb", "/bkt/a/b", 0 },
        { "/bkt/%2e%2e/x", S3(OK), "../x", "/bkt/../x", "/bkt/../x", 1 },
        { "/bkt/a/%2E/c", S3(OK), "a/./c", "/bkt/a/./c", "/bkt/a/./c", 1 },
        { "/bkt/a/..", S3(OK), "a/..", "/bkt/a/..", "/bkt/a/..", 1 },
        { "/bkt/.", S3(OK), ".", "/bkt/.", "/bkt/.", 1 },
        { "/bkt/a%2F..%2Fb", S3(OK), "a/../b", "/bkt/a%2F..%2Fb",
          "/bkt/a/../b", 1 },
        { "/bkt/a..b/...", S3(OK), "a..b/...", "/bkt/a..b/...",
          "/bkt/a..b/...", 0 },
        { "/bkt/.hidden/..x", S3(OK), ".hidden/..x", "/bkt/.hidden/..x",
          "/bkt/.hidden/..x", 0 },
        { "/bkt/a//c", S3(OK), "a//c", "/bkt/a//c", "/bkt/a//c", 0 },
        { "/bkt//lead", S3(OK), "/lead", "/bkt//lead", "/bkt//lead", 0 },
        { "/bkt/trail/", S3(OK), "trail/", "/bkt/trail/", "/bkt/trail/", 0 },
        { "/bkt/a+b", S3(OK), "a+b", "/bkt/a%2Bb", "/bkt/a%2Bb", 0 },
        { "/bkt/a%2Bb", S3(OK), "a+b", "/bkt/a%2Bb", "/bkt/a%2Bb", 0 },
        { "/bkt/a%20b", S3(OK), "a b", "/bkt/a%20b", "/bkt/a%20b", 0 },
        { "/bkt/a b", S3(OK), "a b", "/bkt/a%20b", "/bkt/a%20b", 0 },
        { "/bkt/100%25", S3(OK), "100%", "/bkt/100%25", "/bkt/100%25", 0 },
        { "/bkt/a=b", S3(OK), "a=b", "/bkt/a%3Db", "/bkt/a%3Db", 0 },
        { "/bkt/a%3db", S3(OK), "a=b", "/bkt/a%3Db", "/bkt/a%3Db", 0 },
        { "/bkt/~user", S3(OK), "~user", "/bkt/~user", "/bkt/~user", 0 },
        { "/bkt/%7Euser", S3(OK), "~user", "/bkt/~user", "/bkt/~user", 0 },
        { "/bkt/a-b_c.d", S3(OK), "a-b_c.d", "/bkt/a-b_c.d", "/bkt/a-b_c.d",
          0 },
        { "/bkt/a%3Fb", S3(OK), "a?b", "/bkt/a%3Fb", "/bkt/a%3Fb", 0 },
        { "/bkt/a#b", S3(OK), "a#b", "/bkt/a%23b", "/bkt/a%23b", 0 },
        { "/bkt/a!*'()", S3(OK), "a!*'()", "/bkt/a%21%2A%27%28%29",
          "/bkt/a%21%2A%27%28%29", 0 },
        { "/bkt/%C3%A9t%C3%A9", S3(OK), "\xc3\xa9t\xc3\xa9",
          "/bkt/%C3%A9t%C3%A9", "/bkt/%C3%A9t%C3%A9", 0 },
        { "/bkt/\xc3\xa9t\xc3\xa9", S3(OK), "\xc3\xa9t\xc3\xa9",
          "/bkt/%C3%A9t%C3%A9", "/bkt/%C3%A9t%C3%A9", 0 },
        { "/bkt/%e6%97%a5%e6%9c%ac", S3(OK), "\xe6\x97\xa5\xe6\x9c\xac",
          "/bkt/%E6%97%A5%E6%9C%AC", "/bkt/%E6%97%A5%E6%9C%AC", 0 },
        { "/bkt/%F0%9F%98%80", S3(OK), "\xf0\x9f\x98\x80",
          "/bkt/%F0%9F%98%80", "/bkt/%F0%9F%98%80", 0 },
        { "/bkt/%F4%8F%BF%BF", S3(OK), "\xf4\x8f\xbf\xbf",
          "/bkt/%F4%8F%BF%BF", "/bkt/%F4%8F%BF%BF", 0 },

        { "/bkt/%C3%28", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/%80", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/%C3", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/\xff", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/%C0%AF", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/%E0%80%AF", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/%ED%A0%80", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/%F4%90%80%80", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/%F8%88%80%80%80", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/a%01b", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/a%0Ab", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/a%0d%0aX-Evil:%201", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/a%1Fb", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/a%7Fb", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/a\tb", S3(INVALID_KEY), NULL, NULL, NULL, 0 },
        { "/bkt/a%00b", S3(INVALID_URI), NULL, NULL, NULL, 0 },
        { "/bkt/a%", S3(INVALID_URI), NULL, NULL, NULL, 0 },
        { "/bkt/a%2", S3(INVALID_URI), NULL, NULL, NULL, 0 },
        { "/bkt/a%G1", S3(INVALID_URI), NULL, NULL, NULL, 0 },
        { "/bkt/a%%41", S3(INVALID_URI), NULL, NULL, NULL, 0 },
        { "/bkt/%2", S3(INVALID_URI), NULL, NULL, NULL, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = parse("GET", "s3.example", cases[i].uri, NULL, &s3);

        if (cases[i].rc != S3(OK)) {
            tap_ok(rc == cases[i].rc, "key %s -> error %d (got %d)",
                   cases[i].uri, (int) cases[i].rc, (int) rc);
            continue;
        }

        end = ngx_http_objspace_s3_canonical_uri(canon, &s3.raw_path);
        c.data = canon;
        c.len = end - canon;

        end = ngx_http_objspace_s3_upstream_path(up, &s3.bucket, &s3.key);
        u.data = up;
        u.len = end - up;

        tap_ok(rc == S3(OK) && s3.op == OP(GET_OBJECT)
               && str_is(&s3.key, cases[i].key)
               && str_is(&c, cases[i].canonical)
               && str_is(&u, cases[i].upstream)
               && s3.key_has_dot_segment == cases[i].dot,
               "key %s: decoded, canonical %s, upstream %s%s",
               cases[i].uri, cases[i].canonical, cases[i].upstream,
               cases[i].dot ? ", dot segment flagged" : "");
    }

    /* canonical URI of bucket-level and empty paths */
    c = tap_str("");
    end = ngx_http_objspace_s3_canonical_uri(canon, &c);
    tap_ok(end - canon == 1 && canon[0] == '/', "canonical URI of \"\" is /");

    u = tap_str("");

    c = tap_str("bkt");
    end = ngx_http_objspace_s3_upstream_path(up, &c, &u);
    tap_ok(end - up == 4 && memcmp(up, "/bkt", 4) == 0,
           "upstream path of a bucket-level request is /bkt");

    rc = parse("GET", "bkt.s3.example", "/a%2Fb?list-type=2", NULL, &s3);
    end = ngx_http_objspace_s3_canonical_uri(canon, &s3.raw_path);
    c.data = canon;
    c.len = end - canon;
    end = ngx_http_objspace_s3_upstream_path(up, &s3.bucket, &s3.key);
    u.data = up;
    u.len = end - up;
    tap_ok(rc == S3(OK) && str_is(&c, "/a%2Fb") && str_is(&u, "/bkt/a/b"),
           "virtual-hosted: canonical URI has no bucket, upstream has it");

    c = tap_str("/bkt/a%zz");
    end = ngx_http_objspace_s3_canonical_uri(canon, &c);
    c.data = canon;
    c.len = end - canon;
    tap_ok(str_is(&c, "/bkt/a%25zz"), "canonical URI: stray %% is %%25");
}


static void
test_key_length(void)
{
    ngx_int_t                   rc;
    ngx_http_objspace_s3_req_t  s3;
    char                        uri[4096];
    size_t                      i;

    memcpy(uri, "/bkt/", 5);
    memset(uri + 5, 'k', 1024);
    uri[5 + 1024] = '\0';
    rc = parse("PUT", "s3.example", uri, NULL, &s3);
    tap_ok(rc == S3(OK) && s3.key.len == 1024, "1024-byte key accepted");

    memset(uri + 5, 'k', 1025);
    uri[5 + 1025] = '\0';
    rc = parse("PUT", "s3.example", uri, NULL, &s3);
    tap_ok(rc == S3(KEY_TOO_LONG), "1025-byte key is KeyTooLongError");

    for (i = 0; i < 1024; i++) {
        memcpy(uri + 5 + 3 * i, "%41", 3);
    }

    uri[5 + 3 * 1024] = '\0';
    rc = parse("PUT", "s3.example", uri, NULL, &s3);
    tap_ok(rc == S3(OK) && s3.key.len == 1024,
           "1024 bytes sent as 3072 escaped characters accepted");

    for (i = 0; i < 512; i++) {
        memcpy(uri + 5 + 2 * i, "\xc3\xa9", 2);
    }

    uri[5 + 1024] = '\0';
    rc = parse("PUT", "s3.example", uri, NULL, &s3);
    tap_ok(rc == S3(OK) && s3.key.len == 1024,
           "512 two-byte characters (1024 bytes) accepted");

    memcpy(uri + 5 + 1024, "x", 2);
    rc = parse("PUT", "s3.example", uri, NULL, &s3);
    tap_ok(rc == S3(KEY_TOO_LONG), "1025 bytes of UTF-8 refused");
}


static void
test_copy_source(void)
{
    size_t     i;
    ngx_int_t  rc;
    ngx_str_t  src, bucket, key;
    u_char     buf[2048];

    static const struct {
        const char  *src;
        ngx_int_t    rc;
        const char  *bucket;
        const char  *key;
    } cases[] = {
        { "/src-bucket/a%2Fb", S3(OK), "src-bucket", "a/b" },
        { "src-bucket/dir/k.txt", S3(OK), "src-bucket", "dir/k.txt" },
        { "/src-bucket/k?versionId=abc", S3(OK), "src-bucket", "k" },
        { "/src-bucket/a+b", S3(OK), "src-bucket", "a+b" },
        { "/src-bucket/a%3Fb?versionId=1", S3(OK), "src-bucket", "a?b" },
        { "/src-bucket/%2e%2e/x", S3(OK), "src-bucket", "../x" },
        { "/src-bucket//k", S3(OK), "src-bucket", "/k" },
        { "/src-bucket/%C3%A9", S3(OK), "src-bucket", "\xc3\xa9" },
        { "/src-bucket", S3(INVALID_KEY), NULL, NULL },
        { "/src-bucket/", S3(INVALID_KEY), NULL, NULL },
        { "", S3(INVALID_KEY), NULL, NULL },
        { "/", S3(INVALID_KEY), NULL, NULL },
        { "/Src/k", S3(INVALID_BUCKET), NULL, NULL },
        { "//k", S3(INVALID_BUCKET), NULL, NULL },
        { "arn:aws:s3:us-west-2:123:accesspoint/ap/object/k",
          S3(INVALID_BUCKET), NULL, NULL },
        { "/src-bucket/k?foo=1", S3(INVALID_URI), NULL, NULL },
        { "/src-bucket/k?versionId=1&x=2", S3(INVALID_URI), NULL, NULL },
        { "/src-bucket/k%zz", S3(INVALID_URI), NULL, NULL },
        { "/src-bucket/k%00", S3(INVALID_URI), NULL, NULL },
        { "/src-bucket/k%0a", S3(INVALID_KEY), NULL, NULL },
        { "/src-bucket/%ff", S3(INVALID_KEY), NULL, NULL },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        src.data = (u_char *) cases[i].src;
        src.len = strlen(cases[i].src);

        rc = ngx_http_objspace_s3_parse_copy_source(&src, buf, &bucket, &key);

        tap_ok(rc == cases[i].rc
               && (rc != S3(OK) || (str_is(&bucket, cases[i].bucket)
                                    && str_is(&key, cases[i].key))),
               "copy source \"%s\" -> %s", cases[i].src,
               rc == S3(OK) ? "bucket + key" : "error");
    }
}


static void
test_arg(void)
{
    size_t     i;
    ngx_int_t  rc;
    ngx_str_t  q, name, value;
    u_char     buf[16];

    static const struct {
        const char  *query;
        ngx_int_t    rc;
        const char  *value;
    } cases[] = {
        { "prefix=a%2Fb+c", NGX_OK, "a/b c" },
        { "list-type=2&prefix=release%2F&delimiter=/", NGX_OK, "release/" },
        { "prefix=", NGX_OK, "" },
        { "prefix", NGX_OK, "" },
        { "max-keys=1&prefix", NGX_OK, "" },
        { "%70refix=x", NGX_OK, "x" },
        { "prefix=a%2Bb", NGX_OK, "a+b" },
        { "max-keys=1", NGX_DECLINED, NULL },
        { "", NGX_DECLINED, NULL },
        { "prefixes=x&xprefix=y&Prefix=z", NGX_DECLINED, NULL },
        { "prefix=a&prefix=b", NGX_ERROR, NULL },
        { "prefix=a&%70refix=a", NGX_ERROR, NULL },
        { "prefix=%zz", NGX_ERROR, NULL },
        { "prefix=ok&marker=%z", NGX_ERROR, NULL },
        { "prefix=0123456789abcdef", NGX_ERROR, NULL },
        { "prefix=0123456789abcde", NGX_OK, "0123456789abcde" },
        { "prefix=%30123456789abcdef", NGX_ERROR, NULL },
    };

    name = tap_str("prefix");

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        q.data = (u_char *) cases[i].query;
        q.len = strlen(cases[i].query);

        rc = ngx_http_objspace_s3_arg(&q, &name, buf, 15, &value);

        tap_ok(rc == cases[i].rc
               && (rc != NGX_OK || str_is(&value, cases[i].value)),
               "arg prefix of \"%s\" -> %s", cases[i].query,
               rc == NGX_OK ? "found" : rc == NGX_DECLINED ? "absent"
                                                           : "error");
    }
}

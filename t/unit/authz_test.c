
/*
 * Copyright (C) objspace authors
 *
 * Unit tests for ngx_http_objspace_authz.c, TAP output: every operation
 * class against every permission mode, then targets (bucket, prefix,
 * listing prefix, copy source, dot segments, deny list, write-once).
 * Requests go through the real parser first, as in the module.
 */


#include "../../ngx_objspace_module/ngx_http_objspace_sigv4.c"
#include "../../ngx_objspace_module/ngx_http_objspace_s3.c"
#include "../../ngx_objspace_module/ngx_http_objspace_authz.c"

#include <stdlib.h>

#include "b_tap.h"


#define A(x)   NGX_HTTP_OBJSPACE_AUTHZ_##x
#define OP(x)  NGX_HTTP_OBJSPACE_OP_##x
#define MODE(x)  NGX_HTTP_OBJSPACE_MODE_##x

#define OK     A(OK)
#define MO     A(MODE)
#define AD     A(ADMIN)

#define NMODES  6


typedef struct {
    const char                 *method;
    const char                 *uri;
    const char                 *copy_source;
    ngx_uint_t                  op;                 /* expected class */
    ngx_uint_t                  expect[NMODES];     /* ro wo rw rwd pub reg */
} matrix_row_t;


typedef struct {
    const char                 *method;
    const char                 *host;
    const char                 *uri;
    const char                 *copy_source;
    ngx_uint_t                  expect;
    ngx_uint_t                  flags;
} target_row_t;


static ngx_uint_t check(ngx_http_objspace_identity_t *id, const char *method,
    const char *host, const char *uri, const char *copy_source,
    ngx_array_t *deny, ngx_uint_t *op, ngx_uint_t *flags);
static void identity(ngx_http_objspace_identity_t *id, ngx_uint_t mode,
    const char *bucket, const char *prefix, ngx_uint_t immutable);
static void test_matrix(void);
static void test_immutable(void);
static void test_targets(void);
static void test_deny(void);
static void test_delete_keys(void);
static void test_misc(void);


static ngx_str_t  suffixes[] = {
    ngx_string("s3.example")
};

static u_char     keybuf[8192];
static u_char     copybuf[8192];


static const ngx_uint_t  modes[NMODES] = {
    MODE(READ_ONLY), MODE(WRITE_ONLY), MODE(READ_WRITE),
    MODE(READ_WRITE_DELETE), MODE(PUBLISHER), MODE(REGISTRY)
};


int
main(void)
{
    test_matrix();
    test_immutable();
    test_targets();
    test_deny();
    test_delete_keys();
    test_misc();

    return tap_done();
}


static void
identity(ngx_http_objspace_identity_t *id, ngx_uint_t mode,
    const char *bucket, const char *prefix, ngx_uint_t immutable)
{
    ngx_memzero(id, sizeof(ngx_http_objspace_identity_t));

    id->mode = mode;
    id->bucket.data = (u_char *) bucket;
    id->bucket.len = strlen(bucket);
    id->prefix.data = (u_char *) prefix;
    id->prefix.len = strlen(prefix);
    id->immutable = immutable;
}


/*
 * Parses like the module does (request, then x-amz-copy-source) and runs
 * authz.  A parse failure is reported as 100 + the parser's error.
 */

static ngx_uint_t
check(ngx_http_objspace_identity_t *id, const char *method, const char *host,
    const char *uri, const char *copy_source, ngx_array_t *deny,
    ngx_uint_t *op, ngx_uint_t *flags)
{
    ngx_int_t                   rc;
    ngx_str_t                   m, h, u, cs, cb, ck;
    ngx_http_objspace_s3_req_t  s3;

    m.data = (u_char *) method;
    m.len = strlen(method);
    h.data = (u_char *) host;
    h.len = strlen(host);
    u.data = (u_char *) uri;
    u.len = strlen(uri);

    if (copy_source) {
        cs.data = (u_char *) copy_source;
        cs.len = strlen(copy_source);
    }

    rc = ngx_http_objspace_s3_parse(&m, &h, &u, suffixes, 1,
                                    copy_source ? &cs : NULL, keybuf, &s3);
    if (rc != NGX_HTTP_OBJSPACE_S3_OK) {
        return 100 + rc;
    }

    *op = s3.op;

    if (copy_source) {
        rc = ngx_http_objspace_s3_parse_copy_source(&cs, copybuf, &cb, &ck);
        if (rc != NGX_HTTP_OBJSPACE_S3_OK) {
            return 200 + rc;
        }
    }

    return ngx_http_objspace_authz(id, &s3, copy_source ? &cb : NULL,
                                   copy_source ? &ck : NULL, deny, flags);
}


static void
test_matrix(void)
{
    size_t                        i, j;
    ngx_uint_t                    rc, op, flags, want, bad;
    ngx_http_objspace_identity_t  id;
    char                          got[128], *p;

    static const matrix_row_t  rows[] = {
        /*                                      ro  wo  rw  rwd pub reg */
        { "GET", "/", NULL, OP(LIST_BUCKETS),   { OK, OK, OK, OK, OK, OK } },
        { "HEAD", "/space-bkt", NULL, OP(HEAD_BUCKET),
                                                { OK, OK, OK, OK, OK, MO } },
        { "GET", "/space-bkt?location", NULL, OP(GET_BUCKET_LOCATION),
                                                { OK, OK, OK, OK, OK, MO } },
        { "GET", "/space-bkt?prefix=r/&max-keys=1", NULL, OP(LIST_OBJECTS),
                                                { OK, MO, OK, OK, OK, OK } },
        { "GET", "/space-bkt?list-type=2&delimiter=/", NULL,
          OP(LIST_OBJECTS_V2),                  { OK, MO, OK, OK, OK, OK } },
        { "GET", "/space-bkt?versions", NULL, OP(LIST_OBJECT_VERSIONS),
                                                { OK, MO, OK, OK, OK, MO } },
        { "GET", "/space-bkt?uploads&prefix=", NULL,
          OP(LIST_MULTIPART_UPLOADS),           { MO, MO, OK, OK, OK, OK } },
        { "GET", "/space-bkt/r/a", NULL, OP(GET_OBJECT),
                                                { OK, MO, OK, OK, OK, OK } },
        { "HEAD", "/space-bkt/r/a", NULL, OP(HEAD_OBJECT),
                                                { OK, MO, OK, OK, OK, MO } },
        { "PUT", "/space-bkt/r/a", NULL, OP(PUT_OBJECT),
                                                { MO, OK, OK, OK, OK, OK } },
        { "PUT", "/space-bkt/r/a", "/space-bkt/r/b", OP(COPY_OBJECT),
                                                { MO, MO, OK, OK, OK, OK } },
        { "DELETE", "/space-bkt/r/a", NULL, OP(DELETE_OBJECT),
                                                { MO, MO, MO, OK, OK, MO } },
        { "POST", "/space-bkt?delete", NULL, OP(DELETE_OBJECTS),
                                                { MO, MO, MO, OK, OK, OK } },
        { "POST", "/space-bkt/r/a?uploads", NULL, OP(CREATE_MULTIPART),
                                                { MO, OK, OK, OK, OK, OK } },
        { "PUT", "/space-bkt/r/a?partNumber=1&uploadId=u", NULL,
          OP(UPLOAD_PART),                      { MO, OK, OK, OK, OK, OK } },
        { "PUT", "/space-bkt/r/a?partNumber=1&uploadId=u", "space-bkt/r/b",
          OP(UPLOAD_PART_COPY),                 { MO, MO, OK, OK, OK, OK } },
        { "POST", "/space-bkt/r/a?uploadId=u", NULL, OP(COMPLETE_MULTIPART),
                                                { MO, OK, OK, OK, OK, OK } },
        { "DELETE", "/space-bkt/r/a?uploadId=u", NULL, OP(ABORT_MULTIPART),
                                                { MO, OK, OK, OK, OK, OK } },
        { "GET", "/space-bkt/r/a?uploadId=u", NULL, OP(LIST_PARTS),
                                                { MO, OK, OK, OK, OK, OK } },
        { "GET", "/space-bkt/r/a?acl", NULL, OP(GET_OBJECT_ACL),
                                                { OK, MO, OK, OK, OK, MO } },
        { "PUT", "/space-bkt/r/a?acl", NULL, OP(PUT_OBJECT_ACL),
                                                { MO, MO, MO, MO, MO, MO } },
        { "GET", "/space-bkt/r/a?tagging", NULL, OP(GET_OBJECT_TAGGING),
                                                { OK, MO, OK, OK, OK, MO } },
        { "PUT", "/space-bkt/r/a?tagging", NULL, OP(PUT_OBJECT_TAGGING),
                                                { MO, MO, OK, OK, OK, MO } },
        { "DELETE", "/space-bkt/r/a?tagging", NULL,
          OP(DELETE_OBJECT_TAGGING),            { MO, MO, OK, OK, OK, MO } },
        { "GET", "/space-bkt/r/a?attributes", NULL,
          OP(GET_OBJECT_ATTRIBUTES),            { OK, MO, OK, OK, OK, MO } },
        { "POST", "/space-bkt/r/a?restore", NULL, OP(OBJECT_OTHER),
                                                { MO, MO, MO, MO, MO, MO } },
        { "GET", "/space-bkt/r/a?torrent", NULL, OP(OBJECT_OTHER),
                                                { MO, MO, MO, MO, MO, MO } },
        { "PUT", "/space-bkt/r/a?retention", NULL, OP(OBJECT_OTHER),
                                                { MO, MO, MO, MO, MO, MO } },
        { "PUT", "/space-bkt", NULL, OP(CREATE_BUCKET),
                                                { AD, AD, AD, AD, AD, AD } },
        { "DELETE", "/space-bkt", NULL, OP(DELETE_BUCKET),
                                                { AD, AD, AD, AD, AD, AD } },
        { "PUT", "/space-bkt?policy", NULL, OP(BUCKET_ADMIN),
                                                { AD, AD, AD, AD, AD, AD } },
        { "GET", "/space-bkt?acl", NULL, OP(BUCKET_ADMIN),
                                                { AD, AD, AD, AD, AD, AD } },
        { "PUT", "/space-bkt?versioning", NULL, OP(BUCKET_ADMIN),
                                                { AD, AD, AD, AD, AD, AD } },
        { "PUT", "/space-bkt?lifecycle", NULL, OP(BUCKET_ADMIN),
                                                { AD, AD, AD, AD, AD, AD } },
        { "DELETE", "/space-bkt?cors", NULL, OP(BUCKET_ADMIN),
                                                { AD, AD, AD, AD, AD, AD } },
        { "PUT", "/other-bkt", NULL, OP(CREATE_BUCKET),
                                                { AD, AD, AD, AD, AD, AD } },
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bad = 0;
        p = got;

        for (j = 0; j < NMODES; j++) {
            identity(&id, modes[j], "space-bkt", "", 0);

            op = 0;
            flags = 0;
            rc = check(&id, rows[i].method, "s3.example", rows[i].uri,
                       rows[i].copy_source, NULL, &op, &flags);

            want = rows[i].expect[j];

            if (rc != want || op != rows[i].op) {
                bad++;
            }

            if (rc < NGX_HTTP_OBJSPACE_AUTHZ_MAX) {
                p += snprintf(p, got + sizeof(got) - p, " %s",
                         (char *) ngx_http_objspace_authz_reasons[rc].data);

            } else {
                p += snprintf(p, got + sizeof(got) - p, " parse:%d",
                              (int) rc);
            }
        }

        tap_ok(bad == 0, "%s %s%s%s: %s; ro wo rw rwd pub reg:%s",
               rows[i].method, rows[i].uri,
               rows[i].copy_source ? " from " : "",
               rows[i].copy_source ? rows[i].copy_source : "",
               (char *) ngx_http_objspace_s3_op_names[rows[i].op].data, got);
    }

    /* the matrix above names every class at least once */
    {
        ngx_uint_t  seen[NGX_HTTP_OBJSPACE_OP_MAX];

        ngx_memzero(seen, sizeof(seen));

        for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
            seen[rows[i].op] = 1;
        }

        for (i = 1; i < NGX_HTTP_OBJSPACE_OP_MAX; i++) {
            if (!seen[i]) {
                break;
            }
        }

        tap_ok(i == NGX_HTTP_OBJSPACE_OP_MAX,
               "the mode matrix covers every operation class");
    }

    /* and the table agrees with ngx_http_objspace_authz_mode_allows() */
    bad = 0;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        for (j = 0; j < NMODES; j++) {
            if (ngx_http_objspace_authz_mode_allows(modes[j], rows[i].op)
                != (rows[i].expect[j] == OK))
            {
                bad++;
            }
        }
    }

    tap_ok(bad == 0, "mode_allows() matches the matrix");

    for (i = 0; i < NGX_HTTP_OBJSPACE_OP_MAX; i++) {
        if (ngx_http_objspace_authz_mode_allows(MODE(NONE), i)) {
            break;
        }
    }

    tap_ok(i == NGX_HTTP_OBJSPACE_OP_MAX, "mode none allows nothing");
}


static void
test_immutable(void)
{
    size_t                        i;
    ngx_uint_t                    rc, op, flags;
    ngx_http_objspace_identity_t  id;

    static const target_row_t  rows[] = {
        { "PUT", "s3.example", "/space-bkt/r/a", NULL, OK,
          NGX_HTTP_OBJSPACE_AUTHZ_NEEDS_ABSENT },
        { "PUT", "s3.example", "/space-bkt/r/a", "/space-bkt/r/b", OK,
          NGX_HTTP_OBJSPACE_AUTHZ_NEEDS_ABSENT },
        { "POST", "s3.example", "/space-bkt/r/a?uploadId=u", NULL, OK,
          NGX_HTTP_OBJSPACE_AUTHZ_NEEDS_ABSENT },
        { "POST", "s3.example", "/space-bkt/r/a?uploads", NULL, OK, 0 },
        { "PUT", "s3.example", "/space-bkt/r/a?uploadId=u&partNumber=1",
          NULL, OK, 0 },
        { "DELETE", "s3.example", "/space-bkt/r/a?uploadId=u", NULL, OK, 0 },
        { "GET", "s3.example", "/space-bkt/r/a", NULL, OK, 0 },
        { "DELETE", "s3.example", "/space-bkt/r/a", NULL, A(IMMUTABLE), 0 },
        { "POST", "s3.example", "/space-bkt?delete", NULL, A(IMMUTABLE), 0 },
        { "PUT", "s3.example", "/space-bkt/r/a?tagging", NULL, A(IMMUTABLE),
          0 },
        { "DELETE", "s3.example", "/space-bkt/r/a?tagging", NULL,
          A(IMMUTABLE), 0 },
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        identity(&id, MODE(READ_WRITE_DELETE), "space-bkt", "", 1);

        flags = 0;
        rc = check(&id, rows[i].method, rows[i].host, rows[i].uri,
                   rows[i].copy_source, NULL, &op, &flags);

        tap_ok(rc == rows[i].expect && flags == rows[i].flags,
               "immutable read-write-delete: %s %s%s -> %s%s",
               rows[i].method, rows[i].uri,
               rows[i].copy_source ? " (copy)" : "",
               (char *) ngx_http_objspace_authz_reasons[rows[i].expect].data,
               rows[i].flags ? " + needs_absent" : "");
    }

    identity(&id, MODE(READ_WRITE_DELETE), "space-bkt", "", 0);
    rc = check(&id, "PUT", "s3.example", "/space-bkt/r/a", NULL, NULL, &op,
               &flags);
    tap_ok(rc == OK && flags == 0,
           "not immutable: PutObject carries no needs_absent flag");

    identity(&id, MODE(REGISTRY), "space-bkt", "", 1);
    rc = check(&id, "POST", "s3.example", "/space-bkt?delete", NULL, NULL,
               &op, &flags);
    tap_ok(rc == A(IMMUTABLE), "immutable registry-backend: no DeleteObjects");
}


static void
test_targets(void)
{
    size_t                        i;
    ngx_uint_t                    rc, op, flags;
    ngx_http_objspace_identity_t  id;

    static const target_row_t  rows[] = {

        /* bucket: exact */
        { "GET", "s3.example", "/other-bkt/release/a", NULL, A(BUCKET), 0 },
        { "GET", "s3.example", "/space-bkt2/release/a", NULL, A(BUCKET), 0 },
        { "GET", "s3.example", "/space-bk/release/a", NULL, A(BUCKET), 0 },
        { "HEAD", "s3.example", "/other-bkt", NULL, A(BUCKET), 0 },
        { "GET", "s3.example", "/other-bkt?prefix=release/", NULL, A(BUCKET),
          0 },
        { "GET", "other-bkt.s3.example", "/release/a", NULL, A(BUCKET), 0 },
        { "GET", "s3.example", "/", NULL, OK, NGX_HTTP_OBJSPACE_AUTHZ_LOCAL },
        { "HEAD", "s3.example", "/space-bkt", NULL, OK, 0 },
        { "GET", "space-bkt.s3.example", "/?location", NULL, OK, 0 },

        /* key prefix: plain byte prefix of the decoded key */
        { "GET", "s3.example", "/space-bkt/release/a", NULL, OK, 0 },
        { "GET", "space-bkt.s3.example", "/release/a", NULL, OK, 0 },
        { "PUT", "s3.example", "/space-bkt/release/", NULL, OK, 0 },
        { "GET", "s3.example", "/space-bkt/release%2Fa", NULL, OK, 0 },
        { "GET", "s3.example", "/space-bkt/rel", NULL, A(PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt/release", NULL, A(PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt/releasex/a", NULL, A(PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt/Release/a", NULL, A(PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt//release/a", NULL, A(PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt/other/release/a", NULL, A(PREFIX),
          0 },
        { "PUT", "s3.example", "/space-bkt/private/a", NULL, A(PREFIX), 0 },
        { "POST", "s3.example", "/space-bkt/private/a?uploads", NULL,
          A(PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt/private/a?uploadId=u", NULL,
          A(PREFIX), 0 },

        /* dot segments: refused even inside the prefix */
        { "GET", "s3.example", "/space-bkt/release/../private/a", NULL,
          A(DOT_SEGMENT), 0 },
        { "GET", "s3.example", "/space-bkt/release/%2e%2e/private", NULL,
          A(DOT_SEGMENT), 0 },
        { "GET", "s3.example", "/space-bkt/release%2F%2E%2E%2Fx", NULL,
          A(DOT_SEGMENT), 0 },
        { "PUT", "s3.example", "/space-bkt/release/./a", NULL,
          A(DOT_SEGMENT), 0 },
        { "GET", "s3.example", "/space-bkt/release/a/..", NULL,
          A(DOT_SEGMENT), 0 },
        { "GET", "s3.example", "/space-bkt/release/..a/b.", NULL, OK, 0 },

        /* listings: refused, not confined */
        { "GET", "s3.example", "/space-bkt?prefix=release/", NULL, OK, 0 },
        { "GET", "s3.example", "/space-bkt?prefix=release/sub&max-keys=1",
          NULL, OK, 0 },
        { "GET", "s3.example", "/space-bkt?prefix=release%2F", NULL, OK, 0 },
        { "GET", "s3.example", "/space-bkt?delimiter=/&prefix=release/"
          "&list-type=2", NULL, OK, 0 },
        { "GET", "space-bkt.s3.example", "/?list-type=2&prefix=release/",
          NULL, OK, 0 },
        { "GET", "s3.example", "/space-bkt?uploads&prefix=release/", NULL,
          OK, 0 },
        { "GET", "s3.example", "/space-bkt?versions&prefix=release/x", NULL,
          OK, 0 },
        { "GET", "s3.example", "/space-bkt", NULL, A(LIST_PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt?list-type=2", NULL,
          A(LIST_PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt?prefix=", NULL, A(LIST_PREFIX),
          0 },
        { "GET", "s3.example", "/space-bkt?prefix", NULL, A(LIST_PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt?prefix=rel", NULL,
          A(LIST_PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt?prefix=release", NULL,
          A(LIST_PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt?prefix=release+", NULL,
          A(LIST_PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt?prefix=private/", NULL,
          A(LIST_PREFIX), 0 },
        { "GET", "s3.example", "/space-bkt?prefix=release/&prefix=", NULL,
          100 + NGX_HTTP_OBJSPACE_S3_INVALID_URI, 0 },
        { "GET", "s3.example", "/space-bkt?prefixes=release/", NULL,
          100 + NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED, 0 },
        { "GET", "s3.example", "/space-bkt?uploads", NULL, A(LIST_PREFIX),
          0 },
        { "GET", "s3.example", "/space-bkt?versions&prefix=r", NULL,
          A(LIST_PREFIX), 0 },

        /* copy source: same bucket, inside the prefix */
        { "PUT", "s3.example", "/space-bkt/release/b",
          "/space-bkt/release/a", OK, 0 },
        { "PUT", "s3.example", "/space-bkt/release/b",
          "space-bkt/release/a?versionId=1", OK, 0 },
        { "PUT", "s3.example", "/space-bkt/release/b?partNumber=1&uploadId=u",
          "/space-bkt/release/a", OK, 0 },
        { "PUT", "s3.example", "/space-bkt/release/b",
          "/other-bkt/release/a", A(COPY_SOURCE), 0 },
        { "PUT", "s3.example", "/space-bkt/release/b",
          "/space-bkt/private/a", A(COPY_SOURCE), 0 },
        { "PUT", "s3.example", "/space-bkt/release/b",
          "/space-bkt/release/../private/a", A(COPY_SOURCE), 0 },
        { "PUT", "s3.example", "/space-bkt/release/b?partNumber=1&uploadId=u",
          "/space-bkt/private/a", A(COPY_SOURCE), 0 },
        { "PUT", "s3.example", "/space-bkt/private/b",
          "/space-bkt/release/a", A(PREFIX), 0 },

        /* DeleteObjects: allowed, then every body key is checked */
        { "POST", "s3.example", "/space-bkt?delete", NULL, OK,
          NGX_HTTP_OBJSPACE_AUTHZ_CHECK_KEYS },
        { "POST", "other-bkt.s3.example", "/?delete", NULL, A(BUCKET), 0 },

        /* admin is admin whatever the bucket */
        { "PUT", "s3.example", "/space-bkt?policy", NULL, A(ADMIN), 0 },
        { "DELETE", "s3.example", "/space-bkt", NULL, A(ADMIN), 0 },
    };

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        identity(&id, MODE(PUBLISHER), "space-bkt", "release/", 0);

        flags = 0;
        rc = check(&id, rows[i].method, rows[i].host, rows[i].uri,
                   rows[i].copy_source, NULL, &op, &flags);

        tap_ok(rc == rows[i].expect && flags == rows[i].flags,
               "publisher in space-bkt/release/: %s %s%s%s%s -> %s "
               "(got %d)", rows[i].method,
               strcmp(rows[i].host, "s3.example") ? rows[i].host : "",
               rows[i].uri, rows[i].copy_source ? " from " : "",
               rows[i].copy_source ? rows[i].copy_source : "",
               rows[i].expect < A(MAX)
               ? (char *) ngx_http_objspace_authz_reasons[rows[i].expect].data
               : "parse error", (int) rc);
    }

    /* a whole-bucket identity lists without a prefix */
    identity(&id, MODE(READ_ONLY), "space-bkt", "", 0);
    rc = check(&id, "GET", "s3.example", "/space-bkt?list-type=2", NULL,
               NULL, &op, &flags);
    tap_ok(rc == OK, "whole-bucket identity: listing without prefix");

    rc = check(&id, "GET", "s3.example", "/space-bkt/a/../b", NULL, NULL,
               &op, &flags);
    tap_ok(rc == A(DOT_SEGMENT),
           "whole-bucket identity: dot segments refused too");

    rc = check(&id, "GET", "s3.example", "/space-bkt//a", NULL, NULL,
               &op, &flags);
    tap_ok(rc == OK, "whole-bucket identity: key \"/a\" allowed");

    identity(&id, MODE(REGISTRY), "space-bkt", "docker/", 0);
    rc = check(&id, "GET", "s3.example",
               "/space-bkt?max-keys=1&prefix=docker%2Fregistry%2Fv2%2F"
               "repositories%2Fdemo", NULL, NULL, &op, &flags);
    tap_ok(rc == OK, "registry-backend: existence check by listing");

    rc = check(&id, "GET", "s3.example",
               "/space-bkt?list-type=2&delimiter=/&prefix=docker/", NULL,
               NULL, &op, &flags);
    tap_ok(rc == OK, "registry-backend: catalog listing v2");

    rc = check(&id, "GET", "s3.example", "/space-bkt?uploads&prefix=", NULL,
               NULL, &op, &flags);
    tap_ok(rc == A(LIST_PREFIX),
           "registry-backend: ListMultipartUploads with prefix= is wider "
           "than docker/");

    identity(&id, MODE(READ_ONLY), "", "", 0);
    rc = check(&id, "GET", "s3.example", "/space-bkt/a", NULL, NULL, &op,
               &flags);
    tap_ok(rc == A(BUCKET), "identity without a bucket reaches nothing");
}


static void
test_deny(void)
{
    size_t                        i;
    ngx_uint_t                    rc, op, flags;
    ngx_array_t                   deny;
    ngx_http_objspace_identity_t  id;

    static ngx_str_t  entries[] = {
        ngx_string("/space-bkt/internal/"),
        ngx_string("/rustshare-meta/"),
        ngx_string("blobs/"),
        ngx_string("apps/rustshare/"),
        ngx_string("/"),
        ngx_string("")
    };

    static const struct {
        const char  *bucket;
        const char  *method;
        const char  *uri;
        const char  *copy_source;
        ngx_uint_t   expect;
    } rows[] = {
        { "space-bkt", "GET", "/space-bkt/internal/x", NULL, A(DENY_PREFIX) },
        { "space-bkt", "PUT", "/space-bkt/internal/", NULL, A(DENY_PREFIX) },
        { "space-bkt", "GET", "/space-bkt/internal%2Fx", NULL,
          A(DENY_PREFIX) },
        { "space-bkt", "GET", "/space-bkt/internalx", NULL, OK },
        { "space-bkt", "GET", "/space-bkt/intern", NULL, OK },
        { "space-bkt", "GET", "/space-bkt/public/internal/x", NULL, OK },
        { "space-bkt", "HEAD", "/space-bkt", NULL, OK },
        { "space-bkt", "POST", "/space-bkt?delete", NULL, OK },
        { "space-bkt", "GET", "/space-bkt?prefix=public/", NULL, OK },
        { "space-bkt", "GET", "/space-bkt?prefix=internal/a", NULL,
          A(DENY_PREFIX) },
        { "space-bkt", "GET", "/space-bkt?prefix=inter", NULL,
          A(DENY_PREFIX) },
        { "space-bkt", "GET", "/space-bkt?list-type=2", NULL,
          A(DENY_PREFIX) },
        { "space-bkt", "PUT", "/space-bkt/public/a", "/space-bkt/internal/x",
          A(COPY_SOURCE) },
        { "space-bkt", "PUT", "/space-bkt/internal/a", "/space-bkt/public/x",
          A(DENY_PREFIX) },
        { "rustshare-meta", "GET", "/rustshare-meta/k", NULL,
          A(DENY_PREFIX) },
        { "rustshare-meta", "HEAD", "/rustshare-meta", NULL,
          A(DENY_PREFIX) },
        { "rustshare-meta", "GET", "/rustshare-meta?location", NULL,
          A(DENY_PREFIX) },
        { "rustshare-meta", "POST", "/rustshare-meta?delete", NULL,
          A(DENY_PREFIX) },
        { "rustshare-meta", "GET", "/rustshare-meta?prefix=x", NULL,
          A(DENY_PREFIX) },
        { "blobs", "GET", "/blobs/x", NULL, OK },
        { "blobs", "GET", "/blobs/blobs/x", NULL, A(DENY_PREFIX) },
        { "blobsy", "GET", "/blobsy/x", NULL, OK },
        { "blobsy", "GET", "/blobsy", NULL, OK },

        /* key-relative entries: in every bucket, whatever the scope */
        { "other-bkt", "GET", "/other-bkt/blobs/x", NULL, A(DENY_PREFIX) },
        { "other-bkt", "HEAD", "/other-bkt/blobs/x", NULL, A(DENY_PREFIX) },
        { "other-bkt", "PUT", "/other-bkt/blobs/", NULL, A(DENY_PREFIX) },
        { "other-bkt", "PUT", "/other-bkt/blobs%2Fx", NULL, A(DENY_PREFIX) },
        { "other-bkt", "DELETE", "/other-bkt/apps/rustshare/db", NULL,
          A(DENY_PREFIX) },
        { "other-bkt", "POST", "/other-bkt/blobs/x?uploads", NULL,
          A(DENY_PREFIX) },
        { "other-bkt", "GET", "/other-bkt/apps/rustshare", NULL, OK },
        { "other-bkt", "GET", "/other-bkt/apps/other/x", NULL, OK },
        { "other-bkt", "GET", "/other-bkt/blobs", NULL, OK },
        { "other-bkt", "GET", "/other-bkt/Blobs/x", NULL, OK },
        { "other-bkt", "GET", "/other-bkt/x/blobs/y", NULL, OK },
        { "other-bkt", "PUT", "/other-bkt/x", "/other-bkt/blobs/y",
          A(COPY_SOURCE) },
        { "other-bkt", "PUT", "/other-bkt/blobs/y", "/other-bkt/x",
          A(DENY_PREFIX) },
        { "other-bkt", "GET", "/other-bkt?prefix=blobs/", NULL,
          A(DENY_PREFIX) },
        { "other-bkt", "GET", "/other-bkt?list-type=2&prefix=blobs%2Fa",
          NULL, A(DENY_PREFIX) },
        { "other-bkt", "GET", "/other-bkt?versions&prefix=apps/rustshare/",
          NULL, A(DENY_PREFIX) },
        { "other-bkt", "GET", "/other-bkt?uploads&prefix=blobs/", NULL,
          A(DENY_PREFIX) },
        { "other-bkt", "GET", "/other-bkt?list-type=2", NULL, OK },
        { "other-bkt", "GET", "/other-bkt?prefix=blobs", NULL, OK },
        { "other-bkt", "GET", "/other-bkt?prefix=apps/", NULL, OK },
        { "other-bkt", "HEAD", "/other-bkt", NULL, OK },
        { "other-bkt", "POST", "/other-bkt?delete", NULL, OK },
    };

    deny.elts = entries;
    deny.nelts = sizeof(entries) / sizeof(entries[0]);
    deny.size = sizeof(ngx_str_t);

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        identity(&id, MODE(READ_WRITE_DELETE), rows[i].bucket, "", 0);

        rc = check(&id, rows[i].method, "s3.example", rows[i].uri,
                   rows[i].copy_source, &deny, &op, &flags);

        tap_ok(rc == rows[i].expect,
               "deny [/space-bkt/internal/ /rustshare-meta/ blobs/ "
               "apps/rustshare/]: "
               "%s %s%s%s -> %s (got %d)", rows[i].method, rows[i].uri,
               rows[i].copy_source ? " from " : "",
               rows[i].copy_source ? rows[i].copy_source : "",
               (char *) ngx_http_objspace_authz_reasons[rows[i].expect].data,
               (int) rc);
    }

    for (i = 0; i < NMODES; i++) {
        identity(&id, modes[i], "rustshare-meta", "", 0);
        rc = check(&id, "GET", "s3.example", "/rustshare-meta/k?uploadId=u",
                   NULL, &deny, &op, &flags);

        if (rc != A(DENY_PREFIX) && rc != A(MODE)) {
            break;
        }

        identity(&id, modes[i], "rustshare-meta", "", 0);
        rc = check(&id, "PUT", "s3.example", "/rustshare-meta/k", NULL,
                   &deny, &op, &flags);

        if (rc != A(DENY_PREFIX) && rc != A(MODE)) {
            break;
        }
    }

    tap_ok(i == NMODES, "the deny list applies to every mode");
}


static void
test_delete_keys(void)
{
    size_t                        i;
    ngx_str_t                     key;
    ngx_array_t                   deny;
    ngx_http_objspace_identity_t  id;
    u_char                        big[1100];

    static ngx_str_t  entries[] = {
        ngx_string("/space-bkt/release/internal/"),
        ngx_string("blobs/")
    };

    static const struct {
        const char  *key;
        ngx_uint_t   expect;
    } rows[] = {
        { "release/a", OK },
        { "release/sub/dir/b.deb", OK },
        { "release/", OK },
        { "other/a", A(PREFIX) },
        { "rel", A(PREFIX) },
        { "/release/a", A(PREFIX) },
        { "release/../other", A(DOT_SEGMENT) },
        { "release/./a", A(DOT_SEGMENT) },
        { "release/internal/x", A(DENY_PREFIX) },
        { "blobs/x", A(PREFIX) },
        { "", A(INVALID_KEY) },
        { "release/\x01", A(INVALID_KEY) },
        { "release/\xc3", A(INVALID_KEY) },
        { "release/\x7f", A(INVALID_KEY) },
    };

    deny.elts = entries;
    deny.nelts = 2;
    deny.size = sizeof(ngx_str_t);

    identity(&id, MODE(PUBLISHER), "space-bkt", "release/", 0);

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        key.data = (u_char *) rows[i].key;
        key.len = strlen(rows[i].key);

        tap_ok(ngx_http_objspace_authz_key(&id, &key, &deny)
               == rows[i].expect,
               "DeleteObjects body key \"%s\" -> %s", rows[i].key,
               (char *) ngx_http_objspace_authz_reasons[rows[i].expect].data);
    }

    memcpy(big, "release/", 8);
    memset(big + 8, 'x', sizeof(big) - 8);
    key.data = big;
    key.len = 1025;
    tap_ok(ngx_http_objspace_authz_key(&id, &key, &deny) == A(INVALID_KEY),
           "DeleteObjects body key of 1025 bytes -> invalid_key");

    key.len = 1024;
    tap_ok(ngx_http_objspace_authz_key(&id, &key, &deny) == OK,
           "DeleteObjects body key of 1024 bytes -> ok");

    identity(&id, MODE(PUBLISHER), "space-bkt", "", 0);
    ngx_str_set(&key, "blobs/x");
    tap_ok(ngx_http_objspace_authz_key(&id, &key, &deny) == A(DENY_PREFIX),
           "DeleteObjects body key \"blobs/x\", whole-bucket identity "
           "-> deny_prefix");

    ngx_str_set(&key, "release/internal/x");
    tap_ok(ngx_http_objspace_authz_key(&id, &key, &deny) == A(DENY_PREFIX),
           "DeleteObjects body key under an anchored entry -> deny_prefix");

    ngx_str_set(&key, "blobsx");
    tap_ok(ngx_http_objspace_authz_key(&id, &key, &deny) == OK,
           "DeleteObjects body key \"blobsx\" -> ok");
}


static void
test_misc(void)
{
    size_t                        i;
    ngx_uint_t                    rc, flags;
    ngx_str_t                     s;
    ngx_http_objspace_identity_t  id;
    ngx_http_objspace_s3_req_t    s3;

    static const struct {
        const char  *name;
        ngx_uint_t   mode;
    } names[] = {
        { "read-only", MODE(READ_ONLY) },
        { "write-only", MODE(WRITE_ONLY) },
        { "read-write", MODE(READ_WRITE) },
        { "read-write-delete", MODE(READ_WRITE_DELETE) },
        { "publisher", MODE(PUBLISHER) },
        { "registry-backend", MODE(REGISTRY) },
        { "registry", MODE(NONE) },
        { "Read-Only", MODE(NONE) },
        { "read-onl", MODE(NONE) },
        { "", MODE(NONE) },
        { "none", MODE(NONE) },
    };

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        s.data = (u_char *) names[i].name;
        s.len = strlen(names[i].name);

        tap_ok(ngx_http_objspace_authz_parse_mode(&s) == names[i].mode,
               "mode \"%s\" parses to %d", names[i].name,
               (int) names[i].mode);
    }

    for (i = 0; i < A(MAX); i++) {
        if (ngx_http_objspace_authz_reasons[i].len == 0) {
            break;
        }
    }

    tap_ok(i == A(MAX) && ngx_http_objspace_authz_reasons[i].len == 0,
           "a reason name for every reason (%zu)", i);

    ngx_memzero(&s3, sizeof(s3));
    s3.bucket = tap_str("space-bkt");
    s3.key = tap_str("k");

    identity(&id, MODE(READ_WRITE_DELETE), "space-bkt", "", 0);

    s3.op = NGX_HTTP_OBJSPACE_OP_UNKNOWN;
    rc = ngx_http_objspace_authz(&id, &s3, NULL, NULL, NULL, &flags);
    tap_ok(rc == A(UNKNOWN_OP), "op Unknown -> unknown_op");

    s3.op = NGX_HTTP_OBJSPACE_OP_MAX;
    rc = ngx_http_objspace_authz(&id, &s3, NULL, NULL, NULL, &flags);
    tap_ok(rc == A(UNKNOWN_OP), "op out of range -> unknown_op");

    s3.op = NGX_HTTP_OBJSPACE_OP_LIST_OBJECTS;
    rc = ngx_http_objspace_authz(&id, &s3, NULL, NULL, NULL, &flags);
    tap_ok(rc == A(UNKNOWN_OP), "a listing with a key -> unknown_op");

    s3.op = NGX_HTTP_OBJSPACE_OP_GET_OBJECT;
    s3.key.len = 0;
    rc = ngx_http_objspace_authz(&id, &s3, NULL, NULL, NULL, &flags);
    tap_ok(rc == A(UNKNOWN_OP), "an object op without a key -> unknown_op");

    s3.op = NGX_HTTP_OBJSPACE_OP_COPY_OBJECT;
    s3.key = tap_str("k");
    rc = ngx_http_objspace_authz(&id, &s3, NULL, NULL, NULL, &flags);
    tap_ok(rc == A(COPY_SOURCE), "CopyObject without a source -> copy_source");

    identity(&id, MODE(NONE), "space-bkt", "", 0);
    s3.op = NGX_HTTP_OBJSPACE_OP_LIST_BUCKETS;
    rc = ngx_http_objspace_authz(&id, &s3, NULL, NULL, NULL, &flags);
    tap_ok(rc == A(MODE), "mode none: even ListBuckets refused");

    identity(&id, 77, "space-bkt", "", 0);
    s3.op = NGX_HTTP_OBJSPACE_OP_GET_OBJECT;
    rc = ngx_http_objspace_authz(&id, &s3, NULL, NULL, NULL, &flags);
    tap_ok(rc == A(MODE), "mode out of range refused");
}

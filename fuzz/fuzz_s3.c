
/*
 * Copyright (C) objspace authors
 *
 * libFuzzer target for the S3 request router (ngx_http_objspace_s3.c) and
 * authorization (ngx_http_objspace_authz.c).
 *
 * Input: "METHOD\nHOST\nTARGET[\nCOPY-SOURCE]", split on the first three
 * newlines (the target may not hold one: nginx never passes one).  Checks,
 * besides memory safety under ASan/UBSan:
 *   - a parsed key is valid (length, UTF-8, no controls) and the bucket is
 *     3-63 bytes or empty;
 *   - the upstream path parses back (path-style) to the same bucket and
 *     key: what we authorise is what the backend gets;
 *   - canonical URI and upstream path stay inside their documented sizes;
 *   - authz never allows bucket administration, another bucket, a key
 *     outside the identity's prefix or with a dot segment.
 */


#include "../ngx_objspace_module/ngx_http_objspace_sigv4.c"
#include "../ngx_objspace_module/ngx_http_objspace_s3.c"
#include "../ngx_objspace_module/ngx_http_objspace_authz.c"

#include <stdlib.h>


static void fuzz_authz(ngx_http_objspace_s3_req_t *s3, ngx_str_t *cb,
    ngx_str_t *ck);


static ngx_str_t  suffixes[] = {
    ngx_string("s3.example"),
    ngx_string("s3.localhost")
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                      *p, *last, *nl[3], *buf, *cbuf, *canon, *up;
    u_char                      *end, *buf2;
    size_t                       i, n;
    ngx_int_t                    rc, crc;
    ngx_str_t                    method, host, uri, cs, cb, ck, name, value;
    ngx_str_t                    path, get, empty;
    ngx_http_objspace_s3_req_t   s3, s3b;

    p = (u_char *) data;
    last = p + size;

    for (i = 0, n = 0; i < 3; i++) {
        nl[i] = ngx_strlchr(p, last, '\n');

        if (nl[i] == NULL) {
            break;
        }

        n++;
        p = nl[i] + 1;
    }

    if (n < 2) {
        return 0;
    }

    method.data = (u_char *) data;
    method.len = nl[0] - method.data;
    host.data = nl[0] + 1;
    host.len = nl[1] - host.data;
    uri.data = nl[1] + 1;
    uri.len = (n == 3 ? nl[2] : last) - uri.data;

    if (n == 3) {
        cs.data = nl[2] + 1;
        cs.len = last - cs.data;
    }

    buf = malloc(uri.len + 1);
    canon = malloc(3 * uri.len + 1);
    cbuf = malloc(n == 3 ? cs.len + 1 : 1);

    if (buf == NULL || canon == NULL || cbuf == NULL) {
        abort();
    }

    crc = -1;

    if (n == 3) {
        crc = ngx_http_objspace_s3_parse_copy_source(&cs, cbuf, &cb, &ck);

        if (crc == NGX_HTTP_OBJSPACE_S3_OK
            && (ngx_http_objspace_s3_check_key(&ck) != NGX_HTTP_OBJSPACE_S3_OK
                || cb.len < 3 || cb.len > NGX_HTTP_OBJSPACE_MAX_BUCKET_LEN))
        {
            abort();
        }
    }

    rc = ngx_http_objspace_s3_parse(&method, &host, &uri, suffixes, 2,
                                    n == 3 ? &cs : NULL, buf, &s3);

    if (rc == NGX_HTTP_OBJSPACE_S3_OK) {

        if (s3.op == NGX_HTTP_OBJSPACE_OP_UNKNOWN
            || s3.op >= NGX_HTTP_OBJSPACE_OP_MAX
            || (s3.bucket.len
                && (s3.bucket.len < 3
                    || s3.bucket.len > NGX_HTTP_OBJSPACE_MAX_BUCKET_LEN))
            || (s3.key.len
                && ngx_http_objspace_s3_check_key(&s3.key)
                   != NGX_HTTP_OBJSPACE_S3_OK)
            || (s3.key.len && s3.bucket.len == 0)
            || s3.key_has_dot_segment
               != ngx_http_objspace_s3_has_dot_segment(&s3.key))
        {
            abort();
        }

        end = ngx_http_objspace_s3_canonical_uri(canon, &s3.raw_path);
        if ((size_t) (end - canon) > 3 * s3.raw_path.len + 1) {
            abort();
        }

        up = malloc(2 + s3.bucket.len + 3 * s3.key.len);
        buf2 = malloc(2 + s3.bucket.len + 3 * s3.key.len);
        if (up == NULL || buf2 == NULL) {
            abort();
        }

        end = ngx_http_objspace_s3_upstream_path(up, &s3.bucket, &s3.key);

        if ((size_t) (end - up) > 2 + s3.bucket.len + 3 * s3.key.len) {
            abort();
        }

        /* the backend sees exactly the bucket and key we looked at */

        if (s3.bucket.len) {
            path.data = up;
            path.len = end - up;
            ngx_str_set(&get, "GET");
            empty.len = 0;
            empty.data = NULL;

            if (ngx_http_objspace_s3_parse(&get, &empty, &path, suffixes, 2,
                                           NULL, buf2, &s3b)
                != NGX_HTTP_OBJSPACE_S3_OK
                || s3b.bucket.len != s3.bucket.len
                || ngx_memcmp(s3b.bucket.data, s3.bucket.data,
                              s3.bucket.len) != 0
                || s3b.key.len != s3.key.len
                || ngx_memcmp(s3b.key.data, s3.key.data, s3.key.len) != 0)
            {
                abort();
            }
        }

        fuzz_authz(&s3, crc == NGX_HTTP_OBJSPACE_S3_OK ? &cb : NULL,
                   crc == NGX_HTTP_OBJSPACE_S3_OK ? &ck : NULL);

        free(up);
        free(buf2);
    }

    ngx_str_set(&name, "prefix");
    (void) ngx_http_objspace_s3_arg(&uri, &name, buf, uri.len, &value);

    free(buf);
    free(canon);
    free(cbuf);

    return 0;
}


static void
fuzz_authz(ngx_http_objspace_s3_req_t *s3, ngx_str_t *cb, ngx_str_t *ck)
{
    uint64_t                      bit;
    ngx_uint_t                    mode, rc, flags;
    ngx_array_t                   deny;
    ngx_http_objspace_identity_t  id;

    static ngx_str_t  entries[] = {
        ngx_string("/space-bkt/release/internal/"),
        ngx_string("release/blobs/"),
        ngx_string("/other-bkt/")
    };

    deny.elts = entries;
    deny.nelts = 3;
    deny.size = sizeof(ngx_str_t);

    for (mode = NGX_HTTP_OBJSPACE_MODE_READ_ONLY;
         mode <= NGX_HTTP_OBJSPACE_MODE_REGISTRY;
         mode++)
    {
        ngx_memzero(&id, sizeof(id));
        id.mode = mode;
        ngx_str_set(&id.bucket, "space-bkt");
        ngx_str_set(&id.prefix, "release/");
        id.immutable = mode & 1;

        rc = ngx_http_objspace_authz(&id, s3, cb, ck, &deny, &flags);

        if (rc >= NGX_HTTP_OBJSPACE_AUTHZ_MAX) {
            abort();
        }

        if (rc != NGX_HTTP_OBJSPACE_AUTHZ_OK
            || s3->op == NGX_HTTP_OBJSPACE_OP_LIST_BUCKETS)
        {
            continue;
        }

        bit = (uint64_t) 1 << s3->op;

        if ((bit & NGX_HTTP_OBJSPACE_OPS_ADMIN)
            || !ngx_http_objspace_authz_mode_allows(mode, s3->op)
            || s3->bucket.len != 9
            || ngx_memcmp(s3->bucket.data, "space-bkt", 9) != 0
            || (s3->key.len
                && (s3->key.len < 8
                    || ngx_memcmp(s3->key.data, "release/", 8) != 0
                    || s3->key_has_dot_segment
                    || (s3->key.len >= 14
                        && ngx_memcmp(s3->key.data, "release/blobs/", 14)
                           == 0)))
            || (id.immutable && (bit & NGX_HTTP_OBJSPACE_OPS_MUTATE)))
        {
            abort();
        }

        (void) ngx_http_objspace_authz_key(&id, &s3->key, &deny);
    }
}

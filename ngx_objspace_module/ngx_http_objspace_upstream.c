
/*
 * Copyright (C) objspace authors
 *
 * ngx_http_objspace_upstream.c:
 * The request for the backend: path-style canonical URI, headers
 * without the client's credential, re-signed with the space's backend key.
 */


#include "ngx_http_objspace_gateway.h"


static ngx_int_t ngx_http_objspace_kv_cmp(const void *one, const void *two);
static ngx_int_t ngx_http_objspace_upstream_query(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_str_t *out);

/*
 * Rewrites the request for the backend: path-style canonical URI, query
 * without presigned parameters, headers without the client's credential and
 * aws-chunked framing, plus a fresh X-Amz-Date / X-Amz-Content-Sha256 /
 * Authorization signed with the space's backend key.
 */

ngx_int_t
ngx_http_objspace_upstream(ngx_http_request_t *r, ngx_http_objspace_ctx_t *ctx)
{
    u_char                           *p, *last;
    size_t                            len;
    ngx_int_t                         rc;
    ngx_str_t                         query, hash, ce;
    ngx_uint_t                        i, n, streaming;
    ngx_list_t                        headers;
    ngx_list_part_t                  *part;
    ngx_table_elt_t                  *h, *nh;
    ngx_http_objspace_kv_t           *kv;
    ngx_http_objspace_sigv4_creq_t    creq;
    ngx_http_objspace_loc_conf_t     *olcf;
    ngx_http_objspace_backend_req_t   br;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    streaming = (ctx->payload_hash.len > 10
                 && ngx_strncmp(ctx->payload_hash.data, "STREAMING-", 10)
                    == 0);

    /* URI */

    if (ngx_http_objspace_upstream_query(r, ctx, &query) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 2 + ctx->s3.bucket.len + 3 * ctx->s3.key.len + 1 + query.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->upstream_uri.data = p;

    if (ctx->s3.bucket.len) {
        last = ngx_http_objspace_s3_upstream_path(p, &ctx->s3.bucket,
                                                  &ctx->s3.key);
    } else {
        last = p;
        *last++ = '/';
    }

    /* the canonical URI of the backend request is the path we send */

    creq.canonical_uri.data = p;
    creq.canonical_uri.len = last - p;

    if (query.len) {
        *last++ = '?';
        last = ngx_cpymem(last, query.data, query.len);
    }

    ctx->upstream_uri.len = last - p;

    /* payload hash for the backend */

    if (streaming) {
        ngx_str_set(&hash, "UNSIGNED-PAYLOAD");

    } else {
        hash = ctx->payload_hash;
    }

    /* the new header list */

    n = 0;
    part = &r->headers_in.headers.part;

    while (part) {
        n += part->nelts;
        part = part->next;
    }

    if (ngx_list_init(&headers, r->pool, n + 4, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kv = ngx_palloc(r->pool, (n + 4) * sizeof(ngx_http_objspace_kv_t));
    if (kv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    kv[n].key.data = (u_char *) "host";
    kv[n].key.len = 4;
    kv[n].value = olcf->backend_host;
    n++;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

#define ngx_http_objspace_is(name)                                            \
        (h[i].key.len == sizeof(name) - 1                                     \
         && ngx_strncmp(h[i].lowcase_key, name, sizeof(name) - 1) == 0)

        if (ngx_http_objspace_is("authorization")
            || ngx_http_objspace_is("x-amz-date")
            || ngx_http_objspace_is("x-amz-content-sha256")
            || ngx_http_objspace_is("x-amz-security-token")
            || ngx_http_objspace_is("host"))
        {
            continue;
        }

        if ((ctx->authz_flags & NGX_HTTP_OBJSPACE_AUTHZ_NEEDS_ABSENT)
            && (ngx_http_objspace_is("if-none-match")
                || ngx_http_objspace_is("if-match")))
        {
            continue;
        }

        if (streaming
            && (ngx_http_objspace_is("x-amz-decoded-content-length")
                || ngx_http_objspace_is("x-amz-trailer")
                || ngx_http_objspace_is("x-amz-sdk-checksum-algorithm")))
        {
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *nh = h[i];

        if (streaming && ngx_http_objspace_is("content-encoding")) {

            /* drop the "aws-chunked" coding, keep any other */

            ce = h[i].value;
            p = ngx_strlcasestrn(ce.data, ce.data + ce.len,
                                 (u_char *) "aws-chunked", 11 - 1);

            if (p) {
                last = p + 11;

                while (last < ce.data + ce.len
                       && (*last == ',' || *last == ' '))
                {
                    last++;
                }

                nh->value.data = ngx_pnalloc(r->pool, ce.len);
                if (nh->value.data == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                nh->value.len =
                    ngx_cpymem(ngx_cpymem(nh->value.data, ce.data,
                                          p - ce.data),
                               last, ce.data + ce.len - last)
                    - nh->value.data;

                while (nh->value.len
                       && (nh->value.data[nh->value.len - 1] == ','
                           || nh->value.data[nh->value.len - 1] == ' '))
                {
                    nh->value.len--;
                }

                if (nh->value.len == 0) {
                    headers.last->nelts--;
                    continue;
                }
            }
        }

        if (h[i].key.len > 6
            && ngx_strncmp(h[i].lowcase_key, "x-amz-", 6) == 0)
        {
            if (n >= NGX_HTTP_OBJSPACE_MAX_SIGNED - 2) {
                return ngx_http_objspace_fail(r, ctx,
                                        NGX_HTTP_OBJSPACE_E_INVALID_ARGUMENT,
                                        "too many x-amz headers");
            }

            kv[n].key.data = h[i].lowcase_key;
            kv[n].key.len = h[i].key.len;
            kv[n].value = nh->value;
            n++;
        }

#undef ngx_http_objspace_is
    }

    if (ctx->authz_flags & NGX_HTTP_OBJSPACE_AUTHZ_NEEDS_ABSENT) {

        /*
         * Write-once identity: the backend creates the object only if the
         * key does not exist yet, atomically, so of two racing writes to a
         * new key exactly one wins (412 PreconditionFailed for the other).
         */

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        nh->hash = 1;
        ngx_str_set(&nh->key, "If-None-Match");
        nh->lowcase_key = (u_char *) "if-none-match";
        ngx_str_set(&nh->value, "*");
    }

    /* sign: kv gets x-amz-date and x-amz-content-sha256 */

    br.method = r->method_name;
    br.uri = creq.canonical_uri;
    br.query = query;
    br.payload_hash = hash;
    br.headers = kv;
    br.nheaders = n;

    rc = ngx_http_objspace_backend_sign(r, ctx->id, &br);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_BUSY) {
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_UNAVAILABLE,
                                      "space changed during the request");
    }

    if (rc != NGX_OK) {
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_INTERNAL,
                                      rc == NGX_DECLINED
                                      ? "backend canonical request"
                                      : "backend key unavailable");
    }

    nh = ngx_list_push(&headers);
    if (nh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nh->hash = 1;
    ngx_str_set(&nh->key, "X-Amz-Date");
    nh->lowcase_key = (u_char *) "x-amz-date";
    nh->value = br.amz_date;

    nh = ngx_list_push(&headers);
    if (nh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nh->hash = 1;
    ngx_str_set(&nh->key, "X-Amz-Content-Sha256");
    nh->lowcase_key = (u_char *) "x-amz-content-sha256";
    nh->value = hash;

    nh = ngx_list_push(&headers);
    if (nh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nh->hash = 1;
    ngx_str_set(&nh->key, "Authorization");
    nh->lowcase_key = (u_char *) "authorization";
    nh->value = br.authorization;

    r->headers_in.headers = headers;
    r->headers_in.authorization = NULL;

    return NGX_OK;
}


/*
 * Signs a backend request with the space's backend key (SigV4 header
 * auth, today's date, objspace_backend_region, service s3): adds
 * x-amz-date and x-amz-content-sha256 to br->headers (which needs room for
 * two more), sorts them, and returns the X-Amz-Date and Authorization
 * values in r->pool.  The derived key is wiped after use.  Used by the S3
 * path and the public frontend (ngx_http_objspace_public.c).
 *   NGX_OK, NGX_ERROR (no memory), NGX_DECLINED (canonical request failed),
 *   NGX_ABORT (backend key unavailable; logged by the cache), NGX_BUSY (the
 *   space left the cache during the request: answer 503)
 */

ngx_int_t
ngx_http_objspace_backend_sign(ngx_http_request_t *r,
    ngx_http_objspace_identity_t *id, ngx_http_objspace_backend_req_t *br)
{
    u_char                          *p;
    ngx_int_t                        rc;
    time_t                           now;
    size_t                           len;
    ngx_tm_t                         tm;
    ngx_str_t                        date, day, scope, signed_hdrs;
    ngx_uint_t                       i, j, n;
    ngx_http_objspace_kv_t          *kv, tmp;
    ngx_http_objspace_sigv4_creq_t   creq;
    ngx_http_objspace_loc_conf_t    *olcf;
    u_char                           amz[NGX_HTTP_OBJSPACE_AMZ_DATE_LEN];
    u_char                           key[NGX_HTTP_OBJSPACE_SHA256_LEN];
    u_char                           digest[NGX_HTTP_OBJSPACE_SHA256_LEN];
    u_char                           sig[NGX_HTTP_OBJSPACE_SHA256_LEN];

    static time_t  amz_time = -1;
    static u_char  amz_cached[NGX_HTTP_OBJSPACE_AMZ_DATE_LEN];

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    /* date and scope (the X-Amz-Date is formatted once a second) */

    now = ngx_time();

    if (now != amz_time) {
        ngx_gmtime(now, &tm);

        ngx_sprintf(amz_cached, "%4d%02d%02dT%02d%02d%02dZ",
                    tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                    tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
        amz_time = now;
    }

    ngx_memcpy(amz, amz_cached, NGX_HTTP_OBJSPACE_AMZ_DATE_LEN);

    date.data = ngx_pnalloc(r->pool, NGX_HTTP_OBJSPACE_AMZ_DATE_LEN);
    if (date.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(date.data, amz, NGX_HTTP_OBJSPACE_AMZ_DATE_LEN);
    date.len = NGX_HTTP_OBJSPACE_AMZ_DATE_LEN;

    scope.data = ngx_pnalloc(r->pool, 8 + 1 + olcf->backend_region.len
                                      + sizeof("/s3/aws4_request") - 1);
    if (scope.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(scope.data, amz, 8);
    *p++ = '/';
    p = ngx_cpymem(p, olcf->backend_region.data, olcf->backend_region.len);
    p = ngx_cpymem(p, "/s3/aws4_request", sizeof("/s3/aws4_request") - 1);
    scope.len = p - scope.data;

    kv = br->headers;
    n = br->nheaders;

    kv[n].key.data = (u_char *) "x-amz-date";
    kv[n].key.len = sizeof("x-amz-date") - 1;
    kv[n].value = date;
    n++;

    kv[n].key.data = (u_char *) "x-amz-content-sha256";
    kv[n].key.len = sizeof("x-amz-content-sha256") - 1;
    kv[n].value = br->payload_hash;
    n++;

    br->nheaders = n;

    /*
     * SignedHeaders: every header in kv, sorted; by insertion (a handful
     * of headers, mostly in order already: ngx_sort() would malloc() and
     * free() a swap element per call)
     */

    for (i = 1; i < n; i++) {
        tmp = kv[i];

        for (j = i; j > 0 && ngx_http_objspace_kv_cmp(&kv[j - 1], &tmp) > 0;
             j--)
        {
            kv[j] = kv[j - 1];
        }

        kv[j] = tmp;
    }

    len = 0;
    for (i = 0; i < n; i++) {
        len += kv[i].key.len + 1;
    }

    signed_hdrs.data = ngx_pnalloc(r->pool, len);
    if (signed_hdrs.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = signed_hdrs.data;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ';';
        }

        p = ngx_cpymem(p, kv[i].key.data, kv[i].key.len);
    }

    signed_hdrs.len = p - signed_hdrs.data;

    /* sign */

    creq.method = br->method;
    creq.canonical_uri = br->uri;
    creq.query = br->query;
    creq.headers = kv;
    creq.nheaders = n;
    creq.signed_headers = signed_hdrs;
    creq.payload_hash = br->payload_hash;
    creq.skip_signature_arg = 0;

    if (ngx_http_objspace_sigv4_creq_hash(&creq, digest) != NGX_OK) {
        return NGX_DECLINED;
    }

    day.data = amz;
    day.len = 8;

    rc = ngx_http_objspace_cache_backend_key(r, id, &day,
                                             &olcf->backend_region, key);
    if (rc != NGX_OK) {
        return (rc == NGX_BUSY) ? NGX_BUSY : NGX_ABORT;
    }

    ngx_http_objspace_sigv4_sign(key, &date, &scope, digest, sig);

    ngx_explicit_memzero(key, sizeof(key));

    len = sizeof("AWS4-HMAC-SHA256 Credential=/, SignedHeaders=, "
                 "Signature=") - 1
          + id->backend_ak.len + scope.len + signed_hdrs.len
          + NGX_HTTP_OBJSPACE_SHA256_HEX_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    br->authorization.data = p;

#define ngx_http_objspace_lit(p, s)  ngx_cpymem(p, s, sizeof(s) - 1)

    p = ngx_http_objspace_lit(p, "AWS4-HMAC-SHA256 Credential=");
    p = ngx_cpymem(p, id->backend_ak.data, id->backend_ak.len);
    *p++ = '/';
    p = ngx_cpymem(p, scope.data, scope.len);
    p = ngx_http_objspace_lit(p, ", SignedHeaders=");
    p = ngx_cpymem(p, signed_hdrs.data, signed_hdrs.len);
    p = ngx_http_objspace_lit(p, ", Signature=");

#undef ngx_http_objspace_lit
    p = ngx_http_objspace_sigv4_hex(p, sig, sizeof(sig));

    br->authorization.len = p - br->authorization.data;
    br->amz_date = date;

    return NGX_OK;
}


static ngx_int_t
ngx_http_objspace_kv_cmp(const void *one, const void *two)
{
    ngx_int_t                      rc;
    const ngx_http_objspace_kv_t  *a, *b;

    a = one;
    b = two;

    rc = ngx_memcmp(a->key.data, b->key.data, ngx_min(a->key.len, b->key.len));

    if (rc == 0) {
        return (ngx_int_t) a->key.len - (ngx_int_t) b->key.len;
    }

    return rc;
}


/* the client's query without the presigned-URL authentication parameters */

static ngx_int_t
ngx_http_objspace_upstream_query(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_str_t *out)
{
    u_char  *p, *q, *end, *name_end, *dst;

    static ngx_str_t  presign[] = {
        ngx_string("X-Amz-Algorithm"),
        ngx_string("X-Amz-Credential"),
        ngx_string("X-Amz-Date"),
        ngx_string("X-Amz-Expires"),
        ngx_string("X-Amz-SignedHeaders"),
        ngx_string("X-Amz-Signature"),
        ngx_string("X-Amz-Security-Token"),
        ngx_null_string
    };

    ngx_str_t  *ps;

    *out = ctx->s3.query;

    if (!ctx->auth.presigned || out->len == 0) {
        return NGX_OK;
    }

    dst = ngx_pnalloc(r->pool, out->len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    out->data = dst;
    p = ctx->s3.query.data;
    end = p + ctx->s3.query.len;

    while (p < end) {
        q = ngx_strlchr(p, end, '&');
        if (q == NULL) {
            q = end;
        }

        name_end = ngx_strlchr(p, q, '=');
        if (name_end == NULL) {
            name_end = q;
        }

        for (ps = presign; ps->len; ps++) {
            if ((size_t) (name_end - p) == ps->len
                && ngx_strncmp(p, ps->data, ps->len) == 0)
            {
                break;
            }
        }

        if (ps->len == 0 && q > p) {
            if (dst != out->data) {
                *dst++ = '&';
            }

            dst = ngx_cpymem(dst, p, q - p);
        }

        p = q + 1;
    }

    out->len = dst - out->data;

    return NGX_OK;
}

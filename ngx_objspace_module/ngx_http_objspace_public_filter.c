
/*
 * Copyright (C) objspace authors
 *
 * The public frontend's header and body filters: Content-Type (stored,
 * else by extension), Cache-Control from the publication rule (and nginx's
 * own cache validity), CORS, backend headers removed, backend errors
 * replaced by our own short answers (nothing of the backend leaks), the
 * space's 404 page answered with 404, listings and multi-range bodies.
 * See docs/public.md, "Responses".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_objspace_public.h"


static ngx_int_t ngx_http_objspace_public_header_filter(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_objspace_public_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_objspace_public_replace(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx, ngx_uint_t status);
static ngx_buf_t *ngx_http_objspace_public_error_body(ngx_http_request_t *r);
static void ngx_http_objspace_public_content_type(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_public_type_allowed(
    ngx_http_request_t *r, ngx_http_objspace_public_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_public_set_cache_control(
    ngx_http_request_t *r, ngx_http_objspace_public_ctx_t *ctx);
static void ngx_http_objspace_public_hide_backend(ngx_http_request_t *r);
static void ngx_http_objspace_public_cache_valid(ngx_http_request_t *r,
    ngx_http_objspace_public_rule_t *rule);
#if (NGX_HTTP_CACHE)
static ngx_int_t ngx_http_objspace_public_cc_seconds(ngx_str_t *cc,
    char *name);
#endif


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* called from the module's postconfiguration */

void
ngx_http_objspace_public_filter_init(void)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_objspace_public_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_objspace_public_body_filter;
}


static ngx_int_t
ngx_http_objspace_public_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_str_t                       *origin, v;
    ngx_uint_t                       status, from_backend;
    ngx_http_objspace_public_ctx_t  *ctx;

    if (r != r->main) {
        /* a slice: cached by the same rule as the whole */

        ctx = ngx_http_get_module_ctx(r->main,
                                      ngx_http_objspace_public_module);

        if (ctx && ctx->ready && ctx->kind == NGX_HTTP_OBJSPACE_PUBLIC_OBJECT
            && r->headers_out.status < NGX_HTTP_BAD_REQUEST)
        {
            ngx_http_objspace_public_cache_valid(r, &ctx->rule);
        }

        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_public_module);

    if (ctx == NULL || !ctx->ready) {
        return ngx_http_next_header_filter(r);
    }

    status = r->headers_out.status;
    from_backend = (r->upstream && r->upstream->headers_in.status_n);

    ngx_http_objspace_public_hide_backend(r);

    if (status >= NGX_HTTP_BAD_REQUEST && from_backend) {
        return ngx_http_objspace_public_replace(r, ctx, status);
    }

    if (status >= NGX_HTTP_BAD_REQUEST || !from_backend) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx->kind == NGX_HTTP_OBJSPACE_PUBLIC_LISTING) {

        if (status != NGX_HTTP_OK) {
            return ngx_http_objspace_public_replace(r, ctx,
                                                    NGX_HTTP_BAD_GATEWAY);
        }

        if (ngx_http_objspace_public_list_start(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ctx->json) {
            ngx_str_set(&r->headers_out.content_type,
                        "application/json");

        } else {
            ngx_str_set(&r->headers_out.content_type,
                        "text/html; charset=utf-8");
        }

        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_type_lowcase = NULL;
        ngx_str_null(&r->headers_out.charset);

        ngx_http_clear_content_length(r);
        ngx_http_clear_accept_ranges(r);
        ngx_http_clear_last_modified(r);
        ngx_http_clear_etag(r);

        r->allow_ranges = 0;
        r->main_filter_need_in_memory = 1;

        ngx_str_set(&v, "no-cache");
        ctx->rule.cache_control = v;
        ctx->rule.immutable = 0;

    } else {
        ngx_http_objspace_public_content_type(r, ctx);

        if (ngx_http_objspace_public_type_allowed(r, ctx) != NGX_OK) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "objspace public: 403 for space %V: content type "
                          "not allowed", &ctx->ps->id.space);
            return ngx_http_objspace_public_replace(r, ctx,
                                                    NGX_HTTP_FORBIDDEN);
        }

        if (ctx->kind == NGX_HTTP_OBJSPACE_PUBLIC_ERROR_DOC) {
            r->headers_out.status = NGX_HTTP_NOT_FOUND;
            r->headers_out.status_line.len = 0;
            r->allow_ranges = 0;
            ngx_http_clear_accept_ranges(r);
            ngx_http_clear_last_modified(r);
            ngx_http_clear_etag(r);

            ngx_str_set(&v, "no-cache");
            ctx->rule.cache_control = v;
            ctx->rule.immutable = 0;

        } else if (status == NGX_HTTP_OK) {

            switch (ngx_http_objspace_public_ranges_start(r, &ctx->ranges)) {

            case NGX_OK:
                if (r->upstream
                    && r->upstream->headers_in.status_n
                       == NGX_HTTP_PARTIAL_CONTENT)
                {
                    /* slices: tell the slice filter how far to fetch */
                    rc = ngx_http_next_header_filter(r);
                    ngx_http_objspace_public_ranges_span(r, ctx->ranges);
                    return rc;
                }

                break;

            case NGX_DECLINED:
                /*
                 * nginx cuts a single range; several only from a response
                 * in one piece (its cache, no slices: the slice filter
                 * has set what it needs already)
                 */
                if (!(r->upstream
                      && r->upstream->headers_in.status_n
                         == NGX_HTTP_PARTIAL_CONTENT))
                {
                    r->allow_ranges = 1;
                    r->single_range = !r->cached;
                }

                break;

            default:
                return NGX_ERROR;
            }
        }
    }

    if (ctx->kind == NGX_HTTP_OBJSPACE_PUBLIC_OBJECT) {
        ngx_http_objspace_public_cache_valid(r, &ctx->rule);
    }

    if (ngx_http_objspace_public_set_cache_control(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    origin = ngx_http_objspace_public_cors(r, ctx);

    if (origin) {
        if (ngx_http_objspace_public_add_header(r,
                                                "Access-Control-Allow-Origin",
                                                origin)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_str_set(&v, "Content-Length, Content-Range, ETag, "
                        "Last-Modified, Accept-Ranges");

        if (ngx_http_objspace_public_add_header(r,
                                              "Access-Control-Expose-Headers",
                                              &v)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (origin->len != 1) {
            ngx_str_set(&v, "Origin");

            if (ngx_http_objspace_public_add_header(r, "Vary", &v)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_objspace_public_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t                       *b;
    ngx_chain_t                     *cl, out;
    ngx_http_objspace_public_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_objspace_public_module);

    if (ctx && ctx->ranges && !ctx->replaced) {
        /* the main request's and its slice subrequests' bytes, in order */

        if (ngx_http_objspace_public_ranges_body(r, ctx->ranges, in, &cl)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (cl == NULL) {
            return NGX_OK;
        }

        return ngx_http_next_body_filter(r, cl);
    }

    if (r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx == NULL || (!ctx->replaced && ctx->list == NULL)) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->replaced) {
        /* the backend's error body never reaches the client */

        for (cl = in; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
        }

        if (ctx->sent || in == NULL) {
            return NGX_OK;
        }

        ctx->sent = 1;

        b = ngx_http_objspace_public_error_body(r);
        if (b == NULL) {
            return NGX_ERROR;
        }

        out.buf = b;
        out.next = NULL;

        return ngx_http_next_body_filter(r, &out);
    }

    /* a listing: parsed as it streams, rendered at the end */

    if (ngx_http_objspace_public_list_body(r, ctx, in, &cl) != NGX_OK) {
        return NGX_ERROR;
    }

    if (cl == NULL) {
        return NGX_OK;
    }

    return ngx_http_next_body_filter(r, cl);
}


/*
 * Replaces a backend error (or a refused response) with our own status
 * and a short body: the backend's body and headers may name the bucket,
 * the backend host or keys.  403 from the backend means the space's key
 * was refused (misconfiguration): 502.
 */

static ngx_int_t
ngx_http_objspace_public_replace(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx, ngx_uint_t status)
{
    ngx_uint_t  level, backend;
    ngx_buf_t  *b;

    backend = (status == r->headers_out.status);

    if (backend) {
        if (status == NGX_HTTP_FORBIDDEN
            || (status >= NGX_HTTP_INTERNAL_SERVER_ERROR
                && status != NGX_HTTP_SERVICE_UNAVAILABLE)
            || status == NGX_HTTP_NOT_ALLOWED
            || status == NGX_HTTP_UNAUTHORIZED)
        {
            status = NGX_HTTP_BAD_GATEWAY;
        }

        level = (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) ? NGX_LOG_ERR
                                                          : NGX_LOG_INFO;

        ngx_log_error(level, r->connection->log, 0,
                      "objspace public: backend answered %ui for space %V; "
                      "answering %ui", r->headers_out.status,
                      &ctx->ps->id.space, status);
    }

    ctx->replaced = 1;

    if (ctx->list) {
        ngx_http_objspace_public_list_free(ctx->list);
        ctx->list = NULL;
    }

    r->headers_out.status = status;
    r->headers_out.status_line.len = 0;

    b = ngx_http_objspace_public_error_body(r);
    if (b == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.content_length_n = b->last - b->pos;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_str_set(&r->headers_out.content_type, "text/html");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    ngx_str_null(&r->headers_out.charset);

    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);
    ngx_http_clear_accept_ranges(r);

    if (status != NGX_HTTP_RANGE_NOT_SATISFIABLE
        && r->headers_out.content_range)
    {
        r->headers_out.content_range->hash = 0;
        r->headers_out.content_range = NULL;
    }

    r->allow_ranges = 0;

    return ngx_http_next_header_filter(r);
}


static ngx_buf_t *
ngx_http_objspace_public_error_body(ngx_http_request_t *r)
{
    size_t      len;
    ngx_buf_t  *b;
    ngx_str_t   reason;

    switch (r->headers_out.status) {
    case NGX_HTTP_BAD_REQUEST:
        ngx_str_set(&reason, "400 Bad Request");
        break;
    case NGX_HTTP_FORBIDDEN:
        ngx_str_set(&reason, "403 Forbidden");
        break;
    case NGX_HTTP_NOT_FOUND:
        ngx_str_set(&reason, "404 Not Found");
        break;
    case NGX_HTTP_PRECONDITION_FAILED:
        ngx_str_set(&reason, "412 Precondition Failed");
        break;
    case NGX_HTTP_RANGE_NOT_SATISFIABLE:
        ngx_str_set(&reason, "416 Requested Range Not Satisfiable");
        break;
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        ngx_str_set(&reason, "503 Service Temporarily Unavailable");
        break;
    case NGX_HTTP_BAD_GATEWAY:
        ngx_str_set(&reason, "502 Bad Gateway");
        break;
    default:
        ngx_str_set(&reason, "Error");
    }

    len = sizeof("<html><head><title></title></head><body><h1></h1>"
                 "</body></html>\n") - 1 + 2 * reason.len;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    b->last = ngx_sprintf(b->last, "<html><head><title>%V</title></head>"
                          "<body><h1>%V</h1></body></html>\n",
                          &reason, &reason);
    b->last_buf = 1;
    b->last_in_chain = 1;

    return b;
}


/*
 * The object's stored Content-Type, or, when there is none or it is the
 * generic octet-stream, the type of its extension from the location's
 * "types" (mime.types).
 */

static void
ngx_http_objspace_public_content_type(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    u_char                    *p, *dot, *end;
    size_t                     len;
    ngx_str_t                 *type, *ct;
    ngx_uint_t                 hash, i;
    ngx_http_core_loc_conf_t  *clcf;
    u_char                     ext[16];

    ct = &r->headers_out.content_type;

    if (ct->len
        && !(ct->len >= 24
             && ngx_strncasecmp(ct->data, (u_char *) "application/octet-stream",
                                24) == 0)
        && !(ct->len >= 19
             && ngx_strncasecmp(ct->data, (u_char *) "binary/octet-stream",
                                19) == 0))
    {
        return;
    }

    end = ctx->key.data + ctx->key.len;
    dot = NULL;

    for (p = end; p > ctx->key.data; p--) {
        if (p[-1] == '/') {
            break;
        }

        if (p[-1] == '.') {
            dot = p;
            break;
        }
    }

    if (dot == NULL || dot == end || (size_t) (end - dot) > sizeof(ext)) {
        return;
    }

    len = end - dot;
    hash = 0;

    for (i = 0; i < len; i++) {
        ext[i] = ngx_tolower(dot[i]);
        hash = ngx_hash(hash, ext[i]);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    type = ngx_hash_find(&clcf->types_hash, hash, ext, len);

    if (type) {
        *ct = *type;
        r->headers_out.content_type_len = type->len;
        r->headers_out.content_type_lowcase = NULL;
    }
}


static ngx_int_t
ngx_http_objspace_public_type_allowed(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    u_char     *semi;
    ngx_str_t  *ct;
    size_t      len;

    if (ctx->rule.types.len == 0
        || ctx->kind == NGX_HTTP_OBJSPACE_PUBLIC_LISTING)
    {
        return NGX_OK;
    }

    ct = &r->headers_out.content_type;

    semi = ngx_strlchr(ct->data, ct->data + ct->len, ';');
    len = semi ? (size_t) (semi - ct->data) : ct->len;

    while (len && ct->data[len - 1] == ' ') {
        len--;
    }

    if (len && ngx_http_objspace_public_word(&ctx->rule.types, ct->data, len,
                                             1))
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* the rule's Cache-Control replaces the object's; else the object's own */

static ngx_int_t
ngx_http_objspace_public_set_cache_control(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    ngx_str_t         v;
    ngx_uint_t        i, found;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (ctx->rule.immutable) {
        ngx_str_set(&v, NGX_HTTP_OBJSPACE_PUBLIC_IMMUTABLE_CC);

    } else if (ctx->rule.cache_control.len) {
        v = ctx->rule.cache_control;

    } else {
        ngx_str_set(&v, NGX_HTTP_OBJSPACE_PUBLIC_DEFAULT_CC);
    }

    found = 0;
    part = &r->headers_out.headers.part;
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

        if (h[i].hash == 0 || h[i].key.len != sizeof("Cache-Control") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Cache-Control",
                               h[i].key.len) != 0)
        {
            continue;
        }

        if (ctx->rule.immutable || ctx->rule.cache_control.len) {
            h[i].hash = 0;

        } else {
            found = 1;
        }
    }

    if (found) {
        return NGX_OK;
    }

    return ngx_http_objspace_public_add_header(r, "Cache-Control", &v);
}


/*
 * nginx's own cache follows the rule's Cache-Control (which it cannot see:
 * the header is set here, after the backend's were parsed): "no-cache",
 * "no-store", "private" or max-age=0 keep the response out of proxy_cache,
 * s-maxage / max-age set its validity.  Called from the header filter,
 * before the upstream module decides (ngx_http_upstream_send_response).
 * Without a rule value the object's own Cache-Control and proxy_cache_valid
 * apply, as usual.
 */

static void
ngx_http_objspace_public_cache_valid(ngx_http_request_t *r,
    ngx_http_objspace_public_rule_t *rule)
{
#if (NGX_HTTP_CACHE)
    u_char     *end;
    ngx_int_t   n, smax, max;
    ngx_str_t  *cc;

    if (r->upstream == NULL || !r->upstream->cacheable || r->cache == NULL
        || r->cached || rule->immutable || rule->cache_control.len == 0)
    {
        return;
    }

    cc = &rule->cache_control;
    end = cc->data + cc->len;

    if (ngx_strlcasestrn(cc->data, end, (u_char *) "no-cache", 8 - 1)
        || ngx_strlcasestrn(cc->data, end, (u_char *) "no-store", 8 - 1)
        || ngx_strlcasestrn(cc->data, end, (u_char *) "private", 7 - 1))
    {
        r->upstream->cacheable = 0;
        return;
    }

    smax = ngx_http_objspace_public_cc_seconds(cc, "s-maxage=");
    max = ngx_http_objspace_public_cc_seconds(cc, "max-age=");

    n = (smax >= 0) ? smax : max;

    if (n == 0) {
        r->upstream->cacheable = 0;

    } else if (n > 0) {
        r->cache->valid_sec = ngx_time() + n;
    }
#endif
}


#if (NGX_HTTP_CACHE)

/* "name=N" of a Cache-Control value (seconds), -1 if absent */

static ngx_int_t
ngx_http_objspace_public_cc_seconds(ngx_str_t *cc, char *name)
{
    u_char  *p, *q, *end;
    size_t   len;

    end = cc->data + cc->len;
    len = ngx_strlen(name);

    for (p = cc->data; p < end; p += len) {
        p = ngx_strlcasestrn(p, end, (u_char *) name, len - 1);
        if (p == NULL) {
            return -1;
        }

        if (p == cc->data || p[-1] == ' ' || p[-1] == ',') {
            break;
        }
    }

    if (p >= end) {
        return -1;
    }

    p += len;

    for (q = p; q < end && *q >= '0' && *q <= '9'; q++) { /* void */ }

    if (q == p || q - p > 9) {
        return -1;
    }

    return ngx_atoi(p, q - p);
}

#endif


/* x-amz-* and x-rgw-* response headers stay inside */

static void
ngx_http_objspace_public_hide_backend(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_out.headers.part;
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

        if (h[i].key.len > 6
            && (ngx_strncasecmp(h[i].key.data, (u_char *) "x-amz-", 6) == 0
                || ngx_strncasecmp(h[i].key.data, (u_char *) "x-rgw-", 6)
                   == 0))
        {
            h[i].hash = 0;
        }
    }
}

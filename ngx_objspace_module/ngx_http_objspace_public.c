
/*
 * Copyright (C) objspace authors
 *
 * ngx_http_objspace_public_module: the public web/CDN frontend.
 *
 * Request flow (access phase, then nginx's proxy):
 *   GET/HEAD only (405) -> the URL names a space: /{slug}/{key} or, with
 *   "objspace_public host", the Host header -> space + publication rules
 *   from the shared identity cache (Redis on a miss: may suspend) -> a
 *   rule whose prefix matches the key, else 404 (also for unknown, private
 *   and disabled spaces: no existence leak) -> index document, listing or
 *   object -> the upstream URI ($objspace_public_uri) and, per (sub)request,
 *   a SigV4 signature with the space's backend key
 *   ($objspace_public_authorization, $objspace_public_amz_date).
 * The header and body filters fix Content-Type, Cache-Control and CORS,
 * replace every backend error body (never a bucket, host or key leaks),
 * turn a listing (ListObjectsV2 XML) into HTML or JSON and serve a space's
 * 404 page with status 404.  See docs/public.md.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#include "ngx_http_objspace_public.h"


static ngx_int_t ngx_http_objspace_public_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_objspace_public_parse(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_public_decide(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_public_preflight(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_public_upstream(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_public_client_headers(
    ngx_http_request_t *r, ngx_http_objspace_public_ctx_t *ctx);
static ngx_table_elt_t *ngx_http_objspace_public_header_in(
    ngx_http_request_t *r, const char *name, size_t len);
static ngx_int_t ngx_http_objspace_public_sign(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t **sctx);
static ngx_int_t ngx_http_objspace_public_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_objspace_public_post_read(ngx_http_request_t *r);
static u_char *ngx_http_objspace_public_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static ngx_int_t ngx_http_objspace_public_add_variables(ngx_conf_t *cf);
static void *ngx_http_objspace_public_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_objspace_public_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_objspace_public_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_objspace_public_init(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_http_objspace_public_modes[] = {
    { ngx_string("off"), NGX_HTTP_OBJSPACE_PUBLIC_OFF },
    { ngx_string("on"), NGX_HTTP_OBJSPACE_PUBLIC_PATH },
    { ngx_string("host"), NGX_HTTP_OBJSPACE_PUBLIC_HOST },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_objspace_public_list_bounds = {
    ngx_conf_check_num_bounds, 1, 1000
};


static ngx_command_t  ngx_http_objspace_public_commands[] = {

    { ngx_string("objspace_public"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_public_loc_conf_t, mode),
      &ngx_http_objspace_public_modes },

    { ngx_string("objspace_public_list_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_public_loc_conf_t, list_limit),
      &ngx_http_objspace_public_list_bounds },

    { ngx_string("objspace_public_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_objspace_public_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("objspace_public_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_objspace_public_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_objspace_public_module_ctx = {
    ngx_http_objspace_public_add_variables,   /* preconfiguration */
    ngx_http_objspace_public_init,            /* postconfiguration */

    ngx_http_objspace_public_create_main_conf, /* create main configuration */
    NULL,                                     /* init main configuration */

    NULL,                                     /* create server configuration */
    NULL,                                     /* merge server configuration */

    ngx_http_objspace_public_create_loc_conf, /* create location conf */
    ngx_http_objspace_public_merge_loc_conf   /* merge location conf */
};


ngx_module_t  ngx_http_objspace_public_module = {
    NGX_MODULE_V1,
    &ngx_http_objspace_public_module_ctx,     /* module context */
    ngx_http_objspace_public_commands,        /* module directives */
    NGX_HTTP_MODULE,                          /* module type */
    NULL,                                     /* init master */
    NULL,                                     /* init module */
    ngx_http_objspace_public_init_process,    /* init process */
    NULL,                                     /* init thread */
    NULL,                                     /* exit thread */
    ngx_http_objspace_public_exit_process,    /* exit process */
    NULL,                                     /* exit master */
    NGX_MODULE_V1_PADDING
};


enum {
    NGX_HTTP_OBJSPACE_PV_URI = 0,
    NGX_HTTP_OBJSPACE_PV_AMZ_DATE,
    NGX_HTTP_OBJSPACE_PV_AUTHORIZATION,
    NGX_HTTP_OBJSPACE_PV_CONTENT_SHA256,
    NGX_HTTP_OBJSPACE_PV_CACHE_KEY,
    NGX_HTTP_OBJSPACE_PV_SPACE
};


static ngx_http_variable_t  ngx_http_objspace_public_vars[] = {

    { ngx_string("objspace_public_uri"), NULL,
      ngx_http_objspace_public_variable, NGX_HTTP_OBJSPACE_PV_URI,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_public_amz_date"), NULL,
      ngx_http_objspace_public_variable, NGX_HTTP_OBJSPACE_PV_AMZ_DATE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_public_authorization"), NULL,
      ngx_http_objspace_public_variable, NGX_HTTP_OBJSPACE_PV_AUTHORIZATION,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_public_content_sha256"), NULL,
      ngx_http_objspace_public_variable, NGX_HTTP_OBJSPACE_PV_CONTENT_SHA256,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_public_cache_key"), NULL,
      ngx_http_objspace_public_variable, NGX_HTTP_OBJSPACE_PV_CACHE_KEY,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_public_space"), NULL,
      ngx_http_objspace_public_variable, NGX_HTTP_OBJSPACE_PV_SPACE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_objspace_public_empty_sha256 =
    ngx_string(NGX_HTTP_OBJSPACE_EMPTY_SHA256);



/*
 * The access-phase handler.  Re-entered after an asynchronous space lookup
 * (ngx_http_objspace_resume() runs the phases again) and, with a fresh
 * ctx, in the named location of "error_page 404" (r->error_page set): then
 * it serves the listing of a directory whose index document is missing,
 * the space's 404 page, or nothing (nginx's own 404).
 */

static ngx_int_t
ngx_http_objspace_public_handler(ngx_http_request_t *r)
{
    ngx_int_t                             rc;
    ngx_table_elt_t                      *h;
    ngx_http_objspace_public_space_t     *ps;
    ngx_http_objspace_public_ctx_t       *ctx;
    ngx_http_objspace_public_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_public_module);

    if (plcf->mode == NGX_HTTP_OBJSPACE_PUBLIC_OFF || r != r->main) {
        return NGX_DECLINED;
    }

    r->log_handler = ngx_http_objspace_public_log_error;

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_public_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_objspace_public_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_objspace_public_module);
    }

    if (ctx->ready) {
        return NGX_OK;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_OPTIONS))) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");

        return NGX_HTTP_NOT_ALLOWED;
    }

    if (!ctx->parsed) {
        rc = ngx_http_objspace_public_parse(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        ctx->parsed = 1;
    }

    if (ctx->ps == NULL) {
        rc = ngx_http_objspace_cache_lookup_public(r, &ctx->name, &ps);

        switch (rc) {

        case NGX_OK:
            ctx->ps = ps;
            break;

        case NGX_AGAIN:
            r->read_event_handler = ngx_http_test_reading;
            return NGX_AGAIN;

        case NGX_DECLINED:
            return NGX_HTTP_NOT_FOUND;

        case NGX_BUSY:
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "objspace public: space store unreachable");
            return NGX_HTTP_SERVICE_UNAVAILABLE;

        default:
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_http_objspace_public_decide(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->ready = 1;

    return NGX_OK;
}


/*
 * Splits the request target into the public name and the decoded key.
 * The raw target is used (not r->uri: nginx merges slashes and resolves
 * dot segments); a key with a "." or ".." segment, a NUL or a bad escape
 * is a 404, like a key that does not exist.
 */

static ngx_int_t
ngx_http_objspace_public_parse(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    u_char                               *p, *end, *slug, *dst, *src;
    size_t                                len;
    ngx_str_t                             raw, host;
    ngx_table_elt_t                      *h;
    ngx_http_objspace_public_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_public_module);

    raw = r->unparsed_uri;

    p = ngx_strlchr(raw.data, raw.data + raw.len, '?');
    if (p) {
        raw.len = p - raw.data;
    }

    if (raw.len == 0 || raw.data[0] != '/') {
        return NGX_HTTP_NOT_FOUND;
    }

    end = raw.data + raw.len;

    if (plcf->mode == NGX_HTTP_OBJSPACE_PUBLIC_HOST) {
        host = r->headers_in.server;

        if (host.len == 0 || host.len > NGX_HTTP_OBJSPACE_PUBLIC_MAX_HOST) {
            return NGX_HTTP_NOT_FOUND;
        }

        ctx->name.data = ngx_pnalloc(r->pool, host.len + 2);
        if (ctx->name.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->name.len = ngx_sprintf(ctx->name.data, "h/%V", &host)
                        - ctx->name.data;
        ngx_str_set(&ctx->base, "/");

        p = raw.data + 1;

    } else {
        slug = raw.data + 1;

        for (p = slug; p < end && *p != '/'; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
                  || *p == '-' || *p == '.' || *p == '_'))
            {
                return NGX_HTTP_NOT_FOUND;
            }
        }

        len = p - slug;

        if (len == 0 || len > NGX_HTTP_OBJSPACE_PUBLIC_MAX_SLUG
            || (len <= 2 && slug[0] == '.'))
        {
            return NGX_HTTP_NOT_FOUND;
        }

        if (p == end) {
            /* "/slug": the space's root is "/slug/" (relative links) */

            h = ngx_list_push(&r->headers_out.headers);
            if (h == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h->hash = 1;
            ngx_str_set(&h->key, "Location");
            h->value.data = ngx_pnalloc(r->pool, len + 2);
            if (h->value.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h->value.len = ngx_sprintf(h->value.data, "/%*s/", len, slug)
                           - h->value.data;
            r->headers_out.location = h;

            return NGX_HTTP_MOVED_PERMANENTLY;
        }

        ctx->name.data = ngx_pnalloc(r->pool, len + 2);
        if (ctx->name.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->name.len = ngx_sprintf(ctx->name.data, "s/%*s", len, slug)
                        - ctx->name.data;

        ctx->base.data = raw.data;
        ctx->base.len = len + 2;

        p++;
    }

    /* the key: percent-decoded, byte by byte */

    dst = ngx_pnalloc(r->pool, (end - p) + 1);
    if (dst == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->key.data = dst;
    src = p;

    ngx_unescape_uri(&dst, &src, end - p, 0);

    if (src != end) {
        return NGX_HTTP_NOT_FOUND;
    }

    ctx->key.len = dst - ctx->key.data;

    for (p = ctx->key.data; p < dst; p++) {
        if (*p == '\0') {
            return NGX_HTTP_NOT_FOUND;
        }
    }

    if (ngx_http_objspace_s3_has_dot_segment(&ctx->key)
        || ctx->key.len > NGX_HTTP_OBJSPACE_MAX_KEY_LEN)
    {
        return NGX_HTTP_NOT_FOUND;
    }

    if (ctx->key.len
        && ngx_http_objspace_s3_check_key(&ctx->key)
           != NGX_HTTP_OBJSPACE_S3_OK)
    {
        return NGX_HTTP_NOT_FOUND;
    }

    return NGX_OK;
}


/*
 * What to serve.  Every refusal is the same 404 whatever its reason, so
 * nobody learns whether a private space, a prefix or a key exists; the
 * reason goes to the error log at info level, with the space id only.
 */

static ngx_int_t
ngx_http_objspace_public_decide(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    u_char                           *p;
    ngx_str_t                         key;
    ngx_uint_t                        dir;
    const char                       *why;
    ngx_table_elt_t                  *h;
    ngx_http_objspace_public_space_t  *ps;
    ngx_http_objspace_public_rule_t  *rule;

    ps = ctx->ps;
    rule = &ctx->rule;
    why = NULL;

    if (ps->id.space_disabled) {
        why = "space disabled";

    } else if (!ps->id.is_public) {
        why = "space not public";

    } else if (ngx_http_objspace_public_match(&ps->rules, &ctx->key, rule)
               != NGX_OK)
    {
        why = "no public prefix matches";
    }

    if (why) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "objspace public: 404 for space %V: %s",
                      &ps->id.space, why);
        return NGX_HTTP_NOT_FOUND;
    }

    h = ngx_http_objspace_public_header_in(r, "origin", 6);
    if (h) {
        ctx->origin = h->value;
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        return ngx_http_objspace_public_preflight(r, ctx);
    }

    dir = (ctx->key.len == 0 || ctx->key.data[ctx->key.len - 1] == '/');

    ctx->kind = NGX_HTTP_OBJSPACE_PUBLIC_OBJECT;

    if (r->error_page) {
        /* the named location of "error_page 404": the first try missed */

        if (dir && rule->index.len && rule->listing) {
            ctx->kind = NGX_HTTP_OBJSPACE_PUBLIC_LISTING;

        } else if (rule->error_page.len
                   && !(rule->error_page.len == ctx->key.len
                        && ngx_strncmp(rule->error_page.data,
                                       ctx->key.data, ctx->key.len) == 0))
        {
            ctx->kind = NGX_HTTP_OBJSPACE_PUBLIC_ERROR_DOC;
            ctx->key = rule->error_page;

        } else {
            return NGX_HTTP_NOT_FOUND;
        }

    } else if (dir) {

        if (rule->index.len) {
            key.len = ctx->key.len + rule->index.len;
            key.data = ngx_pnalloc(r->pool, key.len);
            if (key.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            p = ngx_cpymem(key.data, ctx->key.data, ctx->key.len);
            ngx_memcpy(p, rule->index.data, rule->index.len);
            ctx->key = key;

        } else if (rule->listing) {
            ctx->kind = NGX_HTTP_OBJSPACE_PUBLIC_LISTING;

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "objspace public: 404 for space %V: a directory "
                          "without index document or listing",
                          &ps->id.space);
            return NGX_HTTP_NOT_FOUND;
        }
    }

    if (ngx_http_objspace_public_upstream(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_objspace_public_client_headers(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/* CORS preflight for a configured origin; anything else is a 405 */

static ngx_int_t
ngx_http_objspace_public_preflight(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    ngx_str_t         *origin, v;
    ngx_table_elt_t   *h, *m;

    origin = ngx_http_objspace_public_cors(r, ctx);
    m = ngx_http_objspace_public_header_in(r, "access-control-request-method",
                                     sizeof("access-control-request-method")
                                     - 1);

    if (origin == NULL || m == NULL
        || !((m->value.len == 3 && ngx_strncmp(m->value.data, "GET", 3) == 0)
             || (m->value.len == 4
                 && ngx_strncmp(m->value.data, "HEAD", 4) == 0)))
    {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");

        return NGX_HTTP_NOT_ALLOWED;
    }

    if (ngx_http_objspace_public_add_header(r, "Access-Control-Allow-Origin",
                                            origin)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "GET, HEAD");
    if (ngx_http_objspace_public_add_header(r, "Access-Control-Allow-Methods",
                                            &v)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "Range, If-None-Match, If-Modified-Since, If-Match, "
                    "If-Unmodified-Since, If-Range");
    if (ngx_http_objspace_public_add_header(r, "Access-Control-Allow-Headers",
                                            &v)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "600");
    if (ngx_http_objspace_public_add_header(r, "Access-Control-Max-Age", &v)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&v, "Origin");
    if (ngx_http_objspace_public_add_header(r, "Vary", &v) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_NO_CONTENT;
}


/*
 * The backend request: "/{bucket}/{key}" (the bucket always from the space
 * record, the key re-encoded canonically), or for a listing
 * "/{bucket}?continuation-token=..&delimiter=%2F&list-type=2&max-keys=N
 * &prefix=.." (canonical: sorted, encoded).  The nginx cache key names the
 * space, its public_gen and the backend URI.
 */

static ngx_int_t
ngx_http_objspace_public_upstream(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    u_char                               *p;
    size_t                                len;
    ngx_int_t                             rc;
    ngx_str_t                             token, name, *bucket;
    ngx_http_objspace_public_loc_conf_t  *plcf;
    u_char                         buf[NGX_HTTP_OBJSPACE_PUBLIC_MAX_TOKEN];

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_public_module);

    bucket = &ctx->ps->id.bucket;
    ngx_str_null(&ctx->query);

    if (ctx->kind == NGX_HTTP_OBJSPACE_PUBLIC_LISTING) {

        ngx_str_null(&token);
        ngx_str_set(&name, "page");

        rc = ngx_http_objspace_s3_arg(&r->args, &name, buf, sizeof(buf),
                                      &token);
        if (rc == NGX_ERROR) {
            ngx_str_null(&token);
        }

        if (ngx_http_arg(r, (u_char *) "format", 6, &name) == NGX_OK
            && name.len == 4 && ngx_strncmp(name.data, "json", 4) == 0)
        {
            ctx->json = 1;
        }

        len = sizeof("continuation-token=&delimiter=%2F&list-type=2"
                     "&max-keys=1000&prefix=") - 1
              + 3 * token.len + 3 * ctx->key.len;

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ctx->query.data = p;

        if (token.len) {
            p = ngx_cpymem(p, "continuation-token=",
                           sizeof("continuation-token=") - 1);
            p = ngx_http_objspace_sigv4_uri_encode(p, token.data, token.len,
                                                   0);
            *p++ = '&';
        }

        p = ngx_sprintf(p, "delimiter=%%2F&list-type=2&max-keys=%ui&prefix=",
                        plcf->list_limit);
        p = ngx_http_objspace_sigv4_uri_encode(p, ctx->key.data,
                                               ctx->key.len, 0);

        ctx->query.len = p - ctx->query.data;

        ctx->path.data = ngx_pnalloc(r->pool, bucket->len + 1);
        if (ctx->path.data == NULL) {
            return NGX_ERROR;
        }

        ctx->path.len = ngx_sprintf(ctx->path.data, "/%V", bucket)
                        - ctx->path.data;

    } else {
        ctx->path.data = ngx_pnalloc(r->pool,
                                     2 + bucket->len + 3 * ctx->key.len);
        if (ctx->path.data == NULL) {
            return NGX_ERROR;
        }

        ctx->path.len = ngx_http_objspace_s3_upstream_path(ctx->path.data,
                                                           bucket, &ctx->key)
                        - ctx->path.data;
    }

    len = ctx->path.len + 1 + ctx->query.len;

    ctx->uri.data = ngx_pnalloc(r->pool, len);
    if (ctx->uri.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ctx->uri.data, ctx->path.data, ctx->path.len);

    if (ctx->query.len) {
        *p++ = '?';
        p = ngx_cpymem(p, ctx->query.data, ctx->query.len);
    }

    ctx->uri.len = p - ctx->uri.data;

    len = ctx->ps->id.space.len + 2 + NGX_INT64_LEN + ctx->uri.len;

    ctx->cache_key.data = ngx_pnalloc(r->pool, len);
    if (ctx->cache_key.data == NULL) {
        return NGX_ERROR;
    }

    ctx->cache_key.len = ngx_sprintf(ctx->cache_key.data, "%V:%uL:%V",
                                     &ctx->ps->id.space, ctx->ps->gen,
                                     &ctx->uri)
                         - ctx->cache_key.data;

    return NGX_OK;
}


/*
 * Only conditional and range headers of the client reach the backend
 * (no cookies, no Authorization, no x-amz-*); a multi-range is served by
 * nginx's range filter from the whole object, a single range by the
 * backend.  Listings and error documents take neither.
 */

static ngx_int_t
ngx_http_objspace_public_client_headers(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    ngx_uint_t        i, keep;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    static ngx_str_t  allowed[] = {
        ngx_string("range"),
        ngx_string("if-range"),
        ngx_string("if-none-match"),
        ngx_string("if-modified-since"),
        ngx_string("if-match"),
        ngx_string("if-unmodified-since"),
        ngx_null_string
    };

    ngx_str_t  *a;

    if (ngx_list_init(&headers, r->pool, 8, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->kind != NGX_HTTP_OBJSPACE_PUBLIC_OBJECT) {
        r->headers_in.range = NULL;
        r->headers_in.if_range = NULL;
        r->headers_in.if_none_match = NULL;
        r->headers_in.if_modified_since = NULL;
        r->headers_in.if_match = NULL;
        r->headers_in.if_unmodified_since = NULL;

        r->headers_in.headers = headers;
        return NGX_OK;
    }

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

        keep = 0;

        for (a = allowed; a->len; a++) {
            if (h[i].key.len == a->len
                && ngx_strncmp(h[i].lowcase_key, a->data, a->len) == 0)
            {
                keep = 1;
                break;
            }
        }

        if (!keep) {
            continue;
        }

        if (a == &allowed[0]
            && ngx_strlchr(h[i].value.data, h[i].value.data + h[i].value.len,
                           ','))
        {
            /* multi-range: nginx cuts it from the whole object */
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    r->headers_in.headers = headers;

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_objspace_public_header_in(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && h[i].key.len == len
            && ngx_strncmp(h[i].lowcase_key, name, len) == 0)
        {
            return &h[i];
        }
    }
}


ngx_int_t
ngx_http_objspace_public_add_header(ngx_http_request_t *r, const char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

    return NGX_OK;
}


/* the Access-Control-Allow-Origin value for this request, or NULL */

ngx_str_t *
ngx_http_objspace_public_cors(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    ngx_str_t  *star;

    if (ctx->rule.cors.len == 0) {
        return NULL;
    }

    if (ngx_http_objspace_public_word(&ctx->rule.cors, (u_char *) "*", 1, 0))
    {
        star = ngx_palloc(r->pool, sizeof(ngx_str_t));
        if (star == NULL) {
            return NULL;
        }

        ngx_str_set(star, "*");
        return star;
    }

    /* the header list was filtered in the access phase: ctx->origin */

    if (ctx->origin.len == 0
        || !ngx_http_objspace_public_word(&ctx->rule.cors, ctx->origin.data,
                                          ctx->origin.len, 0))
    {
        return NULL;
    }

    return &ctx->origin;
}


/*
 * Whether p/len equals one of the space-separated words of list; with
 * wildcard, a word "type/ *" (no space) matches any "type/..." too.
 */

ngx_uint_t
ngx_http_objspace_public_word(ngx_str_t *list, u_char *p, size_t len,
    ngx_uint_t wildcard)
{
    u_char  *w, *e, *end;
    size_t   n;

    end = list->data + list->len;

    for (w = list->data; w < end; w = e + 1) {
        e = ngx_strlchr(w, end, ' ');
        if (e == NULL) {
            e = end;
        }

        n = e - w;

        if (n == len && ngx_strncasecmp(w, p, n) == 0) {
            return 1;
        }

        if (wildcard && n >= 2 && w[n - 1] == '*' && w[n - 2] == '/'
            && len > n - 1 && ngx_strncasecmp(w, p, n - 1) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* rules */

void
ngx_http_objspace_public_parse_rule(ngx_str_t *text,
    ngx_http_objspace_public_rule_t *rule)
{
    u_char     *p, *e, *eq, *end;
    ngx_str_t   name, value;

    end = text->data + text->len;

    for (p = text->data; p < end; p = e + 1) {
        e = ngx_strlchr(p, end, '\n');
        if (e == NULL) {
            e = end;
        }

        eq = ngx_strlchr(p, e, '=');
        if (eq == NULL) {
            continue;
        }

        name.data = p;
        name.len = eq - p;
        value.data = eq + 1;
        value.len = e - eq - 1;

#define ngx_http_objspace_is(s)                                               \
        (name.len == sizeof(s) - 1 && ngx_strncmp(name.data, s, name.len) == 0)

        if (ngx_http_objspace_is("cache_control")) {
            rule->cache_control = value;

        } else if (ngx_http_objspace_is("immutable")) {
            rule->immutable = (value.len == 1 && value.data[0] == '1');

        } else if (ngx_http_objspace_is("index")) {
            rule->index = value;

        } else if (ngx_http_objspace_is("error_page")) {
            rule->error_page = value;

        } else if (ngx_http_objspace_is("listing")) {
            rule->listing = (value.len == 1 && value.data[0] == '1');

        } else if (ngx_http_objspace_is("cors")) {
            rule->cors = value;

        } else if (ngx_http_objspace_is("types")) {
            rule->types = value;
        }

#undef ngx_http_objspace_is
    }
}


ngx_int_t
ngx_http_objspace_public_match(ngx_str_t *rules, ngx_str_t *key,
    ngx_http_objspace_public_rule_t *rule)
{
    u_char     *p, *e, *us, *end;
    ngx_str_t   prefix, text, best, best_text;
    ngx_uint_t  found;

    ngx_memzero(rule, sizeof(ngx_http_objspace_public_rule_t));

    if (rules->len == 0) {
        /* visibility=public without rules: the whole space, defaults */
        return NGX_OK;
    }

    found = 0;
    ngx_str_null(&best);
    ngx_str_null(&best_text);

    end = rules->data + rules->len;

    for (p = rules->data; p < end; p = e + 1) {
        e = ngx_strlchr(p, end, 0x1e);
        if (e == NULL) {
            e = end;
        }

        us = ngx_strlchr(p, e, 0x1f);
        if (us == NULL) {
            continue;
        }

        prefix.data = p;
        prefix.len = us - p;
        text.data = us + 1;
        text.len = e - us - 1;

        if (prefix.len > key->len
            || ngx_strncmp(prefix.data, key->data, prefix.len) != 0)
        {
            continue;
        }

        if (!found || prefix.len > best.len) {
            best = prefix;
            best_text = text;
            found = 1;
        }
    }

    if (!found) {
        return NGX_DECLINED;
    }

    rule->prefix = best;
    ngx_http_objspace_public_parse_rule(&best_text, rule);

    return NGX_OK;
}


/* signing and variables */

/*
 * Signs the backend request of r (the main request or one of its
 * subrequests, e.g. a slice) with the space's backend key, once per
 * request and at the time nginx builds it, so a slice fetched long after
 * the first one carries a fresh X-Amz-Date.  The method is the one nginx
 * sends (proxy_cache turns HEAD into GET).  *sctx is r's own ctx.
 */

static ngx_int_t
ngx_http_objspace_public_sign(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t **sctx)
{
    ngx_int_t                        rc;
    ngx_str_t                        method;
    ngx_http_objspace_kv_t           kv[4];
    ngx_http_objspace_loc_conf_t    *olcf;
    ngx_http_objspace_public_ctx_t  *ctx, *mctx;
    ngx_http_objspace_backend_req_t  br;

    mctx = ngx_http_get_module_ctx(r->main, ngx_http_objspace_public_module);

    if (mctx == NULL || !mctx->ready) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_public_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_objspace_public_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ctx->sub = 1;
        ngx_http_set_ctx(r, ctx, ngx_http_objspace_public_module);
    }

    *sctx = ctx;

    if (ctx->signed_) {
        return NGX_OK;
    }

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    if (r->upstream && r->upstream->method.len) {
        method = r->upstream->method;

    } else {
        method = r->method_name;
    }

    kv[0].key.data = (u_char *) "host";
    kv[0].key.len = 4;
    kv[0].value = olcf->backend_host;

    br.method = method;
    br.uri = mctx->path;
    br.query = mctx->query;
    br.payload_hash = ngx_http_objspace_public_empty_sha256;
    br.headers = kv;
    br.nheaders = 1;

    rc = ngx_http_objspace_backend_sign(r, &mctx->ps->id, &br);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "objspace public: cannot sign the backend request "
                      "for space %V", &mctx->ps->id.space);
        return NGX_ERROR;
    }

    ctx->amz_date = br.amz_date;
    ctx->authorization = br.authorization;
    ctx->signed_ = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_objspace_public_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_int_t                        rc;
    ngx_str_t                       *s;
    ngx_http_objspace_public_ctx_t  *ctx, *sctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_objspace_public_module);

    if (ctx == NULL || !ctx->ready) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case NGX_HTTP_OBJSPACE_PV_URI:
        s = &ctx->uri;
        break;

    case NGX_HTTP_OBJSPACE_PV_CONTENT_SHA256:
        s = &ngx_http_objspace_public_empty_sha256;
        break;

    case NGX_HTTP_OBJSPACE_PV_CACHE_KEY:
        s = &ctx->cache_key;
        break;

    case NGX_HTTP_OBJSPACE_PV_SPACE:
        s = &ctx->ps->id.space;
        break;

    default: /* AMZ_DATE, AUTHORIZATION */
        rc = ngx_http_objspace_public_sign(r, &sctx);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc != NGX_OK) {
            v->not_found = 1;
            return NGX_OK;
        }

        s = (data == NGX_HTTP_OBJSPACE_PV_AMZ_DATE) ? &sctx->amz_date
                                                   : &sctx->authorization;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


/* logs */

/*
 * Post-read phase: a public frontend's requests get a log context without
 * the request line (object keys, listing tokens) before anything is
 * logged about them.
 */

static ngx_int_t
ngx_http_objspace_public_post_read(ngx_http_request_t *r)
{
    ngx_http_objspace_public_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_public_module);

    if (plcf->mode != NGX_HTTP_OBJSPACE_PUBLIC_OFF) {
        r->log_handler = ngx_http_objspace_public_log_error;
    }

    return NGX_DECLINED;
}


/* ", method: GET, space: sp_..., upstream: ..." instead of the request */

static u_char *
ngx_http_objspace_public_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len)
{
    u_char                          *p;
    ngx_http_upstream_t             *u;
    ngx_http_objspace_public_ctx_t  *ctx;

    p = buf;

    if (r->method_name.len) {
        p = ngx_snprintf(p, len, ", method: %V", &r->method_name);
        len -= p - buf;
        buf = p;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_public_module);

    if (ctx && ctx->ps) {
        p = ngx_snprintf(p, len, ", space: %V", &ctx->ps->id.space);
        len -= p - buf;
        buf = p;
    }

    u = sr->upstream;

    if (u && u->peer.name) {
        p = ngx_snprintf(p, len, ", upstream: %V", u->peer.name);
    }

    return p;
}


/* configuration */

static ngx_int_t
ngx_http_objspace_public_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_objspace_public_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_objspace_public_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_objspace_public_main_conf_t));
}


static void *
ngx_http_objspace_public_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_objspace_public_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_objspace_public_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->mode = NGX_CONF_UNSET_UINT;
    conf->list_limit = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_objspace_public_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_objspace_public_loc_conf_t *prev = parent;
    ngx_http_objspace_public_loc_conf_t *conf = child;

    ngx_http_objspace_loc_conf_t   *olcf;
    ngx_http_objspace_main_conf_t  *omcf;

    ngx_conf_merge_uint_value(conf->mode, prev->mode,
                              NGX_HTTP_OBJSPACE_PUBLIC_OFF);
    ngx_conf_merge_uint_value(conf->list_limit, prev->list_limit, 1000);

    if (conf->mode == NGX_HTTP_OBJSPACE_PUBLIC_OFF) {
        return NGX_CONF_OK;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_objspace_module);
    olcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_objspace_module);

    if (omcf->redis_addr == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_public\" requires \"objspace_redis\"");
        return NGX_CONF_ERROR;
    }

    if (omcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_public\" requires "
                           "\"objspace_cache_zone\"");
        return NGX_CONF_ERROR;
    }

    if (!omcf->secret_key_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_public\" requires "
                           "\"objspace_secret_key_file\"");
        return NGX_CONF_ERROR;
    }

    if (olcf->backend_host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_public\" requires "
                           "\"objspace_backend_host\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_objspace_public_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_objspace_public_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_objspace_public_log;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_objspace_public_post_read;

    ngx_http_objspace_public_filter_init();

    return NGX_OK;
}

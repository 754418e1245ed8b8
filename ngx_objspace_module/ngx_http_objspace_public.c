
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

#include <expat.h>

#include "ngx_http_objspace_public.h"


#define NGX_HTTP_OBJSPACE_PUBLIC_OBJECT     0
#define NGX_HTTP_OBJSPACE_PUBLIC_LISTING    1
#define NGX_HTTP_OBJSPACE_PUBLIC_ERROR_DOC  2

#define NGX_HTTP_OBJSPACE_PUBLIC_MAX_TEXT   4096
#define NGX_HTTP_OBJSPACE_PUBLIC_MAX_TOKEN  2048

#define NGX_HTTP_OBJSPACE_PUBLIC_DEFAULT_CC   "public, max-age=60"
#define NGX_HTTP_OBJSPACE_PUBLIC_IMMUTABLE_CC                                 \
    "public, max-age=31536000, immutable"


/* listing XML fields being collected */
enum {
    NGX_HTTP_OBJSPACE_PL_NONE = 0,
    NGX_HTTP_OBJSPACE_PL_KEY,
    NGX_HTTP_OBJSPACE_PL_SIZE,
    NGX_HTTP_OBJSPACE_PL_MTIME,
    NGX_HTTP_OBJSPACE_PL_ETAG,
    NGX_HTTP_OBJSPACE_PL_PREFIX,
    NGX_HTTP_OBJSPACE_PL_TOKEN
};


typedef struct {
    ngx_str_t                   key;
    ngx_str_t                   size;
    ngx_str_t                   mtime;
    ngx_str_t                   etag;
    unsigned                    dir:1;
} ngx_http_objspace_public_entry_t;


typedef struct {
    XML_Parser                  parser;
    ngx_pool_t                 *pool;
    ngx_array_t                 entries;   /* ..._public_entry_t */
    ngx_http_objspace_public_entry_t  cur;
    ngx_str_t                   token;
    ngx_uint_t                  field;
    size_t                      text_len;
    unsigned                    in_contents:1;
    unsigned                    in_prefixes:1;
    unsigned                    failed:1;
    u_char                      text[NGX_HTTP_OBJSPACE_PUBLIC_MAX_TEXT];
} ngx_http_objspace_public_list_t;


typedef struct {
    ngx_http_objspace_public_space_t  *ps;
    ngx_http_objspace_public_rule_t    rule;
    ngx_str_t                          name;       /* "s/slug", "h/host" */
    ngx_str_t                          base;       /* URL path of the root */
    ngx_str_t                          key;        /* decoded object key */
    ngx_str_t                          path;       /* upstream path */
    ngx_str_t                          query;      /* upstream query */
    ngx_str_t                          uri;        /* path [? query] */
    ngx_str_t                          cache_key;
    ngx_str_t                          origin;     /* the client's Origin */
    ngx_str_t                          amz_date;   /* signed for this r */
    ngx_str_t                          authorization;
    ngx_http_objspace_public_list_t   *list;
    ngx_http_objspace_public_ranges_t *ranges;     /* multi-range */
    ngx_uint_t                         kind;
    unsigned                           parsed:1;
    unsigned                           ready:1;    /* upstream may start */
    unsigned                           json:1;
    unsigned                           signed_:1;
    unsigned                           replaced:1; /* our body instead */
    unsigned                           sent:1;
    unsigned                           sub:1;      /* subrequest: signing */
} ngx_http_objspace_public_ctx_t;


typedef struct {
    ngx_uint_t                  mode;           /* objspace_public */
    ngx_uint_t                  list_limit;     /* ..._list_limit */
} ngx_http_objspace_public_loc_conf_t;


typedef struct {
    ngx_shm_zone_t             *metrics_zone;
} ngx_http_objspace_public_main_conf_t;


/* per-space counters in shared memory */
typedef struct {
    ngx_str_node_t              sn;
    ngx_atomic_t                counters[NGX_HTTP_OBJSPACE_PM_MAX];
    u_char                      data[1];
} ngx_http_objspace_public_mnode_t;


typedef struct {
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
    ngx_uint_t                  full;           /* spaces not counted */
} ngx_http_objspace_public_mshctx_t;


/* counters copied out of the zone */
typedef struct {
    ngx_str_t                   space;
    uint64_t                    counters[NGX_HTTP_OBJSPACE_PM_MAX];
} ngx_http_objspace_public_mcopy_t;


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
static ngx_int_t ngx_http_objspace_public_add_header(ngx_http_request_t *r,
    const char *key, ngx_str_t *value);
static ngx_str_t *ngx_http_objspace_public_cors(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx);
static ngx_uint_t ngx_http_objspace_public_word(ngx_str_t *list,
    u_char *p, size_t len, ngx_uint_t wildcard);
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
static ngx_int_t ngx_http_objspace_public_list_start(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx);
static void ngx_http_objspace_public_list_cleanup(void *data);
static void XMLCALL ngx_http_objspace_public_xml_start(void *data,
    const XML_Char *name, const XML_Char **atts);
static void XMLCALL ngx_http_objspace_public_xml_end(void *data,
    const XML_Char *name);
static void XMLCALL ngx_http_objspace_public_xml_text(void *data,
    const XML_Char *s, int len);
static ngx_chain_t *ngx_http_objspace_public_render(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx);
static u_char *ngx_http_objspace_public_escape_html(u_char *dst,
    ngx_str_t *s);
static u_char *ngx_http_objspace_public_escape_json(u_char *dst,
    ngx_str_t *s);
static ngx_int_t ngx_http_objspace_public_sign(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t **sctx);
static ngx_int_t ngx_http_objspace_public_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_objspace_public_log(ngx_http_request_t *r);
static ngx_int_t ngx_http_objspace_public_post_read(ngx_http_request_t *r);
static u_char *ngx_http_objspace_public_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static ngx_int_t ngx_http_objspace_public_metrics_handler(
    ngx_http_request_t *r);
static void ngx_http_objspace_public_metrics_line(void *data,
    ngx_str_t *space, uint64_t *counters);
static ngx_int_t ngx_http_objspace_public_metrics_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static ngx_int_t ngx_http_objspace_public_add_variables(ngx_conf_t *cf);
static void *ngx_http_objspace_public_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_objspace_public_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_objspace_public_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_objspace_public_metrics_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_objspace_public_metrics(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
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
    NULL,                                     /* init process */
    NULL,                                     /* init thread */
    NULL,                                     /* exit thread */
    NULL,                                     /* exit process */
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

static ngx_str_t  ngx_http_objspace_public_metric_names[] = {
    ngx_string("objspace_public_requests_total"),
    ngx_string("objspace_public_bytes_sent_total"),
    ngx_string("objspace_public_hits_total"),
    ngx_string("objspace_public_not_modified_total"),
    ngx_string("objspace_public_not_found_total"),
    ngx_string("objspace_public_cache_hits_total")
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


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


static ngx_int_t
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

static ngx_str_t *
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

static ngx_uint_t
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


/* filters */

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
    ngx_buf_t                        *b;
    ngx_uint_t                        last;
    ngx_chain_t                      *cl, out, *rendered;
    ngx_http_objspace_public_ctx_t   *ctx;
    ngx_http_objspace_public_list_t  *pl;

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

    /* a listing: parse the XML as it streams, render at the end */

    pl = ctx->list;
    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b) && b->last > b->pos && !pl->failed) {
            if (XML_Parse(pl->parser, (const char *) b->pos,
                          (int) (b->last - b->pos), 0)
                != XML_STATUS_OK)
            {
                pl->failed = 1;
            }
        }

        b->pos = b->last;

        if (b->last_buf) {
            last = 1;
        }
    }

    if (!last || ctx->sent) {
        return NGX_OK;
    }

    ctx->sent = 1;

    if (!pl->failed
        && XML_Parse(pl->parser, NULL, 0, 1) != XML_STATUS_OK)
    {
        pl->failed = 1;
    }

    if (pl->failed) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "objspace public: listing of space %V: the backend "
                      "answer could not be parsed", &ctx->ps->id.space);
    }

    rendered = ngx_http_objspace_public_render(r, ctx);
    if (rendered == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_next_body_filter(r, rendered);
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
        ngx_http_objspace_public_list_cleanup(ctx->list);
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


/* listings */

static ngx_int_t
ngx_http_objspace_public_list_start(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    ngx_pool_cleanup_t               *cln;
    ngx_http_objspace_public_list_t  *pl;

    pl = ngx_pcalloc(r->pool, sizeof(ngx_http_objspace_public_list_t));
    if (pl == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&pl->entries, r->pool, 64,
                       sizeof(ngx_http_objspace_public_entry_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    pl->parser = XML_ParserCreate(NULL);
    if (pl->parser == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_objspace_public_list_cleanup;
    cln->data = pl;

    pl->pool = r->pool;

    XML_SetUserData(pl->parser, pl);
    XML_SetElementHandler(pl->parser, ngx_http_objspace_public_xml_start,
                          ngx_http_objspace_public_xml_end);
    XML_SetCharacterDataHandler(pl->parser,
                                ngx_http_objspace_public_xml_text);

    ctx->list = pl;

    return NGX_OK;
}


static void
ngx_http_objspace_public_list_cleanup(void *data)
{
    ngx_http_objspace_public_list_t  *pl = data;

    if (pl->parser) {
        XML_ParserFree(pl->parser);
        pl->parser = NULL;
    }
}


static void XMLCALL
ngx_http_objspace_public_xml_start(void *data, const XML_Char *name,
    const XML_Char **atts)
{
    ngx_http_objspace_public_list_t  *pl = data;

    ngx_uint_t  field;

    field = NGX_HTTP_OBJSPACE_PL_NONE;

    if (ngx_strcmp(name, "Contents") == 0) {
        pl->in_contents = 1;
        ngx_memzero(&pl->cur, sizeof(ngx_http_objspace_public_entry_t));

    } else if (ngx_strcmp(name, "CommonPrefixes") == 0) {
        pl->in_prefixes = 1;
        ngx_memzero(&pl->cur, sizeof(ngx_http_objspace_public_entry_t));
        pl->cur.dir = 1;

    } else if (pl->in_contents) {
        if (ngx_strcmp(name, "Key") == 0) {
            field = NGX_HTTP_OBJSPACE_PL_KEY;

        } else if (ngx_strcmp(name, "Size") == 0) {
            field = NGX_HTTP_OBJSPACE_PL_SIZE;

        } else if (ngx_strcmp(name, "LastModified") == 0) {
            field = NGX_HTTP_OBJSPACE_PL_MTIME;

        } else if (ngx_strcmp(name, "ETag") == 0) {
            field = NGX_HTTP_OBJSPACE_PL_ETAG;
        }

    } else if (pl->in_prefixes) {
        if (ngx_strcmp(name, "Prefix") == 0) {
            field = NGX_HTTP_OBJSPACE_PL_PREFIX;
        }

    } else if (ngx_strcmp(name, "NextContinuationToken") == 0) {
        field = NGX_HTTP_OBJSPACE_PL_TOKEN;
    }

    pl->field = field;
    pl->text_len = 0;
}


static void XMLCALL
ngx_http_objspace_public_xml_text(void *data, const XML_Char *s, int len)
{
    ngx_http_objspace_public_list_t  *pl = data;

    if (pl->field == NGX_HTTP_OBJSPACE_PL_NONE || len <= 0) {
        return;
    }

    if (pl->text_len + len > sizeof(pl->text)) {
        pl->failed = 1;
        XML_StopParser(pl->parser, XML_FALSE);
        return;
    }

    ngx_memcpy(pl->text + pl->text_len, s, len);
    pl->text_len += len;
}


static void XMLCALL
ngx_http_objspace_public_xml_end(void *data, const XML_Char *name)
{
    ngx_http_objspace_public_list_t  *pl = data;

    ngx_str_t                          s, *dst;
    ngx_http_objspace_public_entry_t  *e;

    if (pl->field != NGX_HTTP_OBJSPACE_PL_NONE) {
        s.len = pl->text_len;
        s.data = ngx_pnalloc(pl->pool, s.len + 1);
        if (s.data == NULL) {
            pl->failed = 1;
            XML_StopParser(pl->parser, XML_FALSE);
            return;
        }

        ngx_memcpy(s.data, pl->text, s.len);

        switch (pl->field) {
        case NGX_HTTP_OBJSPACE_PL_KEY:
        case NGX_HTTP_OBJSPACE_PL_PREFIX:
            dst = &pl->cur.key;
            break;
        case NGX_HTTP_OBJSPACE_PL_SIZE:
            dst = &pl->cur.size;
            break;
        case NGX_HTTP_OBJSPACE_PL_MTIME:
            dst = &pl->cur.mtime;
            break;
        case NGX_HTTP_OBJSPACE_PL_ETAG:
            dst = &pl->cur.etag;
            break;
        default: /* NGX_HTTP_OBJSPACE_PL_TOKEN */
            dst = &pl->token;
        }

        *dst = s;
        pl->field = NGX_HTTP_OBJSPACE_PL_NONE;
        return;
    }

    if ((pl->in_contents && ngx_strcmp(name, "Contents") == 0)
        || (pl->in_prefixes && ngx_strcmp(name, "CommonPrefixes") == 0))
    {
        pl->in_contents = 0;
        pl->in_prefixes = 0;

        if (pl->cur.key.len == 0) {
            return;
        }

        e = ngx_array_push(&pl->entries);
        if (e == NULL) {
            pl->failed = 1;
            XML_StopParser(pl->parser, XML_FALSE);
            return;
        }

        *e = pl->cur;
    }
}


/*
 * The index page: names relative to the listed prefix, links
 * percent-encoded, text HTML- or JSON-escaped; "?page=TOKEN" for the next
 * page when the backend has more.
 */

static ngx_chain_t *
ngx_http_objspace_public_render(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    u_char                            *p;
    size_t                             len;
    ngx_buf_t                         *b;
    ngx_str_t                          name, title;
    ngx_uint_t                         i, first;
    ngx_chain_t                       *cl;
    ngx_http_objspace_public_list_t   *pl;
    ngx_http_objspace_public_entry_t  *e;

    pl = ctx->list;
    e = pl->entries.elts;

    title.len = ctx->base.len + ctx->key.len;
    title.data = ngx_pnalloc(r->pool, title.len);
    if (title.data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(title.data, ctx->base.data, ctx->base.len);
    ngx_memcpy(p, ctx->key.data, ctx->key.len);

    /* worst case: every byte escaped (6 bytes in JSON, 3 * 6 in a link) */

    len = 1024 + 24 * title.len + 24 * pl->token.len;

    for (i = 0; i < pl->entries.nelts; i++) {
        len += 256 + 24 * e[i].key.len + e[i].size.len + e[i].mtime.len
               + 6 * e[i].etag.len;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    if (ctx->json) {
        p = ngx_cpymem(p, "{\"prefix\":\"", sizeof("{\"prefix\":\"") - 1);
        p = ngx_http_objspace_public_escape_json(p, &ctx->key);
        p = ngx_cpymem(p, "\",\"directories\":[",
                       sizeof("\",\"directories\":[") - 1);

        first = 1;

        for (i = 0; i < pl->entries.nelts; i++) {
            if (!e[i].dir || e[i].key.len <= ctx->key.len) {
                continue;
            }

            name.data = e[i].key.data + ctx->key.len;
            name.len = e[i].key.len - ctx->key.len;

            if (!first) {
                *p++ = ',';
            }

            first = 0;
            *p++ = '"';
            p = ngx_http_objspace_public_escape_json(p, &name);
            *p++ = '"';
        }

        p = ngx_cpymem(p, "],\"objects\":[", sizeof("],\"objects\":[") - 1);

        first = 1;

        for (i = 0; i < pl->entries.nelts; i++) {
            if (e[i].dir || e[i].key.len <= ctx->key.len) {
                continue;
            }

            name.data = e[i].key.data + ctx->key.len;
            name.len = e[i].key.len - ctx->key.len;

            if (!first) {
                *p++ = ',';
            }

            first = 0;
            p = ngx_cpymem(p, "{\"name\":\"", sizeof("{\"name\":\"") - 1);
            p = ngx_http_objspace_public_escape_json(p, &name);
            p = ngx_sprintf(p, "\",\"size\":%uL,\"last_modified\":\"",
                            (uint64_t) ngx_max(ngx_atoof(e[i].size.data,
                                                         e[i].size.len),
                                               0));
            p = ngx_http_objspace_public_escape_json(p, &e[i].mtime);
            p = ngx_cpymem(p, "\",\"etag\":\"", sizeof("\",\"etag\":\"") - 1);
            p = ngx_http_objspace_public_escape_json(p, &e[i].etag);
            p = ngx_cpymem(p, "\"}", 2);
        }

        p = ngx_cpymem(p, "],\"next_page\":", sizeof("],\"next_page\":") - 1);

        if (pl->token.len) {
            *p++ = '"';
            p = ngx_http_objspace_public_escape_json(p, &pl->token);
            *p++ = '"';

        } else {
            p = ngx_cpymem(p, "null", 4);
        }

        p = ngx_cpymem(p, ",\"complete\":", sizeof(",\"complete\":") - 1);
        p = pl->failed ? ngx_cpymem(p, "false", 5) : ngx_cpymem(p, "true", 4);
        p = ngx_cpymem(p, "}\n", 2);

    } else {
        p = ngx_cpymem(p, "<!DOCTYPE html>\n<html><head>"
                       "<meta charset=\"utf-8\"><title>Index of ",
                       sizeof("<!DOCTYPE html>\n<html><head><meta "
                              "charset=\"utf-8\"><title>Index of ") - 1);
        p = ngx_http_objspace_public_escape_html(p, &title);
        p = ngx_cpymem(p, "</title></head>\n<body><h1>Index of ",
                       sizeof("</title></head>\n<body><h1>Index of ") - 1);
        p = ngx_http_objspace_public_escape_html(p, &title);
        p = ngx_cpymem(p, "</h1>\n<table>\n",
                       sizeof("</h1>\n<table>\n") - 1);

        if (ctx->key.len) {
            p = ngx_cpymem(p, "<tr><td><a href=\"../\">../</a></td>"
                           "<td></td><td></td></tr>\n",
                           sizeof("<tr><td><a href=\"../\">../</a></td>"
                                  "<td></td><td></td></tr>\n") - 1);
        }

        for (i = 0; i < pl->entries.nelts; i++) {
            if (e[i].key.len <= ctx->key.len) {
                continue;
            }

            name.data = e[i].key.data + ctx->key.len;
            name.len = e[i].key.len - ctx->key.len;

            p = ngx_cpymem(p, "<tr><td><a href=\"./",
                           sizeof("<tr><td><a href=\"./") - 1);
            p = ngx_http_objspace_sigv4_uri_encode(p, name.data, name.len, 1);
            p = ngx_cpymem(p, "\">", 2);
            p = ngx_http_objspace_public_escape_html(p, &name);
            p = ngx_cpymem(p, "</a></td><td>", sizeof("</a></td><td>") - 1);

            if (e[i].dir) {
                *p++ = '-';

            } else {
                p = ngx_http_objspace_public_escape_html(p, &e[i].size);
            }

            p = ngx_cpymem(p, "</td><td>", sizeof("</td><td>") - 1);
            p = ngx_http_objspace_public_escape_html(p, &e[i].mtime);
            p = ngx_cpymem(p, "</td></tr>\n", sizeof("</td></tr>\n") - 1);
        }

        p = ngx_cpymem(p, "</table>\n", sizeof("</table>\n") - 1);

        if (pl->token.len) {
            p = ngx_cpymem(p, "<p><a rel=\"next\" href=\"?page=",
                           sizeof("<p><a rel=\"next\" href=\"?page=") - 1);
            p = ngx_http_objspace_sigv4_uri_encode(p, pl->token.data,
                                                   pl->token.len, 0);
            p = ngx_cpymem(p, "\">next page</a></p>\n",
                           sizeof("\">next page</a></p>\n") - 1);
        }

        if (pl->failed) {
            p = ngx_cpymem(p, "<p>(incomplete)</p>\n",
                           sizeof("<p>(incomplete)</p>\n") - 1);
        }

        p = ngx_cpymem(p, "</body></html>\n", sizeof("</body></html>\n") - 1);
    }

    b->last = p;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


/* dst needs 6 * s->len bytes */

static u_char *
ngx_http_objspace_public_escape_html(u_char *dst, ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        switch (s->data[i]) {
        case '<':
            dst = ngx_cpymem(dst, "&lt;", 4);
            break;
        case '>':
            dst = ngx_cpymem(dst, "&gt;", 4);
            break;
        case '&':
            dst = ngx_cpymem(dst, "&amp;", 5);
            break;
        case '"':
            dst = ngx_cpymem(dst, "&quot;", 6);
            break;
        case '\'':
            dst = ngx_cpymem(dst, "&#39;", 5);
            break;
        default:
            *dst++ = s->data[i];
        }
    }

    return dst;
}


/* dst needs 6 * s->len bytes */

static u_char *
ngx_http_objspace_public_escape_json(u_char *dst, ngx_str_t *s)
{
    u_char  c;
    size_t  i;

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (c == '"' || c == '\\') {
            *dst++ = '\\';
            *dst++ = c;

        } else if (c < 0x20 || c == 0x7f) {
            dst = ngx_sprintf(dst, "\\u%04xd", (ngx_uint_t) c);

        } else {
            *dst++ = c;
        }
    }

    return dst;
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


/* metrics */

/* log phase: one request of a public space; takes the metrics mutex */

static ngx_int_t
ngx_http_objspace_public_log(ngx_http_request_t *r)
{
    size_t                                 size;
    uint32_t                               hash;
    ngx_str_t                             *space;
    ngx_uint_t                             status;
    ngx_slab_pool_t                       *shpool;
    ngx_http_objspace_public_ctx_t        *ctx;
    ngx_http_objspace_public_mnode_t      *node;
    ngx_http_objspace_public_mshctx_t     *sh;
    ngx_http_objspace_public_main_conf_t  *pmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_public_module);

    if (ctx == NULL || ctx->ps == NULL || ctx->sub) {
        return NGX_OK;
    }

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_objspace_public_module);

    if (pmcf->metrics_zone == NULL || pmcf->metrics_zone->data == NULL) {
        return NGX_OK;
    }

    space = &ctx->ps->id.space;
    shpool = (ngx_slab_pool_t *) pmcf->metrics_zone->shm.addr;
    sh = pmcf->metrics_zone->data;
    hash = ngx_crc32_short(space->data, space->len);

    ngx_shmtx_lock(&shpool->mutex);

    node = (ngx_http_objspace_public_mnode_t *)
               ngx_str_rbtree_lookup(&sh->tree, space, hash);

    if (node == NULL) {
        size = offsetof(ngx_http_objspace_public_mnode_t, data) + space->len;

        node = ngx_slab_alloc_locked(shpool, size);

        if (node == NULL) {
            sh->full++;
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_OK;
        }

        ngx_memzero(node, size);
        ngx_memcpy(node->data, space->data, space->len);
        node->sn.node.key = hash;
        node->sn.str.data = node->data;
        node->sn.str.len = space->len;

        ngx_rbtree_insert(&sh->tree, &node->sn.node);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    /* nodes are never freed: count without the mutex */

    status = r->headers_out.status;

    (void) ngx_atomic_fetch_add(&node->counters[NGX_HTTP_OBJSPACE_PM_REQUESTS],
                                1);
    (void) ngx_atomic_fetch_add(&node->counters[NGX_HTTP_OBJSPACE_PM_BYTES],
                                (ngx_atomic_int_t) r->connection->sent);

    if (status == NGX_HTTP_OK || status == NGX_HTTP_PARTIAL_CONTENT) {
        (void) ngx_atomic_fetch_add(
                            &node->counters[NGX_HTTP_OBJSPACE_PM_HITS], 1);

    } else if (status == NGX_HTTP_NOT_MODIFIED) {
        (void) ngx_atomic_fetch_add(
                    &node->counters[NGX_HTTP_OBJSPACE_PM_NOT_MODIFIED], 1);

    } else if (status == NGX_HTTP_NOT_FOUND) {
        (void) ngx_atomic_fetch_add(
                       &node->counters[NGX_HTTP_OBJSPACE_PM_NOT_FOUND], 1);
    }

#if (NGX_HTTP_CACHE)
    if (r->upstream && r->upstream->cache_status == NGX_HTTP_CACHE_HIT) {
        (void) ngx_atomic_fetch_add(
                      &node->counters[NGX_HTTP_OBJSPACE_PM_CACHE_HITS], 1);
    }
#endif

    return NGX_OK;
}


/*
 * Walks the metrics tree under the mutex, copying every space's counters
 * into r->pool, then calls handler for each without the mutex.
 */

ngx_int_t
ngx_http_objspace_public_metrics_each(ngx_http_request_t *r,
    ngx_http_objspace_public_metrics_pt handler, void *data)
{
    u_char                                *p;
    ngx_uint_t                             i, n;
    ngx_array_t                            copies;
    ngx_slab_pool_t                       *shpool;
    ngx_rbtree_node_t                     *rn, *root, *sentinel;
    ngx_http_objspace_public_mnode_t      *node;
    ngx_http_objspace_public_mshctx_t     *sh;
    ngx_http_objspace_public_main_conf_t  *pmcf;

    ngx_http_objspace_public_mcopy_t      *c;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_objspace_public_module);

    if (pmcf == NULL || pmcf->metrics_zone == NULL
        || pmcf->metrics_zone->data == NULL)
    {
        return NGX_DECLINED;
    }

    if (ngx_array_init(&copies, r->pool, 16,
                       sizeof(ngx_http_objspace_public_mcopy_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    shpool = (ngx_slab_pool_t *) pmcf->metrics_zone->shm.addr;
    sh = pmcf->metrics_zone->data;

    ngx_shmtx_lock(&shpool->mutex);

    root = sh->tree.root;
    sentinel = sh->tree.sentinel;

    if (root != sentinel) {
        for (rn = ngx_rbtree_min(root, sentinel);
             rn;
             rn = ngx_rbtree_next(&sh->tree, rn))
        {
            node = (ngx_http_objspace_public_mnode_t *) rn;

            c = ngx_array_push(&copies);
            p = c ? ngx_pnalloc(r->pool, node->sn.str.len) : NULL;

            if (p == NULL) {
                ngx_shmtx_unlock(&shpool->mutex);
                return NGX_ERROR;
            }

            ngx_memcpy(p, node->sn.str.data, node->sn.str.len);
            c->space.data = p;
            c->space.len = node->sn.str.len;

            for (i = 0; i < NGX_HTTP_OBJSPACE_PM_MAX; i++) {
                c->counters[i] = node->counters[i];
            }
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    c = copies.elts;
    n = copies.nelts;

    for (i = 0; i < n; i++) {
        handler(data, &c[i].space, c[i].counters);
    }

    return NGX_OK;
}


typedef struct {
    ngx_chain_t                *first;
    ngx_chain_t               **last;
    ngx_pool_t                 *pool;
    ngx_uint_t                  failed;
} ngx_http_objspace_public_mout_t;


/* "objspace_public_metrics": Prometheus text, one line per counter */

static ngx_int_t
ngx_http_objspace_public_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_buf_t                        *b;
    ngx_chain_t                      *cl;
    ngx_http_objspace_public_mout_t   out;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    out.first = NULL;
    out.last = &out.first;
    out.pool = r->pool;
    out.failed = 0;

    rc = ngx_http_objspace_public_metrics_each(r,
                                    ngx_http_objspace_public_metrics_line,
                                    &out);

    if (rc == NGX_ERROR || out.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;
    *out.last = cl;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;

    for (cl = out.first; cl; cl = cl->next) {
        r->headers_out.content_length_n += cl->buf->last - cl->buf->pos;
    }

    ngx_str_set(&r->headers_out.content_type, "text/plain; version=0.0.4");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out.first);
}


static void
ngx_http_objspace_public_metrics_line(void *data, ngx_str_t *space,
    uint64_t *counters)
{
    ngx_http_objspace_public_mout_t  *out = data;

    size_t        len;
    ngx_buf_t    *b;
    ngx_uint_t    i;
    ngx_chain_t  *cl;

    len = 0;

    for (i = 0; i < NGX_HTTP_OBJSPACE_PM_MAX; i++) {
        len += ngx_http_objspace_public_metric_names[i].len + space->len
               + sizeof("{space=\"\"} \n") - 1 + NGX_INT64_LEN;
    }

    b = ngx_create_temp_buf(out->pool, len);
    cl = b ? ngx_alloc_chain_link(out->pool) : NULL;

    if (cl == NULL) {
        out->failed = 1;
        return;
    }

    for (i = 0; i < NGX_HTTP_OBJSPACE_PM_MAX; i++) {
        b->last = ngx_sprintf(b->last, "%V{space=\"%V\"} %uL\n",
                              &ngx_http_objspace_public_metric_names[i],
                              space, counters[i]);
    }

    cl->buf = b;
    cl->next = NULL;
    *out->last = cl;
    out->last = &cl->next;
}


static ngx_int_t
ngx_http_objspace_public_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data)
{
    ngx_http_objspace_public_mshctx_t  *osh = data;

    ngx_slab_pool_t                    *shpool;
    ngx_http_objspace_public_mshctx_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (osh) {
        shm_zone->data = osh;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_objspace_public_mshctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->tree, &sh->sentinel, ngx_str_rbtree_insert_value);
    sh->full = 0;

    shpool->data = sh;
    shm_zone->data = sh;

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


static char *
ngx_http_objspace_public_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_objspace_public_main_conf_t *pmcf = conf;

    u_char     *p;
    ssize_t     size;
    ngx_str_t  *value, name, s;

    if (pmcf->metrics_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');
    if (p == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected NAME:SIZE",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (name.len == 0 || size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    pmcf->metrics_zone = ngx_shared_memory_add(cf, &name, size,
                                             &ngx_http_objspace_public_module);
    if (pmcf->metrics_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    pmcf->metrics_zone->init = ngx_http_objspace_public_metrics_init_zone;

    return NGX_CONF_OK;
}


static char *
ngx_http_objspace_public_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_objspace_public_metrics_handler;

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

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_objspace_public_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_objspace_public_body_filter;

    return NGX_OK;
}


/*
 * Copyright (C) objspace authors
 *
 * ngx_http_objspace_public_module: the public web/CDN frontend, a second
 * module in ngx_http_objspace_module.so.  Anonymous GET/HEAD of objects in
 * spaces whose publication rules allow it, signed upstream with the space's
 * backend key.  See docs/public.md.
 */


#ifndef _NGX_HTTP_OBJSPACE_PUBLIC_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_PUBLIC_H_INCLUDED_


#include "ngx_http_objspace_module.h"


/* objspace_public */
#define NGX_HTTP_OBJSPACE_PUBLIC_OFF        0
#define NGX_HTTP_OBJSPACE_PUBLIC_PATH       1    /* /{slug}/{key} */
#define NGX_HTTP_OBJSPACE_PUBLIC_HOST       2    /* Host names the space */

#define NGX_HTTP_OBJSPACE_PUBLIC_MAX_SLUG   63
#define NGX_HTTP_OBJSPACE_PUBLIC_MAX_HOST   126  /* cache names: 128 */


/* one publication rule, parsed from its text (docs/redis-schema.md) */
typedef struct {
    ngx_str_t                   prefix;
    ngx_str_t                   cache_control;
    ngx_str_t                   index;
    ngx_str_t                   error_page;
    ngx_str_t                   cors;          /* origins, ' '-separated */
    ngx_str_t                   types;         /* types, ' '-separated */
    unsigned                    immutable:1;
    unsigned                    listing:1;
} ngx_http_objspace_public_rule_t;


typedef struct ngx_http_objspace_public_list_s
    ngx_http_objspace_public_list_t;
typedef struct ngx_http_objspace_public_ranges_s
    ngx_http_objspace_public_ranges_t;


#define NGX_HTTP_OBJSPACE_PUBLIC_OBJECT     0
#define NGX_HTTP_OBJSPACE_PUBLIC_LISTING    1
#define NGX_HTTP_OBJSPACE_PUBLIC_ERROR_DOC  2

#define NGX_HTTP_OBJSPACE_PUBLIC_MAX_TOKEN  2048

#define NGX_HTTP_OBJSPACE_PUBLIC_DEFAULT_CC   "public, max-age=60"
#define NGX_HTTP_OBJSPACE_PUBLIC_IMMUTABLE_CC                                 \
    "public, max-age=31536000, immutable"


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
    void                       *flush;          /* per worker */
} ngx_http_objspace_public_main_conf_t;


/* per-space counters (objspace_public_metrics_zone) */
typedef enum {
    NGX_HTTP_OBJSPACE_PM_REQUESTS = 0,
    NGX_HTTP_OBJSPACE_PM_BYTES,
    NGX_HTTP_OBJSPACE_PM_HITS,             /* 200 and 206 */
    NGX_HTTP_OBJSPACE_PM_NOT_MODIFIED,     /* 304 */
    NGX_HTTP_OBJSPACE_PM_NOT_FOUND,        /* 404 */
    NGX_HTTP_OBJSPACE_PM_CACHE_HITS,       /* served by nginx's proxy_cache */
    NGX_HTTP_OBJSPACE_PM_MAX
} ngx_http_objspace_public_metric_e;


typedef void (*ngx_http_objspace_public_metrics_pt)(void *data,
    ngx_str_t *space, uint64_t *counters);

/*
 * Calls handler once per space with a copy of its counters
 * (NGX_HTTP_OBJSPACE_PM_MAX of them, this node's totals since the zone was
 * made), for a metrics endpoint.  The copy is taken under the zone mutex;
 * handler runs without it.  Returns NGX_ERROR on allocation failure,
 * NGX_DECLINED without a zone.
 */
ngx_int_t ngx_http_objspace_public_metrics_each(ngx_http_request_t *r,
    ngx_http_objspace_public_metrics_pt handler, void *data);

/*
 * The counters in Prometheus text format, family after family, each with
 * one HELP and one TYPE line (docs/metrics.md): *out is one chain link on
 * r->pool, its buffer not last_buf.  Shared by objspace_public_metrics
 * and objspace_metrics.  NGX_DECLINED without a zone, NGX_ERROR on
 * allocation failure.
 */
ngx_int_t ngx_http_objspace_public_metrics_text(ngx_http_request_t *r,
    ngx_chain_t **out);

/*
 * Parses one rule's text ("name=value" lines) into rule; prefix is set by
 * the caller.  Unknown names are ignored (forward compatible).  Pure.
 */
void ngx_http_objspace_public_parse_rule(ngx_str_t *text,
    ngx_http_objspace_public_rule_t *rule);

/*
 * The rule whose prefix is the longest prefix of key, from a space's
 * serialized rules; NGX_DECLINED if none.  An empty rule set with
 * visibility=public is the whole space with default options.  Pure.
 */
ngx_int_t ngx_http_objspace_public_match(ngx_str_t *rules, ngx_str_t *key,
    ngx_http_objspace_public_rule_t *rule);


/* ngx_http_objspace_public_ranges.c: streamed multi-range responses */
ngx_int_t ngx_http_objspace_public_ranges_start(ngx_http_request_t *r,
    ngx_http_objspace_public_ranges_t **rs);
void ngx_http_objspace_public_ranges_span(ngx_http_request_t *r,
    ngx_http_objspace_public_ranges_t *rs);
ngx_int_t ngx_http_objspace_public_ranges_body(ngx_http_request_t *r,
    ngx_http_objspace_public_ranges_t *rs, ngx_chain_t *in,
    ngx_chain_t **out);


/* ngx_http_objspace_public.c: helpers the filters share */
ngx_str_t *ngx_http_objspace_public_cors(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx);
ngx_uint_t ngx_http_objspace_public_word(ngx_str_t *list, u_char *p,
    size_t len, ngx_uint_t wildcard);
ngx_int_t ngx_http_objspace_public_add_header(ngx_http_request_t *r,
    const char *key, ngx_str_t *value);

/* ngx_http_objspace_public_filter.c: header and body filters */
void ngx_http_objspace_public_filter_init(void);

/* ngx_http_objspace_public_list.c: listings */
ngx_int_t ngx_http_objspace_public_list_start(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx);
ngx_int_t ngx_http_objspace_public_list_body(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx, ngx_chain_t *in, ngx_chain_t **out);
void ngx_http_objspace_public_list_free(void *data);   /* a pool cleanup */

/*
 * ngx_http_objspace_public_metrics.c: the log phase, the directives, and
 * the per-worker flush of the counters to Redis (objspace:pubstats:*,
 * docs/redis-schema.md) from init_process / exit_process
 */
ngx_int_t ngx_http_objspace_public_log(ngx_http_request_t *r);
ngx_int_t ngx_http_objspace_public_init_process(ngx_cycle_t *cycle);
void ngx_http_objspace_public_exit_process(ngx_cycle_t *cycle);
char *ngx_http_objspace_public_metrics_zone(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_objspace_public_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


extern ngx_module_t  ngx_http_objspace_public_module;


#endif /* _NGX_HTTP_OBJSPACE_PUBLIC_H_INCLUDED_ */

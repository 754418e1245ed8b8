
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
 * (NGX_HTTP_OBJSPACE_PM_MAX of them), for a metrics endpoint.  The copy is
 * taken under the zone mutex; handler runs without it.  Returns NGX_ERROR
 * on allocation failure, NGX_DECLINED without a zone.
 */
ngx_int_t ngx_http_objspace_public_metrics_each(ngx_http_request_t *r,
    ngx_http_objspace_public_metrics_pt handler, void *data);

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
typedef struct ngx_http_objspace_public_ranges_s
    ngx_http_objspace_public_ranges_t;

ngx_int_t ngx_http_objspace_public_ranges_start(ngx_http_request_t *r,
    ngx_http_objspace_public_ranges_t **rs);
void ngx_http_objspace_public_ranges_span(ngx_http_request_t *r,
    ngx_http_objspace_public_ranges_t *rs);
ngx_int_t ngx_http_objspace_public_ranges_body(ngx_http_request_t *r,
    ngx_http_objspace_public_ranges_t *rs, ngx_chain_t *in,
    ngx_chain_t **out);


extern ngx_module_t  ngx_http_objspace_public_module;


#endif /* _NGX_HTTP_OBJSPACE_PUBLIC_H_INCLUDED_ */

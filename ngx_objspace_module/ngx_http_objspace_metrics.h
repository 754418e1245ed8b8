
/*
 * Copyright (C) objspace authors
 *
 * Prometheus counters in a shared-memory zone (objspace_metrics_zone) and
 * the objspace_metrics content handler.  Without a zone every call here is
 * a no-op.  See docs/metrics.md.
 */


#ifndef _NGX_HTTP_OBJSPACE_METRICS_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_METRICS_H_INCLUDED_


#include "ngx_http_objspace_module.h"


/* global counters; keep in sync with ngx_http_objspace_metrics_names[] */
typedef enum {
    NGX_HTTP_OBJSPACE_M_CACHE_HITS = 0,
    NGX_HTTP_OBJSPACE_M_CACHE_MISSES,
    NGX_HTTP_OBJSPACE_M_REDIS_ERRORS,
    NGX_HTTP_OBJSPACE_M_AUDIT_EVENTS,
    NGX_HTTP_OBJSPACE_M_AUDIT_DELIVERED,
    NGX_HTTP_OBJSPACE_M_AUDIT_SPOOLED,
    NGX_HTTP_OBJSPACE_M_AUDIT_DROPPED,
    NGX_HTTP_OBJSPACE_M_QUOTA_COMMIT_LOST,
    NGX_HTTP_OBJSPACE_M_MAX
} ngx_http_objspace_metric_e;


/* adds n to a global counter (lock-free) */
void ngx_http_objspace_metrics_count(ngx_uint_t which, ngx_uint_t n);

/*
 * Accounts one finished request for a space (space empty: "-"): request
 * count by decision, wire bytes in and out, and, when reason is not
 * empty, one denial for (space, reason).  Takes the zone mutex.
 */
void ngx_http_objspace_metrics_request(ngx_str_t *space, ngx_uint_t denied,
    ngx_str_t *reason, off_t bytes_in, off_t bytes_out);

/* records a space's quota and usage gauges (from Redis replies) */
void ngx_http_objspace_metrics_usage(ngx_str_t *space, int64_t quota,
    int64_t used, int64_t reserved);

/*
 * A Prometheus label value at p, with backslash, quote and newline
 * escaped (at most 2 * s->len bytes); returns the end.
 */
u_char *ngx_http_objspace_metrics_label(u_char *p, ngx_str_t *s);

/*
 * Answers r with the exposition text in out (a chain of temporary
 * buffers on r->pool): 200, Content-Type and Content-Length, the last
 * buffer marked.  A content handler's return value.
 */
ngx_int_t ngx_http_objspace_metrics_send(ngx_http_request_t *r,
    ngx_chain_t *out);

char *ngx_http_objspace_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_objspace_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HTTP_OBJSPACE_METRICS_H_INCLUDED_ */

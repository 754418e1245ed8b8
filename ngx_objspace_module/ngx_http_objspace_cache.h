
/*
 * Copyright (C) objspace authors
 *
 * Private contract between the identity cache (ngx_http_objspace_cache.c
 * and ngx_http_objspace_cache_public.c, shared memory) and the per-worker
 * Redis client (ngx_http_objspace_redis.c and
 * ngx_http_objspace_redis_fetch.c).
 */


#ifndef _NGX_HTTP_OBJSPACE_CACHE_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_CACHE_H_INCLUDED_


#include "ngx_http_objspace_module.h"


/* AWS allows 16..128; a longer key is unknown without asking Redis */
#define NGX_HTTP_OBJSPACE_MAX_AK_LEN      128


/*
 * What the cache looked like when a Redis read was started: a record read
 * before an invalidation (or a subscriber reconnect) that is processed
 * before its reply arrives must not be stored as fresh.
 */
typedef struct {
    ngx_uint_t                  gen;
    ngx_uint_t                  seq;
} ngx_http_objspace_cache_mark_t;


/* ngx_http_objspace_cache.c */

void ngx_http_objspace_cache_mark(ngx_cycle_t *cycle,
    ngx_http_objspace_cache_mark_t *mark);

/*
 * Stores what one EVAL returned for access key ak: the identity's hash
 * fields (nident == 0: the key does not exist) and its space's hash fields.
 * A record that fails validation is stored as a negative entry.  Takes the
 * zone mutex.  The strings may point into a Redis reply; they are copied.
 */
ngx_int_t ngx_http_objspace_cache_store(ngx_cycle_t *cycle, ngx_str_t *ak,
    ngx_http_objspace_kv_t *ident, ngx_uint_t nident,
    ngx_http_objspace_kv_t *space, ngx_uint_t nspace,
    ngx_http_objspace_cache_mark_t *mark);


/* ngx_http_objspace_cache_public.c */

/*
 * Stores what one EVAL returned for a public name ("s/{slug}" or
 * "h/{host}"): its space's hash fields (nspace == 0: unknown name) and the
 * space's publication rules (objspace:public:{id}).  Takes the zone mutex.
 */
ngx_int_t ngx_http_objspace_cache_store_public(ngx_cycle_t *cycle,
    ngx_str_t *name, ngx_http_objspace_kv_t *space, ngx_uint_t nspace,
    ngx_http_objspace_kv_t *rules, ngx_uint_t nrules,
    ngx_http_objspace_cache_mark_t *mark);


/* ngx_http_objspace_redis_fetch.c */

/*
 * Starts (or joins) the Redis read for ak on behalf of r.
 *   NGX_AGAIN  r waits; ngx_http_objspace_resume(r) is called later from a
 *              posted event (never from inside the read handler)
 *   NGX_BUSY   Redis is unreachable from this worker (or r has already been
 *              round the loop too often)
 *   NGX_ERROR  no memory
 */
ngx_int_t ngx_http_objspace_redis_fetch(ngx_http_request_t *r,
    ngx_str_t *ak);

/*
 * The outcome of r's last wait, consumed by this call:
 *   NGX_DONE   r was not resumed from a wait (first call, or consumed)
 *   NGX_OK     the read completed and its answer is in the cache
 *   NGX_ERROR  the read failed or timed out (Redis unreachable)
 */
ngx_int_t ngx_http_objspace_redis_wait_result(ngx_http_request_t *r);

/* whether a read started now can be answered (connected or connecting) */
ngx_uint_t ngx_http_objspace_redis_available(ngx_cycle_t *cycle);


#endif /* _NGX_HTTP_OBJSPACE_CACHE_H_INCLUDED_ */


/*
 * Copyright (C) objspace authors
 *
 * Generic commands on the per-worker Redis client
 * (ngx_http_objspace_redis.c), for quota and audit.  The identity reads
 * have their own contract in ngx_http_objspace_cache.h.
 */


#ifndef _NGX_HTTP_OBJSPACE_REDIS_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_REDIS_H_INCLUDED_


#include "ngx_http_objspace_module.h"

#include <hiredis/hiredis.h>


/*
 * Called once per command sent with ngx_http_objspace_redis_send: reply is
 * the parsed reply (borrowed: freed after the call; may be an error reply)
 * or NULL when the command failed (connection lost or never made, timeout,
 * worker exiting), in which case it may or may not have been executed.
 * Called from the client's read handler or timers: it must not run a
 * request (post an event instead); it may send another command.
 */
typedef void (*ngx_http_objspace_redis_done_pt)(void *data,
    redisReply *reply);


/*
 * Queues one command, already formatted as RESP (copied), on the command
 * connection; it is written from a posted event, never from this call.
 *   NGX_OK        queued; done(data, ...) is called exactly once later;
 *                 *handle (if handle is not NULL) names it for detach
 *   NGX_BUSY      Redis is unreachable from this worker: nothing queued
 *   NGX_DECLINED  the command is too large
 *   NGX_ERROR     no memory
 */
ngx_int_t ngx_http_objspace_redis_send(ngx_cycle_t *cycle, ngx_str_t *resp,
    ngx_http_objspace_redis_done_pt done, void *data, void **handle);

/* the command's owner is going away: its reply is read and dropped */
void ngx_http_objspace_redis_detach(void *handle);

/* whether r's identity lookup had to ask Redis (a cache miss) */
ngx_uint_t ngx_http_objspace_redis_waited(ngx_http_request_t *r);


#endif /* _NGX_HTTP_OBJSPACE_REDIS_H_INCLUDED_ */

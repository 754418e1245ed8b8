
/*
 * Copyright (C) objspace authors
 *
 * Generic commands on the per-worker Redis client
 * (ngx_http_objspace_redis.c, ngx_http_objspace_redis_fetch.c) and
 * batches of script runs (ngx_http_objspace_redis_batch.c), for quota and
 * audit.  The identity reads have their own contract in
 * ngx_http_objspace_cache.h.
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
 * The command connection's output buffer; a command sent with
 * ngx_http_objspace_redis_send may take half of it.
 */
#define NGX_HTTP_OBJSPACE_REDIS_CMD_OUT    65536


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

/*
 * A batch of runs of one Lua script, per worker, for updates nothing
 * waits for (usage accounting): each entry is the KEYS and ARGV of one
 * run; entries go to Redis together as one EVAL of a wrapper that runs
 * the script once per entry, in order, each in a pcall (a failing entry
 * answers an error and does not stop the others), and answers the array
 * of the entries' replies.  A batch is sent when it holds max entries or
 * its buffer is full, else delay ms after its first entry (a timer that
 * keeps a gracefully exiting worker alive until it has fired).  The
 * script's keys are passed in ARGV, which standalone Redis allows (Redis
 * Cluster would not; see docs/architecture.md).
 */
typedef struct ngx_http_objspace_redis_batch_s
    ngx_http_objspace_redis_batch_t;

/* the usual size and delay of a batch */
#define NGX_HTTP_OBJSPACE_REDIS_BATCH_MAX    64
#define NGX_HTTP_OBJSPACE_REDIS_BATCH_DELAY  20

/* allocated from cycle->pool; script is copied; NULL: no memory */
ngx_http_objspace_redis_batch_t *ngx_http_objspace_redis_batch_create(
    ngx_cycle_t *cycle, ngx_str_t *script, ngx_uint_t max,
    ngx_msec_t delay);

/*
 * The same with another tail: the wrapper is "local function one(KEYS,
 * ARGV) " script tail, so tail starts with " end " and must answer one
 * reply per entry, in order, from the ARGV layout above (a tail may run
 * some entries itself rather than through one(); see ngx_http_objspace_
 * quota.c).  NULL: the default tail.
 */
ngx_http_objspace_redis_batch_t *ngx_http_objspace_redis_batch_create_tail(
    ngx_cycle_t *cycle, ngx_str_t *script, ngx_str_t *tail, ngx_uint_t max,
    ngx_msec_t delay);

/*
 * Adds one entry: resp holds its nkeys + nargs arguments as RESP bulk
 * strings (copied).
 *   NGX_OK        queued; done(data, reply) is called exactly once later
 *                 with the entry's reply (borrowed; may be an error
 *                 reply) or NULL (the batch failed, or the worker exits)
 *   NGX_BUSY      Redis is unreachable from this worker: nothing queued
 *   NGX_DECLINED  the entry is too large for a batch
 *   NGX_ERROR     no memory
 */
ngx_int_t ngx_http_objspace_redis_batch_add(
    ngx_http_objspace_redis_batch_t *b, ngx_uint_t nkeys, ngx_uint_t nargs,
    ngx_str_t *resp, ngx_http_objspace_redis_done_pt done, void *data);

/* worker exit: entries not sent yet get done(data, NULL) */
void ngx_http_objspace_redis_batch_abort(ngx_http_objspace_redis_batch_t *b);

/*
 * Formatting for commands built per request (no ngx_sprintf): one RESP
 * bulk string ("$LEN\r\nDATA\r\n") at p, and n in decimal at p; room
 * (len + NGX_SIZE_T_LEN + 5, NGX_INT64_LEN) is the caller's.
 */
u_char *ngx_http_objspace_redis_bulk(u_char *p, u_char *data, size_t len);
u_char *ngx_http_objspace_redis_dec(u_char *p, uint64_t n);

/* whether r's identity lookup had to ask Redis (a cache miss) */
ngx_uint_t ngx_http_objspace_redis_waited(ngx_http_request_t *r);


#endif /* _NGX_HTTP_OBJSPACE_REDIS_H_INCLUDED_ */


/*
 * Copyright (C) objspace authors
 *
 * The per-worker Redis client's state, shared by its files:
 * ngx_http_objspace_redis.c (connections, command output, replies,
 * pub/sub) and ngx_http_objspace_redis_fetch.c (identity reads, the
 * requests waiting for them, generic commands).  Nothing else includes
 * this file; ngx_http_objspace_redis_batch.c uses only the client's
 * interfaces (ngx_http_objspace_redis.h, ngx_http_objspace_cache.h).
 */


#ifndef _NGX_HTTP_OBJSPACE_REDIS_CLIENT_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_REDIS_CLIENT_H_INCLUDED_


#include "ngx_http_objspace_cache.h"
#include "ngx_http_objspace_redis.h"

#include <hiredis/hiredis.h>


#define NGX_HTTP_OBJSPACE_REDIS_LOG_EVERY    60


typedef enum {
    NGX_HTTP_OBJSPACE_CONN_IDLE = 0,
    NGX_HTTP_OBJSPACE_CONN_CONNECTING,
    NGX_HTTP_OBJSPACE_CONN_READY
} ngx_http_objspace_conn_state_e;


typedef enum {
    NGX_HTTP_OBJSPACE_FETCH_FREE = 0,
    NGX_HTTP_OBJSPACE_FETCH_UNSENT,
    NGX_HTTP_OBJSPACE_FETCH_SENT
} ngx_http_objspace_fetch_state_e;


typedef struct ngx_http_objspace_redis_s  ngx_http_objspace_redis_t;


typedef struct {
    ngx_http_objspace_redis_t  *rd;
    ngx_peer_connection_t       peer;
    ngx_pool_t                 *pool;       /* per connection */
    redisReader                *reader;
    ngx_buf_t                  *out;
    u_char                     *in;
    size_t                      out_size;
    ngx_uint_t                  state;
    ngx_uint_t                  handshake;  /* replies owed to AUTH/SELECT */
    ngx_event_t                 retry;      /* reconnect */
    ngx_event_t                 ping;       /* subscriber keepalive */
    ngx_msec_t                  backoff;
    time_t                      logged;
    ngx_log_t                   log;
    char                       *name;
    unsigned                    subscriber:1;
    unsigned                    up:1;
    unsigned                    ping_sent:1;
    unsigned                    working:1;   /* a reply after handshake */
    unsigned                    reported:1;  /* owes a recovery notice */
} ngx_http_objspace_redis_conn_t;


typedef struct {
    ngx_str_node_t              sn;         /* in rd->fetches, by key */
    ngx_queue_t                 queue;      /* rd->unsent, rd->sent, free */
    ngx_queue_t                 waiters;
    ngx_event_t                 timeout;
    ngx_http_objspace_cache_mark_t  mark;
    ngx_http_objspace_redis_t  *rd;
    ngx_uint_t                  state;
    u_char                      ak[NGX_HTTP_OBJSPACE_MAX_AK_LEN];

    /* a generic command (ngx_http_objspace_redis_send), not a read */
    ngx_http_objspace_redis_done_pt  done;
    void                       *data;
    ngx_str_t                   raw;        /* RESP, ngx_alloc()ed */
    unsigned                    command:1;
} ngx_http_objspace_fetch_t;


struct ngx_http_objspace_redis_s {
    ngx_cycle_t                    *cycle;
    ngx_http_objspace_main_conf_t  *omcf;
    ngx_http_objspace_redis_conn_t  cmd;
    ngx_http_objspace_redis_conn_t  sub;
    ngx_rbtree_t                    fetches;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     unsent;
    ngx_queue_t                     sent;
    ngx_queue_t                     free;
    ngx_queue_t                     ready;
    ngx_event_t                     resume;
    ngx_event_t                     flush;      /* generic commands */
    time_t                          logged;
    unsigned                        exiting:1;
};


/* ngx_http_objspace_redis.c */

/* the worker's client, or NULL (not a worker, or no objspace_redis) */
ngx_http_objspace_redis_t *ngx_http_objspace_redis_get(
    ngx_cycle_t *cycle);

/*
 * Closes the connection; failed: schedule a reconnect.  Closing the
 * command connection fails every read in flight or queued.
 */
void ngx_http_objspace_redis_close(
    ngx_http_objspace_redis_conn_t *conn, ngx_uint_t failed);

/* moves queued commands into the output buffer and writes it */
ngx_int_t ngx_http_objspace_redis_flush(
    ngx_http_objspace_redis_conn_t *conn);


/* ngx_http_objspace_redis_fetch.c */

/* stores one identity (or public name) EVAL answer in the cache */
ngx_int_t ngx_http_objspace_redis_eval_reply(
    ngx_http_objspace_redis_t *rd, ngx_http_objspace_fetch_t *f,
    redisReply *reply);

/* ends a read: its waiters are resumed later, from rd->resume */
void ngx_http_objspace_redis_complete(ngx_http_objspace_fetch_t *f,
    ngx_int_t rc);

/* ends a generic command: done(data, reply) */
void ngx_http_objspace_redis_finish(ngx_http_objspace_fetch_t *f,
    redisReply *reply);

/* fails every read and command sent or queued */
void ngx_http_objspace_redis_fail_all(ngx_http_objspace_redis_t *rd);

/* rd->resume: resumes the requests whose reads completed */
void ngx_http_objspace_redis_resume_handler(ngx_event_t *ev);


#endif /* _NGX_HTTP_OBJSPACE_REDIS_CLIENT_H_INCLUDED_ */

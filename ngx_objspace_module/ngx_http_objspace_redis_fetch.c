
/*
 * Copyright (C) objspace authors
 *
 * Reads through the per-worker Redis client (ngx_http_objspace_redis.c):
 * the identity (and public name) reads that fill the identity cache, the
 * requests waiting for them, and the generic commands of
 * ngx_http_objspace_redis.h.  Each read or command holds one slot
 * (ngx_http_objspace_fetch_t) from being queued until its reply (or
 * failure) arrives; concurrent reads of one key within the worker share
 * one slot.  Requests are resumed from a posted event, never from the
 * read handler.
 *
 * See docs/architecture.md, "Identity cache and Redis client".
 */


#include "ngx_http_objspace_redis_client.h"
#include "ngx_http_objspace_metrics.h"


#define NGX_HTTP_OBJSPACE_REDIS_MAX_FIELDS 64

#define NGX_HTTP_OBJSPACE_REDIS_MAX_ROUNDS   3


typedef enum {
    NGX_HTTP_OBJSPACE_WAIT_IDLE = 0,
    NGX_HTTP_OBJSPACE_WAIT_WAITING,    /* in a fetch's waiters */
    NGX_HTTP_OBJSPACE_WAIT_READY,      /* in rd->ready, resume posted */
    NGX_HTTP_OBJSPACE_WAIT_DONE        /* resumed, result not read yet */
} ngx_http_objspace_wait_state_e;


/* per request, in r->pool; found again through its pool cleanup */
typedef struct {
    ngx_queue_t                 queue;
    ngx_http_request_t         *r;
    ngx_int_t                   result;
    ngx_uint_t                  state;
    ngx_uint_t                  rounds;
    unsigned                    after_ok:1;  /* last wait answered */
    unsigned                    waited:1;    /* asked Redis at least once */
} ngx_http_objspace_waiter_t;


static ngx_uint_t ngx_http_objspace_redis_fields(redisReply *reply,
    ngx_http_objspace_kv_t *kv);
static ngx_http_objspace_fetch_t *ngx_http_objspace_redis_fetch_alloc(
    ngx_http_objspace_redis_t *rd);
static void ngx_http_objspace_redis_timeout_handler(ngx_event_t *ev);
static ngx_http_objspace_waiter_t *ngx_http_objspace_redis_waiter(
    ngx_http_request_t *r, ngx_uint_t create);
static void ngx_http_objspace_redis_waiter_cleanup(void *data);


/*
 * Starts (or joins) the read of ak for r; contract in
 * ngx_http_objspace_cache.h.  r is resumed asynchronously, from
 * ngx_http_objspace_redis_resume_handler, never from this call.
 */

ngx_int_t
ngx_http_objspace_redis_fetch(ngx_http_request_t *r, ngx_str_t *ak)
{
    uint32_t                     hash;
    ngx_str_node_t              *sn;
    ngx_http_objspace_redis_t   *rd;
    ngx_http_objspace_fetch_t   *f;
    ngx_http_objspace_waiter_t  *w;

    rd = ngx_http_objspace_redis_get((ngx_cycle_t *) ngx_cycle);

    if (rd == NULL || ak->len > NGX_HTTP_OBJSPACE_MAX_AK_LEN) {
        return NGX_BUSY;
    }

    if (!ngx_http_objspace_redis_available((ngx_cycle_t *) ngx_cycle)) {
        return NGX_BUSY;
    }

    w = ngx_http_objspace_redis_waiter(r, 1);
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->waited = 1;

    if (w->state == NGX_HTTP_OBJSPACE_WAIT_WAITING
        || w->state == NGX_HTTP_OBJSPACE_WAIT_READY)
    {
        return NGX_AGAIN;
    }

    /*
     * A read completed but its entry was gone again when r looked (evicted
     * or invalidated in between): allow a few rounds, not a loop.
     */

    if (!w->after_ok) {
        w->rounds = 0;

    } else if (++w->rounds >= NGX_HTTP_OBJSPACE_REDIS_MAX_ROUNDS) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "objspace: identity entry keeps leaving the cache "
                      "before it is used; zone too small?");
        return NGX_BUSY;
    }

    hash = ngx_crc32_short(ak->data, ak->len);

    sn = ngx_str_rbtree_lookup(&rd->fetches, ak, hash);

    if (sn) {
        f = (ngx_http_objspace_fetch_t *) sn;

    } else {
        f = ngx_http_objspace_redis_fetch_alloc(rd);
        if (f == NULL) {
            return NGX_ERROR;
        }

        f->rd = rd;
        ngx_memcpy(f->ak, ak->data, ak->len);
        f->sn.str.data = f->ak;
        f->sn.str.len = ak->len;
        f->sn.node.key = hash;
        ngx_queue_init(&f->waiters);

        ngx_http_objspace_cache_mark(rd->cycle, &f->mark);

        /*
         * Not cancelable: a worker shutting down gracefully keeps its
         * waiting requests until they are answered or time out.
         */
        f->timeout.handler = ngx_http_objspace_redis_timeout_handler;
        f->timeout.data = f;
        f->timeout.log = rd->cycle->log;
        ngx_add_timer(&f->timeout, rd->omcf->redis_timeout);

        ngx_rbtree_insert(&rd->fetches, &f->sn.node);

        f->state = NGX_HTTP_OBJSPACE_FETCH_UNSENT;
        ngx_queue_insert_tail(&rd->unsent, &f->queue);
    }

    w->state = NGX_HTTP_OBJSPACE_WAIT_WAITING;
    w->result = NGX_ERROR;
    ngx_queue_insert_tail(&f->waiters, &w->queue);

    if (sn == NULL) {
        /* a send error fails f and posts the resume of w: still NGX_AGAIN */
        (void) ngx_http_objspace_redis_flush(&rd->cmd);
    }

    return NGX_AGAIN;
}


ngx_int_t
ngx_http_objspace_redis_wait_result(ngx_http_request_t *r)
{
    ngx_http_objspace_waiter_t  *w;

    w = ngx_http_objspace_redis_waiter(r, 0);

    if (w == NULL) {
        return NGX_DONE;
    }

    if (w->state != NGX_HTTP_OBJSPACE_WAIT_DONE) {
        w->after_ok = 0;
        return NGX_DONE;
    }

    w->state = NGX_HTTP_OBJSPACE_WAIT_IDLE;
    w->after_ok = (w->result == NGX_OK);

    return w->result;
}


ngx_uint_t
ngx_http_objspace_redis_available(ngx_cycle_t *cycle)
{
    ngx_http_objspace_redis_t  *rd;

    rd = ngx_http_objspace_redis_get(cycle);

    if (rd == NULL || rd->exiting) {
        return 0;
    }

    return rd->cmd.state == NGX_HTTP_OBJSPACE_CONN_READY
           || (rd->cmd.state == NGX_HTTP_OBJSPACE_CONN_CONNECTING
               && rd->cmd.up);
}


/* EVAL answers [] (unknown key) or [identity fields, space fields] */

ngx_int_t
ngx_http_objspace_redis_eval_reply(ngx_http_objspace_redis_t *rd,
    ngx_http_objspace_fetch_t *f, redisReply *reply)
{
    time_t                  now;
    ngx_int_t               rc;
    ngx_uint_t              ni, ns;
    ngx_http_objspace_kv_t  ikv[NGX_HTTP_OBJSPACE_REDIS_MAX_FIELDS];
    ngx_http_objspace_kv_t  skv[NGX_HTTP_OBJSPACE_REDIS_MAX_FIELDS];

    if (reply->type == REDIS_REPLY_ERROR) {
        now = ngx_time();

        if (now - rd->logged >= NGX_HTTP_OBJSPACE_REDIS_LOG_EVERY) {
            rd->logged = now;
            ngx_log_error(NGX_LOG_ERR, rd->cycle->log, 0,
                          "objspace: redis identity read failed: %*s",
                          (size_t) reply->len, reply->str);
        }

        return NGX_ERROR;
    }

    if (reply->type != REDIS_REPLY_ARRAY
        || (reply->elements != 0 && reply->elements != 2))
    {
        ngx_log_error(NGX_LOG_ALERT, rd->cycle->log, 0,
                      "objspace: unexpected redis reply to the identity "
                      "read (type %d)", reply->type);
        return NGX_ERROR;
    }

    if (reply->elements == 0) {
        ni = 0;
        ns = 0;

    } else {
        ni = ngx_http_objspace_redis_fields(reply->element[0], ikv);
        ns = ngx_http_objspace_redis_fields(reply->element[1], skv);
    }

    if (f->sn.str.len > 2 && f->sn.str.data[1] == '/') {
        /* a public name: [space fields, publication rules] */
        rc = ngx_http_objspace_cache_store_public(rd->cycle, &f->sn.str,
                                                  ikv, ni, skv, ns, &f->mark);

    } else {
        rc = ngx_http_objspace_cache_store(rd->cycle, &f->sn.str, ikv, ni,
                                           skv, ns, &f->mark);
    }

    return (rc == NGX_OK) ? NGX_OK : NGX_ERROR;
}


/* flattened HGETALL: name, value, ...; non-string pairs are skipped */

static ngx_uint_t
ngx_http_objspace_redis_fields(redisReply *reply, ngx_http_objspace_kv_t *kv)
{
    size_t       i;
    ngx_uint_t   n;
    redisReply  *k, *v;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return 0;
    }

    n = 0;

    for (i = 0;
         i + 1 < reply->elements && n < NGX_HTTP_OBJSPACE_REDIS_MAX_FIELDS;
         i += 2)
    {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        kv[n].key.data = (u_char *) k->str;
        kv[n].key.len = k->len;
        kv[n].value.data = (u_char *) v->str;
        kv[n].value.len = v->len;
        n++;
    }

    return n;
}


/* fetches and waiters */

/*
 * Finishes a read: its waiters move to rd->ready with the result and
 * rd->resume is posted; the fetch goes back to the free list.  Safe to
 * call from reply handlers: nothing is resumed here.
 */

void
ngx_http_objspace_redis_complete(ngx_http_objspace_fetch_t *f, ngx_int_t rc)
{
    ngx_queue_t                 *q;
    ngx_http_objspace_redis_t   *rd;
    ngx_http_objspace_waiter_t  *w;

    if (f->command) {
        ngx_http_objspace_redis_finish(f, NULL);
        return;
    }

    rd = f->rd;

    ngx_rbtree_delete(&rd->fetches, &f->sn.node);
    ngx_queue_remove(&f->queue);

    if (f->timeout.timer_set) {
        ngx_del_timer(&f->timeout);
    }

    while (!ngx_queue_empty(&f->waiters)) {
        q = ngx_queue_head(&f->waiters);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_objspace_waiter_t, queue);
        w->result = rc;
        w->state = NGX_HTTP_OBJSPACE_WAIT_READY;

        ngx_queue_insert_tail(&rd->ready, q);
    }

    f->state = NGX_HTTP_OBJSPACE_FETCH_FREE;
    ngx_queue_insert_head(&rd->free, &f->queue);

    if (!ngx_queue_empty(&rd->ready) && !rd->resume.posted) {
        ngx_post_event(&rd->resume, &ngx_posted_events);
    }
}


void
ngx_http_objspace_redis_fail_all(ngx_http_objspace_redis_t *rd)
{
    ngx_queue_t  *q;

    while (!ngx_queue_empty(&rd->sent)) {
        q = ngx_queue_head(&rd->sent);
        ngx_http_objspace_redis_complete(
            ngx_queue_data(q, ngx_http_objspace_fetch_t, queue), NGX_ERROR);
    }

    while (!ngx_queue_empty(&rd->unsent)) {
        q = ngx_queue_head(&rd->unsent);
        ngx_http_objspace_redis_complete(
            ngx_queue_data(q, ngx_http_objspace_fetch_t, queue), NGX_ERROR);
    }
}


/*
 * A read got no answer within redis_timeout.  A sent command without a
 * reply means the connection is stuck (replies come in order): drop it,
 * failing every read; otherwise only this read fails.
 */

/*
 * A zeroed fetch slot: a freed one, or a new one from the cycle pool
 * (bounded by the worker's peak of reads and commands in flight).
 */

static ngx_http_objspace_fetch_t *
ngx_http_objspace_redis_fetch_alloc(ngx_http_objspace_redis_t *rd)
{
    ngx_queue_t                *q;
    ngx_http_objspace_fetch_t  *f;

    if (!ngx_queue_empty(&rd->free)) {
        q = ngx_queue_head(&rd->free);
        ngx_queue_remove(q);
        f = ngx_queue_data(q, ngx_http_objspace_fetch_t, queue);

    } else {
        f = ngx_palloc(rd->cycle->pool, sizeof(ngx_http_objspace_fetch_t));
        if (f == NULL) {
            return NULL;
        }
    }

    ngx_memzero(f, sizeof(ngx_http_objspace_fetch_t));

    return f;
}


static void
ngx_http_objspace_redis_timeout_handler(ngx_event_t *ev)
{
    time_t                      now;
    ngx_http_objspace_fetch_t  *f = ev->data;
    ngx_http_objspace_redis_t  *rd;

    rd = f->rd;
    now = ngx_time();

    if (now - rd->logged >= NGX_HTTP_OBJSPACE_REDIS_LOG_EVERY) {
        rd->logged = now;
        ngx_log_error(NGX_LOG_ERR, rd->cycle->log, NGX_ETIMEDOUT,
                      "objspace: redis identity read timed out");
    }

    ngx_http_objspace_metrics_count(NGX_HTTP_OBJSPACE_M_REDIS_ERRORS, 1);

    if (f->state == NGX_HTTP_OBJSPACE_FETCH_SENT
        || rd->cmd.state == NGX_HTTP_OBJSPACE_CONN_READY)
    {
        ngx_http_objspace_redis_close(&rd->cmd, 1);
        return;
    }

    ngx_http_objspace_redis_complete(f, NGX_ERROR);
}


/*
 * Resumes the requests whose reads completed, from a posted event, so no
 * request runs inside the read handler (a request may finish, or start a
 * new read, from ngx_http_objspace_resume).  Each waiter is unlinked
 * before its request runs; a request freed meanwhile has unlinked itself
 * through its pool cleanup.
 */

void
ngx_http_objspace_redis_resume_handler(ngx_event_t *ev)
{
    ngx_queue_t                 *q;
    ngx_http_objspace_redis_t   *rd = ev->data;
    ngx_http_objspace_waiter_t  *w;

    while (!ngx_queue_empty(&rd->ready)) {
        q = ngx_queue_head(&rd->ready);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_objspace_waiter_t, queue);
        w->state = NGX_HTTP_OBJSPACE_WAIT_DONE;

        ngx_http_objspace_resume(w->r);
    }
}


static ngx_http_objspace_waiter_t *
ngx_http_objspace_redis_waiter(ngx_http_request_t *r, ngx_uint_t create)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_objspace_waiter_t  *w;

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_objspace_redis_waiter_cleanup) {
            w = cln->data;

            if (w->r == r) {
                return w;
            }
        }
    }

    if (!create) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_objspace_waiter_t));
    if (cln == NULL) {
        return NULL;
    }

    w = cln->data;
    ngx_memzero(w, sizeof(ngx_http_objspace_waiter_t));
    w->r = r;

    cln->handler = ngx_http_objspace_redis_waiter_cleanup;

    return w;
}


/* the request is going away: never resume it */

static void
ngx_http_objspace_redis_waiter_cleanup(void *data)
{
    ngx_http_objspace_waiter_t  *w = data;

    if (w->state == NGX_HTTP_OBJSPACE_WAIT_WAITING
        || w->state == NGX_HTTP_OBJSPACE_WAIT_READY)
    {
        ngx_queue_remove(&w->queue);
    }

    w->state = NGX_HTTP_OBJSPACE_WAIT_IDLE;
}


/* generic commands (ngx_http_objspace_redis.h) */

ngx_int_t
ngx_http_objspace_redis_send(ngx_cycle_t *cycle, ngx_str_t *resp,
    ngx_http_objspace_redis_done_pt done, void *data, void **handle)
{
    ngx_http_objspace_fetch_t  *f;
    ngx_http_objspace_redis_t  *rd;

    rd = ngx_http_objspace_redis_get(cycle);

    if (rd == NULL || !ngx_http_objspace_redis_available(cycle)) {
        return NGX_BUSY;
    }

    if (resp->len > NGX_HTTP_OBJSPACE_REDIS_CMD_OUT / 2) {
        return NGX_DECLINED;
    }

    f = ngx_http_objspace_redis_fetch_alloc(rd);
    if (f == NULL) {
        return NGX_ERROR;
    }

    f->raw.data = ngx_alloc(resp->len, rd->cycle->log);
    if (f->raw.data == NULL) {
        ngx_queue_insert_head(&rd->free, &f->queue);
        return NGX_ERROR;
    }

    ngx_memcpy(f->raw.data, resp->data, resp->len);
    f->raw.len = resp->len;

    f->rd = rd;
    f->command = 1;
    f->done = done;
    f->data = data;
    ngx_queue_init(&f->waiters);

    f->timeout.handler = ngx_http_objspace_redis_timeout_handler;
    f->timeout.data = f;
    f->timeout.log = rd->cycle->log;
    ngx_add_timer(&f->timeout, rd->omcf->redis_timeout);

    f->state = NGX_HTTP_OBJSPACE_FETCH_UNSENT;
    ngx_queue_insert_tail(&rd->unsent, &f->queue);

    if (!rd->flush.posted) {
        ngx_post_event(&rd->flush, &ngx_posted_events);
    }

    if (handle) {
        *handle = f;
    }

    return NGX_OK;
}


void
ngx_http_objspace_redis_detach(void *handle)
{
    ngx_http_objspace_fetch_t  *f = handle;

    f->done = NULL;
    f->data = NULL;
}


ngx_uint_t
ngx_http_objspace_redis_waited(ngx_http_request_t *r)
{
    ngx_http_objspace_waiter_t  *w;

    w = ngx_http_objspace_redis_waiter(r, 0);

    return w ? w->waited : 0;
}


/*
 * Ends a generic command: its callback gets the reply (NULL: failed) and
 * the slot goes back to the free list first, so the callback may send.
 */

void
ngx_http_objspace_redis_finish(ngx_http_objspace_fetch_t *f,
    redisReply *reply)
{
    void                             *data;
    ngx_http_objspace_redis_t        *rd;
    ngx_http_objspace_redis_done_pt   done;

    rd = f->rd;

    ngx_queue_remove(&f->queue);

    if (f->timeout.timer_set) {
        ngx_del_timer(&f->timeout);
    }

    done = f->done;
    data = f->data;

    ngx_free(f->raw.data);
    ngx_memzero(f, sizeof(ngx_http_objspace_fetch_t));

    f->state = NGX_HTTP_OBJSPACE_FETCH_FREE;
    ngx_queue_insert_head(&rd->free, &f->queue);

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_objspace_metrics_count(NGX_HTTP_OBJSPACE_M_REDIS_ERRORS, 1);
    }

    if (done) {
        done(data, reply);
    }
}

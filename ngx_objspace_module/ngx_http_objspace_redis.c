
/*
 * Copyright (C) objspace authors
 *
 * The per-worker, non-blocking Redis client that fills the identity cache
 * (ngx_http_objspace_cache.c) and receives invalidations.
 *
 * Two connections per worker, both plain nginx peer connections on the
 * event loop (ngx_event_connect_peer on the address parsed at config time:
 * no getaddrinfo(), no blocking call):
 *   - command: pipelined EVALs, one per access key being read; concurrent
 *     reads of one key within the worker share one EVAL;
 *   - subscriber: SUBSCRIBE objspace:invalidate, PING keepalive.
 * Only hiredis' protocol parser (redisReader) is used; hiredis' own
 * connect does a getaddrinfo() even for numeric addresses.  Commands are
 * formatted here (RESP arrays of bulk strings).
 *
 * See docs/architecture.md, "Identity cache and Redis client".
 */


#include "ngx_http_objspace_cache.h"
#include "ngx_http_objspace_redis.h"
#include "ngx_http_objspace_metrics.h"

#include <hiredis/hiredis.h>


#define NGX_HTTP_OBJSPACE_REDIS_CHANNEL    "objspace:invalidate"

#define NGX_HTTP_OBJSPACE_REDIS_CMD_OUT    65536
#define NGX_HTTP_OBJSPACE_REDIS_SUB_OUT    1024
#define NGX_HTTP_OBJSPACE_REDIS_IN         16384
#define NGX_HTTP_OBJSPACE_REDIS_MAX_FIELDS 64

#define NGX_HTTP_OBJSPACE_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_OBJSPACE_REDIS_BACKOFF_MAX  5000
#define NGX_HTTP_OBJSPACE_REDIS_PING         15000
#define NGX_HTTP_OBJSPACE_REDIS_PING_WAIT    5000
#define NGX_HTTP_OBJSPACE_REDIS_LOG_EVERY    60
#define NGX_HTTP_OBJSPACE_REDIS_MAX_ROUNDS   3


/*
 * One round trip: the identity hash and, through its "space" field, the
 * space hash.  The space key is not in KEYS, which standalone Redis allows
 * (Redis Cluster would not; see docs/architecture.md).  A public (CDN)
 * name, "objspace:ak:s/{slug}" or "objspace:ak:h/{host}" (access keys
 * never contain '/'), reads objspace:slug:{slug} or objspace:pubhost:{host}
 * instead, then that space's hash and its objspace:public:{id} rules.
 */
#define NGX_HTTP_OBJSPACE_REDIS_SCRIPT                                        \
    "local n = string.sub(KEYS[1], 13, 14) "                                  \
    "if n == 's/' or n == 'h/' then "                                         \
    "local id = redis.call('GET', (n == 's/' and 'objspace:slug:' "           \
    "or 'objspace:pubhost:') .. string.sub(KEYS[1], 15)) "                    \
    "if not id then return {} end "                                           \
    "return {redis.call('HGETALL', ARGV[1] .. id), "                          \
    "redis.call('HGETALL', 'objspace:public:' .. id)} "                       \
    "end "                                                                    \
    "local a = redis.call('HGETALL', KEYS[1]) "                               \
    "if #a == 0 then return {} end "                                          \
    "for i = 1, #a, 2 do "                                                    \
    "if a[i] == 'space' then "                                                \
    "return {a, redis.call('HGETALL', ARGV[1] .. a[i + 1])} "                 \
    "end "                                                                    \
    "end "                                                                    \
    "return {a, {}}"


/*
 * The wrapper of a batched script (ngx_http_objspace_redis.h): ARGV holds,
 * per entry, nkeys, nargs, the keys, the args; the script's body, between
 * HEAD and TAIL, sees them as its KEYS and ARGV.  A Redis error inside a
 * pcall is a table with an err field: the entry's error reply.
 */
#define NGX_HTTP_OBJSPACE_REDIS_BATCH_HEAD                                    \
    "local function one(KEYS, ARGV) "

#define NGX_HTTP_OBJSPACE_REDIS_BATCH_TAIL                                    \
    " end "                                                                   \
    "local out, i, n = {}, 1, 0 "                                             \
    "while i <= #ARGV do "                                                    \
    "  local nk, na = tonumber(ARGV[i]), tonumber(ARGV[i + 1]) "              \
    "  local k, a = {}, {} "                                                  \
    "  for j = 1, nk do k[j] = ARGV[i + 1 + j] end "                          \
    "  for j = 1, na do a[j] = ARGV[i + 1 + nk + j] end "                     \
    "  local ok, res = pcall(one, k, a) "                                     \
    "  if not ok and type(res) ~= 'table' then "                              \
    "    res = {err = tostring(res)} "                                        \
    "  end "                                                                  \
    "  if res == nil then res = false end "                                   \
    "  n = n + 1 "                                                            \
    "  out[n] = res "                                                         \
    "  i = i + 2 + nk + na "                                                  \
    "end "                                                                    \
    "return out"


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


typedef enum {
    NGX_HTTP_OBJSPACE_WAIT_IDLE = 0,
    NGX_HTTP_OBJSPACE_WAIT_WAITING,    /* in a fetch's waiters */
    NGX_HTTP_OBJSPACE_WAIT_READY,      /* in rd->ready, resume posted */
    NGX_HTTP_OBJSPACE_WAIT_DONE        /* resumed, result not read yet */
} ngx_http_objspace_wait_state_e;


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


typedef struct {
    ngx_http_objspace_redis_done_pt  done;
    void                            *data;
} ngx_http_objspace_redis_entry_t;


/* a batch sent, waiting for its reply; ngx_alloc()ed */
typedef struct {
    ngx_uint_t                       n;
    ngx_http_objspace_redis_entry_t  entry[1];
} ngx_http_objspace_redis_sent_t;


struct ngx_http_objspace_redis_batch_s {
    ngx_cycle_t                     *cycle;
    ngx_str_t                        head;      /* EVAL wrapper 0, RESP */
    u_char                          *start;     /* the entries' RESP */
    u_char                          *last;
    u_char                          *end;
    ngx_uint_t                       nargs;
    ngx_uint_t                       n;
    ngx_uint_t                       max;
    ngx_msec_t                       delay;
    ngx_event_t                      timer;
    ngx_http_objspace_redis_entry_t *entry;     /* max of them */
};


static ngx_http_objspace_redis_t *ngx_http_objspace_redis_get(
    ngx_cycle_t *cycle);
static void ngx_http_objspace_redis_connect(
    ngx_http_objspace_redis_conn_t *conn);
static void ngx_http_objspace_redis_connected(
    ngx_http_objspace_redis_conn_t *conn);
static void ngx_http_objspace_redis_working(
    ngx_http_objspace_redis_conn_t *conn);
static void ngx_http_objspace_redis_close(
    ngx_http_objspace_redis_conn_t *conn, ngx_uint_t failed);
static void ngx_http_objspace_redis_retry_handler(ngx_event_t *ev);
static void ngx_http_objspace_redis_ping_handler(ngx_event_t *ev);
static void ngx_http_objspace_redis_write_handler(ngx_event_t *wev);
static void ngx_http_objspace_redis_read_handler(ngx_event_t *rev);
static ngx_int_t ngx_http_objspace_redis_test_connect(ngx_connection_t *c);
static ngx_int_t ngx_http_objspace_redis_flush(
    ngx_http_objspace_redis_conn_t *conn);
static ngx_int_t ngx_http_objspace_redis_append(
    ngx_http_objspace_redis_conn_t *conn, ngx_str_t *argv, ngx_uint_t argc);
static ngx_int_t ngx_http_objspace_redis_cmd_reply(
    ngx_http_objspace_redis_conn_t *conn, redisReply *reply);
static ngx_int_t ngx_http_objspace_redis_sub_reply(
    ngx_http_objspace_redis_conn_t *conn, redisReply *reply);
static ngx_int_t ngx_http_objspace_redis_eval_reply(
    ngx_http_objspace_redis_t *rd, ngx_http_objspace_fetch_t *f,
    redisReply *reply);
static ngx_uint_t ngx_http_objspace_redis_fields(redisReply *reply,
    ngx_http_objspace_kv_t *kv);
static void ngx_http_objspace_redis_complete(ngx_http_objspace_fetch_t *f,
    ngx_int_t rc);
static void ngx_http_objspace_redis_finish(ngx_http_objspace_fetch_t *f,
    redisReply *reply);
static void ngx_http_objspace_redis_fail_all(ngx_http_objspace_redis_t *rd);
static void ngx_http_objspace_redis_timeout_handler(ngx_event_t *ev);
static void ngx_http_objspace_redis_resume_handler(ngx_event_t *ev);
static void ngx_http_objspace_redis_flush_handler(ngx_event_t *ev);
static ngx_http_objspace_waiter_t *ngx_http_objspace_redis_waiter(
    ngx_http_request_t *r, ngx_uint_t create);
static void ngx_http_objspace_redis_waiter_cleanup(void *data);
static void ngx_http_objspace_redis_reader_cleanup(void *data);
static void ngx_http_objspace_redis_init_conn(ngx_http_objspace_redis_t *rd,
    ngx_http_objspace_redis_conn_t *conn, char *name, ngx_uint_t sub);
static void ngx_http_objspace_redis_batch_send(
    ngx_http_objspace_redis_batch_t *b);
static void ngx_http_objspace_redis_batch_timer(ngx_event_t *ev);
static void ngx_http_objspace_redis_batch_done(void *data,
    redisReply *reply);


static ngx_str_t  ngx_http_objspace_redis_eval[] = {
    ngx_string("EVAL"),
    ngx_string(NGX_HTTP_OBJSPACE_REDIS_SCRIPT),
    ngx_string("1"),
    ngx_null_string,                        /* objspace:ak:{AK} */
    ngx_string("objspace:space:")
};


/*
 * Starts the client in a worker (or in single-process mode); a no-op in
 * the master, in cache manager/loader processes and without
 * objspace_redis.  Called from the module's init_process.
 */

ngx_int_t
ngx_http_objspace_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_http_objspace_redis_t      *rd;
    ngx_http_objspace_main_conf_t  *omcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    omcf = ngx_http_objspace_main_conf(cycle);

    if (omcf == NULL || omcf->redis_addr == NULL) {
        return NGX_OK;
    }

    rd = ngx_pcalloc(cycle->pool, sizeof(ngx_http_objspace_redis_t));
    if (rd == NULL) {
        return NGX_ERROR;
    }

    rd->cycle = cycle;
    rd->omcf = omcf;

    ngx_rbtree_init(&rd->fetches, &rd->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&rd->unsent);
    ngx_queue_init(&rd->sent);
    ngx_queue_init(&rd->free);
    ngx_queue_init(&rd->ready);

    rd->resume.handler = ngx_http_objspace_redis_resume_handler;
    rd->resume.data = rd;
    rd->resume.log = cycle->log;

    rd->flush.handler = ngx_http_objspace_redis_flush_handler;
    rd->flush.data = rd;
    rd->flush.log = cycle->log;

    ngx_http_objspace_redis_init_conn(rd, &rd->cmd, "command", 0);
    ngx_http_objspace_redis_init_conn(rd, &rd->sub, "subscriber", 1);

    omcf->redis = rd;

    ngx_http_objspace_redis_connect(&rd->cmd);
    ngx_http_objspace_redis_connect(&rd->sub);

    return NGX_OK;
}


/* closes both connections; requests still waiting are not resumed */

void
ngx_http_objspace_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_objspace_redis_t  *rd;

    rd = ngx_http_objspace_redis_get(cycle);
    if (rd == NULL) {
        return;
    }

    rd->exiting = 1;

    ngx_http_objspace_redis_close(&rd->cmd, 0);
    ngx_http_objspace_redis_close(&rd->sub, 0);

    if (rd->cmd.retry.timer_set) {
        ngx_del_timer(&rd->cmd.retry);
    }

    if (rd->sub.retry.timer_set) {
        ngx_del_timer(&rd->sub.retry);
    }

    if (rd->resume.posted) {
        ngx_delete_posted_event(&rd->resume);
    }

    if (rd->flush.posted) {
        ngx_delete_posted_event(&rd->flush);
    }

    rd->omcf->redis = NULL;
}


static void
ngx_http_objspace_redis_init_conn(ngx_http_objspace_redis_t *rd,
    ngx_http_objspace_redis_conn_t *conn, char *name, ngx_uint_t sub)
{
    conn->rd = rd;
    conn->name = name;
    conn->subscriber = sub;

    /* optimistic until the first attempt fails: early misses queue */
    conn->up = 1;

    conn->out_size = sub ? NGX_HTTP_OBJSPACE_REDIS_SUB_OUT
                         : NGX_HTTP_OBJSPACE_REDIS_CMD_OUT;
    conn->out_size += rd->omcf->redis_password.len;

    /* a private copy of the log, so repeated failures can be quietened */
    conn->log = *rd->cycle->log;

    conn->retry.handler = ngx_http_objspace_redis_retry_handler;
    conn->retry.data = conn;
    conn->retry.log = rd->cycle->log;
    conn->retry.cancelable = 1;

    conn->ping.handler = ngx_http_objspace_redis_ping_handler;
    conn->ping.data = conn;
    conn->ping.log = rd->cycle->log;
    conn->ping.cancelable = 1;
}


/*
 * Starts (or joins) the read of ak for r; contract in
 * ngx_http_objspace_cache.h.  r is resumed asynchronously, from
 * ngx_http_objspace_redis_resume_handler, never from this call.
 */

ngx_int_t
ngx_http_objspace_redis_fetch(ngx_http_request_t *r, ngx_str_t *ak)
{
    uint32_t                     hash;
    ngx_queue_t                 *q;
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
        if (!ngx_queue_empty(&rd->free)) {
            q = ngx_queue_head(&rd->free);
            ngx_queue_remove(q);
            f = ngx_queue_data(q, ngx_http_objspace_fetch_t, queue);

        } else {
            /* bounded by the worker's peak of distinct keys in flight */
            f = ngx_palloc(rd->cycle->pool, sizeof(ngx_http_objspace_fetch_t));
            if (f == NULL) {
                return NGX_ERROR;
            }
        }

        ngx_memzero(f, sizeof(ngx_http_objspace_fetch_t));

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


static ngx_http_objspace_redis_t *
ngx_http_objspace_redis_get(ngx_cycle_t *cycle)
{
    ngx_http_objspace_main_conf_t  *omcf;

    omcf = ngx_http_objspace_main_conf(cycle);

    return omcf ? omcf->redis : NULL;
}


/* connection management */

static void
ngx_http_objspace_redis_connect(ngx_http_objspace_redis_conn_t *conn)
{
    time_t                      now;
    ngx_int_t                   rc;
    ngx_pool_cleanup_t         *cln;
    ngx_connection_t           *c;
    ngx_http_objspace_redis_t  *rd;

    rd = conn->rd;

    if (rd->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    /* repeated failures: one log line per minute, not one per attempt */

    now = ngx_time();

    if (!conn->up && now - conn->logged < NGX_HTTP_OBJSPACE_REDIS_LOG_EVERY) {
        conn->log.log_level = ngx_min(rd->cycle->log->log_level,
                                      NGX_LOG_ALERT);

    } else {
        conn->log.log_level = rd->cycle->log->log_level;
        conn->logged = now;
    }

    conn->pool = ngx_create_pool(1024, &conn->log);
    if (conn->pool == NULL) {
        goto failed;
    }

    conn->out = ngx_create_temp_buf(conn->pool, conn->out_size);
    conn->in = ngx_pnalloc(conn->pool, NGX_HTTP_OBJSPACE_REDIS_IN);
    cln = ngx_pool_cleanup_add(conn->pool, 0);

    if (conn->out == NULL || conn->in == NULL || cln == NULL) {
        goto failed;
    }

    conn->reader = redisReaderCreate();
    if (conn->reader == NULL) {
        goto failed;
    }

    cln->handler = ngx_http_objspace_redis_reader_cleanup;
    cln->data = conn->reader;

    ngx_memzero(&conn->peer, sizeof(ngx_peer_connection_t));

    conn->peer.sockaddr = rd->omcf->redis_addr->sockaddr;
    conn->peer.socklen = rd->omcf->redis_addr->socklen;
    conn->peer.name = &rd->omcf->redis_addr->name;
    conn->peer.get = ngx_event_get_peer;
    conn->peer.log = &conn->log;
    conn->peer.log_error = NGX_ERROR_ERR;
    conn->peer.so_keepalive = 1;

    conn->state = NGX_HTTP_OBJSPACE_CONN_CONNECTING;

    rc = ngx_event_connect_peer(&conn->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        conn->peer.connection = NULL;
        goto failed;
    }

    c = conn->peer.connection;
    c->data = conn;
    c->pool = conn->pool;
    c->read->handler = ngx_http_objspace_redis_read_handler;
    c->write->handler = ngx_http_objspace_redis_write_handler;
    c->read->log = &conn->log;
    c->write->log = &conn->log;
    c->write->cancelable = 1;

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->write, rd->omcf->redis_timeout);
        return;
    }

    ngx_http_objspace_redis_connected(conn);

    return;

failed:

    ngx_http_objspace_redis_close(conn, 1);
}


/*
 * TCP is up: queue AUTH / SELECT (the replies are skipped by the
 * handshake count; an error reply drops the connection), then SUBSCRIBE
 * or the reads that were waiting for the connection.
 */

static void
ngx_http_objspace_redis_connected(ngx_http_objspace_redis_conn_t *conn)
{
    u_char                         *p;
    ngx_str_t                       argv[2];
    ngx_http_objspace_main_conf_t  *omcf;
    u_char                          db[NGX_INT_T_LEN];

    omcf = conn->rd->omcf;

    conn->state = NGX_HTTP_OBJSPACE_CONN_READY;
    conn->handshake = 0;

    if (omcf->redis_password.len) {
        ngx_str_set(&argv[0], "AUTH");
        argv[1] = omcf->redis_password;

        (void) ngx_http_objspace_redis_append(conn, argv, 2);
        conn->handshake++;
    }

    if (conn->subscriber) {
        ngx_str_set(&argv[0], "SUBSCRIBE");
        ngx_str_set(&argv[1], NGX_HTTP_OBJSPACE_REDIS_CHANNEL);

        (void) ngx_http_objspace_redis_append(conn, argv, 2);

    } else if (omcf->redis_db) {
        p = ngx_sprintf(db, "%ui", omcf->redis_db);

        ngx_str_set(&argv[0], "SELECT");
        argv[1].data = db;
        argv[1].len = p - db;

        (void) ngx_http_objspace_redis_append(conn, argv, 2);
        conn->handshake++;
    }

    if (!conn->subscriber && conn->handshake == 0) {
        ngx_http_objspace_redis_working(conn);
    }

    (void) ngx_http_objspace_redis_flush(conn);
}


/*
 * The connection answered past its handshake: it counts as up again, the
 * backoff restarts, and a recovery is logged once.
 */

static void
ngx_http_objspace_redis_working(ngx_http_objspace_redis_conn_t *conn)
{
    if (conn->working) {
        return;
    }

    conn->working = 1;
    conn->up = 1;
    conn->backoff = 0;
    conn->log.log_level = conn->rd->cycle->log->log_level;

    if (conn->reported) {
        conn->reported = 0;
        ngx_log_error(NGX_LOG_NOTICE, conn->rd->cycle->log, 0,
                      "objspace: redis %s connection to %V established",
                      conn->name, &conn->rd->omcf->redis_addr->name);
    }
}


/*
 * Closes the connection (if any) and, unless the worker is exiting,
 * schedules a reconnect: at once after a connection that worked, then
 * with a doubling backoff.  Closing the command connection fails every
 * read in flight or queued: their requests are resumed with an error
 * (stale entry or 503).
 */

static void
ngx_http_objspace_redis_close(ngx_http_objspace_redis_conn_t *conn,
    ngx_uint_t failed)
{
    ngx_uint_t                  was_up;
    ngx_http_objspace_redis_t  *rd;

    rd = conn->rd;
    was_up = conn->working;
    conn->working = 0;

    if (conn->peer.connection) {
        ngx_close_connection(conn->peer.connection);
        conn->peer.connection = NULL;
    }

    if (conn->pool) {
        if (conn->out) {
            /* the buffer may hold an AUTH password */
            ngx_explicit_memzero(conn->out->start,
                                 conn->out->end - conn->out->start);
        }

        ngx_destroy_pool(conn->pool);
        conn->pool = NULL;
    }

    conn->out = NULL;
    conn->in = NULL;
    conn->reader = NULL;
    conn->state = NGX_HTTP_OBJSPACE_CONN_IDLE;
    conn->handshake = 0;
    conn->ping_sent = 0;

    if (conn->ping.timer_set) {
        ngx_del_timer(&conn->ping);
    }

    if (!conn->subscriber) {
        ngx_http_objspace_redis_fail_all(rd);
    }

    if (!failed || rd->exiting) {
        return;
    }

    conn->reported = 1;

    ngx_http_objspace_metrics_count(NGX_HTTP_OBJSPACE_M_REDIS_ERRORS, 1);

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        conn->up = 0;
        return;
    }

    if (was_up) {
        ngx_log_error(NGX_LOG_ERR, rd->cycle->log, 0,
                      "objspace: redis %s connection to %V lost, "
                      "reconnecting", conn->name,
                      &rd->omcf->redis_addr->name);
        conn->logged = ngx_time();

        /*
         * One immediate attempt, still counted as "up" (reads queue for
         * it): Redis closing an idle connection should not cost 503s.
         */
        ngx_add_timer(&conn->retry, 1);
        return;
    }

    conn->up = 0;

    ngx_add_timer(&conn->retry, conn->backoff);

    conn->backoff = ngx_max(conn->backoff * 2,
                            NGX_HTTP_OBJSPACE_REDIS_BACKOFF_MIN);
    conn->backoff = ngx_min(conn->backoff,
                            NGX_HTTP_OBJSPACE_REDIS_BACKOFF_MAX);
}


static void
ngx_http_objspace_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_objspace_redis_conn_t  *conn = ev->data;

    if (conn->state == NGX_HTTP_OBJSPACE_CONN_IDLE) {
        ngx_http_objspace_redis_connect(conn);
    }
}


/*
 * Subscriber keepalive: a PING every NGX_HTTP_OBJSPACE_REDIS_PING ms; no
 * answer within redis_timeout means the connection is dead (messages may
 * be lost), so it is dropped and re-established.
 */

static void
ngx_http_objspace_redis_ping_handler(ngx_event_t *ev)
{
    ngx_str_t                        argv[1];
    ngx_http_objspace_redis_conn_t  *conn = ev->data;

    if (conn->state != NGX_HTTP_OBJSPACE_CONN_READY) {
        return;
    }

    if (conn->ping_sent) {
        ngx_log_error(NGX_LOG_ERR, conn->rd->cycle->log, 0,
                      "objspace: redis %s connection timed out",
                      conn->name);
        ngx_http_objspace_redis_close(conn, 1);
        return;
    }

    ngx_str_set(&argv[0], "PING");

    if (ngx_http_objspace_redis_append(conn, argv, 1) != NGX_OK) {
        ngx_add_timer(&conn->ping, conn->rd->omcf->redis_timeout);
        return;
    }

    /*
     * A late PONG on a busy machine must not cost a reconnect (which marks
     * every cached entry for revalidation): allow at least 5 s.
     */

    conn->ping_sent = 1;
    ngx_add_timer(&conn->ping,
                  ngx_max(conn->rd->omcf->redis_timeout,
                          NGX_HTTP_OBJSPACE_REDIS_PING_WAIT));

    (void) ngx_http_objspace_redis_flush(conn);
}


static void
ngx_http_objspace_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t                *c;
    ngx_http_objspace_redis_conn_t  *conn;

    c = wev->data;
    conn = c->data;

    if (conn->state == NGX_HTTP_OBJSPACE_CONN_CONNECTING) {

        if (wev->timedout) {
            ngx_log_error(NGX_LOG_ERR, &conn->log, NGX_ETIMEDOUT,
                          "objspace: redis %s connect to %V timed out",
                          conn->name, conn->peer.name);
            ngx_http_objspace_redis_close(conn, 1);
            return;
        }

        if (wev->timer_set) {
            ngx_del_timer(wev);
        }

        if (ngx_http_objspace_redis_test_connect(c) != NGX_OK) {
            ngx_http_objspace_redis_close(conn, 1);
            return;
        }

        ngx_http_objspace_redis_connected(conn);
        return;
    }

    (void) ngx_http_objspace_redis_flush(conn);
}


/*
 * Reads until EAGAIN (events are edge-triggered with epoll), feeding the
 * parser and handling every complete reply.  Handlers never resume
 * requests here; they post rd->resume.
 */

static void
ngx_http_objspace_redis_read_handler(ngx_event_t *rev)
{
    ssize_t                          n;
    ngx_int_t                        rc;
    redisReply                      *reply;
    ngx_connection_t                *c;
    ngx_http_objspace_redis_conn_t  *conn;

    c = rev->data;
    conn = c->data;

    if (conn->state != NGX_HTTP_OBJSPACE_CONN_READY) {
        /* readable before writable: a refused or reset connect */
        if (ngx_http_objspace_redis_test_connect(c) != NGX_OK) {
            ngx_http_objspace_redis_close(conn, 1);
        }

        return;
    }

    for ( ;; ) {

        n = c->recv(c, conn->in, NGX_HTTP_OBJSPACE_REDIS_IN);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_log_error(NGX_LOG_INFO, &conn->log, 0,
                          "objspace: redis %s connection to %V closed "
                          "by peer", conn->name, conn->peer.name);
            ngx_http_objspace_redis_close(conn, 1);
            return;
        }

        if (redisReaderFeed(conn->reader, (char *) conn->in, n) != REDIS_OK) {
            goto protocol;
        }

        for ( ;; ) {
            reply = NULL;

            if (redisReaderGetReply(conn->reader, (void **) &reply)
                != REDIS_OK)
            {
                goto protocol;
            }

            if (reply == NULL) {
                break;
            }

            rc = conn->subscriber
                 ? ngx_http_objspace_redis_sub_reply(conn, reply)
                 : ngx_http_objspace_redis_cmd_reply(conn, reply);

            freeReplyObject(reply);

            if (rc != NGX_OK) {
                ngx_http_objspace_redis_close(conn, 1);
                return;
            }
        }

        if (!rev->ready) {
            break;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_objspace_redis_close(conn, 1);
    }

    return;

protocol:

    ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                  "objspace: redis %s protocol error: %s",
                  conn->name, conn->reader->errstr);
    ngx_http_objspace_redis_close(conn, 1);
}


static ngx_int_t
ngx_http_objspace_redis_test_connect(ngx_connection_t *c)
{
    int        err;
    socklen_t  len;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        (void) ngx_connection_error(c, err, "objspace: redis connect() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Moves queued reads into the output buffer (command connection) and
 * writes what the socket takes.  On a write error the connection is
 * closed (which fails the reads) and NGX_ERROR returned.
 */

static ngx_int_t
ngx_http_objspace_redis_flush(ngx_http_objspace_redis_conn_t *conn)
{
    ssize_t                     n;
    ngx_buf_t                  *b;
    ngx_queue_t                *q;
    ngx_connection_t           *c;
    ngx_http_objspace_fetch_t  *f;
    ngx_http_objspace_redis_t  *rd;
    ngx_str_t                   argv[5];
    u_char                      key[sizeof("objspace:ak:") - 1
                                    + NGX_HTTP_OBJSPACE_MAX_AK_LEN];

    if (conn->state != NGX_HTTP_OBJSPACE_CONN_READY) {
        return NGX_OK;
    }

    rd = conn->rd;
    c = conn->peer.connection;
    b = conn->out;

    for ( ;; ) {

        if (!conn->subscriber) {

            while (!ngx_queue_empty(&rd->unsent)) {
                q = ngx_queue_head(&rd->unsent);
                f = ngx_queue_data(q, ngx_http_objspace_fetch_t, queue);

                if (f->command) {
                    if ((size_t) (b->end - b->last) < f->raw.len) {
                        if (b->pos != b->start) {
                            b->last = ngx_movemem(b->start, b->pos,
                                                  b->last - b->pos);
                            b->pos = b->start;
                        }

                        if ((size_t) (b->end - b->last) < f->raw.len) {
                            break;
                        }
                    }

                    b->last = ngx_cpymem(b->last, f->raw.data, f->raw.len);

                } else {
                    ngx_memcpy(argv, ngx_http_objspace_redis_eval,
                               sizeof(argv));

                    argv[3].data = key;
                    argv[3].len = ngx_sprintf(key, "objspace:ak:%V",
                                              &f->sn.str)
                                  - key;

                    if (ngx_http_objspace_redis_append(conn, argv, 5)
                        != NGX_OK)
                    {
                        break;
                    }
                }

                ngx_queue_remove(q);
                f->state = NGX_HTTP_OBJSPACE_FETCH_SENT;
                ngx_queue_insert_tail(&rd->sent, q);
            }
        }

        if (b->pos == b->last) {
            break;
        }

        n = c->send(c, b->pos, b->last - b->pos);

        if (n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "objspace: redis %s send to %V failed",
                          conn->name, conn->peer.name);
            ngx_http_objspace_redis_close(conn, 1);
            return NGX_ERROR;
        }

        if (n == NGX_AGAIN) {
            break;
        }

        b->pos += n;

        if (b->pos == b->last) {
            b->pos = b->start;
            b->last = b->start;
        }
    }

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_http_objspace_redis_close(conn, 1);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Appends one command (a RESP array of bulk strings) to the output
 * buffer, compacting it first if needed; NGX_AGAIN when it does not fit
 * (the command stays queued until the socket drains).
 */

static ngx_int_t
ngx_http_objspace_redis_append(ngx_http_objspace_redis_conn_t *conn,
    ngx_str_t *argv, ngx_uint_t argc)
{
    size_t      len, used;
    ngx_buf_t  *b;
    ngx_uint_t  i;

    b = conn->out;

    len = sizeof("*\r\n") - 1 + NGX_INT_T_LEN;

    for (i = 0; i < argc; i++) {
        len += sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + argv[i].len;
    }

    if ((size_t) (b->end - b->last) < len) {
        used = b->last - b->pos;

        if (b->pos != b->start) {
            ngx_memmove(b->start, b->pos, used);
            b->pos = b->start;
            b->last = b->start + used;
        }

        if ((size_t) (b->end - b->last) < len) {
            return NGX_AGAIN;
        }
    }

    b->last = ngx_sprintf(b->last, "*%ui\r\n", argc);

    for (i = 0; i < argc; i++) {
        b->last = ngx_sprintf(b->last, "$%uz\r\n", argv[i].len);
        b->last = ngx_cpymem(b->last, argv[i].data, argv[i].len);
        *b->last++ = '\r';
        *b->last++ = '\n';
    }

    return NGX_OK;
}


/* replies */

static ngx_int_t
ngx_http_objspace_redis_cmd_reply(ngx_http_objspace_redis_conn_t *conn,
    redisReply *reply)
{
    ngx_int_t                   rc;
    ngx_queue_t                *q;
    ngx_http_objspace_fetch_t  *f;
    ngx_http_objspace_redis_t  *rd;

    rd = conn->rd;

    if (conn->handshake) {
        conn->handshake--;

        if (reply->type == REDIS_REPLY_ERROR) {
            /* Redis' message never contains the password */
            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "objspace: redis %s AUTH/SELECT failed: %*s",
                          conn->name, (size_t) reply->len, reply->str);
            return NGX_ERROR;
        }

        if (conn->handshake == 0) {
            ngx_http_objspace_redis_working(conn);
        }

        return NGX_OK;
    }

    if (ngx_queue_empty(&rd->sent)) {
        ngx_log_error(NGX_LOG_ALERT, &conn->log, 0,
                      "objspace: unexpected reply on the redis %s "
                      "connection", conn->name);
        return NGX_ERROR;
    }

    q = ngx_queue_head(&rd->sent);
    f = ngx_queue_data(q, ngx_http_objspace_fetch_t, queue);

    if (f->command) {
        ngx_http_objspace_redis_finish(f, reply);
        ngx_http_objspace_redis_working(conn);
        return NGX_OK;
    }

    rc = ngx_http_objspace_redis_eval_reply(rd, f, reply);

    ngx_http_objspace_redis_complete(f, rc);

    ngx_http_objspace_redis_working(conn);

    return NGX_OK;
}


/* EVAL answers [] (unknown key) or [identity fields, space fields] */

static ngx_int_t
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


static ngx_int_t
ngx_http_objspace_redis_sub_reply(ngx_http_objspace_redis_conn_t *conn,
    redisReply *reply)
{
    ngx_str_t    kind, msg;
    redisReply  *e;

    if (conn->handshake) {
        conn->handshake--;

        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                          "objspace: redis %s AUTH failed: %*s",
                          conn->name, (size_t) reply->len, reply->str);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, &conn->log, 0,
                      "objspace: redis %s error: %*s",
                      conn->name, (size_t) reply->len, reply->str);
        return NGX_ERROR;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return NGX_OK;
    }

    kind.data = (u_char *) reply->element[0]->str;
    kind.len = reply->element[0]->len;

    if (kind.len == 7 && ngx_strncmp(kind.data, "message", 7) == 0) {

        if (reply->elements != 3) {
            return NGX_OK;
        }

        e = reply->element[2];

        if (e->type != REDIS_REPLY_STRING) {
            return NGX_OK;
        }

        msg.data = (u_char *) e->str;
        msg.len = e->len;

        ngx_http_objspace_cache_invalidate(conn->rd->cycle, &msg);

        return NGX_OK;
    }

    if (kind.len == 9 && ngx_strncmp(kind.data, "subscribe", 9) == 0) {

        /* a message may have been missed while we were away */
        ngx_http_objspace_cache_revalidate_all(conn->rd->cycle);

        ngx_log_error(NGX_LOG_INFO, conn->rd->cycle->log, 0,
                      "objspace: subscribed to \""
                      NGX_HTTP_OBJSPACE_REDIS_CHANNEL "\" on %V",
                      conn->peer.name);

        ngx_http_objspace_redis_working(conn);
        ngx_add_timer(&conn->ping, NGX_HTTP_OBJSPACE_REDIS_PING);

        return NGX_OK;
    }

    if (kind.len == 4 && ngx_strncmp(kind.data, "pong", 4) == 0) {
        conn->ping_sent = 0;
        ngx_add_timer(&conn->ping, NGX_HTTP_OBJSPACE_REDIS_PING);
    }

    return NGX_OK;
}


/* fetches and waiters */

/*
 * Finishes a read: its waiters move to rd->ready with the result and
 * rd->resume is posted; the fetch goes back to the free list.  Safe to
 * call from reply handlers: nothing is resumed here.
 */

static void
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


static void
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

static void
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


static void
ngx_http_objspace_redis_reader_cleanup(void *data)
{
    redisReaderFree(data);
}


/* generic commands (ngx_http_objspace_redis.h) */

ngx_int_t
ngx_http_objspace_redis_send(ngx_cycle_t *cycle, ngx_str_t *resp,
    ngx_http_objspace_redis_done_pt done, void *data, void **handle)
{
    ngx_queue_t                *q;
    ngx_http_objspace_fetch_t  *f;
    ngx_http_objspace_redis_t  *rd;

    rd = ngx_http_objspace_redis_get(cycle);

    if (rd == NULL || !ngx_http_objspace_redis_available(cycle)) {
        return NGX_BUSY;
    }

    if (resp->len > NGX_HTTP_OBJSPACE_REDIS_CMD_OUT / 2) {
        return NGX_DECLINED;
    }

    if (!ngx_queue_empty(&rd->free)) {
        q = ngx_queue_head(&rd->free);
        ngx_queue_remove(q);
        f = ngx_queue_data(q, ngx_http_objspace_fetch_t, queue);

    } else {
        f = ngx_palloc(rd->cycle->pool, sizeof(ngx_http_objspace_fetch_t));
        if (f == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_memzero(f, sizeof(ngx_http_objspace_fetch_t));

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

static void
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


static void
ngx_http_objspace_redis_flush_handler(ngx_event_t *ev)
{
    ngx_http_objspace_redis_t  *rd = ev->data;

    (void) ngx_http_objspace_redis_flush(&rd->cmd);
}


/* batches of script runs (ngx_http_objspace_redis.h) */

ngx_http_objspace_redis_batch_t *
ngx_http_objspace_redis_batch_create(ngx_cycle_t *cycle, ngx_str_t *script,
    ngx_uint_t max, ngx_msec_t delay)
{
    return ngx_http_objspace_redis_batch_create_tail(cycle, script, NULL,
                                                     max, delay);
}


ngx_http_objspace_redis_batch_t *
ngx_http_objspace_redis_batch_create_tail(ngx_cycle_t *cycle,
    ngx_str_t *script, ngx_str_t *tail, ngx_uint_t max, ngx_msec_t delay)
{
    size_t                            len, room;
    u_char                           *p;
    ngx_str_t                         deftail;
    ngx_http_objspace_redis_batch_t  *b;

    if (tail == NULL) {
        ngx_str_set(&deftail, NGX_HTTP_OBJSPACE_REDIS_BATCH_TAIL);
        tail = &deftail;
    }

    len = sizeof(NGX_HTTP_OBJSPACE_REDIS_BATCH_HEAD) - 1 + script->len
          + tail->len;

    /* what ngx_http_objspace_redis_send takes, less the head */

    room = NGX_HTTP_OBJSPACE_REDIS_CMD_OUT / 2;

    if (len + 64 + 1024 > room || max == 0) {
        return NULL;
    }

    room -= len + 64;

    b = ngx_pcalloc(cycle->pool, sizeof(ngx_http_objspace_redis_batch_t));
    if (b == NULL) {
        return NULL;
    }

    b->entry = ngx_palloc(cycle->pool,
                          max * sizeof(ngx_http_objspace_redis_entry_t));

    /* room for "*N\r\n" and the head in front of the entries */
    p = ngx_pnalloc(cycle->pool, NGX_INT_T_LEN + 3 + len + 64 + room);

    if (b->entry == NULL || p == NULL) {
        return NULL;
    }

    p += NGX_INT_T_LEN + 3;

    b->head.data = p;
    p = ngx_sprintf(p, "$4\r\nEVAL\r\n$%uz\r\n", len);
    p = ngx_cpymem(p, NGX_HTTP_OBJSPACE_REDIS_BATCH_HEAD,
                   sizeof(NGX_HTTP_OBJSPACE_REDIS_BATCH_HEAD) - 1);
    p = ngx_cpymem(p, script->data, script->len);
    p = ngx_cpymem(p, tail->data, tail->len);
    p = ngx_cpymem(p, "\r\n$1\r\n0\r\n", sizeof("\r\n$1\r\n0\r\n") - 1);
    b->head.len = p - b->head.data;

    b->start = p;
    b->last = p;
    b->end = p + room;

    b->cycle = cycle;
    b->max = max;
    b->delay = delay;

    /* not cancelable: a gracefully exiting worker sends what it holds */
    b->timer.handler = ngx_http_objspace_redis_batch_timer;
    b->timer.data = b;
    b->timer.log = cycle->log;

    return b;
}


ngx_int_t
ngx_http_objspace_redis_batch_add(ngx_http_objspace_redis_batch_t *b,
    ngx_uint_t nkeys, ngx_uint_t nargs, ngx_str_t *resp,
    ngx_http_objspace_redis_done_pt done, void *data)
{
    size_t  len;
    u_char  num[NGX_INT64_LEN], *e;

    if (!ngx_http_objspace_redis_available(b->cycle)) {
        return NGX_BUSY;
    }

    /* nkeys and nargs as bulk strings, then the entry */
    len = 2 * (sizeof("$\r\n\r\n") - 1 + 2 + NGX_INT_T_LEN) + resp->len;

    if (len > (size_t) (b->end - b->start)) {
        return NGX_DECLINED;
    }

    if (len > (size_t) (b->end - b->last)) {
        ngx_http_objspace_redis_batch_send(b);
    }

    e = ngx_http_objspace_redis_dec(num, nkeys);
    b->last = ngx_http_objspace_redis_bulk(b->last, num, e - num);

    e = ngx_http_objspace_redis_dec(num, nargs);
    b->last = ngx_http_objspace_redis_bulk(b->last, num, e - num);

    b->last = ngx_cpymem(b->last, resp->data, resp->len);

    b->nargs += 2 + nkeys + nargs;
    b->entry[b->n].done = done;
    b->entry[b->n].data = data;
    b->n++;

    if (b->n == b->max) {
        ngx_http_objspace_redis_batch_send(b);

    } else if (!b->timer.timer_set) {
        ngx_add_timer(&b->timer, b->delay);
    }

    return NGX_OK;
}


void
ngx_http_objspace_redis_batch_abort(ngx_http_objspace_redis_batch_t *b)
{
    ngx_uint_t  i, n;

    if (b->timer.timer_set) {
        ngx_del_timer(&b->timer);
    }

    n = b->n;

    b->n = 0;
    b->nargs = 0;
    b->last = b->start;

    for (i = 0; i < n; i++) {
        if (b->entry[i].done) {
            b->entry[i].done(b->entry[i].data, NULL);
        }
    }
}


/*
 * Sends what the batch holds as one command; if it cannot be queued,
 * every entry is answered NULL at once.  The batch is empty afterwards.
 */

static void
ngx_http_objspace_redis_batch_send(ngx_http_objspace_redis_batch_t *b)
{
    u_char                          *p;
    size_t                           n;
    ngx_int_t                        rc;
    ngx_str_t                        resp;
    ngx_http_objspace_redis_sent_t  *sent;
    u_char                           hdr[NGX_INT_T_LEN + 3];

    if (b->timer.timer_set) {
        ngx_del_timer(&b->timer);
    }

    if (b->n == 0) {
        return;
    }

    sent = ngx_alloc(sizeof(ngx_http_objspace_redis_sent_t)
                     + (b->n - 1) * sizeof(ngx_http_objspace_redis_entry_t),
                     b->cycle->log);

    if (sent == NULL) {
        ngx_http_objspace_redis_batch_abort(b);
        return;
    }

    sent->n = b->n;
    ngx_memcpy(sent->entry, b->entry,
               b->n * sizeof(ngx_http_objspace_redis_entry_t));

    /* "*N\r\n" right in front of the head: EVAL, wrapper, 0, ARGV */

    n = ngx_sprintf(hdr, "*%ui\r\n", 3 + b->nargs) - hdr;
    p = b->head.data - n;
    ngx_memcpy(p, hdr, n);

    resp.data = p;
    resp.len = b->last - p;

    b->n = 0;
    b->nargs = 0;
    b->last = b->start;

    rc = ngx_http_objspace_redis_send(b->cycle, &resp,
                                      ngx_http_objspace_redis_batch_done,
                                      sent, NULL);

    if (rc != NGX_OK) {
        ngx_http_objspace_redis_batch_done(sent, NULL);
    }
}


static void
ngx_http_objspace_redis_batch_timer(ngx_event_t *ev)
{
    ngx_http_objspace_redis_batch_send(ev->data);
}


/* a batch's reply: each entry gets its element (or the failure) */

static void
ngx_http_objspace_redis_batch_done(void *data, redisReply *reply)
{
    ngx_uint_t                       i;
    redisReply                      *e;
    ngx_http_objspace_redis_sent_t  *sent = data;

    for (i = 0; i < sent->n; i++) {

        if (reply && reply->type == REDIS_REPLY_ARRAY
            && reply->elements == sent->n)
        {
            e = reply->element[i];

        } else if (reply && reply->type == REDIS_REPLY_ERROR) {
            e = reply;

        } else {
            e = NULL;
        }

        if (sent->entry[i].done) {
            sent->entry[i].done(sent->entry[i].data, e);
        }
    }

    ngx_free(sent);
}


/* formatting helpers (ngx_http_objspace_redis.h) */

u_char *
ngx_http_objspace_redis_bulk(u_char *p, u_char *data, size_t len)
{
    *p++ = '$';
    p = ngx_http_objspace_redis_dec(p, len);
    *p++ = '\r';
    *p++ = '\n';

    if (len) {                       /* an empty value may have no data */
        p = ngx_cpymem(p, data, len);
    }

    *p++ = '\r';
    *p++ = '\n';

    return p;
}


u_char *
ngx_http_objspace_redis_dec(u_char *p, uint64_t n)
{
    u_char  *t;
    u_char   tmp[NGX_INT64_LEN];

    if (n < 10) {                    /* most lengths */
        *p++ = (u_char) ('0' + n);
        return p;
    }

    t = tmp + NGX_INT64_LEN;

    do {
        *--t = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, t, tmp + NGX_INT64_LEN - t);
}


/*
 * Copyright (C) objspace authors
 *
 * The per-worker, non-blocking Redis client that fills the identity cache
 * (ngx_http_objspace_cache.c) and receives invalidations: its connections,
 * the commands written on them and the replies read back.  The reads and
 * the requests waiting for them are in ngx_http_objspace_redis_fetch.c,
 * batches of script runs in ngx_http_objspace_redis_batch.c.
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


#include "ngx_http_objspace_redis_client.h"
#include "ngx_http_objspace_metrics.h"


#define NGX_HTTP_OBJSPACE_REDIS_CHANNEL    "objspace:invalidate"

#define NGX_HTTP_OBJSPACE_REDIS_SUB_OUT    1024
#define NGX_HTTP_OBJSPACE_REDIS_IN         16384

#define NGX_HTTP_OBJSPACE_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_OBJSPACE_REDIS_BACKOFF_MAX  5000
#define NGX_HTTP_OBJSPACE_REDIS_PING         15000
#define NGX_HTTP_OBJSPACE_REDIS_PING_WAIT    5000


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




static void ngx_http_objspace_redis_connect(
    ngx_http_objspace_redis_conn_t *conn);
static void ngx_http_objspace_redis_connected(
    ngx_http_objspace_redis_conn_t *conn);
static void ngx_http_objspace_redis_working(
    ngx_http_objspace_redis_conn_t *conn);
static void ngx_http_objspace_redis_retry_handler(ngx_event_t *ev);
static void ngx_http_objspace_redis_ping_handler(ngx_event_t *ev);
static void ngx_http_objspace_redis_write_handler(ngx_event_t *wev);
static void ngx_http_objspace_redis_read_handler(ngx_event_t *rev);
static ngx_int_t ngx_http_objspace_redis_test_connect(ngx_connection_t *c);
static ngx_int_t ngx_http_objspace_redis_append(
    ngx_http_objspace_redis_conn_t *conn, ngx_str_t *argv, ngx_uint_t argc);
static ngx_int_t ngx_http_objspace_redis_cmd_reply(
    ngx_http_objspace_redis_conn_t *conn, redisReply *reply);
static ngx_int_t ngx_http_objspace_redis_sub_reply(
    ngx_http_objspace_redis_conn_t *conn, redisReply *reply);
static void ngx_http_objspace_redis_flush_handler(ngx_event_t *ev);
static void ngx_http_objspace_redis_reader_cleanup(void *data);
static void ngx_http_objspace_redis_init_conn(ngx_http_objspace_redis_t *rd,
    ngx_http_objspace_redis_conn_t *conn, char *name, ngx_uint_t sub);


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


ngx_http_objspace_redis_t *
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

void
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

ngx_int_t
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


static void
ngx_http_objspace_redis_reader_cleanup(void *data)
{
    redisReaderFree(data);
}


static void
ngx_http_objspace_redis_flush_handler(ngx_event_t *ev)
{
    ngx_http_objspace_redis_t  *rd = ev->data;

    (void) ngx_http_objspace_redis_flush(&rd->cmd);
}

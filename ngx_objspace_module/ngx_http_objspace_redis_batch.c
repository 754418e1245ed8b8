
/*
 * Copyright (C) objspace authors
 *
 * Batches of runs of one Lua script (ngx_http_objspace_redis.h), for
 * updates nothing waits for (usage accounting): entries are queued per
 * worker and sent together as one EVAL of a wrapper script, through the
 * client's generic commands (ngx_http_objspace_redis_send); and the RESP
 * formatting helpers commands are built with.
 */


#include "ngx_http_objspace_cache.h"
#include "ngx_http_objspace_redis.h"


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


static void ngx_http_objspace_redis_batch_send(
    ngx_http_objspace_redis_batch_t *b);
static void ngx_http_objspace_redis_batch_timer(ngx_event_t *ev);
static void ngx_http_objspace_redis_batch_done(void *data,
    redisReply *reply);


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

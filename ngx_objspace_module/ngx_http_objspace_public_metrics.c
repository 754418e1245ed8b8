
/*
 * Copyright (C) objspace authors
 *
 * Per-space counters of the public frontend (objspace_public_metrics_zone):
 * requests, bytes sent, hits (200/206), 304s, 404s and proxy_cache hits,
 * counted in the log phase with atomic adds.  The objspace_public_metrics
 * handler (and objspace_metrics, ngx_http_objspace_metrics.c) print them
 * in Prometheus text format.  Once a second one worker of the node adds
 * what the zone counted since the last flush to Redis
 * (objspace:pubstats:{space}), in batches, idempotently: the
 * provisioner's "usage" reads the fleet's totals there.  See
 * docs/public.md, docs/metrics.md and docs/redis-schema.md.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/rand.h>

#include "ngx_http_objspace_public.h"
#include "ngx_http_objspace_metrics.h"
#include "ngx_http_objspace_redis.h"
#include "ngx_http_objspace_cache.h"


#define NGX_HTTP_OBJSPACE_PM_MAGIC      0x6f706d74    /* "opmt" */
#define NGX_HTTP_OBJSPACE_PM_VERSION    2

#define NGX_HTTP_OBJSPACE_PM_WRITER_LEN 16

/* one flush round per node about every second */
#define NGX_HTTP_OBJSPACE_PM_FLUSH      1000

#define NGX_HTTP_OBJSPACE_PM_KEY        "objspace:pubstats:"
#define NGX_HTTP_OBJSPACE_PM_HWM_KEY    "objspace:pubstats:hwm:"


/*
 * One entry of a flush (run once per space by the batch wrapper of
 * ngx_http_objspace_redis.c).  KEYS: objspace:pubstats:{space},
 * objspace:pubstats:hwm:{writer}; ARGV: space, seq, then the deltas in
 * the order of ngx_http_objspace_public_metric_e.  A seq the writer
 * already delivered is skipped (a batch retried after a timeout adds
 * nothing twice); the deltas go to HINCRBY as strings (no Lua number
 * rounding).  Answers 1 (added) or 0 (already there).
 */

#define NGX_HTTP_OBJSPACE_PM_SCRIPT                                           \
    "local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') "     \
    "if tonumber(ARGV[2]) <= last then return 0 end "                         \
    "local f = {'requests', 'bytes_served', 'hits', 'not_modified', "         \
    "'not_found', 'cache_hits'} "                                             \
    "for i = 1, #f do "                                                       \
    "  if ARGV[i + 2] ~= '0' then "                                           \
    "    redis.call('HINCRBY', KEYS[1], f[i], ARGV[i + 2]) "                  \
    "  end "                                                                  \
    "end "                                                                    \
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) "                          \
    "redis.call('EXPIRE', KEYS[2], 604800) "                                  \
    "return 1"


/*
 * Per-space counters in shared memory.  counters[] only grow (atomic adds
 * without the mutex); flushed[], pending[] and the sequences change under
 * the mutex.  Redis holds flushed[] + (pending[] if pending_seq was
 * applied); a new delta is taken only once the pending one is confirmed.
 */
typedef struct {
    ngx_str_node_t              sn;
    ngx_atomic_t                counters[NGX_HTTP_OBJSPACE_PM_MAX];
    uint64_t                    flushed[NGX_HTTP_OBJSPACE_PM_MAX];
    uint64_t                    pending[NGX_HTTP_OBJSPACE_PM_MAX];
    uint64_t                    seq;            /* the last one used */
    uint64_t                    pending_seq;    /* 0: none unconfirmed */
    u_char                      data[1];
} ngx_http_objspace_public_mnode_t;


typedef struct {
    ngx_uint_t                  magic;
    ngx_uint_t                  version;
    ngx_uint_t                  node_size;      /* the fixed part */
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
    ngx_uint_t                  nnodes;
    ngx_uint_t                  full;           /* spaces not counted */

    /* the flush: one worker at a time, wall-clock milliseconds */
    ngx_pid_t                   flusher;
    uint64_t                    lease_until;
    uint64_t                    next_flush;
    u_char                      writer[NGX_HTTP_OBJSPACE_PM_WRITER_LEN];
} ngx_http_objspace_public_mshctx_t;


/* counters copied out of the zone */
typedef struct {
    ngx_str_t                   space;
    uint64_t                    counters[NGX_HTTP_OBJSPACE_PM_MAX];
} ngx_http_objspace_public_mcopy_t;


/* the flush, per worker */
typedef struct {
    ngx_event_t                         timer;
    ngx_cycle_t                        *cycle;
    ngx_shm_zone_t                     *zone;
    ngx_http_objspace_redis_batch_t    *batch;
    uint64_t                            lease;      /* ms */
    ngx_uint_t                          busy;       /* a round in flight */
    time_t                              logged;
} ngx_http_objspace_public_flush_t;


typedef struct {
    ngx_http_objspace_public_flush_t   *fl;
    ngx_pool_t                         *pool;
    ngx_uint_t                          refs;
} ngx_http_objspace_public_round_t;


typedef struct {
    ngx_http_objspace_public_round_t   *round;
    ngx_http_objspace_public_mnode_t   *node;
    uint64_t                            seq;
    uint64_t                            delta[NGX_HTTP_OBJSPACE_PM_MAX];
} ngx_http_objspace_public_fentry_t;


typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   help;
} ngx_http_objspace_public_family_t;



static ngx_int_t ngx_http_objspace_public_metrics_copy(ngx_http_request_t *r,
    ngx_array_t *copies);
static ngx_int_t ngx_http_objspace_public_metrics_handler(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_objspace_public_metrics_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_objspace_public_flush_timer(ngx_event_t *ev);
static void ngx_http_objspace_public_flush(
    ngx_http_objspace_public_flush_t *fl);
static ngx_int_t ngx_http_objspace_public_flush_add(
    ngx_http_objspace_public_flush_t *fl,
    ngx_http_objspace_public_fentry_t *e);
static u_char *ngx_http_objspace_public_bulk_dec(u_char *p, uint64_t n);
static void ngx_http_objspace_public_flushed(void *data, redisReply *reply);
static void ngx_http_objspace_public_round_unref(
    ngx_http_objspace_public_round_t *round);
static uint64_t ngx_http_objspace_public_now_ms(void);


/* keep in the order of ngx_http_objspace_public_metric_e */
static ngx_http_objspace_public_family_t  ngx_http_objspace_public_families[]
    = {
    { ngx_string("objspace_public_requests_total"),
      ngx_string("Requests answered by the public frontend for the space.") },
    { ngx_string("objspace_public_bytes_sent_total"),
      ngx_string("Bytes sent to public clients, headers included.") },
    { ngx_string("objspace_public_hits_total"),
      ngx_string("Public requests answered 200 or 206.") },
    { ngx_string("objspace_public_not_modified_total"),
      ngx_string("Public requests answered 304 Not Modified.") },
    { ngx_string("objspace_public_not_found_total"),
      ngx_string("Public requests answered 404 Not Found.") },
    { ngx_string("objspace_public_cache_hits_total"),
      ngx_string("Public requests served from nginx's proxy_cache.") }
};


/* log phase: one request of a public space; takes the metrics mutex */

ngx_int_t
ngx_http_objspace_public_log(ngx_http_request_t *r)
{
    size_t                                 size;
    uint32_t                               hash;
    ngx_str_t                             *space;
    ngx_uint_t                             status;
    ngx_slab_pool_t                       *shpool;
    ngx_http_objspace_public_ctx_t        *ctx;
    ngx_http_objspace_public_mnode_t      *node;
    ngx_http_objspace_public_mshctx_t     *sh;
    ngx_http_objspace_public_main_conf_t  *pmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_public_module);

    if (ctx == NULL || ctx->ps == NULL || ctx->sub) {
        return NGX_OK;
    }

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_objspace_public_module);

    if (pmcf->metrics_zone == NULL || pmcf->metrics_zone->data == NULL) {
        return NGX_OK;
    }

    space = &ctx->ps->id.space;
    shpool = (ngx_slab_pool_t *) pmcf->metrics_zone->shm.addr;
    sh = pmcf->metrics_zone->data;
    hash = ngx_crc32_short(space->data, space->len);

    ngx_shmtx_lock(&shpool->mutex);

    node = (ngx_http_objspace_public_mnode_t *)
               ngx_str_rbtree_lookup(&sh->tree, space, hash);

    if (node == NULL) {
        size = offsetof(ngx_http_objspace_public_mnode_t, data) + space->len;

        node = ngx_slab_alloc_locked(shpool, size);

        if (node == NULL) {
            sh->full++;
            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_OK;
        }

        ngx_memzero(node, size);
        ngx_memcpy(node->data, space->data, space->len);
        node->sn.node.key = hash;
        node->sn.str.data = node->data;
        node->sn.str.len = space->len;

        ngx_rbtree_insert(&sh->tree, &node->sn.node);
        sh->nnodes++;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    /* nodes are never freed: count without the mutex */

    status = r->headers_out.status;

    (void) ngx_atomic_fetch_add(&node->counters[NGX_HTTP_OBJSPACE_PM_REQUESTS],
                                1);
    (void) ngx_atomic_fetch_add(&node->counters[NGX_HTTP_OBJSPACE_PM_BYTES],
                                (ngx_atomic_int_t) r->connection->sent);

    if (status == NGX_HTTP_OK || status == NGX_HTTP_PARTIAL_CONTENT) {
        (void) ngx_atomic_fetch_add(
                            &node->counters[NGX_HTTP_OBJSPACE_PM_HITS], 1);

    } else if (status == NGX_HTTP_NOT_MODIFIED) {
        (void) ngx_atomic_fetch_add(
                    &node->counters[NGX_HTTP_OBJSPACE_PM_NOT_MODIFIED], 1);

    } else if (status == NGX_HTTP_NOT_FOUND) {
        (void) ngx_atomic_fetch_add(
                       &node->counters[NGX_HTTP_OBJSPACE_PM_NOT_FOUND], 1);
    }

#if (NGX_HTTP_CACHE)
    if (r->upstream && r->upstream->cache_status == NGX_HTTP_CACHE_HIT) {
        (void) ngx_atomic_fetch_add(
                      &node->counters[NGX_HTTP_OBJSPACE_PM_CACHE_HITS], 1);
    }
#endif

    return NGX_OK;
}


/*
 * Copies every space's counters into copies (on r->pool): a walk under
 * the mutex, nothing else.
 */

static ngx_int_t
ngx_http_objspace_public_metrics_copy(ngx_http_request_t *r,
    ngx_array_t *copies)
{
    u_char                                *p;
    ngx_uint_t                             i;
    ngx_slab_pool_t                       *shpool;
    ngx_rbtree_node_t                     *rn, *root, *sentinel;
    ngx_http_objspace_public_mnode_t      *node;
    ngx_http_objspace_public_mcopy_t      *c;
    ngx_http_objspace_public_mshctx_t     *sh;
    ngx_http_objspace_public_main_conf_t  *pmcf;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_objspace_public_module);

    if (pmcf == NULL || pmcf->metrics_zone == NULL
        || pmcf->metrics_zone->data == NULL)
    {
        return NGX_DECLINED;
    }

    shpool = (ngx_slab_pool_t *) pmcf->metrics_zone->shm.addr;
    sh = pmcf->metrics_zone->data;

    if (ngx_array_init(copies, r->pool, ngx_max(sh->nnodes, 1),
                       sizeof(ngx_http_objspace_public_mcopy_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&shpool->mutex);

    root = sh->tree.root;
    sentinel = sh->tree.sentinel;

    if (root != sentinel) {
        for (rn = ngx_rbtree_min(root, sentinel);
             rn;
             rn = ngx_rbtree_next(&sh->tree, rn))
        {
            node = (ngx_http_objspace_public_mnode_t *) rn;

            c = ngx_array_push(copies);
            p = c ? ngx_pnalloc(r->pool, node->sn.str.len) : NULL;

            if (p == NULL) {
                ngx_shmtx_unlock(&shpool->mutex);
                return NGX_ERROR;
            }

            ngx_memcpy(p, node->sn.str.data, node->sn.str.len);
            c->space.data = p;
            c->space.len = node->sn.str.len;

            for (i = 0; i < NGX_HTTP_OBJSPACE_PM_MAX; i++) {
                c->counters[i] = node->counters[i];
            }
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * Calls handler for each space's copied counters, without the mutex
 * (contract in ngx_http_objspace_public.h).
 */

ngx_int_t
ngx_http_objspace_public_metrics_each(ngx_http_request_t *r,
    ngx_http_objspace_public_metrics_pt handler, void *data)
{
    ngx_int_t                          rc;
    ngx_uint_t                         i;
    ngx_array_t                        copies;
    ngx_http_objspace_public_mcopy_t  *c;

    rc = ngx_http_objspace_public_metrics_copy(r, &copies);

    if (rc != NGX_OK) {
        return rc;
    }

    c = copies.elts;

    for (i = 0; i < copies.nelts; i++) {
        handler(data, &c[i].space, c[i].counters);
    }

    return NGX_OK;
}


/* contract in ngx_http_objspace_public.h */

ngx_int_t
ngx_http_objspace_public_metrics_text(ngx_http_request_t *r,
    ngx_chain_t **out)
{
    u_char                             *p;
    size_t                              len;
    ngx_int_t                           rc;
    ngx_buf_t                          *b;
    ngx_uint_t                          i, k;
    ngx_array_t                         copies;
    ngx_chain_t                        *cl;
    ngx_http_objspace_public_mcopy_t   *c;
    ngx_http_objspace_public_family_t  *f;

    rc = ngx_http_objspace_public_metrics_copy(r, &copies);

    if (rc != NGX_OK) {
        return rc;
    }

    c = copies.elts;
    f = ngx_http_objspace_public_families;

    len = 0;

    for (k = 0; k < NGX_HTTP_OBJSPACE_PM_MAX; k++) {
        len += sizeof("# HELP  \n# TYPE  counter\n") - 1
               + 2 * f[k].name.len + f[k].help.len;

        for (i = 0; i < copies.nelts; i++) {
            /* a label value escaped takes at most twice its length */
            len += f[k].name.len + sizeof("{space=\"\"} \n") - 1
                   + 2 * c[i].space.len + NGX_INT64_LEN;
        }
    }

    b = ngx_create_temp_buf(r->pool, len);
    cl = b ? ngx_alloc_chain_link(r->pool) : NULL;

    if (cl == NULL) {
        return NGX_ERROR;
    }

    p = b->last;

    for (k = 0; k < NGX_HTTP_OBJSPACE_PM_MAX; k++) {
        p = ngx_sprintf(p, "# HELP %V %V\n# TYPE %V counter\n",
                        &f[k].name, &f[k].help, &f[k].name);

        for (i = 0; i < copies.nelts; i++) {
            p = ngx_sprintf(p, "%V{space=\"", &f[k].name);
            p = ngx_http_objspace_metrics_label(p, &c[i].space);
            p = ngx_sprintf(p, "\"} %uL\n", c[i].counters[k]);
        }
    }

    b->last = p;

    cl->buf = b;
    cl->next = NULL;
    *out = cl;

    return NGX_OK;
}


/* "objspace_public_metrics": the public families only */

static ngx_int_t
ngx_http_objspace_public_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_objspace_public_metrics_text(r, &cl);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        /* no zone: an empty exposition */
        b = ngx_calloc_buf(r->pool);
        cl = b ? ngx_alloc_chain_link(r->pool) : NULL;

        if (cl == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cl->buf = b;
        cl->next = NULL;
    }

    return ngx_http_objspace_metrics_send(r, cl);
}


/* reload-safe: an existing zone of the same layout is kept */

static ngx_int_t
ngx_http_objspace_public_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data)
{
    ngx_http_objspace_public_mshctx_t  *osh = data;

    ngx_slab_pool_t                    *shpool;
    ngx_http_objspace_public_mshctx_t  *sh;
    u_char                              rnd[NGX_HTTP_OBJSPACE_PM_WRITER_LEN
                                            / 2];

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (osh == NULL && shm_zone->shm.exists) {
        osh = shpool->data;
    }

    if (osh) {
        if (osh->magic != NGX_HTTP_OBJSPACE_PM_MAGIC
            || osh->version != NGX_HTTP_OBJSPACE_PM_VERSION
            || osh->node_size
               != offsetof(ngx_http_objspace_public_mnode_t, data))
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "objspace_public_metrics_zone \"%V\" was created "
                          "by an incompatible module version; change its "
                          "size or name, or restart nginx",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        shm_zone->data = osh;
        return NGX_OK;
    }

    /* names this zone's deltas in Redis: a new zone starts from zero */

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "objspace: RAND_bytes() failed");
        return NGX_ERROR;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_objspace_public_mshctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_objspace_public_mshctx_t));

    sh->magic = NGX_HTTP_OBJSPACE_PM_MAGIC;
    sh->version = NGX_HTTP_OBJSPACE_PM_VERSION;
    sh->node_size = offsetof(ngx_http_objspace_public_mnode_t, data);

    ngx_rbtree_init(&sh->tree, &sh->sentinel, ngx_str_rbtree_insert_value);

    ngx_http_objspace_sigv4_hex(sh->writer, rnd, sizeof(rnd));

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


char *
ngx_http_objspace_public_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_objspace_public_main_conf_t *pmcf = conf;

    ngx_str_t  *value;

    if (pmcf->metrics_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    pmcf->metrics_zone = ngx_http_objspace_zone_add(cf, &value[1],
                                             &ngx_http_objspace_public_module);
    if (pmcf->metrics_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    pmcf->metrics_zone->init = ngx_http_objspace_public_metrics_init_zone;

    return NGX_CONF_OK;
}


char *
ngx_http_objspace_public_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_objspace_public_metrics_handler;

    return NGX_CONF_OK;
}


/*
 * Worker start: the flush timer, when the zone and the Redis client are
 * both there (the client is started by ngx_http_objspace_module's
 * init_process, which runs first).
 */

ngx_int_t
ngx_http_objspace_public_init_process(ngx_cycle_t *cycle)
{
    ngx_str_t                              script;
    ngx_http_objspace_main_conf_t         *omcf;
    ngx_http_objspace_public_flush_t      *fl;
    ngx_http_objspace_public_main_conf_t  *pmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                             ngx_http_objspace_public_module);
    omcf = ngx_http_objspace_main_conf(cycle);

    if (pmcf == NULL || pmcf->metrics_zone == NULL || omcf == NULL
        || omcf->redis == NULL)
    {
        return NGX_OK;
    }

    fl = ngx_pcalloc(cycle->pool, sizeof(ngx_http_objspace_public_flush_t));
    if (fl == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&script, NGX_HTTP_OBJSPACE_PM_SCRIPT);

    fl->batch = ngx_http_objspace_redis_batch_create(cycle, &script,
                                         NGX_HTTP_OBJSPACE_REDIS_BATCH_MAX, 1);
    if (fl->batch == NULL) {
        return NGX_ERROR;
    }

    fl->cycle = cycle;
    fl->zone = pmcf->metrics_zone;

    /* a round's commands time out well before another worker takes over */
    fl->lease = 2 * (uint64_t) omcf->redis_timeout + 2000;

    fl->timer.handler = ngx_http_objspace_public_flush_timer;
    fl->timer.data = fl;
    fl->timer.log = cycle->log;
    fl->timer.cancelable = 1;

    ngx_add_timer(&fl->timer, NGX_HTTP_OBJSPACE_PM_FLUSH);

    pmcf->flush = fl;

    return NGX_OK;
}


/*
 * Worker exit: entries not sent yet are answered NULL (they stay pending
 * in the zone; a live worker, or the next nginx on the same zone after a
 * reload, sends them again with the same sequence).
 */

void
ngx_http_objspace_public_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_objspace_public_flush_t      *fl;
    ngx_http_objspace_public_main_conf_t  *pmcf;

    pmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                             ngx_http_objspace_public_module);

    if (pmcf == NULL || pmcf->flush == NULL) {
        return;
    }

    fl = pmcf->flush;
    pmcf->flush = NULL;

    if (fl->timer.timer_set) {
        ngx_del_timer(&fl->timer);
    }

    ngx_http_objspace_redis_batch_abort(fl->batch);
}


static void
ngx_http_objspace_public_flush_timer(ngx_event_t *ev)
{
    ngx_http_objspace_public_flush_t  *fl = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_objspace_public_flush(fl);

    ngx_add_timer(ev, NGX_HTTP_OBJSPACE_PM_FLUSH);
}


/*
 * One flush round, if it is due and no other worker holds the lease
 * (takes the zone mutex once, to collect).  For each space with counts
 * not yet in Redis: the unconfirmed delta again under its sequence, or
 * else a new delta under the next sequence.  Nothing is sent while Redis
 * is unreachable: the counters keep growing in the zone.
 */

static void
ngx_http_objspace_public_flush(ngx_http_objspace_public_flush_t *fl)
{
    uint64_t                             now, held;
    ngx_int_t                            rc;
    ngx_uint_t                           i, n, max, any;
    ngx_pool_t                          *pool;
    ngx_slab_pool_t                     *shpool;
    ngx_rbtree_node_t                   *rn, *root, *sentinel;
    ngx_http_objspace_public_round_t    *round;
    ngx_http_objspace_public_mnode_t    *node;
    ngx_http_objspace_public_fentry_t   *entries, *e;
    ngx_http_objspace_public_mshctx_t   *sh;

    if (fl->busy || !ngx_http_objspace_redis_available(fl->cycle)) {
        return;
    }

    shpool = (ngx_slab_pool_t *) fl->zone->shm.addr;
    sh = fl->zone->data;

    now = ngx_http_objspace_public_now_ms();

    /* read without the mutex, to skip early; decided under it below */

    if (sh->next_flush > now
        && sh->next_flush - now <= NGX_HTTP_OBJSPACE_PM_FLUSH)
    {
        return;
    }

    /* spaces added meanwhile wait a round */
    max = sh->nnodes;

    if (max == 0) {
        return;
    }

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, fl->cycle->log);
    if (pool == NULL) {
        return;
    }

    round = ngx_palloc(pool, sizeof(ngx_http_objspace_public_round_t));
    entries = ngx_palloc(pool,
                         max * sizeof(ngx_http_objspace_public_fentry_t));

    if (round == NULL || entries == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    n = 0;

    ngx_shmtx_lock(&shpool->mutex);

    /* a lease or a date far ahead is a clock that went back: ignored */

    held = sh->flusher != 0 && sh->lease_until > now
           && sh->lease_until - now <= fl->lease;

    if (held
        || (sh->next_flush > now
            && sh->next_flush - now <= NGX_HTTP_OBJSPACE_PM_FLUSH))
    {
        ngx_shmtx_unlock(&shpool->mutex);
        ngx_destroy_pool(pool);
        return;
    }

    sh->next_flush = now + NGX_HTTP_OBJSPACE_PM_FLUSH
                     - NGX_HTTP_OBJSPACE_PM_FLUSH / 10;

    root = sh->tree.root;
    sentinel = sh->tree.sentinel;

    if (root != sentinel) {
        for (rn = ngx_rbtree_min(root, sentinel);
             rn && n < max;
             rn = ngx_rbtree_next(&sh->tree, rn))
        {
            node = (ngx_http_objspace_public_mnode_t *) rn;

            if (node->pending_seq == 0) {
                any = 0;

                for (i = 0; i < NGX_HTTP_OBJSPACE_PM_MAX; i++) {
                    node->pending[i] = (uint64_t) node->counters[i]
                                       - node->flushed[i];
                    any |= (node->pending[i] != 0);
                }

                if (!any) {
                    continue;
                }

                node->pending_seq = ++node->seq;
            }

            e = &entries[n++];
            e->round = round;
            e->node = node;
            e->seq = node->pending_seq;
            ngx_memcpy(e->delta, node->pending, sizeof(e->delta));
        }
    }

    if (n) {
        sh->flusher = ngx_pid;
        sh->lease_until = now + fl->lease;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (n == 0) {
        ngx_destroy_pool(pool);
        return;
    }

    round->fl = fl;
    round->pool = pool;
    round->refs = 1;          /* this loop's: entries may be answered in it */
    fl->busy = 1;

    for (i = 0; i < n; i++) {
        round->refs++;

        rc = ngx_http_objspace_public_flush_add(fl, &entries[i]);

        if (rc != NGX_OK) {
            round->refs--;

            if (rc == NGX_BUSY) {
                break;
            }
        }
    }

    ngx_http_objspace_public_round_unref(round);
}


/* one entry into the worker's batch; done is called unless it fails */

static ngx_int_t
ngx_http_objspace_public_flush_add(ngx_http_objspace_public_flush_t *fl,
    ngx_http_objspace_public_fentry_t *e)
{
    u_char                             *p;
    size_t                              len;
    ngx_str_t                           resp, *space;
    ngx_uint_t                          i;
    ngx_http_objspace_public_mshctx_t  *sh;

    sh = fl->zone->data;
    space = &e->node->sn.str;       /* never changes nor goes away */

    len = 4 * (NGX_SIZE_T_LEN + 5)
          + sizeof(NGX_HTTP_OBJSPACE_PM_KEY) - 1 + space->len
          + sizeof(NGX_HTTP_OBJSPACE_PM_HWM_KEY) - 1
          + NGX_HTTP_OBJSPACE_PM_WRITER_LEN
          + space->len + NGX_INT64_LEN
          + NGX_HTTP_OBJSPACE_PM_MAX * (NGX_SIZE_T_LEN + 5 + NGX_INT64_LEN);

    resp.data = ngx_pnalloc(e->round->pool, len);
    if (resp.data == NULL) {
        return NGX_ERROR;
    }

    p = resp.data;

    *p++ = '$';
    p = ngx_http_objspace_redis_dec(p, sizeof(NGX_HTTP_OBJSPACE_PM_KEY) - 1
                                       + space->len);
    *p++ = '\r'; *p++ = '\n';
    p = ngx_cpymem(p, NGX_HTTP_OBJSPACE_PM_KEY,
                   sizeof(NGX_HTTP_OBJSPACE_PM_KEY) - 1);
    p = ngx_cpymem(p, space->data, space->len);
    *p++ = '\r'; *p++ = '\n';

    *p++ = '$';
    p = ngx_http_objspace_redis_dec(p,
                                    sizeof(NGX_HTTP_OBJSPACE_PM_HWM_KEY) - 1
                                    + NGX_HTTP_OBJSPACE_PM_WRITER_LEN);
    *p++ = '\r'; *p++ = '\n';
    p = ngx_cpymem(p, NGX_HTTP_OBJSPACE_PM_HWM_KEY,
                   sizeof(NGX_HTTP_OBJSPACE_PM_HWM_KEY) - 1);
    p = ngx_cpymem(p, sh->writer, NGX_HTTP_OBJSPACE_PM_WRITER_LEN);
    *p++ = '\r'; *p++ = '\n';

    p = ngx_http_objspace_redis_bulk(p, space->data, space->len);
    p = ngx_http_objspace_public_bulk_dec(p, e->seq);

    for (i = 0; i < NGX_HTTP_OBJSPACE_PM_MAX; i++) {
        p = ngx_http_objspace_public_bulk_dec(p, e->delta[i]);
    }

    resp.len = p - resp.data;

    return ngx_http_objspace_redis_batch_add(fl->batch, 2,
                                             2 + NGX_HTTP_OBJSPACE_PM_MAX,
                                             &resp,
                                             ngx_http_objspace_public_flushed,
                                             e);
}


/* n in decimal as one RESP bulk string */

static u_char *
ngx_http_objspace_public_bulk_dec(u_char *p, uint64_t n)
{
    u_char  *last;
    u_char   num[NGX_INT64_LEN];

    last = ngx_http_objspace_redis_dec(num, n);

    return ngx_http_objspace_redis_bulk(p, num, last - num);
}


/*
 * An entry's answer (Redis client context; takes the zone mutex): 1 or
 * 0 both mean Redis holds the delta, which becomes flushed, unless
 * another worker settled that sequence already (a lease taken over).
 * NULL or an error: the delta stays pending, sent again next round.
 */

static void
ngx_http_objspace_public_flushed(void *data, redisReply *reply)
{
    ngx_http_objspace_public_fentry_t  *e = data;

    time_t                              now;
    ngx_uint_t                          i;
    ngx_slab_pool_t                    *shpool;
    ngx_http_objspace_public_flush_t   *fl;
    ngx_http_objspace_public_mnode_t   *node;

    fl = e->round->fl;
    node = e->node;

    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        shpool = (ngx_slab_pool_t *) fl->zone->shm.addr;

        ngx_shmtx_lock(&shpool->mutex);

        if (node->pending_seq == e->seq) {
            for (i = 0; i < NGX_HTTP_OBJSPACE_PM_MAX; i++) {
                node->flushed[i] += node->pending[i];
                node->pending[i] = 0;
            }

            node->pending_seq = 0;
        }

        ngx_shmtx_unlock(&shpool->mutex);

    } else if (reply && reply->type == REDIS_REPLY_ERROR) {
        now = ngx_time();

        if (now - fl->logged >= 60) {
            fl->logged = now;
            ngx_log_error(NGX_LOG_ERR, fl->cycle->log, 0,
                          "objspace: public counters of space %V refused "
                          "by redis: %*s", &node->sn.str,
                          (size_t) reply->len, reply->str);
        }
    }

    ngx_http_objspace_public_round_unref(e->round);
}


/* the last reference ends the round: the lease is given back */

static void
ngx_http_objspace_public_round_unref(ngx_http_objspace_public_round_t *round)
{
    ngx_slab_pool_t                    *shpool;
    ngx_http_objspace_public_flush_t   *fl;
    ngx_http_objspace_public_mshctx_t  *sh;

    if (--round->refs) {
        return;
    }

    fl = round->fl;
    shpool = (ngx_slab_pool_t *) fl->zone->shm.addr;
    sh = fl->zone->data;

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->flusher == ngx_pid) {
        sh->flusher = 0;
        sh->lease_until = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    fl->busy = 0;

    ngx_destroy_pool(round->pool);
}


static uint64_t
ngx_http_objspace_public_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}

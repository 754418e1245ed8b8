
/*
 * Copyright (C) objspace authors
 *
 * Counters for Prometheus in a shared-memory zone (objspace_metrics_zone):
 * global counters are lock-free atomics in the zone header; per-space
 * series (requests, bytes, quota gauges) and per-(space, reason) denial
 * counters are nodes of an rbtree under the slab mutex.  The
 * objspace_metrics location answers the text exposition format.
 * See docs/metrics.md.
 */


#include "ngx_http_objspace_metrics.h"
#include "ngx_http_objspace_audit.h"
#include "ngx_http_objspace_public.h"


#define NGX_HTTP_OBJSPACE_METRICS_MAGIC    0x6f6d7472    /* "omtr" */
#define NGX_HTTP_OBJSPACE_METRICS_VERSION  1
#define NGX_HTTP_OBJSPACE_SERIES_LEN       96


enum {
    NGX_HTTP_OBJSPACE_V_ALLOWED = 0,
    NGX_HTTP_OBJSPACE_V_DENIED,
    NGX_HTTP_OBJSPACE_V_BYTES_IN,
    NGX_HTTP_OBJSPACE_V_BYTES_OUT,
    NGX_HTTP_OBJSPACE_V_QUOTA,
    NGX_HTTP_OBJSPACE_V_USED,
    NGX_HTTP_OBJSPACE_V_RESERVED,
    NGX_HTTP_OBJSPACE_V_MAX
};


/* key: space id, or space id NUL reason for a denial counter */
typedef struct {
    ngx_str_node_t              sn;
    ngx_queue_t                 queue;
    int64_t                     v[NGX_HTTP_OBJSPACE_V_MAX];
    u_char                      reason;     /* a denial counter */
    u_char                      data[NGX_HTTP_OBJSPACE_SERIES_LEN];
} ngx_http_objspace_metrics_node_t;


typedef struct {
    ngx_uint_t                  magic;
    ngx_uint_t                  version;
    ngx_uint_t                  node_size;
    ngx_atomic_t                counters[NGX_HTTP_OBJSPACE_M_MAX];
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 queue;
    ngx_uint_t                  nnodes;
    ngx_uint_t                  full;       /* a node could not be added */
} ngx_http_objspace_metrics_shctx_t;


typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   help;
    ngx_str_t                   type;
    ngx_uint_t                  v;          /* per space: what it prints */
} ngx_http_objspace_metrics_family_t;


static ngx_int_t ngx_http_objspace_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_http_objspace_metrics_shctx_t *ngx_http_objspace_metrics_sh(
    ngx_slab_pool_t **shpool);
static ngx_http_objspace_metrics_node_t *ngx_http_objspace_metrics_node(
    ngx_slab_pool_t *shpool, ngx_http_objspace_metrics_shctx_t *sh,
    ngx_str_t *space, ngx_str_t *reason);
static ngx_int_t ngx_http_objspace_metrics_handler(ngx_http_request_t *r);
static u_char *ngx_http_objspace_metrics_family(u_char *p,
    ngx_http_objspace_metrics_family_t *f);
static u_char *ngx_http_objspace_metrics_space(u_char *p,
    ngx_http_objspace_metrics_family_t *f,
    ngx_http_objspace_metrics_node_t *node);


#define NGX_HTTP_OBJSPACE_FAMILY(name, help, type, v)                         \
    { ngx_string(name), ngx_string(help), ngx_string(type), v }

/* v of the family of denial counters */
#define NGX_HTTP_OBJSPACE_V_REASON  NGX_HTTP_OBJSPACE_V_MAX


/* keep in the order of ngx_http_objspace_metric_e */
static ngx_http_objspace_metrics_family_t  ngx_http_objspace_metrics_globals[]
    = {
    NGX_HTTP_OBJSPACE_FAMILY("objspace_cache_hits_total",
        "Requests whose access key the shared-memory cache answered.",
        "counter", 0),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_cache_misses_total",
        "Requests that had to ask Redis for their access key.",
        "counter", 0),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_redis_errors_total",
        "Redis connections lost or refused, commands failed or timed out.",
        "counter", 0),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_audit_events_total",
        "Audit events emitted.", "counter", 0),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_audit_delivered_total",
        "Audit events added to the stream.", "counter", 0),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_audit_spooled_total",
        "Audit events written to the spool file.", "counter", 0),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_audit_dropped_total",
        "Audit events lost (no room in memory nor spool).", "counter", 0),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_quota_updates_lost_total",
        "Usage updates not delivered to Redis.", "counter", 0)
};


/* the per-space families, in the order they are printed */
static ngx_http_objspace_metrics_family_t  ngx_http_objspace_metrics_spaces[]
    = {
    NGX_HTTP_OBJSPACE_FAMILY("objspace_requests_total",
        "Gateway requests by space and decision.",
        "counter", NGX_HTTP_OBJSPACE_V_ALLOWED),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_bytes_in_total",
        "Bytes received by the gateway, as on the wire.",
        "counter", NGX_HTTP_OBJSPACE_V_BYTES_IN),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_bytes_out_total",
        "Bytes sent by the gateway to clients.",
        "counter", NGX_HTTP_OBJSPACE_V_BYTES_OUT),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_denied_total",
        "Gateway denials by space and reason.",
        "counter", NGX_HTTP_OBJSPACE_V_REASON),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_quota_bytes",
        "The space's quota as last used by a reservation.",
        "gauge", NGX_HTTP_OBJSPACE_V_QUOTA),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_usage_bytes",
        "Committed bytes of the space as last answered by Redis.",
        "gauge", NGX_HTTP_OBJSPACE_V_USED),
    NGX_HTTP_OBJSPACE_FAMILY("objspace_reserved_bytes",
        "Bytes reserved by uploads in flight, as last answered by Redis.",
        "gauge", NGX_HTTP_OBJSPACE_V_RESERVED)
};


static ngx_str_t  ngx_http_objspace_metrics_dash = ngx_string("-");


void
ngx_http_objspace_metrics_count(ngx_uint_t which, ngx_uint_t n)
{
    ngx_slab_pool_t                    *shpool;
    ngx_http_objspace_metrics_shctx_t  *sh;

    sh = ngx_http_objspace_metrics_sh(&shpool);

    if (sh == NULL || which >= NGX_HTTP_OBJSPACE_M_MAX) {
        return;
    }

    (void) ngx_atomic_fetch_add(&sh->counters[which], n);
}


/* takes the zone mutex; no I/O or logging under it */

void
ngx_http_objspace_metrics_request(ngx_str_t *space, ngx_uint_t denied,
    ngx_str_t *reason, off_t bytes_in, off_t bytes_out)
{
    ngx_uint_t                          full;
    ngx_slab_pool_t                    *shpool;
    ngx_http_objspace_metrics_node_t   *node;
    ngx_http_objspace_metrics_shctx_t  *sh;

    sh = ngx_http_objspace_metrics_sh(&shpool);

    if (sh == NULL) {
        return;
    }

    if (space == NULL || space->len == 0) {
        space = &ngx_http_objspace_metrics_dash;
    }

    full = 0;

    ngx_shmtx_lock(&shpool->mutex);

    node = ngx_http_objspace_metrics_node(shpool, sh, space, NULL);

    if (node) {
        node->v[denied ? NGX_HTTP_OBJSPACE_V_DENIED
                       : NGX_HTTP_OBJSPACE_V_ALLOWED]++;
        node->v[NGX_HTTP_OBJSPACE_V_BYTES_IN] += bytes_in;
        node->v[NGX_HTTP_OBJSPACE_V_BYTES_OUT] += bytes_out;

    } else {
        full = 1;
    }

    if (denied && reason && reason->len) {
        node = ngx_http_objspace_metrics_node(shpool, sh, space, reason);

        if (node) {
            node->v[0]++;

        } else {
            full = 1;
        }
    }

    if (full && sh->full++ == 0) {
        full = 2;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (full == 2) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "objspace_metrics_zone is full: new series are not "
                      "counted");
    }
}


/* takes the zone mutex; quota < 0 keeps the recorded quota */

void
ngx_http_objspace_metrics_usage(ngx_str_t *space, int64_t quota,
    int64_t used, int64_t reserved)
{
    ngx_slab_pool_t                    *shpool;
    ngx_http_objspace_metrics_node_t   *node;
    ngx_http_objspace_metrics_shctx_t  *sh;

    sh = ngx_http_objspace_metrics_sh(&shpool);

    if (sh == NULL || space->len == 0) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);

    node = ngx_http_objspace_metrics_node(shpool, sh, space, NULL);

    if (node) {
        if (quota >= 0) {
            node->v[NGX_HTTP_OBJSPACE_V_QUOTA] = quota;
        }

        node->v[NGX_HTTP_OBJSPACE_V_USED] = used;
        node->v[NGX_HTTP_OBJSPACE_V_RESERVED] = reserved;
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * Finds or adds a series node; called with the mutex held.  Returns NULL
 * when the zone is full (counting stops for new series; nothing is
 * evicted: a counter that disappears would lie).
 */

static ngx_http_objspace_metrics_node_t *
ngx_http_objspace_metrics_node(ngx_slab_pool_t *shpool,
    ngx_http_objspace_metrics_shctx_t *sh, ngx_str_t *space,
    ngx_str_t *reason)
{
    u_char                             *p;
    uint32_t                            hash;
    ngx_str_t                           key;
    ngx_str_node_t                     *sn;
    ngx_http_objspace_metrics_node_t   *node;
    u_char                              buf[NGX_HTTP_OBJSPACE_SERIES_LEN];

    p = ngx_cpymem(buf, space->data,
                   ngx_min(space->len, NGX_HTTP_OBJSPACE_SERIES_LEN / 2));

    if (reason) {
        *p++ = '\0';
        p = ngx_cpymem(p, reason->data,
                       ngx_min(reason->len,
                               (size_t) (buf + sizeof(buf) - p)));
    }

    key.data = buf;
    key.len = p - buf;

    hash = ngx_crc32_short(key.data, key.len);

    sn = ngx_str_rbtree_lookup(&sh->tree, &key, hash);

    if (sn) {
        return (ngx_http_objspace_metrics_node_t *) sn;
    }

    node = ngx_slab_alloc_locked(shpool,
                                 sizeof(ngx_http_objspace_metrics_node_t));
    if (node == NULL) {
        return NULL;
    }

    ngx_memzero(node, sizeof(ngx_http_objspace_metrics_node_t));

    ngx_memcpy(node->data, key.data, key.len);
    node->sn.str.data = node->data;
    node->sn.str.len = key.len;
    node->sn.node.key = hash;
    node->reason = (reason != NULL);
    node->v[NGX_HTTP_OBJSPACE_V_QUOTA] = -1;
    node->v[NGX_HTTP_OBJSPACE_V_USED] = -1;
    node->v[NGX_HTTP_OBJSPACE_V_RESERVED] = -1;

    ngx_rbtree_insert(&sh->tree, &node->sn.node);
    ngx_queue_insert_tail(&sh->queue, &node->queue);
    sh->nnodes++;

    return node;
}


static ngx_http_objspace_metrics_shctx_t *
ngx_http_objspace_metrics_sh(ngx_slab_pool_t **shpool)
{
    ngx_http_objspace_acct_main_conf_t  *amcf;

    amcf = ngx_http_objspace_acct_conf((ngx_cycle_t *) ngx_cycle);

    if (amcf == NULL || amcf->metrics_zone == NULL
        || amcf->metrics_zone->data == NULL
        || amcf->metrics_zone->data == amcf)
    {
        return NULL;
    }

    *shpool = (ngx_slab_pool_t *) amcf->metrics_zone->shm.addr;

    return amcf->metrics_zone->data;
}


/* reload-safe: an existing zone of the same layout is kept */

static ngx_int_t
ngx_http_objspace_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_objspace_metrics_shctx_t  *osh = data;

    ngx_slab_pool_t                    *shpool;
    ngx_http_objspace_metrics_shctx_t  *sh;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (osh == NULL && zone->shm.exists) {
        osh = shpool->data;
    }

    if (osh && (void *) osh != zone->data) {
        if (osh->magic != NGX_HTTP_OBJSPACE_METRICS_MAGIC
            || osh->version != NGX_HTTP_OBJSPACE_METRICS_VERSION
            || osh->node_size != sizeof(ngx_http_objspace_metrics_node_t))
        {
            ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                          "objspace_metrics_zone \"%V\" was created by an "
                          "incompatible module version; change its size "
                          "or name, or restart nginx", &zone->shm.name);
            return NGX_ERROR;
        }

        zone->data = osh;

        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_objspace_metrics_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_objspace_metrics_shctx_t));

    sh->magic = NGX_HTTP_OBJSPACE_METRICS_MAGIC;
    sh->version = NGX_HTTP_OBJSPACE_METRICS_VERSION;
    sh->node_size = sizeof(ngx_http_objspace_metrics_node_t);

    ngx_rbtree_init(&sh->tree, &sh->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->queue);

    shpool->data = sh;
    zone->data = sh;

    return NGX_OK;
}


/* objspace_metrics_zone NAME:SIZE */

char *
ngx_http_objspace_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_objspace_acct_main_conf_t *amcf = conf;

    ngx_str_t  *value;

    if (amcf->metrics_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    amcf->metrics_zone = ngx_http_objspace_zone_add(cf, &value[1],
                                               &ngx_http_objspace_acct_module);
    if (amcf->metrics_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    amcf->metrics_zone->init = ngx_http_objspace_metrics_init_zone;
    amcf->metrics_zone->data = amcf;

    return NGX_CONF_OK;
}


/* objspace_metrics; (location): the content handler */

char *
ngx_http_objspace_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t            *clcf;
    ngx_http_objspace_acct_main_conf_t  *amcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_objspace_metrics_handler;

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_objspace_acct_module);
    amcf->metrics_used = 1;

    return NGX_CONF_OK;
}


/*
 * Copies the series out under the mutex (a memcpy per node, no
 * formatting), then writes the exposition text from the copy: family
 * after family, each with one HELP and one TYPE line, then the public
 * frontend's families when this http{} counts them.
 */

static ngx_int_t
ngx_http_objspace_metrics_handler(ngx_http_request_t *r)
{
    u_char                             *p;
    size_t                              len;
    ngx_int_t                           rc;
    ngx_buf_t                          *b;
    ngx_uint_t                          i, n, k;
    ngx_chain_t                         out, *pub;
    ngx_queue_t                        *q;
    ngx_slab_pool_t                    *shpool;
    ngx_http_objspace_metrics_node_t   *nodes, *node;
    ngx_http_objspace_metrics_shctx_t  *sh;
    ngx_http_objspace_metrics_family_t *f;
    ngx_atomic_uint_t                   counters[NGX_HTTP_OBJSPACE_M_MAX];

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    sh = ngx_http_objspace_metrics_sh(&shpool);

    if (sh == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    for (i = 0; i < NGX_HTTP_OBJSPACE_M_MAX; i++) {
        counters[i] = sh->counters[i];
    }

    ngx_shmtx_lock(&shpool->mutex);

    n = sh->nnodes;
    nodes = ngx_palloc(r->pool,
                       (n + 1) * sizeof(ngx_http_objspace_metrics_node_t));

    if (nodes) {
        i = 0;

        for (q = ngx_queue_head(&sh->queue);
             q != ngx_queue_sentinel(&sh->queue) && i < n;
             q = ngx_queue_next(q))
        {
            node = ngx_queue_data(q, ngx_http_objspace_metrics_node_t, queue);
            ngx_memcpy(&nodes[i++], node,
                       sizeof(ngx_http_objspace_metrics_node_t));
        }

        n = i;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (nodes == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * a family's HELP and TYPE lines take less than 512 bytes; a series
     * line less than 96 plus its labels escaped (twice the node's key)
     * and the value; a node prints at most 2 lines of a family
     */

    k = NGX_HTTP_OBJSPACE_M_MAX
        + sizeof(ngx_http_objspace_metrics_spaces)
          / sizeof(ngx_http_objspace_metrics_family_t);

    len = k * (512 + NGX_INT64_LEN)
          + n * 2 * k * (96 + 2 * NGX_HTTP_OBJSPACE_SERIES_LEN
                         + NGX_INT64_LEN);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    for (i = 0; i < NGX_HTTP_OBJSPACE_M_MAX; i++) {
        f = &ngx_http_objspace_metrics_globals[i];
        p = ngx_http_objspace_metrics_family(p, f);
        p = ngx_sprintf(p, "%V %uA\n", &f->name, counters[i]);
    }

    for (f = ngx_http_objspace_metrics_spaces;
         f < ngx_http_objspace_metrics_spaces
             + sizeof(ngx_http_objspace_metrics_spaces)
               / sizeof(ngx_http_objspace_metrics_family_t);
         f++)
    {
        p = ngx_http_objspace_metrics_family(p, f);

        for (i = 0; i < n; i++) {
            p = ngx_http_objspace_metrics_space(p, f, &nodes[i]);
        }
    }

    b->last = p;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_objspace_public_metrics_text(r, &pub);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        out.next = pub;
    }

    return ngx_http_objspace_metrics_send(r, &out);
}


/* contract in ngx_http_objspace_metrics.h */

ngx_int_t
ngx_http_objspace_metrics_send(ngx_http_request_t *r, ngx_chain_t *out)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    r->headers_out.content_length_n = 0;

    for (cl = out; cl; cl = cl->next) {
        r->headers_out.content_length_n += cl->buf->last - cl->buf->pos;

        if (cl->next == NULL) {
            cl->buf->last_buf = (r == r->main) ? 1 : 0;
            cl->buf->last_in_chain = 1;
        }
    }

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


static u_char *
ngx_http_objspace_metrics_family(u_char *p,
    ngx_http_objspace_metrics_family_t *f)
{
    return ngx_sprintf(p, "# HELP %V %V\n# TYPE %V %V\n",
                       &f->name, &f->help, &f->name, &f->type);
}


/* the lines of family f for one node of the copy (none: not its kind) */

static u_char *
ngx_http_objspace_metrics_space(u_char *p,
    ngx_http_objspace_metrics_family_t *f,
    ngx_http_objspace_metrics_node_t *node)
{
    ngx_str_t  space, reason;

    if (node->reason != (f->v == NGX_HTTP_OBJSPACE_V_REASON)) {
        return p;
    }

    if (node->reason) {
        space.data = node->data;
        space.len = ngx_strlen(node->data);     /* up to the NUL */
        space.len = ngx_min(space.len, node->sn.str.len);

        reason.data = node->data + space.len + 1;
        reason.len = node->sn.str.len - space.len - 1;

        p = ngx_sprintf(p, "%V{space=\"", &f->name);
        p = ngx_http_objspace_metrics_label(p, &space);
        p = ngx_sprintf(p, "\",reason=\"");
        p = ngx_http_objspace_metrics_label(p, &reason);

        return ngx_sprintf(p, "\"} %L\n", node->v[0]);
    }

    space.data = node->data;
    space.len = node->sn.str.len;

    if (f->v == NGX_HTTP_OBJSPACE_V_ALLOWED) {
        p = ngx_sprintf(p, "%V{space=\"", &f->name);
        p = ngx_http_objspace_metrics_label(p, &space);
        p = ngx_sprintf(p, "\",decision=\"allow\"} %L\n",
                        node->v[NGX_HTTP_OBJSPACE_V_ALLOWED]);

        p = ngx_sprintf(p, "%V{space=\"", &f->name);
        p = ngx_http_objspace_metrics_label(p, &space);

        return ngx_sprintf(p, "\",decision=\"deny\"} %L\n",
                           node->v[NGX_HTTP_OBJSPACE_V_DENIED]);
    }

    if (f->v >= NGX_HTTP_OBJSPACE_V_QUOTA && node->v[f->v] < 0) {
        return p;                               /* a gauge not known yet */
    }

    p = ngx_sprintf(p, "%V{space=\"", &f->name);
    p = ngx_http_objspace_metrics_label(p, &space);

    return ngx_sprintf(p, "\"} %L\n", node->v[f->v]);
}


/* a label value: backslash, quote and newline escaped */

u_char *
ngx_http_objspace_metrics_label(u_char *p, ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] == '\\' || s->data[i] == '"') {
            *p++ = '\\';
            *p++ = s->data[i];

        } else if (s->data[i] == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else {
            *p++ = s->data[i];
        }
    }

    return p;
}

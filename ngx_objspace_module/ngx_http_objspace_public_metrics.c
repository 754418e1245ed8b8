
/*
 * Copyright (C) objspace authors
 *
 * Per-space counters of the public frontend (objspace_public_metrics_zone):
 * requests, bytes sent, hits (200/206), 304s, 404s and proxy_cache hits,
 * counted in the log phase; the objspace_public_metrics handler prints
 * them in Prometheus text format.  See docs/public.md, "Directives".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_objspace_public.h"


/* per-space counters in shared memory */
typedef struct {
    ngx_str_node_t              sn;
    ngx_atomic_t                counters[NGX_HTTP_OBJSPACE_PM_MAX];
    u_char                      data[1];
} ngx_http_objspace_public_mnode_t;


typedef struct {
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
    ngx_uint_t                  full;           /* spaces not counted */
} ngx_http_objspace_public_mshctx_t;


/* counters copied out of the zone */
typedef struct {
    ngx_str_t                   space;
    uint64_t                    counters[NGX_HTTP_OBJSPACE_PM_MAX];
} ngx_http_objspace_public_mcopy_t;



static ngx_int_t ngx_http_objspace_public_metrics_handler(
    ngx_http_request_t *r);
static void ngx_http_objspace_public_metrics_line(void *data,
    ngx_str_t *space, uint64_t *counters);
static ngx_int_t ngx_http_objspace_public_metrics_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);


static ngx_str_t  ngx_http_objspace_public_metric_names[] = {
    ngx_string("objspace_public_requests_total"),
    ngx_string("objspace_public_bytes_sent_total"),
    ngx_string("objspace_public_hits_total"),
    ngx_string("objspace_public_not_modified_total"),
    ngx_string("objspace_public_not_found_total"),
    ngx_string("objspace_public_cache_hits_total")
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
 * Walks the metrics tree under the mutex, copying every space's counters
 * into r->pool, then calls handler for each without the mutex.
 */

ngx_int_t
ngx_http_objspace_public_metrics_each(ngx_http_request_t *r,
    ngx_http_objspace_public_metrics_pt handler, void *data)
{
    u_char                                *p;
    ngx_uint_t                             i, n;
    ngx_array_t                            copies;
    ngx_slab_pool_t                       *shpool;
    ngx_rbtree_node_t                     *rn, *root, *sentinel;
    ngx_http_objspace_public_mnode_t      *node;
    ngx_http_objspace_public_mshctx_t     *sh;
    ngx_http_objspace_public_main_conf_t  *pmcf;

    ngx_http_objspace_public_mcopy_t      *c;

    pmcf = ngx_http_get_module_main_conf(r, ngx_http_objspace_public_module);

    if (pmcf == NULL || pmcf->metrics_zone == NULL
        || pmcf->metrics_zone->data == NULL)
    {
        return NGX_DECLINED;
    }

    if (ngx_array_init(&copies, r->pool, 16,
                       sizeof(ngx_http_objspace_public_mcopy_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    shpool = (ngx_slab_pool_t *) pmcf->metrics_zone->shm.addr;
    sh = pmcf->metrics_zone->data;

    ngx_shmtx_lock(&shpool->mutex);

    root = sh->tree.root;
    sentinel = sh->tree.sentinel;

    if (root != sentinel) {
        for (rn = ngx_rbtree_min(root, sentinel);
             rn;
             rn = ngx_rbtree_next(&sh->tree, rn))
        {
            node = (ngx_http_objspace_public_mnode_t *) rn;

            c = ngx_array_push(&copies);
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

    c = copies.elts;
    n = copies.nelts;

    for (i = 0; i < n; i++) {
        handler(data, &c[i].space, c[i].counters);
    }

    return NGX_OK;
}


typedef struct {
    ngx_chain_t                *first;
    ngx_chain_t               **last;
    ngx_pool_t                 *pool;
    ngx_uint_t                  failed;
} ngx_http_objspace_public_mout_t;


/* "objspace_public_metrics": Prometheus text, one line per counter */

static ngx_int_t
ngx_http_objspace_public_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                         rc;
    ngx_buf_t                        *b;
    ngx_chain_t                      *cl;
    ngx_http_objspace_public_mout_t   out;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    out.first = NULL;
    out.last = &out.first;
    out.pool = r->pool;
    out.failed = 0;

    rc = ngx_http_objspace_public_metrics_each(r,
                                    ngx_http_objspace_public_metrics_line,
                                    &out);

    if (rc == NGX_ERROR || out.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;
    *out.last = cl;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;

    for (cl = out.first; cl; cl = cl->next) {
        r->headers_out.content_length_n += cl->buf->last - cl->buf->pos;
    }

    ngx_str_set(&r->headers_out.content_type, "text/plain; version=0.0.4");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out.first);
}


static void
ngx_http_objspace_public_metrics_line(void *data, ngx_str_t *space,
    uint64_t *counters)
{
    ngx_http_objspace_public_mout_t  *out = data;

    size_t        len;
    ngx_buf_t    *b;
    ngx_uint_t    i;
    ngx_chain_t  *cl;

    len = 0;

    for (i = 0; i < NGX_HTTP_OBJSPACE_PM_MAX; i++) {
        len += ngx_http_objspace_public_metric_names[i].len + space->len
               + sizeof("{space=\"\"} \n") - 1 + NGX_INT64_LEN;
    }

    b = ngx_create_temp_buf(out->pool, len);
    cl = b ? ngx_alloc_chain_link(out->pool) : NULL;

    if (cl == NULL) {
        out->failed = 1;
        return;
    }

    for (i = 0; i < NGX_HTTP_OBJSPACE_PM_MAX; i++) {
        b->last = ngx_sprintf(b->last, "%V{space=\"%V\"} %uL\n",
                              &ngx_http_objspace_public_metric_names[i],
                              space, counters[i]);
    }

    cl->buf = b;
    cl->next = NULL;
    *out->last = cl;
    out->last = &cl->next;
}


static ngx_int_t
ngx_http_objspace_public_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data)
{
    ngx_http_objspace_public_mshctx_t  *osh = data;

    ngx_slab_pool_t                    *shpool;
    ngx_http_objspace_public_mshctx_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (osh) {
        shm_zone->data = osh;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_objspace_public_mshctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->tree, &sh->sentinel, ngx_str_rbtree_insert_value);
    sh->full = 0;

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


char *
ngx_http_objspace_public_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_objspace_public_main_conf_t *pmcf = conf;

    u_char     *p;
    ssize_t     size;
    ngx_str_t  *value, name, s;

    if (pmcf->metrics_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');
    if (p == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected NAME:SIZE",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (name.len == 0 || size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    pmcf->metrics_zone = ngx_shared_memory_add(cf, &name, size,
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


/*
 * Copyright (C) objspace authors
 *
 * The identity cache: identity and space records from Redis
 * (docs/redis-schema.md) in a shared-memory zone used by all workers.
 * This file holds the zone, the identity lookups, invalidation and the
 * parsing and storing of the records; the SigV4 signing keys derived from
 * their sealed secrets are in ngx_http_objspace_cache_skey.c, the CDN
 * names in ngx_http_objspace_cache_public.c, the layout they share in
 * ngx_http_objspace_cache_shm.h.
 *
 * Two red-black trees (identities by access key, spaces by space id), each
 * with an LRU queue.  Lookups copy what a request needs into r->pool under
 * the zone mutex; the mutex is never held across I/O, crypto or logging.
 * Filled by ngx_http_objspace_redis.c; see docs/architecture.md,
 * "Identity cache and Redis client".
 */


#include "ngx_http_objspace_cache_shm.h"


#define NGX_HTTP_OBJSPACE_CACHE_MAGIC     0x6f627363   /* "obsc" */
#define NGX_HTTP_OBJSPACE_CACHE_VERSION   2

#define NGX_HTTP_OBJSPACE_MAX_NAME_LEN    255
#define NGX_HTTP_OBJSPACE_MAX_PREFIX_LEN  1024


typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  value;
} ngx_http_objspace_mode_map_t;


typedef struct {
    ngx_str_t                   name;
    size_t                      offset;
} ngx_http_objspace_field_t;

static void ngx_http_objspace_ident_free_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_objspace_ident_node_t *node);
static void ngx_http_objspace_space_free_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_objspace_space_node_t *node);
static ngx_http_objspace_identity_t *ngx_http_objspace_cache_copy(
    ngx_pool_t *pool, ngx_http_objspace_ident_node_t *node,
    ngx_http_objspace_space_node_t *space, time_t now);
static char *ngx_http_objspace_parse_ident(ngx_http_objspace_kv_t *kv,
    ngx_uint_t n, ngx_http_objspace_ident_rec_t *rec);
static ngx_int_t ngx_http_objspace_store_ident_locked(
    ngx_http_objspace_shctx_t *sh, ngx_slab_pool_t *shpool, ngx_str_t *ak,
    uint32_t hash, ngx_http_objspace_ident_rec_t *rec,
    ngx_http_objspace_cache_mark_t *mark, time_t now);
static void ngx_http_objspace_fields(ngx_http_objspace_kv_t *kv,
    ngx_uint_t n, ngx_http_objspace_field_t *fields, void *rec);
static time_t ngx_http_objspace_parse_time(ngx_str_t *s);


static ngx_http_objspace_mode_map_t  ngx_http_objspace_modes[] = {
    { ngx_string("read-only"), NGX_HTTP_OBJSPACE_MODE_READ_ONLY },
    { ngx_string("write-only"), NGX_HTTP_OBJSPACE_MODE_WRITE_ONLY },
    { ngx_string("read-write"), NGX_HTTP_OBJSPACE_MODE_READ_WRITE },
    { ngx_string("read-write-delete"),
      NGX_HTTP_OBJSPACE_MODE_READ_WRITE_DELETE },
    { ngx_string("publisher"), NGX_HTTP_OBJSPACE_MODE_PUBLISHER },
    { ngx_string("registry-backend"), NGX_HTTP_OBJSPACE_MODE_REGISTRY },
    { ngx_null_string, 0 }
};


#define ngx_http_objspace_ifield(name, f)                                     \
    { ngx_string(name), offsetof(ngx_http_objspace_ident_rec_t, f) }

static ngx_http_objspace_field_t  ngx_http_objspace_ident_fields[] = {
    ngx_http_objspace_ifield("v", v),
    ngx_http_objspace_ifield("id", str[NGX_HTTP_OBJSPACE_I_ID]),
    ngx_http_objspace_ifield("space", str[NGX_HTTP_OBJSPACE_I_SPACE]),
    ngx_http_objspace_ifield("tenant", str[NGX_HTTP_OBJSPACE_I_TENANT]),
    ngx_http_objspace_ifield("name", str[NGX_HTTP_OBJSPACE_I_NAME]),
    ngx_http_objspace_ifield("prefix", str[NGX_HTTP_OBJSPACE_I_PREFIX]),
    ngx_http_objspace_ifield("secret", str[NGX_HTTP_OBJSPACE_I_SECRET]),
    ngx_http_objspace_ifield("secret_prev", str[NGX_HTTP_OBJSPACE_I_PREV]),
    ngx_http_objspace_ifield("mode", mode),
    ngx_http_objspace_ifield("immutable", immutable),
    ngx_http_objspace_ifield("status", status),
    ngx_http_objspace_ifield("expires_at", expires_at),
    ngx_http_objspace_ifield("secret_prev_until", prev_until),
    { ngx_null_string, 0 }
};


#define ngx_http_objspace_sfield(name, f)                                     \
    { ngx_string(name), offsetof(ngx_http_objspace_space_rec_t, f) }

static ngx_http_objspace_field_t  ngx_http_objspace_space_fields[] = {
    ngx_http_objspace_sfield("v", v),
    ngx_http_objspace_sfield("id", str[NGX_HTTP_OBJSPACE_S_ID]),
    ngx_http_objspace_sfield("tenant", str[NGX_HTTP_OBJSPACE_S_TENANT]),
    ngx_http_objspace_sfield("name", str[NGX_HTTP_OBJSPACE_S_NAME]),
    ngx_http_objspace_sfield("bucket", str[NGX_HTTP_OBJSPACE_S_BUCKET]),
    ngx_http_objspace_sfield("backend_ak",
                             str[NGX_HTTP_OBJSPACE_S_BACKEND_AK]),
    ngx_http_objspace_sfield("backend_secret",
                             str[NGX_HTTP_OBJSPACE_S_SECRET]),
    ngx_http_objspace_sfield("status", status),
    ngx_http_objspace_sfield("visibility", visibility),
    ngx_http_objspace_sfield("quota_bytes", quota),
    ngx_http_objspace_sfield("public_gen", public_gen),
    { ngx_null_string, 0 }
};

/*
 * Zone initialisation.  On reload nginx hands back the old zone (data is
 * the old shctx) only when name, size and tag are unchanged; its entries
 * stay valid, provided the layout matches.  A zone whose size changed is a
 * new, empty zone (old workers keep the old one until they exit), so a
 * changed objspace_cache_zone size costs one Redis read per key.  Two
 * declarations of one name with different sizes in one configuration are
 * refused by ngx_shared_memory_add() itself.
 */

ngx_int_t
ngx_http_objspace_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_objspace_shctx_t  *osh = data;

    size_t                      len;
    ngx_slab_pool_t            *shpool;
    ngx_http_objspace_shctx_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (osh == NULL && shm_zone->shm.exists) {
        osh = shpool->data;
    }

    if (osh) {
        if (osh->magic != NGX_HTTP_OBJSPACE_CACHE_MAGIC
            || osh->version != NGX_HTTP_OBJSPACE_CACHE_VERSION
            || osh->ident_size != sizeof(ngx_http_objspace_ident_node_t)
            || osh->space_size != sizeof(ngx_http_objspace_space_node_t)
            || osh->pub_size != sizeof(ngx_http_objspace_pub_node_t))
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "objspace_cache_zone \"%V\" was created by an "
                          "incompatible module version; change its size "
                          "or name, or restart nginx",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        shm_zone->data = osh;

        return NGX_OK;
    }

    if (ngx_process == NGX_PROCESS_MASTER) {
        /*
         * a reload: nginx reuses a zone of the same name only if its size
         * is unchanged, otherwise it maps a new one (the old one goes with
         * the old cycle): nothing is corrupted, the cache starts empty
         */
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "objspace_cache_zone \"%V\" is new or changed size "
                      "(%uz): the identity cache starts empty and refills "
                      "from Redis", &shm_zone->shm.name, shm_zone->shm.size);
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_objspace_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_objspace_shctx_t));

    sh->magic = NGX_HTTP_OBJSPACE_CACHE_MAGIC;
    sh->version = NGX_HTTP_OBJSPACE_CACHE_VERSION;
    sh->ident_size = sizeof(ngx_http_objspace_ident_node_t);
    sh->space_size = sizeof(ngx_http_objspace_space_node_t);
    sh->pub_size = sizeof(ngx_http_objspace_pub_node_t);

    ngx_rbtree_init(&sh->ident_tree, &sh->ident_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&sh->space_tree, &sh->space_sentinel,
                    ngx_str_rbtree_insert_value);

    ngx_queue_init(&sh->ident_lru);
    ngx_queue_init(&sh->space_lru);

    ngx_rbtree_init(&sh->pub_tree, &sh->pub_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->pub_lru);

    shpool->data = sh;

    len = sizeof(" in objspace_cache_zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in objspace_cache_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* we log our own ALERT after eviction and one retry */
    shpool->log_nomem = 0;

    shm_zone->data = sh;

    return NGX_OK;
}


/*
 * Lookup; see the contract in ngx_http_objspace_module.h.  Takes the zone
 * mutex; copies the entry into r->pool before releasing it.
 */

ngx_int_t
ngx_http_objspace_cache_lookup(ngx_http_request_t *r, ngx_str_t *access_key,
    ngx_http_objspace_identity_t **idp)
{
    time_t                           now;
    uint32_t                         hash, shash;
    ngx_int_t                        waited, rc;
    ngx_str_t                        sid;
    ngx_uint_t                       i, stale, nomem;
    ngx_slab_pool_t                 *shpool;
    ngx_http_objspace_shctx_t       *sh;
    ngx_http_objspace_space_node_t  *space;
    ngx_http_objspace_ident_node_t  *node;
    ngx_http_objspace_identity_t    *id;
    ngx_http_objspace_main_conf_t   *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_objspace_module);

    sh = ngx_http_objspace_cache_zone(omcf, &shpool);
    if (sh == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "objspace identity cache zone is not configured");
        return NGX_ERROR;
    }

    if (access_key->len == 0
        || access_key->len > NGX_HTTP_OBJSPACE_MAX_AK_LEN)
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < access_key->len; i++) {
        if (access_key->data[i] <= 0x20 || access_key->data[i] >= 0x7f
            || access_key->data[i] == '/')
        {
            return NGX_DECLINED;
        }
    }

    waited = ngx_http_objspace_redis_wait_result(r);

    hash = ngx_crc32_short(access_key->data, access_key->len);
    now = ngx_time();
    id = NULL;
    stale = 0;
    nomem = 0;

    ngx_shmtx_lock(&shpool->mutex);

    node = ngx_http_objspace_ident_lookup_locked(sh, access_key, hash);

    if (node && node->epoch != sh->epoch) {
        ngx_http_objspace_ident_free_locked(sh, shpool, node);
        node = NULL;
    }

    if (node == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        goto miss;
    }

    if (node->negative) {

        if (now - node->fetched < omcf->negative_valid
            || waited != NGX_DONE
            || !ngx_http_objspace_redis_available((ngx_cycle_t *) ngx_cycle))
        {
            ngx_queue_remove(&node->queue);
            ngx_queue_insert_head(&sh->ident_lru, &node->queue);

            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_DECLINED;
        }

        ngx_http_objspace_ident_free_locked(sh, shpool, node);
        ngx_shmtx_unlock(&shpool->mutex);
        goto miss;
    }

    ngx_http_objspace_node_str(node->data, node->len,
                               NGX_HTTP_OBJSPACE_I_SPACE, &sid);
    shash = ngx_crc32_short(sid.data, sid.len);

    space = ngx_http_objspace_space_lookup_locked(sh, &sid, shash);

    if (space && space->epoch != sh->epoch) {
        ngx_http_objspace_space_free_locked(sh, shpool, space);
        space = NULL;
    }

    if (space == NULL) {
        /* dropped by "space:ID" or evicted: read both again */
        ngx_shmtx_unlock(&shpool->mutex);
        goto miss;
    }

    ngx_queue_remove(&node->queue);
    ngx_queue_insert_head(&sh->ident_lru, &node->queue);
    ngx_queue_remove(&space->queue);
    ngx_queue_insert_head(&sh->space_lru, &space->queue);

    if (now - node->fetched >= omcf->cache_valid
        || now - space->fetched >= omcf->cache_valid
        || node->gen != sh->gen
        || space->gen != sh->gen)
    {
        stale = 1;
    }

    id = ngx_http_objspace_cache_copy(r->pool, node, space, now);
    if (id == NULL) {
        nomem = 1;

    } else {
        /* the signing key lookups find the nodes again without a crc32 */
        id->ak_hash = hash;
        id->space_hash = shash;
        id->hashed = 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (nomem) {
        return NGX_ERROR;
    }

    *idp = id;

    /* after a wait, whatever the wait produced is the answer */

    if (!stale || waited != NGX_DONE) {
        return NGX_OK;
    }

    rc = ngx_http_objspace_redis_fetch(r, access_key);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "objspace cache: serving stale entry for key fp:%08xD",
                   hash);

    /* Redis unreachable: the stale copy is better than a 503 */

    return NGX_OK;

miss:

    if (waited == NGX_ERROR) {
        return NGX_BUSY;
    }

    return ngx_http_objspace_redis_fetch(r, access_key);
}


/*
 * Pub/sub invalidation: "ak:AK" drops an identity (or its negative entry),
 * "space:ID" a space (its identities then miss and read both again), "all"
 * everything (lazily: the epoch changes and entries of an older epoch are
 * treated as absent, so no tree walk happens under the mutex).  Every worker
 * receives every message; dropping twice is harmless.
 */

void
ngx_http_objspace_cache_invalidate(ngx_cycle_t *cycle, ngx_str_t *msg)
{
    uint32_t                         hash;
    ngx_str_t                        name;
    ngx_uint_t                       kind, found;
    ngx_slab_pool_t                 *shpool;
    ngx_http_objspace_shctx_t       *sh;
    ngx_http_objspace_ident_node_t  *node;
    ngx_http_objspace_space_node_t  *space;
    ngx_http_objspace_main_conf_t   *omcf;

    if (ngx_http_objspace_cache_invalidate_public(cycle, msg) == NGX_OK) {
        return;
    }

    omcf = ngx_http_objspace_main_conf(cycle);

    sh = ngx_http_objspace_cache_zone(omcf, &shpool);
    if (sh == NULL) {
        return;
    }

    if (msg->len == 3 && ngx_strncmp(msg->data, "all", 3) == 0) {
        kind = 0;
        ngx_str_null(&name);

    } else if (msg->len > 3 && ngx_strncmp(msg->data, "ak:", 3) == 0) {
        kind = 1;
        name.data = msg->data + 3;
        name.len = msg->len - 3;

    } else if (msg->len > 6 && ngx_strncmp(msg->data, "space:", 6) == 0) {
        kind = 2;
        name.data = msg->data + 6;
        name.len = msg->len - 6;

    } else {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "objspace: unknown invalidation message ignored");
        return;
    }

    hash = name.len ? ngx_crc32_short(name.data, name.len) : 0;
    found = 0;

    ngx_shmtx_lock(&shpool->mutex);

    sh->seq++;

    switch (kind) {

    case 0:
        sh->epoch++;
        found = 1;
        break;

    case 1:
        node = ngx_http_objspace_ident_lookup_locked(sh, &name, hash);
        if (node) {
            ngx_http_objspace_ident_free_locked(sh, shpool, node);
            found = 1;
        }
        break;

    default: /* 2 */
        space = ngx_http_objspace_space_lookup_locked(sh, &name, hash);
        if (space) {
            ngx_http_objspace_space_free_locked(sh, shpool, space);
            found = 1;
        }
        break;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    (void) found;    /* read by the debug log only (built without it too) */

    if (kind == 1) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                       "objspace cache: invalidate key fp:%08xD found:%ui",
                       hash, found);

    } else {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                       "objspace cache: invalidate %s \"%V\" found:%ui",
                       kind ? "space" : "all", &name, found);
    }
}


/* every entry is due for revalidation; served until Redis answers */

void
ngx_http_objspace_cache_revalidate_all(ngx_cycle_t *cycle)
{
    ngx_slab_pool_t                *shpool;
    ngx_http_objspace_shctx_t      *sh;
    ngx_http_objspace_main_conf_t  *omcf;

    omcf = ngx_http_objspace_main_conf(cycle);

    sh = ngx_http_objspace_cache_zone(omcf, &shpool);
    if (sh == NULL) {
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);
    sh->gen++;
    ngx_shmtx_unlock(&shpool->mutex);
}


/* takes the zone mutex briefly */

void
ngx_http_objspace_cache_mark(ngx_cycle_t *cycle,
    ngx_http_objspace_cache_mark_t *mark)
{
    ngx_slab_pool_t                *shpool;
    ngx_http_objspace_shctx_t      *sh;
    ngx_http_objspace_main_conf_t  *omcf;

    omcf = ngx_http_objspace_main_conf(cycle);

    sh = ngx_http_objspace_cache_zone(omcf, &shpool);
    if (sh == NULL) {
        mark->gen = 0;
        mark->seq = 0;
        return;
    }

    ngx_shmtx_lock(&shpool->mutex);
    mark->gen = sh->gen;
    mark->seq = sh->seq;
    ngx_shmtx_unlock(&shpool->mutex);
}


/*
 * Stores one EVAL answer (see ngx_http_objspace_cache.h).  Records are
 * validated before the mutex is taken; an invalid one (unknown "v", a
 * missing or oversized field, a missing space) becomes a negative entry
 * and an ALERT, as docs/redis-schema.md asks.
 */

ngx_int_t
ngx_http_objspace_cache_store(ngx_cycle_t *cycle, ngx_str_t *ak,
    ngx_http_objspace_kv_t *ident, ngx_uint_t nident,
    ngx_http_objspace_kv_t *space, ngx_uint_t nspace,
    ngx_http_objspace_cache_mark_t *mark)
{
    char                           *bad;
    time_t                          now;
    uint32_t                        hash;
    ngx_int_t                       rc;
    ngx_slab_pool_t                *shpool;
    ngx_http_objspace_shctx_t      *sh;
    ngx_http_objspace_space_rec_t   srec;
    ngx_http_objspace_ident_rec_t   irec, *rec;
    ngx_http_objspace_main_conf_t  *omcf;

    omcf = ngx_http_objspace_main_conf(cycle);

    sh = ngx_http_objspace_cache_zone(omcf, &shpool);
    if (sh == NULL || ak->len > NGX_HTTP_OBJSPACE_MAX_AK_LEN) {
        return NGX_ERROR;
    }

    hash = ngx_crc32_short(ak->data, ak->len);
    now = ngx_time();
    bad = NULL;
    rec = NULL;

    if (nident) {
        bad = ngx_http_objspace_parse_ident(ident, nident, &irec);

        if (bad == NULL) {
            if (nspace == 0) {
                bad = "its space does not exist";

            } else {
                bad = ngx_http_objspace_parse_space(space, nspace, &srec);
            }
        }

        if (bad == NULL
            && (srec.str[NGX_HTTP_OBJSPACE_S_ID].len
                != irec.str[NGX_HTTP_OBJSPACE_I_SPACE].len
                || ngx_strncmp(srec.str[NGX_HTTP_OBJSPACE_S_ID].data,
                               irec.str[NGX_HTTP_OBJSPACE_I_SPACE].data,
                               srec.str[NGX_HTTP_OBJSPACE_S_ID].len)
                   != 0))
        {
            bad = "space record id differs";
        }

        if (bad == NULL) {
            irec.str[NGX_HTTP_OBJSPACE_I_AK] = *ak;
            rec = &irec;
        }
    }

    ngx_shmtx_lock(&shpool->mutex);

    ngx_http_objspace_cache_expire_locked(sh, shpool, now,
                                          omcf->negative_valid);

    rc = NGX_OK;

    if (rec) {
        rc = ngx_http_objspace_store_space_locked(sh, shpool, &srec, mark,
                                                  now);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_objspace_store_ident_locked(sh, shpool, ak, hash, rec,
                                                  mark, now);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (bad) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "objspace: identity record of key fp:%08xD refused: "
                      "%s; treated as unknown", hash, bad);
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "objspace: could not allocate a cache entry for key "
                      "fp:%08xD in objspace_cache_zone \"%V\" after "
                      "eviction; zone too small?",
                      hash, &omcf->shm_zone->shm.name);
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cycle->log, 0,
                   "objspace cache: stored key fp:%08xD known:%d",
                   hash, rec != NULL);

    return NGX_OK;
}


/* replaces (or adds) a space node; keeps derived keys of the same secret */

ngx_int_t
ngx_http_objspace_store_space_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_objspace_space_rec_t *rec,
    ngx_http_objspace_cache_mark_t *mark, time_t now)
{
    u_char                          *p;
    size_t                           size;
    uint32_t                         hash;
    ngx_str_t                        os, *id;
    ngx_uint_t                       i;
    ngx_http_objspace_space_node_t  *node, *old;

    size = offsetof(ngx_http_objspace_space_node_t, data);

    for (i = 0; i < NGX_HTTP_OBJSPACE_S_N; i++) {
        size += rec->str[i].len;
    }

    node = ngx_http_objspace_cache_alloc_locked(sh, shpool, size, 1);
    if (node == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(node, offsetof(ngx_http_objspace_space_node_t, data));

    p = node->data;

    for (i = 0; i < NGX_HTTP_OBJSPACE_S_N; i++) {
        node->len[i] = (u_short) rec->str[i].len;

        if (rec->str[i].len) {       /* absent fields: data is NULL */
            p = ngx_cpymem(p, rec->str[i].data, rec->str[i].len);
        }
    }

    id = &rec->str[NGX_HTTP_OBJSPACE_S_ID];
    hash = ngx_crc32_short(id->data, id->len);

    node->sn.node.key = hash;
    node->sn.str.data = node->data;
    node->sn.str.len = id->len;
    node->fetched = now;
    node->gen = (sh->seq == mark->seq) ? mark->gen : mark->gen - 1;
    node->epoch = sh->epoch;
    node->serial = ++sh->serial;
    node->quota = (uint64_t) ngx_atoof(rec->quota.data, rec->quota.len);
    node->disabled = (rec->status.len != 6
                      || ngx_strncmp(rec->status.data, "active", 6) != 0);
    node->is_public = (rec->visibility.len == 6
                       && ngx_strncmp(rec->visibility.data, "public", 6)
                          == 0);

    old = ngx_http_objspace_space_lookup_locked(sh, id, hash);

    if (old) {
        ngx_http_objspace_node_str(old->data, old->len,
                                   NGX_HTTP_OBJSPACE_S_SECRET, &os);

        if (os.len == rec->str[NGX_HTTP_OBJSPACE_S_SECRET].len
            && ngx_memcmp(os.data, rec->str[NGX_HTTP_OBJSPACE_S_SECRET].data,
                          os.len) == 0)
        {
            ngx_memcpy(node->skey, old->skey, sizeof(node->skey));
        }

        ngx_http_objspace_space_free_locked(sh, shpool, old);
    }

    ngx_rbtree_insert(&sh->space_tree, &node->sn.node);
    ngx_queue_insert_head(&sh->space_lru, &node->queue);

    return NGX_OK;
}


/* replaces (or adds) an identity node; rec == NULL: a negative entry */

static ngx_int_t
ngx_http_objspace_store_ident_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_str_t *ak, uint32_t hash,
    ngx_http_objspace_ident_rec_t *rec, ngx_http_objspace_cache_mark_t *mark,
    time_t now)
{
    u_char                          *p;
    size_t                           size;
    ngx_str_t                        os;
    ngx_uint_t                       i;
    ngx_http_objspace_mode_map_t    *m;
    ngx_http_objspace_ident_node_t  *node, *old;

    size = offsetof(ngx_http_objspace_ident_node_t, data);

    if (rec) {
        for (i = 0; i < NGX_HTTP_OBJSPACE_I_N; i++) {
            size += rec->str[i].len;
        }

    } else {
        size += ak->len;
    }

    node = ngx_http_objspace_cache_alloc_locked(sh, shpool, size, 0);
    if (node == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(node, offsetof(ngx_http_objspace_ident_node_t, data));

    node->sn.node.key = hash;
    node->sn.str.data = node->data;
    node->sn.str.len = ak->len;
    node->fetched = now;
    node->gen = (sh->seq == mark->seq) ? mark->gen : mark->gen - 1;
    node->epoch = sh->epoch;
    node->serial = ++sh->serial;

    if (rec == NULL) {
        node->negative = 1;
        node->len[NGX_HTTP_OBJSPACE_I_AK] = (u_short) ak->len;
        ngx_memcpy(node->data, ak->data, ak->len);

    } else {
        p = node->data;

        for (i = 0; i < NGX_HTTP_OBJSPACE_I_N; i++) {
            node->len[i] = (u_short) rec->str[i].len;

            if (rec->str[i].len) {   /* absent fields: data is NULL */
                p = ngx_cpymem(p, rec->str[i].data, rec->str[i].len);
            }
        }

        node->mode = NGX_HTTP_OBJSPACE_MODE_NONE;

        for (m = ngx_http_objspace_modes; m->name.len; m++) {
            if (m->name.len == rec->mode.len
                && ngx_strncmp(m->name.data, rec->mode.data, m->name.len)
                   == 0)
            {
                node->mode = (u_char) m->value;
                break;
            }
        }

        node->immutable = (rec->immutable.len == 1
                           && rec->immutable.data[0] == '1');

        /* anything but "active" fails closed */
        node->revoked = (rec->status.len != 6
                         || ngx_strncmp(rec->status.data, "active", 6)
                            != 0);

        node->expires_at = ngx_http_objspace_parse_time(&rec->expires_at);

        if (rec->str[NGX_HTTP_OBJSPACE_I_PREV].len) {
            node->prev_until =
                          ngx_http_objspace_parse_time(&rec->prev_until);
            node->has_prev = (node->prev_until > 0);
        }
    }

    old = ngx_http_objspace_ident_lookup_locked(sh, ak, hash);

    if (old) {
        if (rec && !old->negative) {
            ngx_http_objspace_node_str(old->data, old->len,
                                       NGX_HTTP_OBJSPACE_I_SECRET, &os);

            if (os.len == rec->str[NGX_HTTP_OBJSPACE_I_SECRET].len
                && ngx_memcmp(os.data,
                              rec->str[NGX_HTTP_OBJSPACE_I_SECRET].data,
                              os.len) == 0)
            {
                ngx_memcpy(node->skey[0], old->skey[0],
                           sizeof(node->skey[0]));
            }

            ngx_http_objspace_node_str(old->data, old->len,
                                       NGX_HTTP_OBJSPACE_I_PREV, &os);

            if (os.len && os.len == rec->str[NGX_HTTP_OBJSPACE_I_PREV].len
                && ngx_memcmp(os.data,
                              rec->str[NGX_HTTP_OBJSPACE_I_PREV].data,
                              os.len) == 0)
            {
                ngx_memcpy(node->skey[1], old->skey[1],
                           sizeof(node->skey[1]));
            }
        }

        ngx_http_objspace_ident_free_locked(sh, shpool, old);
    }

    ngx_rbtree_insert(&sh->ident_tree, &node->sn.node);
    ngx_queue_insert_head(&sh->ident_lru, &node->queue);

    return NGX_OK;
}


/* returns NULL or why the record is refused (a static string) */

static char *
ngx_http_objspace_parse_ident(ngx_http_objspace_kv_t *kv, ngx_uint_t n,
    ngx_http_objspace_ident_rec_t *rec)
{
    ngx_memzero(rec, sizeof(ngx_http_objspace_ident_rec_t));

    ngx_http_objspace_fields(kv, n, ngx_http_objspace_ident_fields, rec);

    if (rec->v.len != 1 || rec->v.data[0] != '1') {
        return "unknown schema version \"v\"";
    }

    if (rec->str[NGX_HTTP_OBJSPACE_I_ID].len == 0
        || rec->str[NGX_HTTP_OBJSPACE_I_SPACE].len == 0
        || rec->str[NGX_HTTP_OBJSPACE_I_SECRET].len == 0
        || rec->mode.len == 0
        || rec->status.len == 0)
    {
        return "a required field is missing";
    }

    if (rec->str[NGX_HTTP_OBJSPACE_I_ID].len > NGX_HTTP_OBJSPACE_ID_LEN
        || rec->str[NGX_HTTP_OBJSPACE_I_SPACE].len > NGX_HTTP_OBJSPACE_ID_LEN
        || rec->str[NGX_HTTP_OBJSPACE_I_TENANT].len > NGX_HTTP_OBJSPACE_ID_LEN
        || rec->str[NGX_HTTP_OBJSPACE_I_NAME].len
           > NGX_HTTP_OBJSPACE_MAX_NAME_LEN
        || rec->str[NGX_HTTP_OBJSPACE_I_PREFIX].len
           > NGX_HTTP_OBJSPACE_MAX_PREFIX_LEN
        || rec->str[NGX_HTTP_OBJSPACE_I_SECRET].len
           > NGX_HTTP_OBJSPACE_MAX_SEALED_LEN
        || rec->str[NGX_HTTP_OBJSPACE_I_PREV].len
           > NGX_HTTP_OBJSPACE_MAX_SEALED_LEN)
    {
        return "a field is too long";
    }

    if ((rec->expires_at.len
         && ngx_http_objspace_parse_time(&rec->expires_at) == NGX_ERROR)
        || (rec->prev_until.len
            && ngx_http_objspace_parse_time(&rec->prev_until) == NGX_ERROR))
    {
        return "a time field is not a number";
    }

    return NULL;
}


char *
ngx_http_objspace_parse_space(ngx_http_objspace_kv_t *kv, ngx_uint_t n,
    ngx_http_objspace_space_rec_t *rec)
{
    ngx_memzero(rec, sizeof(ngx_http_objspace_space_rec_t));

    ngx_http_objspace_fields(kv, n, ngx_http_objspace_space_fields, rec);

    if (rec->v.len != 1 || rec->v.data[0] != '1') {
        return "unknown schema version \"v\" in its space";
    }

    if (rec->str[NGX_HTTP_OBJSPACE_S_ID].len == 0
        || rec->str[NGX_HTTP_OBJSPACE_S_BUCKET].len == 0
        || rec->str[NGX_HTTP_OBJSPACE_S_BACKEND_AK].len == 0
        || rec->str[NGX_HTTP_OBJSPACE_S_SECRET].len == 0
        || rec->status.len == 0)
    {
        return "a required field of its space is missing";
    }

    if (rec->str[NGX_HTTP_OBJSPACE_S_ID].len > NGX_HTTP_OBJSPACE_ID_LEN
        || rec->str[NGX_HTTP_OBJSPACE_S_TENANT].len > NGX_HTTP_OBJSPACE_ID_LEN
        || rec->str[NGX_HTTP_OBJSPACE_S_NAME].len
           > NGX_HTTP_OBJSPACE_MAX_NAME_LEN
        || rec->str[NGX_HTTP_OBJSPACE_S_BUCKET].len
           > NGX_HTTP_OBJSPACE_MAX_NAME_LEN
        || rec->str[NGX_HTTP_OBJSPACE_S_BACKEND_AK].len
           > NGX_HTTP_OBJSPACE_MAX_AK_LEN
        || rec->str[NGX_HTTP_OBJSPACE_S_SECRET].len
           > NGX_HTTP_OBJSPACE_MAX_SEALED_LEN)
    {
        return "a field of its space is too long";
    }

    if (rec->quota.len
        && ngx_atoof(rec->quota.data, rec->quota.len) == NGX_ERROR)
    {
        return "quota_bytes of its space is not a number";
    }

    return NULL;
}


/* picks the fields a table names out of a flattened HGETALL */

static void
ngx_http_objspace_fields(ngx_http_objspace_kv_t *kv, ngx_uint_t n,
    ngx_http_objspace_field_t *fields, void *rec)
{
    ngx_uint_t                  i;
    ngx_http_objspace_field_t  *f;

    for (i = 0; i < n; i++) {
        for (f = fields; f->name.len; f++) {
            if (f->name.len == kv[i].key.len
                && ngx_strncmp(f->name.data, kv[i].key.data, f->name.len)
                   == 0)
            {
                *(ngx_str_t *) ((u_char *) rec + f->offset) = kv[i].value;
                break;
            }
        }
    }
}


/* unix seconds; "" and "0" are 0 (never) */

static time_t
ngx_http_objspace_parse_time(ngx_str_t *s)
{
    if (s->len == 0) {
        return 0;
    }

    return ngx_atotm(s->data, s->len);
}


/*
 * Copies node and space into one r->pool allocation.  Called with the
 * zone mutex held (a pool allocation, no I/O).
 */

static ngx_http_objspace_identity_t *
ngx_http_objspace_cache_copy(ngx_pool_t *pool,
    ngx_http_objspace_ident_node_t *node,
    ngx_http_objspace_space_node_t *space, time_t now)
{
    u_char                        *p;
    size_t                         size;
    ngx_str_t                      s;
    ngx_uint_t                     i;
    ngx_http_objspace_identity_t  *id;

    static ngx_uint_t  ifields[] = {
        offsetof(ngx_http_objspace_identity_t, access_key),
        offsetof(ngx_http_objspace_identity_t, id),
        offsetof(ngx_http_objspace_identity_t, space),
        offsetof(ngx_http_objspace_identity_t, tenant),
        offsetof(ngx_http_objspace_identity_t, name),
        offsetof(ngx_http_objspace_identity_t, prefix)
    };

    size = sizeof(ngx_http_objspace_identity_t)
           + space->len[NGX_HTTP_OBJSPACE_S_BUCKET]
           + space->len[NGX_HTTP_OBJSPACE_S_BACKEND_AK];

    for (i = 0; i < sizeof(ifields) / sizeof(ifields[0]); i++) {
        size += node->len[i];
    }

    id = ngx_pcalloc(pool, size);
    if (id == NULL) {
        return NULL;
    }

    p = (u_char *) (id + 1);

    for (i = 0; i < sizeof(ifields) / sizeof(ifields[0]); i++) {
        ngx_http_objspace_node_str(node->data, node->len, i, &s);

        ((ngx_str_t *) ((u_char *) id + ifields[i]))->data = p;
        ((ngx_str_t *) ((u_char *) id + ifields[i]))->len = s.len;
        p = ngx_cpymem(p, s.data, s.len);
    }

    ngx_http_objspace_node_str(space->data, space->len,
                               NGX_HTTP_OBJSPACE_S_BUCKET, &s);
    id->bucket.data = p;
    id->bucket.len = s.len;
    p = ngx_cpymem(p, s.data, s.len);

    ngx_http_objspace_node_str(space->data, space->len,
                               NGX_HTTP_OBJSPACE_S_BACKEND_AK, &s);
    id->backend_ak.data = p;
    id->backend_ak.len = s.len;
    ngx_memcpy(p, s.data, s.len);

    id->mode = node->mode;
    id->expires_at = node->expires_at;
    id->quota_bytes = space->quota;
    id->immutable = node->immutable;
    id->revoked = node->revoked;
    id->space_disabled = space->disabled;
    id->is_public = space->is_public;
    id->has_prev_secret = (node->has_prev && now < node->prev_until);

    return id;
}


/* the zone, or NULL if objspace_cache_zone is not configured */

ngx_http_objspace_shctx_t *
ngx_http_objspace_cache_zone(ngx_http_objspace_main_conf_t *omcf,
    ngx_slab_pool_t **shpool)
{
    if (omcf == NULL || omcf->shm_zone == NULL
        || omcf->shm_zone->data == NULL)
    {
        return NULL;
    }

    *shpool = (ngx_slab_pool_t *) omcf->shm_zone->shm.addr;

    return omcf->shm_zone->data;
}


ngx_http_objspace_ident_node_t *
ngx_http_objspace_ident_lookup_locked(ngx_http_objspace_shctx_t *sh,
    ngx_str_t *ak, uint32_t hash)
{
    ngx_str_node_t  *sn;

    sn = ngx_str_rbtree_lookup(&sh->ident_tree, ak, hash);

    return (ngx_http_objspace_ident_node_t *) sn;
}


ngx_http_objspace_space_node_t *
ngx_http_objspace_space_lookup_locked(ngx_http_objspace_shctx_t *sh,
    ngx_str_t *id, uint32_t hash)
{
    ngx_str_node_t  *sn;

    sn = ngx_str_rbtree_lookup(&sh->space_tree, id, hash);

    return (ngx_http_objspace_space_node_t *) sn;
}


static void
ngx_http_objspace_ident_free_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_objspace_ident_node_t *node)
{
    ngx_queue_remove(&node->queue);
    ngx_rbtree_delete(&sh->ident_tree, &node->sn.node);

    /* derived keys do not outlive their entry in freed slab memory */
    ngx_explicit_memzero(node->skey, sizeof(node->skey));

    ngx_slab_free_locked(shpool, node);
}


static void
ngx_http_objspace_space_free_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_objspace_space_node_t *node)
{
    ngx_queue_remove(&node->queue);
    ngx_rbtree_delete(&sh->space_tree, &node->sn.node);
    ngx_explicit_memzero(node->skey, sizeof(node->skey));
    ngx_slab_free_locked(shpool, node);
}


/*
 * Frees up to three dead entries at the cold end of each LRU: entries of
 * an older epoch ("all") and expired negative entries.  Live positive
 * entries never expire by age (they are served stale while Redis is away);
 * they leave by invalidation or LRU eviction.
 */

void
ngx_http_objspace_cache_expire_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, time_t now, time_t negative_valid)
{
    ngx_uint_t                       n;
    ngx_queue_t                     *q;
    ngx_http_objspace_ident_node_t  *node;
    ngx_http_objspace_space_node_t  *space;

    for (n = 0; n < 3 && !ngx_queue_empty(&sh->ident_lru); n++) {
        q = ngx_queue_last(&sh->ident_lru);
        node = ngx_queue_data(q, ngx_http_objspace_ident_node_t, queue);

        if (node->epoch == sh->epoch
            && !(node->negative && now - node->fetched >= negative_valid))
        {
            break;
        }

        ngx_http_objspace_ident_free_locked(sh, shpool, node);
    }

    for (n = 0; n < 3 && !ngx_queue_empty(&sh->space_lru); n++) {
        q = ngx_queue_last(&sh->space_lru);
        space = ngx_queue_data(q, ngx_http_objspace_space_node_t, queue);

        if (space->epoch == sh->epoch) {
            break;
        }

        ngx_http_objspace_space_free_locked(sh, shpool, space);
    }

    ngx_http_objspace_pub_expire_locked(sh, shpool, now, negative_valid);
}


/*
 * Slab allocation with LRU eviction: on failure the coldest entries of the
 * same kind (or of the other kind if that LRU is empty) are evicted and the
 * allocation is retried once; the caller logs an ALERT after unlocking.
 */

void *
ngx_http_objspace_cache_alloc_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, size_t size, ngx_uint_t space)
{
    void         *p;
    ngx_uint_t    n;
    ngx_queue_t  *q, *lru;

    p = ngx_slab_alloc_locked(shpool, size);
    if (p) {
        return p;
    }

    lru = space ? &sh->space_lru : &sh->ident_lru;

    if (ngx_queue_empty(lru)) {
        lru = space ? &sh->ident_lru : &sh->space_lru;
    }

    for (n = 0; n < NGX_HTTP_OBJSPACE_EVICT_N && !ngx_queue_empty(lru); n++) {
        q = ngx_queue_last(lru);

        if (lru == &sh->ident_lru) {
            ngx_http_objspace_ident_free_locked(sh, shpool,
                ngx_queue_data(q, ngx_http_objspace_ident_node_t, queue));

        } else {
            ngx_http_objspace_space_free_locked(sh, shpool,
                ngx_queue_data(q, ngx_http_objspace_space_node_t, queue));
        }
    }

    return ngx_slab_alloc_locked(shpool, size);
}


void
ngx_http_objspace_node_str(u_char *data, u_short *len, ngx_uint_t i,
    ngx_str_t *s)
{
    ngx_uint_t  k;

    for (k = 0; k < i; k++) {
        data += len[k];
    }

    s->data = data;
    s->len = len[i];
}

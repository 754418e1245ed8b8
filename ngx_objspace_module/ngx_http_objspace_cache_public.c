
/*
 * Copyright (C) objspace authors
 *
 * The public (CDN) names of the identity cache: "s/{slug}" and "h/{host}"
 * to their space and its publication rules, in a third tree and LRU of
 * the identity cache's zone (ngx_http_objspace_cache_shm.h), next to the
 * space nodes they refer to.  Looked up by ngx_http_objspace_public.c,
 * filled by ngx_http_objspace_redis.c, dropped by "slug:" and "host:"
 * invalidations.
 */


#include "ngx_http_objspace_cache_shm.h"


/* public rules of one space, serialized (docs/redis-schema.md) */
#define NGX_HTTP_OBJSPACE_MAX_RULES_LEN   16384


static ngx_http_objspace_pub_node_t *ngx_http_objspace_pub_lookup_locked(
    ngx_http_objspace_shctx_t *sh, ngx_str_t *name, uint32_t hash);
static void ngx_http_objspace_pub_free_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_objspace_pub_node_t *node);
static ngx_int_t ngx_http_objspace_store_pub_locked(
    ngx_http_objspace_shctx_t *sh, ngx_slab_pool_t *shpool, ngx_str_t *name,
    uint32_t hash, ngx_str_t *id, ngx_str_t *rules, uint64_t pubgen,
    ngx_uint_t space_serial, ngx_http_objspace_cache_mark_t *mark,
    time_t now);
static ngx_http_objspace_public_space_t *ngx_http_objspace_pub_copy(
    ngx_pool_t *pool, ngx_http_objspace_pub_node_t *node,
    ngx_http_objspace_space_node_t *space);


/*
 * CDN lookups (ngx_http_objspace_public.c): a public name ("s/{slug}" or
 * "h/{host}") to its space and publication rules.  Same contract as
 * ngx_http_objspace_cache_lookup() (NGX_DECLINED: no space has this name);
 * takes the zone mutex and copies the entry into r->pool before releasing
 * it.  The Redis read is the identity read's EVAL on the name
 * (ngx_http_objspace_redis.c), so concurrent misses share one read.
 */

ngx_int_t
ngx_http_objspace_cache_lookup_public(ngx_http_request_t *r, ngx_str_t *name,
    ngx_http_objspace_public_space_t **psp)
{
    time_t                             now;
    uint32_t                           hash, shash;
    ngx_int_t                          waited, rc;
    ngx_str_t                          sid;
    ngx_uint_t                         stale, nomem;
    ngx_slab_pool_t                   *shpool;
    ngx_http_objspace_shctx_t         *sh;
    ngx_http_objspace_pub_node_t      *node;
    ngx_http_objspace_space_node_t    *space;
    ngx_http_objspace_public_space_t  *ps;
    ngx_http_objspace_main_conf_t     *omcf;

    omcf = ngx_http_get_module_main_conf(r, ngx_http_objspace_module);

    sh = ngx_http_objspace_cache_zone(omcf, &shpool);
    if (sh == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "objspace identity cache zone is not configured");
        return NGX_ERROR;
    }

    if (name->len < 3 || name->len > NGX_HTTP_OBJSPACE_MAX_AK_LEN
        || name->data[1] != '/')
    {
        return NGX_DECLINED;
    }

    waited = ngx_http_objspace_redis_wait_result(r);

    hash = ngx_crc32_short(name->data, name->len);
    now = ngx_time();
    ps = NULL;
    stale = 0;
    nomem = 0;

    ngx_shmtx_lock(&shpool->mutex);

    node = ngx_http_objspace_pub_lookup_locked(sh, name, hash);

    if (node && node->epoch != sh->epoch) {
        ngx_http_objspace_pub_free_locked(sh, shpool, node);
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
            ngx_queue_insert_head(&sh->pub_lru, &node->queue);

            ngx_shmtx_unlock(&shpool->mutex);
            return NGX_DECLINED;
        }

        ngx_http_objspace_pub_free_locked(sh, shpool, node);
        ngx_shmtx_unlock(&shpool->mutex);
        goto miss;
    }

    sid.data = node->data + node->name_len;
    sid.len = node->id_len;
    shash = ngx_crc32_short(sid.data, sid.len);

    space = ngx_http_objspace_space_lookup_locked(sh, &sid, shash);

    if (space == NULL || space->epoch != sh->epoch
        || space->serial != node->space_serial)
    {
        /* the space changed (or was dropped) since: read both again */
        ngx_shmtx_unlock(&shpool->mutex);
        goto miss;
    }

    ngx_queue_remove(&node->queue);
    ngx_queue_insert_head(&sh->pub_lru, &node->queue);
    ngx_queue_remove(&space->queue);
    ngx_queue_insert_head(&sh->space_lru, &space->queue);

    if (now - node->fetched >= omcf->cache_valid
        || node->gen != sh->gen
        || space->gen != sh->gen)
    {
        stale = 1;
    }

    ps = ngx_http_objspace_pub_copy(r->pool, node, space);
    if (ps == NULL) {
        nomem = 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (nomem) {
        return NGX_ERROR;
    }

    *psp = ps;

    if (!stale || waited != NGX_DONE) {
        return NGX_OK;
    }

    rc = ngx_http_objspace_redis_fetch(r, name);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    /* Redis unreachable: the stale copy is better than a 503 */

    return NGX_OK;

miss:

    if (waited == NGX_ERROR) {
        return NGX_BUSY;
    }

    return ngx_http_objspace_redis_fetch(r, name);
}


/*
 * Stores what the EVAL returned for a public name: the space hash
 * (nspace == 0: the name is unknown) and its objspace:public:{id} hash
 * (prefix -> rule text), serialized as "prefix" 0x1f "rule" 0x1e ...
 * A record that fails validation becomes a negative entry and an ALERT.
 * Takes the zone mutex.
 */

ngx_int_t
ngx_http_objspace_cache_store_public(ngx_cycle_t *cycle, ngx_str_t *name,
    ngx_http_objspace_kv_t *space, ngx_uint_t nspace,
    ngx_http_objspace_kv_t *rules, ngx_uint_t nrules,
    ngx_http_objspace_cache_mark_t *mark)
{
    u_char                         *p;
    char                           *bad;
    size_t                          len;
    time_t                          now;
    uint32_t                        hash;
    uint64_t                        pubgen;
    ngx_int_t                       rc;
    ngx_str_t                       blob, *id;
    ngx_uint_t                      i;
    ngx_slab_pool_t                *shpool;
    ngx_http_objspace_shctx_t      *sh;
    ngx_http_objspace_space_rec_t   srec;
    ngx_http_objspace_main_conf_t  *omcf;
    u_char                          buf[NGX_HTTP_OBJSPACE_MAX_RULES_LEN];

    omcf = ngx_http_objspace_main_conf(cycle);

    sh = ngx_http_objspace_cache_zone(omcf, &shpool);
    if (sh == NULL || name->len > NGX_HTTP_OBJSPACE_MAX_AK_LEN) {
        return NGX_ERROR;
    }

    hash = ngx_crc32_short(name->data, name->len);
    now = ngx_time();
    bad = NULL;
    id = NULL;
    pubgen = 0;
    ngx_str_null(&blob);

    if (nspace) {
        bad = ngx_http_objspace_parse_space(space, nspace, &srec);
    }

    if (nspace && bad == NULL) {
        id = &srec.str[NGX_HTTP_OBJSPACE_S_ID];

        if (srec.public_gen.len) {
            pubgen = (uint64_t) ngx_atoof(srec.public_gen.data,
                                          srec.public_gen.len);
        }

        p = buf;

        for (i = 0; i < nrules && bad == NULL; i++) {
            len = rules[i].key.len + rules[i].value.len + 2;

            if ((size_t) (buf + sizeof(buf) - p) < len) {
                bad = "its publication rules are too long";
                break;
            }

            if (ngx_strlchr(rules[i].key.data,
                            rules[i].key.data + rules[i].key.len, 0x1e)
                || ngx_strlchr(rules[i].key.data,
                               rules[i].key.data + rules[i].key.len, 0x1f)
                || ngx_strlchr(rules[i].value.data,
                               rules[i].value.data + rules[i].value.len,
                               0x1e))
            {
                bad = "a publication rule has a separator byte";
                break;
            }

            p = ngx_cpymem(p, rules[i].key.data, rules[i].key.len);
            *p++ = 0x1f;
            p = ngx_cpymem(p, rules[i].value.data, rules[i].value.len);
            *p++ = 0x1e;
        }

        blob.data = buf;
        blob.len = p - buf;
    }

    if (bad) {
        id = NULL;
    }

    ngx_shmtx_lock(&shpool->mutex);

    ngx_http_objspace_cache_expire_locked(sh, shpool, now,
                                          omcf->negative_valid);

    rc = NGX_OK;

    if (id) {
        rc = ngx_http_objspace_store_space_locked(sh, shpool, &srec, mark,
                                                  now);
    }

    if (rc == NGX_OK) {
        /* store_space_locked() gave the new space node sh->serial */
        rc = ngx_http_objspace_store_pub_locked(sh, shpool, name, hash, id,
                                                &blob, pubgen, sh->serial,
                                                mark, now);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (bad) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "objspace: public space record for \"%V\" refused: "
                      "%s; treated as unknown", name, bad);
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "objspace: could not allocate a cache entry for "
                      "\"%V\" in objspace_cache_zone \"%V\" after eviction; "
                      "zone too small?", name, &omcf->shm_zone->shm.name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* id == NULL: a negative entry */

static ngx_int_t
ngx_http_objspace_store_pub_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_str_t *name, uint32_t hash, ngx_str_t *id,
    ngx_str_t *rules, uint64_t pubgen, ngx_uint_t space_serial,
    ngx_http_objspace_cache_mark_t *mark, time_t now)
{
    u_char                        *p;
    size_t                         size;
    ngx_uint_t                     n;
    ngx_queue_t                   *q;
    ngx_http_objspace_pub_node_t  *node, *old;

    size = offsetof(ngx_http_objspace_pub_node_t, data) + name->len;

    if (id) {
        size += id->len + rules->len;
    }

    node = ngx_slab_alloc_locked(shpool, size);

    for (n = 0; node == NULL && n < NGX_HTTP_OBJSPACE_EVICT_N; n++) {
        if (ngx_queue_empty(&sh->pub_lru)) {
            /* evicts spaces (or identities) */
            node = ngx_http_objspace_cache_alloc_locked(sh, shpool, size, 1);
            break;
        }

        q = ngx_queue_last(&sh->pub_lru);
        ngx_http_objspace_pub_free_locked(sh, shpool,
                      ngx_queue_data(q, ngx_http_objspace_pub_node_t, queue));

        node = ngx_slab_alloc_locked(shpool, size);
    }

    if (node == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(node, offsetof(ngx_http_objspace_pub_node_t, data));

    node->sn.node.key = hash;
    node->sn.str.data = node->data;
    node->sn.str.len = name->len;
    node->fetched = now;
    node->gen = (sh->seq == mark->seq) ? mark->gen : mark->gen - 1;
    node->epoch = sh->epoch;
    node->name_len = (u_short) name->len;

    p = ngx_cpymem(node->data, name->data, name->len);

    if (id) {
        node->id_len = (u_short) id->len;
        node->rules_len = (uint32_t) rules->len;
        node->pubgen = pubgen;
        node->space_serial = space_serial;
        p = ngx_cpymem(p, id->data, id->len);
        ngx_memcpy(p, rules->data, rules->len);

    } else {
        node->negative = 1;
    }

    old = ngx_http_objspace_pub_lookup_locked(sh, name, hash);
    if (old) {
        ngx_http_objspace_pub_free_locked(sh, shpool, old);
    }

    ngx_rbtree_insert(&sh->pub_tree, &node->sn.node);
    ngx_queue_insert_head(&sh->pub_lru, &node->queue);

    return NGX_OK;
}


/* called with the zone mutex held: pool allocations only */

static ngx_http_objspace_public_space_t *
ngx_http_objspace_pub_copy(ngx_pool_t *pool,
    ngx_http_objspace_pub_node_t *node, ngx_http_objspace_space_node_t *space)
{
    u_char                            *p;
    size_t                             size;
    ngx_str_t                          s;
    ngx_uint_t                         i;
    ngx_http_objspace_public_space_t  *ps;

    static ngx_uint_t  sfields[] = {
        NGX_HTTP_OBJSPACE_S_ID,
        NGX_HTTP_OBJSPACE_S_TENANT,
        NGX_HTTP_OBJSPACE_S_NAME,
        NGX_HTTP_OBJSPACE_S_BUCKET,
        NGX_HTTP_OBJSPACE_S_BACKEND_AK
    };

    static size_t  offsets[] = {
        offsetof(ngx_http_objspace_identity_t, space),
        offsetof(ngx_http_objspace_identity_t, tenant),
        offsetof(ngx_http_objspace_identity_t, name),
        offsetof(ngx_http_objspace_identity_t, bucket),
        offsetof(ngx_http_objspace_identity_t, backend_ak)
    };

    size = sizeof(ngx_http_objspace_public_space_t) + node->rules_len;

    for (i = 0; i < sizeof(sfields) / sizeof(sfields[0]); i++) {
        size += space->len[sfields[i]];
    }

    ps = ngx_pcalloc(pool, size);
    if (ps == NULL) {
        return NULL;
    }

    p = (u_char *) (ps + 1);

    for (i = 0; i < sizeof(sfields) / sizeof(sfields[0]); i++) {
        ngx_http_objspace_node_str(space->data, space->len, sfields[i], &s);

        ((ngx_str_t *) ((u_char *) &ps->id + offsets[i]))->data = p;
        ((ngx_str_t *) ((u_char *) &ps->id + offsets[i]))->len = s.len;
        p = ngx_cpymem(p, s.data, s.len);
    }

    /* logs name the space id where they would name an identity */
    ps->id.id = ps->id.space;

    ps->rules.data = p;
    ps->rules.len = node->rules_len;
    ngx_memcpy(p, node->data + node->name_len + node->id_len,
               node->rules_len);

    ps->gen = node->pubgen;
    ps->id.quota_bytes = space->quota;
    ps->id.space_disabled = space->disabled;
    ps->id.is_public = space->is_public;

    return ps;
}


static ngx_http_objspace_pub_node_t *
ngx_http_objspace_pub_lookup_locked(ngx_http_objspace_shctx_t *sh,
    ngx_str_t *name, uint32_t hash)
{
    return (ngx_http_objspace_pub_node_t *)
               ngx_str_rbtree_lookup(&sh->pub_tree, name, hash);
}


static void
ngx_http_objspace_pub_free_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_objspace_pub_node_t *node)
{
    ngx_queue_remove(&node->queue);
    ngx_rbtree_delete(&sh->pub_tree, &node->sn.node);
    ngx_slab_free_locked(shpool, node);
}


/* up to three dead entries: an older epoch, or expired negative ones */

void
ngx_http_objspace_pub_expire_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, time_t now, time_t negative_valid)
{
    ngx_uint_t                     n;
    ngx_queue_t                   *q;
    ngx_http_objspace_pub_node_t  *node;

    for (n = 0; n < 3 && !ngx_queue_empty(&sh->pub_lru); n++) {
        q = ngx_queue_last(&sh->pub_lru);
        node = ngx_queue_data(q, ngx_http_objspace_pub_node_t, queue);

        if (node->epoch == sh->epoch
            && !(node->negative && now - node->fetched >= negative_valid))
        {
            break;
        }

        ngx_http_objspace_pub_free_locked(sh, shpool, node);
    }
}


/*
 * "slug:{slug}" and "host:{host}": a public name was claimed, moved or
 * released (docs/redis-schema.md).  NGX_DECLINED for any other message.
 */

ngx_int_t
ngx_http_objspace_cache_invalidate_public(ngx_cycle_t *cycle, ngx_str_t *msg)
{
    size_t                          skip;
    uint32_t                        hash;
    ngx_str_t                       name;
    ngx_slab_pool_t                *shpool;
    ngx_http_objspace_shctx_t      *sh;
    ngx_http_objspace_pub_node_t   *node;
    ngx_http_objspace_main_conf_t  *omcf;
    u_char                          buf[NGX_HTTP_OBJSPACE_MAX_AK_LEN];

    if (msg->len > 5 && ngx_strncmp(msg->data, "slug:", 5) == 0) {
        skip = 5;
        buf[0] = 's';

    } else if (msg->len > 5 && ngx_strncmp(msg->data, "host:", 5) == 0) {
        skip = 5;
        buf[0] = 'h';

    } else {
        return NGX_DECLINED;
    }

    omcf = ngx_http_objspace_main_conf(cycle);

    sh = ngx_http_objspace_cache_zone(omcf, &shpool);
    if (sh == NULL || msg->len - skip + 2 > NGX_HTTP_OBJSPACE_MAX_AK_LEN) {
        return NGX_OK;
    }

    buf[1] = '/';
    ngx_memcpy(buf + 2, msg->data + skip, msg->len - skip);

    name.data = buf;
    name.len = msg->len - skip + 2;
    hash = ngx_crc32_short(name.data, name.len);

    ngx_shmtx_lock(&shpool->mutex);

    sh->seq++;

    node = ngx_http_objspace_pub_lookup_locked(sh, &name, hash);
    if (node) {
        ngx_http_objspace_pub_free_locked(sh, shpool, node);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}

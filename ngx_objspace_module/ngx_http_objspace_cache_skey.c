
/*
 * Copyright (C) objspace authors
 *
 * SigV4 signing keys of the identity cache: derived from the sealed
 * secrets of identities (current and previous) and spaces (backend) and
 * kept in two slots per secret in the cache's nodes
 * (ngx_http_objspace_cache_shm.h), so a key is derived once per (date,
 * region), not once per request.
 */


#include "ngx_http_objspace_cache_shm.h"


/* which secret a signing key is for: 0 current, 1 previous, or */
#define NGX_HTTP_OBJSPACE_KEY_BACKEND     2


static ngx_http_objspace_skey_t *ngx_http_objspace_skey_find(
    ngx_http_objspace_skey_t *slots, ngx_str_t *date, ngx_str_t *region);
static void ngx_http_objspace_skey_put(ngx_http_objspace_skey_t *slots,
    ngx_str_t *date, ngx_str_t *region, u_char *key);
static ngx_int_t ngx_http_objspace_cache_key(ngx_http_request_t *r,
    ngx_http_objspace_identity_t *id, ngx_uint_t kind, ngx_str_t *date,
    ngx_str_t *region, u_char *key);
static ngx_http_objspace_skey_t *ngx_http_objspace_cache_slots_locked(
    ngx_http_objspace_shctx_t *sh, ngx_str_t *name, uint32_t hash,
    ngx_uint_t kind, time_t now, ngx_str_t *sealed, ngx_uint_t *serial);
static ngx_int_t ngx_http_objspace_cache_derive(ngx_http_request_t *r,
    ngx_str_t *sealed, ngx_str_t *aad, ngx_str_t *date, ngx_str_t *region,
    u_char *key);


static ngx_str_t  ngx_http_objspace_s3_service = ngx_string("s3");


ngx_int_t
ngx_http_objspace_cache_signing_key(ngx_http_request_t *r,
    ngx_http_objspace_identity_t *id, ngx_uint_t which, ngx_str_t *date,
    ngx_str_t *region, u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    if (which > 1) {
        return NGX_ERROR;
    }

    return ngx_http_objspace_cache_key(r, id, which, date, region, key);
}


ngx_int_t
ngx_http_objspace_cache_backend_key(ngx_http_request_t *r,
    ngx_http_objspace_identity_t *id, ngx_str_t *date, ngx_str_t *region,
    u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN])
{
    return ngx_http_objspace_cache_key(r, id, NGX_HTTP_OBJSPACE_KEY_BACKEND,
                                       date, region, key);
}


/*
 * A signing key for the identity's current or previous secret, or for its
 * space's backend secret.  Takes the zone mutex twice: once to find a
 * cached key or copy the sealed secret out, once to store the derived key;
 * the secret is opened and the key derived (ngx_http_objspace_cache_derive)
 * with the mutex released.  A node replaced in between (new serial) does
 * not get the key.
 */

static ngx_int_t
ngx_http_objspace_cache_key(ngx_http_request_t *r,
    ngx_http_objspace_identity_t *id, ngx_uint_t kind, ngx_str_t *date,
    ngx_str_t *region, u_char *key)
{
    u_char                          *p;
    uint32_t                         hash;
    ngx_int_t                        rc;
    ngx_str_t                        sealed, s, aad, *name;
    ngx_uint_t                       serial, serial2;
    ngx_slab_pool_t                 *shpool;
    ngx_http_objspace_skey_t        *slots, *sk;
    ngx_http_objspace_shctx_t       *sh;
    ngx_http_objspace_main_conf_t   *omcf;
    u_char                           buf[NGX_HTTP_OBJSPACE_MAX_SEALED_LEN];
    u_char                           abuf[sizeof("ak-prev:") - 1
                                          + NGX_HTTP_OBJSPACE_MAX_AK_LEN];

    static char  *aad_prefix[] = { "ak:", "ak-prev:", "backend:" };
    static char  *what[] = { "current", "previous", "backend" };

    name = (kind == NGX_HTTP_OBJSPACE_KEY_BACKEND) ? &id->space
                                                   : &id->access_key;

    if (date->len != 8 || name->len > NGX_HTTP_OBJSPACE_MAX_AK_LEN) {
        return NGX_ERROR;
    }

    omcf = ngx_http_get_module_main_conf(r, ngx_http_objspace_module);

    sh = ngx_http_objspace_cache_zone(omcf, &shpool);
    if (sh == NULL) {
        return NGX_ERROR;
    }

    if (id->hashed) {
        hash = (kind == NGX_HTTP_OBJSPACE_KEY_BACKEND) ? id->space_hash
                                                       : id->ak_hash;

    } else {
        hash = ngx_crc32_short(name->data, name->len);
    }

    ngx_shmtx_lock(&shpool->mutex);

    slots = ngx_http_objspace_cache_slots_locked(sh, name, hash, kind,
                                                 ngx_time(), &s, &serial);

    if (slots == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);

        if (serial == 0) {
            /* no previous secret, or its grace period is over */
            return NGX_DECLINED;
        }

        /*
         * Invalidated (or evicted) between the lookup and now: the client
         * gets a retryable 503; a zone too small shows as eviction alerts.
         */

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "objspace %s \"%V\" left the cache during the "
                      "request (changed or evicted), answered 503",
                      kind == NGX_HTTP_OBJSPACE_KEY_BACKEND ? "space"
                                                            : "identity",
                      kind == NGX_HTTP_OBJSPACE_KEY_BACKEND ? &id->space
                                                            : &id->id);
        return NGX_BUSY;
    }

    sk = ngx_http_objspace_skey_find(slots, date, region);

    if (sk) {
        ngx_memcpy(key, sk->key, NGX_HTTP_OBJSPACE_SHA256_LEN);
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_OK;
    }

    /* the lengths were bounded when the node was stored */
    ngx_memcpy(buf, s.data, s.len);
    sealed.data = buf;
    sealed.len = s.len;

    ngx_shmtx_unlock(&shpool->mutex);

    p = ngx_cpymem(abuf, aad_prefix[kind], ngx_strlen(aad_prefix[kind]));
    p = ngx_cpymem(p, name->data, name->len);

    aad.data = abuf;
    aad.len = p - abuf;

    rc = ngx_http_objspace_cache_derive(r, &sealed, &aad, date, region, key);
    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "objspace: cannot open the %s secret of identity "
                      "\"%V\" (key file mismatch?)", what[kind], &id->id);
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&shpool->mutex);

    slots = ngx_http_objspace_cache_slots_locked(sh, name, hash, kind,
                                                 ngx_time(), &s, &serial2);

    if (slots && serial2 == serial) {
        ngx_http_objspace_skey_put(slots, date, region, key);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * The key slots and sealed secret (a borrowed pointer into the zone, valid
 * while the mutex is held) of an identity's current (kind 0) or previous
 * (kind 1) secret or a space's backend secret (kind 2).  NULL with
 * *serial = 0: no usable previous secret; NULL with *serial = 1: no entry.
 */

static ngx_http_objspace_skey_t *
ngx_http_objspace_cache_slots_locked(ngx_http_objspace_shctx_t *sh,
    ngx_str_t *name, uint32_t hash, ngx_uint_t kind, time_t now,
    ngx_str_t *sealed, ngx_uint_t *serial)
{
    ngx_http_objspace_ident_node_t  *node;
    ngx_http_objspace_space_node_t  *space;

    *serial = 1;

    if (kind == NGX_HTTP_OBJSPACE_KEY_BACKEND) {
        space = ngx_http_objspace_space_lookup_locked(sh, name, hash);
        if (space == NULL) {
            return NULL;
        }

        ngx_http_objspace_node_str(space->data, space->len,
                                   NGX_HTTP_OBJSPACE_S_SECRET, sealed);
        *serial = space->serial;

        return space->skey;
    }

    node = ngx_http_objspace_ident_lookup_locked(sh, name, hash);
    if (node == NULL || node->negative) {
        return NULL;
    }

    if (kind == 1 && (!node->has_prev || now >= node->prev_until)) {
        *serial = 0;
        return NULL;
    }

    ngx_http_objspace_node_str(node->data, node->len,
                               kind ? NGX_HTTP_OBJSPACE_I_PREV
                                    : NGX_HTTP_OBJSPACE_I_SECRET, sealed);
    *serial = node->serial;

    return node->skey[kind];
}


/*
 * Opens a sealed secret (AES-256-GCM, docs/redis-schema.md) and derives
 * the SigV4 signing key for (date, region, "s3"); the plaintext secret
 * lives only in this stack frame and is wiped before returning.
 */

static ngx_int_t
ngx_http_objspace_cache_derive(ngx_http_request_t *r, ngx_str_t *sealed,
    ngx_str_t *aad, ngx_str_t *date, ngx_str_t *region, u_char *key)
{
    ssize_t                         n;
    ngx_http_objspace_main_conf_t  *omcf;
    u_char                          secret[NGX_HTTP_OBJSPACE_MAX_SECRET_LEN];

    omcf = ngx_http_get_module_main_conf(r, ngx_http_objspace_module);

    if (!omcf->secret_key_set || sealed->len == 0) {
        return NGX_ERROR;
    }

    n = ngx_http_objspace_unseal(omcf->secret_key, sealed, aad, secret,
                                 sizeof(secret));
    if (n <= 0) {
        ngx_explicit_memzero(secret, sizeof(secret));
        return NGX_ERROR;
    }

    ngx_http_objspace_sigv4_signing_key(secret, n, date, region,
                                        &ngx_http_objspace_s3_service, key);

    ngx_explicit_memzero(secret, sizeof(secret));

    return NGX_OK;
}


static ngx_http_objspace_skey_t *
ngx_http_objspace_skey_find(ngx_http_objspace_skey_t *slots, ngx_str_t *date,
    ngx_str_t *region)
{
    ngx_uint_t  i;

    for (i = 0; i < 2; i++) {
        if (slots[i].set
            && ngx_memcmp(slots[i].date, date->data, 8) == 0
            && slots[i].region_len == region->len
            && ngx_memcmp(slots[i].region, region->data, region->len) == 0)
        {
            return &slots[i];
        }
    }

    return NULL;
}


/*
 * Two slots per secret: around midnight UTC clients sign with both days.
 * The slot with the older date (or an empty one) is replaced.
 */

static void
ngx_http_objspace_skey_put(ngx_http_objspace_skey_t *slots, ngx_str_t *date,
    ngx_str_t *region, u_char *key)
{
    ngx_http_objspace_skey_t  *sk;

    if (region->len > NGX_HTTP_OBJSPACE_REGION_LEN) {
        return;
    }

    if (!slots[0].set) {
        sk = &slots[0];

    } else if (!slots[1].set) {
        sk = &slots[1];

    } else {
        sk = (ngx_memcmp(slots[0].date, slots[1].date, 8) <= 0)
             ? &slots[0] : &slots[1];
    }

    ngx_memcpy(sk->date, date->data, 8);
    ngx_memcpy(sk->region, region->data, region->len);
    sk->region_len = (u_char) region->len;
    ngx_memcpy(sk->key, key, NGX_HTTP_OBJSPACE_SHA256_LEN);
    sk->set = 1;
}

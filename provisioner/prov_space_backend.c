
/*
 * objspace-provisioner: an Object Space against its storage backend:
 * drift check and repair (user, key, bucket, quota, suspension), the
 * backend deletions an interrupted space delete left behind
 * (tombstones), and the storage's usage figures.  The space records are
 * in prov_state.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "prov_state.h"


static int prov_space_open_backend(prov_ctx_t *ctx, prov_space_t *sp,
    prov_store_space_t *ss, prov_err_t *err);
static int prov_space_save_backend(prov_ctx_t *ctx, prov_space_t *sp,
    prov_store_space_t *ss, prov_err_t *err);


/* unseals the space's backend secret into ss (the caller wipes ss) */

static int
prov_space_open_backend(prov_ctx_t *ctx, prov_space_t *sp,
    prov_store_space_t *ss, prov_err_t *err)
{
    int         rc;
    char        aad[64];
    prov_buf_t  plain;

    prov_buf_init(&plain);
    snprintf(aad, sizeof(aad), "backend:%s", sp->id);

    rc = prov_unseal(&ctx->key, sp->backend_secret, aad, &plain, err);

    if (rc == PROV_OK) {
        if (plain.len >= sizeof(ss->backend_sk)) {
            prov_err_set(err, PROV_E_STATE, "backend secret too long");
            rc = PROV_ERR;

        } else {
            memcpy(ss->backend_sk, plain.data, plain.len + 1);
        }
    } else {
        prov_err_prefix(err, "space %s backend secret", sp->id);
    }

    prov_buf_wipe(&plain);

    return rc;
}


/* seals ss's (new) backend key into sp and publishes the space record */

static int
prov_space_save_backend(prov_ctx_t *ctx, prov_space_t *sp,
    prov_store_space_t *ss, prov_err_t *err)
{
    char   aad[64], *sealed;

    snprintf(aad, sizeof(aad), "backend:%s", sp->id);

    if (prov_seal(&ctx->key, ss->backend_sk, strlen(ss->backend_sk), aad,
                  &sealed, err) != PROV_OK)
    {
        return PROV_ERR;
    }

    free(sp->backend_secret);
    sp->backend_secret = sealed;
    snprintf(sp->backend_ak, sizeof(sp->backend_ak), "%s", ss->backend_ak);

    if (prov_redis_tx_begin(&ctx->redis, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_space_tx_hset(&ctx->redis, sp);
    prov_redis_tx_append(&ctx->redis, "PUBLISH %s space:%s", PROV_CHANNEL,
                         sp->id);

    return prov_redis_tx_exec(&ctx->redis, err);
}


int
prov_tombstones_retry(prov_ctx_t *ctx, size_t *done, size_t *left,
    prov_err_t *err)
{
    size_t              i;
    json_t             *t;
    prov_err_t          e;
    redisReply         *reply, *r2;
    json_error_t        jerr;
    prov_store_space_t  ss;

    *done = 0;
    *left = 0;

    if (prov_ctx_store(ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    reply = prov_redis_cmd(&ctx->redis, err, "HGETALL %s", PROV_K_TOMBSTONES);
    if (reply == NULL) {
        return PROV_ERR;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        t = json_loads(reply->element[i + 1]->str, 0, &jerr);

        memset(&ss, 0, sizeof(ss));
        ss.space_id = json_string_value(json_object_get(t, "id"));
        ss.tenant = json_string_value(json_object_get(t, "tenant"));
        ss.name = json_string_value(json_object_get(t, "name"));
        ss.bucket = json_string_value(json_object_get(t, "bucket"));

        if (ss.space_id == NULL || ss.bucket == NULL || ss.tenant == NULL
            || ss.name == NULL)
        {
            prov_log(PROV_LOG_ERR, "state", "tombstone %s is malformed",
                     reply->element[i]->str);
            json_decref(t);
            (*left)++;
            continue;
        }

        if (ctx->store.ops->delete_space(&ctx->store, &ss, &e) != PROV_OK) {
            prov_log(PROV_LOG_WARN, "state", "space %s: backend deletion "
                     "still failing: %s", ss.space_id, e.msg);
            json_decref(t);
            (*left)++;
            continue;
        }

        r2 = prov_redis_cmd(&ctx->redis, &e, "HDEL %s %s", PROV_K_TOMBSTONES,
                            reply->element[i]->str);
        if (r2) {
            freeReplyObject(r2);
        }

        prov_log(PROV_LOG_INFO, "state", "space %s: pending backend deletion "
                 "done", ss.space_id);

        json_decref(t);
        (*done)++;
    }

    freeReplyObject(reply);

    return PROV_OK;
}


int
prov_space_check(prov_ctx_t *ctx, prov_space_t *sp, prov_drift_t *d,
    prov_err_t *err)
{
    int                 enabled;
    char                a[32], b[32];
    prov_buf_t          w;
    prov_store_space_t  ss;

    memset(d, 0, sizeof(*d));

    if (prov_ctx_store(ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_store_space_from(&ss, sp);

    if (ctx->store.ops->check(&ctx->store, &ss, &d->chk, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_buf_init(&w);
    enabled = (strcmp(sp->status, "active") == 0);

    if (!d->chk.user_exists) {
        prov_buf_puts(&w, ", backend user missing");

    } else {
        if (!d->chk.key_ok) {
            prov_buf_puts(&w, ", backend key missing");
        }

        if (!d->chk.policy_ok) {
            prov_buf_puts(&w, ", backend policy missing");
        }

        if (d->chk.user_enabled != enabled) {
            prov_buf_printf(&w, ", backend user %s",
                            d->chk.user_enabled ? "active" : "suspended");
        }

        if (!d->chk.quota_ok) {
            prov_format_size(d->chk.quota_bytes, a, sizeof(a));
            prov_format_size(sp->quota_bytes, b, sizeof(b));
            prov_buf_printf(&w, ", quota %s != %s", a, b);
        }
    }

    if (!d->chk.bucket_exists) {
        prov_buf_puts(&w, ", bucket missing");

    } else if (!d->chk.bucket_owned) {
        prov_buf_printf(&w, ", bucket owned by \"%s\"", d->chk.owner);
    }

    if (w.len) {
        d->drift = 1;
        snprintf(d->what, sizeof(d->what), "%s", w.data + 2);
    }

    prov_buf_free(&w);

    return PROV_OK;
}


/*
 * Drift repair: recreate what is missing, in dependency order (user, key,
 * bucket, quota, status), then publish the space again if its backend key
 * changed.  A bucket owned by someone else is never touched.
 */

int
prov_space_repair(prov_ctx_t *ctx, prov_space_t *sp, prov_drift_t *d,
    prov_err_t *err)
{
    int                 rc, rekeyed, enabled;
    prov_store_t       *st;
    prov_store_space_t  ss;

    rc = PROV_ERR;
    rekeyed = 0;
    st = &ctx->store;

    if (!d->drift) {
        return PROV_OK;
    }

    if (d->chk.bucket_exists && !d->chk.bucket_owned && d->chk.user_exists) {
        prov_err_set(err, PROV_E_STATE, "bucket \"%s\" is owned by \"%s\": "
                     "not repairing", sp->bucket, d->chk.owner);
        return PROV_ERR;
    }

    prov_store_space_from(&ss, sp);
    enabled = ss.enabled;

    if (!d->chk.user_exists) {
        ss.backend_ak[0] = '\0';

        if (st->ops->create_user(st, &ss, err) != PROV_OK) {
            goto done;
        }

        rekeyed = 1;

    } else if (!d->chk.key_ok) {
        if (st->ops->new_key(st, &ss, err) != PROV_OK) {
            goto done;
        }

        rekeyed = 1;

    } else if (prov_space_open_backend(ctx, sp, &ss, err) != PROV_OK) {
        goto done;
    }

    if (!d->chk.bucket_exists
        && prov_store_create_bucket(st, &ss, err) != PROV_OK)
    {
        goto done;
    }

    if ((rekeyed || !d->chk.bucket_exists || !d->chk.policy_ok)
        && st->ops->bind_bucket
        && st->ops->bind_bucket(st, &ss, err) != PROV_OK)
    {
        goto done;
    }

    if ((rekeyed || !d->chk.quota_ok)
        && (sp->quota_bytes > 0 || d->chk.quota_bytes > 0)
        && st->ops->set_quota(st, &ss, err) != PROV_OK)
    {
        goto done;
    }

    if ((rekeyed && !enabled) || (d->chk.user_exists
                                  && d->chk.user_enabled != enabled))
    {
        if (st->ops->set_enabled(st, &ss, enabled, err) != PROV_OK) {
            goto done;
        }
    }

    if (rekeyed && prov_space_save_backend(ctx, sp, &ss, err) != PROV_OK) {
        goto done;
    }

    prov_log(PROV_LOG_INFO, "state", "space %s: repaired drift (%s)", sp->id,
             d->what);

    rc = PROV_OK;

done:

    prov_store_space_wipe(&ss);

    if (rc != PROV_OK) {
        prov_err_prefix(err, "space %s: repairing drift", sp->id);
    }

    return rc;
}


int
prov_space_usage(prov_ctx_t *ctx, prov_space_t *sp, int64_t *bytes,
    prov_err_t *err)
{
    prov_store_usage_t  u;

    if (prov_space_stats(ctx, sp, &u, err) != PROV_OK) {
        return PROV_ERR;
    }

    *bytes = u.bytes;

    return PROV_OK;
}


int
prov_space_stats(prov_ctx_t *ctx, prov_space_t *sp, prov_store_usage_t *u,
    prov_err_t *err)
{
    prov_store_space_t  ss;

    if (prov_ctx_store(ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_store_space_from(&ss, sp);

    return ctx->store.ops->usage(&ctx->store, &ss, u, err);
}


/*
 * objspace-provisioner: S3 identities (access keys) kept in Redis: create,
 * get, list, revoke, rotate (with a grace period for the previous secret)
 * and delete, each change in one MULTI/EXEC with its audit event.  The
 * records' encoding and the spaces are in prov_state.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov_state.h"
#include "prov_audit.h"




int
prov_key_create(prov_ctx_t *ctx, prov_space_t *sp, const prov_key_req_t *req,
    prov_ident_t *id, char *secret, prov_err_t *err)
{
    int          rc, tries;
    char         key[128], aad[64];
    redisReply  *reply;

    memset(id, 0, sizeof(*id));
    secret[0] = '\0';
    rc = PROV_ERR;

    if (prov_key_req_check(req, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (strcmp(sp->status, "active") != 0) {
        prov_err_set(err, PROV_E_STATE, "space %s is %s: enable it before "
                     "creating keys", sp->id, sp->status);
        return PROV_ERR;
    }

    strcpy(id->space, sp->id);
    strcpy(id->tenant, sp->tenant);
    strcpy(id->name, req->name);
    strcpy(id->mode, req->mode);
    strcpy(id->prefix, req->prefix);
    strcpy(id->status, "active");
    id->immutable = req->immutable;
    id->created_at = prov_now();
    id->expires_at = req->expires_in ? id->created_at + req->expires_in : 0;

    if (prov_gen_id("key_", id->id, sizeof(id->id), err) != PROV_OK) {
        return PROV_ERR;
    }

    for (tries = 0; /* void */ ; tries++) {
        if (prov_gen_access_key_id("RS3", id->access_key_id, err) != PROV_OK) {
            return PROV_ERR;
        }

        snprintf(key, sizeof(key), PROV_K_AK, id->access_key_id);

        reply = prov_redis_cmd(&ctx->redis, err, "EXISTS %s", key);
        if (reply == NULL) {
            return PROV_ERR;
        }

        rc = (int) reply->integer;
        freeReplyObject(reply);

        if (rc == 0) {
            break;
        }

        if (tries > 3) {
            prov_err_set(err, PROV_E_STATE, "access key id collisions");
            return PROV_ERR;
        }
    }

    rc = PROV_ERR;

    if (prov_gen_secret(secret, err) != PROV_OK) {
        goto done;
    }

    snprintf(aad, sizeof(aad), "ak:%s", id->access_key_id);

    if (prov_seal(&ctx->key, secret, strlen(secret), aad, &id->secret, err)
        != PROV_OK)
    {
        goto done;
    }

    /* the space must still be active when the identity lands */

    snprintf(key, sizeof(key), PROV_K_SPACE, sp->id);

    reply = prov_redis_cmd(&ctx->redis, err, "WATCH %s", key);
    if (reply == NULL) {
        goto done;
    }

    freeReplyObject(reply);

    reply = prov_redis_cmd(&ctx->redis, err, "HGET %s status", key);
    if (reply == NULL) {
        goto done;
    }

    if (reply->type != REDIS_REPLY_STRING || strcmp(reply->str, "active")) {
        freeReplyObject(reply);
        reply = prov_redis_cmd(&ctx->redis, err, "UNWATCH");
        if (reply) {
            freeReplyObject(reply);
        }

        prov_err_set(err, PROV_E_STATE, "space %s is no longer active",
                     sp->id);
        goto done;
    }

    freeReplyObject(reply);

    if (prov_redis_tx_begin(&ctx->redis, err) != PROV_OK) {
        goto done;
    }

    prov_ident_tx_hset(&ctx->redis, id);
    prov_redis_tx_append(&ctx->redis, "SADD " PROV_K_IDX_KEYS " %s", sp->id,
                         id->access_key_id);
    prov_redis_tx_append(&ctx->redis, "SET " PROV_K_KEYID " %s", id->id,
                         id->access_key_id);
    prov_redis_tx_append(&ctx->redis, "PUBLISH %s ak:%s", PROV_CHANNEL,
                         id->access_key_id);
    prov_audit_tx(&ctx->redis, ctx->actor, "key.created", sp->tenant, sp->id,
                  sp->bucket, id->id, id->mode);

    if (prov_redis_tx_exec(&ctx->redis, err) != PROV_OK) {
        goto done;
    }

    prov_log(PROV_LOG_INFO, "state", "identity %s created in space %s "
             "(mode %s)", id->id, sp->id, id->mode);

    rc = PROV_OK;

done:

    if (rc != PROV_OK) {
        prov_memzero(secret, PROV_SECRET_LEN + 1);
        prov_ident_free(id);
    }

    return rc;
}


int
prov_key_get(prov_ctx_t *ctx, const char *ref, prov_ident_t *id,
    prov_err_t *err)
{
    int          rc;
    char         ak[64], key[128];
    redisReply  *reply;

    memset(id, 0, sizeof(*id));

    if (strlen(ref) > 40) {
        goto notfound;
    }

    if (strncmp(ref, "key_", 4) == 0) {
        snprintf(key, sizeof(key), PROV_K_KEYID, ref);

        reply = prov_redis_cmd(&ctx->redis, err, "GET %s", key);
        if (reply == NULL) {
            return PROV_ERR;
        }

        if (reply->type != REDIS_REPLY_STRING) {
            freeReplyObject(reply);
            goto notfound;
        }

        snprintf(ak, sizeof(ak), "%s", reply->str);
        freeReplyObject(reply);

    } else {
        snprintf(ak, sizeof(ak), "%s", ref);
    }

    if (strlen(ak) > PROV_ACCESS_KEY_LEN) {
        goto notfound;
    }

    snprintf(key, sizeof(key), PROV_K_AK, ak);

    reply = prov_redis_cmd(&ctx->redis, err, "HGETALL %s", key);
    if (reply == NULL) {
        return PROV_ERR;
    }

    if (reply->elements == 0) {
        freeReplyObject(reply);
        goto notfound;
    }

    rc = prov_ident_parse(reply, id, err);
    freeReplyObject(reply);

    if (rc == PROV_OK) {
        memcpy(id->access_key_id, ak, strlen(ak) + 1);
    }

    return rc;

notfound:

    prov_err_set(err, PROV_E_NOTFOUND, "unknown key \"%s\" (use a key id or "
                 "an access key id)", ref);
    return PROV_ERR;
}


int
prov_key_ids(prov_ctx_t *ctx, const char *space_id, char ***ids, size_t *n,
    prov_err_t *err)
{
    char  key[64];

    snprintf(key, sizeof(key), PROV_K_IDX_KEYS, space_id);

    return prov_smembers(ctx, key, ids, n, err);
}


int
prov_key_revoke(prov_ctx_t *ctx, prov_ident_t *id, prov_err_t *err)
{
    char  key[64];

    snprintf(key, sizeof(key), PROV_K_AK, id->access_key_id);

    if (prov_redis_tx_begin(&ctx->redis, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_redis_tx_append(&ctx->redis, "HSET %s status revoked", key);
    prov_redis_tx_append(&ctx->redis, "HDEL %s secret_prev "
                         "secret_prev_until", key);
    prov_redis_tx_append(&ctx->redis, "PUBLISH %s ak:%s", PROV_CHANNEL,
                         id->access_key_id);
    prov_audit_tx(&ctx->redis, ctx->actor, "key.revoked", id->tenant, id->space,
                  NULL, id->id, NULL);

    if (prov_redis_tx_exec(&ctx->redis, err) != PROV_OK) {
        return PROV_ERR;
    }

    strcpy(id->status, "revoked");
    id->secret_prev_until = 0;

    prov_log(PROV_LOG_INFO, "state", "identity %s revoked", id->id);

    return PROV_OK;
}


/*
 * Same access key id, new secret.  With a grace period the old secret is
 * re-sealed under the "ak-prev:" AAD into secret_prev, valid until
 * secret_prev_until; a rotation inside a grace period drops the older one.
 */

int
prov_key_rotate(prov_ctx_t *ctx, prov_ident_t *id, int64_t grace,
    char *secret, prov_err_t *err)
{
    int          rc;
    char         key[64], aad[64], *sealed, *prev;
    int64_t      until;
    prov_buf_t   old;

    rc = PROV_ERR;
    sealed = NULL;
    prev = NULL;
    prov_buf_init(&old);
    secret[0] = '\0';

    if (strcmp(id->status, "active") != 0) {
        prov_err_set(err, PROV_E_STATE, "key %s is %s: it cannot be rotated",
                     id->id, id->status);
        return PROV_ERR;
    }

    if (grace < 0 || grace > PROV_GRACE_MAX) {
        prov_err_set(err, PROV_E_INVAL, "grace period must be at most 7d");
        return PROV_ERR;
    }

    if (prov_gen_secret(secret, err) != PROV_OK) {
        goto done;
    }

    snprintf(aad, sizeof(aad), "ak:%s", id->access_key_id);

    if (prov_seal(&ctx->key, secret, strlen(secret), aad, &sealed, err)
        != PROV_OK)
    {
        goto done;
    }

    until = 0;

    if (grace) {
        if (prov_unseal(&ctx->key, id->secret, aad, &old, err) != PROV_OK) {
            prov_err_prefix(err, "key %s current secret", id->id);
            goto done;
        }

        snprintf(aad, sizeof(aad), "ak-prev:%s", id->access_key_id);

        if (prov_seal(&ctx->key, old.data, old.len, aad, &prev, err)
            != PROV_OK)
        {
            goto done;
        }

        until = prov_now() + grace;
    }

    snprintf(key, sizeof(key), PROV_K_AK, id->access_key_id);

    if (prov_redis_tx_begin(&ctx->redis, err) != PROV_OK) {
        goto done;
    }

    prov_redis_tx_append(&ctx->redis, "HSET %s secret %s", key, sealed);

    if (prev) {
        prov_redis_tx_append(&ctx->redis, "HSET %s secret_prev %s "
                             "secret_prev_until %lld", key, prev,
                             (long long) until);

    } else {
        prov_redis_tx_append(&ctx->redis, "HDEL %s secret_prev "
                             "secret_prev_until", key);
    }

    prov_redis_tx_append(&ctx->redis, "PUBLISH %s ak:%s", PROV_CHANNEL,
                         id->access_key_id);
    prov_audit_tx(&ctx->redis, ctx->actor, "key.rotated", id->tenant, id->space,
                  NULL, id->id, grace ? "with grace period" : NULL);

    if (prov_redis_tx_exec(&ctx->redis, err) != PROV_OK) {
        goto done;
    }

    free(id->secret);
    id->secret = sealed;
    sealed = NULL;
    free(id->secret_prev);
    id->secret_prev = prev;
    prev = NULL;
    id->secret_prev_until = until;

    prov_log(PROV_LOG_INFO, "state", "identity %s rotated (grace %llds)",
             id->id, (long long) grace);

    rc = PROV_OK;

done:

    if (rc != PROV_OK) {
        prov_memzero(secret, PROV_SECRET_LEN + 1);
    }

    prov_buf_wipe(&old);
    free(sealed);
    free(prev);

    return rc;
}


int
prov_key_delete(prov_ctx_t *ctx, prov_ident_t *id, prov_err_t *err)
{
    if (prov_redis_tx_begin(&ctx->redis, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_redis_tx_append(&ctx->redis, "DEL " PROV_K_AK, id->access_key_id);
    prov_redis_tx_append(&ctx->redis, "SREM " PROV_K_IDX_KEYS " %s",
                         id->space, id->access_key_id);
    prov_redis_tx_append(&ctx->redis, "DEL " PROV_K_KEYID, id->id);
    prov_redis_tx_append(&ctx->redis, "PUBLISH %s ak:%s", PROV_CHANNEL,
                         id->access_key_id);
    prov_redis_tx_append(&ctx->redis, "HDEL %s %s", PROV_K_LASTUSED, id->id);
    prov_redis_tx_append(&ctx->redis, "SREM %s %s", PROV_K_EXPIRED, id->id);
    prov_audit_tx(&ctx->redis, ctx->actor, "key.deleted", id->tenant, id->space,
                  NULL, id->id, NULL);

    if (prov_redis_tx_exec(&ctx->redis, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_log(PROV_LOG_INFO, "state", "identity %s deleted", id->id);

    return PROV_OK;
}


/*
 * objspace-provisioner: the writes of applying a RustShare change set
 * (prov_rs_apply.c validates and prepares it first): backend (new spaces,
 * quota, enable), then Redis (pipelined MULTI/EXEC batches, each record
 * with its digest, its invalidation and its audit events), then the space
 * deletions.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov_rs_apply.h"
#include "prov_audit.h"
#include "prov_push.h"
#include "prov_usage.h"


/* the actor of the audit events of what a sync applies */
#define PROV_RS_ACTOR  "rustshare"


/* what the audit events of one write share */
typedef struct {
    prov_redis_t      *r;
    prov_audit_ctl_t   tpl;         /* actor, revision (and the id) */
    prov_idgen_t       ids;         /* event ids, drawn in bulk */
} prov_rs_evs_t;


static void prov_rs_event(prov_rs_evs_t *es, const char *op,
    const char *tenant, const char *space, const char *bucket,
    const char *identity, const char *detail);
static void prov_rs_space_events(prov_rs_evs_t *es, prov_rs_item_t *it,
    prov_space_t *sp);
static void prov_rs_ident_events(prov_rs_evs_t *es, prov_rs_item_t *it,
    prov_ident_t *id);
static void prov_rs_delete_tx(prov_redis_t *r, const prov_space_t *sp,
    char **ids, size_t n, void *data);


int
prov_rs_leader(prov_rs_t *rs, prov_err_t *err)
{
    if (rs->leader && !rs->leader(rs->leader_data)) {
        prov_err_set(err, PROV_E_BUSY, "lost the leader lease: not writing");
        return PROV_ERR;
    }

    return PROV_OK;
}


/*
 * Backend side first (an identity is published only after its space's
 * backend exists): new spaces get their user, bucket and quota; changed
 * spaces their quota, and enabling happens before Redis.  A failure marks
 * the space (and so its identities) failed: not published this pass.
 */

int
prov_rs_backend(prov_rs_t *rs, prov_rs_set_t *set, prov_rs_result_t *res)
{
    int                 enabled;
    char                aad[64];
    size_t              i;
    prov_err_t          e;
    prov_space_t        sp;
    prov_store_t       *st;
    prov_rs_item_t     *it;
    prov_store_space_t  ss;

    st = &rs->ctx->store;

    for (i = 0; i < set->nsp; i++) {
        it = &set->sp[i];

        if (it->obj == NULL || it->skip) {
            continue;
        }

        (void) prov_rs_space_parse(rs, it->obj, &sp, &e);
        enabled = (strcmp(sp.status, "active") == 0);

        memset(&ss, 0, sizeof(ss));
        ss.space_id = sp.id;
        ss.tenant = sp.tenant;
        ss.name = sp.name;
        ss.bucket = sp.bucket;
        /* the storage's own quota a little above the gateway's */
        ss.quota_bytes = prov_usage_storage_quota(sp.quota_bytes);
        ss.enabled = 1;

        if (it->is_new) {
            if (prov_store_create_space(st, &ss, &e) != PROV_OK
                || (!enabled && st->ops->set_enabled(st, &ss, 0, &e)
                                != PROV_OK))
            {
                goto failed;
            }

            it->cur = calloc(1, sizeof(prov_space_t));
            if (it->cur == NULL) {
                prov_err_set(&e, PROV_E_SYS, "out of memory");
                goto failed;
            }

            snprintf(aad, sizeof(aad), "backend:%s", sp.id);
            snprintf(it->cur->backend_ak, sizeof(it->cur->backend_ak), "%s",
                     ss.backend_ak);
            it->cur->created_at = sp.created_at;

            if (prov_seal(&rs->ctx->key, ss.backend_sk,
                          strlen(ss.backend_sk), aad,
                          &it->cur->backend_secret, &e) != PROV_OK)
            {
                goto failed;
            }

            prov_store_space_wipe(&ss);
            continue;
        }

        snprintf(ss.backend_ak, sizeof(ss.backend_ak), "%s",
                 it->cur->backend_ak);

        if (sp.quota_bytes != it->cur->quota_bytes
            && st->ops->set_quota(st, &ss, &e) != PROV_OK)
        {
            goto failed;
        }

        if (enabled && strcmp(it->cur->status, "active") != 0
            && st->ops->set_enabled(st, &ss, 1, &e) != PROV_OK)
        {
            goto failed;
        }

        it->disable = (!enabled && strcmp(it->cur->status, "active") == 0);

        prov_store_space_wipe(&ss);
        continue;

    failed:

        prov_store_space_wipe(&ss);
        prov_log(PROV_LOG_ERR, "rustshare", "space %s: backend: %s (retried "
                 "next pass)", it->id, e.msg);
        it->failed = 1;
        res->failed++;
    }

    return PROV_OK;
}


/*
 * Appends a control event to the transaction being built (a batch's
 * MULTI/EXEC): the event lands with the change or not at all.
 */

static void
prov_rs_event(prov_rs_evs_t *es, const char *op, const char *tenant,
    const char *space, const char *bucket, const char *identity,
    const char *detail)
{
    char        id[24];
    prov_err_t  e;

    if (prov_idgen_next(&es->ids, "ctl-", id, sizeof(id), &e) != PROV_OK) {
        es->r->failed = 1;          /* the transaction fails: no change */
        return;
    }

    es->tpl.id = id;
    prov_audit_tx_as(es->r, &es->tpl, op, tenant, space, bucket, identity,
                     detail);
    es->tpl.id = NULL;
}


/*
 * The events of a space upsert, with the CLI's names and details: a new
 * space is space.created (detail: its name; space.disabled too if it
 * comes disabled); a changed one gets one event per thing that changed
 * against its record (it->cur): space.enabled / space.disabled,
 * quota.changed, public.changed, and space.changed for the rest (name,
 * purpose, tenant; detail: which).  Nothing when none of that changed.
 */

static void
prov_rs_space_events(prov_rs_evs_t *es, prov_rs_item_t *it, prov_space_t *sp)
{
    int            active;
    char           detail[128];
    size_t         n;
    prov_space_t  *cur;

    active = (strcmp(sp->status, "active") == 0);

    if (it->is_new) {
        prov_rs_event(es, "space.created", sp->tenant, sp->id, sp->bucket,
                      NULL, sp->name);

        if (!active) {
            prov_rs_event(es, "space.disabled", sp->tenant, sp->id,
                          sp->bucket, NULL, NULL);
        }

        return;
    }

    cur = it->cur;

    if (strcmp(cur->status, sp->status) != 0) {
        prov_rs_event(es, active ? "space.enabled" : "space.disabled",
                      sp->tenant, sp->id, sp->bucket, NULL, NULL);
    }

    if (cur->quota_bytes != sp->quota_bytes) {
        snprintf(detail, sizeof(detail), "quota_bytes %lld",
                 (long long) sp->quota_bytes);
        prov_rs_event(es, "quota.changed", sp->tenant, sp->id,
                      sp->bucket, NULL, detail);
    }

    if (strcmp(cur->visibility, sp->visibility) != 0) {
        prov_rs_event(es, "public.changed", sp->tenant, sp->id,
                      sp->bucket, NULL, sp->visibility);
    }

    n = 0;
    detail[0] = '\0';

    if (strcmp(cur->name, sp->name) != 0) {
        n += snprintf(detail + n, sizeof(detail) - n, "%sname %s",
                      n ? ", " : "", sp->name);
    }

    if (strcmp(cur->purpose, sp->purpose) != 0) {
        n += snprintf(detail + n, sizeof(detail) - n, "%spurpose %s",
                      n ? ", " : "", sp->purpose);
    }

    if (strcmp(cur->tenant, sp->tenant) != 0) {
        n += snprintf(detail + n, sizeof(detail) - n, "%stenant", n ? ", "
                                                                    : "");
    }

    if (n) {
        prov_rs_event(es, "space.changed", sp->tenant, sp->id,
                      sp->bucket, NULL, detail);
    }
}


/*
 * The events of an identity upsert: key.created (detail: its
 * permissions, as the CLI's; key.revoked too if it comes revoked) when it
 * has no record yet, else one per change prepare found (it->ev):
 * key.revoked, key.reactivated, key.rotated (another secret; "with grace
 * period" when a previous secret stays valid), expiry.changed (detail:
 * expires_at, UTC, or "never"), and key.changed for the rest (name,
 * permissions, prefix, immutable, a grace period set or ended; detail:
 * which).  Never a secret or an access key id.
 */

static void
prov_rs_ident_events(prov_rs_evs_t *es, prov_rs_item_t *it, prov_ident_t *id)
{
    char          detail[128], t[32];
    size_t        n;
    unsigned      ev;
    const char   *sp;

    sp = id->space;

    if (it->owner == NULL) {
        prov_rs_event(es, "key.created", id->tenant, sp, it->bucket,
                      id->id, id->mode);

        if (strcmp(id->status, "revoked") == 0) {
            prov_rs_event(es, "key.revoked", id->tenant, sp, NULL,
                          id->id, NULL);
        }

        return;
    }

    ev = it->ev;

    if (ev & PROV_RS_EV_REVOKED) {
        prov_rs_event(es, "key.revoked", id->tenant, sp, NULL, id->id,
                      NULL);
    }

    if (ev & PROV_RS_EV_ACTIVE) {
        prov_rs_event(es, "key.reactivated", id->tenant, sp, NULL,
                      id->id, NULL);
    }

    if (ev & PROV_RS_EV_ROTATED) {
        prov_rs_event(es, "key.rotated", id->tenant, sp, NULL, id->id,
                      it->sealed_prev ? "with grace period" : NULL);
    }

    if (ev & PROV_RS_EV_EXPIRY) {
        if (id->expires_at) {
            prov_format_time(id->expires_at, t, sizeof(t));

        } else {
            strcpy(t, "never");
        }

        snprintf(detail, sizeof(detail), "expires_at %s", t);
        prov_rs_event(es, "expiry.changed", id->tenant, sp, NULL,
                      id->id, detail);
    }

    n = 0;
    detail[0] = '\0';

    if (ev & PROV_RS_EV_NAME) {
        n += snprintf(detail + n, sizeof(detail) - n, "name");
    }

    if (ev & PROV_RS_EV_MODE) {
        n += snprintf(detail + n, sizeof(detail) - n, "%spermissions %s",
                      n ? ", " : "", id->mode);
    }

    if (ev & PROV_RS_EV_PREFIX) {
        n += snprintf(detail + n, sizeof(detail) - n, "%sprefix",
                      n ? ", " : "");
    }

    if (ev & PROV_RS_EV_IMMUTABLE) {
        n += snprintf(detail + n, sizeof(detail) - n, "%simmutable %s",
                      n ? ", " : "", id->immutable ? "true" : "false");
    }

    if (ev & PROV_RS_EV_PREV) {
        n += snprintf(detail + n, sizeof(detail) - n, "%s%s",
                      n ? ", " : "", it->sealed_prev ? "grace period"
                                                     : "grace period ended");
    }

    if (n) {
        prov_rs_event(es, "key.changed", id->tenant, sp, NULL, id->id,
                      detail);
    }
}


/*
 * Redis: space records, then identities, then identity deletions, in
 * pipelined MULTI/EXEC batches; every record is written with its managed
 * digest and its invalidation in the same transaction (the batch's digests
 * as one HSET / HDEL of the managed hash).  A batch is sent and the next
 * one built while Redis executes it; each pass ends with every reply read,
 * so spaces are in before their identities.
 */

int
prov_rs_write(prov_rs_t *rs, prov_rs_set_t *set, prov_rs_result_t *res,
    prov_err_t *err)
{
    int              pass, queued, rc;
    char             key[96], key2[96], until_s[24], rev[24], *ak, *sp_id;
    char           (*vals)[PROV_RS_MANAGED_LEN];
    size_t           i, n, objs, nm, nx;
    json_t          *sec, *prev, *failed;
    int64_t          until;
    prov_err_t       e;
    prov_space_t     sp;
    prov_ident_t     id;
    prov_redis_t    *r;
    prov_rs_evs_t    es;
    prov_rs_item_t  *it, *items;
    const char     **mv, **xv;

    r = &rs->ctx->redis;
    failed = NULL;
    rc = PROV_ERR;
    snprintf(rev, sizeof(rev), "%lld", (long long) set->revision);
    memset(&es, 0, sizeof(es));
    es.r = r;
    es.tpl.actor = PROV_RS_ACTOR;
    es.tpl.revision = rev;

    /* per batch: the managed hash's fields and values, new space ids */
    vals = malloc(PROV_RS_BATCH * sizeof(*vals));
    mv = malloc((2 + 2 * PROV_RS_BATCH) * sizeof(*mv));
    xv = malloc((2 + PROV_RS_BATCH) * sizeof(*xv));

    if (vals == NULL || mv == NULL || xv == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    for (i = 0; i < set->nsp; i++) {
        if (set->sp[i].failed) {
            if (failed == NULL) {
                failed = json_object();
            }

            json_object_set_new(failed, set->sp[i].id, json_true());
        }
    }

    for (pass = 0; pass < 3; pass++) {
        items = pass == 0 ? set->sp : set->id;
        n = pass == 0 ? set->nsp : set->nid;
        queued = 0;
        objs = 0;
        nm = 2;
        nx = 2;
        mv[0] = pass == 2 ? "HDEL" : "HSET";
        mv[1] = pass == 0 ? PROV_K_RS_SPACES : PROV_K_RS_IDENTS;
        xv[0] = "SADD";
        xv[1] = PROV_K_IDX_SPACES;

        for (i = 0; i <= n; i++) {

            if (queued && (i == n || objs >= PROV_RS_BATCH)) {
                if (nm > 2) {
                    prov_redis_tx_argv(r, (int) nm, mv, NULL);
                }

                if (nx > 2) {
                    prov_redis_tx_argv(r, (int) nx, xv, NULL);
                }

                /* one batch in Redis's hands while the next is built */

                if (prov_rs_leader(rs, err) != PROV_OK
                    || prov_redis_tx_send(r, err) != PROV_OK
                    || (r->nsent > 1 && prov_redis_tx_wait(r, err)
                                        != PROV_OK))
                {
                    goto done;
                }

                queued = 0;
                objs = 0;
                nm = 2;
                nx = 2;
            }

            if (i == n) {
                break;
            }

            it = &items[i];

            if (it->skip || it->failed
                || (pass < 2 && it->obj == NULL)
                || (pass == 2 && it->obj != NULL))
            {
                continue;
            }

            /* no identity before its space's backend exists */

            if (pass == 1 && failed
                && json_object_get(failed, json_string_value(
                       json_object_get(it->obj, "space_id"))))
            {
                it->failed = 1;
                res->failed++;
                continue;
            }

            if (!queued) {
                if (prov_redis_tx_begin(r, err) != PROV_OK) {
                    goto done;
                }

                queued = 1;
            }

            objs++;

            if (pass == 0) {
                (void) prov_rs_space_parse(rs, it->obj, &sp, &e);
                snprintf(sp.backend_ak, sizeof(sp.backend_ak), "%s",
                         it->cur->backend_ak);
                sp.backend_secret = it->cur->backend_secret;

                if (!it->is_new) {
                    sp.created_at = it->cur->created_at;
                }

                prov_space_tx_hset(r, &sp);

                if (it->is_new) {
                    snprintf(key, sizeof(key), PROV_K_BUCKET, sp.bucket);
                    prov_redis_tx_strs(r, 3, "SET", key, it->id);
                    xv[nx++] = it->id;
                }

                mv[nm++] = it->id;
                mv[nm++] = it->digest;

                snprintf(key, sizeof(key), "space:%s", it->id);
                prov_redis_tx_strs(r, 3, "PUBLISH", PROV_CHANNEL, key);
                prov_rs_space_events(&es, it, &sp);
                res->spaces_written++;
                continue;
            }

            if (pass == 1) {
                (void) prov_rs_ident_parse(it->obj, &id, &sec, &prev, &until,
                                           &e);
                snprintf(id.tenant, sizeof(id.tenant), "%s",
                         it->tenant ? it->tenant : "");
                id.secret = it->sealed;

                prov_ident_tx_hset(r, &id);

                snprintf(key, sizeof(key), PROV_K_AK, id.access_key_id);

                if (it->sealed_prev) {
                    snprintf(until_s, sizeof(until_s), "%lld",
                             (long long) until);
                    prov_redis_tx_strs(r, 6, "HSET", key, "secret_prev",
                                       it->sealed_prev, "secret_prev_until",
                                       until_s);

                } else if (it->owner) {
                    /* an existing record may hold an older grace period */
                    prov_redis_tx_strs(r, 4, "HDEL", key, "secret_prev",
                                       "secret_prev_until");
                }

                snprintf(key2, sizeof(key2), PROV_K_IDX_KEYS, id.space);
                prov_redis_tx_strs(r, 3, "SADD", key2, id.access_key_id);
                snprintf(key2, sizeof(key2), PROV_K_KEYID, id.id);
                prov_redis_tx_strs(r, 3, "SET", key2, id.access_key_id);

                snprintf(vals[objs - 1], sizeof(vals[0]), "%s %s %s",
                         id.space, id.access_key_id, it->digest);
                mv[nm++] = it->id;
                mv[nm++] = vals[objs - 1];

                if (it->ev & PROV_RS_EV_EXPIRY) {
                    /* the daemon reports the new expiry when it comes */
                    prov_redis_tx_strs(r, 3, "SREM", PROV_K_EXPIRED, id.id);
                }

                snprintf(key2, sizeof(key2), "ak:%s", id.access_key_id);
                prov_redis_tx_strs(r, 3, "PUBLISH", PROV_CHANNEL, key2);
                prov_rs_ident_events(&es, it, &id);
                res->identities_written++;
                continue;
            }

            /* pass 2: identity deletion; managed = "space ak digest" */

            mv[nm++] = it->id;

            snprintf(vals[objs - 1], sizeof(vals[0]), "%s", it->managed);
            sp_id = vals[objs - 1];
            ak = strchr(sp_id, ' ');

            if (ak == NULL || strchr(ak + 1, ' ') == NULL) {
                continue;
            }

            *ak++ = '\0';
            *strchr(ak, ' ') = '\0';

            snprintf(key, sizeof(key), PROV_K_AK, ak);
            prov_redis_tx_strs(r, 2, "DEL", key);
            snprintf(key, sizeof(key), PROV_K_IDX_KEYS, sp_id);
            prov_redis_tx_strs(r, 3, "SREM", key, ak);
            snprintf(key, sizeof(key), PROV_K_KEYID, it->id);
            prov_redis_tx_strs(r, 2, "DEL", key);
            snprintf(key, sizeof(key), "ak:%s", ak);
            prov_redis_tx_strs(r, 3, "PUBLISH", PROV_CHANNEL, key);
            prov_redis_tx_strs(r, 3, "HDEL", PROV_K_LASTUSED, it->id);
            prov_redis_tx_strs(r, 3, "SREM", PROV_K_EXPIRED, it->id);

            if (it->tenant) {
                /* its record was there (prepare read its tenant) */
                prov_rs_event(&es, "key.deleted", it->tenant, sp_id, NULL,
                              it->id, NULL);
            }

            res->identities_deleted++;
        }

        if (prov_redis_tx_drain(r, err) != PROV_OK) {
            goto done;
        }
    }

    rc = PROV_OK;

done:

    if (rc != PROV_OK) {
        /* a batch begun but not sent is dropped; the ones sent are read */
        if (r->queued) {
            r->failed = 1;
            (void) prov_redis_tx_send(r, &e);
        }

        (void) prov_redis_tx_drain(r, &e);
    }

    json_decref(failed);
    free(vals);
    free(mv);
    free(xv);

    return rc;
}


/*
 * Inside a RustShare space's deletion transaction (prov_space_delete_ex):
 * the managed digests of the space and of its identities (ids, from its
 * key records: the space's own keys, not the whole managed hash) go with
 * it, and the space stays RustShare's for the audit shipper
 * (objspace:prov:rs:push:owned), which may read its last events, its
 * space.deleted among them, after the space left objspace:prov:rs:spaces.
 */

static void
prov_rs_delete_tx(prov_redis_t *r, const prov_space_t *sp, char **ids,
    size_t n, void *data)
{
    char    now[24];
    size_t  i;

    (void) data;

    for (i = 0; i < n; i++) {
        if (ids[i]) {
            prov_redis_tx_strs(r, 3, "HDEL", PROV_K_RS_IDENTS, ids[i]);
        }
    }

    snprintf(now, sizeof(now), "%lld", (long long) prov_now());
    prov_redis_tx_strs(r, 3, "HDEL", PROV_K_RS_SPACES, sp->id);
    prov_redis_tx_strs(r, 4, "HSET", PROV_K_RS_PUSH_OWNED, sp->id, now);
}


/*
 * Space deletions last: prov_space_delete_ex takes the space and its
 * identities out of Redis (and the caches) in one transaction with a
 * tombstone, the space.deleted event and the managed digests of the space
 * and its identities (prov_rs_delete_tx), then deletes the backend; the
 * daemon finishes a backend deletion that fails.  The cost is the space's
 * own keys (their index and records), not the managed hash.  A space
 * already gone from Redis only leaves the managed hash.
 */

int
prov_rs_delete_spaces(prov_rs_t *rs, prov_rs_set_t *set,
    prov_rs_result_t *res, prov_err_t *err)
{
    int                rc;
    char               rev[24];
    size_t             i;
    prov_err_t         e;
    redisReply        *reply;
    prov_space_t       sp;
    prov_rs_item_t    *it;
    prov_space_del_t   how;

    snprintf(rev, sizeof(rev), "%lld", (long long) set->revision);
    how.actor = PROV_RS_ACTOR;
    how.revision = rev;
    how.tx = prov_rs_delete_tx;
    how.data = NULL;

    for (i = 0; i < set->nsp; i++) {
        it = &set->sp[i];

        if (it->obj != NULL || it->skip) {
            continue;
        }

        if (prov_rs_leader(rs, err) != PROV_OK) {
            return PROV_ERR;
        }

        if (prov_space_get(rs->ctx, it->id, &sp, &e) == PROV_OK) {
            rc = prov_space_delete_ex(rs->ctx, &sp, &how, &e);
            prov_space_free(&sp);

            if (rc != PROV_OK) {
                if (e.code != PROV_E_STORAGE) {
                    *err = e;
                    return PROV_ERR;
                }

                /* out of Redis; the daemon finishes the backend */
                prov_log(PROV_LOG_WARN, "rustshare", "%s", e.msg);
            }

        } else if (e.code != PROV_E_NOTFOUND) {
            *err = e;
            return PROV_ERR;

        } else {
            reply = prov_redis_cmd(&rs->ctx->redis, err, "HDEL %s %s",
                                   PROV_K_RS_SPACES, it->id);
            if (reply == NULL) {
                return PROV_ERR;
            }

            freeReplyObject(reply);
        }

        res->spaces_deleted++;
    }

    return PROV_OK;
}

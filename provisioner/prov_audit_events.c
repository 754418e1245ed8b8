
/*
 * objspace-provisioner: control-plane events into the audit stream
 * (objspace:audit): appended to the caller's MULTI/EXEC so an event lands
 * with its change or not at all, and the key.expired events of the
 * daemon's expiry scan.  prov_audit.c consumes the stream into the
 * tenants' files.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prov_audit.h"
#include "prov_crypto.h"
#include "prov_state.h"


int64_t
prov_audit_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* ------------------------------------------------------------ control */


void
prov_audit_tx_control(prov_redis_t *r, const prov_audit_ctl_t *ev)
{
    int          n;
    char         id[32], ts[24];
    const char  *argv[32];
    prov_err_t   err;

    if (ev->id == NULL && prov_gen_id("ctl-", id, sizeof(id), &err)
                          != PROV_OK)
    {
        r->failed = 1;
        return;
    }

    snprintf(ts, sizeof(ts), "%lld", (long long) prov_audit_now_ms());

    n = 0;
    argv[n++] = "XADD";
    argv[n++] = PROV_K_AUDIT;
    argv[n++] = "*";
    argv[n++] = "id";
    argv[n++] = ev->id ? ev->id : id;
    argv[n++] = "ts";
    argv[n++] = ts;
    argv[n++] = "kind";
    argv[n++] = "control";
    argv[n++] = "op";
    argv[n++] = ev->op;

#define PROV_AUDIT_ARG(name, v)                                               \
    if ((v) && *(v)) {                                                        \
        argv[n++] = name;                                                     \
        argv[n++] = (v);                                                      \
    }

    PROV_AUDIT_ARG("tenant", ev->tenant);
    PROV_AUDIT_ARG("space", ev->space);
    PROV_AUDIT_ARG("bucket", ev->bucket);
    PROV_AUDIT_ARG("identity", ev->identity);
    PROV_AUDIT_ARG("detail", ev->detail);

#undef PROV_AUDIT_ARG

    argv[n++] = "actor";
    argv[n++] = ev->actor ? ev->actor : "cli";

    if (ev->revision) {
        argv[n++] = "revision";
        argv[n++] = ev->revision;
    }

    argv[n++] = "decision";
    argv[n++] = "allow";

    prov_redis_tx_argv(r, n, argv, NULL);
}


void
prov_audit_tx(prov_redis_t *r, const char *actor, const char *op,
    const char *tenant, const char *space, const char *bucket,
    const char *identity, const char *detail)
{
    prov_audit_ctl_t  tpl;

    memset(&tpl, 0, sizeof(tpl));
    tpl.actor = actor;

    prov_audit_tx_as(r, &tpl, op, tenant, space, bucket, identity, detail);
}


void
prov_audit_tx_as(prov_redis_t *r, const prov_audit_ctl_t *tpl,
    const char *op, const char *tenant, const char *space,
    const char *bucket, const char *identity, const char *detail)
{
    prov_audit_ctl_t  ev;

    ev = *tpl;
    ev.op = op;
    ev.tenant = tenant;
    ev.space = space;
    ev.bucket = bucket;
    ev.identity = identity;
    ev.detail = detail;

    prov_audit_tx_control(r, &ev);
}


int
prov_audit_control(prov_redis_t *r, const prov_audit_ctl_t *ev,
    prov_err_t *err)
{
    if (prov_redis_tx_begin(r, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_audit_tx_control(r, ev);

    return prov_redis_tx_exec(r, err);
}


/* ------------------------------------------------------------ expiry */


/*
 * The gateway refuses an expired key by itself (expires_at); this only
 * records the moment in the audit, once per key (objspace:prov:expired
 * remembers which keys were reported, in the same transaction).
 */

int
prov_audit_expiry_scan(prov_redis_t *r, const char *actor, size_t *found,
    prov_err_t *err)
{
    int               rc;
    size_t            i, k;
    int64_t           now, exp;
    char              key[160];
    redisReply       *spaces, *aks, *h, *seen;
    prov_audit_ctl_t  ev;

    *found = 0;
    now = prov_now();
    aks = NULL;
    rc = PROV_ERR;

    spaces = prov_redis_cmd(r, err, "SMEMBERS %s", PROV_K_IDX_SPACES);
    if (spaces == NULL) {
        return PROV_ERR;
    }

    for (i = 0; i < spaces->elements; i++) {
        snprintf(key, sizeof(key), PROV_K_IDX_KEYS,
                 spaces->element[i]->str);

        aks = prov_redis_cmd(r, err, "SMEMBERS %s", key);
        if (aks == NULL) {
            goto done;
        }

        for (k = 0; k < aks->elements; k++) {
            snprintf(key, sizeof(key), PROV_K_AK, aks->element[k]->str);

            h = prov_redis_cmd(r, err, "HMGET %s id tenant space status "
                               "expires_at", key);
            if (h == NULL) {
                goto done;
            }

            if (h->elements != 5 || h->element[0]->type != REDIS_REPLY_STRING
                || h->element[3]->type != REDIS_REPLY_STRING
                || strcmp(h->element[3]->str, "active") != 0
                || h->element[4]->type != REDIS_REPLY_STRING)
            {
                freeReplyObject(h);
                continue;
            }

            exp = strtoll(h->element[4]->str, NULL, 10);

            if (exp <= 0 || exp > now) {
                freeReplyObject(h);
                continue;
            }

            seen = prov_redis_cmd(r, err, "SISMEMBER %s %s", PROV_K_EXPIRED,
                                  h->element[0]->str);
            if (seen == NULL) {
                freeReplyObject(h);
                goto done;
            }

            if (seen->integer == 0) {
                memset(&ev, 0, sizeof(ev));
                ev.op = "key.expired";
                ev.identity = h->element[0]->str;
                ev.tenant = h->element[1]->type == REDIS_REPLY_STRING
                            ? h->element[1]->str : NULL;
                ev.space = h->element[2]->type == REDIS_REPLY_STRING
                           ? h->element[2]->str : NULL;
                ev.actor = actor;
                ev.detail = "expires_at reached";

                if (prov_redis_tx_begin(r, err) != PROV_OK) {
                    freeReplyObject(seen);
                    freeReplyObject(h);
                    goto done;
                }

                prov_redis_tx_append(r, "SADD %s %s", PROV_K_EXPIRED,
                                     h->element[0]->str);
                prov_audit_tx_control(r, &ev);

                if (prov_redis_tx_exec(r, err) != PROV_OK) {
                    freeReplyObject(seen);
                    freeReplyObject(h);
                    goto done;
                }

                prov_log(PROV_LOG_INFO, "audit", "key %s expired",
                         h->element[0]->str);
                (*found)++;
            }

            freeReplyObject(seen);
            freeReplyObject(h);
        }

        freeReplyObject(aks);
        aks = NULL;
    }

    rc = PROV_OK;

done:

    if (aks) {
        freeReplyObject(aks);
    }

    freeReplyObject(spaces);

    return rc;
}

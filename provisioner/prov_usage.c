
/*
 * objspace-provisioner: space usage and its reconcile with the storage.
 *
 * The gateway's counters (objspace:usage:{id}: bytes, objects, reserved)
 * are the ones the quota is decided on.  They can drift from what the
 * storage holds (objects written around the gateway, commits lost while
 * Redis was away, a client completing a multipart upload with fewer parts
 * than it uploaded); the reconcile puts the storage's figures back, but
 * only when doing so cannot undo a concurrent commit:
 *
 *   1. counters read before and after the storage's figures are equal,
 *      and no upload holds a reservation;
 *   2. the counters have not moved since the previous pass, and the
 *      storage's figures are not older than that pass (RustFS usage is a
 *      scanner snapshot), so an upload that completed in the storage but
 *      whose commit has not reached Redis yet is not "corrected" away;
 *   3. the write is a compare-and-set script on the counters read.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov_usage.h"
#include "prov_audit.h"


#define PROV_MIB  (1024LL * 1024)


static int64_t prov_reply_int(redisReply *r);
static int prov_usage_counters(prov_redis_t *r, const char *space_id,
    prov_usage_t *u, prov_err_t *err);
static int prov_usage_public(prov_redis_t *r, const char *space_id,
    prov_usage_public_t *pub, prov_err_t *err);
static int prov_usage_one(prov_ctx_t *ctx, prov_space_t *sp, json_t *memory,
    prov_usage_pass_t *pass, prov_err_t *err);
static int prov_usage_cmp(const void *a, const void *b);


/* the CAS: KEYS[1] usage; ARGV bytes, objects seen; new bytes, objects
 * (objects "-" = leave it), reconciled_at, drift_bytes */

static const char  prov_usage_cas[] =
    "local u = redis.call('HMGET', KEYS[1], 'bytes', 'objects', "
    "'reserved') "
    "if (tonumber(u[1]) or 0) ~= tonumber(ARGV[1]) "
    "or (tonumber(u[2]) or 0) ~= tonumber(ARGV[2]) "
    "or (tonumber(u[3]) or 0) ~= 0 then return 0 end "
    "redis.call('HSET', KEYS[1], 'bytes', ARGV[3], 'reconciled_at', "
    "ARGV[5], 'drift_bytes', ARGV[6]) "
    "if ARGV[4] ~= '-' then "
    "redis.call('HSET', KEYS[1], 'objects', ARGV[4]) end "
    "return 1";


static int
prov_usage_cmp(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


static int64_t
prov_reply_int(redisReply *r)
{
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        return 0;
    }

    return strtoll(r->str, NULL, 10);
}


int64_t
prov_usage_storage_quota(int64_t q)
{
    int64_t  margin, s;

    if (q <= 0) {
        return 0;
    }

    margin = q / 100 + (q % 100 != 0);

    if (margin < PROV_QUOTA_MARGIN_MIN) {
        margin = PROV_QUOTA_MARGIN_MIN;
    }

    if (q > INT64_MAX - margin - PROV_MIB) {
        return q;
    }

    s = q + margin;

    return (s + PROV_MIB - 1) / PROV_MIB * PROV_MIB;
}


int
prov_usage_get(prov_redis_t *r, const char *space_id, prov_usage_t *u,
    prov_err_t *err)
{
    if (prov_usage_counters(r, space_id, u, err) != PROV_OK) {
        return PROV_ERR;
    }

    return prov_usage_public(r, space_id, &u->pub, err);
}


/* the gateway's counters only (what the reconcile compares) */

static int
prov_usage_counters(prov_redis_t *r, const char *space_id, prov_usage_t *u,
    prov_err_t *err)
{
    char         key[64];
    redisReply  *reply;

    memset(u, 0, sizeof(*u));
    snprintf(key, sizeof(key), PROV_K_USAGE, space_id);

    reply = prov_redis_cmd(r, err, "HMGET %s bytes objects reserved "
                           "reconciled_at drift_bytes", key);
    if (reply == NULL) {
        return PROV_ERR;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 5) {
        u->bytes = prov_reply_int(reply->element[0]);
        u->objects = prov_reply_int(reply->element[1]);
        u->reserved = prov_reply_int(reply->element[2]);
        u->reconciled_at = prov_reply_int(reply->element[3]);
        u->drift_bytes = prov_reply_int(reply->element[4]);
    }

    freeReplyObject(reply);

    return PROV_OK;
}


/* the fields the module's flush script adds to (docs/redis-schema.md) */

static int
prov_usage_public(prov_redis_t *r, const char *space_id,
    prov_usage_public_t *pub, prov_err_t *err)
{
    char         key[64];
    redisReply  *reply;

    memset(pub, 0, sizeof(*pub));
    snprintf(key, sizeof(key), PROV_K_PUBSTATS, space_id);

    reply = prov_redis_cmd(r, err, "HMGET %s requests bytes_served hits "
                           "not_modified not_found cache_hits", key);
    if (reply == NULL) {
        return PROV_ERR;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 6) {
        pub->requests = prov_reply_int(reply->element[0]);
        pub->bytes_served = prov_reply_int(reply->element[1]);
        pub->hits = prov_reply_int(reply->element[2]);
        pub->not_modified = prov_reply_int(reply->element[3]);
        pub->not_found = prov_reply_int(reply->element[4]);
        pub->cache_hits = prov_reply_int(reply->element[5]);
    }

    freeReplyObject(reply);

    return PROV_OK;
}


int
prov_usage_show(prov_ctx_t *ctx, prov_space_t *sp, int json,
    prov_err_t *err)
{
    char           used[32], resv[32], quota[32], served[32], t[32];
    json_t        *j;
    double         pct;
    prov_usage_t   u;

    if (prov_usage_get(&ctx->redis, sp->id, &u, err) != PROV_OK) {
        return PROV_ERR;
    }

    pct = sp->quota_bytes > 0
          ? (double) u.bytes * 100.0 / (double) sp->quota_bytes : 0.0;

    if (json) {
        j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:I, "
                      "s:{s:I, s:I, s:I, s:I, s:I, s:I}}",
                      "space_id", sp->id,
                      "tenant_id", sp->tenant,
                      "bucket", sp->bucket,
                      "bytes_used", (json_int_t) u.bytes,
                      "bytes_reserved", (json_int_t) u.reserved,
                      "objects", (json_int_t) u.objects,
                      "quota_bytes", (json_int_t) sp->quota_bytes,
                      "percent", sp->quota_bytes > 0
                                 ? json_real((double) (int64_t)
                                             (pct * 100.0 + 0.5) / 100.0)
                                 : json_null(),
                      "reconciled_at", json_null(),
                      "drift_bytes", (json_int_t) u.drift_bytes,
                      "public",
                      "requests", (json_int_t) u.pub.requests,
                      "bytes_served", (json_int_t) u.pub.bytes_served,
                      "hits", (json_int_t) u.pub.hits,
                      "not_modified", (json_int_t) u.pub.not_modified,
                      "not_found", (json_int_t) u.pub.not_found,
                      "cache_hits", (json_int_t) u.pub.cache_hits);
        if (j == NULL) {
            prov_err_set(err, PROV_E_SYS, "building JSON failed");
            return PROV_ERR;
        }

        if (u.reconciled_at) {
            prov_format_time(u.reconciled_at, t, sizeof(t));
            json_object_set_new(j, "reconciled_at", json_string(t));
        }

        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
        json_decref(j);

        return PROV_OK;
    }

    prov_format_bytes(u.bytes, used, sizeof(used));
    prov_format_bytes(u.reserved, resv, sizeof(resv));
    prov_format_size(sp->quota_bytes, quota, sizeof(quota));

    printf("Space: %s (%s/%s, bucket %s)\n", sp->id, sp->tenant, sp->name,
           sp->bucket);
    printf("Used: %s (%lld bytes)\n", used, (long long) u.bytes);
    printf("Reserved: %s (%lld bytes, uploads in flight)\n", resv,
           (long long) u.reserved);
    printf("Objects: %lld\n", (long long) u.objects);

    if (sp->quota_bytes > 0) {
        printf("Quota: %s (%lld bytes), %.2f%% used\n", quota,
               (long long) sp->quota_bytes, pct);

    } else {
        printf("Quota: unlimited\n");
    }

    if (u.reconciled_at) {
        prov_format_time(u.reconciled_at, t, sizeof(t));
        printf("Reconciled: %s (drift found %lld bytes)\n", t,
               (long long) u.drift_bytes);

    } else {
        printf("Reconciled: never\n");
    }

    prov_format_bytes(u.pub.bytes_served, served, sizeof(served));

    printf("Public: %lld requests (%lld hits, %lld not modified, %lld not "
           "found, %lld from cache), %s served (%lld bytes)\n",
           (long long) u.pub.requests, (long long) u.pub.hits,
           (long long) u.pub.not_modified, (long long) u.pub.not_found,
           (long long) u.pub.cache_hits, served,
           (long long) u.pub.bytes_served);

    return PROV_OK;
}


/*
 * memory[space] = [bytes, objects, at_ms]: the counters the previous pass
 * saw.  Log lines name the space id and counts, never an object.
 */

static int
prov_usage_one(prov_ctx_t *ctx, prov_space_t *sp, json_t *memory,
    prov_usage_pass_t *pass, prov_err_t *err)
{
    int                 same, stable;
    char                key[64], a[6][24];
    json_t             *prev;
    int64_t             now_ms, prev_at, dbytes, dobjs;
    redisReply         *reply;
    const char         *argv[11];
    prov_usage_t        u1, u2;
    prov_store_usage_t  s;

    if (prov_usage_counters(&ctx->redis, sp->id, &u1, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_space_stats(ctx, sp, &s, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_usage_counters(&ctx->redis, sp->id, &u2, err) != PROV_OK) {
        return PROV_ERR;
    }

    now_ms = prov_audit_now_ms();
    prev = json_object_get(memory, sp->id);
    prev_at = json_integer_value(json_array_get(prev, 2));

    same = prev != NULL
           && json_integer_value(json_array_get(prev, 0)) == u2.bytes
           && json_integer_value(json_array_get(prev, 1)) == u2.objects;
    stable = same && (s.as_of_ms == 0 || s.as_of_ms >= prev_at);

    /* the time the counters were first seen at these values */
    if (!same) {
        json_object_set_new(memory, sp->id,
                            json_pack("[I, I, I]", (json_int_t) u2.bytes,
                                      (json_int_t) u2.objects,
                                      (json_int_t) now_ms));
    }

    if (s.bytes < 0) {
        /* not scanned yet (RustFS): nothing to compare */
        return PROV_OK;
    }

    dbytes = u2.bytes - s.bytes;
    dobjs = s.objects >= 0 ? u2.objects - s.objects : 0;

    snprintf(key, sizeof(key), PROV_K_USAGE, sp->id);

    if (dbytes == 0 && dobjs == 0) {
        reply = prov_redis_write(&ctx->redis, err, "HSET %s reconciled_at "
                                 "%lld drift_bytes 0", key,
                                 (long long) (now_ms / 1000));
        if (reply == NULL) {
            return PROV_ERR;
        }

        freeReplyObject(reply);
        return PROV_OK;
    }

    pass->drift++;

    if (u1.bytes != u2.bytes || u1.objects != u2.objects || u2.reserved != 0
        || !stable)
    {
        pass->deferred++;
        prov_log(PROV_LOG_INFO, "usage", "space %s: drift %+lld bytes, "
                 "%+lld objects (gateway %lld/%lld, storage %lld/%lld): "
                 "uploads in progress or first sight, checking again on "
                 "the next pass", sp->id, (long long) dbytes,
                 (long long) dobjs, (long long) u2.bytes,
                 (long long) u2.objects, (long long) s.bytes,
                 (long long) s.objects);
        return PROV_OK;
    }

    snprintf(a[0], sizeof(a[0]), "%lld", (long long) u2.bytes);
    snprintf(a[1], sizeof(a[1]), "%lld", (long long) u2.objects);
    snprintf(a[2], sizeof(a[2]), "%lld", (long long) s.bytes);

    if (s.objects >= 0) {
        snprintf(a[3], sizeof(a[3]), "%lld", (long long) s.objects);

    } else {
        strcpy(a[3], "-");
    }

    snprintf(a[4], sizeof(a[4]), "%lld", (long long) (now_ms / 1000));
    snprintf(a[5], sizeof(a[5]), "%lld", (long long) dbytes);

    argv[0] = "EVAL";
    argv[1] = prov_usage_cas;
    argv[2] = "1";
    argv[3] = key;
    argv[4] = a[0];
    argv[5] = a[1];
    argv[6] = a[2];
    argv[7] = a[3];
    argv[8] = a[4];
    argv[9] = a[5];

    /* fenced in the daemon (prov_redis.h): only the lease holder */
    reply = prov_redis_write_argv(&ctx->redis, 10, argv, NULL, err);
    if (reply == NULL) {
        return PROV_ERR;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        pass->corrected++;
        prov_log(PROV_LOG_WARN, "usage", "space %s: drift %+lld bytes, "
                 "%+lld objects (gateway %lld/%lld, storage %lld/%lld): "
                 "corrected to the storage's figures", sp->id,
                 (long long) dbytes, (long long) dobjs,
                 (long long) u2.bytes, (long long) u2.objects,
                 (long long) s.bytes, (long long) s.objects);
        json_object_del(memory, sp->id);

    } else {
        pass->deferred++;
        prov_log(PROV_LOG_INFO, "usage", "space %s: counters moved while "
                 "correcting a drift of %+lld bytes; next pass", sp->id,
                 (long long) dbytes);
    }

    freeReplyObject(reply);

    return PROV_OK;
}


int
prov_usage_reconcile(prov_ctx_t *ctx, json_t *memory,
    prov_usage_pass_t *pass, prov_err_t *err)
{
    char          **ids;
    size_t          i, n;
    prov_err_t      e;
    prov_space_t    sp;

    memset(pass, 0, sizeof(*pass));

    if (prov_space_ids(ctx, &ids, &n, err) != PROV_OK) {
        return PROV_ERR;
    }

    for (i = 0; i < n; i++) {
        if (prov_space_get(ctx, ids[i], &sp, &e) != PROV_OK) {
            continue;
        }

        pass->spaces++;

        if (prov_usage_one(ctx, &sp, memory, pass, &e) != PROV_OK) {
            pass->errors++;
            prov_log(PROV_LOG_WARN, "usage", "space %s: %s", sp.id, e.msg);

            if (e.code == PROV_E_BUSY) {
                /* the lease is lost: the pass stops here */
                prov_space_free(&sp);
                break;
            }
        }

        prov_space_free(&sp);
    }

    /* forget deleted spaces */
    if (json_object_size(memory) > n) {
        const char  *k;
        void        *tmp;
        json_t      *v;

        json_object_foreach_safe(memory, tmp, k, v) {
            if (bsearch(&k, ids, n, sizeof(char *), prov_usage_cmp) == NULL) {
                json_object_del(memory, k);
            }
        }
    }

    prov_ids_free(ids, n);

    return PROV_OK;
}

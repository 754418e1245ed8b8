
/*
 * objspace-provisioner: applying a RustShare change set.
 *
 * prepare (validate the whole set, open the secret envelopes and re-seal
 * them with the key file) -> backend (new spaces, quota, enable) -> Redis
 * (pipelined MULTI/EXEC batches, each record with its digest and its
 * invalidation) -> suspensions.  Nothing is written before the whole set
 * has been validated.  This file validates and prepares the set and runs
 * the pass; prov_rs_write.c does the backend and Redis writes,
 * prov_rs_digest.c the objects' managed digests.  prov_rustshare.c fetches
 * the set and records the revision.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <time.h>

#include <openssl/crypto.h>

#include "prov_rs_apply.h"


static int prov_rs_pipe_skip(prov_rs_item_t *it, int which);
static int prov_rs_pipe(prov_rs_t *rs, const char *fmt,
    prov_rs_item_t *items, size_t n, int which, prov_err_t *err);
static int prov_rs_items_of(json_t *map, prov_rs_item_t **out, size_t *n,
    prov_err_t *err);
static int prov_rs_reseal(prov_rs_t *rs, prov_sealer_t *sealer, json_t *env,
    json_t *keys, const char *ak, const char *aad_prefix, char **out,
    prov_err_t *err);
static int prov_rs_items(prov_rs_t *rs, prov_rs_set_t *set, prov_err_t *err);
static int prov_rs_same_secret(prov_rs_t *rs, const char *ak,
    const char *cur, const char *sealed);
static void prov_rs_ident_cmp(prov_rs_t *rs, prov_rs_item_t *it,
    redisReply *cur);
static int prov_rs_ident_diff(prov_rs_t *rs, prov_rs_set_t *set,
    prov_err_t *err);
static int prov_rs_prepare(prov_rs_t *rs, prov_rs_set_t *set,
    prov_err_t *err);
static int prov_rs_guard(prov_rs_t *rs, prov_rs_set_t *set,
    prov_err_t *err);



double
prov_rs_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}


#define PROV_RS_STR(o, name, dst, dflt)                                      \
    do {                                                                     \
        json_t *v_ = json_object_get(o, name);                               \
        const char *s_ = (v_ == NULL || json_is_null(v_))                    \
                         ? (dflt) : json_string_value(v_);                   \
        if (s_ == NULL || strlen(s_) >= sizeof(dst)) {                       \
            bad = name;                                                      \
            goto bad;                                                        \
        }                                                                    \
        strcpy(dst, s_);                                                     \
    } while (0)


/* prefix + 16 lowercase hex */

int
prov_rs_valid_id(const char *s, const char *prefix)
{
    size_t  i, n;

    n = strlen(prefix);

    if (s == NULL || strncmp(s, prefix, n) != 0 || strlen(s) != n + 16) {
        return 0;
    }

    for (i = n; s[i]; i++) {
        if (!isdigit((unsigned char) s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) {
            return 0;
        }
    }

    return 1;
}


/* "RS3" + 17 of [A-Z2-7] (docs/provisioner.md) */

int
prov_rs_valid_ak(const char *s)
{
    size_t  i;

    if (s == NULL || strlen(s) != PROV_ACCESS_KEY_LEN
        || strncmp(s, "RS3", 3) != 0)
    {
        return 0;
    }

    for (i = 3; s[i]; i++) {
        if (!(s[i] >= 'A' && s[i] <= 'Z') && !(s[i] >= '2' && s[i] <= '7')) {
            return 0;
        }
    }

    return 1;
}


/*
 * RFC 3339 in UTC: "2025-01-31T12:00:00Z", optional fraction, "Z" or
 * "+00:00".  null -> 0.  Returns 0 ok, -1 malformed.
 */

int
prov_rs_time(json_t *v, int64_t *t)
{
    int          n;
    const char  *s, *p;
    struct tm    tm;

    if (v == NULL || json_is_null(v)) {
        *t = 0;
        return 0;
    }

    s = json_string_value(v);
    if (s == NULL) {
        return -1;
    }

    memset(&tm, 0, sizeof(tm));
    n = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6
        || n != 19 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1
        || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59
        || tm.tm_sec > 60)
    {
        return -1;
    }

    p = s + 19;

    if (*p == '.') {
        for (p++; isdigit((unsigned char) *p); p++) { /* void */ }
    }

    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0) {
        return -1;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *t = (int64_t) timegm(&tm);

    return 0;
}

/* items a read pipeline leaves out: slot known already, or nothing to ask */

static int
prov_rs_pipe_skip(prov_rs_item_t *it, int which)
{
    switch (which) {
    case 0:
        return it->managed != NULL;
    case 1:
        return it->obj == NULL || it->skip || it->tenant != NULL;
    case 2:
        return it->obj == NULL || it->skip || it->bucket == NULL;
    case 4:
        return it->obj != NULL || it->skip || it->ak[0] == '\0';
    case 5:
        return it->obj == NULL || it->skip || it->owner || it->bucket;
    default:
        return it->obj == NULL || it->skip;
    }
}


/*
 * One read per item, pipelined; fmt has one %s for:
 *   which 0: the item's id            -> reply in item->managed
 *   which 1: the object's space_id    -> item->tenant
 *   which 2: the space's bucket       -> item->owner
 *   which 3: the identity's access key id (item->ak, set by prepare)
 *                                     -> item->owner
 *   which 4: the same, of an identity deletion -> item->tenant
 *   which 5: a new identity's space_id (its space not in the set)
 *                                     -> item->bucket
 * A nil reply leaves the slot NULL.
 */

static int
prov_rs_pipe(prov_rs_t *rs, const char *fmt, prov_rs_item_t *items,
    size_t n, int which, prov_err_t *err)
{
    int              rc;
    char           **dst;
    size_t           i, j, end;
    void            *p;
    redisReply      *r;
    redisContext    *c;
    const char      *arg;

    c = rs->ctx->redis.c;
    rc = PROV_OK;

    for (i = 0; i < n; i = end) {
        end = i + PROV_RS_PIPE < n ? i + PROV_RS_PIPE : n;

        for (j = i; j < end; j++) {
            if (prov_rs_pipe_skip(&items[j], which)) {
                continue;
            }

            if (which == 0) {
                arg = items[j].id;

            } else if (which == 2) {
                arg = items[j].bucket;

            } else if (which == 3 || which == 4) {
                arg = items[j].ak;

            } else {        /* 1, 5 */
                arg = json_string_value(json_object_get(items[j].obj,
                                                        "space_id"));
            }

            if (redisAppendCommand(c, fmt, arg ? arg : "") != REDIS_OK) {
                prov_err_set(err, PROV_E_REDIS, "redis: %s", c->errstr);
                return PROV_ERR;
            }
        }

        for (j = i; j < end; j++) {
            if (prov_rs_pipe_skip(&items[j], which)) {
                continue;
            }

            if (redisGetReply(c, &p) != REDIS_OK) {
                prov_err_set(err, PROV_E_REDIS, "redis: %s", c->errstr);
                return PROV_ERR;
            }

            r = p;
            dst = which == 0 ? &items[j].managed
                  : which == 1 || which == 4 ? &items[j].tenant
                  : which == 5 ? &items[j].bucket : &items[j].owner;

            if (r->type == REDIS_REPLY_ERROR && rc == PROV_OK) {
                prov_err_set(err, PROV_E_REDIS, "redis: %.*s", (int) r->len,
                             r->str);
                rc = PROV_ERR;

            } else if (r->type == REDIS_REPLY_STRING && *dst == NULL) {
                *dst = strdup(r->str);
            }

            freeReplyObject(r);
        }
    }

    return rc;
}


static int
prov_rs_items_of(json_t *map, prov_rs_item_t **out, size_t *n,
    prov_err_t *err)
{
    size_t           i;
    json_t          *v;
    const char      *k;
    prov_rs_item_t  *items;

    items = calloc(json_object_size(map) + 1, sizeof(prov_rs_item_t));
    if (items == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    i = 0;

    json_object_foreach(map, k, v) {
        items[i].id = k;
        items[i].obj = json_is_object(v) ? v : NULL;
        i++;
    }

    *out = items;
    *n = i;

    return PROV_OK;
}


/*
 * The set's maps become item arrays; for a snapshot, every managed id
 * missing from it becomes a deletion (json null) first.
 */

static int
prov_rs_items(prov_rs_t *rs, prov_rs_set_t *set, prov_err_t *err)
{
    int              k, rc;
    size_t           i, n;
    json_t          *map, *managed[2];
    redisReply      *r;
    const char      *hash;
    prov_rs_item_t  *items;

    rc = PROV_ERR;
    managed[0] = json_object();
    managed[1] = json_object();

    /* a snapshot reads the managed hashes whole (not one HGET each) */

    for (k = 0; set->full && k < 2; k++) {
        hash = k == 0 ? PROV_K_RS_SPACES : PROV_K_RS_IDENTS;
        map = k == 0 ? set->spaces : set->idents;

        r = prov_redis_cmd(&rs->ctx->redis, err, "HGETALL %s", hash);
        if (r == NULL) {
            goto done;
        }

        for (i = 0; i + 1 < r->elements; i += 2) {
            if ((json_object_get(map, r->element[i]->str) == NULL
                 && json_object_set_new(map, r->element[i]->str, json_null())
                    != 0)
                || json_object_set_new(managed[k], r->element[i]->str,
                                       json_string(r->element[i + 1]->str))
                   != 0)
            {
                freeReplyObject(r);
                prov_err_set(err, PROV_E_SYS, "out of memory");
                goto done;
            }
        }

        freeReplyObject(r);
    }

    if (prov_rs_items_of(set->spaces, &set->sp, &set->nsp, err) != PROV_OK
        || prov_rs_items_of(set->idents, &set->id, &set->nid, err)
           != PROV_OK)
    {
        goto done;
    }

    for (k = 0; set->full && k < 2; k++) {
        items = k == 0 ? set->sp : set->id;
        n = k == 0 ? set->nsp : set->nid;

        for (i = 0; i < n; i++) {
            hash = json_string_value(json_object_get(managed[k],
                                                     items[i].id));
            if (hash && (items[i].managed = strdup(hash)) == NULL) {
                prov_err_set(err, PROV_E_SYS, "out of memory");
                goto done;
            }
        }
    }

    rc = PROV_OK;

done:

    json_decref(managed[0]);
    json_decref(managed[1]);

    return rc;
}


void
prov_rs_set_free(prov_rs_set_t *set)
{
    size_t  i;

    for (i = 0; i < set->nsp; i++) {
        free(set->sp[i].managed);
        free(set->sp[i].tenant);
        free(set->sp[i].bucket);
        free(set->sp[i].owner);

        if (set->sp[i].cur) {
            prov_space_free(set->sp[i].cur);
            free(set->sp[i].cur);
        }
    }

    for (i = 0; i < set->nid; i++) {
        free(set->id[i].managed);
        free(set->id[i].tenant);
        free(set->id[i].bucket);
        free(set->id[i].owner);
        free(set->id[i].sealed);
        free(set->id[i].sealed_prev);
    }

    free(set->sp);
    free(set->id);
    json_decref(set->spaces);
    json_decref(set->idents);
    json_decref(set->keys);
    memset(set, 0, sizeof(*set));
}


/* a space object (docs/rustshare-api.md "Space") into sp, validated */

int
prov_rs_space_parse(prov_rs_t *rs, json_t *o, prov_space_t *sp,
    prov_err_t *err)
{
    json_t            *q;
    int64_t            t;
    const char        *bad, *b;
    prov_space_req_t   req;

    memset(sp, 0, sizeof(*sp));
    bad = "id";

    PROV_RS_STR(o, "id", sp->id, NULL);

    if (!prov_rs_valid_id(sp->id, "sp_")) {
        goto bad;
    }

    PROV_RS_STR(o, "tenant_id", sp->tenant, NULL);
    PROV_RS_STR(o, "name", sp->name, NULL);
    PROV_RS_STR(o, "purpose", sp->purpose, "generic");
    PROV_RS_STR(o, "visibility", sp->visibility, "private");
    PROV_RS_STR(o, "status", sp->status, "active");

    bad = "visibility";
    if (strcmp(sp->visibility, "private") && strcmp(sp->visibility, "public"))
    {
        goto bad;
    }

    bad = "status";
    if (strcmp(sp->status, "active") && strcmp(sp->status, "disabled")) {
        goto bad;
    }

    bad = "quota_bytes";
    q = json_object_get(o, "quota_bytes");
    if (q && !json_is_null(q)
        && (!json_is_integer(q) || json_integer_value(q) < 0))
    {
        goto bad;
    }

    sp->quota_bytes = q ? json_integer_value(q) : 0;

    bad = "created_at";
    if (prov_rs_time(json_object_get(o, "created_at"), &t) != 0) {
        goto bad;
    }

    sp->created_at = t ? t : prov_now();

    req.tenant = sp->tenant;
    req.name = sp->name;
    req.purpose = sp->purpose;
    req.quota_bytes = sp->quota_bytes;
    req.public = 0;

    if (prov_space_req_check(&req, err) != PROV_OK
        || prov_config_bucket(&rs->ctx->cf, sp->tenant, sp->name, sp->id,
                              sp->bucket, sizeof(sp->bucket), err)
           != PROV_OK)
    {
        prov_err_prefix(err, "space %s", sp->id);
        return PROV_ERR;
    }

    b = json_string_value(json_object_get(o, "bucket"));

    if (b && strcmp(b, sp->bucket) != 0) {
        prov_err_set(err, PROV_E_SOURCE, "space %s: bucket \"%.63s\" is not "
                     "\"%s\" (bucket_pattern decides bucket names)", sp->id,
                     b, sp->bucket);
        return PROV_ERR;
    }

    return PROV_OK;

bad:

    prov_err_set(err, PROV_E_SOURCE, "space %.64s: missing or invalid "
                 "\"%s\"", sp->id[0] ? sp->id : "?", bad);
    return PROV_ERR;
}


/* an identity object (docs/rustshare-api.md "Identity") into id */

int
prov_rs_ident_parse(json_t *o, prov_ident_t *id, json_t **sec, json_t **prev,
    int64_t *prev_until, prov_err_t *err)
{
    json_t          *v;
    int64_t          t;
    const char      *bad;
    prov_key_req_t   req;

    memset(id, 0, sizeof(*id));
    bad = "id";

    PROV_RS_STR(o, "id", id->id, NULL);

    if (!prov_rs_valid_id(id->id, "key_")) {
        goto bad;
    }

    PROV_RS_STR(o, "access_key_id", id->access_key_id, NULL);

    if (!prov_rs_valid_ak(id->access_key_id)) {
        goto bad;
    }

    PROV_RS_STR(o, "space_id", id->space, NULL);

    if (!prov_rs_valid_id(id->space, "sp_")) {
        goto bad;
    }

    PROV_RS_STR(o, "name", id->name, NULL);
    PROV_RS_STR(o, "permissions", id->mode, NULL);
    PROV_RS_STR(o, "prefix", id->prefix, "");
    PROV_RS_STR(o, "status", id->status, "active");

    bad = "status";
    if (strcmp(id->status, "active") && strcmp(id->status, "revoked")) {
        goto bad;
    }

    bad = "immutable";
    v = json_object_get(o, "immutable");
    if (v && !json_is_boolean(v)) {
        goto bad;
    }

    id->immutable = json_is_true(v);

    bad = "expires_at";
    if (prov_rs_time(json_object_get(o, "expires_at"), &id->expires_at)
        != 0)
    {
        goto bad;
    }

    bad = "created_at";
    if (prov_rs_time(json_object_get(o, "created_at"), &t) != 0) {
        goto bad;
    }

    id->created_at = t ? t : prov_now();

    bad = "secret";
    *sec = json_object_get(o, "secret");
    if (!json_is_object(*sec)) {
        goto bad;
    }

    bad = "previous_secret";
    *prev = json_object_get(o, "previous_secret");
    *prev_until = 0;

    if (*prev && json_is_null(*prev)) {
        *prev = NULL;
    }

    if (*prev) {
        if (!json_is_object(*prev)
            || prov_rs_time(json_object_get(o, "previous_secret_valid_until"),
                            prev_until) != 0
            || *prev_until == 0)
        {
            goto bad;
        }
    }

    req.name = id->name;
    req.mode = id->mode;
    req.prefix = id->prefix;
    req.expires_in = 0;
    req.immutable = id->immutable;

    if (prov_key_req_check(&req, err) != PROV_OK) {
        prov_err_prefix(err, "identity %s", id->id);
        return PROV_ERR;
    }

    return PROV_OK;

bad:

    prov_err_set(err, PROV_E_SOURCE, "identity %.64s: missing or invalid "
                 "\"%s\"", id->id[0] ? id->id : "?", bad);
    return PROV_ERR;
}


/* opens a hand-over envelope and re-seals it for Redis (AAD prefix:ak) */

static int
prov_rs_reseal(prov_rs_t *rs, prov_sealer_t *sealer, json_t *env,
    json_t *keys, const char *ak, const char *aad_prefix, char **out,
    prov_err_t *err)
{
    int         rc;
    char        aad[64];
    prov_buf_t  plain;

    prov_buf_init(&plain);
    snprintf(aad, sizeof(aad), "%s:%s", aad_prefix, ak);

    rc = prov_handover_open(rs->handover, env, keys, ak, &plain, err);

    if (rc == PROV_OK) {
        if (plain.len < 16 || plain.len > 128) {
            prov_err_set(err, PROV_E_SOURCE, "secret must be 16 to 128 "
                         "characters");
            rc = PROV_ERR;

        } else {
            rc = prov_sealer_seal(sealer, plain.data, plain.len, aad, out,
                                  err);
        }
    }

    prov_buf_wipe(&plain);

    return rc;
}


/*
 * Whether the record's sealed secret (cur) and the one just re-sealed
 * (sealed) hold the same secret: both opened with the key file,
 * compared, wiped.  Sealing draws a fresh nonce, so sealed values never
 * compare; RustShare may send the same secret in a new envelope.  A
 * record that does not open counts as another secret.
 */

static int
prov_rs_same_secret(prov_rs_t *rs, const char *ak, const char *cur,
    const char *sealed)
{
    int         same;
    char        aad[64];
    prov_buf_t  a, b;
    prov_err_t  e;

    if (cur == NULL || sealed == NULL) {
        return 0;
    }

    prov_buf_init(&a);
    prov_buf_init(&b);
    snprintf(aad, sizeof(aad), "ak:%s", ak);

    same = prov_unseal(&rs->ctx->key, cur, aad, &a, &e) == PROV_OK
           && prov_unseal(&rs->ctx->key, sealed, aad, &b, &e) == PROV_OK
           && a.len == b.len
           && CRYPTO_memcmp(a.data, b.data, a.len) == 0;

    prov_buf_wipe(&a);
    prov_buf_wipe(&b);

    return same;
}


/*
 * it->ev: what the upsert changes against the record cur (HMGET status
 * expires_at name mode prefix immutable secret secret_prev_until).  A
 * rotation with a grace period is key.rotated alone.
 */

static void
prov_rs_ident_cmp(prov_rs_t *rs, prov_rs_item_t *it, redisReply *cur)
{
    char          *f[8];
    size_t         k;
    json_t        *sec, *prev;
    int64_t        until;
    unsigned       ev;
    prov_err_t     e;
    prov_ident_t   id;

    if (cur->type != REDIS_REPLY_ARRAY || cur->elements != 8
        || prov_rs_ident_parse(it->obj, &id, &sec, &prev, &until, &e)
           != PROV_OK)
    {
        return;
    }

    for (k = 0; k < 8; k++) {
        f[k] = cur->element[k]->type == REDIS_REPLY_STRING
               ? cur->element[k]->str : "";
    }

    ev = 0;

    if (strcmp(f[0], id.status) != 0) {
        ev |= strcmp(id.status, "revoked") == 0 ? PROV_RS_EV_REVOKED
                                                : PROV_RS_EV_ACTIVE;
    }

    if (strtoll(f[1], NULL, 10) != id.expires_at) {
        ev |= PROV_RS_EV_EXPIRY;
    }

    if (strcmp(f[2], id.name) != 0) {
        ev |= PROV_RS_EV_NAME;
    }

    if (strcmp(f[3], id.mode) != 0) {
        ev |= PROV_RS_EV_MODE;
    }

    if (strcmp(f[4], id.prefix) != 0) {
        ev |= PROV_RS_EV_PREFIX;
    }

    if ((strcmp(f[5], "1") == 0) != (id.immutable != 0)) {
        ev |= PROV_RS_EV_IMMUTABLE;
    }

    if (!prov_rs_same_secret(rs, it->ak, cur->element[6]->type
                                         == REDIS_REPLY_STRING
                                         ? f[6] : NULL, it->sealed))
    {
        ev |= PROV_RS_EV_ROTATED;

    } else if (strtoll(f[7], NULL, 10) != (it->sealed_prev ? until : 0)) {
        ev |= PROV_RS_EV_PREV;
    }

    it->ev = ev;
}


/*
 * For the audit: each identity upsert whose record exists (it->owner is
 * its own id once prepare checked the access key ids) is compared with
 * that record, pipelined like prov_rs_pipe; it->ev says what changes.
 */

static int
prov_rs_ident_diff(prov_rs_t *rs, prov_rs_set_t *set, prov_err_t *err)
{
    int              rc;
    size_t           i, j, end;
    void            *p;
    redisReply      *r;
    redisContext    *c;
    prov_rs_item_t  *it;

    c = rs->ctx->redis.c;
    rc = PROV_OK;

    for (i = 0; i < set->nid; i = end) {
        end = i + PROV_RS_PIPE < set->nid ? i + PROV_RS_PIPE : set->nid;

        for (j = i; j < end; j++) {
            it = &set->id[j];

            if (it->obj == NULL || it->skip || it->owner == NULL) {
                continue;
            }

            if (redisAppendCommand(c, "HMGET " PROV_K_AK " status "
                                   "expires_at name mode prefix immutable "
                                   "secret secret_prev_until", it->ak)
                != REDIS_OK)
            {
                prov_err_set(err, PROV_E_REDIS, "redis: %s", c->errstr);
                return PROV_ERR;
            }
        }

        for (j = i; j < end; j++) {
            it = &set->id[j];

            if (it->obj == NULL || it->skip || it->owner == NULL) {
                continue;
            }

            if (redisGetReply(c, &p) != REDIS_OK) {
                prov_err_set(err, PROV_E_REDIS, "redis: %s", c->errstr);
                return PROV_ERR;
            }

            r = p;

            if (r->type == REDIS_REPLY_ERROR && rc == PROV_OK) {
                prov_err_set(err, PROV_E_REDIS, "redis: %.*s", (int) r->len,
                             r->str);
                rc = PROV_ERR;

            } else if (rc == PROV_OK) {
                prov_rs_ident_cmp(rs, it, r);
            }

            freeReplyObject(r);
        }
    }

    return rc;
}


/*
 * Validation of the whole set before any write: every object parses,
 * unchanged objects (same digest) are skipped, identities reference a
 * space that exists after the set, access key ids are not taken by
 * another identity, bucket names are free, and every secret envelope
 * opens.  Any failure refuses the set.
 */

static int
prov_rs_prepare(prov_rs_t *rs, prov_rs_set_t *set, prov_err_t *err)
{
    char             *sp_of, *ak_of, *dig;
    size_t            i;
    json_t           *sec, *prev, *target, *buckets, *bucket_of;
    int64_t           until;
    prov_space_t      sp;
    prov_ident_t      id;
    prov_sealer_t     sealer;
    prov_rs_hash_t    hash;
    prov_rs_item_t   *it;

    if (prov_rs_hash_init(&hash, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_sealer_init(&sealer, &rs->ctx->key, err) != PROV_OK) {
        prov_rs_hash_free(&hash);
        return PROV_ERR;
    }

    buckets = json_object();
    bucket_of = json_object();
    if (buckets == NULL || bucket_of == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto failed;
    }

    if (!set->full
        && (prov_rs_pipe(rs, "HGET " PROV_K_RS_SPACES " %s", set->sp,
                         set->nsp, 0, err) != PROV_OK
            || prov_rs_pipe(rs, "HGET " PROV_K_RS_IDENTS " %s", set->id,
                            set->nid, 0, err) != PROV_OK))
    {
        goto failed;
    }

    /* spaces */

    for (i = 0; i < set->nsp; i++) {
        it = &set->sp[i];

        if (it->obj == NULL) {
            it->skip = (it->managed == NULL);
            continue;
        }

        if (prov_rs_space_parse(rs, it->obj, &sp, err) != PROV_OK
            || prov_rs_digest(&hash, it->obj, it->digest, err) != PROV_OK)
        {
            goto failed;
        }
        it->skip = (it->managed && strcmp(it->managed, it->digest) == 0);

        if (json_object_get(buckets, sp.bucket)) {
            prov_err_set(err, PROV_E_SOURCE, "spaces %s and %s share bucket "
                         "\"%s\"", json_string_value(json_object_get(
                         buckets, sp.bucket)), sp.id, sp.bucket);
            goto failed;
        }

        json_object_set_new(buckets, sp.bucket, json_string(sp.id));
        json_object_set_new(bucket_of, sp.id, json_string(sp.bucket));

        it->bucket = strdup(sp.bucket);
        if (it->bucket == NULL) {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto failed;
        }
    }

    /* who holds each bucket now (a space id, or nil) */

    if (prov_rs_pipe(rs, "GET " PROV_K_BUCKET, set->sp, set->nsp, 2, err)
        != PROV_OK)
    {
        goto failed;
    }

    for (i = 0; i < set->nsp; i++) {
        it = &set->sp[i];

        if (it->obj == NULL || it->skip) {
            continue;
        }

        if (it->managed == NULL && it->owner == NULL) {
            it->is_new = 1;
            continue;
        }

        it->cur = calloc(1, sizeof(prov_space_t));
        if (it->cur == NULL) {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto failed;
        }

        if (prov_space_get(rs->ctx, it->id, it->cur, err) == PROV_OK) {
            if (strcmp(it->cur->bucket, it->bucket) != 0) {
                prov_err_set(err, PROV_E_SOURCE, "space %s: its bucket is "
                             "\"%s\" and cannot become \"%s\"", it->id,
                             it->cur->bucket, it->bucket);
                goto failed;
            }

            continue;
        }

        if (err->code != PROV_E_NOTFOUND) {
            goto failed;
        }

        free(it->cur);
        it->cur = NULL;

        if (it->owner) {
            prov_err_set(err, PROV_E_SOURCE, "space %s: bucket \"%s\" "
                         "already belongs to space %.24s", it->id, it->bucket,
                         it->owner);
            goto failed;
        }

        it->is_new = 1;
    }

    /* identities: the space's tenant (also proves it exists): from the set,
     * else from Redis */

    for (i = 0; i < set->nid; i++) {
        it = &set->id[i];

        if (it->obj == NULL) {
            continue;
        }

        target = json_object_get(set->spaces, json_string_value(
                                     json_object_get(it->obj, "space_id")));

        if (json_is_object(target)) {
            it->tenant = strdup(json_string_value(json_object_get(target,
                                                                "tenant_id")));
            if (it->tenant == NULL) {
                prov_err_set(err, PROV_E_SYS, "out of memory");
                goto failed;
            }
        }
    }

    if (prov_rs_pipe(rs, "HGET " PROV_K_SPACE " tenant", set->id, set->nid,
                     1, err) != PROV_OK)
    {
        goto failed;
    }

    for (i = 0; i < set->nid; i++) {
        it = &set->id[i];

        if (it->obj == NULL) {
            it->skip = (it->managed == NULL);

            /* a deletion: its access key id from "space ak digest" */
            ak_of = it->managed ? strchr(it->managed, ' ') : NULL;
            dig = ak_of ? strchr(ak_of + 1, ' ') : NULL;

            if (dig && dig - ak_of - 1 == PROV_ACCESS_KEY_LEN) {
                memcpy(it->ak, ak_of + 1, PROV_ACCESS_KEY_LEN);
                it->ak[PROV_ACCESS_KEY_LEN] = '\0';
            }

            continue;
        }

        if (prov_rs_ident_parse(it->obj, &id, &sec, &prev, &until, err)
            != PROV_OK
            || prov_rs_digest(&hash, it->obj, it->digest, err) != PROV_OK)
        {
            goto failed;
        }

        strcpy(it->ak, id.access_key_id);

        /* the space after the set: upserted, deleted, or as in Redis */

        target = json_object_get(set->spaces, id.space);

        if (target && json_is_null(target)) {
            /* its space is deleted in this set, and it with it */
            it->skip = 1;
            continue;
        }

        if (target == NULL && it->tenant == NULL) {
            prov_err_set(err, PROV_E_SOURCE, "identity %s: unknown space "
                         "\"%s\"", id.id, id.space);
            goto failed;
        }

        /* a managed identity keeps its space and access key id */

        if (it->managed) {
            sp_of = it->managed;
            ak_of = strchr(sp_of, ' ');
            dig = ak_of ? strchr(ak_of + 1, ' ') : NULL;

            if (dig == NULL
                || strncmp(sp_of, id.space, (size_t) (ak_of - sp_of)) != 0
                || strncmp(ak_of + 1, id.access_key_id,
                           (size_t) (dig - ak_of - 1)) != 0)
            {
                prov_err_set(err, PROV_E_SOURCE, "identity %s: its space and "
                             "access key id cannot change", id.id);
                goto failed;
            }

            if (strcmp(dig + 1, it->digest) == 0) {
                it->skip = 1;
                continue;
            }
        }

        /* the secrets: open the envelopes, re-seal with the key file */

        if (prov_rs_reseal(rs, &sealer, sec, set->keys, id.access_key_id,
                           "ak", &it->sealed, err) != PROV_OK
            || (prev
                && prov_rs_reseal(rs, &sealer, prev, set->keys,
                                  id.access_key_id, "ak-prev",
                                  &it->sealed_prev, err)
                   != PROV_OK))
        {
            prov_err_prefix(err, "identity %s", id.id);
            goto failed;
        }
    }

    /* access key ids held by other identities (local ones included) */

    if (prov_rs_pipe(rs, "HGET " PROV_K_AK " id", set->id, set->nid, 3, err)
        != PROV_OK)
    {
        goto failed;
    }

    for (i = 0; i < set->nid; i++) {
        it = &set->id[i];

        if (it->obj && !it->skip && it->owner
            && strcmp(it->owner, it->id) != 0)
        {
            prov_err_set(err, PROV_E_SOURCE, "identity %s: its access key id "
                         "belongs to identity %.24s", it->id, it->owner);
            goto failed;
        }
    }

    /* for the audit: what upserts change, the bucket of new identities
     * (key.created names it, as the CLI's), the tenant of deletions */

    if (prov_rs_ident_diff(rs, set, err) != PROV_OK) {
        goto failed;
    }

    for (i = 0; i < set->nid; i++) {
        it = &set->id[i];

        if (it->obj == NULL || it->skip || it->owner) {
            continue;
        }

        target = json_object_get(bucket_of, json_string_value(
                                     json_object_get(it->obj, "space_id")));

        if (target && (it->bucket = strdup(json_string_value(target)))
                      == NULL)
        {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto failed;
        }
    }

    if (prov_rs_pipe(rs, "HGET " PROV_K_SPACE " bucket", set->id, set->nid,
                     5, err) != PROV_OK
        || prov_rs_pipe(rs, "HGET " PROV_K_AK " tenant", set->id, set->nid,
                        4, err) != PROV_OK)
    {
        goto failed;
    }

    json_decref(buckets);
    json_decref(bucket_of);
    prov_sealer_free(&sealer);
    prov_rs_hash_free(&hash);

    return PROV_OK;

failed:

    json_decref(buckets);
    json_decref(bucket_of);
    prov_sealer_free(&sealer);
    prov_rs_hash_free(&hash);

    return PROV_ERR;
}


/* ------------------------------------------------------------ apply */


/*
 * The mass-delete guard: a full snapshot deletes whatever it no longer
 * lists, so a truncated or empty snapshot (a RustShare fault) would wipe
 * the fleet.  It is refused when it would delete more than
 * sync_max_delete_min and more than sync_max_delete_fraction of the spaces,
 * or of the identities, applied from RustShare; `sync --full
 * --allow-mass-delete` lifts the limit for one pass.  Changes are explicit
 * deletions and are not limited.
 */

static int
prov_rs_guard(prov_rs_t *rs, prov_rs_set_t *set, prov_err_t *err)
{
    int                   k, over;
    size_t                i, n, applied[2], deleted[2];
    prov_rs_item_t       *items;
    const prov_config_t  *cf;

    cf = &rs->ctx->cf;

    if (!set->full || cf->sync_max_delete_fraction >= 1.0) {
        return PROV_OK;
    }

    over = 0;

    for (k = 0; k < 2; k++) {
        items = k == 0 ? set->sp : set->id;
        n = k == 0 ? set->nsp : set->nid;
        applied[k] = 0;
        deleted[k] = 0;

        for (i = 0; i < n; i++) {
            if (items[i].managed) {
                applied[k]++;
                deleted[k] += (items[i].obj == NULL);
            }
        }

        over |= deleted[k] > (size_t) cf->sync_max_delete_min
                && (double) deleted[k]
                   > cf->sync_max_delete_fraction * (double) applied[k];
    }

    if (!over) {
        return PROV_OK;
    }

    prov_err_set(err, PROV_E_SOURCE, "the snapshot would delete %zu of %zu "
                 "spaces and %zu of %zu identities applied from RustShare "
                 "(more than sync_max_delete_fraction %g and "
                 "sync_max_delete_min %d); if RustShare really dropped them, "
                 "`objspace-provisioner sync --full --allow-mass-delete` "
                 "applies it", deleted[0], applied[0], deleted[1],
                 applied[1], cf->sync_max_delete_fraction,
                 cf->sync_max_delete_min);

    return PROV_ERR;
}


#undef PROV_RS_STR


/*
 * Applies a fetched change set (the middle of a pass): validation of the
 * whole set, then backend, Redis and the suspensions of disabled spaces.
 * PROV_ERR with nothing written when the set is refused; PROV_ERR with
 * res->failed > 0 when some objects' backend failed (the rest applied).
 */

int
prov_rs_apply(prov_rs_t *rs, prov_rs_set_t *set, prov_rs_result_t *res,
    prov_err_t *err)
{
    size_t  i;
    double  t0;

    t0 = prov_rs_ms();

    if (prov_rs_items(rs, set, err) != PROV_OK
        || prov_rs_guard(rs, set, err) != PROV_OK
        || prov_rs_prepare(rs, set, err) != PROV_OK)
    {
        prov_err_prefix(err, "refusing RustShare revision %lld, nothing "
                        "applied", (long long) set->revision);
        return PROV_ERR;
    }

    for (i = 0; i < set->nsp; i++) {
        res->skipped += set->sp[i].skip;
    }

    for (i = 0; i < set->nid; i++) {
        res->skipped += set->id[i].skip;
    }

    res->prepare_ms = prov_rs_ms() - t0;

    if (prov_rs_leader(rs, err) != PROV_OK || prov_ctx_store(rs->ctx, err)
                                              != PROV_OK)
    {
        return PROV_ERR;
    }

    t0 = prov_rs_ms();
    prov_rs_backend(rs, set, res);
    res->backend_ms = prov_rs_ms() - t0;

    t0 = prov_rs_ms();

    if (prov_rs_write(rs, set, res, err) != PROV_OK
        || prov_rs_delete_spaces(rs, set, res, err) != PROV_OK)
    {
        return PROV_ERR;
    }

    res->redis_ms = prov_rs_ms() - t0;

    /* suspend the backend users of spaces just disabled (gateway first) */

    for (i = 0; i < set->nsp; i++) {
        prov_err_t          e;
        prov_store_space_t  ss;

        if (!set->sp[i].disable || set->sp[i].failed) {
            continue;
        }

        memset(&ss, 0, sizeof(ss));
        ss.space_id = set->sp[i].cur->id;
        ss.tenant = set->sp[i].cur->tenant;
        ss.name = set->sp[i].cur->name;
        ss.bucket = set->sp[i].cur->bucket;
        snprintf(ss.backend_ak, sizeof(ss.backend_ak), "%s",
                 set->sp[i].cur->backend_ak);

        if (rs->ctx->store.ops->set_enabled(&rs->ctx->store, &ss, 0, &e)
            != PROV_OK)
        {
            prov_log(PROV_LOG_WARN, "rustshare", "space %s disabled at the "
                     "gateway; suspending its backend user failed (reconcile "
                     "repairs it): %s", set->sp[i].id, e.msg);
        }
    }

    if (res->failed) {
        prov_err_set(err, PROV_E_STORAGE, "%zu objects of RustShare revision "
                     "%lld could not be applied (backend); the rest is "
                     "applied and the next pass retries", res->failed,
                     (long long) set->revision);
        return PROV_ERR;
    }

    return PROV_OK;
}

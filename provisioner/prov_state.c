
/*
 * objspace-provisioner: Object Spaces and S3 identities kept in Redis.
 *
 * The context (Redis, storage), input validation, the records' encoding
 * and decoding, and the spaces' life cycle (create, get, list, enable,
 * public, quota, delete).  prov_space_backend.c checks and repairs a
 * space against the storage; prov_key.c holds the identities' operations
 * (key create, get, revoke, rotate, delete).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <unistd.h>

#include <jansson.h>

#include "prov_state.h"
#include "prov_public.h"
#include "prov_audit.h"
#include "prov_usage.h"


#define PROV_SCHEMA_V  "1"


const char  *prov_modes[] = {
    "read-only", "write-only", "read-write", "read-write-delete",
    "publisher", "registry-backend", NULL
};

const char  *prov_purposes[] = {
    "generic", "cdn", "artifacts", "packages", "registry", NULL
};


static int prov_in_list(const char *s, const char **list);
static int prov_space_parse(redisReply *h, prov_space_t *sp,
    prov_err_t *err);
static int prov_lock(prov_ctx_t *ctx, const char *name, int ttl,
    prov_err_t *err);
static void prov_unlock(prov_ctx_t *ctx, const char *name);
static int prov_cmp_str(const void *a, const void *b);
static int prov_valid_text(const char *s, size_t max);


static int
prov_in_list(const char *s, const char **list)
{
    for ( /* void */ ; *list; list++) {
        if (strcmp(s, *list) == 0) {
            return 1;
        }
    }

    return 0;
}


int
prov_valid_mode(const char *mode)
{
    return prov_in_list(mode, prov_modes);
}


int
prov_valid_purpose(const char *purpose)
{
    return prov_in_list(purpose, prov_purposes);
}


/* printable ASCII, no control characters, 1..max */

static int
prov_valid_text(const char *s, size_t max)
{
    size_t  n;

    n = strlen(s);
    if (n == 0 || n > max) {
        return 0;
    }

    for ( /* void */ ; *s; s++) {
        if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* the operator's (or RustShare's) input for a new space */

int
prov_space_req_check(const prov_space_req_t *req, prov_err_t *err)
{
    if (!prov_valid_slug(req->tenant, PROV_SLUG_MAX)) {
        prov_err_set(err, PROV_E_INVAL, "invalid tenant \"%s\": use 1 to %d "
                     "characters of a-z, 0-9 and '-'", req->tenant,
                     PROV_SLUG_MAX);
        return PROV_ERR;
    }

    if (!prov_valid_slug(req->name, PROV_SLUG_MAX)) {
        prov_err_set(err, PROV_E_INVAL, "invalid space name \"%s\": use 1 to "
                     "%d characters of a-z, 0-9 and '-'", req->name,
                     PROV_SLUG_MAX);
        return PROV_ERR;
    }

    if (!prov_valid_purpose(req->purpose)) {
        prov_err_set(err, PROV_E_INVAL, "invalid purpose \"%s\": use generic, "
                     "cdn, artifacts, packages or registry", req->purpose);
        return PROV_ERR;
    }

    if (req->quota_bytes < 0) {
        prov_err_set(err, PROV_E_INVAL, "invalid quota");
        return PROV_ERR;
    }

    return PROV_OK;
}


/* the operator's (or RustShare's) input for a new identity */

int
prov_key_req_check(const prov_key_req_t *req, prov_err_t *err)
{
    if (!prov_valid_text(req->name, PROV_NAME_MAX)
        || strchr(req->name, ' ') != NULL)
    {
        prov_err_set(err, PROV_E_INVAL, "invalid key name \"%s\": use 1 to %d "
                     "printable characters without spaces", req->name,
                     PROV_NAME_MAX);
        return PROV_ERR;
    }

    if (!prov_valid_mode(req->mode)) {
        prov_err_set(err, PROV_E_INVAL, "invalid mode \"%s\": use read-only, "
                     "write-only, read-write, read-write-delete, publisher "
                     "or registry-backend", req->mode);
        return PROV_ERR;
    }

    if (req->prefix[0] != '\0'
        && (!prov_valid_text(req->prefix, PROV_PREFIX_MAX)
            || req->prefix[0] == '/' || strstr(req->prefix, "..") != NULL))
    {
        prov_err_set(err, PROV_E_INVAL, "invalid prefix \"%s\": up to %d "
                     "printable characters, not starting with '/', no \"..\"",
                     req->prefix, PROV_PREFIX_MAX);
        return PROV_ERR;
    }

    if (req->expires_in < 0) {
        prov_err_set(err, PROV_E_INVAL, "invalid expiry");
        return PROV_ERR;
    }

    return PROV_OK;
}


int
prov_ctx_open(prov_ctx_t *ctx, const char *config, int need_store,
    prov_err_t *err)
{
    memset(ctx, 0, sizeof(*ctx));

    if (prov_config_load(&ctx->cf, config, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_key_load(ctx->cf.key_file, &ctx->key, err) != PROV_OK) {
        goto failed;
    }

    ctx->have_key = 1;

    if (prov_redis_open(&ctx->redis, &ctx->cf, err) != PROV_OK) {
        goto failed;
    }

    ctx->have_redis = 1;

    if (need_store && prov_ctx_store(ctx, err) != PROV_OK) {
        goto failed;
    }

    return PROV_OK;

failed:

    prov_ctx_close(ctx);

    return PROV_ERR;
}


int
prov_ctx_store(prov_ctx_t *ctx, prov_err_t *err)
{
    if (ctx->have_store) {
        return PROV_OK;
    }

    if (prov_store_open(&ctx->store, &ctx->cf, err) != PROV_OK) {
        return PROV_ERR;
    }

    ctx->have_store = 1;

    return PROV_OK;
}


void
prov_ctx_close(prov_ctx_t *ctx)
{
    if (ctx->have_store) {
        prov_store_close(&ctx->store);
    }

    if (ctx->have_redis) {
        prov_redis_close(&ctx->redis);
    }

    prov_key_wipe(&ctx->key);
    prov_config_free(&ctx->cf);
    memset(ctx, 0, sizeof(*ctx));
}


void
prov_space_free(prov_space_t *sp)
{
    free(sp->backend_secret);
    sp->backend_secret = NULL;
}


void
prov_ident_free(prov_ident_t *id)
{
    free(id->secret);
    free(id->secret_prev);
    id->secret = NULL;
    id->secret_prev = NULL;
}


void
prov_ids_free(char **ids, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(ids[i]);
    }

    free(ids);
}


static int
prov_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


int
prov_smembers(prov_ctx_t *ctx, const char *key, char ***ids, size_t *n,
    prov_err_t *err)
{
    size_t       i;
    char       **a;
    redisReply  *reply;

    *ids = NULL;
    *n = 0;

    reply = prov_redis_cmd(&ctx->redis, err, "SMEMBERS %s", key);
    if (reply == NULL) {
        return PROV_ERR;
    }

    a = calloc(reply->elements + 1, sizeof(char *));
    if (a == NULL) {
        freeReplyObject(reply);
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    for (i = 0; i < reply->elements; i++) {
        a[i] = strdup(reply->element[i]->str ? reply->element[i]->str : "");
        if (a[i] == NULL) {
            prov_ids_free(a, i);
            freeReplyObject(reply);
            prov_err_set(err, PROV_E_SYS, "out of memory");
            return PROV_ERR;
        }
    }

    qsort(a, reply->elements, sizeof(char *), prov_cmp_str);

    *ids = a;
    *n = reply->elements;
    freeReplyObject(reply);

    return PROV_OK;
}


/* copies a field into a fixed buffer; refuses what does not fit */

#define PROV_COPY(dst, src)                                                  \
    do {                                                                     \
        const char *s_ = (src);                                              \
        if (s_ == NULL || strlen(s_) >= sizeof(dst)) {                       \
            goto bad;                                                        \
        }                                                                    \
        strcpy(dst, s_);                                                     \
    } while (0)


static int
prov_space_parse(redisReply *h, prov_space_t *sp, prov_err_t *err)
{
    const char  *v, *q, *c, *bs;

    memset(sp, 0, sizeof(*sp));

    v = prov_redis_field(h, "v");
    if (v == NULL || strcmp(v, PROV_SCHEMA_V) != 0) {
        prov_err_set(err, PROV_E_STATE, "space record has unknown schema "
                     "version \"%s\"", v ? v : "");
        return PROV_ERR;
    }

    PROV_COPY(sp->id, prov_redis_field(h, "id"));
    PROV_COPY(sp->tenant, prov_redis_field(h, "tenant"));
    PROV_COPY(sp->name, prov_redis_field(h, "name"));
    PROV_COPY(sp->bucket, prov_redis_field(h, "bucket"));
    PROV_COPY(sp->status, prov_redis_field(h, "status"));
    PROV_COPY(sp->purpose, prov_redis_field(h, "purpose"));
    PROV_COPY(sp->visibility, prov_redis_field(h, "visibility"));
    PROV_COPY(sp->backend_ak, prov_redis_field(h, "backend_ak"));

    q = prov_redis_field(h, "quota_bytes");
    c = prov_redis_field(h, "created_at");
    bs = prov_redis_field(h, "backend_secret");

    if (q == NULL || c == NULL || bs == NULL) {
        goto bad;
    }

    sp->quota_bytes = strtoll(q, NULL, 10);
    sp->created_at = strtoll(c, NULL, 10);

    sp->backend_secret = strdup(bs);
    if (sp->backend_secret == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    return PROV_OK;

bad:

    prov_err_set(err, PROV_E_STATE, "space record is incomplete");
    return PROV_ERR;
}


int
prov_ident_parse(redisReply *h, prov_ident_t *id, prov_err_t *err)
{
    const char  *v, *s;

    memset(id, 0, sizeof(*id));

    v = prov_redis_field(h, "v");
    if (v == NULL || strcmp(v, PROV_SCHEMA_V) != 0) {
        prov_err_set(err, PROV_E_STATE, "identity record has unknown schema "
                     "version \"%s\"", v ? v : "");
        return PROV_ERR;
    }

    PROV_COPY(id->id, prov_redis_field(h, "id"));
    PROV_COPY(id->space, prov_redis_field(h, "space"));
    PROV_COPY(id->tenant, prov_redis_field(h, "tenant"));
    PROV_COPY(id->name, prov_redis_field(h, "name"));
    PROV_COPY(id->mode, prov_redis_field(h, "mode"));
    PROV_COPY(id->prefix, prov_redis_field(h, "prefix"));
    PROV_COPY(id->status, prov_redis_field(h, "status"));

    s = prov_redis_field(h, "immutable");
    id->immutable = (s && strcmp(s, "1") == 0);
    s = prov_redis_field(h, "expires_at");
    id->expires_at = s ? strtoll(s, NULL, 10) : 0;
    s = prov_redis_field(h, "created_at");
    id->created_at = s ? strtoll(s, NULL, 10) : 0;

    s = prov_redis_field(h, "secret");
    if (s == NULL) {
        goto bad;
    }

    id->secret = strdup(s);

    s = prov_redis_field(h, "secret_prev");
    if (s) {
        id->secret_prev = strdup(s);
        s = prov_redis_field(h, "secret_prev_until");
        id->secret_prev_until = s ? strtoll(s, NULL, 10) : 0;
    }

    if (id->secret == NULL || (s && id->secret_prev == NULL)) {
        prov_ident_free(id);
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    return PROV_OK;

bad:

    prov_ident_free(id);
    prov_err_set(err, PROV_E_STATE, "identity record is incomplete");
    return PROV_ERR;
}

#undef PROV_COPY


void
prov_space_tx_hset(prov_redis_t *r, prov_space_t *sp)
{
    char         key[64], quota[24], created[24];
    const char  *argv[26];

    snprintf(key, sizeof(key), PROV_K_SPACE, sp->id);
    snprintf(quota, sizeof(quota), "%lld", (long long) sp->quota_bytes);
    snprintf(created, sizeof(created), "%lld", (long long) sp->created_at);

    argv[0] = "HSET";
    argv[1] = key;
    argv[2] = "v";              argv[3] = PROV_SCHEMA_V;
    argv[4] = "id";             argv[5] = sp->id;
    argv[6] = "tenant";         argv[7] = sp->tenant;
    argv[8] = "name";           argv[9] = sp->name;
    argv[10] = "bucket";        argv[11] = sp->bucket;
    argv[12] = "status";        argv[13] = sp->status;
    argv[14] = "purpose";       argv[15] = sp->purpose;
    argv[16] = "visibility";    argv[17] = sp->visibility;
    argv[18] = "quota_bytes";   argv[19] = quota;
    argv[20] = "backend_ak";    argv[21] = sp->backend_ak;
    argv[22] = "backend_secret"; argv[23] = sp->backend_secret;
    argv[24] = "created_at";    argv[25] = created;

    prov_redis_tx_argv(r, 26, argv, NULL);
}


void
prov_ident_tx_hset(prov_redis_t *r, prov_ident_t *id)
{
    char         key[64], exp[24], created[24];
    const char  *argv[30];

    snprintf(key, sizeof(key), PROV_K_AK, id->access_key_id);
    snprintf(exp, sizeof(exp), "%lld", (long long) id->expires_at);
    snprintf(created, sizeof(created), "%lld", (long long) id->created_at);

    argv[0] = "HSET";
    argv[1] = key;
    argv[2] = "v";              argv[3] = PROV_SCHEMA_V;
    argv[4] = "id";             argv[5] = id->id;
    argv[6] = "space";          argv[7] = id->space;
    argv[8] = "tenant";         argv[9] = id->tenant;
    argv[10] = "name";          argv[11] = id->name;
    argv[12] = "mode";          argv[13] = id->mode;
    argv[14] = "prefix";        argv[15] = id->prefix;
    argv[16] = "immutable";     argv[17] = id->immutable ? "1" : "0";
    argv[18] = "status";        argv[19] = id->status;
    argv[20] = "expires_at";    argv[21] = exp;
    argv[22] = "secret";        argv[23] = id->secret;
    argv[24] = "created_at";    argv[25] = created;

    prov_redis_tx_argv(r, 26, argv, NULL);
}


/*
 * A short-lived lock (SET NX EX) serialising creation of one bucket name
 * between concurrent CLI invocations and the daemon.
 */

static int
prov_lock(prov_ctx_t *ctx, const char *name, int ttl, prov_err_t *err)
{
    char         key[128];
    redisReply  *reply;

    snprintf(key, sizeof(key), PROV_K_LOCK, name);

    reply = prov_redis_cmd(&ctx->redis, err, "SET %s %d NX EX %d", key,
                           (int) getpid(), ttl);
    if (reply == NULL) {
        return PROV_ERR;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        freeReplyObject(reply);
        prov_err_set(err, PROV_E_BUSY, "\"%s\" is being changed by another "
                     "provisioner, retry", name);
        return PROV_ERR;
    }

    freeReplyObject(reply);

    return PROV_OK;
}


static void
prov_unlock(prov_ctx_t *ctx, const char *name)
{
    char         key[128];
    prov_err_t   err;
    redisReply  *reply;

    snprintf(key, sizeof(key), PROV_K_LOCK, name);

    reply = prov_redis_cmd(&ctx->redis, &err, "DEL %s", key);
    if (reply == NULL) {
        prov_log(PROV_LOG_WARN, "state", "releasing lock: %s", err.msg);
        return;
    }

    freeReplyObject(reply);
}


void
prov_store_space_from(prov_store_space_t *ss, prov_space_t *sp)
{
    memset(ss, 0, sizeof(*ss));

    ss->space_id = sp->id;
    ss->tenant = sp->tenant;
    ss->name = sp->name;
    ss->bucket = sp->bucket;
    ss->quota_bytes = prov_usage_storage_quota(sp->quota_bytes);
    ss->enabled = (strcmp(sp->status, "active") == 0);
    snprintf(ss->backend_ak, sizeof(ss->backend_ak), "%s", sp->backend_ak);
}


int
prov_space_create(prov_ctx_t *ctx, const prov_space_req_t *req,
    prov_space_t *sp, prov_err_t *err)
{
    int                 rc, locked, backend;
    char                key[128], aad[64];
    prov_err_t          ignored;
    redisReply         *reply;
    prov_store_space_t  ss;

    memset(sp, 0, sizeof(*sp));
    memset(&ss, 0, sizeof(ss));
    rc = PROV_ERR;
    locked = 0;
    backend = 0;

    if (prov_space_req_check(req, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_gen_id("sp_", sp->id, sizeof(sp->id), err) != PROV_OK) {
        return PROV_ERR;
    }

    strcpy(sp->tenant, req->tenant);
    strcpy(sp->name, req->name);
    strcpy(sp->status, "active");
    strcpy(sp->purpose, req->purpose);
    strcpy(sp->visibility, req->public ? "public" : "private");
    sp->quota_bytes = req->quota_bytes;
    sp->created_at = prov_now();

    if (prov_config_bucket(&ctx->cf, sp->tenant, sp->name, sp->id,
                           sp->bucket, sizeof(sp->bucket), err) != PROV_OK)
    {
        return PROV_ERR;
    }

    if (prov_ctx_store(ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_lock(ctx, sp->bucket, 300, err) != PROV_OK) {
        return PROV_ERR;
    }

    locked = 1;

    snprintf(key, sizeof(key), PROV_K_BUCKET, sp->bucket);

    reply = prov_redis_cmd(&ctx->redis, err, "EXISTS %s", key);
    if (reply == NULL) {
        goto done;
    }

    if (reply->integer) {
        freeReplyObject(reply);
        prov_err_set(err, PROV_E_EXISTS, "space \"%s/%s\" already exists "
                     "(bucket \"%s\")", sp->tenant, sp->name, sp->bucket);
        goto done;
    }

    freeReplyObject(reply);

    /* backend first: user, bucket owned by it, quota */

    prov_store_space_from(&ss, sp);
    ss.backend_ak[0] = '\0';

    if (prov_store_create_space(&ctx->store, &ss, err) != PROV_OK) {
        goto done;
    }

    backend = 1;

    snprintf(sp->backend_ak, sizeof(sp->backend_ak), "%s", ss.backend_ak);
    snprintf(aad, sizeof(aad), "backend:%s", sp->id);

    if (prov_seal(&ctx->key, ss.backend_sk, strlen(ss.backend_sk), aad,
                  &sp->backend_secret, err) != PROV_OK)
    {
        goto done;
    }

    /* then publish, atomically with its invalidation */

    if (prov_redis_tx_begin(&ctx->redis, err) != PROV_OK) {
        goto done;
    }

    prov_space_tx_hset(&ctx->redis, sp);
    prov_redis_tx_append(&ctx->redis, "SET %s %s", key, sp->id);
    prov_redis_tx_append(&ctx->redis, "SADD %s %s", PROV_K_IDX_SPACES,
                         sp->id);
    prov_redis_tx_append(&ctx->redis, "PUBLISH %s space:%s", PROV_CHANNEL,
                         sp->id);
    prov_audit_tx(&ctx->redis, ctx->actor, "space.created", sp->tenant, sp->id,
                  sp->bucket, NULL, sp->name);

    if (prov_redis_tx_exec(&ctx->redis, err) != PROV_OK) {
        goto done;
    }

    prov_log(PROV_LOG_INFO, "state", "space %s created (tenant %s, bucket %s)",
             sp->id, sp->tenant, sp->bucket);

    rc = PROV_OK;

done:

    if (rc != PROV_OK && backend) {
        if (ctx->store.ops->delete_space(&ctx->store, &ss, &ignored)
            != PROV_OK)
        {
            prov_log(PROV_LOG_ERR, "state", "space %s: undoing backend "
                     "creation failed: %s", sp->id, ignored.msg);
        }
    }

    if (locked) {
        prov_unlock(ctx, sp->bucket);
    }

    if (rc != PROV_OK) {
        prov_space_free(sp);
    }

    prov_store_space_wipe(&ss);

    return rc;
}


int
prov_space_get(prov_ctx_t *ctx, const char *ref, prov_space_t *sp,
    prov_err_t *err)
{
    int          rc;
    char         id[64], key[128], bucket[64];
    char         tenant[PROV_SLUG_MAX + 1];
    const char  *slash;
    redisReply  *reply;

    memset(sp, 0, sizeof(*sp));
    id[0] = '\0';

    if (strncmp(ref, "sp_", 3) == 0) {
        snprintf(id, sizeof(id), "%s", ref);

    } else {
        slash = strchr(ref, '/');

        if (slash) {
            /* tenant/name: the bucket pattern maps it to a bucket */
            if ((size_t) (slash - ref) > PROV_SLUG_MAX
                || strstr(ctx->cf.bucket_pattern, "{id}") != NULL)
            {
                goto notfound;
            }

            snprintf(tenant, sizeof(tenant), "%.*s", (int) (slash - ref),
                     ref);

            if (prov_config_bucket(&ctx->cf, tenant, slash + 1, "sp_",
                                   bucket, sizeof(bucket), err) != PROV_OK)
            {
                goto notfound;
            }

            ref = bucket;
        }

        if (strlen(ref) > 63) {
            goto notfound;
        }

        snprintf(key, sizeof(key), PROV_K_BUCKET, ref);

        reply = prov_redis_cmd(&ctx->redis, err, "GET %s", key);
        if (reply == NULL) {
            return PROV_ERR;
        }

        if (reply->type == REDIS_REPLY_STRING) {
            snprintf(id, sizeof(id), "%s", reply->str);
        }

        freeReplyObject(reply);

        if (id[0] == '\0') {
            goto notfound;
        }
    }

    snprintf(key, sizeof(key), PROV_K_SPACE, id);

    reply = prov_redis_cmd(&ctx->redis, err, "HGETALL %s", key);
    if (reply == NULL) {
        return PROV_ERR;
    }

    if (reply->elements == 0) {
        freeReplyObject(reply);
        goto notfound;
    }

    rc = prov_space_parse(reply, sp, err);
    freeReplyObject(reply);

    if (rc != PROV_OK) {
        prov_err_prefix(err, "space %s", id);
    }

    return rc;

notfound:

    prov_err_set(err, PROV_E_NOTFOUND, "unknown space \"%s\" (use a space "
                 "id, a bucket name or tenant/name)", ref);
    return PROV_ERR;
}


int
prov_space_ids(prov_ctx_t *ctx, char ***ids, size_t *n, prov_err_t *err)
{
    return prov_smembers(ctx, PROV_K_IDX_SPACES, ids, n, err);
}


/*
 * Disable: the gateway first (Redis + invalidation), then the backend
 * user.  Enable: the backend first, then the gateway.
 */

int
prov_space_set_enabled(prov_ctx_t *ctx, prov_space_t *sp, int enabled,
    prov_err_t *err)
{
    char                key[64];
    prov_store_space_t  ss;

    snprintf(key, sizeof(key), PROV_K_SPACE, sp->id);

    if (prov_ctx_store(ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_store_space_from(&ss, sp);

    if (enabled
        && ctx->store.ops->set_enabled(&ctx->store, &ss, 1, err) != PROV_OK)
    {
        return PROV_ERR;
    }

    if (prov_redis_tx_begin(&ctx->redis, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_redis_tx_append(&ctx->redis, "HSET %s status %s", key,
                         enabled ? "active" : "disabled");
    prov_redis_tx_append(&ctx->redis, "PUBLISH %s space:%s", PROV_CHANNEL,
                         sp->id);
    prov_audit_tx(&ctx->redis, ctx->actor,
                  enabled ? "space.enabled" : "space.disabled", sp->tenant,
                  sp->id, sp->bucket, NULL, NULL);

    if (prov_redis_tx_exec(&ctx->redis, err) != PROV_OK) {
        return PROV_ERR;
    }

    strcpy(sp->status, enabled ? "active" : "disabled");

    if (!enabled
        && ctx->store.ops->set_enabled(&ctx->store, &ss, 0, err) != PROV_OK)
    {
        prov_err_prefix(err, "space disabled at the gateway, but suspending "
                        "the backend user failed (the daemon retries)");
        return PROV_ERR;
    }

    prov_log(PROV_LOG_INFO, "state", "space %s %s", sp->id,
             enabled ? "enabled" : "disabled");

    return PROV_OK;
}


int
prov_space_set_public(prov_ctx_t *ctx, prov_space_t *sp, int public,
    prov_err_t *err)
{
    char  key[64];

    snprintf(key, sizeof(key), PROV_K_SPACE, sp->id);

    if (prov_redis_tx_begin(&ctx->redis, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_redis_tx_append(&ctx->redis, "HSET %s visibility %s", key,
                         public ? "public" : "private");
    prov_redis_tx_append(&ctx->redis, "PUBLISH %s space:%s", PROV_CHANNEL,
                         sp->id);
    prov_audit_tx(&ctx->redis, ctx->actor, "public.changed", sp->tenant, sp->id,
                  sp->bucket, NULL, public ? "public" : "private");

    if (prov_redis_tx_exec(&ctx->redis, err) != PROV_OK) {
        return PROV_ERR;
    }

    strcpy(sp->visibility, public ? "public" : "private");

    prov_log(PROV_LOG_INFO, "state", "space %s public web access %s",
             sp->id, public ? "enabled" : "disabled");

    return PROV_OK;
}


int
prov_space_set_quota(prov_ctx_t *ctx, prov_space_t *sp, int64_t bytes,
    prov_err_t *err)
{
    char                key[64], detail[48];
    prov_store_space_t  ss;

    if (bytes < 0) {
        prov_err_set(err, PROV_E_INVAL, "invalid quota");
        return PROV_ERR;
    }

    if (prov_ctx_store(ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_store_space_from(&ss, sp);
    ss.quota_bytes = prov_usage_storage_quota(bytes);

    if (ctx->store.ops->set_quota(&ctx->store, &ss, err) != PROV_OK) {
        return PROV_ERR;
    }

    snprintf(key, sizeof(key), PROV_K_SPACE, sp->id);

    if (prov_redis_tx_begin(&ctx->redis, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_redis_tx_append(&ctx->redis, "HSET %s quota_bytes %lld", key,
                         (long long) bytes);
    prov_redis_tx_append(&ctx->redis, "PUBLISH %s space:%s", PROV_CHANNEL,
                         sp->id);
    snprintf(detail, sizeof(detail), "quota_bytes %lld", (long long) bytes);
    prov_audit_tx(&ctx->redis, ctx->actor, "quota.changed", sp->tenant, sp->id,
                  sp->bucket, NULL, detail);

    if (prov_redis_tx_exec(&ctx->redis, err) != PROV_OK) {
        return PROV_ERR;
    }

    sp->quota_bytes = bytes;

    prov_log(PROV_LOG_INFO, "state", "space %s quota %lld bytes", sp->id,
             (long long) bytes);

    return PROV_OK;
}


int
prov_space_delete(prov_ctx_t *ctx, prov_space_t *sp, prov_err_t *err)
{
    return prov_space_delete_ex(ctx, sp, NULL, err);
}


/*
 * Removes the space and all its identities from Redis (publishing every
 * invalidation) in one transaction that also writes a tombstone and the
 * space.deleted event, then deletes the backend and drops the tombstone.
 * If the backend deletion fails or the process dies, the tombstone lets
 * the daemon finish it.  how (optional) names the event's actor and
 * revision and adds the caller's commands to the transaction (the
 * RustShare sync: its managed digests go with the space).
 */

int
prov_space_delete_ex(prov_ctx_t *ctx, prov_space_t *sp,
    const prov_space_del_t *how, prov_err_t *err)
{
    int                  rc;
    char                 key[128], **aks, **ids, *tomb;
    size_t               i, n;
    json_t              *t;
    redisReply          *reply;
    prov_audit_ctl_t     tpl;
    prov_store_space_t   ss;
    prov_public_names_t  pub;

    rc = PROV_ERR;
    aks = NULL;
    ids = NULL;
    n = 0;
    tomb = NULL;
    t = NULL;
    memset(&ss, 0, sizeof(ss));

    if (prov_ctx_store(ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    snprintf(key, sizeof(key), PROV_K_IDX_KEYS, sp->id);

    if (prov_smembers(ctx, key, &aks, &n, err) != PROV_OK) {
        return PROV_ERR;
    }

    ids = calloc(n + 1, sizeof(char *));
    if (ids == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    for (i = 0; i < n; i++) {
        snprintf(key, sizeof(key), PROV_K_AK, aks[i]);

        reply = prov_redis_cmd(&ctx->redis, err, "HGET %s id", key);
        if (reply == NULL) {
            goto done;
        }

        if (reply->type == REDIS_REPLY_STRING) {
            ids[i] = strdup(reply->str);
        }

        freeReplyObject(reply);
    }

    t = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "id", sp->id,
                  "tenant", sp->tenant, "name", sp->name, "bucket",
                  sp->bucket, "backend_ak", sp->backend_ak, "deleted_at",
                  (json_int_t) prov_now());
    if (t == NULL) {
        prov_err_set(err, PROV_E_SYS, "json_pack failed");
        goto done;
    }

    tomb = json_dumps(t, JSON_COMPACT);
    if (tomb == NULL) {
        prov_err_set(err, PROV_E_SYS, "json_dumps failed");
        goto done;
    }

    if (prov_public_names(ctx, sp, &pub, err) != PROV_OK) {
        goto done;
    }

    if (prov_redis_tx_begin(&ctx->redis, err) != PROV_OK) {
        goto done;
    }

    for (i = 0; i < n; i++) {
        prov_redis_tx_append(&ctx->redis, "DEL " PROV_K_AK, aks[i]);

        if (ids[i]) {
            prov_redis_tx_append(&ctx->redis, "DEL " PROV_K_KEYID, ids[i]);
        }

        prov_redis_tx_append(&ctx->redis, "PUBLISH %s ak:%s", PROV_CHANNEL,
                             aks[i]);

        if (ids[i]) {
            prov_redis_tx_append(&ctx->redis, "HDEL %s %s", PROV_K_LASTUSED,
                                 ids[i]);
            prov_redis_tx_append(&ctx->redis, "SREM %s %s", PROV_K_EXPIRED,
                                 ids[i]);
        }
    }

    prov_redis_tx_append(&ctx->redis, "DEL " PROV_K_IDX_KEYS, sp->id);
    prov_public_forget_tx(ctx, sp, &pub);
    prov_redis_tx_append(&ctx->redis, "DEL " PROV_K_SPACE, sp->id);
    prov_redis_tx_append(&ctx->redis, "DEL " PROV_K_BUCKET, sp->bucket);
    prov_redis_tx_append(&ctx->redis, "SREM %s %s", PROV_K_IDX_SPACES,
                         sp->id);
    prov_redis_tx_append(&ctx->redis, "HSET %s %s %s", PROV_K_TOMBSTONES,
                         sp->id, tomb);
    prov_redis_tx_append(&ctx->redis, "PUBLISH %s space:%s", PROV_CHANNEL,
                         sp->id);

    memset(&tpl, 0, sizeof(tpl));
    tpl.actor = how && how->actor ? how->actor : ctx->actor;
    tpl.revision = how ? how->revision : NULL;
    prov_audit_tx_as(&ctx->redis, &tpl, "space.deleted", sp->tenant, sp->id,
                     sp->bucket, NULL, NULL);

    if (how && how->tx) {
        how->tx(&ctx->redis, sp, ids, n, how->data);
    }

    if (prov_redis_tx_exec(&ctx->redis, err) != PROV_OK) {
        goto done;
    }

    prov_log(PROV_LOG_INFO, "state", "space %s removed from the gateway "
             "(%zu identities)", sp->id, n);

    prov_store_space_from(&ss, sp);

    if (ctx->store.ops->delete_space(&ctx->store, &ss, err) != PROV_OK) {
        prov_err_prefix(err, "space removed from the gateway, but deleting "
                        "the backend failed (the daemon retries)");
        goto done;
    }

    reply = prov_redis_cmd(&ctx->redis, err, "HDEL %s %s", PROV_K_TOMBSTONES,
                           sp->id);
    if (reply == NULL) {
        goto done;
    }

    freeReplyObject(reply);

    prov_log(PROV_LOG_INFO, "state", "space %s backend deleted (bucket %s)",
             sp->id, sp->bucket);

    rc = PROV_OK;

done:

    json_decref(t);
    free(tomb);
    prov_ids_free(aks, n);

    if (ids) {
        prov_ids_free(ids, n);
    }

    return rc;
}


/*
 * objspace-provisioner: Object Spaces and S3 identities (the local state
 * source).  State lives in Redis, in the records of docs/redis-schema.md
 * plus the provisioner-private keys of docs/provisioner.md.
 *
 * Ordering rules:
 *   - a space is published only after its backend user and bucket exist;
 *   - an identity is published only into an active, provisioned space;
 *   - a space leaves Redis (and the gateway's caches) before its backend
 *     is deleted; a tombstone makes that deletion survive a crash;
 *   - every write publishes its invalidation inside the same MULTI/EXEC.
 */

#ifndef PROV_STATE_H
#define PROV_STATE_H


#include "prov_core.h"
#include "prov_config.h"
#include "prov_crypto.h"
#include "prov_redis.h"
#include "prov_store.h"


#define PROV_SLUG_MAX      40
#define PROV_NAME_MAX      64
#define PROV_PREFIX_MAX    512
#define PROV_GRACE_MAX     (7 * 86400)


typedef struct {
    prov_config_t   cf;
    prov_key_t      key;
    prov_redis_t    redis;
    prov_store_t    store;
    int             have_key;
    int             have_redis;
    int             have_store;
    const char     *actor;      /* audit: "cli" (NULL), "sync", "daemon" */
} prov_ctx_t;


typedef struct {
    char       id[24];
    char       tenant[PROV_SLUG_MAX + 1];
    char       name[PROV_SLUG_MAX + 1];
    char       bucket[64];
    char       status[16];
    char       purpose[16];
    char       visibility[16];
    int64_t    quota_bytes;
    char       backend_ak[PROV_BACKEND_KEY_MAX];
    char      *backend_secret;          /* sealed */
    int64_t    created_at;
} prov_space_t;


/*
 * A space deletion made on someone's behalf: the space.deleted event's
 * actor (NULL: ctx->actor) and revision (NULL: none), and tx, called
 * inside the deletion's MULTI/EXEC with the space's identity ids (an
 * entry is NULL where a key record had none) to add its own commands.
 */
typedef struct {
    const char  *actor;
    const char  *revision;
    void       (*tx)(prov_redis_t *r, const prov_space_t *sp, char **ids,
                     size_t n, void *data);
    void        *data;
} prov_space_del_t;


typedef struct {
    char       id[24];
    char       access_key_id[PROV_ACCESS_KEY_LEN + 1];
    char       space[24];
    char       tenant[PROV_SLUG_MAX + 1];
    char       name[PROV_NAME_MAX + 1];
    char       mode[24];
    char       prefix[PROV_PREFIX_MAX + 1];
    int        immutable;
    char       status[16];
    int64_t    expires_at;
    int64_t    created_at;
    int64_t    secret_prev_until;       /* 0: no previous secret */
    char      *secret;                  /* sealed */
    char      *secret_prev;             /* sealed, optional */
} prov_ident_t;


typedef struct {
    const char  *tenant;
    const char  *name;
    const char  *purpose;
    int64_t      quota_bytes;
    int          public;
} prov_space_req_t;


typedef struct {
    const char  *name;
    const char  *mode;
    const char  *prefix;
    int64_t      expires_in;            /* seconds, 0 = never */
    int          immutable;
} prov_key_req_t;


typedef struct {
    prov_store_check_t  chk;
    int                 drift;          /* anything below set */
    char                what[256];      /* "user missing, quota 0 != 10G" */
} prov_drift_t;


int prov_ctx_open(prov_ctx_t *ctx, const char *config, int need_store,
    prov_err_t *err);
int prov_ctx_store(prov_ctx_t *ctx, prov_err_t *err);
void prov_ctx_close(prov_ctx_t *ctx);

int prov_valid_mode(const char *mode);
int prov_valid_purpose(const char *purpose);
extern const char  *prov_modes[];
extern const char  *prov_purposes[];

int prov_space_req_check(const prov_space_req_t *req, prov_err_t *err);
int prov_key_req_check(const prov_key_req_t *req, prov_err_t *err);

/* the record's HSET inside a transaction (prov_redis_tx_begin) */
void prov_space_tx_hset(prov_redis_t *r, prov_space_t *sp);
void prov_ident_tx_hset(prov_redis_t *r, prov_ident_t *id);

void prov_space_free(prov_space_t *sp);
void prov_ident_free(prov_ident_t *id);

/*
 * Internal to prov_state.c, prov_space_backend.c and prov_key.c: an
 * identity's record (HGETALL reply) decoded, the members of a set sorted
 * (*ids as prov_space_ids), a space as the storage driver sees it (ss
 * borrows sp's strings).
 */
int prov_ident_parse(redisReply *h, prov_ident_t *id, prov_err_t *err);
int prov_smembers(prov_ctx_t *ctx, const char *key, char ***ids,
    size_t *n, prov_err_t *err);
void prov_store_space_from(prov_store_space_t *ss, prov_space_t *sp);

int prov_space_create(prov_ctx_t *ctx, const prov_space_req_t *req,
    prov_space_t *sp, prov_err_t *err);
/* ref: space id, bucket name, or "tenant/name" */
int prov_space_get(prov_ctx_t *ctx, const char *ref, prov_space_t *sp,
    prov_err_t *err);
/* all space ids, sorted; *ids is an array of malloc()ed strings */
int prov_space_ids(prov_ctx_t *ctx, char ***ids, size_t *n, prov_err_t *err);
void prov_ids_free(char **ids, size_t n);
int prov_space_set_enabled(prov_ctx_t *ctx, prov_space_t *sp, int enabled,
    prov_err_t *err);
int prov_space_set_public(prov_ctx_t *ctx, prov_space_t *sp, int public,
    prov_err_t *err);
int prov_space_set_quota(prov_ctx_t *ctx, prov_space_t *sp, int64_t bytes,
    prov_err_t *err);
int prov_space_delete(prov_ctx_t *ctx, prov_space_t *sp, prov_err_t *err);
/* the same; how (or NULL) names the event's actor and revision and adds
 * commands to the deletion's transaction (prov_state.c explains) */
int prov_space_delete_ex(prov_ctx_t *ctx, prov_space_t *sp,
    const prov_space_del_t *how, prov_err_t *err);
int prov_space_check(prov_ctx_t *ctx, prov_space_t *sp, prov_drift_t *d,
    prov_err_t *err);
int prov_space_repair(prov_ctx_t *ctx, prov_space_t *sp, prov_drift_t *d,
    prov_err_t *err);
int prov_space_usage(prov_ctx_t *ctx, prov_space_t *sp, int64_t *bytes,
    prov_err_t *err);
/* the storage's own figures for the space's bucket (prov_usage.c) */
int prov_space_stats(prov_ctx_t *ctx, prov_space_t *sp,
    prov_store_usage_t *u, prov_err_t *err);
/* retries backend deletions left behind by an interrupted space delete */
int prov_tombstones_retry(prov_ctx_t *ctx, size_t *done, size_t *left,
    prov_err_t *err);

/* secret (41 bytes) receives the new secret: the caller prints and wipes */
int prov_key_create(prov_ctx_t *ctx, prov_space_t *sp,
    const prov_key_req_t *req, prov_ident_t *id, char *secret,
    prov_err_t *err);
/* ref: identity id (key_...) or access key id */
int prov_key_get(prov_ctx_t *ctx, const char *ref, prov_ident_t *id,
    prov_err_t *err);
/* access key ids of a space, sorted */
int prov_key_ids(prov_ctx_t *ctx, const char *space_id, char ***ids,
    size_t *n, prov_err_t *err);
int prov_key_revoke(prov_ctx_t *ctx, prov_ident_t *id, prov_err_t *err);
int prov_key_rotate(prov_ctx_t *ctx, prov_ident_t *id, int64_t grace,
    char *secret, prov_err_t *err);
int prov_key_delete(prov_ctx_t *ctx, prov_ident_t *id, prov_err_t *err);


#endif /* PROV_STATE_H */

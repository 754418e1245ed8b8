
/*
 * objspace-provisioner: the audit trail (docs/redis-schema.md "Audit
 * stream", docs/provisioner.md "Audit").
 *
 *   - control-plane events (space created, key revoked, ...) go into the
 *     stream objspace:audit inside the same MULTI/EXEC as the change;
 *   - the daemon consumes the stream (consumer group "provisioner") into
 *     per-tenant JSON Lines files, acknowledging an entry only after its
 *     line is on disk (fsync), exactly once even across a crash between
 *     the write and the XACK;
 *   - keys' last_used_at comes from the consumed request events, written
 *     to objspace:lastused once per batch;
 *   - "audit --tenant T" reads only that tenant's files.
 */

#ifndef PROV_AUDIT_H
#define PROV_AUDIT_H


#include <jansson.h>

#include "prov_core.h"
#include "prov_config.h"
#include "prov_redis.h"


#define PROV_K_AUDIT        "objspace:audit"
#define PROV_K_LASTUSED     "objspace:lastused"
#define PROV_K_EXPIRED      "objspace:prov:expired"
#define PROV_AUDIT_GROUP    "provisioner"
#define PROV_AUDIT_CONSUMER "leader"
#define PROV_AUDIT_NOTENANT "_unattributed"
/* identities whose last_used_at RustShare has not been sent yet */
#define PROV_K_RS_PUSH_KEYS "objspace:prov:rs:push:keys"


/* a control-plane event; NULL fields are left out of the entry */
typedef struct {
    const char  *op;            /* "space.created", "key.revoked", ... */
    const char  *tenant;
    const char  *space;
    const char  *bucket;
    const char  *identity;      /* key_..., never an access key id */
    const char  *actor;         /* "cli", "daemon", "rustshare"; NULL: "cli" */
    const char  *detail;        /* short text, never a secret */
    const char  *revision;      /* RustShare revision applied, or NULL */
    const char  *id;            /* "ctl-" + 16 hex, or NULL: drawn here */
} prov_audit_ctl_t;


typedef struct {
    const char  *tenant;        /* required: a tenant slug */
    int64_t      since_ms;      /* 0: everything */
    const char  *space;         /* space id or NULL */
    const char  *identity;      /* identity id or NULL */
    int          json;
} prov_audit_query_t;


typedef struct prov_audit_s  prov_audit_t;


/* recently seen event ids: two generations of open addressing */
typedef struct {
    struct {
        uint64_t  *slots;       /* 0 = empty */
        size_t     n;
    }             gen[2];       /* current and previous generation */
} prov_audit_seen_t;


/*
 * Appends the XADD of a control event to the caller's transaction
 * (between prov_redis_tx_begin and prov_redis_tx_exec), so the event
 * lands together with the change or not at all.
 */
void prov_audit_tx_control(prov_redis_t *r, const prov_audit_ctl_t *ev);
/* shorthand for prov_audit_tx_control (prov_state.c's, prov_key.c's) */
void prov_audit_tx(prov_redis_t *r, const char *actor, const char *op,
    const char *tenant, const char *space, const char *bucket,
    const char *identity, const char *detail);
/* the same, actor, revision and id taken from tpl (a sync's events) */
void prov_audit_tx_as(prov_redis_t *r, const prov_audit_ctl_t *tpl,
    const char *op, const char *tenant, const char *space,
    const char *bucket, const char *identity, const char *detail);
/* the same, as a command of its own */
int prov_audit_control(prov_redis_t *r, const prov_audit_ctl_t *ev,
    prov_err_t *err);

/* the consumer: one per daemon, used only while it holds the lease */
int prov_audit_open(prov_audit_t **a, const prov_config_t *cf,
    prov_err_t *err);
void prov_audit_close(prov_audit_t *a);
/*
 * Reads what the stream holds for the group (pending entries first, then
 * new ones), writes and fsyncs the tenants' files, then acknowledges, in
 * batches, until the stream is drained or max entries were handled.
 * *handled counts entries acknowledged.
 */
int prov_audit_pump(prov_audit_t *a, prov_redis_t *r, size_t max,
    size_t *handled, prov_err_t *err);
/* forget cached state (after losing the lease: another node may write) */
void prov_audit_reset(prov_audit_t *a);

/* key.expired events for active keys past expires_at, once per key */
int prov_audit_expiry_scan(prov_redis_t *r, const char *actor,
    size_t *found, prov_err_t *err);

/*
 * Helpers shared with the RustShare audit shipper (prov_push.c), which
 * reads the same stream with a consumer group of its own.
 */
int prov_audit_group_create(prov_redis_t *r, const char *group,
    prov_err_t *err);
redisReply *prov_audit_read(prov_redis_t *r, const char *group, int pending,
    int count, redisReply **entries, prov_err_t *err);
json_t *prov_audit_entry_json(redisReply *id, redisReply *fields,
    const char **tenant, prov_err_t *err);
const char *prov_audit_entry_field(redisReply *fields, const char *name);
/* the last 64k to 128k ids added; seen_add fails only without memory */
int prov_audit_seen_has(prov_audit_seen_t *s, const char *id);
int prov_audit_seen_add(prov_audit_seen_t *s, const char *id);
void prov_audit_seen_clear(prov_audit_seen_t *s);
void prov_audit_seen_free(prov_audit_seen_t *s);

/* "audit --tenant T": prints that tenant's events only */
int prov_audit_query(const prov_config_t *cf, const prov_audit_query_t *q,
    prov_err_t *err);
/* wall clock, unix milliseconds (event ts) */
int64_t prov_audit_now_ms(void);
/* "2024-05-01", "2024-05-01T10:00:00Z", "90m" (ago), unix seconds */
int prov_audit_parse_since(const char *s, int64_t *ms, prov_err_t *err);
/* a tenant's day file name: YYYY-MM-DD.jsonl (prov_audit_query.c too) */
int prov_is_day_file(const char *name);


#endif /* PROV_AUDIT_H */

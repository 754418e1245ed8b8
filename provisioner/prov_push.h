
/*
 * objspace-provisioner: what the leader daemon pushes back to RustShare
 * (source = rustshare; docs/rustshare-api.md "Push", docs/provisioner.md
 * "RustShare mode").
 *
 *   - usage, every push_interval: bytes and objects of every RustShare
 *     space (the gateway's counters, objspace:usage:{id}; null until
 *     measured), at most 1000 spaces per POST;
 *   - key usage, every push_interval: last_used_at of the RustShare
 *     identities whose value moved since RustShare acknowledged it
 *     (objspace:prov:rs:push:keys, filled by the audit consumer);
 *   - audit, every tick: the events of RustShare spaces, read from the
 *     audit stream by the consumer group "rustshare" into frozen batches
 *     of at most 500 (objspace:prov:rs:push:audit, each with its batch id,
 *     the Idempotency-Key), sent in order; a batch leaves the queue only
 *     after RustShare answered 2xx, so a retry after a crash or an outage
 *     re-sends the same bytes under the same id.
 *
 * A push makes one attempt per tick with a short timeout; a failure waits
 * for a later tick (backoff 1 s doubling to 60 s), so the daemon loop
 * keeps renewing its lease and syncing while RustShare is away.
 */

#ifndef PROV_PUSH_H
#define PROV_PUSH_H


#include <jansson.h>

#include "prov_core.h"
#include "prov_rustshare.h"


/* provisioner-private keys (docs/redis-schema.md) */
#define PROV_K_RS_PUSH          "objspace:prov:rs:push"
#define PROV_K_RS_PUSH_AUDIT    "objspace:prov:rs:push:audit"
#define PROV_K_RS_PUSH_REFUSED  "objspace:prov:rs:push:refused"
#define PROV_K_RS_PUSH_OWNED    "objspace:prov:rs:push:owned"
#define PROV_RS_AUDIT_GROUP     "rustshare"

#define PROV_PUSH_AUDIT_BATCH   500     /* events per audit POST */
#define PROV_PUSH_PAGE          1000    /* spaces / keys per POST */


typedef struct prov_push_s  prov_push_t;


/* rs is borrowed: the daemon's RustShare handle, used between syncs */
int prov_push_open(prov_push_t **pp, prov_rs_t *rs, prov_err_t *err);
void prov_push_close(prov_push_t *p);
/* forget in-memory state (the lease was lost: another node pushes) */
void prov_push_reset(prov_push_t *p);

/*
 * The leader's push work for one tick (now_ms: a monotonic clock): queue
 * new audit events, send due pushes.  Bounded: at most one failed request
 * per tick, and a limited number of batches.  Errors are logged and
 * recorded in objspace:prov:rs:push (status), never returned.
 */
void prov_push_tick(prov_push_t *p, int64_t now_ms);

/* last push per kind and the audit backlog, for `status`; NULL if none */
json_t *prov_push_status_json(prov_ctx_t *ctx);


#endif /* PROV_PUSH_H */


/*
 * objspace-provisioner: space usage (docs/redis-schema.md "Quota and
 * usage"): the gateway counts bytes and objects in objspace:usage:{id};
 * the provisioner shows them ("usage SPACE"), reconciles them with the
 * storage's own figures (the daemon, every usage_interval seconds) and
 * sets the storage-level quota slightly above the gateway's.  The public
 * frontend's counters (objspace:pubstats:{id}, added by every nginx node)
 * are shown with them.
 */

#ifndef PROV_USAGE_H
#define PROV_USAGE_H


#include <jansson.h>

#include "prov_core.h"
#include "prov_state.h"


#define PROV_K_USAGE           "objspace:usage:%s"
#define PROV_K_PUBSTATS        "objspace:pubstats:%s"

/* the storage quota margin: max(1%, 64 MiB), rounded up to a MiB */
#define PROV_QUOTA_MARGIN_MIN  (64LL * 1024 * 1024)


/* the public (CDN) frontend's counters, all nginx nodes together */
typedef struct {
    int64_t   requests;
    int64_t   bytes_served;     /* bytes sent, headers included */
    int64_t   hits;             /* answered 200 or 206 */
    int64_t   not_modified;     /* 304 */
    int64_t   not_found;        /* 404 */
    int64_t   cache_hits;       /* served from nginx's proxy_cache */
} prov_usage_public_t;


typedef struct {
    int64_t   bytes;            /* committed bytes (bytes_used) */
    int64_t   objects;
    int64_t   reserved;         /* uploads in flight (bytes_reserved) */
    int64_t   reconciled_at;    /* unix seconds, 0: never */
    int64_t   drift_bytes;      /* found by the last reconcile */
    prov_usage_public_t  pub;   /* objspace:pubstats:{id} */
} prov_usage_t;


typedef struct {
    size_t    spaces;
    size_t    drift;            /* spaces where Redis and storage differ */
    size_t    corrected;
    size_t    deferred;         /* drift not (yet) stable: next pass */
    size_t    errors;
} prov_usage_pass_t;


/*
 * The quota the storage enforces for a gateway quota: a little above it,
 * so the gateway always answers first (403 QuotaExceeded) and the storage
 * only stops what went around the gateway.  0 stays 0 (unlimited).
 */
int64_t prov_usage_storage_quota(int64_t gateway_quota);

/*
 * A space's usage record: the gateway's counters and the public
 * frontend's (absent keys or fields are 0).  Two reads, not atomic
 * together.
 */
int prov_usage_get(prov_redis_t *r, const char *space_id, prov_usage_t *u,
    prov_err_t *err);
/* "usage SPACE [--json]" */
int prov_usage_show(prov_ctx_t *ctx, prov_space_t *sp, int json,
    prov_err_t *err);

/*
 * One usage reconcile pass over every space.  memory (a JSON object the
 * caller keeps between passes) remembers each space's counters, so drift
 * is only corrected once it is stable: the counters did not move since
 * the previous pass, no upload is reserved, and the storage's figures
 * are not older than that pass.  The correction is a compare-and-set.
 */
int prov_usage_reconcile(prov_ctx_t *ctx, json_t *memory,
    prov_usage_pass_t *pass, prov_err_t *err);


#endif /* PROV_USAGE_H */

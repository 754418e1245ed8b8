
/*
 * objspace-provisioner: RustShare as the source of desired state
 * (source = rustshare).  The contract is docs/rustshare-api.md: a full
 * snapshot with a revision (paged), then changes since a revision (long
 * polling, ETag / If-None-Match), bearer token, retries with backoff;
 * and the push endpoints (usage, key last-used, audit).
 *
 * A change set (a whole snapshot, or all pages of changes) is validated
 * as a whole before anything is written: a malformed object, an envelope
 * that does not open or a reference to an unknown space refuses the set
 * and nothing is applied.  Each object then lands in Redis atomically
 * with its invalidation (MULTI/EXEC, pipelined in batches); the revision
 * advances only once every object of the set is applied.
 */

#ifndef PROV_RUSTSHARE_H
#define PROV_RUSTSHARE_H


#include <curl/curl.h>
#include <jansson.h>

#include "prov_core.h"
#include "prov_state.h"
#include "prov_handover.h"


/* provisioner-private keys (docs/provisioner.md, RustShare mode) */
#define PROV_K_RS_REVISION  "objspace:prov:rs:revision"
#define PROV_K_RS_SPACES    "objspace:prov:rs:spaces"
#define PROV_K_RS_IDENTS    "objspace:prov:rs:identities"
#define PROV_K_RS_STATUS    "objspace:prov:rs:status"

#define PROV_RS_API         "/v1/objspace"


typedef struct prov_rs_s  prov_rs_t;

/* called before writes and between batches: 1 = still allowed to write */
typedef int (*prov_rs_leader_pt)(void *data);

struct prov_rs_s {
    prov_ctx_t          *ctx;
    CURL                *curl;
    struct curl_slist   *headers;
    char                *auth;              /* "Authorization: Bearer ..." */
    prov_handover_t     *handover;
    prov_rs_leader_pt    leader;
    void                *leader_data;
    /* before every request (the daemon: renews the lease, and refuses a
     * request that could outlast it); NULL: none */
    prov_guard_pt        guard;
    void                *guard_data;
    /* extra attempts per sync request: rustshare_retries, or 0 in the
     * daemon, which retries on a later tick instead */
    int                  sync_retries;
    unsigned             requests;          /* HTTP requests sent */
    /* pushes: extra attempts and seconds per request; the config's
     * (rustshare_retries, rustshare_timeout) unless the caller changes
     * them (the daemon: no retry inside a tick, see prov_push.c) */
    int                  push_retries;
    int                  push_timeout;
    long                 last_status;       /* of the last answer, 0: none */
};


typedef struct {
    int          full;              /* a snapshot was applied */
    int          unchanged;         /* 304: nothing new */
    int64_t      revision;          /* the revision now applied */
    size_t       spaces_written;
    size_t       spaces_deleted;
    size_t       identities_written;
    size_t       identities_deleted;
    size_t       skipped;           /* unchanged objects */
    size_t       failed;            /* backend failed: retried next pass */
    double       fetch_ms;
    double       prepare_ms;        /* validation, unseal and re-seal */
    double       backend_ms;
    double       redis_ms;
} prov_rs_result_t;


int prov_rs_open(prov_rs_t *rs, prov_ctx_t *ctx, prov_err_t *err);
void prov_rs_close(prov_rs_t *rs);

/*
 * One sync pass: a full snapshot when forced, when no revision is stored
 * or when RustShare answers 410 to "changes since"; otherwise the changes
 * since the stored revision, long-polling up to `wait` seconds.
 */
int prov_rs_sync(prov_rs_t *rs, int full, int wait, prov_rs_result_t *res,
    prov_err_t *err);

/*
 * Push endpoints (retried with backoff; idempotent on RustShare's side by
 * the Idempotency-Key).  The arrays are borrowed.
 *   usage:     [{"space_id", "bytes", "objects"}]
 *   key-usage: [{"identity_id", "last_used_at"}]
 *   audit:     [event, ...] (docs/rustshare-api.md)
 */
int prov_rs_push_usage(prov_rs_t *rs, json_t *spaces, prov_err_t *err);
int prov_rs_push_key_usage(prov_rs_t *rs, json_t *keys, prov_err_t *err);
int prov_rs_push_audit(prov_rs_t *rs, json_t *events, const char *batch_id,
    prov_err_t *err);
/*
 * POST a body as it is (kind: "usage", "key-usage" or "audit"), so that
 * a batch retried with its Idempotency-Key is the same bytes every time.
 * rs->last_status tells a refusal of the body (400) from an outage.
 */
int prov_rs_push_body(prov_rs_t *rs, const char *kind, const char *body,
    const char *idem, prov_err_t *err);

/* CLI: `sync [--full]`, `rustshare push KIND FILE` */
int prov_rs_cli_sync(const char *config, int json, int full, int wait,
    int allow_mass_delete, prov_err_t *err);
int prov_rs_cli_push(const char *config, int json, const char *kind,
    const char *file, prov_err_t *err);
/* CLI: `handover pubkey` (of a private key file), `handover seal` */
int prov_rs_cli_pubkey(const char *path, int json, prov_err_t *err);
int prov_rs_cli_seal(const char *config, const char *access_key_id,
    prov_err_t *err);

/* the revision and outcome of the last pass, for `status`; NULL if none */
json_t *prov_rs_status_json(prov_ctx_t *ctx);


#endif /* PROV_RUSTSHARE_H */

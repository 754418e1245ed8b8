
/*
 * objspace-provisioner: applying a RustShare change set (internal to
 * prov_rustshare.c, prov_rs_apply.c, prov_rs_digest.c and
 * prov_rs_write.c).  docs/rustshare-api.md, "Apply semantics".
 */

#ifndef PROV_RS_APPLY_H
#define PROV_RS_APPLY_H


#include <openssl/evp.h>

#include "prov_rustshare.h"


#define PROV_RS_BATCH        512        /* objects per MULTI/EXEC */
#define PROV_RS_PIPE         8192       /* commands per read pipeline */
#define PROV_RS_DIGEST_LEN   32
/* "{space_id} {access_key_id} {digest}" in the managed identities hash */
#define PROV_RS_MANAGED_LEN  (24 + 1 + PROV_ACCESS_KEY_LEN + 1 \
                              + PROV_RS_DIGEST_LEN + 1)


typedef struct {
    const char    *id;
    json_t        *obj;             /* borrowed from the set; NULL: delete */
    char          *sealed;          /* identity: secret, key-file sealed */
    char          *sealed_prev;
    char          *managed;         /* value in the managed hash or NULL */
    char          *tenant;          /* identity: its space's tenant */
    char          *bucket;          /* its (space's) bucket name; of an
                                       identity: only if it is new */
    char          *owner;           /* who holds the bucket / access key */
    prov_space_t  *cur;             /* space: the record in Redis */
    char           digest[PROV_RS_DIGEST_LEN + 1];
    char           ak[PROV_ACCESS_KEY_LEN + 1];     /* identity */
    unsigned       skip:1;          /* unchanged */
    unsigned       is_new:1;        /* space: not in Redis yet */
    unsigned       failed:1;        /* backend failed: next pass retries */
    unsigned       disable:1;       /* space: suspend the backend after */
    unsigned       ev:10;           /* identity: PROV_RS_EV_*, by prepare */
} prov_rs_item_t;


/*
 * What an upsert changes in an identity record that exists (prepare
 * compares; the write emits the audit events: docs/provisioner.md,
 * "Audit").  An identity without a record is key.created.
 */
#define PROV_RS_EV_REVOKED      0x001   /* key.revoked */
#define PROV_RS_EV_ACTIVE       0x002   /* key.reactivated */
#define PROV_RS_EV_ROTATED      0x004   /* key.rotated: another secret */
#define PROV_RS_EV_EXPIRY       0x008   /* expiry.changed */
#define PROV_RS_EV_NAME         0x010   /* key.changed ... */
#define PROV_RS_EV_MODE         0x020
#define PROV_RS_EV_PREFIX       0x040
#define PROV_RS_EV_IMMUTABLE    0x080
#define PROV_RS_EV_PREV         0x100   /* grace period set or ended */


typedef struct {
    json_t          *spaces;        /* id -> object, or null: delete */
    json_t          *idents;
    json_t          *keys;          /* data_keys: dek id -> wrapped DEK */
    int64_t          revision;
    int              full;
    prov_rs_item_t  *sp;
    size_t           nsp;
    prov_rs_item_t  *id;
    size_t           nid;
} prov_rs_set_t;


/* SHA-256 fed through a small buffer: the objects' digests */
typedef struct {
    EVP_MD_CTX  *ctx;
    EVP_MD      *md;
    size_t       len;
    char         buf[1024];
} prov_rs_hash_t;


/* prefix + 16 lowercase hex */
int prov_rs_valid_id(const char *s, const char *prefix);
/* "RS3" + 17 of [A-Z2-7] */
int prov_rs_valid_ak(const char *s);
/* RFC 3339 UTC (or null -> 0): 0 ok, -1 malformed */
int prov_rs_time(json_t *v, int64_t *t);
int prov_rs_hash_init(prov_rs_hash_t *h, prov_err_t *err);
void prov_rs_hash_free(prov_rs_hash_t *h);
/* 32 hex of SHA-256 over o's canonical JSON: the managed digest */
int prov_rs_digest(prov_rs_hash_t *h, json_t *o, char *out,
    prov_err_t *err);
/* monotonic milliseconds, for the pass's timings */
double prov_rs_ms(void);

/* one object of a set, validated (docs/rustshare-api.md "Objects"); the
 * identity's envelopes are borrowed from o */
int prov_rs_space_parse(prov_rs_t *rs, json_t *o, prov_space_t *sp,
    prov_err_t *err);
int prov_rs_ident_parse(json_t *o, prov_ident_t *id, json_t **sec,
    json_t **prev, int64_t *prev_until, prov_err_t *err);

int prov_rs_apply(prov_rs_t *rs, prov_rs_set_t *set, prov_rs_result_t *res,
    prov_err_t *err);
void prov_rs_set_free(prov_rs_set_t *set);

/* the writes of a prepared set (prov_rs_write.c), in prov_rs_apply's order */
/* PROV_ERR (PROV_E_BUSY) when the leader lease is lost: write nothing more */
int prov_rs_leader(prov_rs_t *rs, prov_err_t *err);
/* new spaces, quota, enabling; a failure marks the item failed */
int prov_rs_backend(prov_rs_t *rs, prov_rs_set_t *set,
    prov_rs_result_t *res);
/* the records, digests, invalidations and audit events, batch by batch */
int prov_rs_write(prov_rs_t *rs, prov_rs_set_t *set,
    prov_rs_result_t *res, prov_err_t *err);
/* the set's space deletions, last */
int prov_rs_delete_spaces(prov_rs_t *rs, prov_rs_set_t *set,
    prov_rs_result_t *res, prov_err_t *err);


#endif /* PROV_RS_APPLY_H */

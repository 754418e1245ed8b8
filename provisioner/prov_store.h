
/*
 * objspace-provisioner: storage admin driver interface.
 *
 * One backend user (and key) per Object Space, owning exactly one bucket;
 * only the gateway holds that key.  Drivers: rgw (Ceph admin REST API),
 * rustfs (/rustfs/admin/v3).
 */

#ifndef PROV_STORE_H
#define PROV_STORE_H


#include "prov_core.h"
#include "prov_config.h"
#include "prov_http.h"


#define PROV_BACKEND_KEY_MAX  128


typedef struct {
    const char  *space_id;
    const char  *tenant;
    const char  *name;
    const char  *bucket;
    int64_t      quota_bytes;
    int          enabled;
    /* in: the current backend key (check, bucket creation, repair);
     * out: the key a create_user / new_key produced.  Wiped by callers. */
    char         backend_ak[PROV_BACKEND_KEY_MAX];
    char         backend_sk[PROV_BACKEND_KEY_MAX];
} prov_store_space_t;


typedef struct {
    int          user_exists;
    int          user_enabled;
    int          key_ok;          /* backend_ak is a key of that user */
    int          bucket_exists;
    int          bucket_owned;    /* owned by the space's user */
    int          policy_ok;       /* the user may use the bucket (rustfs) */
    int          quota_ok;
    int64_t      quota_bytes;     /* what the backend enforces, 0 = none */
    char         owner[128];      /* bucket owner when not ours */
} prov_store_check_t;


/* what the storage itself reports for a bucket */
typedef struct {
    int64_t      bytes;           /* -1: unknown (not scanned yet) */
    int64_t      objects;         /* completed objects, -1: cannot tell */
    int64_t      as_of_ms;        /* snapshot time (unix ms), 0: live */
} prov_store_usage_t;


typedef struct prov_store_s  prov_store_t;

typedef struct {
    const char  *name;
    /* creates the space's backend user; fills backend_ak/backend_sk */
    int  (*create_user)(prov_store_t *st, prov_store_space_t *sp,
                        prov_err_t *err);
    /* grants access to the bucket once it exists (policies), may be NULL */
    int  (*bind_bucket)(prov_store_t *st, prov_store_space_t *sp,
                        prov_err_t *err);
    /* issues a new key for an existing user; fills backend_ak/sk */
    int  (*new_key)(prov_store_t *st, prov_store_space_t *sp,
                    prov_err_t *err);
    int  (*set_quota)(prov_store_t *st, prov_store_space_t *sp,
                      prov_err_t *err);
    int  (*set_enabled)(prov_store_t *st, prov_store_space_t *sp,
                        int enabled, prov_err_t *err);
    /* removes bucket (with its objects) and user; missing parts are ok */
    int  (*delete_space)(prov_store_t *st, prov_store_space_t *sp,
                         prov_err_t *err);
    int  (*check)(prov_store_t *st, prov_store_space_t *sp,
                  prov_store_check_t *chk, prov_err_t *err);
    /* bytes and objects stored in the bucket */
    int  (*usage)(prov_store_t *st, prov_store_space_t *sp,
                  prov_store_usage_t *u, prov_err_t *err);
    /* buckets are created with the admin key (no per-user ownership) */
    int    bucket_by_admin;
} prov_store_ops_t;


struct prov_store_s {
    const prov_store_ops_t  *ops;
    const prov_config_t     *cf;
    prov_http_t              admin;
};


extern const prov_store_ops_t  prov_store_rgw_ops;
extern const prov_store_ops_t  prov_store_rustfs_ops;


int prov_store_open(prov_store_t *st, const prov_config_t *cf,
    prov_err_t *err);
void prov_store_close(prov_store_t *st);

/* user + bucket (owned by the user) + quota; undoes itself on failure */
int prov_store_create_space(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err);
/* S3 PUT /{bucket} signed with the space's own backend key */
int prov_store_create_bucket(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err);
/* S3 HEAD /{bucket} signed with the space's own key: 1 ok, 0 denied */
int prov_store_bucket_access(prov_store_t *st, prov_store_space_t *sp,
    int *ok, prov_err_t *err);
void prov_store_space_wipe(prov_store_space_t *sp);
/* an HTTP error as "403 AccessDenied" for messages */
void prov_store_http_error(prov_err_t *err, const char *what,
    prov_http_resp_t *resp);


#endif /* PROV_STORE_H */


/*
 * objspace-provisioner: the driver-independent half of storage admin.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov_store.h"


int
prov_store_open(prov_store_t *st, const prov_config_t *cf, prov_err_t *err)
{
    memset(st, 0, sizeof(*st));

    st->cf = cf;

    if (strcmp(cf->storage, "rgw") == 0) {
        st->ops = &prov_store_rgw_ops;

    } else if (strcmp(cf->storage, "rustfs") == 0) {
        st->ops = &prov_store_rustfs_ops;

    } else {
        prov_err_set(err, PROV_E_CONFIG, "unknown storage driver \"%s\"",
                     cf->storage);
        return PROV_ERR;
    }

    if (prov_http_init(&st->admin, cf->storage_endpoint, cf->storage_region,
                       cf->storage_access_key, cf->storage_secret_key, err)
        != PROV_OK)
    {
        return PROV_ERR;
    }

    st->admin.connect_timeout_ms = cf->storage_connect_timeout_ms;
    st->admin.timeout_ms = cf->storage_timeout_ms;

    return PROV_OK;
}


void
prov_store_close(prov_store_t *st)
{
    if (st->admin.curl) {
        prov_http_free(&st->admin);
    }
}


void
prov_store_space_wipe(prov_store_space_t *sp)
{
    prov_memzero(sp->backend_sk, sizeof(sp->backend_sk));
}


void
prov_store_http_error(prov_err_t *err, const char *what,
    prov_http_resp_t *resp)
{
    char  code[64];

    prov_http_error_code(resp, code, sizeof(code));
    prov_err_set(err, PROV_E_STORAGE, "%s: HTTP %ld%s%s", what, resp->status,
                 code[0] ? " " : "", code);
}


/*
 * On RGW the bucket is created by the space's own user, so that user owns
 * it and nothing else does.  RustFS has no bucket owners (access is by
 * policy), so there the admin key creates it and bind_bucket grants it.
 */

int
prov_store_create_bucket(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err)
{
    int               rc;
    char              path[80];
    prov_http_t       s3;
    prov_http_resp_t  resp;

    rc = PROV_ERR;
    prov_buf_init(&resp.body);

    if (prov_http_init(&s3, st->cf->storage_endpoint, st->cf->storage_region,
                       st->ops->bucket_by_admin ? st->cf->storage_access_key
                                                : sp->backend_ak,
                       st->ops->bucket_by_admin ? st->cf->storage_secret_key
                                                : sp->backend_sk,
                       err) != PROV_OK)
    {
        return PROV_ERR;
    }

    s3.connect_timeout_ms = st->admin.connect_timeout_ms;
    s3.timeout_ms = st->admin.timeout_ms;
    s3.guard = st->admin.guard;
    s3.guard_data = st->admin.guard_data;

    snprintf(path, sizeof(path), "/%s", sp->bucket);

    if (prov_http_request(&s3, "PUT", path, NULL, NULL, 0,
                          PROV_HTTP_SIGN_BODY, &resp, err) != PROV_OK)
    {
        prov_err_prefix(err, "creating bucket \"%s\"", sp->bucket);
        goto done;
    }

    if (resp.status != 200) {
        char  code[64];

        prov_http_error_code(&resp, code, sizeof(code));

        if (strcmp(code, "BucketAlreadyOwnedByYou") != 0) {
            prov_store_http_error(err, "creating bucket", &resp);
            prov_err_prefix(err, "bucket \"%s\"", sp->bucket);
            goto done;
        }
    }

    rc = PROV_OK;

done:

    prov_http_resp_free(&resp);
    prov_http_free(&s3);

    return rc;
}


int
prov_store_bucket_access(prov_store_t *st, prov_store_space_t *sp, int *ok,
    prov_err_t *err)
{
    int               rc;
    char              path[80];
    prov_http_t       s3;
    prov_http_resp_t  resp;

    rc = PROV_ERR;
    prov_buf_init(&resp.body);

    if (prov_http_init(&s3, st->cf->storage_endpoint, st->cf->storage_region,
                       sp->backend_ak, sp->backend_sk, err) != PROV_OK)
    {
        return PROV_ERR;
    }

    s3.connect_timeout_ms = st->admin.connect_timeout_ms;
    s3.timeout_ms = st->admin.timeout_ms;
    s3.guard = st->admin.guard;
    s3.guard_data = st->admin.guard_data;
    s3.retries = 0;

    snprintf(path, sizeof(path), "/%s", sp->bucket);

    if (prov_http_request(&s3, "HEAD", path, NULL, NULL, 0,
                          PROV_HTTP_SIGN_BODY, &resp, err) != PROV_OK)
    {
        goto done;
    }

    *ok = (resp.status == 200);
    rc = PROV_OK;

done:

    prov_http_resp_free(&resp);
    prov_http_free(&s3);

    return rc;
}


/*
 * Never half-applied: if the bucket or the quota fails, the user (and
 * whatever bucket it got) is removed again before reporting the error.
 */

int
prov_store_create_space(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err)
{
    prov_err_t  ignored;

    if (st->ops->create_user(st, sp, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_store_create_bucket(st, sp, err) != PROV_OK) {
        goto undo;
    }

    if (st->ops->bind_bucket && st->ops->bind_bucket(st, sp, err) != PROV_OK)
    {
        goto undo;
    }

    if (sp->quota_bytes > 0 && st->ops->set_quota(st, sp, err) != PROV_OK) {
        goto undo;
    }

    return PROV_OK;

undo:

    if (st->ops->delete_space(st, sp, &ignored) != PROV_OK) {
        prov_log(PROV_LOG_ERR, "store",
                 "space %s: undoing a failed create: %s", sp->space_id,
                 ignored.msg);
    }

    return PROV_ERR;
}

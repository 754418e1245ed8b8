
/*
 * objspace-provisioner: RustFS driver (/rustfs/admin/v3, plain JSON, SigV4
 * with the root key, service s3; contract: /work/shared/RUSTFS.md and
 * docs/provisioner.md).
 *
 * Per space: a user whose access key is generated here ("RSB" + 17), a
 * canned policy "objspace-{space_id}" limited to the space's bucket
 * (ListBucket & co on the bucket ARN, object actions on "bucket/ *") attached
 * to that user, the bucket created with S3 PUT by the root key (RustFS has
 * no bucket owners), and a HARD bucket quota.  Secrets only travel in
 * request bodies, never in URLs.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "prov_store.h"
#include "prov_crypto.h"
#include "prov_sigv4.h"


#define PROV_RFS  "/rustfs/admin/v3"


static int prov_rfs_call(prov_store_t *st, const char *method,
    const char *path, const char *query, const char *body, const char *what,
    prov_http_resp_t *resp, prov_err_t *err);
static int prov_rfs_put_user(prov_store_t *st, prov_store_space_t *sp,
    const char *what, prov_err_t *err);
static int prov_rfs_create_user(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err);
static int prov_rfs_bind_bucket(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err);
static int prov_rfs_new_key(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err);
static int prov_rfs_set_quota(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err);
static int prov_rfs_set_enabled(prov_store_t *st, prov_store_space_t *sp,
    int enabled, prov_err_t *err);
static int prov_rfs_empty_bucket(prov_store_t *st, prov_store_space_t *sp,
    int *missing, prov_err_t *err);
static int prov_rfs_delete_space(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err);
static int prov_rfs_check(prov_store_t *st, prov_store_space_t *sp,
    prov_store_check_t *chk, prov_err_t *err);
static int prov_rfs_usage(prov_store_t *st, prov_store_space_t *sp,
    prov_store_usage_t *u, prov_err_t *err);
static void prov_xml_unescape(char *s);


const prov_store_ops_t  prov_store_rustfs_ops = {
    "rustfs",
    prov_rfs_create_user,
    prov_rfs_bind_bucket,
    prov_rfs_new_key,
    prov_rfs_set_quota,
    prov_rfs_set_enabled,
    prov_rfs_delete_space,
    prov_rfs_check,
    prov_rfs_usage,
    1
};


static int
prov_rfs_call(prov_store_t *st, const char *method, const char *path,
    const char *query, const char *body, const char *what,
    prov_http_resp_t *resp, prov_err_t *err)
{
    if (prov_http_request(&st->admin, method, path, query, body,
                          body ? strlen(body) : 0,
                          PROV_HTTP_SIGN_BODY | (body ? PROV_HTTP_JSON : 0),
                          resp, err)
        != PROV_OK)
    {
        prov_err_prefix(err, "%s", what);
        return PROV_ERR;
    }

    return PROV_OK;
}


/* add-user is an upsert: creating and rotating are the same call */

static int
prov_rfs_put_user(prov_store_t *st, prov_store_space_t *sp, const char *what,
    prov_err_t *err)
{
    int               rc;
    char             *body;
    json_t           *j;
    prov_buf_t        q;
    prov_http_resp_t  resp;

    rc = PROV_ERR;
    body = NULL;
    prov_buf_init(&q);
    prov_buf_init(&resp.body);

    j = json_pack("{s:s, s:s}", "secretKey", sp->backend_sk, "status",
                  sp->enabled ? "enabled" : "disabled");
    if (j == NULL || (body = json_dumps(j, JSON_COMPACT)) == NULL) {
        prov_err_set(err, PROV_E_SYS, "building JSON failed");
        goto done;
    }

    if (prov_buf_puts(&q, "accessKey=") != PROV_OK
        || prov_uri_encode(&q, sp->backend_ak, 0) != PROV_OK)
    {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    if (prov_rfs_call(st, "PUT", PROV_RFS "/add-user", q.data, body, what,
                      &resp, err) != PROV_OK)
    {
        goto done;
    }

    if (resp.status / 100 != 2) {
        prov_store_http_error(err, what, &resp);
        goto done;
    }

    rc = PROV_OK;

done:

    if (body) {
        prov_memzero(body, strlen(body));
        free(body);
    }

    /* jansson copied the secret: wipe its copy before freeing */
    if (j) {
        json_t  *sk = json_object_get(j, "secretKey");

        if (sk) {
            prov_memzero((char *) json_string_value(sk),
                         json_string_length(sk));
        }

        json_decref(j);
    }

    prov_http_resp_free(&resp);
    prov_buf_free(&q);

    return rc;
}


static int
prov_rfs_create_user(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err)
{
    if (prov_gen_access_key_id("RSB", sp->backend_ak, err) != PROV_OK
        || prov_gen_secret(sp->backend_sk, err) != PROV_OK)
    {
        return PROV_ERR;
    }

    sp->enabled = 1;

    return prov_rfs_put_user(st, sp, "creating RustFS user", err);
}


static int
prov_rfs_new_key(prov_store_t *st, prov_store_space_t *sp, prov_err_t *err)
{
    if (prov_gen_secret(sp->backend_sk, err) != PROV_OK) {
        return PROV_ERR;
    }

    return prov_rfs_put_user(st, sp, "rotating RustFS user secret", err);
}


/*
 * The least-privilege policy of RUSTFS.md: exact action names only (the
 * evaluator rejects wildcards like s3:Get*), Version 2012-10-17, no
 * Principal, S3 statements with a Resource.
 */

static int
prov_rfs_bind_bucket(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err)
{
    int               rc;
    char              name[64], *body;
    char              arn[128], arn_obj[128];
    json_t           *pol;
    prov_buf_t        q;
    prov_http_resp_t  resp;

    rc = PROV_ERR;
    body = NULL;
    prov_buf_init(&q);
    prov_buf_init(&resp.body);

    snprintf(name, sizeof(name), "objspace-%s", sp->space_id);
    snprintf(arn, sizeof(arn), "arn:aws:s3:::%s", sp->bucket);
    snprintf(arn_obj, sizeof(arn_obj), "arn:aws:s3:::%s/*", sp->bucket);

    pol = json_pack("{s:s, s:[{s:s, s:[s,s,s], s:[s]}, {s:s, s:[s,s,s,s,s], "
                    "s:[s]}]}",
                    "Version", "2012-10-17",
                    "Statement",
                    "Effect", "Allow",
                    "Action", "s3:ListBucket", "s3:GetBucketLocation",
                    "s3:ListBucketMultipartUploads",
                    "Resource", arn,
                    "Effect", "Allow",
                    "Action", "s3:GetObject", "s3:PutObject",
                    "s3:DeleteObject", "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                    "Resource", arn_obj);
    if (pol == NULL || (body = json_dumps(pol, JSON_COMPACT)) == NULL) {
        prov_err_set(err, PROV_E_SYS, "building policy failed");
        goto done;
    }

    if (prov_buf_printf(&q, "name=%s", name) != PROV_OK) {
        goto nomem;
    }

    if (prov_rfs_call(st, "PUT", PROV_RFS "/add-canned-policy", q.data, body,
                      "adding policy", &resp, err) != PROV_OK)
    {
        goto done;
    }

    if (resp.status / 100 != 2) {
        prov_store_http_error(err, "adding RustFS policy", &resp);
        goto done;
    }

    prov_http_resp_free(&resp);
    prov_buf_reset(&q);

    if (prov_buf_printf(&q, "policyName=%s&userOrGroup=", name) != PROV_OK
        || prov_uri_encode(&q, sp->backend_ak, 0) != PROV_OK
        || prov_buf_puts(&q, "&isGroup=false") != PROV_OK)
    {
        goto nomem;
    }

    if (prov_rfs_call(st, "PUT", PROV_RFS "/set-user-or-group-policy", q.data,
                      NULL, "attaching policy", &resp, err) != PROV_OK)
    {
        goto done;
    }

    if (resp.status / 100 != 2) {
        prov_store_http_error(err, "attaching RustFS policy", &resp);
        goto done;
    }

    rc = PROV_OK;
    goto done;

nomem:

    prov_err_set(err, PROV_E_SYS, "out of memory");

done:

    free(body);
    json_decref(pol);
    prov_http_resp_free(&resp);
    prov_buf_free(&q);

    return rc;
}


/* quota 0 clears it (RUSTFS.md); 503 while not ready is retried by http */

static int
prov_rfs_set_quota(prov_store_t *st, prov_store_space_t *sp, prov_err_t *err)
{
    int               rc;
    char              path[128], body[96];
    prov_http_resp_t  resp;

    rc = PROV_ERR;
    prov_buf_init(&resp.body);

    snprintf(path, sizeof(path), PROV_RFS "/quota/%s", sp->bucket);
    snprintf(body, sizeof(body), "{\"quota\":%lld,\"quota_type\":\"HARD\"}",
             (long long) (sp->quota_bytes > 0 ? sp->quota_bytes : 0));

    if (prov_rfs_call(st, "PUT", path, NULL, body, "setting quota", &resp,
                      err) != PROV_OK)
    {
        goto done;
    }

    if (resp.status / 100 != 2) {
        prov_store_http_error(err, "setting RustFS bucket quota", &resp);
        goto done;
    }

    rc = PROV_OK;

done:

    prov_http_resp_free(&resp);

    return rc;
}


static int
prov_rfs_set_enabled(prov_store_t *st, prov_store_space_t *sp, int enabled,
    prov_err_t *err)
{
    int               rc;
    prov_buf_t        q;
    prov_http_resp_t  resp;

    rc = PROV_ERR;
    prov_buf_init(&q);
    prov_buf_init(&resp.body);

    if (prov_buf_puts(&q, "accessKey=") != PROV_OK
        || prov_uri_encode(&q, sp->backend_ak, 0) != PROV_OK
        || prov_buf_printf(&q, "&status=%s",
                           enabled ? "enabled" : "disabled") != PROV_OK)
    {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    if (prov_rfs_call(st, "PUT", PROV_RFS "/set-user-status", q.data, NULL,
                      "setting user status", &resp, err) != PROV_OK)
    {
        goto done;
    }

    if (resp.status / 100 != 2) {
        prov_store_http_error(err, "setting RustFS user status", &resp);
        goto done;
    }

    rc = PROV_OK;

done:

    prov_http_resp_free(&resp);
    prov_buf_free(&q);

    return rc;
}


static void
prov_xml_unescape(char *s)
{
    char        *w;
    size_t       i;
    static const struct { const char *e; char c; }  ents[] = {
        { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
        { "&quot;", '"' }, { "&apos;", '\'' }
    };

    for (w = s; *s; /* void */ ) {
        if (*s == '&') {
            for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
                if (strncmp(s, ents[i].e, strlen(ents[i].e)) == 0) {
                    *w++ = ents[i].c;
                    s += strlen(ents[i].e);
                    goto next;
                }
            }
        }

        *w++ = *s++;

    next:
        continue;
    }

    *w = '\0';
}


/*
 * Deletes every object of the bucket with the root key (ListObjectsV2 +
 * DELETE per key), as RustFS refuses to delete a non-empty bucket.
 */

static int
prov_rfs_empty_bucket(prov_store_t *st, prov_store_space_t *sp, int *missing,
    prov_err_t *err)
{
    int               rc, rounds;
    char             *p, *e, *key, code[64];
    prov_buf_t        q, path;
    prov_http_resp_t  resp, dresp;

    rc = PROV_ERR;
    *missing = 0;
    prov_buf_init(&q);
    prov_buf_init(&path);
    prov_buf_init(&resp.body);
    prov_buf_init(&dresp.body);

    for (rounds = 0; rounds < 100000; rounds++) {
        prov_buf_reset(&path);

        if (prov_buf_printf(&path, "/%s", sp->bucket) != PROV_OK) {
            goto nomem;
        }

        if (prov_http_request(&st->admin, "GET", path.data,
                              "list-type=2&max-keys=1000", NULL, 0,
                              PROV_HTTP_SIGN_BODY, &resp, err) != PROV_OK)
        {
            goto done;
        }

        if (resp.status == 404) {
            *missing = 1;
            rc = PROV_OK;
            goto done;
        }

        if (resp.status != 200) {
            prov_store_http_error(err, "listing RustFS bucket", &resp);
            goto done;
        }

        if (strstr(resp.body.data ? resp.body.data : "", "<Key>") == NULL) {
            break;
        }

        for (p = resp.body.data; (p = strstr(p, "<Key>")) != NULL;
             p = e + 6)
        {
            p += 5;
            e = strstr(p, "</Key>");
            if (e == NULL) {
                break;
            }

            key = strndup(p, e - p);
            if (key == NULL) {
                goto nomem;
            }

            prov_xml_unescape(key);
            prov_buf_reset(&path);

            if (prov_buf_printf(&path, "/%s/", sp->bucket) != PROV_OK
                || prov_uri_encode(&path, key, 1) != PROV_OK)
            {
                free(key);
                goto nomem;
            }

            free(key);

            if (prov_http_request(&st->admin, "DELETE", path.data, NULL,
                                  NULL, 0, PROV_HTTP_SIGN_BODY, &dresp, err)
                != PROV_OK)
            {
                goto done;
            }

            if (dresp.status / 100 != 2) {
                prov_http_error_code(&dresp, code, sizeof(code));

                if (strcmp(code, "NoSuchKey") != 0) {
                    prov_store_http_error(err, "deleting RustFS object",
                                          &dresp);
                    goto done;
                }
            }

            prov_http_resp_free(&dresp);
        }

        prov_http_resp_free(&resp);
    }

    rc = PROV_OK;
    goto done;

nomem:

    prov_err_set(err, PROV_E_SYS, "out of memory");

done:

    prov_http_resp_free(&resp);
    prov_http_resp_free(&dresp);
    prov_buf_free(&q);
    prov_buf_free(&path);

    return rc;
}


/*
 * Objects, bucket, user (remove-user answers 500 for a missing user, so
 * existence is checked first), then the policy (it cannot be removed while
 * attached).  Every step tolerates "already gone".
 */

static int
prov_rfs_delete_space(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err)
{
    int                 rc, missing;
    char                path[128], code[64];
    prov_buf_t          q;
    prov_http_resp_t    resp;
    prov_store_check_t  chk;

    rc = PROV_ERR;
    prov_buf_init(&q);
    prov_buf_init(&resp.body);

    if (prov_rfs_check(st, sp, &chk, err) != PROV_OK) {
        goto done;
    }

    if (chk.bucket_exists) {
        if (prov_rfs_empty_bucket(st, sp, &missing, err) != PROV_OK) {
            goto done;
        }

        snprintf(path, sizeof(path), "/%s", sp->bucket);

        if (!missing
            && prov_http_request(&st->admin, "DELETE", path, NULL, NULL, 0,
                                 PROV_HTTP_SIGN_BODY, &resp, err) != PROV_OK)
        {
            goto done;
        }

        prov_http_error_code(&resp, code, sizeof(code));

        if (!missing && resp.status / 100 != 2
            && strcmp(code, "NoSuchBucket") != 0)
        {
            prov_store_http_error(err, "deleting RustFS bucket", &resp);
            goto done;
        }

        prov_http_resp_free(&resp);
    }

    if (chk.user_exists && sp->backend_ak[0]) {
        if (prov_buf_puts(&q, "accessKey=") != PROV_OK
            || prov_uri_encode(&q, sp->backend_ak, 0) != PROV_OK)
        {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }

        if (prov_rfs_call(st, "DELETE", PROV_RFS "/remove-user", q.data, NULL,
                          "deleting user", &resp, err) != PROV_OK)
        {
            goto done;
        }

        if (resp.status / 100 != 2) {
            prov_store_http_error(err, "deleting RustFS user", &resp);
            goto done;
        }

        prov_http_resp_free(&resp);
    }

    prov_buf_reset(&q);

    if (prov_buf_printf(&q, "name=objspace-%s", sp->space_id) != PROV_OK) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    if (prov_rfs_call(st, "DELETE", PROV_RFS "/remove-canned-policy", q.data,
                      NULL, "deleting policy", &resp, err) != PROV_OK)
    {
        goto done;
    }

    prov_http_error_code(&resp, code, sizeof(code));

    if (resp.status / 100 != 2 && resp.status != 404
        && strstr(code, "NoSuch") == NULL)
    {
        prov_store_http_error(err, "deleting RustFS policy", &resp);
        goto done;
    }

    rc = PROV_OK;

done:

    prov_http_resp_free(&resp);
    prov_buf_free(&q);

    return rc;
}


static int
prov_rfs_check(prov_store_t *st, prov_store_space_t *sp,
    prov_store_check_t *chk, prov_err_t *err)
{
    int               rc;
    char              path[128], policy[64];
    json_t           *users, *u, *quota;
    json_error_t      jerr;
    const char       *s;
    prov_http_resp_t  resp;

    rc = PROV_ERR;
    users = NULL;
    quota = NULL;
    prov_buf_init(&resp.body);
    memset(chk, 0, sizeof(*chk));

    snprintf(policy, sizeof(policy), "objspace-%s", sp->space_id);

    if (prov_rfs_call(st, "GET", PROV_RFS "/list-users", NULL, NULL,
                      "listing users", &resp, err) != PROV_OK)
    {
        goto done;
    }

    if (resp.status != 200
        || (users = json_loadb(resp.body.data, resp.body.len, 0, &jerr))
           == NULL)
    {
        prov_store_http_error(err, "listing RustFS users", &resp);
        goto done;
    }

    u = sp->backend_ak[0] ? json_object_get(users, sp->backend_ak) : NULL;

    if (json_is_object(u)) {
        chk->user_exists = 1;
        chk->key_ok = 1;
        s = json_string_value(json_object_get(u, "status"));
        chk->user_enabled = (s && strcmp(s, "enabled") == 0);
        s = json_string_value(json_object_get(u, "policyName"));
        chk->policy_ok = (s && strstr(s, policy) != NULL);
    }

    prov_http_resp_free(&resp);
    snprintf(path, sizeof(path), "/%s", sp->bucket);

    if (prov_http_request(&st->admin, "HEAD", path, NULL, NULL, 0,
                          PROV_HTTP_SIGN_BODY, &resp, err) != PROV_OK)
    {
        goto done;
    }

    if (resp.status == 200) {
        chk->bucket_exists = 1;
        chk->bucket_owned = 1;

    } else if (resp.status != 404) {
        prov_store_http_error(err, "checking RustFS bucket", &resp);
        goto done;
    }

    prov_http_resp_free(&resp);

    if (chk->bucket_exists) {
        snprintf(path, sizeof(path), PROV_RFS "/quota-stats/%s", sp->bucket);

        if (prov_rfs_call(st, "GET", path, NULL, NULL, "reading quota",
                          &resp, err) != PROV_OK)
        {
            goto done;
        }

        if (resp.status == 200
            && (quota = json_loadb(resp.body.data, resp.body.len, 0, &jerr)))
        {
            chk->quota_bytes = json_integer_value(json_object_get(quota,
                                                                  "quota"));
        }
    }

    chk->quota_ok = (chk->quota_bytes == sp->quota_bytes
                     || !chk->bucket_exists);

    if (!chk->user_exists) {
        chk->policy_ok = 1;     /* reported as "user missing" instead */
    }

    rc = PROV_OK;

done:

    json_decref(users);
    json_decref(quota);
    prov_http_resp_free(&resp);

    return rc;
}


/*
 * Scanner-based and eventually consistent (RUSTFS.md): a bucket not
 * scanned yet is unknown; "last_update" (RFC 3339), when present, dates
 * the snapshot.
 */

static int
prov_rfs_usage(prov_store_t *st, prov_store_space_t *sp,
    prov_store_usage_t *u, prov_err_t *err)
{
    int               rc;
    json_t           *j, *b;
    struct tm         tm;
    const char       *s, *end;
    json_error_t      jerr;
    prov_http_resp_t  resp;

    rc = PROV_ERR;
    j = NULL;
    u->bytes = -1;
    u->objects = -1;
    u->as_of_ms = 0;
    prov_buf_init(&resp.body);

    if (prov_rfs_call(st, "GET", PROV_RFS "/datausageinfo", NULL, NULL,
                      "reading usage", &resp, err) != PROV_OK)
    {
        goto done;
    }

    if (resp.status != 200
        || (j = json_loadb(resp.body.data, resp.body.len, 0, &jerr)) == NULL)
    {
        prov_store_http_error(err, "reading RustFS usage", &resp);
        goto done;
    }

    b = json_object_get(json_object_get(j, "buckets_usage"), sp->bucket);

    if (json_is_object(b)) {
        u->bytes = json_integer_value(json_object_get(b, "size"));

        if (json_is_integer(json_object_get(b, "objects_count"))) {
            u->objects = json_integer_value(json_object_get(b,
                                                            "objects_count"));
        }
    }

    s = json_string_value(json_object_get(j, "last_update"));

    if (s) {
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

        if (end) {
            u->as_of_ms = (int64_t) timegm(&tm) * 1000;
        }
    }

    rc = PROV_OK;

done:

    json_decref(j);
    prov_http_resp_free(&resp);

    return rc;
}


/*
 * objspace-provisioner: the "space" and "key" command groups of the
 * command line interface (prov_cli.c parses the command line and calls
 * them): create, list, show and change Object Spaces and their S3 access
 * keys.  A key's secret is printed exactly once, at creation and rotation
 * (prov_print_secret), and nowhere else.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "prov_cli.h"
#include "prov_state.h"
#include "prov_audit.h"
#include "prov_public.h"


static json_t *prov_space_json(prov_ctx_t *ctx, prov_space_t *sp);
static json_t *prov_key_json(prov_ctx_t *ctx, prov_ident_t *id,
    prov_space_t *sp);
static void prov_space_print(prov_ctx_t *ctx, prov_space_t *sp);
static void prov_key_print(prov_ident_t *id, prov_space_t *sp);
static int prov_examples(prov_ctx_t *ctx, prov_ident_t *id, prov_space_t *sp,
    const char *secret, prov_buf_t *aws, prov_buf_t *s3cfg,
    prov_buf_t *rclone);
static int prov_print_secret(prov_cli_global_t *g, prov_ctx_t *ctx,
    prov_ident_t *id, prov_space_t *sp, const char *secret, int rotated,
    prov_err_t *err);
static const char *prov_key_state(prov_ident_t *id);
static json_t *prov_time_json(int64_t t);
static int prov_cli_key_load(prov_ctx_t *ctx, const char *ref,
    prov_ident_t *id, prov_space_t *sp, prov_err_t *err);
static int prov_space_action(prov_cli_global_t *g, const char *ref,
    int action, const char *arg, prov_err_t *err);
static int prov_key_action(prov_cli_global_t *g, const char *ref,
    int action, int64_t grace, prov_err_t *err);


static json_t *
prov_time_json(int64_t t)
{
    char  buf[32];

    if (t == 0) {
        return json_null();
    }

    prov_format_time(t, buf, sizeof(buf));

    return json_string(buf);
}


static json_t *
prov_space_json(prov_ctx_t *ctx, prov_space_t *sp)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o, "
                     "s:s, s:s}",
                     "id", sp->id,
                     "tenant_id", sp->tenant,
                     "name", sp->name,
                     "bucket", sp->bucket,
                     "purpose", sp->purpose,
                     "visibility", sp->visibility,
                     "quota_bytes", (json_int_t) sp->quota_bytes,
                     "status", sp->status,
                     "endpoint", ctx->cf.endpoint,
                     "created_at", prov_time_json(sp->created_at),
                     "s3_api_access", "authenticated endpoint",
                     "public_web_access",
                     strcmp(sp->visibility, "public") == 0
                         ? "enabled" : "disabled");
}


static const char *
prov_key_state(prov_ident_t *id)
{
    if (strcmp(id->status, "active") == 0 && id->expires_at
        && id->expires_at <= prov_now())
    {
        return "expired";
    }

    return id->status;
}


static json_t *
prov_key_json(prov_ctx_t *ctx, prov_ident_t *id, prov_space_t *sp)
{
    json_t  *j;

    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, "
                  "s:s, s:o, s:o, s:b}",
                  "id", id->id,
                  "access_key_id", id->access_key_id,
                  "name", id->name,
                  "space_id", id->space,
                  "tenant_id", id->tenant,
                  "endpoint", ctx->cf.endpoint,
                  "bucket", sp ? sp->bucket : "",
                  "prefix", id->prefix,
                  "region", ctx->cf.region,
                  "permissions", id->mode,
                  "immutable", id->immutable,
                  "status", prov_key_state(id),
                  "expires_at", prov_time_json(id->expires_at),
                  "created_at", prov_time_json(id->created_at),
                  "path_style", ctx->cf.path_style);

    if (j && id->secret_prev_until > prov_now()) {
        json_object_set_new(j, "previous_secret_valid_until",
                            prov_time_json(id->secret_prev_until));
    }

    if (j) {
        redisReply  *lu;
        prov_err_t   e;

        /* from the audit stream, written by the daemon (prov_audit.c) */
        lu = prov_redis_cmd(&ctx->redis, &e, "HGET %s %s", PROV_K_LASTUSED,
                            id->id);
        json_object_set_new(j, "last_used_at",
                            lu && lu->type == REDIS_REPLY_STRING
                            ? prov_time_json(strtoll(lu->str, NULL, 10))
                            : json_null());
        if (lu) {
            freeReplyObject(lu);
        }
    }

    return j;
}


static void
prov_space_print(prov_ctx_t *ctx, prov_space_t *sp)
{
    char  q[32], t[32];

    prov_format_size(sp->quota_bytes, q, sizeof(q));
    prov_format_time(sp->created_at, t, sizeof(t));

    printf("ID: %s\n"
           "Tenant: %s\n"
           "Name: %s\n"
           "Bucket: %s\n"
           "Endpoint: %s\n"
           "Purpose: %s\n"
           "Quota: %s\n"
           "Status: %s\n"
           "Created: %s\n"
           "S3 API Access: authenticated endpoint\n"
           "Public Web Access: %s\n",
           sp->id, sp->tenant, sp->name, sp->bucket, ctx->cf.endpoint,
           sp->purpose, q, sp->status, t,
           strcmp(sp->visibility, "public") == 0 ? "enabled" : "disabled");
}


static void
prov_key_print(prov_ident_t *id, prov_space_t *sp)
{
    char  e[32], c[32], p[32];

    prov_format_time(id->expires_at, e, sizeof(e));
    prov_format_time(id->created_at, c, sizeof(c));

    printf("Key ID: %s\n"
           "Access Key: %s\n"
           "Name: %s\n"
           "Space: %s\n"
           "Bucket: %s\n"
           "Prefix: %s\n"
           "Mode: %s\n"
           "Immutable: %s\n"
           "Status: %s\n"
           "Expires: %s\n"
           "Created: %s\n",
           id->id, id->access_key_id, id->name, id->space,
           sp ? sp->bucket : "?", id->prefix[0] ? id->prefix : "(whole bucket)",
           id->mode, id->immutable ? "yes" : "no", prov_key_state(id), e, c);

    if (id->secret_prev_until > prov_now()) {
        prov_format_time(id->secret_prev_until, p, sizeof(p));
        printf("Previous secret valid until: %s\n", p);
    }
}


/*
 * Ready-to-paste client configuration.  The endpoint, region and
 * addressing style come from the config, so what is printed is what the
 * gateway serves.
 */

static int
prov_examples(prov_ctx_t *ctx, prov_ident_t *id, prov_space_t *sp,
    const char *secret, prov_buf_t *aws, prov_buf_t *s3cfg,
    prov_buf_t *rclone)
{
    int          https, reads, writes;
    char         remote[80];
    const char  *host, *ep;

    ep = ctx->cf.endpoint;
    https = (strncmp(ep, "https://", 8) == 0);
    host = strstr(ep, "://");
    host = host ? host + 3 : ep;

    reads = strcmp(id->mode, "write-only") != 0;
    writes = strcmp(id->mode, "read-only") != 0;

    snprintf(remote, sizeof(remote), "objspace-%s", id->name);

    if (prov_buf_printf(aws,
            "export AWS_ACCESS_KEY_ID=%s\n"
            "export AWS_SECRET_ACCESS_KEY=%s\n"
            "export AWS_DEFAULT_REGION=%s\n",
            id->access_key_id, secret, ctx->cf.region) != PROV_OK)
    {
        return PROV_ERR;
    }

    if (writes
        && prov_buf_printf(aws,
            "aws --endpoint-url %s s3 cp ./release.tar.gz s3://%s/%s\n",
            ep, sp->bucket, id->prefix) != PROV_OK)
    {
        return PROV_ERR;
    }

    if (reads
        && prov_buf_printf(aws, "aws --endpoint-url %s s3 ls s3://%s/%s\n",
                           ep, sp->bucket, id->prefix) != PROV_OK)
    {
        return PROV_ERR;
    }

    if (prov_buf_printf(s3cfg,
            "[default]\n"
            "access_key = %s\n"
            "secret_key = %s\n"
            "host_base = %s\n"
            "host_bucket = %s%s\n"
            "bucket_location = %s\n"
            "use_https = %s\n"
            "signature_v2 = False\n",
            id->access_key_id, secret, host,
            ctx->cf.path_style ? "" : "%(bucket)s.",
            host, ctx->cf.region, https ? "True" : "False") != PROV_OK)
    {
        return PROV_ERR;
    }

    if (prov_buf_printf(rclone,
            "[%s]\n"
            "type = s3\n"
            "provider = Other\n"
            "access_key_id = %s\n"
            "secret_access_key = %s\n"
            "endpoint = %s\n"
            "region = %s\n"
            "force_path_style = %s\n"
            "no_check_bucket = true\n",
            remote, id->access_key_id, secret, ep, ctx->cf.region,
            ctx->cf.path_style ? "true" : "false") != PROV_OK)
    {
        return PROV_ERR;
    }

    return PROV_OK;
}


static int
prov_print_secret(prov_cli_global_t *g, prov_ctx_t *ctx, prov_ident_t *id,
    prov_space_t *sp, const char *secret, int rotated, prov_err_t *err)
{
    int          rc, writes;
    char         e[32];
    json_t      *j;
    prov_buf_t   aws, s3cfg, rclone;

    rc = PROV_ERR;
    prov_buf_init(&aws);
    prov_buf_init(&s3cfg);
    prov_buf_init(&rclone);

    if (prov_examples(ctx, id, sp, secret, &aws, &s3cfg, &rclone)
        != PROV_OK)
    {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    if (g->json) {
        j = prov_key_json(ctx, id, sp);
        if (j == NULL
            || json_object_set_new(j, "secret_access_key",
                                   json_string(secret)) != 0
            || json_object_set_new(j, "examples",
                                   json_pack("{s:s, s:s, s:s}",
                                             "aws", aws.data,
                                             "s3cfg", s3cfg.data,
                                             "rclone", rclone.data)) != 0)
        {
            json_decref(j);
            prov_err_set(err, PROV_E_SYS, "building JSON failed");
            goto done;
        }

        rc = prov_json_print(j, err);
        goto done;
    }

    prov_format_time(id->expires_at, e, sizeof(e));
    writes = strcmp(id->mode, "read-only") != 0;

    printf("%s The secret is shown once: store it now.\n\n"
           "Endpoint: %s\n"
           "Bucket: %s\n"
           "Prefix: %s\n"
           "Access Key: %s\n"
           "Secret Key: %s\n"
           "Region: %s\n"
           "Path-style: %s\n"
           "Key ID: %s\n"
           "Mode: %s%s\n"
           "Expires: %s\n",
           rotated ? "Key rotated: new secret below." : "Access key created.",
           ctx->cf.endpoint, sp->bucket,
           id->prefix[0] ? id->prefix : "(whole bucket)",
           id->access_key_id, secret, ctx->cf.region,
           ctx->cf.path_style ? "enabled" : "disabled", id->id, id->mode,
           id->immutable ? " (immutable)" : "", e);

    if (rotated && id->secret_prev_until) {
        prov_format_time(id->secret_prev_until, e, sizeof(e));
        printf("Previous secret valid until: %s\n", e);
    }

    printf("\n# aws cli\n%s"
           "\n# s3cmd: save as ~/.s3cfg-%s, then: s3cmd -c ~/.s3cfg-%s "
           "%s s3://%s/%s\n%s"
           "\n# rclone: append to ~/.config/rclone/rclone.conf, then: "
           "rclone %s objspace-%s:%s/%s\n%s",
           aws.data, id->name, id->name,
           writes ? "put ./release.tar.gz" : "ls", sp->bucket, id->prefix,
           s3cfg.data,
           writes ? "copy ./release.tar.gz" : "ls", id->name, sp->bucket,
           id->prefix, rclone.data);

    rc = PROV_OK;

done:

    fflush(stdout);
    prov_buf_wipe(&aws);
    prov_buf_wipe(&s3cfg);
    prov_buf_wipe(&rclone);

    return rc;
}


int
prov_cmd_space_create(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int               rc;
    const char       *q;
    prov_ctx_t        ctx;
    prov_space_t      sp;
    prov_space_req_t  req;

    (void) pos;
    (void) npos;

    memset(&req, 0, sizeof(req));
    req.tenant = prov_opt(opts, "tenant");
    req.name = prov_opt(opts, "name");
    req.purpose = prov_opt(opts, "purpose");
    req.public = prov_opt_set(opts, "public");

    if (req.tenant == NULL || req.name == NULL) {
        prov_err_set(err, PROV_E_INVAL, "--tenant and --name are required");
        return PROV_ERR;
    }

    if (req.purpose == NULL) {
        req.purpose = "generic";
    }

    q = prov_opt(opts, "quota");
    if (q && prov_parse_size(q, &req.quota_bytes, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = prov_space_create(&ctx, &req, &sp, err);

    if (rc == PROV_OK) {
        if (g->json) {
            rc = prov_json_print(prov_space_json(&ctx, &sp), err);

        } else {
            printf("Object Space created.\n\n");
            prov_space_print(&ctx, &sp);
        }

        prov_space_free(&sp);
    }

    prov_ctx_close(&ctx);

    return rc;
}


int
prov_cmd_space_list(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int            rc;
    char         **ids, q[32];
    size_t         i, n;
    json_t        *arr;
    const char    *tenant;
    prov_ctx_t     ctx;
    prov_space_t   sp;

    (void) pos;
    (void) npos;

    tenant = prov_opt(opts, "tenant");
    arr = NULL;

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_space_ids(&ctx, &ids, &n, err) != PROV_OK) {
        goto done;
    }

    if (g->json) {
        arr = json_array();

    } else {
        printf("%-20s %-16s %-20s %-30s %-8s %-10s %s\n", "ID", "TENANT",
               "NAME", "BUCKET", "STATUS", "VISIBILITY", "QUOTA");
    }

    for (i = 0; i < n; i++) {
        if (prov_space_get(&ctx, ids[i], &sp, err) != PROV_OK) {
            if (err->code == PROV_E_NOTFOUND) {
                continue;
            }

            goto done_ids;
        }

        if (tenant && strcmp(tenant, sp.tenant) != 0) {
            prov_space_free(&sp);
            continue;
        }

        if (arr) {
            json_array_append_new(arr, prov_space_json(&ctx, &sp));

        } else {
            prov_format_size(sp.quota_bytes, q, sizeof(q));
            printf("%-20s %-16s %-20s %-30s %-8s %-10s %s\n", sp.id,
                   sp.tenant, sp.name, sp.bucket, sp.status, sp.visibility,
                   q);
        }

        prov_space_free(&sp);
    }

    if (arr) {
        rc = prov_json_print(arr, err);
        arr = NULL;

    } else {
        rc = PROV_OK;
    }

done_ids:

    prov_ids_free(ids, n);

done:

    json_decref(arr);
    prov_ctx_close(&ctx);

    return rc;
}


int
prov_cmd_space_show(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int            rc;
    char         **aks, u[32];
    size_t         i, n;
    json_t        *j, *keys;
    int64_t        usage;
    prov_ctx_t     ctx;
    prov_err_t     e2;
    prov_space_t   sp;
    prov_ident_t   id;
    prov_drift_t   d;

    (void) opts;
    (void) npos;

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_space_get(&ctx, pos[0], &sp, err) != PROV_OK) {
        goto done;
    }

    if (prov_key_ids(&ctx, sp.id, &aks, &n, err) != PROV_OK) {
        goto done_sp;
    }

    usage = -1;
    if (prov_space_usage(&ctx, &sp, &usage, &e2) != PROV_OK) {
        usage = -1;
    }

    d.drift = 0;
    if (prov_space_check(&ctx, &sp, &d, &e2) != PROV_OK) {
        snprintf(d.what, sizeof(d.what), "unknown (%.200s)", e2.msg);
        d.drift = -1;
    }

    if (g->json) {
        j = prov_space_json(&ctx, &sp);
        keys = json_array();

        for (i = 0; i < n; i++) {
            if (prov_key_get(&ctx, aks[i], &id, &e2) == PROV_OK) {
                json_array_append_new(keys, prov_key_json(&ctx, &id, &sp));
                prov_ident_free(&id);
            }
        }

        json_object_set_new(j, "keys", keys);
        json_object_set_new(j, "usage_bytes",
                            usage >= 0 ? json_integer(usage) : json_null());
        json_object_set_new(j, "drift",
                            d.drift ? json_string(d.what) : json_null());

        rc = prov_json_print(j, err);

    } else {
        prov_space_print(&ctx, &sp);

        if (usage >= 0) {
            prov_format_size(usage, u, sizeof(u));
            printf("Usage: %lld bytes\n", (long long) usage);
        }

        printf("Drift: %s\n", d.drift ? d.what : "none");
        printf("Keys: %zu\n", n);

        for (i = 0; i < n; i++) {
            if (prov_key_get(&ctx, aks[i], &id, &e2) == PROV_OK) {
                printf("  %s %s %s %s %s\n", id.id, id.access_key_id,
                       id.name, id.mode, prov_key_state(&id));
                prov_ident_free(&id);
            }
        }

        rc = PROV_OK;
    }

    prov_ids_free(aks, n);

done_sp:

    prov_space_free(&sp);

done:

    prov_ctx_close(&ctx);

    return rc;
}


static int
prov_space_action(prov_cli_global_t *g, const char *ref, int action,
    const char *arg, prov_err_t *err)
{
    int            rc, on;
    int64_t        bytes;
    prov_ctx_t     ctx;
    prov_space_t   sp;

    on = 0;
    bytes = 0;

    if (action == 'p') {
        if (strcmp(arg, "on") == 0) {
            on = 1;

        } else if (strcmp(arg, "off") != 0) {
            prov_err_set(err, PROV_E_INVAL, "expected \"on\" or \"off\", "
                         "not \"%s\"", arg);
            return PROV_ERR;
        }
    }

    if (action == 'q' && prov_parse_size(arg, &bytes, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_space_get(&ctx, ref, &sp, err) != PROV_OK) {
        goto done;
    }

    switch (action) {
    case 'd':
        rc = prov_space_set_enabled(&ctx, &sp, 0, err);
        break;
    case 'e':
        rc = prov_space_set_enabled(&ctx, &sp, 1, err);
        break;
    case 'x':
        rc = prov_space_delete(&ctx, &sp, err);
        break;
    case 'p':
        rc = prov_space_set_public(&ctx, &sp, on, err);
        break;
    case 'q':
        rc = prov_space_set_quota(&ctx, &sp, bytes, err);
        break;
    }

    if (rc == PROV_OK) {
        if (g->json) {
            json_t  *j;

            j = prov_space_json(&ctx, &sp);
            if (action == 'x') {
                json_object_set_new(j, "status", json_string("deleted"));
            }

            rc = prov_json_print(j, err);

        } else if (action == 'x') {
            printf("Object Space %s deleted (bucket %s and its objects "
                   "removed).\n", sp.id, sp.bucket);

        } else {
            prov_space_print(&ctx, &sp);
        }
    }

    prov_space_free(&sp);

done:

    prov_ctx_close(&ctx);

    return rc;
}


int
prov_cmd_space_disable(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_space_action(g, pos[0], 'd', NULL, err);
}


int
prov_cmd_space_enable(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_space_action(g, pos[0], 'e', NULL, err);
}


int
prov_cmd_space_delete(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_space_action(g, pos[0], 'x', NULL, err);
}


int
prov_cmd_space_public(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int                rc, on;
    json_t            *j;
    prov_ctx_t         ctx;
    prov_space_t       sp;
    prov_public_req_t  req;

    (void) npos;

    on = (strcmp(pos[1], "on") == 0);

    if (!on && strcmp(pos[1], "off") != 0) {
        prov_err_set(err, PROV_E_INVAL, "expected \"on\" or \"off\", "
                     "not \"%s\"", pos[1]);
        return PROV_ERR;
    }

    memset(&req, 0, sizeof(req));
    req.prefix = prov_opt(opts, "prefix");
    req.slug = prov_opt(opts, "slug");
    req.host = prov_opt(opts, "host");
    req.cache_control = prov_opt(opts, "cache-control");
    req.index = prov_opt(opts, "index");
    req.error_page = prov_opt(opts, "error-page");
    req.cors = prov_opt(opts, "cors");
    req.types = prov_opt(opts, "types");
    req.immutable = prov_opt_set(opts, "immutable");
    req.listing = prov_opt_set(opts, "listing");

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_space_get(&ctx, pos[0], &sp, err) != PROV_OK) {
        goto done;
    }

    if (prov_public_set(&ctx, &sp, on, &req, err) == PROV_OK) {

        if (g->json) {
            j = prov_space_json(&ctx, &sp);
            rc = prov_public_json(&ctx, &sp, j, err);

            if (rc == PROV_OK) {
                rc = prov_json_print(j, err);

            } else {
                json_decref(j);
            }

        } else {
            prov_space_print(&ctx, &sp);
            rc = prov_public_print(&ctx, &sp, err);
        }
    }

    prov_space_free(&sp);

done:

    prov_ctx_close(&ctx);

    return rc;
}


int
prov_cmd_space_quota(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_space_action(g, pos[0], 'q', pos[1], err);
}


int
prov_cmd_key_create(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int             rc;
    char            secret[PROV_SECRET_LEN + 1];
    const char     *space, *exp;
    prov_ctx_t      ctx;
    prov_space_t    sp;
    prov_ident_t    id;
    prov_key_req_t  req;

    (void) pos;
    (void) npos;

    memset(&req, 0, sizeof(req));
    space = prov_opt(opts, "space");
    req.name = prov_opt(opts, "name");
    req.mode = prov_opt(opts, "mode");
    req.prefix = prov_opt(opts, "prefix");
    req.immutable = prov_opt_set(opts, "immutable");
    exp = prov_opt(opts, "expires");

    if (space == NULL || req.name == NULL || req.mode == NULL) {
        prov_err_set(err, PROV_E_INVAL, "--space, --name and --mode are "
                     "required");
        return PROV_ERR;
    }

    if (!prov_valid_mode(req.mode)) {
        prov_err_set(err, PROV_E_INVAL, "invalid mode \"%s\": use read-only, "
                     "write-only, read-write, read-write-delete, publisher "
                     "or registry-backend", req.mode);
        return PROV_ERR;
    }

    if (req.prefix == NULL) {
        req.prefix = "";
    }

    if (exp && strcmp(exp, "never") != 0
        && prov_parse_duration(exp, &req.expires_in, err) != PROV_OK)
    {
        return PROV_ERR;
    }

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_space_get(&ctx, space, &sp, err) != PROV_OK) {
        goto done;
    }

    if (prov_key_create(&ctx, &sp, &req, &id, secret, err) == PROV_OK) {
        rc = prov_print_secret(g, &ctx, &id, &sp, secret, 0, err);
        prov_memzero(secret, sizeof(secret));
        prov_ident_free(&id);
    }

    prov_space_free(&sp);

done:

    prov_ctx_close(&ctx);

    return rc;
}


int
prov_cmd_key_list(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int            rc, found;
    char         **sids, **aks, e[32];
    size_t         i, k, ns, nk;
    json_t        *arr;
    const char    *space;
    prov_ctx_t     ctx;
    prov_err_t     e2;
    prov_space_t   sp, only;
    prov_ident_t   id;

    (void) pos;
    (void) npos;

    space = prov_opt(opts, "space");
    arr = NULL;
    sids = NULL;
    ns = 0;

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (space) {
        if (prov_space_get(&ctx, space, &only, err) != PROV_OK) {
            goto done;
        }

        sids = calloc(1, sizeof(char *));
        if (sids == NULL || (sids[0] = strdup(only.id)) == NULL) {
            prov_space_free(&only);
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }

        ns = 1;
        prov_space_free(&only);

    } else if (prov_space_ids(&ctx, &sids, &ns, err) != PROV_OK) {
        goto done;
    }

    if (g->json) {
        arr = json_array();

    } else {
        printf("%-20s %-20s %-24s %-20s %-17s %-16s %-8s %s\n", "ID",
               "ACCESS KEY", "NAME", "SPACE", "MODE", "PREFIX", "STATUS",
               "EXPIRES");
    }

    for (i = 0; i < ns; i++) {
        found = (prov_space_get(&ctx, sids[i], &sp, &e2) == PROV_OK);

        if (prov_key_ids(&ctx, sids[i], &aks, &nk, err) != PROV_OK) {
            if (found) {
                prov_space_free(&sp);
            }

            goto done;
        }

        for (k = 0; k < nk; k++) {
            if (prov_key_get(&ctx, aks[k], &id, &e2) != PROV_OK) {
                continue;
            }

            if (arr) {
                json_array_append_new(arr, prov_key_json(&ctx, &id,
                                                         found ? &sp : NULL));

            } else {
                prov_format_time(id.expires_at, e, sizeof(e));
                printf("%-20s %-20s %-24s %-20s %-17s %-16s %-8s %s\n",
                       id.id, id.access_key_id, id.name, id.space, id.mode,
                       id.prefix[0] ? id.prefix : "-", prov_key_state(&id),
                       e);
            }

            prov_ident_free(&id);
        }

        prov_ids_free(aks, nk);

        if (found) {
            prov_space_free(&sp);
        }
    }

    if (arr) {
        rc = prov_json_print(arr, err);
        arr = NULL;

    } else {
        rc = PROV_OK;
    }

done:

    json_decref(arr);

    if (sids) {
        prov_ids_free(sids, ns);
    }

    prov_ctx_close(&ctx);

    return rc;
}


/* loads a key and its space (sp->id[0] == '\0' if the space is gone) */

static int
prov_cli_key_load(prov_ctx_t *ctx, const char *ref, prov_ident_t *id,
    prov_space_t *sp, prov_err_t *err)
{
    prov_err_t  e2;

    if (prov_key_get(ctx, ref, id, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_space_get(ctx, id->space, sp, &e2) != PROV_OK) {
        memset(sp, 0, sizeof(*sp));
    }

    return PROV_OK;
}


int
prov_cmd_key_show(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int            rc;
    prov_ctx_t     ctx;
    prov_space_t   sp;
    prov_ident_t   id;

    (void) opts;
    (void) npos;

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_cli_key_load(&ctx, pos[0], &id, &sp, err) == PROV_OK) {
        if (g->json) {
            rc = prov_json_print(prov_key_json(&ctx, &id,
                                               sp.id[0] ? &sp : NULL), err);

        } else {
            prov_key_print(&id, sp.id[0] ? &sp : NULL);
            rc = PROV_OK;
        }

        prov_ident_free(&id);
        prov_space_free(&sp);
    }

    prov_ctx_close(&ctx);

    return rc;
}


static int
prov_key_action(prov_cli_global_t *g, const char *ref, int action,
    int64_t grace, prov_err_t *err)
{
    int            rc;
    char           secret[PROV_SECRET_LEN + 1];
    json_t        *j;
    prov_ctx_t     ctx;
    prov_space_t   sp;
    prov_ident_t   id;

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_cli_key_load(&ctx, ref, &id, &sp, err) != PROV_OK) {
        goto done;
    }

    switch (action) {

    case 'r':
        rc = prov_key_revoke(&ctx, &id, err);
        break;

    case 'x':
        rc = prov_key_delete(&ctx, &id, err);
        break;

    case 'o':
        if (sp.id[0] == '\0') {
            prov_err_set(err, PROV_E_STATE, "key %s belongs to no existing "
                         "space", id.id);
            break;
        }

        rc = prov_key_rotate(&ctx, &id, grace, secret, err);

        if (rc == PROV_OK) {
            rc = prov_print_secret(g, &ctx, &id, &sp, secret, 1, err);
            prov_memzero(secret, sizeof(secret));
        }

        goto done_key;
    }

    if (rc == PROV_OK) {
        if (g->json) {
            j = prov_key_json(&ctx, &id, sp.id[0] ? &sp : NULL);
            if (action == 'x') {
                json_object_set_new(j, "status", json_string("deleted"));
            }

            rc = prov_json_print(j, err);

        } else if (action == 'x') {
            printf("Key %s (%s) deleted.\n", id.id, id.access_key_id);

        } else {
            printf("Key %s (%s) revoked.\n", id.id, id.access_key_id);
        }
    }

done_key:

    prov_ident_free(&id);
    prov_space_free(&sp);

done:

    prov_ctx_close(&ctx);

    return rc;
}


int
prov_cmd_key_revoke(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_key_action(g, pos[0], 'r', 0, err);
}


int
prov_cmd_key_delete(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_key_action(g, pos[0], 'x', 0, err);
}


int
prov_cmd_key_rotate(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int64_t      grace;
    const char  *s;

    (void) npos;

    grace = 0;
    s = prov_opt(opts, "grace");

    if (s && prov_parse_duration(s, &grace, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (grace > PROV_GRACE_MAX) {
        prov_err_set(err, PROV_E_INVAL, "grace period must be at most 7d");
        return PROV_ERR;
    }

    return prov_key_action(g, pos[0], 'o', grace, err);
}

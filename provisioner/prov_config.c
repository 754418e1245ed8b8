
/*
 * objspace-provisioner: configuration file.
 *
 * Format: one "key = value" per line, '#' starts a comment line.
 * Unknown and duplicate keys are refused, like nginx refuses an unknown
 * directive: we do not guess.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <errno.h>
#include <unistd.h>

#include "prov_config.h"


typedef enum {
    PROV_CF_STR,
    PROV_CF_INT,
    PROV_CF_FLAG,
    PROV_CF_FRACTION,
    PROV_CF_REDIS,
    PROV_CF_CREDFILE
} prov_cf_type_e;


typedef struct {
    const char      *name;
    prov_cf_type_e   type;
    size_t           offset;
} prov_cf_key_t;


#define PROV_CF(field)  offsetof(prov_config_t, field)

static const prov_cf_key_t  prov_cf_keys[] = {
    { "redis", PROV_CF_REDIS, 0 },
    { "redis_db", PROV_CF_INT, PROV_CF(redis_db) },
    { "redis_password", PROV_CF_STR, PROV_CF(redis_password) },
    { "key_file", PROV_CF_STR, PROV_CF(key_file) },
    { "region", PROV_CF_STR, PROV_CF(region) },
    { "endpoint", PROV_CF_STR, PROV_CF(endpoint) },
    { "web_endpoint", PROV_CF_STR, PROV_CF(web_endpoint) },
    { "path_style", PROV_CF_FLAG, PROV_CF(path_style) },
    { "storage", PROV_CF_STR, PROV_CF(storage) },
    { "storage_endpoint", PROV_CF_STR, PROV_CF(storage_endpoint) },
    { "storage_region", PROV_CF_STR, PROV_CF(storage_region) },
    { "storage_access_key", PROV_CF_STR, PROV_CF(storage_access_key) },
    { "storage_secret_key", PROV_CF_STR, PROV_CF(storage_secret_key) },
    { "storage_credentials_file", PROV_CF_CREDFILE, 0 },
    { "bucket_pattern", PROV_CF_STR, PROV_CF(bucket_pattern) },
    { "reconcile_interval", PROV_CF_INT, PROV_CF(reconcile_interval) },
    { "lease_ttl", PROV_CF_INT, PROV_CF(lease_ttl) },
    { "node_id", PROV_CF_STR, PROV_CF(node_id) },
    { "source", PROV_CF_STR, PROV_CF(source) },
    { "rustshare_url", PROV_CF_STR, PROV_CF(rustshare_url) },
    { "rustshare_token_file", PROV_CF_STR, PROV_CF(rustshare_token_file) },
    { "rustshare_ca_file", PROV_CF_STR, PROV_CF(rustshare_ca_file) },
    { "rustshare_handover_key", PROV_CF_STR,
      PROV_CF(rustshare_handover_key) },
    { "rustshare_page_size", PROV_CF_INT, PROV_CF(rustshare_page_size) },
    { "rustshare_wait", PROV_CF_INT, PROV_CF(rustshare_wait) },
    { "rustshare_timeout", PROV_CF_INT, PROV_CF(rustshare_timeout) },
    { "rustshare_retries", PROV_CF_INT, PROV_CF(rustshare_retries) },
    { "sync_max_delete_fraction", PROV_CF_FRACTION,
      PROV_CF(sync_max_delete_fraction) },
    { "sync_max_delete_min", PROV_CF_INT, PROV_CF(sync_max_delete_min) },
    { "audit_dir", PROV_CF_STR, PROV_CF(audit_dir) },
    { "usage_interval", PROV_CF_INT, PROV_CF(usage_interval) },
    { "push_interval", PROV_CF_INT, PROV_CF(push_interval) },
    { NULL, 0, 0 }
};


static char *prov_trim(char *s);
static int prov_config_set(prov_config_t *cf, const prov_cf_key_t *k,
    char *value, prov_err_t *err);
static int prov_config_credfile(prov_config_t *cf, const char *path,
    prov_err_t *err);
static int prov_config_defaults(prov_config_t *cf, prov_err_t *err);
static int prov_config_source(prov_config_t *cf, prov_err_t *err);
static int prov_setstr(char **dst, const char *v, prov_err_t *err);


static char *
prov_trim(char *s)
{
    char  *e;

    while (isspace((unsigned char) *s)) {
        s++;
    }

    e = s + strlen(s);

    while (e > s && isspace((unsigned char) e[-1])) {
        *--e = '\0';
    }

    return s;
}


static int
prov_setstr(char **dst, const char *v, prov_err_t *err)
{
    char  *p;

    p = strdup(v);
    if (p == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    if (*dst) {
        prov_memzero(*dst, strlen(*dst));
        free(*dst);
    }

    *dst = p;

    return PROV_OK;
}


static int
prov_config_set(prov_config_t *cf, const prov_cf_key_t *k, char *value,
    prov_err_t *err)
{
    char    *end, *colon;
    long     n;
    double   d;

    switch (k->type) {

    case PROV_CF_STR:
        return prov_setstr((char **) ((char *) cf + k->offset), value, err);

    case PROV_CF_INT:
        errno = 0;
        n = strtol(value, &end, 10);
        if (errno || *end != '\0' || n < 0 || n > 1000000) {
            prov_err_set(err, PROV_E_CONFIG, "invalid number \"%s\"", value);
            return PROV_ERR;
        }

        *(int *) ((char *) cf + k->offset) = (int) n;
        return PROV_OK;

    case PROV_CF_FLAG:
        if (strcasecmp(value, "on") == 0 || strcasecmp(value, "yes") == 0
            || strcmp(value, "1") == 0 || strcasecmp(value, "true") == 0)
        {
            *(int *) ((char *) cf + k->offset) = 1;
            return PROV_OK;
        }

        if (strcasecmp(value, "off") == 0 || strcasecmp(value, "no") == 0
            || strcmp(value, "0") == 0 || strcasecmp(value, "false") == 0)
        {
            *(int *) ((char *) cf + k->offset) = 0;
            return PROV_OK;
        }

        prov_err_set(err, PROV_E_CONFIG,
                     "invalid value \"%s\", it must be \"on\" or \"off\"",
                     value);
        return PROV_ERR;

    case PROV_CF_FRACTION:
        errno = 0;
        d = strtod(value, &end);
        if (errno || end == value || *end != '\0' || !(d >= 0.0 && d <= 1.0))
        {
            prov_err_set(err, PROV_E_CONFIG, "invalid fraction \"%s\", it "
                         "must be 0 to 1", value);
            return PROV_ERR;
        }

        *(double *) ((char *) cf + k->offset) = d;
        return PROV_OK;

    case PROV_CF_REDIS:
        colon = strrchr(value, ':');

        if (colon) {
            *colon = '\0';
            errno = 0;
            n = strtol(colon + 1, &end, 10);
            if (errno || *end != '\0' || n < 1 || n > 65535) {
                prov_err_set(err, PROV_E_CONFIG, "invalid port in \"%s\"",
                             colon + 1);
                return PROV_ERR;
            }

            cf->redis_port = (int) n;
        }

        return prov_setstr(&cf->redis_host, value, err);

    case PROV_CF_CREDFILE:
        return prov_config_credfile(cf, value, err);
    }

    return PROV_ERR;
}


/*
 * The storage admin credentials, kept out of the main config so that file
 * can be world-readable: "access_key = ..." and "secret_key = ..." lines;
 * RGW_ADMIN_ACCESS_KEY / RGW_ADMIN_SECRET_KEY (the rgw-stack env file) and
 * RUSTFS_ACCESS_KEY / RUSTFS_SECRET_KEY are accepted as synonyms.
 */

static int
prov_config_credfile(prov_config_t *cf, const char *path, prov_err_t *err)
{
    int    rc;
    FILE  *f;
    char   line[1024], *k, *v, *eq;

    f = fopen(path, "r");
    if (f == NULL) {
        prov_err_set(err, PROV_E_CONFIG, "credentials file \"%s\": %s",
                     path, strerror(errno));
        return PROV_ERR;
    }

    rc = PROV_OK;

    while (rc == PROV_OK && fgets(line, sizeof(line), f)) {
        eq = strchr(line, '=');
        if (eq == NULL || line[0] == '#') {
            continue;
        }

        *eq = '\0';
        k = prov_trim(line);
        v = prov_trim(eq + 1);

        if (strcmp(k, "access_key") == 0
            || strcmp(k, "RGW_ADMIN_ACCESS_KEY") == 0
            || strcmp(k, "RUSTFS_ACCESS_KEY") == 0)
        {
            rc = prov_setstr(&cf->storage_access_key, v, err);

        } else if (strcmp(k, "secret_key") == 0
                   || strcmp(k, "RGW_ADMIN_SECRET_KEY") == 0
                   || strcmp(k, "RUSTFS_SECRET_KEY") == 0)
        {
            rc = prov_setstr(&cf->storage_secret_key, v, err);
        }
    }

    prov_memzero(line, sizeof(line));
    fclose(f);

    return rc;
}


static int
prov_config_defaults(prov_config_t *cf, prov_err_t *err)
{
    if ((cf->redis_host == NULL
         && prov_setstr(&cf->redis_host, "127.0.0.1", err) != PROV_OK)
        || (cf->key_file == NULL
            && prov_setstr(&cf->key_file, "/etc/objspace/secret.key", err)
               != PROV_OK)
        || (cf->region == NULL
            && prov_setstr(&cf->region, "us-east-1", err) != PROV_OK)
        || (cf->storage == NULL
            && prov_setstr(&cf->storage, "rgw", err) != PROV_OK)
        || (cf->bucket_pattern == NULL
            && prov_setstr(&cf->bucket_pattern, "rs-{tenant}-{name}", err)
               != PROV_OK)
        || (cf->audit_dir == NULL
            && prov_setstr(&cf->audit_dir, "/var/lib/objspace/audit", err)
               != PROV_OK))
    {
        return PROV_ERR;
    }

    if (cf->storage_region == NULL
        && prov_setstr(&cf->storage_region, cf->region, err) != PROV_OK)
    {
        return PROV_ERR;
    }

    if (cf->endpoint == NULL) {
        prov_err_set(err, PROV_E_CONFIG,
                     "\"endpoint\" (the public S3 endpoint URL) is required");
        return PROV_ERR;
    }

    if (cf->storage_endpoint == NULL) {
        prov_err_set(err, PROV_E_CONFIG, "\"storage_endpoint\" is required");
        return PROV_ERR;
    }

    if (strcmp(cf->storage, "rgw") != 0 && strcmp(cf->storage, "rustfs") != 0)
    {
        prov_err_set(err, PROV_E_CONFIG,
                     "invalid storage \"%s\", it must be \"rgw\" or "
                     "\"rustfs\"", cf->storage);
        return PROV_ERR;
    }

    if (cf->storage_access_key == NULL || cf->storage_secret_key == NULL) {
        prov_err_set(err, PROV_E_CONFIG,
                     "storage admin credentials are required "
                     "(\"storage_credentials_file\")");
        return PROV_ERR;
    }

    /* the leader renews every second and bounds each call it makes to
     * half the lease (docs/provisioner.md, "Timing and the lease") */
    if (cf->lease_ttl < 3 || cf->lease_ttl > 3600) {
        prov_err_set(err, PROV_E_CONFIG, "invalid lease_ttl \"%d\", it must "
                     "be 3 to 3600 seconds", cf->lease_ttl);
        return PROV_ERR;
    }

    if (prov_config_source(cf, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (cf->push_interval < 1 || cf->push_interval > 86400) {
        prov_err_set(err, PROV_E_CONFIG, "invalid push_interval \"%d\", it "
                     "must be 1 to 86400 seconds", cf->push_interval);
        return PROV_ERR;
    }

    if (strstr(cf->bucket_pattern, "{name}") == NULL
        && strstr(cf->bucket_pattern, "{space}") == NULL
        && strstr(cf->bucket_pattern, "{id}") == NULL)
    {
        prov_err_set(err, PROV_E_CONFIG,
                     "\"bucket_pattern\" must contain {name} or {id}");
        return PROV_ERR;
    }

    return PROV_OK;
}


/*
 * source = local | rustshare; RustShare needs its URL, a token file and
 * the hand-over key (docs/rustshare-api.md).  The long-poll wait stays
 * under a third of the lease, and one request (wait included) within
 * half of it, so the leader renews the lease in time.
 */

static int
prov_config_source(prov_config_t *cf, prov_err_t *err)
{
    if (cf->source == NULL && prov_setstr(&cf->source, "local", err)
                              != PROV_OK)
    {
        return PROV_ERR;
    }

    if (strcmp(cf->source, "local") == 0) {
        return PROV_OK;
    }

    if (strcmp(cf->source, "rustshare") != 0) {
        prov_err_set(err, PROV_E_CONFIG, "invalid source \"%s\", it must be "
                     "\"local\" or \"rustshare\"", cf->source);
        return PROV_ERR;
    }

    if (cf->rustshare_url == NULL || cf->rustshare_token_file == NULL
        || cf->rustshare_handover_key == NULL)
    {
        prov_err_set(err, PROV_E_CONFIG, "source = rustshare needs "
                     "\"rustshare_url\", \"rustshare_token_file\" and "
                     "\"rustshare_handover_key\"");
        return PROV_ERR;
    }

    if (strncmp(cf->rustshare_url, "https://", 8) != 0
        && strncmp(cf->rustshare_url, "http://", 7) != 0)
    {
        prov_err_set(err, PROV_E_CONFIG, "invalid rustshare_url \"%s\"",
                     cf->rustshare_url);
        return PROV_ERR;
    }

    if (cf->rustshare_page_size < 1 || cf->rustshare_page_size > 5000) {
        prov_err_set(err, PROV_E_CONFIG, "rustshare_page_size must be 1 to "
                     "5000");
        return PROV_ERR;
    }

    if (cf->rustshare_retries < 0 || cf->rustshare_retries > 10
        || cf->rustshare_wait < 0 || cf->rustshare_wait * 3 > cf->lease_ttl)
    {
        prov_err_set(err, PROV_E_CONFIG, "rustshare_retries must be 0 to 10 "
                     "and rustshare_wait at most a third of lease_ttl");
        return PROV_ERR;
    }

    /* unset: what half the lease leaves besides the wait */
    if (cf->rustshare_timeout == 0) {
        cf->rustshare_timeout = cf->lease_ttl / 2 - cf->rustshare_wait;

        if (cf->rustshare_timeout < 1) {
            cf->rustshare_timeout = 1;
        }
    }

    if (cf->rustshare_timeout < 1) {
        prov_err_set(err, PROV_E_CONFIG, "invalid rustshare_timeout \"%d\", "
                     "it must be at least 1 second", cf->rustshare_timeout);
        return PROV_ERR;
    }

    if (2 * (cf->rustshare_timeout + cf->rustshare_wait) > cf->lease_ttl) {
        prov_err_set(err, PROV_E_CONFIG, "rustshare_timeout (%d s) + "
                     "rustshare_wait (%d s) must be at most half of "
                     "lease_ttl (%d s): the leader could lose its lease "
                     "while it waits for RustShare; lower rustshare_timeout "
                     "or raise lease_ttl (docs/provisioner.md, \"Timing and "
                     "the lease\")", cf->rustshare_timeout,
                     cf->rustshare_wait, cf->lease_ttl);
        return PROV_ERR;
    }

    return PROV_OK;
}


int
prov_config_load(prov_config_t *cf, const char *path, prov_err_t *err)
{
    int                   rc, lineno;
    FILE                 *f;
    char                  line[4096], *p, *eq, *k, *v;
    unsigned long long    seen;
    const prov_cf_key_t  *key;

    memset(cf, 0, sizeof(*cf));

    cf->redis_port = 6379;
    cf->redis_timeout_ms = 2000;
    cf->path_style = 1;
    cf->storage_connect_timeout_ms = 3000;
    cf->storage_timeout_ms = 30000;
    cf->reconcile_interval = 60;
    cf->lease_ttl = 10;
    cf->rustshare_page_size = 1000;
    cf->rustshare_wait = 1;
    cf->rustshare_timeout = 0;         /* from lease_ttl, see above */
    cf->rustshare_retries = 3;
    cf->sync_max_delete_fraction = 0.5;
    cf->sync_max_delete_min = 10;
    cf->usage_interval = 300;
    cf->push_interval = 60;

    if (prov_setstr(&cf->path, path, err) != PROV_OK) {
        return PROV_ERR;
    }

    f = fopen(path, "r");
    if (f == NULL) {
        prov_err_set(err, PROV_E_CONFIG, "config file \"%s\": %s", path,
                     strerror(errno));
        return PROV_ERR;
    }

    rc = PROV_ERR;
    lineno = 0;
    seen = 0;

    while (fgets(line, sizeof(line), f)) {
        lineno++;
        p = prov_trim(line);

        if (*p == '\0' || *p == '#') {
            continue;
        }

        eq = strchr(p, '=');
        if (eq == NULL) {
            prov_err_set(err, PROV_E_CONFIG, "expected \"key = value\" in "
                         "%s:%d", path, lineno);
            goto done;
        }

        *eq = '\0';
        k = prov_trim(p);
        v = prov_trim(eq + 1);

        for (key = prov_cf_keys; key->name; key++) {
            if (strcmp(key->name, k) == 0) {
                break;
            }
        }

        if (key->name == NULL) {
            prov_err_set(err, PROV_E_CONFIG, "unknown key \"%s\" in %s:%d",
                         k, path, lineno);
            goto done;
        }

        if (seen & (1ull << (key - prov_cf_keys))) {
            prov_err_set(err, PROV_E_CONFIG, "\"%s\" is duplicate in %s:%d",
                         k, path, lineno);
            goto done;
        }

        seen |= 1ull << (key - prov_cf_keys);

        if (prov_config_set(cf, key, v, err) != PROV_OK) {
            prov_err_prefix(err, "%s:%d", path, lineno);
            goto done;
        }
    }

    if (prov_config_defaults(cf, err) != PROV_OK) {
        prov_err_prefix(err, "%s", path);
        goto done;
    }

    rc = PROV_OK;

done:

    prov_memzero(line, sizeof(line));
    fclose(f);

    return rc;
}


void
prov_config_free(prov_config_t *cf)
{
    if (cf->storage_secret_key) {
        prov_memzero(cf->storage_secret_key, strlen(cf->storage_secret_key));
    }

    if (cf->redis_password) {
        prov_memzero(cf->redis_password, strlen(cf->redis_password));
    }

    free(cf->path);
    free(cf->redis_host);
    free(cf->redis_password);
    free(cf->key_file);
    free(cf->region);
    free(cf->endpoint);
    free(cf->web_endpoint);
    free(cf->storage);
    free(cf->storage_endpoint);
    free(cf->storage_region);
    free(cf->storage_access_key);
    free(cf->storage_secret_key);
    free(cf->bucket_pattern);
    free(cf->node_id);
    free(cf->source);
    free(cf->rustshare_url);
    free(cf->rustshare_token_file);
    free(cf->rustshare_ca_file);
    free(cf->rustshare_handover_key);
    free(cf->audit_dir);
    memset(cf, 0, sizeof(*cf));
}


/*
 * Expands {tenant}, {name} (alias {space}) and {id} and checks the result
 * against the S3 bucket naming rules: 3-63 chars of [a-z0-9.-], starting
 * and ending with a letter or digit, no "..".
 */

int
prov_config_bucket(const prov_config_t *cf, const char *tenant,
    const char *name, const char *space_id, char *out, size_t size,
    prov_err_t *err)
{
    size_t       n, i;
    const char  *p, *sub;
    prov_buf_t   b;

    prov_buf_init(&b);

    for (p = cf->bucket_pattern; *p; /* void */ ) {
        sub = NULL;
        n = 0;

        if (strncmp(p, "{tenant}", 8) == 0) {
            sub = tenant; n = 8;

        } else if (strncmp(p, "{name}", 6) == 0) {
            sub = name; n = 6;

        } else if (strncmp(p, "{space}", 7) == 0) {
            sub = name; n = 7;

        } else if (strncmp(p, "{id}", 4) == 0) {
            /* "sp_" is not valid in a bucket name: use the hex part */
            sub = space_id + 3; n = 4;
        }

        if (sub) {
            if (prov_buf_puts(&b, sub) != PROV_OK) {
                goto nomem;
            }

            p += n;
            continue;
        }

        if (prov_buf_append(&b, p, 1) != PROV_OK) {
            goto nomem;
        }

        p++;
    }

    n = b.len;

    if (n < 3 || n > 63 || n >= size) {
        prov_err_set(err, PROV_E_INVAL,
                     "bucket name \"%s\" must be 3 to 63 characters "
                     "(shorten the tenant or space name)", b.data);
        goto failed;
    }

    for (i = 0; i < n; i++) {
        if (!(islower((unsigned char) b.data[i])
              || isdigit((unsigned char) b.data[i])
              || b.data[i] == '-' || b.data[i] == '.'))
        {
            goto bad;
        }
    }

    if (!isalnum((unsigned char) b.data[0])
        || !isalnum((unsigned char) b.data[n - 1])
        || strstr(b.data, "..") != NULL)
    {
        goto bad;
    }

    memcpy(out, b.data, n + 1);
    prov_buf_free(&b);

    return PROV_OK;

bad:

    prov_err_set(err, PROV_E_INVAL, "\"%s\" is not a valid bucket name",
                 b.data);
    goto failed;

nomem:

    prov_err_set(err, PROV_E_SYS, "out of memory");

failed:

    prov_buf_free(&b);

    return PROV_ERR;
}

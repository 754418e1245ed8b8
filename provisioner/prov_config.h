
/*
 * objspace-provisioner: configuration file (key = value lines).
 * See docs/provisioner.md and provisioner/provisioner.conf.example.
 */

#ifndef PROV_CONFIG_H
#define PROV_CONFIG_H


#include "prov_core.h"


#define PROV_CONFIG_DEFAULT  "/etc/objspace/provisioner.conf"


typedef struct {
    char   *path;

    char   *redis_host;
    int     redis_port;
    int     redis_db;
    char   *redis_password;
    long    redis_timeout_ms;

    char   *key_file;

    char   *region;             /* what clients put in their config */
    char   *endpoint;           /* public S3 endpoint, https://s3.example */
    char   *web_endpoint;       /* public web/CDN base, https://cdn.example */
    int     path_style;

    char   *storage;            /* "rgw" or "rustfs" */
    char   *storage_endpoint;
    char   *storage_region;
    char   *storage_access_key;
    char   *storage_secret_key;
    long    storage_connect_timeout_ms;
    long    storage_timeout_ms;

    char   *bucket_pattern;     /* "rs-{tenant}-{name}" */

    int     reconcile_interval; /* seconds */
    int     lease_ttl;          /* seconds */
    char   *node_id;

    /* desired state: "local" (CLI) or "rustshare" (docs/rustshare-api.md) */
    char   *source;
    char   *rustshare_url;
    char   *rustshare_token_file;
    char   *rustshare_ca_file;
    char   *rustshare_handover_key;
    int     rustshare_page_size;
    int     rustshare_wait;     /* seconds of long polling per request */
    int     rustshare_timeout;  /* seconds per request, besides the wait */
    int     rustshare_retries;  /* extra attempts on 5xx / timeouts */
    double  sync_max_delete_fraction;   /* a snapshot deleting more of */
    int     sync_max_delete_min;        /* the applied objects is refused */
    char   *audit_dir;          /* per-tenant audit files (prov_audit.c) */
    int     usage_interval;     /* seconds between usage reconciles */
    int     push_interval;      /* seconds between usage / key-usage pushes
                                   to RustShare (prov_push.c) */
} prov_config_t;


int prov_config_load(prov_config_t *cf, const char *path, prov_err_t *err);
void prov_config_free(prov_config_t *cf);

/* bucket name for tenant + space name, validated as an S3 bucket name */
int prov_config_bucket(const prov_config_t *cf, const char *tenant,
    const char *name, const char *space_id, char *out, size_t size,
    prov_err_t *err);


#endif /* PROV_CONFIG_H */

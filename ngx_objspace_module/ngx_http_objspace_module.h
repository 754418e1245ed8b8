
/*
 * Copyright (C) objspace authors
 *
 * Shared declarations of ngx_http_objspace_module: configuration, the
 * per-request context, and the contracts between the module's files.
 */


#ifndef _NGX_HTTP_OBJSPACE_MODULE_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_objspace_sigv4.h"
#include "ngx_http_objspace_chunked.h"
#include "ngx_http_objspace_s3.h"


#define NGX_HTTP_OBJSPACE_SECRET_KEY_LEN   32
#define NGX_HTTP_OBJSPACE_MAX_SECRET_LEN   128
#define NGX_HTTP_OBJSPACE_ID_LEN           64


/* permission modes (docs/permissions.md) */
typedef enum {
    NGX_HTTP_OBJSPACE_MODE_NONE = 0,
    NGX_HTTP_OBJSPACE_MODE_READ_ONLY,
    NGX_HTTP_OBJSPACE_MODE_WRITE_ONLY,
    NGX_HTTP_OBJSPACE_MODE_READ_WRITE,
    NGX_HTTP_OBJSPACE_MODE_READ_WRITE_DELETE,
    NGX_HTTP_OBJSPACE_MODE_PUBLISHER,
    NGX_HTTP_OBJSPACE_MODE_REGISTRY
} ngx_http_objspace_mode_e;


typedef struct {
    ngx_addr_t                 *redis_addr;      /* objspace_redis */
    ngx_str_t                   redis_password;
    ngx_uint_t                  redis_db;
    ngx_msec_t                  redis_timeout;   /* objspace_redis_timeout */
    ngx_shm_zone_t             *shm_zone;        /* objspace_cache_zone */
    time_t                      cache_valid;     /* objspace_cache_valid */
    time_t                      negative_valid;  /* objspace_cache_negative */
    u_char                      secret_key[NGX_HTTP_OBJSPACE_SECRET_KEY_LEN];
    ngx_flag_t                  secret_key_set;

    /* per-worker Redis client (ngx_http_objspace_redis.c), set in
       init_process; NULL in the master and in helper processes */
    void                       *redis;
} ngx_http_objspace_main_conf_t;


typedef struct {
    ngx_flag_t                  gateway;         /* objspace_gateway */
    ngx_str_t                   region;          /* objspace_region */
    ngx_array_t                *host_suffixes;   /* objspace_host_suffix */
    ngx_str_t                   backend_host;    /* objspace_backend_host */
    ngx_str_t                   backend_region;  /* objspace_backend_region */
    time_t                      max_skew;        /* objspace_clock_skew */
    size_t                      max_chunk;       /* objspace_max_chunk_size */
    ngx_array_t                *deny_prefixes;   /* objspace_deny_prefix */
    ngx_uint_t                  deny_log_level;
} ngx_http_objspace_loc_conf_t;


/*
 * An identity and its space, as copied out of the shared-memory cache into
 * r->pool for one request.  Secrets are never copied out: the signing keys
 * for the request's scope are derived (or taken from the cache) instead.
 */
typedef struct {
    ngx_str_t                   access_key;
    ngx_str_t                   id;              /* identity id */
    ngx_str_t                   name;
    ngx_str_t                   tenant;
    ngx_str_t                   space;           /* space id */
    ngx_str_t                   bucket;
    ngx_str_t                   prefix;
    ngx_uint_t                  mode;            /* ..._mode_e */
    time_t                      expires_at;      /* 0 = never */
    uint64_t                    quota_bytes;
    ngx_str_t                   backend_ak;
    uint32_t                    ak_hash;         /* the cache's crc32s of */
    uint32_t                    space_hash;      /* access_key and space */
    unsigned                    hashed:1;        /* ak_hash, space_hash set */
    unsigned                    immutable:1;
    unsigned                    revoked:1;
    unsigned                    space_disabled:1;
    unsigned                    is_public:1;
    unsigned                    has_prev_secret:1; /* rotation grace */
} ngx_http_objspace_identity_t;


/*
 * ngx_http_objspace_cache.c: identity cache in shared memory, filled from
 * Redis by ngx_http_objspace_redis.c.
 */

/*
 * Looks up an access key.
 *   NGX_OK        *id is filled (copied into r->pool); stale entries are
 *                 served while Redis is unreachable
 *   NGX_DECLINED  the key is known not to exist (negative cache or Redis
 *                 said so)
 *   NGX_AGAIN     a Redis read was started (or joined); the request will be
 *                 resumed through ngx_http_objspace_resume(r) once the answer
 *                 (or a timeout) is in; call lookup again then
 *   NGX_BUSY      the key is not cached and Redis is unreachable (503)
 *   NGX_ERROR     internal failure (500)
 */
ngx_int_t ngx_http_objspace_cache_lookup(ngx_http_request_t *r,
    ngx_str_t *access_key, ngx_http_objspace_identity_t **id);

/*
 * A space as the public (CDN) frontend sees it, copied into r->pool: id
 * carries what the backend signer needs (space, bucket, backend_ak) and
 * the space's status; rules is its publication rules, serialized as
 * "prefix" 0x1f "rule text" 0x1e ... (docs/redis-schema.md); gen is its
 * public_gen (part of nginx cache keys).
 */
typedef struct {
    ngx_http_objspace_identity_t  id;
    ngx_str_t                     rules;
    uint64_t                      gen;
} ngx_http_objspace_public_space_t;

/*
 * Looks up a public name: "s/{slug}" (path-style CDN URLs) or "h/{host}"
 * (a space's custom host).  Same results as ngx_http_objspace_cache_lookup
 * (NGX_DECLINED: no space has this name).
 */
ngx_int_t ngx_http_objspace_cache_lookup_public(ngx_http_request_t *r,
    ngx_str_t *name, ngx_http_objspace_public_space_t **ps);

/*
 * Signing key for (access key, scope date, region, service) with the
 * identity's secret; which = 0 for the current secret, 1 for the previous
 * one during a rotation grace period (NGX_DECLINED if there is none or it
 * has expired).  The secret is opened from its sealed form only when the
 * key for this date is not cached, and wiped right after.
 */
ngx_int_t ngx_http_objspace_cache_signing_key(ngx_http_request_t *r,
    ngx_http_objspace_identity_t *id, ngx_uint_t which, ngx_str_t *date,
    ngx_str_t *region, u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN]);

/* the backend (space) signing key for today's date and the backend region */
ngx_int_t ngx_http_objspace_cache_backend_key(ngx_http_request_t *r,
    ngx_http_objspace_identity_t *id, ngx_str_t *date, ngx_str_t *region,
    u_char key[NGX_HTTP_OBJSPACE_SHA256_LEN]);

/* drop entries (pub/sub): "ak:AK", "space:ID", "all" */
void ngx_http_objspace_cache_invalidate(ngx_cycle_t *cycle, ngx_str_t *msg);

/* mark everything for revalidation (subscriber reconnected) */
void ngx_http_objspace_cache_revalidate_all(ngx_cycle_t *cycle);

ngx_int_t ngx_http_objspace_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


/*
 * ngx_http_objspace_crypto.c: sealed secrets (docs/redis-schema.md).
 * Opens base64(0x01 || nonce || ct || tag) with AAD into out (cap bytes);
 * returns the plaintext length or -1.  The caller wipes out.
 */
ssize_t ngx_http_objspace_unseal(const u_char key[32], ngx_str_t *sealed,
    ngx_str_t *aad, u_char *out, size_t cap);

/*
 * Seals plain with AAD and a fresh random nonce into out, which needs
 * NGX_HTTP_OBJSPACE_SEALED_LEN(plain->len) bytes (base64 text + NUL);
 * returns the text length or -1.  For tests and tools: the module itself
 * only opens.
 */
#define NGX_HTTP_OBJSPACE_SEALED_LEN(n)  (((n) + 29 + 2) / 3 * 4 + 1)

ssize_t ngx_http_objspace_seal(const u_char key[32], ngx_str_t *plain,
    ngx_str_t *aad, u_char *out, size_t cap);


/* ngx_http_objspace_redis.c: per-worker non-blocking Redis client */
ngx_int_t ngx_http_objspace_redis_init_process(ngx_cycle_t *cycle);
void ngx_http_objspace_redis_exit_process(ngx_cycle_t *cycle);


/*
 * ngx_http_objspace_module.c: a backend request to sign with a space's
 * backend key (ngx_http_objspace_backend_sign(); contract there).
 */
typedef struct {
    ngx_str_t                   method;
    ngx_str_t                   uri;            /* canonical path, as sent */
    ngx_str_t                   query;          /* canonical query */
    ngx_str_t                   payload_hash;
    ngx_http_objspace_kv_t     *headers;        /* lowercase names; room
                                                   for 2 more */
    ngx_uint_t                  nheaders;
    ngx_str_t                   amz_date;       /* out */
    ngx_str_t                   authorization;  /* out */
} ngx_http_objspace_backend_req_t;

ngx_int_t ngx_http_objspace_backend_sign(ngx_http_request_t *r,
    ngx_http_objspace_identity_t *id, ngx_http_objspace_backend_req_t *br);


/* ngx_http_objspace_module.c: resume a request suspended by NGX_AGAIN */
void ngx_http_objspace_resume(ngx_http_request_t *r);

/*
 * What the gateway knows about r, for quota, audit and metrics
 * (ngx_http_objspace_acct_module).  Pointers borrow from r's context.
 * NGX_DECLINED: r is not a gateway request.
 */
typedef struct {
    ngx_http_objspace_s3_req_t     *s3;          /* NULL: not parsed */
    ngx_str_t                       op;          /* S3 operation name */
    ngx_http_objspace_identity_t   *id;          /* NULL: unauthenticated */
    ngx_str_t                       deny_reason;
    ngx_str_t                       request_id;
    unsigned                        allowed:1;
    unsigned                        denied:1;
    unsigned                        known_key:1; /* the key was looked up */
} ngx_http_objspace_info_t;

ngx_int_t ngx_http_objspace_request_info(ngx_http_request_t *r,
    ngx_http_objspace_info_t *info);

ngx_http_objspace_main_conf_t *ngx_http_objspace_main_conf(ngx_cycle_t *cycle);

/*
 * The NAME:SIZE argument of an objspace_*_zone directive: the shared zone
 * (at least 8 pages) added for tag, or NULL after the reason was logged
 * (malformed, too small, or a zone of that name already taken).
 */
ngx_shm_zone_t *ngx_http_objspace_zone_add(ngx_conf_t *cf, ngx_str_t *arg,
    void *tag);


extern ngx_module_t  ngx_http_objspace_module;


#endif /* _NGX_HTTP_OBJSPACE_MODULE_H_INCLUDED_ */


/*
 * Copyright (C) objspace authors
 *
 * The shared-memory layout of the identity cache and what its files share
 * besides: ngx_http_objspace_cache.c (zone, identities and spaces, record
 * parsing), ngx_http_objspace_cache_skey.c (signing keys) and
 * ngx_http_objspace_cache_public.c (CDN names).  Nothing else includes
 * this file.  A change to a node or to the zone header needs
 * NGX_HTTP_OBJSPACE_CACHE_VERSION bumped (ngx_http_objspace_cache.c).
 */


#ifndef _NGX_HTTP_OBJSPACE_CACHE_SHM_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_CACHE_SHM_H_INCLUDED_


#include "ngx_http_objspace_cache.h"


#define NGX_HTTP_OBJSPACE_REGION_LEN      32
#define NGX_HTTP_OBJSPACE_MAX_SEALED_LEN  512

#define NGX_HTTP_OBJSPACE_EVICT_N         4


/* identity node strings, in this order, in node->data */
enum {
    NGX_HTTP_OBJSPACE_I_AK = 0,
    NGX_HTTP_OBJSPACE_I_ID,
    NGX_HTTP_OBJSPACE_I_SPACE,
    NGX_HTTP_OBJSPACE_I_TENANT,
    NGX_HTTP_OBJSPACE_I_NAME,
    NGX_HTTP_OBJSPACE_I_PREFIX,
    NGX_HTTP_OBJSPACE_I_SECRET,
    NGX_HTTP_OBJSPACE_I_PREV,
    NGX_HTTP_OBJSPACE_I_N
};

/* space node strings */
enum {
    NGX_HTTP_OBJSPACE_S_ID = 0,
    NGX_HTTP_OBJSPACE_S_TENANT,
    NGX_HTTP_OBJSPACE_S_NAME,
    NGX_HTTP_OBJSPACE_S_BUCKET,
    NGX_HTTP_OBJSPACE_S_BACKEND_AK,
    NGX_HTTP_OBJSPACE_S_SECRET,
    NGX_HTTP_OBJSPACE_S_N
};


/* a derived signing key for one (date, region); service is always s3 */
typedef struct {
    u_char                      date[8];
    u_char                      region[NGX_HTTP_OBJSPACE_REGION_LEN];
    u_char                      key[NGX_HTTP_OBJSPACE_SHA256_LEN];
    u_char                      region_len;
    u_char                      set;
} ngx_http_objspace_skey_t;


typedef struct {
    ngx_str_node_t              sn;        /* key: crc32(ak), str: ak */
    ngx_queue_t                 queue;     /* LRU */
    time_t                      fetched;   /* read from Redis */
    time_t                      expires_at;
    time_t                      prev_until;
    ngx_uint_t                  gen;
    ngx_uint_t                  epoch;
    ngx_uint_t                  serial;    /* guards skey writes */
    u_short                     len[NGX_HTTP_OBJSPACE_I_N];
    u_char                      mode;
    unsigned                    negative:1;
    unsigned                    immutable:1;
    unsigned                    revoked:1;
    unsigned                    has_prev:1;
    ngx_http_objspace_skey_t    skey[2][2];  /* [current, prev][slot] */
    u_char                      data[1];
} ngx_http_objspace_ident_node_t;


typedef struct {
    ngx_str_node_t              sn;        /* key: crc32(id), str: id */
    ngx_queue_t                 queue;
    time_t                      fetched;
    uint64_t                    quota;
    ngx_uint_t                  gen;
    ngx_uint_t                  epoch;
    ngx_uint_t                  serial;
    u_short                     len[NGX_HTTP_OBJSPACE_S_N];
    unsigned                    disabled:1;
    unsigned                    is_public:1;
    ngx_http_objspace_skey_t    skey[2];
    u_char                      data[1];
} ngx_http_objspace_space_node_t;


/*
 * A CDN name ("s/{slug}" or "h/{host}") and the publication rules of the
 * space it names, read together with that space's node (space_serial):
 * a space node replaced since (invalidation, or a re-read by an identity
 * lookup) makes the entry a miss, so rules never outlive their space.
 * data: name, space id, rules.
 */
typedef struct {
    ngx_str_node_t              sn;        /* key: crc32(name), str: name */
    ngx_queue_t                 queue;
    time_t                      fetched;
    uint64_t                    pubgen;
    ngx_uint_t                  gen;
    ngx_uint_t                  epoch;
    ngx_uint_t                  space_serial;
    u_short                     name_len;
    u_short                     id_len;
    uint32_t                    rules_len;
    unsigned                    negative:1;
    u_char                      data[1];
} ngx_http_objspace_pub_node_t;


/*
 * The zone header.  gen is bumped when every entry is due for
 * revalidation (subscriber reconnected), epoch when every entry is dropped
 * ("all"), seq on every invalidation (see ngx_http_objspace_cache_mark_t).
 * The trees use nginx's own ngx_str_rbtree_insert_value, so no pointer
 * into this module's code lives in shared memory.
 */
typedef struct {
    uint32_t                    magic;
    uint32_t                    version;
    uint32_t                    ident_size;
    uint32_t                    space_size;
    uint32_t                    pub_size;
    ngx_rbtree_t                ident_tree;
    ngx_rbtree_node_t           ident_sentinel;
    ngx_rbtree_t                space_tree;
    ngx_rbtree_node_t           space_sentinel;
    ngx_queue_t                 ident_lru;
    ngx_queue_t                 space_lru;
    ngx_rbtree_t                pub_tree;
    ngx_rbtree_node_t           pub_sentinel;
    ngx_queue_t                 pub_lru;
    ngx_uint_t                  gen;
    ngx_uint_t                  epoch;
    ngx_uint_t                  seq;
    ngx_uint_t                  serial;
} ngx_http_objspace_shctx_t;


/* a record as parsed from Redis, before it is stored */
typedef struct {
    ngx_str_t                   str[NGX_HTTP_OBJSPACE_I_N];
    ngx_str_t                   v;
    ngx_str_t                   mode;
    ngx_str_t                   immutable;
    ngx_str_t                   status;
    ngx_str_t                   expires_at;
    ngx_str_t                   prev_until;
} ngx_http_objspace_ident_rec_t;


typedef struct {
    ngx_str_t                   str[NGX_HTTP_OBJSPACE_S_N];
    ngx_str_t                   v;
    ngx_str_t                   status;
    ngx_str_t                   visibility;
    ngx_str_t                   quota;
    ngx_str_t                   public_gen;
} ngx_http_objspace_space_rec_t;


/* ngx_http_objspace_cache.c */

/* the zone, or NULL if objspace_cache_zone is not configured */
ngx_http_objspace_shctx_t *ngx_http_objspace_cache_zone(
    ngx_http_objspace_main_conf_t *omcf, ngx_slab_pool_t **shpool);

/*
 * The functions named _locked are called with the zone mutex held; the
 * nodes they return are borrowed pointers into the zone, valid only while
 * it is held.
 */
ngx_http_objspace_ident_node_t *ngx_http_objspace_ident_lookup_locked(
    ngx_http_objspace_shctx_t *sh, ngx_str_t *ak, uint32_t hash);
ngx_http_objspace_space_node_t *ngx_http_objspace_space_lookup_locked(
    ngx_http_objspace_shctx_t *sh, ngx_str_t *id, uint32_t hash);
void ngx_http_objspace_cache_expire_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, time_t now, time_t negative_valid);
void *ngx_http_objspace_cache_alloc_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, size_t size, ngx_uint_t space);
ngx_int_t ngx_http_objspace_store_space_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_http_objspace_space_rec_t *rec,
    ngx_http_objspace_cache_mark_t *mark, time_t now);

/* string i of a node's data (a borrowed pointer into the node) */
void ngx_http_objspace_node_str(u_char *data, u_short *len, ngx_uint_t i,
    ngx_str_t *s);

/* returns NULL or why the record is refused (a static string) */
char *ngx_http_objspace_parse_space(ngx_http_objspace_kv_t *kv,
    ngx_uint_t n, ngx_http_objspace_space_rec_t *rec);


/* ngx_http_objspace_cache_public.c */

void ngx_http_objspace_pub_expire_locked(ngx_http_objspace_shctx_t *sh,
    ngx_slab_pool_t *shpool, time_t now, time_t negative_valid);

/* "slug:" and "host:" messages; NGX_DECLINED for any other message */
ngx_int_t ngx_http_objspace_cache_invalidate_public(ngx_cycle_t *cycle,
    ngx_str_t *msg);


#endif /* _NGX_HTTP_OBJSPACE_CACHE_SHM_H_INCLUDED_ */

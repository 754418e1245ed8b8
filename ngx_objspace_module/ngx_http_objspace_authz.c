
/*
 * Copyright (C) objspace authors
 *
 * Authorization of a parsed S3 request against an identity: permission
 * mode -> operation set, bucket, key prefix, listing prefix, copy source,
 * the operator's deny list and write-once identities.
 *
 * Pure: only nginx types and macros, no nginx functions, no allocation.
 * Every comparison is a byte compare of exactly what goes upstream: keys
 * are the decoded keys that ngx_http_objspace_s3_upstream_path() encodes,
 * listing prefixes are decoded the way S3 and RGW decode a query.
 * docs/permissions.md is the user-facing statement of these rules.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_objspace_authz.h"


#define NGX_HTTP_OBJSPACE_OPBIT(op)  ((uint64_t) 1 << NGX_HTTP_OBJSPACE_OP_##op)


/* bucket probes: reveal only that the identity's own bucket exists */
#define NGX_HTTP_OBJSPACE_OPS_PROBE                                           \
    (NGX_HTTP_OBJSPACE_OPBIT(HEAD_BUCKET)                                     \
     | NGX_HTTP_OBJSPACE_OPBIT(GET_BUCKET_LOCATION))

#define NGX_HTTP_OBJSPACE_OPS_READ                                            \
    (NGX_HTTP_OBJSPACE_OPBIT(GET_OBJECT)                                      \
     | NGX_HTTP_OBJSPACE_OPBIT(HEAD_OBJECT)                                   \
     | NGX_HTTP_OBJSPACE_OPBIT(LIST_OBJECTS)                                  \
     | NGX_HTTP_OBJSPACE_OPBIT(LIST_OBJECTS_V2)                               \
     | NGX_HTTP_OBJSPACE_OPBIT(LIST_OBJECT_VERSIONS)                          \
     | NGX_HTTP_OBJSPACE_OPBIT(GET_OBJECT_ACL)                                \
     | NGX_HTTP_OBJSPACE_OPBIT(GET_OBJECT_TAGGING)                            \
     | NGX_HTTP_OBJSPACE_OPBIT(GET_OBJECT_ATTRIBUTES))

/* write-only: new data and its own multipart uploads, nothing that reads */
#define NGX_HTTP_OBJSPACE_OPS_WRITE                                           \
    (NGX_HTTP_OBJSPACE_OPBIT(PUT_OBJECT)                                      \
     | NGX_HTTP_OBJSPACE_OPBIT(CREATE_MULTIPART)                              \
     | NGX_HTTP_OBJSPACE_OPBIT(UPLOAD_PART)                                   \
     | NGX_HTTP_OBJSPACE_OPBIT(COMPLETE_MULTIPART)                            \
     | NGX_HTTP_OBJSPACE_OPBIT(ABORT_MULTIPART)                               \
     | NGX_HTTP_OBJSPACE_OPBIT(LIST_PARTS))

/* need read and write together: copies read their source */
#define NGX_HTTP_OBJSPACE_OPS_READ_WRITE                                      \
    (NGX_HTTP_OBJSPACE_OPBIT(COPY_OBJECT)                                     \
     | NGX_HTTP_OBJSPACE_OPBIT(UPLOAD_PART_COPY)                              \
     | NGX_HTTP_OBJSPACE_OPBIT(LIST_MULTIPART_UPLOADS)                        \
     | NGX_HTTP_OBJSPACE_OPBIT(PUT_OBJECT_TAGGING)                            \
     | NGX_HTTP_OBJSPACE_OPBIT(DELETE_OBJECT_TAGGING))

#define NGX_HTTP_OBJSPACE_OPS_DELETE                                          \
    (NGX_HTTP_OBJSPACE_OPBIT(DELETE_OBJECT)                                   \
     | NGX_HTTP_OBJSPACE_OPBIT(DELETE_OBJECTS))

/* CLIENTS.md: what docker-registry 2.8's S3 driver issues, nothing more */
#define NGX_HTTP_OBJSPACE_OPS_REGISTRY                                        \
    (NGX_HTTP_OBJSPACE_OPBIT(LIST_OBJECTS)                                    \
     | NGX_HTTP_OBJSPACE_OPBIT(LIST_OBJECTS_V2)                               \
     | NGX_HTTP_OBJSPACE_OPBIT(GET_OBJECT)                                    \
     | NGX_HTTP_OBJSPACE_OPBIT(PUT_OBJECT)                                    \
     | NGX_HTTP_OBJSPACE_OPBIT(CREATE_MULTIPART)                              \
     | NGX_HTTP_OBJSPACE_OPBIT(UPLOAD_PART)                                   \
     | NGX_HTTP_OBJSPACE_OPBIT(LIST_MULTIPART_UPLOADS)                        \
     | NGX_HTTP_OBJSPACE_OPBIT(LIST_PARTS)                                    \
     | NGX_HTTP_OBJSPACE_OPBIT(COMPLETE_MULTIPART)                            \
     | NGX_HTTP_OBJSPACE_OPBIT(ABORT_MULTIPART)                               \
     | NGX_HTTP_OBJSPACE_OPBIT(COPY_OBJECT)                                   \
     | NGX_HTTP_OBJSPACE_OPBIT(UPLOAD_PART_COPY)                              \
     | NGX_HTTP_OBJSPACE_OPBIT(DELETE_OBJECTS))

/* never allowed to a write-once identity (besides overwrites) */
#define NGX_HTTP_OBJSPACE_OPS_MUTATE                                          \
    (NGX_HTTP_OBJSPACE_OPS_DELETE                                             \
     | NGX_HTTP_OBJSPACE_OPBIT(PUT_OBJECT_TAGGING)                            \
     | NGX_HTTP_OBJSPACE_OPBIT(DELETE_OBJECT_TAGGING))

/* operations on one object: the key is checked */
#define NGX_HTTP_OBJSPACE_OPS_OBJECT                                          \
    (NGX_HTTP_OBJSPACE_OPBIT(GET_OBJECT)                                      \
     | NGX_HTTP_OBJSPACE_OPBIT(HEAD_OBJECT)                                   \
     | NGX_HTTP_OBJSPACE_OPBIT(PUT_OBJECT)                                    \
     | NGX_HTTP_OBJSPACE_OPBIT(COPY_OBJECT)                                   \
     | NGX_HTTP_OBJSPACE_OPBIT(DELETE_OBJECT)                                 \
     | NGX_HTTP_OBJSPACE_OPBIT(CREATE_MULTIPART)                              \
     | NGX_HTTP_OBJSPACE_OPBIT(UPLOAD_PART)                                   \
     | NGX_HTTP_OBJSPACE_OPBIT(UPLOAD_PART_COPY)                              \
     | NGX_HTTP_OBJSPACE_OPBIT(COMPLETE_MULTIPART)                            \
     | NGX_HTTP_OBJSPACE_OPBIT(ABORT_MULTIPART)                               \
     | NGX_HTTP_OBJSPACE_OPBIT(LIST_PARTS)                                    \
     | NGX_HTTP_OBJSPACE_OPBIT(GET_OBJECT_ACL)                                \
     | NGX_HTTP_OBJSPACE_OPBIT(PUT_OBJECT_ACL)                                \
     | NGX_HTTP_OBJSPACE_OPBIT(GET_OBJECT_TAGGING)                            \
     | NGX_HTTP_OBJSPACE_OPBIT(PUT_OBJECT_TAGGING)                            \
     | NGX_HTTP_OBJSPACE_OPBIT(DELETE_OBJECT_TAGGING)                         \
     | NGX_HTTP_OBJSPACE_OPBIT(GET_OBJECT_ATTRIBUTES)                         \
     | NGX_HTTP_OBJSPACE_OPBIT(OBJECT_OTHER))

/* listings: the "prefix" parameter is checked */
#define NGX_HTTP_OBJSPACE_OPS_LIST                                            \
    (NGX_HTTP_OBJSPACE_OPBIT(LIST_OBJECTS)                                    \
     | NGX_HTTP_OBJSPACE_OPBIT(LIST_OBJECTS_V2)                               \
     | NGX_HTTP_OBJSPACE_OPBIT(LIST_OBJECT_VERSIONS)                          \
     | NGX_HTTP_OBJSPACE_OPBIT(LIST_MULTIPART_UPLOADS))

#define NGX_HTTP_OBJSPACE_OPS_ADMIN                                           \
    (NGX_HTTP_OBJSPACE_OPBIT(CREATE_BUCKET)                                   \
     | NGX_HTTP_OBJSPACE_OPBIT(DELETE_BUCKET)                                 \
     | NGX_HTTP_OBJSPACE_OPBIT(BUCKET_ADMIN))

/* an immutable identity must not replace what these create */
#define NGX_HTTP_OBJSPACE_OPS_CREATE                                          \
    (NGX_HTTP_OBJSPACE_OPBIT(PUT_OBJECT)                                      \
     | NGX_HTTP_OBJSPACE_OPBIT(COPY_OBJECT)                                   \
     | NGX_HTTP_OBJSPACE_OPBIT(COMPLETE_MULTIPART))


static ngx_uint_t ngx_http_objspace_authz_object(
    ngx_http_objspace_identity_t *id, ngx_str_t *key,
    ngx_array_t *deny_prefixes);
static ngx_uint_t ngx_http_objspace_authz_list(
    ngx_http_objspace_identity_t *id, ngx_http_objspace_s3_req_t *s3,
    ngx_array_t *deny_prefixes);
static ngx_uint_t ngx_http_objspace_authz_denied(ngx_str_t *bucket,
    ngx_str_t *key, ngx_array_t *deny_prefixes, ngx_uint_t overlap);
static ngx_uint_t ngx_http_objspace_authz_has_prefix(ngx_str_t *s,
    ngx_str_t *prefix);


/* indexed by ngx_http_objspace_mode_e */
static uint64_t  ngx_http_objspace_authz_mode_ops[] = {

    /* none */
    0,

    /* read-only */
    NGX_HTTP_OBJSPACE_OPS_PROBE | NGX_HTTP_OBJSPACE_OPS_READ,

    /* write-only */
    NGX_HTTP_OBJSPACE_OPS_PROBE | NGX_HTTP_OBJSPACE_OPS_WRITE,

    /* read-write */
    NGX_HTTP_OBJSPACE_OPS_PROBE | NGX_HTTP_OBJSPACE_OPS_READ
    | NGX_HTTP_OBJSPACE_OPS_WRITE | NGX_HTTP_OBJSPACE_OPS_READ_WRITE,

    /* read-write-delete */
    NGX_HTTP_OBJSPACE_OPS_PROBE | NGX_HTTP_OBJSPACE_OPS_READ
    | NGX_HTTP_OBJSPACE_OPS_WRITE | NGX_HTTP_OBJSPACE_OPS_READ_WRITE
    | NGX_HTTP_OBJSPACE_OPS_DELETE,

    /* publisher */
    NGX_HTTP_OBJSPACE_OPS_PROBE | NGX_HTTP_OBJSPACE_OPS_READ
    | NGX_HTTP_OBJSPACE_OPS_WRITE | NGX_HTTP_OBJSPACE_OPS_READ_WRITE
    | NGX_HTTP_OBJSPACE_OPS_DELETE,

    /* registry-backend */
    NGX_HTTP_OBJSPACE_OPS_REGISTRY
};


ngx_str_t  ngx_http_objspace_authz_reasons[] = {
    ngx_string("ok"),
    ngx_string("unknown_op"),
    ngx_string("admin"),
    ngx_string("bucket"),
    ngx_string("mode"),
    ngx_string("immutable"),
    ngx_string("invalid_key"),
    ngx_string("dot_segment"),
    ngx_string("prefix"),
    ngx_string("list_prefix"),
    ngx_string("deny_prefix"),
    ngx_string("copy_source"),
    ngx_null_string
};


ngx_str_t  ngx_http_objspace_authz_modes[] = {
    ngx_string("none"),
    ngx_string("read-only"),
    ngx_string("write-only"),
    ngx_string("read-write"),
    ngx_string("read-write-delete"),
    ngx_string("publisher"),
    ngx_string("registry-backend"),
    ngx_null_string
};


/*
 * The order of the checks fixes which reason is reported when several
 * apply: operation class, bucket, mode, write-once, then the targets (key,
 * listing prefix, copy source), each against the identity's prefix and the
 * deny list.
 */

ngx_uint_t
ngx_http_objspace_authz(ngx_http_objspace_identity_t *id,
    ngx_http_objspace_s3_req_t *s3, ngx_str_t *copy_bucket,
    ngx_str_t *copy_key, ngx_array_t *deny_prefixes, ngx_uint_t *flags)
{
    uint64_t    bit;
    ngx_str_t   empty;
    ngx_uint_t  rc;

    *flags = 0;

    if (id->mode == NGX_HTTP_OBJSPACE_MODE_NONE
        || id->mode >= sizeof(ngx_http_objspace_authz_mode_ops)
                       / sizeof(uint64_t))
    {
        return NGX_HTTP_OBJSPACE_AUTHZ_MODE;
    }

    if (s3->op == NGX_HTTP_OBJSPACE_OP_UNKNOWN
        || s3->op >= NGX_HTTP_OBJSPACE_OP_MAX)
    {
        return NGX_HTTP_OBJSPACE_AUTHZ_UNKNOWN_OP;
    }

    if (s3->op == NGX_HTTP_OBJSPACE_OP_LIST_BUCKETS) {
        *flags = NGX_HTTP_OBJSPACE_AUTHZ_LOCAL;
        return NGX_HTTP_OBJSPACE_AUTHZ_OK;
    }

    bit = (uint64_t) 1 << s3->op;

    if (bit & NGX_HTTP_OBJSPACE_OPS_ADMIN) {
        return NGX_HTTP_OBJSPACE_AUTHZ_ADMIN;
    }

    if (id->bucket.len == 0
        || s3->bucket.len != id->bucket.len
        || ngx_memcmp(s3->bucket.data, id->bucket.data, id->bucket.len) != 0)
    {
        return NGX_HTTP_OBJSPACE_AUTHZ_BUCKET;
    }

    if (!ngx_http_objspace_authz_mode_allows(id->mode, s3->op)) {
        return NGX_HTTP_OBJSPACE_AUTHZ_MODE;
    }

    if (id->immutable && (bit & NGX_HTTP_OBJSPACE_OPS_MUTATE)) {
        return NGX_HTTP_OBJSPACE_AUTHZ_IMMUTABLE;
    }

    if (bit & NGX_HTTP_OBJSPACE_OPS_OBJECT) {

        if (s3->key.len == 0) {
            return NGX_HTTP_OBJSPACE_AUTHZ_UNKNOWN_OP;
        }

        rc = ngx_http_objspace_authz_object(id, &s3->key, deny_prefixes);
        if (rc != NGX_HTTP_OBJSPACE_AUTHZ_OK) {
            return rc;
        }

    } else if (s3->key.len) {
        return NGX_HTTP_OBJSPACE_AUTHZ_UNKNOWN_OP;

    } else if (bit & NGX_HTTP_OBJSPACE_OPS_LIST) {

        rc = ngx_http_objspace_authz_list(id, s3, deny_prefixes);
        if (rc != NGX_HTTP_OBJSPACE_AUTHZ_OK) {
            return rc;
        }

    } else {
        /* probes and DeleteObjects: refused if the whole bucket is denied */

        empty.len = 0;
        empty.data = NULL;

        if (ngx_http_objspace_authz_denied(&s3->bucket, &empty,
                                           deny_prefixes, 0))
        {
            return NGX_HTTP_OBJSPACE_AUTHZ_DENY_PREFIX;
        }

        if (s3->op == NGX_HTTP_OBJSPACE_OP_DELETE_OBJECTS) {
            *flags |= NGX_HTTP_OBJSPACE_AUTHZ_CHECK_KEYS;
        }
    }

    if (s3->op == NGX_HTTP_OBJSPACE_OP_COPY_OBJECT
        || s3->op == NGX_HTTP_OBJSPACE_OP_UPLOAD_PART_COPY)
    {
        if (copy_bucket == NULL || copy_key == NULL
            || copy_bucket->len != id->bucket.len
            || ngx_memcmp(copy_bucket->data, id->bucket.data,
                          id->bucket.len) != 0
            || ngx_http_objspace_s3_check_key(copy_key)
               != NGX_HTTP_OBJSPACE_S3_OK
            || ngx_http_objspace_authz_object(id, copy_key, deny_prefixes)
               != NGX_HTTP_OBJSPACE_AUTHZ_OK)
        {
            return NGX_HTTP_OBJSPACE_AUTHZ_COPY_SOURCE;
        }
    }

    if (id->immutable && (bit & NGX_HTTP_OBJSPACE_OPS_CREATE)) {
        *flags |= NGX_HTTP_OBJSPACE_AUTHZ_NEEDS_ABSENT;
    }

    return NGX_HTTP_OBJSPACE_AUTHZ_OK;
}


ngx_uint_t
ngx_http_objspace_authz_key(ngx_http_objspace_identity_t *id,
    ngx_str_t *key, ngx_array_t *deny_prefixes)
{
    if (ngx_http_objspace_s3_check_key(key) != NGX_HTTP_OBJSPACE_S3_OK) {
        return NGX_HTTP_OBJSPACE_AUTHZ_INVALID_KEY;
    }

    return ngx_http_objspace_authz_object(id, key, deny_prefixes);
}


ngx_uint_t
ngx_http_objspace_authz_mode_allows(ngx_uint_t mode, ngx_uint_t op)
{
    if (mode >= sizeof(ngx_http_objspace_authz_mode_ops) / sizeof(uint64_t)
        || op >= NGX_HTTP_OBJSPACE_OP_MAX)
    {
        return 0;
    }

    if (op == NGX_HTTP_OBJSPACE_OP_LIST_BUCKETS) {
        return mode != NGX_HTTP_OBJSPACE_MODE_NONE;
    }

    return (ngx_http_objspace_authz_mode_ops[mode] & ((uint64_t) 1 << op))
           != 0;
}


ngx_uint_t
ngx_http_objspace_authz_parse_mode(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 1; ngx_http_objspace_authz_modes[i].len; i++) {
        if (name->len == ngx_http_objspace_authz_modes[i].len
            && ngx_memcmp(name->data, ngx_http_objspace_authz_modes[i].data,
                          name->len) == 0)
        {
            return i;
        }
    }

    return NGX_HTTP_OBJSPACE_MODE_NONE;
}


/*
 * A key in the identity's bucket: no "." / ".." segment (for every
 * identity: prefix and deny checks compare the key as sent, and a backend
 * or proxy that normalises paths would resolve it elsewhere), inside the
 * identity's prefix (plain byte prefix), not under a deny entry.
 */

static ngx_uint_t
ngx_http_objspace_authz_object(ngx_http_objspace_identity_t *id,
    ngx_str_t *key, ngx_array_t *deny_prefixes)
{
    if (ngx_http_objspace_s3_has_dot_segment(key)) {
        return NGX_HTTP_OBJSPACE_AUTHZ_DOT_SEGMENT;
    }

    if (!ngx_http_objspace_authz_has_prefix(key, &id->prefix)) {
        return NGX_HTTP_OBJSPACE_AUTHZ_PREFIX;
    }

    if (ngx_http_objspace_authz_denied(&id->bucket, key, deny_prefixes, 0)) {
        return NGX_HTTP_OBJSPACE_AUTHZ_DENY_PREFIX;
    }

    return NGX_HTTP_OBJSPACE_AUTHZ_OK;
}


/*
 * A listing is refused, not confined: its "prefix" parameter (decoded as
 * the backend decodes it) must start with the identity's prefix, and the
 * listed range must not overlap a deny entry.  A missing prefix is "".
 */

static ngx_uint_t
ngx_http_objspace_authz_list(ngx_http_objspace_identity_t *id,
    ngx_http_objspace_s3_req_t *s3, ngx_array_t *deny_prefixes)
{
    ngx_int_t   rc;
    ngx_str_t   name, prefix;
    u_char      buf[NGX_HTTP_OBJSPACE_MAX_KEY_LEN];

    ngx_str_set(&name, "prefix");

    rc = ngx_http_objspace_s3_arg(&s3->query, &name, buf, sizeof(buf),
                                  &prefix);

    if (rc == NGX_DECLINED) {
        prefix.len = 0;
        prefix.data = buf;

    } else if (rc != NGX_OK) {
        return NGX_HTTP_OBJSPACE_AUTHZ_LIST_PREFIX;
    }

    if (!ngx_http_objspace_authz_has_prefix(&prefix, &id->prefix)) {
        return NGX_HTTP_OBJSPACE_AUTHZ_LIST_PREFIX;
    }

    if (ngx_http_objspace_authz_denied(&s3->bucket, &prefix, deny_prefixes,
                                       1))
    {
        return NGX_HTTP_OBJSPACE_AUTHZ_DENY_PREFIX;
    }

    return NGX_HTTP_OBJSPACE_AUTHZ_OK;
}


/*
 * Two forms of deny entry (docs/permissions.md, "Deny list"):
 *
 *   "keyprefix"           key-relative, in every bucket: the target key is
 *                         refused when the entry is a byte prefix of it; a
 *                         listing when the entry is a byte prefix of its
 *                         prefix (a listing inside the denied range).  A
 *                         wider listing passes: otherwise the defaults
 *                         ("blobs/", ...) would refuse every whole-bucket
 *                         listing;
 *   "/bucket/keyprefix"   anchored to a bucket: T = bucket "/" key is
 *                         refused when the entry (without its '/') is a
 *                         byte prefix of T; with overlap (listings, key =
 *                         the listing prefix) also when T is a prefix of
 *                         the entry, since the listing would show denied
 *                         names.  "/b/" walls off the whole bucket "b".
 *
 * Empty entries (and a lone "/") never match.
 */

static ngx_uint_t
ngx_http_objspace_authz_denied(ngx_str_t *bucket, ngx_str_t *key,
    ngx_array_t *deny_prefixes, ngx_uint_t overlap)
{
    u_char      *e, c;
    size_t       elen, tlen, n, i;
    ngx_str_t   *deny;
    ngx_uint_t   k;

    if (deny_prefixes == NULL) {
        return 0;
    }

    deny = deny_prefixes->elts;
    tlen = bucket->len + 1 + key->len;

    for (k = 0; k < deny_prefixes->nelts; k++) {
        e = deny[k].data;
        elen = deny[k].len;

        if (elen == 0) {
            continue;
        }

        if (e[0] != '/') {

            /* key-relative */

            if (elen <= key->len && ngx_memcmp(key->data, e, elen) == 0) {
                return 1;
            }

            continue;
        }

        e++;
        elen--;

        if (elen == 0 || (elen > tlen && !overlap)) {
            continue;
        }

        n = ngx_min(elen, tlen);

        for (i = 0; i < n; i++) {
            if (i < bucket->len) {
                c = bucket->data[i];

            } else if (i == bucket->len) {
                c = '/';

            } else {
                c = key->data[i - bucket->len - 1];
            }

            if (c != e[i]) {
                break;
            }
        }

        if (i == n) {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_http_objspace_authz_has_prefix(ngx_str_t *s, ngx_str_t *prefix)
{
    if (prefix->len == 0) {
        return 1;
    }

    return s->len >= prefix->len
           && ngx_memcmp(s->data, prefix->data, prefix->len) == 0;
}

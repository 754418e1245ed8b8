
/*
 * Copyright (C) objspace authors
 *
 * Authorization: may this identity do this parsed S3 request?  Pure (no
 * nginx functions, no I/O), unit-tested in t/unit/authz_test.c.  The rules
 * and every decision are in docs/permissions.md.
 */


#ifndef _NGX_HTTP_OBJSPACE_AUTHZ_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_AUTHZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_objspace_module.h"


/*
 * Why a request is refused.  The short names (ngx_http_objspace_authz_
 * reasons[]) are stable: they go into logs and the audit stream.  Keep in
 * sync with docs/permissions.md.
 */
typedef enum {
    NGX_HTTP_OBJSPACE_AUTHZ_OK = 0,         /* "ok"          allowed */
    NGX_HTTP_OBJSPACE_AUTHZ_UNKNOWN_OP,     /* "unknown_op"  unparsed op */
    NGX_HTTP_OBJSPACE_AUTHZ_ADMIN,          /* "admin"       bucket admin */
    NGX_HTTP_OBJSPACE_AUTHZ_BUCKET,         /* "bucket"      other bucket */
    NGX_HTTP_OBJSPACE_AUTHZ_MODE,           /* "mode"        op not in mode */
    NGX_HTTP_OBJSPACE_AUTHZ_IMMUTABLE,      /* "immutable"   write-once */
    NGX_HTTP_OBJSPACE_AUTHZ_INVALID_KEY,    /* "invalid_key" body key bad */
    NGX_HTTP_OBJSPACE_AUTHZ_DOT_SEGMENT,    /* "dot_segment" "." / ".." */
    NGX_HTTP_OBJSPACE_AUTHZ_PREFIX,         /* "prefix"      key outside */
    NGX_HTTP_OBJSPACE_AUTHZ_LIST_PREFIX,    /* "list_prefix" listing wider */
    NGX_HTTP_OBJSPACE_AUTHZ_DENY_PREFIX,    /* "deny_prefix" operator deny */
    NGX_HTTP_OBJSPACE_AUTHZ_COPY_SOURCE,    /* "copy_source" source refused */
    NGX_HTTP_OBJSPACE_AUTHZ_MAX
} ngx_http_objspace_authz_e;


/* flags set on an allowed request: work the module still has to do */

/* immutable identity writes a key: refuse if the target exists (412/403) */
#define NGX_HTTP_OBJSPACE_AUTHZ_NEEDS_ABSENT   0x01

/* DeleteObjects: run ngx_http_objspace_authz_key() on every body key */
#define NGX_HTTP_OBJSPACE_AUTHZ_CHECK_KEYS     0x02

/* ListBuckets: answer locally, listing only the identity's bucket */
#define NGX_HTTP_OBJSPACE_AUTHZ_LOCAL          0x04


/*
 * Decides one request.
 *   id:            the identity (mode, bucket, prefix, immutable are read;
 *                  status, expiry and space state are the caller's checks)
 *   s3:            a successfully parsed request (ngx_http_objspace_s3_
 *                  parse() returned NGX_HTTP_OBJSPACE_S3_OK)
 *   copy_bucket,
 *   copy_key:      for CopyObject / UploadPartCopy, the parsed
 *                  x-amz-copy-source (decoded key); NULL otherwise
 *   deny_prefixes: ngx_str_t array of objspace_deny_prefix entries,
 *                  "keyprefix" (in every bucket) or "/bucket/keyprefix",
 *                  or NULL
 *   flags:         out, NGX_HTTP_OBJSPACE_AUTHZ_* flags (0 if none)
 * Returns NGX_HTTP_OBJSPACE_AUTHZ_OK or the reason for a refusal.
 */
ngx_uint_t ngx_http_objspace_authz(ngx_http_objspace_identity_t *id,
    ngx_http_objspace_s3_req_t *s3, ngx_str_t *copy_bucket,
    ngx_str_t *copy_key, ngx_array_t *deny_prefixes, ngx_uint_t *flags);

/*
 * One key of a DeleteObjects body (after ngx_http_objspace_authz() allowed
 * the request with NGX_HTTP_OBJSPACE_AUTHZ_CHECK_KEYS): key validity, dot
 * segments, the identity's prefix and the deny list, in the identity's
 * bucket.  Returns NGX_HTTP_OBJSPACE_AUTHZ_OK or a reason; the module
 * refuses the whole request if any key is refused.
 */
ngx_uint_t ngx_http_objspace_authz_key(ngx_http_objspace_identity_t *id,
    ngx_str_t *key, ngx_array_t *deny_prefixes);

/* 1 if the mode's operation set contains op (no target checks) */
ngx_uint_t ngx_http_objspace_authz_mode_allows(ngx_uint_t mode, ngx_uint_t op);

/*
 * The Redis "mode" field ("read-only", ..., "registry-backend") to an
 * ngx_http_objspace_mode_e; NGX_HTTP_OBJSPACE_MODE_NONE if unknown.
 */
ngx_uint_t ngx_http_objspace_authz_parse_mode(ngx_str_t *name);

/* short stable reason names, indexed by ngx_http_objspace_authz_e */
extern ngx_str_t  ngx_http_objspace_authz_reasons[];

/* mode names, indexed by ngx_http_objspace_mode_e ("none" for 0) */
extern ngx_str_t  ngx_http_objspace_authz_modes[];


#endif /* _NGX_HTTP_OBJSPACE_AUTHZ_H_INCLUDED_ */


/*
 * Copyright (C) objspace authors
 *
 * Quota reservations and usage accounting in Redis (docs/redis-schema.md,
 * "Quota and usage"): one Lua script, asynchronous, never blocking.
 */


#ifndef _NGX_HTTP_OBJSPACE_QUOTA_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_QUOTA_H_INCLUDED_


#include "ngx_http_objspace_module.h"


/* what ngx_http_objspace_quota_check asks the gateway to answer */
#define NGX_HTTP_OBJSPACE_QUOTA_OK           0
#define NGX_HTTP_OBJSPACE_QUOTA_AGAIN        1  /* suspended: resume(r) */
#define NGX_HTTP_OBJSPACE_QUOTA_EXCEEDED     2  /* 403 QuotaExceeded */
#define NGX_HTTP_OBJSPACE_QUOTA_UNREACHABLE  3  /* 503: fail closed */
#define NGX_HTTP_OBJSPACE_QUOTA_NO_LENGTH    4  /* 411 */
#define NGX_HTTP_OBJSPACE_QUOTA_COPY_UNKNOWN 5  /* 403 AccessDenied */
#define NGX_HTTP_OBJSPACE_QUOTA_ERROR        6  /* 500 */
#define NGX_HTTP_OBJSPACE_QUOTA_EXISTS       7  /* 412: write-once target */
#define NGX_HTTP_OBJSPACE_QUOTA_CLAIM_FAILED 8  /* 503: fail closed */


/*
 * Called from the access phase once r is authorized (and again after a
 * resume: it answers from its state then).  For a write into a space with
 * a quota it reserves the bytes in Redis; r is suspended meanwhile
 * (QUOTA_AGAIN) and resumed with ngx_http_objspace_resume(r) from a posted
 * event.  Every accounted operation gets an r->pool cleanup that releases
 * a reservation not committed by ngx_http_objspace_quota_finish.
 * copy_key: the decoded x-amz-copy-source key (empty if none).
 * absent: 1 for a write-once write (PutObject, CopyObject,
 * CompleteMultipartUpload of an immutable identity): in the same script
 * the key is claimed for r, or refused (QUOTA_EXISTS) if the space's
 * object index knows it or another request holds a claim on it; Redis
 * unreachable is QUOTA_CLAIM_FAILED whatever the quota.  The log phase
 * turns the claim into the index entry (2xx) or releases it.
 */
ngx_uint_t ngx_http_objspace_quota_check(ngx_http_request_t *r,
    ngx_http_objspace_identity_t *id, ngx_http_objspace_s3_req_t *s3,
    ngx_str_t *copy_bucket, ngx_str_t *copy_key, ngx_uint_t absent);

/* DeleteObjects: one key of the request body (fingerprinted, not kept) */
void ngx_http_objspace_quota_delete_key(ngx_http_request_t *r,
    ngx_str_t *key);

/* log phase: commit (status 2xx) or release; idempotent */
void ngx_http_objspace_quota_finish(ngx_http_request_t *r,
    ngx_uint_t status);

/* quota/usage as last seen for r's space, for variables; -1 unknown */
void ngx_http_objspace_quota_figures(ngx_http_request_t *r, off_t *size,
    int64_t *used, int64_t *reserved);


#endif /* _NGX_HTTP_OBJSPACE_QUOTA_H_INCLUDED_ */

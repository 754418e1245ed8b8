
/*
 * Copyright (C) objspace authors
 *
 * Private to the S3 gateway's files (ngx_http_objspace_module.c,
 * _handler.c, _upstream.c, _body.c, _errors.c): the per-request context,
 * the S3 errors the gateway answers with, and the functions they share.
 */


#ifndef _NGX_HTTP_OBJSPACE_GATEWAY_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_GATEWAY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/sha.h>

#include "ngx_http_objspace_module.h"
#include "ngx_http_objspace_authz.h"
#include "ngx_http_objspace_xml.h"
#include "ngx_http_objspace_quota.h"


#define NGX_HTTP_OBJSPACE_BODY_NONE      0
#define NGX_HTTP_OBJSPACE_BODY_SHA256    1
#define NGX_HTTP_OBJSPACE_BODY_CHUNKED   2


/* S3 errors the gateway itself answers with */
typedef enum {
    NGX_HTTP_OBJSPACE_E_NONE = 0,
    NGX_HTTP_OBJSPACE_E_ACCESS_DENIED,
    NGX_HTTP_OBJSPACE_E_INVALID_ACCESS_KEY,
    NGX_HTTP_OBJSPACE_E_SIGNATURE,
    NGX_HTTP_OBJSPACE_E_SKEWED,
    NGX_HTTP_OBJSPACE_E_EXPIRED,
    NGX_HTTP_OBJSPACE_E_NOT_YET_VALID,
    NGX_HTTP_OBJSPACE_E_HEADER_MALFORMED,
    NGX_HTTP_OBJSPACE_E_QUERY_MALFORMED,
    NGX_HTTP_OBJSPACE_E_WRONG_REGION,
    NGX_HTTP_OBJSPACE_E_HEADERS_NOT_SIGNED,
    NGX_HTTP_OBJSPACE_E_MISSING_SHA256,
    NGX_HTTP_OBJSPACE_E_INVALID_SHA256,
    NGX_HTTP_OBJSPACE_E_SHA256_MISMATCH,
    NGX_HTTP_OBJSPACE_E_BAD_DIGEST,
    NGX_HTTP_OBJSPACE_E_INCOMPLETE_BODY,
    NGX_HTTP_OBJSPACE_E_INVALID_CHUNK,
    NGX_HTTP_OBJSPACE_E_MISSING_LENGTH,
    NGX_HTTP_OBJSPACE_E_INVALID_URI,
    NGX_HTTP_OBJSPACE_E_INVALID_BUCKET,
    NGX_HTTP_OBJSPACE_E_KEY_TOO_LONG,
    NGX_HTTP_OBJSPACE_E_INVALID_ARGUMENT,
    NGX_HTTP_OBJSPACE_E_NOT_IMPLEMENTED,
    NGX_HTTP_OBJSPACE_E_METHOD,
    NGX_HTTP_OBJSPACE_E_UNAVAILABLE,
    NGX_HTTP_OBJSPACE_E_INTERNAL,
    NGX_HTTP_OBJSPACE_E_BAD_REQUEST,
    NGX_HTTP_OBJSPACE_E_TIMEOUT,
    NGX_HTTP_OBJSPACE_E_TOO_LARGE,
    NGX_HTTP_OBJSPACE_E_MALFORMED_XML,
    NGX_HTTP_OBJSPACE_E_MAX_MESSAGE,
    NGX_HTTP_OBJSPACE_E_QUOTA_EXCEEDED,
    NGX_HTTP_OBJSPACE_E_PRECONDITION_FAILED,
    NGX_HTTP_OBJSPACE_E_MAX
} ngx_http_objspace_err_e;


typedef struct {
    ngx_str_t                   code;
    ngx_uint_t                  status;
    ngx_str_t                   message;
} ngx_http_objspace_err_t;


/* a request body input buffer held until the slices cut from it are sent */
typedef struct ngx_http_objspace_track_s  ngx_http_objspace_track_t;

struct ngx_http_objspace_track_s {
    ngx_buf_t                  *in;
    ngx_buf_t                  *out;     /* last slice cut from "in" */
    ngx_http_objspace_track_t  *next;
};


typedef struct {
    ngx_http_objspace_s3_req_t      s3;
    ngx_http_objspace_sigv4_auth_t  auth;
    ngx_http_objspace_identity_t   *id;
    ngx_http_objspace_kv_t         *headers;
    ngx_uint_t                      nheaders;
    ngx_str_t                       payload_hash;
    ngx_str_t                       copy_bucket;
    ngx_str_t                       copy_key;

    ngx_str_t                       upstream_uri;
    ngx_str_t                       upstream_length;
    ngx_str_t                       deny_reason;
    ngx_str_t                       request_id;

    ngx_uint_t                      which;          /* secret verified */
    ngx_uint_t                      authz_flags;
    ngx_uint_t                      err;            /* ..._err_e */
    ngx_str_t                       err_message;    /* overrides default */

    /* request body */
    ngx_uint_t                      body_mode;
    off_t                           body_expected;
    off_t                           body_seen;      /* decoded bytes */
    SHA256_CTX                      body_sha;
    u_char                          body_hash[NGX_HTTP_OBJSPACE_SHA256_LEN];
    ngx_http_objspace_chunked_t    *chunked;
    ngx_buf_t                      *tail;           /* the held last byte */
    ngx_http_objspace_track_t      *track;
    ngx_http_objspace_track_t     **track_last;
    ngx_http_objspace_track_t      *track_free;
    ngx_chain_t                    *free;
    ngx_chain_t                    *busy;

    unsigned                        parsed:1;
    unsigned                        waiting:1;
    unsigned                        done:1;
    unsigned                        denied:1;
    unsigned                        body_done:1;
    unsigned                        prepared:1;
    unsigned                        read_first:1;   /* read in access phase */
    unsigned                        check_keys:1;   /* DeleteObjects */
    unsigned                        xml_sent:1;
    unsigned                        xml_header:1;
} ngx_http_objspace_ctx_t;


extern ngx_http_objspace_err_t  ngx_http_objspace_errors[];
extern ngx_str_t  ngx_http_objspace_default_deny[];


ngx_int_t ngx_http_objspace_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_objspace_upstream(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
ngx_int_t ngx_http_objspace_fail(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_uint_t err, const char *reason);
void ngx_http_objspace_fingerprint(ngx_str_t *ak, u_char *out);
u_char *ngx_http_objspace_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
ngx_int_t ngx_http_objspace_post_read(ngx_http_request_t *r);
ngx_int_t ngx_http_objspace_errors_init(ngx_conf_t *cf);
ngx_int_t ngx_http_objspace_body_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_OBJSPACE_GATEWAY_H_INCLUDED_ */


/*
 * Copyright (C) objspace authors
 *
 * S3 request parsing: addressing style, bucket, key and operation from the
 * method, Host and the raw (undecoded) request line.  Pure: no nginx
 * functions, so it is unit-testable and fuzzable.  The raw URI is used, never
 * nginx's normalised r->uri: keys may contain "//", "..", "%2F".
 */


#ifndef _NGX_HTTP_OBJSPACE_S3_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_S3_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_OBJSPACE_MAX_KEY_LEN     1024
#define NGX_HTTP_OBJSPACE_MAX_BUCKET_LEN  63


/*
 * Operation classes.  Keep in sync with ngx_http_objspace_s3_op_names[] and
 * docs/permissions.md.
 */
typedef enum {
    NGX_HTTP_OBJSPACE_OP_UNKNOWN = 0,

    /* service */
    NGX_HTTP_OBJSPACE_OP_LIST_BUCKETS,

    /* bucket, read */
    NGX_HTTP_OBJSPACE_OP_HEAD_BUCKET,
    NGX_HTTP_OBJSPACE_OP_GET_BUCKET_LOCATION,
    NGX_HTTP_OBJSPACE_OP_LIST_OBJECTS,
    NGX_HTTP_OBJSPACE_OP_LIST_OBJECTS_V2,
    NGX_HTTP_OBJSPACE_OP_LIST_OBJECT_VERSIONS,
    NGX_HTTP_OBJSPACE_OP_LIST_MULTIPART_UPLOADS,

    /* object */
    NGX_HTTP_OBJSPACE_OP_GET_OBJECT,
    NGX_HTTP_OBJSPACE_OP_HEAD_OBJECT,
    NGX_HTTP_OBJSPACE_OP_PUT_OBJECT,
    NGX_HTTP_OBJSPACE_OP_COPY_OBJECT,           /* PUT + x-amz-copy-source */
    NGX_HTTP_OBJSPACE_OP_DELETE_OBJECT,
    NGX_HTTP_OBJSPACE_OP_DELETE_OBJECTS,        /* POST ?delete */
    NGX_HTTP_OBJSPACE_OP_CREATE_MULTIPART,      /* POST ?uploads */
    NGX_HTTP_OBJSPACE_OP_UPLOAD_PART,           /* PUT ?partNumber&uploadId */
    NGX_HTTP_OBJSPACE_OP_UPLOAD_PART_COPY,      /* ... + x-amz-copy-source */
    NGX_HTTP_OBJSPACE_OP_COMPLETE_MULTIPART,    /* POST ?uploadId */
    NGX_HTTP_OBJSPACE_OP_ABORT_MULTIPART,       /* DELETE ?uploadId */
    NGX_HTTP_OBJSPACE_OP_LIST_PARTS,            /* GET ?uploadId */
    NGX_HTTP_OBJSPACE_OP_GET_OBJECT_ACL,
    NGX_HTTP_OBJSPACE_OP_PUT_OBJECT_ACL,
    NGX_HTTP_OBJSPACE_OP_GET_OBJECT_TAGGING,
    NGX_HTTP_OBJSPACE_OP_PUT_OBJECT_TAGGING,
    NGX_HTTP_OBJSPACE_OP_DELETE_OBJECT_TAGGING,
    NGX_HTTP_OBJSPACE_OP_GET_OBJECT_ATTRIBUTES,
    NGX_HTTP_OBJSPACE_OP_OBJECT_OTHER,          /* retention, legal hold,
                                                   restore, select, torrent */

    /* bucket administration: never reachable with an Object Space key */
    NGX_HTTP_OBJSPACE_OP_CREATE_BUCKET,
    NGX_HTTP_OBJSPACE_OP_DELETE_BUCKET,
    NGX_HTTP_OBJSPACE_OP_BUCKET_ADMIN,          /* policy, acl, cors,
                                                   lifecycle, versioning, ... */
    NGX_HTTP_OBJSPACE_OP_MAX
} ngx_http_objspace_op_e;


/* why a request could not be parsed; mapped to S3 error codes */
typedef enum {
    NGX_HTTP_OBJSPACE_S3_OK = 0,
    NGX_HTTP_OBJSPACE_S3_INVALID_URI,       /* bad %-escape, NUL      400 */
    NGX_HTTP_OBJSPACE_S3_INVALID_BUCKET,    /* InvalidBucketName      400 */
    NGX_HTTP_OBJSPACE_S3_KEY_TOO_LONG,      /* KeyTooLongError        400 */
    NGX_HTTP_OBJSPACE_S3_INVALID_KEY,       /* bad UTF-8, control chr 400 */
    NGX_HTTP_OBJSPACE_S3_NOT_IMPLEMENTED,   /* NotImplemented         501 */
    NGX_HTTP_OBJSPACE_S3_METHOD             /* MethodNotAllowed       405 */
} ngx_http_objspace_s3_err_e;


typedef struct {
    ngx_uint_t                  op;          /* ngx_http_objspace_op_e */
    ngx_str_t                   bucket;      /* as addressed (not lowered) */
    ngx_str_t                   key;         /* percent-decoded bytes */
    ngx_str_t                   raw_path;    /* as on the wire, no query */
    ngx_str_t                   query;       /* raw, without '?' */
    unsigned                    virtual_host:1;
    unsigned                    key_has_dot_segment:1; /* "." or ".." seg */
} ngx_http_objspace_s3_req_t;


/*
 * Parses an S3 request.
 *   method:     e.g. "GET"
 *   host:       Host header value (port stripped by the parser)
 *   unparsed:   the raw request target (r->unparsed_uri), path + '?' + query
 *   suffixes:   virtual-host suffixes ("s3.example"), n of them; a Host
 *               equal to a suffix, or matching none, is path-style
 *   copy_source: x-amz-copy-source header value or NULL (CopyObject,
 *               UploadPartCopy)
 *   buf:        room for the decoded key, at least unparsed->len bytes
 * Returns an ngx_http_objspace_s3_err_e.
 */
ngx_int_t ngx_http_objspace_s3_parse(ngx_str_t *method, ngx_str_t *host,
    ngx_str_t *unparsed, ngx_str_t *suffixes, ngx_uint_t n,
    ngx_str_t *copy_source, u_char *buf, ngx_http_objspace_s3_req_t *s3);

/*
 * Splits an x-amz-copy-source value ("/bucket/key?versionId=..." or
 * "bucket/key", percent-encoded) into bucket and decoded key; buf needs
 * src->len bytes.  Returns an ngx_http_objspace_s3_err_e.
 */
ngx_int_t ngx_http_objspace_s3_parse_copy_source(ngx_str_t *src,
    u_char *buf, ngx_str_t *bucket, ngx_str_t *key);

/*
 * The canonical path for a decoded key in path-style form:
 * "/" bucket ["/" UriEncode(key, keep '/')].  This is both what goes to the
 * backend and the backend request's canonical URI.  dst needs
 * 2 + bucket->len + 3 * key->len bytes.  Returns the end.
 */
u_char *ngx_http_objspace_s3_upstream_path(u_char *dst, ngx_str_t *bucket,
    ngx_str_t *key);

/*
 * The canonical URI of the client's own request: UriEncode(decode(raw)),
 * byte by byte, except that an escaped slash (%2F) stays %2F (a literal
 * '/' stays '/'); "" gives "/".  dst needs max(1, 3 * raw_path->len) bytes.
 */
u_char *ngx_http_objspace_s3_canonical_uri(u_char *dst, ngx_str_t *raw_path);

/*
 * Checks a decoded key (from the path, x-amz-copy-source or a DeleteObjects
 * body): empty -> INVALID_KEY, over NGX_HTTP_OBJSPACE_MAX_KEY_LEN ->
 * KEY_TOO_LONG, NUL -> INVALID_URI, other control characters (0x01-0x1f,
 * 0x7f) or malformed UTF-8 -> INVALID_KEY.  Returns an
 * ngx_http_objspace_s3_err_e.
 */
ngx_int_t ngx_http_objspace_s3_check_key(ngx_str_t *key);

/* 1 if a '/'-separated segment of a decoded key is "." or ".." */
ngx_uint_t ngx_http_objspace_s3_has_dot_segment(ngx_str_t *key);

/*
 * One query parameter by exact (decoded) name, its value percent-decoded
 * with '+' as space (as S3 and RGW read queries) into buf (cap bytes).
 * NGX_OK: present once (value empty for "name" or "name="); NGX_DECLINED:
 * absent; NGX_ERROR: repeated, a bad escape, or the value exceeds cap.
 */
ngx_int_t ngx_http_objspace_s3_arg(ngx_str_t *query, ngx_str_t *name,
    u_char *buf, size_t cap, ngx_str_t *value);

/* S3 API name of an operation ("GetObject"), for logs and audit */
extern ngx_str_t  ngx_http_objspace_s3_op_names[];


#endif /* _NGX_HTTP_OBJSPACE_S3_H_INCLUDED_ */

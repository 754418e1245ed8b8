
/*
 * Copyright (C) objspace authors
 *
 * ngx_http_objspace_module: registration, directives, configuration, the
 * access-phase handler (parse, authenticate, authorize, re-sign), the
 * request body filter (aws-chunked decoding, payload verification) and the
 * S3 XML error filters.
 *
 * Request flow (access phase):
 *   parse S3 request -> parse SigV4 credential -> look up identity (shm
 *   cache, Redis on miss: may suspend) -> verify signature -> authorize ->
 *   rewrite headers for the backend, re-signed with the space's key ->
 *   nginx's proxy sends it, the body passing through our body filter.
 */


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


static ngx_int_t ngx_http_objspace_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_objspace_authenticate(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_parse(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_collect_headers(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_table_elt_t *ngx_http_objspace_header(ngx_http_objspace_ctx_t *ctx,
    ngx_http_request_t *r, const char *name);
static ngx_int_t ngx_http_objspace_verify(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_verify_with(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_uint_t which, ngx_str_t *uri,
    u_char *sig);
static ngx_int_t ngx_http_objspace_quota(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_authorize(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_prepare_body(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_upstream(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_kv_cmp(const void *one, const void *two);
static ngx_int_t ngx_http_objspace_upstream_query(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_str_t *out);
static ngx_int_t ngx_http_objspace_fail(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_uint_t err, const char *reason);
static void ngx_http_objspace_body_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_objspace_delete_key(void *data, ngx_str_t *key);
static ngx_int_t ngx_http_objspace_check_delete(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_list_buckets(ngx_http_request_t *r);
static void ngx_http_objspace_fingerprint(ngx_str_t *ak, u_char *out);
static ngx_int_t ngx_http_objspace_post_read(ngx_http_request_t *r);
static u_char *ngx_http_objspace_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static void ngx_http_objspace_cleanup(void *data);

static ngx_int_t ngx_http_objspace_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_objspace_body_emit(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, u_char *p, size_t len, ngx_chain_t ***ll,
    ngx_buf_t **last);
static ngx_int_t ngx_http_objspace_body_finish(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_chain_t ***ll);
static void ngx_http_objspace_body_release(ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_body_error(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_uint_t err, const char *reason);

static ngx_int_t ngx_http_objspace_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_objspace_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_buf_t *ngx_http_objspace_error_xml(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);

static ngx_int_t ngx_http_objspace_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_objspace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_objspace_backend_host_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_objspace_key_fp_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static void *ngx_http_objspace_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_objspace_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_objspace_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_objspace_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_objspace_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_objspace_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_objspace_secret_key_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_objspace_deny_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_objspace_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_objspace_init_process(ngx_cycle_t *cycle);
static void ngx_http_objspace_exit_process(ngx_cycle_t *cycle);


static ngx_http_objspace_err_t  ngx_http_objspace_errors[] = {
    { ngx_null_string, 0, ngx_null_string },
    { ngx_string("AccessDenied"), NGX_HTTP_FORBIDDEN,
      ngx_string("Access Denied") },
    { ngx_string("InvalidAccessKeyId"), NGX_HTTP_FORBIDDEN,
      ngx_string("The AWS Access Key Id you provided does not exist in "
                 "our records.") },
    { ngx_string("SignatureDoesNotMatch"), NGX_HTTP_FORBIDDEN,
      ngx_string("The request signature we calculated does not match the "
                 "signature you provided. Check your key and signing "
                 "method.") },
    { ngx_string("RequestTimeTooSkewed"), NGX_HTTP_FORBIDDEN,
      ngx_string("The difference between the request time and the "
                 "current time is too large.") },
    { ngx_string("AccessDenied"), NGX_HTTP_FORBIDDEN,
      ngx_string("Request has expired") },
    { ngx_string("AccessDenied"), NGX_HTTP_FORBIDDEN,
      ngx_string("Request is not valid yet") },
    { ngx_string("AuthorizationHeaderMalformed"), NGX_HTTP_BAD_REQUEST,
      ngx_string("The authorization header is malformed.") },
    { ngx_string("AuthorizationQueryParametersError"), NGX_HTTP_BAD_REQUEST,
      ngx_string("Query-string authentication version 4 requires the "
                 "X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
                 "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires "
                 "parameters.") },
    { ngx_string("AuthorizationHeaderMalformed"), NGX_HTTP_BAD_REQUEST,
      ngx_string("The authorization header is malformed; the region is "
                 "wrong.") },
    { ngx_string("AccessDenied"), NGX_HTTP_FORBIDDEN,
      ngx_string("There were headers present in the request which were "
                 "not signed") },
    { ngx_string("InvalidRequest"), NGX_HTTP_BAD_REQUEST,
      ngx_string("Missing required header for this request: "
                 "x-amz-content-sha256") },
    { ngx_string("InvalidArgument"), NGX_HTTP_BAD_REQUEST,
      ngx_string("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                 "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                 "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
                 "STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 "
                 "value.") },
    { ngx_string("XAmzContentSHA256Mismatch"), NGX_HTTP_BAD_REQUEST,
      ngx_string("The provided 'x-amz-content-sha256' header does not "
                 "match what was computed.") },
    { ngx_string("BadDigest"), NGX_HTTP_BAD_REQUEST,
      ngx_string("The checksum you specified did not match what we "
                 "received.") },
    { ngx_string("IncompleteBody"), NGX_HTTP_BAD_REQUEST,
      ngx_string("You did not provide the number of bytes specified by the "
                 "Content-Length HTTP header.") },
    { ngx_string("InvalidRequest"), NGX_HTTP_BAD_REQUEST,
      ngx_string("The aws-chunked body is malformed.") },
    { ngx_string("MissingContentLength"), NGX_HTTP_LENGTH_REQUIRED,
      ngx_string("You must provide the Content-Length HTTP header.") },
    { ngx_string("InvalidURI"), NGX_HTTP_BAD_REQUEST,
      ngx_string("Couldn't parse the specified URI.") },
    { ngx_string("InvalidBucketName"), NGX_HTTP_BAD_REQUEST,
      ngx_string("The specified bucket is not valid.") },
    { ngx_string("KeyTooLongError"), NGX_HTTP_BAD_REQUEST,
      ngx_string("Your key is too long.") },
    { ngx_string("InvalidArgument"), NGX_HTTP_BAD_REQUEST,
      ngx_string("Invalid argument.") },
    { ngx_string("NotImplemented"), NGX_HTTP_NOT_IMPLEMENTED,
      ngx_string("A header or query you provided implies functionality "
                 "that is not implemented.") },
    { ngx_string("MethodNotAllowed"), NGX_HTTP_NOT_ALLOWED,
      ngx_string("The specified method is not allowed against this "
                 "resource.") },
    { ngx_string("ServiceUnavailable"), NGX_HTTP_SERVICE_UNAVAILABLE,
      ngx_string("Please reduce your request rate.") },
    { ngx_string("InternalError"), NGX_HTTP_INTERNAL_SERVER_ERROR,
      ngx_string("We encountered an internal error. Please try again.") },
    { ngx_string("BadRequest"), NGX_HTTP_BAD_REQUEST,
      ngx_string("Bad Request") },
    { ngx_string("RequestTimeout"), NGX_HTTP_REQUEST_TIME_OUT,
      ngx_string("Your socket connection to the server was not read from "
                 "or written to within the timeout period.") },
    { ngx_string("EntityTooLarge"), NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
      ngx_string("Your proposed upload exceeds the maximum allowed "
                 "object size.") },
    { ngx_string("MalformedXML"), NGX_HTTP_BAD_REQUEST,
      ngx_string("The XML you provided was not well-formed or did not "
                 "validate against our published schema.") },
    { ngx_string("MaxMessageLengthExceeded"), NGX_HTTP_BAD_REQUEST,
      ngx_string("Your request was too big.") },
    { ngx_string("QuotaExceeded"), NGX_HTTP_FORBIDDEN,
      ngx_string("The upload would exceed the Object Space's storage "
                 "quota.") },
    { ngx_string("PreconditionFailed"), NGX_HTTP_PRECONDITION_FAILED,
      ngx_string("At least one of the pre-conditions you specified did not "
                 "hold") }
};


static ngx_conf_enum_t  ngx_http_objspace_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_objspace_skew_bounds = {
    ngx_conf_check_num_bounds, 1, 7 * 24 * 3600
};


static ngx_command_t  ngx_http_objspace_commands[] = {

    { ngx_string("objspace_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_objspace_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("objspace_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_objspace_main_conf_t, redis_timeout),
      NULL },

    { ngx_string("objspace_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_objspace_cache_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("objspace_cache_valid"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_objspace_main_conf_t, cache_valid),
      NULL },

    { ngx_string("objspace_cache_negative"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_objspace_main_conf_t, negative_valid),
      NULL },

    { ngx_string("objspace_secret_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_objspace_secret_key_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("objspace_gateway"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, gateway),
      NULL },

    { ngx_string("objspace_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, region),
      NULL },

    { ngx_string("objspace_host_suffix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, host_suffixes),
      NULL },

    { ngx_string("objspace_backend_host"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, backend_host),
      NULL },

    { ngx_string("objspace_backend_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, backend_region),
      NULL },

    { ngx_string("objspace_clock_skew"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, max_skew),
      &ngx_http_objspace_skew_bounds },

    { ngx_string("objspace_max_chunk_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, max_chunk),
      NULL },

    { ngx_string("objspace_deny_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_objspace_deny_prefix,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, deny_prefixes),
      NULL },

    { ngx_string("objspace_deny_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, deny_log_level),
      &ngx_http_objspace_log_levels },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_objspace_module_ctx = {
    ngx_http_objspace_add_variables,       /* preconfiguration */
    ngx_http_objspace_init,                /* postconfiguration */

    ngx_http_objspace_create_main_conf,    /* create main configuration */
    ngx_http_objspace_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_objspace_create_loc_conf,     /* create location configuration */
    ngx_http_objspace_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_objspace_module = {
    NGX_MODULE_V1,
    &ngx_http_objspace_module_ctx,         /* module context */
    ngx_http_objspace_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_objspace_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_objspace_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* variables: the data field indexes this table */
enum {
    NGX_HTTP_OBJSPACE_VAR_UPSTREAM_URI = 0,
    NGX_HTTP_OBJSPACE_VAR_UPSTREAM_LENGTH,
    NGX_HTTP_OBJSPACE_VAR_IDENTITY,
    NGX_HTTP_OBJSPACE_VAR_TENANT,
    NGX_HTTP_OBJSPACE_VAR_SPACE,
    NGX_HTTP_OBJSPACE_VAR_BUCKET,
    NGX_HTTP_OBJSPACE_VAR_OPERATION,
    NGX_HTTP_OBJSPACE_VAR_DECISION,
    NGX_HTTP_OBJSPACE_VAR_DENY_REASON,
    NGX_HTTP_OBJSPACE_VAR_ERROR_CODE
};


static ngx_http_variable_t  ngx_http_objspace_vars[] = {

    { ngx_string("objspace_upstream_uri"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_UPSTREAM_URI,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_upstream_content_length"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_UPSTREAM_LENGTH,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_identity"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_IDENTITY,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_tenant"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_TENANT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_space"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_SPACE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_bucket"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_BUCKET,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_operation"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_OPERATION,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_decision"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_DECISION,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_deny_reason"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_DENY_REASON,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_error_code"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_ERROR_CODE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_backend_host"), NULL,
      ngx_http_objspace_backend_host_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_key_fingerprint"), NULL,
      ngx_http_objspace_key_fp_variable, 0, 0, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_objspace_default_deny[] = {
    ngx_string("apps/rustshare/"),
    ngx_string("blobs/"),
    ngx_string("meta/")
};


static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;
static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

static ngx_int_t  ngx_http_objspace_request_id_index = NGX_ERROR;


/*
 * The access-phase handler.  Re-entered after an asynchronous identity
 * lookup (ngx_http_objspace_resume) and after the body was read in the
 * access phase (ngx_http_objspace_body_handler): ctx carries the state.
 */

static ngx_int_t
ngx_http_objspace_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_pool_cleanup_t            *cln;
    ngx_http_objspace_ctx_t       *ctx;
    ngx_http_objspace_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    if (!olcf->gateway || r != r->main) {
        return NGX_DECLINED;
    }

    r->log_handler = ngx_http_objspace_log_error;

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_objspace_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_http_objspace_cleanup;
        cln->data = ctx;

        ngx_http_set_ctx(r, ctx, ngx_http_objspace_module);
    }

    if (ctx->err) {
        return ngx_http_objspace_errors[ctx->err].status;
    }

    if (ctx->done) {
        return NGX_OK;
    }

    if (ctx->waiting) {
        return NGX_AGAIN;
    }

    if (!ctx->parsed) {
        rc = ngx_http_objspace_parse(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        ctx->parsed = 1;
    }

    if (ctx->id == NULL) {
        rc = ngx_http_objspace_authenticate(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (!ctx->prepared) {

        rc = ngx_http_objspace_authorize(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        /* quota (issue 5): may suspend; answers from its state after */

        rc = ngx_http_objspace_quota(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ctx->s3.op == NGX_HTTP_OBJSPACE_OP_LIST_BUCKETS) {
            ctx->done = 1;
            r->content_handler = ngx_http_objspace_list_buckets;
            return NGX_OK;
        }

        /* the body first: the upstream rewrite drops aws-chunked headers */

        rc = ngx_http_objspace_prepare_body(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_objspace_upstream(r, ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ctx->authz_flags & NGX_HTTP_OBJSPACE_AUTHZ_CHECK_KEYS) {

            if (r->headers_in.content_length_n
                > NGX_HTTP_OBJSPACE_MAX_DELETE_BODY)
            {
                return ngx_http_objspace_fail(r, ctx,
                                        NGX_HTTP_OBJSPACE_E_MAX_MESSAGE,
                                        "delete body too large");
            }

            ctx->check_keys = 1;
            ctx->read_first = 1;
        }

        ctx->prepared = 1;

        if (ctx->read_first) {
            /*
             * Read (and verify) the whole body before the backend request
             * starts; the proxy then sends the preserved body.
             */

            rc = ngx_http_read_client_request_body(r,
                                               ngx_http_objspace_body_handler);

            if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
                return rc;
            }

            ngx_http_finalize_request(r, NGX_DONE);
            return NGX_DONE;
        }
    }

    ctx->done = 1;

    return NGX_OK;
}


/* parses the S3 request and the SigV4 credential; no identity yet */

static ngx_int_t
ngx_http_objspace_parse(ngx_http_request_t *r, ngx_http_objspace_ctx_t *ctx)
{
    u_char                        *buf;
    time_t                         now;
    ngx_int_t                      rc;
    ngx_str_t                      host, *suffixes, *cs, amz_date;
    ngx_uint_t                     nsuffixes;
    ngx_table_elt_t               *h;
    ngx_http_objspace_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    if (ngx_http_objspace_collect_headers(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->headers_in.host) {
        host = r->headers_in.host->value;

    } else {
        ngx_str_null(&host);
    }

    suffixes = NULL;
    nsuffixes = 0;

    if (olcf->host_suffixes) {
        suffixes = olcf->host_suffixes->elts;
        nsuffixes = olcf->host_suffixes->nelts;
    }

    h = ngx_http_objspace_header(ctx, r, "x-amz-copy-source");
    cs = h ? &h->value : NULL;

    buf = ngx_pnalloc(r->pool, r->unparsed_uri.len + 1);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_objspace_s3_parse(&r->method_name, &host, &r->unparsed_uri,
                                    suffixes, nsuffixes, cs, buf, &ctx->s3);

    switch (rc) {

    case NGX_HTTP_OBJSPACE_S3_OK:
        break;

    case NGX_HTTP_OBJSPACE_S3_INVALID_URI:
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_INVALID_URI,
                                      "invalid uri");

    case NGX_HTTP_OBJSPACE_S3_INVALID_BUCKET:
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_INVALID_BUCKET,
                                      "invalid bucket name");

    case NGX_HTTP_OBJSPACE_S3_KEY_TOO_LONG:
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_KEY_TOO_LONG,
                                      "key too long");

    case NGX_HTTP_OBJSPACE_S3_INVALID_KEY:
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_INVALID_ARGUMENT,
                                      "invalid key");

    case NGX_HTTP_OBJSPACE_S3_METHOD:
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_METHOD,
                                      "method");

    default:
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_NOT_IMPLEMENTED,
                                      "not implemented");
    }

    if (cs) {
        buf = ngx_pnalloc(r->pool, cs->len + 1);
        if (buf == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_objspace_s3_parse_copy_source(cs, buf, &ctx->copy_bucket,
                                                   &ctx->copy_key)
            != NGX_HTTP_OBJSPACE_S3_OK)
        {
            return ngx_http_objspace_fail(r, ctx,
                                          NGX_HTTP_OBJSPACE_E_INVALID_ARGUMENT,
                                          "invalid copy source");
        }
    }

    /* the credential: header auth, else presigned query, else anonymous */

    h = ngx_http_objspace_header(ctx, r, "authorization");

    if (h) {
        ngx_str_null(&amz_date);

        if (ngx_http_objspace_header(ctx, r, "x-amz-date")) {
            amz_date = ngx_http_objspace_header(ctx, r, "x-amz-date")->value;
        }

        rc = ngx_http_objspace_sigv4_parse_header(&h->value, &amz_date,
                                                  &ctx->auth);

        if (rc == NGX_HTTP_OBJSPACE_SIGV4_ALGORITHM) {
            return ngx_http_objspace_fail(r, ctx,
                                    NGX_HTTP_OBJSPACE_E_INVALID_ARGUMENT,
                                    "unsupported authorization type");
        }

        if (rc == NGX_HTTP_OBJSPACE_SIGV4_DATE && amz_date.len == 0) {
            return ngx_http_objspace_fail(r, ctx,
                                    NGX_HTTP_OBJSPACE_E_ACCESS_DENIED,
                                    "missing x-amz-date");
        }

        if (rc != NGX_HTTP_OBJSPACE_SIGV4_OK) {
            return ngx_http_objspace_fail(r, ctx,
                                    NGX_HTTP_OBJSPACE_E_HEADER_MALFORMED,
                                    "malformed authorization header");
        }

    } else {
        rc = ngx_http_objspace_sigv4_parse_query(&ctx->s3.query, &ctx->auth);

        if (rc == NGX_DECLINED) {
            return ngx_http_objspace_fail(r, ctx,
                                          NGX_HTTP_OBJSPACE_E_ACCESS_DENIED,
                                          "anonymous");
        }

        if (rc != NGX_HTTP_OBJSPACE_SIGV4_OK) {
            return ngx_http_objspace_fail(r, ctx,
                                    NGX_HTTP_OBJSPACE_E_QUERY_MALFORMED,
                                    "malformed presigned query");
        }
    }

    if (ctx->auth.service.len != 2
        || ngx_strncmp(ctx->auth.service.data, "s3", 2) != 0)
    {
        return ngx_http_objspace_fail(r, ctx,
                                      ctx->auth.presigned
                                      ? NGX_HTTP_OBJSPACE_E_QUERY_MALFORMED
                                      : NGX_HTTP_OBJSPACE_E_HEADER_MALFORMED,
                                      "service is not s3");
    }

    if (ctx->auth.region.len != olcf->region.len
        || ngx_strncmp(ctx->auth.region.data, olcf->region.data,
                       olcf->region.len) != 0)
    {
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_WRONG_REGION,
                                      "wrong region");
    }

    now = ngx_time();

    if (ctx->auth.presigned) {
        if (ctx->auth.amz_time > now + olcf->max_skew) {
            return ngx_http_objspace_fail(r, ctx,
                                          NGX_HTTP_OBJSPACE_E_NOT_YET_VALID,
                                          "presigned url not yet valid");
        }

        if (now > ctx->auth.amz_time + ctx->auth.expires) {
            return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_EXPIRED,
                                          "presigned url expired");
        }

    } else if (ctx->auth.amz_time > now + olcf->max_skew
               || ctx->auth.amz_time < now - olcf->max_skew)
    {
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_SKEWED,
                                      "clock skew");
    }

    rc = ngx_http_objspace_sigv4_check_headers(&ctx->auth, ctx->headers,
                                               ctx->nheaders);

    switch (rc) {

    case NGX_HTTP_OBJSPACE_SIGV4_OK:
        break;

    case NGX_HTTP_OBJSPACE_SIGV4_HOST_UNSIGNED:
    case NGX_HTTP_OBJSPACE_SIGV4_HEADER_UNSIGNED:
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_HEADERS_NOT_SIGNED,
                                      "unsigned header");

    default:
        return ngx_http_objspace_fail(r, ctx,
                                      ctx->auth.presigned
                                      ? NGX_HTTP_OBJSPACE_E_QUERY_MALFORMED
                                      : NGX_HTTP_OBJSPACE_E_HEADER_MALFORMED,
                                      "signed header missing");
    }

    /* the payload hash that ends the canonical request */

    h = ngx_http_objspace_header(ctx, r, "x-amz-content-sha256");

    if (h) {
        ctx->payload_hash = h->value;

    } else if (ctx->auth.presigned) {
        ngx_str_set(&ctx->payload_hash, "UNSIGNED-PAYLOAD");

    } else {
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_MISSING_SHA256,
                                      "missing x-amz-content-sha256");
    }

    return NGX_OK;
}


/* looks up the identity (may suspend) and verifies the signature */

static ngx_int_t
ngx_http_objspace_authenticate(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx)
{
    time_t                         now;
    ngx_int_t                      rc;
    ngx_http_objspace_identity_t  *id;

    rc = ngx_http_objspace_cache_lookup(r, &ctx->auth.access_key, &id);

    switch (rc) {

    case NGX_OK:
        break;

    case NGX_AGAIN:
        ctx->waiting = 1;
        r->read_event_handler = ngx_http_test_reading;
        return NGX_AGAIN;

    case NGX_DECLINED:
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_INVALID_ACCESS_KEY,
                                      "unknown key");

    case NGX_BUSY:
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_UNAVAILABLE,
                                      "identity store unreachable");

    default:
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_INTERNAL,
                                      "identity lookup failed");
    }

    ctx->id = id;

    if (id->revoked) {
        /* answered like an unknown key: nothing to learn from it */
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_INVALID_ACCESS_KEY,
                                      "revoked");
    }

    /*
     * The signature first: only a holder of the secret learns that a key
     * has expired or that its space is disabled.
     */

    rc = ngx_http_objspace_verify(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    now = ngx_time();

    if (id->expires_at && now >= id->expires_at) {
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_ACCESS_DENIED,
                                      "expired");
    }

    if (id->space_disabled) {
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_ACCESS_DENIED,
                                      "space disabled");
    }

    return NGX_OK;
}


/*
 * Verifies the request's signature with the identity's current secret and,
 * during a rotation grace period, the previous one.  The canonical URI is
 * UriEncode(decode(path)) (what S3 computes); a client that signed its path
 * exactly as sent is accepted too (both name the same object).
 */

static ngx_int_t
ngx_http_objspace_verify(ngx_http_request_t *r, ngx_http_objspace_ctx_t *ctx)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t   uri;
    ngx_uint_t  which;
    u_char      sig[NGX_HTTP_OBJSPACE_SHA256_LEN];

    p = ngx_pnalloc(r->pool, 3 * ctx->s3.raw_path.len + 2);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    uri.data = p;
    uri.len = ngx_http_objspace_s3_canonical_uri(p, &ctx->s3.raw_path) - p;

    for (which = 0; which < 2; which++) {

        rc = ngx_http_objspace_verify_with(r, ctx, which, &uri, sig);

        if (rc == NGX_DECLINED && which == 0) {
            continue;
        }

        if (rc != NGX_OK) {
            break;
        }

        if (ngx_http_objspace_sigv4_equal(sig, ctx->auth.signature)) {
            goto verified;
        }

        if (uri.len != ctx->s3.raw_path.len
            || ngx_strncmp(uri.data, ctx->s3.raw_path.data, uri.len) != 0)
        {
            rc = ngx_http_objspace_verify_with(r, ctx, which,
                                               &ctx->s3.raw_path, sig);
            if (rc != NGX_OK) {
                break;
            }

            if (ngx_http_objspace_sigv4_equal(sig, ctx->auth.signature)) {
                goto verified;
            }
        }
    }

    if (rc == NGX_ERROR) {
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_INTERNAL,
                                      "signing key unavailable");
    }

    return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_SIGNATURE,
                                  "signature mismatch");

verified:

    ctx->which = which;
    ngx_memcpy(ctx->auth.signature, sig, sizeof(sig));

    return NGX_OK;
}


static ngx_int_t
ngx_http_objspace_verify_with(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_uint_t which, ngx_str_t *uri,
    u_char *sig)
{
    ngx_int_t                       rc;
    ngx_http_objspace_sigv4_creq_t  creq;
    u_char                          key[NGX_HTTP_OBJSPACE_SHA256_LEN];
    u_char                          hash[NGX_HTTP_OBJSPACE_SHA256_LEN];

    rc = ngx_http_objspace_cache_signing_key(r, ctx->id, which,
                                             &ctx->auth.scope_date,
                                             &ctx->auth.region, key);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&creq, sizeof(creq));

    creq.method = r->method_name;
    creq.canonical_uri = *uri;
    creq.query = ctx->s3.query;
    creq.headers = ctx->headers;
    creq.nheaders = ctx->nheaders;
    creq.signed_headers = ctx->auth.signed_headers;
    creq.payload_hash = ctx->payload_hash;
    creq.skip_signature_arg = ctx->auth.presigned;

    if (ngx_http_objspace_sigv4_creq_hash(&creq, hash) != NGX_OK) {
        ngx_explicit_memzero(key, sizeof(key));
        return NGX_DECLINED;
    }

    ngx_http_objspace_sigv4_sign(key, &ctx->auth.amz_date, &ctx->auth.scope,
                                 hash, sig);

    ngx_explicit_memzero(key, sizeof(key));

    return NGX_OK;
}


static ngx_int_t
ngx_http_objspace_authorize(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx)
{
    ngx_uint_t                     rc, flags;
    ngx_http_objspace_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    flags = 0;

    rc = ngx_http_objspace_authz(ctx->id, &ctx->s3, &ctx->copy_bucket,
                                 &ctx->copy_key, olcf->deny_prefixes,
                                 &flags);

    if (rc == NGX_HTTP_OBJSPACE_AUTHZ_OK) {
        ctx->authz_flags = flags;
        return NGX_OK;
    }

    ctx->deny_reason = ngx_http_objspace_authz_reasons[rc];
    ctx->denied = 1;

    return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_ACCESS_DENIED,
                                  (const char *) ctx->deny_reason.data);
}


/*
 * Rewrites the request for the backend: path-style canonical URI, query
 * without presigned parameters, headers without the client's credential and
 * aws-chunked framing, plus a fresh X-Amz-Date / X-Amz-Content-Sha256 /
 * Authorization signed with the space's backend key.
 */

static ngx_int_t
ngx_http_objspace_upstream(ngx_http_request_t *r, ngx_http_objspace_ctx_t *ctx)
{
    u_char                           *p, *last;
    size_t                            len;
    ngx_int_t                         rc;
    ngx_str_t                         query, hash, ce;
    ngx_uint_t                        i, n, streaming;
    ngx_list_t                        headers;
    ngx_list_part_t                  *part;
    ngx_table_elt_t                  *h, *nh;
    ngx_http_objspace_kv_t           *kv;
    ngx_http_objspace_sigv4_creq_t    creq;
    ngx_http_objspace_loc_conf_t     *olcf;
    ngx_http_objspace_backend_req_t   br;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    streaming = (ctx->payload_hash.len > 10
                 && ngx_strncmp(ctx->payload_hash.data, "STREAMING-", 10)
                    == 0);

    /* URI */

    if (ngx_http_objspace_upstream_query(r, ctx, &query) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 2 + ctx->s3.bucket.len + 3 * ctx->s3.key.len + 1 + query.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->upstream_uri.data = p;

    if (ctx->s3.bucket.len) {
        last = ngx_http_objspace_s3_upstream_path(p, &ctx->s3.bucket,
                                                  &ctx->s3.key);
    } else {
        last = p;
        *last++ = '/';
    }

    /* the canonical URI of the backend request is the path we send */

    creq.canonical_uri.data = p;
    creq.canonical_uri.len = last - p;

    if (query.len) {
        *last++ = '?';
        last = ngx_cpymem(last, query.data, query.len);
    }

    ctx->upstream_uri.len = last - p;

    /* payload hash for the backend */

    if (streaming) {
        ngx_str_set(&hash, "UNSIGNED-PAYLOAD");

    } else {
        hash = ctx->payload_hash;
    }

    /* the new header list */

    n = 0;
    part = &r->headers_in.headers.part;

    while (part) {
        n += part->nelts;
        part = part->next;
    }

    if (ngx_list_init(&headers, r->pool, n + 4, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kv = ngx_palloc(r->pool, (n + 4) * sizeof(ngx_http_objspace_kv_t));
    if (kv == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    kv[n].key.data = (u_char *) "host";
    kv[n].key.len = 4;
    kv[n].value = olcf->backend_host;
    n++;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

#define ngx_http_objspace_is(name)                                            \
        (h[i].key.len == sizeof(name) - 1                                     \
         && ngx_strncmp(h[i].lowcase_key, name, sizeof(name) - 1) == 0)

        if (ngx_http_objspace_is("authorization")
            || ngx_http_objspace_is("x-amz-date")
            || ngx_http_objspace_is("x-amz-content-sha256")
            || ngx_http_objspace_is("x-amz-security-token")
            || ngx_http_objspace_is("host"))
        {
            continue;
        }

        if ((ctx->authz_flags & NGX_HTTP_OBJSPACE_AUTHZ_NEEDS_ABSENT)
            && (ngx_http_objspace_is("if-none-match")
                || ngx_http_objspace_is("if-match")))
        {
            continue;
        }

        if (streaming
            && (ngx_http_objspace_is("x-amz-decoded-content-length")
                || ngx_http_objspace_is("x-amz-trailer")
                || ngx_http_objspace_is("x-amz-sdk-checksum-algorithm")))
        {
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *nh = h[i];

        if (streaming && ngx_http_objspace_is("content-encoding")) {

            /* drop the "aws-chunked" coding, keep any other */

            ce = h[i].value;
            p = ngx_strlcasestrn(ce.data, ce.data + ce.len,
                                 (u_char *) "aws-chunked", 11 - 1);

            if (p) {
                last = p + 11;

                while (last < ce.data + ce.len
                       && (*last == ',' || *last == ' '))
                {
                    last++;
                }

                nh->value.data = ngx_pnalloc(r->pool, ce.len);
                if (nh->value.data == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                nh->value.len =
                    ngx_cpymem(ngx_cpymem(nh->value.data, ce.data,
                                          p - ce.data),
                               last, ce.data + ce.len - last)
                    - nh->value.data;

                while (nh->value.len
                       && (nh->value.data[nh->value.len - 1] == ','
                           || nh->value.data[nh->value.len - 1] == ' '))
                {
                    nh->value.len--;
                }

                if (nh->value.len == 0) {
                    headers.last->nelts--;
                    continue;
                }
            }
        }

        if (h[i].key.len > 6
            && ngx_strncmp(h[i].lowcase_key, "x-amz-", 6) == 0)
        {
            if (n >= NGX_HTTP_OBJSPACE_MAX_SIGNED - 2) {
                return ngx_http_objspace_fail(r, ctx,
                                        NGX_HTTP_OBJSPACE_E_INVALID_ARGUMENT,
                                        "too many x-amz headers");
            }

            kv[n].key.data = h[i].lowcase_key;
            kv[n].key.len = h[i].key.len;
            kv[n].value = nh->value;
            n++;
        }

#undef ngx_http_objspace_is
    }

    if (ctx->authz_flags & NGX_HTTP_OBJSPACE_AUTHZ_NEEDS_ABSENT) {

        /*
         * Write-once identity: the backend creates the object only if the
         * key does not exist yet, atomically, so of two racing writes to a
         * new key exactly one wins (412 PreconditionFailed for the other).
         */

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        nh->hash = 1;
        ngx_str_set(&nh->key, "If-None-Match");
        nh->lowcase_key = (u_char *) "if-none-match";
        ngx_str_set(&nh->value, "*");
    }

    /* sign: kv gets x-amz-date and x-amz-content-sha256 */

    br.method = r->method_name;
    br.uri = creq.canonical_uri;
    br.query = query;
    br.payload_hash = hash;
    br.headers = kv;
    br.nheaders = n;

    rc = ngx_http_objspace_backend_sign(r, ctx->id, &br);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_INTERNAL,
                                      rc == NGX_DECLINED
                                      ? "backend canonical request"
                                      : "backend key unavailable");
    }

    nh = ngx_list_push(&headers);
    if (nh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nh->hash = 1;
    ngx_str_set(&nh->key, "X-Amz-Date");
    nh->lowcase_key = (u_char *) "x-amz-date";
    nh->value = br.amz_date;

    nh = ngx_list_push(&headers);
    if (nh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nh->hash = 1;
    ngx_str_set(&nh->key, "X-Amz-Content-Sha256");
    nh->lowcase_key = (u_char *) "x-amz-content-sha256";
    nh->value = hash;

    nh = ngx_list_push(&headers);
    if (nh == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nh->hash = 1;
    ngx_str_set(&nh->key, "Authorization");
    nh->lowcase_key = (u_char *) "authorization";
    nh->value = br.authorization;

    r->headers_in.headers = headers;
    r->headers_in.authorization = NULL;

    return NGX_OK;
}


/*
 * Signs a backend request with the space's backend key (SigV4 header
 * auth, today's date, objspace_backend_region, service s3): adds
 * x-amz-date and x-amz-content-sha256 to br->headers (which needs room for
 * two more), sorts them, and returns the X-Amz-Date and Authorization
 * values in r->pool.  The derived key is wiped after use.  Used by the S3
 * path and the public frontend (ngx_http_objspace_public.c).
 *   NGX_OK, NGX_ERROR (no memory), NGX_DECLINED (canonical request failed),
 *   NGX_ABORT (backend key unavailable; logged by the cache)
 */

ngx_int_t
ngx_http_objspace_backend_sign(ngx_http_request_t *r,
    ngx_http_objspace_identity_t *id, ngx_http_objspace_backend_req_t *br)
{
    u_char                          *p;
    time_t                           now;
    size_t                           len;
    ngx_tm_t                         tm;
    ngx_str_t                        date, day, scope, signed_hdrs;
    ngx_uint_t                       i, n;
    ngx_http_objspace_kv_t          *kv;
    ngx_http_objspace_sigv4_creq_t   creq;
    ngx_http_objspace_loc_conf_t    *olcf;
    u_char                           amz[NGX_HTTP_OBJSPACE_AMZ_DATE_LEN];
    u_char                           key[NGX_HTTP_OBJSPACE_SHA256_LEN];
    u_char                           digest[NGX_HTTP_OBJSPACE_SHA256_LEN];
    u_char                           sig[NGX_HTTP_OBJSPACE_SHA256_LEN];

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    /* date and scope */

    now = ngx_time();
    ngx_gmtime(now, &tm);

    ngx_sprintf(amz, "%4d%02d%02dT%02d%02d%02dZ",
                tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);

    date.data = ngx_pnalloc(r->pool, NGX_HTTP_OBJSPACE_AMZ_DATE_LEN);
    if (date.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(date.data, amz, NGX_HTTP_OBJSPACE_AMZ_DATE_LEN);
    date.len = NGX_HTTP_OBJSPACE_AMZ_DATE_LEN;

    scope.data = ngx_pnalloc(r->pool, 8 + 1 + olcf->backend_region.len
                                      + sizeof("/s3/aws4_request") - 1);
    if (scope.data == NULL) {
        return NGX_ERROR;
    }

    scope.len = ngx_sprintf(scope.data, "%*s/%V/s3/aws4_request",
                            (size_t) 8, amz, &olcf->backend_region)
                - scope.data;

    kv = br->headers;
    n = br->nheaders;

    kv[n].key.data = (u_char *) "x-amz-date";
    kv[n].key.len = sizeof("x-amz-date") - 1;
    kv[n].value = date;
    n++;

    kv[n].key.data = (u_char *) "x-amz-content-sha256";
    kv[n].key.len = sizeof("x-amz-content-sha256") - 1;
    kv[n].value = br->payload_hash;
    n++;

    br->nheaders = n;

    /* SignedHeaders: every header in kv, sorted */

    ngx_sort(kv, n, sizeof(ngx_http_objspace_kv_t),
             ngx_http_objspace_kv_cmp);

    len = 0;
    for (i = 0; i < n; i++) {
        len += kv[i].key.len + 1;
    }

    signed_hdrs.data = ngx_pnalloc(r->pool, len);
    if (signed_hdrs.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = signed_hdrs.data;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ';';
        }

        p = ngx_cpymem(p, kv[i].key.data, kv[i].key.len);
    }

    signed_hdrs.len = p - signed_hdrs.data;

    /* sign */

    creq.method = br->method;
    creq.canonical_uri = br->uri;
    creq.query = br->query;
    creq.headers = kv;
    creq.nheaders = n;
    creq.signed_headers = signed_hdrs;
    creq.payload_hash = br->payload_hash;
    creq.skip_signature_arg = 0;

    if (ngx_http_objspace_sigv4_creq_hash(&creq, digest) != NGX_OK) {
        return NGX_DECLINED;
    }

    day.data = amz;
    day.len = 8;

    if (ngx_http_objspace_cache_backend_key(r, id, &day,
                                            &olcf->backend_region, key)
        != NGX_OK)
    {
        return NGX_ABORT;
    }

    ngx_http_objspace_sigv4_sign(key, &date, &scope, digest, sig);

    ngx_explicit_memzero(key, sizeof(key));

    len = sizeof("AWS4-HMAC-SHA256 Credential=/, SignedHeaders=, "
                 "Signature=") - 1
          + id->backend_ak.len + scope.len + signed_hdrs.len
          + NGX_HTTP_OBJSPACE_SHA256_HEX_LEN;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    br->authorization.data = p;

    p = ngx_sprintf(p, "AWS4-HMAC-SHA256 Credential=%V/%V, SignedHeaders=%V, "
                    "Signature=", &id->backend_ak, &scope, &signed_hdrs);
    p = ngx_http_objspace_sigv4_hex(p, sig, sizeof(sig));

    br->authorization.len = p - br->authorization.data;
    br->amz_date = date;

    return NGX_OK;
}


static ngx_int_t
ngx_http_objspace_kv_cmp(const void *one, const void *two)
{
    ngx_int_t                      rc;
    const ngx_http_objspace_kv_t  *a, *b;

    a = one;
    b = two;

    rc = ngx_memcmp(a->key.data, b->key.data, ngx_min(a->key.len, b->key.len));

    if (rc == 0) {
        return (ngx_int_t) a->key.len - (ngx_int_t) b->key.len;
    }

    return rc;
}


/* the client's query without the presigned-URL authentication parameters */

static ngx_int_t
ngx_http_objspace_upstream_query(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_str_t *out)
{
    u_char  *p, *q, *end, *name_end, *dst;

    static ngx_str_t  presign[] = {
        ngx_string("X-Amz-Algorithm"),
        ngx_string("X-Amz-Credential"),
        ngx_string("X-Amz-Date"),
        ngx_string("X-Amz-Expires"),
        ngx_string("X-Amz-SignedHeaders"),
        ngx_string("X-Amz-Signature"),
        ngx_string("X-Amz-Security-Token"),
        ngx_null_string
    };

    ngx_str_t  *ps;

    *out = ctx->s3.query;

    if (!ctx->auth.presigned || out->len == 0) {
        return NGX_OK;
    }

    dst = ngx_pnalloc(r->pool, out->len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    out->data = dst;
    p = ctx->s3.query.data;
    end = p + ctx->s3.query.len;

    while (p < end) {
        q = ngx_strlchr(p, end, '&');
        if (q == NULL) {
            q = end;
        }

        name_end = ngx_strlchr(p, q, '=');
        if (name_end == NULL) {
            name_end = q;
        }

        for (ps = presign; ps->len; ps++) {
            if ((size_t) (name_end - p) == ps->len
                && ngx_strncmp(p, ps->data, ps->len) == 0)
            {
                break;
            }
        }

        if (ps->len == 0 && q > p) {
            if (dst != out->data) {
                *dst++ = '&';
            }

            dst = ngx_cpymem(dst, p, q - p);
        }

        p = q + 1;
    }

    out->len = dst - out->data;

    return NGX_OK;
}


/*
 * Chooses how the body is checked on its way to the backend:
 *   UNSIGNED-PAYLOAD     passed through
 *   sha256 hex           hashed as it streams; the last byte is held back
 *                        until the hash matched, so a tampered body never
 *                        completes at the backend
 *   STREAMING-...        aws-chunked decoded, chunk signatures / trailer
 *                        checksum verified, last byte held back likewise
 * A streaming body that decodes to 0 bytes is read and verified here, in
 * the access phase, before the backend request is started.
 */

static ngx_int_t
ngx_http_objspace_prepare_body(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx)
{
    off_t                          decoded;
    ngx_int_t                      rc;
    ngx_str_t                     *ph, trailer;
    ngx_uint_t                     mode, i, has_body;
    ngx_table_elt_t               *h;
    ngx_http_objspace_loc_conf_t  *olcf;
    u_char                         key[NGX_HTTP_OBJSPACE_SHA256_LEN];

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    ph = &ctx->payload_hash;
    has_body = (r->headers_in.content_length_n > 0 || r->headers_in.chunked);

    if (r->headers_in.content_length) {
        ctx->upstream_length = r->headers_in.content_length->value;
    }

    if (ph->len == sizeof("UNSIGNED-PAYLOAD") - 1
        && ngx_strncmp(ph->data, "UNSIGNED-PAYLOAD", ph->len) == 0)
    {
        return NGX_OK;
    }

    if (ph->len == NGX_HTTP_OBJSPACE_SHA256_HEX_LEN) {

        for (i = 0; i < ph->len; i++) {
            if (!((ph->data[i] >= '0' && ph->data[i] <= '9')
                  || (ph->data[i] >= 'a' && ph->data[i] <= 'f')))
            {
                return ngx_http_objspace_fail(r, ctx,
                                          NGX_HTTP_OBJSPACE_E_INVALID_SHA256,
                                          "invalid x-amz-content-sha256");
            }
        }

        if (!has_body) {
            if (ngx_strncmp(ph->data, NGX_HTTP_OBJSPACE_EMPTY_SHA256,
                            NGX_HTTP_OBJSPACE_SHA256_HEX_LEN) != 0)
            {
                return ngx_http_objspace_fail(r, ctx,
                                        NGX_HTTP_OBJSPACE_E_SHA256_MISMATCH,
                                        "payload hash mismatch");
            }

            return NGX_OK;
        }

        if (r->headers_in.content_length_n < 0) {
            return ngx_http_objspace_fail(r, ctx,
                                          NGX_HTTP_OBJSPACE_E_MISSING_LENGTH,
                                          "signed payload without length");
        }

        for (i = 0; i < NGX_HTTP_OBJSPACE_SHA256_LEN; i++) {
            ctx->body_hash[i] = (u_char) ngx_hextoi(&ph->data[2 * i], 2);
        }

        SHA256_Init(&ctx->body_sha);
        ctx->body_mode = NGX_HTTP_OBJSPACE_BODY_SHA256;
        ctx->body_expected = r->headers_in.content_length_n;

        return NGX_OK;
    }

    if (ph->len == sizeof("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") - 1
        && ngx_strncmp(ph->data, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                       ph->len) == 0)
    {
        mode = NGX_HTTP_OBJSPACE_CHUNKED_SIGNED;

    } else if (ph->len == sizeof("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
                          - 1
               && ngx_strncmp(ph->data,
                              "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                              ph->len) == 0)
    {
        mode = NGX_HTTP_OBJSPACE_CHUNKED_SIGNED_TRAILER;

    } else if (ph->len == sizeof("STREAMING-UNSIGNED-PAYLOAD-TRAILER") - 1
               && ngx_strncmp(ph->data, "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                              ph->len) == 0)
    {
        mode = NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER;

    } else if (ph->len > 10
               && ngx_strncmp(ph->data, "STREAMING-", 10) == 0)
    {
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_NOT_IMPLEMENTED,
                                      "unsupported streaming signature");

    } else {
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_INVALID_SHA256,
                                      "invalid x-amz-content-sha256");
    }

    h = ngx_http_objspace_header(ctx, r, "x-amz-decoded-content-length");

    decoded = h ? ngx_atoof(h->value.data, h->value.len) : NGX_ERROR;

    if (decoded < 0) {
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_MISSING_LENGTH,
                                      "missing x-amz-decoded-content-length");
    }

    if (!has_body) {
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_INCOMPLETE_BODY,
                                      "aws-chunked without a body");
    }

    h = ngx_http_objspace_header(ctx, r, "x-amz-trailer");

    if (h) {
        trailer = h->value;

    } else {
        ngx_str_null(&trailer);
    }

    ctx->chunked = ngx_pcalloc(r->pool, sizeof(ngx_http_objspace_chunked_t));
    if (ctx->chunked == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (mode != NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER) {
        rc = ngx_http_objspace_cache_signing_key(r, ctx->id, ctx->which,
                                                 &ctx->auth.scope_date,
                                                 &ctx->auth.region, key);
        if (rc != NGX_OK) {
            return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_INTERNAL,
                                          "signing key unavailable");
        }

    } else {
        ngx_memzero(key, sizeof(key));
    }

    rc = ngx_http_objspace_chunked_init(ctx->chunked, mode, &trailer, decoded,
                                        olcf->max_chunk, key,
                                        &ctx->auth.amz_date, &ctx->auth.scope,
                                        ctx->auth.signature);

    ngx_explicit_memzero(key, sizeof(key));

    if (rc != NGX_OK) {
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_INVALID_ARGUMENT,
                                      "unsupported x-amz-trailer");
    }

    ctx->body_mode = NGX_HTTP_OBJSPACE_BODY_CHUNKED;
    ctx->body_expected = decoded;

    if (r->headers_in.chunked) {
        /* the proxy re-chunks the decoded body: no Content-Length */
        ngx_str_null(&ctx->upstream_length);
        goto decoded;
    }

    ctx->upstream_length.data = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
    if (ctx->upstream_length.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->upstream_length.len = ngx_sprintf(ctx->upstream_length.data, "%O",
                                           decoded)
                               - ctx->upstream_length.data;

decoded:

    if (decoded == 0) {
        /* nothing to hold back: verify the whole (tiny) body first */
        ctx->read_first = 1;
    }

    return NGX_OK;
}


/*
 * The body was read in the access phase (and verified by the request body
 * filter on its way in).  For DeleteObjects every <Key> is checked against
 * the identity's scope before the phases resume; one refused key refuses
 * the whole request, so nothing is deleted.
 */

static void
ngx_http_objspace_body_handler(ngx_http_request_t *r)
{
    ngx_http_objspace_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_module);

    r->preserve_body = 1;

    if (ctx && ctx->check_keys && !ctx->err) {
        (void) ngx_http_objspace_check_delete(r, ctx);
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_uint_t
ngx_http_objspace_delete_key(void *data, ngx_str_t *key)
{
    ngx_http_request_t            *r = data;
    ngx_http_objspace_ctx_t       *ctx;
    ngx_http_objspace_loc_conf_t  *olcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_module);
    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    ngx_http_objspace_quota_delete_key(r, key);

    return ngx_http_objspace_authz_key(ctx->id, key, olcf->deny_prefixes);
}


static ngx_int_t
ngx_http_objspace_check_delete(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx)
{
    off_t                     off;
    ssize_t                   n;
    ngx_int_t                 rc;
    ngx_uint_t                reason;
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_objspace_xml_t  *x;
    u_char                    buf[4096];

    x = ngx_http_objspace_xml_create(ngx_http_objspace_delete_key, r);
    if (x == NULL) {
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_INTERNAL,
                                      "xml parser");
    }

    rc = NGX_HTTP_OBJSPACE_XML_OK;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl && rc == NGX_HTTP_OBJSPACE_XML_OK;
         cl = cl->next)
    {
        b = cl->buf;

        if (!b->in_file) {
            rc = ngx_http_objspace_xml_feed(x, b->pos, b->last - b->pos, 0);
            continue;
        }

        for (off = b->file_pos; off < b->file_last; off += n) {
            n = ngx_read_file(b->file, buf,
                              ngx_min((off_t) sizeof(buf),
                                      b->file_last - off), off);
            if (n <= 0) {
                rc = NGX_HTTP_OBJSPACE_XML_NOMEM;
                break;
            }

            rc = ngx_http_objspace_xml_feed(x, buf, n, 0);
            if (rc != NGX_HTTP_OBJSPACE_XML_OK) {
                break;
            }
        }
    }

    if (rc == NGX_HTTP_OBJSPACE_XML_OK) {
        rc = ngx_http_objspace_xml_feed(x, NULL, 0, 1);
    }

    reason = ngx_http_objspace_xml_refusal(x);

    ngx_http_objspace_xml_free(x);

    switch (rc) {

    case NGX_HTTP_OBJSPACE_XML_OK:
        return NGX_OK;

    case NGX_HTTP_OBJSPACE_XML_REFUSED:
        ctx->deny_reason = ngx_http_objspace_authz_reasons[reason];
        ctx->denied = 1;
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_ACCESS_DENIED,
                                      (const char *) ctx->deny_reason.data);

    case NGX_HTTP_OBJSPACE_XML_NOMEM:
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_INTERNAL,
                                      "reading the delete body");

    default:
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_MALFORMED_XML,
                                      "malformed delete body");
    }
}


/*
 * Resumes a request suspended by NGX_AGAIN from the identity lookup.  Called
 * by the Redis client from a posted event or timer (never from inside a
 * hiredis callback), on the request's own worker.
 */

void
ngx_http_objspace_resume(ngx_http_request_t *r)
{
    ngx_connection_t         *c;
    ngx_http_objspace_ctx_t  *ctx;

    c = r->connection;

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_module);
    if (ctx) {
        ctx->waiting = 0;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


ngx_http_objspace_main_conf_t *
ngx_http_objspace_main_conf(ngx_cycle_t *cycle)
{
    return ngx_http_cycle_get_module_main_conf(cycle, ngx_http_objspace_module);
}


/* hook for ngx_http_objspace_quota.c: its outcome as the S3 answer */

static ngx_int_t
ngx_http_objspace_quota(ngx_http_request_t *r, ngx_http_objspace_ctx_t *ctx)
{
    ngx_uint_t  absent;

    /* write-once: the quota script also claims the key (or refuses) */
    absent = (ctx->authz_flags & NGX_HTTP_OBJSPACE_AUTHZ_NEEDS_ABSENT) ? 1 : 0;

    switch (ngx_http_objspace_quota_check(r, ctx->id, &ctx->s3,
                                          &ctx->copy_bucket, &ctx->copy_key,
                                          absent))
    {
    case NGX_HTTP_OBJSPACE_QUOTA_OK:
        return NGX_OK;

    case NGX_HTTP_OBJSPACE_QUOTA_AGAIN:
        ctx->waiting = 1;
        r->read_event_handler = ngx_http_test_reading;
        return NGX_AGAIN;

    case NGX_HTTP_OBJSPACE_QUOTA_EXCEEDED:
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_QUOTA_EXCEEDED,
                                      "quota exceeded");

    case NGX_HTTP_OBJSPACE_QUOTA_UNREACHABLE:
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_UNAVAILABLE,
                                      "quota store unreachable");

    case NGX_HTTP_OBJSPACE_QUOTA_NO_LENGTH:
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_MISSING_LENGTH,
                                      "upload length unknown");

    case NGX_HTTP_OBJSPACE_QUOTA_COPY_UNKNOWN:
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_ACCESS_DENIED,
                                      "copy source size unknown");

    case NGX_HTTP_OBJSPACE_QUOTA_EXISTS:
        return ngx_http_objspace_fail(r, ctx,
                                      NGX_HTTP_OBJSPACE_E_PRECONDITION_FAILED,
                                      "immutable");

    case NGX_HTTP_OBJSPACE_QUOTA_CLAIM_FAILED:
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_UNAVAILABLE,
                                      "write-once store unreachable");

    default:
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_INTERNAL,
                                      "quota");
    }
}


ngx_int_t
ngx_http_objspace_request_info(ngx_http_request_t *r,
    ngx_http_objspace_info_t *info)
{
    ngx_http_objspace_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_module);

    if (ctx == NULL) {
        return NGX_DECLINED;
    }

    ngx_memzero(info, sizeof(ngx_http_objspace_info_t));

    if (ctx->parsed) {
        info->s3 = &ctx->s3;
        info->op = ngx_http_objspace_s3_op_names[ctx->s3.op];
    }

    info->id = ctx->id;
    info->request_id = ctx->request_id;
    info->denied = (ctx->err != 0);
    info->allowed = (ctx->err == 0 && ctx->done);
    info->known_key = (ctx->id != NULL
                       || ctx->err == NGX_HTTP_OBJSPACE_E_INVALID_ACCESS_KEY);

    if (ctx->err) {
        info->deny_reason = ctx->deny_reason;
    }

    return NGX_OK;
}


/*
 * Records the S3 error to answer with and logs why, naming the identity by
 * its id (or, before there is one, by a short fingerprint of the access key
 * id), never by the access key itself, the signature or an object key.
 */

static ngx_int_t
ngx_http_objspace_fail(ngx_http_request_t *r, ngx_http_objspace_ctx_t *ctx,
    ngx_uint_t err, const char *reason)
{
    ngx_uint_t                     level;
    ngx_str_t                     *op;
    ngx_http_objspace_loc_conf_t  *olcf;
    u_char                         fp[16];

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    ctx->err = err;

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        /*
         * The body will be discarded; a client that waited for
         * "100 Continue" may not send it, so the connection cannot be
         * trusted to be in step for another request.
         */
        r->keepalive = 0;
    }

    if (ctx->deny_reason.len == 0) {
        ctx->deny_reason.data = (u_char *) reason;
        ctx->deny_reason.len = ngx_strlen(reason);
    }

    level = (err == NGX_HTTP_OBJSPACE_E_INTERNAL) ? NGX_LOG_ERR
            : (err == NGX_HTTP_OBJSPACE_E_UNAVAILABLE) ? NGX_LOG_WARN
            : (ctx->id || ctx->auth.access_key.len) ? olcf->deny_log_level
            : NGX_LOG_INFO;

    op = &ngx_http_objspace_s3_op_names[ctx->s3.op];

    if (ctx->id) {
        ngx_log_error(level, r->connection->log, 0,
                      "objspace: %V denied: identity %V, operation %V, "
                      "reason \"%s\"",
                      &ngx_http_objspace_errors[err].code, &ctx->id->id, op,
                      reason);

    } else if (ctx->auth.access_key.len) {
        ngx_http_objspace_fingerprint(&ctx->auth.access_key, fp);

        ngx_log_error(level, r->connection->log, 0,
                      "objspace: %V denied: key ak#%*s, operation %V, "
                      "reason \"%s\"",
                      &ngx_http_objspace_errors[err].code, (size_t) 8, fp, op,
                      reason);

    } else {
        ngx_log_error(level, r->connection->log, 0,
                      "objspace: %V denied: operation %V, reason \"%s\"",
                      &ngx_http_objspace_errors[err].code, op, reason);
    }

    return ngx_http_objspace_errors[err].status;
}


/* 8 hex characters of SHA-256(access key id): short and non-reversible */

static void
ngx_http_objspace_fingerprint(ngx_str_t *ak, u_char *out)
{
    u_char  md[SHA256_DIGEST_LENGTH];

    SHA256(ak->data, ak->len, md);

    ngx_http_objspace_sigv4_hex(out, md, 4);
}


/*
 * Replaces nginx's error-log context for gateway requests: nginx appends the
 * request line (object keys, presigned credentials and signatures) to every
 * line it logs about a request; ours names the method, bucket, operation and
 * identity id instead.
 */

static u_char *
ngx_http_objspace_log_error(ngx_http_request_t *r, ngx_http_request_t *sr,
    u_char *buf, size_t len)
{
    u_char                    *p;
    ngx_http_upstream_t       *u;
    ngx_http_objspace_ctx_t   *ctx;

    p = buf;

    if (r->method_name.len) {
        p = ngx_snprintf(p, len, ", method: %V", &r->method_name);
        len -= p - buf;
        buf = p;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_module);

    if (ctx && ctx->parsed) {
        p = ngx_snprintf(p, len, ", bucket: \"%V\", operation: %V",
                         &ctx->s3.bucket,
                         &ngx_http_objspace_s3_op_names[ctx->s3.op]);
        len -= p - buf;
        buf = p;
    }

    if (ctx && ctx->id) {
        p = ngx_snprintf(p, len, ", identity: %V", &ctx->id->id);
        len -= p - buf;
        buf = p;
    }

    u = sr->upstream;

    if (u && u->peer.name) {
        p = ngx_snprintf(p, len, ", upstream: %V", u->peer.name);
        len -= p - buf;
        buf = p;
    }

    return p;
}


/*
 * Post-read phase: a server whose default location is a gateway gets the
 * sanitised log context before anything else is logged about the request.
 */

static ngx_int_t
ngx_http_objspace_post_read(ngx_http_request_t *r)
{
    ngx_http_objspace_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    if (olcf->gateway) {
        r->log_handler = ngx_http_objspace_log_error;
    }

    return NGX_DECLINED;
}


static void
ngx_http_objspace_cleanup(void *data)
{
    ngx_http_objspace_ctx_t  *ctx = data;

    if (ctx->chunked) {
        ngx_http_objspace_chunked_wipe(ctx->chunked);
    }

    ngx_explicit_memzero(ctx->auth.signature, sizeof(ctx->auth.signature));
}


static ngx_int_t
ngx_http_objspace_collect_headers(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    ctx->headers = ngx_palloc(r->pool,
                              (n + 1) * sizeof(ngx_http_objspace_kv_t));
    if (ctx->headers == NULL) {
        return NGX_ERROR;
    }

    n = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        ctx->headers[n].key.data = h[i].lowcase_key;
        ctx->headers[n].key.len = h[i].key.len;
        ctx->headers[n].value = h[i].value;
        n++;
    }

    ctx->nheaders = n;

    return NGX_OK;
}


/* the first request header called "name" (lowercase), or NULL */

static ngx_table_elt_t *
ngx_http_objspace_header(ngx_http_objspace_ctx_t *ctx, ngx_http_request_t *r,
    const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0 || h[i].key.len != len) {
            continue;
        }

        if (ngx_strncmp(h[i].lowcase_key, name, len) == 0) {
            return &h[i];
        }
    }

    return NULL;
}


/*
 * ListBuckets: answered by the gateway itself, listing only the identity's
 * own bucket.
 */

static ngx_int_t
ngx_http_objspace_list_buckets(ngx_http_request_t *r)
{
    size_t                    len;
    ngx_int_t                 rc;
    ngx_buf_t                *b;
    ngx_chain_t               out;
    ngx_http_objspace_ctx_t  *ctx;

    static u_char  head[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListAllMyBucketsResult "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Owner><ID>";

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_module);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = sizeof(head) - 1 + ctx->id->id.len
          + sizeof("</ID><DisplayName>") - 1 + ctx->id->name.len
          + sizeof("</DisplayName></Owner><Buckets><Bucket><Name>") - 1
          + ctx->id->bucket.len
          + sizeof("</Name><CreationDate>2000-01-01T00:00:00.000Z"
                   "</CreationDate></Bucket></Buckets>"
                   "</ListAllMyBucketsResult>") - 1;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "%s%V</ID><DisplayName>%V</DisplayName>"
                          "</Owner><Buckets><Bucket><Name>%V</Name>"
                          "<CreationDate>2000-01-01T00:00:00.000Z"
                          "</CreationDate></Bucket></Buckets>"
                          "</ListAllMyBucketsResult>",
                          head, &ctx->id->id, &ctx->id->name,
                          &ctx->id->bucket);
    b->last_buf = 1;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/xml");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * Request body filter.  Cuts decoded data out of the incoming buffers
 * without copying; an incoming buffer is marked consumed only once every
 * slice cut from it was sent (so nginx does not reuse its memory early).
 * The very last byte of the body is copied and held back until the payload
 * hash, the last chunk signature or the trailer checksum verified: a body
 * that fails verification never completes at the backend, which then
 * discards the upload.
 */

static ngx_int_t
ngx_http_objspace_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    u_char                     *pos;
    ngx_int_t                   rc;
    ngx_str_t                   slice;
    ngx_buf_t                  *b, *last_out;
    ngx_chain_t                *cl, *out, **ll;
    ngx_http_objspace_ctx_t    *ctx;
    ngx_http_objspace_track_t  *t;

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_module);

    if (ctx == NULL || ctx->body_mode == NGX_HTTP_OBJSPACE_BODY_NONE
        || r != r->main)
    {
        return ngx_http_next_request_body_filter(r, in);
    }

    if (ctx->err) {
        return ngx_http_objspace_errors[ctx->err].status;
    }

    ngx_http_objspace_body_release(ctx);

    out = NULL;
    ll = &out;

    for (cl = in; cl; cl = cl->next) {

        b = cl->buf;
        pos = b->pos;
        last_out = NULL;

        if (ctx->body_mode == NGX_HTTP_OBJSPACE_BODY_SHA256) {

            if (pos != b->last) {
                SHA256_Update(&ctx->body_sha, pos, b->last - pos);

                if (ngx_http_objspace_body_emit(r, ctx, pos, b->last - pos,
                                                &ll, &last_out)
                    != NGX_OK)
                {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }
            }

        } else {

            /*
             * After the final chunk the decoder still sees what follows
             * (an optional CRLF that may arrive in a later buffer) and
             * refuses anything else.
             */

            while (pos < b->last) {

                rc = ngx_http_objspace_chunked_feed(ctx->chunked, &pos,
                                                    b->last, &slice);

                if (rc == NGX_OK) {
                    if (ngx_http_objspace_body_emit(r, ctx, slice.data,
                                                    slice.len, &ll, &last_out)
                        != NGX_OK)
                    {
                        return NGX_HTTP_INTERNAL_SERVER_ERROR;
                    }

                    continue;
                }

                if (rc == NGX_AGAIN) {
                    break;
                }

                if (rc == NGX_DONE) {
                    ctx->body_done = 1;
                    break;
                }

                switch (ctx->chunked->error) {

                case NGX_HTTP_OBJSPACE_CHUNKED_ERR_SIGNATURE:
                    return ngx_http_objspace_body_error(r, ctx,
                                       NGX_HTTP_OBJSPACE_E_SIGNATURE,
                                       "chunk signature mismatch");

                case NGX_HTTP_OBJSPACE_CHUNKED_ERR_CHECKSUM:
                    return ngx_http_objspace_body_error(r, ctx,
                                       NGX_HTTP_OBJSPACE_E_BAD_DIGEST,
                                       "trailer checksum mismatch");

                case NGX_HTTP_OBJSPACE_CHUNKED_ERR_LENGTH:
                    return ngx_http_objspace_body_error(r, ctx,
                                       NGX_HTTP_OBJSPACE_E_INCOMPLETE_BODY,
                                       "decoded length mismatch");

                case NGX_HTTP_OBJSPACE_CHUNKED_ERR_TOO_LARGE:
                    return ngx_http_objspace_body_error(r, ctx,
                                       NGX_HTTP_OBJSPACE_E_INVALID_CHUNK,
                                       "chunk too large");

                default:
                    return ngx_http_objspace_body_error(r, ctx,
                                       NGX_HTTP_OBJSPACE_E_INVALID_CHUNK,
                                       "malformed aws-chunked body");
                }
            }
        }

        if (last_out == NULL) {
            b->pos = b->last;

        } else {
            t = ctx->track_free;

            if (t) {
                ctx->track_free = t->next;

            } else {
                t = ngx_palloc(r->pool, sizeof(ngx_http_objspace_track_t));
                if (t == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }
            }

            t->in = b;
            t->out = last_out;
            t->next = NULL;

            if (ctx->track == NULL) {
                ctx->track = t;

            } else {
                *ctx->track_last = t;
            }

            ctx->track_last = &t->next;
        }

        if (b->last_buf) {
            rc = ngx_http_objspace_body_finish(r, ctx, &ll);
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    *ll = NULL;

    rc = ngx_http_next_request_body_filter(r, out);

    ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &out,
                            (ngx_buf_tag_t) &ngx_http_objspace_module);

    return rc;
}


/* hands a slice on, holding back the body's very last byte */

static ngx_int_t
ngx_http_objspace_body_emit(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, u_char *p, size_t len, ngx_chain_t ***ll,
    ngx_buf_t **last)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (len == 0) {
        return NGX_OK;
    }

    if (ctx->body_seen + (off_t) len > ctx->body_expected) {
        /* more data than announced: the length filter prevents this */
        return NGX_ERROR;
    }

    ctx->body_seen += len;

    if (ctx->body_seen == ctx->body_expected) {
        ctx->tail = ngx_create_temp_buf(r->pool, 1);
        if (ctx->tail == NULL) {
            return NGX_ERROR;
        }

        *ctx->tail->last++ = p[len - 1];
        len--;

        if (len == 0) {
            return NGX_OK;
        }
    }

    cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = cl->buf;
    ngx_memzero(b, sizeof(ngx_buf_t));

    b->tag = (ngx_buf_tag_t) &ngx_http_objspace_module;
    b->temporary = 1;
    b->start = p;
    b->pos = p;
    b->last = p + len;
    b->end = p + len;
    b->flush = r->request_body_no_buffering;

    **ll = cl;
    *ll = &cl->next;
    *last = b;

    return NGX_OK;
}


/* the input ended: verify, then release the held byte with last_buf */

static ngx_int_t
ngx_http_objspace_body_finish(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_chain_t ***ll)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;
    u_char        md[NGX_HTTP_OBJSPACE_SHA256_LEN];

    if (ctx->body_mode == NGX_HTTP_OBJSPACE_BODY_SHA256) {
        SHA256_Final(md, &ctx->body_sha);

        if (CRYPTO_memcmp(md, ctx->body_hash, sizeof(md)) != 0) {
            return ngx_http_objspace_body_error(r, ctx,
                                       NGX_HTTP_OBJSPACE_E_SHA256_MISMATCH,
                                       "payload hash mismatch");
        }

    } else if (!ctx->body_done) {
        return ngx_http_objspace_body_error(r, ctx,
                                       NGX_HTTP_OBJSPACE_E_INCOMPLETE_BODY,
                                       "aws-chunked body ended early");
    }

    if (ctx->body_seen != ctx->body_expected) {
        return ngx_http_objspace_body_error(r, ctx,
                                       NGX_HTTP_OBJSPACE_E_INCOMPLETE_BODY,
                                       "body length mismatch");
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->tail) {
        b = ctx->tail;

    } else {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    b->last_buf = 1;
    b->flush = r->request_body_no_buffering;

    cl->buf = b;
    **ll = cl;
    *ll = &cl->next;

    return NGX_OK;
}


/* marks input buffers consumed once the last slice cut from each was sent */

static void
ngx_http_objspace_body_release(ngx_http_objspace_ctx_t *ctx)
{
    ngx_http_objspace_track_t  *t;

    while (ctx->track) {
        t = ctx->track;

        if (ngx_buf_size(t->out) != 0) {
            break;
        }

        t->in->pos = t->in->last;

        ctx->track = t->next;
        t->next = ctx->track_free;
        ctx->track_free = t;
    }
}


static ngx_int_t
ngx_http_objspace_body_error(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_uint_t err, const char *reason)
{
    /* the connection cannot be reused: the body was not read to its end */
    r->keepalive = 0;

    return ngx_http_objspace_fail(r, ctx, err, reason);
}


/*
 * Output filters: in a gateway location every error nginx itself produces
 * (ours from the access phase or the body filter, and 4xx/5xx such as a
 * failed backend connection) is rewritten into an S3 XML error.  Responses
 * that come from the backend pass untouched.
 */

static ngx_int_t
ngx_http_objspace_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                     status;
    ngx_buf_t                     *b;
    ngx_table_elt_t               *h;
    ngx_http_objspace_ctx_t       *ctx;
    ngx_http_objspace_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    if (!olcf->gateway || r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    status = r->headers_out.status;

    if (status < NGX_HTTP_BAD_REQUEST) {
        return ngx_http_next_header_filter(r);
    }

    if (r->upstream && r->upstream->headers_in.status_n) {
        /* the backend's own response */
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_objspace_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_objspace_module);
    }

    if (ctx->err == NGX_HTTP_OBJSPACE_E_NONE
        || ngx_http_objspace_errors[ctx->err].status != status)
    {
        switch (status) {
        case NGX_HTTP_FORBIDDEN:
            ctx->err = NGX_HTTP_OBJSPACE_E_ACCESS_DENIED;
            break;
        case NGX_HTTP_NOT_ALLOWED:
            ctx->err = NGX_HTTP_OBJSPACE_E_METHOD;
            break;
        case NGX_HTTP_REQUEST_TIME_OUT:
            ctx->err = NGX_HTTP_OBJSPACE_E_TIMEOUT;
            break;
        case NGX_HTTP_LENGTH_REQUIRED:
            ctx->err = NGX_HTTP_OBJSPACE_E_MISSING_LENGTH;
            break;
        case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
            ctx->err = NGX_HTTP_OBJSPACE_E_TOO_LARGE;
            break;
        case NGX_HTTP_NOT_IMPLEMENTED:
            ctx->err = NGX_HTTP_OBJSPACE_E_NOT_IMPLEMENTED;
            break;
        case NGX_HTTP_BAD_GATEWAY:
        case NGX_HTTP_SERVICE_UNAVAILABLE:
        case NGX_HTTP_GATEWAY_TIME_OUT:
            ctx->err = NGX_HTTP_OBJSPACE_E_UNAVAILABLE;
            break;
        default:
            ctx->err = (status >= NGX_HTTP_INTERNAL_SERVER_ERROR)
                       ? NGX_HTTP_OBJSPACE_E_INTERNAL
                       : NGX_HTTP_OBJSPACE_E_BAD_REQUEST;
        }
    }

    b = ngx_http_objspace_error_xml(r, ctx);
    if (b == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.status = ngx_http_objspace_errors[ctx->err].status;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_length_n = b->last - b->pos;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_str_set(&r->headers_out.content_type, "application/xml");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    ngx_str_null(&r->headers_out.charset);

    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "x-amz-request-id");

    h->value = ctx->request_id;

    ctx->xml_header = 1;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_objspace_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t                *b;
    ngx_chain_t               out;
    ngx_http_objspace_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_module);

    if (ctx == NULL || !ctx->xml_header) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->xml_sent || in == NULL) {
        return NGX_OK;
    }

    ctx->xml_sent = 1;

    b = ngx_http_objspace_error_xml(r, ctx);
    if (b == NULL) {
        return NGX_ERROR;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/* the XML body of ctx->err; also records the request id in ctx */

static ngx_buf_t *
ngx_http_objspace_error_xml(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx)
{
    size_t                      len;
    u_char                     *p;
    ngx_str_t                   rid, *msg;
    ngx_buf_t                  *b;
    ngx_http_objspace_err_t    *e;
    ngx_http_variable_value_t  *vv;

    e = &ngx_http_objspace_errors[ctx->err];
    msg = ctx->err_message.len ? &ctx->err_message : &e->message;

    ngx_str_null(&rid);

    if (ngx_http_objspace_request_id_index != NGX_ERROR) {
        vv = ngx_http_get_indexed_variable(r,
                                          ngx_http_objspace_request_id_index);
        if (vv && !vv->not_found) {
            rid.data = vv->data;
            rid.len = vv->len;
        }
    }

    ctx->request_id = rid;

    len = sizeof("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<Error><Code></Code><Message></Message>"
                   "<RequestId></RequestId></Error>") - 1
          + e->code.len + msg->len + rid.len;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->pos;
    b->last = ngx_sprintf(p, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                          "<Error><Code>%V</Code><Message>%V</Message>"
                          "<RequestId>%V</RequestId></Error>",
                          &e->code, msg, &rid);

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    if (r->header_only) {
        b->pos = b->last;
    }

    return b;
}


static ngx_int_t
ngx_http_objspace_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_objspace_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_objspace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                 *s, tmp;
    ngx_http_objspace_ctx_t   *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = NULL;

    switch (data) {

    case NGX_HTTP_OBJSPACE_VAR_UPSTREAM_URI:
        s = &ctx->upstream_uri;
        break;

    case NGX_HTTP_OBJSPACE_VAR_UPSTREAM_LENGTH:
        s = &ctx->upstream_length;
        break;

    case NGX_HTTP_OBJSPACE_VAR_IDENTITY:
        s = ctx->id ? &ctx->id->id : NULL;
        break;

    case NGX_HTTP_OBJSPACE_VAR_TENANT:
        s = ctx->id ? &ctx->id->tenant : NULL;
        break;

    case NGX_HTTP_OBJSPACE_VAR_SPACE:
        s = ctx->id ? &ctx->id->space : NULL;
        break;

    case NGX_HTTP_OBJSPACE_VAR_BUCKET:
        s = ctx->parsed ? &ctx->s3.bucket : NULL;
        break;

    case NGX_HTTP_OBJSPACE_VAR_OPERATION:
        s = ctx->parsed ? &ngx_http_objspace_s3_op_names[ctx->s3.op] : NULL;
        break;

    case NGX_HTTP_OBJSPACE_VAR_DECISION:
        if (ctx->err) {
            ngx_str_set(&tmp, "deny");

        } else if (ctx->done) {
            ngx_str_set(&tmp, "allow");

        } else {
            ngx_str_null(&tmp);
        }

        s = &tmp;
        break;

    case NGX_HTTP_OBJSPACE_VAR_DENY_REASON:
        s = ctx->err ? &ctx->deny_reason : NULL;
        break;

    case NGX_HTTP_OBJSPACE_VAR_ERROR_CODE:
        s = ctx->err ? &ngx_http_objspace_errors[ctx->err].code : NULL;
        break;
    }

    if (s == NULL || s->data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_objspace_backend_host_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_objspace_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    if (olcf->backend_host.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = olcf->backend_host.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = olcf->backend_host.data;

    return NGX_OK;
}


/*
 * The 8-hex fingerprint (as in the error log) of the access key id the
 * request claims, from "Credential=AK/..." in Authorization or from the
 * X-Amz-Credential query argument; not verified.  Computed on use, so it
 * works in any phase, unlike $objspace_identity (access phase): limit_req
 * keys on it in the preaccess phase.  Empty for anonymous requests.
 */

static ngx_int_t
ngx_http_objspace_key_fp_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char     *p, *last, *fp;
    ngx_str_t   ak, value;

    ngx_str_null(&ak);

    if (r->headers_in.authorization) {
        value = r->headers_in.authorization->value;
        last = value.data + value.len;

        p = ngx_strlcasestrn(value.data, last, (u_char *) "Credential=",
                             sizeof("Credential=") - 2);
        if (p) {
            ak.data = p + sizeof("Credential=") - 1;

            for (p = ak.data; p < last && *p != '/' && *p != ','; p++) {
                /* void */
            }

            ak.len = p - ak.data;
        }

    } else if (ngx_http_arg(r, (u_char *) "X-Amz-Credential",
                            sizeof("X-Amz-Credential") - 1, &value)
               == NGX_OK)
    {
        ak.data = value.data;
        last = value.data + value.len;

        for (p = ak.data; p < last && *p != '/' && *p != '%'; p++) {
            /* void: "AK%2F20240101%2F..." or "AK/20240101/..." */
        }

        ak.len = p - ak.data;
    }

    if (ak.len == 0 || ak.len > 128) {       /* AWS: 16..128 */
        v->not_found = 1;
        return NGX_OK;
    }

    fp = ngx_pnalloc(r->pool, 8);
    if (fp == NULL) {
        return NGX_ERROR;
    }

    ngx_http_objspace_fingerprint(&ak, fp);

    v->len = 8;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = fp;

    return NGX_OK;
}


static void *
ngx_http_objspace_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_objspace_main_conf_t  *omcf;

    omcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_objspace_main_conf_t));
    if (omcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     omcf->redis_addr = NULL;
     *     omcf->redis_password = { 0, NULL };
     *     omcf->redis_db = 0;
     *     omcf->shm_zone = NULL;
     *     omcf->secret_key_set = 0;
     */

    omcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    omcf->cache_valid = NGX_CONF_UNSET;
    omcf->negative_valid = NGX_CONF_UNSET;

    return omcf;
}


static char *
ngx_http_objspace_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_objspace_main_conf_t *omcf = conf;

    ngx_conf_init_msec_value(omcf->redis_timeout, 1000);
    ngx_conf_init_value(omcf->cache_valid, 30);
    ngx_conf_init_value(omcf->negative_valid, 10);

    return NGX_CONF_OK;
}


static void *
ngx_http_objspace_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_objspace_loc_conf_t  *olcf;

    olcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_objspace_loc_conf_t));
    if (olcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     olcf->region = { 0, NULL };
     *     olcf->backend_host = { 0, NULL };
     *     olcf->backend_region = { 0, NULL };
     */

    olcf->gateway = NGX_CONF_UNSET;
    olcf->host_suffixes = NGX_CONF_UNSET_PTR;
    olcf->deny_prefixes = NGX_CONF_UNSET_PTR;
    olcf->max_skew = NGX_CONF_UNSET;
    olcf->max_chunk = NGX_CONF_UNSET_SIZE;
    olcf->deny_log_level = NGX_CONF_UNSET_UINT;

    return olcf;
}


static char *
ngx_http_objspace_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_objspace_loc_conf_t *prev = parent;
    ngx_http_objspace_loc_conf_t *conf = child;

    ngx_str_t                      *s;
    ngx_uint_t                      i;
    ngx_http_objspace_main_conf_t  *omcf;

    ngx_conf_merge_value(conf->gateway, prev->gateway, 0);
    ngx_conf_merge_str_value(conf->region, prev->region, "us-east-1");
    ngx_conf_merge_ptr_value(conf->host_suffixes, prev->host_suffixes, NULL);
    ngx_conf_merge_str_value(conf->backend_host, prev->backend_host, "");
    ngx_conf_merge_str_value(conf->backend_region, prev->backend_region,
                             "us-east-1");
    ngx_conf_merge_sec_value(conf->max_skew, prev->max_skew, 900);
    ngx_conf_merge_size_value(conf->max_chunk, prev->max_chunk,
                              16 * 1024 * 1024);
    ngx_conf_merge_uint_value(conf->deny_log_level, prev->deny_log_level,
                              NGX_LOG_ERR);

    if (conf->deny_prefixes == NGX_CONF_UNSET_PTR) {

        if (prev->deny_prefixes == NGX_CONF_UNSET_PTR) {
            prev->deny_prefixes = ngx_array_create(cf->pool, 3,
                                                   sizeof(ngx_str_t));
            if (prev->deny_prefixes == NULL) {
                return NGX_CONF_ERROR;
            }

            for (i = 0; i < 3; i++) {
                s = ngx_array_push(prev->deny_prefixes);
                if (s == NULL) {
                    return NGX_CONF_ERROR;
                }

                *s = ngx_http_objspace_default_deny[i];
            }
        }

        conf->deny_prefixes = prev->deny_prefixes;
    }

    if (!conf->gateway) {
        return NGX_CONF_OK;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_objspace_module);

    if (omcf->redis_addr == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_gateway\" requires \"objspace_redis\"");
        return NGX_CONF_ERROR;
    }

    if (omcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_gateway\" requires "
                           "\"objspace_cache_zone\"");
        return NGX_CONF_ERROR;
    }

    if (!omcf->secret_key_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_gateway\" requires "
                           "\"objspace_secret_key_file\"");
        return NGX_CONF_ERROR;
    }

    if (conf->backend_host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_gateway\" requires "
                           "\"objspace_backend_host\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* objspace_redis ADDRESS [password=SECRET] [db=N] */

static char *
ngx_http_objspace_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_objspace_main_conf_t *omcf = conf;

    ngx_int_t    db;
    ngx_str_t   *value;
    ngx_url_t    u;
    ngx_uint_t   i;

    if (omcf->redis_addr) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in objspace_redis \"%V\"", u.err, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "objspace_redis \"%V\" must be an IP address and "
                           "port or a \"unix:\" path (no host names: a "
                           "worker never resolves)", &u.url);
        return NGX_CONF_ERROR;
    }

    if (u.family != AF_UNIX && u.no_port) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no port in objspace_redis \"%V\"", &u.url);
        return NGX_CONF_ERROR;
    }

    omcf->redis_addr = &u.addrs[0];

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            omcf->redis_password.data = value[i].data + 9;
            omcf->redis_password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            db = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (db == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid database \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            omcf->redis_db = db;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* objspace_cache_zone NAME:SIZE */

static char *
ngx_http_objspace_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_objspace_main_conf_t *omcf = conf;

    u_char     *p;
    ssize_t     size;
    ngx_str_t  *value, name, s;

    if (omcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected NAME:SIZE",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    omcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_objspace_module);
    if (omcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (omcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "duplicate zone \"%V\"",
                           &name);
        return NGX_CONF_ERROR;
    }

    omcf->shm_zone->init = ngx_http_objspace_cache_init_zone;
    omcf->shm_zone->data = omcf;

    return NGX_CONF_OK;
}


/*
 * Reads the sealing key (64 hex characters) while nginx still runs as root,
 * before workers drop privileges; the file itself stays root-only.
 */

static char *
ngx_http_objspace_secret_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_objspace_main_conf_t *omcf = conf;

    char        *rv;
    ssize_t      n;
    ngx_fd_t     fd;
    ngx_int_t    v;
    ngx_str_t   *value, path;
    ngx_uint_t   i;
    u_char       buf[130];

    if (omcf->secret_key_set) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &path);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_OK;

    n = ngx_read_fd(fd, buf, sizeof(buf));

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed", &path);
        rv = NGX_CONF_ERROR;
        goto done;
    }

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }

    if (n != 2 * NGX_HTTP_OBJSPACE_SECRET_KEY_LEN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "objspace_secret_key_file \"%V\" must hold 64 hex "
                           "characters", &path);
        rv = NGX_CONF_ERROR;
        goto done;
    }

    for (i = 0; i < NGX_HTTP_OBJSPACE_SECRET_KEY_LEN; i++) {
        v = ngx_hextoi(&buf[2 * i], 2);

        if (v == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "objspace_secret_key_file \"%V\" must hold 64 "
                               "hex characters", &path);
            rv = NGX_CONF_ERROR;
            goto done;
        }

        omcf->secret_key[i] = (u_char) v;
    }

    omcf->secret_key_set = 1;

done:

    ngx_explicit_memzero(buf, sizeof(buf));

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", &path);
    }

    return rv;
}


/* objspace_deny_prefix PREFIX ... | off */

static char *
ngx_http_objspace_deny_prefix(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_objspace_loc_conf_t *olcf = conf;

    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    if (olcf->deny_prefixes != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    olcf->deny_prefixes = ngx_array_create(cf->pool, cf->args->nelts,
                                           sizeof(ngx_str_t));
    if (olcf->deny_prefixes == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty prefix in \"%V\"", &cmd->name);
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push(olcf->deny_prefixes);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_objspace_init(ngx_conf_t *cf)
{
    ngx_str_t                   name;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_objspace_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_objspace_post_read;

    ngx_str_set(&name, "request_id");
    ngx_http_objspace_request_id_index = ngx_http_get_variable_index(cf,
                                                                     &name);

    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_objspace_request_body_filter;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_objspace_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_objspace_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_objspace_init_process(ngx_cycle_t *cycle)
{
    ngx_http_objspace_main_conf_t  *omcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    omcf = ngx_http_objspace_main_conf(cycle);

    if (omcf == NULL || omcf->redis_addr == NULL || omcf->shm_zone == NULL) {
        return NGX_OK;
    }

    return ngx_http_objspace_redis_init_process(cycle);
}


static void
ngx_http_objspace_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_objspace_main_conf_t  *omcf;

    omcf = ngx_http_objspace_main_conf(cycle);

    if (omcf && omcf->redis_addr && omcf->shm_zone) {
        ngx_http_objspace_redis_exit_process(cycle);
    }

    if (omcf) {
        ngx_explicit_memzero(omcf->secret_key, sizeof(omcf->secret_key));
    }
}


/*
 * Copyright (C) objspace authors
 *
 * ngx_http_objspace_errors.c:
 * S3 XML errors: the error table, denial logging, the output
 * filters that turn every nginx-made error into S3 XML, and the
 * sanitized error-log context.
 */


#include "ngx_http_objspace_gateway.h"


static ngx_int_t ngx_http_objspace_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_objspace_header_filter(ngx_http_request_t *r);
static ngx_buf_t *ngx_http_objspace_error_xml(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

static ngx_int_t  ngx_http_objspace_request_id_index = NGX_ERROR;


ngx_http_objspace_err_t  ngx_http_objspace_errors[] = {
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

/*
 * Records the S3 error to answer with and logs why, naming the identity by
 * its id (or, before there is one, by a short fingerprint of the access key
 * id), never by the access key itself, the signature or an object key.
 */

ngx_int_t
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

void
ngx_http_objspace_fingerprint(ngx_str_t *ak, u_char *out)
{
    u_char  md[SHA256_DIGEST_LENGTH];

    ngx_http_objspace_sigv4_sha256(ak->data, ak->len, md);

    ngx_http_objspace_sigv4_hex(out, md, 4);
}


/*
 * Replaces nginx's error-log context for gateway requests: nginx appends the
 * request line (object keys, presigned credentials and signatures) to every
 * line it logs about a request; ours names the method, bucket, operation and
 * identity id instead.
 */

u_char *
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


/* installs the S3 XML output filters; called from postconfiguration */

ngx_int_t
ngx_http_objspace_errors_init(ngx_conf_t *cf)
{
    ngx_str_t  name;

    ngx_str_set(&name, "request_id");
    ngx_http_objspace_request_id_index = ngx_http_get_variable_index(cf,
                                                                     &name);

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_objspace_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_objspace_body_filter;

    return NGX_OK;
}

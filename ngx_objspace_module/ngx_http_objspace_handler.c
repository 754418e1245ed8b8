
/*
 * Copyright (C) objspace authors
 *
 * ngx_http_objspace_handler.c:
 * The access-phase handler: parse the S3 request and the SigV4
 * credential, look up the identity (may suspend), verify, authorize,
 * read and check a DeleteObjects body, answer ListBuckets.
 */


#include "ngx_http_objspace_gateway.h"


static ngx_int_t ngx_http_objspace_parse(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_authenticate(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_verify(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_verify_with(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_uint_t which, ngx_str_t *uri,
    u_char *sig);
static ngx_int_t ngx_http_objspace_authorize(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_prepare_body(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static void ngx_http_objspace_body_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_objspace_delete_key(void *data, ngx_str_t *key);
static ngx_int_t ngx_http_objspace_check_delete(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_quota(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static void ngx_http_objspace_cleanup(void *data);
static ngx_int_t ngx_http_objspace_collect_headers(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx);
static ngx_table_elt_t *ngx_http_objspace_header(ngx_http_objspace_ctx_t *ctx,
    ngx_http_request_t *r, const char *name);
static ngx_int_t ngx_http_objspace_list_buckets(ngx_http_request_t *r);

/*
 * The access-phase handler.  Re-entered after an asynchronous identity
 * lookup (ngx_http_objspace_resume) and after the body was read in the
 * access phase (ngx_http_objspace_body_handler): ctx carries the state.
 */

ngx_int_t
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
    ngx_table_elt_t               *h, *hd;
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

        hd = ngx_http_objspace_header(ctx, r, "x-amz-date");
        if (hd) {
            amz_date = hd->value;
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

    rc = NGX_DECLINED;

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

    if (rc == NGX_BUSY) {
        return ngx_http_objspace_fail(r, ctx, NGX_HTTP_OBJSPACE_E_UNAVAILABLE,
                                      "identity changed during the request");
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

        /* checked to be lowercase hex above */
        (void) ngx_http_objspace_sigv4_unhex(ctx->body_hash, ph->data,
                                             ph->len);

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
            return ngx_http_objspace_fail(r, ctx,
                                    rc == NGX_BUSY
                                    ? NGX_HTTP_OBJSPACE_E_UNAVAILABLE
                                    : NGX_HTTP_OBJSPACE_E_INTERNAL,
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

    ctx->upstream_length.data = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
    if (ctx->upstream_length.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->upstream_length.len = ngx_sprintf(ctx->upstream_length.data, "%O",
                                           decoded)
                               - ctx->upstream_length.data;

    if (decoded == 0) {
        /* nothing to hold back: verify the whole (tiny) body first */
        ctx->read_first = 1;
    }

    if (r->headers_in.chunked) {
        /*
         * Transfer-Encoding: chunked from the client (aws cli v1 over
         * TLS): streamed, the proxy would re-chunk the body and S3
         * backends refuse a chunked upload without a length.  Read and
         * verify the body first (nginx spools it to client_body_temp_path),
         * then send it whole with the decoded Content-Length.
         */
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
 * Post-read phase: a server whose default location is a gateway gets the
 * sanitised log context before anything else is logged about the request.
 */

ngx_int_t
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
 * own bucket.  Owner ID and DisplayName are the identity id: the
 * identity's name is tenant input and is never put into XML.
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
          + sizeof("</ID><DisplayName>") - 1 + ctx->id->id.len
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
                          head, &ctx->id->id, &ctx->id->id,
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

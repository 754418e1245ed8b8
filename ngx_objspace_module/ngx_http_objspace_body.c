
/*
 * Copyright (C) objspace authors
 *
 * ngx_http_objspace_body.c:
 * The request body filter: aws-chunked decoding, payload hash,
 * chunk signature and trailer checksum verification, last byte held back.
 */


#include "ngx_http_objspace_gateway.h"


static ngx_int_t ngx_http_objspace_request_body_filter(
    ngx_http_request_t *r, ngx_chain_t *in);
static ngx_int_t ngx_http_objspace_body_emit(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, u_char *p, size_t len, ngx_chain_t ***ll,
    ngx_buf_t **last);
static ngx_int_t ngx_http_objspace_body_finish(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_chain_t ***ll);
static void ngx_http_objspace_body_release(ngx_http_objspace_ctx_t *ctx);
static ngx_int_t ngx_http_objspace_body_error(ngx_http_request_t *r,
    ngx_http_objspace_ctx_t *ctx, ngx_uint_t err, const char *reason);


static ngx_http_request_body_filter_pt   ngx_http_next_request_body_filter;

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


/* installs the request body filter; called from postconfiguration */

ngx_int_t
ngx_http_objspace_body_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_objspace_request_body_filter;

    return NGX_OK;
}

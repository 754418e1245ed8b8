
/*
 * Copyright (C) objspace authors
 *
 * Incremental decoder for the aws-chunked content encoding, pure (no nginx
 * I/O), so it is unit-testable and fuzzable.  Handles:
 *
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD          chunk signatures
 *   STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER  chunk sigs + signed trailer
 *   STREAMING-UNSIGNED-PAYLOAD-TRAILER          no sigs, trailer checksum
 *
 * Wire format (signed):   hex-size ";chunk-signature=" 64hex CRLF data CRLF
 *                         ... "0;chunk-signature=" 64hex CRLF
 *                         [trailer lines CRLF] ["x-amz-trailer-signature:"
 *                         64hex CRLF] CRLF
 * Wire format (unsigned): hex-size CRLF data CRLF ... "0" CRLF
 *                         trailer lines (name:value CRLF) CRLF
 *
 * Clients differ in whether the final CRLF after the trailer is present;
 * end of input after a complete trailer is accepted.
 *
 * Decoded data is handed back as slices of the caller's input (no copy).
 * The caller must not treat the stream as good before NGX_DONE: a chunk's
 * signature can only be checked after its data has gone by.
 */


#ifndef _NGX_HTTP_OBJSPACE_CHUNKED_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_CHUNKED_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/sha.h>

#include "ngx_http_objspace_sigv4.h"


typedef enum {
    NGX_HTTP_OBJSPACE_CHUNKED_SIGNED = 0,         /* ...-PAYLOAD */
    NGX_HTTP_OBJSPACE_CHUNKED_SIGNED_TRAILER,     /* ...-PAYLOAD-TRAILER */
    NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER    /* STREAMING-UNSIGNED-... */
} ngx_http_objspace_chunked_mode_e;


typedef enum {
    NGX_HTTP_OBJSPACE_CKSUM_NONE = 0,
    NGX_HTTP_OBJSPACE_CKSUM_CRC32,
    NGX_HTTP_OBJSPACE_CKSUM_CRC32C,
    NGX_HTTP_OBJSPACE_CKSUM_SHA1,
    NGX_HTTP_OBJSPACE_CKSUM_SHA256,
    NGX_HTTP_OBJSPACE_CKSUM_CRC64NVME
} ngx_http_objspace_cksum_e;


/* why decoding failed; the module maps these to S3 error codes */
typedef enum {
    NGX_HTTP_OBJSPACE_CHUNKED_ERR_NONE = 0,
    NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX,      /* IncompleteBody/
                                                  InvalidRequest */
    NGX_HTTP_OBJSPACE_CHUNKED_ERR_TOO_LARGE,   /* chunk over max_chunk */
    NGX_HTTP_OBJSPACE_CHUNKED_ERR_SIGNATURE,   /* SignatureDoesNotMatch */
    NGX_HTTP_OBJSPACE_CHUNKED_ERR_CHECKSUM,    /* BadDigest */
    NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER,     /* missing/unexpected trailer,
                                                  trailer too long */
    NGX_HTTP_OBJSPACE_CHUNKED_ERR_LENGTH       /* decoded length differs
                                                  from x-amz-decoded-
                                                  content-length */
} ngx_http_objspace_chunked_err_e;


/* running state of one payload checksum (named by helper A, was inline) */
typedef union {
    uint32_t                    crc32;          /* crc32, crc32c */
    uint64_t                    crc64;          /* crc64nvme */
    SHA_CTX                     sha1;
    SHA256_CTX                  sha256;
} ngx_http_objspace_cksum_ctx_t;


/* base64 of the longest digest (sha256), without the NUL */
#define NGX_HTTP_OBJSPACE_CKSUM_B64_LEN     44


typedef struct {
    /* configuration, set by init() */
    ngx_uint_t                  mode;
    ngx_uint_t                  cksum;          /* from x-amz-trailer */
    ngx_str_t                   trailer_name;   /* e.g. x-amz-checksum-crc32 */
    off_t                       expected;       /* decoded length, -1 unknown */
    size_t                      max_chunk;
    u_char                      key[NGX_HTTP_OBJSPACE_SHA256_LEN];
    u_char                      prev[NGX_HTTP_OBJSPACE_SHA256_LEN];
    u_char                      amz_date[NGX_HTTP_OBJSPACE_AMZ_DATE_LEN];
    u_char                      scope[128];
    size_t                      scope_len;

    /* state */
    ngx_uint_t                  state;
    ngx_uint_t                  error;          /* ..._chunked_err_e */
    off_t                       decoded;        /* data bytes so far */
    size_t                      chunk_size;
    size_t                      chunk_left;
    SHA256_CTX                  chunk_sha;      /* signed modes */
    ngx_http_objspace_cksum_ctx_t  ck;
    u_char                      line[256];      /* chunk header line */
    size_t                      line_len;
    u_char                      trailer[1024];  /* one trailer line */
    size_t                      trailer_len;

    /* added by helper A (additive) */
    u_char                      sig[NGX_HTTP_OBJSPACE_SHA256_LEN];
                                                /* current chunk's claimed
                                                   chunk-signature */
    unsigned                    cksum_seen:1;   /* checksum trailer line */
} ngx_http_objspace_chunked_t;


/*
 * key, amz_date, scope and seed (the request's own signature) are copied;
 * they are unused in NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER mode and may
 * be NULL there.  trailer: the x-amz-trailer header value (empty if none).
 * Returns NGX_ERROR (with ->error set) for an unsupported trailer name.
 */
ngx_int_t ngx_http_objspace_chunked_init(ngx_http_objspace_chunked_t *ch,
    ngx_uint_t mode, ngx_str_t *trailer, off_t expected, size_t max_chunk,
    const u_char *key, ngx_str_t *amz_date, ngx_str_t *scope,
    const u_char *seed);

/*
 * Consumes input from *pos up to last, advancing *pos.
 *   NGX_OK     a slice of decoded data is in *out (call again with the rest)
 *   NGX_AGAIN  all input consumed, nothing more to hand out: feed more
 *   NGX_DONE   the final chunk (and trailer) arrived and verified; any
 *              input after it is an error (call with *pos == last only)
 *   NGX_ERROR  ch->error says why; the stream must be dropped
 *
 * Precisely (helper A): NGX_OK slices are never empty and lie inside
 * [*pos, last) of that call; data of a chunk is handed out before its
 * signature is known (checked at the CRLF after the data), so only
 * NGX_DONE makes the body good.  NGX_AGAIN and NGX_DONE are returned only
 * with *pos == last.  NGX_DONE comes as soon as the stream is complete:
 * after "0;chunk-signature=..." CRLF (signed), after the checksum line
 * (unsigned trailer) or the x-amz-trailer-signature line (signed
 * trailer).  The terminating CRLF that normally follows is optional: if
 * it arrives (in this or a later call) it is consumed with NGX_DONE again;
 * any other byte after completion is NGX_ERROR / ERR_SYNTAX.  After
 * NGX_ERROR every call returns NGX_ERROR.
 */
ngx_int_t ngx_http_objspace_chunked_feed(ngx_http_objspace_chunked_t *ch,
    u_char **pos, u_char *last, ngx_str_t *out);

/* wipes the key and chained signatures (call from a pool cleanup) */
void ngx_http_objspace_chunked_wipe(ngx_http_objspace_chunked_t *ch);

/*
 * Whole-body payload checksums, exposed for the non-chunked path
 * (x-amz-checksum-* request headers) and unit tests.  b64 is the header or
 * trailer value (base64 of the big-endian digest).
 */
ngx_int_t ngx_http_objspace_cksum_by_name(ngx_str_t *name);

/*
 * Added by helper A: the checksum itself, for the non-chunked path.
 *   by_name  "x-amz-checksum-crc32" (any case) -> ..._CKSUM_CRC32;
 *            ..._CKSUM_NONE for any other name
 *   final    writes base64 of the big-endian digest (NUL terminated) into
 *            b64, returns its length; the context is spent
 *   verify   final + compare with b64 (blanks around it ignored):
 *            NGX_OK on a match, NGX_DECLINED on a mismatch
 */
void ngx_http_objspace_cksum_init(ngx_uint_t alg,
    ngx_http_objspace_cksum_ctx_t *ctx);
void ngx_http_objspace_cksum_update(ngx_uint_t alg,
    ngx_http_objspace_cksum_ctx_t *ctx, const u_char *p, size_t len);
size_t ngx_http_objspace_cksum_final(ngx_uint_t alg,
    ngx_http_objspace_cksum_ctx_t *ctx,
    u_char b64[NGX_HTTP_OBJSPACE_CKSUM_B64_LEN + 1]);
ngx_int_t ngx_http_objspace_cksum_verify(ngx_uint_t alg,
    ngx_http_objspace_cksum_ctx_t *ctx, ngx_str_t *b64);


#endif /* _NGX_HTTP_OBJSPACE_CHUNKED_H_INCLUDED_ */

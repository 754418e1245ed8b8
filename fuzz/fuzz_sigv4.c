
/*
 * Copyright (C) objspace authors
 *
 * libFuzzer target: the SigV4 Authorization header parser, the presigned
 * query parser, the signed-header checks and the canonical request hash
 * over a fuzzed query string and header value.  Every string a successful
 * parse returns must lie inside the input or auth->buf.
 */


#include "ngx_http_objspace_sigv4.c"

#include <stdlib.h>
#include <string.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void fuzz_inside(ngx_str_t *s, u_char *in, size_t len,
    ngx_http_objspace_sigv4_auth_t *auth);
static void fuzz_check_auth(ngx_http_objspace_sigv4_auth_t *auth,
    u_char *in, size_t len);


static void
fuzz_inside(ngx_str_t *s, u_char *in, size_t len,
    ngx_http_objspace_sigv4_auth_t *auth)
{
    if (s->len == 0) {
        return;
    }

    if (s->data >= in && s->data + s->len <= in + len) {
        return;
    }

    if (s->data >= auth->buf && s->data + s->len <= auth->buf
                                                     + sizeof(auth->buf))
    {
        return;
    }

    abort();
}


static void
fuzz_check_auth(ngx_http_objspace_sigv4_auth_t *auth, u_char *in,
    size_t len)
{
    fuzz_inside(&auth->access_key, in, len, auth);
    fuzz_inside(&auth->scope, in, len, auth);
    fuzz_inside(&auth->scope_date, in, len, auth);
    fuzz_inside(&auth->region, in, len, auth);
    fuzz_inside(&auth->service, in, len, auth);
    fuzz_inside(&auth->signed_headers, in, len, auth);

    if (auth->scope_date.len != 8 || auth->service.len != 2
        || auth->amz_time == (time_t) -1)
    {
        abort();
    }

    if (auth->presigned && (auth->expires < 1 || auth->expires > 604800)) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                          *in, *enc, hash[32], sig[32], key[32];
    ngx_int_t                        rc;
    ngx_str_t                        v, date;
    ngx_http_objspace_kv_t           h[4];
    ngx_http_objspace_sigv4_auth_t   auth;
    ngx_http_objspace_sigv4_creq_t   creq;

    /* an exact-size heap copy, so ASan sees any over-read */
    in = malloc(size ? size : 1);
    memcpy(in, data, size);

    v.data = in;
    v.len = size;
    date.data = (u_char *) "20130524T000000Z";
    date.len = 16;

    memset(key, 0x5a, sizeof(key));

    h[0].key.data = (u_char *) "host";
    h[0].key.len = 4;
    h[0].value.data = (u_char *) "b.s3.example";
    h[0].value.len = 12;
    h[1].key.data = (u_char *) "x-amz-date";
    h[1].key.len = 10;
    h[1].value = date;
    h[2].key.data = (u_char *) "x-amz-meta-a";
    h[2].key.len = 12;
    h[2].value = v;                             /* folding on fuzzed bytes */
    h[3].key.data = (u_char *) "x-amz-meta-a";
    h[3].key.len = 12;
    h[3].value = v;

    rc = ngx_http_objspace_sigv4_parse_header(&v, &date, &auth);

    if (rc == NGX_HTTP_OBJSPACE_SIGV4_OK) {
        fuzz_check_auth(&auth, in, size);
        (void) ngx_http_objspace_sigv4_check_headers(&auth, h, 4);
    }

    rc = ngx_http_objspace_sigv4_parse_query(&v, &auth);

    if (rc == NGX_HTTP_OBJSPACE_SIGV4_OK) {
        fuzz_check_auth(&auth, in, size);

        if (!auth.presigned) {
            abort();
        }

        (void) ngx_http_objspace_sigv4_check_headers(&auth, h, 4);
        auth.scope_date.len = 8;
        ngx_http_objspace_sigv4_signing_key(key, sizeof(key),
                                            &auth.scope_date, &auth.region,
                                            &auth.service, key);
    }

    creq.method.data = (u_char *) "GET";
    creq.method.len = 3;
    creq.canonical_uri.data = (u_char *) "/";
    creq.canonical_uri.len = 1;
    creq.query = v;
    creq.headers = h;
    creq.nheaders = 4;
    creq.signed_headers.data = (u_char *) "host;x-amz-date;x-amz-meta-a";
    creq.signed_headers.len = sizeof("host;x-amz-date;x-amz-meta-a") - 1;
    creq.payload_hash.data = (u_char *) "UNSIGNED-PAYLOAD";
    creq.payload_hash.len = 16;
    creq.skip_signature_arg = size & 1;

    if (ngx_http_objspace_sigv4_creq_hash(&creq, hash) == NGX_OK) {
        ngx_http_objspace_sigv4_sign(key, &date, &v, hash, sig);
    }

    /* the fuzzed bytes as SignedHeaders of a canonical request */
    creq.query.len = 0;
    creq.signed_headers = v;
    (void) ngx_http_objspace_sigv4_creq_hash(&creq, hash);

    enc = malloc(3 * size + 1);
    (void) ngx_http_objspace_sigv4_uri_encode(enc, in, size, size & 2);
    free(enc);

    (void) ngx_http_objspace_sigv4_parse_amz_date(in, size);

    free(in);

    return 0;
}

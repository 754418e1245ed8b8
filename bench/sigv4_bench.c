
/*
 * Copyright (C) objspace authors
 *
 * Micro benchmark: SigV4 header-auth verifications per second on one core
 * for a typical GET (aws cli style headers), with a cached signing key:
 * parse Authorization + signed-header checks + canonical request hash +
 * string to sign / HMAC + constant-time compare.
 *
 * Baseline, measured in the same run: the textbook way (canonical request
 * built in a buffer with snprintf, EVP_Digest, then OpenSSL 3's one-shot
 * HMAC(), which fetches the digest per call).  Prints both and the ratio.
 *
 *     sigv4_bench [iterations]
 */


#include "ngx_http_objspace_sigv4.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>


#define B_DATE   "20240315T101112Z"
#define B_SCOPE  "20240315/us-east-1/s3/aws4_request"
#define B_PATH   "/rs-kubedo-artifacts/releases/v1.4.2/" \
                 "objspace-linux-amd64.tar.gz"
#define B_SH     "host;x-amz-content-sha256;x-amz-date"


static double b_now(void);
static ngx_uint_t b_ours(ngx_str_t *authz, ngx_http_objspace_kv_t *h,
    ngx_uint_t nh, const u_char *key);
static ngx_uint_t b_baseline(const u_char *sig_expected,
    ngx_http_objspace_kv_t *h, const u_char *key);


static double
b_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static ngx_uint_t
b_ours(ngx_str_t *authz, ngx_http_objspace_kv_t *h, ngx_uint_t nh,
    const u_char *key)
{
    u_char                          hash[32], sig[32];
    ngx_str_t                       date;
    ngx_http_objspace_sigv4_auth_t  auth;
    ngx_http_objspace_sigv4_creq_t  creq;

    date.data = (u_char *) B_DATE;
    date.len = sizeof(B_DATE) - 1;

    if (ngx_http_objspace_sigv4_parse_header(authz, &date, &auth)
        != NGX_HTTP_OBJSPACE_SIGV4_OK
        || ngx_http_objspace_sigv4_check_headers(&auth, h, nh)
           != NGX_HTTP_OBJSPACE_SIGV4_OK)
    {
        return 0;
    }

    creq.method.data = (u_char *) "GET";
    creq.method.len = 3;
    creq.canonical_uri.data = (u_char *) B_PATH;
    creq.canonical_uri.len = sizeof(B_PATH) - 1;
    creq.query.data = NULL;
    creq.query.len = 0;
    creq.headers = h;
    creq.nheaders = nh;
    creq.signed_headers = auth.signed_headers;
    creq.payload_hash = h[2].value;
    creq.skip_signature_arg = 0;

    if (ngx_http_objspace_sigv4_creq_hash(&creq, hash) != NGX_OK) {
        return 0;
    }

    ngx_http_objspace_sigv4_sign(key, &auth.amz_date, &auth.scope, hash, sig);

    return ngx_http_objspace_sigv4_equal(sig, auth.signature);
}


static ngx_uint_t
b_baseline(const u_char *sig_expected, ngx_http_objspace_kv_t *h,
    const u_char *key)
{
    int           n;
    char          creq[1024], sts[512];
    u_char        hash[32], hex[65], sig[32];
    unsigned int  len;

    n = snprintf(creq, sizeof(creq),
                 "GET\n%s\n\nhost:%.*s\nx-amz-content-sha256:%.*s\n"
                 "x-amz-date:%.*s\n\n%s\n%.*s", B_PATH,
                 (int) h[0].value.len, h[0].value.data,
                 (int) h[2].value.len, h[2].value.data,
                 (int) h[1].value.len, h[1].value.data, B_SH,
                 (int) h[2].value.len, h[2].value.data);

    EVP_Digest(creq, n, hash, NULL, EVP_sha256(), NULL);
    *ngx_http_objspace_sigv4_hex(hex, hash, 32) = '\0';

    n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", B_DATE,
                 B_SCOPE, hex);

    HMAC(EVP_sha256(), key, 32, (u_char *) sts, n, sig, &len);

    return CRYPTO_memcmp(sig, sig_expected, 32) == 0;
}


int
main(int argc, char **argv)
{
    char                            authz_buf[512];
    u_char                          key[32], hash[32], sig[32], hex[65];
    u_char                          buf[4096];
    long                            i, iters;
    double                          t0, t, best_ours, best_base, best_sha;
    ngx_str_t                       authz, date, region, service;
    ngx_uint_t                      ok, r;
    ngx_http_objspace_kv_t          h[8];
    ngx_http_objspace_sigv4_creq_t  creq;

    iters = argc > 1 ? atol(argv[1]) : 300000;

    date.data = (u_char *) "20240315";
    date.len = 8;
    region.data = (u_char *) "us-east-1";
    region.len = 9;
    service.data = (u_char *) "s3";
    service.len = 2;

    ngx_http_objspace_sigv4_signing_key((u_char *)
                                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                    40, &date, &region, &service, key);

#define B_KV(i, k, v)                                                       \
    h[i].key.data = (u_char *) k; h[i].key.len = sizeof(k) - 1;             \
    h[i].value.data = (u_char *) v; h[i].value.len = sizeof(v) - 1

    B_KV(0, "host", "rs-kubedo-artifacts.s3.example");
    B_KV(1, "x-amz-date", B_DATE);
    B_KV(2, "x-amz-content-sha256", NGX_HTTP_OBJSPACE_EMPTY_SHA256);
    B_KV(3, "user-agent", "aws-cli/2.9.19 Python/3.11.2 Linux/6.1.0 "
                          "source/x86_64.debian.12 prompt/off "
                          "command/s3.cp");
    B_KV(4, "accept-encoding", "identity");
    B_KV(5, "amz-sdk-invocation-id", "0b5c1c4e-4bd7-4c1e-9f5a-1c2d3e4f5a6b");
    B_KV(6, "amz-sdk-request", "attempt=1; max=3");
    B_KV(7, "authorization", "(set below)");

    /* sign once to produce a valid Authorization value */

    creq.method.data = (u_char *) "GET";
    creq.method.len = 3;
    creq.canonical_uri.data = (u_char *) B_PATH;
    creq.canonical_uri.len = sizeof(B_PATH) - 1;
    creq.query.data = NULL;
    creq.query.len = 0;
    creq.headers = h;
    creq.nheaders = 8;
    creq.signed_headers.data = (u_char *) B_SH;
    creq.signed_headers.len = sizeof(B_SH) - 1;
    creq.payload_hash = h[2].value;
    creq.skip_signature_arg = 0;

    ngx_http_objspace_sigv4_creq_hash(&creq, hash);
    date.data = (u_char *) B_DATE;
    date.len = sizeof(B_DATE) - 1;
    region.data = (u_char *) B_SCOPE;
    region.len = sizeof(B_SCOPE) - 1;
    ngx_http_objspace_sigv4_sign(key, &date, &region, hash, sig);
    *ngx_http_objspace_sigv4_hex(hex, sig, 32) = '\0';

    authz.len = snprintf(authz_buf, sizeof(authz_buf),
                         "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
                         B_SCOPE ", SignedHeaders=" B_SH ", Signature=%s",
                         hex);
    authz.data = (u_char *) authz_buf;
    h[7].value = authz;

    if (!b_ours(&authz, h, 8, key) || !b_baseline(sig, h, key)) {
        printf("bench: self-check failed\n");
        return 1;
    }

    best_ours = best_base = best_sha = 1e30;
    ok = 0;

    for (r = 0; r < 3; r++) {
        t0 = b_now();

        for (i = 0; i < iters; i++) {
            ok += b_ours(&authz, h, 8, key);
        }

        t = b_now() - t0;
        best_ours = t < best_ours ? t : best_ours;

        t0 = b_now();

        for (i = 0; i < iters; i++) {
            ok += b_baseline(sig, h, key);
        }

        t = b_now() - t0;
        best_base = t < best_base ? t : best_base;

        memset(buf, 'x', sizeof(buf));
        t0 = b_now();

        for (i = 0; i < iters / 10; i++) {
            SHA256(buf, sizeof(buf), buf);
        }

        t = b_now() - t0;
        best_sha = t < best_sha ? t : best_sha;
    }

    if (ok != 6 * (ngx_uint_t) iters) {
        printf("bench: verification failed in the loop\n");
        return 1;
    }

    printf("sigv4 header-auth GET verify, cached key, one core, "
           "best of 3 x %ld:\n", iters);
    printf("  objspace:  %9.0f verifications/s  (%.2f us each)\n",
           iters / best_ours, best_ours / iters * 1e6);
    printf("  baseline:  %9.0f verifications/s  (%.2f us each; snprintf + "
           "EVP_Digest + one-shot HMAC())\n",
           iters / best_base, best_base / iters * 1e6);
    printf("  ratio objspace/baseline: %.2fx\n", best_base / best_ours);
    printf("  SHA-256 on this CPU: %.0f MB/s\n",
           (double) (iters / 10) * sizeof(buf) / best_sha / 1e6);
    printf("  target >= 200000/s: %s\n",
           iters / best_ours >= 200000 ? "met" : "NOT met");

    return 0;
}

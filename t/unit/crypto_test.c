
/*
 * Copyright (C) objspace authors
 *
 * Unit tests for ngx_http_objspace_crypto.c (sealed secrets), TAP output.
 * The cross-check vectors in t/data/sealed.json were made with an
 * independent implementation (Python "cryptography" AESGCM); the
 * provisioner tests against the same file.
 */


#include "../../ngx_objspace_module/ngx_http_objspace_crypto.c"

#include <stdlib.h>
#include <jansson.h>

#include "b_tap.h"


static size_t unhex(const char *s, u_char *dst, size_t cap);
static void test_roundtrip(void);
static void test_failures(void);
static void test_vectors(const char *path);


static const u_char  test_key[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
    0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f
};


int
main(int argc, char **argv)
{
    const char  *path;

    path = getenv("OBJSPACE_SEALED_VECTORS");
    if (path == NULL) {
        path = argc > 1 ? argv[1] : "t/data/sealed.json";
    }

    test_roundtrip();
    test_failures();
    test_vectors(path);

    return tap_done();
}


static size_t
unhex(const char *s, u_char *dst, size_t cap)
{
    size_t        n;
    unsigned int  b;

    for (n = 0; s[0] && s[1] && n < cap; s += 2, n++) {
        if (sscanf(s, "%2x", &b) != 1) {
            return 0;
        }

        dst[n] = (u_char) b;
    }

    return n;
}


static void
test_roundtrip(void)
{
    size_t     len;
    ssize_t    n, m;
    ngx_str_t  plain, aad, sealed;
    u_char     out[NGX_HTTP_OBJSPACE_SEALED_LEN(200)], open[256];
    u_char     out2[NGX_HTTP_OBJSPACE_SEALED_LEN(200)];
    u_char     big[200];

    aad = tap_str("ak:AKTEST");

    for (len = 0; len <= 200; len += (len < 8 ? 1 : 37)) {
        memset(big, 'a' + (int) (len % 26), len);
        plain.data = big;
        plain.len = len;

        n = ngx_http_objspace_seal(test_key, &plain, &aad, out, sizeof(out));

        if (n < 0 || (size_t) n + 1 > NGX_HTTP_OBJSPACE_SEALED_LEN(len)
            || out[n] != '\0')
        {
            tap_ok(0, "seal %zu bytes", len);
            continue;
        }

        sealed.data = out;
        sealed.len = n;

        m = ngx_http_objspace_unseal(test_key, &sealed, &aad, open,
                                     sizeof(open));

        tap_ok(m == (ssize_t) len && memcmp(open, big, len) == 0,
               "seal/unseal roundtrip, %zu bytes (%zd base64 chars)", len, n);
    }

    plain = tap_str("secret");

    n = ngx_http_objspace_seal(test_key, &plain, &aad, out, sizeof(out));
    m = ngx_http_objspace_seal(test_key, &plain, &aad, out2, sizeof(out2));

    tap_ok(n > 0 && n == m && memcmp(out, out2, n) != 0,
           "two seals of one value differ (fresh nonce)");

    n = ngx_http_objspace_seal(test_key, &plain, &aad, out,
                               NGX_HTTP_OBJSPACE_SEALED_LEN(plain.len) - 1);
    tap_ok(n == -1, "seal refuses an output buffer one byte short");

    n = ngx_http_objspace_seal(test_key, &plain, &aad, out,
                               NGX_HTTP_OBJSPACE_SEALED_LEN(plain.len));
    tap_ok(n == (ssize_t) NGX_HTTP_OBJSPACE_SEALED_LEN(plain.len) - 1,
           "SEALED_LEN is exact for 6 bytes");
}


static void
test_failures(void)
{
    ssize_t    n, m;
    ngx_str_t  plain, aad, bad_aad, sealed, s;
    u_char     out[NGX_HTTP_OBJSPACE_SEALED_LEN(64)], tmp[sizeof(out)];
    u_char     open[64], key2[32];

    plain = tap_str("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    aad = tap_str("ak:AKTEST");

    n = ngx_http_objspace_seal(test_key, &plain, &aad, out, sizeof(out));
    sealed.data = out;
    sealed.len = n;

    bad_aad = tap_str("ak:AKTESU");
    m = ngx_http_objspace_unseal(test_key, &sealed, &bad_aad, open,
                                 sizeof(open));
    tap_ok(m == -1, "wrong AAD does not open");

    bad_aad = tap_str("ak-prev:AKTEST");
    m = ngx_http_objspace_unseal(test_key, &sealed, &bad_aad, open,
                                 sizeof(open));
    tap_ok(m == -1, "AAD of another field does not open");

    bad_aad = tap_str("");
    m = ngx_http_objspace_unseal(test_key, &sealed, &bad_aad, open,
                                 sizeof(open));
    tap_ok(m == -1, "empty AAD does not open");

    memcpy(key2, test_key, 32);
    key2[31] ^= 1;
    m = ngx_http_objspace_unseal(key2, &sealed, &aad, open, sizeof(open));
    tap_ok(m == -1, "wrong key does not open");

    m = ngx_http_objspace_unseal(test_key, &sealed, &aad, open,
                                 plain.len - 1);
    tap_ok(m == -1, "output buffer one byte short is refused");

    m = ngx_http_objspace_unseal(test_key, &sealed, &aad, open, plain.len);
    tap_ok(m == (ssize_t) plain.len, "output buffer of exact size opens");

    /* flip one bit in every decoded position: version, nonce, ct, tag */
    {
        u_char   raw[128], enc[sizeof(out)];
        int      rawlen, pos, bad;

        rawlen = EVP_DecodeBlock(raw, out, n);
        rawlen -= (out[n - 1] == '=') + (out[n - 2] == '=');
        bad = 0;

        for (pos = 0; pos < rawlen; pos++) {
            raw[pos] ^= 0x10;
            s.len = EVP_EncodeBlock(enc, raw, rawlen);
            s.data = enc;
            raw[pos] ^= 0x10;

            memset(open, 0x5a, sizeof(open));

            if (ngx_http_objspace_unseal(test_key, &s, &aad, open,
                                         sizeof(open))
                != -1)
            {
                bad++;
            }
        }

        tap_ok(bad == 0, "a flipped bit anywhere (%d positions) fails",
               rawlen);

        s.len = EVP_EncodeBlock(enc, raw, rawlen - 1);
        s.data = enc;
        tap_ok(ngx_http_objspace_unseal(test_key, &s, &aad, open,
                                        sizeof(open)) == -1,
               "truncated tag fails");

        s.len = EVP_EncodeBlock(enc, raw, 28);
        tap_ok(ngx_http_objspace_unseal(test_key, &s, &aad, open,
                                        sizeof(open)) == -1,
               "shorter than version + nonce + tag fails");
    }

    memcpy(tmp, out, n);
    s.data = tmp;
    s.len = n - 1;
    tap_ok(ngx_http_objspace_unseal(test_key, &s, &aad, open, sizeof(open))
           == -1, "base64 length not a multiple of 4 fails");

    memcpy(tmp, out, n);
    tmp[5] = '*';
    s.len = n;
    tap_ok(ngx_http_objspace_unseal(test_key, &s, &aad, open, sizeof(open))
           == -1, "base64 with a bad character fails");

    memcpy(tmp, out, n);
    tmp[5] = '=';
    tap_ok(ngx_http_objspace_unseal(test_key, &s, &aad, open, sizeof(open))
           == -1, "base64 with '=' inside fails");

    memcpy(tmp + 1, out, n - 1);
    tmp[0] = ' ';
    tap_ok(ngx_http_objspace_unseal(test_key, &s, &aad, open, sizeof(open))
           == -1, "base64 with a blank fails");

    s = tap_str("");
    tap_ok(ngx_http_objspace_unseal(test_key, &s, &aad, open, sizeof(open))
           == -1, "empty sealed value fails");

    s = tap_str("AAAA");
    tap_ok(ngx_http_objspace_unseal(test_key, &s, &aad, open, sizeof(open))
           == -1, "tiny sealed value fails");
}


static void
test_vectors(const char *path)
{
    size_t        i, klen, nlen;
    ssize_t       n;
    json_t       *root, *vecs, *v;
    ngx_str_t     sealed, aad, plain;
    const char   *desc, *p;
    json_error_t  err;
    u_char        key[32], nonce[12], open[256];
    u_char        out[NGX_HTTP_OBJSPACE_SEALED_LEN(256)];

    root = json_load_file(path, 0, &err);
    vecs = root ? json_object_get(root, "vectors") : NULL;

    if (!json_is_array(vecs) || json_array_size(vecs) == 0) {
        tap_ok(0, "load %s: %s", path, root ? "no vectors" : err.text);
        json_decref(root);
        return;
    }

    json_array_foreach(vecs, i, v) {
        desc = json_string_value(json_object_get(v, "description"));
        klen = unhex(json_string_value(json_object_get(v, "key")), key, 32);
        nlen = unhex(json_string_value(json_object_get(v, "nonce")),
                     nonce, 12);

        p = json_string_value(json_object_get(v, "sealed"));
        sealed.data = (u_char *) p;
        sealed.len = strlen(p);

        p = json_string_value(json_object_get(v, "aad"));
        aad.data = (u_char *) p;
        aad.len = strlen(p);

        p = json_string_value(json_object_get(v, "plaintext"));
        plain.data = (u_char *) p;
        plain.len = strlen(p);

        n = ngx_http_objspace_unseal(key, &sealed, &aad, open, sizeof(open));

        tap_ok(klen == 32 && n == (ssize_t) plain.len
               && memcmp(open, plain.data, plain.len) == 0,
               "vector \"%s\": unseal gives the plaintext", desc);

        n = ngx_http_objspace_seal_nonce(key, nonce, &plain, &aad, out,
                                         sizeof(out));

        tap_ok(nlen == 12 && n == (ssize_t) sealed.len
               && memcmp(out, sealed.data, sealed.len) == 0,
               "vector \"%s\": seal with its nonce gives the sealed text",
               desc);
    }

    json_decref(root);
}


/*
 * Copyright (C) objspace authors
 *
 * Sealed secrets (docs/redis-schema.md, "Sealed secrets"):
 *
 *     sealed = base64( 0x01 || nonce[12] || ciphertext || tag[16] )
 *
 * AES-256-GCM through OpenSSL EVP, a fresh random 96-bit nonce per seal,
 * and an AAD string that binds the value to the record holding it.  The tag
 * comparison is GCM's own (constant time inside EVP_DecryptFinal_ex).
 *
 * Only nginx types and macros are used here, no nginx functions, so the
 * file links into unit tests and tools without nginx.  Buffers that held
 * plaintext are wiped with OPENSSL_cleanse().
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ngx_http_objspace_module.h"


#define NGX_HTTP_OBJSPACE_SEAL_VERSION    0x01
#define NGX_HTTP_OBJSPACE_SEAL_NONCE_LEN  12
#define NGX_HTTP_OBJSPACE_SEAL_TAG_LEN    16
#define NGX_HTTP_OBJSPACE_SEAL_OVERHEAD                                       \
    (1 + NGX_HTTP_OBJSPACE_SEAL_NONCE_LEN + NGX_HTTP_OBJSPACE_SEAL_TAG_LEN)

/* decoded sealed values larger than this are refused (secrets are small) */
#define NGX_HTTP_OBJSPACE_SEAL_MAX_RAW    4096


static ssize_t ngx_http_objspace_seal_nonce(const u_char key[32],
    const u_char nonce[NGX_HTTP_OBJSPACE_SEAL_NONCE_LEN], ngx_str_t *plain,
    ngx_str_t *aad, u_char *out, size_t cap);
static ssize_t ngx_http_objspace_base64_decode(u_char *dst, size_t cap,
    ngx_str_t *src);


/*
 * Opens a sealed value.  Crypto: AES-256-GCM decrypt of
 * base64(0x01 || nonce || ct || tag) with AAD; the GCM tag check is done by
 * EVP_DecryptFinal_ex.  Writes the plaintext into out (cap bytes) and
 * returns its length, or -1 on any failure (bad base64, unknown version,
 * too short, too long for cap, wrong key or AAD, tampered data).  On
 * failure nothing is left in out; on success the caller wipes out.
 */

ssize_t
ngx_http_objspace_unseal(const u_char key[32], ngx_str_t *sealed,
    ngx_str_t *aad, u_char *out, size_t cap)
{
    int              len, n;
    size_t           ct_len;
    ssize_t          raw_len, rc;
    EVP_CIPHER_CTX  *ctx;
    u_char           raw[NGX_HTTP_OBJSPACE_SEAL_MAX_RAW];

    rc = -1;
    ctx = NULL;

    raw_len = ngx_http_objspace_base64_decode(raw, sizeof(raw), sealed);

    if (raw_len < NGX_HTTP_OBJSPACE_SEAL_OVERHEAD
        || raw[0] != NGX_HTTP_OBJSPACE_SEAL_VERSION)
    {
        goto done;
    }

    ct_len = raw_len - NGX_HTTP_OBJSPACE_SEAL_OVERHEAD;

    if (ct_len > cap || ct_len > INT_MAX || aad->len > INT_MAX) {
        goto done;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        goto done;
    }

    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
                               NGX_HTTP_OBJSPACE_SEAL_NONCE_LEN, NULL) != 1
        || EVP_DecryptInit_ex(ctx, NULL, NULL, key, raw + 1) != 1)
    {
        goto done;
    }

    if (aad->len
        && EVP_DecryptUpdate(ctx, NULL, &len, aad->data, (int) aad->len) != 1)
    {
        goto done;
    }

    len = 0;

    if (ct_len
        && EVP_DecryptUpdate(ctx, out, &len,
                             raw + 1 + NGX_HTTP_OBJSPACE_SEAL_NONCE_LEN,
                             (int) ct_len) != 1)
    {
        goto failed;
    }

    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
                            NGX_HTTP_OBJSPACE_SEAL_TAG_LEN,
                            raw + raw_len - NGX_HTTP_OBJSPACE_SEAL_TAG_LEN)
        != 1)
    {
        goto failed;
    }

    n = 0;

    if (EVP_DecryptFinal_ex(ctx, out + len, &n) != 1) {
        goto failed;
    }

    rc = len + n;
    goto done;

failed:

    /* GCM releases plaintext before the tag is checked: take it back */
    OPENSSL_cleanse(out, ct_len);

done:

    if (ctx) {
        EVP_CIPHER_CTX_free(ctx);
    }

    OPENSSL_cleanse(raw, sizeof(raw));

    return rc;
}


/*
 * Seals plain with a fresh random nonce (RAND_bytes).  Crypto: AES-256-GCM
 * encrypt, output base64(0x01 || nonce || ct || tag), NUL-terminated.  out
 * needs NGX_HTTP_OBJSPACE_SEALED_LEN(plain->len) bytes.  Returns the length
 * of the base64 text (without the NUL) or -1.
 */

ssize_t
ngx_http_objspace_seal(const u_char key[32], ngx_str_t *plain,
    ngx_str_t *aad, u_char *out, size_t cap)
{
    ssize_t  rc;
    u_char   nonce[NGX_HTTP_OBJSPACE_SEAL_NONCE_LEN];

    if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
        return -1;
    }

    rc = ngx_http_objspace_seal_nonce(key, nonce, plain, aad, out, cap);

    OPENSSL_cleanse(nonce, sizeof(nonce));

    return rc;
}


/*
 * Seal with a given nonce.  Only ngx_http_objspace_seal() (random nonce)
 * and the unit tests (fixed vectors) call this: a GCM nonce must never be
 * reused under one key.
 */

static ssize_t
ngx_http_objspace_seal_nonce(const u_char key[32],
    const u_char nonce[NGX_HTTP_OBJSPACE_SEAL_NONCE_LEN], ngx_str_t *plain,
    ngx_str_t *aad, u_char *out, size_t cap)
{
    int              len, n;
    size_t           raw_len;
    ssize_t          rc;
    EVP_CIPHER_CTX  *ctx;
    u_char           raw[NGX_HTTP_OBJSPACE_SEAL_MAX_RAW];

    rc = -1;
    ctx = NULL;

    if (plain->len > NGX_HTTP_OBJSPACE_SEAL_MAX_RAW
                     - NGX_HTTP_OBJSPACE_SEAL_OVERHEAD
        || aad->len > INT_MAX
        || cap < NGX_HTTP_OBJSPACE_SEALED_LEN(plain->len))
    {
        return -1;
    }

    raw_len = plain->len + NGX_HTTP_OBJSPACE_SEAL_OVERHEAD;

    raw[0] = NGX_HTTP_OBJSPACE_SEAL_VERSION;
    memcpy(raw + 1, nonce, NGX_HTTP_OBJSPACE_SEAL_NONCE_LEN);

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        goto done;
    }

    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
                               NGX_HTTP_OBJSPACE_SEAL_NONCE_LEN, NULL) != 1
        || EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1)
    {
        goto done;
    }

    if (aad->len
        && EVP_EncryptUpdate(ctx, NULL, &len, aad->data, (int) aad->len) != 1)
    {
        goto done;
    }

    len = 0;

    if (plain->len
        && EVP_EncryptUpdate(ctx, raw + 1 + NGX_HTTP_OBJSPACE_SEAL_NONCE_LEN,
                             &len, plain->data, (int) plain->len) != 1)
    {
        goto done;
    }

    n = 0;

    if (EVP_EncryptFinal_ex(ctx,
                            raw + 1 + NGX_HTTP_OBJSPACE_SEAL_NONCE_LEN + len,
                            &n) != 1
        || (size_t) (len + n) != plain->len)
    {
        goto done;
    }

    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
                            NGX_HTTP_OBJSPACE_SEAL_TAG_LEN,
                            raw + raw_len - NGX_HTTP_OBJSPACE_SEAL_TAG_LEN)
        != 1)
    {
        goto done;
    }

    rc = EVP_EncodeBlock(out, raw, (int) raw_len);

done:

    if (ctx) {
        EVP_CIPHER_CTX_free(ctx);
    }

    OPENSSL_cleanse(raw, sizeof(raw));

    return rc;
}


/*
 * Strict base64 (RFC 4648 alphabet, padded, no whitespace) into dst.
 * EVP_DecodeBlock() counts padding as zero bytes: they are taken off here.
 * Returns the decoded length or -1.
 */

static ssize_t
ngx_http_objspace_base64_decode(u_char *dst, size_t cap, ngx_str_t *src)
{
    int      n;
    size_t   i, pad;
    u_char   c;

    if (src->len == 0 || src->len % 4 || src->len / 4 * 3 > cap
        || src->len > INT_MAX)
    {
        return -1;
    }

    pad = 0;

    if (src->data[src->len - 1] == '=') {
        pad++;

        if (src->data[src->len - 2] == '=') {
            pad++;
        }
    }

    /* EVP_DecodeBlock() would skip blanks and accept '=' mid-stream */

    for (i = 0; i < src->len - pad; i++) {
        c = src->data[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '+' || c == '/'))
        {
            return -1;
        }
    }

    n = EVP_DecodeBlock(dst, src->data, (int) src->len);

    if (n < 0 || (size_t) n != src->len / 4 * 3) {
        return -1;
    }

    return n - pad;
}

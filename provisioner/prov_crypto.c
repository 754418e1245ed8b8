
/*
 * objspace-provisioner: secrets, identifiers and sealed values.
 *
 * Sealed format (docs/redis-schema.md, "Sealed secrets"):
 *     base64( 0x01 || nonce[12] || ciphertext || tag[16] )
 * AES-256-GCM, a fresh random nonce per seal, AAD = the record binding
 * string ("ak:{access_key_id}", "ak-prev:{access_key_id}",
 * "backend:{space_id}").
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <errno.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include <openssl/sha.h>

#include "prov_crypto.h"


static int prov_hexval(int c);
static void prov_hex_id(const char *prefix, const unsigned char *rnd,
    char *out);


static const char  prov_b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char  prov_alnum[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";


/* err from OpenSSL's error queue (which it clears), for "what" */

void
prov_crypto_error(prov_err_t *err, const char *what)
{
    unsigned long  e;
    char           buf[256];

    e = ERR_get_error();

    if (e) {
        ERR_error_string_n(e, buf, sizeof(buf));
        prov_err_set(err, PROV_E_CRYPTO, "%s: %s", what, buf);

    } else {
        prov_err_set(err, PROV_E_CRYPTO, "%s failed", what);
    }

    ERR_clear_error();
}


/* OpenSSL's CSPRNG; never falls back to anything weaker */

int
prov_random(void *buf, size_t n, prov_err_t *err)
{
    if (RAND_bytes(buf, (int) n) != 1) {
        prov_crypto_error(err, "RAND_bytes");
        return PROV_ERR;
    }

    return PROV_OK;
}


int
prov_gen_access_key_id(const char *prefix, char *out, prov_err_t *err)
{
    size_t         i, plen, n;
    unsigned char  rnd[PROV_ACCESS_KEY_LEN];

    plen = strlen(prefix);
    n = PROV_ACCESS_KEY_LEN - plen;

    if (prov_random(rnd, n, err) != PROV_OK) {
        return PROV_ERR;
    }

    memcpy(out, prefix, plen);

    /* 32 symbols: masking a uniform byte keeps it uniform */
    for (i = 0; i < n; i++) {
        out[plen + i] = prov_b32[rnd[i] & 31];
    }

    out[PROV_ACCESS_KEY_LEN] = '\0';
    prov_memzero(rnd, sizeof(rnd));

    return PROV_OK;
}


int
prov_gen_secret(char *out, prov_err_t *err)
{
    size_t         i, n;
    unsigned char  rnd[64];

    n = 0;

    while (n < PROV_SECRET_LEN) {
        if (prov_random(rnd, sizeof(rnd), err) != PROV_OK) {
            return PROV_ERR;
        }

        /* rejection sampling: 248 = 4 * 62, so no modulo bias */
        for (i = 0; i < sizeof(rnd) && n < PROV_SECRET_LEN; i++) {
            if (rnd[i] < 248) {
                out[n++] = prov_alnum[rnd[i] % 62];
            }
        }
    }

    out[PROV_SECRET_LEN] = '\0';
    prov_memzero(rnd, sizeof(rnd));

    return PROV_OK;
}


int
prov_gen_id(const char *prefix, char *out, size_t size, prov_err_t *err)
{
    unsigned char  rnd[PROV_ID_HEX_LEN / 2];

    if (size < strlen(prefix) + PROV_ID_HEX_LEN + 1) {
        prov_err_set(err, PROV_E_SYS, "id buffer too small");
        return PROV_ERR;
    }

    if (prov_random(rnd, sizeof(rnd), err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_hex_id(prefix, rnd, out);

    return PROV_OK;
}


int
prov_idgen_next(prov_idgen_t *g, const char *prefix, char *out, size_t size,
    prov_err_t *err)
{
    if (size < strlen(prefix) + PROV_ID_HEX_LEN + 1) {
        prov_err_set(err, PROV_E_SYS, "id buffer too small");
        return PROV_ERR;
    }

    if (g->left == 0) {
        if (prov_random(g->rnd, sizeof(g->rnd), err) != PROV_OK) {
            return PROV_ERR;
        }

        g->left = PROV_ID_BATCH;
    }

    g->left--;
    prov_hex_id(prefix, g->rnd + g->left * (PROV_ID_HEX_LEN / 2), out);

    return PROV_OK;
}


/* prefix + PROV_ID_HEX_LEN lowercase hex of rnd; out is large enough */

static void
prov_hex_id(const char *prefix, const unsigned char *rnd, char *out)
{
    size_t  i, plen;
    static const char  hex[] = "0123456789abcdef";

    plen = strlen(prefix);
    memcpy(out, prefix, plen);

    for (i = 0; i < PROV_ID_HEX_LEN / 2; i++) {
        out[plen + 2 * i] = hex[rnd[i] >> 4];
        out[plen + 2 * i + 1] = hex[rnd[i] & 0x0f];
    }

    out[plen + PROV_ID_HEX_LEN] = '\0';
}


static int
prov_hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c = tolower(c);

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


int
prov_key_parse(const char *hex, prov_key_t *key, prov_err_t *err)
{
    int     hi, lo;
    size_t  i, n;

    n = strlen(hex);

    while (n && (hex[n - 1] == '\n' || hex[n - 1] == '\r')) {
        n--;
    }

    if (n != 2 * PROV_KEY_LEN) {
        prov_err_set(err, PROV_E_CONFIG,
                     "key must be %d hex characters, found %zu",
                     2 * PROV_KEY_LEN, n);
        return PROV_ERR;
    }

    for (i = 0; i < PROV_KEY_LEN; i++) {
        hi = prov_hexval((unsigned char) hex[2 * i]);
        lo = prov_hexval((unsigned char) hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            prov_memzero(key, sizeof(*key));
            prov_err_set(err, PROV_E_CONFIG, "key is not hex");
            return PROV_ERR;
        }

        key->key[i] = (unsigned char) (hi << 4 | lo);
    }

    return PROV_OK;
}


/*
 * Reads the key file: 64 hex characters, one line, optional trailing
 * newline (docs/redis-schema.md).  The buffer is wiped afterwards.
 */

int
prov_key_load(const char *path, prov_key_t *key, prov_err_t *err)
{
    int     rc;
    FILE   *f;
    char    buf[2 * PROV_KEY_LEN + 8];
    size_t  n;

    rc = PROV_ERR;

    f = fopen(path, "r");
    if (f == NULL) {
        prov_err_set(err, PROV_E_CONFIG, "key file \"%s\": %s", path,
                     strerror(errno));
        return PROV_ERR;
    }

    n = fread(buf, 1, sizeof(buf) - 1, f);
    if (ferror(f)) {
        prov_err_set(err, PROV_E_CONFIG, "key file \"%s\": read error", path);
        goto done;
    }

    buf[n] = '\0';

    if (prov_key_parse(buf, key, err) != PROV_OK) {
        prov_err_prefix(err, "key file \"%s\"", path);
        goto done;
    }

    rc = PROV_OK;

done:

    prov_memzero(buf, sizeof(buf));
    fclose(f);

    return rc;
}


void
prov_key_wipe(prov_key_t *key)
{
    prov_memzero(key, sizeof(*key));
}


/*
 * seal(plaintext, aad): AES-256-GCM with a fresh 96-bit nonce from the
 * CSPRNG; *out is a malloc()ed NUL-terminated base64 string.  A one-off
 * prov_sealer_t.
 */

int
prov_seal(const prov_key_t *key, const char *plain, size_t len,
    const char *aad, char **out, prov_err_t *err)
{
    int            rc;
    prov_sealer_t  s;

    if (prov_sealer_init(&s, key, err) != PROV_OK) {
        return PROV_ERR;
    }

    s.batch = 1;
    rc = prov_sealer_seal(&s, plain, len, aad, out, err);
    prov_sealer_free(&s);

    return rc;
}


/*
 * A sealer keeps one AES-256-GCM context keyed with the key file and draws
 * nonces from the CSPRNG PROV_SEAL_BATCH at a time: the same values as one
 * RAND_bytes call per seal, without a cipher fetch, key setup and DRBG
 * call per secret (a full sync re-seals 100,000 of them).  Every nonce is
 * used once; the key schedule is wiped when the context is freed.
 */

int
prov_sealer_init(prov_sealer_t *s, const prov_key_t *key, prov_err_t *err)
{
    memset(s, 0, sizeof(*s));
    s->batch = PROV_SEAL_BATCH;

    s->ctx = EVP_CIPHER_CTX_new();

    if (s->ctx == NULL
        || EVP_EncryptInit_ex(s->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL)
           != 1
        || EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_SET_IVLEN,
                               PROV_SEAL_NONCE_LEN, NULL) != 1
        || EVP_EncryptInit_ex(s->ctx, NULL, NULL, key->key, NULL) != 1)
    {
        prov_crypto_error(err, "AES-256-GCM setup");
        EVP_CIPHER_CTX_free(s->ctx);
        s->ctx = NULL;
        return PROV_ERR;
    }

    return PROV_OK;
}


int
prov_sealer_seal(prov_sealer_t *s, const char *plain, size_t len,
    const char *aad, char **out, prov_err_t *err)
{
    int             rc, n;
    size_t          raw_len;
    unsigned char  *raw, *p;
    char           *b64;

    raw_len = 1 + PROV_SEAL_NONCE_LEN + len + PROV_SEAL_TAG_LEN;

    raw = malloc(raw_len);
    if (raw == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    rc = PROV_ERR;
    raw[0] = PROV_SEAL_VERSION;

    if (s->left == 0) {
        if (prov_random(s->nonces, s->batch * PROV_SEAL_NONCE_LEN, err)
            != PROV_OK)
        {
            goto done;
        }

        s->left = s->batch;
    }

    s->left--;
    memcpy(raw + 1, s->nonces + s->left * PROV_SEAL_NONCE_LEN,
           PROV_SEAL_NONCE_LEN);

    p = raw + 1 + PROV_SEAL_NONCE_LEN;

    if (EVP_EncryptInit_ex(s->ctx, NULL, NULL, NULL, raw + 1) != 1
        || EVP_EncryptUpdate(s->ctx, NULL, &n, (const unsigned char *) aad,
                             (int) strlen(aad)) != 1
        || EVP_EncryptUpdate(s->ctx, p, &n, (const unsigned char *) plain,
                             (int) len) != 1
        || EVP_EncryptFinal_ex(s->ctx, p + n, &n) != 1
        || EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG,
                               PROV_SEAL_TAG_LEN, p + len) != 1)
    {
        prov_crypto_error(err, "AES-256-GCM seal");
        goto done;
    }

    b64 = malloc(4 * ((raw_len + 2) / 3) + 1);
    if (b64 == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    EVP_EncodeBlock((unsigned char *) b64, raw, (int) raw_len);

    *out = b64;
    rc = PROV_OK;

done:

    prov_memzero(raw, raw_len);
    free(raw);

    return rc;
}


void
prov_sealer_free(prov_sealer_t *s)
{
    EVP_CIPHER_CTX_free(s->ctx);
    memset(s, 0, sizeof(*s));
}


/*
 * unseal: refuses anything but version 0x01, a short value, bad base64,
 * or a tag mismatch (wrong key, wrong AAD, tampered); the error message
 * never includes the value.  plain receives the secret: callers wipe it.
 */

int
prov_unseal(const prov_key_t *key, const char *sealed, const char *aad,
    prov_buf_t *plain, prov_err_t *err)
{
    int              rc, n, dec;
    size_t           slen, pad, raw_len, ct_len;
    unsigned char   *raw, *pt;
    EVP_CIPHER_CTX  *ctx;

    rc = PROV_ERR;
    ctx = NULL;
    pt = NULL;
    ct_len = 0;

    slen = strlen(sealed);

    if (slen == 0 || slen % 4 != 0) {
        prov_err_set(err, PROV_E_CRYPTO, "sealed value is not base64");
        return PROV_ERR;
    }

    raw = malloc(slen / 4 * 3 + 1);
    if (raw == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    dec = EVP_DecodeBlock(raw, (const unsigned char *) sealed, (int) slen);
    if (dec < 0) {
        prov_err_set(err, PROV_E_CRYPTO, "sealed value is not base64");
        goto done;
    }

    pad = 0;
    if (sealed[slen - 1] == '=') {
        pad++;
        if (sealed[slen - 2] == '=') {
            pad++;
        }
    }

    raw_len = (size_t) dec - pad;

    if (raw_len < 1 + PROV_SEAL_NONCE_LEN + PROV_SEAL_TAG_LEN) {
        prov_err_set(err, PROV_E_CRYPTO, "sealed value too short");
        goto done;
    }

    if (raw[0] != PROV_SEAL_VERSION) {
        prov_err_set(err, PROV_E_CRYPTO, "unknown sealed value version %d",
                     raw[0]);
        goto done;
    }

    ct_len = raw_len - 1 - PROV_SEAL_NONCE_LEN - PROV_SEAL_TAG_LEN;

    pt = malloc(ct_len + 1);
    if (pt == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        prov_crypto_error(err, "EVP_CIPHER_CTX_new");
        goto done;
    }

    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
                               PROV_SEAL_NONCE_LEN, NULL) != 1
        || EVP_DecryptInit_ex(ctx, NULL, NULL, key->key, raw + 1) != 1
        || EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *) aad,
                             (int) strlen(aad)) != 1
        || EVP_DecryptUpdate(ctx, pt, &n, raw + 1 + PROV_SEAL_NONCE_LEN,
                             (int) ct_len) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, PROV_SEAL_TAG_LEN,
                               raw + raw_len - PROV_SEAL_TAG_LEN) != 1)
    {
        prov_crypto_error(err, "AES-256-GCM unseal");
        goto done;
    }

    if (EVP_DecryptFinal_ex(ctx, pt + n, &n) != 1) {
        ERR_clear_error();
        prov_err_set(err, PROV_E_CRYPTO,
                     "sealed value does not open (wrong key, wrong record "
                     "or tampered)");
        goto done;
    }

    if (prov_buf_append(plain, pt, ct_len) != PROV_OK) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    rc = PROV_OK;

done:

    if (pt) {
        prov_memzero(pt, ct_len + 1);
        free(pt);
    }

    EVP_CIPHER_CTX_free(ctx);
    prov_memzero(raw, slen / 4 * 3 + 1);
    free(raw);

    return rc;
}


/* first 8 hex chars of SHA-256(access key id): stable, not reversible */

void
prov_key_fingerprint(const char *access_key_id, char *out, size_t size)
{
    unsigned char  md[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *) access_key_id, strlen(access_key_id), md);
    snprintf(out, size, "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
}


/*
 * objspace-provisioner: the secret hand-over from RustShare.
 *
 * Envelope (JSON object, docs/rustshare-api.md):
 *   alg  "RSA-OAEP-256+A256GCM"
 *   kid  16 hex: which provisioner key it is sealed to
 *   dek  the data key's id in the response's "data_keys", whose value is
 *        ek = base64(RSA-OAEP(SHA-256, MGF1-SHA-256, no label)(DEK[32]))
 *   iv   base64(12 random bytes)
 *   ct   base64(AES-256-GCM(DEK, iv, aad, secret) || tag[16])
 * with aad = "objspace-handover-v1:" + access key id.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/err.h>
#include <openssl/sha.h>

#include "prov_handover.h"
#include "prov_crypto.h"


#define PROV_DEK_CACHE  16
#define PROV_EK_MAX     1024        /* base64 of an RSA-8192 block, about */
#define PROV_CT_MAX     1024


/*
 * An unwrapped data key, kept as an AES-256-GCM decryption context keyed
 * with it (OpenSSL wipes the key schedule when the context is freed): one
 * RSA operation and one key setup per DEK, not per secret.
 */

typedef struct {
    char            *ek;            /* the wrapped DEK as sent (public) */
    size_t           ek_len;
    EVP_CIPHER_CTX  *gcm;
} prov_dek_t;


struct prov_handover_s {
    EVP_PKEY    *pkey;
    char         kid[PROV_HANDOVER_KID_LEN + 1];
    prov_dek_t   cache[PROV_DEK_CACHE];
    unsigned     next;
    unsigned     last;              /* the entry that served last */
};


static int prov_ho_kid(EVP_PKEY *pkey, char *kid, prov_err_t *err);
static int prov_b64_decode_to(const char *s, unsigned char *out, size_t cap,
    size_t *len);
static char *prov_b64_encode(const unsigned char *p, size_t len);
static void prov_ho_dek_free(prov_dek_t *d);
static EVP_CIPHER_CTX *prov_ho_unwrap(prov_handover_t *h, const char *ek,
    prov_err_t *err);
static int prov_ho_gcm(int enc, const unsigned char *dek,
    const unsigned char *iv, const char *aad, const unsigned char *in,
    size_t len, unsigned char *out, unsigned char *tag);


/* kid: the first 8 bytes (16 hex) of SHA-256 over the DER public key */

static int
prov_ho_kid(EVP_PKEY *pkey, char *kid, prov_err_t *err)
{
    int             i, n;
    unsigned char  *der, md[SHA256_DIGEST_LENGTH];

    der = NULL;
    n = i2d_PUBKEY(pkey, &der);
    if (n <= 0) {
        prov_crypto_error(err, "encoding the public key");
        return PROV_ERR;
    }

    SHA256(der, (size_t) n, md);
    OPENSSL_free(der);

    for (i = 0; i < PROV_HANDOVER_KID_LEN / 2; i++) {
        snprintf(kid + 2 * i, 3, "%02x", md[i]);
    }

    return PROV_OK;
}


/* standard base64 with padding into out (cap bytes); -1 on anything else */

static int
prov_b64_decode_to(const char *s, unsigned char *out, size_t cap,
    size_t *len)
{
    int     dec;
    size_t  slen, pad;

    slen = strlen(s);

    if (slen == 0 || slen % 4 != 0 || slen / 4 * 3 > cap) {
        return -1;
    }

    dec = EVP_DecodeBlock(out, (const unsigned char *) s, (int) slen);
    if (dec < 0) {
        return -1;
    }

    pad = (s[slen - 1] == '=') + (s[slen - 2] == '=');
    *len = (size_t) dec - pad;

    return 0;
}


static char *
prov_b64_encode(const unsigned char *p, size_t len)
{
    char  *s;

    s = malloc(4 * ((len + 2) / 3) + 1);
    if (s) {
        EVP_EncodeBlock((unsigned char *) s, p, (int) len);
    }

    return s;
}


int
prov_handover_load(prov_handover_t **hp, const char *path, prov_err_t *err)
{
    FILE             *f;
    EVP_PKEY         *pkey;
    prov_handover_t  *h;

    *hp = NULL;

    f = fopen(path, "r");
    if (f == NULL) {
        prov_err_set(err, PROV_E_CONFIG, "hand-over key \"%s\": %s", path,
                     strerror(errno));
        return PROV_ERR;
    }

    pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);

    if (pkey == NULL) {
        ERR_clear_error();
        prov_err_set(err, PROV_E_CONFIG, "hand-over key \"%s\" is not a PEM "
                     "private key", path);
        return PROV_ERR;
    }

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA
        || EVP_PKEY_get_bits(pkey) < 2048)
    {
        EVP_PKEY_free(pkey);
        prov_err_set(err, PROV_E_CONFIG, "hand-over key \"%s\" must be an "
                     "RSA key of at least 2048 bits", path);
        return PROV_ERR;
    }

    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        EVP_PKEY_free(pkey);
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    h->pkey = pkey;

    if (prov_ho_kid(pkey, h->kid, err) != PROV_OK) {
        prov_handover_free(h);
        return PROV_ERR;
    }

    *hp = h;

    return PROV_OK;
}


void
prov_handover_free(prov_handover_t *h)
{
    size_t  i;

    if (h == NULL) {
        return;
    }

    for (i = 0; i < PROV_DEK_CACHE; i++) {
        prov_ho_dek_free(&h->cache[i]);
    }

    EVP_PKEY_free(h->pkey);
    prov_memzero(h, sizeof(*h));
    free(h);
}


const char *
prov_handover_kid(prov_handover_t *h)
{
    return h->kid;
}


int
prov_handover_public_pem(prov_handover_t *h, prov_buf_t *out,
    prov_err_t *err)
{
    int    rc;
    BIO   *bio;
    char  *p;
    long   n;

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, h->pkey) != 1) {
        BIO_free(bio);
        prov_crypto_error(err, "writing the public key");
        return PROV_ERR;
    }

    n = BIO_get_mem_data(bio, &p);
    rc = prov_buf_append(out, p, (size_t) n);
    BIO_free(bio);

    if (rc != PROV_OK) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
    }

    return rc;
}


static void
prov_ho_dek_free(prov_dek_t *d)
{
    EVP_CIPHER_CTX_free(d->gcm);
    free(d->ek);
    memset(d, 0, sizeof(*d));
}


/*
 * RSA-OAEP unwrap of the DEK, through a small cache keyed by ek itself (a
 * public value; compared whole): a DEK RustShare reuses costs one RSA
 * private operation and one AES key setup, not one per secret.  Returns a
 * borrowed AES-256-GCM decryption context keyed with the DEK (the IV is
 * set per envelope), or NULL with err set.  The DEK itself never leaves
 * this function but inside that context; the cache lives in this process's
 * memory only.
 */

static EVP_CIPHER_CTX *
prov_ho_unwrap(prov_handover_t *h, const char *ek, prov_err_t *err)
{
    size_t           len, outlen, i, ek_len;
    unsigned char    raw[PROV_EK_MAX], out[512];
    prov_dek_t      *d;
    EVP_PKEY_CTX    *pctx;
    EVP_CIPHER_CTX  *gcm;

    ek_len = strlen(ek);
    d = &h->cache[h->last % PROV_DEK_CACHE];

    if (d->gcm && d->ek_len == ek_len && memcmp(d->ek, ek, ek_len) == 0) {
        return d->gcm;
    }

    for (i = 0; i < PROV_DEK_CACHE; i++) {
        d = &h->cache[i];

        if (d->gcm && d->ek_len == ek_len && memcmp(d->ek, ek, ek_len) == 0)
        {
            h->last = (unsigned) i;
            return d->gcm;
        }
    }

    if (prov_b64_decode_to(ek, raw, sizeof(raw), &len) != 0) {
        prov_err_set(err, PROV_E_CRYPTO, "envelope \"ek\" is not base64");
        return NULL;
    }

    gcm = NULL;
    outlen = sizeof(out);

    pctx = EVP_PKEY_CTX_new(h->pkey, NULL);

    if (pctx == NULL
        || EVP_PKEY_decrypt_init(pctx) != 1
        || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) != 1
        || EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) != 1
        || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1)
    {
        prov_crypto_error(err, "RSA-OAEP setup");
        goto done;
    }

    if (EVP_PKEY_decrypt(pctx, out, &outlen, raw, len) != 1
        || outlen != PROV_HANDOVER_DEK_LEN)
    {
        ERR_clear_error();
        prov_err_set(err, PROV_E_CRYPTO, "envelope key does not unwrap "
                     "(sealed to another key, or tampered)");
        goto done;
    }

    gcm = EVP_CIPHER_CTX_new();

    if (gcm == NULL
        || EVP_DecryptInit_ex(gcm, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_GCM_SET_IVLEN,
                               PROV_HANDOVER_IV_LEN, NULL) != 1
        || EVP_DecryptInit_ex(gcm, NULL, NULL, out, NULL) != 1)
    {
        prov_crypto_error(err, "AES-256-GCM setup");
        EVP_CIPHER_CTX_free(gcm);
        gcm = NULL;
        goto done;
    }

    i = h->next++ % PROV_DEK_CACHE;
    d = &h->cache[i];
    prov_ho_dek_free(d);

    d->ek = strdup(ek);
    if (d->ek == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        EVP_CIPHER_CTX_free(gcm);
        gcm = NULL;
        goto done;
    }

    d->ek_len = ek_len;
    d->gcm = gcm;
    h->last = (unsigned) i;

done:

    prov_memzero(out, sizeof(out));
    EVP_PKEY_CTX_free(pctx);

    return gcm;
}


/* AES-256-GCM in one go; 1 ok, 0 failure (incl. a tag mismatch) */

static int
prov_ho_gcm(int enc, const unsigned char *dek, const unsigned char *iv,
    const char *aad, const unsigned char *in, size_t len, unsigned char *out,
    unsigned char *tag)
{
    int               n, ok;
    EVP_CIPHER_CTX   *ctx;

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return 0;
    }

    ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc)
         == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN,
                                PROV_HANDOVER_IV_LEN, NULL) == 1
         && EVP_CipherInit_ex(ctx, NULL, NULL, dek, iv, enc) == 1
         && EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *) aad,
                             (int) strlen(aad)) == 1
         && EVP_CipherUpdate(ctx, out, &n, in, (int) len) == 1;

    if (ok && !enc) {
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
                                 PROV_HANDOVER_TAG_LEN, tag) == 1;
    }

    ok = ok && EVP_CipherFinal_ex(ctx, out + n, &n) == 1;

    if (ok && enc) {
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
                                 PROV_HANDOVER_TAG_LEN, tag) == 1;
    }

    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();

    return ok;
}


int
prov_handover_open(prov_handover_t *h, json_t *env, json_t *keys,
    const char *access_key_id, prov_buf_t *plain, prov_err_t *err)
{
    int              rc, n;
    char             aad[128];
    size_t           iv_len, ct_len;
    unsigned char    iv[PROV_HANDOVER_IV_LEN + 3], ct[PROV_CT_MAX + 3];
    unsigned char    pt[PROV_CT_MAX];
    const char      *alg, *kid, *dek_id, *ek, *siv, *sct;
    EVP_CIPHER_CTX  *gcm;

    ct_len = 0;
    rc = PROV_ERR;

    if (!json_is_object(env)) {
        prov_err_set(err, PROV_E_INVAL, "secret envelope is not an object");
        return PROV_ERR;
    }

    alg = json_string_value(json_object_get(env, "alg"));
    kid = json_string_value(json_object_get(env, "kid"));
    dek_id = json_string_value(json_object_get(env, "dek"));
    siv = json_string_value(json_object_get(env, "iv"));
    sct = json_string_value(json_object_get(env, "ct"));

    if (alg == NULL || kid == NULL || dek_id == NULL || siv == NULL
        || sct == NULL || json_object_size(env) != 5)
    {
        prov_err_set(err, PROV_E_INVAL, "secret envelope needs exactly "
                     "\"alg\", \"kid\", \"dek\", \"iv\" and \"ct\"");
        return PROV_ERR;
    }

    ek = json_string_value(json_object_get(keys, dek_id));
    if (ek == NULL) {
        prov_err_set(err, PROV_E_INVAL, "secret envelope: data key "
                     "\"%.64s\" is not in the response's \"data_keys\"",
                     dek_id);
        return PROV_ERR;
    }

    if (strcmp(alg, PROV_HANDOVER_ALG) != 0) {
        prov_err_set(err, PROV_E_INVAL, "secret envelope: unsupported alg "
                     "\"%.40s\" (expected " PROV_HANDOVER_ALG ")", alg);
        return PROV_ERR;
    }

    if (strcmp(kid, h->kid) != 0) {
        prov_err_set(err, PROV_E_CRYPTO, "secret envelope is sealed to key "
                     "\"%.20s\", this provisioner's key is \"%s\" (see "
                     "`handover pubkey`)", kid, h->kid);
        return PROV_ERR;
    }

    if (prov_b64_decode_to(siv, iv, sizeof(iv), &iv_len) != 0
        || iv_len != PROV_HANDOVER_IV_LEN)
    {
        prov_err_set(err, PROV_E_INVAL, "secret envelope: \"iv\" must be 12 "
                     "bytes of base64");
        return PROV_ERR;
    }

    if (prov_b64_decode_to(sct, ct, sizeof(ct), &ct_len) != 0
        || ct_len <= PROV_HANDOVER_TAG_LEN || ct_len > PROV_CT_MAX)
    {
        prov_err_set(err, PROV_E_INVAL, "secret envelope: \"ct\" must be "
                     "base64 of ciphertext and a 16-byte tag");
        return PROV_ERR;
    }

    gcm = prov_ho_unwrap(h, ek, err);
    if (gcm == NULL) {
        return PROV_ERR;
    }

    ct_len -= PROV_HANDOVER_TAG_LEN;
    snprintf(aad, sizeof(aad), PROV_HANDOVER_AAD "%s", access_key_id);

    /* the DEK's context, re-armed with this envelope's IV */

    if (EVP_DecryptInit_ex(gcm, NULL, NULL, NULL, iv) != 1
        || EVP_DecryptUpdate(gcm, NULL, &n, (const unsigned char *) aad,
                             (int) strlen(aad)) != 1
        || EVP_DecryptUpdate(gcm, pt, &n, ct, (int) ct_len) != 1
        || EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_GCM_SET_TAG,
                               PROV_HANDOVER_TAG_LEN, ct + ct_len) != 1
        || EVP_DecryptFinal_ex(gcm, pt + n, &n) != 1)
    {
        ERR_clear_error();
        prov_err_set(err, PROV_E_CRYPTO, "secret envelope does not open "
                     "(wrong access key id, or tampered)");
        goto done;
    }

    if (prov_buf_append(plain, pt, ct_len) != PROV_OK) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    rc = PROV_OK;

done:

    prov_memzero(pt, sizeof(pt));

    return rc;
}


int
prov_handover_seal(const char *pem, const char *plain, size_t len,
    const char *access_key_id, json_t **env, json_t *keys, prov_err_t *err)
{
    int             rc;
    BIO            *bio;
    char            aad[128], kid[PROV_HANDOVER_KID_LEN + 1], dek_id[24];
    char           *s_ek, *s_iv, *s_ct;
    size_t          eklen;
    EVP_PKEY       *pkey;
    EVP_PKEY_CTX   *pctx;
    unsigned char   dek[PROV_HANDOVER_DEK_LEN], iv[PROV_HANDOVER_IV_LEN];
    unsigned char   ek[1024], *ct;

    rc = PROV_ERR;
    pctx = NULL;
    s_ek = s_iv = s_ct = NULL;
    *env = NULL;

    if (len > 512) {
        prov_err_set(err, PROV_E_INVAL, "secret too long");
        return PROV_ERR;
    }

    ct = malloc(len + PROV_HANDOVER_TAG_LEN);
    if (ct == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    bio = BIO_new_mem_buf(pem, -1);
    pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);

    if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        ERR_clear_error();
        prov_err_set(err, PROV_E_INVAL, "not a PEM RSA public key");
        goto done;
    }

    if (prov_ho_kid(pkey, kid, err) != PROV_OK
        || prov_random(dek, sizeof(dek), err) != PROV_OK
        || prov_random(iv, sizeof(iv), err) != PROV_OK)
    {
        goto done;
    }

    eklen = sizeof(ek);
    pctx = EVP_PKEY_CTX_new(pkey, NULL);

    if (pctx == NULL
        || EVP_PKEY_encrypt_init(pctx) != 1
        || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) != 1
        || EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) != 1
        || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1
        || EVP_PKEY_encrypt(pctx, ek, &eklen, dek, sizeof(dek)) != 1)
    {
        prov_crypto_error(err, "RSA-OAEP wrap");
        goto done;
    }

    snprintf(aad, sizeof(aad), PROV_HANDOVER_AAD "%s", access_key_id);

    if (!prov_ho_gcm(1, dek, iv, aad, (const unsigned char *) plain, len,
                     ct, ct + len))
    {
        prov_err_set(err, PROV_E_CRYPTO, "AES-256-GCM seal failed");
        goto done;
    }

    s_ek = prov_b64_encode(ek, eklen);
    s_iv = prov_b64_encode(iv, sizeof(iv));
    s_ct = prov_b64_encode(ct, len + PROV_HANDOVER_TAG_LEN);

    if (s_ek == NULL || s_iv == NULL || s_ct == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    /* the dek id: first 16 hex of SHA-256(ek), as RustShare may choose */
    {
        unsigned char  md[SHA256_DIGEST_LENGTH];

        SHA256((const unsigned char *) s_ek, strlen(s_ek), md);

        for (int i = 0; i < 8; i++) {
            snprintf(dek_id + 2 * i, 3, "%02x", md[i]);
        }
    }

    *env = json_pack("{s:s, s:s, s:s, s:s, s:s}", "alg", PROV_HANDOVER_ALG,
                     "kid", kid, "dek", dek_id, "iv", s_iv, "ct", s_ct);
    if (*env == NULL || json_object_set_new(keys, dek_id, json_string(s_ek))
                        != 0)
    {
        json_decref(*env);
        *env = NULL;
        prov_err_set(err, PROV_E_SYS, "json_pack failed");
        goto done;
    }

    rc = PROV_OK;

done:

    prov_memzero(dek, sizeof(dek));
    prov_memzero(ct, len + PROV_HANDOVER_TAG_LEN);
    free(ct);
    free(s_ek);
    free(s_iv);
    free(s_ct);
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(pkey);

    return rc;
}


int
prov_handover_keygen(const char *path, int bits, prov_err_t *err)
{
    int        fd, rc;
    FILE      *f;
    EVP_PKEY  *pkey;

    if (bits < 2048 || bits > 8192) {
        prov_err_set(err, PROV_E_INVAL, "key size must be 2048 to 8192 bits");
        return PROV_ERR;
    }

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd == -1) {
        prov_err_set(err, errno == EEXIST ? PROV_E_EXISTS : PROV_E_SYS,
                     "\"%s\": %s (an existing key is never replaced)", path,
                     strerror(errno));
        return PROV_ERR;
    }

    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(path);
        prov_err_set(err, PROV_E_SYS, "\"%s\": %s", path, strerror(errno));
        return PROV_ERR;
    }

    rc = PROV_ERR;

    pkey = EVP_RSA_gen((unsigned) bits);
    if (pkey == NULL) {
        prov_crypto_error(err, "RSA key generation");
        goto done;
    }

    if (PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        prov_crypto_error(err, "writing the private key");
        goto done;
    }

    rc = PROV_OK;

done:

    EVP_PKEY_free(pkey);

    if (fclose(f) != 0 && rc == PROV_OK) {
        prov_err_set(err, PROV_E_SYS, "\"%s\": %s", path, strerror(errno));
        rc = PROV_ERR;
    }

    if (rc != PROV_OK) {
        unlink(path);
    }

    return rc;
}

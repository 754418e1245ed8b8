
/*
 * objspace-provisioner: secrets, identifiers and sealed values.
 */

#ifndef PROV_CRYPTO_H
#define PROV_CRYPTO_H


#include <openssl/evp.h>

#include "prov_core.h"


#define PROV_KEY_LEN            32
#define PROV_ACCESS_KEY_LEN     20     /* "RS3" + 17 */
#define PROV_SECRET_LEN         40
#define PROV_ID_HEX_LEN         16
#define PROV_SEAL_VERSION       0x01
#define PROV_SEAL_NONCE_LEN     12
#define PROV_SEAL_TAG_LEN       16
#define PROV_SEAL_BATCH         64      /* nonces drawn per CSPRNG call */
#define PROV_ID_BATCH           64      /* ids drawn per CSPRNG call */


typedef struct {
    unsigned char  key[PROV_KEY_LEN];
} prov_key_t;


/* many seals under one key (prov_crypto.c explains) */
typedef struct {
    EVP_CIPHER_CTX  *ctx;
    size_t           batch;
    size_t           left;
    unsigned char    nonces[PROV_SEAL_BATCH * PROV_SEAL_NONCE_LEN];
} prov_sealer_t;


/* many ids (prefix + 16 hex): the randomness of PROV_ID_BATCH at a time;
 * zero it before the first id */
typedef struct {
    size_t         left;
    unsigned char  rnd[PROV_ID_BATCH * PROV_ID_HEX_LEN / 2];
} prov_idgen_t;


int prov_random(void *buf, size_t n, prov_err_t *err);
void prov_crypto_error(prov_err_t *err, const char *what);
/* prefix (3 chars) + 17 chars of [A-Z2-7]; out holds 21 bytes */
int prov_gen_access_key_id(const char *prefix, char *out, prov_err_t *err);
/* 40 chars of [A-Za-z0-9]; out holds 41 bytes */
int prov_gen_secret(char *out, prov_err_t *err);
/* prefix + 16 lowercase hex; out holds strlen(prefix) + 17 bytes */
int prov_gen_id(const char *prefix, char *out, size_t size, prov_err_t *err);
/* the same, from g's pool (bulk writers: a sync's audit events) */
int prov_idgen_next(prov_idgen_t *g, const char *prefix, char *out,
    size_t size, prov_err_t *err);

int prov_key_load(const char *path, prov_key_t *key, prov_err_t *err);
int prov_key_parse(const char *hex, prov_key_t *key, prov_err_t *err);
void prov_key_wipe(prov_key_t *key);

int prov_seal(const prov_key_t *key, const char *plain, size_t len,
    const char *aad, char **out, prov_err_t *err);
int prov_sealer_init(prov_sealer_t *s, const prov_key_t *key,
    prov_err_t *err);
int prov_sealer_seal(prov_sealer_t *s, const char *plain, size_t len,
    const char *aad, char **out, prov_err_t *err);
void prov_sealer_free(prov_sealer_t *s);
int prov_unseal(const prov_key_t *key, const char *sealed, const char *aad,
    prov_buf_t *plain, prov_err_t *err);

/* short non-reversible fingerprint of an access key id, for logs */
void prov_key_fingerprint(const char *access_key_id, char *out, size_t size);


#endif /* PROV_CRYPTO_H */

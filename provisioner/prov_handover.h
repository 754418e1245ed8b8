
/*
 * objspace-provisioner: the secret hand-over from RustShare
 * (docs/rustshare-api.md, "Secret hand-over").
 *
 * RustShare seals every new S3 secret to the provisioner's RSA public key:
 * a 32-byte data key (DEK) wrapped with RSA-OAEP (SHA-256, MGF1-SHA-256, no
 * label) and the secret encrypted with AES-256-GCM under that DEK, the AAD
 * binding it to its access key id.  A wrapped DEK travels once per
 * response ("data_keys"), however many envelopes use it.  No plaintext
 * secret crosses the link or rests anywhere: the provisioner opens the
 * envelope in memory and re-seals the secret with the key file
 * (prov_seal) for Redis.
 */

#ifndef PROV_HANDOVER_H
#define PROV_HANDOVER_H


#include <jansson.h>

#include "prov_core.h"


#define PROV_HANDOVER_ALG       "RSA-OAEP-256+A256GCM"
#define PROV_HANDOVER_AAD       "objspace-handover-v1:"
#define PROV_HANDOVER_KID_LEN   16
#define PROV_HANDOVER_DEK_LEN   32
#define PROV_HANDOVER_IV_LEN    12
#define PROV_HANDOVER_TAG_LEN   16
#define PROV_HANDOVER_BITS      3072


typedef struct prov_handover_s  prov_handover_t;


/* a PEM RSA private key (PKCS#8 or PKCS#1); refuses keys under 2048 bits */
int prov_handover_load(prov_handover_t **h, const char *path,
    prov_err_t *err);
void prov_handover_free(prov_handover_t *h);

/* the key id: first 16 hex of SHA-256(DER SubjectPublicKeyInfo) */
const char *prov_handover_kid(prov_handover_t *h);

/* the public key as PEM (SubjectPublicKeyInfo), for RustShare's config */
int prov_handover_public_pem(prov_handover_t *h, prov_buf_t *out,
    prov_err_t *err);

/*
 * Opens one envelope (a borrowed JSON object) sealed for access_key_id;
 * keys (borrowed) is the response's "data_keys" object: dek id -> ek.
 * plain receives the secret: the caller wipes it (prov_buf_wipe).  Unwrapped
 * data keys are cached in memory (wiped on free), so RustShare may reuse a
 * DEK for many secrets and the RSA operation runs once per DEK.  Errors
 * never contain key material or the secret.
 */
int prov_handover_open(prov_handover_t *h, json_t *env, json_t *keys,
    const char *access_key_id, prov_buf_t *plain, prov_err_t *err);

/*
 * Seals plain for access_key_id to the public key in pem with a fresh DEK
 * (the RustShare side; tests and `handover seal`).  *env is a new
 * reference; the DEK's "dek id": ek pair is added to keys.
 */
int prov_handover_seal(const char *pem, const char *plain, size_t len,
    const char *access_key_id, json_t **env, json_t *keys, prov_err_t *err);

/* a new RSA key (bits) written as PKCS#8 PEM, mode 0600, never replaced */
int prov_handover_keygen(const char *path, int bits, prov_err_t *err);


#endif /* PROV_HANDOVER_H */

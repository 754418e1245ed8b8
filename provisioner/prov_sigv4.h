
/*
 * objspace-provisioner: AWS Signature Version 4 (header auth) for the
 * storage admin APIs and bucket creation.  Pure: no I/O.
 */

#ifndef PROV_SIGV4_H
#define PROV_SIGV4_H


#include "prov_core.h"


#define PROV_UNSIGNED_PAYLOAD  "UNSIGNED-PAYLOAD"


typedef struct {
    const char  *method;
    const char  *host;          /* Host header value, host[:port] */
    const char  *path;          /* URI-encoded path, "/" at least */
    const char  *query;         /* URI-encoded "k=v&k2=v2" or "" */
    const char  *payload_hash;  /* hex SHA-256 or UNSIGNED-PAYLOAD */
    const char  *amz_date;      /* YYYYMMDDTHHMMSSZ */
    const char  *region;
    const char  *service;
    const char  *access_key;
    const char  *secret_key;
} prov_sigv4_req_t;


/* appends the Authorization header value to out */
int prov_sigv4_authorization(const prov_sigv4_req_t *req, prov_buf_t *out,
    prov_err_t *err);
/* RFC 3986 unreserved kept, everything else %XX (uppercase) */
int prov_uri_encode(prov_buf_t *out, const char *s, int keep_slash);
void prov_sha256_hex(const void *data, size_t len, char out[65]);
void prov_amz_date(int64_t t, char out[17]);


#endif /* PROV_SIGV4_H */

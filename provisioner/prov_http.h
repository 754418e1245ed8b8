
/*
 * objspace-provisioner: a small SigV4-signing HTTP client over libcurl
 * for the storage admin APIs.  Blocking, with connect and total timeouts.
 */

#ifndef PROV_HTTP_H
#define PROV_HTTP_H


#include <curl/curl.h>

#include "prov_core.h"


typedef struct {
    CURL        *curl;
    char        *endpoint;      /* scheme://host[:port], no trailing '/' */
    char        *host;          /* host[:port] as sent in Host */
    char        *region;
    char        *access_key;
    char        *secret_key;
    long         connect_timeout_ms;
    long         timeout_ms;
    int          retries;       /* extra attempts on connect errors / 503 */
    /* before each attempt (the daemon: renews the lease, and refuses an
     * attempt that could outlast it); NULL: none */
    prov_guard_pt  guard;
    void          *guard_data;
} prov_http_t;


typedef struct {
    long         status;
    prov_buf_t   body;
} prov_http_resp_t;


#define PROV_HTTP_SIGN_BODY      0x01   /* payload hash = SHA-256(body) */
#define PROV_HTTP_JSON           0x02   /* Content-Type: application/json */


int prov_http_init(prov_http_t *h, const char *endpoint, const char *region,
    const char *access_key, const char *secret_key, prov_err_t *err);
void prov_http_free(prov_http_t *h);

/*
 * path: URI-encoded; query: URI-encoded "k=v&..." or NULL.  A non-2xx
 * status is not an error here: callers read resp->status.  resp->body
 * must be freed by the caller (prov_http_resp_free).
 */
int prov_http_request(prov_http_t *h, const char *method, const char *path,
    const char *query, const char *body, size_t body_len, int flags,
    prov_http_resp_t *resp, prov_err_t *err);
void prov_http_resp_free(prov_http_resp_t *resp);

/* the S3 error "Code" from an XML or JSON error body, or "" */
void prov_http_error_code(const prov_http_resp_t *resp, char *out,
    size_t size);


#endif /* PROV_HTTP_H */

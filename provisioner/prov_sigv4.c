
/*
 * objspace-provisioner: AWS Signature Version 4, header form.
 *
 * Follows "Create a canonical request for Signature Version 4" (AWS
 * General Reference): S3 does not double-encode the path; query
 * parameters are sorted by encoded name, then by encoded value; the
 * signed headers are host, x-amz-content-sha256 and x-amz-date.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/evp.h>

#include "prov_sigv4.h"


typedef struct {
    const char  *name;
    size_t       name_len;
    const char  *value;
    size_t       value_len;
} prov_qparam_t;


static int prov_qparam_cmp(const void *a, const void *b);
static int prov_canonical_query(prov_buf_t *out, const char *query);
static void prov_hmac(const void *key, size_t key_len, const char *msg,
    unsigned char out[32]);
static void prov_hex(const unsigned char *in, size_t n, char *out);


void
prov_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char  md[SHA256_DIGEST_LENGTH];

    SHA256(data, len, md);
    prov_hex(md, sizeof(md), out);
}


void
prov_amz_date(int64_t t, char out[17])
{
    time_t     tt;
    struct tm  tm;

    tt = (time_t) t;
    gmtime_r(&tt, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}


int
prov_uri_encode(prov_buf_t *out, const char *s, int keep_slash)
{
    char                 esc[4];
    unsigned char        c;
    static const char    hex[] = "0123456789ABCDEF";

    for ( /* void */ ; *s; s++) {
        c = (unsigned char) *s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
            || c == '~' || (c == '/' && keep_slash))
        {
            if (prov_buf_append(out, s, 1) != PROV_OK) {
                return PROV_ERR;
            }

            continue;
        }

        esc[0] = '%';
        esc[1] = hex[c >> 4];
        esc[2] = hex[c & 0xf];

        if (prov_buf_append(out, esc, 3) != PROV_OK) {
            return PROV_ERR;
        }
    }

    return PROV_OK;
}


static void
prov_hex(const unsigned char *in, size_t n, char *out)
{
    size_t             i;
    static const char  hex[] = "0123456789abcdef";

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0xf];
    }

    out[2 * n] = '\0';
}


static int
prov_qparam_cmp(const void *a, const void *b)
{
    int                   r;
    size_t                n;
    const prov_qparam_t  *x = a, *y = b;

    n = x->name_len < y->name_len ? x->name_len : y->name_len;
    r = memcmp(x->name, y->name, n);
    if (r || x->name_len != y->name_len) {
        return r ? r : (x->name_len < y->name_len ? -1 : 1);
    }

    n = x->value_len < y->value_len ? x->value_len : y->value_len;
    r = memcmp(x->value, y->value, n);
    if (r || x->value_len == y->value_len) {
        return r;
    }

    return x->value_len < y->value_len ? -1 : 1;
}


/* the query is already encoded by the caller; only sorting is done here */

static int
prov_canonical_query(prov_buf_t *out, const char *query)
{
    int             rc;
    size_t          n, i;
    const char     *p, *amp, *eq;
    prov_qparam_t  *params;

    if (query == NULL || *query == '\0') {
        return PROV_OK;
    }

    n = 1;
    for (p = query; *p; p++) {
        n += (*p == '&');
    }

    params = calloc(n, sizeof(prov_qparam_t));
    if (params == NULL) {
        return PROV_ERR;
    }

    n = 0;
    p = query;

    while (*p) {
        amp = strchr(p, '&');
        if (amp == NULL) {
            amp = p + strlen(p);
        }

        if (amp > p) {
            eq = memchr(p, '=', amp - p);
            params[n].name = p;

            if (eq) {
                params[n].name_len = eq - p;
                params[n].value = eq + 1;
                params[n].value_len = amp - eq - 1;

            } else {
                params[n].name_len = amp - p;
                params[n].value = "";
                params[n].value_len = 0;
            }

            n++;
        }

        p = *amp ? amp + 1 : amp;
    }

    qsort(params, n, sizeof(prov_qparam_t), prov_qparam_cmp);

    rc = PROV_OK;

    for (i = 0; i < n && rc == PROV_OK; i++) {
        if (i) {
            rc = prov_buf_append(out, "&", 1);
        }

        if (rc == PROV_OK) {
            rc = prov_buf_append(out, params[i].name, params[i].name_len);
        }

        if (rc == PROV_OK) {
            rc = prov_buf_append(out, "=", 1);
        }

        if (rc == PROV_OK) {
            rc = prov_buf_append(out, params[i].value, params[i].value_len);
        }
    }

    free(params);

    return rc;
}


static void
prov_hmac(const void *key, size_t key_len, const char *msg,
    unsigned char out[32])
{
    unsigned int  len;

    len = 32;
    HMAC(EVP_sha256(), key, (int) key_len, (const unsigned char *) msg,
         strlen(msg), out, &len);
}


/*
 * Signature Version 4: canonical request -> string to sign -> signing
 * key (kSecret -> kDate -> kRegion -> kService -> kSigning) -> HMAC.
 * The derived keys are wiped.
 */

int
prov_sigv4_authorization(const prov_sigv4_req_t *req, prov_buf_t *out,
    prov_err_t *err)
{
    int            rc;
    char           date[9], hash[65], sig[65];
    char           scope[128];
    prov_buf_t     creq, sts, ksecret;
    unsigned char  k1[32], k2[32];

    rc = PROV_ERR;

    prov_buf_init(&creq);
    prov_buf_init(&sts);
    prov_buf_init(&ksecret);

    memcpy(date, req->amz_date, 8);
    date[8] = '\0';

    snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date,
             req->region, req->service);

    if (prov_buf_printf(&creq, "%s\n", req->method) != PROV_OK
        || prov_buf_puts(&creq, req->path) != PROV_OK
        || prov_buf_puts(&creq, "\n") != PROV_OK
        || prov_canonical_query(&creq, req->query) != PROV_OK
        || prov_buf_printf(&creq, "\nhost:%s\nx-amz-content-sha256:%s\n"
                           "x-amz-date:%s\n\n"
                           "host;x-amz-content-sha256;x-amz-date\n%s",
                           req->host, req->payload_hash, req->amz_date,
                           req->payload_hash) != PROV_OK)
    {
        goto nomem;
    }

    prov_sha256_hex(creq.data, creq.len, hash);

    if (prov_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s",
                        req->amz_date, scope, hash) != PROV_OK
        || prov_buf_printf(&ksecret, "AWS4%s", req->secret_key) != PROV_OK)
    {
        goto nomem;
    }

    prov_hmac(ksecret.data, ksecret.len, date, k1);
    prov_hmac(k1, 32, req->region, k2);
    prov_hmac(k2, 32, req->service, k1);
    prov_hmac(k1, 32, "aws4_request", k2);
    prov_hmac(k2, 32, sts.data, k1);
    prov_hex(k1, 32, sig);

    if (prov_buf_printf(out, "AWS4-HMAC-SHA256 Credential=%s/%s, "
                        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                        "Signature=%s", req->access_key, scope, sig)
        != PROV_OK)
    {
        goto nomem;
    }

    rc = PROV_OK;
    goto done;

nomem:

    prov_err_set(err, PROV_E_SYS, "out of memory");

done:

    prov_memzero(k1, sizeof(k1));
    prov_memzero(k2, sizeof(k2));
    prov_buf_wipe(&ksecret);
    prov_buf_free(&creq);
    prov_buf_free(&sts);

    return rc;
}

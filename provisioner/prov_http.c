
/*
 * objspace-provisioner: SigV4-signing HTTP client over libcurl.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "prov_http.h"
#include "prov_sigv4.h"


static size_t prov_http_write(char *ptr, size_t size, size_t nmemb,
    void *data);
static int prov_http_once(prov_http_t *h, const char *method,
    const char *path, const char *query, const char *body, size_t body_len,
    int flags, prov_http_resp_t *resp, prov_err_t *err);


int
prov_http_init(prov_http_t *h, const char *endpoint, const char *region,
    const char *access_key, const char *secret_key, prov_err_t *err)
{
    size_t       n;
    const char  *p, *slash;

    memset(h, 0, sizeof(*h));

    if (strncmp(endpoint, "http://", 7) == 0) {
        p = endpoint + 7;

    } else if (strncmp(endpoint, "https://", 8) == 0) {
        p = endpoint + 8;

    } else {
        prov_err_set(err, PROV_E_CONFIG,
                     "endpoint \"%s\" must start with http:// or https://",
                     endpoint);
        return PROV_ERR;
    }

    slash = strchr(p, '/');
    n = slash ? (size_t) (slash - p) : strlen(p);

    if (n == 0 || (slash && slash[1] != '\0')) {
        prov_err_set(err, PROV_E_CONFIG,
                     "endpoint \"%s\" must be scheme://host[:port]",
                     endpoint);
        return PROV_ERR;
    }

    h->host = strndup(p, n);
    h->endpoint = strndup(endpoint, (size_t) (p - endpoint) + n);
    h->region = strdup(region);
    h->access_key = strdup(access_key);
    h->secret_key = strdup(secret_key);
    h->connect_timeout_ms = 3000;
    h->timeout_ms = 30000;
    h->retries = 2;

    h->curl = curl_easy_init();

    if (h->host == NULL || h->endpoint == NULL || h->region == NULL
        || h->access_key == NULL || h->secret_key == NULL || h->curl == NULL)
    {
        prov_http_free(h);
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    return PROV_OK;
}


void
prov_http_free(prov_http_t *h)
{
    if (h->curl) {
        curl_easy_cleanup(h->curl);
    }

    if (h->secret_key) {
        prov_memzero(h->secret_key, strlen(h->secret_key));
    }

    free(h->host);
    free(h->endpoint);
    free(h->region);
    free(h->access_key);
    free(h->secret_key);
    memset(h, 0, sizeof(*h));
}


void
prov_http_resp_free(prov_http_resp_t *resp)
{
    prov_buf_free(&resp->body);
    resp->status = 0;
}


static size_t
prov_http_write(char *ptr, size_t size, size_t nmemb, void *data)
{
    prov_buf_t  *b = data;

    if (b->len + size * nmemb > 16 * 1024 * 1024) {
        return 0;
    }

    if (prov_buf_append(b, ptr, size * nmemb) != PROV_OK) {
        return 0;
    }

    return size * nmemb;
}


int
prov_http_request(prov_http_t *h, const char *method, const char *path,
    const char *query, const char *body, size_t body_len, int flags,
    prov_http_resp_t *resp, prov_err_t *err)
{
    int   attempt, rc;
    long  delay_ms;

    delay_ms = 200;

    for (attempt = 0; /* void */ ; attempt++) {
        prov_buf_init(&resp->body);
        resp->status = 0;

        /* CURLOPT_TIMEOUT_MS bounds the whole attempt, connect included */
        if (h->guard && !h->guard(h->guard_data, h->timeout_ms)) {
            prov_err_set(err, PROV_E_BUSY, "%s %s: not sent: the leader "
                         "lease is lost or too short for it", method, path);
            return PROV_ERR;
        }

        rc = prov_http_once(h, method, path, query, body, body_len, flags,
                            resp, err);

        if (attempt >= h->retries) {
            break;
        }

        if (rc == PROV_OK && resp->status != 503) {
            break;
        }

        if (rc != PROV_OK && err->code != PROV_E_STORAGE) {
            break;
        }

        prov_log(PROV_LOG_DEBUG, "http", "%s %s: retrying in %ld ms",
                 method, path, delay_ms);

        prov_http_resp_free(resp);
        usleep(delay_ms * 1000);
        delay_ms *= 2;
    }

    return rc;
}


/*
 * One signed transfer.  Every CURLcode is checked; the Authorization value
 * is built in a wiped buffer and never logged.
 */

static int
prov_http_once(prov_http_t *h, const char *method, const char *path,
    const char *query, const char *body, size_t body_len, int flags,
    prov_http_resp_t *resp, prov_err_t *err)
{
    int                rc;
    char               amz_date[17], payload_hash[65];
    CURLcode           cc;
    prov_buf_t         url, authz, hdr;
    prov_sigv4_req_t   sreq;
    struct curl_slist  *headers, *tmp;

    rc = PROV_ERR;
    headers = NULL;

    prov_buf_init(&url);
    prov_buf_init(&authz);
    prov_buf_init(&hdr);

    if (flags & PROV_HTTP_SIGN_BODY) {
        prov_sha256_hex(body ? body : "", body ? body_len : 0, payload_hash);

    } else {
        strcpy(payload_hash, PROV_UNSIGNED_PAYLOAD);
    }

    prov_amz_date(prov_now(), amz_date);

    sreq.method = method;
    sreq.host = h->host;
    sreq.path = path;
    sreq.query = query ? query : "";
    sreq.payload_hash = payload_hash;
    sreq.amz_date = amz_date;
    sreq.region = h->region;
    sreq.service = "s3";
    sreq.access_key = h->access_key;
    sreq.secret_key = h->secret_key;

    if (prov_sigv4_authorization(&sreq, &authz, err) != PROV_OK) {
        goto done;
    }

    if (prov_buf_printf(&url, "%s%s%s%s", h->endpoint, path,
                        (query && *query) ? "?" : "", query ? query : "")
        != PROV_OK)
    {
        goto nomem;
    }

#define PROV_ADD_HEADER(...)                                                 \
    prov_buf_reset(&hdr);                                                    \
    if (prov_buf_printf(&hdr, __VA_ARGS__) != PROV_OK) {                     \
        goto nomem;                                                          \
    }                                                                        \
    tmp = curl_slist_append(headers, hdr.data);                              \
    if (tmp == NULL) {                                                       \
        goto nomem;                                                          \
    }                                                                        \
    headers = tmp;

    PROV_ADD_HEADER("Host: %s", h->host);
    PROV_ADD_HEADER("x-amz-date: %s", amz_date);
    PROV_ADD_HEADER("x-amz-content-sha256: %s", payload_hash);
    PROV_ADD_HEADER("Authorization: %s", authz.data);
    PROV_ADD_HEADER("Expect:");

    if (flags & PROV_HTTP_JSON) {
        PROV_ADD_HEADER("Content-Type: application/json");
    }

#undef PROV_ADD_HEADER

    curl_easy_reset(h->curl);

#define PROV_SETOPT(opt, val)                                                \
    cc = curl_easy_setopt(h->curl, opt, val);                                \
    if (cc != CURLE_OK) {                                                    \
        prov_err_set(err, PROV_E_SYS, "curl_easy_setopt(%s): %s", #opt,      \
                     curl_easy_strerror(cc));                                \
        goto done;                                                           \
    }

    PROV_SETOPT(CURLOPT_URL, url.data);
    PROV_SETOPT(CURLOPT_HTTPHEADER, headers);
    PROV_SETOPT(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    PROV_SETOPT(CURLOPT_TIMEOUT_MS, h->timeout_ms);
    PROV_SETOPT(CURLOPT_NOSIGNAL, 1L);
    PROV_SETOPT(CURLOPT_WRITEFUNCTION, prov_http_write);
    PROV_SETOPT(CURLOPT_WRITEDATA, &resp->body);
    PROV_SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");

    if (strcmp(method, "GET") == 0) {
        PROV_SETOPT(CURLOPT_HTTPGET, 1L);

    } else if (strcmp(method, "HEAD") == 0) {
        PROV_SETOPT(CURLOPT_NOBODY, 1L);

    } else {
        if (body != NULL || strcmp(method, "PUT") == 0
            || strcmp(method, "POST") == 0)
        {
            PROV_SETOPT(CURLOPT_POSTFIELDSIZE_LARGE,
                        (curl_off_t) (body ? body_len : 0));
            PROV_SETOPT(CURLOPT_POSTFIELDS, body ? body : "");
        }

        PROV_SETOPT(CURLOPT_CUSTOMREQUEST, method);
    }

#undef PROV_SETOPT

    cc = curl_easy_perform(h->curl);
    if (cc != CURLE_OK) {
        prov_err_set(err, PROV_E_STORAGE, "%s %s%s: %s", method, h->endpoint,
                     path, curl_easy_strerror(cc));
        goto done;
    }

    cc = curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    if (cc != CURLE_OK) {
        prov_err_set(err, PROV_E_STORAGE, "curl_easy_getinfo: %s",
                     curl_easy_strerror(cc));
        goto done;
    }

    prov_log(PROV_LOG_DEBUG, "http", "%s %s -> %ld", method, path,
             resp->status);

    rc = PROV_OK;
    goto done;

nomem:

    prov_err_set(err, PROV_E_SYS, "out of memory");

done:

    curl_slist_free_all(headers);
    prov_buf_wipe(&authz);
    prov_buf_wipe(&hdr);
    prov_buf_free(&url);

    return rc;
}


void
prov_http_error_code(const prov_http_resp_t *resp, char *out, size_t size)
{
    size_t        n;
    json_t       *root, *code;
    const char   *p, *q;
    json_error_t  jerr;

    out[0] = '\0';

    if (resp->body.data == NULL || resp->body.len == 0) {
        return;
    }

    p = strstr(resp->body.data, "<Code>");
    if (p) {
        p += 6;
        q = strstr(p, "</Code>");

        if (q) {
            n = (size_t) (q - p) < size - 1 ? (size_t) (q - p) : size - 1;
            memcpy(out, p, n);
            out[n] = '\0';
        }

        return;
    }

    root = json_loadb(resp->body.data, resp->body.len, 0, &jerr);
    if (root == NULL) {
        return;
    }

    code = json_object_get(root, "Code");
    if (json_is_string(code)) {
        snprintf(out, size, "%s", json_string_value(code));
    }

    json_decref(root);
}


/*
 * objspace-provisioner: RustShare as the source of desired state.
 * Contract: docs/rustshare-api.md.
 *
 * A pass: fetch (every page) -> prepare (validate the whole set, open the
 * secret envelopes and re-seal them with the key file) -> backend (new
 * spaces, quota, enable) -> Redis (pipelined MULTI/EXEC batches, each
 * record with its invalidation) -> revision.  Nothing is written before
 * the whole set has been validated.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "prov_rustshare.h"
#include "prov_rs_apply.h"


#define PROV_RS_MAX_BODY     (512 * 1024 * 1024)
#define PROV_RS_MAX_PAGES    100000
#define PROV_RS_BACKOFF_MS   500
#define PROV_RS_BACKOFF_MAX  8000


typedef struct {
    long         status;
    prov_buf_t   body;
    char         etag[64];
    long         retry_after;       /* seconds, -1 if none */
} prov_rs_resp_t;






static void prov_rs_sleep_ms(long ms);
static size_t prov_rs_write_cb(char *p, size_t size, size_t n, void *data);
static size_t prov_rs_header_cb(char *p, size_t size, size_t n, void *data);
static int prov_rs_request(prov_rs_t *rs, const char *method,
    const char *path, const char *body, const char *extra, long timeout_s,
    prov_rs_resp_t *resp, prov_err_t *err);
static void prov_rs_http_error(prov_err_t *err, const char *method,
    const char *path, prov_rs_resp_t *resp);
static int prov_rs_call(prov_rs_t *rs, const char *method, const char *path,
    const char *body, const char *extra, long timeout_s, int retries,
    prov_rs_resp_t *resp, prov_err_t *err);
static json_t *prov_rs_parse(prov_rs_resp_t *resp, const char *what,
    prov_err_t *err);
static int prov_rs_collect(json_t *map, json_t *arr, const char *what,
    prov_err_t *err);
static int prov_rs_collect_keys(json_t *keys, json_t *page,
    prov_err_t *err);
static int prov_rs_fetch_snapshot(prov_rs_t *rs, prov_rs_set_t *set,
    prov_err_t *err);
static int prov_rs_fetch_changes(prov_rs_t *rs, int64_t since, int wait,
    prov_rs_set_t *set, int *gone, int *unchanged, prov_err_t *err);
static void prov_rs_record(prov_rs_t *rs, prov_rs_result_t *res,
    const char *error);
static int prov_rs_push(prov_rs_t *rs, const char *kind, json_t *body,
    const char *idem, prov_err_t *err);
static int prov_rs_read_token(const char *path, char **token,
    prov_err_t *err);




static void
prov_rs_sleep_ms(long ms)
{
    struct timespec  ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;

    nanosleep(&ts, NULL);
}


/* ------------------------------------------------------------ HTTP */


static size_t
prov_rs_write_cb(char *p, size_t size, size_t n, void *data)
{
    prov_buf_t  *b;

    b = data;

    if (b->len + size * n > PROV_RS_MAX_BODY
        || prov_buf_append(b, p, size * n) != PROV_OK)
    {
        return 0;
    }

    return size * n;
}


static size_t
prov_rs_header_cb(char *p, size_t size, size_t n, void *data)
{
    size_t           len, v;
    prov_rs_resp_t  *resp;

    resp = data;
    len = size * n;

    if (len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
        for (v = 5; v < len && p[v] == ' '; v++) { /* void */ }

        while (len > v && (p[len - 1] == '\r' || p[len - 1] == '\n')) {
            len--;
        }

        snprintf(resp->etag, sizeof(resp->etag), "%.*s", (int) (len - v),
                 p + v);

    } else if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        resp->retry_after = strtol(p + 12, NULL, 10);
    }

    return size * n;
}


/*
 * One HTTP exchange.  The bearer token is only ever in rs->auth (wiped on
 * close) and in libcurl's copy of the header list; it is never logged.
 */

static int
prov_rs_request(prov_rs_t *rs, const char *method, const char *path,
    const char *body, const char *extra, long timeout_s,
    prov_rs_resp_t *resp, prov_err_t *err)
{
    char                url[2048];
    CURLcode            cc;
    const char         *ca;
    struct curl_slist  *h, *hdrs;

    prov_buf_reset(&resp->body);
    resp->status = 0;
    rs->last_status = 0;
    resp->etag[0] = '\0';
    resp->retry_after = -1;

    snprintf(url, sizeof(url), "%s%s", rs->ctx->cf.rustshare_url, path);

    hdrs = NULL;

    for (h = rs->headers; h; h = h->next) {
        hdrs = curl_slist_append(hdrs, h->data);
    }

    if (body) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    }

    if (extra) {
        hdrs = curl_slist_append(hdrs, extra);
    }

    if (hdrs == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    if (rs->guard && !rs->guard(rs->guard_data, timeout_s * 1000L)) {
        curl_slist_free_all(hdrs);
        prov_err_set(err, PROV_E_BUSY, "RustShare %s %s: not sent: the "
                     "leader lease is lost or too short for it", method,
                     path);
        return PROV_ERR;
    }

    curl_easy_reset(rs->curl);
    curl_easy_setopt(rs->curl, CURLOPT_URL, url);
    curl_easy_setopt(rs->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(rs->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(rs->curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(rs->curl, CURLOPT_TIMEOUT_MS, timeout_s * 1000L);
    curl_easy_setopt(rs->curl, CURLOPT_WRITEFUNCTION, prov_rs_write_cb);
    curl_easy_setopt(rs->curl, CURLOPT_WRITEDATA, &resp->body);
    curl_easy_setopt(rs->curl, CURLOPT_HEADERFUNCTION, prov_rs_header_cb);
    curl_easy_setopt(rs->curl, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(rs->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(rs->curl, CURLOPT_ACCEPT_ENCODING, "");

    ca = rs->ctx->cf.rustshare_ca_file;
    if (ca) {
        curl_easy_setopt(rs->curl, CURLOPT_CAINFO, ca);
    }

    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(rs->curl, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(rs->curl, CURLOPT_POSTFIELDS, body ? body : "");
    }

    rs->requests++;
    cc = curl_easy_perform(rs->curl);

    curl_slist_free_all(hdrs);

    if (cc != CURLE_OK) {
        prov_err_set(err, PROV_E_SOURCE, "RustShare %s %s: %s", method, path,
                     curl_easy_strerror(cc));
        return PROV_ERR;
    }

    curl_easy_getinfo(rs->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    rs->last_status = resp->status;

    prov_log(PROV_LOG_DEBUG, "rustshare", "%s %s -> %ld (%zu bytes)",
             method, path, resp->status, resp->body.len);

    return PROV_OK;
}


/* "RustShare GET /v1/...: HTTP 400 invalid_cursor: message" */

static void
prov_rs_http_error(prov_err_t *err, const char *method, const char *path,
    prov_rs_resp_t *resp)
{
    json_t      *j, *e;
    const char  *code, *msg;

    j = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0,
                   NULL);
    e = json_object_get(j, "error");
    code = json_string_value(json_object_get(e, "code"));
    msg = json_string_value(json_object_get(e, "message"));

    prov_err_set(err, PROV_E_SOURCE, "RustShare %s %s: HTTP %ld%s%.40s%s%.200s",
                 method, path, resp->status, code ? " " : "",
                 code ? code : "", msg ? ": " : "", msg ? msg : "");

    json_decref(j);
}


/*
 * A request with the contract's retry policy: transport errors (incl.
 * timeouts), 5xx and 429 are retried `retries` times with
 * exponential backoff (500 ms doubling, capped at 8 s, +-25 % jitter, or
 * Retry-After up to 30 s); 401/403 are refused at once.  2xx, 304 and 410
 * return PROV_OK: the caller reads resp->status.
 */

static int
prov_rs_call(prov_rs_t *rs, const char *method, const char *path,
    const char *body, const char *extra, long timeout_s, int retries,
    prov_rs_resp_t *resp, prov_err_t *err)
{
    int    attempt, retry;
    long   delay;

    for (attempt = 0; /* void */ ; attempt++) {
        retry = 0;

        if (prov_rs_request(rs, method, path, body, extra, timeout_s, resp,
                            err) != PROV_OK)
        {
            if (err->code == PROV_E_BUSY) {
                return PROV_ERR;        /* the lease, not RustShare */
            }

            retry = 1;

        } else if ((resp->status >= 200 && resp->status < 300)
                   || resp->status == 304 || resp->status == 410)
        {
            return PROV_OK;

        } else if (resp->status == 401 || resp->status == 403) {
            prov_rs_http_error(err, method, path, resp);
            prov_err_prefix(err, "RustShare refused the bearer token (check "
                            "rustshare_token_file)");
            return PROV_ERR;

        } else {
            prov_rs_http_error(err, method, path, resp);
            retry = (resp->status >= 500 || resp->status == 429);
        }

        if (!retry || attempt >= retries) {
            if (retry && retries > 0) {
                prov_err_prefix(err, "giving up after %d attempts",
                                attempt + 1);
            }

            return PROV_ERR;
        }

        delay = PROV_RS_BACKOFF_MS << attempt;
        if (delay > PROV_RS_BACKOFF_MAX) {
            delay = PROV_RS_BACKOFF_MAX;
        }

        delay = delay * 3 / 4 + (long) (random() % (delay / 2 + 1));

        if (resp->retry_after >= 0) {
            delay = (resp->retry_after > 30 ? 30 : resp->retry_after) * 1000;
        }

        prov_log(PROV_LOG_WARN, "rustshare", "%s (retry %d/%d in %ld ms)",
                 err->msg, attempt + 1, retries, delay);

        prov_rs_sleep_ms(delay);
    }
}


static json_t *
prov_rs_parse(prov_rs_resp_t *resp, const char *what, prov_err_t *err)
{
    json_t        *j;
    json_error_t   jerr;

    j = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len,
                   JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        prov_err_set(err, PROV_E_SOURCE, "RustShare %s: malformed JSON at "
                     "line %d column %d: %.120s", what, jerr.line,
                     jerr.column, jerr.text);
        return NULL;
    }

    if (!json_is_object(j)) {
        json_decref(j);
        prov_err_set(err, PROV_E_SOURCE, "RustShare %s: the body is not a "
                     "JSON object", what);
        return NULL;
    }

    return j;
}


/* ------------------------------------------------------------ open/close */


static int
prov_rs_read_token(const char *path, char **token, prov_err_t *err)
{
    FILE    *f;
    char     buf[4096];
    size_t   n;

    f = fopen(path, "r");
    if (f == NULL) {
        prov_err_set(err, PROV_E_CONFIG, "rustshare_token_file \"%s\": %s",
                     path, strerror(errno));
        return PROV_ERR;
    }

    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';

    while (n && isspace((unsigned char) buf[n - 1])) {
        buf[--n] = '\0';
    }

    if (n == 0 || strpbrk(buf, "\r\n") != NULL) {
        prov_memzero(buf, sizeof(buf));
        prov_err_set(err, PROV_E_CONFIG, "rustshare_token_file \"%s\" must "
                     "hold one non-empty line", path);
        return PROV_ERR;
    }

    *token = malloc(n + 32);
    if (*token == NULL) {
        prov_memzero(buf, sizeof(buf));
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    snprintf(*token, n + 32, "Authorization: Bearer %s", buf);
    prov_memzero(buf, sizeof(buf));

    return PROV_OK;
}


int
prov_rs_open(prov_rs_t *rs, prov_ctx_t *ctx, prov_err_t *err)
{
    char  ua[64];

    memset(rs, 0, sizeof(*rs));
    rs->ctx = ctx;

    if (strcmp(ctx->cf.source, "rustshare") != 0) {
        prov_err_set(err, PROV_E_CONFIG, "the configuration's source is "
                     "\"%s\": set source = rustshare (docs/provisioner.md)",
                     ctx->cf.source);
        return PROV_ERR;
    }

    if (prov_rs_read_token(ctx->cf.rustshare_token_file, &rs->auth, err)
        != PROV_OK
        || prov_handover_load(&rs->handover, ctx->cf.rustshare_handover_key,
                              err) != PROV_OK)
    {
        goto failed;
    }

    rs->curl = curl_easy_init();
    if (rs->curl == NULL) {
        prov_err_set(err, PROV_E_SYS, "curl_easy_init failed");
        goto failed;
    }

    snprintf(ua, sizeof(ua), "User-Agent: objspace-provisioner");

    rs->headers = curl_slist_append(NULL, rs->auth);
    rs->headers = curl_slist_append(rs->headers, "Accept: application/json");
    rs->headers = curl_slist_append(rs->headers, ua);

    if (rs->headers == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto failed;
    }

    rs->push_retries = ctx->cf.rustshare_retries;
    rs->push_timeout = ctx->cf.rustshare_timeout;
    rs->sync_retries = ctx->cf.rustshare_retries;

    srandom((unsigned) getpid() ^ (unsigned) prov_now());

    return PROV_OK;

failed:

    prov_rs_close(rs);

    return PROV_ERR;
}


void
prov_rs_close(prov_rs_t *rs)
{
    struct curl_slist  *h;

    for (h = rs->headers; h; h = h->next) {
        prov_memzero(h->data, strlen(h->data));
    }

    curl_slist_free_all(rs->headers);

    if (rs->curl) {
        curl_easy_cleanup(rs->curl);
    }

    if (rs->auth) {
        prov_memzero(rs->auth, strlen(rs->auth));
        free(rs->auth);
    }

    prov_handover_free(rs->handover);
    memset(rs, 0, sizeof(*rs));
}


/* ------------------------------------------------------------ fetch */


/* objects of a page into map[id]; a second object with one id refuses */

static int
prov_rs_collect(json_t *map, json_t *arr, const char *what, prov_err_t *err)
{
    size_t       i;
    json_t      *o;
    const char  *id;

    if (!json_is_array(arr)) {
        prov_err_set(err, PROV_E_SOURCE, "RustShare snapshot: \"%s\" is not "
                     "an array", what);
        return PROV_ERR;
    }

    json_array_foreach(arr, i, o) {
        id = json_string_value(json_object_get(o, "id"));

        if (!json_is_object(o) || id == NULL || strlen(id) > 64) {
            prov_err_set(err, PROV_E_SOURCE, "RustShare snapshot: %s[%zu] "
                         "has no \"id\"", what, i);
            return PROV_ERR;
        }

        if (json_object_get(map, id)) {
            prov_err_set(err, PROV_E_SOURCE, "RustShare snapshot: %s \"%s\" "
                         "appears twice", what, id);
            return PROV_ERR;
        }

        if (json_object_set(map, id, o) != 0) {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            return PROV_ERR;
        }
    }

    return PROV_OK;
}


/* a page's "data_keys" into keys; one id with two values refuses */

static int
prov_rs_collect_keys(json_t *keys, json_t *page, prov_err_t *err)
{
    json_t      *dk, *v, *old;
    const char  *id;

    dk = json_object_get(page, "data_keys");

    if (dk == NULL || json_is_null(dk)) {
        return PROV_OK;
    }

    if (!json_is_object(dk)) {
        prov_err_set(err, PROV_E_SOURCE, "\"data_keys\" is not an object");
        return PROV_ERR;
    }

    json_object_foreach(dk, id, v) {
        old = json_object_get(keys, id);

        if (!json_is_string(v) || strlen(id) > 64
            || (old && strcmp(json_string_value(old), json_string_value(v))))
        {
            prov_err_set(err, PROV_E_SOURCE, "data key \"%.64s\" is not a "
                         "string or has two values", id);
            return PROV_ERR;
        }

        if (old == NULL && json_object_set(keys, id, v) != 0) {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            return PROV_ERR;
        }
    }

    return PROV_OK;
}


/*
 * GET /v1/objspace/snapshot?limit=N[&cursor=C] until next_cursor is null.
 * Every page must carry the revision of the first; 410 (cursor expired)
 * restarts the snapshot once.
 */

static int
prov_rs_fetch_snapshot(prov_rs_t *rs, prov_rs_set_t *set, prov_err_t *err)
{
    int              rc, page, restarts;
    char             path[1024], what[64], *cursor, *enc;
    json_t          *root, *rev, *next;
    prov_rs_resp_t   resp;

    rc = PROV_ERR;
    cursor = NULL;
    restarts = 0;
    root = NULL;
    prov_buf_init(&resp.body);

restart:

    set->revision = -1;
    json_object_clear(set->spaces);
    json_object_clear(set->idents);
    json_object_clear(set->keys);

    for (page = 1; page <= PROV_RS_MAX_PAGES; page++) {
        if (cursor) {
            enc = curl_easy_escape(rs->curl, cursor, 0);
            snprintf(path, sizeof(path), PROV_RS_API "/snapshot?limit=%d"
                     "&cursor=%s", rs->ctx->cf.rustshare_page_size,
                     enc ? enc : "");
            curl_free(enc);

        } else {
            snprintf(path, sizeof(path), PROV_RS_API "/snapshot?limit=%d",
                     rs->ctx->cf.rustshare_page_size);
        }

        if (prov_rs_call(rs, "GET", path, NULL, NULL,
                         rs->ctx->cf.rustshare_timeout,
                         rs->sync_retries, &resp, err)
            != PROV_OK)
        {
            goto done;
        }

        if (resp.status == 410 && restarts++ == 0) {
            prov_log(PROV_LOG_WARN, "rustshare", "snapshot cursor expired, "
                     "starting over");
            free(cursor);
            cursor = NULL;
            goto restart;
        }

        if (resp.status != 200) {
            prov_rs_http_error(err, "GET", path, &resp);
            goto done;
        }

        snprintf(what, sizeof(what), "snapshot page %d", page);

        root = prov_rs_parse(&resp, what, err);
        if (root == NULL) {
            goto done;
        }

        rev = json_object_get(root, "revision");
        next = json_object_get(root, "next_cursor");

        if (!json_is_integer(rev) || json_integer_value(rev) < 0
            || (next && !json_is_null(next) && !json_is_string(next)))
        {
            prov_err_set(err, PROV_E_SOURCE, "RustShare %s: needs an integer "
                         "\"revision\" and a string or null \"next_cursor\"",
                         what);
            goto done;
        }

        if (set->revision == -1) {
            set->revision = json_integer_value(rev);

        } else if (set->revision != json_integer_value(rev)) {
            prov_err_set(err, PROV_E_SOURCE, "RustShare %s: revision %lld, "
                         "but the snapshot started at %lld", what,
                         (long long) json_integer_value(rev),
                         (long long) set->revision);
            goto done;
        }

        if (prov_rs_collect(set->spaces, json_object_get(root, "spaces"),
                            "spaces", err) != PROV_OK
            || prov_rs_collect(set->idents,
                               json_object_get(root, "identities"),
                               "identities", err) != PROV_OK
            || prov_rs_collect_keys(set->keys, root, err) != PROV_OK)
        {
            prov_err_prefix(err, "%s", what);
            goto done;
        }

        free(cursor);
        cursor = NULL;

        if (json_is_string(next)) {
            cursor = strdup(json_string_value(next));
            if (cursor == NULL) {
                prov_err_set(err, PROV_E_SYS, "out of memory");
                goto done;
            }
        }

        json_decref(root);
        root = NULL;

        if (cursor == NULL) {
            set->full = 1;
            rc = PROV_OK;
            goto done;
        }
    }

    prov_err_set(err, PROV_E_SOURCE, "RustShare snapshot: more than %d "
                 "pages", PROV_RS_MAX_PAGES);

done:

    json_decref(root);
    free(cursor);
    prov_buf_free(&resp.body);

    return rc;
}


/*
 * GET /v1/objspace/changes?since=R&limit=N&wait=S with If-None-Match:
 * "R", then further pages without waiting while has_more.  Later changes
 * of one object replace earlier ones (the last state wins).  304: nothing
 * new; 410: the revision is older than RustShare's change log (*gone).
 */

static int
prov_rs_fetch_changes(prov_rs_t *rs, int64_t since, int wait,
    prov_rs_set_t *set, int *gone, int *unchanged, prov_err_t *err)
{
    int              rc, page;
    char             path[256], inm[96], what[64];
    size_t           i;
    json_t          *root, *changes, *c, *obj, *map;
    int64_t          rev, crev, last;
    prov_rs_resp_t   resp;
    const char      *type, *op, *id;

    rc = PROV_ERR;
    root = NULL;
    *gone = 0;
    *unchanged = 0;
    prov_buf_init(&resp.body);

    for (page = 1; page <= PROV_RS_MAX_PAGES; page++) {
        snprintf(path, sizeof(path), PROV_RS_API "/changes?since=%lld"
                 "&limit=%d&wait=%d", (long long) since,
                 rs->ctx->cf.rustshare_page_size, page == 1 ? wait : 0);
        snprintf(inm, sizeof(inm), "If-None-Match: \"%lld\"",
                 (long long) since);

        if (prov_rs_call(rs, "GET", path, NULL, page == 1 ? inm : NULL,
                         rs->ctx->cf.rustshare_timeout
                         + (page == 1 ? wait : 0),
                         rs->sync_retries, &resp, err)
            != PROV_OK)
        {
            goto done;
        }

        if (resp.status == 304 && page == 1) {
            *unchanged = 1;
            set->revision = since;
            rc = PROV_OK;
            goto done;
        }

        if (resp.status == 410) {
            *gone = 1;
            rc = PROV_OK;
            goto done;
        }

        if (resp.status != 200) {
            prov_rs_http_error(err, "GET", path, &resp);
            goto done;
        }

        snprintf(what, sizeof(what), "changes page %d", page);

        root = prov_rs_parse(&resp, what, err);
        if (root == NULL) {
            goto done;
        }

        changes = json_object_get(root, "changes");
        rev = json_integer_value(json_object_get(root, "revision"));

        if (!json_is_integer(json_object_get(root, "revision"))
            || !json_is_array(changes) || rev < since
            || !json_is_boolean(json_object_get(root, "has_more")))
        {
            prov_err_set(err, PROV_E_SOURCE, "RustShare %s: needs an integer "
                         "\"revision\" (>= %lld), a \"changes\" array and a "
                         "boolean \"has_more\"", what, (long long) since);
            goto done;
        }

        if (prov_rs_collect_keys(set->keys, root, err) != PROV_OK) {
            prov_err_prefix(err, "RustShare %s", what);
            goto done;
        }

        last = since;

        json_array_foreach(changes, i, c) {
            type = json_string_value(json_object_get(c, "type"));
            op = json_string_value(json_object_get(c, "op"));
            id = json_string_value(json_object_get(c, "id"));
            obj = json_object_get(c, "object");
            crev = json_integer_value(json_object_get(c, "revision"));

            map = NULL;

            if (type && strcmp(type, "space") == 0) {
                map = set->spaces;

            } else if (type && strcmp(type, "identity") == 0) {
                map = set->idents;
            }

            if (map == NULL || op == NULL || id == NULL || strlen(id) > 64
                || crev <= last || crev > rev
                || (strcmp(op, "upsert") != 0 && strcmp(op, "delete") != 0)
                || (strcmp(op, "upsert") == 0
                    && (!json_is_object(obj)
                        || json_string_value(json_object_get(obj, "id"))
                           == NULL
                        || strcmp(json_string_value(json_object_get(obj,
                                                                    "id")),
                                  id) != 0)))
            {
                prov_err_set(err, PROV_E_SOURCE, "RustShare %s: change %zu "
                             "is malformed (type space|identity, op "
                             "upsert|delete, id, object with that id for "
                             "upsert, increasing revision <= %lld)", what, i,
                             (long long) rev);
                goto done;
            }

            last = crev;

            if (json_object_set(map, id, strcmp(op, "upsert") == 0
                                         ? obj : json_null())
                != 0)
            {
                prov_err_set(err, PROV_E_SYS, "out of memory");
                goto done;
            }
        }

        since = rev;

        if (!json_is_true(json_object_get(root, "has_more"))) {
            set->revision = rev;
            rc = PROV_OK;
            goto done;
        }

        json_decref(root);
        root = NULL;
    }

    prov_err_set(err, PROV_E_SOURCE, "RustShare changes: more than %d pages",
                 PROV_RS_MAX_PAGES);

done:

    json_decref(root);
    prov_buf_free(&resp.body);

    return rc;
}


/* ------------------------------------------------------------ prepare */


/*
 * One read per item, pipelined; fmt has one %s for:
 *   which 0: the item's id            -> reply in item->managed
 *   which 1: the object's space_id    -> item->tenant
 *   which 2: the space's bucket       -> item->owner
 *   which 3: the object's access key  -> item->owner
 * A nil reply leaves the slot NULL.
 */


static void
prov_rs_record(prov_rs_t *rs, prov_rs_result_t *res, const char *error)
{
    prov_err_t   e;
    redisReply  *reply;

    reply = prov_redis_write(&rs->ctx->redis, &e,
                "HSET %s last_sync %lld result %s error %s revision %lld "
                "mode %s",
                PROV_K_RS_STATUS, (long long) prov_now(),
                error ? "error" : "ok", error ? error : "",
                (long long) res->revision,
                res->full ? "snapshot" : "changes");
    if (reply) {
        freeReplyObject(reply);
    }
}


int
prov_rs_sync(prov_rs_t *rs, int full, int wait, prov_rs_result_t *res,
    prov_err_t *err)
{
    int             rc, gone, unchanged;
    double          t0;
    int64_t         since;
    redisReply     *reply;
    prov_rs_set_t   set;

    memset(res, 0, sizeof(*res));
    memset(&set, 0, sizeof(set));
    rc = PROV_ERR;
    since = -1;

    set.spaces = json_object();
    set.idents = json_object();
    set.keys = json_object();

    if (set.spaces == NULL || set.idents == NULL || set.keys == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    reply = prov_redis_cmd(&rs->ctx->redis, err, "GET %s", PROV_K_RS_REVISION);
    if (reply == NULL) {
        goto done;
    }

    if (reply->type == REDIS_REPLY_STRING) {
        since = strtoll(reply->str, NULL, 10);
    }

    freeReplyObject(reply);

    t0 = prov_rs_ms();

    if (!full && since >= 0) {
        if (prov_rs_fetch_changes(rs, since, wait, &set, &gone, &unchanged,
                                  err) != PROV_OK)
        {
            goto done;
        }

        if (unchanged) {
            res->unchanged = 1;
            res->revision = since;
            res->fetch_ms = prov_rs_ms() - t0;
            rc = PROV_OK;
            goto done;
        }

        if (gone) {
            prov_log(PROV_LOG_WARN, "rustshare", "revision %lld is older than "
                     "RustShare's change log: full snapshot",
                     (long long) since);
        }

        full = gone;
    }

    if ((full || since < 0)
        && prov_rs_fetch_snapshot(rs, &set, err) != PROV_OK)
    {
        goto done;
    }

    res->full = set.full;
    res->revision = set.revision;
    res->fetch_ms = prov_rs_ms() - t0;

    if (prov_rs_apply(rs, &set, res, err) != PROV_OK) {
        if (res->failed) {
            prov_err_prefix(err, "the revision stays at %lld",
                            (long long) since);
        }

        goto done;
    }

    /* fenced in the daemon: a node that lost the lease since its last
     * batch must not move the revision of the one that holds it now */
    reply = prov_redis_write(&rs->ctx->redis, err, "SET %s %lld",
                             PROV_K_RS_REVISION, (long long) set.revision);
    if (reply == NULL) {
        goto done;
    }

    freeReplyObject(reply);

    prov_log(PROV_LOG_INFO, "rustshare", "revision %lld applied (%s): spaces "
             "+%zu -%zu, identities +%zu -%zu, unchanged %zu",
             (long long) set.revision, set.full ? "snapshot" : "changes",
             res->spaces_written, res->spaces_deleted,
             res->identities_written, res->identities_deleted, res->skipped);

    rc = PROV_OK;

done:

    if (!res->unchanged) {
        prov_rs_record(rs, res, rc == PROV_OK ? NULL : err->msg);
    }

    prov_rs_set_free(&set);

    return rc;
}


/* ------------------------------------------------------------ push */


/*
 * POST /v1/objspace/{kind} with an Idempotency-Key (idem, or a fresh
 * random one): RustShare applies a retried batch once.
 */

int
prov_rs_push_body(prov_rs_t *rs, const char *kind, const char *body,
    const char *idem, prov_err_t *err)
{
    int              rc;
    char             path[128], hdr[160], gen[40];
    unsigned char    rnd[16];
    prov_rs_resp_t   resp;

    if (idem == NULL) {
        if (prov_random(rnd, sizeof(rnd), err) != PROV_OK) {
            return PROV_ERR;
        }

        for (int i = 0; i < 16; i++) {
            snprintf(gen + 2 * i, 3, "%02x", rnd[i]);
        }

        idem = gen;
    }

    snprintf(path, sizeof(path), PROV_RS_API "/%s", kind);
    snprintf(hdr, sizeof(hdr), "Idempotency-Key: %.100s", idem);
    prov_buf_init(&resp.body);

    rc = prov_rs_call(rs, "POST", path, body, hdr, rs->push_timeout,
                      rs->push_retries, &resp, err);

    if (rc == PROV_OK && (resp.status < 200 || resp.status >= 300)) {
        prov_rs_http_error(err, "POST", path, &resp);
        rc = PROV_ERR;
    }

    prov_buf_free(&resp.body);

    return rc;
}


static int
prov_rs_push(prov_rs_t *rs, const char *kind, json_t *body, const char *idem,
    prov_err_t *err)
{
    int    rc;
    char  *s;

    s = json_dumps(body, JSON_COMPACT);
    if (s == NULL) {
        prov_err_set(err, PROV_E_SYS, "json_dumps failed");
        return PROV_ERR;
    }

    rc = prov_rs_push_body(rs, kind, s, idem, err);
    free(s);

    return rc;
}


int
prov_rs_push_usage(prov_rs_t *rs, json_t *spaces, prov_err_t *err)
{
    int      rc;
    char     t[32];
    json_t  *body;

    prov_format_time(prov_now(), t, sizeof(t));

    body = json_pack("{s:s, s:O}", "reported_at", t, "spaces", spaces);
    if (body == NULL) {
        prov_err_set(err, PROV_E_INVAL, "usage: \"spaces\" must be an array");
        return PROV_ERR;
    }

    rc = prov_rs_push(rs, "usage", body, NULL, err);
    json_decref(body);

    return rc;
}


int
prov_rs_push_key_usage(prov_rs_t *rs, json_t *keys, prov_err_t *err)
{
    int      rc;
    char     t[32];
    json_t  *body;

    prov_format_time(prov_now(), t, sizeof(t));

    body = json_pack("{s:s, s:O}", "reported_at", t, "keys", keys);
    if (body == NULL) {
        prov_err_set(err, PROV_E_INVAL, "key usage: \"keys\" must be an "
                     "array");
        return PROV_ERR;
    }

    rc = prov_rs_push(rs, "key-usage", body, NULL, err);
    json_decref(body);

    return rc;
}


int
prov_rs_push_audit(prov_rs_t *rs, json_t *events, const char *batch_id,
    prov_err_t *err)
{
    int      rc;
    json_t  *body;

    body = json_pack("{s:O}", "events", events);
    if (body == NULL) {
        prov_err_set(err, PROV_E_INVAL, "audit: \"events\" must be an array");
        return PROV_ERR;
    }

    rc = prov_rs_push(rs, "audit", body, batch_id, err);
    json_decref(body);

    return rc;
}


/* ------------------------------------------------------------ CLI */


int
prov_rs_cli_sync(const char *config, int json, int full, int wait,
    int allow_mass_delete, prov_err_t *err)
{
    int               rc;
    json_t           *j;
    prov_rs_t         rs;
    prov_ctx_t        ctx;
    prov_rs_result_t  res;

    if (prov_ctx_open(&ctx, config, 0, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (allow_mass_delete) {
        /* this pass only: the operator has checked what RustShare dropped */
        ctx.cf.sync_max_delete_fraction = 1.0;
    }

    if (prov_rs_open(&rs, &ctx, err) != PROV_OK) {
        prov_ctx_close(&ctx);
        return PROV_ERR;
    }

    rc = prov_rs_sync(&rs, full, wait, &res, err);

    if (rc == PROV_OK && json) {
        j = json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                      "s:{s:f, s:f, s:f, s:f}}",
                      "revision", (json_int_t) res.revision,
                      "mode", res.unchanged ? "unchanged"
                              : res.full ? "snapshot" : "changes",
                      "spaces_written", (json_int_t) res.spaces_written,
                      "spaces_deleted", (json_int_t) res.spaces_deleted,
                      "identities_written",
                      (json_int_t) res.identities_written,
                      "identities_deleted",
                      (json_int_t) res.identities_deleted,
                      "unchanged_objects", (json_int_t) res.skipped,
                      "failed", (json_int_t) res.failed,
                      "requests", (json_int_t) rs.requests,
                      "ms", "fetch", res.fetch_ms, "prepare",
                      res.prepare_ms, "backend", res.backend_ms, "redis",
                      res.redis_ms);
        if (j) {
            json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
            fputc('\n', stdout);
            json_decref(j);
        }

    } else if (rc == PROV_OK) {
        printf("RustShare revision %lld (%s)\n"
               "Spaces: %zu written, %zu deleted\n"
               "Identities: %zu written, %zu deleted\n"
               "Unchanged: %zu\n",
               (long long) res.revision,
               res.unchanged ? "no change" : res.full ? "snapshot"
                                                      : "changes",
               res.spaces_written, res.spaces_deleted,
               res.identities_written, res.identities_deleted, res.skipped);
    }

    prov_rs_close(&rs);
    prov_ctx_close(&ctx);

    return rc;
}


int
prov_rs_cli_push(const char *config, int json, const char *kind,
    const char *file, prov_err_t *err)
{
    int            rc;
    json_t        *arr;
    prov_rs_t      rs;
    prov_ctx_t     ctx;
    json_error_t   jerr;

    if (strcmp(kind, "usage") && strcmp(kind, "key-usage")
        && strcmp(kind, "audit"))
    {
        prov_err_set(err, PROV_E_INVAL, "unknown push \"%s\": use usage, "
                     "key-usage or audit", kind);
        return PROV_ERR;
    }

    arr = strcmp(file, "-") == 0 ? json_loadf(stdin, 0, &jerr)
                                 : json_load_file(file, 0, &jerr);
    if (!json_is_array(arr)) {
        json_decref(arr);
        prov_err_set(err, PROV_E_INVAL, "%s: a JSON array is needed (%s)",
                     file, arr ? "not an array" : jerr.text);
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_ctx_open(&ctx, config, 0, err) != PROV_OK) {
        json_decref(arr);
        return PROV_ERR;
    }

    if (prov_rs_open(&rs, &ctx, err) == PROV_OK) {
        rc = strcmp(kind, "usage") == 0
             ? prov_rs_push_usage(&rs, arr, err)
             : strcmp(kind, "key-usage") == 0
             ? prov_rs_push_key_usage(&rs, arr, err)
             : prov_rs_push_audit(&rs, arr, NULL, err);

        if (rc == PROV_OK) {
            if (json) {
                printf("{\"pushed\": %zu, \"kind\": \"%s\"}\n",
                       json_array_size(arr), kind);

            } else {
                printf("Pushed %zu %s records to RustShare\n",
                       json_array_size(arr), kind);
            }
        }

        prov_rs_close(&rs);
    }

    prov_ctx_close(&ctx);
    json_decref(arr);

    return rc;
}


int
prov_rs_cli_pubkey(const char *path, int json, prov_err_t *err)
{
    int               rc;
    json_t           *j;
    prov_buf_t        pem;
    prov_handover_t  *h;

    if (prov_handover_load(&h, path, err) != PROV_OK) {
        return PROV_ERR;
    }

    prov_buf_init(&pem);
    rc = prov_handover_public_pem(h, &pem, err);

    if (rc == PROV_OK && json) {
        j = json_pack("{s:s, s:s, s:s}", "kid", prov_handover_kid(h),
                      "alg", PROV_HANDOVER_ALG, "public_key_pem", pem.data);
        if (j) {
            json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
            fputc('\n', stdout);
            json_decref(j);
        }

    } else if (rc == PROV_OK) {
        printf("Hand-over key id: %s\nAlgorithm: %s\n%s",
               prov_handover_kid(h), PROV_HANDOVER_ALG, pem.data);
    }

    prov_buf_free(&pem);
    prov_handover_free(h);

    return rc;
}


/* the secret comes from stdin (one line), never from the command line */

int
prov_rs_cli_seal(const char *config, const char *access_key_id,
    prov_err_t *err)
{
    int               rc;
    char              line[256];
    size_t            n;
    json_t           *env, *keys, *out;
    prov_buf_t        pem;
    prov_config_t     cf;
    prov_handover_t  *h;

    if (!prov_rs_valid_ak(access_key_id)) {
        prov_err_set(err, PROV_E_INVAL, "invalid access key id");
        return PROV_ERR;
    }

    if (prov_config_load(&cf, config, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;
    h = NULL;
    keys = json_object();
    prov_buf_init(&pem);

    if (cf.rustshare_handover_key == NULL) {
        prov_err_set(err, PROV_E_CONFIG, "no rustshare_handover_key in the "
                     "configuration");
        goto done;
    }

    if (fgets(line, sizeof(line), stdin) == NULL) {
        prov_err_set(err, PROV_E_INVAL, "no secret on stdin");
        goto done;
    }

    n = strcspn(line, "\r\n");
    line[n] = '\0';

    if (prov_handover_load(&h, cf.rustshare_handover_key, err) != PROV_OK
        || prov_handover_public_pem(h, &pem, err) != PROV_OK
        || prov_handover_seal(pem.data, line, n, access_key_id, &env, keys,
                              err) != PROV_OK)
    {
        goto done;
    }

    out = json_pack("{s:o, s:O}", "secret", env, "data_keys", keys);
    if (out) {
        json_dumpf(out, stdout, JSON_COMPACT | JSON_SORT_KEYS);
        fputc('\n', stdout);
        json_decref(out);
    }

    rc = PROV_OK;

done:

    prov_memzero(line, sizeof(line));
    json_decref(keys);
    prov_buf_free(&pem);
    prov_handover_free(h);
    prov_config_free(&cf);

    return rc;
}


json_t *
prov_rs_status_json(prov_ctx_t *ctx)
{
    char         t[32];
    json_t      *j;
    prov_err_t   e;
    redisReply  *reply;
    const char  *s;

    reply = prov_redis_cmd(&ctx->redis, &e, "HGETALL %s", PROV_K_RS_STATUS);
    if (reply == NULL || reply->elements == 0) {
        if (reply) {
            freeReplyObject(reply);
        }

        return NULL;
    }

    s = prov_redis_field(reply, "last_sync");
    prov_format_time(s ? strtoll(s, NULL, 10) : 0, t, sizeof(t));

    s = prov_redis_field(reply, "revision");

    j = json_pack("{s:s, s:I, s:s, s:s, s:s}", "at", t,
                  "revision", (json_int_t) (s ? strtoll(s, NULL, 10) : -1),
                  "result", prov_redis_field(reply, "result")
                            ? prov_redis_field(reply, "result") : "",
                  "mode", prov_redis_field(reply, "mode")
                          ? prov_redis_field(reply, "mode") : "",
                  "error", prov_redis_field(reply, "error")
                           ? prov_redis_field(reply, "error") : "");

    freeReplyObject(reply);

    return j;
}

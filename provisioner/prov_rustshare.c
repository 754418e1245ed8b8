
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


#define PROV_RS_BATCH        512        /* objects per MULTI/EXEC */
#define PROV_RS_PIPE         8192       /* commands per read pipeline */
#define PROV_RS_DIGEST_LEN   32
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


typedef struct {
    const char    *id;
    json_t        *obj;             /* borrowed from the set; NULL: delete */
    char          *sealed;          /* identity: secret, key-file sealed */
    char          *sealed_prev;
    char          *managed;         /* value in the managed hash or NULL */
    char          *tenant;          /* identity: its space's tenant */
    char          *bucket;          /* space: its bucket name */
    char          *owner;           /* who holds the bucket / access key */
    prov_space_t  *cur;             /* space: the record in Redis */
    char           digest[PROV_RS_DIGEST_LEN + 1];
    unsigned       skip:1;          /* unchanged */
    unsigned       is_new:1;        /* space: not in Redis yet */
    unsigned       failed:1;        /* backend failed: next pass retries */
    unsigned       disable:1;       /* space: suspend the backend after */
} prov_rs_item_t;


typedef struct {
    json_t          *spaces;        /* id -> object, or null: delete */
    json_t          *idents;
    json_t          *keys;          /* data_keys: dek id -> wrapped DEK */
    int64_t          revision;
    int              full;
    prov_rs_item_t  *sp;
    size_t           nsp;
    prov_rs_item_t  *id;
    size_t           nid;
} prov_rs_set_t;


static double prov_rs_ms(void);
static void prov_rs_sleep_ms(long ms);
static size_t prov_rs_write_cb(char *p, size_t size, size_t n, void *data);
static size_t prov_rs_header_cb(char *p, size_t size, size_t n, void *data);
static int prov_rs_request(prov_rs_t *rs, const char *method,
    const char *path, const char *body, const char *extra, long timeout_s,
    prov_rs_resp_t *resp, prov_err_t *err);
static void prov_rs_http_error(prov_err_t *err, const char *method,
    const char *path, prov_rs_resp_t *resp);
static int prov_rs_call(prov_rs_t *rs, const char *method, const char *path,
    const char *body, const char *extra, long timeout_s,
    prov_rs_resp_t *resp, prov_err_t *err);
static json_t *prov_rs_parse(prov_rs_resp_t *resp, const char *what,
    prov_err_t *err);
static int prov_rs_valid_id(const char *s, const char *prefix);
static int prov_rs_valid_ak(const char *s);
static int prov_rs_time(json_t *v, int64_t *t);
static int prov_rs_collect(json_t *map, json_t *arr, const char *what,
    prov_err_t *err);
static int prov_rs_collect_keys(json_t *keys, json_t *page,
    prov_err_t *err);
static int prov_rs_fetch_snapshot(prov_rs_t *rs, prov_rs_set_t *set,
    prov_err_t *err);
static int prov_rs_fetch_changes(prov_rs_t *rs, int64_t since, int wait,
    prov_rs_set_t *set, int *gone, int *unchanged, prov_err_t *err);
static void prov_rs_digest(json_t *o, char *out);
static int prov_rs_pipe_skip(prov_rs_item_t *it, int which);
static int prov_rs_pipe(prov_rs_t *rs, const char *fmt,
    prov_rs_item_t *items, size_t n, int which, prov_err_t *err);
static int prov_rs_items_of(json_t *map, prov_rs_item_t **out, size_t *n,
    prov_err_t *err);
static int prov_rs_items(prov_rs_t *rs, prov_rs_set_t *set, prov_err_t *err);
static void prov_rs_set_free(prov_rs_set_t *set);
static int prov_rs_space_parse(prov_rs_t *rs, json_t *o, prov_space_t *sp,
    prov_err_t *err);
static int prov_rs_ident_parse(json_t *o, prov_ident_t *id, json_t **sec,
    json_t **prev, int64_t *prev_until, prov_err_t *err);
static int prov_rs_reseal(prov_rs_t *rs, json_t *env, json_t *keys,
    const char *ak, const char *aad_prefix, char **out, prov_err_t *err);
static int prov_rs_prepare(prov_rs_t *rs, prov_rs_set_t *set,
    prov_err_t *err);
static int prov_rs_leader(prov_rs_t *rs, prov_err_t *err);
static int prov_rs_backend(prov_rs_t *rs, prov_rs_set_t *set,
    prov_rs_result_t *res);
static int prov_rs_write(prov_rs_t *rs, prov_rs_set_t *set,
    prov_rs_result_t *res, prov_err_t *err);
static int prov_rs_delete_spaces(prov_rs_t *rs, prov_rs_set_t *set,
    prov_rs_result_t *res, prov_err_t *err);
static void prov_rs_record(prov_rs_t *rs, prov_rs_result_t *res,
    const char *error);
static int prov_rs_push(prov_rs_t *rs, const char *kind, json_t *body,
    const char *idem, prov_err_t *err);
static int prov_rs_read_token(const char *path, char **token,
    prov_err_t *err);


static double
prov_rs_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}


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
 * timeouts), 5xx and 429 are retried rustshare_retries times with
 * exponential backoff (500 ms doubling, capped at 8 s, +-25 % jitter, or
 * Retry-After up to 30 s); 401/403 are refused at once.  2xx, 304 and 410
 * return PROV_OK: the caller reads resp->status.
 */

static int
prov_rs_call(prov_rs_t *rs, const char *method, const char *path,
    const char *body, const char *extra, long timeout_s,
    prov_rs_resp_t *resp, prov_err_t *err)
{
    int    attempt, retries, retry;
    long   delay;

    retries = rs->ctx->cf.rustshare_retries;

    for (attempt = 0; /* void */ ; attempt++) {
        retry = 0;

        if (prov_rs_request(rs, method, path, body, extra, timeout_s, resp,
                            err) != PROV_OK)
        {
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
            if (retry) {
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


/* prefix + 16 lowercase hex */

static int
prov_rs_valid_id(const char *s, const char *prefix)
{
    size_t  i, n;

    n = strlen(prefix);

    if (s == NULL || strncmp(s, prefix, n) != 0 || strlen(s) != n + 16) {
        return 0;
    }

    for (i = n; s[i]; i++) {
        if (!isdigit((unsigned char) s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) {
            return 0;
        }
    }

    return 1;
}


/* "RS3" + 17 of [A-Z2-7] (docs/provisioner.md) */

static int
prov_rs_valid_ak(const char *s)
{
    size_t  i;

    if (s == NULL || strlen(s) != PROV_ACCESS_KEY_LEN
        || strncmp(s, "RS3", 3) != 0)
    {
        return 0;
    }

    for (i = 3; s[i]; i++) {
        if (!(s[i] >= 'A' && s[i] <= 'Z') && !(s[i] >= '2' && s[i] <= '7')) {
            return 0;
        }
    }

    return 1;
}


/*
 * RFC 3339 in UTC: "2025-01-31T12:00:00Z", optional fraction, "Z" or
 * "+00:00".  null -> 0.  Returns 0 ok, -1 malformed.
 */

static int
prov_rs_time(json_t *v, int64_t *t)
{
    int          n;
    const char  *s, *p;
    struct tm    tm;

    if (v == NULL || json_is_null(v)) {
        *t = 0;
        return 0;
    }

    s = json_string_value(v);
    if (s == NULL) {
        return -1;
    }

    memset(&tm, 0, sizeof(tm));
    n = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6
        || n != 19 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1
        || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59
        || tm.tm_sec > 60)
    {
        return -1;
    }

    p = s + 19;

    if (*p == '.') {
        for (p++; isdigit((unsigned char) *p); p++) { /* void */ }
    }

    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0) {
        return -1;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *t = (int64_t) timegm(&tm);

    return 0;
}


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
                         rs->ctx->cf.rustshare_timeout, &resp, err)
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
                         + (page == 1 ? wait : 0), &resp, err)
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


/* first 128 bits of SHA-256 over the object's canonical JSON, hex */

static void
prov_rs_digest(json_t *o, char *out)
{
    int             i;
    char           *s;
    unsigned char   md[SHA256_DIGEST_LENGTH];

    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    SHA256((const unsigned char *) (s ? s : ""), s ? strlen(s) : 0, md);

    if (s) {
        prov_memzero(s, strlen(s));
        free(s);
    }

    for (i = 0; i < PROV_RS_DIGEST_LEN / 2; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}


/*
 * One read per item, pipelined; fmt has one %s for:
 *   which 0: the item's id            -> reply in item->managed
 *   which 1: the object's space_id    -> item->tenant
 *   which 2: the space's bucket       -> item->owner
 *   which 3: the object's access key  -> item->owner
 * A nil reply leaves the slot NULL.
 */

/* items a read pipeline leaves out: slot known already, or nothing to ask */

static int
prov_rs_pipe_skip(prov_rs_item_t *it, int which)
{
    switch (which) {
    case 0:
        return it->managed != NULL;
    case 1:
        return it->obj == NULL || it->skip || it->tenant != NULL;
    case 2:
        return it->obj == NULL || it->skip || it->bucket == NULL;
    default:
        return it->obj == NULL || it->skip;
    }
}


static int
prov_rs_pipe(prov_rs_t *rs, const char *fmt, prov_rs_item_t *items,
    size_t n, int which, prov_err_t *err)
{
    int              rc;
    char           **dst;
    size_t           i, j, end;
    void            *p;
    redisReply      *r;
    redisContext    *c;
    const char      *arg;

    c = rs->ctx->redis.c;
    rc = PROV_OK;

    for (i = 0; i < n; i = end) {
        end = i + PROV_RS_PIPE < n ? i + PROV_RS_PIPE : n;

        for (j = i; j < end; j++) {
            if (prov_rs_pipe_skip(&items[j], which)) {
                continue;
            }

            if (which == 0) {
                arg = items[j].id;

            } else if (which == 2) {
                arg = items[j].bucket;

            } else {
                arg = json_string_value(json_object_get(items[j].obj,
                                        which == 1 ? "space_id"
                                                   : "access_key_id"));
            }

            if (redisAppendCommand(c, fmt, arg ? arg : "") != REDIS_OK) {
                prov_err_set(err, PROV_E_REDIS, "redis: %s", c->errstr);
                return PROV_ERR;
            }
        }

        for (j = i; j < end; j++) {
            if (prov_rs_pipe_skip(&items[j], which)) {
                continue;
            }

            if (redisGetReply(c, &p) != REDIS_OK) {
                prov_err_set(err, PROV_E_REDIS, "redis: %s", c->errstr);
                return PROV_ERR;
            }

            r = p;
            dst = which == 0 ? &items[j].managed
                  : which == 1 ? &items[j].tenant : &items[j].owner;

            if (r->type == REDIS_REPLY_ERROR && rc == PROV_OK) {
                prov_err_set(err, PROV_E_REDIS, "redis: %.*s", (int) r->len,
                             r->str);
                rc = PROV_ERR;

            } else if (r->type == REDIS_REPLY_STRING && *dst == NULL) {
                *dst = strdup(r->str);
            }

            freeReplyObject(r);
        }
    }

    return rc;
}


static int
prov_rs_items_of(json_t *map, prov_rs_item_t **out, size_t *n,
    prov_err_t *err)
{
    size_t           i;
    json_t          *v;
    const char      *k;
    prov_rs_item_t  *items;

    items = calloc(json_object_size(map) + 1, sizeof(prov_rs_item_t));
    if (items == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    i = 0;

    json_object_foreach(map, k, v) {
        items[i].id = k;
        items[i].obj = json_is_object(v) ? v : NULL;
        i++;
    }

    *out = items;
    *n = i;

    return PROV_OK;
}


/*
 * The set's maps become item arrays; for a snapshot, every managed id
 * missing from it becomes a deletion (json null) first.
 */

static int
prov_rs_items(prov_rs_t *rs, prov_rs_set_t *set, prov_err_t *err)
{
    int              k, rc;
    size_t           i, n;
    json_t          *map, *managed[2];
    redisReply      *r;
    const char      *hash;
    prov_rs_item_t  *items;

    rc = PROV_ERR;
    managed[0] = json_object();
    managed[1] = json_object();

    /* a snapshot reads the managed hashes whole (not one HGET each) */

    for (k = 0; set->full && k < 2; k++) {
        hash = k == 0 ? PROV_K_RS_SPACES : PROV_K_RS_IDENTS;
        map = k == 0 ? set->spaces : set->idents;

        r = prov_redis_cmd(&rs->ctx->redis, err, "HGETALL %s", hash);
        if (r == NULL) {
            goto done;
        }

        for (i = 0; i + 1 < r->elements; i += 2) {
            if ((json_object_get(map, r->element[i]->str) == NULL
                 && json_object_set_new(map, r->element[i]->str, json_null())
                    != 0)
                || json_object_set_new(managed[k], r->element[i]->str,
                                       json_string(r->element[i + 1]->str))
                   != 0)
            {
                freeReplyObject(r);
                prov_err_set(err, PROV_E_SYS, "out of memory");
                goto done;
            }
        }

        freeReplyObject(r);
    }

    if (prov_rs_items_of(set->spaces, &set->sp, &set->nsp, err) != PROV_OK
        || prov_rs_items_of(set->idents, &set->id, &set->nid, err)
           != PROV_OK)
    {
        goto done;
    }

    for (k = 0; set->full && k < 2; k++) {
        items = k == 0 ? set->sp : set->id;
        n = k == 0 ? set->nsp : set->nid;

        for (i = 0; i < n; i++) {
            hash = json_string_value(json_object_get(managed[k],
                                                     items[i].id));
            if (hash && (items[i].managed = strdup(hash)) == NULL) {
                prov_err_set(err, PROV_E_SYS, "out of memory");
                goto done;
            }
        }
    }

    rc = PROV_OK;

done:

    json_decref(managed[0]);
    json_decref(managed[1]);

    return rc;
}


static void
prov_rs_set_free(prov_rs_set_t *set)
{
    size_t  i;

    for (i = 0; i < set->nsp; i++) {
        free(set->sp[i].managed);
        free(set->sp[i].tenant);
        free(set->sp[i].bucket);
        free(set->sp[i].owner);

        if (set->sp[i].cur) {
            prov_space_free(set->sp[i].cur);
            free(set->sp[i].cur);
        }
    }

    for (i = 0; i < set->nid; i++) {
        free(set->id[i].managed);
        free(set->id[i].tenant);
        free(set->id[i].owner);
        free(set->id[i].sealed);
        free(set->id[i].sealed_prev);
    }

    free(set->sp);
    free(set->id);
    json_decref(set->spaces);
    json_decref(set->idents);
    json_decref(set->keys);
    memset(set, 0, sizeof(*set));
}


#define PROV_RS_STR(o, name, dst, dflt)                                      \
    do {                                                                     \
        json_t *v_ = json_object_get(o, name);                               \
        const char *s_ = (v_ == NULL || json_is_null(v_))                    \
                         ? (dflt) : json_string_value(v_);                   \
        if (s_ == NULL || strlen(s_) >= sizeof(dst)) {                       \
            bad = name;                                                      \
            goto bad;                                                        \
        }                                                                    \
        strcpy(dst, s_);                                                     \
    } while (0)


/* a space object (docs/rustshare-api.md "Space") into sp, validated */

static int
prov_rs_space_parse(prov_rs_t *rs, json_t *o, prov_space_t *sp,
    prov_err_t *err)
{
    json_t            *q;
    int64_t            t;
    const char        *bad, *b;
    prov_space_req_t   req;

    memset(sp, 0, sizeof(*sp));
    bad = "id";

    PROV_RS_STR(o, "id", sp->id, NULL);

    if (!prov_rs_valid_id(sp->id, "sp_")) {
        goto bad;
    }

    PROV_RS_STR(o, "tenant_id", sp->tenant, NULL);
    PROV_RS_STR(o, "name", sp->name, NULL);
    PROV_RS_STR(o, "purpose", sp->purpose, "generic");
    PROV_RS_STR(o, "visibility", sp->visibility, "private");
    PROV_RS_STR(o, "status", sp->status, "active");

    bad = "visibility";
    if (strcmp(sp->visibility, "private") && strcmp(sp->visibility, "public"))
    {
        goto bad;
    }

    bad = "status";
    if (strcmp(sp->status, "active") && strcmp(sp->status, "disabled")) {
        goto bad;
    }

    bad = "quota_bytes";
    q = json_object_get(o, "quota_bytes");
    if (q && !json_is_null(q)
        && (!json_is_integer(q) || json_integer_value(q) < 0))
    {
        goto bad;
    }

    sp->quota_bytes = q ? json_integer_value(q) : 0;

    bad = "created_at";
    if (prov_rs_time(json_object_get(o, "created_at"), &t) != 0) {
        goto bad;
    }

    sp->created_at = t ? t : prov_now();

    req.tenant = sp->tenant;
    req.name = sp->name;
    req.purpose = sp->purpose;
    req.quota_bytes = sp->quota_bytes;
    req.public = 0;

    if (prov_space_req_check(&req, err) != PROV_OK
        || prov_config_bucket(&rs->ctx->cf, sp->tenant, sp->name, sp->id,
                              sp->bucket, sizeof(sp->bucket), err)
           != PROV_OK)
    {
        prov_err_prefix(err, "space %s", sp->id);
        return PROV_ERR;
    }

    b = json_string_value(json_object_get(o, "bucket"));

    if (b && strcmp(b, sp->bucket) != 0) {
        prov_err_set(err, PROV_E_SOURCE, "space %s: bucket \"%.63s\" is not "
                     "\"%s\" (bucket_pattern decides bucket names)", sp->id,
                     b, sp->bucket);
        return PROV_ERR;
    }

    return PROV_OK;

bad:

    prov_err_set(err, PROV_E_SOURCE, "space %.64s: missing or invalid "
                 "\"%s\"", sp->id[0] ? sp->id : "?", bad);
    return PROV_ERR;
}


/* an identity object (docs/rustshare-api.md "Identity") into id */

static int
prov_rs_ident_parse(json_t *o, prov_ident_t *id, json_t **sec, json_t **prev,
    int64_t *prev_until, prov_err_t *err)
{
    json_t          *v;
    int64_t          t;
    const char      *bad;
    prov_key_req_t   req;

    memset(id, 0, sizeof(*id));
    bad = "id";

    PROV_RS_STR(o, "id", id->id, NULL);

    if (!prov_rs_valid_id(id->id, "key_")) {
        goto bad;
    }

    PROV_RS_STR(o, "access_key_id", id->access_key_id, NULL);

    if (!prov_rs_valid_ak(id->access_key_id)) {
        goto bad;
    }

    PROV_RS_STR(o, "space_id", id->space, NULL);

    if (!prov_rs_valid_id(id->space, "sp_")) {
        goto bad;
    }

    PROV_RS_STR(o, "name", id->name, NULL);
    PROV_RS_STR(o, "permissions", id->mode, NULL);
    PROV_RS_STR(o, "prefix", id->prefix, "");
    PROV_RS_STR(o, "status", id->status, "active");

    bad = "status";
    if (strcmp(id->status, "active") && strcmp(id->status, "revoked")) {
        goto bad;
    }

    bad = "immutable";
    v = json_object_get(o, "immutable");
    if (v && !json_is_boolean(v)) {
        goto bad;
    }

    id->immutable = json_is_true(v);

    bad = "expires_at";
    if (prov_rs_time(json_object_get(o, "expires_at"), &id->expires_at)
        != 0)
    {
        goto bad;
    }

    bad = "created_at";
    if (prov_rs_time(json_object_get(o, "created_at"), &t) != 0) {
        goto bad;
    }

    id->created_at = t ? t : prov_now();

    bad = "secret";
    *sec = json_object_get(o, "secret");
    if (!json_is_object(*sec)) {
        goto bad;
    }

    bad = "previous_secret";
    *prev = json_object_get(o, "previous_secret");
    *prev_until = 0;

    if (*prev && json_is_null(*prev)) {
        *prev = NULL;
    }

    if (*prev) {
        if (!json_is_object(*prev)
            || prov_rs_time(json_object_get(o, "previous_secret_valid_until"),
                            prev_until) != 0
            || *prev_until == 0)
        {
            goto bad;
        }
    }

    req.name = id->name;
    req.mode = id->mode;
    req.prefix = id->prefix;
    req.expires_in = 0;
    req.immutable = id->immutable;

    if (prov_key_req_check(&req, err) != PROV_OK) {
        prov_err_prefix(err, "identity %s", id->id);
        return PROV_ERR;
    }

    return PROV_OK;

bad:

    prov_err_set(err, PROV_E_SOURCE, "identity %.64s: missing or invalid "
                 "\"%s\"", id->id[0] ? id->id : "?", bad);
    return PROV_ERR;
}

#undef PROV_RS_STR


/* opens a hand-over envelope and re-seals it for Redis (AAD prefix:ak) */

static int
prov_rs_reseal(prov_rs_t *rs, json_t *env, json_t *keys, const char *ak,
    const char *aad_prefix, char **out, prov_err_t *err)
{
    int         rc;
    char        aad[64];
    prov_buf_t  plain;

    prov_buf_init(&plain);
    snprintf(aad, sizeof(aad), "%s:%s", aad_prefix, ak);

    rc = prov_handover_open(rs->handover, env, keys, ak, &plain, err);

    if (rc == PROV_OK) {
        if (plain.len < 16 || plain.len > 128) {
            prov_err_set(err, PROV_E_SOURCE, "secret must be 16 to 128 "
                         "characters");
            rc = PROV_ERR;

        } else {
            rc = prov_seal(&rs->ctx->key, plain.data, plain.len, aad, out,
                           err);
        }
    }

    prov_buf_wipe(&plain);

    return rc;
}


/*
 * Validation of the whole set before any write: every object parses,
 * unchanged objects (same digest) are skipped, identities reference a
 * space that exists after the set, access key ids are not taken by
 * another identity, bucket names are free, and every secret envelope
 * opens.  Any failure refuses the set.
 */

static int
prov_rs_prepare(prov_rs_t *rs, prov_rs_set_t *set, prov_err_t *err)
{
    char             *sp_of, *ak_of, *dig;
    size_t            i;
    json_t           *sec, *prev, *target, *buckets;
    int64_t           until;
    prov_space_t      sp;
    prov_ident_t      id;
    prov_rs_item_t   *it;

    buckets = json_object();
    if (buckets == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    if (!set->full
        && (prov_rs_pipe(rs, "HGET " PROV_K_RS_SPACES " %s", set->sp,
                         set->nsp, 0, err) != PROV_OK
            || prov_rs_pipe(rs, "HGET " PROV_K_RS_IDENTS " %s", set->id,
                            set->nid, 0, err) != PROV_OK))
    {
        goto failed;
    }

    /* spaces */

    for (i = 0; i < set->nsp; i++) {
        it = &set->sp[i];

        if (it->obj == NULL) {
            it->skip = (it->managed == NULL);
            continue;
        }

        if (prov_rs_space_parse(rs, it->obj, &sp, err) != PROV_OK) {
            goto failed;
        }

        prov_rs_digest(it->obj, it->digest);
        it->skip = (it->managed && strcmp(it->managed, it->digest) == 0);

        if (json_object_get(buckets, sp.bucket)) {
            prov_err_set(err, PROV_E_SOURCE, "spaces %s and %s share bucket "
                         "\"%s\"", json_string_value(json_object_get(
                         buckets, sp.bucket)), sp.id, sp.bucket);
            goto failed;
        }

        json_object_set_new(buckets, sp.bucket, json_string(sp.id));

        it->bucket = strdup(sp.bucket);
        if (it->bucket == NULL) {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto failed;
        }
    }

    /* who holds each bucket now (a space id, or nil) */

    if (prov_rs_pipe(rs, "GET " PROV_K_BUCKET, set->sp, set->nsp, 2, err)
        != PROV_OK)
    {
        goto failed;
    }

    for (i = 0; i < set->nsp; i++) {
        it = &set->sp[i];

        if (it->obj == NULL || it->skip) {
            continue;
        }

        if (it->managed == NULL && it->owner == NULL) {
            it->is_new = 1;
            continue;
        }

        it->cur = calloc(1, sizeof(prov_space_t));
        if (it->cur == NULL) {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto failed;
        }

        if (prov_space_get(rs->ctx, it->id, it->cur, err) == PROV_OK) {
            if (strcmp(it->cur->bucket, it->bucket) != 0) {
                prov_err_set(err, PROV_E_SOURCE, "space %s: its bucket is "
                             "\"%s\" and cannot become \"%s\"", it->id,
                             it->cur->bucket, it->bucket);
                goto failed;
            }

            continue;
        }

        if (err->code != PROV_E_NOTFOUND) {
            goto failed;
        }

        free(it->cur);
        it->cur = NULL;

        if (it->owner) {
            prov_err_set(err, PROV_E_SOURCE, "space %s: bucket \"%s\" "
                         "already belongs to space %.24s", it->id, it->bucket,
                         it->owner);
            goto failed;
        }

        it->is_new = 1;
    }

    /* identities: the space's tenant (also proves it exists): from the set,
     * else from Redis */

    for (i = 0; i < set->nid; i++) {
        it = &set->id[i];

        if (it->obj == NULL) {
            continue;
        }

        target = json_object_get(set->spaces, json_string_value(
                                     json_object_get(it->obj, "space_id")));

        if (json_is_object(target)) {
            it->tenant = strdup(json_string_value(json_object_get(target,
                                                                "tenant_id")));
            if (it->tenant == NULL) {
                prov_err_set(err, PROV_E_SYS, "out of memory");
                goto failed;
            }
        }
    }

    if (prov_rs_pipe(rs, "HGET " PROV_K_SPACE " tenant", set->id, set->nid,
                     1, err) != PROV_OK)
    {
        goto failed;
    }

    for (i = 0; i < set->nid; i++) {
        it = &set->id[i];

        if (it->obj == NULL) {
            it->skip = (it->managed == NULL);
            continue;
        }

        if (prov_rs_ident_parse(it->obj, &id, &sec, &prev, &until, err)
            != PROV_OK)
        {
            goto failed;
        }

        prov_rs_digest(it->obj, it->digest);

        /* the space after the set: upserted, deleted, or as in Redis */

        target = json_object_get(set->spaces, id.space);

        if (target && json_is_null(target)) {
            /* its space is deleted in this set, and it with it */
            it->skip = 1;
            continue;
        }

        if (target == NULL && it->tenant == NULL) {
            prov_err_set(err, PROV_E_SOURCE, "identity %s: unknown space "
                         "\"%s\"", id.id, id.space);
            goto failed;
        }

        /* a managed identity keeps its space and access key id */

        if (it->managed) {
            sp_of = it->managed;
            ak_of = strchr(sp_of, ' ');
            dig = ak_of ? strchr(ak_of + 1, ' ') : NULL;

            if (dig == NULL
                || strncmp(sp_of, id.space, (size_t) (ak_of - sp_of)) != 0
                || strncmp(ak_of + 1, id.access_key_id,
                           (size_t) (dig - ak_of - 1)) != 0)
            {
                prov_err_set(err, PROV_E_SOURCE, "identity %s: its space and "
                             "access key id cannot change", id.id);
                goto failed;
            }

            if (strcmp(dig + 1, it->digest) == 0) {
                it->skip = 1;
                continue;
            }
        }
    }

    /* access key ids held by other identities (local ones included) */

    if (prov_rs_pipe(rs, "HGET " PROV_K_AK " id", set->id, set->nid, 3, err)
        != PROV_OK)
    {
        goto failed;
    }

    for (i = 0; i < set->nid; i++) {
        it = &set->id[i];

        if (it->obj && !it->skip && it->owner
            && strcmp(it->owner, it->id) != 0)
        {
            prov_err_set(err, PROV_E_SOURCE, "identity %s: its access key id "
                         "belongs to identity %.24s", it->id, it->owner);
            goto failed;
        }
    }

    /* the secrets: open every envelope, re-seal with the key file */

    for (i = 0; i < set->nid; i++) {
        it = &set->id[i];

        if (it->obj == NULL || it->skip) {
            continue;
        }

        (void) prov_rs_ident_parse(it->obj, &id, &sec, &prev, &until, err);

        if (prov_rs_reseal(rs, sec, set->keys, id.access_key_id, "ak",
                           &it->sealed, err) != PROV_OK
            || (prev
                && prov_rs_reseal(rs, prev, set->keys, id.access_key_id,
                                  "ak-prev", &it->sealed_prev, err)
                   != PROV_OK))
        {
            prov_err_prefix(err, "identity %s", id.id);
            goto failed;
        }
    }

    json_decref(buckets);

    return PROV_OK;

failed:

    json_decref(buckets);

    return PROV_ERR;
}


/* ------------------------------------------------------------ apply */


static int
prov_rs_leader(prov_rs_t *rs, prov_err_t *err)
{
    if (rs->leader && !rs->leader(rs->leader_data)) {
        prov_err_set(err, PROV_E_BUSY, "lost the leader lease: not writing");
        return PROV_ERR;
    }

    return PROV_OK;
}


/*
 * Backend side first (an identity is published only after its space's
 * backend exists): new spaces get their user, bucket and quota; changed
 * spaces their quota, and enabling happens before Redis.  A failure marks
 * the space (and so its identities) failed: not published this pass.
 */

static int
prov_rs_backend(prov_rs_t *rs, prov_rs_set_t *set, prov_rs_result_t *res)
{
    int                 enabled;
    char                aad[64];
    size_t              i;
    prov_err_t          e;
    prov_space_t        sp;
    prov_store_t       *st;
    prov_rs_item_t     *it;
    prov_store_space_t  ss;

    st = &rs->ctx->store;

    for (i = 0; i < set->nsp; i++) {
        it = &set->sp[i];

        if (it->obj == NULL || it->skip) {
            continue;
        }

        (void) prov_rs_space_parse(rs, it->obj, &sp, &e);
        enabled = (strcmp(sp.status, "active") == 0);

        memset(&ss, 0, sizeof(ss));
        ss.space_id = sp.id;
        ss.tenant = sp.tenant;
        ss.name = sp.name;
        ss.bucket = sp.bucket;
        ss.quota_bytes = sp.quota_bytes;
        ss.enabled = 1;

        if (it->is_new) {
            if (prov_store_create_space(st, &ss, &e) != PROV_OK
                || (!enabled && st->ops->set_enabled(st, &ss, 0, &e)
                                != PROV_OK))
            {
                goto failed;
            }

            it->cur = calloc(1, sizeof(prov_space_t));
            if (it->cur == NULL) {
                prov_err_set(&e, PROV_E_SYS, "out of memory");
                goto failed;
            }

            snprintf(aad, sizeof(aad), "backend:%s", sp.id);
            snprintf(it->cur->backend_ak, sizeof(it->cur->backend_ak), "%s",
                     ss.backend_ak);
            it->cur->created_at = sp.created_at;

            if (prov_seal(&rs->ctx->key, ss.backend_sk,
                          strlen(ss.backend_sk), aad,
                          &it->cur->backend_secret, &e) != PROV_OK)
            {
                goto failed;
            }

            prov_store_space_wipe(&ss);
            continue;
        }

        snprintf(ss.backend_ak, sizeof(ss.backend_ak), "%s",
                 it->cur->backend_ak);

        if (sp.quota_bytes != it->cur->quota_bytes
            && st->ops->set_quota(st, &ss, &e) != PROV_OK)
        {
            goto failed;
        }

        if (enabled && strcmp(it->cur->status, "active") != 0
            && st->ops->set_enabled(st, &ss, 1, &e) != PROV_OK)
        {
            goto failed;
        }

        it->disable = (!enabled && strcmp(it->cur->status, "active") == 0);

        prov_store_space_wipe(&ss);
        continue;

    failed:

        prov_store_space_wipe(&ss);
        prov_log(PROV_LOG_ERR, "rustshare", "space %s: backend: %s (retried "
                 "next pass)", it->id, e.msg);
        it->failed = 1;
        res->failed++;
    }

    return PROV_OK;
}


/*
 * Redis: space records, then identities, then identity deletions, in
 * pipelined MULTI/EXEC batches; every record is written with its managed
 * digest and its invalidation in the same transaction.
 */

static int
prov_rs_write(prov_rs_t *rs, prov_rs_set_t *set, prov_rs_result_t *res,
    prov_err_t *err)
{
    int              pass, queued;
    char             val[128], *ak, *sp_id;
    size_t           i, n, objs;
    json_t          *sec, *prev, *failed;
    int64_t          until;
    prov_err_t       e;
    prov_space_t     sp;
    prov_ident_t     id;
    prov_redis_t    *r;
    prov_rs_item_t  *it, *items;

    r = &rs->ctx->redis;
    failed = NULL;

    for (i = 0; i < set->nsp; i++) {
        if (set->sp[i].failed) {
            if (failed == NULL) {
                failed = json_object();
            }

            json_object_set_new(failed, set->sp[i].id, json_true());
        }
    }

    for (pass = 0; pass < 3; pass++) {
        items = pass == 0 ? set->sp : set->id;
        n = pass == 0 ? set->nsp : set->nid;
        queued = 0;
        objs = 0;

        for (i = 0; i <= n; i++) {

            if (queued && (i == n || objs >= PROV_RS_BATCH)) {
                if (prov_rs_leader(rs, err) != PROV_OK
                    || prov_redis_tx_exec(r, err) != PROV_OK)
                {
                    json_decref(failed);
                    return PROV_ERR;
                }

                queued = 0;
                objs = 0;
            }

            if (i == n) {
                break;
            }

            it = &items[i];

            if (it->skip || it->failed
                || (pass < 2 && it->obj == NULL)
                || (pass == 2 && it->obj != NULL))
            {
                continue;
            }

            /* no identity before its space's backend exists */

            if (pass == 1 && failed
                && json_object_get(failed, json_string_value(
                       json_object_get(it->obj, "space_id"))))
            {
                it->failed = 1;
                res->failed++;
                continue;
            }

            if (!queued) {
                if (prov_redis_tx_begin(r, err) != PROV_OK) {
                    json_decref(failed);
                    return PROV_ERR;
                }

                queued = 1;
            }

            objs++;

            if (pass == 0) {
                (void) prov_rs_space_parse(rs, it->obj, &sp, &e);
                snprintf(sp.backend_ak, sizeof(sp.backend_ak), "%s",
                         it->cur->backend_ak);
                sp.backend_secret = it->cur->backend_secret;

                if (!it->is_new) {
                    sp.created_at = it->cur->created_at;
                }

                prov_space_tx_hset(r, &sp);

                if (it->is_new) {
                    prov_redis_tx_append(r, "SET " PROV_K_BUCKET " %s",
                                         sp.bucket, sp.id);
                    prov_redis_tx_append(r, "SADD %s %s", PROV_K_IDX_SPACES,
                                         sp.id);
                }

                prov_redis_tx_append(r, "HSET %s %s %s", PROV_K_RS_SPACES,
                                     sp.id, it->digest);
                prov_redis_tx_append(r, "PUBLISH %s space:%s", PROV_CHANNEL,
                                     sp.id);
                res->spaces_written++;
                continue;
            }

            if (pass == 1) {
                (void) prov_rs_ident_parse(it->obj, &id, &sec, &prev, &until,
                                           &e);
                snprintf(id.tenant, sizeof(id.tenant), "%s",
                         it->tenant ? it->tenant : "");
                id.secret = it->sealed;

                prov_ident_tx_hset(r, &id);

                if (it->sealed_prev) {
                    prov_redis_tx_append(r, "HSET " PROV_K_AK " secret_prev %s"
                                         " secret_prev_until %lld",
                                         id.access_key_id, it->sealed_prev,
                                         (long long) until);

                } else if (it->owner) {
                    /* an existing record may hold an older grace period */
                    prov_redis_tx_append(r, "HDEL " PROV_K_AK " secret_prev "
                                         "secret_prev_until",
                                         id.access_key_id);
                }

                prov_redis_tx_append(r, "SADD " PROV_K_IDX_KEYS " %s",
                                     id.space, id.access_key_id);
                prov_redis_tx_append(r, "SET " PROV_K_KEYID " %s", id.id,
                                     id.access_key_id);

                snprintf(val, sizeof(val), "%s %s %s", id.space,
                         id.access_key_id, it->digest);
                prov_redis_tx_append(r, "HSET %s %s %s", PROV_K_RS_IDENTS,
                                     id.id, val);
                prov_redis_tx_append(r, "PUBLISH %s ak:%s", PROV_CHANNEL,
                                     id.access_key_id);
                res->identities_written++;
                continue;
            }

            /* pass 2: identity deletion; managed = "space ak digest" */

            snprintf(val, sizeof(val), "%s", it->managed);
            sp_id = val;
            ak = strchr(val, ' ');

            if (ak == NULL || strchr(ak + 1, ' ') == NULL) {
                prov_redis_tx_append(r, "HDEL %s %s", PROV_K_RS_IDENTS,
                                     it->id);
                continue;
            }

            *ak++ = '\0';
            *strchr(ak, ' ') = '\0';

            prov_redis_tx_append(r, "DEL " PROV_K_AK, ak);
            prov_redis_tx_append(r, "SREM " PROV_K_IDX_KEYS " %s", sp_id, ak);
            prov_redis_tx_append(r, "DEL " PROV_K_KEYID, it->id);
            prov_redis_tx_append(r, "HDEL %s %s", PROV_K_RS_IDENTS, it->id);
            prov_redis_tx_append(r, "PUBLISH %s ak:%s", PROV_CHANNEL, ak);
            res->identities_deleted++;
        }
    }

    json_decref(failed);

    return PROV_OK;
}


/*
 * Space deletions last: prov_space_delete takes the space and its
 * identities out of Redis (and the caches) in one transaction with a
 * tombstone, then deletes the backend; the daemon finishes a backend
 * deletion that fails.  Then the managed digests go.
 */

static int
prov_rs_delete_spaces(prov_rs_t *rs, prov_rs_set_t *set,
    prov_rs_result_t *res, prov_err_t *err)
{
    size_t           i, k, n;
    char           **aks;
    prov_err_t       e;
    redisReply      *reply;
    prov_space_t     sp;
    prov_rs_item_t  *it;

    for (i = 0; i < set->nsp; i++) {
        it = &set->sp[i];

        if (it->obj != NULL || it->skip) {
            continue;
        }

        if (prov_rs_leader(rs, err) != PROV_OK) {
            return PROV_ERR;
        }

        if (prov_space_get(rs->ctx, it->id, &sp, &e) == PROV_OK) {
            if (prov_key_ids(rs->ctx, sp.id, &aks, &n, err) != PROV_OK) {
                prov_space_free(&sp);
                return PROV_ERR;
            }

            if (prov_space_delete(rs->ctx, &sp, &e) != PROV_OK) {
                if (e.code != PROV_E_STORAGE) {
                    prov_ids_free(aks, n);
                    prov_space_free(&sp);
                    *err = e;
                    return PROV_ERR;
                }

                prov_log(PROV_LOG_WARN, "rustshare", "%s", e.msg);
            }

            for (k = 0; k < n; k++) {
                reply = prov_redis_cmd(&rs->ctx->redis, err,
                                       "EVAL %s 1 %s %s",
                                       "for _, f in ipairs(redis.call("
                                       "'hkeys', KEYS[1])) do "
                                       "local v = redis.call('hget', "
                                       "KEYS[1], f) "
                                       "if string.find(v, ' ' .. ARGV[1] .. "
                                       "' ', 1, true) then "
                                       "redis.call('hdel', KEYS[1], f) end "
                                       "end return 0",
                                       PROV_K_RS_IDENTS, aks[k]);
                if (reply) {
                    freeReplyObject(reply);
                }
            }

            prov_ids_free(aks, n);
            prov_space_free(&sp);

        } else if (e.code != PROV_E_NOTFOUND) {
            *err = e;
            return PROV_ERR;
        }

        reply = prov_redis_cmd(&rs->ctx->redis, err, "HDEL %s %s",
                               PROV_K_RS_SPACES, it->id);
        if (reply == NULL) {
            return PROV_ERR;
        }

        freeReplyObject(reply);
        res->spaces_deleted++;
    }

    return PROV_OK;
}


static void
prov_rs_record(prov_rs_t *rs, prov_rs_result_t *res, const char *error)
{
    prov_err_t   e;
    redisReply  *reply;

    reply = prov_redis_cmd(&rs->ctx->redis, &e,
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
    size_t          i;
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

    t0 = prov_rs_ms();

    if (prov_rs_items(rs, &set, err) != PROV_OK
        || prov_rs_prepare(rs, &set, err) != PROV_OK)
    {
        prov_err_prefix(err, "refusing RustShare revision %lld, nothing "
                        "applied", (long long) set.revision);
        goto done;
    }

    for (i = 0; i < set.nsp; i++) {
        res->skipped += set.sp[i].skip;
    }

    for (i = 0; i < set.nid; i++) {
        res->skipped += set.id[i].skip;
    }

    res->prepare_ms = prov_rs_ms() - t0;

    if (prov_rs_leader(rs, err) != PROV_OK || prov_ctx_store(rs->ctx, err)
                                              != PROV_OK)
    {
        goto done;
    }

    t0 = prov_rs_ms();
    prov_rs_backend(rs, &set, res);
    res->backend_ms = prov_rs_ms() - t0;

    t0 = prov_rs_ms();

    if (prov_rs_write(rs, &set, res, err) != PROV_OK
        || prov_rs_delete_spaces(rs, &set, res, err) != PROV_OK)
    {
        goto done;
    }

    res->redis_ms = prov_rs_ms() - t0;

    /* suspend the backend users of spaces just disabled (gateway first) */

    for (i = 0; i < set.nsp; i++) {
        prov_err_t          e;
        prov_store_space_t  ss;

        if (!set.sp[i].disable || set.sp[i].failed) {
            continue;
        }

        memset(&ss, 0, sizeof(ss));
        ss.space_id = set.sp[i].cur->id;
        ss.tenant = set.sp[i].cur->tenant;
        ss.name = set.sp[i].cur->name;
        ss.bucket = set.sp[i].cur->bucket;
        snprintf(ss.backend_ak, sizeof(ss.backend_ak), "%s",
                 set.sp[i].cur->backend_ak);

        if (rs->ctx->store.ops->set_enabled(&rs->ctx->store, &ss, 0, &e)
            != PROV_OK)
        {
            prov_log(PROV_LOG_WARN, "rustshare", "space %s disabled at the "
                     "gateway; suspending its backend user failed (reconcile "
                     "repairs it): %s", set.sp[i].id, e.msg);
        }
    }

    if (res->failed) {
        prov_err_set(err, PROV_E_STORAGE, "%zu objects of RustShare revision "
                     "%lld could not be applied (backend); the rest is "
                     "applied, the revision stays at %lld and the next pass "
                     "retries", res->failed, (long long) set.revision,
                     (long long) since);
        goto done;
    }

    reply = prov_redis_cmd(&rs->ctx->redis, err, "SET %s %lld",
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
 * POST /v1/objspace/{kind} with an Idempotency-Key: RustShare applies a
 * retried batch once.
 */

static int
prov_rs_push(prov_rs_t *rs, const char *kind, json_t *body, const char *idem,
    prov_err_t *err)
{
    int              rc;
    char             path[128], hdr[160], gen[40];
    char            *s;
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

    s = json_dumps(body, JSON_COMPACT);
    if (s == NULL) {
        prov_err_set(err, PROV_E_SYS, "json_dumps failed");
        return PROV_ERR;
    }

    snprintf(path, sizeof(path), PROV_RS_API "/%s", kind);
    snprintf(hdr, sizeof(hdr), "Idempotency-Key: %.100s", idem);
    prov_buf_init(&resp.body);

    rc = prov_rs_call(rs, "POST", path, s, hdr, rs->ctx->cf.rustshare_timeout,
                      &resp, err);

    if (rc == PROV_OK && (resp.status < 200 || resp.status >= 300)) {
        prov_rs_http_error(err, "POST", path, &resp);
        rc = PROV_ERR;
    }

    free(s);
    prov_buf_free(&resp.body);

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
    prov_err_t *err)
{
    int               rc;
    json_t           *j;
    prov_rs_t         rs;
    prov_ctx_t        ctx;
    prov_rs_result_t  res;

    if (prov_ctx_open(&ctx, config, 0, err) != PROV_OK) {
        return PROV_ERR;
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

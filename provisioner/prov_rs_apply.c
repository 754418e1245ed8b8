
/*
 * objspace-provisioner: applying a RustShare change set.
 *
 * prepare (validate the whole set, open the secret envelopes and re-seal
 * them with the key file) -> backend (new spaces, quota, enable) -> Redis
 * (pipelined MULTI/EXEC batches, each record with its digest and its
 * invalidation) -> suspensions.  Nothing is written before the whole set
 * has been validated.  prov_rustshare.c fetches the set and records the
 * revision.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "prov_rs_apply.h"
#include "prov_audit.h"
#include "prov_push.h"
#include "prov_usage.h"


/* the actor of the audit events of what a sync applies */
#define PROV_RS_ACTOR  "rustshare"


/* what the audit events of one write share */
typedef struct {
    prov_redis_t      *r;
    prov_audit_ctl_t   tpl;         /* actor, revision (and the id) */
    prov_idgen_t       ids;         /* event ids, drawn in bulk */
} prov_rs_evs_t;


static int prov_rs_hash_cb(const char *p, size_t n, void *data);
static int prov_rs_canon_str(prov_rs_hash_t *h, const char *s, size_t len);
static int prov_rs_canon(prov_rs_hash_t *h, json_t *v, int depth);
static int prov_rs_pipe_skip(prov_rs_item_t *it, int which);
static int prov_rs_pipe(prov_rs_t *rs, const char *fmt,
    prov_rs_item_t *items, size_t n, int which, prov_err_t *err);
static int prov_rs_items_of(json_t *map, prov_rs_item_t **out, size_t *n,
    prov_err_t *err);
static int prov_rs_reseal(prov_rs_t *rs, prov_sealer_t *sealer, json_t *env,
    json_t *keys, const char *ak, const char *aad_prefix, char **out,
    prov_err_t *err);
static int prov_rs_items(prov_rs_t *rs, prov_rs_set_t *set, prov_err_t *err);
static int prov_rs_same_secret(prov_rs_t *rs, const char *ak,
    const char *cur, const char *sealed);
static void prov_rs_ident_cmp(prov_rs_t *rs, prov_rs_item_t *it,
    redisReply *cur);
static int prov_rs_ident_diff(prov_rs_t *rs, prov_rs_set_t *set,
    prov_err_t *err);
static int prov_rs_prepare(prov_rs_t *rs, prov_rs_set_t *set,
    prov_err_t *err);
static int prov_rs_guard(prov_rs_t *rs, prov_rs_set_t *set,
    prov_err_t *err);
static int prov_rs_leader(prov_rs_t *rs, prov_err_t *err);
static int prov_rs_backend(prov_rs_t *rs, prov_rs_set_t *set,
    prov_rs_result_t *res);
static void prov_rs_event(prov_rs_evs_t *es, const char *op,
    const char *tenant, const char *space, const char *bucket,
    const char *identity, const char *detail);
static void prov_rs_space_events(prov_rs_evs_t *es, prov_rs_item_t *it,
    prov_space_t *sp);
static void prov_rs_ident_events(prov_rs_evs_t *es, prov_rs_item_t *it,
    prov_ident_t *id);
static int prov_rs_write(prov_rs_t *rs, prov_rs_set_t *set,
    prov_rs_result_t *res, prov_err_t *err);
static void prov_rs_delete_tx(prov_redis_t *r, const prov_space_t *sp,
    char **ids, size_t n, void *data);
static int prov_rs_delete_spaces(prov_rs_t *rs, prov_rs_set_t *set,
    prov_rs_result_t *res, prov_err_t *err);


double
prov_rs_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
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


/* prefix + 16 lowercase hex */

int
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

int
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

int
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


int
prov_rs_hash_init(prov_rs_hash_t *h, prov_err_t *err)
{
    h->len = 0;
    h->ctx = EVP_MD_CTX_new();
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);

    if (h->ctx == NULL || h->md == NULL) {
        prov_crypto_error(err, "SHA-256 setup");
        prov_rs_hash_free(h);
        return PROV_ERR;
    }

    return PROV_OK;
}


void
prov_rs_hash_free(prov_rs_hash_t *h)
{
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    h->ctx = NULL;
    h->md = NULL;
}


static int
prov_rs_hash_cb(const char *p, size_t n, void *data)
{
    prov_rs_hash_t  *h;

    h = data;

    if (h->len + n > sizeof(h->buf)) {
        if (EVP_DigestUpdate(h->ctx, h->buf, h->len) != 1) {
            return -1;
        }

        h->len = 0;

        if (n > sizeof(h->buf)) {
            return EVP_DigestUpdate(h->ctx, p, n) == 1 ? 0 : -1;
        }
    }

    memcpy(h->buf + h->len, p, n);
    h->len += n;

    return 0;
}


/*
 * A JSON string as jansson dumps it (dump.c, dump_string, without
 * JSON_ENSURE_ASCII / JSON_ESCAPE_SLASH): '"', '\\' and the control
 * characters escaped (\b \f \n \r \t, else \u00XX upper case), UTF-8
 * as is (the parser has validated it).
 */

static int
prov_rs_canon_str(prov_rs_hash_t *h, const char *s, size_t len)
{
    char            esc[8];
    size_t          i, from;
    unsigned char   c;
    static const char  hex[] = "0123456789ABCDEF";

    if (prov_rs_hash_cb("\"", 1, h) != 0) {
        return -1;
    }

    from = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }

        if (i > from && prov_rs_hash_cb(s + from, i - from, h) != 0) {
            return -1;
        }

        esc[0] = '\\';

        switch (c) {
        case '"':  esc[1] = '"';  break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b';  break;
        case '\f': esc[1] = 'f';  break;
        case '\n': esc[1] = 'n';  break;
        case '\r': esc[1] = 'r';  break;
        case '\t': esc[1] = 't';  break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0x0f];
        }

        if (prov_rs_hash_cb(esc, esc[1] == 'u' ? 6 : 2, h) != 0) {
            return -1;
        }

        from = i + 1;
    }

    if (i > from && prov_rs_hash_cb(s + from, i - from, h) != 0) {
        return -1;
    }

    return prov_rs_hash_cb("\"", 1, h);
}


/*
 * The canonical JSON of v (compact, object keys sorted bytewise: exactly
 * json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS)) into the digest, written
 * here rather than by jansson's dumper, which looks every key up again
 * and allocates per object.  1: v holds something this does not write
 * (a real, a deep or wide object): the caller lets jansson dump it.
 */

static int
prov_rs_canon(prov_rs_hash_t *h, json_t *v, int depth)
{
    int          rc;
    char         num[32];
    void        *iter;
    size_t       i, j, n, len;
    json_t      *val;
    const char  *key;
    struct {
        const char  *key;
        size_t       len;
        json_t      *val;
    }            kv[32], t;

    if (depth > 16) {
        return 1;
    }

    switch (json_typeof(v)) {

    case JSON_NULL:
        return prov_rs_hash_cb("null", 4, h);

    case JSON_TRUE:
        return prov_rs_hash_cb("true", 4, h);

    case JSON_FALSE:
        return prov_rs_hash_cb("false", 5, h);

    case JSON_INTEGER:
        n = (size_t) snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                              json_integer_value(v));
        return prov_rs_hash_cb(num, n, h);

    case JSON_STRING:
        return prov_rs_canon_str(h, json_string_value(v),
                                 json_string_length(v));

    case JSON_ARRAY:
        if (prov_rs_hash_cb("[", 1, h) != 0) {
            return -1;
        }

        n = json_array_size(v);

        for (i = 0; i < n; i++) {
            if ((i && prov_rs_hash_cb(",", 1, h) != 0)) {
                return -1;
            }

            rc = prov_rs_canon(h, json_array_get(v, i), depth + 1);
            if (rc != 0) {
                return rc;
            }
        }

        return prov_rs_hash_cb("]", 1, h);

    case JSON_OBJECT:
        n = 0;

        for (iter = json_object_iter(v); iter;
             iter = json_object_iter_next(v, iter))
        {
            if (n == sizeof(kv) / sizeof(kv[0])) {
                return 1;
            }

            kv[n].key = json_object_iter_key(iter);
            kv[n].len = json_object_iter_key_len(iter);
            kv[n].val = json_object_iter_value(iter);
            n++;
        }

        /* insertion sort: a handful of keys; bytewise, then shorter first */

        for (i = 1; i < n; i++) {
            t = kv[i];

            for (j = i; j > 0; j--) {
                len = kv[j - 1].len < t.len ? kv[j - 1].len : t.len;
                rc = memcmp(kv[j - 1].key, t.key, len);

                if (rc < 0 || (rc == 0 && kv[j - 1].len <= t.len)) {
                    break;
                }

                kv[j] = kv[j - 1];
            }

            kv[j] = t;
        }

        if (prov_rs_hash_cb("{", 1, h) != 0) {
            return -1;
        }

        for (i = 0; i < n; i++) {
            key = kv[i].key;
            val = kv[i].val;

            if ((i && prov_rs_hash_cb(",", 1, h) != 0)
                || prov_rs_canon_str(h, key, kv[i].len) != 0
                || prov_rs_hash_cb(":", 1, h) != 0)
            {
                return -1;
            }

            rc = prov_rs_canon(h, val, depth + 1);
            if (rc != 0) {
                return rc;
            }
        }

        return prov_rs_hash_cb("}", 1, h);

    default:
        return 1;
    }
}


/*
 * First 128 bits of SHA-256 over the object's canonical JSON (compact,
 * keys sorted: the bytes of json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS),
 * so digests stored by earlier versions still match), hex.
 */

int
prov_rs_digest(prov_rs_hash_t *h, json_t *o, char *out, prov_err_t *err)
{
    int             i, rc;
    unsigned char   md[EVP_MAX_MD_SIZE];
    static const char  hex[] = "0123456789abcdef";

    h->len = 0;

    if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1) {
        goto failed;
    }

    rc = prov_rs_canon(h, o, 0);

    if (rc == 1) {
        /* a value prov_rs_canon leaves to jansson: all of it, again */
        prov_memzero(h->buf, h->len);
        h->len = 0;

        rc = EVP_DigestInit_ex(h->ctx, h->md, NULL) == 1
             && json_dump_callback(o, prov_rs_hash_cb, h,
                                   JSON_COMPACT | JSON_SORT_KEYS) == 0
             ? 0 : -1;
    }

    if (rc != 0
        || EVP_DigestUpdate(h->ctx, h->buf, h->len) != 1
        || EVP_DigestFinal_ex(h->ctx, md, NULL) != 1)
    {
        goto failed;
    }

    prov_memzero(h->buf, h->len);

    for (i = 0; i < PROV_RS_DIGEST_LEN / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0x0f];
    }

    out[PROV_RS_DIGEST_LEN] = '\0';

    return PROV_OK;

failed:

    prov_memzero(h->buf, h->len);
    prov_err_set(err, PROV_E_CRYPTO, "object digest failed");

    return PROV_ERR;
}


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
    case 4:
        return it->obj != NULL || it->skip || it->ak[0] == '\0';
    case 5:
        return it->obj == NULL || it->skip || it->owner || it->bucket;
    default:
        return it->obj == NULL || it->skip;
    }
}


/*
 * One read per item, pipelined; fmt has one %s for:
 *   which 0: the item's id            -> reply in item->managed
 *   which 1: the object's space_id    -> item->tenant
 *   which 2: the space's bucket       -> item->owner
 *   which 3: the identity's access key id (item->ak, set by prepare)
 *                                     -> item->owner
 *   which 4: the same, of an identity deletion -> item->tenant
 *   which 5: a new identity's space_id (its space not in the set)
 *                                     -> item->bucket
 * A nil reply leaves the slot NULL.
 */

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

            } else if (which == 3 || which == 4) {
                arg = items[j].ak;

            } else {        /* 1, 5 */
                arg = json_string_value(json_object_get(items[j].obj,
                                                        "space_id"));
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
                  : which == 1 || which == 4 ? &items[j].tenant
                  : which == 5 ? &items[j].bucket : &items[j].owner;

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


void
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
        free(set->id[i].bucket);
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


/* a space object (docs/rustshare-api.md "Space") into sp, validated */

int
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

int
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


/* opens a hand-over envelope and re-seals it for Redis (AAD prefix:ak) */

static int
prov_rs_reseal(prov_rs_t *rs, prov_sealer_t *sealer, json_t *env,
    json_t *keys, const char *ak, const char *aad_prefix, char **out,
    prov_err_t *err)
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
            rc = prov_sealer_seal(sealer, plain.data, plain.len, aad, out,
                                  err);
        }
    }

    prov_buf_wipe(&plain);

    return rc;
}


/*
 * Whether the record's sealed secret (cur) and the one just re-sealed
 * (sealed) hold the same secret: both opened with the key file,
 * compared, wiped.  Sealing draws a fresh nonce, so sealed values never
 * compare; RustShare may send the same secret in a new envelope.  A
 * record that does not open counts as another secret.
 */

static int
prov_rs_same_secret(prov_rs_t *rs, const char *ak, const char *cur,
    const char *sealed)
{
    int         same;
    char        aad[64];
    prov_buf_t  a, b;
    prov_err_t  e;

    if (cur == NULL || sealed == NULL) {
        return 0;
    }

    prov_buf_init(&a);
    prov_buf_init(&b);
    snprintf(aad, sizeof(aad), "ak:%s", ak);

    same = prov_unseal(&rs->ctx->key, cur, aad, &a, &e) == PROV_OK
           && prov_unseal(&rs->ctx->key, sealed, aad, &b, &e) == PROV_OK
           && a.len == b.len
           && CRYPTO_memcmp(a.data, b.data, a.len) == 0;

    prov_buf_wipe(&a);
    prov_buf_wipe(&b);

    return same;
}


/*
 * it->ev: what the upsert changes against the record cur (HMGET status
 * expires_at name mode prefix immutable secret secret_prev_until).  A
 * rotation with a grace period is key.rotated alone.
 */

static void
prov_rs_ident_cmp(prov_rs_t *rs, prov_rs_item_t *it, redisReply *cur)
{
    char          *f[8];
    size_t         k;
    json_t        *sec, *prev;
    int64_t        until;
    unsigned       ev;
    prov_err_t     e;
    prov_ident_t   id;

    if (cur->type != REDIS_REPLY_ARRAY || cur->elements != 8
        || prov_rs_ident_parse(it->obj, &id, &sec, &prev, &until, &e)
           != PROV_OK)
    {
        return;
    }

    for (k = 0; k < 8; k++) {
        f[k] = cur->element[k]->type == REDIS_REPLY_STRING
               ? cur->element[k]->str : "";
    }

    ev = 0;

    if (strcmp(f[0], id.status) != 0) {
        ev |= strcmp(id.status, "revoked") == 0 ? PROV_RS_EV_REVOKED
                                                : PROV_RS_EV_ACTIVE;
    }

    if (strtoll(f[1], NULL, 10) != id.expires_at) {
        ev |= PROV_RS_EV_EXPIRY;
    }

    if (strcmp(f[2], id.name) != 0) {
        ev |= PROV_RS_EV_NAME;
    }

    if (strcmp(f[3], id.mode) != 0) {
        ev |= PROV_RS_EV_MODE;
    }

    if (strcmp(f[4], id.prefix) != 0) {
        ev |= PROV_RS_EV_PREFIX;
    }

    if ((strcmp(f[5], "1") == 0) != (id.immutable != 0)) {
        ev |= PROV_RS_EV_IMMUTABLE;
    }

    if (!prov_rs_same_secret(rs, it->ak, cur->element[6]->type
                                         == REDIS_REPLY_STRING
                                         ? f[6] : NULL, it->sealed))
    {
        ev |= PROV_RS_EV_ROTATED;

    } else if (strtoll(f[7], NULL, 10) != (it->sealed_prev ? until : 0)) {
        ev |= PROV_RS_EV_PREV;
    }

    it->ev = ev;
}


/*
 * For the audit: each identity upsert whose record exists (it->owner is
 * its own id once prepare checked the access key ids) is compared with
 * that record, pipelined like prov_rs_pipe; it->ev says what changes.
 */

static int
prov_rs_ident_diff(prov_rs_t *rs, prov_rs_set_t *set, prov_err_t *err)
{
    int              rc;
    size_t           i, j, end;
    void            *p;
    redisReply      *r;
    redisContext    *c;
    prov_rs_item_t  *it;

    c = rs->ctx->redis.c;
    rc = PROV_OK;

    for (i = 0; i < set->nid; i = end) {
        end = i + PROV_RS_PIPE < set->nid ? i + PROV_RS_PIPE : set->nid;

        for (j = i; j < end; j++) {
            it = &set->id[j];

            if (it->obj == NULL || it->skip || it->owner == NULL) {
                continue;
            }

            if (redisAppendCommand(c, "HMGET " PROV_K_AK " status "
                                   "expires_at name mode prefix immutable "
                                   "secret secret_prev_until", it->ak)
                != REDIS_OK)
            {
                prov_err_set(err, PROV_E_REDIS, "redis: %s", c->errstr);
                return PROV_ERR;
            }
        }

        for (j = i; j < end; j++) {
            it = &set->id[j];

            if (it->obj == NULL || it->skip || it->owner == NULL) {
                continue;
            }

            if (redisGetReply(c, &p) != REDIS_OK) {
                prov_err_set(err, PROV_E_REDIS, "redis: %s", c->errstr);
                return PROV_ERR;
            }

            r = p;

            if (r->type == REDIS_REPLY_ERROR && rc == PROV_OK) {
                prov_err_set(err, PROV_E_REDIS, "redis: %.*s", (int) r->len,
                             r->str);
                rc = PROV_ERR;

            } else if (rc == PROV_OK) {
                prov_rs_ident_cmp(rs, it, r);
            }

            freeReplyObject(r);
        }
    }

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
    json_t           *sec, *prev, *target, *buckets, *bucket_of;
    int64_t           until;
    prov_space_t      sp;
    prov_ident_t      id;
    prov_sealer_t     sealer;
    prov_rs_hash_t    hash;
    prov_rs_item_t   *it;

    if (prov_rs_hash_init(&hash, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_sealer_init(&sealer, &rs->ctx->key, err) != PROV_OK) {
        prov_rs_hash_free(&hash);
        return PROV_ERR;
    }

    buckets = json_object();
    bucket_of = json_object();
    if (buckets == NULL || bucket_of == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto failed;
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

        if (prov_rs_space_parse(rs, it->obj, &sp, err) != PROV_OK
            || prov_rs_digest(&hash, it->obj, it->digest, err) != PROV_OK)
        {
            goto failed;
        }
        it->skip = (it->managed && strcmp(it->managed, it->digest) == 0);

        if (json_object_get(buckets, sp.bucket)) {
            prov_err_set(err, PROV_E_SOURCE, "spaces %s and %s share bucket "
                         "\"%s\"", json_string_value(json_object_get(
                         buckets, sp.bucket)), sp.id, sp.bucket);
            goto failed;
        }

        json_object_set_new(buckets, sp.bucket, json_string(sp.id));
        json_object_set_new(bucket_of, sp.id, json_string(sp.bucket));

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

            /* a deletion: its access key id from "space ak digest" */
            ak_of = it->managed ? strchr(it->managed, ' ') : NULL;
            dig = ak_of ? strchr(ak_of + 1, ' ') : NULL;

            if (dig && dig - ak_of - 1 == PROV_ACCESS_KEY_LEN) {
                memcpy(it->ak, ak_of + 1, PROV_ACCESS_KEY_LEN);
                it->ak[PROV_ACCESS_KEY_LEN] = '\0';
            }

            continue;
        }

        if (prov_rs_ident_parse(it->obj, &id, &sec, &prev, &until, err)
            != PROV_OK
            || prov_rs_digest(&hash, it->obj, it->digest, err) != PROV_OK)
        {
            goto failed;
        }

        strcpy(it->ak, id.access_key_id);

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

        /* the secrets: open the envelopes, re-seal with the key file */

        if (prov_rs_reseal(rs, &sealer, sec, set->keys, id.access_key_id,
                           "ak", &it->sealed, err) != PROV_OK
            || (prev
                && prov_rs_reseal(rs, &sealer, prev, set->keys,
                                  id.access_key_id, "ak-prev",
                                  &it->sealed_prev, err)
                   != PROV_OK))
        {
            prov_err_prefix(err, "identity %s", id.id);
            goto failed;
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

    /* for the audit: what upserts change, the bucket of new identities
     * (key.created names it, as the CLI's), the tenant of deletions */

    if (prov_rs_ident_diff(rs, set, err) != PROV_OK) {
        goto failed;
    }

    for (i = 0; i < set->nid; i++) {
        it = &set->id[i];

        if (it->obj == NULL || it->skip || it->owner) {
            continue;
        }

        target = json_object_get(bucket_of, json_string_value(
                                     json_object_get(it->obj, "space_id")));

        if (target && (it->bucket = strdup(json_string_value(target)))
                      == NULL)
        {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto failed;
        }
    }

    if (prov_rs_pipe(rs, "HGET " PROV_K_SPACE " bucket", set->id, set->nid,
                     5, err) != PROV_OK
        || prov_rs_pipe(rs, "HGET " PROV_K_AK " tenant", set->id, set->nid,
                        4, err) != PROV_OK)
    {
        goto failed;
    }

    json_decref(buckets);
    json_decref(bucket_of);
    prov_sealer_free(&sealer);
    prov_rs_hash_free(&hash);

    return PROV_OK;

failed:

    json_decref(buckets);
    json_decref(bucket_of);
    prov_sealer_free(&sealer);
    prov_rs_hash_free(&hash);

    return PROV_ERR;
}


/* ------------------------------------------------------------ apply */


/*
 * The mass-delete guard: a full snapshot deletes whatever it no longer
 * lists, so a truncated or empty snapshot (a RustShare fault) would wipe
 * the fleet.  It is refused when it would delete more than
 * sync_max_delete_min and more than sync_max_delete_fraction of the spaces,
 * or of the identities, applied from RustShare; `sync --full
 * --allow-mass-delete` lifts the limit for one pass.  Changes are explicit
 * deletions and are not limited.
 */

static int
prov_rs_guard(prov_rs_t *rs, prov_rs_set_t *set, prov_err_t *err)
{
    int                   k, over;
    size_t                i, n, applied[2], deleted[2];
    prov_rs_item_t       *items;
    const prov_config_t  *cf;

    cf = &rs->ctx->cf;

    if (!set->full || cf->sync_max_delete_fraction >= 1.0) {
        return PROV_OK;
    }

    over = 0;

    for (k = 0; k < 2; k++) {
        items = k == 0 ? set->sp : set->id;
        n = k == 0 ? set->nsp : set->nid;
        applied[k] = 0;
        deleted[k] = 0;

        for (i = 0; i < n; i++) {
            if (items[i].managed) {
                applied[k]++;
                deleted[k] += (items[i].obj == NULL);
            }
        }

        over |= deleted[k] > (size_t) cf->sync_max_delete_min
                && (double) deleted[k]
                   > cf->sync_max_delete_fraction * (double) applied[k];
    }

    if (!over) {
        return PROV_OK;
    }

    prov_err_set(err, PROV_E_SOURCE, "the snapshot would delete %zu of %zu "
                 "spaces and %zu of %zu identities applied from RustShare "
                 "(more than sync_max_delete_fraction %g and "
                 "sync_max_delete_min %d); if RustShare really dropped them, "
                 "`objspace-provisioner sync --full --allow-mass-delete` "
                 "applies it", deleted[0], applied[0], deleted[1],
                 applied[1], cf->sync_max_delete_fraction,
                 cf->sync_max_delete_min);

    return PROV_ERR;
}



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
        /* the storage's own quota a little above the gateway's */
        ss.quota_bytes = prov_usage_storage_quota(sp.quota_bytes);
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
 * Appends a control event to the transaction being built (a batch's
 * MULTI/EXEC): the event lands with the change or not at all.
 */

static void
prov_rs_event(prov_rs_evs_t *es, const char *op, const char *tenant,
    const char *space, const char *bucket, const char *identity,
    const char *detail)
{
    char        id[24];
    prov_err_t  e;

    if (prov_idgen_next(&es->ids, "ctl-", id, sizeof(id), &e) != PROV_OK) {
        es->r->failed = 1;          /* the transaction fails: no change */
        return;
    }

    es->tpl.id = id;
    prov_audit_tx_as(es->r, &es->tpl, op, tenant, space, bucket, identity,
                     detail);
    es->tpl.id = NULL;
}


/*
 * The events of a space upsert, with the CLI's names and details: a new
 * space is space.created (detail: its name; space.disabled too if it
 * comes disabled); a changed one gets one event per thing that changed
 * against its record (it->cur): space.enabled / space.disabled,
 * quota.changed, public.changed, and space.changed for the rest (name,
 * purpose, tenant; detail: which).  Nothing when none of that changed.
 */

static void
prov_rs_space_events(prov_rs_evs_t *es, prov_rs_item_t *it, prov_space_t *sp)
{
    int            active;
    char           detail[128];
    size_t         n;
    prov_space_t  *cur;

    active = (strcmp(sp->status, "active") == 0);

    if (it->is_new) {
        prov_rs_event(es, "space.created", sp->tenant, sp->id, sp->bucket,
                      NULL, sp->name);

        if (!active) {
            prov_rs_event(es, "space.disabled", sp->tenant, sp->id,
                          sp->bucket, NULL, NULL);
        }

        return;
    }

    cur = it->cur;

    if (strcmp(cur->status, sp->status) != 0) {
        prov_rs_event(es, active ? "space.enabled" : "space.disabled",
                      sp->tenant, sp->id, sp->bucket, NULL, NULL);
    }

    if (cur->quota_bytes != sp->quota_bytes) {
        snprintf(detail, sizeof(detail), "quota_bytes %lld",
                 (long long) sp->quota_bytes);
        prov_rs_event(es, "quota.changed", sp->tenant, sp->id,
                      sp->bucket, NULL, detail);
    }

    if (strcmp(cur->visibility, sp->visibility) != 0) {
        prov_rs_event(es, "public.changed", sp->tenant, sp->id,
                      sp->bucket, NULL, sp->visibility);
    }

    n = 0;
    detail[0] = '\0';

    if (strcmp(cur->name, sp->name) != 0) {
        n += snprintf(detail + n, sizeof(detail) - n, "%sname %s",
                      n ? ", " : "", sp->name);
    }

    if (strcmp(cur->purpose, sp->purpose) != 0) {
        n += snprintf(detail + n, sizeof(detail) - n, "%spurpose %s",
                      n ? ", " : "", sp->purpose);
    }

    if (strcmp(cur->tenant, sp->tenant) != 0) {
        n += snprintf(detail + n, sizeof(detail) - n, "%stenant", n ? ", "
                                                                    : "");
    }

    if (n) {
        prov_rs_event(es, "space.changed", sp->tenant, sp->id,
                      sp->bucket, NULL, detail);
    }
}


/*
 * The events of an identity upsert: key.created (detail: its
 * permissions, as the CLI's; key.revoked too if it comes revoked) when it
 * has no record yet, else one per change prepare found (it->ev):
 * key.revoked, key.reactivated, key.rotated (another secret; "with grace
 * period" when a previous secret stays valid), expiry.changed (detail:
 * expires_at, UTC, or "never"), and key.changed for the rest (name,
 * permissions, prefix, immutable, a grace period set or ended; detail:
 * which).  Never a secret or an access key id.
 */

static void
prov_rs_ident_events(prov_rs_evs_t *es, prov_rs_item_t *it, prov_ident_t *id)
{
    char          detail[128], t[32];
    size_t        n;
    unsigned      ev;
    const char   *sp;

    sp = id->space;

    if (it->owner == NULL) {
        prov_rs_event(es, "key.created", id->tenant, sp, it->bucket,
                      id->id, id->mode);

        if (strcmp(id->status, "revoked") == 0) {
            prov_rs_event(es, "key.revoked", id->tenant, sp, NULL,
                          id->id, NULL);
        }

        return;
    }

    ev = it->ev;

    if (ev & PROV_RS_EV_REVOKED) {
        prov_rs_event(es, "key.revoked", id->tenant, sp, NULL, id->id,
                      NULL);
    }

    if (ev & PROV_RS_EV_ACTIVE) {
        prov_rs_event(es, "key.reactivated", id->tenant, sp, NULL,
                      id->id, NULL);
    }

    if (ev & PROV_RS_EV_ROTATED) {
        prov_rs_event(es, "key.rotated", id->tenant, sp, NULL, id->id,
                      it->sealed_prev ? "with grace period" : NULL);
    }

    if (ev & PROV_RS_EV_EXPIRY) {
        if (id->expires_at) {
            prov_format_time(id->expires_at, t, sizeof(t));

        } else {
            strcpy(t, "never");
        }

        snprintf(detail, sizeof(detail), "expires_at %s", t);
        prov_rs_event(es, "expiry.changed", id->tenant, sp, NULL,
                      id->id, detail);
    }

    n = 0;
    detail[0] = '\0';

    if (ev & PROV_RS_EV_NAME) {
        n += snprintf(detail + n, sizeof(detail) - n, "name");
    }

    if (ev & PROV_RS_EV_MODE) {
        n += snprintf(detail + n, sizeof(detail) - n, "%spermissions %s",
                      n ? ", " : "", id->mode);
    }

    if (ev & PROV_RS_EV_PREFIX) {
        n += snprintf(detail + n, sizeof(detail) - n, "%sprefix",
                      n ? ", " : "");
    }

    if (ev & PROV_RS_EV_IMMUTABLE) {
        n += snprintf(detail + n, sizeof(detail) - n, "%simmutable %s",
                      n ? ", " : "", id->immutable ? "true" : "false");
    }

    if (ev & PROV_RS_EV_PREV) {
        n += snprintf(detail + n, sizeof(detail) - n, "%s%s",
                      n ? ", " : "", it->sealed_prev ? "grace period"
                                                     : "grace period ended");
    }

    if (n) {
        prov_rs_event(es, "key.changed", id->tenant, sp, NULL, id->id,
                      detail);
    }
}


/*
 * Redis: space records, then identities, then identity deletions, in
 * pipelined MULTI/EXEC batches; every record is written with its managed
 * digest and its invalidation in the same transaction (the batch's digests
 * as one HSET / HDEL of the managed hash).  A batch is sent and the next
 * one built while Redis executes it; each pass ends with every reply read,
 * so spaces are in before their identities.
 */

static int
prov_rs_write(prov_rs_t *rs, prov_rs_set_t *set, prov_rs_result_t *res,
    prov_err_t *err)
{
    int              pass, queued, rc;
    char             key[96], key2[96], until_s[24], rev[24], *ak, *sp_id;
    char           (*vals)[PROV_RS_MANAGED_LEN];
    size_t           i, n, objs, nm, nx;
    json_t          *sec, *prev, *failed;
    int64_t          until;
    prov_err_t       e;
    prov_space_t     sp;
    prov_ident_t     id;
    prov_redis_t    *r;
    prov_rs_evs_t    es;
    prov_rs_item_t  *it, *items;
    const char     **mv, **xv;

    r = &rs->ctx->redis;
    failed = NULL;
    rc = PROV_ERR;
    snprintf(rev, sizeof(rev), "%lld", (long long) set->revision);
    memset(&es, 0, sizeof(es));
    es.r = r;
    es.tpl.actor = PROV_RS_ACTOR;
    es.tpl.revision = rev;

    /* per batch: the managed hash's fields and values, new space ids */
    vals = malloc(PROV_RS_BATCH * sizeof(*vals));
    mv = malloc((2 + 2 * PROV_RS_BATCH) * sizeof(*mv));
    xv = malloc((2 + PROV_RS_BATCH) * sizeof(*xv));

    if (vals == NULL || mv == NULL || xv == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

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
        nm = 2;
        nx = 2;
        mv[0] = pass == 2 ? "HDEL" : "HSET";
        mv[1] = pass == 0 ? PROV_K_RS_SPACES : PROV_K_RS_IDENTS;
        xv[0] = "SADD";
        xv[1] = PROV_K_IDX_SPACES;

        for (i = 0; i <= n; i++) {

            if (queued && (i == n || objs >= PROV_RS_BATCH)) {
                if (nm > 2) {
                    prov_redis_tx_argv(r, (int) nm, mv, NULL);
                }

                if (nx > 2) {
                    prov_redis_tx_argv(r, (int) nx, xv, NULL);
                }

                /* one batch in Redis's hands while the next is built */

                if (prov_rs_leader(rs, err) != PROV_OK
                    || prov_redis_tx_send(r, err) != PROV_OK
                    || (r->nsent > 1 && prov_redis_tx_wait(r, err)
                                        != PROV_OK))
                {
                    goto done;
                }

                queued = 0;
                objs = 0;
                nm = 2;
                nx = 2;
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
                    goto done;
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
                    snprintf(key, sizeof(key), PROV_K_BUCKET, sp.bucket);
                    prov_redis_tx_strs(r, 3, "SET", key, it->id);
                    xv[nx++] = it->id;
                }

                mv[nm++] = it->id;
                mv[nm++] = it->digest;

                snprintf(key, sizeof(key), "space:%s", it->id);
                prov_redis_tx_strs(r, 3, "PUBLISH", PROV_CHANNEL, key);
                prov_rs_space_events(&es, it, &sp);
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

                snprintf(key, sizeof(key), PROV_K_AK, id.access_key_id);

                if (it->sealed_prev) {
                    snprintf(until_s, sizeof(until_s), "%lld",
                             (long long) until);
                    prov_redis_tx_strs(r, 6, "HSET", key, "secret_prev",
                                       it->sealed_prev, "secret_prev_until",
                                       until_s);

                } else if (it->owner) {
                    /* an existing record may hold an older grace period */
                    prov_redis_tx_strs(r, 4, "HDEL", key, "secret_prev",
                                       "secret_prev_until");
                }

                snprintf(key2, sizeof(key2), PROV_K_IDX_KEYS, id.space);
                prov_redis_tx_strs(r, 3, "SADD", key2, id.access_key_id);
                snprintf(key2, sizeof(key2), PROV_K_KEYID, id.id);
                prov_redis_tx_strs(r, 3, "SET", key2, id.access_key_id);

                snprintf(vals[objs - 1], sizeof(vals[0]), "%s %s %s",
                         id.space, id.access_key_id, it->digest);
                mv[nm++] = it->id;
                mv[nm++] = vals[objs - 1];

                if (it->ev & PROV_RS_EV_EXPIRY) {
                    /* the daemon reports the new expiry when it comes */
                    prov_redis_tx_strs(r, 3, "SREM", PROV_K_EXPIRED, id.id);
                }

                snprintf(key2, sizeof(key2), "ak:%s", id.access_key_id);
                prov_redis_tx_strs(r, 3, "PUBLISH", PROV_CHANNEL, key2);
                prov_rs_ident_events(&es, it, &id);
                res->identities_written++;
                continue;
            }

            /* pass 2: identity deletion; managed = "space ak digest" */

            mv[nm++] = it->id;

            snprintf(vals[objs - 1], sizeof(vals[0]), "%s", it->managed);
            sp_id = vals[objs - 1];
            ak = strchr(sp_id, ' ');

            if (ak == NULL || strchr(ak + 1, ' ') == NULL) {
                continue;
            }

            *ak++ = '\0';
            *strchr(ak, ' ') = '\0';

            snprintf(key, sizeof(key), PROV_K_AK, ak);
            prov_redis_tx_strs(r, 2, "DEL", key);
            snprintf(key, sizeof(key), PROV_K_IDX_KEYS, sp_id);
            prov_redis_tx_strs(r, 3, "SREM", key, ak);
            snprintf(key, sizeof(key), PROV_K_KEYID, it->id);
            prov_redis_tx_strs(r, 2, "DEL", key);
            snprintf(key, sizeof(key), "ak:%s", ak);
            prov_redis_tx_strs(r, 3, "PUBLISH", PROV_CHANNEL, key);
            prov_redis_tx_strs(r, 3, "HDEL", PROV_K_LASTUSED, it->id);
            prov_redis_tx_strs(r, 3, "SREM", PROV_K_EXPIRED, it->id);

            if (it->tenant) {
                /* its record was there (prepare read its tenant) */
                prov_rs_event(&es, "key.deleted", it->tenant, sp_id, NULL,
                              it->id, NULL);
            }

            res->identities_deleted++;
        }

        if (prov_redis_tx_drain(r, err) != PROV_OK) {
            goto done;
        }
    }

    rc = PROV_OK;

done:

    if (rc != PROV_OK) {
        /* a batch begun but not sent is dropped; the ones sent are read */
        if (r->queued) {
            r->failed = 1;
            (void) prov_redis_tx_send(r, &e);
        }

        (void) prov_redis_tx_drain(r, &e);
    }

    json_decref(failed);
    free(vals);
    free(mv);
    free(xv);

    return rc;
}


/*
 * Inside a RustShare space's deletion transaction (prov_space_delete_ex):
 * the managed digests of the space and of its identities (ids, from its
 * key records: the space's own keys, not the whole managed hash) go with
 * it, and the space stays RustShare's for the audit shipper
 * (objspace:prov:rs:push:owned), which may read its last events, its
 * space.deleted among them, after the space left objspace:prov:rs:spaces.
 */

static void
prov_rs_delete_tx(prov_redis_t *r, const prov_space_t *sp, char **ids,
    size_t n, void *data)
{
    char    now[24];
    size_t  i;

    (void) data;

    for (i = 0; i < n; i++) {
        if (ids[i]) {
            prov_redis_tx_strs(r, 3, "HDEL", PROV_K_RS_IDENTS, ids[i]);
        }
    }

    snprintf(now, sizeof(now), "%lld", (long long) prov_now());
    prov_redis_tx_strs(r, 3, "HDEL", PROV_K_RS_SPACES, sp->id);
    prov_redis_tx_strs(r, 4, "HSET", PROV_K_RS_PUSH_OWNED, sp->id, now);
}


/*
 * Space deletions last: prov_space_delete_ex takes the space and its
 * identities out of Redis (and the caches) in one transaction with a
 * tombstone, the space.deleted event and the managed digests of the space
 * and its identities (prov_rs_delete_tx), then deletes the backend; the
 * daemon finishes a backend deletion that fails.  The cost is the space's
 * own keys (their index and records), not the managed hash.  A space
 * already gone from Redis only leaves the managed hash.
 */

static int
prov_rs_delete_spaces(prov_rs_t *rs, prov_rs_set_t *set,
    prov_rs_result_t *res, prov_err_t *err)
{
    int                rc;
    char               rev[24];
    size_t             i;
    prov_err_t         e;
    redisReply        *reply;
    prov_space_t       sp;
    prov_rs_item_t    *it;
    prov_space_del_t   how;

    snprintf(rev, sizeof(rev), "%lld", (long long) set->revision);
    how.actor = PROV_RS_ACTOR;
    how.revision = rev;
    how.tx = prov_rs_delete_tx;
    how.data = NULL;

    for (i = 0; i < set->nsp; i++) {
        it = &set->sp[i];

        if (it->obj != NULL || it->skip) {
            continue;
        }

        if (prov_rs_leader(rs, err) != PROV_OK) {
            return PROV_ERR;
        }

        if (prov_space_get(rs->ctx, it->id, &sp, &e) == PROV_OK) {
            rc = prov_space_delete_ex(rs->ctx, &sp, &how, &e);
            prov_space_free(&sp);

            if (rc != PROV_OK) {
                if (e.code != PROV_E_STORAGE) {
                    *err = e;
                    return PROV_ERR;
                }

                /* out of Redis; the daemon finishes the backend */
                prov_log(PROV_LOG_WARN, "rustshare", "%s", e.msg);
            }

        } else if (e.code != PROV_E_NOTFOUND) {
            *err = e;
            return PROV_ERR;

        } else {
            reply = prov_redis_cmd(&rs->ctx->redis, err, "HDEL %s %s",
                                   PROV_K_RS_SPACES, it->id);
            if (reply == NULL) {
                return PROV_ERR;
            }

            freeReplyObject(reply);
        }

        res->spaces_deleted++;
    }

    return PROV_OK;
}

#undef PROV_RS_STR


/*
 * Applies a fetched change set (the middle of a pass): validation of the
 * whole set, then backend, Redis and the suspensions of disabled spaces.
 * PROV_ERR with nothing written when the set is refused; PROV_ERR with
 * res->failed > 0 when some objects' backend failed (the rest applied).
 */

int
prov_rs_apply(prov_rs_t *rs, prov_rs_set_t *set, prov_rs_result_t *res,
    prov_err_t *err)
{
    size_t  i;
    double  t0;

    t0 = prov_rs_ms();

    if (prov_rs_items(rs, set, err) != PROV_OK
        || prov_rs_guard(rs, set, err) != PROV_OK
        || prov_rs_prepare(rs, set, err) != PROV_OK)
    {
        prov_err_prefix(err, "refusing RustShare revision %lld, nothing "
                        "applied", (long long) set->revision);
        return PROV_ERR;
    }

    for (i = 0; i < set->nsp; i++) {
        res->skipped += set->sp[i].skip;
    }

    for (i = 0; i < set->nid; i++) {
        res->skipped += set->id[i].skip;
    }

    res->prepare_ms = prov_rs_ms() - t0;

    if (prov_rs_leader(rs, err) != PROV_OK || prov_ctx_store(rs->ctx, err)
                                              != PROV_OK)
    {
        return PROV_ERR;
    }

    t0 = prov_rs_ms();
    prov_rs_backend(rs, set, res);
    res->backend_ms = prov_rs_ms() - t0;

    t0 = prov_rs_ms();

    if (prov_rs_write(rs, set, res, err) != PROV_OK
        || prov_rs_delete_spaces(rs, set, res, err) != PROV_OK)
    {
        return PROV_ERR;
    }

    res->redis_ms = prov_rs_ms() - t0;

    /* suspend the backend users of spaces just disabled (gateway first) */

    for (i = 0; i < set->nsp; i++) {
        prov_err_t          e;
        prov_store_space_t  ss;

        if (!set->sp[i].disable || set->sp[i].failed) {
            continue;
        }

        memset(&ss, 0, sizeof(ss));
        ss.space_id = set->sp[i].cur->id;
        ss.tenant = set->sp[i].cur->tenant;
        ss.name = set->sp[i].cur->name;
        ss.bucket = set->sp[i].cur->bucket;
        snprintf(ss.backend_ak, sizeof(ss.backend_ak), "%s",
                 set->sp[i].cur->backend_ak);

        if (rs->ctx->store.ops->set_enabled(&rs->ctx->store, &ss, 0, &e)
            != PROV_OK)
        {
            prov_log(PROV_LOG_WARN, "rustshare", "space %s disabled at the "
                     "gateway; suspending its backend user failed (reconcile "
                     "repairs it): %s", set->sp[i].id, e.msg);
        }
    }

    if (res->failed) {
        prov_err_set(err, PROV_E_STORAGE, "%zu objects of RustShare revision "
                     "%lld could not be applied (backend); the rest is "
                     "applied and the next pass retries", res->failed,
                     (long long) set->revision);
        return PROV_ERR;
    }

    return PROV_OK;
}

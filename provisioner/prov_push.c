
/*
 * objspace-provisioner: pushes to RustShare (usage, key last-used, audit).
 * Contract: docs/rustshare-api.md "Push"; schedule and state:
 * docs/provisioner.md "RustShare mode", docs/redis-schema.md.
 *
 * Audit shipping, exactly once in effect:
 *
 *   1. queue: the consumer group "rustshare" reads the audit stream; the
 *      events of RustShare spaces become one batch (a random 128-bit id,
 *      the exact body) that is RPUSHed to objspace:prov:rs:push:audit in
 *      the same MULTI/EXEC as the XACK of every entry read, so an entry is
 *      either still pending in the stream or queued, never both, never
 *      neither.  This runs every tick, whether RustShare answers or not.
 *   2. send: the head of the queue is POSTed with its id as the
 *      Idempotency-Key; only a 2xx pops it (a script that checks the id
 *      first).  A crash between the 2xx and the pop re-sends the same
 *      bytes under the same id, which RustShare applies once.
 *
 * Which events are RustShare's: those whose space is in
 * objspace:prov:rs:spaces when the batch is made, or was there earlier
 * (objspace:prov:rs:push:owned remembers RustShare space ids for a week
 * after they are gone, so the last events of a space RustShare deleted
 * still go).  Events of local (CLI) spaces and events without a tenant or
 * space stay local.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov_push.h"
#include "prov_audit.h"
#include "prov_crypto.h"


#define PROV_PUSH_QUEUE_MAX    2000     /* queued audit batches (~1M events) */
#define PROV_PUSH_FORM_MAX     20       /* audit batches queued per tick */
#define PROV_PUSH_SEND_MAX     20       /* audit batches sent per tick */
#define PROV_PUSH_KEY_PAGES    20       /* key-usage POSTs per push */
#define PROV_PUSH_TICK_MS      2000     /* audit sending per tick */
#define PROV_PUSH_BACKOFF_MIN  1000
#define PROV_PUSH_BACKOFF_MAX  60000
#define PROV_PUSH_OWNED_KEEP   (7 * 86400)
#define PROV_PUSH_ID_LEN       32       /* hex digits of a batch id */


typedef enum {
    PROV_PUSH_USAGE = 0,
    PROV_PUSH_KEYS,
    PROV_PUSH_AUDIT,
    PROV_PUSH_NKINDS
} prov_push_kind_e;


typedef struct {
    int64_t     next_ms;        /* monotonic; 0: now */
    int64_t     backoff_ms;
    int         failing;        /* the last attempt failed */
} prov_push_sched_t;


struct prov_push_s {
    prov_rs_t          *rs;
    prov_ctx_t         *ctx;
    prov_push_sched_t   sched[PROV_PUSH_NKINDS];
    int                 group_ok;
    int                 pending_done;   /* the group's PEL was read */
    int                 queue_full;     /* logged once per episode */
    int                 keys_seeded;
    prov_audit_seen_t   seen;           /* event ids queued recently */
};


/* status field prefixes and what a log line calls them */
static const char  *prov_push_names[PROV_PUSH_NKINDS] = {
    "usage", "key_usage", "audit"
};


/*
 * KEYS[1] rs:spaces, KEYS[2] owned; ARGV[1] now, ARGV[2..] space ids.
 * Per space 1 if it is (or was) RustShare's; a RustShare space not yet
 * in owned is added.
 */

static const char  prov_push_owned_lua[] =
    "local out = {} "
    "for i = 2, #ARGV do "
    "local own = 0 "
    "if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then own = 1 "
    "if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then "
    "redis.call('HSET', KEYS[2], ARGV[i], ARGV[1]) end "
    "elseif redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then own = 1 end "
    "out[#out + 1] = own end "
    "return out";

/*
 * KEYS[1] queue, KEYS[2] push hash, KEYS[3] refused; ARGV[1] "{id} ",
 * ARGV[2] events, ARGV[3] "ok" or "refused".  Pops the head only if it
 * is that batch (another leader may have popped it meanwhile).
 */

static const char  prov_push_pop_lua[] =
    "local h = redis.call('LINDEX', KEYS[1], 0) "
    "if not h or string.sub(h, 1, #ARGV[1]) ~= ARGV[1] then return 0 end "
    "redis.call('LPOP', KEYS[1]) "
    "redis.call('HINCRBY', KEYS[2], 'audit_backlog', -tonumber(ARGV[2])) "
    "if ARGV[3] == 'refused' then redis.call('RPUSH', KEYS[3], h) "
    "redis.call('HINCRBY', KEYS[2], 'audit_refused', ARGV[2]) "
    "else redis.call('HINCRBY', KEYS[2], 'audit_shipped', ARGV[2]) end "
    "return 1";

/* KEYS[1] lastused, KEYS[2] rs:identities; ARGV ids -> value or "" */

static const char  prov_push_keys_lua[] =
    "local out = {} "
    "for i = 1, #ARGV do local v = false "
    "if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then "
    "v = redis.call('HGET', KEYS[1], ARGV[i]) end "
    "out[i] = v or '' end "
    "return out";

/*
 * KEYS[1] lastused, KEYS[2] push:keys; ARGV id, value pairs: an id
 * leaves the set if its value is still the one RustShare acknowledged
 * ("" = not RustShare's or no value: leaves at once).
 */

static const char  prov_push_keys_ack_lua[] =
    "for i = 1, #ARGV, 2 do "
    "if ARGV[i + 1] == '' "
    "or redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then "
    "redis.call('SREM', KEYS[2], ARGV[i]) end end "
    "return 1";

/*
 * KEYS[1] push hash, KEYS[2] lastused, KEYS[3] push:keys; ARGV[1] now.
 * Once per deployment: every key used before pushes started is due.
 */

static const char  prov_push_seed_lua[] =
    "if redis.call('HEXISTS', KEYS[1], 'keys_seeded') == 1 then "
    "return -1 end "
    "local n = 0 "
    "for _, f in ipairs(redis.call('HKEYS', KEYS[2])) do "
    "redis.call('SADD', KEYS[3], f) n = n + 1 end "
    "redis.call('HSET', KEYS[1], 'keys_seeded', ARGV[1]) "
    "return n";

/*
 * KEYS[1] owned; ARGV[1] now, ARGV[2..] space ids -> bytes, objects,
 * reconciled_at per space ("" when absent); refreshes owned.  The usage
 * key is objspace:usage:{id} (prov_usage.h), named here from ARGV like
 * the module's scripts do.
 */

static const char  prov_push_usage_lua[] =
    "local out = {} "
    "for i = 2, #ARGV do "
    "redis.call('HSET', KEYS[1], ARGV[i], ARGV[1]) "
    "local u = redis.call('HMGET', 'objspace:usage:' .. ARGV[i], "
    "'bytes', 'objects', 'reconciled_at') "
    "out[#out + 1] = u[1] or '' out[#out + 1] = u[2] or '' "
    "out[#out + 1] = u[3] or '' end "
    "return out";

/* KEYS[1] owned, KEYS[2] rs:spaces; ARGV[1] cut-off: forget old ids */

static const char  prov_push_prune_lua[] =
    "local h = redis.call('HGETALL', KEYS[1]) local n = 0 "
    "for i = 1, #h, 2 do "
    "if (tonumber(h[i + 1]) or 0) < tonumber(ARGV[1]) "
    "and redis.call('HEXISTS', KEYS[2], h[i]) == 0 then "
    "redis.call('HDEL', KEYS[1], h[i]) n = n + 1 end end "
    "return n";


static int prov_push_leader(prov_push_t *p);
static void prov_push_record(prov_push_t *p, prov_push_kind_e k,
    const char *error, size_t count);
static int prov_push_run(prov_push_t *p, prov_push_kind_e k,
    int64_t now_ms);
static int prov_push_form(prov_push_t *p, prov_err_t *err);
static int prov_push_form_batch(prov_push_t *p, redisReply *entries,
    prov_err_t *err);
static int prov_push_owned(prov_push_t *p, json_t *spaces, prov_err_t *err);
static int prov_push_audit(prov_push_t *p, size_t *sent, prov_err_t *err);
static int prov_push_pop(prov_push_t *p, const char *head, size_t len,
    size_t n, int refused, prov_err_t *err);
static int prov_push_keys(prov_push_t *p, size_t *sent, prov_err_t *err);
static int prov_push_keys_page(prov_push_t *p, redisReply *ids,
    size_t *sent, prov_err_t *err);
static int prov_push_usage(prov_push_t *p, size_t *sent, prov_err_t *err);
static int prov_push_usage_page(prov_push_t *p, json_t *ids, size_t from,
    size_t n, size_t *sent, prov_err_t *err);
static json_t *prov_push_space_ids(prov_push_t *p, prov_err_t *err);
static redisReply *prov_push_eval(prov_push_t *p, const char *script,
    int nkeys, const char **keys, const char *first, json_t *args,
    size_t from, size_t n, prov_err_t *err);
static json_t *prov_push_time(const char *unix_s);


int
prov_push_open(prov_push_t **pp, prov_rs_t *rs, prov_err_t *err)
{
    prov_push_t  *p;

    p = calloc(1, sizeof(prov_push_t));
    if (p == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    p->rs = rs;
    p->ctx = rs->ctx;
    prov_push_reset(p);

    *pp = p;

    return PROV_OK;
}


void
prov_push_close(prov_push_t *p)
{
    if (p == NULL) {
        return;
    }

    prov_audit_seen_free(&p->seen);
    free(p);
}


void
prov_push_reset(prov_push_t *p)
{
    int  k;

    for (k = 0; k < PROV_PUSH_NKINDS; k++) {
        p->sched[k].next_ms = 0;
        p->sched[k].backoff_ms = PROV_PUSH_BACKOFF_MIN;
        p->sched[k].failing = 0;
    }

    p->group_ok = 0;
    p->pending_done = 0;
    p->queue_full = 0;
    p->keys_seeded = 0;
    prov_audit_seen_clear(&p->seen);
}


/* renews the lease when due (the sync's hook); 1 while we may push */

static int
prov_push_leader(prov_push_t *p)
{
    return p->rs->leader == NULL || p->rs->leader(p->rs->leader_data);
}


void
prov_push_tick(prov_push_t *p, int64_t now_ms)
{
    prov_err_t  e;

    if (prov_push_form(p, &e) != PROV_OK) {
        prov_log(PROV_LOG_ERR, "push", "audit: queueing events: %s", e.msg);
    }

    /* one failed request per tick at most: RustShare is probably away */

    if (now_ms >= p->sched[PROV_PUSH_AUDIT].next_ms
        && prov_push_run(p, PROV_PUSH_AUDIT, now_ms) != PROV_OK)
    {
        return;
    }

    if (now_ms >= p->sched[PROV_PUSH_KEYS].next_ms
        && prov_push_run(p, PROV_PUSH_KEYS, now_ms) != PROV_OK)
    {
        return;
    }

    if (now_ms >= p->sched[PROV_PUSH_USAGE].next_ms) {
        (void) prov_push_run(p, PROV_PUSH_USAGE, now_ms);
    }
}


/* one push of one kind, then its schedule: interval, or backoff */

static int
prov_push_run(prov_push_t *p, prov_push_kind_e k, int64_t now_ms)
{
    int                 rc;
    size_t              n;
    prov_err_t          e;
    prov_push_sched_t  *s;

    n = 0;
    s = &p->sched[k];

    rc = k == PROV_PUSH_USAGE ? prov_push_usage(p, &n, &e)
         : k == PROV_PUSH_KEYS ? prov_push_keys(p, &n, &e)
         : prov_push_audit(p, &n, &e);

    if (rc == PROV_OK) {
        /* audit: recorded when something went (it runs every tick) */
        if (k != PROV_PUSH_AUDIT || n || s->failing) {
            prov_push_record(p, k, NULL, n);
        }

        if (s->failing) {
            prov_log(PROV_LOG_INFO, "push", "%s: RustShare accepts pushes "
                     "again", prov_push_names[k]);
        }

        s->failing = 0;
        s->backoff_ms = PROV_PUSH_BACKOFF_MIN;
        s->next_ms = k == PROV_PUSH_AUDIT
                     ? 0 : now_ms + (int64_t) p->ctx->cf.push_interval * 1000;

        return PROV_OK;
    }

    prov_push_record(p, k, e.msg, n);
    prov_log(PROV_LOG_ERR, "push", "%s: %s (next attempt in %llds)",
             prov_push_names[k], e.msg, (long long) s->backoff_ms / 1000);

    s->failing = 1;
    s->next_ms = now_ms + s->backoff_ms;
    s->backoff_ms = s->backoff_ms * 2 < PROV_PUSH_BACKOFF_MAX
                    ? s->backoff_ms * 2 : PROV_PUSH_BACKOFF_MAX;

    return PROV_ERR;
}


/*
 * objspace:prov:rs:push: {kind}_at, {kind}_result (ok / error),
 * {kind}_error; on success also {kind}_ok_at and {kind}_count (records
 * in that push).  No secret: errors are RustShare's code and message.
 */

static void
prov_push_record(prov_push_t *p, prov_push_kind_e k, const char *error,
    size_t count)
{
    int           n;
    char          f[5][32], now[24], cnt[24];
    const char   *argv[12];
    prov_err_t    e;
    redisReply   *reply;

    snprintf(now, sizeof(now), "%lld", (long long) prov_now());
    snprintf(cnt, sizeof(cnt), "%zu", count);
    snprintf(f[0], sizeof(f[0]), "%s_at", prov_push_names[k]);
    snprintf(f[1], sizeof(f[1]), "%s_result", prov_push_names[k]);
    snprintf(f[2], sizeof(f[2]), "%s_error", prov_push_names[k]);
    snprintf(f[3], sizeof(f[3]), "%s_ok_at", prov_push_names[k]);
    snprintf(f[4], sizeof(f[4]), "%s_count", prov_push_names[k]);

    n = 0;
    argv[n++] = "HSET";
    argv[n++] = PROV_K_RS_PUSH;
    argv[n++] = f[0];
    argv[n++] = now;
    argv[n++] = f[1];
    argv[n++] = error ? "error" : "ok";
    argv[n++] = f[2];
    argv[n++] = error ? error : "";

    if (error == NULL) {
        argv[n++] = f[3];
        argv[n++] = now;
        argv[n++] = f[4];
        argv[n++] = cnt;
    }

    reply = prov_redis_argv(&p->ctx->redis, n, argv, NULL, &e);
    if (reply == NULL) {
        prov_log(PROV_LOG_WARN, "push", "recording status: %s", e.msg);
        return;
    }

    freeReplyObject(reply);
}


/*
 * EVAL script with nkeys keys, then `first` (if not NULL), then the
 * strings args[from .. from + n - 1] as ARGV.
 */

static redisReply *
prov_push_eval(prov_push_t *p, const char *script, int nkeys,
    const char **keys, const char *first, json_t *args, size_t from,
    size_t n, prov_err_t *err)
{
    int           i, argc;
    char          nk[8];
    size_t        j;
    redisReply   *reply;
    const char  **argv;

    argv = calloc(4 + nkeys + n, sizeof(char *));
    if (argv == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return NULL;
    }

    snprintf(nk, sizeof(nk), "%d", nkeys);

    argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = script;
    argv[argc++] = nk;

    for (i = 0; i < nkeys; i++) {
        argv[argc++] = keys[i];
    }

    if (first) {
        argv[argc++] = first;
    }

    for (j = from; j < from + n; j++) {
        argv[argc++] = json_string_value(json_array_get(args, j));
    }

    reply = prov_redis_argv(&p->ctx->redis, argc, argv, NULL, err);
    free(argv);

    if (reply && reply->type != REDIS_REPLY_ARRAY
        && reply->type != REDIS_REPLY_INTEGER)
    {
        prov_err_set(err, PROV_E_REDIS, "redis EVAL: unexpected reply");
        freeReplyObject(reply);
        return NULL;
    }

    return reply;
}


/* "1706702398" -> "2024-01-31T11:59:58Z"; "" or 0 -> null */

static json_t *
prov_push_time(const char *unix_s)
{
    char     t[32];
    int64_t  v;

    v = unix_s ? strtoll(unix_s, NULL, 10) : 0;

    if (v <= 0) {
        return json_null();
    }

    prov_format_time(v, t, sizeof(t));

    return json_string(t);
}


/* ------------------------------------------------------------ audit */


/*
 * Queues what the stream holds for the group "rustshare" (its pending
 * entries first: read before, not queued, e.g. a transaction that did not
 * reach Redis), up to PROV_PUSH_FORM_MAX batches per tick, while the
 * queue has room.
 */

static int
prov_push_form(prov_push_t *p, prov_err_t *err)
{
    int          b;
    redisReply  *reply, *entries;

    if (!p->group_ok) {
        if (prov_audit_group_create(&p->ctx->redis, PROV_RS_AUDIT_GROUP, err)
            != PROV_OK)
        {
            return PROV_ERR;
        }

        p->group_ok = 1;
    }

    for (b = 0; b < PROV_PUSH_FORM_MAX; b++) {
        reply = prov_redis_cmd(&p->ctx->redis, err, "LLEN %s",
                               PROV_K_RS_PUSH_AUDIT);
        if (reply == NULL) {
            return PROV_ERR;
        }

        if (reply->integer >= PROV_PUSH_QUEUE_MAX) {
            if (!p->queue_full) {
                prov_log(PROV_LOG_WARN, "push", "audit: %lld batches wait "
                         "for RustShare: new events wait in the stream "
                         "(objspace_audit_maxlen bounds how long)",
                         (long long) reply->integer);
                p->queue_full = 1;
            }

            freeReplyObject(reply);
            return PROV_OK;
        }

        freeReplyObject(reply);
        p->queue_full = 0;

        reply = prov_audit_read(&p->ctx->redis, PROV_RS_AUDIT_GROUP,
                                !p->pending_done, PROV_PUSH_AUDIT_BATCH,
                                &entries, err);
        if (reply == NULL) {
            if (err->code == PROV_E_NOTFOUND) {
                p->group_ok = 0;
            }

            return PROV_ERR;
        }

        if (entries == NULL) {
            freeReplyObject(reply);

            if (p->pending_done) {
                return PROV_OK;
            }

            p->pending_done = 1;
            continue;
        }

        if (prov_push_form_batch(p, entries, err) != PROV_OK) {
            p->pending_done = 0;
            freeReplyObject(reply);
            return PROV_ERR;
        }

        freeReplyObject(reply);
    }

    return PROV_OK;
}


/*
 * One read of the stream -> at most one queued batch, and the XACK of
 * every entry read, in one transaction.  Entries without a tenant or a
 * space, of local spaces, or whose event id was queued recently are only
 * acknowledged.
 */

static int
prov_push_form_batch(prov_push_t *p, redisReply *entries, prov_err_t *err)
{
    int           rc;
    char          id[2 * PROV_PUSH_ID_LEN], cnt[24];
    char         *body;
    size_t        i, n, nack;
    json_t       *cands, *spaces, *ids, *events, *j, *doc;
    prov_buf_t    el;
    redisReply   *e;
    const char   *tenant, *space, *evid, **ackv;

    rc = PROV_ERR;
    nack = 0;
    body = NULL;
    doc = NULL;
    prov_buf_init(&el);

    ackv = calloc(entries->elements + 3, sizeof(char *));
    cands = json_array();
    spaces = json_object();
    ids = json_object();
    events = json_array();

    if (ackv == NULL || cands == NULL || spaces == NULL || ids == NULL
        || events == NULL)
    {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    ackv[nack++] = "XACK";
    ackv[nack++] = PROV_K_AUDIT;
    ackv[nack++] = PROV_RS_AUDIT_GROUP;

    for (i = 0; i < entries->elements; i++) {
        e = entries->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2
            || e->element[0]->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        ackv[nack++] = e->element[0]->str;

        if (e->element[1]->type != REDIS_REPLY_ARRAY) {
            /* a pending entry the producer's MAXLEN trimmed away */
            prov_log(PROV_LOG_WARN, "push", "audit: entry %s was trimmed "
                     "before it was queued for RustShare",
                     e->element[0]->str);
            continue;
        }

        j = prov_audit_entry_json(e->element[0], e->element[1], &tenant,
                                  err);
        if (j == NULL) {
            goto done;
        }

        space = json_string_value(json_object_get(j, "space"));
        evid = json_string_value(json_object_get(j, "id"));

        if (tenant == NULL || !prov_valid_slug(tenant, PROV_SLUG_MAX)
            || space == NULL || strncmp(space, "sp_", 3) != 0
            || (evid && (prov_audit_seen_has(&p->seen, evid)
                         || json_object_get(ids, evid))))
        {
            json_decref(j);
            continue;
        }

        if ((evid && json_object_set_new(ids, evid, json_true()) != 0)
            || json_object_set_new(spaces, space, json_false()) != 0
            || json_array_append_new(cands, j) != 0)
        {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }
    }

    if (json_array_size(cands)
        && prov_push_owned(p, spaces, err) != PROV_OK)
    {
        goto done;
    }

    json_array_foreach(cands, i, j) {
        space = json_string_value(json_object_get(j, "space"));

        if (json_is_true(json_object_get(spaces, space))
            && json_array_append(events, j) != 0)
        {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }
    }

    n = json_array_size(events);

    /* the queue entry: "{id} {n}\n{body}" */

    if (n) {
        doc = json_pack("{s:O}", "events", events);
        body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

        if (prov_gen_id("", id, sizeof(id), err) != PROV_OK
            || prov_gen_id("", id + PROV_PUSH_ID_LEN / 2,
                           sizeof(id) - PROV_PUSH_ID_LEN / 2, err)
               != PROV_OK)
        {
            goto done;
        }

        if (body == NULL
            || prov_buf_printf(&el, "%s %zu\n", id, n) != PROV_OK
            || prov_buf_puts(&el, body) != PROV_OK)
        {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }
    }

    if (prov_redis_tx_begin(&p->ctx->redis, err) != PROV_OK) {
        goto done;
    }

    if (n) {
        snprintf(cnt, sizeof(cnt), "%zu", n);
        prov_redis_tx_append(&p->ctx->redis, "RPUSH %s %b",
                             PROV_K_RS_PUSH_AUDIT, el.data, el.len);
        prov_redis_tx_append(&p->ctx->redis, "HINCRBY %s audit_backlog %s",
                             PROV_K_RS_PUSH, cnt);
    }

    prov_redis_tx_argv(&p->ctx->redis, (int) nack, ackv, NULL);

    if (prov_redis_tx_exec(&p->ctx->redis, err) != PROV_OK) {
        goto done;
    }

    /* queued: remembered, so a second delivery of an event is not */

    json_array_foreach(events, i, j) {
        evid = json_string_value(json_object_get(j, "id"));

        if (evid && prov_audit_seen_add(&p->seen, evid) != PROV_OK) {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }
    }

    if (n) {
        prov_log(PROV_LOG_DEBUG, "push", "audit: batch %s queued (%zu of "
                 "%zu entries)", id, n, nack - 3);
    }

    rc = PROV_OK;

done:

    free(body);
    json_decref(doc);
    prov_buf_free(&el);
    free(ackv);
    json_decref(cands);
    json_decref(spaces);
    json_decref(ids);
    json_decref(events);

    return rc;
}


/* spaces: {space id: false}; sets true for RustShare's */

static int
prov_push_owned(prov_push_t *p, json_t *spaces, prov_err_t *err)
{
    char         now[24];
    size_t       i;
    json_t      *ids, *v;
    redisReply  *reply;
    const char  *k, *keys[2];

    ids = json_array();
    if (ids == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    json_object_foreach(spaces, k, v) {
        if (json_array_append_new(ids, json_string(k)) != 0) {
            json_decref(ids);
            prov_err_set(err, PROV_E_SYS, "out of memory");
            return PROV_ERR;
        }
    }

    snprintf(now, sizeof(now), "%lld", (long long) prov_now());
    keys[0] = PROV_K_RS_SPACES;
    keys[1] = PROV_K_RS_PUSH_OWNED;

    reply = prov_push_eval(p, prov_push_owned_lua, 2, keys, now, ids, 0,
                           json_array_size(ids), err);
    if (reply == NULL) {
        json_decref(ids);
        return PROV_ERR;
    }

    for (i = 0; i < reply->elements && i < json_array_size(ids); i++) {
        if (reply->element[i]->integer == 1) {
            json_object_set_new(spaces,
                                json_string_value(json_array_get(ids, i)),
                                json_true());
        }
    }

    freeReplyObject(reply);
    json_decref(ids);

    return PROV_OK;
}


/*
 * Sends queued batches in order, each with its own id, until the queue
 * is empty, PROV_PUSH_SEND_MAX went, PROV_PUSH_TICK_MS passed (the loop
 * has a lease to renew and a sync to run), or one fails (it stays at the
 * head for the next attempt).  A batch RustShare refuses as such (400, 413,
 * 422: retrying the same bytes cannot help) is moved, whole, to
 * objspace:prov:rs:push:refused for the operator, so it does not block
 * the events behind it.
 */

static int
prov_push_audit(prov_push_t *p, size_t *sent, prov_err_t *err)
{
    int          b;
    char         id[PROV_PUSH_ID_LEN + 1], *sp, *nl;
    long         st;
    size_t       n;
    int64_t      end;
    prov_err_t   e;
    redisReply  *head;

    *sent = 0;
    end = prov_audit_now_ms() + PROV_PUSH_TICK_MS;

    for (b = 0;
         b < PROV_PUSH_SEND_MAX && prov_audit_now_ms() < end
         && prov_push_leader(p);
         b++)
    {
        head = prov_redis_cmd(&p->ctx->redis, err, "LINDEX %s 0",
                              PROV_K_RS_PUSH_AUDIT);
        if (head == NULL) {
            return PROV_ERR;
        }

        if (head->type != REDIS_REPLY_STRING) {
            freeReplyObject(head);
            return PROV_OK;
        }

        sp = memchr(head->str, ' ', head->len);
        nl = sp ? memchr(sp, '\n', head->len - (size_t) (sp - head->str))
                : NULL;

        if (sp == NULL || nl == NULL || sp - head->str != PROV_PUSH_ID_LEN) {
            /* not ours: set aside rather than block the queue */
            prov_log(PROV_LOG_ERR, "push", "audit: a malformed entry at the "
                     "head of %s was moved to %s", PROV_K_RS_PUSH_AUDIT,
                     PROV_K_RS_PUSH_REFUSED);
            (void) prov_push_pop(p, head->str, head->len, 0, 1, err);
            freeReplyObject(head);
            continue;
        }

        memcpy(id, head->str, PROV_PUSH_ID_LEN);
        id[PROV_PUSH_ID_LEN] = '\0';
        n = (size_t) strtoull(sp + 1, NULL, 10);

        if (prov_rs_push_body(p->rs, "audit", nl + 1, id, &e) != PROV_OK) {
            st = p->rs->last_status;

            if (st != 400 && st != 413 && st != 422) {
                prov_err_set(err, e.code, "batch %s (%zu events): %s", id,
                             n, e.msg);
                freeReplyObject(head);
                return PROV_ERR;
            }

            prov_log(PROV_LOG_ERR, "push", "audit: RustShare refused batch "
                     "%s (%zu events): %s; it was moved to %s", id, n,
                     e.msg, PROV_K_RS_PUSH_REFUSED);
            prov_push_record(p, PROV_PUSH_AUDIT, e.msg, 0);

            if (prov_push_pop(p, head->str, PROV_PUSH_ID_LEN + 1, n, 1, err)
                != PROV_OK)
            {
                freeReplyObject(head);
                return PROV_ERR;
            }

            freeReplyObject(head);
            continue;
        }

        if (prov_push_pop(p, head->str, PROV_PUSH_ID_LEN + 1, n, 0, err)
            != PROV_OK)
        {
            prov_err_prefix(err, "batch %s was accepted by RustShare but "
                            "stays queued (it is sent again under the same "
                            "id)", id);
            freeReplyObject(head);
            return PROV_ERR;
        }

        prov_log(PROV_LOG_DEBUG, "push", "audit: batch %s accepted (%zu "
                 "events)", id, n);
        *sent += n;
        freeReplyObject(head);
    }

    return PROV_OK;
}


/* head: the first len bytes of the entry to pop ("{id} ", or all of it) */

static int
prov_push_pop(prov_push_t *p, const char *head, size_t len, size_t n,
    int refused, prov_err_t *err)
{
    char          cnt[24];
    size_t        lens[9];
    const char   *argv[9];
    redisReply   *reply;

    snprintf(cnt, sizeof(cnt), "%zu", n);

    argv[0] = "EVAL";
    argv[1] = prov_push_pop_lua;
    argv[2] = "3";
    argv[3] = PROV_K_RS_PUSH_AUDIT;
    argv[4] = PROV_K_RS_PUSH;
    argv[5] = PROV_K_RS_PUSH_REFUSED;
    argv[6] = head;
    argv[7] = cnt;
    argv[8] = refused ? "refused" : "ok";

    for (int i = 0; i < 9; i++) {
        lens[i] = i == 6 ? len : strlen(argv[i]);
    }

    reply = prov_redis_argv(&p->ctx->redis, 9, argv, lens, err);
    if (reply == NULL) {
        return PROV_ERR;
    }

    freeReplyObject(reply);

    return PROV_OK;
}


/* ------------------------------------------------------------ key usage */


/*
 * The identities in objspace:prov:rs:push:keys (their last_used_at moved
 * since RustShare acknowledged it), in POSTs of PROV_PUSH_PAGE; an id
 * leaves the set once its value was acknowledged, so a restart or a new
 * leader sends what is left, and nothing twice unless it moved again.
 */

static int
prov_push_keys(prov_push_t *p, size_t *sent, prov_err_t *err)
{
    int          page, last;
    char         now[24];
    redisReply  *reply;

    *sent = 0;

    if (!p->keys_seeded) {
        snprintf(now, sizeof(now), "%lld", (long long) prov_now());

        reply = prov_redis_cmd(&p->ctx->redis, err, "EVAL %s 3 %s %s %s %s",
                               prov_push_seed_lua, PROV_K_RS_PUSH,
                               PROV_K_LASTUSED, PROV_K_RS_PUSH_KEYS, now);
        if (reply == NULL) {
            return PROV_ERR;
        }

        if (reply->integer >= 0) {
            prov_log(PROV_LOG_INFO, "push", "key usage: %lld identities "
                     "used before pushes started are due",
                     (long long) reply->integer);
        }

        freeReplyObject(reply);
        p->keys_seeded = 1;
    }

    for (page = 0; page < PROV_PUSH_KEY_PAGES && prov_push_leader(p);
         page++)
    {
        reply = prov_redis_cmd(&p->ctx->redis, err, "SRANDMEMBER %s %d",
                               PROV_K_RS_PUSH_KEYS, PROV_PUSH_PAGE);
        if (reply == NULL) {
            return PROV_ERR;
        }

        if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
            freeReplyObject(reply);
            break;
        }

        last = reply->elements < PROV_PUSH_PAGE;

        if (prov_push_keys_page(p, reply, sent, err) != PROV_OK) {
            freeReplyObject(reply);
            return PROV_ERR;
        }

        freeReplyObject(reply);

        if (last) {
            break;
        }
    }

    return PROV_OK;
}


static int
prov_push_keys_page(prov_push_t *p, redisReply *ids, size_t *sent,
    prov_err_t *err)
{
    int           rc, none;
    size_t        i;
    json_t       *args, *keys, *acks, *o;
    redisReply   *vals, *ack, *v;
    const char   *k[2];

    rc = PROV_ERR;
    vals = NULL;
    args = json_array();
    keys = json_array();
    acks = json_array();

    if (args == NULL || keys == NULL || acks == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    for (i = 0; i < ids->elements; i++) {
        if (ids->element[i]->type == REDIS_REPLY_STRING
            && json_array_append_new(args, json_string(ids->element[i]->str))
               != 0)
        {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }
    }

    k[0] = PROV_K_LASTUSED;
    k[1] = PROV_K_RS_IDENTS;

    vals = prov_push_eval(p, prov_push_keys_lua, 2, k, NULL, args, 0,
                          json_array_size(args), err);
    if (vals == NULL) {
        goto done;
    }

    for (i = 0; i < vals->elements && i < json_array_size(args); i++) {
        v = vals->element[i];
        none = v->type != REDIS_REPLY_STRING || v->len == 0;

        if (json_array_append(acks, json_array_get(args, i)) != 0
            || json_array_append_new(acks, json_string(none ? "" : v->str))
               != 0)
        {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }

        if (none) {
            continue;
        }

        o = json_pack("{s:O, s:o}", "identity_id", json_array_get(args, i),
                      "last_used_at", prov_push_time(v->str));
        if (o == NULL || json_array_append_new(keys, o) != 0) {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }
    }

    if (json_array_size(keys)
        && prov_rs_push_key_usage(p->rs, keys, err) != PROV_OK)
    {
        goto done;
    }

    k[1] = PROV_K_RS_PUSH_KEYS;

    ack = prov_push_eval(p, prov_push_keys_ack_lua, 2, k, NULL, acks, 0,
                         json_array_size(acks), err);
    if (ack == NULL) {
        goto done;
    }

    freeReplyObject(ack);
    *sent += json_array_size(keys);
    rc = PROV_OK;

done:

    if (vals) {
        freeReplyObject(vals);
    }

    json_decref(args);
    json_decref(keys);
    json_decref(acks);

    return rc;
}


/* ------------------------------------------------------------ usage */


/* every space id in objspace:prov:rs:spaces (HSCAN: no long block) */

static json_t *
prov_push_space_ids(prov_push_t *p, prov_err_t *err)
{
    char         cursor[32];
    size_t       i;
    json_t      *ids;
    redisReply  *reply, *f;

    ids = json_array();
    if (ids == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return NULL;
    }

    strcpy(cursor, "0");

    do {
        reply = prov_redis_cmd(&p->ctx->redis, err, "HSCAN %s %s COUNT %d",
                               PROV_K_RS_SPACES, cursor, PROV_PUSH_PAGE);
        if (reply == NULL) {
            json_decref(ids);
            return NULL;
        }

        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
            || reply->element[0]->type != REDIS_REPLY_STRING
            || reply->element[1]->type != REDIS_REPLY_ARRAY)
        {
            freeReplyObject(reply);
            json_decref(ids);
            prov_err_set(err, PROV_E_REDIS, "redis HSCAN: unexpected reply");
            return NULL;
        }

        snprintf(cursor, sizeof(cursor), "%s", reply->element[0]->str);
        f = reply->element[1];

        for (i = 0; i + 1 < f->elements; i += 2) {
            if (f->element[i]->type == REDIS_REPLY_STRING
                && json_array_append_new(ids,
                                         json_string(f->element[i]->str))
                   != 0)
            {
                freeReplyObject(reply);
                json_decref(ids);
                prov_err_set(err, PROV_E_SYS, "out of memory");
                return NULL;
            }
        }

        freeReplyObject(reply);

    } while (strcmp(cursor, "0") != 0);

    return ids;
}


/*
 * Every RustShare space's bytes and objects, PROV_PUSH_PAGE per POST
 * (each POST its own Idempotency-Key: a usage report is a snapshot, so
 * sending one again is harmless).  Also keeps objspace:prov:rs:push:owned
 * up to date for the audit shipper.
 */

static int
prov_push_usage(prov_push_t *p, size_t *sent, prov_err_t *err)
{
    int          rc;
    char         cut[24];
    size_t       from, n;
    json_t      *ids;
    redisReply  *reply;

    *sent = 0;

    ids = prov_push_space_ids(p, err);
    if (ids == NULL) {
        return PROV_ERR;
    }

    rc = PROV_OK;

    for (from = 0; from < json_array_size(ids); from += n) {
        n = json_array_size(ids) - from;
        n = n > PROV_PUSH_PAGE ? PROV_PUSH_PAGE : n;

        if (!prov_push_leader(p)) {
            break;
        }

        rc = prov_push_usage_page(p, ids, from, n, sent, err);
        if (rc != PROV_OK) {
            break;
        }
    }

    json_decref(ids);

    if (rc != PROV_OK) {
        return PROV_ERR;
    }

    snprintf(cut, sizeof(cut), "%lld",
             (long long) (prov_now() - PROV_PUSH_OWNED_KEEP));

    reply = prov_redis_cmd(&p->ctx->redis, err, "EVAL %s 2 %s %s %s",
                           prov_push_prune_lua, PROV_K_RS_PUSH_OWNED,
                           PROV_K_RS_SPACES, cut);
    if (reply == NULL) {
        return PROV_ERR;
    }

    freeReplyObject(reply);

    return PROV_OK;
}


/*
 * bytes / objects: the gateway's counters (reconciled with the storage
 * by the usage reconcile); null while neither the gateway nor a
 * reconcile has written them ("not measured yet"), never below 0.
 */

static int
prov_push_usage_page(prov_push_t *p, json_t *ids, size_t from, size_t n,
    size_t *sent, prov_err_t *err)
{
    int           rc, measured;
    char          now[24];
    size_t        i;
    json_t       *spaces, *o;
    int64_t       bytes, objects;
    redisReply   *u, **f;
    const char   *k[1];

    snprintf(now, sizeof(now), "%lld", (long long) prov_now());
    k[0] = PROV_K_RS_PUSH_OWNED;

    u = prov_push_eval(p, prov_push_usage_lua, 1, k, now, ids, from, n, err);
    if (u == NULL) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    spaces = json_array();
    if (spaces == NULL || u->elements != 3 * n) {
        prov_err_set(err, PROV_E_SYS, spaces ? "redis: short usage reply"
                                             : "out of memory");
        goto done;
    }

    for (i = 0; i < n; i++) {
        f = &u->element[3 * i];

        if (f[0]->type != REDIS_REPLY_STRING
            || f[1]->type != REDIS_REPLY_STRING
            || f[2]->type != REDIS_REPLY_STRING)
        {
            prov_err_set(err, PROV_E_REDIS, "redis: unexpected usage reply");
            goto done;
        }

        measured = f[0]->len > 0 || f[2]->len > 0;
        bytes = strtoll(f[0]->len ? f[0]->str : "0", NULL, 10);
        objects = strtoll(f[1]->len ? f[1]->str : "0", NULL, 10);

        o = json_pack("{s:O, s:o, s:o}", "space_id",
                      json_array_get(ids, from + i),
                      "bytes", measured
                               ? json_integer(bytes > 0 ? bytes : 0)
                               : json_null(),
                      "objects", measured
                                 ? json_integer(objects > 0 ? objects : 0)
                                 : json_null());
        if (o == NULL || json_array_append_new(spaces, o) != 0) {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }
    }

    if (prov_rs_push_usage(p->rs, spaces, err) != PROV_OK) {
        goto done;
    }

    *sent += n;
    rc = PROV_OK;

done:

    json_decref(spaces);
    freeReplyObject(u);

    return rc;
}


/* ------------------------------------------------------------ status */


json_t *
prov_push_status_json(prov_ctx_t *ctx)
{
    int          k;
    char         f[48];
    size_t       i, g;
    json_t      *j, *o, *audit;
    prov_err_t   e;
    redisReply  *h, *len, *refused, *groups, *gr;
    const char  *s, *name;

    h = prov_redis_cmd(&ctx->redis, &e, "HGETALL %s", PROV_K_RS_PUSH);
    len = prov_redis_cmd(&ctx->redis, &e, "LLEN %s", PROV_K_RS_PUSH_AUDIT);
    refused = prov_redis_cmd(&ctx->redis, &e, "LLEN %s",
                             PROV_K_RS_PUSH_REFUSED);
    groups = prov_redis_cmd(&ctx->redis, &e, "XINFO GROUPS %s", PROV_K_AUDIT);

    j = NULL;

    if (h == NULL || len == NULL || refused == NULL) {
        goto done;
    }

    j = json_object();

    for (k = 0; k < PROV_PUSH_NKINDS && j; k++) {
        name = prov_push_names[k];

        snprintf(f, sizeof(f), "%s_result", name);
        s = prov_redis_field(h, f);
        o = json_pack("{s:s?}", "result", s);

        snprintf(f, sizeof(f), "%s_at", name);
        json_object_set_new(o, "at", prov_push_time(prov_redis_field(h, f)));
        snprintf(f, sizeof(f), "%s_ok_at", name);
        json_object_set_new(o, "ok_at",
                            prov_push_time(prov_redis_field(h, f)));
        snprintf(f, sizeof(f), "%s_error", name);
        s = prov_redis_field(h, f);
        json_object_set_new(o, "error", json_string(s ? s : ""));
        snprintf(f, sizeof(f), "%s_count", name);
        s = prov_redis_field(h, f);
        json_object_set_new(o, "count", json_integer(s ? strtoll(s, NULL, 10)
                                                       : 0));
        json_object_set_new(j, name, o);
    }

    audit = json_object_get(j, "audit");
    if (audit == NULL) {
        json_decref(j);
        j = NULL;
        goto done;
    }

    s = prov_redis_field(h, "audit_backlog");
    json_object_set_new(audit, "backlog_events",
                        json_integer(s ? strtoll(s, NULL, 10) : 0));
    json_object_set_new(audit, "backlog_batches", json_integer(len->integer));
    json_object_set_new(audit, "refused_batches",
                        json_integer(refused->integer));
    s = prov_redis_field(h, "audit_shipped");
    json_object_set_new(audit, "shipped_events",
                        json_integer(s ? strtoll(s, NULL, 10) : 0));

    /* not yet read from the stream by the group (Redis 7: "lag") */
    json_object_set_new(audit, "unread", json_null());

    for (g = 0; groups && groups->type == REDIS_REPLY_ARRAY
                && g < groups->elements; g++)
    {
        gr = groups->element[g];

        if (gr->type != REDIS_REPLY_ARRAY
            || (s = prov_redis_field(gr, "name")) == NULL
            || strcmp(s, PROV_RS_AUDIT_GROUP) != 0)
        {
            continue;
        }

        for (i = 0; i + 1 < gr->elements; i += 2) {
            if (gr->element[i]->type == REDIS_REPLY_STRING
                && strcmp(gr->element[i]->str, "lag") == 0
                && gr->element[i + 1]->type == REDIS_REPLY_INTEGER)
            {
                json_object_set_new(audit, "unread",
                          json_integer(gr->element[i + 1]->integer));
            }
        }
    }

done:

    if (h) {
        freeReplyObject(h);
    }

    if (len) {
        freeReplyObject(len);
    }

    if (refused) {
        freeReplyObject(refused);
    }

    if (groups) {
        freeReplyObject(groups);
    }

    return j;
}

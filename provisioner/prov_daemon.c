
/*
 * objspace-provisioner: the daemon.
 *
 * Single-threaded: a one-second tick takes or renews the leader lease
 * (objspace:prov:leader, taken when free, renewed by compare-and-pexpire,
 * on a Redis connection of its own), and the leader runs a reconcile pass
 * every reconcile_interval seconds; with source = rustshare it also syncs
 * every tick and pushes usage, key last-used times and audit events back
 * (prov_push.c).  Signal handlers only set flags.
 *
 * Timing (docs/provisioner.md, "Timing and the lease"): inside a long
 * pass the lease is renewed before every RustShare request, storage
 * request and Redis write batch once a second has passed, and a request
 * starts only if the lease outlasts its timeout (prov_lease_guard); each
 * is bounded to half the lease.  Every write transaction of the daemon is
 * fenced in Redis (prov_redis.h), so a node whose lease expired, however
 * long it was stalled, cannot write.  A standby wakes when the holder's
 * lease runs out and takes over at most lease_ttl seconds after the
 * leader dies.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <errno.h>
#include <time.h>

#include <jansson.h>

#include "prov_daemon.h"
#include "prov_state.h"
#include "prov_rustshare.h"
#include "prov_audit.h"
#include "prov_usage.h"
#include "prov_push.h"


typedef struct {
    size_t   spaces;
    size_t   drift;
    size_t   repaired;
    size_t   errors;
    size_t   tomb_done;
    size_t   tomb_left;
    json_t  *report;            /* array of {space, drift, repaired, error} */
} prov_reconcile_t;


typedef struct {
    prov_ctx_t    *ctx;
    prov_redis_t   conn;            /* the lease's own connection: never
                                       behind a pipelined batch */
    char           node[128];
    int            leader;
    int64_t        renewed_ms;      /* when the last renewal was sent */
    int64_t        other_ms;        /* standby: the holder's lease left */
} prov_lease_t;


/* a call starts only if the lease outlasts its timeout by this much */
#define PROV_LEASE_MARGIN_MS  500


static volatile sig_atomic_t  prov_quit;
static volatile sig_atomic_t  prov_kick;


static void prov_sig_quit(int signo);
static void prov_sig_hup(int signo);
static int64_t prov_now_ms(void);
static void prov_sleep_ms(int64_t ms);
static int prov_lease_tick(prov_lease_t *l, prov_err_t *err);
static int prov_lease_guard(void *data, long need_ms);
static void prov_lease_release(prov_lease_t *l);
static int prov_reconcile(prov_ctx_t *ctx, int dry_run, prov_lease_t *lease,
    prov_reconcile_t *rs, prov_err_t *err);
static void prov_reconcile_record(prov_ctx_t *ctx, prov_reconcile_t *rs,
    const char *result, const char *node);
static int prov_rs_still_leader(void *data);
static void prov_daemon_leader_work(prov_ctx_t *ctx, prov_audit_t *audit,
    prov_push_t *push, json_t *usage_memory, int64_t *next_usage_ms);
static void prov_daemon_print_push(json_t *push);


static void
prov_sig_quit(int signo)
{
    (void) signo;
    prov_quit = 1;
}


static void
prov_sig_hup(int signo)
{
    (void) signo;
    prov_kick = 1;
}


static int64_t
prov_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* a signal cuts it short (SIGTERM: the loop ends) */

static void
prov_sleep_ms(int64_t ms)
{
    struct timespec  ts;

    ts.tv_sec = (time_t) (ms / 1000);
    ts.tv_nsec = (long) (ms % 1000) * 1000000L;

    nanosleep(&ts, NULL);
}


/*
 * Takes the lease if free (or still holding our own node id, after a
 * renewal whose answer was lost), renews it if ours (only if the value is
 * still our node id: a Lua compare-and-pexpire), and notices when it was
 * lost; a standby learns how long the holder's lease has left.  The lease
 * counts from when the command was sent: Redis started it no earlier.
 */

static int
prov_lease_tick(prov_lease_t *l, prov_err_t *err)
{
    int          ttl_ms;
    int64_t      sent_ms;
    redisReply  *reply;

    if (l->conn.c == NULL || l->conn.c->err) {
        prov_redis_close(&l->conn);

        if (prov_redis_open(&l->conn, &l->ctx->cf, err) != PROV_OK) {
            return PROV_ERR;
        }
    }

    ttl_ms = l->ctx->cf.lease_ttl * 1000;
    sent_ms = prov_now_ms();

    if (l->leader) {
        reply = prov_redis_cmd(&l->conn, err,
                    "EVAL %s 1 %s %s %d",
                    "if redis.call('get', KEYS[1]) == ARGV[1] then "
                    "return redis.call('pexpire', KEYS[1], ARGV[2]) "
                    "else return 0 end",
                    PROV_K_LEADER, l->node, ttl_ms);
        if (reply == NULL) {
            return PROV_ERR;
        }

        if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
            prov_log(PROV_LOG_WARN, "lease", "leader lease lost");
            l->leader = 0;

        } else {
            l->renewed_ms = sent_ms;
        }

        freeReplyObject(reply);
        return PROV_OK;
    }

    reply = prov_redis_cmd(&l->conn, err, "EVAL %s 1 %s %s %d",
                "local v = redis.call('get', KEYS[1]) "
                "if v == false or v == ARGV[1] then "
                "redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2]) "
                "return -1 end "
                "return redis.call('pttl', KEYS[1])",
                PROV_K_LEADER, l->node, ttl_ms);
    if (reply == NULL) {
        return PROV_ERR;
    }

    if (reply->type == REDIS_REPLY_INTEGER && reply->integer < 0) {
        l->leader = 1;
        l->renewed_ms = sent_ms;
        l->other_ms = 0;
        prov_log(PROV_LOG_INFO, "lease", "became leader (%s)", l->node);

    } else if (reply->type == REDIS_REPLY_INTEGER) {
        l->other_ms = reply->integer;
    }

    freeReplyObject(reply);

    return PROV_OK;
}


/*
 * The guard of every blocking call of the leader (prov_guard_pt): renews
 * the lease when the last renewal is a second old or would not cover the
 * call, then lets the call start only if the lease, counted from when
 * that renewal was sent, outlasts need_ms by a margin.  Never takes a
 * lost lease back: the pass stops and the next tick decides.
 */

static int
prov_lease_guard(void *data, long need_ms)
{
    int64_t        ttl_ms, left;
    prov_err_t     e;
    prov_lease_t  *l;

    l = data;

    if (!l->leader) {
        return 0;
    }

    ttl_ms = (int64_t) l->ctx->cf.lease_ttl * 1000;
    left = l->renewed_ms + ttl_ms - prov_now_ms();

    if (left < ttl_ms - 1000 || left < need_ms + PROV_LEASE_MARGIN_MS) {
        if (prov_lease_tick(l, &e) != PROV_OK) {
            prov_log(PROV_LOG_ERR, "lease", "%s", e.msg);
            l->leader = 0;
        }

        if (!l->leader) {
            return 0;
        }

        left = l->renewed_ms + ttl_ms - prov_now_ms();
    }

    if (left < need_ms + PROV_LEASE_MARGIN_MS) {
        prov_log(PROV_LOG_WARN, "lease", "%lld ms of the lease left, too "
                 "little for a call of up to %ld ms: not starting it",
                 (long long) left, need_ms);
        return 0;
    }

    return 1;
}


static void
prov_lease_release(prov_lease_t *l)
{
    prov_err_t   err;
    redisReply  *reply;

    if (!l->leader) {
        return;
    }

    reply = prov_redis_cmd(&l->conn, &err,
                "EVAL %s 1 %s %s",
                "if redis.call('get', KEYS[1]) == ARGV[1] then "
                "return redis.call('del', KEYS[1]) else return 0 end",
                PROV_K_LEADER, l->node);
    if (reply) {
        freeReplyObject(reply);
    }

    l->leader = 0;
    prov_log(PROV_LOG_INFO, "lease", "released leader lease");
}


/* RustShare sync hook before writes: renew the lease if due; 1 while we
 * hold it (the writes themselves are fenced in Redis) */

static int
prov_rs_still_leader(void *data)
{
    return prov_lease_guard(data, 0);
}


static int
prov_reconcile(prov_ctx_t *ctx, int dry_run, prov_lease_t *lease,
    prov_reconcile_t *rs, prov_err_t *err)
{
    char          **ids;
    size_t          i, n;
    json_t         *item;
    prov_err_t      e;
    prov_space_t    sp;
    prov_drift_t    d;

    memset(rs, 0, sizeof(*rs));
    rs->report = json_array();

    if (!dry_run
        && prov_tombstones_retry(ctx, &rs->tomb_done, &rs->tomb_left, err)
           != PROV_OK)
    {
        return PROV_ERR;
    }

    if (prov_space_ids(ctx, &ids, &n, err) != PROV_OK) {
        return PROV_ERR;
    }

    for (i = 0; i < n && !prov_quit; i++) {

        /* keep the lease through a long pass; stop writing if it is lost
         * (each storage request checks it again) */
        if (lease && !prov_lease_guard(lease, 0)) {
            prov_ids_free(ids, n);
            prov_err_set(err, PROV_E_BUSY, "lease lost during reconcile");
            return PROV_ERR;
        }

        if (prov_space_get(ctx, ids[i], &sp, &e) != PROV_OK) {
            prov_log(PROV_LOG_WARN, "reconcile", "space %s: %s", ids[i],
                     e.msg);
            rs->errors++;
            continue;
        }

        rs->spaces++;

        if (prov_space_check(ctx, &sp, &d, &e) != PROV_OK) {
            prov_log(PROV_LOG_WARN, "reconcile", "space %s: %s", sp.id,
                     e.msg);
            rs->errors++;
            item = json_pack("{s:s, s:s}", "space", sp.id, "error", e.msg);
            json_array_append_new(rs->report, item);
            prov_space_free(&sp);
            continue;
        }

        if (d.drift) {
            rs->drift++;
            prov_log(PROV_LOG_WARN, "reconcile", "space %s: drift: %s",
                     sp.id, d.what);

            item = json_pack("{s:s, s:s, s:s, s:b}", "space", sp.id,
                             "bucket", sp.bucket, "drift", d.what,
                             "repaired", 0);

            if (!dry_run) {
                if (prov_space_repair(ctx, &sp, &d, &e) == PROV_OK) {
                    rs->repaired++;
                    json_object_set_new(item, "repaired", json_true());

                } else {
                    rs->errors++;
                    prov_log(PROV_LOG_ERR, "reconcile", "%s", e.msg);
                    json_object_set_new(item, "error", json_string(e.msg));
                }
            }

            json_array_append_new(rs->report, item);
        }

        prov_space_free(&sp);
    }

    prov_ids_free(ids, n);

    return PROV_OK;
}


static void
prov_reconcile_record(prov_ctx_t *ctx, prov_reconcile_t *rs,
    const char *result, const char *node)
{
    prov_err_t   err;
    redisReply  *reply;

    reply = prov_redis_write(&ctx->redis, &err,
                "HSET %s last_reconcile %lld result %s node %s spaces %llu "
                "drift_found %llu drift_repaired %llu errors %llu "
                "pending_deletions %llu",
                PROV_K_STATUS, (long long) prov_now(), result, node,
                (unsigned long long) rs->spaces,
                (unsigned long long) rs->drift,
                (unsigned long long) rs->repaired,
                (unsigned long long) rs->errors,
                (unsigned long long) rs->tomb_left);
    if (reply == NULL) {
        prov_log(PROV_LOG_WARN, "reconcile", "recording status: %s",
                 err.msg);
        return;
    }

    freeReplyObject(reply);
}


int
prov_daemon_reconcile_once(const char *config, int json, int dry_run,
    prov_err_t *err)
{
    int               rc;
    json_t           *j;
    prov_ctx_t        ctx;
    prov_reconcile_t  rs;

    if (prov_ctx_open(&ctx, config, 1, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = prov_reconcile(&ctx, dry_run, NULL, &rs, err);

    if (rc == PROV_OK) {
        if (!dry_run) {
            prov_reconcile_record(&ctx, &rs, rs.errors ? "errors" : "ok",
                                  "cli");
        }

        if (json) {
            j = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:O, s:b}",
                          "spaces", (json_int_t) rs.spaces,
                          "drift_found", (json_int_t) rs.drift,
                          "drift_repaired", (json_int_t) rs.repaired,
                          "errors", (json_int_t) rs.errors,
                          "pending_deletions_done",
                          (json_int_t) rs.tomb_done,
                          "pending_deletions_left",
                          (json_int_t) rs.tomb_left,
                          "report", rs.report, "dry_run", dry_run);
            if (j) {
                json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
                fputc('\n', stdout);
                json_decref(j);
            }

        } else {
            size_t   i;
            json_t  *it;

            printf("Spaces: %zu\nDrift found: %zu\nDrift repaired: %zu\n"
                   "Errors: %zu\nPending deletions finished: %zu, left: %zu\n",
                   rs.spaces, rs.drift, rs.repaired, rs.errors, rs.tomb_done,
                   rs.tomb_left);

            json_array_foreach(rs.report, i, it) {
                printf("  %s: %s%s\n",
                       json_string_value(json_object_get(it, "space")),
                       json_string_value(json_object_get(it, "drift"))
                       ? json_string_value(json_object_get(it, "drift"))
                       : json_string_value(json_object_get(it, "error")),
                       json_is_true(json_object_get(it, "repaired"))
                       ? " (repaired)" : "");
            }
        }

        if (rs.errors) {
            prov_err_set(err, PROV_E_STORAGE, "%zu spaces could not be "
                         "checked or repaired", rs.errors);
            rc = PROV_ERR;
        }
    }

    json_decref(rs.report);
    prov_ctx_close(&ctx);

    return rc;
}


/*
 * The leader's work besides reconcile passes and syncs: drain the audit
 * stream into the tenants' files (every tick), push to RustShare (push
 * is NULL without a RustShare source; prov_push.c keeps its schedule),
 * reconcile usage counters with the storage (every usage_interval
 * seconds).
 */

static void
prov_daemon_leader_work(prov_ctx_t *ctx, prov_audit_t *audit,
    prov_push_t *push, json_t *usage_memory, int64_t *next_usage_ms)
{
    size_t             n;
    int64_t            now_ms;
    prov_err_t         e;
    prov_usage_pass_t  up;

    if (prov_audit_pump(audit, &ctx->redis, 100000, &n, &e) != PROV_OK) {
        prov_log(PROV_LOG_ERR, "audit", "%s", e.msg);

    } else if (n) {
        prov_log(PROV_LOG_DEBUG, "audit", "%zu events written", n);
    }

    if (push) {
        prov_push_tick(push, prov_now_ms());
    }

    now_ms = prov_now_ms();

    if (now_ms < *next_usage_ms) {
        return;
    }

    *next_usage_ms = now_ms + (int64_t) ctx->cf.usage_interval * 1000;

    if (prov_usage_reconcile(ctx, usage_memory, &up, &e) != PROV_OK) {
        prov_log(PROV_LOG_ERR, "usage", "%s", e.msg);
        *next_usage_ms = now_ms + 5000;
        return;
    }

    if (up.drift || up.errors) {
        prov_log(PROV_LOG_INFO, "usage", "usage of %zu spaces checked: drift "
                 "in %zu, corrected %zu, deferred %zu, errors %zu",
                 up.spaces, up.drift, up.corrected, up.deferred, up.errors);
    }
}


int
prov_daemon_run(const char *config, int once, prov_err_t *err)
{
    int                rc, was_leader, have_rs;
    long               half_ms;
    char               host[64];
    size_t             expired;
    json_t            *usage_memory;
    int64_t            next_ms, now_ms, backoff_ms, next_usage_ms;
    int64_t            sync_ms, sync_backoff;
    prov_rs_t          rsh;
    prov_push_t       *push;
    prov_ctx_t         ctx;
    prov_rs_result_t   res;
    prov_audit_t      *audit;
    prov_err_t         e;
    prov_lease_t       lease;
    prov_reconcile_t   rs;
    struct sigaction   sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = prov_sig_quit;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = prov_sig_hup;
    sigaction(SIGHUP, &sa, NULL);

    if (prov_ctx_open(&ctx, config, 1, err) != PROV_OK) {
        return PROV_ERR;
    }

    ctx.actor = "daemon";

    if (prov_audit_open(&audit, &ctx.cf, err) != PROV_OK) {
        prov_ctx_close(&ctx);
        return PROV_ERR;
    }

    usage_memory = json_object();
    next_usage_ms = 0;
    was_leader = 0;

    memset(&lease, 0, sizeof(lease));
    lease.ctx = &ctx;

    if (gethostname(host, sizeof(host)) != 0) {
        strcpy(host, "localhost");
    }

    host[sizeof(host) - 1] = '\0';
    snprintf(lease.node, sizeof(lease.node), "%s:%d",
             ctx.cf.node_id ? ctx.cf.node_id : host, (int) getpid());

    /* no write of this process lands unless it holds the lease, and no
     * storage request starts that could outlast it; each within half the
     * lease (docs/provisioner.md, "Timing and the lease") */
    ctx.redis.fence = lease.node;

    half_ms = (long) ctx.cf.lease_ttl * 500;

    if (ctx.store.admin.timeout_ms > half_ms) {
        ctx.store.admin.timeout_ms = half_ms;
    }

    if (ctx.store.admin.connect_timeout_ms > half_ms) {
        ctx.store.admin.connect_timeout_ms = half_ms;
    }

    ctx.store.admin.guard = prov_lease_guard;
    ctx.store.admin.guard_data = &lease;

    prov_log(PROV_LOG_INFO, "daemon", "started (%s, storage %s, reconcile "
             "every %ds, lease %ds)", lease.node, ctx.cf.storage,
             ctx.cf.reconcile_interval, ctx.cf.lease_ttl);

    /* source = rustshare: pull desired state every tick (long poll) */

    have_rs = 0;
    sync_ms = 0;
    sync_backoff = 1000;
    push = NULL;

    if (strcmp(ctx.cf.source, "rustshare") == 0) {
        if (prov_rs_open(&rsh, &ctx, err) != PROV_OK) {
            prov_audit_close(audit);
            json_decref(usage_memory);
            prov_ctx_close(&ctx);
            return PROV_ERR;
        }

        rsh.leader = prov_rs_still_leader;
        rsh.leader_data = &lease;
        rsh.guard = prov_lease_guard;
        rsh.guard_data = &lease;
        have_rs = 1;

        /* a sync request makes one attempt (rustshare_timeout plus the
         * wait, at most half the lease: prov_config.c); a failed pass is
         * retried on a later tick with backoff */
        rsh.sync_retries = 0;

        /* a push makes one attempt per tick, well inside the lease; a
         * failure waits for a later tick (prov_push.c) */
        rsh.push_retries = 0;
        rsh.push_timeout = ctx.cf.lease_ttl / 3;

        if (rsh.push_timeout > ctx.cf.rustshare_timeout) {
            rsh.push_timeout = ctx.cf.rustshare_timeout;
        }

        if (rsh.push_timeout < 1) {
            rsh.push_timeout = 1;
        }

        if (prov_push_open(&push, &rsh, err) != PROV_OK) {
            prov_rs_close(&rsh);
            prov_audit_close(audit);
            json_decref(usage_memory);
            prov_ctx_close(&ctx);
            return PROV_ERR;
        }
    }

    rc = PROV_OK;
    next_ms = 0;
    backoff_ms = 1000;

    while (!prov_quit) {

        if (ctx.redis.c == NULL || ctx.redis.c->err) {
            prov_redis_close(&ctx.redis);

            if (prov_redis_open(&ctx.redis, &ctx.cf, &e) != PROV_OK) {
                prov_log(PROV_LOG_ERR, "daemon", "%s (retry in %llds)", e.msg,
                         (long long) backoff_ms / 1000);
                lease.leader = 0;
                sleep((unsigned) (backoff_ms / 1000));
                backoff_ms = backoff_ms < 30000 ? backoff_ms * 2 : 30000;
                continue;
            }

            backoff_ms = 1000;
            ctx.redis.fence = lease.node;
        }

        if (prov_lease_tick(&lease, &e) != PROV_OK) {
            prov_log(PROV_LOG_ERR, "daemon", "lease: %s", e.msg);
            lease.leader = 0;
            sleep(1);
            continue;
        }

        if (lease.leader) {
            prov_daemon_leader_work(&ctx, audit, push, usage_memory,
                                    &next_usage_ms);
            was_leader = 1;

        } else if (was_leader) {
            /* another node may write the files now: re-read them when
             * the lease comes back */
            prov_audit_reset(audit);
            json_object_clear(usage_memory);

            if (push) {
                prov_push_reset(push);
            }

            was_leader = 0;
        }

        now_ms = prov_now_ms();

        if (lease.leader && (now_ms >= next_ms || prov_kick)) {
            prov_kick = 0;

            if (prov_reconcile(&ctx, 0, &lease, &rs, &e) == PROV_OK) {
                prov_reconcile_record(&ctx, &rs,
                                      rs.errors ? "errors" : "ok",
                                      lease.node);
                prov_log(PROV_LOG_INFO, "daemon", "reconciled %zu spaces: "
                         "drift %zu, repaired %zu, errors %zu",
                         rs.spaces, rs.drift, rs.repaired, rs.errors);
                next_ms = now_ms + ctx.cf.reconcile_interval * 1000;

                if (prov_audit_expiry_scan(&ctx.redis, ctx.actor, &expired,
                                           &e) != PROV_OK)
                {
                    prov_log(PROV_LOG_ERR, "audit", "key expiry: %s", e.msg);
                }

            } else {
                prov_log(PROV_LOG_ERR, "daemon", "reconcile: %s", e.msg);
                next_ms = now_ms + 5000;
            }

            json_decref(rs.report);

            if (once && !have_rs) {
                break;
            }
        }

        if (have_rs && lease.leader && prov_now_ms() >= sync_ms) {
            if (prov_rs_sync(&rsh, 0, once ? 0 : ctx.cf.rustshare_wait, &res,
                             &e) == PROV_OK)
            {
                sync_backoff = 1000;
                sync_ms = 0;

            } else {
                prov_log(PROV_LOG_ERR, "rustshare", "%s (next pass in "
                         "%llds)", e.msg, (long long) sync_backoff / 1000);
                sync_ms = prov_now_ms() + sync_backoff;
                sync_backoff = sync_backoff < 30000 ? sync_backoff * 2
                                                    : 30000;
            }

            if (once) {
                break;
            }

            if (ctx.cf.rustshare_wait > 0 && sync_ms == 0) {
                continue;
            }
        }

        /* a standby wakes when the holder's lease runs out */
        prov_sleep_ms(!lease.leader && lease.other_ms > 0
                      && lease.other_ms < 1000 ? lease.other_ms + 2 : 1000);
    }

    if (have_rs) {
        prov_push_close(push);
        prov_rs_close(&rsh);
    }

    prov_lease_release(&lease);
    prov_redis_close(&lease.conn);
    prov_log(PROV_LOG_INFO, "daemon", "stopped");
    prov_audit_close(audit);
    json_decref(usage_memory);
    prov_ctx_close(&ctx);

    return rc;
}


/* text `status`: one line per push kind (docs/provisioner.md) */

static void
prov_daemon_print_push(json_t *push)
{
    int          k;
    json_t      *o;
    const char  *res, *at, *okat, *error;

    static const char  *kinds[][3] = {
        { "usage", "usage", "spaces" },
        { "key_usage", "key-usage", "keys" },
        { "audit", "audit", "events" }
    };

    for (k = 0; k < 3; k++) {
        o = json_object_get(push, kinds[k][0]);
        res = json_string_value(json_object_get(o, "result"));
        at = json_string_value(json_object_get(o, "at"));
        okat = json_string_value(json_object_get(o, "ok_at"));
        error = json_string_value(json_object_get(o, "error"));

        printf("Push %s: ", kinds[k][1]);

        if (res == NULL || at == NULL) {
            printf("never");

        } else if (strcmp(res, "ok") == 0) {
            printf("ok at %s (%lld %s)", at,
                   (long long) json_integer_value(json_object_get(o,
                                                                "count")),
                   kinds[k][2]);

        } else {
            printf("error at %s: %s (last ok %s)", at, error ? error : "",
                   okat ? okat : "never");
        }

        if (k == 2) {
            printf("; backlog %lld events in %lld batches, %lld not read "
                   "yet, %lld batches refused",
                   (long long) json_integer_value(json_object_get(o,
                                                       "backlog_events")),
                   (long long) json_integer_value(json_object_get(o,
                                                       "backlog_batches")),
                   (long long) json_integer_value(json_object_get(o,
                                                       "unread")),
                   (long long) json_integer_value(json_object_get(o,
                                                       "refused_batches")));
        }

        printf("\n");
    }
}


int
prov_daemon_status(const char *config, int json, int check, prov_err_t *err)
{
    int            rc;
    char         **ids, **aks, t[32];
    size_t         i, k, n, nk, active, disabled, keys, revoked, drifted;
    json_t        *j, *drift, *item, *rsync, *push;
    int64_t        pttl;
    prov_ctx_t     ctx;
    prov_err_t     e;
    redisReply    *leader, *status, *tomb;
    prov_space_t   sp;
    prov_ident_t   id;
    prov_drift_t   d;
    const char    *s;

    if (prov_ctx_open(&ctx, config, 0, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;
    leader = NULL;
    status = NULL;
    tomb = NULL;
    rsync = NULL;
    push = NULL;
    active = disabled = keys = revoked = drifted = 0;
    drift = json_array();

    if (prov_space_ids(&ctx, &ids, &n, err) != PROV_OK) {
        goto done;
    }

    for (i = 0; i < n; i++) {
        if (prov_space_get(&ctx, ids[i], &sp, &e) != PROV_OK) {
            continue;
        }

        if (strcmp(sp.status, "active") == 0) {
            active++;

        } else {
            disabled++;
        }

        if (prov_key_ids(&ctx, sp.id, &aks, &nk, &e) == PROV_OK) {
            for (k = 0; k < nk; k++) {
                if (prov_key_get(&ctx, aks[k], &id, &e) == PROV_OK) {
                    keys++;
                    revoked += (strcmp(id.status, "revoked") == 0);
                    prov_ident_free(&id);
                }
            }

            prov_ids_free(aks, nk);
        }

        if (check) {
            if (prov_space_check(&ctx, &sp, &d, &e) != PROV_OK) {
                item = json_pack("{s:s, s:s}", "space", sp.id, "error",
                                 e.msg);
                json_array_append_new(drift, item);
                drifted++;

            } else if (d.drift) {
                item = json_pack("{s:s, s:s, s:s}", "space", sp.id,
                                 "bucket", sp.bucket, "drift", d.what);
                json_array_append_new(drift, item);
                drifted++;
            }
        }

        prov_space_free(&sp);
    }

    prov_ids_free(ids, n);

    leader = prov_redis_cmd(&ctx.redis, err, "GET %s", PROV_K_LEADER);
    if (leader == NULL) {
        goto done;
    }

    pttl = 0;
    if (leader->type == REDIS_REPLY_STRING) {
        redisReply  *r2;

        r2 = prov_redis_cmd(&ctx.redis, err, "PTTL %s", PROV_K_LEADER);
        if (r2 == NULL) {
            goto done;
        }

        pttl = r2->integer;
        freeReplyObject(r2);
    }

    status = prov_redis_cmd(&ctx.redis, err, "HGETALL %s", PROV_K_STATUS);
    if (status == NULL) {
        goto done;
    }

    tomb = prov_redis_cmd(&ctx.redis, err, "HLEN %s", PROV_K_TOMBSTONES);
    if (tomb == NULL) {
        goto done;
    }

    s = prov_redis_field(status, "last_reconcile");
    prov_format_time(s ? strtoll(s, NULL, 10) : 0, t, sizeof(t));
    rsync = prov_rs_status_json(&ctx);

    if (strcmp(ctx.cf.source, "rustshare") == 0) {
        push = prov_push_status_json(&ctx);
    }

    if (json) {
        j = json_pack("{s:s, s:s, s:s, s:{s:I, s:I}, s:{s:I, s:I}, s:I, "
                      "s:o, s:o, s:o}",
                      "storage", ctx.cf.storage,
                      "storage_endpoint", ctx.cf.storage_endpoint,
                      "endpoint", ctx.cf.endpoint,
                      "spaces", "active", (json_int_t) active,
                      "disabled", (json_int_t) disabled,
                      "keys", "total", (json_int_t) keys,
                      "revoked", (json_int_t) revoked,
                      "pending_deletions", (json_int_t) tomb->integer,
                      "drift", check ? json_incref(drift) : json_null(),
                      "leader", leader->type == REDIS_REPLY_STRING
                                ? json_pack("{s:s, s:I}", "node", leader->str,
                                            "lease_ms", (json_int_t) pttl)
                                : json_null(),
                      "last_sync", s ? json_pack("{s:s, s:s, s:s}",
                                 "at", t,
                                 "result", prov_redis_field(status, "result")
                                     ? prov_redis_field(status, "result")
                                     : "",
                                 "node", prov_redis_field(status, "node")
                                     ? prov_redis_field(status, "node") : "")
                                     : json_null());
        if (j == NULL) {
            prov_err_set(err, PROV_E_SYS, "building JSON failed");
            goto done;
        }

        json_object_set_new(j, "source", json_string(ctx.cf.source));
        json_object_set(j, "rustshare", rsync ? rsync : json_null());
        json_object_set(j, "push", push ? push : json_null());
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
        json_decref(j);

    } else {
        printf("Source: %s\n", ctx.cf.source);

        if (rsync) {
            printf("RustShare: revision %lld, last sync %s %s%s%s\n",
                   (long long) json_integer_value(json_object_get(rsync,
                                                                "revision")),
                   json_string_value(json_object_get(rsync, "at")),
                   json_string_value(json_object_get(rsync, "result")),
                   json_string_length(json_object_get(rsync, "error"))
                   ? ": " : "",
                   json_string_value(json_object_get(rsync, "error")));
        }

        if (push) {
            prov_daemon_print_push(push);
        }

        printf("Storage: %s %s\n"
               "Endpoint: %s\n"
               "Spaces: %zu (active %zu, disabled %zu)\n"
               "Keys: %zu (revoked %zu)\n"
               "Pending backend deletions: %lld\n",
               ctx.cf.storage, ctx.cf.storage_endpoint, ctx.cf.endpoint,
               active + disabled, active, disabled, keys, revoked,
               (long long) tomb->integer);

        if (check) {
            printf("Drift: %s\n", drifted ? "" : "none");

            json_array_foreach(drift, i, item) {
                s = json_string_value(json_object_get(item, "drift"));
                printf("  %s: %s\n",
                       json_string_value(json_object_get(item, "space")),
                       s ? s : json_string_value(json_object_get(item,
                                                                 "error")));
            }

        } else {
            printf("Drift: not checked\n");
        }

        if (leader->type == REDIS_REPLY_STRING) {
            printf("Leader: %s (lease %lld ms left)\n", leader->str,
                   (long long) pttl);

        } else {
            printf("Leader: none (no daemon running)\n");
        }

        s = prov_redis_field(status, "result");
        printf("Last sync: %s%s%s\n", t, s ? " " : "", s ? s : "");
    }

    rc = PROV_OK;

done:

    json_decref(drift);
    json_decref(rsync);
    json_decref(push);

    if (leader) {
        freeReplyObject(leader);
    }

    if (status) {
        freeReplyObject(status);
    }

    if (tomb) {
        freeReplyObject(tomb);
    }

    prov_ctx_close(&ctx);

    return rc;
}

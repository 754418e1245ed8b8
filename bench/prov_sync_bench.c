
/*
 * Benchmark driver for the provisioner's RustShare sync (bench/provisioner.mk,
 * run by bench/provisioner-bench).  Links the provisioner's objects.
 *
 * STUB STORAGE: the storage driver here is a benchmark stub that provisions
 * nothing (every call succeeds at once, backend keys are random), and
 * prov_store_create_space is replaced at link time (--wrap) by the same.  What is
 * measured is the real fetch from the fake RustShare, validation, secret
 * hand-over (RSA-OAEP + AES-GCM, re-seal) and the pipelined Redis writes.
 *
 *   prov_sync_bench CONFIG full           one full snapshot sync, JSON out
 *   prov_sync_bench CONFIG follow SECS    change passes (long poll 1 s)
 *   prov_sync_bench CONFIG baseline N     N identity records written one
 *                                         MULTI/EXEC round trip each (how
 *                                         the CLI writes), JSON out
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <malloc.h>
#include <sys/resource.h>

#include "prov_rustshare.h"


static int bench_ok(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err);
static int bench_create_user(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err);
static int bench_set_enabled(prov_store_t *st, prov_store_space_t *sp,
    int enabled, prov_err_t *err);
static int bench_check(prov_store_t *st, prov_store_space_t *sp,
    prov_store_check_t *chk, prov_err_t *err);
int __wrap_prov_store_create_space(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err);
static double bench_ms(void);
static double bench_cpu_ms(void);
static int bench_baseline(prov_ctx_t *ctx, long n, prov_err_t *err);


/* usage is never called by a sync: left out (its signature is issue 5's) */
static const prov_store_ops_t  bench_stub_ops = {
    .name = "bench-stub",
    .create_user = bench_create_user,
    .bind_bucket = NULL,
    .new_key = bench_create_user,
    .set_quota = bench_ok,
    .set_enabled = bench_set_enabled,
    .delete_space = bench_ok,
    .check = bench_check,
    .bucket_by_admin = 1
};


static int
bench_ok(prov_store_t *st, prov_store_space_t *sp, prov_err_t *err)
{
    (void) st;
    (void) sp;
    (void) err;

    return PROV_OK;
}


static int
bench_create_user(prov_store_t *st, prov_store_space_t *sp, prov_err_t *err)
{
    (void) st;

    if (prov_gen_access_key_id("RSB", sp->backend_ak, err) != PROV_OK) {
        return PROV_ERR;
    }

    return prov_gen_secret(sp->backend_sk, err);
}


static int
bench_set_enabled(prov_store_t *st, prov_store_space_t *sp, int enabled,
    prov_err_t *err)
{
    (void) enabled;

    return bench_ok(st, sp, err);
}


static int
bench_check(prov_store_t *st, prov_store_space_t *sp,
    prov_store_check_t *chk, prov_err_t *err)
{
    (void) st;
    (void) sp;
    (void) err;

    memset(chk, 0, sizeof(*chk));
    chk->user_exists = chk->user_enabled = chk->key_ok = 1;
    chk->bucket_exists = chk->bucket_owned = chk->policy_ok = 1;
    chk->quota_ok = 1;

    return PROV_OK;
}


/*
 * STUB: linked with -Wl,--wrap=prov_store_create_space, so the sync's
 * "user + bucket + quota" (which also speaks S3 to the storage) provisions
 * nothing here either.
 */

int
__wrap_prov_store_create_space(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err)
{
    return bench_create_user(st, sp, err);
}


static double
bench_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}


/*
 * The baseline: the same identity records written the way the CLI writes
 * one key (a MULTI/EXEC round trip per record), into a scratch prefix of
 * keys that the benchmark deletes again.
 */

/* this process's user + system CPU time: the sync's own cost, apart from
 * waiting for the fake RustShare, Redis or a busy machine */

static double
bench_cpu_ms(void)
{
    struct rusage  ru;

    getrusage(RUSAGE_SELF, &ru);

    return ru.ru_utime.tv_sec * 1000.0 + ru.ru_utime.tv_usec / 1000.0
           + ru.ru_stime.tv_sec * 1000.0 + ru.ru_stime.tv_usec / 1000.0;
}


static int
bench_baseline(prov_ctx_t *ctx, long n, prov_err_t *err)
{
    long          i;
    char          secret[PROV_SECRET_LEN + 1];
    double        t0, ms;
    prov_ident_t  id;
    redisReply   *r;

    if (prov_gen_secret(secret, err) != PROV_OK) {
        return PROV_ERR;
    }

    memset(&id, 0, sizeof(id));
    strcpy(id.space, "sp_baseline00000000");
    strcpy(id.tenant, "bench");
    strcpy(id.name, "baseline");
    strcpy(id.mode, "read-write");
    strcpy(id.status, "active");

    if (prov_seal(&ctx->key, secret, strlen(secret), "ak:baseline",
                  &id.secret, err) != PROV_OK)
    {
        return PROV_ERR;
    }

    t0 = bench_ms();

    for (i = 0; i < n; i++) {
        snprintf(id.id, sizeof(id.id), "key_%016lx", 0xba5e000000000000UL
                 + (unsigned long) i);
        snprintf(id.access_key_id, sizeof(id.access_key_id), "BASE%016lx",
                 (unsigned long) i);

        if (prov_redis_tx_begin(&ctx->redis, err) != PROV_OK) {
            return PROV_ERR;
        }

        prov_ident_tx_hset(&ctx->redis, &id);
        prov_redis_tx_append(&ctx->redis, "HDEL " PROV_K_AK " secret_prev "
                             "secret_prev_until", id.access_key_id);
        prov_redis_tx_append(&ctx->redis, "SADD " PROV_K_IDX_KEYS " %s",
                             id.space, id.access_key_id);
        prov_redis_tx_append(&ctx->redis, "SET " PROV_K_KEYID " %s", id.id,
                             id.access_key_id);
        prov_redis_tx_append(&ctx->redis, "HSET %s %s x", "bench:baseline",
                             id.id);
        prov_redis_tx_append(&ctx->redis, "PUBLISH bench:baseline ak:%s",
                             id.access_key_id);

        if (prov_redis_tx_exec(&ctx->redis, err) != PROV_OK) {
            return PROV_ERR;
        }
    }

    ms = bench_ms() - t0;

    printf("{\"records\": %ld, \"ms\": %.1f, \"records_per_s\": %.0f}\n", n,
           ms, n / (ms / 1000.0));

    free(id.secret);

    /* the scratch keys go again (FLUSHDB is the driver's business) */
    r = prov_redis_cmd(&ctx->redis, err, "DEL bench:baseline");
    if (r) {
        freeReplyObject(r);
    }

    return PROV_OK;
}


int
main(int argc, char **argv)
{
    int               rc;
    long              secs;
    double            t0, c0, end;
    prov_rs_t         rs;
    prov_ctx_t        ctx;
    prov_err_t        err;
    prov_rs_result_t  res;

    if (argc < 3) {
        fprintf(stderr, "usage: %s CONFIG full|follow SECS|baseline N\n",
                argv[0]);
        return 2;
    }

    /* as provisioner/main.c: no glibc fastbins */
    (void) mallopt(M_MXFAST, 0);

    prov_log_level = PROV_LOG_WARN;
    memset(&err, 0, sizeof(err));

    if (prov_ctx_open(&ctx, argv[1], 0, &err) != PROV_OK) {
        fprintf(stderr, "prov_sync_bench: %s\n", err.msg);
        return 1;
    }

    /* the benchmark stub instead of a real storage driver */
    memset(&ctx.store, 0, sizeof(ctx.store));
    ctx.store.ops = &bench_stub_ops;
    ctx.store.cf = &ctx.cf;
    ctx.have_store = 1;

    rc = 1;

    if (strcmp(argv[2], "baseline") == 0 && argc == 4) {
        rc = bench_baseline(&ctx, atol(argv[3]), &err) == PROV_OK ? 0 : 1;
        goto done;
    }

    if (prov_rs_open(&rs, &ctx, &err) != PROV_OK) {
        goto done;
    }

    if (strcmp(argv[2], "full") == 0) {
        t0 = bench_ms();
        c0 = bench_cpu_ms();

        if (prov_rs_sync(&rs, 1, 0, &res, &err) == PROV_OK) {
            printf("{\"total_ms\": %.1f, \"cpu_ms\": %.1f, "
                   "\"fetch_ms\": %.1f, "
                   "\"prepare_ms\": %.1f, \"backend_ms\": %.1f, "
                   "\"redis_ms\": %.1f, \"spaces\": %zu, "
                   "\"identities\": %zu, \"revision\": %lld, "
                   "\"requests\": %u}\n",
                   bench_ms() - t0, bench_cpu_ms() - c0, res.fetch_ms,
                   res.prepare_ms,
                   res.backend_ms, res.redis_ms, res.spaces_written,
                   res.identities_written, (long long) res.revision,
                   rs.requests);
            rc = 0;
        }

    } else if (strcmp(argv[2], "follow") == 0 && argc == 4) {
        secs = atol(argv[3]);
        end = bench_ms() + secs * 1000.0;
        rc = 0;

        printf("following\n");
        fflush(stdout);

        while (bench_ms() < end) {
            if (prov_rs_sync(&rs, 0, 1, &res, &err) != PROV_OK) {
                rc = 1;
                break;
            }
        }
    }

    prov_rs_close(&rs);

done:

    if (rc != 0) {
        fprintf(stderr, "prov_sync_bench: %s\n", err.msg);
    }

    ctx.have_store = 0;
    prov_ctx_close(&ctx);

    return rc;
}

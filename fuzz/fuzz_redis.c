
/*
 * Copyright (C) objspace authors
 *
 * libFuzzer target: decoding of identity and space records read from
 * Redis, as a worker does it: the bytes of the command connection go
 * through hiredis' protocol parser (redisReader, fed in pieces), each
 * reply to the identity EVAL ([] or [identity HGETALL, space HGETALL]) is
 * flattened by ngx_http_objspace_redis_fields() and validated by
 * ngx_http_objspace_parse_ident() / _parse_space() (docs/redis-schema.md).
 *
 * Input: byte 0 seeds the split into pieces; the rest is RESP.  Checks,
 * besides memory safety: at most NGX_HTTP_OBJSPACE_REDIS_MAX_FIELDS fields
 * per record, every field points inside its reply; an accepted record has
 * schema version "1", its required fields and every field within the
 * sizes the shared-memory node is laid out for.
 *
 * The two files are included whole; what they call from nginx's event
 * loop, pools and shared memory is never reached from here and stays
 * unresolved at link time (-no-pie, --unresolved-symbols=ignore-all: a call
 * would crash, loudly).  ngx_atoof / ngx_atotm come from nginx's own
 * ngx_string.c (the source package; fuzz/hardening.mk).
 */


#include FUZZ_NGX_STRING_C        /* nginx's src/core/ngx_string.c */

#include "ngx_http_objspace_cache.c"
#include "ngx_http_objspace_redis_fetch.c"

#include <stdlib.h>

#include "fuzz_resp.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void fuzz_redis_reply(redisReply *reply);
static void fuzz_redis_check_kv(ngx_http_objspace_kv_t *kv, ngx_uint_t n,
    redisReply *rec);
static int fuzz_redis_inside(ngx_str_t *s, redisReply *rec);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_resp_feed(data, size, fuzz_redis_reply);

    return 0;
}


/* what ngx_http_objspace_redis_eval_reply() does before the store */

static void
fuzz_redis_reply(redisReply *reply)
{
    char                           *bad;
    ngx_uint_t                      ni, ns, i;
    ngx_http_objspace_kv_t          ikv[NGX_HTTP_OBJSPACE_REDIS_MAX_FIELDS];
    ngx_http_objspace_kv_t          skv[NGX_HTTP_OBJSPACE_REDIS_MAX_FIELDS];
    ngx_http_objspace_space_rec_t   srec;
    ngx_http_objspace_ident_rec_t   irec;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        return;
    }

    ni = ngx_http_objspace_redis_fields(reply->element[0], ikv);
    ns = ngx_http_objspace_redis_fields(reply->element[1], skv);

    if (ni > NGX_HTTP_OBJSPACE_REDIS_MAX_FIELDS
        || ns > NGX_HTTP_OBJSPACE_REDIS_MAX_FIELDS)
    {
        abort();
    }

    fuzz_redis_check_kv(ikv, ni, reply->element[0]);
    fuzz_redis_check_kv(skv, ns, reply->element[1]);

    bad = ngx_http_objspace_parse_ident(ikv, ni, &irec);

    if (bad == NULL) {
        if (irec.v.len != 1 || irec.v.data[0] != '1'
            || irec.str[NGX_HTTP_OBJSPACE_I_ID].len == 0
            || irec.str[NGX_HTTP_OBJSPACE_I_ID].len > NGX_HTTP_OBJSPACE_ID_LEN
            || irec.str[NGX_HTTP_OBJSPACE_I_SPACE].len == 0
            || irec.str[NGX_HTTP_OBJSPACE_I_SPACE].len
               > NGX_HTTP_OBJSPACE_ID_LEN
            || irec.str[NGX_HTTP_OBJSPACE_I_PREFIX].len
               > NGX_HTTP_OBJSPACE_MAX_PREFIX_LEN
            || irec.str[NGX_HTTP_OBJSPACE_I_SECRET].len == 0
            || irec.str[NGX_HTTP_OBJSPACE_I_SECRET].len
               > NGX_HTTP_OBJSPACE_MAX_SEALED_LEN
            || irec.str[NGX_HTTP_OBJSPACE_I_PREV].len
               > NGX_HTTP_OBJSPACE_MAX_SEALED_LEN
            || irec.mode.len == 0 || irec.status.len == 0)
        {
            abort();
        }

        for (i = 0; i < NGX_HTTP_OBJSPACE_I_N; i++) {
            /* the node keeps lengths in u_short */
            if (irec.str[i].len > 0xffff) {
                abort();
            }
        }
    }

    bad = ngx_http_objspace_parse_space(skv, ns, &srec);

    if (bad == NULL) {
        if (srec.v.len != 1 || srec.v.data[0] != '1'
            || srec.str[NGX_HTTP_OBJSPACE_S_ID].len == 0
            || srec.str[NGX_HTTP_OBJSPACE_S_ID].len > NGX_HTTP_OBJSPACE_ID_LEN
            || srec.str[NGX_HTTP_OBJSPACE_S_BUCKET].len == 0
            || srec.str[NGX_HTTP_OBJSPACE_S_BUCKET].len
               > NGX_HTTP_OBJSPACE_MAX_NAME_LEN
            || srec.str[NGX_HTTP_OBJSPACE_S_BACKEND_AK].len == 0
            || srec.str[NGX_HTTP_OBJSPACE_S_BACKEND_AK].len
               > NGX_HTTP_OBJSPACE_MAX_AK_LEN
            || srec.str[NGX_HTTP_OBJSPACE_S_SECRET].len == 0
            || srec.str[NGX_HTTP_OBJSPACE_S_SECRET].len
               > NGX_HTTP_OBJSPACE_MAX_SEALED_LEN
            || srec.status.len == 0
            || (srec.quota.len
                && ngx_atoof(srec.quota.data, srec.quota.len) < 0))
        {
            abort();
        }
    }
}


static void
fuzz_redis_check_kv(ngx_http_objspace_kv_t *kv, ngx_uint_t n,
    redisReply *rec)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (!fuzz_redis_inside(&kv[i].key, rec)
            || !fuzz_redis_inside(&kv[i].value, rec))
        {
            abort();
        }
    }
}


/* s is exactly one string element of rec */

static int
fuzz_redis_inside(ngx_str_t *s, redisReply *rec)
{
    size_t  i;

    for (i = 0; i < rec->elements; i++) {
        if ((u_char *) rec->element[i]->str == s->data
            && rec->element[i]->len == s->len
            && rec->element[i]->type == REDIS_REPLY_STRING)
        {
            return 1;
        }
    }

    return 0;
}

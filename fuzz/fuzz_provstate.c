
/*
 * Copyright (C) objspace authors
 *
 * libFuzzer target: the provisioner reading its own records back from
 * Redis (provisioner/prov_state.c): HGETALL replies of objspace:space:ID
 * and objspace:key:AK go through hiredis' protocol parser (fed in pieces),
 * then prov_space_parse() / prov_ident_parse(); an accepted identity's
 * mode is checked with prov_valid_mode() as the CLI does.
 *
 * Input: byte 0 seeds the split into pieces; the rest is RESP.  Checks,
 * besides memory safety and leaks: an accepted record has schema version
 * "1", its strings are NUL-terminated inside their fixed buffers and its
 * secrets are copies (freed by prov_*_free); a refused one says why.
 */


#include "../provisioner/prov_state.c"

#include <stdlib.h>

#include "fuzz_resp.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void fuzz_provstate_reply(redisReply *h);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_resp_feed(data, size, fuzz_provstate_reply);

    return 0;
}


static void
fuzz_provstate_reply(redisReply *h)
{
    prov_err_t     err;
    prov_space_t   sp;
    prov_ident_t   id;

    memset(&err, 0, sizeof(err));

    if (prov_space_parse(h, &sp, &err) == PROV_OK) {
        if (strcmp(prov_redis_field(h, "v"), PROV_SCHEMA_V) != 0
            || memchr(sp.id, '\0', sizeof(sp.id)) == NULL
            || memchr(sp.bucket, '\0', sizeof(sp.bucket)) == NULL
            || memchr(sp.backend_ak, '\0', sizeof(sp.backend_ak)) == NULL
            || sp.backend_secret == NULL
            || sp.backend_secret == prov_redis_field(h, "backend_secret"))
        {
            abort();
        }

        prov_space_free(&sp);

    } else if (err.msg[0] == '\0') {
        abort();
    }

    memset(&err, 0, sizeof(err));

    if (prov_ident_parse(h, &id, &err) == PROV_OK) {
        if (strcmp(prov_redis_field(h, "v"), PROV_SCHEMA_V) != 0
            || memchr(id.id, '\0', sizeof(id.id)) == NULL
            || memchr(id.prefix, '\0', sizeof(id.prefix)) == NULL
            || id.secret == NULL
            || (prov_redis_field(h, "secret_prev") != NULL
                && id.secret_prev == NULL))
        {
            abort();
        }

        (void) prov_valid_mode(id.mode);

        prov_ident_free(&id);

    } else if (err.msg[0] == '\0') {
        abort();
    }
}

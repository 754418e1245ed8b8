
/*
 * Copyright (C) objspace authors
 *
 * libFuzzer target: the provisioner's reading of RustShare API bodies
 * (provisioner/prov_rustshare.c, docs/rustshare-api.md).  The input is one
 * snapshot page as the HTTP body; it goes the way prov_rs_fetch_snapshot()
 * takes a page: prov_rs_parse() (JSON object, duplicate keys refused),
 * prov_rs_collect() of "spaces" and "identities" by id, the data keys
 * (prov_rs_collect_keys), then every collected object through
 * prov_rs_space_parse() / prov_rs_ident_parse() as prov_rs_prepare() does.
 *
 * Checks, besides memory safety and leaks (each JSON root freed once): an
 * accepted space has an sp_ id and a bucket name made by bucket_pattern;
 * an accepted identity a key_ id, an sp_ space, a secret envelope object
 * and a previous one only with its validity time; a refusal says why.
 */


#include "../provisioner/prov_rustshare.c"

#include <stdlib.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static prov_ctx_t  fuzz_ctx;
static prov_rs_t   fuzz_rs;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t          *root, *spaces, *idents, *keys, *o, *sec, *prev;
    int64_t          prev_until;
    const char      *k;
    prov_err_t       err;
    prov_space_t     sp;
    prov_ident_t     id;
    prov_rs_resp_t   resp;

    if (fuzz_rs.ctx == NULL) {
        fuzz_ctx.cf.bucket_pattern = "rs-{tenant}-{name}";
        fuzz_rs.ctx = &fuzz_ctx;
    }

    memset(&resp, 0, sizeof(resp));
    memset(&err, 0, sizeof(err));
    resp.body.data = (char *) data;
    resp.body.len = size;

    root = prov_rs_parse(&resp, "snapshot page 1", &err);
    if (root == NULL) {
        if (err.msg[0] == '\0') {
            abort();
        }

        return 0;
    }

    spaces = json_object();
    idents = json_object();
    keys = json_object();

    if (spaces == NULL || idents == NULL || keys == NULL) {
        abort();
    }

    if (prov_rs_collect(spaces, json_object_get(root, "spaces"), "spaces",
                        &err) != PROV_OK
        || prov_rs_collect(idents, json_object_get(root, "identities"),
                           "identities", &err) != PROV_OK
        || prov_rs_collect_keys(keys, root, &err) != PROV_OK)
    {
        if (err.msg[0] == '\0') {
            abort();
        }

        goto done;
    }

    json_object_foreach(spaces, k, o) {
        memset(&err, 0, sizeof(err));

        if (prov_rs_space_parse(&fuzz_rs, o, &sp, &err) == PROV_OK) {
            if (strncmp(sp.id, "sp_", 3) != 0
                || strncmp(sp.bucket, "rs-", 3) != 0
                || strlen(sp.bucket) > 63)
            {
                abort();
            }

            prov_space_free(&sp);

        } else if (err.msg[0] == '\0') {
            abort();
        }
    }

    json_object_foreach(idents, k, o) {
        memset(&err, 0, sizeof(err));
        sec = NULL;
        prev = NULL;

        if (prov_rs_ident_parse(o, &id, &sec, &prev, &prev_until, &err)
            == PROV_OK)
        {
            if (strncmp(id.id, "key_", 4) != 0
                || strncmp(id.space, "sp_", 3) != 0
                || !json_is_object(sec)
                || (prev != NULL && (!json_is_object(prev)
                                     || prev_until == 0)))
            {
                abort();
            }

            prov_ident_free(&id);

        } else if (err.msg[0] == '\0') {
            abort();
        }
    }

done:

    json_decref(spaces);
    json_decref(idents);
    json_decref(keys);
    json_decref(root);

    return 0;
}

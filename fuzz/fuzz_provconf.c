
/*
 * Copyright (C) objspace authors
 *
 * libFuzzer target: the provisioner's configuration parsing
 * (provisioner/prov_config.c): the main "key = value" file, the storage
 * credentials file it may name, and the bucket-name pattern expansion.
 *
 * Input: "CONFIG\0CREDENTIALS\0TENANT\0NAME" (missing parts are empty).
 * The credentials part is written to FUZZ_PROVCONF_CRED, the path the
 * seed configs name in "storage_credentials_file".  Checks, besides
 * memory safety and leaks (ASan's leak check runs at exit): a loaded
 * config has its defaults (redis host, key file, region, storage, bucket
 * pattern) and a refused one says why; an expanded bucket name follows
 * the S3 rules the function promises (3-63 of [a-z0-9.-], alphanumeric at
 * both ends, no "..").
 */


#include "../provisioner/prov_config.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define FUZZ_PROVCONF_CRED  "/dev/shm/objspace-fuzz-provconf.cred"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static const uint8_t *fuzz_part(const uint8_t **p, const uint8_t *last,
    size_t *len);
static char *fuzz_dup(const uint8_t *p, size_t len);
static void fuzz_write(const char *path, const uint8_t *p, size_t len);
static void fuzz_check_bucket(const char *b);


static char  fuzz_conf_path[64];


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int              rc;
    char            *tenant, *name, out[64];
    size_t           clen, klen, tlen, nlen;
    prov_err_t       err;
    const uint8_t   *p, *last, *conf, *cred, *t, *n;
    prov_config_t    cf;

    if (fuzz_conf_path[0] == '\0') {
        snprintf(fuzz_conf_path, sizeof(fuzz_conf_path),
                 "/dev/shm/objspace-fuzz-provconf.%d.conf", (int) getpid());
    }

    p = data;
    last = data + size;

    conf = fuzz_part(&p, last, &clen);
    cred = fuzz_part(&p, last, &klen);
    t = fuzz_part(&p, last, &tlen);
    n = fuzz_part(&p, last, &nlen);

    fuzz_write(fuzz_conf_path, conf, clen);
    fuzz_write(FUZZ_PROVCONF_CRED, cred, klen);

    memset(&cf, 0, sizeof(cf));
    memset(&err, 0, sizeof(err));

    rc = prov_config_load(&cf, fuzz_conf_path, &err);

    if (rc == PROV_OK) {
        if (cf.redis_host == NULL || cf.key_file == NULL
            || cf.region == NULL || cf.storage == NULL
            || cf.bucket_pattern == NULL)
        {
            abort();
        }

        tenant = fuzz_dup(t, tlen);
        name = fuzz_dup(n, nlen);

        if (prov_config_bucket(&cf, tenant, name, "sp_0123456789abcdef",
                               out, sizeof(out), &err)
            == PROV_OK)
        {
            fuzz_check_bucket(out);
        }

        free(tenant);
        free(name);

    } else if (rc != PROV_ERR || err.msg[0] == '\0') {
        abort();
    }

    prov_config_free(&cf);

    return 0;
}


/* the next NUL-terminated part of the input (the last one runs to end) */

static const uint8_t *
fuzz_part(const uint8_t **p, const uint8_t *last, size_t *len)
{
    const uint8_t  *start, *nul;

    start = *p;
    nul = memchr(start, '\0', last - start);

    if (nul == NULL) {
        *len = last - start;
        *p = last;

    } else {
        *len = nul - start;
        *p = nul + 1;
    }

    return start;
}


static char *
fuzz_dup(const uint8_t *p, size_t len)
{
    char  *s;

    s = malloc(len + 1);
    if (s == NULL) {
        abort();
    }

    memcpy(s, p, len);
    s[len] = '\0';

    return s;
}


static void
fuzz_write(const char *path, const uint8_t *p, size_t len)
{
    FILE  *f;

    f = fopen(path, "w");
    if (f == NULL || (len && fwrite(p, 1, len, f) != len) || fclose(f)) {
        abort();
    }
}


static void
fuzz_check_bucket(const char *b)
{
    size_t  n, i;

    n = strlen(b);

    if (n < 3 || n > 63 || strstr(b, "..") != NULL) {
        abort();
    }

    for (i = 0; i < n; i++) {
        if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9')
              || ((b[i] == '.' || b[i] == '-') && i != 0 && i != n - 1)))
        {
            abort();
        }
    }
}

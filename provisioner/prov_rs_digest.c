
/*
 * objspace-provisioner: the managed digest of a RustShare object (part of
 * applying a change set, prov_rs_apply.c): SHA-256 over the object's
 * canonical JSON, written straight into the hash through a small buffer.
 */

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "prov_rs_apply.h"


static int prov_rs_hash_cb(const char *p, size_t n, void *data);
static int prov_rs_canon_str(prov_rs_hash_t *h, const char *s, size_t len);
static int prov_rs_canon(prov_rs_hash_t *h, json_t *v, int depth);



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

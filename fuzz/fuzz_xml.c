
/*
 * Copyright (C) objspace authors
 *
 * libFuzzer target: the multi-object delete body parser
 * (ngx_http_objspace_xml.c, expat).  Input: byte 0 seeds how the rest is
 * split into pieces (each an exact-size heap copy, as the body arrives in
 * buffers), byte 1 picks the key callback (accept all, or refuse the Nth
 * key); the rest is the body.  Checks, besides memory safety:
 *   - the result does not depend on how the body is split (the same body
 *     in one piece gives the same result and the same keys);
 *   - at most 1000 keys reach the callback, each at most 1024 bytes or
 *     exactly one byte longer (the marker of an over-long key, which the
 *     module's callback refuses), never a key with an element inside;
 *   - OK means at least one key, every key seen, no refusal;
 *   - REFUSED only when the callback refused, with its value.
 */


#include "ngx_http_objspace_xml.c"

#include <stdlib.h>
#include <string.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


typedef struct {
    ngx_uint_t   refuse_at;      /* 0: accept every key */
    ngx_uint_t   refused;        /* which key was refused, 0: none */
    ngx_uint_t   n;
    uint32_t     hash;           /* of the keys seen, in order */
} fuzz_xml_keys_t;


static ngx_uint_t fuzz_xml_key(void *data, ngx_str_t *key);
static ngx_int_t fuzz_xml_run(const u_char *body, size_t len, uint8_t seed,
    ngx_uint_t refuse_at, fuzz_xml_keys_t *seen, ngx_uint_t *nkeys);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t         rc1, rc2;
    ngx_uint_t        refuse_at, n1, n2;
    fuzz_xml_keys_t   k1, k2;

    if (size < 2) {
        return 0;
    }

    refuse_at = data[1] & 0x0f;    /* 0 = accept all; else refuse the Nth */

    rc1 = fuzz_xml_run(data + 2, size - 2, data[0], refuse_at, &k1, &n1);
    rc2 = fuzz_xml_run(data + 2, size - 2, 0, refuse_at, &k2, &n2);

    if (rc1 != rc2 || k1.n != k2.n || k1.hash != k2.hash || n1 != n2) {
        abort();
    }

    if (k1.n > NGX_HTTP_OBJSPACE_MAX_DELETE_KEYS
        || (rc1 != NGX_HTTP_OBJSPACE_XML_REFUSED && k1.refused))
    {
        abort();
    }

    switch (rc1) {

    case NGX_HTTP_OBJSPACE_XML_OK:
        if (k1.n == 0 || n1 != k1.n) {
            abort();
        }
        break;

    case NGX_HTTP_OBJSPACE_XML_REFUSED:
        if (k1.refused == 0 || k1.refused != k1.n) {
            abort();
        }
        break;

    case NGX_HTTP_OBJSPACE_XML_TOO_MANY:
        if (n1 != NGX_HTTP_OBJSPACE_MAX_DELETE_KEYS + 1) {
            abort();
        }
        break;

    case NGX_HTTP_OBJSPACE_XML_MALFORMED:
        break;

    default:
        abort();
    }

    return 0;
}


/* parses body in pieces chosen by seed (0: one piece) */

static ngx_int_t
fuzz_xml_run(const u_char *body, size_t len, uint8_t seed,
    ngx_uint_t refuse_at, fuzz_xml_keys_t *seen, ngx_uint_t *nkeys)
{
    u_char                   *piece;
    size_t                    off, n;
    uint32_t                  rnd;
    ngx_int_t                 rc;
    ngx_http_objspace_xml_t  *x;

    ngx_memzero(seen, sizeof(fuzz_xml_keys_t));
    seen->refuse_at = refuse_at;
    seen->hash = 2166136261u;

    x = ngx_http_objspace_xml_create(fuzz_xml_key, seen);
    if (x == NULL) {
        abort();
    }

    rnd = seed * 2654435761u + 1;
    off = 0;
    rc = NGX_HTTP_OBJSPACE_XML_OK;

    do {
        if (seed == 0) {
            n = len;

        } else {
            rnd = rnd * 1103515245u + 12345;
            n = 1 + (rnd >> 16) % 97;
            if (n > len - off) {
                n = len - off;
            }
        }

        piece = malloc(n ? n : 1);
        if (piece == NULL) {
            abort();
        }

        ngx_memcpy(piece, body + off, n);
        off += n;

        rc = ngx_http_objspace_xml_feed(x, piece, n, off == len);

        free(piece);

    } while (off < len && rc == NGX_HTTP_OBJSPACE_XML_OK);

    if (rc == NGX_HTTP_OBJSPACE_XML_REFUSED
        && ngx_http_objspace_xml_refusal(x) != 7)
    {
        abort();
    }

    *nkeys = ngx_http_objspace_xml_keys(x);

    ngx_http_objspace_xml_free(x);

    return rc;
}


static ngx_uint_t
fuzz_xml_key(void *data, ngx_str_t *key)
{
    size_t            i;
    fuzz_xml_keys_t  *seen = data;

    if (key->len > NGX_HTTP_OBJSPACE_MAX_KEY_LEN + 1) {
        abort();
    }

    seen->n++;

    /* an over-long key's bytes are unspecified: only its length counts */

    for (i = 0; key->len <= NGX_HTTP_OBJSPACE_MAX_KEY_LEN && i < key->len; i++)
    {
        seen->hash = (seen->hash ^ key->data[i]) * 16777619u;
    }

    seen->hash = (seen->hash ^ 0x100) * 16777619u;

    /* the module's callback refuses over-long keys (check_key) */

    if (key->len == NGX_HTTP_OBJSPACE_MAX_KEY_LEN + 1
        || seen->n == seen->refuse_at)
    {
        if (seen->refused) {
            abort();    /* the parser went on after a refusal */
        }

        seen->refused = seen->n;
        return 7;
    }

    return 0;
}


/*
 * Copyright (C) objspace authors
 *
 * Unit tests of ngx_http_objspace_chunked.c: AWS's chunked-upload example
 * end to end (whole, 1 byte at a time, random splits), a signed-trailer
 * body and unsigned-trailer bodies (as boto3 sends them) whose signatures
 * and checksums were computed independently with Python (hmac, hashlib,
 * zlib), split at every byte boundary; tampering and framing errors.
 * Prints TAP.  Usage: chunked_test [examples.json]
 */


#include "ngx_http_objspace_sigv4.c"
#include "ngx_http_objspace_chunked.c"

#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>


#define T_JSON   "t/data/aws-s3-sigv4-examples.json"
#define T_DATE   "20130524T000000Z"
#define T_SCOPE  "20130524/us-east-1/s3/aws4_request"
#define T_SEED   "4f232c4386841ef735655705268965c4" \
                 "4a0e4690baa4adea153f7db9fa80a0a9"

/* Python: signed-trailer body, chunks 8192 x 'b' and "hello world" */
#define T_TS1    "40e8bcce031770b6f6a45bfaa9c71440" \
                 "70f9f1487f7efa9b4a14cfdd35d1971f"
#define T_TS2    "af3642c02b9e41a1c8d0b4b183dc2c9d" \
                 "ae920f3639a017f786d53a151d85e0e8"
#define T_TS0    "559ac09bdc0e182e65fa1ac65dc4fcd8" \
                 "b07f77b0791e0d202ee9b9400db8cf64"
#define T_TCK    "Xms9Qg=="
#define T_TSIG   "b392468fd45cca5a3069caabe0277ba5" \
                 "16766893783e17e009a241e23634b51c"


typedef struct {
    ngx_uint_t                  mode;
    const char                 *trailer;
    off_t                       expected;
    size_t                      max_chunk;
} t_cfg_t;


typedef struct {
    ngx_int_t                   rc;         /* last feed() result */
    ngx_uint_t                  error;
    u_char                     *out;
    size_t                      out_len;
    ngx_uint_t                  bad_slice;  /* a slice outside its input */
    ngx_uint_t                  bad_pos;    /* AGAIN/DONE with pos < last */
} t_res_t;


static void t_ok(int ok, const char *fmt, ...);
static int t_done(void);
static void t_decode(t_cfg_t *cfg, const u_char *body, size_t len,
    size_t step, unsigned seed, t_res_t *res);
static int t_good(t_res_t *res, const u_char *want, size_t want_len);
static int t_fails(t_res_t *res, ngx_uint_t err);
static u_char *t_aws_body(json_t *root, size_t *len);
static u_char *t_trailer_body(size_t *len, const char *cksum_line,
    const char *sig);
static u_char *t_unsigned_body(size_t *len, const char *name,
    const char *value, ngx_uint_t final_crlf);
static void t_aws_example(json_t *root);
static void t_signed_trailer(void);
static void t_unsigned_trailer(void);
static void t_init_errors(void);
static void t_checksums(void);
static u_char *t_memstr(u_char *hay, size_t len, const char *needle);


static int     t_n;
static int     t_failed;
static u_char  t_key[32];
static u_char  t_seed[32];
static u_char  t_data[17000];       /* "Hello, objspace!\n" x 1000 */


static void
t_ok(int ok, const char *fmt, ...)
{
    va_list  args;

    t_n++;

    if (!ok) {
        t_failed++;
    }

    printf("%sok %d - ", ok ? "" : "not ", t_n);
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    printf("\n");
}


static int
t_done(void)
{
    printf("1..%d\n", t_n);
    return t_failed ? 1 : 0;
}


static u_char *
t_memstr(u_char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle));
}


/*
 * Feeds body in pieces: step 0 whole, step N pieces of N bytes, and
 * step (size_t) -1 random pieces (1..300 bytes, from seed).  Each piece is
 * a fresh heap copy, freed after use, so a slice or state that pointed at
 * an earlier piece would show up (under ASan as well).
 */

static void
t_decode(t_cfg_t *cfg, const u_char *body, size_t len, size_t step,
    unsigned seed, t_res_t *res)
{
    u_char                       *piece, *pos, *last;
    size_t                        off, n;
    ngx_str_t                     date, scope, trailer, out;
    ngx_int_t                     rc;
    ngx_http_objspace_chunked_t   ch;

    memset(res, 0, sizeof(t_res_t));
    res->out = malloc(len + 1);

    date.data = (u_char *) T_DATE;
    date.len = sizeof(T_DATE) - 1;
    scope.data = (u_char *) T_SCOPE;
    scope.len = sizeof(T_SCOPE) - 1;
    trailer.data = (u_char *) cfg->trailer;
    trailer.len = strlen(cfg->trailer);

    rc = ngx_http_objspace_chunked_init(&ch, cfg->mode, &trailer,
                                        cfg->expected, cfg->max_chunk, t_key,
                                        &date, &scope, t_seed);
    if (rc != NGX_OK) {
        res->rc = rc;
        res->error = ch.error;
        return;
    }

    srand(seed);
    rc = NGX_AGAIN;

    for (off = 0; off < len; off += n) {
        if (step == 0) {
            n = len;

        } else if (step == (size_t) -1) {
            n = 1 + rand() % 300;

        } else {
            n = step;
        }

        n = ngx_min(n, len - off);

        piece = malloc(n);
        memcpy(piece, body + off, n);
        pos = piece;
        last = piece + n;

        for ( ;; ) {
            rc = ngx_http_objspace_chunked_feed(&ch, &pos, last, &out);

            if (rc == NGX_OK) {
                if (out.data < piece || out.data + out.len > last
                    || out.len == 0)
                {
                    res->bad_slice++;

                } else {
                    memcpy(res->out + res->out_len, out.data, out.len);
                    res->out_len += out.len;
                }

                continue;
            }

            if ((rc == NGX_AGAIN || rc == NGX_DONE) && pos != last) {
                res->bad_pos++;
            }

            break;
        }

        free(piece);

        if (rc == NGX_ERROR) {
            break;
        }
    }

    res->rc = rc;
    res->error = ch.error;

    ngx_http_objspace_chunked_wipe(&ch);
}


static int
t_good(t_res_t *res, const u_char *want, size_t want_len)
{
    int  ok;

    ok = res->rc == NGX_DONE && res->error == 0 && res->bad_slice == 0
         && res->bad_pos == 0 && res->out_len == want_len
         && memcmp(res->out, want, want_len) == 0;

    if (!ok) {
        printf("# rc %d error %d out %d (want %d) bad slice %d pos %d\n",
               (int) res->rc, (int) res->error, (int) res->out_len,
               (int) want_len, (int) res->bad_slice, (int) res->bad_pos);
    }

    free(res->out);
    res->out = NULL;

    return ok;
}


static int
t_fails(t_res_t *res, ngx_uint_t err)
{
    int  ok;

    ok = res->rc == NGX_ERROR && res->error == err && res->bad_slice == 0;

    if (!ok) {
        printf("# rc %d error %d (want error %d)\n", (int) res->rc,
               (int) res->error, (int) err);
    }

    free(res->out);
    res->out = NULL;

    return ok;
}


/* the AWS chunked-upload example: 64 KiB + 1 KiB of 'a', final chunk */

static u_char *
t_aws_body(json_t *root, size_t *len)
{
    u_char      *body, *p;
    size_t       i, n;
    json_t      *chunk;
    const char  *sig;

    body = malloc(70000);
    p = body;

    json_array_foreach(json_object_get(json_object_get(root,
                                                       "chunked_upload"),
                                       "chunks"), i, chunk)
    {
        n = (i == 0) ? 65536 : (i == 1) ? 1024 : 0;
        sig = json_string_value(json_object_get(chunk, "signature"));
        p += sprintf((char *) p, "%x;chunk-signature=%s\r\n", (unsigned) n,
                     sig);
        memset(p, 'a', n);
        p += n;
        p = (u_char *) memcpy(p, "\r\n", 2) + 2;
    }

    *len = p - body;

    return body;
}


static void
t_aws_example(json_t *root)
{
    u_char   *body, *want, *p;
    size_t    len;
    t_cfg_t   cfg;
    t_res_t   res;
    unsigned  seed;

    body = t_aws_body(root, &len);
    want = malloc(66560);
    memset(want, 'a', 66560);

    t_ok(len == 66824, "aws example: body is 66824 bytes (Content-Length)");

    cfg.mode = NGX_HTTP_OBJSPACE_CHUNKED_SIGNED;
    cfg.trailer = "";
    cfg.expected = 66560;
    cfg.max_chunk = 65536;

    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_good(&res, want, 66560), "aws example: whole body -> DONE, data");

    t_decode(&cfg, body, len, 1, 0, &res);
    t_ok(t_good(&res, want, 66560), "aws example: 1 byte at a time");

    for (seed = 1; seed <= 20; seed++) {
        t_decode(&cfg, body, len, (size_t) -1, seed, &res);
        t_ok(t_good(&res, want, 66560), "aws example: random split %u", seed);
    }

    t_decode(&cfg, body, len - 2, 0, 0, &res);
    t_ok(t_good(&res, want, 66560),
         "aws example: final CRLF absent -> DONE");

    t_decode(&cfg, body, len - 1, 0, 0, &res);
    t_ok(t_good(&res, want, 66560),
         "aws example: lone CR after the final chunk -> DONE");

    cfg.expected = -1;
    t_decode(&cfg, body, len, 7, 0, &res);
    t_ok(t_good(&res, want, 66560), "aws example: expected length unknown");
    cfg.expected = 66560;

    t_decode(&cfg, body, len - 100, 0, 0, &res);
    t_ok(res.rc == NGX_AGAIN && res.error == 0, "aws example: truncated body "
         "-> AGAIN, never DONE");
    free(res.out);

    t_decode(&cfg, body, 66824 - 86, 0, 0, &res);
    t_ok(res.rc == NGX_AGAIN,
         "aws example: body without final chunk -> AGAIN");
    free(res.out);

    /* tampering */

    body[1000] = 'b';
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SIGNATURE),
         "aws example: tampered byte in chunk 1 -> SIGNATURE");
    body[1000] = 'a';

    body[len - 200] = 'b';
    t_decode(&cfg, body, len, 3, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SIGNATURE),
         "aws example: tampered byte in chunk 2 -> SIGNATURE");
    body[len - 200] = 'a';

    p = t_memstr(body, len, "ad80c730");
    p[0] = 'b';
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SIGNATURE),
         "aws example: tampered chunk signature -> SIGNATURE");
    p[0] = 'a';

    p = t_memstr(body, len, "b6c6ea8a");
    p[0] = 'c';
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SIGNATURE),
         "aws example: tampered final chunk signature -> SIGNATURE");
    p[0] = 'b';

    t_seed[0] ^= 1;
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SIGNATURE),
         "aws example: other seed signature -> SIGNATURE");
    t_seed[0] ^= 1;

    cfg.expected = 66559;
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_LENGTH),
         "aws example: more data than expected -> LENGTH");

    cfg.expected = 66561;
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_LENGTH),
         "aws example: less data than expected -> LENGTH");
    cfg.expected = 66560;

    cfg.max_chunk = 65535;
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_TOO_LARGE),
         "aws example: chunk over max_chunk -> TOO_LARGE");
    cfg.max_chunk = 0;
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_good(&res, want, 66560), "aws example: max_chunk 0 is no limit");
    cfg.max_chunk = 65536;

    p = body + 88 + 65536;
    *p = '\n';
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX),
         "aws example: no CRLF after chunk data -> SYNTAX");
    *p = '\r';

    p = body + 86;
    *p = ' ';
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX),
         "aws example: bare LF ending a chunk header -> SYNTAX");
    *p = '\r';

    p = t_memstr(body, len, ";chunk-signature=");
    p[1] = 'C';
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX),
         "aws example: misspelt chunk-signature -> SYNTAX");
    p[1] = 'c';

    body[0] = 'g';
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX),
         "aws example: non-hex size -> SYNTAX");
    body[0] = '1';

    memcpy(body + len, "x", 1);
    t_decode(&cfg, body, len + 1, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX),
         "aws example: byte after the end -> SYNTAX");

    cfg.mode = NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER;
    cfg.trailer = "x-amz-checksum-crc32";
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX),
         "aws example: chunk-signature in the unsigned mode -> SYNTAX");

    {
        u_char  big[600];

        cfg.mode = NGX_HTTP_OBJSPACE_CHUNKED_SIGNED;
        cfg.trailer = "";
        memset(big, '0', sizeof(big));
        t_decode(&cfg, big, sizeof(big), 0, 0, &res);
        t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX),
             "header line over 256 bytes -> SYNTAX");

        memcpy(big, "fffffffffffffffff\r\n", 19);
        t_decode(&cfg, big, 19, 0, 0, &res);
        t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_TOO_LARGE),
             "size overflowing size_t -> TOO_LARGE");
    }

    free(body);
    free(want);
}


/* the Python-made signed-trailer body (crc32c trailer) */

static u_char *
t_trailer_body(size_t *len, const char *cksum_line, const char *sig)
{
    u_char  *body, *p;

    body = malloc(9000);
    p = body;

    p += sprintf((char *) p, "2000;chunk-signature=" T_TS1 "\r\n");
    memset(p, 'b', 8192);
    p += 8192;
    p += sprintf((char *) p, "\r\nb;chunk-signature=" T_TS2 "\r\n"
                 "hello world\r\n0;chunk-signature=" T_TS0 "\r\n"
                 "%s\r\nx-amz-trailer-signature:%s\r\n\r\n", cksum_line, sig);

    *len = p - body;

    return body;
}


static void
t_signed_trailer(void)
{
    u_char     *body, want[8203], hash[32], sig[32], hex[65];
    size_t      len, k, bad;
    t_cfg_t     cfg;
    t_res_t     res;
    ngx_str_t   date, scope;
    const char  *line;

    memset(want, 'b', 8192);
    memcpy(want + 8192, "hello world", 11);

    cfg.mode = NGX_HTTP_OBJSPACE_CHUNKED_SIGNED_TRAILER;
    cfg.trailer = "x-amz-checksum-crc32c";
    cfg.expected = 8203;
    cfg.max_chunk = 1 << 20;

    body = t_trailer_body(&len, "x-amz-checksum-crc32c:" T_TCK, T_TSIG);

    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_good(&res, want, sizeof(want)),
         "signed trailer: Python-made body -> DONE");

    t_decode(&cfg, body, len, 1, 0, &res);
    t_ok(t_good(&res, want, sizeof(want)), "signed trailer: 1 byte at a time");

    for (bad = 0, k = 1; k < len; k++) {
        t_decode(&cfg, body, len, k, 0, &res);
        bad += !t_good(&res, want, sizeof(want));
    }

    t_ok(bad == 0, "signed trailer: every piece size 1..%d", (int) len - 1);

    t_decode(&cfg, body, len - 2, 0, 0, &res);
    t_ok(t_good(&res, want, sizeof(want)),
         "signed trailer: final CRLF absent -> DONE");

    t_decode(&cfg, body, len - 4, 0, 0, &res);
    t_ok(res.rc == NGX_AGAIN, "signed trailer: trailer signature cut -> AGAIN");
    free(res.out);

    free(body);

    body = t_trailer_body(&len, "x-amz-checksum-crc32c:" T_TCK,
                          "c392468fd45cca5a3069caabe0277ba516766893783e17e0"
                          "09a241e23634b51c");
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SIGNATURE),
         "signed trailer: tampered trailer signature -> SIGNATURE");
    free(body);

    body = t_trailer_body(&len, "x-amz-checksum-crc32c:Yms9Qg==", T_TSIG);
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_CHECKSUM),
         "signed trailer: tampered checksum -> CHECKSUM");
    free(body);

    /* a wrong checksum the client signed itself is still BadDigest */

    line = "x-amz-checksum-crc32c:AAAAAA==\n";
    SHA256((u_char *) line, strlen(line), hash);
    date.data = (u_char *) T_DATE;
    date.len = 16;
    scope.data = (u_char *) T_SCOPE;
    scope.len = sizeof(T_SCOPE) - 1;
    ngx_http_objspace_sigv4_unhex(sig, (u_char *) T_TS0, 64);
    ngx_http_objspace_sigv4_trailer_sign(t_key, &date, &scope, sig, hash, sig);
    *ngx_http_objspace_sigv4_hex(hex, sig, 32) = '\0';

    body = t_trailer_body(&len, "x-amz-checksum-crc32c:AAAAAA==",
                          (char *) hex);
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_CHECKSUM),
         "signed trailer: wrong checksum, validly signed -> CHECKSUM");
    free(body);

    body = t_trailer_body(&len, "x-amz-checksum-crc32:" T_TCK, T_TSIG);
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER),
         "signed trailer: other checksum than x-amz-trailer -> TRAILER");
    free(body);

    body = t_trailer_body(&len, "x-amz-checksum-crc32c:" T_TCK, T_TSIG);
    memcpy(t_memstr(body, len, "x-amz-trailer-signature:"),
           "x-amz-trailer-signaturX:", 24);
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER),
         "signed trailer: no trailer signature line -> TRAILER");
    free(body);

    body = malloc(9000);
    len = sprintf((char *) body, "0;chunk-signature=%s\r\n\r\n", T_TS0);
    cfg.expected = -1;
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SIGNATURE)
         || t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER),
         "signed trailer: chunks dropped -> error");
    free(body);
}


/* boto3: hexsize CRLF data CRLF ... 0 CRLF name:value CRLF CRLF */

static u_char *
t_unsigned_body(size_t *len, const char *name, const char *value,
    ngx_uint_t final_crlf)
{
    u_char  *body, *p;

    body = malloc(sizeof(t_data) + 4200);
    p = body;

    p += sprintf((char *) p, "2000\r\n");
    p = (u_char *) memcpy(p, t_data, 8192) + 8192;
    p += sprintf((char *) p, "\r\n2000\r\n");
    p = (u_char *) memcpy(p, t_data + 8192, 8192) + 8192;
    p += sprintf((char *) p, "\r\n%x\r\n", (unsigned) (sizeof(t_data) - 16384));
    p = (u_char *) memcpy(p, t_data + 16384, sizeof(t_data) - 16384)
        + sizeof(t_data) - 16384;
    p += sprintf((char *) p, "\r\n0\r\n%s:%s\r\n%s", name, value,
                 final_crlf ? "\r\n" : "");

    *len = p - body;

    return body;
}


static void
t_unsigned_trailer(void)
{
    u_char      *body;
    size_t       len, k, bad, i;
    t_cfg_t      cfg;
    t_res_t      res;

    static const char  *algs[][2] = {
        { "x-amz-checksum-crc32", "UNMq8w==" },
        { "x-amz-checksum-crc32c", "lVbDeA==" },
        { "x-amz-checksum-sha1", "gwS9fl7aPSuTcvOHm2KIvpDMEDw=" },
        { "x-amz-checksum-sha256",
          "lgR9xIr4MRBQPbVsDDsoioPnctzyVG5rCuXCIsrzEpI=" },
        { "x-amz-checksum-crc64nvme", "ZOVtzjuCCdU=" }
    };

    cfg.mode = NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER;
    cfg.expected = sizeof(t_data);
    cfg.max_chunk = 8192;

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        cfg.trailer = algs[i][0];

        body = t_unsigned_body(&len, algs[i][0], algs[i][1], 1);
        t_decode(&cfg, body, len, 0, 0, &res);
        t_ok(t_good(&res, t_data, sizeof(t_data)),
             "unsigned trailer: %s -> DONE", algs[i][0]);

        t_decode(&cfg, body, len, 1, 0, &res);
        t_ok(t_good(&res, t_data, sizeof(t_data)),
             "unsigned trailer: %s, 1 byte at a time", algs[i][0]);

        t_decode(&cfg, body, len, (size_t) -1, (unsigned) i, &res);
        t_ok(t_good(&res, t_data, sizeof(t_data)),
             "unsigned trailer: %s, random split", algs[i][0]);

        body[len - 5] ^= 0x01;
        t_decode(&cfg, body, len, 0, 0, &res);
        t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_CHECKSUM),
             "unsigned trailer: %s, wrong value -> CHECKSUM", algs[i][0]);
        body[len - 5] ^= 0x01;

        body[100] ^= 0x01;
        t_decode(&cfg, body, len, 0, 0, &res);
        t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_CHECKSUM),
             "unsigned trailer: %s, tampered data -> CHECKSUM", algs[i][0]);
        body[100] ^= 0x01;

        free(body);
    }

    cfg.trailer = "x-amz-checksum-crc32";
    body = t_unsigned_body(&len, "x-amz-checksum-crc32", "UNMq8w==", 1);

    for (bad = 0, k = 1; k < len; k++) {
        t_decode(&cfg, body, len, k, 0, &res);
        bad += !t_good(&res, t_data, sizeof(t_data));
    }

    t_ok(bad == 0, "unsigned trailer: every piece size 1..%d", (int) len - 1);
    free(body);

    body = t_unsigned_body(&len, "x-amz-checksum-crc32", "UNMq8w==", 0);
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_good(&res, t_data, sizeof(t_data)),
         "unsigned trailer: final CRLF absent -> DONE");
    free(body);

    body = t_unsigned_body(&len, "X-Amz-Checksum-CRC32", " UNMq8w== ", 1);
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_good(&res, t_data, sizeof(t_data)),
         "unsigned trailer: name in any case, blanks around value");
    free(body);

    body = t_unsigned_body(&len, "x-amz-checksum-crc32c", "UNMq8w==", 1);
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER),
         "unsigned trailer: other checksum than announced -> TRAILER");
    free(body);

    body = t_unsigned_body(&len, "x-amz-checksum-crc32", "UNMq8w==\r\n"
                           "x-amz-checksum-crc32:UNMq8w==", 1);
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX),
         "unsigned trailer: second trailer line -> SYNTAX");
    free(body);

    body = t_unsigned_body(&len, "x-amz-checksum-crc32", "UNMq8w==", 1);
    memcpy(t_memstr(body, len, "x-amz-checksum-crc32:"), "\r\n", 2);
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER)
         || t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX),
         "unsigned trailer: empty trailer section -> error");
    free(body);

    {
        char  big[1500];

        memset(big, 'A', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        body = t_unsigned_body(&len, "x-amz-checksum-crc32", big, 1);
        t_decode(&cfg, body, len, 0, 0, &res);
        t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER),
             "unsigned trailer: trailer line over 1024 -> TRAILER");
        free(body);
    }

    body = malloc(64);
    len = sprintf((char *) body, "5\r\nhello\r\n0\r\n"
                  "x-amz-checksum-crc32:NhCmhg==\r\n\r\n");
    cfg.expected = 5;
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_good(&res, (u_char *) "hello", 5),
         "unsigned trailer: boto3 one-chunk body");

    cfg.max_chunk = 4;
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_TOO_LARGE),
         "unsigned trailer: chunk over max_chunk -> TOO_LARGE");
    cfg.max_chunk = 8192;

    body[1] = ';';
    t_decode(&cfg, body, len, 0, 0, &res);
    t_ok(t_fails(&res, NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX),
         "unsigned trailer: chunk extension -> SYNTAX");
    free(body);
}


static void
t_init_errors(void)
{
    ngx_int_t                     rc;
    ngx_str_t                     t, date, scope;
    ngx_http_objspace_chunked_t   ch;

    date.data = (u_char *) T_DATE;
    date.len = 16;
    scope.data = (u_char *) T_SCOPE;
    scope.len = sizeof(T_SCOPE) - 1;

    t.data = (u_char *) "x-amz-checksum-md5";
    t.len = strlen((char *) t.data);
    rc = ngx_http_objspace_chunked_init(&ch,
                              NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER, &t,
                              -1, 0, NULL, NULL, NULL, NULL);
    t_ok(rc == NGX_ERROR && ch.error == NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER,
         "init: unsupported trailer -> TRAILER");

    t.data = (u_char *) "x-amz-checksum-crc32,x-amz-checksum-sha1";
    t.len = strlen((char *) t.data);
    rc = ngx_http_objspace_chunked_init(&ch,
                              NGX_HTTP_OBJSPACE_CHUNKED_UNSIGNED_TRAILER, &t,
                              -1, 0, NULL, NULL, NULL, NULL);
    t_ok(rc == NGX_ERROR && ch.error == NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER,
         "init: two trailers -> TRAILER");

    t.len = 0;
    rc = ngx_http_objspace_chunked_init(&ch,
                              NGX_HTTP_OBJSPACE_CHUNKED_SIGNED_TRAILER, &t,
                              -1, 0, t_key, &date, &scope, t_seed);
    t_ok(rc == NGX_ERROR && ch.error == NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER,
         "init: trailer mode without x-amz-trailer -> TRAILER");

    t.data = (u_char *) " x-amz-checksum-sha256 ";
    t.len = strlen((char *) t.data);
    rc = ngx_http_objspace_chunked_init(&ch,
                              NGX_HTTP_OBJSPACE_CHUNKED_SIGNED, &t,
                              -1, 0, t_key, &date, &scope, t_seed);
    t_ok(rc == NGX_ERROR && ch.error == NGX_HTTP_OBJSPACE_CHUNKED_ERR_TRAILER,
         "init: trailer in the no-trailer mode -> TRAILER");

    rc = ngx_http_objspace_chunked_init(&ch,
                              NGX_HTTP_OBJSPACE_CHUNKED_SIGNED_TRAILER, &t,
                              -1, 0, t_key, &date, &scope, t_seed);
    t_ok(rc == NGX_OK && ch.cksum == NGX_HTTP_OBJSPACE_CKSUM_SHA256
         && ch.trailer_name.len == 21,
         "init: x-amz-trailer trimmed, sha256 selected");

    ngx_http_objspace_chunked_wipe(&ch);
    t_ok(ch.key[0] == 0 && memcmp(ch.key, ch.key + 1, 31) == 0
         && ch.prev[5] == 0, "wipe: key and chained signature zeroed");

    date.len = 15;
    rc = ngx_http_objspace_chunked_init(&ch,
                              NGX_HTTP_OBJSPACE_CHUNKED_SIGNED, NULL,
                              -1, 0, t_key, &date, &scope, t_seed);
    t_ok(rc == NGX_ERROR && ch.error == NGX_HTTP_OBJSPACE_CHUNKED_ERR_SYNTAX,
         "init: bad amz_date -> SYNTAX");

    rc = ngx_http_objspace_chunked_init(&ch, 7, NULL, -1, 0, t_key, &date,
                                        &scope, t_seed);
    t_ok(rc == NGX_ERROR, "init: unknown mode -> NGX_ERROR");
}


static void
t_checksums(void)
{
    u_char                          b64[NGX_HTTP_OBJSPACE_CKSUM_B64_LEN + 1];
    size_t                          i, n;
    ngx_str_t                       name, v;
    ngx_http_objspace_cksum_ctx_t   ctx;

    static const char  *check[][2] = {
        { "x-amz-checksum-crc32", "y/Q5Jg==" },          /* 0xcbf43926 */
        { "x-amz-checksum-crc32c", "4waSgw==" },         /* 0xe3069283 */
        { "x-amz-checksum-sha1", "98O8HYCOBHMq32eZZczDTKeuNEE=" },
        { "x-amz-checksum-sha256",
          "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=" },
        { "x-amz-checksum-crc64nvme", "rosUhgp5mIg=" }   /* 0xae8b14... */
    };

    for (i = 0; i < sizeof(check) / sizeof(check[0]); i++) {
        name.data = (u_char *) check[i][0];
        name.len = strlen(check[i][0]);

        ngx_http_objspace_cksum_init(ngx_http_objspace_cksum_by_name(&name),
                                     &ctx);
        ngx_http_objspace_cksum_update(ngx_http_objspace_cksum_by_name(&name),
                                       &ctx, (u_char *) "1234", 4);
        ngx_http_objspace_cksum_update(ngx_http_objspace_cksum_by_name(&name),
                                       &ctx, (u_char *) "56789", 5);
        n = ngx_http_objspace_cksum_final(
                           ngx_http_objspace_cksum_by_name(&name), &ctx, b64);

        t_ok(n == strlen(check[i][1]) && strcmp((char *) b64, check[i][1]) == 0,
             "cksum: %s(\"123456789\") = %s", check[i][0], b64);

        ngx_http_objspace_cksum_init(ngx_http_objspace_cksum_by_name(&name),
                                     &ctx);
        ngx_http_objspace_cksum_update(ngx_http_objspace_cksum_by_name(&name),
                                       &ctx, (u_char *) "123456789", 9);
        v.data = (u_char *) check[i][1];
        v.len = strlen(check[i][1]);
        t_ok(ngx_http_objspace_cksum_verify(
                 ngx_http_objspace_cksum_by_name(&name), &ctx, &v) == NGX_OK,
             "cksum: %s verify", check[i][0]);
    }

    t_ok(ngx_http_objspace_crc32c(0xffffffff, (u_char *) "123456789", 9)
         == (0xe3069283 ^ 0xffffffff), "crc32c check value 0xE3069283");

    name.data = (u_char *) "X-AMZ-CHECKSUM-SHA1";
    name.len = 19;
    t_ok(ngx_http_objspace_cksum_by_name(&name)
         == NGX_HTTP_OBJSPACE_CKSUM_SHA1, "cksum_by_name: any case");

    name.data = (u_char *) "x-amz-checksum-md5";
    name.len = 18;
    t_ok(ngx_http_objspace_cksum_by_name(&name)
         == NGX_HTTP_OBJSPACE_CKSUM_NONE, "cksum_by_name: unknown -> NONE");

    ngx_http_objspace_cksum_init(NGX_HTTP_OBJSPACE_CKSUM_CRC32, &ctx);
    v.data = (u_char *) "AAAAAA==";
    v.len = 8;
    t_ok(ngx_http_objspace_cksum_verify(NGX_HTTP_OBJSPACE_CKSUM_CRC32, &ctx,
                                        &v) == NGX_OK,
         "cksum: crc32 of nothing is AAAAAA==");
    ngx_http_objspace_cksum_init(NGX_HTTP_OBJSPACE_CKSUM_CRC32, &ctx);
    v.len = 7;
    t_ok(ngx_http_objspace_cksum_verify(NGX_HTTP_OBJSPACE_CKSUM_CRC32, &ctx,
                                        &v) == NGX_DECLINED,
         "cksum: truncated value -> DECLINED");
}


int
main(int argc, char **argv)
{
    size_t        i;
    json_t       *root;
    ngx_str_t     date, region, service;
    json_error_t  err;

    root = json_load_file(argc > 1 ? argv[1] : T_JSON, 0, &err);

    if (root == NULL) {
        printf("Bail out! %s: %s\n", argc > 1 ? argv[1] : T_JSON, err.text);
        return 1;
    }

    date.data = (u_char *) "20130524";
    date.len = 8;
    region.data = (u_char *) "us-east-1";
    region.len = 9;
    service.data = (u_char *) "s3";
    service.len = 2;

    ngx_http_objspace_sigv4_signing_key((u_char *)
                                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                    40, &date, &region, &service, t_key);
    ngx_http_objspace_sigv4_unhex(t_seed, (u_char *) T_SEED, 64);

    for (i = 0; i < 1000; i++) {
        memcpy(t_data + i * 17, "Hello, objspace!\n", 17);
    }

    t_aws_example(root);
    t_signed_trailer();
    t_unsigned_trailer();
    t_init_errors();
    t_checksums();

    json_decref(root);

    return t_done();
}

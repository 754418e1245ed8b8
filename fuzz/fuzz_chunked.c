
/*
 * Copyright (C) objspace authors
 *
 * libFuzzer target: the aws-chunked decoder in all three modes, with
 * trailers.  Input: byte 0 picks the mode, byte 1 the trailer checksum,
 * byte 2 seeds how the rest is split into pieces (each an exact-size heap
 * copy); the rest is the body.  Checks: slices lie inside the piece they
 * came from, NGX_AGAIN / NGX_DONE consume the whole piece, no output after
 * an error, decoded length never exceeds the expected one.
 *
 * Key: the AWS example signing key; seed: the AWS chunked example's seed
 * signature, so signed bodies in the corpus verify.
 */


#include "ngx_http_objspace_sigv4.c"
#include "ngx_http_objspace_chunked.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static const char  *fuzz_trailers[] = {
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
    "x-amz-checksum-crc64nvme"
};


static const u_char  fuzz_key[32] = {
    0xdb, 0xb8, 0x93, 0xac, 0xc0, 0x10, 0x96, 0x49,
    0x18, 0xf1, 0xfd, 0x43, 0x3a, 0xdd, 0x87, 0xc7,
    0x0e, 0x8b, 0x0d, 0xb6, 0xbe, 0x30, 0xc1, 0xfb,
    0xea, 0xfe, 0xfa, 0x5e, 0xc6, 0xba, 0x83, 0x78
};


static const u_char  fuzz_seed[32] = {
    0x4f, 0x23, 0x2c, 0x43, 0x86, 0x84, 0x1e, 0xf7,
    0x35, 0x65, 0x57, 0x05, 0x26, 0x89, 0x65, 0xc4,
    0x4a, 0x0e, 0x46, 0x90, 0xba, 0xa4, 0xad, 0xea,
    0x15, 0x3f, 0x7d, 0xb9, 0xfa, 0x80, 0xa0, 0xa9
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                       *piece, *pos, *last;
    size_t                        off, n;
    uint32_t                      rnd;
    ngx_int_t                     rc;
    ngx_str_t                     date, scope, trailer, out;
    ngx_uint_t                    mode, done;
    ngx_http_objspace_chunked_t   ch;

    if (size < 3) {
        return 0;
    }

    mode = data[0] % 3;
    trailer.data = (u_char *) fuzz_trailers[data[1] % 5];
    trailer.len = strlen((char *) trailer.data);
    rnd = data[2] | 0x100;

    date.data = (u_char *) "20130524T000000Z";
    date.len = 16;
    scope.data = (u_char *) "20130524/us-east-1/s3/aws4_request";
    scope.len = sizeof("20130524/us-east-1/s3/aws4_request") - 1;

    rc = ngx_http_objspace_chunked_init(&ch, mode,
                               mode == NGX_HTTP_OBJSPACE_CHUNKED_SIGNED
                               ? NULL : &trailer,
                               (data[1] & 0x80) ? -1 : 4096,
                               (data[1] & 0x40) ? 0 : 8192,
                               fuzz_key, &date, &scope, fuzz_seed);
    if (rc != NGX_OK) {
        abort();
    }

    data += 3;
    size -= 3;
    done = 0;

    for (off = 0; off < size; off += n) {
        rnd = rnd * 1103515245 + 12345;
        n = (rnd >> 16) % 64 + 1;

        if (n > 48) {
            n = size - off;
        }

        n = ngx_min(n, size - off);

        piece = malloc(n);
        memcpy(piece, data + off, n);
        pos = piece;
        last = piece + n;

        do {
            rc = ngx_http_objspace_chunked_feed(&ch, &pos, last, &out);

            if (rc == NGX_OK) {
                if (done || out.len == 0 || out.data < piece
                    || out.data + out.len > last)
                {
                    abort();
                }
            }

            if ((rc == NGX_AGAIN || rc == NGX_DONE) && pos != last) {
                abort();
            }

            if (pos < piece || pos > last) {
                abort();
            }

        } while (rc == NGX_OK);

        free(piece);

        if (rc == NGX_DONE) {
            done = 1;
        }

        if (rc == NGX_ERROR) {
            if (ch.error == NGX_HTTP_OBJSPACE_CHUNKED_ERR_NONE) {
                abort();
            }

            break;
        }
    }

    if (ch.expected >= 0 && ch.decoded > ch.expected) {
        abort();
    }

#ifdef FUZZ_VERBOSE
    /* -DFUZZ_VERBOSE: shows that the seed corpus decodes to NGX_DONE */
    fprintf(stderr, "mode %d rc %d error %d decoded %d\n", (int) mode,
            (int) rc, (int) ch.error, (int) ch.decoded);
#endif

    ngx_http_objspace_chunked_wipe(&ch);

    return 0;
}


/*
 * Copyright (C) objspace authors
 *
 * Shared by the fuzz targets that read Redis replies (fuzz_redis.c,
 * fuzz_provstate.c): feeds data[1..] to hiredis' protocol parser in pieces
 * (byte 0 seeds their sizes; 0: one piece) and hands every complete reply
 * to handler, until the input ends or the stream is malformed (where a
 * client drops the connection).
 */


#ifndef FUZZ_RESP_H
#define FUZZ_RESP_H


#include <stdint.h>
#include <stdlib.h>
#include <hiredis/hiredis.h>


typedef void (*fuzz_resp_handler_pt)(redisReply *reply);


/*
 * hiredis 0.14 allocates the element array a reply declares ("*1700000000"
 * is a 13 GB calloc) and has no maxelements; Redis is trusted, so the
 * harness refuses aggregates over FUZZ_RESP_MAX_ELEMENTS (a record has at
 * most 64 fields) the way hiredis reports a failed allocation.
 */
#define FUZZ_RESP_MAX_ELEMENTS  65536

static redisReplyObjectFunctions   fuzz_resp_fn;
static void                     *(*fuzz_resp_create_array)(
    const redisReadTask *task, int elements);


static void *
fuzz_resp_array(const redisReadTask *task, int elements)
{
    if (elements > FUZZ_RESP_MAX_ELEMENTS) {
        return NULL;
    }

    return fuzz_resp_create_array(task, elements);
}


static void
fuzz_resp_feed(const uint8_t *data, size_t size, fuzz_resp_handler_pt handler)
{
    int           rc;
    void         *reply;
    size_t        off, n;
    uint32_t      rnd;
    redisReader  *reader;

    if (size < 1) {
        return;
    }

    reader = redisReaderCreate();
    if (reader == NULL) {
        abort();
    }

    if (fuzz_resp_create_array == NULL) {
        fuzz_resp_fn = *reader->fn;
        fuzz_resp_create_array = fuzz_resp_fn.createArray;
        fuzz_resp_fn.createArray = fuzz_resp_array;
    }

    reader->fn = &fuzz_resp_fn;

    rnd = data[0] * 2654435761u + 1;
    off = 1;
    rc = REDIS_OK;

    while (off < size && rc == REDIS_OK) {
        rnd = rnd * 1103515245u + 12345;
        n = data[0] ? 1 + (rnd >> 16) % 61 : size - off;
        if (n > size - off) {
            n = size - off;
        }

        if (redisReaderFeed(reader, (const char *) data + off, n)
            != REDIS_OK)
        {
            break;
        }

        off += n;

        for ( ;; ) {
            reply = NULL;
            rc = redisReaderGetReply(reader, &reply);

            if (rc != REDIS_OK || reply == NULL) {
                break;
            }

            handler(reply);
            freeReplyObject(reply);
        }
    }

    redisReaderFree(reader);
}


#endif /* FUZZ_RESP_H */


/*
 * objspace-provisioner: synchronous Redis client.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>

#include "prov_redis.h"


static int prov_redis_check(prov_redis_t *r, redisReply *reply,
    const char *what, prov_err_t *err);
static char *prov_redis_uint(char *p, size_t n);
static int prov_redis_append_argv(redisContext *c, int argc,
    const char **argv, const size_t *lens);
static int prov_redis_replies(prov_redis_t *r, int n, int fenced,
    redisReply **exec, prov_err_t *err);
static redisReply *prov_redis_tx_one(prov_redis_t *r, const char *what,
    prov_err_t *err);


/*
 * The lease fence (docs/provisioner.md, "Timing and the lease"): KEYS[1]
 * the lease, KEYS[2] this node's fence key, ARGV[1] the node id.  The
 * transaction WATCHes both first, so touching KEYS[2] aborts its EXEC;
 * the key counts the refusals, for the operator (a day).
 */
static const char  prov_redis_fence_lua[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return 1 end "
    "redis.call('incr', KEYS[2]) "
    "redis.call('expire', KEYS[2], 86400) "
    "return 0";


int
prov_redis_open(prov_redis_t *r, const prov_config_t *cf, prov_err_t *err)
{
    struct timeval  tv;
    redisReply     *reply;

    memset(r, 0, sizeof(*r));

    tv.tv_sec = cf->redis_timeout_ms / 1000;
    tv.tv_usec = (cf->redis_timeout_ms % 1000) * 1000;

    r->c = redisConnectWithTimeout(cf->redis_host, cf->redis_port, tv);

    if (r->c == NULL) {
        prov_err_set(err, PROV_E_REDIS, "redis %s:%d: out of memory",
                     cf->redis_host, cf->redis_port);
        return PROV_ERR;
    }

    if (r->c->err) {
        prov_err_set(err, PROV_E_REDIS, "redis %s:%d: %s", cf->redis_host,
                     cf->redis_port, r->c->errstr);
        goto failed;
    }

    if (redisSetTimeout(r->c, tv) != REDIS_OK) {
        prov_err_set(err, PROV_E_REDIS, "redis: setting timeout: %s",
                     r->c->errstr);
        goto failed;
    }

    if (cf->redis_password) {
        reply = prov_redis_cmd(r, err, "AUTH %s", cf->redis_password);
        if (reply == NULL) {
            /* the message is Redis's own, never the password */
            goto failed;
        }

        freeReplyObject(reply);
    }

    if (cf->redis_db) {
        reply = prov_redis_cmd(r, err, "SELECT %d", cf->redis_db);
        if (reply == NULL) {
            goto failed;
        }

        freeReplyObject(reply);
    }

    return PROV_OK;

failed:

    redisFree(r->c);
    r->c = NULL;

    return PROV_ERR;
}


void
prov_redis_close(prov_redis_t *r)
{
    if (r->c) {
        redisFree(r->c);
        r->c = NULL;
    }
}


/* consumes reply on failure */

static int
prov_redis_check(prov_redis_t *r, redisReply *reply, const char *what,
    prov_err_t *err)
{
    if (reply == NULL) {
        prov_err_set(err, PROV_E_REDIS, "redis %s: %s", what,
                     r->c->errstr[0] ? r->c->errstr : "no reply");
        return PROV_ERR;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        prov_err_set(err, PROV_E_REDIS, "redis %s: %.*s", what,
                     (int) reply->len, reply->str);
        freeReplyObject(reply);
        return PROV_ERR;
    }

    return PROV_OK;
}


redisReply *
prov_redis_cmd(prov_redis_t *r, prov_err_t *err, const char *fmt, ...)
{
    char        what[32];
    va_list     ap;
    redisReply *reply;

    if (r->c == NULL) {
        prov_err_set(err, PROV_E_REDIS, "redis: not connected");
        return NULL;
    }

    va_start(ap, fmt);
    reply = redisvCommand(r->c, fmt, ap);
    va_end(ap);

    /* the command name only: arguments may be sealed values */
    snprintf(what, sizeof(what), "%.*s", (int) strcspn(fmt, " "), fmt);

    if (prov_redis_check(r, reply, what, err) != PROV_OK) {
        return NULL;
    }

    return reply;
}


redisReply *
prov_redis_argv(prov_redis_t *r, int argc, const char **argv,
    const size_t *lens, prov_err_t *err)
{
    redisReply  *reply;

    if (r->c == NULL) {
        prov_err_set(err, PROV_E_REDIS, "redis: not connected");
        return NULL;
    }

    reply = redisCommandArgv(r->c, argc, argv, lens);

    if (prov_redis_check(r, reply, argv[0], err) != PROV_OK) {
        return NULL;
    }

    return reply;
}


/*
 * With a fence: WATCH, the fence script and MULTI.  A failed append
 * after the first marks the transaction failed (send discards it and
 * reads what is owed) rather than returning with replies owed.
 */

int
prov_redis_tx_begin(prov_redis_t *r, prov_err_t *err)
{
    char  fkey[192];

    if (r->c == NULL) {
        prov_err_set(err, PROV_E_REDIS, "redis: not connected");
        return PROV_ERR;
    }

    r->queued = 0;
    r->failed = 0;
    r->fenced = 0;

    if (r->fence) {
        snprintf(fkey, sizeof(fkey), PROV_K_FENCE, r->fence);

        if (redisAppendCommand(r->c, "WATCH %s %s", PROV_K_LEADER, fkey)
            != REDIS_OK)
        {
            prov_err_set(err, PROV_E_REDIS, "redis WATCH: %s",
                         r->c->errstr);
            return PROV_ERR;
        }

        r->queued = 1;
        r->fenced = 1;

        if (redisAppendCommand(r->c, "EVAL %s 2 %s %s %s",
                               prov_redis_fence_lua, PROV_K_LEADER, fkey,
                               r->fence)
            != REDIS_OK)
        {
            r->failed = 1;
            return PROV_OK;
        }

        r->queued++;
    }

    if (redisAppendCommand(r->c, "MULTI") != REDIS_OK) {
        if (r->queued) {
            r->failed = 1;
            return PROV_OK;
        }

        prov_err_set(err, PROV_E_REDIS, "redis MULTI: %s", r->c->errstr);
        return PROV_ERR;
    }

    r->queued++;

    return PROV_OK;
}


void
prov_redis_tx_append(prov_redis_t *r, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);

    if (redisvAppendCommand(r->c, fmt, ap) != REDIS_OK) {
        r->failed = 1;

    } else {
        r->queued++;
    }

    va_end(ap);
}


/* n in decimal at p; returns the end */

static char *
prov_redis_uint(char *p, size_t n)
{
    char    tmp[24];
    size_t  i;

    i = 0;

    do {
        tmp[i++] = (char) ('0' + n % 10);
        n /= 10;
    } while (n);

    while (i) {
        *p++ = tmp[--i];
    }

    return p;
}


/*
 * One command in RESP ("*N\r\n" then "$len\r\narg\r\n" per argument),
 * formatted here in one pass and appended to hiredis's output buffer: the
 * same bytes redisAppendCommandArgv sends, without its per-argument
 * formatting (a full sync appends half a million commands).
 */

static int
prov_redis_append_argv(redisContext *c, int argc, const char **argv,
    const size_t *lens)
{
    int     i, rc;
    char    stack[2048], *buf, *p;
    size_t  total, len;

    total = 1 + 20 + 2;

    for (i = 0; i < argc; i++) {
        total += 1 + 20 + 2 + (lens ? lens[i] : strlen(argv[i])) + 2;
    }

    buf = total <= sizeof(stack) ? stack : malloc(total);
    if (buf == NULL) {
        return REDIS_ERR;
    }

    p = buf;
    *p++ = '*';
    p = prov_redis_uint(p, (size_t) argc);
    *p++ = '\r';
    *p++ = '\n';

    for (i = 0; i < argc; i++) {
        len = lens ? lens[i] : strlen(argv[i]);
        *p++ = '$';
        p = prov_redis_uint(p, len);
        *p++ = '\r';
        *p++ = '\n';
        memcpy(p, argv[i], len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
    }

    rc = redisAppendFormattedCommand(c, buf, (size_t) (p - buf));

    if (buf != stack) {
        free(buf);
    }

    return rc;
}


void
prov_redis_tx_argv(prov_redis_t *r, int argc, const char **argv,
    const size_t *lens)
{
    if (prov_redis_append_argv(r->c, argc, argv, lens) != REDIS_OK) {
        r->failed = 1;

    } else {
        r->queued++;
    }
}


void
prov_redis_tx_strs(prov_redis_t *r, int argc, ...)
{
    int          i;
    va_list      ap;
    const char  *argv[16];

    if (argc > 16) {
        r->failed = 1;
        return;
    }

    va_start(ap, argc);

    for (i = 0; i < argc; i++) {
        argv[i] = va_arg(ap, const char *);
    }

    va_end(ap);

    prov_redis_tx_argv(r, argc, argv, NULL);
}


int
prov_redis_tx_exec(prov_redis_t *r, prov_err_t *err)
{
    if (prov_redis_tx_send(r, err) != PROV_OK) {
        return PROV_ERR;
    }

    return prov_redis_tx_drain(r, err);
}


/*
 * EXEC (or DISCARD when building failed) and write the transaction out
 * without reading: its replies are owed until prov_redis_tx_wait.
 */

int
prov_redis_tx_send(prov_redis_t *r, prov_err_t *err)
{
    int          done, failed;
    prov_err_t   e;

    failed = r->failed;

    if (r->nsent == PROV_REDIS_INFLIGHT) {
        (void) prov_redis_tx_drain(r, &e);
        failed = 1;
    }

    if (failed) {
        /* nothing reached Redis yet only if no append flushed: discard */
        if (redisAppendCommand(r->c, "DISCARD") == REDIS_OK) {
            r->queued++;
        }

    } else if (redisAppendCommand(r->c, "EXEC") != REDIS_OK) {
        prov_err_set(err, PROV_E_REDIS, "redis EXEC: %s", r->c->errstr);
        r->queued = 0;
        return PROV_ERR;

    } else {
        r->queued++;
    }

    r->sent_fenced[r->nsent] = (char) r->fenced;
    r->sent[r->nsent++] = r->queued;
    r->queued = 0;
    r->failed = 0;
    r->fenced = 0;

    if (failed) {
        (void) prov_redis_tx_drain(r, &e);
        prov_err_set(err, PROV_E_REDIS, "redis: building transaction: %s",
                     r->c->errstr[0] ? r->c->errstr : "out of memory");
        return PROV_ERR;
    }

    done = 0;

    while (!done) {
        if (redisBufferWrite(r->c, &done) != REDIS_OK) {
            prov_err_set(err, PROV_E_REDIS, "redis transaction: %s",
                         r->c->errstr);
            r->nsent = 0;
            return PROV_ERR;
        }
    }

    return PROV_OK;
}


int
prov_redis_tx_wait(prov_redis_t *r, prov_err_t *err)
{
    int  n, fenced;

    if (r->nsent == 0) {
        return PROV_OK;
    }

    n = r->sent[0];
    fenced = r->sent_fenced[0];
    r->nsent--;
    memmove(&r->sent[0], &r->sent[1], r->nsent * sizeof(r->sent[0]));
    memmove(&r->sent_fenced[0], &r->sent_fenced[1], r->nsent);

    return prov_redis_replies(r, n, fenced, NULL, err);
}


int
prov_redis_tx_drain(prov_redis_t *r, prov_err_t *err)
{
    int         rc;
    prov_err_t  e;

    rc = PROV_OK;

    while (r->nsent) {
        if (prov_redis_tx_wait(r, rc == PROV_OK ? err : &e) != PROV_OK) {
            rc = PROV_ERR;
        }
    }

    return rc;
}


/*
 * The n replies of one transaction: with a fence WATCH's and the fence
 * script's (0: refused), then MULTI's, each command's QUEUED, then EXEC's
 * array (nil: a WATCHed key changed, or the fence refused).  exec, if not
 * NULL, gets EXEC's array when all went well (the caller frees it).  A
 * broken connection owes nothing more.
 */

static int
prov_redis_replies(prov_redis_t *r, int n, int fenced, redisReply **exec,
    prov_err_t *err)
{
    int          i, rc, refused;
    void        *p;
    redisReply  *reply;

    rc = PROV_OK;
    refused = 0;

    for (i = 0; i < n; i++) {
        if (redisGetReply(r->c, &p) != REDIS_OK) {
            prov_err_set(err, PROV_E_REDIS, "redis transaction: %s",
                         r->c->errstr);
            r->nsent = 0;
            return PROV_ERR;
        }

        reply = p;

        if (fenced && i == 1 && reply->type == REDIS_REPLY_INTEGER
            && reply->integer == 0)
        {
            refused = 1;
        }

        if (reply->type == REDIS_REPLY_ERROR && rc == PROV_OK) {
            prov_err_set(err, PROV_E_REDIS, "redis transaction: %.*s",
                         (int) reply->len, reply->str);
            rc = PROV_ERR;

        } else if (i == n - 1 && rc == PROV_OK) {
            if (reply->type == REDIS_REPLY_NIL) {
                if (refused) {
                    prov_err_set(err, PROV_E_BUSY, "not the leader: the "
                                 "lease fence refused the write (%s)",
                                 r->fence ? r->fence : "");
                } else {
                    prov_err_set(err, PROV_E_BUSY, "concurrent change, "
                                 "retry");
                }

                rc = PROV_ERR;

            } else if (reply->type == REDIS_REPLY_ARRAY) {
                size_t  j;

                for (j = 0; j < reply->elements; j++) {
                    if (reply->element[j]->type == REDIS_REPLY_ERROR) {
                        prov_err_set(err, PROV_E_REDIS,
                                     "redis transaction: %.*s",
                                     (int) reply->element[j]->len,
                                     reply->element[j]->str);
                        rc = PROV_ERR;
                        break;
                    }
                }

                if (rc == PROV_OK && exec) {
                    *exec = reply;
                    continue;
                }
            }
        }

        freeReplyObject(reply);
    }

    return rc;
}


/*
 * Sends the transaction being built (one command after MULTI) and
 * returns that command's reply, detached from EXEC's array.
 */

static redisReply *
prov_redis_tx_one(prov_redis_t *r, const char *what, prov_err_t *err)
{
    int          n, fenced;
    redisReply  *exec, *reply;

    if (prov_redis_tx_send(r, err) != PROV_OK) {
        return NULL;
    }

    n = r->sent[0];
    fenced = r->sent_fenced[0];
    r->nsent = 0;
    exec = NULL;

    if (prov_redis_replies(r, n, fenced, &exec, err) != PROV_OK) {
        prov_err_prefix(err, "redis %s", what);
        return NULL;
    }

    if (exec == NULL || exec->elements != 1) {
        prov_err_set(err, PROV_E_REDIS, "redis %s: unexpected reply", what);

        if (exec) {
            freeReplyObject(exec);
        }

        return NULL;
    }

    reply = exec->element[0];
    exec->element[0] = NULL;
    freeReplyObject(exec);

    return reply;
}


redisReply *
prov_redis_write(prov_redis_t *r, prov_err_t *err, const char *fmt, ...)
{
    char         what[32];
    va_list      ap;
    redisReply  *reply;

    snprintf(what, sizeof(what), "%.*s", (int) strcspn(fmt, " "), fmt);

    if (r->c == NULL || r->nsent) {
        prov_err_set(err, PROV_E_REDIS, "redis %s: %s", what,
                     r->c ? "transactions in flight" : "not connected");
        return NULL;
    }

    va_start(ap, fmt);

    if (r->fence == NULL) {
        reply = redisvCommand(r->c, fmt, ap);
        va_end(ap);

        return prov_redis_check(r, reply, what, err) == PROV_OK ? reply
                                                                : NULL;
    }

    if (prov_redis_tx_begin(r, err) != PROV_OK) {
        va_end(ap);
        return NULL;
    }

    if (redisvAppendCommand(r->c, fmt, ap) != REDIS_OK) {
        r->failed = 1;

    } else {
        r->queued++;
    }

    va_end(ap);

    return prov_redis_tx_one(r, what, err);
}


redisReply *
prov_redis_write_argv(prov_redis_t *r, int argc, const char **argv,
    const size_t *lens, prov_err_t *err)
{
    if (r->c == NULL || r->nsent) {
        prov_err_set(err, PROV_E_REDIS, "redis %s: %s", argv[0],
                     r->c ? "transactions in flight" : "not connected");
        return NULL;
    }

    if (r->fence == NULL) {
        return prov_redis_argv(r, argc, argv, lens, err);
    }

    if (prov_redis_tx_begin(r, err) != PROV_OK) {
        return NULL;
    }

    prov_redis_tx_argv(r, argc, argv, lens);

    return prov_redis_tx_one(r, argv[0], err);
}


const char *
prov_redis_field(redisReply *hash, const char *name)
{
    size_t  i;

    if (hash == NULL || hash->type != REDIS_REPLY_ARRAY) {
        return NULL;
    }

    for (i = 0; i + 1 < hash->elements; i += 2) {
        if (hash->element[i]->type == REDIS_REPLY_STRING
            && strcmp(hash->element[i]->str, name) == 0
            && hash->element[i + 1]->type == REDIS_REPLY_STRING)
        {
            return hash->element[i + 1]->str;
        }
    }

    return NULL;
}

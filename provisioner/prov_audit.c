
/*
 * objspace-provisioner: the audit trail.
 *
 * Files: {audit_dir}/{tenant}/{YYYY-MM-DD}.jsonl, one JSON object per
 * line, the day (UTC) being the one the entry entered the stream (the ms
 * part of its stream id), so that a tenant's lines are in stream order
 * across files.  Events without a valid tenant go to
 * {audit_dir}/_unattributed/ (operators only: no tenant can name it).
 *
 * Exactly once: a batch is written and fsynced before it is
 * acknowledged.  Each line carries its stream id; after a restart, the
 * last line of a tenant's newest file says how far that tenant's file
 * got, and redelivered entries at or below it are acknowledged without
 * being written again (a torn last line is cut off first).  Event ids
 * seen recently are remembered too (the gateway may deliver an event
 * twice under another stream id).
 *
 * This file is the consumer (stream -> files); prov_audit_events.c puts
 * control-plane events into the stream, prov_audit_query.c reads a
 * tenant's files back ("audit --tenant T").
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <jansson.h>

#include "prov_audit.h"
#include "prov_crypto.h"
#include "prov_state.h"


#define PROV_AUDIT_BATCH      500
#define PROV_AUDIT_SEEN       65536         /* event ids per generation */
#define PROV_AUDIT_TAIL       (1024 * 1024) /* read back after a restart */
#define PROV_AUDIT_NAME_MAX   48


typedef struct {
    uint64_t    ms;
    uint64_t    seq;
} prov_sid_t;


typedef struct {
    char        name[PROV_AUDIT_NAME_MAX];
    prov_sid_t  last;           /* highest stream id in its files */
} prov_audit_tenant_t;


/* the lines of one batch for one file */
typedef struct {
    size_t      tenant;
    char        day[16];
    prov_buf_t  buf;
    prov_sid_t  last;
} prov_audit_out_t;


struct prov_audit_s {
    char                 *dir;
    prov_audit_tenant_t  *tenants;
    size_t                ntenants;
    size_t                nalloc;
    prov_audit_seen_t     seen;         /* recent event ids */
    int                   group_ok;
    int                   pending_done;  /* our PEL was drained */
    json_t               *lastused;     /* identity -> max ts (s) */
    json_t               *workers;      /* worker -> last seq seen */
    int                   kill_before_ack;  /* test hook, see open */
    int                   push_keys;    /* source = rustshare: note moved
                                           last_used_at for the push */
};


static int prov_sid_parse(const char *s, prov_sid_t *sid);
static int prov_sid_cmp(const prov_sid_t *a, const prov_sid_t *b);
static uint64_t prov_hash(const char *s);
static int prov_mkdir(const char *path, prov_err_t *err);
static int prov_fsync_dir(const char *path, prov_err_t *err);
static int prov_audit_tenant(prov_audit_t *a, const char *name,
    size_t *idx, prov_err_t *err);
static int prov_audit_newest(const char *dir, char *name, size_t size);
static int prov_audit_load_tail(prov_audit_t *a, prov_audit_tenant_t *t,
    prov_err_t *err);
static int prov_audit_batch(prov_audit_t *a, prov_redis_t *r, int pending,
    size_t *handled, prov_err_t *err);
static int prov_batch_has(const char **batch, size_t n, const char *id);
static json_t *prov_json_str(const char *s, size_t len);
static void prov_audit_note(prov_audit_t *a, json_t *line);
static int prov_audit_write(prov_audit_t *a, prov_audit_out_t *o,
    prov_err_t *err);
static int prov_audit_flush_lastused(prov_audit_t *a, prov_redis_t *r,
    prov_err_t *err);


/* ------------------------------------------------------------ helpers */


static int
prov_sid_parse(const char *s, prov_sid_t *sid)
{
    char  *end;

    errno = 0;
    sid->ms = strtoull(s, &end, 10);

    if (errno || end == s || *end != '-') {
        return PROV_ERR;
    }

    s = end + 1;
    sid->seq = strtoull(s, &end, 10);

    if (errno || end == s || *end != '\0') {
        return PROV_ERR;
    }

    return PROV_OK;
}


static int
prov_sid_cmp(const prov_sid_t *a, const prov_sid_t *b)
{
    if (a->ms != b->ms) {
        return a->ms < b->ms ? -1 : 1;
    }

    if (a->seq != b->seq) {
        return a->seq < b->seq ? -1 : 1;
    }

    return 0;
}


/* FNV-1a; 0 is reserved for empty slots */

static uint64_t
prov_hash(const char *s)
{
    uint64_t  h;

    h = 14695981039346656037ULL;

    while (*s) {
        h ^= (unsigned char) *s++;
        h *= 1099511628211ULL;
    }

    return h ? h : 1;
}


int
prov_audit_seen_has(prov_audit_seen_t *s, const char *id)
{
    int       g;
    size_t    i, cap;
    uint64_t  h;

    h = prov_hash(id);
    cap = 2 * PROV_AUDIT_SEEN;

    for (g = 0; g < 2; g++) {
        if (s->gen[g].slots == NULL) {
            continue;
        }

        for (i = h % cap; s->gen[g].slots[i]; i = (i + 1) % cap) {
            if (s->gen[g].slots[i] == h) {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * Two generations of at most PROV_AUDIT_SEEN ids each: when the current
 * one is full it becomes the previous one, so the last 64k to 128k event
 * ids are remembered without deleting from an open-addressing table.
 */

int
prov_audit_seen_add(prov_audit_seen_t *s, const char *id)
{
    size_t    i, cap;
    uint64_t  h, *slots;

    cap = 2 * PROV_AUDIT_SEEN;

    if (s->gen[0].n >= PROV_AUDIT_SEEN) {
        slots = s->gen[1].slots;
        s->gen[1] = s->gen[0];
        s->gen[0].slots = slots;
        s->gen[0].n = 0;

        if (slots) {
            memset(slots, 0, cap * sizeof(uint64_t));
        }
    }

    if (s->gen[0].slots == NULL) {
        s->gen[0].slots = calloc(cap, sizeof(uint64_t));
        if (s->gen[0].slots == NULL) {
            return PROV_ERR;
        }
    }

    h = prov_hash(id);

    for (i = h % cap; s->gen[0].slots[i]; i = (i + 1) % cap) {
        if (s->gen[0].slots[i] == h) {
            return PROV_OK;
        }
    }

    s->gen[0].slots[i] = h;
    s->gen[0].n++;

    return PROV_OK;
}


void
prov_audit_seen_clear(prov_audit_seen_t *s)
{
    int  g;

    for (g = 0; g < 2; g++) {
        s->gen[g].n = 0;

        if (s->gen[g].slots) {
            memset(s->gen[g].slots, 0,
                   2 * PROV_AUDIT_SEEN * sizeof(uint64_t));
        }
    }
}


void
prov_audit_seen_free(prov_audit_seen_t *s)
{
    free(s->gen[0].slots);
    free(s->gen[1].slots);
    memset(s, 0, sizeof(*s));
}


static int
prov_mkdir(const char *path, prov_err_t *err)
{
    char   tmp[4096], *p;

    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int) sizeof(tmp)) {
        prov_err_set(err, PROV_E_CONFIG, "audit_dir: path too long");
        return PROV_ERR;
    }

    for (p = tmp + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char  c = *p;

            *p = '\0';

            if (mkdir(tmp, 0750) != 0 && errno != EEXIST) {
                prov_err_set(err, PROV_E_SYS, "mkdir \"%s\": %s", tmp,
                             strerror(errno));
                return PROV_ERR;
            }

            *p = c;

            if (c == '\0') {
                break;
            }
        }
    }

    return PROV_OK;
}


static int
prov_fsync_dir(const char *path, prov_err_t *err)
{
    int  fd;

    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1 || fsync(fd) != 0) {
        prov_err_set(err, PROV_E_SYS, "fsync \"%s\": %s", path,
                     strerror(errno));

        if (fd != -1) {
            close(fd);
        }

        return PROV_ERR;
    }

    close(fd);

    return PROV_OK;
}


int
prov_is_day_file(const char *name)
{
    int  i;

    /* YYYY-MM-DD.jsonl */
    if (strlen(name) != 16 || strcmp(name + 10, ".jsonl") != 0) {
        return 0;
    }

    for (i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (name[i] != '-') {
                return 0;
            }

        } else if (!isdigit((unsigned char) name[i])) {
            return 0;
        }
    }

    return 1;
}



/* the newest day file of a tenant directory; 0 if there is none */

static int
prov_audit_newest(const char *dir, char *name, size_t size)
{
    DIR            *d;
    struct dirent  *de;

    name[0] = '\0';

    d = opendir(dir);
    if (d == NULL) {
        return 0;
    }

    while ((de = readdir(d)) != NULL) {
        if (prov_is_day_file(de->d_name) && strlen(de->d_name) < size
            && strcmp(de->d_name, name) > 0)
        {
            snprintf(name, size, "%s", de->d_name);
        }
    }

    closedir(d);

    return name[0] != '\0';
}


/*
 * Reads back the end of a tenant's newest file after a (re)start: cuts off
 * a torn last line (its entry was never acknowledged, so it comes again),
 * and learns the highest stream id written and the recent event ids.
 */

static int
prov_audit_load_tail(prov_audit_t *a, prov_audit_tenant_t *t,
    prov_err_t *err)
{
    int           fd, rc;
    char          dir[4096], path[4200], name[32], *buf, *p, *nl;
    off_t         size, from;
    ssize_t       got, n;
    json_t       *j;
    prov_sid_t    sid;
    json_error_t  jerr;
    const char   *s;

    snprintf(dir, sizeof(dir), "%s/%s", a->dir, t->name);

    if (!prov_audit_newest(dir, name, sizeof(name))) {
        return PROV_OK;
    }

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd == -1) {
        prov_err_set(err, PROV_E_SYS, "audit: open \"%s\": %s", path,
                     strerror(errno));
        return PROV_ERR;
    }

    rc = PROV_ERR;
    buf = NULL;

    size = lseek(fd, 0, SEEK_END);
    if (size <= 0) {
        rc = PROV_OK;
        goto done;
    }

    from = size > PROV_AUDIT_TAIL ? size - PROV_AUDIT_TAIL : 0;

    buf = malloc((size_t) (size - from) + 1);
    if (buf == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    for (got = 0; got < size - from; got += n) {
        n = pread(fd, buf + got, (size_t) (size - from - got), from + got);
        if (n <= 0) {
            prov_err_set(err, PROV_E_SYS, "audit: read \"%s\": %s", path,
                         n == 0 ? "short read" : strerror(errno));
            goto done;
        }
    }

    buf[got] = '\0';

    if (buf[got - 1] != '\n') {
        nl = memrchr(buf, '\n', (size_t) got);

        if (nl == NULL && from > 0) {
            prov_err_set(err, PROV_E_SYS, "audit: \"%s\": last line longer "
                         "than %d bytes", path, PROV_AUDIT_TAIL);
            goto done;
        }

        got = nl ? nl - buf + 1 : 0;

        if (ftruncate(fd, from + got) != 0 || fsync(fd) != 0) {
            prov_err_set(err, PROV_E_SYS, "audit: truncating \"%s\": %s",
                         path, strerror(errno));
            goto done;
        }

        prov_log(PROV_LOG_WARN, "audit", "%s/%s: cut off a torn last line "
                 "(%lld bytes; its events come again)", t->name, name,
                 (long long) (size - from - got));

        buf[got] = '\0';
    }

    p = buf;

    if (from > 0) {
        /* the window starts inside a line */
        nl = strchr(p, '\n');
        p = nl ? nl + 1 : buf + got;
    }

    while (*p) {
        nl = strchr(p, '\n');
        if (nl == NULL) {
            break;
        }

        *nl = '\0';

        j = json_loads(p, 0, &jerr);

        if (j) {
            s = json_string_value(json_object_get(j, "stream_id"));

            if (s && prov_sid_parse(s, &sid) == PROV_OK
                && prov_sid_cmp(&sid, &t->last) > 0)
            {
                t->last = sid;
            }

            s = json_string_value(json_object_get(j, "id"));

            if (s && prov_audit_seen_add(&a->seen, s) != PROV_OK) {
                json_decref(j);
                prov_err_set(err, PROV_E_SYS, "out of memory");
                goto done;
            }

            json_decref(j);
        }

        p = nl + 1;
    }

    rc = PROV_OK;

done:

    free(buf);
    close(fd);

    return rc;
}


/* the tenant's slot; loads its file tail the first time */

static int
prov_audit_tenant(prov_audit_t *a, const char *name, size_t *idx,
    prov_err_t *err)
{
    size_t                i;
    prov_audit_tenant_t  *t;

    for (i = 0; i < a->ntenants; i++) {
        if (strcmp(a->tenants[i].name, name) == 0) {
            *idx = i;
            return PROV_OK;
        }
    }

    if (a->ntenants == a->nalloc) {
        t = realloc(a->tenants, (a->nalloc ? a->nalloc * 2 : 16)
                                * sizeof(prov_audit_tenant_t));
        if (t == NULL) {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            return PROV_ERR;
        }

        a->tenants = t;
        a->nalloc = a->nalloc ? a->nalloc * 2 : 16;
    }

    t = &a->tenants[a->ntenants];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);

    if (prov_audit_load_tail(a, t, err) != PROV_OK) {
        return PROV_ERR;
    }

    *idx = a->ntenants++;

    return PROV_OK;
}


/* ------------------------------------------------------------ consumer */


int
prov_audit_open(prov_audit_t **ap, const prov_config_t *cf,
    prov_err_t *err)
{
    prov_audit_t  *a;

    *ap = NULL;

    if (prov_mkdir(cf->audit_dir, err) != PROV_OK) {
        prov_err_prefix(err, "audit_dir");
        return PROV_ERR;
    }

    a = calloc(1, sizeof(prov_audit_t));
    if (a == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    a->dir = strdup(cf->audit_dir);
    a->lastused = json_object();
    a->workers = json_object();

    if (a->dir == NULL || a->lastused == NULL || a->workers == NULL) {
        prov_audit_close(a);
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    a->push_keys = (cf->source && strcmp(cf->source, "rustshare") == 0);

    /* tests only (t/150): die by SIGKILL after writing the Nth batch,
     * before its XACK, to prove a restart does not duplicate it */
    if (getenv("OBJSPACE_PROV_TEST_KILL_BEFORE_ACK")) {
        a->kill_before_ack = atoi(getenv("OBJSPACE_PROV_TEST_KILL_BEFORE_ACK"));
    }

    *ap = a;

    return PROV_OK;
}


void
prov_audit_close(prov_audit_t *a)
{
    if (a == NULL) {
        return;
    }

    free(a->dir);
    free(a->tenants);
    prov_audit_seen_free(&a->seen);
    json_decref(a->lastused);
    json_decref(a->workers);
    free(a);
}


void
prov_audit_reset(prov_audit_t *a)
{
    a->ntenants = 0;
    a->group_ok = 0;
    a->pending_done = 0;
    prov_audit_seen_clear(&a->seen);

    json_object_clear(a->workers);
}


/*
 * A consumer group reads from the start of the stream ("0", not "$"):
 * events the gateway added before the first daemon ever ran are consumed
 * too.  An existing group (BUSYGROUP) is fine.
 */

int
prov_audit_group_create(prov_redis_t *r, const char *group, prov_err_t *err)
{
    redisReply  *reply;

    reply = redisCommand(r->c, "XGROUP CREATE %s %s 0 MKSTREAM",
                         PROV_K_AUDIT, group);
    if (reply == NULL) {
        prov_err_set(err, PROV_E_REDIS, "redis XGROUP: %s", r->c->errstr);
        return PROV_ERR;
    }

    if (reply->type == REDIS_REPLY_ERROR
        && strncmp(reply->str, "BUSYGROUP", 9) != 0)
    {
        prov_err_set(err, PROV_E_REDIS, "redis XGROUP: %s", reply->str);
        freeReplyObject(reply);
        return PROV_ERR;
    }

    freeReplyObject(reply);

    return PROV_OK;
}


/*
 * One XREADGROUP of up to count entries for the consumer "leader": the
 * group's pending entries (id "0": delivered before, not acknowledged)
 * or new ones (">").  Returns the reply (the caller frees it) and sets
 * *entries (borrowed from it) to the array of entries, or NULL when there
 * are none.  A missing group is PROV_E_NOTFOUND (create it again).
 */

redisReply *
prov_audit_read(prov_redis_t *r, const char *group, int pending, int count,
    redisReply **entries, prov_err_t *err)
{
    redisReply  *reply;

    *entries = NULL;

    reply = prov_redis_cmd(r, err, "XREADGROUP GROUP %s %s COUNT %d "
                           "STREAMS %s %s", group, PROV_AUDIT_CONSUMER,
                           count, PROV_K_AUDIT, pending ? "0" : ">");
    if (reply == NULL) {
        if (strstr(err->msg, "NOGROUP")) {
            err->code = PROV_E_NOTFOUND;
        }

        return NULL;
    }

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
        && reply->element[0]->type == REDIS_REPLY_ARRAY
        && reply->element[0]->elements >= 2
        && reply->element[0]->element[1]->type == REDIS_REPLY_ARRAY
        && reply->element[0]->element[1]->elements > 0)
    {
        *entries = reply->element[0]->element[1];
    }

    return reply;
}


/* a copy of a stream value that is valid UTF-8: bad bytes become \xNN */

static json_t *
prov_json_str(const char *s, size_t len)
{
    size_t       i;
    json_t      *j;
    prov_buf_t   b;

    j = json_stringn(s, len);
    if (j) {
        return j;
    }

    prov_buf_init(&b);

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x80 && s[i] != '\0') {
            prov_buf_append(&b, &s[i], 1);

        } else {
            prov_buf_printf(&b, "\\x%02x", (unsigned char) s[i]);
        }
    }

    j = json_stringn(b.data ? b.data : "", b.len);
    prov_buf_free(&b);

    return j;
}


/*
 * One stream entry as the object written to a file (and shipped to
 * RustShare): "stream_id", then the entry's fields (ts, status, bytes_in,
 * bytes_out and seq as numbers), then "time" (ISO 8601 of ts).  *tenant
 * is borrowed from the returned object.
 */

json_t *
prov_audit_entry_json(redisReply *id, redisReply *fields, const char **tenant,
    prov_err_t *err)
{
    size_t       i;
    char        *end, t[32];
    json_t      *j, *v;
    long long    n;
    const char  *f;

    *tenant = NULL;

    j = json_object();
    if (j == NULL) {
        goto nomem;
    }

    if (json_object_set_new(j, "stream_id", json_string(id->str)) != 0) {
        goto nomem;
    }

    for (i = 0; i + 1 < fields->elements; i += 2) {
        if (fields->element[i]->type != REDIS_REPLY_STRING
            || fields->element[i + 1]->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        f = fields->element[i]->str;
        v = NULL;

        if (strcmp(f, "ts") == 0 || strcmp(f, "status") == 0
            || strcmp(f, "bytes_in") == 0 || strcmp(f, "bytes_out") == 0
            || strcmp(f, "seq") == 0 || strcmp(f, "revision") == 0)
        {
            errno = 0;
            n = strtoll(fields->element[i + 1]->str, &end, 10);

            if (errno == 0 && end != fields->element[i + 1]->str
                && *end == '\0')
            {
                v = json_integer(n);
            }
        }

        if (v == NULL) {
            v = prov_json_str(fields->element[i + 1]->str,
                              fields->element[i + 1]->len);
        }

        if (v == NULL || json_object_set_new(j, f, v) != 0) {
            goto nomem;
        }
    }

    v = json_object_get(j, "ts");
    if (json_is_integer(v)) {
        prov_format_time(json_integer_value(v) / 1000, t, sizeof(t));
        json_object_set_new(j, "time", json_string(t));
    }

    *tenant = json_string_value(json_object_get(j, "tenant"));

    return j;

nomem:

    json_decref(j);
    prov_err_set(err, PROV_E_SYS, "out of memory");

    return NULL;
}


/* a field of a stream entry, borrowed from the reply */

const char *
prov_audit_entry_field(redisReply *fields, const char *name)
{
    size_t  i;

    for (i = 0; i + 1 < fields->elements; i += 2) {
        if (fields->element[i]->type == REDIS_REPLY_STRING
            && fields->element[i + 1]->type == REDIS_REPLY_STRING
            && strcmp(fields->element[i]->str, name) == 0)
        {
            return fields->element[i + 1]->str;
        }
    }

    return NULL;
}


static int
prov_batch_has(const char **batch, size_t n, const char *id)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strcmp(batch[i], id) == 0) {
            return 1;
        }
    }

    return 0;
}


/* last_used_at and per-worker sequence gaps, from a request event */

static void
prov_audit_note(prov_audit_t *a, json_t *line)
{
    json_t      *old;
    int64_t      ts, seq, prev;
    const char  *kind, *ident, *decision, *worker;

    kind = json_string_value(json_object_get(line, "kind"));
    if (kind == NULL || strcmp(kind, "request") != 0) {
        return;
    }

    ident = json_string_value(json_object_get(line, "identity"));
    decision = json_string_value(json_object_get(line, "decision"));
    ts = json_integer_value(json_object_get(line, "ts")) / 1000;

    /* only an allowed request proves the key was used */
    if (ident && strncmp(ident, "key_", 4) == 0 && strlen(ident) < 64
        && decision && strcmp(decision, "allow") == 0 && ts > 0)
    {
        old = json_object_get(a->lastused, ident);

        if (old == NULL || json_integer_value(old) < ts) {
            json_object_set_new(a->lastused, ident, json_integer(ts));
        }
    }

    worker = json_string_value(json_object_get(line, "worker"));
    seq = json_integer_value(json_object_get(line, "seq"));

    if (worker == NULL || seq <= 0 || strlen(worker) > 64) {
        return;
    }

    prev = json_integer_value(json_object_get(a->workers, worker));

    if (prev && seq > prev + 1) {
        prov_log(PROV_LOG_WARN, "audit", "worker %s: events %lld..%lld "
                 "missing from the stream (trimmed or lost)", worker,
                 (long long) prev + 1, (long long) seq - 1);
    }

    if (seq > prev) {
        json_object_set_new(a->workers, worker, json_integer(seq));
    }
}


/*
 * Appends one batch's lines to one file and fsyncs it (and its directory
 * when the file or the directory is new).  On failure the file is cut
 * back to its previous length: nothing of an unacknowledged batch stays.
 */

static int
prov_audit_write(prov_audit_t *a, prov_audit_out_t *o, prov_err_t *err)
{
    int           fd, created, rc;
    char          dir[4096], path[4200];
    off_t         size;
    size_t        done;
    ssize_t       n;
    struct stat   sb;

    snprintf(dir, sizeof(dir), "%s/%s", a->dir, a->tenants[o->tenant].name);
    snprintf(path, sizeof(path), "%s/%s.jsonl", dir, o->day);

    if (stat(dir, &sb) != 0) {
        if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
            prov_err_set(err, PROV_E_SYS, "audit: mkdir \"%s\": %s", dir,
                         strerror(errno));
            return PROV_ERR;
        }

        if (prov_fsync_dir(a->dir, err) != PROV_OK) {
            return PROV_ERR;
        }
    }

    created = (stat(path, &sb) != 0);

    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd == -1) {
        prov_err_set(err, PROV_E_SYS, "audit: open \"%s\": %s", path,
                     strerror(errno));
        return PROV_ERR;
    }

    rc = PROV_ERR;
    size = lseek(fd, 0, SEEK_END);

    for (done = 0; done < o->buf.len; done += (size_t) n) {
        n = write(fd, o->buf.data + done, o->buf.len - done);
        if (n <= 0) {
            prov_err_set(err, PROV_E_SYS, "audit: write \"%s\": %s", path,
                         n == 0 ? "no progress" : strerror(errno));
            goto failed;
        }
    }

    if (fsync(fd) != 0) {
        prov_err_set(err, PROV_E_SYS, "audit: fsync \"%s\": %s", path,
                     strerror(errno));
        goto failed;
    }

    if (created && prov_fsync_dir(dir, err) != PROV_OK) {
        goto failed;
    }

    rc = PROV_OK;
    close(fd);

    return rc;

failed:

    if (size >= 0 && ftruncate(fd, size) != 0) {
        prov_log(PROV_LOG_ERR, "audit", "%s: cannot cut back a failed "
                 "write: %s", path, strerror(errno));
    }

    close(fd);

    return rc;
}


/*
 * Keeps the maximum: another node's older batch never moves it back.  In
 * RustShare mode an identity whose last_used_at moved is also added to
 * objspace:prov:rs:push:keys, in the same script, for the key-usage push
 * (prov_push.c), which removes it once RustShare has that value.
 */

static int
prov_audit_flush_lastused(prov_audit_t *a, prov_redis_t *r, prov_err_t *err)
{
    int           rc, nk;
    size_t        n, i;
    char        (*vals)[24];
    json_t       *v;
    redisReply   *reply;
    const char   *k, **argv;

    n = json_object_size(a->lastused);
    if (n == 0) {
        return PROV_OK;
    }

    argv = calloc(5 + 2 * n, sizeof(char *));
    vals = calloc(n, sizeof(*vals));

    if (argv == NULL || vals == NULL) {
        free(argv);
        free(vals);
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    nk = a->push_keys ? 2 : 1;

    argv[0] = "EVAL";
    argv[1] = "for i = 1, #ARGV, 2 do "
              "local old = tonumber(redis.call('HGET', KEYS[1], ARGV[i])"
              " or '0') or 0 "
              "if tonumber(ARGV[i + 1]) > old then "
              "redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) "
              "if KEYS[2] then redis.call('SADD', KEYS[2], ARGV[i]) end "
              "end "
              "end return 1";
    argv[2] = nk == 2 ? "2" : "1";
    argv[3] = PROV_K_LASTUSED;
    argv[4] = PROV_K_RS_PUSH_KEYS;
    i = 0;

    json_object_foreach(a->lastused, k, v) {
        snprintf(vals[i], sizeof(vals[i]), "%lld",
                 (long long) json_integer_value(v));
        argv[3 + nk + 2 * i] = k;
        argv[4 + nk + 2 * i] = vals[i];
        i++;
    }

    reply = prov_redis_argv(r, (int) (3 + nk + 2 * n), argv, NULL, err);

    rc = PROV_ERR;

    if (reply) {
        freeReplyObject(reply);
        json_object_clear(a->lastused);
        rc = PROV_OK;
    }

    free(argv);
    free(vals);

    return rc;
}


/*
 * One XREADGROUP: our pending entries (id "0": delivered before, not
 * acknowledged, e.g. by a daemon killed between write and XACK) or new
 * ones (">").  Writes, fsyncs, then XACKs everything it read.
 */

static int
prov_audit_batch(prov_audit_t *a, prov_redis_t *r, int pending,
    size_t *handled, prov_err_t *err)
{
    int              rc;
    size_t           i, k, nout, nack, nbatch, tidx, skipped;
    char             day[16];
    char            *line;
    json_t          *j;
    time_t           tt;
    struct tm        tm;
    prov_sid_t       sid;
    redisReply      *reply, *entries, *e, *ack;
    const char      *tenant, *evid, **ackv, **batch;
    prov_audit_out_t  out[64];

    *handled = 0;
    nout = 0;
    nack = 0;
    nbatch = 0;
    skipped = 0;
    ackv = NULL;
    batch = NULL;
    rc = PROV_ERR;

    reply = prov_audit_read(r, PROV_AUDIT_GROUP, pending, PROV_AUDIT_BATCH,
                            &entries, err);
    if (reply == NULL) {
        if (err->code == PROV_E_NOTFOUND) {
            a->group_ok = 0;
        }

        return PROV_ERR;
    }

    if (entries == NULL) {
        freeReplyObject(reply);
        return PROV_OK;
    }

    ackv = calloc(entries->elements + 3, sizeof(char *));
    batch = calloc(entries->elements, sizeof(char *));
    if (ackv == NULL || batch == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    ackv[nack++] = "XACK";
    ackv[nack++] = PROV_K_AUDIT;
    ackv[nack++] = PROV_AUDIT_GROUP;

    for (i = 0; i < entries->elements; i++) {
        e = entries->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2
            || e->element[0]->type != REDIS_REPLY_STRING
            || prov_sid_parse(e->element[0]->str, &sid) != PROV_OK)
        {
            continue;
        }

        ackv[nack++] = e->element[0]->str;

        if (e->element[1]->type != REDIS_REPLY_ARRAY) {
            /* a pending entry the producer's MAXLEN trimmed away */
            prov_log(PROV_LOG_WARN, "audit", "entry %s was trimmed before "
                     "it was written", e->element[0]->str);
            continue;
        }

        j = prov_audit_entry_json(e->element[0], e->element[1], &tenant, err);
        if (j == NULL) {
            goto done;
        }

        if (tenant == NULL || !prov_valid_slug(tenant, PROV_SLUG_MAX)) {
            tenant = PROV_AUDIT_NOTENANT;
        }

        if (prov_audit_tenant(a, tenant, &tidx, err) != PROV_OK) {
            json_decref(j);
            goto done;
        }

        evid = prov_audit_entry_field(e->element[1], "id");

        /* already in the file (written, then killed before XACK), or a
         * duplicate of an event written earlier or earlier in this batch */
        if (prov_sid_cmp(&sid, &a->tenants[tidx].last) <= 0
            || (evid && (prov_audit_seen_has(&a->seen, evid)
                         || prov_batch_has(batch, nbatch, evid))))
        {
            skipped++;
            json_decref(j);
            continue;
        }

        tt = (time_t) (sid.ms / 1000);
        gmtime_r(&tt, &tm);
        strftime(day, sizeof(day), "%Y-%m-%d", &tm);

        for (k = 0; k < nout; k++) {
            if (out[k].tenant == tidx && strcmp(out[k].day, day) == 0) {
                break;
            }
        }

        if (k == nout) {
            if (nout == sizeof(out) / sizeof(out[0])) {
                /* too many files in one batch: the rest comes next time,
                 * from our pending entries */
                nack--;
                a->pending_done = 0;
                json_decref(j);
                break;
            }

            memset(&out[k], 0, sizeof(out[k]));
            out[k].tenant = tidx;
            snprintf(out[k].day, sizeof(out[k].day), "%s", day);
            prov_buf_init(&out[k].buf);
            nout++;
        }

        if (evid) {
            batch[nbatch++] = evid;
        }

        prov_audit_note(a, j);

        line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);

        if (line == NULL
            || prov_buf_puts(&out[k].buf, line) != PROV_OK
            || prov_buf_puts(&out[k].buf, "\n") != PROV_OK)
        {
            free(line);
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }

        free(line);
        out[k].last = sid;
    }

    for (k = 0; k < nout; k++) {
        if (prov_audit_write(a, &out[k], err) != PROV_OK) {
            goto done;
        }

        if (prov_sid_cmp(&out[k].last, &a->tenants[out[k].tenant].last) > 0)
        {
            a->tenants[out[k].tenant].last = out[k].last;
        }
    }

    if (a->kill_before_ack > 0 && nout && --a->kill_before_ack == 0) {
        kill(getpid(), SIGKILL);
    }

    /* on disk: remembered, and now the stream may forget them */

    for (i = 0; i < nbatch; i++) {
        if (prov_audit_seen_add(&a->seen, batch[i]) != PROV_OK) {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }
    }

    ack = prov_redis_argv(r, (int) nack, ackv, NULL, err);
    if (ack == NULL) {
        goto done;
    }

    freeReplyObject(ack);

    *handled = nack - 3;

    if (skipped) {
        prov_log(PROV_LOG_INFO, "audit", "%zu entries were already written "
                 "(acknowledged again, not duplicated)", skipped);
    }

    rc = PROV_OK;

done:

    if (rc != PROV_OK) {
        /* the next pass starts again from our pending entries */
        a->pending_done = 0;
    }

    for (k = 0; k < nout; k++) {
        prov_buf_free(&out[k].buf);
    }

    free(ackv);
    free(batch);
    freeReplyObject(reply);

    return rc;
}


int
prov_audit_pump(prov_audit_t *a, prov_redis_t *r, size_t max,
    size_t *handled, prov_err_t *err)
{
    size_t  n;

    *handled = 0;

    if (!a->group_ok) {
        if (prov_audit_group_create(r, PROV_AUDIT_GROUP, err) != PROV_OK) {
            return PROV_ERR;
        }

        a->group_ok = 1;
    }

    while (*handled < max) {
        if (prov_audit_batch(a, r, !a->pending_done, &n, err) != PROV_OK) {
            return PROV_ERR;
        }

        *handled += n;

        if (n == 0) {
            if (a->pending_done) {
                break;
            }

            a->pending_done = 1;
        }
    }

    if (prov_audit_flush_lastused(a, r, err) != PROV_OK) {
        prov_err_prefix(err, "last_used_at");
        return PROV_ERR;
    }

    return PROV_OK;
}

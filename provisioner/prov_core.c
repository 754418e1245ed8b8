
/*
 * objspace-provisioner: errors, logging, buffers, small parsers.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <errno.h>
#include <time.h>
#include <sys/time.h>

#include <openssl/crypto.h>

#include "prov_core.h"


int  prov_log_level = PROV_LOG_INFO;


static const char  *prov_log_levels[] = { "error", "warn", "info", "debug" };


void
prov_err_set(prov_err_t *err, int code, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL) {
        return;
    }

    err->code = code;

    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}


/*
 * Prepends context to an error already set by a callee:
 * "creating user: connection refused".
 */

void
prov_err_prefix(prov_err_t *err, const char *fmt, ...)
{
    char     prefix[256], old[sizeof(err->msg)];
    size_t   n, m;
    va_list  ap;

    if (err == NULL) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);

    memcpy(old, err->msg, sizeof(old));
    old[sizeof(old) - 1] = '\0';

    n = strlen(prefix);
    if (n > sizeof(err->msg) - 3) {
        n = sizeof(err->msg) - 3;
    }

    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    n += 2;

    m = strlen(old);
    if (m > sizeof(err->msg) - 1 - n) {
        m = sizeof(err->msg) - 1 - n;
    }

    memcpy(err->msg + n, old, m);
    err->msg[n + m] = '\0';
}


/* one line per event: time, level, component, message (to stderr) */

void
prov_log(int level, const char *component, const char *fmt, ...)
{
    char            ts[32], line[1024];
    va_list         ap;
    struct tm       tm;
    struct timeval  tv;

    if (level > prov_log_level) {
        return;
    }

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);

    fprintf(stderr, "%s.%03dZ [%s] %s: %s\n", ts, (int) (tv.tv_usec / 1000),
            prov_log_levels[level], component, line);
}


void
prov_buf_init(prov_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}


int
prov_buf_append(prov_buf_t *b, const void *data, size_t len)
{
    char    *p;
    size_t   cap;

    if (b->len + len + 1 > b->cap) {
        cap = b->cap ? b->cap : 256;

        while (cap < b->len + len + 1) {
            cap *= 2;
        }

        p = malloc(cap);
        if (p == NULL) {
            return PROV_ERR;
        }

        if (b->data != NULL) {
            memcpy(p, b->data, b->len);
            prov_memzero(b->data, b->cap);
            free(b->data);
        }

        b->data = p;
        b->cap = cap;
    }

    if (len) {
        memcpy(b->data + b->len, data, len);
    }

    b->len += len;
    b->data[b->len] = '\0';

    return PROV_OK;
}


int
prov_buf_puts(prov_buf_t *b, const char *s)
{
    return prov_buf_append(b, s, strlen(s));
}


int
prov_buf_printf(prov_buf_t *b, const char *fmt, ...)
{
    int      n;
    char     small[512], *big;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);

    if (n < 0) {
        return PROV_ERR;
    }

    if ((size_t) n < sizeof(small)) {
        return prov_buf_append(b, small, n);
    }

    big = malloc(n + 1);
    if (big == NULL) {
        return PROV_ERR;
    }

    va_start(ap, fmt);
    vsnprintf(big, n + 1, fmt, ap);
    va_end(ap);

    n = prov_buf_append(b, big, n);
    free(big);

    return n;
}


void
prov_buf_reset(prov_buf_t *b)
{
    b->len = 0;

    if (b->data) {
        b->data[0] = '\0';
    }
}


void
prov_buf_free(prov_buf_t *b)
{
    free(b->data);
    prov_buf_init(b);
}


void
prov_buf_wipe(prov_buf_t *b)
{
    if (b->data) {
        prov_memzero(b->data, b->cap);
    }

    prov_buf_free(b);
}


void
prov_memzero(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}


char *
prov_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}


int64_t
prov_now(void)
{
    return (int64_t) time(NULL);
}


int
prov_parse_size(const char *s, int64_t *out, prov_err_t *err)
{
    char       *end;
    double      v;
    int64_t     mult;
    const char  *u;

    if (s == NULL || *s == '\0') {
        goto invalid;
    }

    if (strcasecmp(s, "unlimited") == 0 || strcasecmp(s, "none") == 0) {
        *out = 0;
        return PROV_OK;
    }

    if (!isdigit((unsigned char) s[0])) {
        goto invalid;
    }

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v < 0) {
        goto invalid;
    }

    u = end;
    mult = 1;

    if (*u != '\0') {
        switch (toupper((unsigned char) *u)) {
        case 'B': mult = 1; break;
        case 'K': mult = 1LL << 10; break;
        case 'M': mult = 1LL << 20; break;
        case 'G': mult = 1LL << 30; break;
        case 'T': mult = 1LL << 40; break;
        case 'P': mult = 1LL << 50; break;
        default:
            goto invalid;
        }

        u++;

        if (mult > 1) {
            if (*u == 'i' || *u == 'I') {
                u++;
            }

            if (*u == 'b' || *u == 'B') {
                u++;
            }
        }

        if (*u != '\0') {
            goto invalid;
        }
    }

    if (v * (double) mult > 9.0e18) {
        goto invalid;
    }

    if (mult == 1 && v != (double) (int64_t) v) {
        goto invalid;
    }

    *out = (int64_t) (v * (double) mult);
    return PROV_OK;

invalid:

    prov_err_set(err, PROV_E_INVAL,
                 "invalid size \"%s\" (expected e.g. 500M, 10G, 1T, "
                 "0 for unlimited)", s ? s : "");
    return PROV_ERR;
}


int
prov_parse_duration(const char *s, int64_t *out, prov_err_t *err)
{
    char       *end;
    long long   v;
    int64_t     mult;

    if (s == NULL || !isdigit((unsigned char) s[0])) {
        goto invalid;
    }

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || v <= 0) {
        goto invalid;
    }

    if (*end == '\0') {
        mult = 1;

    } else if (end[1] != '\0') {
        goto invalid;

    } else {
        switch (*end) {
        case 's': mult = 1; break;
        case 'm': mult = 60; break;
        case 'h': mult = 3600; break;
        case 'd': mult = 86400; break;
        case 'w': mult = 7 * 86400; break;
        case 'y': mult = 365 * 86400; break;
        default:
            goto invalid;
        }
    }

    if (v > 100LL * 365 * 86400 / mult) {
        goto invalid;
    }

    *out = (int64_t) v * mult;
    return PROV_OK;

invalid:

    prov_err_set(err, PROV_E_INVAL,
                 "invalid duration \"%s\" (expected e.g. 90s, 10m, 12h, "
                 "30d, 2w, 1y)", s ? s : "");
    return PROV_ERR;
}


void
prov_format_size(int64_t bytes, char *buf, size_t size)
{
    int          i;
    static const char  units[] = "KMGTP";

    if (bytes == 0) {
        snprintf(buf, size, "unlimited");
        return;
    }

    for (i = 5; i > 0; i--) {
        if (bytes % (1LL << (10 * i)) == 0) {
            snprintf(buf, size, "%lld%c",
                     (long long) (bytes >> (10 * i)), units[i - 1]);
            return;
        }
    }

    snprintf(buf, size, "%lld", (long long) bytes);
}


void
prov_format_bytes(int64_t bytes, char *buf, size_t size)
{
    int          i;
    double       v;
    static const char  *units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };

    if (bytes < 1024) {
        snprintf(buf, size, "%lld B", (long long) bytes);
        return;
    }

    v = (double) bytes / 1024;

    for (i = 0; i < 4 && v >= 1024; i++) {
        v /= 1024;
    }

    snprintf(buf, size, "%.1f %s", v, units[i]);
}


void
prov_format_time(int64_t t, char *buf, size_t size)
{
    time_t     tt;
    struct tm  tm;

    if (t == 0) {
        snprintf(buf, size, "never");
        return;
    }

    tt = (time_t) t;
    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}


int
prov_valid_slug(const char *s, size_t max)
{
    size_t  i, n;

    n = strlen(s);
    if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-') {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (!(islower((unsigned char) s[i]) || isdigit((unsigned char) s[i])
              || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}

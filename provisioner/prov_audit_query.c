
/*
 * objspace-provisioner: reading the audit trail back ("audit --tenant T"):
 * one tenant's day files under audit_dir (written by prov_audit.c), never
 * another tenant's, as JSON Lines or text with control characters
 * escaped.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <time.h>
#include <dirent.h>

#include <jansson.h>

#include "prov_audit.h"
#include "prov_state.h"


static int prov_cmp_names(const void *a, const void *b);
static const char *prov_audit_f(json_t *ev, const char *name);
static void prov_audit_print(json_t *ev);
static void prov_audit_sanitize(json_t *ev);


/* ------------------------------------------------------------ reading */


static int
prov_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


int
prov_audit_parse_since(const char *s, int64_t *ms, prov_err_t *err)
{
    int        y, mo, d, h, mi, sec, n;
    size_t     len;
    int64_t    dur;
    struct tm  tm;

    len = strlen(s);
    h = mi = sec = 0;
    n = 0;

    if (len >= 10 && s[4] == '-' && s[7] == '-'
        && (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3)
        && (s[n] == '\0'
            || (sscanf(s + n, "T%2d:%2d:%2dZ%n", &h, &mi, &sec, &n) == 3
                && s[10 + n] == '\0')))
    {
        if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59
            || sec > 60)
        {
            goto invalid;
        }

        memset(&tm, 0, sizeof(tm));
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
        *ms = (int64_t) timegm(&tm) * 1000;
        return PROV_OK;
    }

    if (len >= 9 && strspn(s, "0123456789") == len) {
        *ms = strtoll(s, NULL, 10) * 1000;
        return PROV_OK;
    }

    if (prov_parse_duration(s, &dur, NULL) == PROV_OK) {
        *ms = prov_audit_now_ms() - dur * 1000;
        return PROV_OK;
    }

invalid:

    prov_err_set(err, PROV_E_INVAL, "invalid --since \"%s\": use a date "
                 "(2024-05-01), a UTC time (2024-05-01T10:00:00Z), unix "
                 "seconds or a duration ago (90m, 12h, 7d)", s);

    return PROV_ERR;
}


/* a string field for the text output: "-" when absent or empty */

static const char *
prov_audit_f(json_t *ev, const char *name)
{
    const char  *s;

    s = json_string_value(json_object_get(ev, name));

    return (s && *s) ? s : "-";
}


/*
 * Text output only: control characters in values (an object key with a
 * newline or a terminal escape) are shown as \xNN, so a name cannot fake
 * a line or drive the terminal.
 */

static void
prov_audit_sanitize(json_t *ev)
{
    size_t       i, len;
    json_t      *v;
    prov_buf_t   b;
    const char  *k, *s;

    json_object_foreach(ev, k, v) {
        if (!json_is_string(v)) {
            continue;
        }

        s = json_string_value(v);
        len = json_string_length(v);

        for (i = 0; i < len; i++) {
            if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
                break;
            }
        }

        if (i == len) {
            continue;
        }

        prov_buf_init(&b);

        for (i = 0; i < len; i++) {
            if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
                prov_buf_printf(&b, "\\x%02x", (unsigned char) s[i]);

            } else {
                prov_buf_append(&b, &s[i], 1);
            }
        }

        json_object_set_new(ev, k, json_string(b.data ? b.data : ""));
        prov_buf_free(&b);
    }
}


static void
prov_audit_print(json_t *ev)
{
    const char  *kind;

    kind = prov_audit_f(ev, "kind");

    printf("%s %s %s", prov_audit_f(ev, "time"), kind,
           prov_audit_f(ev, "op"));

    if (strcmp(kind, "request") == 0) {
        printf(" %lld %s space=%s identity=%s key=%s ip=%s in=%lld "
               "out=%lld",
               (long long) json_integer_value(json_object_get(ev, "status")),
               prov_audit_f(ev, "decision"), prov_audit_f(ev, "space"),
               prov_audit_f(ev, "identity"), prov_audit_f(ev, "key"),
               prov_audit_f(ev, "ip"),
               (long long) json_integer_value(json_object_get(ev,
                                                              "bytes_in")),
               (long long) json_integer_value(json_object_get(ev,
                                                              "bytes_out")));

        if (strcmp(prov_audit_f(ev, "reason"), "-") != 0) {
            printf(" reason=\"%s\"", prov_audit_f(ev, "reason"));
        }

        printf(" request_id=%s", prov_audit_f(ev, "request_id"));

    } else {
        printf(" space=%s identity=%s actor=%s", prov_audit_f(ev, "space"),
               prov_audit_f(ev, "identity"), prov_audit_f(ev, "actor"));

        if (strcmp(prov_audit_f(ev, "detail"), "-") != 0) {
            printf(" detail=\"%s\"", prov_audit_f(ev, "detail"));
        }

        if (json_is_integer(json_object_get(ev, "revision"))) {
            printf(" revision=%lld", (long long) json_integer_value(
                                         json_object_get(ev, "revision")));
        }
    }

    putchar('\n');
}


/*
 * Reads only {audit_dir}/{tenant}/: the tenant is a slug (no '/', no
 * "..", never "_unattributed"), and every line's own tenant field must
 * match too, so a misfiled line cannot leak another tenant's names.
 */

int
prov_audit_query(const prov_config_t *cf, const prov_audit_query_t *q,
    prov_err_t *err)
{
    int            rc, first;
    FILE          *f;
    DIR           *d;
    char           dir[4096], path[4200], since_day[16], **names, *line;
    size_t         n, nalloc, i, cap, foreign;
    ssize_t        len;
    json_t        *j;
    time_t         tt;
    struct tm      tm;
    json_error_t   jerr;
    struct dirent *de;
    const char    *s;

    if (!prov_valid_slug(q->tenant, PROV_SLUG_MAX)) {
        prov_err_set(err, PROV_E_INVAL, "invalid tenant \"%s\"", q->tenant);
        return PROV_ERR;
    }

    snprintf(dir, sizeof(dir), "%s/%s", cf->audit_dir, q->tenant);

    names = NULL;
    n = nalloc = 0;
    line = NULL;
    cap = 0;
    foreign = 0;
    first = 1;
    rc = PROV_ERR;

    since_day[0] = '\0';

    if (q->since_ms > 0) {
        tt = (time_t) (q->since_ms / 1000);
        gmtime_r(&tt, &tm);
        strftime(since_day, sizeof(since_day), "%Y-%m-%d", &tm);
    }

    d = opendir(dir);

    if (d == NULL && errno != ENOENT) {
        prov_err_set(err, PROV_E_SYS, "audit: \"%s\": %s", dir,
                     strerror(errno));
        return PROV_ERR;
    }

    while (d && (de = readdir(d)) != NULL) {
        if (!prov_is_day_file(de->d_name)
            || strncmp(de->d_name, since_day, 10) < 0)
        {
            continue;
        }

        if (n == nalloc) {
            char  **p;

            p = realloc(names, (nalloc ? nalloc * 2 : 16) * sizeof(char *));
            if (p == NULL) {
                prov_err_set(err, PROV_E_SYS, "out of memory");
                goto done;
            }

            names = p;
            nalloc = nalloc ? nalloc * 2 : 16;
        }

        names[n] = strdup(de->d_name);
        if (names[n] == NULL) {
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }

        n++;
    }

    if (n) {
        qsort(names, n, sizeof(char *), prov_cmp_names);
    }

    if (q->json) {
        fputs("[", stdout);
    }

    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);

        f = fopen(path, "r");
        if (f == NULL) {
            prov_err_set(err, PROV_E_SYS, "audit: \"%s\": %s", path,
                         strerror(errno));
            goto done;
        }

        while ((len = getline(&line, &cap, f)) > 0) {
            j = json_loadb(line, (size_t) len, 0, &jerr);
            if (j == NULL) {
                continue;
            }

            s = json_string_value(json_object_get(j, "tenant"));

            if (s == NULL || strcmp(s, q->tenant) != 0) {
                foreign++;
                json_decref(j);
                continue;
            }

            if ((q->since_ms
                 && json_integer_value(json_object_get(j, "ts")) < q->since_ms)
                || (q->space
                    && ((s = json_string_value(json_object_get(j, "space")))
                        == NULL || strcmp(s, q->space) != 0))
                || (q->identity
                    && ((s = json_string_value(json_object_get(j,
                                                               "identity")))
                        == NULL || strcmp(s, q->identity) != 0)))
            {
                json_decref(j);
                continue;
            }

            if (q->json) {
                fputs(first ? "\n" : ",\n", stdout);
                json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);

            } else {
                prov_audit_sanitize(j);
                prov_audit_print(j);
            }

            first = 0;
            json_decref(j);
        }

        fclose(f);
    }

    if (q->json) {
        fputs(first ? "]\n" : "\n]\n", stdout);
    }

    if (foreign) {
        prov_log(PROV_LOG_WARN, "audit", "%zu lines of another tenant in "
                 "\"%s\" were not shown", foreign, dir);
    }

    rc = PROV_OK;

done:

    if (d) {
        closedir(d);
    }

    for (i = 0; i < n; i++) {
        free(names[i]);
    }

    free(names);
    free(line);

    return rc;
}

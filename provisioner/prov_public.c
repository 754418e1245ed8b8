
/*
 * objspace-provisioner: public web/CDN access of a space (prov_public.h).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov_public.h"
#include "prov_audit.h"


typedef prov_public_names_t  prov_public_state_t;


static int prov_public_state(prov_ctx_t *ctx, prov_space_t *sp,
    prov_public_state_t *st, prov_err_t *err);
static int prov_public_claim(prov_ctx_t *ctx, const char *fmt,
    const char *name, const char *what, prov_space_t *sp, prov_err_t *err);
static int prov_public_valid_name(const char *s, size_t max, int host);
static int prov_public_valid_value(const char *what, const char *v,
    prov_err_t *err);
static int prov_public_rule_text(const prov_public_req_t *req,
    prov_buf_t *b, prov_err_t *err);
static int prov_public_rules(prov_ctx_t *ctx, prov_space_t *sp,
    redisReply **reply, prov_err_t *err);
static json_t *prov_public_rule_json(const char *text);


int
prov_public_set(prov_ctx_t *ctx, prov_space_t *sp, int on,
    const prov_public_req_t *req, prov_err_t *err)
{
    int                  rc, exists, left;
    char                 key[64], rules[64], k2[200];
    size_t               i;
    const char          *prefix, *slug, *host;
    prov_buf_t           text;
    redisReply          *r;
    prov_public_state_t  st;

    prefix = req->prefix ? req->prefix : "";
    rc = PROV_ERR;
    r = NULL;
    prov_buf_init(&text);

    if (strlen(prefix) > 1024
        || prov_public_valid_value("--prefix", prefix, err) != PROV_OK)
    {
        if (err->code == PROV_E_NONE) {
            prov_err_set(err, PROV_E_INVAL, "--prefix is too long");
        }
        return PROV_ERR;
    }

    if (req->slug
        && !prov_public_valid_name(req->slug, PROV_PUBLIC_SLUG_MAX, 0))
    {
        prov_err_set(err, PROV_E_INVAL, "invalid --slug \"%s\": 1-63 of "
                     "a-z, 0-9, '-', '.', '_' (not \".\" or \"..\")",
                     req->slug);
        return PROV_ERR;
    }

    if (req->host && *req->host
        && !prov_public_valid_name(req->host, PROV_PUBLIC_HOST_MAX, 1))
    {
        prov_err_set(err, PROV_E_INVAL, "invalid --host \"%s\": a lowercase "
                     "DNS name of at most 126 characters", req->host);
        return PROV_ERR;
    }

    if (on && prov_public_rule_text(req, &text, err) != PROV_OK) {
        goto done;
    }

    if (prov_public_state(ctx, sp, &st, err) != PROV_OK) {
        goto done;
    }

    snprintf(key, sizeof(key), PROV_K_SPACE, sp->id);
    snprintf(rules, sizeof(rules), PROV_K_PUBLIC, sp->id);

    slug = NULL;
    host = NULL;
    left = 1;

    if (on) {
        if (prov_public_rules(ctx, sp, &r, err) != PROV_OK) {
            goto done;
        }

        exists = 0;

        for (i = 0; i + 1 < r->elements; i += 2) {
            if (strcmp(r->element[i]->str, prefix) == 0) {
                exists = 1;
            }
        }

        if (!exists && r->elements / 2 >= PROV_PUBLIC_RULES_MAX) {
            prov_err_set(err, PROV_E_INVAL, "space %s has %d public rules "
                         "already (the maximum)", sp->id,
                         PROV_PUBLIC_RULES_MAX);
            goto done;
        }

        slug = req->slug ? req->slug : (st.slug[0] ? st.slug : sp->bucket);

        if (!prov_public_valid_name(slug, PROV_PUBLIC_SLUG_MAX, 0)) {
            prov_err_set(err, PROV_E_INVAL, "the bucket \"%s\" is not a "
                         "valid slug: give --slug", slug);
            goto done;
        }

        if (strcmp(slug, st.slug) != 0
            && prov_public_claim(ctx, PROV_K_SLUG, slug, "slug", sp, err)
               != PROV_OK)
        {
            goto done;
        }

        if (req->host && *req->host && strcmp(req->host, st.host) != 0) {
            if (prov_public_claim(ctx, PROV_K_PUBHOST, req->host, "host", sp,
                                  err)
                != PROV_OK)
            {
                goto done;
            }

            host = req->host;
        }

    } else {
        if (prov_public_rules(ctx, sp, &r, err) != PROV_OK) {
            goto done;
        }

        exists = 0;

        for (i = 0; i + 1 < r->elements; i += 2) {
            if (strcmp(r->element[i]->str, prefix) == 0) {
                exists = 1;
            }
        }

        if (req->prefix && !exists) {
            prov_err_set(err, PROV_E_NOTFOUND, "space %s has no public rule "
                         "for prefix \"%s\"", sp->id, prefix);
            goto done;
        }

        left = req->prefix ? (int) (r->elements / 2) - 1 : 0;
    }

    if (prov_redis_tx_begin(&ctx->redis, err) != PROV_OK) {
        goto done;
    }

    if (on) {
        prov_redis_tx_append(&ctx->redis, "HSET %s %s %s", rules, prefix,
                             text.data ? text.data : "");
        prov_redis_tx_append(&ctx->redis, "HSET %s visibility public "
                             "public_slug %s", key, slug);

        if (strcmp(slug, st.slug) != 0) {
            if (st.slug[0]) {
                snprintf(k2, sizeof(k2), PROV_K_SLUG, st.slug);
                prov_redis_tx_append(&ctx->redis, "DEL %s", k2);
                prov_redis_tx_append(&ctx->redis, "PUBLISH %s slug:%s",
                                     PROV_CHANNEL, st.slug);
            }

            prov_redis_tx_append(&ctx->redis, "PUBLISH %s slug:%s",
                                 PROV_CHANNEL, slug);
        }

        if (host) {
            if (st.host[0]) {
                snprintf(k2, sizeof(k2), PROV_K_PUBHOST, st.host);
                prov_redis_tx_append(&ctx->redis, "DEL %s", k2);
                prov_redis_tx_append(&ctx->redis, "PUBLISH %s host:%s",
                                     PROV_CHANNEL, st.host);
            }

            prov_redis_tx_append(&ctx->redis, "HSET %s public_host %s", key,
                                 host);
            prov_redis_tx_append(&ctx->redis, "PUBLISH %s host:%s",
                                 PROV_CHANNEL, host);
        }

    } else {
        if (req->prefix) {
            prov_redis_tx_append(&ctx->redis, "HDEL %s %s", rules, prefix);

        } else {
            prov_redis_tx_append(&ctx->redis, "DEL %s", rules);
        }

        if (left <= 0) {
            prov_redis_tx_append(&ctx->redis, "HSET %s visibility private",
                                 key);
        }
    }

    prov_redis_tx_append(&ctx->redis, "HINCRBY %s public_gen 1", key);
    prov_redis_tx_append(&ctx->redis, "PUBLISH %s space:%s", PROV_CHANNEL,
                         sp->id);
    prov_audit_tx(&ctx->redis, ctx->actor, "public.changed", sp->tenant,
                  sp->id, sp->bucket, NULL,
                  on ? "public" : (left > 0 ? "prefix private" : "private"));

    if (prov_redis_tx_exec(&ctx->redis, err) != PROV_OK) {
        goto done;
    }

    strcpy(sp->visibility, (on || left > 0) ? "public" : "private");

    prov_log(PROV_LOG_INFO, "public", "space %s: prefix \"%s\" %s", sp->id,
             prefix, on ? "published" : "unpublished");

    rc = PROV_OK;

done:

    if (r) {
        freeReplyObject(r);
    }

    prov_buf_free(&text);

    return rc;
}


int
prov_public_json(prov_ctx_t *ctx, prov_space_t *sp, json_t *j,
    prov_err_t *err)
{
    char                 url[512];
    size_t               i;
    json_t              *rules;
    const char          *web, *scheme;
    redisReply          *r;
    prov_public_state_t  st;

    if (prov_public_state(ctx, sp, &st, err) != PROV_OK
        || prov_public_rules(ctx, sp, &r, err) != PROV_OK)
    {
        return PROV_ERR;
    }

    web = ctx->cf.web_endpoint;
    rules = json_object();

    for (i = 0; i + 1 < r->elements; i += 2) {
        json_object_set_new(rules, r->element[i]->str,
                            prov_public_rule_json(r->element[i + 1]->str));
    }

    freeReplyObject(r);

    json_object_set_new(j, "public_rules", rules);
    json_object_set_new(j, "public_slug",
                        st.slug[0] ? json_string(st.slug) : json_null());
    json_object_set_new(j, "public_host",
                        st.host[0] ? json_string(st.host) : json_null());

    if (web && *web && st.slug[0]) {
        snprintf(url, sizeof(url), "%s%s%s/", web,
                 web[strlen(web) - 1] == '/' ? "" : "/", st.slug);
        json_object_set_new(j, "public_base_url", json_string(url));

    } else {
        json_object_set_new(j, "public_base_url", json_null());
    }

    if (st.host[0]) {
        scheme = (web && strncmp(web, "http://", 7) == 0) ? "http"
                                                           : "https";
        snprintf(url, sizeof(url), "%s://%s/", scheme, st.host);
        json_object_set_new(j, "public_host_url", json_string(url));

    } else {
        json_object_set_new(j, "public_host_url", json_null());
    }

    return PROV_OK;
}


int
prov_public_print(prov_ctx_t *ctx, prov_space_t *sp, prov_err_t *err)
{
    json_t      *j, *rules, *v;
    const char  *prefix, *url;

    j = json_object();
    if (j == NULL) {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        return PROV_ERR;
    }

    if (prov_public_json(ctx, sp, j, err) != PROV_OK) {
        json_decref(j);
        return PROV_ERR;
    }

    url = json_string_value(json_object_get(j, "public_base_url"));
    printf("Public URL: %s\n", url ? url : "(no web_endpoint configured)");

    url = json_string_value(json_object_get(j, "public_host_url"));
    if (url) {
        printf("Public host URL: %s\n", url);
    }

    rules = json_object_get(j, "public_rules");

    json_object_foreach(rules, prefix, v) {
        char  *s;

        s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        printf("Public prefix \"%s\": %s\n", prefix, s ? s : "{}");
        free(s);
    }

    json_decref(j);

    return PROV_OK;
}


int
prov_public_names(prov_ctx_t *ctx, prov_space_t *sp,
    prov_public_names_t *names, prov_err_t *err)
{
    return prov_public_state(ctx, sp, names, err);
}


void
prov_public_forget_tx(prov_ctx_t *ctx, prov_space_t *sp,
    const prov_public_names_t *names)
{
    static const char  *del_if_ours =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "return redis.call('DEL', KEYS[1]) end return 0";

    char  key[200];

    snprintf(key, sizeof(key), PROV_K_PUBLIC, sp->id);
    prov_redis_tx_append(&ctx->redis, "DEL %s", key);

    if (names->slug[0]) {
        snprintf(key, sizeof(key), PROV_K_SLUG, names->slug);
        prov_redis_tx_append(&ctx->redis, "EVAL %s 1 %s %s", del_if_ours,
                             key, sp->id);
        prov_redis_tx_append(&ctx->redis, "PUBLISH %s slug:%s", PROV_CHANNEL,
                             names->slug);
    }

    if (names->host[0]) {
        snprintf(key, sizeof(key), PROV_K_PUBHOST, names->host);
        prov_redis_tx_append(&ctx->redis, "EVAL %s 1 %s %s", del_if_ours,
                             key, sp->id);
        prov_redis_tx_append(&ctx->redis, "PUBLISH %s host:%s", PROV_CHANNEL,
                             names->host);
    }
}


/* the space's public_slug and public_host fields */

static int
prov_public_state(prov_ctx_t *ctx, prov_space_t *sp, prov_public_state_t *st,
    prov_err_t *err)
{
    redisReply  *r;

    memset(st, 0, sizeof(prov_public_state_t));

    r = prov_redis_cmd(&ctx->redis, err, "HMGET " PROV_K_SPACE
                       " public_slug public_host", sp->id);
    if (r == NULL) {
        return PROV_ERR;
    }

    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        if (r->element[0]->type == REDIS_REPLY_STRING) {
            snprintf(st->slug, sizeof(st->slug), "%s", r->element[0]->str);
        }

        if (r->element[1]->type == REDIS_REPLY_STRING) {
            snprintf(st->host, sizeof(st->host), "%s", r->element[1]->str);
        }
    }

    freeReplyObject(r);

    return PROV_OK;
}


/* HGETALL objspace:public:{id}: a flat array of strings (caller frees) */

static int
prov_public_rules(prov_ctx_t *ctx, prov_space_t *sp, redisReply **reply,
    prov_err_t *err)
{
    size_t       i;
    redisReply  *r;

    r = prov_redis_cmd(&ctx->redis, err, "HGETALL " PROV_K_PUBLIC, sp->id);
    if (r == NULL) {
        return PROV_ERR;
    }

    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        prov_err_set(err, PROV_E_REDIS, "unexpected reply to HGETALL");
        return PROV_ERR;
    }

    for (i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            freeReplyObject(r);
            prov_err_set(err, PROV_E_REDIS, "unexpected reply to HGETALL");
            return PROV_ERR;
        }
    }

    *reply = r;

    return PROV_OK;
}


/*
 * Claims objspace:slug:{name} (or :pubhost:) for the space: SET NX, so of
 * two spaces claiming one name only one wins; a name the space already
 * holds is fine.
 */

static int
prov_public_claim(prov_ctx_t *ctx, const char *fmt, const char *name,
    const char *what, prov_space_t *sp, prov_err_t *err)
{
    int          owned;
    char         key[200];
    redisReply  *r;

    snprintf(key, sizeof(key), fmt, name);

    r = prov_redis_cmd(&ctx->redis, err, "SET %s %s NX", key, sp->id);
    if (r == NULL) {
        return PROV_ERR;
    }

    owned = (r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);

    if (owned) {
        return PROV_OK;
    }

    r = prov_redis_cmd(&ctx->redis, err, "GET %s", key);
    if (r == NULL) {
        return PROV_ERR;
    }

    owned = (r->type == REDIS_REPLY_STRING && strcmp(r->str, sp->id) == 0);
    freeReplyObject(r);

    if (!owned) {
        prov_err_set(err, PROV_E_EXISTS, "public %s \"%s\" is taken by "
                     "another space", what, name);
        return PROV_ERR;
    }

    return PROV_OK;
}


/* a slug ([a-z0-9._-], not "." or "..") or a host name ([a-z0-9.-]) */

static int
prov_public_valid_name(const char *s, size_t max, int host)
{
    size_t  i, n;

    n = strlen(s);

    if (n == 0 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '-' || s[i] == '.' || (!host && s[i] == '_')))
        {
            return 0;
        }
    }

    return 1;
}


/* no control characters (the rule text is "name=value" lines) */

static int
prov_public_valid_value(const char *what, const char *v, prov_err_t *err)
{
    const unsigned char  *p;

    if (strlen(v) > PROV_PUBLIC_VALUE_MAX) {
        prov_err_set(err, PROV_E_INVAL, "%s is too long", what);
        return PROV_ERR;
    }

    for (p = (const unsigned char *) v; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            prov_err_set(err, PROV_E_INVAL, "%s contains a control "
                         "character", what);
            return PROV_ERR;
        }
    }

    return PROV_OK;
}


/* the rule's text, docs/redis-schema.md ("name=value" lines) */

static int
prov_public_rule_text(const prov_public_req_t *req, prov_buf_t *b,
    prov_err_t *err)
{
    size_t       i;
    const char  *v;

    static const struct {
        const char  *opt;
        const char  *name;
        size_t       off;
    } fields[] = {
        { "--cache-control", "cache_control",
          offsetof(prov_public_req_t, cache_control) },
        { "--index", "index", offsetof(prov_public_req_t, index) },
        { "--error-page", "error_page",
          offsetof(prov_public_req_t, error_page) },
        { "--cors", "cors", offsetof(prov_public_req_t, cors) },
        { "--types", "types", offsetof(prov_public_req_t, types) }
    };

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        v = *(const char **) ((const char *) req + fields[i].off);

        if (v == NULL || *v == '\0') {
            continue;
        }

        if (prov_public_valid_value(fields[i].opt, v, err) != PROV_OK) {
            return PROV_ERR;
        }

        if (prov_buf_printf(b, "%s=%s\n", fields[i].name, v) != PROV_OK) {
            goto nomem;
        }
    }

    if (req->index && (strchr(req->index, '/') || *req->index == '\0')) {
        prov_err_set(err, PROV_E_INVAL, "--index is a file name "
                     "(index.html), not a path");
        return PROV_ERR;
    }

    if ((req->immutable && prov_buf_puts(b, "immutable=1\n") != PROV_OK)
        || (req->listing && prov_buf_puts(b, "listing=1\n") != PROV_OK))
    {
        goto nomem;
    }

    return PROV_OK;

nomem:

    prov_err_set(err, PROV_E_SYS, "out of memory");
    return PROV_ERR;
}


/* "name=value" lines to {"name": value}; 1/0 options as booleans */

static json_t *
prov_public_rule_json(const char *text)
{
    char        *copy, *line, *save, *eq;
    json_t      *o;

    o = json_object();
    copy = prov_strdup(text);

    if (o == NULL || copy == NULL) {
        free(copy);
        return o;
    }

    for (line = strtok_r(copy, "\n", &save);
         line;
         line = strtok_r(NULL, "\n", &save))
    {
        eq = strchr(line, '=');
        if (eq == NULL) {
            continue;
        }

        *eq++ = '\0';

        if (strcmp(line, "immutable") == 0 || strcmp(line, "listing") == 0) {
            json_object_set_new(o, line, json_boolean(strcmp(eq, "1") == 0));

        } else {
            json_object_set_new(o, line, json_string(eq));
        }
    }

    free(copy);

    return o;
}

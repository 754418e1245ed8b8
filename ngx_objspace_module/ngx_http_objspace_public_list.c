
/*
 * Copyright (C) objspace authors
 *
 * Listings of the public frontend: the backend's ListObjectsV2 answer
 * (XML, parsed with expat as it streams) rendered as an HTML or JSON index
 * of one prefix, with a next-page link past objspace_public_list_limit
 * entries.  See docs/public.md, "Responses".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <expat.h>

#include "ngx_http_objspace_public.h"


#define NGX_HTTP_OBJSPACE_PUBLIC_MAX_TEXT   4096


/* listing XML fields being collected */
enum {
    NGX_HTTP_OBJSPACE_PL_NONE = 0,
    NGX_HTTP_OBJSPACE_PL_KEY,
    NGX_HTTP_OBJSPACE_PL_SIZE,
    NGX_HTTP_OBJSPACE_PL_MTIME,
    NGX_HTTP_OBJSPACE_PL_ETAG,
    NGX_HTTP_OBJSPACE_PL_PREFIX,
    NGX_HTTP_OBJSPACE_PL_TOKEN
};


typedef struct {
    ngx_str_t                   key;
    ngx_str_t                   size;
    ngx_str_t                   mtime;
    ngx_str_t                   etag;
    unsigned                    dir:1;
} ngx_http_objspace_public_entry_t;


struct ngx_http_objspace_public_list_s {
    XML_Parser                  parser;
    ngx_pool_t                 *pool;
    ngx_array_t                 entries;   /* ..._public_entry_t */
    ngx_http_objspace_public_entry_t  cur;
    ngx_str_t                   token;
    ngx_uint_t                  field;
    size_t                      text_len;
    unsigned                    in_contents:1;
    unsigned                    in_prefixes:1;
    unsigned                    failed:1;
    u_char                      text[NGX_HTTP_OBJSPACE_PUBLIC_MAX_TEXT];
};



static void XMLCALL ngx_http_objspace_public_xml_start(void *data,
    const XML_Char *name, const XML_Char **atts);
static void XMLCALL ngx_http_objspace_public_xml_end(void *data,
    const XML_Char *name);
static void XMLCALL ngx_http_objspace_public_xml_text(void *data,
    const XML_Char *s, int len);
static ngx_chain_t *ngx_http_objspace_public_render(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx);
static u_char *ngx_http_objspace_public_escape_html(u_char *dst,
    ngx_str_t *s);
static u_char *ngx_http_objspace_public_escape_json(u_char *dst,
    ngx_str_t *s);


/*
 * Feeds the backend's ListObjectsV2 XML to the parser as it passes (the
 * buffers are consumed); at the last buffer, *out gets the rendered page
 * (else NULL).
 */

ngx_int_t
ngx_http_objspace_public_list_body(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx, ngx_chain_t *in, ngx_chain_t **out)
{
    ngx_buf_t                        *b;
    ngx_uint_t                        last;
    ngx_chain_t                      *cl;
    ngx_http_objspace_public_list_t  *pl;

    *out = NULL;
    pl = ctx->list;
    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b) && b->last > b->pos && !pl->failed) {
            if (XML_Parse(pl->parser, (const char *) b->pos,
                          (int) (b->last - b->pos), 0)
                != XML_STATUS_OK)
            {
                pl->failed = 1;
            }
        }

        b->pos = b->last;

        if (b->last_buf) {
            last = 1;
        }
    }

    if (!last || ctx->sent) {
        return NGX_OK;
    }

    ctx->sent = 1;

    if (!pl->failed
        && XML_Parse(pl->parser, NULL, 0, 1) != XML_STATUS_OK)
    {
        pl->failed = 1;
    }

    if (pl->failed) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "objspace public: listing of space %V: the backend "
                      "answer could not be parsed", &ctx->ps->id.space);
    }

    *out = ngx_http_objspace_public_render(r, ctx);

    return (*out == NULL) ? NGX_ERROR : NGX_OK;
}


ngx_int_t
ngx_http_objspace_public_list_start(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    ngx_pool_cleanup_t               *cln;
    ngx_http_objspace_public_list_t  *pl;

    pl = ngx_pcalloc(r->pool, sizeof(ngx_http_objspace_public_list_t));
    if (pl == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&pl->entries, r->pool, 64,
                       sizeof(ngx_http_objspace_public_entry_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    pl->parser = XML_ParserCreate(NULL);
    if (pl->parser == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_objspace_public_list_free;
    cln->data = pl;

    pl->pool = r->pool;

    XML_SetUserData(pl->parser, pl);
    XML_SetElementHandler(pl->parser, ngx_http_objspace_public_xml_start,
                          ngx_http_objspace_public_xml_end);
    XML_SetCharacterDataHandler(pl->parser,
                                ngx_http_objspace_public_xml_text);

    ctx->list = pl;

    return NGX_OK;
}


void
ngx_http_objspace_public_list_free(void *data)
{
    ngx_http_objspace_public_list_t  *pl = data;

    if (pl->parser) {
        XML_ParserFree(pl->parser);
        pl->parser = NULL;
    }
}


static void XMLCALL
ngx_http_objspace_public_xml_start(void *data, const XML_Char *name,
    const XML_Char **atts)
{
    ngx_http_objspace_public_list_t  *pl = data;

    ngx_uint_t  field;

    field = NGX_HTTP_OBJSPACE_PL_NONE;

    if (ngx_strcmp(name, "Contents") == 0) {
        pl->in_contents = 1;
        ngx_memzero(&pl->cur, sizeof(ngx_http_objspace_public_entry_t));

    } else if (ngx_strcmp(name, "CommonPrefixes") == 0) {
        pl->in_prefixes = 1;
        ngx_memzero(&pl->cur, sizeof(ngx_http_objspace_public_entry_t));
        pl->cur.dir = 1;

    } else if (pl->in_contents) {
        if (ngx_strcmp(name, "Key") == 0) {
            field = NGX_HTTP_OBJSPACE_PL_KEY;

        } else if (ngx_strcmp(name, "Size") == 0) {
            field = NGX_HTTP_OBJSPACE_PL_SIZE;

        } else if (ngx_strcmp(name, "LastModified") == 0) {
            field = NGX_HTTP_OBJSPACE_PL_MTIME;

        } else if (ngx_strcmp(name, "ETag") == 0) {
            field = NGX_HTTP_OBJSPACE_PL_ETAG;
        }

    } else if (pl->in_prefixes) {
        if (ngx_strcmp(name, "Prefix") == 0) {
            field = NGX_HTTP_OBJSPACE_PL_PREFIX;
        }

    } else if (ngx_strcmp(name, "NextContinuationToken") == 0) {
        field = NGX_HTTP_OBJSPACE_PL_TOKEN;
    }

    pl->field = field;
    pl->text_len = 0;
}


static void XMLCALL
ngx_http_objspace_public_xml_text(void *data, const XML_Char *s, int len)
{
    ngx_http_objspace_public_list_t  *pl = data;

    if (pl->field == NGX_HTTP_OBJSPACE_PL_NONE || len <= 0) {
        return;
    }

    if (pl->text_len + len > sizeof(pl->text)) {
        pl->failed = 1;
        XML_StopParser(pl->parser, XML_FALSE);
        return;
    }

    ngx_memcpy(pl->text + pl->text_len, s, len);
    pl->text_len += len;
}


static void XMLCALL
ngx_http_objspace_public_xml_end(void *data, const XML_Char *name)
{
    ngx_http_objspace_public_list_t  *pl = data;

    ngx_str_t                          s, *dst;
    ngx_http_objspace_public_entry_t  *e;

    if (pl->field != NGX_HTTP_OBJSPACE_PL_NONE) {
        s.len = pl->text_len;
        s.data = ngx_pnalloc(pl->pool, s.len + 1);
        if (s.data == NULL) {
            pl->failed = 1;
            XML_StopParser(pl->parser, XML_FALSE);
            return;
        }

        ngx_memcpy(s.data, pl->text, s.len);

        switch (pl->field) {
        case NGX_HTTP_OBJSPACE_PL_KEY:
        case NGX_HTTP_OBJSPACE_PL_PREFIX:
            dst = &pl->cur.key;
            break;
        case NGX_HTTP_OBJSPACE_PL_SIZE:
            dst = &pl->cur.size;
            break;
        case NGX_HTTP_OBJSPACE_PL_MTIME:
            dst = &pl->cur.mtime;
            break;
        case NGX_HTTP_OBJSPACE_PL_ETAG:
            dst = &pl->cur.etag;
            break;
        default: /* NGX_HTTP_OBJSPACE_PL_TOKEN */
            dst = &pl->token;
        }

        *dst = s;
        pl->field = NGX_HTTP_OBJSPACE_PL_NONE;
        return;
    }

    if ((pl->in_contents && ngx_strcmp(name, "Contents") == 0)
        || (pl->in_prefixes && ngx_strcmp(name, "CommonPrefixes") == 0))
    {
        pl->in_contents = 0;
        pl->in_prefixes = 0;

        if (pl->cur.key.len == 0) {
            return;
        }

        e = ngx_array_push(&pl->entries);
        if (e == NULL) {
            pl->failed = 1;
            XML_StopParser(pl->parser, XML_FALSE);
            return;
        }

        *e = pl->cur;
    }
}


/*
 * The index page: names relative to the listed prefix, links
 * percent-encoded, text HTML- or JSON-escaped; "?page=TOKEN" for the next
 * page when the backend has more.
 */

static ngx_chain_t *
ngx_http_objspace_public_render(ngx_http_request_t *r,
    ngx_http_objspace_public_ctx_t *ctx)
{
    u_char                            *p;
    size_t                             len;
    ngx_buf_t                         *b;
    ngx_str_t                          name, title;
    ngx_uint_t                         i, first;
    ngx_chain_t                       *cl;
    ngx_http_objspace_public_list_t   *pl;
    ngx_http_objspace_public_entry_t  *e;

    pl = ctx->list;
    e = pl->entries.elts;

    title.len = ctx->base.len + ctx->key.len;
    title.data = ngx_pnalloc(r->pool, title.len);
    if (title.data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(title.data, ctx->base.data, ctx->base.len);
    ngx_memcpy(p, ctx->key.data, ctx->key.len);

    /* worst case: every byte escaped (6 bytes in JSON, 3 * 6 in a link) */

    len = 1024 + 24 * title.len + 24 * pl->token.len;

    for (i = 0; i < pl->entries.nelts; i++) {
        len += 256 + 24 * e[i].key.len + e[i].size.len + e[i].mtime.len
               + 6 * e[i].etag.len;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    if (ctx->json) {
        p = ngx_cpymem(p, "{\"prefix\":\"", sizeof("{\"prefix\":\"") - 1);
        p = ngx_http_objspace_public_escape_json(p, &ctx->key);
        p = ngx_cpymem(p, "\",\"directories\":[",
                       sizeof("\",\"directories\":[") - 1);

        first = 1;

        for (i = 0; i < pl->entries.nelts; i++) {
            if (!e[i].dir || e[i].key.len <= ctx->key.len) {
                continue;
            }

            name.data = e[i].key.data + ctx->key.len;
            name.len = e[i].key.len - ctx->key.len;

            if (!first) {
                *p++ = ',';
            }

            first = 0;
            *p++ = '"';
            p = ngx_http_objspace_public_escape_json(p, &name);
            *p++ = '"';
        }

        p = ngx_cpymem(p, "],\"objects\":[", sizeof("],\"objects\":[") - 1);

        first = 1;

        for (i = 0; i < pl->entries.nelts; i++) {
            if (e[i].dir || e[i].key.len <= ctx->key.len) {
                continue;
            }

            name.data = e[i].key.data + ctx->key.len;
            name.len = e[i].key.len - ctx->key.len;

            if (!first) {
                *p++ = ',';
            }

            first = 0;
            p = ngx_cpymem(p, "{\"name\":\"", sizeof("{\"name\":\"") - 1);
            p = ngx_http_objspace_public_escape_json(p, &name);
            p = ngx_sprintf(p, "\",\"size\":%uL,\"last_modified\":\"",
                            (uint64_t) ngx_max(ngx_atoof(e[i].size.data,
                                                         e[i].size.len),
                                               0));
            p = ngx_http_objspace_public_escape_json(p, &e[i].mtime);
            p = ngx_cpymem(p, "\",\"etag\":\"", sizeof("\",\"etag\":\"") - 1);
            p = ngx_http_objspace_public_escape_json(p, &e[i].etag);
            p = ngx_cpymem(p, "\"}", 2);
        }

        p = ngx_cpymem(p, "],\"next_page\":", sizeof("],\"next_page\":") - 1);

        if (pl->token.len) {
            *p++ = '"';
            p = ngx_http_objspace_public_escape_json(p, &pl->token);
            *p++ = '"';

        } else {
            p = ngx_cpymem(p, "null", 4);
        }

        p = ngx_cpymem(p, ",\"complete\":", sizeof(",\"complete\":") - 1);
        p = pl->failed ? ngx_cpymem(p, "false", 5) : ngx_cpymem(p, "true", 4);
        p = ngx_cpymem(p, "}\n", 2);

    } else {
        p = ngx_cpymem(p, "<!DOCTYPE html>\n<html><head>"
                       "<meta charset=\"utf-8\"><title>Index of ",
                       sizeof("<!DOCTYPE html>\n<html><head><meta "
                              "charset=\"utf-8\"><title>Index of ") - 1);
        p = ngx_http_objspace_public_escape_html(p, &title);
        p = ngx_cpymem(p, "</title></head>\n<body><h1>Index of ",
                       sizeof("</title></head>\n<body><h1>Index of ") - 1);
        p = ngx_http_objspace_public_escape_html(p, &title);
        p = ngx_cpymem(p, "</h1>\n<table>\n",
                       sizeof("</h1>\n<table>\n") - 1);

        if (ctx->key.len) {
            p = ngx_cpymem(p, "<tr><td><a href=\"../\">../</a></td>"
                           "<td></td><td></td></tr>\n",
                           sizeof("<tr><td><a href=\"../\">../</a></td>"
                                  "<td></td><td></td></tr>\n") - 1);
        }

        for (i = 0; i < pl->entries.nelts; i++) {
            if (e[i].key.len <= ctx->key.len) {
                continue;
            }

            name.data = e[i].key.data + ctx->key.len;
            name.len = e[i].key.len - ctx->key.len;

            p = ngx_cpymem(p, "<tr><td><a href=\"./",
                           sizeof("<tr><td><a href=\"./") - 1);
            p = ngx_http_objspace_sigv4_uri_encode(p, name.data, name.len, 1);
            p = ngx_cpymem(p, "\">", 2);
            p = ngx_http_objspace_public_escape_html(p, &name);
            p = ngx_cpymem(p, "</a></td><td>", sizeof("</a></td><td>") - 1);

            if (e[i].dir) {
                *p++ = '-';

            } else {
                p = ngx_http_objspace_public_escape_html(p, &e[i].size);
            }

            p = ngx_cpymem(p, "</td><td>", sizeof("</td><td>") - 1);
            p = ngx_http_objspace_public_escape_html(p, &e[i].mtime);
            p = ngx_cpymem(p, "</td></tr>\n", sizeof("</td></tr>\n") - 1);
        }

        p = ngx_cpymem(p, "</table>\n", sizeof("</table>\n") - 1);

        if (pl->token.len) {
            p = ngx_cpymem(p, "<p><a rel=\"next\" href=\"?page=",
                           sizeof("<p><a rel=\"next\" href=\"?page=") - 1);
            p = ngx_http_objspace_sigv4_uri_encode(p, pl->token.data,
                                                   pl->token.len, 0);
            p = ngx_cpymem(p, "\">next page</a></p>\n",
                           sizeof("\">next page</a></p>\n") - 1);
        }

        if (pl->failed) {
            p = ngx_cpymem(p, "<p>(incomplete)</p>\n",
                           sizeof("<p>(incomplete)</p>\n") - 1);
        }

        p = ngx_cpymem(p, "</body></html>\n", sizeof("</body></html>\n") - 1);
    }

    b->last = p;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


/* dst needs 6 * s->len bytes */

static u_char *
ngx_http_objspace_public_escape_html(u_char *dst, ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        switch (s->data[i]) {
        case '<':
            dst = ngx_cpymem(dst, "&lt;", 4);
            break;
        case '>':
            dst = ngx_cpymem(dst, "&gt;", 4);
            break;
        case '&':
            dst = ngx_cpymem(dst, "&amp;", 5);
            break;
        case '"':
            dst = ngx_cpymem(dst, "&quot;", 6);
            break;
        case '\'':
            dst = ngx_cpymem(dst, "&#39;", 5);
            break;
        default:
            *dst++ = s->data[i];
        }
    }

    return dst;
}


/* dst needs 6 * s->len bytes */

static u_char *
ngx_http_objspace_public_escape_json(u_char *dst, ngx_str_t *s)
{
    u_char  c;
    size_t  i;

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (c == '"' || c == '\\') {
            *dst++ = '\\';
            *dst++ = c;

        } else if (c < 0x20 || c == 0x7f) {
            dst = ngx_sprintf(dst, "\\u%04xd", (ngx_uint_t) c);

        } else {
            *dst++ = c;
        }
    }

    return dst;
}


/*
 * Copyright (C) objspace authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <expat.h>

#include "ngx_http_objspace_xml.h"
#include "ngx_http_objspace_s3.h"


#define NGX_HTTP_OBJSPACE_XML_TOP      0
#define NGX_HTTP_OBJSPACE_XML_DELETE   1
#define NGX_HTTP_OBJSPACE_XML_OBJECT   2
#define NGX_HTTP_OBJSPACE_XML_KEY      3
#define NGX_HTTP_OBJSPACE_XML_OTHER    4


struct ngx_http_objspace_xml_s {
    XML_Parser                     parser;
    ngx_http_objspace_xml_key_pt   handler;
    void                          *data;
    ngx_uint_t                     state;
    ngx_uint_t                     depth;      /* inside an ignored element */
    ngx_uint_t                     keys;
    ngx_uint_t                     object_keys;
    ngx_uint_t                     error;
    ngx_uint_t                     refusal;
    size_t                         key_len;
    u_char                         key[NGX_HTTP_OBJSPACE_MAX_KEY_LEN + 1];
};


static void XMLCALL ngx_http_objspace_xml_start(void *data,
    const XML_Char *name, const XML_Char **attrs);
static void XMLCALL ngx_http_objspace_xml_end(void *data,
    const XML_Char *name);
static void XMLCALL ngx_http_objspace_xml_text(void *data,
    const XML_Char *s, int len);
static void XMLCALL ngx_http_objspace_xml_doctype(void *data,
    const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
    int has_internal_subset);
static void ngx_http_objspace_xml_stop(ngx_http_objspace_xml_t *x,
    ngx_uint_t error);


ngx_http_objspace_xml_t *
ngx_http_objspace_xml_create(ngx_http_objspace_xml_key_pt handler,
    void *data)
{
    ngx_http_objspace_xml_t  *x;

    x = calloc(1, sizeof(ngx_http_objspace_xml_t));
    if (x == NULL) {
        return NULL;
    }

    x->parser = XML_ParserCreate("UTF-8");
    if (x->parser == NULL) {
        free(x);
        return NULL;
    }

    x->handler = handler;
    x->data = data;

    XML_SetUserData(x->parser, x);
    XML_SetElementHandler(x->parser, ngx_http_objspace_xml_start,
                          ngx_http_objspace_xml_end);
    XML_SetCharacterDataHandler(x->parser, ngx_http_objspace_xml_text);
    XML_SetStartDoctypeDeclHandler(x->parser, ngx_http_objspace_xml_doctype);

    return x;
}


/*
 * Feeds body bytes to expat.  Returns an ngx_http_objspace_xml_err_e; the
 * first error sticks.  With last set, the document must be complete and
 * every <Object> must have had exactly one <Key>.
 */

ngx_int_t
ngx_http_objspace_xml_feed(ngx_http_objspace_xml_t *x, const u_char *p,
    size_t len, ngx_uint_t last)
{
    if (x->error) {
        return x->error;
    }

    while (len || last) {
        int  n = (len > 65536) ? 65536 : (int) len;

        len -= n;

        if (XML_Parse(x->parser, (const char *) p, n, last && len == 0)
            != XML_STATUS_OK)
        {
            if (x->error == NGX_HTTP_OBJSPACE_XML_OK) {
                x->error = NGX_HTTP_OBJSPACE_XML_MALFORMED;
            }

            return x->error;
        }

        if (len == 0) {
            break;      /* before "p += n": the last call may pass NULL, 0 */
        }

        p += n;
    }

    if (last && x->error == NGX_HTTP_OBJSPACE_XML_OK
        && (x->state != NGX_HTTP_OBJSPACE_XML_TOP || x->keys == 0))
    {
        x->error = NGX_HTTP_OBJSPACE_XML_MALFORMED;
    }

    return x->error;
}


ngx_uint_t
ngx_http_objspace_xml_keys(ngx_http_objspace_xml_t *x)
{
    return x->keys;
}


ngx_uint_t
ngx_http_objspace_xml_refusal(ngx_http_objspace_xml_t *x)
{
    return x->refusal;
}


void
ngx_http_objspace_xml_free(ngx_http_objspace_xml_t *x)
{
    if (x) {
        XML_ParserFree(x->parser);
        free(x);
    }
}


static void
ngx_http_objspace_xml_stop(ngx_http_objspace_xml_t *x, ngx_uint_t error)
{
    if (x->error == NGX_HTTP_OBJSPACE_XML_OK) {
        x->error = error;
    }

    XML_StopParser(x->parser, XML_FALSE);
}


static void XMLCALL
ngx_http_objspace_xml_doctype(void *data, const XML_Char *name,
    const XML_Char *sysid, const XML_Char *pubid, int has_internal_subset)
{
    /* no DTDs, no entities of our own: nothing S3 clients send */
    ngx_http_objspace_xml_stop(data, NGX_HTTP_OBJSPACE_XML_MALFORMED);
}


static void XMLCALL
ngx_http_objspace_xml_start(void *data, const XML_Char *name,
    const XML_Char **attrs)
{
    ngx_http_objspace_xml_t *x = data;

    if (x->error) {
        /* expat may still report events after XML_StopParser() */
        return;
    }

    if (x->depth) {
        x->depth++;
        return;
    }

    switch (x->state) {

    case NGX_HTTP_OBJSPACE_XML_TOP:
        if (ngx_strcmp(name, "Delete") != 0) {
            ngx_http_objspace_xml_stop(x, NGX_HTTP_OBJSPACE_XML_MALFORMED);
            return;
        }

        x->state = NGX_HTTP_OBJSPACE_XML_DELETE;
        return;

    case NGX_HTTP_OBJSPACE_XML_DELETE:
        if (ngx_strcmp(name, "Object") == 0) {
            x->state = NGX_HTTP_OBJSPACE_XML_OBJECT;
            x->object_keys = 0;
            return;
        }

        if (ngx_strcmp(name, "Key") == 0) {
            /* a Key outside an Object: the backend might read it */
            ngx_http_objspace_xml_stop(x, NGX_HTTP_OBJSPACE_XML_MALFORMED);
            return;
        }

        x->depth = 1;     /* Quiet and anything else: ignored */
        return;

    case NGX_HTTP_OBJSPACE_XML_OBJECT:
        if (ngx_strcmp(name, "Key") == 0) {
            if (x->object_keys++) {
                ngx_http_objspace_xml_stop(x,
                                           NGX_HTTP_OBJSPACE_XML_MALFORMED);
                return;
            }

            x->state = NGX_HTTP_OBJSPACE_XML_KEY;
            x->key_len = 0;
            return;
        }

        x->depth = 1;     /* VersionId, ETag, ... */
        return;

    default:
        /* an element inside Key */
        ngx_http_objspace_xml_stop(x, NGX_HTTP_OBJSPACE_XML_MALFORMED);
    }
}


static void XMLCALL
ngx_http_objspace_xml_end(void *data, const XML_Char *name)
{
    ngx_str_t                 key;
    ngx_uint_t                rc;
    ngx_http_objspace_xml_t  *x = data;

    if (x->error) {
        /* e.g. the end of an empty element whose start stopped the parser */
        return;
    }

    if (x->depth) {
        x->depth--;
        return;
    }

    switch (x->state) {

    case NGX_HTTP_OBJSPACE_XML_DELETE:
        x->state = NGX_HTTP_OBJSPACE_XML_TOP;
        return;

    case NGX_HTTP_OBJSPACE_XML_OBJECT:
        if (x->object_keys != 1) {
            ngx_http_objspace_xml_stop(x, NGX_HTTP_OBJSPACE_XML_MALFORMED);
            return;
        }

        x->state = NGX_HTTP_OBJSPACE_XML_DELETE;
        return;

    case NGX_HTTP_OBJSPACE_XML_KEY:
        x->state = NGX_HTTP_OBJSPACE_XML_OBJECT;

        if (++x->keys > NGX_HTTP_OBJSPACE_MAX_DELETE_KEYS) {
            ngx_http_objspace_xml_stop(x, NGX_HTTP_OBJSPACE_XML_TOO_MANY);
            return;
        }

        key.data = x->key;
        key.len = x->key_len;

        rc = x->handler(x->data, &key);

        if (rc) {
            x->refusal = rc;
            ngx_http_objspace_xml_stop(x, NGX_HTTP_OBJSPACE_XML_REFUSED);
        }

        return;

    default:
        return;
    }
}


static void XMLCALL
ngx_http_objspace_xml_text(void *data, const XML_Char *s, int len)
{
    ngx_http_objspace_xml_t *x = data;

    if (x->error || x->depth || x->state != NGX_HTTP_OBJSPACE_XML_KEY
        || len <= 0)
    {
        return;
    }

    if (x->key_len + len > NGX_HTTP_OBJSPACE_MAX_KEY_LEN) {
        /* over-long keys cannot be ours: refuse rather than truncate */
        x->key_len = NGX_HTTP_OBJSPACE_MAX_KEY_LEN + 1;
        return;
    }

    ngx_memcpy(x->key + x->key_len, s, len);
    x->key_len += len;
}

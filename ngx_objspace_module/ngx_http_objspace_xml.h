
/*
 * Copyright (C) objspace authors
 *
 * The multi-object delete request body (POST ?delete), parsed with expat:
 * <Delete><Object><Key>k</Key>[<VersionId>v</VersionId>]</Object>...
 * [<Quiet>true</Quiet>]</Delete>.  Pure (no nginx functions, no pools):
 * unit-testable and fuzzable.  Every <Key> is handed to a callback; the
 * caller refuses the whole request if any key is refused.
 */


#ifndef _NGX_HTTP_OBJSPACE_XML_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_XML_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_OBJSPACE_MAX_DELETE_KEYS  1000
#define NGX_HTTP_OBJSPACE_MAX_DELETE_BODY  (2 * 1024 * 1024)


typedef enum {
    NGX_HTTP_OBJSPACE_XML_OK = 0,
    NGX_HTTP_OBJSPACE_XML_MALFORMED,    /* MalformedXML */
    NGX_HTTP_OBJSPACE_XML_TOO_MANY,     /* more than 1000 keys */
    NGX_HTTP_OBJSPACE_XML_REFUSED,      /* the callback refused a key */
    NGX_HTTP_OBJSPACE_XML_NOMEM
} ngx_http_objspace_xml_err_e;


/* returns 0 to accept the key, anything else to refuse the request */
typedef ngx_uint_t (*ngx_http_objspace_xml_key_pt)(void *data,
    ngx_str_t *key);


typedef struct ngx_http_objspace_xml_s  ngx_http_objspace_xml_t;


/* NULL on allocation failure; free with ngx_http_objspace_xml_free() */
ngx_http_objspace_xml_t *ngx_http_objspace_xml_create(
    ngx_http_objspace_xml_key_pt handler, void *data);

/* feed a piece of the body; last = 1 with the final piece */
ngx_int_t ngx_http_objspace_xml_feed(ngx_http_objspace_xml_t *x,
    const u_char *p, size_t len, ngx_uint_t last);

/* keys seen so far; the refusing callback's result, if any */
ngx_uint_t ngx_http_objspace_xml_keys(ngx_http_objspace_xml_t *x);
ngx_uint_t ngx_http_objspace_xml_refusal(ngx_http_objspace_xml_t *x);

void ngx_http_objspace_xml_free(ngx_http_objspace_xml_t *x);


#endif /* _NGX_HTTP_OBJSPACE_XML_H_INCLUDED_ */

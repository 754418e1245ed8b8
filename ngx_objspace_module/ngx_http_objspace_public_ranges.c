
/*
 * Copyright (C) objspace authors
 *
 * Multi-range responses (206 multipart/byteranges) for the public frontend,
 * streamed: neither S3 nor RGW answer more than one range, and nginx's
 * range filter builds a multipart body only from a response held in one
 * buffer (a cached file without slices).  Here the whole object streams
 * past once, from the backend, the cache or slice subrequests, and the
 * requested ranges are cut from it in order, so any response can be
 * answered.  Only ascending, non-overlapping ranges (what clients send)
 * are served this way; anything else gets the whole object (200), as
 * RFC 9110 allows.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_objspace_public.h"


#define NGX_HTTP_OBJSPACE_PUBLIC_MAX_RANGES  16


typedef struct {
    off_t                       start;
    off_t                       end;        /* exclusive */
    ngx_str_t                   header;     /* boundary + part headers */
} ngx_http_objspace_public_part_t;


struct ngx_http_objspace_public_ranges_s {
    ngx_http_objspace_public_part_t  parts[NGX_HTTP_OBJSPACE_PUBLIC_MAX_RANGES];
    ngx_uint_t                  nparts;
    ngx_uint_t                  cur;
    ngx_uint_t                  header_sent;  /* of parts[cur] */
    off_t                       offset;       /* object bytes seen */
    ngx_str_t                   trailer;
    unsigned                    done:1;
};


static ngx_int_t ngx_http_objspace_public_ranges_parse(ngx_str_t *value,
    off_t len, ngx_http_objspace_public_ranges_t *rs);
static ngx_int_t ngx_http_objspace_public_ranges_add(ngx_pool_t *pool,
    ngx_chain_t ***last, u_char *p, size_t len, ngx_uint_t last_buf);


/*
 * From the header filter of a 200 object response with a known length:
 * NGX_OK when r asked for several ranges this module answers (status,
 * Content-Type, Content-Length set; nginx's range filter disabled),
 * NGX_DECLINED when not, NGX_ERROR on allocation failure.
 */

ngx_int_t
ngx_http_objspace_public_ranges_start(ngx_http_request_t *r,
    ngx_http_objspace_public_ranges_t **rsp)
{
    u_char                             *p;
    off_t                               len, total;
    ngx_str_t                           ct, *range;
    ngx_uint_t                          i, boundary;
    ngx_table_elt_t                    *ir;
    ngx_http_objspace_public_part_t    *pt;
    ngx_http_objspace_public_ranges_t  *rs;

    if (r->headers_in.range == NULL
        || r->headers_out.content_length_n <= 0
        || ngx_strlchr(r->headers_in.range->value.data,
                       r->headers_in.range->value.data
                       + r->headers_in.range->value.len, ',') == NULL)
    {
        return NGX_DECLINED;
    }

    ir = r->headers_in.if_range;

    if (ir
        && !(r->headers_out.etag
             && ir->value.len == r->headers_out.etag->value.len
             && ir->value.len > 2 && ir->value.data[0] == '"'
             && ngx_strncmp(ir->value.data, r->headers_out.etag->value.data,
                            ir->value.len) == 0)
        && !(r->headers_out.last_modified_time != -1
             && ngx_parse_http_time(ir->value.data, ir->value.len)
                == r->headers_out.last_modified_time))
    {
        /* the object changed: the whole of it */
        return NGX_DECLINED;
    }

    rs = ngx_pcalloc(r->pool, sizeof(ngx_http_objspace_public_ranges_t));
    if (rs == NULL) {
        return NGX_ERROR;
    }

    len = r->headers_out.content_length_n;
    range = &r->headers_in.range->value;

    if (ngx_http_objspace_public_ranges_parse(range, len, rs) != NGX_OK
        || rs->nparts < 2)
    {
        return NGX_DECLINED;
    }

    ct = r->headers_out.content_type;
    boundary = ngx_next_temp_number(0);
    total = 0;

    for (i = 0; i < rs->nparts; i++) {
        pt = &rs->parts[i];

        pt->header.data = ngx_pnalloc(r->pool,
                                      sizeof(CRLF "--" CRLF
                                             "Content-Type: " CRLF
                                             "Content-Range: bytes -/"
                                             CRLF CRLF) - 1
                                      + NGX_ATOMIC_T_LEN + ct.len
                                      + 3 * NGX_OFF_T_LEN);
        if (pt->header.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_sprintf(pt->header.data,
                        "%s--%0muA" CRLF "Content-Type: %V" CRLF
                        "Content-Range: bytes %O-%O/%O" CRLF CRLF,
                        i ? CRLF : "", boundary, &ct, pt->start,
                        pt->end - 1, len);
        pt->header.len = p - pt->header.data;

        total += pt->header.len + (pt->end - pt->start);
    }

    rs->trailer.data = ngx_pnalloc(r->pool, sizeof(CRLF "--" "--" CRLF) - 1
                                            + NGX_ATOMIC_T_LEN);
    if (rs->trailer.data == NULL) {
        return NGX_ERROR;
    }

    rs->trailer.len = ngx_sprintf(rs->trailer.data, CRLF "--%0muA--" CRLF,
                                  boundary)
                      - rs->trailer.data;
    total += rs->trailer.len;

    ct.data = ngx_pnalloc(r->pool, sizeof("multipart/byteranges; boundary=")
                                   - 1 + NGX_ATOMIC_T_LEN);
    if (ct.data == NULL) {
        return NGX_ERROR;
    }

    ct.len = ngx_sprintf(ct.data, "multipart/byteranges; boundary=%0muA",
                         boundary)
             - ct.data;

    r->headers_out.status = NGX_HTTP_PARTIAL_CONTENT;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_type = ct;
    r->headers_out.content_type_len = ct.len;
    r->headers_out.content_type_lowcase = NULL;
    ngx_str_null(&r->headers_out.charset);

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    if (r->headers_out.content_range) {
        r->headers_out.content_range->hash = 0;
        r->headers_out.content_range = NULL;
    }

    r->headers_out.content_length_n = total;
    r->allow_ranges = 0;

    *rsp = rs;

    return NGX_OK;
}


/*
 * After the response header went out, through the slice filter (which
 * reads these two fields back, as the range filter leaves them, to know
 * which bytes to fetch): the object's bytes from 0 to the end of the last
 * part, so the slices stream contiguously from the start and stop there.
 */

void
ngx_http_objspace_public_ranges_span(ngx_http_request_t *r,
    ngx_http_objspace_public_ranges_t *rs)
{
    r->headers_out.content_offset = 0;
    r->headers_out.content_length_n = rs->parts[rs->nparts - 1].end;
}


/*
 * Cuts the parts from the object's bytes as they pass (r: the main
 * request or one of its slice subrequests, in order).  The input buffers
 * are consumed; memory is copied (the upstream reuses its buffers), file
 * buffers (nginx's cache) are referenced.  *out gets what to send.
 */

ngx_int_t
ngx_http_objspace_public_ranges_body(ngx_http_request_t *r,
    ngx_http_objspace_public_ranges_t *rs, ngx_chain_t *in,
    ngx_chain_t **out)
{
    off_t                             size, start, end, from, to;
    ngx_buf_t                        *b, *nb;
    ngx_chain_t                      *cl, *ncl, **last;
    ngx_http_objspace_public_part_t  *pt;

    *out = NULL;
    last = out;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        size = ngx_buf_size(b);
        start = rs->offset;
        end = start + size;

        while (size && rs->cur < rs->nparts) {
            pt = &rs->parts[rs->cur];

            if (pt->start >= end) {
                break;
            }

            from = ngx_max(pt->start, start);
            to = ngx_min(pt->end, end);

            if (from < to) {
                if (!rs->header_sent) {
                    if (ngx_http_objspace_public_ranges_add(r->pool, &last,
                                                            pt->header.data,
                                                            pt->header.len,
                                                            0)
                        != NGX_OK)
                    {
                        return NGX_ERROR;
                    }

                    rs->header_sent = 1;
                }

                if (ngx_buf_in_memory(b)) {
                    if (ngx_http_objspace_public_ranges_add(r->pool, &last,
                                                  b->pos + (from - start),
                                                  (size_t) (to - from), 0)
                        != NGX_OK)
                    {
                        return NGX_ERROR;
                    }

                } else {
                    nb = ngx_calloc_buf(r->pool);
                    ncl = ngx_alloc_chain_link(r->pool);

                    if (nb == NULL || ncl == NULL) {
                        return NGX_ERROR;
                    }

                    nb->in_file = 1;
                    nb->file = b->file;
                    nb->file_pos = b->file_pos + (from - start);
                    nb->file_last = nb->file_pos + (to - from);

                    ncl->buf = nb;
                    ncl->next = NULL;
                    *last = ncl;
                    last = &ncl->next;
                }
            }

            if (pt->end > end) {
                break;
            }

            rs->cur++;
            rs->header_sent = 0;
        }

        rs->offset = end;

        if (ngx_buf_in_memory(b)) {
            b->pos = b->last;
        }

        if (b->in_file) {
            b->file_pos = b->file_last;
        }

        if (b->last_buf && !rs->done) {
            rs->done = 1;

            if (ngx_http_objspace_public_ranges_add(r->pool, &last,
                                                    rs->trailer.data,
                                                    rs->trailer.len, 1)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* "bytes=a-b,c-,-n": ascending, non-overlapping, within len; else error */

static ngx_int_t
ngx_http_objspace_public_ranges_parse(ngx_str_t *value, off_t len,
    ngx_http_objspace_public_ranges_t *rs)
{
    u_char                           *p, *end;
    off_t                             start, stop, prev;
    ngx_uint_t                        suffix;
    ngx_http_objspace_public_part_t  *pt;

    p = value->data;
    end = p + value->len;

    if (value->len < 6 || ngx_strncasecmp(p, (u_char *) "bytes=", 6) != 0) {
        return NGX_ERROR;
    }

    p += 6;
    prev = -1;

    for ( ;; ) {
        start = 0;
        stop = 0;
        suffix = 0;

        while (p < end && *p == ' ') { p++; }

        if (p < end && *p == '-') {
            suffix = 1;
            p++;

        } else {
            if (p == end || *p < '0' || *p > '9') {
                return NGX_ERROR;
            }

            while (p < end && *p >= '0' && *p <= '9') {
                if (start >= NGX_MAX_OFF_T_VALUE / 10) {
                    return NGX_ERROR;
                }

                start = start * 10 + (*p++ - '0');
            }

            if (p == end || *p++ != '-') {
                return NGX_ERROR;
            }
        }

        if (p < end && *p >= '0' && *p <= '9') {
            while (p < end && *p >= '0' && *p <= '9') {
                if (stop >= NGX_MAX_OFF_T_VALUE / 10) {
                    return NGX_ERROR;
                }

                stop = stop * 10 + (*p++ - '0');
            }

            if (suffix) {
                start = (stop < len) ? len - stop : 0;
                stop = len;

            } else {
                if (stop < start) {
                    return NGX_ERROR;
                }

                stop = ngx_min(stop + 1, len);
            }

        } else if (suffix) {
            return NGX_ERROR;

        } else {
            stop = len;
        }

        while (p < end && *p == ' ') { p++; }

        if (start < len) {
            if (start <= prev
                || rs->nparts == NGX_HTTP_OBJSPACE_PUBLIC_MAX_RANGES)
            {
                return NGX_ERROR;
            }

            pt = &rs->parts[rs->nparts++];
            pt->start = start;
            pt->end = stop;
            prev = stop - 1;
        }

        if (p == end) {
            return NGX_OK;
        }

        if (*p++ != ',') {
            return NGX_ERROR;
        }
    }
}


/* a memory buffer with a copy of p (len may be 0 for the last one) */

static ngx_int_t
ngx_http_objspace_public_ranges_add(ngx_pool_t *pool, ngx_chain_t ***last,
    u_char *p, size_t len, ngx_uint_t last_buf)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = len ? ngx_create_temp_buf(pool, len) : ngx_calloc_buf(pool);
    cl = ngx_alloc_chain_link(pool);

    if (b == NULL || cl == NULL) {
        return NGX_ERROR;
    }

    if (len) {
        b->last = ngx_cpymem(b->pos, p, len);
    }

    b->last_buf = last_buf;
    b->last_in_chain = last_buf;

    cl->buf = b;
    cl->next = NULL;
    **last = cl;
    *last = &cl->next;

    return NGX_OK;
}

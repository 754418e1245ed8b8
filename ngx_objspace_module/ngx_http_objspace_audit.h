
/*
 * Copyright (C) objspace authors
 *
 * ngx_http_objspace_acct_module: the second module of the .so, for what
 * happens around a gateway request rather than in it: quota reservations
 * (ngx_http_objspace_quota.c), the audit stream (ngx_http_objspace_audit.c)
 * and metrics (ngx_http_objspace_metrics.c).  Its log-phase handler
 * commits or releases the reservation, emits the audit event and counts
 * the request.  Redis formats: docs/redis-schema.md.
 */


#ifndef _NGX_HTTP_OBJSPACE_AUDIT_H_INCLUDED_
#define _NGX_HTTP_OBJSPACE_AUDIT_H_INCLUDED_


#include "ngx_http_objspace_module.h"


#define NGX_HTTP_OBJSPACE_WORKER_ID_LEN  16


typedef struct {
    /* audit */
    ngx_flag_t                  audit;           /* objspace_audit */
    size_t                      audit_buffer;    /* objspace_audit_buffer */
    ngx_str_t                   spool_path;      /* objspace_audit_spool */
    off_t                       spool_max;
    ngx_uint_t                  audit_maxlen;    /* objspace_audit_maxlen */

    /* quota */
    ngx_msec_t                  resv_ttl;  /* objspace_quota_reservation_ttl */

    /* metrics */
    ngx_shm_zone_t             *metrics_zone;    /* objspace_metrics_zone */
    ngx_flag_t                  metrics_used;    /* objspace_metrics seen */

    ngx_int_t                   request_id_index;

    /* per worker, set in init_process */
    void                       *audit_state;
    void                       *usage_batch;     /* quota commits */
    u_char                      worker[NGX_HTTP_OBJSPACE_WORKER_ID_LEN];
    ngx_uint_t                  resv_seq;
    time_t                      quota_logged;
} ngx_http_objspace_acct_main_conf_t;


ngx_http_objspace_acct_main_conf_t *ngx_http_objspace_acct_conf(
    ngx_cycle_t *cycle);


extern ngx_module_t  ngx_http_objspace_acct_module;


#endif /* _NGX_HTTP_OBJSPACE_AUDIT_H_INCLUDED_ */


/*
 * Copyright (C) objspace authors
 *
 * ngx_http_objspace_acct_module (see ngx_http_objspace_audit.h) and the
 * audit stream writer.
 *
 * One event per gateway request, emitted from the log phase into a
 * per-worker queue and delivered to the Redis stream objspace:audit in
 * batches by one Lua script that skips events whose per-worker sequence
 * is not above the worker's high-water mark, so a batch retried after a
 * timeout is not added twice and every worker's events stay in order
 * (docs/redis-schema.md, "Audit stream").
 *
 * While Redis is unreachable events wait in worker memory
 * (objspace_audit_buffer); beyond that they are appended to the worker's
 * spool file (objspace_audit_spool), which holds the newer part of the
 * queue: memory drains first, then the spool, then new events go to memory
 * again.  A worker holds an flock on its spool; a spool left by a worker
 * that is gone is adopted and replayed by a live one.  Spool I/O is plain
 * local file I/O, like nginx's own logs.
 */


#include <sys/file.h>
#include <openssl/rand.h>

#include "ngx_http_objspace_audit.h"
#include "ngx_http_objspace_quota.h"
#include "ngx_http_objspace_metrics.h"
#include "ngx_http_objspace_redis.h"


#define NGX_HTTP_OBJSPACE_AUDIT_STREAM     "objspace:audit"
#define NGX_HTTP_OBJSPACE_AUDIT_BATCH      24576
#define NGX_HTTP_OBJSPACE_AUDIT_EVENT_MAX  8192
#define NGX_HTTP_OBJSPACE_AUDIT_FIELDS     20
#define NGX_HTTP_OBJSPACE_AUDIT_RETRY      1000
#define NGX_HTTP_OBJSPACE_AUDIT_SCAN       5000
#define NGX_HTTP_OBJSPACE_AUDIT_UA_MAX     256
#define NGX_HTTP_OBJSPACE_AUDIT_LOG_EVERY  60

/*
 * Events wait in memory for up to FLUSH_DELAY ms, or until FLUSH_EVENTS
 * of them (or half a batch, or half of objspace_audit_buffer) are queued,
 * and then go to Redis together: one round trip per batch, not per
 * request.
 */
#define NGX_HTTP_OBJSPACE_AUDIT_FLUSH_DELAY   20
#define NGX_HTTP_OBJSPACE_AUDIT_FLUSH_EVENTS  64


/*
 * KEYS[1] stream; ARGV[1] MAXLEN, then per event: worker, seq, n, and n
 * field/value pairs.  Replies the number of events added.  Each worker's
 * high-water mark is read once and written once per batch, and the
 * stream trimmed once: per event, one XADD.
 */
#define NGX_HTTP_OBJSPACE_AUDIT_SCRIPT                                        \
    "local i, added, hwm, set = 2, 0, {}, {} "                                \
    "while i <= #ARGV do "                                                    \
    "  local w, s, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]) "\
    "  if hwm[w] == nil then "                                                \
    "    hwm[w] = tonumber(redis.call('GET', "                                \
    "                      'objspace:audit:hwm:' .. w) or '0') "              \
    "  end "                                                                  \
    "  if s > hwm[w] then "                                                   \
    "    redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 3, i + 2 + 2 * n)) "\
    "    hwm[w] = s "                                                         \
    "    set[w] = true "                                                      \
    "    added = added + 1 "                                                  \
    "  end "                                                                  \
    "  i = i + 3 + 2 * n "                                                    \
    "end "                                                                    \
    "for w in pairs(set) do "                                                 \
    "  redis.call('SET', 'objspace:audit:hwm:' .. w, hwm[w], 'EX', 604800) "  \
    "end "                                                                    \
    "if added > 0 then "                                                      \
    "  redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[1]) "                 \
    "end "                                                                    \
    "return added"


typedef enum {
    NGX_HTTP_OBJSPACE_SRC_MEMORY = 0,
    NGX_HTTP_OBJSPACE_SRC_SPOOL,
    NGX_HTTP_OBJSPACE_SRC_ORPHAN
} ngx_http_objspace_audit_src_e;


/* an event: RESP bulk strings (worker, seq, n, fields), nargs of them */
typedef struct {
    ngx_queue_t                 queue;
    size_t                      len;
    ngx_uint_t                  nargs;
    u_char                      data[1];
} ngx_http_objspace_audit_event_t;


typedef struct {
    ngx_fd_t                    fd;
    off_t                       size;
    off_t                       read;
    u_char                      name[NGX_MAX_PATH];
} ngx_http_objspace_audit_file_t;


typedef struct {
    ngx_cycle_t                         *cycle;
    ngx_http_objspace_acct_main_conf_t  *amcf;
    ngx_queue_t                          events;
    ngx_uint_t                           nevents;
    size_t                               mem_bytes;
    uint64_t                             seq;

    /* the batch in flight */
    ngx_uint_t                           src;
    ngx_uint_t                           inflight;    /* memory events */
    off_t                                inflight_end;

    ngx_http_objspace_audit_file_t       spool;
    ngx_http_objspace_audit_file_t       orphan;

    ngx_event_t                          retry;
    ngx_event_t                          scan;
    ngx_event_t                          flush;
    time_t                               logged;
    ngx_str_t                            node;
    u_char                               node_buf[256];
    u_char                               batch[NGX_HTTP_OBJSPACE_AUDIT_BATCH
                                               + 2048];
    unsigned                             busy:1;
    unsigned                             down:1;
    unsigned                             due:1;       /* flush memory */
} ngx_http_objspace_audit_t;


static ngx_int_t ngx_http_objspace_acct_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_objspace_acct_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_objspace_acct_init(ngx_conf_t *cf);
static void *ngx_http_objspace_acct_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_objspace_acct_init_main_conf(ngx_conf_t *cf,
    void *conf);
static char *ngx_http_objspace_audit_spool(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_objspace_acct_init_process(ngx_cycle_t *cycle);
static void ngx_http_objspace_acct_exit_process(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_objspace_acct_log_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_objspace_acct_status(ngx_http_request_t *r);
static void ngx_http_objspace_audit_emit(ngx_http_objspace_audit_t *a,
    ngx_http_request_t *r, ngx_http_objspace_info_t *info,
    ngx_uint_t status);
static u_char *ngx_http_objspace_audit_field(u_char *p, u_char *end,
    const char *name, ngx_str_t *value);
static ngx_uint_t ngx_http_objspace_audit_full(ngx_http_objspace_audit_t *a);
static void ngx_http_objspace_audit_flush(ngx_event_t *ev);
static void ngx_http_objspace_audit_deliver(ngx_http_objspace_audit_t *a);
static ngx_int_t ngx_http_objspace_audit_read(ngx_http_objspace_audit_t *a,
    ngx_http_objspace_audit_file_t *f, u_char **p, ngx_uint_t *nargs);
static void ngx_http_objspace_audit_sent(void *data, redisReply *reply);
static void ngx_http_objspace_audit_retry(ngx_event_t *ev);
static void ngx_http_objspace_audit_scan(ngx_event_t *ev);
static ngx_int_t ngx_http_objspace_audit_append(
    ngx_http_objspace_audit_t *a, ngx_fd_t fd, off_t off, u_char *data,
    size_t len, ngx_uint_t nargs);
static ngx_int_t ngx_http_objspace_audit_num(u_char *p, size_t len);
static void ngx_http_objspace_audit_close(ngx_http_objspace_audit_file_t *f,
    ngx_uint_t remove);
static void ngx_http_objspace_audit_failed(ngx_http_objspace_audit_t *a,
    const char *what, ngx_err_t err);


static ngx_conf_num_bounds_t  ngx_http_objspace_maxlen_bounds = {
    ngx_conf_check_num_bounds, 1000, 1000000000
};


static ngx_command_t  ngx_http_objspace_acct_commands[] = {

    { ngx_string("objspace_audit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_objspace_acct_main_conf_t, audit),
      NULL },

    { ngx_string("objspace_audit_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_objspace_acct_main_conf_t, audit_buffer),
      NULL },

    { ngx_string("objspace_audit_spool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_objspace_audit_spool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("objspace_audit_maxlen"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_objspace_acct_main_conf_t, audit_maxlen),
      &ngx_http_objspace_maxlen_bounds },

    { ngx_string("objspace_quota_reservation_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_objspace_acct_main_conf_t, resv_ttl),
      NULL },

    { ngx_string("objspace_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_objspace_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("objspace_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_objspace_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_objspace_acct_module_ctx = {
    ngx_http_objspace_acct_add_variables,    /* preconfiguration */
    ngx_http_objspace_acct_init,             /* postconfiguration */

    ngx_http_objspace_acct_create_main_conf, /* create main configuration */
    ngx_http_objspace_acct_init_main_conf,   /* init main configuration */

    NULL,                                    /* create server configuration */
    NULL,                                    /* merge server configuration */

    NULL,                                    /* create location configuration */
    NULL                                     /* merge location configuration */
};


ngx_module_t  ngx_http_objspace_acct_module = {
    NGX_MODULE_V1,
    &ngx_http_objspace_acct_module_ctx,    /* module context */
    ngx_http_objspace_acct_commands,       /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_objspace_acct_init_process,   /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_objspace_acct_exit_process,   /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


enum {
    NGX_HTTP_OBJSPACE_VAR_REQUEST_BYTES = 0,
    NGX_HTTP_OBJSPACE_VAR_QUOTA_BYTES,
    NGX_HTTP_OBJSPACE_VAR_USAGE_BYTES,
    NGX_HTTP_OBJSPACE_VAR_RESERVED_BYTES
};


static ngx_http_variable_t  ngx_http_objspace_acct_vars[] = {

    { ngx_string("objspace_request_bytes"), NULL,
      ngx_http_objspace_acct_variable, NGX_HTTP_OBJSPACE_VAR_REQUEST_BYTES,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_quota_bytes"), NULL,
      ngx_http_objspace_acct_variable, NGX_HTTP_OBJSPACE_VAR_QUOTA_BYTES,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_quota_used"), NULL,
      ngx_http_objspace_acct_variable, NGX_HTTP_OBJSPACE_VAR_USAGE_BYTES,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_quota_reserved"), NULL,
      ngx_http_objspace_acct_variable, NGX_HTTP_OBJSPACE_VAR_RESERVED_BYTES,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_http_objspace_acct_main_conf_t *
ngx_http_objspace_acct_conf(ngx_cycle_t *cycle)
{
    return ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_objspace_acct_module);
}


/* configuration */

static void *
ngx_http_objspace_acct_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_objspace_acct_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_objspace_acct_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->spool_path = { 0, NULL };
     *     amcf->metrics_zone = NULL;
     *     amcf->audit_state = NULL;
     */

    amcf->audit = NGX_CONF_UNSET;
    amcf->audit_buffer = NGX_CONF_UNSET_SIZE;
    amcf->audit_maxlen = NGX_CONF_UNSET_UINT;
    amcf->resv_ttl = NGX_CONF_UNSET_MSEC;
    amcf->spool_max = NGX_CONF_UNSET;

    return amcf;
}


static char *
ngx_http_objspace_acct_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_objspace_acct_main_conf_t *amcf = conf;

    ngx_conf_init_value(amcf->audit, 1);
    ngx_conf_init_size_value(amcf->audit_buffer, 1024 * 1024);
    ngx_conf_init_uint_value(amcf->audit_maxlen, 1000000);
    ngx_conf_init_msec_value(amcf->resv_ttl, 3600 * 1000);
    ngx_conf_init_value(amcf->spool_max, 64 * 1024 * 1024);

    if (amcf->metrics_used && amcf->metrics_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_metrics\" requires "
                           "\"objspace_metrics_zone\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* objspace_audit_spool DIR [max_size=SIZE] */

static char *
ngx_http_objspace_audit_spool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_objspace_acct_main_conf_t *amcf = conf;

    ngx_str_t  *value, s;

    if (amcf->spool_path.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    amcf->spool_path = value[1];

    if (ngx_conf_full_name(cf->cycle, &amcf->spool_path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (amcf->spool_path.len + 64 > NGX_MAX_PATH) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "spool path \"%V\" is too long", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "max_size=", 9) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 9;
        s.len = value[2].len - 9;

        amcf->spool_max = ngx_parse_offset(&s);

        if (amcf->spool_max == NGX_ERROR || amcf->spool_max < 65536) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid max_size \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_objspace_acct_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_objspace_acct_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_objspace_acct_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    off_t                     size;
    u_char                   *p;
    int64_t                   used, reserved, n;
    ngx_http_objspace_info_t  info;

    if (ngx_http_objspace_request_info(r, &info) != NGX_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_objspace_quota_figures(r, &size, &used, &reserved);

    switch (data) {

    case NGX_HTTP_OBJSPACE_VAR_REQUEST_BYTES:
        n = size;
        break;

    case NGX_HTTP_OBJSPACE_VAR_QUOTA_BYTES:
        n = info.id ? (int64_t) info.id->quota_bytes : -1;
        break;

    case NGX_HTTP_OBJSPACE_VAR_USAGE_BYTES:
        n = used;
        break;

    default: /* NGX_HTTP_OBJSPACE_VAR_RESERVED_BYTES */
        n = reserved;
        break;
    }

    if (n < 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%L", n) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_objspace_acct_init(ngx_conf_t *cf)
{
    ngx_str_t                            name;
    ngx_http_handler_pt                 *h;
    ngx_http_core_main_conf_t           *cmcf;
    ngx_http_objspace_acct_main_conf_t  *amcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_objspace_acct_log_handler;

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_objspace_acct_module);

    ngx_str_set(&name, "request_id");
    amcf->request_id_index = ngx_http_get_variable_index(cf, &name);

    return NGX_OK;
}


/* worker start: the worker id, the spool (locked), the timers */

static ngx_int_t
ngx_http_objspace_acct_init_process(ngx_cycle_t *cycle)
{
    u_char                              *p;
    ngx_http_objspace_audit_t           *a;
    ngx_http_objspace_main_conf_t       *omcf;
    ngx_http_objspace_acct_main_conf_t  *amcf;
    u_char                               rnd[NGX_HTTP_OBJSPACE_WORKER_ID_LEN
                                             / 2];

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    amcf = ngx_http_objspace_acct_conf(cycle);
    omcf = ngx_http_objspace_main_conf(cycle);

    if (amcf == NULL || omcf == NULL) {
        return NGX_OK;
    }

    /* fresh per process: event ids and reservation ids never repeat */

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "objspace: RAND_bytes() failed");
        return NGX_ERROR;
    }

    ngx_http_objspace_sigv4_hex(amcf->worker, rnd, sizeof(rnd));

    if (!amcf->audit || omcf->redis_addr == NULL) {
        return NGX_OK;
    }

    a = ngx_pcalloc(cycle->pool, sizeof(ngx_http_objspace_audit_t));
    if (a == NULL) {
        return NGX_ERROR;
    }

    a->cycle = cycle;
    a->amcf = amcf;
    ngx_queue_init(&a->events);

    a->spool.fd = NGX_INVALID_FILE;
    a->orphan.fd = NGX_INVALID_FILE;

    if (gethostname((char *) a->node_buf, sizeof(a->node_buf) - 1) == -1) {
        ngx_cpystrn(a->node_buf, (u_char *) "unknown", sizeof(a->node_buf));
    }

    a->node.data = a->node_buf;
    a->node.len = ngx_strlen(a->node_buf);

    a->retry.handler = ngx_http_objspace_audit_retry;
    a->retry.data = a;
    a->retry.log = cycle->log;
    a->retry.cancelable = 1;

    a->scan.handler = ngx_http_objspace_audit_scan;
    a->scan.data = a;
    a->scan.log = cycle->log;
    a->scan.cancelable = 1;

    /* not cancelable: a gracefully exiting worker delivers what it holds */
    a->flush.handler = ngx_http_objspace_audit_flush;
    a->flush.data = a;
    a->flush.log = cycle->log;

    if (amcf->spool_path.len) {
        p = ngx_sprintf(a->spool.name, "%V/audit-%*s.spool%Z",
                        &amcf->spool_path,
                        (size_t) NGX_HTTP_OBJSPACE_WORKER_ID_LEN,
                        amcf->worker);
        (void) p;

        a->spool.fd = ngx_open_file(a->spool.name, NGX_FILE_RDWR,
                                    NGX_FILE_CREATE_OR_OPEN, 0600);

        if (a->spool.fd == NGX_INVALID_FILE
            || flock(a->spool.fd, LOCK_EX | LOCK_NB) == -1)
        {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                          "objspace: cannot open the audit spool \"%s\"; "
                          "spooling disabled in this worker",
                          a->spool.name);

            if (a->spool.fd != NGX_INVALID_FILE) {
                (void) ngx_close_file(a->spool.fd);
                a->spool.fd = NGX_INVALID_FILE;
            }

        } else {
            /* the first scan soon: spools of workers gone before us */
            ngx_add_timer(&a->scan, 100);
        }
    }

    amcf->audit_state = a;

    return NGX_OK;
}


/*
 * Worker exit: events still in memory are written to the spool, ahead of
 * what it already holds (so a worker adopting it replays them in order);
 * without a spool they are lost, and counted.
 */

static void
ngx_http_objspace_acct_exit_process(ngx_cycle_t *cycle)
{
    off_t                                off;
    ssize_t                              n;
    ngx_fd_t                             fd;
    ngx_uint_t                           lost;
    ngx_queue_t                         *q;
    ngx_http_objspace_audit_t           *a;
    ngx_http_objspace_audit_event_t     *ev;
    ngx_http_objspace_acct_main_conf_t  *amcf;
    u_char                               tmp[NGX_MAX_PATH];

    amcf = ngx_http_objspace_acct_conf(cycle);

    if (amcf == NULL) {
        return;
    }

    if (amcf->usage_batch) {
        /* usage updates not sent yet: counted as lost, left to reconcile */
        ngx_http_objspace_redis_batch_abort(amcf->usage_batch);
        amcf->usage_batch = NULL;
    }

    if (amcf->audit_state == NULL) {
        return;
    }

    a = amcf->audit_state;
    amcf->audit_state = NULL;

    if (a->retry.timer_set) {
        ngx_del_timer(&a->retry);
    }

    if (a->scan.timer_set) {
        ngx_del_timer(&a->scan);
    }

    if (a->flush.timer_set) {
        ngx_del_timer(&a->flush);
    }

    ngx_http_objspace_audit_close(&a->orphan, 0);

    lost = 0;

    for (q = ngx_queue_head(&a->events);
         q != ngx_queue_sentinel(&a->events);
         q = ngx_queue_next(q))
    {
        lost++;
    }

    if (lost && a->spool.fd != NGX_INVALID_FILE) {
        ngx_sprintf(tmp, "%s.exit%Z", a->spool.name);

        fd = ngx_open_file(tmp, NGX_FILE_RDWR, NGX_FILE_TRUNCATE, 0600);

        if (fd != NGX_INVALID_FILE) {
            off = 0;

            for (q = ngx_queue_head(&a->events);
                 q != ngx_queue_sentinel(&a->events);
                 q = ngx_queue_next(q))
            {
                ev = ngx_queue_data(q, ngx_http_objspace_audit_event_t,
                                    queue);

                if (ngx_http_objspace_audit_append(a, fd, off, ev->data,
                                                   ev->len, ev->nargs)
                    != NGX_OK)
                {
                    break;
                }

                off += NGX_INT_T_LEN * 2 + 3 + ev->len;
            }

            /* then the spool's unsent part, unchanged */

            while (q == ngx_queue_sentinel(&a->events)
                   && a->spool.read < a->spool.size)
            {
                n = pread(a->spool.fd, a->batch, sizeof(a->batch),
                          a->spool.read);

                if (n <= 0 || pwrite(fd, a->batch, n, off) != n) {
                    break;
                }

                a->spool.read += n;
                off += n;
            }

            if (a->spool.read >= a->spool.size
                && q == ngx_queue_sentinel(&a->events)
                && rename((char *) tmp, (char *) a->spool.name) == 0)
            {
                lost = 0;
            }

            (void) ngx_close_file(fd);
        }
    }

    while (!ngx_queue_empty(&a->events)) {
        q = ngx_queue_head(&a->events);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_http_objspace_audit_event_t, queue));
    }

    if (lost) {
        ngx_http_objspace_metrics_count(NGX_HTTP_OBJSPACE_M_AUDIT_DROPPED,
                                        lost);
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "objspace: %ui audit events lost at worker exit "
                      "(redis unreachable, no spool)", lost);
    }

    /* closing releases the lock: another worker adopts what is left */
    ngx_http_objspace_audit_close(&a->spool, 0);
}


/* log phase: settle the quota, count, audit */

static ngx_int_t
ngx_http_objspace_acct_log_handler(ngx_http_request_t *r)
{
    ngx_str_t                           *space;
    ngx_uint_t                           status;
    ngx_http_objspace_info_t             info;
    ngx_http_objspace_acct_main_conf_t  *amcf;

    if (r != r->main || ngx_http_objspace_request_info(r, &info) != NGX_OK) {
        return NGX_OK;
    }

    status = ngx_http_objspace_acct_status(r);

    ngx_http_objspace_quota_finish(r, status);

    space = info.id ? &info.id->space : NULL;

    ngx_http_objspace_metrics_request(space, info.denied, &info.deny_reason,
                                      r->request_length,
                                      r->connection->sent);

    if (info.id || info.known_key) {
        ngx_http_objspace_metrics_count(ngx_http_objspace_redis_waited(r)
                                        ? NGX_HTTP_OBJSPACE_M_CACHE_MISSES
                                        : NGX_HTTP_OBJSPACE_M_CACHE_HITS, 1);
    }

    amcf = ngx_http_objspace_acct_conf((ngx_cycle_t *) ngx_cycle);

    if (amcf->audit_state) {
        ngx_http_objspace_audit_emit(amcf->audit_state, r, &info, status);
    }

    return NGX_OK;
}


/* the status answered, as $status computes it */

static ngx_uint_t
ngx_http_objspace_acct_status(ngx_http_request_t *r)
{
    if (r->err_status) {
        return r->err_status;
    }

    if (r->headers_out.status) {
        return r->headers_out.status;
    }

    return 0;
}


/*
 * Formats r's event and queues it: in memory, or in the spool when memory
 * is full or the spool already holds older undelivered events.
 */

static void
ngx_http_objspace_audit_emit(ngx_http_objspace_audit_t *a,
    ngx_http_request_t *r, ngx_http_objspace_info_t *info,
    ngx_uint_t status)
{
    u_char                           *p, *q, *end, *fields;
    size_t                            len;
    ngx_int_t                         i;
    ngx_str_t                         v, empty;
    ngx_uint_t                        nfields;
    ngx_http_variable_value_t        *vv;
    ngx_http_objspace_audit_event_t  *ev;
    u_char                            buf[NGX_HTTP_OBJSPACE_AUDIT_EVENT_MAX];
    u_char                            id[NGX_HTTP_OBJSPACE_WORKER_ID_LEN
                                         + 1 + NGX_INT64_LEN];
    u_char                            rid[NGX_HTTP_OBJSPACE_WORKER_ID_LEN
                                          + 16];
    u_char                            num[4][NGX_INT64_LEN];
    u_char                            seq[NGX_INT64_LEN];
    size_t                            seq_len;

    ngx_str_null(&empty);

    a->seq++;
    seq_len = ngx_http_objspace_redis_dec(seq, a->seq) - seq;

    ngx_http_objspace_metrics_count(NGX_HTTP_OBJSPACE_M_AUDIT_EVENTS, 1);

    end = buf + sizeof(buf);

    /* worker, seq, number of fields: filled in below */
    p = buf + 64 + 2 * NGX_INT64_LEN;
    fields = p;

    v.data = id;
    q = ngx_cpymem(id, a->amcf->worker, NGX_HTTP_OBJSPACE_WORKER_ID_LEN);
    *q++ = '-';
    v.len = ngx_cpymem(q, seq, seq_len) - id;
    p = ngx_http_objspace_audit_field(p, end, "id", &v);

    v.data = num[0];
    v.len = ngx_http_objspace_redis_dec(num[0],
                                        (uint64_t) r->start_sec * 1000
                                        + r->start_msec)
            - num[0];
    p = ngx_http_objspace_audit_field(p, end, "ts", &v);

    ngx_str_set(&v, "request");
    p = ngx_http_objspace_audit_field(p, end, "kind", &v);

    p = ngx_http_objspace_audit_field(p, end, "tenant",
                                      info->id ? &info->id->tenant : &empty);
    p = ngx_http_objspace_audit_field(p, end, "space",
                                      info->id ? &info->id->space : &empty);
    p = ngx_http_objspace_audit_field(p, end, "identity",
                                      info->id ? &info->id->id : &empty);
    p = ngx_http_objspace_audit_field(p, end, "op",
                                      info->s3 ? &info->op : &empty);
    p = ngx_http_objspace_audit_field(p, end, "bucket",
                                      info->s3 ? &info->s3->bucket : &empty);

    /* object names only for a known tenant: its own audit */
    p = ngx_http_objspace_audit_field(p, end, "key",
                                      (info->s3 && info->id
                                       && info->id->tenant.len)
                                      ? &info->s3->key : &empty);

    p = ngx_http_objspace_audit_field(p, end, "ip",
                                      &r->connection->addr_text);

    if (r->headers_in.user_agent) {
        v = r->headers_in.user_agent->value;
        v.len = ngx_min(v.len, NGX_HTTP_OBJSPACE_AUDIT_UA_MAX);

    } else {
        v = empty;
    }

    p = ngx_http_objspace_audit_field(p, end, "ua", &v);

    v.data = num[1];
    v.len = ngx_http_objspace_redis_dec(num[1], status) - num[1];
    p = ngx_http_objspace_audit_field(p, end, "status", &v);

    v.data = num[2];
    v.len = ngx_http_objspace_redis_dec(num[2],
                                        ngx_max(r->request_length, 0))
            - num[2];
    p = ngx_http_objspace_audit_field(p, end, "bytes_in", &v);

    v.data = num[3];
    v.len = ngx_http_objspace_redis_dec(num[3],
                                        ngx_max(r->connection->sent, 0))
            - num[3];
    p = ngx_http_objspace_audit_field(p, end, "bytes_out", &v);

    /*
     * $request_id if something already evaluated it for r (the access
     * log runs first, an error body, a proxied header): then the audit
     * names the same id.  Otherwise no one has seen one, and drawing 16
     * random bytes per request costs more than the rest of the event: a
     * per-process unique id of the same form, the worker id (random per
     * process) and the event's seq in hex.
     */

    v = info->request_id;

    if (v.len == 0 && a->amcf->request_id_index != NGX_ERROR) {
        vv = &r->variables[a->amcf->request_id_index];

        if (vv->valid && !vv->not_found) {
            v.data = vv->data;
            v.len = vv->len;
        }
    }

    if (v.len == 0) {
        q = ngx_cpymem(rid, a->amcf->worker, NGX_HTTP_OBJSPACE_WORKER_ID_LEN);

        for (i = 60; i >= 0; i -= 4) {
            *q++ = "0123456789abcdef"[(a->seq >> i) & 0xf];
        }

        v.data = rid;
        v.len = q - rid;
    }

    p = ngx_http_objspace_audit_field(p, end, "request_id", &v);

    if (info->denied) {
        ngx_str_set(&v, "deny");

    } else if (info->allowed) {
        ngx_str_set(&v, "allow");

    } else {
        v = empty;
    }

    p = ngx_http_objspace_audit_field(p, end, "decision", &v);
    p = ngx_http_objspace_audit_field(p, end, "reason",
                                      info->denied ? &info->deny_reason
                                                   : &empty);

    v.data = a->amcf->worker;
    v.len = NGX_HTTP_OBJSPACE_WORKER_ID_LEN;
    p = ngx_http_objspace_audit_field(p, end, "worker", &v);

    v.data = seq;
    v.len = seq_len;
    p = ngx_http_objspace_audit_field(p, end, "seq", &v);

    p = ngx_http_objspace_audit_field(p, end, "node", &a->node);

    nfields = NGX_HTTP_OBJSPACE_AUDIT_FIELDS;

    if (p == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "objspace: audit event too large, dropped");
        ngx_http_objspace_metrics_count(NGX_HTTP_OBJSPACE_M_AUDIT_DROPPED, 1);
        return;
    }

    /* the prefix: worker, seq, n, right before the fields */

    {
        u_char  pre[64 + 2 * NGX_INT64_LEN];

        q = ngx_http_objspace_redis_bulk(pre, a->amcf->worker,
                                         NGX_HTTP_OBJSPACE_WORKER_ID_LEN);
        q = ngx_http_objspace_redis_bulk(q, seq, seq_len);
        q = ngx_cpymem(q, "$2\r\n", sizeof("$2\r\n") - 1);
        *q++ = (u_char) ('0' + nfields / 10 % 10);
        *q++ = (u_char) ('0' + nfields % 10);
        *q++ = '\r';
        *q++ = '\n';

        fields -= q - pre;
        ngx_memcpy(fields, pre, q - pre);
    }

    len = p - fields;

    if (a->spool.fd != NGX_INVALID_FILE
        && (a->spool.size > a->spool.read
            || a->mem_bytes + len > a->amcf->audit_buffer))
    {
        if (a->spool.size + (off_t) len + 64 > a->amcf->spool_max
            || ngx_http_objspace_audit_append(a, a->spool.fd, a->spool.size,
                                              fields, len,
                                              3 + 2 * nfields)
               != NGX_OK)
        {
            ngx_http_objspace_metrics_count(NGX_HTTP_OBJSPACE_M_AUDIT_DROPPED,
                                            1);
            ngx_http_objspace_audit_failed(a, "spool full, event dropped",
                                           0);

        } else {
            a->spool.size += NGX_INT_T_LEN * 2 + 3 + len;
            ngx_http_objspace_metrics_count(NGX_HTTP_OBJSPACE_M_AUDIT_SPOOLED,
                                            1);
        }

    } else if (a->mem_bytes + len > a->amcf->audit_buffer) {
        ngx_http_objspace_metrics_count(NGX_HTTP_OBJSPACE_M_AUDIT_DROPPED, 1);
        ngx_http_objspace_audit_failed(a, "audit buffer full, event dropped "
                                       "(no objspace_audit_spool)", 0);

    } else {
        ev = ngx_alloc(sizeof(ngx_http_objspace_audit_event_t) + len,
                       r->connection->log);

        if (ev == NULL) {
            ngx_http_objspace_metrics_count(NGX_HTTP_OBJSPACE_M_AUDIT_DROPPED,
                                            1);
            return;
        }

        ev->len = len;
        ev->nargs = 3 + 2 * nfields;
        ngx_memcpy(ev->data, fields, len);

        ngx_queue_insert_tail(&a->events, &ev->queue);
        a->nevents++;
        a->mem_bytes += len;

        if (!a->flush.timer_set) {
            ngx_add_timer(&a->flush, NGX_HTTP_OBJSPACE_AUDIT_FLUSH_DELAY);
        }
    }

    ngx_http_objspace_audit_deliver(a);
}


/* one field/value pair as RESP bulk strings; NULL once out of room */

static u_char *
ngx_http_objspace_audit_field(u_char *p, u_char *end, const char *name,
    ngx_str_t *value)
{
    size_t  n;

    if (p == NULL) {
        return NULL;
    }

    n = ngx_strlen(name);

    if ((size_t) (end - p) < 2 * (NGX_SIZE_T_LEN + 5) + n + value->len) {
        return NULL;
    }

    p = ngx_http_objspace_redis_bulk(p, (u_char *) name, n);

    return ngx_http_objspace_redis_bulk(p, value->data, value->len);
}


/*
 * Sends the next batch if none is in flight: the adopted spool of a dead
 * worker first, then memory, then this worker's own spool.
 */

static void
ngx_http_objspace_audit_deliver(ngx_http_objspace_audit_t *a)
{
    u_char                           *p, *start;
    ngx_int_t                         rc;
    ngx_str_t                         resp;
    ngx_uint_t                        nargs, n;
    ngx_queue_t                      *q;
    ngx_http_objspace_audit_event_t  *ev;
    u_char                            hdr[2048];

    if (a->busy || a->retry.timer_set) {
        return;
    }

    start = a->batch + 2048;
    p = start;
    nargs = 0;

    if (a->orphan.fd != NGX_INVALID_FILE) {
        a->src = NGX_HTTP_OBJSPACE_SRC_ORPHAN;

        if (ngx_http_objspace_audit_read(a, &a->orphan, &p, &nargs)
            != NGX_OK)
        {
            ngx_http_objspace_audit_close(&a->orphan, 1);
            return;
        }

        if (nargs == 0) {
            ngx_http_objspace_audit_close(&a->orphan, 1);
        }
    }

    if (nargs == 0 && !ngx_queue_empty(&a->events)
        && (a->due || ngx_http_objspace_audit_full(a)))
    {
        a->src = NGX_HTTP_OBJSPACE_SRC_MEMORY;
        a->due = 0;
        n = 0;

        if (a->flush.timer_set) {
            ngx_del_timer(&a->flush);
        }

        for (q = ngx_queue_head(&a->events);
             q != ngx_queue_sentinel(&a->events);
             q = ngx_queue_next(q))
        {
            ev = ngx_queue_data(q, ngx_http_objspace_audit_event_t, queue);

            if (n && p + ev->len > start + NGX_HTTP_OBJSPACE_AUDIT_BATCH) {
                break;
            }

            p = ngx_cpymem(p, ev->data, ev->len);
            nargs += ev->nargs;
            n++;
        }

        a->inflight = n;
    }

    if (nargs == 0 && a->spool.fd != NGX_INVALID_FILE
        && a->spool.read < a->spool.size)
    {
        a->src = NGX_HTTP_OBJSPACE_SRC_SPOOL;

        if (ngx_http_objspace_audit_read(a, &a->spool, &p, &nargs)
            != NGX_OK)
        {
            /* unreadable: start the spool afresh */
            a->spool.read = 0;
            a->spool.size = 0;

            if (ftruncate(a->spool.fd, 0) == -1) {
                ngx_http_objspace_audit_failed(a, "spool truncate failed",
                                               ngx_errno);
            }

            return;
        }
    }

    if (nargs == 0) {
        return;
    }

    /* prepend: EVAL script 1 stream maxlen */

    n = ngx_sprintf(hdr, "%ui", a->amcf->audit_maxlen) - hdr;

    resp.data = ngx_sprintf(hdr + n,
                            "*%ui\r\n$4\r\nEVAL\r\n$%uz\r\n"
                            NGX_HTTP_OBJSPACE_AUDIT_SCRIPT "\r\n"
                            "$1\r\n1\r\n$%uz\r\n"
                            NGX_HTTP_OBJSPACE_AUDIT_STREAM "\r\n"
                            "$%ui\r\n%*s\r\n",
                            5 + nargs,
                            sizeof(NGX_HTTP_OBJSPACE_AUDIT_SCRIPT) - 1,
                            sizeof(NGX_HTTP_OBJSPACE_AUDIT_STREAM) - 1,
                            n, n, hdr);

    resp.len = resp.data - (hdr + n);
    resp.data = start - resp.len;
    ngx_memcpy(resp.data, hdr + n, resp.len);
    resp.len += p - start;

    rc = ngx_http_objspace_redis_send(a->cycle, &resp,
                                      ngx_http_objspace_audit_sent, a, NULL);

    if (rc == NGX_OK) {
        a->busy = 1;
        return;
    }

    if (!a->down) {
        a->down = 1;
        ngx_http_objspace_audit_failed(a, "redis unreachable, audit events "
                                       "are kept until it returns", 0);
    }

    ngx_add_timer(&a->retry, NGX_HTTP_OBJSPACE_AUDIT_RETRY);
}


/*
 * Reads whole records from a spool file, from f->read, appending their
 * RESP bytes at *p (up to one batch); a torn record at the end (a crash
 * while writing) ends the file.  Record: "NARGS LEN\n" DATA "\n", the
 * header padded to a fixed width.
 */

static ngx_int_t
ngx_http_objspace_audit_read(ngx_http_objspace_audit_t *a,
    ngx_http_objspace_audit_file_t *f, u_char **p, ngx_uint_t *nargs)
{
    u_char     *b, *last, *nl;
    off_t       off;
    size_t      hlen, len;
    ssize_t     n;
    ngx_int_t   na;
    u_char      buf[NGX_HTTP_OBJSPACE_AUDIT_BATCH];

    hlen = NGX_INT_T_LEN * 2 + 2;

    n = pread(f->fd, buf, sizeof(buf), f->read);

    if (n < 0) {
        ngx_http_objspace_audit_failed(a, "spool read failed", ngx_errno);
        return NGX_ERROR;
    }

    b = buf;
    last = buf + n;
    off = f->read;

    while ((size_t) (last - b) > hlen) {
        nl = b + hlen - 1;

        if (*nl != '\n') {
            goto corrupt;
        }

        na = ngx_http_objspace_audit_num(b, NGX_INT_T_LEN);
        len = ngx_http_objspace_audit_num(b + NGX_INT_T_LEN + 1,
                                          NGX_INT_T_LEN);

        if (na <= 0 || len == (size_t) NGX_ERROR) {
            goto corrupt;
        }

        if ((size_t) (last - b) < hlen + len + 1) {
            if (b == buf && (size_t) n == sizeof(buf)) {
                goto corrupt;       /* larger than a batch: not ours */
            }

            break;                  /* the rest next time (or torn) */
        }

        *p = ngx_cpymem(*p, b + hlen, len);
        *nargs += na;

        b += hlen + len + 1;
    }

    a->inflight_end = off + (b - buf);

    if (*nargs == 0 && f->read < f->size && n == f->size - f->read) {
        /* only a torn record is left: skip it */
        f->read = f->size;
    }

    return NGX_OK;

corrupt:

    ngx_log_error(NGX_LOG_ALERT, a->cycle->log, 0,
                  "objspace: audit spool \"%s\" is corrupt at offset %O; "
                  "the rest is skipped", f->name, off + (b - buf));

    return NGX_ERROR;
}


/* a batch's answer: drop what was delivered, or retry later */

static void
ngx_http_objspace_audit_sent(void *data, redisReply *reply)
{
    ngx_uint_t                        i;
    ngx_queue_t                      *q;
    ngx_http_objspace_audit_t        *a = data;
    ngx_http_objspace_audit_event_t  *ev;

    a->busy = 0;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {

        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, a->cycle->log, 0,
                          "objspace: audit delivery refused by redis: %*s",
                          (size_t) reply->len, reply->str);

        } else if (!a->down) {
            a->down = 1;
            ngx_http_objspace_audit_failed(a, "audit delivery failed "
                                           "(redis), retrying", 0);
        }

        if (!a->retry.timer_set && !ngx_exiting && !ngx_terminate) {
            ngx_add_timer(&a->retry, NGX_HTTP_OBJSPACE_AUDIT_RETRY);
        }

        return;
    }

    if (a->down) {
        a->down = 0;
        ngx_log_error(NGX_LOG_NOTICE, a->cycle->log, 0,
                      "objspace: audit delivery resumed");
    }

    ngx_http_objspace_metrics_count(NGX_HTTP_OBJSPACE_M_AUDIT_DELIVERED,
                                    (ngx_uint_t) reply->integer);

    switch (a->src) {

    case NGX_HTTP_OBJSPACE_SRC_MEMORY:
        for (i = 0; i < a->inflight && !ngx_queue_empty(&a->events); i++) {
            q = ngx_queue_head(&a->events);
            ngx_queue_remove(q);

            ev = ngx_queue_data(q, ngx_http_objspace_audit_event_t, queue);
            a->mem_bytes -= ev->len;
            a->nevents--;
            ngx_free(ev);
        }

        a->inflight = 0;

        /* what arrived meanwhile waits for its own flush */
        if (!ngx_queue_empty(&a->events) && !a->flush.timer_set) {
            ngx_add_timer(&a->flush, NGX_HTTP_OBJSPACE_AUDIT_FLUSH_DELAY);
        }

        break;

    case NGX_HTTP_OBJSPACE_SRC_SPOOL:
        a->spool.read = a->inflight_end;

        if (a->spool.read >= a->spool.size) {
            /* drained: new events go to memory again */
            if (ftruncate(a->spool.fd, 0) == -1) {
                ngx_http_objspace_audit_failed(a, "spool truncate failed",
                                               ngx_errno);
            }

            a->spool.read = 0;
            a->spool.size = 0;
        }

        break;

    default: /* NGX_HTTP_OBJSPACE_SRC_ORPHAN */
        a->orphan.read = a->inflight_end;

        if (a->orphan.read >= a->orphan.size) {
            ngx_http_objspace_audit_close(&a->orphan, 1);
        }

        break;
    }

    ngx_http_objspace_audit_deliver(a);
}


static void
ngx_http_objspace_audit_retry(ngx_event_t *ev)
{
    ngx_http_objspace_audit_t  *a = ev->data;

    a->due = 1;

    ngx_http_objspace_audit_deliver(a);
}


/* the flush timer: memory goes out now, or right after the batch in flight */

static void
ngx_http_objspace_audit_flush(ngx_event_t *ev)
{
    ngx_http_objspace_audit_t  *a = ev->data;

    a->due = 1;

    ngx_http_objspace_audit_deliver(a);
}


static ngx_uint_t
ngx_http_objspace_audit_full(ngx_http_objspace_audit_t *a)
{
    return a->nevents >= NGX_HTTP_OBJSPACE_AUDIT_FLUSH_EVENTS
           || a->mem_bytes >= NGX_HTTP_OBJSPACE_AUDIT_BATCH / 2
           || a->mem_bytes >= a->amcf->audit_buffer / 2;
}


/*
 * Looks for spools whose worker is gone (their lock is free) and adopts
 * one at a time; runs every NGX_HTTP_OBJSPACE_AUDIT_SCAN ms.
 */

static void
ngx_http_objspace_audit_scan(ngx_event_t *ev)
{
    size_t                      len;
    ngx_fd_t                    fd;
    ngx_dir_t                   dir;
    ngx_str_t                   name;
    ngx_file_info_t             fi;
    ngx_http_objspace_audit_t  *a = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(&a->scan, NGX_HTTP_OBJSPACE_AUDIT_SCAN);

    if (a->orphan.fd != NGX_INVALID_FILE) {
        ngx_http_objspace_audit_deliver(a);
        return;
    }

    if (ngx_open_dir(&a->amcf->spool_path, &dir) == NGX_ERROR) {
        ngx_http_objspace_audit_failed(a, "spool directory unreadable",
                                       ngx_errno);
        return;
    }

    for ( ;; ) {
        if (ngx_read_dir(&dir) == NGX_ERROR) {
            break;
        }

        name.data = ngx_de_name(&dir);
        name.len = ngx_de_namelen(&dir);

        if (name.len != sizeof("audit-.spool") - 1
                        + NGX_HTTP_OBJSPACE_WORKER_ID_LEN
            || ngx_strncmp(name.data, "audit-", 6) != 0
            || ngx_strncmp(name.data + name.len - 6, ".spool", 6) != 0
            || ngx_strncmp(name.data + 6, a->amcf->worker,
                           NGX_HTTP_OBJSPACE_WORKER_ID_LEN) == 0)
        {
            continue;
        }

        len = ngx_sprintf(a->orphan.name, "%V/%V%Z", &a->amcf->spool_path,
                          &name) - a->orphan.name;
        (void) len;

        fd = ngx_open_file(a->orphan.name, NGX_FILE_RDWR, NGX_FILE_OPEN, 0);

        if (fd == NGX_INVALID_FILE) {
            continue;
        }

        if (flock(fd, LOCK_EX | LOCK_NB) == -1 || ngx_fd_info(fd, &fi) == -1)
        {
            (void) ngx_close_file(fd);
            continue;
        }

        a->orphan.fd = fd;
        a->orphan.size = ngx_file_size(&fi);
        a->orphan.read = 0;

        ngx_log_error(NGX_LOG_NOTICE, a->cycle->log, 0,
                      "objspace: replaying the audit spool \"%s\" of a "
                      "previous worker (%O bytes)", a->orphan.name,
                      a->orphan.size);
        break;
    }

    (void) ngx_close_dir(&dir);

    ngx_http_objspace_audit_deliver(a);
}


/* writes one spool record at off */

static ngx_int_t
ngx_http_objspace_audit_append(ngx_http_objspace_audit_t *a, ngx_fd_t fd,
    off_t off, u_char *data, size_t len, ngx_uint_t nargs)
{
    struct iovec  iov[3];
    u_char        hdr[NGX_INT_T_LEN * 2 + 3];

    /* fixed width: "NARGS<pad> LEN<pad>\n" */
    ngx_memset(hdr, ' ', sizeof(hdr));
    (void) ngx_sprintf(hdr, "%ui", nargs);
    (void) ngx_sprintf(hdr + NGX_INT_T_LEN + 1, "%uz", len);
    hdr[NGX_INT_T_LEN * 2 + 1] = '\n';

    iov[0].iov_base = hdr;
    iov[0].iov_len = NGX_INT_T_LEN * 2 + 2;
    iov[1].iov_base = data;
    iov[1].iov_len = len;
    iov[2].iov_base = "\n";
    iov[2].iov_len = 1;

    if (pwritev(fd, iov, 3, off)
        != (ssize_t) (iov[0].iov_len + len + 1))
    {
        ngx_http_objspace_audit_failed(a, "spool write failed", ngx_errno);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a space-padded decimal of at most len bytes; NGX_ERROR if none */

static ngx_int_t
ngx_http_objspace_audit_num(u_char *p, size_t len)
{
    size_t  n;

    for (n = 0; n < len && p[n] >= '0' && p[n] <= '9'; n++) {
        /* void */
    }

    return n ? ngx_atoi(p, n) : NGX_ERROR;
}


static void
ngx_http_objspace_audit_close(ngx_http_objspace_audit_file_t *f,
    ngx_uint_t remove)
{
    if (f->fd == NGX_INVALID_FILE) {
        return;
    }

    if (remove) {
        (void) ngx_delete_file(f->name);
    }

    (void) ngx_close_file(f->fd);

    f->fd = NGX_INVALID_FILE;
    f->size = 0;
    f->read = 0;
}


/* one error line per minute at most */

static void
ngx_http_objspace_audit_failed(ngx_http_objspace_audit_t *a,
    const char *what, ngx_err_t err)
{
    time_t  now;

    now = ngx_time();

    if (now - a->logged < NGX_HTTP_OBJSPACE_AUDIT_LOG_EVERY) {
        return;
    }

    a->logged = now;

    ngx_log_error(NGX_LOG_ERR, a->cycle->log, err, "objspace: %s", what);
}

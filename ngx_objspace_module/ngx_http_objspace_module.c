
/*
 * Copyright (C) objspace authors
 *
 * ngx_http_objspace_module: registration, directives, configuration,
 * variables and phase wiring.  The request flow lives in _handler.c,
 * the backend request in _upstream.c, the body filter in _body.c, the S3
 * XML errors in _errors.c.
 *
 * Request flow (access phase):
 *   parse S3 request -> parse SigV4 credential -> look up identity (shm
 *   cache, Redis on miss: may suspend) -> verify signature -> authorize ->
 *   rewrite headers for the backend, re-signed with the space's key ->
 *   nginx's proxy sends it, the body passing through our body filter.
 */


#include "ngx_http_objspace_gateway.h"


static ngx_int_t ngx_http_objspace_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_objspace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_objspace_backend_host_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_objspace_key_fp_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void *ngx_http_objspace_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_objspace_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_objspace_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_objspace_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_objspace_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_objspace_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_objspace_secret_key_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_objspace_deny_prefix(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_objspace_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_objspace_init_process(ngx_cycle_t *cycle);
static void ngx_http_objspace_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_objspace_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_http_objspace_skew_bounds = {
    ngx_conf_check_num_bounds, 1, 7 * 24 * 3600
};


static ngx_command_t  ngx_http_objspace_commands[] = {

    { ngx_string("objspace_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_objspace_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("objspace_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_objspace_main_conf_t, redis_timeout),
      NULL },

    { ngx_string("objspace_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_objspace_cache_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("objspace_cache_valid"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_objspace_main_conf_t, cache_valid),
      NULL },

    { ngx_string("objspace_cache_negative"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_objspace_main_conf_t, negative_valid),
      NULL },

    { ngx_string("objspace_secret_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_objspace_secret_key_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("objspace_gateway"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, gateway),
      NULL },

    { ngx_string("objspace_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, region),
      NULL },

    { ngx_string("objspace_host_suffix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, host_suffixes),
      NULL },

    { ngx_string("objspace_backend_host"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, backend_host),
      NULL },

    { ngx_string("objspace_backend_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, backend_region),
      NULL },

    { ngx_string("objspace_clock_skew"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, max_skew),
      &ngx_http_objspace_skew_bounds },

    { ngx_string("objspace_max_chunk_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, max_chunk),
      NULL },

    { ngx_string("objspace_deny_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_objspace_deny_prefix,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, deny_prefixes),
      NULL },

    { ngx_string("objspace_deny_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_objspace_loc_conf_t, deny_log_level),
      &ngx_http_objspace_log_levels },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_objspace_module_ctx = {
    ngx_http_objspace_add_variables,       /* preconfiguration */
    ngx_http_objspace_init,                /* postconfiguration */

    ngx_http_objspace_create_main_conf,    /* create main configuration */
    ngx_http_objspace_init_main_conf,      /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_objspace_create_loc_conf,     /* create location configuration */
    ngx_http_objspace_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_objspace_module = {
    NGX_MODULE_V1,
    &ngx_http_objspace_module_ctx,         /* module context */
    ngx_http_objspace_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_objspace_init_process,        /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_objspace_exit_process,        /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* variables: the data field indexes this table */
enum {
    NGX_HTTP_OBJSPACE_VAR_UPSTREAM_URI = 0,
    NGX_HTTP_OBJSPACE_VAR_UPSTREAM_LENGTH,
    NGX_HTTP_OBJSPACE_VAR_IDENTITY,
    NGX_HTTP_OBJSPACE_VAR_TENANT,
    NGX_HTTP_OBJSPACE_VAR_SPACE,
    NGX_HTTP_OBJSPACE_VAR_BUCKET,
    NGX_HTTP_OBJSPACE_VAR_OPERATION,
    NGX_HTTP_OBJSPACE_VAR_DECISION,
    NGX_HTTP_OBJSPACE_VAR_DENY_REASON,
    NGX_HTTP_OBJSPACE_VAR_ERROR_CODE
};


static ngx_http_variable_t  ngx_http_objspace_vars[] = {

    { ngx_string("objspace_upstream_uri"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_UPSTREAM_URI,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_upstream_content_length"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_UPSTREAM_LENGTH,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_identity"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_IDENTITY,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_tenant"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_TENANT,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_space"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_SPACE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_bucket"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_BUCKET,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_operation"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_OPERATION,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_decision"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_DECISION,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_deny_reason"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_DENY_REASON,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_error_code"), NULL,
      ngx_http_objspace_variable, NGX_HTTP_OBJSPACE_VAR_ERROR_CODE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_backend_host"), NULL,
      ngx_http_objspace_backend_host_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("objspace_key_fingerprint"), NULL,
      ngx_http_objspace_key_fp_variable, 0, 0, 0 },

      ngx_http_null_variable
};


ngx_str_t  ngx_http_objspace_default_deny[] = {
    ngx_string("apps/rustshare/"),
    ngx_string("blobs/"),
    ngx_string("meta/")
};


ngx_http_objspace_main_conf_t *
ngx_http_objspace_main_conf(ngx_cycle_t *cycle)
{
    return ngx_http_cycle_get_module_main_conf(cycle, ngx_http_objspace_module);
}


static ngx_int_t
ngx_http_objspace_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_objspace_vars; v->name.len; v++) {
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
ngx_http_objspace_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                 *s, tmp;
    ngx_http_objspace_ctx_t   *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_objspace_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = NULL;

    switch (data) {

    case NGX_HTTP_OBJSPACE_VAR_UPSTREAM_URI:
        s = &ctx->upstream_uri;
        break;

    case NGX_HTTP_OBJSPACE_VAR_UPSTREAM_LENGTH:
        s = &ctx->upstream_length;
        break;

    case NGX_HTTP_OBJSPACE_VAR_IDENTITY:
        s = ctx->id ? &ctx->id->id : NULL;
        break;

    case NGX_HTTP_OBJSPACE_VAR_TENANT:
        s = ctx->id ? &ctx->id->tenant : NULL;
        break;

    case NGX_HTTP_OBJSPACE_VAR_SPACE:
        s = ctx->id ? &ctx->id->space : NULL;
        break;

    case NGX_HTTP_OBJSPACE_VAR_BUCKET:
        s = ctx->parsed ? &ctx->s3.bucket : NULL;
        break;

    case NGX_HTTP_OBJSPACE_VAR_OPERATION:
        s = ctx->parsed ? &ngx_http_objspace_s3_op_names[ctx->s3.op] : NULL;
        break;

    case NGX_HTTP_OBJSPACE_VAR_DECISION:
        if (ctx->err) {
            ngx_str_set(&tmp, "deny");

        } else if (ctx->done) {
            ngx_str_set(&tmp, "allow");

        } else {
            ngx_str_null(&tmp);
        }

        s = &tmp;
        break;

    case NGX_HTTP_OBJSPACE_VAR_DENY_REASON:
        s = ctx->err ? &ctx->deny_reason : NULL;
        break;

    case NGX_HTTP_OBJSPACE_VAR_ERROR_CODE:
        s = ctx->err ? &ngx_http_objspace_errors[ctx->err].code : NULL;
        break;
    }

    if (s == NULL || s->data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_objspace_backend_host_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_objspace_loc_conf_t  *olcf;

    olcf = ngx_http_get_module_loc_conf(r, ngx_http_objspace_module);

    if (olcf->backend_host.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = olcf->backend_host.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = olcf->backend_host.data;

    return NGX_OK;
}


/*
 * The 8-hex fingerprint (as in the error log) of the access key id the
 * request claims, from "Credential=AK/..." in Authorization or from the
 * X-Amz-Credential query argument; not verified.  Computed on use, so it
 * works in any phase, unlike $objspace_identity (access phase): limit_req
 * keys on it in the preaccess phase.  Empty for anonymous requests.
 */

static ngx_int_t
ngx_http_objspace_key_fp_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char     *p, *last, *fp;
    ngx_str_t   ak, value;

    ngx_str_null(&ak);

    if (r->headers_in.authorization) {
        value = r->headers_in.authorization->value;
        last = value.data + value.len;

        p = ngx_strlcasestrn(value.data, last, (u_char *) "Credential=",
                             sizeof("Credential=") - 2);
        if (p) {
            ak.data = p + sizeof("Credential=") - 1;

            for (p = ak.data; p < last && *p != '/' && *p != ','; p++) {
                /* void */
            }

            ak.len = p - ak.data;
        }

    } else if (ngx_http_arg(r, (u_char *) "X-Amz-Credential",
                            sizeof("X-Amz-Credential") - 1, &value)
               == NGX_OK)
    {
        ak.data = value.data;
        last = value.data + value.len;

        for (p = ak.data; p < last && *p != '/' && *p != '%'; p++) {
            /* void: "AK%2F20240101%2F..." or "AK/20240101/..." */
        }

        ak.len = p - ak.data;
    }

    if (ak.len == 0 || ak.len > 128) {       /* AWS: 16..128 */
        v->not_found = 1;
        return NGX_OK;
    }

    fp = ngx_pnalloc(r->pool, 8);
    if (fp == NULL) {
        return NGX_ERROR;
    }

    ngx_http_objspace_fingerprint(&ak, fp);

    v->len = 8;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = fp;

    return NGX_OK;
}


static void *
ngx_http_objspace_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_objspace_main_conf_t  *omcf;

    omcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_objspace_main_conf_t));
    if (omcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     omcf->redis_addr = NULL;
     *     omcf->redis_password = { 0, NULL };
     *     omcf->redis_db = 0;
     *     omcf->shm_zone = NULL;
     *     omcf->secret_key_set = 0;
     */

    omcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    omcf->cache_valid = NGX_CONF_UNSET;
    omcf->negative_valid = NGX_CONF_UNSET;

    return omcf;
}


static char *
ngx_http_objspace_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_objspace_main_conf_t *omcf = conf;

    ngx_conf_init_msec_value(omcf->redis_timeout, 1000);
    ngx_conf_init_value(omcf->cache_valid, 30);
    ngx_conf_init_value(omcf->negative_valid, 10);

    return NGX_CONF_OK;
}


static void *
ngx_http_objspace_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_objspace_loc_conf_t  *olcf;

    olcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_objspace_loc_conf_t));
    if (olcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     olcf->region = { 0, NULL };
     *     olcf->backend_host = { 0, NULL };
     *     olcf->backend_region = { 0, NULL };
     */

    olcf->gateway = NGX_CONF_UNSET;
    olcf->host_suffixes = NGX_CONF_UNSET_PTR;
    olcf->deny_prefixes = NGX_CONF_UNSET_PTR;
    olcf->max_skew = NGX_CONF_UNSET;
    olcf->max_chunk = NGX_CONF_UNSET_SIZE;
    olcf->deny_log_level = NGX_CONF_UNSET_UINT;

    return olcf;
}


static char *
ngx_http_objspace_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_objspace_loc_conf_t *prev = parent;
    ngx_http_objspace_loc_conf_t *conf = child;

    ngx_str_t                      *s;
    ngx_uint_t                      i;
    ngx_http_objspace_main_conf_t  *omcf;

    ngx_conf_merge_value(conf->gateway, prev->gateway, 0);
    ngx_conf_merge_str_value(conf->region, prev->region, "us-east-1");
    ngx_conf_merge_ptr_value(conf->host_suffixes, prev->host_suffixes, NULL);
    ngx_conf_merge_str_value(conf->backend_host, prev->backend_host, "");
    ngx_conf_merge_str_value(conf->backend_region, prev->backend_region,
                             "us-east-1");
    ngx_conf_merge_sec_value(conf->max_skew, prev->max_skew, 900);
    ngx_conf_merge_size_value(conf->max_chunk, prev->max_chunk,
                              16 * 1024 * 1024);
    ngx_conf_merge_uint_value(conf->deny_log_level, prev->deny_log_level,
                              NGX_LOG_ERR);

    if (conf->deny_prefixes == NGX_CONF_UNSET_PTR) {

        if (prev->deny_prefixes == NGX_CONF_UNSET_PTR) {
            prev->deny_prefixes = ngx_array_create(cf->pool, 3,
                                                   sizeof(ngx_str_t));
            if (prev->deny_prefixes == NULL) {
                return NGX_CONF_ERROR;
            }

            for (i = 0; i < 3; i++) {
                s = ngx_array_push(prev->deny_prefixes);
                if (s == NULL) {
                    return NGX_CONF_ERROR;
                }

                *s = ngx_http_objspace_default_deny[i];
            }
        }

        conf->deny_prefixes = prev->deny_prefixes;
    }

    if (!conf->gateway) {
        return NGX_CONF_OK;
    }

    omcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_objspace_module);

    if (omcf->redis_addr == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_gateway\" requires \"objspace_redis\"");
        return NGX_CONF_ERROR;
    }

    if (omcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_gateway\" requires "
                           "\"objspace_cache_zone\"");
        return NGX_CONF_ERROR;
    }

    if (!omcf->secret_key_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_gateway\" requires "
                           "\"objspace_secret_key_file\"");
        return NGX_CONF_ERROR;
    }

    if (conf->backend_host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"objspace_gateway\" requires "
                           "\"objspace_backend_host\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* objspace_redis ADDRESS [password=SECRET] [db=N] */

static char *
ngx_http_objspace_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_objspace_main_conf_t *omcf = conf;

    ngx_int_t    db;
    ngx_str_t   *value;
    ngx_url_t    u;
    ngx_uint_t   i;

    if (omcf->redis_addr) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in objspace_redis \"%V\"", u.err, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "objspace_redis \"%V\" must be an IP address and "
                           "port or a \"unix:\" path (no host names: a "
                           "worker never resolves)", &u.url);
        return NGX_CONF_ERROR;
    }

    if (u.family != AF_UNIX && u.no_port) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no port in objspace_redis \"%V\"", &u.url);
        return NGX_CONF_ERROR;
    }

    omcf->redis_addr = &u.addrs[0];

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            omcf->redis_password.data = value[i].data + 9;
            omcf->redis_password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            db = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (db == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid database \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            omcf->redis_db = db;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* objspace_cache_zone NAME:SIZE */

static char *
ngx_http_objspace_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_objspace_main_conf_t *omcf = conf;

    ngx_str_t  *value;

    if (omcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    omcf->shm_zone = ngx_http_objspace_zone_add(cf, &value[1],
                                                &ngx_http_objspace_module);
    if (omcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    omcf->shm_zone->init = ngx_http_objspace_cache_init_zone;
    omcf->shm_zone->data = omcf;

    return NGX_CONF_OK;
}


ngx_shm_zone_t *
ngx_http_objspace_zone_add(ngx_conf_t *cf, ngx_str_t *arg, void *tag)
{
    u_char          *p;
    ssize_t          size;
    ngx_str_t        name, s;
    ngx_shm_zone_t  *zone;

    p = (u_char *) ngx_strlchr(arg->data, arg->data + arg->len, ':');

    if (p == NULL || p == arg->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected NAME:SIZE", arg);
        return NULL;
    }

    name.data = arg->data;
    name.len = p - arg->data;

    s.data = p + 1;
    s.len = arg->data + arg->len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", arg);
        return NULL;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", arg);
        return NULL;
    }

    zone = ngx_shared_memory_add(cf, &name, size, tag);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "duplicate zone \"%V\"",
                           &name);
        return NULL;
    }

    return zone;
}


/*
 * Reads the sealing key (64 hex characters) while nginx still runs as root,
 * before workers drop privileges; the file itself stays root-only.
 */

static char *
ngx_http_objspace_secret_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_objspace_main_conf_t *omcf = conf;

    char        *rv;
    ssize_t      n;
    ngx_fd_t     fd;
    ngx_int_t    v;
    ngx_str_t   *value, path;
    ngx_uint_t   i;
    u_char       buf[130];

    if (omcf->secret_key_set) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &path);
        return NGX_CONF_ERROR;
    }

    rv = NGX_CONF_OK;

    n = ngx_read_fd(fd, buf, sizeof(buf));

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%V\" failed", &path);
        rv = NGX_CONF_ERROR;
        goto done;
    }

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }

    if (n != 2 * NGX_HTTP_OBJSPACE_SECRET_KEY_LEN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "objspace_secret_key_file \"%V\" must hold 64 hex "
                           "characters", &path);
        rv = NGX_CONF_ERROR;
        goto done;
    }

    for (i = 0; i < NGX_HTTP_OBJSPACE_SECRET_KEY_LEN; i++) {
        v = ngx_hextoi(&buf[2 * i], 2);

        if (v == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "objspace_secret_key_file \"%V\" must hold 64 "
                               "hex characters", &path);
            rv = NGX_CONF_ERROR;
            goto done;
        }

        omcf->secret_key[i] = (u_char) v;
    }

    omcf->secret_key_set = 1;

done:

    ngx_explicit_memzero(buf, sizeof(buf));

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", &path);
    }

    return rv;
}


/* objspace_deny_prefix PREFIX ... | off */

static char *
ngx_http_objspace_deny_prefix(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_objspace_loc_conf_t *olcf = conf;

    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    if (olcf->deny_prefixes != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    olcf->deny_prefixes = ngx_array_create(cf->pool, cf->args->nelts,
                                           sizeof(ngx_str_t));
    if (olcf->deny_prefixes == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty prefix in \"%V\"", &cmd->name);
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push(olcf->deny_prefixes);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_objspace_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_objspace_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_objspace_post_read;

    if (ngx_http_objspace_body_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_objspace_errors_init(cf);
}


static ngx_int_t
ngx_http_objspace_init_process(ngx_cycle_t *cycle)
{
    ngx_http_objspace_main_conf_t  *omcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    omcf = ngx_http_objspace_main_conf(cycle);

    if (omcf == NULL || omcf->redis_addr == NULL || omcf->shm_zone == NULL) {
        return NGX_OK;
    }

    return ngx_http_objspace_redis_init_process(cycle);
}


static void
ngx_http_objspace_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_objspace_main_conf_t  *omcf;

    omcf = ngx_http_objspace_main_conf(cycle);

    if (omcf && omcf->redis_addr && omcf->shm_zone) {
        ngx_http_objspace_redis_exit_process(cycle);
    }

    if (omcf) {
        ngx_explicit_memzero(omcf->secret_key, sizeof(omcf->secret_key));
    }
}

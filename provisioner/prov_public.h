
/*
 * objspace-provisioner: public web/CDN access of a space (issue 6):
 * publication rules (objspace:public:{id}), the CDN slug and custom host
 * claims, public_gen.  Records: docs/redis-schema.md; behaviour:
 * docs/public.md.
 */

#ifndef PROV_PUBLIC_H
#define PROV_PUBLIC_H


#include <jansson.h>

#include "prov_state.h"


#define PROV_PUBLIC_SLUG_MAX    63
#define PROV_PUBLIC_HOST_MAX    126
#define PROV_PUBLIC_RULES_MAX   64
#define PROV_PUBLIC_VALUE_MAX   1024

#define PROV_K_SLUG       "objspace:slug:%s"
#define PROV_K_PUBHOST    "objspace:pubhost:%s"
#define PROV_K_PUBLIC     "objspace:public:%s"


/* a publication change; NULL/0 members are "not given" */
typedef struct {
    const char  *prefix;          /* NULL: the whole space */
    const char  *slug;
    const char  *host;
    const char  *cache_control;
    const char  *index;
    const char  *error_page;
    const char  *cors;            /* origins, space-separated, or "*" */
    const char  *types;           /* types, space-separated, "type/ *" */
    int          immutable;
    int          listing;
} prov_public_req_t;


/*
 * on: adds (or replaces) the rule for req->prefix ("" when NULL), claims
 * the slug (default: the current one, else the bucket) and the host, sets
 * visibility=public.  off: removes the rule for req->prefix, or every rule
 * when req->prefix is NULL; the space turns private when no rule is left.
 * One MULTI/EXEC with public_gen + 1, the invalidations and the audit
 * event.  Errors: PROV_E_INVAL (bad value), PROV_E_EXISTS (slug or host
 * taken), PROV_E_NOTFOUND (off: no such rule), PROV_E_REDIS.
 */
int prov_public_set(prov_ctx_t *ctx, prov_space_t *sp, int on,
    const prov_public_req_t *req, prov_err_t *err);

/*
 * Adds public_slug, public_host, public_base_url, public_host_url and
 * public_rules to j (a space object, borrowed).
 */
int prov_public_json(prov_ctx_t *ctx, prov_space_t *sp, json_t *j,
    prov_err_t *err);

/* a space's CDN names, read before a transaction that releases them */
typedef struct {
    char        slug[PROV_PUBLIC_SLUG_MAX + 1];
    char        host[PROV_PUBLIC_HOST_MAX + 1];
} prov_public_names_t;

int prov_public_names(prov_ctx_t *ctx, prov_space_t *sp,
    prov_public_names_t *names, prov_err_t *err);

/*
 * Appends to the caller's transaction (space delete) what releases the
 * space's publication rules and its slug and host claims, with their
 * invalidations.  A claim another space took meanwhile is left alone.
 */
void prov_public_forget_tx(prov_ctx_t *ctx, prov_space_t *sp,
    const prov_public_names_t *names);

/* the same, as text lines on stdout */
int prov_public_print(prov_ctx_t *ctx, prov_space_t *sp, prov_err_t *err);


#endif /* PROV_PUBLIC_H */

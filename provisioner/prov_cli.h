
/*
 * objspace-provisioner: command line interface.
 */

#ifndef PROV_CLI_H
#define PROV_CLI_H


#include <jansson.h>

#include "prov_core.h"
#include "prov_state.h"


/* exit statuses (docs/provisioner.md) */
#define PROV_EXIT_OK        0
#define PROV_EXIT_ERROR     1     /* Redis, storage, crypto, I/O */
#define PROV_EXIT_USAGE     2     /* bad command line or invalid input */
#define PROV_EXIT_NOTFOUND  3     /* unknown space or key */
#define PROV_EXIT_CONFLICT  4     /* exists already, wrong state, busy */


typedef struct {
    const char  *config;
    int          json;
    int          verbose;
} prov_cli_global_t;


int prov_cli_main(int argc, char **argv);
int prov_cli_exit_code(const prov_err_t *err);


/* internal to prov_cli.c and prov_cli_space.c */

/* one option of a command, as parsed */
typedef struct {
    const char  *name;          /* without "--" */
    int          has_arg;
    const char  *value;
    int          set;
} prov_opt_t;


/* the value of a "name=" option, NULL if not given (borrowed) */
const char *prov_opt(prov_opt_t *opts, const char *name);
/* whether an option was given */
int prov_opt_set(prov_opt_t *opts, const char *name);
int prov_cli_open(prov_cli_global_t *g, prov_ctx_t *ctx, prov_err_t *err);
/* prints and releases j (a new reference) */
int prov_json_print(json_t *j, prov_err_t *err);

/* the "space" and "key" groups (prov_cli_space.c) */
int prov_cmd_space_create(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_space_list(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_space_show(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_space_enable(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_space_disable(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_space_delete(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_space_public(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_space_quota(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_key_create(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_key_list(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_key_show(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_key_revoke(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_key_rotate(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
int prov_cmd_key_delete(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);


#endif /* PROV_CLI_H */

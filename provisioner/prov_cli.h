
/*
 * objspace-provisioner: command line interface.
 */

#ifndef PROV_CLI_H
#define PROV_CLI_H


#include "prov_core.h"


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


#endif /* PROV_CLI_H */

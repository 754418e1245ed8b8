
/*
 * objspace-provisioner: the daemon ("run"), reconcile passes, status.
 */

#ifndef PROV_DAEMON_H
#define PROV_DAEMON_H


#include "prov_core.h"


int prov_daemon_run(const char *config, int once, prov_err_t *err);
int prov_daemon_reconcile_once(const char *config, int json, int dry_run,
    prov_err_t *err);
int prov_daemon_status(const char *config, int json, int check,
    prov_err_t *err);


#endif /* PROV_DAEMON_H */

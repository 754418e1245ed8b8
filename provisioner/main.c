
/*
 * objspace-provisioner: entry point.  Everything else lives in
 * prov_cli.c (commands; the space and key groups in prov_cli_space.c) and
 * prov_daemon.c ("run": the reconcile loop).
 */

#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <malloc.h>

#include <curl/curl.h>

#include "prov_cli.h"


int
main(int argc, char **argv)
{
    int       rc;
    CURLcode  cc;

    signal(SIGPIPE, SIG_IGN);

    /*
     * No glibc fastbins: a full RustShare sync frees millions of small
     * jansson nodes at once, and fastbin consolidation made that cost as
     * much as parsing them (bench/prov_sync_bench.c does the same).
     */
    (void) mallopt(M_MXFAST, 0);

    cc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (cc != CURLE_OK) {
        fprintf(stderr, "objspace-provisioner: curl_global_init: %s\n",
                curl_easy_strerror(cc));
        return PROV_EXIT_ERROR;
    }

    rc = prov_cli_main(argc, argv);

    curl_global_cleanup();

    return rc;
}

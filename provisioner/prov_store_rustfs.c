
/*
 * objspace-provisioner: RustFS driver (placeholder until implemented).
 */

#include "prov_store.h"


static int prov_rustfs_todo(prov_store_t *st, prov_store_space_t *sp,
    prov_err_t *err);


static int
prov_rustfs_todo(prov_store_t *st, prov_store_space_t *sp, prov_err_t *err)
{
    (void) st;
    (void) sp;

    prov_err_set(err, PROV_E_CONFIG, "the rustfs driver is not implemented "
                 "yet");
    return PROV_ERR;
}


const prov_store_ops_t  prov_store_rustfs_ops = {
    "rustfs",
    prov_rustfs_todo,
    NULL,
    prov_rustfs_todo,
    prov_rustfs_todo,
    NULL,
    prov_rustfs_todo,
    NULL,
    NULL
};

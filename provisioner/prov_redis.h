
/*
 * objspace-provisioner: synchronous Redis client (hiredis) for the
 * records in docs/redis-schema.md.  The daemon and CLI are single-threaded
 * and may block; the nginx module never uses this.
 */

#ifndef PROV_REDIS_H
#define PROV_REDIS_H


#include <hiredis/hiredis.h>

#include "prov_core.h"
#include "prov_config.h"


#define PROV_K_AK          "objspace:ak:%s"
#define PROV_K_SPACE       "objspace:space:%s"
#define PROV_K_BUCKET      "objspace:bucket:%s"
#define PROV_K_IDX_SPACES  "objspace:idx:spaces"
#define PROV_K_IDX_KEYS    "objspace:idx:keys:%s"
#define PROV_K_KEYID       "objspace:keyid:%s"
#define PROV_CHANNEL       "objspace:invalidate"

/* provisioner-private keys (docs/provisioner.md) */
#define PROV_K_LOCK        "objspace:prov:lock:%s"
#define PROV_K_TOMBSTONES  "objspace:prov:tombstones"
#define PROV_K_LEADER      "objspace:prov:leader"
#define PROV_K_STATUS      "objspace:prov:status"
#define PROV_K_FENCE       "objspace:prov:fence:%s"


#define PROV_REDIS_INFLIGHT  4     /* transactions sent, replies unread */


typedef struct {
    redisContext  *c;
    int            queued;      /* replies owed inside a transaction */
    int            failed;      /* an append failed inside a transaction */
    int            nsent;       /* transactions sent, replies not read */
    int            sent[PROV_REDIS_INFLIGHT];  /* their replies owed */
    char           sent_fenced[PROV_REDIS_INFLIGHT];
    int            fenced;      /* the transaction being built is fenced */
    /* the lease fence: with a node id set (the daemon), every transaction
     * and prov_redis_write runs only if objspace:prov:leader holds it when
     * Redis executes it; borrowed, NULL: no fence (the CLI) */
    const char    *fence;
} prov_redis_t;


int prov_redis_open(prov_redis_t *r, const prov_config_t *cf,
    prov_err_t *err);
void prov_redis_close(prov_redis_t *r);

/*
 * A command; returns a reply the caller frees with freeReplyObject, or
 * NULL with err set (connection failure or an error reply).
 */
redisReply *prov_redis_cmd(prov_redis_t *r, prov_err_t *err,
    const char *fmt, ...);
redisReply *prov_redis_argv(prov_redis_t *r, int argc, const char **argv,
    const size_t *lens, prov_err_t *err);

/*
 * A write outside a transaction: like prov_redis_cmd / prov_redis_argv,
 * but under the lease fence when r->fence is set (then it is sent as a
 * fenced transaction of one command and the command's own reply is
 * returned; PROV_E_BUSY if the fence refused it).  Not while
 * transactions are in flight.
 */
redisReply *prov_redis_write(prov_redis_t *r, prov_err_t *err,
    const char *fmt, ...);
redisReply *prov_redis_write_argv(prov_redis_t *r, int argc,
    const char **argv, const size_t *lens, prov_err_t *err);

/*
 * MULTI ... EXEC, pipelined: the commands are only sent by exec, which
 * reads every reply and fails if any command was refused or EXEC aborted
 * (a WATCHed key changed: PROV_E_BUSY).  With r->fence set, begin puts
 * the lease fence in front of MULTI: WATCH of the lease and of this
 * node's fence key, then a script that touches the fence key unless the
 * lease holds r->fence, so EXEC aborts (PROV_E_BUSY, "lease fence") when
 * the node is not the lease holder at that moment, or the lease changes
 * hands before EXEC.
 *
 * For bulk writes, send + wait split exec: send writes the transaction to
 * the socket without reading, so the caller can build the next one while
 * Redis executes this one; wait reads the replies of the oldest one sent
 * (Redis runs them in order).  At most PROV_REDIS_INFLIGHT are in flight;
 * a failed send or wait leaves none (the replies owed are read and
 * dropped, or the connection is broken).
 */
int prov_redis_tx_begin(prov_redis_t *r, prov_err_t *err);
void prov_redis_tx_append(prov_redis_t *r, const char *fmt, ...);
void prov_redis_tx_argv(prov_redis_t *r, int argc, const char **argv,
    const size_t *lens);
/* argc plain C strings (no NUL inside), as one command */
void prov_redis_tx_strs(prov_redis_t *r, int argc, ...);
int prov_redis_tx_exec(prov_redis_t *r, prov_err_t *err);
int prov_redis_tx_send(prov_redis_t *r, prov_err_t *err);
int prov_redis_tx_wait(prov_redis_t *r, prov_err_t *err);
/* reads the replies of every transaction in flight; first error wins */
int prov_redis_tx_drain(prov_redis_t *r, prov_err_t *err);

/* field lookup in an HGETALL reply; borrowed pointer or NULL */
const char *prov_redis_field(redisReply *hash, const char *name);


#endif /* PROV_REDIS_H */


/*
 * Copyright (C) objspace authors
 *
 * Quota reservations and usage accounting (docs/redis-schema.md, "Quota
 * and usage").  All of it is one Lua script run with EVAL over the
 * worker's non-blocking Redis client: reserve before an upload reaches the
 * backend (only when the space has a quota), then, in the log phase, one
 * of put / part / complete / abort / del on a 2xx answer, or release.  An
 * r->pool cleanup releases a reservation on every other exit path.
 *
 * Sizes of stored objects are kept per space under a fingerprint of the
 * key (never the key), so overwrites and deletes know what they replace
 * without a HEAD to the backend.
 */


#include <openssl/sha.h>

#include "ngx_http_objspace_quota.h"
#include "ngx_http_objspace_audit.h"
#include "ngx_http_objspace_metrics.h"
#include "ngx_http_objspace_redis.h"


#define NGX_HTTP_OBJSPACE_FP_LEN      32
#define NGX_HTTP_OBJSPACE_RESV_ID_LEN (NGX_HTTP_OBJSPACE_WORKER_ID_LEN + 1  \
                                       + NGX_INT64_LEN)
#define NGX_HTTP_OBJSPACE_UPLOAD_LEN  256
#define NGX_HTTP_OBJSPACE_KEY_LEN     (128 + NGX_HTTP_OBJSPACE_UPLOAD_LEN)


/*
 * KEYS: usage, resv, resvsz, osz, mpu, claim, claimid
 * ARGV: op, id, size, quota, ttl_ms, fp, srcfp, part, claim, fp...
 * Reply: {status, size, bytes, reserved}; status 1 ok, 0 over quota,
 * -1 copy source size unknown, -2 write-once target exists or is claimed.
 * size -1: unknown.  claim "1": reserve/claim also claims fp for id
 * (write-once), put/complete/release settle id's claim on fp.
 */
#define NGX_HTTP_OBJSPACE_QUOTA_SCRIPT                                        \
    "local U, R, RS, O, M = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5] "     \
    "local C, CI = KEYS[6], KEYS[7] "                                         \
    "local op, id, fp, claim = ARGV[1], ARGV[2], ARGV[6], ARGV[9] "           \
    "local t = redis.call('TIME') "                                           \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "  \
    "local function incr(f, d) "                                              \
    "  if d ~= 0 then redis.call('HINCRBY', U, f, d) end "                    \
    "end "                                                                    \
    "local function rel(x) "                                                  \
    "  local n = redis.call('HGET', RS, x) "                                  \
    "  redis.call('ZREM', R, x) "                                             \
    "  if n then "                                                            \
    "    redis.call('HDEL', RS, x) "                                          \
    "    incr('reserved', -tonumber(n)) "                                     \
    "  end "                                                                  \
    "end "                                                                    \
    "local function unclaim(x) "                                              \
    "  redis.call('ZREM', C, x) "                                             \
    "  redis.call('HDEL', CI, x) "                                            \
    "end "                                                                    \
    "for _, x in ipairs(redis.call('ZRANGEBYSCORE', R, '-inf', now)) do "     \
    "  rel(x) "                                                               \
    "end "                                                                    \
    "for _, x in ipairs(redis.call('ZRANGEBYSCORE', C, '-inf', now)) do "     \
    "  unclaim(x) "                                                           \
    "end "                                                                    \
    "local function osz(f) "                                                  \
    "  if f == '' then return nil end "                                       \
    "  local v = redis.call('HGET', O, f) "                                   \
    "  if v then return tonumber(v) end "                                     \
    "  return nil "                                                           \
    "end "                                                                    \
    "local function sum(k) "                                                  \
    "  local s = 0 "                                                          \
    "  for _, v in ipairs(redis.call('HVALS', k)) do "                        \
    "    s = s + tonumber(v) "                                                \
    "  end "                                                                  \
    "  return s "                                                             \
    "end "                                                                    \
    "local function settle() "                                                \
    "  if claim ~= '' and redis.call('HGET', CI, fp) == id then "             \
    "    unclaim(fp) "                                                        \
    "  end "                                                                  \
    "end "                                                                    \
    "local size = tonumber(ARGV[3]) "                                         \
    "if ARGV[7] ~= '' then size = osz(ARGV[7]) end "                          \
    "local function reserve() "                                               \
    "  if size == nil then return -1 end "                                    \
    "  local need = size "                                                    \
    "  if ARGV[8] == '' then need = size - (osz(fp) or 0) end "               \
    "  if need < 0 then need = 0 end "                                        \
    "  local q = tonumber(ARGV[4]) "                                          \
    "  local u = redis.call('HMGET', U, 'bytes', 'reserved') "                \
    "  local used = (tonumber(u[1]) or 0) + (tonumber(u[2]) or 0) "           \
    "  if q > 0 and used + need > q then return 0 end "                       \
    "  redis.call('ZADD', R, now + tonumber(ARGV[5]), id) "                   \
    "  redis.call('HSET', RS, id, need) "                                     \
    "  incr('reserved', need) "                                               \
    "  return 1 "                                                             \
    "end "                                                                    \
    "local st = 1 "                                                           \
    "if op == 'reserve' or op == 'claim' then "                               \
    "  if claim ~= '' and (osz(fp) or redis.call('ZSCORE', C, fp)) then "     \
    "    st = -2 "                                                            \
    "  elseif op == 'reserve' then "                                          \
    "    st = reserve() "                                                     \
    "  end "                                                                  \
    "  if st == 1 and claim ~= '' then "                                      \
    "    redis.call('ZADD', C, now + tonumber(ARGV[5]), fp) "                 \
    "    redis.call('HSET', CI, fp, id) "                                     \
    "  end "                                                                  \
    "elseif op == 'release' then "                                            \
    "  rel(id) "                                                              \
    "  settle() "                                                             \
    "elseif op == 'put' then "                                                \
    "  rel(id) "                                                              \
    "  local old = osz(fp) "                                                  \
    "  if old == nil then incr('objects', 1) end "                            \
    "  if size == nil and claim == '' then "                                  \
    "    if old then "                                                        \
    "      redis.call('HDEL', O, fp) "                                        \
    "      incr('bytes', -old) "                                              \
    "    end "                                                                \
    "  else "                                                                 \
    "    redis.call('HSET', O, fp, size or 0) "                               \
    "    incr('bytes', (size or 0) - (old or 0)) "                            \
    "  end "                                                                  \
    "  settle() "                                                             \
    "elseif op == 'part' then "                                               \
    "  rel(id) "                                                              \
    "  if size ~= nil then "                                                  \
    "    local old = tonumber(redis.call('HGET', M, ARGV[8]) or '0') "        \
    "    redis.call('HSET', M, ARGV[8], size) "                               \
    "    incr('bytes', size - old) "                                          \
    "  end "                                                                  \
    "elseif op == 'complete' then "                                           \
    "  if redis.call('EXISTS', M) == 1 then "                                 \
    "    local total = sum(M) "                                               \
    "    local old = osz(fp) "                                                \
    "    redis.call('HSET', O, fp, total) "                                   \
    "    if old then "                                                        \
    "      incr('bytes', -old) "                                              \
    "    else "                                                               \
    "      incr('objects', 1) "                                               \
    "    end "                                                                \
    "    redis.call('DEL', M) "                                               \
    "    size = total "                                                       \
    "  elseif claim ~= '' and osz(fp) == nil then "                           \
    "    redis.call('HSET', O, fp, 0) "                                       \
    "    incr('objects', 1) "                                                 \
    "  end "                                                                  \
    "  settle() "                                                             \
    "elseif op == 'abort' then "                                              \
    "  incr('bytes', -sum(M)) "                                               \
    "  redis.call('DEL', M) "                                                 \
    "elseif op == 'del' then "                                                \
    "  for i = 6, #ARGV do "                                                  \
    "    local old = nil "                                                    \
    "    if i == 6 or i > 9 then old = osz(ARGV[i]) end "                     \
    "    if old then "                                                        \
    "      redis.call('HDEL', O, ARGV[i]) "                                   \
    "      incr('bytes', -old) "                                              \
    "      incr('objects', -1) "                                              \
    "    end "                                                                \
    "  end "                                                                  \
    "end "                                                                    \
    "local u = redis.call('HMGET', U, 'bytes', 'reserved') "                  \
    "return {st, size or -1, tonumber(u[1]) or 0, tonumber(u[2]) or 0}"


/*
 * The tail of the batch of log-phase usage updates (spaces without a
 * quota; ngx_http_objspace_redis_batch_create_tail): the entries run in
 * order, but a run of consecutive plain "put" and "del" entries (no
 * claim, no copy-source lookup, no quota, so nothing reserved; sent short:
 * KEYS usage, osz, ARGV op, size, fp...) is applied together: one HMGET
 * of the sizes it touches per space, the effects computed in order, one
 * HSET/HDEL per space and one HINCRBY per counter, instead of about ten
 * commands per entry.  Any other entry runs the script itself (one()),
 * after the run before it is applied, and answers what the script
 * answers, {1, size, bytes, reserved}; in a run, the last entry of each
 * space answers that, the others 1 (the gauges need one figure).  The run
 * is kept in flat arrays of ARGV positions, not a table per entry, and
 * ARGV, tonumber and redis.call are locals: about a third less Redis CPU
 * per batch of 64 puts.  A short "put" without a key answers an error.
 */
#define NGX_HTTP_OBJSPACE_QUOTA_BATCH_TAIL                                    \
    " end "                                                                   \
    "local ARGV, tonumber, call = ARGV, tonumber, redis.call "                \
    "local out, n, i = {}, 0, 1 "                                             \
    "local rn, rU, rO, rput, rsize = {}, {}, {}, {}, {} "                     \
    "local rf1, rf2, nrun = {}, {}, 0 "                                       \
    "local function chunks(cmd, key, list, step) "                            \
    "  local r = {} "                                                         \
    "  for s = 1, #list, step do "                                            \
    "    local e = math.min(s + step - 1, #list) "                            \
    "    local v = call(cmd, key, unpack(list, s, e)) "                       \
    "    if type(v) == 'table' then "                                         \
    "      for _, x in ipairs(v) do r[#r + 1] = x end "                       \
    "    end "                                                                \
    "  end "                                                                  \
    "  return r "                                                             \
    "end "                                                                    \
    "local function apply() "                                                 \
    "  local byO, cur, d = {}, {}, {} "                                       \
    "  for k = 1, nrun do "                                                   \
    "    local g = byO[rO[k]] "                                               \
    "    if not g then g = {f = {}, s = {}, U = rU[k]} byO[rO[k]] = g end "   \
    "    local gf, gs = g.f, g.s "                                            \
    "    for j = rf1[k], rf2[k] do "                                          \
    "      local f = ARGV[j] "                                                \
    "      if not gs[f] then gs[f] = true gf[#gf + 1] = f end "               \
    "    end "                                                                \
    "  end "                                                                  \
    "  for O, g in pairs(byO) do "                                            \
    "    local v = chunks('HMGET', O, g.f, 1000) "                            \
    "    local c = {} "                                                       \
    "    for j, f in ipairs(g.f) do c[f] = tonumber(v[j]) or false end "      \
    "    cur[O] = c "                                                         \
    "    if not d[g.U] then d[g.U] = {0, 0} end "                             \
    "  end "                                                                  \
    "  for k = 1, nrun do "                                                   \
    "    local c, du = cur[rO[k]], d[rU[k]] "                                 \
    "    if rput[k] then "                                                    \
    "      local f = ARGV[rf1[k]] "                                           \
    "      local old = c[f] "                                                 \
    "      if old == false then du[2] = du[2] + 1 old = 0 end "               \
    "      du[1] = du[1] + rsize[k] - old "                                   \
    "      c[f] = rsize[k] "                                                  \
    "    else "                                                               \
    "      for j = rf1[k], rf2[k] do "                                        \
    "        local f = ARGV[j] "                                              \
    "        local old = c[f] "                                               \
    "        if old then "                                                    \
    "          du[1] = du[1] - old du[2] = du[2] - 1 c[f] = false "           \
    "        end "                                                            \
    "      end "                                                              \
    "    end "                                                                \
    "  end "                                                                  \
    "  for O, g in pairs(byO) do "                                            \
    "    local set, del, c = {}, {}, cur[O] "                                 \
    "    for _, f in ipairs(g.f) do "                                         \
    "      if c[f] then set[#set + 1] = f set[#set + 1] = c[f] "              \
    "      else del[#del + 1] = f end "                                       \
    "    end "                                                                \
    "    if #set > 0 then chunks('HSET', O, set, 1000) end "                  \
    "    if #del > 0 then chunks('HDEL', O, del, 1000) end "                  \
    "  end "                                                                  \
    "  local u = {} "                                                         \
    "  for U, du in pairs(d) do "                                             \
    "    if du[1] ~= 0 then call('HINCRBY', U, 'bytes', du[1]) end "          \
    "    if du[2] ~= 0 then call('HINCRBY', U, 'objects', du[2]) end "        \
    "    local x = call('HMGET', U, 'bytes', 'reserved') "                    \
    "    u[U] = {tonumber(x[1]) or 0, tonumber(x[2]) or 0} "                  \
    "  end "                                                                  \
    "  local last = {} "                                                      \
    "  for k = 1, nrun do out[rn[k]] = 1 last[rU[k]] = k end "                \
    "  for U, k in pairs(last) do "                                           \
    "    out[rn[k]] = {1, rsize[k], u[U][1], u[U][2]} "                       \
    "  end "                                                                  \
    "end "                                                                    \
    "local function flush() "                                                 \
    "  if nrun == 0 then return end "                                         \
    "  local ok, res = pcall(apply) "                                         \
    "  if not ok then "                                                       \
    "    if type(res) ~= 'table' then res = {err = tostring(res)} end "       \
    "    for k = 1, nrun do out[rn[k]] = res end "                            \
    "  end "                                                                  \
    "  nrun = 0 "                                                             \
    "end "                                                                    \
    "local nargv = #ARGV "                                                    \
    "while i <= nargv do "                                                    \
    "  local nk, na = tonumber(ARGV[i]), tonumber(ARGV[i + 1]) "              \
    "  local a0 = i + 1 + nk "                                                \
    "  n = n + 1 "                                                            \
    "  out[n] = false "                                                       \
    "  if nk == 2 and na < 3 and ARGV[a0 + 1] == 'put' then "                 \
    "    out[n] = {err = 'ERR usage put entry without a key'} "               \
    "  elseif nk == 2 then "                                                  \
    "    nrun = nrun + 1 "                                                    \
    "    rn[nrun] = n "                                                       \
    "    rU[nrun] = ARGV[i + 2] "                                             \
    "    rO[nrun] = ARGV[i + 3] "                                             \
    "    rput[nrun] = (ARGV[a0 + 1] == 'put') "                               \
    "    rsize[nrun] = tonumber(ARGV[a0 + 2]) or 0 "                          \
    "    rf1[nrun] = a0 + 3 "                                                 \
    "    rf2[nrun] = a0 + na "                                                \
    "  else "                                                                 \
    "    flush() "                                                            \
    "    local k, a = {}, {} "                                                \
    "    for j = 1, nk do k[j] = ARGV[i + 1 + j] end "                        \
    "    for j = 1, na do a[j] = ARGV[a0 + j] end "                           \
    "    local ok, res = pcall(one, k, a) "                                   \
    "    if not ok and type(res) ~= 'table' then "                            \
    "      res = {err = tostring(res)} "                                      \
    "    end "                                                                \
    "    if res == nil then res = false end "                                 \
    "    out[n] = res "                                                       \
    "  end "                                                                  \
    "  i = i + 2 + nk + na "                                                  \
    "end "                                                                    \
    "flush() "                                                                \
    "return out "


/* the script's KEYS, in order: objspace:{name}:{space_id} */
#define NGX_HTTP_OBJSPACE_QUOTA_NKEYS      7
#define NGX_HTTP_OBJSPACE_QUOTA_NKEYS_STR  "7"

static const char  *ngx_http_objspace_quota_keys[] = {
    "usage", "resv", "resvsz", "osz", "mpu", "claim", "claimid"
};


typedef enum {
    NGX_HTTP_OBJSPACE_Q_NONE = 0,
    NGX_HTTP_OBJSPACE_Q_WAITING,
    NGX_HTTP_OBJSPACE_Q_RESERVED,     /* or nothing to reserve */
    NGX_HTTP_OBJSPACE_Q_OVER,
    NGX_HTTP_OBJSPACE_Q_UNKNOWN,
    NGX_HTTP_OBJSPACE_Q_FAILED,
    NGX_HTTP_OBJSPACE_Q_EXISTS,       /* write-once target known */
    NGX_HTTP_OBJSPACE_Q_FINISHED
} ngx_http_objspace_quota_state_e;


typedef struct {
    ngx_http_request_t         *r;
    ngx_str_t                   space;
    ngx_str_t                   op;          /* script op on success */
    ngx_uint_t                  state;
    uint64_t                    quota;
    off_t                       size;        /* -1: from srcfp */
    int64_t                     used;        /* last seen, -1 unknown */
    int64_t                     reserved;
    void                       *handle;      /* reserve in flight */
    ngx_event_t                 resume;
    ngx_array_t                *del;         /* fingerprints */
    ngx_str_t                   upload;
    ngx_str_t                   part;
    u_char                      fp[NGX_HTTP_OBJSPACE_FP_LEN];
    u_char                      srcfp[NGX_HTTP_OBJSPACE_FP_LEN];
    u_char                      id[NGX_HTTP_OBJSPACE_RESV_ID_LEN];
    size_t                      id_len;
    unsigned                    has_fp:1;
    unsigned                    has_src:1;
    unsigned                    has_resv:1;
    unsigned                    claim:1;     /* write-once claim on fp */
} ngx_http_objspace_quota_t;


static ngx_int_t ngx_http_objspace_quota_send(ngx_http_objspace_quota_t *q,
    ngx_str_t *op, ngx_http_objspace_redis_done_pt done, void *data,
    void **handle);
static u_char *ngx_http_objspace_quota_fps(u_char *p, ngx_array_t *fps);
static void ngx_http_objspace_quota_reserved(void *data, redisReply *reply);
static void ngx_http_objspace_quota_committed(void *data,
    redisReply *reply);
static ngx_int_t ngx_http_objspace_quota_reply(redisReply *reply,
    int64_t v[4]);
static void ngx_http_objspace_quota_resume(ngx_event_t *ev);
static void ngx_http_objspace_quota_cleanup(void *data);
static void ngx_http_objspace_quota_fp(ngx_str_t *key, u_char *out);
static off_t ngx_http_objspace_quota_length(ngx_http_request_t *r,
    ngx_http_objspace_s3_req_t *s3);
static ngx_table_elt_t *ngx_http_objspace_quota_header(
    ngx_http_request_t *r, const char *name, size_t len);


/*
 * Reserves (when the space has a quota) and prepares the accounting of an
 * upload, overwrite or delete; contract in ngx_http_objspace_quota.h.
 * Resumes r asynchronously (posted event) after a reservation.
 */

ngx_uint_t
ngx_http_objspace_quota_check(ngx_http_request_t *r,
    ngx_http_objspace_identity_t *id, ngx_http_objspace_s3_req_t *s3,
    ngx_str_t *copy_bucket, ngx_str_t *copy_key, ngx_uint_t absent)
{
    u_char                              *p;
    ngx_int_t                            rc;
    ngx_str_t                            op, name, range;
    ngx_uint_t                           reserve;
    ngx_table_elt_t                     *h;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_objspace_quota_t           *q;
    ngx_http_objspace_acct_main_conf_t  *amcf;
    u_char                               buf[NGX_HTTP_OBJSPACE_UPLOAD_LEN];

    q = ngx_http_get_module_ctx(r, ngx_http_objspace_acct_module);

    if (q) {
        switch (q->state) {
        case NGX_HTTP_OBJSPACE_Q_WAITING:
            return NGX_HTTP_OBJSPACE_QUOTA_AGAIN;
        case NGX_HTTP_OBJSPACE_Q_OVER:
            return NGX_HTTP_OBJSPACE_QUOTA_EXCEEDED;
        case NGX_HTTP_OBJSPACE_Q_UNKNOWN:
            return NGX_HTTP_OBJSPACE_QUOTA_COPY_UNKNOWN;
        case NGX_HTTP_OBJSPACE_Q_FAILED:
            return q->claim ? NGX_HTTP_OBJSPACE_QUOTA_CLAIM_FAILED
                            : NGX_HTTP_OBJSPACE_QUOTA_UNREACHABLE;
        case NGX_HTTP_OBJSPACE_Q_EXISTS:
            return NGX_HTTP_OBJSPACE_QUOTA_EXISTS;
        default:
            return NGX_HTTP_OBJSPACE_QUOTA_OK;
        }
    }

    reserve = 0;

    switch (s3->op) {

    case NGX_HTTP_OBJSPACE_OP_PUT_OBJECT:
    case NGX_HTTP_OBJSPACE_OP_COPY_OBJECT:
        ngx_str_set(&op, "put");
        reserve = 1;
        break;

    case NGX_HTTP_OBJSPACE_OP_UPLOAD_PART:
    case NGX_HTTP_OBJSPACE_OP_UPLOAD_PART_COPY:
        ngx_str_set(&op, "part");
        reserve = 1;
        break;

    case NGX_HTTP_OBJSPACE_OP_COMPLETE_MULTIPART:
        ngx_str_set(&op, "complete");
        break;

    case NGX_HTTP_OBJSPACE_OP_ABORT_MULTIPART:
        ngx_str_set(&op, "abort");
        break;

    case NGX_HTTP_OBJSPACE_OP_DELETE_OBJECT:
    case NGX_HTTP_OBJSPACE_OP_DELETE_OBJECTS:
        ngx_str_set(&op, "del");
        break;

    default:
        return NGX_HTTP_OBJSPACE_QUOTA_OK;
    }

    amcf = ngx_http_objspace_acct_conf((ngx_cycle_t *) ngx_cycle);

    if (amcf == NULL || id->space.len == 0
        || (absent && s3->key.len == 0))
    {
        /* write-once cannot be proven without the space's index */
        return absent ? NGX_HTTP_OBJSPACE_QUOTA_ERROR
                      : NGX_HTTP_OBJSPACE_QUOTA_OK;
    }

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_objspace_quota_t));
    if (q == NULL) {
        return NGX_HTTP_OBJSPACE_QUOTA_ERROR;
    }

    q->r = r;
    q->op = op;
    q->quota = id->quota_bytes;
    q->used = -1;
    q->reserved = -1;
    q->state = NGX_HTTP_OBJSPACE_Q_RESERVED;

    q->space.data = ngx_pstrdup(r->pool, &id->space);
    if (q->space.data == NULL) {
        return NGX_HTTP_OBJSPACE_QUOTA_ERROR;
    }

    q->space.len = id->space.len;

    if (s3->key.len) {
        ngx_http_objspace_quota_fp(&s3->key, q->fp);
        q->has_fp = 1;
    }

    if (s3->op == NGX_HTTP_OBJSPACE_OP_DELETE_OBJECTS) {
        q->del = ngx_array_create(r->pool, 16, NGX_HTTP_OBJSPACE_FP_LEN);
        if (q->del == NULL) {
            return NGX_HTTP_OBJSPACE_QUOTA_ERROR;
        }
    }

    /* multipart: upload id and part number */

    if (s3->op == NGX_HTTP_OBJSPACE_OP_UPLOAD_PART
        || s3->op == NGX_HTTP_OBJSPACE_OP_UPLOAD_PART_COPY
        || s3->op == NGX_HTTP_OBJSPACE_OP_COMPLETE_MULTIPART
        || s3->op == NGX_HTTP_OBJSPACE_OP_ABORT_MULTIPART)
    {
        ngx_str_set(&name, "uploadId");

        if (ngx_http_objspace_s3_arg(&s3->query, &name, buf, sizeof(buf),
                                     &q->upload)
            != NGX_OK)
        {
            /* the backend refuses it; nothing to account but a claim */
            if (!absent) {
                return NGX_HTTP_OBJSPACE_QUOTA_OK;
            }

            ngx_str_null(&q->upload);

        } else {
            q->upload.data = ngx_pstrdup(r->pool, &q->upload);
            if (q->upload.data == NULL) {
                return NGX_HTTP_OBJSPACE_QUOTA_ERROR;
            }
        }

        if (reserve) {
            ngx_str_set(&name, "partNumber");

            if (ngx_http_objspace_s3_arg(&s3->query, &name, buf, 16,
                                         &q->part)
                != NGX_OK)
            {
                return NGX_HTTP_OBJSPACE_QUOTA_OK;
            }

            q->part.data = ngx_pstrdup(r->pool, &q->part);
            if (q->part.data == NULL) {
                return NGX_HTTP_OBJSPACE_QUOTA_ERROR;
            }
        }
    }

    /* the size written */

    q->size = 0;

    if (s3->op == NGX_HTTP_OBJSPACE_OP_PUT_OBJECT
        || s3->op == NGX_HTTP_OBJSPACE_OP_UPLOAD_PART)
    {
        q->size = ngx_http_objspace_quota_length(r, s3);

        if (q->size < 0) {
            if (q->quota) {
                return NGX_HTTP_OBJSPACE_QUOTA_NO_LENGTH;
            }

            /* accounted as 0: the reconcile corrects it */
            q->size = 0;
        }

    } else if (s3->op == NGX_HTTP_OBJSPACE_OP_COPY_OBJECT
               || s3->op == NGX_HTTP_OBJSPACE_OP_UPLOAD_PART_COPY)
    {
        h = ngx_http_objspace_quota_header(r, "x-amz-copy-source-range",
                                       sizeof("x-amz-copy-source-range") - 1);

        if (h && s3->op == NGX_HTTP_OBJSPACE_OP_UPLOAD_PART_COPY) {
            /* "bytes=first-last" */
            range = h->value;
            p = ngx_strlchr(range.data, range.data + range.len, '-');

            if (range.len > 6 && ngx_strncmp(range.data, "bytes=", 6) == 0
                && p != NULL)
            {
                off_t  first, last;

                first = ngx_atoof(range.data + 6, p - range.data - 6);
                last = ngx_atoof(p + 1, range.data + range.len - p - 1);

                if (first >= 0 && last >= first) {
                    q->size = last - first + 1;
                }
            }
        }

        if (q->size == 0) {
            if (copy_key->len == 0
                || copy_bucket->len != s3->bucket.len
                || ngx_strncmp(copy_bucket->data, s3->bucket.data,
                               s3->bucket.len) != 0)
            {
                if (q->quota) {
                    return NGX_HTTP_OBJSPACE_QUOTA_COPY_UNKNOWN;
                }

            } else {
                ngx_http_objspace_quota_fp(copy_key, q->srcfp);
                q->has_src = 1;
            }

            q->size = -1;
        }
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_OBJSPACE_QUOTA_ERROR;
    }

    cln->handler = ngx_http_objspace_quota_cleanup;
    cln->data = q;

    ngx_http_set_ctx(r, q, ngx_http_objspace_acct_module);

    if (q->quota == 0) {
        reserve = 0;
    }

    if (!reserve && !absent) {
        return NGX_HTTP_OBJSPACE_QUOTA_OK;
    }

    /*
     * reservation id: {worker}-{seq}, unique across the fleet; it also
     * names the owner of a write-once claim
     */

    q->id_len = ngx_sprintf(q->id, "%*s-%ui",
                            (size_t) NGX_HTTP_OBJSPACE_WORKER_ID_LEN,
                            amcf->worker, ++amcf->resv_seq)
                - q->id;

    q->resume.handler = ngx_http_objspace_quota_resume;
    q->resume.data = q;
    q->resume.log = r->connection->log;

    q->claim = absent ? 1 : 0;

    if (reserve) {
        ngx_str_set(&op, "reserve");

    } else {
        ngx_str_set(&op, "claim");
    }

    rc = ngx_http_objspace_quota_send(q, &op, ngx_http_objspace_quota_reserved,
                                      q, &q->handle);

    if (rc != NGX_OK) {
        q->state = NGX_HTTP_OBJSPACE_Q_FAILED;

        if (rc != NGX_BUSY) {
            return NGX_HTTP_OBJSPACE_QUOTA_ERROR;
        }

        if (absent) {
            /* nothing was sent: nothing to release */
            q->claim = 0;
            return NGX_HTTP_OBJSPACE_QUOTA_CLAIM_FAILED;
        }

        return NGX_HTTP_OBJSPACE_QUOTA_UNREACHABLE;
    }

    q->has_resv = reserve;
    q->state = NGX_HTTP_OBJSPACE_Q_WAITING;

    return NGX_HTTP_OBJSPACE_QUOTA_AGAIN;
}


void
ngx_http_objspace_quota_delete_key(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char                     *fp;
    ngx_http_objspace_quota_t  *q;

    q = ngx_http_get_module_ctx(r, ngx_http_objspace_acct_module);

    if (q == NULL || q->del == NULL) {
        return;
    }

    fp = ngx_array_push(q->del);
    if (fp == NULL) {
        return;
    }

    ngx_http_objspace_quota_fp(key, fp);
}


/*
 * Log phase: the upload's outcome is known.  2xx commits the operation
 * (which also drops the reservation and turns a write-once claim into the
 * index entry), anything else releases both.
 */

void
ngx_http_objspace_quota_finish(ngx_http_request_t *r, ngx_uint_t status)
{
    u_char                              *p;
    ngx_str_t                            op, *space;
    ngx_http_objspace_quota_t           *q;
    ngx_http_objspace_acct_main_conf_t  *amcf;

    q = ngx_http_get_module_ctx(r, ngx_http_objspace_acct_module);

    if (q == NULL || q->state == NGX_HTTP_OBJSPACE_Q_FINISHED) {
        return;
    }

    if (q->resume.posted) {
        ngx_delete_posted_event(&q->resume);
    }

    if (q->state == NGX_HTTP_OBJSPACE_Q_WAITING) {
        /* the request ended while its reservation was being made */
        ngx_http_objspace_redis_detach(q->handle);
        q->handle = NULL;

    } else if (q->state != NGX_HTTP_OBJSPACE_Q_RESERVED
               && !(q->state == NGX_HTTP_OBJSPACE_Q_FAILED && q->claim))
    {
        /*
         * refused before the backend saw it: nothing reserved (a claim
         * whose reply was lost may have been made: released below)
         */
        q->state = NGX_HTTP_OBJSPACE_Q_FINISHED;
        return;
    }

    if (status >= 200 && status < 300
        && q->state == NGX_HTTP_OBJSPACE_Q_RESERVED
        && (q->has_fp || q->del || q->upload.len))
    {
        op = q->op;

    } else if (q->has_resv || q->claim) {
        ngx_str_set(&op, "release");

    } else {
        q->state = NGX_HTTP_OBJSPACE_Q_FINISHED;
        return;
    }

    q->state = NGX_HTTP_OBJSPACE_Q_FINISHED;

    /* the reply updates the usage gauges: it needs the space id */

    space = ngx_alloc(sizeof(ngx_str_t) + q->space.len, ngx_cycle->log);

    if (space) {
        p = (u_char *) space + sizeof(ngx_str_t);
        space->data = p;
        space->len = q->space.len;
        ngx_memcpy(p, q->space.data, q->space.len);
    }

    if (ngx_http_objspace_quota_send(q, &op,
                                     ngx_http_objspace_quota_committed,
                                     space, NULL)
        != NGX_OK)
    {
        if (space) {
            ngx_free(space);
        }

        ngx_http_objspace_metrics_count(
                                      NGX_HTTP_OBJSPACE_M_QUOTA_COMMIT_LOST, 1);

        amcf = ngx_http_objspace_acct_conf((ngx_cycle_t *) ngx_cycle);

        if (ngx_time() - amcf->quota_logged >= 60) {
            amcf->quota_logged = ngx_time();
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "objspace: usage update \"%V\" for space %V not "
                          "sent (redis unreachable); left to the reconcile "
                          "(logged once a minute, counted in "
                          "objspace_quota_updates_lost_total)",
                          &op, &q->space);
        }
    }
}


void
ngx_http_objspace_quota_figures(ngx_http_request_t *r, off_t *size,
    int64_t *used, int64_t *reserved)
{
    ngx_http_objspace_quota_t  *q;

    q = ngx_http_get_module_ctx(r, ngx_http_objspace_acct_module);

    if (q == NULL) {
        *size = -1;
        *used = -1;
        *reserved = -1;
        return;
    }

    *size = q->size;
    *used = q->used;
    *reserved = q->reserved;
}


/* formats and sends one run of the script for q's space */

static ngx_int_t
ngx_http_objspace_quota_send(ngx_http_objspace_quota_t *q, ngx_str_t *op,
    ngx_http_objspace_redis_done_pt done, void *data, void **handle)
{
    u_char                              *p;
    size_t                               len;
    ngx_int_t                            rc;
    ngx_str_t                            argv[20], resp, frag, script, tail;
    ngx_uint_t                           argc, i, nkeys, nargs, batch, del;
    ngx_http_objspace_acct_main_conf_t  *amcf;
    u_char                               keys[NGX_HTTP_OBJSPACE_QUOTA_NKEYS]
                                                 [NGX_HTTP_OBJSPACE_KEY_LEN];
    u_char                               num[3][NGX_INT64_LEN];
    u_char                               stack[4096];

    amcf = ngx_http_objspace_acct_conf((ngx_cycle_t *) ngx_cycle);

    if (q->space.len > 64) {
        return NGX_ERROR;
    }

    ngx_str_set(&argv[0], "EVAL");
    ngx_str_set(&argv[1], NGX_HTTP_OBJSPACE_QUOTA_SCRIPT);
    ngx_str_set(&argv[2], NGX_HTTP_OBJSPACE_QUOTA_NKEYS_STR);

    for (nkeys = 0; nkeys < NGX_HTTP_OBJSPACE_QUOTA_NKEYS; nkeys++) {
        p = ngx_cpymem(keys[nkeys], "objspace:", sizeof("objspace:") - 1);
        p = ngx_cpymem(p, ngx_http_objspace_quota_keys[nkeys],
                       ngx_strlen(ngx_http_objspace_quota_keys[nkeys]));
        *p++ = ':';
        p = ngx_cpymem(p, q->space.data, q->space.len);

        if (nkeys == 4) {
            /* mpu: per upload (none: "objspace:mpu:{space}:", unused) */
            *p++ = ':';

            if (q->upload.len) {
                p = ngx_cpymem(p, q->upload.data, q->upload.len);
            }
        }

        argv[3 + nkeys].data = keys[nkeys];
        argv[3 + nkeys].len = p - keys[nkeys];
    }

    argc = 3 + nkeys;

    argv[argc++] = *op;

    argv[argc].data = q->id;
    argv[argc++].len = q->id_len;

    argv[argc].data = num[0];
    argv[argc++].len = ngx_http_objspace_redis_dec(num[0],
                                      (uint64_t) (q->size < 0 ? 0 : q->size))
                       - num[0];

    argv[argc].data = num[1];
    argv[argc++].len = ngx_http_objspace_redis_dec(num[1],
                                                   (uint64_t) q->quota)
                       - num[1];

    argv[argc].data = num[2];
    argv[argc++].len = ngx_http_objspace_redis_dec(num[2],
                                   (uint64_t) (amcf ? amcf->resv_ttl : 3600000))
                       - num[2];

    argv[argc].data = q->fp;
    argv[argc++].len = q->has_fp ? NGX_HTTP_OBJSPACE_FP_LEN : 0;

    argv[argc].data = q->srcfp;
    argv[argc++].len = q->has_src ? NGX_HTTP_OBJSPACE_FP_LEN : 0;

    argv[argc++] = q->part;

    argv[argc].data = (u_char *) "1";
    argv[argc++].len = q->claim ? 1 : 0;

    /* DeleteObjects: the fingerprints follow; up to 1000 keys */
    del = (op->len == 3 && ngx_strncmp(op->data, "del", 3) == 0);

    len = 0;

    for (i = 0; i < argc; i++) {
        len += sizeof("$\r\n\r\n") - 1 + NGX_SIZE_T_LEN + argv[i].len;
    }

    if (del && q->del) {
        len += q->del->nelts * (sizeof("$32\r\n\r\n") - 1
                                + NGX_HTTP_OBJSPACE_FP_LEN);
    }

    len += sizeof("*\r\n") - 1 + NGX_INT_T_LEN;

    /* the usual command fits the stack; DeleteObjects may not */

    if (len <= sizeof(stack)) {
        resp.data = stack;

    } else {
        resp.data = ngx_alloc(len, ngx_cycle->log);
        if (resp.data == NULL) {
            return NGX_ERROR;
        }
    }

    p = resp.data;
    *p++ = '*';

    if (del && q->del) {
        p = ngx_http_objspace_redis_dec(p, argc + q->del->nelts);

    } else {
        p = ngx_http_objspace_redis_dec(p, argc);
    }

    *p++ = '\r';
    *p++ = '\n';

    /*
     * A log-phase update nothing waits for goes to the worker's batch,
     * unless the space has a quota: there a delete or overwrite must free
     * its bytes before the client's next upload is admitted (a false
     * QuotaExceeded is not retried by SDKs), so it is sent at once.
     */
    batch = (done == ngx_http_objspace_quota_committed && !q->claim
             && q->quota == 0 && amcf != NULL);

    if (batch && amcf->usage_batch == NULL) {
        ngx_str_set(&script, NGX_HTTP_OBJSPACE_QUOTA_SCRIPT);
        ngx_str_set(&tail, NGX_HTTP_OBJSPACE_QUOTA_BATCH_TAIL);
        amcf->usage_batch = ngx_http_objspace_redis_batch_create_tail(
                                (ngx_cycle_t *) ngx_cycle, &script, &tail,
                                NGX_HTTP_OBJSPACE_REDIS_BATCH_MAX,
                                NGX_HTTP_OBJSPACE_REDIS_BATCH_DELAY);
    }

    if (batch && (del || (op->len == 3 && ngx_strncmp(op->data, "put", 3) == 0
                          && q->has_fp && !q->has_src)))
    {
        /*
         * A plain put or delete: the short entry the batch tail applies
         * together with its neighbours, KEYS usage, osz; ARGV op, size,
         * fp...
         */

        frag.data = p;
        p = ngx_http_objspace_redis_bulk(p, argv[3].data, argv[3].len);
        p = ngx_http_objspace_redis_bulk(p, argv[6].data, argv[6].len);
        p = ngx_http_objspace_redis_bulk(p, op->data, op->len);
        p = ngx_http_objspace_redis_bulk(p, num[0], argv[3 + nkeys + 2].len);

        nargs = 2;

        if (q->has_fp) {
            p = ngx_http_objspace_redis_bulk(p, q->fp,
                                             NGX_HTTP_OBJSPACE_FP_LEN);
            nargs++;
        }

        if (del && q->del) {
            p = ngx_http_objspace_quota_fps(p, q->del);
            nargs += q->del->nelts;
        }

        frag.len = p - frag.data;

        rc = (amcf->usage_batch == NULL)
             ? NGX_ERROR
             : ngx_http_objspace_redis_batch_add(amcf->usage_batch, 2, nargs,
                                                 &frag, done, data);
        goto done;
    }

    /* a batch entry is the keys and args only: no EVAL, script, numkeys */
    frag.data = p;

    for (i = batch ? 3 : 0; i < argc; i++) {
        p = ngx_http_objspace_redis_bulk(p, argv[i].data, argv[i].len);
    }

    if (del && q->del) {
        p = ngx_http_objspace_quota_fps(p, q->del);
    }

    resp.len = p - resp.data;
    frag.len = p - frag.data;

    if (batch) {
        nargs = argc - 3 - nkeys;

        if (del && q->del) {
            nargs += q->del->nelts;
        }

        rc = (amcf->usage_batch == NULL)
             ? NGX_ERROR
             : ngx_http_objspace_redis_batch_add(amcf->usage_batch, nkeys,
                                                 nargs, &frag, done, data);

    } else {
        rc = ngx_http_objspace_redis_send((ngx_cycle_t *) ngx_cycle, &resp,
                                          done, data, handle);
    }

done:

    if (resp.data != stack) {
        ngx_free(resp.data);
    }

    return rc;
}


/* DeleteObjects' key fingerprints as RESP bulk strings */

static u_char *
ngx_http_objspace_quota_fps(u_char *p, ngx_array_t *fps)
{
    ngx_uint_t  i;

    for (i = 0; i < fps->nelts; i++) {
        p = ngx_http_objspace_redis_bulk(p, (u_char *) fps->elts
                                            + i * NGX_HTTP_OBJSPACE_FP_LEN,
                                         NGX_HTTP_OBJSPACE_FP_LEN);
    }

    return p;
}


/*
 * The reservation's answer (reply handler context): record it and resume
 * r from a posted event.
 */

static void
ngx_http_objspace_quota_reserved(void *data, redisReply *reply)
{
    ngx_http_objspace_quota_t  *q = data;

    int64_t  v[4];

    q->handle = NULL;

    if (ngx_http_objspace_quota_reply(reply, v) != NGX_OK) {
        q->state = NGX_HTTP_OBJSPACE_Q_FAILED;
        q->has_resv = 0;

        ngx_log_error(NGX_LOG_ERR, q->r->connection->log, 0,
                      "objspace: quota reservation for space %V failed "
                      "(redis)", &q->space);

    } else {
        q->used = v[2];
        q->reserved = v[3];

        ngx_http_objspace_metrics_usage(&q->space, (int64_t) q->quota,
                                        v[2], v[3]);

        if (v[0] == 1) {
            q->state = NGX_HTTP_OBJSPACE_Q_RESERVED;

            if (q->size < 0) {
                q->size = v[1];
            }

        } else {
            /* refused: the script reserved and claimed nothing */
            q->has_resv = 0;
            q->claim = 0;
            q->state = (v[0] == 0) ? NGX_HTTP_OBJSPACE_Q_OVER
                       : (v[0] == -2) ? NGX_HTTP_OBJSPACE_Q_EXISTS
                       : NGX_HTTP_OBJSPACE_Q_UNKNOWN;
        }
    }

    ngx_post_event(&q->resume, &ngx_posted_events);
}


static void
ngx_http_objspace_quota_committed(void *data, redisReply *reply)
{
    ngx_str_t  *space = data;

    int64_t                              v[4];
    ngx_int_t                            rc;
    ngx_http_objspace_acct_main_conf_t  *amcf;

    rc = ngx_http_objspace_quota_reply(reply, v);

    if (rc == NGX_DECLINED) {
        /* applied; no figures on this entry */

    } else if (rc != NGX_OK) {
        ngx_http_objspace_metrics_count(
                                      NGX_HTTP_OBJSPACE_M_QUOTA_COMMIT_LOST, 1);

        amcf = ngx_http_objspace_acct_conf((ngx_cycle_t *) ngx_cycle);

        if (space && amcf && ngx_time() - amcf->quota_logged >= 60) {
            amcf->quota_logged = ngx_time();
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "objspace: usage update for space %V failed "
                          "(redis); left to the reconcile (logged once a "
                          "minute)", space);
        }

    } else if (space) {
        ngx_http_objspace_metrics_usage(space, -1, v[2], v[3]);
    }

    if (space) {
        ngx_free(space);
    }
}


static ngx_int_t
ngx_http_objspace_quota_reply(redisReply *reply, int64_t v[4])
{
    size_t  i;

    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        /* a batched update applied, its space's figures on a later entry */
        return NGX_DECLINED;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 4)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "objspace: redis quota script failed: %*s",
                          (size_t) reply->len, reply->str);
        }

        return NGX_ERROR;
    }

    for (i = 0; i < 4; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
            return NGX_ERROR;
        }

        v[i] = reply->element[i]->integer;
    }

    return NGX_OK;
}


static void
ngx_http_objspace_quota_resume(ngx_event_t *ev)
{
    ngx_http_objspace_quota_t  *q = ev->data;

    ngx_http_objspace_resume(q->r);
}


/*
 * r->pool is going away: a reservation not settled in the log phase
 * (which always runs first for a main request) is released here.
 */

static void
ngx_http_objspace_quota_cleanup(void *data)
{
    ngx_http_objspace_quota_t  *q = data;

    if (q->state == NGX_HTTP_OBJSPACE_Q_FINISHED) {
        return;
    }

    ngx_http_objspace_quota_finish(q->r, 0);
}


/* lowercase hex of the first 16 bytes of SHA-256(key) */

static void
ngx_http_objspace_quota_fp(ngx_str_t *key, u_char *out)
{
    u_char  md[SHA256_DIGEST_LENGTH];

    ngx_http_objspace_sigv4_sha256(key->data, key->len, md);

    ngx_http_objspace_sigv4_hex(out, md, NGX_HTTP_OBJSPACE_FP_LEN / 2);
}


/* the decoded body length: x-amz-decoded-content-length, else the body's */

static off_t
ngx_http_objspace_quota_length(ngx_http_request_t *r,
    ngx_http_objspace_s3_req_t *s3)
{
    ngx_table_elt_t  *h;

    h = ngx_http_objspace_quota_header(r, "x-amz-decoded-content-length",
                                  sizeof("x-amz-decoded-content-length") - 1);

    if (h) {
        return ngx_atoof(h->value.data, h->value.len);
    }

    if (r->headers_in.chunked) {
        return -1;
    }

    return r->headers_in.content_length_n < 0
           ? 0 : r->headers_in.content_length_n;
}


static ngx_table_elt_t *
ngx_http_objspace_quota_header(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}

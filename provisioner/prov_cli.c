
/*
 * objspace-provisioner: command line interface.
 *
 * objspace-provisioner [--config FILE] [--json] [-v] GROUP COMMAND [ARGS]
 * Every command has --help.  Secrets appear on stdout exactly once, at key
 * creation and rotation, and nowhere else (not in logs, errors or status).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "prov_cli.h"
#include "prov_state.h"
#include "prov_daemon.h"
#include "prov_rustshare.h"
#include "prov_usage.h"
#include "prov_audit.h"
#include "prov_public.h"


#define PROV_MAX_OPTS  12
#define PROV_MAX_POS   4


typedef struct {
    const char  *name;          /* without "--" */
    int          has_arg;
    const char  *value;
    int          set;
} prov_opt_t;


typedef struct prov_cmd_s  prov_cmd_t;

struct prov_cmd_s {
    const char  *group;         /* "space", "key" or NULL */
    const char  *name;
    const char  *usage;
    const char  *help;
    const char  *opts[PROV_MAX_OPTS];   /* "name" or "name=" (has arg) */
    int          min_pos;
    int          max_pos;
    int          (*handler)(prov_cli_global_t *g, prov_opt_t *opts,
                            char **pos, int npos, prov_err_t *err);
};


static int prov_cli_parse(int argc, char **argv, const prov_cmd_t *cmd,
    prov_opt_t *opts, char **pos, int *npos, int *help, prov_err_t *err);
static const char *prov_opt(prov_opt_t *opts, const char *name);
static int prov_opt_set(prov_opt_t *opts, const char *name);
static void prov_cli_usage(FILE *f);
static void prov_cmd_help(const prov_cmd_t *cmd);
static int prov_cli_open(prov_cli_global_t *g, prov_ctx_t *ctx,
    prov_err_t *err);
static int prov_json_print(json_t *j, prov_err_t *err);
static json_t *prov_space_json(prov_ctx_t *ctx, prov_space_t *sp);
static json_t *prov_key_json(prov_ctx_t *ctx, prov_ident_t *id,
    prov_space_t *sp);
static void prov_space_print(prov_ctx_t *ctx, prov_space_t *sp);
static void prov_key_print(prov_ident_t *id, prov_space_t *sp);
static int prov_examples(prov_ctx_t *ctx, prov_ident_t *id, prov_space_t *sp,
    const char *secret, prov_buf_t *aws, prov_buf_t *s3cfg,
    prov_buf_t *rclone);
static int prov_print_secret(prov_cli_global_t *g, prov_ctx_t *ctx,
    prov_ident_t *id, prov_space_t *sp, const char *secret, int rotated,
    prov_err_t *err);
static const char *prov_key_state(prov_ident_t *id);
static const char *prov_err_name(int code);
static json_t *prov_time_json(int64_t t);
static int prov_cli_key_load(prov_ctx_t *ctx, const char *ref,
    prov_ident_t *id, prov_space_t *sp, prov_err_t *err);
static int prov_space_action(prov_cli_global_t *g, const char *ref,
    int action, const char *arg, prov_err_t *err);
static int prov_key_action(prov_cli_global_t *g, const char *ref,
    int action, int64_t grace, prov_err_t *err);

static int prov_cmd_space_create(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_space_list(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_space_show(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_space_enable(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_space_disable(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_space_delete(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_space_public(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_space_quota(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_key_create(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_key_list(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_key_show(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_key_revoke(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_key_rotate(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_key_delete(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_status(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_reconcile(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_run(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_sync(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_rs_push(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_handover_keygen(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_handover_pubkey(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_handover_seal(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_usage(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);
static int prov_cmd_audit(prov_cli_global_t *g, prov_opt_t *opts,
    char **pos, int npos, prov_err_t *err);


static const prov_cmd_t  prov_cmds[] = {

    { "space", "create",
      "space create --tenant T --name N [--purpose P] [--quota SIZE] "
      "[--public]",
      "Creates an Object Space: a backend user and a bucket owned by it\n"
      "(bucket name from bucket_pattern), then publishes it to Redis.\n"
      "  --tenant T    tenant id: a-z, 0-9, '-'\n"
      "  --name N      space name, unique per tenant: a-z, 0-9, '-'\n"
      "  --purpose P   generic (default), cdn, artifacts, packages, "
      "registry\n"
      "  --quota SIZE  e.g. 500M, 10G, 1T (powers of 1024); 0 = unlimited\n"
      "  --public      enable public web access (anonymous reads via the "
      "CDN)",
      { "tenant=", "name=", "purpose=", "quota=", "public" }, 0, 0,
      prov_cmd_space_create },

    { "space", "list", "space list [--tenant T]",
      "Lists Object Spaces.\n"
      "  --tenant T    only this tenant's spaces",
      { "tenant=" }, 0, 0, prov_cmd_space_list },

    { "space", "show", "space show SPACE",
      "Shows one Object Space (SPACE: space id, bucket or tenant/name),\n"
      "with its keys, its usage and any drift between Redis and storage.",
      { NULL }, 1, 1, prov_cmd_space_show },

    { "space", "disable", "space disable SPACE",
      "Disables a space: the gateway refuses it at once (Redis first), then\n"
      "the backend user is suspended.  Keys and data are kept.",
      { NULL }, 1, 1, prov_cmd_space_disable },

    { "space", "enable", "space enable SPACE",
      "Enables a disabled space (backend user first, then the gateway).",
      { NULL }, 1, 1, prov_cmd_space_enable },

    { "space", "delete", "space delete SPACE",
      "Deletes a space: its records and all its keys leave Redis (and the\n"
      "gateway caches) first, then the bucket WITH ALL ITS OBJECTS and the\n"
      "backend user are deleted.  A failed backend deletion is retried by\n"
      "the daemon.",
      { NULL }, 1, 1, prov_cmd_space_delete },

    { "space", "public",
      "space public SPACE on|off [--prefix P] [--slug S] [--host H] "
      "[--cache-control V] [--immutable] [--index DOC] [--error-page KEY] "
      "[--listing] [--cors ORIGINS] [--types TYPES]",
      "Turns public web access (anonymous GET/HEAD through the CDN\n"
      "endpoint) on or off for the whole space or one prefix, with its\n"
      "publication rule (docs/public.md).  The S3 API always requires\n"
      "credentials.  \"off\" without --prefix removes every rule.\n"
      "  --prefix P         the published key prefix (default: everything)\n"
      "  --slug S           URL name: {web_endpoint}/S/{key} (default: the\n"
      "                     current one, else the bucket)\n"
      "  --host H           a custom host name serving this space\n"
      "  --cache-control V  Cache-Control answered for these keys\n"
      "  --immutable        Cache-Control: public, max-age=31536000, "
      "immutable\n"
      "  --index DOC        index document for URLs ending in / "
      "(index.html)\n"
      "  --error-page KEY   object served with 404 for missing keys\n"
      "  --listing          HTML/JSON listings of URLs ending in /\n"
      "  --cors ORIGINS     allowed origins, space-separated, or '*'\n"
      "  --types TYPES      only these content types (type/* allowed)",
      { "prefix=", "slug=", "host=", "cache-control=", "immutable",
        "index=", "error-page=", "listing", "cors=", "types=" }, 2, 2,
      prov_cmd_space_public },

    { "space", "quota", "space quota SPACE SIZE",
      "Sets the space's quota (gateway and storage): e.g. 500M, 10G, 1T;\n"
      "0 or unlimited removes it.",
      { NULL }, 2, 2, prov_cmd_space_quota },

    { "key", "create",
      "key create --space SPACE --name N --mode MODE [--prefix P] "
      "[--expires DURATION] [--immutable]",
      "Creates an S3 access key for a space.  The secret is printed once\n"
      "and can never be retrieved again.\n"
      "  --space SPACE    space id, bucket or tenant/name\n"
      "  --name N         a name for people and logs (release-ci-writer)\n"
      "  --mode MODE      read-only, write-only, read-write,\n"
      "                   read-write-delete, publisher, registry-backend\n"
      "  --prefix P       restrict the key to keys starting with P "
      "(releases/)\n"
      "  --expires D      expire after D: 90s, 10m, 12h, 30d, 2w, 1y\n"
      "  --immutable      write-once: no overwrite, no delete",
      { "space=", "name=", "mode=", "prefix=", "expires=", "immutable" },
      0, 0, prov_cmd_key_create },

    { "key", "list", "key list [--space SPACE]",
      "Lists keys (never their secrets).\n"
      "  --space SPACE    only this space's keys",
      { "space=" }, 0, 0, prov_cmd_key_list },

    { "key", "show", "key show KEY",
      "Shows a key (KEY: key id or access key id); never its secret.",
      { NULL }, 1, 1, prov_cmd_key_show },

    { "key", "revoke", "key revoke KEY",
      "Revokes a key: the gateway refuses it within a second.",
      { NULL }, 1, 1, prov_cmd_key_revoke },

    { "key", "rotate", "key rotate KEY [--grace DURATION]",
      "Gives a key a new secret (same access key id) and prints it once.\n"
      "  --grace D   keep accepting the previous secret for D (at most 7d,\n"
      "              e.g. 10m) so clients can switch over; without it the\n"
      "              old secret stops working at once",
      { "grace=" }, 1, 1, prov_cmd_key_rotate },

    { "key", "delete", "key delete KEY",
      "Removes a key's record entirely (revoke keeps it for the record).",
      { NULL }, 1, 1, prov_cmd_key_delete },

    { NULL, "status", "status [--no-check]",
      "Shows what is provisioned, drift between Redis and storage, pending\n"
      "backend deletions, the daemon's last sync and the current leader.\n"
      "  --no-check   do not query the storage backend",
      { "no-check" }, 0, 0, prov_cmd_status },

    { NULL, "reconcile", "reconcile [--dry-run]",
      "One reconcile pass: finishes pending backend deletions and repairs\n"
      "drift (missing user, key or bucket, quota, suspension) for every\n"
      "space.  Never touches buckets a space does not own.\n"
      "  --dry-run    report drift only",
      { "dry-run" }, 0, 0, prov_cmd_reconcile },

    { NULL, "run", "run [--once]",
      "Runs the daemon: takes the leader lease in Redis (active/standby)\n"
      "and reconciles every reconcile_interval seconds.  SIGTERM/SIGINT\n"
      "stop it, releasing the lease.\n"
      "  --once   one pass as leader, then exit",
      { "once" }, 0, 0, prov_cmd_run },

    { NULL, "sync", "sync [--full] [--wait SECONDS] [--allow-mass-delete]",
      "One RustShare sync pass (source = rustshare): the changes since the\n"
      "applied revision, or a full snapshot when none is applied yet.  The\n"
      "whole change set is validated before anything is written.\n"
      "  --full        fetch and apply a full snapshot\n"
      "  --wait S      long-poll up to S seconds for changes (default 0)\n"
      "  --allow-mass-delete\n"
      "                apply a snapshot that deletes more than\n"
      "                sync_max_delete_fraction of what RustShare had\n"
      "                (refused otherwise), this pass only",
      { "full", "wait=", "allow-mass-delete" }, 0, 0, prov_cmd_sync },

    { "rustshare", "push", "rustshare push usage|key-usage|audit FILE",
      "Sends a JSON array (FILE, or - for stdin) to RustShare's push\n"
      "endpoint: usage per space, key last-used times or audit events\n"
      "(docs/rustshare-api.md).  Retried with backoff.",
      { NULL }, 2, 2, prov_cmd_rs_push },

    { "handover", "keygen", "handover keygen FILE [--bits N]",
      "Creates the provisioner's hand-over key (RSA, PKCS#8 PEM, mode 0600;\n"
      "an existing file is never replaced) and prints its public key and\n"
      "key id for RustShare.  Point rustshare_handover_key at FILE.\n"
      "  --bits N   2048 to 8192 (default 3072)",
      { "bits=" }, 1, 1, prov_cmd_handover_keygen },

    { "handover", "pubkey", "handover pubkey",
      "Prints the public half (PEM) and key id of rustshare_handover_key:\n"
      "what RustShare seals new secrets to.",
      { NULL }, 0, 0, prov_cmd_handover_pubkey },

    { "handover", "seal", "handover seal --access-key-id AK",
      "Seals a secret read from stdin for AK to the configured hand-over\n"
      "key, as RustShare does, and prints the envelope (JSON).  For\n"
      "integration tests of a RustShare implementation.",
      { "access-key-id=" }, 0, 0, prov_cmd_handover_seal },

    { NULL, "usage", "usage SPACE",
      "Shows a space's usage as the gateway counts it (objspace:usage):\n"
      "bytes used, bytes reserved by uploads in flight, objects, quota,\n"
      "percent used, the last reconcile with the storage, and the public\n"
      "frontend's requests, bytes served, hits, 304s, 404s and cache hits\n"
      "(objspace:pubstats, all nginx nodes).",
      { NULL }, 1, 1, prov_cmd_usage },

    { NULL, "audit",
      "audit --tenant T [--since T] [--space S] [--key K]",
      "Prints one tenant's audit events (requests and control-plane\n"
      "changes) from its files under audit_dir; never another tenant's.\n"
      "  --tenant T   tenant id (required)\n"
      "  --since T    2024-05-01, 2024-05-01T10:00:00Z, unix seconds, or a\n"
      "               duration ago: 90m, 12h, 7d\n"
      "  --space S    only this space (space id, bucket, tenant/name or\n"
      "               name; it must be the tenant's)\n"
      "  --key K      only this identity (key id or access key id; it must\n"
      "               be the tenant's)",
      { "tenant=", "since=", "space=", "key=" }, 0, 0, prov_cmd_audit },

    { NULL, NULL, NULL, NULL, { NULL }, 0, 0, NULL }
};


int
prov_cli_exit_code(const prov_err_t *err)
{
    switch (err->code) {
    case PROV_E_INVAL:
        return PROV_EXIT_USAGE;
    case PROV_E_NOTFOUND:
        return PROV_EXIT_NOTFOUND;
    case PROV_E_EXISTS:
    case PROV_E_STATE:
    case PROV_E_BUSY:
        return PROV_EXIT_CONFLICT;
    default:
        return PROV_EXIT_ERROR;
    }
}


static const char *
prov_err_name(int code)
{
    static const char  *names[] = {
        "none", "invalid", "not_found", "exists", "config", "redis",
        "storage", "crypto", "system", "state", "busy", "source"
    };

    if (code < 0 || code > PROV_E_SOURCE) {
        return "error";
    }

    return names[code];
}


static void
prov_cli_usage(FILE *f)
{
    const prov_cmd_t  *c;

    fprintf(f,
        "usage: objspace-provisioner [--config FILE] [--json] [-v] "
        "COMMAND ...\n\n"
        "Creates and manages Object Spaces and their S3 keys for the "
        "objspace gateway.\n\n"
        "commands:\n");

    for (c = prov_cmds; c->name; c++) {
        fprintf(f, "  %s\n", c->usage);
    }

    fprintf(f,
        "\nglobal options:\n"
        "  --config FILE  configuration (default $OBJSPACE_PROVISIONER_CONFIG"
        " or\n                 " PROV_CONFIG_DEFAULT ")\n"
        "  --json         machine-readable output\n"
        "  -v, --verbose  log requests to stderr\n"
        "  --help         this text; COMMAND --help for a command\n");
}


static void
prov_cmd_help(const prov_cmd_t *cmd)
{
    printf("usage: objspace-provisioner [--config FILE] [--json] %s\n\n%s\n",
           cmd->usage, cmd->help);
}


static const char *
prov_opt(prov_opt_t *opts, const char *name)
{
    for ( /* void */ ; opts->name; opts++) {
        if (strcmp(opts->name, name) == 0) {
            return opts->value;
        }
    }

    return NULL;
}


static int
prov_opt_set(prov_opt_t *opts, const char *name)
{
    for ( /* void */ ; opts->name; opts++) {
        if (strcmp(opts->name, name) == 0) {
            return opts->set;
        }
    }

    return 0;
}


/*
 * "--opt value", "--opt=value" and flags; positional arguments anywhere.
 * Unknown options, missing values and repeated options are refused.
 */

static int
prov_cli_parse(int argc, char **argv, const prov_cmd_t *cmd,
    prov_opt_t *opts, char **pos, int *npos, int *help, prov_err_t *err)
{
    int          i, j, n;
    size_t       len;
    char        *a, *eq;
    const char  *spec;

    n = 0;

    for (j = 0; j < PROV_MAX_OPTS && cmd->opts[j]; j++) {
        spec = cmd->opts[j];
        len = strlen(spec);
        opts[j].name = strndup(spec, spec[len - 1] == '=' ? len - 1 : len);
        opts[j].has_arg = (spec[len - 1] == '=');
        opts[j].value = NULL;
        opts[j].set = 0;
    }

    opts[j].name = NULL;

    for (i = 0; i < argc; i++) {
        a = argv[i];

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            return PROV_OK;
        }

        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (n >= cmd->max_pos) {
                prov_err_set(err, PROV_E_INVAL, "unexpected argument \"%s\"",
                             a);
                return PROV_ERR;
            }

            pos[n++] = a;
            continue;
        }

        a += 2;
        eq = strchr(a, '=');
        len = eq ? (size_t) (eq - a) : strlen(a);

        for (j = 0; opts[j].name; j++) {
            if (strlen(opts[j].name) == len
                && strncmp(opts[j].name, a, len) == 0)
            {
                break;
            }
        }

        if (opts[j].name == NULL) {
            prov_err_set(err, PROV_E_INVAL, "unknown option \"--%.*s\"",
                         (int) len, a);
            return PROV_ERR;
        }

        if (opts[j].set) {
            prov_err_set(err, PROV_E_INVAL, "option \"--%s\" is duplicate",
                         opts[j].name);
            return PROV_ERR;
        }

        opts[j].set = 1;

        if (!opts[j].has_arg) {
            if (eq) {
                prov_err_set(err, PROV_E_INVAL, "option \"--%s\" takes no "
                             "value", opts[j].name);
                return PROV_ERR;
            }

            continue;
        }

        if (eq) {
            opts[j].value = eq + 1;

        } else if (i + 1 < argc) {
            opts[j].value = argv[++i];

        } else {
            prov_err_set(err, PROV_E_INVAL, "option \"--%s\" needs a value",
                         opts[j].name);
            return PROV_ERR;
        }
    }

    if (n < cmd->min_pos) {
        prov_err_set(err, PROV_E_INVAL, "missing argument; usage: %s",
                     cmd->usage);
        return PROV_ERR;
    }

    *npos = n;

    return PROV_OK;
}


int
prov_cli_main(int argc, char **argv)
{
    int                 i, n, rc, help, npos;
    char               *rest[256], *pos[PROV_MAX_POS];
    prov_err_t          err;
    prov_opt_t          opts[PROV_MAX_OPTS + 1];
    const prov_cmd_t   *cmd, *c;
    prov_cli_global_t   g;

    memset(&g, 0, sizeof(g));
    memset(&err, 0, sizeof(err));
    memset(opts, 0, sizeof(opts));
    help = 0;
    n = 0;

    g.config = getenv("OBJSPACE_PROVISIONER_CONFIG");
    if (g.config == NULL || *g.config == '\0') {
        g.config = PROV_CONFIG_DEFAULT;
    }

    /* global options may appear anywhere */

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            g.json = 1;

        } else if (strcmp(argv[i], "-v") == 0
                   || strcmp(argv[i], "--verbose") == 0)
        {
            g.verbose = 1;

        } else if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "objspace-provisioner: option \"--config\" "
                        "needs a value\n");
                return PROV_EXIT_USAGE;
            }

            g.config = argv[++i];

        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            g.config = argv[i] + 9;

        } else if (n < 255) {
            rest[n++] = argv[i];
        }
    }

    prov_log_level = g.verbose ? PROV_LOG_DEBUG : PROV_LOG_WARN;

    if (n == 0 || strcmp(rest[0], "--help") == 0 || strcmp(rest[0], "-h") == 0
        || strcmp(rest[0], "help") == 0)
    {
        prov_cli_usage(n ? stdout : stderr);
        return n ? PROV_EXIT_OK : PROV_EXIT_USAGE;
    }

    cmd = NULL;
    i = 0;

    for (c = prov_cmds; c->name; c++) {
        if (c->group == NULL && strcmp(rest[0], c->name) == 0) {
            cmd = c;
            i = 1;
            break;
        }

        if (c->group && strcmp(rest[0], c->group) == 0 && n > 1
            && strcmp(rest[1], c->name) == 0)
        {
            cmd = c;
            i = 2;
            break;
        }
    }

    if (cmd == NULL) {
        if ((strcmp(rest[0], "space") == 0 || strcmp(rest[0], "key") == 0)
            && (n == 1 || strcmp(rest[1], "--help") == 0
                || strcmp(rest[1], "-h") == 0))
        {
            printf("usage:\n");

            for (c = prov_cmds; c->name; c++) {
                if (c->group && strcmp(c->group, rest[0]) == 0) {
                    printf("  objspace-provisioner %s\n", c->usage);
                }
            }

            return n == 1 ? PROV_EXIT_USAGE : PROV_EXIT_OK;
        }

        fprintf(stderr, "objspace-provisioner: unknown command \"%s%s%s\" "
                "(try --help)\n", rest[0], n > 1 ? " " : "",
                n > 1 ? rest[1] : "");
        return PROV_EXIT_USAGE;
    }

    npos = 0;

    if (prov_cli_parse(n - i, rest + i, cmd, opts, pos, &npos, &help, &err)
        != PROV_OK)
    {
        rc = PROV_EXIT_USAGE;
        goto failed;
    }

    if (help) {
        prov_cmd_help(cmd);
        rc = PROV_EXIT_OK;
        goto done;
    }

    if (cmd->handler(&g, opts, pos, npos, &err) == PROV_OK) {
        rc = PROV_EXIT_OK;
        goto done;
    }

    rc = prov_cli_exit_code(&err);

failed:

    fprintf(stderr, "objspace-provisioner: %s\n", err.msg);

    if (g.json) {
        json_t  *j;

        j = json_pack("{s:{s:s, s:s}}", "error", "code",
                      prov_err_name(err.code), "message", err.msg);
        if (j) {
            prov_json_print(j, &err);
        }
    }

done:

    for (i = 0; opts[i].name; i++) {
        free((char *) opts[i].name);
    }

    return rc;
}


static int
prov_cli_open(prov_cli_global_t *g, prov_ctx_t *ctx, prov_err_t *err)
{
    return prov_ctx_open(ctx, g->config, 0, err);
}


/* prints and releases j (a new reference) */

static int
prov_json_print(json_t *j, prov_err_t *err)
{
    int  rc;

    rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);

    if (rc != 0) {
        prov_err_set(err, PROV_E_SYS, "writing JSON failed");
        return PROV_ERR;
    }

    fputc('\n', stdout);

    return PROV_OK;
}


static json_t *
prov_time_json(int64_t t)
{
    char  buf[32];

    if (t == 0) {
        return json_null();
    }

    prov_format_time(t, buf, sizeof(buf));

    return json_string(buf);
}


static json_t *
prov_space_json(prov_ctx_t *ctx, prov_space_t *sp)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o, "
                     "s:s, s:s}",
                     "id", sp->id,
                     "tenant_id", sp->tenant,
                     "name", sp->name,
                     "bucket", sp->bucket,
                     "purpose", sp->purpose,
                     "visibility", sp->visibility,
                     "quota_bytes", (json_int_t) sp->quota_bytes,
                     "status", sp->status,
                     "endpoint", ctx->cf.endpoint,
                     "created_at", prov_time_json(sp->created_at),
                     "s3_api_access", "authenticated endpoint",
                     "public_web_access",
                     strcmp(sp->visibility, "public") == 0
                         ? "enabled" : "disabled");
}


static const char *
prov_key_state(prov_ident_t *id)
{
    if (strcmp(id->status, "active") == 0 && id->expires_at
        && id->expires_at <= prov_now())
    {
        return "expired";
    }

    return id->status;
}


static json_t *
prov_key_json(prov_ctx_t *ctx, prov_ident_t *id, prov_space_t *sp)
{
    json_t  *j;

    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, "
                  "s:s, s:o, s:o, s:b}",
                  "id", id->id,
                  "access_key_id", id->access_key_id,
                  "name", id->name,
                  "space_id", id->space,
                  "tenant_id", id->tenant,
                  "endpoint", ctx->cf.endpoint,
                  "bucket", sp ? sp->bucket : "",
                  "prefix", id->prefix,
                  "region", ctx->cf.region,
                  "permissions", id->mode,
                  "immutable", id->immutable,
                  "status", prov_key_state(id),
                  "expires_at", prov_time_json(id->expires_at),
                  "created_at", prov_time_json(id->created_at),
                  "path_style", ctx->cf.path_style);

    if (j && id->secret_prev_until > prov_now()) {
        json_object_set_new(j, "previous_secret_valid_until",
                            prov_time_json(id->secret_prev_until));
    }

    if (j) {
        redisReply  *lu;
        prov_err_t   e;

        /* from the audit stream, written by the daemon (prov_audit.c) */
        lu = prov_redis_cmd(&ctx->redis, &e, "HGET %s %s", PROV_K_LASTUSED,
                            id->id);
        json_object_set_new(j, "last_used_at",
                            lu && lu->type == REDIS_REPLY_STRING
                            ? prov_time_json(strtoll(lu->str, NULL, 10))
                            : json_null());
        if (lu) {
            freeReplyObject(lu);
        }
    }

    return j;
}


static void
prov_space_print(prov_ctx_t *ctx, prov_space_t *sp)
{
    char  q[32], t[32];

    prov_format_size(sp->quota_bytes, q, sizeof(q));
    prov_format_time(sp->created_at, t, sizeof(t));

    printf("ID: %s\n"
           "Tenant: %s\n"
           "Name: %s\n"
           "Bucket: %s\n"
           "Endpoint: %s\n"
           "Purpose: %s\n"
           "Quota: %s\n"
           "Status: %s\n"
           "Created: %s\n"
           "S3 API Access: authenticated endpoint\n"
           "Public Web Access: %s\n",
           sp->id, sp->tenant, sp->name, sp->bucket, ctx->cf.endpoint,
           sp->purpose, q, sp->status, t,
           strcmp(sp->visibility, "public") == 0 ? "enabled" : "disabled");
}


static void
prov_key_print(prov_ident_t *id, prov_space_t *sp)
{
    char  e[32], c[32], p[32];

    prov_format_time(id->expires_at, e, sizeof(e));
    prov_format_time(id->created_at, c, sizeof(c));

    printf("Key ID: %s\n"
           "Access Key: %s\n"
           "Name: %s\n"
           "Space: %s\n"
           "Bucket: %s\n"
           "Prefix: %s\n"
           "Mode: %s\n"
           "Immutable: %s\n"
           "Status: %s\n"
           "Expires: %s\n"
           "Created: %s\n",
           id->id, id->access_key_id, id->name, id->space,
           sp ? sp->bucket : "?", id->prefix[0] ? id->prefix : "(whole bucket)",
           id->mode, id->immutable ? "yes" : "no", prov_key_state(id), e, c);

    if (id->secret_prev_until > prov_now()) {
        prov_format_time(id->secret_prev_until, p, sizeof(p));
        printf("Previous secret valid until: %s\n", p);
    }
}


/*
 * Ready-to-paste client configuration.  The endpoint, region and
 * addressing style come from the config, so what is printed is what the
 * gateway serves.
 */

static int
prov_examples(prov_ctx_t *ctx, prov_ident_t *id, prov_space_t *sp,
    const char *secret, prov_buf_t *aws, prov_buf_t *s3cfg,
    prov_buf_t *rclone)
{
    int          https, reads, writes;
    char         remote[80];
    const char  *host, *ep;

    ep = ctx->cf.endpoint;
    https = (strncmp(ep, "https://", 8) == 0);
    host = strstr(ep, "://");
    host = host ? host + 3 : ep;

    reads = strcmp(id->mode, "write-only") != 0;
    writes = strcmp(id->mode, "read-only") != 0;

    snprintf(remote, sizeof(remote), "objspace-%s", id->name);

    if (prov_buf_printf(aws,
            "export AWS_ACCESS_KEY_ID=%s\n"
            "export AWS_SECRET_ACCESS_KEY=%s\n"
            "export AWS_DEFAULT_REGION=%s\n",
            id->access_key_id, secret, ctx->cf.region) != PROV_OK)
    {
        return PROV_ERR;
    }

    if (writes
        && prov_buf_printf(aws,
            "aws --endpoint-url %s s3 cp ./release.tar.gz s3://%s/%s\n",
            ep, sp->bucket, id->prefix) != PROV_OK)
    {
        return PROV_ERR;
    }

    if (reads
        && prov_buf_printf(aws, "aws --endpoint-url %s s3 ls s3://%s/%s\n",
                           ep, sp->bucket, id->prefix) != PROV_OK)
    {
        return PROV_ERR;
    }

    if (prov_buf_printf(s3cfg,
            "[default]\n"
            "access_key = %s\n"
            "secret_key = %s\n"
            "host_base = %s\n"
            "host_bucket = %s%s\n"
            "bucket_location = %s\n"
            "use_https = %s\n"
            "signature_v2 = False\n",
            id->access_key_id, secret, host,
            ctx->cf.path_style ? "" : "%(bucket)s.",
            host, ctx->cf.region, https ? "True" : "False") != PROV_OK)
    {
        return PROV_ERR;
    }

    if (prov_buf_printf(rclone,
            "[%s]\n"
            "type = s3\n"
            "provider = Other\n"
            "access_key_id = %s\n"
            "secret_access_key = %s\n"
            "endpoint = %s\n"
            "region = %s\n"
            "force_path_style = %s\n"
            "no_check_bucket = true\n",
            remote, id->access_key_id, secret, ep, ctx->cf.region,
            ctx->cf.path_style ? "true" : "false") != PROV_OK)
    {
        return PROV_ERR;
    }

    return PROV_OK;
}


static int
prov_print_secret(prov_cli_global_t *g, prov_ctx_t *ctx, prov_ident_t *id,
    prov_space_t *sp, const char *secret, int rotated, prov_err_t *err)
{
    int          rc, writes;
    char         e[32];
    json_t      *j;
    prov_buf_t   aws, s3cfg, rclone;

    rc = PROV_ERR;
    prov_buf_init(&aws);
    prov_buf_init(&s3cfg);
    prov_buf_init(&rclone);

    if (prov_examples(ctx, id, sp, secret, &aws, &s3cfg, &rclone)
        != PROV_OK)
    {
        prov_err_set(err, PROV_E_SYS, "out of memory");
        goto done;
    }

    if (g->json) {
        j = prov_key_json(ctx, id, sp);
        if (j == NULL
            || json_object_set_new(j, "secret_access_key",
                                   json_string(secret)) != 0
            || json_object_set_new(j, "examples",
                                   json_pack("{s:s, s:s, s:s}",
                                             "aws", aws.data,
                                             "s3cfg", s3cfg.data,
                                             "rclone", rclone.data)) != 0)
        {
            json_decref(j);
            prov_err_set(err, PROV_E_SYS, "building JSON failed");
            goto done;
        }

        rc = prov_json_print(j, err);
        goto done;
    }

    prov_format_time(id->expires_at, e, sizeof(e));
    writes = strcmp(id->mode, "read-only") != 0;

    printf("%s The secret is shown once: store it now.\n\n"
           "Endpoint: %s\n"
           "Bucket: %s\n"
           "Prefix: %s\n"
           "Access Key: %s\n"
           "Secret Key: %s\n"
           "Region: %s\n"
           "Path-style: %s\n"
           "Key ID: %s\n"
           "Mode: %s%s\n"
           "Expires: %s\n",
           rotated ? "Key rotated: new secret below." : "Access key created.",
           ctx->cf.endpoint, sp->bucket,
           id->prefix[0] ? id->prefix : "(whole bucket)",
           id->access_key_id, secret, ctx->cf.region,
           ctx->cf.path_style ? "enabled" : "disabled", id->id, id->mode,
           id->immutable ? " (immutable)" : "", e);

    if (rotated && id->secret_prev_until) {
        prov_format_time(id->secret_prev_until, e, sizeof(e));
        printf("Previous secret valid until: %s\n", e);
    }

    printf("\n# aws cli\n%s"
           "\n# s3cmd: save as ~/.s3cfg-%s, then: s3cmd -c ~/.s3cfg-%s "
           "%s s3://%s/%s\n%s"
           "\n# rclone: append to ~/.config/rclone/rclone.conf, then: "
           "rclone %s objspace-%s:%s/%s\n%s",
           aws.data, id->name, id->name,
           writes ? "put ./release.tar.gz" : "ls", sp->bucket, id->prefix,
           s3cfg.data,
           writes ? "copy ./release.tar.gz" : "ls", id->name, sp->bucket,
           id->prefix, rclone.data);

    rc = PROV_OK;

done:

    fflush(stdout);
    prov_buf_wipe(&aws);
    prov_buf_wipe(&s3cfg);
    prov_buf_wipe(&rclone);

    return rc;
}


static int
prov_cmd_space_create(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int               rc;
    const char       *q;
    prov_ctx_t        ctx;
    prov_space_t      sp;
    prov_space_req_t  req;

    (void) pos;
    (void) npos;

    memset(&req, 0, sizeof(req));
    req.tenant = prov_opt(opts, "tenant");
    req.name = prov_opt(opts, "name");
    req.purpose = prov_opt(opts, "purpose");
    req.public = prov_opt_set(opts, "public");

    if (req.tenant == NULL || req.name == NULL) {
        prov_err_set(err, PROV_E_INVAL, "--tenant and --name are required");
        return PROV_ERR;
    }

    if (req.purpose == NULL) {
        req.purpose = "generic";
    }

    q = prov_opt(opts, "quota");
    if (q && prov_parse_size(q, &req.quota_bytes, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = prov_space_create(&ctx, &req, &sp, err);

    if (rc == PROV_OK) {
        if (g->json) {
            rc = prov_json_print(prov_space_json(&ctx, &sp), err);

        } else {
            printf("Object Space created.\n\n");
            prov_space_print(&ctx, &sp);
        }

        prov_space_free(&sp);
    }

    prov_ctx_close(&ctx);

    return rc;
}


static int
prov_cmd_space_list(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int            rc;
    char         **ids, q[32];
    size_t         i, n;
    json_t        *arr;
    const char    *tenant;
    prov_ctx_t     ctx;
    prov_space_t   sp;

    (void) pos;
    (void) npos;

    tenant = prov_opt(opts, "tenant");
    arr = NULL;

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_space_ids(&ctx, &ids, &n, err) != PROV_OK) {
        goto done;
    }

    if (g->json) {
        arr = json_array();

    } else {
        printf("%-20s %-16s %-20s %-30s %-8s %-10s %s\n", "ID", "TENANT",
               "NAME", "BUCKET", "STATUS", "VISIBILITY", "QUOTA");
    }

    for (i = 0; i < n; i++) {
        if (prov_space_get(&ctx, ids[i], &sp, err) != PROV_OK) {
            if (err->code == PROV_E_NOTFOUND) {
                continue;
            }

            goto done_ids;
        }

        if (tenant && strcmp(tenant, sp.tenant) != 0) {
            prov_space_free(&sp);
            continue;
        }

        if (arr) {
            json_array_append_new(arr, prov_space_json(&ctx, &sp));

        } else {
            prov_format_size(sp.quota_bytes, q, sizeof(q));
            printf("%-20s %-16s %-20s %-30s %-8s %-10s %s\n", sp.id,
                   sp.tenant, sp.name, sp.bucket, sp.status, sp.visibility,
                   q);
        }

        prov_space_free(&sp);
    }

    if (arr) {
        rc = prov_json_print(arr, err);
        arr = NULL;

    } else {
        rc = PROV_OK;
    }

done_ids:

    prov_ids_free(ids, n);

done:

    json_decref(arr);
    prov_ctx_close(&ctx);

    return rc;
}


static int
prov_cmd_space_show(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int            rc;
    char         **aks, u[32];
    size_t         i, n;
    json_t        *j, *keys;
    int64_t        usage;
    prov_ctx_t     ctx;
    prov_err_t     e2;
    prov_space_t   sp;
    prov_ident_t   id;
    prov_drift_t   d;

    (void) opts;
    (void) npos;

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_space_get(&ctx, pos[0], &sp, err) != PROV_OK) {
        goto done;
    }

    if (prov_key_ids(&ctx, sp.id, &aks, &n, err) != PROV_OK) {
        goto done_sp;
    }

    usage = -1;
    if (prov_space_usage(&ctx, &sp, &usage, &e2) != PROV_OK) {
        usage = -1;
    }

    d.drift = 0;
    if (prov_space_check(&ctx, &sp, &d, &e2) != PROV_OK) {
        snprintf(d.what, sizeof(d.what), "unknown (%.200s)", e2.msg);
        d.drift = -1;
    }

    if (g->json) {
        j = prov_space_json(&ctx, &sp);
        keys = json_array();

        for (i = 0; i < n; i++) {
            if (prov_key_get(&ctx, aks[i], &id, &e2) == PROV_OK) {
                json_array_append_new(keys, prov_key_json(&ctx, &id, &sp));
                prov_ident_free(&id);
            }
        }

        json_object_set_new(j, "keys", keys);
        json_object_set_new(j, "usage_bytes",
                            usage >= 0 ? json_integer(usage) : json_null());
        json_object_set_new(j, "drift",
                            d.drift ? json_string(d.what) : json_null());

        rc = prov_json_print(j, err);

    } else {
        prov_space_print(&ctx, &sp);

        if (usage >= 0) {
            prov_format_size(usage, u, sizeof(u));
            printf("Usage: %lld bytes\n", (long long) usage);
        }

        printf("Drift: %s\n", d.drift ? d.what : "none");
        printf("Keys: %zu\n", n);

        for (i = 0; i < n; i++) {
            if (prov_key_get(&ctx, aks[i], &id, &e2) == PROV_OK) {
                printf("  %s %s %s %s %s\n", id.id, id.access_key_id,
                       id.name, id.mode, prov_key_state(&id));
                prov_ident_free(&id);
            }
        }

        rc = PROV_OK;
    }

    prov_ids_free(aks, n);

done_sp:

    prov_space_free(&sp);

done:

    prov_ctx_close(&ctx);

    return rc;
}


static int
prov_space_action(prov_cli_global_t *g, const char *ref, int action,
    const char *arg, prov_err_t *err)
{
    int            rc, on;
    int64_t        bytes;
    prov_ctx_t     ctx;
    prov_space_t   sp;

    on = 0;
    bytes = 0;

    if (action == 'p') {
        if (strcmp(arg, "on") == 0) {
            on = 1;

        } else if (strcmp(arg, "off") != 0) {
            prov_err_set(err, PROV_E_INVAL, "expected \"on\" or \"off\", "
                         "not \"%s\"", arg);
            return PROV_ERR;
        }
    }

    if (action == 'q' && prov_parse_size(arg, &bytes, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_space_get(&ctx, ref, &sp, err) != PROV_OK) {
        goto done;
    }

    switch (action) {
    case 'd':
        rc = prov_space_set_enabled(&ctx, &sp, 0, err);
        break;
    case 'e':
        rc = prov_space_set_enabled(&ctx, &sp, 1, err);
        break;
    case 'x':
        rc = prov_space_delete(&ctx, &sp, err);
        break;
    case 'p':
        rc = prov_space_set_public(&ctx, &sp, on, err);
        break;
    case 'q':
        rc = prov_space_set_quota(&ctx, &sp, bytes, err);
        break;
    }

    if (rc == PROV_OK) {
        if (g->json) {
            json_t  *j;

            j = prov_space_json(&ctx, &sp);
            if (action == 'x') {
                json_object_set_new(j, "status", json_string("deleted"));
            }

            rc = prov_json_print(j, err);

        } else if (action == 'x') {
            printf("Object Space %s deleted (bucket %s and its objects "
                   "removed).\n", sp.id, sp.bucket);

        } else {
            prov_space_print(&ctx, &sp);
        }
    }

    prov_space_free(&sp);

done:

    prov_ctx_close(&ctx);

    return rc;
}


static int
prov_cmd_space_disable(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_space_action(g, pos[0], 'd', NULL, err);
}


static int
prov_cmd_space_enable(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_space_action(g, pos[0], 'e', NULL, err);
}


static int
prov_cmd_space_delete(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_space_action(g, pos[0], 'x', NULL, err);
}


static int
prov_cmd_space_public(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int                rc, on;
    json_t            *j;
    prov_ctx_t         ctx;
    prov_space_t       sp;
    prov_public_req_t  req;

    (void) npos;

    on = (strcmp(pos[1], "on") == 0);

    if (!on && strcmp(pos[1], "off") != 0) {
        prov_err_set(err, PROV_E_INVAL, "expected \"on\" or \"off\", "
                     "not \"%s\"", pos[1]);
        return PROV_ERR;
    }

    memset(&req, 0, sizeof(req));
    req.prefix = prov_opt(opts, "prefix");
    req.slug = prov_opt(opts, "slug");
    req.host = prov_opt(opts, "host");
    req.cache_control = prov_opt(opts, "cache-control");
    req.index = prov_opt(opts, "index");
    req.error_page = prov_opt(opts, "error-page");
    req.cors = prov_opt(opts, "cors");
    req.types = prov_opt(opts, "types");
    req.immutable = prov_opt_set(opts, "immutable");
    req.listing = prov_opt_set(opts, "listing");

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_space_get(&ctx, pos[0], &sp, err) != PROV_OK) {
        goto done;
    }

    if (prov_public_set(&ctx, &sp, on, &req, err) == PROV_OK) {

        if (g->json) {
            j = prov_space_json(&ctx, &sp);
            rc = prov_public_json(&ctx, &sp, j, err);

            if (rc == PROV_OK) {
                rc = prov_json_print(j, err);

            } else {
                json_decref(j);
            }

        } else {
            prov_space_print(&ctx, &sp);
            rc = prov_public_print(&ctx, &sp, err);
        }
    }

    prov_space_free(&sp);

done:

    prov_ctx_close(&ctx);

    return rc;
}


static int
prov_cmd_space_quota(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_space_action(g, pos[0], 'q', pos[1], err);
}


static int
prov_cmd_key_create(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int             rc;
    char            secret[PROV_SECRET_LEN + 1];
    const char     *space, *exp;
    prov_ctx_t      ctx;
    prov_space_t    sp;
    prov_ident_t    id;
    prov_key_req_t  req;

    (void) pos;
    (void) npos;

    memset(&req, 0, sizeof(req));
    space = prov_opt(opts, "space");
    req.name = prov_opt(opts, "name");
    req.mode = prov_opt(opts, "mode");
    req.prefix = prov_opt(opts, "prefix");
    req.immutable = prov_opt_set(opts, "immutable");
    exp = prov_opt(opts, "expires");

    if (space == NULL || req.name == NULL || req.mode == NULL) {
        prov_err_set(err, PROV_E_INVAL, "--space, --name and --mode are "
                     "required");
        return PROV_ERR;
    }

    if (!prov_valid_mode(req.mode)) {
        prov_err_set(err, PROV_E_INVAL, "invalid mode \"%s\": use read-only, "
                     "write-only, read-write, read-write-delete, publisher "
                     "or registry-backend", req.mode);
        return PROV_ERR;
    }

    if (req.prefix == NULL) {
        req.prefix = "";
    }

    if (exp && strcmp(exp, "never") != 0
        && prov_parse_duration(exp, &req.expires_in, err) != PROV_OK)
    {
        return PROV_ERR;
    }

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_space_get(&ctx, space, &sp, err) != PROV_OK) {
        goto done;
    }

    if (prov_key_create(&ctx, &sp, &req, &id, secret, err) == PROV_OK) {
        rc = prov_print_secret(g, &ctx, &id, &sp, secret, 0, err);
        prov_memzero(secret, sizeof(secret));
        prov_ident_free(&id);
    }

    prov_space_free(&sp);

done:

    prov_ctx_close(&ctx);

    return rc;
}


static int
prov_cmd_key_list(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int            rc, found;
    char         **sids, **aks, e[32];
    size_t         i, k, ns, nk;
    json_t        *arr;
    const char    *space;
    prov_ctx_t     ctx;
    prov_err_t     e2;
    prov_space_t   sp, only;
    prov_ident_t   id;

    (void) pos;
    (void) npos;

    space = prov_opt(opts, "space");
    arr = NULL;
    sids = NULL;
    ns = 0;

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (space) {
        if (prov_space_get(&ctx, space, &only, err) != PROV_OK) {
            goto done;
        }

        sids = calloc(1, sizeof(char *));
        if (sids == NULL || (sids[0] = strdup(only.id)) == NULL) {
            prov_space_free(&only);
            prov_err_set(err, PROV_E_SYS, "out of memory");
            goto done;
        }

        ns = 1;
        prov_space_free(&only);

    } else if (prov_space_ids(&ctx, &sids, &ns, err) != PROV_OK) {
        goto done;
    }

    if (g->json) {
        arr = json_array();

    } else {
        printf("%-20s %-20s %-24s %-20s %-17s %-16s %-8s %s\n", "ID",
               "ACCESS KEY", "NAME", "SPACE", "MODE", "PREFIX", "STATUS",
               "EXPIRES");
    }

    for (i = 0; i < ns; i++) {
        found = (prov_space_get(&ctx, sids[i], &sp, &e2) == PROV_OK);

        if (prov_key_ids(&ctx, sids[i], &aks, &nk, err) != PROV_OK) {
            if (found) {
                prov_space_free(&sp);
            }

            goto done;
        }

        for (k = 0; k < nk; k++) {
            if (prov_key_get(&ctx, aks[k], &id, &e2) != PROV_OK) {
                continue;
            }

            if (arr) {
                json_array_append_new(arr, prov_key_json(&ctx, &id,
                                                         found ? &sp : NULL));

            } else {
                prov_format_time(id.expires_at, e, sizeof(e));
                printf("%-20s %-20s %-24s %-20s %-17s %-16s %-8s %s\n",
                       id.id, id.access_key_id, id.name, id.space, id.mode,
                       id.prefix[0] ? id.prefix : "-", prov_key_state(&id),
                       e);
            }

            prov_ident_free(&id);
        }

        prov_ids_free(aks, nk);

        if (found) {
            prov_space_free(&sp);
        }
    }

    if (arr) {
        rc = prov_json_print(arr, err);
        arr = NULL;

    } else {
        rc = PROV_OK;
    }

done:

    json_decref(arr);

    if (sids) {
        prov_ids_free(sids, ns);
    }

    prov_ctx_close(&ctx);

    return rc;
}


/* loads a key and its space (sp->id[0] == '\0' if the space is gone) */

static int
prov_cli_key_load(prov_ctx_t *ctx, const char *ref, prov_ident_t *id,
    prov_space_t *sp, prov_err_t *err)
{
    prov_err_t  e2;

    if (prov_key_get(ctx, ref, id, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (prov_space_get(ctx, id->space, sp, &e2) != PROV_OK) {
        memset(sp, 0, sizeof(*sp));
    }

    return PROV_OK;
}


static int
prov_cmd_key_show(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int            rc;
    prov_ctx_t     ctx;
    prov_space_t   sp;
    prov_ident_t   id;

    (void) opts;
    (void) npos;

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_cli_key_load(&ctx, pos[0], &id, &sp, err) == PROV_OK) {
        if (g->json) {
            rc = prov_json_print(prov_key_json(&ctx, &id,
                                               sp.id[0] ? &sp : NULL), err);

        } else {
            prov_key_print(&id, sp.id[0] ? &sp : NULL);
            rc = PROV_OK;
        }

        prov_ident_free(&id);
        prov_space_free(&sp);
    }

    prov_ctx_close(&ctx);

    return rc;
}


static int
prov_key_action(prov_cli_global_t *g, const char *ref, int action,
    int64_t grace, prov_err_t *err)
{
    int            rc;
    char           secret[PROV_SECRET_LEN + 1];
    json_t        *j;
    prov_ctx_t     ctx;
    prov_space_t   sp;
    prov_ident_t   id;

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_cli_key_load(&ctx, ref, &id, &sp, err) != PROV_OK) {
        goto done;
    }

    switch (action) {

    case 'r':
        rc = prov_key_revoke(&ctx, &id, err);
        break;

    case 'x':
        rc = prov_key_delete(&ctx, &id, err);
        break;

    case 'o':
        if (sp.id[0] == '\0') {
            prov_err_set(err, PROV_E_STATE, "key %s belongs to no existing "
                         "space", id.id);
            break;
        }

        rc = prov_key_rotate(&ctx, &id, grace, secret, err);

        if (rc == PROV_OK) {
            rc = prov_print_secret(g, &ctx, &id, &sp, secret, 1, err);
            prov_memzero(secret, sizeof(secret));
        }

        goto done_key;
    }

    if (rc == PROV_OK) {
        if (g->json) {
            j = prov_key_json(&ctx, &id, sp.id[0] ? &sp : NULL);
            if (action == 'x') {
                json_object_set_new(j, "status", json_string("deleted"));
            }

            rc = prov_json_print(j, err);

        } else if (action == 'x') {
            printf("Key %s (%s) deleted.\n", id.id, id.access_key_id);

        } else {
            printf("Key %s (%s) revoked.\n", id.id, id.access_key_id);
        }
    }

done_key:

    prov_ident_free(&id);
    prov_space_free(&sp);

done:

    prov_ctx_close(&ctx);

    return rc;
}


static int
prov_cmd_key_revoke(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_key_action(g, pos[0], 'r', 0, err);
}


static int
prov_cmd_key_delete(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_key_action(g, pos[0], 'x', 0, err);
}


static int
prov_cmd_key_rotate(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    int64_t      grace;
    const char  *s;

    (void) npos;

    grace = 0;
    s = prov_opt(opts, "grace");

    if (s && prov_parse_duration(s, &grace, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (grace > PROV_GRACE_MAX) {
        prov_err_set(err, PROV_E_INVAL, "grace period must be at most 7d");
        return PROV_ERR;
    }

    return prov_key_action(g, pos[0], 'o', grace, err);
}


static int
prov_cmd_status(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) pos;
    (void) npos;

    return prov_daemon_status(g->config, g->json,
                              !prov_opt_set(opts, "no-check"), err);
}


static int
prov_cmd_reconcile(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) pos;
    (void) npos;

    return prov_daemon_reconcile_once(g->config, g->json,
                                      prov_opt_set(opts, "dry-run"), err);
}


static int
prov_cmd_run(prov_cli_global_t *g, prov_opt_t *opts, char **pos, int npos,
    prov_err_t *err)
{
    (void) pos;
    (void) npos;

    if (!g->verbose) {
        prov_log_level = PROV_LOG_INFO;
    }

    return prov_daemon_run(g->config, prov_opt_set(opts, "once"), err);
}


static int
prov_cmd_usage(prov_cli_global_t *g, prov_opt_t *opts, char **pos, int npos,
    prov_err_t *err)
{
    int           rc;
    prov_ctx_t    ctx;
    prov_space_t  sp;

    (void) opts;
    (void) npos;

    if (prov_cli_open(g, &ctx, err) != PROV_OK) {
        return PROV_ERR;
    }

    rc = PROV_ERR;

    if (prov_space_get(&ctx, pos[0], &sp, err) == PROV_OK) {
        rc = prov_usage_show(&ctx, &sp, g->json, err);
        prov_space_free(&sp);
    }

    prov_ctx_close(&ctx);

    return rc;
}


/*
 * --space and --key may name another tenant's space or key: they resolve
 * through Redis and must belong to --tenant, else "unknown" (the answer
 * does not tell whether it exists elsewhere).
 */

static int
prov_cmd_audit(prov_cli_global_t *g, prov_opt_t *opts, char **pos, int npos,
    prov_err_t *err)
{
    int                 rc, have_ctx;
    char                ref[128], space[24], ident[24];
    prov_ctx_t          ctx;
    prov_space_t        sp;
    prov_ident_t        id;
    prov_config_t       cf;
    const char         *s, *k;
    prov_audit_query_t  q;

    (void) pos;
    (void) npos;

    memset(&q, 0, sizeof(q));
    q.json = g->json;
    q.tenant = prov_opt(opts, "tenant");
    have_ctx = 0;
    rc = PROV_ERR;

    if (q.tenant == NULL) {
        prov_err_set(err, PROV_E_INVAL, "audit: --tenant is required");
        return PROV_ERR;
    }

    if (!prov_valid_slug(q.tenant, PROV_SLUG_MAX)) {
        prov_err_set(err, PROV_E_INVAL, "invalid tenant \"%s\"", q.tenant);
        return PROV_ERR;
    }

    if ((s = prov_opt(opts, "since")) != NULL
        && prov_audit_parse_since(s, &q.since_ms, err) != PROV_OK)
    {
        return PROV_ERR;
    }

    s = prov_opt(opts, "space");
    k = prov_opt(opts, "key");

    if ((s && strncmp(s, "sp_", 3) != 0) || (k && strncmp(k, "key_", 4) != 0))
    {
        if (prov_cli_open(g, &ctx, err) != PROV_OK) {
            return PROV_ERR;
        }

        have_ctx = 1;
    }

    if (s && strncmp(s, "sp_", 3) == 0) {
        snprintf(space, sizeof(space), "%s", s);

    } else if (s) {
        /* a bucket or tenant/name; else a name of the tenant's */
        snprintf(ref, sizeof(ref), "%s/%s", q.tenant, s);

        if (prov_space_get(&ctx, s, &sp, err) != PROV_OK
            && (strchr(s, '/') != NULL
                || prov_space_get(&ctx, ref, &sp, err) != PROV_OK))
        {
            goto unknown_space;
        }

        if (strcmp(sp.tenant, q.tenant) != 0) {
            prov_space_free(&sp);
            goto unknown_space;
        }

        snprintf(space, sizeof(space), "%s", sp.id);
        prov_space_free(&sp);
    }

    if (s) {
        q.space = space;
    }

    if (k && strncmp(k, "key_", 4) == 0) {
        snprintf(ident, sizeof(ident), "%s", k);

    } else if (k) {
        if (prov_key_get(&ctx, k, &id, err) != PROV_OK) {
            goto unknown_key;
        }

        if (strcmp(id.tenant, q.tenant) != 0) {
            prov_ident_free(&id);
            goto unknown_key;
        }

        snprintf(ident, sizeof(ident), "%s", id.id);
        prov_ident_free(&id);
    }

    if (k) {
        q.identity = ident;
    }

    if (have_ctx) {
        rc = prov_audit_query(&ctx.cf, &q, err);

    } else if (prov_config_load(&cf, g->config, err) == PROV_OK) {
        rc = prov_audit_query(&cf, &q, err);
        prov_config_free(&cf);
    }

    goto done;

unknown_space:

    prov_err_set(err, PROV_E_NOTFOUND, "unknown space \"%s\" for tenant "
                 "\"%s\"", s, q.tenant);
    goto done;

unknown_key:

    prov_err_set(err, PROV_E_NOTFOUND, "unknown key \"%s\" for tenant "
                 "\"%s\"", k, q.tenant);

done:

    if (have_ctx) {
        prov_ctx_close(&ctx);
    }

    return rc;
}


static int
prov_cmd_sync(prov_cli_global_t *g, prov_opt_t *opts, char **pos, int npos,
    prov_err_t *err)
{
    int64_t      wait;
    const char  *w;

    (void) pos;
    (void) npos;

    wait = 0;
    w = prov_opt(opts, "wait");

    if (w && (prov_parse_duration(w, &wait, err) != PROV_OK || wait > 60)) {
        prov_err_set(err, PROV_E_INVAL, "--wait must be at most 60s");
        return PROV_ERR;
    }

    return prov_rs_cli_sync(g->config, g->json, prov_opt_set(opts, "full"),
                            (int) wait,
                            prov_opt_set(opts, "allow-mass-delete"), err);
}


static int
prov_cmd_rs_push(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    (void) opts;
    (void) npos;

    return prov_rs_cli_push(g->config, g->json, pos[0], pos[1], err);
}


static int
prov_cmd_handover_keygen(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    const char  *b;

    (void) npos;

    b = prov_opt(opts, "bits");

    if (prov_handover_keygen(pos[0], b ? atoi(b) : PROV_HANDOVER_BITS, err)
        != PROV_OK)
    {
        return PROV_ERR;
    }

    return prov_rs_cli_pubkey(pos[0], g->json, err);
}


static int
prov_cmd_handover_pubkey(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    prov_config_t  cf;
    int            rc;

    (void) opts;
    (void) pos;
    (void) npos;

    if (prov_config_load(&cf, g->config, err) != PROV_OK) {
        return PROV_ERR;
    }

    if (cf.rustshare_handover_key == NULL) {
        prov_config_free(&cf);
        prov_err_set(err, PROV_E_CONFIG, "no rustshare_handover_key in the "
                     "configuration");
        return PROV_ERR;
    }

    rc = prov_rs_cli_pubkey(cf.rustshare_handover_key, g->json, err);
    prov_config_free(&cf);

    return rc;
}


static int
prov_cmd_handover_seal(prov_cli_global_t *g, prov_opt_t *opts, char **pos,
    int npos, prov_err_t *err)
{
    const char  *ak;

    (void) pos;
    (void) npos;

    ak = prov_opt(opts, "access-key-id");
    if (ak == NULL) {
        prov_err_set(err, PROV_E_INVAL, "--access-key-id is required");
        return PROV_ERR;
    }

    return prov_rs_cli_seal(g->config, ak, err);
}



/*
 * objspace-provisioner: command line interface.
 *
 * objspace-provisioner [--config FILE] [--json] [-v] GROUP COMMAND [ARGS]
 * Every command has --help.  Secrets appear on stdout exactly once, at key
 * creation and rotation, and nowhere else (not in logs, errors or status).
 * This file holds the command table, the argument parser and the daemon,
 * sync, usage, audit and hand-over commands; the space and key groups are
 * in prov_cli_space.c.
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


#define PROV_MAX_OPTS  12
#define PROV_MAX_POS   4


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
static void prov_cli_usage(FILE *f);
static void prov_cmd_help(const prov_cmd_t *cmd);
static const char *prov_err_name(int code);

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


const char *
prov_opt(prov_opt_t *opts, const char *name)
{
    for ( /* void */ ; opts->name; opts++) {
        if (strcmp(opts->name, name) == 0) {
            return opts->value;
        }
    }

    return NULL;
}


int
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


int
prov_cli_open(prov_cli_global_t *g, prov_ctx_t *ctx, prov_err_t *err)
{
    return prov_ctx_open(ctx, g->config, 0, err);
}


/* prints and releases j (a new reference) */

int
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


/*
 * neaprov: the command-line front end.
 *
 * The only place that prints or exits.  Exit status: 0 success, 1 a runtime
 * failure (I/O, library), 2 bad input (spec, plan, template, arguments).
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <unistd.h>

#include "nea_engine.h"
#include "nea_iso.h"
#include "nea_json.h"
#include "nea_ops.h"
#include "nea_pool.h"
#include "nea_render.h"
#include "nea_spec.h"
#include "nea_uri.h"
#include "nea_util.h"
#include "nea_virt.h"

#ifndef NEA_VERSION
#define NEA_VERSION "0.0.0"
#endif

enum { EXIT_RUNTIME = 1, EXIT_INVALID = 2 };

static const char *prog = "neaprov";

/* A string from the state database, a message or echoed input as the
 * terminal should get it: control characters as visible escapes
 * (nea_text_escape).  The result lives until 16 more calls. */
static const char *esc(const char *s)
{
    static char *ring[16];
    static unsigned next;
    if (!s)
        return NULL;
    char **slot = &ring[next++ % NEA_ARRAY_SIZE(ring)];
    free(*slot);
    *slot = nea_text_escape(s);
    return *slot;
}

/* SIZE of --max-image-size: digits, then optionally one of K, M, G, T
 * (binary multiples); at least 1 byte, no overflow. */
static int parse_size(const char *s, uint64_t *ret_bytes)
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return -1;
    static const char units[] = "KMGT";
    const char *u = *p ? strchr(units, *p >= 'a' ? *p - 'a' + 'A' : *p) : NULL;
    if (*p && (!u || p[1]))
        return -1;
    for (int i = u ? (int)(u - units) + 1 : 0; i > 0; i--) {
        if (v > UINT64_MAX / 1024)
            return -1;
        v *= 1024;
    }
    if (v == 0)
        return -1;
    *ret_bytes = v;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [OPTIONS] COMMAND [ARGS] [OPTIONS]\n"
            "\n"
            "commands:\n"
            "  validate SPEC...            check specs and their hardware plans\n"
            "  render SPEC -o OUTDIR       write domain.xml, seed.iso, meta-data,\n"
            "                              user-data and network-config\n"
            "  networks -c URI             the host's external networks\n"
            "  plan SPEC...                what apply would change, and the disruption\n"
            "  apply SPEC...               converge the host to the specs\n"
            "  status [TENANT|NAME]        recorded state joined with the live domains\n"
            "  destroy TENANT|NAME         shut down, undefine, delete the volumes\n"
            "  pool add|remove RANGE       RANGE: ADDR, FIRST-LAST or ADDR/PREFIX\n"
            "  pool list                   the public IP pool, free or assigned\n"
            "  rule add TENANT --public IP:PORT/PROTO --to IP:PORT [--description D]\n"
            "  rule remove TENANT --public IP:PORT/PROTO\n"
            "  rule list [TENANT]          public IP rules\n"
            "  version                     print the version\n"
            "\n"
            "options:\n"
            "  -p, --plans DIR             hardware plan directory (repeatable; default\n"
            "                              $NEAPROV_PLANS, else /etc/neaprov/plans and\n"
            "                              %s/hw/plans)\n"
            "  -t, --template FILE         domain template (default\n"
            "                              /etc/neaprov/templates/domain.xml, else\n"
            "                              %s/templates/domain.xml)\n"
            "  -o, --output DIR            output directory of render (created)\n"
            "      --volume-dir DIR        where the storage pool keeps volumes\n"
            "                              (default %s)\n"
            "  -c, --connect URI           libvirt URI (overrides the plan's host)\n"
            "      --state PATH            state database (default /var/lib/neaprov/\n"
            "                              state.db as root, else $XDG_STATE_HOME/\n"
            "                              neaprov/state.db; for test:// hosts a\n"
            "                              database that lives as long as the run)\n"
            "      --json                  JSON on stdout (plan, apply, status, networks,\n"
            "                              pool list, rule list)\n"
            "      --no-wait               apply: do not wait until the appliance is ready\n"
            "      --timeout S             apply: readiness timeout (default 300)\n"
            "      --stop-timeout S        apply, destroy: graceful shutdown before\n"
            "                              power-off (default 60)\n"
            "      --lock-timeout S        apply: how long to wait for another run's\n"
            "                              base image upload to the same host and\n"
            "                              pool (default 600)\n"
            "      --image-cache DIR       images by URL are kept here (default\n"
            "                              /var/cache/neaprov/images as root, else\n"
            "                              ~/.cache/neaprov/images)\n"
            "      --ca-file FILE          trust only this PEM bundle for https images\n"
            "                              (TLS verification is always on)\n"
            "      --max-image-size SIZE   apply: refuse an image by URL larger than SIZE\n"
            "                              bytes (suffix K, M, G or T: binary; default\n"
            "                              64G)\n"
            "      --force                 pool remove: release assigned addresses too\n"
            "      --public IP:PORT/PROTO  rule add, rule remove: the public endpoint\n"
            "      --to IP:PORT            rule add: the replica it forwards to\n"
            "      --description TEXT      rule add: a note kept with the rule\n"
            "  -q, --quiet                 no progress or confirmations (errors, warnings\n"
            "                              and the lists asked for still print)\n"
            "  -h, --help                  this help\n"
            "      --version               print the version\n"
            "\n"
            "Exit status: 0 success, 1 runtime failure, 2 invalid input.\n",
            prog, nea_datadir(), nea_datadir(), NEA_DEFAULT_VOLUME_DIR);
}

struct cli {
    const char *cmd;
    const char *subcmd;
    int force;
    const char *rule_public;
    const char *rule_to;
    const char *rule_description;
    const char *uri;
    const char *state_path;
    char *tmp_state_dir;
    int json;
    int no_wait;
    unsigned timeout_s;
    unsigned stop_timeout_s;
    unsigned lock_timeout_s;
    const char *plan_dirs[16];
    size_t n_plan_dirs;
    char *env_plans;
    const char *template_path;
    const char *output;
    const char *volume_dir;
    const char *image_cache;
    const char *ca_file;
    uint64_t max_image_bytes;
    int quiet;
    struct nea_progress_text fetch_text; /* image downloads, on stderr */
};

static int print_diags(struct nea_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        NEA_AUTOFREE char *line = nea_diag_format(&d->v[i]);
        fprintf(stderr, "%s\n", esc(line));
    }
    if (d->n_total > d->n)
        fprintf(stderr, "%s: %zu more problems not shown\n", prog, d->n_total - d->n);
    return d->n_errors ? EXIT_INVALID : 0;
}

static int exit_for(int code)
{
    return code == NEA_ERR_INVALID ? EXIT_INVALID : EXIT_RUNTIME;
}

/* The library's messages name no option of ours: where one of them is the
 * way out, a line of its own says which.  The state layer calls the upload
 * lock's wait "the lock timeout" and a pool removal that releases
 * addresses "a forced removal". */
static void option_hint(const struct cli *c, const struct nea_err *err)
{
    if (err->code == NEA_ERR_BUSY && strstr(err->msg, "(the lock timeout)"))
        fprintf(stderr, "%s: --lock-timeout S waits longer for the upload (now %u s)\n",
                prog, c->lock_timeout_s ? c->lock_timeout_s : NEA_LOCK_TIMEOUT_DEFAULT_S);
    else if (err->code == NEA_ERR_INVALID && !c->force &&
             strstr(err->msg, "a forced removal releases them"))
        fprintf(stderr, "%s: pool remove --force releases them and removes their rules\n",
                prog);
}

static void default_paths(struct cli *c)
{
    if (c->n_plan_dirs == 0) {
        const char *env = getenv("NEAPROV_PLANS");
        if (env && *env) {
            c->env_plans = nea_xstrdup(env);
            char *save = NULL;
            for (char *tok = strtok_r(c->env_plans, ":", &save);
                 tok && c->n_plan_dirs < NEA_ARRAY_SIZE(c->plan_dirs);
                 tok = strtok_r(NULL, ":", &save))
                c->plan_dirs[c->n_plan_dirs++] = tok;
        } else {
            const char *d[2];
            size_t n = nea_default_plan_dirs(d);
            for (size_t i = 0; i < n; i++)
                c->plan_dirs[c->n_plan_dirs++] = d[i];
        }
    }
    if (!c->template_path)
        c->template_path = nea_default_template();
    if (!c->volume_dir)
        c->volume_dir = NEA_DEFAULT_VOLUME_DIR;
}

static int load_spec(struct cli *c, const char *path, struct nea_spec **ret_spec)
{
    struct nea_load_opts lo = {.plan_dirs = c->plan_dirs,
                               .n_plan_dirs = c->n_plan_dirs};
    struct nea_diags diags = {0};
    struct nea_err err = {0};
    int rc = nea_spec_load_file(path, &lo, ret_spec, &diags, &err);
    int ex = print_diags(&diags);
    nea_diags_clear(&diags);
    if (rc == NEA_ERR_INVALID && err.code == NEA_OK)
        return EXIT_INVALID;
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
        return exit_for(rc);
    }
    return ex == EXIT_INVALID ? EXIT_INVALID : 0;
}

static int cmd_validate(struct cli *c, int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "%s validate: name at least one spec file\n", prog);
        return EXIT_INVALID;
    }
    int worst = 0;
    for (int i = 0; i < argc; i++) {
        NEA_AUTO(nea_spec_freep) struct nea_spec *s = NULL;
        int ex = load_spec(c, argv[i], &s);
        if (ex == 0 && !c->quiet) {
            char mac[18];
            nea_mac_format(s->mac, mac);
            printf("%s: ok: appliance %s of tenant %s on plan %s (%s, mac %s)\n",
                   esc(argv[i]), esc(s->name), esc(s->tenant), esc(s->plan->name),
                   esc(s->network->ref), mac);
        }
        if (ex > worst)
            worst = ex;
    }
    return worst;
}

static int cmd_render(struct cli *c, int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "%s render: name exactly one spec file\n", prog);
        return EXIT_INVALID;
    }
    if (!c->output) {
        fprintf(stderr, "%s render: -o OUTDIR is required\n", prog);
        return EXIT_INVALID;
    }
    if (c->volume_dir[0] != '/') {
        fprintf(stderr, "%s render: --volume-dir %s must be an absolute path\n", prog,
                c->volume_dir);
        return EXIT_INVALID;
    }
    NEA_AUTO(nea_spec_freep) struct nea_spec *s = NULL;
    int ex = load_spec(c, argv[0], &s);
    if (ex)
        return ex;
    struct nea_err perr = {0};
    if (nea_render_places(s, &perr) < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, esc(argv[0]), esc(perr.msg));
        return EXIT_INVALID;
    }

    const char *sde = getenv("SOURCE_DATE_EPOCH");
    time_t epoch = NEA_DEFAULT_EPOCH;
    if (sde && *sde) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(sde, &end, 10);
        if (errno || *end) {
            fprintf(stderr, "%s: SOURCE_DATE_EPOCH \"%s\" is not a number of seconds\n",
                    prog, sde);
            return EXIT_INVALID;
        }
        if (v < 0 || v > (long long)NEA_ISO_TIME_MAX) {
            fprintf(stderr, "%s: SOURCE_DATE_EPOCH \"%s\" is outside 0 to %lld seconds "
                    "(1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z), the times an ISO "
                    "9660 image can record\n", prog, sde, (long long)NEA_ISO_TIME_MAX);
            return EXIT_INVALID;
        }
        epoch = (time_t)v;
    }
    struct nea_render_opts ro = {.template_path = c->template_path,
                                 .volume_dir = c->volume_dir,
                                 .epoch = epoch};
    struct nea_artifacts a = {0};
    struct nea_err err = {0};
    int rc = nea_render(s, &ro, &a, &err);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
        return exit_for(rc);
    }
    ex = 0;
    if (nea_artifacts_write(&a, c->output, &err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
        ex = EXIT_RUNTIME;
    }
    if (!ex && !c->quiet)
        printf("rendered appliance %s (instance-id %s) into %s\n", s->name,
               a.seed.instance_id, c->output);
    nea_artifacts_clear(&a);
    return ex;
}

/* ---- deploy commands ---------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tmp_state(struct cli *c)
{
    if (c->tmp_state_dir) {
        nftw(c->tmp_state_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        free(c->tmp_state_dir);
        c->tmp_state_dir = NULL;
    }
}

/* Per-run directories of earlier runs that were killed (their owner's pid
 * is gone): removed, so that crashes leave nothing behind for long.  A pid
 * that lives (or was reused) keeps its directory. */
static void sweep_dead_runs(void)
{
    DIR *dir = opendir("/tmp");
    if (!dir)
        return;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!nea_str_has_prefix(de->d_name, "neaprov-run-"))
            continue;
        NEA_AUTOFREE char *path = nea_xasprintf("/tmp/%s", de->d_name);
        NEA_AUTOFREE char *pidf = nea_xasprintf("%s/pid", path);
        struct stat st;
        if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
            continue;
        char *buf = NULL;
        size_t len = 0;
        struct nea_err ignored = {0};
        if (nea_read_file(pidf, 32, &buf, &len, &ignored) < 0)
            continue; /* being created, or not ours to judge */
        char *end = NULL;
        long pid = strtol(buf, &end, 10);
        bool dead = end != buf && pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
        free(buf);
        if (dead)
            nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
    closedir(dir);
}

/* The state database: --state, else a per-run one for the in-process test
 * driver (its domains die with the process, so must its record), else the
 * system or user default. */
static int resolve_state(struct cli *c, bool test_host, const char **ret_path)
{
    if (c->state_path) {
        *ret_path = c->state_path;
        return 0;
    }
    if (test_host) {
        char tmpl[] = "/tmp/neaprov-run-XXXXXX";
        if (!mkdtemp(tmpl)) {
            fprintf(stderr, "%s: cannot create a temporary state directory: %s\n", prog,
                    strerror(errno));
            return EXIT_RUNTIME;
        }
        c->tmp_state_dir = nea_xstrdup(tmpl);
        c->state_path = nea_xasprintf("%s/state.db", tmpl);
        NEA_AUTOFREE char *pidf = nea_xasprintf("%s/pid", tmpl);
        NEA_AUTOFREE char *pid = nea_xasprintf("%ld\n", (long)getpid());
        struct nea_err ignored = {0};
        nea_write_file(pidf, pid, strlen(pid), 0600, &ignored);
        sweep_dead_runs();
        if (!c->quiet && !c->json)
            printf("state: %s (per run: the test driver keeps nothing after exit)\n",
                   c->state_path);
        *ret_path = c->state_path;
        return 0;
    }
    NEA_AUTOFREE char *dir = NULL;
    if (geteuid() == 0) {
        dir = nea_xstrdup("/var/lib/neaprov");
    } else {
        const char *xdg = getenv("XDG_STATE_HOME");
        const char *home = getenv("HOME");
        if (xdg && *xdg == '/')
            dir = nea_xasprintf("%s/neaprov", xdg);
        else if (home && *home == '/')
            dir = nea_xasprintf("%s/.local/state/neaprov", home);
        else {
            fprintf(stderr, "%s: no HOME or XDG_STATE_HOME; give --state PATH\n", prog);
            return EXIT_INVALID;
        }
    }
    if (nea_mkdir_p(dir, 0700) < 0) {
        fprintf(stderr, "%s: %s: cannot create the state directory: %s\n", prog, dir,
                strerror(errno));
        return EXIT_RUNTIME;
    }
    c->state_path = nea_xasprintf("%s/state.db", dir);
    *ret_path = c->state_path;
    return 0;
}

static void on_progress(void *data, const char *tenant, const char *step, int pct)
{
    struct cli *c = data;
    if (!c->quiet && !c->json) /* --json output stays one JSON document */
        printf("  %s: [%3d%%] %s\n", esc(tenant), pct, esc(step));
    fflush(stdout);
}

static void print_changeset(struct cli *c, const struct nea_changeset *cs);

static void on_planned(void *data, const struct nea_changeset *cs)
{
    struct cli *c = data;
    if (!c->json)
        print_changeset(c, cs);
    fflush(stdout);
}

static int open_engine(struct cli *c, bool test_host, struct nea_engine **ret_engine)
{
    const char *state = NULL;
    int ex = resolve_state(c, test_host, &state);
    if (ex)
        return ex;
    /* reading commands never create a database: a mistyped --state must not
     * look like "nothing deployed" */
    bool reads = !strcmp(c->cmd, "status") || !strcmp(c->cmd, "destroy") ||
                 !strcmp(c->cmd, "pool") || !strcmp(c->cmd, "rule");
    /* pool add is how a pool (and so the database) starts */
    if (!strcmp(c->cmd, "pool") && c->subcmd && !strcmp(c->subcmd, "add"))
        reads = false;
    if (reads && !c->tmp_state_dir && access(state, F_OK) != 0) {
        fprintf(stderr, "%s %s: no state database at %s\n", prog, c->cmd, state);
        return EXIT_INVALID;
    }
    struct nea_engine_opts o = {
        .state_path = state,
        .uri = c->uri,
        .template_path = c->template_path,
        .stop_timeout_s = c->stop_timeout_s,
        .ready_timeout_s = c->timeout_s,
        .wait = !c->no_wait,
        .progress = on_progress,
        .progress_data = c,
        .planned = on_planned,
        .planned_data = c,
        .image_cache_dir = c->image_cache,
        .ca_file = c->ca_file,
        .max_image_bytes = c->max_image_bytes,
        .lock_timeout_s = c->lock_timeout_s,
        /* image downloads: a bar on a terminal, plain lines otherwise */
        .fetch_progress = c->quiet ? NULL : nea_progress_text,
        .fetch_progress_data = &c->fetch_text,
    };
    nea_progress_text_init(&c->fetch_text, STDERR_FILENO);
    /* Tests make one libvirt operation fail, or crash the process there:
     * NEAPROV_FAULT=OP[:N][:crash] (see docs/cli.md, docs/deploy.md). */
    const char *fault = getenv("NEAPROV_FAULT");
    NEA_AUTOFREE char *fcopy = fault && *fault ? nea_xstrdup(fault) : NULL;
    if (fcopy) {
        char *save = NULL;
        o.fault_op = strtok_r(fcopy, ":", &save);
        if (nea_fault_op_parse(o.fault_op) < 0) {
            fprintf(stderr, "%s: NEAPROV_FAULT=%s: unknown operation\n", prog, fault);
            return EXIT_INVALID;
        }
        for (char *t = strtok_r(NULL, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
            if (!strcmp(t, "crash"))
                o.fault_crash = true;
            else
                o.fault_nth = (unsigned)strtoul(t, NULL, 10);
        }
    }
    struct nea_err err = {0};
    if (nea_engine_open(&o, ret_engine, &err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
        return exit_for(err.code);
    }
    return 0;
}

static void print_changeset(struct cli *c, const struct nea_changeset *cs)
{
    if (c->quiet)
        return;
    if (!cs->todo) {
        printf("%s (tenant %s) on %s: nothing to do, the appliance matches its spec\n",
               esc(cs->name), esc(cs->tenant), esc(cs->host));
        return;
    }
    printf("%s (tenant %s) on %s:\n", esc(cs->name), esc(cs->tenant), esc(cs->host));
    for (size_t i = 0; i < cs->n; i++) {
        const struct nea_change *ch = &cs->v[i];
        printf("  %-24s %s -> %s\n", esc(ch->field),
               ch->old_value ? esc(ch->old_value) : "(none)",
               ch->new_value ? esc(ch->new_value) : "(none)");
        printf("  %-24s   %s [%s]\n", "", ch->action, nea_disruption_name(ch->disruption));
    }
    printf("  disruption: %s\n", nea_disruption_name(cs->disruption));
}


static bool is_test_uri(const char *uri)
{
    return uri && nea_str_has_prefix(uri, "test:");
}

/* Loads every spec first: a bad one stops the run before any host change. */
static int load_specs(struct cli *c, int argc, char **argv, struct nea_spec ***ret_specs,
                      bool *ret_test)
{
    if (argc < 1) {
        fprintf(stderr, "%s %s: name at least one spec file\n", prog, c->cmd);
        return EXIT_INVALID;
    }
    struct nea_spec **v = nea_xcalloc((size_t)argc, sizeof(*v));
    int worst = 0;
    size_t n_test = 0;
    for (int i = 0; i < argc; i++) {
        int ex = load_spec(c, argv[i], &v[i]);
        if (ex > worst)
            worst = ex;
        if (v[i] && is_test_uri(c->uri ? c->uri : v[i]->plan->host))
            n_test++;
    }
    bool test = n_test > 0;
    if (!worst && n_test && n_test < (size_t)argc && !c->state_path) {
        fprintf(stderr, "%s %s: some specs are for test:// hosts and some for real ones; "
                "give --state PATH, or apply them in separate runs\n", prog, c->cmd);
        worst = EXIT_INVALID;
    }
    for (int i = 0; i < argc && !worst; i++)
        for (int k = 0; k < i; k++)
            if (!strcmp(v[i]->tenant, v[k]->tenant)) {
                fprintf(stderr, "%s: %s and %s both describe tenant %s's appliance\n",
                        prog, argv[k], argv[i], v[i]->tenant);
                worst = EXIT_INVALID;
            }
    if (worst) {
        for (int i = 0; i < argc; i++)
            nea_spec_free(v[i]);
        free(v);
        return worst;
    }
    *ret_specs = v;
    *ret_test = test;
    return 0;
}

static void free_specs(struct nea_spec **v, int n)
{
    for (int i = 0; i < n; i++)
        nea_spec_free(v[i]);
    free(v);
}

static int print_status(struct cli *c, struct nea_engine *e, const char *filter);

static int cmd_plan_apply(struct cli *c, int argc, char **argv, bool apply)
{
    struct nea_spec **specs = NULL;
    bool test = false;
    int ex = load_specs(c, argc, argv, &specs, &test);
    if (ex)
        return ex;
    NEA_AUTO(nea_engine_closep) struct nea_engine *e = NULL;
    ex = open_engine(c, test, &e);
    if (ex) {
        free_specs(specs, argc);
        return ex;
    }
    struct nea_json j;
    if (c->json) {
        nea_json_begin(&j, stdout);
        nea_json_arr(&j, NULL);
    }
    int worst = 0;
    for (int i = 0; i < argc; i++) {
        struct nea_changeset cs = {0};
        struct nea_err err = {0};
        int rc;
        if (apply) {
            /* the plan is shown (on_planned) as apply computes it under the
             * tenant's lock, then carried out */
            rc = nea_engine_apply(e, specs[i], &cs, &err);
            if (rc == NEA_OK && !c->quiet && !c->json && cs.todo)
                printf("%s: applied (%s)\n", esc(specs[i]->name),
                       nea_disruption_name(cs.disruption));
        } else {
            rc = nea_engine_plan(e, specs[i], &cs, &err);
            if (rc == NEA_OK && !c->json)
                print_changeset(c, &cs);
        }
        if (rc == NEA_OK && c->json)
            nea_report_changeset(&j, &cs);
        nea_changeset_clear(&cs);
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
            option_hint(c, &err);
            int x = exit_for(rc);
            if (x > worst)
                worst = x;
        }
    }
    if (c->json) {
        nea_json_arr_end(&j);
        nea_json_end(&j);
    }
    if (apply && !c->json && !c->quiet && test && !worst)
        print_status(c, e, NULL); /* the test driver's state ends with this run */
    free_specs(specs, argc);
    return worst;
}

static int print_status(struct cli *c, struct nea_engine *e, const char *filter)
{
    struct nea_app_status *v = NULL;
    size_t n = 0;
    struct nea_err err = {0};
    if (nea_engine_status(e, filter, &v, &n, &err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
        return exit_for(err.code);
    }
    if (filter && n == 0) {
        nea_statuses_free(v, n);
        fprintf(stderr, "%s: no appliance of tenant or name %s is recorded in %s\n", prog,
                esc(filter), esc(c->state_path));
        return EXIT_INVALID;
    }
    if (c->json) {
        struct nea_json j;
        nea_json_begin(&j, stdout);
        nea_report_statuses(&j, v, n);
        nea_json_end(&j);
    } else {
        printf("%-16s %-20s %-12s %-10s %s\n", "TENANT", "NAME", "STATE", "LIVE",
               "DRIFT");
        for (size_t i = 0; i < n; i++) {
            const struct nea_deployment *d = v[i].dep;
            printf("%-16s %-20s %-12s %-10s %s\n", esc(d->tenant), esc(d->name),
                   nea_dep_state_name(d->state), esc(v[i].live),
                   v[i].drift ? esc(v[i].drift) : "-");
            if (v[i].addresses && *v[i].addresses)
                printf("  addresses: %s\n", esc(v[i].addresses));
            for (size_t k = 0; k < v[i].n_tnets; k++) {
                const struct nea_tnet_status *t = &v[i].tnets[k];
                printf("  network %s: gateway %s", esc(t->name), esc(t->gateway));
                if (t->gateway6)
                    printf(" %s", esc(t->gateway6));
                printf(" (%s, %s); replicas attach to ", t->internet ? "internet" : "no internet",
                       t->ifname ? esc(t->ifname) : "?");
                if (t->libvirt_network && t->bridge)
                    printf("libvirt network %s (bridge %s)\n", esc(t->libvirt_network),
                           esc(t->bridge));
                else if (t->libvirt_network)
                    printf("libvirt network %s\n", esc(t->libvirt_network));
                else
                    printf("Open vSwitch bridge %s, VLAN %u\n",
                           t->bridge ? esc(t->bridge) : "?", t->vlan);
            }
            if (d->last_error && d->state == NEA_DEP_FAILED)
                printf("  last error (step %s): %s\n", d->step ? esc(d->step) : "?",
                       esc(d->last_error));
        }
    }
    nea_statuses_free(v, n);
    return 0;
}

static int cmd_status(struct cli *c, int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "%s status: at most one TENANT or NAME\n", prog);
        return EXIT_INVALID;
    }
    NEA_AUTO(nea_engine_closep) struct nea_engine *e = NULL;
    int ex = open_engine(c, is_test_uri(c->uri), &e);
    if (ex)
        return ex;
    return print_status(c, e, argc ? argv[0] : NULL);
}

static int cmd_destroy(struct cli *c, int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "%s destroy: name exactly one TENANT or NAME\n", prog);
        return EXIT_INVALID;
    }
    NEA_AUTO(nea_engine_closep) struct nea_engine *e = NULL;
    int ex = open_engine(c, is_test_uri(c->uri), &e);
    if (ex)
        return ex;
    struct nea_err err = {0};
    if (nea_engine_destroy(e, argv[0], c->uri, &err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
        return exit_for(err.code);
    }
    if (!c->quiet)
        printf("%s: destroyed\n", esc(argv[0]));
    return 0;
}

static int cmd_networks(struct cli *c, int argc, char **argv)
{
    (void)argv;
    if (argc > 0 || !c->uri) {
        fprintf(stderr, "%s networks: give the host with -c URI\n", prog);
        return EXIT_INVALID;
    }
    NEA_AUTO(nea_host_closep) struct nea_host *h = NULL;
    struct nea_err err = {0};
    struct nea_host_net *v = NULL;
    size_t n = 0;
    if (nea_host_open(c->uri, &h, &err) < 0 || nea_host_networks(h, &v, &n, &err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
        return EXIT_RUNTIME;
    }
    if (c->json) {
        struct nea_json j;
        nea_json_begin(&j, stdout);
        nea_report_networks(&j, v, n);
        nea_json_end(&j);
    } else {
        printf("%-24s %-16s %s\n", "EXTERNAL-NETWORK", "KIND", "STATE");
        for (size_t i = 0; i < n; i++)
            printf("%-24s %-16s %s\n", esc(v[i].ref), nea_net_kind_name(v[i].kind),
                   v[i].active ? "active" : "inactive");
    }
    nea_host_nets_free(v, n);
    return 0;
}

/* ---- pool and rules ----------------------------------------------------- */

/* pool and rule take add, remove or list; returns false (after saying so)
 * for anything else. */
static bool subcommand(struct cli *c, int argc, char **argv, const char *usage)
{
    if (argc < 1 || (strcmp(argv[0], "add") && strcmp(argv[0], "remove") &&
                     strcmp(argv[0], "list"))) {
        fprintf(stderr, "%s %s: %s\n", prog, c->cmd, usage);
        return false;
    }
    c->subcmd = argv[0];
    return true;
}

static int cmd_pool(struct cli *c, int argc, char **argv)
{
    if (!subcommand(c, argc, argv, "add RANGE, remove RANGE or list"))
        return EXIT_INVALID;
    bool list = !strcmp(argv[0], "list");
    if ((list && argc != 1) || (!list && argc != 2)) {
        fprintf(stderr, "%s pool %s: %s\n", prog, argv[0],
                list ? "takes no arguments" : "name one RANGE: ADDR, FIRST-LAST or ADDR/PREFIX");
        return EXIT_INVALID;
    }
    struct nea_ip first, last;
    struct nea_err err = {0};
    if (!list && nea_range_arg(argv[0], argv[1], &first, &last, &err) < 0) {
        fprintf(stderr, "%s %s\n", prog, esc(err.msg));
        return EXIT_INVALID;
    }
    NEA_AUTO(nea_engine_closep) struct nea_engine *e = NULL;
    int ex = open_engine(c, false, &e);
    if (ex)
        return ex;
    struct nea_state *st = nea_engine_state(e);
    if (!strcmp(argv[0], "add")) {
        if (nea_pool_add(st, &first, &last, &err) < 0) {
            fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
            return exit_for(err.code);
        }
        if (!c->quiet)
            printf("added %s (%llu address%s)\n", argv[1],
                   (unsigned long long)nea_ip_span(&first, &last),
                   nea_ip_span(&first, &last) == 1 ? "" : "es");
        return 0;
    }
    if (!strcmp(argv[0], "remove")) {
        char *released = NULL;
        if (nea_pool_remove(st, &first, &last, c->force, &released, &err) < 0) {
            fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
            option_hint(c, &err);
            return exit_for(err.code);
        }
        if (!c->quiet) {
            printf("removed %s\n", argv[1]);
            if (released) {
                printf("released (and their rules removed):\n");
                char *save = NULL;
                for (char *l = strtok_r(released, "\n", &save); l;
                     l = strtok_r(NULL, "\n", &save))
                    printf("%s\n", esc(l));
            }
        }
        free(released);
        return 0;
    }
    struct nea_pool_run *v = NULL;
    size_t n = 0;
    struct nea_pool_summary sum;
    if (nea_pool_list(st, &v, &n, &sum, &err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
        return exit_for(err.code);
    }
    if (c->json) {
        struct nea_json j;
        nea_json_begin(&j, stdout);
        nea_report_pool(&j, v, n, &sum);
        nea_json_end(&j);
    } else {
        printf("%-44s %8s  %s\n", "ADDRESSES", "COUNT", "ASSIGNED TO");
        for (size_t i = 0; i < n; i++) {
            char a[NEA_IP_STRLEN], b[NEA_IP_STRLEN], r[2 * NEA_IP_STRLEN + 2];
            nea_ip_format(&v[i].first, a);
            nea_ip_format(&v[i].last, b);
            if (nea_ip_equal(&v[i].first, &v[i].last))
                snprintf(r, sizeof(r), "%s", a);
            else
                snprintf(r, sizeof(r), "%s-%s", a, b);
            printf("%-44s %8llu  %s\n", r,
                   (unsigned long long)nea_ip_span(&v[i].first, &v[i].last),
                   v[i].tenant ? esc(v[i].tenant) : "(free)");
        }
        printf("IPv4: %llu free, %llu assigned; IPv6: %llu free, %llu assigned\n",
               (unsigned long long)sum.free4, (unsigned long long)sum.assigned4,
               (unsigned long long)sum.free6, (unsigned long long)sum.assigned6);
    }
    nea_pool_runs_free(v, n);
    return 0;
}

static int cmd_rule(struct cli *c, int argc, char **argv)
{
    if (!subcommand(c, argc, argv, "add, remove or list"))
        return EXIT_INVALID;
    bool list = !strcmp(argv[0], "list");
    if ((list && argc > 2) || (!list && argc != 2)) {
        fprintf(stderr, "%s rule %s: name %s TENANT\n", prog, argv[0],
                list ? "at most one" : "exactly one");
        return EXIT_INVALID;
    }
    const char *tenant = argc > 1 ? argv[1] : NULL;
    struct nea_rule r;
    struct nea_err err = {0};
    if (nea_rule_args(argv[0], tenant, c->rule_public, c->rule_to, c->rule_description, &r,
                      &err) < 0) {
        fprintf(stderr, "%s %s\n", prog, esc(err.msg));
        return EXIT_INVALID;
    }
    NEA_AUTO(nea_engine_closep) struct nea_engine *e = NULL;
    int ex = open_engine(c, false, &e);
    if (ex)
        return ex;
    struct nea_state *st = nea_engine_state(e);
    if (!strcmp(argv[0], "add") || !strcmp(argv[0], "remove")) {
        int rc = !strcmp(argv[0], "add")
                     ? nea_engine_rule_check(e, tenant, &r, &err)
                     : NEA_OK;
        if (rc == NEA_OK)
            rc = !strcmp(argv[0], "add")
                     ? nea_rule_add(st, tenant, &r, &err)
                     : nea_rule_remove(st, tenant, &r.pub, r.pub_port, r.proto, &err);
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
            return exit_for(err.code);
        }
        if (!c->quiet)
            printf("%s rule %s for tenant %s; `neaprov apply` carries it into the "
                   "appliance\n", !strcmp(argv[0], "add") ? "added" : "removed",
                   c->rule_public, tenant);
        return 0;
    }
    struct nea_rule *v = NULL;
    char **tenants = NULL;
    size_t n = 0;
    if (nea_rule_list(st, tenant, &v, &tenants, &n, &err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, esc(err.msg));
        return exit_for(err.code);
    }
    if (c->json) {
        struct nea_json j;
        nea_json_begin(&j, stdout);
        nea_report_rules(&j, v, tenants, n);
        nea_json_end(&j);
    } else {
        printf("%-16s %-28s %-28s %s\n", "TENANT", "PUBLIC", "REPLICA", "DESCRIPTION");
        for (size_t i = 0; i < n; i++) {
            char pub[80], to[80];
            nea_rule_endpoints(&v[i], pub, to);
            printf("%-16s %-28s %-28s %s\n", esc(tenants[i]), pub, to,
                   v[i].description ? esc(v[i].description) : "-");
        }
    }
    nea_rules_free(v, tenants, n);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"plans", required_argument, NULL, 'p'},
        {"template", required_argument, NULL, 't'},
        {"output", required_argument, NULL, 'o'},
        {"volume-dir", required_argument, NULL, 'V'},
        {"quiet", no_argument, NULL, 'q'},
        {"connect", required_argument, NULL, 'c'},
        {"state", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'J'},
        {"no-wait", no_argument, NULL, 'W'},
        {"timeout", required_argument, NULL, 'T'},
        {"stop-timeout", required_argument, NULL, 'K'},
        {"lock-timeout", required_argument, NULL, 'L'},
        {"force", no_argument, NULL, 'F'},
        {"public", required_argument, NULL, 'P'},
        {"to", required_argument, NULL, 'R'},
        {"description", required_argument, NULL, 'D'},
        {"image-cache", required_argument, NULL, 'I'},
        {"ca-file", required_argument, NULL, 'A'},
        {"max-image-size", required_argument, NULL, 'M'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    struct cli c = {0};
    if (argc < 2) {
        usage(stderr);
        return EXIT_INVALID;
    }
    /* Global options may come before the command (virsh style) and any
     * option after it, between the arguments. */
    optind = 1;
    int opt;
    const char *cmd = NULL;
    NEA_AUTOFREE char **rest = NULL;
    int nrest = 0;
    for (int phase = 0; phase < 2; phase++) {
        int ac = phase ? nrest : argc;
        char **av = phase ? rest : argv;
        optind = 0; /* re-initialise getopt for the new vector */
        opterr = 0; /* its messages would name the binary's path: ours say neaprov */
        while ((opt = getopt_long(ac, av, phase ? ":p:t:o:c:qh" : "+:p:t:o:c:qh", longopts,
                                  NULL)) != -1) {
            switch (opt) {
            case 'p':
                if (c.n_plan_dirs == NEA_ARRAY_SIZE(c.plan_dirs)) {
                    fprintf(stderr, "%s: too many --plans directories (limit %zu)\n", prog,
                            NEA_ARRAY_SIZE(c.plan_dirs));
                    return EXIT_INVALID;
                }
                c.plan_dirs[c.n_plan_dirs++] = optarg;
                break;
            case 't': c.template_path = optarg; break;
            case 'o': c.output = optarg; break;
            case 'V': c.volume_dir = optarg; break;
            case 'q': c.quiet = 1; break;
            case 'c': c.uri = optarg; break;
            case 'S': c.state_path = optarg; break;
            case 'J': c.json = 1; break;
            case 'W': c.no_wait = 1; break;
            case 'F': c.force = 1; break;
            case 'P': c.rule_public = optarg; break;
            case 'R': c.rule_to = optarg; break;
            case 'D': c.rule_description = optarg; break;
            case 'I': c.image_cache = optarg; break;
            case 'A': c.ca_file = optarg; break;
            case 'M':
                if (parse_size(optarg, &c.max_image_bytes) < 0) {
                    fprintf(stderr, "%s: --max-image-size %s: give a number of bytes from 1, "
                            "optionally with K, M, G or T (powers of 1024), e.g. 64G\n",
                            prog, esc(optarg));
                    return EXIT_INVALID;
                }
                break;
            case 'T':
            case 'K':
            case 'L': {
                /* digits only: strtoul alone would take " 5", "+5" and "-1" */
                unsigned long v = 0;
                bool ok = *optarg != '\0' && strlen(optarg) <= 9;
                for (const char *d = optarg; ok && *d; d++)
                    ok = *d >= '0' && *d <= '9';
                if (ok)
                    v = strtoul(optarg, NULL, 10);
                if (!ok || v == 0 || v > 86400) {
                    fprintf(stderr, "%s: --%s %s: give whole seconds from 1 to 86400\n", prog,
                            opt == 'T' ? "timeout" : opt == 'K' ? "stop-timeout"
                                                              : "lock-timeout", esc(optarg));
                    return EXIT_INVALID;
                }
                if (opt == 'T')
                    c.timeout_s = (unsigned)v;
                else if (opt == 'K')
                    c.stop_timeout_s = (unsigned)v;
                else
                    c.lock_timeout_s = (unsigned)v;
                break;
            }
            case 'h': usage(stdout); return 0;
            case 'v': printf("neaprov %s\n", NEA_VERSION); return 0;
            case ':':
                fprintf(stderr, "%s: option %s needs an argument\nTry '%s --help'.\n", prog,
                        av[optind - 1], prog);
                return EXIT_INVALID;
            default:
                if (optopt)
                    fprintf(stderr, "%s: unknown option -%c\n", prog, optopt);
                else
                    fprintf(stderr, "%s: unknown option %s\n", prog,
                            av[optind - 1]);
                fprintf(stderr, "Try '%s --help'.\n", prog);
                return EXIT_INVALID;
            }
        }
        if (phase == 0) {
            if (optind >= argc) {
                usage(stderr);
                return EXIT_INVALID;
            }
            cmd = argv[optind];
            if (!strcmp(cmd, "help")) {
                usage(stdout);
                return 0;
            }
            if (!strcmp(cmd, "version")) {
                printf("neaprov %s\n", NEA_VERSION);
                return 0;
            }
            rest = nea_xcalloc((size_t)(argc - optind) + 1, sizeof(*rest));
            rest[nrest++] = argv[0];
            for (int k = optind + 1; k < argc; k++)
                rest[nrest++] = argv[k];
        }
    }
    c.cmd = cmd;
    /* -c goes through the same allow-list as a plan's host (nea_uri.h),
     * before anything is opened */
    if (c.uri) {
        struct nea_err uerr = {0};
        NEA_AUTOFREE char *warning = NULL;
        if (nea_host_uri_check("-c", c.uri, &warning, &uerr) < 0) {
            fprintf(stderr, "%s: %s\n", prog, uerr.msg);
            return EXIT_INVALID;
        }
        if (warning)
            fprintf(stderr, "%s: warning: %s\n", prog, warning);
    }
    default_paths(&c);
    int nargs = nrest - optind;
    char **args = rest + optind;
    int ex;
    if (!strcmp(cmd, "validate"))
        ex = cmd_validate(&c, nargs, args);
    else if (!strcmp(cmd, "render"))
        ex = cmd_render(&c, nargs, args);
    else if (!strcmp(cmd, "plan"))
        ex = cmd_plan_apply(&c, nargs, args, false);
    else if (!strcmp(cmd, "apply"))
        ex = cmd_plan_apply(&c, nargs, args, true);
    else if (!strcmp(cmd, "status"))
        ex = cmd_status(&c, nargs, args);
    else if (!strcmp(cmd, "destroy"))
        ex = cmd_destroy(&c, nargs, args);
    else if (!strcmp(cmd, "networks"))
        ex = cmd_networks(&c, nargs, args);
    else if (!strcmp(cmd, "pool"))
        ex = cmd_pool(&c, nargs, args);
    else if (!strcmp(cmd, "rule"))
        ex = cmd_rule(&c, nargs, args);
    else {
        fprintf(stderr, "%s: unknown command \"%s\"; try '%s --help'\n", prog, cmd,
                prog);
        ex = EXIT_INVALID;
    }
    free(c.env_plans);
    if (c.tmp_state_dir) {
        remove_tmp_state(&c);
        free((char *)c.state_path);
    }
    return ex;
}

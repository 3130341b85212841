/*
 * neaprov: the command-line front end.
 *
 * The only place that prints or exits.  Exit status: 0 success, 1 a runtime
 * failure (I/O, library), 2 bad input (spec, plan, template, arguments).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nea_render.h"
#include "nea_spec.h"
#include "nea_util.h"

#ifndef NEA_VERSION
#define NEA_VERSION "0.0.0"
#endif
#ifndef NEA_DATADIR
#define NEA_DATADIR "/usr/share/neaprov"
#endif

enum { EXIT_RUNTIME = 1, EXIT_INVALID = 2 };

static const char *prog = "neaprov";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s COMMAND [OPTIONS]\n"
            "\n"
            "commands:\n"
            "  validate SPEC...            check specs and their hardware plans\n"
            "  render SPEC -o OUTDIR       write domain.xml, seed.iso, meta-data,\n"
            "                              user-data and network-config\n"
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
            "  -q, --quiet                 print errors only\n"
            "  -h, --help                  this help\n"
            "\n"
            "Exit status: 0 success, 1 runtime failure, 2 invalid input.\n",
            prog, NEA_DATADIR, NEA_DATADIR, NEA_DEFAULT_VOLUME_DIR);
}

struct cli {
    const char *plan_dirs[16];
    size_t n_plan_dirs;
    char *env_plans;
    const char *template_path;
    const char *output;
    const char *volume_dir;
    int quiet;
};

static int print_diags(struct nea_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        NEA_AUTOFREE char *line = nea_diag_format(&d->v[i]);
        fprintf(stderr, "%s\n", line);
    }
    if (d->n_errors > NEA_DIAGS_MAX)
        fprintf(stderr, "%s: %zu more problems not shown\n", prog,
                d->n_errors - NEA_DIAGS_MAX);
    return d->n_errors ? EXIT_INVALID : 0;
}

static int exit_for(int code)
{
    return code == NEA_ERR_INVALID ? EXIT_INVALID : EXIT_RUNTIME;
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
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
            c->plan_dirs[c->n_plan_dirs++] = "/etc/neaprov/plans";
            c->plan_dirs[c->n_plan_dirs++] = NEA_DATADIR "/hw/plans";
        }
    }
    if (!c->template_path) {
        static const char etc_tpl[] = "/etc/neaprov/templates/domain.xml";
        c->template_path = file_exists(etc_tpl) ? etc_tpl
                                                : NEA_DATADIR "/templates/domain.xml";
    }
    if (!c->volume_dir)
        c->volume_dir = NEA_DEFAULT_VOLUME_DIR;
}

static int load_spec(struct cli *c, const char *path, struct nea_spec **ret)
{
    struct nea_load_opts lo = {.plan_dirs = c->plan_dirs,
                               .n_plan_dirs = c->n_plan_dirs};
    struct nea_diags diags = {0};
    struct nea_err err = {0};
    int rc = nea_spec_load_file(path, &lo, ret, &diags, &err);
    int ex = print_diags(&diags);
    nea_diags_clear(&diags);
    if (rc == NEA_ERR_INVALID && err.code == NEA_OK)
        return EXIT_INVALID;
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
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
                   argv[i], s->name, s->tenant, s->plan->name, s->network->ref, mac);
        }
        if (ex > worst)
            worst = ex;
    }
    return worst;
}

static int write_out(const char *dir, const char *name, const void *buf, size_t len,
                     unsigned mode)
{
    NEA_AUTOFREE char *path = nea_xasprintf("%s/%s", dir, name);
    struct nea_err err = {0};
    if (nea_write_file(path, buf, len, mode, &err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return EXIT_RUNTIME;
    }
    return 0;
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

    const char *sde = getenv("SOURCE_DATE_EPOCH");
    time_t epoch = NEA_DEFAULT_EPOCH;
    if (sde && *sde) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(sde, &end, 10);
        if (errno || *end || v < 0) {
            fprintf(stderr, "%s: SOURCE_DATE_EPOCH \"%s\" is not a number of seconds\n",
                    prog, sde);
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
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return exit_for(rc);
    }
    if (mkdir(c->output, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "%s: %s: cannot create directory: %s\n", prog, c->output,
                strerror(errno));
        nea_artifacts_clear(&a);
        return EXIT_RUNTIME;
    }
    /* user-data and the ISO carry what the guest is told (later also
     * secrets): owner-only from the start. */
    ex = write_out(c->output, "domain.xml", a.domain_xml, a.domain_xml_len, 0644);
    if (!ex)
        ex = write_out(c->output, "meta-data", a.seed.meta_data, a.seed.meta_data_len,
                       0644);
    if (!ex)
        ex = write_out(c->output, "user-data", a.seed.user_data, a.seed.user_data_len,
                       0600);
    if (!ex)
        ex = write_out(c->output, "network-config", a.seed.network_config,
                       a.seed.network_config_len, 0644);
    if (!ex)
        ex = write_out(c->output, "seed.iso", a.iso, a.iso_len, 0600);
    if (!ex && !c->quiet)
        printf("rendered appliance %s (instance-id %s) into %s\n", s->name,
               a.seed.instance_id, c->output);
    nea_artifacts_clear(&a);
    return ex;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"plans", required_argument, NULL, 'p'},
        {"template", required_argument, NULL, 't'},
        {"output", required_argument, NULL, 'o'},
        {"volume-dir", required_argument, NULL, 'V'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct cli c = {0};
    if (argc < 2) {
        usage(stderr);
        return EXIT_INVALID;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("neaprov %s\n", NEA_VERSION);
        return 0;
    }
    optind = 2;
    int opt;
    while ((opt = getopt_long(argc, argv, "p:t:o:qh", longopts, NULL)) != -1) {
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
        case 'h': usage(stdout); return 0;
        default:
            fprintf(stderr, "Try '%s --help'.\n", prog);
            return EXIT_INVALID;
        }
    }
    default_paths(&c);
    int nargs = argc - optind;
    char **args = argv + optind;
    int ex;
    if (!strcmp(cmd, "validate"))
        ex = cmd_validate(&c, nargs, args);
    else if (!strcmp(cmd, "render"))
        ex = cmd_render(&c, nargs, args);
    else {
        fprintf(stderr, "%s: unknown command \"%s\"; try '%s --help'\n", prog, cmd,
                prog);
        ex = EXIT_INVALID;
    }
    free(c.env_plans);
    return ex;
}

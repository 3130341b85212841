/*
 * nea_api.c: the plugin ABI (neaprov/neaprov.h) over the engine.
 *
 * Everything a call needs lives in its context: the options (copied), the
 * engine (opened on first need), the first error and the spec diagnostics.
 * Only neaprov_provider is exported (visibility and the version script).
 */
#include "neaprov/neaprov.h"

#include <libxml/parser.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nea_engine.h"
#include "nea_json.h"
#include "nea_ops.h"
#include "nea_pool.h"
#include "nea_render.h"
#include "nea_spec.h"
#include "nea_uri.h"
#include "nea_util.h"
#include "nea_virt.h"

#ifndef NEA_VERSION
#define NEA_VERSION "0"
#endif

_Static_assert((int)NEAPROV_ERR_UNSUPPORTED == (int)NEA_ERR_UNSUPPORTED &&
                   (int)NEAPROV_ERR_INVALID == (int)NEA_ERR_INVALID &&
                   (int)NEAPROV_ERR_HOST == (int)NEA_ERR_HOST,
               "the ABI's status codes are the engine's");

/* More is a host's mistake (a count that is not one), not a configuration. */
#define NEA_API_MAX_PLAN_DIRS 256

/* The options struct as ABI version 1 defines it (up to ca_file). */
#define NEA_OPTIONS_V1_SIZE                                                             \
    (offsetof(struct neaprov_options, ca_file) + sizeof(((struct neaprov_options *)0)->ca_file))

struct neaprov_ctx {
    struct nea_err err;
    char *diag;                 /* spec problems, one per line */
    bool opened;
    char *uri, *state_path, *template_path, *volume_dir;
    char **plan_dirs;
    size_t n_plan_dirs;
    unsigned ready_timeout_s, stop_timeout_s, lock_timeout_s;
    bool no_wait;
    neaprov_progress_fn progress;
    void *progress_user;
    neaprov_event_fn event;
    void *event_user;
    char *image_cache_dir, *ca_file;
    struct nea_engine *engine;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void do_init(void)
{
    xmlInitParser(); /* before several threads parse at once */
}

static neaprov_ctx *api_ctx_new(void)
{
    pthread_once(&init_once, do_init);
    return calloc(1, sizeof(neaprov_ctx));
}

static void ctx_reset(neaprov_ctx *c)
{
    nea_engine_close(c->engine);
    c->engine = NULL;
    free(c->uri);
    free(c->state_path);
    free(c->template_path);
    free(c->volume_dir);
    free(c->image_cache_dir);
    free(c->ca_file);
    c->image_cache_dir = c->ca_file = NULL;
    for (size_t i = 0; i < c->n_plan_dirs; i++)
        free(c->plan_dirs[i]);
    free(c->plan_dirs);
    c->uri = c->state_path = c->template_path = c->volume_dir = NULL;
    c->plan_dirs = NULL;
    c->n_plan_dirs = 0;
    c->opened = false;
}

static void api_ctx_free(neaprov_ctx *c)
{
    if (!c)
        return;
    ctx_reset(c);
    free(c->diag);
    free(c);
}

static const char *api_last_error(const neaprov_ctx *c)
{
    return c ? c->err.msg : "no context";
}

static const char *api_diagnostics(const neaprov_ctx *c)
{
    return c && c->diag ? c->diag : "";
}

/* Every call starts with a clean error; a NULL context cannot carry one. */
static int begin(neaprov_ctx *c, bool need_open)
{
    if (!c)
        return NEAPROV_ERR_USAGE;
    nea_err_clear(&c->err);
    if (need_open && !c->opened)
        return nea_err_set(&c->err, NEAPROV_ERR_USAGE,
                           "the context is not open: call open first");
    return NEAPROV_OK;
}

static int need_arg(neaprov_ctx *c, const void *p, const char *what)
{
    if (p)
        return NEAPROV_OK;
    return nea_err_set(&c->err, NEAPROV_ERR_USAGE, "%s must not be NULL", what);
}

static char *dup_opt(const char *s)
{
    return s ? nea_xstrdup(s) : NULL;
}

static int api_open(neaprov_ctx *c, const struct neaprov_options *o)
{
    int rc = begin(c, false);
    if (rc < 0 || (rc = need_arg(c, o, "the options")) < 0)
        return rc;
    /* Every host has at least ABI 1's struct; a later ABI's host passes a
     * longer one, of which this library reads what it knows.  (A library of
     * a later ABI reads a version 1 host's struct up to its end and takes
     * the rest as zero.) */
    struct neaprov_options opts = {0};
    if (o->struct_size < NEA_OPTIONS_V1_SIZE)
        return nea_err_set(&c->err, NEAPROV_ERR_USAGE, "the options' struct_size %u is "
                           "smaller than ABI version 1's (%zu); set it to "
                           "sizeof(struct neaprov_options)", o->struct_size,
                           (size_t)NEA_OPTIONS_V1_SIZE);
    memcpy(&opts, o, o->struct_size < sizeof(opts) ? o->struct_size : sizeof(opts));
    /* Checked before anything is kept: a failed open leaves the context
     * closed, never half set. */
    ctx_reset(c);
    free(c->diag);
    c->diag = NULL;
    if (opts.n_plan_dirs > NEA_API_MAX_PLAN_DIRS)
        return nea_err_set(&c->err, NEAPROV_ERR_USAGE, "n_plan_dirs is %zu; at most %d "
                           "plan directories are searched", opts.n_plan_dirs,
                           NEA_API_MAX_PLAN_DIRS);
    if (opts.n_plan_dirs && !opts.plan_dirs)
        return nea_err_set(&c->err, NEAPROV_ERR_USAGE,
                           "n_plan_dirs is %zu but plan_dirs is NULL", opts.n_plan_dirs);
    for (size_t i = 0; i < opts.n_plan_dirs; i++)
        if (!opts.plan_dirs[i] || !*opts.plan_dirs[i])
            return nea_err_set(&c->err, NEAPROV_ERR_USAGE, "plan_dirs[%zu] is %s (n_plan_dirs "
                               "is %zu): name a directory", i,
                               opts.plan_dirs[i] ? "empty" : "NULL", opts.n_plan_dirs);
    static const char *const names[] = {"state_path", "template_path", "volume_dir",
                                        "image_cache_dir", "ca_file"};
    const char *const paths[] = {opts.state_path, opts.template_path, opts.volume_dir,
                                 opts.image_cache_dir, opts.ca_file};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(names); i++)
        if (paths[i] && !*paths[i])
            return nea_err_set(&c->err, NEAPROV_ERR_USAGE, "options.%s is empty: give a "
                               "path, or NULL for the default", names[i]);
    if (opts.uri) {
        /* the same allow-list as a plan's host and the CLI's -c (nea_uri.h) */
        NEA_AUTOFREE char *warning = NULL;
        int urc = nea_host_uri_check("options.uri", opts.uri, &warning, &c->err);
        if (urc < 0)
            return urc;
        if (warning)
            c->diag = nea_xasprintf("warning: %s\n", warning);
    }
    c->uri = dup_opt(opts.uri);
    c->state_path = dup_opt(opts.state_path);
    c->template_path = nea_xstrdup(opts.template_path ? opts.template_path
                                                      : nea_default_template());
    c->volume_dir = nea_xstrdup(opts.volume_dir ? opts.volume_dir : NEA_DEFAULT_VOLUME_DIR);
    if (opts.n_plan_dirs) {
        c->plan_dirs = nea_xcalloc(opts.n_plan_dirs, sizeof(char *));
        for (size_t i = 0; i < opts.n_plan_dirs; i++)
            c->plan_dirs[c->n_plan_dirs++] = nea_xstrdup(opts.plan_dirs[i]);
    } else {
        const char *d[2];
        size_t n = nea_default_plan_dirs(d);
        c->plan_dirs = nea_xcalloc(n, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            c->plan_dirs[c->n_plan_dirs++] = nea_xstrdup(d[i]);
    }
    c->ready_timeout_s = opts.ready_timeout_s;
    c->stop_timeout_s = opts.stop_timeout_s;
    c->no_wait = opts.no_wait != 0;
    c->progress = opts.progress;
    c->progress_user = opts.progress_user;
    c->event = opts.event;
    c->event_user = opts.event_user;
    c->image_cache_dir = dup_opt(opts.image_cache_dir);
    c->ca_file = dup_opt(opts.ca_file);
    c->lock_timeout_s = opts.lock_timeout_s; /* ABI 2; 0 from an ABI 1 host */
    c->opened = true;
    return NEAPROV_OK;
}

static void on_progress(void *data, const char *tenant, const char *step, int pct)
{
    neaprov_ctx *c = data;
    if (c->progress)
        c->progress(c->progress_user, tenant, step, pct);
}

static void on_event(void *data, const char *tenant, const char *kind, const char *detail)
{
    neaprov_ctx *c = data;
    if (c->event)
        c->event(c->event_user, tenant, kind, detail);
}

static int engine(neaprov_ctx *c, struct nea_engine **ret_engine)
{
    if (!c->engine) {
        if (!c->state_path)
            return nea_err_set(&c->err, NEAPROV_ERR_USAGE, "no state database was given "
                               "to open (options.state_path): only validate and render "
                               "work without one");
        struct nea_engine_opts eo = {
            .state_path = c->state_path,
            .uri = c->uri,
            .template_path = c->template_path,
            .stop_timeout_s = c->stop_timeout_s,
            .ready_timeout_s = c->ready_timeout_s,
            .wait = !c->no_wait,
            .progress = on_progress,
            .progress_data = c,
            .event = on_event,
            .event_data = c,
            .image_cache_dir = c->image_cache_dir,
            .ca_file = c->ca_file,
            .lock_timeout_s = c->lock_timeout_s,
        };
        int rc = nea_engine_open(&eo, &c->engine, &c->err);
        if (rc < 0)
            return rc;
    }
    *ret_engine = c->engine;
    return NEAPROV_OK;
}

static int spec_loaded(neaprov_ctx *c, int rc, struct nea_diags *d, const char *name)
{
    free(c->diag);
    c->diag = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    for (size_t i = 0; i < d->n; i++) {
        NEA_AUTOFREE char *line = nea_diag_format(&d->v[i]);
        fprintf(f, "%s\n", line);
    }
    if (d->n_total > d->n)
        fprintf(f, "%zu more problems not shown\n", d->n_total - d->n);
    fclose(f);
    c->diag = buf;
    if (rc == NEA_ERR_INVALID && c->err.code == NEA_OK) {
        NEA_AUTOFREE char *first = d->n ? nea_diag_format(&d->v[0]) : NULL;
        nea_err_set(&c->err, NEA_ERR_INVALID, "spec %s is invalid (%zu problem%s): %s", name,
                    d->n_errors, d->n_errors == 1 ? "" : "s",
                    first ? first : "see the diagnostics");
    }
    nea_diags_clear(d);
    return rc;
}

/* Output pointers are NULL unless the call succeeds. */
static void clear_out(void *p)
{
    if (p)
        *(void **)p = NULL;
}

static int api_spec_load_file(neaprov_ctx *c, const char *path, neaprov_spec **ret)
{
    clear_out(ret);
    int rc = begin(c, true);
    if (rc < 0 || (rc = need_arg(c, path, "path")) < 0 || (rc = need_arg(c, ret, "ret")) < 0)
        return rc;
    struct nea_load_opts lo = {.plan_dirs = (const char *const *)c->plan_dirs,
                               .n_plan_dirs = c->n_plan_dirs};
    struct nea_diags d = {0};
    struct nea_spec *s = NULL;
    rc = nea_spec_load_file(path, &lo, &s, &d, &c->err);
    rc = spec_loaded(c, rc, &d, path);
    *ret = rc == NEA_OK ? (neaprov_spec *)s : NULL;
    return rc;
}

static int api_spec_load_buffer(neaprov_ctx *c, const char *name, const char *buf,
                                size_t len, neaprov_spec **ret)
{
    clear_out(ret);
    int rc = begin(c, true);
    if (rc < 0 || (rc = need_arg(c, buf, "buf")) < 0 || (rc = need_arg(c, ret, "ret")) < 0)
        return rc;
    struct nea_load_opts lo = {.plan_dirs = (const char *const *)c->plan_dirs,
                               .n_plan_dirs = c->n_plan_dirs};
    struct nea_diags d = {0};
    struct nea_spec *s = NULL;
    rc = nea_spec_load_buffer(name ? name : "<buffer>", buf, len, &lo, &s, &d, &c->err);
    rc = spec_loaded(c, rc, &d, name ? name : "<buffer>");
    *ret = rc == NEA_OK ? (neaprov_spec *)s : NULL;
    return rc;
}

static void api_spec_free(neaprov_spec *s)
{
    nea_spec_free((struct nea_spec *)s);
}

/* A JSON document written by fn into a new string. */
#define JSON_ANSWER(out, ...)                                                           \
    do {                                                                                \
        size_t len_;                                                                    \
        FILE *f_ = open_memstream((out), &len_);                                        \
        if (!f_)                                                                        \
            abort();                                                                    \
        struct nea_json j_;                                                             \
        nea_json_begin(&j_, f_);                                                        \
        __VA_ARGS__;                                                                    \
        nea_json_end(&j_);                                                              \
        fclose(f_);                                                                     \
    } while (0)

static int api_spec_describe(neaprov_ctx *c, const neaprov_spec *spec, char **json)
{
    clear_out(json);
    int rc = begin(c, false);
    if (rc < 0 || (rc = need_arg(c, spec, "spec")) < 0 || (rc = need_arg(c, json, "json")) < 0)
        return rc;
    const struct nea_spec *s = (const struct nea_spec *)spec;
    char mac[18];
    nea_mac_format(s->mac, mac);
    JSON_ANSWER(json, {
        nea_json_obj(&j_, NULL);
        nea_json_str(&j_, "tenant", s->tenant);
        nea_json_str(&j_, "name", s->name);
        nea_json_str(&j_, "plan", s->plan->name);
        nea_json_str(&j_, "network", s->network->ref);
        nea_json_str(&j_, "mac", mac);
        nea_json_str(&j_, "host", c->uri ? c->uri : s->plan->host);
        nea_json_obj_end(&j_);
    });
    return NEAPROV_OK;
}

static int api_render(neaprov_ctx *c, neaprov_spec *spec, const char *out_dir)
{
    int rc = begin(c, true);
    if (rc < 0 || (rc = need_arg(c, spec, "spec")) < 0 ||
        (rc = need_arg(c, out_dir, "out_dir")) < 0)
        return rc;
    struct nea_render_opts ro = {.template_path = c->template_path,
                                 .volume_dir = c->volume_dir,
                                 .epoch = NEA_DEFAULT_EPOCH};
    struct nea_artifacts a = {0};
    rc = nea_render_places((struct nea_spec *)spec, &c->err);
    if (rc == NEA_OK)
        rc = nea_render((struct nea_spec *)spec, &ro, &a, &c->err);
    if (rc == NEA_OK)
        rc = nea_artifacts_write(&a, out_dir, &c->err);
    nea_artifacts_clear(&a);
    return rc;
}

static int plan_or_apply(neaprov_ctx *c, neaprov_spec *spec, char **json, bool apply)
{
    clear_out(json);
    int rc = begin(c, true);
    if (rc < 0 || (rc = need_arg(c, spec, "spec")) < 0)
        return rc;
    if (!apply && (rc = need_arg(c, json, "json")) < 0)
        return rc;
    struct nea_engine *e;
    if ((rc = engine(c, &e)) < 0)
        return rc;
    struct nea_changeset cs = {0};
    struct nea_spec *s = (struct nea_spec *)spec;
    rc = apply ? nea_engine_apply(e, s, &cs, &c->err) : nea_engine_plan(e, s, &cs, &c->err);
    if (rc == NEA_OK && json)
        JSON_ANSWER(json, nea_report_changeset(&j_, &cs));
    nea_changeset_clear(&cs);
    return rc;
}

static int api_plan(neaprov_ctx *c, neaprov_spec *spec, char **json)
{
    return plan_or_apply(c, spec, json, false);
}

static int api_apply(neaprov_ctx *c, neaprov_spec *spec, char **json)
{
    return plan_or_apply(c, spec, json, true);
}

static int api_status(neaprov_ctx *c, const char *filter, char **json)
{
    clear_out(json);
    int rc = begin(c, true);
    if (rc < 0 || (rc = need_arg(c, json, "json")) < 0)
        return rc;
    struct nea_engine *e;
    if ((rc = engine(c, &e)) < 0)
        return rc;
    struct nea_app_status *v = NULL;
    size_t n = 0;
    if ((rc = nea_engine_status(e, filter, &v, &n, &c->err)) < 0)
        return rc;
    JSON_ANSWER(json, nea_report_statuses(&j_, v, n));
    nea_statuses_free(v, n);
    return NEAPROV_OK;
}

static int api_destroy(neaprov_ctx *c, const char *which)
{
    int rc = begin(c, true);
    if (rc < 0 || (rc = need_arg(c, which, "tenant_or_name")) < 0)
        return rc;
    struct nea_engine *e;
    if ((rc = engine(c, &e)) < 0)
        return rc;
    return nea_engine_destroy(e, which, c->uri, &c->err);
}

static int api_networks(neaprov_ctx *c, const char *uri, char **json)
{
    clear_out(json);
    int rc = begin(c, true);
    if (rc < 0 || (rc = need_arg(c, json, "json")) < 0)
        return rc;
    if (!uri && !(uri = c->uri))
        return nea_err_set(&c->err, NEAPROV_ERR_USAGE,
                           "name the host: a uri argument or options.uri");
    if ((rc = nea_host_uri_check("uri", uri, NULL, &c->err)) < 0)
        return rc;
    NEA_AUTO(nea_host_closep) struct nea_host *h = NULL;
    struct nea_host_net *v = NULL;
    size_t n = 0;
    if ((rc = nea_host_open(uri, &h, &c->err)) < 0 ||
        (rc = nea_host_networks(h, &v, &n, &c->err)) < 0)
        return rc;
    JSON_ANSWER(json, nea_report_networks(&j_, v, n));
    nea_host_nets_free(v, n);
    return NEAPROV_OK;
}

static int state_of(neaprov_ctx *c, struct nea_state **st)
{
    int rc = begin(c, true);
    struct nea_engine *e;
    if (rc < 0 || (rc = engine(c, &e)) < 0)
        return rc;
    *st = nea_engine_state(e);
    return NEAPROV_OK;
}

static int api_pool_add(neaprov_ctx *c, const char *range)
{
    struct nea_state *st;
    struct nea_ip a, b;
    int rc = begin(c, true);
    if (rc < 0 || (rc = need_arg(c, range, "range")) < 0 || (rc = state_of(c, &st)) < 0 ||
        (rc = nea_range_arg("add", range, &a, &b, &c->err)) < 0)
        return rc;
    return nea_pool_add(st, &a, &b, &c->err);
}

static int api_pool_remove(neaprov_ctx *c, const char *range, int force, char **released)
{
    clear_out(released);
    struct nea_state *st;
    struct nea_ip a, b;
    int rc = begin(c, true);
    if (rc < 0 || (rc = need_arg(c, range, "range")) < 0 || (rc = state_of(c, &st)) < 0 ||
        (rc = nea_range_arg("remove", range, &a, &b, &c->err)) < 0)
        return rc;
    char *rel = NULL;
    rc = nea_pool_remove(st, &a, &b, force != 0, &rel, &c->err);
    if (released)
        *released = rc == NEA_OK ? (rel ? rel : nea_xstrdup("")) : NULL;
    else
        free(rel);
    return rc;
}

static int api_pool_list(neaprov_ctx *c, char **json)
{
    clear_out(json);
    struct nea_state *st;
    int rc = state_of(c, &st);
    if (rc < 0 || (rc = need_arg(c, json, "json")) < 0)
        return rc;
    struct nea_pool_run *v = NULL;
    size_t n = 0;
    struct nea_pool_summary sum;
    if ((rc = nea_pool_list(st, &v, &n, &sum, &c->err)) < 0)
        return rc;
    JSON_ANSWER(json, nea_report_pool(&j_, v, n, &sum));
    nea_pool_runs_free(v, n);
    return NEAPROV_OK;
}

static int api_rule_add(neaprov_ctx *c, const char *tenant, const char *pub, const char *to,
                        const char *description)
{
    struct nea_state *st;
    struct nea_rule r;
    int rc = begin(c, true);
    if (rc < 0 || (rc = need_arg(c, tenant, "tenant")) < 0 ||
        (rc = need_arg(c, pub, "pub")) < 0 || (rc = need_arg(c, to, "to")) < 0 ||
        (rc = state_of(c, &st)) < 0 ||
        (rc = nea_rule_args("add", tenant, pub, to, description, &r, &c->err)) < 0)
        return rc;
    rc = nea_engine_rule_check(c->engine, tenant, &r, &c->err);
    return rc < 0 ? rc : nea_rule_add(st, tenant, &r, &c->err);
}

static int api_rule_remove(neaprov_ctx *c, const char *tenant, const char *pub)
{
    struct nea_state *st;
    struct nea_rule r;
    int rc = begin(c, true);
    if (rc < 0 || (rc = need_arg(c, tenant, "tenant")) < 0 ||
        (rc = need_arg(c, pub, "pub")) < 0 || (rc = state_of(c, &st)) < 0 ||
        (rc = nea_rule_args("remove", tenant, pub, NULL, NULL, &r, &c->err)) < 0)
        return rc;
    return nea_rule_remove(st, tenant, &r.pub, r.pub_port, r.proto, &c->err);
}

static int api_rule_list(neaprov_ctx *c, const char *tenant, char **json)
{
    clear_out(json);
    struct nea_state *st;
    struct nea_rule r;
    int rc = state_of(c, &st);
    if (rc < 0 || (rc = need_arg(c, json, "json")) < 0 ||
        (rc = nea_rule_args("list", tenant, NULL, NULL, NULL, &r, &c->err)) < 0)
        return rc;
    struct nea_rule *v = NULL;
    char **tenants = NULL;
    size_t n = 0;
    if ((rc = nea_rule_list(st, tenant, &v, &tenants, &n, &c->err)) < 0)
        return rc;
    JSON_ANSWER(json, nea_report_rules(&j_, v, tenants, n));
    nea_rules_free(v, tenants, n);
    return NEAPROV_OK;
}

static const struct neaprov_provider provider = {
    .abi_version = NEAPROV_ABI_VERSION,
    .struct_size = sizeof(struct neaprov_provider),
    .version = NEA_VERSION,
    .ctx_new = api_ctx_new,
    .ctx_free = api_ctx_free,
    .last_error = api_last_error,
    .diagnostics = api_diagnostics,
    .open = api_open,
    .spec_load_file = api_spec_load_file,
    .spec_load_buffer = api_spec_load_buffer,
    .spec_free = api_spec_free,
    .spec_describe = api_spec_describe,
    .render = api_render,
    .plan = api_plan,
    .apply = api_apply,
    .status = api_status,
    .destroy = api_destroy,
    .networks = api_networks,
    .pool_add = api_pool_add,
    .pool_remove = api_pool_remove,
    .pool_list = api_pool_list,
    .rule_add = api_rule_add,
    .rule_remove = api_rule_remove,
    .rule_list = api_rule_list,
    .free = free,
};

__attribute__((visibility("default"))) const struct neaprov_provider *
neaprov_provider(uint32_t abi_version)
{
    if (abi_version == 0 || abi_version > NEAPROV_ABI_VERSION)
        return NULL;
    return &provider;
}

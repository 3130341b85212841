/*
 * nea_engine.c: the engine object: options, the state database, one
 * connection per host, progress.
 *
 * Knows no step of plan or apply.
 */
#include "nea_engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "nea_util.h"

const char *nea_disruption_name(enum nea_disruption d)
{
    switch (d) {
    case NEA_DISRUPT_NONE: return "none";
    case NEA_DISRUPT_REBOOT: return "appliance reboot";
    case NEA_DISRUPT_REDEPLOY: return "redeploy";
    }
    return "?";
}

/* No shared fallback such as /tmp: a cache another user can write to would
 * let them plant images. */
static char *default_cache_dir(void)
{
    if (geteuid() == 0)
        return nea_xstrdup("/var/cache/neaprov/images");
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg == '/')
        return nea_xasprintf("%s/neaprov/images", xdg);
    const char *home = getenv("HOME");
    return home && *home == '/' ? nea_xasprintf("%s/.cache/neaprov/images", home) : NULL;
}

int nea_engine_open(const struct nea_engine_opts *opts, struct nea_engine **ret,
                    struct nea_err *err)
{
    struct nea_engine *e = nea_xcalloc(1, sizeof(*e));
    e->opts = *opts;
    if (opts->fault_op)
        e->opts.fault_op = e->fault_op = nea_xstrdup(opts->fault_op);
    if (!e->opts.stop_timeout_s)
        e->opts.stop_timeout_s = 60;
    if (!e->opts.ready_timeout_s)
        e->opts.ready_timeout_s = 300;
    e->cache_dir = opts->image_cache_dir ? nea_xstrdup(opts->image_cache_dir)
                                         : default_cache_dir();

    int rc = nea_state_open(opts->state_path, &e->state, err);
    if (rc < 0) {
        free(e->fault_op);
        free(e->cache_dir);
        free(e);
        return rc;
    }
    if (opts->event)
        nea_state_set_hook(e->state, opts->event, opts->event_data);
    *ret = e;
    return NEA_OK;
}

void nea_engine_close(struct nea_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_hosts; i++) {
        nea_host_close(e->hosts[i].host);
        free(e->hosts[i].uri);
    }
    free(e->hosts);
    free(e->images);
    nea_state_close(e->state);
    free(e->fault_op);
    free(e->cache_dir);
    free(e);
}


struct nea_state *nea_engine_state(struct nea_engine *e)
{
    return e->state;
}

/* One connection per URI for the engine's life: test:///default keeps its
 * domains only as long as the connection. */
int nea_engine_host(struct nea_engine *e, const char *uri, struct nea_host **ret,
                    struct nea_err *err)
{
    for (size_t i = 0; i < e->n_hosts; i++)
        if (!strcmp(e->hosts[i].uri, uri)) {
            *ret = e->hosts[i].host;
            return NEA_OK;
        }
    struct nea_host *h = NULL;
    int rc = nea_host_open(uri, &h, err);
    if (rc < 0)
        return rc;
    if (e->opts.fault_op)
        nea_host_set_fault(h, e->opts.fault_op, e->opts.fault_nth, e->opts.fault_crash);
    e->hosts = nea_xrealloc(e->hosts, (e->n_hosts + 1) * sizeof(*e->hosts));
    e->hosts[e->n_hosts++] = (struct nea_host_slot){nea_xstrdup(uri), h};
    *ret = h;
    return NEA_OK;
}

void nea_engine_progress(struct nea_engine *e, const char *tenant, const char *step, int pct)
{
    if (e->opts.progress)
        e->opts.progress(e->opts.progress_data, tenant, step, pct);
}

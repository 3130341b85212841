/*
 * nea_plan.c: the plan: what differs between spec, record and live domain, and
 * how disruptive carrying it out is.
 *
 * Changes nothing.
 */
#include "nea_engine_int.h"

#include <string.h>

#include "nea_util.h"

int nea_plan_ctx(struct nea_ctx *c, struct nea_changeset *cs, struct nea_err *err)
{
    (void)err;
    memset(cs, 0, sizeof(*cs));
    cs->tenant = nea_xstrdup(c->spec->tenant);
    cs->name = nea_xstrdup(c->spec->name);
    cs->host = nea_xstrdup(c->uri);
    if (!c->rec || !c->rec->spec_hash) {
        if (c->live.state == NEA_DOM_MISSING)
            nea_change_add(cs, "appliance", NULL, c->spec->name,
                       "deploy: volumes, define, start", NEA_DISRUPT_NONE,
                       NEA_DO_CREATE | NEA_DO_DEFINE | NEA_DO_SEED);
        else
            nea_change_add(cs, "appliance", "partly deployed", c->spec->name,
                       "complete the deployment: seed, define, start",
                       NEA_DISRUPT_REBOOT,
                       NEA_DO_CREATE | NEA_DO_DEFINE | NEA_DO_SEED | NEA_DO_RESTART);
        return NEA_OK;
    }
    if (c->rec->state != NEA_DEP_RUNNING || c->rec->step) {
        NEA_AUTOFREE char *was = nea_xasprintf("%s%s%s", nea_dep_state_name(c->rec->state),
                                               c->rec->step ? " at " : "",
                                               c->rec->step ? c->rec->step : "");
        nea_change_add(cs, "state", was, "running", "resume the interrupted run",
                   NEA_DISRUPT_NONE, NEA_DO_RECORD);
    }
    nea_diff_specs(cs, c->rec->spec, c->canonical);
    /* -c may point elsewhere than the plan (and the record) */
    if (!(cs->todo & NEA_DO_MOVE) &&
        (strcmp(c->rec->host, c->uri) || strcmp(c->rec->pool, c->pool)))
        nea_change_add(cs, "host", c->rec->host, c->uri, "redeploy on the new host",
                   NEA_DISRUPT_REDEPLOY, NEA_DO_MOVE);
    if (cs->todo & NEA_DO_MOVE) {
        cs->todo |= NEA_DO_CREATE | NEA_DO_DEFINE | NEA_DO_SEED;
        return NEA_OK;
    }
    if (c->rec->instance_id && strcmp(c->rec->instance_id, c->art.seed.instance_id) &&
        !(cs->todo & (NEA_DO_SEED | NEA_DO_PLUG)))
        nea_change_add(cs, "instance-id", c->rec->instance_id, c->art.seed.instance_id,
                   "new seed, graceful shutdown + start", NEA_DISRUPT_REBOOT,
                   NEA_DO_SEED);
    nea_drift_changes(c, cs);
    /* what a cut run left of removed networks, and networks removed by hand */
    if (c->tnet_leftover)
        nea_change_add(cs, "tenant-networks left over", c->tnet_leftover, NULL,
                       "remove them (the spec no longer names them)", NEA_DISRUPT_NONE,
                       NEA_DO_TNETS);
    if (c->tnet_stale_nics && !(cs->todo & NEA_DO_PLUG))
        nea_change_add(cs, "vNICs left over", c->tnet_stale_nics, NULL,
                       "unplug them (live where the host can), then release their networks",
                       NEA_DISRUPT_NONE, NEA_DO_PLUG | NEA_DO_DEFINE | NEA_DO_TNETS);
    if (c->tnet_missing)
        nea_change_add(cs, "tenant-networks missing on the host", NULL, c->tnet_missing,
                       "make them again, reboot to re-attach the vNICs", NEA_DISRUPT_REBOOT,
                       NEA_DO_TNETS | NEA_DO_RESTART);
    if (cs->todo & ~(unsigned)(NEA_DO_START))
        cs->todo |= NEA_DO_DEFINE;
    return NEA_OK;
}

int nea_engine_plan(struct nea_engine *e, struct nea_spec *spec,
                    struct nea_changeset *ret, struct nea_err *err)
{
    struct nea_ctx c;
    int rc = nea_observe(e, spec, &c, err);
    if (rc == NEA_OK)
        rc = nea_plan_ctx(&c, ret, err);
    nea_ctx_clear(&c);
    return rc;
}

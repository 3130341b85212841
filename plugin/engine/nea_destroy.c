/*
 * nea_destroy.c: removing an appliance: stop, undefine, its own volumes, its
 * public addresses.
 *
 * Deletes no volume that is not provably the appliance's.
 */
#include "nea_engine_int.h"

#include <string.h>

#include "nea_pool.h"
#include "nea_util.h"

/* ---- destroy ------------------------------------------------------------ */

int nea_engine_destroy(struct nea_engine *e, const char *tenant_or_name,
                       const char *uri, struct nea_err *err)
{
    NEA_AUTO(nea_deployment_freep) struct nea_deployment *rec = NULL;
    int rc = nea_state_find(e->state, tenant_or_name, &rec, err);
    if (rc < 0)
        return rc;
    if (!rec)
        return nea_err_set(err, NEA_ERR_INVALID, "no appliance of tenant or name %s is "
                           "recorded in %s", tenant_or_name,
                           e->opts.state_path);
    if (rec->state == NEA_DEP_GONE)
        return NEA_OK; /* destroyed already: repeating it is harmless */
    int lock = -1;
    rc = nea_state_lock(e->state, NEA_LOCK_TENANT, rec->tenant, 0, &lock, err);
    if (rc < 0)
        return rc;
    /* re-read under the lock: another run may have changed it meanwhile */
    NEA_AUTOFREE char *tenant = nea_xstrdup(rec->tenant);
    nea_deployment_free(rec);
    rec = NULL;
    rc = nea_state_get(e->state, tenant, &rec, err);
    if (rc == NEA_OK && rec && rec->state != NEA_DEP_GONE)
        rc = nea_destroy_locked(e, rec, uri, true, err);
    nea_state_unlock(lock);
    return rc;
}

int nea_destroy_locked(struct nea_engine *e, struct nea_deployment *rec,
                       const char *uri, bool release, struct nea_err *err)
{
    int rc;
    const char *host_uri = uri ? uri : rec->host;
    struct nea_host *h = NULL;
    rc = nea_engine_host(e, host_uri, &h, err);
    if (rc < 0)
        return rc;
    struct nea_dom_info info;
    rc = nea_host_dom_info(h, rec->name, &info, err);
    if (rc < 0)
        return rc;
    /* not under its recorded name: an apply cut right after libvirt renamed
     * it leaves it under the new one; its UUID (pinned) finds it */
    NEA_AUTOFREE char *renamed = NULL;
    if (info.state == NEA_DOM_MISSING && rec->uuid) {
        rc = nea_host_dom_name_by_uuid(h, rec->uuid, &renamed, err);
        if (rc == NEA_OK && renamed && strcmp(renamed, rec->name)) {
            nea_dom_info_clear(&info);
            rc = nea_host_dom_info(h, renamed, &info, err);
            if (rc == NEA_OK) {
                free(rec->name);
                rec->name = TAKE_PTR(renamed);
            }
        }
        if (rc < 0)
            return rc;
    }
    if (uri && strcmp(uri, rec->host) && info.state == NEA_DOM_MISSING) {
        nea_dom_info_clear(&info);
        return nea_err_set(err, NEA_ERR_INVALID, "appliance %s is recorded on %s and is "
                           "not on %s; nothing changed", rec->name, rec->host, uri);
    }
    if (info.state != NEA_DOM_MISSING &&
        (!info.owned || !info.tenant || strcmp(info.tenant, rec->tenant))) {
        nea_dom_info_clear(&info);
        return nea_err_set(err, NEA_ERR_CONFLICT, "%s: domain %s is not managed by "
                           "neaprov for tenant %s; not touching it", host_uri, rec->name,
                           rec->tenant);
    }
    /* Which disks are provably the appliance's, decided while its domain
     * (the proof for a record from before the namespaces) still exists:
     * the recorded one, and one of the tenant's namespace that a cut run
     * created before it could record it. */
    NEA_AUTOFREE char *own = nea_disk_volume_name(rec->tenant);
    const char *disks[2] = {rec->disk_volume, NULL};
    if (!rec->disk_volume || strcmp(rec->disk_volume, own))
        disks[1] = own;
    struct nea_disk_check dc[2] = {{0}};
    for (size_t k = 0; rc == NEA_OK && k < 2; k++)
        if (disks[k])
            rc = nea_disk_ownership(e, h, host_uri, rec->pool, rec->tenant, rec, disks[k],
                                info.state != NEA_DOM_MISSING ? info.xml : NULL, &dc[k],
                                err);
    if (rc < 0) {
        nea_dom_info_clear(&info);
        nea_disk_check_clear(&dc[0]);
        nea_disk_check_clear(&dc[1]);
        return rc;
    }
    /* the proof of a disk of a record from before the namespaces is its
     * domain: kept before the domain goes, for a destroy that is cut */
    if (rec->disk_volume && dc[0].owned && !rec->disk_backing)
        rec->disk_backing = nea_xstrdup(dc[0].backing);
    rec->state = NEA_DEP_DESTROYING;
    free(rec->step);
    rec->step = nea_xstrdup("stop");
    rc = nea_state_put(e->state, rec, err);
    bool forced = false;
    if (rc == NEA_OK && info.state != NEA_DOM_MISSING) {
        nea_engine_progress(e, rec->tenant, "stop", 20);
        rc = nea_host_dom_stop(h, rec->name, e->opts.stop_timeout_s, &forced, err);
        if (rc == NEA_OK) {
            free(rec->step);
            rec->step = nea_xstrdup("undefine");
            rc = nea_state_put(e->state, rec, err);
        }
        if (rc == NEA_OK) {
            nea_engine_progress(e, rec->tenant, "undefine", 50);
            rc = nea_host_dom_undefine(h, rec->name, err);
        }
    }
    nea_dom_info_clear(&info);
    if (rc == NEA_OK) {
        free(rec->step);
        rec->step = nea_xstrdup("delete-volumes");
        rc = nea_state_put(e->state, rec, err);
    }
    if (rc == NEA_OK)
        nea_engine_progress(e, rec->tenant, "delete-volumes", 80);
    for (size_t k = 0; rc == NEA_OK && k < 2; k++) {
        if (dc[k].owned) {
            rc = nea_host_vol_delete(h, rec->pool, disks[k], err);
        } else if (dc[k].exists && disks[k] == rec->disk_volume) {
            NEA_AUTOFREE char *why = nea_xasprintf("volume %s in pool %s is not provably "
                                                   "this appliance's disk: left alone",
                                                   disks[k], rec->pool);
            nea_state_event(e->state, rec->tenant, "kept-volume", why, NULL);
        }
    }
    nea_disk_check_clear(&dc[0]);
    nea_disk_check_clear(&dc[1]);
    if (rc == NEA_OK)
        rc = nea_delete_seeds(h, rec->pool, rec->tenant, NULL, rec->seed_volume, rec->name, err);
    /* the domain is gone: no vNIC is on its networks any more */
    if (rc == NEA_OK)
        rc = nea_tnets_destroy(e, h, host_uri, rec->tenant, release, err);
    if (rc < 0) {
        rec->state = NEA_DEP_FAILED;
        free(rec->last_error);
        rec->last_error = nea_xstrdup(err->msg);
        nea_state_put(e->state, rec, NULL);
        nea_state_event(e->state, rec->tenant, "destroy-failed", err->msg, NULL);
        return rc;
    }
    if (release) {
        rc = nea_pool_release(e->state, rec->tenant, err);
        if (rc < 0)
            return rc;
    }
    rec->state = NEA_DEP_GONE;
    free(rec->step);
    rec->step = NULL;
    free(rec->spec_hash);
    rec->spec_hash = NULL;
    rc = nea_state_put(e->state, rec, err);
    if (rc == NEA_OK)
        nea_state_event(e->state, rec->tenant, "destroyed",
                        forced ? "forced power-off after the shutdown timeout"
                               : "graceful shutdown", NULL);
    nea_engine_progress(e, rec->tenant, "done", 100);
    return rc;
}

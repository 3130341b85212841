/*
 * nea_status.c: the record of each appliance joined with its live domain.
 *
 * Changes nothing.
 */
#include "nea_engine_int.h"

#include <stdlib.h>
#include <string.h>

#include "nea_util.h"

/* ---- status ------------------------------------------------------------- */

/* What the domain should be, from the record alone: the canonical spec
 * (network, size), the pinned MAC and the volumes in the pool's directory.
 * A facet that cannot be known is left NULL (not compared). */
static void want_from_record(struct nea_host *h, const struct nea_deployment *d,
                             struct nea_dom_facets *ret)
{
    memset(ret, 0, sizeof(*ret));
    struct nea_kv *kv = NULL;
    size_t nkv = 0;
    nea_kv_parse(d->spec, &kv, &nkv);
    const char *ref = nea_kv_get(kv, nkv, "network");
    if (ref) {
        const char *name;
        enum nea_net_kind kind = nea_netref_split(ref, &name);
        ret->nic_source = nea_xstrdup(name);
        ret->nic_type = nea_xstrdup(kind == NEA_NET_LIBVIRT ? "network" : "bridge");
    }
    const char *vcpus = nea_kv_get(kv, nkv, "vcpus");
    const char *mib = nea_kv_get(kv, nkv, "memory-mib");
    if (vcpus)
        ret->vcpus = nea_xstrdup(vcpus);
    if (mib)
        ret->memory_kib = nea_xasprintf("%llu", strtoull(mib, NULL, 10) * 1024ULL);
    nea_kv_free(kv, nkv);
    if (d->mac)
        ret->nic_mac = nea_xstrdup(d->mac);
    NEA_AUTOFREE char *dir = NULL;
    struct nea_err perr = {0};
    if (d->pool && nea_host_pool_dir(h, d->pool, &dir, &perr) == NEA_OK && dir) {
        if (d->seed_volume)
            ret->cdrom_source = nea_xasprintf("%s/%s", dir, d->seed_volume);
        if (d->disk_volume)
            ret->disk_source = nea_xasprintf("%s/%s", dir, d->disk_volume);
    }
}

/* One drift as status shows it (NULL: not shown, a stop the record asked
 * for). */
static char *drift_sentence(const struct nea_deployment *d, const struct nea_drift_item *it)
{
    switch (it->kind) {
    case NEA_DRIFT_MISSING:
        return nea_xstrdup("the domain is missing on the host");
    case NEA_DRIFT_UNOWNED:
        return nea_xstrdup("the domain has lost neaprov's metadata");
    case NEA_DRIFT_SPEC_HASH:
        return nea_xstrdup("the domain differs from the applied spec (changed outside "
                           "neaprov or an apply was interrupted)");
    case NEA_DRIFT_NOT_RUNNING:
        return d->state == NEA_DEP_RUNNING ? nea_xstrdup("the appliance is not running")
                                           : NULL;
    case NEA_DRIFT_CDROM:
        return nea_xstrdup("the seed cdrom is not attached");
    case NEA_DRIFT_DISK_MISSING:
    case NEA_DRIFT_SEED_MISSING:
        return nea_xasprintf("volume %s is missing from pool %s", it->want, d->pool);
    case NEA_DRIFT_MAC:
        return nea_xasprintf("the vNIC's MAC is %s, the record says %s", it->have, it->want);
    case NEA_DRIFT_NIC:
        return nea_xasprintf("the vNIC is on %s, the spec says %s",
                             it->have ? it->have : "nothing", it->want);
    case NEA_DRIFT_SIZE:
        return nea_xasprintf("the domain has %s, the spec says %s", it->have, it->want);
    case NEA_DRIFT_DISK:
        return nea_xasprintf("the domain boots from %s, not from its disk %s",
                             it->have ? it->have : "nothing", it->want);
    case NEA_DRIFT_LAST:
        break;
    }
    return NULL;
}

/* The drift status shows: the one that matters most, as a sentence. */
static char *drift_of(struct nea_host *h, const struct nea_deployment *d,
                      const struct nea_dom_info *info)
{
    /* the recorded volumes, deleted by hand? */
    const char *vols[2] = {d->disk_volume, d->seed_volume};
    bool gone[2] = {false, false};
    for (size_t k = 0; k < 2 && info->state != NEA_DOM_MISSING; k++) {
        NEA_AUTOFREE char *path = NULL;
        struct nea_err verr = {0};
        gone[k] = vols[k] && d->pool &&
                  nea_host_vol_path(h, d->pool, vols[k], &path, &verr) == NEA_OK && !path;
    }
    struct nea_dom_facets want;
    want_from_record(h, d, &want);
    struct nea_drift dr;
    nea_drift_find(info, d->spec_hash, &want, gone[0] ? vols[0] : NULL,
                   gone[1] ? vols[1] : NULL, &dr);
    nea_dom_facets_clear(&want);
    static const enum nea_drift_kind order[] = {
        NEA_DRIFT_MISSING, NEA_DRIFT_UNOWNED, NEA_DRIFT_SPEC_HASH, NEA_DRIFT_NOT_RUNNING,
        NEA_DRIFT_CDROM, NEA_DRIFT_DISK_MISSING, NEA_DRIFT_SEED_MISSING, NEA_DRIFT_MAC,
        NEA_DRIFT_NIC, NEA_DRIFT_SIZE, NEA_DRIFT_DISK,
    };
    char *out = NULL;
    for (size_t o = 0; o < NEA_ARRAY_SIZE(order) && !out; o++)
        for (size_t i = 0; i < dr.n && !out; i++)
            if (dr.v[i].kind == order[o])
                out = drift_sentence(d, &dr.v[i]);
    nea_drift_clear(&dr);
    return out;
}

int nea_engine_status(struct nea_engine *e, const char *filter,
                      struct nea_app_status **ret, size_t *n, struct nea_err *err)
{
    struct nea_deployment **deps = NULL;
    size_t nd = 0;
    int rc = nea_state_list(e->state, &deps, &nd, err);
    if (rc < 0)
        return rc;
    struct nea_app_status *v = nea_xcalloc(nd ? nd : 1, sizeof(*v));
    size_t len = 0;
    for (size_t i = 0; i < nd; i++) {
        struct nea_deployment *d = deps[i];
        if (filter && strcmp(filter, d->tenant) && strcmp(filter, d->name)) {
            nea_deployment_free(d);
            continue;
        }
        struct nea_app_status *st = &v[len++];
        st->dep = d;
        if (d->state == NEA_DEP_GONE) {
            st->live = "-";
            continue;
        }
        struct nea_host *h = NULL;
        struct nea_err herr = {0};
        if (nea_engine_host(e, d->host, &h, &herr) < 0) {
            st->live = "unreachable";
            st->drift = nea_xstrdup(herr.msg);
            continue;
        }
        struct nea_dom_info info;
        if (nea_host_dom_info(h, d->name, &info, &herr) < 0) {
            st->live = "unknown";
            st->drift = nea_xstrdup(herr.msg);
            continue;
        }
        /* the test driver makes addresses up: show none there */
        if (info.state == NEA_DOM_RUNNING && d->mac && !nea_host_is_test(h)) {
            struct nea_err aerr = {0}; /* none known is not a failure of status */
            nea_host_dom_addresses(h, d->name, d->mac, &st->addresses, &aerr);
        }
        st->live = nea_dom_state_name(info.state);
        st->drift = drift_of(h, d, &info);
        nea_tnets_status(h, d, &st->tnets, &st->n_tnets);
        nea_dom_info_clear(&info);
    }
    free(deps);
    *ret = v;
    *n = len;
    return NEA_OK;
}

void nea_statuses_free(struct nea_app_status *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        nea_deployment_free(v[i].dep);
        free(v[i].drift);
        free(v[i].addresses);
        nea_tnet_statuses_free(v[i].tnets, v[i].n_tnets);
    }
    free(v);
}

/*
 * nea_drift.c: the live domain against what it should be.
 *
 * Reads only what observe gathered.
 */
#include "nea_engine_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nea_util.h"

static char *short_hash(const char *h)
{
    return h ? nea_xstrndup(h, 12) : NULL;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Whether facet k of `have` differs from `want`; a facet `want` does not
 * know (NULL) is not compared. */
static bool facet_differs(enum nea_drift_kind k, const struct nea_dom_facets *have,
                          const struct nea_dom_facets *want)
{
    switch (k) {
    case NEA_DRIFT_NIC:
        return want->nic_source && (!same_str(have->nic_source, want->nic_source) ||
                                    (want->nic_type && !same_str(have->nic_type,
                                                                 want->nic_type)));
    case NEA_DRIFT_MAC:
        return want->nic_mac && have->nic_mac && strcasecmp(have->nic_mac, want->nic_mac);
    case NEA_DRIFT_CDROM:
        return want->cdrom_source && !same_str(have->cdrom_source, want->cdrom_source);
    case NEA_DRIFT_SIZE:
        return (want->vcpus && !same_str(have->vcpus, want->vcpus)) ||
               (want->memory_kib && !same_str(have->memory_kib, want->memory_kib));
    case NEA_DRIFT_DISK:
        return want->disk_source && !same_str(have->disk_source, want->disk_source);
    default:
        return false;
    }
}

static const char *facet_value(enum nea_drift_kind k, const struct nea_dom_facets *f)
{
    switch (k) {
    case NEA_DRIFT_NIC: return f->nic_source;
    case NEA_DRIFT_MAC: return f->nic_mac;
    case NEA_DRIFT_CDROM: return f->cdrom_source ? f->cdrom_source : "none";
    case NEA_DRIFT_DISK: return f->disk_source;
    default: return NULL;
    }
}

static char *size_text(const struct nea_dom_facets *f)
{
    return nea_xasprintf("%s vCPUs, %s KiB", f->vcpus ? f->vcpus : "?",
                         f->memory_kib ? f->memory_kib : "?");
}

static void add(struct nea_drift *d, enum nea_drift_kind k, const char *have,
                const char *want)
{
    d->v[d->n++] = (struct nea_drift_item){k, have ? nea_xstrdup(have) : NULL,
                                           want ? nea_xstrdup(want) : NULL};
}

void nea_drift_find(const struct nea_dom_info *live, const char *recorded_hash,
                    const struct nea_dom_facets *want, const char *disk_missing,
                    const char *seed_missing, struct nea_drift *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (live->state == NEA_DOM_MISSING) {
        add(ret, NEA_DRIFT_MISSING, "missing", "defined, running");
        return;
    }
    if (!live->owned)
        add(ret, NEA_DRIFT_UNOWNED, NULL, NULL);
    if (recorded_hash && (!live->spec_hash || strcmp(live->spec_hash, recorded_hash))) {
        NEA_AUTOFREE char *a = short_hash(live->spec_hash);
        NEA_AUTOFREE char *b = short_hash(recorded_hash);
        add(ret, NEA_DRIFT_SPEC_HASH, a, b);
    }
    /* both the running domain and its persistent definition (what the next
     * boot uses) must match; the running value is shown where it is the one
     * that differs */
    struct nea_dom_facets f[2] = {{0}};
    const char *xmls[2] = {live->xml, live->xml_inactive};
    for (int i = 0; i < 2; i++)
        if (xmls[i])
            nea_dom_facets_parse(xmls[i], &f[i]);
    static const enum nea_drift_kind facets[] = {NEA_DRIFT_NIC, NEA_DRIFT_CDROM,
                                                 NEA_DRIFT_SIZE, NEA_DRIFT_MAC,
                                                 NEA_DRIFT_DISK};
    for (size_t k = 0; k < NEA_ARRAY_SIZE(facets); k++) {
        for (int i = 0; i < 2; i++) {
            if (!xmls[i] || !facet_differs(facets[k], &f[i], want))
                continue;
            if (facets[k] == NEA_DRIFT_SIZE) {
                NEA_AUTOFREE char *a = size_text(&f[i]), *b = size_text(want);
                add(ret, facets[k], a, b);
            } else {
                add(ret, facets[k], facet_value(facets[k], &f[i]),
                    facet_value(facets[k], want));
            }
            break;
        }
    }
    nea_dom_facets_clear(&f[0]);
    nea_dom_facets_clear(&f[1]);
    if (disk_missing)
        add(ret, NEA_DRIFT_DISK_MISSING, "missing", disk_missing);
    if (seed_missing)
        add(ret, NEA_DRIFT_SEED_MISSING, "missing", seed_missing);
    if (live->state != NEA_DOM_RUNNING)
        add(ret, NEA_DRIFT_NOT_RUNNING,
            nea_dom_state_name(live->state), "running");
}

void nea_drift_clear(struct nea_drift *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].have);
        free(d->v[i].want);
    }
    memset(d, 0, sizeof(*d));
}

/* How plan repairs each kind of drift; skip: what, already in the plan,
 * explains it. */
static const struct {
    const char *field;
    const char *action;
    enum nea_disruption d;
    unsigned todo, skip;
} repairs[NEA_DRIFT_LAST] = {
    [NEA_DRIFT_MISSING] = {"domain", "repair: define and start", NEA_DISRUPT_REBOOT,
                           NEA_DO_CREATE | NEA_DO_DEFINE | NEA_DO_SEED, 0},
    [NEA_DRIFT_SPEC_HASH] = {"domain.spec-hash",
                             "repair: the domain was changed outside neaprov; redefine + "
                             "reboot", NEA_DISRUPT_REBOOT, NEA_DO_DEFINE | NEA_DO_RESTART, 0},
    [NEA_DRIFT_NIC] = {"domain.interface.source",
                       "repair: move the vNIC back (live where the host can)",
                       NEA_DISRUPT_NONE, NEA_DO_NIC | NEA_DO_DEFINE, NEA_DO_NIC},
    [NEA_DRIFT_CDROM] = {"domain.cdrom", "repair: reattach the seed + reboot",
                         NEA_DISRUPT_REBOOT, NEA_DO_SEED | NEA_DO_DEFINE | NEA_DO_RESTART,
                         NEA_DO_SEED | NEA_DO_PLUG},
    [NEA_DRIFT_SIZE] = {"domain.size", "repair: config change + reboot", NEA_DISRUPT_REBOOT,
                        NEA_DO_DEFINE | NEA_DO_RESTART, NEA_DO_RESTART},
    /* the seed's network-config matches the MAC: it must be ours again */
    [NEA_DRIFT_MAC] = {"domain.interface.mac", "repair: the MAC the seed expects + reboot",
                       NEA_DISRUPT_REBOOT, NEA_DO_DEFINE | NEA_DO_RESTART, NEA_DO_RESTART},
    [NEA_DRIFT_DISK] = {"domain.disk",
                        "repair: boot from the appliance's own disk again + reboot",
                        NEA_DISRUPT_REBOOT, NEA_DO_DEFINE | NEA_DO_RESTART,
                        NEA_DO_DISK | NEA_DO_MOVE},
    [NEA_DRIFT_DISK_MISSING] = {"volume.disk",
                                "repair: a new disk from the image (what the lost one held "
                                "is gone)", NEA_DISRUPT_REDEPLOY, NEA_DO_DISK, NEA_DO_DISK},
    [NEA_DRIFT_SEED_MISSING] = {"volume.seed", "repair: write the seed again + reboot",
                                NEA_DISRUPT_REBOOT, NEA_DO_SEED | NEA_DO_RESTART,
                                NEA_DO_SEED},
    [NEA_DRIFT_NOT_RUNNING] = {"state", "start", NEA_DISRUPT_NONE, NEA_DO_START, 0},
};

void nea_drift_changes(struct nea_ctx *c, struct nea_changeset *cs)
{
    if (c->disk_disowned && !(cs->todo & NEA_DO_DISK))
        nea_change_add(cs, "volume.disk", c->disk_disowned, c->disk_volume,
                       "a new disk of its own: the recorded volume is not provably this "
                       "appliance's (it is left alone)", NEA_DISRUPT_REDEPLOY, NEA_DO_DISK);
    struct nea_dom_facets want;
    nea_dom_facets_parse(c->art.domain_xml, &want);
    struct nea_drift d;
    nea_drift_find(&c->live, c->rec->spec_hash, &want, c->disk_missing ? c->disk_volume : NULL,
                   c->seed_missing ? c->rec->seed_volume : NULL, &d);
    nea_dom_facets_clear(&want);
    /* each in the order found; what an earlier change already covers is not
     * repeated */
    for (size_t i = 0; i < d.n; i++) {
        enum nea_drift_kind k = d.v[i].kind;
        if (k == NEA_DRIFT_UNOWNED || (cs->todo & repairs[k].skip))
            continue;
        nea_change_add(cs, repairs[k].field, d.v[i].have, d.v[i].want, repairs[k].action,
                       repairs[k].d, repairs[k].todo);
    }
    nea_drift_clear(&d);
}

/*
 * nea_seed.h: the cloud-init NoCloud seed of an appliance.
 *
 * meta-data, user-data and network-config are emitted with libyaml's
 * emitter from the model; nea_iso.h packs them.  network-config is version 1
 * (see docs/render.md: v2 default routes are rendered wrongly by Debian 12's
 * cloud-init), matched to the NIC by MAC.
 */
#ifndef NEA_SEED_H
#define NEA_SEED_H

#include <stddef.h>

#include "nea_err.h"
#include "nea_model.h"

#define NEA_NIC_NAME "ext0"

/* The seed's own directory, beside the NoCloud files: what neaprov-sync in
 * the guest reads after a live change (a vNIC plugged or unplugged, the
 * medium swapped), with no cloud-init run.  Only for appliances whose plan
 * has tenant networks. */
#define NEA_SEED_INTERFACES "neaprov/interfaces"
#define NEA_SEED_RULESET "neaprov/ruleset.nft"

struct nea_seed {
    char *meta_data;
    size_t meta_data_len;
    char *user_data;
    size_t user_data_len;
    char *network_config;
    size_t network_config_len;
    /* The nftables ruleset (the one user-data writes), and the tenant
     * networks one a line: "MAC IFNAME IPV4/P IPV6/P" ("-": no IPv6), in
     * slot order.  NULL when the plan has no tenant-networks: such an
     * appliance's medium holds the NoCloud files only. */
    char *ruleset;
    size_t ruleset_len;
    char *interfaces;
    size_t interfaces_len;
    /* "<name>-<16 hex>": sha256 over hostname, user-data, network-config
     * and interfaces, so it changes exactly when what the guest is told
     * changes. */
    char instance_id[96];
};

/* s->tnets in slot order (the order of the vNICs, of network-config and of
 * the ruleset): ret[k] for k < s->n_tnets. */
void nea_tnets_by_slot(const struct nea_spec *s, const struct nea_tnet **ret);

int nea_seed_build(const struct nea_spec *spec, struct nea_seed *ret_seed,
                   struct nea_err *err);
void nea_seed_clear(struct nea_seed *seed);

#endif

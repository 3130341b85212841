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

struct nea_seed {
    char *meta_data;
    size_t meta_data_len;
    char *user_data;
    size_t user_data_len;
    char *network_config;
    size_t network_config_len;
    /* "<name>-<16 hex>": sha256 over hostname, user-data and network-config,
     * so it changes exactly when what the guest is told changes. */
    char instance_id[96];
};

int nea_seed_build(const struct nea_spec *spec, struct nea_seed *ret_seed,
                   struct nea_err *err);
void nea_seed_clear(struct nea_seed *seed);

#endif

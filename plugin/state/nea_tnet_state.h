/*
 * nea_tnet_state.h: where each tenant network is, in the state database:
 * its vNIC slot in the tenant's appliance and, in ovs-vlan mode, its VLAN
 * tag on a host's Open vSwitch bridge.
 *
 * Slots are the tenant's (the lowest free one for a new network, kept
 * while the network exists), so that a vNIC keeps its PCI address and guest
 * interface name however the list changes.  VLAN tags are the host's and
 * switch's: one transaction hands out the lowest free tag of the plan's
 * range, so two tenant networks never share one.  A network keeps its slot
 * and tag until nea_tnet_release drops them, which the engine calls only
 * once no vNIC of the network is left (after the unplug, after the undefine).
 */
#ifndef NEA_TNET_STATE_H
#define NEA_TNET_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "nea_err.h"
#include "nea_state.h"

/* Where the tenant's networks names[0..n) are, or would be (dry_run: nothing
 * written): ret_slots[i], and with sw (an ovs-vlan switch: its name) the
 * tags ret_vlans[i] from [vlan_first, vlan_last] on host and sw.  A network
 * that has a slot or a tag keeps it.  No free slot below max_slots or no
 * free tag: NEA_ERR_CONFLICT naming the range, nothing written. */
int nea_tnet_assign(struct nea_state *st, const char *tenant, const char *const *names,
                    size_t n, unsigned max_slots, const char *host, const char *sw,
                    unsigned vlan_first, unsigned vlan_last, bool dry_run,
                    unsigned *ret_slots, unsigned *ret_vlans, struct nea_err *err);

/* Drops the tenant's slots of networks not in keep[0..n_keep), and its tags
 * other than those of keep on host and sw (sw NULL: every tag).  n_keep 0:
 * all of the tenant's. */
int nea_tnet_release(struct nea_state *st, const char *tenant, const char *const *keep,
                     size_t n_keep, const char *host, const char *sw, struct nea_err *err);

/* Drops the tenant's tags on host (its appliance left that host). */
int nea_tnet_release_host(struct nea_state *st, const char *tenant, const char *host,
                          struct nea_err *err);

/* The names of the tenant's networks that hold a slot or a tag. */
int nea_tnet_held_names(struct nea_state *st, const char *tenant, char ***ret_names,
                        size_t *ret_n, struct nea_err *err);

/* How many tags of the tenant are held (for tests and status). */
int nea_tnet_vlans_held(struct nea_state *st, const char *tenant, size_t *ret_n,
                        struct nea_err *err);

#endif

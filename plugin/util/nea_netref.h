/*
 * nea_netref.h: network references as specs, plans and the CLI write them,
 * parsed and written in one place for spec, virt and the engine:
 *   "BRIDGE"        a Linux bridge
 *   "ovs:BRIDGE"    an Open vSwitch bridge
 *   "network:NAME"  a libvirt network
 * Whether a name is a valid one is the schema's rule (spec layer).
 */
#ifndef NEA_NETREF_H
#define NEA_NETREF_H

#include "nea_util.h"

enum nea_net_kind {
    NEA_NET_BRIDGE,     /* <interface type='bridge'> */
    NEA_NET_OVS,        /* bridge + <virtualport type='openvswitch'/> */
    NEA_NET_LIBVIRT,    /* <interface type='network'> */
    NEA_NET_KIND_LAST
};
NEA_ENUM_DECL(nea_net_kind); /* "bridge", "openvswitch", "libvirt network" */

/* The kind of ref, and its name (pointing into ref). */
enum nea_net_kind nea_netref_split(const char *ref, const char **ret_name);
/* The reference of a network of that kind and name. */
char *nea_netref_format(enum nea_net_kind kind, const char *name);

#endif

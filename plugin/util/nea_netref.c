/*
 * nea_netref.c: network references (see nea_netref.h).
 */
#include "nea_netref.h"

#include <string.h>

NEA_ENUM_IMPL(nea_net_kind, NEA_NET_KIND_LAST, "bridge", "openvswitch", "libvirt network")

/* how references write each kind */
static const char *const prefixes[] = {"", "ovs:", "network:"};
_Static_assert(NEA_ARRAY_SIZE(prefixes) == NEA_NET_KIND_LAST,
               "a prefix for every kind of network");

enum nea_net_kind nea_netref_split(const char *ref, const char **ret_name)
{
    for (int k = NEA_NET_KIND_LAST - 1; k > NEA_NET_BRIDGE; k--) {
        if (nea_str_has_prefix(ref, prefixes[k])) {
            *ret_name = ref + strlen(prefixes[k]);
            return (enum nea_net_kind)k;
        }
    }
    *ret_name = ref;
    return NEA_NET_BRIDGE;
}

char *nea_netref_format(enum nea_net_kind kind, const char *name)
{
    return nea_xasprintf("%s%s", (unsigned)kind < NEA_NET_KIND_LAST ? prefixes[kind] : "",
                         name);
}

/*
 * nea_spec_tnet.c: a spec's tenant networks (the networks: list).
 *
 * Each entry is read on its own, then the list is checked whole: names
 * unique, no two networks overlapping, none overlapping the appliance's
 * external subnet, the count within the plan's max-networks.  Must not touch
 * libvirt or the state: where a network lands on the host (slot, VLAN) is
 * the engine's.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "nea_spec.h"
#include "nea_spec_int.h"
#include "nea_util.h"

enum { N_NAME, N_GW, N_GW6, N_INTERNET, N_N };
static const char *const net_keys[] = {"name", "gateway", "gateway6", "internet"};

/* "ADDRESS/PREFIX" of the family, a host address of its subnet. */
static bool read_gateway(struct nea_schema *c, const struct nea_ynode *n, const char *path,
                         int family, struct nea_ip *ret, unsigned *ret_prefix)
{
    const char *s = nea_get_str(c, n, path, 64);
    if (!s)
        return false;
    const char *slash = strchr(s, '/');
    const char *fam = nea_family_name(family);
    unsigned max = family == AF_INET ? 30 : 127;
    if (!slash) {
        nea_err_at(c, n, "%s \"%s\" must be the gateway's %s address with its prefix "
                   "length, e.g. %s", path, s, fam,
                   family == AF_INET ? "10.10.0.1/24" : "2001:db8:10::1/64");
        return false;
    }
    NEA_AUTOFREE char *addr = nea_xstrndup(s, (size_t)(slash - s));
    struct nea_ip ip;
    int f = nea_ip_parse(addr, &ip);
    char *end = NULL;
    unsigned long prefix = strtoul(slash + 1, &end, 10);
    if (f < 0) {
        nea_err_at(c, n, "%s \"%s\": %s is not an IP address", path, s, addr);
        return false;
    }
    if (f != family) {
        nea_err_at(c, n, "%s %s is an %s address, expected %s", path, s,
                   nea_family_name(f), fam);
        return false;
    }
    if (!slash[1] || *end || slash[1] == '+' || slash[1] == '-' || prefix < 1 ||
        prefix > max) {
        nea_err_at(c, n, "%s \"%s\": the prefix length must be 1 to %u", path, s, max);
        return false;
    }
    enum nea_ip_kind k = nea_ip_kind(&ip);
    if (k != NEA_IP_UNICAST) {
        nea_err_at(c, n, "%s %s is %s, not a gateway address", path, s,
                   nea_ip_kind_name(k));
        return false;
    }
    struct nea_ip net, bcast;
    nea_ip_network(&ip, (unsigned)prefix, &net);
    nea_ip_broadcast(&ip, (unsigned)prefix, &bcast);
    if (nea_ip_equal(&ip, &net) || (family == AF_INET && nea_ip_equal(&ip, &bcast))) {
        nea_err_at(c, n, "%s %s is the subnet's %s address, not a host address", path, s,
                   nea_ip_equal(&ip, &net) ? "network" : "broadcast");
        return false;
    }
    *ret = ip;
    *ret_prefix = (unsigned)prefix;
    return true;
}

static bool overlap(const struct nea_ip *a, unsigned pa, const struct nea_ip *b,
                    unsigned pb)
{
    unsigned p = pa < pb ? pa : pb;
    return a->family == b->family && nea_ip_in_subnet(a, b, p) &&
           nea_ip_in_subnet(b, a, p);
}

static void subnet_text(const struct nea_ip *ip, unsigned prefix, char *out, size_t len)
{
    struct nea_ip net;
    char a[NEA_IP_STRLEN];
    nea_ip_network(ip, prefix, &net);
    nea_ip_format(&net, a);
    snprintf(out, len, "%s/%u", a, prefix);
}

/* Network i against the appliance's static external subnets (an error
 * named at item): true when it overlaps one. */
static bool external_overlap(struct nea_schema *c, const struct nea_ynode *item, size_t i,
                             const struct nea_tnet *t, const struct nea_spec *s)
{
    const struct {
        bool on;
        const struct nea_ip *gw, *ext;
        unsigned prefix, ext_prefix;
        const char *field, *block;
    } fams[] = {
        {s->ipv4.mode == NEA_V4_STATIC, &t->gw4, &s->ipv4.address, t->prefix4,
         s->ipv4.prefix, "gateway", "appliance.ipv4"},
        {t->has_v6 && s->ipv6.mode == NEA_V6_STATIC, &t->gw6, &s->ipv6.address,
         t->prefix6, s->ipv6.prefix, "gateway6", "appliance.ipv6"},
    };
    for (size_t k = 0; k < NEA_ARRAY_SIZE(fams); k++) {
        if (!fams[k].on || !overlap(fams[k].gw, fams[k].prefix, fams[k].ext,
                                    fams[k].ext_prefix))
            continue;
        char a[64], b[64];
        subnet_text(fams[k].gw, fams[k].prefix, a, sizeof(a));
        subnet_text(fams[k].ext, fams[k].ext_prefix, b, sizeof(b));
        nea_err_at(c, item, "networks[%zu].%s: %s (network %s) overlaps the external "
                   "subnet %s of %s", i, fams[k].field, a, t->name, b, fams[k].block);
        return true;
    }
    return false;
}

/* One entry; false when it is not usable for the whole-list checks. */
static bool read_one(struct nea_schema *c, const struct nea_ynode *node, size_t i,
                     struct nea_tnet *t)
{
    const struct nea_ynode *v[N_N];
    NEA_AUTOFREE char *path = nea_xasprintf("networks[%zu]", i);
    if (!nea_read_map(c, node, path, net_keys, N_N, v))
        return false;
    bool ok = true;
    const char *s;
    NEA_AUTOFREE char *p_name = nea_xasprintf("%s.name", path);
    if (!v[N_NAME]) {
        nea_err_at(c, node, "%s is required", p_name);
        ok = false;
    } else if (!(s = nea_get_str(c, v[N_NAME], p_name, 64))) {
        ok = false;
    } else if (!nea_valid_ident(s, 48)) {
        nea_err_at(c, v[N_NAME], "%s \"%s\" must be 1-48 lower-case letters, digits and "
                   "'-', starting with a letter or digit", p_name, s);
        ok = false;
    } else {
        t->name = nea_xstrdup(s);
    }
    NEA_AUTOFREE char *p_gw = nea_xasprintf("%s.gateway", path);
    if (!v[N_GW]) {
        nea_err_at(c, node, "%s is required (the IPv4 address of the network's default "
                   "gateway, with its prefix length)", p_gw);
        ok = false;
    } else {
        ok &= read_gateway(c, v[N_GW], p_gw, AF_INET, &t->gw4, &t->prefix4);
    }
    if (v[N_GW6]) {
        NEA_AUTOFREE char *p_gw6 = nea_xasprintf("%s.gateway6", path);
        t->has_v6 = read_gateway(c, v[N_GW6], p_gw6, AF_INET6, &t->gw6, &t->prefix6);
        ok &= t->has_v6;
    }
    if (v[N_INTERNET]) {
        NEA_AUTOFREE char *p_inet = nea_xasprintf("%s.internet", path);
        ok &= nea_get_bool(c, v[N_INTERNET], p_inet, &t->internet);
    }
    return ok;
}

void nea_read_tnets(struct nea_schema *c, const struct nea_ynode *node,
                    const struct nea_ynode *root, struct nea_spec *s)
{
    (void)root;
    if (!node || nea_ynode_is_null(node))
        return;
    if (node->type != NEA_Y_SEQ) {
        nea_err_at(c, node, "networks must be a list of tenant networks, found %s",
                   nea_ynode_type_name(node));
        return;
    }
    if (node->n == 0)
        return;
    const struct nea_plan *plan = s->plan;
    if (plan && plan->tnet.mode == NEA_TNET_NONE) {
        nea_err_at(c, node, "networks: hardware plan %s has no tenant-networks section, "
                   "so it cannot give this appliance tenant networks", plan->name);
        return;
    }
    if (plan && node->n > plan->tnet.max_networks) {
        nea_err_at(c, node, "networks lists %zu networks, hardware plan %s allows at most "
                   "%u (tenant-networks.max-networks)", node->n, plan->name,
                   plan->tnet.max_networks);
        return;
    }
    if (node->n > NEA_MAX_TENANT_NETS) {
        nea_err_at(c, node, "networks lists %zu networks, the limit is %d", node->n,
                   NEA_MAX_TENANT_NETS);
        return;
    }
    s->tnets = nea_xcalloc(node->n, sizeof(*s->tnets));
    for (size_t i = 0; i < node->n; i++) {
        struct nea_tnet t = {0};
        const struct nea_ynode *item = node->items[i];
        if (!read_one(c, item, i, &t)) {
            free(t.name);
            continue;
        }
        char a[64], b[64];
        bool bad = false;
        for (size_t j = 0; j < s->n_tnets && !bad; j++) {
            const struct nea_tnet *o = &s->tnets[j];
            if (!strcmp(o->name, t.name)) {
                nea_err_at(c, item, "networks[%zu].name \"%s\" is used twice: network "
                           "names must be unique", i, t.name);
                bad = true;
            } else if (overlap(&t.gw4, t.prefix4, &o->gw4, o->prefix4)) {
                subnet_text(&t.gw4, t.prefix4, a, sizeof(a));
                subnet_text(&o->gw4, o->prefix4, b, sizeof(b));
                nea_err_at(c, item, "networks[%zu].gateway: %s (network %s) overlaps %s "
                           "(network %s)", i, a, t.name, b, o->name);
                bad = true;
            } else if (t.has_v6 && o->has_v6 &&
                       overlap(&t.gw6, t.prefix6, &o->gw6, o->prefix6)) {
                subnet_text(&t.gw6, t.prefix6, a, sizeof(a));
                subnet_text(&o->gw6, o->prefix6, b, sizeof(b));
                nea_err_at(c, item, "networks[%zu].gateway6: %s (network %s) overlaps %s "
                           "(network %s)", i, a, t.name, b, o->name);
                bad = true;
            }
        }
        /* the external side: the appliance could not tell a replica from a
         * neighbour on the SP's network */
        bad = bad || external_overlap(c, item, i, &t, s);
        if (bad) {
            free(t.name);
            continue;
        }
        t.slot = (unsigned)s->n_tnets;
        s->tnets[s->n_tnets++] = t;
    }
}

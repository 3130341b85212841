/*
 * nea_spec_ip.c: the appliance's address blocks, appliance.ipv4 and
 * appliance.ipv6.
 *
 * One reader serves both families; what differs between them (field names,
 * modes, prefix bounds, whether a netmask may stand for the prefix, whether
 * the gateway may be link-local) is a row of the family table below, so a
 * rule is written once and holds for both.  Must not read anything but the
 * block it is given.
 */
#include <arpa/inet.h>
#include <stdio.h>

#include "nea_spec_int.h"
#include "nea_util.h"

/* A block's fields; a family lacks those whose key is NULL. */
enum field { F_MODE, F_ADDRESS, F_NETMASK, F_PREFIX, F_GATEWAY, F_N };

struct family {
    int af;
    const char *path;                   /* the block's field path */
    const char *keys[F_N];              /* in the order the messages list them */
    bool static_requires[F_N];          /* what mode static cannot do without */
    const char *const *modes;           /* the mode enum's words */
    size_t n_modes;
    int absent_mode;                    /* when the block is not given */
    int static_mode;
    unsigned prefix_max;                /* the prefix is 1..prefix_max */
    unsigned failover_prefix;           /* warn for another prefix; 0: never */
    bool gateway_link_local;            /* the gateway may be in fe80::/10 */
};

static const struct family ipv4 = {
    .af = AF_INET,
    .path = "appliance.ipv4",
    .keys = {[F_MODE] = "mode", [F_ADDRESS] = "address", [F_NETMASK] = "netmask",
             [F_PREFIX] = "prefix", [F_GATEWAY] = "gateway"},
    /* the prefix may come from the netmask instead: see read_prefix() */
    .static_requires = {[F_ADDRESS] = true, [F_GATEWAY] = true},
    .modes = nea_v4_mode_names,
    .n_modes = NEA_ARRAY_SIZE(nea_v4_mode_names),
    .absent_mode = NEA_V4_DHCP,
    .static_mode = NEA_V4_STATIC,
    .prefix_max = 31,
};

static const struct family ipv6 = {
    .af = AF_INET6,
    .path = "appliance.ipv6",
    .keys = {[F_MODE] = "mode", [F_ADDRESS] = "address", [F_PREFIX] = "prefix",
             [F_GATEWAY] = "gateway"},
    .static_requires = {[F_ADDRESS] = true, [F_PREFIX] = true, [F_GATEWAY] = true},
    .modes = nea_v6_mode_names,
    .n_modes = NEA_ARRAY_SIZE(nea_v6_mode_names),
    .absent_mode = NEA_V6_DISABLED,
    .static_mode = NEA_V6_STATIC,
    .prefix_max = 127,
    .failover_prefix = 64,
    .gateway_link_local = true,
};

/* What one block is read into; the callers copy it into the model. */
struct block {
    int mode;
    struct nea_ip address, gateway;
    unsigned prefix;
};

/* The fields of a block as read, and their paths for messages. */
struct fields {
    const struct nea_ynode *v[F_N];
    char path[F_N][32];
};

static void fmt_net(const struct nea_ip *ip, unsigned prefix, char *out, size_t len)
{
    struct nea_ip net;
    char a[NEA_IP_STRLEN];
    nea_ip_network(ip, prefix, &net);
    nea_ip_format(&net, a);
    snprintf(out, len, "%s/%u", a, prefix);
}

/* A usable host address of the subnet; returns false on error. */
static bool check_host_address(struct nea_schema *c, const struct nea_ynode *n,
                               const char *path, const struct nea_ip *ip,
                               unsigned prefix)
{
    char a[NEA_IP_STRLEN], net[NEA_IP_STRLEN + 16];
    nea_ip_format(ip, a);
    enum nea_ip_kind k = nea_ip_kind(ip);
    if (k != NEA_IP_UNICAST) {
        nea_err_at(c, n, "%s %s is %s, not a usable host address", path, a,
                   nea_ip_kind_name(k));
        return false;
    }
    unsigned bits = nea_ip_bits(ip->family);
    if (prefix == 0 || prefix >= bits - 1)
        return true; /* /31 and /127 have no network/broadcast addresses */
    struct nea_ip edge;
    fmt_net(ip, prefix, net, sizeof(net));
    nea_ip_network(ip, prefix, &edge);
    if (nea_ip_equal(&edge, ip)) {
        nea_err_at(c, n, "%s %s is the %s address of %s, not a host address", path, a,
                   ip->family == AF_INET ? "network" : "subnet-router anycast", net);
        return false;
    }
    nea_ip_broadcast(ip, prefix, &edge);
    if (ip->family == AF_INET && nea_ip_equal(&edge, ip)) {
        nea_err_at(c, n, "%s %s is the broadcast address of %s, not a host address",
                   path, a, net);
        return false;
    }
    return true;
}

/* The prefix of a static block, from its prefix or its netmask. */
static bool read_prefix(struct nea_schema *c, const struct nea_ynode *node,
                        const struct family *fam, const struct fields *f,
                        unsigned *ret)
{
    const struct nea_ynode *mask = f->v[F_NETMASK], *prefix = f->v[F_PREFIX];
    if (mask && prefix) {
        nea_err_at(c, prefix, "%s and %s are both given; give exactly one of the two",
                   f->path[F_PREFIX], f->path[F_NETMASK]);
        return false;
    }
    if (prefix)
        return nea_get_uint(c, prefix, f->path[F_PREFIX], 1, fam->prefix_max, ret);
    if (!mask) {
        if (fam->keys[F_NETMASK])
            nea_err_at(c, node, "%s needs a netmask or a prefix when mode is static",
                       fam->path);
        return false; /* else already reported as required */
    }
    struct nea_ip ip;
    if (!nea_get_ip(c, mask, f->path[F_NETMASK], fam->af, &ip))
        return false;
    int p = nea_netmask_prefix(&ip);
    if (p < 0) {
        nea_err_at(c, mask, "%s %s is not a contiguous netmask", f->path[F_NETMASK],
                   mask->value);
        return false;
    }
    if (p == 0 || (unsigned)p > fam->prefix_max) {
        nea_err_at(c, mask, "%s %s (/%d) leaves no room for an address and a gateway",
                   f->path[F_NETMASK], mask->value, p);
        return false;
    }
    *ret = (unsigned)p;
    return true;
}

static void read_gateway(struct nea_schema *c, const struct family *fam,
                         const struct fields *f, const struct block *b)
{
    const struct nea_ynode *n = f->v[F_GATEWAY];
    const char *path = f->path[F_GATEWAY];
    char gw[NEA_IP_STRLEN], net[NEA_IP_STRLEN + 16];
    nea_ip_format(&b->gateway, gw);
    fmt_net(&b->address, b->prefix, net, sizeof(net));
    enum nea_ip_kind k = nea_ip_kind(&b->gateway);
    bool ll = fam->gateway_link_local && k == NEA_IP_LINK_LOCAL;
    if (k != NEA_IP_UNICAST && !ll)
        nea_err_at(c, n, "%s %s is %s, not a usable gateway", path, gw,
                   nea_ip_kind_name(k));
    else if (!ll && !nea_ip_in_subnet(&b->gateway, &b->address, b->prefix)) {
        if (fam->gateway_link_local)
            nea_err_at(c, n, "%s %s is neither inside %s nor link-local (fe80::/10)",
                       path, gw, net);
        else
            nea_err_at(c, n, "%s %s is not inside %s", path, gw, net);
    } else if (nea_ip_equal(&b->gateway, &b->address))
        nea_err_at(c, n, "%s %s is the appliance's own address", path, gw);
    else if (!ll)
        check_host_address(c, n, path, &b->gateway, b->prefix);
}

static void read_static(struct nea_schema *c, const struct nea_ynode *node,
                        const struct family *fam, const struct fields *f,
                        struct block *b)
{
    if (b->mode != fam->static_mode) {
        for (int i = F_ADDRESS; i < F_N; i++)
            if (f->v[i])
                nea_err_at(c, f->v[i], "%s is not allowed when %s is %s", f->path[i],
                           f->path[F_MODE], fam->modes[b->mode]);
        return;
    }
    for (int i = F_ADDRESS; i < F_N; i++)
        if (fam->static_requires[i] && !f->v[i])
            nea_err_at(c, node, "%s is required when %s is static", f->path[i],
                       f->path[F_MODE]);
    bool have_prefix = read_prefix(c, node, fam, f, &b->prefix);
    if (have_prefix && fam->failover_prefix && b->prefix != fam->failover_prefix)
        nea_warn_at(c, f->v[F_PREFIX], "%s /%u: failover through the appliance is "
                    "supported on /%u networks only", f->path[F_PREFIX], b->prefix,
                    fam->failover_prefix);
    bool have_addr = f->v[F_ADDRESS] && nea_get_ip(c, f->v[F_ADDRESS],
                                                   f->path[F_ADDRESS], fam->af,
                                                   &b->address);
    bool have_gw = f->v[F_GATEWAY] && nea_get_ip(c, f->v[F_GATEWAY], f->path[F_GATEWAY],
                                                 fam->af, &b->gateway);
    if (!have_prefix)
        return;
    if (have_addr && !check_host_address(c, f->v[F_ADDRESS], f->path[F_ADDRESS],
                                         &b->address, b->prefix))
        have_addr = false;
    if (have_gw && have_addr)
        read_gateway(c, fam, f, b);
}

/* "disabled, dhcp or static" */
static void mode_list(const struct family *fam, char *out, size_t len)
{
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < fam->n_modes && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, "%s%s",
                                !i ? "" : i + 1 < fam->n_modes ? ", " : " or ",
                                fam->modes[i]);
}

static bool read_block(struct nea_schema *c, const struct nea_ynode *node,
                       const struct family *fam, struct block *b)
{
    b->mode = fam->absent_mode;
    if (!node)
        return true;
    /* the family's fields, without those it lacks */
    struct fields f = {0};
    const char *keys[F_N];
    const struct nea_ynode *vals[F_N];
    enum field at[F_N];
    size_t n = 0;
    for (int i = 0; i < F_N; i++) {
        if (!fam->keys[i])
            continue;
        snprintf(f.path[i], sizeof(f.path[i]), "%s.%s", fam->path, fam->keys[i]);
        keys[n] = fam->keys[i];
        at[n++] = (enum field)i;
    }
    if (!nea_read_map(c, node, fam->path, keys, n, vals))
        return false;
    for (size_t i = 0; i < n; i++)
        f.v[at[i]] = vals[i];
    if (!f.v[F_MODE]) {
        char modes[64];
        mode_list(fam, modes, sizeof(modes));
        nea_err_at(c, node, "%s is required (%s)", f.path[F_MODE], modes);
        return false;
    }
    int m = nea_get_enum(c, f.v[F_MODE], f.path[F_MODE], fam->modes, fam->n_modes);
    if (m < 0)
        return false;
    b->mode = m;
    read_static(c, node, fam, &f, b);
    return true;
}

bool nea_read_ipv4(struct nea_schema *c, const struct nea_ynode *node,
                   struct nea_ipv4 *out)
{
    struct block b = {(int)out->mode, out->address, out->gateway, out->prefix};
    bool ok = read_block(c, node, &ipv4, &b);
    *out = (struct nea_ipv4){(enum nea_v4_mode)b.mode, b.address, b.gateway, b.prefix};
    return ok;
}

bool nea_read_ipv6(struct nea_schema *c, const struct nea_ynode *node,
                   struct nea_ipv6 *out)
{
    struct block b = {(int)out->mode, out->address, out->gateway, out->prefix};
    bool ok = read_block(c, node, &ipv6, &b);
    *out = (struct nea_ipv6){(enum nea_v6_mode)b.mode, b.address, b.gateway, b.prefix};
    return ok;
}

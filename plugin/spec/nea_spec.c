/*
 * nea_spec.c: validation of appliance specs and hardware plans.
 *
 * Walks the nea_ytree of a file against the schema written out below, field
 * by field, and keeps going after a problem so that one run reports all of
 * them.  Derived values (default name, MAC, UUID, the spec hash) are filled
 * in only once the input is known good.  Must not touch libvirt, the
 * filesystem beyond reading the spec and its plan, or print anything.
 */
#include "nea_spec.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nea_uri.h"
#include "nea_util.h"
#include "nea_ytree.h"

#define NEA_PLAN_MAX_BYTES (64 * 1024)

struct ctx {
    const char *file;
    struct nea_diags *d;
};

__attribute__((format(printf, 3, 4))) static void
err_at(struct ctx *c, const struct nea_ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    NEA_AUTOFREE char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        abort();
    va_end(ap);
    nea_diags_add(c->d, NEA_DIAG_ERROR, c->file, n ? n->line : 0, n ? n->col : 0,
                  "%s", text);
}

__attribute__((format(printf, 3, 4))) static void
warn_at(struct ctx *c, const struct nea_ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    NEA_AUTOFREE char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        abort();
    va_end(ap);
    nea_diags_add(c->d, NEA_DIAG_WARNING, c->file, n ? n->line : 0, n ? n->col : 0,
                  "%s", text);
}

static char *join_path(const char *path, const char *key)
{
    return *path ? nea_xasprintf("%s.%s", path, key) : nea_xstrdup(key);
}

/*
 * Checks that node is a mapping whose keys are all in allowed[] and none is
 * repeated; vals[i] receives the value of allowed[i] or NULL.  Returns false
 * when node is not a mapping at all.
 */
static bool read_map(struct ctx *c, const struct nea_ynode *node, const char *path,
                     const char *const *allowed, size_t n_allowed,
                     const struct nea_ynode **vals)
{
    for (size_t i = 0; i < n_allowed; i++)
        vals[i] = NULL;
    if (node->type != NEA_Y_MAP) {
        err_at(c, node, "%s must be a mapping, found %s", *path ? path : "the document",
               nea_ynode_type_name(node));
        return false;
    }
    const struct nea_ynode *keys_seen[64] = {0};
    for (size_t k = 0; k < node->n; k++) {
        const struct nea_ynode *key = node->keys[k];
        size_t i;
        for (i = 0; i < n_allowed; i++)
            if (!strcmp(key->value, allowed[i]))
                break;
        NEA_AUTOFREE char *fp = join_path(path, key->value);
        if (i == n_allowed) {
            char list[512] = "";
            size_t off = 0;
            for (size_t j = 0; j < n_allowed && off < sizeof(list); j++)
                off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
                                        j ? ", " : "", allowed[j]);
            err_at(c, key, "%s is not a known field (known here: %s)", fp, list);
            continue;
        }
        if (keys_seen[i]) {
            err_at(c, key, "%s is given twice (first on line %u)", fp,
                   keys_seen[i]->line);
            continue;
        }
        keys_seen[i] = key;
        vals[i] = node->items[k];
    }
    return true;
}

/* A non-empty string scalar of at most maxlen bytes, or NULL (with an error). */
static const char *get_str(struct ctx *c, const struct nea_ynode *n, const char *path,
                           size_t maxlen)
{
    if (n->type != NEA_Y_SCALAR || nea_ynode_is_null(n)) {
        err_at(c, n, "%s must be a string, found %s", path, nea_ynode_type_name(n));
        return NULL;
    }
    if (n->len == 0) {
        err_at(c, n, "%s must not be empty", path);
        return NULL;
    }
    if (n->len > maxlen) {
        err_at(c, n, "%s is %zu characters long, the limit is %zu", path, n->len,
               maxlen);
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *)n->value; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            err_at(c, n, "%s contains a control character", path);
            return NULL;
        }
    return n->value;
}

/* An unquoted decimal integer in [min, max]. */
static bool get_uint(struct ctx *c, const struct nea_ynode *n, const char *path,
                     unsigned min, unsigned max, unsigned *ret)
{
    if (n->type != NEA_Y_SCALAR || !n->plain || nea_ynode_is_null(n) || n->len == 0) {
        err_at(c, n, "%s must be a whole number from %u to %u, found %s", path, min,
               max, n->type == NEA_Y_SCALAR && !nea_ynode_is_null(n)
                        ? "a quoted string" : nea_ynode_type_name(n));
        return false;
    }
    unsigned long long v = 0;
    for (const char *p = n->value; *p; p++) {
        if (!isdigit((unsigned char)*p)) {
            err_at(c, n, "%s must be a whole number from %u to %u, found \"%s\"",
                   path, min, max, n->value);
            return false;
        }
        v = v * 10 + (unsigned)(*p - '0');
        if (v > 0xffffffffULL)
            break;
    }
    if (v < min || v > max) {
        err_at(c, n, "%s %s is out of range: allowed are %u to %u", path, n->value,
               min, max);
        return false;
    }
    *ret = (unsigned)v;
    return true;
}

/* One of names[]; returns the index or -1. */
static int get_enum(struct ctx *c, const struct nea_ynode *n, const char *path,
                    const char *const *names, size_t n_names)
{
    const char *s = get_str(c, n, path, 64);
    if (!s)
        return -1;
    for (size_t i = 0; i < n_names; i++)
        if (!strcmp(s, names[i]))
            return (int)i;
    char list[256] = "";
    size_t off = 0;
    for (size_t j = 0; j < n_names && off < sizeof(list); j++)
        off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
                                j ? ", " : "", names[j]);
    err_at(c, n, "%s \"%s\" is not one of: %s", path, s, list);
    return -1;
}

static bool is_lower_alnum(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* [a-z0-9][a-z0-9-]* up to maxlen; used for tenants and plan names. */
static bool valid_ident(const char *s, size_t maxlen)
{
    size_t n = strlen(s);
    if (n == 0 || n > maxlen || !is_lower_alnum((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_lower_alnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

/* An RFC 1123 host label, lower case: also a safe libvirt domain name. */
static bool valid_hostname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    if (!is_lower_alnum((unsigned char)s[0]) || !is_lower_alnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

/* Linux interface names: 1..15 bytes, no '/', ':' or whitespace. */
static bool valid_ifname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15 || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (const char *p = s; *p; p++)
        if (*p == '/' || *p == ':' || isspace((unsigned char)*p) ||
            !isprint((unsigned char)*p))
            return false;
    return true;
}

/* libvirt object names (networks, pools): no '/', printable, bounded. */
static bool valid_libvirt_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (*p == '/' || isspace((unsigned char)*p) || !isprint((unsigned char)*p))
            return false;
    return true;
}

bool nea_parse_mac(const char *s, uint8_t mac[6])
{
    if (strlen(s) != 17)
        return false;
    for (int i = 0; i < 6; i++) {
        const char *p = s + 3 * i;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
            return false;
        if (i < 5 && p[2] != ':')
            return false;
        char hex[3] = {p[0], p[1], 0};
        mac[i] = (uint8_t)strtoul(hex, NULL, 16);
    }
    return true;
}

bool nea_parse_uuid(const char *s, uint8_t uuid[16])
{
    if (strlen(s) != 36)
        return false;
    int j = 0;
    for (int i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            i++;
            continue;
        }
        if (!isxdigit((unsigned char)s[i]) || !isxdigit((unsigned char)s[i + 1]))
            return false;
        char hex[3] = {s[i], s[i + 1], 0};
        uuid[j++] = (uint8_t)strtoul(hex, NULL, 16);
        i += 2;
    }
    return true;
}

static const char *family_name(int family)
{
    return family == AF_INET ? "IPv4" : "IPv6";
}

/* An address literal of the wanted family.  A prefix written into the
 * address ("192.0.2.10/24") gets its own message, since it is the most common
 * slip. */
static bool get_ip(struct ctx *c, const struct nea_ynode *n, const char *path,
                   int family, struct nea_ip *ret)
{
    const char *s = get_str(c, n, path, 64);
    if (!s)
        return false;
    if (strchr(s, '/')) {
        err_at(c, n, "%s \"%s\" must be a bare address; give the prefix length in "
               "its own field", path, s);
        return false;
    }
    struct nea_ip ip;
    int f = nea_ip_parse(s, &ip);
    if (f < 0) {
        err_at(c, n, "%s \"%s\" is not a valid %s address", path, s,
               family ? family_name(family) : "IP");
        return false;
    }
    if (family && f != family) {
        err_at(c, n, "%s %s is an %s address, expected %s", path, s, family_name(f),
               family_name(family));
        return false;
    }
    *ret = ip;
    return true;
}

static void fmt_net(const struct nea_ip *ip, unsigned prefix, char *out, size_t len)
{
    struct nea_ip net;
    char a[NEA_IP_STRLEN];
    nea_ip_network(ip, prefix, &net);
    nea_ip_format(&net, a);
    snprintf(out, len, "%s/%u", a, prefix);
}

/* Host address checks shared by both families; returns false on error. */
static bool check_host_address(struct ctx *c, const struct nea_ynode *n,
                               const char *path, const struct nea_ip *ip,
                               unsigned prefix, bool allow_link_local)
{
    char a[NEA_IP_STRLEN], net[NEA_IP_STRLEN + 16];
    nea_ip_format(ip, a);
    enum nea_ip_kind k = nea_ip_kind(ip);
    if (k != NEA_IP_UNICAST && !(allow_link_local && k == NEA_IP_LINK_LOCAL)) {
        err_at(c, n, "%s %s is %s, not a usable host address", path, a,
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
        err_at(c, n, "%s %s is the %s address of %s, not a host address", path, a,
               ip->family == AF_INET ? "network" : "subnet-router anycast", net);
        return false;
    }
    nea_ip_broadcast(ip, prefix, &edge);
    if (ip->family == AF_INET && nea_ip_equal(&edge, ip)) {
        err_at(c, n, "%s %s is the broadcast address of %s, not a host address",
               path, a, net);
        return false;
    }
    return true;
}

static void read_ipv4_static(struct ctx *c, const struct nea_ynode *node,
                             const struct nea_ynode **v, struct nea_ipv4 *out);
static void read_ipv6_static(struct ctx *c, const struct nea_ynode *node,
                             const struct nea_ynode **v, struct nea_ipv6 *out);

static const char *const v4_modes[] = {"disabled", "dhcp", "static"};
static const char *const v6_modes[] = {"disabled", "auto", "dhcp", "static"};

enum { V4_MODE, V4_ADDRESS, V4_NETMASK, V4_PREFIX, V4_GATEWAY, V4_N };
static const char *const v4_keys[] = {"mode", "address", "netmask", "prefix",
                                      "gateway"};

/* Returns whether the mode was read (so that "both disabled" is judged only
 * on modes actually given). */
static bool read_ipv4(struct ctx *c, const struct nea_ynode *node, struct nea_ipv4 *out)
{
    const struct nea_ynode *v[V4_N];
    out->mode = NEA_V4_DHCP;
    if (!node)
        return true;
    if (!read_map(c, node, "appliance.ipv4", v4_keys, V4_N, v))
        return false;
    if (!v[V4_MODE]) {
        err_at(c, node, "appliance.ipv4.mode is required (disabled, dhcp or static)");
        return false;
    }
    int m = get_enum(c, v[V4_MODE], "appliance.ipv4.mode", v4_modes,
                     NEA_ARRAY_SIZE(v4_modes));
    if (m < 0)
        return false;
    out->mode = (enum nea_v4_mode)m;
    read_ipv4_static(c, node, v, out);
    return true;
}

static void read_ipv4_static(struct ctx *c, const struct nea_ynode *node,
                             const struct nea_ynode **v, struct nea_ipv4 *out)
{
    int m = (int)out->mode;
    if (out->mode != NEA_V4_STATIC) {
        for (int i = V4_ADDRESS; i < V4_N; i++)
            if (v[i])
                err_at(c, v[i], "appliance.ipv4.%s is not allowed when "
                       "appliance.ipv4.mode is %s", v4_keys[i], v4_modes[m]);
        return;
    }
    static const char *const req[] = {[V4_ADDRESS] = "address",
                                      [V4_GATEWAY] = "gateway"};
    for (int i = V4_ADDRESS; i < V4_N; i++)
        if (req[i] && !v[i])
            err_at(c, node, "appliance.ipv4.%s is required when appliance.ipv4.mode "
                   "is static", req[i]);
    bool have_prefix = false;
    if (v[V4_NETMASK] && v[V4_PREFIX]) {
        err_at(c, v[V4_PREFIX], "appliance.ipv4.prefix and appliance.ipv4.netmask "
               "are both given; give exactly one of the two");
    } else if (v[V4_NETMASK]) {
        struct nea_ip mask;
        if (get_ip(c, v[V4_NETMASK], "appliance.ipv4.netmask", AF_INET, &mask)) {
            int p = nea_netmask_prefix(&mask);
            if (p < 0)
                err_at(c, v[V4_NETMASK], "appliance.ipv4.netmask %s is not a "
                       "contiguous netmask", v[V4_NETMASK]->value);
            else if (p == 0 || p == 32)
                err_at(c, v[V4_NETMASK], "appliance.ipv4.netmask %s (/%d) leaves no "
                       "room for an address and a gateway", v[V4_NETMASK]->value, p);
            else {
                out->prefix = (unsigned)p;
                have_prefix = true;
            }
        }
    } else if (v[V4_PREFIX]) {
        if (get_uint(c, v[V4_PREFIX], "appliance.ipv4.prefix", 1, 31, &out->prefix))
            have_prefix = true;
    } else {
        err_at(c, node, "appliance.ipv4 needs a netmask or a prefix when mode is "
               "static");
    }
    bool have_addr = v[V4_ADDRESS] && get_ip(c, v[V4_ADDRESS], "appliance.ipv4.address",
                                             AF_INET, &out->address);
    bool have_gw = v[V4_GATEWAY] && get_ip(c, v[V4_GATEWAY], "appliance.ipv4.gateway",
                                           AF_INET, &out->gateway);
    if (!have_prefix)
        return;
    if (have_addr && !check_host_address(c, v[V4_ADDRESS], "appliance.ipv4.address",
                                         &out->address, out->prefix, false))
        have_addr = false;
    if (!have_gw || !have_addr)
        return;
    char gw[NEA_IP_STRLEN], net[NEA_IP_STRLEN + 16];
    nea_ip_format(&out->gateway, gw);
    fmt_net(&out->address, out->prefix, net, sizeof(net));
    enum nea_ip_kind k = nea_ip_kind(&out->gateway);
    if (k != NEA_IP_UNICAST)
        err_at(c, v[V4_GATEWAY], "appliance.ipv4.gateway %s is %s, not a usable "
               "gateway", gw, nea_ip_kind_name(k));
    else if (!nea_ip_in_subnet(&out->gateway, &out->address, out->prefix))
        err_at(c, v[V4_GATEWAY], "appliance.ipv4.gateway %s is not inside %s", gw, net);
    else if (nea_ip_equal(&out->gateway, &out->address))
        err_at(c, v[V4_GATEWAY], "appliance.ipv4.gateway %s is the appliance's own "
               "address", gw);
    else
        check_host_address(c, v[V4_GATEWAY], "appliance.ipv4.gateway", &out->gateway,
                           out->prefix, false);
}

enum { V6_MODE, V6_ADDRESS, V6_PREFIX, V6_GATEWAY, V6_N };
static const char *const v6_keys[] = {"mode", "address", "prefix", "gateway"};

static bool read_ipv6(struct ctx *c, const struct nea_ynode *node, struct nea_ipv6 *out)
{
    const struct nea_ynode *v[V6_N];
    out->mode = NEA_V6_DISABLED;
    if (!node)
        return true;
    if (!read_map(c, node, "appliance.ipv6", v6_keys, V6_N, v))
        return false;
    if (!v[V6_MODE]) {
        err_at(c, node, "appliance.ipv6.mode is required (disabled, auto, dhcp or "
               "static)");
        return false;
    }
    int m = get_enum(c, v[V6_MODE], "appliance.ipv6.mode", v6_modes,
                     NEA_ARRAY_SIZE(v6_modes));
    if (m < 0)
        return false;
    out->mode = (enum nea_v6_mode)m;
    read_ipv6_static(c, node, v, out);
    return true;
}

static void read_ipv6_static(struct ctx *c, const struct nea_ynode *node,
                             const struct nea_ynode **v, struct nea_ipv6 *out)
{
    int m = (int)out->mode;
    if (out->mode != NEA_V6_STATIC) {
        for (int i = V6_ADDRESS; i < V6_N; i++)
            if (v[i])
                err_at(c, v[i], "appliance.ipv6.%s is not allowed when "
                       "appliance.ipv6.mode is %s", v6_keys[i], v6_modes[m]);
        return;
    }
    for (int i = V6_ADDRESS; i < V6_N; i++)
        if (!v[i])
            err_at(c, node, "appliance.ipv6.%s is required when appliance.ipv6.mode "
                   "is static", v6_keys[i]);
    bool have_prefix = v[V6_PREFIX] && get_uint(c, v[V6_PREFIX], "appliance.ipv6.prefix",
                                                1, 127, &out->prefix);
    if (have_prefix && out->prefix != 64)
        warn_at(c, v[V6_PREFIX], "appliance.ipv6.prefix /%u: failover through the "
                "appliance is supported on /64 networks only", out->prefix);
    bool have_addr = v[V6_ADDRESS] && get_ip(c, v[V6_ADDRESS], "appliance.ipv6.address",
                                             AF_INET6, &out->address);
    bool have_gw = v[V6_GATEWAY] && get_ip(c, v[V6_GATEWAY], "appliance.ipv6.gateway",
                                           AF_INET6, &out->gateway);
    if (!have_prefix)
        return;
    if (have_addr && !check_host_address(c, v[V6_ADDRESS], "appliance.ipv6.address",
                                         &out->address, out->prefix, false))
        have_addr = false;
    if (!have_gw || !have_addr)
        return;
    char gw[NEA_IP_STRLEN], net[NEA_IP_STRLEN + 16];
    nea_ip_format(&out->gateway, gw);
    fmt_net(&out->address, out->prefix, net, sizeof(net));
    enum nea_ip_kind k = nea_ip_kind(&out->gateway);
    bool ll = k == NEA_IP_LINK_LOCAL;
    if (k != NEA_IP_UNICAST && !ll)
        err_at(c, v[V6_GATEWAY], "appliance.ipv6.gateway %s is %s, not a usable "
               "gateway", gw, nea_ip_kind_name(k));
    else if (!ll && !nea_ip_in_subnet(&out->gateway, &out->address, out->prefix))
        err_at(c, v[V6_GATEWAY], "appliance.ipv6.gateway %s is neither inside %s nor "
               "link-local (fe80::/10)", gw, net);
    else if (nea_ip_equal(&out->gateway, &out->address))
        err_at(c, v[V6_GATEWAY], "appliance.ipv6.gateway %s is the appliance's own "
               "address", gw);
    else if (!ll)
        check_host_address(c, v[V6_GATEWAY], "appliance.ipv6.gateway", &out->gateway,
                           out->prefix, false);
}

static void read_dns(struct ctx *c, const struct nea_ynode *node, struct nea_spec *s)
{
    if (!node)
        return;
    if (node->type != NEA_Y_SEQ) {
        err_at(c, node, "appliance.dns must be a list of addresses, found %s",
               nea_ynode_type_name(node));
        return;
    }
    if (node->n > NEA_MAX_DNS)
        err_at(c, node, "appliance.dns lists %zu servers, the limit is %d", node->n,
               NEA_MAX_DNS);
    for (size_t i = 0; i < node->n && s->n_dns < NEA_MAX_DNS; i++) {
        NEA_AUTOFREE char *path = nea_xasprintf("appliance.dns[%zu]", i);
        struct nea_ip ip;
        if (!get_ip(c, node->items[i], path, 0, &ip))
            continue;
        enum nea_ip_kind k = nea_ip_kind(&ip);
        if (k != NEA_IP_UNICAST) {
            err_at(c, node->items[i], "%s %s is %s, not a usable DNS server", path,
                   node->items[i]->value, nea_ip_kind_name(k));
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < s->n_dns; j++)
            dup |= nea_ip_equal(&s->dns[j], &ip);
        if (dup) {
            err_at(c, node->items[i], "%s %s is listed twice", path,
                   node->items[i]->value);
            continue;
        }
        if ((ip.family == AF_INET && s->ipv4.mode == NEA_V4_DISABLED) ||
            (ip.family == AF_INET6 && s->ipv6.mode == NEA_V6_DISABLED))
            warn_at(c, node->items[i], "%s %s is an %s server but %s is disabled on "
                    "the appliance", path, node->items[i]->value,
                    family_name(ip.family),
                    ip.family == AF_INET ? "IPv4" : "IPv6");
        s->dns[s->n_dns++] = ip;
    }
}

static void read_ssh_keys(struct ctx *c, const struct nea_ynode *node,
                          struct nea_spec *s)
{
    if (!node)
        return;
    if (node->type != NEA_Y_SEQ) {
        err_at(c, node, "appliance.ssh-authorized-keys must be a list, found %s",
               nea_ynode_type_name(node));
        return;
    }
    if (node->n > NEA_MAX_SSH_KEYS)
        err_at(c, node, "appliance.ssh-authorized-keys lists %zu keys, the limit is "
               "%d", node->n, NEA_MAX_SSH_KEYS);
    static const char *const types[] = {"ssh-ed25519 ", "ssh-rsa ",
                                        "ecdsa-sha2-nistp256 ", "ecdsa-sha2-nistp384 ",
                                        "ecdsa-sha2-nistp521 ",
                                        "sk-ssh-ed25519@openssh.com ",
                                        "sk-ecdsa-sha2-nistp256@openssh.com "};
    for (size_t i = 0; i < node->n && s->n_ssh_keys < NEA_MAX_SSH_KEYS; i++) {
        NEA_AUTOFREE char *path = nea_xasprintf("appliance.ssh-authorized-keys[%zu]", i);
        const char *k = get_str(c, node->items[i], path, 16384);
        if (!k)
            continue;
        bool ok = false;
        for (size_t t = 0; t < NEA_ARRAY_SIZE(types); t++)
            ok |= nea_str_has_prefix(k, types[t]);
        if (!ok) {
            err_at(c, node->items[i], "%s is not an OpenSSH public key (expected it to "
                   "start with a key type such as ssh-ed25519)", path);
            continue;
        }
        s->ssh_keys[s->n_ssh_keys++] = nea_xstrdup(k);
    }
}

/* ---- hardware plans ---------------------------------------------------- */

static bool parse_network_ref(const char *ref, struct nea_network *out)
{
    const char *name = ref;
    enum nea_net_kind kind = NEA_NET_BRIDGE;
    if (nea_str_has_prefix(ref, "network:")) {
        kind = NEA_NET_LIBVIRT;
        name = ref + strlen("network:");
        if (!valid_libvirt_name(name))
            return false;
    } else {
        if (nea_str_has_prefix(ref, "ovs:")) {
            kind = NEA_NET_OVS;
            name = ref + strlen("ovs:");
        }
        if (!valid_ifname(name))
            return false;
    }
    out->ref = nea_xstrdup(ref);
    out->name = nea_xstrdup(name);
    out->kind = kind;
    return true;
}

enum {
    P_NAME, P_DESC, P_HOST, P_POOL, P_NETWORKS, P_VCPUS, P_MEMORY, P_DISK, P_IMAGE,
    P_IMAGE_SHA, P_MACHINE, P_DOMTYPE, P_KERNEL, P_INITRD, P_CMDLINE, P_CDROM, P_N
};
static const char *const plan_keys[] = {
    "name", "description", "host", "storage-pool", "networks", "vcpus",
    "memory-mib", "disk-gib", "image", "image-sha256", "machine", "domain-type",
    "kernel", "initrd", "cmdline", "cdrom-bus"};
static const char *const domtypes[] = {"auto", "kvm", "qemu"};

static bool is_url(const char *s)
{
    return nea_str_has_prefix(s, "http://") || nea_str_has_prefix(s, "https://") ||
           nea_str_has_prefix(s, "file://");
}

static bool valid_machine(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!is_lower_alnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            return false;
    return true;
}

static void plan_base(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    snprintf(out, len, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot)
        *dot = '\0';
}

static void read_plan_tree(struct ctx *c, const struct nea_ynode *root,
                           struct nea_plan *p)
{
    const struct nea_ynode *v[P_N];
    if (!read_map(c, root, "", plan_keys, P_N, v))
        return;
    static const char *const required[] = {"name", "host", "storage-pool",
                                           "networks", "vcpus", "memory-mib",
                                           "disk-gib", "image"};
    for (size_t r = 0; r < NEA_ARRAY_SIZE(required); r++)
        for (size_t i = 0; i < P_N; i++)
            if (!strcmp(plan_keys[i], required[r]) && !v[i])
                err_at(c, root, "%s is required in a hardware plan", required[r]);

    const char *s;
    if (v[P_NAME] && (s = get_str(c, v[P_NAME], "name", 48))) {
        char base[256];
        plan_base(c->file, base, sizeof(base));
        if (!valid_ident(s, 48))
            err_at(c, v[P_NAME], "name \"%s\" must be lower-case letters, digits and "
                   "'-', starting with a letter or digit", s);
        else if (strcmp(s, base))
            err_at(c, v[P_NAME], "name \"%s\" does not match the file name %s.yaml", s,
                   base);
        else
            p->name = nea_xstrdup(s);
    }
    if (v[P_DESC] && (s = get_str(c, v[P_DESC], "description", 1024)))
        p->description = nea_xstrdup(s);
    if (v[P_HOST] && (s = get_str(c, v[P_HOST], "host", 1024))) {
        /* the URI decides what libvirt runs and reads (nea_uri.h); the
         * message names the URI and the rule, nothing it points to */
        struct nea_err uerr = {0};
        NEA_AUTOFREE char *warning = NULL;
        if (nea_host_uri_check("host", s, &warning, &uerr) < 0) {
            err_at(c, v[P_HOST], "%s", uerr.msg);
        } else {
            if (warning)
                warn_at(c, v[P_HOST], "%s", warning);
            p->host = nea_xstrdup(s);
        }
    }
    if (v[P_POOL] && (s = get_str(c, v[P_POOL], "storage-pool", 64))) {
        if (!valid_libvirt_name(s))
            err_at(c, v[P_POOL], "storage-pool \"%s\" is not a valid libvirt pool "
                   "name", s);
        else
            p->storage_pool = nea_xstrdup(s);
    }
    const struct nea_ynode *nets = v[P_NETWORKS];
    if (nets) {
        if (nets->type != NEA_Y_SEQ || nets->n == 0) {
            err_at(c, nets, "networks must be a non-empty list of external networks, "
                   "found %s", nets->type == NEA_Y_SEQ ? "an empty list"
                                                       : nea_ynode_type_name(nets));
        } else if (nets->n > NEA_MAX_PLAN_NETWORKS) {
            err_at(c, nets, "networks lists %zu entries, the limit is %d", nets->n,
                   NEA_MAX_PLAN_NETWORKS);
        } else {
            p->networks = nea_xcalloc(nets->n, sizeof(*p->networks));
            for (size_t i = 0; i < nets->n; i++) {
                NEA_AUTOFREE char *path = nea_xasprintf("networks[%zu]", i);
                if (!(s = get_str(c, nets->items[i], path, 80)))
                    continue;
                struct nea_network net = {0};
                if (!parse_network_ref(s, &net)) {
                    err_at(c, nets->items[i], "%s \"%s\" is neither a bridge name "
                           "(1-15 characters, no '/', ':' or spaces), \"ovs:BRIDGE\" "
                           "nor \"network:NAME\"", path, s);
                    continue;
                }
                bool dup = false;
                for (size_t j = 0; j < p->n_networks; j++)
                    dup |= !strcmp(p->networks[j].ref, s);
                if (dup) {
                    err_at(c, nets->items[i], "%s \"%s\" is listed twice", path, s);
                    free(net.ref);
                    free(net.name);
                    continue;
                }
                p->networks[p->n_networks++] = net;
            }
        }
    }
    if (v[P_VCPUS])
        get_uint(c, v[P_VCPUS], "vcpus", 1, 64, &p->vcpus);
    if (v[P_MEMORY])
        get_uint(c, v[P_MEMORY], "memory-mib", 128, 1048576, &p->memory_mib);
    if (v[P_DISK])
        get_uint(c, v[P_DISK], "disk-gib", 1, 65536, &p->disk_gib);
    NEA_AUTOFREE char *why = NULL;
    if (v[P_IMAGE] && (s = get_str(c, v[P_IMAGE], "image", 4096))) {
        if (strstr(s, "://") && !is_url(s)) {
            NEA_AUTOFREE char *shown = nea_url_redact(s);
            err_at(c, v[P_IMAGE], "image \"%s\" must be a path or an http://, "
                   "https:// or file:// URL", shown);
        } else if (is_url(s) && (why = nea_url_problem(s))) {
            /* it would be fetched, or shown, as something else than meant */
            err_at(c, v[P_IMAGE], "image URL %s", why);
        } else {
            p->image = nea_xstrdup(s);
            if (s[0] == '/') {
                p->image_path = nea_xstrdup(s);
            } else if (!is_url(s)) {
                /* relative to the plan file, so a plan folder travels whole */
                const char *slash = strrchr(c->file, '/');
                p->image_path = slash ? nea_xasprintf("%.*s/%s", (int)(slash - c->file),
                                                      c->file, s)
                                      : nea_xstrdup(s);
            }
        }
    }
    if (v[P_IMAGE_SHA] && (s = get_str(c, v[P_IMAGE_SHA], "image-sha256", 128))) {
        bool ok = strlen(s) == 64;
        for (const char *q = s; ok && *q; q++)
            ok = isxdigit((unsigned char)*q);
        if (!ok) {
            err_at(c, v[P_IMAGE_SHA], "image-sha256 must be 64 hexadecimal digits");
        } else {
            p->image_sha256 = nea_xstrdup(s);
            for (char *q = p->image_sha256; *q; q++)
                *q = (char)tolower((unsigned char)*q);
        }
    } else if (!v[P_IMAGE_SHA] && p->image && is_url(p->image)) {
        err_at(c, v[P_IMAGE], "image-sha256 is required when image is a URL");
    }
    p->machine = nea_xstrdup("q35");
    if (v[P_MACHINE] && (s = get_str(c, v[P_MACHINE], "machine", 64))) {
        if (!valid_machine(s))
            err_at(c, v[P_MACHINE], "machine \"%s\" is not a QEMU machine type name "
                   "(e.g. q35, pc, pc-q35-7.2)", s);
        else {
            free(p->machine);
            p->machine = nea_xstrdup(s);
        }
    }
    static const char *const boot_keys[] = {[P_KERNEL] = "kernel", [P_INITRD] = "initrd"};
    char **boot_vals[] = {[P_KERNEL] = &p->kernel, [P_INITRD] = &p->initrd};
    for (int k = P_KERNEL; k <= P_INITRD; k++) {
        if (!v[k] || !(s = get_str(c, v[k], boot_keys[k], 4096)))
            continue;
        if (s[0] != '/')
            err_at(c, v[k], "%s \"%s\" must be an absolute path on the KVM host",
                   boot_keys[k], s);
        else
            *boot_vals[k] = nea_xstrdup(s);
    }
    if (v[P_CMDLINE] && (s = get_str(c, v[P_CMDLINE], "cmdline", 1024)))
        p->cmdline = nea_xstrdup(s);
    if ((v[P_INITRD] || v[P_CMDLINE]) && !v[P_KERNEL])
        err_at(c, v[P_INITRD] ? v[P_INITRD] : v[P_CMDLINE], "%s needs kernel (direct "
               "kernel boot)", v[P_INITRD] ? "initrd" : "cmdline");
    static const char *const buses[] = {"sata", "scsi", "ide"};
    if (v[P_CDROM]) {
        int b = get_enum(c, v[P_CDROM], "cdrom-bus", buses, NEA_ARRAY_SIZE(buses));
        if (b >= 0)
            p->cdrom_bus = nea_xstrdup(buses[b]);
    }
    p->domain_type = NEA_DOMTYPE_AUTO;
    if (v[P_DOMTYPE]) {
        int t = get_enum(c, v[P_DOMTYPE], "domain-type", domtypes,
                         NEA_ARRAY_SIZE(domtypes));
        if (t >= 0)
            p->domain_type = (enum nea_domain_type)t;
    }
}

int nea_plan_load_file(const char *path, struct nea_plan **ret_plan,
                       struct nea_diags *diags, struct nea_err *err)
{
    NEA_AUTOFREE char *buf = NULL;
    size_t len = 0;
    int rc = nea_read_file(path, NEA_PLAN_MAX_BYTES, &buf, &len, err);
    if (rc < 0)
        return rc;
    return nea_plan_load_buffer(path, buf, len, ret_plan, diags, err);
}

int nea_plan_load_buffer(const char *path, const char *buf, size_t len,
                         struct nea_plan **ret_plan, struct nea_diags *diags,
                         struct nea_err *err)
{
    if (len > NEA_PLAN_MAX_BYTES)
        return nea_err_set(err, NEA_ERR_INVALID,
                           "%s: plan is larger than the limit of %d bytes", path,
                           NEA_PLAN_MAX_BYTES);
    size_t before = diags->n_errors;
    NEA_AUTO(nea_ynode_freep) struct nea_ynode *root = NULL;
    if (nea_ytree_parse(path, buf, len, &root, diags) < 0)
        return NEA_ERR_INVALID;
    NEA_AUTO(nea_plan_freep) struct nea_plan *p = nea_xcalloc(1, sizeof(*p));
    p->path = nea_xstrdup(path);
    struct ctx c = {.file = path, .d = diags};
    read_plan_tree(&c, root, p);
    if (diags->n_errors > before)
        return NEA_ERR_INVALID;
    *ret_plan = TAKE_PTR(p);
    return NEA_OK;
}

/* ---- appliance specs --------------------------------------------------- */

enum { S_TENANT, S_PLAN, S_APPLIANCE, S_PUBLIC, S_N };
static const char *const spec_keys[] = {"tenant", "hardware-plan", "appliance",
                                        "public-ips"};
enum { A_NAME, A_NET, A_MAC, A_UUID, A_V4, A_V6, A_DNS, A_SSH, A_N };
static const char *const app_keys[] = {"name", "external-network", "mac", "uuid",
                                       "ipv4", "ipv6", "dns", "ssh-authorized-keys"};
enum { PUB_V4, PUB_V6, PUB_N };
static const char *const pub_keys[] = {"ipv4", "ipv6"};

static int find_plan(struct ctx *c, const struct nea_ynode *at, const char *name,
                     const struct nea_load_opts *opts, struct nea_plan **ret,
                     struct nea_err *err)
{
    char tried[1024] = "";
    size_t off = 0;
    for (size_t i = 0; opts && i < opts->n_plan_dirs; i++) {
        NEA_AUTOFREE char *path = nea_xasprintf("%s/%s.yaml", opts->plan_dirs[i], name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            return nea_plan_load_file(path, ret, c->d, err);
        if (off < sizeof(tried))
            off += (size_t)snprintf(tried + off, sizeof(tried) - off, "%s%s",
                                    i ? ", " : "", opts->plan_dirs[i]);
    }
    err_at(c, at, "hardware-plan \"%s\" not found: no %s.yaml in %s", name, name,
           off ? tried : "(no plan directory configured)");
    return NEA_ERR_INVALID;
}

static void rehash(struct nea_spec *s)
{
    uint8_t h[NEA_SHA256_LEN];
    NEA_AUTOFREE char *canon = nea_spec_canonical(s);
    nea_sha256(canon, strlen(canon), h);
    nea_hex(h, sizeof(h), s->hash);
}

void nea_spec_set_public(struct nea_spec *s, const struct nea_ip *addrs, size_t n_addrs,
                         const struct nea_rule *rules, size_t n_rules)
{
    free(s->public_addrs);
    for (size_t i = 0; i < s->n_rules; i++)
        free(s->rules[i].description);
    free(s->rules);
    s->public_addrs = n_addrs ? nea_xcalloc(n_addrs, sizeof(*addrs)) : NULL;
    if (n_addrs)
        memcpy(s->public_addrs, addrs, n_addrs * sizeof(*addrs));
    s->n_public_addrs = n_addrs;
    s->rules = n_rules ? nea_xcalloc(n_rules, sizeof(*rules)) : NULL;
    for (size_t i = 0; i < n_rules; i++) {
        s->rules[i] = rules[i];
        s->rules[i].description = rules[i].description ? nea_xstrdup(rules[i].description)
                                                       : NULL;
    }
    s->n_rules = n_rules;
    rehash(s);
}

void nea_spec_pin(struct nea_spec *s, const uint8_t *mac, const uint8_t *uuid)
{
    if (mac && !s->mac_given)
        memcpy(s->mac, mac, 6);
    if (uuid && !s->uuid_given)
        memcpy(s->uuid, uuid, 16);
    rehash(s);
}

/* Locally stable: the same host and name always give the same MAC, so
 * network-config can match it before the domain exists.  salt > 0 gives
 * another one, for when that MAC is taken on the host. */
static void derive_mac(struct nea_spec *s, unsigned salt)
{
    uint8_t h[NEA_SHA256_LEN];
    char tail[16] = "";
    if (salt)
        snprintf(tail, sizeof(tail), "%c%u", 0, salt);
    size_t tl = salt ? 1 + strlen(tail + 1) : 0;
    NEA_AUTOFREE char *in = nea_xasprintf("neaprov-mac%c%s%c%s", 0, s->plan->host, 0,
                                          s->name);
    size_t n = strlen("neaprov-mac") + 1 + strlen(s->plan->host) + 1 + strlen(s->name);
    in = nea_xrealloc(in, n + tl + 1);
    memcpy(in + n, tail, tl);
    nea_sha256(in, n + tl, h);
    s->mac[0] = 0x52;
    s->mac[1] = 0x54;
    s->mac[2] = 0x00;
    s->mac[3] = h[0] & 0x7f; /* keep clear of libvirt's 52:54:00:fe:... */
    s->mac[4] = h[1];
    s->mac[5] = h[2];
}

void nea_spec_derive_mac(struct nea_spec *s, unsigned salt)
{
    if (s->mac_given)
        return;
    derive_mac(s, salt);
    rehash(s);
}

static void derive(struct nea_spec *s)
{
    uint8_t h[NEA_SHA256_LEN];
    if (!s->mac_given)
        derive_mac(s, 0);
    if (!s->uuid_given) {
        NEA_AUTOFREE char *in = nea_xasprintf("neaprov-uuid%c%s%c%s", 0, s->tenant, 0,
                                              s->name);
        size_t n = strlen("neaprov-uuid") + 1 + strlen(s->tenant) + 1 + strlen(s->name);
        nea_sha256(in, n, h);
        memcpy(s->uuid, h, 16);
        s->uuid[6] = (uint8_t)((s->uuid[6] & 0x0f) | 0x80); /* RFC 9562 version 8 */
        s->uuid[8] = (uint8_t)((s->uuid[8] & 0x3f) | 0x80);
    }
    rehash(s);
}

static void read_spec_tree(struct ctx *c, const struct nea_ynode *root,
                           const struct nea_load_opts *opts, struct nea_spec *s,
                           struct nea_err *err)
{
    const struct nea_ynode *v[S_N], *a[A_N] = {0}, *pub[PUB_N] = {0};
    if (!read_map(c, root, "", spec_keys, S_N, v))
        return;
    const char *str;
    if (!v[S_TENANT])
        err_at(c, root, "tenant is required");
    else if ((str = get_str(c, v[S_TENANT], "tenant", 64))) {
        if (!valid_ident(str, 48))
            err_at(c, v[S_TENANT], "tenant \"%s\" must be 1-48 lower-case letters, "
                   "digits and '-', starting with a letter or digit", str);
        else
            s->tenant = nea_xstrdup(str);
    }
    if (!v[S_PLAN])
        err_at(c, root, "hardware-plan is required");
    else if ((str = get_str(c, v[S_PLAN], "hardware-plan", 64))) {
        if (!valid_ident(str, 48))
            err_at(c, v[S_PLAN], "hardware-plan \"%s\" must be a plan name: lower-case "
                   "letters, digits and '-'", str);
        else {
            s->plan_name = nea_xstrdup(str);
            if (find_plan(c, v[S_PLAN], str, opts, &s->plan, err) < 0 &&
                err->code != NEA_OK)
                /* An unreadable plan file is not a spec problem; still name it
                 * at the reference so the user sees both. */
                err_at(c, v[S_PLAN], "hardware-plan \"%s\": %s", str, err->msg);
        }
    }
    if (!v[S_APPLIANCE])
        err_at(c, root, "appliance is required");
    else
        read_map(c, v[S_APPLIANCE], "appliance", app_keys, A_N, a);
    if (v[S_PUBLIC])
        read_map(c, v[S_PUBLIC], "public-ips", pub_keys, PUB_N, pub);

    if (a[A_NAME] && (str = get_str(c, a[A_NAME], "appliance.name", 80))) {
        if (!valid_hostname(str))
            err_at(c, a[A_NAME], "appliance.name \"%s\" must be a host name: 1-63 "
                   "lower-case letters, digits and '-', not starting or ending with "
                   "'-'", str);
        else
            s->name = nea_xstrdup(str);
    } else if (!a[A_NAME] && s->tenant) {
        /* a valid tenant (<= 48 of [a-z0-9-], not starting with '-') always
         * makes a valid host name this way */
        s->name = nea_xasprintf("%s-nea", s->tenant);
    }

    if (v[S_APPLIANCE] && v[S_APPLIANCE]->type == NEA_Y_MAP && !a[A_NET])
        err_at(c, v[S_APPLIANCE], "appliance.external-network is required");
    else if (a[A_NET] && (str = get_str(c, a[A_NET], "appliance.external-network", 80))) {
        struct nea_network probe = {0};
        if (!parse_network_ref(str, &probe)) {
            err_at(c, a[A_NET], "appliance.external-network \"%s\" is neither a bridge "
                   "name (1-15 characters, no '/', ':' or spaces), \"ovs:BRIDGE\" nor "
                   "\"network:NAME\"", str);
        } else if (s->plan) {
            for (size_t i = 0; i < s->plan->n_networks; i++)
                if (!strcmp(s->plan->networks[i].ref, str))
                    s->network = &s->plan->networks[i];
            if (!s->network) {
                char list[512] = "";
                size_t off = 0;
                for (size_t i = 0; i < s->plan->n_networks && off < sizeof(list); i++)
                    off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
                                            i ? ", " : "", s->plan->networks[i].ref);
                err_at(c, a[A_NET], "appliance.external-network \"%s\" is not offered "
                       "by hardware plan %s (it offers: %s)", str, s->plan->name, list);
            }
        }
        free(probe.ref);
        free(probe.name);
    }
    if (a[A_MAC] && (str = get_str(c, a[A_MAC], "appliance.mac", 32))) {
        if (!nea_parse_mac(str, s->mac))
            err_at(c, a[A_MAC], "appliance.mac \"%s\" is not a MAC address of the form "
                   "52:54:00:0a:0b:0c", str);
        else if (s->mac[0] & 1)
            err_at(c, a[A_MAC], "appliance.mac %s is a multicast address; a NIC needs "
                   "a unicast one", str);
        else if (!(s->mac[0] | s->mac[1] | s->mac[2] | s->mac[3] | s->mac[4] | s->mac[5]))
            err_at(c, a[A_MAC], "appliance.mac %s is all zeros", str);
        else
            s->mac_given = true;
    }
    if (a[A_UUID] && (str = get_str(c, a[A_UUID], "appliance.uuid", 64))) {
        if (!nea_parse_uuid(str, s->uuid))
            err_at(c, a[A_UUID], "appliance.uuid \"%s\" is not a UUID of the form "
                   "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", str);
        else
            s->uuid_given = true;
    }
    bool v4_read = read_ipv4(c, a[A_V4], &s->ipv4);
    bool v6_read = read_ipv6(c, a[A_V6], &s->ipv6);
    if (v4_read && v6_read && s->ipv4.mode == NEA_V4_DISABLED &&
        s->ipv6.mode == NEA_V6_DISABLED)
        err_at(c, a[A_V4], "appliance.ipv4 and appliance.ipv6 are both disabled: the "
               "appliance would be unreachable on the external network");
    read_dns(c, a[A_DNS], s);
    read_ssh_keys(c, a[A_SSH], s);
    if (pub[PUB_V4])
        get_uint(c, pub[PUB_V4], "public-ips.ipv4", 0, 9999, &s->public_ipv4);
    if (pub[PUB_V6])
        get_uint(c, pub[PUB_V6], "public-ips.ipv6", 0, 9999, &s->public_ipv6);
    if (s->public_ipv4 && s->ipv4.mode == NEA_V4_DISABLED && pub[PUB_V4])
        warn_at(c, pub[PUB_V4], "public-ips.ipv4 asks for %u addresses but "
                "appliance.ipv4 is disabled", s->public_ipv4);
    if (s->public_ipv6 && s->ipv6.mode == NEA_V6_DISABLED && pub[PUB_V6])
        warn_at(c, pub[PUB_V6], "public-ips.ipv6 asks for %u addresses but "
                "appliance.ipv6 is disabled", s->public_ipv6);
}

int nea_spec_load_buffer(const char *name, const char *buf, size_t len,
                         const struct nea_load_opts *opts,
                         struct nea_spec **ret_spec, struct nea_diags *diags,
                         struct nea_err *err)
{
    if (len > NEA_SPEC_MAX_BYTES)
        return nea_err_set(err, NEA_ERR_INVALID,
                           "%s: spec is larger than the limit of %d bytes", name,
                           NEA_SPEC_MAX_BYTES);
    size_t before = diags->n_errors;
    NEA_AUTO(nea_ynode_freep) struct nea_ynode *root = NULL;
    if (nea_ytree_parse(name, buf, len, &root, diags) < 0)
        return NEA_ERR_INVALID;
    NEA_AUTO(nea_spec_freep) struct nea_spec *s = nea_xcalloc(1, sizeof(*s));
    s->path = nea_xstrdup(name);
    struct ctx c = {.file = name, .d = diags};
    struct nea_err plan_err = {0};
    read_spec_tree(&c, root, opts, s, &plan_err);
    nea_diags_sort(diags);
    if (diags->n_errors > before)
        return NEA_ERR_INVALID;
    derive(s);
    *ret_spec = TAKE_PTR(s);
    return NEA_OK;
}

int nea_spec_load_file(const char *path, const struct nea_load_opts *opts,
                       struct nea_spec **ret_spec, struct nea_diags *diags,
                       struct nea_err *err)
{
    NEA_AUTOFREE char *buf = NULL;
    size_t len = 0;
    int rc = nea_read_file(path, NEA_SPEC_MAX_BYTES, &buf, &len, err);
    if (rc < 0)
        return rc;
    return nea_spec_load_buffer(path, buf, len, opts, ret_spec, diags, err);
}

/* ---- canonical form, names, destructors -------------------------------- */

char *nea_spec_canonical(const struct nea_spec *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    const struct nea_plan *p = s->plan;
    char mac[18], uuid[37], a[NEA_IP_STRLEN];
    nea_mac_format(s->mac, mac);
    nea_uuid_format(s->uuid, uuid);
    fprintf(f, "format=1\ntenant=%s\nplan=%s\nhost=%s\npool=%s\n", s->tenant,
            p->name, p->host, p->storage_pool);
    /* An image with a checksum is that content wherever it comes from: a new
     * mirror or credentials in its URL change nothing (and are not stored);
     * only a new sha256 is a new disk.  A URL always has one. */
    if (p->image_sha256)
        fprintf(f, "vcpus=%u\nmemory-mib=%u\ndisk-gib=%u\nimage=sha256:%s\n"
                "image-sha256=%s\n", p->vcpus, p->memory_mib, p->disk_gib,
                p->image_sha256, p->image_sha256);
    else
        fprintf(f, "vcpus=%u\nmemory-mib=%u\ndisk-gib=%u\nimage=%s\nimage-sha256=\n",
                p->vcpus, p->memory_mib, p->disk_gib, p->image);
    fprintf(f, "machine=%s\ndomain-type=%s\n", p->machine,
            nea_domain_type_name(p->domain_type));
    if (p->cdrom_bus)
        fprintf(f, "cdrom-bus=%s\n", p->cdrom_bus);
    if (p->kernel)
        fprintf(f, "kernel=%s\ninitrd=%s\ncmdline=%s\n", p->kernel,
                p->initrd ? p->initrd : "", p->cmdline ? p->cmdline : "");
    fprintf(f, "name=%s\nnetwork=%s\nmac=%s\nuuid=%s\n", s->name, s->network->ref, mac,
            uuid);
    fprintf(f, "ipv4.mode=%s\n", nea_v4_mode_name(s->ipv4.mode));
    if (s->ipv4.mode == NEA_V4_STATIC) {
        nea_ip_format(&s->ipv4.address, a);
        fprintf(f, "ipv4.address=%s/%u\n", a, s->ipv4.prefix);
        nea_ip_format(&s->ipv4.gateway, a);
        fprintf(f, "ipv4.gateway=%s\n", a);
    }
    fprintf(f, "ipv6.mode=%s\n", nea_v6_mode_name(s->ipv6.mode));
    if (s->ipv6.mode == NEA_V6_STATIC) {
        nea_ip_format(&s->ipv6.address, a);
        fprintf(f, "ipv6.address=%s/%u\n", a, s->ipv6.prefix);
        nea_ip_format(&s->ipv6.gateway, a);
        fprintf(f, "ipv6.gateway=%s\n", a);
    }
    for (size_t i = 0; i < s->n_dns; i++) {
        nea_ip_format(&s->dns[i], a);
        fprintf(f, "dns=%s\n", a);
    }
    for (size_t i = 0; i < s->n_ssh_keys; i++)
        fprintf(f, "ssh-key=%s\n", s->ssh_keys[i]);
    fprintf(f, "public-ipv4=%u\npublic-ipv6=%u\n", s->public_ipv4, s->public_ipv6);
    for (size_t i = 0; i < s->n_public_addrs; i++) {
        nea_ip_format(&s->public_addrs[i], a);
        fprintf(f, "public-address=%s\n", a);
    }
    for (size_t i = 0; i < s->n_rules; i++) {
        const struct nea_rule *r = &s->rules[i];
        char b[NEA_IP_STRLEN];
        nea_ip_format(&r->pub, a);
        nea_ip_format(&r->to, b);
        fprintf(f, "rule=%s %u/%s -> %s %u%s%s\n", a, r->pub_port,
                r->proto == NEA_PROTO_TCP ? "tcp" : "udp", b, r->to_port,
                r->description ? " # " : "", r->description ? r->description : "");
    }
    fclose(f);
    return buf;
}

const char *nea_v4_mode_name(enum nea_v4_mode m)
{
    return (size_t)m < NEA_ARRAY_SIZE(v4_modes) ? v4_modes[m] : "?";
}

const char *nea_v6_mode_name(enum nea_v6_mode m)
{
    return (size_t)m < NEA_ARRAY_SIZE(v6_modes) ? v6_modes[m] : "?";
}

const char *nea_domain_type_name(enum nea_domain_type t)
{
    return (size_t)t < NEA_ARRAY_SIZE(domtypes) ? domtypes[t] : "?";
}

const char *nea_net_kind_name(enum nea_net_kind k)
{
    switch (k) {
    case NEA_NET_BRIDGE: return "bridge";
    case NEA_NET_OVS: return "openvswitch";
    case NEA_NET_LIBVIRT: return "network";
    }
    return "?";
}

void nea_mac_format(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
             mac[4], mac[5]);
}

void nea_uuid_format(const uint8_t u[16], char out[37])
{
    char hex[33];
    nea_hex(u, 16, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
}

void nea_plan_free(struct nea_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_networks; i++) {
        free(p->networks[i].ref);
        free(p->networks[i].name);
    }
    free(p->networks);
    free(p->path);
    free(p->name);
    free(p->description);
    free(p->host);
    free(p->storage_pool);
    free(p->image);
    free(p->image_path);
    free(p->image_sha256);
    free(p->machine);
    free(p->cdrom_bus);
    free(p->kernel);
    free(p->initrd);
    free(p->cmdline);
    free(p);
}

void nea_plan_freep(struct nea_plan **p)
{
    nea_plan_free(*p);
}

void nea_spec_free(struct nea_spec *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->tenant);
    free(s->plan_name);
    nea_plan_free(s->plan);
    free(s->name);
    for (size_t i = 0; i < s->n_ssh_keys; i++)
        free(s->ssh_keys[i]);
    free(s->public_addrs);
    for (size_t i = 0; i < s->n_rules; i++)
        free(s->rules[i].description);
    free(s->rules);
    free(s);
}

void nea_spec_freep(struct nea_spec **s)
{
    nea_spec_free(*s);
}

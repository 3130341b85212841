/*
 * nea_canonical.c: the canonical text of a model, and what a change of each
 * of its keys asks of a deployment.
 *
 * The canonical text ("key=value" lines in a fixed order) is what the spec
 * hash is taken over and what the state records as the applied spec; the
 * engine compares two of them key by key.  Its keys are listed once, below,
 * each with its change class, and the writer can name a key only through
 * that list: a key cannot be written without a class.  The text must not
 * change for an unchanged model (it would change every recorded hash).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nea_spec.h"
#include "nea_util.h"

/* Every key nea_spec_canonical writes, in the order it writes them:
 * X(id, key, class of a change of its value). */
#define CANONICAL_KEYS(X)                                   \
    X(FORMAT, "format", IGNORE)                             \
    X(TENANT, "tenant", IGNORE)                             \
    X(PLAN, "plan", RECORD)                                 \
    X(HOST, "host", MOVE_HOST)                              \
    X(POOL, "pool", MOVE_POOL)                              \
    X(VCPUS, "vcpus", DEFINE_REBOOT)                        \
    X(MEMORY, "memory-mib", DEFINE_REBOOT)                  \
    X(DISK, "disk-gib", DISK_SIZE)                          \
    X(IMAGE, "image", DISK_IMAGE)                           \
    X(IMAGE_SHA, "image-sha256", DISK_IMAGE)                \
    X(MACHINE, "machine", DEFINE_REBOOT)                    \
    X(DOMAIN_TYPE, "domain-type", DEFINE_REBOOT)            \
    X(CDROM_BUS, "cdrom-bus", DEFINE_REBOOT)                \
    X(KERNEL, "kernel", DEFINE_REBOOT)                      \
    X(INITRD, "initrd", DEFINE_REBOOT)                      \
    X(CMDLINE, "cmdline", DEFINE_REBOOT)                    \
    X(NAME, "name", RENAME)                                 \
    X(NETWORK, "network", NIC)                              \
    X(MAC, "mac", MAC)                                      \
    X(UUID, "uuid", REDEFINE)                               \
    X(IPV4_MODE, "ipv4.mode", SEED)                         \
    X(IPV4_ADDRESS, "ipv4.address", SEED)                   \
    X(IPV4_GATEWAY, "ipv4.gateway", SEED)                   \
    X(IPV6_MODE, "ipv6.mode", SEED)                         \
    X(IPV6_ADDRESS, "ipv6.address", SEED)                   \
    X(IPV6_GATEWAY, "ipv6.gateway", SEED)                   \
    X(DNS, "dns", SEED)                                     \
    X(SSH_KEY, "ssh-key", SEED)                             \
    X(PUBLIC_IPV4, "public-ipv4", SEED_PUBLIC_IPS)          \
    X(PUBLIC_IPV6, "public-ipv6", SEED_PUBLIC_IPS)          \
    X(PUBLIC_ADDRESS, "public-address", SEED_PUBLIC_ADDRESS) \
    X(RULE, "rule", SEED_RULES)                             \
    X(TNET_MODE, "tenant-networks", TNET_MODE)              \
    X(TNET, "tenant-network.", TNET)

#define KEY_ID(id, key, class) KEY_##id,
enum key { CANONICAL_KEYS(KEY_ID) KEY_N };
#undef KEY_ID

#define KEY_ROW(id, key, class) [KEY_##id] = {key, NEA_CHANGE_##class},
static const struct {
    const char *name;
    enum nea_change_class class;
} keys[KEY_N] = {CANONICAL_KEYS(KEY_ROW)};
#undef KEY_ROW

enum nea_change_class nea_canonical_key_class(const char *key)
{
    for (size_t i = 0; i < KEY_N; i++)
        if (!strcmp(keys[i].name, key))
            return i == KEY_TNET ? NEA_CHANGE_UNKNOWN : keys[i].class;
    /* one key per tenant network, so that each is added, removed or
     * changed on its own */
    if (nea_str_has_prefix(key, keys[KEY_TNET].name) && key[strlen(keys[KEY_TNET].name)])
        return keys[KEY_TNET].class;
    return NEA_CHANGE_UNKNOWN;
}

/* One "key=value" line. */
__attribute__((format(printf, 3, 4))) static void
put(FILE *f, enum key k, const char *fmt, ...)
{
    va_list ap;
    fprintf(f, "%s=", keys[k].name);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}

static void put_ip(FILE *f, enum key k, const struct nea_ip *ip)
{
    char a[NEA_IP_STRLEN];
    nea_ip_format(ip, a);
    put(f, k, "%s", a);
}

/* address/prefix */
static void put_net(FILE *f, enum key k, const struct nea_ip *ip, unsigned prefix)
{
    char a[NEA_IP_STRLEN];
    nea_ip_format(ip, a);
    put(f, k, "%s/%u", a, prefix);
}

static void put_plan(FILE *f, const struct nea_plan *p)
{
    put(f, KEY_PLAN, "%s", p->name);
    put(f, KEY_HOST, "%s", p->host);
    put(f, KEY_POOL, "%s", p->storage_pool);
    put(f, KEY_VCPUS, "%u", p->vcpus);
    put(f, KEY_MEMORY, "%u", p->memory_mib);
    put(f, KEY_DISK, "%u", p->disk_gib);
    /* An image with a checksum is that content wherever it comes from: a new
     * mirror or credentials in its URL change nothing (and are not stored);
     * only a new sha256 is a new disk.  A URL always has one. */
    if (p->image_sha256)
        put(f, KEY_IMAGE, "sha256:%s", p->image_sha256);
    else
        put(f, KEY_IMAGE, "%s", p->image);
    put(f, KEY_IMAGE_SHA, "%s", p->image_sha256 ? p->image_sha256 : "");
    put(f, KEY_MACHINE, "%s", p->machine);
    put(f, KEY_DOMAIN_TYPE, "%s", nea_domain_type_name(p->domain_type));
    if (p->cdrom_bus)
        put(f, KEY_CDROM_BUS, "%s", p->cdrom_bus);
    if (p->kernel) {
        put(f, KEY_KERNEL, "%s", p->kernel);
        put(f, KEY_INITRD, "%s", p->initrd ? p->initrd : "");
        put(f, KEY_CMDLINE, "%s", p->cmdline ? p->cmdline : "");
    }
}

static void put_rule(FILE *f, const struct nea_rule *r)
{
    char a[NEA_IP_STRLEN], b[NEA_IP_STRLEN];
    nea_ip_format(&r->pub, a);
    nea_ip_format(&r->to, b);
    put(f, KEY_RULE, "%s %u/%s -> %s %u%s%s", a, r->pub_port,
        nea_proto_name(r->proto), b, r->to_port,
        r->description ? " # " : "", r->description ? r->description : "");
}

/* "tenant-network.NAME=GW4/P [GW6/P] internet|no-internet int<slot> [vlan V]" */
static void put_tnet(FILE *f, const struct nea_spec *s, const struct nea_tnet *t)
{
    char a[NEA_IP_STRLEN], b[NEA_IP_STRLEN] = "", ifname[16], mac[18];
    nea_ip_format(&t->gw4, a);
    if (t->has_v6)
        nea_ip_format(&t->gw6, b);
    nea_tnet_ifname(t->slot, ifname);
    nea_mac_format(t->mac, mac);
    fprintf(f, "%s%s=%s/%u", keys[KEY_TNET].name, t->name, a, t->prefix4);
    if (t->has_v6)
        fprintf(f, " %s/%u", b, t->prefix6);
    fprintf(f, " %s %s %s", t->internet ? "internet" : "no-internet", ifname, mac);
    if (s->plan->tnet.mode == NEA_TNET_OVS_VLAN)
        fprintf(f, " vlan %u", t->vlan);
    fputc('\n', f);
}

char *nea_spec_canonical(const struct nea_spec *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    char mac[18], uuid[37];
    nea_mac_format(s->mac, mac);
    nea_uuid_format(s->uuid, uuid);
    put(f, KEY_FORMAT, "1");
    put(f, KEY_TENANT, "%s", s->tenant);
    put_plan(f, s->plan);
    put(f, KEY_NAME, "%s", s->name);
    put(f, KEY_NETWORK, "%s", s->network->ref);
    put(f, KEY_MAC, "%s", mac);
    put(f, KEY_UUID, "%s", uuid);
    put(f, KEY_IPV4_MODE, "%s", nea_v4_mode_name(s->ipv4.mode));
    if (s->ipv4.mode == NEA_V4_STATIC) {
        put_net(f, KEY_IPV4_ADDRESS, &s->ipv4.address, s->ipv4.prefix);
        put_ip(f, KEY_IPV4_GATEWAY, &s->ipv4.gateway);
    }
    put(f, KEY_IPV6_MODE, "%s", nea_v6_mode_name(s->ipv6.mode));
    if (s->ipv6.mode == NEA_V6_STATIC) {
        put_net(f, KEY_IPV6_ADDRESS, &s->ipv6.address, s->ipv6.prefix);
        put_ip(f, KEY_IPV6_GATEWAY, &s->ipv6.gateway);
    }
    for (size_t i = 0; i < s->n_dns; i++)
        put_ip(f, KEY_DNS, &s->dns[i]);
    for (size_t i = 0; i < s->n_ssh_keys; i++)
        put(f, KEY_SSH_KEY, "%s", s->ssh_keys[i]);
    put(f, KEY_PUBLIC_IPV4, "%u", s->public_ipv4);
    put(f, KEY_PUBLIC_IPV6, "%u", s->public_ipv6);
    for (size_t i = 0; i < s->n_public_addrs; i++)
        put_ip(f, KEY_PUBLIC_ADDRESS, &s->public_addrs[i]);
    for (size_t i = 0; i < s->n_rules; i++)
        put_rule(f, &s->rules[i]);
    /* only with networks: the text of an appliance without any is as it was */
    if (s->n_tnets) {
        const struct nea_tnet_plan *tp = &s->plan->tnet;
        if (tp->mode == NEA_TNET_OVS_VLAN)
            put(f, KEY_TNET_MODE, "ovs-vlan %s %u-%u", tp->bridge, tp->vlan_first,
                tp->vlan_last);
        else
            put(f, KEY_TNET_MODE, "%s", nea_tnet_mode_name(tp->mode));
    }
    for (size_t i = 0; i < s->n_tnets; i++)
        put_tnet(f, s, &s->tnets[i]);
    fclose(f);
    return buf;
}

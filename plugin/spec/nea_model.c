/*
 * nea_model.c: the model's vocabulary and its destructors: the words of its
 * enums, MAC and UUID as text (both ways), and freeing a plan or a spec.
 *
 * The bottom of the spec layer: uses no other file of it.  Must not
 * validate anything (the loaders do) or derive anything (nea_derive.c).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nea_spec.h"
#include "nea_spec_int.h"
#include "nea_util.h"

/* ---- the words of the enums ------------------------------------------- */

const char *const nea_v4_mode_names[NEA_V4_STATIC + 1] = {
    [NEA_V4_DISABLED] = "disabled", [NEA_V4_DHCP] = "dhcp", [NEA_V4_STATIC] = "static"};
const char *const nea_v6_mode_names[NEA_V6_STATIC + 1] = {
    [NEA_V6_DISABLED] = "disabled", [NEA_V6_AUTO] = "auto", [NEA_V6_DHCP] = "dhcp",
    [NEA_V6_STATIC] = "static"};
const char *const nea_domain_type_names[NEA_DOMTYPE_QEMU + 1] = {
    [NEA_DOMTYPE_AUTO] = "auto", [NEA_DOMTYPE_KVM] = "kvm", [NEA_DOMTYPE_QEMU] = "qemu"};

const char *nea_v4_mode_name(enum nea_v4_mode m)
{
    return (size_t)m < NEA_ARRAY_SIZE(nea_v4_mode_names) ? nea_v4_mode_names[m] : "?";
}

const char *nea_v6_mode_name(enum nea_v6_mode m)
{
    return (size_t)m < NEA_ARRAY_SIZE(nea_v6_mode_names) ? nea_v6_mode_names[m] : "?";
}

NEA_ENUM_IMPL(nea_proto, NEA_PROTO_LAST, "tcp", "udp")
NEA_ENUM_IMPL(nea_tnet_mode, NEA_TNET_LAST, "none", "isolated", "ovs-vlan")

char *nea_tnet_libvirt_name(const char *tenant, const char *name)
{
    return nea_xasprintf("nea-net.%s.%s", tenant, name);
}

void nea_tnet_ifname(unsigned slot, char out[16])
{
    snprintf(out, 16, "int%u", slot);
}

const struct nea_tnet *nea_tnet_of(const struct nea_spec *s, const struct nea_ip *ip)
{
    for (size_t i = 0; i < s->n_tnets; i++) {
        const struct nea_tnet *t = &s->tnets[i];
        if (ip->family == AF_INET && nea_ip_in_subnet(ip, &t->gw4, t->prefix4))
            return t;
        if (ip->family == AF_INET6 && t->has_v6 &&
            nea_ip_in_subnet(ip, &t->gw6, t->prefix6))
            return t;
    }
    return NULL;
}

char *nea_rule_problem(const struct nea_rule *r)
{
    char pub[NEA_IP_STRLEN], to[NEA_IP_STRLEN];
    nea_ip_format(&r->pub, pub);
    nea_ip_format(&r->to, to);
    if (r->pub_port == 22)
        return nea_xasprintf("public port 22 is reserved for the appliance's management; "
                             "choose another for %s", pub);
    if (r->pub_port < 1 || r->pub_port > 65535 || r->to_port < 1 || r->to_port > 65535)
        return nea_xasprintf("a rule's ports are 1 to 65535 (%s:%u -> %s:%u)", pub,
                             r->pub_port, to, r->to_port);
    if ((unsigned)r->proto >= NEA_PROTO_LAST)
        return nea_xasprintf("a rule's protocol is tcp or udp (%s:%u)", pub, r->pub_port);
    if (r->pub.family != r->to.family)
        return nea_xasprintf("public IP %s and replica %s are of different families", pub,
                             to);
    enum nea_ip_kind k = nea_ip_kind(&r->to);
    if (k != NEA_IP_UNICAST)
        return nea_xasprintf("replica address %s is %s", to, nea_ip_kind_name(k));
    if (r->description) {
        size_t l = strlen(r->description);
        bool ok = l >= 1 && l <= 64;
        for (const char *p = r->description; ok && *p; p++)
            ok = isalnum((unsigned char)*p) || strchr(" ._,:/-", *p);
        if (!ok)
            return nea_xstrdup("a rule description is 1-64 letters, digits, spaces and "
                               ". _ , : / -");
    }
    return NULL;
}

const char *nea_domain_type_name(enum nea_domain_type t)
{
    return (size_t)t < NEA_ARRAY_SIZE(nea_domain_type_names) ? nea_domain_type_names[t]
                                                             : "?";
}

/* ---- MAC and UUID text ------------------------------------------------ */

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

/* ---- destructors ------------------------------------------------------- */

void nea_spec_clear_public(struct nea_spec *s)
{
    free(s->public_addrs);
    for (size_t i = 0; i < s->n_rules; i++)
        free(s->rules[i].description);
    free(s->rules);
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
    free(p->tnet.bridge);
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
    for (size_t i = 0; i < s->n_tnets; i++)
        free(s->tnets[i].name);
    free(s->tnets);
    nea_spec_clear_public(s);
    free(s);
}

void nea_spec_freep(struct nea_spec **s)
{
    nea_spec_free(*s);
}

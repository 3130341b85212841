/*
 * nea_nft.c: see nea_nft.h.
 *
 * One table, inet neaprov, replaced whole on every load ("table" then
 * "delete table" then the definition: the first line makes the delete
 * succeed on a first load).  Chains:
 *
 *   prerouting   DNAT of the public IP rules (every appliance);
 *   forward      only with tenant networks: policy drop, and accept what a
 *                tenant's gateway lets through (see forward_chain);
 *   postrouting  only with tenant networks: source NAT of with-internet
 *                networks (see postrouting_chain).
 *
 * An appliance without tenant networks keeps the ruleset it always had (the
 * DNAT chain alone, forwarding unfiltered), so that deployments from before
 * tenant networks reload the same bytes.
 */
#include "nea_nft.h"

#include <stdio.h>
#include <stdlib.h>

#include "nea_seed.h"
#include "nea_util.h"

static void subnet(const struct nea_ip *ip, unsigned prefix, char out[NEA_IP_STRLEN + 8])
{
    struct nea_ip net;
    char a[NEA_IP_STRLEN];
    nea_ip_network(ip, prefix, &net);
    nea_ip_format(&net, a);
    snprintf(out, NEA_IP_STRLEN + 8, "%s/%u", a, prefix);
}

/* Only the tenant's own traffic crosses the appliance: between its
 * networks, out of a with-internet network, and in through a public IP rule
 * (any network: "ct status dnat" is set by the prerouting chain, so nothing
 * from outside reaches a replica's own address).  Replies ride on conntrack. */
static void forward_chain(FILE *f, const struct nea_tnet *const *by_slot, size_t n)
{
    char ifn[16];
    fprintf(f, "    chain forward {\n"
               "        type filter hook forward priority filter; policy drop;\n"
               "        ct state established,related accept\n"
               "        ct state invalid drop\n"
               "        iifname {");
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            fputs(" } oifname {", f);
        for (size_t k = 0; k < n; k++) {
            nea_tnet_ifname(by_slot[k]->slot, ifn);
            fprintf(f, "%s \"%s\"", k ? "," : "", ifn);
        }
    }
    fputs(" } accept comment \"between the tenant's networks\"\n", f);
    /* out only from the network's own subnet, of each family it has: a
     * replica forging another source (another tenant's public IP) would
     * leave un-NATed onto the SP's network */
    char net[NEA_IP_STRLEN + 8];
    for (size_t k = 0; k < n; k++) {
        const struct nea_tnet *t = by_slot[k];
        if (!t->internet)
            continue;
        nea_tnet_ifname(t->slot, ifn);
        subnet(&t->gw4, t->prefix4, net);
        fprintf(f, "        iifname \"%s\" oifname \"%s\" ip saddr %s accept comment "
                   "\"%s: internet\"\n", ifn, NEA_NIC_NAME, net, t->name);
        if (!t->has_v6)
            continue;
        subnet(&t->gw6, t->prefix6, net);
        fprintf(f, "        iifname \"%s\" oifname \"%s\" ip6 saddr %s accept comment "
                   "\"%s: internet\"\n", ifn, NEA_NIC_NAME, net, t->name);
    }
    fprintf(f, "        iifname \"%s\" ct status dnat accept comment \"public IP rules\"\n"
               "    }\n",
            NEA_NIC_NAME);
}

/* A replica behind a public IP rule leaves with that public address (1:1,
 * so that what it starts is seen from the same address as what it serves);
 * the rest of a with-internet network leaves with the appliance's external
 * address (SNAT to a static one, masquerade to a dynamic one).  Networks
 * without internet get no SNAT: they reach only the tenant's other networks
 * and answer through their public IP rules. */
/* A with-internet network's traffic out of ext0: source NAT to the static
 * external address of the family, or masquerade without one. */
static void snat_out(FILE *f, const char *fam, const struct nea_ip *gw, unsigned prefix,
                     const struct nea_ip *ext, const char *name)
{
    char net[NEA_IP_STRLEN + 8], a[NEA_IP_STRLEN];
    subnet(gw, prefix, net);
    fprintf(f, "        oifname \"%s\" %s saddr %s ", NEA_NIC_NAME, fam, net);
    if (ext) {
        nea_ip_format(ext, a);
        fprintf(f, "snat %s to %s", fam, a);
    } else {
        fputs("masquerade", f);
    }
    fprintf(f, " comment \"%s\"\n", name);
}

static void postrouting_chain(FILE *f, const struct nea_spec *s,
                              const struct nea_tnet *const *by_slot, size_t n)
{
    fprintf(f, "    chain postrouting {\n"
               "        type nat hook postrouting priority srcnat; policy accept;\n");
    for (size_t i = 0; i < s->n_rules; i++) {
        const struct nea_rule *r = &s->rules[i];
        const struct nea_tnet *t = nea_tnet_of(s, &r->to);
        if (!t || !t->internet)
            continue;
        bool seen = false; /* the first rule of a replica gives its address */
        for (size_t j = 0; j < i && !seen; j++)
            seen = nea_ip_equal(&s->rules[j].to, &r->to);
        if (seen)
            continue;
        char pub[NEA_IP_STRLEN], to[NEA_IP_STRLEN];
        nea_ip_format(&r->pub, pub);
        nea_ip_format(&r->to, to);
        const char *fam = r->to.family == AF_INET6 ? "ip6" : "ip";
        fprintf(f, "        oifname \"%s\" %s saddr %s snat %s to %s\n", NEA_NIC_NAME, fam,
                to, fam, pub);
    }
    for (size_t k = 0; k < n; k++) {
        const struct nea_tnet *t = by_slot[k];
        if (!t->internet)
            continue;
        snat_out(f, "ip", &t->gw4, t->prefix4,
                 s->ipv4.mode == NEA_V4_STATIC ? &s->ipv4.address : NULL, t->name);
        if (t->has_v6)
            snat_out(f, "ip6", &t->gw6, t->prefix6,
                     s->ipv6.mode == NEA_V6_STATIC ? &s->ipv6.address : NULL, t->name);
    }
    fputs("    }\n", f);
}

char *nea_nft_ruleset(const struct nea_spec *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    fprintf(f, "#!/usr/sbin/nft -f\n"
               "# Public IP rules of tenant %s, written by neaprov: public address\n"
               "# and port -> replica address and port.  Generated; edits are lost.\n",
            s->tenant);
    if (s->n_tnets)
        fputs("# With its tenant networks: what the appliance forwards and how\n"
              "# their traffic leaves (source NAT).\n", f);
    fputs("table inet neaprov\n"
          "delete table inet neaprov\n"
          "table inet neaprov {\n"
          "    chain prerouting {\n"
          "        type nat hook prerouting priority dstnat; policy accept;\n", f);
    for (size_t i = 0; i < s->n_rules; i++) {
        const struct nea_rule *r = &s->rules[i];
        char pub[NEA_IP_STRLEN], to[NEA_IP_STRLEN];
        nea_ip_format(&r->pub, pub);
        nea_ip_format(&r->to, to);
        bool v6 = r->pub.family == AF_INET6;
        const char *proto = nea_proto_name(r->proto);
        fprintf(f, "        %s daddr %s %s dport %u dnat %s to %s%s%s:%u", v6 ? "ip6" : "ip",
                pub, proto, r->pub_port, v6 ? "ip6" : "ip", v6 ? "[" : "", to,
                v6 ? "]" : "", r->to_port);
        if (r->description)
            fprintf(f, " comment \"%s\"", r->description);
        fputc('\n', f);
    }
    fputs("    }\n", f);
    if (s->n_tnets) {
        const struct nea_tnet **by_slot = nea_xcalloc(s->n_tnets, sizeof(*by_slot));
        nea_tnets_by_slot(s, by_slot);
        forward_chain(f, by_slot, s->n_tnets);
        postrouting_chain(f, s, by_slot, s->n_tnets);
        free(by_slot);
    }
    fputs("}\n", f);
    fclose(f);
    return buf;
}

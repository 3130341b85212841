/*
 * nea_tnets.c: tenant networks on the host: where each network is (slot,
 * VLAN: the state's), the libvirt networks of isolated mode, what is left
 * over once a network or an appliance goes, and what status shows of them.
 *
 * Order matters for isolation: a VLAN tag or a libvirt network is released
 * only after no vNIC of the appliance is on it any more, so that another
 * tenant's network can never be given a segment that this appliance still
 * reaches.
 */
#include "nea_engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nea_tnet_state.h"
#include "nea_util.h"

static const char *tnet_switch(const struct nea_plan *p)
{
    return p->tnet.mode == NEA_TNET_OVS_VLAN ? p->tnet.bridge : NULL;
}

int nea_tnets_place(struct nea_engine *e, struct nea_spec *s, const char *uri, bool dry_run,
                    bool *ret_same, struct nea_err *err)
{
    if (ret_same)
        *ret_same = true;
    if (!s->n_tnets)
        return NEA_OK;
    const struct nea_plan *p = s->plan;
    NEA_AUTOFREE const char **names = nea_xcalloc(s->n_tnets, sizeof(*names));
    NEA_AUTOFREE unsigned *slots = nea_xcalloc(s->n_tnets, sizeof(*slots));
    NEA_AUTOFREE unsigned *vlans = nea_xcalloc(s->n_tnets, sizeof(*vlans));
    for (size_t i = 0; i < s->n_tnets; i++)
        names[i] = s->tnets[i].name;
    struct nea_err terr = {0};
    int rc = nea_tnet_assign(e->state, s->tenant, names, s->n_tnets, p->tnet.max_networks,
                             uri, tnet_switch(p), p->tnet.vlan_first, p->tnet.vlan_last,
                             dry_run, slots, vlans, &terr);
    if (rc < 0)
        return nea_err_set(err, rc, "%s: networks: %s (hardware plan %s)", s->path, terr.msg,
                           p->path);
    bool same = true;
    for (size_t i = 0; i < s->n_tnets; i++)
        same &= s->tnets[i].slot == slots[i] &&
                (!tnet_switch(p) || s->tnets[i].vlan == vlans[i]);
    if (ret_same)
        *ret_same = same;
    if (!same || dry_run)
        nea_spec_set_tnet_places(s, slots, tnet_switch(p) ? vlans : NULL);
    return NEA_OK;
}

int nea_tnets_check_rules(const struct nea_spec *s, struct nea_err *err)
{
    if (!s->n_tnets)
        return NEA_OK;
    for (size_t i = 0; i < s->n_rules; i++) {
        const struct nea_rule *r = &s->rules[i];
        if (nea_tnet_of(s, &r->to))
            continue;
        char pub[NEA_IP_STRLEN], to[NEA_IP_STRLEN], list[512] = "";
        nea_ip_format(&r->pub, pub);
        nea_ip_format(&r->to, to);
        size_t off = 0;
        for (size_t j = 0; j < s->n_tnets && off < sizeof(list); j++) {
            char a[NEA_IP_STRLEN];
            struct nea_ip net;
            const struct nea_tnet *t = &s->tnets[j];
            nea_ip_network(r->to.family == AF_INET6 && t->has_v6 ? &t->gw6 : &t->gw4,
                           r->to.family == AF_INET6 && t->has_v6 ? t->prefix6 : t->prefix4,
                           &net);
            nea_ip_format(&net, a);
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s %s/%u",
                                    j ? ", " : "", t->name, a,
                                    r->to.family == AF_INET6 && t->has_v6 ? t->prefix6
                                                                          : t->prefix4);
        }
        return nea_err_set(err, NEA_ERR_INVALID, "%s: public IP rule %s:%u/%s: --to %s is in "
                           "none of tenant %s's networks (%s); remove the rule (neaprov rule "
                           "remove %s %s:%u/%s) or add its network", s->path, pub, r->pub_port,
                           nea_proto_name(r->proto), to, s->tenant, list, s->tenant, pub,
                           r->pub_port, nea_proto_name(r->proto));
    }
    return NEA_OK;
}

int nea_tnets_ensure(struct nea_ctx *c, struct nea_err *err)
{
    const struct nea_spec *s = c->spec;
    if (s->plan->tnet.mode != NEA_TNET_ISOLATED)
        return NEA_OK;
    for (size_t i = 0; i < s->n_tnets; i++) {
        NEA_AUTOFREE char *name = nea_tnet_libvirt_name(s->tenant, s->tnets[i].name);
        int rc = nea_host_tnet_ensure(c->host, name, s->tenant, s->tnets[i].name, err);
        if (rc < 0)
            return rc;
    }
    return NEA_OK;
}

/* The tenant's libvirt networks on h that keep (NULL: none) does not name. */
/* The tenant's libvirt networks on h but those of keep[0..n_keep). */
static int remove_networks(struct nea_host *h, const char *tenant, const char *const *keep,
                           size_t n_keep, struct nea_err *err)
{
    char **names = NULL;
    size_t n = 0;
    int rc = nea_host_tnet_list(h, tenant, &names, &n, err);
    for (size_t i = 0; i < n && rc == NEA_OK; i++) {
        bool kept = false;
        for (size_t j = 0; j < n_keep && !kept; j++) {
            NEA_AUTOFREE char *want = nea_tnet_libvirt_name(tenant, keep[j]);
            kept = !strcmp(want, names[i]);
        }
        if (!kept)
            rc = nea_host_tnet_remove(h, names[i], tenant, err);
    }
    nea_strv_free(names, n);
    return rc;
}

static bool spec_has(const struct nea_spec *s, const char *name)
{
    for (size_t i = 0; i < s->n_tnets; i++)
        if (!strcmp(s->tnets[i].name, name))
            return true;
    return false;
}

static void append(char **text, const char *item)
{
    char *t = nea_xasprintf("%s%s%s", *text ? *text : "", *text ? ", " : "", item);
    free(*text);
    *text = t;
}

/* Whether the record's applied spec names the network: then a removal is
 * the spec diff's, not a leftover. */
static bool record_has(const struct nea_ctx *c, const char *name)
{
    if (!c->rec || !c->rec->spec)
        return false;
    NEA_AUTOFREE char *key = nea_xasprintf("\ntenant-network.%s=", name);
    return strstr(c->rec->spec, key) != NULL;
}

int nea_tnets_observe(struct nea_engine *e, struct nea_ctx *c, struct nea_err *err)
{
    const struct nea_spec *s = c->spec;
    char **held = NULL;
    size_t n_held = 0;
    int rc = nea_tnet_held_names(e->state, s->tenant, &held, &n_held, err);
    for (size_t i = 0; i < n_held && rc == NEA_OK; i++)
        if (!spec_has(s, held[i]) && !record_has(c, held[i]))
            append(&c->tnet_leftover, held[i]);
    nea_strv_free(held, n_held);
    char **nets = NULL;
    size_t n_nets = 0;
    if (rc == NEA_OK)
        rc = nea_host_tnet_list(c->host, s->tenant, &nets, &n_nets, err);
    bool isolated = s->plan->tnet.mode == NEA_TNET_ISOLATED;
    for (size_t i = 0; i < n_nets && rc == NEA_OK; i++) {
        const char *net = nets[i] + strlen("nea-net.") + strlen(s->tenant) + 1;
        if ((!isolated || !spec_has(s, net)) && !record_has(c, net))
            append(&c->tnet_leftover, nets[i]);
    }
    /* a network of a deployed appliance deleted on the host by hand */
    for (size_t j = 0; isolated && c->rec && c->rec->spec_hash && j < s->n_tnets &&
                       rc == NEA_OK; j++) {
        NEA_AUTOFREE char *want = nea_tnet_libvirt_name(s->tenant, s->tnets[j].name);
        bool found = false;
        for (size_t i = 0; i < n_nets && !found; i++)
            found = !strcmp(nets[i], want);
        if (!found && record_has(c, s->tnets[j].name))
            append(&c->tnet_missing, want);
    }
    nea_strv_free(nets, n_nets);
    /* vNICs of the domain that are neither the external one nor a network
     * of the spec: a cut run plugged them, or the spec dropped a network
     * the record never had; they are unplugged before anything they are
     * on is released */
    const char *xmls[2] = {c->live.xml, c->live.xml_inactive};
    for (size_t k = 0; k < 2 && rc == NEA_OK; k++) {
        char **macs = NULL;
        size_t n_macs = 0;
        if (!xmls[k] || nea_dom_xml_macs(xmls[k], &macs, &n_macs) < 0)
            continue;
        char ext[18];
        nea_mac_format(s->mac, ext);
        for (size_t i = 0; i < n_macs; i++) {
            bool wanted = !strcmp(macs[i], ext);
            for (size_t j = 0; j < s->n_tnets && !wanted; j++) {
                char m[18];
                nea_mac_format(s->tnets[j].mac, m);
                wanted = !strcmp(m, macs[i]);
            }
            if (!wanted && (!c->tnet_stale_nics || !strstr(c->tnet_stale_nics, macs[i])))
                append(&c->tnet_stale_nics, macs[i]);
        }
        nea_strv_free(macs, n_macs);
    }
    return rc;
}

/* Whether a vNIC of network name (its derived MAC, any of the first
 * attempts) is in the domain's live or persistent definition. */
static bool still_plugged(const struct nea_spec *s, char **macs, size_t n_macs,
                          const char *name)
{
    for (unsigned salt = 0; salt < 4; salt++) {
        uint8_t mac[6];
        char m[18];
        nea_tnet_derive_mac(s->tenant, name, salt, mac);
        nea_mac_format(mac, m);
        for (size_t i = 0; i < n_macs; i++)
            if (!strcmp(macs[i], m))
                return true;
    }
    return false;
}

int nea_tnets_cleanup(struct nea_engine *e, struct nea_ctx *c, struct nea_err *err)
{
    const struct nea_spec *s = c->spec;
    /* the safety net: whatever the plan said, a network that still has a
     * vNIC in the domain keeps its libvirt network, slot and tag */
    struct nea_dom_info info;
    int rc = nea_host_dom_info(c->host, s->name, &info, err);
    if (rc < 0)
        return rc;
    char **macs = NULL, **more = NULL;
    size_t n_macs = 0, n_more = 0;
    if (info.xml)
        nea_dom_xml_macs(info.xml, &macs, &n_macs);
    if (info.xml_inactive)
        nea_dom_xml_macs(info.xml_inactive, &more, &n_more);
    macs = nea_xrealloc(macs, (n_macs + n_more + 1) * sizeof(*macs));
    for (size_t i = 0; i < n_more; i++)
        macs[n_macs++] = more[i];
    free(more);
    nea_dom_info_clear(&info);
    char **held = NULL;
    size_t n_held = 0;
    rc = nea_tnet_held_names(e->state, s->tenant, &held, &n_held, err);
    NEA_AUTOFREE const char **keep = nea_xcalloc(s->n_tnets + n_held + 1, sizeof(*keep));
    size_t n_keep = 0;
    for (size_t i = 0; i < s->n_tnets; i++)
        keep[n_keep++] = s->tnets[i].name;
    for (size_t i = 0; rc == NEA_OK && i < n_held; i++)
        if (!spec_has(s, held[i]) && still_plugged(s, macs, n_macs, held[i])) {
            keep[n_keep++] = held[i];
            NEA_AUTOFREE char *why = nea_xasprintf("network %s still has a vNIC in domain %s: "
                                                   "its slot, tag and network are kept",
                                                   held[i], s->name);
            nea_state_event(e->state, s->tenant, "kept-network", why, NULL);
        }
    nea_strv_free(macs, n_macs);
    /* in isolated mode the kept networks stay; in another mode none is
     * the spec's */
    bool isolated = s->plan->tnet.mode == NEA_TNET_ISOLATED;
    if (rc == NEA_OK)
        rc = remove_networks(c->host, s->tenant, isolated ? keep : NULL,
                             isolated ? n_keep : 0, err);
    if (rc == NEA_OK)
        rc = n_keep ? nea_tnet_release(e->state, s->tenant, keep, n_keep, c->uri,
                                       tnet_switch(s->plan), err)
                    : nea_tnet_release(e->state, s->tenant, NULL, 0, NULL, NULL, err);
    nea_strv_free(held, n_held);
    return rc;
}

int nea_tnets_destroy(struct nea_engine *e, struct nea_host *h, const char *host_uri,
                      const char *tenant, bool release, struct nea_err *err)
{
    int rc = remove_networks(h, tenant, NULL, 0, err);
    /* a move (no release) keeps them: the apply that moves releases the old
     * host's tags once it knows the new host is another one */
    if (rc == NEA_OK && release)
        rc = nea_tnet_release(e->state, tenant, NULL, 0, NULL, NULL, err);
    (void)host_uri;
    return rc;
}

/* "NAME=GW4/P [GW6/P] internet|no-internet IFNAME MAC [vlan V]" of a record */
static void parse_tnet_line(const char *key, const char *val, struct nea_tnet_status *t)
{
    t->name = nea_xstrdup(key + strlen("tenant-network."));
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", val);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (!strcmp(tok, "internet") || !strcmp(tok, "no-internet"))
            t->internet = !strcmp(tok, "internet");
        else if (!strcmp(tok, "vlan")) {
            char *v = strtok_r(NULL, " ", &save);
            t->vlan = v ? (unsigned)strtoul(v, NULL, 10) : 0;
        } else if (nea_str_has_prefix(tok, "int") && !t->ifname)
            t->ifname = nea_xstrdup(tok);
        else if (strchr(tok, '/') && strchr(tok, ':') && !t->gateway6)
            t->gateway6 = nea_xstrdup(tok);
        else if (strchr(tok, '/') && !t->gateway)
            t->gateway = nea_xstrdup(tok);
    }
}

void nea_tnets_status(struct nea_host *h, const struct nea_deployment *d,
                      struct nea_tnet_status **ret, size_t *ret_n)
{
    *ret = NULL;
    *ret_n = 0;
    if (!d->spec)
        return;
    struct nea_tnet_status *v = NULL;
    size_t n = 0;
    const char *mode = NULL;
    NEA_AUTOFREE char *copy = nea_xstrdup(d->spec);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (!strcmp(line, "tenant-networks")) {
            mode = eq + 1; /* in copy, which lives to the end */
            continue;
        }
        if (!nea_str_has_prefix(line, "tenant-network."))
            continue;
        v = nea_xrealloc(v, (n + 1) * sizeof(*v));
        memset(&v[n], 0, sizeof(v[n]));
        parse_tnet_line(line, eq + 1, &v[n]);
        n++;
    }
    bool ovs = mode && nea_str_has_prefix(mode, "ovs-vlan ");
    char ovs_bridge[64] = "";
    if (ovs)
        sscanf(mode + strlen("ovs-vlan "), "%63s", ovs_bridge);
    for (size_t i = 0; i < n; i++) {
        if (ovs) {
            v[i].bridge = nea_xstrdup(ovs_bridge);
            continue;
        }
        v[i].libvirt_network = nea_tnet_libvirt_name(d->tenant, v[i].name);
        struct nea_err berr = {0};
        if (h)
            nea_host_tnet_bridge(h, v[i].libvirt_network, &v[i].bridge, &berr);
    }
    *ret = v;
    *ret_n = n;
}

void nea_tnet_statuses_free(struct nea_tnet_status *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].ifname);
        free(v[i].gateway);
        free(v[i].gateway6);
        free(v[i].libvirt_network);
        free(v[i].bridge);
    }
    free(v);
}

int nea_engine_rule_check(struct nea_engine *e, const char *tenant,
                          const struct nea_rule *r, struct nea_err *err)
{
    NEA_AUTO(nea_deployment_freep) struct nea_deployment *d = NULL;
    int rc = nea_state_get(e->state, tenant, &d, err);
    if (rc < 0 || !d || d->state == NEA_DEP_GONE)
        return rc;
    struct nea_tnet_status *v = NULL;
    size_t n = 0;
    nea_tnets_status(NULL, d, &v, &n);
    bool inside = n == 0;
    char list[512] = "";
    size_t off = 0;
    for (size_t i = 0; i < n && !inside; i++) {
        const char *nets[2] = {v[i].gateway, v[i].gateway6};
        for (size_t k = 0; k < 2 && !inside; k++) {
            if (!nets[k])
                continue;
            char addr[NEA_IP_STRLEN + 8];
            snprintf(addr, sizeof(addr), "%s", nets[k]);
            char *slash = strchr(addr, '/');
            struct nea_ip gw;
            if (!slash)
                continue;
            *slash = '\0';
            if (nea_ip_parse(addr, &gw) < 0)
                continue;
            inside = nea_ip_in_subnet(&r->to, &gw, (unsigned)strtoul(slash + 1, NULL, 10));
            if (off < sizeof(list))
                off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s %s",
                                        off ? ", " : "", v[i].name, nets[k]);
        }
    }
    nea_tnet_statuses_free(v, n);
    if (inside)
        return NEA_OK;
    char to[NEA_IP_STRLEN];
    nea_ip_format(&r->to, to);
    return nea_err_set(err, NEA_ERR_INVALID, "--to %s is in none of tenant %s's networks "
                       "(%s): a rule's replica must be on one of them", to, tenant, list);
}

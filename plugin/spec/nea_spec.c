/*
 * nea_spec.c: appliance specs -> the validated model (struct nea_spec).
 *
 * Walks the YAML tree of a spec field by field and keeps going after a
 * problem, so that one run reports all of them; loads the hardware plan the
 * spec names from the plan directories (nea_plan_load.c); the address
 * blocks are nea_spec_ip.c's.  The derived MAC, UUID and spec hash are filled
 * in (nea_derive.c) only once the input is known good.  Must not touch
 * libvirt, read anything but the spec and its plan, or print.
 */
#include "nea_spec.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "nea_spec_int.h"
#include "nea_util.h"

enum { S_TENANT, S_PLAN, S_APPLIANCE, S_PUBLIC, S_NETWORKS, S_N };
static const char *const spec_keys[] = {"tenant", "hardware-plan", "appliance",
                                        "public-ips", "networks"};
enum { A_NAME, A_NET, A_MAC, A_UUID, A_V4, A_V6, A_DNS, A_SSH, A_N };
static const char *const app_keys[] = {"name", "external-network", "mac", "uuid",
                                       "ipv4", "ipv6", "dns", "ssh-authorized-keys"};
enum { PUB_V4, PUB_V6, PUB_N };
static const char *const pub_keys[] = {"ipv4", "ipv6"};

static int find_plan(struct nea_schema *c, const struct nea_ynode *at, const char *name,
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
    nea_err_at(c, at, "hardware-plan \"%s\" not found: no %s.yaml in %s", name, name,
               off ? tried : "(no plan directory configured)");
    return NEA_ERR_INVALID;
}

static void read_dns(struct nea_schema *c, const struct nea_ynode *node,
                     struct nea_spec *s)
{
    if (!node)
        return;
    if (node->type != NEA_Y_SEQ) {
        nea_err_at(c, node, "appliance.dns must be a list of addresses, found %s",
                   nea_ynode_type_name(node));
        return;
    }
    if (node->n > NEA_MAX_DNS)
        nea_err_at(c, node, "appliance.dns lists %zu servers, the limit is %d", node->n,
                   NEA_MAX_DNS);
    for (size_t i = 0; i < node->n && s->n_dns < NEA_MAX_DNS; i++) {
        NEA_AUTOFREE char *path = nea_xasprintf("appliance.dns[%zu]", i);
        struct nea_ip ip;
        if (!nea_get_ip(c, node->items[i], path, 0, &ip))
            continue;
        enum nea_ip_kind k = nea_ip_kind(&ip);
        if (k != NEA_IP_UNICAST) {
            nea_err_at(c, node->items[i], "%s %s is %s, not a usable DNS server", path,
                       node->items[i]->value, nea_ip_kind_name(k));
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < s->n_dns; j++)
            dup |= nea_ip_equal(&s->dns[j], &ip);
        if (dup) {
            nea_err_at(c, node->items[i], "%s %s is listed twice", path,
                       node->items[i]->value);
            continue;
        }
        if ((ip.family == AF_INET && s->ipv4.mode == NEA_V4_DISABLED) ||
            (ip.family == AF_INET6 && s->ipv6.mode == NEA_V6_DISABLED))
            nea_warn_at(c, node->items[i], "%s %s is an %s server but %s is disabled on "
                        "the appliance", path, node->items[i]->value,
                        nea_family_name(ip.family),
                        ip.family == AF_INET ? "IPv4" : "IPv6");
        s->dns[s->n_dns++] = ip;
    }
}

static void read_ssh_keys(struct nea_schema *c, const struct nea_ynode *node,
                          struct nea_spec *s)
{
    if (!node)
        return;
    if (node->type != NEA_Y_SEQ) {
        nea_err_at(c, node, "appliance.ssh-authorized-keys must be a list, found %s",
                   nea_ynode_type_name(node));
        return;
    }
    if (node->n > NEA_MAX_SSH_KEYS)
        nea_err_at(c, node, "appliance.ssh-authorized-keys lists %zu keys, the limit is "
                   "%d", node->n, NEA_MAX_SSH_KEYS);
    static const char *const types[] = {"ssh-ed25519 ", "ssh-rsa ",
                                        "ecdsa-sha2-nistp256 ", "ecdsa-sha2-nistp384 ",
                                        "ecdsa-sha2-nistp521 ",
                                        "sk-ssh-ed25519@openssh.com ",
                                        "sk-ecdsa-sha2-nistp256@openssh.com "};
    for (size_t i = 0; i < node->n && s->n_ssh_keys < NEA_MAX_SSH_KEYS; i++) {
        NEA_AUTOFREE char *path = nea_xasprintf("appliance.ssh-authorized-keys[%zu]", i);
        const char *k = nea_get_str(c, node->items[i], path, 16384);
        if (!k)
            continue;
        bool ok = false;
        for (size_t t = 0; t < NEA_ARRAY_SIZE(types); t++)
            ok |= nea_str_has_prefix(k, types[t]);
        if (!ok) {
            nea_err_at(c, node->items[i], "%s is not an OpenSSH public key (expected it "
                       "to start with a key type such as ssh-ed25519)", path);
            continue;
        }
        s->ssh_keys[s->n_ssh_keys++] = nea_xstrdup(k);
    }
}

/* One of the networks the plan offers, by its reference. */
static void read_external_network(struct nea_schema *c, const struct nea_ynode *n,
                                  struct nea_spec *s)
{
    const char *str = nea_get_str(c, n, "appliance.external-network", 80);
    if (!str)
        return;
    struct nea_network probe = {0};
    if (!nea_parse_network_ref(str, &probe)) {
        nea_err_at(c, n, "appliance.external-network \"%s\" is neither a bridge name "
                   "(1-15 characters, no '/', ':' or spaces), \"ovs:BRIDGE\" nor "
                   "\"network:NAME\"", str);
        return;
    }
    free(probe.ref);
    free(probe.name);
    if (!s->plan)
        return;
    for (size_t i = 0; i < s->plan->n_networks; i++)
        if (!strcmp(s->plan->networks[i].ref, str))
            s->network = &s->plan->networks[i];
    if (s->network)
        return;
    char list[512] = "";
    size_t off = 0;
    for (size_t i = 0; i < s->plan->n_networks && off < sizeof(list); i++)
        off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
                                s->plan->networks[i].ref);
    nea_err_at(c, n, "appliance.external-network \"%s\" is not offered by hardware "
               "plan %s (it offers: %s)", str, s->plan->name, list);
}

static void read_spec_tree(struct nea_schema *c, const struct nea_ynode *root,
                           const struct nea_load_opts *opts, struct nea_spec *s,
                           struct nea_err *err)
{
    const struct nea_ynode *v[S_N], *a[A_N] = {0}, *pub[PUB_N] = {0};
    if (!nea_read_map(c, root, "", spec_keys, S_N, v))
        return;
    const char *str;
    if (!v[S_TENANT])
        nea_err_at(c, root, "tenant is required");
    else if ((str = nea_get_str(c, v[S_TENANT], "tenant", 64))) {
        if (!nea_valid_ident(str, 48))
            nea_err_at(c, v[S_TENANT], "tenant \"%s\" must be 1-48 lower-case letters, "
                       "digits and '-', starting with a letter or digit", str);
        else
            s->tenant = nea_xstrdup(str);
    }
    if (!v[S_PLAN])
        nea_err_at(c, root, "hardware-plan is required");
    else if ((str = nea_get_str(c, v[S_PLAN], "hardware-plan", 64))) {
        if (!nea_valid_ident(str, 48))
            nea_err_at(c, v[S_PLAN], "hardware-plan \"%s\" must be a plan name: "
                       "lower-case letters, digits and '-'", str);
        else {
            s->plan_name = nea_xstrdup(str);
            if (find_plan(c, v[S_PLAN], str, opts, &s->plan, err) < 0 &&
                err->code != NEA_OK)
                /* An unreadable plan file is not a spec problem; still name it
                 * at the reference so the user sees both. */
                nea_err_at(c, v[S_PLAN], "hardware-plan \"%s\": %s", str, err->msg);
        }
    }
    if (!v[S_APPLIANCE])
        nea_err_at(c, root, "appliance is required");
    else
        nea_read_map(c, v[S_APPLIANCE], "appliance", app_keys, A_N, a);
    if (v[S_PUBLIC])
        nea_read_map(c, v[S_PUBLIC], "public-ips", pub_keys, PUB_N, pub);

    if (a[A_NAME] && (str = nea_get_str(c, a[A_NAME], "appliance.name", 80))) {
        if (!nea_valid_hostname(str))
            nea_err_at(c, a[A_NAME], "appliance.name \"%s\" must be a host name: 1-63 "
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
        nea_err_at(c, v[S_APPLIANCE], "appliance.external-network is required");
    else if (a[A_NET])
        read_external_network(c, a[A_NET], s);
    if (a[A_MAC] && (str = nea_get_str(c, a[A_MAC], "appliance.mac", 32))) {
        if (!nea_parse_mac(str, s->mac))
            nea_err_at(c, a[A_MAC], "appliance.mac \"%s\" is not a MAC address of the "
                       "form 52:54:00:0a:0b:0c", str);
        else if (s->mac[0] & 1)
            nea_err_at(c, a[A_MAC], "appliance.mac %s is a multicast address; a NIC "
                       "needs a unicast one", str);
        else if (!(s->mac[0] | s->mac[1] | s->mac[2] | s->mac[3] | s->mac[4] | s->mac[5]))
            nea_err_at(c, a[A_MAC], "appliance.mac %s is all zeros", str);
        else
            s->mac_given = true;
    }
    if (a[A_UUID] && (str = nea_get_str(c, a[A_UUID], "appliance.uuid", 64))) {
        if (!nea_parse_uuid(str, s->uuid))
            nea_err_at(c, a[A_UUID], "appliance.uuid \"%s\" is not a UUID of the form "
                       "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", str);
        else
            s->uuid_given = true;
    }
    bool v4_read = nea_read_ipv4(c, a[A_V4], &s->ipv4);
    bool v6_read = nea_read_ipv6(c, a[A_V6], &s->ipv6);
    if (v4_read && v6_read && s->ipv4.mode == NEA_V4_DISABLED &&
        s->ipv6.mode == NEA_V6_DISABLED)
        nea_err_at(c, a[A_V4], "appliance.ipv4 and appliance.ipv6 are both disabled: the "
                   "appliance would be unreachable on the external network");
    read_dns(c, a[A_DNS], s);
    read_ssh_keys(c, a[A_SSH], s);
    if (pub[PUB_V4])
        nea_get_uint(c, pub[PUB_V4], "public-ips.ipv4", 0, 9999, &s->public_ipv4);
    if (pub[PUB_V6])
        nea_get_uint(c, pub[PUB_V6], "public-ips.ipv6", 0, 9999, &s->public_ipv6);
    /* after the addresses: the list is checked against the external subnet */
    nea_read_tnets(c, v[S_NETWORKS], root, s);
    if (s->public_ipv4 && s->ipv4.mode == NEA_V4_DISABLED && pub[PUB_V4])
        nea_warn_at(c, pub[PUB_V4], "public-ips.ipv4 asks for %u addresses but "
                    "appliance.ipv4 is disabled", s->public_ipv4);
    if (s->public_ipv6 && s->ipv6.mode == NEA_V6_DISABLED && pub[PUB_V6])
        nea_warn_at(c, pub[PUB_V6], "public-ips.ipv6 asks for %u addresses but "
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
    struct nea_schema c = {.file = name, .d = diags};
    struct nea_err plan_err = {0};
    read_spec_tree(&c, root, opts, s, &plan_err);
    nea_diags_sort(diags);
    if (diags->n_errors > before)
        return NEA_ERR_INVALID;
    nea_spec_derive(s);
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


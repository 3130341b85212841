/*
 * nea_plan_load.c: hardware plans (hw/plans/NAME.yaml) -> struct nea_plan.
 *
 * Reads a plan's fields against the schema, every problem a located
 * diagnostic, and resolves a relative image against the plan's folder.  The
 * host URI goes through the allow-list of nea_uri.h.  Must not touch
 * libvirt, read anything but the plan file, or print.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "nea_spec.h"
#include "nea_spec_int.h"
#include "nea_uri.h"
#include "nea_util.h"

#define NEA_PLAN_MAX_BYTES (64 * 1024)

enum {
    P_NAME, P_DESC, P_HOST, P_POOL, P_NETWORKS, P_VCPUS, P_MEMORY, P_DISK, P_IMAGE,
    P_IMAGE_SHA, P_MACHINE, P_DOMTYPE, P_KERNEL, P_INITRD, P_CMDLINE, P_CDROM, P_TNET, P_N
};
static const char *const plan_keys[] = {
    "name", "description", "host", "storage-pool", "networks", "vcpus",
    "memory-mib", "disk-gib", "image", "image-sha256", "machine", "domain-type",
    "kernel", "initrd", "cmdline", "cdrom-bus", "tenant-networks"};

static bool is_url(const char *s)
{
    return nea_str_has_prefix(s, "http://") || nea_str_has_prefix(s, "https://") ||
           nea_str_has_prefix(s, "file://");
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

static void read_networks(struct nea_schema *c, const struct nea_ynode *nets,
                          struct nea_plan *p)
{
    if (nets->type != NEA_Y_SEQ || nets->n == 0) {
        nea_err_at(c, nets, "networks must be a non-empty list of external networks, "
                   "found %s", nets->type == NEA_Y_SEQ ? "an empty list"
                                                       : nea_ynode_type_name(nets));
        return;
    }
    if (nets->n > NEA_MAX_PLAN_NETWORKS) {
        nea_err_at(c, nets, "networks lists %zu entries, the limit is %d", nets->n,
                   NEA_MAX_PLAN_NETWORKS);
        return;
    }
    p->networks = nea_xcalloc(nets->n, sizeof(*p->networks));
    for (size_t i = 0; i < nets->n; i++) {
        NEA_AUTOFREE char *path = nea_xasprintf("networks[%zu]", i);
        const char *s = nea_get_str(c, nets->items[i], path, 80);
        if (!s)
            continue;
        struct nea_network net = {0};
        if (!nea_parse_network_ref(s, &net)) {
            nea_err_at(c, nets->items[i], "%s \"%s\" is neither a bridge name (1-15 "
                       "characters, no '/', ':' or spaces), \"ovs:BRIDGE\" nor "
                       "\"network:NAME\"", path, s);
            continue;
        }
        /* a tenant network's libvirt network is one tenant's segment: never
         * an external network that any appliance's vNIC could join */
        if (net.kind == NEA_NET_LIBVIRT && nea_str_has_prefix(net.name, "nea-net.")) {
            nea_err_at(c, nets->items[i], "%s \"%s\": libvirt networks named nea-net.* are "
                       "tenant networks that neaprov makes (one tenant's each), never an "
                       "external network", path, s);
            free(net.ref);
            free(net.name);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < p->n_networks; j++)
            dup |= !strcmp(p->networks[j].ref, s);
        if (dup) {
            nea_err_at(c, nets->items[i], "%s \"%s\" is listed twice", path, s);
            free(net.ref);
            free(net.name);
            continue;
        }
        p->networks[p->n_networks++] = net;
    }
}

/* A decimal number of at most 4 digits at *p, advancing it; -1: none. */
static long vlan_number(const char **p)
{
    long v = 0;
    int n = 0;
    while (isdigit((unsigned char)**p) && n < 5) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n == 0 || n > 4 ? -1 : v;
}

/* "FIRST-LAST" (or one tag) of 802.1Q tags 1..4094. */
static bool parse_vlans(const char *s, unsigned *first, unsigned *last)
{
    long a = vlan_number(&s), b = a;
    if (*s == '-') {
        s++;
        b = vlan_number(&s);
    }
    if (*s || a < 1 || b < a || b > 4094)
        return false;
    *first = (unsigned)a;
    *last = (unsigned)b;
    return true;
}

/* tenant-networks: how tenant networks are made on the host. */
static void read_tnet(struct nea_schema *c, const struct nea_ynode *node, struct nea_plan *p)
{
    enum { T_MODE, T_MAX, T_BRIDGE, T_VLANS, T_N };
    static const char *const keys[] = {"mode", "max-networks", "bridge", "vlans"};
    const struct nea_ynode *v[T_N];
    if (!nea_read_map(c, node, "tenant-networks", keys, T_N, v))
        return;
    p->tnet.max_networks = NEA_TNET_DEFAULT_MAX;
    if (v[T_MAX])
        nea_get_uint(c, v[T_MAX], "tenant-networks.max-networks", 1, NEA_MAX_TENANT_NETS,
                     &p->tnet.max_networks);
    static const char *const modes[] = {"isolated", "ovs-vlan"};
    int m = -1;
    if (!v[T_MODE])
        nea_err_at(c, node, "tenant-networks.mode is required (isolated or ovs-vlan)");
    else
        m = nea_get_enum(c, v[T_MODE], "tenant-networks.mode", modes,
                         NEA_ARRAY_SIZE(modes));
    if (m < 0)
        return;
    p->tnet.mode = m == 0 ? NEA_TNET_ISOLATED : NEA_TNET_OVS_VLAN;
    const char *s;
    if (p->tnet.mode == NEA_TNET_ISOLATED) {
        for (int k = T_BRIDGE; k <= T_VLANS; k++)
            if (v[k])
                nea_err_at(c, v[k], "tenant-networks.%s is for mode ovs-vlan; mode "
                           "isolated makes one libvirt network per tenant network",
                           keys[k]);
        return;
    }
    if (!v[T_BRIDGE])
        nea_err_at(c, node, "tenant-networks.bridge (the Open vSwitch bridge) is required "
                   "in mode ovs-vlan");
    else if ((s = nea_get_str(c, v[T_BRIDGE], "tenant-networks.bridge", 64))) {
        if (!nea_valid_ifname(s))
            nea_err_at(c, v[T_BRIDGE], "tenant-networks.bridge \"%s\" is not a bridge name "
                       "(1-15 characters, no '/', ':' or spaces)", s);
        else
            p->tnet.bridge = nea_xstrdup(s);
    }
    if (!v[T_VLANS])
        nea_err_at(c, node, "tenant-networks.vlans (a range of tags such as 100-199) is "
                   "required in mode ovs-vlan");
    else if ((s = nea_get_str(c, v[T_VLANS], "tenant-networks.vlans", 32)) &&
             !parse_vlans(s, &p->tnet.vlan_first, &p->tnet.vlan_last))
        nea_err_at(c, v[T_VLANS], "tenant-networks.vlans \"%s\" is not a range of VLAN "
                   "tags FIRST-LAST within 1-4094", s);
}

static void read_plan_tree(struct nea_schema *c, const struct nea_ynode *root,
                           struct nea_plan *p)
{
    const struct nea_ynode *v[P_N];
    if (!nea_read_map(c, root, "", plan_keys, P_N, v))
        return;
    static const char *const required[] = {"name", "host", "storage-pool",
                                           "networks", "vcpus", "memory-mib",
                                           "disk-gib", "image"};
    for (size_t r = 0; r < NEA_ARRAY_SIZE(required); r++)
        for (size_t i = 0; i < P_N; i++)
            if (!strcmp(plan_keys[i], required[r]) && !v[i])
                nea_err_at(c, root, "%s is required in a hardware plan", required[r]);

    const char *s;
    if (v[P_NAME] && (s = nea_get_str(c, v[P_NAME], "name", 48))) {
        char base[256];
        plan_base(c->file, base, sizeof(base));
        if (!nea_valid_ident(s, 48))
            nea_err_at(c, v[P_NAME], "name \"%s\" must be lower-case letters, digits and "
                       "'-', starting with a letter or digit", s);
        else if (strcmp(s, base))
            nea_err_at(c, v[P_NAME], "name \"%s\" does not match the file name %s.yaml",
                       s, base);
        else
            p->name = nea_xstrdup(s);
    }
    if (v[P_DESC] && (s = nea_get_str(c, v[P_DESC], "description", 1024)))
        p->description = nea_xstrdup(s);
    if (v[P_HOST] && (s = nea_get_str(c, v[P_HOST], "host", 1024))) {
        /* the URI decides what libvirt runs and reads (nea_uri.h); the
         * message names the URI and the rule, nothing it points to */
        struct nea_err uerr = {0};
        NEA_AUTOFREE char *warning = NULL;
        if (nea_host_uri_check("host", s, &warning, &uerr) < 0) {
            nea_err_at(c, v[P_HOST], "%s", uerr.msg);
        } else {
            if (warning)
                nea_warn_at(c, v[P_HOST], "%s", warning);
            p->host = nea_xstrdup(s);
        }
    }
    if (v[P_POOL] && (s = nea_get_str(c, v[P_POOL], "storage-pool", 64))) {
        if (!nea_valid_libvirt_name(s))
            nea_err_at(c, v[P_POOL], "storage-pool \"%s\" is not a valid libvirt pool "
                       "name", s);
        else
            p->storage_pool = nea_xstrdup(s);
    }
    if (v[P_NETWORKS])
        read_networks(c, v[P_NETWORKS], p);
    if (v[P_VCPUS])
        nea_get_uint(c, v[P_VCPUS], "vcpus", 1, 64, &p->vcpus);
    if (v[P_MEMORY])
        nea_get_uint(c, v[P_MEMORY], "memory-mib", 128, 1048576, &p->memory_mib);
    if (v[P_DISK])
        nea_get_uint(c, v[P_DISK], "disk-gib", 1, 65536, &p->disk_gib);
    NEA_AUTOFREE char *why = NULL;
    if (v[P_IMAGE] && (s = nea_get_str(c, v[P_IMAGE], "image", 4096))) {
        if (strstr(s, "://") && !is_url(s)) {
            NEA_AUTOFREE char *shown = nea_url_redact(s);
            nea_err_at(c, v[P_IMAGE], "image \"%s\" must be a path or an http://, "
                       "https:// or file:// URL", shown);
        } else if (is_url(s) && (why = nea_url_problem(s))) {
            /* it would be fetched, or shown, as something else than meant */
            nea_err_at(c, v[P_IMAGE], "image URL %s", why);
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
    if (v[P_IMAGE_SHA] && (s = nea_get_str(c, v[P_IMAGE_SHA], "image-sha256", 128))) {
        bool ok = strlen(s) == 64;
        for (const char *q = s; ok && *q; q++)
            ok = isxdigit((unsigned char)*q);
        if (!ok) {
            nea_err_at(c, v[P_IMAGE_SHA], "image-sha256 must be 64 hexadecimal digits");
        } else {
            p->image_sha256 = nea_xstrdup(s);
            for (char *q = p->image_sha256; *q; q++)
                *q = (char)tolower((unsigned char)*q);
        }
    } else if (!v[P_IMAGE_SHA] && p->image && is_url(p->image)) {
        nea_err_at(c, v[P_IMAGE], "image-sha256 is required when image is a URL");
    }
    p->machine = nea_xstrdup("q35");
    if (v[P_MACHINE] && (s = nea_get_str(c, v[P_MACHINE], "machine", 64))) {
        if (!nea_valid_machine(s))
            nea_err_at(c, v[P_MACHINE], "machine \"%s\" is not a QEMU machine type name "
                       "(e.g. q35, pc, pc-q35-7.2)", s);
        else {
            free(p->machine);
            p->machine = nea_xstrdup(s);
        }
    }
    static const char *const boot_keys[] = {[P_KERNEL] = "kernel", [P_INITRD] = "initrd"};
    char **boot_vals[] = {[P_KERNEL] = &p->kernel, [P_INITRD] = &p->initrd};
    for (int k = P_KERNEL; k <= P_INITRD; k++) {
        if (!v[k] || !(s = nea_get_str(c, v[k], boot_keys[k], 4096)))
            continue;
        if (s[0] != '/')
            nea_err_at(c, v[k], "%s \"%s\" must be an absolute path on the KVM host",
                       boot_keys[k], s);
        else
            *boot_vals[k] = nea_xstrdup(s);
    }
    if (v[P_CMDLINE] && (s = nea_get_str(c, v[P_CMDLINE], "cmdline", 1024)))
        p->cmdline = nea_xstrdup(s);
    if ((v[P_INITRD] || v[P_CMDLINE]) && !v[P_KERNEL])
        nea_err_at(c, v[P_INITRD] ? v[P_INITRD] : v[P_CMDLINE], "%s needs kernel (direct "
                   "kernel boot)", v[P_INITRD] ? "initrd" : "cmdline");
    static const char *const buses[] = {"sata", "scsi", "ide"};
    if (v[P_CDROM]) {
        int b = nea_get_enum(c, v[P_CDROM], "cdrom-bus", buses, NEA_ARRAY_SIZE(buses));
        if (b >= 0)
            p->cdrom_bus = nea_xstrdup(buses[b]);
    }
    if (v[P_TNET])
        read_tnet(c, v[P_TNET], p);
    p->domain_type = NEA_DOMTYPE_AUTO;
    if (v[P_DOMTYPE]) {
        int t = nea_get_enum(c, v[P_DOMTYPE], "domain-type", nea_domain_type_names,
                             NEA_ARRAY_SIZE(nea_domain_type_names));
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
    struct nea_schema c = {.file = path, .d = diags};
    read_plan_tree(&c, root, p);
    if (diags->n_errors > before)
        return NEA_ERR_INVALID;
    *ret_plan = TAKE_PTR(p);
    return NEA_OK;
}


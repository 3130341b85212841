/*
 * nea_domain.c: the libvirt domain XML of an appliance, built with libxml2.
 *
 * The SP's template (templates/domain.xml) supplies everything neaprov does
 * not decide (features, clock, CPU model, extra devices); neaprov owns the
 * elements listed in `owned_top` and the devices it adds, and replaces any
 * the template carries.  No XML text is pasted together here.
 */
#include "nea_render.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nea_iso.h"
#include "nea_util.h"
#include "nea_xml.h"

static bool is_el(xmlNodePtr n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && !xmlStrcmp(n->name, BAD_CAST name);
}

static xmlNodePtr child_el(xmlNodePtr parent, const char *name)
{
    for (xmlNodePtr c = parent->children; c; c = c->next)
        if (is_el(c, name))
            return c;
    return NULL;
}

static xmlNodePtr add_el(xmlNodePtr parent, const char *name, const char *text)
{
    xmlNodePtr n = xmlNewChild(parent, NULL, BAD_CAST name, NULL);
    if (!n)
        abort();
    if (text)
        xmlNodeAddContent(n, BAD_CAST text); /* escapes, unlike xmlNewChild */
    return n;
}

static void set_attr(xmlNodePtr n, const char *name, const char *value)
{
    if (!xmlSetProp(n, BAD_CAST name, BAD_CAST value))
        abort();
}

static xmlNodePtr add_el_attr(xmlNodePtr parent, const char *name, const char *attr,
                              const char *value)
{
    xmlNodePtr n = add_el(parent, name, NULL);
    set_attr(n, attr, value);
    return n;
}

static void remove_node(xmlNodePtr n)
{
    xmlUnlinkNode(n);
    xmlFreeNode(n);
}

/* Comments in the template are for the SP reading it, not for libvirt. */
static void strip_comments(xmlNodePtr n)
{
    xmlNodePtr c = n->children;
    while (c) {
        xmlNodePtr next = c->next;
        if (c->type == XML_COMMENT_NODE)
            remove_node(c);
        else if (c->type == XML_ELEMENT_NODE)
            strip_comments(c);
        c = next;
    }
}

static bool is_i440fx(const char *machine)
{
    return !strcmp(machine, "pc") || nea_str_has_prefix(machine, "pc-i440fx");
}

/* Where the vNIC of tenant network slot N sits, so that the guest's view
 * never shuffles when a network comes or goes, and so that the engine can
 * hot-plug it into a running domain at the same address (tnet_iface_xml;
 * measured on the qemu driver: attach and detach --live into an empty port
 * or slot, with a booted guest):
 *
 * q35: on pcie-root-port NEA_TNET_PORT_INDEX_BASE + N, slot 0.  PCI Express
 * hot-plug needs the root port present at boot, so the plan's max-networks
 * ports are always there, empty until their network comes.  libvirt
 * (checked with 9.0, the qemu driver) places a device without an address on
 * the lowest free port, empty pre-declared ones included: ports at indexes
 * 1..max would be taken by the external vNIC, the disk and the template's
 * devices.  Above the gap, they are not: libvirt fills a gap in the
 * controller indexes with pcie-root-ports of its own (1..15 here), and those
 * take the other devices (15 of them before one could reach ours).
 *
 * i440fx: on the root bus, slot NEA_TNET_PC_SLOT_BASE + N (ACPI hot-plug on
 * pci.0 needs no controller); libvirt fills slots from the bottom. */
static bool tnet_place(const struct nea_spec *s, unsigned slot, unsigned *ret_bus,
                       unsigned *ret_pci_slot)
{
    if (is_i440fx(s->plan->machine)) {
        *ret_bus = 0;
        *ret_pci_slot = NEA_TNET_PC_SLOT_BASE + slot;
    } else {
        *ret_bus = NEA_TNET_PORT_INDEX_BASE + slot;
        *ret_pci_slot = 0;
    }
    return slot < s->plan->tnet.max_networks;
}

static void add_pci_address(xmlNodePtr parent, unsigned bus, unsigned slot)
{
    char b[8], sl[8];
    snprintf(b, sizeof(b), "0x%02x", bus);
    snprintf(sl, sizeof(sl), "0x%02x", slot);
    xmlNodePtr addr = add_el_attr(parent, "address", "type", "pci");
    set_attr(addr, "domain", "0x0000");
    set_attr(addr, "bus", b);
    set_attr(addr, "slot", sl);
    set_attr(addr, "function", "0x0");
}

static xmlNodePtr add_tnet_nic(xmlNodePtr parent, const struct nea_spec *s,
                               const struct nea_tnet *t)
{
    const struct nea_tnet_plan *tp = &s->plan->tnet;
    char mac[18], buf[16];
    nea_mac_format(t->mac, mac);
    xmlNodePtr nic = add_el(parent, "interface", NULL);
    if (tp->mode == NEA_TNET_ISOLATED) {
        set_attr(nic, "type", "network");
        add_el_attr(nic, "mac", "address", mac);
        NEA_AUTOFREE char *net = nea_tnet_libvirt_name(s->tenant, t->name);
        add_el_attr(nic, "source", "network", net);
    } else {
        set_attr(nic, "type", "bridge");
        add_el_attr(nic, "mac", "address", mac);
        add_el_attr(nic, "source", "bridge", tp->bridge);
        snprintf(buf, sizeof(buf), "%u", t->vlan);
        add_el_attr(add_el(nic, "vlan", NULL), "tag", "id", buf);
        add_el_attr(nic, "virtualport", "type", "openvswitch");
    }
    add_el_attr(nic, "model", "type", "virtio");
    unsigned bus, slot;
    tnet_place(s, t->slot, &bus, &slot);
    add_pci_address(nic, bus, slot);
    return nic;
}

/* Managed devices go first, template extras after, in a fixed order so that
 * libvirt assigns PCI slots the same way on every render.  ret_tnet_nics[i]
 * is the vNIC of s->tnets[i]. */
static void add_devices(xmlNodePtr devices, const struct nea_spec *s,
                        const struct nea_render_opts *o, xmlNodePtr *ret_tnet_nics,
                        xmlNodePtr *ret_cdrom)
{
    xmlNodePtr first = devices->children;
    xmlNodePtr holder = xmlNewNode(NULL, BAD_CAST "holder");
    char buf[4096];

    xmlNodePtr disk = add_el(holder, "disk", NULL);
    set_attr(disk, "type", "file");
    set_attr(disk, "device", "disk");
    xmlNodePtr drv = add_el_attr(disk, "driver", "name", "qemu");
    set_attr(drv, "type", "qcow2");
    set_attr(drv, "discard", "unmap");
    if (o->disk_volume)
        snprintf(buf, sizeof(buf), "%s/%s", o->volume_dir, o->disk_volume);
    else
        snprintf(buf, sizeof(buf), "%s/%s.qcow2", o->volume_dir, s->name);
    add_el_attr(disk, "source", "file", buf);
    xmlNodePtr tgt = add_el_attr(disk, "target", "dev", "vda");
    set_attr(tgt, "bus", "virtio");

    xmlNodePtr cd = add_el(holder, "disk", NULL);
    set_attr(cd, "type", "file");
    set_attr(cd, "device", "cdrom");
    drv = add_el_attr(cd, "driver", "name", "qemu");
    set_attr(drv, "type", "raw");
    if (o->seed_volume)
        snprintf(buf, sizeof(buf), "%s/%s", o->volume_dir, o->seed_volume);
    else
        snprintf(buf, sizeof(buf), "%s/%s-seed.iso", o->volume_dir, s->name);
    add_el_attr(cd, "source", "file", buf);
    /* SATA on q35; IDE on i440fx; virtio-scsi where the plan asks (kernels
     * without AHCI, such as Debian's cloud kernel) */
    const char *bus = s->plan->cdrom_bus ? s->plan->cdrom_bus
                      : is_i440fx(s->plan->machine) ? "ide"
                                                    : "sata";
    tgt = add_el_attr(cd, "target", "dev", !strcmp(bus, "ide") ? "hdc" : "sda");
    set_attr(tgt, "bus", bus);
    add_el(cd, "readonly", NULL);
    *ret_cdrom = cd;
    if (!strcmp(bus, "scsi")) {
        xmlNodePtr ctl = add_el_attr(holder, "controller", "type", "scsi");
        set_attr(ctl, "index", "0");
        set_attr(ctl, "model", "virtio-scsi");
    }

    char mac[18];
    nea_mac_format(s->mac, mac);
    xmlNodePtr nic = add_el(holder, "interface", NULL);
    bool libvirt_net = s->network->kind == NEA_NET_LIBVIRT;
    set_attr(nic, "type", libvirt_net ? "network" : "bridge");
    add_el_attr(nic, "mac", "address", mac);
    add_el_attr(nic, "source", libvirt_net ? "network" : "bridge", s->network->name);
    if (s->network->kind == NEA_NET_OVS)
        add_el_attr(nic, "virtualport", "type", "openvswitch");
    add_el_attr(nic, "model", "type", "virtio");

    /* tenant networks: the root ports (q35), then the vNICs by slot */
    if (s->plan->tnet.mode != NEA_TNET_NONE && !is_i440fx(s->plan->machine)) {
        for (unsigned k = 0; k < s->plan->tnet.max_networks; k++) {
            snprintf(buf, sizeof(buf), "%u", NEA_TNET_PORT_INDEX_BASE + k);
            xmlNodePtr ctl = add_el_attr(holder, "controller", "type", "pci");
            set_attr(ctl, "index", buf);
            set_attr(ctl, "model", "pcie-root-port");
        }
    }
    NEA_AUTOFREE const struct nea_tnet **by_slot =
        nea_xcalloc(s->n_tnets ? s->n_tnets : 1, sizeof(*by_slot));
    nea_tnets_by_slot(s, by_slot);
    for (size_t k = 0; k < s->n_tnets; k++)
        ret_tnet_nics[by_slot[k] - s->tnets] = add_tnet_nic(holder, s, by_slot[k]);

    xmlNodePtr serial = add_el_attr(holder, "serial", "type", "pty");
    add_el_attr(serial, "target", "port", "0");
    xmlNodePtr console = add_el_attr(holder, "console", "type", "pty");
    xmlNodePtr ct = add_el_attr(console, "target", "type", "serial");
    set_attr(ct, "port", "0");

    xmlNodePtr chan = add_el_attr(holder, "channel", "type", "unix");
    xmlNodePtr chtgt = add_el_attr(chan, "target", "type", "virtio");
    set_attr(chtgt, "name", "org.qemu.guest_agent.0");

    /* move the managed devices in front of the template's */
    xmlNodePtr c = holder->children;
    while (c) {
        xmlNodePtr next = c->next;
        xmlUnlinkNode(c);
        if (first)
            xmlAddPrevSibling(first, c);
        else
            xmlAddChild(devices, c);
        c = next;
    }
    xmlFreeNode(holder);
}

static int template_error(struct nea_err *err, const char *path, xmlParserCtxtPtr ctxt)
{
    const xmlError *e = xmlCtxtGetLastError(ctxt);
    if (e && e->message) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s", e->message);
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = '\0';
        return nea_err_set(err, NEA_ERR_INVALID, "%s:%d: domain template is not "
                           "well-formed XML: %s", path, e->line, msg);
    }
    return nea_err_set(err, NEA_ERR_INVALID, "%s: cannot read the domain template",
                       path);
}

/* Anything of a DTD left in the tree: declarations, entity references. */
static bool has_dtd_parts(xmlNodePtr n)
{
    for (; n; n = n->next) {
        switch (n->type) {
        case XML_DTD_NODE:
        case XML_ELEMENT_DECL:
        case XML_ATTRIBUTE_DECL:
        case XML_ENTITY_DECL:
        case XML_ENTITY_NODE:
        case XML_ENTITY_REF_NODE:
        case XML_NOTATION_NODE:
            return true;
        case XML_ELEMENT_NODE:
            for (xmlAttrPtr a = n->properties; a; a = a->next)
                if (has_dtd_parts(a->children))
                    return true;
            if (has_dtd_parts(n->children))
                return true;
            break;
        default:
            break;
        }
    }
    return false;
}

/* One element as XML text: the interface for a live device update, the
 * metadata element the way virDomainSetMetadata takes it (it adds the
 * namespace itself, so none is declared or used). */
static char *element_xml(xmlDocPtr doc, xmlNodePtr n, bool strip_ns)
{
    xmlNodePtr copy = xmlDocCopyNode(n, doc, 1);
    if (!copy)
        abort();
    if (strip_ns) {
        xmlFreeNsList(copy->nsDef);
        copy->nsDef = NULL;
        copy->ns = NULL;
        for (xmlNodePtr f = copy->children; f; f = f->next)
            f->ns = NULL;
    }
    xmlBufferPtr buf = xmlBufferCreate();
    if (!buf || xmlNodeDump(buf, doc, copy, 0, 0) < 0)
        abort();
    char *out = nea_xstrdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    xmlFreeNode(copy);
    return out;
}

static bool pci_number(xmlNodePtr n, const char *attr, unsigned long *ret)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST attr);
    if (!v)
        return false;
    char *end = NULL;
    unsigned long x = strtoul((const char *)v, &end, 0);
    bool ok = end != (char *)v && !*end;
    xmlFree(v);
    if (ok)
        *ret = x;
    return ok;
}

static bool attr_is(xmlNodePtr n, const char *attr, const char *value)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST attr);
    bool is = v && !xmlStrcmp(v, BAD_CAST value);
    xmlFree(v);
    return is;
}

/* A template PCI address that is a tenant network vNIC's (see tnet_place). */
static int check_template_pci(xmlNodePtr n, const struct nea_spec *s, const char *path,
                              struct nea_err *err)
{
    for (xmlNodePtr c = n->children; c; c = c->next) {
        /* a <source><address> (hostdev) is the host's, not the guest's */
        if (c->type != XML_ELEMENT_NODE || is_el(c, "source"))
            continue;
        unsigned long bus, slot = 0;
        if (is_el(c, "address") && attr_is(c, "type", "pci") && pci_number(c, "bus", &bus)) {
            unsigned max = s->plan->tnet.max_networks;
            unsigned last = (is_i440fx(s->plan->machine) ? NEA_TNET_PC_SLOT_BASE
                                                         : NEA_TNET_PORT_INDEX_BASE) +
                            max - 1;
            if (is_i440fx(s->plan->machine)) {
                if (bus == 0 && pci_number(c, "slot", &slot) &&
                    slot >= NEA_TNET_PC_SLOT_BASE && slot <= last)
                    return nea_err_set(err, NEA_ERR_INVALID, "%s: a <%s> of the domain "
                                       "template has PCI address bus 0 slot %#lx, which "
                                       "neaprov keeps for tenant network vNICs (bus 0, "
                                       "slots %#x to %#x)", path, (const char *)n->name,
                                       slot, NEA_TNET_PC_SLOT_BASE, last);
            } else if (bus >= NEA_TNET_PORT_INDEX_BASE && bus <= last) {
                return nea_err_set(err, NEA_ERR_INVALID, "%s: a <%s> of the domain template "
                                   "has PCI address bus %#lx, which neaprov keeps for "
                                   "tenant network vNICs (buses %#x to %#x)", path,
                                   (const char *)n->name, bus, NEA_TNET_PORT_INDEX_BASE,
                                   last);
            }
        }
        int rc = check_template_pci(c, s, path, err);
        if (rc < 0)
            return rc;
    }
    return NEA_OK;
}

/* The template's PCI controllers and addresses against the places of the
 * tenant network vNICs.  A pcie-root-port at one of our indexes is dropped
 * (ours is the same thing: an SP template that declares spare hot-plug
 * ports, as virt-install writes them, keeps working); another controller
 * there, or a device addressed onto one of our buses or slots, is an error
 * that names the template: quietly moving it would break what the SP meant. */
static int check_template_devices(xmlNodePtr devices, const struct nea_spec *s,
                                  const char *path, struct nea_err *err)
{
    const struct nea_tnet_plan *tp = &s->plan->tnet;
    if (tp->mode == NEA_TNET_NONE)
        return NEA_OK;
    for (xmlNodePtr c = devices->children, next; c; c = next) {
        next = c->next;
        unsigned long idx;
        if (is_i440fx(s->plan->machine) || !is_el(c, "controller") ||
            !attr_is(c, "type", "pci") || !pci_number(c, "index", &idx) ||
            idx < NEA_TNET_PORT_INDEX_BASE ||
            idx >= NEA_TNET_PORT_INDEX_BASE + tp->max_networks)
            continue;
        if (!attr_is(c, "model", "pcie-root-port"))
            return nea_err_set(err, NEA_ERR_INVALID, "%s: the domain template's PCI "
                               "controller with index %lu is not a pcie-root-port: "
                               "indexes %d to %u are the root ports of tenant network "
                               "vNICs", path, idx, NEA_TNET_PORT_INDEX_BASE,
                               NEA_TNET_PORT_INDEX_BASE + tp->max_networks - 1);
        remove_node(c);
    }
    return check_template_pci(devices, s, path, err);
}

/* Slots and VLANs come from the engine (or a render's dry run): a slot
 * without a root port would be refused by libvirt at define time, a VLAN
 * tag 0 would put the vNIC on the bridge untagged. */
static int check_tnets(const struct nea_spec *s, struct nea_err *err)
{
    const struct nea_tnet_plan *tp = &s->plan->tnet;
    if (s->n_tnets && tp->mode == NEA_TNET_NONE)
        return nea_err_set(err, NEA_ERR_INVALID, "tenant %s: hardware plan %s has no "
                           "tenant-networks section, so it cannot give appliance %s "
                           "tenant networks", s->tenant, s->plan->name, s->name);
    for (size_t i = 0; i < s->n_tnets; i++) {
        const struct nea_tnet *t = &s->tnets[i];
        unsigned bus, slot;
        if (!tnet_place(s, t->slot, &bus, &slot))
            return nea_err_set(err, NEA_ERR_INVALID, "tenant %s: network %s has vNIC slot "
                               "%u, outside 0 to %u (tenant-networks.max-networks of "
                               "hardware plan %s)", s->tenant, t->name, t->slot,
                               tp->max_networks - 1, s->plan->name);
        for (size_t j = 0; j < i; j++)
            if (s->tnets[j].slot == t->slot)
                return nea_err_set(err, NEA_ERR_INVALID, "tenant %s: networks %s and %s "
                                   "have the same vNIC slot %u", s->tenant,
                                   s->tnets[j].name, t->name, t->slot);
        /* a tag stays with its network when the plan's range changes
         * (docs/networks.md): any 802.1Q tag, never "none" */
        if (tp->mode == NEA_TNET_OVS_VLAN && (t->vlan < 1 || t->vlan > 4094))
            return nea_err_set(err, NEA_ERR_INVALID, "tenant %s: network %s has no VLAN "
                               "tag (%u) on the Open vSwitch bridge of hardware plan %s",
                               s->tenant, t->name, t->vlan, s->plan->name);
    }
    return NEA_OK;
}

int nea_domain_render(const struct nea_spec *s, const struct nea_seed *seed,
                      const struct nea_render_opts *o, struct nea_artifacts *ret,
                      struct nea_err *err)
{
    int rc = check_tnets(s, err);
    if (rc < 0)
        return rc;
    NEA_AUTOFREE char *tbuf = NULL;
    size_t tlen = 0;
    rc = nea_read_file(o->template_path, 1 << 20, &tbuf, &tlen, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(nea_xml_ctxt_freep) xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt)
        abort();
    /* Never XML_PARSE_NOENT or XML_PARSE_DTDLOAD: libxml2 then neither
     * substitutes entities nor loads an external DTD or parameter entity
     * (a file of this machine), and NONET keeps it off the network. */
    NEA_AUTO(nea_xml_doc_freep) xmlDocPtr doc =
        xmlCtxtReadMemory(ctxt, tbuf, (int)tlen, o->template_path, NULL,
                          XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                              XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    if (!doc)
        return template_error(err, o->template_path, ctxt);
    /* A DTD is refused whole: libvirt's XML never has one, its entities
     * would be left as references that domain.xml cannot resolve (it would
     * not be well-formed), and an external one names a file to read. */
    if (doc->intSubset || doc->extSubset || has_dtd_parts(doc->children))
        return nea_err_set(err, NEA_ERR_INVALID, "%s: the domain template has a document "
                           "type declaration (<!DOCTYPE ...>); a template may not declare a "
                           "DTD or entities", o->template_path);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!is_el(root, "domain"))
        return nea_err_set(err, NEA_ERR_INVALID, "%s: the domain template's root "
                           "element must be <domain>", o->template_path);
    xmlNodePtr os = child_el(root, "os");
    xmlNodePtr devices = child_el(root, "devices");
    if (!os || !devices)
        return nea_err_set(err, NEA_ERR_INVALID, "%s: the domain template must have "
                           "<os> and <devices> elements", o->template_path);
    strip_comments(root);
    /* processing instructions have no place in a domain (a DTD was refused) */
    for (xmlNodePtr c = doc->children, next; c; c = next) {
        next = c->next;
        if (c != root)
            remove_node(c);
    }

    static const char *const owned_top[] = {"name", "uuid", "title", "metadata",
                                            "memory", "currentMemory", "vcpu",
                                            "sysinfo"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(owned_top); i++) {
        xmlNodePtr n;
        while ((n = child_el(root, owned_top[i])))
            remove_node(n);
    }
    /* Devices neaprov manages: every vNIC (the appliance's only vNIC is
     * ours), disks and cdroms, the console, and the guest agent channel. */
    for (xmlNodePtr c = devices->children, next; c; c = next) {
        next = c->next;
        if (is_el(c, "interface") || is_el(c, "disk") || is_el(c, "serial") ||
            is_el(c, "console"))
            remove_node(c);
        else if (is_el(c, "channel")) {
            xmlNodePtr t = child_el(c, "target");
            xmlChar *tn = t ? xmlGetProp(t, BAD_CAST "name") : NULL;
            if (tn && !xmlStrcmp(tn, BAD_CAST "org.qemu.guest_agent.0"))
                remove_node(c);
            xmlFree(tn);
        }
    }
    rc = check_template_devices(devices, s, o->template_path, err);
    if (rc < 0)
        return rc;
    xmlNodePtr n;
    while ((n = child_el(os, "smbios")))
        remove_node(n);

    set_attr(root, "type", s->plan->domain_type == NEA_DOMTYPE_QEMU ? "qemu" : "kvm");

    /* owned top-level elements, in front of the template's */
    xmlNodePtr holder = xmlNewNode(NULL, BAD_CAST "holder");
    char buf[256];
    add_el(holder, "name", s->name);
    char uuid[37];
    nea_uuid_format(s->uuid, uuid);
    add_el(holder, "uuid", uuid);
    snprintf(buf, sizeof(buf), "neaprov network extension appliance of tenant %s",
             s->tenant);
    add_el(holder, "title", buf);
    xmlNodePtr meta = add_el(holder, "metadata", NULL);
    xmlNodePtr app = add_el(meta, "appliance", NULL);
    xmlNsPtr ns = xmlNewNs(app, BAD_CAST NEA_XMLNS, BAD_CAST NEA_XMLNS_PREFIX);
    xmlSetNs(app, ns);
    static const char *const fields[] = {"tenant", "plan", "spec-hash",
                                         "instance-id"};
    const char *values[] = {s->tenant, s->plan->name, s->hash, seed->instance_id};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(fields); i++) {
        xmlNodePtr f = xmlNewTextChild(app, ns, BAD_CAST fields[i], BAD_CAST values[i]);
        if (!f)
            abort();
    }
    snprintf(buf, sizeof(buf), "%u", s->plan->memory_mib);
    add_el_attr(holder, "memory", "unit", "MiB");
    xmlNodeAddContent(holder->last, BAD_CAST buf);
    add_el_attr(holder, "currentMemory", "unit", "MiB");
    xmlNodeAddContent(holder->last, BAD_CAST buf);
    snprintf(buf, sizeof(buf), "%u", s->plan->vcpus);
    add_el_attr(holder, "vcpu", "placement", "static");
    xmlNodeAddContent(holder->last, BAD_CAST buf);
    /* SMBIOS serial "ds=nocloud" tells cloud-init to look for the NoCloud
     * seed at once instead of probing every datasource. */
    xmlNodePtr sysinfo = add_el_attr(holder, "sysinfo", "type", "smbios");
    xmlNodePtr system = add_el(sysinfo, "system", NULL);
    add_el_attr(system, "entry", "name", "serial");
    xmlNodeAddContent(system->last, BAD_CAST "ds=nocloud");

    xmlNodePtr first = root->children;
    for (xmlNodePtr c = holder->children, next; c; c = next) {
        next = c->next;
        xmlUnlinkNode(c);
        if (first)
            xmlAddPrevSibling(first, c);
        else
            xmlAddChild(root, c);
    }
    xmlFreeNode(holder);

    xmlNodePtr type = child_el(os, "type");
    if (!type) {
        type = xmlNewNode(NULL, BAD_CAST "type");
        xmlNodeAddContent(type, BAD_CAST "hvm");
        if (os->children)
            xmlAddPrevSibling(os->children, type);
        else
            xmlAddChild(os, type);
    }
    if (!xmlHasProp(type, BAD_CAST "arch"))
        set_attr(type, "arch", "x86_64");
    set_attr(type, "machine", s->plan->machine);
    if (s->plan->kernel) {
        /* direct kernel boot replaces booting from a device */
        while ((n = child_el(os, "boot")))
            remove_node(n);
        static const char *const boot[] = {"kernel", "initrd", "cmdline"};
        const char *vals[] = {s->plan->kernel, s->plan->initrd, s->plan->cmdline};
        for (size_t i = 0; i < NEA_ARRAY_SIZE(boot); i++) {
            while ((n = child_el(os, boot[i])))
                remove_node(n);
            if (vals[i])
                add_el(os, boot[i], vals[i]);
        }
    }
    add_el_attr(os, "smbios", "mode", "sysinfo");

    NEA_AUTOFREE xmlNodePtr *tnet_nics = nea_xcalloc(s->n_tnets ? s->n_tnets : 1,
                                                     sizeof(*tnet_nics));
    xmlNodePtr cdrom = NULL;
    add_devices(devices, s, o, tnet_nics, &cdrom);

    xmlChar *out = NULL;
    int len = 0;
    xmlDocDumpFormatMemoryEnc(doc, &out, &len, "UTF-8", 1);
    if (!out)
        return nea_err_set(err, NEA_ERR_LIBRARY, "libxml2: cannot format the domain");
    /* Drop the XML declaration: libvirt's own XML never has one. */
    const char *body = (const char *)out;
    if (nea_str_has_prefix(body, "<?xml")) {
        const char *nl = strchr(body, '\n');
        body = nl ? nl + 1 : body;
    }
    ret->domain_xml_len = strlen(body);
    ret->domain_xml = nea_xstrdup(body);
    xmlFree(out);
    ret->metadata_xml = element_xml(doc, app, true);
    xmlNodePtr nic = child_el(devices, "interface");
    ret->interface_xml = nic ? element_xml(doc, nic, false) : NULL;
    ret->cdrom_xml = element_xml(doc, cdrom, false);
    if (s->n_tnets) {
        ret->tnet_iface_xml = nea_xcalloc(s->n_tnets, sizeof(*ret->tnet_iface_xml));
        for (size_t i = 0; i < s->n_tnets; i++)
            ret->tnet_iface_xml[i] = element_xml(doc, tnet_nics[i], false);
        ret->n_tnet_iface_xml = s->n_tnets;
    }
    return NEA_OK;
}

int nea_render(const struct nea_spec *spec, const struct nea_render_opts *opts,
               struct nea_artifacts *ret_artifacts, struct nea_err *err)
{
    /* before any work: whoever calls (CLI, engine, ABI), an ISO with a date
     * past 9999 is never written */
    int rc = nea_iso_check_time(opts->epoch, err);
    if (rc < 0)
        return rc;
    struct nea_artifacts a = {0};
    rc = nea_seed_build(spec, &a.seed, err);
    if (rc == NEA_OK)
        rc = nea_domain_render(spec, &a.seed, opts, &a, err);
    if (rc == NEA_OK) {
        const struct nea_iso_file files[] = {
            {"meta-data", a.seed.meta_data, a.seed.meta_data_len},
            {"user-data", a.seed.user_data, a.seed.user_data_len},
            {"network-config", a.seed.network_config, a.seed.network_config_len},
            /* for neaprov-sync in the guest: see nea_seed.h */
            {NEA_SEED_INTERFACES, a.seed.interfaces, a.seed.interfaces_len},
            {NEA_SEED_RULESET, a.seed.ruleset, a.seed.ruleset_len},
        };
        size_t n = a.seed.interfaces ? NEA_ARRAY_SIZE(files) : 3;
        rc = nea_iso_build("cidata", files, n, opts->epoch, &a.iso, &a.iso_len, err);
    }
    if (rc < 0) {
        nea_artifacts_clear(&a);
        return rc;
    }
    a.disk_volume = opts->disk_volume ? nea_xstrdup(opts->disk_volume)
                                      : nea_xasprintf("%s.qcow2", spec->name);
    a.seed_volume = opts->seed_volume ? nea_xstrdup(opts->seed_volume)
                                      : nea_xasprintf("%s-seed.iso", spec->name);
    *ret_artifacts = a;
    return NEA_OK;
}

void nea_artifacts_clear(struct nea_artifacts *a)
{
    free(a->domain_xml);
    free(a->interface_xml);
    for (size_t i = 0; i < a->n_tnet_iface_xml; i++)
        free(a->tnet_iface_xml[i]);
    free(a->tnet_iface_xml);
    free(a->cdrom_xml);
    free(a->metadata_xml);
    nea_seed_clear(&a->seed);
    free(a->iso);
    free(a->disk_volume);
    free(a->seed_volume);
    memset(a, 0, sizeof(*a));
}

/*
 * nea_virt.c: libvirt calls, each wrapped so that a failure becomes one
 * sentence naming the host and object, and so that tests can make any named
 * operation fail (or crash the process) at will.
 */
#include "nea_virt.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nea_addr.h"
#include "nea_netref.h"
#include "nea_uri.h"
#include "nea_util.h"
#include "nea_xml.h"

#define UPLOAD_CHUNK (1u << 20) /* ~1 MiB: small chunks are far slower */

NEA_ENUM_IMPL(nea_dom_state, NEA_DOM_LAST, "missing", "running", "shut off",
              "paused or crashed")

NEA_ENUM_IMPL(nea_fault_op, NEA_FAULT_LAST, "list-networks", "lookup", "vol-upload",
              "vol-create", "vol-delete", "define", "start", "stop", "undefine", "rename",
              "update-device", "set-metadata", "net-define", "net-remove", "attach-device",
              "detach-device")

NEA_DEFINE_CLEANUP_NAMED(pool_freep, virStoragePoolPtr, virStoragePoolFree)
NEA_DEFINE_CLEANUP_NAMED(vol_freep, virStorageVolPtr, virStorageVolFree)
NEA_DEFINE_CLEANUP_NAMED(stream_freep, virStreamPtr, virStreamFree)
NEA_DEFINE_CLEANUP_NAMED(dom_freep, virDomainPtr, virDomainFree)
NEA_DEFINE_CLEANUP_NAMED(net_freep, virNetworkPtr, virNetworkFree)

struct nea_host {
    virConnectPtr conn;
    char *uri;
    bool is_test;
    int fault_op;           /* enum nea_fault_op, -1: none */
    unsigned fault_nth;
    unsigned fault_seen;
    bool fault_crash;
};

static void quiet_handler(void *data, virErrorPtr e)
{
    (void)data;
    (void)e;
}

static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

static void make_quiet(void)
{
    virInitialize();
    virSetErrorFunc(NULL, quiet_handler);
}

static const char *lv_msg(void)
{
    const char *m = virGetLastErrorMessage();
    return m ? m : "unknown libvirt error";
}

__attribute__((format(printf, 2, 3))) static int lv_fail(struct nea_err *err,
                                                        const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return nea_err_set(err, NEA_ERR_HOST, "%s: %s", what, lv_msg());
}

static bool unsupported(void)
{
    virErrorPtr e = virGetLastError();
    return e && (e->code == VIR_ERR_NO_SUPPORT || e->code == VIR_ERR_OPERATION_UNSUPPORTED);
}

/* Returns an error when the fault hook says this call of op must fail. */
static int fault(struct nea_host *h, enum nea_fault_op op, struct nea_err *err)
{
    if (h->fault_op != (int)op)
        return NEA_OK;
    if (++h->fault_seen != h->fault_nth)
        return NEA_OK;
    if (h->fault_crash) {
        fflush(NULL);
        kill(getpid(), SIGKILL);
    }
    return nea_err_set(err, NEA_ERR_HOST, "%s: %s failed: injected fault", h->uri,
                       nea_fault_op_name(op));
}

void nea_host_set_fault(struct nea_host *h, const char *op, unsigned nth, bool crash)
{
    h->fault_op = op ? nea_fault_op_parse(op) : -1;
    h->fault_nth = nth ? nth : 1;
    h->fault_seen = 0;
    h->fault_crash = crash;
}

int nea_host_open(const char *uri, struct nea_host **ret_host, struct nea_err *err)
{
    /* Every URI passes the allow-list here too, whoever hands it over (a
     * plan, -c, the ABI, a URI recorded in the state database): a URI can
     * make libvirt run a program or read a file (nea_uri.h). */
    int rc = nea_host_uri_check("host URI", uri, NULL, err);
    if (rc < 0)
        return rc;
    pthread_once(&quiet_once, make_quiet);
    virConnectPtr conn = virConnectOpen(uri);
    /* The test driver quotes the host definition file it failed to parse:
     * for any test URI but test:///default, libvirt's message stays out. */
    if (!conn && strcmp(uri, "test:///default") &&
        (nea_str_has_prefix(uri, "test:") || nea_str_has_prefix(uri, "test+")))
        return nea_err_set(err, NEA_ERR_HOST, "cannot connect to %s: the test driver "
                           "cannot use that host definition (libvirt's message is not "
                           "shown: it may quote the file)", uri);
    if (!conn)
        return nea_err_set(err, NEA_ERR_HOST, "cannot connect to %s: %s", uri, lv_msg());
    struct nea_host *h = nea_xcalloc(1, sizeof(*h));
    h->conn = conn;
    h->uri = nea_xstrdup(uri);
    h->is_test = nea_str_has_prefix(uri, "test:");
    h->fault_op = -1;
    *ret_host = h;
    return NEA_OK;
}

void nea_host_close(struct nea_host *h)
{
    if (!h)
        return;
    if (h->conn)
        virConnectClose(h->conn);
    free(h->uri);
    free(h);
}

bool nea_host_is_test(const struct nea_host *h)
{
    return h->is_test;
}

/* ---- small XML helpers for what libvirt hands back ---------------------- */

static xmlDocPtr parse_xml(const char *xml)
{
    return xmlReadMemory(xml, (int)strlen(xml), "libvirt.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static char *prop(xmlNodePtr n, const char *name)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST name);
    if (!v)
        return NULL;
    char *s = nea_xstrdup((const char *)v);
    xmlFree(v);
    return s;
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !xmlStrcmp(c->name, BAD_CAST name))
            return c;
    return NULL;
}

static char *text_of(xmlNodePtr n)
{
    xmlChar *s = n ? xmlNodeGetContent(n) : NULL;
    char *r = s ? nea_xstrdup((const char *)s) : NULL;
    xmlFree(s);
    return r;
}

/* memory in KiB whatever unit the XML uses (libvirt reports KiB; our
 * rendered XML says MiB) */
static char *memory_kib(xmlNodePtr mem)
{
    NEA_AUTOFREE char *v = text_of(mem);
    NEA_AUTOFREE char *unit = mem ? prop(mem, "unit") : NULL;
    if (!v)
        return NULL;
    unsigned long long n = strtoull(v, NULL, 10);
    if (unit && (!strcmp(unit, "MiB") || !strcmp(unit, "M")))
        n *= 1024;
    else if (unit && (!strcmp(unit, "GiB") || !strcmp(unit, "G")))
        n *= 1024 * 1024;
    return nea_xasprintf("%llu", n);
}

int nea_dom_facets_parse(const char *xml, struct nea_dom_facets *ret_facets)
{
    memset(ret_facets, 0, sizeof(*ret_facets));
    NEA_AUTO(nea_xml_doc_freep) xmlDocPtr doc = parse_xml(xml);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root)
        return -1;
    ret_facets->vcpus = text_of(child(root, "vcpu"));
    ret_facets->memory_kib = memory_kib(child(root, "memory"));
    xmlNodePtr type = child(child(root, "os"), "type");
    ret_facets->machine = type ? prop(type, "machine") : NULL;
    xmlNodePtr devices = child(root, "devices");
    for (xmlNodePtr c = devices ? devices->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!xmlStrcmp(c->name, BAD_CAST "interface") && !ret_facets->nic_type) {
            ret_facets->nic_type = prop(c, "type");
            xmlNodePtr src = child(c, "source");
            if (src)
                ret_facets->nic_source = prop(src, ret_facets->nic_type &&
                                                !strcmp(ret_facets->nic_type, "network")
                                            ? "network"
                                            : "bridge");
            xmlNodePtr mac = child(c, "mac");
            ret_facets->nic_mac = mac ? prop(mac, "address") : NULL;
        } else if (!xmlStrcmp(c->name, BAD_CAST "disk")) {
            NEA_AUTOFREE char *dev = prop(c, "device");
            xmlNodePtr src = child(c, "source");
            char *file = src ? prop(src, "file") : NULL;
            if (dev && !strcmp(dev, "cdrom") && !ret_facets->cdrom_source)
                ret_facets->cdrom_source = file;
            else if (dev && !strcmp(dev, "disk") && !ret_facets->disk_source)
                ret_facets->disk_source = file;
            else
                free(file);
        }
    }
    return 0;
}

void nea_dom_facets_clear(struct nea_dom_facets *f)
{
    free(f->nic_type);
    free(f->nic_source);
    free(f->nic_mac);
    free(f->disk_source);
    free(f->cdrom_source);
    free(f->vcpus);
    free(f->memory_kib);
    free(f->machine);
    memset(f, 0, sizeof(*f));
}

/* ---- networks ----------------------------------------------------------- */

static void add_net(struct nea_host_net **v, size_t *n, enum nea_net_kind kind,
                    const char *name, bool active)
{
    *v = nea_xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = (struct nea_host_net){
        .ref = nea_netref_format(kind, name),
        .name = nea_xstrdup(name),
        .kind = kind,
        .active = active,
    };
}

int nea_host_networks(struct nea_host *h, struct nea_host_net **ret_nets, size_t *ret_n,
                      struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_LIST_NETWORKS, err);
    if (rc < 0)
        return rc;
    struct nea_host_net *v = NULL;
    size_t len = 0;
    virInterfacePtr *ifaces = NULL;
    int ni = virConnectListAllInterfaces(h->conn, &ifaces, 0);
    if (ni < 0) {
        /* Hosts without an interface backend still have libvirt networks. */
        ni = 0;
    }
    for (int i = 0; i < ni; i++) {
        char *xml = virInterfaceGetXMLDesc(ifaces[i], VIR_INTERFACE_XML_INACTIVE);
        if (xml) {
            NEA_AUTO(nea_xml_doc_freep) xmlDocPtr doc = parse_xml(xml);
            xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
            NEA_AUTOFREE char *type = root ? prop(root, "type") : NULL;
            if (type && !strcmp(type, "bridge")) {
                bool ovs = false;
                xmlNodePtr br = child(root, "bridge");
                for (xmlNodePtr c = br ? br->children : NULL; c; c = c->next)
                    if (c->type == XML_ELEMENT_NODE &&
                        !xmlStrcmp(c->name, BAD_CAST "virtualport"))
                        ovs = true;
                add_net(&v, &len, ovs ? NEA_NET_OVS : NEA_NET_BRIDGE,
                        virInterfaceGetName(ifaces[i]),
                        virInterfaceIsActive(ifaces[i]) == 1);
            }
            free(xml);
        }
        virInterfaceFree(ifaces[i]);
    }
    free(ifaces);
    virNetworkPtr *nets = NULL;
    int nn = virConnectListAllNetworks(h->conn, &nets, 0);
    if (nn < 0) {
        nea_host_nets_free(v, len);
        return lv_fail(err, "%s: cannot list networks", h->uri);
    }
    for (int i = 0; i < nn; i++) {
        add_net(&v, &len, NEA_NET_LIBVIRT, virNetworkGetName(nets[i]),
                virNetworkIsActive(nets[i]) == 1);
        virNetworkFree(nets[i]);
    }
    free(nets);
    *ret_nets = v;
    *ret_n = len;
    return NEA_OK;
}

void nea_host_nets_free(struct nea_host_net *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].ref);
        free(v[i].name);
    }
    free(v);
}

/* ---- storage ------------------------------------------------------------ */

static int open_pool(struct nea_host *h, const char *pool, virStoragePoolPtr *ret_pool,
                     struct nea_err *err)
{
    virStoragePoolPtr p = virStoragePoolLookupByName(h->conn, pool);
    if (!p)
        return lv_fail(err, "%s: storage pool %s", h->uri, pool);
    if (virStoragePoolIsActive(p) != 1) {
        virStoragePoolFree(p);
        return nea_err_set(err, NEA_ERR_HOST, "%s: storage pool %s is not active",
                           h->uri, pool);
    }
    *ret_pool = p;
    return NEA_OK;
}

/* The fault hook, then the pool: the start of every volume operation. */
static int pool_op(struct nea_host *h, enum nea_fault_op op, const char *pool,
                   virStoragePoolPtr *ret_pool, struct nea_err *err)
{
    int rc = fault(h, op, err);
    return rc < 0 ? rc : open_pool(h, pool, ret_pool, err);
}

int nea_host_pool_dir(struct nea_host *h, const char *pool, char **ret_path,
                      struct nea_err *err)
{
    NEA_AUTO(pool_freep) virStoragePoolPtr p = NULL;
    int rc = open_pool(h, pool, &p, err);
    if (rc < 0)
        return rc;
    NEA_AUTOFREE char *xml = virStoragePoolGetXMLDesc(p, 0);
    if (!xml)
        return lv_fail(err, "%s: storage pool %s", h->uri, pool);
    NEA_AUTO(nea_xml_doc_freep) xmlDocPtr doc = parse_xml(xml);
    xmlNodePtr path = child(child(doc ? xmlDocGetRootElement(doc) : NULL, "target"),
                            "path");
    xmlChar *s = path ? xmlNodeGetContent(path) : NULL;
    if (!s || !*s) {
        xmlFree(s);
        return nea_err_set(err, NEA_ERR_HOST, "%s: storage pool %s has no target "
                           "path; neaprov needs a directory-like pool", h->uri, pool);
    }
    *ret_path = nea_xstrdup((const char *)s);
    xmlFree(s);
    return NEA_OK;
}

/* The volume, or *ret_vol NULL when the pool has none of that name. */
static int lookup_vol(struct nea_host *h, const char *pool, const char *name,
                      virStorageVolPtr *ret_vol, struct nea_err *err)
{
    NEA_AUTO(pool_freep) virStoragePoolPtr p = NULL;
    int rc = open_pool(h, pool, &p, err);
    if (rc < 0)
        return rc;
    virStorageVolPtr v = virStorageVolLookupByName(p, name);
    virErrorPtr e = v ? NULL : virGetLastError();
    if (!v && !(e && e->code == VIR_ERR_NO_STORAGE_VOL))
        return lv_fail(err, "%s: volume %s", h->uri, name);
    *ret_vol = v;
    return NEA_OK;
}

int nea_host_vol_path(struct nea_host *h, const char *pool, const char *name,
                      char **ret_path, struct nea_err *err)
{
    NEA_AUTO(vol_freep) virStorageVolPtr v = NULL;
    int rc = lookup_vol(h, pool, name, &v, err);
    if (rc < 0)
        return rc;
    char *path = v ? virStorageVolGetPath(v) : NULL;
    if (v && !path)
        return lv_fail(err, "%s: volume %s", h->uri, name);
    *ret_path = path;
    return NEA_OK;
}

int nea_host_vol_facts(struct nea_host *h, const char *pool, const char *name,
                       bool *ret_exists, char **ret_format, char **ret_backing,
                       struct nea_err *err)
{
    NEA_AUTO(vol_freep) virStorageVolPtr v = NULL;
    int rc = lookup_vol(h, pool, name, &v, err);
    if (rc < 0)
        return rc;
    NEA_AUTOFREE char *xml = v ? virStorageVolGetXMLDesc(v, 0) : NULL;
    if (v && !xml)
        return lv_fail(err, "%s: volume %s", h->uri, name);
    NEA_AUTO(nea_xml_doc_freep) xmlDocPtr doc = xml ? parse_xml(xml) : NULL;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNodePtr fmt = child(child(root, "target"), "format");
    xmlNodePtr path = child(child(root, "backingStore"), "path");
    *ret_exists = v != NULL;
    if (ret_format) {
        NEA_AUTOFREE char *type = fmt ? prop(fmt, "type") : NULL;
        *ret_format = type && *type ? TAKE_PTR(type) : NULL;
    }
    if (ret_backing)
        *ret_backing = path ? text_of(path) : NULL;
    return NEA_OK;
}

/* Creates the volume from XML built with libxml2. */
static int create_vol(struct nea_host *h, virStoragePoolPtr p, const char *name,
                      uint64_t capacity, const char *format, const char *backing,
                      const char *backing_format, virStorageVolPtr *ret_vol,
                      struct nea_err *err)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr vol = xmlNewNode(NULL, BAD_CAST "volume");
    xmlDocSetRootElement(doc, vol);
    xmlNewTextChild(vol, NULL, BAD_CAST "name", BAD_CAST name);
    char cap[32];
    snprintf(cap, sizeof(cap), "%llu", (unsigned long long)capacity);
    xmlNodePtr c = xmlNewTextChild(vol, NULL, BAD_CAST "capacity", BAD_CAST cap);
    xmlSetProp(c, BAD_CAST "unit", BAD_CAST "bytes");
    /* overlays are thin: nothing is allocated up front */
    xmlNodePtr al = xmlNewTextChild(vol, NULL, BAD_CAST "allocation",
                                    BAD_CAST(backing ? "0" : cap));
    xmlSetProp(al, BAD_CAST "unit", BAD_CAST "bytes");
    xmlNodePtr target = xmlNewChild(vol, NULL, BAD_CAST "target", NULL);
    xmlNodePtr fmt = xmlNewChild(target, NULL, BAD_CAST "format", NULL);
    xmlSetProp(fmt, BAD_CAST "type", BAD_CAST format);
    xmlNodePtr perms = xmlNewChild(target, NULL, BAD_CAST "permissions", NULL);
    xmlNewTextChild(perms, NULL, BAD_CAST "mode", BAD_CAST "0600");
    if (backing) {
        xmlNodePtr bs = xmlNewChild(vol, NULL, BAD_CAST "backingStore", NULL);
        xmlNewTextChild(bs, NULL, BAD_CAST "path", BAD_CAST backing);
        xmlNodePtr bf = xmlNewChild(bs, NULL, BAD_CAST "format", NULL);
        xmlSetProp(bf, BAD_CAST "type", BAD_CAST backing_format);
    }
    xmlChar *xml = NULL;
    int len = 0;
    xmlDocDumpMemory(doc, &xml, &len);
    xmlFreeDoc(doc);
    virStorageVolPtr v = virStorageVolCreateXML(p, (const char *)xml, 0);
    xmlFree(xml);
    if (!v)
        return lv_fail(err, "%s: cannot create volume %s", h->uri, name);
    *ret_vol = v;
    return NEA_OK;
}

struct src {
    const char *buf;
    size_t len, off;
    int fd;
};

static int upload_stream(struct nea_host *h, virStorageVolPtr v, const char *name,
                         struct src *src, uint64_t len, bool *ret_unsupported,
                         struct nea_err *err)
{
    NEA_AUTO(stream_freep) virStreamPtr st = virStreamNew(h->conn, 0);
    if (!st)
        return lv_fail(err, "%s: volume %s: cannot open a stream", h->uri, name);
    if (virStorageVolUpload(v, st, 0, len, 0) < 0) {
        virErrorPtr e = virGetLastError();
        if (e && e->code == VIR_ERR_NO_SUPPORT && ret_unsupported) {
            *ret_unsupported = true;
            return NEA_OK;
        }
        return lv_fail(err, "%s: cannot upload volume %s", h->uri, name);
    }
    NEA_AUTOFREE char *chunk = src->buf ? NULL : nea_xmalloc(UPLOAD_CHUNK);
    uint64_t sent = 0;
    while (sent < len) {
        size_t want = len - sent < UPLOAD_CHUNK ? (size_t)(len - sent) : UPLOAD_CHUNK;
        const char *p;
        if (src->buf) {
            p = src->buf + sent;
        } else {
            ssize_t got = read(src->fd, chunk, want);
            if (got <= 0) {
                virStreamAbort(st);
                return nea_err_set(err, NEA_ERR_IO, "cannot read the image for volume "
                                   "%s: %s", name, got < 0 ? strerror(errno)
                                                           : "file shrank");
            }
            want = (size_t)got;
            p = chunk;
        }
        size_t done = 0;
        while (done < want) {
            int n = virStreamSend(st, p + done, want - done);
            if (n < 0) {
                virStreamAbort(st);
                return lv_fail(err, "%s: upload of volume %s failed", h->uri, name);
            }
            done += (size_t)n;
        }
        sent += want;
    }
    if (virStreamFinish(st) < 0)
        return lv_fail(err, "%s: upload of volume %s failed", h->uri, name);
    return NEA_OK;
}

static int upload(struct nea_host *h, const char *pool, const char *name,
                  const char *format, struct src *src, uint64_t len,
                  struct nea_err *err)
{
    NEA_AUTO(pool_freep) virStoragePoolPtr p = NULL;
    int rc = pool_op(h, NEA_FAULT_VOL_UPLOAD, pool, &p, err);
    if (rc < 0)
        return rc;
    /* Replace whatever is there under this name: a half-uploaded volume from
     * an interrupted run must not be mistaken for a complete one. */
    NEA_AUTO(vol_freep) virStorageVolPtr old = virStorageVolLookupByName(p, name);
    if (old && virStorageVolDelete(old, 0) < 0)
        return lv_fail(err, "%s: cannot replace volume %s", h->uri, name);
    NEA_AUTO(vol_freep) virStorageVolPtr v = NULL;
    rc = create_vol(h, p, name, len, format, NULL, NULL, &v, err);
    if (rc < 0)
        return rc;
    bool unsupported = false;
    /* The test driver keeps no volume content ("not supported"): there the
     * volume stands for the content, which is all its domains can use. */
    rc = upload_stream(h, v, name, src, len, h->is_test ? &unsupported : NULL, err);
    if (rc < 0) {
        virStorageVolDelete(v, 0);
        return rc;
    }
    return NEA_OK;
}

int nea_host_vol_upload(struct nea_host *h, const char *pool, const char *name,
                        const char *format, const void *buf, size_t len,
                        struct nea_err *err)
{
    struct src s = {.buf = buf, .len = len, .fd = -1};
    return upload(h, pool, name, format, &s, len, err);
}

int nea_host_vol_upload_file(struct nea_host *h, const char *pool, const char *name,
                             const char *format, const char *path, struct nea_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nea_err_set(err, NEA_ERR_IO, "%s: cannot open the appliance image: %s",
                           path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return nea_err_set(err, NEA_ERR_IO, "%s: the appliance image is not a regular "
                           "file", path);
    }
    struct src s = {.fd = fd};
    int rc = upload(h, pool, name, format, &s, (uint64_t)st.st_size, err);
    close(fd);
    return rc;
}

int nea_host_vol_create_overlay(struct nea_host *h, const char *pool, const char *name,
                                uint64_t capacity, const char *backing_path,
                                const char *backing_format, struct nea_err *err)
{
    NEA_AUTO(pool_freep) virStoragePoolPtr p = NULL;
    int rc = pool_op(h, NEA_FAULT_VOL_CREATE, pool, &p, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(vol_freep) virStorageVolPtr v = NULL;
    return create_vol(h, p, name, capacity, "qcow2", backing_path, backing_format, &v,
                      err);
}

int nea_host_vol_list(struct nea_host *h, const char *pool, const char *prefix,
                      char ***ret_names, size_t *ret_n, struct nea_err *err)
{
    NEA_AUTO(pool_freep) virStoragePoolPtr p = NULL;
    int rc = open_pool(h, pool, &p, err);
    if (rc < 0)
        return rc;
    virStorageVolPtr *vols = NULL;
    int nv = virStoragePoolListAllVolumes(p, &vols, 0);
    if (nv < 0)
        return lv_fail(err, "%s: cannot list the volumes of pool %s", h->uri, pool);
    char **v = NULL;
    size_t len = 0;
    for (int i = 0; i < nv; i++) {
        const char *name = virStorageVolGetName(vols[i]);
        if (name && nea_str_has_prefix(name, prefix)) {
            v = nea_xrealloc(v, (len + 1) * sizeof(*v));
            v[len++] = nea_xstrdup(name);
        }
        virStorageVolFree(vols[i]);
    }
    free(vols);
    *ret_names = v;
    *ret_n = len;
    return NEA_OK;
}

int nea_host_vol_delete(struct nea_host *h, const char *pool, const char *name,
                        struct nea_err *err)
{
    NEA_AUTO(pool_freep) virStoragePoolPtr p = NULL;
    int rc = pool_op(h, NEA_FAULT_VOL_DELETE, pool, &p, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(vol_freep) virStorageVolPtr v = virStorageVolLookupByName(p, name);
    if (!v) {
        virErrorPtr e = virGetLastError();
        if (e && e->code == VIR_ERR_NO_STORAGE_VOL)
            return NEA_OK;
        return lv_fail(err, "%s: volume %s", h->uri, name);
    }
    if (virStorageVolDelete(v, 0) < 0)
        return lv_fail(err, "%s: cannot delete volume %s", h->uri, name);
    return NEA_OK;
}

/* ---- domains ------------------------------------------------------------ */

/* The domain, or *ret_dom NULL when there is none of that name. */
int nea_host_dom_name_by_uuid(struct nea_host *h, const char *uuid, char **ret_name,
                              struct nea_err *err)
{
    NEA_AUTO(dom_freep) virDomainPtr d = virDomainLookupByUUIDString(h->conn, uuid);
    if (!d) {
        virErrorPtr e = virGetLastError();
        if (!e || e->code != VIR_ERR_NO_DOMAIN)
            return lv_fail(err, "%s: domain with UUID %s", h->uri, uuid);
        *ret_name = NULL;
        return NEA_OK;
    }
    const char *name = virDomainGetName(d);
    if (!name)
        return lv_fail(err, "%s: domain with UUID %s", h->uri, uuid);
    *ret_name = nea_xstrdup(name);
    return NEA_OK;
}

static int lookup(struct nea_host *h, const char *name, virDomainPtr *ret_dom,
                  struct nea_err *err)
{
    virDomainPtr d = virDomainLookupByName(h->conn, name);
    if (!d) {
        virErrorPtr e = virGetLastError();
        if (!(e && e->code == VIR_ERR_NO_DOMAIN))
            return lv_fail(err, "%s: domain %s", h->uri, name);
    }
    *ret_dom = d;
    return NEA_OK;
}

static int require(struct nea_host *h, const char *name, virDomainPtr *ret_dom,
                   struct nea_err *err)
{
    virDomainPtr d = NULL;
    int rc = lookup(h, name, &d, err);
    if (rc == NEA_OK && !d)
        rc = nea_err_set(err, NEA_ERR_HOST, "%s: domain %s does not exist", h->uri, name);
    if (rc == NEA_OK)
        *ret_dom = d;
    return rc;
}

static char *meta_field(xmlNodePtr app, const char *name)
{
    xmlNodePtr n = child(app, name);
    xmlChar *s = n ? xmlNodeGetContent(n) : NULL;
    char *r = s ? nea_xstrdup((const char *)s) : NULL;
    xmlFree(s);
    return r;
}

int nea_host_dom_info(struct nea_host *h, const char *name, struct nea_dom_info *ret_info,
                      struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_LOOKUP, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(dom_freep) virDomainPtr d = NULL;
    rc = lookup(h, name, &d, err);
    if (rc < 0)
        return rc;
    if (!d) {
        *ret_info = (struct nea_dom_info){.state = NEA_DOM_MISSING};
        return NEA_OK;
    }
    int st = 0, reason = 0;
    if (virDomainGetState(d, &st, &reason, 0) < 0)
        return lv_fail(err, "%s: domain %s", h->uri, name);
    struct nea_dom_info i = {
        .state = st == VIR_DOMAIN_RUNNING   ? NEA_DOM_RUNNING
                 : st == VIR_DOMAIN_SHUTOFF ? NEA_DOM_SHUTOFF
                                            : NEA_DOM_OTHER,
        .xml = virDomainGetXMLDesc(d, 0),
        .xml_inactive = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE),
    };
    if (!i.xml || !i.xml_inactive) {
        rc = lv_fail(err, "%s: domain %s", h->uri, name);
        nea_dom_info_clear(&i);
        return rc;
    }
    NEA_AUTOFREE char *meta = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT,
                                                   NEA_XMLNS, VIR_DOMAIN_AFFECT_CURRENT);
    if (meta) {
        NEA_AUTO(nea_xml_doc_freep) xmlDocPtr doc = parse_xml(meta);
        xmlNodePtr app = doc ? xmlDocGetRootElement(doc) : NULL;
        if (app) {
            i.owned = true;
            i.tenant = meta_field(app, "tenant");
            i.spec_hash = meta_field(app, "spec-hash");
            i.instance_id = meta_field(app, "instance-id");
        }
    }
    *ret_info = i;
    return NEA_OK;
}

void nea_dom_info_clear(struct nea_dom_info *i)
{
    free(i->tenant);
    free(i->spec_hash);
    free(i->instance_id);
    free(i->xml);
    free(i->xml_inactive);
    memset(i, 0, sizeof(*i));
}

int nea_host_dom_define(struct nea_host *h, const char *xml, struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_DEFINE, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(dom_freep) virDomainPtr d =
        virDomainDefineXMLFlags(h->conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
    if (!d)
        return lv_fail(err, "%s: cannot define the appliance domain", h->uri);
    return NEA_OK;
}

int nea_host_dom_start(struct nea_host *h, const char *name, struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_START, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(dom_freep) virDomainPtr d = NULL;
    rc = require(h, name, &d, err);
    if (rc < 0)
        return rc;
    int st = 0, reason = 0;
    if (virDomainIsActive(d) == 1) {
        /* paused: carry on */
        if (virDomainGetState(d, &st, &reason, 0) == 0 && st == VIR_DOMAIN_PAUSED &&
            virDomainResume(d) < 0)
            return lv_fail(err, "%s: cannot resume domain %s", h->uri, name);
        return NEA_OK;
    }
    if (virDomainCreate(d) < 0)
        return lv_fail(err, "%s: cannot start domain %s", h->uri, name);
    return NEA_OK;
}

int nea_host_dom_stop(struct nea_host *h, const char *name, unsigned timeout_s,
                      bool *ret_forced, struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_STOP, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(dom_freep) virDomainPtr d = NULL;
    rc = require(h, name, &d, err);
    if (rc < 0)
        return rc;
    bool forced = false;
    int active = virDomainIsActive(d);
    if (active < 0) /* not knowing is not "stopped" */
        return lv_fail(err, "%s: cannot tell whether domain %s runs", h->uri, name);
    if (active == 1 && virDomainShutdown(d) == 0) {
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            if (virDomainIsActive(d) != 1)
                break;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - start.tv_sec >= (time_t)timeout_s)
                break;
            struct timespec ts = {0, 200 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (active == 1 && virDomainIsActive(d) == 1) {
        if (virDomainDestroy(d) < 0)
            return lv_fail(err, "%s: cannot power off domain %s", h->uri, name);
        forced = true;
    }
    if (ret_forced)
        *ret_forced = forced;
    return NEA_OK;
}

int nea_host_dom_undefine(struct nea_host *h, const char *name, struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_UNDEFINE, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(dom_freep) virDomainPtr d = NULL;
    rc = lookup(h, name, &d, err);
    if (rc < 0 || !d)
        return rc;
    if (virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_NVRAM |
                                      VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) < 0 &&
        virDomainUndefine(d) < 0)
        return lv_fail(err, "%s: cannot undefine domain %s", h->uri, name);
    return NEA_OK;
}

int nea_host_dom_rename(struct nea_host *h, const char *name, const char *new_name,
                        struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_RENAME, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(dom_freep) virDomainPtr d = NULL;
    rc = require(h, name, &d, err);
    if (rc < 0)
        return rc;
    if (virDomainRename(d, new_name, 0) < 0)
        return lv_fail(err, "%s: cannot rename domain %s", h->uri, name);
    return NEA_OK;
}

int nea_host_dom_update_device(struct nea_host *h, const char *name,
                               const char *device_xml, struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_UPDATE_DEVICE, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(dom_freep) virDomainPtr d = NULL;
    rc = require(h, name, &d, err);
    if (rc < 0)
        return rc;
    unsigned flags = VIR_DOMAIN_AFFECT_CONFIG;
    if (virDomainIsActive(d) == 1)
        flags |= VIR_DOMAIN_AFFECT_LIVE;
    if (virDomainUpdateDeviceFlags(d, device_xml, flags) < 0) {
        if (unsupported())
            return nea_err_set(err, NEA_ERR_UNSUPPORTED, "%s: live device update is not "
                               "supported: %s", h->uri, lv_msg());
        return lv_fail(err, "%s: cannot update a device of domain %s", h->uri, name);
    }
    return NEA_OK;
}

/* A running domain for a live device change; NULL (NEA_OK) when it does
 * not run. */
static int running_dom(struct nea_host *h, const char *name, virDomainPtr *ret,
                       struct nea_err *err)
{
    virDomainPtr d = NULL;
    int rc = require(h, name, &d, err);
    if (rc < 0)
        return rc;
    if (virDomainIsActive(d) != 1) {
        virDomainFree(d);
        d = NULL;
    }
    *ret = d;
    return NEA_OK;
}

static int live_fail(struct nea_host *h, const char *what, const char *name,
                     struct nea_err *err)
{
    if (unsupported())
        return nea_err_set(err, NEA_ERR_UNSUPPORTED, "%s: cannot %s domain %s live: %s",
                           h->uri, what, name, lv_msg());
    return lv_fail(err, "%s: cannot %s domain %s", h->uri, what, name);
}

int nea_host_dom_attach_live(struct nea_host *h, const char *name, const char *device_xml,
                             struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_ATTACH, err);
    NEA_AUTO(dom_freep) virDomainPtr d = NULL;
    if (rc == NEA_OK)
        rc = running_dom(h, name, &d, err);
    if (rc < 0 || !d)
        return rc;
    if (virDomainAttachDeviceFlags(d, device_xml, VIR_DOMAIN_AFFECT_LIVE) < 0)
        return live_fail(h, "plug a vNIC into", name, err);
    return NEA_OK;
}

/* The <interface> element of xml whose MAC is mac, as XML text; NULL: none. */
static char *iface_by_mac(const char *xml, const char *mac)
{
    NEA_AUTO(nea_xml_doc_freep) xmlDocPtr doc = parse_xml(xml);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNodePtr devs = root ? child(root, "devices") : NULL;
    for (xmlNodePtr n = devs ? devs->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || xmlStrcmp(n->name, BAD_CAST "interface"))
            continue;
        xmlNodePtr m = child(n, "mac");
        NEA_AUTOFREE char *addr = m ? prop(m, "address") : NULL;
        if (!addr || strcasecmp(addr, mac))
            continue;
        xmlBufferPtr buf = xmlBufferCreate();
        if (!buf || xmlNodeDump(buf, doc, n, 0, 0) < 0)
            abort();
        char *out = nea_xstrdup((const char *)xmlBufferContent(buf));
        xmlBufferFree(buf);
        return out;
    }
    return NULL;
}

int nea_dom_xml_macs(const char *xml, char ***ret_macs, size_t *ret_n)
{
    NEA_AUTO(nea_xml_doc_freep) xmlDocPtr doc = parse_xml(xml);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNodePtr devs = root ? child(root, "devices") : NULL;
    char **v = NULL;
    size_t n = 0;
    for (xmlNodePtr c = devs ? devs->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || xmlStrcmp(c->name, BAD_CAST "interface"))
            continue;
        xmlNodePtr m = child(c, "mac");
        char *addr = m ? prop(m, "address") : NULL;
        if (!addr)
            continue;
        for (char *q = addr; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        v = nea_xrealloc(v, (n + 1) * sizeof(*v));
        v[n++] = addr;
    }
    *ret_macs = v;
    *ret_n = n;
    return doc ? NEA_OK : -1;
}

void nea_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int nea_host_dom_detach_iface_live(struct nea_host *h, const char *name, const char *mac,
                                   struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_DETACH, err);
    NEA_AUTO(dom_freep) virDomainPtr d = NULL;
    if (rc == NEA_OK)
        rc = running_dom(h, name, &d, err);
    if (rc < 0 || !d)
        return rc;
    NEA_AUTOFREE char *xml = virDomainGetXMLDesc(d, 0);
    if (!xml)
        return lv_fail(err, "%s: domain %s", h->uri, name);
    NEA_AUTOFREE char *dev = iface_by_mac(xml, mac);
    if (!dev)
        return NEA_OK;
    if (virDomainDetachDeviceFlags(d, dev, VIR_DOMAIN_AFFECT_LIVE) < 0)
        return live_fail(h, "unplug a vNIC from", name, err);
    /* the guest acknowledges an unplug: wait for it (a few seconds) */
    for (int i = 0; i < 100; i++) {
        NEA_AUTOFREE char *now = virDomainGetXMLDesc(d, 0);
        NEA_AUTOFREE char *still = now ? iface_by_mac(now, mac) : NULL;
        if (!still)
            return NEA_OK;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return nea_err_set(err, NEA_ERR_HOST, "%s: domain %s did not release the vNIC %s "
                       "within 10 s of the unplug request", h->uri, name, mac);
}

int nea_host_dom_change_media_live(struct nea_host *h, const char *name,
                                   const char *disk_xml, struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_UPDATE_DEVICE, err);
    NEA_AUTO(dom_freep) virDomainPtr d = NULL;
    if (rc == NEA_OK)
        rc = running_dom(h, name, &d, err);
    if (rc < 0 || !d)
        return rc;
    /* forced: the guest may hold the tray locked (a pass of neaprov-sync
     * reading the old medium); the vNIC that comes next makes it read the
     * new one again */
    if (virDomainUpdateDeviceFlags(d, disk_xml,
                                   VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_DEVICE_MODIFY_FORCE) < 0)
        return live_fail(h, "change the seed cdrom of", name, err);
    return NEA_OK;
}

/* ---- tenant networks (isolated mode) ------------------------------------ */

/* The tenant and network of an owned libvirt network; both NULL: not ours. */
static void tnet_owner(virNetworkPtr n, char **ret_tenant, char **ret_network)
{
    *ret_tenant = *ret_network = NULL;
    NEA_AUTOFREE char *xml = virNetworkGetXMLDesc(n, 0);
    NEA_AUTO(nea_xml_doc_freep) xmlDocPtr doc = xml ? parse_xml(xml) : NULL;
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNodePtr meta = root ? child(root, "metadata") : NULL;
    for (xmlNodePtr c = meta ? meta->children : NULL; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || !c->ns ||
            xmlStrcmp(c->ns->href, BAD_CAST NEA_XMLNS) ||
            xmlStrcmp(c->name, BAD_CAST "tenant-network"))
            continue;
        *ret_tenant = meta_field(c, "tenant");
        *ret_network = meta_field(c, "network");
        return;
    }
}

static bool tnet_owned_by(virNetworkPtr n, const char *tenant, const char *network)
{
    NEA_AUTOFREE char *t = NULL, *w = NULL;
    tnet_owner(n, &t, &w);
    return t && w && !strcmp(t, tenant) && (!network || !strcmp(w, network));
}

static char *tnet_xml(const char *name, const char *tenant, const char *network)
{
    xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "network");
    xmlDocSetRootElement(doc, root);
    xmlNewTextChild(root, NULL, BAD_CAST "name", BAD_CAST name);
    xmlNodePtr meta = xmlNewChild(root, NULL, BAD_CAST "metadata", NULL);
    xmlNodePtr tn = xmlNewChild(meta, NULL, BAD_CAST "tenant-network", NULL);
    xmlNsPtr ns = xmlNewNs(tn, BAD_CAST NEA_XMLNS, BAD_CAST NEA_XMLNS_PREFIX);
    xmlSetNs(tn, ns);
    xmlNewTextChild(tn, ns, BAD_CAST "tenant", BAD_CAST tenant);
    xmlNewTextChild(tn, ns, BAD_CAST "network", BAD_CAST network);
    /* no <forward>, no <ip>: an L2 segment the host neither routes nor
     * addresses; no STP, no forwarding delay */
    xmlNodePtr br = xmlNewChild(root, NULL, BAD_CAST "bridge", NULL);
    xmlSetProp(br, BAD_CAST "stp", BAD_CAST "off");
    xmlSetProp(br, BAD_CAST "delay", BAD_CAST "0");
    xmlChar *out = NULL;
    int len = 0;
    xmlDocDumpFormatMemoryEnc(doc, &out, &len, "UTF-8", 1);
    xmlFreeDoc(doc);
    if (!out)
        abort();
    char *r = nea_xstrdup((const char *)out);
    xmlFree(out);
    return r;
}

static int net_lookup(struct nea_host *h, const char *name, virNetworkPtr *ret,
                      struct nea_err *err)
{
    virNetworkPtr n = virNetworkLookupByName(h->conn, name);
    if (!n) {
        virErrorPtr e = virGetLastError();
        if (!(e && e->code == VIR_ERR_NO_NETWORK))
            return lv_fail(err, "%s: network %s", h->uri, name);
    }
    *ret = n;
    return NEA_OK;
}

int nea_host_tnet_ensure(struct nea_host *h, const char *name, const char *tenant,
                         const char *network, struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_NET_DEFINE, err);
    NEA_AUTO(net_freep) virNetworkPtr n = NULL;
    if (rc == NEA_OK)
        rc = net_lookup(h, name, &n, err);
    if (rc < 0)
        return rc;
    if (n && !tnet_owned_by(n, tenant, network))
        return nea_err_set(err, NEA_ERR_CONFLICT, "%s: a libvirt network named %s exists "
                           "but is not network %s of tenant %s (no neaprov metadata for "
                           "it); neaprov leaves it alone: remove or rename it", h->uri, name,
                           network, tenant);
    if (!n) {
        NEA_AUTOFREE char *xml = tnet_xml(name, tenant, network);
        n = virNetworkDefineXML(h->conn, xml);
        if (!n)
            return lv_fail(err, "%s: cannot define network %s", h->uri, name);
    }
    if (virNetworkIsActive(n) != 1 && virNetworkCreate(n) < 0)
        return lv_fail(err, "%s: cannot start network %s", h->uri, name);
    int autostart = 0;
    if (virNetworkGetAutostart(n, &autostart) == 0 && !autostart &&
        virNetworkSetAutostart(n, 1) < 0 && !unsupported())
        return lv_fail(err, "%s: cannot set network %s to start with the host", h->uri,
                       name);
    return NEA_OK;
}

int nea_host_tnet_remove(struct nea_host *h, const char *name, const char *tenant,
                         struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_NET_REMOVE, err);
    NEA_AUTO(net_freep) virNetworkPtr n = NULL;
    if (rc == NEA_OK)
        rc = net_lookup(h, name, &n, err);
    if (rc < 0 || !n)
        return rc;
    if (!tnet_owned_by(n, tenant, NULL))
        return nea_err_set(err, NEA_ERR_CONFLICT, "%s: network %s is not tenant %s's; "
                           "neaprov leaves it alone", h->uri, name, tenant);
    if (virNetworkIsActive(n) == 1 && virNetworkDestroy(n) < 0)
        return lv_fail(err, "%s: cannot stop network %s", h->uri, name);
    if (virNetworkIsPersistent(n) == 1 && virNetworkUndefine(n) < 0)
        return lv_fail(err, "%s: cannot undefine network %s", h->uri, name);
    return NEA_OK;
}

int nea_host_tnet_list(struct nea_host *h, const char *tenant, char ***ret_names,
                       size_t *ret_n, struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_LIST_NETWORKS, err);
    if (rc < 0)
        return rc;
    virNetworkPtr *nets = NULL;
    int cnt = virConnectListAllNetworks(h->conn, &nets, 0);
    if (cnt < 0)
        return lv_fail(err, "%s: cannot list networks", h->uri);
    NEA_AUTOFREE char *prefix = nea_xasprintf("nea-net.%s.", tenant);
    char **v = NULL;
    size_t n = 0;
    for (int i = 0; i < cnt; i++) {
        const char *name = virNetworkGetName(nets[i]);
        if (name && nea_str_has_prefix(name, prefix) && tnet_owned_by(nets[i], tenant, NULL)) {
            v = nea_xrealloc(v, (n + 1) * sizeof(*v));
            v[n++] = nea_xstrdup(name);
        }
        virNetworkFree(nets[i]);
    }
    free(nets);
    *ret_names = v;
    *ret_n = n;
    return NEA_OK;
}

int nea_host_tnet_bridge(struct nea_host *h, const char *name, char **ret_bridge,
                         struct nea_err *err)
{
    NEA_AUTO(net_freep) virNetworkPtr n = NULL;
    int rc = net_lookup(h, name, &n, err);
    if (rc < 0)
        return rc;
    char *br = n ? virNetworkGetBridgeName(n) : NULL;
    *ret_bridge = br ? nea_xstrdup(br) : NULL;
    free(br);
    return NEA_OK;
}

int nea_host_dom_set_live_metadata(struct nea_host *h, const char *name,
                                   const char *element_xml, struct nea_err *err)
{
    int rc = fault(h, NEA_FAULT_SET_METADATA, err);
    if (rc < 0)
        return rc;
    NEA_AUTO(dom_freep) virDomainPtr d = NULL;
    rc = require(h, name, &d, err);
    if (rc < 0)
        return rc;
    if (virDomainIsActive(d) != 1)
        return NEA_OK;
    if (virDomainSetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, element_xml, NEA_XMLNS_PREFIX,
                             NEA_XMLNS, VIR_DOMAIN_AFFECT_LIVE) < 0)
        return lv_fail(err, "%s: cannot update the metadata of domain %s", h->uri, name);
    return NEA_OK;
}

/* A URI without a server part names this machine ("qemu:///system",
 * "qemu+unix:///system"): its neighbour table is the host's. */
static bool uri_is_local(const char *uri)
{
    const char *p = strstr(uri, "://");
    return p && p[3] == '/';
}

/* The addresses of one NIC as one source tells them: space separated into
 * out, only IP addresses (the guest agent's answer is the guest's to
 * make), no link-local ones, at most NEA_HOST_ADDRS_MAX. */
struct addr_list {
    FILE *out;
    bool *any;          /* something is in out already */
    size_t n;           /* taken from this source */
};

static void addr_add(struct addr_list *l, const char *a)
{
    struct nea_ip ip;
    if (l->n >= NEA_HOST_ADDRS_MAX || !a || strlen(a) >= NEA_IP_STRLEN ||
        nea_ip_parse(a, &ip) <= 0)
        return;
    if (nea_str_has_prefix(a, "fe80:") || nea_str_has_prefix(a, "FE80:") ||
        nea_str_has_prefix(a, "169.254."))
        return;
    fprintf(l->out, "%s%s", *l->any ? " " : "", a);
    *l->any = true;
    l->n++;
}

/* The IPv4 neighbour table as /proc/net/arp shows it (this process's
 * network namespace):
 *   IP address  HW type  Flags  HW address  Mask  Device
 * Complete entries (flag 0x2) of this MAC, space separated. */
int nea_arp_table_lookup(FILE *f, const char *mac, FILE *out, bool *any)
{
    struct addr_list l = {.out = out, .any = any};
    char line[512];
    if (!fgets(line, sizeof(line), f))
        return 0; /* header */
    while (l.n < NEA_HOST_ADDRS_MAX && fgets(line, sizeof(line), f)) {
        char ip[64], hw[64];
        unsigned flags;
        if (sscanf(line, "%63s %*s %x %63s", ip, &flags, hw) != 3)
            continue;
        if (!(flags & 0x2) || strcasecmp(hw, mac))
            continue;
        addr_add(&l, ip);
    }
    return 0;
}

int nea_host_dom_addresses(struct nea_host *h, const char *name, const char *mac,
                           char **ret_addrs, struct nea_err *err)
{
    NEA_AUTO(dom_freep) virDomainPtr d = NULL;
    int rc = require(h, name, &d, err);
    if (rc < 0)
        return rc;
    NEA_AUTOFREE char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    static const unsigned sources[] = {VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT,
                                       VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP};
    bool any = false, agent_booting = false, answered = false;
    NEA_AUTOFREE char *why = NULL;
    for (size_t s = 0; s < NEA_ARRAY_SIZE(sources) && !any; s++) {
        virDomainInterfacePtr *ifs = NULL;
        int n = virDomainInterfaceAddresses(d, &ifs, sources[s], 0);
        if (n < 0) {
            virErrorPtr e = virGetLastError();
            /* the channel is there but nothing answers on it yet: the guest
             * is booting (or its image has no agent) */
            if (s == 0 && e && e->code == VIR_ERR_AGENT_UNRESPONSIVE)
                agent_booting = true;
            if (!why)
                why = nea_xstrdup(lv_msg());
        } else {
            answered = true;
        }
        struct addr_list l = {.out = f, .any = &any};
        for (int i = 0; i < n; i++) {
            if (ifs[i]->hwaddr && !strcasecmp(ifs[i]->hwaddr, mac))
                for (unsigned a = 0; a < ifs[i]->naddrs; a++)
                    addr_add(&l, ifs[i]->addrs[a].addr);
            virDomainInterfaceFree(ifs[i]);
        }
        free(ifs);
    }
    /* libvirt's own ARP source fails on some versions ("wrong nlmsg len" in
     * 9.0); on this machine the kernel's table is at hand */
    bool local = !any && uri_is_local(h->uri);
    if (local) {
        FILE *arp = fopen("/proc/net/arp", "re");
        if (arp) {
            nea_arp_table_lookup(arp, mac, f, &any);
            fclose(arp);
            answered = true; /* a table that works, like libvirt's ARP source */
        }
    }
    fclose(f);
    if (!answered && !any && !agent_booting)
        return nea_err_set(err, NEA_ERR_UNSUPPORTED, "%s: neither the guest agent nor "
                           "the ARP table can tell the addresses of domain %s: %s",
                           h->uri, name, why ? why : "unknown error");
    if (!answered && !any) /* the agent may answer later */
        return nea_err_set(err, NEA_ERR_BUSY, "%s: no address of domain %s is known yet: "
                           "the guest agent does not answer and no ARP table can be read",
                           h->uri, name);
    *ret_addrs = TAKE_PTR(buf);
    return NEA_OK;
}

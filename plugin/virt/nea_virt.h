/*
 * nea_virt.h: the libvirt host, seen through the few operations neaprov needs.
 *
 * Every call returns a status and leaves libvirt's own message in a whole
 * sentence naming the object; libvirt's default printing to stderr is
 * silenced.  A fault can be injected before any named operation (tests and
 * NEAPROV_FAULT), so each step's failure path is exercised against real
 * libvirt code.  Knows nothing of specs or state.
 */
#ifndef NEA_VIRT_H
#define NEA_VIRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nea_err.h"
#include "nea_netref.h"
#include "nea_util.h"

/* Out-parameters (ret_*) are written only when a function returns NEA_OK,
 * except where a comment says otherwise. */

struct nea_host;

/* "bridge", "openvswitch", "libvirt network" */

struct nea_host_net {
    char *ref;       /* as specs write it: "br-ext", "ovs:br-sp", "network:NAME" */
    char *name;
    enum nea_net_kind kind;
    bool active;
};

enum nea_dom_state {
    NEA_DOM_MISSING,
    NEA_DOM_RUNNING,
    NEA_DOM_SHUTOFF,
    NEA_DOM_OTHER,          /* paused, crashed, ... */
    NEA_DOM_LAST
};
/* The live state as neaprov shows it: "missing", "running", "shut off",
 * "paused or crashed" */
NEA_ENUM_DECL(nea_dom_state);

struct nea_dom_info {
    enum nea_dom_state state;
    bool owned;            /* carries our metadata element */
    char *tenant;          /* from the metadata, when owned */
    char *spec_hash;
    char *instance_id;
    char *xml;             /* live XML (the inactive one when shut off) */
    char *xml_inactive;    /* persistent definition: what the next boot uses */
};

/* The parts of a domain XML that neaprov compares to find drift.  Parsed the
 * same way from the live XML and from the rendered one. */
struct nea_dom_facets {
    char *nic_type;       /* "bridge" or "network" */
    char *nic_source;     /* bridge or network name */
    char *nic_mac;
    char *disk_source;
    char *cdrom_source;   /* NULL: no cdrom or no media */
    char *vcpus;
    char *memory_kib;
    char *machine;
};

/* -1 when xml is not XML.  An exception to the rule above: *ret_facets is
 * always written, with no facet (all NULL) on failure, so that a caller may
 * clear it either way. */
int nea_dom_facets_parse(const char *xml, struct nea_dom_facets *ret_facets);
void nea_dom_facets_clear(struct nea_dom_facets *f);

int nea_host_open(const char *uri, struct nea_host **ret_host, struct nea_err *err);
void nea_host_close(struct nea_host *h);
/* nea_host_closep(struct nea_host **), for NEA_AUTO */
NEA_DEFINE_CLEANUP(struct nea_host *, nea_host_close)
/* libvirt's in-process test driver: no guest ever boots there. */
bool nea_host_is_test(const struct nea_host *h);

/* The operations a fault can be injected into, as NEAPROV_FAULT names them
 * ("list-networks", "lookup", ...): nea_fault_op_parse tells a known name. */
enum nea_fault_op {
    NEA_FAULT_LIST_NETWORKS,
    NEA_FAULT_LOOKUP,
    NEA_FAULT_VOL_UPLOAD,
    NEA_FAULT_VOL_CREATE,
    NEA_FAULT_VOL_DELETE,
    NEA_FAULT_DEFINE,
    NEA_FAULT_START,
    NEA_FAULT_STOP,
    NEA_FAULT_UNDEFINE,
    NEA_FAULT_RENAME,
    NEA_FAULT_UPDATE_DEVICE,
    NEA_FAULT_SET_METADATA,
    NEA_FAULT_NET_DEFINE,    /* a tenant network (isolated mode) */
    NEA_FAULT_NET_REMOVE,
    NEA_FAULT_ATTACH,        /* a vNIC hot-plugged */
    NEA_FAULT_DETACH,
    NEA_FAULT_LAST
};
NEA_ENUM_DECL(nea_fault_op);

/* Fault injection: the n-th (1-based) call of operation `op` (a name of
 * enum nea_fault_op; any other name never fires) fails, or with crash set,
 * kills the process with SIGKILL instead (a crash at that step). */
void nea_host_set_fault(struct nea_host *h, const char *op, unsigned nth, bool crash);

int nea_host_networks(struct nea_host *h, struct nea_host_net **ret_nets, size_t *ret_n,
                      struct nea_err *err);
void nea_host_nets_free(struct nea_host_net *v, size_t n);

/* storage */
int nea_host_pool_dir(struct nea_host *h, const char *pool, char **ret_path,
                      struct nea_err *err);
int nea_host_vol_path(struct nea_host *h, const char *pool, const char *name,
                      char **ret_path, struct nea_err *err); /* NULL when absent */
int nea_host_vol_upload(struct nea_host *h, const char *pool, const char *name,
                        const char *format, const void *buf, size_t len,
                        struct nea_err *err);
int nea_host_vol_upload_file(struct nea_host *h, const char *pool, const char *name,
                             const char *format, const char *path, struct nea_err *err);
int nea_host_vol_create_overlay(struct nea_host *h, const char *pool, const char *name,
                                uint64_t capacity, const char *backing_path,
                                const char *backing_format, struct nea_err *err);
/* Whether the volume exists, the format libvirt records for it ("qcow2",
 * "raw", ...; NULL: none) and the path of its backing store (NULL: none),
 * from one look at the volume; ret_format and ret_backing may be NULL. */
int nea_host_vol_facts(struct nea_host *h, const char *pool, const char *name,
                       bool *ret_exists, char **ret_format, char **ret_backing,
                       struct nea_err *err);
/* Names of the pool's volumes that start with prefix. */
int nea_host_vol_list(struct nea_host *h, const char *pool, const char *prefix,
                      char ***ret_names, size_t *ret_n, struct nea_err *err);
int nea_host_vol_delete(struct nea_host *h, const char *pool, const char *name,
                        struct nea_err *err); /* absent is fine */

/* domains */
int nea_host_dom_info(struct nea_host *h, const char *name, struct nea_dom_info *ret_info,
                      struct nea_err *err);
void nea_dom_info_clear(struct nea_dom_info *i);
/* The name of the domain with this UUID; *ret_name NULL when there is none. */
int nea_host_dom_name_by_uuid(struct nea_host *h, const char *uuid, char **ret_name,
                              struct nea_err *err);
int nea_host_dom_define(struct nea_host *h, const char *xml, struct nea_err *err);
int nea_host_dom_start(struct nea_host *h, const char *name, struct nea_err *err);
/* ACPI shutdown, waiting up to timeout_s, then a forced power-off. */
int nea_host_dom_stop(struct nea_host *h, const char *name, unsigned timeout_s,
                      bool *ret_forced, struct nea_err *err);
int nea_host_dom_undefine(struct nea_host *h, const char *name, struct nea_err *err);
int nea_host_dom_rename(struct nea_host *h, const char *name, const char *new_name,
                        struct nea_err *err);
/* Live device update (LIVE|CONFIG when running, CONFIG otherwise). */
int nea_host_dom_update_device(struct nea_host *h, const char *name,
                               const char *device_xml, struct nea_err *err);
/* Replaces neaprov's metadata element (an <appliance> in our namespace) in
 * the running domain, whose definition a define does not touch. */
/* Live only (the persistent definition is the caller's define): plug the
 * device into the running domain, unplug the interface with this MAC, or
 * swap a cdrom's media.  NEA_ERR_UNSUPPORTED when the host cannot do it
 * live (the caller then restarts the domain); NEA_OK without change when
 * the domain does not run, or (detach) has no such interface. */
int nea_host_dom_attach_live(struct nea_host *h, const char *name, const char *device_xml,
                             struct nea_err *err);
int nea_host_dom_detach_iface_live(struct nea_host *h, const char *name, const char *mac,
                                   struct nea_err *err);
int nea_host_dom_change_media_live(struct nea_host *h, const char *name,
                                   const char *disk_xml, struct nea_err *err);
/* The MACs of the domain's vNICs in its live XML (lower case). */
int nea_dom_xml_macs(const char *xml, char ***ret_macs, size_t *ret_n);

/* Tenant networks in isolated mode: libvirt networks with no <forward> and
 * no address, so the host never routes; owned through neaprov's metadata
 * (tenant and network).  ensure defines, starts and sets autostart when
 * missing, starts one that is down, and refuses (NEA_ERR_CONFLICT) a
 * network of that name that is not this tenant's network.  remove stops
 * and undefines an owned one (absent: NEA_OK; not ours: NEA_ERR_CONFLICT).
 * list gives the names of the tenant's owned networks on the host. */
int nea_host_tnet_ensure(struct nea_host *h, const char *name, const char *tenant,
                         const char *network, struct nea_err *err);
int nea_host_tnet_remove(struct nea_host *h, const char *name, const char *tenant,
                         struct nea_err *err);
int nea_host_tnet_list(struct nea_host *h, const char *tenant, char ***ret_names,
                       size_t *ret_n, struct nea_err *err);
/* The Linux bridge of a libvirt network (NULL: none known). */
int nea_host_tnet_bridge(struct nea_host *h, const char *name, char **ret_bridge,
                         struct nea_err *err);
void nea_strv_free(char **v, size_t n);

int nea_host_dom_set_live_metadata(struct nea_host *h, const char *name,
                                   const char *element_xml, struct nea_err *err);
/* At most this many addresses of one NIC are taken from a source (the
 * guest agent, an ARP table), the rest left out: more than the public
 * addresses an appliance may hold (2 x 9999) and its own. */
#define NEA_HOST_ADDRS_MAX 20480

/* The guest's IP addresses on the NIC with this MAC (link-local ones and
 * anything that is not an IP address left out; at most NEA_HOST_ADDRS_MAX),
 * space separated, as the guest agent or else the host's ARP table knows
 * them (libvirt's, then, for a host on this machine, the kernel's
 * /proc/net/arp); "" when none is known yet although a source answered (the
 * agent, or an ARP table that could be read); NEA_ERR_BUSY while only the
 * guest agent could tell and it does not answer (yet); NEA_ERR_UNSUPPORTED
 * when no source works on this host. */
int nea_host_dom_addresses(struct nea_host *h, const char *name, const char *mac,
                           char **ret_addrs, struct nea_err *err);
/* Appends to out the complete entries for mac of a table in /proc/net/arp's
 * format, space separated (*any: something was written before), at most
 * NEA_HOST_ADDRS_MAX of them; lines that are not entries are skipped. */
int nea_arp_table_lookup(FILE *f, const char *mac, FILE *out, bool *any);

#endif

/*
 * nea_model.h: the validated appliance model.
 *
 * This struct is the truth: the spec and plan YAML are parsed into it once
 * (spec/nea_spec.c, spec/nea_plan_load.c) and every artefact is formatted
 * out of it (render/).  A model that exists has passed validation; nothing downstream
 * re-checks input.
 */
#ifndef NEA_MODEL_H
#define NEA_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "nea_addr.h"
#include "nea_netref.h"
#include "nea_sha256.h"

enum nea_v4_mode { NEA_V4_DISABLED, NEA_V4_DHCP, NEA_V4_STATIC };
enum nea_v6_mode { NEA_V6_DISABLED, NEA_V6_AUTO, NEA_V6_DHCP, NEA_V6_STATIC };
enum nea_domain_type { NEA_DOMTYPE_AUTO, NEA_DOMTYPE_KVM, NEA_DOMTYPE_QEMU };

#define NEA_MAX_DNS 8
#define NEA_MAX_SSH_KEYS 32
#define NEA_MAX_PLAN_NETWORKS 64
/* tenant networks: the plan's max-networks may not exceed this */
#define NEA_MAX_TENANT_NETS 16
#define NEA_TNET_DEFAULT_MAX 8

/* One external network a plan offers. */
struct nea_network {
    char *ref;              /* as written in specs: "br-ext" or "network:NAME" */
    char *name;             /* bridge or libvirt network name */
    enum nea_net_kind kind;
};

/* How a plan realises tenant networks on its host (tenant-networks.mode). */
enum nea_tnet_mode {
    NEA_TNET_NONE,      /* the plan has no tenant-networks section */
    NEA_TNET_ISOLATED,  /* one libvirt network per tenant network, no forward */
    NEA_TNET_OVS_VLAN,  /* an Open vSwitch bridge, one VLAN per tenant network */
    NEA_TNET_LAST
};
NEA_ENUM_DECL(nea_tnet_mode); /* "none", "isolated", "ovs-vlan" */

struct nea_tnet_plan {
    enum nea_tnet_mode mode;
    unsigned max_networks;  /* per appliance, 1..NEA_MAX_TENANT_NETS */
    char *bridge;           /* ovs-vlan: the Open vSwitch bridge */
    unsigned vlan_first, vlan_last; /* ovs-vlan: the tags it may give out */
};

struct nea_plan {
    char *path;             /* file it was read from */
    char *name;
    char *description;
    char *host;             /* libvirt URI */
    char *storage_pool;
    struct nea_network *networks;
    size_t n_networks;
    unsigned vcpus;
    unsigned memory_mib;
    unsigned disk_gib;
    char *image;            /* as written: absolute or plan-relative path, or URL */
    char *image_path;       /* local path resolved against the plan's folder;
                             * NULL for URLs */
    char *image_sha256;     /* lowercase hex, or NULL */
    char *machine;          /* "q35", "pc", "pc-q35-7.2", ... */
    /* direct kernel boot (optional): paths on the KVM host, as libvirt
     * reads them there */
    char *cdrom_bus;        /* "sata", "scsi" (virtio-scsi) or "ide"; NULL:
                             * by machine (ide on i440fx, else sata) */
    char *kernel;
    char *initrd;
    char *cmdline;
    enum nea_domain_type domain_type;
    struct nea_tnet_plan tnet;
};

struct nea_ipv4 {
    enum nea_v4_mode mode;
    struct nea_ip address, gateway;
    unsigned prefix;
};

struct nea_ipv6 {
    enum nea_v6_mode mode;
    struct nea_ip address, gateway;
    unsigned prefix;
};

enum nea_proto { NEA_PROTO_TCP, NEA_PROTO_UDP, NEA_PROTO_LAST };
NEA_ENUM_DECL(nea_proto); /* "tcp", "udp" */

/* public IP + port -> replica IP + port (a DNAT in the appliance) */
struct nea_rule {
    struct nea_ip pub;
    unsigned pub_port;
    enum nea_proto proto;
    struct nea_ip to;
    unsigned to_port;
    char *description;       /* NULL or [A-Za-z0-9 ._,:/-]{1,64} */
};
/* Why r cannot be a public IP rule, as a sentence (to free), or NULL: port
 * 22 (management), ports, protocol, families, a replica address that is not
 * unicast, the description's characters.  Whoever stores or renders a rule
 * checks it here. */
char *nea_rule_problem(const struct nea_rule *r);

/* One tenant network: the appliance is its default gateway. */
struct nea_tnet {
    char *name;             /* [a-z0-9][a-z0-9-]*, unique in the spec */
    struct nea_ip gw4;      /* the appliance's address on it */
    unsigned prefix4;
    bool has_v6;
    struct nea_ip gw6;
    unsigned prefix6;
    bool internet;          /* outbound traffic is source-NATed out */
    uint8_t mac[6];         /* derived from host, tenant and network name */
    /* Where it is on the host, set by the engine from the state (or by a
     * render without state, as a dry run): the vNIC slot (stable while the
     * network exists: PCI address and guest interface name "int<slot>")
     * and, in ovs-vlan mode, the VLAN tag. */
    unsigned slot;
    unsigned vlan;
};

struct nea_spec {
    char *path;
    char *tenant;
    char *plan_name;
    struct nea_plan *plan;
    char *name;                     /* domain name == hostname */
    const struct nea_network *network;  /* points into plan->networks */
    uint8_t mac[6];
    bool mac_given;
    uint8_t uuid[16];
    bool uuid_given;
    struct nea_ipv4 ipv4;
    struct nea_ipv6 ipv6;
    struct nea_ip dns[NEA_MAX_DNS];
    size_t n_dns;
    char *ssh_keys[NEA_MAX_SSH_KEYS];
    size_t n_ssh_keys;
    unsigned public_ipv4, public_ipv6;
    struct nea_tnet *tnets;         /* the spec's networks:, in its order */
    size_t n_tnets;
    /* Filled by the engine from the pool, not from the spec file: the
     * addresses allocated to the tenant and its public IP rules. */
    struct nea_ip *public_addrs;
    size_t n_public_addrs;
    struct nea_rule *rules;
    size_t n_rules;
    /* sha256 over the canonical form of everything above that shapes the
     * appliance (see nea_spec_canonical); stable across comments, key
     * order and formatting of the YAML. */
    char hash[NEA_SHA256_HEX_LEN + 1];
};

const char *nea_v4_mode_name(enum nea_v4_mode m);
const char *nea_v6_mode_name(enum nea_v6_mode m);
const char *nea_domain_type_name(enum nea_domain_type t);

void nea_plan_free(struct nea_plan *p);
void nea_spec_free(struct nea_spec *s);
void nea_spec_freep(struct nea_spec **s);
void nea_plan_freep(struct nea_plan **p);

/* The libvirt network of tenant network n in isolated mode (to free):
 * "nea-net.TENANT.NAME", '.' being in neither name. */
char *nea_tnet_libvirt_name(const char *tenant, const char *name);
/* The MAC of tenant network name's vNIC, attempt salt (0 first; another
 * when it meets a MAC the appliance has already). */
void nea_tnet_derive_mac(const char *tenant, const char *name, unsigned salt, uint8_t mac[6]);
/* The guest interface of slot i: "int<i>". */
void nea_tnet_ifname(unsigned slot, char out[16]);
/* The tenant network that holds ip (NULL: none). */
const struct nea_tnet *nea_tnet_of(const struct nea_spec *s, const struct nea_ip *ip);

/* Formats as "52:54:00:0a:0b:0c" / canonical 8-4-4-4-12 UUID. */
void nea_mac_format(const uint8_t mac[6], char out[18]);
void nea_uuid_format(const uint8_t uuid[16], char out[37]);

#endif

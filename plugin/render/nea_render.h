/*
 * nea_render.h: validated model -> the appliance's artefacts.
 *
 * The domain XML is built with libxml2 from an SP-adaptable template, the
 * seed with libyaml and libisofs.  Output depends only on the model, the
 * template and the options: the same input gives the same bytes.
 */
#ifndef NEA_RENDER_H
#define NEA_RENDER_H

#include <stddef.h>
#include <time.h>

#include "nea_err.h"
#include "nea_model.h"
#include "nea_seed.h"
#include "nea_xml.h" /* NEA_XMLNS, NEA_XMLNS_PREFIX */
#define NEA_DEFAULT_VOLUME_DIR "/var/lib/libvirt/images"
/* 2000-01-01T00:00:00Z: the default timestamp of every seed ISO. */
#define NEA_DEFAULT_EPOCH ((time_t)946684800)

struct nea_render_opts {
    const char *template_path;   /* domain template (templates/domain.xml) */
    const char *volume_dir;      /* directory of the storage pool's volumes */
    time_t epoch;                /* timestamp written into the ISO */
    const char *disk_volume;     /* volume names; NULL: "<name>.qcow2" and */
    const char *seed_volume;     /* "<name>-seed.iso" */
};

/* The PCI places of tenant network vNICs (slot N), reserved whenever the
 * plan has tenant-networks (nea_domain.c says why these): q35, bus
 * NEA_TNET_PORT_INDEX_BASE + N, which is the index of the pcie-root-port
 * neaprov declares for it; i440fx, bus 0, slot NEA_TNET_PC_SLOT_BASE + N. */
#define NEA_TNET_PORT_INDEX_BASE 16
#define NEA_TNET_PC_SLOT_BASE 0x10

struct nea_artifacts {
    char *domain_xml;
    size_t domain_xml_len;
    char *interface_xml;         /* the external vNIC, for a live device update */
    /* One <interface> per spec->tnets[i], same order, with its fixed PCI
     * address: for a live attach (virDomainAttachDeviceFlags) into its empty
     * root port or slot, and the matching detach.  NULL when none. */
    char **tnet_iface_xml;
    size_t n_tnet_iface_xml;
    char *cdrom_xml;             /* the seed cdrom <disk>: for a live media
                                  * change (virDomainUpdateDeviceFlags) */
    char *metadata_xml;          /* neaprov's metadata element, for
                                  * virDomainSetMetadata (no namespace) */
    struct nea_seed seed;
    char *iso;
    size_t iso_len;
    char *disk_volume;           /* "<name>.qcow2" */
    char *seed_volume;           /* "<name>-seed.iso" */
};

/* Fills the domain XML, its interface and its metadata element of ret. */
int nea_domain_render(const struct nea_spec *spec, const struct nea_seed *seed,
                      const struct nea_render_opts *opts, struct nea_artifacts *ret,
                      struct nea_err *err);

/* Everything at once: seed, ISO and domain XML. */
int nea_render(const struct nea_spec *spec, const struct nea_render_opts *opts,
               struct nea_artifacts *ret_artifacts, struct nea_err *err);
void nea_artifacts_clear(struct nea_artifacts *a);

#endif

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

#define NEA_XMLNS "urn:neaprov:appliance:1"
#define NEA_XMLNS_PREFIX "neaprov"
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

struct nea_artifacts {
    char *domain_xml;
    size_t domain_xml_len;
    struct nea_seed seed;
    char *iso;
    size_t iso_len;
    char *disk_volume;           /* "<name>.qcow2" */
    char *seed_volume;           /* "<name>-seed.iso" */
};

int nea_domain_render(const struct nea_spec *spec, const struct nea_seed *seed,
                      const struct nea_render_opts *opts, char **ret_xml,
                      size_t *ret_len, struct nea_err *err);

/* Everything at once: seed, ISO and domain XML. */
int nea_render(const struct nea_spec *spec, const struct nea_render_opts *opts,
               struct nea_artifacts *ret, struct nea_err *err);
void nea_artifacts_clear(struct nea_artifacts *a);

#endif

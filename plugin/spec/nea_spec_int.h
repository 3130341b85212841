/*
 * nea_spec_int.h: what the files of plugin/spec share besides the schema
 * helpers (nea_schema.h).  Private to the spec layer.
 */
#ifndef NEA_SPEC_INT_H
#define NEA_SPEC_INT_H

#include <stdbool.h>

#include "nea_model.h"
#include "nea_schema.h"
#include "nea_ytree.h"

/* nea_model.c: the words of the model's enums, indexed by them; what the
 * files accept and what the name functions of nea_model.h return. */
extern const char *const nea_v4_mode_names[NEA_V4_STATIC + 1];
extern const char *const nea_v6_mode_names[NEA_V6_STATIC + 1];
extern const char *const nea_domain_type_names[NEA_DOMTYPE_QEMU + 1];

/* nea_model.c: frees the pool's addresses and the rules of a spec (not
 * the counts: the caller sets new ones or frees the spec). */
void nea_spec_clear_public(struct nea_spec *s);

/* nea_derive.c: fills in the derived MAC and UUID (where the spec gives
 * none) and the hash of a spec that has passed validation. */
void nea_spec_derive(struct nea_spec *s);

/* nea_spec_ip.c: the appliance.ipv4 and appliance.ipv6 blocks (node NULL:
 * the block is absent, the family's default mode).  Return false when the
 * block is there but its mode could not be read, so that "both disabled" is
 * judged only on modes known. */
bool nea_read_ipv4(struct nea_schema *c, const struct nea_ynode *node,
                   struct nea_ipv4 *out);
bool nea_read_ipv6(struct nea_schema *c, const struct nea_ynode *node,
                   struct nea_ipv6 *out);

/* nea_spec_tnet.c: the networks: list (node NULL: none), checked whole
 * against itself, the external subnet and the plan's tenant-networks. */
void nea_read_tnets(struct nea_schema *c, const struct nea_ynode *node,
                    const struct nea_ynode *root, struct nea_spec *s);

#endif

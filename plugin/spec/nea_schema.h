/*
 * nea_schema.h: typed reading of the position-tagged YAML tree, shared by
 * the plan and spec loaders (private to plugin/spec).
 *
 * Every getter checks one node against one rule and, when it fails, adds an
 * error diagnostic naming the file, the node's line and column and the field
 * path, then returns failure; the caller goes on with the next field so that
 * one run reports every problem.  Nothing here knows which fields a plan or
 * a spec has: the loaders say that.
 */
#ifndef NEA_SCHEMA_H
#define NEA_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "nea_err.h"
#include "nea_model.h"
#include "nea_ytree.h"

/* The file being read and where its problems go. */
struct nea_schema {
    const char *file;
    struct nea_diags *d;
};

/* One diagnostic at node n (NULL: the file's position is unknown). */
void nea_err_at(struct nea_schema *c, const struct nea_ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void nea_warn_at(struct nea_schema *c, const struct nea_ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks that node is a mapping whose keys are all in allowed[] and none is
 * repeated; vals[i] receives the value of allowed[i] or NULL.  Returns false
 * when node is not a mapping at all.  path "" is the document. */
bool nea_read_map(struct nea_schema *c, const struct nea_ynode *node, const char *path,
                  const char *const *allowed, size_t n_allowed,
                  const struct nea_ynode **vals);

/* A non-empty string scalar of at most maxlen bytes without control
 * characters, or NULL. */
const char *nea_get_str(struct nea_schema *c, const struct nea_ynode *n,
                        const char *path, size_t maxlen);
/* An unquoted decimal integer in [min, max]. */
bool nea_get_uint(struct nea_schema *c, const struct nea_ynode *n, const char *path,
                  unsigned min, unsigned max, unsigned *ret);
/* An unquoted true or false (YAML 1.2's words, not yes/no/on/off). */
bool nea_get_bool(struct nea_schema *c, const struct nea_ynode *n, const char *path,
                  bool *ret);
/* One of names[]: its index, or -1. */
int nea_get_enum(struct nea_schema *c, const struct nea_ynode *n, const char *path,
                 const char *const *names, size_t n_names);
/* A bare address literal of the family (AF_INET, AF_INET6; 0: either). */
bool nea_get_ip(struct nea_schema *c, const struct nea_ynode *n, const char *path,
                int family, struct nea_ip *ret);

const char *nea_family_name(int family);

/* The names the files may use. */
/* [a-z0-9][a-z0-9-]* up to maxlen: tenants and plan names. */
bool nea_valid_ident(const char *s, size_t maxlen);
/* An RFC 1123 host label, lower case: also a safe libvirt domain name. */
bool nea_valid_hostname(const char *s);
/* A QEMU machine type: q35, pc, pc-q35-7.2, ... */
bool nea_valid_machine(const char *s);
/* A Linux interface name: 1-15 bytes, no '/', ':' or whitespace. */
bool nea_valid_ifname(const char *s);
/* A libvirt object name (networks, pools): no '/', printable, bounded. */
bool nea_valid_libvirt_name(const char *s);
/* "BRIDGE", "ovs:BRIDGE" or "network:NAME" into *out (newly allocated
 * strings); false when ref is none of them. */
bool nea_parse_network_ref(const char *ref, struct nea_network *out);

#endif

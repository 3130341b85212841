/*
 * nea_ytree.h: a YAML document as a small tree with source positions.
 *
 * Built from libyaml's event parser (not its document loader) so that we
 * control the limits: one document, no anchors/aliases, no tags other than
 * the core ones, bounded depth, node count and input size.  Every node keeps
 * its 1-based line and column for error messages.
 */
#ifndef NEA_YTREE_H
#define NEA_YTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "nea_err.h"

enum nea_ynode_type { NEA_Y_SCALAR, NEA_Y_SEQ, NEA_Y_MAP };

struct nea_ynode {
    enum nea_ynode_type type;
    unsigned line, col;
    /* scalar */
    char *value;
    size_t len;
    bool plain;          /* unquoted: only plain scalars are numbers or null */
    /* sequence: items; mapping: keys[i] -> items[i] */
    struct nea_ynode **keys;
    struct nea_ynode **items;
    size_t n, cap;
};

#define NEA_YTREE_MAX_DEPTH 32
#define NEA_YTREE_MAX_NODES 20000

/* Parses buf (len bytes) named `file` in messages.  On a syntax error adds a
 * diagnostic with the position libyaml reports and returns NEA_ERR_INVALID.
 * An empty document gives an empty mapping. */
int nea_ytree_parse(const char *file, const char *buf, size_t len,
                    struct nea_ynode **ret_root, struct nea_diags *diags);
void nea_ynode_free(struct nea_ynode *n);
void nea_ynode_freep(struct nea_ynode **n);

/* A plain scalar that YAML reads as null: "", "~", "null". */
bool nea_ynode_is_null(const struct nea_ynode *n);
const char *nea_ynode_type_name(const struct nea_ynode *n);

#endif

/*
 * nea_iso.h: pack files into an ISO9660 image with Rock Ridge and Joliet
 * through libisofs.  Knows nothing of cloud-init beyond being given a label.
 */
#ifndef NEA_ISO_H
#define NEA_ISO_H

#include <stddef.h>
#include <time.h>

#include "nea_err.h"

struct nea_iso_file {
    const char *name;
    const void *data;
    size_t len;
};

/* Builds the image in memory.  Every timestamp in it (volume descriptors,
 * directory records, Rock Ridge) is `when`, so the same files and time give
 * the same bytes. */
int nea_iso_build(const char *label, const struct nea_iso_file *files, size_t n,
                  time_t when, char **ret_buf, size_t *ret_len, struct nea_err *err);

#endif

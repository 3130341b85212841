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
    const char *name;       /* "NAME" in the root or "DIR/NAME" (one level) */
    const void *data;
    size_t len;
};

/* The times neaprov writes into an ISO 9660 image: 1970-01-01T00:00:00Z
 * (seconds since the epoch, 0 or more) to 9999-12-31T23:59:59Z, as the
 * volume descriptors write the year in four digits.  Past it they would
 * hold "10000..." and worse. */
#define NEA_ISO_TIME_MAX ((time_t)253402300799)

/* NEA_ERR_INVALID, with a sentence, for a time outside that range. */
int nea_iso_check_time(time_t when, struct nea_err *err);

/* Builds the image in memory; refuses a time nea_iso_check_time refuses.
 * Every timestamp in it (volume descriptors, directory records, Rock Ridge)
 * is `when`, so the same files and time give the same bytes. */
int nea_iso_build(const char *label, const struct nea_iso_file *files, size_t n,
                  time_t when, char **ret_buf, size_t *ret_len, struct nea_err *err);

#endif

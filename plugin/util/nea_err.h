/*
 * nea_err.h: status codes, the first-error-wins error record, and the
 * diagnostics list that validation fills.
 *
 * Library code never prints: it returns a status and leaves a whole
 * sentence in a struct nea_err (the first one wins, so the message that
 * reaches the user names the root cause) or, for validation, one nea_diag per
 * problem found.  Only the CLI prints.
 */
#ifndef NEA_ERR_H
#define NEA_ERR_H

#include <stddef.h>

enum nea_status {
    NEA_OK = 0,
    NEA_ERR_NOMEM = -1,
    NEA_ERR_IO = -2,
    NEA_ERR_INVALID = -3,   /* input (spec, plan, template, argument) is wrong */
    NEA_ERR_INTERNAL = -4,
    NEA_ERR_LIBRARY = -5,   /* a library (libxml2, libyaml, libisofs) failed */
    NEA_ERR_BUSY = -6,      /* another process holds the lock */
    NEA_ERR_STATE = -7,     /* the state database failed */
    NEA_ERR_HOST = -8,      /* the libvirt host refused or failed */
    NEA_ERR_TIMEOUT = -9,
    NEA_ERR_CONFLICT = -10, /* a foreign object is in the way */
    NEA_ERR_UNSUPPORTED = -11, /* the host cannot do this (e.g. live update) */
};

#define NEA_ERR_MSG_MAX 1024

struct nea_err {
    int code;
    char msg[NEA_ERR_MSG_MAX];
};

/* Records code and message unless an error is already recorded; returns code
 * (the first recorded code if there was one) so callers can `return
 * nea_err_set(...)`. */
int nea_err_set(struct nea_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void nea_err_clear(struct nea_err *err);

enum nea_severity { NEA_DIAG_ERROR, NEA_DIAG_WARNING };

struct nea_diag {
    enum nea_severity severity;
    char *file;
    unsigned line;      /* 1-based, 0 when unknown */
    unsigned col;       /* 1-based, 0 when unknown */
    char *text;         /* "field.path message" without location */
};

struct nea_diags {
    struct nea_diag *v;
    size_t n, cap;
    size_t n_errors;
    size_t n_total;     /* stored or not */
};

/* Bounded: past this many entries further ones are counted, not stored. */
#define NEA_DIAGS_MAX 200

void nea_diags_add(struct nea_diags *d, enum nea_severity sev, const char *file,
                   unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Orders by file, line and column, keeping insertion order for ties. */
void nea_diags_sort(struct nea_diags *d);
/* "file:line:col: error: text", newly allocated. */
char *nea_diag_format(const struct nea_diag *dg);
void nea_diags_clear(struct nea_diags *d);

#endif

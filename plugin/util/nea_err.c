/*
 * nea_err.c: the error record and the diagnostics list.  No printing here.
 */
#include "nea_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nea_util.h"

int nea_err_set(struct nea_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    if (err->code != NEA_OK)
        return err->code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

void nea_err_clear(struct nea_err *err)
{
    if (!err)
        return;
    err->code = NEA_OK;
    err->msg[0] = '\0';
}

void nea_diags_add(struct nea_diags *d, enum nea_severity sev, const char *file,
                   unsigned line, unsigned col, const char *fmt, ...)
{
    if (sev == NEA_DIAG_ERROR)
        d->n_errors++;
    d->n_total++;
    if (d->n >= NEA_DIAGS_MAX)
        return;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->v = nea_xrealloc(d->v, d->cap * sizeof(*d->v));
    }
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        abort();
    va_end(ap);
    d->v[d->n++] = (struct nea_diag){
        .severity = sev,
        .file = nea_xstrdup(file ? file : "<input>"),
        .line = line,
        .col = col,
        .text = text,
    };
}

void nea_diags_sort(struct nea_diags *d)
{
    /* Insertion sort: stable, and the list is bounded by NEA_DIAGS_MAX. */
    for (size_t i = 1; i < d->n; i++) {
        struct nea_diag cur = d->v[i];
        size_t j = i;
        while (j > 0) {
            struct nea_diag *p = &d->v[j - 1];
            int c = strcmp(p->file, cur.file);
            if (c < 0 || (c == 0 && (p->line < cur.line ||
                                     (p->line == cur.line && p->col <= cur.col))))
                break;
            d->v[j] = *p;
            j--;
        }
        d->v[j] = cur;
    }
}

char *nea_diag_format(const struct nea_diag *dg)
{
    const char *sev = dg->severity == NEA_DIAG_ERROR ? "error" : "warning";
    if (dg->line)
        return nea_xasprintf("%s:%u:%u: %s: %s", dg->file, dg->line, dg->col, sev,
                             dg->text);
    return nea_xasprintf("%s: %s: %s", dg->file, sev, dg->text);
}

void nea_diags_clear(struct nea_diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].text);
    }
    free(d->v);
    *d = (struct nea_diags){0};
}

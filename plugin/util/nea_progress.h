/*
 * nea_progress.h: the progress of a transfer (an image download), as the
 * library reports it and as the CLI shows it.
 *
 * The library (fetch) never prints: it calls a nea_progress_fn with one
 * struct nea_progress per event.  nea_progress_text is the CLI's way of
 * showing them, on the descriptor the CLI hands it: on a terminal one bar
 * rewritten with \r (at most 4 times a second), anything else one line per
 * tenth or per 5 s; notes and the end each on a line of their own, every
 * line starting with what is transferred (the URL as it may be shown).
 */
#ifndef NEA_PROGRESS_H
#define NEA_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum nea_progress_event {
    NEA_PROGRESS_START,   /* an attempt begins; done: the bytes kept from before */
    NEA_PROGRESS_BYTES,   /* bytes arrived */
    NEA_PROGRESS_NOTE,    /* a sentence about the transfer (note) */
    NEA_PROGRESS_DONE,    /* complete: done is the size; note: what was checked */
    NEA_PROGRESS_CACHED,  /* nothing to transfer: note is where it is */
    NEA_PROGRESS_STOPPED, /* the attempt failed; the caller reports why */
};

struct nea_progress {
    enum nea_progress_event event;
    const char *what;       /* the URL as it may be shown */
    uint64_t done;          /* bytes there now, kept ones included */
    uint64_t total;         /* the whole size; 0: not known (yet) */
    uint64_t start;         /* bytes there when this attempt began */
    double rate;            /* bytes/s of this attempt; 0: not known */
    double elapsed_s;       /* since this attempt began */
    const char *note;       /* NOTE, DONE, CACHED; else NULL */
};

typedef void nea_progress_fn(void *data, const struct nea_progress *p);

/* "512 B", "1.5 KiB", "4.0 MiB", ... */
void nea_fmt_bytes(char *buf, size_t n, double v);

/* The text form: a nea_progress_fn whose data is a struct
 * nea_progress_text set up by nea_progress_text_init. */
struct nea_progress_text {
    int fd;
    bool tty;
    bool bar_shown;         /* the cursor is at the end of a bar */
    double last;            /* when the bar or a line was last written */
    int decile;             /* the last tenth a line was written for */
};

void nea_progress_text_init(struct nea_progress_text *t, int fd);
void nea_progress_text(void *data, const struct nea_progress *p);

#endif

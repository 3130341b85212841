/*
 * nea_fetch.h: appliance images by URL, through libcurl, into a local
 * content-addressed cache.
 *
 * An image is named by its SHA-256, not by its URL: it lands in
 * CACHE/sha256-HEX, and only ever after the whole file was hashed and
 * matched.  A file of that name is therefore trusted without hashing it again
 * (see docs/images.md for why).  Partial downloads are kept in
 * CACHE/sha256-HEX.part and resumed; CACHE/sha256-HEX.lock serialises
 * processes and threads fetching the same image.
 *
 * Library code: nothing is printed.  Progress goes to the caller's callback
 * (nea_progress.h), which may show it (the CLI: nea_progress_text).  Only
 * util headers may be included here.
 */
#ifndef NEA_FETCH_H
#define NEA_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "nea_err.h"
#include "nea_progress.h"

/* The largest image fetched when nea_fetch_opts.max_bytes is 0: 64 GiB. */
#define NEA_FETCH_DEFAULT_MAX_BYTES (UINT64_C(64) << 30)

struct nea_fetch_opts {
    const char *cache_dir;      /* required; created (0755) if missing */
    const char *ca_file;        /* NULL: the system CAs; else only this PEM
                                 * bundle is trusted.  TLS verification is
                                 * never turned off. */
    unsigned connect_timeout_s; /* 0: 30 */
    unsigned stall_timeout_s;   /* abort after this long below 1 byte/s; 0: 60 */
    unsigned max_redirects;     /* 0: 5 */
    /* Told of every step of a download (NULL: nobody asked): an attempt
     * starting, bytes arriving (total and rate), notes (resuming, starting
     * again), the verified end, a cache hit.  Called from the thread that
     * called nea_fetch_image, never after it returned. */
    nea_progress_fn *progress;
    void *progress_data;
    uint64_t max_bytes;         /* the largest image accepted, a resumed
                                 * .part's bytes included; 0:
                                 * NEA_FETCH_DEFAULT_MAX_BYTES */
};

/* True when s looks like a URL ("scheme://...", any RFC 3986 scheme), so
 * that a caller can tell an image URL from a local path.  Whether the scheme
 * is allowed is nea_fetch_image's business: it takes http, https and file
 * only, so "ftp://..." is refused with a sentence instead of being read as a
 * file name. */
bool nea_fetch_is_url(const char *s);

/* Makes the image at url, whose SHA-256 is sha256 (64 lowercase hex digits),
 * available in o->cache_dir and sets *ret_path (malloc'd) to the verified
 * file.  A cached file is returned without touching the network.
 *
 * Errors (a sentence in err, URLs without user:password@):
 *   NEA_ERR_INVALID  bad URL (also one whose user info libcurl would read
 *                    otherwise than meant: nea_url_problem), refused scheme,
 *                    bad sha256 or options; the downloaded file does not have
 *                    the expected sha256 (the message names the URL and both
 *                    sums; nothing is kept); the image is larger than
 *                    max_bytes, announced or as it arrives (the message names
 *                    the URL, the size and the limit; the .part is removed)
 *   NEA_ERR_HOST     the server cannot be reached or refused (HTTP status,
 *                    TLS verification, too many redirects, cut connection:
 *                    the part already received is kept and resumed next time)
 *   NEA_ERR_TIMEOUT  no connection within connect_timeout_s, or a stall
 *   NEA_ERR_IO       the cache, the CA file or a file:// source
 *   NEA_ERR_LIBRARY  libcurl could not be initialised */
int nea_fetch_image(const char *url, const char *sha256, const struct nea_fetch_opts *o,
                    char **ret_path, struct nea_err *err);

#endif

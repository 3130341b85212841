/*
 * nea_fetch.c: download an image by URL into the content-addressed cache,
 * through libcurl.
 *
 * The cache holds CACHE/sha256-HEX (verified, 0644), CACHE/sha256-HEX.part
 * (a download in progress or cut short, resumed with a Range request) and
 * CACHE/sha256-HEX.lock (flock'ed for the whole download, never removed:
 * removing a lock file lets a third process lock a fresh inode while the
 * second still holds the old one).  The final name is only ever created by
 * renaming a .part whose SHA-256 matched, so a file of that name is trusted.
 * The hash is computed as the bytes are written (after hashing what a resumed
 * .part already held), not by reading the file again afterwards.  No image
 * grows past max_bytes: a larger Content-Length is refused before the body
 * (CURLOPT_MAXFILESIZE_LARGE, and the write callback for a resume), and a
 * body without one (chunked) is cut off once the .part would pass it.
 *
 * It prints nothing: progress goes to the caller's callback (nea_progress.h),
 * and no message or progress event ever shows the user:password@ part of a
 * URL.
 */
#include "nea_fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nea_lock.h"
#include "nea_progress.h"
#include "nea_sha256.h"
#include "nea_util.h"

#define DEFAULT_CONNECT_S 30
#define DEFAULT_STALL_S 60
#define DEFAULT_REDIRECTS 5

/* curl_global_init is not thread-safe, and curl_easy_init would call it
 * lazily from whichever thread comes first: do it once, here.  It is never
 * undone (curl_global_cleanup is process-wide, like iso_finish). */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

NEA_DEFINE_CLEANUP(CURL *, curl_easy_cleanup)

bool nea_fetch_is_url(const char *s)
{
    /* RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://" */
    if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    const char *p = s + 1;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
           (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')
        p++;
    return strncmp(p, "://", 3) == 0;
}

static bool scheme_is(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncasecmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}


static bool valid_sha256(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == NEA_SHA256_HEX_LEN;
}

/* mkdir -p; the directories it creates get 0755 whatever the umask. */
static int make_dirs(const char *dir, struct nea_err *err)
{
    NEA_AUTOFREE char *p = nea_xstrdup(dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) == 0) {
            if (chmod(p, 0755) < 0)
                return nea_err_set(err, NEA_ERR_IO, "%s: cannot set mode: %s", p,
                                   strerror(errno));
        } else if (errno != EEXIST) {
            return nea_err_set(err, NEA_ERR_IO, "image cache %s: cannot create %s: %s",
                               dir, p, strerror(errno));
        }
        *s = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return nea_err_set(err, NEA_ERR_IO, "image cache %s is not a directory", dir);
    /* whoever can write the cache decides what the appliances boot: the
     * owner (this user or root), and at most this user's own group (a
     * umask of 002 with user private groups) */
    bool group_ok = !(st.st_mode & 020) || st.st_gid == getegid();
    if ((st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & 002) || !group_ok)
        return nea_err_set(err, NEA_ERR_IO, "image cache %s is owned by uid %u or writable "
                           "by others (mode %04o); it must belong to this user (or root) "
                           "and be writable by no one else", dir, (unsigned)st.st_uid,
                           (unsigned)(st.st_mode & 07777));
    return NEA_OK;
}

/* 1: a regular file is there, 0: nothing is, <0: an error. */
static int cached(const char *path, struct nea_err *err)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) /* a symbolic link is not trusted either */
            return nea_err_set(err, NEA_ERR_IO, "%s: is in the image cache but is not "
                               "a regular file", path);
        return 1;
    }
    if (errno == ENOENT)
        return 0;
    return nea_err_set(err, NEA_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
}

/* Why an image is over the cap (refuse_too_big). */
enum too_big { TOO_BIG_NO, TOO_BIG_ANNOUNCED, TOO_BIG_GREW, TOO_BIG_KEPT };

/* ---- progress ---------------------------------------------------------- */

struct xfer {
    CURL *curl;
    int fd;                 /* the .part */
    const char *part;
    int write_errno;
    /* the SHA-256 of the .part's bytes [0, hashed): every byte written goes
     * through it, and every truncation starts it again */
    struct nea_sha256 sha;
    off_t hashed;
    bool restarted;         /* a 200 to a Range request: started again at 0 */
    bool got_body;
    /* the size cap: the .part never grows past it */
    uint64_t cap;
    enum too_big too_big;   /* why the write callback refused, if it did */
    uint64_t too_big_at;    /* the announced total, or the bytes it would reach */
    /* stall: no new byte for stall_s (libcurl's low-speed check averages over
     * a window of several seconds, so alone it fires late) */
    unsigned stall_s;
    curl_off_t seen;
    double seen_at;
    bool stalled;
    /* progress, told to the caller's callback (NULL: nobody asked) */
    nea_progress_fn *progress;
    void *progress_data;
    const char *shown;      /* the URL, redacted */
    curl_off_t base;        /* bytes in the .part when this attempt began */
    curl_off_t now;         /* bytes in the .part now */
    curl_off_t total;       /* 0: unknown */
    double t0;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One event to the caller, with the numbers of this attempt. */
static void tell(struct xfer *x, enum nea_progress_event ev, const char *note)
{
    if (!x->progress)
        return;
    double el = mono_s() - x->t0;
    struct nea_progress p = {
        .event = ev,
        .what = x->shown,
        .done = (uint64_t)x->now,
        .total = (uint64_t)x->total,
        .start = (uint64_t)x->base,
        .rate = el > 0.001 ? (double)(x->now - x->base) / el : 0,
        .elapsed_s = el,
        .note = note,
    };
    x->progress(x->progress_data, &p);
}

__attribute__((format(printf, 2, 3))) static void note(struct xfer *x, const char *fmt, ...)
{
    if (!x->progress)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    tell(x, NEA_PROGRESS_NOTE, line);
}

static int xferinfo_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)ultotal;
    (void)ulnow;
    struct xfer *x = ud;
    double t = mono_s();
    curl_off_t connect_us = 0;
    curl_easy_getinfo(x->curl, CURLINFO_CONNECT_TIME_T, &connect_us);
    if (dlnow != x->seen || connect_us == 0) {
        x->seen = dlnow; /* connecting is the connect timeout's business */
        x->seen_at = t;
    } else if (t - x->seen_at >= x->stall_s) {
        x->stalled = true;
        return 1; /* CURLE_ABORTED_BY_CALLBACK */
    }
    if (!x->progress || (!x->got_body && dlnow == 0))
        return 0;
    x->now = x->base + dlnow;
    if (dltotal > 0 && x->total == 0)
        x->total = x->base + dltotal;
    tell(x, NEA_PROGRESS_BYTES, NULL);
    return 0;
}

/* ---- the transfer ------------------------------------------------------ */

static size_t write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * nmemb;
    if (!x->got_body) {
        x->got_body = true;
        long code = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
        /* libcurl itself refuses a 200 to a Range request (CURLE_RANGE_ERROR);
         * should a version not, the body is the whole file: start again. */
        if (x->base > 0 && code == 200) {
            if (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0) {
                x->write_errno = errno;
                return 0;
            }
            x->base = 0;
            x->total = 0;
            x->restarted = true;
            nea_sha256_init(&x->sha);
            x->hashed = 0;
        }
        /* libcurl compares the Content-Length alone with the cap; a resumed
         * .part adds its bytes (a 206 announces only the rest) */
        curl_off_t cl = -1;
        curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        if (cl >= 0 && (uint64_t)x->base + (uint64_t)cl > x->cap) {
            x->too_big = TOO_BIG_ANNOUNCED;
            x->too_big_at = (uint64_t)x->base + (uint64_t)cl;
            return 0; /* CURLE_WRITE_ERROR, nothing written */
        }
    }
    /* a body without a length (chunked, or up to the close) */
    if ((uint64_t)x->hashed + len > x->cap) {
        x->too_big = TOO_BIG_GREW;
        x->too_big_at = (uint64_t)x->hashed + len;
        return 0;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(x->fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            x->write_errno = errno;
            return 0; /* libcurl ends the transfer with CURLE_WRITE_ERROR */
        }
        nea_sha256_update(&x->sha, p, (size_t)n);
        x->hashed += n;
        p += n;
        left -= (size_t)n;
    }
    return len;
}

struct eff_opts {
    unsigned connect_s, stall_s, redirects;
    const char *ca_file;
    uint64_t max_bytes;
};

static int setup(CURL *c, const char *url, const struct eff_opts *eo, struct xfer *x,
                 char *errbuf)
{
    CURLcode r = CURLE_OK;
#define SET(opt, val)                                                                   \
    do {                                                                                \
        if (r == CURLE_OK)                                                              \
            r = curl_easy_setopt(c, opt, val);                                          \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https,file");
    /* Never file:// after a redirect (a server must not make us read local
     * files), and never back from https to http. */
    SET(CURLOPT_REDIR_PROTOCOLS_STR, scheme_is(url, "https") ? "https" : "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 1L);
    SET(CURLOPT_MAXREDIRS, (long)eo->redirects);
    SET(CURLOPT_FAILONERROR, 1L);
    SET(CURLOPT_CONNECTTIMEOUT, (long)eo->connect_s);
    SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    SET(CURLOPT_LOW_SPEED_TIME, (long)eo->stall_s);
    SET(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for resolver timeouts */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (eo->ca_file) {
        SET(CURLOPT_CAINFO, eo->ca_file);
        SET(CURLOPT_CAPATH, (char *)NULL); /* only this bundle, not also the system's */
    }
    SET(CURLOPT_USERAGENT, "neaprov");
    /* a larger Content-Length is refused before any byte of the body
     * (CURLE_FILESIZE_EXCEEDED); write_cb checks what arrives */
    SET(CURLOPT_MAXFILESIZE_LARGE,
        (curl_off_t)(eo->max_bytes > INT64_MAX ? INT64_MAX : eo->max_bytes));
    SET(CURLOPT_WRITEFUNCTION, write_cb);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
    SET(CURLOPT_XFERINFODATA, x);
    SET(CURLOPT_NOPROGRESS, 0L);
#undef SET
    return r == CURLE_OK ? 0 : -1;
}

/* One sentence for a failed transfer; the .part (if any) stays for a resume. */
static int transfer_failed(CURL *c, CURLcode rc, const char *url, const char *shown,
                           const struct eff_opts *eo, const struct xfer *x,
                           const char *errbuf, struct nea_err *err)
{
    NEA_AUTOFREE char *cred = nea_url_userinfo(url);
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (cred && strstr(detail, cred))
        detail = curl_easy_strerror(rc);

    long redirects = 0;
    char *eff = NULL; /* owned by the handle */
    curl_easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &redirects);
    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
    NEA_AUTOFREE char *where = NULL;
    if (redirects > 0 && eff) {
        NEA_AUTOFREE char *e = nea_url_redact(eff);
        where = nea_xasprintf("%s (redirected to %s)", shown, e);
    } else {
        where = nea_xstrdup(shown);
    }
    char kept[96] = "";
    if (x->now > 0) {
        char b[32];
        nea_fmt_bytes(b, sizeof(b), (double)x->now);
        snprintf(kept, sizeof(kept), "; the %s received are kept and the next fetch "
                 "resumes", b);
    }

    long code = 0;
    curl_off_t connect_us = 0;
    if (rc == CURLE_ABORTED_BY_CALLBACK && x->stalled)
        rc = CURLE_OPERATION_TIMEDOUT;
    switch (rc) {
    case CURLE_HTTP_RETURNED_ERROR:
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        return nea_err_set(err, NEA_ERR_HOST, "cannot fetch %s: the server answered HTTP "
                           "%ld", where, code);
    case CURLE_OPERATION_TIMEDOUT:
        curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
        if (connect_us == 0)
            return nea_err_set(err, NEA_ERR_TIMEOUT, "cannot fetch %s: no connection "
                               "within %u s", where, eo->connect_s);
        return nea_err_set(err, NEA_ERR_TIMEOUT, "cannot fetch %s: the transfer "
                           "stalled (less than 1 byte/s for %u s)%s", where, eo->stall_s,
                           kept);
    case CURLE_TOO_MANY_REDIRECTS:
        return nea_err_set(err, NEA_ERR_HOST, "cannot fetch %s: more than %u redirects",
                           shown, eo->redirects);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return nea_err_set(err, NEA_ERR_HOST, "cannot fetch %s: redirected to a refused "
                           "scheme (only %s): %s", where,
                           scheme_is(url, "https") ? "https" : "http and https", detail);
    case CURLE_URL_MALFORMAT:
        return nea_err_set(err, NEA_ERR_INVALID, "cannot fetch %s: not a valid URL: %s",
                           shown, detail);
    case CURLE_SSL_CACERT_BADFILE:
        return nea_err_set(err, NEA_ERR_IO, "cannot fetch %s: cannot use the CA file %s: "
                           "%s", where, eo->ca_file ? eo->ca_file : "(system)", detail);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
        return nea_err_set(err, NEA_ERR_HOST, "cannot fetch %s: TLS: %s", where, detail);
    case CURLE_WRITE_ERROR:
        if (x->write_errno)
            return nea_err_set(err, NEA_ERR_IO, "%s: cannot write: %s", x->part,
                               strerror(x->write_errno));
        break;
    case CURLE_FILE_COULDNT_READ_FILE:
    case CURLE_READ_ERROR:
        return nea_err_set(err, NEA_ERR_IO, "cannot fetch %s: %s", where, detail);
    default:
        break;
    }
    return nea_err_set(err, NEA_ERR_HOST, "cannot fetch %s: %s%s", where, detail, kept);
}

/* The Content-Length of the last response, or -1: libcurl refuses one larger
 * than CURLOPT_MAXFILESIZE_LARGE before it records it as the download's size,
 * so it is read from the headers themselves. */
static curl_off_t announced_length(CURL *c)
{
    struct curl_header *h = NULL;
    if (curl_easy_header(c, "Content-Length", 0, CURLH_HEADER, -1, &h) != CURLHE_OK ||
        !h || !h->value)
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(h->value, &end, 10);
    if (errno || end == h->value || v > INT64_MAX)
        return -1;
    return (curl_off_t)v;
}

/* An image over the cap: the .part goes (it can never be completed), and
 * the sentence names the URL, the size (0: unknown) and the cap. */
static int refuse_too_big(const char *part, const char *shown, enum too_big why,
                          uint64_t size, uint64_t cap, struct nea_err *err)
{
    unlink(part);
    char sz[32], cp[32];
    nea_fmt_bytes(sz, sizeof(sz), (double)size);
    nea_fmt_bytes(cp, sizeof(cp), (double)cap);
    switch (why) {
    case TOO_BIG_KEPT:
        return nea_err_set(err, NEA_ERR_INVALID, "%s: the partial download %s holds %"
                           PRIu64 " bytes (%s), more than the image size limit of %" PRIu64
                           " bytes (%s); it was discarded", shown, part, size, sz, cap, cp);
    case TOO_BIG_GREW:
        return nea_err_set(err, NEA_ERR_INVALID, "%s: the download, sent without a "
                           "length, grew past the image size limit of %" PRIu64 " bytes "
                           "(%s) at %" PRIu64 " bytes received; it was stopped and discarded",
                           shown, cap, cp, size);
    case TOO_BIG_ANNOUNCED:
    case TOO_BIG_NO:
        break;
    }
    /* announced: a Content-Length (with a resumed .part's bytes), or the size
     * of a file:// source */
    if (size == 0) /* the header could not be read back */
        return nea_err_set(err, NEA_ERR_INVALID, "%s: the announced size of the image is "
                           "more than the image size limit of %" PRIu64 " bytes (%s); it "
                           "was not downloaded", shown, cap, cp);
    return nea_err_set(err, NEA_ERR_INVALID, "%s: the announced size of the image, %"
                       PRIu64 " bytes (%s), is more than the image size limit of %" PRIu64
                       " bytes (%s); it was not downloaded", shown, size, sz, cap, cp);
}

/* Starts x->sha again with the .part's first len bytes (what a resume appends
 * to); the same error as nea_sha256_fd's. */
static int hash_kept(struct xfer *x, off_t len, struct nea_err *err)
{
    nea_sha256_init(&x->sha);
    /* an early end cannot happen under the lock; download() checks hashed */
    return nea_sha256_update_fd(&x->sha, x->fd, len, x->part, &x->hashed, err);
}

static int start_over(int fd, const char *part, struct nea_err *err)
{
    if (ftruncate(fd, 0) < 0)
        return nea_err_set(err, NEA_ERR_IO, "%s: cannot truncate: %s", part,
                           strerror(errno));
    return NEA_OK;
}

/* The attempts of one download into x->part (resuming what is there) until
 * its sha256 matches; the .part is then complete, and x->now its size. */
static int attempts(struct xfer *x, const char *url, const char *sha256,
                    const struct eff_opts *eo, char *errbuf, struct nea_err *err)
{
    CURL *c = x->curl;
    int fd = x->fd;
    const char *part = x->part, *shown = x->shown;
    char got[NEA_SHA256_HEX_LEN + 1];
    for (int attempt = 0;; attempt++) {
        struct stat st;
        if (fstat(fd, &st) < 0 || lseek(fd, st.st_size, SEEK_SET) < 0)
            return nea_err_set(err, NEA_ERR_IO, "%s: cannot stat: %s", part,
                               strerror(errno));
        curl_off_t off = st.st_size;
        /* kept from a run with a larger cap, say: it cannot become an image */
        if ((uint64_t)off > eo->max_bytes)
            return refuse_too_big(part, shown, TOO_BIG_KEPT, (uint64_t)off, eo->max_bytes,
                                  err);
        int r = hash_kept(x, st.st_size, err);
        if (r < 0)
            return r;
        x->base = x->now = off;
        x->total = 0;
        x->got_body = x->restarted = false;
        x->too_big = TOO_BIG_NO;
        x->too_big_at = 0;
        x->write_errno = 0;
        x->stalled = false;
        x->seen = 0;
        x->t0 = x->seen_at = mono_s();
        tell(x, NEA_PROGRESS_START, NULL);
        if (off > 0) {
            char b[32];
            nea_fmt_bytes(b, sizeof(b), (double)off);
            note(x, "resuming at %s", b);
        }
        errbuf[0] = '\0';
        curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, off);
        CURLcode rc = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (rc == CURLE_HTTP_RETURNED_ERROR && code == 416 && off > 0)
            rc = CURLE_OK; /* nothing past our end: complete, or longer; the hash tells */
        if (x->restarted)
            note(x, "the server ignored the range request; the download started again "
                    "from the beginning");
        if ((rc == CURLE_RANGE_ERROR || rc == CURLE_BAD_DOWNLOAD_RESUME) && off > 0 &&
            attempt == 0) {
            note(x, "the server cannot resume; starting again from the beginning");
            r = start_over(fd, part, err);
            if (r < 0)
                return r;
            continue;
        }
        if (rc == CURLE_FILESIZE_EXCEEDED || (rc == CURLE_WRITE_ERROR && x->too_big)) {
            if (rc == CURLE_FILESIZE_EXCEEDED) {
                /* libcurl checks the Content-Length alone; a 206's is the rest */
                curl_off_t cl = announced_length(c);
                x->too_big = TOO_BIG_ANNOUNCED;
                x->too_big_at = cl < 0 ? 0 : (uint64_t)cl + (code == 206 ? (uint64_t)off : 0);
            }
            return refuse_too_big(part, shown, x->too_big, x->too_big_at, eo->max_bytes,
                                  err);
        }
        if (rc != CURLE_OK) {
            if (fstat(fd, &st) == 0 && st.st_size == 0)
                unlink(part); /* nothing worth resuming */
            x->now = st.st_size;
            return transfer_failed(c, rc, url, shown, eo, x, errbuf, err);
        }
        /* x->sha holds what was kept and all that was written since (a 416
         * wrote nothing: the .part as it is).  Should the file not be exactly
         * those bytes, hash it again rather than trust the sum. */
        if (fstat(fd, &st) == 0 && st.st_size == x->hashed) {
            uint8_t sum[NEA_SHA256_LEN];
            nea_sha256_final(&x->sha, sum);
            nea_hex(sum, sizeof(sum), got);
        } else {
            r = nea_sha256_fd(fd, part, got, err);
            if (r < 0)
                return r;
        }
        if (strcmp(got, sha256) == 0) {
            x->now = st.st_size;
            return NEA_OK;
        }
        if (off > 0 && attempt == 0) {
            /* what was kept may be of another file (the one at the URL changed,
             * or a 416 because the .part is longer): once more from zero */
            note(x, "the resumed download does not match its sha256; starting again "
                    "from the beginning");
            r = start_over(fd, part, err);
            if (r < 0)
                return r;
            continue;
        }
        unlink(part);
        return nea_err_set(err, NEA_ERR_INVALID, "%s: the downloaded image has sha256 %s, "
                           "expected %s; the download was discarded", shown, got, sha256);
    }
}

/* Downloads into part (resuming what is there) until its sha256 matches,
 * then renames it to final.  Called with the image's lock held. */
static int download(const char *url, const char *shown, const char *sha256,
                    const struct nea_fetch_opts *o, nea_progress_fn *progress,
                    void *progress_data, const char *part, const char *final,
                    struct nea_err *err)
{
    struct eff_opts eo = {
        .connect_s = o->connect_timeout_s ? o->connect_timeout_s : DEFAULT_CONNECT_S,
        .stall_s = o->stall_timeout_s ? o->stall_timeout_s : DEFAULT_STALL_S,
        .redirects = o->max_redirects ? o->max_redirects : DEFAULT_REDIRECTS,
        .ca_file = o->ca_file,
        .max_bytes = o->max_bytes ? o->max_bytes : NEA_FETCH_DEFAULT_MAX_BYTES,
    };
    NEA_AUTO(nea_closep) int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return nea_err_set(err, NEA_ERR_IO, "%s: cannot open: %s", part, strerror(errno));
    NEA_AUTO(curl_easy_cleanupp) CURL *c = curl_easy_init();
    if (!c)
        return nea_err_set(err, NEA_ERR_LIBRARY, "libcurl: cannot create a handle");
    char errbuf[CURL_ERROR_SIZE];
    struct xfer x = {
        .curl = c,
        .fd = fd,
        .part = part,
        .progress = progress,
        .progress_data = progress_data,
        .shown = shown,
        .stall_s = eo.stall_s,
        .cap = eo.max_bytes,
    };
    if (setup(c, url, &eo, &x, errbuf) < 0)
        return nea_err_set(err, NEA_ERR_LIBRARY, "libcurl: cannot set the options for "
                           "%s", shown);
    int rc = attempts(&x, url, sha256, &eo, errbuf, err);
    if (rc == NEA_OK && fchmod(fd, 0644) < 0)
        rc = nea_err_set(err, NEA_ERR_IO, "%s: cannot set mode: %s", part,
                         strerror(errno));
    if (rc == NEA_OK && fsync(fd) < 0)
        rc = nea_err_set(err, NEA_ERR_IO, "%s: cannot sync: %s", part, strerror(errno));
    if (rc < 0) {
        tell(&x, NEA_PROGRESS_STOPPED, NULL);
        return rc;
    }
    x.total = x.now;
    tell(&x, NEA_PROGRESS_DONE, "sha256 verified");
    if (rename(part, final) < 0)
        return nea_err_set(err, NEA_ERR_IO, "%s: cannot rename into place: %s", final,
                           strerror(errno));
    const char *dir = o->cache_dir;
    NEA_AUTO(nea_closep) int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0)
        return nea_err_set(err, NEA_ERR_IO, "%s: cannot sync the directory: %s", dir,
                           strerror(errno));
    return NEA_OK;
}

int nea_fetch_image(const char *url, const char *sha256, const struct nea_fetch_opts *o,
                    char **ret_path, struct nea_err *err)
{
    if (!url || !*url)
        return nea_err_set(err, NEA_ERR_INVALID, "the image URL is empty");
    NEA_AUTOFREE char *shown = nea_url_redact(url);
    if (!nea_fetch_is_url(url))
        return nea_err_set(err, NEA_ERR_INVALID, "%s: not an image URL: expected "
                           "http://, https:// or file://", shown);
    if (!scheme_is(url, "http") && !scheme_is(url, "https") && !scheme_is(url, "file"))
        return nea_err_set(err, NEA_ERR_INVALID, "%s: scheme %.*s is not allowed for "
                           "images (only http, https and file)", shown,
                           (int)strcspn(url, ":"), url);
    /* libcurl would fetch it as something else than meant, and show it so */
    NEA_AUTOFREE char *why = nea_url_problem(url);
    if (why)
        return nea_err_set(err, NEA_ERR_INVALID, "the image URL %s", why);
    if (!sha256 || !*sha256)
        return nea_err_set(err, NEA_ERR_INVALID, "%s: the image's sha256 is missing; it "
                           "is required to fetch by URL", shown);
    if (!valid_sha256(sha256))
        return nea_err_set(err, NEA_ERR_INVALID, "%s: image sha256 '%.80s' is not 64 "
                           "lowercase hex digits", shown, sha256);
    if (!o || !o->cache_dir || !*o->cache_dir)
        return nea_err_set(err, NEA_ERR_INVALID, "%s: no image cache directory given",
                           shown);

    nea_progress_fn *progress = o->progress;
    void *progress_data = o->progress_data;

    int rc = make_dirs(o->cache_dir, err);
    if (rc < 0)
        return rc;
    NEA_AUTOFREE char *final = nea_xasprintf("%s/sha256-%s", o->cache_dir, sha256);
    NEA_AUTOFREE char *part = nea_xasprintf("%s.part", final);
    NEA_AUTOFREE char *lockp = nea_xasprintf("%s.lock", final);

    rc = cached(final, err);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        /* Blocks while another process or thread fetches the same image; that
         * one ends by itself (stall and connect timeouts). */
        NEA_AUTO(nea_closep) int lfd = -1;
        rc = nea_lock_take(lockp, NEA_LOCK_WAIT_FOREVER, NULL, NULL, &lfd, err);
        if (rc < 0)
            return rc;
        rc = cached(final, err); /* the one we waited for may have fetched it */
        if (rc < 0)
            return rc;
        if (rc == 0) {
            pthread_once(&curl_once, curl_init);
            if (curl_init_rc != CURLE_OK)
                return nea_err_set(err, NEA_ERR_LIBRARY, "libcurl: cannot initialise: "
                                   "%s", curl_easy_strerror(curl_init_rc));
            rc = download(url, shown, sha256, o, progress, progress_data, part, final,
                          err);
            if (rc < 0)
                return rc;
            *ret_path = TAKE_PTR(final);
            return NEA_OK;
        }
    }
    if (progress)
        progress(progress_data, &(struct nea_progress){.event = NEA_PROGRESS_CACHED,
                                                        .what = shown, .note = final});
    *ret_path = TAKE_PTR(final);
    return NEA_OK;
}

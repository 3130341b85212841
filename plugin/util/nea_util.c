/*
 * nea_util.c: allocation, whole-file I/O with size caps, atomic writes, and
 * URLs as they may be shown (parsed by libcurl's URL API, never by hand).
 */
#include "nea_util.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void nea_freep(void *p)
{
    free(*(void **)p);
}

const char *nea_enum_name(const char *const *names, size_t n, int v)
{
    return v >= 0 && (size_t)v < n ? names[v] : "?";
}

int nea_enum_parse(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(s, names[i]))
            return (int)i;
    return -1;
}

void *nea_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

void *nea_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort();
    return p;
}

void *nea_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

char *nea_xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

char *nea_xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        abort();
    return p;
}

char *nea_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

int nea_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int nea_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len,
                  struct nea_err *err)
{
    NEA_AUTO(nea_fclosep) FILE *f = fopen(path, "rb");
    if (!f)
        return nea_err_set(err, NEA_ERR_IO, "%s: cannot open: %s", path,
                           strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
        return nea_err_set(err, NEA_ERR_IO, "%s: is a directory, expected a file",
                           path);
    size_t cap = 4096, len = 0;
    NEA_AUTOFREE char *buf = nea_xmalloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap > max)
                break;
            cap *= 2;
            buf = nea_xrealloc(buf, cap + 1);
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f))
                return nea_err_set(err, NEA_ERR_IO, "%s: cannot read: %s", path,
                                   strerror(errno));
            break;
        }
        if (len > max)
            break;
    }
    if (len > max)
        return nea_err_set(err, NEA_ERR_INVALID,
                           "%s: file is larger than the limit of %zu bytes", path,
                           max);
    buf[len] = '\0';
    *ret_len = len;
    *ret_buf = TAKE_PTR(buf);
    return NEA_OK;
}

int nea_write_file(const char *path, const void *buf, size_t len, unsigned mode,
                   struct nea_err *err)
{
    NEA_AUTOFREE char *tmp = nea_xasprintf("%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return nea_err_set(err, NEA_ERR_IO, "%s: cannot create: %s", path,
                           strerror(errno));
    const char *p = buf;
    size_t left = len;
    int rc = NEA_OK;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = nea_err_set(err, NEA_ERR_IO, "%s: cannot write: %s", path,
                             strerror(errno));
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (rc == NEA_OK && fchmod(fd, mode) < 0)
        rc = nea_err_set(err, NEA_ERR_IO, "%s: cannot set mode: %s", path,
                         strerror(errno));
    if (rc == NEA_OK && fsync(fd) < 0)
        rc = nea_err_set(err, NEA_ERR_IO, "%s: cannot sync: %s", path,
                         strerror(errno));
    if (close(fd) < 0 && rc == NEA_OK)
        rc = nea_err_set(err, NEA_ERR_IO, "%s: cannot close: %s", path,
                         strerror(errno));
    if (rc == NEA_OK && rename(tmp, path) < 0)
        rc = nea_err_set(err, NEA_ERR_IO, "%s: cannot rename into place: %s", path,
                         strerror(errno));
    if (rc != NEA_OK)
        unlink(tmp);
    return rc;
}

int nea_mkdir_p(const char *dir, unsigned mode)
{
    NEA_AUTOFREE char *p = nea_xstrdup(dir);
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
            return -1;
        *q = '/';
    }
    return mkdir(p, (mode_t)mode) < 0 && errno != EEXIST ? -1 : 0;
}

/* ---- URLs, through libcurl's URL API ------------------------------------
 *
 * Never split by hand: libcurl is what fetches the URL, so its reading of
 * where the user info ends is the one that matters.  A user who types a
 * password with a raw '/', '?' or '#' gets a URL that libcurl reads
 * differently from what was meant (https://u:a/b@h/p is host "u", port "a",
 * refused; https://user:p@ss#x/y@host/p is host "ss" with fragment
 * "x/y@host/p").  The intended user info always ends at an '@'; so when the
 * URL holds an '@' that libcurl did not take as the end of its user info,
 * part of what was meant as user info may sit in the host, port or path, and
 * none of the URL is shown.  file:// URLs carry no user info (libcurl refuses
 * it there): an '@' in them is part of the path. */

#define URL_FLAGS (CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS)
#define URL_UNPARSABLE "(unparsable URL)"
#define URL_AMBIGUOUS "(URL with ambiguous user info)"

NEA_DEFINE_CLEANUP_NAMED(url_cleanupp, CURLU *, curl_url_cleanup)
NEA_DEFINE_CLEANUP_NAMED(curl_freep, char *, curl_free)

/* One part of u (as written, not decoded), or NULL when the URL has none. */
static char *url_part(CURLU *u, CURLUPart what)
{
    char *s = NULL;
    CURLUcode rc = curl_url_get(u, what, &s, 0);
    if (rc == CURLUE_OUT_OF_MEMORY)
        abort();
    if (rc != CURLUE_OK) {
        curl_free(s);
        return NULL;
    }
    return s;
}

enum url_verdict { URL_OK, URL_BAD, URL_AMBIG };

/* Parses url into *ret_u (URL_OK only) and says whether it may be shown. */
static enum url_verdict url_parse(const char *url, CURLU **ret_u, CURLUcode *ret_rc)
{
    NEA_AUTO(url_cleanupp) CURLU *u = curl_url();
    if (!u)
        abort();
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, url, URL_FLAGS);
    if (rc == CURLUE_OUT_OF_MEMORY)
        abort();
    if (ret_rc)
        *ret_rc = rc;
    if (rc != CURLUE_OK)
        return URL_BAD;
    NEA_AUTO(curl_freep) char *scheme = url_part(u, CURLUPART_SCHEME);
    NEA_AUTO(curl_freep) char *user = url_part(u, CURLUPART_USER);
    NEA_AUTO(curl_freep) char *password = url_part(u, CURLUPART_PASSWORD);
    NEA_AUTO(curl_freep) char *options = url_part(u, CURLUPART_OPTIONS);
    size_t ats = 0;
    for (const char *p = strchr(url, '@'); p; p = strchr(p + 1, '@'))
        ats++;
    bool userinfo = user || password || options;
    if (!(scheme && !strcmp(scheme, "file")) && ats != (userinfo ? 1u : 0u))
        return URL_AMBIG;
    *ret_u = TAKE_PTR(u);
    return URL_OK;
}

char *nea_url_redact(const char *url)
{
    /* a local path: nothing in it is a credential */
    if (!strstr(url, "://") && !strchr(url, '@'))
        return nea_xstrdup(url);
    NEA_AUTO(url_cleanupp) CURLU *u = NULL;
    switch (url_parse(url, &u, NULL)) {
    case URL_BAD:
        return nea_xstrdup(URL_UNPARSABLE);
    case URL_AMBIG:
        return nea_xstrdup(URL_AMBIGUOUS);
    case URL_OK:
        break;
    }
    NEA_AUTO(curl_freep) char *scheme = url_part(u, CURLUPART_SCHEME);
    NEA_AUTO(curl_freep) char *host = url_part(u, CURLUPART_HOST);
    NEA_AUTO(curl_freep) char *zone = url_part(u, CURLUPART_ZONEID);
    NEA_AUTO(curl_freep) char *port = url_part(u, CURLUPART_PORT);
    NEA_AUTO(curl_freep) char *path = url_part(u, CURLUPART_PATH);
    NEA_AUTO(curl_freep) char *query = url_part(u, CURLUPART_QUERY);
    /* libcurl gives an IPv6 host with its brackets and the zone apart */
    size_t hl = host ? strlen(host) : 0;
    bool zoned = zone && hl > 2 && host[0] == '[' && host[hl - 1] == ']';
    /* a query may carry a token (presigned URLs): shown as "?..." */
    return nea_xasprintf("%s://%.*s%s%s%s%s%s%s%s", scheme ? scheme : "",
                         (int)(zoned ? hl - 1 : hl), host ? host : "", zoned ? "%25" : "",
                         zoned ? zone : "", zoned ? "]" : "", port ? ":" : "",
                         port ? port : "", path ? path : "", query ? "?..." : "");
}

char *nea_url_userinfo(const char *url)
{
    NEA_AUTO(url_cleanupp) CURLU *u = NULL;
    if (url_parse(url, &u, NULL) != URL_OK)
        return NULL;
    NEA_AUTO(curl_freep) char *user = url_part(u, CURLUPART_USER);
    NEA_AUTO(curl_freep) char *password = url_part(u, CURLUPART_PASSWORD);
    NEA_AUTO(curl_freep) char *options = url_part(u, CURLUPART_OPTIONS);
    if (!password && !options && (!user || !*user))
        return NULL;
    /* as written: user[;options][:password] */
    return nea_xasprintf("%s%s%s%s%s", user ? user : "", options ? ";" : "",
                         options ? options : "", password ? ":" : "",
                         password ? password : "");
}

char *nea_url_problem(const char *url)
{
    NEA_AUTO(url_cleanupp) CURLU *u = NULL;
    CURLUcode rc = CURLUE_OK;
    switch (url_parse(url, &u, &rc)) {
    case URL_BAD:
        return nea_xasprintf("cannot be parsed (libcurl: %s); in a user name or password, "
                             "write '@', ':', '/', '?', '#' and spaces percent-encoded "
                             "(%%40, %%3A, %%2F, %%3F, %%23, %%20)", curl_url_strerror(rc));
    case URL_AMBIG:
        return nea_xstrdup("has an '@' that does not end its user info, so where a user "
                           "name or password ends is ambiguous; in a user name or "
                           "password, write '@', ':', '/', '?' and '#' percent-encoded "
                           "(%40, %3A, %2F, %3F, %23), and any other '@' as %40");
    case URL_OK:
        break;
    }
    return NULL;
}

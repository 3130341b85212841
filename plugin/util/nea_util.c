/*
 * nea_util.c: allocation, whole-file I/O with size caps, atomic writes.
 */
#include "nea_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void nea_freep(void *p)
{
    free(*(void **)p);
}

void nea_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
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

/* Where a URL's authority starts, and the last '@' before its query or
 * fragment (NULL: none).  Not only before the first '/': a password with a
 * raw '/' is malformed, but must not be shown either. */
static const char *url_userinfo_end(const char *url, size_t *start, size_t *query)
{
    const char *sep = strstr(url, "://");
    *start = sep ? (size_t)(sep - url) + 3 : 0;
    *query = *start + strcspn(url + *start, "?#");
    const char *at = NULL;
    for (size_t i = *start; i < *query; i++)
        if (url[i] == '@')
            at = url + i;
    return at;
}

char *nea_url_redact(const char *url)
{
    size_t start, query;
    const char *at = url_userinfo_end(url, &start, &query);
    const char *rest = at ? at + 1 : url + start;
    /* a query may carry a token (presigned URLs): shown as "?..." */
    return nea_xasprintf("%.*s%.*s%s", (int)start, url, (int)(url + query - rest), rest,
                         url[query] == '?' ? "?..." : "");
}

char *nea_url_userinfo(const char *url)
{
    size_t start, query;
    const char *at = url_userinfo_end(url, &start, &query);
    if (!at || at == url + start)
        return NULL;
    return nea_xstrndup(url + start, (size_t)(at - (url + start)));
}

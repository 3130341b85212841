/*
 * nea_util.h: ownership helpers shared by every layer.
 *
 * Cleanup attributes in the systemd style: a variable declared with
 * NEA_AUTO(fn) is released by fn(&var) when it leaves scope, and TAKE_PTR()
 * hands it over.  Destructors accept NULL.  Nothing here may depend on
 * another layer.
 */
#ifndef NEA_UTIL_H
#define NEA_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "nea_err.h"

#define NEA_AUTO(fn) __attribute__((cleanup(fn)))
#define NEA_AUTOFREE NEA_AUTO(nea_freep)

#define TAKE_PTR(p)                                                            \
    ({                                                                         \
        __typeof__(p) nea_tmp_ = (p);                                          \
        (p) = NULL;                                                            \
        nea_tmp_;                                                              \
    })

/* The same for a file descriptor, whose "none" is -1 (nea_closep). */
#define TAKE_FD(fd)                                                            \
    ({                                                                         \
        int nea_fd_ = (fd);                                                    \
        (fd) = -1;                                                             \
        nea_fd_;                                                               \
    })

#define NEA_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The cleanup function of a handle type, as systemd's
 * DEFINE_TRIVIAL_CLEANUP_FUNC: NEA_DEFINE_CLEANUP(xmlDocPtr, xmlFreeDoc)
 * defines xmlFreeDocp(xmlDocPtr *p), which calls xmlFreeDoc(*p) unless *p
 * is NULL; NEA_DEFINE_CLEANUP_NAMED gives it a name of its own.  Use the
 * result with NEA_AUTO(). */
#define NEA_DEFINE_CLEANUP_NAMED(name, type, fn)                               \
    static inline void name(type *p)                                           \
    {                                                                          \
        if (*p)                                                                \
            fn(*p);                                                            \
    }
#define NEA_DEFINE_CLEANUP(type, fn) NEA_DEFINE_CLEANUP_NAMED(fn##p, type, fn)

void nea_freep(void *p);
NEA_DEFINE_CLEANUP_NAMED(nea_fclosep, FILE *, fclose)
/* a file descriptor: -1 is none */
static inline void nea_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

/* Enum <-> string tables, as libvirt's VIR_ENUM_DECL / VIR_ENUM_IMPL.  The
 * enum ends with a _LAST sentinel; the table names every value before it,
 * in order, and the build fails when the count differs:
 *
 *   nea_x.h:  enum nea_color { NEA_COLOR_RED, NEA_COLOR_BLUE, NEA_COLOR_LAST };
 *             NEA_ENUM_DECL(nea_color);
 *   nea_x.c:  NEA_ENUM_IMPL(nea_color, NEA_COLOR_LAST, "red", "blue")
 *
 * declares and defines
 *   const char *nea_color_name(int v);   the name, "?" for no value of it
 *   int nea_color_parse(const char *s);  the value, -1 for no name of it
 */
#define NEA_ENUM_DECL(name)                                                    \
    const char *name##_name(int v);                                            \
    int name##_parse(const char *s)

#define NEA_ENUM_IMPL(name, last, ...)                                         \
    static const char *const name##_names_[] = {__VA_ARGS__};                  \
    _Static_assert(NEA_ARRAY_SIZE(name##_names_) == (size_t)(last),            \
                   "the table of " #name " must name every value before " #last); \
    const char *name##_name(int v)                                             \
    {                                                                          \
        return nea_enum_name(name##_names_, NEA_ARRAY_SIZE(name##_names_), v);  \
    }                                                                          \
    int name##_parse(const char *s)                                            \
    {                                                                          \
        return nea_enum_parse(name##_names_, NEA_ARRAY_SIZE(name##_names_), s); \
    }

/* What NEA_ENUM_IMPL's functions do, over any table of n names. */
const char *nea_enum_name(const char *const *names, size_t n, int v);
int nea_enum_parse(const char *const *names, size_t n, const char *s);

/* Allocation that aborts on failure: out-of-memory is not an input error. */
void *nea_xmalloc(size_t n);
void *nea_xcalloc(size_t n, size_t size);
void *nea_xrealloc(void *p, size_t n);
char *nea_xstrdup(const char *s);
char *nea_xstrndup(const char *s, size_t n);
char *nea_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read a whole file, refusing anything larger than max bytes. */
int nea_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len,
                  struct nea_err *err);

/* Write buf to path atomically (temp file + rename) with the given mode. */
int nea_write_file(const char *path, const void *buf, size_t len, unsigned mode,
                   struct nea_err *err);

/* URLs are parsed with libcurl's URL API (curl_url), the parser that also
 * fetches them, never split by hand.
 *
 * The URL as it may be shown or stored: scheme://host[:port]/path, without
 * "user:password@", its query as "?..." (it may hold a token) and no
 * fragment.  A URL that libcurl cannot parse gives "(unparsable URL)", and
 * one whose user info is ambiguous (an '@' that libcurl does not take as
 * its end: a raw '/', '?', '#' or '@' in a password) gives "(URL with
 * ambiguous user info)": no byte of the input.  A string without "://" and
 * without '@' is a local path and returned as it is.  Newly allocated. */
char *nea_url_redact(const char *url);
/* The user info of a URL as written ("user:password"), or NULL (none, or a
 * URL nea_url_problem refuses): to scrub it from libcurl's messages. */
char *nea_url_userinfo(const char *url);
/* NULL when libcurl parses url and its user info is unambiguous, else what
 * is wrong with it, as the end of a sentence that starts "the image URL ...":
 * it names no part of the URL.  Newly allocated. */
char *nea_url_problem(const char *url);
/* mkdir -p; -1 with errno set on failure */
int nea_mkdir_p(const char *dir, unsigned mode);
int nea_str_has_prefix(const char *s, const char *prefix);

#endif

/*
 * nea_schema.c: typed getters over the position-tagged YAML tree and the
 * rules for names.
 *
 * Each failed check becomes one located diagnostic; the callers keep going.
 * Must not know any plan or spec field, and must not read files or print.
 */
#include "nea_schema.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nea_util.h"

static void add_at(struct nea_schema *c, enum nea_severity sev,
                   const struct nea_ynode *n, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void add_at(struct nea_schema *c, enum nea_severity sev,
                   const struct nea_ynode *n, const char *fmt, va_list ap)
{
    NEA_AUTOFREE char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        abort();
    nea_diags_add(c->d, sev, c->file, n ? n->line : 0, n ? n->col : 0, "%s", text);
}

void nea_err_at(struct nea_schema *c, const struct nea_ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_at(c, NEA_DIAG_ERROR, n, fmt, ap);
    va_end(ap);
}

void nea_warn_at(struct nea_schema *c, const struct nea_ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_at(c, NEA_DIAG_WARNING, n, fmt, ap);
    va_end(ap);
}

/* "a, b, c" into buf, cut at its size. */
static void join_names(char *buf, size_t size, const char *const *names, size_t n)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t j = 0; j < n && off < size; j++)
        off += (size_t)snprintf(buf + off, size - off, "%s%s", j ? ", " : "", names[j]);
}

bool nea_read_map(struct nea_schema *c, const struct nea_ynode *node, const char *path,
                  const char *const *allowed, size_t n_allowed,
                  const struct nea_ynode **vals)
{
    for (size_t i = 0; i < n_allowed; i++)
        vals[i] = NULL;
    if (node->type != NEA_Y_MAP) {
        nea_err_at(c, node, "%s must be a mapping, found %s",
                   *path ? path : "the document", nea_ynode_type_name(node));
        return false;
    }
    const struct nea_ynode *keys_seen[64] = {0};
    for (size_t k = 0; k < node->n; k++) {
        const struct nea_ynode *key = node->keys[k];
        size_t i;
        for (i = 0; i < n_allowed; i++)
            if (!strcmp(key->value, allowed[i]))
                break;
        NEA_AUTOFREE char *fp = *path ? nea_xasprintf("%s.%s", path, key->value)
                                      : nea_xstrdup(key->value);
        if (i == n_allowed) {
            char list[512];
            join_names(list, sizeof(list), allowed, n_allowed);
            nea_err_at(c, key, "%s is not a known field (known here: %s)", fp, list);
            continue;
        }
        if (keys_seen[i]) {
            nea_err_at(c, key, "%s is given twice (first on line %u)", fp,
                       keys_seen[i]->line);
            continue;
        }
        keys_seen[i] = key;
        vals[i] = node->items[k];
    }
    return true;
}

const char *nea_get_str(struct nea_schema *c, const struct nea_ynode *n,
                        const char *path, size_t maxlen)
{
    if (n->type != NEA_Y_SCALAR || nea_ynode_is_null(n)) {
        nea_err_at(c, n, "%s must be a string, found %s", path, nea_ynode_type_name(n));
        return NULL;
    }
    if (n->len == 0) {
        nea_err_at(c, n, "%s must not be empty", path);
        return NULL;
    }
    if (n->len > maxlen) {
        nea_err_at(c, n, "%s is %zu characters long, the limit is %zu", path, n->len,
                   maxlen);
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *)n->value; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            nea_err_at(c, n, "%s contains a control character", path);
            return NULL;
        }
    return n->value;
}

bool nea_get_uint(struct nea_schema *c, const struct nea_ynode *n, const char *path,
                  unsigned min, unsigned max, unsigned *ret)
{
    if (n->type != NEA_Y_SCALAR || !n->plain || nea_ynode_is_null(n) || n->len == 0) {
        nea_err_at(c, n, "%s must be a whole number from %u to %u, found %s", path, min,
                   max, n->type == NEA_Y_SCALAR && !nea_ynode_is_null(n)
                            ? "a quoted string" : nea_ynode_type_name(n));
        return false;
    }
    unsigned long long v = 0;
    for (const char *p = n->value; *p; p++) {
        if (!isdigit((unsigned char)*p)) {
            nea_err_at(c, n, "%s must be a whole number from %u to %u, found \"%s\"",
                       path, min, max, n->value);
            return false;
        }
        v = v * 10 + (unsigned)(*p - '0');
        if (v > 0xffffffffULL)
            break;
    }
    if (v < min || v > max) {
        nea_err_at(c, n, "%s %s is out of range: allowed are %u to %u", path, n->value,
                   min, max);
        return false;
    }
    *ret = (unsigned)v;
    return true;
}

bool nea_get_bool(struct nea_schema *c, const struct nea_ynode *n, const char *path,
                  bool *ret)
{
    if (n->type == NEA_Y_SCALAR && n->plain &&
        (!strcmp(n->value, "true") || !strcmp(n->value, "false"))) {
        *ret = !strcmp(n->value, "true");
        return true;
    }
    nea_err_at(c, n, "%s must be true or false, found %s", path,
               n->type == NEA_Y_SCALAR ? n->value : nea_ynode_type_name(n));
    return false;
}

int nea_get_enum(struct nea_schema *c, const struct nea_ynode *n, const char *path,
                 const char *const *names, size_t n_names)
{
    const char *s = nea_get_str(c, n, path, 64);
    if (!s)
        return -1;
    for (size_t i = 0; i < n_names; i++)
        if (!strcmp(s, names[i]))
            return (int)i;
    char list[256];
    join_names(list, sizeof(list), names, n_names);
    nea_err_at(c, n, "%s \"%s\" is not one of: %s", path, s, list);
    return -1;
}

const char *nea_family_name(int family)
{
    return family == AF_INET ? "IPv4" : "IPv6";
}

/* A prefix written into the address ("192.0.2.10/24") gets its own message,
 * since it is the most common slip. */
bool nea_get_ip(struct nea_schema *c, const struct nea_ynode *n, const char *path,
                int family, struct nea_ip *ret)
{
    const char *s = nea_get_str(c, n, path, 64);
    if (!s)
        return false;
    if (strchr(s, '/')) {
        nea_err_at(c, n, "%s \"%s\" must be a bare address; give the prefix length in "
                   "its own field", path, s);
        return false;
    }
    struct nea_ip ip;
    int f = nea_ip_parse(s, &ip);
    if (f < 0) {
        nea_err_at(c, n, "%s \"%s\" is not a valid %s address", path, s,
                   family ? nea_family_name(family) : "IP");
        return false;
    }
    if (family && f != family) {
        nea_err_at(c, n, "%s %s is an %s address, expected %s", path, s,
                   nea_family_name(f), nea_family_name(family));
        return false;
    }
    *ret = ip;
    return true;
}

/* ---- names ------------------------------------------------------------- */

static bool is_lower_alnum(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

bool nea_valid_ident(const char *s, size_t maxlen)
{
    size_t n = strlen(s);
    if (n == 0 || n > maxlen || !is_lower_alnum((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_lower_alnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

bool nea_valid_hostname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    if (!is_lower_alnum((unsigned char)s[0]) || !is_lower_alnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

bool nea_valid_machine(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!is_lower_alnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            return false;
    return true;
}

/* Linux interface names: 1..15 bytes, no '/', ':' or whitespace. */
bool nea_valid_ifname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15 || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (const char *p = s; *p; p++)
        if (*p == '/' || *p == ':' || isspace((unsigned char)*p) ||
            !isprint((unsigned char)*p))
            return false;
    return true;
}

bool nea_valid_libvirt_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (*p == '/' || isspace((unsigned char)*p) || !isprint((unsigned char)*p))
            return false;
    return true;
}

bool nea_parse_network_ref(const char *ref, struct nea_network *out)
{
    const char *name;
    enum nea_net_kind kind = nea_netref_split(ref, &name);
    if (kind == NEA_NET_LIBVIRT ? !nea_valid_libvirt_name(name) : !nea_valid_ifname(name))
        return false;
    out->ref = nea_xstrdup(ref);
    out->name = nea_xstrdup(name);
    out->kind = kind;
    return true;
}

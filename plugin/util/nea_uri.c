/*
 * nea_uri.c: the allow-list of libvirt host URIs (nea_uri.h).
 *
 * The URI is parsed with libxml2's xmlParseURI, and its query is split and
 * unescaped the way libvirt's own virURIParse does (src/util/viruri.c), so
 * that the checks see the parts libvirt will act on.  What is not allowed
 * below is refused: the list names what neaprov needs, not what is known to
 * be dangerous.  Must not open, read or print anything.
 */
#include "nea_uri.h"

#include <arpa/inet.h>
#include <libxml/uri.h>
#include <libxml/xmlmemory.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "nea_util.h"
#include "nea_xml.h"

#define URI_MAX 1024
#define SHOWN_MAX 256

/* The transports of libvirt's remote driver that neaprov allows.  Refused:
 * ext (runs the program named by command=, as this process's user). */
enum transport { T_UNIX, T_SSH, T_LIBSSH, T_LIBSSH2, T_TLS, T_TCP, T_N };
static const char *const transport_names[T_N] = {
    [T_UNIX] = "unix", [T_SSH] = "ssh", [T_LIBSSH] = "libssh",
    [T_LIBSSH2] = "libssh2", [T_TLS] = "tls", [T_TCP] = "tcp",
};
#define TB(t) (1u << (t))
#define T_ANY_SSH (TB(T_SSH) | TB(T_LIBSSH) | TB(T_LIBSSH2))

static const char *const modes[] = {"auto", "direct", "legacy", NULL};
static const char *const proxies[] = {"auto", "netcat", "native", NULL};
static const char *const bools[] = {"0", "1", NULL};
static const char *const kh_verify[] = {"normal", "auto", "ignore", NULL};
static const char *const sshauths[] = {"agent", "privkey", "password",
                                       "keyboard-interactive", NULL};

/*
 * The parameters of libvirt's remote driver (libvirt's docs/uri.rst,
 * "Transport configuration", and src/remote/remote_driver.c), each with
 * neaprov's verdict.  libvirt matches their names without regard to case,
 * and passes any other parameter on to the daemon's driver: an unknown name
 * is refused too.
 */
static const struct param_rule {
    const char *name;
    const char *refused;        /* why neaprov refuses it; NULL: allowed */
    unsigned transports;        /* allowed with these transports only */
    const char *where;          /* ... named so in messages */
    const char *const *values;  /* the values allowed; NULL: any (see below) */
} param_rules[] = {
    /* ssh: the ssh binary to run; ext: the tunnel program.  Code execution
     * as this process (root), which is what the allow-list is for. */
    {"command", "it names a local program for libvirt to run", 0, NULL, NULL},
    /* a program the host runs through its shell (ssh transports) */
    {"netcat", "it names a program for the host's shell to run", 0, NULL, NULL},
    /* replaces the URI the daemon opens: name=test:///PATH makes the daemon
     * (root) read PATH and quote it in its error */
    {"name", "it replaces the URI that the daemon opens", 0, NULL, NULL},
    /* Local files, read by this process: keys and certificates belong to
     * ssh's and libvirt's own configuration, not to a plan that an operator
     * copies around; libssh2 may even rewrite the known_hosts file. */
    {"keyfile", "it names a local file (an SSH private key); configure keys for ssh or "
     "its agent instead", 0, NULL, NULL},
    {"known_hosts", "it names a local file that libvirt may rewrite", 0, NULL, NULL},
    {"pkipath", "it names a local directory of TLS keys; use libvirt's default PKI "
     "paths", 0, NULL, NULL},
    {"authfile", "it names a local file of credentials", 0, NULL, NULL},
    /* weaken TLS quietly, below the system's policy */
    {"tls_priority", "it replaces the system's TLS policy", 0, NULL, NULL},
    {"no_sanity", "it turns off the sanity checks of TLS certificates", 0, NULL, NULL},
    /* harmless: which daemon, which proxy binary on the host (fixed sets) */
    {"mode", NULL, TB(T_UNIX) | T_ANY_SSH, "the unix, ssh, libssh and libssh2 transports",
     modes},
    {"proxy", NULL, T_ANY_SSH, "the ssh, libssh and libssh2 transports", proxies},
    /* harmless: ssh does not prompt for a password */
    {"no_tty", NULL, TB(T_SSH), "the ssh transport", bools},
    /* allowed with a warning: the host's identity is not (fully) checked */
    {"no_verify", NULL, TB(T_SSH) | TB(T_TLS), "the ssh and tls transports", bools},
    {"known_hosts_verify", NULL, TB(T_LIBSSH) | TB(T_LIBSSH2),
     "the libssh and libssh2 transports", kh_verify},
    /* harmless: a list of authentication method names (checked below) */
    {"sshauth", NULL, TB(T_LIBSSH) | TB(T_LIBSSH2), "the libssh and libssh2 transports",
     NULL},
    /* The daemon's socket on this machine (an absolute path).  With the ssh
     * transports it is the host's socket and goes into a shell command line
     * there: unix only. */
    {"socket", NULL, TB(T_UNIX), "the unix transport", NULL},
};

struct check {
    const char *what;
    char shown[SHOWN_MAX + 4];
    char *warning;
    struct nea_err *err;
};

__attribute__((format(printf, 2, 3))) static int refuse(struct check *k, const char *fmt,
                                                       ...)
{
    char rule[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rule, sizeof(rule), fmt, ap);
    va_end(ap);
    return nea_err_set(k->err, NEA_ERR_INVALID, "%s \"%s\" is refused: %s", k->what,
                       k->shown, rule);
}

__attribute__((format(printf, 2, 3))) static void add_warning(struct check *k,
                                                             const char *fmt, ...)
{
    if (k->warning)
        return; /* the first one is enough to make the point */
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    k->warning = nea_xasprintf("%s \"%s\" %s", k->what, k->shown, text);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Control characters, raw or percent-encoded (%00 would cut a part short
 * after unescaping), and bytes outside ASCII. */
static bool has_bad_char(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p >= 0x7f)
            return true;
        if (*p == '%' && hexval((char)p[1]) >= 0 && hexval((char)p[2]) >= 0) {
            int v = hexval((char)p[1]) * 16 + hexval((char)p[2]);
            if (v < 0x20 || v == 0x7f)
                return true;
        }
    }
    return false;
}

/* A DNS name or an IPv4 address (labels of letters, digits and '-' that do
 * not start with '-': ssh must never see an option here), or an IPv6 address
 * in brackets. */
static bool valid_server(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    if (s[0] == '[') {
        char a[64];
        struct in6_addr in6;
        if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(a))
            return false;
        memcpy(a, s + 1, n - 2);
        a[n - 2] = '\0';
        return inet_pton(AF_INET6, a, &in6) == 1;
    }
    size_t label = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9');
        if (!alnum && !(*p == '-' && label > 0))
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0;
}

/* A login name: letters, digits, '.', '_' and '-', not starting with '-'. */
static bool valid_user(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == '-')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

static bool in_list(const char *v, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(v, list[i]))
            return true;
    return false;
}

static void join_list(const char *const *list, char *out, size_t len)
{
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; list[i] && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, "%s%s", i ? ", " : "", list[i]);
}

static int check_param(struct check *k, enum transport t, const char *name,
                       const char *value)
{
    const struct param_rule *r = NULL;
    for (size_t i = 0; i < NEA_ARRAY_SIZE(param_rules) && !r; i++)
        if (!strcasecmp(name, param_rules[i].name))
            r = &param_rules[i];
    if (!r)
        return refuse(k, "parameter \"%s\" is not one that neaprov allows (allowed: mode, "
                      "proxy, no_tty, no_verify, known_hosts_verify, sshauth, and socket "
                      "with the unix transport)", name);
    if (r->refused)
        return refuse(k, "parameter %s is not allowed: %s", r->name, r->refused);
    if (!(r->transports & TB(t)))
        return refuse(k, "parameter %s applies to %s only, not to %s", r->name, r->where,
                      transport_names[t]);
    char list[256];
    if (r->values && !in_list(value, r->values)) {
        join_list(r->values, list, sizeof(list));
        return refuse(k, "parameter %s=%s is not one of: %s", r->name, value, list);
    }
    if (!strcmp(r->name, "sshauth")) {
        NEA_AUTOFREE char *copy = nea_xstrdup(value);
        char *save = NULL;
        bool any = false;
        for (char *m = strtok_r(copy, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
            any = true;
            if (!in_list(m, sshauths)) {
                join_list(sshauths, list, sizeof(list));
                return refuse(k, "parameter sshauth names the method \"%s\"; known are: %s",
                              m, list);
            }
        }
        if (!any)
            return refuse(k, "parameter sshauth is empty");
    }
    if (!strcmp(r->name, "socket") && value[0] != '/')
        return refuse(k, "parameter socket must be an absolute path");
    if (!strcmp(r->name, "no_verify") && strcmp(value, "0"))
        add_warning(k, "turns off the verification of the host's identity (no_verify=%s): "
                    "a machine in the middle could pose as the host", value);
    if (!strcmp(r->name, "known_hosts_verify") && strcmp(value, "normal"))
        add_warning(k, "accepts host keys it does not know (known_hosts_verify=%s): a "
                    "machine in the middle could pose as the host", value);
    return NEA_OK;
}

/* The query as libvirt's virURIParseParams splits it: sections between '&'
 * (or ';'), "name=value" or "name", each part unescaped.  neaprov splits at
 * every '&' and ';', so each name libvirt sees starts where one of ours
 * does: a name libvirt acts on is never hidden inside one of our values. */
static int check_query(struct check *k, enum transport t, const char *query)
{
    const char *q = query;
    while (*q) {
        size_t len = strcspn(q, "&;");
        if (len > 0) {
            const char *eq = memchr(q, '=', len);
            if (eq == q)
                return refuse(k, "a parameter has no name");
            size_t nlen = eq ? (size_t)(eq - q) : len;
            NEA_AUTO(nea_xml_strp) char *name = xmlURIUnescapeString(q, (int)nlen, NULL);
            NEA_AUTO(nea_xml_strp) char *value =
                eq && eq + 1 < q + len
                    ? xmlURIUnescapeString(eq + 1, (int)(q + len - eq - 1), NULL)
                    : NULL;
            if (!name)
                abort();
            int rc = check_param(k, t, name, value ? value : "");
            if (rc < 0)
                return rc;
        }
        q += len;
        if (*q)
            q++;
    }
    return NEA_OK;
}

static bool allow_test_uris(void)
{
    const char *e = getenv(NEA_ALLOW_TEST_URI_ENV);
    return e && !strcmp(e, "1");
}

static int check_uri(struct check *k, const char *uri)
{
    if (has_bad_char(uri))
        return nea_err_set(k->err, NEA_ERR_INVALID, "%s is refused: it contains a control "
                           "character or a byte outside ASCII", k->what);
    if (strlen(uri) > URI_MAX)
        return nea_err_set(k->err, NEA_ERR_INVALID, "%s is refused: it is longer than %d "
                           "characters", k->what, URI_MAX);
    /* the one test URI that reads no file: compared as a whole string */
    if (!strcmp(uri, "test:///default"))
        return NEA_OK;

    NEA_AUTO(nea_xml_uri_freep) xmlURIPtr u = xmlParseURI(uri);
    size_t slen = u && u->scheme ? strlen(u->scheme) : 0;
    /* driver[+transport]://[user@][host][:port]/path[?params], nothing else
     * (not "qemu:/system", not an alias from libvirt.conf) */
    if (!slen || strncmp(uri + slen, "://", 3))
        return nea_err_set(k->err, NEA_ERR_INVALID, "%s \"%s\" is not a libvirt URI (e.g. "
                           "qemu:///system or qemu+ssh://root@kvm1/system)", k->what,
                           k->shown);

    char scheme[64];
    if (slen >= sizeof(scheme))
        return refuse(k, "its scheme is too long");
    for (size_t i = 0; i <= slen; i++)
        scheme[i] = (char)((u->scheme[i] >= 'A' && u->scheme[i] <= 'Z')
                               ? u->scheme[i] - 'A' + 'a' : u->scheme[i]);
    char *plus = strchr(scheme, '+');
    const char *tname = plus ? plus + 1 : NULL;
    if (plus)
        *plus = '\0';
    const char *driver = scheme;

    /* libvirt compares transport names without regard to case, so
     * qemu+EXT is ext */
    enum transport t;
    if (!tname) {
        /* no transport: a server means TLS, none the local socket */
        t = u->server && *u->server ? T_TLS : T_UNIX;
    } else if (!strcmp(tname, "ext")) {
        return refuse(k, "the ext transport runs a local program; allowed transports are "
                      "unix (the default), ssh, libssh, libssh2, tls and tcp");
    } else {
        for (t = 0; t < T_N && strcmp(tname, transport_names[t]); t++)
            ;
        if (t == T_N)
            return refuse(k, "transport \"%s\" is not one of unix (the default), ssh, "
                          "libssh, libssh2, tls and tcp", tname);
    }
    if (strncmp(uri, scheme, strlen(scheme)) ||
        (tname && strncmp(uri + strlen(driver) + 1, tname, strlen(tname))))
        return refuse(k, "write the scheme in lower case");

    bool test = !strcmp(driver, "test");
    if (test && !allow_test_uris())
        return refuse(k, "the only test URI is test:///default (any other makes libvirt "
                      "read a file; %s=1 allows them in tests)", NEA_ALLOW_TEST_URI_ENV);
    if (!test && strcmp(driver, "qemu"))
        return refuse(k, "driver \"%s\" is not qemu (neaprov deploys to QEMU/KVM hosts; "
                      "test:///default is its test host)", driver);

    bool has_server = u->server && *u->server;
    if (t == T_UNIX && has_server)
        return refuse(k, "the unix transport reaches this machine only; it cannot name "
                      "a server");
    if (has_server && !valid_server(u->server))
        return refuse(k, "its server is not a host name or an IP address");
    if (u->user && strchr(u->user, ':'))
        return refuse(k, "a password has no place in a host URI; use SSH keys or TLS "
                      "certificates");
    if (u->user && !valid_user(u->user))
        return refuse(k, "its user name is not a login name (letters, digits, '.', '_' "
                      "and '-', not starting with '-')");
    if (u->fragment)
        return refuse(k, "a libvirt URI has no fragment (#...)");
    /* qemu:///embed?root=DIR would run a private QEMU driver inside this
     * process on DIR: only the system and session daemons */
    if (!test && (!u->path || (strcmp(u->path, "/system") && strcmp(u->path, "/session"))))
        return refuse(k, "a qemu URI's path is /system or /session");
    if (test && (!u->path || !u->path[0] || !strcmp(u->path, "/")))
        return refuse(k, "a test URI names /default or a host definition file");

    if (u->query_raw) {
        int rc = check_query(k, t, u->query_raw);
        if (rc < 0)
            return rc;
    }
    if (t == T_TCP)
        add_warning(k, "uses the tcp transport: libvirt's traffic, credentials included, "
                    "crosses the network unencrypted");
    return NEA_OK;
}

int nea_host_uri_check(const char *what, const char *uri, char **ret_warning,
                       struct nea_err *err)
{
    if (ret_warning)
        *ret_warning = NULL;
    struct check k = {.what = what ? what : "host URI", .err = err};
    if (!uri || !*uri)
        return nea_err_set(err, NEA_ERR_INVALID, "%s is empty", k.what);
    size_t n = strlen(uri);
    snprintf(k.shown, sizeof(k.shown), "%.*s%s", SHOWN_MAX, uri,
             n > SHOWN_MAX ? "..." : "");
    int rc = check_uri(&k, uri);
    if (rc == NEA_OK && ret_warning)
        *ret_warning = TAKE_PTR(k.warning);
    free(k.warning);
    return rc;
}

/*
 * Spec validation from memory buffers: every bad-input class gives its own
 * located message, all problems are reported, and the derived values (name,
 * MAC, UUID, hash) are stable.  The golden error cases under
 * tests/data/render/err-* check the exact CLI text; these check the API.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nea_spec.h"
#include "nea_uri.h"
#include "nea_util.h"

static const char *const plan_dirs[] = {NEA_TEST_PLANS};
static const struct nea_load_opts opts = {plan_dirs, 1};

static const char good[] =
    "tenant: acme\n"
    "hardware-plan: gold\n"
    "appliance:\n"
    "  external-network: br-ext\n"
    "  ipv4:\n"
    "    mode: static\n"
    "    address: 192.0.2.10\n"
    "    netmask: 255.255.255.0\n"
    "    gateway: 192.0.2.1\n"
    "  ipv6:\n"
    "    mode: static\n"
    "    address: \"2001:db8::10\"\n"
    "    prefix: 64\n"
    "    gateway: \"2001:db8::1\"\n";

static struct nea_spec *load_ok(const char *text)
{
    struct nea_diags d = {0};
    struct nea_err e = {0};
    struct nea_spec *s = NULL;
    int rc = nea_spec_load_buffer("t.yaml", text, strlen(text), &opts, &s, &d, &e);
    for (size_t i = 0; i < d.n; i++)
        if (d.v[i].severity == NEA_DIAG_ERROR)
            print_error("unexpected: %u:%u %s\n", d.v[i].line, d.v[i].col, d.v[i].text);
    assert_int_equal(rc, NEA_OK);
    assert_non_null(s);
    nea_diags_clear(&d);
    return s;
}

/* Loads text and expects exactly the given messages (substrings), each at
 * its line, in order. */
static void expect_errors(const char *text, size_t n, const char *const *msgs,
                          const unsigned *lines)
{
    struct nea_diags d = {0};
    struct nea_err e = {0};
    struct nea_spec *s = NULL;
    int rc = nea_spec_load_buffer("t.yaml", text, strlen(text), &opts, &s, &d, &e);
    assert_int_equal(rc, NEA_ERR_INVALID);
    assert_null(s);
    size_t errors = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (d.v[i].severity != NEA_DIAG_ERROR)
            continue;
        if (errors < n) {
            if (!strstr(d.v[i].text, msgs[errors]))
                fail_msg("error %zu: \"%s\" does not contain \"%s\"", errors,
                         d.v[i].text, msgs[errors]);
            assert_int_equal(d.v[i].line, lines[errors]);
            assert_true(d.v[i].col > 0);
        }
        errors++;
    }
    if (errors != n) {
        for (size_t i = 0; i < d.n; i++)
            print_error("got: %u: %s\n", d.v[i].line, d.v[i].text);
        fail_msg("expected %zu errors, got %zu", n, errors);
    }
    nea_diags_clear(&d);
}

/* Replace the first occurrence of `from` in good[] with `to`. */
static char *variant(const char *from, const char *to)
{
    const char *p = strstr(good, from);
    assert_non_null(p);
    return nea_xasprintf("%.*s%s%s", (int)(p - good), good, to, p + strlen(from));
}

static void one(const char *from, const char *to, const char *msg, unsigned line)
{
    char *t = variant(from, to);
    expect_errors(t, 1, &msg, &line);
    free(t);
}

static void test_good_and_defaults(void **state)
{
    (void)state;
    struct nea_spec *s = load_ok(good);
    assert_string_equal(s->name, "acme-nea");
    assert_int_equal(s->ipv4.prefix, 24);
    assert_int_equal(s->mac[0], 0x52);
    assert_int_equal(s->mac[1], 0x54);
    assert_int_equal(s->mac[2], 0x00);
    assert_false(s->mac[3] & 0x80);
    assert_int_equal(s->uuid[6] >> 4, 8);
    assert_int_equal(s->uuid[8] & 0xc0, 0x80);
    assert_int_equal(strlen(s->hash), 64);
    assert_string_equal(s->network->name, "br-ext");
    assert_int_equal(s->network->kind, NEA_NET_BRIDGE);
    assert_string_equal(s->plan->machine, "q35");
    nea_spec_free(s);
}

static void test_hash_ignores_formatting(void **state)
{
    (void)state;
    struct nea_spec *a = load_ok(good);
    /* same content: comments, flow style, other key order, prefix vs netmask */
    struct nea_spec *b = load_ok(
        "# a comment\n"
        "appliance:\n"
        "  ipv6: {gateway: \"2001:db8::1\", prefix: 64, address: \"2001:db8:0::10\","
        " mode: static}\n"
        "  ipv4: {mode: static, address: 192.0.2.10, prefix: 24, gateway: 192.0.2.1}\n"
        "  external-network: br-ext\n"
        "hardware-plan: gold\n"
        "tenant: acme\n");
    assert_string_equal(a->hash, b->hash);
    assert_memory_equal(a->mac, b->mac, 6);
    assert_memory_equal(a->uuid, b->uuid, 16);
    char *t = variant("192.0.2.10", "192.0.2.11");
    struct nea_spec *c = load_ok(t);
    assert_string_not_equal(a->hash, c->hash);
    assert_memory_equal(a->mac, c->mac, 6); /* MAC depends on host and name only */
    free(t);
    t = variant("tenant: acme", "tenant: acme2");
    struct nea_spec *d = load_ok(t);
    assert_memory_not_equal(a->mac, d->mac, 6);
    assert_memory_not_equal(a->uuid, d->uuid, 16);
    free(t);
    nea_spec_free(a);
    nea_spec_free(b);
    nea_spec_free(c);
    nea_spec_free(d);
}

static void test_ipv4_classes(void **state)
{
    (void)state;
    one("gateway: 192.0.2.1", "gateway: 198.51.100.1",
        "appliance.ipv4.gateway 198.51.100.1 is not inside 192.0.2.0/24", 9);
    one("address: 192.0.2.10", "address: \"2001:db8::5\"",
        "appliance.ipv4.address 2001:db8::5 is an IPv6 address, expected IPv4", 7);
    one("netmask: 255.255.255.0", "netmask: 255.255.0.255",
        "is not a contiguous netmask", 8);
    one("netmask: 255.255.255.0", "netmask: 255.255.255.255", "leaves no room", 8);
    one("netmask: 255.255.255.0", "netmask: 0.0.0.0", "leaves no room", 8);
    one("netmask: 255.255.255.0", "prefix: 32", "out of range: allowed are 1 to 31", 8);
    one("netmask: 255.255.255.0", "prefix: 0", "out of range", 8);
    one("address: 192.0.2.10", "address: 192.0.2.0", "is the network address of "
        "192.0.2.0/24", 7);
    one("address: 192.0.2.10", "address: 192.0.2.255", "is the broadcast address", 7);
    one("gateway: 192.0.2.1", "gateway: 192.0.2.255", "is the broadcast address", 9);
    one("gateway: 192.0.2.1", "gateway: 192.0.2.10", "is the appliance's own address",
        9);
    one("address: 192.0.2.10", "address: 224.0.0.10", "is a multicast address", 7);
    one("address: 192.0.2.10", "address: 192.0.2.10/24", "must be a bare address", 7);
    one("address: 192.0.2.10", "address: 192.0.2", "is not a valid IPv4 address", 7);
    one("    netmask: 255.255.255.0\n", "",
        "needs a netmask or a prefix", 6);
    one("    netmask: 255.255.255.0\n", "    netmask: 255.255.255.0\n    prefix: 24\n",
        "are both given", 9);
    one("    gateway: 192.0.2.1\n", "", "appliance.ipv4.gateway is required", 6);
    char *t = variant("mode: static\n    address: 192.0.2.10",
                      "mode: dhcp\n    address: 192.0.2.10");
    const char *msgs[] = {
        "appliance.ipv4.address is not allowed when appliance.ipv4.mode is dhcp",
        "appliance.ipv4.netmask is not allowed", "appliance.ipv4.gateway is not allowed"};
    const unsigned lines[] = {7, 8, 9};
    expect_errors(t, 3, msgs, lines);
    free(t);
}

static void test_ipv6_classes(void **state)
{
    (void)state;
    one("gateway: \"2001:db8::1\"", "gateway: \"2001:db8:1::1\"",
        "is neither inside 2001:db8::/64 nor link-local", 14);
    /* a link-local gateway is fine whatever the prefix */
    char *t = variant("gateway: \"2001:db8::1\"", "gateway: \"fe80::1\"");
    struct nea_spec *s = load_ok(t);
    assert_int_equal(s->ipv6.gateway.b[0], 0xfe);
    nea_spec_free(s);
    free(t);
}

static void test_ipv6_more(void **state)
{
    (void)state;
    one("address: \"2001:db8::10\"", "address: 192.0.2.10", "is an IPv4 address", 12);
    one("prefix: 64", "prefix: 128", "out of range: allowed are 1 to 127", 13);
    one("prefix: 64", "prefix: 0", "out of range", 13);
    one("address: \"2001:db8::10\"", "address: \"2001:db8::\"",
        "subnet-router anycast", 12);
    one("address: \"2001:db8::10\"", "address: \"::1\"", "is a loopback address", 12);
    one("address: \"2001:db8::10\"", "address: \"fe80::10\"", "is a link-local", 12);
    one("gateway: \"2001:db8::1\"", "gateway: \"ff02::1\"", "multicast", 14);
    one("mode: static\n    address: \"2001", "mode: slaac\n    address: \"2001",
        "\"slaac\" is not one of: disabled, auto, dhcp, static", 11);
}

static void test_structure(void **state)
{
    (void)state;
    one("tenant: acme", "tenant: acme\ncolour: blue", "colour is not a known field", 2);
    one("tenant: acme", "tenant: acme\ntenant: acme", "tenant is given twice (first on "
        "line 1)", 2);
    one("tenant: acme", "tenant: [acme]", "tenant must be a string, found a list", 1);
    one("tenant: acme", "tenant: Acme", "tenant \"Acme\" must be", 1);
    one("tenant: acme", "tenant: -acme", "tenant \"-acme\" must be", 1);
    one("hardware-plan: gold", "hardware-plan: nope", "hardware-plan \"nope\" not found",
        2);
    one("hardware-plan: gold", "hardware-plan: ../gold", "must be a plan name", 2);
    one("external-network: br-ext", "external-network: br-nope",
        "is not offered by hardware plan gold (it offers: br-ext, ovs:br-sp, "
        "network:sp-external)", 4);
    one("external-network: br-ext", "external-network: a-very-long-bridge-name",
        "is neither a bridge name", 4);
    one("  external-network: br-ext\n", "", "appliance.external-network is required", 4);
}

static void test_all_reported(void **state)
{
    (void)state;
    const char *text = "tenant: acme\n"
                       "hardware-plan: gold\n"
                       "appliance:\n"
                       "  external-network: br-ext\n"
                       "  mac: \"01:02:03:04:05:06\"\n"
                       "  ipv4: {mode: static, address: 192.0.2.10, prefix: 24,"
                       " gateway: 10.0.0.1}\n"
                       "  ipv6: {mode: auto}\n"
                       "  dns: [192.0.2.53, 192.0.2.53]\n"
                       "public-ips: {ipv4: 10000, ipv6: x}\n";
    const char *msgs[] = {"appliance.mac 01:02:03:04:05:06 is a multicast",
                          "appliance.ipv4.gateway 10.0.0.1 is not inside",
                          "appliance.dns[1] 192.0.2.53 is listed twice",
                          "public-ips.ipv4 10000 is out of range",
                          "public-ips.ipv6 must be a whole number"};
    const unsigned lines[] = {5, 6, 8, 9, 9};
    expect_errors(text, 5, msgs, lines);
}

static void test_limits(void **state)
{
    (void)state;
    size_t n = NEA_SPEC_MAX_BYTES + 1;
    char *big = nea_xmalloc(n + 1);
    memset(big, '#', n);
    big[n] = '\0';
    struct nea_diags d = {0};
    struct nea_err e = {0};
    struct nea_spec *s = NULL;
    assert_int_equal(nea_spec_load_buffer("big.yaml", big, n, &opts, &s, &d, &e),
                     NEA_ERR_INVALID);
    assert_non_null(strstr(e.msg, "larger than the limit"));
    free(big);
}

/* A plan's image URL that libcurl cannot parse, or whose user info it would
 * read otherwise than meant (a raw '@', '/', '?' or '#' in a password), is
 * refused at validation, and the message shows no part of it; the same
 * credentials percent-encoded are accepted. */
static void test_image_url_credentials(void **state)
{
    (void)state;
    static const struct {
        const char *image;
        bool ok;
    } cases[] = {
        {"https://alice:p@ss#x/y@img.example.net/nea.qcow2", false},
        {"https://alice:a/b@img.example.net/nea.qcow2", false},
        {"https://al/ice:pw@img.example.net/nea.qcow2", false},
        {"https://alice:p?w@[2001:db8::1]:8443/nea.qcow2", false},
        {"https://alice:p w@img.example.net/nea.qcow2", false},
        {"https://alice:p%40ss%23x%2Fy@img.example.net/nea.qcow2", true},
        {"https://al%2Fice:a%3Fb@[2001:db8::1]:8443/nea.qcow2?sig=1", true},
    };
    for (size_t i = 0; i < NEA_ARRAY_SIZE(cases); i++) {
        char *text = nea_xasprintf(
            "name: urlimage\nhost: qemu:///system\nstorage-pool: default\n"
            "networks: [br-ext]\nvcpus: 1\nmemory-mib: 512\ndisk-gib: 2\n"
            "image: \"%s\"\nimage-sha256: %064d\n", cases[i].image, 0);
        struct nea_diags d = {0};
        struct nea_err e = {0};
        struct nea_plan *p = NULL;
        int rc = nea_plan_load_buffer("/plans/urlimage.yaml", text, strlen(text), &p, &d, &e);
        if (cases[i].ok) {
            if (rc != NEA_OK)
                fail_msg("%s: refused: %s", cases[i].image, d.n ? d.v[0].text : e.msg);
            assert_string_equal(p->image, cases[i].image);
        } else {
            assert_int_equal(rc, NEA_ERR_INVALID);
            assert_null(p);
            assert_true(d.n_errors >= 1);
            bool found = false;
            for (size_t k = 0; k < d.n; k++) {
                found |= strstr(d.v[k].text, "image URL") != NULL;
                assert_int_equal(d.v[k].line, 8);
                static const char *const parts[] = {"alice", "p@ss", "x/y", "a/b",
                                                    "al/ice", "p?w", "p w", "img.example",
                                                    "2001:db8"};
                for (size_t m = 0; m < NEA_ARRAY_SIZE(parts); m++)
                    if (strstr(d.v[k].text, parts[m]))
                        fail_msg("%s: the message shows %s: %s", cases[i].image, parts[m],
                                 d.v[k].text);
            }
            assert_true(found);
        }
        nea_plan_free(p);
        nea_diags_clear(&d);
        free(text);
    }
}

/* Host URIs (nea_uri.h): each allowed and refused form, straight through the
 * checker.  A refusal names the rule; a weak but allowed URI gives a warning. */
enum uri_verdict { URI_OK, URI_WARN, URI_REFUSED };

static void expect_uri(const char *uri, enum uri_verdict want, const char *msg)
{
    struct nea_err e = {0};
    char *warning = (char *)"unset";
    int rc = nea_host_uri_check("host", uri, &warning, &e);
    if (want == URI_REFUSED) {
        if (rc != NEA_ERR_INVALID)
            fail_msg("%s: allowed, expected refused (%s)", uri, msg);
        assert_null(warning);
        if (!strstr(e.msg, msg))
            fail_msg("%s: \"%s\" does not contain \"%s\"", uri, e.msg, msg);
        return;
    }
    if (rc != NEA_OK)
        fail_msg("%s: refused: %s", uri, e.msg);
    if (want == URI_OK && warning)
        fail_msg("%s: unexpected warning: %s", uri, warning);
    if (want == URI_WARN && (!warning || !strstr(warning, msg)))
        fail_msg("%s: warning \"%s\" does not contain \"%s\"", uri,
                 warning ? warning : "(none)", msg);
    free(warning);
}

static void test_host_uris(void **state)
{
    (void)state;
    unsetenv("NEAPROV_ALLOW_TEST_URI");
    static const struct {
        const char *uri;
        enum uri_verdict v;
        const char *msg;
    } cases[] = {
        /* allowed */
        {"qemu:///system", URI_OK, NULL},
        {"qemu:///session", URI_OK, NULL},
        {"qemu+unix:///system", URI_OK, NULL},
        {"qemu:///system?socket=/run/libvirt/virtqemud-sock", URI_OK, NULL},
        {"qemu+unix:///system?socket=/tmp/neaprov-test/libvirt-sock&mode=legacy", URI_OK,
         NULL},
        {"qemu+ssh://user@host/system", URI_OK, NULL},
        {"qemu+ssh://root@kvm1.example.net:2222/system?no_tty=1&mode=direct&proxy=native",
         URI_OK, NULL},
        {"qemu+ssh://[2001:db8::1]/system", URI_OK, NULL},
        {"qemu+libssh://user@host/system", URI_OK, NULL},
        {"qemu+libssh2://user@host/system?sshauth=agent,privkey", URI_OK, NULL},
        {"qemu+libssh2://user@host/system?known_hosts_verify=normal", URI_OK, NULL},
        {"qemu+tls://h/system", URI_OK, NULL},
        {"qemu://kvm1.example.net/system", URI_OK, NULL}, /* a server alone: TLS */
        {"qemu+ssh://198.51.100.7/system?no_verify=0", URI_OK, NULL},
        {"test:///default", URI_OK, NULL},
        /* allowed, with a warning */
        {"qemu+tcp://kvm1.example.net/system", URI_WARN, "unencrypted"},
        {"qemu+tls://h/system?no_verify=1", URI_WARN, "no_verify=1"},
        {"qemu+ssh://h/system?no_verify=1", URI_WARN, "no_verify=1"},
        {"qemu+libssh2://u@h/system?known_hosts_verify=ignore", URI_WARN,
         "known_hosts_verify=ignore"},
        /* programs */
        {"qemu+ext:///system?command=/bin/true", URI_REFUSED, "the ext transport runs"},
        {"qemu+ext:///system", URI_REFUSED, "the ext transport runs"},
        {"qemu+EXT:///system?command=/bin/true", URI_REFUSED, "the ext transport runs"},
        {"qemu+Ext://h/system", URI_REFUSED, "the ext transport runs"},
        {"test+ext:///default?command=/bin/true", URI_REFUSED, "the ext transport runs"},
        {"qemu+ssh://h/system?command=/bin/sh", URI_REFUSED,
         "parameter command is not allowed"},
        {"qemu+ssh://h/system?COMMAND=/bin/sh", URI_REFUSED,
         "parameter command is not allowed"},
        {"qemu+ssh://h/system?comm%61nd=/bin/sh", URI_REFUSED,
         "parameter command is not allowed"},
        {"qemu:///system?command%3D/bin/true", URI_REFUSED,
         "parameter \"command=/bin/true\" is not one"},
        {"qemu:///system?mode=auto;command=/bin/true", URI_REFUSED,
         "parameter command is not allowed"},
        {"qemu:///system?mode=auto&&command=/bin/true", URI_REFUSED,
         "parameter command is not allowed"},
        {"qemu+ssh://h/system?netcat=/tmp/nc", URI_REFUSED, "parameter netcat"},
        {"qemu+ssh://h/system?proxy=netcat&netcat=nc%20-e%20sh", URI_REFUSED,
         "parameter netcat"},
        /* ssh must never see an option as host or user */
        {"qemu+ssh://-oProxyCommand=touch%20x/system", URI_REFUSED, "its server"},
        {"qemu+ssh://%2DoProxyCommand=x/system", URI_REFUSED, "its server"},
        {"qemu+ssh://-oProxyCommand=x@h/system", URI_REFUSED, "its user name"},
        /* files and other URIs */
        {"test:///etc/shadow", URI_REFUSED, "the only test URI is test:///default"},
        {"test:///default?x=1", URI_REFUSED, "the only test URI is test:///default"},
        {"test:///%64efault", URI_REFUSED, "the only test URI is test:///default"},
        {"test+tcp://localhost/default", URI_REFUSED, "the only test URI"},
        {"TEST:///etc/shadow", URI_REFUSED, "lower case"},
        {"qemu:///system?name=test:///etc/shadow", URI_REFUSED, "parameter name"},
        {"qemu+ssh://h/system?keyfile=/root/.ssh/id_rsa", URI_REFUSED, "parameter keyfile"},
        {"qemu+libssh2://h/system?known_hosts=/etc/shadow", URI_REFUSED,
         "parameter known_hosts is"},
        {"qemu+tls://h/system?pkipath=/etc", URI_REFUSED, "parameter pkipath"},
        {"qemu+tls://h/system?authfile=/etc/shadow", URI_REFUSED, "parameter authfile"},
        {"qemu+tls://h/system?tls_priority=NONE", URI_REFUSED, "parameter tls_priority"},
        {"qemu+tls://h/system?no_sanity=1", URI_REFUSED, "parameter no_sanity"},
        {"qemu:///embed?root=/tmp/x", URI_REFUSED, "/system or /session"},
        {"qemu:///system?foo=bar", URI_REFUSED, "parameter \"foo\" is not one"},
        {"qemu:///system?=x", URI_REFUSED, "no name"},
        /* where parameters apply, and their values */
        {"qemu+ssh://h/system?socket=/var/run/libvirt/libvirt-sock", URI_REFUSED,
         "socket applies to the unix transport only"},
        {"qemu+tls://h/system?socket=/x", URI_REFUSED, "socket applies"},
        {"qemu:///system?socket=relative/sock", URI_REFUSED, "absolute path"},
        {"qemu+tls://h/system?no_tty=1", URI_REFUSED, "no_tty applies"},
        {"qemu:///system?mode=evil", URI_REFUSED, "mode=evil is not one of"},
        {"qemu+tls://h/system?no_verify=yes", URI_REFUSED, "no_verify=yes"},
        {"qemu+libssh://h/system?sshauth=agent,gssapi", URI_REFUSED, "gssapi"},
        /* the form */
        {"QEMU:///system", URI_REFUSED, "lower case"},
        {"qemu+SSH://h/system", URI_REFUSED, "lower case"},
        {"lxc:///", URI_REFUSED, "driver \"lxc\""},
        {"xen+ssh://h/system", URI_REFUSED, "driver \"xen\""},
        {"qemu+foo:///system", URI_REFUSED, "transport \"foo\""},
        {"qemu+unix://h/system", URI_REFUSED, "cannot name a server"},
        {"qemu+ssh://root:secret@h/system", URI_REFUSED, "password"},
        {"qemu:///system#x", URI_REFUSED, "fragment"},
        {"qemu:///system#", URI_REFUSED, "fragment"},
        {"just-a-host", URI_REFUSED, "is not a libvirt URI"},
        {"qemu:/system", URI_REFUSED, "is not a libvirt URI"},
        {"qemu%2Bext:///system", URI_REFUSED, "is not a libvirt URI"},
        {"qemu:///sys%00tem", URI_REFUSED, "control character"},
        {"qemu:///system?mode=auto%0a", URI_REFUSED, "control character"},
        {"qemu:///system\n", URI_REFUSED, "control character"},
        {"", URI_REFUSED, "is empty"},
    };
    for (size_t i = 0; i < NEA_ARRAY_SIZE(cases); i++)
        expect_uri(cases[i].uri, cases[i].v, cases[i].msg ? cases[i].msg : "");

    /* the test driver's files only when the tests say so, and only "1" */
    setenv("NEAPROV_ALLOW_TEST_URI", "yes", 1);
    expect_uri("test:///etc/shadow", URI_REFUSED, "the only test URI");
    setenv("NEAPROV_ALLOW_TEST_URI", "1", 1);
    expect_uri("test:///etc/shadow", URI_OK, NULL);
    expect_uri("test:///tmp/host.xml", URI_OK, NULL);
    /* ...and the other rules still hold */
    expect_uri("test+ext:///default?command=/bin/true", URI_REFUSED, "ext transport");
    expect_uri("test:///default?command=/bin/true", URI_REFUSED, "parameter command");
    expect_uri("test:///", URI_REFUSED, "/default or a host definition file");
    unsetenv("NEAPROV_ALLOW_TEST_URI");
    expect_uri("test:///etc/shadow", URI_REFUSED, "the only test URI");

    /* a long URI is shown cut short, never past the message's end */
    char long_uri[900];
    snprintf(long_uri, sizeof(long_uri), "qemu+ext:///%0*d", 800, 0);
    expect_uri(long_uri, URI_REFUSED, "the ext transport runs");
    /* NULL ret_warning is allowed */
    struct nea_err e = {0};
    assert_int_equal(nea_host_uri_check("-c", "qemu+tcp://h/system", NULL, &e), NEA_OK);
    assert_int_equal(nea_host_uri_check("-c", NULL, NULL, &e), NEA_ERR_INVALID);
    assert_non_null(strstr(e.msg, "-c is empty"));
}

/* The plan loader applies the checker to host: an error at the field's
 * line and column naming the URI and the rule, or a warning that does not
 * stop the load. */
static void test_plan_host_uri(void **state)
{
    (void)state;
    unsetenv("NEAPROV_ALLOW_TEST_URI");
    static const struct {
        const char *host;
        enum uri_verdict v;
        const char *msg;
    } cases[] = {
        {"qemu+ext:///system?command=/tmp/x.sh", URI_REFUSED,
         "host \"qemu+ext:///system?command=/tmp/x.sh\" is refused: the ext transport"},
        {"test:///etc/shadow", URI_REFUSED,
         "host \"test:///etc/shadow\" is refused: the only test URI"},
        {"qemu+ssh://kvm1/system?socket=/x", URI_REFUSED, "socket applies to the unix"},
        {"qemu+tcp://kvm1/system", URI_WARN, "host \"qemu+tcp://kvm1/system\" uses the tcp"},
        {"qemu+ssh://root@kvm1/system", URI_OK, NULL},
    };
    for (size_t i = 0; i < NEA_ARRAY_SIZE(cases); i++) {
        char *text = nea_xasprintf("name: p\nhost: \"%s\"\nstorage-pool: default\n"
                                   "networks: [br-ext]\nvcpus: 1\nmemory-mib: 512\n"
                                   "disk-gib: 2\nimage: /images/nea.qcow2\n",
                                   cases[i].host);
        struct nea_diags d = {0};
        struct nea_err e = {0};
        struct nea_plan *p = NULL;
        int rc = nea_plan_load_buffer("/plans/p.yaml", text, strlen(text), &p, &d, &e);
        if (cases[i].v == URI_REFUSED) {
            assert_int_equal(rc, NEA_ERR_INVALID);
            assert_null(p);
            assert_int_equal(d.n, 1);
            assert_int_equal(d.v[0].severity, NEA_DIAG_ERROR);
        } else {
            if (rc != NEA_OK)
                fail_msg("%s: refused: %s", cases[i].host, d.n ? d.v[0].text : e.msg);
            assert_string_equal(p->host, cases[i].host);
            assert_int_equal(d.n, cases[i].v == URI_WARN ? 1 : 0);
        }
        if (d.n) {
            assert_int_equal(d.v[0].line, 2);
            assert_int_equal(d.v[0].col, 7);
            if (!strstr(d.v[0].text, cases[i].msg))
                fail_msg("\"%s\" does not contain \"%s\"", d.v[0].text, cases[i].msg);
            if (cases[i].v == URI_WARN)
                assert_int_equal(d.v[0].severity, NEA_DIAG_WARNING);
        }
        nea_plan_free(p);
        nea_diags_clear(&d);
        free(text);
    }
}

/* A tenant network's libvirt network is never a plan's external network:
 * any appliance of the plan would join that tenant's segment. */
static void test_plan_reserved_network(void **state)
{
    (void)state;
    const char *text = "name: p\nhost: \"qemu:///system\"\nstorage-pool: default\n"
                       "networks: [br-ext, \"network:nea-net.acme.web\"]\nvcpus: 1\n"
                       "memory-mib: 512\ndisk-gib: 2\nimage: /images/nea.qcow2\n";
    struct nea_diags d = {0};
    struct nea_err e = {0};
    struct nea_plan *p = NULL;
    assert_int_equal(nea_plan_load_buffer("/plans/p.yaml", text, strlen(text), &p, &d, &e),
                     NEA_ERR_INVALID);
    assert_null(p);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].line, 4);
    assert_non_null(strstr(d.v[0].text, "networks[1] \"network:nea-net.acme.web\": libvirt "
                                        "networks named nea-net.* are tenant networks"));
    nea_diags_clear(&d);
}

/* Every key nea_spec_canonical writes has its change class (one table in
 * nea_canonical.c).  A spec that makes it write every key it can: a plan
 * with every optional field, both families static, DNS, a key, public IPs,
 * and an address and a rule from the pool.  A new key fails this test until
 * it is added here with the class it must have. */
static void test_canonical_key_classes(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        enum nea_change_class class;
    } want[] = {
        {"format", NEA_CHANGE_IGNORE},
        {"tenant", NEA_CHANGE_IGNORE},
        {"plan", NEA_CHANGE_RECORD},
        {"host", NEA_CHANGE_MOVE_HOST},
        {"pool", NEA_CHANGE_MOVE_POOL},
        {"vcpus", NEA_CHANGE_DEFINE_REBOOT},
        {"memory-mib", NEA_CHANGE_DEFINE_REBOOT},
        {"disk-gib", NEA_CHANGE_DISK_SIZE},
        {"image", NEA_CHANGE_DISK_IMAGE},
        {"image-sha256", NEA_CHANGE_DISK_IMAGE},
        {"machine", NEA_CHANGE_DEFINE_REBOOT},
        {"domain-type", NEA_CHANGE_DEFINE_REBOOT},
        {"cdrom-bus", NEA_CHANGE_DEFINE_REBOOT},
        {"kernel", NEA_CHANGE_DEFINE_REBOOT},
        {"initrd", NEA_CHANGE_DEFINE_REBOOT},
        {"cmdline", NEA_CHANGE_DEFINE_REBOOT},
        {"name", NEA_CHANGE_RENAME},
        {"network", NEA_CHANGE_NIC},
        {"mac", NEA_CHANGE_MAC},
        {"uuid", NEA_CHANGE_REDEFINE},
        {"ipv4.mode", NEA_CHANGE_SEED},
        {"ipv4.address", NEA_CHANGE_SEED},
        {"ipv4.gateway", NEA_CHANGE_SEED},
        {"ipv6.mode", NEA_CHANGE_SEED},
        {"ipv6.address", NEA_CHANGE_SEED},
        {"ipv6.gateway", NEA_CHANGE_SEED},
        {"dns", NEA_CHANGE_SEED},
        {"ssh-key", NEA_CHANGE_SEED},
        {"public-ipv4", NEA_CHANGE_SEED_PUBLIC_IPS},
        {"public-ipv6", NEA_CHANGE_SEED_PUBLIC_IPS},
        {"public-address", NEA_CHANGE_SEED_PUBLIC_ADDRESS},
        {"rule", NEA_CHANGE_SEED_RULES},
    };
    struct nea_spec *s = load_ok(
        "tenant: acme\n"
        "hardware-plan: direct\n"
        "appliance:\n"
        "  external-network: br-ext\n"
        "  ipv4: {mode: static, address: 192.0.2.10, prefix: 24, gateway: 192.0.2.1}\n"
        "  ipv6: {mode: static, address: \"2001:db8::10\", prefix: 64,"
        " gateway: \"2001:db8::1\"}\n"
        "  dns: [192.0.2.53, \"2001:db8::53\"]\n"
        "  ssh-authorized-keys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI k\"]\n"
        "public-ips: {ipv4: 1, ipv6: 0}\n");
    struct nea_rule rule = {.pub_port = 443, .proto = NEA_PROTO_TCP, .to_port = 8443};
    assert_int_equal(nea_ip_parse("198.51.100.7", &rule.pub), AF_INET);
    assert_int_equal(nea_ip_parse("10.0.0.2", &rule.to), AF_INET);
    nea_spec_set_public(s, &rule.pub, 1, &rule, 1);
    char *canon = nea_spec_canonical(s);
    bool seen[NEA_ARRAY_SIZE(want)] = {0};
    for (char *line = canon, *next; *line; line = next) {
        next = strchr(line, '\n');
        assert_non_null(next);
        *next++ = '\0';
        char *eq = strchr(line, '=');
        assert_non_null(eq);
        *eq = '\0';
        if (nea_canonical_key_class(line) == NEA_CHANGE_UNKNOWN)
            fail_msg("canonical key \"%s\" has no change class", line);
        size_t i = 0;
        while (i < NEA_ARRAY_SIZE(want) && strcmp(want[i].key, line))
            i++;
        if (i == NEA_ARRAY_SIZE(want))
            fail_msg("canonical key \"%s\" is new: add it here with its class", line);
        assert_int_equal(nea_canonical_key_class(line), want[i].class);
        seen[i] = true;
    }
    for (size_t i = 0; i < NEA_ARRAY_SIZE(want); i++)
        if (!seen[i])
            fail_msg("canonical key \"%s\" was not written", want[i].key);
    /* exact keys only: not prefixes, not other strings */
    static const char *const unknown[] = {"", "ipv4.", "ipv4", "ipv4.prefix", "dns ",
                                          "Format", "redeploy"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(unknown); i++)
        assert_int_equal(nea_canonical_key_class(unknown[i]), NEA_CHANGE_UNKNOWN);
    free(canon);
    nea_spec_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_and_defaults),
        cmocka_unit_test(test_hash_ignores_formatting),
        cmocka_unit_test(test_ipv4_classes),
        cmocka_unit_test(test_ipv6_classes),
        cmocka_unit_test(test_ipv6_more),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_all_reported),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_image_url_credentials),
        cmocka_unit_test(test_host_uris),
        cmocka_unit_test(test_plan_host_uri),
        cmocka_unit_test(test_canonical_key_classes),
        cmocka_unit_test(test_plan_reserved_network),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

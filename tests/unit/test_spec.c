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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nea_spec.h"
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

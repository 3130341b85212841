/* Address maths: parsing, masks, subnets, classification. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "nea_addr.h"

static struct nea_ip ip(const char *s)
{
    struct nea_ip r;
    assert_true(nea_ip_parse(s, &r) > 0);
    return r;
}

static void test_parse(void **state)
{
    (void)state;
    struct nea_ip r;
    assert_int_equal(nea_ip_parse("192.0.2.1", &r), AF_INET);
    assert_int_equal(nea_ip_parse("2001:db8::1", &r), AF_INET6);
    assert_int_equal(nea_ip_parse("::ffff:192.0.2.1", &r), AF_INET6);
    const char *bad[] = {"", "192.0.2", "192.0.2.256", "192.0.2.1/24", " 192.0.2.1",
                         "192.0.2.01", "2001:db8::1::2", "2001:db8::g", "fe80::1%eth0",
                         "1.2.3.4.5", "0x1.2.3.4", "localhost"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(nea_ip_parse(bad[i], &r), -1);
}

static void test_format_roundtrip(void **state)
{
    (void)state;
    char out[NEA_IP_STRLEN];
    struct nea_ip a = ip("2001:0db8:0000::0010");
    nea_ip_format(&a, out);
    assert_string_equal(out, "2001:db8::10");
    a = ip("198.51.100.7");
    nea_ip_format(&a, out);
    assert_string_equal(out, "198.51.100.7");
}

static void test_netmask(void **state)
{
    (void)state;
    struct nea_ip m = ip("255.255.255.0");
    assert_int_equal(nea_netmask_prefix(&m), 24);
    m = ip("255.255.255.254");
    assert_int_equal(nea_netmask_prefix(&m), 31);
    m = ip("0.0.0.0");
    assert_int_equal(nea_netmask_prefix(&m), 0);
    m = ip("255.255.255.255");
    assert_int_equal(nea_netmask_prefix(&m), 32);
    m = ip("255.0.255.0");
    assert_int_equal(nea_netmask_prefix(&m), -1);
    m = ip("255.255.255.1");
    assert_int_equal(nea_netmask_prefix(&m), -1);
    for (unsigned p = 0; p <= 32; p++) {
        struct nea_ip mm;
        nea_prefix_netmask(AF_INET, p, &mm);
        assert_int_equal(nea_netmask_prefix(&mm), (int)p);
    }
    for (unsigned p = 0; p <= 128; p++) {
        struct nea_ip mm;
        nea_prefix_netmask(AF_INET6, p, &mm);
        assert_int_equal(nea_netmask_prefix(&mm), (int)p);
    }
}

static void test_network_broadcast(void **state)
{
    (void)state;
    char out[NEA_IP_STRLEN];
    struct nea_ip a = ip("192.0.2.77"), r;
    nea_ip_network(&a, 26, &r);
    nea_ip_format(&r, out);
    assert_string_equal(out, "192.0.2.64");
    nea_ip_broadcast(&a, 26, &r);
    nea_ip_format(&r, out);
    assert_string_equal(out, "192.0.2.127");
    a = ip("2001:db8:1:2:3:4:5:6");
    nea_ip_network(&a, 64, &r);
    nea_ip_format(&r, out);
    assert_string_equal(out, "2001:db8:1:2::");
    nea_ip_network(&a, 0, &r);
    nea_ip_format(&r, out);
    assert_string_equal(out, "::");
    nea_ip_network(&a, 128, &r);
    assert_true(nea_ip_equal(&a, &r));
}

static void test_subnet(void **state)
{
    (void)state;
    struct nea_ip a = ip("192.0.2.10"), g = ip("192.0.2.1"), o = ip("198.51.100.1");
    assert_true(nea_ip_in_subnet(&g, &a, 24));
    assert_false(nea_ip_in_subnet(&o, &a, 24));
    assert_true(nea_ip_in_subnet(&o, &a, 0));
    struct nea_ip v6 = ip("2001:db8::1");
    assert_false(nea_ip_in_subnet(&v6, &a, 0)); /* families never mix */
    struct nea_ip b = ip("2001:db8::10"), c = ip("2001:db8:0:1::1");
    assert_true(nea_ip_in_subnet(&v6, &b, 64));
    assert_false(nea_ip_in_subnet(&c, &b, 64));
    assert_true(nea_ip_in_subnet(&c, &b, 47));
}

static void test_kind(void **state)
{
    (void)state;
    struct {
        const char *s;
        enum nea_ip_kind k;
    } cases[] = {
        {"192.0.2.1", NEA_IP_UNICAST},     {"0.0.0.0", NEA_IP_UNSPECIFIED},
        {"0.1.2.3", NEA_IP_RESERVED},      {"127.0.0.1", NEA_IP_LOOPBACK},
        {"169.254.1.1", NEA_IP_LINK_LOCAL}, {"224.0.0.1", NEA_IP_MULTICAST},
        {"239.255.255.255", NEA_IP_MULTICAST}, {"240.0.0.1", NEA_IP_RESERVED},
        {"255.255.255.255", NEA_IP_RESERVED}, {"2001:db8::1", NEA_IP_UNICAST},
        {"::", NEA_IP_UNSPECIFIED},        {"::1", NEA_IP_LOOPBACK},
        {"ff02::1", NEA_IP_MULTICAST},     {"fe80::1", NEA_IP_LINK_LOCAL},
        {"febf::1", NEA_IP_LINK_LOCAL},    {"fec0::1", NEA_IP_UNICAST},
        {"::ffff:192.0.2.1", NEA_IP_V4_MAPPED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct nea_ip a = ip(cases[i].s);
        assert_int_equal(nea_ip_kind(&a), cases[i].k);
    }
}

static void test_cmp(void **state)
{
    (void)state;
    struct nea_ip a = ip("192.0.2.1"), b = ip("192.0.2.2"), c = ip("::1");
    assert_true(nea_ip_cmp(&a, &b) < 0);
    assert_true(nea_ip_cmp(&b, &a) > 0);
    assert_true(nea_ip_cmp(&a, &c) < 0);
    assert_int_equal(nea_ip_cmp(&a, &a), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),       cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_netmask),     cmocka_unit_test(test_network_broadcast),
        cmocka_unit_test(test_subnet),      cmocka_unit_test(test_kind),
        cmocka_unit_test(test_cmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

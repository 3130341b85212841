/* The public IP pool, allocations and rules in the state database. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nea_pool.h"
#include "nea_tnet_state.h"
#include "nea_util.h"

static struct nea_state *open_tmp(void)
{
    char dir[] = "/tmp/nea-pool-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = nea_xasprintf("%s/state.db", dir);
    struct nea_state *st = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_state_open(path, &st, &err), NEA_OK);
    free(path);
    return st;
}

static void add(struct nea_state *st, const char *range, int want)
{
    struct nea_ip a, b;
    assert_null(nea_ip_range_parse(range, &a, &b));
    struct nea_err err = {0};
    int rc = nea_pool_add(st, &a, &b, &err);
    if (rc != want)
        fail_msg("pool add %s: %d %s", range, rc, err.msg);
}

static char *ipstr(const struct nea_ip *ip)
{
    char a[NEA_IP_STRLEN];
    nea_ip_format(ip, a);
    return nea_xstrdup(a);
}

static void test_ranges(void **state)
{
    (void)state;
    struct nea_ip a, b;
    assert_null(nea_ip_range_parse("203.0.113.32/28", &a, &b));
    assert_int_equal(nea_ip_span(&a, &b), 16);
    assert_null(nea_ip_range_parse("2001:db8:100::10-2001:db8:100::1f", &a, &b));
    assert_int_equal(nea_ip_span(&a, &b), 16);
    assert_int_equal(nea_ip_span(&a, &a), 1);
    assert_null(nea_ip_range_parse("2001:db8::/64", &a, &b));
    assert_int_equal(nea_ip_span(&a, &b), UINT64_MAX);
    assert_non_null(nea_ip_range_parse("203.0.113.33/28", &a, &b));  /* host bits */
    assert_non_null(nea_ip_range_parse("203.0.113.9-203.0.113.1", &a, &b));
    assert_non_null(nea_ip_range_parse("203.0.113.1-2001:db8::1", &a, &b));
    assert_non_null(nea_ip_range_parse("203.0.113.1/33", &a, &b));
    assert_non_null(nea_ip_range_parse("nonsense", &a, &b));
    struct nea_ip x;
    nea_ip_parse("203.0.113.255", &x);
    assert_true(nea_ip_next(&x));
    char *s = ipstr(&x);
    assert_string_equal(s, "203.0.114.0");
    free(s);
    assert_true(nea_ip_prev(&x));
    nea_ip_parse("255.255.255.255", &x);
    assert_false(nea_ip_next(&x));
}

static void test_add_remove_list(void **state)
{
    (void)state;
    struct nea_state *st = open_tmp();
    add(st, "203.0.113.16-203.0.113.31", NEA_OK);
    add(st, "203.0.113.5", NEA_OK);
    add(st, "203.0.113.20/30", NEA_ERR_INVALID);        /* overlap */
    add(st, "203.0.113.5", NEA_ERR_INVALID);           /* duplicate */
    add(st, "198.18.0.0/15", NEA_ERR_INVALID);         /* 131072 > cap */
    add(st, "2001:db8:100::/112", NEA_OK);             /* exactly the cap */
    add(st, "2001:db8:200::/64", NEA_ERR_INVALID);
    add(st, "224.0.0.0/28", NEA_ERR_INVALID);          /* multicast */
    struct nea_pool_run *v = NULL;
    size_t n = 0;
    struct nea_pool_summary sum;
    struct nea_err err = {0};
    assert_int_equal(nea_pool_list(st, &v, &n, &sum, &err), NEA_OK);
    assert_int_equal(n, 3); /* one row per addition: a /112 is not 65536 rows */
    assert_int_equal(sum.free4, 17);
    assert_int_equal(sum.free6, 65536);
    nea_pool_runs_free(v, n);

    /* remove the middle of a range: it is split */
    struct nea_ip a, b;
    char *released = NULL;
    assert_null(nea_ip_range_parse("203.0.113.20-203.0.113.21", &a, &b));
    assert_int_equal(nea_pool_remove(st, &a, &b, false, &released, &err), NEA_OK);
    assert_null(released);
    assert_int_equal(nea_pool_list(st, &v, &n, &sum, &err), NEA_OK);
    assert_int_equal(sum.free4, 15);
    assert_int_equal(n, 4);
    nea_pool_runs_free(v, n);
    assert_null(nea_ip_range_parse("198.51.100.1", &a, &b));
    assert_int_equal(nea_pool_remove(st, &a, &b, false, &released, &err), NEA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "not in the pool"));
    nea_state_close(st);
}

static void test_allocate(void **state)
{
    (void)state;
    struct nea_state *st = open_tmp();
    add(st, "203.0.113.16-203.0.113.19", NEA_OK);
    add(st, "2001:db8:100::10-2001:db8:100::11", NEA_OK);
    struct nea_ip *v = NULL;
    size_t n = 0;
    struct nea_err err = {0};
    /* dry run writes nothing */
    assert_int_equal(nea_pool_allocate(st, "acme", 2, 1, true, &v, &n, &err), NEA_OK);
    assert_int_equal(n, 3);
    free(v);
    assert_int_equal(nea_pool_allocate(st, "globex", 4, 2, true, &v, &n, &err), NEA_OK);
    assert_int_equal(n, 6);
    free(v);
    /* lowest free first */
    assert_int_equal(nea_pool_allocate(st, "acme", 2, 1, false, &v, &n, &err), NEA_OK);
    char *s = ipstr(&v[0]);
    assert_string_equal(s, "203.0.113.16");
    free(s);
    s = ipstr(&v[2]);
    assert_string_equal(s, "2001:db8:100::10");
    free(s);
    free(v);
    /* not enough: refused whole, nothing changed */
    assert_int_equal(nea_pool_allocate(st, "globex", 3, 0, false, &v, &n, &err),
                     NEA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "needs 3 more addresses but only 2 are free"));
    /* it names the family, not the spec's field: the caller adds that */
    assert_non_null(strstr(err.msg, "(IPv4)"));
    assert_null(strstr(err.msg, "public-ips"));
    nea_err_clear(&err);
    struct nea_pool_run *runs = NULL;
    size_t nr = 0;
    struct nea_pool_summary sum;
    assert_int_equal(nea_pool_list(st, &runs, &nr, &sum, &err), NEA_OK);
    assert_int_equal(sum.assigned4, 2);
    assert_int_equal(sum.assigned6, 1);
    nea_pool_runs_free(runs, nr);
    /* unchanged count changes nothing; growing keeps what it had */
    assert_int_equal(nea_pool_allocate(st, "acme", 3, 1, false, &v, &n, &err), NEA_OK);
    assert_int_equal(n, 4);
    s = ipstr(&v[2]);
    assert_string_equal(s, "203.0.113.18");
    free(s);
    free(v);

    /* rules: allocated to the tenant, same family, not port 22, unique */
    struct nea_rule r = {0};
    unsigned port;
    enum nea_proto proto;
    assert_null(nea_endpoint_parse("203.0.113.18:443/tcp", true, &r.pub, &r.pub_port,
                                   &r.proto));
    assert_null(nea_endpoint_parse("192.0.2.50:8443", false, &r.to, &r.to_port, &proto));
    r.description = "web";
    assert_int_equal(nea_rule_add(st, "acme", &r, &err), NEA_OK);
    assert_int_equal(nea_rule_add(st, "acme", &r, &err), NEA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "exists already"));
    nea_err_clear(&err);
    assert_int_equal(nea_rule_add(st, "globex", &r, &err), NEA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "allocated to another tenant"));
    nea_err_clear(&err);
    struct nea_rule bad = r;
    bad.pub_port = 22;
    assert_int_equal(nea_rule_add(st, "acme", &bad, &err), NEA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "port 22 is reserved"));
    nea_err_clear(&err);
    bad = r;
    nea_ip_parse("2001:db8:5::5", &bad.to);
    assert_int_equal(nea_rule_add(st, "acme", &bad, &err), NEA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "different families"));
    nea_err_clear(&err);
    bad = r;
    bad.description = "bad\"quote";
    assert_int_equal(nea_rule_add(st, "acme", &bad, &err), NEA_ERR_INVALID);
    nea_err_clear(&err);
    assert_non_null(nea_endpoint_parse("203.0.113.18:0/tcp", true, &bad.pub, &port, &proto));
    assert_non_null(nea_endpoint_parse("203.0.113.18:443/icmp", true, &bad.pub, &port,
                                       &proto));
    assert_non_null(nea_endpoint_parse("2001:db8::1:443/tcp", true, &bad.pub, &port, &proto));
    assert_null(nea_endpoint_parse("[2001:db8:100::10]:443/udp", true, &bad.pub, &port,
                                   &proto));
    assert_int_equal(proto, NEA_PROTO_UDP);

    /* shrinking releases the highest first, but not one a rule uses */
    assert_int_equal(nea_pool_allocate(st, "acme", 2, 1, false, &v, &n, &err),
                     NEA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "remove the rule first"));
    assert_null(strstr(err.msg, "public-ips"));
    nea_err_clear(&err);
    assert_int_equal(nea_rule_remove(st, "acme", &r.pub, 443, NEA_PROTO_TCP, &err), NEA_OK);
    assert_int_equal(nea_rule_remove(st, "acme", &r.pub, 443, NEA_PROTO_TCP, &err),
                     NEA_ERR_INVALID);
    nea_err_clear(&err);
    assert_int_equal(nea_pool_allocate(st, "acme", 1, 0, false, &v, &n, &err), NEA_OK);
    assert_int_equal(n, 1);
    s = ipstr(&v[0]);
    assert_string_equal(s, "203.0.113.16");
    free(s);
    free(v);

    /* pool remove of an assigned address needs --force, which releases it */
    struct nea_ip a, b;
    char *released = NULL;
    nea_ip_range_parse("203.0.113.16", &a, &b);
    assert_int_equal(nea_pool_remove(st, &a, &b, false, &released, &err), NEA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "203.0.113.16 (tenant acme)"));
    assert_null(strstr(err.msg, "--")); /* the CLI names its --force */
    assert_ptr_equal(released, NULL);
    nea_err_clear(&err);
    assert_int_equal(nea_pool_remove(st, &a, &b, true, &released, &err), NEA_OK);
    assert_non_null(strstr(released, "203.0.113.16 (tenant acme)"));
    free(released);
    /* release all */
    assert_int_equal(nea_pool_allocate(st, "globex", 1, 2, false, &v, &n, &err), NEA_OK);
    free(v);
    assert_int_equal(nea_pool_release(st, "globex", &err), NEA_OK);
    assert_int_equal(nea_pool_list(st, &runs, &nr, &sum, &err), NEA_OK);
    assert_int_equal(sum.assigned4 + sum.assigned6, 0);
    nea_pool_runs_free(runs, nr);
    nea_state_close(st);
}

/* Rule endpoints take the documented syntax and nothing else
 * (docs/pool.md): IPv4:PORT, [IPv6]:PORT, a decimal port 1-65535, and
 * /tcp or /udp after a public endpoint only. */
static void test_endpoint_syntax(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool pub;
        const char *why; /* NULL: accepted; else a part of the reason */
    } cases[] = {
        {"203.0.113.5:443/tcp", true, NULL},
        {"203.0.113.5:1/udp", true, NULL},
        {"203.0.113.5:65535/tcp", true, NULL},
        {"[2001:db8:100::10]:53/udp", true, NULL},
        {"192.0.2.50:8443", false, NULL},
        {"[2001:db8:5::5]:5353", false, NULL},
        /* a protocol where none is allowed, or none where one is needed */
        {"192.0.2.50:8443/udp", false, "takes no protocol"},
        {"192.0.2.50:8443/tcp", false, "protocol of its public endpoint"},
        {"[2001:db8:5::5]:53/udp", false, "takes no protocol"},
        {"192.0.2.50:8443/", false, "takes no protocol"},
        {"203.0.113.5:443", true, "needs a protocol"},
        {"203.0.113.5:443/", true, "other than tcp or udp"},
        {"203.0.113.5:443/TCP", true, "other than tcp or udp"},
        {"203.0.113.5:443/icmp", true, "other than tcp or udp"},
        {"203.0.113.5:443/tcp/udp", true, "other than tcp or udp"},
        {"203.0.113.5:443/tcp ", true, "other than tcp or udp"},
        {"203.0.113.5:443/tcp\n", true, "other than tcp or udp"},
        /* ports */
        {"192.0.2.50:0", false, "outside 1..65535"},
        {"192.0.2.50:65536", false, "outside 1..65535"},
        {"192.0.2.50:99999", false, "outside 1..65535"},
        {"192.0.2.50:4294967297", false, "outside 1..65535"},
        {"192.0.2.50:18446744073709551617", false, "outside 1..65535"},
        {"192.0.2.50:080", false, "leading zero"},
        {"192.0.2.50:00", false, "leading zero"},
        {"192.0.2.50:+80", false, "no port number"},
        {"192.0.2.50:-80", false, "no port number"},
        {"192.0.2.50: 80", false, "no port number"},
        {"192.0.2.50:", false, "no port number"},
        {"192.0.2.50:0x50", false, "after the port"},
        {"192.0.2.50:80 ", false, "after the port"},
        {"192.0.2.50:8 0", false, "after the port"},
        {"192.0.2.50:80abc", false, "after the port"},
        {"203.0.113.5:443tcp", true, "after the port"},
        /* addresses */
        {"192.0.2.50", false, "needs a port"},
        {" 192.0.2.50:80", false, "valid IPv4"},
        {"192.0.2.50 :80", false, "valid IPv4"},
        {"192.0.2.050:80", false, "valid IPv4"},
        {":80", false, "valid IPv4"},
        {"192.0.2.50:80:81", false, "without brackets"},
        {"2001:db8::5:80", false, "without brackets"},
        {"[192.0.2.50]:80", false, "brackets are for IPv6"},
        {"[2001:db8::5]80", false, "[IPv6-ADDRESS]:PORT"},
        {"[2001:db8::5]", false, "[IPv6-ADDRESS]:PORT"},
        {"[[2001:db8::5]]:80", false, "[IPv6-ADDRESS]:PORT"},
        {"[[2001:db8::5]:80", false, "IPv6 address in its brackets"},
        {"[fe80::1%eth0]:80", false, "IPv6 address in its brackets"},
        {"[ 2001:db8::5]:80", false, "IPv6 address in its brackets"},
        {"", false, "needs a port"},
    };
    for (size_t i = 0; i < NEA_ARRAY_SIZE(cases); i++) {
        struct nea_ip ip;
        unsigned port = 12345;
        enum nea_proto proto = NEA_PROTO_UDP;
        const char *why = nea_endpoint_parse(cases[i].s, cases[i].pub, &ip, &port, &proto);
        if (!cases[i].why && why)
            fail_msg("\"%s\" refused: %s", cases[i].s, why);
        if (cases[i].why && (!why || !strstr(why, cases[i].why)))
            fail_msg("\"%s\": want \"%s\", got %s", cases[i].s, cases[i].why,
                     why ? why : "accepted");
        /* the reason names no option (the caller knows its own), and a
         * refusal writes nothing */
        if (why && strstr(why, "--"))
            fail_msg("\"%s\": the reason names an option: %s", cases[i].s, why);
        if (why && (port != 12345 || proto != NEA_PROTO_UDP))
            fail_msg("\"%s\": refused, but its port or protocol was written", cases[i].s);
    }
    struct nea_ip ip;
    unsigned port = 0;
    enum nea_proto proto = NEA_PROTO_UDP;
    assert_null(nea_endpoint_parse("203.0.113.5:65535/udp", true, &ip, &port, &proto));
    assert_int_equal(port, 65535);
    assert_int_equal(proto, NEA_PROTO_UDP);
    assert_null(nea_endpoint_parse("192.0.2.50:1", false, &ip, &port, &proto));
    assert_int_equal(port, 1);
}

static void rule_on(struct nea_state *st, const char *tenant, const char *pub, unsigned port,
                    int want)
{
    struct nea_rule r = {0};
    assert_null(nea_endpoint_parse(pub, true, &r.pub, &r.pub_port, &r.proto));
    r.pub_port = port;
    enum nea_proto ignored;
    assert_null(nea_endpoint_parse("192.0.2.50:8443", false, &r.to, &r.to_port, &ignored));
    struct nea_err err = {0};
    int rc = nea_rule_add(st, tenant, &r, &err);
    if (rc != want)
        fail_msg("rule add %s port %u: %d %s", tenant, port, rc, err.msg);
}

static size_t count_rules(struct nea_state *st, const char *tenant)
{
    struct nea_rule *v = NULL;
    size_t n = 0;
    struct nea_err err = {0};
    assert_int_equal(nea_rule_list(st, tenant, &v, NULL, &n, &err), NEA_OK);
    nea_rules_free(v, NULL, n);
    return n;
}

/* A tenant holds at most NEA_RULES_PER_TENANT_MAX rules: the next one is
 * refused naming the tenant and the limit, nothing written; the count is
 * taken in the inserting transaction, so adds racing at the limit from
 * several processes never pass it together. */
static void test_rule_limit(void **state)
{
    (void)state;
    char dir[] = "/tmp/nea-pool-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = nea_xasprintf("%s/state.db", dir);
    struct nea_state *st = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_state_open(path, &st, &err), NEA_OK);
    add(st, "203.0.113.16-203.0.113.17", NEA_OK);
    struct nea_ip *v = NULL;
    size_t n = 0;
    assert_int_equal(nea_pool_allocate(st, "acme", 1, 0, false, &v, &n, &err), NEA_OK);
    free(v);
    assert_int_equal(nea_pool_allocate(st, "globex", 1, 0, false, &v, &n, &err), NEA_OK);
    free(v);
    /* acme has 203.0.113.16, globex 203.0.113.17 */
    const unsigned max = NEA_RULES_PER_TENANT_MAX;
    assert_int_equal(max, 1000);
    unsigned port = 1;
    for (unsigned i = 0; i < max - 8; i++, port++) {
        if (port == 22)
            port++;
        rule_on(st, "acme", "203.0.113.16:1/tcp", port, NEA_OK);
    }
    assert_int_equal(count_rules(st, "acme"), max - 8);

    /* 16 processes add one rule each at once, 8 below the limit */
    pid_t kids[16];
    for (size_t k = 0; k < NEA_ARRAY_SIZE(kids); k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            struct nea_state *cst = NULL;
            if (nea_state_open(path, &cst, NULL) < 0)
                _exit(3);
            struct nea_rule r = {0};
            nea_endpoint_parse("203.0.113.16:1/tcp", true, &r.pub, &r.pub_port, &r.proto);
            r.pub_port = 2000 + (unsigned)k;
            enum nea_proto ignored;
            nea_endpoint_parse("192.0.2.50:8443", false, &r.to, &r.to_port, &ignored);
            int rc = nea_rule_add(cst, "acme", &r, NULL);
            nea_state_close(cst);
            _exit(rc == NEA_OK ? 0 : rc == NEA_ERR_INVALID ? 2 : 1);
        }
    }
    int ok = 0, refused = 0;
    for (size_t k = 0; k < NEA_ARRAY_SIZE(kids); k++) {
        int status;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status));
        ok += WEXITSTATUS(status) == 0;
        refused += WEXITSTATUS(status) == 2;
    }
    assert_int_equal(ok, 8);
    assert_int_equal(refused, 8);
    assert_int_equal(count_rules(st, "acme"), max);

    /* the next one: refused, naming the tenant and the limit */
    struct nea_rule r = {0};
    assert_null(nea_endpoint_parse("203.0.113.16:3000/udp", true, &r.pub, &r.pub_port,
                                   &r.proto));
    assert_null(nea_endpoint_parse("192.0.2.50:53", false, &r.to, &r.to_port, &r.proto));
    r.proto = NEA_PROTO_UDP;
    nea_err_clear(&err);
    assert_int_equal(nea_rule_add(st, "acme", &r, &err), NEA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "tenant acme"));
    assert_non_null(strstr(err.msg, "(1000)"));
    assert_non_null(strstr(err.msg, "nothing was added"));
    assert_int_equal(count_rules(st, "acme"), max);
    /* another tenant has a budget of its own */
    rule_on(st, "globex", "203.0.113.17:1/tcp", 443, NEA_OK);
    /* and a removal makes room again */
    nea_err_clear(&err);
    assert_int_equal(nea_rule_remove(st, "acme", &r.pub, 1, NEA_PROTO_TCP, &err), NEA_OK);
    nea_err_clear(&err);
    assert_int_equal(nea_rule_add(st, "acme", &r, &err), NEA_OK);
    assert_int_equal(count_rules(st, "acme"), max);
    nea_state_close(st);
    free(path);
}

/* VLAN tags of tenant networks: 12 processes at once, each a tenant with
 * one network, over a range of 8 tags on one host and switch: 8 get a tag
 * each, none twice, 4 are refused naming the range; another switch or host
 * has a range of its own; slots are per tenant and kept; release frees. */
static void test_tnet_vlans(void **state)
{
    (void)state;
    char dir[] = "/tmp/nea-pool-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = nea_xasprintf("%s/state.db", dir);
    struct nea_state *st = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_state_open(path, &st, &err), NEA_OK);
    pid_t kids[12];
    for (size_t k = 0; k < NEA_ARRAY_SIZE(kids); k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            struct nea_state *cst = NULL;
            if (nea_state_open(path, &cst, NULL) < 0)
                _exit(3);
            char tenant[16];
            snprintf(tenant, sizeof(tenant), "t%zu", k);
            const char *names[] = {"web"};
            unsigned slot = 0, vlan = 0;
            int rc = nea_tnet_assign(cst, tenant, names, 1, 4, "qemu:///system", "br-tn",
                                     100, 107, false, &slot, &vlan, NULL);
            nea_state_close(cst);
            _exit(rc == NEA_OK ? 0 : rc == NEA_ERR_CONFLICT ? 2 : 1);
        }
    }
    int ok = 0, refused = 0;
    for (size_t k = 0; k < NEA_ARRAY_SIZE(kids); k++) {
        int status;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status));
        ok += WEXITSTATUS(status) == 0;
        refused += WEXITSTATUS(status) == 2;
    }
    assert_int_equal(ok, 8);
    assert_int_equal(refused, 4);
    /* 8 distinct tags: one tenant each */
    size_t held_total = 0;
    for (size_t k = 0; k < NEA_ARRAY_SIZE(kids); k++) {
        char tenant[16];
        snprintf(tenant, sizeof(tenant), "t%zu", k);
        size_t h = 0;
        assert_int_equal(nea_tnet_vlans_held(st, tenant, &h, &err), NEA_OK);
        assert_true(h <= 1);
        held_total += h;
    }
    assert_int_equal(held_total, 8);
    const char *names[] = {"web", "db"};
    unsigned slots[2], vlans[2];
    /* full on this switch: refused with the range named, nothing written */
    assert_int_equal(nea_tnet_assign(st, "late", names, 2, 4, "qemu:///system", "br-tn", 100,
                                     107, false, slots, vlans, &err), NEA_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "tenant-networks.vlans 100-107 is exhausted"));
    nea_err_clear(&err);
    size_t h = 0;
    assert_int_equal(nea_tnet_vlans_held(st, "late", &h, &err), NEA_OK);
    assert_int_equal(h, 0);
    /* another switch: its own tags; slots 0 and 1 */
    assert_int_equal(nea_tnet_assign(st, "late", names, 2, 4, "qemu:///system", "br-other",
                                     100, 107, false, slots, vlans, &err), NEA_OK);
    assert_int_equal(vlans[0], 100);
    assert_int_equal(vlans[1], 101);
    assert_int_equal(slots[0], 0);
    assert_int_equal(slots[1], 1);
    /* a dry run of one more network: the next slot and tag, nothing written */
    const char *three[] = {"web", "db", "app"};
    unsigned s3[3], v3[3];
    assert_int_equal(nea_tnet_assign(st, "late", three, 3, 4, "qemu:///system", "br-other",
                                     100, 107, true, s3, v3, &err), NEA_OK);
    assert_int_equal(s3[2], 2);
    assert_int_equal(v3[2], 102);
    assert_int_equal(nea_tnet_vlans_held(st, "late", &h, &err), NEA_OK);
    assert_int_equal(h, 2);
    /* web goes: its slot and tag are free; db keeps slot 1 */
    const char *keep[] = {"db"};
    assert_int_equal(nea_tnet_release(st, "late", keep, 1, "qemu:///system", "br-other", &err),
                     NEA_OK);
    const char *next[] = {"db", "app"};
    assert_int_equal(nea_tnet_assign(st, "late", next, 2, 4, "qemu:///system", "br-other", 100,
                                     107, false, slots, vlans, &err), NEA_OK);
    assert_int_equal(slots[0], 1);
    assert_int_equal(vlans[0], 101);
    assert_int_equal(slots[1], 0);
    assert_int_equal(vlans[1], 100);
    /* no free slot below max */
    const char *many[] = {"db", "app", "a", "b", "c"};
    unsigned s5[5], v5[5];
    assert_int_equal(nea_tnet_assign(st, "late", many, 5, 4, "qemu:///system", "br-other",
                                     100, 107, false, s5, v5, &err), NEA_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "no free vNIC slot"));
    nea_err_clear(&err);
    assert_int_equal(nea_tnet_release(st, "late", NULL, 0, NULL, NULL, &err), NEA_OK);
    assert_int_equal(nea_tnet_vlans_held(st, "late", &h, &err), NEA_OK);
    assert_int_equal(h, 0);
    nea_state_close(st);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_add_remove_list),
        cmocka_unit_test(test_allocate),
        cmocka_unit_test(test_endpoint_syntax),
        cmocka_unit_test(test_rule_limit),
        cmocka_unit_test(test_tnet_vlans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

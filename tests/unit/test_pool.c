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
#include <unistd.h>

#include "nea_pool.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_add_remove_list),
        cmocka_unit_test(test_allocate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

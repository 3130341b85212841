/*
 * The libvirt layer's own vocabulary and limits, on libvirt's in-process
 * test driver: the fault operations NEAPROV_FAULT names, the names of live
 * states and network kinds, out-parameters left alone on failure, and the
 * cap on the addresses a NIC is reported with.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nea_addr.h"
#include "nea_netref.h"
#include "nea_util.h"
#include "nea_virt.h"

static void test_names(void **state)
{
    (void)state;
    /* every operation a fault can be injected into, by the name
     * NEAPROV_FAULT uses (docs/cli.md), and nothing else */
    static const char *const ops[] = {"list-networks", "lookup", "vol-upload",
                                      "vol-create", "vol-delete", "define", "start",
                                      "stop", "undefine", "rename", "update-device",
                                      "set-metadata", "net-define", "net-remove",
                                      "attach-device", "detach-device"};
    assert_int_equal(NEA_ARRAY_SIZE(ops), NEA_FAULT_LAST);
    for (size_t i = 0; i < NEA_ARRAY_SIZE(ops); i++) {
        assert_int_equal(nea_fault_op_parse(ops[i]), (int)i);
        assert_string_equal(nea_fault_op_name((int)i), ops[i]);
    }
    assert_int_equal(nea_fault_op_parse("nonsense"), -1);
    assert_int_equal(nea_fault_op_parse("Define"), -1);
    assert_int_equal(nea_fault_op_parse(NULL), -1);
    assert_string_equal(nea_fault_op_name(NEA_FAULT_LAST), "?");

    assert_string_equal(nea_dom_state_name(NEA_DOM_MISSING), "missing");
    assert_string_equal(nea_dom_state_name(NEA_DOM_RUNNING), "running");
    assert_string_equal(nea_dom_state_name(NEA_DOM_SHUTOFF), "shut off");
    assert_string_equal(nea_dom_state_name(NEA_DOM_OTHER), "paused or crashed");
    assert_string_equal(nea_net_kind_name(NEA_NET_BRIDGE), "bridge");
    assert_string_equal(nea_net_kind_name(NEA_NET_OVS), "openvswitch");
    assert_string_equal(nea_net_kind_name(NEA_NET_LIBVIRT), "libvirt network");
    assert_string_equal(nea_net_kind_name(-1), "?");
    /* one parser and writer of network references for spec, virt, engine */
    const char *name = NULL;
    assert_int_equal(nea_netref_split("br-ext", &name), NEA_NET_BRIDGE);
    assert_string_equal(name, "br-ext");
    assert_int_equal(nea_netref_split("ovs:br-sp", &name), NEA_NET_OVS);
    assert_string_equal(name, "br-sp");
    assert_int_equal(nea_netref_split("network:default", &name), NEA_NET_LIBVIRT);
    assert_string_equal(name, "default");
    for (int k = 0; k < NEA_NET_KIND_LAST; k++) {
        char *ref = nea_netref_format((enum nea_net_kind)k, "x");
        assert_int_equal(nea_netref_split(ref, &name), k);
        assert_string_equal(name, "x");
        free(ref);
    }
}

/* An injected fault names its operation; what a failing call would have
 * returned is left as it was. */
static void test_fault_leaves_outputs(void **state)
{
    (void)state;
    struct nea_err err = {0};
    NEA_AUTO(nea_host_closep) struct nea_host *h = NULL;
    assert_int_equal(nea_host_open("test:///default", &h, &err), NEA_OK);

    struct nea_dom_info info = {.state = NEA_DOM_OTHER, .tenant = (char *)"marker"};
    nea_host_set_fault(h, "lookup", 1, false);
    assert_int_equal(nea_host_dom_info(h, "test", &info, &err), NEA_ERR_HOST);
    assert_non_null(strstr(err.msg, "lookup failed: injected fault"));
    assert_int_equal(info.state, NEA_DOM_OTHER);
    assert_string_equal(info.tenant, "marker");
    /* the next call is not the first any more */
    nea_err_clear(&err);
    assert_int_equal(nea_host_dom_info(h, "test", &info, &err), NEA_OK);
    assert_int_equal(info.state, NEA_DOM_RUNNING);
    nea_dom_info_clear(&info);
    assert_int_equal(nea_host_dom_info(h, "no-such-domain", &info, &err), NEA_OK);
    assert_int_equal(info.state, NEA_DOM_MISSING);
    nea_dom_info_clear(&info);

    struct nea_host_net *nets = (struct nea_host_net *)&info;
    size_t n = 7;
    nea_host_set_fault(h, "list-networks", 1, false);
    assert_int_equal(nea_host_networks(h, &nets, &n, &err), NEA_ERR_HOST);
    assert_ptr_equal(nets, (struct nea_host_net *)&info);
    assert_int_equal(n, 7);
    nea_err_clear(&err);

    bool forced = true;
    nea_host_set_fault(h, NULL, 0, false);
    assert_int_equal(nea_host_dom_stop(h, "no-such-domain", 1, &forced, &err),
                     NEA_ERR_HOST);
    assert_true(forced);
    nea_err_clear(&err);
    char *addrs = (char *)"untouched";
    assert_int_equal(nea_host_dom_addresses(h, "no-such-domain", "52:54:00:00:00:01",
                                            &addrs, &err), NEA_ERR_HOST);
    assert_string_equal(addrs, "untouched");
    nea_err_clear(&err);
    bool exists = true;
    char *backing = (char *)"untouched";
    assert_int_equal(nea_host_vol_facts(h, "no-such-pool", "v", &exists, NULL, &backing, &err),
                     NEA_ERR_HOST);
    assert_true(exists);
    assert_string_equal(backing, "untouched");

    /* an unknown name never fires */
    nea_err_clear(&err);
    nea_host_set_fault(h, "nonsense", 1, false);
    assert_int_equal(nea_host_dom_info(h, "test", &info, &err), NEA_OK);
    nea_dom_info_clear(&info);
}

static size_t count_words(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p;) {
        p += strspn(p, " ");
        if (!*p)
            break;
        n++;
        p += strcspn(p, " ");
    }
    return n;
}

/* A neighbour table with more entries for the MAC than any appliance can
 * have addresses: NEA_HOST_ADDRS_MAX are taken, the rest left out; entries
 * that are not IP addresses, and overlong lines, are skipped. */
static void test_arp_cap(void **state)
{
    (void)state;
    FILE *table = tmpfile();
    assert_non_null(table);
    fprintf(table, "IP address       HW type     Flags       HW address            Mask     "
                   "Device\n");
    fprintf(table, "not-an-address   0x1         0x2         52:54:00:ab:cd:01     *        "
                   "br-ext\n");
    fprintf(table, "%0600d 0x1 0x2 52:54:00:ab:cd:01 * br-ext\n", 7);
    for (unsigned i = 0; i < NEA_HOST_ADDRS_MAX + 1000; i++)
        fprintf(table, "10.%u.%u.%u   0x1   0x2   52:54:00:ab:cd:01   *   br-ext\n",
                (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
    rewind(table);
    FILE *found = tmpfile();
    assert_non_null(found);
    bool any = false;
    assert_int_equal(nea_arp_table_lookup(table, "52:54:00:ab:cd:01", found, &any), 0);
    fclose(table);
    assert_true(any);
    long size = ftell(found);
    assert_true(size > 0);
    NEA_AUTOFREE char *list = nea_xcalloc(1, (size_t)size + 1);
    rewind(found);
    assert_int_equal(fread(list, 1, (size_t)size, found), (size_t)size);
    fclose(found);
    assert_int_equal(count_words(list), NEA_HOST_ADDRS_MAX);
    assert_true(nea_str_has_prefix(list, "10.0.0.0 10.0.0.1 "));
    assert_null(strstr(list, "not-an-address"));
    for (char *save = NULL, *a = strtok_r(list, " ", &save); a;
         a = strtok_r(NULL, " ", &save)) {
        struct nea_ip ip;
        assert_int_equal(nea_ip_parse(a, &ip), AF_INET);
    }
}

/* The kernel's neighbour table, the last source of a DHCP guest's address:
 * only complete entries of that MAC, any case. */
static void test_arp_table(void **state)
{
    (void)state;
    static const char table[] =
        "IP address       HW type     Flags       HW address            Mask     Device\n"
        "192.0.2.101      0x1         0x2         52:54:00:AB:cd:01     *        br-ext\n"
        "192.0.2.102      0x1         0x0         52:54:00:ab:cd:01     *        br-ext\n"
        "192.0.2.103      0x1         0x2         52:54:00:ab:cd:02     *        br-ext\n"
        "garbage\n"
        "198.51.100.7     0x1         0x6         52:54:00:ab:cd:01     *        br-ext\n";
    FILE *in = fmemopen((void *)table, sizeof(table) - 1, "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    bool any = false;
    nea_arp_table_lookup(in, "52:54:00:ab:cd:01", out, &any);
    fclose(in);
    fclose(out);
    assert_true(any);
    assert_string_equal(buf, "192.0.2.101 198.51.100.7");
    free(buf);
    /* a header alone, or nothing at all */
    in = fmemopen((void *)table, 80, "r");
    out = open_memstream(&buf, &len);
    any = false;
    nea_arp_table_lookup(in, "52:54:00:ab:cd:01", out, &any);
    fclose(in);
    fclose(out);
    assert_false(any);
    assert_string_equal(buf, "");
    free(buf);
}

int main(void)
{
    /* the test driver's own host, nothing else */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_fault_leaves_outputs),
        cmocka_unit_test(test_arp_cap),
        cmocka_unit_test(test_arp_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

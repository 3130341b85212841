/*
 * Rendering through the API: instance-id rules, ownership metadata, template
 * handling and template errors, ISO volume descriptor.  Byte-exact outputs are
 * the golden tests' job (tests/data/render/).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdio.h>
#include <stdlib.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#include "nea_iso.h"
#include "nea_nft.h"
#include "nea_render.h"
#include "nea_spec.h"
#include "nea_util.h"

static const char *const plan_dirs[] = {NEA_TEST_PLANS};
static const struct nea_load_opts lopts = {plan_dirs, 1};

static const char base[] = "tenant: acme\n"
                           "hardware-plan: gold\n"
                           "appliance:\n"
                           "  external-network: br-ext\n"
                           "  ipv4: {mode: static, address: 192.0.2.10, prefix: 24,"
                           " gateway: 192.0.2.1}\n"
                           "public-ips: {ipv4: 1}\n";

static struct nea_spec *load(const char *text)
{
    struct nea_diags d = {0};
    struct nea_err e = {0};
    struct nea_spec *s = NULL;
    assert_int_equal(nea_spec_load_buffer("t.yaml", text, strlen(text), &lopts, &s, &d,
                                          &e),
                     NEA_OK);
    nea_diags_clear(&d);
    return s;
}

static char *replace(const char *from, const char *to)
{
    const char *p = strstr(base, from);
    assert_non_null(p);
    return nea_xasprintf("%.*s%s%s", (int)(p - base), base, to, p + strlen(from));
}

static struct nea_render_opts ropts(const char *tpl)
{
    return (struct nea_render_opts){.template_path = tpl, .volume_dir = "/pool",
                                    .epoch = NEA_DEFAULT_EPOCH};
}

static void render_ok(const char *text, struct nea_artifacts *a)
{
    struct nea_spec *s = load(text);
    struct nea_render_opts o = ropts(NEA_TEMPLATE);
    struct nea_err e = {0};
    int rc = nea_render(s, &o, a, &e);
    if (rc)
        fail_msg("render: %s", e.msg);
    nea_spec_free(s);
}

static void test_instance_id(void **state)
{
    (void)state;
    struct nea_artifacts a, b, c;
    render_ok(base, &a);
    assert_true(nea_str_has_prefix(a.seed.instance_id, "acme-nea-"));
    assert_int_equal(strlen(a.seed.instance_id), strlen("acme-nea-") + 16);
    /* new address -> new instance-id, so cloud-init applies it on reboot */
    char *t = replace("192.0.2.10", "192.0.2.20");
    render_ok(t, &b);
    free(t);
    assert_string_not_equal(a.seed.instance_id, b.seed.instance_id);
    /* the public IP count is not in the seed: same instance-id, new spec hash */
    t = replace("ipv4: 1}", "ipv4: 2}");
    render_ok(t, &c);
    free(t);
    assert_string_equal(a.seed.instance_id, c.seed.instance_id);
    assert_string_not_equal(a.domain_xml, c.domain_xml);
    assert_string_equal(a.disk_volume, "acme-nea.qcow2");
    assert_string_equal(a.seed_volume, "acme-nea-seed.iso");
    nea_artifacts_clear(&a);
    nea_artifacts_clear(&b);
    nea_artifacts_clear(&c);
}

static char *xpath_str(xmlDocPtr doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathRegisterNs(ctx, BAD_CAST "n", BAD_CAST NEA_XMLNS);
    xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    char *out = NULL;
    if (r) {
        xmlChar *s = xmlXPathCastToString(r);
        out = nea_xstrdup((const char *)s);
        xmlFree(s);
        xmlXPathFreeObject(r);
    }
    xmlXPathFreeContext(ctx);
    return out;
}

static void expect_xpath(xmlDocPtr doc, const char *expr, const char *want)
{
    char *got = xpath_str(doc, expr);
    if (!got || strcmp(got, want))
        fail_msg("%s: got \"%s\", want \"%s\"", expr, got ? got : "(null)", want);
    free(got);
}

static void test_domain_content(void **state)
{
    (void)state;
    struct nea_spec *s = load(base);
    struct nea_artifacts a;
    render_ok(base, &a);
    xmlDocPtr doc = xmlReadMemory(a.domain_xml, (int)a.domain_xml_len, "d.xml", NULL, 0);
    assert_non_null(doc);
    expect_xpath(doc, "string(/domain/metadata/n:appliance/n:tenant)", "acme");
    expect_xpath(doc, "string(/domain/metadata/n:appliance/n:plan)", "gold");
    expect_xpath(doc, "string(/domain/metadata/n:appliance/n:spec-hash)", s->hash);
    expect_xpath(doc, "string(/domain/metadata/n:appliance/n:instance-id)",
                 a.seed.instance_id);
    expect_xpath(doc, "string(/domain/sysinfo/system/entry[@name='serial'])",
                 "ds=nocloud");
    expect_xpath(doc, "string(/domain/os/smbios/@mode)", "sysinfo");
    expect_xpath(doc, "string(/domain/devices/disk[@device='cdrom']/target/@bus)",
                 "sata");
    expect_xpath(doc, "string(/domain/devices/disk[@device='cdrom']/source/@file)",
                 "/pool/acme-nea-seed.iso");
    expect_xpath(doc, "string(/domain/devices/disk[@device='disk']/source/@file)",
                 "/pool/acme-nea.qcow2");
    char mac[18];
    nea_mac_format(s->mac, mac);
    expect_xpath(doc, "string(/domain/devices/interface/mac/@address)", mac);
    expect_xpath(doc, "string(/domain/devices/interface/source/@bridge)", "br-ext");
    expect_xpath(doc, "string(count(/domain/devices/serial))", "1");
    expect_xpath(doc, "string(/domain/@type)", "kvm"); /* auto renders as kvm */
    xmlFreeDoc(doc);
    nea_artifacts_clear(&a);
    nea_spec_free(s);
}

static void test_iso_header(void **state)
{
    (void)state;
    struct nea_artifacts a;
    render_ok(base, &a);
    assert_true(a.iso_len > 32768 + 2048);
    assert_true(a.iso_len % 2048 == 0);
    assert_memory_equal(a.iso + 32769, "CD001", 5);
    assert_memory_equal(a.iso + 32808, "cidata ", 7);
    nea_artifacts_clear(&a);
}

static void expect_template_error(const char *content, int code, const char *msg)
{
    char path[] = "/tmp/nea-tpl-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    if (content)
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    if (!content)
        unlink(path);
    struct nea_spec *s = load(base);
    struct nea_render_opts o = ropts(path);
    struct nea_artifacts a = {0};
    struct nea_err e = {0};
    assert_int_equal(nea_render(s, &o, &a, &e), code);
    if (!strstr(e.msg, msg))
        fail_msg("\"%s\" does not contain \"%s\"", e.msg, msg);
    assert_non_null(strstr(e.msg, path));
    assert_null(a.domain_xml);
    assert_null(a.iso);
    nea_spec_free(s);
    unlink(path);
}

static void test_template_errors(void **state)
{
    (void)state;
    expect_template_error("<domain><os>\n<devices/></domain>", NEA_ERR_INVALID,
                          "not well-formed");
    expect_template_error("<vm><os/><devices/></vm>", NEA_ERR_INVALID,
                          "root element must be <domain>");
    expect_template_error("<domain><os/></domain>", NEA_ERR_INVALID,
                          "must have <os> and <devices>");
    expect_template_error("", NEA_ERR_INVALID, "not well-formed");
    expect_template_error(NULL, NEA_ERR_IO, "cannot open");
    /* an external entity is never fetched nor expanded: its DTD is refused */
    expect_template_error("<!DOCTYPE domain [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                          "<domain>&x;<os/></domain>",
                          NEA_ERR_INVALID, "document type declaration");
}

/* A template with a DTD of any kind is refused, naming the template and
 * quoting nothing of a file the DTD names (render/err-template-* check the
 * CLI's text). */
static void test_template_dtd(void **state)
{
    (void)state;
    static const char *const dtds[] = {
        /* an internal subset: the entity would be left unresolved */
        "<!DOCTYPE domain [<!ENTITY extra \"<watchdog model='i6300esb'/>\">]>\n"
        "<domain><os/><devices>&extra;</devices></domain>",
        /* an external DTD, a local file */
        "<!DOCTYPE domain SYSTEM \"file:///etc/passwd\">\n<domain><os/><devices/></domain>",
        "<!DOCTYPE domain PUBLIC \"-//x//y\" \"/etc/passwd\">\n<domain><os/><devices/></domain>",
        /* an external parameter entity, referenced in the subset */
        "<!DOCTYPE domain [<!ENTITY % leak SYSTEM \"file:///etc/passwd\"> %leak;]>\n"
        "<domain><os/><devices/></domain>",
        /* an internal parameter entity declaring a general one */
        "<!DOCTYPE domain [<!ENTITY % p \"<!ENTITY x 'y'>\"> %p;]>\n"
        "<domain><os/><devices/></domain>",
        /* nested entities, not referenced (libxml2 2.9 refuses a referenced
         * amplification itself, as not well-formed: see below) */
        "<!DOCTYPE domain [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;\">"
        "<!ENTITY c \"&b;&b;&b;&b;&b;&b;\">]>\n<domain><os/><devices/></domain>",
        /* an empty DOCTYPE, and one naming another root */
        "<!DOCTYPE domain>\n<domain><os/><devices/></domain>",
        "<!DOCTYPE x []>\n<domain><os/><devices/></domain>",
    };
    for (size_t i = 0; i < NEA_ARRAY_SIZE(dtds); i++)
        expect_template_error(dtds[i], NEA_ERR_INVALID,
                              "a template may not declare a DTD or entities");
    expect_template_error("<!DOCTYPE domain [<!ENTITY a \"aaaaaaaaaa\">"
                          "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
                          "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>\n"
                          "<domain><os/><devices/><title>&c;</title></domain>",
                          NEA_ERR_INVALID, "domain template"); /* either refusal */
}

/* The seed image's time: 1970 to 9999-12-31T23:59:59Z, refused outside it by
 * the render layer itself, whoever calls (CLI, engine, plugin ABI). */
static void test_epoch_range(void **state)
{
    (void)state;
    static const struct {
        long long epoch;
        int code;
    } cases[] = {
        {0, NEA_OK},
        {253402300799LL, NEA_OK},
        {253402300800LL, NEA_ERR_INVALID},
        {-1, NEA_ERR_INVALID},
        {9223372036854775807LL, NEA_ERR_INVALID},
    };
    struct nea_spec *s = load(base);
    for (size_t i = 0; i < NEA_ARRAY_SIZE(cases); i++) {
        struct nea_render_opts o = ropts(NEA_TEMPLATE);
        o.epoch = (time_t)cases[i].epoch;
        struct nea_artifacts a = {0};
        struct nea_err e = {0};
        int rc = nea_render(s, &o, &a, &e);
        if (rc != cases[i].code)
            fail_msg("epoch %lld: %d, expected %d (%s)", cases[i].epoch, rc,
                     cases[i].code, e.msg);
        if (rc == NEA_OK) {
            assert_non_null(a.iso);
        } else {
            assert_null(a.iso);
            assert_non_null(strstr(e.msg, "9999-12-31T23:59:59Z"));
        }
        nea_artifacts_clear(&a);
    }
    nea_spec_free(s);
    /* the ISO builder refuses it too, for any other caller */
    struct nea_iso_file f = {"x", "y", 1};
    char *buf = NULL;
    size_t len = 0;
    struct nea_err e = {0};
    assert_int_equal(nea_iso_build("cidata", &f, 1, (time_t)253402300800LL, &buf, &len, &e),
                     NEA_ERR_INVALID);
    assert_null(buf);
}

/* Golden: the seed of an appliance with public addresses and rules
 * (tests/data/public/: network-config and rules.nft; NEA_REGENERATE=1
 * rewrites them).  tests/public_check.sh hands them to nft -c and
 * cloud-init's renderers. */
static void golden(const char *name, const char *got)
{
    char *path = nea_xasprintf("%s/%s", NEA_PUBLIC_DIR, name);
    const char *regen = getenv("NEA_REGENERATE");
    if (regen && !strcmp(regen, "1")) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(got, f);
        fclose(f);
    } else {
        char *want = NULL;
        size_t len = 0;
        struct nea_err e = {0};
        if (nea_read_file(path, 1 << 20, &want, &len, &e) < 0)
            fail_msg("%s (NEA_REGENERATE=1 creates it)", e.msg);
        if (strcmp(want, got))
            fail_msg("%s differs:\n--- want\n%s--- got\n%s", path, want, got);
        free(want);
    }
    free(path);
}

static void test_public_golden(void **state)
{
    (void)state;
    struct nea_spec *s = load(base);
    struct nea_ip addrs[3];
    nea_ip_parse("203.0.113.16", &addrs[0]);
    nea_ip_parse("203.0.113.17", &addrs[1]);
    nea_ip_parse("2001:db8:100::10", &addrs[2]);
    struct nea_rule rules[3] = {
        {.pub_port = 443, .proto = NEA_PROTO_TCP, .to_port = 8443, .description = "web"},
        {.pub_port = 25, .proto = NEA_PROTO_TCP, .to_port = 25},
        {.pub_port = 53, .proto = NEA_PROTO_UDP, .to_port = 5353,
         .description = "dns: replica ns1"},
    };
    nea_ip_parse("203.0.113.16", &rules[0].pub);
    nea_ip_parse("192.0.2.50", &rules[0].to);
    nea_ip_parse("203.0.113.17", &rules[1].pub);
    nea_ip_parse("192.0.2.51", &rules[1].to);
    nea_ip_parse("2001:db8:100::10", &rules[2].pub);
    nea_ip_parse("2001:db8:5::5", &rules[2].to);
    char before[NEA_SHA256_HEX_LEN + 1];
    memcpy(before, s->hash, sizeof(before));
    nea_spec_set_public(s, addrs, 3, rules, 3);
    assert_string_not_equal(before, s->hash);
    struct nea_seed seed;
    struct nea_err e = {0};
    assert_int_equal(nea_seed_build(s, &seed, &e), NEA_OK);
    golden("network-config", seed.network_config);
    golden("user-data", seed.user_data);
    char *nft = nea_nft_ruleset(s);
    golden("rules.nft", nft);
    assert_non_null(strstr(seed.user_data, "ip daddr 203.0.113.16 tcp dport 443"));
    free(nft);
    nea_seed_clear(&seed);
    nea_spec_free(s);
}

/* Render checks the rules it writes into the nftables file itself (a
 * description with a newline would start a rule of its own): it does not
 * rely on whoever stored them. */
static void test_rules_checked(void **state)
{
    (void)state;
    static const char *const bad_desc[] = {"web\n        ip daddr 0.0.0.0/0 accept",
                                           "", "quote\"", "semi;colon"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(bad_desc) + 2; i++) {
        struct nea_spec *s = load(base);
        struct nea_ip addr;
        nea_ip_parse("203.0.113.16", &addr);
        struct nea_rule r = {.pub_port = 443, .proto = NEA_PROTO_TCP, .to_port = 8443};
        nea_ip_parse("203.0.113.16", &r.pub);
        nea_ip_parse("192.0.2.50", &r.to);
        if (i < NEA_ARRAY_SIZE(bad_desc))
            r.description = (char *)bad_desc[i];
        else if (i == NEA_ARRAY_SIZE(bad_desc))
            r.pub_port = 22;
        else
            nea_ip_parse("2001:db8::50", &r.to);
        nea_spec_set_public(s, &addr, 1, &r, 1);
        struct nea_seed seed;
        struct nea_err e = {0};
        assert_int_equal(nea_seed_build(s, &seed, &e), NEA_ERR_INVALID);
        assert_non_null(strstr(e.msg, "public IP rule 1"));
        nea_spec_free(s);
    }
}

/* ---- tenant networks ---------------------------------------------------- */

static const char tnet_spec[] =
    "tenant: acme\n"
    "hardware-plan: tnet\n"
    "appliance:\n"
    "  external-network: br-ext\n"
    "  ipv4: {mode: static, address: 192.0.2.10, prefix: 24, gateway: 192.0.2.1}\n"
    "  ipv6: {mode: static, address: \"2001:db8::10\", prefix: 64,"
    " gateway: \"2001:db8::1\"}\n"
    "networks:\n"
    "  - {name: web, gateway: 198.51.100.65/28, gateway6: \"2001:db8:a1::1/64\","
    " internet: true}\n"
    "  - {name: db, gateway: 198.51.100.81/28}\n";

static int render_spec(const struct nea_spec *s, const char *tpl, struct nea_artifacts *a,
                       struct nea_err *e)
{
    struct nea_render_opts o = ropts(tpl);
    memset(a, 0, sizeof(*a));
    return nea_render(s, &o, a, e);
}

static const char *after(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);
    if (!p)
        fail_msg("\"%s\" not found in:\n%s", needle, hay);
    return p;
}

/* Slots, not the spec's order, place the vNICs: web in slot 2, db in slot
 * 0.  The domain, network-config and neaprov/interfaces follow the slots;
 * tnet_iface_xml follows the spec; every slot has its fixed address. */
static void test_tnet_domain(void **state)
{
    (void)state;
    struct nea_spec *s = load(tnet_spec);
    struct nea_artifacts a0, a;
    struct nea_err e = {0};
    assert_int_equal(render_spec(s, NEA_TEMPLATE, &a0, &e), NEA_OK);
    const unsigned slots[] = {2, 0};
    nea_spec_set_tnet_places(s, slots, NULL);
    assert_int_equal(render_spec(s, NEA_TEMPLATE, &a, &e), NEA_OK);
    /* the guest is told something else: a new instance-id */
    assert_string_not_equal(a0.seed.instance_id, a.seed.instance_id);

    char web[18], db[18];
    nea_mac_format(s->tnets[0].mac, web);
    nea_mac_format(s->tnets[1].mac, db);
    xmlDocPtr doc = xmlReadMemory(a.domain_xml, (int)a.domain_xml_len, "d.xml", NULL, 0);
    assert_non_null(doc);
    /* the plan's max-networks root ports, at 16.., whichever slots are used */
    expect_xpath(doc, "string(count(/domain/devices/controller[@model='pcie-root-port']))",
                 "4");
    expect_xpath(doc, "string(/domain/devices/controller[@model='pcie-root-port'][1]/@index)",
                 "16");
    expect_xpath(doc, "string(/domain/devices/controller[@model='pcie-root-port'][4]/@index)",
                 "19");
    expect_xpath(doc, "string(count(/domain/devices/interface))", "3");
    /* the external vNIC first, then by slot */
    char mac[18];
    nea_mac_format(s->mac, mac);
    expect_xpath(doc, "string(/domain/devices/interface[1]/mac/@address)", mac);
    expect_xpath(doc, "string(/domain/devices/interface[2]/mac/@address)", db);
    expect_xpath(doc, "string(/domain/devices/interface[2]/source/@network)",
                 "nea-net.acme.db");
    expect_xpath(doc, "string(/domain/devices/interface[2]/address/@bus)", "0x10");
    expect_xpath(doc, "string(/domain/devices/interface[3]/mac/@address)", web);
    expect_xpath(doc, "string(/domain/devices/interface[3]/address/@bus)", "0x12");
    expect_xpath(doc, "string(/domain/devices/interface[3]/address/@slot)", "0x00");
    xmlFreeDoc(doc);

    /* standalone elements for the engine: spec order, with the address */
    assert_int_equal(a.n_tnet_iface_xml, 2);
    assert_non_null(strstr(a.tnet_iface_xml[0], web));
    assert_non_null(strstr(a.tnet_iface_xml[0], "bus=\"0x12\""));
    assert_non_null(strstr(a.tnet_iface_xml[0], "nea-net.acme.web"));
    assert_non_null(strstr(a.tnet_iface_xml[1], db));
    assert_non_null(strstr(a.tnet_iface_xml[1], "bus=\"0x10\""));
    assert_true(nea_str_has_prefix(a.cdrom_xml, "<disk type=\"file\" device=\"cdrom\">"));
    assert_non_null(strstr(a.cdrom_xml, "/pool/acme-nea-seed.iso"));
    assert_non_null(strstr(a.interface_xml, mac));

    /* network-config and neaprov/interfaces: ext0, int0 (db), int2 (web) */
    const char *p = after(a.seed.network_config, "name: ext0");
    p = after(p, "name: int0");
    p = after(p, db);
    p = after(p, "name: int2");
    after(p, "address: \"2001:db8:a1::1/64\"");
    assert_null(strstr(strstr(a.seed.network_config, "name: int0"), "gateway"));
    char *lines = nea_xasprintf("%s int0 198.51.100.81/28 -\n%s int2 198.51.100.65/28 "
                                "2001:db8:a1::1/64\n", db, web);
    after(a.seed.interfaces, lines);
    free(lines);
    assert_non_null(strstr(a.seed.user_data, "/usr/local/sbin/neaprov-sync"));
    /* the same text as user-data's (check_consumers.py compares them) */
    assert_non_null(strstr(a.seed.ruleset, "iifname \"int2\" oifname \"ext0\" ip saddr "));
    nea_artifacts_clear(&a0);
    nea_artifacts_clear(&a);
    nea_spec_free(s);

    /* without tenant-networks in the plan: nothing of the above */
    render_ok(base, &a);
    assert_null(a.tnet_iface_xml);
    assert_null(a.seed.interfaces);
    assert_null(a.seed.ruleset);
    assert_null(strstr(a.domain_xml, "pcie-root-port"));
    assert_null(strstr(a.seed.user_data, "neaprov-sync"));
    assert_non_null(a.cdrom_xml);
    nea_artifacts_clear(&a);
}

static void expect_tnet_error(struct nea_spec *s, const char *tpl, const char *msg)
{
    struct nea_artifacts a;
    struct nea_err e = {0};
    assert_int_equal(render_spec(s, tpl, &a, &e), NEA_ERR_INVALID);
    if (!strstr(e.msg, msg))
        fail_msg("\"%s\" does not contain \"%s\"", e.msg, msg);
    assert_null(a.domain_xml);
    assert_null(a.iso);
}

static char *write_tpl(const char *content)
{
    char *path = nea_xstrdup("/tmp/nea-tpl-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    return path;
}

/* Places the engine got wrong, and templates in the way of a vNIC. */
static void test_tnet_errors(void **state)
{
    (void)state;
    struct nea_spec *s = load(tnet_spec);
    const unsigned out_of_range[] = {0, 4}, twice[] = {1, 1};
    nea_spec_set_tnet_places(s, out_of_range, NULL);
    expect_tnet_error(s, NEA_TEMPLATE, "network db has vNIC slot 4, outside 0 to 3");
    nea_spec_set_tnet_places(s, twice, NULL);
    expect_tnet_error(s, NEA_TEMPLATE, "networks web and db have the same vNIC slot 1");
    const unsigned ok[] = {0, 1};
    nea_spec_set_tnet_places(s, ok, NULL);
    /* a template device addressed onto the root port of slot 1 */
    char *tpl = write_tpl("<domain><os/><devices><watchdog model='i6300esb'><address "
                          "type='pci' domain='0x0000' bus='0x11' slot='0x01'/></watchdog>"
                          "</devices></domain>");
    expect_tnet_error(s, tpl, "a <watchdog> of the domain template has PCI address bus "
                              "0x11, which neaprov keeps for tenant network vNICs "
                              "(buses 0x10 to 0x13)");
    unlink(tpl);
    free(tpl);
    /* a host PCI address (hostdev source) is no guest place */
    tpl = write_tpl("<domain><os/><devices><hostdev mode='subsystem' type='pci'><source>"
                    "<address domain='0x0000' bus='0x10' slot='0x00' function='0x0'/>"
                    "</source></hostdev></devices></domain>");
    struct nea_artifacts h;
    struct nea_err he = {0};
    assert_int_equal(render_spec(s, tpl, &h, &he), NEA_OK);
    nea_artifacts_clear(&h);
    unlink(tpl);
    free(tpl);
    /* a template root port at index 17 is replaced by ours, once */
    tpl = write_tpl("<domain><os/><devices><controller type='pci' index='17' "
                    "model='pcie-root-port'/><controller type='pci' index='24' "
                    "model='pcie-root-port'/></devices></domain>");
    struct nea_artifacts a;
    struct nea_err e = {0};
    assert_int_equal(render_spec(s, tpl, &a, &e), NEA_OK);
    xmlDocPtr doc = xmlReadMemory(a.domain_xml, (int)a.domain_xml_len, "d.xml", NULL, 0);
    expect_xpath(doc, "string(count(/domain/devices/controller[@index='17']))", "1");
    expect_xpath(doc, "string(count(/domain/devices/controller[@index='24']))", "1");
    xmlFreeDoc(doc);
    nea_artifacts_clear(&a);
    unlink(tpl);
    free(tpl);
    nea_spec_free(s);

    /* i440fx: the slots of bus 0 */
    static const char pc[] = "tenant: acme\n"
                             "hardware-plan: tnet-pc\n"
                             "appliance:\n"
                             "  external-network: br-ext\n"
                             "  ipv4: {mode: dhcp}\n"
                             "networks:\n"
                             "  - {name: web, gateway: 198.51.100.65/28}\n";
    s = load(pc);
    tpl = write_tpl("<domain><os/><devices><watchdog model='i6300esb'><address type='pci' "
                    "domain='0x0000' bus='0x00' slot='0x11'/></watchdog></devices></domain>");
    expect_tnet_error(s, tpl, "a <watchdog> of the domain template has PCI address bus 0 "
                              "slot 0x11, which neaprov keeps for tenant network vNICs (bus "
                              "0, slots 0x10 to 0x17)");
    unlink(tpl);
    free(tpl);
    nea_spec_free(s);

    /* ovs-vlan: no tag (0: never placed); a tag outside the plan's range
     * (kept from an older range) is rendered */
    static const char ovs[] = "tenant: acme\n"
                              "hardware-plan: tnet-ovs\n"
                              "appliance:\n"
                              "  external-network: br-ext\n"
                              "  ipv4: {mode: dhcp}\n"
                              "networks:\n"
                              "  - {name: web, gateway: 198.51.100.65/28}\n";
    s = load(ovs);
    expect_tnet_error(s, NEA_TEMPLATE, "network web has no VLAN tag (0)");
    const unsigned slot0[] = {0}, old_range[] = {7};
    nea_spec_set_tnet_places(s, slot0, old_range);
    assert_int_equal(render_spec(s, NEA_TEMPLATE, &a, &e), NEA_OK);
    assert_non_null(strstr(a.tnet_iface_xml[0], "<tag id=\"7\"/>"));
    nea_artifacts_clear(&a);
    const unsigned vlan[] = {150};
    nea_spec_set_tnet_places(s, slot0, vlan);
    assert_int_equal(render_spec(s, NEA_TEMPLATE, &a, &e), NEA_OK);
    assert_non_null(strstr(a.tnet_iface_xml[0], "<tag id=\"150\"/>"));
    assert_non_null(strstr(a.tnet_iface_xml[0], "<virtualport type=\"openvswitch\"/>"));
    assert_non_null(strstr(a.tnet_iface_xml[0], "<source bridge=\"br-tn\"/>"));
    nea_artifacts_clear(&a);
    nea_spec_free(s);
}

/* nft -c -f on a ruleset, in a network namespace of its own (root only):
 * 0 accepted, 1 refused, -1 not possible here. */
static int nft_check(const char *ruleset)
{
    if (geteuid() != 0 || access("/usr/sbin/nft", X_OK) != 0 ||
        access("/usr/bin/unshare", X_OK) != 0)
        return -1;
    char *path = write_tpl(ruleset);
    char *const argv[] = {"/usr/bin/unshare", "--net", "/usr/sbin/nft", "-c", "-f", path,
                          NULL};
    pid_t pid;
    int st = -1;
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) == 0)
        waitpid(pid, &st, 0);
    unlink(path);
    free(path);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

/* The whole ruleset of an appliance with tenant networks and public IP
 * rules: DNAT, forwarding, 1:1 SNAT of rule targets on with-internet
 * networks (the first rule's public address; none on db, none for a target
 * outside the tenant networks), then each with-internet subnet. */
static void test_tnet_ruleset(void **state)
{
    (void)state;
    struct nea_spec *s = load(tnet_spec);
    struct nea_ip addrs[3];
    nea_ip_parse("203.0.113.16", &addrs[0]);
    nea_ip_parse("203.0.113.17", &addrs[1]);
    nea_ip_parse("2001:db8:100::10", &addrs[2]);
    struct nea_rule rules[5] = {
        {.pub_port = 443, .proto = NEA_PROTO_TCP, .to_port = 8443, .description = "web"},
        {.pub_port = 80, .proto = NEA_PROTO_TCP, .to_port = 80},
        {.pub_port = 5432, .proto = NEA_PROTO_TCP, .to_port = 5432, .description = "db"},
        {.pub_port = 443, .proto = NEA_PROTO_TCP, .to_port = 443},
        {.pub_port = 25, .proto = NEA_PROTO_TCP, .to_port = 25},
    };
    nea_ip_parse("203.0.113.16", &rules[0].pub);
    nea_ip_parse("198.51.100.66", &rules[0].to);
    nea_ip_parse("203.0.113.17", &rules[1].pub);
    nea_ip_parse("198.51.100.66", &rules[1].to);
    nea_ip_parse("203.0.113.17", &rules[2].pub);
    nea_ip_parse("198.51.100.82", &rules[2].to);
    nea_ip_parse("2001:db8:100::10", &rules[3].pub);
    nea_ip_parse("2001:db8:a1::66", &rules[3].to);
    nea_ip_parse("203.0.113.16", &rules[4].pub);
    nea_ip_parse("192.0.2.50", &rules[4].to);
    nea_spec_set_public(s, addrs, 3, rules, 5);
    static const char want[] =
        "#!/usr/sbin/nft -f\n"
        "# Public IP rules of tenant acme, written by neaprov: public address\n"
        "# and port -> replica address and port.  Generated; edits are lost.\n"
        "# With its tenant networks: what the appliance forwards and how\n"
        "# their traffic leaves (source NAT).\n"
        "table inet neaprov\n"
        "delete table inet neaprov\n"
        "table inet neaprov {\n"
        "    chain prerouting {\n"
        "        type nat hook prerouting priority dstnat; policy accept;\n"
        "        ip daddr 203.0.113.16 tcp dport 443 dnat ip to 198.51.100.66:8443 comment \"web\"\n"
        "        ip daddr 203.0.113.17 tcp dport 80 dnat ip to 198.51.100.66:80\n"
        "        ip daddr 203.0.113.17 tcp dport 5432 dnat ip to 198.51.100.82:5432 comment \"db\"\n"
        "        ip6 daddr 2001:db8:100::10 tcp dport 443 dnat ip6 to [2001:db8:a1::66]:443\n"
        "        ip daddr 203.0.113.16 tcp dport 25 dnat ip to 192.0.2.50:25\n"
        "    }\n"
        "    chain forward {\n"
        "        type filter hook forward priority filter; policy drop;\n"
        "        ct state established,related accept\n"
        "        ct state invalid drop\n"
        "        iifname { \"int0\", \"int1\" } oifname { \"int0\", \"int1\" } accept comment \"between the tenant's networks\"\n"
        "        iifname \"int0\" oifname \"ext0\" ip saddr 198.51.100.64/28 accept comment "
        "\"web: internet\"\n"
        "        iifname \"int0\" oifname \"ext0\" ip6 saddr 2001:db8:a1::/64 accept comment "
        "\"web: internet\"\n"
        "        iifname \"ext0\" ct status dnat accept comment \"public IP rules\"\n"
        "    }\n"
        "    chain postrouting {\n"
        "        type nat hook postrouting priority srcnat; policy accept;\n"
        "        oifname \"ext0\" ip saddr 198.51.100.66 snat ip to 203.0.113.16\n"
        "        oifname \"ext0\" ip6 saddr 2001:db8:a1::66 snat ip6 to 2001:db8:100::10\n"
        "        oifname \"ext0\" ip saddr 198.51.100.64/28 snat ip to 192.0.2.10 comment \"web\"\n"
        "        oifname \"ext0\" ip6 saddr 2001:db8:a1::/64 snat ip6 to 2001:db8::10 comment \"web\"\n"
        "    }\n"
        "}\n";
    char *got = nea_nft_ruleset(s);
    assert_string_equal(got, want);
    int rc = nft_check(got);
    if (rc >= 0)
        assert_int_equal(rc, 0);
    else
        fprintf(stderr, "# nft -c skipped (needs root, nft and unshare)\n");
    free(got);
    /* dynamic external addresses: masquerade instead of SNAT to them */
    s->ipv4.mode = NEA_V4_DHCP;
    s->ipv6.mode = NEA_V6_AUTO;
    got = nea_nft_ruleset(s);
    assert_non_null(strstr(got, "ip saddr 198.51.100.64/28 masquerade comment \"web\"\n"));
    assert_non_null(strstr(got, "ip6 saddr 2001:db8:a1::/64 masquerade comment \"web\"\n"));
    free(got);
    nea_spec_free(s);
}

/* One level of directories in the seed ISO (neaprov/...), no more. */
static void test_iso_subdir(void **state)
{
    (void)state;
    struct nea_iso_file ok[] = {{"meta-data", "x", 1}, {"d/a", "a", 1}, {"d/b", "b", 1}};
    char *buf = NULL;
    size_t len = 0;
    struct nea_err e = {0};
    assert_int_equal(nea_iso_build("cidata", ok, 3, NEA_DEFAULT_EPOCH, &buf, &len, &e),
                     NEA_OK);
    free(buf);
    static const char *const bad[] = {"d/a/b", "/a", "d/", "meta-data/x"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(bad); i++) {
        struct nea_iso_file f[] = {{"meta-data", "x", 1}, {bad[i], "y", 1}};
        struct nea_err e2 = {0};
        buf = NULL;
        assert_int_equal(nea_iso_build("cidata", f, 2, NEA_DEFAULT_EPOCH, &buf, &len, &e2),
                         NEA_ERR_LIBRARY);
        assert_null(buf);
        assert_non_null(strstr(e2.msg, bad[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instance_id),
        cmocka_unit_test(test_rules_checked),
        cmocka_unit_test(test_domain_content),
        cmocka_unit_test(test_iso_header),
        cmocka_unit_test(test_template_errors),
        cmocka_unit_test(test_template_dtd),
        cmocka_unit_test(test_epoch_range),
        cmocka_unit_test(test_public_golden),
        cmocka_unit_test(test_tnet_domain),
        cmocka_unit_test(test_tnet_errors),
        cmocka_unit_test(test_tnet_ruleset),
        cmocka_unit_test(test_iso_subdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

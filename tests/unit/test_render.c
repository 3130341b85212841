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
#include <string.h>
#include <unistd.h>

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

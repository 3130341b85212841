/*
 * The deploy engine on libvirt's in-process test driver (test:///default):
 * fresh deploy, no-op re-apply, every reprovision class, drift repair,
 * destroy, bad input leaving host and state untouched, foreign domains,
 * the per-tenant lock, and a libvirt failure injected at each step followed
 * by a converging re-run.
 *
 * The test driver's default host is shared by all connections of a process
 * and lives while one is open: each test holds its own connection (`lv`) to
 * look at and tamper with the host, and uses its own tenant.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nea_engine.h"
#include "nea_engine_int.h"
#include "nea_pool.h"
#include "nea_spec.h"
#include "nea_state.h"
#include "nea_tnet_state.h"
#include "nea_util.h"
#include "nea_virt.h"

static const char *const plan_dirs[] = {NEA_DEPLOY_PLANS};
static const struct nea_load_opts lopts = {plan_dirs, 1};

struct fx {
    char dir[64];
    char *state_path;
    virConnectPtr lv;
};

static void quiet(void *d, virErrorPtr e)
{
    (void)d;
    (void)e;
}

static int setup(void **state)
{
    struct fx *f = nea_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/nea-engine-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->state_path = nea_xasprintf("%s/state.db", f->dir);
    virSetErrorFunc(NULL, quiet);
    f->lv = virConnectOpen("test:///default");
    assert_non_null(f->lv);
    /* a second external network, for the network-change class */
    virNetworkPtr n = virNetworkLookupByName(f->lv, "sp-ext2");
    if (!n) {
        n = virNetworkDefineXML(f->lv, "<network><name>sp-ext2</name>"
                                       "<bridge name='virbr9'/></network>");
        assert_non_null(n);
        assert_int_equal(virNetworkCreate(n), 0);
    }
    virNetworkFree(n);
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virConnectClose(f->lv);
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f->state_path);
    free(f);
    return 0;
}

static struct nea_engine *engine(struct fx *f, const char *fault_op, unsigned nth)
{
    struct nea_engine_opts o = {
        .state_path = f->state_path,
        .template_path = NEA_TEMPLATE,
        .stop_timeout_s = 1,
        .wait = true,
        .fault_op = fault_op,
        .fault_nth = nth,
    };
    struct nea_engine *e = NULL;
    struct nea_err err = {0};
    if (nea_engine_open(&o, &e, &err) < 0)
        fail_msg("engine: %s", err.msg);
    return e;
}

/* A spec for tenant t: plan p, network n, IPv4 address last octet a, name nm
 * (NULL: default). */
static struct nea_spec *spec(const char *t, const char *p, const char *n, int a,
                             const char *nm)
{
    char *text = nea_xasprintf("tenant: %s\n"
                               "hardware-plan: %s\n"
                               "appliance:\n"
                               "%s%s%s"
                               "  external-network: %s\n"
                               "  ipv4: {mode: static, address: 192.0.2.%d, prefix: 24,"
                               " gateway: 192.0.2.1}\n",
                               t, p, nm ? "  name: " : "", nm ? nm : "", nm ? "\n" : "",
                               n, a);
    struct nea_diags d = {0};
    struct nea_err e = {0};
    struct nea_spec *s = NULL;
    int rc = nea_spec_load_buffer("t.yaml", text, strlen(text), &lopts, &s, &d, &e);
    for (size_t i = 0; i < d.n; i++)
        print_error("%s\n", d.v[i].text);
    assert_int_equal(rc, NEA_OK);
    nea_diags_clear(&d);
    free(text);
    return s;
}

static unsigned plan_todo(struct nea_engine *e, struct nea_spec *s,
                          enum nea_disruption *ret_d)
{
    struct nea_changeset cs = {0};
    struct nea_err err = {0};
    if (nea_engine_plan(e, s, &cs, &err) < 0)
        fail_msg("plan: %s", err.msg);
    unsigned todo = cs.todo;
    if (ret_d)
        *ret_d = cs.disruption;
    nea_changeset_clear(&cs);
    return todo;
}

static void apply_ok(struct nea_engine *e, struct nea_spec *s)
{
    struct nea_err err = {0};
    if (nea_engine_apply(e, s, NULL, &err) < 0)
        fail_msg("apply: %s", err.msg);
}

static struct nea_deployment *record(struct nea_engine *e, const char *tenant)
{
    struct nea_deployment *d = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_state_get(nea_engine_state(e), tenant, &d, &err), NEA_OK);
    return d;
}

static int dom_state(struct fx *f, const char *name)
{
    virDomainPtr d = virDomainLookupByName(f->lv, name);
    if (!d)
        return -1;
    int st = 0, reason = 0;
    virDomainGetState(d, &st, &reason, 0);
    virDomainFree(d);
    return st;
}

static char *dom_xml(struct fx *f, const char *name)
{
    virDomainPtr d = virDomainLookupByName(f->lv, name);
    assert_non_null(d);
    char *x = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
    virDomainFree(d);
    return x;
}

/* Volumes of the pool whose name starts with prefix. */
static int count_vols(struct fx *f, const char *prefix)
{
    virStoragePoolPtr p = virStoragePoolLookupByName(f->lv, "default-pool");
    assert_non_null(p);
    virStorageVolPtr *v = NULL;
    int n = virStoragePoolListAllVolumes(p, &v, 0), c = 0;
    for (int i = 0; i < n; i++) {
        if (nea_str_has_prefix(virStorageVolGetName(v[i]), prefix))
            c++;
        virStorageVolFree(v[i]);
    }
    free(v);
    virStoragePoolFree(p);
    return c;
}

/* Deletes the first volume of default-pool whose name starts with prefix. */
static void delete_vol(struct fx *f, const char *prefix)
{
    virStoragePoolPtr p = virStoragePoolLookupByName(f->lv, "default-pool");
    assert_non_null(p);
    virStorageVolPtr *v = NULL;
    int n = virStoragePoolListAllVolumes(p, &v, 0);
    bool done = false;
    for (int i = 0; i < n; i++) {
        if (!done && nea_str_has_prefix(virStorageVolGetName(v[i]), prefix)) {
            assert_int_equal(virStorageVolDelete(v[i], 0), 0);
            done = true;
        }
        virStorageVolFree(v[i]);
    }
    free(v);
    virStoragePoolFree(p);
    assert_true(done);
}

static void test_fresh_noop_destroy(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_spec *s = spec("fresh", "lab", "network:default", 10, NULL);
    enum nea_disruption d;
    assert_true(plan_todo(e, s, &d) & NEA_DO_CREATE);
    assert_int_equal(dom_state(f, "fresh-nea"), -1); /* plan touched nothing */
    apply_ok(e, s);
    assert_int_equal(dom_state(f, "fresh-nea"), VIR_DOMAIN_RUNNING);
    assert_int_equal(count_vols(f, "nea-disk.fresh.qcow2"), 1);
    assert_int_equal(count_vols(f, "nea-seed.fresh."), 1);
    struct nea_deployment *r = record(e, "fresh");
    assert_int_equal(r->state, NEA_DEP_RUNNING);
    assert_null(r->step);
    assert_string_equal(r->spec_hash, s->hash);
    char *x = dom_xml(f, "fresh-nea");
    assert_non_null(strstr(x, "urn:neaprov:appliance:1"));
    assert_non_null(strstr(x, r->seed_volume));
    free(x);
    nea_deployment_free(r);

    /* no-op: nothing planned, nothing recorded */
    struct nea_spec *again = spec("fresh", "lab", "network:default", 10, NULL);
    assert_int_equal(plan_todo(e, again, NULL), 0);
    struct nea_event *ev = NULL;
    size_t nev = 0, nev2 = 0;
    struct nea_err err = {0};
    nea_state_events(nea_engine_state(e), "fresh", 100, &ev, &nev, &err);
    nea_events_free(ev, nev);
    apply_ok(e, again);
    nea_state_events(nea_engine_state(e), "fresh", 100, &ev, &nev2, &err);
    nea_events_free(ev, nev2);
    assert_int_equal(nev, nev2);

    /* destroy: domain and volumes gone, record says gone */
    assert_int_equal(nea_engine_destroy(e, "fresh-nea", NULL, &err), NEA_OK);
    assert_int_equal(dom_state(f, "fresh-nea"), -1);
    assert_int_equal(count_vols(f, "nea-disk.fresh."), 0);
    assert_int_equal(count_vols(f, "nea-seed.fresh."), 0);
    r = record(e, "fresh");
    assert_int_equal(r->state, NEA_DEP_GONE);
    nea_deployment_free(r);
    /* and a later apply deploys afresh */
    assert_true(plan_todo(e, again, NULL) & NEA_DO_CREATE);
    apply_ok(e, again);
    assert_int_equal(dom_state(f, "fresh-nea"), VIR_DOMAIN_RUNNING);
    assert_int_equal(nea_engine_destroy(e, "fresh", NULL, &err), NEA_OK);
    /* again: already gone, harmless; an unknown one is an error */
    assert_int_equal(nea_engine_destroy(e, "fresh", NULL, &err), NEA_OK);
    assert_int_equal(nea_engine_destroy(e, "nobody", NULL, &err), NEA_ERR_INVALID);
    nea_spec_free(s);
    nea_spec_free(again);
    nea_engine_close(e);
}

static void test_reprovision_classes(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_err err = {0};
    struct nea_spec *s = spec("classes", "lab", "network:default", 20, NULL);
    apply_ok(e, s);
    struct nea_deployment *r0 = record(e, "classes");

    /* addressing: new seed, new instance-id, same MAC, reboot */
    struct nea_spec *s2 = spec("classes", "lab", "network:default", 21, NULL);
    enum nea_disruption d;
    unsigned todo = plan_todo(e, s2, &d);
    assert_true(todo & NEA_DO_SEED);
    assert_false(todo & (NEA_DO_CREATE | NEA_DO_DISK));
    assert_int_equal(d, NEA_DISRUPT_REBOOT);
    apply_ok(e, s2);
    struct nea_deployment *r1 = record(e, "classes");
    assert_string_not_equal(r0->instance_id, r1->instance_id);
    assert_string_equal(r0->mac, r1->mac);
    assert_string_not_equal(r0->seed_volume, r1->seed_volume);
    assert_int_equal(count_vols(f, "nea-seed.classes."), 1); /* the old one is gone */
    char *x = dom_xml(f, "classes-nea");
    assert_non_null(strstr(x, r1->seed_volume));
    free(x);
    assert_int_equal(plan_todo(e, s2, NULL), 0);

    /* external network: vNIC moved (live, or config + reboot on this driver) */
    struct nea_spec *s3 = spec("classes", "lab", "network:sp-ext2", 21, NULL);
    todo = plan_todo(e, s3, &d);
    assert_true(todo & NEA_DO_NIC);
    assert_false(todo & NEA_DO_SEED);
    assert_int_equal(d, NEA_DISRUPT_NONE);
    apply_ok(e, s3);
    x = dom_xml(f, "classes-nea");
    assert_non_null(strstr(x, "network='sp-ext2'"));
    free(x);
    assert_int_equal(dom_state(f, "classes-nea"), VIR_DOMAIN_RUNNING);
    assert_int_equal(plan_todo(e, s3, NULL), 0);

    /* size: config change + reboot */
    struct nea_spec *s4 = spec("classes", "lab-big", "network:sp-ext2", 21, NULL);
    todo = plan_todo(e, s4, &d);
    assert_true(todo & NEA_DO_RESTART);
    assert_false(todo & NEA_DO_DISK);
    apply_ok(e, s4);
    x = dom_xml(f, "classes-nea");
    assert_non_null(strstr(x, ">2</vcpu>"));
    assert_non_null(strstr(x, "1048576"));
    free(x);

    /* rename: volumes kept, MAC and UUID kept */
    struct nea_spec *s5 = spec("classes", "lab-big", "network:sp-ext2", 21, "classes-edge");
    todo = plan_todo(e, s5, &d);
    assert_true(todo & NEA_DO_RENAME);
    apply_ok(e, s5);
    assert_int_equal(dom_state(f, "classes-nea"), -1);
    assert_int_equal(dom_state(f, "classes-edge"), VIR_DOMAIN_RUNNING);
    struct nea_deployment *r2 = record(e, "classes");
    assert_string_equal(r2->disk_volume, "nea-disk.classes.qcow2");
    assert_string_equal(r2->mac, r0->mac);
    assert_string_equal(r2->uuid, r0->uuid);
    assert_int_equal(count_vols(f, "nea-disk.classes.qcow2"), 1);
    assert_int_equal(count_vols(f, "nea-seed.classes."), 1);
    assert_int_equal(plan_todo(e, s5, NULL), 0);

    /* image: the one full redeploy (a new disk) */
    struct nea_spec *s6 = spec("classes", "lab-v2", "network:sp-ext2", 21, "classes-edge");
    todo = plan_todo(e, s6, &d);
    assert_true(todo & NEA_DO_DISK);
    assert_int_equal(d, NEA_DISRUPT_REDEPLOY);
    apply_ok(e, s6);
    assert_int_equal(count_vols(f, "nea-base-02461b271c5c14ca.qcow2"), 1);
    assert_int_equal(dom_state(f, "classes-edge"), VIR_DOMAIN_RUNNING);
    assert_int_equal(plan_todo(e, s6, NULL), 0);

    assert_int_equal(nea_engine_destroy(e, "classes", NULL, &err), NEA_OK);
    assert_int_equal(count_vols(f, "nea-disk.classes."), 0);
    assert_int_equal(count_vols(f, "nea-seed.classes."), 0);
    nea_deployment_free(r0);
    nea_deployment_free(r1);
    nea_deployment_free(r2);
    nea_spec_free(s);
    nea_spec_free(s2);
    nea_spec_free(s3);
    nea_spec_free(s4);
    nea_spec_free(s5);
    nea_spec_free(s6);
    nea_engine_close(e);
}

static char *replace_once(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    assert_non_null(p);
    return nea_xasprintf("%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
}

static void status_drift(struct nea_engine *e, const char *tenant, const char *want)
{
    struct nea_app_status *v = NULL;
    size_t n = 0;
    struct nea_err err = {0};
    assert_int_equal(nea_engine_status(e, tenant, &v, &n, &err), NEA_OK);
    assert_int_equal(n, 1);
    if (want && (!v[0].drift || !strstr(v[0].drift, want)))
        fail_msg("drift \"%s\", want \"%s\"", v[0].drift ? v[0].drift : "(none)", want);
    if (!want && v[0].drift)
        fail_msg("unexpected drift \"%s\"", v[0].drift);
    nea_statuses_free(v, n);
}

static void test_drift(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_err err = {0};
    struct nea_spec *s = spec("drift", "lab", "network:default", 30, NULL);
    apply_ok(e, s);
    status_drift(e, "drift", NULL);

    /* stopped by hand */
    virDomainPtr d = virDomainLookupByName(f->lv, "drift-nea");
    assert_int_equal(virDomainDestroy(d), 0);
    virDomainFree(d);
    status_drift(e, "drift", "not running");
    assert_true(plan_todo(e, s, NULL) & NEA_DO_START);
    apply_ok(e, s);
    assert_int_equal(dom_state(f, "drift-nea"), VIR_DOMAIN_RUNNING);
    status_drift(e, "drift", NULL);

    /* vNIC moved by hand (metadata kept, so only the facet differs) */
    char *x = dom_xml(f, "drift-nea");
    char *y = replace_once(x, "network='default'", "network='sp-ext2'");
    d = virDomainDefineXML(f->lv, y);
    assert_non_null(d);
    virDomainFree(d);
    free(x);
    free(y);
    status_drift(e, "drift", "the vNIC is on sp-ext2");
    assert_true(plan_todo(e, s, NULL) & NEA_DO_NIC);
    apply_ok(e, s);
    x = dom_xml(f, "drift-nea");
    assert_non_null(strstr(x, "network='default'"));
    free(x);
    assert_int_equal(plan_todo(e, s, NULL), 0);

    /* redefined by hand with 2 vCPUs (metadata kept): plan and status see
     * the same drift (they compare the same way) */
    x = dom_xml(f, "drift-nea");
    y = replace_once(x, ">1</vcpu>", ">2</vcpu>");
    d = virDomainDefineXML(f->lv, y);
    assert_non_null(d);
    virDomainFree(d);
    free(x);
    free(y);
    status_drift(e, "drift", "the domain has 2 vCPUs, 524288 KiB, the spec says 1 vCPUs");
    enum nea_disruption sd;
    assert_true(plan_todo(e, s, &sd) & NEA_DO_RESTART);
    assert_int_equal(sd, NEA_DISRUPT_REBOOT);
    apply_ok(e, s);
    x = dom_xml(f, "drift-nea");
    assert_non_null(strstr(x, ">1</vcpu>"));
    free(x);
    status_drift(e, "drift", NULL);
    assert_int_equal(plan_todo(e, s, NULL), 0);

    /* cdrom removed by hand */
    x = dom_xml(f, "drift-nea");
    char *start = strstr(x, "<disk type='file' device='cdrom'>");
    assert_non_null(start);
    char *end = strstr(start, "</disk>") + strlen("</disk>");
    char *cut = nea_xasprintf("%.*s%s", (int)(start - x), x, end);
    d = virDomainDefineXML(f->lv, cut);
    assert_non_null(d);
    virDomainFree(d);
    free(x);
    free(cut);
    status_drift(e, "drift", "seed cdrom is not attached");
    assert_true(plan_todo(e, s, NULL) & NEA_DO_SEED);
    apply_ok(e, s);
    status_drift(e, "drift", NULL);

    /* MAC changed by hand: the seed's network-config would not match */
    x = dom_xml(f, "drift-nea");
    char *mac = strstr(x, "<mac address='");
    assert_non_null(mac);
    mac += strlen("<mac address='");
    char *other = nea_xasprintf("%.*s52:54:00:0a:0b:0c%s", (int)(mac - x), x, mac + 17);
    d = virDomainDefineXML(f->lv, other);
    assert_non_null(d);
    virDomainFree(d);
    free(x);
    free(other);
    status_drift(e, "drift", "MAC is 52:54:00:0a:0b:0c");
    assert_true(plan_todo(e, s, NULL) & NEA_DO_RESTART);
    apply_ok(e, s);
    x = dom_xml(f, "drift-nea");
    assert_null(strstr(x, "52:54:00:0a:0b:0c"));
    free(x);
    assert_int_equal(plan_todo(e, s, NULL), 0);

    /* the disk volume deleted by hand: a new one from the image */
    delete_vol(f, "nea-disk.drift.qcow2");
    status_drift(e, "drift", "volume nea-disk.drift.qcow2 is missing");
    enum nea_disruption dis;
    assert_true(plan_todo(e, s, &dis) & NEA_DO_DISK);
    assert_int_equal(dis, NEA_DISRUPT_REDEPLOY);
    apply_ok(e, s);
    assert_int_equal(count_vols(f, "nea-disk.drift.qcow2"), 1);
    assert_int_equal(plan_todo(e, s, NULL), 0);
    status_drift(e, "drift", NULL);

    /* the seed volume deleted by hand: written again */
    delete_vol(f, "nea-seed.drift.");
    status_drift(e, "drift", "is missing from pool default-pool");
    assert_true(plan_todo(e, s, NULL) & NEA_DO_SEED);
    apply_ok(e, s);
    assert_int_equal(count_vols(f, "nea-seed.drift."), 1);
    assert_int_equal(plan_todo(e, s, NULL), 0);

    /* domain removed by hand */
    d = virDomainLookupByName(f->lv, "drift-nea");
    virDomainDestroy(d);
    virDomainUndefine(d);
    virDomainFree(d);
    status_drift(e, "drift", "missing");
    assert_true(plan_todo(e, s, NULL) & NEA_DO_CREATE);
    apply_ok(e, s);
    assert_int_equal(dom_state(f, "drift-nea"), VIR_DOMAIN_RUNNING);
    assert_int_equal(plan_todo(e, s, NULL), 0);
    assert_int_equal(count_vols(f, "nea-seed.drift."), 1);

    assert_int_equal(nea_engine_destroy(e, "drift", NULL, &err), NEA_OK);
    nea_spec_free(s);
    nea_engine_close(e);
}

static void test_bad_input_untouched(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_err err = {0};
    /* br-ext is in the plan but not on this host */
    struct nea_spec *s = spec("nonet", "lab", "br-ext", 40, NULL);
    assert_int_equal(nea_engine_apply(e, s, NULL, &err), NEA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "appliance.external-network br-ext does not exist on "
                                    "test:///default"));
    assert_int_equal(dom_state(f, "nonet-nea"), -1);
    assert_int_equal(count_vols(f, "nea-disk.nonet."), 0);
    struct nea_deployment *r = record(e, "nonet");
    assert_null(r);
    nea_spec_free(s);

    /* a foreign domain of the same name is an error, never overwritten */
    virDomainPtr d = virDomainDefineXML(
        f->lv, "<domain type='test'><name>foreign-nea</name><memory>65536</memory>"
               "<os><type>hvm</type></os></domain>");
    assert_non_null(d);
    s = spec("foreign", "lab", "network:default", 41, NULL);
    nea_err_clear(&err);
    assert_int_equal(nea_engine_apply(e, s, NULL, &err), NEA_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "not managed by neaprov"));
    char *x = virDomainGetXMLDesc(d, 0);
    assert_null(strstr(x, "neaprov"));
    free(x);
    assert_int_equal(count_vols(f, "nea-disk.foreign."), 0);
    virDomainUndefine(d);
    virDomainFree(d);
    nea_spec_free(s);

    /* another apply of the same tenant holds the lock */
    s = spec("locked", "lab", "network:default", 42, NULL);
    int fd = -1;
    assert_int_equal(nea_state_lock(nea_engine_state(e), NEA_LOCK_TENANT, "locked", 0, &fd,
                                    &err), NEA_OK);
    nea_err_clear(&err);
    assert_int_equal(nea_engine_apply(e, s, NULL, &err), NEA_ERR_BUSY);
    assert_non_null(strstr(err.msg, "busy"));
    char holder[64]; /* named: this process holds fd */
    snprintf(holder, sizeof(holder), "(pid %ld, command ", (long)getpid());
    assert_non_null(strstr(err.msg, holder));
    nea_state_unlock(fd);
    assert_int_equal(dom_state(f, "locked-nea"), -1);
    nea_spec_free(s);
    nea_engine_close(e);
}

/* Loads spec text (freed here) that must be valid. */
static struct nea_spec *spec_text(char *text)
{
    struct nea_diags d = {0};
    struct nea_err e = {0};
    struct nea_spec *s = NULL;
    int rc = nea_spec_load_buffer("t.yaml", text, strlen(text), &lopts, &s, &d, &e);
    for (size_t i = 0; i < d.n; i++)
        print_error("%s\n", d.v[i].text);
    assert_int_equal(rc, NEA_OK);
    nea_diags_clear(&d);
    free(text);
    return s;
}

static struct nea_spec *spec_pub(const char *t, unsigned v4, unsigned v6)
{
    return spec_text(nea_xasprintf("tenant: %s\nhardware-plan: lab\nappliance:\n"
                                   "  external-network: network:default\n"
                                   "  ipv4: {mode: static, address: 192.0.2.60, prefix: 24,"
                                   " gateway: 192.0.2.1}\n"
                                   "  ipv6: {mode: static, address: \"2001:db8::60\","
                                   " prefix: 64, gateway: \"2001:db8::1\"}\n"
                                   "public-ips: {ipv4: %u, ipv6: %u}\n", t, v4, v6));
}

static void test_public_ips(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_state *st = nea_engine_state(e);
    struct nea_err err = {0};
    struct nea_ip a, b;
    nea_ip_range_parse("203.0.113.16-203.0.113.18", &a, &b);
    assert_int_equal(nea_pool_add(st, &a, &b, &err), NEA_OK);
    nea_ip_range_parse("2001:db8:100::10-2001:db8:100::11", &a, &b);
    assert_int_equal(nea_pool_add(st, &a, &b, &err), NEA_OK);

    /* more than the pool has: refused before any host change */
    struct nea_spec *big = spec_pub("pubbig", 4, 0);
    assert_int_equal(nea_engine_apply(e, big, NULL, &err), NEA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "only 3 are free"));
    assert_int_equal(dom_state(f, "pubbig-nea"), -1);
    assert_int_equal(count_vols(f, "nea-disk.pubbig."), 0);
    struct nea_deployment *r = record(e, "pubbig");
    assert_null(r);
    nea_spec_free(big);
    nea_err_clear(&err);

    /* plan allocates nothing; apply does, and the addresses are in the seed */
    struct nea_spec *s = spec_pub("pub", 2, 1);
    assert_true(plan_todo(e, s, NULL) & NEA_DO_CREATE);
    struct nea_ip *got = NULL;
    size_t n = 0;
    assert_int_equal(nea_pool_allocate(st, "pub", 0, 0, true, &got, &n, &err), NEA_OK);
    assert_int_equal(n, 0); /* plan wrote nothing */
    free(got);
    apply_ok(e, s);
    assert_int_equal(s->n_public_addrs, 3);
    assert_int_equal(plan_todo(e, s, NULL), 0);

    /* a rule is a new seed + reboot */
    struct nea_rule rule = {0};
    enum nea_proto p;
    assert_null(nea_endpoint_parse("203.0.113.16:443/tcp", true, &rule.pub, &rule.pub_port,
                                   &rule.proto));
    assert_null(nea_endpoint_parse("192.0.2.50:8443", false, &rule.to, &rule.to_port, &p));
    assert_int_equal(nea_rule_add(st, "pub", &rule, &err), NEA_OK);
    struct nea_spec *s2 = spec_pub("pub", 2, 1);
    enum nea_disruption d;
    unsigned todo = plan_todo(e, s2, &d);
    assert_true(todo & NEA_DO_SEED);
    assert_int_equal(d, NEA_DISRUPT_REBOOT);
    apply_ok(e, s2);
    assert_int_equal(plan_todo(e, s2, NULL), 0);

    /* shrinking below a rule's address is refused; growing takes more */
    struct nea_spec *s3 = spec_pub("pub", 3, 1);
    todo = plan_todo(e, s3, NULL);
    assert_true(todo & NEA_DO_SEED);
    apply_ok(e, s3);
    assert_int_equal(s3->n_public_addrs, 4);

    /* destroy releases the addresses and the rules */
    assert_int_equal(nea_engine_destroy(e, "pub", NULL, &err), NEA_OK);
    struct nea_pool_run *runs = NULL;
    size_t nr = 0;
    struct nea_pool_summary sum;
    assert_int_equal(nea_pool_list(st, &runs, &nr, &sum, &err), NEA_OK);
    assert_int_equal(sum.assigned4 + sum.assigned6, 0);
    nea_pool_runs_free(runs, nr);
    struct nea_rule *rules = NULL;
    assert_int_equal(nea_rule_list(st, "pub", &rules, NULL, &n, &err), NEA_OK);
    assert_int_equal(n, 0);
    nea_rules_free(rules, NULL, n);
    nea_spec_free(s);
    nea_spec_free(s2);
    nea_spec_free(s3);
    nea_engine_close(e);
}

/* A base image whose upload neaprov began but did not finish is uploaded
 * again; one neaprov did not upload (the SP's own) is trusted. */
/* A spec of tenant t on plan p with networks (YAML flow list items). */
static struct nea_spec *spec_tn(const char *t, const char *p, const char *nets)
{
    return spec_text(nea_xasprintf("tenant: %s\nhardware-plan: %s\nappliance:\n"
                                   "  external-network: network:default\n"
                                   "  ipv4: {mode: static, address: 192.0.2.70, prefix: 24,"
                                   " gateway: 192.0.2.1}\n"
                                   "networks: [%s]\n", t, p, nets));
}

static bool lv_net_exists(struct fx *f, const char *name)
{
    virNetworkPtr n = virNetworkLookupByName(f->lv, name);
    if (n)
        virNetworkFree(n);
    return n != NULL;
}

static int count_substr(const char *hay, const char *needle)
{
    int c = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        c++;
    return c;
}

#define WEB "{name: web, gateway: 198.51.100.65/28, internet: true}"
#define DB "{name: db, gateway: 198.51.100.81/28, internet: false}"
#define APP "{name: app, gateway: 198.51.100.97/28, gateway6: \"2001:db8:a1::1/64\", internet: true}"

/* Isolated mode: one libvirt network per tenant network, owned by the
 * tenant; a network added or removed is its own plan line, plugged without
 * a reboot where the host can; destroy leaves none behind. */
static void test_tnets_isolated(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_err err = {0};
    struct nea_spec *s = spec_tn("tna", "lab-tn", WEB ", " DB);
    apply_ok(e, s);
    assert_true(lv_net_exists(f, "nea-net.tna.web"));
    assert_true(lv_net_exists(f, "nea-net.tna.db"));
    char *x = dom_xml(f, "tna-nea");
    assert_int_equal(count_substr(x, "<interface "), 3);
    assert_non_null(strstr(x, "nea-net.tna.web"));
    free(x);
    assert_int_equal(plan_todo(e, s, NULL), 0);

    /* status says where replicas attach */
    struct nea_app_status *v = NULL;
    size_t n = 0;
    assert_int_equal(nea_engine_status(e, "tna", &v, &n, &err), NEA_OK);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].n_tnets, 2);
    assert_string_equal(v[0].tnets[0].name, "web");
    assert_string_equal(v[0].tnets[0].libvirt_network, "nea-net.tna.web");
    assert_string_equal(v[0].tnets[0].gateway, "198.51.100.65/28");
    assert_true(v[0].tnets[0].internet);
    assert_false(v[0].tnets[1].internet);
    nea_statuses_free(v, n);

    /* add one: its own change, no reboot asked */
    struct nea_spec *s2 = spec_tn("tna", "lab-tn", WEB ", " DB ", " APP);
    struct nea_changeset cs = {0};
    assert_int_equal(nea_engine_plan(e, s2, &cs, &err), NEA_OK);
    assert_int_equal(cs.n, 1);
    assert_string_equal(cs.v[0].field, "tenant-network.app");
    assert_null(cs.v[0].old_value);
    assert_true(cs.todo & NEA_DO_PLUG);
    assert_int_equal(cs.disruption, NEA_DISRUPT_NONE);
    nea_changeset_clear(&cs);
    virDomainPtr dom = virDomainLookupByName(f->lv, "tna-nea");
    unsigned id_before = virDomainGetID(dom);
    virDomainFree(dom);
    apply_ok(e, s2);
    dom = virDomainLookupByName(f->lv, "tna-nea");
    unsigned id_after = virDomainGetID(dom);
    virDomainFree(dom);
    /* plugged live where the host can; else a reboot, and the event log
     * says why */
    struct nea_event *ev = NULL;
    size_t nev = 0;
    assert_int_equal(nea_state_events(nea_engine_state(e), "tna", 50, &ev, &nev, &err), NEA_OK);
    bool fallback = false;
    for (size_t i = 0; i < nev; i++)
        fallback |= !strcmp(ev[i].kind, "fallback");
    print_message("tenant network add: %s (domain id %u -> %u)\n",
                  fallback ? "reboot (no live plug here)" : "plugged live", id_before, id_after);
    if (!fallback)
        assert_int_equal(id_before, id_after);
    nea_events_free(ev, nev);
    assert_true(lv_net_exists(f, "nea-net.tna.app"));
    x = dom_xml(f, "tna-nea");
    assert_int_equal(count_substr(x, "<interface "), 4);
    free(x);
    assert_int_equal(plan_todo(e, s2, NULL), 0);

    /* a fourth is over the plan's max-networks: refused at load */
    struct nea_diags d = {0};
    struct nea_spec *over = NULL;
    char *text = nea_xasprintf("tenant: tna\nhardware-plan: lab-tn\nappliance:\n"
                               "  external-network: network:default\n"
                               "  ipv4: {mode: dhcp}\nnetworks: [%s, %s, %s, "
                               "{name: four, gateway: 198.51.100.113/28}]\n", WEB, DB, APP);
    assert_int_equal(nea_spec_load_buffer("t.yaml", text, strlen(text), &lopts, &over, &d,
                                          &err), NEA_ERR_INVALID);
    assert_true(d.n >= 1);
    assert_non_null(strstr(d.v[0].text, "at most 3"));
    nea_diags_clear(&d);
    free(text);

    /* remove one: its network goes; the slot is free for the next */
    struct nea_spec *s3 = spec_tn("tna", "lab-tn", WEB ", " APP);
    assert_int_equal(nea_engine_plan(e, s3, &cs, &err), NEA_OK);
    assert_int_equal(cs.n, 1);
    assert_string_equal(cs.v[0].field, "tenant-network.db");
    assert_null(cs.v[0].new_value);
    nea_changeset_clear(&cs);
    apply_ok(e, s3);
    assert_false(lv_net_exists(f, "nea-net.tna.db"));
    x = dom_xml(f, "tna-nea");
    assert_int_equal(count_substr(x, "<interface "), 3);
    assert_null(strstr(x, "nea-net.tna.db"));
    free(x);
    /* slots stay: app keeps int2, web int0 */
    char *canon = nea_spec_canonical(s3);
    assert_non_null(strstr(canon, "tenant-network.app=198.51.100.97/28 2001:db8:a1::1/64 "
                              "internet int2 "));
    free(canon);

    /* a changed gateway is a new seed and a reboot */
    struct nea_spec *s4 = spec_tn("tna", "lab-tn", WEB ", {name: app, gateway: "
                                  "198.51.100.98/28, internet: true}");
    enum nea_disruption dis;
    unsigned todo = plan_todo(e, s4, &dis);
    assert_true(todo & NEA_DO_SEED);
    assert_int_equal(dis, NEA_DISRUPT_REBOOT);

    /* destroy: no network of the tenant left */
    assert_int_equal(nea_engine_destroy(e, "tna", NULL, &err), NEA_OK);
    assert_false(lv_net_exists(f, "nea-net.tna.web"));
    assert_false(lv_net_exists(f, "nea-net.tna.app"));
    nea_spec_free(s);
    nea_spec_free(s2);
    nea_spec_free(s3);
    nea_spec_free(s4);
    nea_engine_close(e);
}

/* A libvirt network of the name that is not the tenant's is never taken
 * over; a rule into no network is refused; neither changes anything. */
static void test_tnets_refusals(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_err err = {0};
    virNetworkPtr foreign = virNetworkDefineXML(f->lv, "<network><name>nea-net.tnb.web"
                                                       "</name><bridge name='virbr7'/>"
                                                       "</network>");
    assert_non_null(foreign);
    struct nea_spec *s = spec_tn("tnb", "lab-tn", WEB);
    assert_int_equal(nea_engine_apply(e, s, NULL, &err), NEA_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "not network web of tenant tnb"));
    nea_err_clear(&err);
    assert_int_equal(virNetworkUndefine(foreign), 0);
    virNetworkFree(foreign);
    apply_ok(e, s);

    /* a rule whose replica is in none of the networks */
    struct nea_state *st = nea_engine_state(e);
    struct nea_rule rule = {0};
    enum nea_proto p;
    assert_null(nea_endpoint_parse("203.0.113.30:443/tcp", true, &rule.pub, &rule.pub_port,
                                   &rule.proto));
    assert_null(nea_endpoint_parse("198.51.100.200:443", false, &rule.to, &rule.to_port, &p));
    assert_int_equal(nea_engine_rule_check(e, "tnb", &rule, &err), NEA_ERR_INVALID);
    assert_non_null(strstr(err.msg, "--to 198.51.100.200 is in none of tenant tnb's networks"));
    nea_err_clear(&err);
    /* stored behind the check's back (an older neaprov): plan refuses */
    struct nea_ip a, b, *got = NULL;
    size_t ngot = 0;
    nea_ip_range_parse("203.0.113.30", &a, &b);
    assert_int_equal(nea_pool_add(st, &a, &b, &err), NEA_OK);
    assert_int_equal(nea_pool_allocate(st, "tnb", 1, 0, false, &got, &ngot, &err), NEA_OK);
    free(got);
    if (nea_rule_add(st, "tnb", &rule, &err) < 0)
        fail_msg("rule add: %s", err.msg);
    struct nea_changeset cs = {0};
    struct nea_spec *sp = spec_text(nea_xasprintf(
        "tenant: tnb\nhardware-plan: lab-tn\nappliance:\n"
        "  external-network: network:default\n"
        "  ipv4: {mode: static, address: 192.0.2.70, prefix: 24, gateway: 192.0.2.1}\n"
        "public-ips: {ipv4: 1}\nnetworks: [%s]\n", WEB));
    assert_int_equal(nea_engine_plan(e, sp, &cs, &err), NEA_ERR_INVALID);
    if (!strstr(err.msg, "--to 198.51.100.200"))
        fail_msg("plan: %s", err.msg);
    nea_spec_free(sp);
    nea_err_clear(&err);
    nea_changeset_clear(&cs);
    assert_int_equal(nea_rule_remove(st, "tnb", &rule.pub, rule.pub_port, rule.proto, &err),
                     NEA_OK);
    /* inside web: fine */
    assert_null(nea_endpoint_parse("198.51.100.66:443", false, &rule.to, &rule.to_port, &p));
    assert_int_equal(nea_engine_rule_check(e, "tnb", &rule, &err), NEA_OK);
    assert_int_equal(nea_engine_destroy(e, "tnb", NULL, &err), NEA_OK);
    nea_spec_free(s);
    nea_engine_close(e);
}

/* ovs-vlan: tags from the plan's range, never two networks on one; an
 * exhausted range refuses the apply with nothing changed; destroy frees
 * the tags. */
static void test_tnets_ovs_vlans(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_state *st = nea_engine_state(e);
    struct nea_err err = {0};
    struct nea_spec *a = spec_tn("ova", "lab-ovs", WEB ", " DB);
    apply_ok(e, a);
    char *x = dom_xml(f, "ova-nea");
    assert_non_null(strstr(x, "<tag id='100'/>"));
    assert_non_null(strstr(x, "<tag id='101'/>"));
    assert_non_null(strstr(x, "<virtualport type='openvswitch'"));
    free(x);
    size_t held = 0;
    assert_int_equal(nea_tnet_vlans_held(st, "ova", &held, &err), NEA_OK);
    assert_int_equal(held, 2);

    /* two more networks, one tag left: refused, nothing made */
    struct nea_spec *b = spec_text(nea_xasprintf(
        "tenant: ovb\nhardware-plan: lab-ovs\nappliance:\n"
        "  external-network: network:default\n"
        "  ipv4: {mode: static, address: 192.0.2.71, prefix: 24, gateway: 192.0.2.1}\n"
        "networks: [%s, %s]\n", WEB, DB));
    assert_int_equal(nea_engine_apply(e, b, NULL, &err), NEA_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "tenant-networks.vlans 100-102 is exhausted"));
    nea_err_clear(&err);
    assert_int_equal(dom_state(f, "ovb-nea"), -1);
    assert_null(record(e, "ovb"));
    assert_int_equal(nea_tnet_vlans_held(st, "ovb", &held, &err), NEA_OK);
    assert_int_equal(held, 0);

    /* a's destroy frees its tags; b fits */
    assert_int_equal(nea_engine_destroy(e, "ova", NULL, &err), NEA_OK);
    assert_int_equal(nea_tnet_vlans_held(st, "ova", &held, &err), NEA_OK);
    assert_int_equal(held, 0);
    apply_ok(e, b);
    x = dom_xml(f, "ovb-nea");
    assert_non_null(strstr(x, "<tag id='100'/>"));
    free(x);
    assert_int_equal(nea_engine_destroy(e, "ovb", NULL, &err), NEA_OK);
    nea_spec_free(a);
    nea_spec_free(b);
    nea_engine_close(e);
}

static int count_tnet_nets(struct fx *f, const char *tenant)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "nea-net.%s.", tenant);
    virNetworkPtr *v = NULL;
    int n = virConnectListAllNetworks(f->lv, &v, 0), c = 0;
    for (int i = 0; i < n; i++) {
        if (nea_str_has_prefix(virNetworkGetName(v[i]), prefix))
            c++;
        virNetworkFree(v[i]);
    }
    free(v);
    return c;
}

/* A failure at each tenant network step (making a network, plugging,
 * unplugging, removing one), in a fresh deploy, an add and a remove: the
 * next apply converges, and destroy leaves no network and no tag. */
static void test_tnets_faults_converge(void **state)
{
    struct fx *f = *state;
    static const char *const ops[] = {"net-define", "attach-device", "detach-device",
                                      "net-remove", "update-device", "define"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(ops); i++) {
        char tenant[32];
        snprintf(tenant, sizeof(tenant), "tnf%zu", i);
        struct nea_spec *steps[] = {
            spec_tn(tenant, "lab-tn", WEB),
            spec_tn(tenant, "lab-tn", WEB ", " DB),
            spec_tn(tenant, "lab-tn", DB),
        };
        for (size_t k = 0; k < NEA_ARRAY_SIZE(steps); k++) {
            struct nea_engine *e = engine(f, ops[i], 1);
            struct nea_err err = {0};
            int rc = nea_engine_apply(e, steps[k], NULL, &err);
            nea_engine_close(e);
            if (rc < 0 && !strstr(err.msg, "injected fault"))
                fail_msg("%s, step %zu: %s", ops[i], k, err.msg);
            e = engine(f, NULL, 0);
            apply_ok(e, steps[k]);
            assert_int_equal(plan_todo(e, steps[k], NULL), 0);
            assert_int_equal(count_tnet_nets(f, tenant), (int)steps[k]->n_tnets);
            nea_engine_close(e);
        }
        struct nea_engine *e = engine(f, NULL, 0);
        struct nea_err err = {0};
        assert_int_equal(nea_engine_destroy(e, tenant, NULL, &err), NEA_OK);
        assert_int_equal(count_tnet_nets(f, tenant), 0);
        nea_engine_close(e);
        for (size_t k = 0; k < NEA_ARRAY_SIZE(steps); k++)
            nea_spec_free(steps[k]);
    }
}

/* A run cut after a network's vNIC went into the domain but before the
 * record named the network, then the spec drops that network: the next
 * apply takes the vNIC out before it releases the tag and the network
 * (review finding: the tag was released under a live vNIC). */
static void test_tnets_cut_then_dropped(void **state)
{
    struct fx *f = *state;
    struct nea_state *st = NULL;
    struct nea_err err = {0};
    struct nea_engine *e = engine(f, NULL, 0);
    st = nea_engine_state(e);
    struct nea_spec *one = spec_tn("tnc", "lab-ovs", WEB);
    struct nea_spec *two = spec_tn("tnc", "lab-ovs", WEB ", " APP);
    apply_ok(e, one);
    nea_engine_close(e);
    /* the add, cut at the start after the new definition */
    e = engine(f, "start", 1);
    assert_int_not_equal(nea_engine_apply(e, two, NULL, &err), NEA_OK);
    nea_err_clear(&err);
    nea_engine_close(e);
    char *x = dom_xml(f, "tnc-nea");
    char appmac[18];
    nea_mac_format(two->tnets[1].mac, appmac);
    assert_non_null(strstr(x, appmac));
    free(x);
    size_t held = 0;
    /* the spec drops app */
    e = engine(f, NULL, 0);
    st = nea_engine_state(e);
    struct nea_changeset cs = {0};
    assert_int_equal(nea_engine_plan(e, one, &cs, &err), NEA_OK);
    bool seen = false;
    for (size_t i = 0; i < cs.n; i++)
        seen |= !strcmp(cs.v[i].field, "vNICs left over") &&
                strstr(cs.v[i].old_value, appmac) != NULL;
    assert_true(seen);
    nea_changeset_clear(&cs);
    apply_ok(e, one);
    x = dom_xml(f, "tnc-nea");
    assert_null(strstr(x, appmac));
    assert_int_equal(count_substr(x, "<interface "), 2);
    free(x);
    assert_int_equal(nea_tnet_vlans_held(st, "tnc", &held, &err), NEA_OK);
    assert_int_equal(held, 1);
    assert_int_equal(plan_todo(e, one, NULL), 0);
    assert_int_equal(nea_engine_destroy(e, "tnc", NULL, &err), NEA_OK);
    assert_int_equal(nea_tnet_vlans_held(st, "tnc", &held, &err), NEA_OK);
    assert_int_equal(held, 0);
    nea_engine_close(e);
    nea_spec_free(one);
    nea_spec_free(two);
}

static void test_base_image_cut(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_state *st = nea_engine_state(e);
    struct nea_err err = {0};
    struct nea_spec *s = spec("cut", "lab", "network:default", 70, NULL);
    apply_ok(e, s);
    char *got = NULL;
    assert_int_equal(nea_state_base_image(st, "test:///default", "default-pool",
                                          "nea-base-02461b271c5c14ca.qcow2", &got, &err), NEA_OK);
    /* uploaded by this or an earlier test of this process: done, or the SP's */
    if (got)
        assert_string_equal(got, "done");
    free(got);
    assert_int_equal(nea_state_set_base_image(st, "test:///default", "default-pool",
                                              "nea-base-02461b271c5c14ca.qcow2", "uploading", &err), NEA_OK);
    assert_int_equal(nea_engine_destroy(e, "cut", NULL, &err), NEA_OK);
    apply_ok(e, s); /* a fresh disk needs the base image: uploaded again */
    assert_int_equal(nea_state_base_image(st, "test:///default", "default-pool",
                                          "nea-base-02461b271c5c14ca.qcow2", &got, &err), NEA_OK);
    assert_string_equal(got, "done");
    free(got);
    assert_int_equal(nea_engine_destroy(e, "cut", NULL, &err), NEA_OK);
    nea_spec_free(s);
    nea_engine_close(e);
}

/* A libvirt failure injected at each operation of a fresh deploy and of an
 * addressing change; the next apply (without the fault) converges to the
 * same end state with nothing orphaned. */
static void test_faults_converge(void **state)
{
    struct fx *f = *state;
    static const char *const ops[] = {"list-networks", "lookup", "vol-upload",
                                      "vol-create", "define", "start", "stop",
                                      "vol-delete"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(ops); i++) {
        for (unsigned nth = 1; nth <= 2; nth++) {
            char tenant[32];
            snprintf(tenant, sizeof(tenant), "fault%zu-%u", i, nth);
            struct nea_spec *s = spec(tenant, "lab", "network:default", 50, NULL);
            struct nea_spec *s2 = spec(tenant, "lab", "network:default", 51, NULL);
            char name[48];
            snprintf(name, sizeof(name), "%s-nea", tenant);
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "nea-seed.%s.", tenant);

            /* fresh deploy with the fault */
            struct nea_engine *e = engine(f, ops[i], nth);
            struct nea_err err = {0};
            int rc = nea_engine_apply(e, s, NULL, &err);
            if (rc == NEA_OK) /* the op was not reached in this path */
                rc = nea_engine_apply(e, s2, NULL, &err);
            nea_engine_close(e);
            if (rc < 0) {
                assert_non_null(strstr(err.msg, "injected fault"));
                e = engine(f, NULL, 0);
                struct nea_deployment *r = record(e, tenant);
                /* failed once a side effect was under way; a failure while
                 * planning leaves the record as it was; never recorded as
                 * applied */
                if (r && r->state == NEA_DEP_FAILED)
                    assert_non_null(r->last_error);
                else if (r)
                    assert_int_equal(r->state, NEA_DEP_RUNNING);
                /* the new spec is recorded only once the appliance runs it,
                 * before the last step (removing superseded seeds) */
                if (r && r->spec_hash && !strcmp(r->spec_hash, s2->hash))
                    assert_string_equal(r->step, "cleanup");
                nea_deployment_free(r);
                nea_engine_close(e);
            }
            /* converge without the fault */
            e = engine(f, NULL, 0);
            apply_ok(e, s2);
            assert_int_equal(dom_state(f, name), VIR_DOMAIN_RUNNING);
            assert_int_equal(plan_todo(e, s2, NULL), 0);
            assert_int_equal(count_vols(f, prefix), 1);
            struct nea_deployment *r = record(e, tenant);
            assert_int_equal(r->state, NEA_DEP_RUNNING);
            assert_string_equal(r->spec_hash, s2->hash);
            nea_deployment_free(r);
            assert_int_equal(nea_engine_destroy(e, tenant, NULL, &err), NEA_OK);
            char all[64];
            snprintf(all, sizeof(all), "nea-seed.%s.", tenant);
            assert_int_equal(count_vols(f, all), 0);
            snprintf(all, sizeof(all), "nea-disk.%s.", tenant);
            assert_int_equal(count_vols(f, all), 0);
            nea_engine_close(e);
            nea_spec_free(s);
            nea_spec_free(s2);
        }
    }
}

/* A plan with image-sha256: the pool volume is named after the content;
 * a record written before images were recorded by their sha256 (its image
 * line a URL with credentials) is the same image, not a new disk, and the
 * credentials show nowhere. */
static void test_image_by_sha(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_state *st = nea_engine_state(e);
    struct nea_err err = {0};
    struct nea_spec *s = spec("oldrec", "lab-sha", "network:default", 80, NULL);
    apply_ok(e, s);
    char *got = NULL;
    assert_int_equal(nea_state_base_image(st, "test:///default", "default-pool",
                                          "nea-base-02461b271c5c14ca.qcow2", &got, &err),
                     NEA_OK);
    assert_non_null(got);
    assert_string_equal(got, "done");
    free(got);
    struct nea_deployment *d = NULL;
    assert_int_equal(nea_state_get(st, "oldrec", &d, &err), NEA_OK);
    char *line = strstr(d->spec, "image=sha256:02461b27");
    assert_non_null(line);
    char *rest = strchr(line, '\n');
    char *old = nea_xasprintf("%.*simage=https://nea:s3cret@img.example.net/old.qcow2%s",
                              (int)(line - d->spec), d->spec, rest);
    free(d->spec);
    d->spec = old;
    assert_int_equal(nea_state_put(st, d, &err), NEA_OK);
    nea_deployment_free(d);
    struct nea_changeset cs = {0};
    assert_int_equal(nea_engine_plan(e, s, &cs, &err), NEA_OK);
    assert_false(cs.todo & (NEA_DO_DISK | NEA_DO_CREATE));
    assert_int_equal(cs.disruption, NEA_DISRUPT_NONE);
    for (size_t i = 0; i < cs.n; i++) {
        assert_string_not_equal(cs.v[i].field, "image");
        assert_null(cs.v[i].old_value ? strstr(cs.v[i].old_value, "s3cret") : NULL);
    }
    nea_changeset_clear(&cs);
    assert_int_equal(nea_engine_destroy(e, "oldrec", NULL, &err), NEA_OK);
    nea_spec_free(s);
    nea_engine_close(e);
}

/* ---- isolation: tenant-chosen values never reach another tenant --------- */

static const char BASE_VOL[] = "nea-base-02461b271c5c14ca.qcow2";

/* A record as neaprov before the volume namespaces wrote it at step
 * "begin", before it had checked that the volume was the appliance's. */
static void poison(struct nea_state *st, const char *tenant, const char *name,
                   const char *disk)
{
    struct nea_deployment d = {
        .tenant = (char *)tenant, .name = (char *)name, .plan = "lab",
        .host = "test:///default", .pool = "default-pool", .state = NEA_DEP_FAILED,
        .step = "begin", .mac = "52:54:00:6d:61:6c", .uuid =
        "6d616c6c-6f72-8000-8000-000000000001", .disk_volume = (char *)disk,
    };
    struct nea_err err = {0};
    if (nea_state_put(st, &d, &err) < 0)
        fail_msg("put: %s", err.msg);
}

static void assert_boots_own_disk(struct fx *f, const char *name, const char *tenant)
{
    char *x = dom_xml(f, name);
    char *own = nea_xasprintf("/default-pool/nea-disk.%s.qcow2'", tenant);
    if (!strstr(x, own))
        fail_msg("%s does not boot from %s:\n%s", name, own, x);
    assert_null(strstr(x, "/default-pool/nea-base-"));
    free(own);
    free(x);
}

static void test_volume_isolation(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_state *st = nea_engine_state(e);
    struct nea_err err = {0};
    struct nea_spec *v = spec("victim", "lab", "network:default", 80, "victim-x");
    apply_ok(e, v);
    assert_int_equal(count_vols(f, BASE_VOL), 1);
    assert_int_equal(count_vols(f, "nea-disk.victim.qcow2"), 1);

    /* an appliance named after the shared base image gets a disk of its own */
    struct nea_spec *m = spec("mallory", "lab", "network:default", 81,
                              "nea-base-02461b271c5c14ca");
    apply_ok(e, m);
    assert_boots_own_disk(f, "nea-base-02461b271c5c14ca", "mallory");
    assert_int_equal(nea_engine_destroy(e, "mallory", NULL, &err), NEA_OK);
    assert_int_equal(count_vols(f, BASE_VOL), 1);
    assert_int_equal(count_vols(f, "nea-disk.victim.qcow2"), 1);

    /* an old record that names the base image (or the victim's disk) as the
     * appliance's: destroy deletes neither, apply uses neither */
    const char *const targets[] = {BASE_VOL, "nea-disk.victim.qcow2"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(targets); i++) {
        poison(st, "mallory", "mallory-nea", targets[i]);
        assert_int_equal(nea_engine_destroy(e, "mallory", NULL, &err), NEA_OK);
        assert_int_equal(count_vols(f, targets[i]), 1);
        poison(st, "mallory", "mallory-nea", targets[i]);
        struct nea_spec *m2 = spec("mallory", "lab", "network:default", 81, NULL);
        apply_ok(e, m2);
        assert_boots_own_disk(f, "mallory-nea", "mallory");
        struct nea_deployment *r = record(e, "mallory");
        assert_string_equal(r->disk_volume, "nea-disk.mallory.qcow2");
        assert_non_null(r->disk_backing);
        assert_non_null(strstr(r->disk_backing, BASE_VOL));
        nea_deployment_free(r);
        assert_int_equal(nea_engine_destroy(e, "mallory", NULL, &err), NEA_OK);
        assert_int_equal(count_vols(f, targets[i]), 1);
        assert_int_equal(count_vols(f, "nea-disk.mallory."), 0);
        nea_spec_free(m2);
    }

    /* the victim's former name, after a rename, is just a name */
    struct nea_spec *v2 = spec("victim", "lab", "network:default", 80, "victim-y");
    apply_ok(e, v2);
    struct nea_spec *m3 = spec("mallory", "lab", "network:default", 81, "victim-x");
    apply_ok(e, m3);
    assert_boots_own_disk(f, "victim-x", "mallory");
    assert_boots_own_disk(f, "victim-y", "victim");
    assert_int_equal(nea_engine_destroy(e, "mallory", NULL, &err), NEA_OK);
    assert_int_equal(count_vols(f, "nea-disk.victim.qcow2"), 1);
    assert_int_equal(count_vols(f, "nea-seed.victim."), 1);
    assert_int_equal(dom_state(f, "victim-y"), VIR_DOMAIN_RUNNING);

    /* a disk in the tenant's namespace that is no overlay of a base image
     * (made by hand) is neither used nor deleted */
    virStoragePoolPtr pool = virStoragePoolLookupByName(f->lv, "default-pool");
    virStorageVolPtr hand = virStorageVolCreateXML(
        pool, "<volume><name>nea-disk.mallory.qcow2</name><capacity>1048576</capacity>"
              "<target><format type='qcow2'/></target></volume>", 0);
    assert_non_null(hand);
    nea_err_clear(&err);
    assert_int_equal(nea_engine_apply(e, m3, NULL, &err), NEA_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "not provably the disk of tenant mallory"));
    assert_int_equal(dom_state(f, "victim-x"), -1);
    assert_int_equal(nea_engine_destroy(e, "mallory", NULL, &err), NEA_OK);
    assert_int_equal(count_vols(f, "nea-disk.mallory.qcow2"), 1);
    virStorageVolDelete(hand, 0);
    virStorageVolFree(hand);
    virStoragePoolFree(pool);

    assert_int_equal(nea_engine_destroy(e, "victim", NULL, &err), NEA_OK);
    assert_int_equal(count_vols(f, "nea-disk.victim."), 0);
    assert_int_equal(count_vols(f, BASE_VOL), 1); /* shared: never an appliance's */
    nea_spec_free(v);
    nea_spec_free(v2);
    nea_spec_free(m);
    nea_spec_free(m3);
    nea_engine_close(e);
}

/* A disk pinned by a record from before the namespaces ("<name>.qcow2", no
 * backing store recorded) is adopted when everything proves it: an overlay,
 * named by no other tenant, the tenant's own domain boots from it. */
static void test_legacy_disk(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_state *st = nea_engine_state(e);
    struct nea_err err = {0};
    struct nea_spec *s = spec("legacy", "lab", "network:default", 85, NULL);
    apply_ok(e, s);
    /* make it what the old neaprov left: legacy-nea.qcow2 */
    virStoragePoolPtr pool = virStoragePoolLookupByName(f->lv, "default-pool");
    virStorageVolPtr old = virStorageVolCreateXML(
        pool, "<volume><name>legacy-nea.qcow2</name><capacity>2147483648</capacity>"
              "<target><format type='qcow2'/></target><backingStore>"
              "<path>/default-pool/nea-lab.qcow2</path><format type='qcow2'/>"
              "</backingStore></volume>", 0);
    assert_non_null(old);
    virStorageVolFree(old);
    virStoragePoolFree(pool);
    char *x = dom_xml(f, "legacy-nea");
    char *y = replace_once(x, "nea-disk.legacy.qcow2", "legacy-nea.qcow2");
    virDomainPtr d = virDomainLookupByName(f->lv, "legacy-nea");
    assert_int_equal(virDomainDestroy(d), 0);
    virDomainFree(d);
    d = virDomainDefineXML(f->lv, y);
    assert_non_null(d);
    assert_int_equal(virDomainCreate(d), 0);
    virDomainFree(d);
    free(x);
    free(y);
    delete_vol(f, "nea-disk.legacy.qcow2");
    struct nea_deployment *r = record(e, "legacy");
    free(r->disk_volume);
    r->disk_volume = nea_xstrdup("legacy-nea.qcow2");
    free(r->disk_backing);
    r->disk_backing = NULL;
    assert_int_equal(nea_state_put(st, r, &err), NEA_OK);

    /* another tenant's record naming it too: not provably this one's */
    poison(st, "legacy2", "legacy2-nea", "legacy-nea.qcow2");
    enum nea_disruption dis;
    assert_true(plan_todo(e, s, &dis) & NEA_DO_DISK);
    assert_int_equal(dis, NEA_DISRUPT_REDEPLOY);
    struct nea_deployment *p2 = record(e, "legacy2");
    p2->state = NEA_DEP_GONE;
    free(p2->disk_volume);
    p2->disk_volume = NULL;
    assert_int_equal(nea_state_put(st, p2, &err), NEA_OK);
    nea_deployment_free(p2);

    /* otherwise adopted: nothing to change, and recorded with its proof */
    assert_int_equal(plan_todo(e, s, NULL), 0);
    struct nea_spec *s2 = spec("legacy", "lab", "network:default", 86, NULL);
    apply_ok(e, s2);
    nea_deployment_free(r);
    r = record(e, "legacy");
    assert_string_equal(r->disk_volume, "legacy-nea.qcow2");
    assert_string_equal(r->disk_backing, "/default-pool/nea-lab.qcow2");
    nea_deployment_free(r);
    /* an image change: the new disk is the tenant's own, the old one goes */
    struct nea_spec *s3 = spec("legacy", "lab-v2", "network:default", 86, NULL);
    assert_true(plan_todo(e, s3, NULL) & NEA_DO_DISK);
    apply_ok(e, s3);
    assert_int_equal(count_vols(f, "legacy-nea.qcow2"), 0);
    assert_int_equal(count_vols(f, "nea-disk.legacy.qcow2"), 1);
    char *x3 = dom_xml(f, "legacy-nea");
    assert_non_null(strstr(x3, "nea-disk.legacy.qcow2"));
    free(x3);
    nea_spec_free(s3);
    assert_int_equal(nea_engine_destroy(e, "legacy", NULL, &err), NEA_OK);
    assert_int_equal(count_vols(f, "legacy-nea.qcow2"), 0);
    assert_int_equal(count_vols(f, "nea-disk.legacy."), 0);
    nea_spec_free(s);
    nea_spec_free(s2);
    nea_engine_close(e);
}

/* A volume named like a base image is one only when it is one: an overlay
 * of that name (an appliance named nea-base-<hex> got that disk from an
 * old neaprov) is never built on.  A recorded disk of an old record that
 * is missing is replaced under the tenant's own name, and a proven one is
 * replaced by the tenant's own on an image change. */
static void test_base_impostor(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_state *st = nea_engine_state(e);
    struct nea_err err = {0};
    virStoragePoolPtr pool = virStoragePoolLookupByName(f->lv, "default-pool");
    virStorageVolPtr fake = virStorageVolCreateXML(
        pool, "<volume><name>nea-base-02461b271c5c14ca.qcow2</name>"
              "<capacity>2147483648</capacity><target><format type='qcow2'/></target>"
              "<backingStore><path>/default-pool/mallory-base.qcow2</path>"
              "<format type='qcow2'/></backingStore></volume>", 0);
    assert_non_null(fake);
    struct nea_spec *s = spec("impostor", "lab", "network:default", 90, NULL);
    nea_err_clear(&err);
    assert_int_equal(nea_engine_apply(e, s, NULL, &err), NEA_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "named like a base image"));
    assert_int_equal(dom_state(f, "impostor-nea"), -1);
    assert_int_equal(count_vols(f, "nea-disk.impostor."), 0);
    virStorageVolDelete(fake, 0);
    virStorageVolFree(fake);
    virStoragePoolFree(pool);

    /* the true base, named as its disk by an old record: still the base */
    apply_ok(e, s);
    poison(st, "mallory", "mallory-nea", BASE_VOL);
    struct nea_spec *s2 = spec("impostor", "lab", "network:default", 91, NULL);
    apply_ok(e, s2);
    nea_err_clear(&err);
    assert_int_equal(nea_engine_destroy(e, "mallory", NULL, &err), NEA_OK);

    /* an old record's disk that is missing: a new one of the tenant's own */
    struct nea_deployment *r = record(e, "impostor");
    free(r->disk_volume);
    r->disk_volume = nea_xstrdup("impostor-nea.qcow2");
    free(r->disk_backing);
    r->disk_backing = NULL;
    assert_int_equal(nea_state_put(st, r, &err), NEA_OK);
    nea_deployment_free(r);
    delete_vol(f, "nea-disk.impostor.qcow2");
    assert_true(plan_todo(e, s2, NULL) & NEA_DO_DISK);
    apply_ok(e, s2);
    assert_int_equal(count_vols(f, "impostor-nea.qcow2"), 0);
    assert_int_equal(count_vols(f, "nea-disk.impostor.qcow2"), 1);
    r = record(e, "impostor");
    assert_string_equal(r->disk_volume, "nea-disk.impostor.qcow2");
    nea_deployment_free(r);
    assert_int_equal(nea_engine_destroy(e, "impostor", NULL, &err), NEA_OK);
    assert_int_equal(count_vols(f, "nea-disk.impostor."), 0);
    assert_int_equal(count_vols(f, BASE_VOL), 1);
    nea_spec_free(s);
    nea_spec_free(s2);
    nea_engine_close(e);
}

/* An apply cut right after libvirt renamed the domain leaves it under the
 * new name while the record has the old one: destroy finds it by its UUID
 * and removes it, instead of deleting its volumes under a running domain. */
static void test_destroy_after_cut_rename(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_err err = {0};
    struct nea_spec *s = spec("cutren", "lab", "network:default", 95, NULL);
    apply_ok(e, s);
    virDomainPtr d = virDomainLookupByName(f->lv, "cutren-nea");
    assert_int_equal(virDomainDestroy(d), 0);
    assert_int_equal(virDomainRename(d, "cutren-new", 0), 0);
    assert_int_equal(virDomainCreate(d), 0);
    virDomainFree(d);
    assert_int_equal(nea_engine_destroy(e, "cutren", NULL, &err), NEA_OK);
    assert_int_equal(dom_state(f, "cutren-new"), -1);
    assert_int_equal(count_vols(f, "nea-disk.cutren."), 0);
    assert_int_equal(count_vols(f, "nea-seed.cutren."), 0);
    nea_spec_free(s);
    nea_engine_close(e);
}

static struct nea_spec *spec_mac(const char *t, const char *name, const char *mac)
{
    return spec_text(nea_xasprintf("tenant: %s\nhardware-plan: lab\nappliance:\n"
                                   "  name: %s\n%s%s%s"
                                   "  external-network: network:default\n"
                                   "  ipv4: {mode: dhcp}\n", t, name,
                                   mac ? "  mac: \"" : "", mac ? mac : "",
                                   mac ? "\"\n" : ""));
}

/* Two appliances on one host never share a MAC: one given by the spec is
 * refused naming the holder, a derived one is derived again, and the state
 * refuses the write whatever the caller. */
static void test_mac_unique(void **state)
{
    struct fx *f = *state;
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_state *st = nea_engine_state(e);
    struct nea_err err = {0};
    struct nea_spec *a = spec_mac("maca", "maca-one", NULL);
    apply_ok(e, a);
    struct nea_deployment *ra = record(e, "maca");

    /* the same MAC given explicitly (any case) */
    char upper[18];
    snprintf(upper, sizeof(upper), "%s", ra->mac);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    struct nea_spec *b = spec_mac("macb", "macb-one", upper);
    struct nea_changeset cs = {0};
    assert_int_equal(nea_engine_plan(e, b, &cs, &err), NEA_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "tenant maca"));
    assert_non_null(strstr(err.msg, "appliance.mac"));
    nea_changeset_clear(&cs);
    nea_err_clear(&err);
    assert_int_equal(nea_engine_apply(e, b, NULL, &err), NEA_ERR_CONFLICT);
    assert_int_equal(dom_state(f, "macb-one"), -1);
    struct nea_deployment *rb = record(e, "macb");
    assert_null(rb);

    /* a derived MAC that another appliance holds: renamed, maca keeps its
     * MAC; macc takes maca's former name, whose MAC would be the same */
    struct nea_spec *a2 = spec_mac("maca", "maca-two", NULL);
    apply_ok(e, a2);
    struct nea_spec *c = spec_mac("macc", "maca-one", NULL);
    apply_ok(e, c);
    struct nea_deployment *rc = record(e, "macc");
    assert_string_not_equal(rc->mac, ra->mac);
    char *x = dom_xml(f, "maca-one");
    assert_non_null(strstr(x, rc->mac));
    free(x);

    /* the state itself: a second row with that MAC on that host */
    struct nea_deployment dup = {
        .tenant = "macd", .name = "macd-nea", .plan = "lab", .host = "test:///default",
        .pool = "default-pool", .state = NEA_DEP_PROVISIONING, .mac = upper,
        .uuid = "6d616364-0000-8000-8000-000000000001",
    };
    nea_err_clear(&err);
    assert_int_equal(nea_state_put(st, &dup, &err), NEA_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "MAC address in use"));
    dup.host = "qemu:///system"; /* another host may */
    assert_int_equal(nea_state_put(st, &dup, &err), NEA_OK);

    assert_int_equal(nea_engine_destroy(e, "maca", NULL, &err), NEA_OK);
    assert_int_equal(nea_engine_destroy(e, "macc", NULL, &err), NEA_OK);
    /* once maca is gone, its MAC is free again */
    apply_ok(e, b);
    assert_int_equal(nea_engine_destroy(e, "macb", NULL, &err), NEA_OK);
    nea_deployment_free(ra);
    nea_deployment_free(rc);
    nea_spec_free(a);
    nea_spec_free(a2);
    nea_spec_free(b);
    nea_spec_free(c);
    nea_engine_close(e);
}

/* Local images are named by content: two plans with files of one basename
 * and different content get two base volumes; a file that is no disk image
 * is never uploaded. */
static void test_local_image_names(void **state)
{
    struct fx *f = *state;
    char *dirs[3];
    const char *contents[2] = {"QFI\xfb-image-A", "QFI\xfb-image-B"};
    for (int i = 0; i < 2; i++) {
        dirs[i] = nea_xasprintf("%s/img%c", f->dir, 'A' + i);
        assert_int_equal(mkdir(dirs[i], 0700), 0);
        char *img = nea_xasprintf("%s/nea.qcow2", dirs[i]);
        FILE *fp = fopen(img, "w");
        fputs(contents[i], fp);
        fclose(fp);
        free(img);
    }
    dirs[2] = nea_xasprintf("%s/plans", f->dir);
    assert_int_equal(mkdir(dirs[2], 0700), 0);
    const char *const images[] = {"../imgA/nea.qcow2", "../imgB/nea.qcow2", "/etc/passwd",
                                  "/dev/zero"};
    for (size_t i = 0; i < NEA_ARRAY_SIZE(images); i++) {
        char *path = nea_xasprintf("%s/p%zu.yaml", dirs[2], i);
        FILE *fp = fopen(path, "w");
        fprintf(fp, "name: p%zu\nhost: test:///default\nstorage-pool: default-pool\n"
                    "networks: [network:default]\nvcpus: 1\nmemory-mib: 512\n"
                    "disk-gib: 2\nimage: %s\n", i, images[i]);
        fclose(fp);
        free(path);
    }
    const char *pd[] = {dirs[2]};
    struct nea_load_opts lo = {pd, 1};
    struct nea_engine *e = engine(f, NULL, 0);
    struct nea_err err = {0};
    char *names[2];
    for (size_t i = 0; i < NEA_ARRAY_SIZE(images); i++) {
        char *text = nea_xasprintf("tenant: img%zu\nhardware-plan: p%zu\nappliance:\n"
                                   "  external-network: network:default\n"
                                   "  ipv4: {mode: dhcp}\n", i, i);
        struct nea_diags d = {0};
        struct nea_spec *s = NULL;
        int lrc = nea_spec_load_buffer("t.yaml", text, strlen(text), &lo, &s, &d, &err);
        for (size_t k = 0; k < d.n; k++)
            print_error("%s\n", d.v[k].text);
        assert_int_equal(lrc, NEA_OK);
        nea_diags_clear(&d);
        free(text);
        int before = count_vols(f, "nea-base-");
        nea_err_clear(&err);
        int rc = nea_engine_apply(e, s, NULL, &err);
        if (i < 2) {
            if (rc < 0)
                fail_msg("apply: %s", err.msg);
            struct nea_deployment *r = record(e, s->tenant);
            names[i] = nea_xstrdup(strrchr(r->disk_backing, '/') + 1);
            nea_deployment_free(r);
            assert_int_equal(count_vols(f, names[i]), 1);
            assert_int_equal(nea_engine_destroy(e, s->tenant, NULL, &err), NEA_OK);
        } else {
            assert_int_equal(rc, NEA_ERR_INVALID);
            assert_non_null(strstr(err.msg, "cannot be the appliance image"));
            assert_int_equal(count_vols(f, "nea-base-"), before);
            struct nea_deployment *r = record(e, s->tenant);
            assert_null(r);
        }
        nea_spec_free(s);
    }
    assert_string_not_equal(names[0], names[1]);
    free(names[0]);
    free(names[1]);
    for (int i = 0; i < 3; i++)
        free(dirs[i]);
    nea_engine_close(e);
}

/* An address taken from the tenant during its apply (pool remove --force,
 * re-added, given to another tenant) is never recorded for both. */
struct race {
    const char *state_path;
    bool done;
};

static void race_progress(void *data, const char *tenant, const char *step, int pct)
{
    (void)tenant;
    (void)pct;
    struct race *r = data;
    if (r->done || strcmp(step, "define"))
        return;
    r->done = true;
    struct nea_state *st = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_state_open(r->state_path, &st, &err), NEA_OK);
    struct nea_ip a, b;
    nea_ip_range_parse("198.51.100.7-198.51.100.7", &a, &b);
    char *released = NULL;
    assert_int_equal(nea_pool_remove(st, &a, &b, true, &released, &err), NEA_OK);
    free(released);
    assert_int_equal(nea_pool_add(st, &a, &b, &err), NEA_OK);
    struct nea_ip *got = NULL;
    size_t n = 0;
    assert_int_equal(nea_pool_allocate(st, "racer", 1, 0, false, &got, &n, &err), NEA_OK);
    assert_int_equal(n, 1);
    free(got);
    nea_state_close(st);
}

static void test_pool_race(void **state)
{
    struct fx *f = *state;
    struct race rr = {.state_path = f->state_path};
    struct nea_engine_opts o = {.state_path = f->state_path, .template_path = NEA_TEMPLATE,
                                .stop_timeout_s = 1, .progress = race_progress,
                                .progress_data = &rr};
    struct nea_engine *e = NULL;
    struct nea_err err = {0};
    assert_int_equal(nea_engine_open(&o, &e, &err), NEA_OK);
    struct nea_state *st = nea_engine_state(e);
    struct nea_ip a, b;
    nea_ip_range_parse("198.51.100.7-198.51.100.8", &a, &b);
    assert_int_equal(nea_pool_add(st, &a, &b, &err), NEA_OK);
    struct nea_spec *s = spec_pub("victimpub", 1, 0);
    assert_int_equal(nea_engine_apply(e, s, NULL, &err), NEA_ERR_CONFLICT);
    assert_non_null(strstr(err.msg, "198.51.100.7 was taken from tenant victimpub"));
    assert_true(rr.done);
    struct nea_deployment *r = record(e, "victimpub");
    assert_int_equal(r->state, NEA_DEP_FAILED);
    assert_null(r->spec_hash); /* the seed with .7 was never recorded as applied */
    nea_deployment_free(r);
    /* the next apply converges on the address that is still free */
    struct nea_spec *s2 = spec_pub("victimpub", 1, 0);
    apply_ok(e, s2);
    assert_int_equal(s2->n_public_addrs, 1);
    char got[NEA_IP_STRLEN];
    nea_ip_format(&s2->public_addrs[0], got);
    assert_string_equal(got, "198.51.100.8");
    assert_int_equal(nea_engine_destroy(e, "victimpub", NULL, &err), NEA_OK);
    nea_spec_free(s);
    nea_spec_free(s2);
    nea_engine_close(e);
}

/* Every class of canonical key has an action (but IGNORE, never a change):
 * a new class without one would fall back to nothing. */
static void test_change_classes(void **state)
{
    (void)state;
    for (int k = 0; k < NEA_CHANGE_LAST; k++) {
        const char *a = nea_change_class_action((enum nea_change_class)k);
        if (k == NEA_CHANGE_IGNORE)
            assert_null(a);
        else if (!a)
            fail_msg("change class %d has no action", k);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_noop_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reprovision_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drift, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_converge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_public_ips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_base_image_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_by_sha, setup, teardown),
        cmocka_unit_test_setup_teardown(test_volume_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_base_impostor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_after_cut_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mac_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_image_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tnets_isolated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tnets_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tnets_ovs_vlans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tnets_faults_converge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tnets_cut_then_dropped, setup, teardown),
        cmocka_unit_test(test_change_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

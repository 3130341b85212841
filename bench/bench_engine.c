/*
 * Benchmarks, printed as figures (never asserted):
 *   - apply of N fresh appliances and a no-op plan of all N, on libvirt's
 *     test driver in one process (bench/host.xml: test:///default's pool
 *     holds only 100 GiB), for N = 10, 100, 1000, with peak RSS;
 *   - rendering one appliance's artefacts (seed YAML + ISO + domain XML).
 * bench/run.sh adds the tools a user would use instead (cloud-localds,
 * genisoimage, virt-install) for comparison.
 */
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "nea_engine.h"
#include "nea_render.h"
#include "nea_spec.h"
#include "nea_util.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static struct nea_spec *make_spec(const char *plans, unsigned i)
{
    const char *const dirs[] = {plans};
    struct nea_load_opts lo = {dirs, 1};
    char *text = nea_xasprintf("tenant: bench%u\nhardware-plan: lab\nappliance:\n"
                               "  external-network: network:default\n"
                               "  ipv4: {mode: static, address: 198.51.%u.%u, prefix: 16,"
                               " gateway: 198.51.0.1}\n",
                               i, 100 + i / 250, 1 + i % 250);
    struct nea_diags d = {0};
    struct nea_err e = {0};
    struct nea_spec *s = NULL;
    if (nea_spec_load_buffer("bench.yaml", text, strlen(text), &lo, &s, &d, &e) < 0) {
        fprintf(stderr, "bench spec: %s %s\n", e.msg, d.n ? d.v[0].text : "");
        exit(1);
    }
    nea_diags_clear(&d);
    free(text);
    return s;
}

static const char *host_uri;

static void run(const char *plans, const char *tpl, unsigned n)
{
    char dir[] = "/tmp/nea-bench-XXXXXX";
    if (!mkdtemp(dir))
        exit(1);
    char *db = nea_xasprintf("%s/state.db", dir);
    /* keep the test driver's host alive across engine instances */
    virConnectPtr keep = virConnectOpen(host_uri);
    struct nea_engine_opts o = {.state_path = db, .template_path = tpl, .uri = host_uri};
    struct nea_engine *e = NULL;
    struct nea_err err = {0};
    if (nea_engine_open(&o, &e, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    struct nea_spec **specs = nea_xcalloc(n, sizeof(*specs));
    for (unsigned i = 0; i < n; i++)
        specs[i] = make_spec(plans, i);
    double t0 = now_ms();
    for (unsigned i = 0; i < n; i++)
        if (nea_engine_apply(e, specs[i], NULL, &err) < 0) {
            fprintf(stderr, "apply %u: %s\n", i, err.msg);
            exit(1);
        }
    double t1 = now_ms();
    unsigned changes = 0;
    for (unsigned i = 0; i < n; i++) {
        struct nea_changeset cs = {0};
        if (nea_engine_plan(e, specs[i], &cs, &err) < 0) {
            fprintf(stderr, "plan %u: %s\n", i, err.msg);
            exit(1);
        }
        changes += cs.todo != 0;
        nea_changeset_clear(&cs);
    }
    double t2 = now_ms();
    printf("N=%-5u apply %9.1f ms (%6.2f ms/appliance)   no-op plan %8.1f ms "
           "(%5.2f ms/appliance, %u with changes)   peak RSS %ld KiB\n",
           n, t1 - t0, (t1 - t0) / n, t2 - t1, (t2 - t1) / n, changes, peak_rss_kib());
    for (unsigned i = 0; i < n; i++) {
        if (nea_engine_destroy(e, specs[i]->tenant, NULL, &err) < 0) {
            fprintf(stderr, "destroy %u: %s\n", i, err.msg);
            exit(1);
        }
        nea_spec_free(specs[i]);
    }
    free(specs);
    nea_engine_close(e);
    virConnectClose(keep);
    unlink(db);
    char *lock = NULL;
    for (unsigned i = 0; i < n; i++) {
        lock = nea_xasprintf("%s.lock-bench%u", db, i);
        unlink(lock);
        free(lock);
    }
    char *wal = nea_xasprintf("%s-wal", db), *shm = nea_xasprintf("%s-shm", db);
    unlink(wal);
    unlink(shm);
    free(wal);
    free(shm);
    rmdir(dir);
    free(db);
}

static void render_bench(const char *plans, const char *tpl)
{
    struct nea_spec *s = make_spec(plans, 1);
    struct nea_render_opts ro = {.template_path = tpl, .volume_dir = "/pool",
                                 .epoch = NEA_DEFAULT_EPOCH};
    unsigned n = 200;
    double t0 = now_ms();
    for (unsigned i = 0; i < n; i++) {
        struct nea_artifacts a;
        struct nea_err err = {0};
        if (nea_render(s, &ro, &a, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        nea_artifacts_clear(&a);
    }
    double t1 = now_ms();
    printf("render (seed YAML + ISO + domain XML), in process: %.3f ms per appliance "
           "(%u runs)\n", (t1 - t0) / n, n);
    nea_spec_free(s);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PLANS_DIR TEMPLATE [N...]\n", argv[0]);
        return 2;
    }
    /* a simulated host with a pool big enough for 1000 appliances */
    char here[4096];
    if (!realpath("bench/host.xml", here)) {
        fprintf(stderr, "run from the source tree: bench/host.xml not found\n");
        return 2;
    }
    host_uri = nea_xasprintf("test://%s", here);
    /* a test URI with a host file: neaprov opens it only when told this is
     * a test (plugin/util/nea_uri.h) */
    setenv("NEAPROV_ALLOW_TEST_URI", "1", 1);
    render_bench(argv[1], argv[2]);
    if (argc == 3) {
        run(argv[1], argv[2], 10);
        run(argv[1], argv[2], 100);
        run(argv[1], argv[2], 1000);
    }
    for (int i = 3; i < argc; i++)
        run(argv[1], argv[2], (unsigned)atoi(argv[i]));
    return 0;
}

/*
 * test_abi.c: the plugin through its table alone.  The test does not link
 * neaprov's code: it dlopens the .so (NEA_PLUGIN) as any host would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <neaprov/neaprov.h>

static void *so;
static neaprov_provider_fn get;
static const struct neaprov_provider *P;
static char work[] = "/tmp/nea-abi-XXXXXX";

static const char *plans[] = {NEA_TEST_PLANS_DIR};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    const char *path = getenv("NEA_PLUGIN");
    so = dlopen(path ? path : NEA_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        fprintf(stderr, "%s\n", dlerror());
        return -1;
    }
    get = (neaprov_provider_fn)(uintptr_t)dlsym(so, NEAPROV_ENTRY);
    P = get ? get(NEAPROV_ABI_VERSION) : NULL;
    return P && mkdtemp(work) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    nftw(work, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    dlclose(so);
    return 0;
}

static char *spec_text(const char *tenant, const char *addr)
{
    char *s = NULL;
    int n = asprintf(&s,
                     "tenant: %s\n"
                     "hardware-plan: lab\n"
                     "appliance:\n"
                     "  external-network: network:default\n"
                     "  ipv4: {mode: static, address: %s, prefix: 24, gateway: 192.0.2.1}\n"
                     "  ipv6: {mode: auto}\n"
                     "public-ips: {ipv4: 1}\n",
                     tenant, addr);
    assert_true(n > 0);
    return s;
}

static neaprov_ctx *open_ctx(const char *state_name, struct neaprov_options *extra)
{
    char state[512];
    snprintf(state, sizeof(state), "%s/%s", work, state_name);
    struct neaprov_options o = {
        .struct_size = sizeof(o),
        .uri = "test:///default",
        .state_path = state,
        .plan_dirs = plans,
        .n_plan_dirs = 1,
        .template_path = NEA_TEMPLATE,
    };
    if (extra) {
        o.progress = extra->progress;
        o.progress_user = extra->progress_user;
        o.event = extra->event;
        o.event_user = extra->event_user;
    }
    neaprov_ctx *c = P->ctx_new();
    assert_non_null(c);
    assert_int_equal(P->open(c, &o), NEAPROV_OK);
    assert_string_equal(P->last_error(c), "");
    return c;
}

/* The handshake: the library serves its version and older ones, refuses a
 * newer host cleanly, and says how big its table is. */
static void test_handshake(void **state)
{
    (void)state;
    assert_null(get(0));
    assert_null(get(NEAPROV_ABI_VERSION + 1));
    assert_null(get(UINT32_MAX));
    assert_ptr_equal(get(1), P);
    assert_ptr_equal(get(2), P); /* 2: options.lock_timeout_s */
    assert_int_equal(P->abi_version, NEAPROV_ABI_VERSION);
    assert_true(P->struct_size >= sizeof(struct neaprov_provider));
    assert_true(NEAPROV_HAS(P, free));
    assert_true(NEAPROV_HAS(P, rule_list));
    assert_non_null(P->version);
    /* only the entry point is visible */
    assert_null(dlsym(so, "nea_engine_apply"));
    assert_null(dlsym(so, "nea_spec_load_file"));
}

/* Calls made wrongly fail with a sentence, never crash. */
static void test_usage_errors(void **state)
{
    (void)state;
    char *json = NULL;
    assert_int_equal(P->status(NULL, NULL, &json), NEAPROV_ERR_USAGE);
    neaprov_ctx *c = P->ctx_new();
    assert_int_equal(P->status(c, NULL, &json), NEAPROV_ERR_USAGE);
    assert_non_null(strstr(P->last_error(c), "not open"));
    struct neaprov_options tiny = {.struct_size = 4};
    assert_int_equal(P->open(c, &tiny), NEAPROV_ERR_USAGE);
    assert_non_null(strstr(P->last_error(c), "struct_size"));
    /* one byte short of ABI 1's struct (up to ca_file): refused, not read
     * past its end; ABI 1's struct itself (an older host, without
     * lock_timeout_s) is served */
    const uint32_t v1 = offsetof(struct neaprov_options, ca_file) + sizeof(const char *);
    struct neaprov_options o = {.struct_size = v1 - 1,
                                .template_path = NEA_TEMPLATE,
                                .plan_dirs = plans,
                                .n_plan_dirs = 1,
                                .lock_timeout_s = 5};
    assert_int_equal(P->open(c, &o), NEAPROV_ERR_USAGE);
    o.struct_size = v1;
    assert_int_equal(P->open(c, &o), NEAPROV_OK);
    o.struct_size = sizeof(o);
    assert_int_equal(P->open(c, &o), NEAPROV_OK);
    /* output pointers are NULL after a failure */
    json = (char *)&o;
    assert_int_equal(P->pool_list(c, &json), NEAPROV_ERR_USAGE);
    assert_null(json);
    /* no state database: render works, deploying refuses */
    assert_int_equal(P->status(c, NULL, &json), NEAPROV_ERR_USAGE);
    assert_non_null(strstr(P->last_error(c), "state"));
    assert_int_equal(P->destroy(c, NULL), NEAPROV_ERR_USAGE);
    P->ctx_free(c);
    P->ctx_free(NULL);
}

/* open checks every pointer and count it is given, and a failed open leaves
 * the context closed: USAGE with a sentence, never a crash. */
static void test_open_arguments(void **state)
{
    (void)state;
    neaprov_ctx *c = P->ctx_new();
    char *json = NULL;
    static const char *const null_dir[] = {NULL};
    static const char *const empty_dir[] = {""};
    struct neaprov_options o = {.struct_size = sizeof(o), .template_path = NEA_TEMPLATE,
                                .plan_dirs = null_dir, .n_plan_dirs = 1};
    assert_int_equal(P->open(c, &o), NEAPROV_ERR_USAGE);
    assert_non_null(strstr(P->last_error(c), "plan_dirs[0] is NULL"));
    assert_int_equal(P->status(c, NULL, &json), NEAPROV_ERR_USAGE);
    assert_non_null(strstr(P->last_error(c), "not open"));
    o.plan_dirs = empty_dir;
    assert_int_equal(P->open(c, &o), NEAPROV_ERR_USAGE);
    assert_non_null(strstr(P->last_error(c), "plan_dirs[0] is empty"));
    o.plan_dirs = NULL;
    assert_int_equal(P->open(c, &o), NEAPROV_ERR_USAGE);
    assert_non_null(strstr(P->last_error(c), "plan_dirs is NULL"));
    o.plan_dirs = plans;
    o.n_plan_dirs = SIZE_MAX;
    assert_int_equal(P->open(c, &o), NEAPROV_ERR_USAGE);
    assert_non_null(strstr(P->last_error(c), "n_plan_dirs"));
    o.n_plan_dirs = 1;
    o.state_path = "";
    assert_int_equal(P->open(c, &o), NEAPROV_ERR_USAGE);
    assert_non_null(strstr(P->last_error(c), "options.state_path is empty"));
    o.state_path = NULL;
    o.template_path = "";
    assert_int_equal(P->open(c, &o), NEAPROV_ERR_USAGE);
    o.template_path = NEA_TEMPLATE;
    /* a good open after the failed ones */
    assert_int_equal(P->open(c, &o), NEAPROV_OK);
    assert_string_equal(P->last_error(c), "");
    P->ctx_free(c);

    /* string arguments of the calls after open */
    c = open_ctx("args.db", NULL);
    char *released = (char *)"x";
    assert_int_equal(P->pool_add(c, NULL), NEAPROV_ERR_USAGE);
    assert_non_null(strstr(P->last_error(c), "range must not be NULL"));
    assert_int_equal(P->pool_remove(c, NULL, 0, &released), NEAPROV_ERR_USAGE);
    assert_null(released);
    assert_int_equal(P->rule_add(c, NULL, "203.0.113.0:443/tcp", "192.0.2.7:443", NULL),
                     NEAPROV_ERR_USAGE);
    assert_int_equal(P->rule_add(c, "t", NULL, "192.0.2.7:443", NULL), NEAPROV_ERR_USAGE);
    assert_int_equal(P->rule_add(c, "t", "203.0.113.0:443/tcp", NULL, NULL),
                     NEAPROV_ERR_USAGE);
    assert_non_null(strstr(P->last_error(c), "to must not be NULL"));
    assert_int_equal(P->rule_remove(c, NULL, "203.0.113.0:443/tcp"), NEAPROV_ERR_USAGE);
    assert_int_equal(P->rule_remove(c, "t", NULL), NEAPROV_ERR_USAGE);
    neaprov_spec *s = (neaprov_spec *)1;
    assert_int_equal(P->spec_load_file(c, NULL, &s), NEAPROV_ERR_USAGE);
    assert_null(s);
    assert_int_equal(P->spec_load_buffer(c, NULL, NULL, 5, &s), NEAPROV_ERR_USAGE);
    assert_int_equal(P->render(c, NULL, "/tmp"), NEAPROV_ERR_USAGE);
    assert_int_equal(P->destroy(c, NULL), NEAPROV_ERR_USAGE);
    assert_int_equal(P->networks(c, NULL, NULL), NEAPROV_ERR_USAGE);
    P->ctx_free(c);
}

/* Host URIs through the ABI: options.uri and networks' uri pass the same
 * allow-list as a plan's host; a refused URI runs nothing and reads
 * nothing, and a weak one opens with a warning in diagnostics. */
static void test_host_uri(void **state)
{
    (void)state;
    char marker[600], script[600], uri[1400];
    snprintf(marker, sizeof(marker), "%s/uri-ran", work);
    snprintf(script, sizeof(script), "%s/uri-cmd.sh", work);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\ntouch '%s'\n", marker);
    fclose(f);
    assert_int_equal(chmod(script, 0755), 0);

    neaprov_ctx *c = P->ctx_new();
    snprintf(uri, sizeof(uri), "qemu+ext:///system?command=%s", script);
    struct neaprov_options o = {.struct_size = sizeof(o), .uri = uri,
                                .template_path = NEA_TEMPLATE, .plan_dirs = plans,
                                .n_plan_dirs = 1};
    assert_int_equal(P->open(c, &o), NEAPROV_ERR_INVALID);
    assert_non_null(strstr(P->last_error(c), "options.uri"));
    assert_non_null(strstr(P->last_error(c), "ext transport"));
    o.uri = "test:///etc/passwd";
    assert_int_equal(P->open(c, &o), NEAPROV_ERR_INVALID);
    assert_non_null(strstr(P->last_error(c), "the only test URI is test:///default"));

    o.uri = NULL;
    assert_int_equal(P->open(c, &o), NEAPROV_OK);
    char *json = (char *)"x";
    assert_int_equal(P->networks(c, uri, &json), NEAPROV_ERR_INVALID);
    assert_null(json);
    assert_non_null(strstr(P->last_error(c), "ext transport"));
    snprintf(uri, sizeof(uri), "qemu+ssh://127.0.0.1/system?command=%s", script);
    assert_int_equal(P->networks(c, uri, &json), NEAPROV_ERR_INVALID);
    assert_non_null(strstr(P->last_error(c), "parameter command is not allowed"));
    assert_int_equal(P->networks(c, "test:///etc/passwd", &json), NEAPROV_ERR_INVALID);
    assert_null(strstr(P->last_error(c), "root:"));
    assert_int_equal(access(marker, F_OK), -1);

    /* allowed, with a warning; open connects to nothing */
    o.uri = "qemu+tcp://127.0.0.1:1/system";
    assert_int_equal(P->open(c, &o), NEAPROV_OK);
    assert_non_null(strstr(P->diagnostics(c), "warning: options.uri"));
    assert_non_null(strstr(P->diagnostics(c), "tcp"));
    o.uri = "test:///default";
    assert_int_equal(P->open(c, &o), NEAPROV_OK);
    assert_string_equal(P->diagnostics(c), "");
    P->ctx_free(c);
}

/* A bad spec: INVALID, a whole sentence, and every problem with its line. */
static void test_bad_spec(void **state)
{
    (void)state;
    neaprov_ctx *c = open_ctx("bad.db", NULL);
    static const char bad[] = "tenant: Bad_Name\n"
                              "hardware-plan: lab\n"
                              "appliance:\n"
                              "  external-network: network:default\n"
                              "  ipv4: {mode: static, address: 192.0.2.300, prefix: 24}\n"
                              "  ipv6: {mode: disabled}\n";
    neaprov_spec *s = (neaprov_spec *)1;
    assert_int_equal(P->spec_load_buffer(c, "bad.yaml", bad, sizeof(bad) - 1, &s),
                     NEAPROV_ERR_INVALID);
    assert_null(s);
    const char *e = P->last_error(c);
    assert_non_null(strstr(e, "spec bad.yaml is invalid"));
    const char *d = P->diagnostics(c);
    assert_non_null(strstr(d, "bad.yaml:1:"));
    assert_non_null(strstr(d, "bad.yaml:5:"));
    assert_int_equal(P->spec_load_file(c, "/nonexistent/spec.yaml", &s), NEAPROV_ERR_IO);
    assert_non_null(strstr(P->last_error(c), "/nonexistent/spec.yaml"));
    P->ctx_free(c);
}

struct seen {
    int progress, events, state_running, destroyed;
};

static void on_progress(void *user, const char *tenant, const char *step, int pct)
{
    struct seen *s = user;
    assert_non_null(tenant);
    assert_non_null(step);
    assert_true(pct >= 0 && pct <= 100);
    s->progress++;
}

static void on_event(void *user, const char *tenant, const char *kind, const char *detail)
{
    struct seen *s = user;
    (void)tenant;
    s->events++;
    if (!strcmp(kind, "state") && detail && !strcmp(detail, "running"))
        s->state_running++;
    if (!strcmp(kind, "state") && detail && !strcmp(detail, "gone"))
        s->destroyed++;
}

/* render + apply + status + destroy through the table, with callbacks. */
static void test_deploy(void **state)
{
    (void)state;
    struct seen seen = {0};
    struct neaprov_options cb = {.progress = on_progress, .progress_user = &seen,
                                 .event = on_event, .event_user = &seen};
    neaprov_ctx *c = open_ctx("deploy.db", &cb);
    assert_int_equal(P->pool_add(c, "203.0.113.0/30"), NEAPROV_OK);
    char *text = spec_text("abitenant", "192.0.2.10");
    neaprov_spec *s = NULL;
    assert_int_equal(P->spec_load_buffer(c, "abi.yaml", text, strlen(text), &s), NEAPROV_OK);
    free(text);
    assert_string_equal(P->diagnostics(c), "");

    char *json = NULL;
    assert_int_equal(P->spec_describe(c, s, &json), NEAPROV_OK);
    assert_non_null(strstr(json, "\"tenant\":\"abitenant\""));
    P->free(json);

    char out[600];
    snprintf(out, sizeof(out), "%s/rendered", work);
    assert_int_equal(P->render(c, s, out), NEAPROV_OK);
    static const char *const files[] = {"domain.xml", "meta-data", "user-data",
                                        "network-config", "seed.iso"};
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        char f[700];
        struct stat st;
        snprintf(f, sizeof(f), "%s/%s", out, files[i]);
        assert_int_equal(stat(f, &st), 0);
        if (!strcmp(files[i], "user-data") || !strcmp(files[i], "seed.iso"))
            assert_int_equal(st.st_mode & 0777, 0600);
    }

    assert_int_equal(P->plan(c, s, &json), NEAPROV_OK);
    assert_non_null(strstr(json, "\"changes\":true"));
    P->free(json);
    assert_int_equal(P->apply(c, s, &json), NEAPROV_OK);
    assert_non_null(strstr(json, "\"tenant\":\"abitenant\""));
    P->free(json);
    assert_true(seen.progress > 0);
    assert_true(seen.state_running > 0);
    /* converged: a second plan has nothing to do */
    assert_int_equal(P->plan(c, s, &json), NEAPROV_OK);
    assert_non_null(strstr(json, "\"changes\":false"));
    P->free(json);

    assert_int_equal(P->status(c, NULL, &json), NEAPROV_OK);
    assert_non_null(strstr(json, "\"state\":\"running\""));
    assert_non_null(strstr(json, "\"live\":\"running\""));
    P->free(json);
    assert_int_equal(P->pool_list(c, &json), NEAPROV_OK);
    assert_non_null(strstr(json, "\"ipv4_assigned\":1"));
    P->free(json);

    /* rules: through the same parsing as the CLI */
    assert_int_equal(P->rule_add(c, "abitenant", "203.0.113.0:443/tcp", "192.0.2.77:8443",
                                 "web"), NEAPROV_OK);
    assert_int_equal(P->rule_add(c, "abitenant", "203.0.113.0:99999/tcp", "192.0.2.77:1",
                                 NULL), NEAPROV_ERR_INVALID);
    assert_non_null(strstr(P->last_error(c), "--public"));
    assert_int_equal(P->rule_list(c, "abitenant", &json), NEAPROV_OK);
    assert_non_null(strstr(json, "\"to\":\"192.0.2.77:8443\""));
    P->free(json);
    assert_int_equal(P->rule_remove(c, "abitenant", "203.0.113.0:443/tcp"), NEAPROV_OK);
    assert_int_equal(P->pool_add(c, "not-a-range"), NEAPROV_ERR_INVALID);
    assert_non_null(strstr(P->last_error(c), "not-a-range"));

    assert_int_equal(P->destroy(c, "abitenant"), NEAPROV_OK);
    assert_true(seen.destroyed > 0);
    assert_int_equal(P->status(c, "abitenant", &json), NEAPROV_OK);
    assert_non_null(strstr(json, "\"state\":\"gone\""));
    P->free(json);
    char *released = NULL;
    assert_int_equal(P->pool_remove(c, "203.0.113.0/30", 0, &released), NEAPROV_OK);
    assert_string_equal(released, "");
    P->free(released);

    assert_int_equal(P->networks(c, NULL, &json), NEAPROV_OK);
    assert_non_null(strstr(json, "\"ref\":\"network:default\""));
    P->free(json);
    P->spec_free(s);
    P->ctx_free(c);
}

/* Two contexts on one database: while one applies a tenant (its progress
 * callback runs under the tenant's lock), the other is refused with BUSY
 * for that tenant and not for another. */
struct rival {
    neaprov_ctx *other;
    neaprov_spec *same, *different;
    int same_rc, different_rc, calls;
    char same_err[512];
};

static void rival_progress(void *user, const char *tenant, const char *step, int pct)
{
    struct rival *r = user;
    (void)tenant;
    (void)pct;
    if (strcmp(step, "define") || r->calls++)
        return;
    r->same_rc = P->apply(r->other, r->same, NULL);
    snprintf(r->same_err, sizeof(r->same_err), "%s", P->last_error(r->other));
    r->different_rc = P->apply(r->other, r->different, NULL);
}

static void test_shared_database(void **state)
{
    (void)state;
    struct rival r = {0};
    struct neaprov_options cb = {.progress = rival_progress, .progress_user = &r};
    neaprov_ctx *a = open_ctx("shared.db", &cb);
    r.other = open_ctx("shared.db", NULL);
    assert_int_equal(P->pool_add(a, "198.51.100.0/30"), NEAPROV_OK);
    char *t1 = spec_text("sharedone", "192.0.2.31"), *t2 = spec_text("sharedtwo", "192.0.2.32");
    neaprov_spec *s1 = NULL;
    assert_int_equal(P->spec_load_buffer(a, "one", t1, strlen(t1), &s1), NEAPROV_OK);
    assert_int_equal(P->spec_load_buffer(r.other, "one", t1, strlen(t1), &r.same), NEAPROV_OK);
    assert_int_equal(P->spec_load_buffer(r.other, "two", t2, strlen(t2), &r.different),
                     NEAPROV_OK);
    free(t1);
    free(t2);
    assert_int_equal(P->apply(a, s1, NULL), NEAPROV_OK);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.same_rc, NEAPROV_ERR_BUSY);
    assert_non_null(strstr(r.same_err, "sharedone"));
    char holder[64]; /* the holder is named: this very process */
    snprintf(holder, sizeof(holder), "(pid %ld, command ", (long)getpid());
    assert_non_null(strstr(r.same_err, holder));
    assert_int_equal(r.different_rc, NEAPROV_OK);
    /* both are recorded in the one database */
    char *json = NULL;
    assert_int_equal(P->status(a, NULL, &json), NEAPROV_OK);
    assert_non_null(strstr(json, "\"tenant\":\"sharedone\""));
    assert_non_null(strstr(json, "\"tenant\":\"sharedtwo\""));
    P->free(json);
    assert_int_equal(P->destroy(a, "sharedone"), NEAPROV_OK);
    assert_int_equal(P->destroy(r.other, "sharedtwo"), NEAPROV_OK);
    P->spec_free(s1);
    P->spec_free(r.same);
    P->spec_free(r.different);
    P->ctx_free(r.other);
    P->ctx_free(a);
}

/* Contexts in different threads at once: independent and all succeed. */
struct job {
    int i;
    int rc;
    char err[256];
};

static void *worker(void *arg)
{
    struct job *j = arg;
    char state[600], tenant[32], addr[32];
    snprintf(state, sizeof(state), "%s/thread-%d.db", work, j->i);
    snprintf(tenant, sizeof(tenant), "thread%d", j->i);
    snprintf(addr, sizeof(addr), "192.0.2.%d", 20 + j->i);
    struct neaprov_options o = {.struct_size = sizeof(o), .uri = "test:///default",
                                .state_path = state, .plan_dirs = plans, .n_plan_dirs = 1,
                                .template_path = NEA_TEMPLATE};
    neaprov_ctx *c = P->ctx_new();
    char *text = NULL;
    int n = asprintf(&text,
                     "tenant: %s\nhardware-plan: lab\nappliance:\n"
                     "  external-network: network:default\n"
                     "  ipv4: {mode: static, address: %s, prefix: 24, gateway: 192.0.2.1}\n"
                     "  ipv6: {mode: disabled}\n", tenant, addr);
    neaprov_spec *s = NULL;
    char *json = NULL;
    j->rc = n < 0 ? -1 : P->open(c, &o);
    for (int round = 0; round < 3 && j->rc == 0; round++) {
        if (!j->rc)
            j->rc = P->spec_load_buffer(c, tenant, text, strlen(text), &s);
        if (!j->rc)
            j->rc = P->apply(c, s, NULL);
        if (!j->rc)
            j->rc = P->status(c, tenant, &json);
        if (!j->rc && !strstr(json, "\"state\":\"running\""))
            j->rc = -100;
        P->free(json);
        json = NULL;
        if (!j->rc)
            j->rc = P->destroy(c, tenant);
        P->spec_free(s);
        s = NULL;
    }
    snprintf(j->err, sizeof(j->err), "%s", P->last_error(c));
    free(text);
    P->ctx_free(c);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    enum { N = 4 };
    pthread_t t[N];
    struct job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){.i = i};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (jobs[i].rc)
            fprintf(stderr, "thread %d: %d: %s\n", i, jobs[i].rc, jobs[i].err);
        assert_int_equal(jobs[i].rc, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_open_arguments),
        cmocka_unit_test(test_host_uri),
        cmocka_unit_test(test_bad_spec),
        cmocka_unit_test(test_deploy),
        cmocka_unit_test(test_shared_database),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * host.c: the minimal host program of docs/plugin-abi.md.  It loads the
 * plugin with dlopen, checks the ABI version, and deploys one appliance on
 * libvirt's in-process test driver: render, apply, status, destroy.
 *
 *   host PLUGIN.so PLANS_DIR TEMPLATE WORK_DIR
 *
 * PLANS_DIR and TEMPLATE "-": the plugin's installed defaults.
 *
 * Build: cc $(pkg-config --cflags neaprov) host.c -ldl
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <neaprov/neaprov.h>

static const char spec_text[] =
    "tenant: hostdemo\n"
    "hardware-plan: lab\n"
    "appliance:\n"
    "  external-network: network:default\n"
    "  ipv4: {mode: static, address: 192.0.2.10, prefix: 24, gateway: 192.0.2.1}\n"
    "  ipv6: {mode: disabled}\n";

static void progress(void *user, const char *tenant, const char *step, int percent)
{
    (void)user;
    printf("  %s: [%3d%%] %s\n", tenant, percent, step);
}

static int fail(const struct neaprov_provider *p, neaprov_ctx *ctx, const char *what)
{
    fprintf(stderr, "host: %s failed: %s\n", what, p->last_error(ctx));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: host PLUGIN.so PLANS_DIR TEMPLATE WORK_DIR\n");
        return 2;
    }
    void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!so) {
        fprintf(stderr, "host: %s\n", dlerror());
        return 1;
    }
    neaprov_provider_fn get = (neaprov_provider_fn)(uintptr_t)dlsym(so, NEAPROV_ENTRY);
    const struct neaprov_provider *p = get ? get(NEAPROV_ABI_VERSION) : NULL;
    if (!p) {
        fprintf(stderr, "host: %s does not serve ABI version %u\n", argv[1],
                NEAPROV_ABI_VERSION);
        return 1;
    }
    printf("plugin %s, ABI %u\n", p->version, p->abi_version);

    char state[4096], out[4096];
    snprintf(state, sizeof(state), "%s/state.db", argv[4]);
    snprintf(out, sizeof(out), "%s/rendered", argv[4]);
    const char *plans[] = {argv[2]};
    struct neaprov_options o = {
        .struct_size = sizeof(o),
        .uri = "test:///default",
        .state_path = state,
        .plan_dirs = plans,
        .n_plan_dirs = strcmp(argv[2], "-") ? 1 : 0,
        .template_path = strcmp(argv[3], "-") ? argv[3] : NULL,
        .progress = progress,
    };
    neaprov_ctx *ctx = p->ctx_new();
    neaprov_spec *spec = NULL;
    char *json = NULL;
    int rc = 1;
    if (!ctx)
        return 1;
    if (p->open(ctx, &o) < 0) {
        rc = fail(p, ctx, "open");
        goto out;
    }
    if (p->spec_load_buffer(ctx, "hostdemo.yaml", spec_text, strlen(spec_text), &spec) < 0) {
        fprintf(stderr, "%s", p->diagnostics(ctx));
        rc = fail(p, ctx, "spec");
        goto out;
    }
    if (p->render(ctx, spec, out) < 0) {
        rc = fail(p, ctx, "render");
        goto out;
    }
    printf("rendered into %s\n", out);
    if (p->apply(ctx, spec, &json) < 0) {
        rc = fail(p, ctx, "apply");
        goto out;
    }
    printf("applied: %s\n", json);
    p->free(json);
    if (p->status(ctx, "hostdemo", &json) < 0) {
        rc = fail(p, ctx, "status");
        goto out;
    }
    printf("status: %s\n", json);
    p->free(json);
    if (p->destroy(ctx, "hostdemo") < 0) {
        rc = fail(p, ctx, "destroy");
        goto out;
    }
    printf("destroyed\n");
    rc = 0;
out:
    p->spec_free(spec);
    p->ctx_free(ctx);
    dlclose(so);
    return rc;
}

/*
 * libFuzzer target for hardware plan files and libvirt host URIs.  Each
 * input is loaded as a plan (whose host field goes through the host URI
 * allow-list) and, as a string, checked as a host URI itself, once as in
 * production and once with NEAPROV_ALLOW_TEST_URI=1.  Build with clang:
 *   CC=clang cmake -S . -B build-fuzz -DNEA_FUZZ=ON -DBUILD_TESTING=OFF
 *   cmake --build build-fuzz --target fuzz_plan
 *   mkdir -p /tmp/corpus-plan   # new inputs go to the first folder
 *   build-fuzz/tests/fuzz/fuzz_plan -max_total_time=60 /tmp/corpus-plan \
 *       tests/fuzz/corpus-plan
 * See docs/testing.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nea_spec.h"
#include "nea_uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_uri(const char *uri, const char *allow_test)
{
    if (allow_test)
        setenv(NEA_ALLOW_TEST_URI_ENV, allow_test, 1);
    else
        unsetenv(NEA_ALLOW_TEST_URI_ENV);
    struct nea_err err = {0};
    char *warning = NULL;
    if (nea_host_uri_check("host", uri, &warning, &err) == NEA_OK)
        free(warning);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsetenv(NEA_ALLOW_TEST_URI_ENV);
    struct nea_diags diags = {0};
    struct nea_err err = {0};
    struct nea_plan *plan = NULL;
    /* the file name must match the plan's name for a plan to load whole */
    if (nea_plan_load_buffer("/plans/fuzz.yaml", (const char *)data, size, &plan, &diags,
                             &err) == NEA_OK)
        nea_plan_free(plan);
    for (size_t i = 0; i < diags.n; i++)
        free(nea_diag_format(&diags.v[i]));
    nea_diags_clear(&diags);

    char *uri = malloc(size + 1);
    if (!uri)
        return 0;
    memcpy(uri, data, size);
    uri[size] = '\0';
    check_uri(uri, NULL);
    check_uri(uri, "1");
    free(uri);
    return 0;
}

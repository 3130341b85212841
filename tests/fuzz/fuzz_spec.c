/*
 * libFuzzer target for the spec parser and validator (and, for inputs that
 * validate, the seed emitter).  Build with clang:
 *   CC=clang cmake -S . -B build-fuzz -DNEA_FUZZ=ON -DBUILD_TESTING=OFF
 *   cmake --build build-fuzz --target fuzz_spec
 *   mkdir -p /tmp/corpus   # new inputs go to the first folder, not the repo
 *   (copy each tests/data/render/CASE/spec.yaml into it as CASE.yaml: the
 *   golden cases' specs are the seed corpus, as scripts/dev.sh test does)
 *   build-fuzz/tests/fuzz/fuzz_spec -max_total_time=60 /tmp/corpus
 * See docs/testing.md.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "nea_seed.h"
#include "nea_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const dirs[] = {NEA_TEST_PLANS};
    struct nea_load_opts opts = {dirs, 1};
    struct nea_diags diags = {0};
    struct nea_err err = {0};
    struct nea_spec *spec = NULL;
    if (nea_spec_load_buffer("fuzz.yaml", (const char *)data, size, &opts, &spec, &diags,
                             &err) == NEA_OK) {
        struct nea_seed seed;
        if (nea_seed_build(spec, &seed, &err) == NEA_OK)
            nea_seed_clear(&seed);
        nea_spec_free(spec);
    }
    for (size_t i = 0; i < diags.n; i++)
        free(nea_diag_format(&diags.v[i]));
    nea_diags_clear(&diags);
    return 0;
}

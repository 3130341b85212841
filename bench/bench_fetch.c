/*
 * bench_fetch.c: one image download through nea_fetch_image (libcurl into
 * the cache, sha256 verified, fsync'd, renamed), then a cache hit.
 *   bench_fetch URL SHA256 CACHE_DIR      prints "fetch: N ms" and "hit: N ms"
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nea_fetch.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_fetch URL SHA256 CACHE_DIR\n");
        return 2;
    }
    struct nea_fetch_opts o = {.cache_dir = argv[3]};
    struct nea_err err = {0};
    char *path = NULL;
    double t0 = now_ms();
    if (nea_fetch_image(argv[1], argv[2], &o, &path, &err) < 0) {
        fprintf(stderr, "bench_fetch: %s\n", err.msg);
        return 1;
    }
    double t1 = now_ms();
    free(path);
    path = NULL;
    if (nea_fetch_image(argv[1], argv[2], &o, &path, &err) < 0) {
        fprintf(stderr, "bench_fetch: %s\n", err.msg);
        return 1;
    }
    double t2 = now_ms();
    free(path);
    printf("fetch: %.0f ms\nhit: %.2f ms\n", t1 - t0, t2 - t1);
    return 0;
}

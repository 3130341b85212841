/*
 * nea_sha256.h: SHA-256 (FIPS 180-4).
 *
 * None of the project's libraries exposes a hash in its public API (libxml2,
 * libyaml, libisofs, libvirt, sqlite3); pulling in OpenSSL for one function
 * was judged worse than these ~100 lines checked against the NIST vectors in
 * tests/unit/test_util.c.  Used for spec hashes, derived UUID/MAC/instance-id,
 * and (later) image checksums.
 */
#ifndef NEA_SHA256_H
#define NEA_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nea_err.h"

#define NEA_SHA256_LEN 32
#define NEA_SHA256_HEX_LEN 64

struct nea_sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t fill;
};

void nea_sha256_init(struct nea_sha256 *c);
void nea_sha256_update(struct nea_sha256 *c, const void *data, size_t n);
void nea_sha256_final(struct nea_sha256 *c, uint8_t out[NEA_SHA256_LEN]);
/* Whether the CPU's SHA instructions are used (decided at the first use);
 * nea_sha256_use_hw(false) forces the portable code (tests compare both). */
bool nea_sha256_hw(void);
void nea_sha256_use_hw(bool on);
void nea_sha256(const void *data, size_t n, uint8_t out[NEA_SHA256_LEN]);
/* Feeds the bytes [0, len) of the file open on fd (len < 0: up to its end)
 * into c, read with pread; *done says how many were read (fewer than len
 * at an early end of file); path only names the file in errors. */
int nea_sha256_update_fd(struct nea_sha256 *c, int fd, off_t len, const char *path,
                         off_t *done, struct nea_err *err);
/* The lowercase hex SHA-256 of the whole file open on fd (read with pread
 * from offset 0); path only names it in errors. */
int nea_sha256_fd(int fd, const char *path, char hex[NEA_SHA256_HEX_LEN + 1],
                  struct nea_err *err);
int nea_sha256_file(const char *path, char hex[NEA_SHA256_HEX_LEN + 1], struct nea_err *err);
void nea_hex(const uint8_t *in, size_t n, char *out /* 2n+1 */);

#endif

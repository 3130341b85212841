/*
 * nea_pool.h: the SP's public IP pool, tenants' allocations and public IP
 * rules, in the state database.
 *
 * Representation: the pool is the ranges as the SP added them (one row per
 * `pool add`, first and last address as 16-byte big-endian blobs), so a
 * /16 or a large IPv6 range is one row; only assigned addresses have a row
 * of their own (at most 9999 per tenant and family).  Free = ranges minus
 * allocations.  Every change is one IMMEDIATE transaction: concurrent
 * allocations never hand out an address twice nor lose one.
 */
#ifndef NEA_POOL_H
#define NEA_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nea_addr.h"
#include "nea_err.h"
#include "nea_model.h"
#include "nea_state.h"

#define NEA_POOL_RANGE_MAX 65536

int nea_pool_add(struct nea_state *st, const struct nea_ip *first,
                 const struct nea_ip *last, struct nea_err *err);
/* Removes [first, last] from the pool (splitting ranges as needed).
 * Assigned addresses in it are refused unless force, which releases them
 * (and their rules); *ret_released lists "ADDR (tenant T)" lines, or NULL.
 * The refusal names the addresses, not the caller's way to force (the CLI
 * adds its --force). */
int nea_pool_remove(struct nea_state *st, const struct nea_ip *first,
                    const struct nea_ip *last, bool force, char **ret_released,
                    struct nea_err *err);

struct nea_pool_run {
    struct nea_ip first, last;
    char *tenant;         /* NULL: free */
};

struct nea_pool_summary {
    uint64_t free4, assigned4, free6, assigned6;
};

/* The pool as runs of free or same-tenant addresses, in address order. */
int nea_pool_list(struct nea_state *st, struct nea_pool_run **ret_runs, size_t *ret_n,
                  struct nea_pool_summary *ret_sum, struct nea_err *err);
void nea_pool_runs_free(struct nea_pool_run *v, size_t n);

/* Makes the tenant hold exactly want4 IPv4 and want6 IPv6 addresses:
 * growing takes the lowest free ones, shrinking releases the highest ones.
 * With dry_run nothing is written (plan).  Not enough free: NEA_ERR_INVALID
 * naming the family and how many are free, nothing changed.  Releasing an
 * address that a rule uses is refused.  The messages name no spec field
 * (the caller knows the counts came from public-ips).  *ret_addrs holds the
 * tenant's addresses afterwards, IPv4 first, each family ascending. */
int nea_pool_allocate(struct nea_state *st, const char *tenant, unsigned want4,
                      unsigned want6, bool dry_run, struct nea_ip **ret_addrs,
                      size_t *ret_n, struct nea_err *err);
/* Records the deployment (nea_state_put) in one transaction with a check
 * that each of addrs is still allocated to d->tenant: a `pool remove
 * --force` during an apply cannot leave one address recorded for two
 * tenants.  NEA_ERR_CONFLICT, nothing written, when one is not. */
int nea_pool_put_deployment(struct nea_state *st, struct nea_deployment *d,
                            const struct nea_ip *addrs, size_t n, struct nea_err *err);
/* Releases everything the tenant holds, rules included. */
int nea_pool_release(struct nea_state *st, const char *tenant, struct nea_err *err);

/* At most this many public IP rules per tenant: each becomes a line of the
 * appliance's seed, which has a size limit of its own (docs/pool.md). */
#define NEA_RULES_PER_TENANT_MAX 1000

/* Rules: the public address must be allocated to the tenant, of the replica's
 * family, port 22 is refused, (address, port, protocol) unique, at most
 * NEA_RULES_PER_TENANT_MAX per tenant (counted in the transaction that
 * inserts). */
int nea_rule_add(struct nea_state *st, const char *tenant, const struct nea_rule *r,
                 struct nea_err *err);
int nea_rule_remove(struct nea_state *st, const char *tenant, const struct nea_ip *pub,
                    unsigned port, enum nea_proto proto, struct nea_err *err);
/* tenant NULL: all tenants (then *ret_tenants[i] names each rule's;
 * ret_tenants may be NULL). */
int nea_rule_list(struct nea_state *st, const char *tenant, struct nea_rule **ret_rules,
                  char ***ret_tenants, size_t *ret_n, struct nea_err *err);
void nea_rules_free(struct nea_rule *v, char **tenants, size_t n);

/* need_proto: a public endpoint, "203.0.113.5:443/tcp" or
 * "[2001:db8::5]:443/udp"; else a replica's, "192.0.2.50:8443" or
 * "[2001:db8::5]:8443", without a protocol (*ret_proto is set to tcp).
 * Nothing else is taken: no space, sign or leading zero in the port,
 * brackets exactly around an IPv6 address.  NULL on success (the ret_*
 * written), else what is wrong, as the end of a sentence about s that names
 * no option (nothing written). */
const char *nea_endpoint_parse(const char *s, bool need_proto, struct nea_ip *ret_ip,
                               unsigned *ret_port, enum nea_proto *ret_proto);

#endif

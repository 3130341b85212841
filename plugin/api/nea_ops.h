/*
 * nea_ops.h: what the CLI and the plugin ABI both do with the engine's
 * answers, written once: the JSON documents of the read commands (the CLI's
 * --json output and the ABI's answers are the same documents), the rendered
 * files in a directory, and the parsing of pool and rule arguments.
 */
#ifndef NEA_OPS_H
#define NEA_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "nea_engine.h"
#include "nea_err.h"
#include "nea_json.h"
#include "nea_pool.h"
#include "nea_render.h"
#include "nea_virt.h"

void nea_report_changeset(struct nea_json *j, const struct nea_changeset *cs);
void nea_report_statuses(struct nea_json *j, const struct nea_app_status *v, size_t n);
void nea_report_networks(struct nea_json *j, const struct nea_host_net *v, size_t n);
void nea_report_pool(struct nea_json *j, const struct nea_pool_run *v, size_t n,
                     const struct nea_pool_summary *sum);
/* "IP:PORT/PROTO" and "IP:PORT" ("[IP]:..." for IPv6) of a rule */
void nea_rule_endpoints(const struct nea_rule *r, char ret_pub[80], char ret_to[80]);
void nea_report_rules(struct nea_json *j, const struct nea_rule *v, char *const *tenants,
                      size_t n);

/* The installed defaults: /etc/neaprov/plans then the shipped plans (dirs
 * gets both, returns 2); /etc/neaprov/templates/domain.xml when it exists,
 * else the shipped template (under nea_datadir()). */
size_t nea_default_plan_dirs(const char *ret_dirs[2]);
/* DATADIR as compiled in, or share/neaprov beside the running binary or
 * library when that is not there (a relocated install). */
const char *nea_datadir(void);
const char *nea_default_template(void);

/* domain.xml, meta-data, user-data, network-config and seed.iso into dir
 * (created, 0755); user-data and the ISO owner-only (0600). */
/* Where a render without state puts the spec's tenant networks (a dry run
 * of the engine's allocation on an empty host): slots 0..n-1 in the spec's
 * order and, in ovs-vlan mode, the first tags of tenant-networks.vlans;
 * NEA_ERR_INVALID when the range holds fewer tags than networks. */
int nea_render_places(struct nea_spec *s, struct nea_err *err);

int nea_artifacts_write(const struct nea_artifacts *a, const char *dir,
                        struct nea_err *err);

/* A pool RANGE argument (ADDR, FIRST-LAST, ADDR/PREFIX). */
int nea_range_arg(const char *verb, const char *range, struct nea_ip *ret_first,
                  struct nea_ip *ret_last, struct nea_err *err);
/* Rule arguments of "rule add|remove|list": tenant (NULL only for list),
 * public "IP:PORT/PROTO" (add, remove), to "IP:PORT" (add), description.
 * ret_rule->description points into description.  The messages name the
 * arguments as the CLI's options (--public, --to). */
int nea_rule_args(const char *verb, const char *tenant, const char *pub, const char *to,
                  const char *description, struct nea_rule *ret_rule,
                  struct nea_err *err);

#endif

/*
 * nea_spec.h: appliance spec and hardware plan files -> validated model.
 *
 * Validation is total: every problem found becomes one diagnostic naming
 * file:line:column and the field path; a model is handed out only when there
 * is no error.  Warnings do not stop a load.
 */
#ifndef NEA_SPEC_H
#define NEA_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nea_err.h"
#include "nea_model.h"

#define NEA_SPEC_MAX_BYTES (256 * 1024)

struct nea_load_opts {
    const char *const *plan_dirs;   /* searched in order for NAME.yaml */
    size_t n_plan_dirs;
};

/* Return NEA_OK with *ret_spec set, NEA_ERR_INVALID with diagnostics in
 * *diags, or another code with *err set (e.g. an unreadable file). */
int nea_spec_load_file(const char *path, const struct nea_load_opts *opts,
                       struct nea_spec **ret_spec, struct nea_diags *diags,
                       struct nea_err *err);
int nea_spec_load_buffer(const char *name, const char *buf, size_t len,
                         const struct nea_load_opts *opts,
                         struct nea_spec **ret_spec, struct nea_diags *diags,
                         struct nea_err *err);
int nea_plan_load_file(const char *path, struct nea_plan **ret_plan,
                       struct nea_diags *diags, struct nea_err *err);
/* The same from memory; path is the plan's file name (its base name must
 * match the plan's name, and a relative image is relative to it). */
int nea_plan_load_buffer(const char *path, const char *buf, size_t len,
                         struct nea_plan **ret_plan, struct nea_diags *diags,
                         struct nea_err *err);

/* Pins the MAC and UUID a deployment already has (when the spec does not set
 * them) and recomputes the hash. */
void nea_spec_pin(struct nea_spec *s, const uint8_t *mac, const uint8_t *uuid);
/* Derives the MAC again with a salt (> 0) when the spec gives none: for a
 * derived MAC that another appliance on the host already holds. */
void nea_spec_derive_mac(struct nea_spec *s, unsigned salt);
bool nea_parse_mac(const char *s, uint8_t mac[6]);
bool nea_parse_uuid(const char *s, uint8_t uuid[16]);

/* Sets the pool's allocation and the tenant's rules (copied) and rehashes. */
/* Where the engine put each tenant network (slots[i], vlans[i] for
 * s->tnets[i]; vlans NULL: none), then a new hash. */
void nea_spec_set_tnet_places(struct nea_spec *s, const unsigned *slots,
                              const unsigned *vlans);
void nea_spec_set_public(struct nea_spec *s, const struct nea_ip *addrs, size_t n_addrs,
                         const struct nea_rule *rules, size_t n_rules);

/* The canonical text the spec hash is taken over ("key=value" lines in a
 * fixed order).  Newly allocated. */
char *nea_spec_canonical(const struct nea_spec *s);

/* What a change of one canonical key's value asks of a deployed appliance.
 * Every key nea_spec_canonical() writes has one class (nea_canonical.c);
 * the engine maps a class to its actions.  Classes part where the engine
 * says different things (a new host or a new pool, a new image or a new
 * size, ...). */
enum nea_change_class {
    NEA_CHANGE_UNKNOWN,             /* not a key nea_spec_canonical() writes */
    NEA_CHANGE_IGNORE,              /* format, tenant */
    NEA_CHANGE_RECORD,              /* plan: only the record */
    NEA_CHANGE_MOVE_HOST,           /* host */
    NEA_CHANGE_MOVE_POOL,           /* pool */
    NEA_CHANGE_DISK_IMAGE,          /* image, image-sha256 */
    NEA_CHANGE_DISK_SIZE,           /* disk-gib */
    NEA_CHANGE_DEFINE_REBOOT,       /* vcpus, memory-mib, machine, domain-type,
                                     * cdrom-bus, kernel, initrd, cmdline */
    NEA_CHANGE_RENAME,              /* name */
    NEA_CHANGE_NIC,                 /* network */
    NEA_CHANGE_MAC,                 /* mac */
    NEA_CHANGE_REDEFINE,            /* uuid */
    NEA_CHANGE_SEED,                /* ipv4.*, ipv6.*, dns, ssh-key */
    NEA_CHANGE_SEED_PUBLIC_IPS,     /* public-ipv4, public-ipv6 (counts) */
    NEA_CHANGE_SEED_PUBLIC_ADDRESS, /* public-address (the pool's addresses) */
    NEA_CHANGE_SEED_RULES,          /* rule */
    NEA_CHANGE_TNET_MODE,           /* tenant-networks (the plan's mode) */
    NEA_CHANGE_TNET,                /* tenant-network.NAME: one network; the engine
                                     * tells an added or removed network (a
                                     * hot-plug) from a changed one */
    NEA_CHANGE_LAST                 /* the number of classes */
};

/* The class of key (the text before '=' of a canonical line); exact keys,
 * except "tenant-network." followed by a network's name.  NEA_CHANGE_UNKNOWN for any other string. */
enum nea_change_class nea_canonical_key_class(const char *key);

#endif

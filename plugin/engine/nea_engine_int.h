/*
 * nea_engine_int.h: what the engine's files share (not for other layers).
 *
 * The engine is split by idea, data flowing one way:
 *   nea_volumes    volume names and namespaces, image files, disk ownership
 *   nea_changeset  the change set: fields, actions, disruption; spec diffs
 *   nea_observe    everything plan and apply look at: record, host, image,
 *                  live domain, disks (no side effect on host or state)
 *   nea_drift      the live domain against what it should be (plan, status)
 *   nea_plan       the plan: what differs, and how disruptive it is
 *   nea_apply      the steps that carry a plan out
 *   nea_ready      waiting until the appliance answers
 *   nea_destroy    removing an appliance
 *   nea_status     the record joined with the live domain
 *   nea_engine     the engine object: options, host connections, progress
 */
#ifndef NEA_ENGINE_INT_H
#define NEA_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "nea_engine.h"
#include "nea_render.h"
#include "nea_sha256.h"
#include "nea_spec.h"
#include "nea_state.h"
#include "nea_virt.h"

struct nea_host_slot {
    char *uri;
    struct nea_host *host;
};

/* A local image file's sha256, by file version. */
struct nea_image_memo {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char sha256[NEA_SHA256_HEX_LEN + 1];
};

struct nea_engine {
    struct nea_engine_opts opts;
    struct nea_image_memo *images;
    size_t n_images;
    char *cache_dir;                /* images by URL; NULL: none could be chosen */
    char *fault_op;                 /* owned copy of opts.fault_op */
    struct nea_state *state;
    struct nea_host_slot *hosts;
    size_t n_hosts;
};

/* canonical spec text as key -> joined values (nea_kv_parse) */
struct nea_kv {
    char *key;
    char *value;
};

/* A disk volume as found in the pool. */
struct nea_disk_check {
    bool exists;
    bool owned;     /* provably this appliance's: see nea_disk_ownership() */
    char *backing;  /* its backing store's path, NULL: none */
};

/* What plan and apply look at (nea_observe). */
struct nea_ctx {
    struct nea_spec *spec;
    struct nea_deployment *rec;     /* NULL: never deployed (or gone) */
    const char *uri;
    struct nea_host *host;
    const char *pool;
    char *pool_dir;
    char *disk_volume;
    char *seed_volume;
    char *base_volume;
    const char *base_format;        /* "qcow2" or "raw" */
    char *image_file;               /* the image here: the plan's file, or the
                                     * verified download in the cache */
    char image_sha[NEA_SHA256_HEX_LEN + 1]; /* what the base volume is named after */
    struct nea_artifacts art;
    char *live_name;                /* where the appliance is now */
    struct nea_dom_info live;
    struct nea_disk_check disk;     /* c->disk_volume in the pool */
    char *disk_disowned;            /* a recorded disk that is not provably ours */
    bool disk_missing, seed_missing; /* recorded volumes deleted by hand */
    char *tnet_leftover;            /* the tenant's networks, slots or tags that
                                     * the spec no longer names ("a, b"); NULL: none */
    char *tnet_missing;             /* recorded libvirt networks gone from the host */
    char *tnet_stale_nics;          /* MACs of vNICs the spec does not have */
    char *canonical;
};

/* One apply under way. */
struct nea_run {
    struct nea_engine *e;
    struct nea_ctx *c;
    const struct nea_changeset *cs; /* the plan being carried out */
    struct nea_deployment *rec;     /* the record being written (owned) */
    const char *name;               /* the domain's name now */
    bool running;                   /* the domain is active now */
    char mac[18], uuid[37];
    char *legacy_disk;              /* a proven disk of an old record that a new
                                     * one replaces: deleted at the end */
    int steps, done;
};

/* nea_engine.c */
int nea_engine_host(struct nea_engine *e, const char *uri, struct nea_host **ret,
                    struct nea_err *err);
void nea_engine_progress(struct nea_engine *e, const char *tenant, const char *step, int pct);

/* nea_changeset.c */
void nea_change_add(struct nea_changeset *c, const char *field, const char *old,
                    const char *new_value, const char *action,
                    enum nea_disruption d, unsigned todo);
void nea_kv_parse(const char *text, struct nea_kv **ret, size_t *n);
void nea_kv_free(struct nea_kv *v, size_t n);
const char *nea_kv_get(const struct nea_kv *v, size_t n, const char *key);
void nea_diff_specs(struct nea_changeset *c, const char *old_text,
                    const char *new_text);
/* The action text of a class of change (NULL for IGNORE). */
const char *nea_change_class_action(enum nea_change_class cls);

/* nea_volumes.c */
void nea_disk_check_clear(struct nea_disk_check *d);
const char *nea_base_name(const char *path);
char *nea_disk_volume_name(const char *tenant);
char *nea_seed_prefix(const char *tenant);
/* "qcow2", "raw" (a disk-shaped regular file) or NULL with the reason; the
 * file's stat in *ret_st (may be NULL).  The second opens path first
 * (flags added to O_RDONLY). */
const char *nea_image_format(int fd, struct stat *ret_st, const char **ret_why);
const char *nea_image_file_format(const char *path, int flags, const char **ret_why);
char *nea_content_volume_name(const char *sha256, const char *format);
const char *nea_format_by_name(const char *name);
int nea_local_image(struct nea_engine *e, const struct nea_plan *plan,
                    const char **ret_format, char ret_sha[NEA_SHA256_HEX_LEN + 1],
                    int *ret_errno, struct nea_err *err);
int nea_disk_ownership(struct nea_engine *e, struct nea_host *h, const char *uri,
                       const char *pool,
                       const char *tenant, const struct nea_deployment *rec,
                       const char *name, const char *live_xml, struct nea_disk_check *ret,
                       struct nea_err *err);
int nea_disk_not_ours(struct nea_ctx *c, struct nea_err *err);
/* A volume named like a base image is used as one only when it is one: no
 * backing store and named by no record as a disk.  NEA_ERR_CONFLICT else;
 * *ret_format: the format the pool records for it (NULL: none, or no such
 * volume). */
int nea_base_volume_check(struct nea_engine *e, struct nea_host *h, const char *uri,
                          const char *pool, const char *name, char **ret_format,
                          struct nea_err *err);
int nea_delete_seeds(struct nea_host *h, const char *pool, const char *tenant,
                     const char *keep, const char *legacy, const char *legacy_name,
                     struct nea_err *err);

/* nea_observe.c */
void nea_ctx_clear(struct nea_ctx *c);
/* Reads record, host, image, live domain and disks into c, and renders
 * the artefacts; the tenant's public addresses as they would be allocated
 * (a dry run).  Changes nothing on the host or in the state. */
int nea_observe(struct nea_engine *e, struct nea_spec *spec, struct nea_ctx *c,
                struct nea_err *err);
/* Renders the artefacts for c (its volume names, the pool's directory). */
int nea_render_ctx(struct nea_engine *e, struct nea_ctx *c, struct nea_err *err);
/* The base volume's format, as the pool records it, once it passed
 * nea_base_volume_check. */
int nea_base_format_of_volume(struct nea_engine *e, struct nea_ctx *c, struct nea_err *err);

/* nea_drift.c: one comparison of the live domain with what it should be,
 * for plan (which repairs it) and status (which shows it) alike */
enum nea_drift_kind {
    NEA_DRIFT_MISSING,        /* no such domain */
    NEA_DRIFT_UNOWNED,        /* without neaprov's metadata */
    NEA_DRIFT_SPEC_HASH,      /* the metadata's hash is not the record's */
    NEA_DRIFT_NIC,            /* the vNIC's network or bridge */
    NEA_DRIFT_MAC,
    NEA_DRIFT_CDROM,          /* the seed is not the one attached */
    NEA_DRIFT_SIZE,           /* vCPUs or memory */
    NEA_DRIFT_DISK,           /* boots from another disk */
    NEA_DRIFT_DISK_MISSING,   /* the recorded volumes, deleted by hand */
    NEA_DRIFT_SEED_MISSING,
    NEA_DRIFT_NOT_RUNNING,
    NEA_DRIFT_LAST
};

struct nea_drift_item {
    enum nea_drift_kind kind;
    char *have, *want;        /* as shown; NULL where there is nothing to show */
};

struct nea_drift {
    struct nea_drift_item v[NEA_DRIFT_LAST];
    size_t n;
};

/* The drift of `live` from `want` (facets whose NULL fields are not
 * compared) and the record's hash; disk_missing and seed_missing name
 * recorded volumes the pool has lost. */
void nea_drift_find(const struct nea_dom_info *live, const char *recorded_hash,
                    const struct nea_dom_facets *want, const char *disk_missing,
                    const char *seed_missing, struct nea_drift *ret);
void nea_drift_clear(struct nea_drift *d);
/* Plan: the repairs of what drifted, added to cs. */
void nea_drift_changes(struct nea_ctx *c, struct nea_changeset *cs);

/* nea_plan.c */
int nea_plan_ctx(struct nea_ctx *c, struct nea_changeset *cs, struct nea_err *err);

/* nea_ready.c */
int nea_wait_ready(struct nea_engine *e, struct nea_ctx *c, struct nea_err *err);

/* nea_tnets.c: tenant networks on the host */
/* Where s's networks are on host uri (slots, VLANs) into s: a dry run for
 * plan, committed for apply (*ret_same: they were where the dry run said). */
int nea_tnets_place(struct nea_engine *e, struct nea_spec *s, const char *uri, bool dry_run,
                    bool *ret_same, struct nea_err *err);
/* Every rule's replica address in one of the tenant's networks (when it
 * has networks): NEA_ERR_INVALID naming the rule and --to. */
int nea_tnets_check_rules(const struct nea_spec *s, struct nea_err *err);
/* What of the tenant's networks is left over or missing (c->tnet_*). */
int nea_tnets_observe(struct nea_engine *e, struct nea_ctx *c, struct nea_err *err);
/* Isolated mode: the spec's libvirt networks exist and run. */
int nea_tnets_ensure(struct nea_ctx *c, struct nea_err *err);
/* After the appliance is on its new definition: its libvirt networks and
 * slots and VLANs that the spec no longer names go. */
int nea_tnets_cleanup(struct nea_engine *e, struct nea_ctx *c, struct nea_err *err);
/* After the domain is undefined: every network of the tenant on that host;
 * with release its slots and tags too (a move keeps them). */
int nea_tnets_destroy(struct nea_engine *e, struct nea_host *h, const char *host_uri,
                      const char *tenant, bool release, struct nea_err *err);
/* From the record's canonical text and (h non-NULL) the host's bridges. */
void nea_tnets_status(struct nea_host *h, const struct nea_deployment *d,
                      struct nea_tnet_status **ret, size_t *ret_n);
void nea_tnet_statuses_free(struct nea_tnet_status *v, size_t n);

/* nea_destroy.c */
int nea_destroy_locked(struct nea_engine *e, struct nea_deployment *rec,
                       const char *uri, bool release, struct nea_err *err);

#endif

/*
 * nea_state.h: the persistent record of deployments (SQLite).
 *
 * One row per appliance (keyed by tenant: one appliance per tenant), the spec
 * last applied, the step in progress (intent is written before each side
 * effect), and an event history.  WAL mode, bound parameters only, schema
 * versioned through PRAGMA user_version with forward migrations.  The file
 * is created 0600, and made 0600 when it is ours and looser (so are its
 * -wal, -shm and -journal files and the lock files).  Knows nothing of
 * libvirt.
 */
#ifndef NEA_STATE_H
#define NEA_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nea_err.h"
#include "nea_util.h"

struct nea_state;

enum nea_dep_state {
    NEA_DEP_PENDING,
    NEA_DEP_PROVISIONING,
    NEA_DEP_RUNNING,
    NEA_DEP_FAILED,
    NEA_DEP_DESTROYING,
    NEA_DEP_GONE,
    NEA_DEP_LAST
};

/* nea_dep_state_name(s): "pending", ...; nea_dep_state_parse(text): the
 * state or -1 */
NEA_ENUM_DECL(nea_dep_state);

struct nea_deployment {
    char *tenant;
    char *name;           /* libvirt domain name */
    char *plan;
    char *host;           /* libvirt URI */
    char *pool;
    enum nea_dep_state state;
    char *step;           /* step in progress, NULL when idle */
    char *spec_hash;      /* hash of the spec last applied in full */
    char *spec;           /* canonical text of that spec (nea_spec_canonical) */
    char *mac;            /* pinned at first deploy */
    char *uuid;           /* pinned at first deploy */
    char *instance_id;
    char *disk_volume;    /* set once neaprov created it (or adopted an old one) */
    char *disk_backing;   /* the backing store it was created on: the proof
                           * that it is this appliance's, checked before the
                           * disk is used or deleted */
    char *seed_volume;
    char *last_error;
    int64_t created_at, updated_at;
};

struct nea_event {
    int64_t id;
    int64_t at;
    char *tenant;
    char *kind;
    char *detail;
};

/* Every function that has out-parameters (ret_*) writes them only when it
 * returns NEA_OK.  A failing SQLite step is an error (NEA_ERR_STATE naming
 * what was being read or written), never "no row". */

int nea_state_open(const char *path, struct nea_state **ret_state, struct nea_err *err);
void nea_state_close(struct nea_state *st);

/* *ret_dep is NULL (and NEA_OK returned) when there is no such deployment. */
int nea_state_get(struct nea_state *st, const char *tenant,
                  struct nea_deployment **ret_dep, struct nea_err *err);
int nea_state_find(struct nea_state *st, const char *tenant_or_name,
                   struct nea_deployment **ret_dep, struct nea_err *err);
/* Another tenant's deployment (not gone) on host with this MAC, or NULL. */
int nea_state_mac_user(struct nea_state *st, const char *host, const char *mac,
                       const char *tenant, struct nea_deployment **ret_dep,
                       struct nea_err *err);
/* Whether another tenant's record (in any state; tenant "": any record)
 * names this disk volume. */
int nea_state_disk_named(struct nea_state *st, const char *host, const char *pool,
                         const char *volume, const char *tenant, bool *ret_named,
                         struct nea_err *err);
int nea_state_list(struct nea_state *st, struct nea_deployment ***ret_deps,
                   size_t *ret_n, struct nea_err *err);
/* Insert or replace the whole row (updated_at is set here). */
int nea_state_put(struct nea_state *st, struct nea_deployment *d, struct nea_err *err);
int nea_state_event(struct nea_state *st, const char *tenant, const char *kind,
                    const char *detail, struct nea_err *err);
int nea_state_events(struct nea_state *st, const char *tenant, size_t limit,
                     struct nea_event **ret_events, size_t *ret_n, struct nea_err *err);

/* Locks beside the database, each kind in a file namespace of its own that
 * no name of another kind can reach: STATE.lock-TENANT for one tenant's
 * appliance (apply, destroy), STATE.lock.upload-KEY for the base image
 * upload of one host and pool (KEY names them).  Names are 1-64 of
 * [a-z0-9-]: no '.', so a tenant never names an upload lock's file. */
enum nea_lock_kind {
    NEA_LOCK_TENANT,
    NEA_LOCK_UPLOAD,
};

/* How long a lock shared by tenants (the upload) is waited for by default. */
#define NEA_LOCK_TIMEOUT_DEFAULT_S 600u

/* Exclusive lock (flock, nea_lock.h) of that kind and name for the life of
 * the returned fd.  timeout_s 0 fails at once when another process holds
 * it, else it is waited for up to timeout_s seconds; then NEA_ERR_BUSY, with
 * a message naming the holder (every holder writes "PID COMMAND" into the
 * lock file) and, for a wait, the timeout; the message names no option of
 * any caller (the CLI adds its --lock-timeout).  NEA_ERR_INVALID for a name
 * outside [a-z0-9-]{1,64}.  Lock files are made 0600. */
int nea_state_lock(struct nea_state *st, enum nea_lock_kind kind, const char *name,
                   unsigned timeout_s, int *ret_fd, struct nea_err *err);
/* The same lock with files named BASE.lock...: for a lock shared by every
 * state database of this machine (BASE in a directory of its own). */
int nea_lock_at(const char *base, enum nea_lock_kind kind, const char *name,
                unsigned timeout_s, int *ret_fd, struct nea_err *err);
void nea_state_unlock(int fd); /* nea_unlock */

/* Base image volumes neaprov uploads: "uploading" is written before the
 * upload and "done" after, so a volume cut by a crash is never trusted;
 * *ret_state is NULL for a volume neaprov did not upload (the SP's own). */
int nea_state_base_image(struct nea_state *st, const char *host, const char *pool,
                         const char *volume, char **ret_state, struct nea_err *err);
int nea_state_set_base_image(struct nea_state *st, const char *host, const char *pool,
                             const char *volume, const char *state, struct nea_err *err);

/* Injectable clock for deterministic tests (default: time()). */
void nea_state_set_clock(struct nea_state *st, int64_t (*now)(void));
/* Called after a deployment record (kind "state", detail "STATE" or
 * "STATE: step STEP") or an event (its kind and detail) is written. */
typedef void (*nea_state_hook_fn)(void *data, const char *tenant, const char *kind,
                                  const char *detail);
void nea_state_set_hook(struct nea_state *st, nea_state_hook_fn fn, void *data);

struct nea_deployment *nea_deployment_dup(const struct nea_deployment *d);
void nea_deployment_free(struct nea_deployment *d);
/* nea_deployment_freep(struct nea_deployment **), for NEA_AUTO */
NEA_DEFINE_CLEANUP(struct nea_deployment *, nea_deployment_free)
void nea_deployments_free(struct nea_deployment **v, size_t n);
void nea_events_free(struct nea_event *v, size_t n);

#endif

/*
 * nea_state.h: the persistent record of deployments (SQLite).
 *
 * One row per appliance (keyed by tenant: one appliance per tenant), the spec
 * last applied, the step in progress (intent is written before each side
 * effect), and an event history.  WAL mode, bound parameters only, schema
 * versioned through PRAGMA user_version with forward migrations.  The file
 * is created 0600.  Knows nothing of libvirt.
 */
#ifndef NEA_STATE_H
#define NEA_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nea_err.h"

struct nea_state;

enum nea_dep_state {
    NEA_DEP_PENDING,
    NEA_DEP_PROVISIONING,
    NEA_DEP_RUNNING,
    NEA_DEP_FAILED,
    NEA_DEP_DESTROYING,
    NEA_DEP_GONE,
};

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
    char *disk_volume;
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

#define NEA_STATE_SCHEMA_VERSION 3

int nea_state_open(const char *path, struct nea_state **ret, struct nea_err *err);
void nea_state_close(struct nea_state *st);
void nea_state_closep(struct nea_state **st);

/* *ret is NULL (and NEA_OK returned) when there is no such deployment. */
int nea_state_get(struct nea_state *st, const char *tenant,
                  struct nea_deployment **ret, struct nea_err *err);
int nea_state_find(struct nea_state *st, const char *tenant_or_name,
                   struct nea_deployment **ret, struct nea_err *err);
int nea_state_list(struct nea_state *st, struct nea_deployment ***ret, size_t *n,
                   struct nea_err *err);
/* Insert or replace the whole row (updated_at is set here). */
int nea_state_put(struct nea_state *st, struct nea_deployment *d, struct nea_err *err);
int nea_state_event(struct nea_state *st, const char *tenant, const char *kind,
                    const char *detail, struct nea_err *err);
int nea_state_events(struct nea_state *st, const char *tenant, size_t limit,
                     struct nea_event **ret, size_t *n, struct nea_err *err);

/* Exclusive per-tenant lock for the life of the returned fd (flock on a file
 * beside the database); NEA_ERR_BUSY when another process holds it. */
int nea_state_lock(struct nea_state *st, const char *tenant, int *ret_fd,
                   struct nea_err *err);
void nea_state_unlock(int fd);
/* The same, waiting for the lock (for short sections shared by tenants). */
int nea_state_lock_wait(struct nea_state *st, const char *key, int *ret_fd,
                        struct nea_err *err);

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

const char *nea_dep_state_name(enum nea_dep_state s);
int nea_dep_state_parse(const char *s, enum nea_dep_state *ret);
struct nea_deployment *nea_deployment_dup(const struct nea_deployment *d);
void nea_deployment_free(struct nea_deployment *d);
void nea_deployment_freep(struct nea_deployment **d);
void nea_deployments_free(struct nea_deployment **v, size_t n);
void nea_events_free(struct nea_event *v, size_t n);

#endif

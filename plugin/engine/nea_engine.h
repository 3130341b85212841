/*
 * nea_engine.h: plan, apply, status and destroy of appliances.
 *
 * The engine joins the model (spec), the artefacts (render), the host
 * (virt) and the record (state).  apply is convergent: it compares the spec
 * with the record and the live domain, writes its intent before each side
 * effect, and does only what differs, with the least disruption the host
 * allows.  Printing is the caller's: the engine reports through callbacks
 * and result structs.
 */
#ifndef NEA_ENGINE_H
#define NEA_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "nea_err.h"
#include "nea_model.h"
#include "nea_progress.h"
#include "nea_state.h"
#include "nea_util.h"

enum nea_disruption { NEA_DISRUPT_NONE, NEA_DISRUPT_REBOOT, NEA_DISRUPT_REDEPLOY };

/* What apply has to do; a plan is the union of these. */
enum {
    NEA_DO_CREATE = 1 << 0,     /* no appliance yet: volumes, define, start */
    NEA_DO_DISK = 1 << 1,       /* new disk (image or size changed): redeploy */
    NEA_DO_SEED = 1 << 2,       /* new seed ISO (instance-id changed) */
    NEA_DO_RENAME = 1 << 3,
    NEA_DO_DEFINE = 1 << 4,     /* new persistent definition */
    NEA_DO_RESTART = 1 << 5,    /* stop and start to apply the definition */
    NEA_DO_NIC = 1 << 6,        /* vNIC source: live update when the host can */
    NEA_DO_START = 1 << 7,      /* domain is not running */
    NEA_DO_RECORD = 1 << 8,     /* only the record/metadata is behind */
    NEA_DO_REDEFINE = 1 << 9,   /* UUID changed: undefine and define */
    NEA_DO_MOVE = 1 << 10,      /* host or pool changed: remove there, create here */
    NEA_DO_TNETS = 1 << 11,     /* tenant networks: make the host's side (libvirt
                                 * networks, VLANs), remove what is no longer used */
    NEA_DO_PLUG = 1 << 12,      /* a tenant network added or removed: its vNIC is
                                 * plugged or unplugged live, with a new seed */
};

struct nea_change {
    char *field;
    char *old_value;     /* NULL: none */
    char *new_value;
    const char *action;  /* static text */
    enum nea_disruption disruption;
};

struct nea_changeset {
    char *tenant;
    char *name;
    char *host;
    unsigned todo;       /* NEA_DO_* */
    enum nea_disruption disruption;
    struct nea_change *v;
    size_t n;
};

/* The strings must outlive the engine (fault_op is copied). */
struct nea_engine_opts {
    const char *state_path;
    const char *uri;              /* overrides the plan's host when set */
    const char *template_path;
    unsigned stop_timeout_s;      /* graceful shutdown before power-off */
    unsigned ready_timeout_s;
    bool wait;                    /* wait until the appliance is ready */
    time_t epoch;                 /* ISO timestamps */
    const char *fault_op;         /* tests: make this libvirt operation fail */
    unsigned fault_nth;
    bool fault_crash;
    void (*progress)(void *data, const char *tenant, const char *step, int percent);
    void *progress_data;
    /* apply: the plan it carries out, computed under the tenant's lock,
     * before the first change */
    void (*planned)(void *data, const struct nea_changeset *cs);
    void *planned_data;
    /* images by URL: the cache (NULL: /var/cache/neaprov/images for root,
     * else $XDG_CACHE_HOME or ~/.cache/neaprov/images), the CA bundle
     * (NULL: the system's), and who is told of a download's progress (NULL:
     * nobody; the CLI passes nea_progress_text) */
    const char *image_cache_dir;
    const char *ca_file;
    nea_progress_fn *fetch_progress;
    void *fetch_progress_data;
    /* every state change and event the engine records (nea_state_set_hook) */
    nea_state_hook_fn event;
    void *event_data;
    /* how long to wait for a lock that tenants share (the base image upload
     * of a host and pool) before failing with NEA_ERR_BUSY; 0:
     * NEA_LOCK_TIMEOUT_DEFAULT_S.  A tenant's own lock is never waited for. */
    unsigned lock_timeout_s;
    /* the largest image fetched by URL, a resumed download's kept bytes
     * included; 0: NEA_FETCH_DEFAULT_MAX_BYTES (64 GiB) */
    uint64_t max_image_bytes;
};

struct nea_engine;

int nea_engine_open(const struct nea_engine_opts *opts, struct nea_engine **ret,
                    struct nea_err *err);
void nea_engine_close(struct nea_engine *e);
NEA_DEFINE_CLEANUP(struct nea_engine *, nea_engine_close)
struct nea_state *nea_engine_state(struct nea_engine *e);

int nea_engine_plan(struct nea_engine *e, struct nea_spec *spec,
                    struct nea_changeset *ret, struct nea_err *err);
/* ret (optional) receives the changeset that was applied. */
int nea_engine_apply(struct nea_engine *e, struct nea_spec *spec,
                     struct nea_changeset *ret, struct nea_err *err);
int nea_engine_destroy(struct nea_engine *e, const char *tenant_or_name,
                       const char *uri, struct nea_err *err);
void nea_changeset_clear(struct nea_changeset *c);
const char *nea_disruption_name(enum nea_disruption d);

/* One tenant network of an appliance, and what a replica attaches to. */
struct nea_tnet_status {
    char *name;
    char *ifname;           /* in the appliance: "int0", ... */
    char *gateway;          /* "198.51.100.65/28" */
    char *gateway6;         /* NULL: none */
    bool internet;
    char *libvirt_network;  /* isolated mode: the libvirt network; else NULL */
    char *bridge;           /* its Linux bridge (NULL: not known), or the Open
                             * vSwitch bridge in ovs-vlan mode */
    unsigned vlan;          /* ovs-vlan mode: the tag; else 0 */
};

struct nea_app_status {
    struct nea_deployment *dep;
    struct nea_tnet_status *tnets;
    size_t n_tnets;
    const char *live;       /* "running", "shut off", "missing", "unreachable", ... */
    char *drift;            /* NULL when the live domain matches the record */
    char *addresses;        /* the guest's addresses as the host sees them */
};

/* A rule for the tenant's appliance: its --to must lie in one of the
 * tenant's networks when the recorded appliance has networks
 * (NEA_ERR_INVALID naming --to and the networks). */
int nea_engine_rule_check(struct nea_engine *e, const char *tenant,
                          const struct nea_rule *r, struct nea_err *err);

int nea_engine_status(struct nea_engine *e, const char *filter,
                      struct nea_app_status **ret, size_t *n, struct nea_err *err);
void nea_statuses_free(struct nea_app_status *v, size_t n);

#endif

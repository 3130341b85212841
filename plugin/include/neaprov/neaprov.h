/*
 * neaprov/neaprov.h: the neaprov provisioning plugin's ABI.
 *
 * A host (a backup or orchestration server, or neaprov's own tests) loads
 * libneaprov.so.1 with dlopen, looks up the one exported symbol
 * NEAPROV_ENTRY ("neaprov_provider") and calls it with the ABI version it was
 * compiled against.  The answer is a table of function pointers; everything
 * else in the library is hidden.
 *
 *   void *so = dlopen("libneaprov.so.1", RTLD_NOW | RTLD_LOCAL);
 *   neaprov_provider_fn get = (neaprov_provider_fn)dlsym(so, NEAPROV_ENTRY);
 *   const struct neaprov_provider *p = get(NEAPROV_ABI_VERSION);
 *   if (!p) ... the library is older than this header: refuse to go on
 *
 * Versioning: NEAPROV_ABI_VERSION grows by one whenever a field is added at
 * the end of struct neaprov_provider or struct neaprov_options; fields are
 * never removed, reordered or changed in meaning.  A library serves every
 * host whose version is not newer than its own; a host reads a table field
 * only when NEAPROV_HAS(p, field) says the library's table holds it.  An
 * incompatible change would be a new soname (libneaprov.so.2).
 *
 * Errors: every call that can fail returns 0 or a negative enum
 * neaprov_status and leaves the first error of that call, as one whole
 * sentence, in its context (last_error).  Output pointers are set to NULL
 * unless the call succeeds.  A spec's problems, one line per
 * problem with file, line and field, are in diagnostics.
 *
 * Threads: the table is immutable.  A context is used by one thread at a
 * time; different contexts are independent (no global state) and may be used
 * from different threads at once.  Callbacks run on the calling thread,
 * inside the call; they must not call into the same context, and the event
 * callback runs while the state database may hold its write lock, so it
 * should return quickly (other writers wait up to 10 s).
 *
 * Memory: strings returned through char ** belong to the host, which frees
 * them with p->free.  const char * answers (last_error, diagnostics) belong
 * to the context and stay valid until the next call on it.  The library
 * copies what it keeps of the host's strings and options.
 */
#ifndef NEAPROV_NEAPROV_H
#define NEAPROV_NEAPROV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NEAPROV_ABI_VERSION 2u
#define NEAPROV_ENTRY "neaprov_provider"

/* Whether the table t (as the library filled it) holds field f. */
#define NEAPROV_HAS(t, f)                                                          \
    (offsetof(struct neaprov_provider, f) + sizeof((t)->f) <= (t)->struct_size &&  \
     (t)->f != NULL) /* f: a function field */

enum neaprov_status {
    NEAPROV_OK = 0,
    NEAPROV_ERR_NOMEM = -1,
    NEAPROV_ERR_IO = -2,
    NEAPROV_ERR_INVALID = -3,     /* input (spec, plan, argument) is wrong */
    NEAPROV_ERR_INTERNAL = -4,
    NEAPROV_ERR_LIBRARY = -5,     /* libxml2, libyaml, libisofs, libcurl failed */
    NEAPROV_ERR_BUSY = -6,        /* another process works on that tenant, or
                                   * holds a shared lock past lock_timeout_s */
    NEAPROV_ERR_STATE = -7,       /* the state database failed */
    NEAPROV_ERR_HOST = -8,        /* the libvirt host refused or failed */
    NEAPROV_ERR_TIMEOUT = -9,
    NEAPROV_ERR_CONFLICT = -10,   /* a foreign object is in the way */
    NEAPROV_ERR_UNSUPPORTED = -11,
    NEAPROV_ERR_USAGE = -12       /* the host called wrongly (NULL, not opened, ...) */
};

typedef struct neaprov_ctx neaprov_ctx;   /* one host's session */
typedef struct neaprov_spec neaprov_spec; /* a validated appliance spec */

/* Progress of apply and destroy: step name ("volumes", "define", "start",
 * "wait-ready", ...) and a percentage of the whole operation. */
typedef void (*neaprov_progress_fn)(void *user, const char *tenant, const char *step,
                                    int percent);
/* Every state change and event recorded in the state database: kind "state"
 * with detail "provisioning: step define", or an event's kind and detail. */
typedef void (*neaprov_event_fn)(void *user, const char *tenant, const char *kind,
                                 const char *detail);

struct neaprov_options {
    uint32_t struct_size;           /* sizeof(struct neaprov_options) of the host */
    const char *uri;                /* libvirt URI for every spec; NULL: each plan's host.
                                     * It passes the host URI allow-list (no ext
                                     * transport, no command=, test:///default as the
                                     * only test URI, ...: docs/spec.md): else open
                                     * fails with INVALID */
    const char *state_path;         /* the SQLite state database; NULL: render only */
    const char *const *plan_dirs;   /* hardware plan directories, searched in order;
                                     * n_plan_dirs non-empty strings */
    size_t n_plan_dirs;             /* 0: /etc/neaprov/plans, then the installed ones;
                                     * at most 256 */
    const char *template_path;      /* NULL: /etc/neaprov/templates/domain.xml or the
                                     * installed one */
    const char *volume_dir;         /* render: where the domain's volumes live */
    uint32_t ready_timeout_s;       /* 0: 300 */
    uint32_t stop_timeout_s;        /* graceful shutdown before power-off; 0: 60 */
    int no_wait;                    /* apply does not wait until the appliance answers */
    neaprov_progress_fn progress;
    void *progress_user;
    neaprov_event_fn event;
    void *event_user;
    const char *image_cache_dir;    /* images by URL; NULL: /var/cache/neaprov/images
                                     * for root, else ~/.cache/neaprov/images */
    const char *ca_file;            /* PEM bundle for https images; NULL: the
                                     * system's.  Verification is always on. */
    /* ABI 2 */
    uint32_t lock_timeout_s;        /* how long apply waits for another upload of
                                     * the base image to the same host and pool
                                     * before BUSY; 0: 600 */
};

struct neaprov_provider {
    uint32_t abi_version;           /* NEAPROV_ABI_VERSION of the library */
    uint32_t struct_size;           /* sizeof(struct neaprov_provider) of the library */
    const char *version;            /* the package version, "0.1.0" */

    /* A context, ready for open; NULL when out of memory (elsewhere the
     * library, like libvirt and libxml2 under it, aborts when out of memory). */
    neaprov_ctx *(*ctx_new)(void);
    /* Closes the host connections and the database; frees ctx (NULL: no-op). */
    void (*ctx_free)(neaprov_ctx *ctx);
    /* The first error of the last call, one sentence; "" after a success. */
    const char *(*last_error)(const neaprov_ctx *ctx);
    /* Every problem of the last spec loaded, one per line, "" if none; after
     * open, a warning about options.uri (tcp, no_verify=1) or "". */
    const char *(*diagnostics)(const neaprov_ctx *ctx);

    /* Sets the options (copied).  The state database and the hosts are
     * opened on first need, so a bad state_path shows at the first plan,
     * apply, status, destroy, pool or rule call.  A NULL or empty entry in
     * plan_dirs, or an empty path, is USAGE; a refused uri is INVALID; a
     * failed open leaves the context closed. */
    int (*open)(neaprov_ctx *ctx, const struct neaprov_options *opts);

    /* Loads and validates a spec; name is what errors call the buffer. */
    int (*spec_load_file)(neaprov_ctx *ctx, const char *path, neaprov_spec **ret);
    int (*spec_load_buffer)(neaprov_ctx *ctx, const char *name, const char *buf,
                            size_t len, neaprov_spec **ret);
    void (*spec_free)(neaprov_spec *spec);
    /* {"tenant", "name", "plan", "network", "mac", "host"} of a spec */
    int (*spec_describe)(neaprov_ctx *ctx, const neaprov_spec *spec, char **json);

    /* domain.xml, meta-data, user-data, network-config, seed.iso into out_dir */
    int (*render)(neaprov_ctx *ctx, neaprov_spec *spec, const char *out_dir);
    /* The changes apply would make, as `neaprov plan --json` prints one.
     * plan and apply pin the recorded MAC, UUID and public IPs into spec. */
    int (*plan)(neaprov_ctx *ctx, neaprov_spec *spec, char **json);
    /* Converges the host to the spec; json (may be NULL): the changes made. */
    int (*apply)(neaprov_ctx *ctx, neaprov_spec *spec, char **json);
    /* Recorded and live state, as `neaprov status --json`; filter: a tenant
     * or appliance name, NULL for all. */
    int (*status)(neaprov_ctx *ctx, const char *filter, char **json);
    int (*destroy)(neaprov_ctx *ctx, const char *tenant_or_name);
    /* External networks of a host (uri NULL: the options' uri; either passes
     * the host URI allow-list, else INVALID). */
    int (*networks)(neaprov_ctx *ctx, const char *uri, char **json);

    /* The public IP pool: RANGE is ADDR, FIRST-LAST or ADDR/PREFIX. */
    int (*pool_add)(neaprov_ctx *ctx, const char *range);
    /* force releases assigned addresses; released (may be NULL) lists them. */
    int (*pool_remove)(neaprov_ctx *ctx, const char *range, int force, char **released);
    int (*pool_list)(neaprov_ctx *ctx, char **json);
    /* Forwarding rules: public "IP:PORT/PROTO" to a replica "IP:PORT". */
    int (*rule_add)(neaprov_ctx *ctx, const char *tenant, const char *pub,
                    const char *to, const char *description);
    int (*rule_remove)(neaprov_ctx *ctx, const char *tenant, const char *pub);
    int (*rule_list)(neaprov_ctx *ctx, const char *tenant, char **json);

    /* Frees what the calls above return through char **. */
    void (*free)(void *p);
    /* New fields go here, and only here. */
};

/* The one exported function: the table when the library can serve a host
 * built against abi_version (1 up to its own NEAPROV_ABI_VERSION), else NULL. */
typedef const struct neaprov_provider *(*neaprov_provider_fn)(uint32_t abi_version);
const struct neaprov_provider *neaprov_provider(uint32_t abi_version);

#ifdef __cplusplus
}
#endif

#endif

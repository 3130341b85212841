/*
 * nea_engine.c: convergent apply.
 *
 * plan = what differs between (spec, record, live domain); apply = plan, then
 * the steps below in a fixed order, each idempotent, each preceded by writing
 * the step into the record.  A run that fails or is killed at any step leaves
 * a record (state failed/provisioning, the step) and host objects with
 * deterministic names, from which the next apply computes a new plan and
 * converges.  Volumes are named after the appliance: "<name>.qcow2" (pinned
 * in the record), "<name>-seed-<16 hex of the instance-id>.iso".
 */
#include "nea_engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nea_fetch.h"
#include "nea_pool.h"
#include "nea_render.h"
#include "nea_sha256.h"
#include "nea_spec.h"
#include "nea_util.h"
#include "nea_virt.h"

struct host_slot {
    char *uri;
    struct nea_host *host;
};

/* A local image file's sha256, by file version. */
struct image_memo {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    char sha256[NEA_SHA256_HEX_LEN + 1];
};

struct nea_engine {
    struct nea_engine_opts opts;
    struct image_memo *images;
    size_t n_images;
    char *cache_dir;                /* images by URL; NULL: none could be chosen */
    char *fault_op;                 /* owned copy of opts.fault_op */
    struct nea_state *state;
    struct host_slot *hosts;
    size_t n_hosts;
};

const char *nea_disruption_name(enum nea_disruption d)
{
    switch (d) {
    case NEA_DISRUPT_NONE: return "none";
    case NEA_DISRUPT_REBOOT: return "appliance reboot";
    case NEA_DISRUPT_REDEPLOY: return "redeploy";
    }
    return "?";
}

static char *default_cache_dir(void);

int nea_engine_open(const struct nea_engine_opts *opts, struct nea_engine **ret,
                    struct nea_err *err)
{
    struct nea_engine *e = nea_xcalloc(1, sizeof(*e));
    e->opts = *opts;
    if (opts->fault_op)
        e->opts.fault_op = e->fault_op = nea_xstrdup(opts->fault_op);
    if (!e->opts.stop_timeout_s)
        e->opts.stop_timeout_s = 60;
    if (!e->opts.ready_timeout_s)
        e->opts.ready_timeout_s = 300;
    e->cache_dir = opts->image_cache_dir ? nea_xstrdup(opts->image_cache_dir)
                                         : default_cache_dir();

    int rc = nea_state_open(opts->state_path, &e->state, err);
    if (rc < 0) {
        free(e->fault_op);
        free(e->cache_dir);
        free(e);
        return rc;
    }
    if (opts->event)
        nea_state_set_hook(e->state, opts->event, opts->event_data);
    *ret = e;
    return NEA_OK;
}

void nea_engine_close(struct nea_engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_hosts; i++) {
        nea_host_close(e->hosts[i].host);
        free(e->hosts[i].uri);
    }
    free(e->hosts);
    free(e->images);
    nea_state_close(e->state);
    free(e->fault_op);
    free(e->cache_dir);
    free(e);
}

void nea_engine_closep(struct nea_engine **e)
{
    nea_engine_close(*e);
}

struct nea_state *nea_engine_state(struct nea_engine *e)
{
    return e->state;
}

/* One connection per URI for the engine's life: test:///default keeps its
 * domains only as long as the connection. */
static int get_host(struct nea_engine *e, const char *uri, struct nea_host **ret,
                    struct nea_err *err)
{
    for (size_t i = 0; i < e->n_hosts; i++)
        if (!strcmp(e->hosts[i].uri, uri)) {
            *ret = e->hosts[i].host;
            return NEA_OK;
        }
    struct nea_host *h = NULL;
    int rc = nea_host_open(uri, &h, err);
    if (rc < 0)
        return rc;
    if (e->opts.fault_op)
        nea_host_set_fault(h, e->opts.fault_op, e->opts.fault_nth, e->opts.fault_crash);
    e->hosts = nea_xrealloc(e->hosts, (e->n_hosts + 1) * sizeof(*e->hosts));
    e->hosts[e->n_hosts++] = (struct host_slot){nea_xstrdup(uri), h};
    *ret = h;
    return NEA_OK;
}

static void progress(struct nea_engine *e, const char *tenant, const char *step, int pct)
{
    if (e->opts.progress)
        e->opts.progress(e->opts.progress_data, tenant, step, pct);
}

static int destroy_locked(struct nea_engine *e, struct nea_deployment *rec,
                          const char *uri, bool release, struct nea_err *err);

/* ---- the changeset ------------------------------------------------------ */

static void add_change(struct nea_changeset *c, const char *field, const char *old,
                       const char *new_value, const char *action,
                       enum nea_disruption d, unsigned todo)
{
    c->v = nea_xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
    c->v[c->n++] = (struct nea_change){
        .field = nea_xstrdup(field),
        .old_value = old ? nea_xstrdup(old) : NULL,
        .new_value = new_value ? nea_xstrdup(new_value) : NULL,
        .action = action,
        .disruption = d,
    };
    c->todo |= todo;
    if (d > c->disruption)
        c->disruption = d;
}

void nea_changeset_clear(struct nea_changeset *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].field);
        free(c->v[i].old_value);
        free(c->v[i].new_value);
    }
    free(c->v);
    free(c->tenant);
    free(c->name);
    free(c->host);
    memset(c, 0, sizeof(*c));
}

/* How a change of one canonical key is carried out (keys from
 * nea_spec_canonical; prefixes end in '.'). */
static const struct {
    const char *key;
    unsigned todo;
    enum nea_disruption d;
    const char *action;
} key_classes[] = {
    {"host", NEA_DO_MOVE, NEA_DISRUPT_REDEPLOY, "redeploy on the new host"},
    {"pool", NEA_DO_MOVE, NEA_DISRUPT_REDEPLOY, "redeploy into the new pool"},
    {"image", NEA_DO_DISK, NEA_DISRUPT_REDEPLOY, "redeploy: new disk from the image"},
    {"image-sha256", NEA_DO_DISK, NEA_DISRUPT_REDEPLOY, "redeploy: new disk from the image"},
    {"disk-gib", NEA_DO_DISK, NEA_DISRUPT_REDEPLOY, "redeploy: new disk of the new size"},
    {"vcpus", NEA_DO_DEFINE | NEA_DO_RESTART, NEA_DISRUPT_REBOOT, "config change + reboot"},
    {"memory-mib", NEA_DO_DEFINE | NEA_DO_RESTART, NEA_DISRUPT_REBOOT,
     "config change + reboot"},
    {"machine", NEA_DO_DEFINE | NEA_DO_RESTART, NEA_DISRUPT_REBOOT, "config change + reboot"},
    {"cdrom-bus", NEA_DO_DEFINE | NEA_DO_RESTART, NEA_DISRUPT_REBOOT, "config change + reboot"},
    {"kernel", NEA_DO_DEFINE | NEA_DO_RESTART, NEA_DISRUPT_REBOOT, "config change + reboot"},
    {"initrd", NEA_DO_DEFINE | NEA_DO_RESTART, NEA_DISRUPT_REBOOT, "config change + reboot"},
    {"cmdline", NEA_DO_DEFINE | NEA_DO_RESTART, NEA_DISRUPT_REBOOT, "config change + reboot"},
    {"domain-type", NEA_DO_DEFINE | NEA_DO_RESTART, NEA_DISRUPT_REBOOT,
     "config change + reboot"},
    {"name", NEA_DO_RENAME | NEA_DO_DEFINE | NEA_DO_SEED, NEA_DISRUPT_REBOOT,
     "rename (shut down, rename, start), new seed for the hostname"},
    {"network", NEA_DO_NIC | NEA_DO_DEFINE, NEA_DISRUPT_NONE,
     "move the vNIC live (config + reboot where the host cannot)"},
    {"mac", NEA_DO_DEFINE | NEA_DO_SEED | NEA_DO_RESTART, NEA_DISRUPT_REBOOT,
     "new MAC: config change, new seed, reboot"},
    {"uuid", NEA_DO_REDEFINE | NEA_DO_RESTART, NEA_DISRUPT_REBOOT,
     "redefine with the new UUID (volumes kept) + reboot"},
    {"ipv4.", NEA_DO_SEED, NEA_DISRUPT_REBOOT,
     "new seed (new instance-id), graceful shutdown + start"},
    {"ipv6.", NEA_DO_SEED, NEA_DISRUPT_REBOOT,
     "new seed (new instance-id), graceful shutdown + start"},
    {"dns", NEA_DO_SEED, NEA_DISRUPT_REBOOT,
     "new seed (new instance-id), graceful shutdown + start"},
    {"ssh-key", NEA_DO_SEED, NEA_DISRUPT_REBOOT,
     "new seed (new instance-id), graceful shutdown + start"},
    {"plan", NEA_DO_RECORD, NEA_DISRUPT_NONE, "record the new plan"},
    {"public-ipv4", NEA_DO_SEED, NEA_DISRUPT_REBOOT,
     "allocate/release public IPs: new seed (addresses), graceful shutdown + start"},
    {"public-ipv6", NEA_DO_SEED, NEA_DISRUPT_REBOOT,
     "allocate/release public IPs: new seed (addresses), graceful shutdown + start"},
    {"public-address", NEA_DO_SEED, NEA_DISRUPT_REBOOT,
     "new seed with the public addresses, graceful shutdown + start"},
    {"rule", NEA_DO_SEED, NEA_DISRUPT_REBOOT,
     "new seed with the nftables ruleset, graceful shutdown + start"},
};

/* Splits canonical text into key -> joined values (repeated keys such as dns
 * are joined with ", "). */
struct kv {
    char *key;
    char *value;
};

static void kv_parse(const char *text, struct kv **ret, size_t *n)
{
    struct kv *v = NULL;
    size_t len = 0;
    const char *p = text ? text : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        const char *eq = memchr(p, '=', l);
        if (eq) {
            NEA_AUTOFREE char *key = nea_xstrndup(p, (size_t)(eq - p));
            NEA_AUTOFREE char *val = nea_xstrndup(eq + 1, l - (size_t)(eq - p) - 1);
            size_t i;
            for (i = 0; i < len; i++)
                if (!strcmp(v[i].key, key))
                    break;
            if (i < len) {
                char *joined = nea_xasprintf("%s, %s", v[i].value, val);
                free(v[i].value);
                v[i].value = joined;
            } else {
                v = nea_xrealloc(v, (len + 1) * sizeof(*v));
                v[len++] = (struct kv){TAKE_PTR(key), TAKE_PTR(val)};
            }
        }
        p += l + (nl ? 1 : 0);
    }
    *ret = v;
    *n = len;
}

static void kv_free(struct kv *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].value);
    }
    free(v);
}

static const char *kv_get(const struct kv *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].key, key))
            return v[i].value;
    return NULL;
}

static void diff_specs(struct nea_changeset *c, const char *old_text,
                       const char *new_text)
{
    struct kv *o = NULL, *nw = NULL;
    size_t no = 0, nn = 0;
    kv_parse(old_text, &o, &no);
    kv_parse(new_text, &nw, &nn);
    /* keys of either side, in the new spec's order, then removed ones */
    for (int pass = 0; pass < 2; pass++) {
        const struct kv *src = pass ? o : nw;
        size_t ns = pass ? no : nn;
        for (size_t i = 0; i < ns; i++) {
            const char *key = src[i].key;
            if (pass && kv_get(nw, nn, key))
                continue;
            const char *a = kv_get(o, no, key), *b = kv_get(nw, nn, key);
            if (a && b && !strcmp(a, b))
                continue;
            if (!strcmp(key, "format") || !strcmp(key, "tenant"))
                continue;
            /* a record from before images were recorded by their sha256
             * ("image=<path or URL>") is the same image when the sums agree */
            const char *so = kv_get(o, no, "image-sha256"), *sn = kv_get(nw, nn, "image-sha256");
            if (!strcmp(key, "image") && so && sn && *so && !strcmp(so, sn))
                continue;
            size_t k;
            for (k = 0; k < NEA_ARRAY_SIZE(key_classes); k++) {
                size_t kl = strlen(key_classes[k].key);
                bool prefix = key_classes[k].key[kl - 1] == '.';
                if (prefix ? !strncmp(key, key_classes[k].key, kl)
                           : !strcmp(key, key_classes[k].key))
                    break;
            }
            /* such a record may hold a URL with credentials */
            NEA_AUTOFREE char *ra = a && !strcmp(key, "image") ? nea_url_redact(a) : NULL;
            if (ra)
                a = ra;
            if (k == NEA_ARRAY_SIZE(key_classes))
                add_change(c, key, a, b, "redeploy", NEA_DISRUPT_REDEPLOY, NEA_DO_DISK);
            else
                add_change(c, key, a, b, key_classes[k].action, key_classes[k].d,
                           key_classes[k].todo);
        }
    }
    kv_free(o, no);
    kv_free(nw, nn);
}

/* ---- context: everything plan and apply look at ------------------------- */

/* A disk volume as found in the pool. */
struct disk_check {
    bool exists;
    bool owned;     /* provably this appliance's: see disk_ownership() */
    char *backing;  /* its backing store's path, NULL: none */
};

static void disk_check_clear(struct disk_check *d)
{
    free(d->backing);
    memset(d, 0, sizeof(*d));
}

struct ctx {
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
    struct disk_check disk;         /* c->disk_volume in the pool */
    char *disk_disowned;            /* a recorded disk that is not provably ours */
    bool disk_missing, seed_missing; /* recorded volumes deleted by hand */
    char *canonical;
};

static void ctx_clear(struct ctx *c)
{
    nea_deployment_free(c->rec);
    free(c->pool_dir);
    free(c->disk_volume);
    free(c->seed_volume);
    free(c->base_volume);
    free(c->image_file);
    nea_artifacts_clear(&c->art);
    free(c->live_name);
    nea_dom_info_clear(&c->live);
    disk_check_clear(&c->disk);
    free(c->disk_disowned);
    free(c->canonical);
    memset(c, 0, sizeof(*c));
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/*
 * Volume names: three namespaces that no appliance name and no tenant can
 * cross, whatever they are.
 *   base images  nea-base-<16 hex of the image's sha256>.qcow2 | .img
 *   disks        nea-disk.<tenant>.qcow2
 *   seeds        nea-seed.<tenant>.<16 hex of the instance-id>.iso
 * Tenants are [a-z0-9-] (no '.'), so each "nea-disk.<t>." and "nea-seed.<t>."
 * is one tenant's alone and neither starts like a base image; an appliance
 * name never appears in a volume name.  Records written before these names
 * may pin "<name>.qcow2" and "<name>-seed-<16 hex>.iso": such a disk is
 * used and deleted only on the proof in disk_ownership().
 */
#define BASE_PREFIX "nea-base-"

static char *disk_volume_name(const char *tenant)
{
    return nea_xasprintf("nea-disk.%s.qcow2", tenant);
}

static char *seed_prefix(const char *tenant)
{
    return nea_xasprintf("nea-seed.%s.", tenant);
}

static bool is_hex16(const char *h)
{
    for (int i = 0; i < 16; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return false;
    return true;
}

/* "nea-seed.<tenant>.<16 hex>.iso" exactly. */
static bool is_tenant_seed(const char *vol, const char *tenant)
{
    NEA_AUTOFREE char *prefix = seed_prefix(tenant);
    size_t pl = strlen(prefix);
    return !strncmp(vol, prefix, pl) && strlen(vol + pl) == 20 && is_hex16(vol + pl) &&
           !strcmp(vol + pl + 16, ".iso");
}

/* A seed name of records from before the namespaces: "<name>-seed-<16
 * hex>.iso" exactly. */
static bool is_legacy_seed(const char *vol, const char *name)
{
    size_t nl = strlen(name);
    if (strncmp(vol, name, nl) || strncmp(vol + nl, "-seed-", 6))
        return false;
    const char *h = vol + nl + 6;
    return strlen(h) == 20 && is_hex16(h) && !strcmp(h + 16, ".iso");
}

static bool is_base_volume(const char *name)
{
    return nea_str_has_prefix(name, BASE_PREFIX);
}

/* "qcow2" for a file that starts with qcow2's magic; "raw" for a regular
 * file of a disk's shape (a whole number of 512-byte sectors, at least
 * 1 MiB); NULL, with the reason, for anything else: a plan's image is
 * uploaded into the host's pool, so a text file or a device must never
 * pass for one. */
static const char *image_format(int fd, const char **ret_why)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        *ret_why = "it is not a regular file";
        return NULL;
    }
    unsigned char m[4];
    if (pread(fd, m, sizeof(m), 0) == 4 && !memcmp(m, "QFI\xfb", 4))
        return "qcow2";
    if (st.st_size >= (off_t)1 << 20 && st.st_size % 512 == 0)
        return "raw";
    *ret_why = "it is neither a qcow2 image nor a raw disk image (a whole number of "
               "512-byte sectors, at least 1 MiB)";
    return NULL;
}

static char *content_volume_name(const char *sha256, const char *format)
{
    return nea_xasprintf(BASE_PREFIX "%.16s.%s", sha256,
                         !strcmp(format, "qcow2") ? "qcow2" : "img");
}

/* The format a URL image's name suggests, until the file is at hand. */
static const char *format_by_name(const char *name)
{
    size_t n = strcspn(name, "?#"); /* a URL's query is not its name */
    return n >= 6 && !strncmp(name + n - 6, ".qcow2", 6) ? "qcow2" : "raw";
}

/* A local image: checked to be a disk image and hashed (once per file
 * version and engine: plan and apply of many specs share one image). */
static int local_image(struct nea_engine *e, const struct nea_plan *plan,
                       const char **ret_format, char ret_sha[NEA_SHA256_HEX_LEN + 1],
                       int *ret_errno, struct nea_err *err)
{
    int fd = open(plan->image_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        *ret_errno = errno;
        return NEA_OK;
    }
    const char *why = NULL;
    const char *fmt = image_format(fd, &why);
    if (!fmt) {
        close(fd);
        return nea_err_set(err, NEA_ERR_INVALID, "%s: image %s cannot be the appliance "
                           "image: %s; nothing was uploaded", plan->path, plan->image_path,
                           why);
    }
    *ret_format = fmt;
    if (plan->image_sha256) { /* checked against the file before the upload */
        close(fd);
        snprintf(ret_sha, NEA_SHA256_HEX_LEN + 1, "%s", plan->image_sha256);
        return NEA_OK;
    }
    struct stat st;
    fstat(fd, &st);
    for (size_t i = 0; i < e->n_images; i++) {
        struct image_memo *m = &e->images[i];
        if (m->dev == st.st_dev && m->ino == st.st_ino && m->size == st.st_size &&
            m->mtime.tv_sec == st.st_mtim.tv_sec && m->mtime.tv_nsec == st.st_mtim.tv_nsec) {
            close(fd);
            memcpy(ret_sha, m->sha256, sizeof(m->sha256));
            return NEA_OK;
        }
    }
    int rc = nea_sha256_fd(fd, plan->image_path, ret_sha, err);
    close(fd);
    if (rc < 0)
        return rc;
    e->images = nea_xrealloc(e->images, (e->n_images + 1) * sizeof(*e->images));
    struct image_memo *m = &e->images[e->n_images++];
    *m = (struct image_memo){.dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
                             .mtime = st.st_mtim};
    memcpy(m->sha256, ret_sha, sizeof(m->sha256));
    return NEA_OK;
}

/* No shared fallback such as /tmp: a cache another user can write to would
 * let them plant images. */
static char *default_cache_dir(void)
{
    if (geteuid() == 0)
        return nea_xstrdup("/var/cache/neaprov/images");
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && *xdg == '/')
        return nea_xasprintf("%s/neaprov/images", xdg);
    const char *home = getenv("HOME");
    return home && *home == '/' ? nea_xasprintf("%s/.cache/neaprov/images", home) : NULL;
}

static int render_for(struct nea_engine *e, struct ctx *c, struct nea_err *err)
{
    nea_artifacts_clear(&c->art);
    /* the seed first: its instance-id names the seed volume */
    struct nea_seed seed;
    int rc = nea_seed_build(c->spec, &seed, err);
    if (rc < 0)
        return rc;
    free(c->seed_volume);
    size_t il = strlen(seed.instance_id);
    NEA_AUTOFREE char *prefix = seed_prefix(c->spec->tenant);
    c->seed_volume = nea_xasprintf("%s%s.iso", prefix,
                                   seed.instance_id + (il > 16 ? il - 16 : 0));
    nea_seed_clear(&seed);
    struct nea_render_opts ro = {
        .template_path = e->opts.template_path,
        .volume_dir = c->pool_dir,
        .epoch = e->opts.epoch ? e->opts.epoch : NEA_DEFAULT_EPOCH,
        .disk_volume = c->disk_volume,
        .seed_volume = c->seed_volume,
    };
    return nea_render(c->spec, &ro, &c->art, err);
}

static int check_owner(struct ctx *c, const char *name, const struct nea_dom_info *i,
                       struct nea_err *err)
{
    if (i->state == NEA_DOM_MISSING)
        return NEA_OK;
    if (!i->owned)
        return nea_err_set(err, NEA_ERR_CONFLICT, "%s: a domain named %s exists and is "
                           "not managed by neaprov; neaprov will not touch it (choose "
                           "another appliance.name or remove it yourself)",
                           c->uri, name);
    if (!i->tenant || strcmp(i->tenant, c->spec->tenant))
        return nea_err_set(err, NEA_ERR_CONFLICT, "%s: domain %s belongs to tenant %s, "
                           "not %s", c->uri, name, i->tenant ? i->tenant : "(unknown)",
                           c->spec->tenant);
    return NEA_OK;
}

/* The spec's external network must exist (and be up) on the host: nothing
 * is created for an appliance whose vNIC would have nowhere to go. */
static int check_network(struct ctx *c, struct nea_err *err)
{
    struct nea_host_net *v = NULL;
    size_t n = 0;
    int rc = nea_host_networks(c->host, &v, &n, err);
    if (rc < 0)
        return rc;
    const struct nea_network *want = c->spec->network;
    const struct nea_host_net *found = NULL;
    char list[512] = "";
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        bool want_net = want->kind == NEA_NET_LIBVIRT;
        bool is_net = v[i].kind == NEA_HOSTNET_NETWORK;
        /* Open vSwitch bridges are not always told apart from Linux ones by
         * the interface backend: a bridge of that name is accepted for both. */
        if (want_net == is_net && !strcmp(v[i].name, want->name))
            found = &v[i];
        if (off < sizeof(list))
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
                                    off ? ", " : "", v[i].ref);
    }
    if (!found)
        rc = nea_err_set(err, NEA_ERR_INVALID, "%s: appliance.external-network %s does "
                         "not exist on %s (it has: %s)", c->spec->path, want->ref, c->uri,
                         off ? list : "no bridges or networks");
    /* a bridge without ports has no carrier and reads as inactive: only a
     * libvirt network must be started */
    else if (!found->active && found->kind == NEA_HOSTNET_NETWORK)
        rc = nea_err_set(err, NEA_ERR_INVALID, "%s: appliance.external-network %s is not "
                         "active on %s", c->spec->path, want->ref, c->uri);
    nea_host_nets_free(v, n);
    return rc;
}

/* The tenant's public addresses (allocated now, or as they would be for a
 * plan) and its rules go into the model before anything is rendered. */
static int load_public(struct nea_engine *e, struct nea_spec *spec, bool commit,
                       struct nea_err *err)
{
    struct nea_ip *addrs = NULL;
    size_t na = 0;
    struct nea_err perr = {0};
    int rc = nea_pool_allocate(e->state, spec->tenant, spec->public_ipv4,
                               spec->public_ipv6, !commit, &addrs, &na, &perr);
    if (rc < 0)
        return nea_err_set(err, rc, "%s: %s", spec->path, perr.msg);
    struct nea_rule *rules = NULL;
    size_t nr = 0;
    rc = nea_rule_list(e->state, spec->tenant, &rules, NULL, &nr, err);
    if (rc == NEA_OK)
        nea_spec_set_public(spec, addrs, na, rules, nr);
    free(addrs);
    nea_rules_free(rules, NULL, nr);
    return rc;
}

static int base_format_of_volume(struct ctx *c, struct nea_err *err);

/* Whether volume `name` in the pool exists and is this appliance's disk.
 * A disk in the tenant's namespace is its own when it is an overlay on a
 * base image (on the one recorded with it, where one is): only neaprov
 * makes volumes of that name, and only for this tenant.  A disk named by a
 * record from before the namespaces is its own only when everything says
 * so: the record names it, it is an overlay and no base image, no other
 * tenant's record names it, and the tenant's own domain (live_xml, NULL when
 * it has none) boots from it.  Anything else is never used nor deleted. */
static int disk_ownership(struct nea_engine *e, struct nea_host *h, const char *pool,
                          const char *tenant, const struct nea_deployment *rec,
                          const char *name, const char *live_xml, struct disk_check *ret,
                          struct nea_err *err)
{
    memset(ret, 0, sizeof(*ret));
    int rc = nea_host_vol_backing(h, pool, name, &ret->exists, &ret->backing, err);
    if (rc < 0 || !ret->exists || !ret->backing || is_base_volume(name))
        return rc;
    bool recorded = rec && rec->disk_volume && !strcmp(rec->disk_volume, name);
    NEA_AUTOFREE char *own = disk_volume_name(tenant);
    if (!strcmp(name, own)) {
        ret->owned = is_base_volume(base_name(ret->backing)) &&
                     (!recorded || !rec->disk_backing ||
                      !strcmp(rec->disk_backing, ret->backing));
        return NEA_OK;
    }
    if (!recorded)
        return NEA_OK;
    if (rec->disk_backing) {
        ret->owned = !strcmp(rec->disk_backing, ret->backing);
        return NEA_OK;
    }
    NEA_AUTOFREE char *uploaded = NULL;
    rc = nea_state_base_image(e->state, rec->host, pool, name, &uploaded, err);
    bool shared = false;
    if (rc == NEA_OK)
        rc = nea_state_disk_named(e->state, rec->host, pool, name, tenant, &shared, err);
    if (rc < 0 || uploaded || shared || !live_xml)
        return rc;
    NEA_AUTOFREE char *path = NULL;
    rc = nea_host_vol_path(h, pool, name, &path, err);
    if (rc < 0)
        return rc;
    struct nea_dom_facets f;
    nea_dom_facets_parse(live_xml, &f);
    ret->owned = path && f.disk_source && !strcmp(f.disk_source, path);
    nea_dom_facets_clear(&f);
    return NEA_OK;
}

static int disk_not_ours(struct ctx *c, struct nea_err *err)
{
    return nea_err_set(err, NEA_ERR_CONFLICT, "%s: volume %s exists in pool %s and is not "
                       "provably the disk of tenant %s's appliance (not an overlay on a "
                       "base image neaprov created for it); neaprov will not use or "
                       "delete it: remove it yourself", c->uri, c->disk_volume, c->pool,
                       c->spec->tenant);
}

/* Two appliances on one host never share a MAC: the network-config of both
 * would match either NIC.  A MAC the spec derived that another tenant
 * holds is derived again (with a counter) before anything uses it; one the
 * spec gives, or a recorded one, is refused naming the holder.  The state
 * enforces the same with a trigger, so a race cannot get through. */
static int check_mac(struct nea_engine *e, struct ctx *c, bool moved, struct nea_err *err)
{
    struct nea_spec *s = c->spec;
    bool derived = !s->mac_given && (!c->rec || moved || !c->rec->mac);
    for (unsigned salt = 1;; salt++) {
        char mac[18];
        nea_mac_format(s->mac, mac);
        NEA_AUTO(nea_deployment_freep) struct nea_deployment *other = NULL;
        int rc = nea_state_mac_user(e->state, c->uri, mac, s->tenant, &other, err);
        if (rc < 0 || !other)
            return rc;
        if (!derived || salt > 64)
            return nea_err_set(err, NEA_ERR_CONFLICT, "%s: appliance.mac %s is already the "
                               "MAC of appliance %s of tenant %s on %s; two appliances on "
                               "one host must not share a MAC (choose another "
                               "appliance.mac%s)", s->path, mac, other->name,
                               other->tenant, c->uri,
                               s->mac_given ? "" : ", or remove the recorded one with "
                               "destroy");
        nea_spec_derive_mac(s, salt);
    }
}

static int load_ctx(struct nea_engine *e, struct nea_spec *spec, struct ctx *c,
                    bool commit, struct nea_err *err)
{
    memset(c, 0, sizeof(*c));
    c->spec = spec;
    int rc = nea_state_get(e->state, spec->tenant, &c->rec, err);
    if (rc < 0)
        return rc;
    if (c->rec && c->rec->state == NEA_DEP_GONE) {
        nea_deployment_free(c->rec);
        c->rec = NULL;
    }
    rc = load_public(e, spec, commit, err);
    if (rc < 0)
        return rc;
    c->uri = e->opts.uri ? e->opts.uri : spec->plan->host;
    c->pool = spec->plan->storage_pool;
    bool moved = c->rec && (strcmp(c->rec->host, c->uri) || strcmp(c->rec->pool, c->pool));
    if (c->rec) {
        uint8_t mac[6], uuid[16];
        bool have_mac = c->rec->mac && nea_parse_mac(c->rec->mac, mac);
        bool have_uuid = c->rec->uuid && nea_parse_uuid(c->rec->uuid, uuid);
        nea_spec_pin(spec, have_mac ? mac : NULL, have_uuid ? uuid : NULL);
    }
    rc = get_host(e, c->uri, &c->host, err);
    if (rc < 0)
        return rc;
    rc = check_network(c, err);
    if (rc < 0)
        return rc;
    rc = nea_host_pool_dir(c->host, c->pool, &c->pool_dir, err);
    if (rc < 0)
        return rc;
    rc = check_mac(e, c, moved, err);
    if (rc < 0)
        return rc;
    const struct nea_plan *plan = spec->plan;
    int image_errno = 0;
    char sha[NEA_SHA256_HEX_LEN + 1] = "";
    c->base_format = NULL;
    if (plan->image_path) {
        rc = local_image(e, plan, &c->base_format, sha, &image_errno, err);
        if (rc < 0)
            return rc;
        if (!image_errno)
            c->image_file = nea_xstrdup(plan->image_path);
        else if (plan->image_sha256)
            snprintf(sha, sizeof(sha), "%s", plan->image_sha256);
        else
            /* the volume is named after the content: without the file, only
             * image-sha256 can tell which volume in the pool it is */
            return nea_err_set(err, NEA_ERR_INVALID, "%s: image %s cannot be read (%s); "
                               "to use an image already in pool %s on %s without the "
                               "file here, give its image-sha256", plan->path,
                               plan->image_path, strerror(image_errno), c->pool, c->uri);
    } else {
        snprintf(sha, sizeof(sha), "%s", plan->image_sha256);
        if (e->cache_dir) { /* a URL: downloaded already? */
            NEA_AUTOFREE char *cached = nea_xasprintf("%s/sha256-%s", e->cache_dir,
                                                      plan->image_sha256);
            int fd = open(cached, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
            const char *why = NULL;
            const char *fmt = fd >= 0 ? image_format(fd, &why) : NULL;
            if (fd >= 0)
                close(fd);
            if (fmt) {
                c->base_format = fmt;
                c->image_file = TAKE_PTR(cached);
            }
        }
    }
    if (!c->base_format)
        c->base_format = format_by_name(base_name(plan->image));
    memcpy(c->image_sha, sha, sizeof(sha));
    c->base_volume = content_volume_name(sha, c->base_format);
    /* a base image that is neither in the pool nor readable here is the
     * plan's problem: say so before anything is written or created */
    NEA_AUTOFREE char *base_path = NULL;
    rc = nea_host_vol_path(c->host, c->pool, c->base_volume, &base_path, err);
    if (rc < 0)
        return rc;
    if (!base_path && !c->image_file) {
        /* uploaded from elsewhere (or by an older neaprov) under the other
         * format's name */
        NEA_AUTOFREE char *other = content_volume_name(
            sha, strcmp(c->base_format, "qcow2") ? "qcow2" : "raw");
        rc = nea_host_vol_path(c->host, c->pool, other, &base_path, err);
        if (rc < 0)
            return rc;
        if (base_path) {
            free(c->base_volume);
            c->base_volume = TAKE_PTR(other);
        }
    }
    /* an existing volume's format is the pool's word (below); a URL is
     * fetched (into the cache) when apply needs it */
    if (base_path)
        rc = base_format_of_volume(c, err);
    else if (image_errno)
        rc = nea_err_set(err, NEA_ERR_INVALID, "%s: image %s cannot be read (%s) and "
                         "volume %s is not in pool %s on %s", plan->path, plan->image_path,
                         strerror(image_errno), c->base_volume, c->pool, c->uri);
    if (rc < 0)
        return rc;

    c->live_name = nea_xstrdup(c->rec && !moved ? c->rec->name : spec->name);
    rc = nea_host_dom_info(c->host, c->live_name, &c->live, err);
    if (rc < 0)
        return rc;
    rc = check_owner(c, c->live_name, &c->live, err);
    if (rc < 0)
        return rc;
    if (strcmp(c->live_name, spec->name)) {
        /* renaming: the new name must be free or already ours (a rename that
         * was interrupted after libvirt did it) */
        struct nea_dom_info other;
        rc = nea_host_dom_info(c->host, spec->name, &other, err);
        if (rc < 0)
            return rc;
        rc = check_owner(c, spec->name, &other, err);
        if (rc == NEA_OK && other.state != NEA_DOM_MISSING) {
            if (c->live.state == NEA_DOM_MISSING) {
                free(c->live_name);
                c->live_name = nea_xstrdup(spec->name);
                nea_dom_info_clear(&c->live);
                c->live = other;
                memset(&other, 0, sizeof(other));
            } else {
                rc = nea_err_set(err, NEA_ERR_CONFLICT, "%s: both %s and %s exist for "
                                 "tenant %s; remove one of them", c->uri, c->live_name,
                                 spec->name, spec->tenant);
            }
        }
        nea_dom_info_clear(&other);
        if (rc < 0)
            return rc;
    }
    /* The disk: the recorded one where it is provably this appliance's,
     * else one of its own in the tenant's namespace.  A recorded volume
     * without that proof is left alone, never used. */
    NEA_AUTOFREE char *own = disk_volume_name(spec->tenant);
    const struct nea_deployment *drec = moved ? NULL : c->rec;
    const char *live_xml = c->live.state != NEA_DOM_MISSING ? c->live.xml : NULL;
    const char *want = drec && drec->disk_volume ? drec->disk_volume : own;
    rc = disk_ownership(e, c->host, c->pool, spec->tenant, drec, want, live_xml, &c->disk,
                        err);
    if (rc == NEA_OK && want != own && c->disk.exists && !c->disk.owned) {
        c->disk_disowned = nea_xstrdup(want);
        disk_check_clear(&c->disk);
        want = own;
        rc = disk_ownership(e, c->host, c->pool, spec->tenant, drec, want, live_xml,
                            &c->disk, err);
    }
    if (rc < 0)
        return rc;
    c->disk_volume = nea_xstrdup(want);
    if (c->disk.exists && !c->disk.owned)
        return disk_not_ours(c, err);
    rc = render_for(e, c, err);
    if (rc < 0)
        return rc;
    c->canonical = nea_spec_canonical(spec);
    /* the recorded volumes of a deployed appliance, deleted by hand? */
    if (c->rec && c->rec->spec_hash && !moved && c->live.state != NEA_DOM_MISSING) {
        NEA_AUTOFREE char *sp = NULL;
        if (c->rec->seed_volume)
            rc = nea_host_vol_path(c->host, c->pool, c->rec->seed_volume, &sp, err);
        if (rc < 0)
            return rc;
        c->disk_missing = !c->disk.exists && !c->disk_disowned;
        c->seed_missing = c->rec->seed_volume && !sp;
    }
    return NEA_OK;
}

static char *short_hash(const char *h)
{
    return h ? nea_xstrndup(h, 12) : NULL;
}

enum { FACET_NIC = 1, FACET_CDROM = 2, FACET_SIZE = 4, FACET_MAC = 8, FACET_DISK = 16 };

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Which managed parts of domain XML `have` differ from `want`. */
static unsigned facet_drift(const char *have, const char *want)
{
    if (!have || !want)
        return 0;
    struct nea_dom_facets h, w;
    nea_dom_facets_parse(have, &h);
    nea_dom_facets_parse(want, &w);
    unsigned d = 0;
    if (!same_str(h.nic_source, w.nic_source) || !same_str(h.nic_type, w.nic_type))
        d |= FACET_NIC;
    if (!same_str(h.cdrom_source, w.cdrom_source))
        d |= FACET_CDROM;
    if (!same_str(h.vcpus, w.vcpus) || !same_str(h.memory_kib, w.memory_kib))
        d |= FACET_SIZE;
    if (h.nic_mac && w.nic_mac && strcasecmp(h.nic_mac, w.nic_mac))
        d |= FACET_MAC;
    if (!same_str(h.disk_source, w.disk_source))
        d |= FACET_DISK;
    nea_dom_facets_clear(&h);
    nea_dom_facets_clear(&w);
    return d;
}

static void compare_live(struct ctx *c, struct nea_changeset *cs)
{
    const char *state_name = c->live.state == NEA_DOM_RUNNING   ? "running"
                             : c->live.state == NEA_DOM_SHUTOFF ? "shut off"
                                                                : "paused or crashed";
    if (c->live.state == NEA_DOM_MISSING) {
        add_change(cs, "domain", "missing", "defined, running",
                   "repair: define and start", NEA_DISRUPT_REBOOT,
                   NEA_DO_CREATE | NEA_DO_DEFINE | NEA_DO_SEED);
        return;
    }
    if (c->disk_disowned && !(cs->todo & NEA_DO_DISK))
        add_change(cs, "volume.disk", c->disk_disowned, c->disk_volume,
                   "a new disk of its own: the recorded volume is not provably this "
                   "appliance's (it is left alone)", NEA_DISRUPT_REDEPLOY, NEA_DO_DISK);
    if (c->rec->spec_hash && c->live.spec_hash &&
        strcmp(c->rec->spec_hash, c->live.spec_hash)) {
        NEA_AUTOFREE char *a = short_hash(c->live.spec_hash);
        NEA_AUTOFREE char *b = short_hash(c->rec->spec_hash);
        add_change(cs, "domain.spec-hash", a, b,
                   "repair: the domain was changed outside neaprov; redefine + reboot",
                   NEA_DISRUPT_REBOOT, NEA_DO_DEFINE | NEA_DO_RESTART);
    }
    /* both the running domain and its persistent definition (what the next
     * boot uses) must match */
    unsigned drift = facet_drift(c->live.xml, c->art.domain_xml) |
                     facet_drift(c->live.xml_inactive, c->art.domain_xml);
    struct nea_dom_facets live, want;
    /* show the running value where that is the one that differs */
    unsigned running_drift = facet_drift(c->live.xml, c->art.domain_xml);
    nea_dom_facets_parse(running_drift ? c->live.xml : c->live.xml_inactive, &live);
    nea_dom_facets_parse(c->art.domain_xml, &want);
    /* a changed network in the spec already explains a different source */
    if ((drift & FACET_NIC) && !(cs->todo & NEA_DO_NIC))
        add_change(cs, "domain.interface.source", live.nic_source, want.nic_source,
                   "repair: move the vNIC back (live where the host can)",
                   NEA_DISRUPT_NONE, NEA_DO_NIC | NEA_DO_DEFINE);
    if ((drift & FACET_CDROM) && !(cs->todo & NEA_DO_SEED))
        add_change(cs, "domain.cdrom", live.cdrom_source ? live.cdrom_source : "none",
                   want.cdrom_source, "repair: reattach the seed + reboot",
                   NEA_DISRUPT_REBOOT, NEA_DO_SEED | NEA_DO_DEFINE | NEA_DO_RESTART);
    if ((drift & FACET_SIZE) && !(cs->todo & NEA_DO_RESTART))
        add_change(cs, "domain.size", live.vcpus, want.vcpus,
                   "repair: config change + reboot", NEA_DISRUPT_REBOOT,
                   NEA_DO_DEFINE | NEA_DO_RESTART);
    /* the seed's network-config matches the MAC: it must be ours again */
    if ((drift & FACET_MAC) && !(cs->todo & NEA_DO_RESTART))
        add_change(cs, "domain.interface.mac", live.nic_mac, want.nic_mac,
                   "repair: the MAC the seed expects + reboot", NEA_DISRUPT_REBOOT,
                   NEA_DO_DEFINE | NEA_DO_RESTART);
    if ((drift & FACET_DISK) && !(cs->todo & (NEA_DO_DISK | NEA_DO_MOVE)))
        add_change(cs, "domain.disk", live.disk_source, want.disk_source,
                   "repair: boot from the appliance's own disk again + reboot",
                   NEA_DISRUPT_REBOOT, NEA_DO_DEFINE | NEA_DO_RESTART);
    if (c->disk_missing && !(cs->todo & NEA_DO_DISK))
        add_change(cs, "volume.disk", "missing", c->disk_volume,
                   "repair: a new disk from the image (what the lost one held is gone)",
                   NEA_DISRUPT_REDEPLOY, NEA_DO_DISK);
    if (c->seed_missing && !(cs->todo & NEA_DO_SEED))
        add_change(cs, "volume.seed", "missing", c->rec->seed_volume,
                   "repair: write the seed again + reboot", NEA_DISRUPT_REBOOT,
                   NEA_DO_SEED | NEA_DO_RESTART);
    nea_dom_facets_clear(&live);
    nea_dom_facets_clear(&want);
    if (c->live.state != NEA_DOM_RUNNING)
        add_change(cs, "state", state_name, "running", "start", NEA_DISRUPT_NONE,
                   NEA_DO_START);
}

static int plan_ctx(struct ctx *c, struct nea_changeset *cs, struct nea_err *err)
{
    (void)err;
    memset(cs, 0, sizeof(*cs));
    cs->tenant = nea_xstrdup(c->spec->tenant);
    cs->name = nea_xstrdup(c->spec->name);
    cs->host = nea_xstrdup(c->uri);
    if (!c->rec || !c->rec->spec_hash) {
        if (c->live.state == NEA_DOM_MISSING)
            add_change(cs, "appliance", NULL, c->spec->name,
                       "deploy: volumes, define, start", NEA_DISRUPT_NONE,
                       NEA_DO_CREATE | NEA_DO_DEFINE | NEA_DO_SEED);
        else
            add_change(cs, "appliance", "partly deployed", c->spec->name,
                       "complete the deployment: seed, define, start",
                       NEA_DISRUPT_REBOOT,
                       NEA_DO_CREATE | NEA_DO_DEFINE | NEA_DO_SEED | NEA_DO_RESTART);
        return NEA_OK;
    }
    if (c->rec->state != NEA_DEP_RUNNING || c->rec->step) {
        NEA_AUTOFREE char *was = nea_xasprintf("%s%s%s", nea_dep_state_name(c->rec->state),
                                               c->rec->step ? " at " : "",
                                               c->rec->step ? c->rec->step : "");
        add_change(cs, "state", was, "running", "resume the interrupted run",
                   NEA_DISRUPT_NONE, NEA_DO_RECORD);
    }
    diff_specs(cs, c->rec->spec, c->canonical);
    /* -c may point elsewhere than the plan (and the record) */
    if (!(cs->todo & NEA_DO_MOVE) &&
        (strcmp(c->rec->host, c->uri) || strcmp(c->rec->pool, c->pool)))
        add_change(cs, "host", c->rec->host, c->uri, "redeploy on the new host",
                   NEA_DISRUPT_REDEPLOY, NEA_DO_MOVE);
    if (cs->todo & NEA_DO_MOVE) {
        cs->todo |= NEA_DO_CREATE | NEA_DO_DEFINE | NEA_DO_SEED;
        return NEA_OK;
    }
    if (c->rec->instance_id && strcmp(c->rec->instance_id, c->art.seed.instance_id) &&
        !(cs->todo & NEA_DO_SEED))
        add_change(cs, "instance-id", c->rec->instance_id, c->art.seed.instance_id,
                   "new seed, graceful shutdown + start", NEA_DISRUPT_REBOOT,
                   NEA_DO_SEED);
    compare_live(c, cs);
    if (cs->todo & ~(unsigned)(NEA_DO_START))
        cs->todo |= NEA_DO_DEFINE;
    return NEA_OK;
}

int nea_engine_plan(struct nea_engine *e, struct nea_spec *spec,
                    struct nea_changeset *ret, struct nea_err *err)
{
    struct ctx c;
    int rc = load_ctx(e, spec, &c, false, err);
    if (rc == NEA_OK)
        rc = plan_ctx(&c, ret, err);
    ctx_clear(&c);
    return rc;
}

/* ---- apply -------------------------------------------------------------- */

struct run {
    struct nea_engine *e;
    struct ctx *c;
    struct nea_deployment *rec;     /* the record being written */
    int steps, done;
};

static int step(struct run *r, const char *name, struct nea_err *err)
{
    free(r->rec->step);
    r->rec->step = nea_xstrdup(name);
    r->rec->state = NEA_DEP_PROVISIONING;
    int rc = nea_state_put(r->e->state, r->rec, err);
    if (rc < 0)
        return rc;
    r->done++;
    int pct = r->done * 100 / (r->steps > r->done ? r->steps : r->done + 1);
    progress(r->e, r->rec->tenant, name, pct > 99 ? 99 : pct);
    return NEA_OK;
}


/* An existing base volume's format is what the pool says it is, not what
 * its name or a file here suggest (another machine may have uploaded it). */
static int base_format_of_volume(struct ctx *c, struct nea_err *err)
{
    NEA_AUTOFREE char *fmt = NULL;
    int rc = nea_host_vol_format(c->host, c->pool, c->base_volume, &fmt, err);
    if (rc < 0)
        return rc;
    if (fmt && !strcmp(fmt, "qcow2"))
        c->base_format = "qcow2";
    else if (fmt && !strcmp(fmt, "raw"))
        c->base_format = "raw";
    return NEA_OK;
}

/* The base image volume: whether it is in the pool, and this state
 * database's word on it ("uploading", "done", NULL: none). */
static int base_image_state(struct run *r, bool *ret_exists, char **ret_recorded,
                            struct nea_err *err)
{
    struct ctx *c = r->c;
    NEA_AUTOFREE char *path = NULL;
    *ret_recorded = NULL;
    int rc = nea_host_vol_path(c->host, c->pool, c->base_volume, &path, err);
    if (rc == NEA_OK)
        rc = nea_state_base_image(r->e->state, c->uri, c->pool, c->base_volume,
                                  ret_recorded, err);
    *ret_exists = path != NULL;
    return rc;
}

/* The image as a verified local file: a URL is downloaded into the cache
 * (resumed, checked against image-sha256; the cache has its own lock, so
 * no pool is held up by a download), a local file with image-sha256 is
 * hashed.  Then the volume's name and format follow the content. */
static int image_at_hand(struct run *r, struct nea_err *err)
{
    struct ctx *c = r->c;
    const struct nea_plan *plan = c->spec->plan;
    int rc;
    if (!plan->image_path) {
        if (!r->e->cache_dir) {
            NEA_AUTOFREE char *shown = nea_url_redact(plan->image);
            return nea_err_set(err, NEA_ERR_INVALID, "%s: image %s must be downloaded, but "
                               "there is no cache directory (no HOME or XDG_CACHE_HOME); "
                               "give one (--image-cache, or image_cache_dir in the plugin "
                               "ABI)", plan->path, shown);
        }
        rc = step(r, "fetch-image", err);
        if (rc < 0)
            return rc;
        struct nea_fetch_opts fo = {.cache_dir = r->e->cache_dir,
                                    .ca_file = r->e->opts.ca_file,
                                    .progress_fd = r->e->opts.fetch_progress_fd > 0
                                                       ? r->e->opts.fetch_progress_fd
                                                       : -1,
                                    .max_bytes = r->e->opts.max_image_bytes};
        char *fetched = NULL;
        rc = nea_fetch_image(plan->image, plan->image_sha256, &fo, &fetched, err);
        if (rc < 0)
            return rc;
        free(c->image_file);
        c->image_file = fetched;
    } else {
        /* the file must be the one the plan means (image-sha256) or, without
         * a checksum, still the one the volume is named after */
        char hex[NEA_SHA256_HEX_LEN + 1];
        rc = nea_sha256_file(c->image_file, hex, err);
        if (rc < 0)
            return rc;
        if (plan->image_sha256 && strcmp(hex, plan->image_sha256))
            return nea_err_set(err, NEA_ERR_INVALID, "%s: image %s has sha256 %s, but "
                               "image-sha256 says %s; nothing was uploaded", plan->path,
                               c->image_file, hex, plan->image_sha256);
        if (strcmp(hex, c->image_sha))
            return nea_err_set(err, NEA_ERR_INVALID, "%s: image %s changed while neaprov "
                               "was reading it (sha256 %s, then %s); nothing was "
                               "uploaded; run again", plan->path, c->image_file,
                               c->image_sha, hex);
    }
    int fd = open(c->image_file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    const char *why = strerror(errno);
    const char *fmt = fd >= 0 ? image_format(fd, &why) : NULL;
    if (fd >= 0)
        close(fd);
    if (!fmt) {
        NEA_AUTOFREE char *shown = plan->image_path ? NULL : nea_url_redact(plan->image);
        return nea_err_set(err, NEA_ERR_INVALID, "%s: image %s cannot be the appliance "
                           "image: %s; nothing was uploaded", plan->path,
                           shown ? shown : plan->image_path, why);
    }
    c->base_format = fmt;
    free(c->base_volume);
    c->base_volume = content_volume_name(c->image_sha, fmt);
    return NEA_OK;
}

/* Where the upload locks of this machine live, shared by every state
 * database on it (two SPs' tools, or the plugin's threads, on one pool):
 * a directory of this user's alone.  NULL: none could be had; the lock is
 * then the state database's own. */
static pthread_mutex_t test_upload_mutex = PTHREAD_MUTEX_INITIALIZER;

static char *shared_lock_base(void)
{
    NEA_AUTOFREE char *dir = NULL;
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (geteuid() == 0)
        dir = nea_xstrdup("/run/neaprov");
    else if (xdg && *xdg == '/')
        dir = nea_xasprintf("%s/neaprov", xdg);
    else
        return NULL;
    struct stat st;
    if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || lstat(dir, &st) < 0 ||
        !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
        return NULL;
    return nea_xasprintf("%s/uploads", dir);
}

/* The base image volume is shared by the pool's appliances: one upload at
 * a time per host and pool (a lock shared by all tenants and, on this
 * machine, by all state databases), and a volume neaprov began but did not
 * finish uploading is uploaded again.  A volume this database knows
 * nothing of is the SP's own or another database's: used once the lock
 * shows that nobody on this machine is uploading it. */
static int ensure_base_image(struct run *r, struct nea_err *err)
{
    struct ctx *c = r->c;
    bool exists;
    NEA_AUTOFREE char *recorded = NULL;
    int rc = base_image_state(r, &exists, &recorded, err);
    if (rc < 0)
        return rc;
    if (exists && recorded && !strcmp(recorded, "done"))
        return base_format_of_volume(c, err);
    /* fetched before the lock, so that no pool is held up by a download */
    bool at_hand = !exists || recorded;
    if (at_hand) {
        rc = image_at_hand(r, err);
        if (rc < 0)
            return rc;
    }
    uint8_t h[NEA_SHA256_LEN];
    char hex[NEA_SHA256_HEX_LEN + 1];
    NEA_AUTOFREE char *where = nea_xasprintf("%s\n%s", c->uri, c->pool);
    nea_sha256(where, strlen(where), h);
    nea_hex(h, sizeof(h), hex);
    NEA_AUTOFREE char *key = nea_xasprintf("pool-%.16s", hex);
    int lock = -1;
    unsigned wait_s = r->e->opts.lock_timeout_s ? r->e->opts.lock_timeout_s
                                                : NEA_LOCK_TIMEOUT_DEFAULT_S;
    /* a test:// host lives in its process alone: the state database's lock,
     * and among this process's threads (the plugin's contexts on several
     * databases) a mutex */
    bool test = nea_host_is_test(c->host);
    NEA_AUTOFREE char *shared = test ? NULL : shared_lock_base();
    if (test)
        pthread_mutex_lock(&test_upload_mutex);
    rc = shared ? nea_lock_at(shared, NEA_LOCK_UPLOAD, key, wait_s, &lock, err)
                : nea_state_lock(r->e->state, NEA_LOCK_UPLOAD, key, wait_s, &lock, err);
    if (rc < 0) {
        if (test)
            pthread_mutex_unlock(&test_upload_mutex);
        return rc;
    }
    /* someone else may have uploaded it meanwhile */
    free(recorded);
    recorded = NULL;
    rc = base_image_state(r, &exists, &recorded, err);
    bool ready = exists && (!recorded || !strcmp(recorded, "done"));
    if (rc == NEA_OK && ready)
        rc = base_format_of_volume(c, err);
    if (rc == NEA_OK && !ready && !at_hand)
        rc = image_at_hand(r, err);
    if (rc == NEA_OK && !ready)
        rc = step(r, "upload-base-image", err);
    if (rc == NEA_OK && !ready)
        rc = nea_state_set_base_image(r->e->state, c->uri, c->pool, c->base_volume,
                                      "uploading", err);
    if (rc == NEA_OK && !ready)
        rc = nea_host_vol_upload_file(c->host, c->pool, c->base_volume, c->base_format,
                                      c->image_file, err);
    if (rc == NEA_OK && !ready)
        rc = nea_state_set_base_image(r->e->state, c->uri, c->pool, c->base_volume, "done",
                                      err);
    nea_state_unlock(lock);
    if (test)
        pthread_mutex_unlock(&test_upload_mutex);
    return rc;
}

/* The disk is recorded only once this appliance has it: after neaprov
 * created it (with the backing store it was created on, the proof checked
 * before it is used or deleted), or when a disk of the tenant's namespace
 * that a cut run created is found again. */
static int record_disk(struct run *r, const char *backing, struct nea_err *err)
{
    free(r->rec->disk_volume);
    r->rec->disk_volume = nea_xstrdup(r->c->disk_volume);
    free(r->rec->disk_backing);
    r->rec->disk_backing = nea_xstrdup(backing);
    return nea_state_put(r->e->state, r->rec, err);
}

static int ensure_disk(struct run *r, bool replace, struct nea_err *err)
{
    struct ctx *c = r->c;
    struct disk_check d;
    int rc = disk_ownership(r->e, c->host, c->pool, c->spec->tenant, r->rec, c->disk_volume,
                            c->live.state != NEA_DOM_MISSING ? c->live.xml : NULL, &d, err);
    if (rc == NEA_OK && d.exists && !d.owned)
        rc = disk_not_ours(c, err);
    if (rc == NEA_OK && d.exists && !replace)
        rc = record_disk(r, d.backing, err);
    bool exists = d.exists;
    disk_check_clear(&d);
    if (rc < 0 || (exists && !replace))
        return rc;
    rc = ensure_base_image(r, err);
    if (rc < 0)
        return rc;
    NEA_AUTOFREE char *base = NULL;
    rc = nea_host_vol_path(c->host, c->pool, c->base_volume, &base, err);
    if (rc == NEA_OK && !base)
        rc = nea_err_set(err, NEA_ERR_HOST, "%s: base image volume %s left pool %s while "
                         "the disk of appliance %s was being made; run again", c->uri,
                         c->base_volume, c->pool, c->spec->name);
    if (rc < 0)
        return rc;
    rc = step(r, "create-disk", err);
    if (rc < 0)
        return rc;
    if (exists) {
        rc = nea_host_vol_delete(c->host, c->pool, c->disk_volume, err);
        if (rc < 0)
            return rc;
    }
    rc = nea_host_vol_create_overlay(c->host, c->pool, c->disk_volume,
                                     (uint64_t)c->spec->plan->disk_gib << 30, base,
                                     c->base_format, err);
    if (rc == NEA_OK)
        rc = record_disk(r, base, err);
    return rc;
}

static int ensure_seed(struct run *r, struct nea_err *err)
{
    struct ctx *c = r->c;
    NEA_AUTOFREE char *path = NULL;
    int rc = nea_host_vol_path(c->host, c->pool, c->seed_volume, &path, err);
    if (rc < 0)
        return rc;
    /* The name carries the instance-id, so an existing volume of this name
     * holds this seed -- unless an upload was cut, which upload() guards
     * against by replacing, and the record's step tells us. */
    bool trusted = (c->rec && c->rec->seed_volume &&
                    !strcmp(c->rec->seed_volume, c->seed_volume)) ||
                   (c->live.xml && strstr(c->live.xml, c->seed_volume));
    if (path && trusted)
        return NEA_OK;
    rc = step(r, "upload-seed", err);
    if (rc < 0)
        return rc;
    return nea_host_vol_upload(c->host, c->pool, c->seed_volume, "raw", c->art.iso,
                               c->art.iso_len, err);
}

/* Deletes the tenant's seeds except `keep` (NULL: all), and `legacy`, a
 * seed named by a record from before the namespaces, when it is one
 * ("<name>-seed-<16 hex>.iso" of the recorded name). */
static int delete_seeds(struct nea_host *h, const char *pool, const char *tenant,
                        const char *keep, const char *legacy, const char *legacy_name,
                        struct nea_err *err)
{
    NEA_AUTOFREE char *prefix = seed_prefix(tenant);
    char **names = NULL;
    size_t n = 0;
    int rc = nea_host_vol_list(h, pool, prefix, &names, &n, err);
    for (size_t i = 0; rc == NEA_OK && i < n; i++)
        if (is_tenant_seed(names[i], tenant) && (!keep || strcmp(names[i], keep)))
            rc = nea_host_vol_delete(h, pool, names[i], err);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc == NEA_OK && legacy && legacy_name && is_legacy_seed(legacy, legacy_name) &&
        (!keep || strcmp(legacy, keep)))
        rc = nea_host_vol_delete(h, pool, legacy, err);
    return rc;
}

/* Seeds of this appliance other than the current one. */
static int remove_old_seeds(struct run *r, struct nea_err *err)
{
    const struct nea_deployment *old = r->c->rec;
    if (old && (strcmp(old->host, r->c->uri) || strcmp(old->pool, r->c->pool)))
        old = NULL; /* moved: its seeds were on the old host */
    return delete_seeds(r->c->host, r->c->pool, r->c->spec->tenant, r->c->seed_volume,
                        old ? old->seed_volume : NULL, old ? old->name : NULL, err);
}

static int restart(struct run *r, const char *name, struct nea_err *err)
{
    int rc = step(r, "stop", err);
    if (rc == NEA_OK)
        rc = nea_host_dom_stop(r->c->host, name, r->e->opts.stop_timeout_s, NULL, err);
    if (rc == NEA_OK)
        rc = step(r, "start", err);
    if (rc == NEA_OK)
        rc = nea_host_dom_start(r->c->host, name, err);
    return rc;
}

/* The <interface> element of the rendered XML, for a live update. */
static char *interface_xml(const char *domain_xml)
{
    xmlDocPtr doc = xmlReadMemory(domain_xml, (int)strlen(domain_xml), "domain.xml",
                                  NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    xmlNodePtr devices = NULL;
    for (xmlNodePtr c = root ? root->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !xmlStrcmp(c->name, BAD_CAST "devices"))
            devices = c;
    char *out = NULL;
    for (xmlNodePtr c = devices ? devices->children : NULL; c && !out; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!xmlStrcmp(c->name, BAD_CAST "interface")) {
            xmlBufferPtr buf = xmlBufferCreate();
            if (xmlNodeDump(buf, doc, c, 0, 0) >= 0)
                out = nea_xstrdup((const char *)xmlBufferContent(buf));
            xmlBufferFree(buf);
        }
    }
    if (doc)
        xmlFreeDoc(doc);
    return out;
}

/* neaprov's <appliance> metadata element of the rendered XML. */
static char *metadata_xml(const char *domain_xml)
{
    xmlDocPtr doc = xmlReadMemory(domain_xml, (int)strlen(domain_xml), "domain.xml",
                                  NULL, XML_PARSE_NONET | XML_PARSE_NOERROR);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    char *out = NULL;
    for (xmlNodePtr m = root ? root->children : NULL; m && !out; m = m->next) {
        if (m->type != XML_ELEMENT_NODE || xmlStrcmp(m->name, BAD_CAST "metadata"))
            continue;
        for (xmlNodePtr a = m->children; a && !out; a = a->next) {
            if (a->type != XML_ELEMENT_NODE || !a->ns ||
                xmlStrcmp(a->ns->href, BAD_CAST NEA_XMLNS))
                continue;
            /* virDomainSetMetadata adds the namespace itself */
            xmlFreeNsList(a->nsDef);
            a->nsDef = NULL;
            a->ns = NULL;
            for (xmlNodePtr f = a->children; f; f = f->next)
                f->ns = NULL;
            xmlBufferPtr buf = xmlBufferCreate();
            if (xmlNodeDump(buf, doc, a, 0, 0) >= 0)
                out = nea_xstrdup((const char *)xmlBufferContent(buf));
            xmlBufferFree(buf);
        }
    }
    if (doc)
        xmlFreeDoc(doc);
    return out;
}

/* Moves the vNIC live; falls back to stop + start when the host cannot. */
static int nic_live_or_restart(struct run *r, const char *name, bool *ret_restarted,
                               struct nea_err *err)
{
    NEA_AUTOFREE char *dev = interface_xml(r->c->art.domain_xml);
    struct nea_err scratch = {0};
    int rc = dev ? step(r, "update-nic-live", err) : NEA_ERR_UNSUPPORTED;
    if (rc < 0 && rc != NEA_ERR_UNSUPPORTED)
        return rc;
    if (dev)
        rc = nea_host_dom_update_device(r->c->host, name, dev, &scratch);
    if (rc == NEA_OK)
        return NEA_OK;
    if (rc != NEA_ERR_UNSUPPORTED)
        return nea_err_set(err, scratch.code, "%s", scratch.msg);
    nea_state_event(r->e->state, r->rec->tenant, "fallback",
                    "live update not supported by the host: config + reboot", NULL);
    *ret_restarted = true;
    return restart(r, name, err);
}

/* Graceful shutdown (then power-off) when the domain runs; *running follows. */
static int stop_if_running(struct run *r, const char *name, bool *running,
                           struct nea_err *err)
{
    if (!*running)
        return NEA_OK;
    int rc = step(r, "stop", err);
    if (rc == NEA_OK)
        rc = nea_host_dom_stop(r->c->host, name, r->e->opts.stop_timeout_s, NULL, err);
    if (rc == NEA_OK)
        *running = false;
    return rc;
}

static int apply_ctx(struct nea_engine *e, struct ctx *c, struct nea_changeset *cs,
                     struct nea_err *err)
{
    struct nea_spec *s = c->spec;
    struct run r = {.e = e, .c = c};
    char mac[18], uuid[37];
    nea_mac_format(s->mac, mac);
    nea_uuid_format(s->uuid, uuid);
    NEA_AUTO(nea_deployment_freep) struct nea_deployment *rec =
        c->rec ? nea_deployment_dup(c->rec) : nea_xcalloc(1, sizeof(*rec));
    r.rec = rec;
    /* a rough count of the steps ahead, for progress percentages */
    r.steps = 3;
    for (unsigned t = cs->todo; t; t &= t - 1)
        r.steps += 2;
    const char *old_name = c->live_name;
    bool move = cs->todo & NEA_DO_MOVE;

    /* Intent first: the record names everything we are about to create. */
    if (!c->rec || move) {
        if (move && c->rec) {
            /* tear down on the old host; the new host gets a fresh one */
            int rc = step(&r, "remove-from-old-host", err);
            if (rc < 0)
                return rc;
            NEA_AUTO(nea_deployment_freep) struct nea_deployment *old =
                nea_deployment_dup(c->rec);
            /* moving keeps the tenant's public addresses */
            rc = destroy_locked(e, old, c->rec->host, false, err);
            if (rc < 0)
                return rc;
            nea_deployment_free(rec);
            rec = r.rec = nea_xcalloc(1, sizeof(*rec));
            nea_dom_info_clear(&c->live); /* the old domain is gone */
        }
        rec->tenant = nea_xstrdup(s->tenant);
        rec->mac = nea_xstrdup(mac);
        rec->uuid = nea_xstrdup(uuid);
    }
    free(rec->name);
    rec->name = nea_xstrdup(old_name);
    free(rec->plan);
    rec->plan = nea_xstrdup(s->plan->name);
    free(rec->host);
    rec->host = nea_xstrdup(c->uri);
    free(rec->pool);
    rec->pool = nea_xstrdup(c->pool);
    free(rec->last_error);
    rec->last_error = NULL;
    int rc = step(&r, "begin", err);
    if (rc < 0)
        return rc;
    nea_state_event(e->state, s->tenant, "apply-begin", s->hash, NULL);

    /* paused or crashed-but-active domains are active too: they must be
     * stopped before a rename or a disk change, and brought back after */
    bool running = c->live.state == NEA_DOM_RUNNING || c->live.state == NEA_DOM_OTHER;
    /* Disk: created when missing, replaced on an image change. */
    if (cs->todo & (NEA_DO_CREATE | NEA_DO_DISK)) {
        if (cs->todo & NEA_DO_DISK) {
            rc = stop_if_running(&r, old_name, &running, err);
            if (rc < 0)
                return rc;
        }
        rc = ensure_disk(&r, cs->todo & NEA_DO_DISK, err);
        if (rc < 0)
            return rc;
    }
    if (cs->todo & (NEA_DO_SEED | NEA_DO_CREATE)) {
        rc = ensure_seed(&r, err);
        if (rc < 0)
            return rc;
    }
    const char *name = old_name;
    if ((cs->todo & NEA_DO_RENAME) && c->live.state != NEA_DOM_MISSING &&
        strcmp(old_name, s->name)) {
        rc = stop_if_running(&r, old_name, &running, err);
        if (rc < 0)
            return rc;
        rc = step(&r, "rename", err);
        if (rc == NEA_OK)
            rc = nea_host_dom_rename(c->host, old_name, s->name, err);
        if (rc < 0)
            return rc;
    }
    name = s->name;
    free(rec->name);
    rec->name = nea_xstrdup(name);
    if ((cs->todo & NEA_DO_REDEFINE) && c->live.state != NEA_DOM_MISSING) {
        rc = stop_if_running(&r, name, &running, err);
        if (rc < 0)
            return rc;
        rc = step(&r, "undefine", err);
        if (rc == NEA_OK)
            rc = nea_host_dom_undefine(c->host, name, err);
        if (rc < 0)
            return rc;
    }
    if (cs->todo & (NEA_DO_DEFINE | NEA_DO_CREATE)) {
        rc = step(&r, "define", err);
        if (rc == NEA_OK)
            rc = nea_host_dom_define(c->host, c->art.domain_xml, err);
        if (rc < 0)
            return rc;
    }
    /* Bring the running appliance onto the new definition with the least
     * disruption the change allows. */
    if (!running) {
        rc = step(&r, "start", err);
        if (rc == NEA_OK)
            rc = nea_host_dom_start(c->host, name, err);
    } else if (cs->todo & (NEA_DO_RESTART | NEA_DO_REDEFINE)) {
        rc = restart(&r, name, err);
    } else {
        /* The vNIC moves live (no reboot).  A new seed needs the guest to
         * boot again; a graceful shutdown and a start (rather than a guest
         * reboot after a live media swap) make "ready" unambiguous: the old
         * instance is gone before the new one is probed. */
        bool restarted = false;
        if (cs->todo & NEA_DO_NIC)
            rc = nic_live_or_restart(&r, name, &restarted, err);
        if (rc == NEA_OK && (cs->todo & NEA_DO_SEED) && !restarted)
            rc = restart(&r, name, err);
    }
    if (rc < 0)
        return rc;
    /* A running domain that was not restarted still carries the old
     * metadata in its live definition: bring it along. */
    if (running && !(cs->todo & (NEA_DO_RESTART | NEA_DO_REDEFINE))) {
        NEA_AUTOFREE char *meta = metadata_xml(c->art.domain_xml);
        struct nea_err scratch = {0};
        if (meta && nea_host_dom_set_live_metadata(c->host, name, meta, &scratch) < 0) {
            if (scratch.code != NEA_ERR_HOST || !nea_host_is_test(c->host))
                return nea_err_set(err, scratch.code, "%s", scratch.msg);
        }
    }

    /* Done: record what is now deployed, then drop superseded seeds. */
    free(rec->spec);
    rec->spec = nea_xstrdup(c->canonical);
    free(rec->spec_hash);
    rec->spec_hash = nea_xstrdup(s->hash);
    free(rec->instance_id);
    rec->instance_id = nea_xstrdup(c->art.seed.instance_id);
    free(rec->seed_volume);
    rec->seed_volume = nea_xstrdup(c->seed_volume);
    free(rec->mac);
    rec->mac = nea_xstrdup(mac);
    free(rec->uuid);
    rec->uuid = nea_xstrdup(uuid);
    /* a disk of a record from before the namespaces, now proven */
    if (c->disk.owned && !rec->disk_backing &&
        rec->disk_volume && !strcmp(rec->disk_volume, c->disk_volume))
        rec->disk_backing = nea_xstrdup(c->disk.backing);
    /* The spec is recorded with this step: the public addresses in its seed
     * must still be the tenant's then, checked in the same transaction (a
     * `pool remove --force` may have run meanwhile). */
    free(rec->step);
    rec->step = nea_xstrdup("cleanup");
    rec->state = NEA_DEP_PROVISIONING;
    rc = nea_pool_put_deployment(e->state, rec, s->public_addrs, s->n_public_addrs, err);
    if (rc == NEA_OK) {
        r.done++;
        progress(e, s->tenant, "cleanup", 99);
        rc = remove_old_seeds(&r, err);
    }
    if (rc < 0)
        return rc;
    free(rec->step);
    rec->step = NULL;
    rec->state = NEA_DEP_RUNNING;
    rc = nea_state_put(e->state, rec, err);
    if (rc == NEA_OK)
        nea_state_event(e->state, s->tenant, "applied", s->hash, NULL);
    progress(e, s->tenant, "done", 100);
    return rc;
}

/* TCP connect to the appliance's management port: the guest is up, its
 * network configured from the seed, and sshd listening. */
static bool tcp_probe(const struct nea_ip *ip, unsigned port, int timeout_ms)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (ip->family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        memcpy(&a->sin_addr, ip->b, 4);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        memcpy(&a->sin6_addr, ip->b, 16);
        len = sizeof(*a);
    }
    int fd = socket(ip->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = false;
    if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
        ok = true;
    } else if (errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, timeout_ms) == 1) {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0;
        }
    }
    close(fd);
    return ok;
}

static int wait_ready(struct nea_engine *e, struct ctx *c, struct nea_err *err)
{
    const struct nea_spec *s = c->spec;
    if (nea_host_is_test(c->host))
        return NEA_OK; /* nothing boots in the test driver: running is ready */
    const struct nea_ip *ip = s->ipv4.mode == NEA_V4_STATIC   ? &s->ipv4.address
                              : s->ipv6.mode == NEA_V6_STATIC ? &s->ipv6.address
                                                              : NULL;
    /* DHCP/SLAAC: the addresses the guest agent or an ARP table reports for
     * our MAC, asked again each round (a lease may change, an ARP entry may
     * be stale), each probed the same way */
    bool learned_any = false;
    char mac[18];
    nea_mac_format(s->mac, mac);
    progress(e, s->tenant, "wait-ready", 99);
    /* while no source has answered at all, wait this long before settling
     * for "running" (an image without a guest agent on a bridge where the
     * host learns no ARP entry) */
    unsigned grace = e->opts.ready_timeout_s < 180 ? e->opts.ready_timeout_s : 180;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        time_t elapsed = now.tv_sec - t0.tv_sec;
        if (!ip) {
            NEA_AUTOFREE char *addrs = NULL;
            struct nea_err scratch = {0};
            int arc = nea_host_dom_addresses(c->host, s->name, mac, &addrs, &scratch);
            if (arc == NEA_ERR_UNSUPPORTED ||
                (arc == NEA_ERR_BUSY && !learned_any && elapsed >= (time_t)grace)) {
                /* nothing can tell the address: running is all we know */
                nea_state_event(e->state, s->tenant, "readiness", scratch.msg, NULL);
                return NEA_OK;
            }
            if (arc < 0 && arc != NEA_ERR_BUSY) /* the domain is gone, the host lost */
                return nea_err_set(err, arc, "%s", scratch.msg);
            for (char *save = NULL, *a = addrs ? strtok_r(addrs, " ", &save) : NULL; a;
                 a = strtok_r(NULL, " ", &save)) {
                struct nea_ip cand;
                if (nea_ip_parse(a, &cand) <= 0)
                    continue;
                learned_any = true;
                if (tcp_probe(&cand, 22, 1000))
                    return NEA_OK;
            }
        } else if (tcp_probe(ip, 22, 1000)) {
            return NEA_OK;
        }
        if (elapsed >= (time_t)e->opts.ready_timeout_s)
            break;
        sleep(1);
    }
    if (!ip && !learned_any)
        return nea_err_set(err, NEA_ERR_TIMEOUT, "appliance %s is running but no address "
                           "of it (MAC %s) became known within %u s (no guest agent "
                           "answer and no ARP entry on the host); check DHCP on the "
                           "external network", s->name, mac, e->opts.ready_timeout_s);
    if (!ip)
        return nea_err_set(err, NEA_ERR_TIMEOUT, "appliance %s is running but did not "
                           "answer on port 22 of any address reported for MAC %s within "
                           "%u s; check the bridge, the addresses and the console log",
                           s->name, mac, e->opts.ready_timeout_s);
    char a[NEA_IP_STRLEN];
    nea_ip_format(ip, a);
    return nea_err_set(err, NEA_ERR_TIMEOUT, "appliance %s is running but did not "
                       "answer on %s port 22 within %u s; check the bridge, the "
                       "addresses and the console log", s->name, a,
                       e->opts.ready_timeout_s);
}

int nea_engine_apply(struct nea_engine *e, struct nea_spec *spec,
                     struct nea_changeset *ret, struct nea_err *err)
{
    int lock = -1;
    int rc = nea_state_lock(e->state, NEA_LOCK_TENANT, spec->tenant, 0, &lock, err);
    if (rc < 0)
        return rc;
    struct ctx c;
    struct nea_changeset cs = {0};
    /* the allocation is committed before any host change: not enough free
     * addresses refuses the whole apply with nothing changed */
    rc = load_ctx(e, spec, &c, true, err);
    if (rc == NEA_OK)
        rc = plan_ctx(&c, &cs, err);
    /* the plan being carried out, as computed under the lock */
    if (rc == NEA_OK && e->opts.planned)
        e->opts.planned(e->opts.planned_data, &cs);
    if (rc == NEA_OK && cs.todo) {
        rc = apply_ctx(e, &c, &cs, err);
        if (rc < 0) {
            /* record the failure; the step stays, for the next run and status */
            struct nea_deployment *cur = NULL;
            if (nea_state_get(e->state, spec->tenant, &cur, NULL) == NEA_OK && cur) {
                cur->state = NEA_DEP_FAILED;
                free(cur->last_error);
                cur->last_error = nea_xstrdup(err->msg);
                nea_state_put(e->state, cur, NULL);
                nea_state_event(e->state, spec->tenant, "failed", err->msg, NULL);
                nea_deployment_free(cur);
            }
        }
    }
    /* a no-op apply does not probe: it changed nothing to wait for */
    if (rc == NEA_OK && e->opts.wait &&
        (cs.todo & (NEA_DO_CREATE | NEA_DO_START | NEA_DO_RESTART | NEA_DO_SEED |
                    NEA_DO_DISK | NEA_DO_REDEFINE | NEA_DO_RENAME | NEA_DO_MOVE)))
        rc = wait_ready(e, &c, err);
    ctx_clear(&c);
    nea_state_unlock(lock);
    if (ret)
        *ret = cs;
    else
        nea_changeset_clear(&cs);
    return rc;
}

/* ---- destroy ------------------------------------------------------------ */

int nea_engine_destroy(struct nea_engine *e, const char *tenant_or_name,
                       const char *uri, struct nea_err *err)
{
    NEA_AUTO(nea_deployment_freep) struct nea_deployment *rec = NULL;
    int rc = nea_state_find(e->state, tenant_or_name, &rec, err);
    if (rc < 0)
        return rc;
    if (!rec)
        return nea_err_set(err, NEA_ERR_INVALID, "no appliance of tenant or name %s is "
                           "recorded in %s", tenant_or_name,
                           e->opts.state_path);
    if (rec->state == NEA_DEP_GONE)
        return NEA_OK; /* destroyed already: repeating it is harmless */
    int lock = -1;
    rc = nea_state_lock(e->state, NEA_LOCK_TENANT, rec->tenant, 0, &lock, err);
    if (rc < 0)
        return rc;
    /* re-read under the lock: another run may have changed it meanwhile */
    NEA_AUTOFREE char *tenant = nea_xstrdup(rec->tenant);
    nea_deployment_free(rec);
    rec = NULL;
    rc = nea_state_get(e->state, tenant, &rec, err);
    if (rc == NEA_OK && rec && rec->state != NEA_DEP_GONE)
        rc = destroy_locked(e, rec, uri, true, err);
    nea_state_unlock(lock);
    return rc;
}

static int destroy_locked(struct nea_engine *e, struct nea_deployment *rec,
                          const char *uri, bool release, struct nea_err *err)
{
    int rc;
    const char *host_uri = uri ? uri : rec->host;
    struct nea_host *h = NULL;
    rc = get_host(e, host_uri, &h, err);
    if (rc < 0)
        return rc;
    struct nea_dom_info info;
    rc = nea_host_dom_info(h, rec->name, &info, err);
    if (rc < 0)
        return rc;
    if (uri && strcmp(uri, rec->host) && info.state == NEA_DOM_MISSING) {
        nea_dom_info_clear(&info);
        return nea_err_set(err, NEA_ERR_INVALID, "appliance %s is recorded on %s and is "
                           "not on %s; nothing changed", rec->name, rec->host, uri);
    }
    if (info.state != NEA_DOM_MISSING &&
        (!info.owned || !info.tenant || strcmp(info.tenant, rec->tenant))) {
        nea_dom_info_clear(&info);
        return nea_err_set(err, NEA_ERR_CONFLICT, "%s: domain %s is not managed by "
                           "neaprov for tenant %s; not touching it", host_uri, rec->name,
                           rec->tenant);
    }
    /* Which disks are provably the appliance's, decided while its domain
     * (the proof for a record from before the namespaces) still exists:
     * the recorded one, and one of the tenant's namespace that a cut run
     * created before it could record it. */
    NEA_AUTOFREE char *own = disk_volume_name(rec->tenant);
    const char *disks[2] = {rec->disk_volume, NULL};
    if (!rec->disk_volume || strcmp(rec->disk_volume, own))
        disks[1] = own;
    struct disk_check dc[2] = {{0}};
    for (size_t k = 0; rc == NEA_OK && k < 2; k++)
        if (disks[k])
            rc = disk_ownership(e, h, rec->pool, rec->tenant, rec, disks[k],
                                info.state != NEA_DOM_MISSING ? info.xml : NULL, &dc[k],
                                err);
    if (rc < 0) {
        nea_dom_info_clear(&info);
        disk_check_clear(&dc[0]);
        disk_check_clear(&dc[1]);
        return rc;
    }
    rec->state = NEA_DEP_DESTROYING;
    free(rec->step);
    rec->step = nea_xstrdup("stop");
    rc = nea_state_put(e->state, rec, err);
    bool forced = false;
    if (rc == NEA_OK && info.state != NEA_DOM_MISSING) {
        progress(e, rec->tenant, "stop", 20);
        rc = nea_host_dom_stop(h, rec->name, e->opts.stop_timeout_s, &forced, err);
        if (rc == NEA_OK) {
            free(rec->step);
            rec->step = nea_xstrdup("undefine");
            rc = nea_state_put(e->state, rec, err);
        }
        if (rc == NEA_OK) {
            progress(e, rec->tenant, "undefine", 50);
            rc = nea_host_dom_undefine(h, rec->name, err);
        }
    }
    nea_dom_info_clear(&info);
    if (rc == NEA_OK) {
        free(rec->step);
        rec->step = nea_xstrdup("delete-volumes");
        rc = nea_state_put(e->state, rec, err);
    }
    if (rc == NEA_OK)
        progress(e, rec->tenant, "delete-volumes", 80);
    for (size_t k = 0; rc == NEA_OK && k < 2; k++) {
        if (dc[k].owned) {
            rc = nea_host_vol_delete(h, rec->pool, disks[k], err);
        } else if (dc[k].exists && disks[k] == rec->disk_volume) {
            NEA_AUTOFREE char *why = nea_xasprintf("volume %s in pool %s is not provably "
                                                   "this appliance's disk: left alone",
                                                   disks[k], rec->pool);
            nea_state_event(e->state, rec->tenant, "kept-volume", why, NULL);
        }
    }
    disk_check_clear(&dc[0]);
    disk_check_clear(&dc[1]);
    if (rc == NEA_OK)
        rc = delete_seeds(h, rec->pool, rec->tenant, NULL, rec->seed_volume, rec->name, err);
    if (rc < 0) {
        rec->state = NEA_DEP_FAILED;
        free(rec->last_error);
        rec->last_error = nea_xstrdup(err->msg);
        nea_state_put(e->state, rec, NULL);
        nea_state_event(e->state, rec->tenant, "destroy-failed", err->msg, NULL);
        return rc;
    }
    if (release) {
        rc = nea_pool_release(e->state, rec->tenant, err);
        if (rc < 0)
            return rc;
    }
    rec->state = NEA_DEP_GONE;
    free(rec->step);
    rec->step = NULL;
    free(rec->spec_hash);
    rec->spec_hash = NULL;
    rc = nea_state_put(e->state, rec, err);
    if (rc == NEA_OK)
        nea_state_event(e->state, rec->tenant, "destroyed",
                        forced ? "forced power-off after the shutdown timeout"
                               : "graceful shutdown", NULL);
    progress(e, rec->tenant, "done", 100);
    return rc;
}

/* ---- status ------------------------------------------------------------- */

int nea_engine_status(struct nea_engine *e, const char *filter,
                      struct nea_app_status **ret, size_t *n, struct nea_err *err)
{
    struct nea_deployment **deps = NULL;
    size_t nd = 0;
    int rc = nea_state_list(e->state, &deps, &nd, err);
    if (rc < 0)
        return rc;
    struct nea_app_status *v = nea_xcalloc(nd ? nd : 1, sizeof(*v));
    size_t len = 0;
    for (size_t i = 0; i < nd; i++) {
        struct nea_deployment *d = deps[i];
        if (filter && strcmp(filter, d->tenant) && strcmp(filter, d->name)) {
            nea_deployment_free(d);
            continue;
        }
        struct nea_app_status *st = &v[len++];
        st->dep = d;
        if (d->state == NEA_DEP_GONE) {
            st->live = "-";
            continue;
        }
        struct nea_host *h = NULL;
        struct nea_err herr = {0};
        if (get_host(e, d->host, &h, &herr) < 0) {
            st->live = "unreachable";
            st->drift = nea_xstrdup(herr.msg);
            continue;
        }
        struct nea_dom_info info;
        if (nea_host_dom_info(h, d->name, &info, &herr) < 0) {
            st->live = "unknown";
            st->drift = nea_xstrdup(herr.msg);
            continue;
        }
        /* the test driver makes addresses up: show none there */
        if (info.state == NEA_DOM_RUNNING && d->mac && !nea_host_is_test(h)) {
            struct nea_err aerr = {0}; /* none known is not a failure of status */
            nea_host_dom_addresses(h, d->name, d->mac, &st->addresses, &aerr);
        }
        switch (info.state) {
        case NEA_DOM_MISSING: st->live = "missing"; break;
        case NEA_DOM_RUNNING: st->live = "running"; break;
        case NEA_DOM_SHUTOFF: st->live = "shut off"; break;
        default: st->live = "paused or crashed"; break;
        }
        if (info.state == NEA_DOM_MISSING)
            st->drift = nea_xstrdup("the domain is missing on the host");
        else if (!info.owned)
            st->drift = nea_xstrdup("the domain has lost neaprov's metadata");
        else if (d->spec_hash && (!info.spec_hash || strcmp(info.spec_hash, d->spec_hash)))
            st->drift = nea_xstrdup("the domain differs from the applied spec (changed "
                                    "outside neaprov or an apply was interrupted)");
        else if (d->state == NEA_DEP_RUNNING && info.state != NEA_DOM_RUNNING)
            st->drift = nea_xstrdup("the appliance is not running");
        const char *xmls[] = {info.xml, info.xml_inactive};
        for (size_t k = 0; k < 2 && !st->drift && d->seed_volume; k++)
            if (xmls[k] && !strstr(xmls[k], d->seed_volume))
                st->drift = nea_xstrdup("the seed cdrom is not attached");
        const char *vols[] = {d->disk_volume, d->seed_volume};
        for (size_t k = 0; k < 2 && !st->drift && info.state != NEA_DOM_MISSING; k++) {
            NEA_AUTOFREE char *path = NULL;
            struct nea_err verr = {0};
            if (vols[k] && d->pool &&
                nea_host_vol_path(h, d->pool, vols[k], &path, &verr) == NEA_OK && !path)
                st->drift = nea_xasprintf("volume %s is missing from pool %s", vols[k],
                                          d->pool);
        }
        /* the vNIC changed by hand: its MAC against the record, then its
         * bridge against the recorded spec; running and persistent config */
        struct nea_dom_facets f[2] = {0};
        for (size_t k = 0; k < 2; k++)
            if (xmls[k])
                nea_dom_facets_parse(xmls[k], &f[k]);
        for (size_t k = 0; k < 2 && !st->drift && d->mac; k++)
            if (f[k].nic_mac && strcasecmp(f[k].nic_mac, d->mac))
                st->drift = nea_xasprintf("the vNIC's MAC is %s, the record says %s",
                                          f[k].nic_mac, d->mac);
        struct kv *kv = NULL;
        size_t nkv = 0;
        kv_parse(d->spec, &kv, &nkv);
        const char *ref = kv_get(kv, nkv, "network");
        const char *want = ref && strchr(ref, ':') ? strchr(ref, ':') + 1 : ref;
        for (size_t k = 0; k < 2 && !st->drift && ref; k++)
            if (f[k].nic_source && strcmp(want, f[k].nic_source))
                st->drift = nea_xasprintf("the vNIC is on %s, the spec says %s",
                                          f[k].nic_source, ref);
        kv_free(kv, nkv);
        nea_dom_facets_clear(&f[0]);
        nea_dom_facets_clear(&f[1]);
        nea_dom_info_clear(&info);
    }
    free(deps);
    *ret = v;
    *n = len;
    return NEA_OK;
}

void nea_statuses_free(struct nea_app_status *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        nea_deployment_free(v[i].dep);
        free(v[i].drift);
        free(v[i].addresses);
    }
    free(v);
}

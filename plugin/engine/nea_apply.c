/*
 * nea_apply.c: carrying a plan out.
 *
 * The steps run in a fixed order, each idempotent, each preceded by writing
 * the step into the record.  A run that fails or is killed at any step
 * leaves a record (state failed/provisioning, the step) and host objects
 * with deterministic names, from which the next apply computes a new plan
 * and converges.
 *
 * Decides nothing that the plan did not say.
 */
#include "nea_engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nea_fetch.h"
#include "nea_pool.h"
#include "nea_tnet_state.h"
#include "nea_util.h"

static int step(struct nea_run *r, const char *name, struct nea_err *err)
{
    free(r->rec->step);
    r->rec->step = nea_xstrdup(name);
    r->rec->state = NEA_DEP_PROVISIONING;
    int rc = nea_state_put(r->e->state, r->rec, err);
    if (rc < 0)
        return rc;
    r->done++;
    int pct = r->done * 100 / (r->steps > r->done ? r->steps : r->done + 1);
    nea_engine_progress(r->e, r->rec->tenant, name, pct > 99 ? 99 : pct);
    return NEA_OK;
}
/* The base image volume: whether it is in the pool, and this state
 * database's word on it ("uploading", "done", NULL: none). */
static int base_image_state(struct nea_run *r, bool *ret_exists, char **ret_recorded,
                            struct nea_err *err)
{
    struct nea_ctx *c = r->c;
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
static int image_at_hand(struct nea_run *r, struct nea_err *err)
{
    struct nea_ctx *c = r->c;
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
                                    .progress = r->e->opts.fetch_progress,
                                    .progress_data = r->e->opts.fetch_progress_data,
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
    const char *why = NULL;
    const char *fmt = nea_image_file_format(c->image_file, 0, &why);
    if (!fmt) {
        NEA_AUTOFREE char *shown = plan->image_path ? NULL : nea_url_redact(plan->image);
        return nea_err_set(err, NEA_ERR_INVALID, "%s: image %s cannot be the appliance "
                           "image: %s; nothing was uploaded", plan->path,
                           shown ? shown : plan->image_path, why);
    }
    c->base_format = fmt;
    free(c->base_volume);
    c->base_volume = nea_content_volume_name(c->image_sha, fmt);
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
static int ensure_base_image(struct nea_run *r, struct nea_err *err)
{
    struct nea_ctx *c = r->c;
    bool exists;
    NEA_AUTOFREE char *recorded = NULL;
    int rc = base_image_state(r, &exists, &recorded, err);
    if (rc < 0)
        return rc;
    /* uploaded by this database: what observe read of it (or the content's
     * format, when the upload came after) stands */
    if (exists && recorded && !strcmp(recorded, "done"))
        return NEA_OK;
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
        rc = nea_base_format_of_volume(r->e, c, err);
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
static int record_disk(struct nea_run *r, const char *backing, struct nea_err *err)
{
    free(r->rec->disk_volume);
    r->rec->disk_volume = nea_xstrdup(r->c->disk_volume);
    free(r->rec->disk_backing);
    r->rec->disk_backing = nea_xstrdup(backing);
    return nea_state_put(r->e->state, r->rec, err);
}

static int ensure_disk(struct nea_run *r, bool replace, struct nea_err *err)
{
    struct nea_ctx *c = r->c;
    struct nea_disk_check d;
    int rc = nea_disk_ownership(r->e, c->host, c->uri, c->pool, c->spec->tenant, r->rec,
                                c->disk_volume,
                            c->live.state != NEA_DOM_MISSING ? c->live.xml : NULL, &d, err);
    if (rc == NEA_OK && d.exists && !d.owned)
        rc = nea_disk_not_ours(c, err);
    if (rc == NEA_OK && d.exists && !replace)
        rc = record_disk(r, d.backing, err);
    bool exists = d.exists;
    nea_disk_check_clear(&d);
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
    /* the old disk's proof goes with it: a run cut after the new overlay
     * exists but before it is recorded finds it by the namespace's rule */
    free(r->rec->disk_backing);
    r->rec->disk_backing = NULL;
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

static int ensure_seed(struct nea_run *r, struct nea_err *err)
{
    struct nea_ctx *c = r->c;
    NEA_AUTOFREE char *path = NULL;
    int rc = nea_host_vol_path(c->host, c->pool, c->seed_volume, &path, err);
    if (rc < 0)
        return rc;
    /* The name carries the instance-id, so an existing volume of this name
     * holds this seed -- unless an upload was cut, which upload() guards
     * against by replacing, and the record's step tells us. */
    bool cut = c->rec && c->rec->step && !strcmp(c->rec->step, "upload-seed");
    bool trusted = !cut && ((c->rec && c->rec->seed_volume &&
                             !strcmp(c->rec->seed_volume, c->seed_volume)) ||
                            (c->live.xml && strstr(c->live.xml, c->seed_volume)));
    if (path && trusted)
        return NEA_OK;
    rc = step(r, "upload-seed", err);
    if (rc < 0)
        return rc;
    return nea_host_vol_upload(c->host, c->pool, c->seed_volume, "raw", c->art.iso,
                               c->art.iso_len, err);
}
/* Seeds of this appliance other than the current one. */
static int remove_old_seeds(struct nea_run *r, struct nea_err *err)
{
    const struct nea_deployment *old = r->c->rec;
    if (old && (strcmp(old->host, r->c->uri) || strcmp(old->pool, r->c->pool)))
        old = NULL; /* moved: its seeds were on the old host */
    return nea_delete_seeds(r->c->host, r->c->pool, r->c->spec->tenant, r->c->seed_volume,
                        old ? old->seed_volume : NULL, old ? old->name : NULL, err);
}

static int restart(struct nea_run *r, const char *name, struct nea_err *err)
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

/* Moves the vNIC live; falls back to stop + start when the host cannot. */
static int nic_live_or_restart(struct nea_run *r, const char *name, bool *ret_restarted,
                               struct nea_err *err)
{
    const char *dev = r->c->art.interface_xml;
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
static int stop_if_running(struct nea_run *r, const char *name, bool *running,
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

/* ---- the steps of an apply, in their order ------------------------------ */

/* Intent first: the record names the host, pool and name about to be
 * used; a move tears the appliance down on the old host first. */
static int do_begin(struct nea_run *r, struct nea_err *err)
{
    struct nea_ctx *c = r->c;
    const struct nea_spec *s = c->spec;
    bool move = r->cs->todo & NEA_DO_MOVE;
    if (!c->rec || move) {
        if (move && c->rec) {
            int rc = step(r, "remove-from-old-host", err);
            if (rc < 0)
                return rc;
            NEA_AUTO(nea_deployment_freep) struct nea_deployment *old =
                nea_deployment_dup(c->rec);
            /* moving keeps the tenant's public addresses */
            rc = nea_destroy_locked(r->e, old, c->rec->host, false, err);
            /* its VLAN tags on the old host: free now that no vNIC is there
             * (on the same host, the tags committed for this apply stay) */
            if (rc == NEA_OK && strcmp(c->rec->host, c->uri))
                rc = nea_tnet_release_host(r->e->state, c->rec->tenant, c->rec->host, err);
            if (rc < 0)
                return rc;
            nea_deployment_free(r->rec);
            r->rec = nea_xcalloc(1, sizeof(*r->rec));
            nea_dom_info_clear(&c->live); /* the old domain is gone */
            r->running = false;
        }
        r->rec->tenant = nea_xstrdup(s->tenant);
        r->rec->mac = nea_xstrdup(r->mac);
        r->rec->uuid = nea_xstrdup(r->uuid);
    }
    struct nea_deployment *rec = r->rec;
    free(rec->name);
    rec->name = nea_xstrdup(r->name);
    free(rec->plan);
    rec->plan = nea_xstrdup(s->plan->name);
    free(rec->host);
    rec->host = nea_xstrdup(c->uri);
    free(rec->pool);
    rec->pool = nea_xstrdup(c->pool);
    free(rec->last_error);
    rec->last_error = NULL;
    /* the MAC the domain will have is recorded before any host change: the
     * state refuses it here if another appliance on the host has it */
    free(rec->mac);
    rec->mac = nea_xstrdup(r->mac);
    /* a disk of a record from before the namespaces, proven now while its
     * domain boots from it: the proof is kept before any step removes it */
    if (c->disk.owned && !rec->disk_backing && rec->disk_volume &&
        !strcmp(rec->disk_volume, c->disk_volume))
        rec->disk_backing = nea_xstrdup(c->disk.backing);
    int rc = step(r, "begin", err);
    if (rc == NEA_OK)
        nea_state_event(r->e->state, s->tenant, "apply-begin", s->hash, NULL);
    return rc;
}

/* The disk: created when missing, replaced (the domain stopped) on an
 * image change. */
static int do_disk(struct nea_run *r, struct nea_err *err)
{
    unsigned todo = r->cs->todo;
    if (!(todo & (NEA_DO_CREATE | NEA_DO_DISK)))
        return NEA_OK;
    int rc = todo & NEA_DO_DISK ? stop_if_running(r, r->name, &r->running, err) : NEA_OK;
    return rc < 0 ? rc : ensure_disk(r, todo & NEA_DO_DISK, err);
}

static int do_seed(struct nea_run *r, struct nea_err *err)
{
    return r->cs->todo & (NEA_DO_SEED | NEA_DO_PLUG | NEA_DO_CREATE) ? ensure_seed(r, err)
                                                                    : NEA_OK;
}

/* The host's side of the tenant networks, before a definition names them. */
static int do_tnets(struct nea_run *r, struct nea_err *err)
{
    const struct nea_spec *s = r->c->spec;
    if (!(r->cs->todo & (NEA_DO_TNETS | NEA_DO_CREATE | NEA_DO_MOVE)) || !s->n_tnets ||
        s->plan->tnet.mode != NEA_TNET_ISOLATED)
        return NEA_OK;
    int rc = step(r, "tenant-networks", err);
    return rc < 0 ? rc : nea_tnets_ensure(r->c, err);
}

/* A network added or removed, the domain running: the new seed goes into
 * the cdrom, then vNICs are unplugged and plugged; the appliance reads the
 * seed again when a vNIC comes or goes (neaprov-sync, docs/networks.md).
 * NEA_ERR_UNSUPPORTED when the host cannot do one of them live. */
static int plug_live(struct nea_run *r, struct nea_err *err)
{
    struct nea_ctx *c = r->c;
    const struct nea_spec *s = c->spec;
    int rc = step(r, "plug-networks", err);
    if (rc == NEA_OK && c->art.cdrom_xml)
        rc = nea_host_dom_change_media_live(c->host, r->name, c->art.cdrom_xml, err);
    if (rc < 0)
        return rc;
    char **have = NULL;
    size_t n_have = 0;
    if (c->live.xml)
        nea_dom_xml_macs(c->live.xml, &have, &n_have);
    /* unplug first: a slot may pass from a removed network to an added one */
    for (size_t i = 0; i < n_have && rc == NEA_OK; i++) {
        if (!strcmp(have[i], r->mac))
            continue;
        bool wanted = false;
        for (size_t j = 0; j < s->n_tnets && !wanted; j++) {
            char m[18];
            nea_mac_format(s->tnets[j].mac, m);
            wanted = !strcmp(m, have[i]);
        }
        if (!wanted)
            rc = nea_host_dom_detach_iface_live(c->host, r->name, have[i], err);
    }
    for (size_t j = 0; j < s->n_tnets && rc == NEA_OK; j++) {
        char m[18];
        nea_mac_format(s->tnets[j].mac, m);
        bool present = false;
        for (size_t i = 0; i < n_have && !present; i++)
            present = !strcmp(have[i], m);
        if (!present && c->art.tnet_iface_xml && c->art.tnet_iface_xml[j])
            rc = nea_host_dom_attach_live(c->host, r->name, c->art.tnet_iface_xml[j], err);
    }
    nea_strv_free(have, n_have);
    return rc;
}

/* Shut down, rename, and from here on the domain has the spec's name. */
static int do_rename(struct nea_run *r, struct nea_err *err)
{
    struct nea_ctx *c = r->c;
    const char *want = c->spec->name;
    int rc = NEA_OK;
    if ((r->cs->todo & NEA_DO_RENAME) && c->live.state != NEA_DOM_MISSING &&
        strcmp(r->name, want)) {
        rc = stop_if_running(r, r->name, &r->running, err);
        if (rc == NEA_OK)
            rc = step(r, "rename", err);
        if (rc == NEA_OK)
            rc = nea_host_dom_rename(c->host, r->name, want, err);
        if (rc < 0)
            return rc;
    }
    r->name = want;
    free(r->rec->name);
    r->rec->name = nea_xstrdup(want);
    return NEA_OK;
}

/* A new UUID: the old definition goes first. */
static int do_undefine(struct nea_run *r, struct nea_err *err)
{
    if (!(r->cs->todo & NEA_DO_REDEFINE) || r->c->live.state == NEA_DOM_MISSING)
        return NEA_OK;
    int rc = stop_if_running(r, r->name, &r->running, err);
    if (rc == NEA_OK)
        rc = step(r, "undefine", err);
    return rc < 0 ? rc : nea_host_dom_undefine(r->c->host, r->name, err);
}

static int do_define(struct nea_run *r, struct nea_err *err)
{
    if (!(r->cs->todo & (NEA_DO_DEFINE | NEA_DO_CREATE)))
        return NEA_OK;
    int rc = step(r, "define", err);
    return rc < 0 ? rc : nea_host_dom_define(r->c->host, r->c->art.domain_xml, err);
}

/* Brings the appliance onto the new definition with the least disruption
 * the change allows.  The vNIC moves live (no reboot).  A new seed needs
 * the guest to boot again; a graceful shutdown and a start (rather than a
 * guest reboot after a live media swap) make "ready" unambiguous: the old
 * instance is gone before the new one is probed. */
static int do_bring_up(struct nea_run *r, struct nea_err *err)
{
    unsigned todo = r->cs->todo;
    if (!r->running) {
        int rc = step(r, "start", err);
        return rc < 0 ? rc : nea_host_dom_start(r->c->host, r->name, err);
    }
    if (todo & (NEA_DO_RESTART | NEA_DO_REDEFINE))
        return restart(r, r->name, err);
    bool restarted = false;
    int rc = NEA_OK;
    if (todo & NEA_DO_NIC)
        rc = nic_live_or_restart(r, r->name, &restarted, err);
    if (rc == NEA_OK && (todo & NEA_DO_PLUG) && !restarted && !(todo & NEA_DO_SEED)) {
        struct nea_err scratch = {0};
        rc = plug_live(r, &scratch);
        if (rc == NEA_ERR_UNSUPPORTED) {
            nea_state_event(r->e->state, r->rec->tenant, "fallback",
                            "vNIC hot-plug not supported by the host: reboot", NULL);
            restarted = true;
            rc = restart(r, r->name, err);
        } else if (rc < 0) {
            rc = nea_err_set(err, scratch.code, "%s", scratch.msg);
        }
    }
    /* with another change that needs a boot anyway, the plug is that boot */
    if (rc == NEA_OK && (todo & NEA_DO_PLUG) && (todo & NEA_DO_SEED) && !restarted) {
        restarted = true;
        rc = restart(r, r->name, err);
    }
    if (rc == NEA_OK && (todo & NEA_DO_SEED) && !restarted)
        rc = restart(r, r->name, err);
    return rc;
}

/* A running domain that was not restarted still carries the old metadata
 * in its live definition: bring it along. */
static int do_live_metadata(struct nea_run *r, struct nea_err *err)
{
    if (!r->running || (r->cs->todo & (NEA_DO_RESTART | NEA_DO_REDEFINE)))
        return NEA_OK;
    const char *meta = r->c->art.metadata_xml;
    struct nea_err scratch = {0};
    if (meta && nea_host_dom_set_live_metadata(r->c->host, r->name, meta, &scratch) < 0 &&
        (scratch.code != NEA_ERR_HOST || !nea_host_is_test(r->c->host)))
        return nea_err_set(err, scratch.code, "%s", scratch.msg);
    return NEA_OK;
}

/* Done: record what is now deployed, then drop superseded seeds. */
static int do_record(struct nea_run *r, struct nea_err *err)
{
    struct nea_ctx *c = r->c;
    const struct nea_spec *s = c->spec;
    struct nea_deployment *rec = r->rec;
    free(rec->spec);
    rec->spec = nea_xstrdup(c->canonical);
    free(rec->spec_hash);
    rec->spec_hash = nea_xstrdup(s->hash);
    free(rec->instance_id);
    rec->instance_id = nea_xstrdup(c->art.seed.instance_id);
    free(rec->seed_volume);
    rec->seed_volume = nea_xstrdup(c->seed_volume);
    free(rec->mac);
    rec->mac = nea_xstrdup(r->mac);
    free(rec->uuid);
    rec->uuid = nea_xstrdup(r->uuid);
    /* The spec is recorded with this step: the public addresses in its seed
     * must still be the tenant's then, checked in the same transaction (a
     * `pool remove --force` may have run meanwhile). */
    free(rec->step);
    rec->step = nea_xstrdup("cleanup");
    rec->state = NEA_DEP_PROVISIONING;
    int rc = nea_pool_put_deployment(r->e->state, rec, s->public_addrs, s->n_public_addrs,
                                     err);
    if (rc == NEA_OK) {
        r->done++;
        nea_engine_progress(r->e, s->tenant, "cleanup", 99);
        rc = remove_old_seeds(r, err);
    }
    if (rc == NEA_OK && r->legacy_disk)
        rc = nea_host_vol_delete(c->host, c->pool, r->legacy_disk, err);
    /* no vNIC is on a network the spec dropped any more: its libvirt
     * network, slot and VLAN go */
    if (rc == NEA_OK && (r->cs->todo & (NEA_DO_TNETS | NEA_DO_CREATE | NEA_DO_MOVE)))
        rc = nea_tnets_cleanup(r->e, c, err);
    if (rc < 0)
        return rc;
    free(rec->step);
    rec->step = NULL;
    rec->state = NEA_DEP_RUNNING;
    rc = nea_state_put(r->e->state, rec, err);
    if (rc == NEA_OK)
        nea_state_event(r->e->state, s->tenant, "applied", s->hash, NULL);
    nea_engine_progress(r->e, s->tenant, "done", 100);
    return rc;
}

static int apply_ctx(struct nea_engine *e, struct nea_ctx *c, struct nea_changeset *cs,
                     struct nea_err *err)
{
    static int (*const steps[])(struct nea_run *, struct nea_err *) = {
        do_begin, do_disk, do_seed, do_tnets, do_rename, do_undefine, do_define, do_bring_up,
        do_live_metadata, do_record,
    };
    struct nea_run r = {
        .e = e,
        .c = c,
        .cs = cs,
        .rec = c->rec ? nea_deployment_dup(c->rec) : nea_xcalloc(1, sizeof(*r.rec)),
        .name = c->live_name,
        /* paused or crashed-but-active domains are active too: they must be
         * stopped before a rename or a disk change, and brought back after */
        .running = c->live.state == NEA_DOM_RUNNING || c->live.state == NEA_DOM_OTHER,
        /* a rough count of the steps ahead, for progress percentages */
        .steps = 3,
    };
    for (unsigned t = cs->todo; t; t &= t - 1)
        r.steps += 2;
    nea_mac_format(c->spec->mac, r.mac);
    nea_uuid_format(c->spec->uuid, r.uuid);
    int rc = NEA_OK;
    /* A new disk is never made under the name of an old record (appliance
     * names chose those): it is the tenant's, and the old one goes once the
     * appliance runs on the new one. */
    NEA_AUTOFREE char *own = nea_disk_volume_name(c->spec->tenant);
    if ((cs->todo & NEA_DO_DISK) && strcmp(c->disk_volume, own)) {
        if (c->disk.owned)
            r.legacy_disk = TAKE_PTR(c->disk_volume);
        free(c->disk_volume);
        c->disk_volume = TAKE_PTR(own);
        nea_disk_check_clear(&c->disk);
        rc = nea_render_ctx(e, c, err);
    }
    for (size_t i = 0; i < NEA_ARRAY_SIZE(steps) && rc == NEA_OK; i++)
        rc = steps[i](&r, err);
    nea_deployment_free(r.rec);
    free(r.legacy_disk);
    return rc;
}

/* Commits the slots and VLANs plan saw: *ret_same says whether they are
 * where plan put them (another apply may have taken a tag meanwhile). */
static int commit_tnets(struct nea_engine *e, struct nea_ctx *c, bool *ret_same,
                        struct nea_err *err)
{
    return nea_tnets_place(e, c->spec, c->uri, false, ret_same, err);
}

/* Commits the public addresses plan saw (a dry run in observe): *ret_same
 * says whether the tenant now holds exactly those. */
static int commit_public(struct nea_engine *e, const struct nea_spec *spec, bool *ret_same,
                         struct nea_err *err)
{
    struct nea_ip *addrs = NULL;
    size_t n = 0;
    struct nea_err perr = {0};
    int rc = nea_pool_allocate(e->state, spec->tenant, spec->public_ipv4, spec->public_ipv6,
                               false, &addrs, &n, &perr);
    if (rc < 0)
        return nea_err_set(err, rc, "%s: public-ips: %s", spec->path, perr.msg);
    *ret_same = n == spec->n_public_addrs;
    for (size_t i = 0; i < n && *ret_same; i++)
        *ret_same = nea_ip_equal(&addrs[i], &spec->public_addrs[i]);
    free(addrs);
    return NEA_OK;
}

int nea_engine_apply(struct nea_engine *e, struct nea_spec *spec,
                     struct nea_changeset *ret, struct nea_err *err)
{
    int lock = -1;
    int rc = nea_state_lock(e->state, NEA_LOCK_TENANT, spec->tenant, 0, &lock, err);
    if (rc < 0)
        return rc;
    struct nea_ctx c;
    struct nea_changeset cs = {0};
    rc = nea_observe(e, spec, &c, err);
    if (rc == NEA_OK)
        rc = nea_plan_ctx(&c, &cs, err);
    /* The allocation is committed first, before any host change (not
     * enough free addresses refuses the whole apply with nothing changed).
     * Another tenant's apply may have taken what plan saw as free: then
     * observe and plan again, on what this tenant now holds. */
    bool same = true;
    if (rc == NEA_OK && cs.todo)
        rc = commit_public(e, spec, &same, err);
    bool same_tnets = true;
    if (rc == NEA_OK && cs.todo)
        rc = commit_tnets(e, &c, &same_tnets, err);
    same &= same_tnets;
    if (rc == NEA_OK && !same) {
        nea_ctx_clear(&c);
        nea_changeset_clear(&cs);
        rc = nea_observe(e, spec, &c, err);
        if (rc == NEA_OK)
            rc = nea_plan_ctx(&c, &cs, err);
    }
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
        rc = nea_wait_ready(e, &c, err);
    nea_ctx_clear(&c);
    nea_state_unlock(lock);
    if (ret)
        *ret = cs;
    else
        nea_changeset_clear(&cs);
    return rc;
}

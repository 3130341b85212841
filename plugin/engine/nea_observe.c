/*
 * nea_observe.c: everything plan and apply look at: the record, the host and its
 * network, the image and its base volume, the live domain, the disk, the
 * rendered artefacts.
 *
 * Changes nothing on the host.
 */
#include "nea_engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nea_pool.h"
#include "nea_util.h"

void nea_ctx_clear(struct nea_ctx *c)
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
    nea_disk_check_clear(&c->disk);
    free(c->disk_disowned);
    free(c->canonical);
    free(c->tnet_leftover);
    free(c->tnet_missing);
    free(c->tnet_stale_nics);
    memset(c, 0, sizeof(*c));
}
int nea_render_ctx(struct nea_engine *e, struct nea_ctx *c, struct nea_err *err)
{
    nea_artifacts_clear(&c->art);
    /* the seed first: its instance-id names the seed volume */
    struct nea_seed seed;
    int rc = nea_seed_build(c->spec, &seed, err);
    if (rc < 0)
        return rc;
    free(c->seed_volume);
    size_t il = strlen(seed.instance_id);
    NEA_AUTOFREE char *prefix = nea_seed_prefix(c->spec->tenant);
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

static int check_owner(struct nea_ctx *c, const char *name, const struct nea_dom_info *i,
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
static int check_network(struct nea_ctx *c, struct nea_err *err)
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
        bool is_net = v[i].kind == NEA_NET_LIBVIRT;
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
    else if (!found->active && found->kind == NEA_NET_LIBVIRT)
        rc = nea_err_set(err, NEA_ERR_INVALID, "%s: appliance.external-network %s is not "
                         "active on %s", c->spec->path, want->ref, c->uri);
    nea_host_nets_free(v, n);
    return rc;
}

/* The tenant's public addresses as they would be allocated (a dry run:
 * apply commits them) and its rules go into the model before anything is
 * rendered. */
static int load_public(struct nea_engine *e, struct nea_spec *spec, struct nea_err *err)
{
    struct nea_ip *addrs = NULL;
    size_t na = 0;
    struct nea_err perr = {0};
    int rc = nea_pool_allocate(e->state, spec->tenant, spec->public_ipv4,
                               spec->public_ipv6, true, &addrs, &na, &perr);
    if (rc < 0)
        return nea_err_set(err, rc, "%s: public-ips: %s", spec->path, perr.msg);
    struct nea_rule *rules = NULL;
    size_t nr = 0;
    rc = nea_rule_list(e->state, spec->tenant, &rules, NULL, &nr, err);
    if (rc == NEA_OK)
        nea_spec_set_public(spec, addrs, na, rules, nr);
    free(addrs);
    nea_rules_free(rules, NULL, nr);
    return rc;
}

/* Two appliances on one host never share a MAC: the network-config of both
 * would match either NIC.  A MAC the spec derived that another tenant
 * holds is derived again (with a counter) before anything uses it; one the
 * spec gives, or a recorded one, is refused naming the holder.  The state
 * enforces the same with a trigger, so a race cannot get through. */
static int check_mac(struct nea_engine *e, struct nea_ctx *c, bool moved, struct nea_err *err)
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

int nea_observe(struct nea_engine *e, struct nea_spec *spec, struct nea_ctx *c,
                struct nea_err *err)
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
    rc = load_public(e, spec, err);
    if (rc < 0)
        return rc;
    c->uri = e->opts.uri ? e->opts.uri : spec->plan->host;
    c->pool = spec->plan->storage_pool;
    /* where its networks would be (a dry run: apply commits them), and
     * every rule into one of them */
    rc = nea_tnets_place(e, spec, c->uri, true, NULL, err);
    if (rc == NEA_OK)
        rc = nea_tnets_check_rules(spec, err);
    if (rc < 0)
        return rc;
    bool moved = c->rec && (strcmp(c->rec->host, c->uri) || strcmp(c->rec->pool, c->pool));
    if (c->rec) {
        uint8_t mac[6], uuid[16];
        bool have_mac = c->rec->mac && nea_parse_mac(c->rec->mac, mac);
        bool have_uuid = c->rec->uuid && nea_parse_uuid(c->rec->uuid, uuid);
        nea_spec_pin(spec, have_mac ? mac : NULL, have_uuid ? uuid : NULL);
    }
    rc = nea_engine_host(e, c->uri, &c->host, err);
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
        rc = nea_local_image(e, plan, &c->base_format, sha, &image_errno, err);
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
            const char *why = NULL;
            const char *fmt = nea_image_file_format(cached, O_NOFOLLOW, &why);
            if (fmt) {
                c->base_format = fmt;
                c->image_file = TAKE_PTR(cached);
            }
        }
    }
    if (!c->base_format)
        c->base_format = nea_format_by_name(nea_base_name(plan->image));
    memcpy(c->image_sha, sha, sizeof(sha));
    c->base_volume = nea_content_volume_name(sha, c->base_format);
    /* a base image that is neither in the pool nor readable here is the
     * plan's problem: say so before anything is written or created */
    NEA_AUTOFREE char *base_path = NULL;
    rc = nea_host_vol_path(c->host, c->pool, c->base_volume, &base_path, err);
    if (rc < 0)
        return rc;
    if (!base_path && !c->image_file) {
        /* uploaded from elsewhere (or by an older neaprov) under the other
         * format's name */
        NEA_AUTOFREE char *other = nea_content_volume_name(
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
        rc = nea_base_format_of_volume(e, c, err);
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
    NEA_AUTOFREE char *own = nea_disk_volume_name(spec->tenant);
    const struct nea_deployment *drec = moved ? NULL : c->rec;
    const char *live_xml = c->live.state != NEA_DOM_MISSING ? c->live.xml : NULL;
    const char *want = drec && drec->disk_volume ? drec->disk_volume : own;
    rc = nea_disk_ownership(e, c->host, c->uri, c->pool, spec->tenant, drec, want, live_xml,
                            &c->disk,
                        err);
    /* a disk of an old record is used only while it is there and proven:
     * one that is missing is replaced under the tenant's own name, never
     * made again under an old (appliance-chosen) one */
    if (rc == NEA_OK && want != own && !(c->disk.exists && c->disk.owned)) {
        if (c->disk.exists)
            c->disk_disowned = nea_xstrdup(want);
        nea_disk_check_clear(&c->disk);
        want = own;
        rc = nea_disk_ownership(e, c->host, c->uri, c->pool, spec->tenant, drec, want, live_xml,
                            &c->disk, err);
    }
    if (rc < 0)
        return rc;
    c->disk_volume = nea_xstrdup(want);
    if (c->disk.exists && !c->disk.owned)
        return nea_disk_not_ours(c, err);
    rc = nea_render_ctx(e, c, err);
    if (rc == NEA_OK && !moved)
        rc = nea_tnets_observe(e, c, err);
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

/* An existing base volume's format is what the pool says it is, not what
 * its name or a file here suggest (another machine may have uploaded it). */
int nea_base_format_of_volume(struct nea_engine *e, struct nea_ctx *c, struct nea_err *err)
{
    NEA_AUTOFREE char *fmt = NULL;
    int rc = nea_base_volume_check(e, c->host, c->uri, c->pool, c->base_volume, &fmt, err);
    if (rc < 0)
        return rc;
    if (fmt && !strcmp(fmt, "qcow2"))
        c->base_format = "qcow2";
    else if (fmt && !strcmp(fmt, "raw"))
        c->base_format = "raw";
    return NEA_OK;
}

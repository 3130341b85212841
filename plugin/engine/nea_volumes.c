/*
 * nea_volumes.c: volume names, image files and disk ownership.
 *
 * Volume names: three namespaces that no appliance name and no tenant can
 * cross, whatever they are.
 *   base images  nea-base-<16 hex of the image's sha256>.qcow2 | .img
 *   disks        nea-disk.<tenant>.qcow2
 *   seeds        nea-seed.<tenant>.<16 hex of the instance-id>.iso
 * Tenants are [a-z0-9-] (no '.'), so each "nea-disk.<t>." and "nea-seed.<t>."
 * is one tenant's alone and neither starts like a base image; an appliance
 * name never appears in a volume name.  Records written before these names
 * may pin "<name>.qcow2" and "<name>-seed-<16 hex>.iso": such a disk is
 * used and deleted only on the proof in nea_disk_ownership().
 *
 * Creates nothing; deletes only seeds, in nea_delete_seeds().
 */
#include "nea_engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nea_util.h"

void nea_disk_check_clear(struct nea_disk_check *d)
{
    free(d->backing);
    memset(d, 0, sizeof(*d));
}
const char *nea_base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

#define BASE_PREFIX "nea-base-"

char *nea_disk_volume_name(const char *tenant)
{
    return nea_xasprintf("nea-disk.%s.qcow2", tenant);
}

char *nea_seed_prefix(const char *tenant)
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
    NEA_AUTOFREE char *prefix = nea_seed_prefix(tenant);
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
const char *nea_image_format(int fd, struct stat *ret_st, const char **ret_why)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        *ret_why = "it is not a regular file";
        return NULL;
    }
    if (ret_st)
        *ret_st = st;
    unsigned char m[4];
    if (pread(fd, m, sizeof(m), 0) == 4 && !memcmp(m, "QFI\xfb", 4))
        return "qcow2";
    if (st.st_size >= (off_t)1 << 20 && st.st_size % 512 == 0)
        return "raw";
    *ret_why = "it is neither a qcow2 image nor a raw disk image (a whole number of "
               "512-byte sectors, at least 1 MiB)";
    return NULL;
}

const char *nea_image_file_format(const char *path, int flags, const char **ret_why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags);
    if (fd < 0) {
        *ret_why = strerror(errno);
        return NULL;
    }
    const char *fmt = nea_image_format(fd, NULL, ret_why);
    close(fd);
    return fmt;
}

char *nea_content_volume_name(const char *sha256, const char *format)
{
    return nea_xasprintf(BASE_PREFIX "%.16s.%s", sha256,
                         !strcmp(format, "qcow2") ? "qcow2" : "img");
}

/* The format a URL image's name suggests, until the file is at hand. */
const char *nea_format_by_name(const char *name)
{
    size_t n = strcspn(name, "?#"); /* a URL's query is not its name */
    return n >= 6 && !strncmp(name + n - 6, ".qcow2", 6) ? "qcow2" : "raw";
}

/* A local image: checked to be a disk image and hashed (once per file
 * version and engine: plan and apply of many specs share one image). */
int nea_local_image(struct nea_engine *e, const struct nea_plan *plan,
                    const char **ret_format, char ret_sha[NEA_SHA256_HEX_LEN + 1],
                    int *ret_errno, struct nea_err *err)
{
    int fd = open(plan->image_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        *ret_errno = errno;
        return NEA_OK;
    }
    const char *why = NULL;
    struct stat st;
    const char *fmt = nea_image_format(fd, &st, &why);
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
    for (size_t i = 0; i < e->n_images; i++) {
        struct nea_image_memo *m = &e->images[i];
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
    struct nea_image_memo *m = &e->images[e->n_images++];
    *m = (struct nea_image_memo){.dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
                             .mtime = st.st_mtim};
    memcpy(m->sha256, ret_sha, sizeof(m->sha256));
    return NEA_OK;
}
/* Whether volume `name` in the pool exists and is this appliance's disk.
 * A disk in the tenant's namespace is its own when it is an overlay on a
 * base image (on the one recorded with it, where one is): only neaprov
 * makes volumes of that name, and only for this tenant.  A disk named by a
 * record from before the namespaces is its own only when everything says
 * so: the record names it, it is an overlay and no base image, no other
 * tenant's record names it, and the tenant's own domain (live_xml, NULL when
 * it has none) boots from it.  Anything else is never used nor deleted. */
int nea_disk_ownership(struct nea_engine *e, struct nea_host *h, const char *uri,
                       const char *pool,
                       const char *tenant, const struct nea_deployment *rec,
                       const char *name, const char *live_xml, struct nea_disk_check *ret,
                       struct nea_err *err)
{
    memset(ret, 0, sizeof(*ret));
    int rc = nea_host_vol_facts(h, pool, name, &ret->exists, NULL, &ret->backing, err);
    if (rc < 0 || !ret->exists || !ret->backing || is_base_volume(name))
        return rc;
    bool recorded = rec && rec->disk_volume && !strcmp(rec->disk_volume, name);
    NEA_AUTOFREE char *own = nea_disk_volume_name(tenant);
    if (!strcmp(name, own)) {
        ret->owned = is_base_volume(nea_base_name(ret->backing)) &&
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
    rc = nea_state_base_image(e->state, uri, pool, name, &uploaded, err);
    bool shared = false;
    if (rc == NEA_OK)
        rc = nea_state_disk_named(e->state, uri, pool, name, tenant, &shared, err);
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

/* Before the namespaces, disks were named after appliances, and an
 * appliance could be named nea-base-<hex>: such a disk must never pass for
 * the base image of that content. */
int nea_base_volume_check(struct nea_engine *e, struct nea_host *h, const char *uri,
                          const char *pool, const char *name, char **ret_format,
                          struct nea_err *err)
{
    bool exists = false;
    NEA_AUTOFREE char *backing = NULL, *format = NULL;
    int rc = nea_host_vol_facts(h, pool, name, &exists, &format, &backing, err);
    if (rc < 0 || !exists)
        return rc;
    bool named = false;
    NEA_AUTOFREE char *uploaded = NULL;
    rc = nea_state_disk_named(e->state, uri, pool, name, "", &named, err);
    if (rc == NEA_OK)
        rc = nea_state_base_image(e->state, uri, pool, name, &uploaded, err);
    if (rc < 0)
        return rc;
    /* a record may name the true base image as its disk (an old neaprov
     * wrote the name before it checked): what neaprov uploaded is the base */
    if (backing || (named && !uploaded))
        return nea_err_set(err, NEA_ERR_CONFLICT, "%s: volume %s in pool %s is named like "
                           "a base image but is %s; neaprov will not build an appliance "
                           "on it: remove it (and the record that names it) yourself", uri,
                           name, pool, named ? "an appliance's disk in the state database"
                                             : "an overlay (an appliance's disk)");
    *ret_format = TAKE_PTR(format);
    return NEA_OK;
}

int nea_disk_not_ours(struct nea_ctx *c, struct nea_err *err)
{
    return nea_err_set(err, NEA_ERR_CONFLICT, "%s: volume %s exists in pool %s and is not "
                       "provably the disk of tenant %s's appliance (not an overlay on a "
                       "base image neaprov created for it); neaprov will not use or "
                       "delete it: remove it yourself", c->uri, c->disk_volume, c->pool,
                       c->spec->tenant);
}
/* Deletes the tenant's seeds except `keep` (NULL: all), and `legacy`, a
 * seed named by a record from before the namespaces, when it is one
 * ("<name>-seed-<16 hex>.iso" of the recorded name). */
int nea_delete_seeds(struct nea_host *h, const char *pool, const char *tenant,
                     const char *keep, const char *legacy, const char *legacy_name,
                     struct nea_err *err)
{
    NEA_AUTOFREE char *prefix = nea_seed_prefix(tenant);
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

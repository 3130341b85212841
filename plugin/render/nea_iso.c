/*
 * nea_iso.c: ISO9660 + Rock Ridge + Joliet through libisofs.
 *
 * libisofs generates the image in a thread of its own and hands it out
 * through a libburn-style burn_source; we drain that into memory (a seed is a
 * few KiB of payload in a ~72 KiB image).
 */
#include "nea_iso.h"

#include <stdint.h>
#include <sys/types.h>
/* libisofs.h declares struct burn_source only when asked to */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>
#include <pthread.h>
#include <string.h>

#include "nea_util.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void do_init(void)
{
    /* Once per process and never finished: iso_finish() is global, so a
     * per-call init/finish pair would race between threads. */
    init_rc = iso_init();
    if (init_rc >= 0)
        iso_set_msgs_severities("NEVER", "NEVER", "neaprov");
}

NEA_DEFINE_CLEANUP_NAMED(image_unrefp, IsoImage *, iso_image_unref)
NEA_DEFINE_CLEANUP_NAMED(opts_freep, IsoWriteOpts *, iso_write_opts_free)

#define NEA_ISO_MAX (16u << 20)

int nea_iso_check_time(time_t when, struct nea_err *err)
{
    if (when < 0 || when > NEA_ISO_TIME_MAX)
        return nea_err_set(err, NEA_ERR_INVALID, "the seed image's timestamp %lld is "
                           "outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z (0 to "
                           "%lld seconds), the times an ISO 9660 image can record",
                           (long long)when, (long long)NEA_ISO_TIME_MAX);
    return NEA_OK;
}

static void set_times(IsoNode *node, time_t when)
{
    iso_node_set_mtime(node, when);
    iso_node_set_atime(node, when);
    iso_node_set_ctime(node, when);
}

/* The directory a "DIR/NAME" goes into (made on first use, with the same
 * owner, mode and times as the root), and NAME.  One level is all a seed
 * needs (neaprov/ beside the NoCloud files); deeper names are refused. */
static int parent_dir(IsoImage *image, const char *name, time_t when, IsoDir **ret_dir,
                      const char **ret_base)
{
    const char *slash = strchr(name, '/');
    if (!slash) {
        *ret_base = name;
        return 0;
    }
    if (slash == name || strchr(slash + 1, '/') || !slash[1])
        return ISO_WRONG_ARG_VALUE;
    NEA_AUTOFREE char *dname = nea_xstrndup(name, (size_t)(slash - name));
    IsoDir *root = iso_image_get_root(image);
    IsoNode *node = NULL;
    int rc = iso_image_dir_get_node(image, root, dname, &node, 1);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        if (iso_node_get_type(node) != LIBISO_DIR)
            return ISO_NODE_NAME_NOT_UNIQUE;
        *ret_dir = (IsoDir *)node;
    } else {
        IsoDir *dir = NULL;
        rc = iso_image_add_new_dir(image, root, dname, &dir);
        if (rc < 0)
            return rc;
        iso_node_set_permissions((IsoNode *)dir, 0555);
        iso_node_set_uid((IsoNode *)dir, 0);
        iso_node_set_gid((IsoNode *)dir, 0);
        set_times((IsoNode *)dir, when);
        *ret_dir = dir;
    }
    *ret_base = slash + 1;
    return 0;
}

int nea_iso_build(const char *label, const struct nea_iso_file *files, size_t n,
                  time_t when, char **ret_buf, size_t *ret_len, struct nea_err *err)
{
    int trc = nea_iso_check_time(when, err);
    if (trc < 0)
        return trc;
    pthread_once(&init_once, do_init);
    if (init_rc < 0)
        return nea_err_set(err, NEA_ERR_LIBRARY, "libisofs: cannot initialise: %s",
                           iso_error_to_msg(init_rc));

    NEA_AUTO(image_unrefp) IsoImage *image = NULL;
    int rc = iso_image_new(label, &image);
    if (rc < 0)
        return nea_err_set(err, NEA_ERR_LIBRARY, "libisofs: cannot create image: %s",
                           iso_error_to_msg(rc));
    iso_image_set_volume_id(image, label);
    iso_image_set_application_id(image, "neaprov");
    IsoDir *root = iso_image_get_root(image);
    iso_node_set_mtime((IsoNode *)root, when);
    iso_node_set_atime((IsoNode *)root, when);
    iso_node_set_ctime((IsoNode *)root, when);
    iso_node_set_permissions((IsoNode *)root, 0555);

    for (size_t i = 0; i < n; i++) {
        IsoDir *dir = root;
        const char *base = files[i].name;
        int drc = parent_dir(image, files[i].name, when, &dir, &base);
        if (drc < 0)
            return nea_err_set(err, NEA_ERR_LIBRARY, "libisofs: cannot add %s: %s",
                               files[i].name, iso_error_to_msg(drc));
        /* the memory stream takes ownership of a malloc'd buffer */
        unsigned char *copy = nea_xmalloc(files[i].len ? files[i].len : 1);
        memcpy(copy, files[i].data, files[i].len);
        IsoStream *stream = NULL;
        rc = iso_memory_stream_new(copy, files[i].len, &stream);
        if (rc < 0) {
            free(copy);
            return nea_err_set(err, NEA_ERR_LIBRARY,
                               "libisofs: cannot add %s: %s", files[i].name,
                               iso_error_to_msg(rc));
        }
        IsoFile *file = NULL;
        /* on success the new file owns the stream reference */
        rc = iso_image_add_new_file(image, dir, base, stream, &file);
        if (rc < 0)
            iso_stream_unref(stream);
        if (rc < 0)
            return nea_err_set(err, NEA_ERR_LIBRARY, "libisofs: cannot add %s: %s",
                               files[i].name, iso_error_to_msg(rc));
        IsoNode *node = (IsoNode *)file;
        iso_node_set_permissions(node, 0444);
        iso_node_set_uid(node, 0);
        iso_node_set_gid(node, 0);
        iso_node_set_mtime(node, when);
        iso_node_set_atime(node, when);
        iso_node_set_ctime(node, when);
    }

    NEA_AUTO(opts_freep) IsoWriteOpts *opts = NULL;
    rc = iso_write_opts_new(&opts, 0);
    if (rc < 0)
        return nea_err_set(err, NEA_ERR_LIBRARY, "libisofs: %s", iso_error_to_msg(rc));
    iso_write_opts_set_iso_level(opts, 2);
    iso_write_opts_set_rockridge(opts, 1);
    iso_write_opts_set_joliet(opts, 1);
    /* "cidata" in lower case in the primary descriptor too, as cloud-localds
     * (genisoimage -volid cidata) writes it; strict d-characters would make
     * it CIDATA there. */
    iso_write_opts_set_relaxed_vol_atts(opts, 1);
    /* Joliet names without ";1", as Windows and isoinfo -J show them */
    iso_write_opts_set_omit_version_numbers(opts, 2);
    iso_write_opts_set_no_force_dots(opts, 2);
    iso_write_opts_set_always_gmt(opts, 1);
    iso_write_opts_set_replace_timestamps(opts, 2);
    iso_write_opts_set_default_timestamp(opts, when);
    iso_write_opts_set_dir_rec_mtime(opts, 1);
    iso_write_opts_set_replace_mode(opts, 1, 1, 1, 1);
    iso_write_opts_set_default_uid(opts, 0);
    iso_write_opts_set_default_gid(opts, 0);
    struct tm tm;
    gmtime_r(&when, &tm);
    char vol_uuid[80];
    snprintf(vol_uuid, sizeof(vol_uuid), "%04d%02d%02d%02d%02d%02d00",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec);
    iso_write_opts_set_pvd_times(opts, when, when, 0, when, vol_uuid);

    struct burn_source *src = NULL;
    rc = iso_image_create_burn_source(image, opts, &src);
    if (rc < 0)
        return nea_err_set(err, NEA_ERR_LIBRARY, "libisofs: cannot start writing: %s",
                           iso_error_to_msg(rc));
    size_t cap = 512 * 1024, len = 0;
    char *buf = nea_xmalloc(cap);
    unsigned char block[2048];
    int ret = NEA_OK;
    for (;;) {
        int got = src->read_xt(src, block, sizeof(block));
        if (got < 0) {
            ret = nea_err_set(err, NEA_ERR_LIBRARY, "libisofs: image generation failed");
            break;
        }
        if (got == 0)
            break;
        if (len + (size_t)got > NEA_ISO_MAX) {
            ret = nea_err_set(err, NEA_ERR_INTERNAL, "seed image exceeds %u bytes",
                              NEA_ISO_MAX);
            src->cancel(src);
            break;
        }
        if (len + (size_t)got > cap) {
            cap *= 2;
            buf = nea_xrealloc(buf, cap);
        }
        memcpy(buf + len, block, (size_t)got);
        len += (size_t)got;
    }
    src->free_data(src);
    free(src);
    if (ret < 0) {
        free(buf);
        return ret;
    }
    *ret_buf = buf;
    *ret_len = len;
    return NEA_OK;
}

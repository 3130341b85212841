/*
 * nea_changeset.c: the change set: one entry per changed field with its action and
 * disruption, and the diff of two canonical spec texts.
 *
 * Touches neither host nor state.
 */
#include "nea_engine_int.h"

#include <stdbool.h>
#include <string.h>

#include "nea_util.h"

/* ---- the changeset ------------------------------------------------------ */

void nea_change_add(struct nea_changeset *c, const char *field, const char *old,
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
/* How a change of each class of canonical key (nea_canonical_key_class)
 * is carried out.  A key of a record from an older neaprov that this one no
 * longer writes (UNKNOWN) is a redeploy: the safe reading. */
static const struct {
    unsigned todo;
    enum nea_disruption d;
    const char *action;
} class_actions[] = {
    [NEA_CHANGE_UNKNOWN] = {NEA_DO_DISK, NEA_DISRUPT_REDEPLOY, "redeploy"},
    [NEA_CHANGE_IGNORE] = {0, NEA_DISRUPT_NONE, NULL}, /* never a change */
    [NEA_CHANGE_RECORD] = {NEA_DO_RECORD, NEA_DISRUPT_NONE, "record the new plan"},
    [NEA_CHANGE_MOVE_HOST] = {NEA_DO_MOVE, NEA_DISRUPT_REDEPLOY, "redeploy on the new host"},
    [NEA_CHANGE_MOVE_POOL] = {NEA_DO_MOVE, NEA_DISRUPT_REDEPLOY,
                              "redeploy into the new pool"},
    [NEA_CHANGE_DISK_IMAGE] = {NEA_DO_DISK, NEA_DISRUPT_REDEPLOY,
                               "redeploy: new disk from the image"},
    [NEA_CHANGE_DISK_SIZE] = {NEA_DO_DISK, NEA_DISRUPT_REDEPLOY,
                              "redeploy: new disk of the new size"},
    [NEA_CHANGE_DEFINE_REBOOT] = {NEA_DO_DEFINE | NEA_DO_RESTART, NEA_DISRUPT_REBOOT,
                                  "config change + reboot"},
    [NEA_CHANGE_RENAME] = {NEA_DO_RENAME | NEA_DO_DEFINE | NEA_DO_SEED, NEA_DISRUPT_REBOOT,
                           "rename (shut down, rename, start), new seed for the hostname"},
    [NEA_CHANGE_NIC] = {NEA_DO_NIC | NEA_DO_DEFINE, NEA_DISRUPT_NONE,
                        "move the vNIC live (config + reboot where the host cannot)"},
    [NEA_CHANGE_MAC] = {NEA_DO_DEFINE | NEA_DO_SEED | NEA_DO_RESTART, NEA_DISRUPT_REBOOT,
                        "new MAC: config change, new seed, reboot"},
    [NEA_CHANGE_REDEFINE] = {NEA_DO_REDEFINE | NEA_DO_RESTART, NEA_DISRUPT_REBOOT,
                             "redefine with the new UUID (volumes kept) + reboot"},
    [NEA_CHANGE_SEED] = {NEA_DO_SEED, NEA_DISRUPT_REBOOT,
                         "new seed (new instance-id), graceful shutdown + start"},
    [NEA_CHANGE_SEED_PUBLIC_IPS] = {NEA_DO_SEED, NEA_DISRUPT_REBOOT,
                                    "allocate/release public IPs: new seed (addresses), "
                                    "graceful shutdown + start"},
    [NEA_CHANGE_SEED_PUBLIC_ADDRESS] = {NEA_DO_SEED, NEA_DISRUPT_REBOOT,
                                        "new seed with the public addresses, graceful "
                                        "shutdown + start"},
    [NEA_CHANGE_SEED_RULES] = {NEA_DO_SEED, NEA_DISRUPT_REBOOT,
                               "new seed with the nftables ruleset, graceful shutdown + "
                               "start"},
    [NEA_CHANGE_TNET_MODE] = {NEA_DO_TNETS | NEA_DO_DEFINE | NEA_DO_SEED | NEA_DO_RESTART,
                              NEA_DISRUPT_REBOOT,
                              "tenant networks made another way on the host: config "
                              "change, new seed, reboot"},
    /* a changed network; an added or removed one is tnet_plug below */
    [NEA_CHANGE_TNET] = {NEA_DO_TNETS | NEA_DO_DEFINE | NEA_DO_SEED | NEA_DO_RESTART,
                         NEA_DISRUPT_REBOOT,
                         "tenant network changed: config change, new seed (addresses, "
                         "nftables), graceful shutdown + start"},
};
/* A tenant network that comes or goes: its vNIC is plugged or unplugged
 * live, the new seed swapped into the cdrom for the appliance to read. */
static const char tnet_add_action[] = "add the network: hot-plug its vNIC, swap in the new "
                                      "seed (live, no reboot)";
static const char tnet_remove_action[] = "remove the network: unplug its vNIC, swap in the "
                                         "new seed (live, no reboot)";
_Static_assert(NEA_ARRAY_SIZE(class_actions) == NEA_CHANGE_LAST,
               "an action for every change class");

const char *nea_change_class_action(enum nea_change_class cls)
{
    return (unsigned)cls < NEA_CHANGE_LAST ? class_actions[cls].action : NULL;
}

void nea_kv_parse(const char *text, struct nea_kv **ret, size_t *n)
{
    struct nea_kv *v = NULL;
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
                v[len++] = (struct nea_kv){TAKE_PTR(key), TAKE_PTR(val)};
            }
        }
        p += l + (nl ? 1 : 0);
    }
    *ret = v;
    *n = len;
}

void nea_kv_free(struct nea_kv *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].value);
    }
    free(v);
}

const char *nea_kv_get(const struct nea_kv *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].key, key))
            return v[i].value;
    return NULL;
}

void nea_diff_specs(struct nea_changeset *c, const char *old_text,
                    const char *new_text)
{
    struct nea_kv *o = NULL, *nw = NULL;
    size_t no = 0, nn = 0;
    nea_kv_parse(old_text, &o, &no);
    nea_kv_parse(new_text, &nw, &nn);
    /* keys of either side, in the new spec's order, then removed ones */
    for (int pass = 0; pass < 2; pass++) {
        const struct nea_kv *src = pass ? o : nw;
        size_t ns = pass ? no : nn;
        for (size_t i = 0; i < ns; i++) {
            const char *key = src[i].key;
            if (pass && nea_kv_get(nw, nn, key))
                continue;
            const char *a = nea_kv_get(o, no, key), *b = nea_kv_get(nw, nn, key);
            if (a && b && !strcmp(a, b))
                continue;
            enum nea_change_class cls = nea_canonical_key_class(key);
            if (cls == NEA_CHANGE_IGNORE)
                continue;
            /* a record from before images were recorded by their sha256
             * ("image=<path or URL>") is the same image when the sums agree */
            const char *so = nea_kv_get(o, no, "image-sha256");
            const char *sn = nea_kv_get(nw, nn, "image-sha256");
            if (!strcmp(key, "image") && so && sn && *so && !strcmp(so, sn))
                continue;
            /* such a record may hold a URL with credentials */
            NEA_AUTOFREE char *ra = a && !strcmp(key, "image") ? nea_url_redact(a) : NULL;
            if (ra)
                a = ra;
            if (cls == NEA_CHANGE_TNET && (!a || !b)) {
                nea_change_add(c, key, a, b, a ? tnet_remove_action : tnet_add_action,
                               NEA_DISRUPT_NONE,
                               /* the new seed goes in live: not NEA_DO_SEED,
                                * which is a boot */
                               NEA_DO_TNETS | NEA_DO_PLUG | NEA_DO_DEFINE);
                continue;
            }
            nea_change_add(c, key, a, b, class_actions[cls].action, class_actions[cls].d,
                           class_actions[cls].todo);
        }
    }
    nea_kv_free(o, no);
    nea_kv_free(nw, nn);
}

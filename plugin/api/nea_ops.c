/*
 * nea_ops.c: see nea_ops.h.
 */
#include "nea_ops.h"

#include "nea_spec.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "nea_addr.h"
#include "nea_util.h"

void nea_report_changeset(struct nea_json *j, const struct nea_changeset *cs)
{
    nea_json_obj(j, NULL);
    nea_json_str(j, "tenant", cs->tenant);
    nea_json_str(j, "name", cs->name);
    nea_json_str(j, "host", cs->host);
    nea_json_bool(j, "changes", cs->todo != 0);
    nea_json_str(j, "disruption", nea_disruption_name(cs->disruption));
    nea_json_arr(j, "fields");
    for (size_t i = 0; i < cs->n; i++) {
        nea_json_obj(j, NULL);
        nea_json_str(j, "field", cs->v[i].field);
        nea_json_str(j, "old", cs->v[i].old_value);
        nea_json_str(j, "new", cs->v[i].new_value);
        nea_json_str(j, "action", cs->v[i].action);
        nea_json_str(j, "disruption", nea_disruption_name(cs->v[i].disruption));
        nea_json_obj_end(j);
    }
    nea_json_arr_end(j);
    nea_json_obj_end(j);
}

void nea_report_statuses(struct nea_json *j, const struct nea_app_status *v, size_t n)
{
    nea_json_arr(j, NULL);
    for (size_t i = 0; i < n; i++) {
        const struct nea_deployment *d = v[i].dep;
        nea_json_obj(j, NULL);
        nea_json_str(j, "tenant", d->tenant);
        nea_json_str(j, "name", d->name);
        nea_json_str(j, "plan", d->plan);
        nea_json_str(j, "host", d->host);
        nea_json_str(j, "state", nea_dep_state_name(d->state));
        nea_json_str(j, "step", d->step);
        nea_json_str(j, "live", v[i].live);
        nea_json_str(j, "drift", v[i].drift);
        nea_json_str(j, "addresses", v[i].addresses);
        nea_json_str(j, "mac", d->mac);
        nea_json_str(j, "uuid", d->uuid);
        nea_json_str(j, "instance_id", d->instance_id);
        nea_json_str(j, "spec_hash", d->spec_hash);
        nea_json_str(j, "last_error", d->last_error);
        nea_json_int(j, "updated_at", d->updated_at);
        /* what each replica network's VMs attach to */
        nea_json_arr(j, "networks");
        for (size_t k = 0; k < v[i].n_tnets; k++) {
            const struct nea_tnet_status *t = &v[i].tnets[k];
            nea_json_obj(j, NULL);
            nea_json_str(j, "name", t->name);
            nea_json_str(j, "interface", t->ifname);
            nea_json_str(j, "gateway", t->gateway);
            nea_json_str(j, "gateway6", t->gateway6);
            nea_json_bool(j, "internet", t->internet);
            nea_json_str(j, "libvirt_network", t->libvirt_network);
            nea_json_str(j, "bridge", t->bridge);
            if (t->vlan)
                nea_json_int(j, "vlan", t->vlan);
            nea_json_obj_end(j);
        }
        nea_json_arr_end(j);
        nea_json_obj_end(j);
    }
    nea_json_arr_end(j);
}

void nea_report_networks(struct nea_json *j, const struct nea_host_net *v, size_t n)
{
    nea_json_arr(j, NULL);
    for (size_t i = 0; i < n; i++) {
        nea_json_obj(j, NULL);
        nea_json_str(j, "ref", v[i].ref);
        nea_json_str(j, "name", v[i].name);
        nea_json_str(j, "kind", nea_net_kind_name(v[i].kind));
        nea_json_bool(j, "active", v[i].active);
        nea_json_obj_end(j);
    }
    nea_json_arr_end(j);
}

void nea_report_pool(struct nea_json *j, const struct nea_pool_run *v, size_t n,
                     const struct nea_pool_summary *sum)
{
    nea_json_obj(j, NULL);
    nea_json_arr(j, "runs");
    for (size_t i = 0; i < n; i++) {
        char a[NEA_IP_STRLEN], b[NEA_IP_STRLEN];
        nea_ip_format(&v[i].first, a);
        nea_ip_format(&v[i].last, b);
        nea_json_obj(j, NULL);
        nea_json_str(j, "first", a);
        nea_json_str(j, "last", b);
        nea_json_int(j, "count", (int64_t)nea_ip_span(&v[i].first, &v[i].last));
        nea_json_str(j, "tenant", v[i].tenant);
        nea_json_obj_end(j);
    }
    nea_json_arr_end(j);
    nea_json_obj(j, "summary");
    nea_json_int(j, "ipv4_free", (int64_t)sum->free4);
    nea_json_int(j, "ipv4_assigned", (int64_t)sum->assigned4);
    nea_json_int(j, "ipv6_free", (int64_t)sum->free6);
    nea_json_int(j, "ipv6_assigned", (int64_t)sum->assigned6);
    nea_json_obj_end(j);
    nea_json_obj_end(j);
}

void nea_rule_endpoints(const struct nea_rule *r, char ret_pub[80], char ret_to[80])
{
    char a[NEA_IP_STRLEN], b[NEA_IP_STRLEN];
    nea_ip_format(&r->pub, a);
    nea_ip_format(&r->to, b);
    bool v6 = r->pub.family == AF_INET6;
    snprintf(ret_pub, 80, v6 ? "[%s]:%u/%s" : "%s:%u/%s", a, r->pub_port,
             nea_proto_name(r->proto));
    snprintf(ret_to, 80, v6 ? "[%s]:%u" : "%s:%u", b, r->to_port);
}

void nea_report_rules(struct nea_json *j, const struct nea_rule *v, char *const *tenants,
                      size_t n)
{
    nea_json_arr(j, NULL);
    for (size_t i = 0; i < n; i++) {
        char pub[80], to[80];
        nea_rule_endpoints(&v[i], pub, to);
        nea_json_obj(j, NULL);
        nea_json_str(j, "tenant", tenants[i]);
        nea_json_str(j, "public", pub);
        nea_json_str(j, "to", to);
        nea_json_str(j, "description", v[i].description);
        nea_json_obj_end(j);
    }
    nea_json_arr_end(j);
}

int nea_artifacts_write(const struct nea_artifacts *a, const char *dir,
                        struct nea_err *err)
{
    if (nea_mkdir_p(dir, 0755) < 0)
        return nea_err_set(err, NEA_ERR_IO, "%s: cannot create directory: %s", dir,
                           strerror(errno));
    /* user-data and the ISO carry what the guest is told (later also
     * secrets): owner-only from the start */
    const struct {
        const char *name;
        const void *buf;
        size_t len;
        unsigned mode;
    } files[] = {
        {"domain.xml", a->domain_xml, a->domain_xml_len, 0644},
        {"meta-data", a->seed.meta_data, a->seed.meta_data_len, 0644},
        {"user-data", a->seed.user_data, a->seed.user_data_len, 0600},
        {"network-config", a->seed.network_config, a->seed.network_config_len, 0644},
        {"seed.iso", a->iso, a->iso_len, 0600},
    };
    for (size_t i = 0; i < NEA_ARRAY_SIZE(files); i++) {
        NEA_AUTOFREE char *path = nea_xasprintf("%s/%s", dir, files[i].name);
        int rc = nea_write_file(path, files[i].buf, files[i].len, files[i].mode, err);
        if (rc < 0)
            return rc;
    }
    return NEA_OK;
}

int nea_range_arg(const char *verb, const char *range, struct nea_ip *ret_first,
                  struct nea_ip *ret_last, struct nea_err *err)
{
    struct nea_ip first, last;
    const char *why = range ? nea_ip_range_parse(range, &first, &last) : "is missing";
    if (why)
        return nea_err_set(err, NEA_ERR_INVALID, "pool %s: \"%s\" %s", verb,
                           range ? range : "", why);
    *ret_first = first;
    *ret_last = last;
    return NEA_OK;
}

#ifndef NEA_DATADIR
#define NEA_DATADIR "/usr/local/share/neaprov"
#endif

#ifndef NEA_BIN_TO_DATA
#define NEA_BIN_TO_DATA "../share/neaprov"
#endif
#ifndef NEA_LIB_TO_DATA
#define NEA_LIB_TO_DATA "../share/neaprov"
#endif

static pthread_once_t datadir_once = PTHREAD_ONCE_INIT;
static char datadir[PATH_MAX];
static char plans_dir[PATH_MAX + 16];
static char template_file[PATH_MAX + 32];

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The compiled-in data directory; when it is not there (an install moved
 * with cmake --install --prefix, or a DESTDIR tree), share/neaprov beside
 * the binary or library this code runs in. */
static void find_datadir(void)
{
    snprintf(datadir, sizeof(datadir), "%s", NEA_DATADIR);
    Dl_info info;
    if (!is_dir(datadir) && dladdr((void *)find_datadir, &info) && info.dli_fname) {
        /* for the executable dladdr tells argv[0], which a PATH search leaves
         * without a directory: the kernel knows better */
        char self[PATH_MAX];
        bool known = strchr(info.dli_fname, '/') ? realpath(info.dli_fname, self) != NULL
                                                 : realpath("/proc/self/exe", self) != NULL;
        if (known) {
            *strrchr(self, '/') = '\0';
            static const char *const rel[] = {NEA_BIN_TO_DATA, NEA_LIB_TO_DATA};
            for (size_t i = 0; i < NEA_ARRAY_SIZE(rel); i++) {
                char cand[PATH_MAX * 2], real[PATH_MAX];
                snprintf(cand, sizeof(cand), "%s/%s", self, rel[i]);
                if (realpath(cand, real) && is_dir(real)) {
                    snprintf(datadir, sizeof(datadir), "%s", real);
                    break;
                }
            }
        }
    }
    snprintf(plans_dir, sizeof(plans_dir), "%s/hw/plans", datadir);
    snprintf(template_file, sizeof(template_file), "%s/templates/domain.xml", datadir);
}

const char *nea_datadir(void)
{
    pthread_once(&datadir_once, find_datadir);
    return datadir;
}

size_t nea_default_plan_dirs(const char *ret_dirs[2])
{
    pthread_once(&datadir_once, find_datadir);
    ret_dirs[0] = "/etc/neaprov/plans";
    ret_dirs[1] = plans_dir;
    return 2;
}

const char *nea_default_template(void)
{
    static const char etc_tpl[] = "/etc/neaprov/templates/domain.xml";
    struct stat st;
    pthread_once(&datadir_once, find_datadir);
    return stat(etc_tpl, &st) == 0 ? etc_tpl : template_file;
}

static bool tenant_name_ok(const char *t)
{
    if (!*t || strlen(t) > 48 || *t == '-')
        return false;
    for (const char *p = t; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

int nea_rule_args(const char *verb, const char *tenant, const char *pub, const char *to,
                  const char *description, struct nea_rule *ret_rule, struct nea_err *err)
{
    bool list = !strcmp(verb, "list"), add = !strcmp(verb, "add");
    struct nea_rule r = {.description = (char *)description};
    if (!tenant && !list)
        return nea_err_set(err, NEA_ERR_INVALID, "rule %s: name exactly one TENANT", verb);
    if (tenant && !tenant_name_ok(tenant))
        return nea_err_set(err, NEA_ERR_INVALID, "rule %s: \"%s\" is not a tenant name "
                           "(1-48 lower-case letters, digits and '-')", verb, tenant);
    if (!list && (!pub || (add && !to)))
        return nea_err_set(err, NEA_ERR_INVALID, "rule %s: give --public IP:PORT/PROTO%s",
                           verb, add ? " and --to IP:PORT" : "");
    const char *why = list ? NULL
                           : nea_endpoint_parse(pub, true, &r.pub, &r.pub_port, &r.proto);
    if (why)
        return nea_err_set(err, NEA_ERR_INVALID, "rule %s: --public %s %s", verb, pub, why);
    enum nea_proto ignored;
    if (!list && to && (why = nea_endpoint_parse(to, false, &r.to, &r.to_port, &ignored))) {
        /* a replica endpoint that would do for --public: it only has a
         * protocol too many */
        struct nea_ip ip;
        unsigned port;
        if (!nea_endpoint_parse(to, true, &ip, &port, &ignored))
            return nea_err_set(err, NEA_ERR_INVALID, "rule %s: --to %s takes no protocol: "
                               "a rule forwards the protocol of --public IP:PORT/tcp or "
                               "/udp to the replica's IP:PORT", verb, to);
        return nea_err_set(err, NEA_ERR_INVALID, "rule %s: --to %s %s", verb, to, why);
    }
    *ret_rule = r;
    return NEA_OK;
}

int nea_render_places(struct nea_spec *s, struct nea_err *err)
{
    if (!s->n_tnets)
        return NEA_OK;
    /* A deployment may place them otherwise: slots and tags stay with a
     * network for its life, whatever else comes and goes. */
    const struct nea_tnet_plan *tp = &s->plan->tnet;
    bool ovs = tp->mode == NEA_TNET_OVS_VLAN;
    if (ovs && s->n_tnets > (size_t)(tp->vlan_last - tp->vlan_first) + 1)
        return nea_err_set(err, NEA_ERR_INVALID, "hardware plan %s's tenant-networks.vlans "
                           "%u-%u holds %u tags, fewer than the %zu networks of appliance %s",
                           s->plan->name, tp->vlan_first, tp->vlan_last,
                           tp->vlan_last - tp->vlan_first + 1, s->n_tnets, s->name);
    NEA_AUTOFREE unsigned *slots = nea_xcalloc(s->n_tnets, sizeof(*slots));
    NEA_AUTOFREE unsigned *vlans = nea_xcalloc(s->n_tnets, sizeof(*vlans));
    for (size_t i = 0; i < s->n_tnets; i++) {
        slots[i] = (unsigned)i;
        vlans[i] = ovs ? tp->vlan_first + (unsigned)i : 0;
    }
    nea_spec_set_tnet_places(s, slots, ovs ? vlans : NULL);
    return NEA_OK;
}

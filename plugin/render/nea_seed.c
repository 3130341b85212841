/*
 * nea_seed.c: model -> NoCloud meta-data, user-data, network-config.
 *
 * All YAML goes through libyaml's emitter; the only text written by hand is
 * the "#cloud-config" header line, which cloud-init requires verbatim and
 * which YAML cannot express.  Values from the spec are always quoted so that
 * a YAML 1.1 reader in the guest never turns a MAC into a sexagesimal number.
 */
#include "nea_seed.h"

#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "nea_nft.h"
#include "nea_util.h"

struct emitter {
    yaml_emitter_t e;
    char *buf;
    size_t len;
    FILE *out;
    int failed;
};

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
    struct emitter *em = data;
    return fwrite(buffer, 1, size, em->out) == size;
}

static void em_event(struct emitter *em, yaml_event_t *ev, int ok)
{
    if (!ok || !yaml_emitter_emit(&em->e, ev))
        em->failed = 1;
}

static void em_begin(struct emitter *em)
{
    memset(em, 0, sizeof(*em));
    em->out = open_memstream(&em->buf, &em->len);
    if (!em->out || !yaml_emitter_initialize(&em->e))
        abort();
    yaml_emitter_set_output(&em->e, write_handler, em);
    yaml_emitter_set_unicode(&em->e, 1);
    yaml_emitter_set_width(&em->e, -1);
    yaml_emitter_set_indent(&em->e, 2);
    yaml_event_t ev;
    em_event(em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    em_event(em, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
}

static void em_scalar_style(struct emitter *em, const char *v, yaml_scalar_style_t st)
{
    yaml_event_t ev;
    em_event(em, &ev,
             yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)v,
                                          (int)strlen(v), 1, 1, st));
}

/* Keys and fixed keywords of the cloud-init formats. */
static void em_plain(struct emitter *em, const char *v)
{
    em_scalar_style(em, v, YAML_PLAIN_SCALAR_STYLE);
}

/* Anything that comes from the spec. */
static void em_quoted(struct emitter *em, const char *v)
{
    em_scalar_style(em, v, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

static void em_map_start(struct emitter *em)
{
    yaml_event_t ev;
    em_event(em, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                          YAML_BLOCK_MAPPING_STYLE));
}

static void em_map_end(struct emitter *em)
{
    yaml_event_t ev;
    em_event(em, &ev, yaml_mapping_end_event_initialize(&ev));
}

static void em_seq_start(struct emitter *em)
{
    yaml_event_t ev;
    em_event(em, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                           YAML_BLOCK_SEQUENCE_STYLE));
}

static void em_seq_end(struct emitter *em)
{
    yaml_event_t ev;
    em_event(em, &ev, yaml_sequence_end_event_initialize(&ev));
}

static int em_finish(struct emitter *em, char **ret_buf, size_t *ret_len,
                     struct nea_err *err, const char *what)
{
    yaml_event_t ev;
    em_event(em, &ev, yaml_document_end_event_initialize(&ev, 1));
    em_event(em, &ev, yaml_stream_end_event_initialize(&ev));
    yaml_emitter_flush(&em->e);
    int failed = em->failed;
    const char *problem = em->e.problem;
    NEA_AUTOFREE char *msg = nea_xstrdup(problem ? problem : "unknown problem");
    yaml_emitter_delete(&em->e);
    fclose(em->out);
    if (failed) {
        free(em->buf);
        return nea_err_set(err, NEA_ERR_LIBRARY, "cannot emit %s: libyaml: %s", what,
                           msg);
    }
    *ret_buf = em->buf;
    *ret_len = em->len;
    return NEA_OK;
}

static void em_kv(struct emitter *em, const char *k, const char *v)
{
    em_plain(em, k);
    em_quoted(em, v);
}

static int build_network_config(const struct nea_spec *s, char **ret_buf, size_t *ret_len,
                                struct nea_err *err)
{
    struct emitter em;
    char mac[18], a[NEA_IP_STRLEN], cidr[NEA_IP_STRLEN + 8];
    nea_mac_format(s->mac, mac);
    em_begin(&em);
    em_map_start(&em);
    em_plain(&em, "version");
    em_plain(&em, "1");
    em_plain(&em, "config");
    em_seq_start(&em);
    em_map_start(&em);
    em_plain(&em, "type");
    em_plain(&em, "physical");
    em_plain(&em, "name");
    em_plain(&em, NEA_NIC_NAME);
    em_kv(&em, "mac_address", mac);
    em_plain(&em, "subnets");
    em_seq_start(&em);
    /* dns_nameservers ride on one subnet, a static one when there is one:
     * every renderer (eni, networkd, netplan, sysconfig) carries both
     * families from a static subnet, while netplan, networkd and sysconfig
     * drop servers given on a dhcp4/dhcp6/ipv6_slaac subnet (cloud-init 22.4;
     * see docs/render.md). */
    bool dns_done = s->n_dns == 0;
    for (int fam = 0; fam < 2; fam++) {
        const char *type = NULL;
        const struct nea_ip *addr = NULL, *gw = NULL;
        unsigned prefix = 0;
        if (fam == 0) {
            if (s->ipv4.mode == NEA_V4_DHCP)
                type = "dhcp4";
            else if (s->ipv4.mode == NEA_V4_STATIC) {
                type = "static";
                addr = &s->ipv4.address;
                gw = &s->ipv4.gateway;
                prefix = s->ipv4.prefix;
            }
        } else {
            if (s->ipv6.mode == NEA_V6_AUTO)
                type = "ipv6_slaac";
            else if (s->ipv6.mode == NEA_V6_DHCP)
                type = "dhcp6";
            else if (s->ipv6.mode == NEA_V6_STATIC) {
                type = "static6";
                addr = &s->ipv6.address;
                gw = &s->ipv6.gateway;
                prefix = s->ipv6.prefix;
            }
        }
        if (!type)
            continue;
        em_map_start(&em);
        em_plain(&em, "type");
        em_plain(&em, type);
        if (addr) {
            nea_ip_format(addr, a);
            snprintf(cidr, sizeof(cidr), "%s/%u", a, prefix);
            em_kv(&em, "address", cidr);
            nea_ip_format(gw, a);
            em_kv(&em, "gateway", a);
        }
        if (!dns_done && addr) {
            em_plain(&em, "dns_nameservers");
            em_seq_start(&em);
            for (size_t i = 0; i < s->n_dns; i++) {
                nea_ip_format(&s->dns[i], a);
                em_quoted(&em, a);
            }
            em_seq_end(&em);
            dns_done = true;
        }
        em_map_end(&em);
    }
    /* the tenant's public addresses, host routes on the same interface */
    for (size_t i = 0; i < s->n_public_addrs; i++) {
        const struct nea_ip *p = &s->public_addrs[i];
        bool v6 = p->family == AF_INET6;
        nea_ip_format(p, a);
        snprintf(cidr, sizeof(cidr), "%s/%u", a, v6 ? 128 : 32);
        em_map_start(&em);
        em_plain(&em, "type");
        em_plain(&em, v6 ? "static6" : "static");
        em_kv(&em, "address", cidr);
        em_map_end(&em);
    }
    em_seq_end(&em);
    em_map_end(&em);
    if (!dns_done) {
        /* no static subnet: a global entry reaches eni, networkd and
         * sysconfig (netplan drops it), a dhcp subnet's reaches eni only */
        em_map_start(&em);
        em_plain(&em, "type");
        em_plain(&em, "nameserver");
        em_plain(&em, "address");
        em_seq_start(&em);
        for (size_t i = 0; i < s->n_dns; i++) {
            nea_ip_format(&s->dns[i], a);
            em_quoted(&em, a);
        }
        em_seq_end(&em);
        em_map_end(&em);
    }
    em_seq_end(&em);
    em_map_end(&em);
    return em_finish(&em, ret_buf, ret_len, err, "network-config");
}

static void em_literal(struct emitter *em, const char *v)
{
    em_scalar_style(em, v, YAML_LITERAL_SCALAR_STYLE);
}

static void em_file(struct emitter *em, const char *path, const char *mode,
                    const char *content)
{
    em_map_start(em);
    em_kv(em, "path", path);
    em_kv(em, "permissions", mode);
    em_kv(em, "owner", "root:root");
    em_plain(em, "content");
    em_literal(em, content);
    em_map_end(em);
}

static void em_cmd(struct emitter *em, const char *const *argv)
{
    em_seq_start(em);
    for (; *argv; argv++)
        em_quoted(em, *argv);
    em_seq_end(em);
}

static const char nft_unit[] =
    "[Unit]\n"
    "Description=neaprov public IP rules (nftables)\n"
    "Wants=network-pre.target\n"
    "Before=network-pre.target\n"
    "\n"
    "[Service]\n"
    "Type=oneshot\n"
    "RemainAfterExit=yes\n"
    "ExecStart=/usr/sbin/nft -f " NEA_NFT_PATH "\n"
    "\n"
    "[Install]\n"
    "WantedBy=multi-user.target\n";

/* The appliance routes for the replicas; forwarding turns off router
 * advertisements unless accept_ra is 2, which SLAAC needs. */
static const char forwarding_conf[] =
    "net.ipv4.ip_forward = 1\n"
    "net.ipv6.conf.all.forwarding = 1\n"
    "net.ipv6.conf.default.accept_ra = 2\n"
    "net.ipv6.conf." NEA_NIC_NAME ".accept_ra = 2\n";

static int build_user_data(const struct nea_spec *s, char **ret_buf, size_t *ret_len,
                           struct nea_err *err)
{
    struct emitter em;
    em_begin(&em);
    em_map_start(&em);
    em_kv(&em, "hostname", s->name);
    em_plain(&em, "preserve_hostname");
    em_plain(&em, "false");
    em_plain(&em, "manage_etc_hosts");
    em_plain(&em, "true");
    em_plain(&em, "ssh_pwauth");
    em_plain(&em, "false");
    if (s->n_ssh_keys) {
        em_plain(&em, "ssh_authorized_keys");
        em_seq_start(&em);
        for (size_t i = 0; i < s->n_ssh_keys; i++)
            em_quoted(&em, s->ssh_keys[i]);
        em_seq_end(&em);
    }
    /* The public IP rules: always written, so that removing the last rule
     * also reaches the appliance (an empty ruleset replaces the old one). */
    NEA_AUTOFREE char *nft = nea_nft_ruleset(s);
    em_plain(&em, "write_files");
    em_seq_start(&em);
    em_file(&em, NEA_NFT_PATH, "0600", nft);
    em_file(&em, "/etc/systemd/system/neaprov-nft.service", "0644", nft_unit);
    em_file(&em, "/etc/sysctl.d/60-neaprov-forwarding.conf", "0644", forwarding_conf);
    em_seq_end(&em);
    em_plain(&em, "runcmd");
    em_seq_start(&em);
    static const char *const c1[] = {"sysctl", "--system", NULL};
    static const char *const c2[] = {"systemctl", "enable", "neaprov-nft.service", NULL};
    static const char *const c3[] = {"systemctl", "restart", "neaprov-nft.service", NULL};
    em_cmd(&em, c1);
    em_cmd(&em, c2);
    em_cmd(&em, c3);
    em_seq_end(&em);
    em_map_end(&em);
    NEA_AUTOFREE char *body = NULL;
    size_t body_len = 0;
    int rc = em_finish(&em, &body, &body_len, err, "user-data");
    if (rc < 0)
        return rc;
    static const char header[] = "#cloud-config\n";
    char *out = nea_xmalloc(sizeof(header) - 1 + body_len + 1);
    memcpy(out, header, sizeof(header) - 1);
    memcpy(out + sizeof(header) - 1, body, body_len);
    out[sizeof(header) - 1 + body_len] = '\0';
    *ret_buf = out;
    *ret_len = sizeof(header) - 1 + body_len;
    return NEA_OK;
}

static int build_meta_data(const struct nea_spec *s, const char *instance_id,
                           char **ret_buf, size_t *ret_len, struct nea_err *err)
{
    struct emitter em;
    em_begin(&em);
    em_map_start(&em);
    em_kv(&em, "instance-id", instance_id);
    em_kv(&em, "local-hostname", s->name);
    em_map_end(&em);
    return em_finish(&em, ret_buf, ret_len, err, "meta-data");
}

int nea_seed_build(const struct nea_spec *spec, struct nea_seed *ret_seed,
                   struct nea_err *err)
{
    /* the rules go into the appliance's nftables file: each is checked
     * here, whoever stored it */
    for (size_t i = 0; i < spec->n_rules; i++) {
        NEA_AUTOFREE char *why = nea_rule_problem(&spec->rules[i]);
        if (why)
            return nea_err_set(err, NEA_ERR_INVALID, "tenant %s: public IP rule %zu: %s",
                               spec->tenant, i + 1, why);
    }
    struct nea_seed seed = {0};
    int rc = build_network_config(spec, &seed.network_config,
                                  &seed.network_config_len, err);
    if (rc == NEA_OK)
        rc = build_user_data(spec, &seed.user_data, &seed.user_data_len, err);
    if (rc == NEA_OK) {
        struct nea_sha256 h;
        uint8_t d[NEA_SHA256_LEN];
        char hex[NEA_SHA256_HEX_LEN + 1];
        nea_sha256_init(&h);
        nea_sha256_update(&h, spec->name, strlen(spec->name) + 1);
        nea_sha256_update(&h, seed.user_data, seed.user_data_len);
        nea_sha256_update(&h, "", 1);
        nea_sha256_update(&h, seed.network_config, seed.network_config_len);
        nea_sha256_final(&h, d);
        nea_hex(d, sizeof(d), hex);
        snprintf(seed.instance_id, sizeof(seed.instance_id), "%s-%.16s", spec->name,
                 hex);
        rc = build_meta_data(spec, seed.instance_id, &seed.meta_data,
                             &seed.meta_data_len, err);
    }
    if (rc < 0) {
        nea_seed_clear(&seed);
        return rc;
    }
    *ret_seed = seed;
    return NEA_OK;
}

void nea_seed_clear(struct nea_seed *seed)
{
    free(seed->meta_data);
    free(seed->user_data);
    free(seed->network_config);
    memset(seed, 0, sizeof(*seed));
}

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

/* A network-config v1 physical entry matched by MAC, up to its open
 * subnets list (the caller adds the subnets and closes both). */
static void em_physical_start(struct emitter *em, const char *name, const char *mac)
{
    em_map_start(em);
    em_plain(em, "type");
    em_plain(em, "physical");
    em_plain(em, "name");
    em_plain(em, name);
    em_kv(em, "mac_address", mac);
    em_plain(em, "subnets");
    em_seq_start(em);
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
    em_physical_start(&em, NEA_NIC_NAME, mac);
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
    /* The tenant networks: the appliance is their default gateway, so their
     * subnets have an address and no gateway of their own (a default route
     * through a replica network would be wrong). */
    const struct nea_tnet **by_slot = nea_xcalloc(s->n_tnets ? s->n_tnets : 1,
                                                  sizeof(*by_slot));
    nea_tnets_by_slot(s, by_slot);
    for (size_t k = 0; k < s->n_tnets; k++) {
        const struct nea_tnet *t = by_slot[k];
        char ifn[16];
        nea_tnet_ifname(t->slot, ifn);
        nea_mac_format(t->mac, mac);
        em_physical_start(&em, ifn, mac);
        for (int fam = 0; fam < 1 + t->has_v6; fam++) {
            nea_ip_format(fam ? &t->gw6 : &t->gw4, a);
            snprintf(cidr, sizeof(cidr), "%s/%u", a, fam ? t->prefix6 : t->prefix4);
            em_map_start(&em);
            em_plain(&em, "type");
            em_plain(&em, fam ? "static6" : "static");
            em_kv(&em, "address", cidr);
            em_map_end(&em);
        }
        em_seq_end(&em);
        em_map_end(&em);
    }
    free(by_slot);
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

/* Early in the boot, before any network is up.  No default dependencies:
 * those would order it after sysinit.target, which cloud-init.service
 * precedes, which waits for the network, which waits for this unit -- an
 * ordering cycle that systemd breaks by dropping a job (seen in the lab:
 * systemd-networkd started late and the links failed). */
#define NEA_NFT_UNIT_ORDER                                                      \
    "DefaultDependencies=no\n"                                                 \
    "After=local-fs.target\n"                                                  \
    "Wants=network-pre.target\n"                                               \
    "Before=network-pre.target shutdown.target\n"                              \
    "Conflicts=shutdown.target\n"

static const char nft_unit[] =
    "[Unit]\n"
    "Description=neaprov public IP rules (nftables)\n"
    NEA_NFT_UNIT_ORDER
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

/* With tenant networks forwarding is never on before the ruleset is loaded
 * (a replica's packet would leave with its own address, unfiltered): it is
 * turned on by whatever loads the ruleset (the unit below, neaprov-sync),
 * not at boot by sysctl.d. */
static const char ra_conf[] =
    "net.ipv6.conf.default.accept_ra = 2\n"
    "net.ipv6.conf." NEA_NIC_NAME ".accept_ra = 2\n";

#define NEA_FORWARD_ON "/usr/sbin/sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1"

static const char nft_unit_forwarding[] =
    "[Unit]\n"
    "Description=neaprov tenant networks and public IP rules (nftables), then forwarding\n"
    NEA_NFT_UNIT_ORDER
    "\n"
    "[Service]\n"
    "Type=oneshot\n"
    "RemainAfterExit=yes\n"
    "ExecStart=/usr/sbin/nft -f " NEA_NFT_PATH "\n"
    "ExecStartPost=" NEA_FORWARD_ON "\n"
    "\n"
    "[Install]\n"
    "WantedBy=multi-user.target\n";

/* Live changes of the tenant networks (a vNIC hot-plugged or unplugged
 * after the seed medium was swapped in the cdrom) reach the guest without
 * a cloud-init run: udev starts neaprov-sync.service when a NIC comes or
 * goes, and the script applies the medium's neaprov/interfaces and
 * neaprov/ruleset.nft.  The text is fixed (no spec data in it): what changes
 * is on the medium.  At the next boot cloud-init applies the same state from
 * network-config (the instance-id has changed with it). */
static const char sync_script[] =
    "#!/bin/sh\n"
    "# neaprov-sync: apply the tenant networks and the nftables ruleset of the\n"
    "# seed medium now in the cdrom, without a cloud-init run.  Written by\n"
    "# neaprov; started by udev (90-neaprov-sync.rules) when a NIC comes or\n"
    "# goes, after a live change.  Safe to run at any time.\n"
    "set -u\n"
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    "log() { echo \"neaprov-sync: $*\" >&2; }\n"
    "# let udev finish naming the NIC that started us (and any other)\n"
    "udevadm settle --timeout=10 >/dev/null 2>&1 || :\n"
    "medium=$(blkid -c /dev/null -t LABEL=cidata -o device 2>/dev/null | head -n 1)\n"
    "[ -n \"$medium\" ] || medium=/dev/sr0\n"
    "mnt=$(mktemp -d /run/neaprov-sync.XXXXXX) || exit 1\n"
    "mounted=0\n"
    "trap '[ \"$mounted\" = 1 ] && umount \"$mnt\"; rmdir \"$mnt\"' EXIT\n"
    "if ! mount -t iso9660 -o ro \"$medium\" \"$mnt\"; then\n"
    "  log \"cannot mount the seed medium $medium\"\n"
    "  exit 1\n"
    "fi\n"
    "mounted=1\n"
    "status=0\n"
    "nft_ok=0\n"
    "# the NIC whose MAC is $1, or nothing\n"
    "nic_of() {\n"
    "  for a in /sys/class/net/*/address; do\n"
    "    [ -r \"$a\" ] || continue\n"
    "    if [ \"$(cat \"$a\")\" = \"$1\" ]; then\n"
    "      d=${a%/address}\n"
    "      echo \"${d##*/}\"\n"
    "      return\n"
    "    fi\n"
    "  done\n"
    "}\n"
    "is_up() {\n"
    "  f=$(cat \"/sys/class/net/$1/flags\" 2>/dev/null) || return 1\n"
    "  [ $((f & 1)) = 1 ]\n"
    "}\n"
    "# one line per tenant network: MAC IFNAME IPV4/PREFIX IPV6/PREFIX|-\n"
    "if [ -r \"$mnt/neaprov/interfaces\" ]; then\n"
    "  while read -r mac name addr4 addr6; do\n"
    "    case $mac in '' | '#'*) continue ;; esac\n"
    "    case $name in int[0-9]*) ;; *) log \"bad interface name $name\"; continue ;; esac\n"
    "    nic=$(nic_of \"$mac\")\n"
    "    [ -n \"$nic\" ] || continue # not plugged (yet)\n"    "    if [ \"$nic\" = " NEA_NIC_NAME " ]; then\n"
    "      log \"$mac is the external interface's MAC: left alone\"\n"
    "      status=1\n"
    "      continue\n"
    "    fi\n"
    "    if [ \"$nic\" != \"$name\" ] && ! is_up \"$nic\"; then\n"
    "      if ip link set dev \"$nic\" name \"$name\"; then\n"
    "        nic=$name\n"
    "      else\n"
    "        log \"cannot rename $nic to $name\"\n"
    "        status=1\n"
    "      fi\n"
    "    fi\n"
    "    # addresses it no longer has go (a network re-addressed in place)\n"
    "    ip -o addr show dev \"$nic\" scope global | while read -r _ _ fam addr _; do\n"
    "      case $fam in\n"
    "        inet) [ \"$addr\" = \"$addr4\" ] || ip addr del \"$addr\" dev \"$nic\" ;;\n"
    "        inet6) [ \"$addr\" = \"$addr6\" ] || ip addr del \"$addr\" dev \"$nic\" ;;\n"
    "      esac\n"
    "    done\n"
    "    ip -4 addr replace \"$addr4\" dev \"$nic\" || status=1\n"
    "    if [ \"$addr6\" != - ]; then\n"
    "      ip -6 addr replace \"$addr6\" dev \"$nic\" nodad || status=1\n"
    "    fi\n"
    "    ip link set dev \"$nic\" up || status=1\n"
    "  done <\"$mnt/neaprov/interfaces\"\n"
    "fi\n"
    "if [ -r \"$mnt/neaprov/ruleset.nft\" ]; then\n"
    "  mkdir -p /etc/neaprov\n"
    "  tmp=" NEA_NFT_PATH ".new\n"
    "  if cp \"$mnt/neaprov/ruleset.nft\" \"$tmp\" && chmod 0600 \"$tmp\" &&\n"
    "     mv -f \"$tmp\" " NEA_NFT_PATH "; then\n"
    "    if nft -f " NEA_NFT_PATH "; then nft_ok=1; else status=1; fi\n"
    "  else\n"
    "    status=1\n"
    "  fi\n"
    "fi\n"
    "# forwarding only with the ruleset in place: on once it loaded, off if not\n"
    "if [ \"$nft_ok\" = 1 ]; then\n"
    "  " NEA_FORWARD_ON "\n"
    "else\n"
    "  sysctl -q -w net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0\n"
    "fi\n"
    "umount \"$mnt\" && mounted=0\n"
    "sync\n"
    "exit $status\n";

static const char sync_unit[] =
    "[Unit]\n"
    "Description=neaprov: apply tenant networks and ruleset of the seed medium\n"
    "After=cloud-init.service systemd-networkd.service\n"
    "\n"
    "[Service]\n"
    "Type=oneshot\n"
    "ExecStart=/bin/sh -c 'while :; do rm -f /run/neaprov-sync.again; "
    "/usr/local/sbin/neaprov-sync; st=$$?; [ -e /run/neaprov-sync.again ] || exit $$st; "
    "done'\n";

static const char sync_udev_rule[] =
    "# neaprov: a NIC came or went (a tenant network vNIC hot-plugged or\n"
    "# unplugged): apply the seed medium's tenant networks and ruleset.\n"
    "# The mark asks a pass under way for another one: the medium may have\n"
    "# changed under it.\n"
    "SUBSYSTEM==\"net\", ACTION==\"add|remove\", KERNEL!=\"lo\", "
    "RUN+=\"/bin/touch /run/neaprov-sync.again\", "
    "RUN+=\"/bin/systemctl --no-block start neaprov-sync.service\"\n";

static int build_user_data(const struct nea_spec *s, char **ret_buf, size_t *ret_len,
                           struct nea_err *err)
{
    bool sync = s->plan->tnet.mode != NEA_TNET_NONE;
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
    em_file(&em, "/etc/systemd/system/neaprov-nft.service", "0644",
            sync ? nft_unit_forwarding : nft_unit);
    em_file(&em, "/etc/sysctl.d/60-neaprov-forwarding.conf", "0644",
            sync ? ra_conf : forwarding_conf);
    if (sync) {
        em_file(&em, "/usr/local/sbin/neaprov-sync", "0755", sync_script);
        em_file(&em, "/etc/systemd/system/neaprov-sync.service", "0644", sync_unit);
        em_file(&em, "/etc/udev/rules.d/90-neaprov-sync.rules", "0644", sync_udev_rule);
    }
    em_seq_end(&em);
    if (sync) {
        /* every boot, in cloud-init's init stage (before sshd, so before
         * the appliance answers as ready): the ruleset of the medium, then
         * forwarding; write_files comes after bootcmd, so the script runs
         * from here, not from its file */
        em_plain(&em, "bootcmd");
        em_seq_start(&em);
        static const char *const b1[] = {"sh", "-c", sync_script, "neaprov-sync", NULL};
        em_cmd(&em, b1);
        em_seq_end(&em);
    }
    em_plain(&em, "runcmd");
    em_seq_start(&em);
    static const char *const c1[] = {"sysctl", "--system", NULL};
    static const char *const c2[] = {"systemctl", "enable", "neaprov-nft.service", NULL};
    static const char *const c3[] = {"systemctl", "restart", "neaprov-nft.service", NULL};
    em_cmd(&em, c1);
    em_cmd(&em, c2);
    em_cmd(&em, c3);
    if (sync) {
        static const char *const c4[] = {"systemctl", "daemon-reload", NULL};
        static const char *const c5[] = {"udevadm", "control", "--reload", NULL};
        em_cmd(&em, c4);
        em_cmd(&em, c5);
    }
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

static int by_slot_cmp(const void *a, const void *b)
{
    const struct nea_tnet *x = *(const struct nea_tnet *const *)a;
    const struct nea_tnet *y = *(const struct nea_tnet *const *)b;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

void nea_tnets_by_slot(const struct nea_spec *s, const struct nea_tnet **ret)
{
    for (size_t i = 0; i < s->n_tnets; i++)
        ret[i] = &s->tnets[i];
    if (s->n_tnets > 1)
        qsort(ret, s->n_tnets, sizeof(*ret), by_slot_cmp);
}

/* neaprov/interfaces: plain words, since a POSIX sh `read` takes it apart
 * in the guest; every word is formatted here (MAC, "int<slot>", addresses),
 * none comes from text of the spec. */
static void build_interfaces(const struct nea_spec *s, char **ret_buf, size_t *ret_len)
{
    FILE *f = open_memstream(ret_buf, ret_len);
    if (!f)
        abort();
    fputs("# neaprov tenant networks: MAC IFNAME IPV4/PREFIX IPV6/PREFIX (- none)\n", f);
    const struct nea_tnet **by_slot = nea_xcalloc(s->n_tnets ? s->n_tnets : 1,
                                                  sizeof(*by_slot));
    nea_tnets_by_slot(s, by_slot);
    for (size_t k = 0; k < s->n_tnets; k++) {
        const struct nea_tnet *t = by_slot[k];
        char mac[18], ifn[16], a4[NEA_IP_STRLEN], a6[NEA_IP_STRLEN] = "";
        nea_mac_format(t->mac, mac);
        nea_tnet_ifname(t->slot, ifn);
        nea_ip_format(&t->gw4, a4);
        if (t->has_v6)
            nea_ip_format(&t->gw6, a6);
        fprintf(f, "%s %s %s/%u ", mac, ifn, a4, t->prefix4);
        if (t->has_v6)
            fprintf(f, "%s/%u\n", a6, t->prefix6);
        else
            fputs("-\n", f);
    }
    free(by_slot);
    fclose(f);
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
    if (rc == NEA_OK && spec->plan->tnet.mode != NEA_TNET_NONE) {
        seed.ruleset = nea_nft_ruleset(spec);
        seed.ruleset_len = strlen(seed.ruleset);
        build_interfaces(spec, &seed.interfaces, &seed.interfaces_len);
    }
    if (rc == NEA_OK) {
        struct nea_sha256 h;
        uint8_t d[NEA_SHA256_LEN];
        char hex[NEA_SHA256_HEX_LEN + 1];
        nea_sha256_init(&h);
        nea_sha256_update(&h, spec->name, strlen(spec->name) + 1);
        nea_sha256_update(&h, seed.user_data, seed.user_data_len);
        nea_sha256_update(&h, "", 1);
        nea_sha256_update(&h, seed.network_config, seed.network_config_len);
        /* the ruleset is in user-data already; appliances without tenant
         * networks keep the instance-id they always had */
        if (seed.interfaces) {
            nea_sha256_update(&h, "", 1);
            nea_sha256_update(&h, seed.interfaces, seed.interfaces_len);
        }
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
    free(seed->ruleset);
    free(seed->interfaces);
    memset(seed, 0, sizeof(*seed));
}

#!/usr/bin/python3
"""Check a rendered appliance directory with the real consumer tools.

Usage: check_consumers.py OUTDIR EXPECT_JSON

OUTDIR holds what `neaprov render` writes: domain.xml, seed.iso, meta-data,
user-data, network-config.  EXPECT_JSON says what the appliance should get:

    {"mac": "52:54:00:0a:0b:0c",
     "ipv4": {"mode": "static", "address": "192.0.2.10", "prefix": 24,
              "gateway": "192.0.2.1"},        # or {"mode": "dhcp"|"disabled"}
     "ipv6": {"mode": "static", ...},         # or "auto" (SLAAC)|"dhcp"|"disabled"
     "dns": ["192.0.2.53", "2001:db8::53"],
     # only for a plan with tenant-networks (the key turns on the checks of
     # the seed's neaprov/ directory and of neaprov-sync):
     "tnets": [{"name": "web", "mac": "52:54:00:cc:92:38", "ifname": "int0",
                "ipv4": "198.51.100.65/28", "ipv6": null, "internet": true,
                "source": {"network": "nea-net.acme.web"},  # or
                          # {"bridge": "br-tn", "vlan": 100}
                "pci": {"bus": "0x10", "slot": "0x00"}}]}

Golden files only prove that the output did not change; this script proves
that the programs that read it at deploy and boot time accept it and read
what we meant:

1. libvirt: `virt-xml-validate domain.xml domain` (libvirt's RelaxNG
   schemas), and the vNIC carries the MAC that network-config matches on.
2. blkid: seed.iso is iso9660 with the NoCloud volume label cidata.
3. isoinfo: the ISO root holds exactly meta-data, user-data and
   network-config under their Rock Ridge and their Joliet names (without
   them cloud-init sees ISO level-1 names such as USER_DAT.), and the files
   in the ISO are byte for byte the loose files.
4. cloud-init: meta-data has an instance-id; user-data starts with
   #cloud-config and passes `cloud-init schema` (errors and deprecations).
5. cloud-init's renderers: network-config is version 1 and matches the NIC
   by MAC; `cloud-init devel net-convert` turns it into ENI, networkd,
   netplan and sysconfig configuration, and in each result we check the
   addresses with their prefixes, both default routes (a v2 route to ::/0
   comes out as ::/64 in 22.4), the DHCP/SLAAC settings, the DNS servers,
   and that no IP literal appears that we did not ask for.
6. Tenant networks: each vNIC is in domain.xml with its MAC, source and
   PCI address (on q35, on a pcie-root-port of that index); network-config
   has one more physical entry per network (address, no gateway), and every
   renderer puts the address with its prefix on that NIC and no route; the
   ISO holds neaprov/interfaces (what expect says) and neaprov/ruleset.nft
   (the ruleset user-data writes); neaprov-sync passes `dash -n` (and
   shellcheck, when installed).
7. nftables: `nft -c -f` accepts the ruleset user-data writes (in a network
   namespace of its own: `unshare --net`, root only; skipped otherwise), and
   with tenant networks it forwards and source-NATs what expect says.

Forms measured with Debian 12's cloud-init 22.4 (net-convert, v1 input):

  mode      eni                  networkd          netplan         sysconfig
  v4 static inet static,         [Address],        addresses,      BOOTPROTO=none,
            address A/P,gateway  [Route] Gateway=  gateway4        IPADDR,NETMASK,GATEWAY
  v4 dhcp   inet dhcp            DHCP=ipv4         dhcp4: true     BOOTPROTO=dhcp
  v6 static inet6 static         [Address],        addresses,      IPV6INIT=yes,IPV6ADDR=A/P,
                                 [Route] Gateway=  gateway6        IPV6_AUTOCONF=no,
                                                                   IPV6_DEFAULTGW
  v6 auto   inet6 auto           nothing (*)       dhcp6: true (*) IPV6INIT=yes,
            (+ "dhcp 0" if first)                                  IPV6_AUTOCONF=yes
  v6 dhcp   inet6 dhcp           DHCP=ipv6         dhcp6: true (*) IPV6INIT=yes,DHCPV6C=yes
  both dhcp                      DHCP=yes
  disabled  no stanza            nothing           nothing         no IPADDR / no IPV6INIT

  (*) networkd cannot tell SLAAC from disabled (it accepts RAs by default),
      netplan cannot tell SLAAC from DHCPv6; the checks accept either there.

DNS servers: see dns_dropped_by() (networkd, netplan and sysconfig drop the
dns_nameservers of a dhcp4/dhcp6/ipv6_slaac subnet).  Every check prints
one line, "ok: ..." on stdout or "FAIL: ..." on stderr; the exit status is 0
when all pass, 1 otherwise, 2 for a usage error.
"""

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import yaml

SEED_FILES = ("meta-data", "network-config", "user-data")
# with tenant networks: what neaprov-sync reads from the medium after a live change
SYNC_DIR = "neaprov"
SYNC_FILES = ("interfaces", "ruleset.nft")
NFT_PATH = "/etc/neaprov/public-ip-rules.nft"
SYNC_SCRIPT = "/usr/local/sbin/neaprov-sync"
RENDERERS = ("eni", "networkd", "netplan", "sysconfig")
# net-convert's sysconfig renderer crashes with -D debian in 22.4.
RENDERER_DISTRO = {"eni": "debian", "networkd": "debian", "netplan": "debian",
                   "sysconfig": "centos"}
TOOL_TIMEOUT = 120
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


# --------------------------------------------------------------------------
# small helpers

def run(argv, **kwargs):
    """Run a tool (never through a shell) and capture its output as text."""
    env = dict(os.environ, LC_ALL="C")
    return subprocess.run(argv, capture_output=True, text=True, env=env,
                          timeout=TOOL_TIMEOUT, check=False, **kwargs)


def tool_output(proc):
    """stdout and stderr of a finished tool, on one line for messages."""
    text = (proc.stdout or "") + (proc.stderr or "")
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def load_yaml(path):
    """Parse a YAML file the way cloud-init does (PyYAML safe_load)."""
    return yaml.safe_load(read_text(path))


def norm_mac(value):
    return value.strip().lower() if isinstance(value, str) else None


def fmt(addrs):
    return ", ".join(str(a) for a in sorted(addrs, key=lambda a: (a.version, a))) or "none"


def dedup(seq):
    out = []
    for item in seq:
        if item not in out:
            out.append(item)
    return out


class Tnet:
    """One tenant network of EXPECT_JSON."""

    def __init__(self, data):
        self.name = data["name"]
        self.mac = norm_mac(data["mac"])
        if not self.mac or not MAC_RE.match(self.mac):
            raise ValueError(f"tnets {self.name}: mac {data['mac']!r} is not a MAC address")
        self.ifname = data["ifname"]
        self.ipv4 = ipaddress.ip_interface(data["ipv4"])
        self.ipv6 = ipaddress.ip_interface(data["ipv6"]) if data.get("ipv6") else None
        if self.ipv4.version != 4 or (self.ipv6 and self.ipv6.version != 6):
            raise ValueError(f"tnets {self.name}: address of the wrong family")
        self.internet = bool(data.get("internet"))
        self.source = data["source"]
        self.pci = data["pci"]

    def addresses(self):
        return {a for a in (self.ipv4, self.ipv6) if a}

    def line(self):
        """Its line of neaprov/interfaces."""
        return f"{self.mac} {self.ifname} {self.ipv4} {self.ipv6 or '-'}"


class Expect:
    """EXPECT_JSON, parsed into ipaddress objects."""

    def __init__(self, data):
        self.mac = norm_mac(data["mac"])
        if not self.mac or not MAC_RE.match(self.mac):
            raise ValueError(f"mac {data['mac']!r} is not a MAC address")
        self.mode = {}
        self.iface = {}      # family -> ip_interface (static only)
        self.gateway = {}    # family -> ip_address (static only)
        for fam, version, modes in (("ipv4", 4, ("disabled", "dhcp", "static")),
                                    ("ipv6", 6, ("disabled", "dhcp", "auto", "static"))):
            spec = data[fam]
            mode = spec["mode"]
            if mode not in modes:
                raise ValueError(f"{fam}.mode {mode!r} is not one of {modes}")
            self.mode[fam] = mode
            if mode == "static":
                iface = ipaddress.ip_interface(f"{spec['address']}/{spec['prefix']}")
                gw = ipaddress.ip_address(spec["gateway"])
                if iface.version != version or gw.version != version:
                    raise ValueError(f"{fam}: address or gateway of the wrong family")
                self.iface[fam] = iface
                self.gateway[fam] = gw
        self.dns = [ipaddress.ip_address(d) for d in data.get("dns", [])]
        # a plan with tenant-networks: the seed has neaprov/ and neaprov-sync
        self.sync = "tnets" in data
        self.tnets = [Tnet(t) for t in data.get("tnets") or []]

    def addresses(self):
        return set(self.iface.values())

    def gateways(self):
        return set(self.gateway.values())


class Context:
    def __init__(self, outdir, expect, scratch):
        self.outdir = outdir
        self.expect = expect
        self.scratch = scratch
        self.netcfg = None        # parsed network-config, if it parses
        self.rendered = {}        # renderer -> Rendered, None if net-convert failed

    def path(self, name):
        return os.path.join(self.outdir, name)


# --------------------------------------------------------------------------
# 1. libvirt

def check_domain_schema(ctx):
    path = ctx.path("domain.xml")
    if not os.path.isfile(path):
        return ["domain.xml is missing"]
    proc = run(["virt-xml-validate", path, "domain"])
    if proc.returncode != 0:
        return [f"virt-xml-validate exit {proc.returncode}: {tool_output(proc)}"]
    return []


def check_domain_mac(ctx):
    try:
        root = ET.parse(ctx.path("domain.xml")).getroot()
    except (OSError, ET.ParseError) as e:
        return [f"cannot parse domain.xml: {e}"]
    ifaces = root.findall("./devices/interface")
    if not ifaces:
        return ["domain.xml has no <devices><interface>"]
    problems = []
    macs = []
    for i, iface in enumerate(ifaces):
        mac_el = iface.find("mac")
        mac = norm_mac(mac_el.get("address")) if mac_el is not None else None
        if not mac:
            problems.append(f"interface {i + 1} has no <mac address>: libvirt "
                            "would pick a random one that network-config cannot match")
        macs.append(mac)
    if macs[0] != ctx.expect.mac:
        problems.append(f"first interface has MAC {macs[0]}, expected {ctx.expect.mac}")
    if macs.count(ctx.expect.mac) > 1:
        problems.append(f"MAC {ctx.expect.mac} is on more than one interface")
    return problems


def check_domain_tnets(ctx):
    """Each tenant network's vNIC: MAC, source, model, PCI address; on q35 a
    pcie-root-port with the bus's index, present at boot for hot-plug."""
    try:
        root = ET.parse(ctx.path("domain.xml")).getroot()
    except (OSError, ET.ParseError) as e:
        return [f"cannot parse domain.xml: {e}"]
    ifaces = root.findall("./devices/interface")
    problems = []
    if len(ifaces) != 1 + len(ctx.expect.tnets):
        problems.append(f"{len(ifaces)} interfaces, expected 1 external + "
                        f"{len(ctx.expect.tnets)} tenant networks")
    by_mac = {}
    for iface in ifaces:
        mac_el = iface.find("mac")
        if mac_el is not None:
            by_mac[norm_mac(mac_el.get("address"))] = iface
    ports = {c.get("index") for c in root.findall("./devices/controller")
             if c.get("type") == "pci" and c.get("model") == "pcie-root-port"}
    machine = (root.find("./os/type").get("machine") or "") if root.find("./os/type") is not None else ""
    i440fx = machine == "pc" or machine.startswith("pc-i440fx")
    for t in ctx.expect.tnets:
        iface = by_mac.get(t.mac)
        if iface is None:
            problems.append(f"{t.name}: no interface with MAC {t.mac}")
            continue
        src = iface.find("source")
        src = dict(src.attrib) if src is not None else {}
        if "network" in t.source:
            if iface.get("type") != "network" or src.get("network") != t.source["network"]:
                problems.append(f"{t.name}: type {iface.get('type')} source {src}, expected "
                                f"network {t.source['network']}")
        else:
            tag = iface.find("./vlan/tag")
            vport = iface.find("virtualport")
            if iface.get("type") != "bridge" or src.get("bridge") != t.source["bridge"]:
                problems.append(f"{t.name}: type {iface.get('type')} source {src}, expected "
                                f"bridge {t.source['bridge']}")
            if tag is None or tag.get("id") != str(t.source["vlan"]):
                problems.append(f"{t.name}: VLAN tag "
                                f"{None if tag is None else tag.get('id')}, expected {t.source['vlan']}")
            if vport is None or vport.get("type") != "openvswitch":
                problems.append(f"{t.name}: no <virtualport type='openvswitch'/> (a VLAN tag "
                                "needs Open vSwitch)")
        model = iface.find("model")
        if model is None or model.get("type") != "virtio":
            problems.append(f"{t.name}: model is not virtio")
        addr = iface.find("address")
        got = None if addr is None else (addr.get("type"), addr.get("bus"), addr.get("slot"))
        if got != ("pci", t.pci["bus"], t.pci["slot"]):
            problems.append(f"{t.name}: address {got}, expected pci bus {t.pci['bus']} "
                            f"slot {t.pci['slot']}")
        elif not i440fx and str(int(t.pci["bus"], 16)) not in ports:
            problems.append(f"{t.name}: no pcie-root-port with index {int(t.pci['bus'], 16)} "
                            "for its bus")
    return problems


# --------------------------------------------------------------------------
# 2./3. the seed ISO

def check_iso_label(ctx):
    iso = ctx.path("seed.iso")
    if not os.path.isfile(iso):
        return ["seed.iso is missing"]
    proc = run(["blkid", "-o", "export", iso])
    if proc.returncode != 0:
        return [f"blkid exit {proc.returncode} (no filesystem recognised): {tool_output(proc)}"]
    tags = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    problems = []
    if tags.get("TYPE") != "iso9660":
        problems.append(f"TYPE={tags.get('TYPE')}, expected iso9660")
    # NoCloud accepts the label in either case, nothing else.
    if tags.get("LABEL") not in ("cidata", "CIDATA"):
        problems.append(f"LABEL={tags.get('LABEL')}, expected cidata "
                        "(cloud-init's NoCloud would not find the seed)")
    return problems


def iso_root_listing(iso, flag, directory="/"):
    """Names in an ISO directory as isoinfo shows them with -R or -J."""
    proc = run(["isoinfo", flag, "-l", "-i", iso])
    if proc.returncode != 0:
        raise RuntimeError(f"isoinfo {flag} -l exit {proc.returncode}: {tool_output(proc)}")
    names, in_root = [], False
    for line in proc.stdout.splitlines():
        if line.startswith("Directory listing of "):
            in_root = line.strip() == "Directory listing of " + directory
            records = 0
            continue
        # e.g. "-rw-r--r--   1    0    0     68 Nov 27 2026 [     31 00]  meta-data "
        m = re.match(r"^\S{10}\s.*\]\s\s(.*?) ?$", line)
        if not (in_root and m):
            continue
        records += 1
        # The first two records are "." and ".."; libisofs writes no Rock
        # Ridge name for them, so isoinfo -R shows them blank.
        if records <= 2 and m.group(1) in ("", ".", ".."):
            continue
        names.append(m.group(1))
    return names


def check_iso_names(ctx, flag, what):
    iso = ctx.path("seed.iso")
    if not os.path.isfile(iso):
        return ["seed.iso is missing"]
    try:
        names = iso_root_listing(iso, flag)
    except RuntimeError as e:
        return [f"{e} (no {what} extension?)"]
    problems = []
    want = set(SEED_FILES) | ({SYNC_DIR} if ctx.expect.sync else set())
    missing = sorted(want - set(names))
    extra = sorted(set(names) - want)
    if missing:
        problems.append(f"{what} root lacks {', '.join(missing)}")
    if extra:
        hint = ""
        if any(n.endswith(";1") for n in extra):
            hint = (" (ISO 9660 names: no Rock Ridge?)" if flag == "-R" else
                    " (ISO 9660 version suffixes ';1' in Joliet names: Linux strips them,"
                    " isoinfo and other Joliet readers do not; genisoimage writes none)")
        problems.append(f"{what} root has unexpected {', '.join(extra)}{hint}")
    return problems


def check_iso_contents(ctx):
    iso = ctx.path("seed.iso")
    if not os.path.isfile(iso):
        return ["seed.iso is missing"]
    try:
        listed = {"-R": iso_root_listing(iso, "-R")}
    except RuntimeError as e:
        return [str(e)]
    try:  # a missing Joliet tree is the Joliet check's failure, not ours
        listed["-J"] = iso_root_listing(iso, "-J")
    except RuntimeError:
        pass
    problems = []
    for name in SEED_FILES:
        try:
            with open(ctx.path(name), "rb") as f:
                loose = f.read()
        except OSError as e:
            problems.append(f"loose {name}: {e.strerror}")
            continue
        for flag, names in listed.items():
            # isoinfo -x of a missing file prints nothing and exits 0:
            # only extract what the listing shows (a name missing from the
            # Joliet tree is reported by the Joliet check).
            if name not in names:
                if flag == "-R":
                    problems.append(f"{name} is not in the ISO")
                continue
            proc = subprocess.run(["isoinfo", flag, "-x", "/" + name, "-i", iso],
                                  capture_output=True, timeout=TOOL_TIMEOUT, check=False)
            if proc.returncode != 0:
                problems.append(f"isoinfo {flag} -x /{name} exit {proc.returncode}")
            elif proc.stdout != loose:
                problems.append(f"{name} in the ISO ({flag}, {len(proc.stdout)} bytes) "
                                f"differs from the loose file ({len(loose)} bytes)")
    return problems


def user_data_file(ctx, path):
    """The content of write_files entry `path` of user-data, or None."""
    try:
        ud = load_yaml(ctx.path("user-data"))
    except (OSError, yaml.YAMLError):
        return None
    for f in (ud or {}).get("write_files") or []:
        if isinstance(f, dict) and f.get("path") == path:
            return f.get("content")
    return None


def check_iso_sync(ctx):
    """neaprov/ of the medium: exactly interfaces and ruleset.nft, under both
    name extensions; the ruleset is user-data's, the interfaces are expect's."""
    iso = ctx.path("seed.iso")
    problems = []
    for flag, what in (("-R", "Rock Ridge"), ("-J", "Joliet")):
        try:
            names = iso_root_listing(iso, flag, f"/{SYNC_DIR}/")
        except RuntimeError as e:
            return [str(e)]
        if sorted(names) != sorted(SYNC_FILES):
            problems.append(f"{what} /{SYNC_DIR}/ holds {sorted(names)}, expected "
                            f"{sorted(SYNC_FILES)}")
    got = {}
    for name in SYNC_FILES:
        proc = run(["isoinfo", "-R", "-x", f"/{SYNC_DIR}/{name}", "-i", iso])
        if proc.returncode != 0:
            problems.append(f"isoinfo -R -x /{SYNC_DIR}/{name} exit {proc.returncode}")
        got[name] = proc.stdout
    ruleset = user_data_file(ctx, NFT_PATH)
    if ruleset is None:
        problems.append(f"user-data writes no {NFT_PATH}")
    elif got.get("ruleset.nft") != ruleset:
        problems.append(f"/{SYNC_DIR}/ruleset.nft differs from the ruleset user-data writes")
    lines = [l for l in (got.get("interfaces") or "").splitlines()
             if l.strip() and not l.startswith("#")]
    # slot order: int0, int1, ... (int10 after int9)
    want = [t.line() for t in sorted(ctx.expect.tnets, key=lambda t: int(t.ifname[3:]))]
    if lines != want:
        problems.append(f"/{SYNC_DIR}/interfaces has {lines}, expected {want}")
    return problems


def check_sync_script(ctx):
    """neaprov-sync: POSIX sh (dash -n), shellcheck when installed; the
    service and the udev rule that start it."""
    script = user_data_file(ctx, SYNC_SCRIPT)
    if script is None:
        return [f"user-data writes no {SYNC_SCRIPT}"]
    path = os.path.join(ctx.scratch, "neaprov-sync")
    with open(path, "w", encoding="utf-8") as f:
        f.write(script)
    problems = []
    proc = run(["dash", "-n", path])
    if proc.returncode != 0:
        problems.append(f"dash -n: {tool_output(proc)}")
    if shutil.which("shellcheck"):
        proc = run(["shellcheck", "-s", "sh", path])
        if proc.returncode != 0:
            problems.append(f"shellcheck: {tool_output(proc)}")
    unit = user_data_file(ctx, "/etc/systemd/system/neaprov-sync.service") or ""
    # the script, again while a NIC came meanwhile (the rule's mark)
    exec_line = next((l for l in unit.splitlines() if l.startswith("ExecStart=")), "")
    if (SYNC_SCRIPT not in exec_line or "/run/neaprov-sync.again" not in exec_line
            or "Type=oneshot" not in unit):
        problems.append("neaprov-sync.service does not run the script (again when marked)")
    rule = user_data_file(ctx, "/etc/udev/rules.d/90-neaprov-sync.rules") or ""
    if ('SUBSYSTEM=="net"' not in rule or "start neaprov-sync.service" not in rule
            or "touch /run/neaprov-sync.again" not in rule):
        problems.append("no udev rule starts neaprov-sync.service for NICs")
    return problems


# --------------------------------------------------------------------------
# 4. meta-data and user-data

def check_meta_data(ctx):
    try:
        meta = load_yaml(ctx.path("meta-data"))
    except (OSError, yaml.YAMLError) as e:
        return [f"meta-data: {e}"]
    if not isinstance(meta, dict):
        return ["meta-data is not a YAML mapping"]
    iid = meta.get("instance-id")
    if not isinstance(iid, str) or not iid.strip():
        return [f"instance-id is {iid!r}, expected a non-empty string"]
    # If domain.xml records the instance-id in our metadata, they must agree.
    try:
        root = ET.parse(ctx.path("domain.xml")).getroot()
        recorded = [el.text for el in root.iter() if el.tag.endswith("}instance-id")]
    except (OSError, ET.ParseError):
        recorded = []
    if recorded and recorded[0] != iid:
        return [f"instance-id {iid!r} differs from domain.xml metadata {recorded[0]!r}"]
    return []


def check_user_data_header(ctx):
    try:
        with open(ctx.path("user-data"), "rb") as f:
            first = f.readline()
    except OSError as e:
        return [f"user-data: {e.strerror}"]
    if first.rstrip(b"\n") != b"#cloud-config":
        return [f"first line is {first!r}, expected exactly '#cloud-config'"]
    return []


def check_user_data_schema(ctx):
    # cloud-init 22.4: exit 0 and "Valid cloud-config: F" when valid; exit 1
    # and "Error: Cloud config schema errors: ..." on stderr otherwise;
    # deprecations are printed to stdout with exit 0: we count them as errors.
    # Unknown top-level keys pass; a file holding only "#cloud-config" fails
    # ("Cloud-config is not a YAML dict") although cloud-init boots with it.
    path = ctx.path("user-data")
    if not os.path.isfile(path):
        return ["user-data is missing"]
    proc = run(["cloud-init", "schema", "--config-file", path])
    out = tool_output(proc)
    if proc.returncode != 0 or "Valid cloud-config" not in proc.stdout:
        return [f"cloud-init schema exit {proc.returncode}: {out}"]
    if "deprecat" in out.lower():
        return [f"cloud-init schema reports deprecations: {out}"]
    return []


# --------------------------------------------------------------------------
# 5. network-config itself

def physical_entries(netcfg):
    if isinstance(netcfg, dict) and isinstance(netcfg.get("config"), list):
        return [c for c in netcfg["config"]
                if isinstance(c, dict) and c.get("type") == "physical"]
    return []


def interface_name(netcfg):
    """The NIC name network-config gives (what the renderers write)."""
    phys = physical_entries(netcfg)
    if phys and isinstance(phys[0].get("name"), str):
        return phys[0]["name"]
    if isinstance(netcfg, dict) and isinstance(netcfg.get("ethernets"), dict):
        for key, eth in netcfg["ethernets"].items():
            return (eth or {}).get("set-name", key)
    return "ext0"


def subnet_family(subnet):
    t = subnet.get("type")
    if t in ("dhcp", "dhcp4"):
        return "ipv4"
    if t in ("dhcp6", "ipv6_slaac", "ipv6_dhcpv6-stateless", "ipv6_dhcpv6-stateful",
             "static6"):
        return "ipv6"
    if t == "static":
        return "ipv6" if ":" in str(subnet.get("address", "")) else "ipv4"
    return None


def check_network_config(ctx):
    try:
        netcfg = load_yaml(ctx.path("network-config"))
    except (OSError, yaml.YAMLError) as e:
        return [f"network-config: {e}"]
    ctx.netcfg = netcfg
    if not isinstance(netcfg, dict):
        return ["network-config is not a YAML mapping"]
    if netcfg.get("version") != 1:
        return [f"version is {netcfg.get('version')!r}, expected 1 (version 2 routes "
                "to default/::/0 break the eni, networkd and sysconfig renderers)"]
    phys = physical_entries(netcfg)
    if len(phys) != 1 + len(ctx.expect.tnets):
        return [f"{len(phys)} 'type: physical' entries, expected "
                f"{1 + len(ctx.expect.tnets)} (the external NIC first, then one per "
                "tenant network)"]
    nic = phys[0]
    problems = []
    mac = nic.get("mac_address")
    if not isinstance(mac, str):
        problems.append(f"mac_address is {mac!r} ({type(mac).__name__}): it must be a "
                        "quoted string (YAML 1.1 reads 52:54:00:11:22:33 as a number)")
    elif norm_mac(mac) != ctx.expect.mac:
        problems.append(f"mac_address {mac}, expected {ctx.expect.mac}")
    subnets = nic.get("subnets") or []
    by_fam = {"ipv4": [], "ipv6": []}
    for s in subnets:
        fam = subnet_family(s) if isinstance(s, dict) else None
        if fam is None:
            problems.append(f"subnet {s!r} has no known type")
        else:
            by_fam[fam].append(s)
    want_types = {"ipv4": {"dhcp": {"dhcp4", "dhcp"}, "static": {"static"}},
                  "ipv6": {"dhcp": {"dhcp6", "ipv6_dhcpv6-stateful"},
                           "auto": {"ipv6_slaac"}, "static": {"static6", "static"}}}
    for fam in ("ipv4", "ipv6"):
        mode, got = ctx.expect.mode[fam], by_fam[fam]
        if mode == "disabled":
            if got:
                problems.append(f"{fam} is disabled but has subnets of type "
                                f"{', '.join(s['type'] for s in got)}")
            continue
        if len(got) != 1 or got[0]["type"] not in want_types[fam][mode]:
            problems.append(f"{fam} {mode}: expected one subnet of type "
                            f"{'/'.join(sorted(want_types[fam][mode]))}, got "
                            f"{[s.get('type') for s in got]}")
            continue
        if mode == "static":
            s = got[0]
            try:
                addr = ipaddress.ip_interface(str(s.get("address")))
                gw = ipaddress.ip_address(str(s.get("gateway")))
            except ValueError as e:
                problems.append(f"{fam} subnet: {e}")
                continue
            if addr != ctx.expect.iface[fam]:  # compares the prefix too
                problems.append(f"{fam} address {addr}, expected {ctx.expect.iface[fam]}")
            if gw != ctx.expect.gateway[fam]:
                problems.append(f"{fam} gateway {gw}, expected {ctx.expect.gateway[fam]}")
    dns = []
    for src in dns_sources(netcfg):
        dns.extend(src[1])
    try:
        dns = dedup(ipaddress.ip_address(str(d)) for d in dns)
    except ValueError as e:
        problems.append(f"dns: {e}")
    else:
        if dns != ctx.expect.dns:
            problems.append(f"DNS servers [{', '.join(map(str, dns))}], expected "
                            f"[{', '.join(map(str, ctx.expect.dns))}]")
    return problems


def check_network_config_tnets(ctx):
    """One physical entry per tenant network, after the external one: its
    MAC, name int<slot>, a static (and static6) subnet with the appliance's
    address and no gateway (the appliance is the gateway)."""
    if ctx.netcfg is None:
        return ["network-config did not parse"]
    phys = physical_entries(ctx.netcfg)
    problems = []
    want_names = [t.ifname for t in sorted(ctx.expect.tnets, key=lambda t: int(t.ifname[3:]))]
    got_names = [p.get("name") for p in phys[1:]]
    if got_names != want_names:
        problems.append(f"tenant network entries {got_names}, expected {want_names} "
                        "(slot order, after the external NIC)")
    by_name = {p.get("name"): p for p in phys[1:]}
    for t in ctx.expect.tnets:
        nic = by_name.get(t.ifname)
        if nic is None:
            continue
        mac = nic.get("mac_address")
        if not isinstance(mac, str) or norm_mac(mac) != t.mac:
            problems.append(f"{t.ifname}: mac_address {mac!r}, expected \"{t.mac}\"")
        subnets = nic.get("subnets") or []
        want = [("static", t.ipv4)] + ([("static6", t.ipv6)] if t.ipv6 else [])
        got = []
        for sub in subnets:
            try:
                got.append((sub.get("type"), ipaddress.ip_interface(str(sub.get("address")))))
            except ValueError as e:
                problems.append(f"{t.ifname}: {e}")
            extra = sorted(set(sub) - {"type", "address"})
            if extra:
                problems.append(f"{t.ifname}: subnet {sub.get('type')} has {', '.join(extra)}"
                                " (a tenant network has the appliance's address only: no "
                                "gateway, no DNS)")
        if got != want:
            problems.append(f"{t.ifname}: subnets {[(k, str(a)) for k, a in got]}, expected "
                            f"{[(k, str(a)) for k, a in want]}")
    return problems


def dns_sources(netcfg):
    """(kind, [servers]) per place network-config v1 lists DNS servers:
    kind is the subnet type, or "global" for a `type: nameserver` entry."""
    out = []
    if not isinstance(netcfg, dict) or netcfg.get("version") != 1:
        return out
    for entry in netcfg.get("config") or []:
        if not isinstance(entry, dict):
            continue
        if entry.get("type") == "nameserver":
            out.append(("global", list(entry.get("address") or [])))
        for s in entry.get("subnets") or []:
            if isinstance(s, dict) and s.get("dns_nameservers"):
                out.append((s.get("type"), list(s["dns_nameservers"])))
    return out


def has_static_subnet(netcfg):
    return any(str(s.get("type", "")).startswith("static")
               for nic in physical_entries(netcfg) for s in nic.get("subnets") or []
               if isinstance(s, dict))


def dns_dropped_by(renderer, netcfg):
    """DNS servers a renderer leaves out *by design* of cloud-init 22.4, given
    where network-config puts them.  Measured with net-convert:
    - dns_nameservers of a static/static6 subnet: all four renderers;
    - dns_nameservers of a dhcp4/dhcp6/ipv6_slaac subnet: eni only;
      networkd, netplan and sysconfig drop them silently;
    - a global `type: nameserver` entry: eni (on the lo stanza), networkd,
      sysconfig (resolv.conf); netplan only if some subnet is static."""
    carried, dropped = set(), set()
    for kind, servers in dns_sources(netcfg):
        if str(kind).startswith("static"):
            ok = True
        elif kind == "global":
            ok = renderer != "netplan" or has_static_subnet(netcfg)
        else:
            ok = renderer == "eni"
        for d in servers:
            try:
                (carried if ok else dropped).add(ipaddress.ip_address(str(d)))
            except ValueError:
                pass
    return dropped - carried


def check_dns_placement(ctx):
    """DNS servers on a dynamic subnet reach only eni; if a static subnet
    exists they belong there, where every renderer reads them."""
    if not ctx.expect.dns or ctx.netcfg is None:
        return []
    kinds = [str(kind) for kind, _ in dns_sources(ctx.netcfg)]
    if kinds and has_static_subnet(ctx.netcfg) and not any(k.startswith("static") or k == "global"
                                                 for k in kinds):
        return [f"dns_nameservers sit on a {'/'.join(kinds)} subnet although a static "
                "subnet exists: networkd, netplan and sysconfig drop them"]
    return []


# --------------------------------------------------------------------------
# 5. net-convert and the parsers of its four outputs

class Rendered:
    """What one renderer's output configures on the NIC."""

    def __init__(self, renderer, root):
        self.renderer = renderer
        self.root = root
        self.problems = []       # binding to the NIC, unparsable lines
        self.addrs = []          # ip_interface
        self.defaults = []       # gateways of default routes
        self.routes = []         # other routes, as text
        self.mode = {"ipv4": "disabled", "ipv6": "disabled"}
        self.dns = []            # ip_address, in order
        self.files = {}          # relative path -> text
        self.evidence = []       # the lines that set the modes, for the report
        self.known = {"ext0"}    # every NIC the output may configure

    def for_nic(self):
        """The same output, read again for another NIC (a tenant network)."""
        other = Rendered(self.renderer, self.root)
        other.files, other.known = self.files, self.known
        return other

    def load_files(self):
        for dirpath, _, names in os.walk(self.root):
            for name in names:
                full = os.path.join(dirpath, name)
                self.files[os.path.relpath(full, self.root)] = read_text(full)

    def matching(self, pattern):
        return {p: t for p, t in sorted(self.files.items()) if re.search(pattern, p)}


def net_convert(ctx, renderer):
    src = ctx.path("network-config")
    dest = os.path.join(ctx.scratch, renderer)
    proc = run(["cloud-init", "devel", "net-convert", "-p", src, "-k", "yaml",
                "-d", dest, "-D", RENDERER_DISTRO[renderer], "-O", renderer])
    if proc.returncode != 0:
        last = [l for l in proc.stderr.splitlines() if l.strip()][-1:] or ["?"]
        raise RuntimeError(f"net-convert -O {renderer} exit {proc.returncode}: "
                           f"{last[0].strip()}")
    r = Rendered(renderer, dest)
    r.load_files()
    if not r.files:
        raise RuntimeError(f"net-convert -O {renderer} wrote nothing")
    return r


def parse_ip(text, where, r):
    try:
        return ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        r.problems.append(f"{where}: {text!r} is not an IP address")
        return None


def add_route(r, dest, gw, where):
    """Record a route; dest None or a /0 network means default."""
    gw_ip = parse_ip(gw, where, r)
    if gw_ip is None:
        return
    if dest in (None, "default"):
        r.defaults.append(gw_ip)
        return
    try:
        net = ipaddress.ip_network(dest, strict=False)
    except ValueError:
        r.problems.append(f"{where}: bad route destination {dest!r}")
        return
    if net.prefixlen == 0:
        r.defaults.append(gw_ip)
    else:
        r.routes.append(f"{dest} via {gw_ip}")


def udev_binds(r, mac, ifname):
    rules = r.matching(r"70-persistent-net\.rules$")
    text = "".join(rules.values()).lower()
    if f'attr{{address}}=="{mac}"' not in text or f'name="{ifname.lower()}"' not in text:
        r.problems.append(f"no udev rule naming {mac} {ifname}")


def eni_stanzas(r):
    """Parse ENI into stanzas {name, family, method, opts: [(key, args, where)]}."""
    stanzas, current, autos = [], None, set()
    for path, text in r.matching(r"^etc/network/").items():
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            words, where = line.split(), f"{path}:{n}"
            if words[0] == "iface" and len(words) == 4:
                current = {"name": words[1], "family": words[2], "method": words[3],
                           "opts": [], "where": where}
                stanzas.append(current)
            elif words[0] in ("auto", "allow-hotplug", "source", "source-directory",
                              "mapping"):
                if words[0] == "auto":
                    autos.update(words[1:])
                current = None
            elif current is None:
                r.problems.append(f"{where}: option outside a stanza: {line}")
            else:
                current["opts"].append((words[0], words[1:], where))
    return stanzas, autos


# what cloud-init's eni renderer writes: "post-up route add [-A inet6]
# default|-net N/P|-host A|N/P gw G [metric M] || true"
ENI_ROUTE = re.compile(r"route add (?:-A inet6 )?(?:(default)|-(?:net|host) (\S+)|(\S+))"
                       r" gw (\S+)")


def parse_eni(r, mac, ifname):
    stanzas, autos = eni_stanzas(r)
    if not stanzas:
        r.problems.append("no iface stanza in etc/network/")
    if ifname not in autos:
        r.problems.append(f"no 'auto {ifname}': the NIC would not come up at boot")
    methods = {"inet": [], "inet6": []}
    for st in stanzas:
        name, family = st["name"], st["family"]
        if name not in (ifname, "lo"):
            if name not in r.known:
                r.problems.append(f"{st['where']}: stanza for unknown interface {name}")
            continue  # another of ours: read on its own
        if name == ifname:
            methods.setdefault(family, []).append(st["method"])
            extra = [f"{k} {' '.join(a)}" for k, a, _ in st["opts"]
                     if k in ("dhcp", "accept_ra")]
            r.evidence.append(" ".join([f"{family} {st['method']}"] + extra))
        opts = {key: args for key, args, _ in st["opts"]}
        for key, args, where in st["opts"]:
            if key == "address":
                # "address A" + "netmask M" is the older form of "address A/P"
                text = args[0]
                if "/" not in text and "netmask" in opts:
                    text += "/" + opts["netmask"][0]
                try:
                    addr = ipaddress.ip_interface(text)
                except ValueError:
                    r.problems.append(f"{where}: bad address {text!r}")
                    continue
                if name != ifname or (addr.version == 6) != (family == "inet6"):
                    r.problems.append(f"{where}: address {addr} in the {name} {family} stanza")
                r.addrs.append(addr)
            elif key == "gateway":
                gw = parse_ip(args[0], where, r)
                if gw is not None:
                    if name != ifname or (gw.version == 6) != (family == "inet6"):
                        r.problems.append(f"{where}: gateway {gw} in the {name} {family} stanza")
                    r.defaults.append(gw)
            elif key == "dns-nameservers":
                r.dns.extend(filter(None, (parse_ip(a, where, r) for a in args)))
            elif key in ("up", "post-up") and "route" in args:
                m = ENI_ROUTE.match(" ".join(args))
                if not m:
                    r.problems.append(f"{where}: unrecognised route command {' '.join(args)}")
                else:
                    add_route(r, None if m.group(1) else (m.group(2) or m.group(3)),
                              m.group(4), where)
    for family, fam in (("inet", "ipv4"), ("inet6", "ipv6")):
        r.mode[fam] = "+".join(methods.get(family, [])) or "disabled"
    udev_binds(r, mac, ifname)


def ini_sections(text):
    """systemd unit syntax with repeated sections: [(section, [(k, v)])]."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            out.append((line[1:-1], []))
        elif "=" in line and out:
            k, v = line.split("=", 1)
            out[-1][1].append((k.strip(), v.strip()))
    return out


def parse_networkd(r, mac, ifname):
    files = r.matching(r"^etc/systemd/network/.*\.network$")
    if len(files) != len(r.known):
        r.problems.append(f"{len(files)} .network files, expected {len(r.known)}")
    dhcp, accept_ra = "no", None
    mine = 0
    for path, text in files.items():
        sections = ini_sections(text)
        match = {k: v for s, kv in sections if s == "Match" for k, v in kv}
        if match.get("Name") != ifname and norm_mac(match.get("MACAddress")) != mac:
            if match.get("Name") not in r.known:
                r.problems.append(f"{path}: [Match] Name={match.get('Name')} is none of ours")
            continue  # another of ours: read on its own
        mine += 1
        if norm_mac(match.get("MACAddress")) != mac:
            r.problems.append(f"{path}: [Match] MACAddress={match.get('MACAddress')}, "
                              f"expected {mac}")
        for section, kv in sections:
            route = {}
            for k, v in kv:
                where = f"{path} [{section}] {k}"
                if k == "Address" and section in ("Address", "Network"):
                    try:
                        r.addrs.append(ipaddress.ip_interface(v))
                    except ValueError:
                        r.problems.append(f"{where}: bad address {v!r}")
                elif section == "Network" and k == "Gateway":
                    add_route(r, None, v, where)
                elif section == "Network" and k == "DNS":
                    r.dns.extend(filter(None, (parse_ip(a, where, r) for a in v.split())))
                elif section == "Network" and k == "DHCP":
                    dhcp = v.lower()
                elif section == "Network" and k == "IPv6AcceptRA":
                    accept_ra = v.lower() in ("yes", "true", "1", "on")
                elif section == "Route":
                    route[k] = v
            if section == "Route":
                if "Gateway" in route:
                    add_route(r, route.get("Destination"), route["Gateway"], f"{path} [Route]")
                else:
                    r.routes.append(f"{route} (no gateway)")
    if mine != 1:
        r.problems.append(f"{mine} .network files match {ifname} ({mac}), expected 1")
    r.evidence.append(f"DHCP={dhcp}")
    if accept_ra is not None:
        r.evidence.append(f"IPv6AcceptRA={'yes' if accept_ra else 'no'}")
    dhcp4 = dhcp in ("yes", "true", "ipv4", "both")
    dhcp6 = dhcp in ("yes", "true", "ipv6", "both")
    for fam, version, dyn in (("ipv4", 4, dhcp4), ("ipv6", 6, dhcp6)):
        static = any(a.version == version for a in r.addrs)
        parts = (["static"] if static else []) + (["dhcp"] if dyn else [])
        r.mode[fam] = "+".join(parts) or "disabled"
    # SLAAC: 22.4 writes nothing for ipv6_slaac; networkd then follows the
    # kernel default and accepts RAs.  So "nothing" means auto-or-disabled.
    if r.mode["ipv6"] == "disabled":
        r.mode["ipv6"] = {None: "auto|disabled", True: "auto", False: "disabled"}[accept_ra]


def parse_netplan(r, mac, ifname):
    files = r.matching(r"^etc/netplan/.*\.yaml$")
    if len(files) != 1:
        r.problems.append(f"{len(files)} netplan files, expected 1")
    for path, text in files.items():
        try:
            doc = yaml.safe_load(text) or {}
            eths = doc["network"]["ethernets"]
        except (yaml.YAMLError, KeyError, TypeError) as e:
            r.problems.append(f"{path}: no network.ethernets ({e})")
            continue
        if set(eths) != r.known:
            r.problems.append(f"{path}: ethernets {sorted(eths)}, expected {sorted(r.known)}")
        for name, eth in eths.items():
            if name != ifname:
                continue  # another of ours: read on its own
            eth = eth or {}
            got = (eth.get("match") or {}).get("macaddress")
            if norm_mac(got) != mac:
                r.problems.append(f"{path}: {name} match.macaddress {got!r}, expected {mac}")
            if eth.get("set-name") != ifname:
                r.problems.append(f"{path}: {name} set-name {eth.get('set-name')!r}, "
                                  f"expected {ifname}")
            for a in eth.get("addresses") or []:
                try:
                    r.addrs.append(ipaddress.ip_interface(str(a)))
                except ValueError:
                    r.problems.append(f"{path}: bad address {a!r}")
            for key in ("gateway4", "gateway6"):
                if key in eth:
                    add_route(r, None, str(eth[key]), f"{path} {key}")
            for route in eth.get("routes") or []:
                add_route(r, str(route.get("to")), str(route.get("via")), f"{path} routes")
            servers = (eth.get("nameservers") or {}).get("addresses") or []
            r.dns.extend(filter(None, (parse_ip(str(a), f"{path} nameservers", r)
                                       for a in servers)))
            r.evidence.extend(f"{k}: {str(eth[k]).lower()}"
                              for k in ("dhcp4", "dhcp6", "accept-ra") if k in eth)
            for fam, version, key in (("ipv4", 4, "dhcp4"), ("ipv6", 6, "dhcp6")):
                static = any(a.version == version for a in r.addrs)
                dyn = eth.get(key) in (True, "true", "yes")
                parts = (["static"] if static else []) + (["dhcp"] if dyn else [])
                r.mode[fam] = "+".join(parts) or "disabled"
            # 22.4 renders ipv6_slaac as dhcp6: true (netplan then accepts RAs
            # and runs a DHCPv6 client), so dhcp6 means dhcp-or-auto.
            if r.mode["ipv6"] == "dhcp" and eth.get("accept-ra") is not False:
                r.mode["ipv6"] = "auto|dhcp"


def shell_vars(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2).strip().strip("\"'")
    return out


def parse_sysconfig(r, mac, ifname):
    scripts = "etc/sysconfig/network-scripts/"
    ifcfg_path = scripts + "ifcfg-" + ifname
    if ifcfg_path not in r.files:
        r.problems.append(f"no {ifcfg_path}")
        return
    ifcfg = shell_vars(r.files[ifcfg_path])
    others = [p for p in r.matching(r"network-scripts/ifcfg-")
              if p != ifcfg_path and p[len(scripts) + 6:] not in r.known]
    if others:
        r.problems.append(f"unexpected {', '.join(others)}")
    if norm_mac(ifcfg.get("HWADDR")) != mac:
        r.problems.append(f"HWADDR={ifcfg.get('HWADDR')}, expected {mac}")
    if ifcfg.get("DEVICE") != ifname:
        r.problems.append(f"DEVICE={ifcfg.get('DEVICE')}, expected {ifname}")
    for key, value in sorted(ifcfg.items()):
        m = re.match(r"^IPADDR(\d*)$", key)
        if m:
            suffix = m.group(1)
            mask = ifcfg.get("PREFIX" + suffix) or ifcfg.get("NETMASK" + suffix)
            try:
                r.addrs.append(ipaddress.ip_interface(f"{value}/{mask}" if mask else value))
            except ValueError:
                r.problems.append(f"{key}={value} with mask {mask!r} is not an address")
    for a in [ifcfg.get("IPV6ADDR")] + ifcfg.get("IPV6ADDR_SECONDARIES", "").split():
        if a:
            try:
                r.addrs.append(ipaddress.ip_interface(a))
            except ValueError:
                r.problems.append(f"IPV6ADDR {a!r} is not an address")
    for key in ("GATEWAY", "IPV6_DEFAULTGW"):
        if ifcfg.get(key):
            add_route(r, None, ifcfg[key], f"{ifcfg_path} {key}")
    route4 = shell_vars(r.files.get(scripts + "route-" + ifname, ""))
    for key, value in route4.items():
        m = re.match(r"^GATEWAY(\d+)$", key)
        if m:
            n = m.group(1)
            dest = f"{route4.get('ADDRESS' + n)}/{route4.get('NETMASK' + n)}"
            add_route(r, dest, value, f"route-{ifname}")
    for line in r.files.get(scripts + "route6-" + ifname, "").splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == "via":
            add_route(r, words[0], words[2], f"route6-{ifname}")
        elif words and not line.startswith("#"):
            r.problems.append(f"route6-{ifname}: unrecognised line {line!r}")
    dns = [ifcfg[k] for k in sorted((k for k in ifcfg if re.match(r"^DNS\d+$", k)),
                                    key=lambda k: int(k[3:]))]
    dns += re.findall(r"^nameserver\s+(\S+)", r.files.get("etc/resolv.conf", ""), re.M)
    r.dns = dedup(filter(None, (parse_ip(d, "DNS", r) for d in dns)))
    r.evidence.extend(f"{k}={ifcfg[k]}" for k in ("BOOTPROTO", "IPV6INIT", "IPV6_AUTOCONF",
                                                  "DHCPV6C") if k in ifcfg)
    yes = lambda k: ifcfg.get(k, "").lower() == "yes"
    v4 = (["static"] if any(a.version == 4 for a in r.addrs) else []) + \
         (["dhcp"] if ifcfg.get("BOOTPROTO") in ("dhcp", "dhcp4") else [])
    r.mode["ipv4"] = "+".join(v4) or "disabled"
    v6 = (["static"] if any(a.version == 6 for a in r.addrs) else []) + \
         (["auto"] if yes("IPV6_AUTOCONF") else []) + (["dhcp"] if yes("DHCPV6C") else [])
    if v6 and not yes("IPV6INIT"):
        r.problems.append(f"IPv6 settings ({'+'.join(v6)}) without IPV6INIT=yes")
    r.mode["ipv6"] = "+".join(v6) or "disabled"
    udev_binds(r, mac, ifname)


PARSERS = {"eni": parse_eni, "networkd": parse_networkd, "netplan": parse_netplan,
           "sysconfig": parse_sysconfig}


def check_convert(ctx, renderer):
    try:
        r = net_convert(ctx, renderer)
    except (RuntimeError, OSError, UnicodeDecodeError) as e:
        ctx.rendered[renderer] = None
        return [str(e)]
    r.known = {interface_name(ctx.netcfg)} | {t.ifname for t in ctx.expect.tnets}
    try:
        PARSERS[renderer](r, ctx.expect.mac, interface_name(ctx.netcfg))
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as e:
        ctx.rendered[renderer] = None
        return [f"cannot read the {renderer} output: {e!r}"]
    ctx.rendered[renderer] = r
    return list(r.problems)


def check_convert_tnet(ctx, renderer, t):
    """A tenant network's NIC in one renderer's output: bound by MAC to its
    name, its address(es) with their prefixes, static, and no route at all
    (the appliance is the gateway there: a default route through a replica
    network would take the appliance's own traffic)."""
    r = ctx.rendered[renderer].for_nic()
    try:
        PARSERS[renderer](r, t.mac, t.ifname)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as e:
        return [f"cannot read the {renderer} output for {t.ifname}: {e!r}"]
    problems = list(r.problems)
    want, got = t.addresses(), set(r.addrs)
    if got != want or len(r.addrs) != len(got):
        problems.append(f"addresses {fmt(r.addrs)}, expected {fmt(want)}")
    if r.defaults or r.routes:
        problems.append(f"routes on a tenant network: default via {fmt(r.defaults)}, "
                        f"others {r.routes}")
    for fam, want_mode in (("ipv4", "static"), ("ipv6", "static" if t.ipv6 else "disabled")):
        if want_mode not in r.mode[fam].split("|"):
            problems.append(f"{fam} renders as {r.mode[fam]}, expected {want_mode}")
    return problems


def check_addresses(ctx, r):
    want, got = ctx.expect.addresses(), set(r.addrs)
    problems = []
    # ip_interface equality includes the prefix: 192.0.2.10/24 != 192.0.2.10/32
    if want - got:
        problems.append(f"missing {fmt(want - got)}")
    if got - want:
        problems.append(f"unexpected {fmt(got - want)}")
    if len(r.addrs) != len(got):
        problems.append("an address is configured twice")
    return problems


def check_default_routes(ctx, r):
    problems = []
    for version, fam in ((4, "ipv4"), (6, "ipv6")):
        got = [g for g in r.defaults if g.version == version]
        want = [ctx.expect.gateway[fam]] if fam in ctx.expect.gateway else []
        if sorted(got) != want:
            problems.append(f"IPv{version} default route via {fmt(got)}, expected {fmt(want)}")
    for route in r.routes:
        hint = " (an IPv6 default route rendered as ::/64?)" if route.startswith("::/") else ""
        problems.append(f"unexpected route {route}{hint}")
    return problems


def check_modes(ctx, r):
    problems = []
    for fam in ("ipv4", "ipv6"):
        want, got = ctx.expect.mode[fam], r.mode[fam]
        if want not in got.split("|") or "+" in got:
            problems.append(f"{fam} renders as {got}, expected {want}")
    return problems


def check_dns(ctx, r):
    dropped = dns_dropped_by(r.renderer, ctx.netcfg)
    want = [d for d in ctx.expect.dns if d not in dropped]
    got = dedup(r.dns)
    if got != want:
        return [f"DNS [{', '.join(map(str, got))}], expected [{', '.join(map(str, want))}]"]
    return []


# a run of hex digits, dots and colons (with at least one of the latter),
# optionally %zone and /prefix, not glued to other word characters
IP_TOKEN = re.compile(r"(?<![\w:.])[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*"
                      r"(?:%[\w.-]+)?(?:/\d{1,3})?(?![\w:.%/])")
MAC_TOKEN = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def ip_literals(r):
    """Every IP literal anywhere in the output, except netmasks (checked with
    the addresses) and default destinations 0.0.0.0/0 and ::/0."""
    found = set()
    for path, text in r.files.items():
        for line in text.splitlines():
            if re.match(r"^\s*NETMASK\d*=", line):
                continue
            for token in IP_TOKEN.findall(line):
                if MAC_TOKEN.match(token):
                    continue
                addr, _, prefix = token.partition("/")
                try:
                    ip = ipaddress.ip_address(addr.split("%")[0])
                except ValueError:
                    continue
                if prefix == "0" and ip.is_unspecified:
                    continue
                found.add(ip)
    return found


def check_ip_literals(ctx, r):
    dropped = dns_dropped_by(r.renderer, ctx.netcfg)
    want = ({a.ip for a in ctx.expect.addresses()} | ctx.expect.gateways()
            | (set(ctx.expect.dns) - dropped)
            | {a.ip for t in ctx.expect.tnets for a in t.addresses()})
    got = ip_literals(r)
    problems = []
    if want - got:
        problems.append(f"missing {fmt(want - got)}")
    if got - want - dropped:
        problems.append(f"unexpected {fmt(got - want - dropped)}")
    return problems


# --------------------------------------------------------------------------
# 7. nftables

def nft_skip_reason():
    if os.geteuid() != 0:
        return "needs root (a network namespace of its own)"
    if not shutil.which("nft", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
        return "no nft (Debian: nftables)"
    if not shutil.which("unshare"):
        return "no unshare (Debian: util-linux)"
    return None


def check_nft_syntax(ctx):
    """nft -c -f: parsed and checked by the kernel's nf_tables (in a network
    namespace of its own, so the host's ruleset is never touched)."""
    ruleset = user_data_file(ctx, NFT_PATH)
    if ruleset is None:
        return [f"user-data writes no {NFT_PATH}"]
    path = os.path.join(ctx.scratch, "ruleset.nft")
    with open(path, "w", encoding="utf-8") as f:
        f.write(ruleset)
    nft = shutil.which("nft", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    proc = run(["unshare", "--net", nft, "-c", "-f", path])
    if proc.returncode != 0:
        return [f"nft -c -f exit {proc.returncode}: {tool_output(proc)}"]
    return []


def chain_lines(ruleset, chain):
    """The rule lines of one chain of the ruleset (stripped)."""
    out, inside = [], False
    for raw in ruleset.splitlines():
        line = raw.strip()
        if line.startswith("chain "):
            inside = line == f"chain {chain} {{"
        elif inside and line == "}":
            inside = False
        elif inside and line:
            out.append(line)
    return out


def check_nft_policy(ctx):
    """What the ruleset forwards and source-NATs, read from its text: without
    tenant networks nothing but the DNAT chain (as before them); with them a
    forward chain that drops by default and lets through, from outside, only
    what a public IP rule DNATed; out to ext0 only with-internet networks,
    each with a source NAT of its subnet(s) and none for the others."""
    ruleset = user_data_file(ctx, NFT_PATH)
    if ruleset is None:
        return [f"user-data writes no {NFT_PATH}"]
    fwd, post = chain_lines(ruleset, "forward"), chain_lines(ruleset, "postrouting")
    if not ctx.expect.tnets:
        if fwd or post or "chain forward" in ruleset:
            return ["a forward or postrouting chain without tenant networks"]
        return []
    problems = []
    if not fwd or "policy drop;" not in fwd[0]:
        problems.append("forward chain missing or not policy drop")
    ext_in = [l for l in fwd if l.startswith('iifname "ext0"')]
    if ext_in != ['iifname "ext0" ct status dnat accept comment "public IP rules"']:
        problems.append(f"from ext0 the forward chain accepts {ext_in}, expected only "
                        "what was DNATed")
    names = sorted(t.ifname for t in ctx.expect.tnets)
    intra = [l for l in fwd if l.startswith("iifname {")]
    if len(intra) != 1 or sorted(re.findall(r'"(int\d+)"', intra[0])) != sorted(names * 2):
        problems.append(f"between the tenant's networks: {intra}, expected {names} both ways")
    for t in ctx.expect.tnets:
        out = [l for l in fwd if l.startswith(f'iifname "{t.ifname}" oifname "ext0"')]
        # out of ext0 only from the network's own subnets (a forged source
        # would leave un-NATed), one accept per family it has
        want = sorted(f'iifname "{t.ifname}" oifname "ext0" '
                      f'{"ip6" if a.version == 6 else "ip"} saddr {a.network} accept '
                      f'comment "{t.name}: internet"' for a in t.addresses())
        if t.internet and sorted(out) != want:
            problems.append(f"{t.name}: with internet, forward to ext0 is {out}, expected {want}")
        if not t.internet and out:
            problems.append(f"{t.name}: without internet but forwarded to ext0")
        for iface in t.addresses():
            fam = "ip6" if iface.version == 6 else "ip"
            snat = [l for l in post if f" {fam} saddr {iface.network} " in l]
            if t.internet and len(snat) != 1:
                problems.append(f"{t.name}: {len(snat)} source NAT rules for {iface.network}, "
                                "expected 1")
            if not t.internet and snat:
                problems.append(f"{t.name}: without internet but source NATed ({snat[0]})")
    return problems


# --------------------------------------------------------------------------
# driver

class Report:
    def __init__(self):
        self.failed = 0
        self.total = 0

    def __call__(self, name, problems):
        self.total += 1
        if problems:
            self.failed += 1
            text = "; ".join(" ".join(p.split()) for p in problems)  # one line
            print(f"FAIL: {name}: {text}", file=sys.stderr, flush=True)
        else:
            print(f"ok: {name}", flush=True)


def main(argv):
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    outdir, expect_path = argv[1], argv[2]
    try:
        with open(expect_path, encoding="utf-8") as f:
            expect = Expect(json.load(f))
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"FAIL: {expect_path}: {e!r}", file=sys.stderr)
        return 2
    if not os.path.isdir(outdir):
        print(f"FAIL: {outdir} is not a directory", file=sys.stderr)
        return 2

    report = Report()
    with tempfile.TemporaryDirectory(prefix="check_consumers.") as scratch:
        ctx = Context(outdir, expect, scratch)
        report("domain.xml: virt-xml-validate domain", check_domain_schema(ctx))
        report(f"domain.xml: vNIC MAC {expect.mac}", check_domain_mac(ctx))
        if expect.tnets:
            report(f"domain.xml: {len(expect.tnets)} tenant network vNICs (MAC, source, "
                   "PCI address, root port)", check_domain_tnets(ctx))
        report("seed.iso: blkid TYPE=iso9660 LABEL=cidata", check_iso_label(ctx))
        report("seed.iso: Rock Ridge root is exactly the seed files",
               check_iso_names(ctx, "-R", "Rock Ridge"))
        report("seed.iso: Joliet root is exactly the seed files",
               check_iso_names(ctx, "-J", "Joliet"))
        report("seed.iso: files equal the loose files", check_iso_contents(ctx))
        if expect.sync:
            report(f"seed.iso: /{SYNC_DIR}/ holds the interfaces and user-data's ruleset",
                   check_iso_sync(ctx))
            report("user-data: neaprov-sync (dash -n, shellcheck), its unit and udev rule",
                   check_sync_script(ctx))
        report("meta-data: instance-id", check_meta_data(ctx))
        report("user-data: first line #cloud-config", check_user_data_header(ctx))
        report("user-data: cloud-init schema", check_user_data_schema(ctx))
        report("network-config: version 1, MAC, subnets, DNS", check_network_config(ctx))
        report("network-config: DNS placement", check_dns_placement(ctx))
        if expect.tnets:
            report("network-config: tenant networks (address, no gateway)",
                   check_network_config_tnets(ctx))
        skip = nft_skip_reason()
        if skip:
            report(f"ruleset: nft -c -f (skipped: {skip})", [])
        else:
            report("ruleset: nft -c -f (unshare --net)", check_nft_syntax(ctx))
        report("ruleset: forwarding and source NAT of the tenant networks",
               check_nft_policy(ctx))
        for renderer in RENDERERS:
            report(f"{renderer}: net-convert and NIC binding", check_convert(ctx, renderer))
            r = ctx.rendered.get(renderer)
            if r is None:
                continue
            report(f"{renderer}: addresses with prefixes", check_addresses(ctx, r))
            report(f"{renderer}: default routes", check_default_routes(ctx, r))
            problems = check_modes(ctx, r)
            report(f"{renderer}: ipv4 {expect.mode['ipv4']}, ipv6 {expect.mode['ipv6']}"
                   f" [{', '.join(r.evidence) or 'nothing'}]", problems)
            report(f"{renderer}: DNS servers", check_dns(ctx, r))
            report(f"{renderer}: IP literals are exactly the expected ones",
                   check_ip_literals(ctx, r))
            for t in expect.tnets:
                report(f"{renderer}: {t.ifname} ({t.name}) has {fmt(t.addresses())} "
                       "and no route", check_convert_tnet(ctx, renderer, t))
    summary = f"{report.total - report.failed}/{report.total} checks passed"
    print(summary, file=sys.stderr if report.failed else sys.stdout)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

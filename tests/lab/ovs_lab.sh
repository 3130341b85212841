#!/usr/bin/env bash
# The Open vSwitch tenant networks lab: one tenant's appliance boots under
# TCG with a private libvirtd (tests/qemu/libvirtd-netns.sh) and a private
# Open vSwitch (tests/qemu/ovs-netns.sh, userspace datapath) in the same
# namespace, on a plan in mode ovs-vlan: each tenant network is a VLAN tag
# on the OVS bridge br-tn, the appliance's vNIC an OVS port with that tag.
# Replicas are network namespaces whose veth is a port of br-tn with their
# network's tag.  Checked from the outside: the tags neaprov gave out and
# the appliance's ports with them, source NAT, 1:1 source NAT of a rule's
# target, no way out of a without-internet network, DNAT from the public
# IPs (IPv4 and IPv6), VLAN isolation (an intruder on another tag inside
# web's subnet reaches nothing and is reached by nothing; the same port on
# web's tag does: the control), a network hot-plugged and one unplugged by
# apply without a reboot, and destroy leaving no port of the appliance.
#
# Topology (documentation addresses only, all inside namespaces made here):
#   $NEA_NETNS (the harness's; the SP gateway, libvirtd, ovsdb-server and
#     ovs-vswitchd): br-ext 192.0.2.1/24, 2001:db8::1/64, forwarding on;
#     the public pool 203.0.113.0/28 and 2001:db8:200::/64 routed to
#     br-ext; OVS bridge br-tn (datapath netdev), the replicas' veths on it
#   NS-inet ("the internet"): 198.51.100.2/30, 2001:db8:ffff::2/64, a TCP
#     server on port 80 answering each connection with the peer's address
#   NS-REPLICA: one per replica, a TCP server on 8080 answering its name
#
# Usage: ovs_lab.sh NEAPROV SRCDIR
# Exit 77 (skipped) without root, libvirtd, mmdebstrap, nft or ovs-vswitchd.
# NEA_LAB_DIAG=1: print the guest's addresses, routes and nftables ruleset
# (through the guest agent) even when nothing failed.
# shellcheck disable=SC2015,SC2016,SC2154,SC2317  # a && b || fail; guest commands in single quotes; fail: lib.sh; trap, check call functions
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
neaprov=$1 src=$2
if [ "$(id -u)" != 0 ] || ! command -v libvirtd >/dev/null || ! command -v mmdebstrap >/dev/null ||
  ! command -v nft >/dev/null || ! command -v ovs-vswitchd >/dev/null; then
  skip_rest "needs root, libvirtd, mmdebstrap, nft and ovs-vswitchd (scripts/dev.sh test installs the first four; openvswitch-switch: tests/qemu/ovs-netns.sh packages)"
fi
PY=/usr/bin/python3
harness=$src/tests/qemu/libvirtd-netns.sh
ovs=$src/tests/qemu/ovs-netns.sh
scratch=$(mktemp -d)
made_ns=() bg=()
cleanup() {
  local p n
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
  # our namespaces: whatever runs in them (only our listeners), then them
  for n in "${made_ns[@]}"; do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null; done
  done
  wait 2>/dev/null
  for n in "${made_ns[@]}"; do ip netns del "$n" 2>/dev/null; done
  # OVS first (exit --cleanup, while its namespace exists), then libvirtd,
  # the domain and the namespace
  "$ovs" stop "$scratch/lab" "${NEA_NETNS:-}" >/dev/null 2>&1
  "$harness" stop "$scratch/lab" >/dev/null 2>&1
  rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
now() { date +%s.%N; }
secs() { "$PY" -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.0f}')" "$1" "$2"; }

t=$(now)
img=$("$src/lab/build-image.sh") || { bad "the appliance image builds"; done_testing; }
echo "# appliance image: $img ($(secs "$t" "$(now)") s, cached by the script's hash)"
# libvirtd (and the ovs-vsctl it runs for <virtualport type='openvswitch'/>)
# must see the private OVS database: OVS_RUNDIR in its environment
eval "$("$ovs" env "$scratch/lab")"
export OVS_RUNDIR
"$harness" start "$scratch/lab" >/dev/null || { bad "the private libvirtd starts"; done_testing; }
eval "$("$harness" env "$scratch/lab")"
"$ovs" start "$scratch/lab" "$NEA_NETNS" >/dev/null || { bad "the private Open vSwitch starts"; done_testing; }
vsctl() { "$ovs" vsctl "$scratch/lab" "$@"; }
vsctl add-br br-tn -- set bridge br-tn datapath_type=netdev ||
  { bad "OVS bridge br-tn (datapath netdev)"; done_testing; }
ok "private libvirtd and Open vSwitch in $NEA_NETNS, OVS bridge br-tn"
in_ns() { ip netns exec "$NEA_NETNS" "$@"; }
V=(virsh -q -c "$NEA_URI")
N=("$neaprov" --state "$scratch/state.db" -p "$scratch/plans" -t "$src/templates/domain.xml"
   --timeout 300 --stop-timeout 60)

# ---- helpers -------------------------------------------------------------
# a TCP server: PORT TEXT; answers each connection with TEXT, or with the
# peer's address when TEXT is "-"; one dual-stack socket
cat > "$scratch/srv.py" <<'PYEOF'
import socket, sys
port, text = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", port))
s.listen(64)
while True:
    c, a = s.accept()
    peer = a[0][7:] if a[0].startswith("::ffff:") else a[0]
    try:
        c.sendall(((peer if text == "-" else text) + "\n").encode())
    except OSError:
        pass
    c.close()
PYEOF
# a TCP client: HOST PORT [TIMEOUT]; prints the first line it is sent
cat > "$scratch/cli.py" <<'PYEOF'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
t = float(sys.argv[3]) if len(sys.argv) > 3 else 3
try:
    c = socket.create_connection((host, port), t)
    c.settimeout(t)
    data = b""
    while not data.endswith(b"\n"):
        d = c.recv(256)
        if not d:
            break
        data += d
    print(data.decode().strip())
except OSError as e:
    print(f"{host}:{port}: {e}", file=sys.stderr)
    sys.exit(1)
PYEOF

# listen NS PORT TEXT: starts the server in NS, waits until it accepts
listen() {
  ip netns exec "$1" "$PY" "$scratch/srv.py" "$2" "$3" </dev/null >/dev/null 2>"$scratch/srv-$1-$2.err" &
  bg+=($!)
  for _ in $(seq 50); do
    ip netns exec "$1" "$PY" "$scratch/cli.py" ::1 "$2" 1 >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "# the server on port $2 in $1 did not start: $(cat "$scratch/srv-$1-$2.err")"
  return 1
}
# mkns NAME: a namespace of ours (removed by the trap), lo up
mkns() {
  ip netns add "$1" || return 1
  made_ns+=("$1")
  ip -n "$1" link set lo up
}
rns() { echo "$NEA_NETNS-$1"; }
# replica NAME TAG ADDR/PREFIX GW [ADDR6/PREFIX GW6]: a namespace whose
# eth0 is a port (r-NAME) of br-tn with VLAN tag TAG, a server on 8080
# answering NAME
replica() {
  local name=$1 tag=$2 ns port=r-$1
  ns=$(rns "$name")
  mkns "$ns" &&
    ip -n "$NEA_NETNS" link add "$port" type veth peer name eth0 netns "$ns" &&
    ip -n "$NEA_NETNS" link set "$port" up &&
    vsctl add-port br-tn "$port" tag="$tag" &&
    ip -n "$ns" addr add "$3" dev eth0 &&
    ip -n "$ns" link set eth0 up &&
    ip -n "$ns" route add default via "$4" dev eth0 || return 1
  if [ -n "${5:-}" ]; then
    ip -n "$ns" addr add "$5" dev eth0 nodad &&
      ip -n "$ns" -6 route add default via "$6" dev eth0 || return 1
  fi
  listen "$ns" 8080 "$name"
}
pings() { ip netns exec "$1" ping -c 1 -W 3 "$2" >/dev/null 2>&1; }
# fetch NS HOST PORT: what a connection from NS to HOST:PORT is told
fetch() { ip netns exec "$1" "$PY" "$scratch/cli.py" "$2" "$3" 3 2>/dev/null; }
# says NS HOST PORT WANT: the connection is told WANT (else says what)
says() {
  local got
  got=$(fetch "$1" "$2" "$3")
  [ "$got" = "$4" ] && return 0
  echo "# from ${1#"$NEA_NETNS"-} to $2:$3: got \"$got\", want \"$4\""
  return 1
}
# says_within SECONDS NS HOST PORT WANT: retried until it holds
says_within() {
  local end=$((SECONDS + $1)) got
  shift
  while :; do
    got=$(fetch "$1" "$2" "$3")
    [ "$got" = "$4" ] && return 0
    [ "$SECONDS" -ge "$end" ] && break
    sleep 1
  done
  echo "# from ${1#"$NEA_NETNS"-} to $2:$3: got \"$got\", want \"$4\" (retried)"
  return 1
}
# settle TENANT WHAT GRACE NS HOST PORT WANT: after apply reported ready,
# the connection is told WANT within GRACE seconds (0: at the first try):
# a check.  When the first try fails: what the guest is doing then (guest
# agent), and how long until it works (up to 150 s), so that the checks
# after it see a settled appliance
settle() {
  local tn=$1 what=$2 grace=$3 t0=$SECONDS got
  shift 3
  got=$(fetch "$1" "$2" "$3")
  if [ "$got" = "$4" ]; then
    ok "$what (at the first try after apply reported ready)"
    return 0
  fi
  echo "# $(date -u +%T) first try from ${1#"$NEA_NETNS"-} to $2:$3 got \"$got\"; in $tn-nea then:"
  guest_sh "$tn-nea" 'date -u +%T; cloud-init status; echo "forwarding $(sysctl -n net.ipv4.ip_forward); nftables.service $(systemctl is-enabled nftables 2>&1); active: nftables $(systemctl is-active nftables) neaprov-nft $(systemctl is-active neaprov-nft) neaprov-sync $(systemctl is-active neaprov-sync)"; echo "nft tables: $(nft list tables | tr "\n" " ")"; journalctl -b -o short-precise -q -u systemd-sysctl -u nftables -u cloud-init -u cloud-config -u cloud-final -u neaprov-nft -u neaprov-sync -u ssh | grep -E "Start|Finish|Stop|listening|Failed" | tail -n 16' 2>&1 | sed 's/^/#   /'
  if says_within 150 "$@"; then
    echo "# $tn: works $((SECONDS - t0)) s after the first try"
  else
    echo "# $tn: still not after 150 s"
  fi
  local when="within $grace s after apply reported ready"
  [ "$grace" = 0 ] && when="at the first try after apply reported ready"
  check "$what ($when)" test $((SECONDS - t0)) -le "$grace" -a "$(fetch "$1" "$2" "$3")" = "$4"
}
# what leaked to the internet host: source . destination . protocol, first
# seen (expires counts down from 2 h)
leaks_now() {
  echo "# $(date -u +%T) leak counter at the internet host: $(packets "$inet" leak)"
  ip netns exec "$inet" nft list set inet nealab leak4 2>/dev/null | tr -d '\n\t' | grep -o 'elements = {[^}]*}' | sed 's/^/#   IPv4 /'
  ip netns exec "$inet" nft list set inet nealab leak6 2>/dev/null | tr -d '\n\t' | grep -o 'elements = {[^}]*}' | sed 's/^/#   IPv6 /'
}
# blocked NS HOST [PORT]: neither ping nor a TCP connection to PORT (8080)
# gets through
blocked() {
  local got=""
  ip netns exec "$1" ping -c 1 -W 2 "$2" >/dev/null 2>&1 && got="ping answered"
  fetch "$1" "$2" "${3:-8080}" >/dev/null && got="$got tcp/${3:-8080} answered"
  [ -z "$got" ] && return 0
  echo "# from ${1#"$NEA_NETNS"-} to $2: $got"
  return 1
}
# a counter table in NS: watch NS NAME RULE...: counts packets matching RULE
# in the prerouting hook (filter priority) under the counter NAME
watch() {
  local ns=$1 name=$2
  shift 2
  ip netns exec "$ns" nft -f - <<NFT || return 1
table inet nealab {
  counter $name { }
  chain pre { type filter hook prerouting priority -300; policy accept; }
}
NFT
  ip netns exec "$ns" nft add rule inet nealab pre "$@" counter name "$name"
}
packets() { ip netns exec "$1" nft list counter inet nealab "$2" 2>/dev/null | awk '$1 == "packets" {print $2}'; }
none_counted() {
  local n
  n=$(packets "$1" "$2")
  [ "$n" = 0 ] && return 0
  echo "# counter $2 in ${1#"$NEA_NETNS"-}: ${n:-unreadable} packets"
  return 1
}
# json FILE PYTHON-EXPR: prints the expression over the document d
json() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval(sys.argv[2]); print(r if r is not None else "")' "$1" "$2"; }
# guest_sh DOMAIN COMMAND: runs COMMAND in the guest (guest agent's
# guest-exec), prints its output
guest_sh() {
  local req pid st
  req=$("$PY" -c 'import json,sys; print(json.dumps({"execute": "guest-exec", "arguments": {"path": "/bin/sh", "arg": ["-c", sys.argv[1]], "capture-output": True}}))' "$2")
  pid=$("${V[@]}" qemu-agent-command "$1" "$req" 2>&1 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["return"]["pid"])' 2>/dev/null) ||
    { echo "(guest agent of $1 does not answer)"; return 1; }
  for _ in $(seq 120); do
    st=$("${V[@]}" qemu-agent-command "$1" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}" 2>/dev/null)
    if "$PY" -c '
import base64,json,sys
r = json.loads(sys.argv[1])["return"]
if not r.get("exited"): sys.exit(3)
for k in ("out-data", "err-data"):
    if k in r: sys.stdout.write(base64.b64decode(r[k]).decode(errors="replace"))
' "$st"; then return 0; fi
    sleep 0.5
  done
  echo "(guest-exec in $1 did not finish in 60 s: $st)"
}
# diag TENANT: what the appliance has (addresses, routes, forwarding,
# nftables ruleset, neaprov's files and units), as comment lines
diag() {
  echo "# ---- $1-nea: domiflist"
  "${V[@]}" domiflist "$1-nea" 2>&1 | sed 's/^/#   /'
  echo "# ---- $1-nea: inside the guest (guest agent)"
  guest_sh "$1-nea" 'ip -br link; ip -br addr; ip route; ip -6 route; sysctl net.ipv4.ip_forward net.ipv6.conf.all.forwarding; nft list ruleset; ls -l /etc/neaprov /etc/udev/rules.d 2>&1; systemctl --no-pager --failed; journalctl -b --no-pager -q -u "neaprov*" | tail -n 30; cloud-init status --long 2>&1 | tail -n 5' 2>&1 | sed 's/^/#   /'
}
diag_if_failed() { # FAILS-BEFORE TENANT...: diagnostics when a check failed since
  local f0=$1 t
  shift
  if [ "$fail" -gt "$f0" ] || [ "${NEA_LAB_DIAG:-0}" = 1 ]; then
    for t in "$@"; do diag "$t"; done
  fi
}

# diag_ovs: the switch as OVS sees it (ports, tags, the appliance's MACs)
diag_ovs() {
  echo "# ---- ovs-vsctl show"
  vsctl show 2>&1 | sed 's/^/#   /'
  echo "# ---- br-tn ports: name tag external_ids:attached-mac"
  vsctl --bare --columns=name,tag find port 2>&1 | paste -sd' ' | sed 's/^/#   /'
  echo "# ---- libvirtd log (ovs, error)"
  grep -iE "ovs|openvswitch|error" "$NEA_LOG_DIR/libvirtd.log" 2>/dev/null | tail -n 15 | sed 's/^/#   /'
}
diag_if_failed() { # FAILS-BEFORE: diagnostics when a check failed since
  if [ "$fail" -gt "$1" ] || [ "${NEA_LAB_DIAG:-0}" = 1 ]; then
    diag tv
    diag_ovs
  fi
}
# tags_of: "PORT TAG" for each vnet port (the appliance's) on br-tn
tags_of() {
  local p
  for p in $(vsctl list-ports br-tn 2>/dev/null); do
    case "$p" in vnet*) echo "$p $(vsctl get port "$p" tag 2>/dev/null)" ;; esac
  done
}

# ---- the SP gateway and the internet -----------------------------------------
inet=$(rns inet)
in_ns sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
mkns "$inet" &&
  ip -n "$NEA_NETNS" link add inet0 type veth peer name eth0 netns "$inet" &&
  ip -n "$NEA_NETNS" addr add 198.51.100.1/30 dev inet0 &&
  ip -n "$NEA_NETNS" addr add 2001:db8:ffff::1/64 dev inet0 nodad &&
  ip -n "$NEA_NETNS" link set inet0 up &&
  ip -n "$inet" addr add 198.51.100.2/30 dev eth0 &&
  ip -n "$inet" addr add 2001:db8:ffff::2/64 dev eth0 nodad &&
  ip -n "$inet" link set eth0 up &&
  ip -n "$inet" route add default via 198.51.100.1 &&
  ip -n "$inet" -6 route add default via 2001:db8:ffff::1 &&
  in_ns ip route add 203.0.113.0/28 dev br-ext &&
  in_ns ip -6 route add 2001:db8:200::/64 dev br-ext &&
  listen "$inet" 80 - ||
  { bad "the SP gateway and internet namespaces are set up"; done_testing; }
# nothing with a tenant network's own source address may reach the internet
# host (the appliance translates or drops), counted there over the run
TNETS4='{ 198.51.100.64/27, 198.51.100.128/29 }' TNETS6='{ 2001:db8:c1::/64 }'
watch "$inet" leak ip saddr "$TNETS4" &&
  ip netns exec "$inet" nft add rule inet nealab pre ip6 saddr "$TNETS6" counter name leak &&
  ip netns exec "$inet" nft add set inet nealab leak4 '{ type ipv4_addr . ipv4_addr . inet_proto; flags dynamic, timeout; timeout 2h; }' &&
  ip netns exec "$inet" nft add set inet nealab leak6 '{ type ipv6_addr . ipv6_addr . inet_proto; flags dynamic, timeout; timeout 2h; }' &&
  ip netns exec "$inet" nft add rule inet nealab pre ip saddr "$TNETS4" add @leak4 '{ ip saddr . ip daddr . meta l4proto }' &&
  ip netns exec "$inet" nft add rule inet nealab pre ip6 saddr "$TNETS6" add @leak6 '{ ip6 saddr . ip6 daddr . meta l4proto }' ||
  { bad "the leak counters are set up"; done_testing; }
ok "SP gateway (forwarding, public pool routed to br-ext) and internet host (port 80) are up"

# ---- plan, spec ---------------------------------------------------------------
mkdir -p "$scratch/plans"
cat > "$scratch/plans/labovs.yaml" <<PLAN
name: labovs
host: "$NEA_URI"
storage-pool: $NEA_POOL
networks: [br-ext]
vcpus: 1
memory-mib: 512
disk-gib: 3
image: $img/nea-appliance.qcow2
domain-type: qemu
machine: q35
cdrom-bus: scsi
kernel: $img/vmlinuz
initrd: $img/initrd.img
cmdline: "root=/dev/vda console=ttyS0"
tenant-networks: {mode: ovs-vlan, bridge: br-tn, vlans: 100-109, max-networks: 4}
PLAN
spec_tv() { # NETWORK-LINES
  cat > "$scratch/tv.yaml" <<SPEC
tenant: tv
hardware-plan: labovs
appliance:
  external-network: br-ext
  ipv4: {mode: static, address: 192.0.2.12, prefix: 24, gateway: 192.0.2.1}
  ipv6: {mode: static, address: "2001:db8::12", prefix: 64, gateway: "2001:db8::1"}
public-ips: {ipv4: 1, ipv6: 1}
networks:
$1
SPEC
}
WEB='  - {name: web, gateway: 198.51.100.65/28, gateway6: "2001:db8:c1::1/64", internet: true}'
DB='  - {name: db, gateway: 198.51.100.81/28, internet: false}'
NEW='  - {name: new, gateway: 198.51.100.129/29, internet: true}'
spec_tv "$WEB
$DB"
"${N[@]}" pool add 203.0.113.5-203.0.113.8 >/dev/null &&
  "${N[@]}" pool add 2001:db8:200::5-2001:db8:200::8 >/dev/null
check "pool add 203.0.113.5-8 and 2001:db8:200::5-8" test $? = 0

# apply_tv WHAT: apply, in the namespace so that readiness reaches the
# appliance; a check
apply_tv() {
  local t0 rc
  t0=$(now)
  echo "# $(date -u +%T) apply tv: $1"
  in_ns "${N[@]}" apply "$scratch/tv.yaml" >"$scratch/apply.log" 2>&1
  rc=$?
  echo "# $1: $(secs "$t0" "$(now)") s"
  check "apply tv ($1) succeeds" test "$rc" = 0
  [ "$rc" = 0 ] || sed 's/^/#   apply: /' "$scratch/apply.log" | tail -n 30
  return "$rc"
}
# net_field NET FIELD: from status --json tv
net_field() {
  "${N[@]}" status --json tv > "$scratch/status.json" 2>/dev/null
  json "$scratch/status.json" "[n.get('$2') for n in d[0]['networks'] if n['name']=='$1'][0]" 2>/dev/null
}

# ---- round 1: deploy ------------------------------------------------------------
apply_tv "deploy to ready (upload, OVS ports, boot, cloud-init, sshd)" ||
  { diag tv; diag_ovs; done_testing; }

echo "# 1. tags and ports"
declare -A TAG
for net in web db; do
  TAG[$net]=$(net_field "$net" vlan)
  br=$(net_field "$net" bridge)
  check "status --json: network $net on bridge br-tn (${br:-none}), a tag in 100-109 (${TAG[$net]:-none})" \
    test "$br" = br-tn -a "${TAG[$net]:-0}" -ge 100 -a "${TAG[$net]:-0}" -le 109
done
check "web and db have distinct tags" test -n "${TAG[web]}" -a "${TAG[web]}" != "${TAG[db]}"
tags_of > "$scratch/ports1"
sed 's/^/#   appliance port on br-tn: /' "$scratch/ports1"
for net in web db; do
  check "the appliance has a port on br-tn with $net's tag ${TAG[$net]}" \
    grep -qx "vnet[0-9]* ${TAG[$net]}" "$scratch/ports1"
done
check "exactly 2 appliance ports on br-tn" test "$(wc -l < "$scratch/ports1")" = 2
check "the appliance's external vNIC is not on br-tn (3 vNICs, one on br-ext)" \
  test "$("${V[@]}" domiflist tv-nea | wc -l)" = 3 -a "$("${V[@]}" domiflist tv-nea | awk '$3 == "br-ext"' | wc -l)" = 1
[ -n "${TAG[web]}" ] && [ -n "${TAG[db]}" ] || { bad "both networks have a tag"; diag tv; diag_ovs; done_testing; }

"${N[@]}" pool list --json > "$scratch/pool.json"
pub() { json "$scratch/pool.json" "[r['first'] for r in d['runs'] if r['tenant']=='tv' and (':' in r['first'])==$1][0]" 2>/dev/null; }
PUB=$(pub False) PUB6=$(pub True)
echo "# public IPs: $PUB $PUB6"
check "tv was allocated one public IPv4 and one IPv6 address" test -n "$PUB" -a -n "$PUB6"

# replicas: web (the rules' target), web2, db; the intruder on tag 109
# (given to nobody: 100-102 are the lowest free) inside web's subnet
INTR_TAG=109
replica web  "${TAG[web]}" 198.51.100.70/28 198.51.100.65 2001:db8:c1::70/64 2001:db8:c1::1 &&
  replica web2 "${TAG[web]}" 198.51.100.71/28 198.51.100.65 2001:db8:c1::71/64 2001:db8:c1::1 &&
  replica db "${TAG[db]}" 198.51.100.86/28 198.51.100.81 &&
  replica intr "$INTR_TAG" 198.51.100.77/28 198.51.100.65 2001:db8:c1::77/64 2001:db8:c1::1
check "replica namespaces on br-tn with their tags, intruder on tag $INTR_TAG, servers on 8080" test $? = 0
# counted: anything of tv's subnets arriving at the intruder; anything from
# the intruder arriving at the web replicas
watch "$(rns intr)" tv iifname eth0 ip saddr 198.51.100.64/27 &&
  ip netns exec "$(rns intr)" nft add rule inet nealab pre iifname eth0 ip6 saddr 2001:db8:c1::/64 counter name tv
for r in web web2; do
  watch "$(rns "$r")" intr ip saddr 198.51.100.77 &&
    ip netns exec "$(rns "$r")" nft add rule inet nealab pre ip6 saddr 2001:db8:c1::77 counter name intr
done

f0=$fail
echo "# 2. source NAT to the appliance's address"
settle tv "web2 reaches the internet host as 192.0.2.12" 0 "$(rns web2)" 198.51.100.2 80 192.0.2.12
check "web2 over IPv6, seen as 2001:db8::12" says "$(rns web2)" 2001:db8:ffff::2 80 2001:db8::12
check "web reaches its gateway 198.51.100.65" pings "$(rns web)" 198.51.100.65
check "db reaches its gateway 198.51.100.81" pings "$(rns db)" 198.51.100.81
echo "# 4. without internet"
check "db reaches neither the internet host (ping, tcp/80)" blocked "$(rns db)" 198.51.100.2 80
check "db does not reach the SP gateway 192.0.2.1" blocked "$(rns db)" 192.0.2.1 80
check "web reaches db (tcp/8080) through the appliance" says "$(rns web)" 198.51.100.86 8080 db
leaks_now
diag_if_failed "$f0"

# ---- round 2: public IP rules (new seed, reboot) -------------------------------
"${N[@]}" rule add tv --public "$PUB:8080/tcp" --to 198.51.100.70:8080 --description "tv web" >/dev/null &&
  "${N[@]}" rule add tv --public "$PUB:8081/tcp" --to 198.51.100.86:8080 --description "tv db" >/dev/null &&
  "${N[@]}" rule add tv --public "[$PUB6]:8080/tcp" --to "[2001:db8:c1::70]:8080" >/dev/null
check "rule add: 3 rules (web IPv4, db IPv4, web IPv6)" test $? = 0
apply_tv "rules to ready (new seed, reboot)"
f0=$fail
settle tv "internet -> $PUB:8080 answers web (the new rules are in)" 0 "$inet" "$PUB" 8080 web
echo "# 3. 1:1 source NAT of a rule's target"
check "web (a rule's target) is seen as its public IP $PUB" says "$(rns web)" 198.51.100.2 80 "$PUB"
check "web over IPv6 is seen as $PUB6" says "$(rns web)" 2001:db8:ffff::2 80 "$PUB6"
check "web2 (not a target) is still seen as 192.0.2.12" says "$(rns web2)" 198.51.100.2 80 192.0.2.12
echo "# 4. without internet, after the reboot"
check "db reaches neither the internet host (ping, tcp/80)" blocked "$(rns db)" 198.51.100.2 80
check "db does not reach the SP gateway 192.0.2.1" blocked "$(rns db)" 192.0.2.1 80
echo "# 5. destination NAT from the internet"
check "internet -> $PUB:8080 answers web" says "$inet" "$PUB" 8080 web
check "internet -> $PUB:8081 answers db (a without-internet network)" says "$inet" "$PUB" 8081 db
check "internet -> [$PUB6]:8080 answers web" says "$inet" "$PUB6" 8080 web
check "internet -> $PUB:8082 (no rule) gets nothing" sh -c "! ip netns exec '$inet' '$PY' '$scratch/cli.py' '$PUB' 8082 2 >/dev/null 2>&1"
check "the internet host reaches no replica address directly" blocked "$inet" 198.51.100.70

leaks_now
diag_if_failed "$f0"

# ---- db's rule removed: a seed change, so a reboot of its own ----------------
# (a rule must point into the tenant's networks: it goes before db can; done
# here, before the hot-plug, so that the hot-plugged vNIC is not rebooted
# with: see docs/lab.md)
f0=$fail
"${N[@]}" rule remove tv --public "$PUB:8081/tcp" >/dev/null
check "rule remove of db's rule" test $? = 0
apply_tv "db's rule removed (new seed, reboot)" || { diag tv; diag_ovs; }
check "internet -> $PUB:8081 (db's rule removed) gets nothing" sh -c "! ip netns exec '$inet' '$PY' '$scratch/cli.py' '$PUB' 8081 2 >/dev/null 2>&1"
check "internet -> $PUB:8080 still answers web" says "$inet" "$PUB" 8080 web

echo "# 6. VLAN isolation: the intruder on tag $INTR_TAG, 198.51.100.77 in web's subnet"
pids=()
mkdir -p "$scratch/pairs"
for d in 198.51.100.70 198.51.100.71 198.51.100.65 2001:db8:c1::70 2001:db8:c1::1; do
  blocked "$(rns intr)" "$d" > "$scratch/pairs/intr--$d" 2>&1 & pids+=($!)
done
for r in web web2; do
  blocked "$(rns "$r")" 198.51.100.77 > "$scratch/pairs/$r--intr" 2>&1 & pids+=($!)
  blocked "$(rns "$r")" 2001:db8:c1::77 > "$scratch/pairs/$r--intr6" 2>&1 & pids+=($!)
done
blocked "$(rns db)" 198.51.100.77 > "$scratch/pairs/db--intr" 2>&1 & pids+=($!)
wait "${pids[@]}"
cat "$scratch"/pairs/intr--* 2>/dev/null
check "the intruder reaches neither web replica nor the gateway .65 (ping, tcp/8080; IPv4 and IPv6)" \
  test -z "$(cat "$scratch"/pairs/intr--* 2>/dev/null)"
cat "$scratch"/pairs/*--intr* 2>/dev/null
check "no replica of tv reaches the intruder (web, web2, db; IPv4 and IPv6)" \
  test -z "$(cat "$scratch"/pairs/*--intr* 2>/dev/null)"
check "the intruder has no neighbour entry for the gateway or a replica" \
  sh -c "! ip -n '$(rns intr)' neigh show | grep -E '198\.51\.100\.(65|70|71) .*lladdr'"
check "nothing from tv's subnets arrived at the intruder" none_counted "$(rns intr)" tv
check "nothing from the intruder arrived at web" none_counted "$(rns web)" intr
check "... nor at web2" none_counted "$(rns web2)" intr
# the control: the same port on web's tag does reach web (so the tag, not
# an addressing mistake, is what kept it out)
vsctl set port r-intr tag="${TAG[web]}"
check "control: the intruder's port moved to web's tag ${TAG[web]} reaches web (tcp/8080)" \
  says_within 10 "$(rns intr)" 198.51.100.70 8080 web
vsctl set port r-intr tag="$INTR_TAG"
ip -n "$(rns intr)" neigh flush all
ip -n "$(rns web)" neigh flush all
check "back on tag $INTR_TAG, the intruder reaches web no more" blocked "$(rns intr)" 198.51.100.70
leaks_now
diag_if_failed "$f0"


# ---- 7. a network added by apply: a tag, a port hot-plugged, no reboot ----------
f0=$fail
domid=$("${V[@]}" domid tv-nea)
spec_tv "$WEB
$DB
$NEW"
"${N[@]}" plan --json "$scratch/tv.yaml" > "$scratch/plan-new.json" 2> "$scratch/plan-new.err"
"${N[@]}" plan "$scratch/tv.yaml" 2>&1 | sed 's/^/#   plan: /'
check "plan --json: disruption none" \
  test "$(json "$scratch/plan-new.json" "d[0]['disruption'] if isinstance(d, list) else d['disruption']" 2>/dev/null)" = none
echo "# $(date -u +%T) the guest before the hot-plug: $(guest_sh tv-nea 'echo "$(cloud-init status | tr "\n" " ")system $(systemctl is-system-running)"' 2>&1)"
t=$(now)
apply_tv "a network added (tag, seed, hot-plug)"
echo "# network added by apply: $(secs "$t" "$(now)") s"
check "the domain was not restarted (domid $domid, now $("${V[@]}" domid tv-nea))" \
  test "$("${V[@]}" domid tv-nea)" = "$domid"
TAG[new]=$(net_field new vlan)
check "status: new on br-tn ($(net_field new bridge)) with a tag of its own (${TAG[new]:-none}), not web's, db's or $INTR_TAG" \
  test "$(net_field new bridge)" = br-tn -a "${TAG[new]:-0}" -ge 100 -a "${TAG[new]:-0}" -le 109 \
  -a "${TAG[new]:-0}" != "${TAG[web]}" -a "${TAG[new]:-0}" != "${TAG[db]}" -a "${TAG[new]:-0}" != "$INTR_TAG"
tags_of > "$scratch/ports2"
sed 's/^/#   appliance port on br-tn: /' "$scratch/ports2"
check "the appliance has a port on br-tn with new's tag ${TAG[new]:-none} (3 ports)" \
  sh -c "grep -qx 'vnet[0-9]* ${TAG[new]:-x}' '$scratch/ports2' && test \$(wc -l < '$scratch/ports2') = 3"
if [ -n "${TAG[new]}" ] && replica new "${TAG[new]}" 198.51.100.130/29 198.51.100.129; then
  settle tv "a replica on the new network reaches the internet host, seen as 192.0.2.12" 150 \
    "$(rns new)" 198.51.100.2 80 192.0.2.12
  check "new reaches db (tcp/8080)" says "$(rns new)" 198.51.100.86 8080 db
  check "the existing networks still work: internet -> $PUB:8080 answers web" says "$inet" "$PUB" 8080 web
else
  bad "a replica on the new network"
fi
check "still the same domain (domid $domid)" test "$("${V[@]}" domid tv-nea)" = "$domid"
diag_if_failed "$f0"

# ---- 8. a network removed by apply: the port unplugged, no reboot ---------------
f0=$fail
domid=$("${V[@]}" domid tv-nea)
spec_tv "$WEB
$NEW"
"${N[@]}" plan --json "$scratch/tv.yaml" > "$scratch/plan-rm.json" 2> "$scratch/plan-rm.err"
"${N[@]}" plan "$scratch/tv.yaml" 2>&1 | sed 's/^/#   plan: /'
check "plan --json: disruption none" \
  test "$(json "$scratch/plan-rm.json" "d[0]['disruption'] if isinstance(d, list) else d['disruption']" 2>/dev/null)" = none
t=$(now)
apply_tv "db removed (seed, unplug)"
echo "# network removed by apply: $(secs "$t" "$(now)") s"
check "the domain was not restarted (domid $domid, now $("${V[@]}" domid tv-nea))" \
  test "$("${V[@]}" domid tv-nea)" = "$domid"
tags_of > "$scratch/ports3"
sed 's/^/#   appliance port on br-tn: /' "$scratch/ports3"
check "no appliance port with db's tag ${TAG[db]} on br-tn any more (2 left: web, new)" \
  sh -c "! grep -qx 'vnet[0-9]* ${TAG[db]}' '$scratch/ports3' && test \$(wc -l < '$scratch/ports3') = 2"
check "status lists web and new only" test "$("${N[@]}" status --json tv 2>/dev/null | "$PY" -c 'import json,sys; print(sorted(n["name"] for n in json.load(sys.stdin)[0]["networks"]))')" = "['new', 'web']"
check "db's replica no longer reaches its gateway 198.51.100.81" blocked "$(rns db)" 198.51.100.81
check "web2 still reaches the internet host as 192.0.2.12" says "$(rns web2)" 198.51.100.2 80 192.0.2.12
check "no packet with a tenant network's source address reached the internet host, ever" none_counted "$inet" leak
leaks_now
diag_if_failed "$f0"

# ---- 9. destroy: no port of the appliance left ---------------------------------
t=$(now)
"${N[@]}" destroy -q tv; check "destroy tv exits 0" test $? = 0
echo "# destroy: $(secs "$t" "$(now)") s"
check "no domain left" test -z "$("${V[@]}" list --all --name)"
ports=$(vsctl list-ports br-tn | sort | paste -sd' ')
echo "# br-tn ports now: $ports"
check "only the replicas' and the intruder's ports left on br-tn" test "$ports" = "r-db r-intr r-new r-web r-web2"
"${N[@]}" status --json > "$scratch/status-end.json"
check "status says gone for tv" test "$(json "$scratch/status-end.json" "sorted(x['tenant'] + ':' + x['state'] for x in d)")" = "['tv:gone']"
"${N[@]}" pool list --json > "$scratch/pool-end.json"
check "the pool is all free" test "$(json "$scratch/pool-end.json" "(d['summary']['ipv4_assigned'], d['summary']['ipv6_assigned'], d['summary']['ipv4_free'], d['summary']['ipv6_free'])")" = "(0, 0, 4, 4)"

done_testing

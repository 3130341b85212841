#!/usr/bin/env bash
# The tenant networks lab (issue 11): two tenants' appliances boot under TCG
# with a private libvirtd (tests/qemu/libvirtd-netns.sh), each with a
# with-internet and a without-internet network (isolated mode: one bare
# libvirt network each); replicas are network namespaces on those networks'
# bridges, keeping their production addresses, the appliance their default
# gateway.  Checked from the outside: source NAT to the appliance's external
# address, 1:1 source NAT from the public IP of a rule's replica, no way out
# of a without-internet network, DNAT from the public IPs (IPv4 and IPv6),
# nothing between the tenants, routing between a tenant's own networks, a
# network hot-plugged by apply without a reboot, and destroy leaving nothing.
#
# Topology (documentation addresses only, all inside namespaces made here):
#   $NEA_NETNS (the harness's; here the SP gateway): br-ext 192.0.2.1/24,
#     2001:db8::1/64, forwarding on; routes the public pool 203.0.113.0/28
#     and 2001:db8:200::/64 to br-ext; no route to any tenant network
#   NS-inet ("the internet"): 198.51.100.2/30, 2001:db8:ffff::2/64, a TCP
#     server on port 80 answering each connection with the peer's address
#   NS-REPLICA: one per replica, its veth's far end on the tenant network's
#     bridge in $NEA_NETNS, a TCP server on port 8080 answering its name
#
# Usage: networks_lab.sh NEAPROV SRCDIR
# Exit 77 (skipped) without root, libvirtd, mmdebstrap or nft.
# NEA_LAB_DIAG=1: print the guests' addresses, routes and nftables ruleset
# (through the guest agent) even when nothing failed.
# shellcheck disable=SC2015,SC2016,SC2154,SC2317  # a && b || fail; guest commands in single quotes; fail: lib.sh; trap, check call functions
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
neaprov=$1 src=$2
if [ "$(id -u)" != 0 ] || ! command -v libvirtd >/dev/null || ! command -v mmdebstrap >/dev/null ||
  ! command -v nft >/dev/null; then
  skip_rest "needs root, libvirtd, mmdebstrap and nft (scripts/dev.sh test installs them)"
fi
PY=/usr/bin/python3
harness=$src/tests/qemu/libvirtd-netns.sh
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
"$harness" start "$scratch/lab" >/dev/null || { bad "the private libvirtd starts"; done_testing; }
eval "$("$harness" env "$scratch/lab")"
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
# replica NAME BRIDGE ADDR/PREFIX GW [ADDR6/PREFIX GW6]: a namespace whose
# eth0 is on BRIDGE (in the harness namespace) with a server on 8080
# answering NAME
replica() {
  local name=$1 br=$2 ns port=r-$1
  ns=$(rns "$name")
  mkns "$ns" &&
    ip -n "$NEA_NETNS" link add "$port" type veth peer name eth0 netns "$ns" &&
    ip -n "$NEA_NETNS" link set "$port" master "$br" up &&
    ip -n "$ns" addr add "$3" dev eth0 &&
    ip -n "$ns" link set eth0 up &&
    ip -n "$ns" route add default via "$4" dev eth0 || return 1
  if [ -n "${5:-}" ]; then
    ip -n "$ns" addr add "$5" dev eth0 nodad &&
      ip -n "$ns" -6 route add default via "$6" dev eth0 || return 1
  fi
  listen "$ns" 8080 "$name" || return 1
  # the bridge's STP (libvirt's default) holds a new port a few seconds
  for _ in $(seq 100); do
    bridge -n "$NEA_NETNS" link show dev "$port" 2>/dev/null | grep -q "state forwarding" && return 0
    sleep 0.1
  done
  echo "# port $port of $br never forwarded"
  return 1
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
  echo "# $(date -u +%T) leak counters: internet host $(packets "$inet" leak), SP br-ext $(packets "$NEA_NETNS" leak)"
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
# nothing with a tenant network's own source address may leave an appliance
# on its external side (it translates or drops): counted where it arrives,
# at the internet host and on br-ext in the SP namespace.  iifname br-ext:
# with br_netfilter the prerouting hook also sees frames bridged on the
# tenant networks' bridges, there with iifname virbrN
TNETS4='{ 198.51.100.64/26, 198.51.100.128/29 }' TNETS6='{ 2001:db8:a1::/64, 2001:db8:b1::/64 }'
watch "$inet" leak ip saddr "$TNETS4" &&
  ip netns exec "$inet" nft add rule inet nealab pre ip6 saddr "$TNETS6" counter name leak &&
  watch "$NEA_NETNS" leak iifname br-ext ip saddr "$TNETS4" &&
  ip netns exec "$NEA_NETNS" nft add rule inet nealab pre iifname br-ext ip6 saddr "$TNETS6" counter name leak &&
  ip netns exec "$inet" nft add set inet nealab leak4 '{ type ipv4_addr . ipv4_addr . inet_proto; flags dynamic, timeout; timeout 2h; }' &&
  ip netns exec "$inet" nft add set inet nealab leak6 '{ type ipv6_addr . ipv6_addr . inet_proto; flags dynamic, timeout; timeout 2h; }' &&
  ip netns exec "$inet" nft add rule inet nealab pre ip saddr "$TNETS4" add @leak4 '{ ip saddr . ip daddr . meta l4proto }' &&
  ip netns exec "$inet" nft add rule inet nealab pre ip6 saddr "$TNETS6" add @leak6 '{ ip6 saddr . ip6 daddr . meta l4proto }' ||
  { bad "the leak counters are set up"; done_testing; }
ok "SP gateway (forwarding, public pool routed to br-ext) and internet host (port 80) are up"

# ---- plan, specs ------------------------------------------------------------
mkdir -p "$scratch/plans"
cat > "$scratch/plans/labtn.yaml" <<PLAN
name: labtn
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
tenant-networks: {mode: isolated, max-networks: 4}
PLAN
spec_ta() { # [EXTRA-NETWORK-LINE]
  cat > "$scratch/ta.yaml" <<SPEC
tenant: ta
hardware-plan: labtn
appliance:
  external-network: br-ext
  ipv4: {mode: static, address: 192.0.2.10, prefix: 24, gateway: 192.0.2.1}
  ipv6: {mode: static, address: "2001:db8::10", prefix: 64, gateway: "2001:db8::1"}
public-ips: {ipv4: 1, ipv6: 1}
networks:
  - {name: web, gateway: 198.51.100.65/28, gateway6: "2001:db8:a1::1/64", internet: true}
  - {name: db, gateway: 198.51.100.81/28, internet: false}
${1:-}
SPEC
}
spec_tb() {
  cat > "$scratch/tb.yaml" <<SPEC
tenant: tb
hardware-plan: labtn
appliance:
  external-network: br-ext
  ipv4: {mode: static, address: 192.0.2.11, prefix: 24, gateway: 192.0.2.1}
  ipv6: {mode: static, address: "2001:db8::11", prefix: 64, gateway: "2001:db8::1"}
public-ips: {ipv4: 1, ipv6: 1}
networks:
  - {name: app, gateway: 198.51.100.97/28, gateway6: "2001:db8:b1::1/64", internet: true}
  - {name: vault, gateway: 198.51.100.113/28, internet: false}
SPEC
}
spec_ta
spec_tb
"${N[@]}" pool add 203.0.113.5-203.0.113.8 >/dev/null &&
  "${N[@]}" pool add 2001:db8:200::5-2001:db8:200::8 >/dev/null
check "pool add 203.0.113.5-8 and 2001:db8:200::5-8" test $? = 0

# apply_both WHAT: both tenants' specs at once (two processes, in the
# namespace so that readiness reaches the appliances)
apply_both() {
  local t0 pa pb ra rb
  t0=$(now)
  echo "# $(date -u +%T) apply ta and tb: $1"
  (in_ns "${N[@]}" apply -q "$scratch/ta.yaml" >"$scratch/apply-ta.log" 2>&1; r=$?
   echo "# $(date -u +%T) apply ta returned $r after $(secs "$t0" "$(now)") s"; exit $r) &
  pa=$!
  (in_ns "${N[@]}" apply -q "$scratch/tb.yaml" >"$scratch/apply-tb.log" 2>&1; r=$?
   echo "# $(date -u +%T) apply tb returned $r after $(secs "$t0" "$(now)") s"; exit $r) &
  pb=$!
  bg+=("$pa" "$pb")
  wait "$pa"; ra=$?
  wait "$pb"; rb=$?
  echo "# $1, both appliances in parallel: $(secs "$t0" "$(now)") s"
  check "apply ta ($1) reports ready" test "$ra" = 0
  [ "$ra" = 0 ] || sed 's/^/#   ta: /' "$scratch/apply-ta.log" | tail -n 20
  check "apply tb ($1) reports ready" test "$rb" = 0
  [ "$rb" = 0 ] || sed 's/^/#   tb: /' "$scratch/apply-tb.log" | tail -n 20
  [ "$ra" = 0 ] && [ "$rb" = 0 ]
}

# ---- round 1: deploy with networks and public IPs ----------------------------
apply_both "deploy to ready (upload, define networks, boot, cloud-init, sshd)" ||
  { diag ta; diag tb; done_testing; }

# what the host has: a bare libvirt network per tenant network, its bridge
declare -A BR
for tn in ta.web ta.db tb.app tb.vault; do
  t=${tn%%.*} net=${tn#*.}
  "${N[@]}" status --json "$t" > "$scratch/status-$t.json" 2>/dev/null
  BR[$tn]=$(json "$scratch/status-$t.json" "[n['bridge'] for n in d[0]['networks'] if n['name']=='$net'][0]" 2>/dev/null)
  lvnet=$(json "$scratch/status-$t.json" "[n['libvirt_network'] for n in d[0]['networks'] if n['name']=='$net'][0]" 2>/dev/null)
  infobr=$("${V[@]}" net-info "nea-net.$tn" 2>/dev/null | awk '$1 == "Bridge:" {print $2}')
  check "libvirt network nea-net.$tn exists, status names it, with its bridge (${BR[$tn]:-none})" \
    test "$lvnet" = "nea-net.$tn" -a -n "${BR[$tn]}" -a "$infobr" = "${BR[$tn]}"
  check "nea-net.$tn is bare: no forward, no IP" \
    test -z "$("${V[@]}" net-dumpxml "nea-net.$tn" 2>/dev/null | grep -E '<forward|<ip ')"
done
check "ta-nea has 3 vNICs (external + 2 tenant networks)" test "$("${V[@]}" domiflist ta-nea | wc -l)" = 3
check "tb-nea has 3 vNICs" test "$("${V[@]}" domiflist tb-nea | wc -l)" = 3
[ -n "${BR[ta.web]}" ] && [ -n "${BR[ta.db]}" ] && [ -n "${BR[tb.app]}" ] && [ -n "${BR[tb.vault]}" ] ||
  { bad "every tenant network has a bridge to put replicas on"; diag ta; diag tb; done_testing; }

# the public IPs each tenant got (one of each family)
"${N[@]}" pool list --json > "$scratch/pool.json"
pub() { json "$scratch/pool.json" "[r['first'] for r in d['runs'] if r['tenant']=='$1' and (':' in r['first'])==$2][0]" 2>/dev/null; }
PUB_A=$(pub ta False) PUB6_A=$(pub ta True) PUB_B=$(pub tb False) PUB6_B=$(pub tb True)
echo "# public IPs: ta $PUB_A $PUB6_A, tb $PUB_B $PUB6_B"
check "each tenant was allocated one public IPv4 and one IPv6 address" \
  test -n "$PUB_A" -a -n "$PUB6_A" -a -n "$PUB_B" -a -n "$PUB6_B"

# replicas: two on each with-internet network (one becomes a rule's target),
# one on each without-internet network
replica ta-web  "${BR[ta.web]}" 198.51.100.70/28 198.51.100.65 2001:db8:a1::70/64 2001:db8:a1::1 &&
  replica ta-web2 "${BR[ta.web]}" 198.51.100.71/28 198.51.100.65 2001:db8:a1::71/64 2001:db8:a1::1 &&
  replica ta-db "${BR[ta.db]}" 198.51.100.86/28 198.51.100.81 &&
  replica tb-app  "${BR[tb.app]}" 198.51.100.102/28 198.51.100.97 2001:db8:b1::102/64 2001:db8:b1::1 &&
  replica tb-app2 "${BR[tb.app]}" 198.51.100.103/28 198.51.100.97 2001:db8:b1::103/64 2001:db8:b1::1 &&
  replica tb-vault "${BR[tb.vault]}" 198.51.100.118/28 198.51.100.113
check "replica namespaces on the tenant networks' bridges, servers on 8080" test $? = 0
# in each replica: count what arrives from the other tenant's networks
for r in ta-web ta-web2 ta-db; do
  watch "$(rns "$r")" foreign ip saddr '{ 198.51.100.96/28, 198.51.100.112/28 }'
  ip netns exec "$(rns "$r")" nft add rule inet nealab pre ip6 saddr 2001:db8:b1::/64 counter name foreign
done
for r in tb-app tb-app2 tb-vault; do
  watch "$(rns "$r")" foreign ip saddr '{ 198.51.100.64/28, 198.51.100.80/28, 198.51.100.128/29 }'
  ip netns exec "$(rns "$r")" nft add rule inet nealab pre ip6 saddr 2001:db8:a1::/64 counter name foreign
done

f0=$fail
echo "# round 1: no rules yet"
settle ta "ta-web2 reaches the internet host as 192.0.2.10" 0 "$(rns ta-web2)" 198.51.100.2 80 192.0.2.10
settle tb "tb-app2 reaches the internet host as 192.0.2.11" 0 "$(rns tb-app2)" 198.51.100.2 80 192.0.2.11
leaks_now
check "ta-web replica reaches its gateway 198.51.100.65" pings "$(rns ta-web)" 198.51.100.65
check "ta-web2 (with internet) reaches the internet host, seen as ta's address 192.0.2.10" \
  says "$(rns ta-web2)" 198.51.100.2 80 192.0.2.10
check "ta-web2 over IPv6, seen as 2001:db8::10" says "$(rns ta-web2)" 2001:db8:ffff::2 80 2001:db8::10
check "tb-app2 (with internet) reaches the internet host, seen as tb's address 192.0.2.11" \
  says "$(rns tb-app2)" 198.51.100.2 80 192.0.2.11
check "tb-app2 over IPv6, seen as 2001:db8::11" says "$(rns tb-app2)" 2001:db8:ffff::2 80 2001:db8::11
check "ta-db (without internet) does not reach the internet host" blocked "$(rns ta-db)" 198.51.100.2 80
diag_if_failed "$f0" ta tb

# ---- round 2: public IP rules, carried in by apply (reboot) ------------------
"${N[@]}" rule add ta --public "$PUB_A:8080/tcp" --to 198.51.100.70:8080 --description "ta web" >/dev/null &&
  "${N[@]}" rule add ta --public "$PUB_A:8081/tcp" --to 198.51.100.86:8080 --description "ta db" >/dev/null &&
  "${N[@]}" rule add ta --public "[$PUB6_A]:8080/tcp" --to "[2001:db8:a1::70]:8080" >/dev/null &&
  "${N[@]}" rule add tb --public "$PUB_B:8080/tcp" --to 198.51.100.102:8080 --description "tb app" >/dev/null &&
  "${N[@]}" rule add tb --public "$PUB_B:8081/tcp" --to 198.51.100.118:8080 --description "tb vault" >/dev/null &&
  "${N[@]}" rule add tb --public "[$PUB6_B]:8080/tcp" --to "[2001:db8:b1::102]:8080" >/dev/null
check "rule add: 3 rules per tenant (2 IPv4 incl. one to a without-internet replica, 1 IPv6)" test $? = 0
apply_both "rules to ready (new seed, reboot)"

f0=$fail
settle ta "internet -> $PUB_A:8080 answers ta-web (the new rules are in)" 0 "$inet" "$PUB_A" 8080 ta-web
settle tb "internet -> $PUB_B:8080 answers tb-app (the new rules are in)" 0 "$inet" "$PUB_B" 8080 tb-app
leaks_now
echo "# source NAT"
check "ta-web2 (not a rule target) is still seen as 192.0.2.10" \
  says "$(rns ta-web2)" 198.51.100.2 80 192.0.2.10
check "ta-web2 over IPv6 is still seen as 2001:db8::10" says "$(rns ta-web2)" 2001:db8:ffff::2 80 2001:db8::10
check "ta-web (a rule's target) is seen as its public IP $PUB_A" says "$(rns ta-web)" 198.51.100.2 80 "$PUB_A"
check "ta-web over IPv6 is seen as its public IP $PUB6_A" says "$(rns ta-web)" 2001:db8:ffff::2 80 "$PUB6_A"
check "tb-app2 (not a rule target) is seen as 192.0.2.11" says "$(rns tb-app2)" 198.51.100.2 80 192.0.2.11
check "tb-app (a rule's target) is seen as its public IP $PUB_B" says "$(rns tb-app)" 198.51.100.2 80 "$PUB_B"
check "tb-app over IPv6 is seen as its public IP $PUB6_B" says "$(rns tb-app)" 2001:db8:ffff::2 80 "$PUB6_B"

echo "# without internet"
check "ta-db reaches neither the internet host (ping, tcp/80)" blocked "$(rns ta-db)" 198.51.100.2 80
check "ta-db does not reach the SP gateway 192.0.2.1" blocked "$(rns ta-db)" 192.0.2.1 80
check "ta-db does not reach the other appliance 192.0.2.11" blocked "$(rns ta-db)" 192.0.2.11 22
check "tb-vault reaches neither the internet host" blocked "$(rns tb-vault)" 198.51.100.2 80
check "tb-vault does not reach the SP gateway 192.0.2.1" blocked "$(rns tb-vault)" 192.0.2.1 80

echo "# destination NAT from the internet"
check "internet -> $PUB_A:8080 answers ta-web" says "$inet" "$PUB_A" 8080 ta-web
check "internet -> $PUB_A:8081 answers ta-db (a without-internet network)" says "$inet" "$PUB_A" 8081 ta-db
check "internet -> [$PUB6_A]:8080 answers ta-web" says "$inet" "$PUB6_A" 8080 ta-web
check "internet -> $PUB_B:8080 answers tb-app" says "$inet" "$PUB_B" 8080 tb-app
check "internet -> $PUB_B:8081 answers tb-vault" says "$inet" "$PUB_B" 8081 tb-vault
check "internet -> [$PUB6_B]:8080 answers tb-app" says "$inet" "$PUB6_B" 8080 tb-app
check "internet -> $PUB_A:8082 (no rule) gets nothing" sh -c "! ip netns exec '$inet' '$PY' '$scratch/cli.py' '$PUB_A' 8082 2 >/dev/null 2>&1"
check "the public IP's port 22 is the appliance's own (management)" \
  ip netns exec "$inet" "$PY" -c 'import socket,sys; socket.create_connection((sys.argv[1],22),3).close()' "$PUB_A"

echo "# isolation"
# every pair across the tenants, both ways, at once (failures wait out
# their timeouts); each result in a file
declare -A addr=([ta-web]=198.51.100.70 [ta-web2]=198.51.100.71 [ta-db]=198.51.100.86
                 [tb-app]=198.51.100.102 [tb-app2]=198.51.100.103 [tb-vault]=198.51.100.118)
mkdir -p "$scratch/pairs"
pids=()
for a in ta-web ta-web2 ta-db; do
  for b in tb-app tb-app2 tb-vault; do
    blocked "$(rns "$a")" "${addr[$b]}" > "$scratch/pairs/$a--$b" 2>&1 &
    pids+=($!)
    blocked "$(rns "$b")" "${addr[$a]}" > "$scratch/pairs/$b--$a" 2>&1 &
    pids+=($!)
  done
done
blocked "$(rns ta-web)" 2001:db8:b1::102 > "$scratch/pairs/ta-web--tb-app.v6" 2>&1 & pids+=($!)
blocked "$(rns tb-app)" 2001:db8:a1::70 > "$scratch/pairs/tb-app--ta-web.v6" 2>&1 & pids+=($!)
# the tenants' public IPs are the internet's: that path is allowed and not
# isolation's business; the replicas' own addresses are not reachable
for a in ta-web ta-web2 ta-db tb-app tb-app2 tb-vault; do
  blocked "$inet" "${addr[$a]}" > "$scratch/pairs/inet--$a" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
leaks=$(cat "$scratch"/pairs/* 2>/dev/null)
[ -z "$leaks" ] || echo "$leaks"
check "no ping or tcp/8080 between any replica of ta and any of tb, either way (18 pairs + IPv6)" \
  test -z "$(cat "$scratch"/pairs/t* 2>/dev/null)"
check "the internet host reaches no replica address directly" test -z "$(cat "$scratch"/pairs/inet--* 2>/dev/null)"
for r in ta-web ta-web2 ta-db tb-app tb-app2 tb-vault; do
  check "nothing from the other tenant's networks arrived at $r" none_counted "$(rns "$r")" foreign
done
# a route on the SP side straight to ta's web network: the appliance must
# still drop what is not destination NAT
in_ns ip route add 198.51.100.64/28 via 192.0.2.10
in_ns ip -6 route add 2001:db8:a1::/64 via 2001:db8::10
check "with an SP route to ta's web network, direct inbound to ta-web is dropped" blocked "$inet" 198.51.100.70
check "... over IPv6 too" blocked "$inet" 2001:db8:a1::70
check "... and to ta-web2" blocked "$inet" 198.51.100.71
in_ns ip route del 198.51.100.64/28 via 192.0.2.10
in_ns ip -6 route del 2001:db8:a1::/64 via 2001:db8::10
echo "# within a tenant"
check "ta-web reaches ta-db (tcp/8080) through the appliance" says "$(rns ta-web)" 198.51.100.86 8080 ta-db
check "ta-db reaches ta-web (tcp/8080)" says "$(rns ta-db)" 198.51.100.70 8080 ta-web
check "tb-app2 reaches tb-vault (tcp/8080)" says "$(rns tb-app2)" 198.51.100.118 8080 tb-vault
check "no packet with a tenant network's source address reached the internet host, ever (also while an appliance booted)" none_counted "$inet" leak
check "... nor the SP side of br-ext" none_counted "$NEA_NETNS" leak
diag_if_failed "$f0" ta tb

# ---- a network added by apply: hot-plugged, no reboot -----------------------
f0=$fail
domid=$("${V[@]}" domid ta-nea)
spec_ta "  - {name: new, gateway: 198.51.100.129/29, internet: true}"
"${N[@]}" plan --json "$scratch/ta.yaml" > "$scratch/plan-new.json" 2> "$scratch/plan-new.err"
"${N[@]}" plan "$scratch/ta.yaml" > "$scratch/plan-new.txt" 2>&1
sed 's/^/#   plan: /' "$scratch/plan-new.txt"
check "plan shows the new network (a field tenant-network.new)" \
  grep -q "tenant-network.new" "$scratch/plan-new.txt"
check "plan --json: disruption none" test "$(json "$scratch/plan-new.json" "d[0]['disruption'] if isinstance(d, list) else d['disruption']" 2>/dev/null)" = none
t=$(now)
in_ns "${N[@]}" apply "$scratch/ta.yaml" > "$scratch/apply-new.log" 2>&1
rc=$?
check "apply of the added network succeeds" test $rc = 0
sed 's/^/#   apply: /' "$scratch/apply-new.log" | head -n 40
echo "# network added by apply: $(secs "$t" "$(now)") s"
domid2=$("${V[@]}" domid ta-nea)
check "the domain was not restarted (domid $domid, now $domid2)" test "$domid2" = "$domid"
check "and it runs" test "$("${V[@]}" domstate ta-nea)" = running
check "ta-nea has 4 vNICs now" test "$("${V[@]}" domiflist ta-nea | wc -l)" = 4
"${N[@]}" status --json ta > "$scratch/status-ta2.json" 2>/dev/null
BR[ta.new]=$(json "$scratch/status-ta2.json" "[n['bridge'] for n in d[0]['networks'] if n['name']=='new'][0]" 2>/dev/null)
check "libvirt network nea-net.ta.new with a bridge (${BR[ta.new]:-none})" \
  test -n "${BR[ta.new]}" -a "$("${V[@]}" net-info nea-net.ta.new 2>/dev/null | awk '$1 == "Bridge:" {print $2}')" = "${BR[ta.new]}"
if [ -n "${BR[ta.new]}" ] && replica ta-new "${BR[ta.new]}" 198.51.100.130/29 198.51.100.129; then
  settle ta "a replica on the new network reaches the internet host, seen as 192.0.2.10" 150 \
    "$(rns ta-new)" 198.51.100.2 80 192.0.2.10
  check "ta-new reaches ta-db (tcp/8080)" says "$(rns ta-new)" 198.51.100.86 8080 ta-db
  check "ta-new does not reach tb-app" blocked "$(rns ta-new)" 198.51.100.102
  check "the existing networks still work: internet -> $PUB_A:8080 answers ta-web" says "$inet" "$PUB_A" 8080 ta-web
else
  bad "a replica on the new network"
fi
check "still the same domain (domid $domid)" test "$("${V[@]}" domid ta-nea)" = "$domid"
leaks_now
diag_if_failed "$f0" ta

# ---- a reboot with the hot-plugged vNIC in the definition ---------------------
# (a boot-order cycle once lost the network here: every link must come up)
f0=$fail
"${N[@]}" rule remove ta --public "[$PUB6_A]:8080/tcp" >/dev/null
check "rule remove of ta's IPv6 rule" test $? = 0
t=$(now)
in_ns "${N[@]}" apply -q "$scratch/ta.yaml" > "$scratch/apply-reboot.log" 2>&1
rc=$?
echo "# reboot with the hot-plugged vNIC, to ready: $(secs "$t" "$(now)") s"
check "apply (new seed, reboot) with the hot-plugged vNIC defined succeeds" test $rc = 0
[ $rc = 0 ] || sed 's/^/#   apply: /' "$scratch/apply-reboot.log"
check "it was a reboot (domid $domid, now $("${V[@]}" domid ta-nea))" \
  test "$("${V[@]}" domid ta-nea)" != "$domid"
settle ta "after the reboot ta-new reaches the internet host, seen as 192.0.2.10" 0 \
  "$(rns ta-new)" 198.51.100.2 80 192.0.2.10
check "after the reboot ta-web2 is still seen as 192.0.2.10" says "$(rns ta-web2)" 198.51.100.2 80 192.0.2.10
check "after the reboot internet -> $PUB_A:8080 answers ta-web" says "$inet" "$PUB_A" 8080 ta-web
check "after the reboot ta-db reaches nothing outside" blocked "$(rns ta-db)" 198.51.100.2 80
check "after the reboot the removed IPv6 rule is gone" \
  sh -c "! ip netns exec '$inet' '$PY' '$scratch/cli.py' '$PUB6_A' 8080 2 >/dev/null 2>&1"
leaks_now
diag_if_failed "$f0" ta

# ---- destroy: nothing of the tenants left ------------------------------------
t=$(now)
"${N[@]}" destroy -q ta; check "destroy ta exits 0" test $? = 0
"${N[@]}" destroy -q tb; check "destroy tb exits 0" test $? = 0
echo "# destroy both: $(secs "$t" "$(now)") s"
check "no domain left" test -z "$("${V[@]}" list --all --name)"
check "no libvirt network nea-net.* left" test -z "$("${V[@]}" net-list --all --name | grep '^nea-net\.')"
for tn in "${!BR[@]}"; do
  [ -n "${BR[$tn]}" ] || continue
  check "bridge ${BR[$tn]} ($tn) is gone" sh -c "! ip -n '$NEA_NETNS' link show '${BR[$tn]}' >/dev/null 2>&1"
done
"${N[@]}" status --json > "$scratch/status-end.json"
check "status says gone for ta and tb" test "$(json "$scratch/status-end.json" "sorted(x['tenant'] + ':' + x['state'] for x in d)")" = "['ta:gone', 'tb:gone']"
"${N[@]}" rule list --json > "$scratch/rules-end.json"
check "no rule left" test "$(json "$scratch/rules-end.json" "len(d)")" = 0
"${N[@]}" pool list --json > "$scratch/pool-end.json"
check "the pool is all free" test "$(json "$scratch/pool-end.json" "(d['summary']['ipv4_assigned'], d['summary']['ipv6_assigned'], d['summary']['ipv4_free'], d['summary']['ipv6_free'])")" = "(0, 0, 4, 4)"

done_testing

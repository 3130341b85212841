#!/usr/bin/env bash
# The real-boot lab: a Debian appliance built from packages
# (lab/build-image.sh) boots under TCG on a bridge inside a network namespace
# made here, with a private libvirtd (tests/qemu/libvirtd-netns.sh), and must
# answer on exactly the addresses of its spec; then a reprovision moves it, a
# public IP is carried onto its interface, and destroy leaves nothing.
# Traffic stays inside the namespace, on documentation addresses only.
# Usage: boot_lab.sh NEAPROV SRCDIR
# Exit 77 (skipped) without root, libvirtd or mmdebstrap; without dnsmasq
# the DHCP block is skipped, the rest runs, and the exit is 77 too.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
neaprov=$1 src=$2
if [ "$(id -u)" != 0 ] || ! command -v libvirtd >/dev/null || ! command -v mmdebstrap >/dev/null; then
  skip_rest "needs root, libvirtd and mmdebstrap (scripts/dev.sh test installs them)"
fi
harness=$src/tests/qemu/libvirtd-netns.sh
scratch=$(mktemp -d)
cleanup() { "$harness" stop "$scratch/lab" >/dev/null 2>&1; rm -rf "$scratch"; }
trap cleanup EXIT
now() { date +%s.%N; }
secs() { /usr/bin/python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.0f}')" "$1" "$2"; }

t=$(now)
img=$("$src/lab/build-image.sh") || { bad "the appliance image builds"; done_testing; }
echo "# appliance image: $img ($(secs "$t" "$(now)") s, cached by the script's hash)"
"$harness" start "$scratch/lab" >/dev/null || { bad "the private libvirtd starts"; done_testing; }
eval "$("$harness" env "$scratch/lab")"
in_ns() { ip netns exec "$NEA_NETNS" "$@"; }
answers() { in_ns ping -c 1 -W 2 "$1" >/dev/null 2>&1; }
silent() { ! in_ns ping -c 1 -W 2 "$1" >/dev/null 2>&1; }
port22() { in_ns /usr/bin/python3 -c 'import socket,sys; socket.create_connection((sys.argv[1],22),3).close()' "$1"; }

mkdir -p "$scratch/plans"
cat > "$scratch/plans/lab.yaml" <<PLAN
name: lab
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
PLAN
spec() { # V4-ADDRESS PUBLIC-V4-COUNT
  cat > "$scratch/a.yaml" <<SPEC
tenant: lab
hardware-plan: lab
appliance:
  external-network: br-ext
  ipv4: {mode: static, address: $1, prefix: 24, gateway: 192.0.2.1}
  ipv6: {mode: static, address: "2001:db8::10", prefix: 64, gateway: "2001:db8::1"}
public-ips: {ipv4: $2}
SPEC
}
# neaprov runs inside the namespace so that its readiness probe reaches the
# appliance; the daemon's socket is a file, reachable from there
N=("$neaprov" --state "$scratch/state.db" -p "$scratch/plans" -t "$src/templates/domain.xml"
   --timeout 300 --stop-timeout 60)
V=(virsh -q -c "$NEA_URI")

spec 192.0.2.10 0
t=$(now)
in_ns "${N[@]}" apply -q "$scratch/a.yaml"; check "apply (static dual stack) reports ready" test $? = 0
echo "# deploy to ready (upload, define, boot, cloud-init, sshd): $(secs "$t" "$(now)") s"
check "answers ping on 192.0.2.10" answers 192.0.2.10
check "answers ping on 2001:db8::10" answers 2001:db8::10
check "SSH port open on 192.0.2.10" port22 192.0.2.10
check "silent on a neighbouring IPv4 (192.0.2.11)" silent 192.0.2.11
check "silent on a neighbouring IPv6 (2001:db8::11)" silent 2001:db8::11
mac1=$("${V[@]}" domiflist lab-nea | awk '{print $5}')
check "the vNIC is on br-ext in the namespace" test -n "$(in_ns ip link show master br-ext | grep vnet)"

# reprovision: new address; plan says reboot; old address gone
spec 192.0.2.20 0
"${N[@]}" plan "$scratch/a.yaml" > "$scratch/plan.txt" 2>&1
check "plan says appliance reboot" grep -q "disruption: appliance reboot" "$scratch/plan.txt"
t=$(now)
in_ns "${N[@]}" apply -q "$scratch/a.yaml"; check "reprovision applied and ready" test $? = 0
echo "# reprovision to ready (new seed, graceful shutdown, start, boot): $(secs "$t" "$(now)") s"
check "answers on 192.0.2.20" answers 192.0.2.20
check "no longer on 192.0.2.10" silent 192.0.2.10
check "MAC unchanged" test "$("${V[@]}" domiflist lab-nea | awk '{print $5}')" = "$mac1"

# a public IP from the pool lands on the external interface
"${N[@]}" pool add 203.0.113.5 >/dev/null
spec 192.0.2.20 1
in_ns "${N[@]}" apply -q "$scratch/a.yaml"; check "public IP applied" test $? = 0
in_ns ip route add 203.0.113.5/32 dev br-ext
check "answers on the public IP 203.0.113.5" answers 203.0.113.5

# destroy: nothing of the appliance left
"${N[@]}" destroy -q lab; check "destroy exits 0" test $? = 0
check "no domain left" test -z "$("${V[@]}" list --all --name)"
check "only the base image left in the pool" test "$("${V[@]}" vol-list "$NEA_POOL" | awk '{print $1}')" = "nea-base-$(sha256sum <"$img/nea-appliance.qcow2" | cut -c1-16).qcow2"
"${N[@]}" status --json > "$scratch/status.json"
check "state says gone" grep -q '"state":"gone"' "$scratch/status.json"
"${N[@]}" pool list --json > "$scratch/pool.json"
check "the public IP is free again" grep -q '"ipv4_assigned":0' "$scratch/pool.json"
# DHCP: a dnsmasq inside the namespace serves 192.0.2.100-150; apply waits
# until the address is known (guest agent) and port 22 answers; status shows it
if command -v dnsmasq >/dev/null; then
  in_ns dnsmasq --keep-in-foreground --port=0 --interface=br-ext --bind-interfaces \
    --dhcp-range=192.0.2.100,192.0.2.150,1h --dhcp-option=option:router,192.0.2.1 \
    --dhcp-leasefile="$scratch/leases" --pid-file="$scratch/dnsmasq.pid" \
    --log-facility="$scratch/dnsmasq.log" &
  cat > "$scratch/d.yaml" <<SPEC
tenant: labdhcp
hardware-plan: lab
appliance:
  external-network: br-ext
  ipv4: {mode: dhcp}
  ipv6: {mode: disabled}
SPEC
  t=$(now)
  # readiness: the guest agent (in the image) reports the leased address,
  # then port 22 must answer there
  in_ns "${N[@]}" apply -q "$scratch/d.yaml"; check "DHCP appliance applied and ready" test $? = 0
  echo "# DHCP deploy to ready: $(secs "$t" "$(now)") s"
  mac=$("${V[@]}" domiflist labdhcp-nea | awk '{print $5}')
  leased=$(awk -v m="$mac" '$2 == m {print $3}' "$scratch/leases" 2>/dev/null)
  echo "# lease $leased for $mac"
  check "the DHCP appliance got an address from 192.0.2.100-150" /usr/bin/python3 -c '
import ipaddress,sys
a=ipaddress.ip_address(sys.argv[1]) if sys.argv[1] else None
sys.exit(0 if a and ipaddress.ip_address("192.0.2.100")<=a<=ipaddress.ip_address("192.0.2.150") else 1)' "$leased"
  check "it answers ping there" answers "$leased"
  check "its SSH port is open there" port22 "$leased"
  "${N[@]}" status --json labdhcp > "$scratch/dstatus.json"
  shown=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["addresses"])' "$scratch/dstatus.json")
  echo "# status addresses: $shown"
  check "status shows the leased address" /usr/bin/python3 -c 'import sys; sys.exit(0 if sys.argv[1] in sys.argv[2].split() else 1)' "$leased" "$shown"
  "${N[@]}" status labdhcp | grep -qF "$leased"; check "so does the text status" test $? = 0
  "${N[@]}" destroy -q labdhcp; check "DHCP appliance destroyed" test $? = 0
  kill "$(cat "$scratch/dnsmasq.pid" 2>/dev/null)" 2>/dev/null; wait 2>/dev/null
else
  skip "the DHCP block" "no dnsmasq (Debian: dnsmasq-base)"
fi

done_testing

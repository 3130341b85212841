#!/usr/bin/env bash
# Integration test against the real qemu driver: a private libvirtd in a
# network namespace made here (libvirtd-netns.sh), a bridge br-ext (and
# br-ext2) in it, <domain type='qemu'>.  Deploy, each live/reboot
# reprovision class, a crash at a step followed by a converging re-run,
# destroy; then nothing of the appliance may be left on the daemon.
# The appliance image is an empty disk: this test checks what libvirt and
# qemu are told, not the guest (booting a real guest is the lab's job).
# Usage: deploy_qemu.sh NEAPROV SRCDIR      exit 77 = skipped
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
neaprov=$1 src=$2
if [ "$(id -u)" != 0 ] || ! command -v libvirtd >/dev/null || ! command -v qemu-system-x86_64 >/dev/null; then
  skip_rest "needs root, libvirtd and qemu-system-x86 (scripts/dev.sh test installs them)"
fi
harness=$src/tests/qemu/libvirtd-netns.sh
scratch=$(mktemp -d)
cleanup() { "$harness" stop "$scratch/lab" >/dev/null 2>&1; rm -rf "$scratch"; }
trap cleanup EXIT
t0=$(date +%s.%N)
"$harness" start "$scratch/lab" >/dev/null || { bad "the private libvirtd starts"; done_testing; }
t1=$(date +%s.%N)
eval "$("$harness" env "$scratch/lab")"
echo "private libvirtd up in $(python3 -c "print(round($t1-$t0,1))") s: $NEA_URI"
ip -n "$NEA_NETNS" link add br-ext2 type bridge stp_state 0 forward_delay 0
ip -n "$NEA_NETNS" link set br-ext2 up

mkdir -p "$scratch/plans"
cat >"$scratch/plans/qlab.yaml" <<PLAN
name: qlab
host: "$NEA_URI"
storage-pool: $NEA_POOL
networks: [br-ext, br-ext2]
vcpus: 1
memory-mib: 128
disk-gib: 1
image: $src/hw/images/nea-lab.qcow2
machine: q35
domain-type: qemu
PLAN
spec() { # FILE NAME NETWORK V4 [TENANT [MAC]]
  cat >"$1" <<SPEC
tenant: ${5:-qa}
hardware-plan: qlab
appliance:
  name: $2
${6:+  mac: \"$6\"}
  external-network: $3
  ipv4: {mode: static, address: $4, prefix: 24, gateway: 192.0.2.1}
  ipv6: {mode: static, address: "2001:db8::10", prefix: 64, gateway: "2001:db8::1"}
SPEC
}
N=("$neaprov" --no-wait --stop-timeout 3 --state "$scratch/state.db" -p "$scratch/plans"
   -t "$src/templates/domain.xml")
V=(virsh -q -c "$NEA_URI")
domid() { "${V[@]}" domid "$1" 2>/dev/null | tr -d ' '; }

spec "$scratch/a.yaml" qa-nea br-ext 192.0.2.10
"${N[@]}" apply "$scratch/a.yaml" >"$scratch/o1" 2>&1; check "deploy exits 0" test $? = 0
check "domain runs" test "$("${V[@]}" domstate qa-nea 2>/dev/null)" = running
"${V[@]}" dumpxml qa-nea >"$scratch/x1"
check "domain type qemu" has "$scratch/x1" "<domain type='qemu'"
check "vNIC on br-ext with a pinned MAC" has "$scratch/x1" "<source bridge='br-ext'/>"
check "disk by path (type=file)" has "$scratch/x1" "<disk type='file' device='disk'>"
check "seed cdrom on SATA" has "$scratch/x1" "bus='sata'"
check "ownership metadata" has "$scratch/x1" "urn:neaprov:appliance:1"
tap=$("${V[@]}" domiflist qa-nea | awk '{print $1}')
check "the tap is on br-ext in the namespace" test -n "$(ip -n "$NEA_NETNS" link show master br-ext | grep -- "$tap")"
"${V[@]}" vol-list "$NEA_POOL" >"$scratch/v1"
check "disk, seed and base volumes" test "$(wc -l <"$scratch/v1")" = 3
mac1=$("${V[@]}" domiflist qa-nea | awk '{print $5}')
id1=$(domid qa-nea)
"${N[@]}" apply "$scratch/a.yaml" >"$scratch/o2" 2>&1
check "second apply does nothing" has "$scratch/o2" "nothing to do"

# addressing: new seed, graceful shutdown and start
spec "$scratch/a.yaml" qa-nea br-ext 192.0.2.20
"${N[@]}" plan "$scratch/a.yaml" >"$scratch/o3" 2>&1
check "plan says reboot for an address change" has "$scratch/o3" "disruption: appliance reboot"
"${N[@]}" apply -q "$scratch/a.yaml"; check "address change applied" test $? = 0
check "restarted (a new qemu process)" test "$(domid qa-nea)" != "$id1"
id1=$(domid qa-nea)
check "new seed attached live" test -n "$("${V[@]}" domblklist qa-nea | grep -- "$(sed -n 's/.*"seed_volume":"\([^"]*\)".*/\1/p' <("${N[@]}" status --json))")"
check "one seed volume" test "$("${V[@]}" vol-list "$NEA_POOL" | grep -c seed)" = 1
check "MAC unchanged" test "$("${V[@]}" domiflist qa-nea | awk '{print $5}')" = "$mac1"

# external network: vNIC moved live, no reboot
spec "$scratch/a.yaml" qa-nea br-ext2 192.0.2.20
"${N[@]}" plan "$scratch/a.yaml" >"$scratch/o4" 2>&1
check "plan says no disruption for a network change" has "$scratch/o4" "disruption: none"
"${N[@]}" apply -q "$scratch/a.yaml"
check "vNIC on br-ext2" test "$("${V[@]}" domiflist qa-nea | awk '{print $3}')" = br-ext2
check "no restart for the network change" test "$(domid qa-nea)" = "$id1"
"${N[@]}" apply "$scratch/a.yaml" >"$scratch/o5" 2>&1
check "then nothing to do" has "$scratch/o5" "nothing to do"

# drift: vNIC moved back by hand (live only) shows in status, apply repairs
"${V[@]}" update-device qa-nea /dev/stdin --live >/dev/null 2>&1 <<XML
<interface type='bridge'><mac address='$mac1'/><source bridge='br-ext'/><model type='virtio'/></interface>
XML
"${N[@]}" status >"$scratch/o6" 2>&1
check "status shows the vNIC drift" has "$scratch/o6" "the vNIC is on br-ext"
"${N[@]}" apply -q "$scratch/a.yaml"
check "apply moved it back" test "$("${V[@]}" domiflist qa-nea | awk '{print $3}')" = br-ext2

# rename: shut down, rename, start; volumes kept
spec "$scratch/a.yaml" qa-edge br-ext2 192.0.2.20
"${N[@]}" apply -q "$scratch/a.yaml"; check "rename applied" test $? = 0
check "renamed domain runs" test "$("${V[@]}" domstate qa-edge 2>/dev/null)" = running
check "old name gone" test -z "$("${V[@]}" list --all --name | grep -x qa-nea)"
check "disk volume kept" test -n "$("${V[@]}" vol-list "$NEA_POOL" | grep -F nea-disk.qa.qcow2)"
check "MAC unchanged after rename" test "$("${V[@]}" domiflist qa-edge | awk '{print $5}')" = "$mac1"

# crash (SIGKILL) at define during an address change, then converge
spec "$scratch/a.yaml" qa-edge br-ext2 192.0.2.30
NEAPROV_FAULT=define:crash "${N[@]}" apply -q "$scratch/a.yaml" >/dev/null 2>&1
check "killed at define" test $? = 137
"${N[@]}" status --json >"$scratch/o7"
check "record shows the step" has "$scratch/o7" '"step":"define"'
"${N[@]}" apply -q "$scratch/a.yaml"; check "re-run converges" test $? = 0
"${N[@]}" apply "$scratch/a.yaml" >"$scratch/o8" 2>&1
check "then nothing to do" has "$scratch/o8" "nothing to do"
check "still one seed volume" test "$("${V[@]}" vol-list "$NEA_POOL" | grep -c seed)" = 1

# isolation across runs (docs/security.md): another tenant names its
# appliance after the shared base image, then after qa's former name; an
# old record that names the base image as its disk; qa's MAC given again
base=nea-base-02461b271c5c14ca
spec "$scratch/m.yaml" "$base" br-ext 192.0.2.40 mallory
"${N[@]}" apply -q "$scratch/m.yaml"; check "an appliance named like the base image deploys" test $? = 0
check "on a disk of its own" test -n "$("${V[@]}" domblklist "$base" | grep -F nea-disk.mallory.qcow2)"
"${N[@]}" destroy -q mallory; check "and is destroyed" test $? = 0
check "the base image is still there" test -n "$("${V[@]}" vol-list "$NEA_POOL" | grep -F "$base.qcow2")"
spec "$scratch/m.yaml" qa-nea br-ext 192.0.2.41 mallory
"${N[@]}" apply -q "$scratch/m.yaml"; check "qa's former name is free for another tenant" test $? = 0
check "with its own disk" test -n "$("${V[@]}" domblklist qa-nea | grep -F nea-disk.mallory.qcow2)"
check "qa keeps its disk" test -n "$("${V[@]}" domblklist qa-edge | grep -F nea-disk.qa.qcow2)"
check "a MAC of its own" test "$("${V[@]}" domiflist qa-nea | awk '{print $5}')" != "$mac1"
"${N[@]}" destroy -q mallory
python3 - "$scratch/state.db" "$base.qcow2" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE deployments SET state='failed', step='begin', spec_hash=NULL, "
           "spec=NULL, disk_volume=?, disk_backing=NULL WHERE tenant='mallory'", (sys.argv[2],))
db.commit()
PY
"${N[@]}" destroy -q mallory; check "destroy of a record naming the base image" test $? = 0
check "leaves the base image" test -n "$("${V[@]}" vol-list "$NEA_POOL" | grep -F "$base.qcow2")"
spec "$scratch/m.yaml" mal-nea br-ext 192.0.2.42 mallory "$mac1"
"${N[@]}" apply -q "$scratch/m.yaml" 2>"$scratch/om"; check "qa's MAC given again is refused" test $? = 1
check "naming tenant qa" has "$scratch/om" "tenant qa on"
check "nothing defined" test -z "$("${V[@]}" list --all --name | grep -x mal-nea)"

# destroy: nothing of the appliance left; the shared base image stays
"${N[@]}" destroy -q qa; check "destroy exits 0" test $? = 0
check "no domain left" test -z "$("${V[@]}" list --all --name)"
check "only the base image volume left" test "$("${V[@]}" vol-list "$NEA_POOL" | awk '{print $1}')" = "$base.qcow2"
"${N[@]}" status --json >"$scratch/o9"
check "state says gone" has "$scratch/o9" '"state":"gone"'

done_testing

#!/usr/bin/env bash
# Smoke test of the lab harness (libvirtd-netns.sh): a private libvirtd in a
# network namespace starts, boots a tiny TCG domain whose tap lands on br-ext
# inside the namespace, moves a volume up and down through nea-pool, and stops
# without leaving a process, a namespace or a mount behind.
#
#   tests/qemu/smoke.sh         run it (root); last line "N passed, M failed"
#
# Exit 0 only if every check passed; 77 (skipped) without root, libvirtd or
# qemu-system-x86; without virt-xml-validate a check fails.  NEA_LAB_KEEP=1
# keeps the scratch directory (with the daemon's and qemu's logs) for a look
# afterwards; it is kept anyway, and named, when a check failed.  Traffic: none leaves the
# namespace the harness made (the guest has no disk and boots nothing).
# shellcheck disable=SC2016  # bash -c '..."$1"...' _ ARG: arguments, never pasted code
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
harness=$here/libvirtd-netns.sh

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

if [ "$(id -u)" != 0 ] || ! command -v libvirtd >/dev/null || ! command -v qemu-system-x86_64 >/dev/null; then
  skip_rest "needs root, libvirtd and qemu-system-x86 (scripts/dev.sh test installs them)"
fi

scratch=$(mktemp -d /tmp/nea-lab-smoke.XXXXXX)
lab=$scratch/lab
stopped=0
finish() {
  if [ $stopped = 0 ]; then "$harness" stop "$lab" >/dev/null 2>&1; fi
  if [ $fail -gt 0 ] || [ "${NEA_LAB_KEEP:-0}" = 1 ]; then
    echo "# scratch kept: $scratch"
  else
    rm -rf "$scratch"
  fi
  done_testing
}
trap finish EXIT
trap 'bad "interrupted"; exit 1' INT TERM HUP

show_logs() {
  local f
  for f in "$lab"/log/libvirtd.out "$lab"/log/libvirtd.log "$lab"/log/qemu/*.log; do
    [ -s "$f" ] || continue
    echo "# ---- $f"
    tail -n 30 "$f" | sed 's/^/# /'
  done
}

# --- stop before any start is a no-op
check "stop on a directory never started exits 0" "$harness" stop "$scratch/never"

# --- start
t0=$(now)
out=$("$harness" start "$lab" 2>"$scratch/start.err")
rc=$?
t1=$(now)
t_daemon=$(secs "$t0" "$t1")
if [ $rc != 0 ]; then
  bad "harness start (exit $rc)"
  sed 's/^/# /' "$scratch/start.err"
  exit 1
fi
ok "harness start (${t_daemon} s)"
eval "$("$harness" env "$lab")"
check "start prints only the URI, the same as env" test "$out" = "$NEA_URI"
check "namespace $NEA_NETNS exists" test -e "/run/netns/$NEA_NETNS"
check "br-ext in the namespace has 192.0.2.1/24" \
  bash -c 'ip -n "$1" -4 addr show dev br-ext | grep -q "inet 192.0.2.1/24"' _ "$NEA_NETNS"
check "br-ext in the namespace has 2001:db8::1/64" \
  bash -c 'ip -n "$1" -6 addr show dev br-ext | grep -q "inet6 2001:db8::1/64"' _ "$NEA_NETNS"
daemon_pid=$(cat "$lab/libvirtd.pid" 2>/dev/null)
check "libvirtd pid $daemon_pid runs in the namespace" \
  bash -c 'ip netns pids "$1" | grep -qx "$2"' _ "$NEA_NETNS" "$daemon_pid"
check "no mount of the lab shows in the host's mount table" \
  bash -c '! grep -qF "$1" /proc/self/mountinfo' _ "$lab"

V=(timeout 60 virsh -q -c "$NEA_URI")

# --- capabilities: a qemu (TCG) domain type for x86_64
"${V[@]}" capabilities >"$scratch/caps.xml" 2>&1
check "capabilities list domain type qemu for x86_64" awk '
  /<guest>/ { g = 1; a = 0; q = 0 }
  g && /<arch name=.x86_64.>/ { a = 1 }
  g && /<domain type=.qemu.\/?>/ { q = 1 }
  /<\/guest>/ { if (a && q) found = 1; g = 0 }
  END { exit !found }' "$scratch/caps.xml"
check "pool nea-pool is active" bash -c '"$@" pool-info nea-pool | grep -Eq "^State: +running"' _ "${V[@]}"

# --- a tiny domain on br-ext
mac=52:54:00:0e:a1:5b
cat >"$scratch/dom.xml" <<XML
<domain type='qemu'>
  <name>nea-smoke</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='bridge'>
      <mac address='$mac'/>
      <source bridge='br-ext'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>
XML
check "domain XML validates" bash -c 'virt-xml-validate "$1" domain >"$2" 2>&1 || { sed "s/^/# /" "$2"; false; }' \
  _ "$scratch/dom.xml" "$scratch/validate.out"
check "define domain" "${V[@]}" define "$scratch/dom.xml"
t2=$(now)
if "${V[@]}" start nea-smoke >/dev/null; then
  t3=$(now)
  t_dom=$(secs "$t2" "$t3")
  ok "start domain (${t_dom} s)"
else
  t_dom=-
  bad "start domain"
  show_logs
fi
check "domain is running" bash -c '[ "$("$@" domstate nea-smoke)" = running ]' _ "${V[@]}"
qemu_pid=$(cat "$lab"/run/qemu/nea-smoke.pid 2>/dev/null)
"${V[@]}" domiflist nea-smoke >"$scratch/iflist" 2>&1
tap=$(awk -v m="$mac" '$5 == m { print $1 }' "$scratch/iflist")
check "domiflist shows a vnet tap with MAC $mac (${tap:-none})" \
  bash -c '[[ "$1" == vnet* ]] && grep -q "bridge *br-ext" "$2"' _ "$tap" "$scratch/iflist"
check "the tap is on br-ext inside the namespace" \
  bash -c '[ -n "$1" ] && ip -n "$2" -o link show master br-ext | grep -q ": $1[:@]"' _ "$tap" "$NEA_NETNS"
check "the tap is not in the host namespace" \
  bash -c '[ -n "$1" ] && ! ip -o link show dev "$1" >/dev/null 2>&1' _ "$tap"
check "qemu pid ${qemu_pid:-?} runs in the namespace" \
  bash -c '[ -n "$2" ] && ip netns pids "$1" | grep -qx "$2"' _ "$NEA_NETNS" "$qemu_pid"
check "qemu's log is in the lab's log directory" test -s "$lab/log/qemu/nea-smoke.log"
check "destroy domain" "${V[@]}" destroy nea-smoke
check "undefine domain" "${V[@]}" undefine nea-smoke
check "no domain left" bash -c '[ -z "$("$@" list --all --name | tr -d "[:space:]")" ]' _ "${V[@]}"

# --- a volume up and down through the pool
head -c 262144 /dev/urandom >"$scratch/up.bin"
check "vol-create-as" "${V[@]}" vol-create-as nea-pool smoke.raw 262144 --format raw
check "volume file in NEA_POOL_DIR" test -f "$NEA_POOL_DIR/smoke.raw"
check "vol-upload" "${V[@]}" vol-upload --pool nea-pool smoke.raw "$scratch/up.bin"
check "vol-download" "${V[@]}" vol-download --pool nea-pool smoke.raw "$scratch/down.bin"
check "downloaded bytes equal uploaded" cmp -s "$scratch/up.bin" "$scratch/down.bin"
check "vol-delete" "${V[@]}" vol-delete --pool nea-pool smoke.raw
check "volume gone" bash -c 'f=$1; shift; ! "$@" vol-info --pool nea-pool smoke.raw >/dev/null 2>&1 && [ ! -e "$f" ]' \
  _ "$NEA_POOL_DIR/smoke.raw" "${V[@]}"

[ $fail = 0 ] || show_logs

# --- stop, and what must be gone afterwards
t4=$(now)
"$harness" stop "$lab"
rc=$?
t5=$(now)
stopped=1
t_stop=$(secs "$t4" "$t5")
check "harness stop exits 0 (${t_stop} s)" test $rc = 0
gone() { # PID: no such process (a zombie waiting for PID 1 counts as gone)
  local st
  [ -z "$1" ] && return 0
  st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 0
  [ "$st" = Z ]
}
check "libvirtd pid ${daemon_pid:-?} is gone" gone "$daemon_pid"
check "qemu pid ${qemu_pid:-?} is gone" gone "$qemu_pid"
no_process_mentions() { # STRING: no live process (but this one) has STRING on its command line
  local p cl st
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = $$ ] && continue
    st=$(cut -d' ' -f3 "$p/stat" 2>/dev/null) || continue
    [ "$st" = Z ] && continue
    cl=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    case "$cl" in *"$1"*) echo "# left: ${p#/proc/} $cl"; return 1 ;; esac
  done
  return 0
}
check "no process has the lab directory on its command line" no_process_mentions "$lab"
check "namespace $NEA_NETNS is gone" bash -c '! ip netns list | grep -qw "$1" && [ ! -e "/run/netns/$1" ]' _ "$NEA_NETNS"
check "the host's mount table has nothing of the lab" bash -c '! grep -qF "$1" /proc/self/mountinfo' _ "$scratch"
check "no socket left" bash -c '! ls "$1"/sock/libvirt-sock* >/dev/null 2>&1' _ "$lab"
check "the logs are kept" test -f "$lab/log/libvirtd.log"
check "a second stop exits 0" "$harness" stop "$lab"

echo "# timings: daemon start ${t_daemon} s, domain start ${t_dom} s, stop ${t_stop} s"

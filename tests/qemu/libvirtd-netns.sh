#!/usr/bin/env bash
# A private libvirtd inside a network namespace of its own, for tests that
# need the real qemu driver.  Everything lives under STATEDIR; nothing
# touches the host's libvirt.
#
#   libvirtd-netns.sh start STATEDIR   prints the connect URI
#   libvirtd-netns.sh env STATEDIR     prints NEA_NETNS=, NEA_URI=, NEA_POOL=, NEA_POOL_DIR=
#   libvirtd-netns.sh stop STATEDIR    tears everything down; idempotent
#   libvirtd-netns.sh packages         the Debian packages it needs
#
# The namespace holds a bridge br-ext with 192.0.2.1/24 and 2001:db8::1/64
# (documentation addresses only).  `ip netns exec` gives libvirtd a mount
# namespace of its own, in which private directories are bound over
# libvirt's built-in paths (libvirtd as root ignores most path settings).
set -euo pipefail

NEA_LAB_PKGS=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
              qemu-utils iproute2)

cmd=${1:-}
if [ "$cmd" = packages ]; then printf '%s\n' "${NEA_LAB_PKGS[@]}"; exit 0; fi
[ $# -eq 2 ] || { echo "usage: $0 start|stop|env STATEDIR | packages" >&2; exit 2; }
mkdir -p "$2"
dir=$(cd "$2" && pwd)
ns=nea-$(printf '%s' "$dir" | sha256sum | cut -c1-10)
sock=$dir/sock/libvirt-sock
uri="qemu:///system?socket=$sock"

env_out() {
  printf 'NEA_NETNS=%q\nNEA_URI=%q\nNEA_POOL=nea-pool\nNEA_POOL_DIR=%q\n' \
    "$ns" "$uri" "$dir/pool"
}

stop() {
  if [ -S "$sock" ]; then
    for d in $(virsh -c "$uri" list --all --name 2>/dev/null); do
      virsh -c "$uri" destroy "$d" >/dev/null 2>&1 || true
      virsh -c "$uri" undefine --nvram "$d" >/dev/null 2>&1 ||
        virsh -c "$uri" undefine "$d" >/dev/null 2>&1 || true
    done
  fi
  if [ -f "$dir/libvirtd.pid" ]; then
    pid=$(cat "$dir/libvirtd.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/libvirtd.pid"
  fi
  if ip netns list | grep -qw "$ns"; then
    # anything still running in the namespace (qemu, dnsmasq, ...)
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  fi
}

start() {
  stop
  mkdir -p "$dir"/{etc,run,lib,cache,log,sock,pool}
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add br-ext type bridge stp_state 0 forward_delay 0
  ip -n "$ns" addr add 192.0.2.1/24 dev br-ext
  ip -n "$ns" addr add 2001:db8::1/64 dev br-ext nodad
  ip -n "$ns" link set br-ext up
  cat >"$dir/etc/libvirtd.conf" <<CONF
unix_sock_dir = "$dir/sock"
auth_unix_ro = "none"
auth_unix_rw = "none"
unix_sock_rw_perms = "0700"
log_outputs = "3:file:$dir/log/libvirtd.log"
CONF
  cat >"$dir/etc/qemu.conf" <<CONF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
stdio_handler = "file"
CONF
  : >"$dir/log/libvirtd.log"
  # The directory is passed as an argument, never pasted into the script.
  ip netns exec "$ns" setsid sh -c '
    d=$1
    mount --bind "$d/etc" /etc/libvirt
    mount --bind "$d/run" /run/libvirt 2>/dev/null || { mkdir -p /run/libvirt && mount --bind "$d/run" /run/libvirt; }
    mount --bind "$d/lib" /var/lib/libvirt 2>/dev/null || { mkdir -p /var/lib/libvirt && mount --bind "$d/lib" /var/lib/libvirt; }
    mount --bind "$d/cache" /var/cache/libvirt 2>/dev/null || { mkdir -p /var/cache/libvirt && mount --bind "$d/cache" /var/cache/libvirt; }
    mount --bind "$d/log" /var/log/libvirt 2>/dev/null || { mkdir -p /var/log/libvirt && mount --bind "$d/log" /var/log/libvirt; }
    exec libvirtd -f "$d/etc/libvirtd.conf" -p "$d/libvirtd.pid"
  ' sh "$dir" >>"$dir/log/stdout.log" 2>&1 </dev/null &
  for _ in $(seq 300); do
    if virsh -c "$uri" version >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  if ! virsh -c "$uri" version >/dev/null 2>&1; then
    echo "libvirtd did not come up; its log:" >&2
    tail -n 30 "$dir/log/libvirtd.log" "$dir/log/stdout.log" >&2 || true
    stop
    exit 1
  fi
  virsh -c "$uri" pool-define-as nea-pool dir --target "$dir/pool" >/dev/null
  virsh -c "$uri" pool-start nea-pool >/dev/null
  echo "$uri"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  env) env_out ;;
  *) echo "usage: $0 start|stop|env STATEDIR | packages" >&2; exit 2 ;;
esac

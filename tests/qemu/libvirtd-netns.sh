#!/usr/bin/env bash
# A private libvirtd (real qemu driver) inside a network namespace of its own,
# for integration tests.  Everything it makes lives under STATEDIR or inside
# the namespace; the host's libvirt, mount table and network are not touched.
#
#   libvirtd-netns.sh start STATEDIR   make it all; stdout: the connect URI only
#   libvirtd-netns.sh stop STATEDIR    tear it all down; idempotent, safe after
#                                      a failed or partial start; keeps STATEDIR
#   libvirtd-netns.sh env STATEDIR     shell assignments (NEA_NETNS, NEA_URI,
#                                      NEA_POOL, NEA_POOL_DIR, NEA_BRIDGE,
#                                      NEA_LOG_DIR), for eval
#   libvirtd-netns.sh packages         the Debian packages it needs, one a line
#
# Exit status: 0 ok, 1 failure (reason and the daemon's log on stderr),
# 2 usage.  Needs root.
#
# What start makes:
#   - network namespace nea-<10 hex of sha256(realpath STATEDIR)>, so parallel
#     runs with different STATEDIRs never collide; lo up; bridge br-ext
#     (stp_state 0, forward_delay 0) with 192.0.2.1/24 and 2001:db8::1/64
#     nodad, up.  Documentation addresses only, and only inside the namespace.
#   - libvirtd run inside it.  libvirtd as root uses its built-in paths
#     (/etc/libvirt, /run/libvirt, /var/lib/libvirt, ...) whatever the config
#     says, so it runs in a mount namespace of its own (ip netns exec makes
#     one, marked rslave: host mounts propagate in, nothing propagates out)
#     with private directories of STATEDIR bound over those paths.
#   - storage pool nea-pool (type dir, target STATEDIR/pool): defined, built,
#     started.
#
# STATEDIR layout: etc/ (libvirtd.conf, qemu.conf; seen as /etc/libvirt),
# run/ lib/ cache/ log/ (/run/libvirt, /var/lib/libvirt, /var/cache/libvirt,
# /var/log/libvirt), sock/ (the sockets), pool/, libvirtd.pid,
# log/libvirtd.log (the daemon's log), log/libvirtd.out (its stdout/stderr),
# log/qemu/NAME.log (each domain's qemu log).  start clears etc/ run/ lib/
# sock/ of an earlier run; files already in pool/ become volumes of nea-pool.
# A socket path must fit in sun_path (108 bytes); when STATEDIR is too long
# for that, the sockets go to /run/nea-lab/<namespace>/ instead (removed by
# stop).  stop leaves STATEDIR (logs) to the caller.
#
# Environment:
#   NEA_LAB_TIMEOUT     seconds to wait for the daemon and its qemu driver
#                       (default 60)
#   NEA_LAB_LOG_LEVEL   libvirtd log level 1..4 (default 3 = warnings)
#   NEA_LAB_CAPS_CACHE  a directory shared between runs for libvirt's qemu
#                       capabilities cache (default "none": off, so that
#                       a test leaves nothing on the host; a developer may
#                       set e.g. /var/cache/nea-lab/qemu-capabilities).
#                       A private daemon probes every qemu-system-* binary
#                       at its first request, about 4 s each on 2 cores (x86_64
#                       and i386: 8 s); seeded from this cache it is ready in
#                       0.3 s.  libvirt checks each cached file (qemu's and its
#                       own ctime, kernel, CPU) and probes again when stale;
#                       start copies fresh results back (write to a temporary
#                       name, then rename: parallel runs are safe).
# shellcheck disable=SC2015,SC2016  # a && b || fail: fail is meant for either; bash -c '$1' on purpose
set -uo pipefail

# The minimal set on Debian 12 (bookworm), installed with
# --no-install-recommends (libvirt-daemon depends on
# libvirt-daemon-driver-qemu; both named for clarity).  Of
# libvirt-daemon-system only one thing is used: its postinst makes the user
# and the group libvirt-qemu.  The qemu driver of libvirt 9.0 looks both up
# (its built-in defaults) before it reads qemu.conf, so user = "root" there
# does not spare the look-up; without them the driver's init fails, libvirtd
# exits, and start says so.  Its config files, units and sockets are not
# used (ours are private).  It pulls polkitd, logrotate, iptables and the
# default network/nwfilter configs; where systemd is PID 1 it would also
# start the system libvirtd, which does not disturb ours (separate sockets,
# pidfile, /run/libvirt, state) but is better kept off with a policy-rc.d
# that exits 101 during the install, as scripts/dev.sh does.
NEA_LAB_PKGS=(libvirt-daemon-system libvirt-daemon libvirt-daemon-driver-qemu
              libvirt-clients qemu-system-x86 iproute2 util-linux)

NEA_POOL_NAME=nea-pool
NEA_BRIDGE_NAME=br-ext

usage() {
  echo "usage: $0 start|stop|env STATEDIR | packages" >&2
  exit 2
}

cmd=${1:-}
case "$cmd" in
  packages) [ $# -eq 1 ] || usage; printf '%s\n' "${NEA_LAB_PKGS[@]}"; exit 0 ;;
  start|stop|env) [ $# -eq 2 ] && [ -n "$2" ] || usage ;;
  *) usage ;;
esac

# Paths are derived from STATEDIR alone, the same way in every subcommand, so
# that stop needs no state that a failed start might not have written.
dir=$(realpath -m -- "$2")
ns=nea-$(printf '%s' "$dir" | sha256sum | cut -c1-10)
sockdir=$dir/sock
# longest socket name libvirtd makes there: libvirt-admin-sock
if [ $(( ${#sockdir} + 19 )) -ge 108 ]; then sockdir=/run/nea-lab/$ns; fi
sock=$sockdir/libvirt-sock
uri="qemu:///system?socket=$sock"
pidfile=$dir/libvirtd.pid
logdir=$dir/log
timeout_s=${NEA_LAB_TIMEOUT:-60}
caps_cache=${NEA_LAB_CAPS_CACHE:-none}
private_caps=$dir/cache/qemu/capabilities

say() { printf '%s\n' "libvirtd-netns: $*" >&2; }

ns_exists() { [ -e "/run/netns/$ns" ]; }

# alive PID: true while PID runs (a zombie counts as gone: PID 1 here reaps
# orphans only now and then)
alive() {
  local st
  st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# our_libvirtd PID: that PID is the libvirtd of this STATEDIR (not a reused pid)
our_libvirtd() {
  local cl
  cl=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  case "$cl" in *libvirtd*"$dir/etc/libvirtd.conf"*) return 0 ;; esac
  return 1
}

# term_wait SECONDS PID...: TERM, wait, then KILL and wait for the rest
term_wait() {
  local secs=$1 p i left
  shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null
  for ((i = 0; i < secs * 10; i++)); do
    left=0
    for p in "$@"; do alive "$p" && left=1; done
    [ $left = 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    left=0
    for p in "$@"; do alive "$p" && left=1; done
    [ $left = 0 ] && return 0
    sleep 0.1
  done
  say "processes still alive after KILL: $*"
  return 1
}

env_out() {
  printf 'NEA_NETNS=%q\n' "$ns"
  printf 'NEA_URI=%q\n' "$uri"
  printf 'NEA_POOL=%q\n' "$NEA_POOL_NAME"
  printf 'NEA_POOL_DIR=%q\n' "$dir/pool"
  printf 'NEA_BRIDGE=%q\n' "$NEA_BRIDGE_NAME"
  printf 'NEA_LOG_DIR=%q\n' "$logdir"
}

stop() {
  local rc=0 d pid pids=() p mp

  # 1. domains, while the daemon still answers
  if [ -S "$sock" ]; then
    local V=(timeout 15 virsh -q -c "$uri")
    for d in $("${V[@]}" list --all --name 2>/dev/null); do
      "${V[@]}" destroy "$d" >/dev/null 2>&1
      "${V[@]}" undefine --nvram "$d" >/dev/null 2>&1 ||
        "${V[@]}" undefine "$d" >/dev/null 2>&1 ||
        say "could not undefine domain $d"
    done
  fi

  # 2. the daemon
  pid=$(cat "$pidfile" 2>/dev/null)
  if [ -n "$pid" ] && alive "$pid" && our_libvirtd "$pid"; then
    term_wait 10 "$pid" || rc=1
  fi
  rm -f "$pidfile"

  # 3. whatever still runs in the namespace (qemu, a libvirtd that died
  #    before writing its pidfile, anything a test started there), then the
  #    namespace; its bridge and veths go with it
  if ns_exists; then
    for p in $(ip netns pids "$ns" 2>/dev/null); do alive "$p" && pids+=("$p"); done
    term_wait 5 "${pids[@]}" || rc=1
    ip netns del "$ns" 2>/dev/null || { say "could not delete namespace $ns"; rc=1; }
  fi

  # 4. sockets and the mounts a caller may have left under STATEDIR
  rm -f "$sockdir"/libvirt-sock "$sockdir"/libvirt-sock-ro "$sockdir"/libvirt-admin-sock 2>/dev/null
  case "$sockdir" in /run/nea-lab/*) rm -rf "$sockdir"; rmdir /run/nea-lab 2>/dev/null ;; esac
  while read -r mp; do
    umount -l "$mp" 2>/dev/null || { say "could not unmount $mp"; rc=1; }
  done < <(host_mounts_under "$dir" | sort -r)
  return $rc
}

# host_mounts_under DIR: mount points of this mount namespace at or below DIR
host_mounts_under() {
  local d=$1
  awk -v d="$d" '{
      mp = $5
      # mountinfo escapes space, tab, newline and backslash as \ooo
      while (match(mp, /\\[0-7][0-7][0-7]/)) {
        c = substr(mp, RSTART + 1, 3)
        mp = substr(mp, 1, RSTART - 1) sprintf("%c", (substr(c,1,1)*64 + substr(c,2,1)*8 + substr(c,3,1))) substr(mp, RSTART + 4)
      }
      if (mp == d || index(mp, d "/") == 1) print mp
    }' /proc/self/mountinfo
}

show_log() {
  local f
  for f in "$logdir/libvirtd.out" "$logdir/libvirtd.log"; do
    [ -s "$f" ] || continue
    echo "---- $f (last 40 lines)" >&2
    tail -n 40 "$f" >&2
  done
}

fail() {
  say "start failed: $*"
  if grep -q "Failed to parse \(user\|group\) 'libvirt-qemu'" "$logdir/libvirtd.log" 2>/dev/null; then
    say "the qemu driver needs the user and group libvirt-qemu (package libvirt-daemon-system makes them)"
  fi
  show_log
  stop >/dev/null 2>&1
  exit 1
}

start() {
  [ "$(id -u)" = 0 ] || { say "must run as root"; exit 1; }
  local t
  for t in ip virsh libvirtd unshare mount setsid timeout sha256sum; do
    command -v "$t" >/dev/null || { say "missing command $t (packages: $0 packages)"; exit 1; }
  done
  [ -x /usr/bin/qemu-system-x86_64 ] || { say "missing /usr/bin/qemu-system-x86_64 (package qemu-system-x86)"; exit 1; }

  # leftovers of an earlier run with this STATEDIR
  if ns_exists || [ -e "$pidfile" ]; then stop >/dev/null 2>&1; fi

  mkdir -p "$dir" && chmod 0700 "$dir" || fail "cannot make $dir"
  # a fresh daemon state every time (an earlier run's persistent config
  # would hold its pool and domains); pool/ (volumes a caller put there
  # before start show up in nea-pool), cache/ and log/ are kept
  rm -rf "${dir:?}"/etc "${dir:?}"/run "${dir:?}"/lib "${dir:?}"/sock || fail "cannot clear $dir"
  mkdir -p "$dir"/{etc,run,lib,cache,sock,pool} "$logdir" "$sockdir" || fail "cannot make directories in $dir"
  # mount points; they exist wherever libvirt-daemon-system is installed
  mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt ||
    fail "cannot make libvirt's mount points"

  cat >"$dir/etc/libvirtd.conf" <<CONF || fail "cannot write libvirtd.conf"
# private libvirtd of $0 (no TCP/TLS: libvirtd listens on them only with --listen)
unix_sock_dir = "$sockdir"
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "${NEA_LAB_LOG_LEVEL:-3}:file:$logdir/libvirtd.log"
CONF
  # cgroup_controllers = []: no cgroups made on the host (two parallel
  # daemons would also make the same machine/qemu-1-NAME paths).
  # stdio_handler = "file": qemu logs without virtlogd.
  cat >"$dir/etc/qemu.conf" <<CONF || fail "cannot write qemu.conf"
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
stdio_handler = "file"
cgroup_controllers = [ ]
CONF
  : >"$logdir/libvirtd.log"
  if [ "$caps_cache" != none ] && [ -d "$caps_cache" ]; then
    mkdir -p "$private_caps" && cp -p "$caps_cache"/*.xml "$private_caps"/ 2>/dev/null
  fi

  ip netns add "$ns" || fail "ip netns add $ns"
  ip -n "$ns" link set lo up &&
    ip -n "$ns" link add "$NEA_BRIDGE_NAME" type bridge stp_state 0 forward_delay 0 &&
    ip -n "$ns" addr add 192.0.2.1/24 dev "$NEA_BRIDGE_NAME" &&
    ip -n "$ns" addr add 2001:db8::1/64 dev "$NEA_BRIDGE_NAME" nodad &&
    ip -n "$ns" link set "$NEA_BRIDGE_NAME" up || fail "cannot set up $NEA_BRIDGE_NAME in $ns"

  # The daemon: its own session (no signal from the caller's terminal or
  # process group), stdio to a log file (never the caller's pipes: a caller's
  # $(...) would wait for them), other inherited descriptors closed.  STATEDIR
  # is passed as an argument, never pasted into the script.
  # Mounts: ip netns exec already unshares the mount namespace and marks /
  # rslave; unshare makes that explicit.  Slave, not private: unmounts on
  # the host (another run's "ip netns del" of its /run/netns/NAME) must
  # still reach this namespace, or its copy would keep that other network
  # namespace alive for as long as this daemon runs.  Nothing mounted here
  # reaches the host.  ip, unshare, setsid and bash all exec: the pid of
  # this job is libvirtd's.
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
    done
    exec ip netns exec "$ns" unshare --mount --propagation slave setsid bash -c '
      set -e
      d=$1
      mount --make-rslave /
      mount --bind "$d/etc" /etc/libvirt
      mount --bind "$d/run" /run/libvirt
      mount --bind "$d/lib" /var/lib/libvirt
      mount --bind "$d/cache" /var/cache/libvirt
      mount --bind "$d/log" /var/log/libvirt
      exec libvirtd -f "$d/etc/libvirtd.conf" -p "$d/libvirtd.pid"
    ' nea-libvirtd "$dir"
  ) </dev/null >>"$logdir/libvirtd.out" 2>&1 &
  local launcher=$! ok=0 pid left deadline=$((SECONDS + timeout_s))
  # "capabilities" answers only once the qemu driver is up and has probed
  # the qemu binaries (or found them in its cache)
  while [ $SECONDS -lt $deadline ]; do
    left=$((deadline - SECONDS))
    if [ -S "$sock" ] && timeout "$left" virsh -q -c "$uri" capabilities >/dev/null 2>&1; then ok=1; break; fi
    pid=$(cat "$pidfile" 2>/dev/null)
    if ! alive "$launcher" && { [ -z "$pid" ] || ! alive "$pid"; }; then
      fail "libvirtd exited"
    fi
    sleep 0.1
  done
  [ $ok = 1 ] || fail "libvirtd (qemu driver) did not answer on $sock within ${timeout_s} s"
  if [ "$caps_cache" != none ]; then
    local f
    for f in "$private_caps"/*.xml; do
      [ -f "$f" ] || continue
      cmp -s "$f" "$caps_cache/${f##*/}" && continue
      mkdir -p "$caps_cache" &&
        cp "$f" "$caps_cache/.${f##*/}.$$" &&
        mv -f "$caps_cache/.${f##*/}.$$" "$caps_cache/${f##*/}" ||
        rm -f "$caps_cache/.${f##*/}.$$"
    done
  fi

  local V=(timeout 30 virsh -q -c "$uri")
  "${V[@]}" pool-define-as "$NEA_POOL_NAME" dir --target "$dir/pool" >/dev/null &&
    "${V[@]}" pool-build "$NEA_POOL_NAME" >/dev/null &&
    "${V[@]}" pool-start "$NEA_POOL_NAME" >/dev/null || fail "cannot make pool $NEA_POOL_NAME"
  printf '%s\n' "$uri"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  env) env_out ;;
esac

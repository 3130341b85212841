#!/usr/bin/env bash
# A private Open vSwitch (ovsdb-server + ovs-vswitchd, userspace datapath)
# inside a network namespace that the caller made, for integration tests.
# Nothing of the host's Open vSwitch is used or touched: own database, own
# run, log and config directories, no init script, no systemd unit.
#
#   ovs-netns.sh start STATEDIR NETNS  start both daemons inside NETNS (which
#                                      must exist); stdout: shell assignments
#                                      (the same as env), for eval
#   ovs-netns.sh stop STATEDIR [NETNS] stop both daemons (exit --cleanup, then
#                                      TERM/KILL), remove the run directory;
#                                      idempotent, safe after a failed or
#                                      partial start; keeps the db and logs
#   ovs-netns.sh env STATEDIR          shell assignments, without starting:
#                                      OVS_RUNDIR, NEA_OVS_DB, NEA_OVS_DIR,
#                                      NEA_OVS_LOG_DIR
#   ovs-netns.sh vsctl STATEDIR ARGS.. ovs-vsctl ARGS against the private db
#                                      (exit status is ovs-vsctl's)
#   ovs-netns.sh packages              the Debian packages it needs, one a line
#
# Exit status: 0 ok, 1 failure (reason and the daemons' logs on stderr),
# 2 usage.  Needs root.
#
# Layout: STATEDIR/ovs/conf.db (made anew by every start), ovsdb-server.log,
# ovs-vswitchd.log, *.out (the daemons' stdout/stderr), etc/ (OVS_SYSCONFDIR,
# empty), run/ (OVS_RUNDIR: db.sock, *.pid, *.ctl, BRIDGE.mgmt and
# BRIDGE.snoop).  Socket paths must fit in sun_path (108 bytes); when
# STATEDIR is too long for that, the run directory is /run/nea-lab/ovs-<10
# hex of sha256(realpath STATEDIR)> instead (removed by stop).
#
# Bridges: there is no openvswitch kernel module here, so every bridge must
# use the userspace datapath:
#   ovs-netns.sh vsctl S add-br br-tn -- set bridge br-tn datapath_type=netdev
# Its ports are ordinary kernel devices of NETNS (veth, tap); OVS reads and
# writes them with AF_PACKET sockets.  The bridge's own port (BRIDGE, type
# internal) is a tap device in NETNS, made DOWN; stop removes it.
#
# libvirt: a libvirtd that adds <virtualport type='openvswitch'/> ports runs
# ovs-vsctl, which finds the db at $OVS_RUNDIR/db.sock (default
# /var/run/openvswitch).  libvirtd and the ovs-vsctl it runs inherit the
# environment of whoever started libvirtd, so export OVS_RUNDIR (from env,
# known before start) before tests/qemu/libvirtd-netns.sh start:
#   eval "$(tests/qemu/ovs-netns.sh env S)"; export OVS_RUNDIR
#   eval "$(tests/qemu/libvirtd-netns.sh env S)"
#   tests/qemu/libvirtd-netns.sh start S >/dev/null
#   tests/qemu/ovs-netns.sh start S "$NEA_NETNS" >/dev/null
#   ...; tests/qemu/ovs-netns.sh stop S "$NEA_NETNS"; libvirtd-netns.sh stop S
# libvirt adds the guest's tap (vnetN) with tag=ID for <vlan><tag id=ID/>.
#
# Environment:
#   NEA_LAB_OVS_TIMEOUT  seconds to wait for each daemon and for vsctl
#                        (default 30)
#   NEA_LAB_OVS_TSO      1 (default) or 0: other_config:userspace-tso-enable.
#                        veth and tap devices hand TCP packets to AF_PACKET
#                        with the checksum not yet computed (TX checksum
#                        offload); without this OVS forwards them as they are
#                        and the receiver drops them: ping works, TCP does
#                        not.  With it OVS uses virtio-net headers on its
#                        sockets and the checksum is completed.
# shellcheck disable=SC2015  # a && b || fail: fail is meant for either
set -uo pipefail

# ovsdb-server, ovsdb-tool, ovs-appctl: openvswitch-common; ovs-vswitchd,
# ovs-vsctl: openvswitch-switch.  Install with --no-install-recommends.  Its
# postinst runs "invoke-rc.d openvswitch-switch start" (and, where systemd is
# PID 1, would start openvswitch-switch.service, a host-wide OVS); a
# policy-rc.d that exits 101 during the install keeps it off, as
# scripts/dev.sh does for libvirt.
NEA_OVS_PKGS=(openvswitch-switch openvswitch-common iproute2)

usage() {
  echo "usage: $0 start STATEDIR NETNS | stop STATEDIR [NETNS] | env STATEDIR | vsctl STATEDIR ARGS... | packages" >&2
  exit 2
}

cmd=${1:-}
case "$cmd" in
  packages) [ $# -eq 1 ] || usage; printf '%s\n' "${NEA_OVS_PKGS[@]}"; exit 0 ;;
  start) [ $# -eq 3 ] && [ -n "$2" ] && [ -n "$3" ] || usage ;;
  stop) [ $# -eq 2 ] || [ $# -eq 3 ] || usage; [ -n "$2" ] || usage ;;
  env) [ $# -eq 2 ] && [ -n "$2" ] || usage ;;
  vsctl) [ $# -ge 2 ] && [ -n "$2" ] || usage ;;
  *) usage ;;
esac

# Paths are derived from STATEDIR alone, the same way in every subcommand.
dir=$(realpath -m -- "$2")
ovsdir=$dir/ovs
rundir=$ovsdir/run
# longest socket names there: ovs-vswitchd.<pid up to 7 digits>.ctl (26) and
# <bridge name up to 15>.snoop (21), each after a slash
if [ $(( ${#rundir} + 27 )) -ge 108 ]; then
  rundir=/run/nea-lab/ovs-$(printf '%s' "$dir" | sha256sum | cut -c1-10)
fi
db=$ovsdir/conf.db
dbsock=$rundir/db.sock
timeout_s=${NEA_LAB_OVS_TIMEOUT:-30}

# every OVS program we run sees only the private directories
export OVS_RUNDIR=$rundir OVS_LOGDIR=$ovsdir OVS_DBDIR=$ovsdir OVS_SYSCONFDIR=$ovsdir/etc

say() { printf '%s\n' "ovs-netns: $*" >&2; }

# alive PID: true while PID runs (a zombie counts as gone)
alive() {
  local st
  st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# our_daemons: pids of the ovsdb-server and ovs-vswitchd of this STATEDIR,
# found by their command lines (both name $dbsock or $db), so that stop
# finds them without pidfiles too
our_daemons() {
  local f p cl
  for f in /proc/[0-9]*/cmdline; do
    p=${f#/proc/}; p=${p%/cmdline}
    cl=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
    case "$cl" in
      ovsdb-server\ "$db "*|*/ovsdb-server\ "$db "*) ;;
      ovs-vswitchd\ "unix:$dbsock "*|*/ovs-vswitchd\ "unix:$dbsock "*) ;;
      *) continue ;;
    esac
    alive "$p" && echo "$p"
  done
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
  printf 'OVS_RUNDIR=%q\n' "$rundir"
  printf 'NEA_OVS_DB=%q\n' "unix:$dbsock"
  printf 'NEA_OVS_DIR=%q\n' "$ovsdir"
  printf 'NEA_OVS_LOG_DIR=%q\n' "$ovsdir"
}

vsctl() {
  ovs-vsctl --db="unix:$dbsock" --timeout="$timeout_s" "$@"
}

stop() {
  local ns=${1:-} rc=0 brs=() br pids=() p

  # 1. bridges (to remove their internal ports if a daemon has to be killed)
  if [ -S "$dbsock" ]; then
    mapfile -t brs < <(ovs-vsctl --db="unix:$dbsock" --timeout=5 list-br 2>/dev/null)
  fi
  if [ ${#brs[@]} -eq 0 ] && [ -f "$db" ]; then
    # ovsdb-server gone: read the names from the database file
    mapfile -t brs < <(timeout 10 ovsdb-tool query "$db" \
        '["Open_vSwitch",{"op":"select","table":"Bridge","where":[],"columns":["name"]}]' 2>/dev/null |
      grep -o '"name":"[^"]*"' | cut -d'"' -f4)
  fi
  # 2. ovs-vswitchd: exit --cleanup also deletes the bridges' internal
  #    ports and the datapath's ovs-netdev device in the namespace
  if [ -f "$rundir/ovs-vswitchd.pid" ]; then
    timeout 10 ovs-appctl --timeout=5 -t ovs-vswitchd exit --cleanup >/dev/null 2>&1
  fi
  if [ -f "$rundir/ovsdb-server.pid" ]; then
    timeout 10 ovs-appctl --timeout=5 -t ovsdb-server exit >/dev/null 2>&1
  fi
  # 3. whatever of ours still runs (exit still under way, no pidfile yet, hung)
  for ((p = 0; p < 20; p++)); do
    mapfile -t pids < <(our_daemons)
    [ ${#pids[@]} -eq 0 ] && break
    sleep 0.1
  done
  term_wait 5 "${pids[@]}" || rc=1
  # 4. devices a killed ovs-vswitchd left in the namespace
  if [ -n "$ns" ] && [ -e "/run/netns/$ns" ]; then
    for br in "${brs[@]}" ovs-netdev; do
      ip -n "$ns" link show dev "$br" >/dev/null 2>&1 || continue
      ip -n "$ns" link del dev "$br" 2>/dev/null || { say "could not delete $br in $ns"; rc=1; }
    done
  fi
  # 5. run files
  rm -rf "$rundir" || rc=1
  case "$rundir" in /run/nea-lab/*) rmdir /run/nea-lab 2>/dev/null ;; esac
  return $rc
}

show_log() {
  local f
  for f in "$ovsdir"/ovsdb-server.out "$ovsdir"/ovsdb-server.log "$ovsdir"/ovs-vswitchd.out "$ovsdir"/ovs-vswitchd.log; do
    [ -s "$f" ] || continue
    echo "---- $f (last 30 lines)" >&2
    tail -n 30 "$f" >&2
  done
}

fail() {
  say "start failed: $*"
  show_log
  stop "$ns" >/dev/null 2>&1
  exit 1
}

# daemon NAME ARGS...: run the OVS daemon NAME inside the namespace; it
# detaches once ready.  Stdio to NAME.out (never the caller's pipes: a
# caller's $(...) would wait for them), other descriptors closed.
daemon() {
  local name=$1
  shift
  (
    for fd in /proc/"$BASHPID"/fd/*; do
      fd=${fd##*/}
      [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
    done
    exec timeout "$timeout_s" ip netns exec "$ns" "$name" "$@"
  ) </dev/null >>"$ovsdir/$name.out" 2>&1
}

start() {
  [ "$(id -u)" = 0 ] || { say "must run as root"; exit 1; }
  local t
  for t in ip ovsdb-tool ovsdb-server ovs-vswitchd ovs-vsctl ovs-appctl timeout sha256sum; do
    command -v "$t" >/dev/null || { say "missing command $t (packages: $0 packages)"; exit 1; }
  done
  local schema=/usr/share/openvswitch/vswitch.ovsschema
  [ -f "$schema" ] || { say "missing $schema (package openvswitch-common)"; exit 1; }
  [ -e "/run/netns/$ns" ] || { say "no network namespace $ns"; exit 1; }

  # leftovers of an earlier run with this STATEDIR
  if [ -e "$rundir" ] || [ -n "$(our_daemons)" ]; then stop "$ns" >/dev/null 2>&1; fi

  mkdir -p "$ovsdir/etc" "$rundir" && chmod 0700 "$ovsdir" "$rundir" || fail "cannot make $ovsdir and $rundir"
  rm -f "$db" "$ovsdir"/.conf.db.~lock~ "$ovsdir"/*.out || fail "cannot clear $ovsdir"
  ovsdb-tool create "$db" "$schema" || fail "ovsdb-tool create $db"

  daemon ovsdb-server "$db" --remote="punix:$dbsock" --pidfile --detach \
    --log-file --verbose=console:off ||
    fail "ovsdb-server did not start (status $?)"
  local tso=true
  [ "${NEA_LAB_OVS_TSO:-1}" = 0 ] && tso=false
  vsctl --no-wait init -- set Open_vSwitch . "other_config:userspace-tso-enable=$tso" ||
    fail "cannot initialise the database"
  daemon ovs-vswitchd "unix:$dbsock" --pidfile --detach --log-file \
    --verbose=console:off ||
    fail "ovs-vswitchd did not start (status $?)"
  # answers once it has read the database and configured itself
  timeout "$timeout_s" ovs-appctl --timeout="$timeout_s" -t ovs-vswitchd version >/dev/null 2>&1 ||
    fail "ovs-vswitchd does not answer"
  vsctl show >/dev/null || fail "ovs-vsctl show"
  env_out
}

case "$cmd" in
  start) ns=$3; start ;;
  stop) stop "${3:-}" ;;
  env) env_out ;;
  vsctl) shift 2; vsctl "$@" ;;
esac

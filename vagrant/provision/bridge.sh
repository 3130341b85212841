#!/usr/bin/env bash
# Vagrant provisioner 2 (root, inside the VM): the SP's external network, a
# Linux bridge br-ext with 192.0.2.1/24 and 2001:db8::1/64 and no ports (the
# appliances' taps join it).  Persistent through ifupdown (the Debian box's
# network manager, bridge_ports from bridge-utils), and brought up now.
set -euo pipefail
conf=/etc/network/interfaces.d/br-ext
cat > "$conf.new" <<'IFACES'
# neaprov's Vagrant lab (vagrant/provision/bridge.sh): the external network
auto br-ext
iface br-ext inet static
    address 192.0.2.1/24
    bridge_ports none
    bridge_stp off
    bridge_fd 0
    bridge_maxwait 0

iface br-ext inet6 static
    address 2001:db8::1/64
    # a bridge without ports has no carrier: do not wait for DAD
    dad-attempts 0
IFACES
changed=1
if [ -f "$conf" ] && cmp -s "$conf" "$conf.new"; then changed=0; fi
mv "$conf.new" "$conf"
# the box's /etc/network/interfaces normally sources interfaces.d already
if ! grep -Eq '^[[:space:]]*source(-directory)?[[:space:]]+/etc/network/interfaces\.d' /etc/network/interfaces; then
  printf '\nsource /etc/network/interfaces.d/*\n' >> /etc/network/interfaces
fi
if [ $changed = 1 ] && ip link show br-ext >/dev/null 2>&1; then
  ifdown br-ext 2>/dev/null || true
fi
ifup br-ext
# (the output in a variable: grep -q on a pipe would fail under pipefail)
addrs=$(ip addr show dev br-ext)
ip -br addr show dev br-ext
grep -q 'inet 192\.0\.2\.1/24' <<<"$addrs" || { echo "br-ext has no 192.0.2.1/24" >&2; exit 1; }
grep -q 'inet6 2001:db8::1/64' <<<"$addrs" || { echo "br-ext has no 2001:db8::1/64" >&2; exit 1; }

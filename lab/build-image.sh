#!/usr/bin/env bash
# Builds the lab's appliance image from Debian packages: a bookworm root
# filesystem (systemd, cloud-init, iproute2, nftables, openssh-server,
# qemu-guest-agent, the cloud kernel) as a compressed qcow2, plus the kernel
# and initrd for direct kernel boot.  Cached by this script's hash: a rerun is instant.
#
#   lab/build-image.sh [CACHE_DIR]     prints the directory holding
#                                      nea-appliance.qcow2, vmlinuz, initrd.img
#
# Needs root, mmdebstrap, e2fsprogs, qemu-utils; reaches Debian's mirror only
# (the one apt is configured with here).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-/var/cache/neaprov-lab}
hash=$(sha256sum "$0" | cut -c1-16)
out=$cache/image-$hash
# one build at a time (two labs start together on a cold cache): the
# second waits and finds the first one's image
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9
if [ -f "$out/nea-appliance.qcow2" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ]; then
  echo "$out"; exit 0
fi
mirror=${NEA_LAB_MIRROR:-http://deb.debian.org/debian}
security=${NEA_LAB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
pkgs=systemd-sysv,udev,dbus,cloud-init,iproute2,iputils-ping,netbase,nftables,openssh-server,qemu-guest-agent,linux-image-cloud-amd64,initramfs-tools,e2fsprogs,ifupdown
mmdebstrap --mode=root --variant=apt --include="$pkgs" bookworm "$rootfs" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb $security bookworm-security main" >&2
# cloud-init: NoCloud only (no fallback to DHCP without a seed); networkd
# renders the network config
cat > "$rootfs/etc/cloud/cloud.cfg.d/90-neaprov.cfg" <<CFG
datasource_list: [NoCloud]
system_info:
  network:
    renderers: [networkd, eni]
CFG
chroot "$rootfs" systemctl enable systemd-networkd serial-getty@ttyS0.service >&2
# every appliance makes its own host keys at first boot
rm -f "$rootfs"/etc/ssh/ssh_host_*
: > "$rootfs/etc/machine-id"
echo "/dev/vda / ext4 defaults 0 1" > "$rootfs/etc/fstab"
mkdir -p "$work/out"
cp "$rootfs"/boot/vmlinuz-* "$work/out/vmlinuz"
cp "$rootfs"/boot/initrd.img-* "$work/out/initrd.img"
truncate -s 2G "$work/root.raw"
mkfs.ext4 -q -L nea-root -d "$rootfs" "$work/root.raw"
qemu-img convert -c -O qcow2 "$work/root.raw" "$work/out/nea-appliance.qcow2"
mkdir -p "$cache"
rm -rf "$out"
mv "$work/out" "$out"
chmod 0644 "$out"/*
echo "$out"

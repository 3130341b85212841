#!/usr/bin/env bash
# Vagrant provisioner 1 (root, inside the VM): make this Debian 12 VM a KVM
# host.  libvirt with the qemu driver, QEMU, bridge-utils for br-ext, and
# what lab/build-image.sh needs (mmdebstrap, e2fsprogs, qemu-utils).  The
# appliance runs with <domain type='kvm'>, so /dev/kvm must be here: that
# needs nested virtualisation on the physical host.
set -euo pipefail

if [ ! -c /dev/kvm ]; then
  cat >&2 <<'MSG'
no /dev/kvm inside the VM: nested virtualisation is off on the physical host.
Enable it there (Intel: "options kvm_intel nested=1", AMD: "options kvm_amd
nested=1" in /etc/modprobe.d/, then reload the module or reboot; check with
cat /sys/module/kvm_*/parameters/nested), then: vagrant destroy -f && vagrant up
MSG
  exit 1
fi

pkgs=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-system libvirt-clients
      qemu-system-x86 qemu-utils bridge-utils mmdebstrap e2fsprogs iputils-ping
      ca-certificates)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

systemctl enable --now libvirtd.service
# libvirt's NAT network "default" (a private range) is not used here: the
# appliance is on br-ext; keep this host on documentation addresses only
if virsh -q -c qemu:///system net-info default >/dev/null 2>&1; then
  virsh -q -c qemu:///system net-autostart default --disable >/dev/null 2>&1 || true
  virsh -q -c qemu:///system net-destroy default >/dev/null 2>&1 || true
fi
virsh -c qemu:///system version
echo "KVM host ready: $(nproc) vCPUs, /dev/kvm present"

#!/usr/bin/env bash
# Vagrant provisioner 4 (root, inside the VM): deploy one appliance onto this
# KVM host with the installed neaprov.
#   1. build (or reuse) the appliance image: lab/build-image.sh, from Debian's
#      packages, cached in /var/cache/neaprov-lab by the script's hash;
#   2. copy image, kernel and initrd to /var/lib/neaprov/images/;
#   3. a dir storage pool "default" on /var/lib/libvirt/images (autostart);
#   4. the plan vagrant/provision/plans/vagrant.yaml to /etc/neaprov/plans/
#      and the spec vagrant/provision/demo.yaml to /etc/neaprov/specs/;
#   5. neaprov apply (waits until the appliance's SSH port answers), status;
#   6. the appliance answers ping on 192.0.2.10 and 2001:db8::10 from br-ext.
# Rerunning it (vagrant provision) converges: apply finds nothing to change.
#   appliance.sh SRC        SRC: the repository inside the VM
set -euo pipefail
src=${1:?usage: appliance.sh SRC}
virsh=(virsh -q -c qemu:///system)

echo "== appliance image (lab/build-image.sh; a few minutes the first time)"
img=$("$src/lab/build-image.sh")
install -d -m 0755 /var/lib/neaprov/images
for f in nea-appliance.qcow2 vmlinuz initrd.img; do
  if ! cmp -s "$img/$f" "/var/lib/neaprov/images/$f"; then
    install -m 0644 "$img/$f" "/var/lib/neaprov/images/$f"
  fi
done
ls -l /var/lib/neaprov/images

echo "== storage pool default"
if ! "${virsh[@]}" pool-info default >/dev/null 2>&1; then
  mkdir -p /var/lib/libvirt/images
  "${virsh[@]}" pool-define-as default dir --target /var/lib/libvirt/images
fi
"${virsh[@]}" pool-autostart default
if ! grep -Eq '^State:[[:space:]]+running' <<<"$("${virsh[@]}" pool-info default)"; then
  "${virsh[@]}" pool-start default
fi
"${virsh[@]}" pool-info default

echo "== plan and spec"
install -d -m 0755 /etc/neaprov/plans /etc/neaprov/specs
install -m 0644 "$src/vagrant/provision/plans/vagrant.yaml" /etc/neaprov/plans/vagrant.yaml
install -m 0644 "$src/vagrant/provision/demo.yaml" /etc/neaprov/specs/demo.yaml
neaprov validate /etc/neaprov/specs/demo.yaml

echo "== neaprov apply on qemu:///system"
neaprov apply --timeout 600 /etc/neaprov/specs/demo.yaml
neaprov status

echo "== the appliance from br-ext"
fail=0
for a in 192.0.2.10 2001:db8::10; do
  if ping -c 3 -W 2 "$a" >/dev/null 2>&1; then echo "ok: $a answers ping"
  else echo "FAIL: $a does not answer ping"; fail=1; fi
done
if timeout 5 bash -c 'exec 3<>/dev/tcp/192.0.2.10/22' 2>/dev/null; then
  echo "ok: 192.0.2.10 port 22 open"
else
  echo "FAIL: 192.0.2.10 port 22 closed"; fail=1
fi
if ping -c 1 -W 2 192.0.2.11 >/dev/null 2>&1; then
  echo "FAIL: 192.0.2.11 answers (nothing should be there)"; fail=1
else
  echo "ok: 192.0.2.11 silent"
fi
exit $fail

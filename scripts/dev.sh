#!/usr/bin/env bash
# The README's two commands, run on a fresh Debian 12 machine as root:
#
#   scripts/dev.sh demo   install what is missing, build, run the main job
#   scripts/dev.sh test   install what is missing, build, run every test
#
# Packages are installed with apt-get only when missing.  Nothing here builds
# a command line from input.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

build_pkgs=(build-essential cmake pkg-config libxml2-dev libyaml-dev libisofs-dev
            libvirt-dev libcurl4-openssl-dev libsqlite3-dev libcmocka-dev)
# Every package whose command a test runs, named even when another package
# pulls it in: installs use --no-install-recommends, so a Recommends is
# never enough (virt-xml-validate runs xmllint, from libxml2-utils, only a
# Recommends of libvirt-daemon).  By what needs it:
#   consumers/*: libvirt-clients (virt-xml-validate) libxml2-utils (xmllint)
#     genisoimage (isoinfo) util-linux (blkid) cloud-init python3 python3-yaml
#   consumers/public-ips: nftables (nft) util-linux (unshare)
#   fuzz build: clang libclang-rt-14-dev
#   qemu/*, lab/boot: a private libvirtd with the qemu driver
#     (tests/qemu/libvirtd-netns.sh): libvirt-daemon libvirt-daemon-driver-qemu
#     libvirt-daemon-system (only for the libvirt-qemu user the driver needs)
#     qemu-system-x86 iproute2 (ip) mount (mount, umount) util-linux (setsid)
#   lab/boot, lab/networks, lab/ovs: mmdebstrap e2fsprogs (mkfs.ext4) qemu-utils (qemu-img)
#     iputils-ping (ping) dnsmasq-base (dnsmasq)
#   cli/image-url, unit/fetch: openssl (the test server's certificate)
#   vagrant/validate: vagrant vagrant-libvirt
#   dist/manpage-completion, install/prefix: groff-base (groff) bash-completion
#   abi/symbols, install/prefix: binutils (nm, objdump, readelf)
#   lab/ovs: openvswitch-switch (ovsdb-server, ovs-vswitchd, ovs-vsctl:
#     a private Open vSwitch with the userspace datapath, tests/qemu/ovs-netns.sh;
#     the policy below keeps the install from starting the host's)
test_pkgs=(libvirt-clients libxml2-utils cloud-init genisoimage util-linux python3 python3-yaml
           clang libclang-rt-14-dev libvirt-daemon libvirt-daemon-driver-qemu
           libvirt-daemon-system qemu-system-x86 qemu-utils iproute2 mount nftables
           mmdebstrap e2fsprogs iputils-ping dnsmasq-base openssl vagrant vagrant-libvirt
           groff-base bash-completion binutils openvswitch-switch)

log() { printf '\n== %s\n' "$*"; }

install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "missing packages: ${missing[*]}; run as root" >&2; exit 1; }
    sudo=(sudo)
  fi
  local had_cloud_init=1
  dpkg-query -W -f='${Status}' cloud-init 2>/dev/null | grep -q 'ok installed' || had_cloud_init=0
  log "installing: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  # Installing libvirt-daemon-system or openvswitch-switch must not start a
  # system libvirtd or Open vSwitch: the tests run their own.  Where no policy says otherwise, forbid service
  # starts for the length of the install.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee $policy >/dev/null
    "${sudo[@]}" chmod 755 $policy
    made_policy=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" || rc=$?
  if [ $made_policy = 1 ]; then "${sudo[@]}" rm -f $policy; fi
  [ $rc = 0 ] || { echo "apt-get install failed ($rc)" >&2; exit $rc; }
  # cloud-init is here only for its validators ("cloud-init schema",
  # "cloud-init devel net-convert"); keep it from configuring this machine
  # at its next boot.
  if [ $had_cloud_init = 0 ] && [ -d /etc/cloud ]; then
    "${sudo[@]}" touch /etc/cloud/cloud-init.disabled
  fi
}

configure_build() { # DIR [cmake args...]
  local dir=$1; shift
  log "configure and build ($dir)"
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
}

cmd_demo() {
  install_missing "${build_pkgs[@]}"
  configure_build build
  local neaprov=(build/plugin/neaprov --plans hw/plans --template templates/domain.xml)
  log "validate the example specs (the last one is refused on purpose)"
  set +e
  "${neaprov[@]}" validate examples/*.yaml
  echo "exit status: $? (2 = a spec was refused)"
  set -e
  log "render examples/acme-dual-stack.yaml into out/acme-nea"
  "${neaprov[@]}" render examples/acme-dual-stack.yaml -o out/acme-nea
  ls -l out/acme-nea
  log "the main job: plan, apply and status of examples/lab-demo.yaml on test:///default"
  # libvirt's in-process test driver: no daemon; its host and the state
  # database live as long as this one run
  "${neaprov[@]}" apply examples/lab-demo.yaml
}

# As root everything the tests need is here, so no test may skip
# (tests/lib.sh: a skip then fails); NEA_NO_SKIP=0 allows skips again.
no_skip() {
  if [ "$(id -u)" = 0 ]; then export NEA_NO_SKIP=${NEA_NO_SKIP:-1}; fi
}

cmd_test() {
  install_missing "${build_pkgs[@]}" "${test_pkgs[@]}"
  no_skip
  # every build with -Werror (NEA_WERROR): a warning fails CI
  log "fuzz targets: build with clang and run them for 20 s together (specs; plans and host URIs)"
  CC=clang configure_build build-fuzz -DNEA_FUZZ=ON -DBUILD_TESTING=OFF -DNEA_WERROR=ON
  local corpus spec; corpus=$(mktemp -d)
  mkdir -p "$corpus/spec" "$corpus/plan"
  # the spec target's seeds are the golden cases' specs, copied into the
  # scratch corpus (the repository keeps no copy of them)
  for spec in tests/data/render/*/spec.yaml; do
    cp "$spec" "$corpus/spec/$(basename "$(dirname "$spec")").yaml"
  done
  build-fuzz/tests/fuzz/fuzz_spec -max_total_time=10 -rss_limit_mb=2048 \
      "$corpus/spec" 2>&1 | tail -n 1
  build-fuzz/tests/fuzz/fuzz_plan -max_total_time=10 -rss_limit_mb=2048 \
      "$corpus/plan" tests/fuzz/corpus-plan 2>&1 | tail -n 1
  rm -rf "$corpus"
  log "every test under AddressSanitizer and UBSan"
  configure_build build-asan -DNEA_SANITIZE=ON -DNEA_WERROR=ON
  # the real-boot lab (label "lab") runs once, in the normal build below
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      ctest --output-on-failure -j"$(nproc)" -LE lab)
  # last, so that ctest's summary line closes the output
  configure_build build -DNEA_WERROR=ON
  log "every test"
  (cd build && ctest --output-on-failure -j"$(nproc)")
}

cmd_lab() {
  install_missing "${build_pkgs[@]}" "${test_pkgs[@]}"
  no_skip
  configure_build build -DNEA_WERROR=ON
  log "the real-boot lab alone"
  (cd build && ctest --output-on-failure -L lab)
}

case "${1:-}" in
  demo) cmd_demo ;;
  test) cmd_test ;;
  lab) cmd_lab ;;
  *) echo "usage: $0 demo|test|lab" >&2; exit 2 ;;
esac

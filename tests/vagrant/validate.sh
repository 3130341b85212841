#!/usr/bin/env bash
# The Vagrant lab (vagrant/) without booting anything: `vagrant validate` of
# vagrant/Vagrantfile with the vagrant-libvirt provider loaded (so the
# provider block is validated too: an unknown libvirt setting fails), `bash -n`
# of the provisioning scripts, the plan and spec they install validated by
# neaprov, and a few facts about the files (libvirt provider, br-ext,
# documentation addresses only).  Offline: no box, no libvirt connection;
# VAGRANT_HOME and Vagrant's .vagrant data go to a temporary directory that
# is removed, so nothing is left behind.
# Usage: validate.sh SRCDIR [NEAPROV]
# Without vagrant the checks that need none run, then exit 77 (skipped);
# vagrant without the vagrant-libvirt plugin is a failure.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
src=${1:?usage: validate.sh SRCDIR [NEAPROV]}
neaprov=${2:-}
dir=$src/vagrant

# -- what needs no vagrant
scripts=("$dir"/provision/*.sh)
check "Vagrantfile present" test -f "$dir/Vagrantfile"
check "provisioning scripts present" test -f "${scripts[0]}"
for s in "${scripts[@]}"; do
  check "bash -n ${s#"$src"/}" bash -n "$s"
  check "${s#"$src"/} is executable" test -x "$s"
done
check "Vagrantfile uses the libvirt provider" grep -Eq '^[[:space:]]*config\.vm\.provider[[:space:](]+:libvirt' "$dir/Vagrantfile"
check "Vagrantfile defaults to the libvirt provider" grep -q 'VAGRANT_DEFAULT_PROVIDER"\] ||= "libvirt"' "$dir/Vagrantfile"
check "Vagrantfile enables nested virtualisation" grep -Eq '^[[:space:]]*libvirt\.nested = true' "$dir/Vagrantfile"
check "Vagrantfile mentions br-ext" grep -q 'br-ext' "$dir/Vagrantfile"
check "bridge.sh gives br-ext 192.0.2.1/24" grep -q 'address 192\.0\.2\.1/24' "$dir/provision/bridge.sh"
check "bridge.sh gives br-ext 2001:db8::1/64" grep -q 'address 2001:db8::1/64' "$dir/provision/bridge.sh"
# every IPv4 literal under vagrant/ is a documentation address
doc_only() {
  local bad
  bad=$(grep -rhoE '\b([0-9]{1,3}\.){3}[0-9]{1,3}\b' "$dir" --exclude-dir=.vagrant \
        | grep -vE '^(192\.0\.2|198\.51\.100|203\.0\.113)\.' | sort -u)
  [ -z "$bad" ] || { echo "  not documentation addresses: $bad"; return 1; }
}
check "only documentation IPv4 addresses under vagrant/" doc_only
if [ -n "$neaprov" ]; then
  check "neaprov validates the plan and spec the provisioner installs" \
    "$neaprov" validate -q -p "$dir/provision/plans" "$dir/provision/demo.yaml"
fi

# -- vagrant validate
if ! command -v vagrant >/dev/null; then
  skip_rest "vagrant validate needs vagrant and vagrant-libvirt (scripts/dev.sh test installs them)"
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
had_dot=0; [ -e "$dir/.vagrant" ] && had_dot=1
# VAGRANT_CHECKPOINT_DISABLE: no version check over the network; the box is
# never fetched by validate.  The provider must not be chosen here: the
# Vagrantfile's own default has to pick libvirt.
vg() {
  env -u VAGRANT_DEFAULT_PROVIDER -u VAGRANT_NO_PLUGINS -u VAGRANT_DISABLE_PLUGINS \
      -u LIBVIRT_DEFAULT_URI -u VAGRANT_VAGRANTFILE \
      VAGRANT_CWD="$dir" VAGRANT_HOME="$scratch/home" VAGRANT_DOTFILE_PATH="$scratch/dot" \
      VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_BOX_UPDATE_CHECK_DISABLE=1 "$@"
}
plugin() { # the provider plugin loads (Debian's vagrant-libvirt is a system plugin)
  vg vagrant plugin list > "$scratch/plugins" 2>&1
  grep -q '^vagrant-libvirt ' "$scratch/plugins" || { sed 's/^/  | /' "$scratch/plugins"; return 1; }
}
check "the vagrant-libvirt plugin is installed" plugin
validated() { # [ENV=VALUE...]: vagrant validate passes (its output on failure)
  rm -rf "$scratch/dot"
  if vg "$@" vagrant validate > "$scratch/out" 2>&1 && grep -q 'validated successfully' "$scratch/out"; then
    return 0
  fi
  sed 's/^/  | /' "$scratch/out"; return 1
}
t0=$(date +%s%N)
check "vagrant validate" validated
echo "# vagrant validate: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "the machine is backed by the libvirt provider" test -d "$scratch/dot/machines/default/libvirt"
check "vagrant validate with NEA_BOX, NEA_MEMORY, NEA_CPUS set" \
  validated NEA_BOX=debian/bookworm64 NEA_MEMORY=2048 NEA_CPUS=1
check "NEA_MEMORY that is not a number is refused" eval '! validated NEA_MEMORY=lots >/dev/null'
check "nothing left in vagrant/ (.vagrant)" test "$had_dot" = 1 -o ! -e "$dir/.vagrant"

done_testing

#!/usr/bin/env bash
# Vagrant provisioner 3 (root, inside the VM): build and install neaprov from
# the synced repository.  `scripts/dev.sh demo` installs the missing build
# packages (its build_pkgs), configures and builds build/ and runs the demo on
# test:///default; then `cmake --install` puts neaprov in /usr/local/bin and
# its templates and plans in /usr/local/share/neaprov.
#   neaprov.sh SRC        SRC: the repository inside the VM
set -euo pipefail
src=${1:?usage: neaprov.sh SRC}
cd "$src"
scripts/dev.sh demo
cmake --install build
command -v neaprov
neaprov --version

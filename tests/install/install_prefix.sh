#!/usr/bin/env bash
# cmake --install into a temporary prefix, then use only what was installed:
# the CLI, the plugin with its soname, the header and pkg-config file (they
# build the minimal host program of docs/plugin-abi.md, which then deploys on
# test:///default through the installed plugin), templates and plans under
# share/neaprov, the man page and the bash completion.
#
#   install_prefix.sh BUILD_DIR SOURCE_DIR
# pkg-config, cc (the build's own tools) and groff are required: without
# them the test fails.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
build=$1 src=$2
for t in pkg-config cc groff; do
  command -v $t >/dev/null || bad "$t is installed"
done
[ "$fail" = 0 ] || done_testing
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix/usr" >"$prefix/install.log" 2>&1
check "cmake --install succeeds" test $? = 0
p=$prefix/usr
libdir=$(dirname "$(find "$p" -name libneaprov.so.1 | head -n1)")
check "the CLI is in bin/" test -x "$p/bin/neaprov"
check "the plugin has its soname link" test -L "$libdir/libneaprov.so.1"
check "and the development link" test -L "$libdir/libneaprov.so"
check "the header is installed" test -f "$p/include/neaprov/neaprov.h"
check "so is the pkg-config file" test -f "$libdir/pkgconfig/neaprov.pc"
check "templates under share/neaprov" test -f "$p/share/neaprov/templates/domain.xml"
check "hardware plans under share/neaprov" test -f "$p/share/neaprov/hw/plans/lab.yaml"
check "the man page" test -f "$p/share/man/man1/neaprov.1"
check "the bash completion" test -f "$p/share/bash-completion/completions/neaprov"
check "no internal header installed" test -z "$(find "$p/include" -name 'nea_*')"

export PKG_CONFIG_PATH=$libdir/pkgconfig
cflags=$(pkg-config --cflags neaprov)
plugin=$(pkg-config --variable=plugin neaprov)
datadir=$(pkg-config --variable=datadir neaprov)
echo "# cflags: $cflags; plugin: $plugin; datadir: $datadir"
check "pkg-config's plugin is the installed library" test "$(realpath "$plugin")" = "$(realpath "$libdir/libneaprov.so.1")"
check "pkg-config's datadir holds the plans" test -d "$datadir/hw/plans"
# the host program built from the installed header alone (a copy of the
# source outside the tree, so no project include path can leak in)
cp "$src/tests/abi/host.c" "$prefix/host.c"
read -r -a cf <<<"$cflags"
cc -std=c11 -Wall -Werror "${cf[@]}" -o "$prefix/host" "$prefix/host.c" -ldl
check "the minimal host builds with pkg-config's flags" test $? = 0
mkdir -p "$prefix/work"
# a sanitizer build's plugin needs its runtime loaded first in a host that
# was not built with it
preload=""
for lib in $(objdump -p "$plugin" | awk '$1 == "NEEDED" && $2 ~ /^lib(asan|ubsan)\./ {print $2}'); do
  preload="$preload $(cc -print-file-name="$lib")"
done
LD_PRELOAD="${preload# }" "$prefix/host" "$plugin" "$datadir/hw/plans" "$datadir/templates/domain.xml" \
    "$prefix/work" >"$prefix/host.log" 2>&1
rc=$?
sed 's/^/#   /' "$prefix/host.log" | head -n 20
check "it deploys and destroys through the installed plugin" test $rc = 0
check "it rendered the seed" test -f "$prefix/work/rendered/seed.iso"
# the installed CLI with the installed plans and template
"$p/bin/neaprov" -p "$datadir/hw/plans" -t "$datadir/templates/domain.xml" \
    validate "$src/examples/lab-demo.yaml" >/dev/null 2>&1
check "the installed CLI validates with the installed plans" test $? = 0
check "the installed CLI knows its version" sh -c '"$0" --version >/dev/null' "$p/bin/neaprov"
# moved to another prefix than the configured one: the defaults follow
# (unless the configured prefix holds an installed copy, which would answer)
if [ -d /usr/local/share/neaprov ]; then
  skip "the relocated defaults" "/usr/local/share/neaprov exists"
else
  check "the installed CLI finds its plans and template by itself" \
      "$p/bin/neaprov" render -q "$src/examples/lab-demo.yaml" -o "$prefix/default-render"
  mkdir -p "$prefix/work2"
  LD_PRELOAD="${preload# }" "$prefix/host" "$plugin" - - "$prefix/work2" >/dev/null 2>&1
  check "so does the installed plugin (no plans or template given)" test $? = 0
  check "its help names the installed data directory" sh -c '"$0" --help | grep -q "$1/share/neaprov/hw/plans"' \
      "$p/bin/neaprov" "$(realpath "$p")"
fi
check "the completion is valid bash" bash -n "$p/share/bash-completion/completions/neaprov"
check "the installed man page renders" sh -c 'groff -man -Tutf8 -ww -z "$0" 2>&1 | (! grep .)' "$p/share/man/man1/neaprov.1"
done_testing

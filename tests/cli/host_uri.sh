#!/usr/bin/env bash
# Host URIs are an allow-list (plugin/util/nea_uri.h): a URI that would make
# libvirt run a program (qemu+ext, command=) is refused with exit status 2
# before anything runs, from -c and from a plan's host, in every command;
# test:///PATH is refused, and with NEAPROV_ALLOW_TEST_URI=1 the file's
# content never reaches the output; tcp is allowed with a warning.
# Only 127.0.0.1 is ever contacted.  Usage: host_uri.sh NEAPROV SRCDIR
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
neaprov=$1 src=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$src"
unset NEAPROV_ALLOW_TEST_URI

# the program a refused URI names: it would leave a marker if it ever ran
marker=$scratch/ran
cat >"$scratch/evil.sh" <<SH
#!/bin/sh
touch "$marker"
SH
chmod 755 "$scratch/evil.sh"
ext="qemu+ext:///system?command=$scratch/evil.sh"
n=(--plans hw/plans --template templates/domain.xml --state "$scratch/state.db")

# -c in every command that takes it: exit 2, the rule named, nothing run
for cmd in "networks" "plan examples/lab-demo.yaml" "apply --no-wait examples/lab-demo.yaml" \
           "status" "destroy demo-nea" "validate examples/lab-demo.yaml"; do
  # shellcheck disable=SC2086
  run "$scratch/s" "$scratch/o" $cmd "${n[@]}" -c "$ext"
  check "-c ext: $cmd exits 2" test "$(cat "$scratch/s")" = 2
  check "-c ext: $cmd names the rule" has "$scratch/o.err" "is refused: the ext transport runs a local program"
done
run "$scratch/s" "$scratch/o" networks -c "qemu+ssh://127.0.0.1/system?command=$scratch/evil.sh"
check "-c ssh with command= exits 2" test "$(cat "$scratch/s")" = 2
check "-c ssh with command= names the parameter" has "$scratch/o.err" "parameter command is not allowed"
run "$scratch/s" "$scratch/o" networks -c "qemu+EXT:///system?COMMAND=$scratch/evil.sh"
check "-c upper-case ext exits 2" test "$(cat "$scratch/s")" = 2
run "$scratch/s" "$scratch/o" networks -c "qemu:///system?command%3D$scratch/evil.sh"
check "-c percent-encoded command= exits 2" test "$(cat "$scratch/s")" = 2
run "$scratch/s" "$scratch/o" networks -c "qemu+ssh://127.0.0.1/system?socket=/tmp/x"
check "-c ssh with socket= exits 2" test "$(cat "$scratch/s")" = 2

# a plan whose host is ext: validate, render, plan and apply refuse it at
# the plan's line and column
mkdir -p "$scratch/plans"
sed "s|^host: .*|host: \"$ext\"|; s|^name: .*|name: lab|" hw/plans/lab.yaml >"$scratch/plans/lab.yaml"
p=(--plans "$scratch/plans" --template templates/domain.xml --state "$scratch/state.db")
for cmd in validate plan apply; do
  run "$scratch/s" "$scratch/o" $cmd "${p[@]}" examples/lab-demo.yaml
  check "plan host ext: $cmd exits 2" test "$(cat "$scratch/s")" = 2
  check "plan host ext: $cmd gives file:line:col" has "$scratch/o.err" "$scratch/plans/lab.yaml:[0-9]*:[0-9]*: error: host \"qemu+ext"
done
run "$scratch/s" "$scratch/o" render "${p[@]}" examples/lab-demo.yaml -o "$scratch/out"
check "plan host ext: render exits 2" test "$(cat "$scratch/s")" = 2
check "plan host ext: render writes nothing" test ! -e "$scratch/out"
check "nothing ran the URI's program" test ! -e "$marker"

# test:///PATH: refused; with NEAPROV_ALLOW_TEST_URI=1 allowed, but the
# file's content is never shown
run "$scratch/s" "$scratch/o" networks -c test:///etc/passwd
check "-c test:///etc/passwd exits 2" test "$(cat "$scratch/s")" = 2
check "-c test:///etc/passwd names the rule" has "$scratch/o.err" "the only test URI is test:///default"
check "-c test:///etc/passwd shows nothing of the file" lacks "$scratch/o.err" "root:"
NEAPROV_ALLOW_TEST_URI=1 run "$scratch/s" "$scratch/o" networks -c test:///etc/passwd
check "allowed test:///etc/passwd fails (exit 1)" test "$(cat "$scratch/s")" = 1
check "allowed test:///etc/passwd shows nothing of the file" lacks "$scratch/o.err" "root:"
check "allowed test:///etc/passwd says why" has "$scratch/o.err" "libvirt's message is not shown"
sed "s|^host: .*|host: test:///etc/passwd|" hw/plans/lab.yaml >"$scratch/plans/lab.yaml"
run "$scratch/s" "$scratch/o" plan "${p[@]}" examples/lab-demo.yaml
check "plan host test:///etc/passwd exits 2" test "$(cat "$scratch/s")" = 2
check "plan host test:///etc/passwd shows nothing of the file" lacks "$scratch/o.err" "root:"
NEAPROV_ALLOW_TEST_URI=1 run "$scratch/s" "$scratch/o" plan "${p[@]}" examples/lab-demo.yaml
check "allowed plan host test:///etc/passwd fails" test "$(cat "$scratch/s")" != 0
check "allowed plan host test:///etc/passwd shows nothing of the file" lacks "$scratch/o.err" "root:"
check "allowed plan host test:///etc/passwd shows nothing on stdout" lacks "$scratch/o" "root:"

# tcp: allowed with a warning (the connection to 127.0.0.1:1 is refused)
run "$scratch/s" "$scratch/o" networks -c qemu+tcp://127.0.0.1:1/system
check "-c tcp warns" has "$scratch/o.err" "warning: -c \"qemu+tcp://127.0.0.1:1/system\" uses the tcp transport"
check "-c tcp is tried (exit 1, not 2)" test "$(cat "$scratch/s")" = 1
sed "s|^host: .*|host: qemu+tcp://127.0.0.1:1/system|" hw/plans/lab.yaml >"$scratch/plans/lab.yaml"
run "$scratch/s" "$scratch/o" validate "${p[@]}" examples/lab-demo.yaml
check "plan host tcp validates (exit 0)" test "$(cat "$scratch/s")" = 0
check "plan host tcp warns at its line" has "$scratch/o.err" "lab.yaml:[0-9]*:[0-9]*: warning: host \"qemu+tcp"

# the allowed forms still work
run "$scratch/s" "$scratch/o" networks -c test:///default
check "-c test:///default works" test "$(cat "$scratch/s")" = 0

check "nothing ran the URI's program, at the end" test ! -e "$marker"
done_testing

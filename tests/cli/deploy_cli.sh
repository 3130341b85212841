#!/usr/bin/env bash
# The deploy commands through the real CLI on libvirt's test driver: output,
# --json (parsed by python's json), exit statuses, per-run state for test://
# hosts, bad input changing nothing.  Usage: deploy_cli.sh NEAPROV SRCDIR
set -uo pipefail
neaprov=$1 src=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$src"
n=(--plans hw/plans --template templates/domain.xml)
pass=0 fail=0
check() { # NAME CONDITION...
  local name=$1; shift
  if "$@"; then pass=$((pass+1)); echo "ok: $name"; else fail=$((fail+1)); echo "FAIL: $name"; fi
}
run() { # STATUS-FILE OUT-FILE ARGS...  (never fails the script)
  local sf=$1 of=$2; shift 2
  "$neaprov" "$@" >"$of" 2>"$of.err"; echo $? >"$sf"
}
json_ok() { /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1"; }
has() { grep -q -- "$2" "$1"; }
lacks() { ! grep -q -- "$2" "$1"; }

# apply: plan first, then steps, then the status table; per-run state
run "$scratch/s1" "$scratch/o1" apply "${n[@]}" examples/lab-demo.yaml
check "apply exits 0" test "$(cat "$scratch/s1")" = 0
check "apply shows the plan" has "$scratch/o1" "deploy: volumes, define, start"
check "apply shows the steps" has "$scratch/o1" "upload-seed"
check "apply ends with status" has "$scratch/o1" "demo-nea  *running  *running"
check "per-run state is announced" has "$scratch/o1" "per run"
state_dir=$(sed -n 's|^state: \(/tmp/neaprov-run-[^/]*\)/state.db.*|\1|p' "$scratch/o1")
check "per-run state is removed at exit" test -n "$state_dir" -a ! -e "$state_dir"

# plan --json on a fresh host: one object with changes
run "$scratch/s2" "$scratch/o2" plan --json "${n[@]}" examples/lab-demo.yaml
check "plan --json exits 0" test "$(cat "$scratch/s2")" = 0
check "plan --json is JSON" json_ok "$scratch/o2"
check "plan --json says create" has "$scratch/o2" '"changes":true'

# networks
run "$scratch/s3" "$scratch/o3" networks -c test:///default --json
check "networks --json is JSON" json_ok "$scratch/o3"
check "networks lists network:default" has "$scratch/o3" '"ref":"network:default"'

# --state persists the record; the test driver's domain does not outlive the run
run "$scratch/s4" "$scratch/o4" apply --state "$scratch/st.db" "${n[@]}" examples/lab-demo.yaml
check "apply --state exits 0" test "$(cat "$scratch/s4")" = 0
check "state file is 0600" test "$(stat -c %a "$scratch/st.db")" = 600
run "$scratch/s5" "$scratch/o5" status --state "$scratch/st.db" --json
check "status --json is JSON" json_ok "$scratch/o5"
check "status shows the domain missing in a new run" has "$scratch/o5" '"live":"missing"'
run "$scratch/s6" "$scratch/o6" status --state "$scratch/st.db" nobody
check "status of an unknown tenant exits 2" test "$(cat "$scratch/s6")" = 2
run "$scratch/s7" "$scratch/o7" destroy --state "$scratch/st.db" nobody
check "destroy of an unknown tenant exits 2" test "$(cat "$scratch/s7")" = 2
check "destroy names what it did not find" has "$scratch/o7.err" "no appliance of tenant or name nobody"

# bad input: invalid spec -> 2 and no state file written
sed 's/192.0.2.10/192.0.2.0/' examples/lab-demo.yaml > "$scratch/bad.yaml"
run "$scratch/s8" "$scratch/o8" apply --state "$scratch/bad.db" "${n[@]}" "$scratch/bad.yaml"
check "invalid spec exits 2" test "$(cat "$scratch/s8")" = 2
check "invalid spec names file:line:col and field" has "$scratch/o8.err" "bad.yaml:8:14: error: appliance.ipv4.address 192.0.2.0 is the network address"
check "invalid spec writes no state" test ! -e "$scratch/bad.db"
# a network that is not on the host: refused before any change
sed 's/network:default/br-ext/' examples/lab-demo.yaml > "$scratch/nonet.yaml"
run "$scratch/s9" "$scratch/o9" apply "${n[@]}" "$scratch/nonet.yaml"
check "missing network exits 2" test "$(cat "$scratch/s9")" = 2
check "missing network is named" has "$scratch/o9.err" "appliance.external-network br-ext does not exist on test:///default"
check "nothing was deployed" lacks "$scratch/o9" "define"

# apply --json stays one JSON document (no progress lines in it)
run "$scratch/s15" "$scratch/o15" apply --json "${n[@]}" examples/lab-demo.yaml
check "apply --json is JSON" json_ok "$scratch/o15"
# reading commands never create a database
run "$scratch/s16" "$scratch/o16" status --state "$scratch/typo.db"
check "status with a missing --state exits 2" test "$(cat "$scratch/s16")" = 2
check "and creates nothing" test ! -e "$scratch/typo.db"
# destroy twice: the second is harmless
run "$scratch/s17" "$scratch/o17" destroy --state "$scratch/st.db" demo
run "$scratch/s18" "$scratch/o18" destroy --state "$scratch/st.db" demo
check "destroy, then destroy again, exit 0" test "$(cat "$scratch/s17")$(cat "$scratch/s18")" = 00
run "$scratch/s19" "$scratch/o19" status --state "$scratch/st.db" --json demo
check "the record says gone" has "$scratch/o19" '"state":"gone"'
# a test:// spec and a real one in one run need --state
run "$scratch/s20" "$scratch/o20" plan "${n[@]}" examples/lab-demo.yaml examples/acme-dual-stack.yaml
check "mixed test:// and real hosts without --state exit 2" test "$(cat "$scratch/s20")" = 2
NEAPROV_FAULT=nonsense "$neaprov" plan "${n[@]}" examples/lab-demo.yaml >/dev/null 2>&1
check "an unknown NEAPROV_FAULT operation exits 2" test $? = 2

# usage errors
run "$scratch/s10" "$scratch/o10" apply --timeout 0 "${n[@]}" examples/lab-demo.yaml
check "--timeout 0 exits 2" test "$(cat "$scratch/s10")" = 2
run "$scratch/s11" "$scratch/o11" frobnicate
check "unknown command exits 2" test "$(cat "$scratch/s11")" = 2
# two specs for one tenant in one run
run "$scratch/s12" "$scratch/o12" apply "${n[@]}" examples/lab-demo.yaml examples/lab-demo.yaml
check "two specs of one tenant exit 2" test "$(cat "$scratch/s12")" = 2

# a run killed without --state leaves its per-run directory; the next run
# on a test:// host removes it (its pid is gone)
NEAPROV_FAULT=define:crash "$neaprov" apply "${n[@]}" examples/lab-demo.yaml > "$scratch/o20" 2>&1
check "a crash without --state kills the process" test $? = 137
left=$(sed -n 's/^state: \(.*\)\/state.db .*/\1/p' "$scratch/o20")
check "and leaves its per-run directory" test -n "$left" -a -d "$left"
"$neaprov" apply -q "${n[@]}" examples/lab-demo.yaml > /dev/null 2>&1
check "which the next run removes" test ! -e "$left"
# injected crash at define: the record says where it stopped
NEAPROV_FAULT=define:crash "$neaprov" apply --state "$scratch/crash.db" "${n[@]}" \
  examples/lab-demo.yaml >"$scratch/o13" 2>&1
check "crash at define kills the process" test $? = 137
run "$scratch/s14" "$scratch/o14" status --state "$scratch/crash.db" --json
check "record shows the interrupted step" has "$scratch/o14" '"step":"define"'

echo "$pass passed, $fail failed"
[ $fail = 0 ]

#!/usr/bin/env bash
# The deploy commands through the real CLI on libvirt's test driver: output,
# --json (parsed by python's json), exit statuses, per-run state for test://
# hosts, bad input changing nothing.  Usage: deploy_cli.sh NEAPROV SRCDIR
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
neaprov=$1 src=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$src"
n=(--plans hw/plans --template templates/domain.xml)
json_ok() { /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1"; }

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

# --lock-timeout: whole seconds from 1 to 86400 (default 600); anything
# else exits 2 and names the option
py() { /usr/bin/python3 "$@"; }
for bad in 0 -1 +5 " 5" "5 " 5s "" 86401 1e3 0x10 99999999999999999999; do
  run "$scratch/s21" "$scratch/o21" plan --lock-timeout "$bad" "${n[@]}" examples/lab-demo.yaml
  check "--lock-timeout '$bad' exits 2" test "$(cat "$scratch/s21")" = 2
  check "--lock-timeout '$bad' is named" has "$scratch/o21.err" "neaprov: --lock-timeout .*: give whole seconds from 1 to 86400"
done
run "$scratch/s22" "$scratch/o22" apply -q --lock-timeout 30 "${n[@]}" examples/lab-demo.yaml
check "--lock-timeout 30 is taken" test "$(cat "$scratch/s22")" = 0
run "$scratch/s22" "$scratch/o22" apply -q --lock-timeout=86400 "${n[@]}" examples/lab-demo.yaml
check "--lock-timeout=86400 is taken" test "$(cat "$scratch/s22")" = 0

# the base image upload lock: another process holds it (and says so in the
# file, as neaprov does); apply waits --lock-timeout, then exits 1 naming
# it.  A tenant named like the upload key, holding its own lock, is in
# another namespace and blocks nothing.
key=pool-$(py -c 'import hashlib; print(hashlib.sha256(b"test:///default\ndefault-pool").hexdigest()[:16])')
cat > "$scratch/hold.py" <<'PY'
import fcntl, os, sys, time
f = open(sys.argv[1], "a+")
fcntl.flock(f, fcntl.LOCK_EX)
f.seek(0); f.truncate(); f.write("%d holder\n" % os.getpid()); f.flush()
open(sys.argv[2], "w").close()
time.sleep(30)
PY
hold() { # LOCKFILE: holds it in the background until killed; sets holder
  rm -f "$scratch/held"
  /usr/bin/python3 "$scratch/hold.py" "$1" "$scratch/held" & holder=$!
  for _ in $(seq 100); do [ -e "$scratch/held" ] && break; sleep 0.05; done
}
hold "$scratch/lk.db.lock.upload-$key"
t0=$(date +%s%N)
run "$scratch/s23" "$scratch/o23" apply -q --state "$scratch/lk.db" --lock-timeout 1 "${n[@]}" examples/lab-demo.yaml
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill "$holder"; wait "$holder" 2>/dev/null
check "a held upload lock: apply exits 1" test "$(cat "$scratch/s23")" = 1
check "after about --lock-timeout (${ms} ms)" test "$ms" -ge 900 -a "$ms" -lt 5000
check "naming the holder and the timeout" has "$scratch/o23.err" "busy: waited 1 s (the lock timeout) for the base image upload lock .*held by another process (pid $holder, command holder)"
check "and --lock-timeout as the way to wait longer" has "$scratch/o23.err" "neaprov: --lock-timeout S waits longer for the upload (now 1 s)"
check "the upload lock file is 0600" test "$(stat -c %a "$scratch/lk.db.lock.upload-$key")" = 600
for t in "$key" "upload-$key"; do
  hold "$scratch/lk2.db.lock-$t"
  run "$scratch/s24" "$scratch/o24" apply -q --state "$scratch/lk2.db" --lock-timeout 1 "${n[@]}" examples/lab-demo.yaml
  kill "$holder"; wait "$holder" 2>/dev/null
  check "a tenant named $t does not block the upload" test "$(cat "$scratch/s24")" = 0
done

# control characters recorded in the state reach the terminal escaped, and
# JSON escapes them
run "$scratch/s25" "$scratch/o25" apply -q --state "$scratch/esc.db" "${n[@]}" examples/lab-demo.yaml
cat > "$scratch/poison.py" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE deployments SET state = 'failed', step = ?, name = ?, "
           "last_error = ? || CAST(x'9b5b33316d' AS TEXT)",
           ("define\x1b]0;pwned\x07", "demo\x1b[31m-nea",
            "boom\x1b[2J\nneaprov: fake line\r\x7f\u009b"))
db.commit()
PY
py "$scratch/poison.py" "$scratch/esc.db"
cat > "$scratch/clean.py" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
text = data.decode("utf-8")  # also fails on a raw 0x9b
bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f]
sys.exit(1 if bad else 0)
PY
run "$scratch/s26" "$scratch/o26" status --state "$scratch/esc.db"
check "status of a poisoned record exits 0" test "$(cat "$scratch/s26")" = 0
check "status prints no raw control character" py "$scratch/clean.py" "$scratch/o26"
check "status shows them escaped" grep -qF 'boom\x1b[2J\nneaprov: fake line\r\x7f\u009b\x9b[31m' "$scratch/o26"
check "status shows an escaped name and step" grep -qF 'demo\x1b[31m-nea' "$scratch/o26"
check "no line forged by the record" lacks "$scratch/o26" "^neaprov: fake line"
run "$scratch/s27" "$scratch/o27" status --state "$scratch/esc.db" --json
check "status --json prints no raw control character" py "$scratch/clean.py" "$scratch/o27"
check "status --json keeps the text" py -c '
import json, sys
d = json.load(open(sys.argv[1]))[0]
sys.exit(0 if d["last_error"] == "boom\x1b[2J\nneaprov: fake line\r\x7f\u009b\ufffd[31m"
         and d["name"] == "demo\x1b[31m-nea" else 1)' "$scratch/o27"

# an existing empty state file of mode 0644 is 0600 after the first run
: > "$scratch/empty.db"
chmod 644 "$scratch/empty.db"
run "$scratch/s28" "$scratch/o28" status --state "$scratch/empty.db"
check "status on an empty state file exits 0" test "$(cat "$scratch/s28")" = 0
check "and makes it 0600" test "$(stat -c %a "$scratch/empty.db")" = 600

done_testing

#!/usr/bin/env bash
# The public IP pool through the CLI: bad input changes nothing, and 20
# concurrent applies of different tenants over a pool that is just big
# enough assign every address exactly once.   Usage: pool_cli.sh NEAPROV SRCDIR
set -uo pipefail
neaprov=$1 src=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$src"
db=$scratch/state.db
n=(--state "$db" --plans hw/plans --template templates/domain.xml)
pass=0 fail=0
check() { local name=$1; shift; if "$@"; then pass=$((pass+1)); echo "ok: $name"; else fail=$((fail+1)); echo "FAIL: $name"; fi; }
status_is() { "$neaprov" "${@:2}" >/dev/null 2>&1; test $? = "$1"; }
py() { /usr/bin/python3 -c "$@"; }

check "pool add of a range" status_is 0 pool add 203.0.113.0/27 "${n[@]}"
check "pool add of a range" status_is 0 pool add 203.0.113.32-203.0.113.59 "${n[@]}"
check "pool add of IPv6" status_is 0 pool add 2001:db8:100::10-2001:db8:100::1f "${n[@]}"
"$neaprov" pool list --json "${n[@]}" > "$scratch/before.json"
check "overlap refused" status_is 2 pool add 203.0.113.40/29 "${n[@]}"
check "first > last refused" status_is 2 pool add 203.0.113.99-203.0.113.90 "${n[@]}"
check "mixed families refused" status_is 2 pool add 203.0.113.99-2001:db8::1 "${n[@]}"
check "an absurd size refused" status_is 2 pool add 2001:db8:200::/64 "${n[@]}"
check "garbage refused" status_is 2 pool add not-an-address "${n[@]}"
"$neaprov" pool list --json "${n[@]}" > "$scratch/after.json"
check "bad input changed nothing" cmp -s "$scratch/before.json" "$scratch/after.json"

# 20 tenants x 3 addresses = the 60 IPv4 addresses of the pool, at once
for i in $(seq 1 20); do
  cat > "$scratch/t$i.yaml" <<SPEC
tenant: conc$i
hardware-plan: lab
appliance:
  external-network: network:default
  ipv4: {mode: static, address: 192.0.2.$((100 + i)), prefix: 24, gateway: 192.0.2.1}
public-ips: {ipv4: 3}
SPEC
done
pids=()
for i in $(seq 1 20); do
  "$neaprov" apply -q --no-wait "${n[@]}" "$scratch/t$i.yaml" > "$scratch/out$i" 2>&1 &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed+1)); done
check "20 concurrent applies succeed" test $failed = 0
[ $failed = 0 ] || cat "$scratch"/out* | grep -v '^$' | head -5
"$neaprov" pool list --json "${n[@]}" > "$scratch/conc.json"
check "all 60 IPv4 addresses assigned, none free" py '
import json,sys; d=json.load(open(sys.argv[1])); s=d["summary"]
sys.exit(0 if s["ipv4_assigned"]==60 and s["ipv4_free"]==0 else 1)' "$scratch/conc.json"
check "each tenant holds exactly 3, no address twice" py '
import json,sys,ipaddress
d=json.load(open(sys.argv[1])); per={}; seen=set()
for r in d["runs"]:
    if r["tenant"] is None: continue
    a=ipaddress.ip_address(r["first"]); b=ipaddress.ip_address(r["last"])
    while a<=b:
        if a in seen: sys.exit(1)
        seen.add(a); per[r["tenant"]]=per.get(r["tenant"],0)+1; a+=1
sys.exit(0 if len(per)==20 and all(v==3 for v in per.values()) else 1)' "$scratch/conc.json"
cat > "$scratch/t21.yaml" <<SPEC
tenant: conc21
hardware-plan: lab
appliance:
  external-network: network:default
  ipv4: {mode: static, address: 192.0.2.121, prefix: 24, gateway: 192.0.2.1}
public-ips: {ipv4: 1}
SPEC
"$neaprov" apply -q --no-wait "${n[@]}" "$scratch/t21.yaml" > "$scratch/out21" 2>&1
check "one more is refused (exit 2)" test $? = 2
check "naming how many are free" grep -q "only 0 are free" "$scratch/out21"

# rules through the CLI
addr=$(py 'import json,sys; d=json.load(open(sys.argv[1]))
print([r["first"] for r in d["runs"] if r["tenant"]=="conc1"][0])' "$scratch/conc.json")
check "rule add" status_is 0 rule add conc1 --public "$addr:443/tcp" --to 192.0.2.50:8443 --description web "${n[@]}"
check "rule on port 22 refused" status_is 2 rule add conc1 --public "$addr:22/tcp" --to 192.0.2.50:22 "${n[@]}"
check "rule on another tenant's IP refused" status_is 2 rule add conc2 --public "$addr:80/tcp" --to 192.0.2.50:80 "${n[@]}"
check "rule mixing families refused" status_is 2 rule add conc1 --public "$addr:80/tcp" --to "[2001:db8::5]:80" "${n[@]}"
check "duplicate rule refused" status_is 2 rule add conc1 --public "$addr:443/tcp" --to 192.0.2.51:443 "${n[@]}"
"$neaprov" rule list --json "${n[@]}" > "$scratch/rules.json"
check "rule list shows it" grep -q "\"public\":\"$addr:443/tcp\"" "$scratch/rules.json"
check "pool remove of assigned addresses needs --force" status_is 2 pool remove "$addr" "${n[@]}"
check "with --force it releases them" status_is 0 pool remove "$addr" --force "${n[@]}"
"$neaprov" rule list --json "${n[@]}" > "$scratch/rules2.json"
check "and removes their rules" test "$(cat "$scratch/rules2.json")" = "[]"
echo "$pass passed, $fail failed"
[ $fail = 0 ]

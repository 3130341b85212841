#!/usr/bin/env bash
# The public IP pool through the CLI: bad input changes nothing, and 20
# concurrent applies of different tenants over a pool that is just big
# enough assign every address exactly once.   Usage: pool_cli.sh NEAPROV SRCDIR
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
neaprov=$1 src=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$src"
db=$scratch/state.db
n=(--state "$db" --plans hw/plans --template templates/domain.xml)
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
# rule arguments take the documented syntax only (docs/pool.md); each
# refusal exits 2, names the argument and writes nothing
"$neaprov" rule list --json "${n[@]}" > "$scratch/rules0.json"
refused() { # NAME TEXT-IN-MESSAGE RULE-ADD-ARGS...
  local name=$1 want=$2; shift 2
  "$neaprov" rule add conc1 "$@" "${n[@]}" >/dev/null 2>"$scratch/rule.err"
  check "$name: exit 2" test $? = 2
  check "$name: says why" grep -qF -- "$want" "$scratch/rule.err"
}
refused "--to with /udp" "--to 192.0.2.50:8443/udp takes no protocol: a rule forwards the protocol of --public" \
  --public "$addr:444/tcp" --to 192.0.2.50:8443/udp
refused "--to with /tcp" "--to 192.0.2.50:8443/tcp takes no protocol" --public "$addr:444/udp" --to 192.0.2.50:8443/tcp
refused "--to port 0" "--to 192.0.2.50:0 has a port outside 1..65535" --public "$addr:444/tcp" --to 192.0.2.50:0
refused "--to port 65536" "--to 192.0.2.50:65536 has a port outside 1..65535" --public "$addr:444/tcp" --to 192.0.2.50:65536
refused "--public port 0" "--public $addr:0/tcp has a port outside" --public "$addr:0/tcp" --to 192.0.2.50:80
refused "--public leading zero" "--public $addr:0444/tcp has a port number with a leading zero" --public "$addr:0444/tcp" --to 192.0.2.50:80
refused "--public signed port" "--public $addr:+444/tcp has no port number" --public "$addr:+444/tcp" --to 192.0.2.50:80
refused "--to trailing garbage" "--to 192.0.2.50:80x has something other than digits after the port" --public "$addr:444/tcp" --to 192.0.2.50:80x
refused "--to trailing space" "--to 192.0.2.50:80  has something other than digits" --public "$addr:444/tcp" --to "192.0.2.50:80 "
refused "--to leading space" "--to  192.0.2.50:80 does not start with a valid IPv4 address" --public "$addr:444/tcp" --to " 192.0.2.50:80"
refused "--public upper-case protocol" "--public $addr:444/TCP has a protocol other than tcp or udp" --public "$addr:444/TCP" --to 192.0.2.50:80
refused "--public two protocols" "--public $addr:444/tcp/udp has a protocol other than tcp or udp" --public "$addr:444/tcp/udp" --to 192.0.2.50:80
refused "--public without protocol" "--public $addr:444 needs a protocol" --public "$addr:444" --to 192.0.2.50:80
refused "--to IPv4 in brackets" "--to [192.0.2.50]:80 puts an IPv4 address in brackets" --public "$addr:444/tcp" --to "[192.0.2.50]:80"
refused "--to IPv6 without brackets" "--to 2001:db8::5:80 writes an IPv6 address without brackets" --public "$addr:444/tcp" --to 2001:db8::5:80
"$neaprov" rule list --json "${n[@]}" > "$scratch/rules1.json"
check "refused rules changed nothing" cmp -s "$scratch/rules0.json" "$scratch/rules1.json"

# at most 1000 rules per tenant: 998 more straight into the database (conc1
# has one), then 5 adds at once for the last place: exactly one gets it
py '
import sqlite3,sys
db=sqlite3.connect(sys.argv[1])
db.executemany("INSERT INTO rules (tenant, family, public_addr, public_port, proto, replica_addr, replica_port) SELECT tenant, family, public_addr, ?, proto, replica_addr, replica_port FROM rules WHERE tenant = ? LIMIT 1", [(p, "conc1") for p in range(1000, 1998)])
db.commit()' "$db"
count_rules() { "$neaprov" rule list conc1 --json "${n[@]}" | py 'import json,sys; print(len(json.load(sys.stdin)))'; }
check "conc1 has 999 rules" test "$(count_rules)" = 999
pids=()
for i in 1 2 3 4 5; do
  "$neaprov" rule add conc1 --public "$addr:$((3000 + i))/tcp" --to 192.0.2.50:80 "${n[@]}" \
    >/dev/null 2>"$scratch/lim$i.err" &
  pids+=($!)
done
won=0 lost=0
for p in "${pids[@]}"; do wait "$p"; case $? in 0) won=$((won+1));; 2) lost=$((lost+1));; esac; done
check "of 5 adds racing for the last place one wins" test "$won/$lost" = 1/4
check "the tenant holds exactly 1000" test "$(count_rules)" = 1000
"$neaprov" rule add conc1 --public "$addr:4000/udp" --to 192.0.2.50:53 "${n[@]}" >/dev/null 2>"$scratch/lim.err"
check "the 1001st is refused (exit 2)" test $? = 2
check "naming the tenant and the limit" grep -qF "tenant conc1 has 1000 public IP rules, the most a tenant may have (1000)" "$scratch/lim.err"
check "and nothing was written" test "$(count_rules)" = 1000
addr2=$(py 'import json,sys; d=json.load(open(sys.argv[1]))
print([r["first"] for r in d["runs"] if r["tenant"]=="conc2"][0])' "$scratch/conc.json")
check "another tenant still adds rules" status_is 0 rule add conc2 --public "$addr2:443/tcp" --to 192.0.2.52:443 "${n[@]}"
check "and removes them" status_is 0 rule remove conc2 --public "$addr2:443/tcp" "${n[@]}"

"$neaprov" rule list --json "${n[@]}" > "$scratch/rules.json"
check "rule list shows it" grep -q "\"public\":\"$addr:443/tcp\"" "$scratch/rules.json"
check "pool remove of assigned addresses needs --force" status_is 2 pool remove "$addr" "${n[@]}"
"$neaprov" pool remove "$addr" "${n[@]}" 2> "$scratch/force.err"
check "and says so (the state layer names no option: the CLI does)" \
  grep -qF "neaprov: pool remove --force releases them and removes their rules" "$scratch/force.err"
check "with --force it releases them" status_is 0 pool remove "$addr" --force "${n[@]}"
"$neaprov" rule list --json "${n[@]}" > "$scratch/rules2.json"
check "and removes their rules" test "$(cat "$scratch/rules2.json")" = "[]"

# a tenant with networks: a rule's replica must be on one of them
"$neaprov" pool add 203.0.113.200 "${n[@]}" >/dev/null
cat > "$scratch/tn.yaml" <<SPEC
tenant: withnets
hardware-plan: lab
appliance:
  external-network: network:default
  ipv4: {mode: static, address: 192.0.2.90, prefix: 24, gateway: 192.0.2.1}
public-ips: {ipv4: 1}
networks:
  - {name: web, gateway: 198.51.100.65/28, internet: true}
SPEC
check "a tenant with a network applies" status_is 0 apply -q --no-wait "${n[@]}" "$scratch/tn.yaml"
taddr=$(py 'import json,sys; d=json.load(open(sys.argv[1]))
print([r["first"] for r in d["runs"] if r["tenant"]=="withnets"][0])' <("$neaprov" pool list --json "${n[@]}"))
"$neaprov" rule list --json "${n[@]}" > "$scratch/rules3.json"
"$neaprov" rule add withnets --public "$taddr:443/tcp" --to 192.0.2.50:443 "${n[@]}" \
  >/dev/null 2>"$scratch/tn.err"
check "a rule into none of the tenant's networks: exit 2" test $? = 2
check "naming --to and the networks" grep -qF -- "--to 192.0.2.50 is in none of tenant withnets's networks (web 198.51.100.65/28)" "$scratch/tn.err"
"$neaprov" rule list --json "${n[@]}" > "$scratch/rules4.json"
check "and nothing recorded" cmp -s "$scratch/rules3.json" "$scratch/rules4.json"
check "a rule into web is taken" status_is 0 rule add withnets --public "$taddr:443/tcp" --to 198.51.100.70:443 "${n[@]}"
done_testing

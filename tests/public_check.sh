#!/usr/bin/env bash
# The golden seed of an appliance with public IPs and rules
# (tests/data/public/) through its real consumers: `nft -c -f` accepts the
# ruleset (in a network namespace of its own, so the host's netfilter is
# never touched), the ruleset in user-data is the golden one, `cloud-init
# schema` accepts user-data, and every cloud-init renderer puts each public
# address on the interface.   Usage: public_check.sh DIR
# Without root or nft the nft block is skipped, the rest runs, and the
# test exits 77 (skipped); cloud-init and python3-yaml are required.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
dir=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
if [ "$(id -u)" != 0 ]; then
  skip "nft -c" "needs root (a network namespace of its own)"
elif ! command -v nft >/dev/null; then
  skip "nft -c" "no nft (Debian: nftables)"
else
  check "nft -c accepts the ruleset" unshare --net nft -c -f "$dir/rules.nft"
  # and refuses a broken one (the check can fail)
  sed 's/8443/99999/' "$dir/rules.nft" > "$scratch/bad.nft"
  check "nft -c refuses an out-of-range port" bash -c '! unshare --net nft -c -f "$1" 2>/dev/null' _ "$scratch/bad.nft"
fi
/usr/bin/python3 - "$dir" <<'PY' >"$scratch/ruleset" || bad "user-data parses and has a .nft file"
import sys, yaml
ud = yaml.safe_load(open(sys.argv[1] + "/user-data"))
print([f for f in ud["write_files"] if f["path"].endswith(".nft")][0]["content"], end="")
PY
check "user-data carries the golden ruleset" cmp -s "$scratch/ruleset" "$dir/rules.nft"
check "cloud-init schema accepts user-data" cloud-init schema --config-file "$dir/user-data"
for r in eni networkd netplan sysconfig; do
  d=debian; [ $r = sysconfig ] && d=centos
  cloud-init devel net-convert -p "$dir/network-config" -k yaml -d "$scratch/$r" -D $d -O $r >/dev/null 2>&1
  found=1
  for a in 203.0.113.16/32 203.0.113.17/32 2001:db8:100::10/128; do
    ip=${a%/*}
    grep -rqF -- "$ip" "$scratch/$r" || found=0
  done
  check "$r renders every public address" test $found = 1
done
done_testing

#!/usr/bin/env bash
# SOURCE_DATE_EPOCH for render: 0 to 9999-12-31T23:59:59Z (253402300799) is
# written into seed.iso; later or negative values (which would write dates
# like "10000..." into the ISO's volume descriptors) and non-numbers exit 2
# and write nothing.  Usage: source_date_epoch.sh NEAPROV SRCDIR
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
neaprov=$1 src=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$src"
n=(-q --plans hw/plans --template templates/domain.xml examples/lab-demo.yaml)
pvd_date() { # ISO: the creation date of the primary volume descriptor
  dd if="$1" bs=1 skip=$((16 * 2048 + 813)) count=16 2>/dev/null
}

for v in 0 946684800 253402300799; do
  SOURCE_DATE_EPOCH=$v "$neaprov" render "${n[@]}" -o "$scratch/ok-$v" 2>"$scratch/err"
  check "SOURCE_DATE_EPOCH=$v renders" test $? = 0
done
check "the last second of 9999 is written as such" \
  test "$(pvd_date "$scratch/ok-253402300799/seed.iso")" = 9999123123595900
for v in 253402300800 9999999999999 -1 -9999999999 99999999999999999999 12abc " "; do
  rm -rf "$scratch/bad"
  SOURCE_DATE_EPOCH=$v "$neaprov" render "${n[@]}" -o "$scratch/bad" 2>"$scratch/err"
  check "SOURCE_DATE_EPOCH=\"$v\" exits 2" test $? = 2
  check "SOURCE_DATE_EPOCH=\"$v\" is named" grep -q "SOURCE_DATE_EPOCH \"$v\"" "$scratch/err"
  check "SOURCE_DATE_EPOCH=\"$v\" writes nothing" test ! -e "$scratch/bad"
done
SOURCE_DATE_EPOCH=253402300800 "$neaprov" render "${n[@]}" -o "$scratch/bad" 2>"$scratch/err"
check "the message gives the range" grep -q "9999-12-31T23:59:59Z" "$scratch/err"
done_testing

#!/usr/bin/env bash
# Benchmarks: neaprov's own figures, then the tools a user would use instead.
# Usage: bench/run.sh BENCH_ENGINE NEAPROV   (cmake --build build --target bench)
set -euo pipefail
bench=$1 neaprov=$2
cd "$(dirname "$0")/.."
plans=tests/data/deploy
tpl=templates/domain.xml
echo "== neaprov (test:///default, one process)"
"$bench" "$plans" "$tpl"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$neaprov" render -q -p hw/plans -t "$tpl" examples/acme-dual-stack.yaml -o "$scratch/r"
runs=50
ms() { python3 -c "import sys; print(f'{(float(sys.argv[2])-float(sys.argv[1]))/$runs*1000:.2f}')" "$@"; }

echo "== seed ISO: neaprov render (whole CLI run, incl. validation) vs the alternatives, $runs runs each"
t0=$(date +%s.%N)
for _ in $(seq $runs); do "$neaprov" render -q -p hw/plans -t "$tpl" examples/acme-dual-stack.yaml -o "$scratch/r"; done
t1=$(date +%s.%N)
echo "neaprov render:   $(ms "$t0" "$t1") ms per appliance (domain XML + seed + ISO)"
if command -v cloud-localds >/dev/null; then
  t0=$(date +%s.%N)
  for _ in $(seq $runs); do
    cloud-localds -N "$scratch/r/network-config" "$scratch/cl.iso" "$scratch/r/user-data" "$scratch/r/meta-data"
  done
  t1=$(date +%s.%N)
  echo "cloud-localds:    $(ms "$t0" "$t1") ms per seed ISO (ISO only)"
else
  echo "cloud-localds:    not installed (apt-get install cloud-image-utils)"
fi
if command -v genisoimage >/dev/null; then
  t0=$(date +%s.%N)
  for _ in $(seq $runs); do
    genisoimage -quiet -output "$scratch/g.iso" -volid cidata -joliet -rock \
      "$scratch/r/user-data" "$scratch/r/meta-data" "$scratch/r/network-config"
  done
  t1=$(date +%s.%N)
  echo "genisoimage:      $(ms "$t0" "$t1") ms per seed ISO (ISO only)"
fi
if command -v virt-install >/dev/null; then
  echo "== define+start one domain on test:///default: virt-install vs neaprov apply, 10 runs each"
  t0=$(date +%s.%N)
  for i in $(seq 10); do
    virt-install --connect test:///default --name "vi$i" --memory 512 --vcpus 1 \
      --import --disk none --network network=default --osinfo detect=on,require=off \
      --noautoconsole --print-xml >/dev/null 2>&1 || true
  done
  t1=$(date +%s.%N)
  runs=10
  echo "virt-install --print-xml: $(ms "$t0" "$t1") ms per domain (XML only, no seed)"
  t0=$(date +%s.%N)
  for _ in $(seq 10); do
    "$neaprov" apply -q --no-wait -p hw/plans -t "$tpl" examples/lab-demo.yaml >/dev/null
  done
  t1=$(date +%s.%N)
  echo "neaprov apply (process start, validate, render, upload, define, start): $(ms "$t0" "$t1") ms"
else
  echo "virt-install:     not installed (apt-get install virtinst)"
fi

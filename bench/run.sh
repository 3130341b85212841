#!/usr/bin/env bash
# Benchmarks: neaprov's own figures, then the tools a user would use instead.
# Usage: bench/run.sh BENCH_ENGINE NEAPROV BENCH_FETCH
#        (cmake --build build --target bench)
set -euo pipefail
bench=$1 neaprov=$2 fetch=${3:-}
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

if [ -n "$fetch" ] && command -v curl >/dev/null; then
  mb=256
  echo "== image by URL, $mb MiB from python3 -m http.server on 127.0.0.1: neaprov's fetch (download, sha256, fsync, rename) vs curl -o then sha256sum"
  mkdir -p "$scratch/www"
  head -c $((mb << 20)) /dev/urandom > "$scratch/www/img.qcow2"
  sum=$(sha256sum < "$scratch/www/img.qcow2" | cut -d' ' -f1)
  (cd "$scratch/www" && exec python3 -m http.server --bind 127.0.0.1 0 > "$scratch/http.log" 2>&1) &
  srv=$!
  port=""
  for _ in $(seq 50); do
    port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$scratch/http.log" | head -n1)
    [ -n "$port" ] && break; sleep 0.1
  done
  url="http://127.0.0.1:$port/img.qcow2"
  for i in 1 2 3; do
    out=$("$fetch" "$url" "$sum" "$scratch/cache$i")
    f=$(echo "$out" | sed -n 's/^fetch: \([0-9.]*\) ms/\1/p'); h=$(echo "$out" | sed -n 's/^hit: //p')
    t0=$(date +%s.%N)
    curl -s -o "$scratch/curl.img" "$url" && sha256sum "$scratch/curl.img" >/dev/null
    t1=$(date +%s.%N)
    c=$(python3 -c "import sys; print(f'{(float(sys.argv[2])-float(sys.argv[1]))*1000:.0f}')" "$t0" "$t1")
    echo "run $i: neaprov fetch $f ms ($(python3 -c "print(f'{$mb/($f/1000):.0f}')") MiB/s), cache hit $h; curl + sha256sum $c ms"
    rm -rf "$scratch/cache$i" "$scratch/curl.img"
  done
  kill "$srv"; wait "$srv" 2>/dev/null || true
fi

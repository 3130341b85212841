#!/usr/bin/env bash
# Appliance images by URL through the CLI (test:///default): a local HTTP(S)
# server on 127.0.0.1 (tests/fetch/http_server.py, started and stopped here)
# serves the image.  apply downloads it once into the content-addressed
# cache, verifies it, and names the pool volume after its sha256; a wrong
# sha256, a 404 and an unknown CA fail clearly; --ca-file trusts the server;
# plan never downloads; a local image with image-sha256 is checked too.
# python3 and openssl (the server's certificate) are required: without
# them the test fails.   Usage: image_url.sh NEAPROV SRCDIR
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
neaprov=$1 src=$2
[ -x /usr/bin/python3 ] || { bad "no /usr/bin/python3 (Debian: python3)"; done_testing; }
scratch=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT

mkfifo "$scratch/keep"
# the server exits when this script's end of the pipe closes, even on a crash
/usr/bin/python3 "$src/tests/fetch/http_server.py" --watch-stdin --tls "$scratch" \
    < "$scratch/keep" > "$scratch/server.out" 2>"$scratch/server.err" &
server_pid=$!
exec 9>"$scratch/keep"
for _ in $(seq 100); do [ -s "$scratch/server.out" ] && break; sleep 0.1; done
read -r port tlsport sha size < "$scratch/server.out" || { bad "the server starts"; cat "$scratch/server.err"; done_testing; }
echo "# server on 127.0.0.1:$port (TLS $tlsport), image $size bytes, sha256 $sha"
# the server serves TLS when the openssl command made its certificate
check "the server serves TLS (needs openssl, Debian: openssl)" test "$tlsport" != 0
stats() { /usr/bin/python3 -c '
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/stats" % sys.argv[1]).read().decode().split()[1])' "$port"; }

mkdir -p "$scratch/plans"
plan() { # NAME IMAGE SHA256
  cat > "$scratch/plans/$1.yaml" <<PLAN
name: $1
host: test:///default
storage-pool: default-pool
networks: [network:default]
vcpus: 1
memory-mib: 512
disk-gib: 2
image: $2
image-sha256: $3
domain-type: qemu
PLAN
}
spec() { # TENANT PLAN
  cat > "$scratch/$1.yaml" <<SPEC
tenant: $1
hardware-plan: $2
appliance:
  external-network: network:default
  ipv4: {mode: static, address: 192.0.2.10, prefix: 24, gateway: 192.0.2.1}
SPEC
}
wrong=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
plan web "http://127.0.0.1:$port/img" "$sha"
plan bad "http://127.0.0.1:$port/img" "$wrong"
plan gone "http://127.0.0.1:$port/404" "$sha"
plan tls "https://127.0.0.1:$tlsport/img" "$sha"
spec one web; spec two web; spec three bad; spec four gone; spec five tls
n=(-p "$scratch/plans" -t "$src/templates/domain.xml")

before=$(stats)
"$neaprov" plan "${n[@]}" --state "$scratch/p.db" --image-cache "$scratch/cache" "$scratch/one.yaml" >/dev/null 2>&1
check "plan succeeds" test $? = 0
check "plan downloads nothing" test "$(stats)" = "$before"

"$neaprov" apply "${n[@]}" --state "$scratch/s1.db" --image-cache "$scratch/cache" \
    "$scratch/one.yaml" > "$scratch/one.out" 2> "$scratch/one.err"
check "apply with an image by URL" test $? = 0
check "the image is in the cache under its sha256" test -f "$scratch/cache/sha256-$sha"
check "and really has that sha256" test "$(sha256sum < "$scratch/cache/sha256-$sha" | cut -d' ' -f1)" = "$sha"
check "no partial file is left" test -z "$(ls "$scratch/cache" | grep '\.part$')"
check "progress is plain lines on a pipe" grep -q "sha256 verified" "$scratch/one.err"
check "the fetch is a step of apply" grep -q "fetch-image" "$scratch/one.out"
volumes() { /usr/bin/python3 -c '
import sqlite3, sys
print(" ".join(r[0] + ":" + r[1] for r in sqlite3.connect(sys.argv[1]).execute("SELECT volume, state FROM base_images")))' "$1"; }
check "the pool volume is named by the content" test "$(volumes "$scratch/s1.db")" = "nea-base-${sha:0:16}.img:done"
after_one=$(stats)
check "one request for the download" test $((after_one - before)) = 1

"$neaprov" apply "${n[@]}" --state "$scratch/s2.db" --image-cache "$scratch/cache" \
    "$scratch/two.yaml" > /dev/null 2>&1
check "a second appliance with the same image" test $? = 0
check "comes from the cache, no request" test "$(stats)" = "$after_one"

"$neaprov" apply "${n[@]}" --state "$scratch/s3.db" --image-cache "$scratch/cache" \
    "$scratch/three.yaml" > /dev/null 2> "$scratch/three.err"
check "a wrong image-sha256 fails the apply (bad input: 2)" test $? = 2
check "naming both sums" sh -c 'grep -q "$0" "$2" && grep -q "$1" "$2"' "$sha" "$wrong" "$scratch/three.err"
check "nothing is kept under the wrong name" test ! -e "$scratch/cache/sha256-$wrong"
check "nor a partial file" test ! -e "$scratch/cache/sha256-$wrong.part"
"$neaprov" status --json --state "$scratch/s3.db" -c test:///default > "$scratch/three.json" 2>/dev/null
check "the record says failed, at the fetch" grep -q '"state":"failed","step":"fetch-image"' "$scratch/three.json"

# (a fresh cache: the cache is by content, so the URL would not be asked)
"$neaprov" apply "${n[@]}" --state "$scratch/s4.db" --image-cache "$scratch/cache-404" \
    "$scratch/four.yaml" > /dev/null 2> "$scratch/four.err"
check "a 404 fails the apply" test $? = 1
check "saying 404" grep -q "404" "$scratch/four.err"

if [ "$tlsport" != 0 ]; then
  "$neaprov" apply "${n[@]}" --state "$scratch/s5.db" --image-cache "$scratch/cache-tls" \
      "$scratch/five.yaml" > /dev/null 2> "$scratch/five.err"
  check "https with an unknown CA is refused" test $? = 1
  check "saying why (certificate)" grep -qi "certificate" "$scratch/five.err"
  "$neaprov" apply "${n[@]}" --state "$scratch/s6.db" --image-cache "$scratch/cache-tls" \
      --ca-file "$scratch/cert.pem" "$scratch/five.yaml" > /dev/null 2> "$scratch/five2.err"
  check "--ca-file trusts the server" test $? = 0
  check "and the image is cached" test -f "$scratch/cache-tls/sha256-$sha"
fi

# the same image from another URL, with credentials: not a new disk, and
# the credentials are never shown or stored
plan cred "http://nea:s3cret@127.0.0.1:$port/img?mirror=2" "$sha"
spec eight cred
"$neaprov" apply "${n[@]}" --state "$scratch/s9.db" --image-cache "$scratch/cache" \
    "$scratch/eight.yaml" > "$scratch/eight.out" 2>&1
check "an image URL with credentials" test $? = 0
sed -i "s/hardware-plan: cred/hardware-plan: web/" "$scratch/eight.yaml"
"$neaprov" plan --json "${n[@]}" --state "$scratch/s9.db" -c test:///default \
    "$scratch/eight.yaml" > "$scratch/eight.json" 2>&1
check "a new URL for the same sha256 is no image change" sh -c '! grep -q "\"field\":\"image" "$0"' "$scratch/eight.json"
check "the password is in no output" sh -c '! grep -q s3cret "$0" "$1"' "$scratch/eight.out" "$scratch/eight.json"
check "nor in the state database" sh -c '! grep -aq s3cret "$0"' "$scratch/s9.db"
if [ "$tlsport" != 0 ]; then
  plan tlsname "https://localhost:$tlsport/img" "$sha"
  spec nine tlsname
  "$neaprov" apply "${n[@]}" --state "$scratch/s10.db" --image-cache "$scratch/cache-name" \
      --ca-file "$scratch/cert.pem" "$scratch/nine.yaml" > /dev/null 2> "$scratch/nine.err"
  check "a certificate for 127.0.0.1 is refused for localhost" test $? = 1
fi

# a cache others can write to is refused, and so is a planted link
mkdir -p "$scratch/shared" && chmod 0777 "$scratch/shared"
"$neaprov" apply "${n[@]}" --state "$scratch/s12.db" --image-cache "$scratch/shared" \
    "$scratch/one.yaml" > /dev/null 2> "$scratch/shared.err"
check "a world-writable cache is refused" test $? = 1
check "saying why" grep -q "writable by others" "$scratch/shared.err"
mkdir -p "$scratch/planted" && ln -s /etc/hostname "$scratch/planted/sha256-$sha"
"$neaprov" apply "${n[@]}" --state "$scratch/s13.db" --image-cache "$scratch/planted" \
    "$scratch/one.yaml" > /dev/null 2> "$scratch/planted.err"
check "a symbolic link in the cache is not trusted" test $? = 1

# a local image with image-sha256: checked before the upload
cp "$src/hw/images/nea-lab.qcow2" "$scratch/local.qcow2"
lsha=$(sha256sum < "$scratch/local.qcow2" | cut -d' ' -f1)
plan localok "$scratch/local.qcow2" "$lsha"
plan localbad "$scratch/local.qcow2" "$wrong"
spec six localok; spec seven localbad
"$neaprov" apply "${n[@]}" --state "$scratch/s7.db" "$scratch/six.yaml" > "$scratch/six.out" 2>&1
check "a local image with the right sha256" test $? = 0
check "is uploaded as a content-named qcow2 volume" test "$(volumes "$scratch/s7.db")" = "nea-base-${lsha:0:16}.qcow2:done"
"$neaprov" apply "${n[@]}" --state "$scratch/s8.db" "$scratch/seven.yaml" > /dev/null 2> "$scratch/seven.err"
check "a local image with the wrong sha256 is refused (2)" test $? = 2
check "naming the file and both sums" sh -c 'grep -q "local.qcow2 has sha256 $0" "$2" && grep -q "$1" "$2"' "$lsha" "$wrong" "$scratch/seven.err"
# a qcow2 image called .img (as Ubuntu's are): the content decides
cp "$scratch/local.qcow2" "$scratch/cloud.img"
plan imgname "$scratch/cloud.img" "$lsha"
spec ten imgname
"$neaprov" apply "${n[@]}" --state "$scratch/s11.db" "$scratch/ten.yaml" > /dev/null 2>&1
check "a qcow2 image named .img is a qcow2 volume" test "$(volumes "$scratch/s11.db")" = "nea-base-${lsha:0:16}.qcow2:done"

# the size cap, through the CLI and the engine: --max-image-size below the
# image's Content-Length refuses it (bad input: 2) and keeps no .part
"$neaprov" apply "${n[@]}" --state "$scratch/s14.db" --image-cache "$scratch/cache-cap" \
    --max-image-size 1M "$scratch/one.yaml" > /dev/null 2> "$scratch/cap.err"
check "an image over --max-image-size is refused (2)" test $? = 2
check "naming the size and the limit" sh -c 'grep -q "$0 bytes" "$1" && grep -q "limit of 1048576 bytes" "$1"' "$size" "$scratch/cap.err"
check "and no partial file is kept" test -z "$(ls "$scratch/cache-cap" | grep '\.part$')"
"$neaprov" apply "${n[@]}" --state "$scratch/s15.db" --image-cache "$scratch/cache-cap" \
    --max-image-size 4M "$scratch/one.yaml" > /dev/null 2>&1
check "an image of exactly --max-image-size is fine" test $? = 0
"$neaprov" apply "${n[@]}" --max-image-size 0 "$scratch/one.yaml" > /dev/null 2>&1
check "--max-image-size 0 is refused" test $? = 2

# a password with a raw '@', '#' or '/' makes the URL ambiguous: refused at
# validation, and no byte of it is shown
plan rawpw "http://nea:p@ss#x/y@127.0.0.1:$port/img" "$sha"
spec eleven rawpw
"$neaprov" validate -p "$scratch/plans" "$scratch/eleven.yaml" > "$scratch/eleven.out" 2>&1
check "an image URL with an unencoded password is refused (2)" test $? = 2
check "saying to percent-encode it" grep -q "percent-encoded" "$scratch/eleven.out"
check "without showing it" sh -c '! grep -q -e "p@ss" -e "ss#x" -e "x/y" "$0"' "$scratch/eleven.out"

exec 9>&-
done_testing

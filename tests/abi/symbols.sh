#!/bin/sh
# The plugin exports its ABI's entry point and nothing else.
#   symbols.sh LIBNEAPROV.so
set -eu
so=$1
syms=$(nm -D --defined-only "$so" | awk '$2 != "A" {print $3}' | sort)
echo "exported: $syms"
[ "$syms" = "neaprov_provider@@NEAPROV_1" ] || { echo "unexpected exports" >&2; exit 1; }
soname=$(objdump -p "$so" | awk '$1 == "SONAME" {print $2}')
echo "soname: $soname"
[ "$soname" = libneaprov.so.1 ] || { echo "unexpected soname" >&2; exit 1; }
# never unloaded (it registers handlers with libvirt)
readelf -d "$so" | grep -q 'Flags:.*NODELETE' || { echo "not linked -z nodelete" >&2; exit 1; }
echo "nodelete: yes"
# nothing the plugin needs is left undefined but the libraries it links
if objdump -T "$so" | grep -q ' nea_'; then echo "nea_ symbols visible" >&2; exit 1; fi
echo ok

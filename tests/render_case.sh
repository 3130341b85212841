#!/usr/bin/env bash
# One render case (a folder under tests/data/render/), run by ctest.
#
#   render_case.sh golden    NEAPROV CASE_DIR PLANS_DIR TEMPLATE
#   render_case.sh consumers NEAPROV CASE_DIR PLANS_DIR TEMPLATE CHECKER
#
# golden: render the case's spec.yaml and compare with expected/ (success
# cases) or compare stderr and exit status with the files `stderr` and
# `exit-status` (error cases).  NEA_REGENERATE=1 rewrites the expected files
# instead, for review with git diff.
# consumers: render into a scratch directory and hand the result to the real
# consumers (virt-xml-validate, blkid, isoinfo, cloud-init) via CHECKER.
set -euo pipefail
mode=$1 neaprov=$2 case_dir=$3 plans=$4 template=$5
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

tpl=$template
# relative, as the spec is: messages that name it are the same everywhere
[ -f "$case_dir/template.xml" ] && tpl=template.xml
args=()
if [ -f "$case_dir/args" ]; then
  mapfile -t args < "$case_dir/args"
fi

# Run from the case folder so that messages name "spec.yaml", not an
# absolute path that differs between machines.
set +e
(cd "$case_dir" && "$neaprov" render -q -p "$plans" -t "$tpl" "${args[@]}" \
    spec.yaml -o "$scratch/out") >"$scratch/stdout" 2>"$scratch/stderr"
status=$?
set -e
# plan paths outside the case folder are printed as given; make them stable
sed -i "s|$plans|PLANS|g" "$scratch/stderr"

is_error_case=0
[ -f "$case_dir/stderr" ] || [ -f "$case_dir/exit-status" ] && is_error_case=1

if [ "$mode" = consumers ]; then
  [ $is_error_case = 1 ] && { echo "error case: nothing to check"; exit 0; }
  [ $status = 0 ] || { cat "$scratch/stderr"; echo "render failed ($status)"; exit 1; }
  # Debian's python3: the one with PyYAML (cloud-init's dependency)
  exec /usr/bin/python3 "$6" "$scratch/out" "$case_dir/expect.json"
fi

if [ "${NEA_REGENERATE:-0}" = 1 ]; then
  if [ $status = 0 ] && [ $is_error_case = 0 ]; then
    mkdir -p "$case_dir/expected"
    for f in domain.xml meta-data user-data network-config; do
      cp "$scratch/out/$f" "$case_dir/expected/$f"
    done
  else
    cp "$scratch/stderr" "$case_dir/stderr"
    echo $status > "$case_dir/exit-status"
  fi
  echo "regenerated $case_dir"
  exit 0
fi

if [ $is_error_case = 1 ]; then
  want=$(cat "$case_dir/exit-status")
  [ "$status" = "$want" ] || { echo "exit status $status, expected $want"; cat "$scratch/stderr"; exit 1; }
  diff -u "$case_dir/stderr" "$scratch/stderr"
  # nothing may be written for a refused spec
  [ ! -e "$scratch/out" ] || { echo "output directory was created for a refused spec"; exit 1; }
  exit 0
fi

[ $status = 0 ] || { cat "$scratch/stderr"; echo "render failed ($status)"; exit 1; }
for f in domain.xml meta-data user-data network-config; do
  diff -u "$case_dir/expected/$f" "$scratch/out/$f"
done
# the ISO is checked by its content (consumers test), and here for
# determinism: a second render gives the same bytes
(cd "$case_dir" && "$neaprov" render -q -p "$plans" -t "$tpl" "${args[@]}" \
    spec.yaml -o "$scratch/again")
for f in domain.xml seed.iso meta-data user-data network-config; do
  cmp "$scratch/out/$f" "$scratch/again/$f"
done
echo "ok"

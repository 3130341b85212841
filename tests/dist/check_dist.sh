#!/bin/bash
# The man page and the bash completion of dist/:
#  (a) the man page renders without a groff warning;
#  (b) every command, pool/rule sub-command, option and exit status that
#      the binary's own --help prints is in the man page (as a tag in its
#      section) and in the completion script, and so is every environment
#      variable the code reads with getenv;
#  (c) the completion completes: sourced with bash-completion's functions,
#      its function is called with COMP_WORDS/COMP_CWORD set as bash would.
#
# usage: check_dist.sh NEAPROV MANPAGE COMPLETION SOURCE_DIR
#   MANPAGE is the configured page (build/dist/neaprov.1).
set -euo pipefail

neaprov=$1 man=$2 comp=$3 src=$4
bc=/usr/share/bash-completion/bash_completion

command -v groff >/dev/null ||
  { echo "check_dist: groff not found (Debian: apt-get install groff-base)" >&2; exit 1; }
[ -r "$bc" ] ||
  { echo "check_dist: $bc not found (Debian: apt-get install bash-completion)" >&2; exit 1; }
for f in "$neaprov" "$man" "$comp" "$src/plugin"; do
  [ -e "$f" ] || { echo "check_dist: $f: no such file" >&2; exit 1; }
done
# the completion runs in another directory
neaprov=$(realpath "$neaprov") man=$(realpath "$man") comp=$(realpath "$comp")
src=$(realpath "$src")

fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- (a) the man page renders cleanly -------------------------------------

if ! warn=$(groff -man -Tutf8 -ww -z "$man" 2>&1); then
  fail "groff failed on $man: $warn"
elif [ -n "$warn" ]; then
  fail "groff warns about $man:"$'\n'"$warn"
fi
if grep -n '@[A-Za-z_]*@' "$man" >&2; then
  fail "$man has unconfigured @VARIABLE@ placeholders"
fi

# plain text, no overstrikes or escape sequences
text=$(groff -man -Tascii -P-c -P-b -P-u "$man" 2>/dev/null)
# section NAME: its lines, headings are the unindented lines
section() { awk -v s="$1" '/^[^ \t]/ { on = ($0 == s); next } on' <<<"$text"; }
# tag lines of a section: the lines indented by exactly 7 columns
tags() { section "$1" | grep -E '^ {7}[^ ]' || true; }

for s in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS ENVIRONMENT "EXIT STATUS" FILES \
         EXAMPLES "SEE ALSO"; do
  [ -n "$(section "$s")" ] || fail "man page: no $s section"
done
for r in 'virsh(1)' 'cloud-localds(1)' 'virt-install(1)'; do
  section "SEE ALSO" | grep -qF "$r" || fail "man page: SEE ALSO lacks $r"
done
# only documentation addresses (RFC 5737, RFC 3849)
while read -r a; do
  [[ $a =~ ^(192\.0\.2|198\.51\.100|203\.0\.113)\. ]] || fail "man page: $a is not a documentation address"
done < <(grep -oE '(^|[^0-9.])[0-9]{1,3}(\.[0-9]{1,3}){3}' <<<"$text" | grep -oE '[0-9.]+$' || true)
while read -r a; do
  [[ ${a,,} == 2001:db8:* ]] || fail "man page: $a is not a documentation address"
done < <(grep -oiE '[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}' <<<"$text" |
         grep -E '::|(:.*){7}' || true)

# ---- (b) what --help prints is in both -----------------------------------

help=$("$neaprov" --help)
version=$("$neaprov" --version)

# the commands: first word of each line of the "commands:" block
mapfile -t cmds < <(awk '/^commands:/ { on = 1; next } /^$/ { on = 0 }
                         on && /^  [a-z]/ { print $1 }' <<<"$help" | LC_ALL=C sort -u)
# the sub-commands: "pool add|remove RANGE", "pool list", "rule add TENANT ..."
# (the synopsis ends where two blanks begin the description)
mapfile -t subs < <(awk '/^commands:/ { on = 1; next } /^$/ { on = 0 }
                         on && /^  [a-z]/ {
                           syn = substr($0, 3); sub(/  .*/, "", syn); split(syn, w, " ")
                           if (w[2] !~ /^[a-z|]+$/) next
                           n = split(w[2], a, "|"); for (i = 1; i <= n; i++) print w[1], a[i] }' \
                         <<<"$help" | LC_ALL=C sort -u)
mapfile -t longs < <(grep -oE -- '--[a-z][a-z-]*[a-z]' <<<"$help" | LC_ALL=C sort -u)
mapfile -t shorts < <(grep -oE -- '(^|[[ ])-[a-zA-Z]([ ,]|$)' <<<"$help" |
                      grep -oE -- '-[a-zA-Z]' | LC_ALL=C sort -u)
mapfile -t statuses < <(grep -E '^Exit status:' <<<"$help" | grep -oE '\b[0-9]+ [a-z]' |
                        cut -d' ' -f1)
mapfile -t envs < <( { grep -oE '\$[A-Z][A-Z_]+' <<<"$help" | tr -d '$'
                       grep -rhoE 'getenv\("[A-Z_]+"\)' "$src/plugin" | cut -d'"' -f2; } |
                     LC_ALL=C sort -u)
datadir=$(grep -oE '/[^ ]*/hw/plans' <<<"$help" | head -n 1)
datadir=${datadir%/hw/plans}

# the help text must still look as this test expects, or it checks nothing
((${#cmds[@]} >= 9)) || fail "--help: found only ${#cmds[@]} commands: ${cmds[*]}"
((${#subs[@]} >= 6)) || fail "--help: found only ${#subs[@]} sub-commands: ${subs[*]}"
((${#longs[@]} >= 15)) || fail "--help: found only ${#longs[@]} long options: ${longs[*]}"
((${#shorts[@]} >= 6)) || fail "--help: found only ${#shorts[@]} short options: ${shorts[*]}"
((${#statuses[@]} >= 3)) || fail "--help: found only exit statuses ${statuses[*]}"
((${#envs[@]} >= 3)) || fail "found only the environment variables ${envs[*]}"
[ -n "$datadir" ] || fail "--help: no DATADIR/hw/plans path"

# an extended regular expression matching WORD literally
ere() { sed 's/[][\.*^$+?(){}|/]/\\&/g' <<<"$1"; }
mtags_cmds=$(tags COMMANDS)
mtags_opts=$(tags OPTIONS)
mtags_env=$(tags ENVIRONMENT)
mtags_exit=$(tags "EXIT STATUS")

for c in "${cmds[@]}"; do
  grep -qE "^ {7}$(ere "$c")( |$)" <<<"$mtags_cmds" || fail "man page: COMMANDS has no entry $c"
  grep -qE "(^|[^a-z-])$(ere "$c")([^a-z-]|$)" "$comp" || fail "completion: command $c missing"
done
for s in "${subs[@]}"; do
  grep -qE "^ {7}$(ere "$s")( |$)" <<<"$mtags_cmds" || fail "man page: COMMANDS has no entry $s"
  grep -qE "(^|[^a-z-])$(ere "${s#* }")([^a-z-]|$)" "$comp" ||
    fail "completion: sub-command $s missing"
done
for o in "${longs[@]}" "${shorts[@]}"; do
  grep -qE "(^ {7}|, )$(ere "$o")([ ,=]|$)" <<<"$mtags_opts" ||
    fail "man page: OPTIONS has no entry $o"
  grep -qE -- "(^|[ \"])$(ere "$o")([ \"]|$)" "$comp" || fail "completion: option $o missing"
done
for v in "${envs[@]}"; do
  grep -qE "(^ {7}|, )$(ere "$v")(,|$)" <<<"$mtags_env" ||
    fail "man page: ENVIRONMENT has no entry $v"
done
for x in "${statuses[@]}"; do
  grep -qE "^ {7}$x( |$)" <<<"$mtags_exit" || fail "man page: EXIT STATUS has no entry $x"
done
grep -qF -- "$datadir/hw/plans" <<<"$text" ||
  fail "man page: does not name the compiled-in plan directory $datadir/hw/plans"
grep -qF -- "$datadir/templates/domain.xml" <<<"$text" ||
  fail "man page: does not name the compiled-in template $datadir/templates/domain.xml"
tail -n 1 <<<"$text" | grep -qF -- "$version" || fail "man page: footer does not say $version"

# ---- (c) the completion completes -----------------------------------------

mkdir "$work/d" "$work/e"
touch "$work/a.yaml" "$work/b.yml" "$work/c.txt"

# comp LINE: prints the sorted completions of LINE (the cursor at its end)
comp() {
  (
    set +euo pipefail
    cd "$work" || exit 1
    export BASH_COMPLETION_USER_FILE=/dev/null
    # shellcheck disable=SC1090
    source "$bc" >/dev/null 2>&1
    # shellcheck disable=SC1090
    source "$comp"
    spec=$(complete -p neaprov 2>/dev/null) || { echo "<no complete -F for neaprov>"; exit; }
    fn=${spec#*-F }
    fn=${fn%% *}
    # as readline splits the line: blanks separate words, and each run of
    # word-break characters (here = and :) is a word of its own
    COMP_WORDBREAKS=$' \t\n"\'><=;|&(:'
    COMP_LINE=$1
    COMP_POINT=${#1}
    COMP_WORDS=()
    set -f
    for tok in $1; do
      while [[ -n $tok ]]; do
        [[ $tok =~ ^[=:]+ || $tok =~ ^[^=:]+ ]]
        COMP_WORDS+=("${BASH_REMATCH[0]}")
        tok=${tok:${#BASH_REMATCH[0]}}
      done
    done
    set +f
    [[ $1 == *' ' ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    "$fn" neaprov "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    ((${#COMPREPLY[@]})) && printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort -u | paste -sd' '
    true
  )
}
# expect LINE WORDS...: the completions are exactly WORDS
expect() {
  local line=$1 got want
  shift
  got=$(comp "$line")
  want=$(printf '%s\n' "$@" | LC_ALL=C sort -u | paste -sd' ')
  [ "$got" = "$want" ] || fail "completion of '$line': got '$got', want '$want'"
}
# expect_has LINE WORDS...: the completions include every one of WORDS
# expect_not LINE WORDS...: ... and none of these
expect_has() {
  local line=$1 w got
  shift
  got=" $(comp "$line") "
  for w; do [[ $got == *" $w "* ]] || fail "completion of '$line' lacks $w (got:$got)"; done
}
expect_not() {
  local line=$1 w got
  shift
  got=" $(comp "$line") "
  for w; do [[ $got != *" $w "* ]] || fail "completion of '$line' offers $w (got:$got)"; done
}
# the words of a list that start with a prefix
starting() { local p=$1 w; shift; for w; do [[ $w == "$p"* ]] && echo "$w"; done; }

pool_subs=() rule_subs=()
for s in "${subs[@]}"; do
  case $s in
    "pool "*) pool_subs+=("${s#pool }") ;;
    "rule "*) rule_subs+=("${s#rule }") ;;
  esac
done
mapfile -t st < <(starting --st "${longs[@]}")

expect "neaprov " "${cmds[@]}" help
expect "neaprov -q --state /tmp/x.db " "${cmds[@]}" help
expect "neaprov pool " "${pool_subs[@]}"
expect "neaprov rule " "${rule_subs[@]}"
expect "neaprov --state /tmp/x.db rule l" list
expect "neaprov apply --st" "${st[@]}"
expect_has "neaprov --" "${longs[@]}"
expect_has "neaprov apply --" --plans --template --connect --state --json --no-wait \
  --timeout --stop-timeout --quiet
expect_not "neaprov apply --" --force --public --output
expect_has "neaprov pool remove 203.0.113.16/30 --" --force --state
expect_not "neaprov pool remove --" --public --no-wait
expect_has "neaprov rule add acme --" --public --to --description --state
expect "neaprov rule remove acme --public 203.0.113.5:443/tcp --" --help --public --quiet --state
expect "neaprov -c qemu:///system apply --no" --no-wait
expect "neaprov --tem x.xml validate --q" --quiet
expect "neaprov -qp plans apply --no" --no-wait
expect "neaprov apply " a.yaml b.yml d e
expect "neaprov plan a.yaml " a.yaml b.yml d e
expect "neaprov render " a.yaml b.yml d e
expect "neaprov render a.yaml "
expect "neaprov render -p " d e
expect "neaprov --plans=" d e
expect "neaprov render a.yaml -o " d e
expect "neaprov -t " a.yaml b.yml c.txt d e
expect "neaprov status --state=" a.yaml b.yml c.txt d e
expect "neaprov networks -c te" test:///default
expect "neaprov apply --timeout "
expect "neaprov status "
expect "neaprov version "

if ((fails)); then
  echo "check_dist: $fails failure(s)" >&2
  exit 1
fi
echo "check_dist: man page and completion cover ${#cmds[@]} commands, ${#subs[@]} sub-commands," \
  "${#longs[@]} long and ${#shorts[@]} short options, ${#envs[@]} variables"

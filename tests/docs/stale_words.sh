#!/usr/bin/env bash
# The documentation (docs/*.md, README.md) describes what is built, not
# plans: a sentence with "not yet", "yet", "later", "for now" (any case), or
# a TODO, FIXME or XXX marker, is stale once the thing is built, or was
# never true.  Each such word fails, unless the line holds an allowed phrase
# of stale_words.allow that covers it ("a later run" speaks of time, not of
# the product).  An allowed phrase that no longer occurs fails too, so the
# list stays exact.
#   Usage: stale_words.sh SRCDIR
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
src=$1
allow=$(dirname "$0")/stale_words.allow
words='\b(yet|later|for now)\b'    # case-insensitive; "yet" covers "not yet"
marks='\b(TODO|FIXME|XXX)\b'       # case-sensitive: "todo" is a word

# the allow-list: "FILE: PHRASE" per line (FILE relative to SRCDIR)
allow_files=() allow_phrases=() allow_used=()
while IFS= read -r entry; do
  case $entry in '' | '#'*) continue ;; esac
  allow_files+=("${entry%%: *}")
  allow_phrases+=("${entry#*: }")
  allow_used+=(0)
done <"$allow"

stale() { # LINE: true if LINE holds a stale word
  grep -qiE "$words" <<<"$1" || grep -qE "$marks" <<<"$1"
}

cd "$src" || exit 1
for f in docs/*.md README.md; do
  found=0
  while IFS= read -r hit; do
    n=${hit%%:*} line=${hit#*:}
    rest=$line
    for i in "${!allow_files[@]}"; do
      [ "${allow_files[i]}" = "$f" ] || continue
      case $line in *"${allow_phrases[i]}"*)
        allow_used[i]=1
        rest=${rest//"${allow_phrases[i]}"/}
      esac
    done
    if stale "$rest"; then
      echo "# $f:$n: $line"
      found=1
    fi
  done < <({ grep -nE -e "$marks" "$f"; grep -niE -e "$words" "$f"; } | sort -t: -k1,1n -u)
  check "$f: no stale words" test $found = 0
done
unused=0
for i in "${!allow_files[@]}"; do
  if [ "${allow_used[i]}" = 0 ]; then
    echo "# $(basename "$allow"): \"${allow_files[i]}: ${allow_phrases[i]}\" occurs nowhere"
    unused=1
  fi
done
check "every allowed phrase still occurs" test $unused = 0
done_testing

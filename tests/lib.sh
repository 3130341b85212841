# shellcheck shell=bash
# What the shell tests share: the check helpers, skips, and the closing line.
# Sourced first thing, through the script's own directory, so it is found
# wherever ctest runs the script from:
#
#   . "$(dirname "$0")/../lib.sh"        (tests/DIR/NAME.sh)
#   . "$(dirname "$0")/lib.sh"           (tests/NAME.sh)
#
#   check NAME CMD...     one check, decided by CMD's exit status; prints
#                         "ok: NAME" or "FAIL: NAME"
#   ok NAME, bad NAME     one check the caller decided (passed, failed)
#   has FILE ERE          FILE has a line matching ERE (grep -q);
#   lacks FILE ERE        ... or has none
#   run STATUS-FILE OUT-FILE ARGS...
#                         runs "$neaprov" ARGS: stdout to OUT-FILE, stderr to
#                         OUT-FILE.err, the exit status to STATUS-FILE; never
#                         fails the script
#   skip WHAT WHY         a block of checks did not run: says so, and the
#                         test ends with exit 77 (ctest: "Skipped") after
#                         the rest has run
#   skip_rest WHY         nothing more can run: the closing line, then exit 77
#                         (exit 1 if a check has failed)
#   done_testing          the closing line "N passed, M failed" (CI's log
#                         reader counts it: keep it last and exactly so),
#                         then exit 1 if a check failed or none ran, 77 if a
#                         block was skipped, 0 otherwise
#
# Which missing things are a skip and which a failure: docs/testing.md
# ("Skips").  NEA_NO_SKIP=1 (set by scripts/dev.sh test when it runs as
# root, where every test can run) turns every skip into a failure.

pass=0 fail=0 skipped=0

ok() { pass=$((pass + 1)); echo "ok: $*"; }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

check() { # NAME CMD...
  local name=$1
  shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}

has() { grep -q -- "$2" "$1"; }
lacks() { ! grep -q -- "$2" "$1"; }

# shellcheck disable=SC2154  # neaprov: set by the script that sources this
run() { # STATUS-FILE OUT-FILE ARGS...
  local sf=$1 of=$2
  shift 2
  "$neaprov" "$@" >"$of" 2>"$of.err"
  echo $? >"$sf"
}

skip() { # WHAT WHY
  if [ "${NEA_NO_SKIP:-0}" = 1 ]; then
    bad "$1 did not run: $2 (NEA_NO_SKIP=1: nothing may be skipped)"
  else
    skipped=$((skipped + 1))
    echo "skipped: $1: $2"
  fi
}

done_testing() {
  if [ "$skipped" -gt 0 ] && [ "$fail" = 0 ]; then
    echo "# $skipped block(s) of checks skipped: exit 77, reported as skipped"
  fi
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ] || exit 1
  [ "$skipped" = 0 ] || exit 77
  [ "$pass" -gt 0 ] || { echo "# no check ran"; exit 1; }
  exit 0
}

skip_rest() { # WHY
  if [ $((pass + fail)) = 0 ]; then
    skip "$(basename "$0")" "$1"
  else
    skip "the rest of $(basename "$0")" "$1"
  fi
  done_testing
}

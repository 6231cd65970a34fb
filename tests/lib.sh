#!/bin/bash
# Shared helpers of the command-line tests (sourced, not run).  The test
# script's first argument is the fpflow binary; each check prints a PASS
# or FAIL line, and `finish NAME` prints the closing count and sets the
# exit code.
set -u
FPFLOW=${1:?usage: bash TEST.sh /path/to/fpflow}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
NFAIL=0
NPASS=0

pass() {
  echo "PASS: $*"
  NPASS=$((NPASS + 1))
}

fail() {
  echo "FAIL: $*"
  NFAIL=$((NFAIL + 1))
}

# check NAME COMMAND...: PASS when COMMAND succeeds.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}

# invoke SUBCOMMAND NAME ARGS...: runs `fpflow SUBCOMMAND ARGS`, keeps
# stdout, stderr and the exit code in $DIR/NAME.out, NAME.err and RC.
invoke() {
  local sub=$1 name=$2
  shift 2
  "$FPFLOW" "$sub" "$@" >"$DIR/$name.out" 2>"$DIR/$name.err"
  RC=$?
}

# expect_exit SUBCOMMAND NAME CODE PATTERNS -- ARGS...: exit code CODE
# and every |-separated fixed PATTERN in stderr.
expect_exit() {
  local sub=$1 name=$2 code=$3 patterns=$4 p ok=1
  shift 5
  invoke "$sub" "$name" "$@"
  if [ "$RC" -ne "$code" ]; then
    fail "$name: exit $RC, not $code: $(head -c 300 "$DIR/$name.err")"
    return
  fi
  IFS='|' read -ra pats <<<"$patterns"
  for p in "${pats[@]}"; do
    if ! grep -qF -- "$p" "$DIR/$name.err"; then
      fail "$name: no '$p' in stderr: $(head -c 300 "$DIR/$name.err")"
      ok=0
    fi
  done
  [ "$ok" -eq 1 ] && pass "$name (exit $code, names: $patterns)"
}

# lines FILE: number of lines.
lines() { wc -l <"$1" | tr -d ' '; }

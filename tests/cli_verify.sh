#!/bin/bash
# fpflow verify end to end, in its reduced form (--quick, the ctest form):
# fpflow's own correctness checks against exact answers (the
# Ornstein-Uhlenbeck ensemble against its AR(1) and continuous laws, the
# particles against the grid solver at N = 300..2000 with the distance
# shrinking with N, the positive-definiteness boundary of D) all PASS; the
# report and the figure are written; bad usage exits 2 with a message.
# Prints a PASS or FAIL line per check; exits 1 if any failed.
# usage: bash cli_verify.sh /path/to/fpflow
set -u
FPFLOW=${1:?usage: cli_verify.sh /path/to/fpflow}
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

# verify NAME ARGS...: runs `fpflow verify ARGS`, keeps stdout, stderr and
# the exit code in $DIR/NAME.out, NAME.err and RC.
verify() {
  local name=$1
  shift
  "$FPFLOW" verify "$@" >"$DIR/$name.out" 2>"$DIR/$name.err"
  RC=$?
}

# rows FILE PATTERN: the number of table rows of report FILE whose check
# starts with PATTERN and whose result is given.
rows() {
  grep -c "^| $2" "$1" || true
}

# ---- the quick run: every correctness check passes ---------------------
verify quick --quick -o "$DIR/q"
R="$DIR/q/report.md"
if [ "$RC" -eq 0 ]; then pass "quick run exits 0"
else fail "quick run exits $RC: $(tail -c 400 "$DIR/quick.err")"; fi
if [ -s "$R" ]; then pass "report.md written"
else fail "no report.md in $DIR/q"; fi

# Each family of checks is present, and every one of its rows is PASS.
for family in "OU ensemble" "Particles vs grid, 1-D double well" \
  "Particles vs grid, 2-D two wells" "PD boundary of D"; do
  n=$(rows "$R" "$family")
  np=$(grep "^| $family" "$R" | grep -c '\*\*PASS\*\*' || true)
  if [ "$n" -ge 2 ] && [ "$n" -eq "$np" ]; then
    pass "$family: $np of $n rows PASS"
  else
    fail "$family: $np of $n rows PASS"
    grep "^| $family" "$R" | grep -v '\*\*PASS\*\*' | head -3
  fi
done
if grep -q '\*\*FAIL\*\*' "$R"; then
  fail "a FAIL row in the quick report"
else
  pass "no FAIL row"
fi

# The OU rows are at the three times of the check, means and covariances.
for t in 0.25 1 4; do
  if grep -q "^| OU ensemble, t = $t: mean" "$R" &&
    grep -q "^| OU ensemble, t = $t: covariance" "$R"; then
    pass "OU rows at t = $t"
  else
    fail "OU rows at t = $t missing"
  fi
done

# The distance shrinks with N: the rate rows say so and give a slope.
for c in "1-D double well" "2-D two wells"; do
  if grep "^| Particles vs grid, $c: rate in N" "$R" |
    grep -q "shrinks at every step in N"; then
    pass "$c: L1 shrinks with N"
  else
    fail "$c: no shrinking L1 reported"
  fi
done

# Proposition 2: the source's statement is reported as a claim, not a
# failure of fpflow (and the measured boundary is -1/lambda_max).
if grep "^| Source Proposition 2" "$R" | grep -q "DOES NOT HOLD AS STATED"
then
  pass "Proposition 2 reported as a claim that does not hold"
else
  fail "Proposition 2 claim row missing"
fi

# Sections and settings are written for each check.
for s in "### Ornstein-Uhlenbeck ensemble" "### Particles against the grid" \
  "### Proposition 2"; do
  if grep -qF "$s" "$R"; then pass "section '$s'"
  else fail "section '$s' missing"; fi
done

# The figure, when PLplot has its PNG device.
if grep -q "pngcairo" "$DIR/quick.err"; then
  pass "figure skipped: no pngcairo device (said so)"
elif [ -s "$DIR/q/verify_grid.png" ] &&
  head -c 8 "$DIR/q/verify_grid.png" | grep -q PNG; then
  pass "verify_grid.png written"
else
  fail "verify_grid.png missing"
fi

# Rows on stdout, nothing left in the temporary files.
if grep -q "^PASS  OU ensemble" "$DIR/quick.out"; then pass "rows on stdout"
else fail "no rows on stdout"; fi
if ls "$DIR/q" | grep -q -e '\.tmp$' -e 'XXXXXX' -e '\.png\.'; then
  fail "temporary files left in $DIR/q: $(ls "$DIR/q")"
else
  pass "no temporary files left"
fi

# ---- usage ---------------------------------------------------------------
verify help --help
if [ "$RC" -eq 0 ] && grep -q -- "--full" "$DIR/help.out"; then
  pass "--help exits 0 and describes --full"
else
  fail "--help: exit $RC"
fi
verify bogus --bogus
if [ "$RC" -eq 2 ]; then pass "unknown option: exit 2"
else fail "unknown option: exit $RC"; fi
verify extra extra_argument
if [ "$RC" -eq 2 ] && grep -q "extra_argument" "$DIR/extra.err"; then
  pass "unexpected argument: exit 2, named"
else
  fail "unexpected argument: exit $RC: $(cat "$DIR/extra.err")"
fi
: >"$DIR/afile"
verify notdir --quick -q -o "$DIR/afile"
if [ "$RC" -eq 2 ] && grep -q "afile" "$DIR/notdir.err"; then
  pass "output path that is a file: exit 2, named"
else
  fail "output path that is a file: exit $RC: $(cat "$DIR/notdir.err")"
fi
if [ -s "$DIR/notdir.out" ]; then fail "-q printed to stdout"
else pass "-q: the error on stderr, nothing on stdout"; fi

echo "$NPASS passed, $NFAIL failed"
[ "$NFAIL" -eq 0 ]

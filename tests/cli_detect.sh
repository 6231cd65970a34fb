#!/bin/bash
# fpflow detect on small CSVs: the known transition row, none in a constant
# history, and the exit codes and messages of bad input.
# usage: bash cli_detect.sh /path/to/fpflow
set -u
FPFLOW=${1:?usage: cli_detect.sh /path/to/fpflow}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
FAILED=0

fail() {
  echo "FAIL: $*" >&2
  FAILED=1
}

# expect CODE PATTERN ARGS...: exit code CODE and PATTERN in stdout+stderr.
expect() {
  local code=$1 pattern=$2
  shift 2
  local out rc
  out=$("$FPFLOW" detect "$@" 2>&1)
  rc=$?
  [ "$rc" -eq "$code" ] || fail "detect $* exited $rc, not $code: $out"
  grep -qF -- "$pattern" <<<"$out" ||
    fail "detect $*: no '$pattern' in: $out"
}

# 100 rows, step = 10 * row: C falls from 5 to 1 at row 60, S_dot spikes
# at row $1, the loss is flat.
history() {
  local spike=$1 i c s
  printf 'step,t,C,C_vel,S_dot,loss_mean\n'
  for ((i = 0; i < 100; i++)); do
    if ((i < 60)); then c=5.0$((i % 3)); else c=1.0$((i % 3)); fi
    if ((i == spike)); then s=10; else s=0.0$((i % 4)); fi
    printf '%d,%d.%02d,%s,%s,%s,0.25\n' $((10 * i)) $((i / 100)) \
      $((i % 100)) "$c" "$c" "$s"
  done
}

# The known transition: row 60, step 600, found with tolerance 0 and 1.
history 60 >"$DIR/known.csv"
expect 0 "1 transition" "$DIR/known.csv"
[ -f "$DIR/transitions.json" ] || fail "no transitions.json beside the CSV"
grep -q '"row":[[:space:]]*60,' "$DIR/transitions.json" ||
  fail "row 60 not in transitions.json"
grep -q '"step":[[:space:]]*600,' "$DIR/transitions.json" ||
  fail "step 600 not in transitions.json"
expect 0 "1 transition" "$DIR/known.csv" --tolerance 1 -o "$DIR/k1.json"
grep -q '"row":[[:space:]]*60,' "$DIR/k1.json" || fail "tolerance 1: no row 60"
grep -q '"tolerance":[[:space:]]*1' "$DIR/k1.json" ||
  fail "tolerance 1 not in the options"
expect 0 "1 transition" "$DIR/known.csv" --series C_vel --log \
  -o "$DIR/vel.json"
grep -q '"series":[[:space:]]*"C_vel"' "$DIR/vel.json" ||
  fail "series C_vel not recorded"

# The spike one row late: none at tolerance 0, row 60 at tolerance 1.
history 61 >"$DIR/late.csv"
expect 0 "0 transitions" "$DIR/late.csv" -o "$DIR/late0.json"
expect 0 "1 transition" "$DIR/late.csv" --tolerance 1 -o "$DIR/late1.json"
grep -q '"row":[[:space:]]*60,' "$DIR/late1.json" ||
  fail "late spike, tolerance 1: no row 60"

# A constant history: no transition, an empty list in the report.
{
  printf 'step,C,S_dot,loss\n'
  for ((i = 0; i < 50; i++)); do printf '%d,0.5,0.1,2\n' "$i"; done
} >"$DIR/const.csv"
expect 0 "0 transitions" "$DIR/const.csv" -o "$DIR/const.json"
grep -q '"transitions":[[:space:]]*\[\]' "$DIR/const.json" ||
  fail "constant history: transitions not empty"

# -q prints nothing at all on success.
out=$("$FPFLOW" detect "$DIR/known.csv" -q -o "$DIR/q.json" 2>&1)
[ -z "$out" ] || fail "-q printed: $out"

# Bad input: each message names the file, line and column.
expect 2 "no column 'C_vel' (columns: step, C, S_dot, loss)" \
  "$DIR/const.csv" --series C_vel
printf 'step,C,S_dot,loss\n0,1,2,3\n1,1,2,3\n2,abc,2,3\n' >"$DIR/bad.csv"
expect 2 "bad.csv line 4, column 'C': 'abc' is not a number" "$DIR/bad.csv"
printf 'step,C,S_dot,loss\n0,1,2,3\n1,1,2\n2,1,2,3\n' >"$DIR/ragged.csv"
expect 2 "ragged.csv line 3: 3 fields, the header has 4" "$DIR/ragged.csv"
printf 'step,C,S_dot,loss\n0,1,2,3\n1,nan,2,3\n2,1,2,3\n' >"$DIR/nan.csv"
expect 2 "nan.csv line 3, column 'C': nan is not finite" "$DIR/nan.csv"
: >"$DIR/empty.csv"
expect 2 "empty.csv: empty file" "$DIR/empty.csv"
printf 'step,C,S_dot,loss\n0,1,2,3\n1,1,2,3\n' >"$DIR/short.csv"
expect 2 "2 data rows; detection needs at least 3" "$DIR/short.csv"
expect 2 "missing.csv: cannot open" "$DIR/missing.csv"

# Bad options: the option and its value are named; exit 2.
expect 2 "--window '-3': must be >= 1" "$DIR/known.csv" --window -3
expect 2 "--drop-factor 'abc': not a number" "$DIR/known.csv" \
  --drop-factor abc
expect 2 "--tolerance '1.5': not an integer" "$DIR/known.csv" \
  --tolerance 1.5
expect 2 "unknown option '--frobnicate'" "$DIR/known.csv" --frobnicate
expect 2 "no metrics file given"

# --help lists every option with its default.
help=$("$FPFLOW" detect --help) || fail "--help exited non-zero"
for opt in --series --log --loss --sdot --drop-factor --spike-factor \
  --window --plateau-tol --relative --tolerance --output --quiet \
  --verbose --help; do
  grep -q -- "$opt" <<<"$help" || fail "--help does not list $opt"
done

exit $FAILED

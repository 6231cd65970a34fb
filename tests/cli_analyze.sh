#!/bin/bash
# fpflow analyze: the grokking example on its short schedule (outputs
# exist and are sane), per-step files written by `fpflow run`, and the
# messages and exit codes of bad input.
# usage: bash cli_analyze.sh /path/to/fpflow
set -u
FPFLOW=${1:?usage: cli_analyze.sh /path/to/fpflow}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
FAILED=0

fail() {
  echo "FAIL: $*" >&2
  FAILED=1
}

# expect CODE PATTERN ARGS...: exit code CODE and PATTERN in the output.
expect() {
  local code=$1 pattern=$2
  shift 2
  local out rc
  out=$("$FPFLOW" analyze "$@" 2>&1)
  rc=$?
  [ "$rc" -eq "$code" ] || fail "analyze $* exited $rc, not $code: $out"
  grep -qF -- "$pattern" <<<"$out" ||
    fail "analyze $*: no '$pattern' in: $out"
}

# rows FILE: data rows of a CSV.
rows() { echo $(($(wc -l <"$1") - 1)); }

# check_outputs DIR T: metrics.csv with T rows whose C_vel (column 6) is
# a positive number (the first may be nan in trajectory mode), a
# transitions.json with status ok, and a PNG figure.
check_outputs() {
  local d=$1 t=$2
  [ -s "$d/metrics.csv" ] || fail "$d: no metrics.csv"
  [ "$(rows "$d/metrics.csv")" -eq "$t" ] ||
    fail "$d/metrics.csv: $(rows "$d/metrics.csv") rows, not $t"
  awk -F, 'NR > 2 && !($6 + 0 > 0) { bad = 1 } END { exit bad }' \
    "$d/metrics.csv" || fail "$d/metrics.csv: C_vel not positive"
  grep -q '"status":[[:space:]]*"ok"' "$d/transitions.json" ||
    fail "$d/transitions.json: status not ok"
  [ "$(head -c 4 "$d/figure.png" | od -An -c | tr -d ' ')" = '211PNG' ] ||
    fail "$d/figure.png is not a PNG"
}

# --- The example, short schedule -------------------------------------------
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  FPFLOW=$FPFLOW bash "$HERE/../examples/modadd_snapshots/run.sh" --short \
    "$DIR/ex" >"$DIR/ex.log" 2>&1 || fail "run.sh --short: $(cat "$DIR/ex.log")"
  T=$(ls "$DIR/ex/z" | wc -l)
  [ "$T" -eq 11 ] || fail "example: $T snapshots, not 11"
  check_outputs "$DIR/ex/model" "$T"
  check_outputs "$DIR/ex/trajectory" "$T"
  grep -q '^0,' "$DIR/ex/model/metrics.csv" || fail "example: no step 0 row"
  grep -q '^150,' "$DIR/ex/model/metrics.csv" ||
    fail "example: no step 150 row"
  grep -q "validation accuracy" "$DIR/ex/report.txt" ||
    fail "example: no report"

  # A known collapse, end to end: 300 probes translate steadily (gaps of
  # 1 to 3 steps), then contract to 0.3 of their spread at step 1060.
  mkdir -p "$DIR/collapse"
  /usr/bin/python3 - "$DIR/collapse" <<'PY' || fail "collapse series"
import sys
import numpy as np
rng = np.random.default_rng(5)
z, step = rng.normal(size=(300, 3)), 1000
for k in range(45):
    gap = 1 + k % 3
    step += gap if k else 0
    if k == 30:
        z = z.mean(axis=0) + 0.3 * (z - z.mean(axis=0))
    elif k:
        z = z + [0.5 * gap, 0, 0] + np.sqrt(2e-4 * gap) * rng.normal(
            size=z.shape)
    np.save("%s/z_%d.npy" % (sys.argv[1], step), z)
PY
  expect 0 "1 transition at step 1060" "$DIR/collapse" --threshold 10 \
    -o "$DIR/oc"
  grep -q '"step":[[:space:]]*1060,' "$DIR/oc/transitions.json" ||
    fail "collapse: step 1060 not in transitions.json"
  awk -F, '$16 == 1 { n++; s = $1 } END { exit !(n == 1 && s == 1060) }' \
    "$DIR/oc/metrics.csv" || fail "collapse: the alert is not at 1060 only"
else
  echo "NumPy for /usr/bin/python3 not found: the example is skipped" >&2
fi

# --- Per-step files from fpflow run -----------------------------------------
mk() { # mk NAME D SEED: an (40, D) ensemble from a short run
  "$FPFLOW" run -q -o "$DIR/r_$1" --set steps=3 --set n=40 --set d="$2" \
    --set seed="$3" --set landscape=quadratic --set figure=off ||
    fail "run $1"
}
mk a 3 1
mk b 3 2
mk c 2 3
S="$DIR/steps"
mkdir -p "$S"
cp "$DIR/r_a/z_initial.npy" "$S/z_0.npy"
cp "$DIR/r_a/z_final.npy" "$S/z_30.npy"
cp "$DIR/r_b/z_final.npy" "$S/z_45.npy"
expect 0 "3 snapshots of 40 probes x 3" "$S" -o "$DIR/o1"
check_outputs "$DIR/o1" 3
grep -q '^45,' "$DIR/o1/metrics.csv" || fail "step 45 (from the name) missing"
grep -q '"mode":[[:space:]]*"trajectory"' "$DIR/o1/transitions.json" ||
  fail "trajectory mode by default without --grads"

# Given steps, a quoted glob, model mode with the same files as gradients.
expect 0 "3 snapshots" "$S/z_*.npy" --steps 5,6,9 --grads "$S" \
  -o "$DIR/o2" --no-figure
grep -q '^9,' "$DIR/o2/metrics.csv" || fail "--steps 5,6,9 not used"
grep -q '"mode":[[:space:]]*"model"' "$DIR/o2/transitions.json" ||
  fail "model mode with --grads"
[ -e "$DIR/o2/figure.png" ] && fail "--no-figure wrote a figure"

# --- Bad input: exit 2 and the file, the snapshot and the numbers -----------
# NaN at row 5, column 1 of step 45: bytes of a little-endian NaN written
# over the element (the data start at byte 128 of fpflow's files).
cp -r "$S" "$DIR/nan"
printf '\x00\x00\x00\x00\x00\x00\xf8\x7f' |
  dd of="$DIR/nan/z_45.npy" bs=1 seek=$((128 + (5 * 3 + 1) * 8)) \
    conv=notrunc status=none
expect 2 "z_45.npy: NaN in the latents (step 45) at row 5, column 1" \
  "$DIR/nan" -o "$DIR/o3"
[ "$(rows "$DIR/o3/metrics.csv")" -eq 2 ] ||
  fail "the rows before the NaN were not kept"
grep -q '"status":[[:space:]]*"failed"' "$DIR/o3/transitions.json" ||
  fail "transitions.json does not record the failure"

# Dimensions that change, truncated data, bad magic, wrong rank.
cp -r "$S" "$DIR/dims"
cp "$DIR/r_c/z_final.npy" "$DIR/dims/z_30.npy"
expect 2 "shape (40, 2) differs from (40, 3)" "$DIR/dims" -o "$DIR/o4"
cp -r "$S" "$DIR/cut"
truncate -s 700 "$DIR/cut/z_30.npy"
expect 2 "expected 960 bytes of data, found 572" "$DIR/cut" -o "$DIR/o5"
printf 'not a numpy file' >"$DIR/bad.npy"
expect 2 "bad.npy: not a .npy file (bad magic string)" "$DIR/bad.npy"
"$FPFLOW" density -q "$S/z_0.npy" -o "$DIR/dens" || fail "density"
expect 2 "rank 1, shape (40,); latents need (N, d)" "$DIR/dens.log_rho.npy"

# Usage errors.
expect 2 "needs the per-sample gradients" "$S" --mode model
expect 2 "needs at least two snapshots" "$S/z_0.npy"
expect 2 "2 given for 3 snapshots" "$S" --steps 1,2
expect 2 "steps must increase" "$S" --steps 1,3,2
expect 2 "--grads" "$S" --grads "$S/z_0.npy"
cp "$S/z_0.npy" "$DIR/first.npy"
expect 2 "no step in the file name" "$DIR/first.npy" "$S/z_30.npy"
expect 2 "unknown option" "$S" --bogus
expect 2 "--bandwidth '-1'" "$S" --bandwidth -1
expect 2 "no snapshots given"
"$FPFLOW" analyze --help | grep -q "usage: fpflow analyze" ||
  fail "--help"

exit $FAILED

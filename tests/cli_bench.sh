#!/bin/bash
# fpflow bench end to end, at sizes that take seconds: a row per size,
# precision and thread count with finite figures in the JSON; the peers
# (NumPy and PyTorch) compute the same step (their log C, S_dot and mean
# log rho agree with fpflow's, so a ratio is printed, not a refusal); the
# binned KDE's check against the exact sums; bad options (exit 2 and a
# message naming the value).  Times are printed, never asserted.
# usage: bash cli_bench.sh /path/to/fpflow
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench() { invoke bench "$@"; }
expect() { expect_exit bench "$@"; }
PY=/usr/bin/python3

# json NAME EXPR: EXPR (Python, over the list `r` read from NAME.json)
# is true.
json() {
  "$PY" -c "import json, math, sys; r = json.load(open(sys.argv[1])); \
sys.exit(0 if ($2) else 1)" "$DIR/$1.json"
}

bench small --sizes 300x16,200x40 --precision fp64,fp32 --threads 1,2 \
  --rounds 2 -o "$DIR/small.json"
check "two sizes x two precisions x two thread counts: exit 0, 8 rows" \
  eval '[ "$RC" -eq 0 ] &&
        [ "$(grep -cE "^ +(300x16|200x40) +fp(64|32)" "$DIR/small.out")" -eq 8 ]'
check "JSON: 8 records, positive times, finite log C and S_dot, a floor" \
  json small 'len(r) == 8 and all(x["median_s"] > 0 and x["min_s"] <= x["median_s"] <= x["max_s"] and math.isfinite(x["log_C"]) and math.isfinite(x["S_dot"]) and x["floor_s"] > 0 and x["peak_rss_kb"] > 0 for x in r)'
check "fp32 and fp64 steps agree on log C and S_dot (1e-3 relative)" \
  json small 'all(abs(a["log_C"] - b["log_C"]) <= 1e-3 * abs(b["log_C"]) and abs(a["S_dot"] - b["S_dot"]) <= 1e-3 * abs(b["S_dot"]) for a in r for b in r if a["N"] == b["N"] and a["threads"] == b["threads"] and a["precision"] == "fp32" and b["precision"] == "fp64")'
check "1 and 2 threads give the same step (log C bit for bit)" \
  json small 'all(a["log_C"] == b["log_C"] for a in r for b in r if a["N"] == b["N"] and a["precision"] == b["precision"])'

if "$PY" -c "import numpy, torch" 2>/dev/null; then
  bench peers --sizes 300x16 --precision fp64,fp32 --threads 1 \
    --rounds 1 --peers -o "$DIR/peers.json"
  check "--peers: both peers agree with fpflow and get a ratio" \
    eval '[ "$RC" -eq 0 ] && ! grep -qE "refused|failed" "$DIR/peers.out" &&
          [ "$(grep -cE "ms  x[0-9.]+ +[0-9.]+ ms  x[0-9.]+" "$DIR/peers.out")" -eq 2 ]'
  check "--peers JSON: NumPy and PyTorch times" \
    json peers 'all(x["numpy_s"] > 0 and x["torch_s"] > 0 for x in r)'
else
  echo "SKIP: --peers (no NumPy or PyTorch for $PY)"
fi

bench binned --sizes 20000x2 --precision fp64 --threads 2 --rounds 1 \
  --no-floor
err=$(sed -n 's/.*max |error of log rho| \([^,]*\),.*/\1/p' "$DIR/binned.out")
check "20000 particles in 2-D: the binned KDE within 1e-3 of the exact sums (got $err)" \
  eval '[ -n "$err" ] && awk -v e="$err" "BEGIN { exit !(e + 0 > 0 && e + 0 < 1e-3) }"'

expect bad_size 2 "'10x'" -- --sizes 10x
expect bad_size2 2 "'1x5'" -- --sizes 1x5
expect bad_reps 2 "--reps '3'" -- --reps 3
expect bad_rounds 2 "--rounds '0'" -- --rounds 0
expect bad_prec 2 "'fp16'" -- --precision fp16
expect bad_threads 2 "'0'" -- --threads 0
expect bad_arg 2 "'extra'" -- extra
expect bad_json 2 "$DIR" -- --sizes 64x4 --rounds 1 -o "$DIR"

echo "cli_bench: $NPASS passed, $NFAIL failed"
[ "$NFAIL" -eq 0 ]

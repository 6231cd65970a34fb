#!/bin/bash
# fpflow bench end to end, at sizes that take seconds: a row per size,
# precision and thread count with finite figures in the JSON; the peers
# (NumPy and PyTorch) compute the same step (their log C, S_dot and mean
# log rho agree with fpflow's, so a ratio is printed, not a refusal); the
# binned KDE's check against the exact sums, with no dense GFLOP/s, and
# its comparison with the exact peers; which parts of fpflow's fp32 step
# are in float at small d; a peer whose reply is not JSON; bad options
# (exit 2 and a message naming the value).
# Times are printed, never asserted.
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
check "JSON rows say which fpflow, which CPU and when" \
  json small 'all(x["fpflow_version"] and x["cpu"] and x["started_utc"].endswith("Z") for x in r)'
check "fp32 and fp64 steps agree on log C and S_dot (1e-3 relative)" \
  json small 'all(abs(a["log_C"] - b["log_C"]) <= 1e-3 * abs(b["log_C"]) and abs(a["S_dot"] - b["S_dot"]) <= 1e-3 * abs(b["S_dot"]) for a in r for b in r if a["N"] == b["N"] and a["threads"] == b["threads"] and a["precision"] == "fp32" and b["precision"] == "fp64")'
check "1 and 2 threads give the same step (log C bit for bit)" \
  json small 'all(a["log_C"] == b["log_C"] for a in r for b in r if a["N"] == b["N"] and a["precision"] == b["precision"])'
check "fp32 at d = 16: only the KDE in float, said in the table and JSON" \
  eval 'json small "all(x[\"fpflow_float_parts\"] == {\"fp64\": \"none\", \"fp32\": (\"kde\" if x[\"d\"] <= 32 else \"all\")}[x[\"precision\"]] for x in r)" &&
        [ "$(grep -c "the KDE in float, the d x d products in double" "$DIR/small.out")" -eq 2 ]'

if "$PY" -c "import numpy, torch" 2>/dev/null; then
  bench peers --sizes 300x16 --precision fp64,fp32 --threads 1 \
    --rounds 1 --peers -o "$DIR/peers.json"
  check "--peers: both peers agree with fpflow (exit 0, no refusal)" \
    eval '[ "$RC" -eq 0 ] && ! grep -qE "refused|failed" "$DIR/peers.out"'
  check "--peers JSON: NumPy and PyTorch times, no notes" \
    json peers 'all(x["numpy_s"] > 0 and x["torch_s"] > 0 and "numpy_note" not in x and "torch_note" not in x for x in r)'
  # a peer that computes another step is refused: exit 1, the reason on
  # stderr and in the JSON, no time recorded
  mkdir -p "$DIR/doctored"
  cp "$(dirname "${BASH_SOURCE[0]}")/../bench/peer_torch.py" "$DIR/doctored/"
  sed 's/^ETA, LAM, C, GAMMA, DT = 0.01,/ETA, LAM, C, GAMMA, DT = 0.0101,/' \
    "$(dirname "${BASH_SOURCE[0]}")/../bench/peer_numpy.py" \
    >"$DIR/doctored/peer_numpy.py"
  bench refused --sizes 300x16 --precision fp64 --threads 1 --rounds 1 \
    --peers --peer-dir "$DIR/doctored" -o "$DIR/refused.json"
  check "a peer with another eta is refused: exit 1, 'refused', the reason" \
    eval '[ "$RC" -eq 1 ] && grep -q refused "$DIR/refused.out" &&
          grep -q "numpy peer is refused: log C differs" "$DIR/refused.err"'
  check "the refused peer's JSON: no time, the reason" \
    json refused 'r[0]["numpy_s"] is None and "log C differs" in r[0]["numpy_note"] and r[0]["torch_s"] > 0'
  # fpflow's binned KDE against the peers' exact sums: compared at 2e-3
  bench binnedpeers --sizes 5000x1 --precision fp64 --threads 2 \
    --rounds 1 --peers --no-floor -o "$DIR/binnedpeers.json"
  check "5000 x 1, binned, against exact peers: compared, not refused" \
    eval '[ "$RC" -eq 0 ] && json binnedpeers "r[0][\"kde\"] == \"binned\" and r[0][\"numpy_s\"] > 0 and r[0][\"torch_s\"] > 0"'
  # a peer whose reply is not JSON (a bare NaN) fails with that reason
  mkdir -p "$DIR/nan"
  cp "$DIR/doctored/peer_torch.py" "$DIR/nan/"
  printf 'print("{\\"peer\\": \\"numpy\\", \\"median_s\\": NaN}")\n' \
    >"$DIR/nan/peer_numpy.py"
  bench nanpeer --sizes 300x16 --precision fp64 --threads 1 --rounds 1 \
    --peers --peer-dir "$DIR/nan" --no-floor
  check "a peer replying NaN: exit 1, 'not valid JSON' named" \
    eval '[ "$RC" -eq 1 ] && grep -q "reply is not valid JSON" "$DIR/nanpeer.err"'
else
  echo "SKIP: --peers (no NumPy or PyTorch for $PY)"
fi

bench binned --sizes 20000x2 --precision fp64 --threads 2 --rounds 1 \
  --no-floor
err=$(sed -n 's/.*max |error of log rho| \([^,]*\),.*/\1/p' "$DIR/binned.out")
check "20000 particles in 2-D: the binned KDE within 1e-3 of the exact sums (got $err)" \
  eval '[ -n "$err" ] && awk -v e="$err" "BEGIN { exit !(e + 0 > 0 && e + 0 < 1e-3) }"'
bench binned1 --sizes 5000x1 --precision fp32 --threads 1 --rounds 1 \
  --no-floor -o "$DIR/binned1.json"
check "5000 particles in 1-D: binned, no dense GFLOP/s, checked, all double" \
  eval 'json binned1 "r[0][\"kde\"] == \"binned\" and r[0][\"gflops\"] is None and r[0][\"check_log_rho_err\"] < 1e-3 and r[0][\"fpflow_float_parts\"] == \"none\"" &&
        grep -q "binned KDE; against the exact sums" "$DIR/binned1.out" &&
        grep -q "all in double" "$DIR/binned1.out"'

expect bad_size 2 "'10x'" -- --sizes 10x
expect bad_size2 2 "'1x5'" -- --sizes 1x5
expect bad_reps 2 "--reps '3'" -- --reps 3
expect bad_rounds 2 "--rounds '0'" -- --rounds 0
expect bad_prec 2 "'fp16'" -- --precision fp16
expect bad_threads 2 "'0'" -- --threads 0
expect bad_arg 2 "'extra'" -- extra
expect bad_json 2 "$DIR" -- --sizes 64x4 --rounds 1 -o "$DIR"

expect empty_sizes 2 "--sizes ''" -- --sizes ""
expect empty_item 2 "an empty item" -- --sizes 300x16,,500x2
expect twice 2 "given twice" -- --precision fp64,fp64
expect signed 2 "'+1'" -- --threads +1
expect too_many 2 "at most 8 items" -- --threads 1,2,3,4,5,6,7,8,9
expect no_peer_dir 2 "--peer-dir $DIR/none|peer_numpy.py" -- --peers \
  --peer-dir "$DIR/none"
expect json_dir_missing 2 "cannot write there" -- --sizes 64x4 \
  -o "$DIR/missing/out.json"
expect json_empty 2 "an empty file name" -- --sizes 64x4 -o ""
expect quiet_no_json 2 "-q without -o" -- --sizes 64x4 -q
expect quiet_verbose 2 "-q and -v together" -- --sizes 64x4 -q -v \
  -o "$DIR/qv.json"
expect too_big 2 "'10000000x100000' needs at least 24" -- \
  --sizes 64x4,10000000x100000
expect unknown 2 "fpflow: bench: unknown option '--bogus'" -- --bogus
expect no_value 2 "option '--sizes' needs a value" -- --sizes

# a row that fails (its d x d matrices over the memory limit) is in the
# JSON with its reason, and the run exits 1
(ulimit -v 1500000
 "$FPFLOW" bench --sizes 64x4,3x20000 --precision fp64 --threads 1 \
   --rounds 1 --no-floor -o "$DIR/oom.json" >"$DIR/oom.out" 2>"$DIR/oom.err")
RC=$?
check "a failed row: exit 1, '1 thread failed', the reason in the JSON" \
  eval '[ "$RC" -eq 1 ] && grep -q "3x20000 fp64 on 1 thread failed" "$DIR/oom.err" &&
        json oom "len(r) == 2 and r[0][\"median_s\"] > 0 and r[1][\"d\"] == 20000 and \"memory\" in r[1][\"error\"]"'

bench quiet --sizes 64x4 --precision fp64 --threads 1 --rounds 1 -q \
  -o "$DIR/quiet.json"
check "-q: no table, the JSON still written" \
  eval '[ "$RC" -eq 0 ] && [ ! -s "$DIR/quiet.out" ] && json quiet "len(r) == 1"'

# an interrupted run with peers leaves no particles' file behind
export TMPDIR="$DIR/tmp"
mkdir -p "$TMPDIR"
timeout -s INT 4 "$FPFLOW" bench --sizes 2048x256 --precision fp64 \
  --threads 1 --peers >/dev/null 2>&1
check "SIGINT during --peers: nothing left in \$TMPDIR" \
  eval '[ -z "$(ls -A "$TMPDIR")" ]'
unset TMPDIR

echo "cli_bench: $NPASS passed, $NFAIL failed"
[ "$NFAIL" -eq 0 ]

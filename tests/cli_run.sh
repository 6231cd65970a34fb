#!/bin/bash
# fpflow run end to end: the quick start and its outputs, the resolved
# config repeating the run byte for byte, identical results on 1 and 2
# threads, bad input (exit 2, a message naming the key, file or value), a
# run that blows up part-way and a Cholesky failure (exit 1, what was done
# is kept).  Prints a PASS or FAIL line per check; exits 1 if any failed.
# usage: bash cli_run.sh /path/to/fpflow
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# run NAME ARGS... and expect NAME CODE PATTERNS -- ARGS...: lib.sh's
# invoke and expect_exit for `fpflow run`.
run() { invoke run "$@"; }
expect() { expect_exit run "$@"; }


# npy_offset FILE: bytes before the data of a version 1 .npy file.
npy_offset() {
  local hl
  hl=$(od -A n -t u2 -j 8 -N 2 "$1" | tr -d ' ')
  echo $((10 + hl))
}

# npy_finite FILE: every float64 of the data is finite.
npy_finite() {
  [ -s "$1" ] || return 1
  ! od -A n -v -t f8 -j "$(npy_offset "$1")" "$1" | grep -qiE 'inf|nan'
}

# npy_is FILE ROWS COLS: a finite float64 (ROWS, COLS) array, its size
# matching the header.
npy_is() {
  grep -aqF "'descr': '<f8'" "$1" &&
    grep -aqF "'shape': ($2, $3)" "$1" &&
    [ "$(stat -c %s "$1")" -eq $(($(npy_offset "$1") + $2 * $3 * 8)) ] &&
    npy_finite "$1"
}

# json_status FILE WORD: summary.json has "status": "WORD".
json_status() {
  grep -qE "\"status\":[[:space:]]*\"$2\"" "$1"
}

# json_int FILE KEY: the integer value of KEY in a JSON file.
json_int() {
  grep -oE "\"$2\":[[:space:]]*[0-9]+" "$1" | head -n 1 | grep -oE '[0-9]+$'
}

# ---- the quick start ------------------------------------------------------

Q=$DIR/quick
run quick -o "$Q" -q --set steps=20
check "quick start exits 0" [ "$RC" -eq 0 ]
for f in config.ini metrics.csv summary.json z_initial.npy z_final.npy \
  figure.png; do
  check "quick start writes $f" [ -s "$Q/$f" ]
done
check "quick start: metrics.csv has header + 20 rows" \
  [ "$(lines "$Q/metrics.csv")" -eq 21 ]
check "quick start: metrics.csv header starts with step," \
  grep -q '^step,' "$Q/metrics.csv"
check "quick start: summary.json says ok" json_status "$Q/summary.json" ok
check "quick start: summary.json steps_done 20" \
  [ "$(json_int "$Q/summary.json" steps_done)" = 20 ]
check "quick start: z_initial.npy is 500 x 2, finite" \
  npy_is "$Q/z_initial.npy" 500 2
check "quick start: z_final.npy is 500 x 2, finite" \
  npy_is "$Q/z_final.npy" 500 2
check "quick start: figure.png is a PNG" \
  [ "$(head -c 4 "$Q/figure.png" | od -A n -t x1 | tr -d ' ')" = 89504e47 ]
check "quick start: -q prints nothing" \
  eval '[ ! -s "$DIR/quick.out" ] && [ ! -s "$DIR/quick.err" ]'

# ---- the resolved configuration repeats the run --------------------------

R=$DIR/rerun
run rerun "$Q/config.ini" -o "$R" -q
check "re-run of config.ini exits 0" [ "$RC" -eq 0 ]
check "re-run reproduces metrics.csv byte for byte" \
  cmp "$Q/metrics.csv" "$R/metrics.csv"
check "re-run reproduces z_final.npy byte for byte" \
  cmp "$Q/z_final.npy" "$R/z_final.npy"
check "re-run writes the same config.ini" cmp "$Q/config.ini" "$R/config.ini"

# ---- 1 and 2 threads give the same bits ------------------------------------

# threads_same NAME ARGS...: runs ARGS with --threads 1 and 2 and compares.
threads_same() {
  local name=$1
  shift
  run "$name-t1" -o "$DIR/$name-t1" -q --threads 1 "$@"
  local rc1=$RC
  run "$name-t2" -o "$DIR/$name-t2" -q --threads 2 "$@"
  local rc2=$RC
  if [ "$rc1" -ne 0 ] || [ "$rc2" -ne 0 ]; then
    fail "$name: --threads 1 / 2 exited $rc1 / $rc2: $(head -c 300 \
      "$DIR/$name-t1.err")"
    return
  fi
  check "$name: metrics.csv identical on 1 and 2 threads" \
    cmp "$DIR/$name-t1/metrics.csv" "$DIR/$name-t2/metrics.csv"
  check "$name: z_final.npy identical on 1 and 2 threads" \
    cmp "$DIR/$name-t1/z_final.npy" "$DIR/$name-t2/z_final.npy"
}

threads_same quick-threads --set steps=20
[ -s "$DIR/quick-threads-t1/metrics.csv" ] &&
  check "quick start: --threads 1 gives the default run's metrics" \
    cmp "$Q/metrics.csv" "$DIR/quick-threads-t1/metrics.csv"
# d = 40 takes the KDE's BLAS Gram path (direct loops only up to d = 8)
threads_same gram-threads --set landscape=quadratic --set d=40 \
  --set n=300 --set steps=5

# ---- bad input: exit 2, the message names what is wrong -------------------

B=$DIR/bad
expect "unknown key via --set" 2 "etaa" -- -o "$B" -q --set etaa=1
printf '[run]\nsteps = 5\n\n[schedule]\netaa = 1\n' >"$DIR/unknown.ini"
expect "unknown key in an INI file" 2 "$DIR/unknown.ini|line 5|etaa" -- \
  "$DIR/unknown.ini" -o "$B" -q
printf 'steps = 5\nthis is not a key\n' >"$DIR/malformed.ini"
expect "malformed INI line" 2 "$DIR/malformed.ini|line 2" -- \
  "$DIR/malformed.ini" -o "$B" -q
expect "malformed value" 2 "eta0|abc" -- -o "$B" -q --set eta0=abc
expect "--set without =" 2 "eta0" -- -o "$B" -q --set eta0
expect "out of range dt" 2 "dt|-1" -- -o "$B" -q --set dt=-1
expect "out of range alpha_reset" 2 "alpha_reset|2" -- -o "$B" -q \
  --set alpha_reset=2
expect "out of range n" 2 "n = 1" -- -o "$B" -q --set n=1
expect "two_wells with d = 3" 2 "two_wells|d = 3" -- -o "$B" -q --set d=3
expect "unknown landscape" 2 "no_such_landscape" -- -o "$B" -q \
  --set landscape=no_such_landscape
expect "missing config file" 2 "$DIR/missing.ini" -- "$DIR/missing.ini" \
  -o "$B" -q
expect "unknown option" 2 "--bogus" -- --bogus -o "$B"
expect "missing init file" 2 "$DIR/none.npy" -- -o "$B" -q \
  --set init="$DIR/none.npy"
printf 'this is not an npy file at all\n' >"$DIR/garbage.npy"
expect "garbage init .npy" 2 "$DIR/garbage.npy" -- -o "$B" -q \
  --set init="$DIR/garbage.npy"
head -c 60 "$Q/z_initial.npy" >"$DIR/trunc_header.npy"
expect "init .npy truncated in its header" 2 \
  "$DIR/trunc_header.npy|truncated" -- -o "$B" -q \
  --set init="$DIR/trunc_header.npy"
head -c 1000 "$Q/z_initial.npy" >"$DIR/trunc_data.npy"
expect "init .npy truncated in its data" 2 "$DIR/trunc_data.npy|truncated" \
  -- -o "$B" -q --set init="$DIR/trunc_data.npy"
expect "init .npy of the wrong dimension" 2 "$Q/z_initial.npy|d = 3" -- \
  -o "$B" -q --set landscape=quadratic --set d=3 \
  --set init="$Q/z_initial.npy"

# A (3, 2) float64 .npy written by hand, NaN at row 1, column 1: magic,
# version 1.0, header length (little-endian), the dict padded with spaces
# so that magic + length + dict + '\n' is a multiple of 64, then the data.
write_npy_3x2() {
  local dict="{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }"
  local pad=$(((64 - (10 + ${#dict} + 1) % 64) % 64))
  local hl=$((${#dict} + pad + 1))
  printf '\x93NUMPY\x01\x00'
  printf "\\x$(printf %02x $((hl % 256)))\\x$(printf %02x $((hl / 256)))"
  printf '%s%*s\n' "$dict" "$pad" ''
  printf '\x00\x00\x00\x00\x00\x00\xe0\x3f' # 0.5
  printf '\x00\x00\x00\x00\x00\x00\xf0\x3f' # 1.0
  printf '\x00\x00\x00\x00\x00\x00\xf0\xbf' # -1.0
  printf "$1"                               # row 1, column 1
  printf '\x00\x00\x00\x00\x00\x00\x00\x40' # 2.0
  printf '\x00\x00\x00\x00\x00\x00\x00\xc0' # -2.0
}
write_npy_3x2 '\x00\x00\x00\x00\x00\x00\xf8\x7f' >"$DIR/nan.npy"
write_npy_3x2 '\x00\x00\x00\x00\x00\x00\x08\x40' >"$DIR/good.npy" # 3.0
check "hand-written .npy: 128 + 48 bytes" \
  [ "$(stat -c %s "$DIR/nan.npy")" -eq 176 ]
# the same bytes with a finite value must be accepted, so that the NaN
# case fails for the NaN and not for the file's layout
run good-npy -o "$DIR/good" -q --set init="$DIR/good.npy" \
  --set landscape=quadratic --set steps=2 --set figure=false
check "hand-written finite .npy is accepted as init" [ "$RC" -eq 0 ]
expect "init .npy containing NaN" 2 "$DIR/nan.npy|NaN" -- -o "$B" -q \
  --set init="$DIR/nan.npy"
check "bad input leaves no output directory" [ ! -e "$B" ]

# ---- a run that becomes non-finite part-way ---------------------------------

# L = -0.5e6 |z|^2 pushes every particle out by a factor ~1e3 a step, so
# the state overflows after some tens of steps.
NF=$DIR/nonfinite
run nonfinite -o "$NF" -q --set landscape=quadratic --set d=2 \
  --set quad_curvature=-1e6 --set steps=50
check "non-finite run exits 1" [ "$RC" -eq 1 ]
check "non-finite run names the step" grep -qE 'step [0-9]+' \
  "$DIR/nonfinite.err"
check "non-finite run says why (inf/nan/finite)" \
  grep -qiE 'inf|nan|finite' "$DIR/nonfinite.err"
check "non-finite run: summary.json says failed" \
  json_status "$NF/summary.json" failed
check "non-finite run: summary.json keeps the error" \
  grep -qE '"error":[[:space:]]*"step [0-9]+' "$NF/summary.json"
DONE=$(json_int "$NF/summary.json" steps_done)
check "non-finite run stops part-way (steps_done = ${DONE:-?})" \
  eval '[ -n "$DONE" ] && [ "$DONE" -gt 1 ] && [ "$DONE" -lt 50 ]'
check "non-finite run: metrics.csv keeps the rows done" \
  eval '[ -n "$DONE" ] && [ "$(lines "$NF/metrics.csv")" -eq $((DONE + 1)) ]'
check "non-finite run: the failing step is the one after the last row" \
  grep -qF "step $DONE " "$DIR/nonfinite.err"
check "non-finite run: z_final.npy written and finite" \
  npy_finite "$NF/z_final.npy"
check "non-finite run: z_initial.npy and config.ini kept" \
  eval '[ -s "$NF/z_initial.npy" ] && [ -s "$NF/config.ini" ]'

# ---- D not positive definite ------------------------------------------------

# Around z = 0 with the minimum at 5, |grad L| ~ 5 and lambda_max(F) ~ 50,
# so gamma = -100 makes I + gamma F indefinite at the first step.
CH=$DIR/cholesky
run cholesky -o "$CH" -q --set landscape=quadratic --set d=2 \
  --set quad_center=5 --set gamma=-100 --set steps=10
check "Cholesky failure exits 1" [ "$RC" -eq 1 ]
check "Cholesky failure names gamma and lambda_max" \
  eval 'grep -qF gamma "$DIR/cholesky.err" &&
    grep -qF lambda_max "$DIR/cholesky.err"'
check "Cholesky failure names the step" grep -qE 'step [0-9]+' \
  "$DIR/cholesky.err"
check "Cholesky failure: summary.json says failed" \
  json_status "$CH/summary.json" failed
check "Cholesky failure: metrics.csv and z_final.npy kept" \
  eval '[ -s "$CH/metrics.csv" ] && npy_finite "$CH/z_final.npy"'

# ---- outputs, paths and signals ---------------------------------------------

# An output that is a link to a device is refused before the run starts.
mkdir -p "$DIR/linked"
ln -sf /dev/full "$DIR/linked/metrics.csv"
expect out_link 2 "metrics.csv|not a regular file" -- -o "$DIR/linked" -q \
  --set steps=3
check "out_link: /dev/full is still a device" [ -c /dev/full ]
mkdir -p "$DIR/cfgdir"
expect cfg_dir 2 "cfgdir|not a regular file" -- "$DIR/cfgdir" -o "$DIR/cd" -q
expect threads_huge 2 "threads = 100000" -- --set threads=100000 -q \
  -o "$DIR/th"
# An init file must agree with an explicit n.
"$FPFLOW" run -q -o "$DIR/src100" --set n=100 --set steps=1 --set figure=false
expect init_n 2 "holds n = 100|n = 500" -- -q -o "$DIR/in" \
  --set init="$DIR/src100/z_initial.npy" --set n=500
# A relative path in an INI file is taken relative to the file.
mkdir -p "$DIR/ini"
printf '[init]\ninit = ../src100/z_initial.npy\n[run]\nsteps = 2\nfigure = false\n' \
  >"$DIR/ini/rel.ini"
(cd / && "$FPFLOW" run "$DIR/ini/rel.ini" -q -o "$DIR/relrun")
check "relative init path in an INI file" [ -s "$DIR/relrun/z_final.npy" ]
check "config.ini records the init path absolute" \
  grep -q "^init = /" "$DIR/relrun/config.ini"
# SIGINT stops the run after a step and keeps its outputs.
"$FPFLOW" run -q -o "$DIR/sig" --set steps=100000 --set figure=false &
pid=$!
sleep 1
kill -INT "$pid"
wait "$pid"
RC=$?
check "SIGINT: exit 130" [ "$RC" -eq 130 ]
check "SIGINT: summary.json says interrupted" \
  json_status "$DIR/sig/summary.json" interrupted
check "SIGINT: z_final.npy kept" npy_finite "$DIR/sig/z_final.npy"
# A second signal during a long step ends the run at once: 20000
# particles in d = 40 take the exact KDE's block path, seconds a step.
"$FPFLOW" run -o "$DIR/sig2" --set n=20000 --set d=40 --set steps=50 \
  --set landscape=quadratic --set figure=false 2>"$DIR/sig2.err" &
pid=$!
for _ in $(seq 100); do # the steps start after this line
  grep -q "particles in d = 40" "$DIR/sig2.err" && break
  sleep 0.1
done
sleep 0.5
kill -TERM "$pid"
sleep 0.3
kill -TERM "$pid"
t0=$(date +%s)
wait "$pid"
RC=$?
check "second SIGTERM: killed by it (143)" [ "$RC" -eq 143 ]
check "second SIGTERM: at once" [ $(($(date +%s) - t0)) -le 2 ]
check "first SIGTERM: says a second one stops at once" \
  grep -q "signal again to stop at once" "$DIR/sig2.err"

# ---- --help ------------------------------------------------------------------

run help --help
check "run --help exits 0" [ "$RC" -eq 0 ]
check "run --help prints usage" grep -q '^usage: fpflow run' \
  "$DIR/help.out"
missing=""
for k in $(sed -n 's/^\([A-Za-z_0-9]*\) = .*/\1/p' "$Q/config.ini"); do
  grep -qE "^ +$k " "$DIR/help.out" || missing="$missing $k"
done
check "run --help lists every key${missing:+ (missing:$missing)}" \
  [ -z "$missing" ]

echo "cli_run: $NPASS passed, $NFAIL failed"
[ "$NFAIL" -eq 0 ]

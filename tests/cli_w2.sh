#!/bin/bash
# fpflow w2 and the W2_star / KL_star columns of fpflow run, end to end:
# exact answers (a shifted copy, W2 = |shift|; a hand-solved weighted
# case), every method's output, bad input (exit 2 and a message naming
# the file and the value), and runs with w2_every: the columns, their
# values against the exact Gaussian law, summary.json's sampler record,
# identical results on 1 and 2 threads.  Prints PASS or FAIL per check;
# exits 1 if any failed.
# usage: bash cli_w2.sh /path/to/fpflow
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# w2 NAME ARGS... and expect NAME CODE PATTERNS -- ARGS...: lib.sh's
# invoke and expect_exit for `fpflow w2`.
w2() { invoke w2 "$@"; }
expect() { expect_exit w2 "$@"; }

# value NAME KEY: the value of "KEY value" in NAME.out.
value() { awk -v k="$2" '$1 == k { print $2 }' "$DIR/$1.out"; }

# near X Y TOL: |X - Y| <= TOL.
near() {
  awk -v x="$1" -v y="$2" -v t="$3" \
    'BEGIN { d = x - y; if (d < 0) d = -d; exit !(x != "" && d <= t) }'
}

# A .npy of float64 values given as 8-byte little-endian escapes, shape
# text SHAPE ("3," or "3, 2"): magic, version 1.0, header length, the
# dict padded so that the data start at byte 64 or 128.
write_npy() {
  local shape=$1
  shift
  local dict="{'descr': '<f8', 'fortran_order': False, 'shape': ($shape), }"
  local pad=$(((64 - (10 + ${#dict} + 1) % 64) % 64))
  local hl=$((${#dict} + pad + 1))
  printf '\x93NUMPY\x01\x00'
  printf "\\x$(printf %02x $((hl % 256)))\\x$(printf %02x $((hl / 256)))"
  printf '%s%*s\n' "$dict" "$pad" ''
  for v in "$@"; do printf "$v"; done
}
ZERO='\x00\x00\x00\x00\x00\x00\x00\x00'
ONE='\x00\x00\x00\x00\x00\x00\xf0\x3f'
TWO='\x00\x00\x00\x00\x00\x00\x00\x40'
THREE='\x00\x00\x00\x00\x00\x00\x08\x40'
FOUR='\x00\x00\x00\x00\x00\x00\x10\x40'
MHALF='\x00\x00\x00\x00\x00\x00\xe0\xbf'
NAN='\x00\x00\x00\x00\x00\x00\xf8\x7f'

# ---- exact answers ---------------------------------------------------------

# Two clouds from one seed: z_initial = init_mean + N(0, 1) draws, so B is
# A shifted by (3, 3): W2 = |shift| = 3 sqrt 2, whatever the draws.
for m in 0 3; do
  "$FPFLOW" run -o "$DIR/c$m" -q --set landscape=quadratic --set d=2 \
    --set n=300 --set steps=1 --set figure=false --set init_mean=$m
done
A=$DIR/c0/z_initial.npy
B=$DIR/c3/z_initial.npy
S=4.2426406871192848
w2 shift "$A" "$B"
check "shifted copy: exit 0, method exact" \
  eval '[ "$RC" -eq 0 ] && [ "$(value shift method)" = exact ]'
check "shifted copy: exact W2 = 3 sqrt 2 to 1e-12 ($(value shift w2))" \
  near "$(value shift w2)" $S 1e-12
w2 shift-q "$A" "$B" -q
quiet_ok() {
  [ "$(wc -l <"$DIR/shift-q.out")" -eq 1 ] &&
    near "$(cat "$DIR/shift-q.out")" $S 1e-12 && [ ! -s "$DIR/shift-q.err" ]
}
check "-q prints the distance alone" quiet_ok
w2 shift-sk "$A" "$B" --method sinkhorn
# a translation leaves the debiased divergence at |shift|^2 for any eps
check "Sinkhorn: W2 = 3 sqrt 2 to 1e-6 ($(value shift-sk w2))" \
  near "$(value shift-sk w2)" $S 1e-6
check "Sinkhorn prints iterations and converged yes" \
  eval '[ "$(value shift-sk converged)" = yes ] &&
    [ "$(value shift-sk iterations)" -gt 0 ]'
w2 shift-eps "$A" "$B" --method sinkhorn --epsilon 0.5
check "Sinkhorn --epsilon 0.5 is used" near "$(value shift-eps epsilon)" 0.5 0
w2 shift-bures "$A" "$B" --method bures
check "Bures: equal covariances, W2 = |dm| = 3 sqrt 2 to 1e-9" \
  near "$(value shift-bures w2)" $S 1e-9
w2 shift-sliced "$A" "$B" --method sliced --projections 64 --seed 7
# sliced W2 of a shift s in d = 2 is |s| / sqrt 2 = 3 up to the Monte
# Carlo error of 64 directions (relative sd of SW2^2 0.09 here)
check "sliced: about |s| / sqrt 2 = 3 ($(value shift-sliced w2))" \
  near "$(value shift-sliced w2)" 3 0.5

# a = {0, 2}, b = {1, 3, 4} with weights {1, 1, 2}: the monotone coupling
# 0->1 (1/4), 0->3 (1/4), 2->4 (1/2) gives W2^2 = 1/4 + 9/4 + 2 = 4.5
write_npy "2," "$ZERO" "$TWO" >"$DIR/a1.npy"
write_npy "3," "$ONE" "$THREE" "$FOUR" >"$DIR/b1.npy"
write_npy "3," "$ONE" "$ONE" "$TWO" >"$DIR/wb.npy"
w2 hand "$DIR/a1.npy" "$DIR/b1.npy" --weights-b "$DIR/wb.npy"
check "hand-solved weighted case: W2^2 = 4.5 ($(value hand w2_squared))" \
  eval 'near "$(value hand w2_squared)" 4.5 1e-14 &&
    [ "$(value hand method)" = exact ]'

# ---- bad input -------------------------------------------------------------

write_npy "3, 1" "$ZERO" "$ONE" "$TWO" >"$DIR/col.npy"
expect "clouds of different dimension" 2 \
  "$A has dimension d = 2|$DIR/col.npy has d = 1" -- "$A" "$DIR/col.npy"
write_npy "3, 1" "$ZERO" "$NAN" "$TWO" >"$DIR/nan.npy"
expect "NaN in a cloud" 2 "$DIR/nan.npy: NaN at row 1, column 0" -- \
  "$DIR/nan.npy" "$DIR/col.npy"
write_npy "3," "$ONE" "$MHALF" "$ONE" >"$DIR/wneg.npy"
expect "a negative weight" 2 "$DIR/wneg.npy: weight -0.5 at index 1" -- \
  "$DIR/col.npy" "$DIR/col.npy" --weights-a "$DIR/wneg.npy"
write_npy "3," "$ZERO" "$ZERO" "$ZERO" >"$DIR/wzero.npy"
expect "all-zero weights" 2 "$DIR/wzero.npy: all 3 weights are 0" -- \
  "$DIR/col.npy" "$DIR/col.npy" --weights-b "$DIR/wzero.npy"
expect "weights of the wrong length" 2 \
  "$DIR/wb.npy has 3 weights but $DIR/a1.npy has 2 points" -- \
  "$DIR/a1.npy" "$DIR/b1.npy" --weights-a "$DIR/wb.npy"
write_npy "3," "$ONE" "$NAN" "$ONE" >"$DIR/wnan.npy"
expect "a NaN weight" 2 "$DIR/wnan.npy: NaN at index 1" -- \
  "$DIR/col.npy" "$DIR/col.npy" --weights-a "$DIR/wnan.npy"
expect "a missing file" 2 "$DIR/none.npy" -- "$DIR/none.npy" "$A"
expect "an unknown method" 2 "--method 'wasserstein'" -- "$A" "$B" \
  --method wasserstein
expect "epsilon <= 0" 2 "--epsilon '-1'" -- "$A" "$B" --epsilon -1
expect "projections = 0" 2 "--projections '0'" -- "$A" "$B" \
  --projections 0
expect "one file only" 2 "expected two files" -- "$A"
w2 help --help
check "--help exits 0 and lists the methods" \
  eval '[ "$RC" -eq 0 ] && grep -q sinkhorn "$DIR/help.out"'

# ---- runs with w2_every ----------------------------------------------------

# Quadratic L = |z|^2 / 2 in d = 1, particles N(0, 1) at step 0, beta =
# eta0 / D0 = 0.2: rho* = N(0, 5), so W2 = sqrt 5 - 1 = 1.236 and KL =
# (1/5 - 1 + log 5) / 2 = 0.4047 at step 0.  With 2000 particles and
# 2000 reference points the sampling sd is about 0.02 for W2 and 0.013
# for KL (the Gaussian fit's variance): tolerances 0.08 and 0.06.
R=$DIR/run
"$FPFLOW" run -o "$R" -q --set landscape=quadratic --set d=1 --set n=2000 \
  --set steps=12 --set w2_every=5 --set figure=false
check "run with w2_every exits 0" [ $? -eq 0 ]
OLD="step,t,eta,c,boost,h,loss_mean,C,log_C,C_vel,log_C_vel,S_dot,H_kde"
OLD="$OLD,H_knn,T_eff,T_gibbs,mu_rms,div_max,reset"
check "metrics.csv: the old columns first, then W2_star,KL_star" \
  [ "$(head -n 1 "$R/metrics.csv")" = "$OLD,W2_star,KL_star" ]
# fields 20 and 21 of rows 0..11: numbers on steps 0, 5, 10, nan elsewhere
ROWS=$(awk -F, 'NR > 1 {
    if ($1 % 5 == 0) ok = $20 != "nan" && $21 != "nan"
    else ok = $20 == "nan" && $21 == "nan"
    if (!ok) bad++
  } END { print bad + 0 }' "$R/metrics.csv")
check "W2_star and KL_star on every 5th step, nan elsewhere" [ "$ROWS" -eq 0 ]
W0=$(awk -F, 'NR == 2 { print $20 }' "$R/metrics.csv")
K0=$(awk -F, 'NR == 2 { print $21 }' "$R/metrics.csv")
check "W2_star at step 0 = sqrt 5 - 1 within 0.08 ($W0)" \
  near "$W0" 1.2360679775 0.08
check "KL_star at step 0 = 0.4047 within 0.06 ($K0)" near "$K0" 0.4047 0.06
# json_str FILE KEY WORD: FILE has "KEY": "WORD".
json_str() { grep -qE "\"$2\":[[:space:]]*\"$3\"" "$1"; }
check "summary.json: exact Gaussian reference, method exact" \
  eval 'json_str "$R/summary.json" sampler gaussian &&
    json_str "$R/summary.json" w2_method_used exact'

# the two wells need MALA; its acceptance goes to summary.json
T=$DIR/wells
"$FPFLOW" run -o "$T" -q --set steps=6 --set n=300 --set w2_every=3 \
  --set figure=false
ACC=$(grep -oE '"acceptance":[[:space:]]*[0-9.e-]+' "$T/summary.json" |
  grep -oE '[0-9.e-]+$')
check "two wells: MALA acceptance in summary.json in (0.3, 0.9) ($ACC)" \
  awk -v a="$ACC" 'BEGIN { exit !(a > 0.3 && a < 0.9) }'
check "two wells: KL_star finite (quadrature log Z in 2-D)" \
  awk -F, 'NR == 2 { exit !($21 != "nan" && $21 != "") }' "$T/metrics.csv"
"$FPFLOW" run -o "$T.1" -q --set steps=6 --set n=300 --set w2_every=3 \
  --set figure=false --threads 1
"$FPFLOW" run -o "$T.2" -q --set steps=6 --set n=300 --set w2_every=3 \
  --set figure=false --threads 2
check "W2_star and KL_star identical on 1 and 2 threads" \
  cmp -s "$T.1/metrics.csv" "$T.2/metrics.csv"

# bad configurations
"$FPFLOW" run -o "$DIR/bad" -q --set landscape=quadratic \
  --set quad_curvature=-1 --set w2_every=2 --set steps=3 \
  2>"$DIR/bad.err"
RC=$?
check "A not positive definite with w2_every: exit 2 naming it ($RC)" \
  eval '[ "$RC" -eq 2 ] && grep -qF "quad_curvature = -1" "$DIR/bad.err" &&
    grep -qF "not positive definite" "$DIR/bad.err"'
"$FPFLOW" run -o "$DIR/bad2" -q --set w2_method=emd 2>"$DIR/bad2.err"
RC=$?
check "unknown w2_method: exit 2 naming it" \
  eval '[ "$RC" -eq 2 ] && grep -qF "w2_method = '"'"'emd'"'"'" "$DIR/bad2.err"'

echo "cli_w2: $NPASS passed, $NFAIL failed"
[ "$NFAIL" -eq 0 ]

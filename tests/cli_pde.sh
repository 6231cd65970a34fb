#!/bin/bash
# fpflow pde end to end: the default 2-D run and its outputs, the
# resolved config repeating the run byte for byte, a 1-D run from a
# point, a run from particles that `fpflow run` wrote, identical results
# on 1 and 2 threads, bad input (exit 2, a message naming the key, file or
# value) and a run that becomes ill-posed part-way (exit 1, what was
# written is kept).  Prints a PASS or FAIL line per check; exits 1 if any
# failed.
# usage: bash cli_pde.sh /path/to/fpflow
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# pde NAME ARGS... and expect NAME CODE PATTERNS -- ARGS...: lib.sh's
# invoke and expect_exit for `fpflow pde`.
pde() { invoke pde "$@"; }
expect() { expect_exit pde "$@"; }


# column FILE NAME: the values of a metrics.csv column, one per line.
column() {
  awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++)
    if ($i == name) c = i; next } { print $c }' "$1"
}

# all_within FILE NAME REF TOL: every value of column NAME is within TOL
# of REF.
all_within() {
  column "$1" "$2" | awk -v r="$3" -v t="$4" \
    '{ d = $1 - r; if (d < 0) d = -d; if (d > t || $1 != $1 + 0) bad = 1 }
     END { exit bad }'
}

# npy_shape FILE SHAPE: a float64 .npy of that shape text, e.g. "(60, 60)".
npy_shape() {
  grep -aqF "'descr': '<f8'" "$1" && grep -aqF "'shape': $2" "$1"
}

json_status() {
  grep -qE "\"status\":[[:space:]]*\"$2\"" "$1"
}

is_png() {
  [ "$(head -c 4 "$1" | od -A n -t x1 | tr -d ' ')" = 89504e47 ]
}

# ---- the default 2-D run -------------------------------------------------

Q=$DIR/quick
pde quick -o "$Q" -q --set cells=60 --set t_end=0.2
check "default run exits 0" [ "$RC" -eq 0 ]
for f in config.ini metrics.csv summary.json grid_z1.npy grid_z2.npy \
  density_000.npy density_004.npy flux_004.npy figure.png; do
  check "default run writes $f" [ -s "$Q/$f" ]
done
check "default run: metrics.csv has header + 5 rows" \
  [ "$(lines "$Q/metrics.csv")" -eq 6 ]
check "default run: mass 1 at every output (to 1e-12)" \
  all_within "$Q/metrics.csv" mass 1 1e-12
check "default run: |mass drift| <= 1e-12" \
  all_within "$Q/metrics.csv" mass_drift 0 1e-12
check "default run: t = 0, 0.05, ..., 0.2" \
  [ "$(column "$Q/metrics.csv" t | awk '{ printf "%g ", $1 }')" = \
    "0 0.05 0.1 0.15 0.2 " ]
check "default run: density is (60, 60)" \
  npy_shape "$Q/density_004.npy" "(60, 60)"
check "default run: flux is (60, 60, 2)" \
  npy_shape "$Q/flux_004.npy" "(60, 60, 2)"
check "default run: summary.json says ok" json_status "$Q/summary.json" ok
check "default run: figure.png is a PNG" is_png "$Q/figure.png"
check "default run: -q prints nothing" \
  eval '[ ! -s "$DIR/quick.out" ] && [ ! -s "$DIR/quick.err" ]'

R=$DIR/rerun
pde rerun "$Q/config.ini" -o "$R" -q
check "re-run of config.ini exits 0" [ "$RC" -eq 0 ]
check "re-run reproduces density_004.npy byte for byte" \
  cmp "$Q/density_004.npy" "$R/density_004.npy"
check "re-run writes the same config.ini" cmp "$Q/config.ini" "$R/config.ini"

# ---- threads ------------------------------------------------------------

pde t1 -o "$DIR/t1" -q --set cells=140 --set t_end=0.05 --threads 1
pde t2 -o "$DIR/t2" -q --set cells=140 --set t_end=0.05 --threads 2
check "140 x 140: density identical on 1 and 2 threads" \
  cmp "$DIR/t1/density_004.npy" "$DIR/t2/density_004.npy"

# ---- 1-D from a point, and from particles --------------------------------

P=$DIR/point
pde point -o "$P" -q --set d=1 --set landscape=quadratic --set eta0=1 \
  --set D0=1 --set lambda=0 --set gamma=0 --set init=point \
  --set init_mean=1.05 --set t_end=1 --set times=0.5
check "1-D point start exits 0" [ "$RC" -eq 0 ]
check "1-D point start: outputs at t = 0.5 and 1" \
  [ "$(column "$P/metrics.csv" t | tr '\n' ' ')" = "0.5 1 " ]
check "1-D: density is (120,)" npy_shape "$P/density_001.npy" "(120,)"
check "1-D: figure.png is a PNG" is_png "$P/figure.png"
# OU from z0 = 1.05: mean 1.05 e^-1, variance 1 - e^-2 (first order in dt)
check "1-D point start: mean at t = 1 within 3e-3 of 1.05/e" \
  awk -v v="$(column "$P/metrics.csv" mean1 | tail -n 1)" \
  'BEGIN { d = v - 0.386273; exit !(d < 3e-3 && d > -3e-3) }'

if "$FPFLOW" run -o "$DIR/parts" -q --set steps=5 >/dev/null 2>&1; then
  pde parts -o "$DIR/pp" -q --set init="$DIR/parts/z_final.npy" \
    --set cells=60 --set t_end=0.1
  check "init from fpflow run's particles exits 0" [ "$RC" -eq 0 ]
  check "init from particles: mass 1" \
    all_within "$DIR/pp/metrics.csv" mass 1 1e-12
else
  fail "fpflow run (to make particles) failed"
fi

# ---- bad input: exit 2, the message names what is wrong -------------------

B=$DIR/bad
expect "unknown key via --set" 2 "unknown key 'etaa'" -- -o "$B" -q \
  --set etaa=1
printf '[run]\nt_end = 1\n\n[grid]\ncell = 5\n' >"$DIR/unknown.ini"
expect "unknown key in an INI file" 2 "$DIR/unknown.ini|line 5|cell" -- \
  "$DIR/unknown.ini" -o "$B" -q
printf '[nonsense]\nx = 1\n' >"$DIR/section.ini"
expect "unknown section" 2 "$DIR/section.ini|[nonsense]" -- \
  "$DIR/section.ini" -o "$B" -q
expect "missing config file" 2 "$DIR/missing.ini" -- "$DIR/missing.ini" \
  -o "$B" -q
expect "box of zero size" 2 "axis 1 is [1, 1]|zero or negative size" -- \
  -o "$B" -q --set lo=1 --set hi=1
expect "box of negative size along axis 2" 2 "axis 2 is [-6, -8]" -- \
  -o "$B" -q --set "hi=6, -8"
expect "dt = 0" 2 "dt = 0" -- -o "$B" -q --set dt=0
expect "dt < 0" 2 "dt = -0.5" -- -o "$B" -q --set dt=-0.5
expect "zero cells" 2 "cells along axis 1 = 0" -- -o "$B" -q --set cells=0
expect "negative cells" 2 "cells = '-4'" -- -o "$B" -q --set cells=-4
expect "d = 3" 2 "d = 3" -- -o "$B" -q --set d=3
expect "grid too coarse" 2 "too coarse|the well at z = |cells" -- -o "$B" -q \
  --set d=1 --set landscape=mixture --set mixture_k=1 \
  --set mixture_radius=1 --set mixture_width=0.05 --set eta0=1 --set D0=1
# curvature 4: 10 sqrt(c) cells per well, below 4 once c(t) = e^-2t < 0.16
expect "grid too coarse at a later output time" 2 "too coarse|t = 1.25" -- \
  -o "$B" -q --set d=1 --set landscape=quadratic --set quad_curvature=4 \
  --set eta0=1 --set D0=1 --set tau_D=0.5 --set t_end=5
expect "box not holding the initial density" 2 "does not hold" -- \
  -o "$B" -q --set init_mean=5.5
expect "times outside [0, t_end]" 2 "times = '0.5, 3'|outside" -- \
  -o "$B" -q --set "times=0.5, 3"
expect "times not increasing" 2 "must increase" -- -o "$B" -q \
  --set "times=0.5, 0.2"
expect "unknown flux" 2 "flux = 'upwind'" -- -o "$B" -q --set flux=upwind
expect "unknown init" 2 "init = 'uniform'" -- -o "$B" -q --set init=uniform
expect "missing init file" 2 "$DIR/none.npy" -- -o "$B" -q \
  --set init="$DIR/none.npy"
check "bad input writes nothing" [ ! -e "$B" ]

# ---- a failure while running: exit 1, outputs kept ------------------------

# lambda = 10 with D0 = 0.1: the source-form entropy term makes the
# effective diffusion negative where rho is large (D - eta lambda rho
# (1 + log rho) < 0), so the first step fails after the t = 0 output.
F=$DIR/fail
expect "ill-posed entropy term" 1 "anti-diffusive|lambda|kept" -- -o "$F" \
  -q --set d=1 --set landscape=quadratic --set eta0=1 --set D0=0.1 \
  --set lambda=10 --set init_std=0.3
check "failed run keeps density_000.npy" [ -s "$F/density_000.npy" ]
check "failed run: summary.json says failed" json_status "$F/summary.json" \
  failed
check "failed run: metrics.csv keeps the t = 0 row" \
  [ "$(lines "$F/metrics.csv")" -eq 2 ]

echo "$NPASS passed, $NFAIL failed"
[ "$NFAIL" -eq 0 ]

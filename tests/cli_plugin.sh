#!/usr/bin/env bash
# A landscape plugin (examples/plugin_quadratic.c) loaded by `fpflow run`
# gives the same run as the built-in quadratic, and its errors surface.
set -euo pipefail
cli="$1"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if "$@"; then echo "PASS: $*"; else echo "FAIL: $*"; fail=1; fi; }

cc -shared -fPIC -O2 -I"$src/include" "$src/examples/plugin_quadratic.c" \
  -o "$tmp/plugin.so"
common=(-q --set figure=false --set d=3 --set steps=15 --set n=200)
"$cli" run "${common[@]}" -o "$tmp/a" --set landscape=quadratic --set quad_curvature=2
"$cli" run "${common[@]}" -o "$tmp/b" --set landscape=plugin \
  --set plugin="$tmp/plugin.so" --set plugin_args=2
# the landscape column differs only in config.ini; metrics agree to 1e-12
check awk -F, 'NR==FNR { for (i = 1; i <= NF; i++) a[FNR, i] = $i; next }
  FNR > 1 { for (i = 7; i <= 12; i++) { d = a[FNR, i] - $i; if (d < 0) d = -d;
    s = a[FNR, i] < 0 ? -a[FNR, i] : a[FNR, i];
    if (d > 1e-12 * (s + 1e-300)) exit 1 } }' "$tmp/a/metrics.csv" "$tmp/b/metrics.csv"

set +e
"$cli" run "${common[@]}" -o "$tmp/c" --set landscape=plugin \
  --set plugin="$tmp/plugin.so" --set plugin_args=-1 2> "$tmp/err1"
rc=$?
"$cli" run "${common[@]}" -o "$tmp/d" --set landscape=plugin \
  --set plugin="$tmp/nothere.so" 2> "$tmp/err2"
rc2=$?
set -e
check test "$rc" -ne 0
check grep -q "curvature a = -1 must be > 0" "$tmp/err1"
check test "$rc2" -ne 0
check grep -q "nothere.so" "$tmp/err2"
exit $fail

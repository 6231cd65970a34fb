#!/usr/bin/env bash
# The kernels written on vectors as wide as the target's registers
# (exp, Box-Muller, small.c, the KDE's tiles) built for other targets
# than the host's and checked there: SSE2 alone (FPF_NATIVE=OFF, the
# portable build) and, where the host has it, AVX2 (x86-64-v3).
# Usage: bash build_targets.sh BUILD_DIR
set -euo pipefail
build="${1:?usage: bash build_targets.sh BUILD_DIR}"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tests=(test_rng test_small test_kde test_flow test_dyn)
fail=0
targets=(sse2)
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo &&
  targets+=(x86-64-v3)
for t in "${targets[@]}"; do
  dir="$build/target-$t"
  flags=()
  [ "$t" != sse2 ] && flags=(-DCMAKE_C_FLAGS="-march=$t")
  if ! cmake -S "$src" -B "$dir" -DFPF_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release \
      "${flags[@]}" >"$dir.log" 2>&1 ||
     ! cmake --build "$dir" -j 2 --target "${tests[@]}" >>"$dir.log" 2>&1; then
    echo "FAIL: build for $t (see $dir.log)"
    tail -20 "$dir.log"
    fail=1
    continue
  fi
  for x in "${tests[@]}"; do
    if "$dir/$x" >"$dir/$x.log" 2>&1; then
      echo "PASS: $x built for $t"
    else
      echo "FAIL: $x built for $t"
      tail -20 "$dir/$x.log"
      fail=1
    fi
  done
done
exit $fail

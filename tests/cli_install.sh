#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then build the quick-start
# example against it twice: with pkg-config and with find_package(fpflow).
set -euo pipefail
cli="$1"
build="$(dirname "$cli")"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if "$@"; then echo "PASS: $*"; else echo "FAIL: $*"; fail=1; fi; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir="$(dirname "$(find "$tmp/prefix" -name fpflow.pc)")"
check test -f "$libdir/../cmake/fpflow/fpflowConfig.cmake"
check test -x "$tmp/prefix/bin/fpflow"

# pkg-config
export PKG_CONFIG_PATH="$libdir"
# shellcheck disable=SC2046
cc "$src/examples/quickstart.c" $(pkg-config --cflags --libs fpflow) \
  -Wl,-rpath,"$libdir/.." -o "$tmp/qs_pc"
"$tmp/qs_pc" > "$tmp/out_pc.txt"
check grep -q "^step  90" "$tmp/out_pc.txt"

# CMake package
mkdir -p "$tmp/proj"
cat > "$tmp/proj/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(fpflow REQUIRED)
add_executable(qs "$src/examples/quickstart.c")
target_link_libraries(qs PRIVATE fpflow::fpflow)
CM
cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/proj/build" >/dev/null
"$tmp/proj/build/qs" > "$tmp/out_cm.txt"
check cmp "$tmp/out_pc.txt" "$tmp/out_cm.txt"
# the library's result equals the command line's for the same run
"$cli" run -q -o "$tmp/run" --set figure=false
awk -F, 'NR > 1 && ($1 % 10) == 0 { printf "%.4f\n", $8 }' "$tmp/run/metrics.csv" > "$tmp/c_cli.txt"
awk '{ print $5 }' "$tmp/out_pc.txt" > "$tmp/c_lib.txt"
check cmp "$tmp/c_cli.txt" "$tmp/c_lib.txt"
exit $fail

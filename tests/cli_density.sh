#!/usr/bin/env bash
# Tests of `fpflow density`: known answers of the Gaussian KDE on one and
# two particles, the files written, and the refusal of bad input with an
# exit code of 2 and a message naming the file or value.
#
# Inputs are written byte by byte with printf (no Python needed) and the
# outputs read back with od; the values agree to 1e-12 (relative), far
# above double rounding and far below any real error.
#
# usage: cli_density.sh PATH/TO/fpflow
set -u
FPFLOW=${1:?usage: cli_density.sh PATH/TO/fpflow}
case $FPFLOW in /*) ;; *) FPFLOW=$PWD/$FPFLOW ;; esac
work=$(mktemp -d "${TMPDIR:-/tmp}/fpf_cli_density.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

fails=0
fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}

# ---- .npy files from raw bytes ----------------------------------------

# The 8 bytes of a double given as 16 hex digits of its IEEE bits,
# little-endian.
le() {
  local h=$1 out='' i
  for ((i = 14; i >= 0; i -= 2)); do out+="\\x${h:i:2}"; done
  printf '%b' "$out"
}
ZERO=0000000000000000 ONE=3ff0000000000000 TWO=4000000000000000
NAN=7ff8000000000000

# npy FILE SHAPE HEX...: a version 1.0 C-order file of dtype $DESCR
# ('<f8' unless set).
npy() {
  local file=$1 shape=$2
  shift 2
  local dict="{'descr': '${DESCR:-<f8}', 'fortran_order': False, "
  dict+="'shape': $shape, }"
  local pad=$(((64 - (10 + ${#dict} + 1) % 64) % 64))
  local hlen=$((${#dict} + pad + 1))
  {
    printf '\x93NUMPY\x01\x00'
    printf '%b' "$(printf '\\x%02x\\x%02x' $((hlen & 255)) $((hlen >> 8)))"
    printf '%s%*s\n' "$dict" "$pad" ''
    local v
    for v; do le "$v"; done
  } >"$file"
}

# The values of a '<f8' .npy file, one a line.
values() {
  local hlen
  hlen=$(od --endian=little -A n -t u2 -j 8 -N 2 "$1" | tr -d ' ')
  od --endian=little -A n -v -t f8 -j $((10 + hlen)) "$1" |
    tr -s ' ' '\n' | sed '/^$/d'
}

# The header dict of a .npy file.
header() {
  local hlen
  hlen=$(od --endian=little -A n -t u2 -j 8 -N 2 "$1" | tr -d ' ')
  dd if="$1" bs=1 skip=10 count="$hlen" 2>/dev/null
}

# ---- checks ------------------------------------------------------------

run() {
  "$FPFLOW" density "$@" >out.txt 2>err.txt
  rc=$?
}

expect_rc() {
  [ "$rc" -eq "$1" ] || fail "$2: exit $rc, expected $1: $(cat err.txt)"
}

expect_msg() {
  grep -qF -- "$1" err.txt || fail "$2: message lacks '$1': $(cat err.txt)"
}

# expect_values WHAT FILE WANT...: the file holds these values.
expect_values() {
  local what=$1 file=$2
  shift 2
  if [ ! -f "$file" ]; then
    fail "$what: $file was not written"
    return
  fi
  local got
  got=$(values "$file" | tr '\n' ' ')
  awk -v got="$got" -v want="$*" 'BEGIN {
    n = split(got, g, " "); m = split(want, w, " ")
    if (n != m) exit 1
    for (i = 1; i <= n; i++) {
      d = g[i] - w[i]; if (d < 0) d = -d
      s = w[i] < 0 ? -w[i] : w[i]
      if (!(d <= 1e-12 * (1 + s))) exit 1
    }
  }' || fail "$what: $file holds [$got], expected [$*]"
}

expect_shape() {
  header "$2" | grep -qF "'shape': $3" ||
    fail "$1: $2 has header $(header "$2"), expected shape $3"
}

# awk arithmetic to 17 digits.
calc() { awk "BEGIN { pi = atan2(0, -1); printf \"%.17g\", $1 }"; }

# ---- known answers -----------------------------------------------------

# One particle at the origin in d = 3, evaluated at x = (1, 2, 2), h = 1.5:
# log rho = -|x|^2 / (2 h^2) - (3/2) log(2 pi h^2), score = -x / h^2.
npy one.npy '(1, 3)' $ZERO $ZERO $ZERO
npy x.npy '(1, 3)' $ONE $TWO $TWO
run one.npy --at x.npy --bandwidth 1.5
expect_rc 0 "one particle"
expect_msg "wrote density.log_rho.npy" "one particle"
expect_msg "h = 1.5" "one particle"
expect_values "one particle: log rho" density.log_rho.npy \
  "$(calc '-9 / (2 * 2.25) - 1.5 * log(2 * pi * 2.25)')"
expect_values "one particle: score" density.score.npy \
  "$(calc '-1 / 2.25')" "$(calc '-2 / 2.25')" "$(calc '-2 / 2.25')"
expect_shape "one particle" density.log_rho.npy '(1,)'
expect_shape "one particle" density.score.npy '(1, 3)'

# Two particles at (0, 0, 0) and (2, 0, 0), h = 1, at themselves.  Left
# out, each sees only the other: log rho = -2 - (3/2) log(2 pi) and the
# score points at the other.  Kept in, log rho = log((1 + e^-2) / 2)
# - (3/2) log(2 pi) and the score is 2 e^-2 / (1 + e^-2) along the axis.
npy two.npy '(2, 3)' $ZERO $ZERO $ZERO $TWO $ZERO $ZERO
run two.npy --leave-one-out --bandwidth 1 -o loo
expect_rc 0 "leave-one-out"
lr=$(calc '-2 - 1.5 * log(2 * pi)')
expect_values "leave-one-out: log rho" loo.log_rho.npy "$lr" "$lr"
expect_values "leave-one-out: score" loo.score.npy 2 0 0 -2 0 0
run two.npy --bandwidth 1 -o self -q
expect_rc 0 "self term"
[ -s err.txt ] && fail "-q: printed $(cat err.txt)"
lr=$(calc 'log((1 + exp(-2)) / 2) - 1.5 * log(2 * pi)')
s=$(calc '2 * exp(-2) / (1 + exp(-2))')
expect_values "self term: log rho" self.log_rho.npy "$lr" "$lr"
expect_values "self term: score" self.score.npy "$s" 0 0 "-$s" 0 0

# The default rule, median: h^2 = |z_1 - z_2|^2 / (2 log 3), into a new
# directory.
run two.npy -o sub/dir/med
expect_rc 0 "median"
expect_msg "(median)" "median"
expect_msg "h = $(awk 'BEGIN { printf "%.6g", sqrt(4 / (2 * log(3))) }')" \
  "median"
[ -f sub/dir/med.score.npy ] || fail "-o sub/dir/med: no sub/dir/med.score.npy"

# ---- usage -------------------------------------------------------------

run --help
expect_rc 0 "--help"
for opt in --at --bandwidth --leave-one-out -o --output -q -v --help \
  '[median]' '[density]'; do
  grep -qF -- "$opt" out.txt || fail "--help does not mention $opt"
done
run
expect_rc 2 "no arguments"
run one.npy --no-such-option
expect_rc 2 "unknown option"
expect_msg "--no-such-option" "unknown option"
run one.npy two.npy
expect_rc 2 "two ensembles"
run two.npy --leave-one-out --at x.npy
expect_rc 2 "--leave-one-out with --at"

# ---- bad input ---------------------------------------------------------

run missing.npy
expect_rc 2 "missing file"
expect_msg "missing.npy" "missing file"
expect_msg "No such file or directory" "missing file"

npy nan.npy '(2, 3)' $ZERO $ZERO $ZERO $ONE $ONE $NAN
run nan.npy --bandwidth 1
expect_rc 2 "NaN in the ensemble"
expect_msg "nan.npy: NaN at row 1, column 2" "NaN in the ensemble"
run two.npy --at nan.npy --bandwidth 1
expect_rc 2 "NaN in the points"
expect_msg "nan.npy: NaN at row 1, column 2" "NaN in the points"

for bad in -1 0 abc 1.5x inf fixed; do
  run two.npy --bandwidth "$bad"
  expect_rc 2 "--bandwidth $bad"
  expect_msg "'$bad'" "--bandwidth $bad"
  expect_msg "median, scott" "--bandwidth $bad"
done

npy x2.npy '(1, 2)' $ONE $TWO
run one.npy --at x2.npy --bandwidth 1
expect_rc 2 "dimension mismatch"
for s in x2.npy one.npy "d = 2" "d = 3"; do
  expect_msg "$s" "dimension mismatch"
done

npy flat.npy '(3,)' $ONE $TWO $ONE
run flat.npy
expect_rc 2 "rank 1"
expect_msg "flat.npy" "rank 1"
expect_msg "(3,)" "rank 1"

printf 'not numpy\n' >text.npy
run text.npy
expect_rc 2 "not a .npy file"
expect_msg "text.npy: not a .npy file" "not a .npy file"

DESCR='<c16' npy complex.npy '(1, 1)' $ZERO $ZERO
run complex.npy --bandwidth 1
expect_rc 2 "complex dtype"
expect_msg "complex.npy: dtype '<c16' (complex) is not supported" \
  "complex dtype"

# An output that cannot be written is a failure while running.
mkdir blocker.log_rho.npy && touch blocker.log_rho.npy/keep
run two.npy --bandwidth 1 -o blocker
expect_rc 1 "unwritable output"
expect_msg "blocker.log_rho.npy" "unwritable output"
ls blocker.log_rho.npy.tmp.* >/dev/null 2>&1 &&
  fail "unwritable output: a temporary file was left behind"

# A single particle has no median pairwise distance.
run one.npy
expect_rc 2 "median of one particle"
expect_msg "one.npy" "median of one particle"

if [ "$fails" -ne 0 ]; then
  echo "cli_density: $fails check(s) failed" >&2
  exit 1
fi
echo "cli_density: all checks passed"

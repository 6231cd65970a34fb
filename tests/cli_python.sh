#!/bin/bash
# The Python package's tests (python/tests, pytest) as one ctest test.
# They run with Debian's interpreter, /usr/bin/python3, which has the
# Debian packages python3-numpy, python3-pytest, python3-torch and
# python3-matplotlib; they use the libfpflow.so built beside the given
# fpflow command, and that command for the comparisons with the C runs.
#
# Exit: 0 when pytest passes; 1 when a test fails, when pytest stops
# (interrupted, internal or usage error) and when it collects no test
# (its exit code 5: a suite that ran nothing must not pass); 77 when
# /usr/bin/python3, NumPy or pytest is missing (ctest reports a skip if
# the test has SKIP_RETURN_CODE 77, a failure otherwise).
# usage: bash cli_python.sh /path/to/fpflow
set -u
FPFLOW=${1:?usage: cli_python.sh /path/to/fpflow}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${FPFLOW_PYTHON:-/usr/bin/python3}
LIB=$(dirname "$FPFLOW")/libfpflow.so

if [ ! -x "$PY" ]; then
  echo "SKIP: $PY not found; install the Debian package python3"
  exit 77
fi
if ! "$PY" -c 'import numpy, pytest' 2>/dev/null; then
  echo "SKIP: $PY lacks NumPy or pytest; install the Debian packages" \
    "python3-numpy and python3-pytest"
  exit 77
fi
if [ ! -f "$LIB" ]; then
  echo "FAIL: no libfpflow.so beside $FPFLOW"
  exit 1
fi

# No .pytest_cache or __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1
export FPFLOW_LIB="$LIB" FPFLOW_CLI="$FPFLOW"
cd "$ROOT/python" || exit 1
"$PY" -m pytest -q -p no:cacheprovider tests
rc=$?
case $rc in
  0) exit 0 ;;
  1) echo "FAIL: some Python tests failed" ;;
  5) echo "FAIL: pytest collected no tests in $ROOT/python/tests" ;;
  *) echo "FAIL: pytest stopped with exit code $rc" ;;
esac
exit 1

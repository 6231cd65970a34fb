#!/bin/bash
# Installs the fpflow Python package for Debian's /usr/bin/python3: copies
# python/fpflow into the interpreter's directory for locally installed
# packages (/usr/local/lib/python3.X/dist-packages), or into SITE_DIR.
# The package finds libfpflow through the system's loader, so install the
# C library first (cmake --install build && ldconfig), or point
# FPFLOW_LIB at a libfpflow.so.  Checks the result by importing fpflow
# from another directory.
# usage: bash python/install.sh [SITE_DIR]        (as root for /usr/local)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=${FPFLOW_PYTHON:-/usr/bin/python3}

if [ ! -x "$PY" ]; then
  echo "fpflow: $PY not found; install the Debian package python3" >&2
  exit 2
fi
if [ $# -ge 1 ]; then
  site=$1
else
  site=$("$PY" -c 'import site
print(next(p for p in site.getsitepackages() if p.startswith("/usr/local")))')
fi
mkdir -p "$site"
if [ ! -w "$site" ]; then
  echo "fpflow: cannot write $site; run as root, or use the tree as it" \
    "is: export PYTHONPATH=$root/python" >&2
  exit 2
fi
rm -rf "$site/fpflow.tmp"
mkdir "$site/fpflow.tmp"
cp "$root"/python/fpflow/*.py "$site/fpflow.tmp/"
rm -rf "$site/fpflow"
mv "$site/fpflow.tmp" "$site/fpflow"
"$PY" -m compileall -q "$site/fpflow" >/dev/null || true

# Import it from elsewhere, so that the tree's python/ is not what loads.
if ! out=$(cd / && PYTHONPATH="$site" "$PY" -c \
    'import fpflow; print(fpflow.__version__, fpflow.lib_path)' 2>&1); then
  echo "fpflow: installed to $site/fpflow, but it does not import:" >&2
  echo "$out" >&2
  exit 1
fi
echo "fpflow: Python package in $site/fpflow (fpflow $out)"

#!/usr/bin/env bash
# fpflow's first command: install what is missing, build, install to
# /usr/local, and run the default job (the source document's two-well
# quick start) into out/quickstart.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

fpf_install_deps
fpf_build "$root"
if [ "$(id -u)" -eq 0 ]; then
  cmake --install "$root/build" >/dev/null
  ldconfig
  bash "$root/python/install.sh" >/dev/null
  fpflow=fpflow
else
  export PYTHONPATH="$root/python" FPFLOW_LIB="$root/build/libfpflow.so"
  fpflow="$root/build/fpflow"
fi
"$fpflow" run -o "$root/out/quickstart"
echo
echo "fpflow: the figure is $root/out/quickstart/figure.png"
echo "fpflow: metrics per step in $root/out/quickstart/metrics.csv"

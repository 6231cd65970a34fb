#!/usr/bin/env bash
# fpflow's second command: install what is missing, build, run every test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/deps.sh
. "$root/scripts/deps.sh"

fpf_install_deps
fpf_build "$root"
cd "$root/build"
ctest --output-on-failure -j 2

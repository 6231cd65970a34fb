#!/usr/bin/env bash
# Installs fpflow's build and test dependencies from Debian's packages.
# Sourced by setup.sh and test.sh; does nothing when all are present.
set -euo pipefail

FPF_PACKAGES=(
  gcc make cmake pkg-config
  libopenblas-dev liblapacke-dev   # BLAS/LAPACK (OpenBLAS) and LAPACKE
  librandom123-dev                 # Philox counter-based generator
  libplplot-dev plplot-driver-cairo fonts-dejavu-core  # PNG figures
  libinih-dev                      # INI configuration files
  libcjson-dev                     # summary.json and transitions.json
  libcsv-dev                       # reading metrics.csv
  libcmocka-dev                    # C unit tests
  libhdf5-dev                      # reading HDF5 snapshots
  libfftw3-dev                     # the binned (FFT) KDE in d <= 3
  python3 python3-numpy            # the Python package and examples
  python3-pytest python3-matplotlib python3-torch dataset-fashion-mnist
)

fpf_install_deps() {
  local missing=()
  for p in "${FPF_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "fpflow: missing Debian packages: ${missing[*]}" >&2
    echo "fpflow: run this script as root, or: sudo apt-get install ${missing[*]}" >&2
    return 1
  fi
  echo "fpflow: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Configures and builds into build/ (Release, -march=native).
fpf_build() {
  local root="$1"
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" -j "$(nproc)"
}

#!/usr/bin/env bash
# The grokking example: train a small network on (a + b) mod p with
# weight decay, save probe latents and gradients every 25 steps, analyse
# them with `fpflow analyze` in both modes and compare the transitions
# with the step where validation accuracy jumped.
#
# usage: bash run.sh [--short] [OUT]        (OUT: default out/modadd)
#   --short   a 150-step schedule (a few seconds; the test suite's run)
# fpflow is $FPFLOW, else this tree's build/fpflow, else the one on PATH.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
short=0
if [ "${1:-}" = --short ]; then
  short=1
  shift
fi
out=${1:-out/modadd}
if [ -n "${FPFLOW:-}" ]; then fpflow=$FPFLOW
elif [ -x "$here/../../build/fpflow" ]; then fpflow="$here/../../build/fpflow"
else fpflow=$(command -v fpflow); fi
# Debian's NumPy (python3-numpy), whatever python3 comes first on PATH.
py=/usr/bin/python3
# One BLAS thread: the matrices are small, and the machine may be shared.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

if [ "$short" = 1 ]; then
  train=(--steps 150 --every 15 --probes 64)
else
  train=(--steps 1500 --every 25 --probes 256)
fi
mkdir -p "$out"
echo "training into $out (${train[*]})" >&2
"$py" "$here/train.py" "$out" "${train[@]}"

# Model mode: drift and diffusion from the per-sample gradients.
"$fpflow" analyze "$out/z" --grads "$out/g" --loss "$out/loss.npy" \
  -o "$out/model"
# Trajectory mode: Kramers-Moyal from the motion of the latents alone.
"$fpflow" analyze "$out/z" --loss "$out/loss.npy" -o "$out/trajectory"

"$py" "$here/report.py" "$out" | tee "$out/report.txt"
echo "figures: $out/model/figure.png $out/trajectory/figure.png" >&2

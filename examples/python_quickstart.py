#!/usr/bin/python3
"""The source document's 2-D quick start in Python, on fpflow's C engine.

Two Gaussian wells, 500 particles drawn from N(0, I), 100 steps of
dt = 0.01 with eta0 = 0.1 and D0 = 0.5 (the other options are the
source's defaults), seed 42: the same run as `fpflow run`, number for
number.  Saves a figure with the source's three panels (initial and final
distribution, C(t) with the threshold) and the metrics per step.

  /usr/bin/python3 examples/python_quickstart.py [-o DIR]
"""

import argparse
import os
import sys

import numpy as np


def import_fpflow():
    """fpflow, installed or from this source tree (python/ beside
    examples/)."""
    try:
        import fpflow
    except ImportError:
        sys.path.insert(0, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "..", "python"))
        import fpflow
    return fpflow


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--out", default="out/python_quickstart",
                   help="output directory (default %(default)s)")
    args = p.parse_args(argv)
    fpflow = import_fpflow()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # The loss landscape: L = -logaddexp(-w1, -w2) (built in; a Python
    # function z -> (L, grad L) works too, see docs/python.md).
    fpe = fpflow.FokkerPlanckDynamics(loss_fn=fpflow.two_wells(),
                                      latent_dim=2, eta_0=0.1, D_0=0.5,
                                      seed=42)
    z_init = fpflow.normal_ensemble(500, 2, seed=42)
    z_final, metrics = fpe.train_epoch(z_init, n_steps=100, dt=0.01)

    os.makedirs(args.out, exist_ok=True)
    names = [k for k in fpflow.METRIC_NAMES]
    table = np.column_stack([np.asarray(metrics[k], dtype=float)
                             for k in names])
    np.savetxt(os.path.join(args.out, "metrics.csv"), table, delimiter=",",
               header=",".join(names), comments="", fmt="%.17g")
    np.save(os.path.join(args.out, "z_final.npy"), z_final)

    plt.figure(figsize=(12, 4))
    plt.subplot(131)
    plt.scatter(z_init[:, 0], z_init[:, 1], alpha=0.5, s=8)
    plt.title("Initial Distribution")
    plt.subplot(132)
    plt.scatter(z_final[:, 0], z_final[:, 1], alpha=0.5, s=8)
    plt.title("Final Distribution")
    plt.subplot(133)
    plt.plot(metrics["C"], label="C")
    plt.plot(metrics["C_vel"], label="C_vel")
    plt.axhline(y=0.5, color="r", linestyle="--",
                label="Transition threshold")
    for s in metrics["transitions"]:
        plt.axvline(s, color="k", lw=0.8)
    plt.xlabel("Step")
    plt.ylabel("Consolidation Ratio C(t)")
    plt.legend()
    plt.tight_layout()
    fig = os.path.join(args.out, "figure.png")
    plt.savefig(fig)

    print("Detected %d phase transitions" % len(metrics["transitions"]))
    print("Final consolidation ratio: %.3f" % metrics["C"][-1])
    print("figure: %s" % fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())

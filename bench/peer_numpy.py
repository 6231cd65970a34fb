#!/usr/bin/python3
"""One fpflow step written as plain NumPy, the peer `fpflow bench` times.

The step is fpflow's (docs/model.md) on L(z) = |z|^2/2, so grad L = z:
Gaussian KDE at the particles (self term included) with the score, the
source's entropy gradient g = -rho s (1 + log rho), the drift
mu = -eta (z + lambda g), F = z^T z / N, D = c (I + gamma F), its Cholesky
factor, the Euler-Maruyama update, and the metrics log C, S_dot and the
mean log density.  Products with rho are formed from log rho, as fpflow
does, because rho underflows at d = 1024.

Usage: peer_numpy.py Z.npy H [--dtype float32] [--reps 7] [--warmup 2]
Prints one JSON line: timings in seconds and the metrics of the step.
Threads: set OPENBLAS_NUM_THREADS before starting the interpreter.
"""
import argparse
import json
import math
import statistics
import sys
import time

import numpy as np

ETA, LAM, C, GAMMA, DT = 0.01, 0.001, 1.0, 0.05, 0.01


def rho_times(log_rho, x):
    """rho_i x_i for each row i, as exp(log rho_i + log|x_i|) x_i / |x_i|:
    one exponential a row, and right when rho alone under- or overflows
    (a zero row stays zero)."""
    norm = np.sqrt(np.einsum("ij,ij->i", x, x)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(norm > 0,
                         np.exp(log_rho.astype(np.float64) + np.log(norm))
                         / norm, 0.0)
    return x * scale.astype(x.dtype)[:, None]


def rowdot(a, b):
    """Row-wise dot products, summed in a's precision, returned in double."""
    return np.einsum("ij,ij->i", a, b).astype(np.float64)


def step(z, xi, h):
    """One step; in-place where a new array would only be thrown away
    (each large temporary costs fresh pages)."""
    n, d = z.shape
    f = z.dtype.type
    inv_h2 = f(1.0 / (h * h))
    # squared distances from the Gram matrix; the self term makes the row
    # maximum of -|zi - zj|^2 / 2h^2 exactly 0, so exp needs no shift
    half_sq = 0.5 * np.einsum("ij,ij->i", z, z)
    e = z @ z.T
    e -= half_sq[:, None]
    e -= half_sq[None, :]
    np.minimum(e, 0, out=e)
    np.fill_diagonal(e, 0)
    e *= inv_h2
    np.exp(e, out=e)
    rowsum = e.sum(axis=1)
    norm = math.log(n) + 0.5 * d * math.log(2 * math.pi * h * h)
    log_rho = np.log(rowsum) - f(norm)
    e /= rowsum[:, None]
    score = e @ z
    del e
    score -= z
    score *= inv_h2
    # mu = -eta (z + lambda g), g = -rho s (1 + log rho)
    coef = ETA * LAM * (1 + log_rho.astype(np.float64))
    mu = rho_times(log_rho, score)
    mu *= coef.astype(z.dtype)[:, None]
    mu -= f(ETA) * z
    dmat = z.T @ z
    dmat *= f(C * GAMMA / n)
    dmat[np.diag_indices(d)] += f(C)
    chol = np.linalg.cholesky(dmat)
    z_new = xi @ chol.T
    z_new *= f(math.sqrt(2 * DT))
    z_new += f(DT) * mu
    z_new += z
    ds = score @ dmat
    mu2 = float(rowdot(mu, mu).sum())
    with np.errstate(divide="ignore"):
        a = 2 * log_rho.astype(np.float64) + np.log(rowdot(ds, ds))
    top = a.max()
    log_dgr = 0.5 * (top + math.log(np.exp(a - top).sum()))
    ds -= mu
    s_dot = -float(np.mean(rowdot(ds, score)))
    metrics = dict(log_C=0.5 * math.log(mu2) - log_dgr, S_dot=s_dot,
                   log_rho_mean=float(np.mean(log_rho, dtype=np.float64)))
    return z_new, metrics


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("z")
    ap.add_argument("h", type=float)
    ap.add_argument("--dtype", default="float64",
                    choices=["float64", "float32"])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    z = np.load(args.z).astype(args.dtype)
    rng = np.random.default_rng(7)
    times, metrics = [], None
    for k in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        xi = rng.standard_normal(z.shape, dtype=z.dtype)
        _, m = step(z, xi, args.h)
        t = time.perf_counter() - t0
        if k == 0:
            metrics = m
        if k >= args.warmup:
            times.append(t)
    json.dump(dict(peer="numpy", version=np.__version__,
                   median_s=statistics.median(times), min_s=min(times),
                   max_s=max(times), reps=len(times), times_s=times,
                   **metrics), sys.stdout)
    print()


if __name__ == "__main__":
    main()

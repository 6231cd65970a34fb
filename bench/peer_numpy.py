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
    """rho * x for each row, through logarithms (0 stays 0)."""
    with np.errstate(divide="ignore"):
        return np.sign(x) * np.exp(log_rho[:, None] + np.log(np.abs(x)))


def step(z, xi, h):
    n, d = z.shape
    f = z.dtype.type
    # squared distances from the Gram matrix; the self term makes the row
    # maximum of -|zi - zj|^2 / 2h^2 exactly 0, so exp needs no shift
    half_sq = 0.5 * np.einsum("ij,ij->i", z, z)
    e = z @ z.T
    e -= half_sq[:, None]
    e -= half_sq[None, :]
    np.minimum(e, 0, out=e)
    np.fill_diagonal(e, 0)
    e *= f(1.0 / (h * h))
    np.exp(e, out=e)
    rowsum = e.sum(axis=1)
    norm = math.log(n) + 0.5 * d * math.log(2 * math.pi * h * h)
    log_rho = np.log(rowsum) - f(norm)
    e /= rowsum[:, None]
    score = (e @ z - z) / f(h * h)
    del e
    grad_rho = rho_times(log_rho, score)
    g = -grad_rho * (1 + log_rho)[:, None]
    mu = -f(ETA) * (z + f(LAM) * g)
    fisher = z.T @ z / f(n)
    dmat = f(C) * (np.eye(d, dtype=z.dtype) + f(GAMMA) * fisher)
    chol = np.linalg.cholesky(dmat)
    z_new = z + mu * f(DT) + f(math.sqrt(2 * DT)) * (xi @ chol.T)
    ds = score @ dmat
    mu2 = float(np.sum(mu.astype(np.float64) ** 2))
    with np.errstate(divide="ignore"):
        ds2 = np.sum(ds.astype(np.float64) ** 2, axis=1)
        a = 2 * log_rho.astype(np.float64) + np.log(ds2)
    top = a.max()
    log_dgr = 0.5 * (top + math.log(np.exp(a - top).sum()))
    s_dot = float(np.mean(np.sum((mu - ds).astype(np.float64) * score, axis=1)))
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

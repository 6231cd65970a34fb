#!/usr/bin/python3
"""One fpflow step written as plain PyTorch (CPU), the peer `fpflow bench`
times.  The same mathematics as peer_numpy.py: see its docstring.

Usage: peer_torch.py Z.npy H [--dtype float32] [--threads T] [--reps 7]
Prints one JSON line: timings in seconds and the metrics of the step.
"""
import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch

ETA, LAM, C, GAMMA, DT = 0.01, 0.001, 1.0, 0.05, 0.01


@torch.no_grad()
def step(z, xi, h):
    """One step; in-place where a new tensor would only be thrown away
    (each large temporary costs fresh pages)."""
    n, d = z.shape
    inv_h2 = 1.0 / (h * h)
    half_sq = 0.5 * (z * z).sum(dim=1)
    e = z @ z.T
    e -= half_sq[:, None]
    e -= half_sq[None, :]
    e.clamp_(max=0)
    e.fill_diagonal_(0)
    e.mul_(inv_h2).exp_()
    rowsum = e.sum(dim=1)
    norm = math.log(n) + 0.5 * d * math.log(2 * math.pi * h * h)
    log_rho = rowsum.log() - norm
    e /= rowsum[:, None]
    score = e @ z
    del e
    score -= z
    score *= inv_h2
    # mu = -eta (z + lambda g), g = -rho s (1 + log rho), with rho_i s_i =
    # exp(log rho_i + log|s_i|) s_i/|s_i| (rho underflows at high d)
    snorm = torch.linalg.vector_norm(score, dim=1).double()
    coef = torch.where(snorm > 0,
                       torch.exp(log_rho.double() + snorm.log()) / snorm,
                       torch.zeros_like(snorm))
    coef *= ETA * LAM * (1 + log_rho.double())
    mu = score * coef.to(z.dtype)[:, None]
    mu.sub_(z, alpha=ETA)
    dmat = z.T @ z
    dmat *= C * GAMMA / n
    dmat.diagonal().add_(C)
    chol = torch.linalg.cholesky(dmat)
    z_new = xi @ chol.T
    z_new *= math.sqrt(2 * DT)
    z_new.add_(mu, alpha=DT)
    z_new += z
    ds = score @ dmat
    # row sums in the working precision, the rest in double
    mu2 = float((mu * mu).sum(dim=1).double().sum())
    a = 2 * log_rho.double() + (ds * ds).sum(dim=1).double().log()
    log_dgr = 0.5 * float(torch.logsumexp(a, dim=0))
    ds -= mu
    s_dot = -float((ds * score).sum(dim=1).double().mean())
    metrics = dict(log_C=0.5 * math.log(mu2) - log_dgr, S_dot=s_dot,
                   log_rho_mean=float(log_rho.double().mean()))
    return z_new, metrics


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("z")
    ap.add_argument("h", type=float)
    ap.add_argument("--dtype", default="float64",
                    choices=["float64", "float32"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    z = torch.from_numpy(np.load(args.z)).to(dtype)
    gen = torch.Generator().manual_seed(7)
    times, metrics = [], None
    for k in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        xi = torch.randn(z.shape, dtype=dtype, generator=gen)
        _, m = step(z, xi, args.h)
        t = time.perf_counter() - t0
        if k == 0:
            metrics = m
        if k >= args.warmup:
            times.append(t)
    json.dump(dict(peer="torch", version=torch.__version__,
                   median_s=statistics.median(times), min_s=min(times),
                   max_s=max(times), reps=len(times), times_s=times,
                   **metrics), sys.stdout)
    print()


if __name__ == "__main__":
    main()

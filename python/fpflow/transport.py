"""Wasserstein-2 distances between ensembles (transport.h).

  W2(a, b)^2 = min over couplings pi of sum_ij pi_ij |a_i - b_j|^2

in units of z^2 (W2 itself has the units of z), for weighted clouds a
(n_a, d) and b (n_b, d).  Methods: "exact" (an optimal assignment for
equal, uniform clouds, else a min-cost flow), "sinkhorn" (the debiased
Sinkhorn divergence, log domain, epsilon scaling; -> W2^2 as epsilon ->
0), "bures" (closed form between the Gaussian fits), "sliced" (the mean
over random directions of the 1-D W2^2: a different, smaller distance)
and "auto" (exact, then Sinkhorn, then sliced as the clouds grow).

This part of the API needs a libfpflow built with the transport module;
with an older library, w2() raises UnavailableError saying so.
"""

import ctypes

from . import _arrays, _lib

__all__ = ["w2", "transport_available"]

_SYMBOL = "fpf_w2_distance"
_OPTS = ("exact_max", "flow_max", "sinkhorn_max", "epsilon", "blur",
         "eps_scaling", "tol", "stage_tol", "max_iter", "projections",
         "seed")


def transport_available():
    """True when the loaded libfpflow has the transport module."""
    return _lib.has(_SYMBOL)


def _cloud(x, w, name, d=None):
    x = _arrays.as_input(x, name, (None, d))
    wa = None
    if w is not None:
        wa = _arrays.as_input(w, name + " weights", (x.shape[0],))
    c = _lib.fpf_cloud(x=_arrays.ptr(x), n=x.shape[0], d=x.shape[1],
                       w=_arrays.ptr(wa), name=name.encode())
    return c, (x, wa)


def w2(a, b, method="auto", weights_a=None, weights_b=None, full=False,
       **options):
    """W2 between the clouds a (n_a, d) and b (n_b, d), in units of z.

    weights_*: non-negative weights (only their ratios matter), default
    uniform.  options: exact_max, flow_max, sinkhorn_max (auto's limits),
    epsilon, blur, eps_scaling, tol, stage_tol, max_iter (Sinkhorn),
    projections, seed (sliced).  With full=True, returns a dict: w2, w2sq,
    method (the one used), converged, iterations, epsilon,
    marginal_error.  Clouds of different dimension, NaN or Inf points
    and bad weights raise the library's error, which names the cloud.
    """
    _lib.require(_SYMBOL, "fpflow.w2")
    _lib.check_options_layout("fpf_w2_options_init", _lib.fpf_w2_options,
                              "fpflow.w2")
    if method not in _lib.W2_METHODS:
        raise ValueError("w2: method %r: expected one of %s" %
                         (method, ", ".join(_lib.W2_METHODS)))
    ca, keep_a = _cloud(a, weights_a, "a")
    cb, keep_b = _cloud(b, weights_b, "b")
    o = _lib.fpf_w2_options()
    _lib.fn.fpf_w2_options_init(ctypes.byref(o))
    o.method = _lib.W2_METHODS[method]
    for k, v in options.items():
        if k not in _OPTS:
            raise TypeError("w2: unknown option %r; the options are: %s" %
                            (k, ", ".join(_OPTS)))
        ctype = dict(o._fields_)[k]
        setattr(o, k, float(v) if ctype is ctypes.c_double else int(v))
    r = _lib.fpf_w2_result()
    err = _lib.fpf_error()
    _lib.check(_lib.fn.fpf_w2_distance(ctypes.byref(ca), ctypes.byref(cb),
                                       ctypes.byref(o), ctypes.byref(r),
                                       ctypes.byref(err)), err)
    del keep_a, keep_b
    if not full:
        return r.w2
    rev = {v: k for k, v in _lib.W2_METHODS.items()}
    return {"w2": r.w2, "w2sq": r.w2sq, "method": rev.get(r.method),
            "converged": bool(r.converged), "iterations": r.iterations,
            "epsilon": r.epsilon, "marginal_error": r.marginal_error}

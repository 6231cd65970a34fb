"""The flow at one instant (flow.h): from an ensemble z (n, d) and the
loss gradients at its particles (or a given drift and diffusion), the
density, score, drift, diffusion matrix and the observables:

  mu_i    = -eta (grad L_i + lambda g_i)        drift (z per unit time)
  F       = (1/n) sum_i grad L_i grad L_i^T     Fisher matrix
  D       = c (I + gamma F) + boost I           diffusion (z^2 per time)
  C       = ||mu||_F / ||D grad rho||_F         consolidation ratio
  C_vel   = ||mu||_F / ||D s||_F                drift over diffusion
                                                velocity (dimensionless)
  J_i     = rho_i (mu_i - D s_i)                probability flux
  S_dot   = mean_i (mu_i - D s_i) . s_i         entropy production
                                                (nats per unit time)
This is what a training monitor applies to snapshots of real latents.
"""

import ctypes

import numpy as np

from . import _arrays, _lib
from .dynamics import METRIC_NAMES

__all__ = ["Flow", "flow_compute"]


class Flow:
    """A reusable workspace for up to n_max particles in R^d.

    Flow(n_max, d, knn_k=3, leave_one_out=False, flux_divergence=False,
         cholesky=False, single_precision=False, kde_method="auto")

    single_precision does the O(n^2 d) products in float when d > 8 and
    the O(n d^2) ones when d > 32 (about twice as fast; relative accuracy
    ~1e-6).
    """

    def __init__(self, n_max, d, knn_k=3, leave_one_out=False,
                 flux_divergence=False, cholesky=False,
                 single_precision=False, kde_method="auto"):
        o = _lib.fpf_flow_options()
        _lib.fn.fpf_flow_options_init(ctypes.byref(o))
        o.knn_k = int(knn_k)
        o.leave_one_out = 1 if leave_one_out else 0
        o.flux_divergence = 1 if flux_divergence else 0
        o.cholesky = 1 if cholesky else 0
        o.single_precision = 1 if single_precision else 0
        if kde_method not in _lib.KDE_METHODS:
            raise ValueError("kde_method %r: expected one of %s" % (
                kde_method, ", ".join(_lib.KDE_METHODS)))
        o.kde_method = _lib.KDE_METHODS[kde_method]
        self._o = o
        self.n_max, self.d = int(n_max), int(d)
        h = ctypes.c_void_p()
        err = _lib.fpf_error()
        _lib.check(_lib.fn.fpf_flow_create(ctypes.byref(h), self.n_max,
                                           self.d, ctypes.byref(o),
                                           ctypes.byref(err)), err)
        self._h = h
        self._n = 0

    def close(self):
        h, self._h = getattr(self, "_h", None), None
        if h is not None and h.value and _lib is not None:
            _lib.fn.fpf_flow_destroy(h)

    __del__ = close

    def bandwidth(self, z, rule="median", h=0.1):
        """The bandwidth of `rule` for z, computed in this workspace."""
        z = _arrays.as_input(z, "z", (None, self.d))
        out = ctypes.c_double()
        err = _lib.fpf_error()
        st = _lib.fn.fpf_flow_bandwidth(
            self._h, _arrays.ptr(z), z.shape[0],
            _lib.BANDWIDTH_RULES[rule], float(h), ctypes.byref(out),
            ctypes.byref(err))
        _lib.check(st, err)
        return out.value

    def compute(self, z, grad=None, loss=None, drift=None, diffusion=None,
                *, eta=1.0, lambda_reg=0.001, c=1.0, boost=0.0, gamma=0.05,
                h="median", entropy_form="source", arrays=False):
        """Observables of the ensemble z (n, d).

        grad (n, d): loss gradients at the particles (gives mu and F);
        loss (n,): their losses (for loss_mean); drift (n, d) and
        diffusion (d, d) replace mu and D when given.  h is a bandwidth or
        a rule name.  Returns a dict of the metrics (floats; step and t are
        0); with arrays=True it also holds log_density, score, drift, flux,
        diffusion, fisher and divergence (when computed).
        """
        z = _arrays.as_input(z, "z", (None, self.d))
        n, d = z.shape
        _arrays.check_finite(z, "z")
        ins = {}
        for name, a, shape in (("grad", grad, (n, d)), ("loss", loss, (n,)),
                               ("drift", drift, (n, d)),
                               ("diffusion", diffusion, (d, d))):
            if a is not None:
                a = _arrays.as_input(a, name, shape)
                _arrays.check_finite(a, name)
            ins[name] = a
        if isinstance(h, str):
            h = self.bandwidth(z, h)
        inp = _lib.fpf_flow_input(z=_arrays.ptr(z), n=n,
                                  **{k: _arrays.ptr(v) for k, v in
                                     ins.items()})
        p = _lib.fpf_flow_params(eta=eta, c=c, boost=boost, gamma=gamma,
                                 h=h, entropy_form=_lib.ENTROPY_FORMS[
                                     entropy_form])
        setattr(p, "lambda", lambda_reg)
        m = _lib.fpf_metrics()
        err = _lib.fpf_error()
        _lib.check(_lib.fn.fpf_flow_compute(self._h, ctypes.byref(inp),
                                            ctypes.byref(p), ctypes.byref(m),
                                            ctypes.byref(err)), err)
        self._n = n
        out = {f: getattr(m, f) for f in METRIC_NAMES}
        out["reset"] = bool(out["reset"])
        if arrays:
            g = _lib.fn
            cp = _arrays.copy_from
            out.update(
                log_density=cp(g.fpf_flow_log_density(self._h), (n,)),
                score=cp(g.fpf_flow_score(self._h), (n, d)),
                drift=cp(g.fpf_flow_drift(self._h), (n, d)),
                flux=cp(g.fpf_flow_flux(self._h), (n, d)),
                diffusion=cp(g.fpf_flow_diffusion(self._h), (d, d)),
                fisher=cp(g.fpf_flow_fisher(self._h), (d, d)))
            div = g.fpf_flow_divergence(self._h)
            out["divergence"] = cp(div, (n,)) if (
                div and self._o.flux_divergence) else None
        return out


def flow_compute(z, grad=None, loss=None, drift=None, diffusion=None,
                 **kw):
    """One-shot Flow(n, d).compute(...); see Flow.compute.  Keywords
    knn_k and flux_divergence go to the workspace."""
    z = np.asarray(z) if not hasattr(z, "shape") else z
    wk = {k: kw.pop(k) for k in ("knn_k", "flux_divergence",
                                 "leave_one_out", "single_precision",
                                 "kde_method")
          if k in kw}
    f = Flow(z.shape[0], z.shape[1], **wk)
    try:
        return f.compute(z, grad, loss, drift, diffusion, **kw)
    finally:
        f.close()

"""Monitoring real training (monitor.h): the flow's observables on
snapshots of the latents of a fixed probe set (N samples x d features),
fed one snapshot at a time.

Two ways to get the drift and the diffusion:
  "model"       from each probe sample's loss gradient with respect to its
                latent: mu = -eta (grad L + lambda g), D = c (I + gamma F);
  "trajectory"  Kramers-Moyal from consecutive snapshots:
                mu_i = (z_i(t1) - z_i(t0)) / (t1 - t0) (latent units per
                training step) and D = Cov_i(residual) / (2 (t1 - t0)), the
                residual being each displacement minus the mean one.
The monitor keeps the previous snapshot and the metrics history only.

This part of the API needs a libfpflow built with the monitor; with an
older library, Monitor() raises UnavailableError saying so.
"""

import ctypes

import numpy as np

from . import _arrays, _lib
from .dynamics import METRICS_DTYPE, METRIC_NAMES, metrics_dict

__all__ = ["Monitor", "monitor_available"]

_MODES = {"model": 0, "trajectory": 1}
_DETECT = ("drop_factor", "spike_factor", "window", "plateau_tol",
           "plateau_relative", "tolerance", "use_log")


def monitor_available():
    """True when the loaded libfpflow has the monitor."""
    return _lib.has("fpf_monitor_push")


class Monitor:
    """Monitor(n, d, mode="model", *, eta=1.0, lambda_reg=0.001, c=1.0,
               gamma=0.05, entropy_form="source", bandwidth="median",
               knn_k=3, flux_divergence=True, alert_on="C_vel",
               alert_C_threshold=0.5, alert_div_threshold=0,
               alert_div_over_rho=False, alert=None, detect=None,
               detect_on="C_vel")

    alert(a) is called with a dict (step, C, C_vel, div_max,
    div_over_rho_max, C_threshold, div_threshold, on, div_over_rho, row)
    when the alert_on ratio falls below alert_C_threshold and max |div J|
    (or max |div J| / rho with alert_div_over_rho) exceeds
    alert_div_threshold (0: the ratio alone decides).  detect: a dict of
    detect_transitions options for transitions(), which test the
    detect_on ratio.  Options left out keep the library's defaults.
    """

    def __init__(self, n, d, mode="model", *, alert=None, detect=None,
                 **options):
        _lib.require("fpf_monitor_push", "fpflow.Monitor")
        for name, v in (("n", n), ("d", d)):
            if int(v) != v or v < 1:
                raise ValueError("Monitor: %s = %r must be a whole number "
                                 ">= 1" % (name, v))
        _lib.check_options_layout("fpf_monitor_options_init",
                                  _lib.fpf_monitor_options,
                                  "fpflow.Monitor")
        o = _lib.fpf_monitor_options()
        _lib.fn.fpf_monitor_options_init(ctypes.byref(o))
        if mode not in _MODES:
            self._bad("mode", mode, _MODES)
        o.mode = _MODES[mode]
        for k, v in options.items():
            if k == "lambda_reg":
                setattr(o, "lambda", float(v))
            elif k == "entropy_form":
                o.entropy_form = _lib.ENTROPY_FORMS.get(v, -1)
                if o.entropy_form < 0:
                    self._bad(k, v, _lib.ENTROPY_FORMS)
            elif k == "bandwidth":
                if isinstance(v, str):
                    if v not in _lib.BANDWIDTH_RULES:
                        self._bad(k, v, _lib.BANDWIDTH_RULES)
                    o.bandwidth_rule = _lib.BANDWIDTH_RULES[v]
                else:
                    o.bandwidth_rule = 0
                    o.bandwidth = float(v)
            elif k in ("alert_on", "detect_on"):
                if v not in _lib.TRIGGERS:
                    self._bad(k, v, _lib.TRIGGERS)
                setattr(o, k, _lib.TRIGGERS[v])
            elif k in ("eta", "c", "gamma", "alert_C_threshold",
                       "alert_div_threshold"):
                if v is not None:
                    setattr(o, k, float(v))
            elif k in ("knn_k",):
                o.knn_k = int(v)
            elif k in ("flux_divergence", "alert_div_over_rho"):
                setattr(o, k, 1 if v else 0)
            else:
                raise TypeError("Monitor: unknown option %r" % k)
        for k, v in (detect or {}).items():
            if k not in _DETECT:
                raise TypeError("Monitor detect: unknown option %r" % k)
            setattr(o.detect, k, type(getattr(o.detect, k))(v))
        self._alert_exc = None
        self._alert_cb = None
        if alert is not None:
            def trampoline(user, a_p):
                try:
                    a = a_p.contents
                    d = {f: getattr(a, f) for f, _ in a._fields_}
                    d["on"] = "C" if d["on"] == 0 else "C_vel"
                    d["div_over_rho"] = bool(d["div_over_rho"])
                    alert(d)
                except BaseException as e:  # re-raised after push()
                    self._alert_exc = e
            self._alert_cb = _lib.fpf_alert_fn(trampoline)
            o.alert = self._alert_cb
        self.n, self.d = int(n), int(d)
        self.mode = mode
        h = ctypes.c_void_p()
        err = _lib.fpf_error()
        _lib.check(_lib.fn.fpf_monitor_create(ctypes.byref(h), self.n,
                                              self.d, ctypes.byref(o),
                                              ctypes.byref(err)), err)
        self._h = h
        self._o = o

    @staticmethod
    def _bad(key, value, table):
        raise ValueError("Monitor option %s = %r: expected one of %s" %
                         (key, value, ", ".join(table)))

    def close(self):
        h, self._h = getattr(self, "_h", None), None
        if h is not None and h.value and _lib is not None:
            _lib.fn.fpf_monitor_destroy(h)

    __del__ = close

    def push(self, step, z, grad=None, loss=None):
        """One snapshot at training step `step` (strictly increasing):
        latents z (n, d), in model mode the per-sample loss gradients with
        respect to the latents grad (n, d), and optionally the per-sample
        losses (n,).  Torch tensors are accepted (CPU ones without a
        copy).  Returns the snapshot's metrics as a dict; in trajectory
        mode the first snapshot only primes the monitor (C is NaN)."""
        z = _arrays.as_input(z, "z", (self.n, self.d))
        _arrays.check_finite(z, "z")
        if grad is not None:
            grad = _arrays.as_input(grad, "grad", (self.n, self.d))
            _arrays.check_finite(grad, "grad")
        if loss is not None:
            loss = _arrays.as_input(loss, "loss", (self.n,))
            _arrays.check_finite(loss, "loss")
        m = _lib.fpf_metrics()
        err = _lib.fpf_error()
        st = _lib.fn.fpf_monitor_push(self._h, int(step), _arrays.ptr(z),
                                      _arrays.ptr(grad), _arrays.ptr(loss),
                                      ctypes.byref(m), ctypes.byref(err))
        exc, self._alert_exc = self._alert_exc, None
        _lib.check(st, err)
        if exc is not None:
            raise exc
        out = {f: getattr(m, f) for f in METRIC_NAMES}
        out["reset"] = bool(out["reset"])
        return out

    def history(self):
        """The metrics of every snapshot so far as a dict of arrays."""
        p = ctypes.POINTER(_lib.fpf_metrics)()
        k = _lib.fn.fpf_monitor_history(self._h, ctypes.byref(p))
        if k == 0:
            rows = np.zeros(0, dtype=METRICS_DTYPE)
        else:
            raw = ctypes.string_at(p, k * ctypes.sizeof(_lib.fpf_metrics))
            rows = np.frombuffer(raw, dtype=METRICS_DTYPE).copy()
        return metrics_dict(rows)

    def transitions(self):
        """Rows of the history that the post-hoc detector marks."""
        k = max(len(self.history()["step"]), 1)
        rows = np.zeros(k, dtype=np.uintp)
        n_out = ctypes.c_size_t()
        err = _lib.fpf_error()
        _lib.check(_lib.fn.fpf_monitor_transitions(
            self._h, rows.ctypes.data_as(_lib.c_size_t_p),
            ctypes.byref(n_out), ctypes.byref(err)), err)
        return rows[:n_out.value].astype(np.int64)

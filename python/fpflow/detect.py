"""Post-hoc detection of phase transitions in a metrics history
(detect.h), the source's three criteria:

  drop     dC_t = C_t - C_{t-1} < -drop_factor * std(dC)
  spike    S_dot_t > mean(S_dot) + spike_factor * std(S_dot)
  plateau  |loss_t - loss_{t-window}| < plateau_tol
           (times |loss_{t-window}| when plateau_relative)

A transition is a drop row t with a spike and a plateau each within
[t - tolerance, t + tolerance]; tolerance 0 is the exact intersection.
std is the population standard deviation over the whole series.
"""

import ctypes

import numpy as np

from . import _arrays, _lib

__all__ = ["detect_transitions"]

_OPTS = ("drop_factor", "spike_factor", "window", "plateau_tol",
         "plateau_relative", "tolerance", "use_log")


def _series(metrics, keys):
    for k in keys:
        if k in metrics:
            return metrics[k]
    raise KeyError("metrics: none of %s" % ", ".join(keys))


def detect_transitions(C, S_dot=None, loss=None, *, flags=False, **options):
    """Rows of the transitions in the series C, S_dot and loss (equal
    lengths; NaN or Inf is refused with the row named).

    C may instead be a metrics dict (from Dynamics.run or train_epoch, or
    with keys "C", "S_dot" and "loss_mean" or "loss").  Options (defaults):
    drop_factor 0.5, spike_factor 2.0, window 10, plateau_tol 1e-4,
    plateau_relative False, tolerance 0, use_log False (test drops of
    log C).  Returns an int array of rows; with flags=True, (rows, dict of
    the per-row boolean criteria "drop", "spike", "plateau").
    """
    if isinstance(C, dict):
        m = C
        C = _series(m, ("C",))
        S_dot = _series(m, ("S_dot",)) if S_dot is None else S_dot
        loss = _series(m, ("loss_mean", "loss")) if loss is None else loss
    if S_dot is None or loss is None:
        raise TypeError("detect_transitions needs C, S_dot and loss (or a "
                        "metrics dict)")
    C = _arrays.as_input(C, "C", (None,))
    n = C.shape[0]
    S_dot = _arrays.as_input(S_dot, "S_dot", (n,))
    loss = _arrays.as_input(loss, "loss", (n,))
    o = _lib.fpf_detect_options()
    _lib.fn.fpf_detect_options_init(ctypes.byref(o))
    for k, v in options.items():
        if k not in _OPTS:
            raise TypeError("unknown option %r; the options are: %s" %
                            (k, ", ".join(_OPTS)))
        kind = dict(o._fields_)[k]
        if kind is ctypes.c_double:
            setattr(o, k, float(v))
        else:
            if int(v) != v:
                raise ValueError("option %s = %r: expected an integer" %
                                 (k, v))
            setattr(o, k, int(v))
    rows = np.zeros(max(n, 1), dtype=np.uintp)
    n_out = ctypes.c_size_t()
    fl = {k: np.zeros(max(n, 1), dtype=np.uint8) for k in
          ("drop", "spike", "plateau")}
    cf = _lib.fpf_detect_flags(*(fl[k].ctypes.data_as(_lib.c_uchar_p)
                                 for k in ("drop", "spike", "plateau")))
    err = _lib.fpf_error()
    st = _lib.fn.fpf_detect_transitions(
        _arrays.ptr(C), _arrays.ptr(S_dot), _arrays.ptr(loss), n,
        ctypes.byref(o), rows.ctypes.data_as(_lib.c_size_t_p),
        ctypes.byref(n_out), ctypes.byref(cf), ctypes.byref(err))
    _lib.check(st, err)
    out = rows[:n_out.value].astype(np.int64)
    if flags:
        return out, {k: v[:n].astype(bool) for k, v in fl.items()}
    return out

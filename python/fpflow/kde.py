"""Gaussian kernel density estimate in log space (kde.h).

With sources z_1..z_n in R^d, bandwidth h (units of z) and
K_h(u) = (2 pi h^2)^(-d/2) exp(-|u|^2 / (2 h^2)), at a point x:

  log rho(x) = logsumexp_j(-|x - z_j|^2 / (2 h^2)) - log n
               - (d/2) log(2 pi h^2)               (log of a density in
                                                    units of z^-d)
  s(x) = grad log rho(x) = sum_j w_j (z_j - x) / h^2,
         w_j = softmax_j(-|x - z_j|^2 / (2 h^2))    (the score, 1/z)

Both stay finite when every kernel value underflows (high d, small h).
Bandwidth rules: "scott" sigma n^(-1/(d+4)), "silverman"
sigma (4 / ((d+2) n))^(1/(d+4)), with sigma = sqrt(trace(Cov)/d), and
"median": h^2 = median_{i<j} |z_i - z_j|^2 / (2 log(n+1)).
"""

import ctypes

from . import _arrays, _lib

__all__ = ["kde_log_density", "kde_score", "kde", "bandwidth"]


def bandwidth(z, rule="scott", h=0.1):
    """The bandwidth that `rule` ("fixed", "scott", "silverman", "median")
    gives for the points z (n, d); "fixed" returns h."""
    z = _arrays.as_input(z, "z", (None, None))
    _arrays.check_finite(z, "z")
    r = _lib.BANDWIDTH_RULES.get(rule)
    if r is None:
        raise ValueError("bandwidth rule %r: expected one of %s" %
                         (rule, ", ".join(_lib.BANDWIDTH_RULES)))
    out = ctypes.c_double()
    err = _lib.fpf_error()
    st = _lib.fn.fpf_kde_bandwidth(_arrays.ptr(z), z.shape[0], z.shape[1],
                                   r, float(h), ctypes.byref(out),
                                   ctypes.byref(err))
    _lib.check(st, err)
    return out.value


def _resolve_h(z, h):
    if isinstance(h, str):
        return bandwidth(z, h)
    return float(h)


def kde(z, x=None, h=0.1, leave_one_out=False, want_score=True,
        out_log_density=None, out_score=None):
    """log rho and its score of the KDE of sources z (n, d) at x (m, d),
    or at the sources themselves when x is None.  h is a bandwidth or a
    rule name.  leave_one_out drops the self term (at the sources only).

    Returns (log_density (m,), score (m, d) or None).  out_* may be given
    as C-contiguous float64 arrays to receive the results in place.
    """
    z = _arrays.as_input(z, "z", (None, None))
    n, d = z.shape
    _arrays.check_finite(z, "z")
    if x is not None:
        x = _arrays.as_input(x, "x", (None, d))
        _arrays.check_finite(x, "x")
        if leave_one_out:
            raise ValueError("leave_one_out applies only at the sources "
                             "(x = None)")
    m = n if x is None else x.shape[0]
    h = _resolve_h(z, h)
    logr = _arrays.as_output(out_log_density, "out_log_density", (m,))
    score = _arrays.as_output(out_score, "out_score", (m, d)) if (
        want_score or out_score is not None) else None
    err = _lib.fpf_error()
    st = _lib.fn.fpf_kde_log_density(
        _arrays.ptr(z), n, d, _arrays.ptr(x), m, h, 1 if leave_one_out
        else 0, _arrays.ptr(logr), _arrays.ptr(score), ctypes.byref(err))
    _lib.check(st, err)
    return logr, score


def kde_log_density(z, x=None, h=0.1, leave_one_out=False, out=None):
    """log rho (m,) of the KDE of z (n, d) at x (m, d), or at z itself.
    See kde() for the arguments."""
    return kde(z, x, h, leave_one_out, want_score=False,
               out_log_density=out)[0]


def kde_score(z, x=None, h=0.1, leave_one_out=False, out=None):
    """The score grad log rho (m, d) of the KDE of z at x, or at z itself.
    See kde() for the arguments."""
    return kde(z, x, h, leave_one_out, out_score=out)[1]

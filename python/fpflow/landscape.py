"""Loss landscapes L: R^d -> R with their gradients (landscape.h).

A landscape is evaluated on a batch of points z (n x d).  Built-ins:

  quadratic(d, m=0, A=I)    L = 0.5 (z - m)^T A (z - m), A symmetric
  two_wells()               d = 2, L = -logaddexp(-w1, -w2),
                            w1 = ((z1 + 2)^2 + z2^2) / 2,
                            w2 = ((z1 - 2)^2 + (z2 - 1)^2) / 2
  mixture(means, widths, weights)
                            L = -log sum_k p_k exp(-|z - m_k|^2 / (2 s_k^2))
  rosenbrock(d, a=1, b=100) L = sum_i (a - z_i)^2 + b (z_{i+1} - z_i^2)^2
  decoder(W1, b1, W2, b2, x)
                            L = mean_k (dec(z)_k - x_k)^2,
                            dec(z) = W2 relu(W1 z + b1) + b2

and from_callable(fn, d), any Python function that maps a batch z (n, d)
to (values (n,), gradients (n, d)).  L is dimensionless (a loss); z has
the units of the latent space, and grad L the inverse units of z.
"""

import ctypes
import weakref

import numpy as np

from . import _arrays, _lib

__all__ = ["Landscape", "quadratic", "two_wells", "mixture", "rosenbrock",
           "decoder", "from_callable"]


class Landscape:
    """A loss landscape owned by libfpflow.  Build one with the functions
    of this module; ``evaluate(z)`` gives its values and gradients."""

    def __init__(self, handle, keep=None):
        self._h = handle
        self._keep = keep  # Python objects the C side points to
        self._pending = None  # exception raised by a Python callable

    @classmethod
    def _make(cls, maker, *args, keep=None):
        h = ctypes.c_void_p()
        err = _lib.fpf_error()
        st = maker(ctypes.byref(h), *args, ctypes.byref(err))
        _lib.check(st, err)
        return cls(h, keep)

    def __del__(self):
        h, self._h = getattr(self, "_h", None), None
        if h is not None and h.value and _lib is not None:
            _lib.fn.fpf_landscape_destroy(h)

    @property
    def dim(self):
        """The dimension d of the latent space."""
        return int(_lib.fn.fpf_landscape_dim(self._h))

    @property
    def name(self):
        """"quadratic", "two_wells", "mixture", "rosenbrock", "decoder"
        or "callback"."""
        return _lib.fn.fpf_landscape_name(self._h).decode()

    def __repr__(self):
        return "<fpflow.Landscape %s, d = %d>" % (self.name, self.dim)

    def _raise_pending(self, exc):
        """Chains the exception of a failed Python callable, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            if not isinstance(pending, Exception):
                raise pending  # KeyboardInterrupt and the like
            raise exc from pending
        raise exc

    def _call(self, f, *args):
        """Calls a library function that evaluates this landscape and turns
        a failure into an exception (with the callable's one chained)."""
        err = _lib.fpf_error()
        st = f(*args, ctypes.byref(err))
        if st != 0:
            try:
                _lib.raise_for(st, err)
            except _lib.Error as e:
                self._raise_pending(e)
        self._pending = None

    def evaluate(self, z, *, want_value=True):
        """Values L(z_i) (n,) and gradients grad L(z_i) (n, d) at z (n, d).

        Returns (values, gradients); values is None when want_value is
        False.  A NaN or Inf in z or in the results raises NonFiniteError.
        """
        z = _arrays.as_input(z, "z", (None, self.dim))
        _arrays.check_finite(z, "z")
        n = z.shape[0]
        val = np.empty(n) if want_value else None
        grad = np.empty((n, self.dim))
        self._call(_lib.fn.fpf_landscape_eval, self._h, n, _arrays.ptr(z),
                   _arrays.ptr(val), _arrays.ptr(grad))
        return val, grad

    def __call__(self, z):
        return self.evaluate(z)


def quadratic(d, m=None, A=None):
    """L = 0.5 (z - m)^T A (z - m), with A symmetric (d x d, default the
    identity) and m (d,) the minimum (default 0)."""
    d = int(d)
    if d < 1:
        raise ValueError("quadratic: d = %d must be >= 1" % d)
    m = None if m is None else _arrays.as_input(m, "m", (d,))
    A = None if A is None else _arrays.as_input(A, "A", (d, d))
    return Landscape._make(_lib.fn.fpf_landscape_quadratic, d,
                           _arrays.ptr(m), _arrays.ptr(A))


def two_wells():
    """The source document's two wells in d = 2 (minima near (-2, 0) and
    (2, 1), both of depth 0)."""
    return Landscape._make(_lib.fn.fpf_landscape_two_wells)


def mixture(means, widths, weights=None):
    """K isotropic Gaussian wells: L = -log sum_k p_k exp(-|z - m_k|^2 /
    (2 s_k^2)).  means (K, d), widths s_k (K,), weights p_k (K,), summing
    to 1 (default 1/K each)."""
    means = _arrays.as_input(means, "means", (None, None))
    K, d = means.shape
    widths = _arrays.as_input(widths, "widths", (K,))
    if weights is None:
        weights = np.full(K, 1.0 / K)
    weights = _arrays.as_input(weights, "weights", (K,))
    return Landscape._make(_lib.fn.fpf_landscape_mixture, d, K,
                           _arrays.ptr(means), _arrays.ptr(widths),
                           _arrays.ptr(weights))


def rosenbrock(d, a=1.0, b=100.0):
    """L = sum_{i<d-1} (a - z_i)^2 + b (z_{i+1} - z_i^2)^2, minimum at
    z = (a, a^2, ...) for d = 2."""
    return Landscape._make(_lib.fn.fpf_landscape_rosenbrock, int(d),
                           float(a), float(b))


def decoder(W1, b1, W2, b2, x):
    """The source's decoder loss L(z) = mean_k (dec(z)_k - x_k)^2 of an MLP
    dec(z) = W2 relu(W1 z + b1) + b2: W1 (H, d), b1 (H,), W2 (D_x, H),
    b2 (D_x,), target x (D_x,)."""
    W1 = _arrays.as_input(W1, "W1", (None, None))
    H, d = W1.shape
    W2 = _arrays.as_input(W2, "W2", (None, H))
    dx = W2.shape[0]
    b1 = _arrays.as_input(b1, "b1", (H,))
    b2 = _arrays.as_input(b2, "b2", (dx,))
    x = _arrays.as_input(x, "x", (dx,))
    return Landscape._make(_lib.fn.fpf_landscape_decoder, d, H, dx,
                           *map(_arrays.ptr, (W1, b1, W2, b2, x)))


def _message_into(err_p, text):
    if err_p:
        e = err_p.contents
        e.status = 8  # FPF_ECALLBACK
        raw = text.encode("utf-8", "replace")[:511]
        e.msg = raw


def from_callable(fn, d, name=None):
    """A landscape from a Python function.

    fn(z) receives the batch z as a read-only float64 array (n, d) that
    views the library's memory (no copy) and returns (values, gradients):
    values of shape (n,) and gradients (n, d), any float dtype.  If fn
    raises, the step that called it fails with CallbackError, whose
    __cause__ is fn's exception; the particles stay as they were.
    """
    d = int(d)
    if d < 1:
        raise ValueError("from_callable: d = %d must be >= 1" % d)
    if not callable(fn):
        raise TypeError("from_callable: fn is not callable")
    label = name or getattr(fn, "__name__", "callable")
    box = {}

    def trampoline(user, n, dd, z_p, value_p, grad_p, err_p):
        ref = box.get("owner")
        owner = ref() if ref is not None else None
        try:
            z = np.ctypeslib.as_array(z_p, shape=(n, dd))
            z.flags.writeable = False
            out = fn(z)
            if not isinstance(out, tuple) or len(out) != 2:
                raise TypeError("must return a tuple (values, gradients), "
                                "got %s" % type(out).__name__)
            v, g = out
            g = np.asarray(g)
            if g.shape != (n, dd):
                raise ValueError("gradients have shape %s, expected %s"
                                 % (g.shape, (n, dd)))
            np.copyto(np.ctypeslib.as_array(grad_p, shape=(n, dd)), g,
                      casting="same_kind")
            if value_p:
                v = np.asarray(v)
                if v.shape != (n,):
                    raise ValueError("values have shape %s, expected %s"
                                     % (v.shape, (n,)))
                np.copyto(np.ctypeslib.as_array(value_p, shape=(n,)), v,
                          casting="same_kind")
            return 0
        except BaseException as e:  # noqa: B902 (handed back to Python)
            if owner is not None:
                owner._pending = e
            _message_into(err_p, "python landscape %s: %s: %s" %
                          (label, type(e).__name__, e))
            return 1

    cb = _lib.fpf_landscape_fn(trampoline)
    L = Landscape._make(_lib.fn.fpf_landscape_callback, d, cb, None,
                        keep=(cb, fn))
    box["owner"] = weakref.ref(L)
    return L

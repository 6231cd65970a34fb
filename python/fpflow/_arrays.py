"""NumPy arrays in and out of libfpflow.

The library takes row-major (C-ordered) float64 arrays.  An input that is
already one is passed by pointer, without a copy.  A float32 array, a
non-native byte order or a non-contiguous view (a slice with a step, a
transpose, a Fortran-ordered array) is converted to a C-ordered float64
copy first.  Inside ``with fpflow.no_copy():`` such a conversion raises
CopyRequiredError instead, for code that must not copy large arrays
silently.  Integer, complex, boolean, object and float16 arrays are
refused with a TypeError: a silent conversion would hide a mistake.
Arrays that receive results in place (``out=``) must be C-contiguous,
writable float64 arrays of the right shape; anything else is refused,
since results written to a copy would be lost.
"""

import contextlib
import ctypes
import threading

import numpy as np

from . import _lib

_strict = threading.local()


class CopyRequiredError(ValueError):
    """An input needs a converted copy, and fpflow.no_copy() is active."""


@contextlib.contextmanager
def no_copy():
    """Within this block, inputs that would need a converted copy (float32,
    non-contiguous, non-native byte order) raise CopyRequiredError."""
    old = getattr(_strict, "on", False)
    _strict.on = True
    try:
        yield
    finally:
        _strict.on = old


def _from_torch(x):
    # A CPU tensor shares its memory with the array numpy() returns.
    t = x.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    return t.numpy()


def _shape_text(shape):
    """(n, d) for (None, None): free lengths named in order n, d, k."""
    names = iter(("n", "d", "k", "m"))
    return "(" + ", ".join(next(names) if s is None else str(s)
                           for s in shape) + (",)" if len(shape) == 1 else ")")


def as_input(x, name, shape=None):
    """Returns x as a C-contiguous float64 ndarray, x itself when it is one.

    shape: expected shape, a tuple whose None entries match any length
    (its length is the required rank).  name appears in every message.
    """
    if x is None:
        raise TypeError("%s: expected an array, got None" % name)
    if not isinstance(x, np.ndarray):
        if hasattr(x, "detach") and hasattr(x, "numpy"):
            x = _from_torch(x)
        else:
            x = np.asarray(x)
            if x.dtype.kind in "iu" or x.dtype == np.bool_:
                # A nested list of Python numbers: no array to refuse.
                if x.dtype == np.bool_:
                    raise TypeError("%s: booleans are not numbers here" %
                                    name)
                x = x.astype(np.float64)
    dt = x.dtype
    if dt.kind != "f" or dt.itemsize not in (4, 8):
        raise TypeError(
            "%s: dtype %s is not supported; fpflow takes float64 arrays "
            "(used as they are) or float32 arrays (converted to a float64 "
            "copy)" % (name, dt))
    if shape is not None:
        if x.ndim != len(shape) or any(
                s is not None and s != xs for s, xs in zip(shape, x.shape)):
            raise ValueError("%s: expected shape %s, got %s" %
                             (name, _shape_text(shape), tuple(x.shape)))
    if (dt == np.float64 and dt.isnative and x.flags.c_contiguous
            and x.flags.aligned):
        return x
    if getattr(_strict, "on", False):
        why = ("is %s" % dt) if dt != np.float64 else (
            "is not C-contiguous" if not x.flags.c_contiguous
            else "is unaligned or not in native byte order")
        raise CopyRequiredError(
            "%s: the array %s, so it needs a float64 C-ordered copy, which "
            "fpflow.no_copy() forbids; pass np.ascontiguousarray(%s, "
            "dtype=np.float64)" % (name, why, name))
    return np.ascontiguousarray(x, dtype=np.float64)


def as_output(out, name, shape):
    """A new float64 array of `shape`, or `out` checked to be usable as one
    (C-contiguous, writable, float64, that shape)."""
    if out is None:
        return np.empty(shape, dtype=np.float64)
    if not isinstance(out, np.ndarray):
        raise TypeError("%s: expected a numpy.ndarray, got %s" %
                        (name, type(out).__name__))
    if out.dtype != np.float64 or not out.dtype.isnative:
        raise TypeError("%s: results are float64; got an array of %s" %
                        (name, out.dtype))
    if tuple(out.shape) != tuple(shape):
        raise ValueError("%s: expected shape %s, got %s" %
                         (name, tuple(shape), tuple(out.shape)))
    if not out.flags.c_contiguous or not out.flags.aligned:
        raise ValueError(
            "%s: a non-contiguous array cannot receive results in place "
            "(they would go to a copy and be lost); pass a C-contiguous "
            "float64 array" % name)
    if not out.flags.writeable:
        raise ValueError("%s: the array is read-only" % name)
    return out


def ptr(a):
    """A double* to the data of a C-contiguous float64 array (or None)."""
    if a is None:
        return None
    return a.ctypes.data_as(_lib.c_double_p)


def check_finite(a, name):
    """Raises NonFiniteError, with the library's message (which names the
    first NaN or Inf by row and column), when `a` has one."""
    if a.size == 0 or np.isfinite(a).all():
        return
    arr = _lib.fpf_array()
    if a.ndim > _lib.FPF_NPY_MAXDIM:
        raise ValueError("%s: rank %d is above %d" %
                         (name, a.ndim, _lib.FPF_NPY_MAXDIM))
    arr.ndim = a.ndim
    for i, s in enumerate(a.shape):
        arr.shape[i] = s
    arr.data = ptr(a)
    err = _lib.fpf_error()
    st = _lib.fn.fpf_array_check_finite(ctypes.byref(arr), name.encode(),
                                        ctypes.byref(err))
    _lib.check(st, err)


def copy_from(p, shape):
    """A new array with a copy of the C memory at double* p."""
    n = 1
    for s in shape:
        n *= s
    if n == 0:
        return np.empty(shape, dtype=np.float64)
    if not p:
        raise ValueError("fpflow: the library returned no data here")
    return np.ctypeslib.as_array(p, shape=tuple(shape)).copy()

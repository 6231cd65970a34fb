"""NumPy .npy files through libfpflow's reader and writer (npy.h).

NumPy reads and writes these files itself; these functions exist so that
Python sees exactly what the command line sees: the same accepted dtypes
(f4, f8, integers, booleans; either byte order; C or Fortran order) and
the same messages for a bad file ("expected 8000 bytes of data, found
7992", a bad magic string, an unsupported dtype), each naming the file.
"""

import ctypes
import os

import numpy as np

from . import _arrays, _lib

__all__ = ["read_npy", "write_npy"]


def read_npy(path, check_finite=False):
    """The array in `path` as C-ordered float64.  With check_finite, a NaN
    or Inf raises NonFiniteError naming the file and the position."""
    a = _lib.fpf_array()
    err = _lib.fpf_error()
    p = os.fsencode(path)
    st = _lib.fn.fpf_npy_read(p, ctypes.byref(a), ctypes.byref(err))
    try:
        _lib.check(st, err)
        if check_finite:
            _lib.check(_lib.fn.fpf_array_check_finite(
                ctypes.byref(a), p, ctypes.byref(err)), err)
        shape = tuple(a.shape[i] for i in range(a.ndim))
        return _arrays.copy_from(a.data, shape)
    finally:
        _lib.fn.fpf_array_free(ctypes.byref(a))


def write_npy(path, array):
    """Writes `array` as '<f8', version 1.0, C order, through a temporary
    file renamed into place (a failed write leaves nothing half-written
    under `path`)."""
    a = _arrays.as_input(array, "array")
    if a.ndim > _lib.FPF_NPY_MAXDIM:
        raise ValueError("array: rank %d is above %d" %
                         (a.ndim, _lib.FPF_NPY_MAXDIM))
    shape = (ctypes.c_size_t * max(a.ndim, 1))(*a.shape)
    err = _lib.fpf_error()
    buf = a if a.size else np.zeros(1)
    _lib.check(_lib.fn.fpf_npy_write(os.fsencode(path), _arrays.ptr(buf),
                                     a.ndim, shape, ctypes.byref(err)), err)

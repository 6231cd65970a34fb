"""fpflow's counter-based random numbers (rng.h): Philox4x64-10.

Every number is a pure function of (seed, stream, step, index, position),
so a draw can be repeated anywhere, on any number of threads.  Streams
0..15 are fpflow's own (0 noise, 1 reset pick, 2 reset draw, 3 initial
ensemble, 4 subsampling); use 16 and above for your own draws.
"""

import numpy as np

from . import _arrays, _lib

__all__ = ["normals", "uniforms", "STREAM_USER"]

STREAM_USER = _lib.ENUMS["FPF_STREAM_USER"]


def _u64(v, name):
    v = int(v)
    if not 0 <= v < 2 ** 64:
        raise ValueError("%s = %d: must be in [0, 2^64)" % (name, v))
    return v


def normals(seed, stream, step, index, n):
    """n standard normal numbers for (seed, stream, step, index)."""
    out = np.empty(int(n))
    _lib.fn.fpf_rng_normals(_u64(seed, "seed"), _u64(stream, "stream"),
                            _u64(step, "step"), _u64(index, "index"),
                            _arrays.ptr(out), out.size)
    return out


def uniforms(seed, stream, step, index, n):
    """n uniform numbers in the open interval (0, 1), 53-bit resolution."""
    out = np.empty(int(n))
    _lib.fn.fpf_rng_uniforms(_u64(seed, "seed"), _u64(stream, "stream"),
                             _u64(step, "step"), _u64(index, "index"),
                             _arrays.ptr(out), out.size)
    return out

"""Loading libfpflow and mirroring its C declarations with ctypes.

Every structure below copies a struct of include/fpflow/*.h field by field,
in the same order and with the same C types, so that ctypes lays it out as
the C compiler does.  python/tests/test_layout.py compiles a small C
program that prints sizeof and offsetof of each field and compares them
with these classes, so a header that changes without this file fails the
tests instead of corrupting memory.

Where the library is looked for, in order:
  1. the path in the environment variable FPFLOW_LIB;
  2. the system's loader (libfpflow.so.0 installed under /usr/local/lib,
     for example by scripts/setup.sh and ldconfig);
  3. <repository>/build/libfpflow.so when this package is used from a
     source checkout (python/fpflow beside build/).
"""

import ctypes
import ctypes.util
import os

__all__ = []

# ---- errors ------------------------------------------------------------

# The order of FPF_STATUS_LIST in status.h: the codes are their indices.
STATUS_NAMES = (
    "FPF_OK",
    "FPF_EINVAL",
    "FPF_ENOMEM",
    "FPF_EIO",
    "FPF_EFORMAT",
    "FPF_ENOTPD",
    "FPF_ENONFINITE",
    "FPF_EUNSUPPORTED",
    "FPF_ECALLBACK",
    "FPF_ESTOPPED",
)


class Error(Exception):
    """A failure reported by libfpflow.

    ``str(e)`` is the library's message, which names the argument, option
    or file and the offending value.  ``e.status`` is the fpf_status code
    (an int) and ``e.status_name`` its name, e.g. ``"FPF_EINVAL"``.
    """

    status = -1

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def status_name(self):
        if 0 <= self.status < len(STATUS_NAMES):
            return STATUS_NAMES[self.status]
        return "unknown"


class InvalidArgumentError(Error, ValueError):
    """FPF_EINVAL: an argument or option is out of range."""
    status = 1


class OutOfMemoryError(Error, MemoryError):
    """FPF_ENOMEM."""
    status = 2


class FileError(Error, OSError):
    """FPF_EIO: a file cannot be opened, read or written."""
    status = 3


class FormatError(Error, ValueError):
    """FPF_EFORMAT: a malformed file."""
    status = 4


class NotPositiveDefiniteError(Error, ArithmeticError):
    """FPF_ENOTPD: the diffusion matrix D is not positive definite."""
    status = 5


class NonFiniteError(Error, ValueError):
    """FPF_ENONFINITE: a NaN or an infinity in an input or a result."""
    status = 6


class UnsupportedError(Error, NotImplementedError):
    """FPF_EUNSUPPORTED: something fpflow does not do (yet)."""
    status = 7


class CallbackError(Error):
    """FPF_ECALLBACK: a user callback failed.

    When the callback was a Python function, the Python exception it
    raised is chained as ``__cause__``.
    """
    status = 8


class StoppedError(Error):
    """FPF_ESTOPPED: stopped by the caller."""
    status = 9


class UnavailableError(Error, NotImplementedError):
    """The loaded libfpflow does not contain this part of the API."""
    status = -1


_BY_STATUS = {c.status: c for c in (
    InvalidArgumentError, OutOfMemoryError, FileError, FormatError,
    NotPositiveDefiniteError, NonFiniteError, UnsupportedError,
    CallbackError, StoppedError)}


# ---- the library -------------------------------------------------------

def _candidates():
    env = os.environ.get("FPFLOW_LIB")
    if env:
        return [env], True
    found = []
    name = ctypes.util.find_library("fpflow")
    if name:
        found.append(name)
    found.append("libfpflow.so.0")
    here = os.path.dirname(os.path.abspath(__file__))
    found.append(os.path.join(here, "..", "..", "build", "libfpflow.so"))
    return found, False


def _load():
    tried, from_env = _candidates()
    errors = []
    for path in tried:
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append("%s (%s)" % (path, e))
    hint = ("FPFLOW_LIB=%s cannot be loaded" % tried[0]) if from_env else (
        "install fpflow (bash scripts/setup.sh, as root) or set FPFLOW_LIB "
        "to the path of libfpflow.so")
    raise ImportError("fpflow: cannot load libfpflow: %s; tried: %s"
                      % (hint, "; ".join(errors)))


lib, lib_path = _load()

c_double_p = ctypes.POINTER(ctypes.c_double)
c_size_t_p = ctypes.POINTER(ctypes.c_size_t)


class fpf_error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("msg", ctypes.c_char * 512)]


fpf_log_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int,
                              ctypes.c_char_p)


class fpf_dyn_options(ctypes.Structure):
    _fields_ = [
        ("eta0", ctypes.c_double),
        ("tau_eta", ctypes.c_double),
        ("lambda", ctypes.c_double),
        ("D0", ctypes.c_double),
        ("tau_D", ctypes.c_double),
        ("gamma", ctypes.c_double),
        ("dt", ctypes.c_double),
        ("entropy_form", ctypes.c_int),
        ("bandwidth_rule", ctypes.c_int),
        ("bandwidth", ctypes.c_double),
        ("leave_one_out", ctypes.c_int),
        ("kde_method", ctypes.c_int),
        ("knn_k", ctypes.c_size_t),
        ("flux_divergence", ctypes.c_int),
        ("single_precision", ctypes.c_int),
        ("resets", ctypes.c_int),
        ("trigger", ctypes.c_int),
        ("C_threshold", ctypes.c_double),
        ("alpha_reset", ctypes.c_double),
        ("beta_reset", ctypes.c_double),
        ("warmup", ctypes.c_long),
        ("cooldown", ctypes.c_long),
        ("seed", ctypes.c_uint64),
        ("log", fpf_log_fn),
        ("log_user", ctypes.c_void_p),
    ]


class fpf_metrics(ctypes.Structure):
    _fields_ = [
        ("step", ctypes.c_long),
        ("t", ctypes.c_double),
        ("eta", ctypes.c_double),
        ("c", ctypes.c_double),
        ("boost", ctypes.c_double),
        ("h", ctypes.c_double),
        ("loss_mean", ctypes.c_double),
        ("C", ctypes.c_double),
        ("log_C", ctypes.c_double),
        ("C_vel", ctypes.c_double),
        ("log_C_vel", ctypes.c_double),
        ("S_dot", ctypes.c_double),
        ("H_kde", ctypes.c_double),
        ("H_knn", ctypes.c_double),
        ("T_eff", ctypes.c_double),
        ("T_gibbs", ctypes.c_double),
        ("mu_rms", ctypes.c_double),
        ("div_max", ctypes.c_double),
        ("div_over_rho_max", ctypes.c_double),
        ("reset", ctypes.c_int),
    ]


class fpf_flow_options(ctypes.Structure):
    _fields_ = [
        ("kde_method", ctypes.c_int),
        ("leave_one_out", ctypes.c_int),
        ("knn_k", ctypes.c_size_t),
        ("flux_divergence", ctypes.c_int),
        ("cholesky", ctypes.c_int),
        ("single_precision", ctypes.c_int),
    ]


class fpf_flow_input(ctypes.Structure):
    _fields_ = [
        ("z", c_double_p),
        ("n", ctypes.c_size_t),
        ("grad", c_double_p),
        ("loss", c_double_p),
        ("drift", c_double_p),
        ("diffusion", c_double_p),
    ]


class fpf_flow_params(ctypes.Structure):
    _fields_ = [
        ("eta", ctypes.c_double),
        ("lambda", ctypes.c_double),
        ("c", ctypes.c_double),
        ("boost", ctypes.c_double),
        ("gamma", ctypes.c_double),
        ("h", ctypes.c_double),
        ("entropy_form", ctypes.c_int),
    ]


class fpf_detect_options(ctypes.Structure):
    _fields_ = [
        ("drop_factor", ctypes.c_double),
        ("spike_factor", ctypes.c_double),
        ("window", ctypes.c_long),
        ("plateau_tol", ctypes.c_double),
        ("plateau_relative", ctypes.c_int),
        ("tolerance", ctypes.c_long),
        ("use_log", ctypes.c_int),
    ]


c_uchar_p = ctypes.POINTER(ctypes.c_ubyte)


class fpf_detect_flags(ctypes.Structure):
    _fields_ = [("drop", c_uchar_p), ("spike", c_uchar_p),
                ("plateau", c_uchar_p)]


FPF_NPY_MAXDIM = 8


class fpf_array(ctypes.Structure):
    _fields_ = [
        ("ndim", ctypes.c_int),
        ("shape", ctypes.c_size_t * FPF_NPY_MAXDIM),
        ("data", c_double_p),
    ]


class fpf_monitor_alert(ctypes.Structure):
    _fields_ = [
        ("step", ctypes.c_long),
        ("C", ctypes.c_double),
        ("C_vel", ctypes.c_double),
        ("div_max", ctypes.c_double),
        ("div_over_rho_max", ctypes.c_double),
        ("C_threshold", ctypes.c_double),
        ("div_threshold", ctypes.c_double),
        ("on", ctypes.c_int),
        ("div_over_rho", ctypes.c_int),
        ("row", ctypes.c_size_t),
    ]


fpf_alert_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p,
                                ctypes.POINTER(fpf_monitor_alert))


class fpf_monitor_options(ctypes.Structure):
    _fields_ = [
        ("mode", ctypes.c_int),
        ("eta", ctypes.c_double),
        ("lambda", ctypes.c_double),
        ("c", ctypes.c_double),
        ("gamma", ctypes.c_double),
        ("entropy_form", ctypes.c_int),
        ("bandwidth_rule", ctypes.c_int),
        ("bandwidth", ctypes.c_double),
        ("knn_k", ctypes.c_size_t),
        ("flux_divergence", ctypes.c_int),
        ("alert_on", ctypes.c_int),
        ("alert_C_threshold", ctypes.c_double),
        ("alert_div_threshold", ctypes.c_double),
        ("alert_div_over_rho", ctypes.c_int),
        ("alert", fpf_alert_fn),
        ("alert_user", ctypes.c_void_p),
        ("detect", fpf_detect_options),
        ("detect_on", ctypes.c_int),
        ("log", fpf_log_fn),
        ("log_user", ctypes.c_void_p),
    ]


class fpf_cloud(ctypes.Structure):
    _fields_ = [
        ("x", c_double_p),
        ("n", ctypes.c_size_t),
        ("d", ctypes.c_size_t),
        ("w", c_double_p),
        ("name", ctypes.c_char_p),
    ]


class fpf_w2_options(ctypes.Structure):
    _fields_ = [
        ("method", ctypes.c_int),
        ("exact_max", ctypes.c_size_t),
        ("flow_max", ctypes.c_size_t),
        ("sinkhorn_max", ctypes.c_size_t),
        ("epsilon", ctypes.c_double),
        ("blur", ctypes.c_double),
        ("eps_scaling", ctypes.c_double),
        ("tol", ctypes.c_double),
        ("stage_tol", ctypes.c_double),
        ("max_iter", ctypes.c_long),
        ("projections", ctypes.c_size_t),
        ("seed", ctypes.c_uint64),
    ]


class fpf_w2_result(ctypes.Structure):
    _fields_ = [
        ("w2", ctypes.c_double),
        ("w2sq", ctypes.c_double),
        ("method", ctypes.c_int),
        ("converged", ctypes.c_int),
        ("iterations", ctypes.c_long),
        ("epsilon", ctypes.c_double),
        ("marginal_error", ctypes.c_double),
    ]


# Structures whose layout the tests check against the C headers, with the
# header that declares each.
STRUCTS = {
    "fpf_error": (fpf_error, "status.h"),
    "fpf_dyn_options": (fpf_dyn_options, "dyn.h"),
    "fpf_metrics": (fpf_metrics, "flow.h"),
    "fpf_flow_options": (fpf_flow_options, "flow.h"),
    "fpf_flow_input": (fpf_flow_input, "flow.h"),
    "fpf_flow_params": (fpf_flow_params, "flow.h"),
    "fpf_detect_options": (fpf_detect_options, "detect.h"),
    "fpf_detect_flags": (fpf_detect_flags, "detect.h"),
    "fpf_array": (fpf_array, "npy.h"),
    "fpf_monitor_alert": (fpf_monitor_alert, "monitor.h"),
    "fpf_monitor_options": (fpf_monitor_options, "monitor.h"),
    "fpf_cloud": (fpf_cloud, "transport.h"),
    "fpf_w2_options": (fpf_w2_options, "transport.h"),
    "fpf_w2_result": (fpf_w2_result, "transport.h"),
}

# Enumeration constants used from Python, checked against the headers too.
ENUMS = {
    "FPF_ENTROPY_SOURCE": 0, "FPF_ENTROPY_WASSERSTEIN": 1,
    "FPF_BW_FIXED": 0, "FPF_BW_SCOTT": 1, "FPF_BW_SILVERMAN": 2,
    "FPF_BW_MEDIAN": 3,
    "FPF_KDE_AUTO": 0, "FPF_KDE_EXACT": 1, "FPF_KDE_BINNED": 2,
    "FPF_TRIGGER_C": 0, "FPF_TRIGGER_C_VEL": 1,
    "FPF_MONITOR_MODEL": 0, "FPF_MONITOR_TRAJECTORY": 1,
    "FPF_STREAM_NOISE": 0, "FPF_STREAM_INIT": 3, "FPF_STREAM_USER": 16,
    "FPF_NPY_MAXDIM": FPF_NPY_MAXDIM,
    "FPF_W2_AUTO": 0, "FPF_W2_EXACT": 1, "FPF_W2_SINKHORN": 2,
    "FPF_W2_BURES": 3, "FPF_W2_SLICED": 4,
}
ENUMS.update({name: i for i, name in enumerate(STATUS_NAMES)})

ENTROPY_FORMS = {"source": 0, "wasserstein": 1}
BANDWIDTH_RULES = {"fixed": 0, "scott": 1, "silverman": 2, "median": 3}
TRIGGERS = {"C": 0, "C_vel": 1}
KDE_METHODS = {"auto": 0, "exact": 1, "binned": 2}
W2_METHODS = {"auto": 0, "exact": 1, "sinkhorn": 2, "bures": 3,
              "sliced": 4}

# ---- function prototypes -----------------------------------------------

_E = ctypes.POINTER(fpf_error)
_st = ctypes.c_int
_vp = ctypes.c_void_p
_sz = ctypes.c_size_t
_d = ctypes.c_double

fpf_landscape_fn = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _sz, _sz, c_double_p,
                                    c_double_p, c_double_p, _E)

_PROTOS = {
    # status.h
    "fpf_status_str": (ctypes.c_char_p, [_st]),
    "fpf_version": (ctypes.c_char_p, []),
    # rng.h
    "fpf_rng_normals": (None, [ctypes.c_uint64] * 4 + [c_double_p, _sz]),
    "fpf_rng_uniforms": (None, [ctypes.c_uint64] * 4 + [c_double_p, _sz]),
    # landscape.h
    "fpf_landscape_quadratic": (_st, [_vp, _sz, c_double_p, c_double_p, _E]),
    "fpf_landscape_two_wells": (_st, [_vp, _E]),
    "fpf_landscape_mixture": (_st, [_vp, _sz, _sz, c_double_p, c_double_p,
                                    c_double_p, _E]),
    "fpf_landscape_rosenbrock": (_st, [_vp, _sz, _d, _d, _E]),
    "fpf_landscape_decoder": (_st, [_vp, _sz, _sz, _sz] + [c_double_p] * 5
                              + [_E]),
    "fpf_landscape_callback": (_st, [_vp, _sz, fpf_landscape_fn, _vp, _E]),
    "fpf_landscape_destroy": (None, [_vp]),
    "fpf_landscape_dim": (_sz, [_vp]),
    "fpf_landscape_name": (ctypes.c_char_p, [_vp]),
    "fpf_landscape_eval": (_st, [_vp, _sz, c_double_p, c_double_p,
                                 c_double_p, _E]),
    # kde.h
    "fpf_kde_bandwidth": (_st, [c_double_p, _sz, _sz, ctypes.c_int, _d,
                                c_double_p, _E]),
    "fpf_kde_log_density": (_st, [c_double_p, _sz, _sz, c_double_p, _sz, _d,
                                  ctypes.c_int, c_double_p, c_double_p, _E]),
    # flow.h
    "fpf_flow_options_init": (None, [ctypes.POINTER(fpf_flow_options)]),
    "fpf_flow_create": (_st, [_vp, _sz, _sz,
                              ctypes.POINTER(fpf_flow_options), _E]),
    "fpf_flow_destroy": (None, [_vp]),
    "fpf_flow_compute": (_st, [_vp, ctypes.POINTER(fpf_flow_input),
                               ctypes.POINTER(fpf_flow_params),
                               ctypes.POINTER(fpf_metrics), _E]),
    "fpf_flow_bandwidth": (_st, [_vp, c_double_p, _sz, ctypes.c_int, _d,
                                 c_double_p, _E]),
    "fpf_flow_log_density": (c_double_p, [_vp]),
    "fpf_flow_score": (c_double_p, [_vp]),
    "fpf_flow_drift": (c_double_p, [_vp]),
    "fpf_flow_flux": (c_double_p, [_vp]),
    "fpf_flow_divergence": (c_double_p, [_vp]),
    "fpf_flow_diffusion": (c_double_p, [_vp]),
    "fpf_flow_fisher": (c_double_p, [_vp]),
    "fpf_flow_cholesky": (c_double_p, [_vp]),
    # dyn.h
    "fpf_dyn_options_init": (None, [ctypes.POINTER(fpf_dyn_options)]),
    "fpf_dyn_options_check": (_st, [ctypes.POINTER(fpf_dyn_options), _E]),
    "fpf_dyn_create": (_st, [_vp, _vp, _sz, c_double_p,
                             ctypes.POINTER(fpf_dyn_options), _E]),
    "fpf_dyn_destroy": (None, [_vp]),
    "fpf_dyn_step": (_st, [_vp, ctypes.POINTER(fpf_metrics), _E]),
    "fpf_dyn_reset": (_st, [_vp, _E]),
    "fpf_dyn_size": (_sz, [_vp]),
    "fpf_dyn_dim": (_sz, [_vp]),
    "fpf_dyn_steps_done": (ctypes.c_long, [_vp]),
    "fpf_dyn_particles": (c_double_p, [_vp]),
    "fpf_dyn_flow": (_vp, [_vp]),
    "fpf_dyn_set_particles": (_st, [_vp, c_double_p, _E]),
    "fpf_set_threads": (None, [ctypes.c_int]),
    # detect.h
    "fpf_detect_options_init": (None, [ctypes.POINTER(fpf_detect_options)]),
    "fpf_detect_transitions": (_st, [c_double_p, c_double_p, c_double_p, _sz,
                                     ctypes.POINTER(fpf_detect_options),
                                     c_size_t_p, c_size_t_p,
                                     ctypes.POINTER(fpf_detect_flags), _E]),
    # npy.h
    "fpf_npy_read": (_st, [ctypes.c_char_p, ctypes.POINTER(fpf_array), _E]),
    "fpf_npy_write": (_st, [ctypes.c_char_p, c_double_p, ctypes.c_int,
                            c_size_t_p, _E]),
    "fpf_array_free": (None, [ctypes.POINTER(fpf_array)]),
    "fpf_array_check_finite": (_st, [ctypes.POINTER(fpf_array),
                                     ctypes.c_char_p, _E]),
    # monitor.h (present only once the monitor is built)
    "fpf_monitor_options_init": (None, [ctypes.POINTER(fpf_monitor_options)]),
    "fpf_monitor_create": (_st, [_vp, _sz, _sz,
                                 ctypes.POINTER(fpf_monitor_options), _E]),
    "fpf_monitor_destroy": (None, [_vp]),
    "fpf_monitor_push": (_st, [_vp, ctypes.c_long, c_double_p, c_double_p,
                               c_double_p, ctypes.POINTER(fpf_metrics), _E]),
    "fpf_monitor_history": (_sz, [_vp, ctypes.POINTER(
        ctypes.POINTER(fpf_metrics))]),
    "fpf_monitor_transitions": (_st, [_vp, c_size_t_p, c_size_t_p, _E]),
    # transport.h (present only once transport is built)
    "fpf_w2_options_init": (None, [ctypes.POINTER(fpf_w2_options)]),
    "fpf_w2_distance": (_st, [ctypes.POINTER(fpf_cloud),
                              ctypes.POINTER(fpf_cloud),
                              ctypes.POINTER(fpf_w2_options),
                              ctypes.POINTER(fpf_w2_result), _E]),
}


class _Functions:
    """The library's functions with their prototypes; a symbol the loaded
    library lacks is absent here (see has())."""


fn = _Functions()
_missing = set()
for _name, (_res, _args) in _PROTOS.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        _missing.add(_name)
        continue
    _f.restype = _res
    _f.argtypes = _args
    setattr(fn, _name, _f)


# Defaults of the options structs that are not tuning knobs (most are
# the source's reference values): after *_options_init, reading them
# through this package's layout must give these values, or the library
# and the package disagree on the layout.
OPTION_DEFAULTS = {
    "fpf_dyn_options": dict(
        eta0=0.01, tau_eta=1000, D0=1.0, tau_D=500, gamma=0.05, dt=0.01,
        bandwidth=0.1, knn_k=3, resets=1, C_threshold=0.5, alpha_reset=0.2,
        beta_reset=3.0, warmup=10, cooldown=10, seed=42),
    "fpf_flow_options": dict(knn_k=3, cholesky=1),
    "fpf_monitor_options": dict(eta=1.0, c=1.0, gamma=0.05, knn_k=3,
                                flux_divergence=1, alert_C_threshold=0.5),
    "fpf_w2_options": dict(eps_scaling=0.5, projections=256),
}


def check_options_layout(init_name, cls, what):
    """Raises UnavailableError when the loaded library's options struct
    differs from this package's mirror of it: a library and a package from
    different fpflow sources, which must not be mixed (fields would be
    read and written at the wrong places).

    The struct is initialised in a buffer prefilled with 0xAA: the
    library zeroes sizeof *o bytes (memset), so the last byte it changed
    ends its struct; then the documented defaults must sit where this
    package's layout puts them."""
    room = ctypes.sizeof(cls) + 256
    buf = (ctypes.c_ubyte * room)(*([0xAA] * room))
    getattr(lib, init_name)(ctypes.cast(buf, ctypes.POINTER(cls)))
    changed = [i for i in range(room) if buf[i] != 0xAA]
    size = changed[-1] + 1 if changed else 0
    o = cls.from_buffer_copy(bytes(buf[:ctypes.sizeof(cls)]))
    wrong = [k for k, v in OPTION_DEFAULTS.get(cls.__name__, {}).items()
             if getattr(o, k) != v]
    if size != ctypes.sizeof(cls) or wrong:
        raise UnavailableError(
            "%s: %s in %s does not match this Python package (%d bytes, "
            "expected %d%s): the library and the package come from "
            "different fpflow sources; install both from one tree (bash "
            "scripts/setup.sh) or set FPFLOW_LIB to the matching "
            "libfpflow.so" % (
                what, cls.__name__, lib_path, size, ctypes.sizeof(cls),
                "; misplaced: " + ", ".join(wrong) if wrong else ""))


def has(name):
    """True when the loaded libfpflow exports the function `name`."""
    if name in _PROTOS:
        return name not in _missing
    return hasattr(lib, name)


def require(name, what):
    """Raises UnavailableError unless the library exports `name`."""
    if not has(name):
        raise UnavailableError(
            "%s is not available: %s (loaded from %s) has no %s; it needs "
            "a newer fpflow build" % (what, os.path.basename(lib_path),
                                      lib_path, name))


def raise_for(status, err, context=None):
    """Raises the Error subclass of `status` with err's message."""
    msg = err.msg.decode("utf-8", "replace") if err is not None else ""
    if not msg:
        msg = fn.fpf_status_str(status).decode()
    if context:
        msg = "%s: %s" % (context, msg)
    cls = _BY_STATUS.get(status, Error)
    raise cls(msg, status)


def check(status, err, context=None):
    """Returns when status is FPF_OK, else raises (see raise_for)."""
    if status != 0:
        raise_for(status, err, context)


def version():
    """The version of the loaded libfpflow, "MAJOR.MINOR.PATCH"."""
    return fn.fpf_version().decode()


# Options structs that every session uses: checked once, at import.
try:
    check_options_layout("fpf_dyn_options_init", fpf_dyn_options,
                         "fpflow")
    check_options_layout("fpf_flow_options_init", fpf_flow_options,
                         "fpflow")
except UnavailableError as _e:
    raise ImportError(str(_e)) from None

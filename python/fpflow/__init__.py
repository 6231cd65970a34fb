"""fpflow: Fokker-Planck particle dynamics of learning, from Python.

Bindings (ctypes, standard library only) over libfpflow.  NumPy arrays go
in and come out; float64 C-ordered inputs are passed without a copy,
float32 and strided ones are converted (see fpflow.no_copy()).  Library
failures raise fpflow.Error subclasses carrying the library's message.

  Dynamics, FokkerPlanckDynamics   particle dynamics (step, run,
                                   train_epoch)
  landscapes                       quadratic, two_wells, mixture,
                                   rosenbrock, decoder, from_callable
  kde_log_density, kde_score, kde, bandwidth
  Flow, flow_compute               observables of one ensemble
  detect_transitions               post-hoc phase transitions
  Monitor                          snapshots of real training latents
  w2                               Wasserstein-2 distance
  normals, uniforms                Philox random numbers
  read_npy, write_npy              .npy files as the command line reads them
  fpflow.torch                     PyTorch: FPETorchWrapper, apply_reset,
                                   LatentProbe
"""

from ._lib import (CallbackError, Error, FileError, FormatError,
                   InvalidArgumentError, NonFiniteError,
                   NotPositiveDefiniteError, OutOfMemoryError, StoppedError,
                   UnavailableError, UnsupportedError, lib_path, version)
from ._arrays import CopyRequiredError, no_copy
from . import landscape as landscapes
from .landscape import (Landscape, decoder, from_callable, mixture,
                        quadratic, rosenbrock, two_wells)
from .rng import normals, uniforms
from .dynamics import (METRIC_NAMES, Dynamics, FokkerPlanckDynamics,
                       default_options, normal_ensemble, set_threads)
from .kde import bandwidth, kde, kde_log_density, kde_score
from .flow import Flow, flow_compute
from .detect import detect_transitions
from .monitor import Monitor, monitor_available
from .transport import transport_available, w2
from .npy import read_npy, write_npy

__version__ = version()

__all__ = [
    "Error", "InvalidArgumentError", "OutOfMemoryError", "FileError",
    "FormatError", "NotPositiveDefiniteError", "NonFiniteError",
    "UnsupportedError", "CallbackError", "StoppedError", "UnavailableError",
    "CopyRequiredError", "no_copy", "lib_path", "version",
    "landscapes", "Landscape", "quadratic", "two_wells", "mixture",
    "rosenbrock", "decoder", "from_callable",
    "normals", "uniforms",
    "Dynamics", "FokkerPlanckDynamics", "METRIC_NAMES", "default_options",
    "normal_ensemble", "set_threads",
    "kde", "kde_log_density", "kde_score", "bandwidth",
    "Flow", "flow_compute", "detect_transitions",
    "Monitor", "monitor_available", "w2", "transport_available",
    "read_npy", "write_npy",
]

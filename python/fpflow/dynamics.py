"""Particle dynamics of learning (dyn.h): an ensemble evolved by
Euler-Maruyama under fpflow's Fokker-Planck drift and diffusion, with
stochastic resets.

One step at time t = step * dt, for particles z_i in R^d:

  eta(t) = eta0 / (1 + t / tau_eta)        learning rate (units of 1/L
                                           per unit time, times z^2)
  c(t)   = D0 exp(-t / tau_D)              diffusion scale (z^2 per time)
  mu_i   = -eta (grad L(z_i) + lambda g_i) drift (z per unit time)
  g_i    = -grad rho_i (1 + log rho_i)     entropy gradient ("source"), or
           -grad log rho_i                 ("wasserstein")
  F      = (1/N) sum_i grad L_i grad L_i^T Fisher matrix
  D      = c (I + gamma F) + b(t) I        diffusion matrix, b the reset
                                           boost
  z_i   <- z_i + mu_i dt + sqrt(2 dt) Lc xi_i,  D = Lc Lc^T, xi ~ N(0, I)

rho is a Gaussian KDE of the particles (bandwidth h).  The noise xi comes
from Philox keyed by (seed, step, particle), so a run is the same on any
number of threads and equals ``fpflow run`` with the same options and seed.

The metrics of a step describe the particles *before* its update:
C = ||mu|| / ||D grad rho|| and C_vel = ||mu|| / ||D s|| (dimensionless;
C > 10 exploitation, 1..10 balanced, < 1 exploration), S_dot =
mean_i (mu_i - D s_i) . s_i (entropy production per unit time), H_kde
and H_knn (entropy in nats, KDE and Kozachenko-Leonenko), T_eff =
tr(D) / (||mu|| / sqrt(N)), T_gibbs = (c + b) / eta, mu_rms = ||mu|| /
sqrt(N), and reset (1 when a reset followed the step).
"""

import ctypes

import numpy as np

from . import _arrays, _lib
from .landscape import Landscape, from_callable
from .rng import normals

__all__ = ["Dynamics", "FokkerPlanckDynamics", "normal_ensemble",
           "default_options", "METRIC_NAMES", "set_threads"]

# The fields of fpf_metrics, in order: the keys of every metrics dict.
METRIC_NAMES = tuple(f for f, _ in _lib.fpf_metrics._fields_)

_CTYPE_TO_NP = {ctypes.c_long: np.int64, ctypes.c_double: np.float64,
                ctypes.c_int: np.int32}
METRICS_DTYPE = np.dtype({
    "names": list(METRIC_NAMES),
    "formats": [_CTYPE_TO_NP[t] for _, t in _lib.fpf_metrics._fields_],
    "offsets": [getattr(_lib.fpf_metrics, f).offset for f in METRIC_NAMES],
    "itemsize": ctypes.sizeof(_lib.fpf_metrics),
})

# Python keyword -> field of fpf_dyn_options.  Aliases: the source
# document's names (eta_0, D_0, lambda_reg).
_FLOAT_OPTS = {"eta0": "eta0", "tau_eta": "tau_eta", "lambda_reg": "lambda",
               "D0": "D0", "tau_D": "tau_D", "gamma": "gamma", "dt": "dt",
               "C_threshold": "C_threshold", "alpha_reset": "alpha_reset",
               "beta_reset": "beta_reset"}
_INT_OPTS = {"knn_k": "knn_k", "warmup": "warmup", "cooldown": "cooldown",
             "seed": "seed"}
_BOOL_OPTS = {"leave_one_out": "leave_one_out",
              "flux_divergence": "flux_divergence", "resets": "resets",
              "single_precision": "single_precision"}
_ALIASES = {"eta_0": "eta0", "D_0": "D0", "lambda_": "lambda_reg",
            "lam": "lambda_reg", "enable_resets": "resets"}


def set_threads(n):
    """Sets the threads of fpflow's loops (process-wide).  Results do not
    depend on it: sums over particles run in a fixed order."""
    _lib.fn.fpf_set_threads(int(n))


def default_options():
    """The reference defaults of every option, as a dict."""
    o = _lib.fpf_dyn_options()
    _lib.fn.fpf_dyn_options_init(ctypes.byref(o))
    return _options_dict(o)


def _options_dict(o):
    rev_e = {v: k for k, v in _lib.ENTROPY_FORMS.items()}
    rev_b = {v: k for k, v in _lib.BANDWIDTH_RULES.items()}
    rev_t = {v: k for k, v in _lib.TRIGGERS.items()}
    d = {k: getattr(o, f) for k, f in _FLOAT_OPTS.items()}
    d.update({k: int(getattr(o, f)) for k, f in _INT_OPTS.items()})
    d.update({k: bool(getattr(o, f)) for k, f in _BOOL_OPTS.items()})
    d["entropy_form"] = rev_e[o.entropy_form]
    d["bandwidth"] = (o.bandwidth if o.bandwidth_rule == 0
                      else rev_b[o.bandwidth_rule])
    d["trigger"] = rev_t[o.trigger]
    d["kde_method"] = {v: k for k, v in _lib.KDE_METHODS.items()}[
        o.kde_method]
    return d


def _pick(table, value, what):
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ValueError("option %s = %r: expected one of %s" %
                         (what, value, ", ".join(sorted(table)))) from None


def _make_options(kw):
    """fpf_dyn_options from keywords, checked by the library."""
    o = _lib.fpf_dyn_options()
    _lib.fn.fpf_dyn_options_init(ctypes.byref(o))
    for key, value in kw.items():
        key = _ALIASES.get(key, key)
        if key in _FLOAT_OPTS:
            setattr(o, _FLOAT_OPTS[key], float(value))
        elif key in _INT_OPTS:
            iv = int(value)
            if iv != value or (key in ("knn_k", "seed") and iv < 0):
                raise ValueError("option %s = %r: expected an integer%s" %
                                 (key, value, " >= 0" if iv < 0 else ""))
            setattr(o, _INT_OPTS[key], iv)
        elif key in _BOOL_OPTS:
            setattr(o, _BOOL_OPTS[key], 1 if value else 0)
        elif key == "entropy_form":
            o.entropy_form = _pick(_lib.ENTROPY_FORMS, value, key)
        elif key == "trigger":
            o.trigger = _pick(_lib.TRIGGERS, value, key)
        elif key == "kde_method":
            o.kde_method = _pick(_lib.KDE_METHODS, value, key)
        elif key == "bandwidth":
            if isinstance(value, str):
                o.bandwidth_rule = _pick(_lib.BANDWIDTH_RULES, value, key)
            else:
                o.bandwidth_rule = 0
                o.bandwidth = float(value)
        else:
            known = sorted(set(_FLOAT_OPTS) | set(_INT_OPTS) |
                           set(_BOOL_OPTS) | set(_ALIASES) |
                           {"entropy_form", "trigger", "bandwidth",
                            "kde_method"})
            raise TypeError("unknown option %r; the options are: %s" %
                            (key, ", ".join(known)))
    err = _lib.fpf_error()
    _lib.check(_lib.fn.fpf_dyn_options_check(ctypes.byref(o),
                                             ctypes.byref(err)), err)
    return o


def normal_ensemble(n, d, seed=42, mean=0.0, std=1.0):
    """n particles in R^d drawn from N(mean, std^2 I) by fpflow's Philox
    generator, exactly as ``fpflow run`` draws its initial ensemble
    (init = normal) for the same seed."""
    z = np.empty((int(n), int(d)))
    for i in range(z.shape[0]):
        z[i] = normals(seed, _lib.ENUMS["FPF_STREAM_INIT"], 0, i, d)
    return mean + std * z if (mean != 0.0 or std != 1.0) else z


def metrics_dict(rows):
    """A dict of arrays (one per fpf_metrics field) from a METRICS_DTYPE
    array, plus "transitions": the steps after which a reset fired."""
    out = {name: np.array(rows[name]) for name in METRIC_NAMES}
    out["reset"] = out["reset"].astype(bool)
    out["transitions"] = out["step"][out["reset"]]
    return out


class Dynamics:
    """Fokker-Planck particle dynamics on a landscape.

    Dynamics(landscape, z0=None, *, n=None, **options)

    landscape: an fpflow Landscape, or a Python callable z -> (values,
      gradients) for a batch (then d is taken from z0).
    z0: initial particles (n, d); float64 C-ordered arrays are used
      without a copy (the library copies them once into its own state),
      other float arrays are converted.  With z0 None and n given, n
      particles are drawn from N(0, I) as ``fpflow run`` does; with
      neither, the dynamics starts at the first train_epoch().
    options (defaults are the source's): eta0 (eta_0) 0.01, tau_eta 1000,
      lambda_reg 0.001, D0 (D_0) 1.0, tau_D 500, gamma 0.05, dt 0.01,
      entropy_form "source" | "wasserstein", bandwidth 0.1 or a rule
      "scott" | "silverman" | "median", leave_one_out False, kde_method
      "auto" | "exact" | "binned" (binned sums for large n in d <= 3),
      knn_k 3,
      flux_divergence False, single_precision False (products in float,
      the KDE's when d > 8 and the d x d ones when d > 32: about twice
      as fast, relative accuracy ~1e-6), resets
      True (enable_resets), trigger "C" |
      "C_vel", C_threshold 0.5, alpha_reset 0.2, beta_reset 3.0, warmup 10,
      cooldown 10, seed 42.
    """

    def __init__(self, landscape, z0=None, *, n=None, d=None, **options):
        if not isinstance(landscape, Landscape):
            if not callable(landscape):
                raise TypeError("landscape: expected an fpflow Landscape or "
                                "a callable, got %s" %
                                type(landscape).__name__)
            if d is None:
                if z0 is None:
                    raise ValueError("a callable landscape needs d= or z0 "
                                     "to know the dimension")
                d = np.shape(z0)[-1]
            landscape = from_callable(landscape, d)
        self.landscape = landscape
        self._kw = dict(options)
        self._opt = _make_options(self._kw)
        self._h = None
        self._epochs = 0
        self._metric = _lib.fpf_metrics()
        if z0 is None and n is not None:
            z0 = normal_ensemble(n, self.d, self._opt.seed)
        if z0 is not None:
            self._create(z0, self._opt)

    # -- lifetime ------------------------------------------------------

    def _create(self, z0, opt):
        z0 = _arrays.as_input(z0, "z0", (None, self.d))
        if z0.shape[0] < 2:
            raise ValueError("z0: needs at least 2 particles, got %d" %
                             z0.shape[0])
        h = ctypes.c_void_p()
        err = _lib.fpf_error()
        st = _lib.fn.fpf_dyn_create(ctypes.byref(h), self.landscape._h,
                                    z0.shape[0], _arrays.ptr(z0),
                                    ctypes.byref(opt), ctypes.byref(err))
        _lib.check(st, err)
        self.close()
        self._h = h
        self._cur = opt

    def close(self):
        """Frees the library's state now (also done when collected)."""
        h, self._h = getattr(self, "_h", None), None
        if h is not None and h.value and _lib is not None:
            _lib.fn.fpf_dyn_destroy(h)

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _need(self):
        if self._h is None:
            raise RuntimeError("Dynamics has no particles yet: pass z0 (or "
                               "n) or call train_epoch(z)")
        return self._h

    # -- facts ---------------------------------------------------------

    @property
    def d(self):
        """Dimension of the latent space."""
        return self.landscape.dim

    @property
    def n(self):
        """Number of particles."""
        return int(_lib.fn.fpf_dyn_size(self._need()))

    @property
    def steps_done(self):
        """Steps taken since the particles were set by z0 or train_epoch."""
        return int(_lib.fn.fpf_dyn_steps_done(self._need()))

    @property
    def options(self):
        """The options in force, every one resolved."""
        return _options_dict(self._cur if self._h is not None else
                             self._opt)

    @property
    def particles(self):
        """A copy of the current particles (n, d), float64."""
        h = self._need()
        return _arrays.copy_from(_lib.fn.fpf_dyn_particles(h),
                                 (self.n, self.d))

    def set_particles(self, z):
        """Overwrites the particles with z (n, d); NaN and Inf are refused
        with the library's message.  The clock and the RNG counter go on."""
        h = self._need()
        z = _arrays.as_input(z, "z", (self.n, self.d))
        err = _lib.fpf_error()
        _lib.check(_lib.fn.fpf_dyn_set_particles(h, _arrays.ptr(z),
                                                 ctypes.byref(err)), err)

    # -- stepping ------------------------------------------------------

    def _step_into(self, h, m_ref):
        err = _lib.fpf_error()
        st = _lib.fn.fpf_dyn_step(h, m_ref, ctypes.byref(err))
        if st != 0:
            try:
                _lib.raise_for(st, err)
            except _lib.Error as e:
                self.landscape._raise_pending(e)

    def step(self):
        """One Euler-Maruyama step; returns its metrics as a dict of
        floats (see the module's documentation).  On failure the particles
        stay as they were and the exception carries the library's message,
        which names the step."""
        h = self._need()
        self._step_into(h, ctypes.byref(self._metric))
        m = self._metric
        out = {f: getattr(m, f) for f in METRIC_NAMES}
        out["reset"] = bool(out["reset"])
        return out

    def run(self, n_steps, callback=None):
        """n_steps steps; returns a dict of metric arrays (n_steps each)
        plus "transitions", the steps after which a reset fired.

        callback(step_metrics_row), if given, is called after each step
        with that step's row (a numpy record); returning True stops the
        run early (the arrays then have the rows done).  If a step fails,
        the exception is raised and ``exc.metrics`` holds the rows done.
        """
        h = self._need()
        n_steps = int(n_steps)
        if n_steps < 0:
            raise ValueError("n_steps = %d must be >= 0" % n_steps)
        buf = (_lib.fpf_metrics * max(n_steps, 1))()
        rows = np.frombuffer(buf, dtype=METRICS_DTYPE)[:n_steps]
        done = 0
        try:
            for k in range(n_steps):
                # buf[k] shares the array's memory: no allocation
                self._step_into(h, ctypes.byref(buf[k]))
                done = k + 1
                if callback is not None and callback(rows[k]):
                    break
        except BaseException as e:
            e.metrics = metrics_dict(rows[:done].copy())
            raise
        return metrics_dict(rows[:done].copy())

    def reset(self):
        """Applies a reset now, as the trigger would: a fraction
        alpha_reset of the particles is redrawn from N(m, 1.5 Sigma) of the
        ensemble and the diffusion gets the boost beta_reset c(t)."""
        err = _lib.fpf_error()
        _lib.check(_lib.fn.fpf_dyn_reset(self._need(), ctypes.byref(err)),
                   err)

    def train_epoch(self, z, n_steps=100, dt=None, seed=None):
        """The source's FokkerPlanckDynamics.train_epoch: evolve z for
        n_steps steps from t = 0, with resets, and return (z_final,
        metrics).

        z (n, d) is the initial ensemble (copied by the library).  dt
        overrides the option for this and later epochs.  seed defaults to
        the option's seed plus the number of earlier train_epoch calls, so
        that consecutive epochs draw different noise; the first call equals
        ``fpflow run`` with the same options and seed.  z_final has z's
        dtype (float32 in, float32 out); metrics is the dict of arrays of
        run() with "C", "S_dot" and "transitions" as in the source.
        """
        src_dtype = getattr(z, "dtype", None)
        kw = dict(self._kw)
        if dt is not None:
            kw["dt"] = dt
            self._kw["dt"] = dt
        kw["seed"] = (self._opt.seed + self._epochs) if seed is None \
            else seed
        opt = _make_options(kw)
        self._create(z, opt)
        self._epochs += 1
        metrics = self.run(n_steps)
        zf = self.particles
        if src_dtype is not None and np.dtype(src_dtype) == np.float32:
            zf = zf.astype(np.float32)
        return zf, metrics

    # -- the flow of the last step ---------------------------------------

    def flow(self):
        """Copies of the flow of the last step, at the particles it started
        from: log_density (n,), score (n, d) = grad log rho, drift mu
        (n, d), flux J = rho (mu - D s) (n, d), diffusion D (d, d), fisher
        F (d, d), cholesky factor of D (d, d), and divergence (n,) of J
        when flux_divergence is on (else None)."""
        f = _lib.fn.fpf_dyn_flow(self._need())
        if self.steps_done == 0:
            raise RuntimeError("flow(): no step has been taken yet")
        n, d = self.n, self.d
        g = _lib.fn
        out = {
            "log_density": _arrays.copy_from(g.fpf_flow_log_density(f),
                                             (n,)),
            "score": _arrays.copy_from(g.fpf_flow_score(f), (n, d)),
            "drift": _arrays.copy_from(g.fpf_flow_drift(f), (n, d)),
            "flux": _arrays.copy_from(g.fpf_flow_flux(f), (n, d)),
            "diffusion": _arrays.copy_from(g.fpf_flow_diffusion(f), (d, d)),
            "fisher": _arrays.copy_from(g.fpf_flow_fisher(f), (d, d)),
            "cholesky": _arrays.copy_from(g.fpf_flow_cholesky(f), (d, d)),
        }
        div = g.fpf_flow_divergence(f)
        out["divergence"] = _arrays.copy_from(div, (n,)) if (
            div and self._cur.flux_divergence) else None
        return out


class FokkerPlanckDynamics(Dynamics):
    """The source document's constructor, on fpflow's engine:

    FokkerPlanckDynamics(loss_fn=f, latent_dim=d, eta_0=..., D_0=...,
                         lambda_reg=..., ...)

    loss_fn is an fpflow Landscape or a callable z (n, d) -> (values,
    gradients).  Everything else is Dynamics.
    """

    def __init__(self, loss_fn=None, latent_dim=None, model=None,
                 **options):
        if loss_fn is None:
            loss_fn = model
        if loss_fn is None:
            raise TypeError("FokkerPlanckDynamics needs loss_fn (a "
                            "Landscape or a callable)")
        if latent_dim is not None and (int(latent_dim) != latent_dim or
                                       latent_dim < 1):
            raise ValueError("FokkerPlanckDynamics: latent_dim = %r must be "
                             "a whole number >= 1" % (latent_dim,))
        super().__init__(loss_fn, d=latent_dim, **options)

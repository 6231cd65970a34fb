"""PyTorch integration: fpflow's observables on a network's latents, and
shrink-and-perturb resets.

  LatentProbe(model, module, x, y)   captures `module`'s output on a fixed
                                     probe batch (a forward hook), with the
                                     per-sample loss gradients w.r.t. it
  FPETorchWrapper(model, latent_extractor, ...)
                                     the source's wrapper:
                                     consolidation_ratio(z, epoch),
                                     C_threshold, apply_reset(model, alpha)
  apply_reset(model, alpha)          theta <- (1 - alpha) theta
                                              + alpha theta_fresh

The observables are those of fpflow.flow: on probe latents z_i (N x d)
with per-sample gradients grad_i = d loss_i / d z_i,
  mu_i = -eta(t) (grad_i + lambda g_i), D = c(t) (I + gamma F),
  C = ||mu|| / ||D grad rho||, C_vel = ||mu|| / ||D grad log rho||,
with eta(t) = eta_0 / (1 + t / tau_eta), c(t) = D_0 exp(-t / tau_D) and
t the time the caller passes (the source passes the epoch).  Without
gradients the wrapper falls back to Kramers-Moyal estimates from two
consecutive snapshots of the same probe samples: mu_i = (z_i(t1) -
z_i(t0)) / (t1 - t0) and D = Cov(residual) / (2 (t1 - t0)), the residual
being each displacement minus the mean one; the density is then that of
the latents at t0 (Ito), as in fpflow.Monitor's trajectory mode.
"""

import contextlib
import copy
import math
import warnings

import numpy as np
import torch

from .flow import Flow

__all__ = ["LatentProbe", "FPETorchWrapper", "apply_reset"]


def _per_sample_ce(output, target):
    return torch.nn.functional.cross_entropy(output, target,
                                             reduction="none")


class LatentProbe:
    """The output of `module` (a submodule of `model`) on a fixed probe
    batch x, captured by a forward hook.

    LatentProbe(model, module, x, y=None, loss_fn=None)

    y and loss_fn give per-sample losses: loss_fn(model(x), y) must return
    one loss per sample (default: cross entropy with reduction="none").
    The latents are flattened to (N, d).  The probe runs the model in eval
    mode (dropout off, batch-norm statistics frozen) so that each sample's
    latent depends on that sample only, and restores the mode after.
    """

    def __init__(self, model, module, x, y=None, loss_fn=None):
        if not isinstance(module, torch.nn.Module):
            raise TypeError("LatentProbe: module must be a torch.nn.Module "
                            "inside the model")
        if not any(m is module for m in model.modules()):
            raise ValueError("LatentProbe: module is not part of the model")
        self.model, self.module = model, module
        self.x, self.y = x, y
        self.loss_fn = loss_fn or _per_sample_ce
        self._out = None
        self._handle = module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        if self._armed:
            self._out = output
        return None

    _armed = False

    def remove(self):
        """Removes the hook."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    @contextlib.contextmanager
    def _eval(self):
        was = self.model.training
        self.model.eval()
        self._armed = True
        try:
            yield
        finally:
            self._armed = False
            self._out = None
            self.model.train(was)

    def capture(self, grad=True):
        """Runs the model on the probe batch.  Returns a dict: z (N, d)
        latents; with grad and y, also grad (N, d), each sample's loss
        gradient with respect to its own latent, loss (N,) and accuracy
        (the fraction of argmax(output) == y).  Tensors are detached; the
        model's parameter gradients are not touched."""
        want = grad and self.y is not None
        with self._eval(), torch.set_grad_enabled(want):
            out = self.model(self.x)
            if self._out is None:
                raise RuntimeError("LatentProbe: the hooked module did not "
                                   "run in model(x)")
            z = self._out
            res = {"z": z.detach().reshape(z.shape[0], -1)}
            if self.y is not None:
                per = self.loss_fn(out, self.y)
                if per.dim() != 1 or per.shape[0] != z.shape[0]:
                    raise ValueError("LatentProbe: loss_fn must return one "
                                     "loss per sample, got shape %s" %
                                     tuple(per.shape))
                if want:
                    (g,) = torch.autograd.grad(per.sum(), z)
                    res["grad"] = g.detach().reshape(z.shape[0], -1)
                res["loss"] = per.detach()
                if out.dim() == 2:
                    res["accuracy"] = float(
                        (out.argmax(1) == self.y).float().mean())
        return res

    def __call__(self, x=None):
        """Latents (N, d) of x (default: the probe batch), as a
        latent_extractor."""
        if x is None:
            return self.capture(grad=False)["z"]
        with self._eval(), torch.no_grad():
            self.model(x)
            z = self._out
            return z.reshape(z.shape[0], -1).detach()


def _numpy(t):
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        t = t.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype not in (torch.float32, torch.float64):
            t = t.double()
        return t.numpy()
    return np.asarray(t)


def apply_reset(model, alpha, seed=None):
    """Shrink and perturb: every parameter theta of every submodule that
    has a reset_parameters() method becomes (1 - alpha) theta + alpha
    theta_fresh, where theta_fresh is drawn by that layer's own
    initialiser (reset_parameters() on a deep copy of the layer).

    alpha in [0, 1]: 0 leaves the model exactly as it is; 1 gives fresh
    weights.  seed makes the fresh draw reproducible without touching the
    global torch generator's state (torch's generator is used otherwise).
    Buffers (batch-norm running statistics) are left as they are.
    Returns the names of the parameters that were reset; parameters of
    modules without reset_parameters() are left alone with a warning.
    """
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0 or math.isnan(alpha):
        raise ValueError("apply_reset: alpha = %g must be in [0, 1]" % alpha)
    if alpha == 0.0:
        return []
    done, skipped = [], []
    rng = torch.random.fork_rng(devices=[]) if seed is not None else \
        contextlib.nullcontext()
    with rng, torch.no_grad():
        if seed is not None:
            torch.manual_seed(int(seed))
        for name, m in model.named_modules():
            own = list(m.named_parameters(recurse=False))
            if not own:
                continue
            full = [(name + "." if name else "") + pn for pn, _ in own]
            if not callable(getattr(m, "reset_parameters", None)):
                skipped += full
                continue
            fresh = copy.deepcopy(m)
            fresh.reset_parameters()
            fp = dict(fresh.named_parameters(recurse=False))
            for (pn, p), fn in zip(own, full):
                if alpha == 1.0:
                    p.copy_(fp[pn])
                else:
                    p.mul_(1.0 - alpha).add_(fp[pn], alpha=alpha)
                done.append(fn)
    if skipped:
        warnings.warn("apply_reset: no reset_parameters() for %s; left "
                      "unchanged" % ", ".join(skipped))
    return done


class FPETorchWrapper:
    """The source's FPETorchWrapper on fpflow's engine.

    FPETorchWrapper(model, latent_extractor, eta_0=0.01, lambda_reg=0.001,
                    D_0=1.0, tau_eta=1000, tau_D=500, gamma=0.05,
                    enable_resets=True, C_threshold=0.5, alpha_reset=0.2,
                    trigger="C", bandwidth="median", entropy_form="source",
                    warmup=0, cooldown=0, seed=None, mode="model")

    latent_extractor: a callable x -> latents (such as model.get_latent)
    or a LatentProbe.  consolidation_ratio(z, epoch) returns C (the
    source's ratio); every call's full metrics go to self.history and
    self.last.  should_reset() compares the `trigger` ratio ("C" or
    "C_vel") with C_threshold, honouring warmup and cooldown (counted in
    calls of consolidation_ratio).  bandwidth "median" suits latents of
    any scale.  mode: how measure() gets the drift, "model" (the
    probe's per-sample loss gradients: the source's mu and F) or
    "trajectory" (Kramers-Moyal from consecutive measurements).
    """

    def __init__(self, model, latent_extractor, eta_0=0.01, lambda_reg=0.001,
                 D_0=1.0, tau_eta=1000.0, tau_D=500.0, gamma=0.05,
                 enable_resets=True, C_threshold=0.5, alpha_reset=0.2,
                 trigger="C", bandwidth="median", entropy_form="source",
                 warmup=0, cooldown=0, seed=None, mode="model"):
        if trigger not in ("C", "C_vel"):
            raise ValueError("trigger = %r: expected 'C' or 'C_vel'" %
                             (trigger,))
        if mode not in ("model", "trajectory"):
            raise ValueError("mode = %r: expected 'model' or 'trajectory'"
                             % (mode,))
        self.mode = mode
        self.model = model
        self.latent_extractor = latent_extractor
        self.eta_0, self.lambda_reg, self.D_0 = eta_0, lambda_reg, D_0
        self.tau_eta, self.tau_D, self.gamma = tau_eta, tau_D, gamma
        self.enable_resets = enable_resets
        self.C_threshold = C_threshold
        self.alpha_reset = alpha_reset
        self.trigger = trigger
        self.bandwidth = bandwidth
        self.entropy_form = entropy_form
        self.warmup, self.cooldown = warmup, cooldown
        self.seed = seed
        self.history = []
        self.last = None
        self.resets = []
        self._flow = None
        self._prev = None  # (t, z) for Kramers-Moyal

    def eta(self, t):
        """eta(t) = eta_0 / (1 + t / tau_eta)."""
        return self.eta_0 / (1.0 + t / self.tau_eta)

    def c(self, t):
        """c(t) = D_0 exp(-t / tau_D)."""
        return self.D_0 * math.exp(-t / self.tau_D)

    def _workspace(self, n, d):
        if self._flow is None or self._flow.n_max < n or self._flow.d != d:
            self._flow = Flow(n, d, knn_k=3)
        return self._flow

    def metrics(self, z, epoch, grad=None, loss=None):
        """All observables of the latents z (N, d) at time t = epoch (a
        dict as fpflow.flow_compute's, plus "epoch" and "mode").  With
        grad (N, d), the per-sample loss gradients, the source's drift
        and Fisher diffusion are used ("model" mode); without, the
        Kramers-Moyal estimates from the previous call's z ("trajectory"
        mode; the first such call gives NaN ratios)."""
        zn = _numpy(z)
        if zn.ndim != 2:
            zn = zn.reshape(zn.shape[0], -1)
        n, d = zn.shape
        t = float(epoch)
        f = self._workspace(n, d)
        common = dict(eta=self.eta(t), lambda_reg=self.lambda_reg,
                      c=self.c(t), gamma=self.gamma, h=self.bandwidth,
                      entropy_form=self.entropy_form)
        gn = _numpy(grad)
        ln = _numpy(loss)
        if gn is not None:
            m = f.compute(zn, grad=gn.reshape(n, d), loss=ln, **common)
            m["mode"] = "model"
        else:
            prev, self._prev = self._prev, (t, np.array(zn, np.float64))
            if prev is None or prev[1].shape != zn.shape or prev[0] >= t:
                m = {k: math.nan for k in ("C", "C_vel", "S_dot", "log_C",
                                           "log_C_vel")}
            else:
                # Ito: the flow is evaluated at the earlier latents, the
                # points the displacement moments are conditioned on (as
                # fpflow.Monitor does in trajectory mode)
                dt = t - prev[0]
                disp = zn - prev[1]
                drift = disp / dt
                res = disp - disp.mean(0)
                D = res.T @ res / (n - 1) / (2.0 * dt)
                m = f.compute(prev[1], loss=ln, drift=drift, diffusion=D,
                              **common)
            m["mode"] = "trajectory"
        m["epoch"] = t
        self.history.append(m)
        self.last = m
        return m

    def consolidation_ratio(self, z, epoch, grad=None, loss=None):
        """C = ||mu|| / ||D grad rho|| of the latents z (a torch tensor or
        an array, N x d) at time t = epoch.  See metrics()."""
        return self.metrics(z, epoch, grad, loss)["C"]

    def measure(self, epoch):
        """With a LatentProbe as latent_extractor: capture the probe's
        latents, gradients and losses, and return metrics() of them with
        "probe_loss" and "probe_accuracy" added."""
        if not isinstance(self.latent_extractor, LatentProbe):
            raise TypeError("measure() needs a LatentProbe as "
                            "latent_extractor")
        model_mode = self.mode == "model"
        cap = self.latent_extractor.capture(grad=model_mode)
        m = self.metrics(cap["z"], epoch, cap.get("grad") if model_mode
                         else None, cap.get("loss"))
        if "loss" in cap:
            m["probe_loss"] = float(cap["loss"].mean())
        if "accuracy" in cap:
            m["probe_accuracy"] = cap["accuracy"]
        return m

    def should_reset(self, m=None):
        """True when resets are on, the trigger ratio of m (default: the
        last metrics) is below C_threshold, at least `warmup` measurements
        were taken and `cooldown` have passed since the last reset."""
        m = self.last if m is None else m
        if not self.enable_resets or m is None:
            return False
        k = len(self.history) - 1
        if k < self.warmup:
            return False
        if self.resets and k - self.resets[-1] < self.cooldown:
            return False
        v = m.get(self.trigger, math.nan)
        return bool(v < self.C_threshold)

    def apply_reset(self, model=None, alpha=None, seed=None):
        """Shrink and perturb the model (default: the wrapped one) with
        alpha (default alpha_reset); see fpflow.torch.apply_reset.  With
        the wrapper's seed set, the k-th reset uses seed + k."""
        model = self.model if model is None else model
        alpha = self.alpha_reset if alpha is None else alpha
        if seed is None and self.seed is not None:
            seed = self.seed + len(self.resets)
        names = apply_reset(model, alpha, seed)
        self.resets.append(len(self.history) - 1)
        self._prev = None  # the latents jump: no Kramers-Moyal across it
        return names

"""The Python bindings against the C command line, analytic answers and
plain NumPy reference models; and every kind of bad input."""

import csv
import os
import subprocess

import numpy as np
import pytest

import fpflow

# metrics.csv columns that fpflow run writes, all fpf_metrics fields.
CSV_FLOATS = ("t", "eta", "c", "boost", "h", "loss_mean", "C", "log_C",
              "C_vel", "log_C_vel", "S_dot", "H_kde", "H_knn", "T_eff",
              "T_gibbs", "mu_rms", "div_max")


def cli_run(cli, out, *sets):
    args = [cli, "run", "-q", "-o", str(out), "--set", "figure=false"]
    for s in sets:
        args += ["--set", s]
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(out, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    cols = {k: np.array([float(r[k]) for r in rows]) for k in CSV_FLOATS}
    cols["step"] = np.array([int(r["step"]) for r in rows])
    cols["reset"] = np.array([r["reset"] == "1" for r in rows])
    return cols


def assert_same_metrics(py, c):
    """Bit for bit: the CLI prints %.17g, which reads back exactly."""
    assert np.array_equal(py["step"], c["step"])
    assert np.array_equal(py["reset"], c["reset"])
    for k in CSV_FLOATS:
        assert np.array_equal(py[k], c[k], equal_nan=True), k


# ---- Python equals C -----------------------------------------------------

def test_quickstart_equals_fpflow_run(fpflow_cli, tmp_path):
    """The source's quick start (two wells, 500 particles, 100 steps,
    eta0 0.1, D0 0.5, seed 42) through train_epoch gives the same numbers
    as `fpflow run`, bit for bit: metrics, initial and final particles."""
    c = cli_run(fpflow_cli, tmp_path, "n=500", "steps=100", "seed=42",
                "eta0=0.1", "D0=0.5", "landscape=two_wells")
    z0 = fpflow.normal_ensemble(500, 2, seed=42)
    assert np.array_equal(z0, np.load(tmp_path / "z_initial.npy"))
    dyn = fpflow.Dynamics(fpflow.two_wells(), eta0=0.1, D0=0.5, seed=42)
    zf, m = dyn.train_epoch(z0, n_steps=100, dt=0.01)
    assert_same_metrics(m, c)
    assert np.array_equal(zf, np.load(tmp_path / "z_final.npy"))


def test_options_and_resets_equal_fpflow_run(fpflow_cli, tmp_path):
    """Every option that changes the arithmetic (bandwidth rule, entropy
    form, trigger, flux divergence, reset parameters) maps to the same C
    field as the command line's key: resets fire at the same steps and
    the particles agree bit for bit."""
    sets = ["landscape=quadratic", "d=5", "n=200", "steps=60", "seed=7",
            "eta0=0.05", "D0=0.3", "bandwidth=median",
            "entropy_form=wasserstein", "trigger=C_vel", "C_threshold=1e6",
            "flux_divergence=true", "alpha_reset=0.3", "beta_reset=2",
            "warmup=5", "cooldown=20", "lambda=0.01", "gamma=0.1"]
    c = cli_run(fpflow_cli, tmp_path, *sets)
    dyn = fpflow.Dynamics(
        fpflow.quadratic(5), n=200, seed=7, eta0=0.05, D0=0.3,
        bandwidth="median", entropy_form="wasserstein", trigger="C_vel",
        C_threshold=1e6, flux_divergence=True, alpha_reset=0.3,
        beta_reset=2, warmup=5, cooldown=20, lambda_reg=0.01, gamma=0.1)
    m = dyn.run(60)
    # warm-up 5 and cool-down 20 with a trigger that always fires
    assert list(m["transitions"]) == [5, 25, 45]
    assert_same_metrics(m, c)
    assert np.array_equal(dyn.particles, np.load(tmp_path / "z_final.npy"))


def test_python_callable_equals_builtin_quadratic():
    """A Python landscape returning (0.5 |z|^2, z) gives the built-in
    quadratic's trajectory bit for bit (the gradients are the same
    numbers, so is every later step)."""
    def half_square(z):
        return 0.5 * np.einsum("ij,ij->i", z, z), z.copy()

    z0 = fpflow.normal_ensemble(300, 3, seed=3)
    opts = dict(eta0=0.2, D0=0.1, seed=11, C_threshold=1e6)
    a = fpflow.Dynamics(fpflow.quadratic(3), z0, **opts)
    b = fpflow.Dynamics(half_square, z0, **opts)
    ma, mb = a.run(80), b.run(80)
    assert b.landscape.name == "callback"
    assert len(ma["transitions"]) > 0  # resets are part of the trajectory
    assert np.array_equal(a.particles, b.particles)
    for k in ("C", "C_vel", "S_dot", "H_kde", "mu_rms", "reset"):
        assert np.array_equal(ma[k], mb[k]), k
    np.testing.assert_allclose(ma["loss_mean"], mb["loss_mean"],
                               rtol=1e-13)


def test_step_run_and_set_particles_continue_the_clock():
    dyn = fpflow.Dynamics(fpflow.two_wells(), n=50, eta0=0.1, resets=False)
    m0 = dyn.step()
    m = dyn.run(4)
    assert m0["step"] == 0 and list(m["step"]) == [1, 2, 3, 4]
    assert dyn.steps_done == 5
    # eta(t) = eta0 / (1 + t / tau_eta), c(t) = D0 exp(-t / tau_D)
    t = 4 * 0.01
    assert m["t"][-1] == pytest.approx(t, rel=1e-15)
    assert m["eta"][-1] == pytest.approx(0.1 / (1 + t / 1000), rel=1e-15)
    assert m["c"][-1] == pytest.approx(np.exp(-t / 500), rel=1e-15)
    z = dyn.particles
    dyn.set_particles(z + 1.0)
    np.testing.assert_array_equal(dyn.particles, z + 1.0)
    f = dyn.flow()
    assert f["score"].shape == (50, 2) and f["diffusion"].shape == (2, 2)
    # D = Lc Lc^T
    np.testing.assert_allclose(f["cholesky"] @ f["cholesky"].T,
                               f["diffusion"], rtol=1e-12)


def test_results_do_not_depend_on_threads():
    z0 = fpflow.normal_ensemble(400, 4, seed=5)
    out = []
    for t in (1, 2):
        fpflow.set_threads(t)
        d = fpflow.Dynamics(fpflow.quadratic(4), z0, bandwidth="scott")
        out.append((d.run(10)["C"], d.particles))
    assert np.array_equal(out[0][0], out[1][0])
    assert np.array_equal(out[0][1], out[1][1])


def test_float32_input_is_converted_and_returned_as_float32():
    z0 = fpflow.normal_ensemble(100, 2, seed=1).astype(np.float32)
    dyn = fpflow.Dynamics(fpflow.two_wells())
    zf32, m32 = dyn.train_epoch(z0, 10, seed=9)
    zf64, m64 = dyn.train_epoch(z0.astype(np.float64), 10, seed=9)
    assert zf32.dtype == np.float32 and zf64.dtype == np.float64
    assert np.array_equal(m32["C"], m64["C"])
    assert np.array_equal(zf32, zf64.astype(np.float32))


def test_consecutive_epochs_draw_different_noise():
    z0 = fpflow.normal_ensemble(100, 2, seed=1)
    dyn = fpflow.Dynamics(fpflow.two_wells(), seed=42)
    a, _ = dyn.train_epoch(z0, 5)
    b, _ = dyn.train_epoch(z0, 5)
    c, _ = fpflow.Dynamics(fpflow.two_wells(), seed=43).train_epoch(z0, 5)
    assert not np.array_equal(a, b)
    assert np.array_equal(b, c)  # the second epoch used seed + 1


# ---- landscapes, KDE and the flow against formulas ----------------------

def test_builtin_landscapes_match_their_formulas():
    z = np.array([[0.0, 0.0], [-2.0, 0.0], [1.5, -0.5]])
    v, g = fpflow.two_wells().evaluate(z)
    w1 = ((z[:, 0] + 2) ** 2 + z[:, 1] ** 2) / 2
    w2 = ((z[:, 0] - 2) ** 2 + (z[:, 1] - 1) ** 2) / 2
    np.testing.assert_allclose(v, -np.logaddexp(-w1, -w2), rtol=1e-12)
    p1 = 1 / (1 + np.exp(w1 - w2))  # softmax weight of well 1
    g_ref = (p1[:, None] * np.c_[z[:, 0] + 2, z[:, 1]] +
             (1 - p1)[:, None] * np.c_[z[:, 0] - 2, z[:, 1] - 1])
    np.testing.assert_allclose(g, g_ref, rtol=1e-13, atol=1e-15)
    A = np.array([[2.0, 0.5], [0.5, 1.0]])
    m = np.array([1.0, -1.0])
    v, g = fpflow.quadratic(2, m, A).evaluate(z)
    dz = z - m
    np.testing.assert_allclose(v, 0.5 * np.einsum("ij,jk,ik->i", dz, A, dz),
                               rtol=1e-14)
    np.testing.assert_allclose(g, dz @ A, rtol=1e-14)


def _kde_reference(z, x, h):
    """Plain NumPy, in log space: log rho and the score at x."""
    n, d = z.shape
    e = -((x[:, None, :] - z[None, :, :]) ** 2).sum(-1) / (2 * h * h)
    mx = e.max(1, keepdims=True)
    w = np.exp(e - mx)
    lr = (mx[:, 0] + np.log(w.sum(1)) - np.log(n)
          - 0.5 * d * np.log(2 * np.pi * h * h))
    w /= w.sum(1, keepdims=True)
    s = (w @ z - x) / (h * h)
    return lr, s


def test_kde_single_source_is_a_gaussian():
    """One source z0: log rho(x) = -|x - z0|^2 / (2 h^2) - (d/2) log(2 pi
    h^2) and s(x) = (z0 - x) / h^2 exactly."""
    z0 = np.array([[0.5, -1.0, 2.0]])
    x = np.array([[0.0, 0.0, 0.0], [0.5, -1.0, 2.5]])
    h = 0.7
    lr, s = fpflow.kde(z0, x, h)
    ref = -((x - z0) ** 2).sum(1) / (2 * h * h) - 1.5 * np.log(
        2 * np.pi * h * h)
    np.testing.assert_allclose(lr, ref, rtol=1e-14)
    np.testing.assert_allclose(s, (z0 - x) / (h * h), rtol=1e-13)


@pytest.mark.parametrize("d,h", [(2, 0.3), (50, 0.1)])
def test_kde_matches_a_numpy_reference(d, h):
    """At d = 50 and h = 0.1 every kernel value underflows: log rho must
    still be finite and agree with the log-space reference."""
    rng = np.random.default_rng(d)
    z = rng.normal(size=(120, d))
    lr = fpflow.kde_log_density(z, h=h)
    s = fpflow.kde_score(z, h=h)
    lr_ref, s_ref = _kde_reference(z, z, h)
    assert np.isfinite(lr).all()
    np.testing.assert_allclose(lr, lr_ref, rtol=1e-12)
    np.testing.assert_allclose(s, s_ref, rtol=1e-9, atol=1e-9 / h ** 2)


def test_kde_out_arrays_are_filled_in_place():
    z = np.random.default_rng(0).normal(size=(30, 2))
    out = np.zeros(30)
    r = fpflow.kde_log_density(z, h=0.5, out=out)
    assert r is out
    np.testing.assert_allclose(out, _kde_reference(z, z, 0.5)[0],
                               rtol=1e-12)


def test_median_bandwidth_rule():
    """h^2 = median_{i<j} |z_i - z_j|^2 / (2 log(n + 1)), exact for small
    n."""
    z = np.random.default_rng(1).normal(size=(40, 3))
    i, j = np.triu_indices(40, 1)
    d2 = ((z[i] - z[j]) ** 2).sum(1)
    h = np.sqrt(np.median(d2) / (2 * np.log(41)))
    assert fpflow.bandwidth(z, "median") == pytest.approx(h, rel=1e-12)


def test_flow_observables_match_their_definitions():
    """C, C_vel and S_dot from fpflow.flow_compute against NumPy built
    from the definitions (source entropy form, D = c (I + gamma F))."""
    rng = np.random.default_rng(2)
    n, d, h = 80, 3, 0.6
    z = rng.normal(size=(n, d))
    grad = z @ np.diag([1.0, 2.0, 3.0])
    eta, lam, c, gamma = 0.3, 0.05, 0.7, 0.2
    m = fpflow.flow_compute(z, grad, eta=eta, lambda_reg=lam, c=c,
                            gamma=gamma, h=h, arrays=True)
    lr, s = _kde_reference(z, z, h)
    rho = np.exp(lr)
    grad_rho = rho[:, None] * s
    g = -grad_rho * (1 + lr)[:, None]
    mu = -eta * (grad + lam * g)
    F = grad.T @ grad / n
    D = c * (np.eye(d) + gamma * F)
    np.testing.assert_allclose(m["fisher"], F, rtol=1e-12)
    np.testing.assert_allclose(m["drift"], mu, rtol=1e-10)
    C = np.linalg.norm(mu) / np.linalg.norm(grad_rho @ D)
    C_vel = np.linalg.norm(mu) / np.linalg.norm(s @ D)
    S_dot = np.mean(((mu - s @ D) * s).sum(1))
    assert m["C"] == pytest.approx(C, rel=1e-10)
    assert m["C_vel"] == pytest.approx(C_vel, rel=1e-10)
    assert m["S_dot"] == pytest.approx(S_dot, rel=1e-10)


def test_normals_are_standard_normal():
    x = fpflow.normals(1, fpflow.rng.STREAM_USER, 0, 0, 200000)
    # mean and variance within 5 standard errors
    assert abs(x.mean()) < 5 / np.sqrt(x.size)
    assert abs(x.var() - 1) < 5 * np.sqrt(2 / x.size)
    assert np.array_equal(x, fpflow.normals(1, 16, 0, 0, 200000))


# ---- detection -----------------------------------------------------------

def _series(n=60, drop=30, spike=30):
    C = np.ones(n)
    C[drop:] = 0.2
    S = np.zeros(n)
    S[spike] = 10.0
    loss = np.full(n, 0.5)
    return C, S, loss


def test_detect_finds_the_planted_transition():
    """C drops at row 30, S_dot spikes at 30, the loss is flat: row 30."""
    C, S, loss = _series()
    rows, flags = fpflow.detect_transitions(C, S, loss, flags=True)
    assert list(rows) == [30]
    assert flags["drop"].sum() == 1 and flags["spike"].sum() == 1
    # the spike one row late: found only with a tolerance of 1
    C, S, loss = _series(spike=31)
    assert list(fpflow.detect_transitions(C, S, loss)) == []
    assert list(fpflow.detect_transitions(C, S, loss, tolerance=1)) == [30]
    m = {"C": C, "S_dot": S, "loss_mean": loss}
    assert list(fpflow.detect_transitions(m, tolerance=1)) == [30]


def test_detect_refuses_nan_and_bad_options():
    C, S, loss = _series()
    S[7] = np.nan
    with pytest.raises(fpflow.NonFiniteError, match="row 7"):
        fpflow.detect_transitions(C, S, loss)
    with pytest.raises(fpflow.InvalidArgumentError, match="window = 0"):
        fpflow.detect_transitions(*_series(), window=0)
    with pytest.raises(TypeError, match="unknown option"):
        fpflow.detect_transitions(*_series(), windw=3)
    with pytest.raises(ValueError, match=r"expected shape \(60,\)"):
        fpflow.detect_transitions(C, S[:10], loss)


# ---- bad input -----------------------------------------------------------

Z = fpflow.normal_ensemble(50, 2, seed=4)


@pytest.mark.parametrize("bad", [
    Z.astype(np.int64), Z.astype(np.complex128), Z.astype(np.float16),
    Z.astype(object), Z > 0])
def test_wrong_dtypes_are_refused(bad):
    with pytest.raises(TypeError, match="z0: dtype"):
        fpflow.Dynamics(fpflow.two_wells(), bad)
    with pytest.raises(TypeError, match="z: dtype"):
        fpflow.kde_log_density(bad)


@pytest.mark.parametrize("bad,what", [
    (Z[:, :1], r"z0: expected shape \(n, 2\), got \(50, 1\)"),
    (Z.ravel(), r"z0: expected shape \(n, 2\), got \(100,\)"),
    (Z[None], r"z0: expected shape \(n, 2\), got \(1, 50, 2\)"),
    (Z[:1], "at least 2 particles")])
def test_wrong_shapes_are_refused(bad, what):
    with pytest.raises(ValueError, match=what):
        fpflow.Dynamics(fpflow.two_wells(), bad)


def test_wrong_shapes_elsewhere():
    dyn = fpflow.Dynamics(fpflow.two_wells(), Z)
    with pytest.raises(ValueError, match=r"expected shape \(50, 2\)"):
        dyn.set_particles(Z[:10])
    with pytest.raises(ValueError, match=r"x: expected shape \(n, 2\)"):
        fpflow.kde_log_density(Z, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="A: expected shape"):
        fpflow.quadratic(3, A=np.eye(2))


def test_non_contiguous_inputs_are_converted_or_refused():
    big = fpflow.normal_ensemble(100, 4, seed=8)
    view = big[::2, 1:3]  # strided: 50 x 2
    assert not view.flags.c_contiguous
    a = fpflow.kde_log_density(view, h=0.4)
    b = fpflow.kde_log_density(np.ascontiguousarray(view), h=0.4)
    assert np.array_equal(a, b)
    fortran = np.asfortranarray(Z)
    assert np.array_equal(fpflow.kde_log_density(fortran, h=0.4),
                          fpflow.kde_log_density(Z, h=0.4))
    with fpflow.no_copy():
        fpflow.kde_log_density(Z, h=0.4)  # C-ordered float64: no copy
        for bad, why in ((view, "not C-contiguous"),
                         (Z.astype(np.float32), "is float32"),
                         (Z.astype(">f8"), "is >f8")):
            with pytest.raises(fpflow.CopyRequiredError, match=why):
                fpflow.kde_log_density(bad)
    # results cannot go to a view: they would be written to a copy
    with pytest.raises(ValueError, match="non-contiguous array cannot"):
        fpflow.kde_log_density(Z, h=0.4, out=np.empty(100)[::2])
    with pytest.raises(TypeError, match="results are float64"):
        fpflow.kde_log_density(Z, h=0.4, out=np.empty(50, np.float32))


def test_nan_and_inf_are_refused_with_the_library_message():
    bad = Z.copy()
    bad[5, 1] = np.nan
    with pytest.raises(fpflow.NonFiniteError,
                       match="initial ensemble: particle 5, coordinate 1 "
                             "is nan"):
        fpflow.Dynamics(fpflow.two_wells(), bad)
    with pytest.raises(fpflow.NonFiniteError,
                       match="z: NaN at row 5, column 1"):
        fpflow.kde_log_density(bad)
    bad[7, 0] = -np.inf
    with pytest.raises(fpflow.NonFiniteError,
                       match=r"NaN at row 5, column 1 \(2 non-finite"):
        fpflow.flow_compute(bad, np.zeros_like(bad))
    dyn = fpflow.Dynamics(fpflow.two_wells(), Z)
    with pytest.raises(fpflow.NonFiniteError, match="new particles"):
        dyn.set_particles(bad)
    np.testing.assert_array_equal(dyn.particles, Z)


def test_bad_options_carry_the_library_message():
    with pytest.raises(fpflow.InvalidArgumentError,
                       match="option eta0 = -1: must be a finite number"):
        fpflow.Dynamics(fpflow.two_wells(), Z, eta0=-1)
    with pytest.raises(TypeError, match="unknown option 'eta'"):
        fpflow.Dynamics(fpflow.two_wells(), Z, eta=0.1)
    with pytest.raises(ValueError, match="option bandwidth = 'mean'"):
        fpflow.Dynamics(fpflow.two_wells(), Z, bandwidth="mean")
    e = pytest.raises(fpflow.Error, fpflow.Dynamics, fpflow.two_wells(), Z,
                      dt=0).value
    assert e.status_name == "FPF_EINVAL" and "dt = 0" in str(e)


def test_indefinite_diffusion_names_gamma():
    dyn = fpflow.Dynamics(fpflow.quadratic(2), Z * 3, gamma=-5.0)
    with pytest.raises(fpflow.NotPositiveDefiniteError,
                       match=r"step 0 .*gamma = -5, lambda_max\(F\)"):
        dyn.step()
    assert dyn.steps_done == 0


def test_failing_python_landscape():
    calls = []

    def flaky(z):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("out of coffee")
        return 0.5 * (z * z).sum(1), z.copy()

    dyn = fpflow.Dynamics(flaky, Z)
    dyn.run(2)
    before = dyn.particles
    with pytest.raises(fpflow.CallbackError,
                       match=r"step 2 .*RuntimeError: out of coffee") as e:
        dyn.run(5)
    assert isinstance(e.value.__cause__, RuntimeError)
    assert len(e.value.metrics["step"]) == 0  # no row of that run done
    np.testing.assert_array_equal(dyn.particles, before)

    def wrong(z):
        return np.zeros(len(z)), np.zeros((len(z), 3))

    with pytest.raises(fpflow.CallbackError, match=r"gradients have shape"):
        fpflow.Dynamics(wrong, Z).step()

    def nan_grad(z):
        return np.zeros(len(z)), np.full(z.shape, np.nan)

    with pytest.raises(fpflow.NonFiniteError,
                       match="gradient at point 0, coordinate 0 is nan"):
        fpflow.Dynamics(nan_grad, Z).step()


def test_callable_sees_a_read_only_view():
    seen = {}

    def peek(z):
        seen["writeable"] = z.flags.writeable
        seen["dtype"] = z.dtype
        return np.zeros(len(z)), z.copy()

    fpflow.Dynamics(peek, Z).step()
    assert seen == {"writeable": False, "dtype": np.float64}


# ---- files ---------------------------------------------------------------

def test_npy_round_trip_and_truncated_file(tmp_path):
    p = tmp_path / "z.npy"
    fpflow.write_npy(p, Z)
    assert np.array_equal(np.load(p), Z)
    assert np.array_equal(fpflow.read_npy(p), Z)
    np.save(tmp_path / "f4.npy", Z.astype(">f4"))
    assert np.array_equal(fpflow.read_npy(tmp_path / "f4.npy"),
                          Z.astype(np.float32).astype(np.float64))
    raw = p.read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:-8])
    with pytest.raises(fpflow.FormatError,
                       match=r"cut.npy.*expected 800 bytes of data, found "
                             r"792"):
        fpflow.read_npy(tmp_path / "cut.npy")
    with pytest.raises(fpflow.FileError, match="nothere.npy"):
        fpflow.read_npy(tmp_path / "nothere.npy")


# ---- parts built by other modules: skipped until the library has them ----

needs_w2 = pytest.mark.skipif(
    not fpflow.transport_available(),
    reason="libfpflow has no fpf_w2_distance yet (transport.h not built)")
needs_monitor = pytest.mark.skipif(
    not fpflow.monitor_available(),
    reason="libfpflow has no fpf_monitor_push yet (monitor.h not built)")


@needs_w2
@pytest.mark.parametrize("method", ["exact", "bures", "auto"])
def test_w2_of_a_shift_is_its_length(method):
    """W2(a, a + s) = |s| for any cloud a (the identity matching is
    optimal for a translation)."""
    a = fpflow.normal_ensemble(150, 3, seed=2)
    s = np.array([0.3, -1.2, 0.4])
    assert fpflow.w2(a, a + s, method) == pytest.approx(
        np.linalg.norm(s), rel=1e-9)


@needs_w2
def test_w2_bad_input():
    a = fpflow.normal_ensemble(20, 2, seed=2)
    with pytest.raises(fpflow.Error, match="dimension|d ="):
        fpflow.w2(a, np.zeros((20, 3)))
    bad = a.copy()
    bad[3, 1] = np.nan
    with pytest.raises(fpflow.NonFiniteError, match="b: NaN at row 3"):
        fpflow.w2(a, bad)
    with pytest.raises(ValueError, match="method 'best'"):
        fpflow.w2(a, a, "best")


def test_w2_unavailable_says_why():
    if fpflow.transport_available():
        pytest.skip("the library has W2")
    with pytest.raises(fpflow.UnavailableError, match="fpf_w2_distance"):
        fpflow.w2(Z, Z)


@needs_monitor
def test_monitor_model_mode_equals_flow_compute():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(60, 4))
    grad = 0.5 * z
    mon = fpflow.Monitor(60, 4, "model", eta=0.2, c=0.5, gamma=0.1,
                         bandwidth=0.8)
    m = mon.push(0, z, grad)
    ref = fpflow.flow_compute(z, grad, eta=0.2, c=0.5, gamma=0.1, h=0.8)
    for k in ("C", "C_vel", "S_dot", "H_kde"):
        assert m[k] == pytest.approx(ref[k], rel=1e-12), k
    mon.push(5, z + 0.1, grad)
    assert list(mon.history()["step"]) == [0, 5]


@needs_monitor
def test_monitor_trajectory_mode_primes_on_the_first_snapshot():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(80, 3))
    mon = fpflow.Monitor(80, 3, "trajectory")
    assert np.isnan(mon.push(0, z)["C"])
    m = mon.push(1, z + 0.05 + 0.01 * rng.normal(size=z.shape))
    assert np.isfinite(m["C_vel"])
    with pytest.raises(fpflow.NonFiniteError, match="z: NaN"):
        bad = z.copy()
        bad[0, 0] = np.nan
        mon.push(2, bad)


@needs_monitor
def test_monitor_alerts_reach_python_and_errors_come_back():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(50, 2))
    seen = []
    mon = fpflow.Monitor(50, 2, "model", alert_on="C_vel",
                         alert_C_threshold=1e300, alert=seen.append)
    m = mon.push(3, z, z)
    assert len(seen) == 1
    a = seen[0]
    assert a["step"] == 3 and a["on"] == "C_vel"
    assert a["C_vel"] == m["C_vel"] and a["C_threshold"] == 1e300

    def broken(a):
        raise KeyError("alert handler")

    mon = fpflow.Monitor(50, 2, "model", alert_C_threshold=1e300,
                         alert=broken)
    with pytest.raises(KeyError, match="alert handler"):
        mon.push(0, z, z)
    with pytest.raises(fpflow.Error, match="grad"):
        mon.push(1, z)  # model mode needs the gradients


def test_monitor_unavailable_says_why():
    if fpflow.monitor_available():
        pytest.skip("the library has the monitor")
    with pytest.raises(fpflow.UnavailableError, match="fpf_monitor_push"):
        fpflow.Monitor(10, 2)

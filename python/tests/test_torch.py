"""fpflow.torch: shrink-and-perturb resets, the latent probe and the
wrapper, against PyTorch itself and fpflow's flow."""

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fpflow  # noqa: E402
from fpflow.torch import (FPETorchWrapper, LatentProbe,  # noqa: E402
                          apply_reset)


def make_net():
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 5 * 5, 16), nn.ReLU(),
                         nn.BatchNorm1d(16), nn.Linear(16, 3))


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_alpha_zero_leaves_the_model_unchanged():
    torch.manual_seed(0)
    net = make_net()
    before = state(net)
    rng_before = torch.get_rng_state()
    assert apply_reset(net, 0.0) == []
    assert torch.equal(torch.get_rng_state(), rng_before)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_alpha_one_gives_fresh_weights_from_each_layers_initialiser():
    """With seed s, alpha = 1 gives exactly the weights of a model built
    after torch.manual_seed(s): each layer's own reset_parameters() drew
    them, in the same order as construction does."""
    torch.manual_seed(0)
    net = make_net()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)  # "trained" weights, far from any fresh draw
    rng_before = torch.get_rng_state()
    names = apply_reset(net, 1.0, seed=5)
    assert torch.equal(torch.get_rng_state(), rng_before)  # seed: untouched
    torch.manual_seed(5)
    fresh = make_net()
    fs = fresh.state_dict()
    for name, p in net.named_parameters():
        assert torch.equal(p, fs[name]), name
    assert sorted(names) == sorted(n for n, _ in net.named_parameters())


def test_alpha_between_is_the_convex_combination():
    torch.manual_seed(1)
    net = make_net()
    old = {n: p.detach().clone() for n, p in net.named_parameters()}
    apply_reset(net, 0.3, seed=9)
    torch.manual_seed(9)
    fresh = dict(make_net().named_parameters())
    for n, p in net.named_parameters():
        ref = 0.7 * old[n] + 0.3 * fresh[n].detach()
        assert torch.allclose(p, ref, rtol=1e-6, atol=1e-7), n


def test_buffers_are_kept_and_bad_alpha_refused():
    torch.manual_seed(2)
    net = make_net()
    net[6].running_mean.fill_(3.0)
    apply_reset(net, 1.0, seed=1)
    assert torch.all(net[6].running_mean == 3.0)
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="alpha"):
            apply_reset(net, bad)


def test_a_module_without_initialiser_is_left_alone_with_a_warning():
    class Scale(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.s = torch.nn.Parameter(torch.ones(3))

        def forward(self, x):
            return x * self.s

    net = torch.nn.Sequential(torch.nn.Linear(3, 3), Scale())
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        names = apply_reset(net, 1.0, seed=0)
    assert names == ["0.weight", "0.bias"]
    assert "1.s" in str(w[0].message)
    assert torch.equal(net[1].s, torch.ones(3))


@pytest.fixture
def probe_setup():
    torch.manual_seed(3)
    net = make_net()
    x = torch.randn(12, 1, 12, 12)
    y = torch.randint(0, 3, (12,))
    net.train()
    return net, x, y


def test_probe_captures_the_module_output(probe_setup):
    net, x, y = probe_setup
    probe = LatentProbe(net, net[5], x, y)
    cap = probe.capture()
    assert net.training  # the mode is restored
    net.eval()
    with torch.no_grad():
        ref = net[:6](x)
    net.train()
    assert torch.equal(cap["z"], ref)
    assert torch.equal(probe(), ref)
    probe.remove()
    net(x)  # the hook is gone: nothing captured, nothing fails


def test_probe_gradients_are_per_sample(probe_setup):
    """grad_i = d loss_i / d z_i, the same as differentiating sample i's
    loss alone; the model's parameter gradients are not touched."""
    net, x, y = probe_setup
    cap = LatentProbe(net, net[5], x, y).capture(grad=True)
    assert all(p.grad is None for p in net.parameters())
    net.eval()
    for i in (0, 5, 11):
        z = net[:6](x[i:i + 1]).detach().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(net[6:](z), y[i:i + 1])
        (g,) = torch.autograd.grad(loss, z)
        assert torch.allclose(cap["grad"][i], g[0], rtol=1e-5, atol=1e-7)
        assert float(cap["loss"][i]) == pytest.approx(float(loss),
                                                      rel=1e-6)


def test_consolidation_ratio_takes_a_tensor_and_equals_the_flow(
        probe_setup):
    net, x, y = probe_setup
    cap = LatentProbe(net, net[5], x, y).capture()
    w = FPETorchWrapper(net, net[:6], eta_0=0.02, lambda_reg=0.001,
                        D_0=0.7, gamma=0.05)
    C = w.consolidation_ratio(cap["z"], 3, grad=cap["grad"])
    t = 3.0
    ref = fpflow.flow_compute(
        cap["z"].double().numpy(), cap["grad"].double().numpy(),
        eta=0.02 / (1 + t / 1000), c=0.7 * math.exp(-t / 500), gamma=0.05,
        lambda_reg=0.001, h="median")
    assert C == ref["C"]
    assert w.last["C_vel"] == ref["C_vel"]
    assert w.history[-1]["mode"] == "model"


def test_trajectory_mode_needs_two_snapshots():
    rng = np.random.default_rng(0)
    z0 = torch.from_numpy(rng.normal(size=(40, 3)))
    w = FPETorchWrapper(None, None)
    assert math.isnan(w.consolidation_ratio(z0, 0))
    z1 = z0 + 0.1 + 0.05 * torch.from_numpy(rng.normal(size=(40, 3)))
    m = w.metrics(z1, 1)
    assert m["mode"] == "trajectory" and np.isfinite(m["C_vel"])
    # the drift is the displacement per unit time: (z1 - z0) / 1
    disp = (z1 - z0).numpy()
    assert m["mu_rms"] == pytest.approx(
        np.linalg.norm(disp) / np.sqrt(40), rel=1e-12)
    if fpflow.monitor_available():
        # the same estimates as the library's monitor
        mon = fpflow.Monitor(40, 3, "trajectory", c=1.0, gamma=0.05)
        mon.push(0, z0)
        ref = mon.push(1, z1)
        for k in ("C", "C_vel", "S_dot", "h", "H_kde", "mu_rms"):
            assert m[k] == pytest.approx(ref[k], rel=1e-9), k


def test_should_reset_honours_threshold_warmup_and_cooldown():
    w = FPETorchWrapper(None, None, C_threshold=0.5, warmup=1, cooldown=2)
    low = {"C": 0.1, "C_vel": 9.0}
    w.history = [low]
    assert not w.should_reset(low)  # measurement 0 < warmup 1
    w.history.append(low)
    assert w.should_reset(low)
    w.resets.append(1)
    w.history.append(low)
    assert not w.should_reset(low)  # one measurement after the reset
    w.history.append(low)
    assert w.should_reset(low)
    assert not w.should_reset({"C": 0.9})
    w.trigger = "C_vel"
    assert not w.should_reset(low)
    w.enable_resets = False
    assert not w.should_reset({"C": 0.0, "C_vel": 0.0})

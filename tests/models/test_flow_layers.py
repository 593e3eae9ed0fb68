"""Shared flow layers: exact inverses and log-dets equal to the autograd Jacobian's."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genzoo.data.spec import DataSpec
from genzoo.models.flows.layers import (
    ActNorm,
    AffineCoupling,
    DataToFlow,
    MultiScaleFlow,
    SplitPrior,
    Squeeze,
    checkerboard,
    fill_by_likelihood,
    squeeze,
    standard_normal_log_prob,
    unsqueeze,
)


def small_net(c_in: int, c_out: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c_in, 8, 3, padding=1), nn.Tanh(), nn.Conv2d(8, c_out, 3, padding=1))


def randomize(module: nn.Module, seed: int = 0, std: float = 0.3) -> nn.Module:
    """Move every parameter off its (often identity) initialization, in float64."""
    g = torch.Generator().manual_seed(seed)
    module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)
    return module


def jacobian_log_dets(f, x: torch.Tensor) -> torch.Tensor:
    """log |det J| of f at each example of x (B, ...), with f mapping one example to a vector."""
    out = []
    for xi in x:
        J = torch.autograd.functional.jacobian(lambda v: f(v.unsqueeze(0)).flatten(), xi)
        out.append(torch.linalg.slogdet(J.reshape(xi.numel(), xi.numel())).logabsdet)
    return torch.stack(out)


def check_layer(layer: nn.Module, x: torch.Tensor) -> None:
    y, log_det = layer(x)
    assert log_det.shape == (x.shape[0],)
    assert torch.allclose(layer.inverse(y), x, atol=1e-4)
    assert torch.allclose(log_det, jacobian_log_dets(lambda v: layer(v)[0], x), atol=1e-6)


X = torch.randn(2, 4, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def test_squeeze_is_a_permutation_with_zero_log_det():
    x = torch.arange(2 * 3 * 4 * 6.0).view(2, 3, 4, 6)
    y = squeeze(x)
    assert y.shape == (2, 12, 2, 3)
    assert torch.equal(unsqueeze(y), x)
    assert torch.equal(y.flatten().sort().values, x.flatten().sort().values)
    # channel 4c + 2i + j holds pixel (2h + i, 2w + j) of channel c
    assert torch.equal(y[:, 4 * 1 + 2 * 1 + 0], x[:, 1, 1::2, 0::2])
    check_layer(Squeeze(), X)


def test_actnorm_initializes_from_the_first_training_batch_only():
    layer = ActNorm(4).double()
    x = X * 3 + 1
    y, _ = layer(x)
    assert bool(layer.initialized)
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(4, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(y.var((0, 2, 3), unbiased=False), torch.ones(4, dtype=torch.float64), atol=1e-4)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    layer(x * 10)  # a second batch does not re-initialize
    assert all(torch.equal(before[k], v) for k, v in layer.state_dict().items())
    fresh = ActNorm(4).double()
    fresh.load_state_dict(before)  # a loaded layer does not re-initialize either
    fresh(x * 10)
    assert torch.equal(fresh.bias, before["bias"])
    check_layer(layer, X)


def test_actnorm_does_not_initialize_in_eval_mode():
    layer = ActNorm(4).eval()
    layer(X.float())
    assert not bool(layer.initialized) and torch.equal(layer.bias, torch.zeros_like(layer.bias))


@pytest.mark.parametrize("mask", ["checkerboard", "channel"])
@pytest.mark.parametrize("parity", [0, 1])
def test_affine_coupling_inverts_and_log_det_matches_jacobian(mask, parity):
    layer = randomize(AffineCoupling(4, small_net, mask=mask, parity=parity))
    check_layer(layer, X)
    check_layer(randomize(AffineCoupling(3, small_net, mask=mask, parity=parity)), X[:, :3])


def test_coupling_keeps_its_conditioning_half():
    x = X
    cb = randomize(AffineCoupling(4, small_net, mask="checkerboard", parity=1))
    m = checkerboard(4, 4, 1).double()
    assert torch.equal(cb(x)[0] * m, x * m)
    assert not torch.allclose(cb(x)[0] * (1 - m), x * (1 - m))
    ch = randomize(AffineCoupling(4, small_net, mask="channel", parity=1))
    assert torch.equal(ch(x)[0][:, 2:], x[:, 2:])


def test_a_fresh_coupling_is_the_identity():
    layer = AffineCoupling(4, lambda a, b: nn.Conv2d(a, b, 1).requires_grad_(False).apply(
        lambda m: (nn.init.zeros_(m.weight), nn.init.zeros_(m.bias)) if isinstance(m, nn.Conv2d) else None))
    y, log_det = layer(X.float())
    assert torch.equal(y, X.float()) and torch.equal(log_det, torch.zeros(2))


@pytest.mark.parametrize("learned", [False, True])
def test_multi_scale_flow_inverts_and_log_det_matches_jacobian(learned):
    levels = [[AffineCoupling(1, small_net, mask="checkerboard"), ActNorm(1), Squeeze(),
               AffineCoupling(4, small_net)],
              [Squeeze(), AffineCoupling(8, small_net, parity=1)]]
    flow = MultiScaleFlow((1, 4, 4), levels, lambda k, s: SplitPrior(k, s, learned=learned))
    assert flow.z_shapes == [(2, 2, 2)] and flow.final_shape == (8, 1, 1)
    randomize(flow)
    x = X[:, :1]
    eps, log_det = flow(x)
    assert eps.shape == (2, 16)
    assert torch.allclose(flow.inverse(eps), x, atol=1e-4)
    assert torch.allclose(log_det, jacobian_log_dets(lambda v: flow(v)[0], x), atol=1e-6)


def test_data_to_flow_maps_and_jacobians():
    spec = DataSpec("c", "image", (1, 2, 2), "continuous", value_range=(-2.0, 2.0))
    m = DataToFlow(spec, 0.05)
    x = torch.tensor([[[[-2.0, 2.0], [0.0, 1.0]]]], dtype=torch.float64)
    y = m.to_cube(x)
    assert torch.allclose(y, (x + 2) / 4) and m.log_jac == pytest.approx(-4 * math.log(4))
    w, log_det = m.logit(y)
    assert torch.isfinite(w).all()
    assert torch.allclose(m.sigmoid(w), y)
    assert torch.allclose(log_det, jacobian_log_dets(lambda v: m.logit(v)[0], y), atol=1e-8)
    assert torch.allclose(m.from_cube(y), x.float())
    d = DataToFlow(DataSpec("d", "image", (1, 2, 2), "categorical", num_values=5), 0.05)
    k = torch.tensor([[[[0, 4], [2, 3]]]])
    y = d.to_cube(k, torch.full(k.shape, 0.999))
    assert torch.equal(d.from_cube(y), k) and d.log_jac == pytest.approx(-4 * math.log(5))


def test_fill_by_likelihood_moves_only_free_entries_towards_the_mode():
    observed = torch.tensor([[True, False, True, False]])
    w_obs = torch.tensor([[0.5, 0.0, -0.5, 0.0]])
    start = torch.full((1, 4), 3.0)
    w = fill_by_likelihood(standard_normal_log_prob, w_obs, start, observed, steps=200, lr=0.1)
    assert torch.equal(w[observed], w_obs[observed])
    assert w[~observed].abs().max() < 0.1  # the mode of N(0, I) in the free entries

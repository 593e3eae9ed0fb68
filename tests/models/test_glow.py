"""Glow: 1x1 convolution, actnorm resume, invertibility, log-dets, dequantization bounds, training."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import IncompatibleDataError
from genzoo.models.flows.glow import Glow, InvConv1x1, VariationalDequantizer
from genzoo.models.flows.layers import ActNorm
from genzoo.models.registry import build_model
from tests.helpers import adam_steps, random_batch
from tests.models.test_flow_layers import check_layer, jacobian_log_dets, randomize

BIN = DataSpec("bin", "image", (1, 4, 4), "binary")
CAT = DataSpec("cat", "image", (1, 8, 8), "categorical", num_values=5)
CONT = DataSpec("cont", "image", (2, 4, 4), "continuous", value_range=(0.0, 1.0))


def make(spec: DataSpec, **overrides) -> Glow:
    torch.manual_seed(0)
    return Glow(build_config(Glow.Config, {"hidden_channels": 8, "steps_per_level": 2, **overrides}), spec)


@pytest.mark.parametrize("hw,levels", [((2, 2), 1), ((4, 4), 2), ((8, 8), 3), ((28, 28), 2), ((6, 10), 1)])
def test_auto_levels_follow_divisibility(hw, levels):
    assert make(DataSpec("s", "image", (1, *hw), "binary")).num_levels == levels


def test_refuses_what_it_cannot_squeeze():
    with pytest.raises(IncompatibleDataError, match="even height and width"):
        build_model("glow", DataSpec("odd", "image", (1, 7, 7), "binary"))
    with pytest.raises(IncompatibleDataError, match="divisible by 8"):
        make(DataSpec("mnist", "image", (1, 28, 28), "binary"), levels=3)
    with pytest.raises(IncompatibleDataError, match="accepts"):
        build_model("glow", DataSpec("v", "vector", (4,), "continuous", value_range=(0.0, 1.0)))


def test_invertible_1x1_conv_lu():
    torch.manual_seed(0)
    layer = randomize(InvConv1x1(4), std=0.1)
    W = layer.weight()
    assert torch.allclose(torch.linalg.slogdet(W).logabsdet, layer.log_s.sum())
    assert torch.equal(layer.P @ layer.P.T, torch.eye(4, dtype=torch.float64))  # a permutation
    x = torch.randn(2, 4, 3, 2, dtype=torch.float64)
    check_layer(layer, x)
    assert torch.allclose(layer(x)[1], torch.full((2,), 6 * layer.log_s.sum().item(), dtype=torch.float64))


def test_a_loaded_model_does_not_reinitialize_actnorm():
    model = make(BIN)
    model.loss({"x": random_batch(BIN, 16)})  # data-dependent init on the first batch
    norms = [m for m in model.modules() if isinstance(m, ActNorm)]
    assert norms and all(bool(m.initialized) for m in norms)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    clone = make(BIN)
    clone.load_state_dict(state)
    clone.train()
    clone.loss({"x": random_batch(BIN, 16, seed=5) * 0 + 1})  # a very different batch
    assert all(torch.equal(state[k], v) for k, v in clone.state_dict().items())


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("learned_prior", [True, False])
def test_whole_flow_inverts(train, learned_prior):
    model = make(CAT, learned_prior=learned_prior)
    model.loss({"x": random_batch(CAT, 16)})
    randomize(model, std=0.05).train(train)
    w = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    eps, _ = model.forward_flow(w)
    assert eps.shape == (3, 64)
    assert torch.allclose(model.inverse_flow(eps), w, atol=1e-4)


def test_whole_flow_log_det_matches_jacobian():
    model = make(CONT)
    model.loss({"x": random_batch(CONT, 16)})
    randomize(model, std=0.05).eval()
    w = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    _, log_det = model.forward_flow(w)
    assert torch.allclose(log_det, jacobian_log_dets(lambda v: model.forward_flow(v)[0], w), atol=1e-6)


def test_variational_dequantizer_density():
    torch.manual_seed(0)
    q = randomize(VariationalDequantizer(BIN, 4), std=0.2)
    x = random_batch(BIN, 2).double()
    eps = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    u, log_q = q(x, eps)
    assert ((u > 0) & (u < 1)).all()
    # log q(u) = log N(eps) - log |du / d eps|, u elementwise in eps
    log_jac = jacobian_log_dets(lambda e: q(x[:1].expand(e.shape[0], -1, -1, -1), e)[0], eps[:1])
    log_n = -0.5 * (eps[0].pow(2) + math.log(2 * math.pi)).sum()
    assert torch.allclose(log_q[0], log_n - log_jac[0], atol=1e-8)


def test_likelihood_notes():
    assert make(BIN).likelihood_note() == "bound (uniform dequantization, 4 samples)"
    var = make(BIN, dequantization="variational")
    assert var.likelihood_note(dequant_samples=2) == "bound (variational dequantization, 2 samples)"
    assert var.likelihood_kind == "bound"
    cont = make(CONT, dequantization="variational")  # continuous data needs no dequantizer
    assert cont.dequantizer is None and cont.likelihood_kind == "exact" and cont.likelihood_note() == "exact"


def test_variational_bound_loses_mass_over_a_tiny_space():
    spec = DataSpec("enum", "image", (1, 2, 2), "binary")
    model = make(spec, dequantization="variational")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    data = random_batch(spec, 32)
    for _ in range(5):
        loss = model.loss({"x": data})["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(p.grad is not None for p in model.dequantizer.parameters())
    grid = torch.tensor(list(itertools.product((0.0, 1.0), repeat=4))).view(16, 1, 2, 2)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        lp = torch.stack([model.log_prob(grid, generator=g) for _ in range(16)]).mean(0)
    assert torch.logsumexp(lp, 0).exp().item() <= 1.0 + 1e-4


@pytest.mark.parametrize("spec", [BIN, CAT, CONT], ids=["bin", "cat", "cont"])
def test_complete_keeps_observed_values(spec):
    model = make(spec)
    x = random_batch(spec, 3)
    mask = torch.ones_like(x, dtype=torch.bool)
    mask[..., :, spec.shape[2] // 2:] = False
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(0), steps=5)
    assert out.shape == x.shape and out.dtype == spec.dtype
    assert torch.equal(out[mask], x[mask])


def test_encode_decode_round_trip():
    model = make(CAT)
    x = random_batch(CAT, 4)
    assert torch.equal(model.decode(model.encode(x)), x)


@pytest.mark.parametrize("dequantization", ["uniform", "variational"])
def test_short_training_on_digits_lowers_the_nll_bound(dequantization):
    from genzoo.data.dataset import load_dataset

    data = load_dataset("digits")
    model = make(data.spec, hidden_channels=16, dequantization=dequantization)
    test_x = data.test.x[:100]
    with torch.no_grad():
        before = -model.log_prob(test_x).mean().item()
    adam_steps(model, data.train.x, steps=25)
    with torch.no_grad():
        after = -model.log_prob(test_x).mean().item()
    assert after < before - 64 * 0.5 * math.log(2)  # at least half a bit per dim better
    assert after / (64 * math.log(2)) < 4.5

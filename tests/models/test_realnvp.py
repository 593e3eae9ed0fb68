"""RealNVP: scale planning, invertibility, log-dets against autograd, bounds, completion, training."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.flows.realnvp import FlowBatchNorm, RealNVP
from genzoo.models.registry import build_model
from tests.helpers import adam_steps, random_batch
from tests.models.test_flow_layers import check_layer, jacobian_log_dets, randomize

BIN = DataSpec("bin", "image", (1, 4, 4), "binary")
CAT = DataSpec("cat", "image", (1, 8, 8), "categorical", num_values=5)
CONT = DataSpec("cont", "image", (1, 4, 4), "continuous", value_range=(-1.0, 1.0))


def make(spec: DataSpec, **overrides) -> RealNVP:
    torch.manual_seed(0)
    return RealNVP(build_config(RealNVP.Config, {"hidden_channels": 8, **overrides}), spec)


@pytest.mark.parametrize("hw,scales", [((2, 2), 1), ((4, 4), 2), ((8, 8), 3), ((28, 28), 3), ((6, 10), 2),
                                       ((7, 7), 1), ((1, 4), 1)])
def test_auto_scales_follow_divisibility(hw, scales):
    spec = DataSpec("s", "image", (1, *hw), "binary")
    assert make(spec).num_scales == scales


def test_refuses_what_it_cannot_squeeze():
    spec = DataSpec("mnist", "image", (1, 28, 28), "binary")
    assert make(spec, scales=3).num_scales == 3
    with pytest.raises(IncompatibleDataError, match="divisible by 8"):
        make(spec, scales=4)
    with pytest.raises(IncompatibleDataError, match="at least 2 pixels"):
        build_model("realnvp", DataSpec("dot", "image", (3, 1, 1), "binary"))
    with pytest.raises(IncompatibleDataError, match="accepts"):
        build_model("realnvp", DataSpec("v", "vector", (4,), "continuous", value_range=(0.0, 1.0)))
    with pytest.raises(GenzooError, match="norm"):
        build_config(RealNVP.Config, {"norm": "layernorm"})


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_inverts_in_both_modes(train):
    layer = randomize(FlowBatchNorm(4)).train(train)
    x = torch.randn(5, 4, 3, 3, dtype=torch.float64) * 2 + 1
    y, _ = layer(x)
    assert torch.allclose(layer.inverse(y), x, atol=1e-4)
    if train:  # normalized by the batch's own statistics
        assert torch.allclose(((y - layer.beta) * torch.exp(-layer.log_gamma)).mean((0, 2, 3)),
                              torch.zeros(4, dtype=torch.float64), atol=1e-6)


def test_batchnorm_running_statistics_and_eval_log_det():
    layer = FlowBatchNorm(4).double()
    x = torch.randn(64, 4, 3, 3, dtype=torch.float64) * 3 + 2
    for _ in range(100):
        layer(x)
    assert torch.allclose(layer.running_mean, x.mean((0, 2, 3)), atol=1e-3)
    layer.eval()
    before = layer.running_mean.clone()
    randomize(layer)
    layer.running_mean.copy_(before)
    check_layer(layer, x[:2])
    assert torch.equal(layer.running_mean, before)  # eval mode leaves the statistics alone


@pytest.mark.parametrize("norm", ["batchnorm", "actnorm"])
@pytest.mark.parametrize("train", [True, False])
def test_whole_flow_inverts(norm, train):
    model = make(CAT, norm=norm, blocks_per_scale=3)
    model.loss({"x": random_batch(CAT, 16)})  # initializes actnorm / batch statistics
    randomize(model, std=0.05).train(train)
    w = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    eps, _ = model.forward_flow(w)
    assert eps.shape == (4, 64)
    assert torch.allclose(model.inverse_flow(eps), w, atol=1e-4)


@pytest.mark.parametrize("norm", ["batchnorm", "actnorm"])
def test_whole_flow_log_det_matches_jacobian(norm):
    model = make(BIN, norm=norm)
    model.loss({"x": random_batch(BIN, 16)})
    randomize(model, std=0.1).eval()
    w = torch.randn(2, 1, 4, 4, dtype=torch.float64)
    _, log_det = model.forward_flow(w)
    assert torch.allclose(log_det, jacobian_log_dets(lambda v: model.forward_flow(v)[0], w), atol=1e-6)


def test_continuous_log_prob_is_the_exact_change_of_variables():
    model = randomize(make(CONT), std=0.1).float().eval()
    x = random_batch(CONT, 3)
    # by hand: y = (x + 1) / 2, w = logit(a + (1 - 2a) y)
    a = model.config.logit_alpha
    s = a + (1 - 2 * a) * (x + 1) / 2
    w = torch.log(s / (1 - s))
    log_dw_dy = (math.log(1 - 2 * a) - torch.log(s * (1 - s))).flatten(1).sum(1)
    expected = model.log_p_flow(w) + log_dw_dy - 16 * math.log(2.0)
    assert torch.allclose(model.log_prob(x), expected, atol=1e-4)
    assert model.likelihood_kind == "exact" and model.likelihood_note() == "exact"


def test_discrete_log_prob_is_a_seeded_bound_average():
    model = make(BIN)
    x = random_batch(BIN, 3)
    assert model.likelihood_kind == "bound"
    assert model.likelihood_note(dequant_samples=8) == "bound (uniform dequantization, 8 samples)"
    a, b = model.log_prob(x), model.log_prob(x)
    assert torch.equal(a, b)  # a fixed default seed: evaluation repeats
    g = torch.Generator().manual_seed(3)
    c = model.log_prob(x, dequant_samples=2, generator=g)
    assert c.shape == (3,) and not torch.equal(a, c)


def test_encode_decode_round_trip_discrete_values():
    model = make(CAT)
    x = random_batch(CAT, 4)
    z = model.encode(x)
    assert z.shape == (4, 64)
    assert torch.equal(model.decode(z), x)


@pytest.mark.parametrize("spec", [BIN, CAT, CONT], ids=["bin", "cat", "cont"])
def test_complete_keeps_observed_values(spec):
    model = make(spec)
    x = random_batch(spec, 3)
    mask = torch.ones_like(x, dtype=torch.bool)
    mask[..., spec.shape[1] // 2:, :] = False
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(0), steps=5)
    assert out.shape == x.shape and out.dtype == spec.dtype
    assert torch.equal(out[mask], x[mask])
    again = model.complete(x, mask, generator=torch.Generator().manual_seed(0), steps=5)
    assert torch.equal(out, again)
    with pytest.raises(GenzooError, match="mask shape"):
        model.complete(x, mask[:1])


def test_temperature_zero_samples_the_mode_of_eps():
    model = make(CAT, temperature=0.0)
    s = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s[0], s[1]) and torch.equal(s, model.decode(torch.zeros(3, 64)))


def test_short_training_on_digits_lowers_the_nll_bound():
    from genzoo.data.dataset import load_dataset

    data = load_dataset("digits")
    model = make(data.spec, hidden_channels=16)
    test_x = data.test.x[:100]
    with torch.no_grad():
        before = -model.log_prob(test_x).mean().item()
    adam_steps(model, data.train.x, steps=25)
    with torch.no_grad():
        after = -model.log_prob(test_x).mean().item()
    bpd = after / (64 * math.log(2))
    assert after < before - 64 * 0.5 * math.log(2)  # at least half a bit per dim better
    assert bpd < 4.5, bpd

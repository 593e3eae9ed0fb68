"""Flow matching: the ODE inverts, the ODE likelihood of the closed-form Gaussian field is
the Gaussian's density, exact and Hutchinson divergences agree, RePaint keeps observed
pixels, seeded sampling repeats, bad options are user errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.registry import build_model
from tests.helpers import adam_steps, check_in_spec, random_batch

VEC = DataSpec("toy", "vector", (2,), "continuous", value_range=(-4.0, 4.0))
IMG = DataSpec("tiny", "image", (1, 4, 4), "continuous", value_range=(0.0, 1.0))
BIN = DataSpec("tiny-bin", "image", (1, 4, 4), "binary", num_classes=2)
SMALL = {"channels": 8, "channel_mults": [1, 2], "sample_steps": 8}


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def _randomize_output(model, scale: float = 0.3) -> None:
    g = torch.Generator().manual_seed(0)
    for p in model.net.out.parameters():
        p.data = scale * torch.randn(p.shape, generator=g)


def test_the_ode_with_many_steps_inverts():
    model = build_model("flow_matching", VEC, {"hidden": 32})
    _randomize_output(model)
    x = random_batch(VEC, 32, seed=0) * 0.5
    z = model.encode(x, steps=200)
    assert (z - model._unit(x)).abs().max() > 0.05  # the field moves points: not a trivial check
    back = model.decode(z, steps=200)
    assert torch.allclose(back, x, atol=2e-3)


class GaussianField(nn.Module):
    """The exact marginal velocity for data N(0, s^2 I) on the straight path:
    ``v(x, t) = (t s^2 - (1 - t)) / ((1 - t)^2 + t^2 s^2) x``; its flow carries N(0, I) to N(0, s^2 I)."""

    def __init__(self, s: float) -> None:
        super().__init__()
        self.s2 = s * s
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, t, y=None):
        t = (t / 1000.0).reshape(-1, *([1] * (x.dim() - 1)))
        return (t * self.s2 - (1 - t)) / ((1 - t) ** 2 + t ** 2 * self.s2) * x


def test_ode_likelihood_of_the_gaussian_field_is_the_gaussian_density():
    s = 0.5
    spec = DataSpec("g", "vector", (3,), "continuous", value_range=(-1.0, 1.0))
    model = build_model("flow_matching", spec, {"likelihood_steps": 64})
    model.net = GaussianField(s)
    x = s * torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    exact = (-0.5 * (x / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)).sum(1)
    assert torch.allclose(model.log_prob(x), exact, atol=3e-3)
    # and its samples have the data's spread
    with torch.no_grad():
        xs = model.sample(4000, generator=torch.Generator().manual_seed(1), steps=32)
    assert float(xs.std()) == pytest.approx(s, rel=0.05)


@pytest.mark.parametrize("spec", [VEC, IMG], ids=["toy2d", "image"])
def test_exact_and_hutchinson_divergences_agree(spec):
    cfg = {"hidden": 32} if spec.kind == "vector" else SMALL
    torch.manual_seed(0)
    model = build_model("flow_matching", spec, {**cfg, "likelihood_steps": 2})
    # a gentler field on images: Hutchinson's variance grows with the off-diagonal Jacobian
    _randomize_output(model, 0.3 if spec.kind == "vector" else 0.03)
    x = random_batch(spec, 4, seed=2)
    model.config.divergence = "exact"
    exact = model.log_prob(x)
    assert "exact divergence" in model.likelihood_note()
    model.config.divergence = "hutchinson"
    runs = torch.stack([model.log_prob(x, probes=100, generator=torch.Generator().manual_seed(i))
                        for i in range(4)])  # (4, B): independent estimates
    assert "100 Rademacher probes" in model.likelihood_note(probes=100)
    se = runs.std(0) / math.sqrt(len(runs))
    assert ((runs.mean(0) - exact).abs() <= 4 * se + 0.02).all(), (exact, runs.mean(0), se)
    assert float(se.max()) < 0.2  # the probes pin it down: the comparison has teeth


def test_dequantized_likelihood_is_labelled_a_bound_in_expectation():
    model = build_model("flow_matching", BIN, SMALL)
    assert model.likelihood_kind == "estimate" and "dequantization" in model.likelihood_note()
    lp = model.log_prob(random_batch(BIN, 3), steps=2)
    assert lp.shape == (3,) and torch.isfinite(lp).all()


def test_repaint_keeps_observed_pixels_and_seeded_sampling_repeats():
    model = build_model("flow_matching", BIN, {**SMALL, "complete_steps": 6, "jump_length": 2, "jump_count": 2})
    _randomize_output(model)
    x = random_batch(BIN, 6, seed=1)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[..., :2, :] = True
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(0))
    check_in_spec(out, BIN, 6)
    assert torch.equal(out[mask], x[mask])
    with torch.no_grad():
        a = model.sample(3, generator=torch.Generator().manual_seed(5), sampler="midpoint", condition=torch.tensor(1))
        b = model.sample(3, generator=torch.Generator().manual_seed(5), sampler="midpoint", condition=torch.tensor(1))
    assert torch.equal(a, b)


@pytest.mark.parametrize("opts,needle", [({"steps": 0}, "steps"), ({"eta": 0.0}, "DDIM"),
                                         ({"sampler": "ddim"}, "no sampler 'ddim'"),
                                         ({"guidance": 2.0}, "unconditional")])
def test_bad_sampling_options_are_user_errors(opts, needle):
    model = build_model("flow_matching", IMG, SMALL)
    with pytest.raises(GenzooError, match=needle):
        model.sample(2, **opts)


def test_training_learns_a_shifted_gaussian():
    model = build_model("flow_matching", VEC, {"hidden": 64})
    g = torch.Generator().manual_seed(0)
    x = 0.5 * torch.randn(1024, 2, generator=g) + torch.tensor([2.0, -1.0])
    torch.manual_seed(0)
    adam_steps(model, x, steps=150, batch=128, lr=5e-3)
    with torch.no_grad():
        xs = model.sample(500, generator=torch.Generator().manual_seed(1), steps=20)
    assert torch.allclose(xs.mean(0), torch.tensor([2.0, -1.0]), atol=0.2)
    # trained, the model scores held-out data above a broad Gaussian of the same range
    held = 0.5 * torch.randn(200, 2, generator=g) + torch.tensor([2.0, -1.0])
    broad = float((-0.5 * (held / 2) ** 2 - math.log(2) - 0.5 * math.log(2 * math.pi)).sum(1).mean())
    assert float(model.log_prob(held).mean()) > broad + 1.0

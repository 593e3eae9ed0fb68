"""NCSN: on Gaussian data the optimal score is known in closed form, so the DSM loss is
minimal there and annealed Langevin with it draws the data's mean and variance; toy 2-D
training lowers the loss; completion keeps observed pixels; seeded sampling repeats; bad
options are user errors; the chain's frames for ``--gif``."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genzoo.data.spec import DataSpec
from genzoo.errors import CapabilityError, GenzooError
from genzoo.models.registry import build_model
from tests.helpers import adam_steps, check_in_spec, random_batch

VEC1 = DataSpec("gauss1d", "vector", (1,), "continuous", value_range=(-1.0, 1.0))
IMG = DataSpec("tiny", "image", (1, 4, 4), "continuous", value_range=(0.0, 1.0))
LABELLED = DataSpec("tiny-lab", "image", (1, 4, 4), "binary", num_classes=3)
SMALL = {"channels": 8, "channel_mults": [1, 2], "levels": 4, "sample_steps": 3, "complete_steps": 3}
MU, S = 0.3, 0.2  # the Gaussian data N(MU, S^2) on the unit scale


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


class GaussianScore(nn.Module):
    """sigma times the score of N(MU, S^2 + sigma^2), the perturbed Gaussian data, read off
    the network's time input (``scale`` != 1 perturbs it)."""

    def __init__(self, model, scale: float = 1.0) -> None:
        super().__init__()
        cfg = model.config
        self.lo, self.span, self.scale = math.log(cfg.sigma_min), math.log(cfg.sigma_max / cfg.sigma_min), scale
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, t, y=None):
        sigma = torch.exp(self.lo + t.double() / 1000.0 * self.span).reshape(-1, *([1] * (x.dim() - 1)))
        return (-self.scale * sigma * (x - MU) / (S ** 2 + sigma ** 2)).float()


def _gaussian_model(**cfg):
    model = build_model("ncsn", VEC1, {"sigma_max": 1.0, "sigma_min": 0.01, "levels": 10, **cfg})
    return model


def _dsm(model, x, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        return float(model.loss({"x": x})["loss"])


def test_the_optimal_score_has_the_lowest_dsm_loss_and_its_closed_form_value():
    model = _gaussian_model()
    x = MU + S * torch.randn(20000, 1, generator=torch.Generator().manual_seed(0))
    model.net = GaussianScore(model)
    best = _dsm(model, x)
    # E 1/2 |sigma s*(x~) + z|^2 = 1/2 S^2 / (S^2 + sigma^2), averaged over the uniform level
    expected = float((0.5 * S ** 2 / (S ** 2 + model.sigmas ** 2)).mean())
    assert best == pytest.approx(expected, rel=0.03)
    for scale in (0.8, 1.2):
        model.net = GaussianScore(model, scale)
        assert _dsm(model, x) > best + 1e-3


def test_annealed_langevin_with_the_exact_score_draws_the_gaussian():
    model = _gaussian_model(sample_steps=100, step_size=2e-5, denoise=False)
    model.net = GaussianScore(model)
    x = model.sample(4000, generator=torch.Generator().manual_seed(1))
    # the chain ends at sigma_L: variance S^2 + sigma_L^2
    assert float(x.mean()) == pytest.approx(MU, abs=0.015)
    assert float(x.var()) == pytest.approx(S ** 2 + 0.01 ** 2, rel=0.08)
    model.config.denoise = True  # Tweedie's step: variance S^4 / (S^2 + sigma_L^2)
    xd = model.sample(4000, generator=torch.Generator().manual_seed(1))
    assert float(xd.var()) == pytest.approx(S ** 4 / (S ** 2 + 0.01 ** 2), rel=0.08)
    # the check can fail: a wrong score (too weak) leaves the chain too wide
    model.net = GaussianScore(model, 0.5)
    assert float(model.sample(4000, generator=torch.Generator().manual_seed(1)).var()) > 1.5 * S ** 2


def test_training_on_toy_2d_data_lowers_the_loss():
    spec = DataSpec("toy", "vector", (2,), "continuous", value_range=(-4.0, 4.0))
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    x = centres[torch.randint(3, (2000,), generator=g)] + 0.3 * torch.randn(2000, 2, generator=g)
    torch.manual_seed(0)
    model = build_model("ncsn", spec, {"hidden": 64, "sigma_max": 1.0, "sigma_min": 0.02, "levels": 8})
    before = sum(_dsm(model, x, s) for s in range(3))
    adam_steps(model, x, steps=200, batch=128, lr=3e-3)
    after = sum(_dsm(model, x, s) for s in range(3))
    assert after < 0.6 * before  # the zero-initialised network starts at 1/2 per value


def test_seeded_sampling_repeats_and_the_seed_matters():
    model = build_model("ncsn", IMG, SMALL)
    with torch.no_grad():
        a = model.sample(4, generator=torch.Generator().manual_seed(2))
        b = model.sample(4, generator=torch.Generator().manual_seed(2))
        c = model.sample(4, generator=torch.Generator().manual_seed(3))
    check_in_spec(a, IMG, 4)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_the_label_reaches_the_score_and_the_chain():
    model = build_model("ncsn", LABELLED, SMALL)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        x = torch.randn(3, 1, 4, 4)
        s0 = model.score(x, 1, torch.zeros(3, dtype=torch.long), 1.0)
        s1 = model.score(x, 1, torch.ones(3, dtype=torch.long), 1.0)
        assert not torch.allclose(s0, s1)
        chains = [model._chain(3, labels=torch.full((3,), k), steps=2, sampler="langevin", eta=0.0, guidance=1.0,
                               generator=torch.Generator().manual_seed(1))[0] for k in (0, 1)]
    assert not torch.allclose(*chains)


def test_completion_keeps_observed_pixels_and_fills_the_rest():
    model = build_model("ncsn", IMG, SMALL)
    g = torch.Generator().manual_seed(0)
    for p in model.net.out.parameters():
        p.data = 0.1 * torch.randn(p.shape, generator=g)
    x = random_batch(IMG, 5, seed=3)
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) < 0.5
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(0), jump_count=2, jump_length=2)
    check_in_spec(out, IMG, 5)
    assert torch.equal(out[mask], x[mask])
    assert not torch.allclose(out[~mask], x[~mask])
    again = model.complete(x, mask, generator=torch.Generator().manual_seed(0), jump_count=2, jump_length=2)
    assert torch.equal(out, again)


def test_the_chain_frames_for_gif():
    model = build_model("ncsn", IMG, SMALL)
    frames = model.sample_chain(2, steps=12, every=3, generator=torch.Generator().manual_seed(0))
    assert frames.shape == (1 + 12 // 3, 2, 1, 4, 4)  # 12 steps = 3 per level x 4 levels


@pytest.mark.parametrize("opts,needle", [({"steps": 0}, "steps"), ({"eta": 0.5}, "eta"),
                                         ({"sampler": "ddim"}, "no sampler 'ddim'"),
                                         ({"guidance": 2.0}, "unconditional")])
def test_bad_sampling_options_are_user_errors(opts, needle):
    model = build_model("ncsn", IMG, SMALL)
    with pytest.raises(GenzooError, match=needle):
        model.sample(2, generator=torch.Generator().manual_seed(0), **opts)


@pytest.mark.parametrize("cfg,needle", [({"levels": 0}, "levels"), ({"sample_steps": 0}, "sample_steps"),
                                        ({"sigma_max": 0.01, "sigma_min": 0.1}, "sigma_max"),
                                        ({"step_size": -1.0}, "step_size")])
def test_bad_config_is_a_user_error(cfg, needle):
    with pytest.raises(GenzooError, match=needle):
        build_model("ncsn", IMG, cfg)


def test_no_likelihood():
    model = build_model("ncsn", IMG, SMALL)
    assert model.likelihood is None
    with pytest.raises(CapabilityError):
        model.log_prob(random_batch(IMG, 2))

"""DDPM: the forward marginal, the parameterisations, DDIM(eta=1) = ancestral, RePaint,
seeded sampling, sampling-option errors, and the variational bound on 1-D Gaussian data
against the exact NLL (the optimal denoiser is linear there)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.diffusion.schedule import alpha_bar, repaint_schedule, timesteps
from genzoo.models.registry import build_model
from tests.helpers import adam_steps, check_in_spec, random_batch

IMG = DataSpec("tiny", "image", (1, 4, 4), "continuous", value_range=(0.0, 1.0))
LABELLED = DataSpec("tiny-lab", "image", (1, 4, 4), "binary", num_classes=3)
SMALL = {"channels": 8, "channel_mults": [1, 2], "timesteps": 40, "sample_steps": 10}


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def _randomize_output(model) -> None:
    """The output layer starts at zero; give it weights so the network does something."""
    g = torch.Generator().manual_seed(0)
    for p in model.net.out.parameters():
        p.data = 0.1 * torch.randn(p.shape, generator=g)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_forward_noising_has_the_closed_form_marginal(schedule):
    model = build_model("ddpm", IMG, {**SMALL, "schedule": schedule})
    abar = alpha_bar(schedule, 40)
    assert abar[0] == 1 and (abar[1:] < abar[:-1]).all() and abar[-1] < 0.05
    x0 = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4).expand(20000, 1, 4, 4)
    g = torch.Generator().manual_seed(0)
    for t in (1, 10, 30):
        xt = model.q_sample(x0, torch.full((20000,), t), torch.randn(x0.shape, generator=g))
        a = float(abar[t])
        assert torch.allclose(xt.mean(0), math.sqrt(a) * x0[0], atol=0.03)
        assert torch.allclose(xt.var(0), torch.full_like(x0[0], 1 - a), rtol=0.06, atol=1e-4)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_each_parameterisation_recovers_x0_and_eps_from_its_target(prediction):
    model = build_model("ddpm", IMG, {**SMALL, "prediction": prediction, "clip_x0": False})
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.rand(3, 1, 4, 4, generator=g) * 2 - 1, torch.randn(3, 1, 4, 4, generator=g)
    t = 17
    a = float(model.abar[t])
    xt = model.q_sample(x0, torch.full((3,), t), eps)
    target = {"eps": eps, "x0": x0, "v": math.sqrt(a) * eps - math.sqrt(1 - a) * x0}[prediction]

    class Oracle(nn.Module):
        def forward(self, x, tt, y=None):
            return target

    model.net = Oracle()
    x0_hat, eps_hat = model.denoise(xt, t)
    assert torch.allclose(x0_hat, x0, atol=1e-4) and torch.allclose(eps_hat, eps, atol=1e-3)


def test_ddim_with_eta_1_and_all_steps_is_the_ancestral_sampler():
    model = build_model("ddpm", IMG, SMALL)
    _randomize_output(model)
    with torch.no_grad():
        ddpm = model.sample(6, generator=torch.Generator().manual_seed(4), sampler="ddpm", steps=40)
        ddim1 = model.sample(6, generator=torch.Generator().manual_seed(4), sampler="ddim", eta=1.0, steps=40)
        ddim0 = model.sample(6, generator=torch.Generator().manual_seed(4), sampler="ddim", eta=0.0, steps=40)
    assert torch.allclose(ddpm, ddim1, atol=1e-5)
    assert not torch.allclose(ddpm, ddim0, atol=1e-2)  # the check can fail: eta matters


def test_seeded_sampling_repeats_and_options_change_the_draws():
    model = build_model("ddpm", LABELLED, SMALL)
    _randomize_output(model)
    with torch.no_grad():
        a = model.sample(4, generator=torch.Generator().manual_seed(2), steps=7, guidance=3.0)
        b = model.sample(4, generator=torch.Generator().manual_seed(2), steps=7, guidance=3.0)
        c = model.sample(4, generator=torch.Generator().manual_seed(3), steps=7, guidance=3.0)
    check_in_spec(a, LABELLED, 4)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_guidance_weights_combine_the_conditional_and_null_outputs():
    model = build_model("ddpm", LABELLED, SMALL)
    _randomize_output(model)
    x, t, y = torch.randn(3, 1, 4, 4), torch.full((3,), 5.0), torch.tensor([0, 1, 2])
    null = torch.full((3,), 3)
    with torch.no_grad():
        cond, uncond = model.net(x, t, y), model.net(x, t, null)
        assert torch.allclose(model.predict(x, t, y, 2.5), uncond + 2.5 * (cond - uncond), atol=1e-5)
        assert torch.allclose(model.predict(x, t, y, 0.0), uncond)
        assert torch.allclose(model.predict(x, t, y, 1.0), cond)


@pytest.mark.parametrize("opts,needle", [({"steps": 0}, "steps"), ({"eta": 2.0}, "eta"),
                                         ({"sampler": "euler"}, "no sampler 'euler'"),
                                         ({"steps": 41}, "T = 40"),
                                         ({"sampler": "ddpm", "eta": 0.5}, "ddim")])
def test_bad_sampling_options_are_user_errors(opts, needle):
    model = build_model("ddpm", IMG, SMALL)
    with pytest.raises(GenzooError, match=needle):
        model.sample(2, generator=torch.Generator().manual_seed(0), **opts)


def test_labels_and_guidance_need_a_labelled_run_and_a_known_class():
    plain = build_model("ddpm", IMG, SMALL)
    with pytest.raises(GenzooError, match="unconditional"):
        plain.sample(2, guidance=2.0)
    labelled = build_model("ddpm", LABELLED, SMALL)
    with pytest.raises(GenzooError, match="3 classes"):
        labelled.sample(2, condition=torch.tensor([7, 7]))


def test_repaint_keeps_observed_pixels_and_fills_the_rest():
    assert repaint_schedule(6, 2, 3).count(0) == 1 and len(repaint_schedule(6, 2, 1)) == 7
    model = build_model("ddpm", IMG, {**SMALL, "complete_steps": 8, "jump_length": 2, "jump_count": 3})
    _randomize_output(model)
    x = random_batch(IMG, 5, seed=3)
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) < 0.5
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(0))
    check_in_spec(out, IMG, 5)
    assert torch.equal(out[mask], x[mask])
    assert not torch.allclose(out[~mask], x[~mask])


class GaussianOptimalDenoiser(nn.Module):
    """E[x_0 | x_t] for x_0 ~ N(0, s^2): linear in x_t, ``sqrt(a) s^2 / (a s^2 + 1 - a) x_t``."""

    def __init__(self, abar: torch.Tensor, s: float) -> None:
        super().__init__()
        self.abar, self.s2 = abar, s * s

    def forward(self, x, t, y=None):
        a = self.abar[t.long()].float().reshape(-1, 1)
        return a.sqrt() * self.s2 / (a * self.s2 + 1 - a) * x


def test_the_bound_with_the_optimal_denoiser_is_above_and_near_the_exact_nll():
    s = 0.5
    spec = DataSpec("gauss1d", "vector", (1,), "continuous", value_range=(-1.0, 1.0))
    model = build_model("ddpm", spec, {"timesteps": 100, "schedule": "linear", "prediction": "x0",
                                       "clip_x0": False, "vlb_samples": 0})
    model.net = GaussianOptimalDenoiser(model.abar, s)
    torch.manual_seed(0)
    x = s * torch.randn(4000, 1)
    exact = 0.5 * (x[:, 0] / s) ** 2 + math.log(s) + 0.5 * math.log(2 * math.pi)
    nll = -model.log_prob(x)
    gap = nll - exact  # per example: the noise of the bound's own draws, not the data's
    se = float(gap.std()) / math.sqrt(len(x))
    bound = float(nll.mean())
    # cross-entropy >= entropy: the bound cannot fall below the exact NLL (up to noise) ...
    assert float(gap.mean()) >= -3 * se
    # ... and with the Bayes-optimal denoiser and beta_t variances it is close to it
    assert float(gap.mean()) < 0.1
    # the posterior variance beta~_t is a valid but looser choice (too narrow at small t)
    model.config.vlb_variance = "posterior"
    assert float(-model.log_prob(x).mean()) > bound + 0.5
    model.config.vlb_variance = "beta"
    # the sampled-t estimate agrees with the full sum on average
    sampled = float(-model.log_prob(x, vlb_samples=16).mean())
    assert sampled == pytest.approx(bound, abs=0.1)
    assert "all 100 terms" in model.likelihood_note() and "16 sampled" in model.likelihood_note(vlb_samples=16)


def test_training_lowers_the_loss_on_toy_data():
    spec = DataSpec("vec", "vector", (2,), "continuous", value_range=(-1.0, 1.0))
    model = build_model("ddpm", spec, {"timesteps": 50})
    x = torch.randn(512, 2, generator=torch.Generator().manual_seed(0)).clamp(-3, 3) / 4 + 0.3
    torch.manual_seed(0)
    with torch.no_grad():
        before = sum(float(model.loss({"x": x})["loss"]) for _ in range(20))
    adam_steps(model, x, steps=150, batch=128, lr=3e-3)
    torch.manual_seed(0)
    with torch.no_grad():
        after = sum(float(model.loss({"x": x})["loss"]) for _ in range(20))
    assert after < 0.8 * before
    assert timesteps(50, 5) == [50, 40, 30, 20, 10, 0]


def test_the_chain_ends_at_the_sample_drawn_with_the_same_seed():
    model = build_model("ddpm", IMG, SMALL)
    _randomize_output(model)
    frames = model.sample_chain(3, steps=10, every=5, generator=torch.Generator().manual_seed(8))
    x = model.sample(3, steps=10, generator=torch.Generator().manual_seed(8))
    assert frames.shape == (3, 3, 1, 4, 4) and torch.equal(frames[-1], x)

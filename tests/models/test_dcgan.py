"""DCGAN: shapes and value spaces, the two players, the vanishing minimax gradient."""

from __future__ import annotations

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import CapabilityError, GenzooError, IncompatibleDataError
from genzoo.models.adversarial.dcgan import DCGAN
from tests.helpers import random_batch

DIGITS = DataSpec("digits", "image", (1, 8, 8), "categorical", num_values=17)
MNIST = DataSpec("mnist", "image", (1, 28, 28), "binary")
COLOR = DataSpec("color", "image", (3, 16, 16), "continuous", value_range=(-1.0, 1.0))


def make(spec: DataSpec, **overrides) -> DCGAN:
    return DCGAN(build_config(DCGAN.Config, overrides), spec)


def grads(params) -> list[torch.Tensor | None]:
    return [p.grad for p in params]


@pytest.mark.parametrize("spec", [DIGITS, MNIST, COLOR], ids=["digits", "mnist", "color"])
def test_shapes_and_sample_space(spec: DataSpec) -> None:
    model = make(spec, channels=8)
    out = model.loss({"x": random_batch(spec, 6)})
    assert set(out) == {"loss", "d_loss", "g_loss", "d_real", "d_fake"}
    assert all(torch.isfinite(v) for v in out.values())
    model.eval()
    x = model.sample(7, generator=torch.Generator().manual_seed(0))
    spec.check(x)
    assert x.shape[0] == 7
    if spec.value_type == "binary":
        assert set(x.unique().tolist()) <= {0.0, 1.0}
    elif spec.value_type == "categorical":
        assert 0 <= int(x.min()) and int(x.max()) < spec.num_values
    else:
        assert -1.0 <= float(x.min()) and float(x.max()) <= 1.0
    torch.manual_seed(99)  # sampling must use only the passed generator
    assert torch.equal(x, model.sample(7, generator=torch.Generator().manual_seed(0)))


def test_refuses_sizes_not_divisible_by_4_and_non_images() -> None:
    with pytest.raises(IncompatibleDataError, match=r"H and W divisible by 4.*\(1, 12, 10\)"):
        make(DataSpec("odd", "image", (1, 12, 10), "binary"))
    with pytest.raises(IncompatibleDataError, match="accepts: image any"):
        make(DataSpec("vec", "vector", (8,), "continuous", value_range=(0.0, 1.0)))
    with pytest.raises(GenzooError, match="loss"):
        build_config(DCGAN.Config, {"loss": "wasserstein"})


def test_no_likelihood() -> None:
    model = make(DIGITS, channels=8)
    assert model.likelihood is None and model.family == "adversarial"
    with pytest.raises(CapabilityError):
        model.log_prob(random_batch(DIGITS, 2))


def test_players_split_the_parameters() -> None:
    model = make(DIGITS, channels=8, n_critic=3, lr_g=1e-3, lr_d=5e-4, betas=(0.0, 0.9))
    d, g = model.players()
    assert (d.name, g.name) == ("discriminator", "generator")
    assert (d.steps, d.lr, d.betas) == (3, 5e-4, (0.0, 0.9))
    assert (g.steps, g.lr, g.betas) == (1, 1e-3, (0.0, 0.9))
    d_ids, g_ids = {id(p) for p in d.parameters}, {id(p) for p in g.parameters}
    assert not d_ids & g_ids
    assert d_ids | g_ids == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("loss", ["non_saturating", "minimax", "hinge", "least_squares", "wasserstein_gp"])
def test_gradients_reach_the_right_player(loss: str) -> None:
    model = make(DIGITS, channels=8, loss=loss)
    batch = {"x": random_batch(DIGITS, 8)}
    d, g = model.players()

    out = d.loss(batch)
    assert {"loss", "d_real", "d_fake"} <= set(out) and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(q is not None and torch.isfinite(q).all() for q in grads(d.parameters))
    assert all(q is None for q in grads(g.parameters)), "fakes must be detached for D's loss"

    model.zero_grad(set_to_none=True)
    out = g.loss(batch)
    assert {"loss", "g_loss", "d_fake"} <= set(out) and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(q is not None and torch.isfinite(q).all() and q.abs().sum() > 0 for q in grads(g.parameters))


def test_minimax_gradient_vanishes_when_d_rejects_fakes() -> None:
    norms = {}
    for gen_loss in ("non_saturating", "minimax"):
        model = make(DIGITS, channels=8, loss=gen_loss)
        with torch.no_grad():
            model.discriminator.head.bias.fill_(-12.0)  # D(G(z)) ~ 6e-6: confidently fake
        torch.manual_seed(0)
        out = model.generator_loss({"x": random_batch(DIGITS, 16)})
        assert out["d_fake"] < 1e-3
        out["loss"].backward()
        norms[gen_loss] = torch.cat([p.grad.flatten() for p in model.generator.parameters()]).norm().item()
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l) ~ 0, while d/dl -log sigmoid(l) = sigmoid(l) - 1 ~ -1.
    assert norms["minimax"] < 1e-3 * norms["non_saturating"], norms
    assert norms["non_saturating"] > 0


def test_short_training_on_digits_stays_finite_and_changes_samples() -> None:
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().data, dtype=torch.int64).view(-1, 1, 8, 8)
    torch.manual_seed(0)
    model = make(DIGITS, channels=8)
    model.eval()
    before = model.sample(64, generator=torch.Generator().manual_seed(0))
    model.train()
    players = model.players()
    opts = [torch.optim.Adam(p.parameters, lr=p.lr, betas=p.betas) for p in players]
    logs = []
    for _ in range(150):
        batch = {"x": x[torch.randint(0, x.shape[0], (32,))]}
        for player, opt in zip(players, opts):
            for _ in range(player.steps):
                model.zero_grad(set_to_none=True)
                out = player.loss(batch)
                out["loss"].backward()
                opt.step()
                logs.append(out)
    assert all(torch.isfinite(v).all() for out in logs for v in out.values())
    model.eval()
    after = model.sample(64, generator=torch.Generator().manual_seed(0))
    assert (after != before).float().mean() > 0.3
    d_out = next(out for out in reversed(logs) if "d_real" in out)
    assert 0 < d_out["d_fake"] < 1 and 0 < d_out["d_real"] < 1


def test_registry_builds_with_defaults() -> None:
    from genzoo.models.registry import build_model

    model = build_model("dcgan", DIGITS)
    assert isinstance(model, DCGAN)
    assert model.config.latent_dim == 32 and model.config.loss == "non_saturating"


def test_packing_spectral_norm_and_the_gradient_penalty() -> None:
    from torch.nn.utils import parametrize

    x = random_batch(DIGITS, 8)
    packed = make(DIGITS, channels=8, pack=4)
    assert packed.discriminator.net[0].in_channels == 4  # four grey images side by side
    assert packed.critic(torch.zeros(8, 1, 8, 8)).shape == (2,)
    assert torch.isfinite(packed.loss({"x": x})["loss"])
    sn = make(DIGITS, channels=8, spectral_norm=True)
    assert parametrize.is_parametrized(sn.discriminator.net[0], "weight")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in sn.discriminator.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in sn.generator.modules())
    wgan = make(DIGITS, channels=8, loss="wasserstein_gp", n_critic=5)
    out = wgan.discriminator_loss({"x": x})
    assert out["gradient_penalty"] > 0 and wgan.players()[0].steps == 5
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in wgan.discriminator.modules())

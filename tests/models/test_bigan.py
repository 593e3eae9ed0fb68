"""BiGAN / ALI: shapes of G and E, a discriminator on (x, z) pairs, seeded determinism,
and both players lowering their own loss against a fixed opponent."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.dataset import load_dataset
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.registry import build_model

SPEC = DataSpec("img", "image", (1, 8, 8), "continuous", value_range=(0.0, 1.0), num_classes=10)
TINY = {"channels": 8, "latent_dim": 5, "d_hidden": 32}


def _model(**kw):
    torch.manual_seed(0)
    return build_model("bigan", SPEC, {**TINY, **kw})


def _x(n=6, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_encoder_and_generator_shapes_and_spaces():
    m = _model().eval()
    x = _x()
    z = m.encode(x)
    assert z.shape == (6, 5) and torch.isfinite(z).all()
    back = m.decode(z)
    assert back.shape == (6, 1, 8, 8) and float(back.min()) >= 0.0 and float(back.max()) <= 1.0
    assert set(m.capabilities) == {"encode", "decode", "invert", "complete"}
    assert m.likelihood is None


def test_the_discriminator_sees_pairs():
    m = _model().eval()
    x, z = _x(4) * 2 - 1, torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        same = m.discriminator(x, z)
        other_code = m.discriminator(x, z.flip(0))
        other_image = m.discriminator(x.flip(0), z)
    assert same.shape == (4,)
    assert not torch.allclose(same, other_code) and not torch.allclose(same, other_image)
    # D's loss reaches both branches; the G/E player's loss reaches G and E
    m.train()
    batch = {"x": _x(8)}
    m.discriminator_loss(batch)["loss"].backward()
    assert all(p.grad is not None for p in m.discriminator.code.parameters())
    assert all(p.grad is None for p in m.encoder.parameters()) and all(p.grad is None for p in m.generator.parameters())
    m.zero_grad(set_to_none=True)
    m.generator_loss(batch)["loss"].backward()
    assert all(p.grad is not None for p in m.encoder.parameters())
    assert all(p.grad is not None for p in m.generator.parameters())


def test_seeded_sampling_and_encoding_are_deterministic():
    a, b = _model().eval(), _model().eval()
    x = _x()
    assert torch.equal(a.encode(x), b.encode(x))
    s1 = a.sample(4, generator=torch.Generator().manual_seed(3))
    s2 = b.sample(4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(s1, s2)


def _steps(model, player, batch, n):
    p = next(q for q in model.players() if q.name == player)
    opt = torch.optim.Adam(p.parameters, lr=2e-3, betas=(0.5, 0.999))
    torch.manual_seed(1)
    before = float(p.loss(batch)["loss"].detach())
    for _ in range(n):
        opt.zero_grad(set_to_none=True)
        p.loss(batch)["loss"].backward()
        opt.step()
    torch.manual_seed(1)
    return before, float(p.loss(batch)["loss"].detach())


@pytest.mark.parametrize("player", ["discriminator", "generator"])
def test_each_player_lowers_its_loss_against_a_fixed_opponent(player, one_thread):
    data = load_dataset("digits", scale="unit")
    m = build_model("bigan", data.spec, {**TINY, "dropout": 0.0})
    m.train()
    batch = {"x": data.train.x[:64]}
    if player == "generator":  # first a discriminator that tells the pairs apart
        _steps(m, "discriminator", batch, 25)
    before, after = _steps(m, player, batch, 25)
    assert after < 0.8 * before, (before, after)


def test_refuses_what_it_cannot_do():
    with pytest.raises(GenzooError, match="pack"):
        build_model("bigan", SPEC, {**TINY, "pack": 2})
    with pytest.raises(GenzooError, match="gradient penalty"):
        build_model("bigan", SPEC, {**TINY, "loss": "wasserstein_gp"})
    with pytest.raises(IncompatibleDataError, match="divisible by 4"):
        build_model("bigan", DataSpec("odd", "image", (1, 6, 6), "continuous", value_range=(0.0, 1.0)))

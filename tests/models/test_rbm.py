"""RBM: exact and AIS partition functions, CD / PCD training on digits, Gibbs chains."""

from __future__ import annotations

import itertools

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.dataset import load_dataset
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.energy.rbm import RBM
from genzoo.models.registry import build_model
from genzoo.train.config import TrainConfig
from genzoo.train.trainer import Trainer

VEC10 = DataSpec("v10", "vector", (10,), "binary")


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny ops


def make(spec: DataSpec, **over: object) -> RBM:
    return RBM(build_config(RBM.Config, over), spec)


def randomize(model: RBM, seed: int, scale: float = 1.0) -> RBM:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (model.W, model.b, model.c):
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return model


def test_ais_matches_the_enumerated_log_z():
    model = randomize(make(VEC10, hidden=8, enumerate_max=0, ais_chains=100, ais_betas=1000), seed=1)
    assert model.likelihood_kind == "estimate"
    exact = model.exact_log_z()
    est, se = model.estimate_log_z(generator=torch.Generator().manual_seed(0))
    assert abs(est - exact) < 0.1, (est, exact)
    assert 0 < se < 0.1
    note = model.likelihood_note()
    assert note.startswith("estimate: AIS log Z (100 chains, 1000 temperatures), ±") and "std. err." in note


@pytest.mark.parametrize("hidden", [3, 7])  # enumerate the hidden side, then the visible side
def test_exact_log_z_and_normalization_by_brute_force(hidden):
    spec = DataSpec("v5", "vector", (5,), "binary")
    model = randomize(make(spec, hidden=hidden), seed=hidden)
    W, b, c = (p.detach().double() for p in (model.W, model.b, model.c))
    v = torch.tensor(list(itertools.product([0.0, 1.0], repeat=5)), dtype=torch.float64)
    h = torch.tensor(list(itertools.product([0.0, 1.0], repeat=hidden)), dtype=torch.float64)
    neg_energy = (v @ b)[:, None] + (h @ c)[None, :] + v @ W @ h.t()  # (2^D, 2^H)
    assert model.exact_log_z() == pytest.approx(float(torch.logsumexp(neg_energy.flatten(), 0)), abs=1e-9)
    assert model.likelihood_kind == "exact" and "exact" in model.likelihood_note()
    lp = model.log_prob(v.float())
    assert torch.logsumexp(lp.double(), 0).exp().item() == pytest.approx(1.0, abs=1e-5)


def test_log_z_cache_follows_the_parameters():
    model = randomize(make(VEC10, hidden=12, enumerate_max=0, ais_chains=20, ais_betas=100), seed=2, scale=0.3)
    x = torch.randint(0, 2, (4, 10)).float()
    a = model.log_prob(x)
    assert torch.equal(a, model.log_prob(x))  # cached, and seeded when not
    assert model.log_z(ais_chains=20, ais_betas=100) == model.log_z()
    old_log_z = model.log_z()[0]
    with torch.no_grad():
        model.c.add_(0.5)  # an in-place change, as an optimizer step makes
    new_log_z = model.log_z()[0]
    assert new_log_z != old_log_z and new_log_z == model.estimate_log_z()[0]
    assert not torch.equal(a, model.log_prob(x))


@pytest.mark.parametrize("persistent", [False, True])
def test_cd_and_pcd_training_raise_the_digits_likelihood(persistent):
    data = load_dataset("digits", binarize="threshold")
    torch.manual_seed(0)
    model = build_model("rbm", data.spec, {"hidden": 16, "persistent": persistent})
    assert model.likelihood_kind == "exact"  # 2^16 hidden states
    model.eval()
    before = model.log_prob(data.test.x).mean().item()
    Trainer(model, data, TrainConfig(steps=150, batch_size=64, lr=0.01, checkpoint_every=0), progress=False).fit()
    model.eval()
    after = model.log_prob(data.test.x).mean().item()
    assert after > before + 10, (before, after)  # about -44 -> -25 nats
    assert model.base_mean.mean().item() == pytest.approx(data.train.x.mean().item(), abs=0.02)
    if persistent:  # AIS from the data base rate agrees with enumeration on a trained model
        est, _ = model.estimate_log_z(chains=50, betas=500)
        assert abs(est - model.exact_log_z()) < 0.1


def test_pcd_keeps_its_fantasy_particles():
    model = make(VEC10, hidden=6, persistent=True, chains=8)
    assert model.fantasy.shape == (8, 10) and "fantasy" in model.state_dict()
    before = model.fantasy.clone()
    torch.manual_seed(0)
    model.train()
    out = model.loss({"x": torch.ones(4, 10)})
    assert not torch.equal(before, model.fantasy)
    out["loss"].backward()
    assert all(p.grad is not None for p in (model.W, model.b, model.c))


def test_loss_gradient_is_the_cd_gradient():
    model = randomize(make(VEC10, hidden=6, cd_k=1), seed=3, scale=0.5)
    x = torch.randint(0, 2, (16, 10), generator=torch.Generator().manual_seed(0)).float()
    torch.manual_seed(5)
    model.loss({"x": x})["loss"].backward()
    torch.manual_seed(5)  # replay the same Gibbs draws: h0 ~ p(h|x), v1 ~ p(v|h0)
    with torch.no_grad():
        v1 = torch.bernoulli(model.visible_prob(torch.bernoulli(model.hidden_prob(x))))
    # dF/db = -v, so the surrogate's gradient for b is mean(v1) - mean(x)
    assert torch.allclose(model.b.grad, v1.mean(0) - x.mean(0), atol=1e-6)


def test_chain_frames_and_seeded_sampling():
    spec = DataSpec("img", "image", (1, 3, 4), "binary")
    model = randomize(make(spec, hidden=5, sample_steps=20), seed=4, scale=0.5)
    frames = model.sample_chain(3, steps=10, every=3, generator=torch.Generator().manual_seed(0))
    assert frames.shape == (4, 3, 1, 3, 4) and frames.dtype == torch.float32
    assert set(frames.unique().tolist()) <= {0.0, 1.0}
    again = model.sample_chain(3, steps=10, every=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(frames, again)
    a = model.sample(6, generator=torch.Generator().manual_seed(1))
    b = model.sample(6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (6, 1, 3, 4)
    with pytest.raises(GenzooError):
        model.sample_chain(2, steps=0)


def test_complete_keeps_the_observed_units():
    model = randomize(make(VEC10, hidden=5), seed=5)
    x = torch.randint(0, 2, (3, 10)).float()
    mask = torch.rand(3, 10) < 0.5
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(0), complete_steps=5)
    assert out.shape == x.shape and torch.equal(out[mask], x[mask])
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_refuses_non_binary_data_and_bad_configs():
    with pytest.raises(IncompatibleDataError, match="binary"):
        build_model("rbm", DataSpec("c", "vector", (3,), "categorical", num_values=3))
    with pytest.raises(GenzooError, match="hidden"):
        build_model("rbm", VEC10, {"hidden": 0})
    with pytest.raises(GenzooError, match="enumerate_max"):
        build_model("rbm", VEC10, {"enumerate_max": 40})

"""DBM: log Z (enumeration and AIS) against brute force, the mean-field bound, the two
training phases and their gradients, training on digits, Gibbs chains."""

from __future__ import annotations

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.dataset import load_dataset
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.energy.boltzmann import all_states
from genzoo.models.energy.dbm import DBM
from genzoo.models.registry import build_model
from genzoo.train.config import TrainConfig
from genzoo.train.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny ops


def make(D: int, **over: object) -> DBM:
    return DBM(build_config(DBM.Config, over), DataSpec("v", "vector", (D,), "binary"))


def randomize(model: DBM, seed: int, scale: float = 1.0) -> DBM:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (model.W1, model.W2, model.b, model.c1, model.c2):
            p.copy_(torch.randn(p.shape, generator=g) * scale)
        model.base_mean.copy_(torch.rand(model.D, generator=g) * 0.6 + 0.2)
    return model


def joint_states(model: DBM) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every joint state (v, h1, h2) of a tiny DBM, float64."""
    s = all_states(model.D + model.H1 + model.H2, 0, 1 << (model.D + model.H1 + model.H2), dtype=torch.float64)
    return s[:, :model.D], s[:, model.D:model.D + model.H1], s[:, model.D + model.H1:]


def brute_log_z(model: DBM) -> float:
    with torch.no_grad():
        return float(torch.logsumexp(-model.double().energy(*joint_states(model)), 0))


@pytest.mark.parametrize("sizes", [(6, 4, 3), (3, 6, 2)])  # enumerate h1 / enumerate (v, h2)
def test_exact_and_ais_log_z_match_brute_force_enumeration(sizes):
    D, H1, H2 = sizes
    model = randomize(make(D, hidden1=H1, hidden2=H2, enumerate_max=0), seed=sum(sizes))
    truth = brute_log_z(model)
    model.float()
    assert model.exact_log_z() == pytest.approx(truth, abs=1e-5)
    est, se = model.estimate_log_z(chains=200, betas=1000, generator=torch.Generator().manual_seed(0))
    assert abs(est - truth) < max(0.05, 4 * se), (est, truth, se)
    assert se < 0.05
    # the estimate is a real estimate: too few temperatures miss by more
    rough, _ = model.estimate_log_z(chains=3, betas=2, generator=torch.Generator().manual_seed(0))
    assert abs(rough - truth) > abs(est - truth)


def test_mean_field_bound_is_below_the_exact_log_likelihood():
    model = randomize(make(5, hidden1=4, hidden2=3, mf_steps=30), seed=1)
    assert model.likelihood_kind == "bound"
    v, h1, h2 = joint_states(model)
    with torch.no_grad():
        neg_e = -model.double().energy(v, h1, h2)
        model.float()
        log_z = brute_log_z(model)
        x = all_states(5, 0, 32, dtype=torch.float32)
        idx = (v * 2.0 ** torch.arange(5, dtype=torch.float64)).sum(-1).long()  # v's row in x
        exact = torch.stack([torch.logsumexp(neg_e[idx == i], 0) for i in range(32)]) - log_z
        lp = model.log_prob(x).double()
    assert torch.isfinite(lp).all()
    assert (lp <= exact + 1e-5).all()
    assert float(torch.logsumexp(lp, 0).exp()) <= 1.0
    assert (exact - lp).max() < 2.0  # mean field is a usable bound, not a vacuous one
    assert "bound" in model.likelihood_note() and "exact log Z" in model.likelihood_note()


def test_pretraining_then_joint_phase_by_step_count():
    model = randomize(make(10, hidden1=6, hidden2=4, pretrain_steps=3, chains=8), seed=2, scale=0.3)
    x = torch.randint(0, 2, (16, 10), generator=torch.Generator().manual_seed(0)).float()
    chains = model.chain_v.clone()
    model.train()
    for t in range(3):
        assert model.pretraining
        torch.manual_seed(t)
        model.zero_grad()
        out = model.loss({"x": x})
        out["loss"].backward()
        assert float(out["pretraining"]) == 1.0 and torch.equal(model.chain_v, chains)
        # the bottom RBM's CD-1 gradient for b: mean(v1) - mean(v0), same draws replayed
        torch.manual_seed(t)
        with torch.no_grad():
            x1 = torch.bernoulli(torch.sigmoid(2 * (x @ model.W1) + model.c1))
            v1 = torch.bernoulli(model.v_prob(x1))
        assert torch.allclose(model.b.grad, v1.mean(0) - x.mean(0), atol=1e-6)
        assert all(p.grad is not None for p in model.parameters())
    assert int(model.step) == 3 and not model.pretraining and "step" in model.state_dict()
    model.zero_grad()
    out = model.loss({"x": x})
    out["loss"].backward()
    assert float(out["pretraining"]) == 0.0 and not torch.equal(model.chain_v, chains)
    # joint phase: data term from mean field, model term from the chains' new states
    with torch.no_grad():
        mu1, mu2 = model.mean_field(x)
    assert torch.allclose(model.b.grad, model.chain_v.mean(0) - x.mean(0), atol=1e-6)
    assert torch.allclose(model.c2.grad, model.chain_h2.mean(0) - mu2.mean(0), atol=1e-6)
    h1 = model.h1_prob(model.chain_v, model.chain_h2)
    assert torch.allclose(model.c1.grad, h1.mean(0) - mu1.mean(0), atol=1e-6)
    # evaluation leaves the chains and the step counter alone
    model.eval()
    before, step = model.chain_v.clone(), int(model.step)
    model.loss({"x": x})
    assert torch.equal(before, model.chain_v) and int(model.step) == step


def test_mean_field_is_a_fixed_point():
    model = randomize(make(8, hidden1=5, hidden2=3), seed=3, scale=0.5)
    x = torch.randint(0, 2, (6, 8), generator=torch.Generator().manual_seed(1)).float()
    mu1, mu2 = model.mean_field(x, 100)
    assert torch.allclose(mu1, model.h1_prob(x, mu2), atol=1e-5)
    assert torch.allclose(mu2, model.h2_prob(mu1), atol=1e-5)


def test_training_raises_the_digits_likelihood_and_ais_agrees():
    data = load_dataset("digits", binarize="threshold")
    torch.manual_seed(0)
    model = build_model("dbm", data.spec, {"hidden1": 16, "hidden2": 8, "pretrain_steps": 100, "chains": 64})
    assert model.likelihood_kind == "bound"  # 2^16 states of h1
    model.eval()
    before = model.log_prob(data.test.x).mean().item()
    Trainer(model, data, TrainConfig(steps=250, batch_size=64, lr=0.01, checkpoint_every=0), progress=False).fit()
    model.eval()
    after = model.log_prob(data.test.x).mean().item()
    assert after > before + 10, (before, after)
    est, se = model.estimate_log_z(chains=50, betas=500)
    assert abs(est - model.exact_log_z()) < max(0.2, 4 * se)


def test_chain_frames_and_seeded_sampling():
    spec = DataSpec("img", "image", (1, 3, 4), "binary")
    model = DBM(build_config(DBM.Config, {"hidden1": 5, "hidden2": 3, "sample_steps": 20}), spec)
    randomize(model, seed=4, scale=0.5)
    frames = model.sample_chain(3, steps=10, every=3, generator=torch.Generator().manual_seed(0))
    assert frames.shape == (4, 3, 1, 3, 4) and frames.dtype == torch.float32
    assert set(frames.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(frames, model.sample_chain(3, steps=10, every=3, generator=torch.Generator().manual_seed(0)))
    a = model.sample(6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, model.sample(6, generator=torch.Generator().manual_seed(1))) and a.shape == (6, 1, 3, 4)
    with pytest.raises(GenzooError):
        model.sample_chain(2, steps=0)


def test_refuses_non_binary_data_and_bad_configs():
    with pytest.raises(IncompatibleDataError, match="accepts"):
        build_model("dbm", DataSpec("c", "image", (1, 4, 4), "continuous", value_range=(0.0, 1.0)))
    for bad in ({"hidden1": 0}, {"mf_steps": 0}, {"pretrain_steps": -1}, {"enumerate_max": 40}):
        with pytest.raises(GenzooError):
            build_config(DBM.Config, bad)

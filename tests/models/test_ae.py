"""The autoencoder: reconstruction training, the code buffer and its Gaussian mixture,
seeded sampling that survives save/load, completion, and no likelihood."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import CapabilityError, GenzooError
from genzoo.models.latent.ae import AE
from tests.helpers import check_in_spec, random_batch

DIGITS = DataSpec("digits", "image", (1, 8, 8), "categorical", num_values=17)
MNIST = DataSpec("mnist", "image", (1, 28, 28), "binary")
CONT = DataSpec("cont", "vector", (6,), "continuous", value_range=(-2.0, 3.0))


def make(spec: DataSpec, **overrides) -> AE:
    return AE(build_config(AE.Config, overrides), spec)


@pytest.mark.parametrize("spec,arch", [(DIGITS, "conv"), (DIGITS, "mlp"), (MNIST, "conv"), (CONT, "mlp")])
def test_every_method_on_every_value_type(spec: DataSpec, arch: str) -> None:
    torch.manual_seed(0)
    model = make(spec, arch=arch, hidden=32, channels=8, latent_dim=3, code_components=2)
    x = random_batch(spec, 12)
    out = model.loss({"x": x})
    assert set(out) == {"loss", "recon_nll", "mse"} and all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(GenzooError, match="no training codes"):
        model.sample(2, generator=torch.Generator().manual_seed(0))
    logs = model.collect_codes({"x": x})
    assert logs == {"codes": 12.0, "refit": 0.0}
    check_in_spec(model.sample(5, generator=torch.Generator().manual_seed(1)), spec, 5)
    z = model.encode(x)
    assert z.shape == (12, 3)
    check_in_spec(model.decode(z), spec, 12)
    with pytest.raises(CapabilityError, match="no likelihood"):
        model.log_prob(x)
    assert model.likelihood is None and set(model.capabilities) == {"encode", "decode", "complete"}


def test_gaussian_decoder_is_squared_error() -> None:
    # No learned scale: an autoencoder would shrink it towards zero and blow up the loss.
    model = make(CONT, hidden=16, latent_dim=2)
    assert [n for n, _ in model.named_parameters() if "log_scale" in n] == []
    x = random_batch(CONT, 4)
    with torch.no_grad():
        loss = model.loss({"x": x})["loss"].item()
        mean = model.decoder(model.encoder(x))[..., 0]  # (B, 6) in [-1, 1] units
    u = (x + 2.0) * (2.0 / 5.0) - 1.0
    # unit-variance Gaussian NLL per dimension: half the squared error + log(2 pi) / 2, plus
    # log((hi - lo) / 2) for the map from [-2, 3] to [-1, 1]
    const = 6 * (0.5 * math.log(2 * math.pi) + math.log(2.5))
    assert loss == pytest.approx(0.5 * (u - mean).pow(2).sum(-1).mean().item() + const, rel=1e-5)


def test_code_buffer_is_a_ring_of_the_latest_codes() -> None:
    torch.manual_seed(0)
    model = make(DIGITS, arch="mlp", hidden=16, latent_dim=2, code_buffer=50, refit_every=3,
                 code_components=2)
    batches = [random_batch(DIGITS, 32, seed=s) for s in range(3)]
    logs = [model.collect_codes({"x": b}) for b in batches]
    assert [entry["refit"] for entry in logs] == [0.0, 0.0, 1.0]  # every refit_every steps
    assert int(model.codes_seen) == 96 and int(model.fitted_at) == 96
    with torch.no_grad():
        latest = torch.cat([model.encode(b) for b in batches])[-50:]
    bank = model.code_bank
    assert all(any(torch.equal(row, c) for c in bank) for row in latest)


@pytest.fixture(scope="module")
def trained() -> dict:
    """An MLP autoencoder trained 300 steps on categorical 8x8 digits, codes collected."""
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().data).long().view(-1, 1, 8, 8)
    train, test = x[:1500], x[1500:]
    torch.manual_seed(0)
    model = make(DIGITS, arch="mlp", hidden=128, latent_dim=8, refit_every=100, code_buffer=1000)
    opt = torch.optim.Adam([p for player in model.players()[:1] for p in player.parameters], lr=3e-3)
    codes = model.players()[1]
    for step in range(300):
        batch = {"x": train[torch.arange(step * 64, (step + 1) * 64) % 1500]}
        opt.zero_grad()
        model.loss(batch)["loss"].backward()
        opt.step()
        codes.update(batch)
    model.eval()
    return {"model": model, "train": train, "test": test}


def test_samples_come_from_the_code_mixture(trained: dict) -> None:
    model = trained["model"]
    assert int(model.fitted_at) == int(model.codes_seen) == 300 * 64  # refit at step 300
    a = model.sample(16, generator=torch.Generator().manual_seed(3))
    z = model.code_gmm.sample(16, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, model.decode(z))
    torch.manual_seed(123)  # the global RNG must not matter
    assert torch.equal(a, model.sample(16, generator=torch.Generator().manual_seed(3)))
    # The mixture describes the codes better than one Gaussian fit to the same buffer
    # does, judged on the current encoder's codes of training images.
    with torch.no_grad():
        codes = model.encode(trained["train"][:1000]).double()
    bank = model.code_bank.double()
    one = torch.distributions.MultivariateNormal(bank.mean(0), torch.cov(bank.T))
    lp_mix, lp_one = model.code_gmm.log_prob(codes).mean().item(), one.log_prob(codes).mean().item()
    assert lp_mix > lp_one + 0.5, (lp_mix, lp_one)


def test_sampling_survives_save_and_load(trained: dict, tmp_path) -> None:
    from genzoo.train.checkpoint import load_weights, save_weights

    model = trained["model"]
    save_weights(model.state_dict(), tmp_path / "ae.safetensors")
    clone = make(DIGITS, arch="mlp", hidden=128, latent_dim=8, refit_every=100, code_buffer=1000)
    clone.load_state_dict(load_weights(tmp_path / "ae.safetensors"))
    clone.eval()
    g = lambda: torch.Generator().manual_seed(9)  # noqa: E731
    assert torch.equal(model.sample(20, generator=g()), clone.sample(20, generator=g()))
    # A model saved between refits refits lazily, identically on both sides.
    stale = {k: v.clone() for k, v in model.state_dict().items()}
    stale["fitted_at"] = torch.tensor(-1)
    model2, clone2 = (make(DIGITS, arch="mlp", hidden=128, latent_dim=8, code_buffer=1000) for _ in range(2))
    model2.load_state_dict(stale)
    clone2.load_state_dict(stale)
    torch.manual_seed(1)
    a = model2.sample(20, generator=g())
    torch.manual_seed(2)
    assert torch.equal(a, clone2.sample(20, generator=g()))
    assert int(model2.fitted_at) == int(model2.codes_seen)


def test_reconstructs_and_completes(trained: dict) -> None:
    model, test = trained["model"], trained["test"][:100]
    with torch.no_grad():
        recon = model.decode(model.encode(test))
    assert (recon - test).abs().float().mean() < 2.0  # of 16 levels
    mask = torch.ones_like(test, dtype=torch.bool)
    mask[:, :, :, 4:] = False  # the right half is hidden
    with torch.no_grad():
        a = model.complete(test, mask, generator=torch.Generator().manual_seed(0), complete_steps=10)
    assert a.dtype == test.dtype and torch.equal(a[mask], test[mask])
    hidden = ~mask
    err = (a[hidden] - test[hidden]).abs().float().mean().item()
    noise = torch.randint(0, 17, test.shape, generator=torch.Generator().manual_seed(1))
    err_random = (noise[hidden] - test[hidden]).abs().float().mean().item()
    assert err < 0.7 * err_random, (err, err_random)


def test_trainer_runs_both_players() -> None:
    from genzoo.data.dataset import Dataset, Split
    from genzoo.train.config import TrainConfig
    from genzoo.train.trainer import Trainer

    spec = DataSpec("v", "vector", (5,), "binary")
    x = random_batch(spec, 64)
    torch.manual_seed(0)
    model = make(spec, hidden=16, latent_dim=2, refit_every=4, code_components=3)
    assert [p.name for p in model.players()] == ["model", "codes"]
    Trainer(model, Dataset(spec, Split(x, None), Split(x[:8], None)),
            TrainConfig(steps=4, batch_size=16, checkpoint_every=0), progress=False).fit()
    assert int(model.codes_seen) == 64 and int(model.fitted_at) == 64


def test_config_is_checked() -> None:
    for key in ("code_components", "code_buffer", "refit_every", "latent_dim"):
        with pytest.raises(GenzooError, match=key):
            build_config(AE.Config, {key: 0})
    with pytest.raises(GenzooError, match="code_covariance"):
        build_config(AE.Config, {"code_covariance": "tied"})

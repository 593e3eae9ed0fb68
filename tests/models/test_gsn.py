"""GSN: walkback loss, corruption, chains, seeded sampling, training on binarized digits."""

from __future__ import annotations

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.dataset import load_dataset
from genzoo.data.spec import DataSpec
from genzoo.errors import CapabilityError, GenzooError, IncompatibleDataError
from genzoo.models.energy.gsn import GSN
from genzoo.models.registry import build_model
from genzoo.train.config import TrainConfig
from genzoo.train.trainer import Trainer
from tests.helpers import random_batch

SPECS = {
    "binary": DataSpec("b", "image", (1, 4, 4), "binary"),
    "categorical": DataSpec("c", "sequence", (6,), "categorical", num_values=4),
    "continuous": DataSpec("f", "vector", (3,), "continuous", value_range=(-2.0, 6.0)),
}


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny ops


def make(spec: DataSpec, **over: object) -> GSN:
    return GSN(build_config(GSN.Config, {"hidden": "32", **over}), spec)


@pytest.mark.parametrize("kind", list(SPECS))
def test_walkback_loss_is_finite_and_reaches_every_parameter(kind):
    spec = SPECS[kind]
    torch.manual_seed(0)
    model = make(spec, walkback=3)
    out = model.loss({"x": random_batch(spec, 8)})
    assert torch.isfinite(out["loss"]) and out["loss"].dim() == 0
    assert torch.isfinite(out["recon"]) and torch.isfinite(out["walkback_last"])
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("kind", list(SPECS))
def test_chain_frames_shape_and_seeding(kind):
    spec = SPECS[kind]
    model = make(spec, sample_steps=5)
    frames = model.sample_chain(2, steps=7, every=2, generator=torch.Generator().manual_seed(0))
    assert frames.shape == (4, 2, *spec.shape) and frames.dtype == spec.dtype
    again = model.sample_chain(2, steps=7, every=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(frames, again)
    a = model.sample(3, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(123)  # the global RNG must not matter
    b = model.sample(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (3, *spec.shape)
    if spec.value_type == "continuous":
        assert a.min() >= -2.0 and a.max() <= 6.0


def test_corruption_rates():
    spec = DataSpec("v", "vector", (2000,), "binary")
    model = make(spec, noise=0.3)
    x = torch.zeros(4, 2000)
    changed = model.corrupt(x, generator=torch.Generator().manual_seed(0)).mean().item()
    assert changed == pytest.approx(0.15, abs=0.02)  # replaced w.p. 0.3 by a fair coin
    cont = make(DataSpec("f", "vector", (2000,), "continuous", value_range=(0.0, 4.0)), noise=0.5)
    noisy = cont.corrupt(torch.full((4, 2000), 2.0), generator=torch.Generator().manual_seed(0))
    assert (noisy - 2.0).std().item() == pytest.approx(1.0, rel=0.05)  # 0.5 on [-1, 1] = 1.0 here


def test_complete_keeps_observed_values():
    spec = SPECS["categorical"]
    model = make(spec)
    x = random_batch(spec, 5)
    mask = torch.rand(5, 6, generator=torch.Generator().manual_seed(0)) < 0.5
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(1), complete_steps=3)
    assert out.dtype == torch.int64 and torch.equal(out[mask], x[mask])


def test_no_likelihood_and_refusals():
    spec = SPECS["binary"]
    with pytest.raises(CapabilityError):
        make(spec).log_prob(torch.zeros(2, 1, 4, 4))
    with pytest.raises(GenzooError, match="noise"):
        build_model("gsn", spec, {"noise": 1.5})
    with pytest.raises(IncompatibleDataError, match="accepts"):
        build_model("gsn", DataSpec("w", "vector", (5,), "count"))


def test_training_on_digits_lowers_recon_and_chains_approach_the_data():
    data = load_dataset("digits", binarize="threshold")
    torch.manual_seed(0)
    model = build_model("gsn", data.spec, {"hidden": "128,128", "sample_steps": 30})
    batch = data.test.batch(torch.arange(256))
    model.eval()
    torch.manual_seed(1)
    before = model.loss(batch)["recon"].item()
    Trainer(model, data, TrainConfig(steps=300, batch_size=64, lr=1e-3, checkpoint_every=0), progress=False).fit()
    model.eval()
    torch.manual_seed(1)
    after = model.loss(batch)["recon"].item()
    assert after < 0.6 * before, (before, after)  # about 44 -> 16 nats

    train = data.train.x.reshape(len(data.train.x), -1)
    samples = model.sample(100, generator=torch.Generator().manual_seed(0)).reshape(100, -1)
    noise = torch.bernoulli(torch.full((100, 64), 0.5), generator=torch.Generator().manual_seed(0))

    def nearest(s: torch.Tensor) -> float:  # mean Hamming distance to the nearest training image
        return torch.cdist(s, train, p=1).min(1).values.mean().item()

    assert nearest(samples) < 0.5 * nearest(noise)
    assert abs(samples.mean().item() - train.mean().item()) < 0.05  # ink ~0.32, noise 0.5
    pixel_err = (samples.mean(0) - train.mean(0)).abs().mean().item()
    assert pixel_err < 0.5 * (noise.mean(0) - train.mean(0)).abs().mean().item()

"""The conditional VAE: labelled data only, label-conditional sampling that follows the
requested classes, and its bounds on log p(x|y) and log p(x)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import CapabilityError, GenzooError, IncompatibleDataError
from genzoo.models.latent.cvae import CVAE
from tests.helpers import random_batch

DIGITS = DataSpec("digits", "image", (1, 8, 8), "categorical", num_values=17, num_classes=10)
TINY = DataSpec("tiny", "image", (1, 2, 2), "binary", num_classes=2)


def make(spec: DataSpec, **overrides) -> CVAE:
    return CVAE(build_config(CVAE.Config, overrides), spec)


def test_needs_labelled_data() -> None:
    from genzoo.models.registry import build_model

    unlabelled = DataSpec("plain", "image", (1, 8, 8), "binary")
    with pytest.raises(IncompatibleDataError, match="labels.*accepts"):
        build_model("cvae", unlabelled)
    with pytest.raises(IncompatibleDataError, match="accepts"):
        build_model("cvae", DataSpec("seq", "sequence", (5,), "categorical", num_values=3, num_classes=2))
    assert isinstance(build_model("cvae", DIGITS), CVAE)
    with pytest.raises(GenzooError, match="no labels"):
        make(DIGITS).loss({"x": random_batch(DIGITS, 3)})


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_every_method(arch: str) -> None:
    torch.manual_seed(0)
    model = make(DIGITS, arch=arch, hidden=32, channels=8, latent_dim=3)
    x, y = random_batch(DIGITS, 6), torch.tensor([0, 1, 2, 3, 9, 9])
    out = model.loss({"x": x, "y": y})
    assert {"loss", "elbo", "recon", "kl", "bits_per_dim"} <= set(out)
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with torch.no_grad():
        assert model.log_prob(x, y=y, k=3).shape == (6,)
        assert model.log_prob(x).shape == (6,)
        s = model.sample(6, condition=y, generator=torch.Generator().manual_seed(0))
        assert s.shape == (6, 1, 8, 8) and s.dtype == torch.int64
        z = model.encode(x, condition=y)
        assert z.shape == (6, 3)
        assert model.encode(x).shape == (6, 3)  # labels inferred by the model
        assert model.decode(z, condition=y).shape == (6, 1, 8, 8)
    with pytest.raises(GenzooError, match="label"):
        model.decode(z)
    with pytest.raises(GenzooError, match="labels must be in"):
        model.sample(2, condition=torch.tensor([0, 10]))
    with pytest.raises(GenzooError, match="shape"):
        model.sample(3, condition=torch.tensor([0, 1]))
    with pytest.raises(CapabilityError, match="cannot complete"):
        model.complete(x, torch.ones_like(x, dtype=torch.bool))
    assert set(model.capabilities) == {"conditional", "encode", "decode"}


def test_unlabelled_bound_is_the_mean_over_classes() -> None:
    torch.manual_seed(0)
    model = make(DIGITS, arch="mlp", hidden=32, latent_dim=3)
    x = random_batch(DIGITS, 5)
    with torch.no_grad():
        both = model.log_prob(x, k=4, generator=torch.Generator().manual_seed(1))
        g = torch.Generator().manual_seed(1)  # the same draws, class by class
        per = torch.stack([model.log_prob(x, y=torch.full((5,), c), k=4, generator=g) for c in range(10)])
    torch.testing.assert_close(both, per.logsumexp(0) - math.log(10))
    assert "log p(x|y)" in model.likelihood_note(y=True)
    assert model.likelihood_note(k=5) == "bound: IWAE (k=5) on log p(x) = log mean_y p(x|y), y uniform over 10 classes"


def test_bounds_lose_mass_over_a_tiny_space() -> None:
    torch.manual_seed(0)
    model = make(TINY, hidden=16, latent_dim=2)
    every = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4))).view(16, 1, 2, 2)
    reps = 200
    xs = every.repeat(reps, 1, 1, 1)
    with torch.no_grad():
        for y in (None, 0, 1):
            labels = None if y is None else torch.full((16 * reps,), y)
            lp = model.log_prob(xs, y=labels, k=2, generator=torch.Generator().manual_seed(0)).view(reps, 16)
            assert lp.double().mean(0).logsumexp(0).exp().item() <= 1.0 + 1e-4


def test_samples_follow_the_requested_labels() -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (torch.tensor(d.data) >= 8).float().view(-1, 64)
    y = torch.tensor(d.target).long()
    spec = DataSpec("digits-bin", "vector", (64,), "binary", num_classes=10)
    torch.manual_seed(0)
    model = make(spec, arch="mlp", hidden=128, latent_dim=4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(300):
        idx = torch.arange(step * 64, (step + 1) * 64) % 1500
        opt.zero_grad()
        model.loss({"x": x[idx], "y": y[idx]})["loss"].backward()
        opt.step()
    # A nearest-class-mean classifier on the training images judges the samples.
    means = torch.stack([x[:1500][y[:1500] == c].mean(0) for c in range(10)])  # (10, 64)
    labels = torch.arange(10).repeat_interleave(30)
    samples = model.sample(300, condition=labels, generator=torch.Generator().manual_seed(0))
    agree = (torch.cdist(samples, means).argmin(1) == labels).float().mean().item()
    assert agree > 0.6, agree  # chance is 0.1
    # Unconditional draws pick labels uniformly with the generator: seeded, all classes.
    a = model.sample(200, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, model.sample(200, generator=torch.Generator().manual_seed(5)))
    assert len(torch.cdist(a, means).argmin(1).unique()) >= 8
    # Labels make test images more probable: log p(x|y) beats log p(x) (uniform p(y)).
    with torch.no_grad():
        test, ty = x[1500:], y[1500:]
        given = model.log_prob(test, y=ty, k=5, generator=torch.Generator().manual_seed(0)).mean()
        marginal = model.log_prob(test, k=5, generator=torch.Generator().manual_seed(0)).mean()
    assert given > marginal, (given, marginal)

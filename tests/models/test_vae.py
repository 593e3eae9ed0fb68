"""The VAE: shapes for every arch and decoder, the IWAE bound's properties, training."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.latent.vae import VAE
from tests.helpers import check_in_spec, random_batch

DIGITS = DataSpec("digits", "image", (1, 8, 8), "categorical", num_values=17)
MNIST = DataSpec("mnist", "image", (1, 28, 28), "binary")
TINY = DataSpec("tiny", "image", (1, 2, 2), "binary")
CONT = DataSpec("cont", "vector", (6,), "continuous", value_range=(-2.0, 3.0))


def make(spec: DataSpec, **overrides) -> VAE:
    return VAE(build_config(VAE.Config, overrides), spec)


def digits(binary: bool) -> torch.Tensor:
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().data, dtype=torch.float32).view(-1, 1, 8, 8)
    return (x >= 8).float() if binary else x.long()


def exercise(model: VAE, n: int = 5) -> None:
    """Every public method once: finite values of the right shapes, gradients flow."""
    spec = model.spec
    x = random_batch(spec, n)
    out = model.loss({"x": x})
    assert set(out) >= {"loss", "elbo", "recon", "kl", "bits_per_dim"}
    assert all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    lp = model.log_prob(x, k=3, generator=torch.Generator().manual_seed(0))
    assert lp.shape == (n,) and torch.isfinite(lp).all()
    check_in_spec(model.sample(n, generator=torch.Generator().manual_seed(1)), spec, n)
    z = model.encode(x)
    assert z.shape == (n, model.config.latent_dim)
    check_in_spec(model.decode(z), spec, n)


@pytest.mark.parametrize("spec", [DIGITS, MNIST], ids=["digits", "mnist"])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_archs_on_images(spec: DataSpec, arch: str) -> None:
    model = make(spec, arch=arch, hidden=64, channels=8)
    assert model.arch == arch
    exercise(model)


def test_auto_arch() -> None:
    assert make(DIGITS).arch == "conv"
    assert make(TINY).arch == "mlp"  # 2x2 does not divide by 4
    assert make(CONT).arch == "mlp"


@pytest.mark.parametrize("spec,decoder", [
    (DIGITS, "categorical"), (DIGITS, "dlogistic"), (DIGITS, "dgaussian"), (DIGITS, "auto"),
    (MNIST, "bernoulli"), (MNIST, "categorical"), (MNIST, "dlogistic"), (MNIST, "dgaussian"),
    (CONT, "gaussian"), (CONT, "auto"),
])
def test_every_decoder(spec: DataSpec, decoder: str) -> None:
    exercise(make(spec, decoder=decoder, hidden=32, channels=8, latent_dim=4))


def test_auto_decoder_fits_value_type() -> None:
    assert make(MNIST).decoder_kind == "bernoulli"
    assert make(DIGITS).decoder_kind == "categorical"
    assert make(CONT).decoder_kind == "gaussian"


def test_incompatible_options_are_refused() -> None:
    with pytest.raises(IncompatibleDataError, match="allowed: auto, categorical, dlogistic, dgaussian"):
        make(DIGITS, decoder="bernoulli")
    with pytest.raises(IncompatibleDataError, match="allowed: auto, gaussian"):
        make(CONT, decoder="categorical")
    with pytest.raises(IncompatibleDataError, match="divisible by 4"):
        make(DataSpec("odd", "image", (1, 12, 10), "binary"), arch="conv")
    with pytest.raises(IncompatibleDataError, match="divisible by 4"):
        make(CONT, arch="conv")
    with pytest.raises(IncompatibleDataError, match="accepts"):
        make(DataSpec("seq", "sequence", (5,), "categorical", num_values=3))
    with pytest.raises(GenzooError, match="decoder"):
        build_config(VAE.Config, {"decoder": "poisson"})
    with pytest.raises(GenzooError, match="latent_dim"):
        build_config(VAE.Config, {"latent_dim": 0})


@pytest.mark.parametrize("decoder", ["dlogistic", "dgaussian"])
@pytest.mark.parametrize("levels", [2, 17, 256])
def test_discretized_decoder_sums_to_one(decoder: str, levels: int) -> None:
    spec = DataSpec("k", "vector", (3,), "categorical", num_values=levels)
    model = make(spec, decoder=decoder, hidden=8, latent_dim=2)
    g = torch.Generator().manual_seed(0)
    # Means well outside [-1, 1] and scales from tiny to huge: the tails must still add up.
    mean = torch.rand(500, generator=g) * 8 - 4
    log_scale = torch.rand(500, generator=g) * 12 - 9
    table = model.decoder.level_log_probs(torch.stack([mean, log_scale], -1))  # (500, K)
    assert table.shape == (500, levels)
    assert torch.isfinite(table).all()
    torch.testing.assert_close(table.logsumexp(-1), torch.zeros(500), atol=1e-5, rtol=0)
    # A sharp decoder centred on a level puts nearly all its mass there.
    centre = torch.tensor([[2 * 1 / (levels - 1) - 1, -8.0]])
    assert model.decoder.level_log_probs(centre)[0, 1].exp() > 0.99


def fit(model: VAE, x: torch.Tensor, steps: int, *, lr: float = 3e-3, batch: int = 64) -> None:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        idx = torch.arange(step * batch, (step + 1) * batch) % x.shape[0]
        opt.zero_grad()
        model.loss({"x": x[idx]})["loss"].backward()
        opt.step()


@pytest.mark.parametrize("spec", [TINY, DataSpec("tiny_vec", "vector", (4,), "binary")], ids=["image", "vector"])
def test_log_prob_is_a_bound_over_all_configurations(spec: DataSpec) -> None:
    # Three noisy prototypes: correlated pixels, so the latent has something to explain.
    g = torch.Generator().manual_seed(0)
    proto = torch.tensor([[1.0, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]])[torch.randint(0, 3, (512,), generator=g)]
    data = (proto != (torch.rand(512, 4, generator=g) < 0.1).float()).float().view(512, *spec.shape)
    model = make(spec, hidden=32, latent_dim=2)
    fit(model, data, 150, batch=128)
    every = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4))).view(16, *spec.shape)
    reps = 1000
    xs = every.repeat(reps, *([1] * len(spec.shape)))
    with torch.no_grad():
        for k in (1, 10):
            # The bound holds for the expectation over z of each log-weight average, so
            # average many estimates per configuration before exponentiating; allow for
            # the Monte Carlo error left in those averages.
            lp = model.log_prob(xs, k=k, generator=torch.Generator().manual_seed(k)).view(reps, 16)
            p, stderr = lp.mean(0).exp(), lp.std(0) / math.sqrt(reps)
            total, noise = p.sum().item(), (p * stderr).norm().item()
            assert 0.5 < total <= 1.0 + 4 * noise, (k, total, noise)


@pytest.fixture(scope="module")
def trained_digits() -> dict:
    """A conv VAE trained 200 Adam steps on categorical 8x8 digits, with before/after ELBOs."""
    torch.manual_seed(0)
    x = digits(binary=False)
    train, test = x[:1500], x[1500:]
    model = make(DIGITS)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        before = model.log_prob(test, k=1, generator=g).mean().item()
    fit(model, train, 200)
    with torch.no_grad():
        after = model.log_prob(test, k=1, generator=torch.Generator().manual_seed(0)).mean().item()
    return {"model": model, "test": test, "before": before, "after": after}


def test_training_improves_the_elbo(trained_digits: dict) -> None:
    before, after = trained_digits["before"], trained_digits["after"]
    assert after > before + 30, (before, after)  # nats per 64-pixel image
    out = trained_digits["model"].loss({"x": trained_digits["test"]})
    assert out["bits_per_dim"].item() == pytest.approx(-out["elbo"].item() / (64 * math.log(2)))


def test_iwae_bound_rises_with_k(trained_digits: dict) -> None:
    model, test = trained_digits["model"], trained_digits["test"][:150]
    with torch.no_grad():
        means = {k: model.log_prob(test, k=k, generator=torch.Generator().manual_seed(7)).mean().item()
                 for k in (1, 10, 100)}
    # Monte Carlo noise in the mean over 150 images is well under a nat.
    assert means[1] <= means[10] + 0.5 and means[10] <= means[100] + 0.5, means
    assert means[100] > means[1], means


def test_seeded_sampling_and_scoring_are_deterministic(trained_digits: dict) -> None:
    model, test = trained_digits["model"], trained_digits["test"][:8]
    a = model.sample(6, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(123)  # the global RNG must not matter
    b = model.sample(6, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with torch.no_grad():
        la = model.log_prob(test, k=5, generator=torch.Generator().manual_seed(4))
        lb = model.log_prob(test, k=5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(la, lb)


def test_iwae_chunks_agree_with_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    import genzoo.models.latent.vae as vae_module

    model, x = make(DIGITS, channels=8), random_batch(DIGITS, 4)
    with torch.no_grad():
        whole = model.log_prob(x, k=12, generator=torch.Generator().manual_seed(0))
        monkeypatch.setattr(vae_module, "ELEMENT_BUDGET", 4 * 64 * 17 * 5)  # chunks of 5 samples
        parts = model.log_prob(x, k=12, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(whole, parts)


def test_likelihood_note() -> None:
    model = make(DIGITS, k=50)
    assert model.likelihood == "bound"
    assert model.likelihood_note() == "bound: IWAE (k=50)"
    assert model.likelihood_note(k=1) == "bound: ELBO (k=1)"
    assert make(DIGITS).likelihood_note() == "bound: ELBO (k=1)"


def test_registry_builds_with_defaults() -> None:
    from genzoo.models.registry import build_model

    model = build_model("vae", DIGITS)
    assert isinstance(model, VAE) and model.family == "latent"
    assert set(model.capabilities) == {"encode", "decode", "complete"}


# ---- IWAE objective, beta, completion ----------------------------------------------------
def two_prototypes(n: int = 512, noise: float = 0.05) -> torch.Tensor:
    """4-bit vectors near 1100 or 0011: a 1-d latent explains them, with an ambiguous middle."""
    g = torch.Generator().manual_seed(0)
    proto = torch.tensor([[1.0, 1, 0, 0], [0, 0, 1, 1]])[torch.randint(0, 2, (n,), generator=g)]
    return (proto != (torch.rand(n, 4, generator=g) < noise).float()).float()


def test_iwae_bound_rises_with_k_and_stays_below_the_exact_likelihood() -> None:
    # The invariant, checked against the truth: with a 1-d latent, log p(x) =
    # log int p(x|z) N(z; 0, 1) dz is a quadrature, for all 16 configurations of 4 bits.
    spec = DataSpec("tiny_vec", "vector", (4,), "binary")
    torch.manual_seed(0)
    model = make(spec, arch="mlp", latent_dim=1, hidden=32)
    fit(model, two_prototypes(), 100, lr=1e-2, batch=128)
    every = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4)))  # (16, 4)
    with torch.no_grad():
        z = torch.linspace(-10.0, 10.0, 20001, dtype=torch.float64)  # (Z,)
        table = model.decoder.level_log_probs(model.decoder(z[:, None].float())).double()  # (Z, 4, 2)
        log_px_z = table[:, torch.arange(4), every.long()].sum(-1).T  # (16, Z)
        trapezoid = torch.ones_like(z)
        trapezoid[[0, -1]] = 0.5
        log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)) + trapezoid.log() + math.log(20.0 / 20000)
        exact = torch.logsumexp(log_px_z + log_pz, 1)  # (16,)
        assert exact.exp().sum().item() == pytest.approx(1.0, abs=1e-6)
        reps, mean, se = 2000, {}, {}
        for k in (1, 5, 50):
            lp = model.log_prob(every.repeat(reps, 1), k=k, generator=torch.Generator().manual_seed(k))
            lp = lp.double().view(reps, 16)
            mean[k], se[k] = lp.mean(0), lp.std(0) / math.sqrt(reps)
    for k in (1, 5, 50):  # a lower bound in expectation, up to Monte Carlo error
        assert (mean[k] <= exact + 4 * se[k] + 1e-5).all(), (k, exact - mean[k], se[k])
    for a, b in ((1, 5), (5, 50)):  # non-decreasing in k, configuration by configuration
        assert (mean[a] <= mean[b] + 4 * (se[a].pow(2) + se[b].pow(2)).sqrt()).all(), (a, b)
    gap = {k: (exact - mean[k]).mean().item() for k in mean}
    assert gap[1] > 0.05, gap  # the posterior is not trivial: the ELBO is visibly loose
    assert gap[1] > 2 * gap[5] > 4 * gap[50], gap  # and IWAE closes the gap as k grows
    assert gap[50] < min(0.05, gap[1] / 4), gap  # k=50 is nearly exact


def test_iwae_objective_trains() -> None:
    spec = DataSpec("tiny_vec", "vector", (4,), "binary")
    torch.manual_seed(0)
    model = make(spec, arch="mlp", latent_dim=2, hidden=32, objective="iwae", train_k=5)
    data = two_prototypes()
    out = model.loss({"x": data})
    assert {"loss", "iwae", "elbo", "recon", "kl", "bits_per_dim"} <= set(out)
    assert out["loss"].item() == pytest.approx(-out["iwae"].item())
    assert out["bits_per_dim"].item() == pytest.approx(-out["iwae"].item() / (4 * math.log(2)))
    before = model.loss({"x": data})["iwae"].item()
    fit(model, data, 100, lr=1e-2, batch=128)
    after = model.loss({"x": data})["iwae"].item()
    assert after > before + 0.5, (before, after)


def test_beta_only_with_the_elbo_objective() -> None:
    assert build_config(VAE.Config, {"beta": 4.0}).beta == 4.0
    assert build_config(VAE.Config, {"objective": "iwae", "train_k": 5}).train_k == 5
    with pytest.raises(GenzooError, match="beta"):
        build_config(VAE.Config, {"objective": "iwae", "beta": 4.0})
    with pytest.raises(GenzooError, match="objective"):
        build_config(VAE.Config, {"objective": "vimco"})
    with pytest.raises(GenzooError, match="train_k"):
        build_config(VAE.Config, {"train_k": 0})
    # beta weights the KL in the loss only; the logged ELBO is the true one
    model, x = make(MNIST, hidden=16, channels=4, latent_dim=2, beta=3.0), random_batch(MNIST, 6)
    torch.manual_seed(0)
    out = model.loss({"x": x})
    assert out["loss"].item() == pytest.approx(3.0 * out["kl"].item() - out["recon"].item(), rel=1e-5)
    assert out["elbo"].item() == pytest.approx(out["recon"].item() - out["kl"].item(), rel=1e-5)


def test_complete_keeps_observed_pixels_and_beats_random_fill(trained_digits: dict) -> None:
    model, test = trained_digits["model"], trained_digits["test"][:100]
    mask = torch.ones_like(test, dtype=torch.bool)
    mask[:, :, 4:, :] = False  # the bottom half is hidden
    with torch.no_grad():
        a = model.complete(test, mask, generator=torch.Generator().manual_seed(0), complete_steps=20)
        b = model.complete(test, mask, generator=torch.Generator().manual_seed(0), complete_steps=20)
    assert torch.equal(a, b) and a.dtype == test.dtype and a.shape == test.shape
    assert torch.equal(a[mask], test[mask])
    hidden = ~mask
    err = (a[hidden] - test[hidden]).abs().float().mean().item()
    noise = torch.randint(0, 17, test.shape, generator=torch.Generator().manual_seed(1))
    err_random = (noise[hidden] - test[hidden]).abs().float().mean().item()
    assert err < 0.7 * err_random, (err, err_random)
    with pytest.raises(GenzooError, match="complete_steps"):
        model.complete(test, mask, complete_steps=0)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_mlp_depth_sets_the_hidden_layers(depth: int) -> None:
    model = make(MNIST, arch="mlp", hidden=12, latent_dim=3, depth=depth)
    linears = [m for m in model.encoder.head if isinstance(m, torch.nn.Linear)]
    assert len(linears) == depth + 1 and linears[0].in_features == 784 and linears[-1].out_features == 6
    assert len([m for m in model.decoder.net if isinstance(m, torch.nn.Linear)]) == depth + 1
    exercise(model)
    with pytest.raises(GenzooError, match="depth"):
        make(MNIST, arch="mlp", depth=0)


def test_configs_saved_before_depth_existed_still_load() -> None:
    """A config.json without ``depth`` means two hidden layers, with the same weight names."""
    old = {"arch": "mlp", "latent_dim": 3, "hidden": 12}
    model = make(MNIST, **old)
    assert model.config.depth == 2
    names = set(model.state_dict())
    assert {"encoder.head.0.weight", "encoder.head.2.weight", "encoder.head.4.weight",
            "decoder.net.4.bias"} <= names
    VAE(build_config(VAE.Config, old), MNIST).load_state_dict(model.state_dict())


def test_input_range_unit_feeds_binary_pixels_as_0_1() -> None:
    torch.manual_seed(0)
    x = random_batch(MNIST, 4)
    sym = make(MNIST, arch="mlp", hidden=12, latent_dim=3)
    unit = make(MNIST, arch="mlp", hidden=12, latent_dim=3, input_range="unit")
    unit.load_state_dict(sym.state_dict())  # same weights, only what the encoder reads differs
    flat = x.flatten(1).float()
    assert torch.allclose(unit.encoder(x), unit.encoder.head(flat), atol=1e-6)
    assert torch.allclose(sym.encoder(x), sym.encoder.head(2 * flat - 1), atol=1e-6)
    exercise(unit)
    with pytest.raises(GenzooError, match="input_range"):
        make(MNIST, input_range="probability")


@pytest.mark.parametrize("family", ["logistic", "gaussian"])
@pytest.mark.parametrize("k", [2, 3, 256])
def test_the_one_level_discretized_log_prob_is_the_table_entry(family, k):
    """The decoder scores only the observed level; it must equal that entry of the full
    K-level table, gradients included (extreme means and scales too)."""
    from genzoo.models.latent.layers import discretized_log_prob_at, discretized_log_probs

    g = torch.Generator().manual_seed(0)
    mean = (torch.randn(500, generator=g) * 1.5).requires_grad_()
    log_scale = (torch.randn(500, generator=g) * 2 - 3).requires_grad_()
    level = torch.randint(0, k, (500,), generator=g)
    table = discretized_log_probs(mean, log_scale, k, family=family).gather(-1, level[:, None]).squeeze(-1)
    one = discretized_log_prob_at(mean, log_scale, level, k, family=family)
    assert torch.allclose(one, table, atol=1e-5, rtol=1e-5)
    g_table = torch.autograd.grad(table.sum(), (mean, log_scale))
    g_one = torch.autograd.grad(one.sum(), (mean, log_scale))
    for a, b in zip(g_one, g_table):
        assert torch.isfinite(a).all() and torch.allclose(a, b, atol=1e-4, rtol=1e-3)  # float32 edges

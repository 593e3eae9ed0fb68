"""GMM: EM agrees with scikit-learn, the dequantization bound, sampling, minibatch EM."""

from __future__ import annotations

import datetime
import math

import numpy as np
import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.mixture.gmm import GMM

DIGITS_CAT = DataSpec("digits", "image", (1, 8, 8), "categorical", num_values=17)
DIGITS_CONT = DataSpec("digits", "vector", (64,), "continuous", value_range=(-1.0, 2.0))
BINARY = DataSpec("b", "image", (1, 4, 4), "binary")
VEC = DataSpec("v", "vector", (2,), "continuous", value_range=(-3.0, 3.0))


def make(spec: DataSpec, **over: object) -> GMM:
    return GMM(build_config(GMM.Config, over), spec)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().data  # (1797, 64) ints in [0, 16]


def _kmeans_init(x: np.ndarray, C: int, cov: str, reg: float) -> tuple[np.ndarray, ...]:
    from sklearn.cluster import KMeans

    labels = KMeans(C, n_init=1, random_state=0).fit(x).labels_
    w = np.bincount(labels, minlength=C) / len(labels)
    mu = np.stack([x[labels == k].mean(0) for k in range(C)])
    if cov == "full":
        prec = np.stack([np.linalg.inv(np.cov(x[labels == k].T, bias=True) + reg * np.eye(x.shape[1]))
                         for k in range(C)])
    else:
        prec = np.stack([1.0 / (x[labels == k].var(0) + reg) for k in range(C)])
    return w, mu, prec


@pytest.mark.parametrize("cov", ["full", "diag"])
def test_fit_matches_sklearn(digits, cov):
    from sklearn.mixture import GaussianMixture

    # Continuous data: digits/16 plus a little noise (so no pixel is exactly constant).
    x = digits / 16.0 + 0.01 * np.random.default_rng(0).standard_normal(digits.shape)
    train, test = x[:1000], x[1000:]
    C, reg = 4, 1e-6
    w, mu, prec = _kmeans_init(train, C, cov, reg)
    sk = GaussianMixture(C, covariance_type=cov, reg_covar=reg, tol=1e-3, max_iter=100,
                         weights_init=w, means_init=mu, precisions_init=prec,
                         init_params="random_from_data").fit(train)  # all inits given: skip its k-means
    model = make(DIGITS_CONT, components=C, covariance=cov, reg_covar=reg)
    info = model.fit(torch.tensor(train), max_iter=100, tol=1e-3, weights_init=torch.tensor(w),
                     means_init=torch.tensor(mu), precisions_init=torch.tensor(prec))
    assert info["converged"] == 1.0 and int(info["iterations"]) == sk.n_iter_
    ours = model.log_prob(torch.tensor(test)).double().numpy()
    theirs = sk.score_samples(test)
    # Same EM from the same start in float64: the mean test log-likelihood (~50 nats)
    # agrees to 1e-4 nats (measured ~1e-7); per example to 1e-3 (log_prob returns
    # float32, measured ~1e-5).
    assert abs(ours.mean() - theirs.mean()) < 1e-4
    assert np.abs(ours - theirs).max() < 1e-3
    np.testing.assert_allclose(model.weights.numpy(), sk.weights_, atol=1e-6)
    assert model.likelihood_note() == "exact" and model.likelihood_kind == "exact"


def test_full_beats_diag_on_train(digits):
    x = torch.tensor(digits / 16.0 + 0.01 * np.random.default_rng(1).standard_normal(digits.shape))
    torch.manual_seed(0)
    ll = {cov: make(DIGITS_CONT, components=4, covariance=cov).fit(x[:1000])["log_likelihood"]
          for cov in ("full", "diag")}
    assert ll["full"] > ll["diag"]  # a full covariance nests the diagonal one


def test_categorical_bound_and_minibatch_em(digits):
    torch.manual_seed(0)
    x = torch.tensor(digits, dtype=torch.int64).view(-1, 1, 8, 8)
    train, test = x[:1500], x[1500:]
    model = make(DIGITS_CAT, covariance="diag")
    assert model.likelihood_kind == "bound"
    assert model.likelihood_note() == "bound (uniform dequantization, 4 samples)"
    (player,) = model.players()
    assert player.parameters == [] and player.update is not None
    before = model.loss({"x": test})["loss"]
    assert torch.isfinite(before)
    for _ in range(2):
        perm = torch.randperm(len(train))
        for i in range(0, len(train), 128):
            logs = player.update({"x": train[perm[i:i + 128]]})
    assert math.isfinite(logs["loss"]) and 0 < logs["step_size"] < 1
    after = model.loss({"x": test})["loss"]
    assert after < before - 50  # ~247 -> ~130 nats
    lp = model.log_prob(test)
    assert lp.shape == (len(test),) and lp.dtype == torch.float32
    # a bound on the log-probability of a discrete event
    assert bool((lp <= 0).all())
    assert torch.equal(lp, model.log_prob(test))  # fixed default dequantization seed
    # save / load reproduces
    clone = make(DIGITS_CAT, covariance="diag")
    clone.load_state_dict(model.state_dict())
    assert torch.equal(clone.log_prob(test), lp)


def test_bound_sums_to_at_most_one():
    # Exhaustively: sum_x exp(bound(x)) <= sum_x P(x) = 1 on categorical(3)^2.
    spec = DataSpec("c", "vector", (2,), "categorical", num_values=3)
    torch.manual_seed(0)
    data = torch.tensor([[0, 0], [0, 1], [2, 2], [1, 2], [2, 2]]).repeat(40, 1)
    model = make(spec, components=3, covariance="full", reg_covar=1e-3)
    model.fit(data)
    grid = torch.cartesian_prod(torch.arange(3), torch.arange(3))  # (9, 2)
    total = model.log_prob(grid, dequant_samples=512).double().exp().sum().item()
    assert 0.5 < total <= 1.0


@pytest.mark.parametrize("spec", [DIGITS_CAT, BINARY, VEC], ids=["categorical", "binary", "continuous"])
def test_defaults_sample_and_log_prob(spec):
    torch.manual_seed(0)
    model = make(spec)
    data = model.sample(64, generator=torch.Generator().manual_seed(3))
    model.em_step({"x": data})
    s = model.sample(16, generator=torch.Generator().manual_seed(1))
    assert s.shape == (16, *spec.shape) and s.dtype == spec.dtype
    assert torch.equal(s, model.sample(16, generator=torch.Generator().manual_seed(1)))
    if spec.value_type == "continuous":
        assert float(s.min()) >= -3 and float(s.max()) <= 3
    else:
        assert int(s.min()) >= 0 and int(s.max()) < spec.num_values
    assert bool(torch.isfinite(model.log_prob(s)).all())
    assert torch.isfinite(model.loss({"x": s})["loss"])


def test_samples_follow_mixture_weights():
    model = make(VEC, components=2, covariance="diag")
    model.weights.copy_(torch.tensor([0.25, 0.75], dtype=torch.float64))
    model.means.copy_(torch.tensor([[-2.0, -2.0], [2.0, 2.0]], dtype=torch.float64))
    model.variances.fill_(0.01)
    s = model.sample(4000, generator=torch.Generator().manual_seed(0))
    assert abs(float((s[:, 0] > 0).float().mean()) - 0.75) < 0.03


def test_config_validation():
    with pytest.raises(GenzooError):
        build_config(GMM.Config, {"covariance": "spherical"})
    with pytest.raises(GenzooError):
        build_config(GMM.Config, {"components": 0})
    with pytest.raises(GenzooError):
        build_config(GMM.Config, {"stepwise_power": 1.5})


def _em_worker(rank: int, world: int, init_file: str, state: dict, batch: torch.Tensor, out: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                                         world_size=world, timeout=datetime.timedelta(seconds=60))
    try:
        model = make(DataSpec("v", "vector", (3,), "continuous", value_range=(-5.0, 5.0)), components=2)
        model.load_state_dict(state)
        model.em_step({"x": batch.chunk(world)[rank]})
        if rank == 0:
            torch.save(model.state_dict(), out)
    finally:
        torch.distributed.destroy_process_group()


def test_distributed_em_equals_union(tmp_path):
    # Two gloo processes, each with half the batch, take the same EM step as one
    # process with the whole batch (sufficient statistics are all-reduced).
    spec = DataSpec("v", "vector", (3,), "continuous", value_range=(-5.0, 5.0))
    g = torch.Generator().manual_seed(0)
    data = torch.cat([torch.randn(60, 3, generator=g) - 1, torch.randn(60, 3, generator=g) + 1])
    torch.manual_seed(0)
    single = make(spec, components=2)
    single.fit(data, max_iter=2)
    state = {k: v.clone() for k, v in single.state_dict().items()}
    batch = data[torch.randperm(120, generator=g)[:80]]
    single.em_step({"x": batch})
    out = tmp_path / "rank0.pt"
    # spawn, not fork: forked children of a process that already ran torch ops can deadlock
    torch.multiprocessing.spawn(_em_worker, args=(2, str(tmp_path / "pg"), state, batch, str(out)), nprocs=2)
    multi = torch.load(out)
    for k, v in single.state_dict().items():
        torch.testing.assert_close(multi[k], v, rtol=1e-10, atol=1e-12)

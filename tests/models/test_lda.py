"""LDA: topic recovery on a corpus with known topics, held-out perplexity, the bound,
sampling, encoding, save/load, refusals."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from scipy.stats import multinomial

from genzoo.config import build_config
from genzoo.data.dataset import Dataset, Split
from genzoo.data.documents import synthetic_topics
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.mixture.lda import LDA
from genzoo.models.registry import build_model
from genzoo.report.render import save_samples
from genzoo.train.checkpoint import load_weights, save_weights
from genzoo.train.config import TrainConfig
from genzoo.train.trainer import Trainer

K, V = 5, 100
SPEC = DataSpec("syn", "vector", (V,), "count", vocabulary=tuple(f"w{i}" for i in range(V)))


def make(spec: DataSpec = SPEC, **over: object) -> LDA:
    return LDA(build_config(LDA.Config, over), spec)


def true_model(topics: np.ndarray, alpha: float) -> LDA:
    """An LDA whose expected topics are ``topics`` (lambda = a huge multiple)."""
    m = make(DataSpec("t", "vector", (topics.shape[1],), "count"), topics=topics.shape[0], alpha=alpha)
    m.lam.copy_(torch.from_numpy(topics) * 1e6 + 1e-12)
    return m


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # The E-step is many small matrix products: on a busy 2-core machine, OpenMP threads
    # spin-waiting on each other make them ~30x slower than one thread.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def corpus():
    """500 documents of ~80 words from 5 sparse topics (eta=0.05) over 100 words."""
    c = synthetic_topics(topics=K, vocab=V, docs=500, doc_length=80, alpha=0.1, eta=0.05, seed=0)
    x = torch.from_numpy(c.counts)
    return c, x[:450], x[450:]


@pytest.fixture(scope="module")
def trained(corpus):
    """Train through the real Trainer: 10 epochs of batches of 50; perplexity along the way."""
    c, train, test = corpus
    torch.manual_seed(0)
    model = build_model("lda", SPEC, {"topics": K, "alpha": 0.1, "total_docs": 450})
    curve = {0: model.perplexity(test)}

    def on_step(step, trainer):
        if step in (1, 9, 90):
            curve[step] = model.perplexity(test)

    data = Dataset(SPEC, Split(train), Split(test))
    Trainer(model, data, TrainConfig(steps=90, batch_size=50, checkpoint_every=0), progress=False,
            on_step=on_step).fit()
    model.eval()
    return model, curve


def test_training_recovers_the_true_topics(corpus, trained):
    c, _, _ = corpus
    model, _ = trained
    learned, true = model.topics_matrix().numpy(), c.topics
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    cos = unit(true) @ unit(learned).T  # (K true, K learned)
    rows, cols = linear_sum_assignment(-cos)  # Hungarian matching
    assert cos[rows, cols].min() > 0.9, cos[rows, cols]  # measured >= 0.999
    tv = 0.5 * np.abs(true[rows] - learned[cols]).sum(1)
    assert tv.max() < 0.2, tv  # total-variation distance, measured <= 0.03


def test_held_out_perplexity_falls_to_the_true_models(corpus, trained):
    c, _, test = corpus
    _, curve = trained
    steps = sorted(curve)
    assert all(curve[a] > curve[b] for a, b in zip(steps, steps[1:])), curve
    assert curve[0] > 0.8 * V  # near-uniform topics at the start (measured ~103)
    truth = true_model(c.topics, 0.1).perplexity(test)  # measured ~16.7
    assert curve[90] < 0.25 * V
    assert curve[90] < 1.05 * truth, (curve[90], truth)


def test_log_prob_is_the_count_vector_bound(corpus, trained):
    _, _, test = corpus
    model, _ = trained
    x = test[:20]
    lp = model.log_prob(x)
    assert lp.shape == (20,) and lp.dtype == torch.float32 and torch.isfinite(lp).all()
    assert (lp < 0).all()
    # log_prob adds the multinomial coefficient to the word-sequence bound behind perplexity
    xd = x.double()
    coef = torch.lgamma(xd.sum(1) + 1) - torch.lgamma(xd + 1).sum(1)
    per_word = -(lp.double() - coef).sum() / xd.sum()
    assert math.exp(per_word) == pytest.approx(model.perplexity(x), rel=1e-4)


def test_one_topic_bound_is_the_exact_multinomial():
    spec = DataSpec("s", "vector", (4,), "count")
    m = make(spec, topics=1)
    beta = np.array([0.1, 0.2, 0.3, 0.4])
    m.lam.copy_(torch.from_numpy(beta)[None] * 1000)
    x = torch.tensor([[1, 0, 2, 3], [0, 0, 0, 5], [4, 1, 0, 0]])
    want = [float(multinomial.logpmf(r, r.sum(), beta)) for r in x.numpy()]
    assert m.log_prob(x).double().numpy() == pytest.approx(want, abs=1e-4)


def test_bound_sums_to_at_most_one_over_count_vectors_of_a_length():
    # A lower bound: exp(log_prob) summed over all count vectors of length N is <= 1
    # (measured 0.88 for N=1, 0.77 for N=4: the gap is the KL of q(theta) from the posterior).
    spec = DataSpec("s", "vector", (3,), "count")
    m = make(spec, topics=2, alpha=0.5)
    m.lam.copy_(torch.tensor([[8.0, 1.0, 1.0], [1.0, 1.0, 8.0]], dtype=torch.float64))
    for n in (1, 4):
        grid = torch.tensor([c for c in itertools.product(range(n + 1), repeat=3) if sum(c) == n])
        total = m.log_prob(grid).double().exp().sum().item()
        assert 0.5 < total <= 1.0 + 1e-6, (n, total)


def test_samples_shape_dtype_seed_and_length(corpus, trained):
    _, train, _ = corpus
    model, _ = trained
    a = model.sample(200, generator=torch.Generator().manual_seed(4))
    b = model.sample(200, generator=torch.Generator().manual_seed(4))
    assert a.shape == (200, V) and a.dtype == torch.int64 and (a >= 0).all()
    assert torch.equal(a, b)
    assert not torch.equal(a, model.sample(200, generator=torch.Generator().manual_seed(5)))
    # the length model is Poisson(mean training length)
    assert model.mean_length == pytest.approx(float(train.sum(1).double().mean()), rel=1e-6)
    assert float(a.sum(1).double().mean()) == pytest.approx(model.mean_length, rel=0.05)
    # sampled documents look like the data to the model
    assert model.perplexity(a) < 1.2 * model.perplexity(train[:200])


def test_encode_gives_topic_proportions(corpus, trained):
    c, _, test = corpus
    model, _ = trained
    theta = model.encode(test)
    assert theta.shape == (50, K) and torch.allclose(theta.sum(1), torch.ones(50), atol=1e-5)
    # documents whose true proportions are dominated by one topic get it back (after matching)
    learned, true = model.topics_matrix().numpy(), c.topics
    rows, cols = linear_sum_assignment(-(true @ learned.T))
    true_theta = c.theta[450:]
    dominant = true_theta.max(1) > 0.9
    match = cols[true_theta.argmax(1)] == theta.numpy().argmax(1)
    assert match[dominant].mean() > 0.9


def test_save_load_round_trip(tmp_path, corpus, trained):
    _, _, test = corpus
    model, _ = trained
    save_weights(model.state_dict(), tmp_path / "m.safetensors")
    clone = LDA(build_config(LDA.Config, dataclasses.asdict(model.config)),
                DataSpec.from_dict(SPEC.to_dict()))
    clone.load_state_dict(load_weights(tmp_path / "m.safetensors"))
    assert torch.equal(clone.log_prob(test[:5]), model.log_prob(test[:5]))
    g = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    assert torch.equal(clone.sample(6, generator=g()), model.sample(6, generator=g()))
    assert clone.mean_length == model.mean_length


def test_save_samples_writes_top_words(tmp_path, trained):
    model, _ = trained
    x = model.sample(3, generator=torch.Generator().manual_seed(0))
    out = save_samples(x, SPEC, tmp_path / "samples")
    lines = out.read_text().splitlines()
    assert out.suffix == ".txt" and len(lines) == 3
    assert lines[0].startswith(f"doc 0 ({int(x[0].sum())} words): w")


def test_untrained_model_and_random_init_work():
    m = make(topics=3, init="random")
    x = torch.poisson(torch.full((8, V), 0.5), generator=torch.Generator().manual_seed(0)).long()
    out = m.em_step({"x": x})
    assert set(out) == {"loss", "perplexity", "rho", "e_iters"} and math.isfinite(out["loss"])
    assert make(topics=3).sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, V)
    assert make(alpha=None).alpha == pytest.approx(0.1)


def test_refusals_and_bad_config():
    with pytest.raises(IncompatibleDataError, match="accepts: vector count"):
        build_model("lda", DataSpec("v", "vector", (3,), "continuous", value_range=(0.0, 1.0)))
    for other in ("gmm", "vae"):  # "*" value types do not include counts
        with pytest.raises(IncompatibleDataError, match="not count"):
            build_model(other, SPEC)
    for bad in ({"kappa": "2"}, {"topics": "0"}, {"eta": "0"}, {"init": "kmeans"}):
        with pytest.raises(GenzooError, match=next(iter(bad))):
            build_model("lda", SPEC, bad)

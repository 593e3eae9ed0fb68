"""NADE: normalisation, the autoregressive property, the vectorised pass against a naive
loop, sampling against log_prob, completion, and a short training run."""

from __future__ import annotations

import itertools

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.autoregressive.nade import NADE, binary_conditionals

BINARY = DataSpec("b", "image", (1, 4, 4), "binary")
TINY_BIN = DataSpec("tb", "image", (1, 2, 2), "binary")
TINY_CAT = DataSpec("tc", "vector", (3,), "categorical", num_values=3)
SEQ_CAT = DataSpec("s", "sequence", (6,), "categorical", num_values=4)


def make(spec: DataSpec, **over: object) -> NADE:
    torch.manual_seed(0)
    model = NADE(build_config(NADE.Config, over), spec)
    with torch.no_grad():  # non-zero biases so no conditional is trivially uniform
        model.b.normal_(0, 0.5)
        model.c.normal_(0, 0.5)
    return model


def random_batch(spec: DataSpec, n: int, g: torch.Generator) -> torch.Tensor:
    if spec.value_type == "binary":
        return torch.randint(0, 2, (n, *spec.shape), generator=g).float()
    return torch.randint(0, spec.num_values, (n, *spec.shape), generator=g)


def all_configurations(spec: DataSpec) -> torch.Tensor:
    K = 2 if spec.value_type == "binary" else spec.num_values
    grid = torch.tensor(list(itertools.product(range(K), repeat=spec.dim)))  # (K^D, D)
    return grid.view(-1, *spec.shape).to(spec.dtype)


CASES = {
    "binary-raster": (BINARY, {}),
    "binary-random-relu": (BINARY, {"order": "random", "seed": 3, "activation": "relu"}),
    "categorical-raster": (SEQ_CAT, {}),
    "categorical-random": (SEQ_CAT, {"order": "random", "seed": 1}),
}


@pytest.mark.parametrize("spec", [TINY_BIN, TINY_CAT], ids=["binary-2x2", "categorical3-vec3"])
@pytest.mark.parametrize("over", [{}, {"order": "random", "activation": "relu"}], ids=["raster", "random-relu"])
def test_log_prob_normalises(spec, over):
    model = make(spec, hidden=16, **over)
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(all_configurations(spec)).double(), 0).exp().item()
    assert abs(total - 1.0) < 1e-5, total


@pytest.mark.parametrize("case", list(CASES))
def test_autoregressive_property(case):
    spec, over = CASES[case]
    model = make(spec, hidden=32, **over)
    order = model.order.tolist()
    assert sorted(order) == list(range(model.D))
    assert (order == list(range(model.D))) == (over.get("order", "raster") == "raster")
    x = random_batch(spec, 4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        base = model(x)
        for pos, d in enumerate(order):
            y = x.clone().view(4, -1)
            y[:, d] = 1 - y[:, d] if spec.value_type == "binary" else (y[:, d] + 1) % spec.num_values
            out = model(y.view_as(x))
            earlier, later = order[: pos + 1], order[pos + 1:]  # at or before d / after d
            assert torch.equal(out[:, earlier], base[:, earlier]), f"dim {d} leaks into an earlier conditional"
            if later:  # the shared hidden layer does pass x_d on to every later conditional
                assert not torch.allclose(out[:, later[0]], base[:, later[0]])


def naive_log_prob(model: NADE, x: torch.Tensor) -> torch.Tensor:
    """The paper's algorithm written out: one conditional at a time, a fresh a_d each."""
    B = x.shape[0]
    flat = x.reshape(B, model.D)
    act = torch.sigmoid if model.config.activation == "sigmoid" else torch.relu
    total = torch.zeros(B, dtype=torch.float64)
    order = model.order.tolist()
    for i, d in enumerate(order):
        a = model.c.double().expand(B, -1).clone()  # (B, H)
        for j in order[:i]:
            if model.categorical:
                a += model.W[:, j].double().t()[flat[:, j]]
            else:
                a += flat[:, j, None].double() * model.W[:, j].double()
        h = act(a)
        if model.categorical:
            logp = torch.log_softmax(h @ model.V[d].double().t() + model.b[d].double(), -1)  # (B, K)
            total += logp.gather(1, flat[:, d, None]).squeeze(1)
        else:
            p1 = torch.sigmoid(h @ model.V[d].double() + model.b[d].double())  # (B,)
            total += torch.where(flat[:, d] > 0.5, p1, 1 - p1).log()
    return total


@pytest.mark.parametrize("case", list(CASES))
def test_vectorised_log_prob_matches_naive_loop(case):
    spec, over = CASES[case]
    model = make(spec, hidden=24, **over)
    x = random_batch(spec, 8, torch.Generator().manual_seed(1))
    with torch.no_grad():
        fast = model.log_prob(x)
        slow = naive_log_prob(model, x)
    assert fast.shape == (8,)
    torch.testing.assert_close(fast.double(), slow, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("D", [1, 2, 10, 17])  # whole blocks, a padded last block, one position
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_binary_block_backward_matches_autograd(D, activation):
    # the binary conditionals have a hand-written block-wise backward: check it against
    # finite differences and against autograd through the paper's one-at-a-time loop
    g = torch.Generator().manual_seed(D)
    B, H = 3, 5
    xo = torch.randint(0, 2, (B, D), generator=g).double()
    params = [torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
              for shape in ((D, H), (H,), (D, H), (D,))]

    def fast(Wo, c, Vo, bo):
        return binary_conditionals(xo, Wo, c, Vo, bo, activation=activation)

    def loop(Wo, c, Vo, bo):
        a, out = c.expand(B, H), []
        for d in range(D):
            h = torch.sigmoid(a) if activation == "sigmoid" else torch.relu(a)
            out.append(h @ Vo[d] + bo[d])
            a = a + xo[:, d, None] * Wo[d]
        return torch.stack(out, 1)

    assert torch.autograd.gradcheck(fast, params)
    weights = torch.randn(B, D, generator=g, dtype=torch.float64)
    torch.testing.assert_close(fast(*params), loop(*params))
    wants = torch.autograd.grad((loop(*params) * weights).sum(), params, allow_unused=True)
    for got, want, p in zip(torch.autograd.grad((fast(*params) * weights).sum(), params), wants, params):
        torch.testing.assert_close(got, torch.zeros_like(p) if want is None else want)  # None: unused (D=1)


@pytest.mark.parametrize("spec", [TINY_BIN, TINY_CAT], ids=["binary-2x2", "categorical3-vec3"])
def test_sampler_draws_from_log_prob(spec):
    # the incremental sampler and the vectorised log_prob are separate code: frequencies
    # of many samples must match exp(log_prob) on every configuration
    model = make(spec, hidden=16, order="random", seed=2)
    n = 40000
    with torch.no_grad():
        s = model.sample(n, generator=torch.Generator().manual_seed(0))
        grid = all_configurations(spec)
        p = model.log_prob(grid).exp()
    K = 2 if spec.value_type == "binary" else spec.num_values
    codes = (s.reshape(n, -1).long() * (K ** torch.arange(spec.dim - 1, -1, -1))).sum(1)
    freq = torch.bincount(codes, minlength=len(grid)).double() / n  # grid is in the same code order
    assert float((freq - p.double()).abs().max()) < 4 * (0.25 / n) ** 0.5  # 4 sigma at worst


@pytest.mark.parametrize("spec", [BINARY, SEQ_CAT], ids=["binary", "categorical"])
def test_defaults_loss_and_seeded_sampling(spec):
    model = make(spec)
    assert model.likelihood == "exact" and model.has("complete") and model.family == "autoregressive"
    s = model.sample(5, generator=torch.Generator().manual_seed(7))
    assert s.shape == (5, *spec.shape) and s.dtype == spec.dtype
    assert int(s.min()) >= 0 and int(s.max()) < spec.num_values
    assert torch.equal(s, model.sample(5, generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(s, model.sample(5, generator=torch.Generator().manual_seed(8)))
    out = model.loss({"x": s})
    assert torch.isfinite(out["loss"]) and "bits_per_dim" in out
    assert bool((model.log_prob(s) <= 0).all())


@pytest.mark.parametrize("spec", [BINARY, SEQ_CAT], ids=["binary", "categorical"])
def test_complete_keeps_observed(spec):
    model = make(spec, order="random", seed=1)
    g = torch.Generator().manual_seed(0)
    x = random_batch(spec, 8, g)
    mask = torch.rand(8, *spec.shape, generator=g) < 0.5
    filled = model.complete(torch.where(mask, x, -1 * torch.ones_like(x)), mask,
                            generator=torch.Generator().manual_seed(1))
    assert filled.shape == x.shape and filled.dtype == spec.dtype
    assert torch.equal(filled[mask], x[mask])
    assert int(filled.min()) >= 0 and int(filled.max()) < spec.num_values
    assert torch.equal(model.complete(x, torch.ones_like(mask)), x)
    with pytest.raises(GenzooError):
        model.complete(x, mask[:, 0])


def test_order_survives_save_and_load():
    a = make(SEQ_CAT, order="random", seed=5)
    b = NADE(build_config(NADE.Config, {"order": "random", "seed": 99}), SEQ_CAT)
    b.load_state_dict(a.state_dict())
    assert torch.equal(b.order, a.order)
    x = random_batch(SEQ_CAT, 4, torch.Generator().manual_seed(0))
    torch.testing.assert_close(b.log_prob(x), a.log_prob(x))


def test_training_lowers_nll():
    from genzoo.data.dataset import load_dataset

    data = load_dataset("digits", binarize="threshold")
    train, test = data.train.x, data.test.x
    torch.manual_seed(0)
    model = NADE(build_config(NADE.Config, {"hidden": 64}), data.spec)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        before = -model.log_prob(test).mean().item()
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        loss = model.loss({"x": train[torch.randint(len(train), (64,), generator=g)]})["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = -model.log_prob(test).mean().item()
    assert before > 40 and after < 23, (before, after)  # measured 45.7 -> 18.2 nats


def test_config_and_spec_errors():
    with pytest.raises(GenzooError):
        build_config(NADE.Config, {"hidden": 0})
    with pytest.raises(GenzooError):
        build_config(NADE.Config, {"activation": "tanh"})
    with pytest.raises(GenzooError):
        build_config(NADE.Config, {"order": "backwards"})
    with pytest.raises(IncompatibleDataError, match="accepts"):
        NADE(NADE.Config(), DataSpec("v", "vector", (2,), "continuous", value_range=(-3.0, 3.0)))


@pytest.mark.parametrize("spec", [BINARY, SEQ_CAT], ids=["binary", "categorical"])
def test_marginal_init_sets_output_biases_from_the_training_split(spec):
    from genzoo.data.dataset import Dataset, Split

    x = random_batch(spec, 200, torch.Generator().manual_seed(0))
    data = Dataset(spec=spec, train=Split(x), test=Split(x[:10]))
    model = make(spec, hidden=8)
    model.prepare(data)
    flat = x.reshape(200, -1)
    if spec.value_type == "binary":
        assert torch.allclose(torch.sigmoid(model.b.detach()), flat.mean(0), atol=1e-5)
    else:
        freq = torch.stack([torch.bincount(flat[:, d], minlength=spec.num_values) for d in range(model.D)]).float()
        assert torch.allclose(model.b.detach().softmax(-1), (freq + 1) / (200 + spec.num_values), atol=1e-5)
    off = make(spec, hidden=8, marginal_init=False)
    before = off.b.detach().clone()
    off.prepare(data)
    assert torch.equal(off.b, before)

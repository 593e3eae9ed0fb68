"""MADE: the autoregressive property, normalisation, sampling, completion, training."""

from __future__ import annotations

import itertools

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.autoregressive.made import MADE, MaskedLinear

DIGITS_CAT = DataSpec("digits", "image", (1, 8, 8), "categorical", num_values=17)
BINARY = DataSpec("b", "image", (1, 4, 4), "binary")
TINY_BIN = DataSpec("tb", "image", (1, 2, 2), "binary")
TINY_CAT = DataSpec("tc", "vector", (3,), "categorical", num_values=3)
SEQ_CAT = DataSpec("s", "sequence", (6,), "categorical", num_values=4)


def make(spec: DataSpec, **over: object) -> MADE:
    return MADE(build_config(MADE.Config, over), spec)


def random_batch(spec: DataSpec, n: int, g: torch.Generator) -> torch.Tensor:
    if spec.value_type == "binary":
        return torch.randint(0, 2, (n, *spec.shape), generator=g).float()
    return torch.randint(0, spec.num_values, (n, *spec.shape), generator=g)


def _randomize_biases(model: MADE) -> None:
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.normal_(0, 0.5)  # so no output is trivially constant
        if model.direct is not None:
            model.direct.weight.normal_(0, 0.5)


CASES = {
    "binary-natural": (BINARY, {}),
    "binary-random-order": (BINARY, {"natural_order": False, "seed": 3}),
    "categorical-natural": (SEQ_CAT, {}),
    "categorical-order-agnostic": (SEQ_CAT, {"order_agnostic": True, "num_masks": 3, "hidden": "32,32,32"}),
    "binary-direct": (BINARY, {"direct": True}),
    "categorical-order-agnostic-direct": (SEQ_CAT, {"order_agnostic": True, "num_masks": 3, "direct": True}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_autoregressive_property(case):
    spec, over = CASES[case]
    torch.manual_seed(0)
    model = make(spec, **over)
    _randomize_biases(model)
    g = torch.Generator().manual_seed(0)
    x = random_batch(spec, 4, g)
    for k in range(model.config.num_masks):
        model.use_mask(k)
        order = model.order.tolist()
        assert sorted(order) == list(range(model.D))
        if over.get("natural_order", True) and not over.get("order_agnostic"):
            assert order == list(range(model.D))
        base = model(x)
        changed_later = False
        for pos, d in enumerate(order):
            y = x.clone().view(4, -1)
            y[:, d] = 1 - y[:, d] if spec.value_type == "binary" else (y[:, d] + 1) % spec.num_values
            out = model(y.view_as(x))
            earlier = order[: pos + 1]  # dims at or before d in the ordering
            assert torch.equal(out[:, earlier], base[:, earlier]), f"dim {d} leaks into an earlier output"
            changed_later |= not torch.allclose(out[:, order[pos + 1:]], base[:, order[pos + 1:]])
        assert changed_later  # and the network does connect earlier dims to later outputs


@pytest.mark.parametrize("spec", [TINY_BIN, TINY_CAT], ids=["binary-2x2", "categorical3-vec3"])
@pytest.mark.parametrize("over", [{}, {"order_agnostic": True, "num_masks": 2},
                                  {"order_agnostic": True, "num_masks": 2, "direct": True}],
                         ids=["one-mask", "two-masks", "two-masks-direct"])
def test_log_prob_normalises(spec, over):
    torch.manual_seed(0)
    model = make(spec, hidden="16,16", **over)
    _randomize_biases(model)
    K = 2 if spec.value_type == "binary" else spec.num_values
    grid = torch.tensor(list(itertools.product(range(K), repeat=spec.dim)))  # (K^D, D)
    grid = grid.view(-1, *spec.shape).to(spec.dtype)
    with torch.no_grad():
        for kw in ({}, {"mask_index": model.config.num_masks - 1}, {"ensemble": model.config.num_masks}):
            total = torch.logsumexp(model.log_prob(grid, **kw).double(), 0).exp().item()
            assert abs(total - 1.0) < 1e-5, (kw, total)


@pytest.mark.parametrize("spec", [DIGITS_CAT, BINARY], ids=["categorical", "binary"])
def test_defaults_loss_and_sampling(spec):
    model = make(spec)
    assert model.likelihood == "exact" and model.has("complete")
    s = model.sample(5, generator=torch.Generator().manual_seed(7))
    assert s.shape == (5, *spec.shape) and s.dtype == spec.dtype
    assert int(s.min()) >= 0 and int(s.max()) < spec.num_values
    assert torch.equal(s, model.sample(5, generator=torch.Generator().manual_seed(7)))
    assert not torch.equal(s, model.sample(5, generator=torch.Generator().manual_seed(8)))
    out = model.loss({"x": s})
    assert torch.isfinite(out["loss"]) and "bits_per_dim" in out
    lp = model.log_prob(s)
    assert lp.shape == (5,) and bool((lp <= 0).all())


def test_complete_keeps_observed():
    spec = SEQ_CAT
    model = make(spec, natural_order=False, seed=1)
    g = torch.Generator().manual_seed(0)
    x = random_batch(spec, 8, g)
    mask = torch.rand(8, *spec.shape, generator=g) < 0.5
    filled = model.complete(torch.where(mask, x, -1), mask, generator=torch.Generator().manual_seed(1))
    assert filled.shape == x.shape and filled.dtype == spec.dtype
    assert torch.equal(filled[mask], x[mask])
    assert int(filled.min()) >= 0 and int(filled.max()) < spec.num_values
    everything = torch.ones_like(mask)
    assert torch.equal(model.complete(x, everything), x)


def test_masks_survive_save_and_load():
    torch.manual_seed(0)
    a = make(SEQ_CAT, order_agnostic=True, num_masks=4, seed=5)
    a.train()
    x = random_batch(SEQ_CAT, 16, torch.Generator().manual_seed(0))
    for _ in range(5):
        a.loss({"x": x})  # draws masks
    b = make(SEQ_CAT, order_agnostic=True, num_masks=4, seed=99)
    b.load_state_dict(a.state_dict())
    assert torch.equal(b.order, a.order)
    for k in range(4):
        torch.testing.assert_close(b.log_prob(x, mask_index=k), a.log_prob(x, mask_index=k))
    a.use_mask(2)
    b.use_mask(2)  # rebuilt from the loaded seeds, not from seed=99
    assert all(torch.equal(p.mask, q.mask) for p, q in zip(a.layers, b.layers))


def test_training_lowers_nll():
    from sklearn.datasets import load_digits

    spec = DataSpec("bdigits", "image", (1, 8, 8), "binary")
    x = torch.tensor(load_digits().data >= 8, dtype=torch.float32).view(-1, 1, 8, 8)
    train, test = x[:1500], x[1500:]
    torch.manual_seed(0)
    model = make(spec, hidden="128")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    with torch.no_grad():
        before = -model.log_prob(test).mean().item()  # ~ 64 log 2 = 44 nats
    for _ in range(200):
        loss = model.loss({"x": train[torch.randint(len(train), (100,))]})["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = -model.log_prob(test).mean().item()
    assert before > 40 and after < 26, (before, after)  # measured ~21 nats


def test_masked_linear():
    layer = MaskedLinear(3, 2)
    layer.set_mask(torch.tensor([[1, 0, 0], [1, 1, 0]]))
    x = torch.randn(4, 3, requires_grad=True)
    layer(x).sum().backward()
    assert torch.equal(x.grad[:, 2], torch.zeros(4)) and bool((layer.weight.grad[0, 1:] == 0).all())
    with pytest.raises(ValueError):
        layer.set_mask(torch.ones(3, 2))


def test_config_and_spec_errors():
    with pytest.raises(GenzooError):
        build_config(MADE.Config, {"hidden": "()"})
    with pytest.raises(GenzooError):
        build_config(MADE.Config, {"num_masks": 0})
    with pytest.raises(IncompatibleDataError):
        make(DataSpec("v", "vector", (2,), "continuous", value_range=(-3.0, 3.0)))
    with pytest.raises(GenzooError):
        make(TINY_BIN).use_mask(1)


def test_direct_connection_is_strictly_autoregressive_and_optional():
    """``direct`` adds an input->output map masked to earlier dims; off, no such weights."""
    assert make(BINARY).direct is None
    model = make(BINARY, direct=True, natural_order=False, seed=2)
    pos = torch.empty(model.D, dtype=torch.long)
    pos[model.order] = torch.arange(model.D)
    assert torch.equal(model.direct.mask, pos[:, None] > pos[None, :])  # (out, in)
    assert "direct.weight" in model.state_dict()


@pytest.mark.parametrize("spec", [BINARY, SEQ_CAT], ids=["binary", "categorical"])
def test_marginal_init_sets_output_biases_from_the_training_split(spec):
    from genzoo.data.dataset import Dataset, Split

    g = torch.Generator().manual_seed(0)
    x = random_batch(spec, 200, g)
    data = Dataset(spec=spec, train=Split(x), test=Split(x[:10]))
    model = make(spec, hidden="8")
    model.prepare(data)
    bias = model.layers[-1].bias.detach()
    flat = x.reshape(200, -1)
    if spec.value_type == "binary":
        assert torch.allclose(torch.sigmoid(bias), flat.mean(0), atol=1e-5)
    else:
        freq = torch.stack([torch.bincount(flat[:, d], minlength=spec.num_values) for d in range(model.D)]).float()
        assert torch.allclose(bias.view(model.D, -1).softmax(-1), (freq + 1) / (200 + spec.num_values), atol=1e-5)
    off = make(spec, hidden="8", marginal_init=False)
    before = off.layers[-1].bias.detach().clone()
    off.prepare(data)
    assert torch.equal(off.layers[-1].bias, before)

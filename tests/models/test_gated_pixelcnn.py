"""Gated PixelCNN: no lookahead (pixels and channels), no blind spot, normalisation,
cached sampling equal to naive sampling, completion, class conditioning, and training."""

from __future__ import annotations

import itertools

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import CapabilityError, GenzooError, IncompatibleDataError
from genzoo.models.autoregressive.gated_pixelcnn import GatedPixelCNN
from genzoo.nn.values import to_unit
from tests.helpers import adam_steps

BIN = DataSpec("b", "image", (1, 5, 6), "binary", num_classes=3)
CAT3 = DataSpec("c", "image", (3, 4, 5), "categorical", num_values=4)
CONT2 = DataSpec("r", "image", (2, 4, 4), "continuous", value_range=(-1.0, 1.0))

# (spec, config overrides): every output type, C = 1 and C > 1, conditional
CASES = {
    "binary": (BIN, {}),
    "binary-conditional": (BIN, {"conditional": True}),
    "categorical-rgb": (CAT3, {}),
    "categorical-rgb-logistic": (CAT3, {"output": "logistic_mixture", "mixtures": 3}),
    "continuous-2ch": (CONT2, {"mixtures": 2}),
}


def make(spec: DataSpec, **over: object) -> GatedPixelCNN:
    over = {"channels": 12, "layers": 3, "first_kernel": 3, **over}
    torch.manual_seed(0)
    model = GatedPixelCNN(build_config(GatedPixelCNN.Config, over), spec).eval()
    with torch.no_grad():  # larger weights, biases and embeddings, so nothing is near uniform
        for p in model.parameters():
            if p.dim() <= 2:
                p.normal_(0, 0.5)
            else:
                p.mul_(2.0)
    return model


def random_data(spec: DataSpec, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if spec.value_type == "binary":
        return torch.randint(0, 2, (n, *spec.shape), generator=g).float()
    if spec.value_type == "categorical":
        return torch.randint(0, spec.num_values, (n, *spec.shape), generator=g)
    return torch.rand(n, *spec.shape, generator=g) * 2 - 1


def labels(model: GatedPixelCNN, n: int) -> torch.Tensor | None:
    return torch.arange(n) % model.num_classes if model.num_classes else None


@pytest.mark.parametrize("case", list(CASES))
def test_no_output_depends_on_a_later_value(case):
    spec, over = CASES[case]
    model = make(spec, **over)
    C, H, W = spec.shape
    u = to_unit(random_data(spec, 2), spec)
    y = labels(model, 2)
    with torch.no_grad():
        base = model.network(u, y)  # (B, C, P, H, W)
        for c, i, j in itertools.product(range(C), range(H), range(W)):
            v = u.clone()
            v[:, c, i, j] += 0.7
            out = model.network(v, y)
            before = (torch.arange(H)[:, None] * W + torch.arange(W)) < i * W + j  # (H, W) pixels before
            assert torch.equal(out[..., before], base[..., before]), (c, i, j)
            # at (i, j) itself: channels <= c must not see channel c
            assert torch.equal(out[:, : c + 1, :, i, j], base[:, : c + 1, :, i, j]), (c, i, j)


@pytest.mark.parametrize("C", [1, 3])
def test_no_blind_spot(C):
    # every value before (i, j, c) in raster/channel order reaches the output of (i, j, c)
    spec = DataSpec("g", "image", (C, 5, 5), "continuous", value_range=(-1.0, 1.0))
    model = make(spec, layers=4, channels=30, head=60)  # wide enough that no ReLU group is all off
    H = W = 5
    u = torch.randn(1, C, H, W, dtype=torch.float64, requires_grad=True)
    model.double()
    params = model.network(u)
    for c, i, j in itertools.product(range(C), range(H), range(W)):
        (g,) = torch.autograd.grad(params[0, c, :, i, j].sum(), u, retain_graph=True)
        order = (torch.arange(H)[:, None, None] * W + torch.arange(W)[:, None]) * C + torch.arange(C)  # (H, W, C)
        earlier = (order < (i * W + j) * C + c).permute(2, 0, 1)  # (C, H, W)
        assert bool((g[0][earlier] != 0).all()), f"blind spot at {(c, i, j)}"
        assert bool((g[0][~earlier] == 0).all()), f"lookahead at {(c, i, j)}"


@pytest.mark.parametrize("over", [{}, {"conditional": True}], ids=["plain", "conditional"])
def test_likelihood_normalises(over):
    for spec in [DataSpec("t", "image", (1, 2, 2), "binary", num_classes=2),
                 DataSpec("t3", "image", (2, 1, 2), "categorical", num_values=3, num_classes=2)]:
        model = make(spec, **over)
        K = spec.num_values
        grid = torch.tensor(list(itertools.product(range(K), repeat=spec.dim))).view(-1, *spec.shape).to(spec.dtype)
        with torch.no_grad():
            total = torch.logsumexp(model.log_prob(grid).double(), 0).exp().item()
            assert total == pytest.approx(1.0, abs=1e-5)
            if model.num_classes:  # each class's p(x | y) normalises too
                y = torch.ones(len(grid), dtype=torch.long)
                assert torch.logsumexp(model.log_prob(grid, y=y).double(), 0).exp().item() == pytest.approx(1.0)


@pytest.mark.parametrize("case", list(CASES))
def test_cached_sampling_equals_naive(case):
    spec, over = CASES[case]
    model = make(spec, **over)
    a = model.sample(5, generator=torch.Generator().manual_seed(1))
    b = model.sample(5, generator=torch.Generator().manual_seed(1), cached=False)
    assert torch.equal(a, b)
    assert a.shape == (5, *spec.shape) and a.dtype == spec.dtype
    assert not torch.equal(a, model.sample(5, generator=torch.Generator().manual_seed(2)))
    if spec.value_type == "continuous":
        assert float(a.min()) >= -1 and float(a.max()) <= 1
    else:
        assert int(a.min()) >= 0 and int(a.max()) < spec.num_values


def test_cached_pass_matches_the_network():
    # the per-pixel parameters of the fast sampler are the full network's, to float precision
    from genzoo.models.autoregressive.gated_pixelcnn import _CachedPass

    spec, over = CASES["categorical-rgb"]
    model = make(spec, **over)
    x = random_data(spec, 3)
    with torch.no_grad():
        full = model.network(to_unit(x, spec))  # (B, C, P, H, W)
        fast = _CachedPass(model, x, None)
        for i in range(spec.shape[1]):
            for j in range(spec.shape[2]):
                torch.testing.assert_close(fast.params(i, j), full[:, :, :, i, j], rtol=1e-5, atol=1e-5)
            fast.row_done(i)


@pytest.mark.parametrize("case", ["binary", "categorical-rgb", "continuous-2ch"])
def test_complete_keeps_observed_and_matches_naive(case):
    spec, over = CASES[case]
    model = make(spec, **over)
    x = random_data(spec, 4)
    mask = torch.zeros(x.shape, dtype=torch.bool)
    mask[:, :, :2] = True  # the top two rows: a prefix of the order, so the draws are exact
    mask[0, 0, 3, 1] = True  # and an observed value after a gap
    held = torch.where(mask, x, torch.full_like(x, -1))
    a = model.complete(held, mask, generator=torch.Generator().manual_seed(3))
    b = model.complete(held, mask, generator=torch.Generator().manual_seed(3), cached=False)
    assert torch.equal(a, b) and a.dtype == spec.dtype
    assert torch.equal(a[mask], x[mask])
    assert torch.equal(model.complete(x, torch.ones_like(mask)), x)
    with pytest.raises(GenzooError):
        model.complete(x, mask[:, 0])


def test_conditional_labels():
    model = make(BIN, conditional=True)
    assert model.has("conditional") and not make(BIN).has("conditional")
    x = random_data(BIN, 4)
    y = torch.tensor([0, 1, 2, 0])
    out = model.loss({"x": x, "y": y})
    assert torch.isfinite(out["loss"]) and "bits_per_dim" in out
    with pytest.raises(GenzooError, match="labels"):
        model.loss({"x": x})
    with torch.no_grad():
        per_class = torch.stack([model.log_prob(x, y=torch.full((4,), k)) for k in range(3)])
        assert not torch.allclose(per_class[0], per_class[1])  # the label matters
        marginal = torch.logsumexp(per_class, 0) - torch.log(torch.tensor(3.0))
        torch.testing.assert_close(model.log_prob(x), marginal)
    s = model.sample(3, condition=torch.tensor([2, 2, 2]), generator=torch.Generator().manual_seed(0))
    s2 = model.sample(3, condition=torch.tensor([0, 0, 0]), generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, *BIN.shape) and not torch.equal(s, s2)
    with pytest.raises(GenzooError):
        model.sample(3, condition=torch.tensor([0, 5, 1]))
    with pytest.raises(CapabilityError):
        make(BIN).sample(2, condition=torch.tensor([0, 1]))


def test_training_lowers_nll():
    from genzoo.data.dataset import load_dataset

    data = load_dataset("digits", binarize="threshold")
    train, test = data.train.x, data.test.x[:200]
    torch.manual_seed(0)
    model = GatedPixelCNN(build_config(GatedPixelCNN.Config, {"channels": 16, "layers": 3}), data.spec)
    with torch.no_grad():
        before = -model.log_prob(test).mean().item()
    adam_steps(model, train, steps=60, batch=64, lr=5e-3)
    with torch.no_grad():
        after = -model.log_prob(test).mean().item()
    assert before > 40 and after < 25, (before, after)  # measured 44.0 -> 21.2 nats


def test_config_and_spec_errors():
    for bad in [{"channels": 0}, {"layers": 0}, {"kernel": 4}, {"first_kernel": 1}, {"output": "gauss"}]:
        with pytest.raises(GenzooError):
            build_config(GatedPixelCNN.Config, bad)
    with pytest.raises(GenzooError, match="channels"):
        GatedPixelCNN(build_config(GatedPixelCNN.Config, {"channels": 2}), CAT3)
    with pytest.raises(GenzooError, match="labelled"):
        GatedPixelCNN(build_config(GatedPixelCNN.Config, {"conditional": True}), CAT3)
    with pytest.raises(IncompatibleDataError, match="accepts"):
        GatedPixelCNN(GatedPixelCNN.Config(), DataSpec("s", "sequence", (6,), "categorical", num_values=4))

"""PixelCNN: no lookahead (pixels and channels), cached == naive sampling, normalisation,
completion, conditioning, training."""

from __future__ import annotations

import itertools

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.autoregressive.pixelcnn import PixelCNN
from genzoo.nn.values import to_unit

BIN = DataSpec("b", "image", (1, 5, 5), "binary", num_classes=3)
CAT = DataSpec("c", "image", (1, 4, 4), "categorical", num_values=5)
RGB = DataSpec("rgb", "image", (3, 4, 4), "categorical", num_values=4)
CONT = DataSpec("r", "image", (2, 3, 3), "continuous", value_range=(0.0, 1.0))

SMALL = {"channels": 12, "layers": 2, "first_kernel": 5}
CASES = {
    "binary": (BIN, {}),
    "binary-mixture": (BIN, {"output": "logistic_mixture", "mixtures": 2}),
    "binary-conditional": (BIN, {"conditional": True}),
    "categorical": (CAT, {}),
    "categorical-mixture": (CAT, {"output": "logistic_mixture", "mixtures": 2}),
    "rgb": (RGB, {}),
    "continuous-mixture": (CONT, {}),
    "continuous-categorical": (CONT, {"output": "categorical", "kernel": 5}),
}


def make(spec: DataSpec, **over: object) -> PixelCNN:
    torch.manual_seed(0)
    model = PixelCNN(build_config(PixelCNN.Config, {**SMALL, **over}), spec)
    with torch.no_grad():  # random biases, class biases too, so no output is trivially constant
        for name, p in model.named_parameters():
            if "bias" in name:
                p.normal_(0, 0.3)
    return model.eval()


def random_images(spec: DataSpec, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if spec.value_type == "binary":
        return torch.randint(0, 2, (n, *spec.shape), generator=g).float()
    if spec.value_type == "categorical":
        return torch.randint(0, spec.num_values, (n, *spec.shape), generator=g)
    return torch.randint(0, 256, (n, *spec.shape), generator=g) / 255.0


def labels(model: PixelCNN, n: int) -> torch.Tensor | None:
    return torch.arange(n) % model.num_classes if model.num_classes else None


@pytest.mark.parametrize("case", ["binary", "rgb", "continuous-mixture", "binary-conditional"])
def test_no_output_depends_on_a_later_position(case):
    spec, over = CASES[case]
    model = make(spec, **over)
    C, H, W = spec.shape
    x = random_images(spec, 2)
    y = labels(model, 2)
    base = model.network(to_unit(x, spec), y)  # (B, C, P, H, W)
    other = random_images(spec, 2, seed=1)
    for c, i, j in itertools.product(range(C), range(H), range(W)):
        x2 = x.clone()
        x2[:, c, i, j] = other[:, c, i, j] if not torch.equal(other[:, c, i, j], x[:, c, i, j]) else 1 - x[:, c, i, j]
        out = model.network(to_unit(x2, spec), y)
        t = i * W + j
        flat_base, flat_out = base.flatten(3), out.flatten(3)  # (B, C, P, H*W)
        # every earlier pixel, and at pixel t the channels up to c, must not move
        assert torch.equal(flat_base[..., :t], flat_out[..., :t]), (c, i, j)
        assert torch.equal(flat_base[:, :c + 1, :, t], flat_out[:, :c + 1, :, t]), (c, i, j)
        # and the later channels of the same pixel do see it (the masks are not too strict)
        if c < C - 1:
            assert not torch.equal(flat_base[:, c + 1:, :, t], flat_out[:, c + 1:, :, t])


@pytest.mark.parametrize("case", list(CASES))
def test_cached_sampling_equals_naive(case):
    spec, over = CASES[case]
    model = make(spec, **over)
    cond = labels(model, 3)
    a = model.sample(3, condition=cond, generator=torch.Generator().manual_seed(5), cached=True)
    b = model.sample(3, condition=cond, generator=torch.Generator().manual_seed(5), cached=False)
    assert torch.equal(a, b)
    assert a.shape == (3, *spec.shape) and a.dtype == spec.dtype


def test_cached_matches_network_at_every_step():
    spec, over = CASES["rgb"]
    model = make(spec, **over)
    x = random_images(spec, 2)
    from genzoo.models.autoregressive.pixelcnn import _CachedPass

    full = model.network(to_unit(x, spec))  # (B, C, P, H, W)
    fast = _CachedPass(model, x, None)
    for i, j in itertools.product(range(spec.shape[1]), range(spec.shape[2])):
        assert torch.allclose(fast.params(i, j), full[:, :, :, i, j], atol=1e-5)


@pytest.mark.parametrize("spec,over", [
    (DataSpec("e", "image", (1, 2, 2), "binary"), {}),
    (DataSpec("e", "image", (1, 2, 2), "binary"), {"output": "logistic_mixture"}),
    (DataSpec("e3", "image", (2, 1, 2), "categorical", num_values=3), {}),
    (DataSpec("e3", "image", (2, 1, 2), "categorical", num_values=3), {"output": "logistic_mixture"}),
])
def test_probabilities_sum_to_one(spec, over):
    model = make(spec, **over)
    K = spec.num_values
    grid = torch.tensor(list(itertools.product(range(K), repeat=spec.dim))).view(-1, *spec.shape)
    x = grid.float() if spec.value_type == "binary" else grid
    total = model.log_prob(x).detach().logsumexp(0).exp()
    assert abs(float(total) - 1.0) < 1e-4


def test_conditional_model_and_marginal():
    model = make(BIN, conditional=True)
    assert model.has("conditional")
    x = random_images(BIN, 4)
    per_class = torch.stack([model.log_prob(x, y=torch.full((4,), k)) for k in range(3)])
    assert not torch.allclose(per_class[0], per_class[1])
    assert torch.allclose(model.log_prob(x), per_class.logsumexp(0) - torch.log(torch.tensor(3.0)))
    assert "marginal" in model.likelihood_note()
    with pytest.raises(GenzooError):
        model.loss({"x": x})
    with pytest.raises(IncompatibleDataError):
        make(CAT, conditional=True)  # no labels


def test_completion_keeps_observed_and_cached_equals_naive():
    spec, over = CASES["rgb"]
    model = make(spec, **over)
    x = random_images(spec, 3)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, :, :2] = True  # the top half
    mask[0, 1, 3, 3] = True  # an observed value after the gap
    a = model.complete(x, mask, generator=torch.Generator().manual_seed(1))
    b = model.complete(x, mask, generator=torch.Generator().manual_seed(1), cached=False)
    assert torch.equal(a, b)
    assert torch.equal(a[mask], x[mask])
    assert int(a.min()) >= 0 and int(a.max()) < 4


def test_likelihood_note_names_output_kind():
    assert "8-bit" in make(CONT).likelihood_note() and "logistic mixture" in make(CONT).likelihood_note()
    assert "categorical" in make(BIN).likelihood_note()


def test_training_lowers_the_loss():
    spec = DataSpec("stripes", "image", (1, 4, 4), "binary")
    x = torch.zeros(32, 1, 4, 4)
    x[::2, :, ::2] = 1.0  # two kinds of stripe images
    x[1::2, :, :, ::2] = 1.0
    model = make(spec).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        out = model.loss({"x": x})
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else float(out["loss"].detach())
    assert float(out["loss"].detach()) < 0.5 * first
    assert float(out["bits_per_dim"]) < 0.2


def test_bad_configs():
    with pytest.raises(GenzooError):
        build_config(PixelCNN.Config, {"kernel": 4})
    with pytest.raises(GenzooError):
        build_config(PixelCNN.Config, {"output": "gaussian"})

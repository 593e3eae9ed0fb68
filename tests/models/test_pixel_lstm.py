"""Pixel LSTM (raster, Row LSTM, Diagonal BiLSTM): normalisation, no lookahead (R -> G -> B
within a pixel too), the diagonal's full receptive field, the cache against the full pass,
cached == naive sampling, sampling against log_prob, completion, training."""

from __future__ import annotations

import itertools

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.autoregressive.pixel_lstm import PixelLSTM
from genzoo.models.registry import build_model

VARIANTS = ["raster", "row", "diagonal"]
BIN = DataSpec("b", "image", (1, 4, 4), "binary")
RGB_CAT = DataSpec("rgb", "image", (3, 2, 3), "categorical", num_values=4)  # channels interleaved
TINY = {
    "binary-1x2x2": DataSpec("t", "image", (1, 2, 2), "binary"),
    "binary-2x2x2": DataSpec("t2", "image", (2, 2, 2), "binary"),
    "cat3-1x2x2": DataSpec("t3", "image", (1, 2, 2), "categorical", num_values=3),
}


def make(spec: DataSpec, variant: str, **over: object) -> PixelLSTM:
    torch.manual_seed(0)
    cfg = {"variant": variant, "hidden": 12, "layers": 2, "embed": 8, **over}
    model = PixelLSTM(build_config(PixelLSTM.Config, cfg), spec)
    with torch.no_grad():  # sharper conditionals than the near-uniform initial ones
        model.head.weight.mul_(6.0)
        model.head.bias.normal_(0, 1.0)
    return model.eval()


def random_images(spec: DataSpec, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, spec.num_values, (n, *spec.shape), generator=g).to(spec.dtype)


def all_images(spec: DataSpec) -> torch.Tensor:
    grid = torch.tensor(list(itertools.product(range(spec.num_values), repeat=spec.dim)))
    return grid.view(-1, *spec.shape).to(spec.dtype)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("key", list(TINY))
def test_log_prob_sums_to_one(variant, key):
    model = make(TINY[key], variant)
    total = torch.logsumexp(model.log_prob(all_images(TINY[key])).double(), 0).exp().item()
    assert total == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("spec", [BIN, RGB_CAT], ids=["binary", "rgb-categorical"])
def test_no_output_depends_on_a_later_position(variant, spec):
    model = make(spec, variant, layers=3)
    flat = model.to_tokens(random_images(spec, 3, 0)).long()  # (B, D) in raster order
    with torch.no_grad():
        base = model.stream_logits(flat)  # (B, D, K): position t predicts x_t
        for t in range(model.D):
            y = flat.clone()
            y[:, t] = (y[:, t] + 1) % spec.num_values
            out = model.stream_logits(y)
            assert torch.equal(out[:, : t + 1], base[:, : t + 1]), f"x_{t} leaks into an earlier conditional"
            if t < model.D - 1:  # and x_t does reach some later conditional
                assert not torch.allclose(out[:, t + 1:], base[:, t + 1:])


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("spec", [BIN, RGB_CAT], ids=["binary", "rgb-categorical"])
def test_later_values_all_changed_at_once_never_move_earlier_outputs(variant, spec):
    # every later pixel and channel redrawn together (R before G before B within a pixel)
    model = make(spec, variant, layers=2)
    flat = model.to_tokens(random_images(spec, 3, 0)).long()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        base = model.stream_logits(flat)
        for t in range(model.D):
            y = flat.clone()
            y[:, t:] = (y[:, t:] + torch.randint(1, spec.num_values, y[:, t:].shape, generator=g)) % spec.num_values
            assert torch.equal(model.stream_logits(y)[:, : t + 1], base[:, : t + 1]), f"x_>={t} leaks"


def test_diagonal_sees_every_earlier_pixel():
    # The Diagonal BiLSTM's receptive field is the whole past (paper section 3.2), one layer
    # suffices: every pixel before the first pixel of the last row moves its logits, the
    # top-right corner (reached by the right-to-left direction only) and the pixel just
    # before it (the last of the row above) included.
    spec = DataSpec("b", "image", (1, 4, 5), "binary")
    target = 3 * 5
    model = make(spec, "diagonal", layers=1)
    flat = model.to_tokens(random_images(spec, 2, 0)).long()
    with torch.no_grad():
        base = model.stream_logits(flat)[:, target]
        for t in range(target):
            y = flat.clone()
            y[:, t] = 1 - y[:, t]
            assert not torch.equal(model.stream_logits(y)[:, target], base), f"x_{t} is not seen"


def test_skew_round_trip():
    from genzoo.models.autoregressive.pixel_rnn_layers import skew, unskew

    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 4) + 1
    s = skew(x)
    assert s.shape == (2, 3, 6)
    for i in range(3):
        assert torch.equal(s[:, i, i:i + 4], x[:, i]) and not s[:, i, :i].any() and not s[:, i, i + 4:].any()
    assert torch.equal(unskew(s, 4), x)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("spec", [BIN, RGB_CAT], ids=["binary", "rgb-categorical"])
def test_cached_steps_give_the_full_pass_logits(variant, spec):
    # the per-value cache (carried state / one Row LSTM cell per pixel) against log_prob's pass
    model = make(spec, variant)
    flat = model.to_tokens(random_images(spec, 4, 1)).long()
    with torch.no_grad():
        full = model.stream_logits(flat)
        logits, cache = model.start(flat[:, :0], 4)
        steps = [logits]
        for t in range(model.D - 1):
            logits, cache = model.step(flat[:, t], cache)
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("spec", [BIN, RGB_CAT], ids=["binary", "rgb-categorical"])
def test_cached_and_naive_sampling_are_identical(variant, spec):
    model = make(spec, variant)
    a = model.sample(6, generator=torch.Generator().manual_seed(3))
    b = model.sample(6, generator=torch.Generator().manual_seed(3), cached=False)
    assert a.shape == (6, *spec.shape) and a.dtype == spec.dtype
    assert int(a.min()) >= 0 and int(a.max()) < spec.num_values
    assert torch.equal(a, b)
    assert not torch.equal(a, model.sample(6, generator=torch.Generator().manual_seed(4)))
    prompt = model.to_tokens(random_images(spec, 6, 2)).long()[:, :5]
    for kw in ({}, {"temperature": 0.8, "top_k": 2}):
        g = model.generate(6, model.D - 5, prompt=prompt, generator=torch.Generator().manual_seed(5), **kw)
        n = model.generate(6, model.D - 5, prompt=prompt, generator=torch.Generator().manual_seed(5), cached=False,
                           **kw)
        assert torch.equal(g, n) and torch.equal(g[:, :5], prompt)


@pytest.mark.parametrize("variant", VARIANTS)
def test_sampler_draws_from_log_prob(variant):
    spec = TINY["binary-1x2x2"]
    model = make(spec, variant)
    n = 20000
    s = model.sample(n, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        p = model.log_prob(all_images(spec)).exp().double()  # grid in raster-code order (C = 1)
    codes = (s.reshape(n, -1).long() * (2 ** torch.arange(3, -1, -1))).sum(1)
    freq = torch.bincount(codes, minlength=16).double() / n
    assert float((freq - p).abs().max()) < 4 * (0.25 / n) ** 0.5


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("spec", [BIN, RGB_CAT], ids=["binary", "rgb-categorical"])
def test_complete(variant, spec):
    model = make(spec, variant)
    x = random_images(spec, 5, 7)
    # the top row observed: a prefix of the raster order, so completion continues it like generate
    top = torch.zeros_like(x, dtype=torch.bool)
    top[:, :, 0] = True
    out = model.complete(torch.where(top, x, -1 * torch.ones_like(x)), top, generator=torch.Generator().manual_seed(1))
    P = spec.shape[0] * spec.shape[2]
    gen = model.generate(5, model.D - P, prompt=model.to_tokens(x).long()[:, :P],
                         generator=torch.Generator().manual_seed(1))
    assert out.dtype == spec.dtype and torch.equal(model.to_tokens(out).long(), gen)
    # any mask: observed values come back unchanged
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(2)) < 0.5
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out[mask], x[mask]) and int(out.max()) < spec.num_values
    with pytest.raises(GenzooError):
        model.complete(x, mask[:, 0])


@pytest.mark.parametrize("variant", VARIANTS)
def test_training_lowers_nll_on_stripes(variant, one_thread):
    # 4x4 images: one of the 4 row stripes or 4 column stripes lit (8 images, 2.08 nats)
    imgs = torch.zeros(8, 1, 4, 4)
    for k in range(4):
        imgs[k, 0, k, :] = 1.0
        imgs[4 + k, 0, :, k] = 1.0
    torch.manual_seed(0)
    model = build_model("pixel_lstm", BIN, {"variant": variant, "hidden": 24, "layers": 2, "embed": 16})
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    before = -model.log_prob(imgs).mean().item()
    for _ in range(120):
        loss = model.loss({"x": imgs})["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = -model.log_prob(imgs).mean().item()
    assert before > 9 and after < 3, (before, after)  # measured 9.7 -> 2.1 (raster), 11.9 -> 2.3 (row), 11.1 -> 2.1 (diagonal)
    samples = model.sample(64, generator=torch.Generator().manual_seed(0))
    hits = (samples[:, None] == imgs[None]).flatten(2).all(2).any(1).float().mean().item()
    assert hits > 0.5, hits


def test_dropout_is_off_for_log_prob_and_sampling():
    for variant in VARIANTS:
        model = make(BIN, variant, dropout=0.5).train()
        x = random_images(BIN, 4, 0)
        torch.manual_seed(0)
        a = model.log_prob(x)
        torch.manual_seed(1)
        assert torch.equal(a, model.log_prob(x)) and model.training
        assert torch.equal(model.sample(3, generator=torch.Generator().manual_seed(2)),
                           model.eval().sample(3, generator=torch.Generator().manual_seed(2)))


def test_refuses_other_data_and_bad_configs():
    for spec in (DataSpec("v", "vector", (3,), "binary"),
                 DataSpec("s", "sequence", (4,), "categorical", num_values=3),
                 DataSpec("c", "image", (1, 4, 4), "continuous", value_range=(-1.0, 1.0))):
        with pytest.raises(IncompatibleDataError, match="accepts"):
            build_model("pixel_lstm", spec)
    for bad in ({"variant": "diagonals"}, {"kernel": 4}, {"kernel": 1}, {"hidden": 0}, {"dropout": 1.0}):
        with pytest.raises(GenzooError):
            build_config(PixelLSTM.Config, bad)
    for variant in ("row", "diagonal"):
        with pytest.raises(GenzooError, match="multiple"):
            build_model("pixel_lstm", RGB_CAT, {"variant": variant, "hidden": 16})
    model = build_model("pixel_lstm", RGB_CAT, {"variant": "raster", "hidden": 16})
    assert model.likelihood == "exact" and model.has("complete") and model.family == "autoregressive"

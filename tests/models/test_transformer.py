"""Transformer: cached == naive generation (windows included), normalisation, causality,
pixel-stream order, completion, training."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.autoregressive.transformer import Transformer
from genzoo.models.registry import build_model

SEQ = DataSpec("s", "sequence", (8,), "categorical", num_values=5)
TINY = DataSpec("t", "sequence", (3,), "categorical", num_values=3)
BIN_IMG = DataSpec("b", "image", (1, 3, 4), "binary")
CAT_IMG = DataSpec("c", "image", (2, 3, 3), "categorical", num_values=4)


def make(spec: DataSpec = SEQ, **over: object) -> Transformer:
    torch.manual_seed(0)
    model = Transformer(build_config(Transformer.Config, {"layers": 2, "heads": 2, "width": 16, **over}), spec)
    with torch.no_grad():  # sharper, position-dependent conditionals than the near-uniform initial ones
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(10.0)
    return model.eval()


@pytest.mark.parametrize("settings", [
    {}, {"temperature": 0.7}, {"temperature": 1.5, "top_k": 3}, {"top_p": 0.8},
    {"temperature": 0.9, "top_k": 4, "top_p": 0.6}, {"temperature": 0.0},
])
@pytest.mark.parametrize("context", [None, 5, 1])
def test_cached_and_naive_generation_draw_identical_tokens(settings, context):
    model = make(context=context)
    prompts = (None, torch.tensor([1, 2, 3]), torch.tensor([[0, 4], [4, 0], [2, 2], [1, 3]]),
               torch.tensor([3, 1, 4, 1, 0, 2, 4]))  # the last is longer than a context of 5
    for prompt in prompts:
        a = model.generate(4, 12, prompt=prompt, generator=torch.Generator().manual_seed(7), **settings)
        b = model.generate(4, 12, prompt=prompt, generator=torch.Generator().manual_seed(7),
                           cached=False, **settings)
        P = 0 if prompt is None else prompt.shape[-1]
        assert a.shape == (4, P + 12) and a.dtype == torch.int64
        assert torch.equal(a, b)
        if prompt is not None:
            assert torch.equal(a[:, :P], prompt.expand(4, -1))


@pytest.mark.parametrize("spec,over", [(SEQ, {}), (BIN_IMG, {}), (CAT_IMG, {}), (CAT_IMG, {"tie_weights": True}),
                                       (BIN_IMG, {"context": 4}), (CAT_IMG, {"context": 7, "mlp_ratio": 2.0})])
def test_sample_cached_equals_naive_for_every_data_type(spec, over):
    model = make(spec, **over)
    a = model.sample(6, generator=torch.Generator().manual_seed(3))
    b = model.sample(6, generator=torch.Generator().manual_seed(3), cached=False)
    assert torch.equal(a, b) and a.shape == (6, *spec.shape) and a.dtype == spec.dtype
    if spec.value_type == "binary":
        assert set(a.unique().tolist()) <= {0.0, 1.0}
    else:
        assert int(a.min()) >= 0 and int(a.max()) < spec.num_values
    # sample is generate of the whole stream, reshaped back from raster order
    g = model.generate(6, spec.dim, generator=torch.Generator().manual_seed(3))
    assert torch.equal(model.to_tokens(a), g)


def test_window_schedule_and_cache_size():
    model = make(context=5)  # h = 2: windows [0,5), [3,8), [6,11), ...
    assert [model._window_start(p) for p in range(12)] == [0, 0, 0, 0, 0, 3, 3, 3, 6, 6, 6, 9]
    logits, cache = model.start(torch.zeros(2, 0, dtype=torch.long), 2)
    lengths = [cache.length]
    for t in range(11):
        logits, cache = model.step(torch.full((2,), t % 5), cache)
        lengths.append(cache.length)
    assert lengths == [1, 2, 3, 4, 5, 3, 4, 5, 3, 4, 5, 3] and cache.keys[0].shape == (2, 2, 5, 8)
    odd = make(context=1)
    assert [odd._window_start(p) for p in range(4)] == [0, 1, 2, 3]


@pytest.mark.parametrize("spec,context", [(TINY, None), (TINY, 2), (DataSpec("e", "image", (1, 2, 2), "binary"), None),
                                          (DataSpec("e", "image", (1, 2, 2), "binary"), 3)])
def test_log_prob_sums_to_one_over_a_tiny_space(spec, context):
    model = make(spec, context=context)
    K = spec.num_values
    grid = torch.tensor(list(itertools.product(range(K), repeat=spec.dim))).reshape(-1, *spec.shape).to(spec.dtype)
    total = torch.logsumexp(model.log_prob(grid).double(), 0).exp().item()
    assert total == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("context", [None, 5, 3])
def test_no_output_depends_on_a_later_position(context):
    model = make(layers=3, context=context)
    x = torch.randint(0, 5, (3, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        base = model.stream_logits(x)  # (B, T, K): position t predicts x_t from x_<t
        for t in range(8):
            y = x.clone()
            y[:, t] = (y[:, t] + 1) % 5
            out = model.stream_logits(y)
            assert torch.allclose(out[:, : t + 1], base[:, : t + 1], atol=1e-6, rtol=0), t
            if t < 7:
                assert not torch.allclose(out[:, t + 1], base[:, t + 1])


@pytest.mark.parametrize("context", [None, 5, 2])
def test_log_prob_matches_the_chain_rule_of_both_samplers(context):
    model = make(context=context)
    x = torch.randint(0, 5, (4, 8), generator=torch.Generator().manual_seed(2))
    naive, cached = torch.zeros(4), torch.zeros(4)
    with torch.no_grad():
        logits, cache = model.start(x[:, :0], 4)
        for t in range(8):
            naive += torch.log_softmax(model.next_logits(x[:, :t], 4), -1).gather(-1, x[:, t:t + 1]).squeeze(1)
            cached += torch.log_softmax(logits, -1).gather(-1, x[:, t:t + 1]).squeeze(1)
            if t < 7:
                logits, cache = model.step(x[:, t], cache)
    lp = model.log_prob(x)
    assert torch.allclose(lp, naive, atol=1e-4) and torch.allclose(lp, cached, atol=1e-4)


def test_images_are_read_in_raster_order_with_channels_interleaved():
    model = make(CAT_IMG)
    x = torch.arange(18).reshape(1, 2, 3, 3) % 4  # channel c, row i, column j
    t = model.to_tokens(x)
    assert torch.equal(t, x.permute(0, 2, 3, 1).reshape(1, -1))
    assert t[0, :4].tolist() == [x[0, 0, 0, 0], x[0, 1, 0, 0], x[0, 0, 0, 1], x[0, 1, 0, 1]]
    assert torch.equal(model.from_tokens(t), x)
    b = make(BIN_IMG)
    xb = (torch.rand(3, 1, 3, 4, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    assert torch.equal(b.from_tokens(b.to_tokens(xb)), xb) and b.from_tokens(b.to_tokens(xb)).dtype == torch.float32


@pytest.mark.parametrize("spec", [SEQ, BIN_IMG, CAT_IMG])
def test_complete_keeps_observed_and_a_prefix_is_the_conditional(spec):
    model = make(spec)
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros_like(x, dtype=torch.bool)
    if spec.kind == "image":
        mask[:, :, :1] = True  # the top row (all channels): a prefix of the raster order
    else:
        mask[:, :3] = True
    P = int(model.to_tokens(mask[:1]).sum())
    holes = torch.where(mask, x, torch.zeros_like(x) - 1)
    out = model.complete(holes, mask, generator=torch.Generator().manual_seed(3))
    assert out.shape == x.shape and out.dtype == spec.dtype and torch.equal(out[mask], x[mask])
    ref = model.generate(5, spec.dim - P, prompt=model.to_tokens(x)[:, :P], generator=torch.Generator().manual_seed(3))
    assert torch.equal(model.to_tokens(out), ref)
    scattered = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) < 0.3
    out2 = model.complete(x, scattered, generator=torch.Generator().manual_seed(4))
    assert torch.equal(out2[scattered], x[scattered])


def test_refuses_other_data_and_bad_arguments():
    for spec in (DataSpec("v", "vector", (3,), "categorical", num_values=3),
                 DataSpec("b", "sequence", (4,), "binary"),
                 DataSpec("i", "image", (1, 4, 4), "continuous", value_range=(0.0, 1.0))):
        with pytest.raises(IncompatibleDataError, match="accepts"):
            build_model("transformer", spec)
    for bad, match in (({"dropout": 1.0}, "dropout"), ({"width": 10, "heads": 4}, "width"),
                       ({"context": 0}, "context"), ({"layers": 0}, "layers")):
        with pytest.raises(GenzooError, match=match):
            build_config(Transformer.Config, bad)
    model = make()
    for kw in ({"temperature": -1.0}, {"top_k": 0}, {"top_p": 1.5}, {"prompt": torch.tensor([7])}):
        with pytest.raises(GenzooError):
            model.generate(2, 3, **kw)


def test_training_learns_a_counting_pattern(one_thread):
    # sequences t -> (start + t) mod 5: only the first token is random (log 5 nats)
    torch.manual_seed(0)
    model = build_model("transformer", SEQ, {"layers": 2, "width": 32, "heads": 2, "context": 5})
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        x = (torch.randint(0, 5, (32, 1), generator=g) + torch.arange(8)) % 5
        out = model.loss({"x": x})
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    loss = float(out["loss"].detach())
    assert loss < math.log(5) + 0.3, loss
    s = model.sample(8, generator=torch.Generator().manual_seed(0))
    assert bool(((s[:, 1:] - s[:, :-1]) % 5 == 1).float().mean() > 0.9)

"""WaveNet: cached (Fast WaveNet) == naive generation, causality and the receptive field,
normalisation, raster order for images, completion, refusals and a short training run."""

from __future__ import annotations

import itertools

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.autoregressive.wavenet import WaveNet
from genzoo.models.registry import build_model

SEQ = DataSpec("s", "sequence", (8,), "categorical", num_values=5)
BIN_IMG = DataSpec("b", "image", (1, 4, 4), "binary")
RGB_IMG = DataSpec("c", "image", (3, 3, 3), "categorical", num_values=4)
SMALL = {"residual_channels": 8, "gate_channels": 8, "skip_channels": 16, "layers_per_stack": 3, "stacks": 2}


def make(spec: DataSpec = SEQ, **over: object) -> WaveNet:
    torch.manual_seed(0)
    model = WaveNet(build_config(WaveNet.Config, {**SMALL, **over}), spec)
    with torch.no_grad():  # sharper conditionals than the near-uniform initial ones
        model.post2.weight.mul_(8.0)
    return model.eval()


def test_receptive_field():
    assert make().receptive_field == 2 + 2 * (1 + 2 + 4)
    assert make(layers_per_stack=10, stacks=3).receptive_field == 2 + 3 * 1023


@pytest.mark.parametrize("settings", [
    {}, {"temperature": 0.7}, {"temperature": 1.5, "top_k": 3}, {"top_p": 0.8}, {"temperature": 0.0},
])
def test_cached_and_naive_generation_draw_identical_tokens(settings):
    model = make()
    # 30 new tokens: past the training length (8) and the receptive field (16)
    for prompt in (None, torch.tensor([1, 2, 3]), torch.tensor([[0, 4], [4, 0], [2, 2], [1, 3]])):
        a = model.generate(4, 30, prompt=prompt, generator=torch.Generator().manual_seed(7), **settings)
        b = model.generate(4, 30, prompt=prompt, generator=torch.Generator().manual_seed(7),
                           cached=False, **settings)
        P = 0 if prompt is None else prompt.shape[-1]
        assert a.shape == (4, P + 30) and a.dtype == torch.int64
        assert torch.equal(a, b)
        if prompt is not None:
            assert torch.equal(a[:, :P], prompt.expand(4, -1))


def test_a_long_prompt_is_read_through_one_receptive_field(monkeypatch):
    model = make()
    prompt = torch.randint(0, 5, (2, 5 * model.receptive_field), generator=torch.Generator().manual_seed(3))
    a = model.generate(2, 12, prompt=prompt, generator=torch.Generator().manual_seed(4), cached=False)
    lengths = []
    run = model._run
    monkeypatch.setattr(model, "_run", lambda s: (lengths.append(s.shape[1]), run(s))[1])
    b = model.generate(2, 12, prompt=prompt, generator=torch.Generator().manual_seed(4))
    assert lengths == [model.receptive_field] and torch.equal(a, b)


def test_a_prompt_longer_than_the_largest_dilation_fills_the_queues():
    model = make()
    prompt = torch.randint(0, 5, (3, 21), generator=torch.Generator().manual_seed(1))
    a = model.generate(3, 9, prompt=prompt, generator=torch.Generator().manual_seed(2))
    b = model.generate(3, 9, prompt=prompt, generator=torch.Generator().manual_seed(2), cached=False)
    assert torch.equal(a, b)


@pytest.mark.parametrize("spec", [SEQ, BIN_IMG, RGB_IMG], ids=["seq", "binary-image", "rgb-image"])
def test_sample_cached_equals_naive_in_the_data_space(spec):
    model = make(spec)
    a = model.sample(5, generator=torch.Generator().manual_seed(1))
    b = model.sample(5, generator=torch.Generator().manual_seed(1), cached=False)
    assert torch.equal(a, b)
    assert a.shape == (5, *spec.shape) and a.dtype == spec.dtype
    if spec.value_type == "binary":
        assert set(a.unique().tolist()) <= {0.0, 1.0}
    g = model.generate(5, spec.dim, generator=torch.Generator().manual_seed(1))
    assert torch.equal(model.to_tokens(a), g)


def test_chain_rule_by_steps_matches_log_prob():
    model = make()
    x = torch.randint(0, 5, (4, 8), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits, cache = model.start(x[:, :0], 4)
        lp = torch.zeros(4)
        for t in range(8):
            lp += torch.log_softmax(logits, -1).gather(-1, x[:, t:t + 1]).squeeze(1)
            logits, cache = model.step(x[:, t], cache)
    assert torch.allclose(model.log_prob(x), lp, atol=1e-5)


def test_no_output_depends_on_a_later_position_and_the_receptive_field_is_exact():
    model = make()
    RF = model.receptive_field  # 16
    x = torch.randint(0, 5, (3, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        base = model(model.with_bos(x[:, :-1]))  # (B, T, K): position p predicts x_p
        for t in (0, 5, 20, 38):
            y = x.clone()
            y[:, t] = (y[:, t] + 1) % 5
            out = model(model.with_bos(y[:, :-1]))
            assert torch.equal(out[:, : t + 1], base[:, : t + 1]), t  # positions <= t unchanged
            # x_t reaches the outputs t+1 .. t+RF and no further
            assert not torch.allclose(out[:, t + 1], base[:, t + 1])
            if t + RF < 40:  # the longest path, through every layer's delayed tap: a small change
                assert not torch.equal(out[:, t + RF], base[:, t + RF])
            assert torch.equal(out[:, t + RF + 1:], base[:, t + RF + 1:])


@pytest.mark.parametrize("spec", [DataSpec("e", "image", (1, 2, 2), "binary"),
                                  DataSpec("q", "sequence", (3,), "categorical", num_values=3)])
def test_log_prob_sums_to_one_over_a_tiny_space(spec):
    model = make(spec)
    grid = torch.tensor(list(itertools.product(range(spec.num_values), repeat=spec.dim)))
    x = grid.reshape(-1, *spec.shape).to(spec.dtype)
    total = torch.logsumexp(model.log_prob(x).double(), 0).exp().item()
    assert total == pytest.approx(1.0, abs=1e-5)


def test_images_are_read_in_raster_order_with_channels_interleaved():
    model = make(RGB_IMG)
    x = torch.arange(27).reshape(1, 3, 3, 3)  # (1, C, H, W)
    tokens = model.to_tokens(x)
    assert tokens[0, :4].tolist() == [x[0, 0, 0, 0], x[0, 1, 0, 0], x[0, 2, 0, 0], x[0, 0, 0, 1]]
    assert torch.equal(model.from_tokens(tokens), x)
    b = make(BIN_IMG)
    img = (torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    assert torch.equal(b.from_tokens(b.to_tokens(img)), img)


def test_complete_keeps_observed_and_a_prefix_continues_like_generate():
    model = make(BIN_IMG)
    x = (torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, :, :2] = True  # the top half: a prefix of the raster order
    out = model.complete(torch.where(mask, x, -1.0), mask, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out[mask], x[mask]) and out.shape == x.shape and out.dtype == torch.float32
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    g = model.generate(6, 8, prompt=model.to_tokens(x)[:, :8], generator=torch.Generator().manual_seed(3))
    assert torch.equal(model.to_tokens(out), g)
    mask[0, 0, 3, 3] = True  # an observed value after a gap stays as it is
    out = model.complete(x, mask, generator=torch.Generator().manual_seed(4))
    assert torch.equal(out[mask], x[mask])


def test_refuses_other_data_and_bad_settings():
    for spec in (DataSpec("v", "vector", (3,), "categorical", num_values=3),
                 DataSpec("i", "image", (1, 4, 4), "continuous", value_range=(-1.0, 1.0))):
        with pytest.raises(IncompatibleDataError, match="accepts"):
            build_model("wavenet", spec)
    for bad in ({"stacks": 0}, {"layers_per_stack": 0}, {"gate_channels": -1}):
        with pytest.raises(GenzooError):
            build_config(WaveNet.Config, bad)
    with pytest.raises(GenzooError):
        make().generate(2, 3, prompt=torch.tensor([7]))


def test_training_learns_a_periodic_pattern(one_thread):
    spec = DataSpec("p", "sequence", (16,), "categorical", num_values=4)
    g = torch.Generator().manual_seed(0)
    model = make(spec).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(120):
        phase = torch.randint(0, 4, (32, 1), generator=g)
        out = model.loss({"x": (phase + torch.arange(16)) % 4})
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert float(out["bits_per_dim"]) < 0.3
    cont = model.generate(2, 12, prompt=torch.tensor([[1, 2], [3, 0]]), temperature=0.0)
    assert torch.equal(cont, (cont[:, :1] + torch.arange(14)) % 4)

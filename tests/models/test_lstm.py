"""LSTM (and its rnn/gru cells): cached == naive generation, normalisation, causality,
decoding controls, config compatibility, training."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from genzoo.config import build_config
from genzoo.data.dataset import load_dataset
from genzoo.data.spec import DataSpec
from genzoo.data.text import decode_text, encode_text
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.autoregressive.decoding import filter_logits
from genzoo.models.autoregressive.lstm import LSTM
from genzoo.models.registry import build_model
from genzoo.run import read_config, resolve, runconfig_from_dict, write_config

SEQ = DataSpec("s", "sequence", (8,), "categorical", num_values=5)
TINY = DataSpec("t", "sequence", (3,), "categorical", num_values=3)
CELLS = ("rnn", "gru", "lstm")


def make(spec: DataSpec = SEQ, **over: object) -> LSTM:
    torch.manual_seed(0)
    model = LSTM(build_config(LSTM.Config, {"hidden": 16, "embed": 8, **over}), spec)
    with torch.no_grad():  # sharper conditionals than the near-uniform initial ones
        model.head.weight.mul_(8.0)
    return model.eval()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("settings", [
    {}, {"temperature": 0.7}, {"temperature": 1.5, "top_k": 3}, {"top_p": 0.8},
    {"temperature": 0.9, "top_k": 4, "top_p": 0.6}, {"temperature": 0.0},
])
def test_cached_and_naive_generation_draw_identical_tokens(settings, cell):
    model = make(cell=cell, layers=2)
    for prompt in (None, torch.tensor([1, 2, 3]), torch.tensor([[0, 4], [4, 0], [2, 2], [1, 3]])):
        a = model.generate(4, 12, prompt=prompt, generator=torch.Generator().manual_seed(7), **settings)
        b = model.generate(4, 12, prompt=prompt, generator=torch.Generator().manual_seed(7),
                           cached=False, **settings)
        P = 0 if prompt is None else prompt.shape[-1]
        assert a.shape == (4, P + 12) and a.dtype == torch.int64
        assert torch.equal(a, b)
        if prompt is not None:
            assert torch.equal(a[:, :P], prompt.expand(4, -1))


def test_sample_is_generate_of_length_T():
    model = make()
    s = model.sample(5, generator=torch.Generator().manual_seed(1))
    g = model.generate(5, 8, generator=torch.Generator().manual_seed(1))
    assert s.shape == (5, 8) and torch.equal(s, g)


@pytest.mark.parametrize("cell", CELLS)
def test_log_prob_sums_to_one_over_a_tiny_space(cell):
    model = make(TINY, cell=cell)
    grid = torch.tensor(list(itertools.product(range(3), repeat=3)))  # (27, 3)
    total = torch.logsumexp(model.log_prob(grid).double(), 0).exp().item()
    assert total == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_causality(cell):
    model = make(layers=3, cell=cell)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 5, (3, 8), generator=g)
    with torch.no_grad():
        base, _ = model(model.with_bos(x[:, :-1]))  # (B, T, K): position t predicts x_t
        for t in range(8):
            y = x.clone()
            y[:, t] = (y[:, t] + 1) % 5
            out, _ = model(model.with_bos(y[:, :-1]))
            assert torch.equal(out[:, : t + 1], base[:, : t + 1]), t  # positions <= t unchanged
            if t < 7:
                assert not torch.allclose(out[:, t + 1], base[:, t + 1])


@pytest.mark.parametrize("cell", CELLS)
def test_log_prob_matches_the_chain_rule_by_steps(cell):
    model = make(cell=cell)
    x = torch.randint(0, 5, (4, 8), generator=torch.Generator().manual_seed(2))
    lp = torch.zeros(4)
    inp, state = torch.full((4, 1), model.bos), None
    for t in range(8):
        logits, state = model(inp, state)
        lp += torch.log_softmax(logits[:, -1], -1).gather(-1, x[:, t:t + 1]).squeeze(1)
        inp = x[:, t:t + 1]
    assert torch.allclose(model.log_prob(x), lp, atol=1e-5)


def test_cells_are_the_named_modules_and_the_cell_is_a_checked_config_value(tmp_path):
    kinds = {cell: type(make(cell=cell).rnn) for cell in CELLS}
    assert kinds == {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
    assert make(cell="rnn").rnn.nonlinearity == "tanh"
    with pytest.raises(GenzooError, match="cell"):
        build_config(LSTM.Config, {"cell": "transformer"})
    run_config = resolve("lstm", "text", overrides={"cell": "gru", "hidden": 8, "embed": 4, "layers": 1})
    assert run_config.model_config.cell == "gru"
    write_config(tmp_path, run_config, SEQ)
    assert runconfig_from_dict(read_config(tmp_path)).model_config.cell == "gru"  # saved
    # a config.json written before `cell` existed loads as the LSTM it was
    d = json.loads((tmp_path / "config.json").read_text())
    del d["model_config"]["cell"]
    (tmp_path / "config.json").write_text(json.dumps(d))
    assert runconfig_from_dict(read_config(tmp_path)).model_config.cell == "lstm"


def test_top_k_one_is_greedy_and_ignores_the_generator():
    model = make()
    greedy = model.generate(3, 10, temperature=0.0)
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        assert torch.equal(model.generate(3, 10, top_k=1, generator=g), greedy)
    # greedy really is argmax step by step
    logits, _ = model(model.with_bos(greedy[:, :-1]))
    assert torch.equal(logits.argmax(-1), greedy)


def test_small_temperature_approaches_greedy():
    model = make()
    greedy = model.generate(6, 10, temperature=0.0)
    cold = model.generate(6, 10, temperature=1e-3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(cold, greedy)
    hot = model.generate(6, 10, temperature=1.0, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(hot, greedy)


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([[0.05, 0.5, 0.2, 0.25], [0.7, 0.1, 0.1, 0.1]])
    logits = probs.log()
    kept = torch.isfinite(filter_logits(logits, top_p=0.6))
    assert kept.tolist() == [[False, True, False, True], [True, False, False, False]]
    kept = torch.isfinite(filter_logits(logits, top_p=0.85))
    assert kept.tolist() == [[False, True, True, True], [True, True, True, False]]  # tie: lower index
    assert torch.isfinite(filter_logits(logits, top_p=1.0)).all()
    assert torch.isfinite(filter_logits(logits, top_p=1e-9)).sum(1).tolist() == [1, 1]
    assert torch.isfinite(filter_logits(logits, top_k=2)).tolist() == [[False, True, False, True],
                                                                        [True, True, False, False]]
    # with top_p only tokens of the nucleus are ever drawn
    model = make()
    g = torch.Generator().manual_seed(0)
    seq = model.generate(200, 1, top_p=0.5, generator=g)[:, 0]
    first, _ = model(torch.full((1, 1), model.bos))
    allowed = torch.isfinite(filter_logits(first[0, -1], top_p=0.5)).nonzero().flatten().tolist()
    assert set(seq.tolist()) <= set(allowed)


def test_complete_keeps_observed_and_prefix_is_the_conditional():
    model = make()
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 5, (6, 8), generator=g)
    mask = torch.zeros(6, 8, dtype=torch.bool)
    mask[:, :3] = True
    mask[0, 5] = True
    out = model.complete(torch.where(mask, x, -1), mask, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out[mask], x[mask]) and out.shape == (6, 8)
    assert int(out.min()) >= 0 and int(out.max()) < 5
    # with a prefix observed it continues like generate from that prompt
    m = torch.zeros(6, 8, dtype=torch.bool)
    m[:, :3] = True
    a = model.complete(x, m, generator=torch.Generator().manual_seed(3))
    b = model.generate(6, 5, prompt=x[:, :3], generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_refuses_other_data_and_bad_arguments():
    for spec in (DataSpec("v", "vector", (3,), "categorical", num_values=3),
                 DataSpec("b", "sequence", (4,), "binary"),
                 DataSpec("i", "image", (1, 4, 4), "categorical", num_values=3)):
        with pytest.raises(IncompatibleDataError, match="accepts"):
            build_model("lstm", spec)
    model = make()
    for kw in ({"temperature": -1.0}, {"top_k": 0}, {"top_p": 0.0}, {"top_p": 1.5},
               {"prompt": torch.tensor([7])}, {"prompt": torch.zeros(3, 2, dtype=torch.long)}):
        with pytest.raises(GenzooError):
            model.generate(2, 3, **kw)
    with pytest.raises(GenzooError, match="dropout"):
        build_config(LSTM.Config, {"dropout": 1.0})


def test_training_on_text_learns_the_pattern(tmp_path, one_thread):
    (tmp_path / "corpus.txt").write_text("abcabcabcabc the cat sat. " * 80)
    data = load_dataset("text", root=tmp_path / "corpus.txt", block_size=24, stride=3)
    V = data.spec.num_values
    torch.manual_seed(0)
    model = build_model("lstm", data.spec, {"hidden": 48, "embed": 16, "layers": 1})
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        idx = torch.randint(len(data.train), (32,), generator=g)
        out = model.loss(data.train.batch(idx))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        bpc = float(-model.log_prob(data.test.x).mean() / (24 * math.log(2)))
    assert bpc < 0.25 * math.log2(V), (bpc, math.log2(V))
    prompt = encode_text("abcabc the", data.spec.vocabulary)
    text = decode_text(model.generate(1, 40, prompt=prompt, temperature=0.0)[0], data.spec.vocabulary)
    assert " cat sat. abcabcabcabc the cat" in text, text
    sampled = decode_text(model.sample(1, generator=torch.Generator().manual_seed(0))[0], data.spec.vocabulary)
    assert "abcabc" in sampled or "cat sat" in sampled, sampled

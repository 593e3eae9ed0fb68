"""``genzoo bench fidelity``: the shipped suite parses, tiny rows run end to end with
``--only``, targets are checked, and the sliding-window text evaluation is exact."""

from __future__ import annotations

import csv
import json

import pytest
import torch
import yaml

from genzoo.cli.main import main
from genzoo.data.spec import DataSpec
from genzoo.errors import CapabilityError, GenzooError
from genzoo.evaluate.likelihood import evaluate_nll, sliding_window_nll
from genzoo.models.registry import build_model
from genzoo.tasks.bench import load_suite, resolve_entry
from genzoo.tasks.fidelity import met


def test_shipped_fidelity_suite_parses_and_every_trained_row_resolves():
    suite, path = load_suite("fidelity")
    assert suite["kind"] == "fidelity"
    labels = [e["label"] for e in suite["entries"]]
    assert len(set(labels)) == len(labels) >= 10
    assert {"made-1mask", "vae-pytorch-examples", "char-transformer", "gan-ring"} <= set(labels)
    for row in suite["entries"]:
        if row["measure"]["kind"] != "modes":
            spec = resolve_entry(row, suite, path)
            assert spec.model and spec.data


def test_targets():
    assert met(89.0, {"max": 89.5}) == "yes" and met(90.0, {"max": 89.5}) == "no"
    assert met(1.2, {"min": 1.0}) == "yes" and met(0.5, {"min": 1.0}) == "no"
    assert met(float("nan"), {"max": 1.0}) == "n/a"


def _suite(tmp_path, rows):
    suite = {"name": "tinyfid", "kind": "fidelity", "description": "tiny rows",
             "data": {"name": "digits", "binarize": "threshold"}, "train": {"steps": 30, "batch_size": 32},
             "entries": rows}
    path = tmp_path / "tinyfid.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


ROW = {"published": 88.4, "source": "a paper", "setting": "tiny"}


def test_tiny_rows_run_with_only(tmp_path, capsys):
    path = _suite(tmp_path, [
        {"label": "made-nll", "model": "made", "config": {"hidden": [16]}, "target": {"max": 1e9},
         "measure": {"kind": "nll"}, **ROW},
        {"label": "made-ens", "model": "made", "config": {"hidden": [16], "num_masks": 2, "direct": True},
         "target": {"min": 1e9}, "measure": {"kind": "ensemble_gain", "ensemble": 2}, **ROW},
        {"label": "gan-ring", "model": "gan", "config": {"g_hidden": [16], "d_hidden": [16]}, "target": {"min": 0},
         "measure": {"kind": "modes", "shape": "ring", "packs": [1, 2], "seeds": 3, "steps": 10, "batch_size": 20},
         **ROW},
    ])
    out = tmp_path / "out"
    assert main(["bench", str(path), "--only", "made-ens,made-nll", "--out", str(out), "--no-progress"]) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["label"] for r in rows] == ["made-nll", "made-ens"]  # suite order, gan-ring left out
    assert {"published", "target", "ours", "met", "setting", "train s", "load"} <= set(rows[0])
    assert rows[0]["met"] == "yes" and rows[1]["met"] == "no" and rows[1]["target"] == ">= 1000000000.0"
    res = json.loads((out / "results.json").read_text())["results"]
    assert res[0]["ours"] > 0 and res[0]["train steps"] == 30
    assert "2-mask ensemble" in res[1]["detail"]
    md = (out / "results.md").read_text()
    assert "| published |" in md.replace("| label | published |", "| published |")
    out2 = tmp_path / "out2"
    assert main(["bench", str(path), "--only", "gan-ring", "--seeds", "1", "--out", str(out2), "--no-progress"]) == 0
    (gan,) = json.loads((out2 / "results.json").read_text())["results"]
    assert gan["train steps"] == 10 and "pack 1:" in gan["detail"] and "pack 2:" in gan["detail"]
    assert gan["detail"].startswith("1 seeds") and gan["measure"]["seeds"] == 1
    capsys.readouterr()
    assert main(["bench", str(path), "--only", "nonesuch", "--out", str(tmp_path / "o3")]) == 2
    assert "nonesuch" in capsys.readouterr().err


def test_rows_must_state_target_and_measure(tmp_path, capsys):
    path = _suite(tmp_path, [{"label": "x", "model": "made", "published": 1, "source": "s"}])
    with pytest.raises(GenzooError, match="target"):
        load_suite(str(path))
    path = _suite(tmp_path, [{"label": "x", "model": "made", "target": {"max": 1}, "measure": {"kind": "vibes"},
                              **ROW}])
    with pytest.raises(GenzooError, match="vibes"):
        load_suite(str(path))


def test_sliding_window_nll_scores_every_token_once():
    spec = DataSpec("t", "sequence", (8,), "categorical", num_values=5)
    torch.manual_seed(0)
    model = build_model("transformer", spec, {"layers": 1, "width": 16, "heads": 2})
    ids = torch.randint(0, 5, (8 * 7,), generator=torch.Generator().manual_seed(1))
    # stride == block: the plain evaluation of non-overlapping windows from BOS
    plain = evaluate_nll(model, ids.view(7, 8))["nll_nats"] / 8
    same = sliding_window_nll(model, ids, block=8, stride=8)
    assert same["tokens"] == 56 and same["nll_per_token"] == pytest.approx(plain, rel=1e-5)
    # stride 3 (the last window moved back to the end): still every token exactly once,
    # and equal to summing the per-position log-probabilities by hand
    res = sliding_window_nll(model, ids[:50], block=8, stride=3, batch_size=4)
    assert res["tokens"] == 50 and res["min_context"] == 5
    with torch.no_grad():
        lp = torch.log_softmax(model.stream_logits(ids[None, :8]).double(), -1)[0]
        by_hand = [float(lp[t, ids[t]]) for t in range(8)]
        starts = list(range(0, 43, 3))
        for a_prev, a in zip(starts[:-1] + [starts[-1]], starts[1:] + [42]):
            w = ids[a:a + 8]
            lpw = torch.log_softmax(model.stream_logits(w[None]).double(), -1)[0]
            by_hand += [float(lpw[t, w[t]]) for t in range(a_prev + 8 - a, 8)]
    assert len(by_hand) == 50 and res["nll_per_token"] == pytest.approx(-sum(by_hand) / 50, rel=1e-9)
    with pytest.raises(CapabilityError):
        sliding_window_nll(build_model("made", spec, {"hidden": [8]}), ids, block=8, stride=4)

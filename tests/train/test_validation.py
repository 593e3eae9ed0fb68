"""Validation during training: the logged metric, best.safetensors, early stopping,
``--weights best/auto`` and the checks on the settings.

One small MADE run on digits (a fifth of train for training, the rest held out) that
overfits within 50 steps, so patience stops it early; every test reads that run.
Exact resume with validation state is tested in test_resume.py.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from genzoo.cli.main import main
from genzoo.data.dataset import Dataset, Split, hold_out_valid, load_dataset, random_rows
from genzoo.errors import GenzooError
from genzoo.evaluate.likelihood import evaluate_nll
from genzoo.run import load_run
from genzoo.train.checkpoint import load_weights
from genzoo.train.logging import read_metrics

EVERY, PATIENCE = 5, 3
COMMON = ["made", "--data", "digits", "--batch-size", "32", "--seed", "1", "--no-progress",
          "--set", "hidden=128", "--set", "train.lr=0.03", "--set", "data.valid_fraction=0.8",
          "--set", "train.ema=0.5"]
VALIDATE = ["--set", f"train.eval_every={EVERY}", "--set", f"train.patience={PATIENCE}",
            "--checkpoint-every", "10"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("valid") / "run"
    assert main(["train", *COMMON, *VALIDATE, "--steps", "300", "--run-dir", str(d)]) == 0
    return d


def _valid_rows(run_dir):
    return [r for r in read_metrics(run_dir) if "valid/nll" in r]


def test_logged_metric_is_the_library_nll_of_the_ema_weights(run):
    rows = _valid_rows(run)
    assert [r["step"] for r in rows] == list(range(EVERY, EVERY * (len(rows) + 1), EVERY))
    best = json.loads((run / "best.json").read_text())
    assert best["weights"] == "ema" and best["metric"] == "valid/nll"
    loaded = load_run(run, weights="best")
    data = load_dataset("digits", valid_fraction=0.8)
    x = random_rows(data.fixed("valid").x, 2000, seed=0)
    assert best["examples"] == len(x) == len(data.valid)
    direct = evaluate_nll(loaded.model, x)["nll_nats"]
    by_step = {r["step"]: r["valid/nll"] for r in rows}
    assert by_step[best["step"]] == pytest.approx(direct, rel=1e-12, abs=0)
    assert best["value"] == min(by_step.values()) == rows[-1]["valid/best_nll"]


def test_patience_stops_at_the_right_step(run):
    rows = _valid_rows(run)
    best, bad, stop = math.inf, 0, None
    for r in rows:  # the rule, recomputed from the log
        if r["valid/nll"] < best:
            best, bad = r["valid/nll"], 0
        else:
            bad += 1
        if bad == PATIENCE:
            stop = r["step"]
            break
    assert stop is not None and stop < 300, "the run should overfit and stop early"
    assert rows[-1]["step"] == stop
    assert max(r["step"] for r in read_metrics(run)) == stop
    assert (run / "model.safetensors").exists() and (run / "checkpoints" / f"step-{stop}").is_dir()


def test_best_weights_are_the_weights_of_the_best_step(run, tmp_path):
    """The same run without validation, stopped at the best step, ends with the weights
    kept as best (so validation also leaves training untouched)."""
    step = json.loads((run / "best.json").read_text())["step"]
    plain = tmp_path / "plain"
    assert main(["train", *COMMON, "--steps", str(step), "--run-dir", str(plain)]) == 0
    a, b = load_weights(run / "best.safetensors"), load_weights(plain / "ema.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert main(["eval", str(plain), "--weights", "best"]) == 2  # trained without validation
    assert load_run(plain).weights == "ema"


def test_weights_best_and_auto_through_the_cli(run, capsys, tmp_path):
    capsys.readouterr()
    assert main(["eval", str(run), "--weights", "best", "--split", "valid", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    best = json.loads((run / "best.json").read_text())
    assert out["weights"] == "best"
    assert out["nll_nats"] == pytest.approx(best["value"], rel=1e-9)
    assert main(["eval", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["weights"] == "best"
    assert main(["eval", str(run), "--weights", "model", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["weights"] == "model"
    assert main(["sample", str(run), "--weights", "best", "-n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").exists()


@pytest.mark.parametrize("extra", [
    ["--set", "train.eval_every=-1"],
    ["--set", "train.patience=2"],  # patience without eval_every
    ["--set", "train.eval_examples=-5", "--set", "train.eval_every=5"],
    ["--set", "train.eval_metric=loss", "--set", "train.eval_every=5"],
    ["--set", "data.valid_fraction=1.0"],
    ["--set", "data.valid_fraction=-0.1"],
])
def test_bad_values_are_one_line_errors(tmp_path, extra, capsys):
    assert main(["train", "made", "--data", "digits", "--steps", "2", "--run-dir", str(tmp_path / "r"),
                 "--no-progress", *extra]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_validation_needs_a_split_and_a_metric(tmp_path, capsys):
    r = ["--steps", "2", "--no-progress", "--set", "train.eval_every=1"]
    assert main(["train", "made", "--data", "digits", "--run-dir", str(tmp_path / "a"), *r]) == 2
    assert "data.valid_fraction" in capsys.readouterr().err
    assert main(["train", "gan", "--data", "toy2d", "--run-dir", str(tmp_path / "b"), *r,
                 "--set", "data.valid_fraction=0.1"]) == 2
    assert "eval_metric=fid" in capsys.readouterr().err
    own = Dataset(load_dataset("digits").spec, Split(torch.zeros(10, 1, 8, 8)), Split(torch.zeros(2, 1, 8, 8)),
                  valid=Split(torch.zeros(2, 1, 8, 8)))
    with pytest.raises(GenzooError, match="its own validation split"):
        hold_out_valid(own, 0.1)


def test_valid_fraction_is_seeded_and_zero_changes_nothing():
    full = load_dataset("digits")
    a, b = load_dataset("digits", valid_fraction=0.25), load_dataset("digits", valid_fraction=0.25)
    assert full.valid is None and torch.equal(load_dataset("digits", valid_fraction=0).train.x, full.train.x)
    assert torch.equal(a.valid.x, b.valid.x) and torch.equal(a.train.y, b.train.y)
    assert len(a.train) + len(a.valid) == len(full.train) and len(a.valid) == round(0.25 * len(full.train))
    rows = {tuple(r.tolist()) for r in full.train.x.flatten(1)}
    assert all(tuple(r.tolist()) in rows for r in a.valid.x.flatten(1))


def test_fid_validation_for_a_gan_is_opt_in(tmp_path):
    d = tmp_path / "gan"
    assert main(["train", "gan", "--data", "toy2d", "--steps", "20", "--batch-size", "64", "--no-progress",
                 "--run-dir", str(d), "--set", "data.valid_fraction=0.2", "--set", "train.eval_every=10",
                 "--set", "train.eval_metric=fid", "--set", "train.eval_examples=200"]) == 0
    rows = [r for r in read_metrics(d) if "valid/fid" in r]
    assert [r["step"] for r in rows] == [10, 20] and all(math.isfinite(r["valid/fid"]) for r in rows)
    best = json.loads((d / "best.json").read_text())
    assert best["metric"] == "valid/fid" and best["examples"] == 200
    assert best["value"] == min(r["valid/fid"] for r in rows)

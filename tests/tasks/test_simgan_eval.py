"""``genzoo simgan-eval``: the structure of its results on a tiny run (a few rendered and
MNIST digits, a few steps), the grid of rendered and refined rows, bad requests as
one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from genzoo.cli.main import main
from genzoo.data.dataset import load_dataset
from genzoo.tasks import simgan_eval
from tests.models.test_simgan import write_idx

TINY = ["--set", "channels=4", "--set", "blocks=1", "--set", "d_layers=1", "--set", "buffer_size=8",
        "--steps", "2", "--batch-size", "8", "--no-progress", "--offline"]


@pytest.fixture(scope="module")
def run(shared_data, tmp_path_factory):
    from genzoo.data.mnist import MNIST_FILES, load_idx_pair

    root = tmp_path_factory.mktemp("simgan_eval")
    mnist = root / "mnist"
    mnist.mkdir()
    for split, n in (("train", 60), ("test", 40)):
        names = MNIST_FILES[split]
        images, labels = load_idx_pair(*(shared_data / "mnist" / (s + ".gz") for s in names))
        write_idx(mnist / names[0], images[:n])
        write_idx(mnist / names[1], labels[:n])
    assert main(["train", "simgan", "--data", "glyph_mnist", "--data-dir", str(mnist), *TINY,
                 "--run-dir", str(root / "run")]) == 0
    return root / "run"


def test_eval_reports_raw_refined_and_real_accuracy(run, tmp_path, capsys):
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["simgan-eval", str(run), "--steps", "2", "--batch-size", "16", "--count", "30", "--test-count", "20",
                 "--real", "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert json.loads((out / "results.json").read_text()) == res
    assert set(res["mnist_accuracy"]) == {"raw", "refined", "real"}
    assert all(0 <= v <= 1 for v in res["mnist_accuracy"].values())
    assert res["synthetic_images"] == 30 and res["mnist_test_images"] == 20
    assert res["classifier"]["steps"] == 2 and res["classifier"]["network"].endswith("FeatureNet")
    assert res["refined_minus_raw"] == pytest.approx(res["mnist_accuracy"]["refined"] - res["mnist_accuracy"]["raw"])
    assert 0 <= res["labels_kept"] <= 1 and set(res["real_net_reads"]) == {"raw", "refined"}
    assert res["mean_change"] > 0  # an untrained refiner changes the images
    test_y = simgan_eval.random_rows(torch.arange(40), 20, seed=0)  # the test rows the task picked
    labels = load_dataset("mnist", root=run.parent / "mnist", download=False).test.y[test_y]
    counts = torch.bincount(labels, minlength=10)
    for k, accs in res["per_digit"].items():  # per-digit accuracies weighted by count give the total
        assert [a is None for a in accs] == (counts == 0).tolist()
        total = sum(a * int(n) for a, n in zip(accs, counts) if a is not None) / int(counts.sum())
        assert total == pytest.approx(res["mnist_accuracy"][k])
    w, h = Image.open(out / "grid.png").size
    assert w > 10 * 56 and h > 4 * 56  # 10 digits, 2 pairs of rows
    assert main(["simgan-eval", str(run), "--steps", "2", "--count", "30", "--test-count", "20",
                 "--out", str(tmp_path / "plain")]) == 0
    text = capsys.readouterr().out
    assert "(a) raw" in text and "(b) refined" in text and "(c)" not in text and "labels kept" in text
    assert "per digit" in text


def test_the_classifiers_see_the_same_images_but_refined(run):
    from genzoo.run import load_data, load_run

    loaded = load_run(run)
    src = load_data(loaded.config, download=False).train.extra["source"][:5]
    refined = simgan_eval.refine(loaded.model, src)
    assert refined.shape == src.shape and 0 <= refined.min() and refined.max() <= 1
    assert torch.allclose(refined, (loaded.model.refiner(src * 2 - 1) + 1) / 2, atol=1e-6)
    y = torch.arange(10).repeat(2)
    grid = simgan_eval.grid_rows(torch.zeros(20, 1, 2, 2), torch.ones(20, 1, 2, 2), y)
    assert grid.shape == (40, 1, 2, 2) and torch.all(grid[:10] == 0) and torch.all(grid[10:20] == 1)


def test_several_classifier_seeds_give_means_and_paired_differences(run, tmp_path, capsys):
    capsys.readouterr()
    args = ["simgan-eval", str(run), "--steps", "2", "--batch-size", "16", "--count", "30", "--test-count", "20"]
    assert main([*args, "--seeds", "3,5", "--out", str(tmp_path / "two"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    ps = res["per_seed"]
    assert ps["seeds"] == [3, 5] and len(ps["raw"]) == len(ps["refined"]) == 2
    for k in ("raw", "refined"):
        assert res["mnist_accuracy"][k] == pytest.approx(sum(ps[k]) / 2)
    diffs = [b - a for a, b in zip(ps["raw"], ps["refined"])]
    assert ps["refined_minus_raw"] == pytest.approx(diffs)
    assert res["refined_minus_raw"] == pytest.approx(sum(diffs) / 2)
    assert ps["refined_wins"] == sum(d > 0 for d in diffs)
    assert ps["refined_minus_raw_sd"] == pytest.approx(abs(diffs[0] - diffs[1]) / 2 ** 0.5)
    # each seed's classifier is the one a single-seed evaluation trains
    assert main([*args, "--seed", "0", "--seeds", "5", "--out", str(tmp_path / "one"), "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["mnist_accuracy"]["raw"] == pytest.approx(ps["raw"][1])
    assert one["mnist_accuracy"]["refined"] == pytest.approx(ps["refined"][1])
    assert main([*args, "--seeds", "3,5", "--out", str(tmp_path / "text")]) == 0
    text = capsys.readouterr().out
    assert "over seeds [3, 5]" in text and "of 2 seeds" in text and "per seed" in text


@pytest.mark.parametrize("extra,message", [
    (["--seeds", "1,x"], "--seeds"),
    (["--seeds", "1,1"], "seeds"),
    (["--steps", "0"], "steps"),
    (["--count", "5"], "count=5"),
    (["--test-count", "0"], "test_count"),
])
def test_bad_requests_exit_2(run, capsys, extra, message):
    assert main(["simgan-eval", str(run), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_runs_of_other_models_or_data_are_refused(tmp_path, capsys):
    assert main(["simgan-eval", str(tmp_path / "missing")]) == 2
    assert main(["train", "simgan", "--data", "pairs", "--set", "data.kind=inverted", *TINY,
                 "--run-dir", str(tmp_path / "pairs")]) == 0
    capsys.readouterr()
    assert main(["simgan-eval", str(tmp_path / "pairs")]) == 2
    assert "glyph_mnist" in capsys.readouterr().err
    assert main(["train", "simgan", "--data", "glyph_digits", "--set", "data.n_train=10", "--set", "data.n_test=10",
                 *TINY, "--run-dir", str(tmp_path / "x")]) == 2  # no synthetic sources: refused

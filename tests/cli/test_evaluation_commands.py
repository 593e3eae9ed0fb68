"""The evaluation commands from the command line: eval with sample metrics, classify,
outliers and bench, on tiny runs of the built-in digits."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from genzoo.cli import eval_cmd
from genzoo.cli.main import main
from genzoo.evaluate import metrics


@pytest.fixture(scope="module")
def made_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval") / "made"
    assert main(["train", "made", "--steps", "200", "--set", "hidden=64", "--run-dir", str(d), "--no-progress"]) == 0
    return d


def test_eval_metric_names_match():
    assert eval_cmd.METRICS == metrics.METRICS


def test_eval_with_sample_metrics(made_run, capsys):
    capsys.readouterr()
    assert main(["eval", str(made_run), "--metrics", "nll,fid,kid,prdc,is", "--samples", "120", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["kind"] == "exact" and res["nll_nats"] > 0
    assert res["fid"]["samples"] == 120 and res["fid"]["real"] == 120 and "test accuracy" in res["fid"]["features"]
    assert res["kid"]["subsets"] == 100 and 0 <= res["prdc"]["coverage"] <= 1
    assert 1 <= res["is"]["value"] <= 10 and res["is"]["real_data_value"] > res["is"]["value"] - 5
    assert main(["eval", str(made_run), "--metrics", "fid", "--samples", "60"]) == 0
    out = capsys.readouterr().out
    assert "FID" in out and "60 samples vs 60 test examples" in out
    assert main(["eval", str(made_run), "--metrics", "bogus"]) == 2
    assert "unknown metric 'bogus'" in capsys.readouterr().err
    assert main(["eval", str(made_run), "--metrics", "modes"]) == 2  # digits have no known modes
    assert "modes" in capsys.readouterr().err
    assert main(["eval", str(made_run), "--metrics", "cas"]) == 2
    assert "class-conditional" in capsys.readouterr().err


def test_eval_modes_on_toy2d(tmp_path, capsys):
    d = tmp_path / "gmm"
    assert main(["train", "gmm", "--data", "toy2d", "--set", "components=8", "--set", "train.batch_size=0",
                 "--steps", "40", "--run-dir", str(d), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(d), "--metrics", "modes,fid,prdc", "--samples", "1000", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["modes"]["modes_total"] == 8 and res["modes"]["modes_covered"] >= 6
    assert res["fid"]["features"].startswith("the raw 2-d")


def test_outliers(made_run, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["outliers", str(made_run), "--count", "80", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "AUROC" in said and "glyphs" in said
    res = json.loads((out / "results.json").read_text())
    assert set(res["auroc"]) == {"noise", "noisy", "inverted", "shifted", "glyphs"}
    assert res["auroc"]["noise"]["likelihood"] > 0.9  # uniform noise is far less likely than digits
    assert (out / "roc.png").is_file() and (out / "scores.png").is_file()
    assert main(["outliers", str(made_run), "--scores", "energy"]) == 2
    assert main(["outliers", str(made_run), "--sets", "cats"]) == 2


def test_classify_learning_curve_and_conditional_run(tmp_path, capsys):
    out = tmp_path / "curve"
    assert main(["classify", "made", "--labels", "3,10", "--steps", "30", "--set", "hidden=32", "--out", str(out),
                 "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert [r["labels_per_class"] for r in res["rows"]] == [3, 10]
    assert [r["labelled"] for r in res["rows"]] == [30, 100]
    for r in res["rows"]:
        assert 0.1 < r["generative_accuracy"] <= 1 and 0 < r["discriminative_accuracy"] <= 1
        assert 0.8 < r["discriminative_parameters"] / r["generative_parameters"] < 1.25  # of similar size
    assert (out / "learning_curve.png").is_file() and "| 10 |" in (out / "results.md").read_text()
    run = tmp_path / "cvae"
    assert main(["train", "cvae", "--steps", "150", "--run-dir", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["classify", str(run), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["accuracy"] > 0.3 and (run / "classify" / "confusion.png").is_file()
    # an EM-fitted model's size is its fitted values, so the MLP baseline is not starved
    out = tmp_path / "gmm"
    assert main(["classify", "gmm", "--labels", "5", "--steps", "5", "--set", "components=1", "--set",
                 "train.batch_size=0", "--out", str(out), "--no-progress"]) == 0
    row = json.loads((out / "results.json").read_text())["rows"][0]
    assert 0.8 < row["discriminative_parameters"] / row["generative_parameters"] < 1.25
    assert main(["classify", "made", "--labels", "zero"]) == 2
    assert main(["classify", "made", "--labels", "3", "--conditional"]) == 2  # made has no conditional form


def test_classify_with_reject(tmp_path, capsys):
    out = tmp_path / "reject"
    assert main(["classify", "made", "--reject", "--labels", "20", "--steps", "20", "--set", "hidden=16",
                 "--count", "40", "--sets", "noise,glyphs", "--out", str(out), "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert "accuracy on accepted" in said and "outliers rejected" in said
    res = json.loads((out / "reject.json").read_text())
    assert set(res["operating_point"]["rejected"]) == {"noise", "glyphs"} and res["count"] == 40
    assert res["curve"][-1]["clean_rejected"] == 0.0 and (out / "reject.png").is_file()
    # a class-conditional run directory
    run = tmp_path / "cvae"
    assert main(["train", "cvae", "--steps", "10", "--run-dir", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["classify", str(run), "--reject", "--count", "30", "--sets", "noise", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert "curve" not in res and 0 <= res["operating_point"]["rejected"]["noise"] <= 1
    assert (run / "classify" / "reject.png").is_file()
    # bad input: one line, exit 2, before any training
    for bad in (["--reject-rate", "1.5"], ["--sets", "cats"], ["--count", "1"], ["--labels", "3,10"],
                ["--holdout", "0"]):
        assert main(["classify", "made", "--reject", *bad]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    assert main(["classify", str(run), "--reject", "--sets", "noise,cats"]) == 2


def test_bench_a_small_suite(tmp_path, capsys):
    suite = {"name": "tiny", "description": "two models", "data": {"name": "digits", "binarize": "threshold"},
             "train": {"steps": 40, "batch_size": 32}, "evaluate": {"metrics": ["nll", "fid", "prdc"], "samples": 80},
             "entries": [{"model": "made", "config": {"hidden": [32]}},
                         {"model": "dcgan", "label": "gan", "config": {"channels": 8}}]}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(suite))
    out = tmp_path / "bench"
    assert main(["bench", str(path), "--out", str(out), "--no-progress"]) == 0
    res = json.loads((out / "results.json").read_text())
    made, gan = res["results"]
    assert made["metrics"]["nll"]["kind"] == "exact" and "nll" not in gan["metrics"]
    assert made["metrics"]["fid"]["samples"] == gan["metrics"]["fid"]["samples"] == 80
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [r["label"] for r in rows] == ["made", "gan"]
    assert "samples-gan.png" in {p.name for p in out.iterdir()} and (out / "index.html").is_file()
    assert "Settings" in (out / "results.md").read_text()
    capsys.readouterr()
    assert main(["bench", str(path), "--out", str(out)]) == 2  # never overwrites
    assert "not empty" in capsys.readouterr().err
    assert main(["bench", "nonesuch"]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"entries": [{"model": "made", "colour": "red"}]}))
    assert main(["bench", str(bad)]) == 2
    assert "colour" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["quick", "quickstart", "mnist", "mnist-gpu"])
def test_shipped_suites_resolve(name):
    from genzoo.tasks.bench import load_suite, resolve_entry

    suite, path = load_suite(name)
    for entry in suite["entries"]:
        spec = resolve_entry(entry, suite, path)
        assert spec.model and spec.data == suite["data"]["name"]

"""benchmarks/diffusion_steps.py on tiny, briefly trained runs: the table's structure,
finite metrics, counted network evaluations, and bad options as one line with exit 2."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch

from genzoo.cli.main import main
from genzoo.run import load_run

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "diffusion_steps.py"
TINY = ["--set", "channels=8", "--set", "channel_mults=1,2", "--set", "attention=false", "--steps", "2",
        "--batch-size", "16", "--no-progress"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("diffusion_steps", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    # one torch thread: tiny convolutions on a busy 2-core machine only pay for hand-offs
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("steps-runs")
    assert main(["train", "ddpm", "--data", "digits", *TINY, "--set", "timesteps=8", "--set", "sample_steps=4",
                 "--run-dir", str(root / "ddpm")]) == 0
    assert main(["train", "flow_matching", "--data", "digits", *TINY, "--set", "conditional=false",
                 "--run-dir", str(root / "fm")]) == 0
    yield root
    torch.set_num_threads(threads)


@pytest.mark.parametrize("run,labels,evals,steps", [
    ("ddpm", ["ddpm", "ddim-eta0", "ddim-eta1"], [1, 1, 1], (3,)),
    ("fm", ["euler", "heun", "midpoint"], [1, 2, 2], (1, 3)),
])
def test_table_rows_metrics_and_counted_evaluations(bench, runs, run, labels, evals, steps):
    res = bench.steps_table(load_run(runs / run), steps=steps, samples=16, batch_size=8, progress=False)
    assert [(r["sampler"], r["steps"]) for r in res["rows"]] == [(lab, s) for lab in labels for s in steps]
    for r in res["rows"]:
        assert set(bench.COLUMNS) <= set(r)
        assert math.isfinite(r["FID"]) and r["FID"] >= 0 and math.isfinite(r["KID"])
        assert r["ms/image"] > 0
    # network evaluations per image: steps x evaluations per step of the sampler
    assert [r["evals/image"] for r in res["rows"]] == [e * s for e in evals for s in steps]
    assert res["samples"] == res["real"] == 16 and res["batch_size"] == 8
    if run == "ddpm":  # DDIM with eta 1 is the ancestral sampler (posterior variance), draw for draw
        assert res["rows"][0]["FID"] == res["rows"][2]["FID"]
    table = [line for line in bench.markdown(res).splitlines() if line.startswith("|")]
    # the full table (header, rule, a row each) and FID by steps (header, rule, a row per sampler)
    assert len(table) == 2 + len(res["rows"]) + 2 + len(labels)
    assert table[-len(labels):][0].startswith(f"| {labels[0]} | ")


def test_the_script_writes_json_and_csv(bench, runs, tmp_path, capsys):
    out, table = tmp_path / "r.json", tmp_path / "r.csv"
    assert bench.main([str(runs / "ddpm"), "--samplers", "ddim-eta0.5", "--steps", "3", "--samples", "12",
                       "--json", str(out), "--csv", str(table), "--no-progress"]) == 0
    assert "| ddim-eta0.5 | 3 |" in capsys.readouterr().out
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 1 and rows[0]["steps"] == 3
    assert table.read_text().splitlines()[0].startswith("sampler,steps,evals/image,FID")


@pytest.mark.parametrize("run,args,needle", [
    ("ddpm", ["--steps", "0"], "--steps"),
    ("ddpm", ["--steps", "9"], "T = 8"),
    ("ddpm", ["--samplers", "heun"], "not one of the ddpm samplers"),
    ("ddpm", ["--samplers", "ddim-eta2"], "eta"),
    ("fm", ["--samplers", "ddim-eta0"], "not one of the flow_matching samplers"),
    ("fm", ["--guidance", "2"], "unconditional"),
    ("ddpm", ["--samples", "5"], "samples"),
])
def test_bad_options_are_one_line_exit_2(bench, runs, run, args, needle, capsys):
    assert bench.main([str(runs / run), "--no-progress", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and needle in err, err

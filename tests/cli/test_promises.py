"""Commands do what they promise, checked on their outputs, not only their exit codes:

* ``complete`` keeps every observed value and fills the covered ones, and its picture
  is exactly the grid of what the library computes;
* ``interpolate`` starts and ends each row at the decoded endpoints;
* ``sample`` draws only values the data can take;
* ``eval`` reports the number the library call computes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.cli.main import main
from genzoo.evaluate.likelihood import evaluate_nll
from genzoo.report.render import image_grid
from genzoo.run import load_data, load_run
from genzoo.tasks.complete import complete_run, completion_grid
from genzoo.tasks.interpolate import encode, interpolate_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("promises")
    out = {}
    for model, steps, sets in [("made", 40, ["hidden=32"]), ("vae", 40, ["latent_dim=4"])]:
        run = base / model
        argv = ["train", model, "--data", "digits", "--steps", str(steps), "--run-dir", str(run), "--no-progress"]
        for s in sets:
            argv += ["--set", s]
        assert main(argv) == 0
        out[model] = str(run)
    return out


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.mark.parametrize("model", ["made", "vae"])
def test_complete_keeps_observed_values_and_draws_what_it_computed(runs, model, tmp_path, capsys):
    out = tmp_path / "c.png"
    assert main(["complete", runs[model], "--cover", "bottom-0.5", "-n", "3", "--count", "4", "--seed", "5",
                 "--out", str(out)]) == 0
    assert "covered pixels equal to the original" in capsys.readouterr().out
    res = complete_run(load_run(runs[model]), cover="bottom-0.5", samples=3, count=4, seed=5)
    x, obs, comps = res.x, res.observed, res.completions  # (4, 1, 8, 8), (1, 8, 8), (4, 3, 1, 8, 8)
    assert torch.equal(comps[:, :, obs], x.unsqueeze(1).expand_as(comps)[:, :, obs])
    assert int(obs.sum()) == 32 and set(torch.unique(comps).tolist()) <= set(range(17))
    assert not torch.equal(comps[:, 0], comps[:, 1]) or not torch.equal(comps[:, 1], comps[:, 2])
    completion_grid(x, obs, comps, load_run(runs[model]).spec, tmp_path / "again.png")
    assert np.array_equal(_png(out), _png(tmp_path / "again.png"))


def test_interpolate_starts_and_ends_at_the_decoded_endpoints(runs, tmp_path):
    out = tmp_path / "i.png"
    assert main(["interpolate", runs["vae"], "--pairs", "3", "--steps", "6", "--seed", "2", "--out", str(out)]) == 0
    loaded = load_run(runs["vae"])
    res = interpolate_run(loaded, pairs=3, steps=6, seed=2)
    grid = res.grid  # (3, 1 + 6 + 1, 1, 8, 8): original, path, original
    a, b = grid[:, 0], grid[:, -1]
    with torch.no_grad():
        assert torch.equal(grid[:, 1], loaded.model.decode(encode(loaded.model, a)))
        assert torch.equal(grid[:, -2], loaded.model.decode(encode(loaded.model, b)))
    b_, k = grid.shape[:2]
    expect = image_grid(grid.reshape(b_ * k, *loaded.spec.shape), loaded.spec, ncol=k)
    assert np.array_equal(_png(out), expect)


@pytest.mark.parametrize("model", ["made", "vae"])
def test_samples_take_only_values_the_data_can(runs, model, tmp_path):
    out = tmp_path / "s.png"
    assert main(["sample", runs[model], "-n", "16", "--seed", "1", "--out", str(out)]) == 0
    levels = {round(255 * k / 16) for k in range(17)} | {170}  # 17 grey levels of the digits, grid padding
    assert set(np.unique(_png(out)).tolist()) <= levels
    spec = load_run(runs[model]).spec
    x = load_run(runs[model]).model.sample(16, generator=torch.Generator().manual_seed(1))
    assert np.array_equal(_png(out), image_grid(x, spec))  # the picture is the seeded draw


@pytest.mark.parametrize("model", ["made", "vae"])
def test_eval_reports_the_library_number(runs, model, capsys):
    assert main(["eval", runs[model], "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    loaded = load_run(runs[model])
    ref = evaluate_nll(loaded.model, load_data(loaded.config, download=False).fixed("test").x)
    assert got["nll_nats"] == pytest.approx(ref["nll_nats"], abs=1e-9)
    assert got["kind"] == ref["kind"] and got["n"] == ref["n"] == 359
    kept = json.loads((loaded.path / "eval.json").read_text())["test/model"]  # kept in the run for later readers
    assert kept["nll_nats"] == got["nll_nats"] and kept["split"] == "test"

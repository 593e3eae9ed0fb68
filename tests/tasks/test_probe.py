"""Linear probes on learned codes: the probe itself, an RBM's features, refusals, the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from genzoo.cli.main import main
from genzoo.data.dataset import load_dataset
from genzoo.errors import CapabilityError, GenzooError
from genzoo.models.registry import build_model
from genzoo.tasks.probe import linear_probe_accuracy, probe


def test_probe_separates_separable_classes_and_not_random_labels():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(400) % 4
    x = torch.randn(400, 6, generator=g, dtype=torch.float64) * 0.3
    x[torch.arange(400), y] += 3.0  # class k lives along axis k
    assert linear_probe_accuracy(x[:200], y[:200], x[200:], y[200:]) == 1.0
    shuffled = y[:200][torch.randperm(200, generator=g)]
    assert linear_probe_accuracy(x[:200], shuffled, x[200:], y[200:]) < 0.6


def test_probe_rows_on_an_untrained_rbm():
    data = load_dataset("digits", binarize="threshold")
    torch.manual_seed(0)
    model = build_model("rbm", data.spec, {"hidden": 32})
    # a random RBM's hidden means are random projections; the probe must still run and beat chance
    res = probe(model, data, sizes=[5, None])
    assert [r["labelled"] for r in res["rows"]] == [50, len(data.train.x)]
    assert res["code_dim"] == 32 and res["pixel_dim"] == 64
    assert all(0.3 < r["code_accuracy"] <= 1 and 0.3 < r["pixel_accuracy"] <= 1 for r in res["rows"])
    assert res["rows"][1]["pixel_accuracy"] > res["rows"][0]["pixel_accuracy"]


def test_probe_refuses_models_without_an_unconditional_encoder():
    data = load_dataset("digits")
    with pytest.raises(CapabilityError, match="cannot encode"):
        probe(build_model("made", data.spec), data, sizes=[None])
    with pytest.raises(GenzooError, match="encodes given the label"):
        probe(build_model("cvae", data.spec), data, sizes=[None])


def test_probe_command(tmp_path, capsys):
    run = tmp_path / "vae"
    assert main(["train", "vae", "--steps", "150", "--set", "latent_dim=8", "--run-dir", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["probe", str(run), "--labels", "5,all", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["code_dim"] == 8 and len(res["rows"]) == 2 and res["rows"][1]["code_accuracy"] > 0.5
    assert (run / "probe" / "probe.png").stat().st_size > 1000 and (run / "probe" / "results.md").exists()
    assert main(["probe", str(run), "--labels", "1000"]) == 2
    assert "asked for 1000" in capsys.readouterr().err
    assert main(["probe", str(run), "--C", "0"]) == 2

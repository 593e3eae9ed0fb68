"""``genzoo predict``: rollouts of a frame predictor (and a second one to compare), the
per-step scores, a GIF with one frame per context frame and rollout step, bad requests
as one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from genzoo.cli.main import main
from genzoo.tasks import predict
from tests.helpers import write_clips

TRAIN = ["--data", "video", "--set", "data.frames=6", "--set", "data.size=8", "--set", "channels=4",
         "--set", "depth=2", "--set", "context=3", "--steps", "2", "--batch-size", "4", "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    write_clips(root / "clips", clips=4, frames=9, size=8)
    paths = {}
    for name, w in (("mse", "0"), ("adv", "0.1")):
        paths[name] = root / name
        assert main(["train", "frame_predictor", *TRAIN, "--data-dir", str(root / "clips"),
                     "--set", f"adversarial_weight={w}", "--run-dir", str(paths[name])]) == 0
    return paths


def test_predict_writes_a_gif_and_scores_per_step(runs, tmp_path, capsys):
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["predict", str(runs["adv"]), "--frames", "2", "--compare", str(runs["mse"]), "--out", str(out),
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert list(res["scores"]) == ["truth", "MSE", "adversarial"] and res["frames"] == 2 and res["context"] == 3
    assert json.loads((out / "results.json").read_text()) == res
    for m in ("MSE", "adversarial"):
        assert len(res["scores"][m]) == 2 and all(s["psnr"] > 0 and s["sharpness"] >= 0 for s in res["scores"][m])
    gif = Image.open(out / "rollout.gif")
    assert gif.n_frames == 3 + 2  # the context, then the rollout
    assert Image.open(out / "strip.png").size[0] > 5 * 8
    assert main(["predict", str(runs["mse"]), "--out", str(tmp_path / "one")]) == 0
    assert "MSE PSNR" in capsys.readouterr().out
    assert Image.open(tmp_path / "one" / "rollout.gif").n_frames == 6  # default: the rest of the sequence


def test_scores_agree_with_the_library(runs):
    from genzoo.run import load_data, load_run

    loaded = load_run(runs["mse"])
    x = load_data(loaded.config, download=False).fixed("test").x
    context, truth, preds = predict.rollouts(x, loaded.spec, {"MSE": loaded.model}, 2)
    manual = (loaded.model.rollout(x[:, :3] * 2 - 1, 2) + 1) / 2
    assert torch.allclose(preds["MSE"], manual) and torch.allclose(truth, x[:, 3:5], atol=1e-6)
    mse = float(((manual[:, 1] - truth[:, 1]) ** 2).mean())
    psnr = predict.step_scores(truth, preds)["MSE"][1]["psnr"]
    assert psnr == pytest.approx(10 * torch.log10(torch.tensor(1 / mse)).item(), rel=1e-4)


def test_gradient_sharpness_sees_blur():
    sharp = torch.zeros(1, 1, 8, 8)
    sharp[..., 2:6, 2:6] = 1.0
    blurred = torch.nn.functional.avg_pool2d(sharp, 3, 1, 1)
    assert predict.gradient_sharpness(sharp) > predict.gradient_sharpness(blurred) > 0


@pytest.mark.parametrize("args,expected", [(["--frames", "4"], "at most 3"), (["--count", "0"], "--count")])
def test_bad_requests_are_one_line(runs, args, expected, capsys):
    capsys.readouterr()
    assert main(["predict", str(runs["mse"]), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and expected in err


def test_compare_needs_a_frame_predictor(runs, tmp_path, capsys):
    other = tmp_path / "gan"
    assert main(["train", "gan", "--data", "digits", "--steps", "1", "--batch-size", "8", "--run-dir", str(other),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["predict", str(runs["mse"]), "--compare", str(other)]) == 2
    assert main(["predict", str(other)]) == 2
    assert "cannot predict" in capsys.readouterr().err

"""frame_predictor: shapes of rollouts and samples, seeded determinism, the MSE variant
without a discriminator, and video data refused by every other model."""

from __future__ import annotations

import pytest
import torch

from genzoo.cli.main import main
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.registry import build_model, get_model_class, model_names
from tests.helpers import check_in_spec, random_batch, write_clips

SPEC = DataSpec("tiny-video", "video", (6, 1, 8, 8), "continuous", value_range=(0.0, 1.0))
TINY = {"channels": 4, "depth": 2, "context": 3}


def test_rollout_and_sample_shapes():
    m = build_model("frame_predictor", SPEC, TINY).eval()
    past = torch.rand(5, 3, 1, 8, 8) * 2 - 1
    out = m.rollout(past, 4)
    assert out.shape == (5, 4, 1, 8, 8) and float(out.abs().max()) <= 1.0
    # the first predicted frame depends only on the past frames: a one-step rollout agrees
    assert torch.allclose(m.rollout(past, 1)[:, 0], out[:, 0])
    seq = m.sample(5, condition=past, generator=torch.Generator().manual_seed(0))
    check_in_spec(seq, SPEC, 5)
    assert torch.allclose(seq[:, :3], (past + 1) / 2, atol=1e-6)  # the given past comes first
    with pytest.raises(GenzooError, match="past frames must be"):
        m.rollout(past[:, :2], 2)


def test_training_is_seeded():
    x = random_batch(SPEC, 8)
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        m = build_model("frame_predictor", SPEC, {**TINY, "adversarial_weight": 0.1})
        out = m.loss({"x": x})
        losses.append((out["loss"].item(), out["mse"].item()))
    assert losses[0] == losses[1]
    torch.manual_seed(1)  # other windows, other weights
    assert build_model("frame_predictor", SPEC, {**TINY, "adversarial_weight": 0.1}).loss({"x": x})["loss"].item() \
        != losses[0][0]


def test_mse_variant_has_no_discriminator():
    mse = build_model("frame_predictor", SPEC, TINY)
    assert not hasattr(mse, "discriminator") and [p.name for p in mse.players()] == ["generator"]
    out = mse.loss({"x": random_batch(SPEC, 4)})
    assert set(out) == {"loss", "mse"} and torch.equal(out["loss"], out["mse"])
    adv = build_model("frame_predictor", SPEC, {**TINY, "adversarial_weight": 0.1})
    assert [p.name for p in adv.players()] == ["discriminator", "generator"]
    assert {"adversarial", "mse", "d_real", "d_fake"} <= set(adv.loss({"x": random_batch(SPEC, 4)}))


def test_needs_more_frames_than_its_context():
    with pytest.raises(IncompatibleDataError, match="context"):
        build_model("frame_predictor", SPEC, {"context": 6})


def test_no_other_model_accepts_video():
    assert [n for n in model_names() if get_model_class(n).accepts_spec(SPEC)] == ["frame_predictor"]


@pytest.mark.parametrize("name", ["gmm", "gsn", "vae"])  # gmm and gsn accept any kind of data but video
def test_train_refuses_video_in_one_line(name, tmp_path, capsys):
    write_clips(tmp_path / "clips", clips=2, frames=6)
    rc = main(["train", name, "--data", "video", "--data-dir", str(tmp_path / "clips"), "--set", "data.frames=4",
               "--set", "data.size=8", "--steps", "1", "--run-dir", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and f"model {name!r} cannot model 'video'" in err


def test_video_samples_render_as_rows_of_frames(tmp_path):
    from PIL import Image

    from genzoo.report.render import save_samples

    m = build_model("frame_predictor", SPEC, TINY).eval()
    x = m.sample(3, generator=torch.Generator().manual_seed(0))
    out = save_samples(x, SPEC, tmp_path / "s")
    w, h = Image.open(out).size
    assert out.suffix == ".png" and w > h * 1.5  # 6 frames across, 3 samples down

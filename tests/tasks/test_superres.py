"""``genzoo superres`` and the task behind it: the table agrees with the library call,
the grid and results are written, a user's picture of either size is super-resolved."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.cli.main import main
from genzoo.run import load_run
from genzoo.tasks import superres


@pytest.fixture(scope="module")
def srgan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("sr") / "srgan"
    assert main(["train", "srgan", "--data", "digits", "--steps", "3", "--batch-size", "16", "--set", "channels=4",
                 "--set", "blocks=1", "--set", "d_channels=4", "--run-dir", str(run), "--no-progress"]) == 0
    return run


def test_superres_command_scores_what_the_task_computes(srgan_run, tmp_path, capsys):
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["superres", str(srgan_run), "--mse-run", str(srgan_run), "--count", "12", "--out", str(out),
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["images"] == 12 and list(res["scores"]) == ["bicubic", "MSE", "GAN", "truth"]
    assert json.loads((out / "results.json").read_text()) == res
    assert Image.open(out / "grid.png").size[0] > 5 * 8  # five columns of 8x8 images
    loaded = load_run(srgan_run)
    from genzoo.run import load_data

    test = load_data(loaded.config, download=False).fixed("test").x[:12]
    table = superres.compare(test, loaded.spec, {"GAN": loaded.model})
    assert table["GAN"]["psnr"] == pytest.approx(res["scores"]["GAN"]["psnr"])
    assert main(["superres", str(srgan_run), "--count", "0", "--out", str(out)]) == 2


def test_a_picture_of_either_size(srgan_run, tmp_path, capsys):
    loaded = load_run(srgan_run)
    for size in (2, 8):  # digits are 8x8: low-res pictures are 2x2
        pic = tmp_path / f"p{size}.png"
        Image.fromarray(np.full((size, size), 200, dtype=np.uint8)).save(pic)
        out = tmp_path / f"o{size}"
        assert main(["superres", str(srgan_run), "--image", str(pic), "--out", str(out)]) == 0
        assert (out / "image.png").exists()
    low = torch.full((1, 1, 2, 2), 200 / 127.5 - 1.0)
    sr = loaded.model.superresolve(low, unit=True, stochastic=False)
    assert sr.shape == (1, 1, 8, 8) and sr.dtype == loaded.spec.dtype
    bad = tmp_path / "bad.png"
    Image.fromarray(np.zeros((5, 5), dtype=np.uint8)).save(bad)
    capsys.readouterr()
    assert main(["superres", str(srgan_run), "--image", str(bad)]) == 2
    assert "low-res" in capsys.readouterr().err

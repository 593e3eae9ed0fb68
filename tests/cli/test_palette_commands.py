"""Palette sprites end to end: the palette recipes resolve on the generated sprites, a model
trains on them, and ``genzoo complete --cover bottom-0.5|bottom-0.75`` keeps the visible
rows and draws the covered ones in the palette's colours (not grey index levels)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genzoo.cli.main import main
from genzoo.data.sprites import palette
from genzoo.report.render import to_rgb_uint8
from genzoo.run import load_run
from genzoo.tasks.complete import complete_run

TINY = {"pixel_lstm": ["--set", "hidden=16", "--set", "embed=8"],
        "gated_pixelcnn": ["--set", "channels=8", "--set", "layers=2", "--set", "head=0"]}


@pytest.mark.parametrize("model", list(TINY))
def test_train_and_complete_sprites_in_the_palette(model, tmp_path, capsys):
    run = tmp_path / model
    assert main(["train", "--config", f"recipes/{model}-palette.yaml", "--steps", "2", "--batch-size", "4",
                 "--set", "data.n_train=16", "--set", "data.n_test=4", *TINY[model], "--run-dir", str(run),
                 "--no-progress"]) == 0
    pal = {tuple(int(v) for v in c) for c in palette()}
    for cover in ("bottom-0.5", "bottom-0.75"):
        out = tmp_path / f"{model}-{cover}.png"
        assert main(["complete", str(run), "--cover", cover, "-n", "2", "--count", "2", "--out", str(out)]) == 0
        assert f"cover {cover}" in capsys.readouterr().out
        grid = np.asarray(Image.open(out).convert("RGB"))
        # the grid's cells (covered input | 2 completions | original) are palette colours, apart
        # from the tinted covered part of the first cell and the padding between cells
        colours = {tuple(int(v) for v in px) for px in grid.reshape(-1, 3)}
        in_palette = colours & pal
        assert len(in_palette) >= 3 and any(len(set(c)) > 1 for c in in_palette)  # real colours, not greys

    # the completions themselves: visible rows kept, every pixel rendered as a palette colour
    loaded = load_run(run)
    res = complete_run(loaded, cover="bottom-0.75", samples=2, count=2)
    assert res.completions.shape == (2, 2, 1, 20, 20)
    assert (res.completions[:, :, :, :5] == res.x[:, None, :, :5]).all()  # the top 5 of 20 rows stay
    rgb = to_rgb_uint8(res.completions.flatten(0, 1), loaded.spec)
    assert np.array_equal(rgb, palette()[res.completions.flatten(0, 1)[:, 0].numpy()])

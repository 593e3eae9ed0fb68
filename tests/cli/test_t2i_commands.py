"""Text to image from the command line: train t2i_gan on captioned digits, sample with
--text, measure with genzoo prompts; bad prompts, runs without text and bad caption
folders exit 2 with one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from genzoo.cli.main import main

TINY = ["--set", "channels=4", "--set", "latent_dim=8", "--set", "word_dim=8", "--set", "text_dim=8"]


@pytest.fixture(scope="module")
def t2i_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs") / "t2i"
    assert main(["train", "t2i_gan", "--data", "digits", "--set", "data.captions=true", *TINY, "--steps", "5",
                 "--batch-size", "16", "--run-dir", str(d), "--no-progress"]) == 0
    return d


def test_sample_with_text(t2i_run, tmp_path, capsys):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["sample", str(t2i_run), "-n", "4", "--text", "a thick 3", "--out", str(a)]) == 0
    assert main(["sample", str(t2i_run), "-n", "4", "--text", "A thick three, leaning left.", "--out", str(b)]) == 0
    assert "wrote 4 samples" in capsys.readouterr().out
    assert Image.open(a).size == Image.open(b).size


@pytest.mark.parametrize("args,match", [(["--text", "a purple 3"], "purple"), (["--text", "..."], "empty caption"),
                                        (["--text", "a 3", "--label", "3"], "not both"),
                                        (["--label", "3"], "not class-conditional")])
def test_bad_prompts_exit_2(t2i_run, args, match, capsys):
    assert main(["sample", str(t2i_run), "-n", "2", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1


def test_text_needs_a_text_run(tmp_path, capsys):
    run = tmp_path / "cgan"
    assert main(["train", "cgan", "--data", "digits", "--set", "channels=4", "--steps", "2", "--batch-size", "16",
                 "--run-dir", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "--text", "a 3"]) == 2
    assert "not conditioned on text" in capsys.readouterr().err
    assert main(["prompts", str(run), "--samples", "2"]) == 2
    assert "text-to-image run" in capsys.readouterr().err


def test_prompts_command(t2i_run, tmp_path, capsys):
    out = tmp_path / "p.png"
    assert main(["prompts", str(t2i_run), "--samples", "3", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "a thick 3" in said and "digit accuracy over 40 prompts x 3 samples" in said
    res = json.loads(out.with_suffix(".json").read_text())
    assert len(res["prompts"]) == 40 and {r["kind"] for r in res["prompts"]} == {"thick", "thin", "left", "right"}
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in res["prompts"])
    s = res["summary"]
    assert s["thickness"]["digits"] == 10 and s["test_data"]["thickness_gap"] > 0 and s["test_data"]["slant_gap"] > 0
    assert Image.open(out).size[1] > 0


def test_caption_folder_without_txt_exits_2(tmp_path, capsys):
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / f"im{i}.png")
        if i:
            (tmp_path / f"im{i}.txt").write_text("a grey square")
    assert main(["train", "t2i_gan", "--data", "images", "--data-dir", str(tmp_path), "--set", "data.size=8",
                 "--set", "data.captions=true", "--steps", "1", "--run-dir", str(tmp_path / "r"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "im0.png has no caption file" in err and len(err.splitlines()) == 1

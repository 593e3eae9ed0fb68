"""Primers and sequence completion from the command line: `sample --primer`, `complete` on text."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genzoo.cli.main import main


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    corpus = root / "corpus.txt"
    corpus.write_text("the cat sat on the mat. " * 200)
    run = root / "lstm"
    assert main(["train", "lstm", "--data", "text", "--data-dir", str(corpus), "--set", "data.block_size=24",
                 "--set", "hidden=48", "--set", "layers=1", "--steps", "150", "--set", "train.lr=0.01",
                 "--run-dir", str(run), "--no-progress"]) == 0
    return run


@pytest.fixture(scope="module")
def made_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs") / "made"
    assert main(["train", "made", "--steps", "30", "--set", "hidden=32,32", "--run-dir", str(d), "--no-progress"]) == 0
    return d


def test_complete_continues_test_sequences(text_run, tmp_path, capsys):
    out = tmp_path / "comp"
    assert main(["complete", str(text_run), "-n", "2", "--count", "3", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "cover end-0.5" in said and "covered positions equal to the original" in said
    text = (tmp_path / "comp.txt").read_text()
    assert text.count("== example") == 3 and text.count("-- completion") == 6
    blocks = text.split("== example")[1:]
    for b in blocks:  # every completion keeps the visible first half
        lines = b.splitlines()
        visible = lines[2]
        keep = visible[: visible.index("\u00b7")]
        for i, line in enumerate(lines):
            if line.startswith("-- completion"):
                assert lines[i + 1].startswith(keep)
    assert main(["complete", str(text_run), "--cover", "bottom-0.5"]) == 2
    assert "for sequences" in capsys.readouterr().err


def test_sample_with_a_text_primer(text_run, tmp_path, capsys):
    primer = tmp_path / "p.txt"
    primer.write_text("the cat ")
    assert main(["sample", str(text_run), "--primer", str(primer), "--length", "12", "--temperature", "0",
                 "-n", "1"]) == 0
    assert (text_run / "samples" / "generate-seed0.txt").read_text().startswith("the cat ")
    capsys.readouterr()
    primer.write_text("QQQ")
    assert main(["sample", str(text_run), "--primer", str(primer)]) == 2
    assert "'Q'" in capsys.readouterr().err
    assert main(["sample", str(text_run), "--primer", str(tmp_path / "none.txt")]) == 2
    assert main(["sample", str(text_run), "--primer", str(primer), "--prompt", "the"]) == 2


def test_image_primer_keeps_its_rows(made_run, tmp_path, capsys):
    partial = tmp_path / "top.png"
    a = np.zeros((3, 8), dtype=np.uint8)
    a[:, 2:6] = 255
    Image.fromarray(a).save(partial)
    out = tmp_path / "primed.png"
    assert main(["sample", str(made_run), "--primer", str(partial), "-n", "4", "--out", str(out)]) == 0
    assert Image.open(out).size[0] > Image.open(out).size[1]  # primer + 4 completions in a row
    capsys.readouterr()
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((8, 10), dtype=np.uint8)).save(wide)
    assert main(["sample", str(made_run), "--primer", str(wide)]) == 2
    assert "needs width 8" in capsys.readouterr().err


def test_image_primer_values_are_observed(made_run):
    import torch

    from genzoo.run import load_run
    from genzoo.tasks.complete import complete_images
    from genzoo.tasks.primer import read_image_primer

    loaded = load_run(made_run)
    full = np.tile(np.arange(8, dtype=np.uint8)[:, None] * 36, (1, 8))  # rows of rising grey
    path = made_run.parent / "full.png"
    Image.fromarray(full).save(path)
    x, observed = read_image_primer(path, loaded.spec)
    assert observed[:, :4].all() and not observed[:, 4:].any()  # a full picture keeps its top half
    comps = complete_images(loaded.model, x[None], observed, samples=3, seed=0)[0]
    assert torch.equal(comps[:, observed], x[observed].expand(3, -1))


def test_eval_with_a_mask_ensemble(tmp_path, capsys):
    import json

    d = tmp_path / "made"
    assert main(["train", "made", "--steps", "20", "--set", "hidden=32", "--set", "order_agnostic=true",
                 "--set", "num_masks=4", "--run-dir", str(d), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(d), "--ensemble", "4", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert "4" in res["note"] and res["kind"] == "exact"
    assert main(["eval", str(d), "--ensemble", "9"]) == 2
    assert "4 masks" in capsys.readouterr().err

"""Every registered model trains through the command line, saves, reloads, samples and
is evaluated (or says it has no likelihood)."""

from __future__ import annotations

import json

import pytest

from genzoo.cli.main import main
from genzoo.models.registry import get_model_class, model_names

# The built-in digits suit every model but these, which need another form of the data.
DATA = {"rbm": ["--set", "data.binarize=threshold"], "dbm": ["--set", "data.binarize=threshold"], "pix2pix": ["--data", "pairs"],
        "cyclegan": ["--data", "pairs", "--set", "data.paired=false"], "t2i_gan": ["--set", "data.captions=true"],
        "simgan": ["--data", "pairs", "--set", "data.paired=false"]}


@pytest.mark.parametrize("name", model_names())
def test_train_sample_eval(name, tmp_path, capsys):
    run = tmp_path / name
    if name == "lda":
        from genzoo.data.documents import synthetic_topics

        synthetic_topics(topics=3, vocab=30, docs=60, doc_length=30, folder=tmp_path / "docs")
        data = ["--data", "documents", "--data-dir", str(tmp_path / "docs"), "--set", "data.min_df=1"]
    elif get_model_class(name).accepts == (("sequence", "categorical"),):
        (tmp_path / "corpus.txt").write_text("a small corpus of characters to model. " * 40)
        data = ["--data", "text", "--data-dir", str(tmp_path / "corpus.txt"), "--set", "data.block_size=16"]
    elif get_model_class(name).accepts == (("video", "continuous"),):  # next-frame prediction: clips
        from tests.helpers import write_clips

        write_clips(tmp_path / "clips", clips=3, frames=8)
        data = ["--data", "video", "--data-dir", str(tmp_path / "clips"), "--set", "data.frames=6",
                "--set", "data.size=8"]
    elif name in DATA and DATA[name][0] == "--data":
        data = DATA[name]
    else:
        data = ["--data", "digits", *DATA.get(name, [])]
    assert main(["train", name, *data, "--steps", "3", "--batch-size", "16", "--run-dir", str(run),
                 "--no-progress"]) == 0
    assert main(["sample", str(run), "-n", "4"]) == 0
    capsys.readouterr()
    if get_model_class(name).likelihood is None:
        assert main(["eval", str(run), "--json", "--metrics", "nll"]) == 2
        assert "no likelihood" in capsys.readouterr().err
        # an implicit model is judged by its samples instead (of images: video is scored by `genzoo predict`)
        if get_model_class(name).accepts[0][0] == "video":
            assert main(["eval", str(run), "--json", "--metrics", "fid", "--samples", "50"]) == 2
            assert "sample-quality metrics are for images" in capsys.readouterr().err
            assert main(["predict", str(run), "--out", str(tmp_path / "predict")]) == 0
            return
        assert main(["eval", str(run), "--json", "--metrics", "fid,prdc", "--samples", "50"]) == 0
        res = json.loads(capsys.readouterr().out)
        assert res["fid"]["value"] >= 0 and res["fid"]["samples"] == 50 and "features" in res["fid"]
    else:
        rc = main(["eval", str(run), "--json"])
        assert rc == 0
        res = json.loads(capsys.readouterr().out)
        assert res["kind"] in ("exact", "bound", "estimate") and res["note"]

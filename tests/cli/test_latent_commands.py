"""complete, interpolate, manifold and sample --gif from the command line."""

from __future__ import annotations

import pytest
from PIL import Image

from genzoo.cli.main import main


@pytest.fixture(scope="module")
def made_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs") / "made"
    assert main(["train", "made", "--steps", "40", "--set", "hidden=32,32", "--run-dir", str(d), "--no-progress"]) == 0
    return d


@pytest.fixture(scope="module")
def vae2d_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs") / "vae"
    assert main(["train", "vae", "--steps", "40", "--set", "latent_dim=2", "--set", "arch=mlp", "--set", "hidden=32",
                 "--run-dir", str(d), "--no-progress"]) == 0
    return d


@pytest.mark.parametrize("cover", ["bottom-0.5", "right-0.5", "bottom-0.75"])
def test_complete(made_run, tmp_path, capsys, cover):
    out = tmp_path / "c.png"
    assert main(["complete", str(made_run), "--cover", cover, "-n", "3", "--count", "4", "--out", str(out)]) == 0
    assert "covered pixels equal to the original" in capsys.readouterr().out
    w, h = Image.open(out).size
    assert w > h  # 5 columns (input, 3 completions, original) x 4 rows


def test_complete_with_a_mask_file(made_run, tmp_path):
    mask = tmp_path / "mask.png"
    img = Image.new("L", (8, 8), 0)
    img.paste(255, (2, 2, 6, 6))
    img.save(mask)
    assert main(["complete", str(made_run), "--cover", str(mask), "-n", "2", "--count", "2",
                 "--out", str(tmp_path / "c.png")]) == 0


def test_complete_needs_the_capability(tmp_path, capsys):
    d = tmp_path / "sr"
    assert main(["train", "srgan", "--steps", "2", "--set", "channels=8", "--set", "blocks=1", "--run-dir", str(d),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["complete", str(d)]) == 2
    assert "cannot complete" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [[], ["--mode", "linear"], ["--random"], ["--arithmetic"]])
def test_interpolate(vae2d_run, tmp_path, extra):
    out = tmp_path / "i.png"
    assert main(["interpolate", str(vae2d_run), "--steps", "5", "--pairs", "3", "--out", str(out), *extra]) == 0
    assert out.exists()


def test_interpolate_needs_a_decoder(made_run, capsys):
    assert main(["interpolate", str(made_run)]) == 2
    assert "cannot decode" in capsys.readouterr().err


def test_manifold(vae2d_run, tmp_path):
    assert main(["manifold", str(vae2d_run), "--size", "6", "--out-dir", str(tmp_path)]) == 0
    assert Image.open(tmp_path / "manifold-grid.png").size[0] >= 6 * 8
    assert (tmp_path / "manifold-codes.png").exists()


def test_gif_needs_a_chain_model(made_run, capsys):
    assert main(["sample", str(made_run), "--gif", "x.gif"]) == 2
    assert "cannot chain" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["rbm", "gsn", "dbm"])
def test_chain_gif(tmp_path, capsys, model):
    d = tmp_path / model
    assert main(["train", model, "--steps", "5", "--set", "data.binarize=threshold", "--run-dir", str(d),
                 "--no-progress"]) == 0
    gif = tmp_path / "chain.gif"
    assert main(["sample", str(d), "--gif", str(gif), "-n", "4", "--chain-steps", "10", "--frames", "5"]) == 0
    im = Image.open(gif)
    assert im.n_frames >= 5
    assert "chain" in capsys.readouterr().out


def test_rbm_eval_states_the_ais_settings(tmp_path, capsys):
    d = tmp_path / "rbm"
    assert main(["train", "rbm", "--steps", "5", "--set", "data.binarize=threshold", "--set", "hidden=30",
                 "--set", "ais_chains=20", "--set", "ais_betas=200", "--run-dir", str(d), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(d), "--json"]) == 0
    import json

    res = json.loads(capsys.readouterr().out)
    assert res["kind"] == "estimate" and "20 chains" in res["note"] and "200 temperatures" in res["note"]


def test_dbm_eval_states_the_bound_and_the_ais_settings(tmp_path, capsys):
    d = tmp_path / "dbm"
    assert main(["train", "dbm", "--steps", "6", "--set", "data.binarize=threshold", "--set", "hidden1=30",
                 "--set", "pretrain_steps=3", "--set", "ais_chains=20", "--set", "ais_betas=200",
                 "--run-dir", str(d), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(d), "--json"]) == 0
    import json

    res = json.loads(capsys.readouterr().out)
    assert res["kind"] == "estimate" and "mean-field lower bound" in res["note"]
    assert "20 chains" in res["note"] and "200 temperatures" in res["note"]


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs") / "cvae"
    assert main(["train", "cvae", "--steps", "20", "--set", "latent_dim=2", "--set", "arch=mlp", "--set", "hidden=32",
                 "--run-dir", str(d), "--no-progress"]) == 0
    return d


@pytest.mark.parametrize("extra", [[], ["--random"], ["--arithmetic"]])
def test_interpolate_conditional(cvae_run, tmp_path, extra):
    out = tmp_path / "i.png"
    assert main(["interpolate", str(cvae_run), "--steps", "4", "--pairs", "2", "--out", str(out), *extra]) == 0


def test_manifold_conditional(cvae_run, tmp_path):
    assert main(["manifold", str(cvae_run), "--size", "4", "--label", "3", "--out-dir", str(tmp_path)]) == 0
    assert main(["manifold", str(cvae_run), "--label", "12"]) == 2


@pytest.mark.parametrize("model,extra", [("vae", []), ("ae", []), ("glow", []), ("realnvp", []),
                                         ("rbm", ["--set", "data.binarize=threshold"]),
                                         ("gsn", ["--set", "data.binarize=threshold"]),
                                         ("dcgan", ["--set", "channels=8"]), ("cgan", ["--set", "channels=8"]),
                                         ("gan", ["--set", "g_hidden=32", "--set", "d_hidden=32"]),
                                         ("aae", [])])
def test_complete_every_family(model, extra, tmp_path, capsys):
    d = tmp_path / model
    assert main(["train", model, "--steps", "3", *extra, "--run-dir", str(d), "--no-progress"]) == 0
    out = tmp_path / "c.png"
    assert main(["complete", str(d), "--cover", "right-0.5", "-n", "2", "--count", "2", "--steps", "3",
                 "--out", str(out)]) == 0
    assert out.exists()

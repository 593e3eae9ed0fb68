"""interpolate on GANs (codes by inversion, class swaps, attribute vectors), and bigan's
encoder through interpolate, probe and eval --metrics recon, from the command line."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from genzoo.cli.main import main


def _train(tmp_path_factory, model, *extra):
    d = tmp_path_factory.mktemp("runs") / model
    assert main(["train", model, "--steps", "20", "--set", "channels=8", "--set", "latent_dim=8", *extra,
                 "--run-dir", str(d), "--no-progress"]) == 0
    return d


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory):
    return _train(tmp_path_factory, "dcgan")


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    return _train(tmp_path_factory, "cgan")


@pytest.fixture(scope="module")
def bigan_run(tmp_path_factory):
    return _train(tmp_path_factory, "bigan", "--set", "d_hidden=32")


@pytest.mark.parametrize("extra,columns", [([], 5 + 2), (["--mode", "linear"], 5 + 2), (["--random"], 5),
                                          (["--arithmetic"], 1 + 10)])
@pytest.mark.parametrize("run", ["dcgan_run", "cgan_run", "bigan_run"])
def test_interpolate_gans(run, extra, columns, request, tmp_path, capsys):
    d = request.getfixturevalue(run)
    out = tmp_path / "i.png"
    assert main(["interpolate", str(d), "--steps", "5", "--pairs", "2", "--invert-steps", "3", "--out", str(out),
                 *extra]) == 0
    w, h = Image.open(out).size
    assert w / h == pytest.approx(columns / 2, rel=0.1)  # columns x 2 rows of square images
    said = capsys.readouterr().out
    if "bigan" not in run and "--random" not in extra:
        assert "GAN inversion" in said
    if run == "cgan_run" and "--arithmetic" in extra:
        assert "label swapped" in said


@pytest.mark.parametrize("run", ["dcgan_run", "cgan_run"])
def test_interpolate_attribute_writes_the_grid_and_the_measurements(run, request, tmp_path, capsys):
    out = tmp_path / "thick.png"
    assert main(["interpolate", str(request.getfixturevalue(run)), "--attribute", "thickness", "--steps", "4",
                 "--pairs", "3", "--invert-steps", "3", "--out", str(out)]) == 0
    res = json.loads(out.with_suffix(".json").read_text())
    assert res["attribute"] == "thickness" and len(res["along"]) == len(res["scales"]) == len(res["random"])
    assert res["high_value"] > res["low_value"]
    w, h = Image.open(out).size
    assert w / h == pytest.approx((3 + 4) / 3, rel=0.1)  # 3 source images + 4 steps, digits 0..2
    assert "rising at every step" in capsys.readouterr().out


def test_interpolate_refuses_two_kinds_of_walk(dcgan_run, capsys):
    with pytest.raises(SystemExit) as e:
        main(["interpolate", str(dcgan_run), "--random", "--attribute", "slant"])
    assert e.value.code == 2


def test_bigan_probe_and_reconstruction(bigan_run, tmp_path, capsys):
    assert main(["probe", str(bigan_run), "--labels", "2,all", "--out", str(tmp_path)]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["code_dim"] == 8 and res["pixel_dim"] == 64
    capsys.readouterr()
    assert main(["eval", str(bigan_run), "--metrics", "recon", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["recon"]
    assert r["examples"] > 0 and 0 < r["mse"] < 4 and 0 < r["l1"] < 2 and 0 <= r["label_kept"] <= 1


def test_reconstruction_needs_an_encoder(dcgan_run, capsys):
    assert main(["eval", str(dcgan_run), "--metrics", "recon"]) == 2
    assert "cannot encode" in capsys.readouterr().err


def test_the_command_names_every_attribute():
    from genzoo.cli.interpolate_cmd import ATTRIBUTES
    from genzoo.data import attributes

    assert set(ATTRIBUTES) == set(attributes.ATTRIBUTES)

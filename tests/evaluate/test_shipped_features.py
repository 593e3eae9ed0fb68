"""The feature networks shipped in genzoo/evaluate/weights: intact, small, they give their
recorded test accuracy, and evaluation uses them instead of training; datasets of the
user's own still train theirs and cache it."""

from __future__ import annotations

import json

import pytest
import torch

from genzoo.data.dataset import Dataset, Split, genzoo_home, load_dataset
from genzoo.errors import DataFileError
from genzoo.evaluate import features
from genzoo.evaluate.features import SHIPPED, WEIGHTS_DIR, feature_net, load_shipped, sha256_of, shipped_name


def _info(stem: str) -> dict:
    return json.loads((WEIGHTS_DIR / f"{stem}.json").read_text())


def _accuracy(net, split) -> float:
    return float((net.probs(split.x).argmax(1) == split.y).double().mean())


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a feature network was trained where the shipped one fits")

    monkeypatch.setattr(features, "train_feature_net", refuse)


@pytest.mark.parametrize("stem", list(SHIPPED))
def test_shipped_files_are_intact_and_small(stem):
    info = _info(stem)
    weights = WEIGHTS_DIR / f"{stem}.safetensors"
    assert sha256_of(weights) == info["sha256"] and weights.stat().st_size == info["bytes"]
    name, opts = SHIPPED[stem]
    assert info["dataset"] == name and info["options"] == opts and info["version"] == features.VERSION
    assert info["dtype"] == "float16" and info["test_accuracy"] >= info["test_accuracy_float32"] - 1e-3
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.glob("*.safetensors"))
    assert total < 3_000_000, total


def test_digits_network_gives_its_recorded_accuracy(no_training, tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_HOME", str(tmp_path))  # no cache entry an earlier test made
    for opts in ({}, {"scale": "unit"}, {"scale": "symmetric"}):  # one grey network for every scale
        digits = load_dataset("digits", **opts)
        assert shipped_name(digits.spec, dynamic=False) == "digits"
        shipped = feature_net(digits)
        assert shipped.info["source"] == "shipped" and shipped.test_accuracy == _info("digits")["test_accuracy"]
        assert _accuracy(shipped.net, digits.test) == _info("digits")["test_accuracy"]
    assert not list((genzoo_home() / "features").glob("digits-*-e10-s2000.*"))  # nothing trained or cached


@pytest.mark.parametrize("stem", ["mnist", "mnist-dynamic"])
def test_mnist_networks_give_their_recorded_accuracy(shared_data, stem):
    # measured: about 2 s per network over the 10,000 test images on 2 busy cores
    info = _info(stem)
    data = load_dataset("mnist", root=shared_data / "mnist", **SHIPPED[stem][1])
    assert len(data.test) == 10000 and shipped_name(data.spec, dynamic=data.transform is not None) == stem
    acc = _accuracy(load_shipped(stem, data.spec).net, data.fixed("test"))
    assert acc == pytest.approx(info["test_accuracy"], abs=2e-4), (acc, info["test_accuracy"])
    assert acc >= 0.98


def test_other_variants_and_datasets_are_not_served_shipped_networks():
    digits = load_dataset("digits")
    assert shipped_name(load_dataset("digits", binarize="threshold").spec, dynamic=False) is None
    assert shipped_name(digits.spec.with_(name="my_digits"), dynamic=False) is None
    assert shipped_name(digits.spec.with_(num_values=5), dynamic=False) is None


def test_a_dataset_of_the_users_own_trains_once_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_HOME", str(tmp_path))  # the short networks below must not be cached for others
    digits = load_dataset("digits")
    mine = Dataset(digits.spec.with_(name="my_digits"), Split(digits.train.x[:200], digits.train.y[:200]),
                   digits.test)
    real, calls = features.train_feature_net, []

    def short(data, **kw):  # the default recipe, cut short for the test
        calls.append(kw)
        return real(data, epochs=1, min_steps=5)

    monkeypatch.setattr(features, "train_feature_net", short)
    first = feature_net(mine)
    assert first.info["source"] == "trained" and len(calls) == 1
    again = feature_net(mine)
    assert again.info["source"] == "cache" and len(calls) == 1
    assert torch.equal(again.net.features(digits.test.x), first.net.features(digits.test.x))
    # GENZOO_FEATURES=train: the built-in digits train their own network too
    monkeypatch.setenv("GENZOO_FEATURES", "train")
    assert feature_net(digits).info["source"] == "trained" and len(calls) == 2
    monkeypatch.setenv("GENZOO_FEATURES", "bogus")
    with pytest.raises(features.GenzooError, match="GENZOO_FEATURES"):
        feature_net(load_dataset("digits", scale="unit"))


def test_a_damaged_shipped_file_is_refused(tmp_path, monkeypatch):
    for f in WEIGHTS_DIR.glob("digits.*"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    monkeypatch.setattr(features, "WEIGHTS_DIR", tmp_path)
    w = tmp_path / "digits.safetensors"
    w.write_bytes(w.read_bytes()[:-8] + b"damaged!")
    with pytest.raises(DataFileError, match="sha256"):
        load_shipped("digits", load_dataset("digits").spec)


def test_eval_on_digits_uses_the_shipped_network(tmp_path, capsys, no_training):
    from genzoo.cli.main import main

    run = tmp_path / "made"
    assert main(["train", "made", "--steps", "20", "--set", "hidden=16", "--run-dir", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "fid", "--samples", "50", "--json"]) == 0
    fid = json.loads(capsys.readouterr().out)["fid"]
    assert fid["feature_net"]["source"] == "shipped" and "shipped network" in fid["features"]
    assert fid["feature_net"]["test_accuracy"] == _info("digits")["test_accuracy"]
    assert main(["eval", str(run), "--metrics", "fid", "--samples", "50"]) == 0
    assert "shipped network" in capsys.readouterr().out

"""Tiny runs for the playground's tests, trained once per session (a few dozen steps each):
made and a 2-D-latent vae on digits, a character LSTM on a small text, a GAN on the ring,
a melody LSTM on six short ABC tunes."""

from __future__ import annotations

import pytest

from genzoo.cli.main import main


def _train(args: list[str]) -> None:
    assert main(["train", *args, "--no-progress"]) == 0


@pytest.fixture(scope="session")
def serve_runs(tmp_path_factory) -> dict:
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: thread hand-offs cost more than they save
    root = tmp_path_factory.mktemp("serve_runs")
    corpus = root / "corpus.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log. " * 60)
    tunes = root / "tunes"
    tunes.mkdir()
    for k, key in enumerate(["C", "G", "D", "F", "A", "E"]):
        (tunes / f"t{k}.abc").write_text(f"X:1\nT:t{k}\nM:4/4\nL:1/4\nK:{key}\nC D E F | G2 z F/2 E/2 | D C2 z | E G c2 |\n")
    try:
        _train(["made", "--steps", "30", "--set", "hidden=32,32", "--run-dir", str(root / "made")])
        _train(["vae", "--steps", "30", "--set", "latent_dim=2", "--set", "arch=mlp", "--set", "hidden=32",
                "--run-dir", str(root / "vae")])
        _train(["lstm", "--data", "text", "--data-dir", str(corpus), "--set", "data.block_size=24",
                "--set", "hidden=32", "--set", "layers=1", "--steps", "60", "--set", "train.lr=0.01",
                "--run-dir", str(root / "lstm")])
        _train(["gan", "--data", "toy2d", "--set", "g_hidden=32,32", "--set", "d_hidden=32,32",
                "--steps", "30", "--run-dir", str(root / "gan")])
        _train(["lstm", "--data", "music", "--data-dir", str(tunes), "--set", "data.block_size=16",
                "--set", "data.test_fraction=0.34", "--set", "hidden=32", "--set", "layers=1", "--steps", "40",
                "--set", "train.lr=0.01", "--run-dir", str(root / "music")])
    finally:
        torch.set_num_threads(n)
    return {"root": root, "paths": [root / k for k in ("made", "vae", "lstm", "gan", "music")]}


@pytest.fixture(scope="session")
def app(serve_runs):
    from genzoo.serve.app import build_app
    from genzoo.serve.runs import RunTable

    return build_app(RunTable(serve_runs["paths"]))


@pytest.fixture(scope="module")
def client(app):
    import warnings

    with warnings.catch_warnings():  # newer Starlette prefers httpx2 but works with httpx
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c

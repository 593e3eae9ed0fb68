"""Every registered model, served: each page its run says it supports answers 200 (slow:
trains every model for 3 steps)."""

from __future__ import annotations

import pytest

from genzoo.cli.main import main
from genzoo.models.registry import get_model_class, model_names

DATA = {"rbm": ["--set", "data.binarize=threshold"], "pix2pix": ["--data", "pairs"],
        "cyclegan": ["--data", "pairs", "--set", "data.paired=false"]}


@pytest.fixture(scope="module")
def every_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("every")
    (root / "corpus.txt").write_text("a small corpus of characters to model. " * 40)
    paths = []
    for name in model_names():
        if name == "lda" or get_model_class(name).accepts[0][0] == "video":
            continue  # bags of words and videos: no page shows them
        if get_model_class(name).accepts == (("sequence", "categorical"),):
            data = ["--data", "text", "--data-dir", str(root / "corpus.txt"), "--set", "data.block_size=16"]
        elif name in DATA and DATA[name][0] == "--data":
            data = DATA[name]
        else:
            data = ["--data", "digits", *DATA.get(name, [])]
        assert main(["train", name, *data, "--steps", "3", "--batch-size", "16", "--run-dir", str(root / name),
                     "--no-progress"]) == 0
        paths.append(root / name)
    return paths


@pytest.mark.slow
def test_every_view_of_every_model_answers(every_run):
    import warnings

    from genzoo.serve.app import build_app
    from genzoo.serve.runs import RunTable

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    failures = []
    with TestClient(build_app(RunTable(every_run)), base_url="http://127.0.0.1") as c:
        for r in c.get("/api/runs").json()["runs"]:
            i, views, shape = r["index"], r["views"], r["shape"]
            calls = []
            if "sample" in views:
                calls.append(("sample", {"n": 4, "length": 8}))
            if "complete" in views:
                h, w = shape[-2:]
                calls.append(("complete", {"k": 1, "mask": ["0" * w] * (h - h // 2) + ["1" * w] * (h // 2)}))
            if "latent" in views:
                calls.append(("interpolate", {"steps": 3}))
                if r["latent_dim"]:
                    calls.append(("decode", {"z": [[0.0] * r["latent_dim"]]}))
            if "text" in views:
                calls.append(("generate", {"prompt": "a ", "length": 8}))
            for what, body in calls:
                resp = c.post(f"/api/runs/{i}/{what}", json={**body, "wait": True})
                if resp.status_code != 200:
                    failures.append(f"{r['name']} {what}: {resp.status_code} {resp.json().get('error')}")
            if "latent_map" in views and c.get(f"/api/runs/{i}/latent-map").status_code != 200:
                failures.append(f"{r['name']} latent-map")
    assert not failures, "\n".join(failures)

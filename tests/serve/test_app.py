"""The playground's JSON API over tiny runs (Starlette's TestClient, no browser): what each
endpoint returns, checked against the library, and how bad input, path traversal and a
failing model are answered."""

from __future__ import annotations

import base64
import io
import json
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.tasks.dynamics import bilinear_game

MADE, VAE, LSTM, GAN, MUSIC = range(5)


def post(client, path, **body):
    return client.post(path, json={"wait": True, **body})


def png_pixels(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def data_url(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_runs_lists_every_run_with_what_it_can_do(client):
    runs = client.get("/api/runs").json()["runs"]
    assert [r["name"] for r in runs] == ["made", "vae", "lstm", "gan", "music"]
    views = {r["name"]: set(r["views"]) for r in runs}
    assert views["made"] == {"sample", "complete"}
    assert views["vae"] >= {"sample", "complete", "latent", "latent_map"}
    assert views["lstm"] == {"sample", "text"} and views["music"] == {"sample", "music"}
    assert runs[MADE]["likelihood"] == "exact" and runs[GAN]["likelihood"] == "none"
    assert "model/loss" in runs[MADE]["summary"]
    assert client.get("/api/runs/vae").json()["index"] == VAE
    curves = client.get("/api/runs/made/metrics").json()["curves"]
    assert curves["model/loss"][-1][0] == 30  # (step, value) pairs up to the last step


def test_sample_images_is_seeded(client):
    a = post(client, f"/api/runs/{MADE}/sample", n=9, seed=3).json()
    b = post(client, f"/api/runs/{MADE}/sample", n=9, seed=3).json()
    c = post(client, f"/api/runs/{MADE}/sample", n=9, seed=4).json()
    assert a["status"] == "done" and a["result"]["kind"] == "image"
    pa, pc = png_pixels(a["result"]["grid"]), png_pixels(c["result"]["grid"])
    assert np.array_equal(pa, png_pixels(b["result"]["grid"])) and not np.array_equal(pa, pc)
    assert pa.shape[0] >= 3 * 8 and pa.shape[1] >= 3 * 8


def test_sampler_settings_reach_a_model_that_takes_them(client, app, monkeypatch):
    run = app.state.table.runs[MADE]
    assert client.get("/api/runs/made").json()["sample_options"] == []
    seen = []
    real = run.model.sample

    def sample(n, *, condition=None, generator=None, steps=100, sampler="ddpm"):  # a diffusion model's signature
        seen.append((steps, sampler))
        return real(n, generator=generator)

    monkeypatch.setattr(run.model, "sample", sample)
    assert client.get("/api/runs/made").json()["sample_options"] == ["steps", "sampler"]
    assert post(client, f"/api/runs/{MADE}/sample", n=2, steps=7, sampler="ddim").status_code == 200
    assert seen and set(seen) == {(7, "ddim")}  # every chunk of the sample
    assert post(client, f"/api/runs/{MADE}/sample", n=2, steps=0).status_code == 400


def test_sample_points_and_text(client):
    r = post(client, f"/api/runs/{GAN}/sample", n=50).json()["result"]
    assert r["kind"] == "points" and np.array(r["points"]).shape == (50, 2) and len(r["reference"]) == 500
    t = post(client, f"/api/runs/{LSTM}/sample", n=2, length=30, temperature=0.5).json()["result"]
    assert t["kind"] == "text" and [len(s) for s in t["texts"]] == [30, 30]


def test_complete_keeps_the_visible_pixels(client, app):
    mask = ["00000000"] * 4 + ["11111111"] * 4  # bottom half covered
    r = post(client, f"/api/runs/{MADE}/complete", example=5, k=3, seed=1, mask=mask).json()
    assert r["status"] == "done", r
    res = r["result"]
    x = app.state.table.runs[MADE].test_data().x[5]
    assert res["original"]["values"] == x.tolist()
    assert len(res["completions"]) == 3
    for comp in res["completions"]:
        v = torch.tensor(comp["values"])
        assert torch.equal(v[:, :4], x[:, :4])  # visible rows unchanged
        assert png_pixels(comp["png"]).shape == (8, 8, 3)
    assert res["observed"][0] == [1] * 8 and res["observed"][7] == [0] * 8


def test_complete_an_uploaded_image(client):
    img = Image.new("L", (16, 16), 0)
    img.paste(255, (4, 4, 12, 12))
    mask = [[0] * 8] * 6 + [[1] * 8] * 2
    r = post(client, f"/api/runs/{MADE}/complete", image=data_url(img), k=1, mask=mask).json()
    orig = np.array(r["result"]["original"]["values"])[0]  # digits levels 0..16
    assert orig[4, 4] == 16 and orig[0, 0] == 0
    assert np.array_equal(np.array(r["result"]["completions"][0]["values"])[0][:6], orig[:6])


def test_latent_walk_map_and_decode(client):
    r = post(client, f"/api/runs/{VAE}/interpolate", a=0, b=7, steps=5, mode="linear").json()["result"]
    assert len(r["frames"]) == 5 and len(r["ends"]) == 2
    codes = np.array(r["codes"])
    assert np.allclose(codes[2], (codes[0] + codes[4]) / 2, atol=1e-5)  # linear path
    m = client.get(f"/api/runs/{VAE}/latent-map").json()["result"]
    assert np.array(m["codes"]).shape[1] == 2 and len(m["labels"]) == len(m["codes"])
    d = post(client, f"/api/runs/{VAE}/decode", z=[[0.0, 0.0], [2.0, -1.0]]).json()["result"]
    assert len(d["images"]) == 2


def test_text_streams_in_chunks(client):
    job = client.post(f"/api/runs/{LSTM}/generate", json={"prompt": "the ", "length": 80, "seed": 2}).json()
    assert job["status"] in ("queued", "running", "done")
    lengths, final = [], None
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as s:
        for line in s.iter_lines():
            if line.startswith("data:"):
                snap = json.loads(line[5:])
                if snap["partial"].get("texts"):
                    lengths.append(len(snap["partial"]["texts"][0]))
                final = snap
    assert final["status"] == "done" and final["result"]["prompt"] == "the "
    assert len(final["result"]["texts"][0]) == 80
    assert lengths == sorted(lengths) and lengths[-1] == 80 and len(set(lengths)) > 1 or lengths == [80]
    again = client.post(f"/api/runs/{LSTM}/generate", json={"prompt": "the ", "length": 80, "seed": 2, "wait": True})
    assert again.json()["result"]["texts"] == final["result"]["texts"]  # seeded


def test_music_primer_continues_and_returns_midi(client, app):
    from music21 import note, stream

    part = stream.Part([note.Note(p, quarterLength=1) for p in (60, 62, 64, 65)])
    buf = io.BytesIO()
    f = app.state.table.runs[MUSIC].loaded.path / "primer-test.mid"
    stream.Score([part]).write("midi", fp=f)
    buf.write(f.read_bytes())
    primer = "data:audio/midi;base64," + base64.b64encode(buf.getvalue()).decode()
    r = post(client, f"/api/runs/{MUSIC}/generate", primer=primer, filename="a.mid", length=12).json()
    assert r["status"] == "done", r
    mel = r["result"]["melodies"][0]
    assert r["result"]["primer_length"] == 8 and mel["tokens"][:2] == ["p60", "d1"] and len(mel["tokens"]) == 20
    assert base64.b64decode(mel["midi"].split(",", 1)[1])[:4] == b"MThd"
    bad = post(client, f"/api/runs/{MUSIC}/generate", primer=primer, filename="../../a.exe")
    assert bad.status_code == 400 and "primer file type" in bad.json()["error"]


def test_dynamics_matches_the_library(client):
    r = client.get("/api/dynamics?steps=100&eta=0.1").json()
    for m, t in r["trajectories"].items():
        ref = bilinear_game(m, steps=100, eta=0.1)
        assert np.allclose(np.array(t), ref.numpy(), atol=1e-4)
    assert np.hypot(*r["trajectories"]["simultaneous"][-1]) > np.hypot(2, 2) > np.hypot(*r["trajectories"]["extragradient"][-1])


def test_ganlab_reports_and_cancels(client):
    r = post(client, "/api/ganlab", steps=40, every=20).json()
    assert r["status"] == "done", r
    h = r["result"]["history"]
    assert [s["step"] for s in h] == [20, 40]
    assert all(0 <= s["d_real"] <= 1 and 0 <= s["d_fake"] <= 1 and s["generator_grad_norm"] > 0 for s in h)
    job = client.post("/api/ganlab", json={"steps": 3000, "every": 10}).json()
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    for _ in range(200):
        s = client.get(f"/api/jobs/{job['id']}").json()
        if s["status"] in ("cancelled", "done"):
            break
        threading.Event().wait(0.05)
    assert s["status"] == "cancelled"


def test_one_job_per_model_at_a_time(client, app, monkeypatch):
    run = app.state.table.runs[MADE]
    gate, inside = threading.Event(), []
    real = run.model.sample

    def slow(n, **kw):
        inside.append(n)
        gate.wait(10)
        return real(n, **kw)

    monkeypatch.setattr(run.model, "sample", slow)
    a = client.post(f"/api/runs/{MADE}/sample", json={"n": 1}).json()
    b = client.post(f"/api/runs/{MADE}/sample", json={"n": 1}).json()
    for _ in range(100):
        if inside:
            break
        threading.Event().wait(0.02)
    assert client.get(f"/api/jobs/{a['id']}").json()["status"] == "running"
    assert client.get(f"/api/jobs/{b['id']}").json()["status"] == "queued"
    other = post(client, f"/api/runs/{VAE}/sample", n=2)  # another run is not blocked
    assert other.status_code == 200
    gate.set()
    for jid in (a["id"], b["id"]):
        for _ in range(200):
            if client.get(f"/api/jobs/{jid}").json()["status"] == "done":
                break
            threading.Event().wait(0.02)
        assert client.get(f"/api/jobs/{jid}").json()["status"] == "done"


def test_a_failing_model_is_a_500_and_the_server_keeps_serving(client, app, monkeypatch):
    run = app.state.table.runs[MADE]

    def broken(*a, **k):
        raise RuntimeError("shapes do not match\nlong traceback text")

    monkeypatch.setattr(run.model, "sample", broken)
    r = post(client, f"/api/runs/{MADE}/sample", n=2)
    assert r.status_code == 500
    assert r.json()["error"] == "model failure: RuntimeError: shapes do not match"
    monkeypatch.undo()
    assert post(client, f"/api/runs/{MADE}/sample", n=2).status_code == 200


@pytest.mark.parametrize("path", [
    "/static/../../pyproject.toml", "/static/..%2f..%2fpyproject.toml", "/static/%2e%2e/app.py",
    "/static//etc/passwd", "/static/..\\..\\app.py", "/api/runs/..%2f..%2fetc/sample", "/api/runs/%2fetc%2fpasswd",
    "/api/runs/../../../etc/passwd", "/api/jobs/..%2f..%2fetc", "/api/nothing",
])
def test_path_traversal_finds_nothing(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert "root:" not in r.text and "[project]" not in r.text and "import" not in r.text


def test_runs_are_looked_up_never_opened(client, serve_runs):
    for key in [str(serve_runs["root"] / "made"), "made%2F..%2Fvae", "..", "5", "99999", "-1"]:
        assert client.post(f"/api/runs/{key}/sample", json={"n": 1}).status_code == 404


@pytest.mark.parametrize("run,body,words", [
    (MADE, {"n": 0}, "outside [1, 256]"), (MADE, {"n": 257}, "outside [1, 256]"), (MADE, {"n": "many"}, "integer"),
    (MADE, {"n": True}, "integer"), (MADE, {"seed": -1}, "outside"), (LSTM, {"temperature": -1}, "outside"),
    (LSTM, {"top_p": 0}, "outside (0.0"), (LSTM, {"length": 5000}, "outside"), (LSTM, {"top_k": 1000}, "outside"),
    (LSTM, {"temperature": float("nan")}, "finite"),
])
def test_bad_sample_values_are_400(client, run, body, words):
    r = client.post(f"/api/runs/{run}/sample", content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code == 400 and words in r.json()["error"], r.text


@pytest.mark.parametrize("body,words", [
    ({"mask": ["1" * 8] * 7}, "8 rows of 8"), ({"mask": ["0" * 8] * 8}, "covers nothing"),
    ({"mask": ["1" * 8] * 8}, "covers everything"), ({"mask": ["2" * 8] * 8}, "0/1"), ({"mask": "all"}, "0/1"),
    ({"mask": ["1" * 8] * 8, "k": 17}, "outside"), ({"mask": ["01" * 4] * 8, "image": "data:image/png;base64,!!"}, "base64"),
    ({"mask": ["01" * 4] * 8, "image": base64.b64encode(b"not an image").decode()}, "not a readable image"),
    ({"mask": ["01" * 4] * 8, "example": 10**6}, "test split has"),
])
def test_bad_completions_are_400(client, body, words):
    r = post(client, f"/api/runs/{MADE}/complete", **body)
    assert r.status_code == 400 and words in r.json()["error"], r.text


def test_uploads_have_limits(client):
    # a PNG whose header claims 100000 x 100000 pixels: refused before decoding
    img = Image.new("L", (1, 1))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    raw = bytearray(buf.getvalue())
    raw[16:24] = (100000).to_bytes(4, "big") * 2  # IHDR width and height (CRC now wrong: refused either way)
    bomb = base64.b64encode(bytes(raw)).decode()
    r = post(client, f"/api/runs/{MADE}/complete", mask=["01" * 4] * 8, image=bomb)
    assert r.status_code == 400 and "image" in r.json()["error"]
    big = Image.new("L", (5000, 5000))  # 25 M pixels > the limit, a small file
    r = post(client, f"/api/runs/{MADE}/complete", mask=["01" * 4] * 8, image=data_url(big))
    assert r.status_code == 400 and "at most" in r.json()["error"]
    huge = base64.b64encode(b"\0" * (6 * 1024 * 1024)).decode()
    r = post(client, f"/api/runs/{MADE}/complete", mask=["01" * 4] * 8, image=huge)
    assert r.status_code == 413
    r = client.post(f"/api/runs/{MADE}/complete", content=b"{" + b" " * (8 * 1024 * 1024) + b"}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_bodies_must_be_json_objects(client, content):
    r = client.post(f"/api/runs/{MADE}/sample", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]


def test_requests_a_run_cannot_serve_are_400(client):
    assert post(client, f"/api/runs/{MADE}/interpolate").status_code == 400
    assert post(client, f"/api/runs/{GAN}/complete", mask=["1"]).status_code == 400
    assert post(client, f"/api/runs/{MADE}/generate", prompt="x").status_code == 400
    r = post(client, f"/api/runs/{LSTM}/generate", prompt="\u00e9t\u00e9")
    assert r.status_code == 400 and "vocabulary" in r.json()["error"]
    assert client.get(f"/api/runs/{MADE}/latent-map").status_code == 400
    assert post(client, f"/api/runs/{VAE}/decode", z=[[0.0, 0.0, 1.0]]).status_code == 400
    assert client.get("/api/dynamics?steps=999999").status_code == 400
    assert post(client, "/api/ganlab", loss="nope").status_code == 400
    assert client.get("/api/jobs/" + "0" * 32).status_code == 404


def test_pages_are_served_with_a_strict_policy(client):
    r = client.get("/")
    assert r.status_code == 200 and "genzoo playground" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "http" not in r.text.replace("http-equiv", "")  # no CDN, nothing remote
    for name in ("app.js", "plots.js", "style.css", "pages/gan.js"):
        assert client.get(f"/static/{name}").status_code == 200


def test_runs_show_what_genzoo_eval_kept(client, serve_runs, capsys):
    from genzoo.cli.main import main

    assert "eval" in client.get("/api/runs/made").json()
    assert main(["eval", str(serve_runs["paths"][MADE])]) == 0
    printed = capsys.readouterr().out
    lines = client.get("/api/runs/made").json()["eval"]["test/model"]
    assert lines and lines[0].startswith("NLL") and lines[0].split()[1] in printed

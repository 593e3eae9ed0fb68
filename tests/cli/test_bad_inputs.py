"""Malformed inputs of every kind genzoo reads, each ending in one line and exit code 2
with nothing the user had changed.

Every case builds its bad input under a fresh folder, runs one command in-process and
checks: exit code 2, one line on stderr that names the problem (``needle``), no
traceback, and every file that existed before (the bad input itself, a run directory
it touched) byte for byte as it was.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genzoo.cli.main import main

# ---- fixtures: tiny runs the cases corrupt copies of ----------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("bad-input-runs")
    text = base / "corpus.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 40)
    made = base / "made"
    lstm = base / "lstm"
    assert main(["train", "made", "--data", "digits", "--steps", "3", "--set", "hidden=16",
                 "--checkpoint-every", "2", "--run-dir", str(made), "--no-progress"]) == 0
    assert main(["train", "lstm", "--data", "text", "--data-dir", str(text), "--steps", "2",
                 "--set", "hidden=8", "--set", "embed=4", "--set", "data.block_size=16",
                 "--run-dir", str(lstm), "--no-progress"]) == 0
    diffusion = ["--steps", "1", "--batch-size", "8", "--set", "channels=8", "--set", "channel_mults=1,2",
                 "--set", "attention=false", "--no-progress"]
    ddpm, fm = base / "ddpm", base / "fm"  # class-conditional (digits' 10 classes), T = 20; unconditional
    assert main(["train", "ddpm", "--data", "digits", *diffusion, "--set", "timesteps=20", "--set", "sample_steps=5",
                 "--run-dir", str(ddpm)]) == 0
    assert main(["train", "flow_matching", "--data", "digits", *diffusion, "--set", "conditional=false",
                 "--run-dir", str(fm)]) == 0
    return {"made": made, "lstm": lstm, "ddpm": ddpm, "fm": fm}


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _copy_run(runs: dict[str, Path], tmp: Path, name: str = "made") -> Path:
    dst = tmp / f"run-{name}"
    shutil.copytree(runs[name], dst)
    return dst


MNIST_N = 200  # images per split of the generated MNIST files


def _mnist(tmp: Path) -> Path:
    """Valid MNIST IDX files (gzip), generated: random 28x28 digits, MNIST_N per split, so
    the cases need nothing from ../shared."""
    from genzoo.data.mnist import MNIST_FILES

    d = tmp / "mnist"
    d.mkdir()
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        images, labels = MNIST_FILES[split]
        pixels = rng.integers(0, 256, size=(MNIST_N, 28, 28), dtype=np.uint8)
        (d / f"{images}.gz").write_bytes(gzip.compress(
            bytes([0, 0, 8, 3]) + struct.pack(">III", MNIST_N, 28, 28) + pixels.tobytes()))
        (d / f"{labels}.gz").write_bytes(gzip.compress(
            bytes([0, 0, 8, 1]) + struct.pack(">I", MNIST_N) + (np.arange(MNIST_N) % 10).astype(np.uint8).tobytes()))
    return d


def _regz(path: Path, edit: Callable[[bytes], bytes]) -> None:
    path.write_bytes(gzip.compress(edit(gzip.decompress(path.read_bytes()))))


def _amat(tmp: Path, rows: list[str]) -> Path:
    d = tmp / "bmnist"
    d.mkdir()
    for split in ("train", "valid", "test"):
        (d / f"binarized_mnist_{split}.amat").write_text("\n".join(rows) + "\n")
    return d


GOOD_ROW = " ".join(["0"] * 700 + ["1"] * 84)


def _folder(tmp: Path, files: dict[str, bytes]) -> Path:
    d = tmp / "folder"
    d.mkdir()
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


def _png(size: int = 8) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(np.zeros((size, size), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _train(data: str, root: Path, model: str = "made", *extra: str) -> list[str]:
    return ["train", model, "--data", data, "--data-dir", str(root), "--steps", "1", "--offline",
            "--run-dir", str(root.parent / "new-run"), "--no-progress", *extra]


# ---- the cases: name -> (build(tmp, runs) -> argv, needle in the message) ----------------

def _idx_magic(t, r):
    d = _mnist(t)
    _regz(d / "t10k-images-idx3-ubyte.gz", lambda b: b"\x00\x00\x09\x03" + b[4:])
    return _train("mnist", d)


def _idx_count_mismatch(t, r):
    d = _mnist(t)
    _regz(d / "t10k-labels-idx1-ubyte.gz", lambda b: b[:4] + struct.pack(">I", MNIST_N - 1) + b[8:8 + MNIST_N - 1])
    return _train("mnist", d)


def _idx_not_gzip(t, r):
    d = _mnist(t)
    (d / "train-images-idx3-ubyte.gz").write_bytes(b"this is not gzip data at all")
    return _train("mnist", d)


def _idx_empty(t, r):
    d = _mnist(t)
    (d / "train-labels-idx1-ubyte.gz").write_bytes(b"")
    return _train("mnist", d)


def _idx_truncated_header(t, r):
    d = _mnist(t)
    _regz(d / "t10k-images-idx3-ubyte.gz", lambda b: b[:6])
    return _train("mnist", d)


def _idx_truncated_raw(t, r):
    d = _mnist(t)
    raw = gzip.decompress((d / "t10k-images-idx3-ubyte.gz").read_bytes())
    (d / "t10k-images-idx3-ubyte.gz").unlink()
    (d / "t10k-images-idx3-ubyte").write_bytes(raw[: len(raw) // 3])
    return _train("mnist", d)


def _idx_wrong_dims(t, r):
    d = _mnist(t)
    _regz(d / "t10k-images-idx3-ubyte.gz", lambda b: b[:8] + struct.pack(">II", 28, 27) + b[16:])
    return _train("mnist", d)


CASES: dict[str, tuple[Callable[[Path, dict], list[str]], str]] = {
    # IDX (MNIST)
    "idx: bad magic number": (_idx_magic, "t10k-images-idx3-ubyte"),
    "idx: label count differs from image count": (_idx_count_mismatch, "t10k"),
    "idx: not gzip": (_idx_not_gzip, "train-images-idx3-ubyte"),
    "idx: empty file": (_idx_empty, "train-labels-idx1-ubyte"),
    "idx: truncated header": (_idx_truncated_header, "t10k-images-idx3-ubyte"),
    "idx: truncated uncompressed file": (_idx_truncated_raw, "t10k-images-idx3-ubyte"),
    "idx: rows x columns disagree with the data": (_idx_wrong_dims, "t10k-images-idx3-ubyte"),
    # amat (binarized MNIST)
    "amat: short row": (lambda t, r: _train("binarized_mnist", _amat(t, [GOOD_ROW, "0 1 0"])), "amat"),
    "amat: value 2": (lambda t, r: _train("binarized_mnist", _amat(t, [GOOD_ROW.replace("1", "2", 1)])), "amat"),
    "amat: non-numeric token": (lambda t, r: _train("binarized_mnist", _amat(t, [GOOD_ROW.replace("0", "x", 1)])),
                                "amat"),
    "amat: empty file": (lambda t, r: _train("binarized_mnist", _amat(t, [""])), "amat"),
    "amat: truncated gzip": (lambda t, r: _train("binarized_mnist", _gz_amat(t)), "amat"),
    # image folders
    "images: truncated PNG only": (lambda t, r: _train("images", _folder(t, {"a.png": _png()[:30]})), "folder"),
    "images: empty folder": (lambda t, r: _train("images", _folder(t, {})), "folder"),
    "images: zero-byte JPEG only": (lambda t, r: _train("images", _folder(t, {"a.jpg": b""})), "folder"),
    "images: text named .gif": (lambda t, r: _train("images", _folder(t, {"a.gif": b"GIF? no, text"})), "folder"),
    "images: folder does not exist": (lambda t, r: _train("images", t / "nowhere"), "nowhere"),
    # music files
    "music: corrupt MIDI only": (lambda t, r: _train("music", _folder(t, {"a.mid": b"MThd\x00\x00garbage"}),
                                                     "lstm"), "folder"),
    "music: broken MusicXML only": (lambda t, r: _train("music", _folder(t, {"a.musicxml": b"<score-partwise><part"}),
                                                        "lstm"), "folder"),
    "music: ABC without notes": (lambda t, r: _train("music", _folder(t, {"a.abc": b"X:1\nT:nothing\nK:C\n"}),
                                                     "lstm"), "folder"),
    "music: empty folder": (lambda t, r: _train("music", _folder(t, {}), "lstm"), "folder"),
    # text
    "text: empty file": (lambda t, r: _train("text", _folder(t, {"a.txt": b""}), "lstm"), "folder"),
    "text: binary file only": (lambda t, r: _train("text", _folder(t, {"a.txt": b"\xff\xfe\x00\x01" * 50}), "lstm"),
                               "folder"),
    "text: shorter than one window": (lambda t, r: _train("text", _folder(t, {"a.txt": b"tiny"}), "lstm"), "block"),
    # bag of words
    "docword: bad header": (lambda t, r: _train("documents", _folder(t, {"docword.x.txt": b"3\nabc\n"}), "lda"),
                            "docword"),
    "docword: fewer entries than the header says": (
        lambda t, r: _train("documents", _folder(t, {"docword.x.txt": b"2\n3\n4\n1 1 2\n2 3 1\n"}), "lda"), "truncated"),
    "docword: word index out of range": (
        lambda t, r: _train("documents", _folder(t, {"docword.x.txt": b"2\n3\n2\n1 1 2\n2 9 1\n"}), "lda"), "outside"),
    "npz: garbage": (lambda t, r: _train("documents", _folder(t, {"c.npz": b"PK\x03\x04 nope"}), "lda"), "npz"),
    "npz: negative counts": (lambda t, r: _train("documents", _npz(t, -np.ones((4, 3)))), "non-negative"),
    "documents: empty folder": (lambda t, r: _train("documents", _folder(t, {}), "lda"), "no .txt documents"),
    # YAML recipes
    "recipe: YAML syntax error": (lambda t, r: _recipe(t, "model: {name: made\n"), "recipe.yaml"),
    "recipe: a list, not a mapping": (lambda t, r: _recipe(t, "- made\n- digits\n"), "recipe.yaml"),
    "recipe: unknown section": (lambda t, r: _recipe(t, "model: made\noptim: {lr: 1}\n"), "optim"),
    "recipe: unknown model key": (lambda t, r: _recipe(t, "model: {name: made, hiden: [8]}\n"), "hiden"),
    "recipe: wrong value type": (lambda t, r: _recipe(t, "model: made\ntrain: {lr: fast}\n"), "lr"),
    "recipe: file missing": (lambda t, r: ["train", "--config", str(t / "none.yaml")], "none.yaml"),
    "recipe: empty file": (lambda t, r: _recipe(t, ""), "no model given"),
    "recipe: section is a number": (lambda t, r: _recipe(t, "model: made\ntrain: 3\n"), "train"),
    # config.json
    "config.json: not JSON": (lambda t, r: _config(t, r, lambda c: "{not json"), "config.json"),
    "config.json: no spec": (lambda t, r: _config(t, r, lambda c: json.dumps({k: v for k, v in c.items()
                                                                             if k != "spec"})), "spec"),
    "config.json: unknown model": (lambda t, r: _config(t, r, lambda c: json.dumps({**c, "model": "madeup"})),
                                   "madeup"),
    "config.json: bad model value": (lambda t, r: _config(t, r, lambda c: json.dumps(
        {**c, "model_config": {**c["model_config"], "hidden": "lots"}})), "hidden"),
    "config.json: a list": (lambda t, r: _config(t, r, lambda c: "[1, 2]"), "config.json"),
    "config.json: unknown train key": (lambda t, r: _config(t, r, lambda c: json.dumps(
        {**c, "train": {**c["train"], "turbo": True}})), "turbo"),
    # safetensors weights
    "weights: truncated": (lambda t, r: _weights(t, r, lambda b: b[: len(b) // 2]), "model.safetensors"),
    "weights: garbage": (lambda t, r: _weights(t, r, lambda b: b"\x07" * 64), "model.safetensors"),
    "weights: zero bytes": (lambda t, r: _weights(t, r, lambda b: b""), "model.safetensors"),
    "weights: header promises more than the file": (
        lambda t, r: _weights(t, r, lambda b: struct.pack("<Q", 10**9) + b[8:]), "model.safetensors"),
    "weights: none at all": (lambda t, r: _no_weights(t, r), "no weights"),
    "weights: another run's shapes": (lambda t, r: _other_shapes(t, r), "do not match"),
    "weights: best asked for, none kept": (lambda t, r: ["sample", str(_copy_run(r, t)), "--weights", "best"],
                                           "best"),
    # checkpoints (resume)
    "checkpoint: truncated weights, resume": (lambda t, r: _ckpt(t, r, "model.safetensors"), "checkpoint"),
    "checkpoint: corrupt training state, resume": (lambda t, r: _ckpt(t, r, "state.pt"), "state.pt"),
    "resume: different model settings": (lambda t, r: ["train", "made", "--data", "digits", "--resume", "--run-dir",
                                                       str(_copy_run(r, t)), "--set", "hidden=32", "--steps", "5",
                                                       "--no-progress"], "cannot resume"),
    "resume: nothing to resume": (lambda t, r: ["train", "made", "--resume", "--run-dir", str(t / "none"),
                                                "--no-progress"], "none"),
    # masks and primers
    "mask: wrong size": (lambda t, r: ["complete", str(_copy_run(r, t)), "--cover", str(_file(t, "m.png", _png(5)))],
                         "m.png"),
    "mask: corrupt PNG": (lambda t, r: ["complete", str(_copy_run(r, t)), "--cover",
                                        str(_file(t, "m.png", _png()[:20]))], "m.png"),
    "primer: corrupt image": (lambda t, r: ["sample", str(_copy_run(r, t)), "--primer",
                                            str(_file(t, "p.png", b"\x89PNG\r\n\x1a\nxx"))], "p.png"),
    "primer: text outside the vocabulary": (lambda t, r: ["sample", str(_copy_run(r, t, "lstm")), "--prompt",
                                                          "QZ\u00e9"], "vocabulary"),
    "primer: file missing": (lambda t, r: ["sample", str(_copy_run(r, t, "lstm")), "--primer", str(t / "no.txt")],
                             "no.txt"),
    # bad values and wrong data types
    "value: -n 0": (lambda t, r: ["sample", str(_copy_run(r, t)), "-n", "0"], "-n"),
    "value: negative temperature": (lambda t, r: ["sample", str(_copy_run(r, t, "lstm")), "--temperature", "-1"],
                                    "temperature"),
    "value: unknown cover": (lambda t, r: ["complete", str(_copy_run(r, t)), "--cover", "diagonal-0.5"], "cover"),
    "value: unknown metric": (lambda t, r: ["eval", str(_copy_run(r, t)), "--metrics", "fidd"], "fidd"),
    "value: negative steps": (lambda t, r: ["train", "made", "--steps", "-1"], "steps"),
    "value: ema outside [0, 1)": (lambda t, r: ["train", "made", "--set", "train.ema=1.5"], "ema"),
    # diffusion sampling options (issue 13), drawing samples and the --gif chain alike
    **{f"{what}: {case}": (lambda t, r, run=run, args=args, what=what: [
        "sample", str(_copy_run(r, t, run)), "-n", "2", *args, *(["--gif", str(t / "c.gif")] if what == "gif" else [])],
        needle)
       for what in ("sampler", "gif")
       for case, run, args, needle in (
           ("--steps 0", "ddpm", ["--steps", "0"], "steps"),
           ("--eta 2", "ddpm", ["--sampler", "ddim", "--eta", "2"], "eta"),
           ("--guidance on an unconditional run", "fm", ["--guidance", "3"], "unconditional"),
           ("--label 12 on 10 classes", "ddpm", ["--label", "12"], "10 classes"),
           ("unknown --sampler", "ddpm", ["--sampler", "ddpn"], "no sampler 'ddpn'"),
           ("a sampler the model lacks", "fm", ["--sampler", "ddim"], "no sampler 'ddim'"),
           ("--eta with the ddpm sampler", "ddpm", ["--sampler", "ddpm", "--eta", "0.5"], "ddim sampler"),
           ("more steps than T", "ddpm", ["--steps", "21"], "T = 20"))},
    "capability: interpolate a model without a code": (lambda t, r: ["interpolate", str(_copy_run(r, t))],
                                                        "cannot"),
    "data type: realnvp on text": (lambda t, r: ["train", "realnvp", "--data", "text", "--set", "data.corpus=pydoc",
                                                        "--steps", "1"], "cannot model"),
    "data type: gmm on documents counts": (lambda t, r: _train("documents", _folder(t, {f"{i}.txt": b"apple banana cherry apple"
                                                                                       for i in range(4)}),
                                                               "gmm"), "cannot model"),
}


def _gz_amat(t: Path) -> Path:
    d = _amat(t, [GOOD_ROW] * 3)
    for f in d.iterdir():
        data = gzip.compress(f.read_bytes())
        f.unlink()
        (d / (f.name + ".gz")).write_bytes(data[: len(data) // 2])
    return d


def _npz(t: Path, counts: np.ndarray) -> Path:
    d = _folder(t, {})
    np.savez(d / "c.npz", counts=counts)
    return d


def _recipe(t: Path, text: str) -> list[str]:
    (t / "recipe.yaml").write_text(text)
    return ["train", "--config", str(t / "recipe.yaml"), "--steps", "1", "--run-dir", str(t / "new-run"),
            "--no-progress"]


def _config(t: Path, r: dict, edit: Callable[[dict], str]) -> list[str]:
    run = _copy_run(r, t)
    f = run / "config.json"
    f.write_text(edit(json.loads(f.read_text())))
    return ["sample", str(run)]


def _weights(t: Path, r: dict, edit: Callable[[bytes], bytes]) -> list[str]:
    run = _copy_run(r, t)
    f = run / "model.safetensors"
    f.write_bytes(edit(f.read_bytes()))
    return ["eval", str(run)]


def _no_weights(t: Path, r: dict) -> list[str]:
    run = _copy_run(r, t)
    (run / "model.safetensors").unlink()
    shutil.rmtree(run / "checkpoints")
    return ["sample", str(run)]


def _other_shapes(t: Path, r: dict) -> list[str]:
    run = _copy_run(r, t)
    cfg = json.loads((run / "config.json").read_text())
    cfg["model_config"]["hidden"] = [24]
    (run / "config.json").write_text(json.dumps(cfg))
    return ["sample", str(run)]


def _ckpt(t: Path, r: dict, name: str) -> list[str]:
    run = _copy_run(r, t)
    for step in (run / "checkpoints").iterdir():
        f = step / name
        f.write_bytes(f.read_bytes()[:40])
    return ["train", "made", "--data", "digits", "--resume", "--run-dir", str(run), "--set", "hidden=16",
            "--steps", "5", "--checkpoint-every", "2", "--no-progress"]


def _file(t: Path, name: str, data: bytes) -> Path:
    (t / name).write_bytes(data)
    return t / name


def test_there_are_at_least_sixty_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_nothing_changes(case, runs, tmp_path, capsys):
    build, needle = CASES[case]
    argv = build(tmp_path, runs)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, f"{case}: exit {rc}; stderr: {err[-2000:]}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, f"{case}: {err[-2000:]}"
    assert needle.lower() in err.lower(), f"{case}: {needle!r} not in {err!r}"
    after = _snapshot(tmp_path)
    changed = [k for k, v in before.items() if after.get(k) != v]
    assert not changed, f"{case}: changed or removed {changed}"

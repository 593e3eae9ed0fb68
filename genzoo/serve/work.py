"""What the playground's API does with a served run: parse a request (cheap, on the event
loop, so bad values are a 400 at once) and the work itself (in the run's job lane).

Each ``parse_*`` returns checked parameters; each ``do_*`` takes ``(run, params, job)``
and returns a JSON-able result, reporting progress between chunks and stopping when the
job is cancelled. Images travel as PNG data URLs rendered by
:mod:`genzoo.report.render` (palette images in their palette) and, where a client may
want to check them, as values in the data's own space.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo.data.melody import MUSIC_SUFFIXES
from genzoo.data.text import decode_text, encode_text
from genzoo.report.render import image_grid, to_rgb_uint8
from genzoo.serve import inputs
from genzoo.serve.inputs import MAX_SAMPLES, MAX_SEED, get_choice, get_float, get_int, get_str, png_data_url
from genzoo.serve.jobs import Job, ServeError
from genzoo.serve.runs import ServedRun, latent_kind, sample_options
from genzoo.tasks.primer import is_music, pixels_to_values, read_sequence_primer

MAX_COMPLETIONS = 16
MAX_TOKENS = 2000
MAX_STEPS_PATH = 33
MAX_DECODE = 64
MAX_SAMPLER_STEPS = 10000
MAP_POINTS = 500


def need(run: ServedRun, view: str, what: str) -> None:
    if view not in run.views():
        raise ServeError(f"run {run.name!r} ({run.loaded.config.model} on {run.loaded.config.data}) cannot {what}")


def _png(x: torch.Tensor, run: ServedRun) -> list[str]:
    return [png_data_url(a) for a in to_rgb_uint8(x, run.spec)]


# ---- sample ----------------------------------------------------------------------------
def parse_sample(run: ServedRun, d: dict[str, Any]) -> dict[str, Any]:
    need(run, "sample", "be sampled in the playground")
    if run.spec.kind == "sequence":
        return {**parse_generate(run, d, primer=False), "sequence": True}
    p: dict[str, Any] = {"n": get_int(d, "n", 16, 1, MAX_SAMPLES), "seed": get_int(d, "seed", 0, 0, MAX_SEED)}
    if run.model.has("conditional") and run.spec.num_classes:
        p["label"] = get_int(d, "label", None, 0, run.spec.num_classes - 1)
    options = sample_options(run.model)
    p["options"] = {k: v for k, v in {
        "steps": get_int(d, "steps", None, 1, MAX_SAMPLER_STEPS) if "steps" in options else None,
        "sampler": get_str(d, "sampler", None, 32) if "sampler" in options else None}.items() if v is not None}
    return p


def do_sample(run: ServedRun, p: dict[str, Any], job: Job) -> dict[str, Any]:
    if p.get("sequence"):
        return do_generate(run, p, job)
    g = torch.Generator().manual_seed(p["seed"])
    n, chunk, parts = p["n"], max(1, min(32, p["n"] // 4 or 1)), []
    with torch.no_grad():
        for i in range(0, n, chunk):
            job.check()
            m = min(chunk, n - i)
            cond = None if p.get("label") is None else torch.full((m,), p["label"], dtype=torch.long)
            parts.append(run.model.sample(m, condition=cond, generator=g, **p["options"]).cpu())
            job.report((i + m) / n)
    x = torch.cat(parts)
    if run.spec.kind == "image":
        return {"kind": "image", "n": n, "seed": p["seed"], "grid": png_data_url(image_grid(x, run.spec)),
                "shape": list(run.spec.shape)}
    out = {"kind": "points", "n": n, "seed": p["seed"], "points": x.float().tolist(),
           "range": list(run.spec.value_range or (-2, 2))}
    try:
        out["reference"] = run.test_data().x[:500].float().tolist()
    except ServeError:
        pass
    return out


# ---- text and music ------------------------------------------------------------------
def parse_generate(run: ServedRun, d: dict[str, Any], *, primer: bool = True) -> dict[str, Any]:
    if not (hasattr(run.model, "generate") and run.spec.vocabulary is not None):
        raise ServeError(f"run {run.name!r} does not generate token sequences (text or music)")
    music = is_music(run.spec)
    p: dict[str, Any] = {
        "n": get_int(d, "n", 1, 1, 16), "seed": get_int(d, "seed", 0, 0, MAX_SEED),
        "length": get_int(d, "length", min(run.spec.shape[0], 400), 1, MAX_TOKENS),
        "temperature": get_float(d, "temperature", 1.0, 0.0, 10.0),
        "top_k": get_int(d, "top_k", None, 1, len(run.spec.vocabulary)),
        "top_p": get_float(d, "top_p", None, 0.0, 1.0, open_lo=True), "music": music}
    if d.get("top_k") == 0:
        p["top_k"] = None
    prompt = get_str(d, "prompt", "", 2000) if primer else ""
    if prompt and music:
        raise ServeError("music runs take a melody primer file (primer), not a text prompt")
    p["prompt"] = encode_text(prompt, run.spec.vocabulary) if prompt else None
    if primer and d.get("primer") is not None:
        if not music:
            raise ServeError("a primer file is for music runs; give text runs a prompt")
        suffix = Path(get_str(d, "filename", "primer.mid", 200) or "primer.mid").suffix.lower()
        if suffix not in MUSIC_SUFFIXES:
            raise ServeError(f"bad primer file type {suffix!r}: one of {', '.join(MUSIC_SUFFIXES)}")
        p["primer"] = (inputs.decode_upload(d, "primer"), suffix)
    return p


def do_generate(run: ServedRun, p: dict[str, Any], job: Job) -> dict[str, Any]:
    """Draw ``length`` tokens in growing chunks, reporting the sequences so far."""
    vocab, music = run.spec.vocabulary, p["music"]
    prompt = p["prompt"]
    if p.get("primer"):
        data, suffix = p["primer"]
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / f"primer{suffix}"
            f.write_bytes(data)
            prompt = read_sequence_primer(f, run.spec)
    start = 0 if prompt is None else len(prompt)
    seq = None if prompt is None else prompt[None].repeat(p["n"], 1)
    g = torch.Generator().manual_seed(p["seed"])
    decoding = {k: p[k] for k in ("temperature", "top_k", "top_p")}
    done, length = 0, p["length"]
    while done < length:
        job.check()
        c = min(length - done, 8 if done < 64 else 32)
        seq = run.model.generate(p["n"], c, prompt=seq, generator=g, **decoding).cpu()
        done += c
        if not music:
            job.report(done / length, texts=[decode_text(r[start:], vocab) for r in seq], tokens=done)
        else:
            job.report(done / length, tokens=done)
    if not music:
        return {"kind": "text", "prompt": decode_text(seq[0, :start], vocab),
                "texts": [decode_text(r[start:], vocab) for r in seq]}
    return {"kind": "music", "primer_length": start, "melodies": [_melody(row, vocab) for row in seq]}


def _melody(ids: torch.Tensor, vocab) -> dict[str, Any]:
    from genzoo.data.melody import write_melody

    with tempfile.TemporaryDirectory() as tmp:
        mid = write_melody(ids, vocab, Path(tmp) / "melody")[0]
        data = base64.b64encode(mid.read_bytes()).decode("ascii")
    return {"tokens": [vocab[int(t)] for t in ids], "midi": "data:audio/midi;base64," + data}


# ---- test examples and uploads ---------------------------------------------------------
def examples(run: ServedRun, start: int, count: int) -> dict[str, Any]:
    """Test images ``start .. start + count`` with their labels."""
    if run.spec.kind != "image":
        raise ServeError(f"run {run.name!r} does not model images")
    test = run.test_data()
    total = len(test)
    idx = list(range(min(start, total), min(start + count, total)))
    x = test.x[idx]
    y = getattr(test, "y", None)
    return {"total": total, "start": start, "examples": [
        {"index": i, "png": u, "label": None if y is None else int(y[i])} for i, u in zip(idx, _png(x, run))]}


def image_to_values(img, run: ServedRun) -> torch.Tensor:
    """An uploaded picture resized to the model's image size, in the data's own values (C, H, W)."""
    from PIL import Image

    spec = run.spec
    c, h, w = spec.shape
    palette = spec.palette is not None
    img = img.convert("L" if c == 1 and not palette else "RGB")
    img = img.resize((w, h), Image.NEAREST if palette else Image.BILINEAR)
    a = np.asarray(img)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (C', H, W)
    if not palette and a.shape[0] != c:
        a = a[:c] if a.shape[0] > c else np.repeat(a, c, 0)
    return pixels_to_values(a, spec).to(spec.dtype)


# ---- complete --------------------------------------------------------------------------
def parse_complete(run: ServedRun, d: dict[str, Any]) -> dict[str, Any]:
    need(run, "complete", "complete images")
    c, h, w = run.spec.shape
    p: dict[str, Any] = {"k": get_int(d, "k", 4, 1, MAX_COMPLETIONS), "seed": get_int(d, "seed", 0, 0, MAX_SEED)}
    if d.get("image") is not None:
        p["image"] = image_to_values(inputs.open_image(inputs.decode_upload(d, "image")), run)
    else:
        p["example"] = get_int(d, "example", 0, 0, 10**9)
    m = d.get("mask")
    ok = isinstance(m, list) and len(m) == h and all(
        (isinstance(r, str) and len(r) == w and set(r) <= {"0", "1"})
        or (isinstance(r, list) and len(r) == w and all(v in (0, 1) and not isinstance(v, bool) for v in r))
        for r in m)
    if not ok:
        raise ServeError(f"bad value for 'mask': {h} rows of {w} 0/1 values (1 = covered, to be filled)")
    covered = torch.tensor([[int(v) for v in r] for r in m], dtype=torch.bool)  # (H, W)
    if not covered.any():
        raise ServeError("the mask covers nothing: paint the part the model should fill in")
    if covered.all():
        raise ServeError("the mask covers everything: leave some of the image visible")
    p["observed"] = (~covered).expand(c, h, w).clone()
    return p


def do_complete(run: ServedRun, p: dict[str, Any], job: Job) -> dict[str, Any]:
    from genzoo.tasks.complete import complete_images, shade_covered

    if "image" in p:
        x = p["image"]
    else:
        test = run.test_data()
        if p["example"] >= len(test):
            raise ServeError(f"bad value for 'example': the test split has {len(test)} images")
        x = test.x[p["example"]]
    obs, comps = p["observed"], []
    for j in range(p["k"]):
        job.check()
        comps.append(complete_images(run.model, x[None], obs, samples=1, seed=p["seed"] + j)[0, 0])
        job.report((j + 1) / p["k"])
    comps_t = torch.stack(comps)
    return {"original": {"png": _png(x[None], run)[0], "values": x.tolist()},
            "shaded": png_data_url(shade_covered(x[None], obs, run.spec)[0]),
            "observed": obs[0].int().tolist(),
            "completions": [{"png": u, "values": v.tolist()} for u, v in zip(_png(comps_t, run), comps_t)]}


# ---- latent space ----------------------------------------------------------------------
def parse_interpolate(run: ServedRun, d: dict[str, Any]) -> dict[str, Any]:
    need(run, "latent", "walk a latent space")
    return {"a": get_int(d, "a", 0, 0, MAX_SEED), "b": get_int(d, "b", 1, 0, MAX_SEED),
            "steps": get_int(d, "steps", 9, 2, MAX_STEPS_PATH), "mode": get_choice(d, "mode", "slerp", ("slerp", "linear"))}


def _decode_codes(run: ServedRun, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Codes (N, D) -> data (N, *shape): the decoder, or G for a GAN."""
    from genzoo.nn.values import from_unit

    m = run.model
    with torch.no_grad():
        if latent_kind(m) == "generator":
            y = torch.zeros(len(z), dtype=torch.long, device=m.device) if m.has("conditional") else None
            return from_unit(m.generate_unit(z, y), run.spec, stochastic=False).cpu()
        kw = {} if labels is None else {"condition": labels.to(m.device)}
        return m.decode(z.to(m.device), **kw).cpu()


def do_interpolate(run: ServedRun, p: dict[str, Any], job: Job) -> dict[str, Any]:
    from genzoo.tasks.interpolate import encode, lerp, slerp

    t = torch.linspace(0, 1, p["steps"])
    labels = None
    if latent_kind(run.model) == "encode":
        test = run.test_data()
        for k in ("a", "b"):
            if p[k] >= len(test):
                raise ServeError(f"bad value for {k!r}: the test split has {len(test)} images")
        x = test.x[[p["a"], p["b"]]]
        if run.model.has("conditional"):
            labels = test.y[[p["a"], p["b"]]]
        z = encode(run.model, x, condition=labels)  # (2, D)
        ends = _png(x, run)
    else:
        d = run.model.config.latent_dim
        z = torch.cat([torch.randn(1, d, generator=torch.Generator().manual_seed(s)) for s in (p["a"], p["b"])])
        ends = None
    path = (slerp if p["mode"] == "slerp" else lerp)(z[:1], z[1:], t)[0]  # (T, D)
    cond = None if labels is None else labels[:1].repeat(len(path))
    frames = _decode_codes(run, path, cond)
    return {"frames": _png(frames, run), "ends": ends, "codes": path.tolist()}


def latent_map(run: ServedRun, job: Job) -> dict[str, Any]:
    """Codes of up to MAP_POINTS test images of a 2-D latent space, with their labels."""
    from genzoo.tasks.interpolate import encode

    need(run, "latent_map", "draw a 2-D latent map")
    test = run.test_data()
    n = min(MAP_POINTS, len(test))
    y = getattr(test, "y", None)
    labels = None if y is None else y[:n]
    z = encode(run.model, test.x[:n], condition=labels if run.model.has("conditional") else None)
    return {"codes": z.tolist(), "labels": None if labels is None else labels.tolist()}


def parse_decode(run: ServedRun, d: dict[str, Any]) -> dict[str, Any]:
    need(run, "latent", "decode latent codes")
    dim = run.model.config.latent_dim if hasattr(run.model.config, "latent_dim") else None
    z = d.get("z")
    ok = (isinstance(z, list) and 1 <= len(z) <= MAX_DECODE and all(
        isinstance(r, list) and (dim is None or len(r) == dim) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= 100 for v in r) for r in z))
    if not ok or len({len(r) for r in z}) != 1:
        raise ServeError(f"bad value for 'z': 1 to {MAX_DECODE} codes of {dim or 'D'} numbers in [-100, 100]")
    p: dict[str, Any] = {"z": torch.tensor(z, dtype=torch.float32)}
    if run.model.has("conditional") and run.spec.num_classes:  # a conditional decoder needs a label
        p["label"] = get_int(d, "label", 0, 0, run.spec.num_classes - 1)
    return p


def do_decode(run: ServedRun, p: dict[str, Any], job: Job) -> dict[str, Any]:
    labels = None if p.get("label") is None else torch.full((len(p["z"]),), p["label"], dtype=torch.long)
    return {"images": _png(_decode_codes(run, p["z"], labels), run)}

"""Completion: cover part of each test example and let the model fill it in.

For images the cover is a named region (``bottom-0.5``, ``bottom-0.75``, ``right-0.5``,
``top-0.5``, ``left-0.5``, ``center-0.5``) or a mask image of the model's image size
(white = covered). For sequences it is ``end-F`` (alias ``right-F``: the last F of the
positions, so completion continues the visible start), ``start-F`` (``left-F``) or
``center-F``. Each model
brings its own ``complete(x, mask)``: exact conditional sampling for raster-order
autoregressive models, pseudo-Gibbs for latent-variable models, likelihood
optimisation for flows, a clamped chain for Markov-chain models.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.base import GenerativeModel

_REGION = re.compile(r"^(bottom|top|left|right|center)-(0?\.\d+|1(\.0+)?)$")


def cover_mask(cover: str, spec: DataSpec) -> torch.Tensor:
    """A bool mask of ``spec.shape``: True = observed, False = covered (to be filled)."""
    if spec.kind == "sequence":
        return _sequence_cover(cover, spec)
    if spec.kind != "image":
        raise GenzooError(f"--cover works on images and sequences; {spec.name!r} holds {spec.kind}s")
    c, h, w = spec.shape
    m = _REGION.match(cover)
    if m:
        where, frac = m.group(1), float(m.group(2))
        if not 0.0 < frac < 1.0:
            raise GenzooError(f"bad cover {cover!r}: the fraction must be between 0 and 1")
        observed = torch.ones(h, w, dtype=torch.bool)
        rh, rw = round(h * frac), round(w * frac)
        if where == "bottom":
            observed[h - rh:, :] = False
        elif where == "top":
            observed[:rh, :] = False
        elif where == "right":
            observed[:, w - rw:] = False
        elif where == "left":
            observed[:, :rw] = False
        else:
            y0, x0 = (h - rh) // 2, (w - rw) // 2
            observed[y0:y0 + rh, x0:x0 + rw] = False
        return observed.expand(c, h, w).clone()
    path = Path(cover)
    if path.suffix.lower() in (".png", ".gif", ".jpg", ".jpeg", ".bmp"):
        if not path.is_file():
            raise GenzooError(f"mask file not found: {path}")
        from PIL import Image, UnidentifiedImageError

        try:
            img = Image.open(path).convert("L")
        except (UnidentifiedImageError, OSError) as e:
            raise GenzooError(f"mask file {path} is not a readable image ({e})") from None
        if img.size != (w, h):
            raise GenzooError(f"mask file {path} is {img.width}x{img.height}; this model's images are {w}x{h} "
                              "(width x height)")
        covered = torch.from_numpy(np.asarray(img) > 127)
        if not covered.any():
            raise GenzooError(f"mask file {path} covers nothing (white pixels mark the part to fill)")
        return (~covered).expand(c, h, w).clone()
    raise GenzooError(f"bad cover {cover!r}: use bottom-0.5, bottom-0.75, right-0.5 (any of bottom/top/left/"
                      "right/center with a fraction) or a mask image MASK.png (white = covered)")


_SEQ_REGION = re.compile(r"^(end|right|start|left|center)-(0?\.\d+|1(\.0+)?)$")


def _sequence_cover(cover: str, spec: DataSpec) -> torch.Tensor:
    """Mask (T,) for a sequence cover such as ``end-0.5``."""
    m = _SEQ_REGION.match(cover)
    if not m:
        raise GenzooError(f"bad cover {cover!r} for sequences: use end-F (or right-F) to continue the start, "
                          "start-F (left-F) or center-F, with a fraction F such as 0.5")
    where, frac = m.group(1), float(m.group(2))
    if not 0.0 < frac < 1.0:
        raise GenzooError(f"bad cover {cover!r}: the fraction must be between 0 and 1")
    T = spec.shape[0]
    r = max(1, round(T * frac))
    observed = torch.ones(T, dtype=torch.bool)
    if where in ("end", "right"):
        observed[T - r:] = False
    elif where in ("start", "left"):
        observed[:r] = False
    else:
        observed[(T - r) // 2:(T - r) // 2 + r] = False
    return observed


def complete_images(model: GenerativeModel, x: torch.Tensor, observed: torch.Tensor, *, samples: int,
                    seed: int = 0, **kwargs) -> torch.Tensor:
    """``samples`` completions of each example (images or sequences): returns (B, samples, *shape)."""
    model.require("complete")
    g = torch.Generator().manual_seed(seed)
    b = x.shape[0]
    mask = observed.unsqueeze(0).expand_as(x)
    xs = x.repeat_interleave(samples, dim=0).to(model.device)
    ms = mask.repeat_interleave(samples, dim=0).to(model.device)
    # models that optimise (flows) turn gradients back on inside their own complete()
    with torch.no_grad():
        out = model.complete(xs, ms, generator=g, **kwargs)
    out = out.detach().cpu()
    if not torch.equal(out[ms.cpu()], xs.cpu()[ms.cpu()]):
        raise AssertionError(f"model {model.name!r} changed observed pixels during completion")
    return out.reshape(b, samples, *x.shape[1:])


@dataclass
class Completion:
    """What ``genzoo complete`` computes: the examples ``x`` (B, *shape), the ``observed``
    mask (*shape), ``completions`` (B, K, *shape), a one-line ``summary`` and the cover's
    ``tag`` for file names."""

    x: torch.Tensor
    observed: torch.Tensor
    completions: torch.Tensor
    summary: str
    tag: str


def complete_run(loaded: Any, *, cover: str | None = None, samples: int = 4, count: int = 8,
                 split: str = "test", steps: int | None = None, seed: int = 0) -> Completion:
    """Complete the first ``count`` examples of ``split`` of a trained run (a
    :class:`genzoo.run.LoadedRun`) ``samples`` times each under ``cover`` (default: the
    bottom half of images, the second half of sequences); ``steps`` sets the iterations of
    iterative completers. Every observed value is kept exactly."""
    from genzoo.run import load_data

    if samples < 1 or count < 1:
        raise GenzooError("-n and --count must be >= 1")
    model, spec = loaded.model, loaded.spec
    model.require("complete")
    cover = cover or ("end-0.5" if spec.kind == "sequence" else "bottom-0.5")
    observed = cover_mask(cover, spec)
    x = load_data(loaded.config, download=False).fixed(split).x[:count]
    kwargs = {}
    if steps is not None:
        params = inspect.signature(model.complete).parameters
        key = next((k for k in ("steps", "complete_steps") if k in params), None)
        if key is None:
            raise GenzooError(f"model {model.name!r} completes in one pass; --steps does not apply")
        kwargs[key] = steps
    comps = complete_images(model, x, observed, samples=samples, seed=seed, **kwargs)
    cov = ~observed
    truth, guess = x.unsqueeze(1).expand_as(comps)[:, :, cov], comps[:, :, cov]
    what = "positions" if spec.kind == "sequence" else "pixels"
    if spec.value_type == "continuous":
        err = f"mean squared error on covered pixels {float(((guess - truth) ** 2).mean()):.4f}"
    else:
        err = f"covered {what} equal to the original: {float((guess == truth).float().mean()):.1%}"
    tag = Path(cover).stem if cover.lower().endswith((".png", ".gif", ".jpg", ".jpeg", ".bmp")) else cover
    summary = (f"{model.name}: {len(x)} examples x {samples} completions, cover {cover} "
               f"({int(cov.sum())} of {cov.numel()} values); {err}")
    return Completion(x, observed, comps, summary, tag)


def shade_covered(x: torch.Tensor, observed: torch.Tensor, spec: DataSpec) -> np.ndarray:
    """RGB uint8 images with the covered part tinted, so people see what was hidden."""
    from genzoo.report.render import to_rgb_uint8

    rgb = to_rgb_uint8(x, spec).astype(np.float32)  # (B, H, W, 3)
    cov = (~observed[0]).numpy()  # (H, W)
    tint = np.array([200.0, 60.0, 60.0])
    rgb[:, cov] = 0.35 * rgb[:, cov] + 0.65 * tint
    return rgb.astype(np.uint8)


def completion_grid(x: torch.Tensor, observed: torch.Tensor, completions: torch.Tensor,
                    spec: DataSpec, path: Path) -> Path:
    """Rows: covered input | K completions | original. Saved as a PNG."""
    from PIL import Image

    from genzoo.report.render import grid_from_rgb, to_rgb_uint8

    b, k = completions.shape[:2]
    rows = []
    covered = shade_covered(x, observed, spec)
    for i in range(b):
        rows.append(covered[i])
        rows.extend(to_rgb_uint8(completions[i], spec))
        rows.append(to_rgb_uint8(x[i:i + 1], spec)[0])
    grid = grid_from_rgb(np.stack(rows), ncol=k + 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    return path


def write_sequence_completions(x: torch.Tensor, observed: torch.Tensor, completions: torch.Tensor,
                               spec: DataSpec, path: Path) -> Path:
    """Text runs: one ``.txt`` with, per example, the visible part, K completions and the
    original (covered characters shown as a middle dot). Music runs: a folder of MIDI and
    MusicXML files ``example-I-original`` and ``example-I-completion-J``; audio runs the
    same names as WAV files. Returns the path."""
    from genzoo.data.audio import is_audio, write_codes
    from genzoo.tasks.primer import is_music

    if is_audio(spec):
        folder = path.with_suffix("")
        for i in range(len(x)):
            write_codes(x[i], spec, folder / f"example-{i}-original.wav")
            for j in range(completions.shape[1]):
                write_codes(completions[i, j], spec, folder / f"example-{i}-completion-{j}.wav")
        return folder
    vocab = spec.vocabulary
    if vocab is None:
        raise GenzooError(f"cannot write completions of {spec.name!r}: its sequences have no vocabulary")
    if is_music(spec):
        from genzoo.data.music import write_melody

        folder = path.with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(len(x)):
            write_melody(x[i], vocab, folder / f"example-{i}-original")
            for j in range(completions.shape[1]):
                write_melody(completions[i, j], vocab, folder / f"example-{i}-completion-{j}")
        return folder
    blocks = []
    for i in range(len(x)):
        shown = "".join(vocab[int(t)] if o else "\u00b7" for t, o in zip(x[i], observed))
        lines = [f"== example {i}", "-- visible:", shown]
        for j in range(completions.shape[1]):
            lines += [f"-- completion {j}:", "".join(vocab[int(t)] for t in completions[i, j])]
        lines += ["-- original:", "".join(vocab[int(t)] for t in x[i])]
        blocks.append("\n".join(lines))
    out = path.with_suffix(".txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n\n".join(blocks) + "\n")
    return out

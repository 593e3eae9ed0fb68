"""Primers: the start of an example read from a file, for an autoregressive model to continue.

* Music runs (``spec.extra["modality"] == "music"``): a MIDI, MusicXML or ABC melody,
  encoded with the run's vocabulary (:func:`genzoo.data.music.read_primer`; a
  polyphonic file keeps its top line, with a warning).
* Audio runs (``spec.extra["modality"] == "audio"``): a WAV clip, mixed down to mono,
  resampled to the run's rate and mu-law quantized to its levels, as the ``audio``
  dataset reads its files (:func:`genzoo.data.audio.read_audio_primer`).
* Text runs: a UTF-8 text file, encoded character by character with the run's
  vocabulary; characters outside it are named in the error.
* Image runs: a picture whose top rows are kept and whose remaining rows the model
  fills in raster order. The picture must be as wide as the model's images; a picture
  with fewer rows than the model's images is the visible top part (a "partial image");
  a full-size picture keeps its top ``rows`` rows (default: half).

A sequence primer longer than what the model can read is handled by the model (the
Transformer slides its context window, as documented in its module; the LSTMs and
WaveNet read any length).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genzoo.data.audio import is_audio
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError


def is_music(spec: DataSpec) -> bool:
    return spec.kind == "sequence" and spec.extra.get("modality") == "music"


def read_sequence_primer(path: str | Path, spec: DataSpec) -> torch.Tensor:
    """Token ids (P,) int64 of a primer file for a sequence run."""
    path = Path(path)
    if is_audio(spec):
        from genzoo.data.audio import read_audio_primer

        return read_audio_primer(path, spec)
    if spec.kind != "sequence" or spec.vocabulary is None:
        raise GenzooError(f"a sequence primer needs a text, music or audio run; this run models {spec.describe}")
    if is_music(spec):
        from genzoo.data.music import read_primer

        return read_primer(path, spec.vocabulary)
    if not path.is_file():
        raise GenzooError(f"primer file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise GenzooError(f"primer {path} is not UTF-8 text") from None
    if not text:
        raise GenzooError(f"primer {path} is empty")
    from genzoo.data.text import encode_text

    return encode_text(text, spec.vocabulary)


def pixels_to_values(pixels: np.ndarray, spec: DataSpec) -> torch.Tensor:
    """uint8 pixels (C, h, W) -> the data's own values, as the image datasets store them."""
    t = torch.from_numpy(pixels.astype(np.int64))
    if spec.value_type == "binary":
        return (2 * t >= 255).to(torch.float32)
    if spec.value_type == "categorical" and spec.palette is not None:
        pal = torch.tensor(spec.palette, dtype=torch.int64)  # (K, 3)
        rgb = t.expand(3, -1, -1) if t.shape[0] == 1 else t[:3]
        d = ((rgb.permute(1, 2, 0)[:, :, None, :] - pal) ** 2).sum(-1)  # (h, W, K)
        return d.argmin(-1)[None]  # (1, h, W)
    if spec.value_type == "categorical":
        return torch.round(t.float() * (spec.num_values - 1) / 255).long()
    lo, hi = spec.value_range  # type: ignore[misc]
    return t.float() / 255 * (hi - lo) + lo


def read_image_primer(path: str | Path, spec: DataSpec, *, rows: int | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """An image primer as ``(x (C, H, W), observed (C, H, W) bool)``: its top rows observed."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if spec.kind != "image":
        raise GenzooError(f"an image primer needs an image run; this run models {spec.describe}")
    c, h, w = spec.shape
    if not path.is_file():
        raise GenzooError(f"primer file not found: {path}")
    try:
        img = Image.open(path)
        img = img.convert("L" if c == 1 and spec.palette is None else "RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise GenzooError(f"primer {path} is not a readable image ({e})") from None
    if img.width != w or img.height > h:
        raise GenzooError(f"primer {path} is {img.width}x{img.height} (width x height); this model needs "
                          f"width {w} and at most {h} rows (a full {w}x{h} image or its top part)")
    a = np.asarray(img)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (C', h', W)
    if spec.palette is None and a.shape[0] != c:
        a = a[:c] if a.shape[0] > c else np.repeat(a, c, 0)
    top = pixels_to_values(a, spec)  # (C, h', W)
    if rows is None:
        rows = top.shape[1] if img.height < h else h // 2
    if not 1 <= rows <= min(top.shape[1], h - 1):
        raise GenzooError(f"bad value {rows} for --primer-rows: must be in [1, {min(top.shape[1], h - 1)}]")
    x = torch.zeros(spec.shape, dtype=spec.dtype)
    if spec.value_type == "continuous":
        x.fill_(spec.value_range[0])  # type: ignore[index]
    x[:, :rows] = top[:, :rows].to(spec.dtype)
    observed = torch.zeros(spec.shape, dtype=torch.bool)
    observed[:, :rows] = True
    return x, observed

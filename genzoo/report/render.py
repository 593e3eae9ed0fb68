"""Turn samples into things people look at: image grids, 2-D scatter plots, text."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from genzoo.data.spec import DataSpec


def to_rgb_uint8(x: torch.Tensor, spec: DataSpec) -> np.ndarray:
    """Images (N, C, H, W) in the data's own space -> uint8 (N, H, W, 3)."""
    x = x.detach().cpu()
    if spec.value_type == "categorical" and spec.palette is not None:
        pal = torch.tensor(spec.palette, dtype=torch.uint8)  # (K, 3)
        idx = x[:, 0].long().clamp(0, len(spec.palette) - 1)  # (N, H, W)
        return pal[idx].numpy()
    if spec.value_type == "categorical":
        v = x.float() / max(1, spec.num_values - 1)
    elif spec.value_type == "binary":
        v = x.float()
    else:
        lo, hi = spec.value_range  # type: ignore[misc]
        v = (x.float() - lo) / (hi - lo)
    v = (v.clamp(0, 1) * 255).round().to(torch.uint8)  # (N, C, H, W)
    if v.shape[1] == 1:
        v = v.repeat(1, 3, 1, 1)
    return v[:, :3].permute(0, 2, 3, 1).numpy()


def image_grid(x: torch.Tensor, spec: DataSpec, *, ncol: int | None = None, pad: int = 2,
               min_cell: int = 28) -> np.ndarray:
    """A uint8 (H, W, 3) grid of images, each scaled up to at least ``min_cell`` pixels."""
    return grid_from_rgb(to_rgb_uint8(x, spec), ncol=ncol, pad=pad, min_cell=min_cell)


def grid_from_rgb(imgs: np.ndarray, *, ncol: int | None = None, pad: int = 2, min_cell: int = 28) -> np.ndarray:
    """Lay out uint8 images (N, h, w, 3) in a grid, scaled up to ``min_cell`` pixels."""
    n, h, w, _ = imgs.shape
    scale = max(1, math.ceil(min_cell / max(h, w)))
    if scale > 1:
        imgs = imgs.repeat(scale, axis=1).repeat(scale, axis=2)
        h, w = h * scale, w * scale
    ncol = ncol or max(1, math.ceil(math.sqrt(n)))
    nrow = max(1, math.ceil(n / ncol))
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, 3), 170, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, ncol)
        y0, x0 = pad + r * (h + pad), pad + c * (w + pad)
        grid[y0:y0 + h, x0:x0 + w] = imgs[i]
    return grid


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
MUSIC_SUFFIXES = (".mid", ".midi", ".musicxml")
TEXT_SUFFIXES = (".txt", ".text", ".md")
AUDIO_SUFFIXES = (".wav", ".png")


def check_out_suffix(spec: DataSpec, path: str | Path) -> None:
    """Refuse an output name whose suffix names a format these samples cannot be written
    in (``--out samples.png`` for text, ``tune.mid`` for images), before any work is done."""
    suffix = Path(path).suffix.lower()
    if not suffix:
        return
    if spec.kind in ("image", "video") or (spec.kind == "vector" and spec.shape == (2,)):
        ok = IMAGE_SUFFIXES
    elif spec.kind == "sequence" and spec.extra.get("modality") == "music":
        ok = (*MUSIC_SUFFIXES, ".png")
    elif spec.kind == "sequence" and spec.extra.get("modality") == "audio":
        ok = AUDIO_SUFFIXES
    elif (spec.kind == "sequence" and spec.vocabulary is not None) or spec.value_type == "count":
        ok = TEXT_SUFFIXES
    else:
        ok = (".npy",)
    if suffix not in ok:
        from genzoo.errors import GenzooError

        raise GenzooError(f"cannot write {spec.name} samples as {suffix!r} ({Path(path).name}); "
                          f"use {', '.join(ok)} or a name without a suffix")


def numbered(path: Path, n: int) -> list[Path]:
    """``[path]`` for one sample; ``stem-1.ext`` ... ``stem-n.ext`` beside it for several."""
    if n == 1:
        return [path]
    width = len(str(n))
    return [path.with_name(f"{path.stem}-{i:0{width}d}{path.suffix}") for i in range(1, n + 1)]


def save_samples(x: torch.Tensor, spec: DataSpec, path: str | Path, *, title: str | None = None,
                 reference: torch.Tensor | None = None) -> Path:
    """Save samples in the form that suits the data; returns the path written.

    Images -> an image grid (PNG unless ``path`` names another image format); videos -> a
    grid with one row of frames per sample; 2-D vectors
    -> scatter PNG (with ``reference`` points in grey); melodies (music runs) -> for a
    ``.mid``/``.musicxml`` name exactly that file (several samples: ``NAME-1.mid``,
    ``NAME-2.mid``, ... beside it), for a ``.png`` name their piano roll, and for a name
    without a suffix a folder of MIDI + MusicXML pairs and a piano roll; sound (audio
    runs) -> WAV files and a spectrogram PNG (:func:`genzoo.report.audio.save_audio`);
    sequences with a vocabulary -> text file; count vectors (bags of words) -> text
    file of each document's most frequent words (:func:`count_lines`); anything else -> ``.npy``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if spec.kind == "image":
        from PIL import Image

        out = path if suffix in IMAGE_SUFFIXES else path.with_suffix(".png")
        Image.fromarray(image_grid(x, spec)).save(out)
        return out
    if spec.kind == "video":  # (N, T, C, H, W): one row per sample
        from PIL import Image

        out = path if suffix in IMAGE_SUFFIXES else path.with_suffix(".png")
        Image.fromarray(image_grid(x.flatten(0, 1), spec, ncol=spec.shape[0])).save(out)
        return out
    if spec.kind == "vector" and spec.shape == (2,):
        return scatter_2d(x, path.with_suffix(".png"), title=title, reference=reference)
    if spec.kind == "sequence" and spec.extra.get("modality") == "music":
        from genzoo.data.music import write_melody

        rows = list(x.long().cpu())
        if suffix == ".png":
            from genzoo.report.plots import pianoroll_png

            return pianoroll_png(rows, spec.vocabulary, path, title=title or "melodies")
        if suffix in MUSIC_SUFFIXES:
            from genzoo.data.melody import decode_tokens

            fmt = "midi" if suffix in (".mid", ".midi") else "musicxml"
            files = numbered(path, len(rows))
            for row, f in zip(rows, files):
                decode_tokens(row, spec.vocabulary).write(fmt, fp=f)
            return files[0] if len(files) == 1 else path.parent
        folder = path.with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        for i, row in enumerate(rows):
            write_melody(row, spec.vocabulary, folder / f"melody-{i:02d}")
        from genzoo.report.plots import pianoroll_png

        pianoroll_png(rows, spec.vocabulary, folder / "pianoroll.png", title=title or "melodies")
        return folder
    if spec.kind == "sequence" and spec.extra.get("modality") == "audio":
        from genzoo.report.audio import save_audio

        return save_audio(x, spec, path, title=title)
    if spec.kind == "sequence" and spec.vocabulary is not None:
        vocab = spec.vocabulary
        lines = ["".join(vocab[int(t)] for t in row) for row in x.long()]
        out = path if suffix in TEXT_SUFFIXES else path.with_suffix(".txt")
        out.write_text("\n\n".join(lines) + "\n")
        return out
    if spec.value_type == "count":
        out = path if suffix in TEXT_SUFFIXES else path.with_suffix(".txt")
        out.write_text("\n".join(count_lines(x, spec)) + "\n")
        return out
    out = path.with_suffix(".npy")
    np.save(out, x.detach().cpu().numpy())
    return out


def count_lines(x: torch.Tensor, spec: DataSpec, *, top: int = 15) -> list[str]:
    """One line per count vector (N, V): its length and ``top`` most frequent words,
    e.g. ``doc 3 (48 words): model x5, data x4, ...`` (words ``w<i>`` without a vocabulary)."""
    counts = x.detach().cpu().long().reshape(x.shape[0], -1)  # (N, V)
    vocab = spec.vocabulary
    lines = []
    for i, row in enumerate(counts):
        k = min(top, int((row > 0).sum()))
        vals, idx = row.topk(k) if k else (row[:0], row[:0])
        words = ", ".join(f"{vocab[j] if vocab is not None else f'w{j}'} x{c}"
                          for c, j in zip(vals.tolist(), idx.tolist()))
        lines.append(f"doc {i} ({int(row.sum())} words): {words}")
    return lines


def scatter_2d(x: torch.Tensor, path: Path, *, title: str | None = None,
               reference: torch.Tensor | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    if reference is not None:
        r = reference.detach().cpu().numpy()
        ax.scatter(r[:, 0], r[:, 1], s=2, c="0.75", label="data")
    p = x.detach().cpu().numpy()
    ax.scatter(p[:, 0], p[:, 1], s=2, c="tab:blue", label="samples")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_chain_gif(frames: torch.Tensor, spec: DataSpec, path: Path, *, duration_ms: int = 80) -> Path:
    """Animate chain frames (T, n, *shape) as a GIF: each frame is a grid of the n chains."""
    from PIL import Image

    path = Path(path).with_suffix(".gif")
    path.parent.mkdir(parents=True, exist_ok=True)
    imgs = [Image.fromarray(image_grid(f, spec)) for f in frames]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=duration_ms, loop=0)
    return path

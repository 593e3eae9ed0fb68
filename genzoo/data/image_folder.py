"""``images``: your own folder of PNG / JPEG / GIF files (searched recursively).

Every image is centre-cropped to a square and resized to ``size`` x ``size``, as grey
levels (``mode=gray``) or RGB (``mode=rgb``). With ``colors=0`` the 256 levels per
channel follow the usual ``binarize`` / ``scale`` options. With ``colors=K`` the pixels
are mapped to a palette of at most K colours (exactly the colours used when there are
no more than K, else seeded k-means) and become categorical with shape (1, H, W); the
palette goes into ``spec.palette`` for rendering. Files that cannot be read as images
are skipped and counted in ``Dataset.info["skipped"]``.

With ``captions=true`` every image ``NAME.png`` needs a caption file ``NAME.txt`` beside
it: each non-empty line is one phrasing of its caption (an image with fewer phrasings
than the most in the folder repeats its own in turn). They travel as ``batch["caption"]``
(word ids, :mod:`genzoo.data.captions`; the vocabulary is every word of the folder's
captions). An image without its ``.txt``, or whose ``.txt`` holds no words, is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from genzoo.config import choice, positive
from genzoo.data.dataset import Dataset, Split, register_dataset
from genzoo.data.spec import DataSpec
from genzoo.data.transforms import ImageOptions, prepare_images
from genzoo.errors import DataFileError, GenzooError

SPLIT_SEED = 0
KMEANS_SAMPLE = 50_000  # pixels used to fit the k-means palette


@dataclass
class ImageFolderOptions(ImageOptions):
    """Options of the ``images`` dataset.

    Args:
        size: side of the square the images are resized to.
        mode: ``gray`` (1 channel) or ``rgb`` (3 channels).
        colors: 0 for plain levels; K > 0 to quantize to a K-colour palette
            (categorical pixels, shape (1, H, W)).
        test_fraction: share of the images held out as the test split (seeded).
        captions: read a caption for each image from the ``.txt`` file beside it.
        binarize, scale: as for every image dataset (only with ``colors=0``).
    """

    size: int = 32
    mode: Literal["gray", "rgb"] = "gray"
    colors: int = 0
    test_fraction: float = 0.1
    captions: bool = False

    def validate(self) -> None:
        super().validate()
        positive(self.size, "size")
        choice(self.mode, ("gray", "rgb"), "mode")
        positive(self.colors, "colors", allow_zero=True)
        if self.colors > 256 * 256 * 256:
            raise GenzooError(f"bad value {self.colors!r} for colors: at most 16777216")
        if not 0.0 <= self.test_fraction < 1.0:
            raise GenzooError(f"bad value {self.test_fraction!r} for test_fraction: must be in [0, 1)")
        if self.colors and (self.binarize != "none" or self.scale != "levels"):
            raise GenzooError("colors > 0 gives categorical palette pixels; it cannot be combined with "
                              "binarize or scale (leave them at none / levels)")


def _load_image(path: Path, size: int, mode: str, nearest: bool) -> np.ndarray | None:
    """(H, W, C) uint8 pixels of ``path`` resized to ``size``, or None if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.seek(0)  # first frame of an animated GIF
            im.load()
            im = im.convert("RGBA")
            if im.getextrema()[3][0] < 255:  # composite transparency onto white
                bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, im)
            im = im.convert("RGB" if mode == "rgb" else "L")
    except Exception:  # anything PIL cannot decode counts as "not an image"
        return None
    if 0 in im.size:
        return None
    a = np.asarray(fit_square(im, size, nearest=nearest), dtype=np.uint8)
    return a[:, :, None] if a.ndim == 2 else a


def fit_square(im: Any, size: int, *, nearest: bool = False) -> Any:
    """A PIL image centre-cropped to a square and resized to ``size`` x ``size``
    (Lanczos, or nearest neighbour to keep the colours exact)."""
    from PIL import Image

    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    if (w, h) != (side, side):
        im = im.crop((left, top, left + side, top + side))
    if side != size:
        resample = Image.Resampling.NEAREST if nearest else Image.Resampling.LANCZOS
        im = im.resize((size, size), resample)
    return im


def _palette(pixels: np.ndarray, k: int) -> np.ndarray:
    """Palette (K', C) uint8: the used colours if at most ``k``, else k-means centres."""
    used = np.unique(pixels, axis=0)
    if len(used) <= k:
        return used  # np.unique sorts rows lexicographically
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(SPLIT_SEED)
    sample = pixels if len(pixels) <= KMEANS_SAMPLE else pixels[rng.choice(len(pixels), KMEANS_SAMPLE, replace=False)]
    km = KMeans(n_clusters=k, random_state=0, n_init=4).fit(sample.astype(np.float64))
    centres = np.clip(np.rint(km.cluster_centers_), 0, 255).astype(np.uint8)
    return np.unique(centres, axis=0)


def _nearest(pixels: np.ndarray, palette: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Index of the nearest palette colour for each pixel row."""
    pal = palette.astype(np.int32)
    out = np.empty(len(pixels), dtype=np.int64)
    for s in range(0, len(pixels), chunk):
        p = pixels[s: s + chunk].astype(np.int32)
        d = ((p[:, None, :] - pal[None, :, :]) ** 2).sum(-1)
        out[s: s + chunk] = d.argmin(1)
    return out


def _read_captions(root: Path, kept: list[str], train: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
    """Word ids (N, P, L) of the captions beside the images ``kept`` and ``spec.extra["captions"]``."""
    from genzoo.data import captions as cap

    texts: list[list[str]] = []
    for rel in kept:
        txt = (root / rel).with_suffix(".txt")
        if not txt.is_file():
            raise DataFileError(f"image {rel} has no caption file {txt.name} beside it (captions=true needs one "
                                "per image)")
        try:
            lines = [ln.strip() for ln in txt.read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as e:
            raise DataFileError(f"cannot read caption file {txt}: {e}") from None
        lines = [ln for ln in lines if cap.words(ln)]
        if not lines:
            raise DataFileError(f"caption file {txt} holds no words (empty caption)")
        texts.append(lines)
    p = max(len(t) for t in texts)
    texts = [[t[i % len(t)] for i in range(p)] for t in texts]
    vocab, length = cap.vocabulary_of(texts), cap.max_words(texts)
    train_texts = [texts[i] for i in train.tolist()] or texts
    return cap.encode_all(texts, vocab, length), cap.caption_info(train_texts, vocab, length)


@register_dataset("images", ImageFolderOptions,
                  "your own folder of PNG/JPEG/GIF images (needs --data-dir), resized square; "
                  "options size, mode, colors, test_fraction, binarize, scale, captions")
def load_image_folder(root: Path | None, opts: ImageFolderOptions, *, download: bool = True) -> Dataset:
    if root is None:
        raise GenzooError("dataset 'images' needs a folder of images: pass --data-dir DIR (or root=DIR)")
    if not root.is_dir():
        raise DataFileError(f"image folder {root} does not exist or is not a directory; "
                            "pass --data-dir DIR (or root=DIR) naming a folder of PNG/JPEG/GIF files")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    if opts.captions:  # the .txt files are the captions, not images
        files = [p for p in files if p.suffix.lower() != ".txt"]
    arrays: list[np.ndarray] = []
    kept: list[str] = []
    skipped: list[str] = []
    for p in files:
        a = _load_image(p, opts.size, opts.mode, nearest=opts.colors > 0)
        if a is None:
            skipped.append(str(p.relative_to(root)))
        else:
            arrays.append(a)
            kept.append(str(p.relative_to(root)))
    if not arrays:
        raise GenzooError(f"no readable images (PNG/JPEG/GIF) in {root}"
                          + (f" ({len(skipped)} other files skipped)" if skipped else ""))
    raw = np.stack(arrays)  # (N, H, W, C)
    n, h, w, c = raw.shape
    palette = None
    if opts.colors:
        pixels = raw.reshape(-1, c)
        pal = _palette(pixels, opts.colors)
        idx = _nearest(pixels, pal).reshape(n, 1, h, w)
        x_all = torch.from_numpy(idx)
        palette = tuple(tuple(int(v) for v in (row if c == 3 else (row[0],) * 3)) for row in pal)
        fields = {"value_type": "categorical", "num_values": len(pal)}
        transform = None
    else:
        x_all, fields, transform = prepare_images(raw.transpose(0, 3, 1, 2), 256, opts)
    perm = torch.from_numpy(np.random.default_rng(SPLIT_SEED).permutation(n))
    n_test = int(round(opts.test_fraction * n))
    if opts.test_fraction > 0 and n >= 2:
        n_test = min(max(n_test, 1), n - 1)
    tr, te = perm[: n - n_test], perm[n - n_test:]
    extra: dict[str, Any] = {}
    train_extra: dict[str, torch.Tensor] = {}
    test_extra: dict[str, torch.Tensor] = {}
    if opts.captions:
        ids, extra["captions"] = _read_captions(root, kept, tr)
        train_extra["caption"], test_extra["caption"] = ids[tr].clone(), ids[te].clone()
    spec = DataSpec(name="images", kind="image", shape=tuple(x_all.shape[1:]), palette=palette, extra=extra,
                    **{k: v for k, v in fields.items() if v is not None})
    return Dataset(spec=spec, train=Split(x_all[tr].clone(), extra=train_extra),
                   test=Split(x_all[te].clone(), extra=test_extra),
                   transform=transform,
                   info={"root": str(root), "images": n, "skipped": len(skipped),
                         "skipped_files": skipped[:20], "files": kept})

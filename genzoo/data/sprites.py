"""``sprites``: generated palette sprites, a built-in stand-in for small game-sprite sets.

Small pictures in a fixed palette, in the spirit of the seeds' experiment (792 Pokemon
sprites of 20x20 pixels in 167 colours, drawn pixel by pixel by an LSTM): each sprite is
a left-right symmetric creature on a white background, made of a random blob body
(a union of ellipses, mirrored), a dark outline, a light highlight towards the top left,
a darker shadow towards the bottom right, an accent-coloured belly patch and two eyes.
Colours come from one fixed palette of :data:`NUM_COLORS` RGB colours (16 hues x 10
shades, then grey levels, black and white); a sprite uses 3 shades of its body hue and 2 of
an accent hue. Pixels are categorical palette indices, shape (1, size, size), with the
palette in ``spec.palette`` so pictures render in colour.

Generated offline, a pure function of the options (numpy's seeded generator), so every
machine gets the same images. ``benchmarks/write_sprites.py`` writes them as PNG files
for the ``images`` dataset (``--data images --set data.colors=K``), the path your own
sprite folder takes.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genzoo.config import positive
from genzoo.data.dataset import Dataset, Split, register_dataset
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError

HUES = 16
SHADES = 10
GREYS = 6
NUM_COLORS = HUES * SHADES + GREYS + 2  # 168: the hue ramps, greys, black, white
WHITE, BLACK = NUM_COLORS - 1, NUM_COLORS - 2


def palette() -> np.ndarray:
    """The fixed palette (NUM_COLORS, 3) uint8: hue h, shade s is row h*SHADES + s (s = 0
    darkest), then GREYS greys, black, white (the background, last)."""
    rows = []
    for h in range(HUES):
        for s in range(SHADES):
            v = 0.25 + 0.75 * s / (SHADES - 1)  # brightness from dark to light
            sat = 0.9 - 0.5 * max(0.0, s - 6) / (SHADES - 7)  # the lightest shades wash out
            rows.append(colorsys.hsv_to_rgb(h / HUES, sat, v))
    rows += [(g, g, g) for g in np.linspace(0.3, 0.85, GREYS)]
    rows += [(0.0, 0.0, 0.0), (1.0, 1.0, 1.0)]
    return np.clip(np.rint(np.asarray(rows) * 255), 0, 255).astype(np.uint8)


def _sprite(rng: np.random.Generator, size: int) -> np.ndarray:
    """One sprite (size, size) of palette indices."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    half = (size - 1) / 2
    body = np.zeros((size, size), dtype=bool)
    for _ in range(rng.integers(2, 5)):  # a union of ellipses, mirrored left-right
        cy = rng.uniform(0.3, 0.7) * size
        cx = half + rng.uniform(-0.25, 0.05) * size
        ry, rx = rng.uniform(0.12, 0.32) * size, rng.uniform(0.08, 0.25) * size
        e = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        body |= e | e[:, ::-1]
    body[[0, -1], :] = False  # keep a border of background
    body[:, [0, -1]] = False
    if body.sum() < 8:  # too small: a plain round body
        body = ((yy - half) / (0.3 * size)) ** 2 + ((xx - half) / (0.3 * size)) ** 2 <= 1.0
    hue, accent = rng.integers(0, HUES), rng.integers(0, HUES)
    shade = rng.integers(3, 7)  # the body's mid shade

    def col(h: int, s: int) -> int:
        return int(h * SHADES + int(np.clip(s, 0, SHADES - 1)))

    img = np.full((size, size), WHITE, dtype=np.int64)
    img[body] = col(hue, shade)
    light = body & ((yy - xx * 0.3) < np.quantile(yy[body], 0.35))  # top: highlight
    img[light] = col(hue, shade + 2)
    dark = body & ((yy + 0.5 * np.abs(xx - half)) > np.quantile((yy + 0.5 * np.abs(xx - half))[body], 0.8))
    img[dark] = col(hue, shade - 2)
    belly = body & (((yy - np.median(yy[body]) - 1.5) / 2.5) ** 2 + ((xx - half) / 2.0) ** 2 <= 1.0)
    img[belly] = col(accent, rng.integers(5, 9))
    inside = np.zeros_like(body)  # interior: all four neighbours in the body
    inside[1:-1, 1:-1] = body[1:-1, 1:-1] & body[:-2, 1:-1] & body[2:, 1:-1] & body[1:-1, :-2] & body[1:-1, 2:]
    img[body & ~inside] = col(hue, 0) if rng.random() < 0.7 else BLACK  # outline
    ys, xs = np.nonzero(inside)
    top = ys.min()
    ey = int(top + rng.integers(1, 3))
    row_x = xs[ys == ey] if (ys == ey).any() else xs[ys == top]
    ex = int(row_x.min() + (row_x.max() - row_x.min()) * rng.uniform(0.15, 0.35)) if len(row_x) else int(half)
    for x in (ex, size - 1 - ex):  # two eyes, symmetric
        img[ey, x] = BLACK
    return img


@dataclass
class SpritesOptions:
    """Options of the ``sprites`` dataset.

    Args:
        n_train: training sprites.
        n_test: test sprites.
        size: side of the square sprites (>= 8).
        seed: generator seed (the data is a pure function of the options).
    """

    n_train: int = 720
    n_test: int = 80
    size: int = 20
    seed: int = 0

    def validate(self) -> None:
        positive(self.n_train, "n_train")
        positive(self.n_test, "n_test")
        if self.size < 8:
            raise GenzooError(f"bad value {self.size!r} for size: must be >= 8")


def make_sprites(n: int, size: int = 20, seed: int = 0) -> np.ndarray:
    """``n`` sprites (n, size, size) int64 palette indices, seeded."""
    rng = np.random.default_rng(seed)
    return np.stack([_sprite(rng, size) for _ in range(n)])


@register_dataset("sprites", SpritesOptions,
                  "generated 20x20 palette sprites (168 colours, categorical, palette rendering); built in, "
                  "offline; options n_train, n_test, size, seed")
def load_sprites(root: Path | None, opts: SpritesOptions, *, download: bool = True) -> Dataset:
    x = torch.from_numpy(make_sprites(opts.n_train + opts.n_test, opts.size, opts.seed))[:, None]
    pal = tuple(tuple(int(v) for v in row) for row in palette())
    spec = DataSpec(name="sprites", kind="image", shape=(1, opts.size, opts.size), value_type="categorical",
                    num_values=NUM_COLORS, palette=pal)
    return Dataset(spec=spec, train=Split(x[:opts.n_train].clone()), test=Split(x[opts.n_train:].clone()),
                   info={"colors_used": int(len(torch.unique(x)))})


def write_pngs(images: np.ndarray, folder: Path, pal: np.ndarray | None = None) -> list[Path]:
    """Write palette images (N, H, W) of indices as RGB PNG files ``sprite-NNNN.png`` in
    ``folder`` (created), coloured by ``pal`` (default: :func:`palette`); returns the paths."""
    from PIL import Image

    pal = palette() if pal is None else pal
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, img in enumerate(images):
        path = folder / f"sprite-{k:04d}.png"
        Image.fromarray(pal[img]).save(path)
        paths.append(path)
    return paths

"""Rendered digits: labelled "simulated" digit images drawn from fonts, and the unpaired
(rendered, real MNIST) data SimGAN refines them on.

``glyph_digits``: 28x28 grey digits 0-9 (balanced, labels kept) rendered offline from the
fonts bundled with Pillow (its scalable default font, Aileron, and its old bitmap font;
no files needed), each with seeded augmentations so no two look alike: stroke width,
rotation, slant (shear), height and width scale, position jitter around the centre. Like
MNIST, a digit fills a box of about 20 pixels and is drawn at 4x the size and
downsampled, so its edges are anti-aliased. The split is ``n_train`` / ``n_test``
images from two different seeds (``seed`` and ``seed + 1``). Options ``binarize`` and
``scale`` as for MNIST (default: categorical 256 grey levels).

``glyph_mnist``: the two unpaired domains of SimGAN (Shrivastava et al. 2017) in the
shape of the ``pairs`` dataset: the source ``batch["source"]`` is a rendered digit
(``glyph_digits`` with the same ``seed``, as many as the MNIST split holds), the target
``batch["x"]`` a real MNIST digit read from ``--data-dir``, shuffled with a fixed seed
and *unlabelled* (``y`` is None); the rendered digit's label travels as
``batch["source_y"]``. Values continuous in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genzoo.config import positive
from genzoo.data.dataset import Dataset, Split, register_dataset
from genzoo.data.spec import DataSpec
from genzoo.data.transforms import ImageOptions, prepare_images

SIZE = 28          # MNIST's side
BOX = 20           # MNIST's digits fit a 20x20 box
ZOOM = 4           # drawn at 4x, then downsampled (anti-aliased edges)
BITMAP_SHARE = 0.2  # share of digits from the old bitmap font (the rest: Aileron)
SHUFFLE_SEED = 0


@dataclass
class GlyphDigitsOptions(ImageOptions):
    """Rendered digits options.

    Args:
        n_train: training images (balanced over the 10 digits).
        n_test: test images.
        seed: the rendering seed of train (test uses ``seed + 1``).
        elastic: strength of an elastic distortion of every digit (Simard, Steinkraus &
            Platt 2003: a random displacement field smoothed by a Gaussian of 4 pixels and
            scaled by ``elastic``; they use 34); 0 = none. It varies the digits' shapes,
            which two fonts alone do not.
        bold: strokes made thicker by about this many pixels (a grey dilation of the 4x
            drawing by ``round(2 * bold)`` pixels on each side): a pen bolder than MNIST's,
            a simulator whose look is off while its shapes are kept; 0 = none.
        binarize: as for MNIST.
        scale: as for MNIST.
    """

    n_train: int = 10000
    n_test: int = 2000
    seed: int = 0
    elastic: float = 0.0
    bold: float = 0.0

    def validate(self) -> None:
        super().validate()
        positive(self.n_train, "n_train")
        positive(self.n_test, "n_test")
        positive(self.elastic, "elastic", allow_zero=True)
        positive(self.bold, "bold", allow_zero=True)


def _fonts():
    from PIL import ImageFont

    return (ImageFont.load_default(size=BOX * ZOOM), ImageFont.load_default_imagefont())


def _draw(digit: int, fonts, rng: np.random.Generator):
    """One digit drawn large (mode L, ink 255), stroke width and font chosen with ``rng``."""
    from PIL import Image, ImageDraw, ImageFilter

    scalable, bitmap = fonts
    big = BOX * ZOOM
    canvas = Image.new("L", (2 * big, 2 * big), 0)
    draw = ImageDraw.Draw(canvas)
    if rng.random() < BITMAP_SHARE:  # the blocky bitmap font, scaled up, then thickened
        small = Image.new("L", (16, 16), 0)
        ImageDraw.Draw(small).text((4, 2), str(digit), fill=255, font=bitmap)
        small = small.crop(small.getbbox())
        scale = big / small.height
        glyph = small.resize((max(1, round(small.width * scale)), big), Image.NEAREST)
        k = 2 * int(rng.integers(0, 3)) + 1  # max filter of odd size: thicker strokes
        return glyph.filter(ImageFilter.MaxFilter(k)) if k > 1 else glyph
    stroke = int(rng.integers(0, 5))  # extra stroke width at 4x: 0..1 pixel at 28x28
    draw.text((big // 2, big // 4), str(digit), fill=255, font=scalable, stroke_width=stroke, stroke_fill=255)
    return canvas.crop(canvas.getbbox())


def _elastic(images: np.ndarray, noise: np.ndarray, alpha: float) -> np.ndarray:
    """Elastic distortion (Simard et al. 2003) of ``images`` (N, 4H, 4W) uint8 drawn at 4x.

    ``noise`` (N, 2, H, W) uniform in [-1, 1], one value per 28x28 pixel and direction, is
    blurred by a Gaussian of 4 pixels, scaled to ``alpha`` pixels, upsampled to the
    drawing's size and used as a displacement field (bilinear resampling).
    """
    import torch.nn.functional as F

    sigma, side = 4, SIZE * ZOOM
    t = torch.arange(-3 * sigma, 3 * sigma + 1, dtype=torch.float32)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = k / k.sum()
    n = len(images)
    field = torch.from_numpy(noise).float().view(2 * n, 1, SIZE, SIZE)
    field = F.conv2d(F.pad(field, (0, 0, 3 * sigma, 3 * sigma)), k.view(1, 1, -1, 1))
    field = F.conv2d(F.pad(field, (3 * sigma, 3 * sigma, 0, 0)), k.view(1, 1, 1, -1)) * alpha  # pixels
    field = F.interpolate(field.view(n, 2, SIZE, SIZE), scale_factor=ZOOM, mode="bilinear", align_corners=False)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, side), torch.linspace(-1, 1, side), indexing="ij")
    grid = torch.stack([xs, ys], -1) + field.permute(0, 2, 3, 1) * (2 / SIZE)  # (N, 4H, 4W, 2), [-1, 1] units
    x = torch.from_numpy(images).float()[:, None]  # (N, 1, 4H, 4W)
    moved = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return moved[:, 0].clamp(0, 255).round().to(torch.uint8).numpy()


def render(labels: np.ndarray, *, seed: int, elastic: float = 0.0, bold: float = 0.0) -> np.ndarray:
    """Rendered digits (N, 28, 28) uint8 (ink bright on black, like MNIST) for ``labels``;
    every augmentation is drawn from ``seed``, so the same call gives the same images.
    ``elastic`` > 0 distorts each digit (its own random stream, so the other draws and
    the images at ``elastic`` 0 stay the same); ``bold`` > 0 thickens every stroke by
    about ``bold`` pixels (no random draws: the digits are otherwise the same)."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    warp = np.random.default_rng([seed, 1])
    chunk = 500  # drawings at 4x kept for one elastic batch
    drawn: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        big = np.stack([a for _, a in drawn])
        big = _elastic(big, warp.uniform(-1, 1, size=(len(drawn), 2, SIZE, SIZE)), elastic)
        for (j, _), a in zip(drawn, big):
            out[j] = np.asarray(Image.fromarray(a).resize((SIZE, SIZE), Image.BOX), dtype=np.uint8)
        drawn.clear()

    grow = round(bold * ZOOM / 2)  # pixels added on each side of a stroke at 4x
    fonts = _fonts()
    out = np.zeros((len(labels), SIZE, SIZE), dtype=np.uint8)
    for i, d in enumerate(labels):
        glyph = _draw(int(d), fonts, rng)
        angle = rng.uniform(-15, 15)
        slant = rng.uniform(-0.3, 0.3)  # x shifts by slant * (y - centre): italic either way
        w, h = glyph.size
        pad = Image.new("L", (w + h, h), 0)
        pad.paste(glyph, (h // 2, 0))
        glyph = pad.transform(pad.size, Image.AFFINE, (1, slant, -slant * h / 2, 0, 1, 0), Image.BILINEAR)
        glyph = glyph.rotate(angle, Image.BILINEAR, expand=True)
        glyph = glyph.crop(glyph.getbbox())
        w, h = glyph.size
        height = BOX * ZOOM * rng.uniform(0.75, 1.0)
        width = min(w * height / h * rng.uniform(0.75, 1.25), BOX * ZOOM)
        glyph = glyph.resize((max(ZOOM, round(width)), max(ZOOM, round(height))), Image.BILINEAR)
        big = Image.new("L", (SIZE * ZOOM, SIZE * ZOOM), 0)
        jx, jy = (rng.uniform(-2, 2, size=2) * ZOOM).round().astype(int)
        big.paste(glyph, ((SIZE * ZOOM - glyph.width) // 2 + jx, (SIZE * ZOOM - glyph.height) // 2 + jy))
        if grow:
            big = big.filter(ImageFilter.MaxFilter(2 * grow + 1))
        if elastic > 0:
            drawn.append((i, np.asarray(big, dtype=np.uint8)))
            if len(drawn) == chunk:
                flush()
            continue
        out[i] = np.asarray(big.resize((SIZE, SIZE), Image.BOX), dtype=np.uint8)
    if drawn:
        flush()
    return out


def rendered_split(n: int, *, seed: int, elastic: float = 0.0, bold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rendered digits (N, 1, 28, 28) uint8 and their labels (N,) int64: digits
    0..9 in turn, in an order shuffled with ``seed``."""
    labels = np.random.default_rng(seed).permutation(np.arange(n) % 10).astype(np.int64)
    return render(labels, seed=seed, elastic=elastic, bold=bold)[:, None], labels


@register_dataset("glyph_digits", GlyphDigitsOptions,
                  "digits rendered from Pillow's built-in fonts with seeded augmentations (stroke, rotation, "
                  "slant, scale, jitter), 28x28, 10 classes; built in, offline; options n_train, n_test, seed, elastic, "
                  "bold, binarize, scale")
def load_glyph_digits(root: Path | None, opts: GlyphDigitsOptions, *, download: bool = True) -> Dataset:
    splits = {}
    fields: dict = {}
    transform = None
    for k, n, seed in (("train", opts.n_train, opts.seed), ("test", opts.n_test, opts.seed + 1)):
        images, labels = rendered_split(n, seed=seed, elastic=opts.elastic, bold=opts.bold)
        x, fields, transform = prepare_images(images, 256, opts)
        splits[k] = Split(x, torch.from_numpy(labels))
    spec = DataSpec(name="glyph_digits", kind="image", shape=(1, SIZE, SIZE), num_classes=10, **fields)
    return Dataset(spec=spec, train=splits["train"], test=splits["test"], transform=transform,
                   info={"source": "Pillow's built-in fonts", "seed": opts.seed})


@dataclass
class GlyphMnistOptions:
    """Options of ``glyph_mnist``.

    Args:
        seed: the rendering seed of the training sources (test: ``seed + 1``), as in
            ``glyph_digits`` (same seed, same images).
        elastic: elastic distortion of the rendered sources, as in ``glyph_digits``.
        bold: thicker strokes of the rendered sources, as in ``glyph_digits``.
    """

    seed: int = 0
    elastic: float = 0.0
    bold: float = 0.0

    def validate(self) -> None:
        positive(self.elastic, "elastic", allow_zero=True)
        positive(self.bold, "bold", allow_zero=True)


@register_dataset("glyph_mnist", GlyphMnistOptions,
                  "SimGAN's unpaired domains: rendered digits (source, labelled) and real MNIST digits "
                  "(target, unlabelled, from --data-dir); options seed, elastic, bold")
def load_glyph_mnist(root: Path | None, opts: GlyphMnistOptions, *, download: bool = True) -> Dataset:
    from genzoo.data.dataset import load_dataset

    real = load_dataset("mnist", root=root, download=download, scale="unit")
    splits = {}
    for i, (k, seed) in enumerate((("train", opts.seed), ("test", opts.seed + 1))):
        x = real.split(k).x
        x = x[torch.from_numpy(np.random.default_rng(SHUFFLE_SEED + i).permutation(len(x)))]  # no pairing
        images, labels = rendered_split(len(x), seed=seed, elastic=opts.elastic, bold=opts.bold)
        splits[k] = Split(x.contiguous(), None, {"source": torch.from_numpy(images).float() / 255.0,
                                                 "source_y": torch.from_numpy(labels)})
    spec = DataSpec(name="glyph_mnist", kind="image", shape=(1, SIZE, SIZE), value_type="continuous",
                    value_range=(0.0, 1.0),
                    extra={"source_shape": [1, SIZE, SIZE], "paired": False, "pair_kind": "glyphs",
                           "source_classes": 10})
    return Dataset(spec=spec, train=splits["train"], test=splits["test"],
                   info={"seed": opts.seed, "elastic": opts.elastic, "bold": opts.bold, "real": "mnist"})

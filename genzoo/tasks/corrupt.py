"""Corrupted and out-of-domain versions of image data, in the data's own value type.

Used to check metrics (FID must grow with the corruption) and as the outliers of
``genzoo outliers``. Every function takes images ``x`` (N, C, H, W) of ``spec`` and
returns images of the same spec (binary stays 0/1, categorical stays on its levels,
continuous stays in its range), so any model can score them.

* :func:`noise`: Gaussian noise of standard deviation ``sigma`` on the [-1, 1] scale;
* :func:`blur`: a box blur of ``radius`` pixels;
* :func:`invert`: black and white swapped;
* :func:`shift`: moved by ``pixels`` right and down, background filled in;
* :func:`glyphs`: letters and signs rendered from a font (PIL's built-in bitmap font,
  scaled to the image size): out-of-domain "characters" that are not digits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genzoo.data.spec import DataSpec
from genzoo.nn.values import from_unit, to_unit


def _back(u: torch.Tensor, spec: DataSpec, g: torch.Generator | None) -> torch.Tensor:
    # binary data is thresholded (not sampled) so a corruption is a fixed set of images
    return from_unit(u.clamp(-1, 1), spec, generator=g, stochastic=False)


def noise(x: torch.Tensor, spec: DataSpec, sigma: float, *, seed: int = 0) -> torch.Tensor:
    """Add N(0, sigma^2) noise on the [-1, 1] scale."""
    g = torch.Generator().manual_seed(seed)
    u = to_unit(x, spec)
    return _back(u + sigma * torch.randn(u.shape, generator=g), spec, g)


def blur(x: torch.Tensor, spec: DataSpec, radius: int) -> torch.Tensor:
    """Box blur over a (2 radius + 1)^2 window (edges padded with the background)."""
    if radius <= 0:
        return x.clone()
    u = to_unit(x, spec)
    k = 2 * radius + 1
    padded = F.pad(u, (radius,) * 4, value=-1.0)
    return _back(F.avg_pool2d(padded, k, stride=1), spec, None)


def invert(x: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    """Swap ink and background."""
    return _back(-to_unit(x, spec), spec, None)


def shift(x: torch.Tensor, spec: DataSpec, pixels: int) -> torch.Tensor:
    """Move every image ``pixels`` right and down (background enters at the top left)."""
    u = to_unit(x, spec)
    out = torch.full_like(u, -1.0)
    H, W = u.shape[-2:]
    p = min(pixels, H, W)
    out[..., p:, p:] = u[..., :H - p, :W - p]
    return _back(out, spec, None)


GLYPHS = "ABCDEFGHJKLMNPQRSTUVWXYZabdefghknqrtuy#%&@?+*$"


def glyphs(spec: DataSpec, n: int, *, seed: int = 0) -> torch.Tensor:
    """``n`` images of letters and signs (not digits) drawn from PIL's built-in font, each
    scaled to fill most of the image and moved by a random offset."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    C, H, W = spec.shape
    font = ImageFont.load_default()
    g = torch.Generator().manual_seed(seed)
    cells = []
    for _ in range(n):
        ch = GLYPHS[int(torch.randint(len(GLYPHS), (1,), generator=g))]
        canvas = Image.new("L", (16, 16), 0)
        ImageDraw.Draw(canvas).text((4, 2), ch, fill=255, font=font)
        box = canvas.getbbox() or (0, 0, 16, 16)
        glyph = canvas.crop(box)
        size = max(2, int(round(0.7 * min(H, W))))
        gw = max(1, round(size * glyph.width / max(glyph.height, 1)))
        glyph = glyph.resize((min(gw, W), size), Image.BILINEAR)
        img = Image.new("L", (W, H), 0)
        dx = int(torch.randint(0, W - glyph.width + 1, (1,), generator=g))
        dy = int(torch.randint(0, H - glyph.height + 1, (1,), generator=g))
        img.paste(glyph, (dx, dy))
        cells.append(np.asarray(img, dtype=np.float32) / 255.0)
    u = torch.from_numpy(np.stack(cells))[:, None].expand(n, C, H, W) * 2 - 1  # (n, C, H, W) in [-1, 1]
    return _back(u.contiguous(), spec, None)

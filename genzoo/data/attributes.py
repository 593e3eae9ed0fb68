"""Attributes measured on digit images: stroke thickness and slant.

Both work on *ink* maps, intensities in [0, 1] with the background at 0 (MNIST's
convention; a caller maps other value types there first, e.g. ``(to_unit(x) + 1) / 2``),
of shape (B, H, W) or (B, 1, H, W), and return one number per image (B,).

* ``thickness``: the mean stroke width in pixels, ``2 * area / perimeter`` with the area
  the total ink and the perimeter the total variation of the ink (the summed gradient
  magnitude, which is the length of the outline for a sharp shape). A stroke of width w
  and length L >> w has area w L and outline 2 L, hence w. Like Morpho-MNIST's thickness
  (Castro et al. 2019) it grows with the pen, but needs no skeleton.
* ``slant``: the shear of the digit in degrees from the second image moments,
  ``atan(-mu11 / mu02)`` with y pointing down: positive when the top of the digit leans
  right (the angle that deskewing removes).

The latent arithmetic of ``genzoo interpolate --attribute`` finds attribute directions
with them; captioning digits can use the same numbers.
"""

from __future__ import annotations

import math

import torch


def _ink(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W) float ink; (B, 1, H, W) is squeezed."""
    if x.dim() == 4:
        if x.shape[1] != 1:
            raise ValueError(f"digit attributes need one-channel images, got {x.shape[1]} channels")
        x = x[:, 0]
    if x.dim() != 3:
        raise ValueError(f"expected (B, H, W) or (B, 1, H, W) ink maps, got shape {tuple(x.shape)}")
    return x.float().clamp(0.0, 1.0)


def thickness(x: torch.Tensor) -> torch.Tensor:
    """Mean stroke width in pixels, ``2 * sum(ink) / sum(|grad ink|)``: (B,)."""
    ink = _ink(x)
    padded = torch.nn.functional.pad(ink, (1, 1, 1, 1))  # the outline at the image border counts too
    dx = padded[:, 1:, 1:] - padded[:, 1:, :-1]  # (B, H+1, W+1) forward differences
    dy = padded[:, 1:, 1:] - padded[:, :-1, 1:]
    perimeter = torch.sqrt(dx ** 2 + dy ** 2).flatten(1).sum(1)
    return 2.0 * ink.flatten(1).sum(1) / perimeter.clamp_min(1e-6)


def slant(x: torch.Tensor) -> torch.Tensor:
    """Shear angle in degrees, positive when the digit leans right: (B,)."""
    ink = _ink(x)
    _, h, w = ink.shape
    ys = torch.arange(h, dtype=ink.dtype).view(1, h, 1)
    xs = torch.arange(w, dtype=ink.dtype).view(1, 1, w)
    mass = ink.flatten(1).sum(1).clamp_min(1e-6).view(-1, 1, 1)
    cy, cx = (ink * ys).sum((1, 2), keepdim=True) / mass, (ink * xs).sum((1, 2), keepdim=True) / mass
    mu11 = (ink * (xs - cx) * (ys - cy)).sum((1, 2))
    mu02 = (ink * (ys - cy) ** 2).sum((1, 2)).clamp_min(1e-6)
    return torch.atan(-mu11 / mu02) * (180.0 / math.pi)


#: name -> (measure, unit)
ATTRIBUTES = {"thickness": (thickness, "px"), "slant": (slant, "degrees")}


def measure(name: str, ink: torch.Tensor) -> torch.Tensor:
    """The attribute ``name`` of ``ink`` (B,); a KeyError names the known ones."""
    if name not in ATTRIBUTES:
        raise KeyError(f"unknown attribute {name!r}: {', '.join(ATTRIBUTES)}")
    return ATTRIBUTES[name][0](ink)

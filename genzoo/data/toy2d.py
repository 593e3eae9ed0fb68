"""Synthetic 2-D point clouds for density estimation and mode-coverage checks.

``ring`` (8 Gaussians on the unit circle, sigma 0.01) and ``grid`` (25 Gaussians on
{-4,-2,0,2,4}^2, sigma 0.05) carry their modes and sigma in ``spec.extra`` and the mode
index as the label, so mode coverage and sample quality can be measured exactly. The
other shapes (moons, swissroll, checkerboard, spirals) are unlabelled. Data is a pure
function of (shape, n_train, n_test, seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from genzoo.config import choice, positive
from genzoo.data.dataset import Dataset, Split, register_dataset
from genzoo.data.spec import DataSpec

SHAPES = ("ring", "grid", "moons", "swissroll", "checkerboard", "spirals")

# Fixed per-shape boxes (value_range is (-b, b)); points are clipped into them, which
# only matters for Gaussian tails tens of sigma out.
BOUNDS = {"ring": 1.5, "grid": 5.0, "moons": 4.0, "swissroll": 4.0, "checkerboard": 4.0, "spirals": 4.0}


@dataclass
class Toy2dOptions:
    """Toy 2-D options.

    Args:
        shape: ring, grid, moons, swissroll, checkerboard or spirals.
        n_train: training points.
        n_test: test points.
        seed: generator seed (the data is a pure function of the options).
    """

    shape: Literal["ring", "grid", "moons", "swissroll", "checkerboard", "spirals"] = "ring"
    n_train: int = 10000
    n_test: int = 2000
    seed: int = 0

    def validate(self) -> None:
        choice(self.shape, SHAPES, "shape")
        positive(self.n_train, "n_train")
        positive(self.n_test, "n_test")


def ring_modes() -> np.ndarray:
    a = 2 * math.pi * np.arange(8) / 8
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def grid_modes() -> np.ndarray:
    v = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    gx, gy = np.meshgrid(v, v, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def _mixture(rng: np.random.Generator, n: int, modes: np.ndarray, sigma: float):
    idx = rng.integers(0, len(modes), size=n)
    return modes[idx] + sigma * rng.standard_normal((n, 2)), idx


def _moons(rng: np.random.Generator, n: int) -> np.ndarray:
    upper = rng.random(n) < 0.5
    t = math.pi * rng.random(n)
    x = np.where(upper, np.cos(t), 1.0 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    pts = np.stack([x - 0.5, y - 0.25], axis=1) * 2.0
    return pts + 0.1 * rng.standard_normal((n, 2))


def _swissroll(rng: np.random.Generator, n: int) -> np.ndarray:
    t = 1.5 * math.pi * (1.0 + 2.0 * rng.random(n))
    pts = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 5.0
    return pts + 0.1 * rng.standard_normal((n, 2))


def _checkerboard(rng: np.random.Generator, n: int) -> np.ndarray:
    x1 = rng.random(n) * 4.0 - 2.0
    x2 = rng.random(n) - 2.0 * rng.integers(0, 2, size=n)
    x2 = x2 + np.floor(x1) % 2
    return np.stack([x1, x2], axis=1) * 2.0


def _spirals(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.sqrt(rng.random(n)) * 3.0 * math.pi
    arm = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    pts = np.stack([-np.cos(t) * t, np.sin(t) * t], axis=1) * arm[:, None] / 3.0
    return pts + 0.1 * rng.standard_normal((n, 2))


def sample_toy2d(shape: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` points of ``shape`` (and mode labels for ring / grid)."""
    if shape == "ring":
        return _mixture(rng, n, ring_modes(), 0.01)
    if shape == "grid":
        return _mixture(rng, n, grid_modes(), 0.05)
    fn = {"moons": _moons, "swissroll": _swissroll, "checkerboard": _checkerboard, "spirals": _spirals}[shape]
    return fn(rng, n), None


@register_dataset("toy2d", Toy2dOptions,
                  "synthetic 2-D points (ring, grid, moons, swissroll, checkerboard, spirals), "
                  "continuous; options shape, n_train, n_test, seed")
def load_toy2d(root: Path | None, opts: Toy2dOptions, *, download: bool = True) -> Dataset:
    rng = np.random.default_rng(opts.seed)
    b = BOUNDS[opts.shape]
    pts, labels = sample_toy2d(opts.shape, opts.n_train + opts.n_test, rng)
    pts = np.clip(pts, -b, b).astype(np.float32)
    x = torch.from_numpy(pts)
    y = torch.from_numpy(labels.astype(np.int64)) if labels is not None else None
    extra: dict = {"shape": opts.shape}
    num_classes = None
    if opts.shape in ("ring", "grid"):
        modes = ring_modes() if opts.shape == "ring" else grid_modes()
        extra.update(modes=modes.tolist(), sigma=0.01 if opts.shape == "ring" else 0.05)
        num_classes = len(modes)
    spec = DataSpec(name="toy2d", kind="vector", shape=(2,), value_type="continuous",
                    value_range=(-b, b), num_classes=num_classes, extra=extra)
    n = opts.n_train

    def part(a: torch.Tensor | None, s: slice) -> torch.Tensor | None:
        return None if a is None else a[s].clone()

    return Dataset(spec=spec, train=Split(x[:n].clone(), part(y, slice(None, n))),
                   test=Split(x[n:].clone(), part(y, slice(n, None))),
                   info={"shape": opts.shape, "seed": opts.seed})

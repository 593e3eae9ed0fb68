"""Shared image options and the conversion of raw grey levels to tensors.

Every image dataset stores raw integer pixels with ``K`` levels (MNIST: 256, digits: 17)
and turns them into model-ready tensors here, so that ``--set data.scale=unit`` or
``--set data.binarize=dynamic`` means the same thing for every dataset:

* ``scale=levels``      categorical(K): the raw integer level, int64 in ``[0, K)``
* ``scale=unit``        continuous float32 in ``[0, 1]`` (level / (K - 1))
* ``scale=symmetric``   continuous float32 in ``[-1, 1]``
* ``binarize=threshold`` binary: 1.0 where level >= (K - 1) / 2, else 0.0
* ``binarize=dynamic``  binary: the stored tensor holds probabilities level / (K - 1),
  and the dataset's per-batch transform draws a fresh Bernoulli sample each batch
  from the trainer's seeded generator (so runs stay reproducible).

``binarize`` (when not ``none``) overrides ``scale``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from genzoo.config import choice
from genzoo.data.dataset import BatchTransform

BINARIZE_CHOICES = ("none", "dynamic", "threshold")
SCALE_CHOICES = ("levels", "unit", "symmetric")


@dataclass
class ImageOptions:
    """Options shared by the image datasets.

    Args:
        binarize: ``none``, ``dynamic`` (fresh Bernoulli sample per batch) or
            ``threshold`` (level >= half the top level); overrides ``scale``.
        scale: ``levels`` (categorical grey levels), ``unit`` ([0, 1]) or
            ``symmetric`` ([-1, 1]).
    """

    binarize: Literal["none", "dynamic", "threshold"] = "none"
    scale: Literal["levels", "unit", "symmetric"] = "levels"

    def validate(self) -> None:
        choice(self.binarize, BINARIZE_CHOICES, "binarize")
        choice(self.scale, SCALE_CHOICES, "scale")


def dynamic_binarize(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Bernoulli sample of probabilities ``x`` drawn with generator ``g`` (float 0/1)."""
    u = torch.rand(x.shape, generator=g, device=g.device)
    return (u.to(x.device) < x).to(torch.float32)


def prepare_images(raw: np.ndarray | torch.Tensor, levels: int, opts: ImageOptions
                   ) -> tuple[torch.Tensor, dict[str, Any], BatchTransform | None]:
    """Turn raw integer images into tensors following ``opts``.

    Args:
        raw: integer images (N, C, H, W) with values in ``[0, levels)``.
        levels: K, the number of grey levels (256 for 8-bit images).
        opts: the binarize / scale options.

    Returns:
        ``(x, spec_fields, transform)``: the stored tensor, the DataSpec fields
        (``value_type``, ``num_values``, ``value_range``) and the per-batch transform
        (only for dynamic binarization, else None).
    """
    if levels < 2:
        raise ValueError(f"images need at least 2 levels, got {levels}")
    if isinstance(raw, torch.Tensor):
        t = raw
    else:
        a = np.asarray(raw)
        if a.dtype.kind not in "iub":
            raise ValueError("raw images must hold integer levels")
        t = torch.from_numpy(a.astype(np.int64))  # a writable copy (IDX buffers are read-only)
    if t.dim() != 4:
        raise ValueError(f"expected raw images of shape (N, C, H, W), got {tuple(t.shape)}")
    if t.is_floating_point():
        raise ValueError("raw images must hold integer levels")
    t = t.to(torch.int64)
    top = levels - 1
    if opts.binarize == "dynamic":
        x = t.to(torch.float32) / top
        return x, {"value_type": "binary", "num_values": 2, "value_range": None}, dynamic_binarize
    if opts.binarize == "threshold":
        x = (2 * t >= top).to(torch.float32)
        return x, {"value_type": "binary", "num_values": 2, "value_range": None}, None
    if opts.scale == "levels":
        return t.contiguous(), {"value_type": "categorical", "num_values": levels, "value_range": None}, None
    x = t.to(torch.float32) / top
    if opts.scale == "unit":
        return x, {"value_type": "continuous", "num_values": None, "value_range": (0.0, 1.0)}, None
    x = x * 2.0 - 1.0
    return x, {"value_type": "continuous", "num_values": None, "value_range": (-1.0, 1.0)}, None

"""Small helpers shared by the model tests."""

from __future__ import annotations

import torch

from genzoo.data.spec import DataSpec


def random_batch(spec: DataSpec, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` random examples of ``spec`` in its own value type (seeded)."""
    g = torch.Generator().manual_seed(seed)
    if spec.value_type == "continuous":
        lo, hi = spec.value_range
        return lo + (hi - lo) * torch.rand(n, *spec.shape, generator=g)
    if spec.value_type == "binary":
        return torch.randint(0, 2, (n, *spec.shape), generator=g).float()
    return torch.randint(0, spec.num_values, (n, *spec.shape), generator=g)

"""Map data of any value type to network inputs in [-1, 1] and back.

Networks want centred real inputs, while genzoo data is binary, categorical (K ordered
levels) or continuous in a range (see :mod:`genzoo.data.spec`). One linear map covers all
three: level ``k`` of K sits at ``2k / (K - 1) - 1`` (binary is K = 2) and a continuous
range ``[lo, hi]`` maps onto ``[-1, 1]``. :func:`from_unit` goes back into the data's own
space and dtype, drawing binary values with the caller's generator.
"""

from __future__ import annotations

import torch

from genzoo.data.spec import DataSpec
from genzoo.nn import rand


def num_levels(spec: DataSpec) -> int | None:
    """K for binary (2) and categorical data; None for continuous data."""
    if spec.value_type == "binary":
        return 2
    if spec.value_type == "categorical":
        return int(spec.num_values)  # type: ignore[arg-type]
    return None


def level_centers(k: int, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """Where the K ordered levels sit in [-1, 1]: ``(K,)`` evenly spaced, ends included."""
    return torch.linspace(-1.0, 1.0, k, device=device)


def to_unit(x: torch.Tensor, spec: DataSpec) -> torch.Tensor:
    """Data in its own space -> float32 in [-1, 1], same shape."""
    if spec.value_type == "continuous":
        lo, hi = spec.value_range  # type: ignore[misc]
        return (x.float() - lo) * (2.0 / (hi - lo)) - 1.0
    k = num_levels(spec)
    assert k is not None
    return x.float() * (2.0 / max(k - 1, 1)) - 1.0


def from_unit(u: torch.Tensor, spec: DataSpec, *, generator: torch.Generator | None = None,
              stochastic: bool = True) -> torch.Tensor:
    """Values in [-1, 1] -> the data's own space and dtype (inverse of :func:`to_unit`).

    Binary data is drawn as ``bernoulli((u + 1) / 2)`` with ``generator`` (or thresholded
    at 0 when ``stochastic`` is False); categorical data is rounded to the nearest level;
    continuous data is mapped linearly and clamped to the value range.
    """
    p = ((u.float() + 1.0) / 2.0).clamp(0.0, 1.0)
    if spec.value_type == "binary":
        return rand.bernoulli(p, generator=generator) if stochastic else (p > 0.5).float()
    if spec.value_type == "categorical":
        k = int(spec.num_values)  # type: ignore[arg-type]
        return torch.round(p * (k - 1)).long().clamp(0, k - 1)
    lo, hi = spec.value_range  # type: ignore[misc]
    return (lo + p * (hi - lo)).clamp(lo, hi)

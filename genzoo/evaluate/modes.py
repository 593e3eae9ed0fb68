"""Mode coverage: how many modes of a known mixture a model's samples reach.

Toy 2-D mixtures (the protocol of VEEGAN, Srivastava et al. 2017, used by PacGAN, Lin
et al. 2018): a sample is *high quality* when it lies within ``3 sigma`` of its nearest
mode; a mode is *covered* when at least ``min_count`` high-quality samples have it as
their nearest mode; the *reverse KL* is ``KL(q || p)`` between the histogram q of the
high-quality samples over the modes and the true mode weights p (uniform), in nats
(0 log 0 = 0; infinite when no sample is of high quality).

Stacked MNIST (1,000 modes, PacGAN's protocol): a mode is the triple of digits of the
three channels, read by the MNIST feature network; we report the modes with at least one
sample and ``KL(q || uniform)`` of the triple histogram.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from genzoo.errors import GenzooError


def _reverse_kl(counts: torch.Tensor, p: torch.Tensor) -> float:
    total = float(counts.sum())
    if total == 0:
        return math.inf
    q = counts.double() / total
    seen = q > 0
    return float((q[seen] * (q[seen].log() - p[seen].log())).sum())


def mixture_modes(samples: torch.Tensor, modes: torch.Tensor, sigma: float, *, min_count: int = 1,
                  weights: torch.Tensor | None = None) -> dict[str, Any]:
    """Mode coverage of ``samples`` (N, d) for a mixture with ``modes`` (M, d) and equal
    isotropic ``sigma``: ``modes_covered``, ``high_quality`` (fraction), ``reverse_kl``,
    ``counts`` (high-quality samples per mode) and the settings."""
    x = torch.as_tensor(samples).double()
    mu = torch.as_tensor(modes).double()
    if x.dim() != 2 or mu.dim() != 2 or x.shape[1] != mu.shape[1]:
        raise GenzooError(f"samples {tuple(x.shape)} and modes {tuple(mu.shape)} must be (N, d) and (M, d)")
    if len(x) == 0:
        raise GenzooError("no samples to count modes on")
    d, nearest = torch.cdist(x, mu).min(1)  # (N,)
    good = d <= 3 * sigma
    counts = torch.bincount(nearest[good], minlength=len(mu))
    p = torch.full((len(mu),), 1.0 / len(mu), dtype=torch.float64) if weights is None else \
        torch.as_tensor(weights).double() / float(torch.as_tensor(weights).sum())
    return {"modes_covered": int((counts >= min_count).sum()), "modes_total": len(mu),
            "high_quality": float(good.double().mean()), "reverse_kl": _reverse_kl(counts, p),
            "counts": counts.tolist(), "samples": len(x), "rule": f"within 3 sigma (sigma={sigma:g})",
            "min_count": min_count}


def toy2d_modes(samples: torch.Tensor, spec: Any, *, min_count: int = 1) -> dict[str, Any]:
    """Mode coverage for a ``toy2d`` ring or grid spec (its modes and sigma are in ``spec.extra``)."""
    extra = getattr(spec, "extra", {}) or {}
    if "modes" not in extra:
        raise GenzooError(f"mode counts need a dataset with known modes (toy2d ring or grid); "
                          f"{getattr(spec, 'name', spec)!r} has none")
    return mixture_modes(samples, torch.tensor(extra["modes"]), float(extra["sigma"]), min_count=min_count)


def stacked_modes(digit_probs: torch.Tensor) -> dict[str, Any]:
    """Mode counts of stacked MNIST from class probabilities (N, 3, 10) of each channel:
    ``modes_covered`` of 1,000 and ``kl_to_uniform`` of the triple histogram (nats)."""
    p = torch.as_tensor(digit_probs)
    if p.dim() != 3 or p.shape[1:] != (3, 10):
        raise GenzooError(f"stacked MNIST mode counts need (N, 3, 10) digit probabilities, got {tuple(p.shape)}")
    digits = p.argmax(-1)  # (N, 3)
    mode = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    counts = torch.bincount(mode, minlength=1000)
    return {"modes_covered": int((counts > 0).sum()), "modes_total": 1000,
            "kl_to_uniform": _reverse_kl(counts, torch.full((1000,), 1e-3, dtype=torch.float64)),
            "samples": len(p)}

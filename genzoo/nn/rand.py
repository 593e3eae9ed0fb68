"""Seeded random draws that work for models on any device.

Sampling takes a CPU ``torch.Generator`` (or None for the global RNG). Noise is drawn
on the CPU and moved, so a seed gives the same samples on CPU and GPU.
"""

from __future__ import annotations

import torch


def randn(*shape: int, generator: torch.Generator | None = None,
          device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard normal noise of ``shape`` on ``device``."""
    return torch.randn(*shape, generator=generator).to(device)


def rand(*shape: int, generator: torch.Generator | None = None,
         device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniform [0, 1) noise of ``shape`` on ``device``."""
    return torch.rand(*shape, generator=generator).to(device)


def bernoulli(p: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """0/1 float draws with probabilities ``p``."""
    u = torch.rand(p.shape, generator=generator).to(p.device)
    return (u < p).to(p.dtype)


def categorical(logits: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw indices from ``logits`` (..., K) by the Gumbel-max trick; returns int64 (...)."""
    u = torch.rand(logits.shape, generator=generator, dtype=torch.float64).to(logits.device)
    neg_log_u = (-torch.log(u.clamp_min(1e-300))).clamp_min(1e-300)  # Exp(1) draws, > 0
    gumbel = -torch.log(neg_log_u)
    return (logits.double() + gumbel).argmax(-1)

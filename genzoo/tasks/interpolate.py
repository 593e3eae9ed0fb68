"""Walks through a model's latent space: interpolation and latent arithmetic.

Linear interpolation ``(1 - t) z0 + t z1`` and spherical interpolation (slerp, White
2016, "Sampling Generative Networks"), which keeps the path at the typical radius of a
Gaussian prior, between two encoded test images or two random prior codes. Latent
arithmetic on class means: ``z(x) - mean_z(class of x) + mean_z(class c)`` re-draws an
image as another class ("analogies").
"""

from __future__ import annotations

import torch

from genzoo.errors import GenzooError
from genzoo.models.base import GenerativeModel


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(B, D), (B, D), (T,) -> (B, T, D) points on the straight line."""
    t = t.view(1, -1, 1)
    return (1 - t) * z0.unsqueeze(1) + t * z1.unsqueeze(1)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(B, D), (B, D), (T,) -> (B, T, D) points on the great circle (falls back to lerp
    when the two codes are nearly parallel)."""
    n0, n1 = z0.norm(dim=-1, keepdim=True), z1.norm(dim=-1, keepdim=True)
    cos = ((z0 * z1).sum(-1, keepdim=True) / (n0 * n1).clamp_min(1e-12)).clamp(-1 + 1e-7, 1 - 1e-7)
    omega = torch.acos(cos).unsqueeze(1)  # (B, 1, 1)
    t = t.view(1, -1, 1)
    so = torch.sin(omega)
    out = (torch.sin((1 - t) * omega) * z0.unsqueeze(1) + torch.sin(t * omega) * z1.unsqueeze(1)) / so
    near = (so.abs() < 1e-4).expand_as(out)
    return torch.where(near, lerp(z0, z1, t.view(-1)), out)


def _decode(model: GenerativeModel, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
    kw = {} if condition is None else {"condition": condition.to(model.device)}
    with torch.no_grad():
        return model.decode(z.to(model.device), **kw).cpu()


def interpolation(model: GenerativeModel, z0: torch.Tensor, z1: torch.Tensor, *, steps: int,
                  mode: str = "slerp", condition: torch.Tensor | None = None) -> torch.Tensor:
    """Decoded paths: (B, steps, *shape). A conditional model decodes row i with label
    ``condition[i]``."""
    model.require("decode")
    if steps < 2:
        raise GenzooError("--steps must be >= 2")
    t = torch.linspace(0, 1, steps)
    if mode not in ("linear", "slerp"):
        raise GenzooError(f"bad interpolation mode {mode!r}: linear or slerp")
    path = (lerp if mode == "linear" else slerp)(z0, z1, t)  # (B, T, D)
    b, s, d = path.shape
    cond = None if condition is None else condition.repeat_interleave(s)
    return _decode(model, path.reshape(b * s, d), cond).reshape(b, s, *model.spec.shape)


def encode(model: GenerativeModel, x: torch.Tensor, batch_size: int = 512,
           condition: torch.Tensor | None = None) -> torch.Tensor:
    """Mean codes of ``x``: (N, D) (given labels ``condition`` for a conditional model)."""
    model.require("encode")
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            kw = {} if condition is None else {"condition": condition[i:i + batch_size].to(model.device)}
            out.append(model.encode(x[i:i + batch_size].to(model.device), **kw).cpu())
    return torch.cat(out)


def class_means(codes: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, D) mean code per class (classes absent from the data give NaN rows)."""
    means = torch.full((num_classes, codes.shape[1]), float("nan"))
    for c in range(num_classes):
        sel = labels == c
        if sel.any():
            means[c] = codes[sel].mean(0)
    return means


def analogies(model: GenerativeModel, x: torch.Tensor, y: torch.Tensor, means: torch.Tensor | None) -> torch.Tensor:
    """Each row: image i re-drawn as every class c: (B, K, *shape).

    An unconditional model moves the code by the difference of class means; a
    conditional model keeps the code (the "style") and changes the label it decodes with.
    """
    if model.has("conditional"):
        k = model.spec.num_classes
        z = encode(model, x, condition=y)  # (B, D)
        b, d = z.shape
        labels = torch.arange(k).repeat(b)
        return _decode(model, z.repeat_interleave(k, 0), labels).reshape(b, k, *model.spec.shape)
    z = encode(model, x)  # (B, D)
    shifted = z.unsqueeze(1) - means[y].unsqueeze(1) + means.unsqueeze(0)  # (B, K, D)
    b, k, d = shifted.shape
    return _decode(model, shifted.reshape(b * k, d)).reshape(b, k, *model.spec.shape)

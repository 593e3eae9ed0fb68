"""Walks through a model's latent space: interpolation and latent arithmetic.

Linear interpolation ``(1 - t) z0 + t z1`` and spherical interpolation (slerp, White
2016, "Sampling Generative Networks"), which keeps the path at the typical radius of a
Gaussian prior, between the codes of two test images or two random prior codes. Latent
arithmetic on class means: ``z(x) - mean_z(class of x) + mean_z(class c)`` re-draws an
image as another class ("analogies"); a conditional model keeps the code and swaps the
label. Attribute vectors (thickness, slant) are in :mod:`genzoo.tasks.latent_attributes`.

The code of an image comes from the model's encoder, or, for a GAN (no encoder), from
GAN inversion (:func:`codes_of`): the code whose G(z) best matches the image, found by
gradient steps on z (Radford et al. 2016 walk the space of G the same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def decode_codes(model: GenerativeModel, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
    """Codes (N, D) -> data (N, *shape) on the CPU (labels ``condition`` for a conditional model)."""
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
    return decode_codes(model, path.reshape(b * s, d), cond).reshape(b, s, *model.spec.shape)


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


#: labelled training images per class whose codes a GAN finds by inversion for class means
INVERT_PER_CLASS = 10


def codes_of(model: GenerativeModel, x: torch.Tensor, condition: torch.Tensor | None = None, *,
             invert_steps: int = 300, seed: int = 0, batch_size: int = 512) -> torch.Tensor:
    """Codes (N, D) of ``x``: the encoder's mean codes, or for a model that can only
    ``invert`` (a GAN) the codes found by ``invert_steps`` steps of GAN inversion from
    seeded starts; ``condition``: the labels of a conditional model."""
    if model.has("encode") or not model.has("invert"):
        return encode(model, x, batch_size=batch_size, condition=condition)
    if invert_steps < 1:
        raise GenzooError("--invert-steps must be >= 1")
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, len(x), batch_size):
        y = None if condition is None else condition[i:i + batch_size].to(model.device)
        out.append(model.find_codes(x[i:i + batch_size], labels=y, generator=g, steps=invert_steps).cpu())
    return torch.cat(out)


def per_class_subset(y: torch.Tensor, per_class: int, num_classes: int, seed: int = 0) -> torch.Tensor:
    """Indices of up to ``per_class`` seeded random examples of each class."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=g)
    return torch.cat([order[y[order] == c][:per_class] for c in range(num_classes)])


def class_means(codes: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, D) mean code per class (classes absent from the data give NaN rows)."""
    means = torch.full((num_classes, codes.shape[1]), float("nan"))
    for c in range(num_classes):
        sel = labels == c
        if sel.any():
            means[c] = codes[sel].mean(0)
    return means


def analogies(model: GenerativeModel, x: torch.Tensor, y: torch.Tensor, means: torch.Tensor | None,
              *, invert_steps: int = 300, seed: int = 0) -> torch.Tensor:
    """Each row: image i re-drawn as every class c: (B, K, *shape).

    An unconditional model moves the code by the difference of class means; a
    conditional model keeps the code (the "style") and changes the label it decodes with.
    """
    if model.has("conditional"):
        k = model.spec.num_classes
        z = codes_of(model, x, y, invert_steps=invert_steps, seed=seed)  # (B, D)
        b, d = z.shape
        labels = torch.arange(k).repeat(b)
        return decode_codes(model, z.repeat_interleave(k, 0), labels).reshape(b, k, *model.spec.shape)
    z = codes_of(model, x, invert_steps=invert_steps, seed=seed)  # (B, D)
    shifted = z.unsqueeze(1) - means[y].unsqueeze(1) + means.unsqueeze(0)  # (B, K, D)
    b, k, d = shifted.shape
    return decode_codes(model, shifted.reshape(b * k, d)).reshape(b, k, *model.spec.shape)


@dataclass
class Interpolation:
    """What ``genzoo interpolate`` draws: ``grid`` (rows, columns, *shape) in the data's
    space, a sentence saying what the rows are, and a short tag for the file name."""

    grid: torch.Tensor
    what: str
    tag: str
    #: measured numbers (attribute walks), written beside the picture as JSON
    numbers: dict[str, Any] | None = None
    #: lines of a table of the numbers, printed under ``what``
    table: list[str] | None = None


def interpolate_run(loaded: Any, *, mode: str = "slerp", steps: int = 10, pairs: int = 6, random: bool = False,
                    arithmetic: bool = False, seed: int = 0, invert_steps: int = 300) -> Interpolation:
    """Latent walks of a trained run (a :class:`genzoo.run.LoadedRun`): between the codes
    of test images (first and last columns: the originals, then their decodings at the
    ends of the path; a GAN finds the codes by ``invert_steps`` steps of inversion),
    between random prior codes (``random``), or each test image re-drawn as every class
    (``arithmetic``)."""
    from genzoo.run import load_data

    model, spec = loaded.model, loaded.spec
    check_walkable(model, spec, pairs)
    g = torch.Generator().manual_seed(seed)
    codes = {"invert_steps": invert_steps, "seed": seed}
    how = " (codes by GAN inversion)" if not model.has("encode") else ""
    if arithmetic:
        if not spec.num_classes:
            raise GenzooError(f"latent arithmetic needs labelled data; {spec.name!r} has no labels")
        data = load_data(loaded.config, download=False)
        train, test = data.fixed("train"), data.fixed("test")
        means = None
        if not model.has("conditional"):
            idx = torch.arange(len(train)) if model.has("encode") else per_class_subset(
                train.y, INVERT_PER_CLASS, spec.num_classes, seed)
            means = class_means(codes_of(model, train.x[idx], **codes), train.y[idx], spec.num_classes)
        pick = torch.randperm(len(test), generator=g)[:pairs]
        rows = analogies(model, test.x[pick], test.y[pick], means, **codes)
        if model.has("conditional"):
            what = "style kept, label swapped: each row is a test image, then its code decoded as class"
        else:
            what = "latent arithmetic: each row is a test image, then z - mean(its class) + mean(class c) for c ="
        return Interpolation(torch.cat([test.x[pick].unsqueeze(1), rows], dim=1),  # original, then each class
                             f"{what} 0..{spec.num_classes - 1}{how}", "arithmetic")
    labels = None
    if random:
        d = latent_dim(model)
        z0, z1 = torch.randn(pairs, d, generator=g), torch.randn(pairs, d, generator=g)
        if model.has("conditional"):  # one random label per row
            labels = torch.randint(0, spec.num_classes, (pairs,), generator=g)
        rows = interpolation(model, z0, z1, steps=steps, mode=mode, condition=labels)
        return Interpolation(rows, f"{mode} interpolation between random codes", mode)
    test = load_data(loaded.config, download=False).fixed("test")
    pick = torch.randperm(len(test), generator=g)[: 2 * pairs]
    a, b = test.x[pick[:pairs]], test.x[pick[pairs:]]
    if len(b) < len(a):
        raise GenzooError("not enough test images for that many --pairs")
    if model.has("conditional"):  # each row keeps the label of its first image
        labels = test.y[pick[:pairs]]
    both = codes_of(model, torch.cat([a, b]), None if labels is None else labels.repeat(2), **codes)
    rows = interpolation(model, both[:pairs], both[pairs:], steps=steps, mode=mode, condition=labels)
    return Interpolation(torch.cat([a.unsqueeze(1), rows, b.unsqueeze(1)], dim=1),
                         f"{mode} interpolation between two test images{how} (first and last columns: the "
                         "originals)", mode)


def check_walkable(model: GenerativeModel, spec: Any, pairs: int) -> None:
    """The checks every walk shares: rows, a decoder, image data."""
    if pairs < 1:
        raise GenzooError("--pairs must be >= 1")
    model.require("decode")
    if spec.kind != "image":
        raise GenzooError(f"interpolate draws image grids; {spec.name!r} holds {spec.kind}s")


def latent_dim(model: GenerativeModel) -> int:
    """The size of the model's prior codes (a user error for models without one)."""
    d = int(getattr(model.config, "latent_dim", 0) or 0)
    if not d:
        raise GenzooError(f"model {model.name!r} has no latent_dim; use test images instead of --random")
    return d

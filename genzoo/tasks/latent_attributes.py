"""Attribute vectors in a latent space: "thin 7 - thin + thick" (Radford et al. 2016).

Radford et al. averaged the codes of a few generated images that show a concept and did
arithmetic on the averages. Here the concept is an attribute genzoo measures on digits
(:mod:`genzoo.data.attributes`: stroke thickness, slant):

1. :func:`attribute_direction` decodes ``samples`` prior codes (their codes are known
   exactly), measures the attribute of each image and takes the mean code of the top
   ``share`` minus the mean code of the bottom ``share``: ``v = mean(thick) - mean(thin)``.
2. :func:`measure_along` moves fresh random codes along ``v`` (``z + s v``) and measures
   the attribute of the decoded images at every scale ``s``, beside the same walk along a
   random direction of the same length (the control: how much any step changes it).
3. :func:`attribute_run` draws the grid: each row averages the codes of the three test
   images of one digit with the least of the attribute (a GAN finds them by inversion),
   then decodes ``mean code + s v`` for s from 0 to 2; s = 1 is "thin 7 - thin + thick".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from genzoo.data import attributes
from genzoo.errors import GenzooError
from genzoo.models.base import GenerativeModel
from genzoo.nn.values import to_unit
from genzoo.tasks.interpolate import Interpolation, check_walkable, codes_of, decode_codes, latent_dim

SOURCES = 3  # test images whose codes each row averages, as Radford et al.
ENDS = {"thickness": ("thin", "thick"), "slant": ("left-leaning", "right-leaning")}  # words for the two ends
SCALES = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)  # where measure_along measures


def measured(model: GenerativeModel, x: torch.Tensor, name: str) -> torch.Tensor:
    """Attribute ``name`` of images ``x`` in the data's space: (N,)."""
    return attributes.measure(name, (to_unit(x, model.spec) + 1) / 2)


def _decode_measure(model: GenerativeModel, z: torch.Tensor, labels: torch.Tensor | None, name: str,
                    batch_size: int = 500) -> torch.Tensor:
    out = []
    for i in range(0, len(z), batch_size):
        y = None if labels is None else labels[i:i + batch_size]
        out.append(measured(model, decode_codes(model, z[i:i + batch_size], y), name))
    return torch.cat(out)


def _random_labels(model: GenerativeModel, n: int, g: torch.Generator) -> torch.Tensor | None:
    return torch.randint(0, int(model.spec.num_classes), (n,), generator=g) if model.has("conditional") else None


@dataclass
class Direction:
    """An attribute vector: ``vector`` = ``high_mean - low_mean`` (codes, (D,)), and the mean
    attribute of the images whose codes were averaged at either end."""

    name: str
    vector: torch.Tensor
    low_mean: torch.Tensor
    high_mean: torch.Tensor
    low_value: float
    high_value: float
    samples: int
    share: float


def attribute_direction(model: GenerativeModel, name: str, *, samples: int = 2000, share: float = 0.1,
                        seed: int = 0) -> Direction:
    """The mean code of the ``share`` of ``samples`` decoded prior codes with the most of
    attribute ``name`` minus the mean code of the ``share`` with the least (a conditional
    model decodes each code with a random label, so the vector is the classes' average)."""
    if name not in attributes.ATTRIBUTES:
        raise GenzooError(f"unknown attribute {name!r}: {', '.join(attributes.ATTRIBUTES)}")
    if not 0.0 < share <= 0.5:
        raise GenzooError("the share of codes at each end must be in (0, 0.5]")
    k = max(1, int(samples * share))
    if samples < 2 * k:
        raise GenzooError("too few samples to find an attribute direction")
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(samples, latent_dim(model), generator=g)
    a = _decode_measure(model, z, _random_labels(model, samples, g), name)
    order = torch.argsort(a)
    low, high = order[:k], order[-k:]
    lo_mean, hi_mean = z[low].mean(0), z[high].mean(0)
    return Direction(name, hi_mean - lo_mean, lo_mean, hi_mean, float(a[low].mean()), float(a[high].mean()),
                     samples, share)


def measure_along(model: GenerativeModel, vector: torch.Tensor, name: str, *, codes: int = 500,
                  scales: tuple[float, ...] = SCALES, seed: int = 1) -> dict[str, Any]:
    """Mean attribute of G(z + s v) over ``codes`` fresh random codes at each scale s, the
    share of codes whose attribute rises at every step, and the same along a random
    direction of the same length (the control)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(codes, vector.shape[0], generator=g)
    labels = _random_labels(model, codes, g)
    rnd = torch.randn(vector.shape[0], generator=g)
    rnd = rnd * vector.norm() / rnd.norm().clamp_min(1e-12)
    out: dict[str, Any] = {"attribute": name, "unit": attributes.ATTRIBUTES[name][1], "codes": codes,
                           "scales": list(scales), "vector_norm": float(vector.norm())}
    for key, v in (("along", vector), ("random", rnd)):
        a = torch.stack([_decode_measure(model, z + s * v, labels, name) for s in scales], 1)  # (codes, S)
        out[key] = [float(m) for m in a.mean(0)]
        out[f"{key}_rising"] = float((a.diff(dim=1) > 0).all(1).double().mean())
    return out


def attribute_run(loaded: Any, name: str, *, steps: int = 9, pairs: int = 10, seed: int = 0,
                  invert_steps: int = 300, samples: int = 2000) -> Interpolation:
    """The attribute grid of a trained run (rows: digits 0.., ``pairs`` of them at most
    ``num_classes``) and :func:`measure_along`'s numbers."""
    from genzoo.run import load_data

    model, spec = loaded.model, loaded.spec
    check_walkable(model, spec, pairs)
    if steps < 2:
        raise GenzooError("--steps must be >= 2")
    if not spec.num_classes or spec.shape[0] != 1:
        raise GenzooError(f"--attribute measures one-channel labelled digits; {spec.name!r} is {spec.describe}")
    d = attribute_direction(model, name, samples=samples, seed=seed)
    numbers = measure_along(model, d.vector, name, seed=seed + 1)
    test = load_data(loaded.config, download=False).fixed("test")
    a = measured(model, test.x, name)
    classes = list(range(min(pairs, int(spec.num_classes))))
    picks = []
    for c in classes:
        idx = torch.nonzero(test.y == c).flatten()
        if len(idx) < SOURCES:
            raise GenzooError(f"the test split has fewer than {SOURCES} images of class {c}")
        picks.append(idx[torch.argsort(a[idx])[:SOURCES]])  # the least of the attribute
    pick = torch.stack(picks)  # (rows, SOURCES)
    labels = torch.tensor(classes).repeat_interleave(SOURCES) if model.has("conditional") else None
    z = codes_of(model, test.x[pick.flatten()], labels, invert_steps=invert_steps, seed=seed)
    z = z.reshape(len(classes), SOURCES, -1).mean(1)  # (rows, D): averaged codes
    s = torch.linspace(0.0, 2.0, steps)
    path = z.unsqueeze(1) + s.view(1, -1, 1) * d.vector.view(1, 1, -1)  # (rows, steps, D)
    row_labels = torch.tensor(classes).repeat_interleave(steps) if model.has("conditional") else None
    walked = decode_codes(model, path.reshape(-1, path.shape[-1]), row_labels).reshape(len(classes), steps, *spec.shape)
    grid = torch.cat([test.x[pick], walked], 1)
    unit = numbers["unit"]
    low, high = ENDS[name]
    what = (f"{name} vector = mean code of the {high} - of the {low} {d.share:.0%} of {d.samples} samples "
            f"({d.low_value:.2f} vs {d.high_value:.2f} {unit}); each row: the {SOURCES} test images of a digit "
            f"with the least {name}, then G(their mean code + s * vector) for s = 0..2 in {steps} steps "
            f"(s = 1: '{low} digit - {low} + {high}')")
    table = [f"mean {name} of {numbers['codes']} random codes moved along the vector (norm {numbers['vector_norm']:.2f})"
             " and along a random direction of the same norm:",
             "| s | " + " | ".join(f"{v:+.1f}" for v in numbers["scales"]) + " |",
             "|---|" + "---:|" * len(numbers["scales"]),
             f"| {name} vector | " + " | ".join(f"{v:.3f}" for v in numbers["along"]) + " |",
             "| random direction | " + " | ".join(f"{v:.3f}" for v in numbers["random"]) + " |",
             f"rising at every step: {numbers['along_rising']:.1%} of codes along the vector, "
             f"{numbers['random_rising']:.1%} along the random direction ({unit})"]
    numbers.update(low_value=d.low_value, high_value=d.high_value, samples=d.samples, share=d.share,
                   invert_steps=invert_steps if not model.has("encode") else None, seed=seed)
    return Interpolation(grid, what, name, numbers=numbers, table=table)

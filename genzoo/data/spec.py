"""DataSpec: what a dataset yields, so models can refuse what they cannot model.

Tensor conventions, shared by every dataset and model:

* ``binary``       float32 tensor of 0.0 / 1.0
* ``categorical``  int64 tensor with values in ``[0, num_values)``
* ``continuous``   float32 tensor inside ``value_range``
* ``count``        int64 tensor of non-negative counts (bag-of-words vectors: entry v is
  how often word v occurs; ``vocabulary`` names the words). A model's ``"*"`` value
  type does not match ``count``: a model that handles counts lists ``count`` itself.

Images have per-example shape ``(C, H, W)``; sequences ``(T,)``; vectors ``(D,)``; videos
(sequences of frames) ``(T, C, H, W)``. A model's ``"*"`` kind does not match ``video``:
a model that handles frames over time lists ``video`` itself.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

Kind = Literal["image", "sequence", "vector", "video"]
ValueType = Literal["binary", "categorical", "continuous", "count"]


@dataclass(frozen=True)
class DataSpec:
    """Description of one dataset's examples.

    Args:
        name: dataset name, for messages.
        kind: ``image``, ``sequence``, ``vector`` or ``video``.
        shape: shape of one example (``(C, H, W)`` for images, ``(T, C, H, W)`` for videos).
        value_type: ``binary``, ``categorical``, ``continuous`` or ``count``.
        num_values: K for categorical data (2 for binary).
        value_range: (low, high) for continuous data.
        num_classes: number of label classes, or None if unlabelled.
        palette: for categorical images, K RGB triples (0-255) used for rendering;
            None means K evenly spaced grey levels.
        vocabulary: for categorical sequences, the K tokens (strings); for count
            vectors, the word each entry counts.
    """

    name: str
    kind: Kind
    shape: tuple[int, ...]
    value_type: ValueType
    num_values: int | None = None
    value_range: tuple[float, float] | None = None
    num_classes: int | None = None
    palette: tuple[tuple[int, int, int], ...] | None = None
    vocabulary: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.value_type == "binary" and self.num_values is None:
            object.__setattr__(self, "num_values", 2)
        if self.value_type == "categorical" and not self.num_values:
            raise ValueError("categorical DataSpec needs num_values")
        if self.value_type == "continuous" and self.value_range is None:
            raise ValueError("continuous DataSpec needs value_range")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def dim(self) -> int:
        """Number of scalar components in one example (D in bits/dim)."""
        return math.prod(self.shape)

    @property
    def dtype(self) -> torch.dtype:
        return torch.int64 if self.value_type in ("categorical", "count") else torch.float32

    @property
    def describe(self) -> str:
        """Short human description, e.g. ``image (1, 8, 8) categorical(17)``."""
        vt = self.value_type
        if vt == "categorical":
            vt = f"categorical({self.num_values})"
        elif vt == "continuous":
            lo, hi = self.value_range  # type: ignore[misc]
            vt = f"continuous[{lo:g}, {hi:g}]"
        return f"{self.kind} {self.shape} {vt}"

    def check(self, x: torch.Tensor) -> None:
        """Raise ValueError if ``x`` (a batch) does not match this spec."""
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"expected examples of shape {self.shape}, got {tuple(x.shape[1:])}")
        if x.dtype != self.dtype:
            raise ValueError(f"expected dtype {self.dtype}, got {x.dtype}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        d = dict(d)
        d["shape"] = tuple(d["shape"])
        if d.get("value_range") is not None:
            d["value_range"] = tuple(d["value_range"])
        if d.get("palette") is not None:
            d["palette"] = tuple(tuple(c) for c in d["palette"])
        if d.get("vocabulary") is not None:
            d["vocabulary"] = tuple(d["vocabulary"])
        return cls(**d)

    def with_(self, **changes: Any) -> DataSpec:
        d = self.to_dict()
        d.update(changes)
        return DataSpec.from_dict(d)

"""In-memory datasets and the dataset registry.

Every dataset genzoo ships is small enough to hold as tensors, which keeps batching
cheap and makes the data order a pure function of (seed, step): exact resume needs no
loader state. A per-batch random transform (dynamic binarization) receives its own
seeded generator for the same reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genzoo.data.spec import DataSpec
from genzoo.errors import unknown_name

# A per-batch transform: (x, generator) -> x. Runs on the global batch before sharding.
BatchTransform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class Split:
    """One split: examples ``x`` (N, *shape), optional labels ``y`` (N,), and optional
    per-example ``extra`` tensors (N, ...) that travel in every batch under their own key
    (the source image of an image pair: ``extra["source"]``)."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batch(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"x": self.x[index]}
        if self.y is not None:
            out["y"] = self.y[index]
        for k, v in self.extra.items():
            out[k] = v[index]
        return out


@dataclass
class Dataset:
    """A dataset: its spec, its splits, and an optional per-batch random transform.

    ``train`` always exists; ``test`` always exists (carved off with a fixed seed when
    the source has no test split); ``valid`` is optional.
    """

    spec: DataSpec
    train: Split
    test: Split
    valid: Split | None = None
    transform: BatchTransform | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> Split:
        from genzoo.errors import GenzooError

        s = {"train": self.train, "test": self.test, "valid": self.valid}.get(name)
        if s is None:
            raise GenzooError(f"dataset {self.spec.name!r} has no {name!r} split (has: train, test"
                              + (", valid" if self.valid is not None else "") + ")")
        return s

    def fixed(self, split: str = "test", *, seed: int = 0) -> Split:
        """A split with the random transform applied once with a fixed seed (for eval)."""
        s = self.split(split)
        if self.transform is None:
            return s
        g = torch.Generator().manual_seed(seed)
        return Split(self.transform(s.x, g), s.y, s.extra)


def random_rows(x: torch.Tensor, n: int, *, seed: int) -> torch.Tensor:
    """``n`` rows of ``x`` drawn without replacement with ``seed`` (all of ``x``, in order,
    if it has no more). Evaluation draws its real examples this way because some test files
    are ordered by class (binarized MNIST's is), so their first rows are not a sample."""
    if n >= len(x):
        return x
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]]


def genzoo_home() -> Path:
    """Cache directory: ``$GENZOO_HOME`` or ``~/.cache/genzoo``."""
    env = os.environ.get("GENZOO_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genzoo"


# name -> (options dataclass, loader(root, options, download) -> Dataset)
_DATASETS: dict[str, tuple[type, Callable[..., Dataset], str]] = {}


def register_dataset(name: str, options: type, doc: str) -> Callable:
    """Decorator: register ``loader(root: Path | None, opts, *, download: bool) -> Dataset``."""

    def deco(fn: Callable[..., Dataset]) -> Callable[..., Dataset]:
        _DATASETS[name] = (options, fn, doc)
        return fn

    return deco


def _ensure_loaded() -> None:
    # Import the dataset modules lazily so `import genzoo` does no work.
    from genzoo.data import (  # noqa: F401
        binarized_mnist,
        digits,
        documents,
        image_folder,
        mnist,
        music,
        pairs,
        stacked_mnist,
        text,
        toy2d,
    )


def dataset_names() -> list[str]:
    _ensure_loaded()
    return sorted(_DATASETS)


def dataset_entry(name: str) -> tuple[type, Callable[..., Dataset], str]:
    _ensure_loaded()
    if name not in _DATASETS:
        raise unknown_name("dataset", name, _DATASETS)
    return _DATASETS[name]


def load_dataset(name: str, *, root: str | Path | None = None, download: bool = True,
                 **options: Any) -> Dataset:
    """Load a registered dataset by name.

    Args:
        name: registered dataset name (see ``genzoo list datasets``).
        root: directory holding (or receiving) the files; default
            ``genzoo_home() / name``.
        download: fetch missing files from the canonical mirrors.
        **options: dataset options (strings are parsed and type-checked).
    """
    from genzoo.config import build_config

    opt_cls, loader, _ = dataset_entry(name)
    opts = build_config(opt_cls, options, what=f"option of dataset {name!r}")
    return loader(Path(root).expanduser() if root is not None else None, opts, download=download)

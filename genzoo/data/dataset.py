"""In-memory datasets and the dataset registry.

Every dataset genzoo ships is small enough to hold as tensors, which keeps batching
cheap and makes the data order a pure function of (seed, step): exact resume needs no
loader state. A per-batch random transform (dynamic binarization) receives its own
seeded generator for the same reason.
"""

from __future__ import annotations

import dataclasses
import functools
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


VALID_SEED = 0  # the held-out validation rows are the same for every run of a dataset


def hold_out_valid(data: Dataset, fraction: float, *, seed: int = VALID_SEED) -> Dataset:
    """``data`` with a seeded ``fraction`` of its training rows moved to a ``valid`` split.

    The rows are drawn by a fixed permutation (``seed``), so every run (and a resumed
    one) sees the same split; both parts keep the original row order. ``fraction`` 0
    returns ``data`` unchanged. A dataset with a validation split of its own refuses.
    """
    from genzoo.errors import GenzooError

    if fraction == 0:
        return data
    if data.valid is not None:
        raise GenzooError(f"dataset {data.spec.name!r} has its own validation split; "
                          "data.valid_fraction is for datasets without one (leave it at 0)")
    n = len(data.train)
    n_valid = round(n * fraction)
    if not 0 < n_valid < n:
        raise GenzooError(f"data.valid_fraction={fraction:g} of {n} training examples leaves "
                          f"{n_valid} for validation and {n - n_valid} for training; both must be > 0")
    held = torch.zeros(n, dtype=torch.bool)
    held[torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:n_valid]] = True
    t = data.train

    def part(mask: torch.Tensor) -> Split:
        return Split(t.x[mask], None if t.y is None else t.y[mask], {k: v[mask] for k, v in t.extra.items()})

    info = {**data.info, "valid_fraction": fraction, "valid_seed": seed}
    return dataclasses.replace(data, train=part(~held), valid=part(held), info=info)


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
        audio,
        binarized_mnist,
        digits,
        documents,
        glyph_digits,
        image_folder,
        mnist,
        moving_mnist,
        music,
        pairs,
        sprites,
        stacked_mnist,
        text,
        toy2d,
        video,
    )


@functools.cache
def options_class(name: str) -> type:
    """The options of dataset ``name`` plus those every dataset has: ``valid_fraction``
    (a seeded share of train held out as the validation split, see :func:`hold_out_valid`;
    default 0 = none)."""
    opt_cls = dataset_entry(name)[0]

    def validate(self: Any) -> None:
        if callable(getattr(opt_cls, "validate", None)):
            opt_cls.validate(self)
        if not 0.0 <= self.valid_fraction < 1.0:
            from genzoo.errors import GenzooError

            raise GenzooError(f"bad value {self.valid_fraction!r} for data.valid_fraction: must be in [0, 1) "
                              "(0 keeps all of train for training)")

    return dataclasses.make_dataclass(
        opt_cls.__name__, [("valid_fraction", float, field(default=0.0))], bases=(opt_cls,),
        namespace={"validate": validate, "__doc__": opt_cls.__doc__, "__module__": __name__})


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
        **options: dataset options (strings are parsed and type-checked), and
            ``valid_fraction`` (any dataset): hold out that seeded share of train as the
            validation split.
    """
    from genzoo.config import build_config

    opt_cls, loader, _ = dataset_entry(name)
    opts = build_config(options_class(name), options, what=f"option of dataset {name!r}")
    own = opt_cls(**{f.name: getattr(opts, f.name) for f in dataclasses.fields(opt_cls)})
    data = loader(Path(root).expanduser() if root is not None else None, own, download=download)
    return hold_out_valid(data, opts.valid_fraction)

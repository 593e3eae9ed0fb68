"""``pairs``: image-to-image data, paired (pix2pix) or unpaired (CycleGAN).

Each example is a target image ``x`` (domain B) with a source image in
``batch["source"]`` (domain A, ``Split.extra["source"]``). With ``paired=true`` source i
and target i belong together; with ``paired=false`` the targets are shuffled with a
fixed seed, so the two domains are two unaligned sets.

Sources (option ``kind``):

* ``edges``: A = the edges of a digit (the morphological gradient: 3x3 dilation minus
  3x3 erosion), B = the digit: the "edges to objects" task of pix2pix, on digits;
* ``inverted``: A = digits, B = the same digits with ink and background swapped;
* ``thick``: A = digits, B = digits thickened by a 3x3 dilation;
* ``folder``: your own images under ``--data-dir``: subfolders ``A`` and ``B`` (paired:
  files of the same name; unpaired: every file of each), resized square to ``size``.

Digits come from ``base`` (``digits``, built in, or ``mnist``, read from ``--data-dir``).
Values are continuous in [0, 1] (``binarize=threshold`` gives binary images). Derived
pairs carry the digit of each target as its label (for the feature network of FID).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genzoo.config import choice, positive
from genzoo.data.dataset import Dataset, Split, register_dataset
from genzoo.data.spec import DataSpec
from genzoo.errors import DataFileError, GenzooError

SPLIT_SEED = 0


@dataclass
class PairsOptions:
    """Options of the ``pairs`` dataset.

    Args:
        kind: ``edges``, ``inverted``, ``thick`` or ``folder``.
        base: the digits of the derived kinds: ``digits`` or ``mnist``.
        paired: aligned pairs (pix2pix) or two shuffled domains (CycleGAN).
        binarize: ``none`` (continuous [0, 1]) or ``threshold`` (binary).
        size: side of the square images of ``folder``.
        mode: ``gray`` or ``rgb`` for ``folder``.
        test_fraction: share of a folder's images held out.
    """

    kind: str = "edges"
    base: str = "digits"
    paired: bool = True
    binarize: str = "none"
    size: int = 32
    mode: str = "gray"
    test_fraction: float = 0.1

    def validate(self) -> None:
        choice(self.kind, ("edges", "inverted", "thick", "folder"), "kind")
        choice(self.base, ("digits", "mnist"), "base")
        choice(self.binarize, ("none", "threshold"), "binarize")
        choice(self.mode, ("gray", "rgb"), "mode")
        positive(self.size, "size")
        if not 0.0 <= self.test_fraction < 1.0:
            raise GenzooError(f"bad value {self.test_fraction!r} for test_fraction: must be in [0, 1)")


def dilate(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=1, padding=1)


def erode(x: torch.Tensor) -> torch.Tensor:
    return -F.max_pool2d(-x, 3, stride=1, padding=1)


def derive(x: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(source, target) from digits x (N, 1, H, W) in [0, 1]."""
    if kind == "edges":
        return (dilate(x) - erode(x)).clamp(0, 1), x
    if kind == "inverted":
        return x, 1 - x
    return x, dilate(x)  # thick


def _folder(root: Path, opts: PairsOptions) -> tuple[torch.Tensor, torch.Tensor]:
    from genzoo.data.image_folder import _load_image

    dirs = [root / "A", root / "B"]
    for d in dirs:
        if not d.is_dir():
            raise DataFileError(f"pairs folder {root} needs subfolders A (sources) and B (targets); {d} is missing")
    names = [{p.name: p for p in sorted(d.iterdir()) if p.is_file() and not p.name.startswith(".")} for d in dirs]
    if opts.paired:
        common = sorted(set(names[0]) & set(names[1]))
        if not common:
            raise GenzooError(f"no file names in common between {dirs[0]} and {dirs[1]}: paired data needs "
                              "matching names (use paired=false for two unaligned domains)")
        lists = [[n[c] for c in common] for n in names]
    else:
        lists = [list(n.values()) for n in names]
    arrays = []
    for files in lists:
        imgs = [a for a in (_load_image(p, opts.size, opts.mode, nearest=False) for p in files) if a is not None]
        if not imgs:
            raise GenzooError(f"no readable images in {files[0].parent if files else root}")
        arrays.append(torch.from_numpy(np.stack(imgs).transpose(0, 3, 1, 2).astype(np.float32) / 255.0))
    n = min(len(a) for a in arrays)
    return arrays[0][:n], arrays[1][:n]


@register_dataset("pairs", PairsOptions,
                  "image pairs for pix2pix / CycleGAN: edges->digits, digits->inverted or thick digits, or "
                  "folders A and B; options kind, base, paired, binarize, size, mode")
def load_pairs(root: Path | None, opts: PairsOptions, *, download: bool = True) -> Dataset:
    from genzoo.data.dataset import load_dataset

    if opts.kind == "folder":
        if root is None:
            raise GenzooError("pairs with kind=folder needs --data-dir DIR holding subfolders A and B")
        a, b = _folder(root, opts)
        perm = torch.from_numpy(np.random.default_rng(SPLIT_SEED).permutation(len(a)))
        n_test = min(max(int(round(opts.test_fraction * len(a))), 1 if opts.test_fraction > 0 else 0), len(a) - 1)
        parts = {"train": perm[: len(a) - n_test], "test": perm[len(a) - n_test:]}
        src = {k: a[v] for k, v in parts.items()}
        tgt = {k: b[v] for k, v in parts.items()}
        labels: dict[str, torch.Tensor | None] = {"train": None, "test": None}
        classes = None
    else:
        base = load_dataset(opts.base, root=root, download=download, scale="unit")
        src, tgt, labels = {}, {}, {}
        for k in ("train", "test"):
            src[k], tgt[k] = derive(base.split(k).x, opts.kind)
            labels[k] = base.split(k).y  # the digit of the target (feature network, CAS)
        classes = base.spec.num_classes
    splits = {}
    for i, k in enumerate(("train", "test")):
        s, t, y = src[k], tgt[k], labels[k]
        if opts.binarize == "threshold":
            s, t = (s >= 0.5).float(), (t >= 0.5).float()
        if not opts.paired:  # break the pairing: the targets (and their labels) in another, fixed order
            perm = torch.from_numpy(np.random.default_rng(SPLIT_SEED + 1 + i).permutation(len(t)))
            t, y = t[perm], None if y is None else y[perm]
        splits[k] = Split(t.contiguous(), y, {"source": s.contiguous()})
    fields = ({"value_type": "binary"} if opts.binarize == "threshold"
              else {"value_type": "continuous", "value_range": (0.0, 1.0)})
    spec = DataSpec(name="pairs", kind="image", shape=tuple(splits["train"].x.shape[1:]), num_classes=classes,
                    **fields,
                    extra={"source_shape": list(splits["train"].extra["source"].shape[1:]), "paired": opts.paired,
                           "pair_kind": opts.kind})
    return Dataset(spec=spec, train=splits["train"], test=splits["test"],
                   info={"kind": opts.kind, "paired": opts.paired, "base": opts.base if opts.kind != "folder" else None})

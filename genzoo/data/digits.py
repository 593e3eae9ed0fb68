"""scikit-learn's 8x8 handwritten digits: 1,797 images, 17 grey levels (0..16), 10 classes.

Ships with scikit-learn, so it works offline; a fixed seeded split holds out the last
20% of a seed-0 permutation as the test set (1,438 train / 359 test), forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genzoo.data.dataset import Dataset, Split, register_dataset
from genzoo.data.spec import DataSpec
from genzoo.data.transforms import ImageOptions, prepare_images

LEVELS = 17
TEST_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass
class DigitsOptions(ImageOptions):
    """Digits options: ``binarize`` and ``scale`` (``levels`` gives categorical(17)); ``captions``
    as MNIST's (:mod:`genzoo.data.captions`: label, thickness, slant as ``batch["caption"]``)."""

    captions: bool = False


@register_dataset("digits", DigitsOptions,
                  "scikit-learn 8x8 digits, 17 grey levels, 10 classes, 1438/359 split; built in, "
                  "offline; options binarize, scale, captions")
def load_digits(root: Path | None, opts: DigitsOptions, *, download: bool = True) -> Dataset:
    from sklearn.datasets import load_digits as sk_load_digits

    d = sk_load_digits()
    images = np.rint(np.asarray(d.images)).astype(np.int64)[:, None, :, :]  # (N, 1, 8, 8)
    labels = np.asarray(d.target, dtype=np.int64)
    n = len(images)
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_test = int(n * TEST_FRACTION)
    tr, te = perm[: n - n_test], perm[n - n_test:]
    x_tr, fields, transform = prepare_images(images[tr], LEVELS, opts)
    x_te, _, _ = prepare_images(images[te], LEVELS, opts)
    extra: dict = {}
    cap_tr: dict[str, torch.Tensor] = {}
    cap_te: dict[str, torch.Tensor] = {}
    if opts.captions:
        from genzoo.data.captions import describe_digits

        ink = torch.from_numpy(images.astype("float32") / (LEVELS - 1))
        cap_tr["caption"], cap_te["caption"], extra["captions"] = describe_digits(
            ink[tr], torch.from_numpy(labels[tr]), ink[te], torch.from_numpy(labels[te]))
    spec = DataSpec(name="digits", kind="image", shape=(1, 8, 8), num_classes=10, extra=extra, **fields)
    return Dataset(spec=spec, train=Split(x_tr, torch.from_numpy(labels[tr]), cap_tr),
                   test=Split(x_te, torch.from_numpy(labels[te]), cap_te), transform=transform,
                   info={"source": "sklearn.datasets.load_digits"})

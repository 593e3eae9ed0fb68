"""``stacked_mnist``: three MNIST digits as the three channels of one image (1,000 modes).

The mode-collapse benchmark of Metz et al. (2017) and PacGAN (Lin et al. 2018): each
example stacks three digits drawn independently (uniformly, with a fixed seed) from the
same MNIST split, so the data has 10 x 10 x 10 = 1,000 equally likely modes; the label is
``100 * d_R + 10 * d_G + d_B``. The MNIST files are read as for ``mnist`` (``--data-dir``
or the download cache) and every image option of ``mnist`` applies channel by channel.
Mode counts use the MNIST feature network on each channel
(:func:`genzoo.evaluate.modes.stacked_modes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from genzoo.config import positive
from genzoo.data.dataset import Dataset, Split, register_dataset
from genzoo.data.mnist import MnistOptions, load_mnist
from genzoo.data.spec import DataSpec


@dataclass
class StackedMnistOptions(MnistOptions):
    """Stacked MNIST options: ``n_train``, ``n_test``, ``seed``, plus MNIST's ``binarize``
    and ``scale``."""

    n_train: int = 50000
    n_test: int = 10000
    seed: int = 0

    def validate(self) -> None:
        super().validate()
        positive(self.n_train, "n_train")
        positive(self.n_test, "n_test")


def _stack(split: Split, n: int, g: torch.Generator) -> Split:
    idx = torch.randint(len(split), (n, 3), generator=g)  # (n, 3) one MNIST image per channel
    x = split.x[idx.reshape(-1)].reshape(n, 3, *split.x.shape[2:])  # (n, 3, 28, 28)
    assert split.y is not None
    d = split.y[idx]  # (n, 3) digits
    return Split(x.contiguous(), d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2])


@register_dataset("stacked_mnist", StackedMnistOptions,
                  "three MNIST digits as RGB channels, 1,000 modes (labels 0..999); reads the MNIST files; "
                  "options n_train, n_test, seed, binarize, scale")
def load_stacked_mnist(root: Path | None, opts: StackedMnistOptions, *, download: bool = True) -> Dataset:
    mnist = load_mnist(root, MnistOptions(binarize=opts.binarize, scale=opts.scale), download=download)
    g = torch.Generator().manual_seed(opts.seed)
    train, test = _stack(mnist.train, opts.n_train, g), _stack(mnist.test, opts.n_test, g)
    s = mnist.spec
    spec = DataSpec(name="stacked_mnist", kind="image", shape=(3, 28, 28), value_type=s.value_type,
                    num_values=s.num_values, value_range=s.value_range, num_classes=1000,
                    extra={"stacked_of": "mnist"})
    return Dataset(spec=spec, train=train, test=test, transform=mnist.transform,
                   info={**mnist.info, "stacked_of": "mnist", "seed": opts.seed,
                         "options": {"binarize": opts.binarize, "scale": opts.scale}})

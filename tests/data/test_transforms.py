"""Shared image options: levels / unit / symmetric / threshold / dynamic binarization."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.config import build_config
from genzoo.data.dataset import load_dataset
from genzoo.data.transforms import ImageOptions, dynamic_binarize, prepare_images
from genzoo.errors import GenzooError

RAW = np.arange(0, 256, dtype=np.uint8).reshape(1, 1, 16, 16).repeat(3, axis=0)


def opts(**kw) -> ImageOptions:
    return build_config(ImageOptions, kw)


def test_defaults_are_levels():
    o = opts()
    assert (o.binarize, o.scale) == ("none", "levels")
    x, fields, tf = prepare_images(RAW, 256, o)
    assert x.dtype == torch.int64 and tuple(x.shape) == (3, 1, 16, 16)
    assert fields["value_type"] == "categorical" and fields["num_values"] == 256
    assert tf is None
    assert int(x.min()) == 0 and int(x.max()) == 255


@pytest.mark.parametrize("scale,lo,hi", [("unit", 0.0, 1.0), ("symmetric", -1.0, 1.0)])
def test_continuous_scales(scale, lo, hi):
    x, fields, tf = prepare_images(RAW, 256, opts(scale=scale))
    assert x.dtype == torch.float32 and tf is None
    assert fields["value_type"] == "continuous" and fields["value_range"] == (lo, hi)
    assert float(x.min()) == lo and float(x.max()) == hi


def test_threshold_gives_zero_one():
    x, fields, tf = prepare_images(RAW, 256, opts(binarize="threshold", scale="unit"))
    assert fields["value_type"] == "binary" and tf is None and x.dtype == torch.float32
    assert set(x.unique().tolist()) == {0.0, 1.0}
    flat = x[0, 0].flatten()
    assert flat[:128].sum() == 0 and flat[128:].sum() == 128  # levels >= 127.5 -> 1
    # 17 levels (digits): level 8 = half of 16 -> 1
    x17, _, _ = prepare_images(np.arange(17).reshape(1, 1, 1, 17), 17, opts(binarize="threshold"))
    assert x17.flatten().tolist() == [0.0] * 8 + [1.0] * 9


def test_dynamic_binarization_reproducible_and_seeded():
    x, fields, tf = prepare_images(RAW, 256, opts(binarize="dynamic"))
    assert fields["value_type"] == "binary" and tf is dynamic_binarize
    assert x.dtype == torch.float32 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    a = tf(x, torch.Generator().manual_seed(1))
    b = tf(x, torch.Generator().manual_seed(1))
    c = tf(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert set(a.unique().tolist()) <= {0.0, 1.0} and a.dtype == torch.float32
    # level 0 never fires, level 255 always does; the mean follows the probabilities
    assert float(a[:, 0, 0, 0].sum()) == 0 and float(a[:, 0, -1, -1].sum()) == 3
    big = tf(x.repeat(50, 1, 1, 1), torch.Generator().manual_seed(3))
    assert abs(float(big.mean()) - float(x.mean())) < 0.01


def test_binarize_overrides_scale():
    _, fields, _ = prepare_images(RAW, 256, opts(binarize="threshold", scale="symmetric"))
    assert fields["value_type"] == "binary"


def test_bad_option_values_rejected():
    with pytest.raises(GenzooError, match="binarize"):
        opts(binarize="sometimes")
    with pytest.raises(GenzooError, match="scale"):
        opts(scale="bits")


def test_dataset_fixed_split_applies_dynamic_binarization_once():
    d = load_dataset("digits", binarize="dynamic")
    assert d.spec.value_type == "binary" and d.transform is not None
    f1, f2 = d.fixed("test", seed=0), d.fixed("test", seed=0)
    assert torch.equal(f1.x, f2.x)
    assert set(f1.x.unique().tolist()) <= {0.0, 1.0}

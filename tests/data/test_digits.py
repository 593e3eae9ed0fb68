"""sklearn digits: 8x8, 17 levels, fixed 1438/359 split."""

from __future__ import annotations

import torch

from genzoo.data.dataset import load_dataset


def test_digits_default_levels():
    d = load_dataset("digits")
    s = d.spec
    assert (s.name, s.kind, s.shape, s.value_type, s.num_values, s.num_classes) == (
        "digits", "image", (1, 8, 8), "categorical", 17, 10)
    assert len(d.train) == 1438 and len(d.test) == 359
    assert d.train.x.dtype == torch.int64 and d.train.y.dtype == torch.int64
    assert int(d.train.x.min()) == 0 and int(d.train.x.max()) == 16
    assert set(d.train.y.unique().tolist()) == set(range(10))
    assert d.transform is None and d.valid is None
    s.check(d.train.x[:4])


def test_digits_split_is_fixed_and_disjoint():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    from sklearn.datasets import load_digits

    total = torch.from_numpy(load_digits().images).long().sum()
    assert int(a.train.x.sum() + a.test.x.sum()) == int(total)


def test_digits_root_ignored_and_scales(tmp_path):
    d = load_dataset("digits", root=tmp_path / "nowhere", scale="unit")
    assert d.spec.value_type == "continuous" and d.spec.value_range == (0.0, 1.0)
    assert float(d.train.x.max()) == 1.0
    t = load_dataset("digits", binarize="threshold")
    assert t.spec.value_type == "binary"
    assert set(t.test.x.unique().tolist()) == {0.0, 1.0}

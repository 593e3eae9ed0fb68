"""Toy 2-D shapes: sizes, determinism, modes."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.dataset import load_dataset
from genzoo.errors import GenzooError

SHAPES = ["ring", "grid", "moons", "swissroll", "checkerboard", "spirals"]


@pytest.mark.parametrize("shape", SHAPES)
def test_shape_sizes_and_determinism(shape):
    d = load_dataset("toy2d", shape=shape, n_train=500, n_test=100, seed=3)
    assert d.spec.kind == "vector" and d.spec.shape == (2,) and d.spec.value_type == "continuous"
    assert tuple(d.train.x.shape) == (500, 2) and tuple(d.test.x.shape) == (100, 2)
    assert d.train.x.dtype == torch.float32
    lo, hi = d.spec.value_range
    assert float(d.train.x.min()) >= lo and float(d.train.x.max()) <= hi
    assert float(d.train.x.abs().max()) > 0.5 * hi  # the box is not absurdly loose
    again = load_dataset("toy2d", shape=shape, n_train=500, n_test=100, seed=3)
    assert torch.equal(d.train.x, again.train.x) and torch.equal(d.test.x, again.test.x)
    other = load_dataset("toy2d", shape=shape, n_train=500, n_test=100, seed=4)
    assert not torch.equal(d.train.x, other.train.x)
    assert not torch.equal(d.train.x[:100], d.test.x)
    if shape in ("ring", "grid"):
        assert d.train.y is not None and d.train.y.dtype == torch.int64
    else:
        assert d.train.y is None and d.spec.num_classes is None


@pytest.mark.parametrize("shape,n_modes,sigma", [("ring", 8, 0.01), ("grid", 25, 0.05)])
def test_points_near_their_modes(shape, n_modes, sigma):
    d = load_dataset("toy2d", shape=shape, n_train=4000, n_test=10)
    modes = torch.tensor(d.spec.extra["modes"], dtype=torch.float32)
    assert modes.shape == (n_modes, 2) and d.spec.extra["sigma"] == sigma
    assert d.spec.num_classes == n_modes
    dist = (d.train.x - modes[d.train.y]).norm(dim=1)
    assert float(dist.max()) < 6 * sigma
    assert abs(float(dist.pow(2).mean()) / (2 * sigma**2) - 1) < 0.1  # chi-square, 2 dof
    assert set(d.train.y.unique().tolist()) == set(range(n_modes))
    if shape == "ring":
        assert torch.allclose(modes.norm(dim=1), torch.ones(8))
    else:
        assert set(modes.flatten().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}


def test_defaults_and_bad_options():
    d = load_dataset("toy2d")
    assert len(d.train) == 10000 and len(d.test) == 2000 and d.spec.extra["shape"] == "ring"
    with pytest.raises(GenzooError, match="shape"):
        load_dataset("toy2d", shape="donut")
    with pytest.raises(GenzooError, match="n_train"):
        load_dataset("toy2d", n_train="0")

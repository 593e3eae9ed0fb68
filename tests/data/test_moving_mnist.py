"""``moving_mnist``: seeded and deterministic, train and test sequences built from
disjoint MNIST digit images, and every digit bounces inside the frame."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.data.dataset import load_dataset
from genzoo.data.mnist import MnistOptions, load_mnist
from genzoo.data.moving_mnist import DIGIT, trajectories
from genzoo.errors import GenzooError

SMALL = {"frames": 6, "size": 36, "n_train": 24, "n_test": 12}


@pytest.fixture(scope="module")
def mnist(shared_data):
    return load_mnist(shared_data / "mnist", MnistOptions(scale="unit"), download=False)


def _load(shared_data, **kw):
    return load_dataset("moving_mnist", root=shared_data / "mnist", download=False, **{**SMALL, **kw})


def test_same_seed_same_sequences(shared_data):
    a, b = _load(shared_data, digits=2, turn=0.3), _load(shared_data, digits=2, turn=0.3)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.x, b.test.x)
    c = _load(shared_data, digits=2, turn=0.3, seed=1)
    assert not torch.equal(a.train.x, c.train.x)
    s = a.spec
    assert (s.kind, s.shape, s.value_type, s.value_range) == ("video", (6, 1, 36, 36), "continuous", (0.0, 1.0))
    assert a.train.x.shape == (24, 6, 1, 36, 36) and a.test.x.shape == (12, 6, 1, 36, 36)


def test_train_and_test_come_from_disjoint_digit_images(shared_data, mnist):
    d = _load(shared_data)
    for split, source in (("train", mnist.train.x), ("test", mnist.test.x)):
        x = d.split(split).x
        idx, pos = d.info["sources"][split], d.info["positions"][split]
        for i in range(len(x)):  # the sequence is its MNIST image pasted at its positions
            for t in range(x.shape[1]):
                r, c = pos[i, t, 0].tolist()
                assert torch.equal(x[i, t, 0, r: r + DIGIT, c: c + DIGIT], source[idx[i, 0], 0])
    train_imgs = {mnist.train.x[i, 0].numpy().tobytes() for i in d.info["sources"]["train"].flatten().tolist()}
    test_imgs = {mnist.test.x[i, 0].numpy().tobytes() for i in d.info["sources"]["test"].flatten().tolist()}
    assert not train_imgs & test_imgs


def test_digits_bounce_inside_the_frame(shared_data):
    d = _load(shared_data, speed=7.0, frames=12)
    pos = d.info["positions"]["train"]
    assert int(pos.min()) >= 0 and int(pos.max()) <= 36 - DIGIT
    # one digit never leaves the frame, so no ink is lost: every frame holds the whole digit
    ink = d.train.x.sum((2, 3, 4))  # (N, T)
    assert torch.allclose(ink, ink[:, :1].expand_as(ink), rtol=1e-5)
    # and it does hit the walls and turn back: some coordinate changes direction
    step = pos[:, 1:] - pos[:, :-1]
    assert bool(((step[:, 1:] * step[:, :-1]) < 0).any())


def test_trajectories_reflect_at_the_walls():
    rng = np.random.default_rng(0)
    p = trajectories(50, 30, 2, 10, 4.0, 0.0, rng)
    assert p.min() >= 0 and p.max() <= 10
    moves = np.abs(np.diff(p, axis=1)).max()
    assert moves <= 4 + 1  # never more than the speed (plus rounding)


def test_bad_options_are_user_errors(shared_data):
    with pytest.raises(GenzooError, match="larger than a digit"):
        _load(shared_data, size=20)
    with pytest.raises(GenzooError, match="digits"):
        _load(shared_data, digits=3)

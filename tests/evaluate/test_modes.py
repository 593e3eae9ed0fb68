"""Mode counts: every mode found on samples of the true mixture, lost modes seen."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genzoo.data.dataset import load_dataset
from genzoo.evaluate.modes import mixture_modes, stacked_modes, toy2d_modes


@pytest.mark.parametrize("shape,modes", [("ring", 8), ("grid", 25)])
def test_true_mixture_covers_every_mode(shape, modes):
    data = load_dataset("toy2d", shape=shape, n_test=2500)
    r = toy2d_modes(data.test.x, data.spec)
    assert r["modes_covered"] == modes == r["modes_total"]
    # P(|z| <= 3) for a 2-D standard normal is 1 - exp(-4.5) = 0.989
    assert r["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert r["reverse_kl"] < 0.02


def test_collapse_is_counted():
    data = load_dataset("toy2d", shape="ring", n_test=2000)
    x, y = data.test.x, data.test.y
    half = x[y < 4]  # four of the eight modes
    r = toy2d_modes(half, data.spec)
    assert r["modes_covered"] == 4 and r["reverse_kl"] == pytest.approx(math.log(2), abs=0.02)
    far = toy2d_modes(x * 0.5, data.spec)  # between the modes: nothing of high quality
    assert far["high_quality"] == 0.0 and far["modes_covered"] == 0 and math.isinf(far["reverse_kl"])
    r = mixture_modes(torch.zeros(10, 2), torch.tensor(np.eye(2)), 0.1, min_count=5)
    assert r["modes_covered"] == 0


def test_stacked_modes_from_digit_probabilities():
    g = torch.Generator().manual_seed(0)
    digits = torch.randint(0, 10, (20000, 3), generator=g)
    p = torch.nn.functional.one_hot(digits, 10).double()
    r = stacked_modes(p)
    assert r["modes_covered"] == 1000 and r["kl_to_uniform"] < 0.06
    r = stacked_modes(p[digits[:, 0] == 7])
    assert r["modes_covered"] == 100 and r["kl_to_uniform"] == pytest.approx(math.log(10), abs=0.06)

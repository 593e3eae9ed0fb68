"""Digit attributes measured from the ink: stroke thickness and slant."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.attributes import ATTRIBUTES, measure, slant, thickness


def bar(width: int, *, lean: int = 0, size: int = 28) -> torch.Tensor:
    """A vertical stroke ``width`` pixels wide and 20 long; ``lean`` shifts the top right
    by that many pixels (positive: leaning right)."""
    x = torch.zeros(size, size)
    for r in range(4, 24):
        c = 12 + round(lean * (23 - r) / 19)
        x[r, c:c + width] = 1.0
    return x


def test_thickness_is_the_stroke_width_in_pixels():
    t = thickness(torch.stack([bar(w) for w in (1, 2, 3, 4, 5)]))
    assert (t.diff() > 0).all()
    # 2 area / outline = w L / (L + w) for a w x L bar: 20 long, w wide
    want = torch.tensor([w * 20 / (20 + w) for w in (1, 2, 3, 4, 5)])
    assert torch.allclose(t, want, rtol=0.05)
    # the measure reads one-channel images, and blank images do not divide by zero
    assert torch.allclose(thickness(torch.stack([bar(2)])[:, None]), t[1:2])
    assert torch.isfinite(thickness(torch.zeros(1, 8, 8))).all()


def test_slant_is_positive_for_digits_leaning_right():
    upright, right = bar(2), bar(2, lean=6)
    left = right.flip(-1)
    s = slant(torch.stack([upright, right, left]))
    assert abs(float(s[0])) < 1e-4
    assert float(s[1]) > 10 and float(s[2]) == pytest.approx(-float(s[1]), abs=1e-4)
    # a shear of 6 px over a 20 px stroke: about atan(6 / 19) = 17.5 degrees
    assert float(s[1]) == pytest.approx(17.5, abs=2.0)
    # thickness does not change when the stroke leans (much)
    assert float(thickness(right[None])) == pytest.approx(float(thickness(upright[None])), rel=0.25)


def test_measure_names_the_known_attributes():
    assert set(ATTRIBUTES) == {"thickness", "slant"}
    assert torch.equal(measure("slant", bar(3)[None]), slant(bar(3)[None]))
    with pytest.raises(KeyError, match="thickness"):
        measure("size", bar(3)[None])
    with pytest.raises(ValueError, match="channel"):
        thickness(torch.zeros(2, 3, 8, 8))

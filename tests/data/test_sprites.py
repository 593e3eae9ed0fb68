"""The generated palette sprites: deterministic, in the palette, many colours, and the same
pictures through the ``images`` dataset once written as PNG files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.data.dataset import load_dataset
from genzoo.data.sprites import NUM_COLORS, WHITE, make_sprites, palette, write_pngs
from genzoo.errors import GenzooError


def test_sprites_spec_and_determinism():
    d = load_dataset("sprites", n_train=40, n_test=8)
    assert d.spec.shape == (1, 20, 20) and d.spec.value_type == "categorical"
    assert d.spec.num_values == NUM_COLORS == len(d.spec.palette) == 168
    assert len(d.train) == 40 and len(d.test) == 8 and d.train.x.dtype == torch.int64
    assert int(d.train.x.min()) >= 0 and int(d.train.x.max()) < NUM_COLORS
    again = load_dataset("sprites", n_train=40, n_test=8)
    assert torch.equal(d.train.x, again.train.x) and torch.equal(d.test.x, again.test.x)
    other = load_dataset("sprites", n_train=40, n_test=8, seed=1)
    assert not torch.equal(d.train.x, other.train.x)
    x = d.train.x[:, 0]
    assert (x[:, 0] == WHITE).all() and (x[:, :, -1] == WHITE).all()  # a white border
    assert ((x != WHITE).flatten(1).sum(1) >= 8).all()  # every sprite has a body
    pal = palette()
    assert len(np.unique(pal, axis=0)) == NUM_COLORS  # distinct colours


def test_the_default_set_uses_many_colours():
    x = make_sprites(800)
    assert x.shape == (800, 20, 20) and 120 <= len(np.unique(x)) <= NUM_COLORS


def test_written_pngs_load_back_through_images(tmp_path):
    imgs = make_sprites(30, seed=3)
    write_pngs(imgs, tmp_path / "sprites")
    d = load_dataset("images", root=tmp_path / "sprites", size=20, mode="rgb", colors=NUM_COLORS, test_fraction=0.0)
    assert d.spec.value_type == "categorical" and d.spec.num_values == len(np.unique(imgs))
    got = np.asarray(d.spec.palette, dtype=np.uint8)[d.train.x[:, 0].numpy()]  # (30, 20, 20, 3), shuffled
    assert sorted(a.tobytes() for a in got) == sorted(a.tobytes() for a in palette()[imgs])


def test_bad_options():
    with pytest.raises(GenzooError):
        load_dataset("sprites", size=4)

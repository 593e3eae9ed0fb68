"""`images`: a folder of PNG/GIF files with junk, palettes exact or by k-means."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.data.dataset import load_dataset
from genzoo.errors import DataFileError, GenzooError

COLOURS = [(255, 255, 255), (200, 0, 0), (0, 120, 0), (0, 0, 90)]


def _picture(rng: np.random.Generator, size: int, colours) -> np.ndarray:
    idx = rng.integers(0, len(colours), size=(size // 4, size // 4)).repeat(4, 0).repeat(4, 1)
    return np.array(colours, dtype=np.uint8)[idx]


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    (root / "sub" / "deeper").mkdir(parents=True)
    for i in range(6):
        Image.fromarray(_picture(rng, 16, COLOURS)).save(root / f"p{i}.png")
    Image.fromarray(_picture(rng, 32, COLOURS)).save(root / "sub" / "big.png")  # resized
    # a palette GIF with explicit colours, and a wide JPEG-free RGB image cropped square
    idx = rng.integers(0, 4, size=(16, 16)).astype(np.uint8)
    gif = Image.fromarray(idx, mode="P")
    gif.putpalette([v for c in COLOURS for v in c] + [0, 0, 0] * 252)
    gif.save(root / "sub" / "deeper" / "g.gif")
    Image.fromarray(np.concatenate([_picture(rng, 16, COLOURS)] * 2, axis=1)).save(root / "sub" / "wide.png")
    (root / "notes.txt").write_text("not an image\n")
    good = (root / "p0.png").read_bytes()
    (root / "broken.png").write_bytes(good[: len(good) // 2])
    return root


def test_levels_gray_and_skipped(folder):
    d = load_dataset("images", root=folder, size="16")
    assert d.info["skipped"] == 2 and d.info["images"] == 9
    assert set(d.info["skipped_files"]) == {"notes.txt", "broken.png"}
    s = d.spec
    assert (s.kind, s.shape, s.value_type, s.num_values, s.palette) == ("image", (1, 16, 16), "categorical", 256, None)
    assert len(d.train) + len(d.test) == 9 and len(d.test) == 1
    assert d.train.x.dtype == torch.int64 and d.train.y is None


def test_rgb_unit_and_split_fraction(folder):
    d = load_dataset("images", root=folder, size=8, mode="rgb", scale="unit", test_fraction=0.34)
    assert d.spec.shape == (3, 8, 8) and d.spec.value_type == "continuous"
    assert len(d.test) == 3 and len(d.train) == 6
    assert 0.0 <= float(d.train.x.min()) and float(d.train.x.max()) <= 1.0
    again = load_dataset("images", root=folder, size=8, mode="rgb", scale="unit", test_fraction=0.34)
    assert torch.equal(d.test.x, again.test.x)
    b = load_dataset("images", root=folder, size=8, binarize="dynamic")
    assert b.spec.value_type == "binary" and b.transform is not None


def test_palette_is_exactly_the_used_colours(folder):
    d = load_dataset("images", root=folder, size=16, mode="rgb", colors=8)
    assert d.spec.palette == tuple(sorted(COLOURS))
    assert d.spec.value_type == "categorical" and d.spec.num_values == 4 and d.spec.shape == (1, 16, 16)
    x = torch.cat([d.train.x, d.test.x])
    assert x.dtype == torch.int64 and set(x.unique().tolist()) == {0, 1, 2, 3}
    # decoding through the palette gives back the original pixels of a stored image
    pal = torch.tensor(d.spec.palette)
    original = np.asarray(Image.open(folder / "p0.png").convert("RGB"))
    decoded = [pal[img[0]].numpy() for img in x]
    assert any(np.array_equal(original, dimg) for dimg in decoded)


def test_kmeans_when_more_colours_than_k(folder):
    d = load_dataset("images", root=folder, size=16, mode="rgb", colors=2)
    assert d.spec.num_values == 2 and len(d.spec.palette) == 2
    assert all(0 <= v <= 255 for c in d.spec.palette for v in c)
    assert set(torch.cat([d.train.x, d.test.x]).unique().tolist()) == {0, 1}
    # white (the brightest used colour) should be one of the centres' neighbourhood
    assert max(sum(c) for c in d.spec.palette) > 400
    again = load_dataset("images", root=folder, size=16, mode="rgb", colors=2)
    assert again.spec.palette == d.spec.palette


def test_gray_palette(folder):
    d = load_dataset("images", root=folder, size=16, colors=16)
    assert all(c[0] == c[1] == c[2] for c in d.spec.palette)
    assert d.spec.num_values == len(d.spec.palette) == 4


def test_errors(tmp_path, folder):
    with pytest.raises(GenzooError, match="--data-dir"):
        load_dataset("images")
    with pytest.raises(DataFileError, match="does not exist"):
        load_dataset("images", root=tmp_path / "missing")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("x")
    with pytest.raises(GenzooError, match="no readable images"):
        load_dataset("images", root=tmp_path / "junk")
    with pytest.raises(GenzooError, match="colors"):
        load_dataset("images", root=folder, colors=4, binarize="threshold")
    with pytest.raises(GenzooError, match="test_fraction"):
        load_dataset("images", root=folder, test_fraction=1.0)
    with pytest.raises(GenzooError, match="mode"):
        load_dataset("images", root=folder, mode="cmyk")

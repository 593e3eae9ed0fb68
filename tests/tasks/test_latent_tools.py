"""Interpolation, latent arithmetic, cover masks."""

from __future__ import annotations

import pytest
import torch

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.tasks.complete import cover_mask
from genzoo.tasks.interpolate import class_means, lerp, slerp

SPEC = DataSpec("img", "image", (1, 8, 8), "binary")


def test_lerp_and_slerp_hit_the_endpoints():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    t = torch.linspace(0, 1, 7)
    for f in (lerp, slerp):
        p = f(z0, z1, t)
        assert p.shape == (3, 7, 5)
        assert torch.allclose(p[:, 0], z0, atol=1e-5) and torch.allclose(p[:, -1], z1, atol=1e-5)


def test_slerp_keeps_the_radius_of_equal_norm_codes():
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(4, 16, generator=g), torch.randn(4, 16, generator=g)
    z1 = z1 / z1.norm(dim=1, keepdim=True) * z0.norm(dim=1, keepdim=True)
    p = slerp(z0, z1, torch.linspace(0, 1, 9))
    assert torch.allclose(p.norm(dim=-1), z0.norm(dim=1, keepdim=True).expand(4, 9), rtol=1e-4)
    mid = lerp(z0, z1, torch.tensor([0.5])).norm(dim=-1)
    assert (mid.squeeze(1) < z0.norm(dim=1)).all()  # the straight line cuts inside the shell


def test_slerp_of_parallel_codes_is_finite():
    z = torch.ones(1, 4)
    assert torch.isfinite(slerp(z, 2 * z, torch.linspace(0, 1, 5))).all()


def test_class_means():
    codes = torch.tensor([[0.0, 0.0], [2.0, 2.0], [4.0, 0.0]])
    m = class_means(codes, torch.tensor([0, 0, 1]), 3)
    assert torch.equal(m[0], torch.tensor([1.0, 1.0])) and torch.equal(m[1], torch.tensor([4.0, 0.0]))
    assert torch.isnan(m[2]).all()


@pytest.mark.parametrize("cover,covered", [("bottom-0.5", 32), ("bottom-0.75", 48), ("right-0.5", 32),
                                           ("center-0.5", 16), ("top-0.25", 16)])
def test_named_covers(cover, covered):
    m = cover_mask(cover, SPEC)
    assert m.shape == (1, 8, 8) and int((~m).sum()) == covered
    if cover == "bottom-0.5":
        assert m[0, :4].all() and not m[0, 4:].any()


def test_mask_image_cover(tmp_path):
    from PIL import Image

    img = Image.new("L", (8, 8), 0)
    img.paste(255, (0, 0, 4, 8))  # white left half = covered
    img.save(tmp_path / "m.png")
    m = cover_mask(str(tmp_path / "m.png"), SPEC)
    assert not m[0, :, :4].any() and m[0, :, 4:].all()
    Image.new("L", (16, 16), 255).save(tmp_path / "big.png")
    with pytest.raises(GenzooError, match="16x16; this model's images are 8x8"):
        cover_mask(str(tmp_path / "big.png"), SPEC)


@pytest.mark.parametrize("cover,observed", [("end-0.5", [1, 1, 1, 0, 0, 0]), ("right-0.2", [1, 1, 1, 1, 1, 0]),
                                            ("start-0.5", [0, 0, 0, 1, 1, 1]), ("center-0.34", [1, 1, 0, 0, 1, 1])])
def test_sequence_covers(cover, observed):
    seq = DataSpec("s", "sequence", (6,), "categorical", num_values=3)
    assert cover_mask(cover, seq).tolist() == [bool(v) for v in observed]
    with pytest.raises(GenzooError, match="for sequences"):
        cover_mask("bottom-0.5", seq)


@pytest.mark.parametrize("cover", ["bottom", "bottom-1.5", "diagonal-0.5", "missing.png"])
def test_bad_covers(cover):
    with pytest.raises(GenzooError):
        cover_mask(cover, SPEC)

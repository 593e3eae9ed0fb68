"""Attribute vectors and GAN inversion on a constructed generator whose stroke width is
known: z[0] sets the width of a vertical stroke, z[1] its position, the rest nothing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.registry import build_model
from genzoo.tasks.interpolate import codes_of
from genzoo.tasks.latent_attributes import attribute_direction, measure_along, measured

SPEC = DataSpec("strokes", "image", (1, 12, 12), "continuous", value_range=(-1.0, 1.0), num_classes=2)


class StrokeGenerator(nn.Module):
    """z (B, L) -> a vertical stroke, 1 to 4 pixels wide as z[0] grows, in [-1, 1]."""

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        cols = torch.arange(12, dtype=z.dtype)
        width = 1.0 + 1.5 * (torch.tanh(z[:, 0]) + 1)
        centre = 5.5 + 1.5 * torch.tanh(z[:, 1])
        ink = (width[:, None] / 2 - (cols[None] - centre[:, None]).abs() + 0.5).clamp(0, 1)  # (B, 12)
        img = ink[:, None, :].repeat(1, 12, 1)
        img[:, :2] = 0
        img[:, 10:] = 0
        return (2 * img - 1)[:, None]


@pytest.fixture
def stroke_gan():
    torch.manual_seed(0)
    model = build_model("dcgan", SPEC, {"channels": 4, "latent_dim": 32})
    model.generator = StrokeGenerator()
    return model.eval()


def test_the_thickness_vector_points_along_the_width_code(stroke_gan):
    d = attribute_direction(stroke_gan, "thickness", samples=400, seed=0)
    assert d.high_value > d.low_value
    v = d.vector / d.vector.norm()
    assert float(v[0]) > 0.9  # the code that sets the width, and nothing else much


def test_moving_along_the_thickness_vector_thickens_on_average(stroke_gan):
    d = attribute_direction(stroke_gan, "thickness", samples=400, seed=0)
    res = measure_along(stroke_gan, d.vector, "thickness", codes=200, seed=1)
    along, rnd = torch.tensor(res["along"]), torch.tensor(res["random"])
    assert (along.diff() > 0).all(), res["along"]  # monotone on average
    assert float(along[-1] - along[0]) > 3 * float(rnd.max() - rnd.min())  # far more than a random step
    assert res["along_rising"] > res["random_rising"]  # (a saturated stroke stops widening)
    # the same walk against the vector thins: the test can fail on a wrong sign
    back = measure_along(stroke_gan, -d.vector, "thickness", codes=200, seed=1)
    assert (torch.tensor(back["along"]).diff() < 0).all()


def test_gan_inversion_finds_the_code_of_an_image(stroke_gan):
    g = torch.Generator().manual_seed(3)
    z_true = torch.randn(5, 32, generator=g) * 0.7
    x = stroke_gan.decode(z_true)
    start = torch.randn(5, 32, generator=torch.Generator().manual_seed(0))
    z = codes_of(stroke_gan, x, invert_steps=150, seed=0)
    assert torch.equal(z, codes_of(stroke_gan, x, invert_steps=150, seed=0))  # seeded
    err = (stroke_gan.decode(z) - x).abs().mean()
    assert float(err) < 0.25 * float((stroke_gan.decode(start) - x).abs().mean())
    assert torch.allclose(measured(stroke_gan, stroke_gan.decode(z), "thickness"),
                          measured(stroke_gan, x, "thickness"), atol=0.3)
    with pytest.raises(GenzooError, match="invert-steps"):
        codes_of(stroke_gan, x, invert_steps=0)


def test_attribute_direction_refuses_bad_settings(stroke_gan):
    with pytest.raises(GenzooError, match="size"):
        attribute_direction(stroke_gan, "size")
    with pytest.raises(GenzooError, match="share"):
        attribute_direction(stroke_gan, "thickness", share=0.9)

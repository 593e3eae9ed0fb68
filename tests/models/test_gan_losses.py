"""The GAN losses on known logits, the gradient penalty, packing and spectral norm."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genzoo.models.adversarial import losses


def test_losses_on_known_logits():
    r, f = torch.tensor([2.0]), torch.tensor([-1.0])

    def s(v: float) -> float:
        return 1 / (1 + math.exp(-v))

    bce = -math.log(s(2.0)) - math.log(1 - s(-1.0))
    assert losses.discriminator_loss("minimax", r, f).item() == pytest.approx(bce, rel=1e-6)
    assert losses.discriminator_loss("non_saturating", r, f).item() == pytest.approx(bce, rel=1e-6)
    assert losses.generator_loss("minimax", f).item() == pytest.approx(math.log(1 - s(-1.0)), rel=1e-6)
    assert losses.generator_loss("non_saturating", f).item() == pytest.approx(-math.log(s(-1.0)), rel=1e-6)
    assert losses.discriminator_loss("hinge", r, f).item() == pytest.approx(0.0 + 0.0)  # both beyond the margin
    assert losses.discriminator_loss("hinge", torch.tensor([0.5]), torch.tensor([0.0])).item() == pytest.approx(1.5)
    assert losses.generator_loss("hinge", f).item() == pytest.approx(1.0)
    assert losses.discriminator_loss("least_squares", r, f).item() == pytest.approx(0.5 * 1 + 0.5 * 1)
    assert losses.generator_loss("least_squares", f).item() == pytest.approx(0.5 * 4)
    assert losses.discriminator_loss("wasserstein_gp", r, f).item() == pytest.approx(-3.0)
    with pytest.raises(ValueError):
        losses.generator_loss("bogus", f)


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    critic = nn.Linear(5, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.6, 0.8, 0.0, 0.0, 0.0]]))  # |grad| = 1 everywhere
    real, fake = torch.randn(16, 5), torch.randn(16, 5)
    assert losses.gradient_penalty(lambda x: critic(x).squeeze(-1), real, fake).item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        critic.weight.mul_(3.0)  # |grad| = 3: penalty 10 * (3 - 1)^2
    assert losses.gradient_penalty(lambda x: critic(x).squeeze(-1), real, fake).item() == pytest.approx(40.0, rel=1e-5)


def test_pack_and_spectral_norm():
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(6, 1, 2, 2).repeat(1, 1, 1, 1)
    p = losses.pack(torch.cat([x, x[:1]]), 3)  # 7 examples: the 7th is left out
    assert p.shape == (2, 3, 2, 2) and torch.equal(p[1, 0], x[3, 0])
    assert losses.pack(x, 1) is x
    net = losses.spectral_norm_all(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 1))))
    with torch.no_grad():
        for _ in range(20):  # power iterations run in train mode
            net(torch.randn(4, 8))
    net.eval()
    assert torch.linalg.matrix_norm(net[0].weight, ord=2).item() == pytest.approx(1.0, rel=0.05)

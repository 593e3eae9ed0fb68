"""What the GANs share: the adversarial losses, the gradient penalty, packing and
spectral normalisation.

Losses (``LOSSES``), written on the discriminator's raw outputs ("logits" l; for the
Wasserstein critic a score):

| loss | discriminator minimizes | generator minimizes |
|---|---|---|
| ``minimax`` (Goodfellow et al. 2014) | ``-log s(l_r) - log(1 - s(l_f))`` | ``log(1 - s(l_f))`` (vanishes when D wins) |
| ``non_saturating`` (same paper) | as minimax | ``-log s(l_f)`` |
| ``hinge`` (Lim & Ye 2017; Miyato et al. 2018) | ``relu(1 - l_r) + relu(1 + l_f)`` | ``-l_f`` |
| ``least_squares`` (Mao et al. 2017) | ``((l_r - 1)^2 + l_f^2) / 2`` | ``(l_f - 1)^2 / 2`` |
| ``wasserstein_gp`` (Gulrajani et al. 2017) | ``l_f - l_r + lambda (|grad_x D(x_hat)| - 1)^2`` | ``-l_f`` |

with s the logistic sigmoid and x_hat random interpolates of real and fake. Packing
(PacGAN, Lin et al. 2018): the discriminator judges ``pack`` samples at once, all real or
all fake, concatenated along the channel (images) or feature (vectors) axis.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("minimax", "non_saturating", "hinge", "least_squares", "wasserstein_gp")


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss (without the gradient penalty) from its outputs (B,)."""
    if kind in ("minimax", "non_saturating"):
        return F.softplus(-real).mean() + F.softplus(fake).mean()  # -log s(r) - log(1 - s(f))
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "least_squares":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean()
    if kind == "wasserstein_gp":
        return fake.mean() - real.mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss from the discriminator's outputs on fakes (B,)."""
    if kind == "minimax":
        return -F.softplus(fake).mean()  # log(1 - s(f))
    if kind == "non_saturating":
        return F.softplus(-fake).mean()  # -log s(f)
    if kind in ("hinge", "wasserstein_gp"):
        return -fake.mean()
    if kind == "least_squares":
        return 0.5 * ((fake - 1) ** 2).mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def d_probability(kind: str, out: torch.Tensor) -> torch.Tensor:
    """What to log as D(x): the probability of "real" for the logistic losses, else the raw output."""
    return torch.sigmoid(out).mean() if kind in ("minimax", "non_saturating") else out.mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, *, weight: float = 10.0,
                     **kwargs) -> torch.Tensor:
    """WGAN-GP: ``weight * E (|grad D(x_hat)|_2 - 1)^2`` at random interpolates x_hat."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(x_hat, **kwargs)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """(B, C, ...) -> (B // m, m C, ...): m consecutive examples side by side along dim 1."""
    if m == 1:
        return x
    B = x.shape[0] - x.shape[0] % m  # a remainder of fewer than m examples is left out
    x = x[:B]
    return x.reshape(B // m, m * x.shape[1], *x.shape[2:])


def spectral_norm_all(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every conv and linear layer of ``module``."""
    from torch.nn.utils.parametrizations import spectral_norm

    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d, nn.Embedding)):
            setattr(module, name, spectral_norm(child))
        else:
            spectral_norm_all(child)
    return module

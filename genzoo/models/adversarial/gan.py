"""GAN: the original multilayer-perceptron generative adversarial network.

Goodfellow, Pouget-Abadie, Mirza, Xu, Warde-Farley, Ozair, Courville & Bengio (2014),
"Generative Adversarial Nets", NeurIPS. The MLP sizes of the default follow the 2-D
mode-collapse experiments of PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et al.
2017): a generator of four hidden ReLU layers of 400 units with batch norm from a 2-d
noise, a discriminator of three hidden layers of 200 units (LeakyReLU 0.2 here).

For vectors (toy 2-D data, feature vectors) and flattened images of any value type: the
generator ends in tanh, in [-1, 1], which ``sample`` maps into the data's own space
(:func:`genzoo.nn.values.from_unit`). Every loss of :mod:`genzoo.models.adversarial.losses`, packing,
``n_critic``, TTUR and spectral norm come from
:class:`~genzoo.models.adversarial.base.NoiseGAN`. No likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genzoo.config import positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.adversarial.base import AdversarialConfig, NoiseGAN
from genzoo.models.registry import register


@dataclass
class GANConfig(AdversarialConfig):
    """MLP GAN hyperparameters; the game's settings are
    :class:`~genzoo.models.adversarial.base.AdversarialConfig`'s.

    Args:
        g_hidden: widths of the generator's hidden layers.
        d_hidden: widths of the discriminator's hidden layers.
        g_batch_norm: batch norm after every hidden layer of the generator.
    """

    latent_dim: int = 2
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    g_hidden: tuple[int, ...] = (400, 400, 400, 400)
    d_hidden: tuple[int, ...] = (200, 200, 200)
    g_batch_norm: bool = True

    def validate(self) -> None:
        super().validate()
        if not self.g_hidden or not self.d_hidden:
            raise GenzooError("g_hidden and d_hidden need at least one layer each")
        for h in (*self.g_hidden, *self.d_hidden):
            positive(h, "hidden width")


class MLPGenerator(nn.Module):
    """z (B, latent) -> x (B, *shape) in [-1, 1]."""

    def __init__(self, latent: int, hidden: tuple[int, ...], shape: tuple[int, ...], *, batch_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = latent
        for h in hidden:
            layers += [nn.Linear(width, h), *([nn.BatchNorm1d(h)] if batch_norm else []), nn.ReLU()]
            width = h
        self.net = nn.Sequential(*layers, nn.Linear(width, math.prod(shape)), nn.Tanh())
        self.shape = shape

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    """x (B, *packed shape) in [-1, 1] -> logit (B,)."""

    def __init__(self, dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(-1)


@register
class GAN(NoiseGAN):
    """MLP GAN for vectors and flattened images; no likelihood."""

    name = "gan"
    Config = GANConfig
    accepts = (("vector", "*"), ("image", "*"))

    def __init__(self, config: GANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.generator = MLPGenerator(config.latent_dim, tuple(config.g_hidden), spec.shape,
                                      batch_norm=config.g_batch_norm)
        self.discriminator = MLPDiscriminator(spec.dim * config.pack, tuple(config.d_hidden))
        self.finish()

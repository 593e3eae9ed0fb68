"""Deep convolutional GAN.

Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", ICLR 2016: a generator of transposed convolutions with
batch norm and ReLU ending in tanh, a discriminator of strided convolutions with batch
norm and LeakyReLU(0.2), Adam with lr 2e-4 and beta1 = 0.5, weights drawn from N(0, 0.02).

The game (:class:`~genzoo.models.adversarial.base.NoiseGAN`) is Goodfellow et
al.'s by default, with the non-saturating generator loss; ``loss`` selects minimax, hinge,
least squares or Wasserstein with gradient penalty. Options of the later literature:
``spectral_norm`` on the discriminator (Miyato et al. 2018), ``n_critic`` discriminator
steps per generator step, separate learning rates (TTUR), packing (``pack``: PacGAN,
Lin et al. 2018), and an EMA generator through the trainer's ``train.ema``.

The networks work in [-1, 1]: real data of any value type is mapped there for D
(:func:`genzoo.nn.values.to_unit`) and ``sample`` maps G's output back into the data's
own space. There is no likelihood (``log_prob`` raises).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genzoo.config import positive
from genzoo.data.spec import DataSpec
from genzoo.errors import IncompatibleDataError
from genzoo.models.adversarial.base import AdversarialConfig, NoiseGAN
from genzoo.models.registry import register


@dataclass
class DCGANConfig(AdversarialConfig):
    """DCGAN hyperparameters (defaults suit 8x8 digits); the game's settings are
    :class:`~genzoo.models.adversarial.base.AdversarialConfig`'s.

    Args:
        channels: base width; G and D use 1x, 2x and 4x this many channels.
    """

    channels: int = 32

    def validate(self) -> None:
        super().validate()
        positive(self.channels, "channels")


# ---- networks --------------------------------------------------------------------------
class Generator(nn.Module):
    """z (B, L) -> image (B, C, H, W) in [-1, 1]."""

    def __init__(self, latent: int, c: int, h: int, w: int, ch: int) -> None:
        super().__init__()
        self.start = (4 * ch, h // 4, w // 4)
        # Project and reshape, then two stride-2 upsamplings: H/4 -> H/2 -> H.
        self.project = nn.Linear(latent, 4 * ch * (h // 4) * (w // 4), bias=False)
        self.net = nn.Sequential(
            nn.BatchNorm2d(4 * ch), nn.ReLU(),
            nn.ConvTranspose2d(4 * ch, 2 * ch, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ch), nn.ReLU(),
            nn.ConvTranspose2d(2 * ch, ch, 4, 2, 1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(),
            nn.Conv2d(ch, c, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.project(z).view(z.shape[0], *self.start))  # (B, C, H, W)


def downsampler(c: int, ch: int, *, batch_norm: bool = True) -> nn.Sequential:
    """image (B, c, H, W) -> features (B, 4 ch (H/4) (W/4)): D's strided convolutions with
    LeakyReLU(0.2), batch norm after all but the first (also the encoder of ``bigan``)."""

    def norm(n: int) -> nn.Module:
        return nn.BatchNorm2d(n) if batch_norm else nn.Identity()

    # No batch norm on the input layer (Radford et al.): it would erase the statistics
    # D has to tell apart.
    return nn.Sequential(
        nn.Conv2d(c, ch, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(ch, 2 * ch, 4, 2, 1, bias=not batch_norm), norm(2 * ch), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * ch, 4 * ch, 3, 1, 1, bias=not batch_norm), norm(4 * ch), nn.LeakyReLU(0.2),
        nn.Flatten())


class Discriminator(nn.Module):
    """image (B, C, H, W) in [-1, 1] -> logit of "real" (B,); ``c`` counts packed channels."""

    def __init__(self, c: int, h: int, w: int, ch: int, *, batch_norm: bool = True) -> None:
        super().__init__()
        self.net = downsampler(c, ch, batch_norm=batch_norm)
        self.head = nn.Linear(4 * ch * (h // 4) * (w // 4), 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.net(x)).squeeze(-1)  # (B,)


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.'s init: conv / linear weights ~ N(0, 0.02), BN scales ~ N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@register
class DCGAN(NoiseGAN):
    """DCGAN for images whose height and width divide by 4; no likelihood."""

    name = "dcgan"
    Config = DCGANConfig
    accepts = (("image", "*"),)

    def __init__(self, config: DCGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, h, w = spec.shape
        self.generator = Generator(config.latent_dim, c, h, w, config.channels)
        self.discriminator = Discriminator(c * config.pack, h, w, config.channels, batch_norm=config.d_batch_norm)
        self.apply(dcgan_init)
        self.finish()

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        """Images only, with height and width divisible by 4 (two stride-2 stages)."""
        super().check_spec(spec)
        check_quarterable(cls.name, spec)


def check_quarterable(name: str, spec: DataSpec) -> None:
    """Refuse data that is not (C, H, W) images with H and W divisible by 4."""
    if len(spec.shape) != 3 or spec.shape[1] % 4 or spec.shape[2] % 4:
        raise IncompatibleDataError(
            f"model {name!r} needs images of shape (C, H, W) with H and W divisible by 4; "
            f"{spec.name!r} is {spec.describe}")

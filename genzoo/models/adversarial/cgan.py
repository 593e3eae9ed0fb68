"""Class-conditional GAN: conditional batch norm in the generator, a projection discriminator.

Mirza & Osindero (2014), "Conditional Generative Adversarial Nets"; the projection
discriminator of Miyato & Koyama (2018), "cGANs with Projection Discriminator", ICLR,
with spectral normalisation (Miyato et al. 2018) and the hinge loss as there; conditional
batch norm (de Vries et al. 2017; Dumoulin et al. 2017) in the generator.

Generator: z -> linear -> (4c, H/4, W/4) -> [CBN, ReLU, 4x4 transposed conv] x 2 -> CBN,
ReLU, 3x3 conv -> tanh. Conditional batch norm normalises without its own affine map and
scales and shifts each channel by a learned per-class ``gamma_y``, ``beta_y``.
Discriminator: strided convolutions with LeakyReLU to features ``phi(x)`` (summed over
space), then ``D(x, y) = psi(phi(x)) + <embed(y), phi(x)>``: the inner product with a
class embedding is the "projection". ``sample(n, condition=labels)`` draws the classes
asked for (uniformly random ones with ``condition=None``). No likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genzoo.config import positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.adversarial.base import AdversarialConfig, NoiseGAN
from genzoo.models.adversarial.dcgan import dcgan_init
from genzoo.models.base import Batch
from genzoo.models.registry import register
from genzoo.nn import rand


@dataclass
class CGANConfig(AdversarialConfig):
    """Conditional GAN hyperparameters; the game's settings are
    :class:`~genzoo.models.adversarial.base.AdversarialConfig`'s (here hinge loss and
    spectral norm by default, as in the projection-discriminator paper).

    Args:
        channels: base width; G and D use 1x, 2x and 4x this many channels.
    """

    loss: str = "hinge"
    spectral_norm: bool = True
    lr_d: float = 4e-4  # TTUR, as in Miyato & Koyama's ImageNet runs
    betas: tuple[float, float] = (0.0, 0.9)
    channels: int = 32

    def validate(self) -> None:
        super().validate()
        positive(self.channels, "channels")
        if self.pack != 1:
            raise GenzooError("cgan does not pack samples (pack must be 1): packed groups would mix classes")


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without its own affine map, then a per-class scale and shift."""

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Embedding(classes, channels)
        self.beta = nn.Embedding(classes, channels)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.gamma(y)[:, :, None, None] * self.bn(h) + self.beta(y)[:, :, None, None]


class CondGenerator(nn.Module):
    """(z (B, L), y (B,)) -> image (B, C, H, W) in [-1, 1]."""

    def __init__(self, latent: int, c: int, h: int, w: int, ch: int, classes: int) -> None:
        super().__init__()
        self.start = (4 * ch, h // 4, w // 4)
        self.project = nn.Linear(latent, 4 * ch * (h // 4) * (w // 4), bias=False)
        self.norms = nn.ModuleList([ConditionalBatchNorm2d(n, classes) for n in (4 * ch, 2 * ch, ch)])
        self.ups = nn.ModuleList([nn.ConvTranspose2d(4 * ch, 2 * ch, 4, 2, 1, bias=False),
                                  nn.ConvTranspose2d(2 * ch, ch, 4, 2, 1, bias=False)])
        self.out = nn.Conv2d(ch, c, 3, 1, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], *self.start)  # (B, 4c, H/4, W/4)
        for norm, up in zip(self.norms, self.ups):
            h = up(torch.relu(norm(h, y)))
        return torch.tanh(self.out(torch.relu(self.norms[-1](h, y))))  # (B, C, H, W)


class ProjectionDiscriminator(nn.Module):
    """(x (B, C, H, W), y (B,)) -> psi(phi(x)) + <embed(y), phi(x)> (B,)."""

    def __init__(self, c: int, ch: int, classes: int) -> None:
        super().__init__()
        self.phi = nn.Sequential(
            nn.Conv2d(c, ch, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(ch, 2 * ch, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * ch, 4 * ch, 3, 1, 1), nn.LeakyReLU(0.2))
        self.psi = nn.Linear(4 * ch, 1)
        self.embed = nn.Embedding(classes, 4 * ch)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        f = self.phi(x).sum((2, 3))  # (B, 4c): global sum pooling
        return self.psi(f).squeeze(-1) + (self.embed(y) * f).sum(1)


@register
class CGAN(NoiseGAN):
    """Class-conditional GAN for labelled images (H, W divisible by 4); no likelihood."""

    name = "cgan"
    Config = CGANConfig
    accepts = (("image", "*"),)
    capabilities = ("conditional", "complete", "decode", "invert")

    def __init__(self, config: CGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, h, w = spec.shape
        self.num_classes = int(spec.num_classes or 0)  # check_spec asked for labels
        self.generator = CondGenerator(config.latent_dim, c, h, w, config.channels, self.num_classes)
        self.discriminator = ProjectionDiscriminator(c, config.channels, self.num_classes)
        self.apply(dcgan_init)
        for m in self.generator.norms:  # dcgan_init must not touch the class embeddings' init
            nn.init.ones_(m.gamma.weight)
            nn.init.zeros_(m.beta.weight)
        self.finish()

    @classmethod
    def accepts_spec(cls, spec: DataSpec) -> bool:
        return (super().accepts_spec(spec) and bool(spec.num_classes) and len(spec.shape) == 3
                and spec.shape[1] % 4 == 0 and spec.shape[2] % 4 == 0)

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        """Labelled images with height and width divisible by 4."""
        if not cls.accepts_spec(spec):
            raise IncompatibleDataError(
                f"model 'cgan' cannot model {spec.name!r} ({spec.describe}); it accepts: labelled images "
                "with H and W divisible by 4")

    def labels_for(self, batch: Batch, n: int) -> torch.Tensor:
        if "y" not in batch:
            raise GenzooError("cgan trains on labelled batches (batch['y'])")
        return batch["y"][:n].to(self.device).long()

    def sample_labels(self, n: int, condition: torch.Tensor | None,
                      generator: torch.Generator | None) -> torch.Tensor:
        if condition is None:  # uniform classes, from the same generator as z
            return torch.floor(self.num_classes * rand.rand(n, generator=generator)).long().clamp(max=self.num_classes - 1)
        y = torch.as_tensor(condition, device=self.device).long().reshape(-1)
        if y.shape[0] != n or int(y.min()) < 0 or int(y.max()) >= self.num_classes:
            raise GenzooError(f"condition must be {n} class ids in [0, {self.num_classes})")
        return y

"""SRGAN: x4 super-resolution with a content loss and an adversarial loss.

Ledig, Theis, Huszar, Caballero, Cunningham, Acosta, Aitken, Tejani, Totz, Wang & Shi
(2017), "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network", CVPR. arXiv:1609.04802.

The low-resolution input of an image x (C, H, W) is its 4x4 average, (C, H/4, W/4)
(7x7 for MNIST). Generator (SRResNet): a 9x9 convolution, ``blocks`` residual blocks
(conv-BN-PReLU-conv-BN plus the input), a long skip connection, two x2 sub-pixel
upsamplings (convolution then pixel shuffle, PReLU), a 9x9 convolution and tanh.
Discriminator: strided LeakyReLU convolutions with batch norm, global average pooling
and a dense head. The generator minimizes ``content + adversarial_weight * adversarial``:
the content loss is the pixel-wise MSE (the paper's SRResNet-MSE content; its VGG feature
loss needs ImageNet weights), the adversarial loss the non-saturating one (the paper's
weight 1e-3). ``adversarial_weight=0`` trains the same generator with the MSE alone, the
baseline ``genzoo superres`` compares against (with bicubic upsampling) by PSNR, SSIM
and sharpness.

``sample(n, condition=low_res)`` super-resolves the given low-resolution images (values
in [-1, 1], (n, C, H/4, W/4)); without a condition it super-resolves low-resolution
versions of training images kept when training started. ``superresolve(x_low)`` maps
data-space (or, with ``unit=True``, [-1, 1]) low-res images to data-space high-res ones,
``upscale(low)`` gives the generator's unquantised estimate in [-1, 1]. No likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.config import positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.adversarial.base import AdversarialModel, Role
from genzoo.models.base import Batch
from genzoo.models.registry import register
from genzoo.nn import rand
from genzoo.nn.values import from_unit, to_unit

FACTOR = 4
KEPT = 64  # low-res training images kept for unconditional ``sample``


@dataclass
class SRGANConfig:
    """SRGAN hyperparameters (CPU-sized defaults; the paper: 64 channels, 16 blocks).

    Args:
        channels: width of the generator's residual stream.
        blocks: residual blocks of the generator.
        d_channels: base width of the discriminator.
        adversarial_weight: weight of the adversarial loss (0: the MSE-only generator).
        lr_g: generator learning rate.
        lr_d: discriminator learning rate.
    """

    channels: int = 32
    blocks: int = 4
    d_channels: int = 32
    adversarial_weight: float = 1e-3
    lr_g: float = 1e-4
    lr_d: float = 1e-4

    def validate(self) -> None:
        for key in ("channels", "blocks", "d_channels", "lr_g", "lr_d"):
            positive(getattr(self, key), key)
        positive(self.adversarial_weight, "adversarial_weight", allow_zero=True)


def low_res(u: torch.Tensor) -> torch.Tensor:
    """The 4x4 average of images in [-1, 1]: (B, C, H, W) -> (B, C, H/4, W/4)."""
    return F.avg_pool2d(u, FACTOR)


class ResidualBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.BatchNorm2d(ch), nn.PReLU(ch),
                                  nn.Conv2d(ch, ch, 3, 1, 1), nn.BatchNorm2d(ch))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


class SRGenerator(nn.Module):
    """Low-res (B, C, h, w) in [-1, 1] -> high-res (B, C, 4h, 4w) in [-1, 1]."""

    def __init__(self, c: int, ch: int, blocks: int) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(c, ch, 9, 1, 4), nn.PReLU(ch))
        self.body = nn.Sequential(*[ResidualBlock(ch) for _ in range(blocks)], nn.Conv2d(ch, ch, 3, 1, 1),
                                  nn.BatchNorm2d(ch))
        self.up = nn.Sequential(*[m for _ in range(2) for m in (nn.Conv2d(ch, 4 * ch, 3, 1, 1), nn.PixelShuffle(2),
                                                                  nn.PReLU(ch))])
        self.tail = nn.Conv2d(ch, c, 9, 1, 4)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        h = self.head(lr)  # (B, ch, h, w)
        h = self.up(h + self.body(h))  # the long skip, then two x2 sub-pixel steps: (B, ch, 4h, 4w)
        return torch.tanh(self.tail(h))


class SRDiscriminator(nn.Module):
    """High-res (B, C, H, W) in [-1, 1] -> logit of "real" (B,)."""

    def __init__(self, c: int, ch: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(c, ch, 3, 1, 1), nn.LeakyReLU(0.2)]
        widths = [(ch, ch, 2), (ch, 2 * ch, 1), (2 * ch, 2 * ch, 2), (2 * ch, 4 * ch, 1)]
        for a, b, s in widths:
            layers += [nn.Conv2d(a, b, 3, s, 1), nn.BatchNorm2d(b), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * ch, 4 * ch),
                                 nn.LeakyReLU(0.2), nn.Linear(4 * ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


SR_BETAS = (0.9, 0.999)  # Adam's defaults, as in the paper


@register
class SRGAN(AdversarialModel):
    """x4 super-resolution GAN (or, with ``adversarial_weight=0``, SRResNet-MSE); no likelihood."""

    name = "srgan"
    Config = SRGANConfig
    accepts = (("image", "*"),)
    capabilities = ("conditional", "superres")
    #: the discriminator only while the adversarial loss is on, then the generator
    roles = (Role("discriminator", ("discriminator",), "discriminator_loss", lr="lr_d", betas=SR_BETAS, critic=True,
                  when="adversarial_weight"),
             Role("generator", ("generator",), "generator_loss", lr="lr_g", betas=SR_BETAS))

    @property
    def gan_loss(self) -> str:
        return "non_saturating"  # the paper's; not a setting

    def __init__(self, config: SRGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, h, w = spec.shape
        self.generator = SRGenerator(c, config.channels, config.blocks)
        self.discriminator = SRDiscriminator(c, config.d_channels)
        self.register_buffer("kept_low_res", torch.zeros(KEPT, c, h // FACTOR, w // FACTOR))

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        super().check_spec(spec)
        if spec.shape[1] % FACTOR or spec.shape[2] % FACTOR:
            raise IncompatibleDataError(f"model 'srgan' upsamples x4: it needs H and W divisible by 4; "
                                        f"{spec.name!r} is {spec.describe}")

    def prepare(self, data: Any) -> None:
        """Keep low-res versions of the first training images for unconditional sampling."""
        x = data.fixed("train").x[:KEPT]
        lr = low_res(to_unit(x, self.spec))
        self.kept_low_res[: len(lr)] = lr

    # ---- the players -----------------------------------------------------------------
    def discriminator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        hr = to_unit(batch["x"].to(self.device), self.spec)
        sr = self.generator(low_res(hr)).detach()
        return self.judge(self.discriminator(hr), self.discriminator(sr))

    def generator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Pixel MSE (content) plus the weighted adversarial loss."""
        hr = to_unit(batch["x"].to(self.device), self.spec)
        sr = self.generator(low_res(hr))
        content = F.mse_loss(sr, hr)
        out = {"content": content.detach()}
        loss = content
        if self.config.adversarial_weight > 0:
            adv = self.fool(self.discriminator(sr))
            loss = loss + self.config.adversarial_weight * adv
            out["adversarial"] = adv.detach()
        return {"loss": loss, **out}

    # ---- super-resolution ------------------------------------------------------------
    @torch.no_grad()
    def upscale(self, low: torch.Tensor) -> torch.Tensor:
        """The generator's estimate, unquantised: low-res images in [-1, 1]
        (B, C, H/4, W/4) -> high-res ones in [-1, 1] (B, C, H, W)."""
        c, h, w = self.spec.shape
        if tuple(low.shape[1:]) != (c, h // FACTOR, w // FACTOR):
            raise GenzooError(f"low-resolution input must be (B, {c}, {h // FACTOR}, {w // FACTOR}), "
                              f"got {tuple(low.shape)}")
        return self.generator(low.to(self.device))

    @torch.no_grad()
    def superresolve(self, x_low: torch.Tensor, *, generator: torch.Generator | None = None, unit: bool = False,
                     stochastic: bool = True) -> torch.Tensor:
        """Low-res images (B, C, H/4, W/4) -> high-res ones in the data's own space (B, C, H, W).

        ``x_low`` is in the data's own space, or with ``unit`` in [-1, 1] (the 4x4 average of
        binary or categorical images is grey, not a data value). Binary outputs are drawn
        with ``generator``, or thresholded when ``stochastic`` is False."""
        low = x_low if unit else to_unit(x_low.to(self.device), self.spec)
        return from_unit(self.upscale(low), self.spec, generator=generator, stochastic=stochastic)

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Super-resolutions (n, C, H, W) of ``condition`` (low-res in [-1, 1]) or of kept
        low-res training images chosen with ``generator``."""
        if condition is None:
            idx = torch.floor(KEPT * rand.rand(n, generator=generator)).long().clamp(max=KEPT - 1)
            condition = self.kept_low_res[idx.to(self.kept_low_res.device)]
        return from_unit(self.generator(condition.to(self.device)), self.spec, generator=generator)

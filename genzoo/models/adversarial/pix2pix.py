"""pix2pix: paired image-to-image translation with a conditional GAN.

Isola, Zhu, Zhou & Efros (2017), "Image-to-Image Translation with Conditional Adversarial
Networks", CVPR. arXiv:1611.07004.

On the ``pairs`` dataset (a source image a in ``batch["source"]``, its target b in
``batch["x"]``). The generator is a U-Net G(a); the discriminator a PatchGAN D(a, b)
that sees the source beside a real or generated target, one logit per patch. D minimizes
the (non-saturating) GAN loss over patches; G minimizes ``adversarial + l1_weight *
|G(a) - b|_1`` (the paper's lambda = 100: the L1 term gets the low frequencies right,
the patch discriminator the sharp detail). Networks: :mod:`genzoo.models.adversarial.image2image`.

``sample(n, condition=sources)`` translates given sources (values in [-1, 1], the source
shape); without a condition, sources kept from the training set. ``translate(a)`` maps
data-space sources to data-space targets. No likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genzoo.config import positive
from genzoo.data.spec import DataSpec
from genzoo.models.adversarial.base import GAN_BETAS, Role
from genzoo.models.adversarial.image2image import PatchGAN, UNet
from genzoo.models.adversarial.translation import TranslationConfig, TranslationModel
from genzoo.models.base import Batch
from genzoo.models.registry import register
from genzoo.nn.values import from_unit, to_unit


@dataclass
class Pix2PixConfig(TranslationConfig):
    """pix2pix hyperparameters (CPU-sized; the paper: 64 base channels, 8 levels):
    ``channels``, ``depth``, ``d_layers``, ``loss`` and ``lr`` as in
    :class:`~genzoo.models.adversarial.translation.TranslationConfig`, and

    Args:
        l1_weight: lambda of the L1 term.
    """

    l1_weight: float = 100.0

    def validate(self) -> None:
        super().validate()
        positive(self.l1_weight, "l1_weight", allow_zero=True)


@register
class Pix2Pix(TranslationModel):
    """Paired image-to-image translation (U-Net + PatchGAN, L1 + adversarial); no likelihood."""

    name = "pix2pix"
    Config = Pix2PixConfig
    roles = (Role("discriminator", ("discriminator",), "discriminator_loss", lr="lr", betas=GAN_BETAS, critic=True),
             Role("generator", ("generator",), "generator_loss", lr="lr", betas=GAN_BETAS))

    def __init__(self, config: Pix2PixConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, h, w = spec.shape
        self.generator = UNet(self.src_shape[0], c, h, w, channels=config.channels, depth=config.depth)
        self.discriminator = PatchGAN(self.src_shape[0] + c, h, w, channels=config.channels, layers=config.d_layers)

    # ---- the players -----------------------------------------------------------------
    def discriminator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        a, b = self.source(batch), to_unit(batch["x"].to(self.device), self.spec)
        fake = self.generator(a).detach()
        return self.judge(self.discriminator(torch.cat([a, b], 1)), self.discriminator(torch.cat([a, fake], 1)))

    def generator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        a, b = self.source(batch), to_unit(batch["x"].to(self.device), self.spec)
        fake = self.generator(a)
        adv = self.fool(self.discriminator(torch.cat([a, fake], 1)))
        l1 = F.l1_loss(fake, b)
        return {"loss": adv + self.config.l1_weight * l1, "adversarial": adv.detach(), "l1": l1.detach()}

    # ---- translation -----------------------------------------------------------------
    @torch.no_grad()
    def translate(self, a: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sources in the data's own space (B, *source shape) -> targets (B, *shape)."""
        return from_unit(self.generator(to_unit(a.to(self.device), self.spec)), self.spec, generator=generator)

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """G(a) for sources ``condition`` (in [-1, 1]) or kept training sources chosen with ``generator``."""
        if condition is None:
            condition = self.kept_sources(n, generator)
        return from_unit(self.generator(condition.to(self.device)), self.spec, generator=generator)

"""Deep convolutional GAN.

Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks", ICLR 2016: a generator of transposed convolutions with
batch norm and ReLU ending in tanh, a discriminator of strided convolutions with batch
norm and LeakyReLU(0.2), Adam with lr 2e-4 and beta1 = 0.5, weights drawn from N(0, 0.02).

The game is that of Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014: D
maximizes ``log D(x) + log(1 - D(G(z)))``; G either minimizes ``log(1 - D(G(z)))`` (the
minimax game, whose gradient vanishes when D confidently rejects fakes) or maximizes
``log D(G(z))`` (the paper's non-saturating alternative, the default).

The networks work in [-1, 1]: real data of any value type is mapped there for D
(:func:`genzoo.nn.values.to_unit`) and ``sample`` maps G's output back into the data's
own space. There is no likelihood (``log_prob`` raises).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.base import Batch, GenerativeModel, Player
from genzoo.models.registry import register
from genzoo.nn import rand
from genzoo.nn.values import from_unit, to_unit


@dataclass
class Config:
    """DCGAN hyperparameters (defaults suit 8x8 digits).

    Args:
        latent_dim: size of the noise z ~ N(0, I).
        channels: base width; G and D use 1x, 2x and 4x this many channels.
        gen_loss: ``non_saturating`` (G minimizes -log D(G(z))) or ``minimax``
            (G minimizes log(1 - D(G(z)))).
        lr_g: generator learning rate.
        lr_d: discriminator learning rate.
        betas: Adam betas for both players.
        d_steps: discriminator updates per generator update.
    """

    latent_dim: int = 32
    channels: int = 32
    gen_loss: Literal["non_saturating", "minimax"] = "non_saturating"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    d_steps: int = 1

    def validate(self) -> None:
        choice(self.gen_loss, ("non_saturating", "minimax"), "gen_loss")
        for key in ("latent_dim", "channels", "lr_g", "lr_d", "d_steps"):
            positive(getattr(self, key), key)
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise GenzooError(f"bad value {self.betas!r} for betas: expected two numbers in [0, 1)")


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

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(z.shape[0], *self.start))  # (B, C, H, W)


class Discriminator(nn.Module):
    """image (B, C, H, W) in [-1, 1] -> logit of "real" (B,)."""

    def __init__(self, c: int, h: int, w: int, ch: int) -> None:
        super().__init__()
        # No batch norm on D's input layer (Radford et al.): it would erase the statistics
        # D has to tell apart.
        self.net = nn.Sequential(
            nn.Conv2d(c, ch, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(ch, 2 * ch, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ch), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * ch, 4 * ch, 3, 1, 1, bias=False), nn.BatchNorm2d(4 * ch), nn.LeakyReLU(0.2),
            nn.Flatten())
        self.head = nn.Linear(4 * ch * (h // 4) * (w // 4), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x)).squeeze(-1)  # (B,)


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.'s init: conv / linear weights ~ N(0, 0.02), BN scales ~ N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


@register
class DCGAN(GenerativeModel):
    """DCGAN for images whose height and width divide by 4; no likelihood."""

    name = "dcgan"
    Config = Config
    likelihood = None
    accepts = (("image", "*"),)
    capabilities = ()
    family = "adversarial"

    def __init__(self, config: Config, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, h, w = spec.shape
        self.generator = Generator(config.latent_dim, c, h, w, config.channels)
        self.discriminator = Discriminator(c, h, w, config.channels)
        self.apply(dcgan_init)

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        """Images only, with height and width divisible by 4 (two stride-2 stages)."""
        super().check_spec(spec)
        if len(spec.shape) != 3 or spec.shape[1] % 4 or spec.shape[2] % 4:
            raise IncompatibleDataError(
                f"model 'dcgan' needs images of shape (C, H, W) with H and W divisible by 4; "
                f"{spec.name!r} is {spec.describe}")

    # ---- the two players' losses ------------------------------------------------------
    def _noise(self, n: int) -> torch.Tensor:
        # Training noise comes from the global RNG (seeded by the trainer).
        return torch.randn(n, self.config.latent_dim, device=self.device)

    def discriminator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """D's loss: BCE with real -> 1 and (detached) fake -> 0."""
        x = to_unit(batch["x"], self.spec)  # (B, C, H, W) in [-1, 1]
        fake = self.generator(self._noise(x.shape[0])).detach()  # no gradient into G
        # Real and fake go through D as separate batches, as in the DCGAN reference code,
        # so batch norm never mixes the two distributions' statistics.
        real_logit, fake_logit = self.discriminator(x), self.discriminator(fake)
        # -log sigmoid(l) = softplus(-l); -log(1 - sigmoid(l)) = softplus(l).
        loss = F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean()
        return {"loss": loss, "d_loss": loss.detach(),
                "d_real": torch.sigmoid(real_logit).mean().detach(),
                "d_fake": torch.sigmoid(fake_logit).mean().detach()}

    def generator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """G's loss: ``-log D(G(z))`` (non-saturating) or ``log(1 - D(G(z)))`` (minimax).

        The backward pass also leaves gradients on D's parameters; the generator
        player's optimizer updates only G, and the trainer zeroes gradients per player.
        """
        n = batch["x"].shape[0]
        fake_logit = self.discriminator(self.generator(self._noise(n)))
        if self.config.gen_loss == "non_saturating":
            loss = F.softplus(-fake_logit).mean()  # -log D(G(z))
        else:
            loss = -F.softplus(fake_logit).mean()  # log(1 - D(G(z)))
        with torch.no_grad():
            d_real = torch.sigmoid(self.discriminator(to_unit(batch["x"], self.spec))).mean()
        return {"loss": loss, "g_loss": loss.detach(), "d_real": d_real,
                "d_fake": torch.sigmoid(fake_logit).mean().detach()}

    def players(self) -> list[Player]:
        """The discriminator (``d_steps`` updates) then the generator, each with Adam."""
        c = self.config
        return [
            Player("discriminator", list(self.discriminator.parameters()), self.discriminator_loss,
                   steps=c.d_steps, lr=c.lr_d, betas=tuple(c.betas)),
            Player("generator", list(self.generator.parameters()), self.generator_loss,
                   lr=c.lr_g, betas=tuple(c.betas)),
        ]

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Both players' losses summed (for logging and the contract tests only)."""
        d, g = self.discriminator_loss(batch), self.generator_loss(batch)
        return {"loss": d["loss"] + g["loss"], "d_loss": d["d_loss"], "g_loss": g["g_loss"],
                "d_real": d["d_real"], "d_fake": d["d_fake"]}

    # ---- sampling --------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """G(z) mapped into the data's space: (n, C, H, W) of the spec's dtype.

        z and the binary draws come from ``generator`` only. G's batch norm follows the
        module's mode (eval: running statistics, so samples do not depend on ``n``).
        Binary pixels are drawn as bernoulli((g + 1) / 2), categorical ones rounded to the
        nearest level, continuous ones mapped linearly onto the value range.
        """
        self.sample_condition(n, condition)
        z = rand.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        return from_unit(self.generator(z), self.spec, generator=generator)

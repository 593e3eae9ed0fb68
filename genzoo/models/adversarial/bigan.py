"""BiGAN / ALI: a GAN that also learns the inverse map, with a discriminator on (x, z) pairs.

Donahue, Kraehenbuehl & Darrell, "Adversarial Feature Learning", ICLR 2017 (BiGAN), and
Dumoulin, Belghazi, Poole, Mastropietro, Lamb, Arjovsky & Courville, "Adversarially
Learned Inference", ICLR 2017 (ALI): the same game, found at the same time.

Three networks: a generator G (z -> x, the DCGAN generator), an encoder E (x -> z,
DCGAN's strided convolutions ending in a linear map; deterministic, as in BiGAN), and a
discriminator D(x, z) that sees *pairs*: (x, E(x)) for real images, (G(z), z) for prior
draws z ~ N(0, I). D tells the two joint distributions apart; G and E, one player,
make them match. At the optimum the joint distributions are equal, so E inverts G
(E = G^-1 almost everywhere, Donahue et al.'s Theorem 2) without E ever being trained to
reconstruct anything. In practice G(E(x)) keeps what D can use to tell pairs apart,
the digit's identity and rough style, not the exact pixels: reconstructions are
semantic, not pixel-exact.

D: the image passes DCGAN's strided convolutions, the code a linear layer, and their
joined features an MLP with dropout (both papers use dropout in D) to one logit. The
G/E player's loss is the GAN loss with the pairs' roles swapped: G makes D call
(G(z), z) real, E makes D call (x, E(x)) fake.

Capabilities: ``encode`` (E), ``decode`` (G), ``invert`` and ``complete`` (GAN
inversion, from :class:`~genzoo.models.adversarial.base.NoiseGAN`); so ``genzoo
interpolate``, ``probe`` and ``eval --metrics recon`` work on it. No likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genzoo.config import positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.adversarial import losses
from genzoo.models.adversarial.base import DISCRIMINATOR, AdversarialConfig, NoiseGAN, Role
from genzoo.models.adversarial.dcgan import Generator, check_quarterable, dcgan_init, downsampler
from genzoo.models.base import Batch
from genzoo.models.registry import register
from genzoo.nn.values import to_unit


@dataclass
class BiGANConfig(AdversarialConfig):
    """BiGAN hyperparameters (defaults suit 8x8 digits); the game's settings are
    :class:`~genzoo.models.adversarial.base.AdversarialConfig`'s (``pack`` must stay 1
    and the gradient penalty is not offered: D judges pairs).

    Args:
        channels: base width of G, E and D's image branch (1x, 2x, 4x this many).
        d_hidden: width of D's code branch and of its joint layers.
        dropout: dropout in D's joint layers.
    """

    channels: int = 32
    d_hidden: int = 256
    dropout: float = 0.2

    def validate(self) -> None:
        super().validate()
        positive(self.channels, "channels")
        positive(self.d_hidden, "d_hidden")
        if not 0.0 <= self.dropout < 1.0:
            raise GenzooError(f"bad value {self.dropout!r} for dropout: expected a number in [0, 1)")
        if self.pack != 1:
            raise GenzooError("bigan does not pack samples (pack must be 1): its discriminator judges (x, z) pairs")
        if self.loss == "wasserstein_gp":
            raise GenzooError("bigan offers no gradient penalty on (x, z) pairs: choose loss minimax, "
                              "non_saturating, hinge or least_squares")


class Encoder(nn.Module):
    """x (B, C, H, W) in [-1, 1] -> z (B, L): strided convolutions, then a linear map."""

    def __init__(self, c: int, h: int, w: int, ch: int, latent: int) -> None:
        super().__init__()
        self.net = downsampler(c, ch, batch_norm=True)
        self.head = nn.Linear(4 * ch * (h // 4) * (w // 4), latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x))


class PairDiscriminator(nn.Module):
    """(x (B, C, H, W) in [-1, 1], z (B, L)) -> logit of "a real pair (x, E(x))" (B,)."""

    def __init__(self, c: int, h: int, w: int, ch: int, latent: int, hidden: int, *, batch_norm: bool,
                 dropout: float) -> None:
        super().__init__()
        self.image = downsampler(c, ch, batch_norm=batch_norm)
        self.code = nn.Sequential(nn.Linear(latent, hidden), nn.LeakyReLU(0.2))
        self.joint = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(4 * ch * (h // 4) * (w // 4) + hidden, hidden), nn.LeakyReLU(0.2),
            nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.joint(torch.cat([self.image(x), self.code(z)], 1)).squeeze(-1)  # (B,)


@register
class BiGAN(NoiseGAN):
    """Bidirectional GAN for images whose height and width divide by 4; no likelihood."""

    name = "bigan"
    Config = BiGANConfig
    accepts = (("image", "*"),)
    capabilities = ("encode", "decode", "invert", "complete")
    #: D on pairs, then G and E as one player (the pairs' roles swapped)
    roles = (DISCRIMINATOR, Role("generator", ("generator", "encoder"), "generator_loss", lr="lr_g", betas="betas"))

    def __init__(self, config: BiGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, h, w = spec.shape
        L, ch = config.latent_dim, config.channels
        self.generator = Generator(L, c, h, w, ch)
        self.encoder = Encoder(c, h, w, ch, L)
        self.discriminator = PairDiscriminator(c, h, w, ch, L, config.d_hidden, batch_norm=config.d_batch_norm,
                                               dropout=config.dropout)
        self.apply(dcgan_init)
        self.finish()

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        """Images only, with height and width divisible by 4 (two stride-2 stages)."""
        super().check_spec(spec)
        check_quarterable(cls.name, spec)

    # ---- the two players -------------------------------------------------------------
    def _pairs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Real pairs (x, E(x)) and fake pairs (G(z), z) of a batch, x in [-1, 1]."""
        x = to_unit(batch["x"].to(self.device), self.spec)
        z = self._noise(x.shape[0])
        return x, self.encoder(x), self.generator(z), z

    def discriminator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """D's loss: (x, E(x)) is real, (G(z), z) fake; G and E are held fixed."""
        with torch.no_grad():
            x, ex, gz, z = self._pairs(batch)
        # real and fake pairs pass D separately, so batch norm never mixes their statistics
        return self.judge(self.discriminator(x, ex), self.discriminator(gz, z))

    def generator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """G and E's loss: the GAN loss with the pairs' roles swapped (D's gradients are zeroed
        by the trainer)."""
        x, ex, gz, z = self._pairs(batch)
        r, f = self.discriminator(x, ex), self.discriminator(gz, z)
        g_loss = self.fool(f)  # G: (G(z), z) should look real
        # E: (x, E(x)) should look fake; least squares aims at the fake target 0 rather than -1
        e_loss = 0.5 * (r ** 2).mean() if self.gan_loss == "least_squares" else self.fool(-r)
        loss = g_loss + e_loss
        return {"loss": loss, "g_loss": g_loss.detach(), "e_loss": e_loss.detach(),
                "d_real": losses.d_probability(self.gan_loss, r).detach(),
                "d_fake": losses.d_probability(self.gan_loss, f).detach()}

    def realness(self, g: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """D's logits on the pairs (G(z), z): inversion's perceptual term."""
        return self.discriminator(g, z)

    # ---- capabilities --------------------------------------------------------------
    def encode(self, x: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """E(x) for data ``x`` in its own space: (B, latent_dim)."""
        return self.encoder(to_unit(x.to(self.device), self.spec))

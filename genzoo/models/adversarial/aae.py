"""Adversarial autoencoder: an autoencoder whose codes are matched to a prior by a GAN.

Makhzani, Shlens, Jaitly, Goodfellow & Frey (2016), "Adversarial Autoencoders", ICLR
workshop. arXiv:1511.05644.

Three players take turns every step:

1. ``autoencoder`` (encoder q(z|x) = f(x) and decoder p(x|z)) minimizes the
   reconstruction loss ``-log p(x | f(x))`` (the ``vae``'s decoder families);
2. ``discriminator`` D(z) learns to tell draws of the prior ``p(z)`` (N(0, I), or a
   ring of ``prior_modes`` Gaussians in the first two code dimensions) from codes f(x);
3. ``encoder`` (the generator of the code GAN) updates f so that D takes its codes for
   prior draws (the GAN loss of :mod:`genzoo.models.adversarial.losses`, non-saturating by default).

At the equilibrium the aggregate posterior matches the prior, so ``sample`` decodes draws
of the prior. Capabilities: ``encode``, ``decode``, and ``complete`` (iterated
reconstruction with the observed entries clamped, as for the ``ae``). No likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.adversarial import losses
from genzoo.models.adversarial.base import GAN_BETAS, AdversarialModel, Role
from genzoo.models.base import Batch
from genzoo.models.latent.layers import DECODER_CHOICES, complete_by_reconstruction, deterministic_autoencoder
from genzoo.models.registry import register
from genzoo.nn import rand
from genzoo.nn.values import to_unit


@dataclass
class AAEConfig:
    """Adversarial autoencoder hyperparameters (defaults suit 8x8 digits).

    Args:
        arch: ``conv`` (H, W divisible by 4), ``mlp`` or ``auto``.
        latent_dim: size of the code z.
        hidden: width of the MLP encoder / decoder.
        channels: base width of the conv encoder / decoder.
        decoder: reconstruction distribution (as for the ``vae``); ``auto`` fits the data.
        prior: ``gaussian`` (N(0, I)) or ``ring`` (a mixture of ``prior_modes`` Gaussians
            of std 0.1 on a circle of radius 2 in the first two code dimensions, N(0, 1)
            in the others): the paper's demonstration that any prior can be imposed.
        prior_modes: components of the ``ring`` prior.
        d_hidden: width of the two hidden layers of the code discriminator.
        loss: GAN loss of the code game (:data:`genzoo.models.adversarial.losses.LOSSES`).
        lr_ae: learning rate of the reconstruction phase.
        lr_d: learning rate of the discriminator.
        lr_g: learning rate of the encoder's adversarial phase.
    """

    arch: str = "auto"
    latent_dim: int = 8
    hidden: int = 256
    channels: int = 32
    decoder: str = "auto"
    prior: str = "gaussian"
    prior_modes: int = 10
    d_hidden: int = 256
    loss: str = "non_saturating"
    lr_ae: float = 1e-3
    lr_d: float = 1e-3  # measured on digits: at 2e-4 the codes keep a std of ~3, at 1e-3 they match N(0, I)
    lr_g: float = 1e-3

    def validate(self) -> None:
        choice(self.arch, ("auto", "mlp", "conv"), "arch")
        choice(self.decoder, DECODER_CHOICES, "decoder")
        choice(self.prior, ("gaussian", "ring"), "prior")
        choice(self.loss, losses.LOSSES, "loss")
        for key in ("latent_dim", "hidden", "channels", "prior_modes", "d_hidden", "lr_ae", "lr_d", "lr_g"):
            positive(getattr(self, key), key)
        if self.prior == "ring" and self.latent_dim < 2:
            raise GenzooError("the ring prior needs latent_dim >= 2")


@register
class AAE(AdversarialModel):
    """Adversarial autoencoder: three players; samples decode prior draws."""

    name = "aae"
    Config = AAEConfig
    accepts = (("image", "*"), ("vector", "*"))
    capabilities = ("encode", "decode", "complete")
    #: reconstruction (encoder + decoder, the trainer's betas), then the code
    #: discriminator, then the encoder as the code GAN's generator
    roles = (Role("autoencoder", ("encoder", "decoder"), "reconstruction_loss", lr="lr_ae"),
             Role("discriminator", ("discriminator",), "discriminator_loss", lr="lr_d", betas=GAN_BETAS, critic=True),
             Role("encoder", ("encoder",), "encoder_loss", lr="lr_g", betas=GAN_BETAS))

    def __init__(self, config: AAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.arch, self.decoder_kind, self.encoder, self.decoder = deterministic_autoencoder(self.name, config, spec)
        L = config.latent_dim
        h = config.d_hidden
        self.discriminator = nn.Sequential(nn.Linear(L, h), nn.LeakyReLU(0.2), nn.Linear(h, h), nn.LeakyReLU(0.2),
                                           nn.Linear(h, 1))

    # ---- the prior -----------------------------------------------------------------
    def prior_sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws of p(z), (n, latent_dim); from the global RNG when ``generator`` is None."""
        c = self.config
        z = rand.randn(n, c.latent_dim, generator=generator, device=self.device)
        if c.prior == "ring":
            k = torch.floor(c.prior_modes * rand.rand(n, generator=generator, device=self.device)).clamp(
                max=c.prior_modes - 1)
            angle = 2 * math.pi * k / c.prior_modes
            centre = 2.0 * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
            z = torch.cat([centre + 0.1 * z[:, :2], z[:, 2:]], 1)
        return z

    def _d(self, z: torch.Tensor) -> torch.Tensor:
        return self.discriminator(z).squeeze(-1)  # (B,)

    # ---- the three players ---------------------------------------------------------
    def reconstruction_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Mean ``-log p(x | f(x))`` in nats; also logs per-pixel MSE in [-1, 1] units."""
        x = batch["x"].to(self.device)
        params = self.decoder(self.encoder(x))
        nll = -self.decoder.log_prob(x, params).mean()
        with torch.no_grad():
            mse = (to_unit(self.decoder.mode(params), self.spec) - to_unit(x, self.spec)).pow(2).mean()
        return {"loss": nll, "recon_nll": nll.detach(), "mse": mse}

    def discriminator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """D's loss: prior draws are "real", the (detached) codes of the batch "fake"."""
        x = batch["x"].to(self.device)
        codes = self.encoder(x).detach()
        r, f = self._d(self.prior_sample(x.shape[0])), self._d(codes)
        gp = None
        if self.gan_loss == "wasserstein_gp":
            gp = losses.gradient_penalty(lambda z: self._d(z), self.prior_sample(x.shape[0]), codes)
        return self.judge(r, f, penalty=gp)

    def encoder_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The encoder as the code GAN's generator: make D take f(x) for a prior draw."""
        loss = self.fool(self._d(self.encoder(batch["x"].to(self.device))))
        return {"loss": loss, "g_loss": loss.detach()}

    # ---- sampling and capabilities -------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode prior draws (randomness from ``generator``) to the most probable x."""
        self.sample_condition(n, condition)
        return self.decode(self.prior_sample(n, generator=generator))

    def encode(self, x: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """The code f(x): (B, latent_dim)."""
        return self.encoder(x.to(self.device))

    def decode(self, z: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """The most probable x under the decoder: (B, *shape)."""
        return self.decoder.mode(self.decoder(z.to(self.device)))

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                 complete_steps: int = 50) -> torch.Tensor:
        """Fill the entries where ``mask`` is False by iterated reconstruction from noise,
        observed entries clamped (as the ``ae`` does)."""
        return complete_by_reconstruction(self.encode, self.decode, x.to(self.device), mask, self.spec,
                                          steps=complete_steps, generator=generator)

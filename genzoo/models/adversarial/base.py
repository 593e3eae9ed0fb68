"""What the two-player GANs (gan, dcgan, cgan) share: the settings of the game, both
players' losses, and sampling.

A subclass builds ``self.generator`` (z (B, latent), labels -> data in [-1, 1]) and
``self.discriminator`` (packed data in [-1, 1], labels -> one output per packed group)
and may override :meth:`AdversarialModel.labels_for` for class conditioning. The loss
(:data:`genzoo.models.adversarial.losses.LOSSES`), the number of critic steps, two learning rates (TTUR,
Heusel et al. 2017), packing (PacGAN) and the gradient penalty are handled here.

The trainer's ``train.ema`` keeps an exponential moving average of the weights, which
``genzoo sample``/``eval`` use by default (``--weights auto``): the EMA generator of
Yazici et al. (2019). Logged per step: the players' losses, ``d_real`` and ``d_fake``
(D's mean probability of "real" for the logistic losses, its mean output otherwise) and,
from the trainer, each player's gradient norm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.adversarial import losses
from genzoo.models.base import Batch, GenerativeModel, Player
from genzoo.nn import rand
from genzoo.nn.values import from_unit, to_unit


@dataclass
class AdversarialConfig:
    """The game's settings, shared by every two-player GAN.

    Args:
        latent_dim: size of the noise z ~ N(0, I).
        loss: ``minimax``, ``non_saturating``, ``hinge``, ``least_squares`` or
            ``wasserstein_gp`` (see :mod:`genzoo.models.adversarial.losses`).
        lr_g: generator learning rate.
        lr_d: discriminator learning rate (a larger one than ``lr_g`` is TTUR).
        betas: Adam betas of both players.
        n_critic: discriminator updates per generator update.
        gp_weight: lambda of the gradient penalty (``wasserstein_gp`` only).
        pack: PacGAN's m, the samples the discriminator judges together.
        spectral_norm: spectral normalisation of every discriminator layer (its batch
            norm is then dropped).
    """

    latent_dim: int = 32
    loss: str = "non_saturating"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1
    gp_weight: float = 10.0
    pack: int = 1
    spectral_norm: bool = False

    def validate(self) -> None:
        choice(self.loss, losses.LOSSES, "loss")
        for key in ("latent_dim", "lr_g", "lr_d", "n_critic", "pack"):
            positive(getattr(self, key), key)
        positive(self.gp_weight, "gp_weight", allow_zero=True)
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise GenzooError(f"bad value {self.betas!r} for betas: expected two numbers in [0, 1)")

    @property
    def d_batch_norm(self) -> bool:
        """Batch norm in D, except with spectral norm or a gradient penalty (whose
        per-example gradients batch norm would mix)."""
        return not self.spectral_norm and self.loss != "wasserstein_gp"


def two_players(discriminator: nn.Module, d_loss, generator: nn.Module, g_loss, *, lr_d: float, lr_g: float,
                betas: tuple[float, float] = (0.5, 0.999), n_critic: int = 1) -> list[Player]:
    """The discriminator (``n_critic`` updates per step) then the generator, each with Adam."""
    return [Player("discriminator", list(discriminator.parameters()), d_loss, steps=n_critic, lr=lr_d,
                   betas=tuple(betas)),
            Player("generator", list(generator.parameters()), g_loss, lr=lr_g, betas=tuple(betas))]


def summed(d: dict[str, torch.Tensor], g: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Both players' outputs with their losses summed (for logging and the contract tests)."""
    return {**d, **g, "loss": d["loss"] + g["loss"]}


class TwoPlayers:
    """Mixin of a model with ``discriminator``/``discriminator_loss`` and
    ``generator``/``generator_loss``: both trained at one learning rate ``config.lr``
    (models with more settings override ``players``), ``loss`` their sum."""

    def players(self) -> list[Player]:
        lr = self.config.lr  # type: ignore[attr-defined]
        return two_players(self.discriminator, self.discriminator_loss,  # type: ignore[attr-defined]
                           self.generator, self.generator_loss, lr_d=lr, lr_g=lr)  # type: ignore[attr-defined]

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Both players' losses summed (for logging and the contract tests only)."""
        return summed(self.discriminator_loss(batch), self.generator_loss(batch))  # type: ignore[attr-defined]


class AdversarialModel(TwoPlayers, GenerativeModel):
    """Base class of the generator/discriminator GANs; no likelihood."""

    likelihood = None
    family = "adversarial"
    capabilities: tuple[str, ...] = ("complete",)
    generator: nn.Module
    discriminator: nn.Module

    def __init__(self, config: Any, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.num_classes: int | None = None

    def finish(self) -> None:
        """Call at the end of ``__init__``: spectral norm on D when asked."""
        if self.config.spectral_norm:
            losses.spectral_norm_all(self.discriminator)

    # ---- conditioning --------------------------------------------------------------
    def labels_for(self, batch: Batch, n: int) -> torch.Tensor | None:
        """Labels that condition both players (None: an unconditional GAN)."""
        return None

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=self.device)  # the trainer seeds the global RNG

    def critic(self, u: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """D's outputs for data ``u`` (B, ...) in [-1, 1]: one per group of ``pack`` (B // pack,)."""
        m = self.config.pack
        y = None if y is None else y[: u.shape[0] - u.shape[0] % m : m]
        return self.discriminator(losses.pack(u, m), y)

    # ---- the two players -----------------------------------------------------------
    def discriminator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """D's loss on a real batch and as many (detached) fakes."""
        c = self.config
        real = to_unit(batch["x"].to(self.device), self.spec)
        n = real.shape[0]
        if n < c.pack:
            raise GenzooError(f"the batch ({n}) is smaller than pack={c.pack}")
        y = self.labels_for(batch, n)
        fake = self.generator(self._noise(n), y).detach()
        # real and fake pass D separately, so batch norm never mixes their statistics
        r, f = self.critic(real, y), self.critic(fake, y)
        loss = losses.discriminator_loss(c.loss, r, f)
        out = {"d_real": losses.d_probability(c.loss, r).detach(), "d_fake": losses.d_probability(c.loss, f).detach()}
        if c.loss == "wasserstein_gp" and c.gp_weight > 0:
            m = c.pack
            yp = None if y is None else y[: n - n % m : m]
            gp = losses.gradient_penalty(self.discriminator, losses.pack(real, m), losses.pack(fake, m), weight=c.gp_weight,
                                      y=yp)
            loss = loss + gp
            out["gradient_penalty"] = gp.detach()
        return {"loss": loss, "d_loss": loss.detach(), **out}

    def generator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """G's loss on a batch of fakes (the gradients left on D are zeroed by the trainer)."""
        n = batch["x"].shape[0]
        y = self.labels_for(batch, n)
        f = self.critic(self.generator(self._noise(n), y), y)
        loss = losses.generator_loss(self.config.loss, f)
        return {"loss": loss, "g_loss": loss.detach(), "d_fake": losses.d_probability(self.config.loss, f).detach()}

    def players(self) -> list[Player]:
        """The discriminator (``n_critic`` updates per step), then the generator."""
        c = self.config
        return two_players(self.discriminator, self.discriminator_loss, self.generator, self.generator_loss,
                           lr_d=c.lr_d, lr_g=c.lr_g, betas=c.betas, n_critic=c.n_critic)

    # ---- sampling ------------------------------------------------------------------
    def sample_labels(self, n: int, condition: torch.Tensor | None,
                      generator: torch.Generator | None) -> torch.Tensor | None:
        """Labels for sampling: None for an unconditional GAN."""
        self.sample_condition(n, condition)
        return None

    @torch.no_grad()
    def generate_unit(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) in [-1, 1], (n, *shape)."""
        return self.generator(z.to(self.device), y)

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """G(z), z ~ N(0, I) from ``generator``, mapped into the data's own space (n, *shape).

        Binary values are drawn as bernoulli((g + 1) / 2) with ``generator``, categorical
        ones rounded to the nearest level, continuous ones mapped onto the value range. G's
        batch norm follows the module's mode (eval: running statistics)."""
        y = self.sample_labels(n, condition, generator)
        z = rand.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        return from_unit(self.generator(z, y), self.spec, generator=generator)

    # ---- completion by GAN inversion ---------------------------------------------------
    def invert(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
               steps: int = 300, prior_weight: float = 0.003, lr: float = 0.1) -> torch.Tensor:
        """G(z*) in [-1, 1] for the code z* that best explains the visible entries of ``x``
        (see :meth:`complete`): ``steps`` Adam steps from ``generator``'s draws of z."""
        if steps < 1:
            raise GenzooError(f"steps must be >= 1, got {steps}")
        if tuple(mask.shape) != tuple(x.shape):
            raise GenzooError(f"mask shape {tuple(mask.shape)} does not match x shape {tuple(x.shape)}")
        n = x.shape[0]
        seen = mask.to(self.device, torch.bool)
        u = to_unit(x.to(self.device), self.spec)
        weight = self._context_weights(seen)
        y = self.sample_labels(n, None, generator)
        z = rand.randn(n, self.config.latent_dim, generator=generator, device=self.device).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        was = self.training
        self.eval()
        try:
            with torch.enable_grad():  # callers may hold no_grad: the search needs gradients
                self._search(z, opt, u, weight, y, steps, prior_weight)
            with torch.no_grad():
                return self.generator(z, y)
        finally:
            self.train(was)
            self.zero_grad(set_to_none=True)  # nothing of the search is left on the weights

    def _search(self, z: torch.Tensor, opt: torch.optim.Optimizer, u: torch.Tensor, weight: torch.Tensor,
                y: torch.Tensor | None, steps: int, prior_weight: float) -> None:
        """Adam steps on z for the contextual plus weighted perceptual loss."""
        m = self.config.pack
        for _ in range(steps):
            g = self.generator(z, y)
            context = (weight * (g - u).abs()).flatten(1).sum(1)  # (n,)
            d = self.discriminator(losses.pack(g.repeat_interleave(m, 0), m), y)
            perceptual = torch.nn.functional.softplus(-d)  # -log D(G(z)), (n,)
            loss = (context + prior_weight * perceptual).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def complete(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                 steps: int = 300, prior_weight: float = 0.003, lr: float = 0.1) -> torch.Tensor:
        """Semantic inpainting (Yeh et al. 2017): find the code z whose image G(z) matches
        the visible entries, then keep the visible entries and take the rest from G(z).

        ``steps`` Adam steps on z (started from ``generator``'s draws) minimize the
        *contextual* loss, the L1 distance to the visible entries weighted by how many of
        each entry's 8 neighbours are hidden (entries next to the hole count most, as in the
        paper), plus ``prior_weight`` times the *perceptual* loss ``-log D(G(z))`` that keeps
        G(z) realistic. The paper blends the two parts by Poisson blending; here the visible
        entries are pasted back unchanged.
        """
        g = self.invert(x, mask, generator=generator, steps=steps, prior_weight=prior_weight, lr=lr)
        filled = from_unit(g, self.spec, generator=generator)
        return torch.where(mask.to(self.device, torch.bool), x.to(self.device, self.spec.dtype), filled)

    @staticmethod
    def _context_weights(seen: torch.Tensor, window: int = 7) -> torch.Tensor:
        """Yeh et al.'s weights: a visible entry counts by the share of hidden entries in
        the ``window`` x ``window`` square around it (smaller on small images), so the
        context next to the hole matters most; hidden entries 0; vectors: 1 everywhere."""
        s = seen.float()
        if s.dim() != 4:
            return s
        k = min(window, 2 * (min(s.shape[-2:]) // 2) - 1)
        c = s.shape[1]
        kernel = torch.ones(c, 1, k, k, device=s.device) / (k * k - 1)
        kernel[:, :, k // 2, k // 2] = 0
        near = torch.nn.functional.conv2d(1 - s, kernel, padding=k // 2, groups=c)  # share of hidden neighbours
        return s * near

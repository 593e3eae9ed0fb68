"""The one base of the adversarial family: every GAN-type model (gan, dcgan, cgan, ssgan,
srgan, pix2pix, cyclegan, aae) is an :class:`AdversarialModel`.

A model declares its players as data, on the class, with :class:`Role`: which submodules
a player updates, which method is its loss, which Config keys hold its learning rate,
Adam betas and updates per step. :meth:`AdversarialModel.players` builds the trainer's
:class:`~genzoo.models.base.Player` list from them, and :meth:`AdversarialModel.loss`
sums their losses (for logging and the contract tests only). The common pair is
``(DISCRIMINATOR, GENERATOR)``; models with more players list theirs the same way (the
adversarial autoencoder three, cyclegan one for both generators and one per
discriminator). A role may depend on a Config key (``when``): srgan trains its
discriminator only while ``adversarial_weight`` is non-zero.

Shared here as well: the GAN losses of :mod:`genzoo.models.adversarial.losses` with D's
logged outputs (:meth:`AdversarialModel.judge`, :meth:`AdversarialModel.fool`), spectral
norm on every critic role's modules (``spectral_norm``, :meth:`AdversarialModel.finish`),
packing (``pack``, PacGAN) and, for the models that map noise to data (gan, dcgan, cgan),
:class:`NoiseGAN` with its :class:`AdversarialConfig`: the loss choice, the number of
critic steps, two learning rates (TTUR, Heusel et al. 2017) and the gradient penalty.

EMA of the generator: the trainer's ``train.ema`` keeps an exponential moving average of
the weights, which ``genzoo sample``/``eval`` use by default (``--weights auto``): the
EMA generator of Yazici et al. (2019); the discriminator's average rides along unused.
Logged per step: the players' losses, ``d_real`` and ``d_fake`` (D's mean probability of
"real" for the logistic losses, its mean output otherwise) and, from the trainer, each
player's gradient norm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.adversarial import losses
from genzoo.models.base import Batch, GenerativeModel, Player
from genzoo.nn import rand
from genzoo.nn.values import from_unit, to_unit


# ---- players, declared ------------------------------------------------------------------
@dataclass(frozen=True)
class Role:
    """One player of the game, declared on the model class.

    Args:
        name: the player's name (logs, optimizer state in checkpoints: keep it stable).
        modules: attributes of the model whose parameters this player updates, in order.
        loss: name of the model method ``batch -> dict`` with ``"loss"`` it minimizes.
        lr: the Config key of its learning rate.
        betas: its Adam betas: a Config key, fixed numbers, or None (the trainer's).
        steps: the Config key of its updates per training step (e.g. ``n_critic``); None: 1.
        critic: a discriminator/critic (spectral norm applies to its modules).
        when: a Config key; the player exists only while that value is truthy.
        summary: how :meth:`AdversarialModel.loss` reports it: None merges all its
            outputs, a name reports its loss alone under that key.
    """

    name: str
    modules: tuple[str, ...]
    loss: str
    lr: str
    betas: str | tuple[float, float] | None = None
    steps: str | None = None
    critic: bool = False
    when: str | None = None
    summary: str | None = None


GAN_BETAS = (0.5, 0.999)  # Radford et al.'s Adam betas, the family's default
#: the usual pair: D (``n_critic`` steps, ``lr_d``) then G (``lr_g``), betas from ``betas``.
DISCRIMINATOR = Role("discriminator", ("discriminator",), "discriminator_loss", lr="lr_d", betas="betas",
                     steps="n_critic", critic=True)
GENERATOR = Role("generator", ("generator",), "generator_loss", lr="lr_g", betas="betas")


class AdversarialModel(GenerativeModel):
    """Base class of every adversarial model; no likelihood.

    Subclasses set ``roles`` (default: :data:`DISCRIMINATOR` then :data:`GENERATOR`),
    build the modules the roles name and write the loss methods they name.
    """

    likelihood = None
    family = "adversarial"
    roles: ClassVar[tuple[Role, ...]] = (DISCRIMINATOR, GENERATOR)

    # ---- settings a Config may lack ------------------------------------------------------
    def setting(self, key: str, default: Any) -> Any:
        """Config value ``key``; ``default`` for models whose Config has no such key (a
        model without ``pack`` does not pack, one without ``spectral_norm`` has none)."""
        return getattr(self.config, key, default)

    @property
    def gan_loss(self) -> str:
        """The GAN loss of :mod:`~genzoo.models.adversarial.losses` this game plays."""
        return str(self.setting("loss", "non_saturating"))

    # ---- players ---------------------------------------------------------------------------
    def active_roles(self) -> tuple[Role, ...]:
        """The declared roles whose ``when`` key (if any) is set."""
        return tuple(r for r in self.roles if r.when is None or self.setting(r.when, False))

    def player(self, role: Role) -> Player:
        """The trainer's Player for ``role``: its modules' parameters, loss and settings."""
        params = [p for m in role.modules for p in getattr(self, m).parameters() if p.requires_grad]  # frozen: not updated
        betas = getattr(self.config, role.betas) if isinstance(role.betas, str) else role.betas
        return Player(role.name, params, getattr(self, role.loss),
                      steps=int(getattr(self.config, role.steps)) if role.steps else 1,
                      lr=float(getattr(self.config, role.lr)), betas=None if betas is None else tuple(betas))

    def players(self) -> list[Player]:
        """One Player per active role, in the declared order."""
        return [self.player(r) for r in self.active_roles()]

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Every active player's outputs with their losses summed (logging and tests only)."""
        out: dict[str, torch.Tensor] = {}
        total: torch.Tensor | None = None
        for role in self.active_roles():
            o = getattr(self, role.loss)(batch)
            out.update({role.summary: o["loss"].detach()} if role.summary else o)
            total = o["loss"] if total is None else total + o["loss"]
        assert total is not None, "an adversarial model declares at least one role"
        out["loss"] = total
        return out

    def finish(self) -> None:
        """Call at the end of ``__init__``: spectral norm on every critic's modules when
        the Config asks for it."""
        if self.setting("spectral_norm", False):
            for role in self.roles:
                if role.critic:
                    for m in role.modules:
                        losses.spectral_norm_all(getattr(self, m))

    # ---- the losses ------------------------------------------------------------------------
    def judge(self, r: torch.Tensor, f: torch.Tensor, *, penalty: torch.Tensor | None = None
              ) -> dict[str, torch.Tensor]:
        """A discriminator's loss and logs from its outputs on real ``r`` and fake ``f``
        (plus a gradient ``penalty`` when given)."""
        kind = self.gan_loss
        loss = losses.discriminator_loss(kind, r, f)
        extra: dict[str, torch.Tensor] = {}
        if penalty is not None:
            loss = loss + penalty
            extra["gradient_penalty"] = penalty.detach()
        return {"loss": loss, "d_loss": loss.detach(), "d_real": losses.d_probability(kind, r).detach(),
                "d_fake": losses.d_probability(kind, f).detach(), **extra}

    def fool(self, f: torch.Tensor) -> torch.Tensor:
        """The generator's adversarial loss from D's outputs ``f`` on its fakes."""
        return losses.generator_loss(self.gan_loss, f)

    def packed(self, u: torch.Tensor) -> torch.Tensor:
        """``u`` in groups of ``pack`` for the discriminator (PacGAN; 1 without ``pack``)."""
        return losses.pack(u, int(self.setting("pack", 1)))


# ---- the GANs that map noise to data: gan, dcgan, cgan ------------------------------------
@dataclass
class AdversarialConfig:
    """The game's settings, shared by the noise-to-data GANs (gan, dcgan, cgan).

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


class NoiseGAN(AdversarialModel):
    """A generator of noise and a discriminator, the game set by :class:`AdversarialConfig`.

    A subclass builds ``self.generator`` (z (B, latent), labels -> data in [-1, 1]) and
    ``self.discriminator`` (packed data in [-1, 1], labels -> one output per packed group),
    calls :meth:`finish`, and may override :meth:`labels_for` and :meth:`sample_labels`
    for class conditioning. Capabilities: ``decode`` (G of a code), ``invert`` (GAN
    inversion, :meth:`find_codes`: the code whose G(z) matches an image; what ``genzoo
    interpolate`` walks between for test images) and ``complete`` (inversion on the
    visible part, Yeh et al. 2017).
    """

    capabilities: tuple[str, ...] = ("complete", "decode", "invert")
    generator: nn.Module
    discriminator: nn.Module

    def __init__(self, config: Any, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.num_classes: int | None = None

    # ---- conditioning --------------------------------------------------------------
    def labels_for(self, batch: Batch, n: int) -> torch.Tensor | None:
        """Labels that condition both players (None: an unconditional GAN)."""
        return None

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=self.device)  # the trainer seeds the global RNG

    def critic(self, u: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """D's outputs for data ``u`` (B, ...) in [-1, 1]: one per group of ``pack`` (B // pack,)."""
        return self.discriminator(self.packed(u), self._group_labels(y, u.shape[0]))

    def _group_labels(self, y: torch.Tensor | None, n: int) -> torch.Tensor | None:
        """One label per packed group of ``n`` examples (a packed group shares its label)."""
        m = self.config.pack
        return None if y is None else y[: n - n % m : m]

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
        gp = None
        if c.loss == "wasserstein_gp" and c.gp_weight > 0:
            gp = losses.gradient_penalty(self.discriminator, self.packed(real), self.packed(fake), weight=c.gp_weight,
                                         y=self._group_labels(y, n))
        return self.judge(r, f, penalty=gp)

    def generator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """G's loss on a batch of fakes (the gradients left on D are zeroed by the trainer)."""
        n = batch["x"].shape[0]
        y = self.labels_for(batch, n)
        f = self.critic(self.generator(self._noise(n), y), y)
        loss = self.fool(f)
        return {"loss": loss, "g_loss": loss.detach(), "d_fake": losses.d_probability(self.gan_loss, f).detach()}

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

    # ---- codes: decoding and GAN inversion ----------------------------------------------
    def decode(self, z: torch.Tensor, *, condition: torch.Tensor | None = None, **kwargs: object) -> torch.Tensor:
        """G(z) in the data's own space, binary values thresholded rather than drawn:
        (n, *shape). A conditional GAN decodes with the class labels ``condition`` (n,)."""
        n = z.shape[0]
        if self.has("conditional") and condition is None:
            raise GenzooError(f"model {self.name!r} decodes a code with a class label: pass condition=labels")
        y = self.sample_labels(n, condition, None)
        with torch.no_grad():
            return from_unit(self.generator(z.to(self.device), y), self.spec, stochastic=False)

    def realness(self, g: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """D's logits (n,) for G's outputs ``g`` = G(z, y), one per example (each repeated
        ``pack`` times into its own packed group): the perceptual term of inversion."""
        m = self.config.pack
        return self.discriminator(self.packed(g.repeat_interleave(m, 0)), y)

    def find_codes(self, x: torch.Tensor, mask: torch.Tensor | None = None, *, labels: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, steps: int = 300, prior_weight: float = 0.003,
                   lr: float = 0.1) -> torch.Tensor:
        """GAN inversion: codes z* (n, latent_dim) whose G(z*) explains ``x``, found by
        ``steps`` Adam steps from ``generator``'s draws of z.

        With ``mask`` (True = visible) the loss is :meth:`complete`'s (Yeh et al. 2017),
        without one the L1 distance to every entry of ``x`` plus ``prior_weight`` times
        ``-log D(G(z))``. A conditional GAN inverts with the class ``labels`` given (random
        ones when None)."""
        return self._invert(x, mask, labels, generator, steps, prior_weight, lr)[0]

    def invert(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
               steps: int = 300, prior_weight: float = 0.003, lr: float = 0.1) -> torch.Tensor:
        """G(z*) in [-1, 1] for the code z* that best explains the visible entries of ``x``
        (see :meth:`complete`): ``steps`` Adam steps from ``generator``'s draws of z."""
        z, y = self._invert(x, mask, None, generator, steps, prior_weight, lr)
        with torch.no_grad():
            return self.generate_unit(z, y)

    def _invert(self, x: torch.Tensor, mask: torch.Tensor | None, labels: torch.Tensor | None,
                generator: torch.Generator | None, steps: int, prior_weight: float, lr: float
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The inversion search: (z*, the labels used), G in eval mode, nothing left on the weights."""
        if steps < 1:
            raise GenzooError(f"steps must be >= 1, got {steps}")
        if mask is not None and tuple(mask.shape) != tuple(x.shape):
            raise GenzooError(f"mask shape {tuple(mask.shape)} does not match x shape {tuple(x.shape)}")
        n = x.shape[0]
        u = to_unit(x.to(self.device), self.spec)
        weight = torch.ones_like(u) if mask is None else self._context_weights(mask.to(self.device, torch.bool))
        y = self.sample_labels(n, labels, generator)
        z = rand.randn(n, self.config.latent_dim, generator=generator, device=self.device).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=lr)
        was = self.training
        self.eval()
        try:
            with torch.enable_grad():  # callers may hold no_grad: the search needs gradients
                self._search(z, opt, u, weight, y, steps, prior_weight)
            return z.detach(), y
        finally:
            self.train(was)
            self.zero_grad(set_to_none=True)  # nothing of the search is left on the weights

    def _search(self, z: torch.Tensor, opt: torch.optim.Optimizer, u: torch.Tensor, weight: torch.Tensor,
                y: torch.Tensor | None, steps: int, prior_weight: float) -> None:
        """Adam steps on z for the contextual plus weighted perceptual loss."""
        for _ in range(steps):
            g = self.generator(z, y)
            context = (weight * (g - u).abs()).flatten(1).sum(1)  # (n,)
            perceptual = torch.nn.functional.softplus(-self.realness(g, z, y))  # -log D(G(z)), (n,)
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

"""CycleGAN: unpaired image-to-image translation with cycle consistency.

Zhu, Park, Isola & Efros (2017), "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV. arXiv:1703.10593.

Two domains, A (``batch["source"]``) and B (``batch["x"]``), with no pairing (the
``pairs`` dataset with ``paired=false``). Two generators, G: A -> B and F: B -> A (U-Nets
of :mod:`genzoo.models.adversarial.image2image`; the paper uses ResNet generators), and two PatchGAN
discriminators, D_B (real B vs G(a)) and D_A (real A vs F(b)). The generators minimize
``adv(D_B(G(a))) + adv(D_A(F(b))) + cycle_weight (|F(G(a)) - a|_1 + |G(F(b)) - b|_1) +
identity_weight cycle_weight (|G(b) - b|_1 + |F(a) - a|_1)`` (the identity term only
when the two domains have the same shape). Least-squares GAN losses as in the paper.
Players: the generators (one optimizer for both), then D_A, then D_B.

``sample(n, condition=a)`` translates A images (in [-1, 1]) to B; without a condition,
A images kept from training. ``translate(x, direction="AB" | "BA")`` works in the data's
own space. No likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.adversarial.base import GAN_BETAS, Role
from genzoo.models.adversarial.image2image import PatchGAN, UNet
from genzoo.models.adversarial.translation import TranslationConfig, TranslationModel
from genzoo.models.base import Batch
from genzoo.models.registry import register
from genzoo.nn.values import from_unit, to_unit


@dataclass
class CycleGANConfig(TranslationConfig):
    """CycleGAN hyperparameters (CPU-sized): ``channels``, ``depth``, ``d_layers``,
    ``loss`` (here the paper's least squares) and ``lr`` as in
    :class:`~genzoo.models.adversarial.translation.TranslationConfig`, and

    Args:
        cycle_weight: lambda of the cycle-consistency terms (the paper: 10).
        identity_weight: weight of the identity terms, relative to ``cycle_weight`` (the
            paper: 0.5 for photo <-> painting, where colours must survive; default 0 here:
            measured on digits <-> inverted digits, 0.5 keeps the translation from
            learning at all, mean error 0.33 against 0.12 without it after 300 steps).
    """

    loss: str = "least_squares"
    cycle_weight: float = 10.0
    identity_weight: float = 0.0

    def validate(self) -> None:
        super().validate()
        positive(self.cycle_weight, "cycle_weight", allow_zero=True)
        positive(self.identity_weight, "identity_weight", allow_zero=True)


@register
class CycleGAN(TranslationModel):
    """Unpaired translation between two image domains; no likelihood."""

    name = "cyclegan"
    Config = CycleGANConfig
    #: one optimizer for both generators, then D_A, then D_B; ``loss`` reports the
    #: discriminators' losses as ``d_a`` and ``d_b`` beside the generators' outputs
    roles = (Role("generators", ("g_ab", "g_ba"), "generators_loss", lr="lr", betas=GAN_BETAS),
             Role("discriminator_a", ("d_a",), "discriminator_a_loss", lr="lr", betas=GAN_BETAS, critic=True,
                  summary="d_a"),
             Role("discriminator_b", ("d_b",), "discriminator_b_loss", lr="lr", betas=GAN_BETAS, critic=True,
                  summary="d_b"))

    def __init__(self, config: CycleGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        ca, cb = self.src_shape[0], spec.shape[0]
        (_, h, w), ch = spec.shape, config.channels
        if tuple(self.src_shape[1:]) != (h, w):
            raise GenzooError(f"cyclegan translates images of one size; domain A is {self.src_shape}, B {spec.shape}")
        self.g_ab = UNet(ca, cb, h, w, channels=ch, depth=config.depth)
        self.g_ba = UNet(cb, ca, h, w, channels=ch, depth=config.depth)
        self.d_a = PatchGAN(ca, h, w, channels=ch, layers=config.d_layers)
        self.d_b = PatchGAN(cb, h, w, channels=ch, layers=config.d_layers)
        self.same_shape = ca == cb

    def _domains(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        return self.source(batch), to_unit(batch["x"].to(self.device), self.spec)

    # ---- the players -----------------------------------------------------------------
    def generators_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Both generators' adversarial, cycle and identity terms."""
        c = self.config
        a, b = self._domains(batch)
        fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        adv = self.fool(self.d_b(fake_b)) + self.fool(self.d_a(fake_a))
        cycle = F.l1_loss(self.g_ba(fake_b), a) + F.l1_loss(self.g_ab(fake_a), b)
        loss = adv + c.cycle_weight * cycle
        out = {"adversarial": adv.detach(), "cycle": cycle.detach()}
        if self.same_shape and c.identity_weight > 0:
            ident = F.l1_loss(self.g_ab(b), b) + F.l1_loss(self.g_ba(a), a)
            loss = loss + c.identity_weight * c.cycle_weight * ident
            out["identity"] = ident.detach()
        return {"loss": loss, **out}

    def _d_loss(self, d, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.judge(d(real), d(fake.detach()))

    def discriminator_a_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        a, b = self._domains(batch)
        return self._d_loss(self.d_a, a, self.g_ba(b))

    def discriminator_b_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        a, b = self._domains(batch)
        return self._d_loss(self.d_b, b, self.g_ab(a))

    # ---- translation -----------------------------------------------------------------
    @torch.no_grad()
    def translate(self, x: torch.Tensor, *, direction: str = "AB",
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """Images of one domain in the data's own space -> the other domain's."""
        choice(direction, ("AB", "BA"), "direction")
        net = self.g_ab if direction == "AB" else self.g_ba
        return from_unit(net(to_unit(x.to(self.device), self.spec)), self.spec, generator=generator)

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """G(a) in domain B for A images ``condition`` (in [-1, 1]) or kept training A images."""
        if condition is None:
            condition = self.kept_sources(n, generator)
        return from_unit(self.g_ab(condition.to(self.device)), self.spec, generator=generator)

"""SimGAN: refining simulated images with a GAN so they look real and keep their labels.

Shrivastava, Pfister, Tuzel, Susskind, Wang & Webb (2017), "Learning from Simulated and
Unsupervised Images through Adversarial Training", CVPR. arXiv:1612.07828.

A refiner R maps a synthetic image x (``batch["source"]``) to a refined image R(x) of
the same size; a discriminator D tells real unlabelled images (``batch["x"]``) from
refined ones. The refiner minimizes ``adversarial + reg_weight * |R(x) - x|_1`` (the
paper's self-regularisation with lambda = ``reg_weight``, here the mean absolute
difference on the [-1, 1] scale): the L1 term keeps what the simulator got right, the
label above all, while D pushes the look towards the real images. The two ideas of the
paper beyond a plain GAN:

* a *local* adversarial loss: D is fully convolutional and outputs one logit per
  receptive-field patch (the PatchGAN of :mod:`genzoo.models.adversarial.image2image`),
  each patch judged real or refined, the loss averaged over patches, so the refiner
  cannot win by changing one region and keeps no global artefacts;
* a *history* of refined images: a buffer of ``buffer_size`` earlier refined images;
  half of every discriminator batch of refined images comes from it (once it holds
  enough), the other half from the current refiner, and after each discriminator step
  half a batch of the new refined images replaces random entries (appended while the
  buffer is not full). D then keeps rejecting artefacts the refiner used earlier,
  which damps the oscillation of the game. The buffer is a model buffer: checkpoints
  carry it and a resumed run continues with it.

Refiner (the paper's): a 3x3 convolution to ``channels``, ``blocks`` ResNet blocks (two
3x3 convolutions, ReLU, skip; no batch norm, so an image is refined the same way in any
batch), a 1x1 convolution; no down-sampling, same size in and out. Its output is added
to the input and clipped to [-1, 1], the last layer starting near zero: an untrained
refiner is nearly the identity (the paper pre-trains R on the self-regularisation alone
for the same purpose; with a tanh output the refiner's gradients vanished here).

Data: the unpaired domains of ``glyph_mnist`` (rendered digits -> real MNIST digits),
or any ``pairs`` data with the same source and target shape. ``translate(x)`` refines
data-space synthetic images; ``sample(n, condition=sources)`` refines sources in [-1, 1]
(without a condition, sources kept from training). The use is ``genzoo simgan-eval``:
a classifier trained on refined rendered digits against one trained on the raw ones,
both tested on MNIST. No likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.adversarial import losses
from genzoo.models.adversarial.base import GAN_BETAS, Role
from genzoo.models.adversarial.image2image import PatchGAN
from genzoo.models.adversarial.translation import TranslationModel
from genzoo.models.base import Batch
from genzoo.models.registry import register
from genzoo.nn.values import from_unit, to_unit


@dataclass
class SimGANConfig:
    """SimGAN hyperparameters (CPU-sized; the paper: 64 channels, 4 blocks).

    Args:
        channels: width of the refiner and base width of the patch discriminator.
        blocks: ResNet blocks of the refiner.
        d_layers: stride-2 layers of the patch discriminator (2 on 28x28: 7x7 patches).
        reg_weight: lambda of the self-regularisation L1 term.
        ink_weight: an extra self-regularisation on the ink the refiner removes,
            ``ink_weight * mean(relu(synthetic - refined))`` (ink is bright): L1 charges
            cutting through a thin stroke no more than thinning a bold one, and the refiner
            erodes; 0 = the paper's loss.
        buffer_size: refined images kept in the history buffer (0: no history).
        preact: pre-activation ResNet blocks (He et al. 2016b: ``h + conv(relu(conv(relu(h))))``,
            no ReLU after the sum) instead of the original ``relu(h + ...)``. With the ReLU
            after the sum the refiner's last block died in training (measured: 0.3% of its
            units ever positive, the refiner stuck at the identity); the pre-activation
            skip path carries gradients whatever the units do.
        reg_unclipped: the self-regularisation on the refiner's proposed image
            ``x + change`` before it is clipped to [-1, 1]. On the clipped image a change
            past the range costs nothing and gets no gradient, and the refiner's change on
            the background drifted far below -1 (measured: -19.8), where it can no longer
            add ink: it could only erode. Charging the unclipped change pulls it back.
        reg_norm: the self-regularisation's norm: ``"l1"`` (the paper's: mean absolute change)
            or ``"l2"`` (mean squared change). L1 charges the first bit of a change as much as
            the last, so the refiner sits at the identity until the discriminator's pull per
            pixel outgrows ``reg_weight`` and then jumps (measured: D's loss fell to 0.01 to
            0.02 with the refiner unchanged for 500 to 600 steps, then the change leapt within
            100 steps, to a different place with each seed); L2 lets small changes through and
            charges big ones (a stroke cut through) the most.
        loss: GAN loss (:data:`genzoo.models.adversarial.losses.LOSSES` but ``wasserstein_gp``).
        lr: learning rate of both players (Adam, betas 0.5, 0.999).
    """

    channels: int = 32
    blocks: int = 4
    d_layers: int = 2
    reg_weight: float = 5.0
    ink_weight: float = 0.0
    buffer_size: int = 1024
    preact: bool = False
    reg_unclipped: bool = False
    reg_norm: str = "l1"
    loss: str = "non_saturating"
    lr: float = 2e-4

    def validate(self) -> None:
        for key in ("channels", "blocks", "d_layers", "lr"):
            positive(getattr(self, key), key)
        positive(self.reg_weight, "reg_weight", allow_zero=True)
        positive(self.ink_weight, "ink_weight", allow_zero=True)
        positive(self.buffer_size, "buffer_size", allow_zero=True)
        choice(self.reg_norm, ("l1", "l2"), "reg_norm")
        choice(self.loss, tuple(x for x in losses.LOSSES if x != "wasserstein_gp"), "loss")


class ResBlock(nn.Module):
    """Two 3x3 convolutions at one width and a skip: ``relu(h + conv(relu(conv(h))))``, or
    with ``preact`` ``h + conv(relu(conv(relu(h))))``."""

    def __init__(self, ch: int, *, preact: bool = False) -> None:
        super().__init__()
        self.preact = preact
        self.body = nn.Sequential(*([nn.ReLU()] if preact else []), nn.Conv2d(ch, ch, 3, 1, 1), nn.ReLU(),
                                  nn.Conv2d(ch, ch, 3, 1, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h) if self.preact else F.relu(h + self.body(h))


class Refiner(nn.Module):
    """(B, c, H, W) in [-1, 1] -> (B, c, H, W) in [-1, 1]: ``x`` plus a learned change,
    clipped to [-1, 1]. The last layer starts near zero, so an untrained refiner is
    nearly the identity (what the paper reaches by pre-training R on the
    self-regularisation alone); a tanh output instead saturates on the background
    (exactly -1) and its gradients vanish (measured: the refiner's gradient norm fell to
    0.001 within 300 steps while D won)."""

    def __init__(self, c: int, *, channels: int, blocks: int, preact: bool = False) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(c, channels, 3, 1, 1), *([] if preact else [nn.ReLU()]),
                                 *[ResBlock(channels, preact=preact) for _ in range(blocks)], nn.Conv2d(channels, c, 1))
        nn.init.normal_(self.net[-1].weight, std=1e-3)
        nn.init.zeros_(self.net[-1].bias)

    def propose(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` plus the learned change, not yet clipped: (B, c, H, W)."""
        return x + self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.propose(x).clamp(-1.0, 1.0)


class History(nn.Module):
    """The buffer of earlier refined images (Shrivastava et al., section 2.3).

    ``mix(refined)`` returns a batch of as many images: half (rounded down) drawn at random
    from the buffer once it holds that many, the rest the current ones; ``push(refined)``
    stores half a batch (at least one) of them, appended while the buffer has room, else
    replacing random entries. All draws come from the global RNG (seeded by the trainer).
    """

    def __init__(self, size: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def mix(self, refined: torch.Tensor) -> torch.Tensor:
        n = refined.shape[0]
        k = n // 2
        have = int(self.count)
        if self.size == 0 or k == 0 or have < k:
            return refined
        old = self.images[torch.randint(have, (k,), device=self.images.device)]
        return torch.cat([refined[: n - k], old.to(refined.dtype)], 0)

    @torch.no_grad()
    def push(self, refined: torch.Tensor) -> None:
        if self.size == 0:
            return
        m = min(max(1, refined.shape[0] // 2), self.size)
        new = refined[torch.randperm(refined.shape[0], device=refined.device)[:m]].detach()
        have = int(self.count)
        free = min(self.size - have, m)
        if free:
            self.images[have:have + free] = new[:free]
            self.count += free
        rest = new[free:]
        if len(rest):
            self.images[torch.randperm(self.size, device=self.images.device)[: len(rest)]] = rest


@register
class SimGAN(TranslationModel):
    """Refiner (ResNet, self-regularised) + local discriminator with a history of refined images."""

    name = "simgan"
    Config = SimGANConfig
    roles = (Role("discriminator", ("discriminator",), "discriminator_loss", lr="lr", betas=GAN_BETAS, critic=True),
             Role("refiner", ("refiner",), "refiner_loss", lr="lr", betas=GAN_BETAS))

    def __init__(self, config: SimGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, h, w = spec.shape
        if tuple(self.src_shape) != (c, h, w):
            raise GenzooError(f"simgan refines images to the same shape; the synthetic images are {self.src_shape}, "
                              f"the real ones {spec.shape}")
        self.refiner = Refiner(c, channels=config.channels, blocks=config.blocks, preact=config.preact)
        self.discriminator = PatchGAN(c, h, w, channels=config.channels, layers=config.d_layers)
        self.history = History(config.buffer_size, tuple(spec.shape))

    # ---- the players -----------------------------------------------------------------
    def discriminator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """D on real images against refined ones, half of them from the history; the new
        refined images then enter the history (while training)."""
        real = to_unit(batch["x"].to(self.device), self.spec)
        refined = self.refiner(self.source(batch)).detach()
        fake = self.history.mix(refined)
        if self.training and torch.is_grad_enabled():
            self.history.push(refined)
        return self.judge(self.discriminator(real), self.discriminator(fake))

    def refiner_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Local adversarial loss plus ``reg_weight`` times the self-regularisation (L1, or L2)."""
        synth = self.source(batch)
        proposed = self.refiner.propose(synth)
        refined = proposed.clamp(-1.0, 1.0)
        adv = self.fool(self.discriminator(refined))
        change = (proposed if self.config.reg_unclipped else refined) - synth
        reg = change.abs().mean() if self.config.reg_norm == "l1" else change.square().mean()
        removed = F.relu(synth - refined).mean()  # ink taken away (bright is ink)
        loss = adv + self.config.reg_weight * reg + self.config.ink_weight * removed
        return {"loss": loss, "adversarial": adv.detach(), "self_regularisation": reg.detach(),
                "ink_removed": removed.detach()}

    # ---- refinement ------------------------------------------------------------------
    @torch.no_grad()
    def refine_unit(self, u: torch.Tensor) -> torch.Tensor:
        """Synthetic images in [-1, 1] -> refined images in [-1, 1]."""
        return self.refiner(u.to(self.device))

    @torch.no_grad()
    def translate(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Synthetic images in the data's own space (B, *source shape) -> refined (B, *shape)."""
        return from_unit(self.refine_unit(to_unit(x, self.spec)), self.spec, generator=generator)

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """R(x) for synthetic images ``condition`` (in [-1, 1]) or kept training sources chosen with ``generator``."""
        if condition is None:
            condition = self.kept_sources(n, generator)
        return from_unit(self.refine_unit(condition), self.spec, generator=generator)

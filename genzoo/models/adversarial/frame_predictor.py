"""frame_predictor: next-frame prediction with MSE, or MSE plus an adversarial loss.

Lotter, Kreiman & Cox (2015), "Unsupervised Learning of Visual Structure using Predictive
Generative Networks", arXiv:1511.06380 (and Mathieu, Couprie & LeCun (2016), "Deep
multi-scale video prediction beyond mean square error", ICLR, arXiv:1511.05440). When the
future has several correct answers, the frame that minimizes the expected squared error
is their average, a blur; an adversarial loss asks instead for a frame a discriminator
cannot tell from a real next frame, which keeps it sharp.

On ``video`` data (examples (T, C, H, W), continuous): from ``context`` past frames the
generator predicts the next one. The generator is pix2pix's U-Net
(:mod:`genzoo.models.adversarial.image2image`) with the past frames stacked as its input
channels; with ``adversarial_weight > 0`` a PatchGAN discriminator judges (past frames,
next frame) pairs, real or predicted: the conditional discriminator of pix2pix. Each
training step takes one random window of ``context + 1`` frames from every sequence (the
trainer seeds the draw). The generator minimizes ``MSE + adversarial_weight *
adversarial`` on [-1, 1] values; ``adversarial_weight=0`` (the default) is the plain MSE
predictor, the same network trained by the same trainer, without a discriminator (one
registered name, two recipes, as srgan and its MSE twin).

``rollout(past, steps)`` feeds the predictions back to predict ``steps`` frames.
``sample(n, condition=past)`` returns whole sequences (n, T, C, H, W): the given past
frames (values in [-1, 1], (n, context, C, H, W)) or kept training ones chosen with the
generator, followed by T - context predicted frames. No likelihood; ``genzoo predict``
measures the rollouts (PSNR and sharpness per step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.adversarial import losses
from genzoo.models.adversarial.base import GAN_BETAS, AdversarialModel, Role
from genzoo.models.adversarial.image2image import PatchGAN, UNet
from genzoo.models.base import Batch
from genzoo.models.registry import register
from genzoo.nn import rand
from genzoo.nn.values import from_unit, to_unit

KEPT = 64  # training contexts kept for unconditional ``sample``


@dataclass
class FramePredictorConfig:
    """Next-frame predictor hyperparameters (CPU-sized).

    Args:
        context: past frames the prediction sees (K).
        channels: base width of the U-Net and the PatchGAN.
        depth: most U-Net levels (fewer if the frame is small).
        d_layers: stride-2 layers of the PatchGAN.
        adversarial_weight: weight of the adversarial loss; 0 trains with the MSE alone
            (and builds no discriminator).
        loss: GAN loss (:data:`genzoo.models.adversarial.losses.LOSSES` but ``wasserstein_gp``).
        lr_g: generator learning rate (Adam, betas 0.5, 0.999).
        lr_d: discriminator learning rate.
    """

    context: int = 4
    channels: int = 32
    depth: int = 3
    d_layers: int = 2
    adversarial_weight: float = 0.0
    loss: str = "non_saturating"
    lr_g: float = 2e-4
    lr_d: float = 2e-4

    def validate(self) -> None:
        for key in ("context", "channels", "depth", "d_layers", "lr_g", "lr_d"):
            positive(getattr(self, key), key)
        positive(self.adversarial_weight, "adversarial_weight", allow_zero=True)
        choice(self.loss, tuple(x for x in losses.LOSSES if x != "wasserstein_gp"), "loss")


@register
class FramePredictor(AdversarialModel):
    """Next-frame prediction: a U-Net from K past frames, MSE (+ a conditional PatchGAN); no likelihood."""

    name = "frame_predictor"
    Config = FramePredictorConfig
    accepts = (("video", "continuous"),)
    capabilities = ("conditional", "predict")
    #: the discriminator only while the adversarial loss is on, then the generator
    roles = (Role("discriminator", ("discriminator",), "discriminator_loss", lr="lr_d", betas=GAN_BETAS, critic=True,
                  when="adversarial_weight"),
             Role("generator", ("generator",), "generator_loss", lr="lr_g", betas=GAN_BETAS))

    def __init__(self, config: FramePredictorConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        t, c, h, w = spec.shape
        k = config.context
        if t <= k:
            raise IncompatibleDataError(f"model 'frame_predictor' predicts frame {k + 1} from {k} (context={k}); "
                                        f"{spec.name!r} has {t} frames a sequence: set context below {t}")
        self.generator = UNet(k * c, c, h, w, channels=config.channels, depth=config.depth)
        if config.adversarial_weight > 0:
            self.discriminator = PatchGAN((k + 1) * c, h, w, channels=config.channels, layers=config.d_layers)
        self.register_buffer("kept", torch.zeros(KEPT, k, c, h, w))

    def prepare(self, data: Any) -> None:
        """Keep the first frames of the first training sequences (in [-1, 1]) for ``sample``."""
        x = to_unit(data.fixed("train").x[:KEPT, : self.config.context], self.spec)
        self.kept[: len(x)] = x

    # ---- the players -----------------------------------------------------------------
    def windows(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """One random window per sequence: past frames stacked as channels (B, K*C, H, W)
        and the next frame (B, C, H, W), in [-1, 1]."""
        u = to_unit(batch["x"].to(self.device), self.spec)  # (B, T, C, H, W)
        b, t = u.shape[:2]
        k = self.config.context
        start = torch.randint(0, t - k, (b,), device=u.device)  # the trainer seeds the global RNG
        w = u[torch.arange(b, device=u.device)[:, None], start[:, None] + torch.arange(k + 1, device=u.device)]
        return w[:, :k].flatten(1, 2), w[:, k]

    def discriminator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        past, nxt = self.windows(batch)
        fake = self.generator(past).detach()
        return self.judge(self.discriminator(torch.cat([past, nxt], 1)), self.discriminator(torch.cat([past, fake], 1)))

    def generator_loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """MSE to the true next frame plus the weighted adversarial loss."""
        past, nxt = self.windows(batch)
        pred = self.generator(past)
        mse = F.mse_loss(pred, nxt)
        out = {"mse": mse.detach()}
        loss = mse
        if self.config.adversarial_weight > 0:
            adv = self.fool(self.discriminator(torch.cat([past, pred], 1)))
            loss = loss + self.config.adversarial_weight * adv
            out["adversarial"] = adv.detach()
        return {"loss": loss, **out}

    # ---- prediction ------------------------------------------------------------------
    @torch.no_grad()
    def rollout(self, past: torch.Tensor, steps: int) -> torch.Tensor:
        """``steps`` predicted frames (B, steps, C, H, W) in [-1, 1] after ``past`` (B, K, C, H, W)
        in [-1, 1], each prediction fed back as the newest past frame."""
        t, c, h, w = self.spec.shape
        k = self.config.context
        if past.dim() != 5 or tuple(past.shape[1:]) != (k, c, h, w):
            raise GenzooError(f"past frames must be (B, {k}, {c}, {h}, {w}), got {tuple(past.shape)}")
        if steps < 1:
            raise GenzooError(f"steps must be >= 1, got {steps}")
        window = past.to(self.device).float()
        out = []
        for _ in range(steps):
            nxt = self.generator(window.flatten(1, 2))  # (B, C, H, W)
            out.append(nxt)
            window = torch.cat([window[:, 1:], nxt[:, None]], 1)
        return torch.stack(out, 1)

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Sequences (n, T, C, H, W): past frames ``condition`` (in [-1, 1]) or kept training
        ones chosen with ``generator``, then T - context predicted frames."""
        if condition is None:
            idx = torch.floor(KEPT * rand.rand(n, generator=generator)).long().clamp(max=KEPT - 1)
            condition = self.kept[idx.to(self.kept.device)]
        past = condition.to(self.device).float()
        seq = torch.cat([past, self.rollout(past, self.spec.shape[0] - self.config.context)], 1)
        return from_unit(seq, self.spec, generator=generator)

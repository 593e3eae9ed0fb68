"""RealNVP: a multi-scale normalizing flow of affine coupling layers.

Dinh, Sohl-Dickstein & Bengio (2017), "Density estimation using Real NVP", ICLR.
arXiv:1605.08803.

An invertible map ``f`` from images to ``eps ~ N(0, I)`` gives the exact density

    log p(w) = log N(f(w); 0, I) + log |det df/dw|.

Each coupling layer keeps half of its input (``a``) and transforms the other half
(``b``) elementwise: ``y_b = x_b * exp(s(x_a)) + t(x_a)``, so the Jacobian is triangular and
its log-det is ``sum(s)``; ``s`` and ``t`` are small ResNets and ``s = scale * tanh(raw)``
is bounded for stability. Halves are picked by a checkerboard mask over pixels or by
splitting channels. One *scale* (paper, section 3.6) is

    checkerboard couplings -> squeeze (C, H, W) -> (4C, H/2, W/2) -> channel couplings
    -> factor out half of the channels (their prior is N(0, I))

and the last scale is checkerboard couplings only. Every coupling is followed by batch
normalization (paper, section 3.7: invertible, log-det ``sum(log gamma - log sigma / 2)``;
batch statistics in training, running averages in eval) or by actnorm.

Data enters through :class:`genzoo.models.flows.layers.DataToFlow`: discrete data (binary,
categorical(K)) is dequantized, ``y = (x + u) / K`` with ``u ~ U[0, 1)^D``, and since
``P(x) = int p((x + u) / K) K^-D du``, Jensen gives the bound reported by ``log_prob``:

    log P(x) >= E_u[log p((x + u) / K)] - D log K;

continuous data in ``[lo, hi]`` is rescaled to [0, 1] (log-Jacobian ``-D log(hi - lo)``)
and ``log_prob`` is the exact density. Either way the flow sees
``w = logit(alpha + (1 - 2 alpha) y)`` with its Jacobian included.
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
from genzoo.models.flows.common import ImageFlow
from genzoo.models.flows.layers import (
    ActNorm,
    AffineCoupling,
    DataToFlow,
    MultiScaleFlow,
    SplitPrior,
    Squeeze,
    zero_conv,
)
from genzoo.models.registry import register


@dataclass
class RealNVPConfig:
    """RealNVP hyperparameters (defaults are small; the paper used 8 ResNet blocks of 64).

    Args:
        scales: number of scales; each but the last squeezes once, so H and W must be
            divisible by 2^(scales - 1). None: as many as H and W allow, at most 3,
            keeping the last scale at least 2x2 (4x4 -> 2, 8x8 -> 3, 28x28 -> 3).
        blocks_per_scale: coupling layers in each checkerboard / channel stage (paper: 3).
        hidden_channels: width of the coupling ResNets.
        res_blocks: residual blocks in each coupling ResNet.
        norm: ``batchnorm`` (the paper's) or ``actnorm`` after every coupling.
        logit_alpha: squashing before the logit, ``w = logit(alpha + (1 - 2 alpha) y)``.
        dequant_samples: draws of u averaged by ``log_prob`` on discrete data.
        temperature: standard deviation of eps when sampling (1 = the model).
        complete_steps: Adam steps of ``complete``.
    """

    scales: int | None = None
    blocks_per_scale: int = 2
    hidden_channels: int = 32
    res_blocks: int = 1
    norm: Literal["actnorm", "batchnorm"] = "batchnorm"
    logit_alpha: float = 0.05
    dequant_samples: int = 4
    temperature: float = 1.0
    complete_steps: int = 100

    def validate(self) -> None:
        choice(self.norm, ("actnorm", "batchnorm"), "norm")
        if self.scales is not None:
            positive(self.scales, "scales")
        for key in ("blocks_per_scale", "hidden_channels", "dequant_samples"):
            positive(getattr(self, key), key)
        positive(self.res_blocks, "res_blocks", allow_zero=True)
        positive(self.temperature, "temperature", allow_zero=True)
        positive(self.complete_steps, "complete_steps", allow_zero=True)
        if not 0.0 < self.logit_alpha < 0.5:
            raise GenzooError(f"bad value {self.logit_alpha!r} for logit_alpha: must be in (0, 0.5)")


# ---- layers -----------------------------------------------------------------------------
class ResBlock(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.conv2(F.relu(self.conv1(F.relu(h))))


class ResNet(nn.Module):
    """The coupling network s, t = net(x_a): conv, residual blocks, zero-initialized conv."""

    def __init__(self, c_in: int, c_out: int, hidden: int, blocks: int) -> None:
        super().__init__()
        self.inp = nn.Conv2d(c_in, hidden, 3, padding=1)
        self.blocks = nn.Sequential(*(ResBlock(hidden) for _ in range(blocks)))
        self.out = zero_conv(hidden, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.blocks(self.inp(x))))


class FlowBatchNorm(nn.Module):
    """Invertible batch normalization ``y = (x - mu) / sqrt(var + eps) * exp(log_gamma) + beta``.

    Training mode normalizes with the batch's statistics (and updates running averages);
    eval mode uses the running averages, a fixed per-example affine map. In training mode
    ``inverse`` undoes the last forward batch's map (its statistics are kept), so
    ``inverse(forward(x)) == x`` holds in both modes. log-det = H W sum(log_gamma -
    log(var + eps) / 2); in training mode it treats the batch statistics as constants,
    as the paper does.
    """

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-4) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.log_gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.training:
            return self.running_mean, self.running_var
        mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)  # (C,)
        with torch.no_grad():
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(var.detach(), self.momentum)
        self._batch = (mean.detach(), var.detach())
        return mean, var

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, var = self._stats(x)
        log_std = 0.5 * torch.log(var + self.eps)  # (C,)
        y = (x - mean.view(1, -1, 1, 1)) * torch.exp(self.log_gamma - log_std.view(1, -1, 1, 1)) + self.beta
        log_det = x.shape[2] * x.shape[3] * (self.log_gamma.sum() - log_std.sum())
        return y, log_det.expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        mean, var = self._batch if self.training and self._batch is not None else \
            (self.running_mean, self.running_var)
        log_std = 0.5 * torch.log(var + self.eps).view(1, -1, 1, 1)
        return (y - self.beta) * torch.exp(log_std - self.log_gamma) + mean.view(1, -1, 1, 1)


# ---- the model ----------------------------------------------------------------------------
@register
class RealNVP(ImageFlow):
    """Multi-scale affine-coupling flow; exact density, a dequantization bound on discrete data."""

    name = "realnvp"
    Config = RealNVPConfig

    @staticmethod
    def _shape_problem(spec: DataSpec) -> str | None:
        if len(spec.shape) != 3 or spec.shape[1] * spec.shape[2] < 2:
            return "images (C, H, W) with at least 2 pixels"
        return None

    @staticmethod
    def plan_scales(config: RealNVPConfig, spec: DataSpec) -> int:
        """Number of scales: ``config.scales`` if H, W allow its squeezes, else the auto choice."""
        _, h, w = spec.shape
        if config.scales is not None:
            f = 2 ** (config.scales - 1)
            if h % f or w % f:
                raise IncompatibleDataError(
                    f"realnvp scales={config.scales} squeezes {config.scales - 1} times, so height and "
                    f"width must be divisible by {f}; {spec.name!r} is {spec.describe}; use fewer "
                    "scales or scales=None (auto)")
            return config.scales
        scales = 1
        while scales < 3 and h % 2 ** scales == 0 and w % 2 ** scales == 0 \
                and h // 2 ** scales >= 2 and w // 2 ** scales >= 2:
            scales += 1
        return scales

    def __init__(self, config: RealNVPConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.map = DataToFlow(spec, config.logit_alpha)
        self.D = spec.dim
        self.num_scales = self.plan_scales(config, spec)
        c, h, w = spec.shape
        levels = []
        for i in range(self.num_scales):
            last = i == self.num_scales - 1
            # a 1x1 last scale (explicit scales only) has no checkerboard: couple channels
            layers = self._stage(c, "checkerboard" if h * w >= 2 else "channel")
            if not last:
                c, h, w = 4 * c, h // 2, w // 2
                layers += [Squeeze(), *self._stage(c, "channel")]
                c = c // 2  # half of the channels are factored out after this scale
            levels.append(layers)
        self.flow = MultiScaleFlow(spec.shape, levels, lambda kept, split: SplitPrior(kept, split, learned=False))

    def _stage(self, channels: int, mask: str) -> list[nn.Module]:
        """``blocks_per_scale`` couplings with alternating halves, each followed by a norm."""
        cfg = self.config
        layers: list[nn.Module] = []
        for k in range(cfg.blocks_per_scale):
            layers.append(AffineCoupling(
                channels, lambda a, b: ResNet(a, b, cfg.hidden_channels, cfg.res_blocks), mask=mask, parity=k % 2))
            layers.append(FlowBatchNorm(channels) if cfg.norm == "batchnorm" else ActNorm(channels))
        return layers


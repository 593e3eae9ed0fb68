"""Glow: a multi-scale flow of actnorm, invertible 1x1 convolutions and affine couplings.

Kingma & Dhariwal (2018), "Glow: Generative Flow with Invertible 1x1 Convolutions",
NeurIPS. arXiv:1807.03039. Variational dequantization: Ho, Chen, Srinivas, Duan & Abbeel
(2019), "Flow++: Improving Flow-Based Generative Models with Variational Dequantization
and Architecture Design", ICML. arXiv:1902.00275.

The flow has L levels; each squeezes (C, H, W) -> (4C, H/2, W/2) and applies K steps of

    actnorm           y = (x + b) * exp(log_scale), data-dependent init   (log-det H W sum log_scale)
    invertible 1x1    y = W x per pixel, W = P L (U + diag(sign(s) exp(log|s|)))   (H W sum log|s|)
    affine coupling   y_b = x_b * exp(s(x_a)) + t(x_a), s = scale * tanh(raw)    (sum s)

and after every level but the last half of the channels are factored out with a learned
conditional prior ``z ~ N(mu(h), sigma(h)^2)`` given the kept half h (or N(0, I) with
``learned_prior=False``). In the LU parameterization P is a fixed permutation, L is unit
lower triangular and U strictly upper triangular, so log |det W| = sum log|s| is free.

Data enters through :class:`genzoo.models.flows.layers.DataToFlow` (see realnvp.py for the maths):
continuous data gets the exact density; discrete data with K levels is dequantized,
``y = (x + u) / K``, and ``log_prob`` reports a lower bound on log P(x):

* ``uniform``: u ~ U[0, 1)^D, log P(x) >= E_u[log p((x + u) / K)] - D log K;
* ``variational``: u ~ q(u | x) = sigmoid(N(mu(x), sigma(x)^2)), a learned conditional
  distribution on (0, 1)^D, log P(x) >= E_q[log p((x + u) / K) - log q(u | x)] - D log K,
  which is the uniform bound when q is uniform and tighter as q fits p.
"""

from __future__ import annotations

import math
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
from genzoo.nn.values import to_unit


@dataclass
class GlowConfig:
    """Glow hyperparameters (defaults are small; the paper used K = 32, 512 channels).

    Args:
        levels: L, the number of levels; each squeezes once, so H and W must be divisible
            by 2^L. None: as many as H and W allow, at most 3 (28x28 -> 2, 8x8 -> 3).
        steps_per_level: K, flow steps (actnorm, 1x1 conv, coupling) per level.
        hidden_channels: width of the coupling networks.
        learned_prior: a learned conditional Gaussian prior for each factored-out half
            (else N(0, I)).
        dequantization: ``uniform`` or ``variational`` noise for discrete data (continuous
            data is not dequantized, so this has no effect there).
        dequant_hidden: width of the variational dequantizer's network.
        logit_alpha: squashing before the logit, ``w = logit(alpha + (1 - 2 alpha) y)``.
        dequant_samples: draws of u averaged by ``log_prob`` on discrete data.
        temperature: standard deviation of eps when sampling (the paper shows 0.7).
        complete_steps: Adam steps of ``complete``.
    """

    levels: int | None = None
    steps_per_level: int = 4
    hidden_channels: int = 32
    learned_prior: bool = True
    dequantization: Literal["uniform", "variational"] = "uniform"
    dequant_hidden: int = 16
    logit_alpha: float = 0.05
    dequant_samples: int = 4
    temperature: float = 1.0
    complete_steps: int = 100

    def validate(self) -> None:
        choice(self.dequantization, ("uniform", "variational"), "dequantization")
        if self.levels is not None:
            positive(self.levels, "levels")
        for key in ("steps_per_level", "hidden_channels", "dequant_hidden", "dequant_samples"):
            positive(getattr(self, key), key)
        positive(self.temperature, "temperature", allow_zero=True)
        positive(self.complete_steps, "complete_steps", allow_zero=True)
        if not 0.0 < self.logit_alpha < 0.5:
            raise GenzooError(f"bad value {self.logit_alpha!r} for logit_alpha: must be in (0, 0.5)")


# ---- layers -----------------------------------------------------------------------------
class InvConv1x1(nn.Module):
    """Invertible 1x1 convolution with the LU parameterization (Glow, section 3.2).

    Starts at a random rotation. ``P`` and ``sign_s`` are fixed buffers; ``L`` and ``U`` are
    used through strict triangular masks.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        w0 = torch.linalg.qr(torch.randn(channels, channels))[0]  # random rotation
        P, L, U = torch.linalg.lu(w0)
        s = U.diagonal()
        self.register_buffer("P", P)
        self.register_buffer("sign_s", s.sign())
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.L = nn.Parameter(L * self.lower_mask)
        self.U = nn.Parameter(U * self.lower_mask.T)
        self.log_s = nn.Parameter(s.abs().log())

    def weight(self) -> torch.Tensor:
        """W = P L (U + diag(sign_s * exp(log_s))): (C, C)."""
        eye = torch.eye(self.P.shape[0], dtype=self.P.dtype, device=self.P.device)
        L = self.L * self.lower_mask + eye
        U = self.U * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.P @ L @ U

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        W = self.weight()
        y = F.conv2d(x, W.view(*W.shape, 1, 1))
        return y, (x.shape[2] * x.shape[3] * self.log_s.sum()).expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        W_inv = torch.linalg.inv(self.weight().double()).to(y.dtype)  # float64: exact round trips
        return F.conv2d(y, W_inv.view(*W_inv.shape, 1, 1))


def coupling_net(c_in: int, c_out: int, hidden: int) -> nn.Module:
    """Glow's NN(): conv 3x3, ReLU, conv 1x1, ReLU, zero-initialized conv 3x3."""
    return nn.Sequential(nn.Conv2d(c_in, hidden, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(hidden, hidden, 1), nn.ReLU(), zero_conv(hidden, c_out))


class VariationalDequantizer(nn.Module):
    """q(u | x): u = sigmoid(mu(x) + sigma(x) eps), eps ~ N(0, I), a density on (0, 1)^D.

    log q(u | x) = log N(eps) - log sigma - log u - log(1 - u), the change of variables
    through the sigmoid.
    """

    def __init__(self, spec: DataSpec, hidden: int) -> None:
        super().__init__()
        self.spec = spec
        c = spec.shape[0]
        self.net = nn.Sequential(nn.Conv2d(c, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(), zero_conv(hidden, 2 * c))

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data x and noise eps (both (B, C, H, W)) -> u (B, C, H, W) and log q(u | x) (B,)."""
        mu, log_sigma = self.net(to_unit(x, self.spec).to(eps.dtype)).chunk(2, dim=1)
        v = mu + torch.exp(log_sigma) * eps
        log_q = (-0.5 * (eps.pow(2) + math.log(2 * math.pi)) - log_sigma
                 - F.logsigmoid(v) - F.logsigmoid(-v)).flatten(1).sum(1)
        return torch.sigmoid(v), log_q


# ---- the model ----------------------------------------------------------------------------
@register
class Glow(ImageFlow):
    """Glow flow; exact density, a (uniform or variational) dequantization bound on discrete data."""

    name = "glow"
    Config = GlowConfig

    @staticmethod
    def _shape_problem(spec: DataSpec) -> str | None:
        if len(spec.shape) != 3 or spec.shape[1] % 2 or spec.shape[2] % 2:
            return "images (C, H, W) with even height and width (every level squeezes 2x2 blocks)"
        return None

    @staticmethod
    def plan_levels(config: GlowConfig, spec: DataSpec) -> int:
        """L: ``config.levels`` if H, W allow its squeezes, else as many as they allow (<= 3)."""
        _, h, w = spec.shape
        if config.levels is not None:
            f = 2 ** config.levels
            if h % f or w % f:
                raise IncompatibleDataError(
                    f"glow levels={config.levels} squeezes {config.levels} times, so height and width "
                    f"must be divisible by {f}; {spec.name!r} is {spec.describe}; use fewer levels "
                    "or levels=None (auto)")
            return config.levels
        levels = 1
        while levels < 3 and h % 2 ** (levels + 1) == 0 and w % 2 ** (levels + 1) == 0:
            levels += 1
        return levels

    def __init__(self, config: GlowConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.map = DataToFlow(spec, config.logit_alpha)
        self.D = spec.dim
        self.num_levels = self.plan_levels(config, spec)
        c = spec.shape[0]
        levels = []
        for i in range(self.num_levels):
            c *= 4
            steps: list[nn.Module] = [Squeeze()]
            for _ in range(config.steps_per_level):
                steps += [ActNorm(c), InvConv1x1(c),
                          AffineCoupling(c, lambda a, b: coupling_net(a, b, config.hidden_channels))]
            levels.append(steps)
            if i < self.num_levels - 1:
                c //= 2  # half of the channels are factored out after this level
        self.flow = MultiScaleFlow(spec.shape, levels,
                                   lambda kept, split: SplitPrior(kept, split, learned=config.learned_prior))
        self.variational = config.dequantization == "variational" and self.map.K is not None
        self.dequantizer = VariationalDequantizer(spec, config.dequant_hidden) if self.variational else None


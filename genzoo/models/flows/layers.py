"""Building blocks shared by the normalizing flows (RealNVP, Glow).

Every flow layer maps ``x -> (y, log_det)`` in ``forward`` and ``y -> x`` in
``inverse``, with ``log_det`` of shape ``(B,)``: the log |det dy/dx| per example. Layers:

* :class:`ActNorm` (Kingma & Dhariwal 2018): per-channel affine map with a data-dependent
  initialization on the first training batch, remembered in an ``initialized`` buffer.
* :class:`Squeeze`: (C, H, W) -> (4C, H/2, W/2), a permutation (log-det 0).
* :class:`AffineCoupling` (Dinh et al. 2017): ``y_b = x_b * exp(s(x_a)) + t(x_a)`` with a
  checkerboard or channel-wise split into ``a`` (kept) and ``b`` (transformed); the log
  scale is bounded as ``s = scale * tanh(raw)`` for stability.
* :class:`SplitPrior` and :class:`MultiScaleFlow`: the multi-scale architecture, which
  factors out half of the channels after every level. A learned conditional Gaussian
  prior ``z ~ N(mu(h), sigma(h)^2)`` for a factored-out part is folded into the flow as the
  affine map ``eps = (z - mu(h)) / sigma(h)``, so the whole flow ends in ``N(0, I)``.

:class:`DataToFlow` maps data of any value type onto the real line: into the unit cube
(dequantizing discrete data), then through a squashed logit, with every log-Jacobian.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from genzoo.data.spec import DataSpec
from genzoo.nn.modes import eval_mode  # noqa: F401  (re-exported for the flows)
from genzoo.nn.values import num_levels

LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over all but the batch dimension: (B,)."""
    return -0.5 * (z.pow(2) + LOG_2PI).flatten(1).sum(1)


# ---- data space <-> flow space ---------------------------------------------------------
class DataToFlow:
    """Data (spec dtype) <-> unit cube y in [0, 1]^D <-> flow input w in R^D.

    Discrete data with K levels (binary: K = 2) is dequantized, ``y = (x + u) / K``, with
    ``u`` in [0, 1)^D; continuous data in ``[lo, hi]`` is rescaled, ``y = (x - lo) / (hi - lo)``.
    Then ``w = logit(alpha + (1 - 2 alpha) y)`` (Dinh et al. 2017), finite for every y
    in [0, 1]. ``log_jac`` is the constant log-Jacobian of x -> y (-D log K or
    -D log(hi - lo)); :meth:`logit` also returns the per-example log |dw/dy|.

    The flow's density on w is normalized over R^D, which maps onto a box slightly wider
    than [0, 1]^D (by alpha / (1 - 2 alpha) a side), so the density over the data's range
    integrates to at most 1: an exact density of a model that may put a little mass just
    outside the range, which :meth:`from_cube` clamps back in when sampling.
    """

    def __init__(self, spec: DataSpec, alpha: float) -> None:
        self.spec = spec
        self.alpha = float(alpha)
        self.K = num_levels(spec)
        self.D = spec.dim
        if self.K is None:
            lo, hi = spec.value_range  # type: ignore[misc]
            self.lo, self.width = float(lo), float(hi - lo)
            self.log_jac = -self.D * math.log(self.width)
        else:
            self.log_jac = -self.D * math.log(self.K)

    def to_cube(self, x: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """Data (B, *shape) -> y in [0, 1]; ``u`` (same shape) dequantizes discrete data."""
        x = x if x.is_floating_point() else x.float()
        if self.K is None:
            return (x - self.lo) / self.width
        assert u is not None, "discrete data needs dequantization noise u"
        return (x + u) / self.K

    def from_cube(self, y: torch.Tensor) -> torch.Tensor:
        """y -> data of the spec's dtype: floor(y K) clamped for discrete data, clamp otherwise."""
        if self.K is None:
            x = self.lo + self.width * y.clamp(0.0, 1.0)
            return x.to(self.spec.dtype)
        return torch.floor(y * self.K).clamp(0, self.K - 1).to(self.spec.dtype)

    def logit(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """y -> w = logit(alpha + (1 - 2 alpha) y) and log |dw/dy| summed per example: (B,)."""
        s = self.alpha + (1 - 2 * self.alpha) * y
        w = torch.log(s) - torch.log1p(-s)
        log_det = (math.log(1 - 2 * self.alpha) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)
        return w, log_det

    def sigmoid(self, w: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`logit`: w -> y (may leave [0, 1] by up to alpha / (1 - 2 alpha))."""
        return (torch.sigmoid(w) - self.alpha) / (1 - 2 * self.alpha)


# ---- layers ---------------------------------------------------------------------------
class ActNorm(nn.Module):
    """y = (x + bias) * exp(log_scale) per channel; log-det = H W sum(log_scale).

    The first forward pass in training mode sets bias and scale so that the batch's
    output has zero mean and unit variance per channel (averaged over processes under
    torch.distributed); the ``initialized`` buffer is saved with the weights, so a loaded
    or resumed model never initializes again.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, x: torch.Tensor) -> None:
        stats = torch.stack([x.mean((0, 2, 3)), x.pow(2).mean((0, 2, 3))])  # (2, C)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(stats)
            stats /= torch.distributed.get_world_size()
        mean, var = stats[0], (stats[1] - stats[0].pow(2)).clamp_min(0)
        self.bias.copy_(-mean.view(1, -1, 1, 1))
        self.log_scale.copy_(-0.5 * torch.log(var + 1e-6).view(1, -1, 1, 1))
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialized):
            self._initialize(x.detach())
        y = (x + self.bias) * torch.exp(self.log_scale)
        h, w = x.shape[2], x.shape[3]
        return y, (h * w * self.log_scale.sum()).expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, 4C, H/2, W/2): each 2x2 block becomes 4 channels."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)  # (B, C, 2, 2, H/2, W/2)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(y: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`squeeze`: (B, 4C, H, W) -> (B, C, 2H, 2W)."""
    b, c4, h, w = y.shape
    y = y.view(b, c4 // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)  # (B, C, H, 2, W, 2)
    return y.reshape(b, c4 // 4, 2 * h, 2 * w)


class Squeeze(nn.Module):
    """:func:`squeeze` as a flow layer (a permutation: log-det 0)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return squeeze(x), x.new_zeros(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return unsqueeze(y)


def checkerboard(h: int, w: int, parity: int, *, device: torch.device | None = None) -> torch.Tensor:
    """(1, 1, H, W) float mask, 1 where (i + j + parity) is even: the conditioning pixels."""
    i = torch.arange(h, device=device).view(-1, 1)
    j = torch.arange(w, device=device).view(1, -1)
    return ((i + j + parity) % 2 == 0).float().view(1, 1, h, w)


NetFactory = Callable[[int, int], nn.Module]


class AffineCoupling(nn.Module):
    """Affine coupling ``y_b = x_b * exp(s) + t``, ``(s, t) = net(x_a)``, ``y_a = x_a``.

    Args:
        channels: C of the input.
        make_net: ``(in_channels, out_channels) -> module`` for the conditioning network;
            its last layer should start at zero so the coupling starts as the identity.
        mask: ``checkerboard`` (a: pixels with (i + j + parity) even; the net sees
            ``x * mask``) or ``channel`` (a: the first C // 2 channels, or the last
            ones when ``parity`` is 1).
        parity: which half is kept, so that alternating layers transform both halves.
    """

    def __init__(self, channels: int, make_net: NetFactory, *, mask: str = "channel",
                 parity: int = 0) -> None:
        super().__init__()
        if mask not in ("checkerboard", "channel"):
            raise ValueError(f"unknown coupling mask {mask!r}")
        if mask == "channel" and channels < 2:
            raise ValueError("a channel-wise coupling needs at least 2 channels")
        self.mask, self.parity, self.channels = mask, int(parity), channels
        if mask == "checkerboard":
            c_in, c_out = channels, channels
        else:
            half = channels // 2
            c_in, c_out = (half, channels - half) if parity == 0 else (channels - half, half)
        self.net = make_net(c_in, 2 * c_out)
        # s = scale * tanh(raw): bounded log scales, a learned bound per channel
        self.scale = nn.Parameter(torch.ones(1, c_out, 1, 1))

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        half = self.channels // 2
        if self.parity == 0:
            return x[:, :half], x[:, half:]
        return x[:, half:], x[:, :half]

    def _join(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([a, b], 1) if self.parity == 0 else torch.cat([b, a], 1)

    def _st(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw, t = self.net(a).chunk(2, dim=1)
        return self.scale * torch.tanh(raw), t

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mask == "checkerboard":
            m = checkerboard(x.shape[2], x.shape[3], self.parity, device=x.device)  # (1, 1, H, W)
            s, t = self._st(x * m)
            s, t = s * (1 - m), t * (1 - m)  # the kept pixels pass unchanged
            return x * torch.exp(s) + t, s.flatten(1).sum(1)
        a, b = self._split(x)
        s, t = self._st(a)
        return self._join(a, b * torch.exp(s) + t), s.flatten(1).sum(1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        if self.mask == "checkerboard":
            m = checkerboard(y.shape[2], y.shape[3], self.parity, device=y.device)
            s, t = self._st(y * m)  # y * m == x * m: the kept pixels are unchanged
            return (y - t * (1 - m)) * torch.exp(-s * (1 - m))
        a, b = self._split(y)
        s, t = self._st(a)
        return self._join(a, (b - t) * torch.exp(-s))


def zero_conv(c_in: int, c_out: int, kernel: int = 3) -> nn.Conv2d:
    """A 'same' convolution initialized to output zeros (couplings start as the identity)."""
    conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


# ---- multi-scale architecture -----------------------------------------------------------
class SplitPrior(nn.Module):
    """The prior of a factored-out half z given the kept half h.

    ``learned``: z ~ N(mu(h), exp(logs(h))^2) from a zero-initialized convolution (Glow),
    folded into the flow as ``eps = (z - mu) * exp(-logs)`` with log-det ``-sum(logs)``.
    Otherwise z ~ N(0, I) (RealNVP) and this is the identity.
    """

    def __init__(self, kept: int, split: int, *, learned: bool) -> None:
        super().__init__()
        self.conv = zero_conv(kept, 2 * split) if learned else None

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.conv is None:
            return z, z.new_zeros(z.shape[0])
        mu, logs = self.conv(h).chunk(2, dim=1)
        return (z - mu) * torch.exp(-logs), -logs.flatten(1).sum(1)

    def inverse(self, h: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        if self.conv is None:
            return eps
        mu, logs = self.conv(h).chunk(2, dim=1)
        return mu + eps * torch.exp(logs)


class MultiScaleFlow(nn.Module):
    """Levels of flow layers; after each level but the last, half the channels leave.

    ``levels[i]`` is a list of layers; ``split_prior(kept, split)`` builds the prior of
    each factored-out half. ``forward`` maps (B, C, H, W) to eps (B, D), the factored-out
    parts (in order) and then the last level's output, flattened and concatenated, with
    the total log-det; under the model, eps ~ N(0, I).
    """

    def __init__(self, shape: Sequence[int], levels: Sequence[Sequence[nn.Module]],
                 split_prior: Callable[[int, int], SplitPrior]) -> None:
        super().__init__()
        self.levels = nn.ModuleList(nn.ModuleList(level) for level in levels)
        c, h, w = shape
        self.z_shapes: list[tuple[int, int, int]] = []  # shapes of the factored-out parts
        priors = []
        for i, level in enumerate(levels):
            for layer in level:
                if isinstance(layer, Squeeze):
                    c, h, w = 4 * c, h // 2, w // 2
            if i < len(levels) - 1:
                priors.append(split_prior(c // 2, c - c // 2))
                self.z_shapes.append((c - c // 2, h, w))
                c = c // 2
        self.priors = nn.ModuleList(priors)
        self.final_shape = (c, h, w)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, H, W) -> eps (B, D), log |det d eps / dx| (B,)."""
        h, log_det, parts = x, x.new_zeros(x.shape[0]), []
        for i, level in enumerate(self.levels):
            for layer in level:
                h, ld = layer(h)
                log_det = log_det + ld
            if i < len(self.priors):
                c = h.shape[1] // 2
                h, z = h[:, :c], h[:, c:]
                eps, ld = self.priors[i](h, z)
                log_det = log_det + ld
                parts.append(eps.flatten(1))
        parts.append(h.flatten(1))
        return torch.cat(parts, 1), log_det

    def inverse(self, eps: torch.Tensor) -> torch.Tensor:
        """eps (B, D) -> x (B, C, H, W)."""
        b = eps.shape[0]
        sizes = [math.prod(s) for s in self.z_shapes] + [math.prod(self.final_shape)]
        pieces = list(eps.split(sizes, dim=1))
        h = pieces[-1].reshape(b, *self.final_shape)
        for i in reversed(range(len(self.levels))):
            if i < len(self.priors):
                z = self.priors[i].inverse(h, pieces[i].reshape(b, *self.z_shapes[i]))
                h = torch.cat([h, z], 1)
            for layer in reversed(self.levels[i]):
                h = layer.inverse(h)
        return h


# ---- completion ------------------------------------------------------------------------
def fill_by_likelihood(log_density: Callable[[torch.Tensor], torch.Tensor], w_observed: torch.Tensor,
                       w_start: torch.Tensor, observed: torch.Tensor, *, steps: int,
                       lr: float = 0.05) -> torch.Tensor:
    """Maximize ``log_density(w)`` over the unobserved entries of w with Adam.

    ``observed`` (bool, same shape as w) marks entries held at ``w_observed``; the others
    start at ``w_start``. Model parameters receive no gradients. Returns w, detached.
    """
    free = w_start.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([free], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            w = torch.where(observed, w_observed, free)
            loss = -log_density(w).sum()
            (free.grad,) = torch.autograd.grad(loss, [free])
            opt.step()
    return torch.where(observed, w_observed, free).detach()

"""Encoders, decoders and decoder distributions shared by the latent-variable models.

The VAE (:mod:`genzoo.models.latent.vae`), its conditional form (``cvae``) and the
deterministic autoencoder (``ae``) are all an encoder ``x -> code`` and a decoder
``z -> p(x|z)`` over the same choice of networks and output distributions:

* networks: an MLP for anything, or two stride-2 convolutions for images whose height
  and width divide by 4 (:func:`resolve_arch`). Either can take an extra condition
  vector ``c`` (a one-hot label): the encoder appends it to its features before the
  last layer, the decoder to ``z``.
* ``p(x|z)`` fits the data's value type (:func:`resolve_decoder`): Bernoulli for binary
  data, a softmax over the K levels of categorical data, a discretized logistic /
  Gaussian over the K *ordered* levels (Salimans et al., PixelCNN++, 2017; the edge bins
  take the tails), or a Gaussian density for continuous data, so log-likelihoods are
  always in the data's own space (for continuous data including the Jacobian of the
  map to [-1, 1]).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.nn import rand
from genzoo.nn.values import level_centers, num_levels, to_unit

# Decoders each value type allows; the first is what "auto" picks.
DECODERS: dict[str, tuple[str, ...]] = {
    "binary": ("bernoulli", "categorical", "dlogistic", "dgaussian"),
    "categorical": ("categorical", "dlogistic", "dgaussian"),
    "continuous": ("gaussian",),
}
DECODER_CHOICES = ("auto", "bernoulli", "categorical", "dlogistic", "dgaussian", "gaussian")
LOG_2PI = math.log(2 * math.pi)
MIN_LOG_SCALE = -9.0  # keeps decoder scales from collapsing onto single values


def resolve_arch(model: str, arch: str, spec: DataSpec) -> str:
    """``auto`` -> ``conv`` for images with H, W divisible by 4, else ``mlp``; checks ``conv``."""
    conv_ok = spec.kind == "image" and len(spec.shape) == 3 and spec.shape[1] % 4 == 0 \
        and spec.shape[2] % 4 == 0
    if arch == "auto":
        return "conv" if conv_ok else "mlp"
    if arch == "conv" and not conv_ok:
        raise IncompatibleDataError(
            f"{model} arch='conv' needs images whose height and width are divisible by 4; "
            f"{spec.name!r} is {spec.describe}; use arch='mlp' (or 'auto')")
    return arch


def resolve_decoder(model: str, decoder: str, spec: DataSpec) -> str:
    """``auto`` -> the natural p(x|z) for the value type; checks an explicit choice."""
    allowed = DECODERS.get(spec.value_type)
    if allowed is None:
        raise IncompatibleDataError(f"{model} has no decoder for {spec.value_type} data ({spec.describe})")
    if decoder == "auto":
        return allowed[0]
    if decoder not in allowed:
        raise IncompatibleDataError(
            f"{model} decoder={decoder!r} cannot model {spec.value_type} data "
            f"({spec.describe}); allowed: {', '.join(('auto',) + allowed)}")
    return decoder


# ---- discretized distributions ----------------------------------------------------------
def log1mexp(a: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(a))`` for ``a <= 0``, accurate at both ends (Maechler 2012)."""
    near_zero = a > -math.log(2.0)
    # Feed each branch only inputs it handles: the unused branch's inf would turn into a
    # NaN gradient through torch.where.
    half = torch.full_like(a, -math.log(2.0))
    return torch.where(near_zero, torch.log(-torch.expm1(torch.where(near_zero, a, half))),
                       torch.log1p(-torch.exp(torch.where(near_zero, half, a))))


def discretized_log_probs(mean: torch.Tensor, log_scale: torch.Tensor, k: int, *,
                          family: Literal["logistic", "gaussian"]) -> torch.Tensor:
    """Log-probabilities of the K ordered levels under a discretized logistic / Gaussian.

    Level j covers ``[c_j - h, c_j + h]`` around its centre ``c_j`` in [-1, 1] (``h`` half
    the spacing); the first and last levels take the tails, so the K probabilities sum to
    one. ``mean``, ``log_scale``: ``(...)``; returns ``(..., K)``.
    """
    centers = level_centers(k, device=mean.device)  # (K,)
    edges = (centers[:-1] + centers[1:]) / 2  # (K-1,) boundary between level j and j+1
    a = (edges - mean.unsqueeze(-1)) * torch.exp(-log_scale).unsqueeze(-1)  # (..., K-1)
    if family == "logistic":
        log_cdf, log_sf = F.logsigmoid(a), F.logsigmoid(-a)
    else:
        log_cdf, log_sf = torch.special.log_ndtr(a), torch.special.log_ndtr(-a)
    first, last = log_cdf[..., :1], log_sf[..., -1:]
    if k == 2:
        return torch.cat([first, last], -1)
    # Middle level j lies between edges j-1 and j. CDF(hi) - CDF(lo) loses precision in
    # the right tail and SF(lo) - SF(hi) in the left, so use whichever side is the tail.
    # The clamp keeps log1mexp finite (and its gradient non-NaN) when two edges coincide.
    from_cdf = log_cdf[..., 1:] + log1mexp((log_cdf[..., :-1] - log_cdf[..., 1:]).clamp(max=-1e-12))
    from_sf = log_sf[..., :-1] + log1mexp((log_sf[..., 1:] - log_sf[..., :-1]).clamp(max=-1e-12))
    left = centers[1:-1] < mean.unsqueeze(-1)  # (..., K-2) level left of the mean
    middle = torch.where(left, from_cdf, from_sf)
    return torch.cat([first, middle, last], -1)


def discretized_log_prob_at(mean: torch.Tensor, log_scale: torch.Tensor, level: torch.Tensor, k: int, *,
                            family: Literal["logistic", "gaussian"]) -> torch.Tensor:
    """The entry ``level`` (integer levels, shape ``(...)``) of :func:`discretized_log_probs`,
    computed for that level alone: O(1) per dimension instead of O(K) (the full table of a
    256-level decoder made a conv VAE step on MNIST about 30x slower). Same numbers."""
    centers = level_centers(k, device=mean.device)
    half = 1.0 / max(k - 1, 1)  # half the spacing of the levels in [-1, 1]
    j = level.long()
    c = centers[j]
    inv_s = torch.exp(-log_scale)
    a_lo, a_hi = (c - half - mean) * inv_s, (c + half - mean) * inv_s
    if family == "logistic":
        log_cdf_lo, log_cdf_hi, log_sf_lo, log_sf_hi = (F.logsigmoid(a_lo), F.logsigmoid(a_hi),
                                                        F.logsigmoid(-a_lo), F.logsigmoid(-a_hi))
    else:
        ndtr = torch.special.log_ndtr
        log_cdf_lo, log_cdf_hi, log_sf_lo, log_sf_hi = ndtr(a_lo), ndtr(a_hi), ndtr(-a_lo), ndtr(-a_hi)
    from_cdf = log_cdf_hi + log1mexp((log_cdf_lo - log_cdf_hi).clamp(max=-1e-12))
    from_sf = log_sf_lo + log1mexp((log_sf_hi - log_sf_lo).clamp(max=-1e-12))
    middle = torch.where(c < mean, from_cdf, from_sf)
    return torch.where(j == 0, log_cdf_hi, torch.where(j == k - 1, log_sf_lo, middle))


# ---- networks ----------------------------------------------------------------------------
def mlp(d_in: int, hidden: int, d_out: int, *, depth: int = 2) -> nn.Sequential:
    """``depth`` hidden ReLU layers of width ``hidden`` (``depth=0``: one linear map).

    The layer indices of the default ``depth=2`` (0, 2, 4) are those weights were always
    saved under, so runs written before ``depth`` existed still load."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else hidden, hidden), nn.ReLU()]
    layers.append(nn.Linear(hidden if depth else d_in, d_out))
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """``x`` (data space) and an optional condition ``c`` -> ``d_out`` features.

    The input is read in [-1, 1] (``input_range="symmetric"``) or in [0, 1] (``"unit"``:
    binary pixels as 0/1, as most VAE code feeds them; on binarized MNIST this alone is
    worth about 2 nats of test ELBO after 5 epochs of the pytorch/examples VAE).
    ``mlp``: the flattened input (and ``c``) through :func:`mlp` with ``depth`` hidden
    layers. ``conv``: two stride-2
    convolutions ``(C, H, W) -> (2ch, H/4, W/4)``, flattened, ``c`` appended, then a
    linear head.
    """

    def __init__(self, spec: DataSpec, arch: str, *, hidden: int, channels: int, d_out: int,
                 cond_dim: int = 0, depth: int = 2, input_range: str = "symmetric") -> None:
        super().__init__()
        self.spec = spec
        self.unit_input = input_range == "unit"
        if arch == "conv":
            c, h, w = spec.shape
            ch = channels
            self.trunk: nn.Module = nn.Sequential(
                nn.Conv2d(c, ch, 4, 2, 1), nn.ReLU(), nn.Conv2d(ch, 2 * ch, 4, 2, 1), nn.ReLU(),
                nn.Flatten())
            self.head: nn.Module = nn.Linear(2 * ch * (h // 4) * (w // 4) + cond_dim, d_out)
        else:
            self.trunk = nn.Flatten()
            self.head = mlp(spec.dim + cond_dim, hidden, d_out, depth=depth)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        u = to_unit(x, self.spec)
        if self.unit_input:
            u = (u + 1.0) * 0.5  # [-1, 1] -> [0, 1]
        h = self.trunk(u)  # (B, F)
        if c is not None:
            h = torch.cat([h, c.to(h.dtype)], -1)  # (B, F + cond_dim)
        return self.head(h)


class Decoder(nn.Module):
    """``p(x|z)``: a network from ``z`` (and an optional condition ``c``) to the parameters
    of a per-dimension distribution of kind ``bernoulli`` / ``categorical`` / ``dlogistic``
    / ``dgaussian`` / ``gaussian`` (see the module docstring). The ``gaussian`` scale is a
    learned per-dimension parameter, or fixed at 1 (in [-1, 1] units) with ``learn_scale=False``.
    ``depth``: hidden layers of the ``mlp`` network."""

    def __init__(self, spec: DataSpec, arch: str, kind: str, *, latent_dim: int, hidden: int,
                 channels: int, cond_dim: int = 0, learn_scale: bool = True, depth: int = 2) -> None:
        super().__init__()
        self.spec, self.arch, self.kind = spec, arch, kind
        self.levels = num_levels(spec)
        # Network outputs per data dimension.
        self.params_per_dim = {"bernoulli": 1, "categorical": self.levels or 0, "dlogistic": 2,
                               "dgaussian": 2, "gaussian": 1}[kind]
        d_in, p = latent_dim + cond_dim, self.params_per_dim
        if arch == "conv":
            # Mirror of the conv encoder: linear to (2ch, H/4, W/4), two stride-2
            # transposed convolutions up to (C * P, H, W).
            c, h, w = spec.shape
            ch = channels
            self.net = nn.Sequential(
                nn.Linear(d_in, 2 * ch * (h // 4) * (w // 4)), nn.ReLU(),
                nn.Unflatten(1, (2 * ch, h // 4, w // 4)),
                nn.ConvTranspose2d(2 * ch, ch, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(ch, c * p, 4, 2, 1))
        else:
            self.net = mlp(d_in, hidden, spec.dim * p, depth=depth)
        if kind == "gaussian" and learn_scale:
            # A learned per-dimension scale, independent of z (in [-1, 1] units).
            self.log_scale = nn.Parameter(torch.full(spec.shape, -1.0))
        elif kind == "gaussian":
            # Fixed unit scale: log p(x|z) is then minus half the squared error (plus a
            # constant), the usual autoencoder loss, which cannot shrink a scale to zero.
            self.register_buffer("log_scale", torch.zeros(spec.shape), persistent=False)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Distribution parameters for each data dimension: (N, *shape, P)."""
        if c is not None:
            z = torch.cat([z, c.to(z.dtype)], -1)  # (N, L + cond_dim)
        out = self.net(z)
        n, p = z.shape[0], self.params_per_dim
        if self.arch == "conv":
            c_, h, w = self.spec.shape
            return out.view(n, c_, p, h, w).permute(0, 1, 3, 4, 2)  # (N, C, H, W, P)
        return out.view(n, *self.spec.shape, p)

    def level_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        """The per-dimension distribution over the K levels: (..., P) -> (..., K).

        Only for discrete data; each row sums (in probability) to one.
        """
        if self.kind == "bernoulli":
            logit = params[..., 0]
            return torch.stack([F.logsigmoid(-logit), F.logsigmoid(logit)], -1)
        if self.kind == "categorical":
            return F.log_softmax(params, -1)
        assert self.levels is not None
        family = "logistic" if self.kind == "dlogistic" else "gaussian"
        return discretized_log_probs(params[..., 0], params[..., 1].clamp(min=MIN_LOG_SCALE),
                                     self.levels, family=family)

    def _scale(self) -> torch.Tensor:
        return self.log_scale.clamp(min=MIN_LOG_SCALE)

    def log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over dimensions, in the data's own space: (N,)."""
        if self.kind == "gaussian":
            lo, hi = self.spec.value_range  # type: ignore[misc]
            u, log_s = to_unit(x, self.spec), self._scale()
            # Density of u = to_unit(x), plus the Jacobian of x -> u: log(2 / (hi - lo)).
            ll = -0.5 * ((u - params[..., 0]) * torch.exp(-log_s)).pow(2) - log_s - 0.5 * LOG_2PI
            return ll.flatten(1).sum(-1) + self.spec.dim * math.log(2.0 / (hi - lo))
        if self.kind == "bernoulli":
            # One fused kernel (forward and backward) instead of a (N, D, 2) table and a
            # gather: the same numbers, a third of the decoder's loss time on CPU.
            logit = params[..., 0]
            ll = -F.binary_cross_entropy_with_logits(logit, x.to(logit.dtype), reduction="none")
            return ll.flatten(1).sum(-1)
        if self.kind in ("dlogistic", "dgaussian"):
            assert self.levels is not None
            family = "logistic" if self.kind == "dlogistic" else "gaussian"
            ll = discretized_log_prob_at(params[..., 0], params[..., 1].clamp(min=MIN_LOG_SCALE), x,
                                         self.levels, family=family)
            return ll.flatten(1).sum(-1)
        table = self.level_log_probs(params)  # (N, *shape, K)
        return table.gather(-1, x.long().unsqueeze(-1)).squeeze(-1).flatten(1).sum(-1)

    def _to_range(self, u: torch.Tensor) -> torch.Tensor:
        lo, hi = self.spec.value_range  # type: ignore[misc]
        # The Gaussian has tails outside the range; clamp so values obey the spec.
        return (lo + (u + 1.0) * (hi - lo) / 2.0).clamp(lo, hi)

    def sample(self, params: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """x ~ p(x|z), in the data's space and dtype, randomness from ``generator``: (N, *shape)."""
        if self.kind == "gaussian":
            noise = rand.randn(*params.shape[:-1], generator=generator, device=params.device)
            return self._to_range(params[..., 0] + torch.exp(self._scale()) * noise)
        return rand.categorical(self.level_log_probs(params), generator=generator).to(self.spec.dtype)

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        """The most probable x per dimension (binary: probability above one half;
        categorical: the modal level; continuous: the Gaussian mean in range): (N, *shape)."""
        if self.kind == "gaussian":
            return self._to_range(params[..., 0])
        return self.level_log_probs(params).argmax(-1).to(self.spec.dtype)


# ---- completion --------------------------------------------------------------------------
def noise_fill(x: torch.Tensor, mask: torch.Tensor, spec: DataSpec, *,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Start of an iterative completion: ``x`` with its unobserved entries (mask False)
    replaced by uniform noise over the data's values, drawn with ``generator``.

    Returns ``(filled, observed)`` with ``observed`` a bool tensor on ``x``'s device.
    """
    if tuple(mask.shape) != tuple(x.shape):
        raise GenzooError(f"mask shape {tuple(mask.shape)} does not match x shape {tuple(x.shape)}")
    observed = mask.to(device=x.device, dtype=torch.bool)
    if spec.value_type == "continuous":
        lo, hi = spec.value_range  # type: ignore[misc]
        noise = lo + (hi - lo) * rand.rand(*x.shape, generator=generator, device=x.device)
    else:
        k = num_levels(spec)
        assert k is not None
        noise = torch.floor(k * rand.rand(*x.shape, generator=generator, device=x.device)).clamp(max=k - 1)
    return torch.where(observed, x.to(spec.dtype), noise.to(spec.dtype)), observed


@torch.no_grad()
def complete_by_reconstruction(encode, decode, x: torch.Tensor, mask: torch.Tensor, spec: DataSpec, *,
                               steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill the entries where ``mask`` is False: start them as uniform noise (drawn with
    ``generator``), then ``steps`` times replace them by the reconstruction
    ``decode(encode(x))``, observed entries clamped (autoencoders without a likelihood)."""
    if steps < 1:
        raise GenzooError(f"complete_steps must be >= 1, got {steps}")
    x_t, observed = noise_fill(x, mask, spec, generator=generator)
    for _ in range(steps):
        x_t = torch.where(observed, x_t, decode(encode(x_t)))
    return x_t


def deterministic_autoencoder(model: str, config, spec: DataSpec) -> tuple[str, str, Encoder, Decoder]:
    """``(arch, decoder kind, encoder, decoder)`` of an autoencoder whose code is f(x)
    (``ae``, ``aae``): the config's ``arch``, ``decoder``, ``latent_dim``, ``hidden`` and
    ``channels``; a fixed unit scale for a Gaussian decoder (a squared-error loss)."""
    arch = resolve_arch(model, config.arch, spec)
    kind = resolve_decoder(model, config.decoder, spec)
    encoder = Encoder(spec, arch, hidden=config.hidden, channels=config.channels, d_out=config.latent_dim)
    decoder = Decoder(spec, arch, kind, latent_dim=config.latent_dim, hidden=config.hidden,
                      channels=config.channels, learn_scale=False)
    return arch, kind, encoder, decoder

"""Variational autoencoder with an importance-weighted likelihood bound.

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014: a latent-variable model
``p(z) p(x|z)`` with ``p(z) = N(0, I)``, trained by maximizing the evidence lower bound

    ELBO(x) = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z))  <=  log p(x)

with a diagonal Gaussian encoder ``q(z|x)`` and the reparameterization
``z = mu + sigma * eps``. ``log_prob`` reports the tighter importance-weighted bound of
Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016:

    IWAE_k(x) = E[log (1/k) sum_i p(x, z_i) / q(z_i|x)],   z_i ~ q(z|x),

which equals the ELBO at k = 1 and rises towards log p(x) as k grows.

The decoder ``p(x|z)`` fits the data's value type: Bernoulli for binary data, a
softmax over the K levels of categorical data, or a discretized logistic / Gaussian over
the K *ordered* levels (Salimans et al., PixelCNN++, 2017; the edge bins take the tails),
and a Gaussian density for continuous data, so ``log_prob`` is always the log-probability
(or, for continuous data, log-density) of the data in its own space.
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
from genzoo.errors import IncompatibleDataError
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.registry import register
from genzoo.nn import rand
from genzoo.nn.values import level_centers, num_levels, to_unit

# Decoders each value type allows; the first is what "auto" picks.
DECODERS: dict[str, tuple[str, ...]] = {
    "binary": ("bernoulli", "categorical", "dlogistic", "dgaussian"),
    "categorical": ("categorical", "dlogistic", "dgaussian"),
    "continuous": ("gaussian",),
}
LOG_2PI = math.log(2 * math.pi)
MIN_LOG_SCALE = -9.0  # keeps decoder scales from collapsing onto single values
ELEMENT_BUDGET = 1 << 24  # decoder outputs per chunk in log_prob (about 64 MB of float32)


@dataclass
class Config:
    """VAE hyperparameters (defaults suit 8x8 digits).

    Args:
        arch: ``conv`` for images whose height and width divide by 4, ``mlp`` for
            anything; ``auto`` picks conv where it can.
        latent_dim: size of z.
        hidden: width of the MLP encoder / decoder.
        channels: base channel count of the conv encoder / decoder.
        decoder: p(x|z): ``bernoulli`` (binary), ``categorical`` (binary or categorical),
            ``dlogistic`` / ``dgaussian`` (discretized over ordered levels), ``gaussian``
            (continuous); ``auto`` picks the natural one for the data.
        k: importance samples ``log_prob`` uses by default (1 = the ELBO).
        beta: weight of the KL term in the training loss only (1 = the true ELBO).
    """

    arch: Literal["auto", "mlp", "conv"] = "auto"
    latent_dim: int = 16
    hidden: int = 256
    channels: int = 32
    decoder: Literal["auto", "bernoulli", "categorical", "dlogistic", "dgaussian", "gaussian"] = "auto"
    k: int = 1
    beta: float = 1.0

    def validate(self) -> None:
        choice(self.arch, ("auto", "mlp", "conv"), "arch")
        choice(self.decoder, ("auto", "bernoulli", "categorical", "dlogistic", "dgaussian", "gaussian"),
               "decoder")
        for key in ("latent_dim", "hidden", "channels", "k"):
            positive(getattr(self, key), key)
        positive(self.beta, "beta", allow_zero=True)


# ---- networks --------------------------------------------------------------------------
def mlp_encoder(d_in: int, hidden: int, d_out: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(d_in, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


def mlp_decoder(latent: int, hidden: int, d_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


def conv_encoder(c: int, h: int, w: int, ch: int, d_out: int) -> nn.Module:
    # Two stride-2 convolutions: (C, H, W) -> (2ch, H/4, W/4), then a linear head.
    return nn.Sequential(
        nn.Conv2d(c, ch, 4, 2, 1), nn.ReLU(),
        nn.Conv2d(ch, 2 * ch, 4, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(2 * ch * (h // 4) * (w // 4), d_out))


def conv_decoder(latent: int, c_out: int, h: int, w: int, ch: int) -> nn.Module:
    # Mirror of the encoder: linear to (2ch, H/4, W/4), two stride-2 transposed convs.
    return nn.Sequential(
        nn.Linear(latent, 2 * ch * (h // 4) * (w // 4)), nn.ReLU(),
        nn.Unflatten(1, (2 * ch, h // 4, w // 4)),
        nn.ConvTranspose2d(2 * ch, ch, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(ch, c_out, 4, 2, 1))


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


@register
class VAE(GenerativeModel):
    """Variational autoencoder; ``log_prob`` is the IWAE bound with ``k`` samples."""

    name = "vae"
    Config = Config
    likelihood = "bound"
    accepts = (("image", "*"), ("vector", "*"))
    capabilities = ("encode", "decode")
    family = "latent"

    def __init__(self, config: Config, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.arch = self._resolve_arch(config, spec)
        self.decoder_kind = self._resolve_decoder(config, spec)
        self.levels = num_levels(spec)
        # Decoder outputs per data dimension.
        self.params_per_dim = {"bernoulli": 1, "categorical": self.levels or 0, "dlogistic": 2,
                               "dgaussian": 2, "gaussian": 1}[self.decoder_kind]
        shape, dim, latent, p = spec.shape, spec.dim, config.latent_dim, self.params_per_dim
        if self.arch == "conv":
            c, h, w = shape
            self.encoder = conv_encoder(c, h, w, config.channels, 2 * latent)
            self.decoder = conv_decoder(latent, c * p, h, w, config.channels)
        else:
            self.encoder = mlp_encoder(dim, config.hidden, 2 * latent)
            self.decoder = mlp_decoder(latent, config.hidden, dim * p)
        if self.decoder_kind == "gaussian":
            # A learned per-dimension scale, independent of z (in [-1, 1] units).
            self.log_scale = nn.Parameter(torch.full(shape, -1.0))

    @staticmethod
    def _resolve_arch(config: Config, spec: DataSpec) -> str:
        conv_ok = spec.kind == "image" and len(spec.shape) == 3 and spec.shape[1] % 4 == 0 \
            and spec.shape[2] % 4 == 0
        if config.arch == "auto":
            return "conv" if conv_ok else "mlp"
        if config.arch == "conv" and not conv_ok:
            raise IncompatibleDataError(
                f"vae arch='conv' needs images whose height and width are divisible by 4; "
                f"{spec.name!r} is {spec.describe}; use arch='mlp' (or 'auto')")
        return config.arch

    @staticmethod
    def _resolve_decoder(config: Config, spec: DataSpec) -> str:
        allowed = DECODERS[spec.value_type]
        if config.decoder == "auto":
            return allowed[0]
        if config.decoder not in allowed:
            raise IncompatibleDataError(
                f"vae decoder={config.decoder!r} cannot model {spec.value_type} data "
                f"({spec.describe}); allowed: {', '.join(('auto',) + allowed)}")
        return config.decoder

    # ---- encoder q(z|x) and decoder p(x|z) --------------------------------------------
    def _q(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x), each (B, L)."""
        mu, logvar = self.encoder(to_unit(x, self.spec)).chunk(2, dim=-1)
        return mu, logvar

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps: a draw from q(z|x) that gradients flow through."""
        return mu + torch.exp(0.5 * logvar) * eps

    @staticmethod
    def kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(N(mu, sigma^2) || N(0, I)) in closed form, summed over latents: (B,)."""
        return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)

    def _decoder_params(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder outputs for each data dimension: (N, *shape, P)."""
        out = self.decoder(z)
        n, p = z.shape[0], self.params_per_dim
        if self.arch == "conv":
            c, h, w = self.spec.shape
            return out.view(n, c, p, h, w).permute(0, 1, 3, 4, 2)  # (N, C, H, W, P)
        return out.view(n, *self.spec.shape, p)

    def level_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        """The per-dimension decoder distribution over the K levels: (..., P) -> (..., K).

        Only for discrete data; each row sums (in probability) to one.
        """
        if self.decoder_kind == "bernoulli":
            logit = params[..., 0]
            return torch.stack([F.logsigmoid(-logit), F.logsigmoid(logit)], -1)
        if self.decoder_kind == "categorical":
            return F.log_softmax(params, -1)
        assert self.levels is not None
        family = "logistic" if self.decoder_kind == "dlogistic" else "gaussian"
        return discretized_log_probs(params[..., 0], params[..., 1].clamp(min=MIN_LOG_SCALE),
                                     self.levels, family=family)

    def _gaussian_scale(self) -> torch.Tensor:
        return self.log_scale.clamp(min=MIN_LOG_SCALE)

    def log_px_given_z(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over dimensions, in the data's own space: (N,)."""
        if self.decoder_kind == "gaussian":
            lo, hi = self.spec.value_range  # type: ignore[misc]
            u, log_s = to_unit(x, self.spec), self._gaussian_scale()
            # Density of u = to_unit(x), plus the Jacobian of x -> u: log(2 / (hi - lo)).
            ll = -0.5 * ((u - params[..., 0]) * torch.exp(-log_s)).pow(2) - log_s - 0.5 * LOG_2PI
            return ll.flatten(1).sum(-1) + self.spec.dim * math.log(2.0 / (hi - lo))
        table = self.level_log_probs(params)  # (N, *shape, K)
        ll = table.gather(-1, x.long().unsqueeze(-1)).squeeze(-1)
        return ll.flatten(1).sum(-1)

    # ---- training -------------------------------------------------------------------
    def elbo(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Single-sample ELBO with the analytic KL: (elbo, recon, kl), each (B,)."""
        mu, logvar = self._q(x)
        z = self.reparameterize(mu, logvar, torch.randn_like(mu))  # training noise: global RNG
        recon = self.log_px_given_z(x, self._decoder_params(z))
        kl = self.kl(mu, logvar)
        return recon - kl, recon, kl

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Negative (beta-weighted) ELBO, averaged over the batch; logs the terms in nats."""
        elbo, recon, kl = self.elbo(batch["x"])
        loss = (self.config.beta * kl - recon).mean()
        mean_elbo = elbo.mean()
        return {"loss": loss, "elbo": mean_elbo.detach(), "recon": recon.mean().detach(),
                "kl": kl.mean().detach(),
                "bits_per_dim": (-mean_elbo / (self.spec.dim * math.log(2))).detach()}

    # ---- likelihood -------------------------------------------------------------------
    def log_prob(self, x: torch.Tensor, *, k: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance-weighted lower bound on log p(x) with ``k`` samples, in nats: (B,).

        ``k = 1`` is the ELBO (computed with the analytic KL, which has less variance);
        ``k`` defaults to ``config.k``. ``generator`` seeds the draws from q(z|x).
        """
        k = self.config.k if k is None else int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        b, device = x.shape[0], x.device
        mu, logvar = self._q(x)  # (B, L)
        if k == 1:
            eps = rand.randn(*mu.shape, generator=generator, device=device)
            z = self.reparameterize(mu, logvar, eps)
            return self.log_px_given_z(x, self._decoder_params(z)) - self.kl(mu, logvar)
        # Draw all the noise first so results do not depend on how decoding is chunked.
        eps_all = rand.randn(k, *mu.shape, generator=generator, device=device)  # (k, B, L)
        per_z = self.spec.dim * max(self.params_per_dim, self.levels or 1)
        chunk = max(1, ELEMENT_BUDGET // max(1, b * per_z))
        log_w = []
        for eps in eps_all.split(chunk):  # (m, B, L)
            m = eps.shape[0]
            z = self.reparameterize(mu, logvar, eps)
            log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)  # (m, B)
            log_qz = (-0.5 * (eps.pow(2) + LOG_2PI) - 0.5 * logvar).sum(-1)  # (m, B)
            xs = x.unsqueeze(0).expand(m, *x.shape).reshape(m * b, *x.shape[1:])
            log_px = self.log_px_given_z(xs, self._decoder_params(z.reshape(m * b, -1))).view(m, b)
            log_w.append(log_px + log_pz - log_qz)
        return torch.logsumexp(torch.cat(log_w, 0), 0) - math.log(k)

    def likelihood_note(self, k: int | None = None, **kwargs: object) -> str:
        """``"bound: ELBO (k=1)"`` or ``"bound: IWAE (k=50)"``."""
        k = self.config.k if k is None else int(k)
        return "bound: ELBO (k=1)" if k == 1 else f"bound: IWAE (k={k})"

    # ---- sampling and capabilities ----------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), then x ~ p(x|z); all randomness from ``generator``. (n, *shape)."""
        self.sample_condition(n, condition)
        z = rand.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        params = self._decoder_params(z)
        if self.decoder_kind == "gaussian":
            lo, hi = self.spec.value_range  # type: ignore[misc]
            noise = rand.randn(*params.shape[:-1], generator=generator, device=self.device)
            u = params[..., 0] + torch.exp(self._gaussian_scale()) * noise
            # The Gaussian has tails outside the range; clamp so samples obey the spec.
            return (lo + (u + 1.0) * (hi - lo) / 2.0).clamp(lo, hi)
        x = rand.categorical(self.level_log_probs(params), generator=generator)
        return x.to(self.spec.dtype)

    def encode(self, x: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """The mean of q(z|x): (B, latent_dim)."""
        return self._q(x)[0]

    def decode(self, z: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """The most probable x under p(x|z) per dimension, in the data's space and dtype.

        Binary: 0/1 (probability above one half); categorical: the modal level (int64);
        continuous: the Gaussian mean clamped to the value range. (B, *shape)
        """
        params = self._decoder_params(z)
        if self.decoder_kind == "gaussian":
            lo, hi = self.spec.value_range  # type: ignore[misc]
            return (lo + (params[..., 0] + 1.0) * (hi - lo) / 2.0).clamp(lo, hi)
        return self.level_log_probs(params).argmax(-1).to(self.spec.dtype)

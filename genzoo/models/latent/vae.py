"""Variational autoencoder: ELBO, beta-VAE or IWAE training; importance-weighted bound.

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014: a latent-variable model
``p(z) p(x|z)`` with ``p(z) = N(0, I)``, trained by maximizing the evidence lower bound

    ELBO(x) = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z))  <=  log p(x)

with a diagonal Gaussian encoder ``q(z|x)`` and the reparameterization
``z = mu + sigma * eps``. Higgins et al., "beta-VAE", ICLR 2017, weight the KL term by
``beta``. Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016,
give the tighter bound

    IWAE_k(x) = E[log (1/k) sum_i p(x, z_i) / q(z_i|x)],   z_i ~ q(z|x),

which equals the ELBO at k = 1 and rises towards log p(x) as k grows; it can be the
training objective (``objective="iwae"``, ``train_k`` samples) and is what ``log_prob``
reports (``k`` samples). ``complete`` fills in missing pixels by the pseudo-Gibbs chain
of Rezende, Mohamed & Wierstra, "Stochastic Backpropagation and Approximate Inference in
Deep Generative Models", ICML 2014: alternate z ~ q(z|x) and x_missing ~ p(x|z).

Networks and the decoder distribution p(x|z) (Bernoulli, categorical, discretized
logistic / Gaussian, Gaussian: always in the data's own space) live in
:mod:`genzoo.models.latent.layers`, shared with ``cvae`` and ``ae``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.latent.layers import (
    DECODER_CHOICES,
    LOG_2PI,
    Decoder,
    Encoder,
    noise_fill,
    resolve_arch,
    resolve_decoder,
)
from genzoo.models.registry import register
from genzoo.nn import rand

ELEMENT_BUDGET = 1 << 24  # decoder outputs per chunk in log_prob (about 64 MB of float32)


@dataclass
class VAEConfig:
    """VAE hyperparameters (defaults suit 8x8 digits).

    Args:
        arch: ``conv`` for images whose height and width divide by 4, ``mlp`` for
            anything; ``auto`` picks conv where it can.
        latent_dim: size of z.
        hidden: width of the MLP encoder / decoder.
        depth: hidden layers of the MLP encoder and of the MLP decoder (each ``hidden``
            wide; Kingma & Welling and pytorch/examples use 1, genzoo's default is 2).
        channels: base channel count of the conv encoder / decoder.
        input_range: what the encoder reads: the data mapped to ``symmetric`` [-1, 1] (the
            default, as runs saved before this key) or to ``unit`` [0, 1] (binary pixels as
            0/1, as pytorch/examples' VAE; measured 106.9 against 108.8 nats of test ELBO
            after its 5 epochs on binarized MNIST).
        decoder: p(x|z): ``bernoulli`` (binary), ``categorical`` (binary or categorical),
            ``dlogistic`` / ``dgaussian`` (discretized over ordered levels), ``gaussian``
            (continuous); ``auto`` picks the natural one for the data.
        k: importance samples ``log_prob`` uses by default (1 = the ELBO).
        objective: training objective: ``elbo`` (optionally beta-weighted) or ``iwae``.
        train_k: samples of z per example in training: the IWAE's k, or for ``elbo``
            the number of reconstruction samples averaged.
        beta: weight of the KL term in the ``elbo`` training loss only (1 = the true
            ELBO); must be 1 with ``iwae``.
    """

    arch: Literal["auto", "mlp", "conv"] = "auto"
    latent_dim: int = 16
    hidden: int = 256
    depth: int = 2
    channels: int = 32
    input_range: Literal["symmetric", "unit"] = "symmetric"
    decoder: Literal["auto", "bernoulli", "categorical", "dlogistic", "dgaussian", "gaussian"] = "auto"
    k: int = 1
    objective: Literal["elbo", "iwae"] = "elbo"
    train_k: int = 1
    beta: float = 1.0

    def validate(self) -> None:
        choice(self.arch, ("auto", "mlp", "conv"), "arch")
        choice(self.input_range, ("symmetric", "unit"), "input_range")
        choice(self.decoder, DECODER_CHOICES, "decoder")
        choice(self.objective, ("elbo", "iwae"), "objective")
        for key in ("latent_dim", "hidden", "channels", "k", "train_k"):
            positive(getattr(self, key), key)
        positive(self.depth, "depth")
        positive(self.beta, "beta", allow_zero=True)
        if self.objective == "iwae" and self.beta != 1.0:
            raise GenzooError(f"bad value {self.beta!r} for beta: the iwae objective has no KL weight "
                              "(beta must be 1); use objective=elbo for a beta-VAE")


@register
class VAE(GenerativeModel):
    """Variational autoencoder; ``log_prob`` is the IWAE bound with ``k`` samples."""

    name = "vae"
    Config = VAEConfig
    likelihood = "bound"
    accepts = (("image", "*"), ("vector", "*"))
    capabilities = ("encode", "decode", "complete")
    family = "latent"

    def __init__(self, config: VAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.arch = resolve_arch(self.name, config.arch, spec)
        self.decoder_kind = resolve_decoder(self.name, config.decoder, spec)
        cond, latent = self.cond_dim(spec), config.latent_dim
        self.encoder = Encoder(spec, self.arch, hidden=config.hidden, channels=config.channels,
                               d_out=2 * latent, cond_dim=cond, depth=config.depth,
                               input_range=config.input_range)
        self.decoder = Decoder(spec, self.arch, self.decoder_kind, latent_dim=latent,
                               hidden=config.hidden, channels=config.channels, cond_dim=cond,
                               depth=config.depth)

    @classmethod
    def cond_dim(cls, spec: DataSpec) -> int:
        """Width of the condition fed to encoder and decoder (0: unconditional)."""
        return 0

    def condition_of(self, batch: Batch) -> torch.Tensor | None:
        """The condition ``c`` (B, cond_dim) a training batch carries (None here)."""
        return None

    # ---- encoder q(z|x) ----------------------------------------------------------------
    def _q(self, x: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x), each (B, L)."""
        mu, logvar = self.encoder(x, c).chunk(2, dim=-1)
        return mu, logvar

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps: a draw from q(z|x) that gradients flow through."""
        return mu + torch.exp(0.5 * logvar) * eps

    @staticmethod
    def kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(N(mu, sigma^2) || N(0, I)) in closed form, summed over latents: (B,)."""
        return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)

    def _log_weight_terms(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                          eps: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """For m draws ``z = mu + sigma * eps`` (eps: (m, B, L)): log p(x|z) and
        log p(z) - log q(z|x), each (m, B). Their sum is the importance log-weight."""
        m, b = eps.shape[:2]
        z = self.reparameterize(mu, logvar, eps)  # (m, B, L)
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)  # (m, B)
        log_qz = (-0.5 * (eps.pow(2) + LOG_2PI) - 0.5 * logvar).sum(-1)  # (m, B)
        xs = x.unsqueeze(0).expand(m, *x.shape).reshape(m * b, *x.shape[1:])
        cs = None if c is None else c.unsqueeze(0).expand(m, *c.shape).reshape(m * b, -1)
        log_px = self.decoder.log_prob(xs, self.decoder(z.reshape(m * b, -1), cs)).view(m, b)
        return log_px, log_pz - log_qz

    # ---- training -------------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Negative training bound averaged over the batch; logs the terms in nats.

        ``elbo``: ``beta * KL - recon`` with the analytic KL and ``train_k`` samples
        averaged in the reconstruction term. ``iwae``: minus IWAE_{train_k}, also logged
        as ``iwae``; ``bits_per_dim`` is always from the bound being trained.
        """
        x, c = batch["x"], self.condition_of(batch)
        mu, logvar = self._q(x, c)
        eps = torch.randn(self.config.train_k, *mu.shape, device=mu.device)  # training noise: global RNG
        log_px, log_ratio = self._log_weight_terms(x, mu, logvar, eps, c)  # (k, B) each
        recon, kl = log_px.mean(0), self.kl(mu, logvar)  # (B,)
        elbo = recon - kl
        out = {"elbo": elbo.mean().detach(), "recon": recon.mean().detach(), "kl": kl.mean().detach()}
        if self.config.objective == "iwae":
            iwae = torch.logsumexp(log_px + log_ratio, 0) - math.log(self.config.train_k)  # (B,)
            bound, loss = iwae.mean(), -iwae.mean()
            out["iwae"] = bound.detach()
        else:
            bound, loss = elbo.mean(), (self.config.beta * kl - recon).mean()
        out["loss"] = loss
        out["bits_per_dim"] = (-bound / (self.spec.dim * math.log(2))).detach()
        return out

    # ---- likelihood -------------------------------------------------------------------
    def iwae_bound(self, x: torch.Tensor, *, k: int, generator: torch.Generator | None = None,
                   c: torch.Tensor | None = None) -> torch.Tensor:
        """IWAE_k estimate of log p(x) (or log p(x|c)) in nats, one draw per example: (B,).

        ``k = 1`` is the ELBO with the analytic KL (less variance than the sampled one).
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        b, device = x.shape[0], x.device
        mu, logvar = self._q(x, c)  # (B, L)
        if k == 1:
            eps = rand.randn(1, *mu.shape, generator=generator, device=device)
            log_px, _ = self._log_weight_terms(x, mu, logvar, eps, c)
            return log_px[0] - self.kl(mu, logvar)
        # Draw all the noise first so results do not depend on how decoding is chunked.
        eps_all = rand.randn(k, *mu.shape, generator=generator, device=device)  # (k, B, L)
        d = self.decoder
        per_z = self.spec.dim * max(d.params_per_dim, d.levels or 1)
        chunk = max(1, ELEMENT_BUDGET // max(1, b * per_z))
        log_w = [sum(self._log_weight_terms(x, mu, logvar, eps, c)) for eps in eps_all.split(chunk)]
        return torch.logsumexp(torch.cat(log_w, 0), 0) - math.log(k)

    def log_prob(self, x: torch.Tensor, *, k: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance-weighted lower bound on log p(x) with ``k`` samples, in nats: (B,).

        ``k = 1`` is the ELBO; ``k`` defaults to ``config.k``. ``generator`` seeds the
        draws from q(z|x).
        """
        return self.iwae_bound(x, k=self.config.k if k is None else int(k), generator=generator)

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
        return self.decoder.sample(self.decoder(z), generator=generator)

    def encode(self, x: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """The mean of q(z|x): (B, latent_dim)."""
        return self._q(x)[0]

    def decode(self, z: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """The most probable x under p(x|z) per dimension, in the data's space and dtype.

        Binary: 0/1 (probability above one half); categorical: the modal level (int64);
        continuous: the Gaussian mean clamped to the value range. (B, *shape)
        """
        return self.decoder.mode(self.decoder(z))

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                 complete_steps: int = 50) -> torch.Tensor:
        """Fill the entries where ``mask`` is False by pseudo-Gibbs sampling (Rezende et al.).

        The missing entries start as uniform noise; each of ``complete_steps`` steps draws
        z ~ q(z|x) and then x_missing ~ p(x|z) (the last step takes the mode of p(x|z)
        for a clean result), with the observed entries clamped. All randomness comes from
        ``generator``. Returns (B, *shape) in the data's dtype, observed entries unchanged.
        """
        if complete_steps < 1:
            raise GenzooError(f"complete_steps must be >= 1, got {complete_steps}")
        x_t, observed = noise_fill(x.to(self.device), mask, self.spec, generator=generator)
        for t in range(complete_steps):
            mu, logvar = self._q(x_t)
            z = self.reparameterize(mu, logvar, rand.randn(*mu.shape, generator=generator, device=self.device))
            params = self.decoder(z)
            last = t == complete_steps - 1
            new = self.decoder.mode(params) if last else self.decoder.sample(params, generator=generator)
            x_t = torch.where(observed, x_t, new)
        return x_t


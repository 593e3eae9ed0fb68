"""Deterministic autoencoder that samples from a Gaussian mixture fit to its codes.

An autoencoder (Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural
Networks", Science 2006) maps x to a code ``z = f(x)`` and back, trained to minimize the
reconstruction loss ``-log p(x | z = f(x))`` under the decoder distribution (the ``vae``'s
Bernoulli / categorical / discretized families; mean squared error for continuous data).
It has no prior over codes, so to sample it uses *ex-post density estimation* as in
Ghosh, Sajjadi, Vergari, Black & Schölkopf, "From Variational to Deterministic
Autoencoders", ICLR 2020: fit a Gaussian mixture (10 full-covariance components there)
to the codes of the training data, draw ``z`` from it and decode.

The codes are collected while training: ``players()`` adds a gradient-free player whose
``update`` encodes each batch into a ring buffer of the last ``code_buffer`` codes and
refits the mixture (genzoo's own ``gmm``, full-batch EM) every ``refit_every`` steps,
and again on the first ``sample`` after new codes arrived. Buffer and mixture are model
buffers, so a saved model samples exactly as before. An autoencoder defines no
likelihood: ``log_prob`` raises.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.base import Batch, GenerativeModel, Player
from genzoo.models.latent.layers import DECODER_CHOICES, complete_by_reconstruction, deterministic_autoencoder
from genzoo.models.mixture.gmm import GMM, GMMConfig
from genzoo.models.registry import register
from genzoo.nn.values import to_unit


@dataclass
class AEConfig:
    """Autoencoder hyperparameters (defaults suit 8x8 digits).

    Args:
        arch: ``conv`` for images whose height and width divide by 4, ``mlp`` for
            anything; ``auto`` picks conv where it can.
        latent_dim: size of the code z.
        hidden: width of the MLP encoder / decoder.
        channels: base channel count of the conv encoder / decoder.
        decoder: reconstruction distribution, as for the ``vae`` (``gaussian`` here has a
            fixed unit scale, i.e. a squared-error loss); ``auto`` fits the data.
        code_components: Gaussian components of the mixture fit to the codes.
        code_covariance: ``full`` or ``diag`` covariances of that mixture.
        code_buffer: how many of the most recent training codes the mixture is fit to.
        refit_every: refit the mixture every this many training steps.
    """

    arch: Literal["auto", "mlp", "conv"] = "auto"
    latent_dim: int = 16
    hidden: int = 256
    channels: int = 32
    decoder: Literal["auto", "bernoulli", "categorical", "dlogistic", "dgaussian", "gaussian"] = "auto"
    code_components: int = 10
    code_covariance: Literal["full", "diag"] = "full"
    code_buffer: int = 5000
    refit_every: int = 500

    def validate(self) -> None:
        choice(self.arch, ("auto", "mlp", "conv"), "arch")
        choice(self.decoder, DECODER_CHOICES, "decoder")
        choice(self.code_covariance, ("full", "diag"), "code_covariance")
        for key in ("latent_dim", "hidden", "channels", "code_components", "code_buffer", "refit_every"):
            positive(getattr(self, key), key)


@register
class AE(GenerativeModel):
    """Deterministic autoencoder; samples decode draws from a GMM over its training codes."""

    name = "ae"
    Config = AEConfig
    likelihood = None
    accepts = (("image", "*"), ("vector", "*"))
    capabilities = ("encode", "decode", "complete")
    family = "latent"

    def __init__(self, config: AEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.arch, self.decoder_kind, self.encoder, self.decoder = deterministic_autoencoder(self.name, config, spec)
        latent = config.latent_dim
        # The code density: genzoo's GMM on latent vectors (its buffers are saved with ours).
        code_spec = DataSpec(f"{spec.name}-codes", "vector", (latent,), "continuous",
                             value_range=(-math.inf, math.inf))
        self.code_gmm = GMM(GMMConfig(components=config.code_components, covariance=config.code_covariance,
                                      reg_covar=1e-5), code_spec)
        # Ring buffer of the latest training codes; codes_seen counts every code written,
        # fitted_at is codes_seen when the mixture was last fit (-1: never).
        self.register_buffer("code_bank", torch.zeros(config.code_buffer, latent))
        self.register_buffer("codes_seen", torch.tensor(0, dtype=torch.long))
        self.register_buffer("fitted_at", torch.tensor(-1, dtype=torch.long))
        self.register_buffer("code_steps", torch.tensor(0, dtype=torch.long))

    # ---- training -------------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Mean reconstruction NLL ``-log p(x | f(x))`` in nats; also logs per-pixel MSE in
        [-1, 1] units."""
        x = batch["x"]
        params = self.decoder(self.encoder(x))  # (B, *shape, P)
        nll = -self.decoder.log_prob(x, params).mean()
        with torch.no_grad():
            mse = (to_unit(self.decoder.mode(params), self.spec) - to_unit(x, self.spec)).pow(2).mean()
        return {"loss": nll, "recon_nll": nll.detach(), "mse": mse}

    def players(self) -> list[Player]:
        """The autoencoder's gradient player, then the gradient-free code collector."""
        model = Player("model", [p for p in self.parameters() if p.requires_grad], self.loss)
        return [model, Player("codes", [], self.loss, update=self.collect_codes)]

    @torch.no_grad()
    def collect_codes(self, batch: Batch) -> dict[str, float]:
        """Write the batch's codes into the ring buffer; refit the mixture every
        ``refit_every`` calls. Returns logged floats."""
        z = self.encoder(batch["x"]).float()[-self.config.code_buffer:]  # (B, L)
        cap = self.config.code_buffer
        slots = (int(self.codes_seen) + torch.arange(z.shape[0], device=z.device)) % cap
        self.code_bank[slots] = z
        self.codes_seen += z.shape[0]
        self.code_steps += 1
        refit = int(self.code_steps) % self.config.refit_every == 0
        if refit:
            self.fit_codes()
        return {"codes": float(min(int(self.codes_seen), cap)), "refit": float(refit)}

    @torch.no_grad()
    def fit_codes(self) -> None:
        """Fit the code mixture to the buffered codes by full-batch EM, seeded so that the
        same buffer always gives the same mixture (the global RNG is left untouched)."""
        n = min(int(self.codes_seen), self.config.code_buffer)
        if n == 0:
            raise GenzooError("ae has no training codes yet: train it before sampling")
        codes = self.code_bank[:n].double()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # k-means++ seeding of the EM
            self.code_gmm.fit(codes, max_iter=100)
        self.fitted_at.fill_(int(self.codes_seen))

    def _ensure_fitted(self) -> None:
        # Refit when codes arrived since the last fit (e.g. training stopped between refits).
        if int(self.fitted_at) != int(self.codes_seen):
            self.fit_codes()

    # ---- sampling and capabilities ----------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """z from the code mixture (randomness from ``generator``), decoded to the most
        probable x: (n, *shape) in the data's dtype."""
        self.sample_condition(n, condition)
        self._ensure_fitted()
        z = self.code_gmm.sample(n, generator=generator).to(self.device, torch.float32)  # (n, L)
        return self.decode(z)

    def encode(self, x: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """The code f(x): (B, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """The most probable x under the decoder distribution, per dimension: (B, *shape)."""
        return self.decoder.mode(self.decoder(z))

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                 complete_steps: int = 50) -> torch.Tensor:
        """Fill the entries where ``mask`` is False: start them as uniform noise (drawn
        with ``generator``), then ``complete_steps`` times replace them by the
        reconstruction ``decode(encode(x))``, observed entries clamped."""
        return complete_by_reconstruction(self.encode, self.decode, x.to(self.device), mask, self.spec,
                                          steps=complete_steps, generator=generator)

"""Conditional variational autoencoder.

Sohn, Lee & Yan, "Learning Structured Output Representation using Deep Conditional
Generative Models", NeurIPS 2015: a VAE whose encoder ``q(z|x, y)`` and decoder
``p(x|z, y)`` both see the label ``y`` (one-hot), with the prior ``p(z) = N(0, I)``
independent of ``y``. Training maximizes the conditional bound

    ELBO(x|y) = E_{q(z|x,y)}[log p(x|z,y)] - KL(q(z|x,y) || p(z))  <=  log p(x|y)

(or its importance-weighted form, ``objective="iwae"``, as in the ``vae``). Sampling
picks the label, so the model draws digits of a requested class.

``log_prob(x, y=labels)`` is the IWAE_k bound on ``log p(x|y)``. Without labels it is a
bound on ``log p(x) = log sum_y p(y) p(x|y)`` with ``p(y)`` uniform over the classes:
each per-class estimate ``exp(IWAE_k(x|y))`` is unbiased for ``p(x|y)``, so their mean
over classes is unbiased for ``p(x)`` and its log is a lower bound in expectation.

Everything else (networks, decoder distributions, the IWAE estimator) is the ``vae``'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.latent.vae import VAE, VAEConfig
from genzoo.models.registry import register
from genzoo.nn import rand


@dataclass
class CVAEConfig(VAEConfig):
    """CVAE hyperparameters: the ``vae``'s (arch, latent_dim, hidden, depth, channels, input_range, decoder,
    k, objective, train_k, beta), with the same meanings; the label width comes from
    the data's ``num_classes``."""


@register
class CVAE(VAE):
    """Label-conditional VAE; ``sample(n, condition=labels)`` draws the requested classes."""

    name = "cvae"
    Config = CVAEConfig
    likelihood = "bound"
    accepts = (("image", "*"), ("vector", "*"))
    capabilities = ("conditional", "encode", "decode")
    family = "latent"

    def __init__(self, config: CVAEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.num_classes = int(spec.num_classes)  # type: ignore[arg-type]

    # ---- labelled data only ------------------------------------------------------------
    @classmethod
    def accepts_spec(cls, spec: DataSpec) -> bool:
        return super().accepts_spec(spec) and bool(spec.num_classes)

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        """Like the base check, but says so when the only thing missing is labels."""
        if super().accepts_spec(spec) and not spec.num_classes:
            raise IncompatibleDataError(
                f"model {cls.name!r} needs labelled data (it conditions on the class label); "
                f"{spec.name!r} ({spec.describe}) has no labels; it accepts: labelled image any, "
                "labelled vector any")
        super().check_spec(spec)

    @classmethod
    def cond_dim(cls, spec: DataSpec) -> int:
        return int(spec.num_classes or 0)

    def _one_hot(self, y: torch.Tensor) -> torch.Tensor:
        """Labels (B,) -> one-hot (B, num_classes) float, after a range check."""
        y = torch.as_tensor(y, device=self.device).long().reshape(-1)
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise GenzooError(f"cvae labels must be in [0, {self.num_classes}); got "
                              f"{int(y.min())}..{int(y.max())}")
        return F.one_hot(y, self.num_classes).float()

    def condition_of(self, batch: Batch) -> torch.Tensor:
        if "y" not in batch:
            raise GenzooError("cvae trains on labelled data, but the batch has no labels 'y'")
        return self._one_hot(batch["y"])

    # ---- likelihood -------------------------------------------------------------------
    def log_prob(self, x: torch.Tensor, *, y: torch.Tensor | None = None, k: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """IWAE_k lower bound in nats, (B,): on log p(x|y) given labels ``y`` (B,), else on
        log p(x) with a uniform p(y) (log-mean-exp over classes of the per-class bounds)."""
        k = self.config.k if k is None else int(k)
        if y is not None:
            return self.iwae_bound(x, k=k, generator=generator, c=self._one_hot(y))
        per_class = [self.iwae_bound(x, k=k, generator=generator,
                                     c=self._one_hot(torch.full((x.shape[0],), j, dtype=torch.long)))
                     for j in range(self.num_classes)]
        return torch.logsumexp(torch.stack(per_class), 0) - math.log(self.num_classes)  # (B,)

    def likelihood_note(self, k: int | None = None, *, y: object = None, **kwargs: object) -> str:
        """E.g. ``"bound: IWAE (k=50) on log p(x|y)"`` with labels, else on log p(x)."""
        k = self.config.k if k is None else int(k)
        kind = "ELBO (k=1)" if k == 1 else f"IWAE (k={k})"
        if y is not None:
            return f"bound: {kind} on log p(x|y)"
        return f"bound: {kind} on log p(x) = log mean_y p(x|y), y uniform over {self.num_classes} classes"

    # ---- sampling and capabilities ----------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """x ~ p(x|z, y) with z ~ N(0, I); labels ``condition`` (n,) int64, or drawn uniformly
        with ``generator`` when None. All randomness from ``generator``. (n, *shape)."""
        if condition is None:
            condition = torch.floor(self.num_classes * rand.rand(n, generator=generator)).long()
        elif tuple(condition.shape) != (n,):
            raise GenzooError(f"cvae condition must be {n} labels of shape ({n},), got {tuple(condition.shape)}")
        c = self._one_hot(condition)
        z = rand.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        return self.decoder.sample(self.decoder(z, c), generator=generator)

    @torch.no_grad()
    def infer_labels(self, x: torch.Tensor) -> torch.Tensor:
        """The label whose deterministic bound log p(x|mu, y) - KL(q(z|x,y) || p(z)) is
        largest, with mu the mean of q(z|x, y): (B,) int64 (no randomness)."""
        scores = []
        for j in range(self.num_classes):
            c = self._one_hot(torch.full((x.shape[0],), j, dtype=torch.long))
            mu, logvar = self._q(x, c)
            scores.append(self.decoder.log_prob(x, self.decoder(mu, c)) - self.kl(mu, logvar))
        return torch.stack(scores).argmax(0)

    def encode(self, x: torch.Tensor, *, condition: torch.Tensor | None = None, **kwargs: object) -> torch.Tensor:
        """The mean of q(z|x, y): (B, latent_dim). Without labels ``condition`` the model's
        own best guess is used (:meth:`infer_labels`)."""
        y = self.infer_labels(x) if condition is None else condition
        return self._q(x, self._one_hot(y))[0]

    def decode(self, z: torch.Tensor, *, condition: torch.Tensor | None = None, **kwargs: object) -> torch.Tensor:
        """The most probable x under p(x|z, y) per dimension, for labels ``condition`` (B,)."""
        if condition is None:
            raise GenzooError("cvae decodes a code together with a label: decode(z, condition=labels)")
        return self.decoder.mode(self.decoder(z, self._one_hot(condition)))

    # The vae's pseudo-Gibbs completion would need the label; not offered here.
    complete = GenerativeModel.complete

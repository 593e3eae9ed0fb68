"""Generative stochastic network: a denoising autoencoder trained with walkback, sampled
by its Markov chain.

Bengio, Yao, Alain & Vincent (2013), "Generalized Denoising Auto-Encoders as Generative
Models", NeurIPS; Bengio, Thibodeau-Laufer, Alain & Yosinski (2014), "Deep Generative
Stochastic Networks Trainable by Backprop", ICML.

A corruption process ``C(x~ | x)`` and a learned reconstruction distribution
``P_theta(x | x~)`` define the Markov chain

    x_t  ->  x~_t ~ C(x~ | x_t)  ->  x_{t+1} ~ P_theta(x | x~_t)

whose stationary distribution estimates the data distribution when ``P_theta`` is a
consistent estimator of the true ``P(x | x~)`` (Bengio et al. 2013, Theorem 1). This is
the GSN whose state is x itself (2014 paper, Sec. 3), with no separate latent state.

Training maximizes ``log P_theta(x | x~)`` over corrupted pairs. *Walkback* (2013 paper,
Alg. 2) also visits the spurious modes the chain would wander into: from the corrupted
example it samples ``x* ~ P_theta(x | x~)``, corrupts that again, and scores every one of
the ``walkback`` reconstructions against the clean x.

Per value type (x is the flattened example, D = spec.dim):

* binary: salt-and-pepper corruption (each value, with probability ``noise``, replaced by a
  fair coin); Bernoulli reconstruction.
* categorical(K): each value, with probability ``noise``, replaced by a uniform level;
  categorical reconstruction (one-hot network input).
* continuous: Gaussian corruption with std ``noise`` on the [-1, 1] scale of
  :func:`genzoo.nn.values.to_unit`; diagonal Gaussian reconstruction (mean and std per
  value), whose density is reported in the data's own units.

There is no tractable likelihood: ``log_prob`` raises :class:`CapabilityError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.config import positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.registry import register
from genzoo.nn import rand
from genzoo.nn.values import from_unit, num_levels, to_unit

LOG_2PI = math.log(2 * math.pi)
LOG_STD_RANGE = (-5.0, 1.0)  # keeps the Gaussian reconstruction from collapsing on a value


@dataclass
class GSNConfig:
    """GSN hyperparameters (defaults suit 8x8 digits).

    Args:
        hidden: widths of the reconstruction network's hidden layers.
        noise: corruption level: for binary / categorical data the probability that a
            value is replaced by a uniformly random one; for continuous data the std of
            the Gaussian noise on the [-1, 1] scale.
        walkback: reconstructions per example in training (1 = a plain denoising
            autoencoder); each starts from a corrupted sample of the previous one.
        sample_steps: chain steps ``sample`` runs from noise.
    """

    hidden: tuple[int, ...] = (256, 256)
    noise: float = 0.25
    walkback: int = 3
    sample_steps: int = 100

    def validate(self) -> None:
        if not self.hidden:
            raise GenzooError("bad value () for hidden: the GSN needs at least one hidden layer")
        for h in self.hidden:
            positive(h, "hidden")
        positive(self.noise, "noise")
        positive(self.walkback, "walkback")
        positive(self.sample_steps, "sample_steps")


@register
class GSN(GenerativeModel):
    """Walkback-trained denoising autoencoder sampled by its corrupt-reconstruct chain."""

    name = "gsn"
    Config = GSNConfig
    likelihood = None
    accepts = (("*", "binary"), ("*", "categorical"), ("*", "continuous"))
    capabilities = ("chain", "complete")
    family = "energy"

    def __init__(self, config: GSNConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.D = spec.dim
        self.vt = spec.value_type
        self.K = num_levels(spec)  # 2 (binary), K (categorical) or None (continuous)
        if self.vt != "continuous" and config.noise > 1:
            raise GenzooError(f"bad value {config.noise!r} for noise: a replacement probability must be <= 1")
        d_in = self.D * self.K if self.vt == "categorical" else self.D  # type: ignore[operator]
        d_out = {"binary": self.D, "categorical": d_in, "continuous": 2 * self.D}[self.vt]
        layers: list[nn.Module] = []
        for width in config.hidden:
            layers += [nn.Linear(d_in, width), nn.ReLU()]
            d_in = width
        layers.append(nn.Linear(d_in, d_out))
        self.net = nn.Sequential(*layers)

    # ---- corruption C(x~ | x) and reconstruction P(x | x~) ---------------------------
    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.D).to(self.device)

    def corrupt(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """x~ ~ C(x~ | x) for flat data (B, D) in the data's space (continuous x~ may leave
        the value range). ``generator=None`` draws from the global RNG (training)."""
        if self.vt == "continuous":
            lo, hi = self.spec.value_range  # type: ignore[misc]
            eps = rand.randn(*x.shape, generator=generator, device=x.device)
            return x + eps * (self.config.noise * (hi - lo) / 2)  # std `noise` on the [-1, 1] scale
        u = rand.rand(*x.shape, generator=generator, device=x.device)
        levels = torch.floor(rand.rand(*x.shape, generator=generator, device=x.device) * self.K).clamp(
            max=self.K - 1).to(x.dtype)  # type: ignore[operator]
        return torch.where(u < self.config.noise, levels, x)

    def forward(self, x_tilde: torch.Tensor) -> torch.Tensor:
        """Parameters of P(x | x~) for flat corrupted x~ (B, D): Bernoulli logits (B, D),
        categorical logits (B, D, K) or Gaussian mean and log-std on the [-1, 1] scale
        (B, D, 2)."""
        B = x_tilde.shape[0]
        if self.vt == "categorical":
            h = F.one_hot(x_tilde.long(), self.K).reshape(B, -1).float()  # type: ignore[arg-type]
        else:
            h = to_unit(x_tilde, self.spec)
        out = self.net(h)
        if self.vt == "categorical":
            return out.view(B, self.D, -1)
        if self.vt == "continuous":
            mean, log_std = out.view(B, 2, self.D).unbind(1)
            return torch.stack([mean, log_std.clamp(*LOG_STD_RANGE)], -1)
        return out

    def recon_nll(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log P(x | x~) in nats, summed over values, for flat clean x: (B,).

        Continuous: the Gaussian density of the data's own units (the [-1, 1] density
        minus D log of the half-range)."""
        if self.vt == "binary":
            return F.binary_cross_entropy_with_logits(params, x.float(), reduction="none").sum(-1)
        if self.vt == "categorical":
            return F.cross_entropy(params.transpose(1, 2), x.long(), reduction="none").sum(-1)
        mean, log_std = params.unbind(-1)
        z = (to_unit(x, self.spec) - mean) * torch.exp(-log_std)
        lo, hi = self.spec.value_range  # type: ignore[misc]
        return (0.5 * (z.pow(2) + LOG_2PI) + log_std).sum(-1) + self.D * math.log((hi - lo) / 2)

    def draw(self, params: torch.Tensor, *, generator: torch.Generator | None = None,
             mode: bool = False) -> torch.Tensor:
        """x ~ P(x | x~) (or its per-value mode / mean) in the data's space and dtype: (B, D)."""
        if self.vt == "binary":
            p = torch.sigmoid(params)
            return (p > 0.5).float() if mode else rand.bernoulli(p, generator=generator)
        if self.vt == "categorical":
            return params.argmax(-1) if mode else rand.categorical(params, generator=generator)
        mean, log_std = params.unbind(-1)
        if not mode:
            mean = mean + torch.exp(log_std) * rand.randn(*mean.shape, generator=generator, device=mean.device)
        return from_unit(mean, self.spec)

    # ---- training ---------------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Walkback loss: the mean over ``walkback`` reconstructions of -log P(x | x~_t),
        x~_1 ~ C(. | x), x*_t ~ P(. | x~_t), x~_{t+1} ~ C(. | x*_t); every term scores the
        clean x. Logs ``recon`` (the first, plain denoising term) in nats per example.
        Corruption and walkback samples use the global RNG."""
        x = self._flat(batch["x"])  # (B, D)
        x_star, terms = x, []
        for t in range(self.config.walkback):
            params = self(self.corrupt(x_star))
            terms.append(self.recon_nll(params, x))  # (B,)
            if t + 1 < self.config.walkback:
                with torch.no_grad():  # the walk is sampled, not differentiated
                    x_star = self.draw(params)
        nll = torch.stack(terms)  # (walkback, B)
        return {"loss": nll.mean(), "recon": terms[0].mean().detach(), "walkback_last": terms[-1].mean().detach()}

    # ---- sampling -------------------------------------------------------------------
    def _noise(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """Uniform noise over the data's values, flat (n, D): where every chain starts."""
        u = rand.rand(n, self.D, generator=generator, device=self.device)
        if self.vt == "continuous":
            lo, hi = self.spec.value_range  # type: ignore[misc]
            return lo + (hi - lo) * u
        return torch.floor(u * self.K).clamp(max=self.K - 1).to(self.spec.dtype)  # type: ignore[operator]

    def _step(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One chain transition x -> x~ ~ C(. | x) -> x' ~ P(. | x~)."""
        return self.draw(self(self.corrupt(x, generator=generator)), generator=generator)

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """The state of ``n`` chains after ``sample_steps`` transitions from uniform noise:
        (n, *shape) in the data's dtype. All randomness comes from ``generator``."""
        self.sample_condition(n, condition)
        x = self._noise(n, generator)
        for _ in range(self.config.sample_steps):
            x = self._step(x, generator)
        return x.reshape(n, *self.spec.shape)

    @torch.no_grad()
    def sample_chain(self, n: int, *, steps: int, generator: torch.Generator | None = None,
                     every: int = 1) -> torch.Tensor:
        """Frames of ``n`` chains from noise: the state at the start and after every
        ``every`` transitions, in the data's dtype: (1 + steps // every, n, *shape)."""
        if steps < 1 or every < 1:
            raise GenzooError(f"steps and every must be >= 1, got {steps} and {every}")
        x = self._noise(n, generator)
        frames = [x]
        for t in range(1, steps + 1):
            x = self._step(x, generator)
            if t % every == 0:
                frames.append(x)
        return torch.stack(frames).reshape(len(frames), n, *self.spec.shape)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                 complete_steps: int = 50) -> torch.Tensor:
        """Fill the entries where ``mask`` is False by running the chain with the observed
        entries clamped, from uniform noise; the last step takes the mode (continuous:
        the mean) of P(x | x~). Observed entries are returned unchanged. (B, *shape)."""
        if tuple(mask.shape) != tuple(x.shape):
            raise GenzooError(f"mask shape {tuple(mask.shape)} does not match x shape {tuple(x.shape)}")
        if complete_steps < 1:
            raise GenzooError(f"complete_steps must be >= 1, got {complete_steps}")
        B = x.shape[0]
        x_obs = self._flat(x).to(self.spec.dtype)
        observed = mask.reshape(B, self.D).to(self.device, torch.bool)
        x_t = torch.where(observed, x_obs, self._noise(B, generator))
        for t in range(complete_steps):
            params = self(self.corrupt(x_t, generator=generator))
            new = self.draw(params, generator=generator, mode=t == complete_steps - 1)
            x_t = torch.where(observed, x_obs, new)
        return x_t.reshape(B, *self.spec.shape)

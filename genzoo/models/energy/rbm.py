"""Bernoulli-Bernoulli restricted Boltzmann machine: CD-k / PCD training, AIS for log Z.

Smolensky (1986), "Information processing in dynamical systems: foundations of harmony
theory"; Hinton (2002), "Training products of experts by minimizing contrastive
divergence", Neural Computation 14(8); Tieleman (2008), "Training restricted Boltzmann
machines using approximations to the likelihood gradient", ICML (persistent CD);
Salakhutdinov & Murray (2008), "On the quantitative analysis of deep belief networks",
ICML (annealed importance sampling for the partition function); Hinton (2010), "A
practical guide to training restricted Boltzmann machines".

Binary visible units v (D = spec.dim, the flattened example) and binary hidden units h
(H = ``hidden``) with energy ``E(v, h) = -b.v - c.h - v.W.h``. Summing out h gives the
free energy ``F(v) = -b.v - sum_j softplus(c_j + v.W_:j)`` and

    log p(v) = -F(v) - log Z,    Z = sum_v exp(-F(v)).

Training: the log-likelihood gradient is ``-dF(v_data) + E_model[dF(v)]``; CD-k estimates
the model expectation with k Gibbs steps started at the data, PCD with ``chains`` fantasy
particles that persist across updates. ``loss`` is the surrogate
``mean F(v_data) - mean F(v_model)`` (v_model detached), whose gradient is exactly that
estimate, so the trainer's optimizer does the update.

Likelihood: when ``min(D, H) <= enumerate_max`` log Z is computed exactly by summing over
the smaller layer (``likelihood_kind == "exact"``). Otherwise it is estimated by AIS from
a base-rate model (W = 0, visible biases from the training-data mean, which the model
tracks in ``base_mean``) through ``ais_betas`` linearly spaced inverse temperatures with
``ais_chains`` runs. AIS is unbiased for Z, so log Z tends to come out low and log p(x)
high; ``likelihood_note`` reports the settings and the standard error. The estimate is
cached until the parameters change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.config import positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.energy.boltzmann import LogZCache, ais_log_z, all_states, base_rate_bias, track_mean
from genzoo.models.registry import register
from genzoo.nn import rand

ENUM_ELEMENTS = 1 << 22  # states x units per enumeration chunk (32 MB of float64)
MAX_ENUMERATE = 26  # never enumerate more than 2^26 states, whatever the config says


@dataclass
class RBMConfig:
    """RBM hyperparameters (tiny defaults; recipes raise ``hidden``).

    Args:
        hidden: number of hidden units H.
        cd_k: Gibbs steps per gradient estimate (CD-k or PCD-k).
        persistent: persistent contrastive divergence (Tieleman 2008): keep ``chains``
            fantasy particles between updates instead of restarting at the data.
        chains: number of PCD fantasy particles.
        weight_decay: L2 penalty ``weight_decay/2 * |W|^2`` on the weights only.
        init_scale: standard deviation of the initial weights (Hinton's guide: 0.01).
        sample_steps: Gibbs steps ``sample`` runs from random visible units.
        ais_chains: AIS runs used to estimate log Z.
        ais_betas: number of inverse temperatures in (0, 1] that AIS anneals through.
        enumerate_max: compute log Z exactly when min(D, hidden) is at most this.
    """

    hidden: int = 64
    cd_k: int = 1
    persistent: bool = False
    chains: int = 64
    weight_decay: float = 0.0
    init_scale: float = 0.01
    sample_steps: int = 1000
    ais_chains: int = 100
    ais_betas: int = 1000
    enumerate_max: int = 20

    def validate(self) -> None:
        for key in ("hidden", "cd_k", "chains", "sample_steps", "ais_chains", "ais_betas"):
            positive(getattr(self, key), key)
        positive(self.weight_decay, "weight_decay", allow_zero=True)
        positive(self.init_scale, "init_scale", allow_zero=True)
        positive(self.enumerate_max, "enumerate_max", allow_zero=True)
        if self.enumerate_max > MAX_ENUMERATE:
            raise GenzooError(f"bad value {self.enumerate_max!r} for enumerate_max: at most {MAX_ENUMERATE} "
                              f"(2^{MAX_ENUMERATE} states)")


@register
class RBM(GenerativeModel):
    """Binary RBM; ``log_prob`` is exact for small layers, else an AIS estimate."""

    name = "rbm"
    Config = RBMConfig
    likelihood = "estimate"  # exact when a layer is small enough: see likelihood_kind
    accepts = (("*", "binary"),)
    capabilities = ("chain", "complete", "encode")
    family = "energy"

    def __init__(self, config: RBMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        D, H = spec.dim, config.hidden
        self.D, self.H = D, H
        self.W = nn.Parameter(torch.randn(D, H) * config.init_scale)  # (D, H)
        self.b = nn.Parameter(torch.zeros(D))  # visible biases
        self.c = nn.Parameter(torch.zeros(H))  # hidden biases
        # Running mean of the training data: the AIS base-rate model's visible marginals.
        self.register_buffer("base_mean", torch.full((D,), 0.5))
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))
        if config.persistent:
            self.register_buffer("fantasy", torch.bernoulli(torch.full((config.chains, D), 0.5)))
        self._log_z_cache = LogZCache()  # not in the state dict

    # ---- energies and conditionals -----------------------------------------------------
    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.D).to(device=self.W.device, dtype=self.W.dtype)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -b.v - sum_j softplus(c_j + v.W_:j) for flat v (B, D): (B,)."""
        return -(v @ self.b) - F.softplus(v @ self.W + self.c).sum(-1)

    def hidden_prob(self, v: torch.Tensor) -> torch.Tensor:
        """p(h_j = 1 | v) = sigmoid(c + v W): (B, H)."""
        return torch.sigmoid(v @ self.W + self.c)

    def encode(self, x: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """The hidden units' means p(h = 1 | v) of images ``x``: (B, H), the RBM's features."""
        return self.hidden_prob(self._flat(x))

    def visible_prob(self, h: torch.Tensor) -> torch.Tensor:
        """p(v_i = 1 | h) = sigmoid(b + W h): (B, D)."""
        return torch.sigmoid(h @ self.W.t() + self.b)

    def gibbs_step(self, v: torch.Tensor, *, generator: torch.Generator | None = None,
                   global_rng: bool = False) -> torch.Tensor:
        """One block-Gibbs sweep v -> h -> v' (flat (B, D) 0/1 floats)."""
        draw = (lambda p: torch.bernoulli(p)) if global_rng else (lambda p: rand.bernoulli(p, generator=generator))
        h = draw(self.hidden_prob(v))
        return draw(self.visible_prob(h))

    # ---- training --------------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """CD-k / PCD-k surrogate ``mean F(v_data) - mean F(v_model)`` (+ weight decay).

        Its gradient is the contrastive-divergence estimate of the negative log-likelihood
        gradient; its value is not a likelihood. Also logs ``recon_error`` (mean squared
        error of a one-step reconstruction) and ``pseudo_ll`` (a one-bit stochastic
        pseudo-log-likelihood per example, in nats). Gibbs noise uses the global RNG.
        """
        v0 = self._flat(batch["x"])  # (B, D)
        with torch.no_grad():
            if self.training:  # running data mean for the AIS base rate
                track_mean(self.base_mean, self.seen, v0)
            vk = self.fantasy if self.config.persistent else v0
            for _ in range(self.config.cd_k):
                vk = self.gibbs_step(vk, global_rng=True)
            if self.config.persistent and self.training:
                self.fantasy.copy_(vk)
            recon = self.visible_prob(torch.bernoulli(self.hidden_prob(v0)))
            recon_error = (recon - v0).pow(2).mean()
            # Flip one random bit i: log p(v_i | v_-i) = log sigmoid(F(v_flip) - F(v)).
            i = torch.randint(0, self.D, (v0.shape[0],), device=v0.device)
            flipped = v0.clone()
            rows = torch.arange(v0.shape[0], device=v0.device)
            flipped[rows, i] = 1.0 - flipped[rows, i]
            pseudo_ll = self.D * F.logsigmoid(self.free_energy(flipped) - self.free_energy(v0)).mean()
        loss = self.free_energy(v0).mean() - self.free_energy(vk.detach()).mean()
        if self.config.weight_decay > 0:
            loss = loss + 0.5 * self.config.weight_decay * self.W.pow(2).sum()
        return {"loss": loss, "recon_error": recon_error, "pseudo_ll": pseudo_ll}

    # ---- partition function ---------------------------------------------------------
    @property
    def enumerable(self) -> bool:
        """Whether log Z is computed exactly (the smaller layer has <= enumerate_max units)."""
        return min(self.D, self.H) <= min(self.config.enumerate_max, MAX_ENUMERATE)

    @property
    def likelihood_kind(self) -> str:
        """``"exact"`` when log Z is enumerated, else ``"estimate"`` (AIS)."""
        return "exact" if self.enumerable else "estimate"

    @torch.no_grad()
    def exact_log_z(self) -> float:
        """log Z by summing over every state of the smaller layer, in float64.

        Over h: Z = sum_h exp(c.h) prod_i (1 + exp(b_i + W_i:.h)); over v likewise.
        """
        n = min(self.D, self.H)
        if n > MAX_ENUMERATE:
            raise GenzooError(f"cannot enumerate 2^{n} states; use estimate_log_z (AIS)")
        W, b, c = self.W.double(), self.b.double(), self.c.double()
        if self.H <= self.D:  # sum over hidden states
            W, own, other = W.t(), c, b  # (H, D): h @ W gives the visible pre-activations
        else:
            own, other = b, c
        chunk = max(1, ENUM_ELEMENTS // max(self.D, self.H))
        parts = []
        for lo in range(0, 1 << n, chunk):
            s = all_states(n, lo, min(lo + chunk, 1 << n), dtype=torch.float64, device=W.device)
            parts.append(torch.logsumexp(s @ own + F.softplus(s @ W + other).sum(-1), 0))
        return float(torch.logsumexp(torch.stack(parts), 0))

    @torch.no_grad()
    def estimate_log_z(self, *, chains: int | None = None, betas: int | None = None,
                       generator: torch.Generator | None = None) -> tuple[float, float]:
        """AIS estimate of log Z (Salakhutdinov & Murray 2008) and its standard error.

        Anneals ``p_k(v) ∝ exp((1-β_k) b_A.v + β_k b.v) prod_j (1 + exp(β_k (c_j + v.W_:j)))``
        from β = 0 (the base-rate model with biases b_A, whose log Z is known) to β = 1
        (this RBM) through ``betas`` linearly spaced β_k, with ``chains`` independent runs,
        each transition a Gibbs sweep that leaves p_k invariant. All randomness comes
        from ``generator`` (default: a fixed seed, so estimates repeat). Float64.

        Returns ``(log_z, std_err)``; std_err is the delta-method standard error of log Z.
        """
        M = chains or self.config.ais_chains
        K = betas or self.config.ais_betas
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        W, b, c = self.W.double(), self.b.double(), self.c.double()
        b_a = base_rate_bias(self.base_mean).to(W.device)  # (D,)
        beta = torch.linspace(0.0, 1.0, K + 1, dtype=torch.float64).tolist()

        State = tuple[torch.Tensor, torch.Tensor]  # v (M, D) and its hidden pre-activations (M, H)

        def log_ratio(state: State, bk: float, bp: float) -> torch.Tensor:  # log p*_k(v) - log p*_{k-1}(v)
            v, a = state
            return (bk - bp) * (v @ (b - b_a)) + (F.softplus(bk * a) - F.softplus(bp * a)).sum(-1)

        def move(state: State, bk: float) -> State:  # a Gibbs sweep that leaves p_k invariant
            h = rand.bernoulli(torch.sigmoid(bk * state[1]), generator=g)
            v = rand.bernoulli(torch.sigmoid((1 - bk) * b_a + bk * (b + h @ W.t())), generator=g)
            return v, v @ W + c

        v = rand.bernoulli(torch.sigmoid(b_a).expand(M, self.D), generator=g)  # exact draw from p_0
        log_z0 = float(F.softplus(b_a).sum()) + self.H * math.log(2.0)
        return ais_log_z((v, v @ W + c), runs=M, betas=beta, log_z0=log_z0, log_ratio=log_ratio, move=move)

    def log_z(self, *, ais_chains: int | None = None, ais_betas: int | None = None) -> tuple[float, float]:
        """log Z and its standard error (0 when exact), cached until the parameters change."""
        key = (0, 0) if self.enumerable else (ais_chains or self.config.ais_chains,
                                              ais_betas or self.config.ais_betas)
        return self._log_z_cache.get(key, (self.W, self.b, self.c, self.base_mean),
                                     lambda: (self.exact_log_z(), 0.0) if self.enumerable else
                                     self.estimate_log_z(chains=key[0], betas=key[1]))

    # ---- the contract ----------------------------------------------------------------
    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, *, ais_chains: int | None = None, ais_betas: int | None = None,
                 **kwargs: Any) -> torch.Tensor:
        """log p(x) = -F(x) - log Z in nats: (B,). Exact when enumerable, else AIS log Z
        (seed 0, ``ais_chains`` runs over ``ais_betas`` temperatures; config defaults)."""
        log_z, _ = self.log_z(ais_chains=ais_chains, ais_betas=ais_betas)
        return (-self.free_energy(self._flat(x)).double() - log_z).float()

    def likelihood_note(self, *, ais_chains: int | None = None, ais_betas: int | None = None,
                        **kwargs: Any) -> str:
        """What ``log_prob`` computes, e.g. ``"estimate: AIS log Z (100 chains, 1000
        temperatures), ±0.12 nats (std. err.)"`` (runs AIS if it is not cached yet)."""
        if self.enumerable:
            side = "hidden" if self.H <= self.D else "visible"
            return f"exact: log Z by enumerating all 2^{min(self.D, self.H)} {side} states"
        M = ais_chains or self.config.ais_chains
        K = ais_betas or self.config.ais_betas
        _, se = self.log_z(ais_chains=M, ais_betas=K)
        return f"estimate: AIS log Z ({M} chains, {K} temperatures), ±{se:.2f} nats (std. err.)"

    def _start(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        # random visible units at the data's base rate (0.5 before any training)
        return rand.bernoulli(self.base_mean.float().clamp(0, 1).expand(n, self.D).contiguous(), generator=generator)

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Run ``sample_steps`` Gibbs sweeps from random visible units; return the final
        binary visible state (n, *shape). All randomness from ``generator``."""
        self.sample_condition(n, condition)
        v = self._start(n, generator)
        for _ in range(self.config.sample_steps):
            v = self.gibbs_step(v, generator=generator)
        return v.reshape(n, *self.spec.shape).to(self.spec.dtype)

    @torch.no_grad()
    def sample_chain(self, n: int, *, steps: int, generator: torch.Generator | None = None,
                     every: int = 1) -> torch.Tensor:
        """Frames of ``n`` Gibbs chains: the binary visible state at the start and after
        every ``every`` sweeps, as 0/1 floats: (1 + steps // every, n, *shape)."""
        if steps < 1 or every < 1:
            raise GenzooError(f"steps and every must be >= 1, got {steps} and {every}")
        v = self._start(n, generator)
        frames = [v]
        for t in range(1, steps + 1):
            v = self.gibbs_step(v, generator=generator)
            if t % every == 0:
                frames.append(v)
        return torch.stack(frames).reshape(len(frames), n, *self.spec.shape).to(self.spec.dtype)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                 complete_steps: int = 200) -> torch.Tensor:
        """Fill the entries where ``mask`` is False by Gibbs sampling with the observed
        visible units clamped; the last sweep returns the most probable value of each
        missing unit given h. (B, *shape) 0/1 floats, observed entries unchanged."""
        if tuple(mask.shape) != tuple(x.shape):
            raise GenzooError(f"mask shape {tuple(mask.shape)} does not match x shape {tuple(x.shape)}")
        if complete_steps < 1:
            raise GenzooError(f"complete_steps must be >= 1, got {complete_steps}")
        B = x.shape[0]
        v_obs, observed = self._flat(x), mask.reshape(B, self.D).to(self.W.device, torch.bool)
        v = torch.where(observed, v_obs, self._start(B, generator))
        for t in range(complete_steps):
            h = rand.bernoulli(self.hidden_prob(v), generator=generator)
            p = self.visible_prob(h)
            new = (p > 0.5).to(p.dtype) if t == complete_steps - 1 else rand.bernoulli(p, generator=generator)
            v = torch.where(observed, v_obs, new)
        return v.reshape(B, *self.spec.shape).to(self.spec.dtype)

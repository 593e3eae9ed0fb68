"""Deep Boltzmann machine with two hidden layers: layer-wise pre-training, mean-field +
persistent-chain learning, block Gibbs sampling, AIS for log Z.

Salakhutdinov & Hinton (2009), "Deep Boltzmann Machines", AISTATS; Salakhutdinov &
Murray (2008), "On the quantitative analysis of deep belief networks", ICML (AIS);
Tieleman (2008) (persistent chains).

Binary visible units v (D = spec.dim), binary hidden layers h1 (H1) and h2 (H2), energy

    E(v, h1, h2) = -b.v - c1.h1 - c2.h2 - v.W1.h1 - h1.W2.h2,

so each layer depends on its neighbours only: given h1, v and h2 are independent
(``p(v|h1)``, ``p(h2|h1)``), and ``p(h1|v, h2) = sigmoid(c1 + v W1 + W2 h2)``. Block Gibbs
alternates the odd layer h1 and the even layers (v, h2).

Training, one phase after the other, chosen by the step counter (a buffer, so a resumed
run continues where it stopped):

1. ``pretrain_steps`` of layer-wise RBM training with CD-1, the paper's modified RBMs: the
   bottom RBM (v, h1) counts v twice going up (``p(h1|v) = sigmoid(c1 + 2 v W1)``), the
   top RBM (h1, h2) counts h2 twice going down (``p(h1|h2) = sigmoid(c1 + 2 W2 h2)``), so
   that composed they give h1 the input of both its neighbours once. The top RBM is fed
   samples of h1 from the bottom one *as it is at that step*: both RBMs are updated at
   every step (no gradient passes between them), not strictly one after the other.
2. Joint training: the data term from mean-field ``q(h1) q(h2)`` (``mf_steps`` fixed-point
   sweeps), the model term from ``chains`` persistent block-Gibbs chains. ``loss`` is the
   surrogate ``mean E(v, mu1, mu2) - mean E(model state)`` (both detached), whose gradient
   is the DBM's stochastic-approximation gradient; its value is not a likelihood.

Likelihood: ``log p(v) >= b.v + c1.mu1 + c2.mu2 + v.W1.mu1 + mu1.W2.mu2 + H(mu1) + H(mu2)
- log Z`` with the mean-field ``mu`` of v. log Z is exact when a parity group (h1, or v
and h2 together) has at most ``enumerate_max`` units (the other group is summed out in
closed form): ``log_prob`` is then a lower bound (``likelihood_kind == "bound"``).
Otherwise AIS estimates log Z over h1 alone (v and h2 summed out) from the base-rate
model (weights 0, visible biases from the data mean) through ``ais_betas`` temperatures
with ``ais_chains`` runs, and the result is an ``"estimate"``.
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

ENUM_ELEMENTS = 1 << 22  # states x units per enumeration chunk
MAX_ENUMERATE = 26


@dataclass
class DBMConfig:
    """DBM hyperparameters (tiny defaults; recipes raise the layers and the steps).

    Args:
        hidden1: units in the first hidden layer H1.
        hidden2: units in the second hidden layer H2.
        pretrain_steps: training steps of layer-wise RBM pre-training before joint training.
        chains: persistent block-Gibbs chains for the model term of joint training.
        gibbs_steps: block-Gibbs sweeps of the chains per update.
        mf_steps: mean-field fixed-point sweeps (training and ``log_prob``).
        weight_decay: L2 penalty ``weight_decay/2 * (|W1|^2 + |W2|^2)``.
        init_scale: standard deviation of the initial weights.
        sample_steps: block-Gibbs sweeps ``sample`` runs from random units.
        ais_chains: AIS runs used to estimate log Z.
        ais_betas: number of inverse temperatures in (0, 1] that AIS anneals through.
        enumerate_max: compute log Z exactly when min(H1, D + H2) is at most this.
    """

    hidden1: int = 32
    hidden2: int = 16
    pretrain_steps: int = 100
    chains: int = 64
    gibbs_steps: int = 1
    mf_steps: int = 10
    weight_decay: float = 0.0
    init_scale: float = 0.01
    sample_steps: int = 1000
    ais_chains: int = 100
    ais_betas: int = 1000
    enumerate_max: int = 20

    def validate(self) -> None:
        for key in ("hidden1", "hidden2", "chains", "gibbs_steps", "mf_steps", "sample_steps", "ais_chains",
                    "ais_betas"):
            positive(getattr(self, key), key)
        for key in ("pretrain_steps", "weight_decay", "init_scale", "enumerate_max"):
            positive(getattr(self, key), key, allow_zero=True)
        if self.enumerate_max > MAX_ENUMERATE:
            raise GenzooError(f"bad value {self.enumerate_max!r} for enumerate_max: at most {MAX_ENUMERATE} "
                              f"(2^{MAX_ENUMERATE} states)")


def _entropy(mu: torch.Tensor) -> torch.Tensor:
    """Entropy of independent Bernoullis with means mu (B, N), summed: (B,)."""
    return -(torch.special.xlogy(mu, mu) + torch.special.xlogy(1 - mu, 1 - mu)).sum(-1)


@register
class DBM(GenerativeModel):
    """Two-hidden-layer binary DBM; ``log_prob`` is the mean-field bound minus log Z
    (exact log Z for small layers, else AIS)."""

    name = "dbm"
    Config = DBMConfig
    likelihood = "estimate"  # a bound when log Z is enumerable: see likelihood_kind
    accepts = (("*", "binary"),)
    capabilities = ("chain",)
    family = "energy"

    def __init__(self, config: DBMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        D, H1, H2 = spec.dim, config.hidden1, config.hidden2
        self.D, self.H1, self.H2 = D, H1, H2
        self.W1 = nn.Parameter(torch.randn(D, H1) * config.init_scale)  # (D, H1)
        self.W2 = nn.Parameter(torch.randn(H1, H2) * config.init_scale)  # (H1, H2)
        self.b = nn.Parameter(torch.zeros(D))
        self.c1 = nn.Parameter(torch.zeros(H1))
        self.c2 = nn.Parameter(torch.zeros(H2))
        self.register_buffer("base_mean", torch.full((D,), 0.5))  # AIS base rate: the data mean
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))  # training steps taken
        # the chains' even layers (v, h2); h1 is drawn from them at every sweep
        self.register_buffer("chain_v", torch.bernoulli(torch.full((config.chains, D), 0.5)))
        self.register_buffer("chain_h2", torch.bernoulli(torch.full((config.chains, H2), 0.5)))
        self._log_z_cache = LogZCache()

    # ---- energy and conditionals ---------------------------------------------------------
    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.D).to(device=self.W1.device, dtype=self.W1.dtype)

    def energy(self, v: torch.Tensor, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """E(v, h1, h2) for states or means (B, D), (B, H1), (B, H2): (B,)."""
        return -(v @ self.b + h1 @ self.c1 + h2 @ self.c2 + ((v @ self.W1) * h1).sum(-1)
                 + ((h1 @ self.W2) * h2).sum(-1))

    def h1_prob(self, v: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """p(h1 = 1 | v, h2) = sigmoid(c1 + v W1 + W2 h2): (B, H1)."""
        return torch.sigmoid(v @ self.W1 + h2 @ self.W2.t() + self.c1)

    def v_prob(self, h1: torch.Tensor) -> torch.Tensor:
        """p(v = 1 | h1) = sigmoid(b + W1 h1): (B, D)."""
        return torch.sigmoid(h1 @ self.W1.t() + self.b)

    def h2_prob(self, h1: torch.Tensor) -> torch.Tensor:
        """p(h2 = 1 | h1) = sigmoid(c2 + h1 W2): (B, H2)."""
        return torch.sigmoid(h1 @ self.W2 + self.c2)

    def gibbs_sweep(self, v: torch.Tensor, h2: torch.Tensor, *,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One block-Gibbs sweep (v, h2) -> h1 -> (v', h2'); returns (v', h1, h2')."""
        h1 = rand.bernoulli(self.h1_prob(v, h2), generator=generator)
        return rand.bernoulli(self.v_prob(h1), generator=generator), h1, rand.bernoulli(self.h2_prob(h1),
                                                                                       generator=generator)

    def mean_field(self, v: torch.Tensor, steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean-field posterior means (mu1 (B, H1), mu2 (B, H2)) of flat v (B, D).

        Started from the pre-training's bottom-up pass (v counted twice, as h2's input is
        not known yet), then ``steps`` sweeps of the fixed-point equations
        ``mu1 = sigmoid(c1 + v W1 + W2 mu2)``, ``mu2 = sigmoid(c2 + mu1 W2)``.
        """
        mu1 = torch.sigmoid(2 * (v @ self.W1) + self.c1)
        mu2 = self.h2_prob(mu1)
        for _ in range(steps or self.config.mf_steps):
            mu1 = self.h1_prob(v, mu2)
            mu2 = self.h2_prob(mu1)
        return mu1, mu2

    def bound_unnormalized(self, v: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """The variational bound ``-E_q[E(v, h)] + H(q) <= log sum_h exp(-E(v, h))`` with
        the mean-field q of flat v (B, D): (B,)."""
        mu1, mu2 = self.mean_field(v, steps)
        return -self.energy(v, mu1, mu2) + _entropy(mu1) + _entropy(mu2)

    # ---- training ----------------------------------------------------------------------
    @property
    def pretraining(self) -> bool:
        """Whether the next training step is a layer-wise pre-training step."""
        return int(self.step) < self.config.pretrain_steps

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The phase's surrogate loss (see the module docstring); Gibbs noise from the global
        RNG. Logs ``pretraining`` (1 or 0) and ``recon_error`` (one-step reconstruction)."""
        v0 = self._flat(batch["x"])  # (B, D)
        pre = self.pretraining
        if self.training:
            with torch.no_grad():
                track_mean(self.base_mean, self.seen, v0)
                if int(self.step) == self.config.pretrain_steps:
                    self._restart_chains()
                self.step.add_(1)
        loss = self._pretrain_loss(v0) if pre else self._joint_loss(v0)
        if self.config.weight_decay > 0:
            loss = loss + 0.5 * self.config.weight_decay * (self.W1.pow(2).sum() + self.W2.pow(2).sum())
        with torch.no_grad():
            mu1, _ = self.mean_field(v0, 1)
            recon_error = (self.v_prob(mu1) - v0).pow(2).mean()
        return {"loss": loss, "pretraining": torch.tensor(float(pre)), "recon_error": recon_error}

    def _pretrain_loss(self, v0: torch.Tensor) -> torch.Tensor:
        """CD-1 for both modified RBMs; gradient ``-(<.>_data - <.>_reconstruction)``."""
        with torch.no_grad():
            # bottom RBM (v, h1), v counted twice going up
            p0 = torch.sigmoid(2 * (v0 @ self.W1) + self.c1)  # (B, H1)
            x1 = torch.bernoulli(p0)  # h1 data of the top RBM too
            v1 = torch.bernoulli(self.v_prob(x1))
            p1 = torch.sigmoid(2 * (v1 @ self.W1) + self.c1)
            # top RBM (h1, h2), h2 counted twice going down; c1 is the bottom RBM's
            q0 = self.h2_prob(x1)  # (B, H2)
            x1r = torch.bernoulli(torch.sigmoid(2 * (torch.bernoulli(q0) @ self.W2.t()) + self.c1))
            q1 = self.h2_prob(x1r)

        def bottom(v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
            return -(v @ self.b + h @ self.c1 + ((v @ self.W1) * h).sum(-1)).mean()

        def top(h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
            return -(h2 @ self.c2 + ((h1 @ self.W2) * h2).sum(-1)).mean()

        return bottom(v0, p0) - bottom(v1, p1) + top(x1, q0) - top(x1r, q1)

    def _joint_loss(self, v0: torch.Tensor) -> torch.Tensor:
        """Mean-field data term minus the persistent chains' model term."""
        with torch.no_grad():
            mu1, mu2 = self.mean_field(v0)
            v, h2 = self.chain_v, self.chain_h2
            for _ in range(self.config.gibbs_steps):
                v, _, h2 = self.gibbs_sweep(v, h2, generator=None)
            if self.training:
                self.chain_v.copy_(v)
                self.chain_h2.copy_(h2)
            h1 = self.h1_prob(v, h2)  # E[h1 | v, h2]: exact given the chain's even layers
        return self.energy(v0, mu1, mu2).mean() - self.energy(v, h1, h2).mean()

    @torch.no_grad()
    def _restart_chains(self) -> None:
        """Start the persistent chains from the pre-trained stack: v at the data's base
        rate, h2 from a bottom-up pass."""
        n = self.chain_v.shape[0]
        v = torch.bernoulli(self.base_mean.clamp(0, 1).expand(n, self.D))
        h1 = torch.bernoulli(torch.sigmoid(2 * (v @ self.W1) + self.c1))
        self.chain_v.copy_(v)
        self.chain_h2.copy_(torch.bernoulli(self.h2_prob(h1)))

    # ---- partition function --------------------------------------------------------------
    @property
    def enumerable(self) -> bool:
        return min(self.H1, self.D + self.H2) <= min(self.config.enumerate_max, MAX_ENUMERATE)

    @property
    def likelihood_kind(self) -> str:
        """``"bound"`` (mean-field bound, exact log Z) when log Z is enumerable, else
        ``"estimate"`` (AIS log Z)."""
        return "bound" if self.enumerable else "estimate"

    @torch.no_grad()
    def exact_log_z(self) -> float:
        """log Z by enumerating the smaller parity group (h1, or v and h2), the other summed
        out in closed form; float64."""
        W1, W2, b, c1, c2 = (t.double() for t in (self.W1, self.W2, self.b, self.c1, self.c2))
        odd = self.H1 <= self.D + self.H2
        n = self.H1 if odd else self.D + self.H2
        if n > MAX_ENUMERATE:
            raise GenzooError(f"cannot enumerate 2^{n} states; use estimate_log_z (AIS)")
        chunk = max(1, ENUM_ELEMENTS // (self.D + self.H1 + self.H2))
        parts = []
        for lo in range(0, 1 << n, chunk):
            s = all_states(n, lo, min(lo + chunk, 1 << n), dtype=torch.float64, device=W1.device)
            if odd:  # s = h1: v and h2 independent given it
                f = s @ c1 + F.softplus(s @ W1.t() + b).sum(-1) + F.softplus(s @ W2 + c2).sum(-1)
            else:  # s = (v, h2): h1 independent given them
                v, h2 = s[:, :self.D], s[:, self.D:]
                f = v @ b + h2 @ c2 + F.softplus(v @ W1 + h2 @ W2.t() + c1).sum(-1)
            parts.append(torch.logsumexp(f, 0))
        return float(torch.logsumexp(torch.stack(parts), 0))

    @torch.no_grad()
    def estimate_log_z(self, *, chains: int | None = None, betas: int | None = None,
                       generator: torch.Generator | None = None) -> tuple[float, float]:
        """AIS estimate of log Z over h1 and its standard error (float64).

        ``f_beta(h1) = sum_{v,h2} exp((1-beta) b_A.v - beta E(v, h1, h2))``
        ``= exp(beta c1.h1) prod_i (1 + exp(beta (b + W1 h1)_i + (1-beta) b_A_i))
        prod_k (1 + exp(beta (c2 + h1 W2)_k))``; at beta = 0 h1 is uniform. Transitions
        are block-Gibbs sweeps of the tempered joint. Default generator: seed 0.
        """
        M = chains or self.config.ais_chains
        K = betas or self.config.ais_betas
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        W1, W2, b, c1, c2 = (t.double() for t in (self.W1, self.W2, self.b, self.c1, self.c2))
        b_a = base_rate_bias(self.base_mean).to(W1.device)

        State = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # h1 (M, H1), b + W1 h1 (M, D), c2 + h1 W2 (M, H2)

        def with_inputs(h1: torch.Tensor) -> State:
            return h1, h1 @ W1.t() + b, h1 @ W2 + c2

        def log_ratio(state: State, bk: float, bp: float) -> torch.Tensor:  # log f_k(h1) - log f_{k-1}(h1)
            h1, a_v, a_2 = state
            return ((bk - bp) * (h1 @ c1) + (F.softplus(bk * a_v + (1 - bk) * b_a)
                                             - F.softplus(bp * a_v + (1 - bp) * b_a)).sum(-1)
                    + (F.softplus(bk * a_2) - F.softplus(bp * a_2)).sum(-1))

        def move(state: State, beta: float) -> State:  # block Gibbs: (v, h2) given h1, then h1
            _, a_v, a_2 = state
            v = rand.bernoulli(torch.sigmoid(beta * a_v + (1 - beta) * b_a), generator=g)
            h2 = rand.bernoulli(torch.sigmoid(beta * a_2), generator=g)
            return with_inputs(rand.bernoulli(torch.sigmoid(beta * (v @ W1 + h2 @ W2.t() + c1)), generator=g))

        h1 = rand.bernoulli(torch.full((M, self.H1), 0.5, dtype=torch.float64, device=W1.device), generator=g)
        log_z0 = float(F.softplus(b_a).sum()) + (self.H1 + self.H2) * math.log(2.0)
        return ais_log_z(with_inputs(h1), runs=M, betas=torch.linspace(0.0, 1.0, K + 1, dtype=torch.float64).tolist(),
                         log_z0=log_z0, log_ratio=log_ratio, move=move)

    def log_z(self, *, ais_chains: int | None = None, ais_betas: int | None = None) -> tuple[float, float]:
        """log Z and its standard error (0 when exact), cached until the parameters change."""
        key = (0, 0) if self.enumerable else (ais_chains or self.config.ais_chains,
                                              ais_betas or self.config.ais_betas)
        return self._log_z_cache.get(key, (self.W1, self.W2, self.b, self.c1, self.c2, self.base_mean),
                                     lambda: (self.exact_log_z(), 0.0) if self.enumerable else
                                     self.estimate_log_z(chains=key[0], betas=key[1]))

    # ---- the contract --------------------------------------------------------------------
    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, *, ais_chains: int | None = None, ais_betas: int | None = None,
                 **kwargs: Any) -> torch.Tensor:
        """Mean-field lower bound on log p*(x) minus log Z, in nats: (B,)."""
        log_z, _ = self.log_z(ais_chains=ais_chains, ais_betas=ais_betas)
        return (self.bound_unnormalized(self._flat(x)).double() - log_z).float()

    def likelihood_note(self, *, ais_chains: int | None = None, ais_betas: int | None = None,
                        **kwargs: Any) -> str:
        """What ``log_prob`` computes (runs AIS if it is not cached yet)."""
        mf = f"mean-field lower bound ({self.config.mf_steps} sweeps)"
        if self.enumerable:
            return f"bound: {mf} with exact log Z"
        M = ais_chains or self.config.ais_chains
        K = ais_betas or self.config.ais_betas
        _, se = self.log_z(ais_chains=M, ais_betas=K)
        return f"estimate: {mf} with AIS log Z ({M} chains, {K} temperatures), ±{se:.2f} nats (std. err.)"

    def _start(self, n: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        v = rand.bernoulli(self.base_mean.float().clamp(0, 1).expand(n, self.D).contiguous(), generator=generator)
        h2 = rand.bernoulli(torch.full((n, self.H2), 0.5, device=v.device), generator=generator)
        return v, h2

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """``sample_steps`` block-Gibbs sweeps from random units; the final binary v (n, *shape)."""
        self.sample_condition(n, condition)
        return self.sample_chain(n, steps=self.config.sample_steps, every=self.config.sample_steps,
                                 generator=generator)[-1]

    @torch.no_grad()
    def sample_chain(self, n: int, *, steps: int, generator: torch.Generator | None = None,
                     every: int = 1) -> torch.Tensor:
        """Frames of ``n`` block-Gibbs chains: v at the start and after every ``every``
        sweeps, as 0/1 floats: (1 + steps // every, n, *shape)."""
        if steps < 1 or every < 1:
            raise GenzooError(f"steps and every must be >= 1, got {steps} and {every}")
        v, h2 = self._start(n, generator)
        frames = [v]
        for t in range(1, steps + 1):
            v, _, h2 = self.gibbs_sweep(v, h2, generator=generator)
            if t % every == 0:
                frames.append(v)
        return torch.stack(frames).reshape(len(frames), n, *self.spec.shape).to(self.spec.dtype)

"""Gaussian mixture model fit by expectation-maximisation (EM).

References: Dempster, Laird & Rubin (1977), "Maximum likelihood from incomplete data via
the EM algorithm", JRSS-B 39(1); minibatch ("stepwise") EM: Cappé & Moulines (2009),
"On-line expectation-maximization algorithm for latent data models", JRSS-B 71(3), and
Liang & Klein (2009), "Online EM for unsupervised models"; k-means++ seeding: Arthur &
Vassilvitskii (2007); uniform dequantization: Theis, van den Oord & Bethge (2016), "A note
on the evaluation of generative models".

    p(y) = sum_k pi_k N(y | mu_k, Sigma_k),  Sigma_k full or diagonal.

The model works on the flattened example (D = spec.dim) in a *working space*:

* continuous data: y = x, and ``log_prob`` is the exact log density.
* binary / categorical(K) data (binary: K=2): y = (x + u) / K with u ~ U[0,1)^D, a
  density on [0,1)^D. Since P(x) = int p((x+u)/K) K^-D du, Jensen gives the bound
  log P(x) >= E_u[log p((x+u)/K)] - D log K, which ``log_prob`` estimates with
  ``dequant_samples`` draws: a lower bound on a discrete log-probability (so <= 0).

Parameters are float64 buffers (``weights`` (C,), ``means`` (C, D), and ``scale_tril``
(C, D, D), the Cholesky factor of Sigma, or ``variances`` (C, D)): EM's moment
differences and 64+-dimensional log-determinants lose digits in float32, and keeping
float64 lets ``fit`` agree with scikit-learn's GaussianMixture to ~1e-7 nats.

Training without gradients: ``players()`` returns one Player whose ``update`` is
:meth:`em_step`, one stepwise EM iteration per batch. The sufficient statistics
(s0 = E[r_k], s1 = E[r_k (y-c)], s2 = E[r_k (y-c)(y-c)^T], about a shift c shared by all
processes) are all-reduced under torch.distributed, then blended with the statistics
implied by the current parameters with step size eta_t = (t+2)^-stepwise_power
(``stepwise_power=0`` gives plain EM on each batch). :meth:`fit` is full-batch EM with
scikit-learn's convergence rule, for direct use and tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.base import Batch, GenerativeModel, Player
from genzoo.models.registry import register
from genzoo.nn import rand

_EPS = torch.finfo(torch.float64).eps
_LOG_2PI = math.log(2 * math.pi)


@dataclass
class GMMConfig:
    """GMM hyperparameters.

    Args:
        components: number of mixture components C.
        covariance: ``full`` (C, D, D) or ``diag`` (C, D) covariances.
        reg_covar: added to covariance diagonals so they stay positive definite.
        init: first-batch initialisation: ``kmeans++`` seeding or ``random`` examples as
            centres, followed by ``kmeans_iters`` Lloyd iterations and a hard M-step.
        kmeans_iters: Lloyd iterations after seeding.
        dequant_samples: Monte-Carlo draws of u in the dequantization bound (discrete data).
        stepwise_power: minibatch EM step size eta_t = (t+2)^-power, in [0, 1];
            0 replaces the parameters by each batch's M-step.
    """

    components: int = 10
    covariance: Literal["full", "diag"] = "full"
    reg_covar: float = 1e-6
    init: Literal["kmeans++", "random"] = "kmeans++"
    kmeans_iters: int = 10
    dequant_samples: int = 4
    stepwise_power: float = 0.6

    def validate(self) -> None:
        positive(self.components, "components")
        choice(self.covariance, ("full", "diag"), "covariance")
        positive(self.reg_covar, "reg_covar", allow_zero=True)
        choice(self.init, ("kmeans++", "random"), "init")
        positive(self.kmeans_iters, "kmeans_iters", allow_zero=True)
        positive(self.dequant_samples, "dequant_samples")
        positive(self.stepwise_power, "stepwise_power", allow_zero=True)
        if self.stepwise_power > 1:
            raise GenzooError(f"bad value {self.stepwise_power!r} for stepwise_power: must be in [0, 1]")


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


@register
class GMM(GenerativeModel):
    """Gaussian mixture on flattened examples; discrete data via uniform dequantization."""

    name = "gmm"
    Config = GMMConfig
    likelihood = "exact"  # for continuous data; see likelihood_kind / likelihood_note
    accepts = (("*", "*"),)
    capabilities = ()
    family = "mixture"

    def __init__(self, config: GMMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        C, D = config.components, spec.dim
        self.D = D
        self.full = config.covariance == "full"
        # K: dequantization scale for discrete data (None: continuous, no dequantization)
        self.K = None if spec.value_type == "continuous" else int(spec.num_values)
        f64 = torch.float64
        # Before the first em_step / fit: a standard normal per component (finite loss).
        self.register_buffer("weights", torch.full((C,), 1.0 / C, dtype=f64))
        self.register_buffer("means", torch.zeros(C, D, dtype=f64))
        if self.full:
            self.register_buffer("scale_tril", torch.eye(D, dtype=f64).repeat(C, 1, 1))
        else:
            self.register_buffer("variances", torch.ones(C, D, dtype=f64))
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long))

    # ---- working space -------------------------------------------------------------
    @property
    def likelihood_kind(self) -> str:
        """``"exact"`` for continuous data, ``"bound"`` for dequantized discrete data."""
        return "exact" if self.K is None else "bound"

    def likelihood_note(self, *, dequant_samples: int | None = None, **kwargs: Any) -> str:
        if self.K is None:
            return "exact"
        return f"bound (uniform dequantization, {dequant_samples or self.config.dequant_samples} samples)"

    def _working(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Data batch (B, *shape) -> working-space y (B, D) float64, dequantizing discrete data."""
        y = x.reshape(x.shape[0], self.D).to(self.device, torch.float64)
        if self.K is None:
            return y
        u = torch.rand(y.shape, generator=generator, dtype=torch.float64).to(y.device)
        return (y + u) / self.K

    def _to_data(self, y: torch.Tensor) -> torch.Tensor:
        """Working-space y (n, D) -> data (n, *shape) of spec.dtype."""
        if self.K is None:
            lo, hi = self.spec.value_range  # type: ignore[misc]
            x = y.clamp(lo, hi)
        else:
            x = torch.floor(y * self.K).clamp(0, self.K - 1)
        return x.to(self.spec.dtype).reshape(y.shape[0], *self.spec.shape)

    # ---- densities -----------------------------------------------------------------
    def _covariances(self) -> torch.Tensor:
        """Sigma (C, D, D) or its diagonal (C, D), float64."""
        if self.full:
            L = self.scale_tril.double()
            return L @ L.transpose(1, 2)
        return self.variances.double()

    def _log_joint(self, y: torch.Tensor) -> torch.Tensor:
        """log pi_k + log N(y | mu_k, Sigma_k), shape (B, C)."""
        mu = self.means.double()  # (C, D)
        if self.full:
            L = self.scale_tril.double()  # (C, D, D)
            diff = (y[None] - mu[:, None]).transpose(1, 2)  # (C, D, B)
            z = torch.linalg.solve_triangular(L, diff, upper=False)  # (C, D, B): L^-1 (y - mu)
            maha = z.square().sum(1)  # (C, B)
            half_logdet = L.diagonal(dim1=1, dim2=2).log().sum(-1)  # (C,)
        else:
            var = self.variances.double()  # (C, D)
            maha = ((y[None] - mu[:, None]).square() / var[:, None]).sum(-1)  # (C, B)
            half_logdet = 0.5 * var.log().sum(-1)
        log_n = -0.5 * (self.D * _LOG_2PI + maha) - half_logdet[:, None]  # (C, B)
        return (log_n + self.weights.double().log()[:, None]).T

    def _e_step(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log p(y) (B,) and responsibilities r (B, C)."""
        lj = torch.cat([self._log_joint(y[i:i + 2048]) for i in range(0, y.shape[0], 2048)])  # (B, C)
        lp = torch.logsumexp(lj, 1)  # (B,)
        return lp, (lj - lp[:, None]).exp()

    def _density(self, y: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
        """log p(y) (B,) in float64, in row chunks to bound the (C, D, chunk) temporaries."""
        return torch.cat([torch.logsumexp(self._log_joint(y[i:i + chunk]), 1)
                          for i in range(0, y.shape[0], chunk)])

    # ---- EM --------------------------------------------------------------------------
    def _shift(self) -> torch.Tensor:
        # The current mixture mean: identical on every process, close to the data mean,
        # so second moments about it lose few digits to cancellation.
        return (self.weights.double()[:, None] * self.means.double()).sum(0)  # (D,)

    def _batch_stats(self, y: torch.Tensor, r: torch.Tensor, c: torch.Tensor,
                     sync: bool) -> tuple[torch.Tensor, ...]:
        """Per-example averages s0 (C,), s1 (C, D), s2 (C, D, D) or (C, D), summed over processes."""
        d = y - c  # (B, D)
        s0 = r.sum(0)  # (C,)
        s1 = r.T @ d  # (C, D)
        if self.full:
            # one component at a time: a (B, D) temporary instead of (C, B, D)
            s2 = torch.stack([(d * r[:, k:k + 1]).T @ d for k in range(r.shape[1])])  # (C, D, D)
        else:
            s2 = r.T @ d.square()  # (C, D)
        n = torch.tensor([float(y.shape[0])], dtype=torch.float64, device=y.device)
        if sync and _distributed():
            # one flat all-reduce: EM on the union of all processes' batches
            flat = torch.cat([s0, s1.flatten(), s2.flatten(), n])
            torch.distributed.all_reduce(flat)
            s0, s1, s2, n = flat.split([s0.numel(), s1.numel(), s2.numel(), 1])
            C = s0.shape[0]
            s1 = s1.view(C, self.D)
            s2 = s2.view(C, self.D, self.D) if self.full else s2.view(C, self.D)
        return s0 / n, s1 / n, s2 / n

    def _param_stats(self, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The (s0, s1, s2) whose M-step gives back the current parameters."""
        w = self.weights.double()
        m = self.means.double() - c  # (C, D)
        cov = self._covariances()
        if self.full:
            cov = cov - self.config.reg_covar * torch.eye(self.D, dtype=cov.dtype, device=cov.device)
            return w, w[:, None] * m, w[:, None, None] * (cov + m[:, :, None] * m[:, None, :])
        return w, w[:, None] * m, w[:, None] * (cov - self.config.reg_covar + m.square())

    def _m_step(self, s0: torch.Tensor, s1: torch.Tensor, s2: torch.Tensor, c: torch.Tensor) -> None:
        """Maximise given averaged statistics; writes the parameter buffers."""
        reg = self.config.reg_covar
        nk = s0 + 10 * _EPS  # keeps an empty component finite (as scikit-learn does)
        m = s1 / nk[:, None]  # (C, D) mean relative to c
        if self.full:
            cov = s2 / nk[:, None, None] - m[:, :, None] * m[:, None, :]  # (C, D, D)
            cov = 0.5 * (cov + cov.transpose(1, 2))
            cov = cov + reg * torch.eye(self.D, dtype=cov.dtype, device=cov.device)
            L, info = torch.linalg.cholesky_ex(cov)
            if bool((info > 0).any()):
                raise GenzooError("gmm: a covariance is not positive definite; increase reg_covar "
                                  "or use fewer components")
            self.scale_tril.copy_(L)
        else:
            var = s2 / nk[:, None] - m.square() + reg
            self.variances.copy_(var.clamp_min(max(reg, _EPS)))
        self.weights.copy_(nk / nk.sum())
        self.means.copy_(c + m)

    def _update(self, y: torch.Tensor, r: torch.Tensor, *, eta: float, sync: bool) -> None:
        c = self._shift()
        stats = self._batch_stats(y, r, c, sync)
        if eta < 1.0:
            stats = tuple((1 - eta) * p + eta * s for p, s in zip(self._param_stats(c), stats))
        self._m_step(*stats, c)

    def _seed_centres(self, y: torch.Tensor) -> torch.Tensor:
        """k-means++ (or random) seeding plus Lloyd iterations, global torch RNG; (C, D)."""
        n, C = y.shape[0], self.config.components
        if self.config.init == "random":
            idx = torch.randperm(n)[:C] if n >= C else torch.randint(n, (C,))
            centres = y[idx.to(y.device)]
        else:
            picks = [int(torch.randint(n, ()))]
            d2 = (y - y[picks[0]]).square().sum(1)  # (n,) squared distance to nearest centre
            for _ in range(1, C):
                w = d2.cpu()
                i = int(torch.multinomial(w, 1)) if float(w.sum()) > 0 else int(torch.randint(n, ()))
                picks.append(i)
                d2 = torch.minimum(d2, (y - y[i]).square().sum(1))
            centres = y[picks]
        for _ in range(self.config.kmeans_iters):
            labels = torch.cdist(y, centres).argmin(1)
            onehot = F.one_hot(labels, C).to(y.dtype)  # (n, C)
            count = onehot.sum(0)
            moved = (onehot.T @ y) / count.clamp_min(1)[:, None]
            centres = torch.where(count[:, None] > 0, moved, centres)  # empty clusters stay put
        return centres

    def _hard_init(self, y: torch.Tensor, centres: torch.Tensor, sync: bool) -> None:
        """M-step from hard nearest-centre assignments."""
        r = F.one_hot(torch.cdist(y, centres).argmin(1), self.config.components).to(y.dtype)
        c = centres.mean(0)  # shared by every process once centres are
        self._m_step(*self._batch_stats(y, r, c, sync), c)

    @torch.no_grad()
    def em_step(self, batch: Batch) -> dict[str, float]:
        """One stepwise EM iteration on ``batch``; the first call initialises from it.

        Dequantization noise and k-means++ seeding use the global torch RNG. Returns
        logged floats: ``loss`` (-mean log p before the update), ``step_size``.
        """
        y = self._working(batch["x"])
        if not bool(self.initialized):
            centres = self._seed_centres(y)
            if _distributed():
                torch.distributed.broadcast(centres, src=0)  # every process seeds alike
            self._hard_init(y, centres, sync=True)
            self.initialized.fill_(True)
        lp, r = self._e_step(y)
        eta = float((int(self.steps) + 2) ** -self.config.stepwise_power)
        self._update(y, r, eta=eta, sync=True)
        self.steps += 1
        out = {"loss": -self._discrete_correction(lp).mean().item(), "step_size": eta}
        if self.K is not None:
            out["bits_per_dim"] = out["loss"] / (self.D * math.log(2))
        return out

    @torch.no_grad()
    def fit(self, x: torch.Tensor, *, max_iter: int = 100, tol: float = 1e-3,
            means_init: torch.Tensor | None = None, weights_init: torch.Tensor | None = None,
            precisions_init: torch.Tensor | None = None) -> dict[str, float]:
        """Full-batch EM on ``x`` (N, *shape) until the mean log-likelihood moves < ``tol``.

        Mirrors ``sklearn.mixture.GaussianMixture.fit`` (n_init=1): inits are in the
        working space (discrete data: y = (x+u)/K, dequantized once with the global RNG);
        ``precisions_init`` is (C, D, D) for full and (C, D) for diag covariance. Without
        ``means_init`` the centres come from ``init``. Local to this process.
        Returns ``iterations``, ``converged`` (0/1) and ``log_likelihood`` (working space).
        """
        y = self._working(x)
        dev = y.device
        centres = self._seed_centres(y) if means_init is None else torch.as_tensor(
            means_init, dtype=torch.float64, device=dev)
        self._hard_init(y, centres, sync=False)
        if means_init is not None:
            self.means.copy_(centres)
        if weights_init is not None:
            self.weights.copy_(torch.as_tensor(weights_init, dtype=torch.float64, device=dev))
        if precisions_init is not None:
            prec = torch.as_tensor(precisions_init, dtype=torch.float64, device=dev)
            if self.full:
                self.scale_tril.copy_(torch.linalg.cholesky(torch.linalg.inv(prec)))
            else:
                self.variances.copy_(1.0 / prec)
        self.initialized.fill_(True)
        prev, ll, converged, iterations = -math.inf, -math.inf, False, 0
        while iterations < max_iter and not converged:
            iterations += 1
            lp, r = self._e_step(y)
            ll = lp.mean().item()  # under the parameters before this M-step, as sklearn
            self._update(y, r, eta=1.0, sync=False)
            converged = abs(ll - prev) < tol
            prev = ll
        self.steps.fill_(iterations)
        return {"iterations": float(iterations), "converged": float(converged), "log_likelihood": ll}

    # ---- the contract ----------------------------------------------------------------
    def _discrete_correction(self, lp: torch.Tensor) -> torch.Tensor:
        # density of y = (x+u)/K -> density of x+u on the integer lattice: minus D log K
        return lp if self.K is None else lp - self.D * math.log(self.K)

    def players(self) -> list[Player]:
        return [Player("model", [], self.loss, update=self.em_step)]

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """-mean log p for logging (one dequantization draw; no gradient: EM trains this)."""
        with torch.no_grad():
            lp = self._discrete_correction(self._density(self._working(batch["x"])))
        nll = -lp.mean().float()
        out = {"loss": nll}
        if self.K is not None:
            out["bits_per_dim"] = nll / (self.D * math.log(2))
        return out

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, *, dequant_samples: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(x) in nats, (B,) float32: exact for continuous data; for discrete data the
        uniform-dequantization lower bound averaged over ``dequant_samples`` draws of u.

        Without ``generator`` the draws come from a fixed seed, so evaluation repeats.
        """
        if self.K is None:
            return self._density(self._working(x)).float()
        S = dequant_samples or self.config.dequant_samples
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        B = x.shape[0]
        y = torch.cat([self._working(x, g) for _ in range(S)])  # (S*B, D)
        lp = self._density(y).view(S, B).mean(0)  # (B,)
        return self._discrete_correction(lp).float()

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw a component, then a Gaussian, then map back to data space: (n, *spec.shape)."""
        self.sample_condition(n, condition)
        C = self.config.components
        logits = self.weights.double().log().expand(n, C)  # (n, C)
        k = rand.categorical(logits, generator=generator)  # (n,)
        z = rand.randn(n, self.D, generator=generator, device=self.device).double()  # (n, D)
        mu = self.means.double()[k]  # (n, D)
        if self.full:
            y = mu + (self.scale_tril.double()[k] @ z[:, :, None]).squeeze(-1)
        else:
            y = mu + self.variances.double()[k].sqrt() * z
        return self._to_data(y)

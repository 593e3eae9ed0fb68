"""Latent Dirichlet allocation (LDA) fit by online variational Bayes.

References: Blei, Ng & Jordan (2003), "Latent Dirichlet allocation", JMLR 3; online
variational Bayes: Hoffman, Blei & Bach (2010), "Online learning for latent Dirichlet
allocation", NeurIPS.

The generative process for a corpus of bag-of-words documents over V words:

    beta_k ~ Dir(eta)              k = 1..K   topic-word distributions
    theta_d ~ Dir(alpha)                      document-topic proportions
    z_dn ~ Cat(theta_d), w_dn ~ Cat(beta_{z_dn})   for each of the N_d words

Data are count vectors x (B, V) int64 (``value_type="count"``). Variational posterior
q(beta_k) = Dir(lambda_k), q(theta_d) = Dir(gamma_d), q(z_dn) = Cat(phi_dn).

Training without gradients: ``players()`` returns one Player whose ``update`` is
:meth:`em_step`. lambda starts as Hoffman et al.'s Gamma(100, 1/100) noise; with
``init=documents`` (default) the first batch then seeds the topics: greedy k-means++
(Arthur & Vassilvitskii 2007) and spherical k-means on the documents' normalised count
vectors, each topic starting from the words of its cluster. Starting near documents
rather than near uniform avoids most of the poor local optima (merged or split topics)
that online VB from noise falls into on sparse topics. Per batch of B documents the E-step fits gamma and phi with lambda
fixed (``e_steps`` coordinate-ascent iterations, stopping early when gamma moves less
than ``e_tol``); the M-step blends lambda with the batch's estimate

    lambda <- (1 - rho_t) lambda + rho_t (eta + D/B sum_d x_dv phi_dvk),
    rho_t = (tau0 + t)^-kappa,  t = 1, 2, ...

where D is the corpus size. The model only sees batches, so D is ``total_docs``; with
``total_docs=0`` each batch stands for the whole corpus (D = B, the batch VB estimate
on every batch, averaged over batches by rho_t). That leaves the expected topics
E[beta] nearly unchanged (only eta's relative weight grows) but makes q(beta) less
concentrated than the full corpus warrants; set ``total_docs`` to the training-set
size for Hoffman et al.'s exact update.

Likelihood (a **bound**): ``log_prob(x)`` is the per-document variational lower bound
on log p(x | beta_hat, alpha) with the topics fixed at their expected values
beta_hat = E_q[beta] = lambda / sum_v lambda, after running the E-step on x. It is the
probability of the **count vector** given its length N: the word-sequence bound
sum_v x_v log sum_k exp(E[log theta_k]) beta_hat_kv - KL(q(theta) || Dir(alpha)) plus
the multinomial coefficient log N! - sum_v log x_v!, so that exp(log_prob) sums to at
most 1 over the count vectors of each length. :meth:`perplexity` follows the LDA papers
instead: exp(-(sum of word-sequence bounds) / (total words)), without the coefficient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.base import Batch, GenerativeModel, Player
from genzoo.models.registry import register

DEFAULT_MEAN_LENGTH = 50.0  # document length for sample() before any training


@dataclass
class LDAConfig:
    """LDA hyperparameters.

    Args:
        topics: number of topics K.
        alpha: symmetric document-topic Dirichlet parameter; None: 1/topics.
        eta: symmetric topic-word Dirichlet parameter.
        tau0: learning-rate delay in rho_t = (tau0 + t)^-kappa (>= 0).
        kappa: learning-rate decay in [0, 1]; (0.5, 1] guarantees convergence,
            0 replaces lambda by each batch's estimate (rho_t = 1).
        e_steps: most coordinate-ascent iterations of the per-document E-step.
        e_tol: the E-step stops once the mean absolute change of gamma is below this.
        total_docs: corpus size D in the online update; 0: the batch size (each batch
            stands for the corpus).
        init: ``documents``: seed the topics from the first batch by k-means++ and
            spherical k-means (needs a batch of at least ``topics`` documents);
            ``random``: Gamma(100, 1/100) noise only.
        kmeans_iters: spherical k-means iterations after the seeding.
        kmeans_restarts: seedings tried; the one with the tightest clusters is kept.
        seed: seeds the initial noise and the k-means++ seeding.
    """

    topics: int = 10
    alpha: float | None = 0.1
    eta: float = 0.01
    tau0: float = 1.0
    kappa: float = 0.7
    e_steps: int = 100
    e_tol: float = 1e-3
    total_docs: int = 0
    init: Literal["documents", "random"] = "documents"
    kmeans_iters: int = 10
    kmeans_restarts: int = 4
    seed: int = 0

    def validate(self) -> None:
        positive(self.topics, "topics")
        if self.alpha is not None:
            positive(self.alpha, "alpha")
        positive(self.eta, "eta")
        positive(self.tau0, "tau0", allow_zero=True)
        if not 0.0 <= self.kappa <= 1.0:
            raise GenzooError(f"bad value {self.kappa!r} for kappa: must be in [0, 1]")
        positive(self.e_steps, "e_steps")
        positive(self.e_tol, "e_tol", allow_zero=True)
        positive(self.total_docs, "total_docs", allow_zero=True)
        choice(self.init, ("documents", "random"), "init")
        positive(self.kmeans_iters, "kmeans_iters", allow_zero=True)
        positive(self.kmeans_restarts, "kmeans_restarts")


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _log_multinomial_coef(x: torch.Tensor) -> torch.Tensor:
    """log N! - sum_v log x_v! for counts x (B, V); (B,)."""
    return torch.lgamma(x.sum(1) + 1) - torch.lgamma(x + 1).sum(1)


@register
class LDA(GenerativeModel):
    """Latent Dirichlet allocation on bag-of-words count vectors."""

    name = "lda"
    Config = LDAConfig
    likelihood = "bound"
    accepts = (("vector", "count"),)
    capabilities = ("encode",)
    family = "mixture"

    def __init__(self, config: LDAConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        K, V = config.topics, spec.dim
        self.K, self.V = K, V
        self.alpha = config.alpha if config.alpha is not None else 1.0 / K
        rng = np.random.default_rng(config.seed)
        # Hoffman et al.'s initialisation: random, so the topics start apart.
        lam = torch.from_numpy(rng.gamma(100.0, 1.0 / 100.0, size=(K, V)))
        self.register_buffer("lam", lam)  # (K, V) float64 variational Dirichlet parameters
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long))
        self.register_buffer("initialized", torch.tensor(False))
        # for sample(): the mean training document length = words_seen / docs_seen
        self.register_buffer("docs_seen", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("words_seen", torch.tensor(0.0, dtype=torch.float64))

    # ---- topics ------------------------------------------------------------------------
    def topics_matrix(self) -> torch.Tensor:
        """Expected topic-word distributions E_q[beta] = lambda / sum_v lambda, (K, V) float64."""
        lam = self.lam.double()
        return lam / lam.sum(1, keepdim=True)

    def _expected_log_beta(self) -> torch.Tensor:
        """E_q[log beta] = digamma(lambda) - digamma(sum_v lambda), (K, V)."""
        lam = self.lam.double()
        return torch.digamma(lam) - torch.digamma(lam.sum(1, keepdim=True))

    @property
    def mean_length(self) -> float:
        """Mean length of the training documents seen so far (50 before training)."""
        d = float(self.docs_seen)
        return float(self.words_seen) / d if d > 0 else DEFAULT_MEAN_LENGTH

    # ---- the per-document E-step ---------------------------------------------------------
    def _counts(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.V:
            raise GenzooError(f"lda expects count vectors of shape (B, {self.V}), got {tuple(x.shape)}")
        return x.to(self.device, torch.float64)

    def _e_step(self, x: torch.Tensor, log_beta: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Fit gamma (B, K) for counts x (B, V) float64 with the topics' log_beta (K, V) fixed.

        Coordinate ascent with phi folded in (Blei et al. 2003, eq. 6-7):
        phi_dvk ∝ exp(E[log theta_dk]) exp(log_beta_kv), gamma_dk = alpha + sum_v x_dv phi_dvk.
        Returns gamma and the number of iterations run.
        """
        exp_beta = log_beta.exp()  # (K, V)
        N = x.sum(1, keepdim=True)  # (B, 1)
        gamma = torch.full((x.shape[0], self.K), self.alpha, dtype=x.dtype, device=x.device) + N / self.K
        iters = 0
        while iters < self.config.e_steps:
            iters += 1
            exp_elog_theta = (torch.digamma(gamma) - torch.digamma(gamma.sum(1, keepdim=True))).exp()  # (B, K)
            phinorm = exp_elog_theta @ exp_beta + 1e-100  # (B, V): normaliser of phi for each word
            new = self.alpha + exp_elog_theta * ((x / phinorm) @ exp_beta.T)  # (B, K)
            change = (new - gamma).abs().mean(1).max()
            gamma = new
            if float(change) < self.config.e_tol:
                break
        return gamma, iters

    def _phi_terms(self, x: torch.Tensor, gamma: torch.Tensor,
                   log_beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """E[log theta] (B, K), exp(E[log theta]) (B, K) and phi's normaliser (B, V)."""
        elog_theta = torch.digamma(gamma) - torch.digamma(gamma.sum(1, keepdim=True))
        exp_elog_theta = elog_theta.exp()
        return elog_theta, exp_elog_theta, exp_elog_theta @ log_beta.exp() + 1e-100

    def _sequence_bound(self, x: torch.Tensor, gamma: torch.Tensor, log_beta: torch.Tensor) -> torch.Tensor:
        """ELBO of the word sequence, (B,): valid for any gamma, with phi optimal for it.

        sum_v x_v sum_k phi (E[log theta_k] + log beta_kv - log phi) = sum_v x_v log phinorm_v,
        minus KL(Dir(gamma) || Dir(alpha)).
        """
        elog_theta, _, phinorm = self._phi_terms(x, gamma, log_beta)
        words = (x * phinorm.log()).sum(1)  # (B,)
        a, K = self.alpha, self.K
        neg_kl = (math.lgamma(K * a) - K * math.lgamma(a) - torch.lgamma(gamma.sum(1))
                  + torch.lgamma(gamma).sum(1) + ((a - gamma) * elog_theta).sum(1))
        return words + neg_kl

    # ---- online variational Bayes ----------------------------------------------------------
    def _seed_topics(self, x: torch.Tensor, D: float) -> None:
        """Add to lambda the words of K clusters of the documents x (B, V), scaled to D documents.

        Greedy k-means++ (2 + log K candidates per pick, keeping the one that lowers the
        potential most) and spherical k-means on unit-length count vectors; the best of
        ``kmeans_restarts`` runs (highest total cosine similarity to the centres).
        """
        g = torch.Generator().manual_seed(self.config.seed)
        y = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)  # (B, V) unit rows
        runs = [self._spherical_kmeans(y, g) for _ in range(self.config.kmeans_restarts)]
        centres = max(runs, key=lambda c: float((y @ c.T).max(1).values.sum()))
        onehot = F.one_hot((y @ centres.T).argmax(1), self.K).to(x.dtype)  # (B, K)
        self.lam.add_(self.config.eta + (D / x.shape[0]) * (onehot.T @ x))  # (K, V)

    def _spherical_kmeans(self, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Centres (K, V) of unit rows y (B, V): greedy k-means++ then Lloyd iterations."""
        B, K = y.shape[0], self.K
        trials = 2 + int(math.log(K))

        def dist2(i: int) -> torch.Tensor:
            return (y - y[i]).square().sum(1)  # (B,) squared distance to document i

        first = int(torch.randint(B, (), generator=g))
        picks, d2 = [first], dist2(first)
        for _ in range(1, K):
            w = d2.cpu()
            cand = (torch.multinomial(w, trials, replacement=True, generator=g) if float(w.sum()) > 0
                    else torch.randint(B, (trials,), generator=g))
            new_d2 = [torch.minimum(d2, dist2(int(i))) for i in cand]
            best = int(torch.stack([d.sum() for d in new_d2]).argmin())
            picks.append(int(cand[best]))
            d2 = new_d2[best]
        centres = y[picks]  # (K, V)
        for _ in range(self.config.kmeans_iters):
            onehot = F.one_hot((y @ centres.T).argmax(1), K).to(y.dtype)  # (B, K)
            moved = onehot.T @ y  # (K, V)
            norm = moved.norm(dim=1, keepdim=True)
            centres = torch.where(norm > 0, moved / norm.clamp_min(1e-12), centres)  # empty: stay put
        return centres

    @torch.no_grad()
    def em_step(self, batch: Batch) -> dict[str, float]:
        """One online VB step (Hoffman et al. 2010, Algorithm 2) on ``batch["x"]``.

        Returns the logged floats: ``loss`` (negative per-word bound of the batch under
        the topics before this step), ``perplexity``, ``rho`` and ``e_iters``.
        """
        x = self._counts(batch["x"])  # (B, V)
        if not bool(self.initialized):
            if self.config.init == "documents" and x.shape[0] >= self.K:
                self._seed_topics(x, float(self.config.total_docs) or float(x.shape[0]))
            if _distributed():  # every process starts from process 0's topics
                torch.distributed.broadcast(self.lam, src=0)
            self.initialized.fill_(True)
        elog_beta = self._expected_log_beta()
        gamma, iters = self._e_step(x, elog_beta)
        _, exp_elog_theta, phinorm = self._phi_terms(x, gamma, elog_beta)
        # sufficient statistics sum_d x_dv phi_dvk, (K, V)
        sstats = (exp_elog_theta.T @ (x / phinorm)) * elog_beta.exp()
        log_beta_hat = self.topics_matrix().log()
        seq = self._sequence_bound(x, gamma, log_beta_hat).sum()
        counts = torch.stack([torch.tensor(float(x.shape[0]), dtype=torch.float64, device=x.device),
                              x.sum(), seq])  # docs, words, bound
        if _distributed():  # online VB on the union of all processes' batches
            flat = torch.cat([sstats.flatten(), counts])
            torch.distributed.all_reduce(flat)
            sstats, counts = flat[:-3].view(self.K, self.V), flat[-3:]
        B, words, seq = counts.unbind()
        D = float(self.config.total_docs) or float(B)
        rho = (self.config.tau0 + int(self.steps) + 1) ** -self.config.kappa
        lam_hat = self.config.eta + (D / B.clamp_min(1.0)) * sstats  # (K, V)
        self.lam.copy_((1 - rho) * self.lam.double() + rho * lam_hat)
        self.steps += 1
        self.docs_seen += B
        self.words_seen += words
        loss = -float(seq) / max(float(words), 1.0)
        return {"loss": loss, "perplexity": math.exp(min(loss, 700.0)), "rho": rho, "e_iters": float(iters)}

    # ---- the contract ----------------------------------------------------------------------
    def players(self) -> list[Player]:
        return [Player("model", [], self.loss, update=self.em_step)]

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Negative per-word bound (log perplexity) of the batch, for logging (no gradient)."""
        with torch.no_grad():
            x = self._counts(batch["x"])
            log_beta = self.topics_matrix().log()
            gamma, _ = self._e_step(x, log_beta)
            nll = -self._sequence_bound(x, gamma, log_beta).sum() / x.sum().clamp_min(1.0)
        return {"loss": nll.float(), "perplexity": nll.clamp_max(700.0).exp().float()}

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Per-document bound on log p(count vector | its length, beta_hat, alpha), (B,) nats.

        Runs the E-step on ``x`` with the topics fixed at beta_hat = E_q[beta]; includes the
        multinomial coefficient log N!/prod_v x_v! (see the module docstring).
        """
        c = self._counts(x)
        log_beta = self.topics_matrix().log()
        gamma, _ = self._e_step(c, log_beta)
        return (self._sequence_bound(c, gamma, log_beta) + _log_multinomial_coef(c)).float()

    def likelihood_note(self, **kwargs: Any) -> str:
        return "bound: per-document variational ELBO of the count vector (fixed topics)"

    @torch.no_grad()
    def perplexity(self, x: torch.Tensor, *, batch_size: int = 1024) -> float:
        """exp(-sum_d bound(word sequence of d) / total words), the LDA papers' held-out perplexity."""
        log_beta = self.topics_matrix().log()
        total, words = 0.0, 0.0
        for i in range(0, x.shape[0], batch_size):
            c = self._counts(x[i:i + batch_size])
            gamma, _ = self._e_step(c, log_beta)
            total += float(self._sequence_bound(c, gamma, log_beta).sum())
            words += float(c.sum())
        return math.exp(-total / max(words, 1.0))

    @torch.no_grad()
    def encode(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Topic proportions E_q[theta] = gamma / sum_k gamma, (B, K) float32."""
        c = self._counts(x)
        gamma, _ = self._e_step(c, self.topics_matrix().log())
        return (gamma / gamma.sum(1, keepdim=True)).float()

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Documents from the generative process with beta = E_q[beta]: (n, V) int64 counts.

        theta ~ Dir(alpha), N ~ Poisson(mean training length), then N words, each
        z ~ Cat(theta), w ~ Cat(beta_z); summed into counts that is x ~ Mult(N, theta beta).
        All draws come from a NumPy generator seeded from ``generator``.
        """
        self.sample_condition(n, condition)
        seed = int(torch.randint(0, 2**62, (), generator=generator))
        rng = np.random.default_rng(seed)
        beta = self.topics_matrix().cpu().numpy()  # (K, V)
        theta = rng.dirichlet(np.full(self.K, self.alpha), size=n)  # (n, K)
        lengths = rng.poisson(self.mean_length, size=n)  # (n,)
        p = theta @ beta  # (n, V): p(w | theta) with z summed out
        p = p / p.sum(1, keepdims=True)
        x = rng.multinomial(lengths, p)  # (n, V)
        return torch.from_numpy(x.astype(np.int64)).to(self.device)

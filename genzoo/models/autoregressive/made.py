"""MADE: Masked Autoencoder for Distribution Estimation.

Germain, Gregor, Murray & Larochelle (2015), "MADE: Masked Autoencoder for Distribution
Estimation", ICML. arXiv:1502.03509.

A feed-forward network whose weights are masked so that the output for dimension ``d``
depends only on dimensions before ``d`` in an ordering. The outputs are then the
conditionals ``p(x_d | x_<d)`` and ``log p(x) = sum_d log p(x_d | x_<d)`` is exact.

Masks come from *degrees*: input dimension ``d`` has degree ``m(d)`` = its position in
the ordering (1..D); each hidden unit ``k`` gets a degree ``m(k)`` in ``[1, D-1]``; a
connection into hidden unit ``k`` from a unit of degree ``m'`` exists iff
``m(k) >= m'``; a connection from hidden unit ``k`` into output ``d`` exists iff
``m(d) > m(k)``. Categorical values are one-hot encoded (D*K inputs); the K inputs and
the K output logits of one dimension share its degree.

With ``direct`` the inputs also feed the outputs through one more masked linear map
(output ``d`` sees input ``d'`` iff ``m(d) > m(d')``): the autoregressive logistic
regression that MADE's hidden layer then only has to correct. The authors' code has this
as ``direct_input_connect="Output"``, the setting of its published MNIST commands.

With ``num_masks > 1`` (connectivity-agnostic) or ``order_agnostic`` (random orderings)
training draws one of ``num_masks`` fixed mask seeds every step, as in the paper's
"order-agnostic training"; evaluation and sampling use mask 0, and ``log_prob(x,
ensemble=M)`` averages the probabilities of the first M masks (still exact: a mixture).
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
from genzoo.models.autoregressive.marginals import marginal_logits
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.registry import register
from genzoo.nn import rand


@dataclass
class MADEConfig:
    """MADE hyperparameters.

    Args:
        hidden: widths of the masked hidden layers.
        order_agnostic: draw a random ordering per mask seed (else one fixed ordering).
        num_masks: size of the fixed set of masks cycled during training (paper: 1..32).
        natural_order: without ``order_agnostic``, use the raster order (else one random
            permutation drawn from ``seed``).
        seed: seeds the set of mask seeds (degrees and orderings).
        direct: add a masked direct input-to-output connection (the authors' code,
            ``direct_input_connect="Output"``); off by default, as runs saved before it.
        marginal_init: before training, set the output biases to the log-odds (binary)
            or log-frequencies (categorical) of each dimension in the training split, so
            training starts at the independent-pixels model instead of 784 log 2 nats.
            Adam moves a bias by about ``lr`` per step, so from 0 a background pixel's
            bias (about -6) takes thousands of steps to get there.
    """

    hidden: tuple[int, ...] = (256, 256)
    order_agnostic: bool = False
    num_masks: int = 1
    natural_order: bool = True
    seed: int = 0
    direct: bool = False
    marginal_init: bool = True

    def validate(self) -> None:
        if not self.hidden:
            raise GenzooError("bad value () for hidden: MADE needs at least one hidden layer")
        for h in self.hidden:
            positive(h, "hidden")
        positive(self.num_masks, "num_masks")


class MaskedLinear(nn.Linear):
    """``nn.Linear`` whose weight is multiplied by a fixed 0/1 mask.

    The mask is a persistent boolean buffer of the weight's shape ``(out, in)`` (all
    ones until :meth:`set_mask` is called), so it moves with the module and is saved in
    ``state_dict``; being boolean it is untouched by dtype casts.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.register_buffer("mask", torch.ones(out_features, in_features, dtype=torch.bool))

    def set_mask(self, mask: torch.Tensor) -> None:
        """Set the connectivity ``mask`` of shape ``(out_features, in_features)``; nonzero = connected."""
        if tuple(mask.shape) != tuple(self.weight.shape):
            raise ValueError(f"mask shape {tuple(mask.shape)} != weight shape {tuple(self.weight.shape)}")
        self.mask.copy_(mask.to(device=self.mask.device, dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Masking the weight (not the output) keeps cut connections out of the gradient too.
        return F.linear(x, self.weight * self.mask, self.bias)


@register
class MADE(GenerativeModel):
    """Masked autoregressive network over binary or categorical values; exact ``log_prob``."""

    name = "made"
    Config = MADEConfig
    likelihood = "exact"
    accepts = tuple((k, v) for k in ("image", "vector", "sequence") for v in ("binary", "categorical"))
    capabilities = ("complete",)
    family = "autoregressive"

    def __init__(self, config: MADEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.D = spec.dim
        self.categorical = spec.value_type == "categorical"
        # K inputs and K logits per dimension for categorical data; one of each for binary
        # (a single Bernoulli logit per pixel).
        self.K = int(spec.num_values) if self.categorical else 1
        widths = [self.D * self.K, *config.hidden, self.D * self.K]
        self.layers = nn.ModuleList(MaskedLinear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        # Input -> output, no bias (the last layer has one).
        self.direct = MaskedLinear(self.D * self.K, self.D * self.K, bias=False) if config.direct else None

        # The mask set is defined by these seeds; stored so a loaded model rebuilds the
        # very same masks whatever `seed` the loading config says.
        g = torch.Generator().manual_seed(config.seed)
        self.register_buffer("mask_seeds", torch.randint(0, 2**31 - 1, (config.num_masks,), generator=g))
        # order[i] = the dimension generated i-th under the current mask.
        self.register_buffer("order", torch.arange(self.D))
        self.register_buffer("mask_index", torch.tensor(-1))
        self.use_mask(0)

    @torch.no_grad()
    def prepare(self, data) -> None:
        """Output biases from the training split's marginals (``marginal_init``)."""
        if not self.config.marginal_init or len(data.train) == 0:
            return
        flat = data.train.x.reshape(len(data.train), self.D)
        bias = marginal_logits(flat, num_values=self.K, categorical=self.categorical)
        self.layers[-1].bias.copy_(bias.reshape(-1).to(self.layers[-1].bias))

    # ---- masks -------------------------------------------------------------------
    def _degrees(self, index: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Ordering (D,) and unit degrees of input, hidden layers for mask ``index``."""
        D, cfg = self.D, self.config
        g = torch.Generator().manual_seed(int(self.mask_seeds[index]))
        if cfg.order_agnostic:
            order = torch.randperm(D, generator=g)
        elif not cfg.natural_order:
            # one fixed random ordering shared by all masks: seeded by mask seed 0
            order = torch.randperm(D, generator=torch.Generator().manual_seed(int(self.mask_seeds[0])))
        else:
            order = torch.arange(D)
        m_in = torch.empty(D, dtype=torch.long)
        m_in[order] = torch.arange(1, D + 1)  # degree of dim d = its position + 1
        degrees = [m_in.repeat_interleave(self.K)]  # (D*K,) one-hot inputs share the degree
        lo, hi = 1, max(D - 1, 1)
        for width in cfg.hidden:
            # paper: m(k) ~ U{min degree of the layer below, D-1}, so no unit is dead
            m = torch.randint(lo, hi + 1, (width,), generator=g)
            degrees.append(m)
            lo = int(m.min())
        return order, degrees

    def use_mask(self, index: int) -> None:
        """Install mask ``index`` (of ``num_masks``) in every layer."""
        if not 0 <= index < len(self.mask_seeds):
            raise GenzooError(f"bad mask index {index}: this MADE has {len(self.mask_seeds)} masks")
        if int(self.mask_index) == index:
            return
        order, degrees = self._degrees(index)
        for layer, m_prev, m_next in zip(self.layers[:-1], degrees[:-1], degrees[1:]):
            layer.set_mask(m_next[:, None] >= m_prev[None, :])  # (out, in)
        m_out = degrees[0]  # outputs carry the degrees of the inputs they predict
        self.layers[-1].set_mask(m_out[:, None] > degrees[-1][None, :])
        if self.direct is not None:
            self.direct.set_mask(m_out[:, None] > degrees[0][None, :])
        self.order.copy_(order)
        self.mask_index.fill_(index)

    # ---- network -----------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Conditional logits: (B, D) Bernoulli logits or (B, D, K) categorical logits."""
        B = x.shape[0]
        flat = x.reshape(B, self.D)
        if self.categorical:
            h = F.one_hot(flat.long(), self.K).reshape(B, self.D * self.K)  # (B, D*K)
        else:
            h = flat
        inputs = h = h.to(self.layers[0].weight.dtype)
        for layer in self.layers[:-1]:
            h = F.relu(layer(h))
        out = self.layers[-1](h)  # (B, D*K)
        if self.direct is not None:
            out = out + self.direct(inputs)
        return out.view(B, self.D, self.K) if self.categorical else out

    def _log_prob_current(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) (B,) under the installed mask."""
        B = x.shape[0]
        logits = self.forward(x)
        flat = x.reshape(B, self.D)
        if self.categorical:
            lp = F.log_softmax(logits, -1).gather(-1, flat.long()[..., None]).squeeze(-1)  # (B, D)
        else:
            lp = -F.binary_cross_entropy_with_logits(logits, flat.to(logits.dtype), reduction="none")
        return lp.sum(1)

    # ---- the contract --------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Mean negative log-likelihood in nats; also logs bits per dimension."""
        if len(self.mask_seeds) > 1:
            # training: a fresh mask from the fixed set every step; evaluation: mask 0
            k = int(torch.randint(len(self.mask_seeds), (1,))) if self.training else 0
            self.use_mask(k)
        nll = -self._log_prob_current(batch["x"]).mean()
        return {"loss": nll, "bits_per_dim": nll.detach() / (self.D * math.log(2))}

    def log_prob(self, x: torch.Tensor, *, mask_index: int | None = None,
                 ensemble: int | None = None) -> torch.Tensor:
        """Exact log p(x) in nats, shape (B,).

        Args:
            x: (B, *spec.shape) batch.
            mask_index: which mask to use (default 0, the evaluation mask).
            ensemble: average the probabilities of masks 0..ensemble-1 instead
                (log-mean-exp); a mixture of exact models, so still exact.
        """
        previous = int(self.mask_index)
        try:
            if ensemble is not None:
                if not 1 <= ensemble <= len(self.mask_seeds):
                    raise GenzooError(f"bad ensemble {ensemble}: this MADE has {len(self.mask_seeds)} masks")
                lps = []
                for k in range(ensemble):
                    self.use_mask(k)
                    lps.append(self._log_prob_current(x))
                return torch.logsumexp(torch.stack(lps), 0) - math.log(ensemble)  # (B,)
            self.use_mask(0 if mask_index is None else mask_index)
            return self._log_prob_current(x)
        finally:
            self.use_mask(previous)

    def likelihood_note(self, *, ensemble: int | None = None, **kwargs: object) -> str:
        return "exact" if not ensemble or ensemble == 1 else f"exact ({ensemble}-mask ensemble)"

    @torch.no_grad()
    def _fill(self, x: torch.Tensor, observed: torch.Tensor,
              generator: torch.Generator | None) -> torch.Tensor:
        """Sample the unobserved dims of flat ``x`` (B, D) in the order of mask 0."""
        previous = int(self.mask_index)
        self.use_mask(0)
        try:
            B = x.shape[0]
            for d in self.order.tolist():
                free = ~observed[:, d]  # (B,)
                if not bool(free.any()):
                    continue
                logits = self.forward(x.view(B, *self.spec.shape))[:, d]  # (B,) or (B, K)
                if self.categorical:
                    v = rand.categorical(logits, generator=generator)
                else:
                    v = rand.bernoulli(torch.sigmoid(logits), generator=generator)
                x[:, d] = torch.where(free, v.to(x.dtype), x[:, d])
            return x.view(B, *self.spec.shape)
        finally:
            self.use_mask(previous)

    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` examples (n, *spec.shape) by D sequential passes in the model's order."""
        self.sample_condition(n, condition)
        x = torch.zeros(n, self.D, dtype=self.spec.dtype, device=self.device)
        observed = torch.zeros(n, self.D, dtype=torch.bool, device=self.device)
        return self._fill(x, observed, generator)

    def complete(self, x: torch.Tensor, mask: torch.Tensor, *,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Fill the dims where ``mask`` is False, keeping the observed ones (mask True).

        Unobserved dims are drawn one at a time in the model's order (mask 0) from
        ``p(x_d | x_<d)``, with observed dims held fixed. This is an exact draw from
        ``p(unobserved | observed)`` only when every observed dim comes before every
        unobserved one in the order (e.g. the top of an image under raster order);
        otherwise observed dims later in the order are not conditioned on by earlier
        draws, the usual approximate autoregressive completion.
        """
        flat, observed = self.flat_for_completion(x, mask)
        return self._fill(flat, observed, generator)

"""NADE: the Neural Autoregressive Distribution Estimator.

Larochelle & Murray (2011), "The Neural Autoregressive Distribution Estimator", AISTATS.

``log p(x) = sum_d log p(x_{o_d} | x_{o_<d})`` over an ordering ``o`` of the D
dimensions. Every conditional has its own hidden layer, but all of them share the input
weights ``W`` (H x D) and bias ``c``:

    a_d = c + W[:, o_<d] x_{o_<d}             (H,)  running pre-activation
    h_d = sigmoid(a_d)                         (H,)
    p(x_{o_d} = 1 | x_{o_<d}) = sigmoid(b_{o_d} + V_{o_d} . h_d)

and ``a_{d+1} = a_d + W[:, o_d] x_{o_d}``, so all D conditionals cost O(HD) rather than
the O(HD^2) of D separate networks (paper, section 3). ``log_prob`` computes the a_d of
all positions at once (an exclusive cumulative sum over the ordered input
contributions, by blocked matmuls for binary data); sampling carries a_d along one
dimension at a time.

Categorical(K) data uses the same construction with one-hot inputs: ``W`` is H x D x K
(the input contribution of dimension d is the column ``W[:, d, x_d]``) and each
conditional is a softmax over K logits ``b_d + V_d h_d`` with ``V`` D x K x H.

Parameters are indexed by dimension, not by position in the ordering, so ``W[:, d]`` is
the filter of pixel d whatever the order.
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
from genzoo.models.autoregressive.marginals import marginal_logits
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.registry import register
from genzoo.nn import rand


@dataclass
class NADEConfig:
    """NADE hyperparameters.

    Args:
        hidden: H, the number of hidden units shared by all conditionals (paper: 500).
        activation: ``sigmoid`` (the paper's) or ``relu`` for the hidden units.
        order: ``raster`` (dimension order of the flattened example) or ``random`` (one
            fixed permutation drawn from ``seed``; stored with the weights).
        seed: seeds the random ordering.
        marginal_init: before training, set the output biases to each dimension's
            log-odds (binary) or log-frequencies (categorical) in the training split, as
            MADE's ``marginal_init`` (genzoo/models/autoregressive/marginals.py).
    """

    hidden: int = 128
    activation: Literal["sigmoid", "relu"] = "sigmoid"
    order: Literal["raster", "random"] = "raster"
    seed: int = 0
    marginal_init: bool = True

    def validate(self) -> None:
        positive(self.hidden, "hidden")
        choice(self.activation, ("sigmoid", "relu"), "activation")
        choice(self.order, ("raster", "random"), "order")


@register
class NADE(GenerativeModel):
    """Shared-weight autoregressive network over binary or categorical values; exact ``log_prob``."""

    name = "nade"
    Config = NADEConfig
    likelihood = "exact"
    accepts = tuple((k, v) for k in ("image", "vector", "sequence") for v in ("binary", "categorical"))
    capabilities = ("complete",)
    family = "autoregressive"

    def __init__(self, config: NADEConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.D = D = spec.dim
        self.H = H = config.hidden
        self.categorical = spec.value_type == "categorical"
        self.K = K = int(spec.num_values) if self.categorical else 1

        # The sum a_d grows with d, so scale W by the fan-in D; V by H as usual.
        w_shape = (H, D, K) if self.categorical else (H, D)
        self.W = nn.Parameter(torch.randn(w_shape) / math.sqrt(D))
        self.c = nn.Parameter(torch.zeros(H))
        self.V = nn.Parameter(torch.randn((D, K, H) if self.categorical else (D, H)) / math.sqrt(H))
        self.b = nn.Parameter(torch.zeros((D, K) if self.categorical else (D,)))

        # order[i] = the dimension generated i-th. A buffer, so a loaded model keeps the
        # ordering it was trained with whatever `seed` the loading config says.
        if config.order == "random":
            order = torch.randperm(D, generator=torch.Generator().manual_seed(config.seed))
        else:
            order = torch.arange(D)
        self.register_buffer("order", order)

    @torch.no_grad()
    def prepare(self, data) -> None:
        """Output biases from the training split's marginals (``marginal_init``)."""
        if self.config.marginal_init and len(data.train) > 0:
            flat = data.train.x.reshape(len(data.train), self.D)
            self.b.copy_(marginal_logits(flat, num_values=self.K, categorical=self.categorical).to(self.b))

    # ---- network -----------------------------------------------------------------
    def _act(self, a: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(a) if self.config.activation == "sigmoid" else F.relu(a)

    def _categorical_pre_activations(self, xo: torch.Tensor) -> torch.Tensor:
        """a_i = c + sum_{j<i} W[:, o_j, x_{o_j}] for every position i: (D, B, H).

        An exclusive cumsum (shift by one, then sum) keeps a_i bit-exactly independent
        of x_{o_i} and later values. Positions lead the layout so the output layer is
        one batched matmul.
        """
        Wt = self.W.permute(1, 2, 0)[self.order]  # (D, K, H) in the ordering
        contrib = Wt[torch.arange(self.D, device=xo.device)[:, None], xo.t().long()]  # (D, B, H)
        return self.c + torch.cumsum(F.pad(contrib[:-1], (0, 0, 0, 0, 1, 0)), 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Conditional logits indexed by dimension: (B, D) Bernoulli or (B, D, K) categorical.

        Entry d is the logit of ``p(x_d | x_<d in the ordering)``; all D come from one
        pass, O(BDH), with no loop over dimensions.
        """
        B = x.shape[0]
        xo = x.reshape(B, self.D)[:, self.order]  # (B, D) in the ordering
        if self.categorical:
            h = self._act(self._categorical_pre_activations(xo))  # (D, B, H) = h_i at every position
            logits_o = torch.bmm(h, self.V[self.order].transpose(1, 2)) + self.b[self.order][:, None]  # (D, B, K)
            logits_o = logits_o.transpose(0, 1)  # (B, D, K)
        else:
            logits_o = binary_conditionals(xo.to(self.W.dtype), self.W.t()[self.order], self.c,
                                           self.V[self.order], self.b[self.order],
                                           activation=self.config.activation)  # (B, D)
        # back from positions to dimensions
        logits = torch.empty_like(logits_o)
        logits[:, self.order] = logits_o
        return logits

    # ---- the contract --------------------------------------------------------------
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) in nats, shape (B,), from one vectorised pass (no loop over D)."""
        B = x.shape[0]
        logits = self.forward(x)
        flat = x.reshape(B, self.D)
        if self.categorical:
            lp = F.log_softmax(logits, -1).gather(-1, flat.long()[..., None]).squeeze(-1)  # (B, D)
        else:
            lp = -F.binary_cross_entropy_with_logits(logits, flat.to(logits.dtype), reduction="none")
        return lp.sum(1)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Mean negative log-likelihood in nats; also logs bits per dimension."""
        nll = -self.log_prob(batch["x"]).mean()
        return {"loss": nll, "bits_per_dim": nll.detach() / (self.D * math.log(2))}

    @torch.no_grad()
    def _fill(self, x: torch.Tensor, observed: torch.Tensor,
              generator: torch.Generator | None) -> torch.Tensor:
        """Sample the unobserved dims of flat ``x`` (B, D) in the order, carrying a_d.

        One step per dimension costs O(BH): compute h from the running a, draw (or
        keep) x_d, then add its input column to a. O(BHD) in all, not D full passes.
        """
        B = x.shape[0]
        a = self.c.expand(B, self.H).clone()  # (B, H) = a_1
        for d in self.order.tolist():
            h = self._act(a)  # (B, H)
            free = ~observed[:, d]  # (B,)
            if bool(free.any()):
                if self.categorical:
                    logits = h @ self.V[d].t() + self.b[d]  # (B, K)
                    v = rand.categorical(logits, generator=generator)
                else:
                    logits = h @ self.V[d] + self.b[d]  # (B,)
                    v = rand.bernoulli(torch.sigmoid(logits), generator=generator)
                x[:, d] = torch.where(free, v.to(x.dtype), x[:, d])
            if self.categorical:
                a = a + self.W[:, d].t()[x[:, d].long()]  # (B, H): column W[:, d, x_d]
            else:
                a = a + x[:, d, None].to(a.dtype) * self.W[:, d]  # (B, H)
        return x.view(B, *self.spec.shape)

    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` examples (n, *spec.shape) one dimension at a time in the order."""
        self.sample_condition(n, condition)
        x = torch.zeros(n, self.D, dtype=self.spec.dtype, device=self.device)
        observed = torch.zeros(n, self.D, dtype=torch.bool, device=self.device)
        return self._fill(x, observed, generator)

    def complete(self, x: torch.Tensor, mask: torch.Tensor, *,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Fill the dims where ``mask`` is False, keeping the observed ones (mask True).

        Unobserved dims are drawn one at a time in the model's order from
        ``p(x_d | x_<d)`` with observed dims clamped (and fed into the running hidden
        pre-activation). This is an exact draw from ``p(unobserved | observed)`` only
        when every observed dim comes before every unobserved one in the order (e.g.
        the top half of an image under the raster order); otherwise the draws ignore
        observed dims that come later in the order, the usual approximate
        autoregressive completion.
        """
        flat, observed = self.flat_for_completion(x, mask)
        return self._fill(flat, observed, generator)


# ---- the binary conditionals, block by block -------------------------------------------
def binary_conditionals(xo: torch.Tensor, Wo: torch.Tensor, c: torch.Tensor, Vo: torch.Tensor,
                        bo: torch.Tensor, *, activation: str = "sigmoid") -> torch.Tensor:
    """Logits of all D binary conditionals, positions in the ordering: (B, D).

    Args:
        xo: (B, D) inputs in the ordering (0/1, float).
        Wo: (D, H) input columns in the ordering (row i is ``W[:, o_i]``).
        c: (H,) hidden bias.
        Vo: (D, H) output rows in the ordering.
        bo: (D,) output biases in the ordering.
        activation: ``sigmoid`` or ``relu``.

    Same numbers as materialising ``a`` for all D positions (D, B, H) at once, but the
    work runs over blocks of L ~ sqrt(D) positions whose (L, B, H) tensors stay in the
    CPU cache, with a hand-written backward: the whole-tensor autograd graph made about
    twenty memory-bound passes over (D, B, H) per step (benchmarks/nade_speed.py).
    """
    if xo.requires_grad:
        raise ValueError("NADE inputs are data; gradients with respect to them are not supported")
    return _BinaryConditionals.apply(xo, Wo, c, Vo, bo, activation == "relu")


def _blocks(D: int) -> tuple[int, int]:
    L = math.isqrt(max(D - 1, 0)) + 1
    return L, -(-D // L)  # block length, number of blocks


def _by_block(t: torch.Tensor, nb: int, L: int) -> torch.Tensor:
    """(D, ...) -> (nb, L, ...), padding D up to whole blocks with zeros."""
    pad = nb * L - t.shape[0]
    if pad:
        t = torch.cat([t, t.new_zeros(pad, *t.shape[1:])])
    return t.view(nb, L, *t.shape[1:])


class _BinaryConditionals(torch.autograd.Function):
    """Block-wise NADE forward and backward (see :func:`binary_conditionals`).

    The running pre-activation is carried one position at a time with fused
    ``addcmul`` steps on (B, H) rows (``a_{i+1} = a_i + x_i W_i``, so a_i never depends
    on x_i or a later value); the activations and the output layer then run on whole
    (L, B, H) blocks. Only the pre-activation at each block's start is saved; the
    backward recomputes a block's hidden units rather than storing (D, B, H).
    """

    @staticmethod
    def _hidden(start: torch.Tensor, xb_n: torch.Tensor, Wb_n: torch.Tensor,
                relu: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden units of one block (L, B, H) and the pre-activation after it (B, H)."""
        L = Wb_n.shape[0]
        a = start.new_empty(L + 1, *start.shape)  # (L + 1, B, H)
        a[0] = start
        for i in range(L):
            torch.addcmul(a[i], xb_n[:, i, None], Wb_n[i], out=a[i + 1])
        end = a[L].clone()
        h = a[:L]
        return (h.relu_() if relu else h.sigmoid_()), end

    @staticmethod
    def forward(ctx, xo, Wo, c, Vo, bo, relu):
        B, D = xo.shape
        L, nb = _blocks(D)
        xb = _by_block(xo.t(), nb, L).permute(0, 2, 1).contiguous()  # (nb, B, L)
        Wb, Vb = _by_block(Wo, nb, L), _by_block(Vo, nb, L)  # (nb, L, H)
        starts = xo.new_empty(nb, B, Wo.shape[1])  # (nb, B, H): a at each block's first position
        logits = xo.new_empty(nb, L, B, 1)
        a = c.expand(B, -1)
        for n in range(nb):
            starts[n] = a
            h, a = _BinaryConditionals._hidden(starts[n], xb[n], Wb[n], relu)  # (L, B, H)
            torch.bmm(h, Vb[n][:, :, None], out=logits[n])  # (L, B, 1)
        ctx.save_for_backward(xb, Wb, Vb, starts)
        ctx.relu, ctx.D = relu, D
        return logits.view(nb * L, B)[:D].t() + bo  # (B, D)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dlogits):
        xb, Wb, Vb, starts = ctx.saved_tensors
        nb, L, H = Wb.shape
        D, B = ctx.D, xb.shape[1]
        dl = _by_block(dlogits.t().contiguous(), nb, L)  # (nb, L, B)
        dWb, dVb = torch.empty_like(Wb), torch.empty_like(Vb)
        later = dlogits.new_zeros(B, H)  # sum of dL/da over every position after the current one
        S = dlogits.new_empty(L, B, H)
        for n in reversed(range(nb)):
            h, _ = _BinaryConditionals._hidden(starts[n], xb[n], Wb[n], ctx.relu)  # (L, B, H)
            torch.bmm(dl[n][:, None, :], h, out=dVb[n][:, None, :])  # (L, 1, H)
            dh = dl[n][:, :, None] * Vb[n][:, None, :]  # (L, B, H)
            da = (torch.ops.aten.threshold_backward(dh, h, 0) if ctx.relu
                  else torch.ops.aten.sigmoid_backward(dh, h))  # (L, B, H)
            # x_j W_j feeds a_i for every i > j: W_j's gradient is x_j times their summed dL/da
            S[L - 1] = later
            for j in range(L - 1, 0, -1):
                torch.add(S[j], da[j], out=S[j - 1])
            later = S[0] + da[0]
            torch.bmm(xb[n].t()[:, None, :], S, out=dWb[n][:, None, :])  # (L, 1, H)
        dWo = dWb.view(nb * L, H)[:D]
        dVo = dVb.view(nb * L, H)[:D]
        return None, dWo, later.sum(0), dVo, dlogits.sum(0), None

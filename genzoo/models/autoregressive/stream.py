"""What the token-stream models (lstm, pixel_lstm, wavenet, transformer) share.

Each reads its data as one stream of T tokens of K values, left to right, and factorises
``p(x) = prod_t p(x_t | x_<t)``:

* sequences (T,) are read as they are;
* images (C, H, W), binary or categorical, in raster order with the channels of a pixel
  next to each other (``x.permute(0, 2, 3, 1)`` flattened), binary values as tokens 0/1.

The input stream is the data shifted right by one behind a learned start token ``BOS``
(embedding row K, one past the data's values), so input position t holds ``x_{t-1}``
and its output predicts ``x_t``. A subclass builds its network and implements
``stream_logits(tokens)`` (the logits (B, T, K) of every conditional, one pass) and the
three :class:`~genzoo.models.autoregressive.decoding.TokenSampler` methods; the likelihood, the loss,
sampling and completion are defined here once.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from genzoo.data.spec import DataSpec
from genzoo.models.autoregressive.decoding import TokenSampler
from genzoo.models.base import Batch, GenerativeModel
from genzoo.nn.modes import eval_mode


class TokenStreamModel(TokenSampler, GenerativeModel):
    """Base class: an exact autoregressive model over a stream of categorical tokens."""

    likelihood = "exact"
    accepts = (("sequence", "categorical"), ("image", "binary"), ("image", "categorical"))
    capabilities = ("complete",)
    family = "autoregressive"

    def __init__(self, config: Any, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.T = spec.dim  # tokens per example
        self.K = int(spec.num_values)  # type: ignore[arg-type]
        self.bos = self.K  # the start token: one embedding row past the data's values

    def stream_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, K) of ``p(x_t | x_<t)`` for every position of ``tokens`` (B, T)."""
        raise NotImplementedError

    # ---- data <-> token streams ----------------------------------------------------
    def with_bos(self, tokens: torch.Tensor) -> torch.Tensor:
        """The input stream [BOS, x_0 .. x_{L-1}] (B, L+1) for tokens (B, L)."""
        bos = torch.full((tokens.shape[0], 1), self.bos, dtype=torch.long, device=tokens.device)
        return torch.cat([bos, tokens.long()], 1)

    def to_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Data (B, *shape) -> token stream (B, T) int64 (images: raster order, channels
        of a pixel interleaved)."""
        if self.spec.kind == "image":
            x = x.permute(0, 2, 3, 1)
        return x.reshape(x.shape[0], -1).long()

    def from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token stream (B, T) -> data (B, *shape) in the data's dtype."""
        if self.spec.kind == "image":
            C, H, W = self.spec.shape
            tokens = tokens.reshape(-1, H, W, C).permute(0, 3, 1, 2)
        return tokens.reshape(-1, *self.spec.shape).contiguous().to(self.spec.dtype)

    # ---- the contract --------------------------------------------------------------
    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """sum_t log p(x_t | x_<t), shape (B,), in one pass."""
        tokens = self.to_tokens(x.to(self.device))  # (B, T)
        logits = self.stream_logits(tokens)  # (B, T, K)
        return F.log_softmax(logits.float(), -1).gather(-1, tokens[..., None]).squeeze(-1).sum(1)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Mean negative log-likelihood per example (nats); logs bits per dimension."""
        nll = -self._log_prob(batch["x"]).mean()
        return {"loss": nll, "bits_per_dim": nll.detach() / (self.T * math.log(2))}

    def log_prob(self, x: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """Exact log p(x) in nats, shape (B,) (dropout off)."""
        with eval_mode(self):
            return self._log_prob(x)

    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None, cached: bool = True) -> torch.Tensor:
        """Draw ``n`` examples (n, *spec.shape), one token at a time.

        ``cached=True`` computes only what each new token needs (the model's cache);
        ``cached=False`` recomputes the network over the whole prefix for every token
        (slow; the same random numbers, hence the same samples).
        """
        self.sample_condition(n, condition)
        return self.from_tokens(self.generate(n, self.T, generator=generator, cached=cached))

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, *,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Fill the values where ``mask`` is False in the stream's order (raster for
        images), keeping observed ones. Exact draws from ``p(missing | observed)`` when
        the observed values come first in that order (see
        :meth:`~genzoo.models.autoregressive.decoding.TokenSampler.fill_left_to_right`)."""
        flat, observed = self.flat_for_completion(x, mask)
        shape = (-1, *self.spec.shape)
        tokens = self.to_tokens(flat.view(shape))
        seen = self.to_tokens(observed.view(shape)).bool()
        return self.from_tokens(self.fill_left_to_right(tokens, seen, generator=generator))

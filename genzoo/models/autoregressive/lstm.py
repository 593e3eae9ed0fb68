"""LSTM language model over categorical sequences (characters or tokens).

Hochreiter & Schmidhuber (1997), "Long Short-Term Memory", Neural Computation 9(8);
used as a generative sequence model by Graves (2013), "Generating Sequences With
Recurrent Neural Networks", arXiv:1308.0850.

The chain rule ``p(x) = prod_t p(x_t | x_<t)`` with every conditional read off a stacked
LSTM: token ``t`` is predicted from the hidden state after reading ``x_0 .. x_{t-1}``.
Training is teacher forcing: the input is the sequence shifted right by one behind a
learned start token ``BOS`` (embedding index K, one past the data's K values), so
``log p(x)`` is exact and costs one pass. Sampling carries the LSTM state ``(h, c)``
from token to token, one LSTM step per new token (O(T)); ``generate(cached=False)`` is
the naive O(T^2) path that re-reads the whole prefix for every token, kept to check
that the carried state changes nothing (same generator, same tokens).

``generate`` also takes a prompt and the usual decoding controls: ``temperature``
(logits / T; 0 is greedy), ``top_k`` (keep the k most likely tokens) and ``top_p``
(nucleus sampling, Holtzman et al. 2020: keep the smallest set of most likely tokens
whose probability reaches p), applied in that order.
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
from genzoo.nn.modes import eval_mode

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (layers, B, hidden)


@dataclass
class LSTMConfig:
    """LSTM hyperparameters.

    Args:
        hidden: width of the LSTM state (h and c) in every layer.
        layers: number of stacked LSTM layers.
        dropout: dropout on the embeddings, between LSTM layers and before the output
            layer, during training only (log_prob and sampling never drop).
        embed: width of the token embeddings.
    """

    hidden: int = 128
    layers: int = 2
    dropout: float = 0.0
    embed: int = 64

    def validate(self) -> None:
        positive(self.hidden, "hidden")
        positive(self.layers, "layers")
        positive(self.embed, "embed")
        if not 0.0 <= self.dropout < 1.0:
            raise GenzooError(f"bad value {self.dropout!r} for dropout: must be in [0, 1)")


def filter_logits(logits: torch.Tensor, *, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Set the logits (..., K) of tokens outside the top-k / nucleus to -inf.

    ``top_k`` keeps the k largest logits (ties broken by index). ``top_p`` then keeps the
    smallest set of most likely tokens whose probability reaches ``p``: a token stays if
    the tokens more likely than it hold less than ``p``. The most likely token always stays.
    """
    K = logits.shape[-1]
    if top_k is not None and top_k < K:
        keep = torch.zeros_like(logits, dtype=torch.bool)
        keep.scatter_(-1, logits.sort(dim=-1, descending=True, stable=True).indices[..., :top_k], True)
        logits = logits.masked_fill(~keep, float("-inf"))
    if top_p is not None and top_p < 1.0:
        probs, order = F.softmax(logits.double(), -1).sort(dim=-1, descending=True, stable=True)
        before = probs.cumsum(-1) - probs  # mass of the strictly more likely tokens
        drop_sorted = before >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@register
class LSTM(GenerativeModel):
    """Stacked LSTM over categorical sequences; exact ``log_prob``, O(T) sampling."""

    name = "lstm"
    Config = LSTMConfig
    likelihood = "exact"
    accepts = (("sequence", "categorical"),)
    capabilities = ("complete",)
    family = "autoregressive"

    def __init__(self, config: LSTMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.T = spec.shape[0]
        self.K = int(spec.num_values)
        self.bos = self.K  # the start token: one embedding row past the data's values
        self.embedding = nn.Embedding(self.K + 1, config.embed)
        self.rnn = nn.LSTM(config.embed, config.hidden, num_layers=config.layers, batch_first=True,
                           dropout=config.dropout if config.layers > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, self.K)

    # ---- network -----------------------------------------------------------------
    def forward(self, inputs: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits (B, L, K) of the token after each input token (B, L), and the new state."""
        e = self.drop(self.embedding(inputs))  # (B, L, embed)
        h, state = self.rnn(e, state)  # (B, L, hidden)
        return self.head(self.drop(h)), state

    def _with_bos(self, x: torch.Tensor) -> torch.Tensor:
        """[BOS, x_0 .. x_{L-1}] (B, L+1)."""
        bos = torch.full((x.shape[0], 1), self.bos, dtype=torch.long, device=x.device)
        return torch.cat([bos, x.long()], 1)

    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """sum_t log p(x_t | x_<t), shape (B,); teacher forcing in one pass."""
        x = x.long()
        logits, _ = self(self._with_bos(x[:, :-1]))  # (B, T, K): position t sees x_<t
        return F.log_softmax(logits, -1).gather(-1, x[..., None]).squeeze(-1).sum(1)

    # ---- the contract --------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Mean negative log-likelihood per sequence (nats); logs bits per character."""
        nll = -self._log_prob(batch["x"]).mean()
        return {"loss": nll, "bits_per_dim": nll.detach() / (self.T * math.log(2))}

    def log_prob(self, x: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """Exact log p(x) in nats, shape (B,), for x (B, T) int64 (dropout off)."""
        with eval_mode(self):
            return self._log_prob(x.to(self.device))

    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` sequences (n, T) from the model, one LSTM step per token."""
        self.sample_condition(n, condition)
        return self.generate(n, self.T, generator=generator)

    # ---- generation ----------------------------------------------------------------
    def _choose(self, logits: torch.Tensor, temperature: float, top_k: int | None,
                top_p: float | None, generator: torch.Generator | None) -> torch.Tensor:
        """Next tokens (n,) from last-position logits (n, K)."""
        if temperature == 0:
            return logits.argmax(-1)
        logits = filter_logits(logits / temperature, top_k=top_k, top_p=top_p)
        return rand.categorical(logits, generator=generator)

    @torch.no_grad()
    def generate(self, n: int, length: int, *, prompt: torch.Tensor | None = None,
                 temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None, cached: bool = True) -> torch.Tensor:
        """Continue ``prompt`` by ``length`` tokens; returns (n, P + length) int64 ids.

        Args:
            n: number of sequences.
            length: new tokens to draw (may exceed the training length T).
            prompt: (P,) token ids shared by all sequences, or (n, P); None: start from BOS.
            temperature: divides the logits; 0 takes the most likely token (greedy).
            top_k: keep only the k most likely tokens at each step.
            top_p: keep the smallest set of most likely tokens with probability >= top_p.
            generator: CPU generator, the only source of randomness (one (n, K) draw per token).
            cached: carry the LSTM state (h, c) from step to step (O(length)); False
                re-runs the LSTM over the whole prefix for every token (O(length^2)),
                drawing the same random numbers, hence the same tokens.
        """
        if length < 0:
            raise GenzooError(f"bad value {length!r} for length: must be >= 0")
        positive(temperature, "temperature", allow_zero=True)
        if top_k is not None:
            positive(top_k, "top_k")
        if top_p is not None and not 0.0 < top_p <= 1.0:
            raise GenzooError(f"bad value {top_p!r} for top_p: must be in (0, 1]")
        seq = self._prompt(n, prompt)  # (n, P)
        with eval_mode(self):
            if cached:
                logits, state = self(self._with_bos(seq))  # read BOS and the prompt once
                for i in range(length):
                    tok = self._choose(logits[:, -1], temperature, top_k, top_p, generator)  # (n,)
                    seq = torch.cat([seq, tok[:, None]], 1)
                    if i < length - 1:
                        logits, state = self(tok[:, None], state)  # one step, state carried
            else:
                for _ in range(length):
                    logits, _ = self(self._with_bos(seq))  # the whole prefix again
                    tok = self._choose(logits[:, -1], temperature, top_k, top_p, generator)
                    seq = torch.cat([seq, tok[:, None]], 1)
        return seq

    def _prompt(self, n: int, prompt: torch.Tensor | None) -> torch.Tensor:
        """The prompt as (n, P) int64 on the model's device (P = 0 without one)."""
        if prompt is None:
            return torch.zeros(n, 0, dtype=torch.long, device=self.device)
        p = torch.as_tensor(prompt).to(self.device)
        if p.dtype.is_floating_point or p.dtype == torch.bool:
            raise GenzooError(f"prompt must hold integer token ids, got dtype {p.dtype}")
        p = p.long()
        if p.dim() == 1:
            p = p.expand(n, -1)
        if p.dim() != 2 or p.shape[0] != n:
            raise GenzooError(f"prompt must have shape (P,) or ({n}, P), got {tuple(p.shape)}")
        if p.numel() and (int(p.min()) < 0 or int(p.max()) >= self.K):
            raise GenzooError(f"prompt token ids must be in [0, {self.K}), got {int(p.min())}..{int(p.max())}")
        return p

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, *,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Fill the positions where ``mask`` is False left to right, keeping observed ones.

        Each missing token is drawn from ``p(x_t | x_<t)`` given everything to its left
        (observed or already filled), carrying the LSTM state. An exact draw from
        ``p(missing | observed)`` when the observed positions form a prefix; otherwise
        observed tokens to the right of a gap do not inform the draws before them.
        """
        if tuple(mask.shape) != tuple(x.shape):
            raise GenzooError(f"mask shape {tuple(mask.shape)} does not match x shape {tuple(x.shape)}")
        if tuple(x.shape[1:]) != self.spec.shape:
            raise GenzooError(f"expected sequences of shape {self.spec.shape}, got {tuple(x.shape[1:])}")
        observed = mask.to(device=self.device, dtype=torch.bool)  # (B, T)
        # unobserved entries may hold anything (e.g. -1): zero them so embedding works
        x = torch.where(observed, x.to(self.device).long(), torch.zeros((), dtype=torch.long, device=self.device))
        inp = torch.full((x.shape[0], 1), self.bos, dtype=torch.long, device=self.device)
        state: State | None = None
        with eval_mode(self):
            for t in range(self.T):
                logits, state = self(inp, state)  # (B, 1, K): p(x_t | x_<t)
                free = ~observed[:, t]
                if bool(free.any()):
                    v = rand.categorical(logits[:, -1], generator=generator)
                    x[:, t] = torch.where(free, v, x[:, t])
                inp = x[:, t:t + 1]
        return x

"""Token-by-token generation shared by the autoregressive sequence models.

A model that reads a sequence left to right (``lstm``, ``wavenet``, ``transformer``,
``pixel_lstm``) mixes in :class:`TokenSampler` and implements three small methods:

* ``start(prefix, n)`` reads a prefix (n, L), possibly empty, and returns the logits
  (n, K) of the next token and a cache (the LSTM state, WaveNet's per-layer queues,
  the Transformer's keys and values);
* ``step(tokens, cache)`` feeds one new token per sequence (n,) and returns the next
  logits and the updated cache: the cheap path, one position of work;
* ``next_logits(prefix, n)`` recomputes the next logits from the whole prefix: the
  naive path, kept to check that the cache changes nothing.

:meth:`TokenSampler.generate` (prompts, temperature, top-k, top-p, cached or naive) and
:meth:`TokenSampler.fill_left_to_right` (completion) are written once on top of them.
Both draw exactly one ``rand.categorical`` per new token, so with the same generator
the cached and naive paths give the same tokens.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from genzoo.config import positive
from genzoo.errors import GenzooError
from genzoo.nn import rand
from genzoo.nn.modes import eval_mode


def filter_logits(logits: torch.Tensor, *, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Set the logits (..., K) of tokens outside the top-k / nucleus to -inf.

    ``top_k`` keeps the k largest logits (ties broken by index). ``top_p`` then keeps the
    smallest set of most likely tokens whose probability reaches ``p`` (nucleus sampling,
    Holtzman et al. 2020): a token stays if the tokens more likely than it hold less than
    ``p``. The most likely token always stays.
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


def check_decoding(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Refuse decoding settings that mean nothing (GenzooError, one line)."""
    positive(temperature, "temperature", allow_zero=True)
    if top_k is not None:
        positive(top_k, "top_k")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise GenzooError(f"bad value {top_p!r} for top_p: must be in (0, 1]")


def choose(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Next tokens (n,) from logits (n, K): greedy at temperature 0, else one seeded draw."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = filter_logits(logits / temperature, top_k=top_k, top_p=top_p)
    return rand.categorical(logits, generator=generator)


def prompt_ids(prompt: torch.Tensor | None, n: int, K: int, device: torch.device) -> torch.Tensor:
    """A prompt (P,) or (n, P) of token ids as (n, P) int64 on ``device`` (P = 0 if None)."""
    if prompt is None:
        return torch.zeros(n, 0, dtype=torch.long, device=device)
    p = torch.as_tensor(prompt).to(device)
    if p.dtype.is_floating_point or p.dtype == torch.bool:
        raise GenzooError(f"prompt must hold integer token ids, got dtype {p.dtype}")
    p = p.long()
    if p.dim() == 1:
        p = p.expand(n, -1)
    if p.dim() != 2 or p.shape[0] != n:
        raise GenzooError(f"prompt must have shape (P,) or ({n}, P), got {tuple(p.shape)}")
    if p.numel() and (int(p.min()) < 0 or int(p.max()) >= K):
        raise GenzooError(f"prompt token ids must be in [0, {K}), got {int(p.min())}..{int(p.max())}")
    return p


class TokenSampler:
    """Mixin for models over token sequences of K values: cached and naive generation.

    The class using it sets ``self.K`` and implements ``start``, ``step`` and
    ``next_logits`` (see the module docstring). ``max_length`` (None: unlimited) is the
    longest prompt + generation the model can produce; models with a fixed context
    slide it inside ``step``/``next_logits`` or lower this limit.
    """

    K: int
    max_length: int | None = None

    def start(self, prefix: torch.Tensor, n: int) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def step(self, tokens: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def next_logits(self, prefix: torch.Tensor, n: int) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def generate(self, n: int, length: int, *, prompt: torch.Tensor | None = None,
                 temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None, cached: bool = True) -> torch.Tensor:
        """Continue ``prompt`` by ``length`` tokens; returns (n, P + length) int64 ids.

        Args:
            n: number of sequences.
            length: new tokens to draw.
            prompt: (P,) token ids shared by all sequences, or (n, P); None: start afresh.
            temperature: divides the logits; 0 takes the most likely token (greedy).
            top_k: keep only the k most likely tokens at each step.
            top_p: keep the smallest set of most likely tokens with probability >= top_p.
            generator: CPU generator, the only source of randomness (one draw per token).
            cached: compute only the newest position at each step (the fast path); False
                recomputes everything from the whole prefix for every token, drawing the
                same random numbers, hence the same tokens.
        """
        if length < 0:
            raise GenzooError(f"bad value {length!r} for length: must be >= 0")
        check_decoding(temperature, top_k, top_p)
        seq = prompt_ids(prompt, n, self.K, self.device)  # type: ignore[attr-defined]
        if self.max_length is not None and seq.shape[1] + length > self.max_length:
            raise GenzooError(f"prompt ({seq.shape[1]} tokens) + length ({length}) exceeds the "
                              f"{self.max_length} tokens this model can generate")
        out = [seq]
        with eval_mode(self):  # type: ignore[arg-type]
            logits, cache = self.start(seq, n) if cached and length else (None, None)
            for i in range(length):
                if not cached:
                    logits = self.next_logits(torch.cat(out, 1), n)
                tok = choose(logits, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
                out.append(tok[:, None])
                if cached and i < length - 1:
                    logits, cache = self.step(tok, cache)
        return torch.cat(out, 1)

    @torch.no_grad()
    def fill_left_to_right(self, x: torch.Tensor, observed: torch.Tensor, *,
                           generator: torch.Generator | None = None) -> torch.Tensor:
        """Fill the positions of ``x`` (B, T) where ``observed`` is False, left to right.

        Each missing token is drawn from ``p(x_t | x_<t)`` given everything to its left,
        observed or already filled: an exact draw from ``p(missing | observed)`` when the
        observed positions form a prefix; otherwise observed tokens to the right of a gap
        do not inform the draws before them. Observed tokens are returned unchanged.
        """
        B, T = x.shape
        x = torch.where(observed, x.long(), torch.zeros((), dtype=torch.long, device=x.device))
        with eval_mode(self):  # type: ignore[arg-type]
            logits, cache = self.start(x[:, :0], B)
            for t in range(T):
                free = ~observed[:, t]
                if bool(free.any()):
                    x[:, t] = torch.where(free, rand.categorical(logits, generator=generator), x[:, t])
                if t < T - 1:
                    logits, cache = self.step(x[:, t], cache)
        return x

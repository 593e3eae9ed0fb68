"""Transformer: a decoder-only, causally masked self-attention model (GPT style).

Vaswani et al. (2017), "Attention Is All You Need", NeurIPS; the decoder-only language
model of Radford et al. (2018), "Improving Language Understanding by Generative
Pre-Training" (GPT), with the pre-LayerNorm blocks of Radford et al. (2019), "Language
Models are Unsupervised Multitask Learners" (GPT-2).

``p(x) = prod_t p(x_t | x_<t)`` over a stream of tokens. The input is the data shifted
right by one behind a learned start token ``BOS`` (embedding row K, one past the data's
K values), so position t of the input holds ``x_{t-1}`` and its output predicts
``x_t``. Each input is a token embedding plus a learned position embedding; each block
is ``x + attn(LN(x))`` then ``x + MLP(LN(x))`` (causal multi-head attention, a GELU
MLP); a final LayerNorm and a linear head (optionally tied to the token embeddings)
give the K logits. ``log_prob`` is exact and costs one pass.

Categorical sequences (T,) are read as they are, images as pixel streams in raster
order (:mod:`genzoo.models.autoregressive.stream`, which also holds the likelihood,
the loss, sampling and completion shared with the other stream models).

Context and windowing. The model attends over at most ``context`` input positions
(BOS included; default: the data length, so every conditional of the data sees its
whole prefix). A longer stream is read through a window that jumps: once the window
is full, it moves forward to keep only its last ``context // 2`` tokens and reads on
from there, restarting the position numbering at 0. Which window predicts stream
position p is a fixed function of p (:meth:`Transformer._window_start`), used alike by
``log_prob`` (overlapping windows in one batched pass), by the cached sampler (it
re-fills its key/value cache from the kept tokens at each jump), by the naive sampler
(it recomputes the window of the last position) and for prompts longer than the
context (slid the same way). So ``log_prob`` is the exact likelihood of what sampling
draws, for any length.

Sampling: the cached path keeps each layer's keys and values in preallocated
``(n, heads, context, head_dim)`` tensors and computes one new position per token;
``cached=False`` recomputes the whole window for every token. Both run the same
attention code and draw the same random numbers, hence the same tokens. Prompts,
temperature, top-k and top-p come from :mod:`genzoo.models.autoregressive.decoding`.
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
from genzoo.models.autoregressive.stream import TokenStreamModel
from genzoo.models.registry import register


@dataclass
class TransformerConfig:
    """Transformer hyperparameters.

    Args:
        layers: number of blocks.
        heads: attention heads per block; must divide ``width``.
        width: model (residual stream) width d_model.
        mlp_ratio: hidden width of each MLP as a multiple of ``width`` (4 in GPT).
        dropout: dropout on the embeddings, the attention weights and each residual
            branch, during training only (log_prob and sampling never drop).
        context: input positions the model attends over, BOS included (None: the data
            length T, or C*H*W for images). Longer streams are read by jumping windows.
        tie_weights: share the output head's weights with the token embeddings.
    """

    layers: int = 2
    heads: int = 4
    width: int = 64
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    context: int | None = None
    tie_weights: bool = False

    def validate(self) -> None:
        positive(self.layers, "layers")
        positive(self.heads, "heads")
        positive(self.width, "width")
        positive(self.mlp_ratio, "mlp_ratio")
        if self.width % self.heads:
            raise GenzooError(f"bad value {self.width!r} for width: must be a multiple of heads ({self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise GenzooError(f"bad value {self.dropout!r} for dropout: must be in [0, 1)")
        if self.context is not None:
            positive(self.context, "context")


class KVCache:
    """Per-layer keys and values of the current window, for cached generation.

    ``keys[i]``/``values[i]`` are (n, heads, context, head_dim), allocated on first use
    (in the dtype the layer computes in); ``length`` positions are filled. ``tokens``
    (n, context) holds the window's input tokens, to re-fill the cache when it jumps.
    """

    def __init__(self, layers: int, n: int, context: int, device: torch.device) -> None:
        self.keys: list[torch.Tensor | None] = [None] * layers
        self.values: list[torch.Tensor | None] = [None] * layers
        self.tokens = torch.zeros(n, context, dtype=torch.long, device=device)
        self.length = 0
        self.context = context

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor, pos0: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (n, heads, L, head_dim) at positions pos0.. and return all keys and
        values so far, (n, heads, pos0 + L, head_dim)."""
        if self.keys[layer] is None:
            n, h, _, d = k.shape
            self.keys[layer] = k.new_empty(n, h, self.context, d)
            self.values[layer] = v.new_empty(n, h, self.context, d)
        K, V = self.keys[layer], self.values[layer]
        end = pos0 + k.shape[2]
        K[:, :, pos0:end] = k  # type: ignore[index]
        V[:, :, pos0:end] = v  # type: ignore[index]
        return K[:, :, :end], V[:, :, :end]  # type: ignore[index]


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where each position attends to itself and the past."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.dropout = dropout
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                pos0: int = 0) -> torch.Tensor:
        """x (B, L, width) at window positions pos0..pos0+L-1 -> (B, L, width).

        With a cache, the new keys/values are stored and the queries attend to every
        cached position; new queries then come either all at once from position 0
        (prefill) or one at a time (a step), so the causal mask is needed only for L > 1.
        """
        B, L, W = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (B, h, L, hd)
        if cache is not None:
            if L > 1 and pos0:
                raise ValueError("a cache takes either a prefill from position 0 or one token at a time")
            k, v = cache.write(layer, k, v, pos0)  # (B, h, pos0 + L, hd)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=L > 1,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.drop(self.proj(y.transpose(1, 2).reshape(B, L, W)))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: attention then MLP, each as a residual branch."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        hidden = max(1, round(mlp_ratio * width))
        self.ln1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads, dropout)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                pos0: int = 0) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache, layer, pos0)
        return x + self.mlp(self.ln2(x))


@register
class Transformer(TokenStreamModel):
    """Decoder-only causal transformer over token sequences or pixel streams; exact ``log_prob``."""

    name = "transformer"
    Config = TransformerConfig

    def __init__(self, config: TransformerConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.context = config.context or self.T
        W = config.width
        self.token_embedding = nn.Embedding(self.K + 1, W)
        self.position_embedding = nn.Embedding(self.context, W)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(W, config.heads, config.mlp_ratio, config.dropout)
                                    for _ in range(config.layers))
        self.ln_f = nn.LayerNorm(W)
        if config.tie_weights:
            self.head = None
            self.head_bias = nn.Parameter(torch.zeros(self.K))
        else:
            self.head = nn.Linear(W, self.K)
        self._init_weights()

    def _init_weights(self) -> None:
        # GPT-2: N(0, 0.02) everywhere, the residual output projections scaled down by
        # sqrt(2 * layers) so the residual stream's variance does not grow with depth.
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        for b in self.blocks:
            for w in (b.attn.proj.weight, b.mlp[2].weight):
                nn.init.normal_(w, std=0.02 / math.sqrt(2 * self.config.layers))

    # ---- network -----------------------------------------------------------------
    def forward(self, inputs: torch.Tensor, *, pos0: int = 0, cache: KVCache | None = None) -> torch.Tensor:
        """Logits (B, L, K) of the token after each input token (B, L) at window
        positions pos0..pos0+L-1 (a cache stores the keys/values it computes)."""
        L = inputs.shape[1]
        h = self.token_embedding(inputs) + self.position_embedding.weight[pos0:pos0 + L]  # (B, L, W)
        h = self.drop(h)
        for i, block in enumerate(self.blocks):
            h = block(h, cache, i, pos0)
        h = self.ln_f(h)
        if self.head is None:
            return F.linear(h, self.token_embedding.weight[:self.K], self.head_bias)
        return self.head(h)

    def _window_start(self, p: int) -> int:
        """Stream index where the window that holds stream position p begins.

        The first window is [0, context); each jump happens when a window is full and
        keeps its last h = context // 2 tokens, so the k-th jump (k >= 1) happens at
        p_k = context + (k - 1)(context - h) and starts the window at p_k - h.
        """
        C = self.context
        if p < C:
            return 0
        h = C // 2
        k = (p - C) // (C - h)
        return C + k * (C - h) - h

    def stream_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, K) of p(x_t | x_<t) for token streams (B, T), windows included."""
        s = self.with_bos(tokens[:, :-1])  # (B, T): position t holds x_{t-1}
        B, T = s.shape
        C = self.context
        if T <= C:
            return self(s)
        # All windows at once: window k covers [a_k, a_k + C) and predicts the positions
        # from its jump on (all of them for the first). Windows overhanging the end are
        # padded by repeating the last token; causality keeps the padding out of the
        # positions that are kept.
        h = C // 2
        n_jumps = -(-(T - C) // (C - h))
        starts = torch.tensor([0] + [C + k * (C - h) - h for k in range(n_jumps)], device=s.device)  # (n_win,)
        pos = starts[:, None] + torch.arange(C, device=s.device)  # (n_win, C)
        keep = pos < T
        keep[1:, :h] = False  # positions before a jump belong to the previous window
        logits = self(s[:, pos.clamp(max=T - 1)].reshape(-1, C)).view(B, len(starts), C, self.K)
        return logits[:, keep]  # (B, T, K), windows in order

    # ---- generation (TokenSampler) -------------------------------------------------
    def _prefill(self, window: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, KVCache]:
        """Read a whole window (n, L) into an emptied cache; logits (n, K) of the next token."""
        L = window.shape[1]
        logits = self(window, pos0=0, cache=cache)[:, -1]
        cache.tokens[:, :L] = window
        cache.length = L
        return logits, cache

    def start(self, prefix: torch.Tensor, n: int) -> tuple[torch.Tensor, KVCache]:
        """Read BOS and the prefix (n, P), the window of its last position only."""
        s = self.with_bos(prefix)  # (n, P + 1)
        cache = KVCache(len(self.blocks), n, self.context, s.device)
        return self._prefill(s[:, self._window_start(s.shape[1] - 1):], cache)

    def step(self, tokens: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, KVCache]:
        """Feed one new token per sequence (n,): one position of work, or a jump of the
        window (re-reading its last context // 2 tokens) when it is full."""
        L = cache.length
        if L == self.context:
            keep = cache.tokens[:, L - self.context // 2:]
            return self._prefill(torch.cat([keep, tokens[:, None]], 1), cache)
        logits = self(tokens[:, None], pos0=L, cache=cache)[:, -1]
        cache.tokens[:, L] = tokens
        cache.length = L + 1
        return logits, cache

    def next_logits(self, prefix: torch.Tensor, n: int) -> torch.Tensor:
        """Naive: recompute the whole window of the newest position from scratch."""
        s = self.with_bos(prefix)
        return self(s[:, self._window_start(s.shape[1] - 1):])[:, -1]

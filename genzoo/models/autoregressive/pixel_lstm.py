"""Pixel LSTMs: an image read as a sequence by a raster-scan LSTM, the Row LSTM or the
Diagonal BiLSTM.

van den Oord, Kalchbrenner & Kavukcuoglu (2016), "Pixel Recurrent Neural Networks", ICML.

An image is a sequence of D = H*W*C values in raster order with the channels of a pixel
interleaved: position ``t = (i*W + j)*C + c`` (``x.permute(0, 2, 3, 1).reshape(B, -1)``),
and ``p(x) = prod_t p(x_t | x_<t)`` with every conditional a softmax over the K values
(binary images are K = 2, sampled as float 0/1). Colour images (C = 3) are generated
R -> G -> B within a pixel (paper section 3.4); a palette image is one channel, one token
per pixel. ``variant`` picks how the conditionals are computed:

* ``raster``: the simplest pixel LSTM. A stacked LSTM reads the values one at a time;
  the input at position t is the embedding of the previous value x_{t-1} (a start token
  at t = 0) plus learned embeddings of the row, column and channel of t, so the network
  knows where in the image it is. x_t is predicted from the state after reading x_<t
  (the channel order is the reading order). ``nn.LSTM`` runs the recurrence: on CPU it
  calls oneDNN's LSTM kernel, which already projects the inputs of all positions in one
  matmul and does one fused gate matmul per step; a hand-fused LSTM was no faster
  (``benchmarks/pixel_lstm_speed.py``, docs/results.md).
* ``row``: the paper's Row LSTM (section 3.1). Rows are processed top to bottom, a whole
  row at once; for row i of every layer

      [o, f, i, g] = sigma(K_ss * h_{i-1} + K_is * x_i)      (paper eq. 3; g uses tanh)
      c_i = f . c_{i-1} + i . g,    h_i = o . tanh(c_i)

  where ``K_ss * h_{i-1}`` is a 1-D convolution (width ``kernel``) over the previous row's
  hidden states and ``K_is * x_i`` a masked 1-D convolution over the layer's input row:
  pixel j sees the pixels left of it only (mask A in the first layer, whose input is the
  image; mask B, the pixel itself included, in later layers, whose input is the layer
  below). The first layer's K_is also covers the image row above, unmasked (the role of
  the paper's first 7x7 mask-A convolution): without it the last pixel of every row
  would reach no later pixel at all. Each pixel sees a triangle of the rows above
  through the states. Layers after the first add their input back (residual
  connections, as in the paper).
* ``diagonal``: the paper's Diagonal BiLSTM (section 3.2). A ``kernel`` x ``kernel``
  mask-A convolution of the one-hot image (the paper's first layer, 7x7 there) gives the
  first map; then each layer (:class:`~genzoo.models.autoregressive.pixel_rnn_layers.DiagonalBiLSTMLayer`)
  skews its input map (row i shifted right by i), runs an LSTM column by column (input-to-state
  a mask-B 1x1 convolution, state-to-state a 2x1 convolution over the previous column: the
  pixel's left neighbour and the one above), unskews, and adds the same LSTM run right to
  left (on the flipped map) shifted down one row, plus its input (residual). The
  receptive field of every pixel is then the whole of the image before it.

In ``row`` and ``diagonal`` the maps of C-channel images form C groups of units: at the
centre pixel group c sees the input channels < c (mask A) or the groups <= c (mask B),
and the logits of channel c come from groups <= c.

All give an exact ``log_prob`` in one pass (D LSTM steps for ``raster``, H row steps per
layer for ``row``, H + W - 1 column steps per layer for ``diagonal``). Generation uses
:class:`genzoo.models.autoregressive.decoding.TokenSampler`: the cached path carries the
LSTM state (h, c) value to value (``raster``), or computes only the LSTM cells of each
layer at the new pixel from cached neighbouring states (``row``, ``diagonal``; the
diagonal's right-to-left direction runs once per finished row); ``cached=False``
recomputes the whole network for every new value. Both draw the same random numbers,
hence the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.autoregressive.pixel_rnn_layers import (
    DiagonalBiLSTMLayer,
    MaskedConv2d,
    RowLSTMLayer,
)
from genzoo.models.autoregressive.stream import TokenStreamModel
from genzoo.models.registry import register

State = tuple[torch.Tensor, torch.Tensor]  # (h, c) of nn.LSTM, each (layers, B, hidden)


@dataclass
class PixelLSTMConfig:
    """Pixel LSTM hyperparameters.

    Args:
        variant: ``raster`` (an LSTM over the values in raster order), ``row`` (the
            paper's Row LSTM, one row of the image per step) or ``diagonal`` (the
            paper's Diagonal BiLSTM, one diagonal per step in two directions).
        hidden: width of the LSTM state (h and c) in every layer; for ``row`` and
            ``diagonal`` on C-channel images a multiple of C (one group of units per channel).
        layers: number of stacked LSTM layers.
        embed: width of the value and position embeddings (``raster`` only).
        kernel: width of the Row LSTM's input-to-state and state-to-state convolutions
            (``row``; the paper uses 3), or side of the first mask-A convolution
            (``diagonal``; the paper uses 7); odd, >= 3.
        dropout: dropout between layers and before the output layer (``raster`` also on
            the embeddings), in training only; log_prob and sampling never drop.
    """

    variant: Literal["raster", "row", "diagonal"] = "raster"
    hidden: int = 64
    layers: int = 2
    embed: int = 32
    kernel: int = 3
    dropout: float = 0.0

    def validate(self) -> None:
        choice(self.variant, ("raster", "row", "diagonal"), "variant")
        positive(self.hidden, "hidden")
        positive(self.layers, "layers")
        positive(self.embed, "embed")
        if self.kernel < 3 or self.kernel % 2 == 0:
            raise GenzooError(f"bad value {self.kernel!r} for kernel: must be odd and >= 3")
        if not 0.0 <= self.dropout < 1.0:
            raise GenzooError(f"bad value {self.dropout!r} for dropout: must be in [0, 1)")


@dataclass
class RowCache:
    """What cached Row LSTM sampling keeps: position ``t`` whose logits were returned last,
    and per layer the input rows it sees ``inputs`` (n, cin, rows, W + 2p), zero padded and
    the current row last, the hidden states of the row above (``h_above`` (n, hidden, W + 2p),
    ``c_above`` (n, hidden, W)) and those of the current row computed so far."""

    t: int
    inputs: list[torch.Tensor]
    h_above: list[torch.Tensor]
    c_above: list[torch.Tensor]
    h_row: list[torch.Tensor]
    c_row: list[torch.Tensor]


@dataclass
class DiagonalCache:
    """What cached Diagonal BiLSTM sampling keeps: position ``t`` whose logits were returned
    last, the one-hot image so far ``image`` (n, C*K, H + 2p, W + 2p), zero padded, and per
    layer, each (n, W, hidden): the layer's inputs in the current row (``inputs``), the
    forward direction's h of the row above (``h_above``) and h, c of the current row so far
    (``h_row``, ``c_row``), and the backward direction's states of the row above
    (``back_above``: shifted down, they are that direction's output in the current row)."""

    t: int
    image: torch.Tensor
    inputs: list[torch.Tensor]
    h_above: list[torch.Tensor]
    h_row: list[torch.Tensor]
    c_row: list[torch.Tensor]
    back_above: list[torch.Tensor]


Cache = RowCache | DiagonalCache | tuple[State, int]


@register
class PixelLSTM(TokenStreamModel):
    """Raster-scan pixel LSTM, Row LSTM or Diagonal BiLSTM over binary/categorical images;
    exact ``log_prob``."""

    name = "pixel_lstm"
    Config = PixelLSTMConfig
    accepts = (("image", "binary"), ("image", "categorical"))

    def __init__(self, config: PixelLSTMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.C, self.H, self.W = C, H, W = spec.shape
        self.D = self.max_length = spec.dim
        K = self.K
        hid = config.hidden
        self.drop = nn.Dropout(config.dropout)
        t = torch.arange(self.D)
        self.register_buffer("pos_row", t // (W * C), persistent=False)  # (D,) row of position t
        self.register_buffer("pos_col", (t // C) % W, persistent=False)
        self.register_buffer("pos_chan", t % C, persistent=False)
        if config.variant == "raster":
            self.value_embed = nn.Embedding(K + 1, config.embed)
            self.row_embed = nn.Embedding(H, config.embed)
            self.col_embed = nn.Embedding(W, config.embed)
            self.chan_embed = nn.Embedding(C, config.embed)
            self.rnn = nn.LSTM(config.embed, hid, num_layers=config.layers, batch_first=True,
                               dropout=config.dropout if config.layers > 1 else 0.0)
            self.head = nn.Linear(hid, K)
            return
        if hid % C:
            raise GenzooError(f"hidden ({hid}) must be a multiple of the {C} image channels for variant "
                              f"{config.variant!r}")
        group = torch.arange(hid) // (hid // C)  # (hidden,) the channel group of each unit
        onehot_group = torch.arange(C * K) // K  # (C*K,) one-hot input (c, k) belongs to channel c
        if config.variant == "diagonal":
            self._make_head(group)
            # the first map: a mask-A convolution of the one-hot image, plus where it is
            self.first = MaskedConv2d(onehot_group, group, config.kernel)
            self.row_bias = nn.Parameter(torch.zeros(H, hid))
            self.col_bias = nn.Parameter(torch.zeros(W, hid))
            self.layers = nn.ModuleList([DiagonalBiLSTMLayer(group, image_channels=C * K if li == 0 else 0)
                                         for li in range(config.layers)])
        else:
            # The first layer reads the one-hot image (a convolution of one-hot inputs is a learned
            # embedding), the row above included; later layers read the layer below.
            self.layers = nn.ModuleList(
                [RowLSTMLayer(onehot_group, group, kernel=config.kernel, rows=2, mask_a=True)]
                + [RowLSTMLayer(group, group, kernel=config.kernel, rows=1, mask_a=False)
                   for _ in range(config.layers - 1)])
            # where the first layer is in the image: learned biases on its gates
            self.row_bias = nn.Parameter(torch.zeros(H, 4 * hid))
            self.col_bias = nn.Parameter(torch.zeros(W, 4 * hid))
            self._make_head(group)  # last, as before the diagonal variant: the same seeded initialisation

    def _make_head(self, group: torch.Tensor) -> None:
        """The output layer, hidden -> C*K logits, masked so channel c reads groups <= c."""
        C, K = self.C, self.K
        self.head = nn.Linear(len(group), C * K)
        chan_of_logit = torch.arange(C * K) // K
        self.register_buffer("head_mask", (group[None] <= chan_of_logit[:, None]).float(), persistent=False)

    # ---- layout ------------------------------------------------------------------
    def _image(self, flat: torch.Tensor) -> torch.Tensor:
        """(B, D) in raster order -> (B, C, H, W)."""
        return flat.view(-1, self.H, self.W, self.C).permute(0, 3, 1, 2)

    # ---- raster variant ----------------------------------------------------------
    def _raster(self, inputs: torch.Tensor, t0: int, state: State | None) -> tuple[torch.Tensor, State]:
        """Logits (B, L, K) at positions t0 .. t0+L-1 from their inputs (B, L) (the value
        before each position), and the LSTM state after them."""
        pos = slice(t0, t0 + inputs.shape[1])
        where = self.row_embed(self.pos_row[pos]) + self.col_embed(self.pos_col[pos]) + self.chan_embed(
            self.pos_chan[pos])  # (L, embed)
        h, state = self.rnn(self.drop(self.value_embed(inputs) + where), state)  # (B, L, hidden)
        return self.head(self.drop(h)), state

    # ---- row and diagonal variants -----------------------------------------------
    def _onehot(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) values -> (B, C*K, H, W) one-hot, channel-major as the groups expect."""
        B = x.shape[0]
        return F.one_hot(x.long(), self.K).permute(0, 1, 4, 2, 3).reshape(B, self.C * self.K, self.H, self.W).to(
            self.head.weight.dtype)

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        """Logits (..., C*K) from the last layer (..., hidden): channel c from groups <= c."""
        return F.linear(h, self.head.weight * self.head_mask, self.head.bias)

    def _row_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, D, K) of every position from the image (B, C, H, W), one layer at a time."""
        B = x.shape[0]
        inp = self._onehot(x)  # (B, C*K, H, W)
        for li, layer in enumerate(self.layers):
            pre = layer.input_gates(inp)  # (B, 4*hidden, H, W): no recurrence in K_is
            if li == 0:
                pre = pre + (self.row_bias.t()[:, :, None] + self.col_bias.t()[:, None, :])
            out = layer.recur(pre)  # (B, hidden, H, W)
            inp = self.drop(out if li == 0 else out + inp)
        return self._head(inp.permute(0, 2, 3, 1)).reshape(B, self.D, self.K)

    def _row_cache(self, n: int) -> RowCache:
        """An empty cache for ``n`` images, at position 0."""
        p, W, dt, dev = self.config.kernel // 2, self.W, self.head.weight.dtype, self.device

        def zeros(*shape: int) -> list[torch.Tensor]:
            return [torch.zeros(n, *shape, dtype=dt, device=dev) for _ in self.layers]

        hid = self.config.hidden
        inputs = [torch.zeros(n, layer.input_to_state.in_channels, layer.rows, W + 2 * p, dtype=dt, device=dev)
                  for layer in self.layers]
        return RowCache(t=0, inputs=inputs, h_above=zeros(hid, W + 2 * p), c_above=zeros(hid, W),
                        h_row=zeros(hid, W + 2 * p), c_row=zeros(hid, W))

    def _row_logits(self, cache: RowCache) -> torch.Tensor:
        """Logits (n, K) at position ``cache.t``: one LSTM cell per layer at its pixel."""
        i, j, ch = (int(v[cache.t]) for v in (self.pos_row, self.pos_col, self.pos_chan))
        p, k = self.config.kernel // 2, self.config.kernel
        if i > 0 and j == 0 and ch == 0:  # a new row: the current row moves up
            for li in range(len(self.layers)):
                rows = cache.inputs[li]
                cache.inputs[li] = torch.cat([rows[:, :, 1:], torch.zeros_like(rows[:, :, :1])], 2)
                cache.h_above[li], cache.c_above[li] = cache.h_row[li], cache.c_row[li]
                cache.h_row[li], cache.c_row[li] = torch.zeros_like(cache.h_row[li]), torch.zeros_like(cache.c_row[li])
        for li, layer in enumerate(self.layers):
            # A pixel's cell is recomputed for each of its C channels as more of its values
            # arrive; the masks keep what the earlier channels saw unchanged.
            extra = self.row_bias[i] + self.col_bias[j] if li == 0 else 0.0
            h, c = layer.at_pixel(cache.inputs[li][..., j:j + k], cache.h_above[li][..., j:j + k],
                                  cache.c_above[li][..., j], extra)
            cache.h_row[li][..., p + j], cache.c_row[li][..., j] = h, c
            out = h if li == 0 else h + cache.inputs[li][:, :, -1, p + j]
            if li + 1 < len(self.layers):
                cache.inputs[li + 1][:, :, -1, p + j] = out
        return self._head(out).view(-1, self.C, self.K)[:, ch]

    # ---- diagonal variant --------------------------------------------------------
    def _diagonal_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, D, K) of every position from the image (B, C, H, W)."""
        B = x.shape[0]
        onehot = self._onehot(x)
        inp = self.first(onehot) + (self.row_bias.t()[:, :, None] + self.col_bias.t()[:, None, :])
        for li, layer in enumerate(self.layers):
            inp = self.drop(layer(inp, onehot if li == 0 else None))
        return self._head(inp.permute(0, 2, 3, 1)).reshape(B, self.D, self.K)

    def _diagonal_cache(self, n: int) -> DiagonalCache:
        """An empty cache for ``n`` images, at position 0."""
        p, dt, dev = self.config.kernel // 2, self.head.weight.dtype, self.device

        def zeros() -> list[torch.Tensor]:
            return [torch.zeros(n, self.W, self.config.hidden, dtype=dt, device=dev) for _ in self.layers]

        image = torch.zeros(n, self.C * self.K, self.H + 2 * p, self.W + 2 * p, dtype=dt, device=dev)
        return DiagonalCache(t=0, image=image, inputs=zeros(), h_above=zeros(), h_row=zeros(), c_row=zeros(),
                             back_above=zeros())

    def _diagonal_logits(self, cache: DiagonalCache) -> torch.Tensor:
        """Logits (n, K) at position ``cache.t``: the forward cell of each layer at its pixel
        (the backward direction runs over each row once the row is finished)."""
        i, j, ch = (int(v[cache.t]) for v in (self.pos_row, self.pos_col, self.pos_chan))
        k, p = self.config.kernel, self.config.kernel // 2
        if i > 0 and j == 0 and ch == 0:  # row i - 1 is finished
            above = cache.image[:, :, p + i - 1, p:p + self.W].transpose(1, 2)  # (n, W, C*K)
            for li, layer in enumerate(self.layers):
                cache.back_above[li] = layer.backward_row(cache.inputs[li], cache.back_above[li],
                                                          above if li == 0 else None)
                cache.h_above[li], cache.h_row[li] = cache.h_row[li], torch.zeros_like(cache.h_row[li])
                cache.c_row[li] = torch.zeros_like(cache.c_row[li])
        inp = self.first.at_pixel(cache.image[:, :, i:i + k, j:j + k]) + self.row_bias[i] + self.col_bias[j]
        zero = torch.zeros_like(inp)
        for li, layer in enumerate(self.layers):
            # recomputed for each of the pixel's C channels; the masks keep earlier channels' view fixed
            cache.inputs[li][:, j] = inp
            left = (cache.h_row[li][:, j - 1], cache.c_row[li][:, j - 1]) if j > 0 else (zero, zero)
            h, c = layer.cell(0, inp, cache.h_above[li][:, j], *left)
            cache.h_row[li][:, j], cache.c_row[li][:, j] = h, c
            inp = h + cache.back_above[li][:, j] + inp
        return self._head(inp).view(-1, self.C, self.K)[:, ch]

    # ---- all variants ------------------------------------------------------------
    def _forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """The full pass of ``row`` or ``diagonal`` on a token stream (B, D): logits (B, D, K)."""
        if self.config.variant == "row":
            return self._row_forward(self._image(tokens))
        return self._diagonal_forward(self._image(tokens))

    def stream_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, D, K) of ``p(x_t | x_<t)`` for every position t of ``tokens`` (B, D)."""
        if self.config.variant == "raster":
            return self._raster(self.with_bos(tokens[:, :-1]), 0, None)[0]
        return self._forward(tokens)

    # ---- generation (TokenSampler) -------------------------------------------------
    def start(self, prefix: torch.Tensor, n: int) -> tuple[torch.Tensor, Cache]:
        """Read the prefix (n, L) once: logits (n, K) of position L and the cache."""
        if self.config.variant == "raster":
            logits, state = self._raster(self.with_bos(prefix), 0, None)
            return logits[:, -1], (state, prefix.shape[1])
        if self.config.variant == "row":
            cache: Cache = self._row_cache(n)
            logits = self._row_logits(cache)
        else:
            cache = self._diagonal_cache(n)
            logits = self._diagonal_logits(cache)
        for t in range(prefix.shape[1]):
            logits, cache = self.step(prefix[:, t], cache)
        return logits, cache

    def step(self, tokens: torch.Tensor, cache: Cache) -> tuple[torch.Tensor, Cache]:
        """Feed the value (n,) drawn at the cached position; logits (n, K) of the next one."""
        if self.config.variant == "raster":
            state, t = cache  # type: ignore[misc]
            logits, state = self._raster(tokens[:, None], t + 1, state)  # x_t is the input of t + 1
            return logits[:, -1], (state, t + 1)
        i, j, ch = (int(v[cache.t]) for v in (self.pos_row, self.pos_col, self.pos_chan))  # type: ignore[union-attr]
        p = self.config.kernel // 2
        onehot = F.one_hot(tokens, self.K).to(self.head.weight.dtype)
        if isinstance(cache, DiagonalCache):
            cache.image[:, ch * self.K:(ch + 1) * self.K, p + i, p + j] = onehot
            cache.t += 1
            return self._diagonal_logits(cache), cache
        assert isinstance(cache, RowCache)
        cache.inputs[0][:, ch * self.K:(ch + 1) * self.K, -1, p + j] = onehot
        cache.t += 1
        return self._row_logits(cache), cache

    def next_logits(self, prefix: torch.Tensor, n: int) -> torch.Tensor:
        """Naive: the whole network on the prefix (n, L) (zeros after it); logits of position L."""
        L = prefix.shape[1]
        if self.config.variant == "raster":
            return self._raster(self.with_bos(prefix), 0, None)[0][:, -1]
        flat = torch.zeros(n, self.D, dtype=torch.long, device=prefix.device)
        flat[:, :L] = prefix
        return self._forward(flat)[:, L]

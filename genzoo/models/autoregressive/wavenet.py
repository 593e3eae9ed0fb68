"""WaveNet: a stack of dilated causal convolutions over a token stream.

van den Oord et al. (2016), "WaveNet: A Generative Model for Raw Audio",
arXiv:1609.03499; cached generation as in Paine et al. (2016), "Fast Wavenet
Generation Algorithm", arXiv:1611.09482.

``p(x) = prod_t p(x_t | x_<t)`` with every conditional read off a convolutional net
that never looks ahead. The input is the data shifted right by one behind a learned
start token ``BOS`` (embedding row K, one past the data's K values), so input position
t holds ``x_{t-1}`` and its output predicts ``x_t``. The network (Sec. 2 of the paper):

* token embedding (a one-hot times a matrix), then a causal convolution of kernel 2;
* residual layers with dilations 1, 2, 4, ..., 2^(n-1), the pattern repeated ``stacks``
  times. Layer i computes ``z = tanh(W_f * h) . sigmoid(W_g * h)`` (the gated
  activation) with a dilated causal convolution of kernel 2, i.e. from
  ``[h_{t-d}, h_t]``; a 1x1 convolution of z joins the skip connections and another is
  added to h (the residual connection; the last layer has none, nothing reads it);
* the sum of the skips -> ReLU -> 1x1 -> ReLU -> 1x1 to the K logits of a softmax.

Positions before the start are zero padding, so the output at t depends on the
``receptive_field`` inputs ending at t, and ``log_prob`` is exact at any length in one
pass. Convolutions are applied as matrix products over channels-last ``(B, T, C)``
tensors: a kernel-2 dilated convolution is one linear map of ``[h_{t-d}, h_t]``.

Categorical sequences (T,) are read as they are (the paper's own data is sound: the
``audio`` dataset gives windows of 8-bit mu-law samples, K = 256, see
:mod:`genzoo.data.audio`), images as pixel streams in raster
order (:mod:`genzoo.models.autoregressive.stream`, which also holds the likelihood,
the loss, sampling and completion that WaveNet shares with the other stream models).

Sampling. The cached path is Fast WaveNet: each layer keeps a ring buffer of its last
``dilation`` inputs, which is exactly what its convolution needs from the past, so a
new token costs one small matrix product per layer, O(layers). ``cached=False``
recomputes the whole causal net over the whole prefix for every token (O(T) per token).
Both run the same layers and draw the same random numbers, hence the same tokens.
Prompts, temperature, top-k and top-p come from :mod:`genzoo.models.autoregressive.decoding`; generation
may run past the training length (no position embeddings, nothing to run out of).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.config import positive
from genzoo.data.spec import DataSpec
from genzoo.models.autoregressive.stream import TokenStreamModel
from genzoo.models.registry import register


@dataclass
class WaveNetConfig:
    """WaveNet hyperparameters.

    Args:
        residual_channels: width of the residual stream h (and of the token embeddings).
        gate_channels: width of the gated activation z (the "dilation channels").
        skip_channels: width of the skip connections and of the output 1x1 layers.
        layers_per_stack: n, the layers of one stack, with dilations 1, 2, ..., 2^(n-1).
        stacks: how many times the dilation pattern repeats.
    """

    residual_channels: int = 32
    gate_channels: int = 32
    skip_channels: int = 64
    layers_per_stack: int = 10
    stacks: int = 1

    def validate(self) -> None:
        positive(self.residual_channels, "residual_channels")
        positive(self.gate_channels, "gate_channels")
        positive(self.skip_channels, "skip_channels")
        positive(self.layers_per_stack, "layers_per_stack")
        positive(self.stacks, "stacks")


def delayed(h: torch.Tensor, d: int) -> torch.Tensor:
    """h (B, T, C) delayed by d steps along time, zeros entering from the left."""
    return F.pad(h, (0, 0, d, 0))[:, : h.shape[1]]


class ResidualLayer(nn.Module):
    """Dilated causal convolution (kernel 2), gated activation, skip and residual 1x1s."""

    def __init__(self, residual: int, gate: int, skip: int, dilation: int, *, last: bool) -> None:
        super().__init__()
        self.dilation = dilation
        self.gate = gate
        self.conv = nn.Linear(2 * residual, 2 * gate)  # taps [h_{t-d}, h_t] -> filter and gate
        self.skip = nn.Linear(gate, skip)
        self.residual = None if last else nn.Linear(gate, residual)

    def forward(self, past: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """From h_{t-d} and h_t (..., R): the next residual stream (..., R) and the skip (..., S)."""
        f, g = self.conv(torch.cat([past, h], -1)).split(self.gate, -1)
        z = torch.tanh(f) * torch.sigmoid(g)  # (..., G), the gated activation
        out = h if self.residual is None else h + self.residual(z)
        return out, self.skip(z)


@dataclass
class Queues:
    """Fast WaveNet cache: per convolution, a ring buffer (n, dilation, R) of its last
    ``dilation`` inputs; the input at time tau sits in slot ``tau % dilation``.
    ``t`` is the time of the next input."""

    buffers: list[torch.Tensor]
    t: int


@register
class WaveNet(TokenStreamModel):
    """Dilated causal convolutions over token streams or pixel streams; exact ``log_prob``."""

    name = "wavenet"
    Config = WaveNetConfig

    def __init__(self, config: WaveNetConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        R, G, S = config.residual_channels, config.gate_channels, config.skip_channels
        self.embedding = nn.Embedding(self.K + 1, R)
        self.causal = nn.Linear(2 * R, R)  # the causal convolution of kernel 2: [e_{t-1}, e_t]
        dilations = [2**i for _ in range(config.stacks) for i in range(config.layers_per_stack)]
        self.layers = nn.ModuleList(ResidualLayer(R, G, S, d, last=i == len(dilations) - 1)
                                    for i, d in enumerate(dilations))
        self.post1 = nn.Linear(S, S)
        self.post2 = nn.Linear(S, self.K)

    @property
    def receptive_field(self) -> int:
        """How many input positions each output sees (the start token included): 2 for
        the causal convolution plus each layer's dilation."""
        return 2 + sum(layer.dilation for layer in self.layers)

    # ---- network -----------------------------------------------------------------
    def _head(self, skips: torch.Tensor) -> torch.Tensor:
        """Summed skips (..., S) -> logits (..., K)."""
        return self.post2(F.relu(self.post1(F.relu(skips))))

    def _run(self, inputs: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits (B, L, K) of the token after each input token (B, L), and the inputs
        (B, L, R) of every convolution, which the cached sampler keeps."""
        e = self.embedding(inputs)  # (B, L, R)
        seen = [e]
        h = self.causal(torch.cat([delayed(e, 1), e], -1))  # (B, L, R)
        skips = 0
        for layer in self.layers:
            seen.append(h)
            h, s = layer(delayed(h, layer.dilation), h)
            skips = skips + s  # (B, L, S)
        return self._head(skips), seen

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits (B, L, K) of the token after each input token (B, L)."""
        return self._run(inputs)[0]

    def stream_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, K) of every conditional: the net over [BOS, x_0 .. x_{T-2}]."""
        return self(self.with_bos(tokens[:, :-1]))

    # ---- generation (TokenSampler) -------------------------------------------------
    def start(self, prefix: torch.Tensor, n: int) -> tuple[torch.Tensor, Queues]:
        """Read BOS and the prefix (n, P) in one pass; fill every queue with the last
        ``dilation`` inputs of its convolution (zeros before the start).

        Only the last ``receptive_field`` input positions are run: the next logits and
        every queued input depend on nothing earlier (a queued input of a layer at time
        t >= L - d reads back at most ``receptive_field - 1 - d`` positions), so a long
        primer (minutes of audio) costs the memory and time of one receptive field."""
        s = self.with_bos(prefix)  # (n, L)
        L = s.shape[1]
        logits, seen = self._run(s[:, -self.receptive_field:])
        buffers = []
        for d, inputs in zip([1] + [layer.dilation for layer in self.layers], seen):
            last = F.pad(inputs, (0, 0, d, 0))[:, -d:]  # times L-d .. L-1
            buffers.append(last.roll(L % d, dims=1))  # time tau to slot tau % d
        return logits[:, -1], Queues(buffers, L)

    def step(self, tokens: torch.Tensor, cache: Queues) -> tuple[torch.Tensor, Queues]:
        """Feed one new token per sequence (n,): one position through every layer, each
        reading its input from ``dilation`` steps ago off its queue."""
        t, q = cache.t, cache.buffers
        e = self.embedding(tokens)  # (n, R)
        h = self.causal(torch.cat([q[0][:, 0], e], -1))
        q[0][:, 0] = e
        skips = 0
        for layer, buf in zip(self.layers, q[1:]):
            slot = t % layer.dilation
            h_in = h
            h, s = layer(buf[:, slot], h_in)  # buf[:, slot] holds the input at time t - d
            buf[:, slot] = h_in
            skips = skips + s  # (n, S)
        cache.t = t + 1
        return self._head(skips), cache

    def next_logits(self, prefix: torch.Tensor, n: int) -> torch.Tensor:
        """Naive: recompute the whole causal net over BOS and the prefix (n, P)."""
        return self(self.with_bos(prefix))[:, -1]

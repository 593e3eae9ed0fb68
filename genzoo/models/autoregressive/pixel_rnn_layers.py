"""The two-dimensional LSTM layers of PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016),
used by :mod:`genzoo.models.autoregressive.pixel_lstm`.

* :class:`RowLSTMLayer`: the Row LSTM (section 3.1), one image row per step.
* :class:`DiagonalBiLSTMLayer`: the Diagonal BiLSTM (section 3.2), one diagonal of the
  image per step in each of two directions.
* :class:`MaskedConv2d`: the k x k mask-A convolution that feeds the first Diagonal BiLSTM
  layer (the paper's first layer, 7x7 there).

Channel ordering (R -> G -> B within a pixel, section 3.4): the units of every map form C
groups, group c belonging to image channel c. At the pixel itself a group sees the input
groups below it (mask A, first layer) or up to and including it (mask B, later layers);
everything at earlier pixels is seen whole. ``channel_groups`` tensors give the group of
each channel of a map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def lstm_cell(gates: torch.Tensor, c: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """LSTM update from pre-activations holding [i, f, o, g] blocks along ``dim``."""
    i, f, o, g = gates.chunk(4, dim)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def centre_mask(in_group: torch.Tensor, out_group: torch.Tensor, mask_a: bool) -> torch.Tensor:
    """(out, in) 0/1: which inputs an output may read at its own pixel (mask A: lower groups
    only; mask B: its own group too)."""
    return (in_group[None] < out_group[:, None] if mask_a else in_group[None] <= out_group[:, None]).float()


class RowLSTMLayer(nn.Module):
    """One Row LSTM layer: masked input-to-state and plain state-to-state convolutions.

    ``rows`` is how many input rows K_is covers (the current one last); ``in_group`` and
    ``group`` give the channel group of every input channel and hidden unit. At the centre
    pixel a group sees the lower input groups only with ``mask_a``, its own group too without
    (mask B).
    """

    def __init__(self, in_group: torch.Tensor, group: torch.Tensor, *, kernel: int, rows: int,
                 mask_a: bool) -> None:
        super().__init__()
        cin, hidden = len(in_group), len(group)
        self.hidden, self.kernel, self.rows = hidden, kernel, rows
        self.input_to_state = nn.Conv2d(cin, 4 * hidden, (rows, kernel))
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, kernel, padding=kernel // 2, bias=False)
        p = kernel // 2
        mask = torch.ones(4 * hidden, cin, rows, kernel)  # rows above: seen whole
        mask[:, :, -1, p + 1:] = 0.0  # current row: nothing right of the pixel
        mask[:, :, -1, p] = centre_mask(in_group, group.repeat(4), mask_a)  # the same groups in each gate
        self.register_buffer("mask", mask, persistent=False)  # rebuilt from the config
        with torch.no_grad():  # start with the forget gate open
            self.input_to_state.bias[hidden:2 * hidden].fill_(1.0)

    def input_gates(self, inp: torch.Tensor) -> torch.Tensor:
        """K_is * x for every row at once: (B, cin, H, W) -> (B, 4*hidden, H, W)."""
        p = self.kernel // 2
        return F.conv2d(F.pad(inp, (p, p, self.rows - 1, 0)), self.input_to_state.weight * self.mask,
                        self.input_to_state.bias)

    def recur(self, pre: torch.Tensor) -> torch.Tensor:
        """Run the rows top to bottom: input gates (B, 4*hidden, H, W) -> h (B, hidden, H, W)."""
        B, _, _, W = pre.shape
        h = c = pre.new_zeros(B, self.hidden, W)
        hs = []
        for pre_i in pre.unbind(2):  # (B, 4*hidden, W); unbind, as indexing would cost a full-size gradient per row
            h, c = lstm_cell(pre_i + self.state_to_state(h), c)
            hs.append(h)
        return torch.stack(hs, 2)

    def at_pixel(self, inp: torch.Tensor, h_above: torch.Tensor, c_above: torch.Tensor,
                 extra: torch.Tensor | float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """The cell at one pixel from its windows: input rows (n, cin, rows, kernel), the
        row above's h (n, hidden, kernel) and c (n, hidden); returns (h, c), each (n, hidden)."""
        gates = (torch.einsum("bcrk,ocrk->bo", inp, self.input_to_state.weight * self.mask)
                 + self.input_to_state.bias + extra
                 + torch.einsum("bhk,ohk->bo", h_above, self.state_to_state.weight))
        return lstm_cell(gates, c_above)


class MaskedConv2d(nn.Conv2d):
    """A k x k convolution (k odd, zero padded, same size out) that reads only pixels before
    the centre in raster order, and at the centre the lower channel groups (mask A)."""

    def __init__(self, in_group: torch.Tensor, out_group: torch.Tensor, kernel: int) -> None:
        super().__init__(len(in_group), len(out_group), kernel, padding=kernel // 2)
        p = kernel // 2
        mask = torch.ones_like(self.weight)
        mask[:, :, p + 1:] = 0.0  # rows below
        mask[:, :, p, p + 1:] = 0.0  # right of the centre
        mask[:, :, p, p] = centre_mask(in_group, out_group, mask_a=True)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)

    def at_pixel(self, window: torch.Tensor) -> torch.Tensor:
        """The output (n, out) at one pixel from its zero-padded input window (n, in, k, k)."""
        return torch.einsum("bcrk,ocrk->bo", window, self.weight * self.mask) + self.bias


def skew(x: torch.Tensor) -> torch.Tensor:
    """(..., H, W) -> (..., H, W + H - 1): row i shifted right by i, zeros elsewhere, so that
    the pixels of a diagonal (i + j constant) share a column."""
    *lead, H, W = x.shape
    flat = F.pad(x, (0, H)).flatten(-2)  # rows of length W + H
    return flat[..., :H * (W + H - 1)].reshape(*lead, H, W + H - 1)


def unskew(s: torch.Tensor, W: int) -> torch.Tensor:
    """The inverse of :func:`skew`: (..., H, W + H - 1) -> (..., H, W)."""
    *lead, H, L = s.shape
    flat = F.pad(F.pad(s, (0, 1)).flatten(-2), (0, H))  # rows of length L + 1, then H more zeros
    return flat.reshape(*lead, H, L + 2)[..., :W]


class DiagonalBiLSTMLayer(nn.Module):
    """One Diagonal BiLSTM layer (paper section 3.2) on maps of ``hidden`` units.

    Each direction is an LSTM over the skewed input map, one column (an image diagonal) per
    step: the input-to-state map is a masked 1x1 convolution (mask B), the state-to-state map
    a 2x1 convolution over the previous column, so the cell at pixel (i, j) reads the states
    at (i, j - 1) (whose cell state it carries) and (i - 1, j). The right-to-left direction
    is the same on the horizontally flipped map; its output is shifted down one row before it
    is added, so pixel (i, j) sees it only from row i - 1 and no later pixel leaks in. The
    layer returns ``forward + shifted backward + input`` (a residual connection).

    With ``image_channels`` > 0 (the first layer) the backward direction's input map also
    gets the one-hot image at each pixel through an unmasked 1x1 convolution
    (``image_to_backward``): harmless, as that direction is shifted down a row, and it lets
    the last pixel of a row reach the next row's first pixels. From the mask-A map alone it
    could not: a pixel's own value enters that map only at pixels after it, which for pixel
    (i, W-1) are pixels of row i + 1 within the kernel's reach, and the shifted backward
    direction brings row i + 1 to row i + 2 at the earliest.

    The skewed map is built from the layer's input (``hidden`` channels, not the 4 x
    ``hidden`` gates), and each column step does one batched matmul for both directions:
    [input; state above; state to the left] times the stacked weights.
    """

    def __init__(self, group: torch.Tensor, image_channels: int = 0) -> None:
        super().__init__()
        hidden = self.hidden = len(group)
        # both directions' input-to-state in one 1x1 convolution: [forward gates, backward gates]
        self.input_to_state = nn.Conv2d(hidden, 2 * 4 * hidden, 1)
        self.image_to_backward = nn.Conv2d(image_channels, hidden, 1, bias=False) if image_channels else None
        # state-to-state, per direction: rows [state above; state to the left] -> 4*hidden gates
        bound = (2 * hidden) ** -0.5
        self.state_to_state = nn.Parameter(torch.empty(2, 2 * hidden, 4 * hidden).uniform_(-bound, bound))
        mask = centre_mask(group, group.repeat(8), mask_a=False)  # (8*hidden, hidden)
        self.register_buffer("mask", mask[:, :, None, None], persistent=False)
        with torch.no_grad():  # start with the forget gates open
            self.input_to_state.bias.view(2, 4, hidden)[:, 1].fill_(1.0)

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per direction: the stacked weights (2, 3*hidden, 4*hidden) for [input; above; left]
        and the gate biases (2, 1, 4*hidden)."""
        hid = self.hidden
        w_in = (self.input_to_state.weight * self.mask).view(2, 4 * hid, hid).transpose(1, 2)
        return torch.cat([w_in, self.state_to_state], 1), self.input_to_state.bias.view(2, 1, 4 * hid)

    def forward(self, inp: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        """(B, hidden, H, W) -> (B, hidden, H, W); ``image`` (B, image_channels, H, W) one-hot
        for the first layer."""
        B, hid, H, W = inp.shape
        back = inp if self.image_to_backward is None else inp + self.image_to_backward(image)
        both = torch.stack([inp, back.flip(-1)])  # the backward direction runs on the flipped map
        cols = skew(both).permute(4, 0, 1, 3, 2).reshape(W + H - 1, 2, B, H, hid)  # a column per step
        weight, bias = self.weights()
        rows = torch.arange(H, device=inp.device)
        h = c = inp.new_zeros(2, B, H, hid)
        hs = []
        for k, x_k in enumerate(cols.unbind(0)):
            above = F.pad(h, (0, 0, 1, 0))[:, :, :H]  # (i - 1, k - 1) in the skewed map: the pixel above
            z = torch.cat([x_k, above, h], -1).view(2, B * H, 3 * hid)
            h, c = lstm_cell(torch.baddbmm(bias, z, weight).view(2, B, H, 4 * hid), c, -1)
            valid = ((k - rows >= 0) & (k - rows < W)).to(inp.dtype)[:, None]  # (H, 1)
            h, c = h * valid, c * valid  # cells outside the image stay empty
            hs.append(h)
        out = unskew(torch.stack(hs, -1).permute(0, 1, 3, 2, 4), W)  # (2, B, hid, H, W)
        backward = F.pad(out[1].flip(-1), (0, 0, 1, 0))[:, :, :H]  # flipped back, shifted down a row
        return out[0] + backward + inp

    def cell(self, direction: int, inp: torch.Tensor, h_above: torch.Tensor, h_prev: torch.Tensor,
             c_prev: torch.Tensor, image: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One cell of ``direction`` (0 forward, 1 backward) from its input (n, hidden), the
        state above (n, hidden), the previous one along the row, h and c (n, hidden), and for
        the first layer's backward direction the pixel's one-hot values ``image`` (n, image_channels)."""
        if direction == 1 and self.image_to_backward is not None:
            inp = inp + F.linear(image, self.image_to_backward.weight[:, :, 0, 0])
        weight, bias = self.weights()
        gates = torch.addmm(bias[direction], torch.cat([inp, h_above, h_prev], -1), weight[direction])
        return lstm_cell(gates, c_prev, -1)

    def backward_row(self, inp: torch.Tensor, h_above: torch.Tensor, image: torch.Tensor | None = None
                     ) -> torch.Tensor:
        """The backward direction over one finished row, right to left: inputs (n, W, hidden),
        that direction's states of the row above (n, W, hidden) and, for the first layer, the
        row's one-hot values (n, W, image_channels) -> its states (n, W, hidden)."""
        n, W, hid = inp.shape
        h = c = inp.new_zeros(n, hid)
        out = torch.zeros_like(inp)
        for j in range(W - 1, -1, -1):
            h, c = self.cell(1, inp[:, j], h_above[:, j], h, c, None if image is None else image[:, j])
            out[:, j] = h
        return out

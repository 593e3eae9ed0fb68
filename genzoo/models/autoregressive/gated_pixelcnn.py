"""Gated PixelCNN: a vertical and a horizontal stack of gated masked convolutions.

van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves & Kavukcuoglu (2016), "Conditional
Image Generation with PixelCNN Decoders", NeurIPS. arXiv:1606.05328.

``log p(x) = sum over pixels in raster order, channels in order, of log p(x_c,i,j | before)``.
The masked 3x3 convolutions of the first PixelCNN leave a blind spot above and to the
right of each pixel; the gated PixelCNN removes it with two stacks per layer:

* the **vertical stack** convolves a ``(k//2 + 1) x k`` window of the rows at and above
  row i, so its output at row i depends only on input rows <= i (all columns);
* the **horizontal stack** convolves a ``1 x (k//2 + 1)`` window of the pixels at and to
  the left of (i, j) in row i, and adds (by a 1x1 convolution) the vertical stack's
  pre-activations *shifted down by one row*, i.e. of row i - 1.

Each stack's activation is the gate ``tanh(W_f * x + V_f h) * sigmoid(W_g * x + V_g h)``
(``h`` a class embedding when ``conditional``); the horizontal stack ends every layer with a
1x1 convolution and, after the first layer, a residual connection. The first horizontal
layer must not see the pixel it predicts. For C > 1 image channels the feature maps are
split into C groups and the horizontal stack's connections *at the current pixel* are
masked as in the paper: group g of the first layer sees image channels < g, later layers
and the output head see groups <= g, so channel c is predicted from all earlier pixels and
channels < c of its own pixel. Output distributions come from :mod:`genzoo.models.autoregressive.pixel_outputs`.

Sampling (``cached=True``) is the fast scheme of Ramachandran et al. (2017), "Fast
Generation for Convolutional Autoregressive Models", arXiv:1704.06001: once row i - 1 is
finished its vertical stack is computed (one row, every layer, from cached windows of the
rows above), and the horizontal stack of row i is run one pixel at a time from each
layer's cached row of left context. A whole image then costs about one forward pass;
``cached=False`` recomputes the full network for every pixel and channel.
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
from genzoo.models.autoregressive.raster import RasterImageModel, channel_groups
from genzoo.models.registry import register
from genzoo.nn.values import to_unit


@dataclass
class GatedPixelCNNConfig:
    """Gated PixelCNN hyperparameters.

    Args:
        channels: feature maps per stack (the paper: 128 for MNIST/CIFAR).
        layers: gated layers (the paper: 15 for CIFAR-10 / 20 for ImageNet).
        first_kernel: k of the first layer (odd; the paper: 7).
        kernel: k of the later layers (odd; the paper: 3).
        head: width of the two-layer 1x1 output head (0: same as ``channels``).
        conditional: condition every gate on the class label (needs labelled data).
        output: per-pixel distribution: ``categorical`` (softmax over the levels),
            ``logistic_mixture`` (discretised logistic mixture, PixelCNN++), or ``auto``
            (see :func:`genzoo.models.autoregressive.pixel_outputs.make_pixel_output`).
        mixtures: logistic components for ``logistic_mixture``.
    """

    channels: int = 32
    layers: int = 5
    first_kernel: int = 7
    kernel: int = 3
    head: int = 0
    conditional: bool = False
    output: Literal["auto", "categorical", "logistic_mixture"] = "auto"
    mixtures: int = 5

    def validate(self) -> None:
        positive(self.channels, "channels")
        positive(self.layers, "layers")
        positive(self.head, "head", allow_zero=True)
        positive(self.mixtures, "mixtures")
        choice(self.output, ("auto", "categorical", "logistic_mixture"), "output")
        for key in ("first_kernel", "kernel"):
            k = getattr(self, key)
            if k < 3 or k % 2 == 0:
                raise GenzooError(f"bad value {k!r} for {key}: must be an odd number >= 3")


def gate(pre: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """The gated activation ``tanh(f) * sigmoid(g)`` over the two halves of ``dim``."""
    f, g = pre.chunk(2, dim)
    return torch.tanh(f) * torch.sigmoid(g)


class ChannelMaskedConv2d(nn.Conv2d):
    """``nn.Conv2d`` (no padding: callers pad causally) with an optional fixed 0/1 weight mask."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int], mask: torch.Tensor | None = None) -> None:
        super().__init__(cin, cout, kernel)
        # Derived from the config and spec, so not saved with the weights.
        self.register_buffer("mask", None if mask is None else mask.float(), persistent=False)

    def masked_weight(self) -> torch.Tensor:
        return self.weight if self.mask is None else self.weight * self.mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.masked_weight(), self.bias)


def group_mask(g_out: torch.Tensor, g_in: torch.Tensor, *, strict: bool) -> torch.Tensor | None:
    """(out, in) mask letting output group g see input groups < g (strict) or <= g; None if all ones."""
    m = g_in[None, :] < g_out[:, None] if strict else g_in[None, :] <= g_out[:, None]
    return None if bool(m.all()) else m


class GatedLayer(nn.Module):
    """One gated layer of both stacks, ``width`` feature maps each: (v, h) -> (v', h')."""

    def __init__(self, cin: int, width: int, k: int, C: int, *, first: bool, num_classes: int | None) -> None:
        super().__init__()
        self.p = p = k // 2
        self.first = first
        g_in = torch.arange(C) if first else channel_groups(cin, C)
        g_feat = channel_groups(width, C)
        g_pre = torch.cat([g_feat, g_feat])  # the f and g halves of the gate share groups
        self.v_conv = nn.Conv2d(cin, 2 * width, (p + 1, k))  # rows i-p..i, columns j-p..j+p
        # columns j-p..j; column j (the pixel itself) only through the channel-group mask
        cur = group_mask(g_pre, g_in, strict=first)
        h_mask = None
        if cur is not None:
            h_mask = torch.ones(2 * width, cin, 1, p + 1)
            h_mask[:, :, 0, p] = cur.float()
        self.h_conv = ChannelMaskedConv2d(cin, 2 * width, (1, p + 1), h_mask)
        self.v_to_h = nn.Conv2d(2 * width, 2 * width, 1)  # sees row i-1 only: no mask needed
        out_mask = group_mask(g_feat, g_feat, strict=False)
        self.h_out = ChannelMaskedConv2d(width, width, (1, 1), None if out_mask is None else out_mask[:, :, None, None])
        self.embed = nn.Embedding(num_classes, 4 * width) if num_classes else None

    def condition(self, y: torch.Tensor | None, B: int, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class terms V h added inside the vertical and horizontal gates: two (B, 2F)."""
        if self.embed is None:
            z = torch.zeros(B, self.v_conv.out_channels, dtype=ref.dtype, device=ref.device)
            return z, z
        return self.embed(y).chunk(2, 1)

    def forward(self, v: torch.Tensor, h: torch.Tensor, cond: tuple[torch.Tensor, torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Whole images: v, h (B, cin, H, W) -> v', h' (B, F, H, W)."""
        p = self.p
        cv, ch = cond[0][:, :, None, None], cond[1][:, :, None, None]
        v_pre = self.v_conv(F.pad(v, (p, p, p, 0))) + cv  # (B, 2F, H, W): rows <= i
        shifted = F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]  # row i now holds row i-1
        h_pre = self.h_conv(F.pad(h, (p, 0, 0, 0))) + self.v_to_h(shifted) + ch
        h_new = self.h_out(gate(h_pre))
        return gate(v_pre), h_new if self.first else h + h_new


@register
class GatedPixelCNN(RasterImageModel):
    """Gated PixelCNN over images (binary, categorical, continuous); exact ``log_prob``.

    Likelihood, loss, sampling and completion: :class:`~genzoo.models.autoregressive.raster.RasterImageModel`.
    """

    name = "gated_pixelcnn"
    Config = GatedPixelCNNConfig

    def __init__(self, config: GatedPixelCNNConfig, spec: DataSpec) -> None:
        C = spec.shape[0]
        if config.channels < C:
            raise GenzooError(f"gated_pixelcnn needs channels >= the {C} image channels (one group each)")
        super().__init__(config, spec)
        width, P = config.channels, self.P
        self.blocks = nn.ModuleList(
            GatedLayer(C if i == 0 else width, width, config.first_kernel if i == 0 else config.kernel, C,
                       first=i == 0, num_classes=self.num_classes) for i in range(config.layers))
        head = config.head or width
        g_feat, g_head = channel_groups(width, C), channel_groups(head, C)
        m1 = group_mask(g_head, g_feat, strict=False)
        m2 = group_mask(torch.arange(C * P) // P, g_head, strict=False)  # out map m predicts channel m // P
        self.head1 = ChannelMaskedConv2d(width, head, (1, 1), None if m1 is None else m1[:, :, None, None])
        self.head2 = ChannelMaskedConv2d(head, C * P, (1, 1), None if m2 is None else m2[:, :, None, None])

    # ---- network -----------------------------------------------------------------
    def network(self, u: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Output parameters (B, C, P, H, W) from inputs ``u`` (B, C, H, W) scaled to [-1, 1].

        Entry [:, c, :, i, j] depends only on pixels before (i, j) in raster order and on
        channels < c of pixel (i, j).
        """
        B = u.shape[0]
        v = h = u
        for block in self.blocks:
            v, h = block(v, h, block.condition(y, B, u))
        out = self.head2(F.relu(self.head1(F.relu(h))))  # (B, C*P, H, W)
        return out.view(B, self.C, self.P, self.H, self.W)

    def cached_pass(self, x: torch.Tensor, y: torch.Tensor | None) -> _CachedPass:
        return _CachedPass(self, x, y)


class _CachedPass:
    """The state of the fast sampler: per-layer caches of the vertical stack (the last
    ``k//2 + 1`` input rows) and of the horizontal stack (the current row's left context).

    Per pixel it runs only the horizontal stack, as small matrix products over flattened
    ``1 x (k//2 + 1)`` windows; per finished row it runs the vertical stack on that row.
    """

    def __init__(self, model: GatedPixelCNN, x: torch.Tensor, y: torch.Tensor | None) -> None:
        self.m = m = model
        n, W = x.shape[0], m.W
        self.x = x
        ref = next(m.parameters())
        self.conds = [b.condition(y, n, ref) for b in m.blocks]
        # weights read once: h_conv as ((p+1)*cin, 2F) over windows laid out (column, channel)
        self.Wh = [b.h_conv.masked_weight().permute(0, 2, 3, 1).flatten(1).t() for b in m.blocks]
        self.Wout = [b.h_out.masked_weight().flatten(1).t() for b in m.blocks]
        self.W1, self.W2 = m.head1.masked_weight().flatten(1).t(), m.head2.masked_weight().flatten(1).t()
        # vertical input rows (n, cin, p+1, W+2p), zero = the padding above the image
        self.vrows = [torch.zeros(n, b.v_conv.in_channels, b.p + 1, W + 2 * b.p, dtype=ref.dtype, device=ref.device)
                      for b in m.blocks]
        # link[l] (n, W, 2F): everything in layer l's horizontal pre-activation that does not
        # come from the current row. Row 0 has no row above: the 1x1 link sees zeros.
        self.link = []
        for b, (_, ch) in zip(m.blocks, self.conds):
            const = b.v_to_h.bias + b.h_conv.bias + ch  # (n, 2F)
            self.link.append(const[:, None, :].expand(n, W, -1).contiguous())
        self.start_row(0)

    def start_row(self, i: int) -> None:
        """Fresh left-context rows (n, W+p, cin): layer 0 reads the image row itself."""
        m, ref = self.m, self.link[0]
        self.hrows = []
        for li, b in enumerate(m.blocks):
            row = torch.zeros(ref.shape[0], m.W + b.p, b.h_conv.in_channels, dtype=ref.dtype, device=ref.device)
            if li == 0:
                row[:, b.p:] = to_unit(self.x[:, :, i], m.spec).transpose(1, 2)
            self.hrows.append(row)

    def drawn(self, i: int, j: int, c: int) -> None:
        """Write the new value x[:, c, i, j] into the first layer's row."""
        self.hrows[0][:, j + self.m.blocks[0].p, c] = to_unit(self.x[:, c, i, j], self.m.spec)

    def params(self, i: int, j: int) -> torch.Tensor:
        """Output parameters (n, C, P) at (i, j) from the cached context (row i so far)."""
        m = self.m
        blocks = m.blocks
        h = None
        for li, b in enumerate(blocks):
            row, p = self.hrows[li], b.p
            if li > 0:
                row[:, j + p] = h  # this layer's input at the current pixel
            window = row[:, j:j + p + 1].flatten(1)  # (n, (p+1)*cin)
            pre = torch.addmm(self.link[li][:, j], window, self.Wh[li])  # (n, 2F)
            h_new = torch.addmm(b.h_out.bias, gate(pre), self.Wout[li])  # (n, F)
            h = h_new if b.first else row[:, j + p] + h_new
        out = torch.addmm(m.head1.bias, F.relu(h), self.W1)
        out = torch.addmm(m.head2.bias, F.relu(out), self.W2)  # (n, C*P)
        return out.view(-1, m.C, m.P)

    def row_done(self, i: int) -> None:
        """Row i is complete: run the vertical stack on it, giving row i+1's links."""
        m = self.m
        if i + 1 == m.H:
            return
        v = to_unit(self.x[:, :, i], m.spec)  # (n, C, W)
        for li, b in enumerate(m.blocks):
            rows = self.vrows[li]
            rows[:, :, :-1] = rows[:, :, 1:].clone()
            rows[:, :, -1, b.p:b.p + m.W] = v
            v_pre = b.v_conv(rows) + self.conds[li][0][:, :, None, None]  # (n, 2F, 1, W)
            link = F.conv2d(v_pre, b.v_to_h.weight) + b.h_conv.bias[:, None, None] + b.v_to_h.bias[:, None, None]
            self.link[li] = (link[:, :, 0] + self.conds[li][1][:, :, None]).transpose(1, 2).contiguous()
            v = gate(v_pre)[:, :, 0]  # (n, F, W)
        self.start_row(i + 1)

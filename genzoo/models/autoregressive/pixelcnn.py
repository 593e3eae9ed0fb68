"""PixelCNN: masked convolutions over an image in raster order.

van den Oord, Kalchbrenner & Kavukcuoglu (2016), "Pixel Recurrent Neural Networks",
ICML, section 3.5. arXiv:1601.06759.

``p(x) = prod_i prod_c p(x_{i,c} | x_<i, x_{i,<c})`` over pixels i in raster order and
channels c in order within a pixel. Every convolution is masked so that no output sees
a later pixel: mask A (first layer, 7x7) also hides the pixel itself, mask B (every later
layer) lets a unit see the pixel's own position. With C > 1 channels every feature map
belongs to one of C groups (contiguous thirds for RGB, as in the paper): at the centre
position, group g sees the input channels < g under mask A and the feature groups <= g
under mask B, so R is predicted from nothing of its own pixel, G from R, B from R and G.

Network (the paper's PixelCNN): a 7x7 mask-A convolution to ``2h`` maps, ``layers``
residual blocks (ReLU, 1x1 to ``h``, ReLU, masked kxk ``h -> h``, ReLU, 1x1 back to ``2h``,
added to the block input: the paper's figure 5), then ReLU, a 1x1 layer of ``head`` maps,
ReLU, and a 1x1 layer to the per-channel output parameters of a
:class:`~genzoo.models.autoregressive.pixel_outputs.PixelOutput` (a softmax over the values, as in the paper,
or the PixelCNN++ logistic mixture). Inputs are the pixel values scaled to [-1, 1]. With
``conditional`` every layer gets a learned bias per class.

Sampling is sequential. ``cached`` sampling follows Ramachandran et al. (2017), "Fast
Generation for Convolutional Autoregressive Models": the input of every kxk convolution
is kept as a map; each new pixel (and channel) computes every layer at that one position
only, from the causal part of the kxk window around it, so a step costs
O(layers * k^2 * width^2) per image instead of a whole-image forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

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
class PixelCNNConfig:
    """PixelCNN hyperparameters.

    Args:
        channels: 2h, the feature maps between residual blocks (paper: 2h = 256 on CIFAR).
        layers: residual blocks after the first layer (paper: 15 on CIFAR, 7 on MNIST).
        kernel: size of the mask-B convolution in every block (paper: 3).
        first_kernel: size of the mask-A first convolution (paper: 7).
        head: maps of the 1x1 layer before the output (paper: 1024 on CIFAR, 32 on MNIST);
            0 = ``channels``.
        output: ``categorical`` (softmax / Bernoulli), ``logistic_mixture`` (PixelCNN++) or
            ``auto`` (categorical for discrete data, logistic mixture for continuous data).
        mixtures: logistic components for the mixture output.
        conditional: learn a bias per class in every layer (needs labelled data); sample
            with ``condition=labels``.
    """

    channels: int = 32
    layers: int = 3
    kernel: int = 3
    first_kernel: int = 7
    head: int = 0
    output: str = "auto"
    mixtures: int = 5
    conditional: bool = False

    def validate(self) -> None:
        positive(self.channels, "channels")
        positive(self.layers, "layers", allow_zero=True)
        positive(self.head, "head", allow_zero=True)
        positive(self.mixtures, "mixtures")
        choice(self.output, ("auto", "categorical", "logistic_mixture"), "output")
        for key in ("kernel", "first_kernel"):
            k = getattr(self, key)
            if k < 1 or k % 2 == 0:
                raise GenzooError(f"bad value {k!r} for {key}: must be an odd size >= 1")
        if self.channels < 2:
            raise GenzooError(f"bad value {self.channels!r} for channels: need at least 2 (h = channels // 2)")


def causal_mask(out_groups: torch.Tensor, in_groups: torch.Tensor, k: int, *, mask_a: bool) -> torch.Tensor:
    """(out, in, k, k) 0/1 mask: rows above, the left part of the centre row, and at the
    centre the input groups < (mask A) or <= (mask B) the output's group."""
    m = torch.zeros(len(out_groups), len(in_groups), k, k)
    c = k // 2
    m[:, :, :c, :] = 1
    m[:, :, c, :c] = 1
    centre = in_groups[None, :] < out_groups[:, None] if mask_a else in_groups[None, :] <= out_groups[:, None]
    m[:, :, c, c] = centre.float()
    return m


class CausalConv2d(nn.Conv2d):
    """Same-size convolution whose weight is multiplied by a fixed causal mask, plus an
    optional learned per-class bias."""

    def __init__(self, mask: torch.Tensor, num_classes: int | None) -> None:
        out_ch, in_ch, k, _ = mask.shape
        super().__init__(in_ch, out_ch, k, padding=k // 2)
        self.register_buffer("mask", mask, persistent=False)
        self.class_bias = nn.Embedding(num_classes, out_ch) if num_classes else None
        if self.class_bias is not None:
            nn.init.zeros_(self.class_bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out = F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)
        if self.class_bias is not None and y is not None:
            out = out + self.class_bias(y)[:, :, None, None]
        return out

    def flat_weight(self) -> torch.Tensor:
        """The masked weight over the causal rows of the window, (in * (k//2 + 1) * k, out):
        the rows below the centre are all masked out, so a step never reads them."""
        p = self.kernel_size[0] // 2
        return (self.weight * self.mask)[:, :, :p + 1, :].flatten(1).t().contiguous()

    def at(self, window: torch.Tensor, flat_w: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """This layer's output at one position from the causal window (n, in, k//2 + 1, k)."""
        out = torch.addmm(self.bias, window.reshape(window.shape[0], -1), flat_w)  # (n, out)
        if self.class_bias is not None and y is not None:
            out = out + self.class_bias(y)
        return out


class ResidualBlock(nn.Module):
    """ReLU, 1x1 (2h -> h), ReLU, masked kxk (h -> h), ReLU, 1x1 (h -> 2h), plus the input."""

    def __init__(self, channels: int, kernel: int, C: int, num_classes: int | None) -> None:
        super().__init__()
        h = channels // 2
        g2h, gh = channel_groups(channels, C), channel_groups(h, C)
        self.reduce = CausalConv2d(causal_mask(gh, g2h, 1, mask_a=False), num_classes)
        self.conv = CausalConv2d(causal_mask(gh, gh, kernel, mask_a=False), num_classes)
        self.expand = CausalConv2d(causal_mask(g2h, gh, 1, mask_a=False), num_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        a = F.relu(self.reduce(F.relu(x), y))
        return x + self.expand(F.relu(self.conv(a, y)), y)


@register
class PixelCNN(RasterImageModel):
    """Masked-convolution autoregressive image model; exact ``log_prob``.

    Likelihood, loss, sampling and completion: :class:`~genzoo.models.autoregressive.raster.RasterImageModel`.
    """

    name = "pixelcnn"
    Config = PixelCNNConfig

    def __init__(self, config: PixelCNNConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        C, P = self.C, self.P
        F2, head = config.channels, config.head or config.channels
        g2h, ghead = channel_groups(F2, C), channel_groups(head, C)
        self.first = CausalConv2d(causal_mask(g2h, torch.arange(C), config.first_kernel, mask_a=True),
                                  self.num_classes)
        self.blocks = nn.ModuleList(ResidualBlock(F2, config.kernel, C, self.num_classes)
                                    for _ in range(config.layers))
        self.head = CausalConv2d(causal_mask(ghead, g2h, 1, mask_a=False), self.num_classes)
        # output map m holds parameter m % P of channel m // P
        self.out = CausalConv2d(causal_mask(torch.arange(C * P) // P, ghead, 1, mask_a=False), None)

    # ---- network -----------------------------------------------------------------
    def network(self, u: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Output parameters (B, C, P, H, W) for inputs ``u`` (B, C, H, W) scaled to [-1, 1].

        Entry [:, c, :, i, j] depends only on pixels before (i, j) in raster order and on
        channels < c of pixel (i, j).
        """
        B = u.shape[0]
        h = self.first(u, y)  # (B, 2h, H, W)
        for block in self.blocks:
            h = block(h, y)
        out = self.out(F.relu(self.head(F.relu(h), y)))  # (B, C*P, H, W)
        return out.view(B, self.C, self.P, self.H, self.W)

    def cached_pass(self, x: torch.Tensor, y: torch.Tensor | None) -> _CachedPass:
        return _CachedPass(self, x, y)


class _CachedPass:
    """Per-position evaluation of the network with the inputs of every kxk convolution
    kept as maps (Ramachandran et al. 2017).

    Only the mask-A layer (on the image) and each block's kxk layer look at other
    positions; the 1x1 layers and the residual sums are computed at the new position
    alone. A map is padded by k//2 on the top, left and right, so the causal window of
    position (i, j) is rows i..i+k//2, columns j..j+k-1 of the padded map.
    """

    def __init__(self, model: PixelCNN, x: torch.Tensor, y: torch.Tensor | None) -> None:
        self.m, self.x, self.y = model, x, y
        n, C, H, W = x.shape
        p0 = model.first.kernel_size[0] // 2
        self.p0 = p0
        # the scaled image, zero outside it like the convolution's padding
        self.image = torch.zeros(n, C, H + p0, W + 2 * p0, device=x.device)
        self.w_first = model.first.flat_weight()
        self.blocks = []
        for block in model.blocks:
            p = block.conv.kernel_size[0] // 2
            cache = torch.zeros(n, block.conv.in_channels, H + p, W + 2 * p, device=x.device)
            self.blocks.append((block, p, cache, block.reduce.flat_weight(), block.conv.flat_weight(),
                                block.expand.flat_weight()))
        self.w_head, self.w_out = model.head.flat_weight(), model.out.flat_weight()
        self.last: tuple[int, int] | None = None  # the pixel of the previous step

    def _write(self, i: int, j: int) -> None:
        p0 = self.p0
        self.image[:, :, i + p0, j + p0] = to_unit(self.x[:, :, i, j], self.m.spec)

    def drawn(self, i: int, j: int, c: int) -> None:
        pass  # values are read off the image when the next step needs them

    def row_done(self, i: int) -> None:
        pass

    def params(self, i: int, j: int) -> torch.Tensor:
        """Output parameters (n, C, P) at pixel (i, j), given the image written so far."""
        m, y, p0 = self.m, self.y, self.p0
        k0 = 2 * p0 + 1
        # the previous pixel's last channel was drawn after its final step; of (i, j) the
        # channels drawn so far (the undrawn ones are hidden by the masks anyway)
        if self.last is not None and self.last != (i, j):
            self._write(*self.last)
        self._write(i, j)
        self.last = (i, j)
        h = m.first.at(self.image[:, :, i:i + p0 + 1, j:j + k0], self.w_first, y)  # (n, 2h)
        for block, p, cache, w_reduce, w_conv, w_expand in self.blocks:
            a = F.relu(block.reduce.at(F.relu(h), w_reduce, y))  # (n, h)
            cache[:, :, i + p, j + p] = a
            b = F.relu(block.conv.at(cache[:, :, i:i + p + 1, j:j + 2 * p + 1], w_conv, y))
            h = h + block.expand.at(b, w_expand, y)
        out = m.out.at(F.relu(m.head.at(F.relu(h), self.w_head, y)), self.w_out, None)  # (n, C*P)
        return out.view(-1, m.C, m.P)

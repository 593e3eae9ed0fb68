"""Networks shared by the image-to-image GANs (pix2pix, CycleGAN): a U-Net generator,
a PatchGAN discriminator, and how the models keep source images for sampling.

U-Net (Ronneberger et al. 2015, as in pix2pix, Isola et al. 2017): ``depth`` stride-2
4x4 convolutions down (LeakyReLU 0.2, batch norm after the first), the same number of
4x4 transposed convolutions up (ReLU, batch norm, dropout 0.5 on the deepest ``dropout``
layers), each up layer concatenated with the down layer of the same size (the skips), a
final 3x3 convolution and tanh. The depth is as large as the image allows: each halving
needs an even side of at least 4 (an 8x8 digit: 2 levels; 28x28: 2; 32x32: 3).

PatchGAN (pix2pix): 4x4 convolutions, stride 2 then 1, LeakyReLU and batch norm, ending
in a map of logits, each judging one receptive-field patch as real or fake.
"""

from __future__ import annotations

import torch
from torch import nn

from genzoo.errors import GenzooError


def unet_depth(h: int, w: int, most: int) -> int:
    """How many stride-2 halvings fit (each needs an even side >= 4), at most ``most``."""
    d = 0
    while d < most and h % 2 == 0 and w % 2 == 0 and min(h, w) >= 4:
        h, w, d = h // 2, w // 2, d + 1
    return d


class UNet(nn.Module):
    """(B, c_in, H, W) in [-1, 1] -> (B, c_out, H, W) in [-1, 1]."""

    def __init__(self, c_in: int, c_out: int, h: int, w: int, *, channels: int = 32, depth: int = 3,
                 dropout: int = 1) -> None:
        super().__init__()
        self.depth = unet_depth(h, w, depth)
        widths = [min(channels * 2**i, 8 * channels) for i in range(self.depth)]
        self.down = nn.ModuleList()
        prev = c_in
        for i, wd in enumerate(widths):
            self.down.append(nn.Sequential(nn.Conv2d(prev, wd, 4, 2, 1), *([nn.BatchNorm2d(wd)] if i else []),
                                           nn.LeakyReLU(0.2)))
            prev = wd
        self.up = nn.ModuleList()
        for i in reversed(range(self.depth)):
            out = widths[i - 1] if i else channels
            c_up = prev if i == self.depth - 1 else 2 * widths[i]
            drop = [nn.Dropout(0.5)] if (self.depth - 1 - i) < dropout else []
            self.up.append(nn.Sequential(nn.ConvTranspose2d(c_up, out, 4, 2, 1), nn.BatchNorm2d(out), nn.ReLU(), *drop))
            prev = out
        self.out = nn.Conv2d(prev + c_in if self.depth else c_in, c_out, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        for i, layer in enumerate(self.up):
            if i:
                h = torch.cat([h, skips[-1 - i]], 1)  # the skip of the same size
            h = layer(h)
        return torch.tanh(self.out(torch.cat([h, x], 1) if self.depth else x))


class PatchGAN(nn.Module):
    """(B, c, H, W) in [-1, 1] -> patch logits (B, P): one per receptive-field patch."""

    def __init__(self, c: int, h: int, w: int, *, channels: int = 32, layers: int = 2) -> None:
        super().__init__()
        n = unet_depth(h, w, layers)
        if n < layers:  # a setting that would silently do nothing
            raise GenzooError(f"bad value {layers} for d_layers: {h}x{w} images allow at most {n} stride-2 "
                              f"layers in the patch discriminator (each halves an even side of at least 4)")
        mods: list[nn.Module] = []
        prev = c
        for i in range(n):
            wd = channels * 2**i
            mods += [nn.Conv2d(prev, wd, 4, 2, 1), *([nn.BatchNorm2d(wd)] if i else []), nn.LeakyReLU(0.2)]
            prev = wd
        mods += [nn.Conv2d(prev, 2 * prev, 3, 1, 1), nn.BatchNorm2d(2 * prev), nn.LeakyReLU(0.2),
                 nn.Conv2d(2 * prev, 1, 3, 1, 1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)  # (B, patches)


"""The networks the diffusion family shares: a small U-Net for images, an MLP for vectors.

Both map ``(x_t, t, y)`` to a tensor of x's shape (a noise, data, v or velocity
prediction; the model decides which). ``t`` is a float time per example (DDPM passes
the integer step, flow matching ``1000 * t``) read through a sinusoidal embedding
(Vaswani et al. 2017, as in Ho et al. 2020). ``y`` is a class label in ``[0, K]``
where ``K`` (one past the last class) is the *null* label of classifier-free guidance
(Ho & Salimans 2022). A text-conditioned network (``vocab``) reads ``y`` as caption word
ids (B, L) instead (:class:`genzoo.nn.text.TextEncoder`); an all-padding row is the null
caption, embedded as a learned vector.

The U-Net (Ronneberger et al. 2015, in the form of Ho et al. 2020): residual blocks with
group norm and the time/class embedding added after the first convolution, a stride-2
downsampling between levels while both sides are at least 4 pixels (28 -> 14 -> 7, 8 ->
4 -> 2, 4 -> 2), self-attention at the lowest resolution, and the mirrored up path with
skip connections; upsampling goes back to the skip's exact size, so odd sizes (7) work
without padding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.nn.text import TextEncoder


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of float times t (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, dim % 2))


def _groups(channels: int) -> int:
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


class Embedding(nn.Module):
    """Time (and optional class or caption) embedding: sinusoid -> MLP, plus a learned
    class vector or the caption's encoding."""

    def __init__(self, base: int, dim: int, num_classes: int | None, vocab: int | None = None,
                 word_dim: int = 32) -> None:
        super().__init__()
        self.base = base
        self.mlp = nn.Sequential(nn.Linear(base, dim), nn.SiLU(), nn.Linear(dim, dim))
        # num_classes + 1 rows: the last is the null label of classifier-free guidance
        self.label = nn.Embedding(num_classes + 1, dim) if num_classes else None
        self.text = TextEncoder(vocab, word_dim, dim) if vocab else None
        self.null_text = nn.Parameter(torch.zeros(dim)) if vocab else None

    def forward(self, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        emb = self.mlp(timestep_embedding(t, self.base))  # (B, dim)
        if self.label is not None:
            if y is None:
                raise ValueError("a class-conditional network needs labels (the null label for none)")
            emb = emb + self.label(y)
        if self.text is not None:
            if y is None or y.dim() != 2:
                raise ValueError("a text-conditioned network needs word ids (B, L) (all padding for none)")
            null = (y == 0).all(1, keepdim=True)  # (B, 1)
            emb = emb + torch.where(null, self.null_text.to(emb.dtype), self.text(y))
        return emb


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv, + embedding, GroupNorm -> SiLU -> dropout -> conv; residual."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        r = self.conv1(F.silu(self.norm1(h)))
        r = r + self.emb(F.silu(emb))[:, :, None, None]
        r = self.conv2(self.drop(F.silu(self.norm2(r))))
        return self.skip(h) + r


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, residual."""

    def __init__(self, channels: int, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads if channels % heads == 0 else 1
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = h.shape
        q, k, v = self.qkv(self.norm(h)).reshape(b, 3, self.heads, c // self.heads, hh * ww).unbind(1)
        # (B, heads, HW, c/heads) each
        a = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return h + self.out(a.transpose(-1, -2).reshape(b, c, hh, ww))


class UNet(nn.Module):
    """eps/x0/v/velocity network for images (B, C, H, W) -> (B, C, H, W); with
    ``out_channels``, (B, out_channels, H, W) (d3pm's logits)."""

    def __init__(self, shape: tuple[int, ...], *, channels: int, channel_mults: tuple[int, ...],
                 res_blocks: int, attention: bool, dropout: float, num_classes: int | None,
                 out_channels: int | None = None, vocab: int | None = None, word_dim: int = 32) -> None:
        super().__init__()
        c_img, h, w = shape
        emb_dim = 4 * channels
        self.embed = Embedding(channels, emb_dim, num_classes, vocab, word_dim)
        self.inp = nn.Conv2d(c_img, channels, 3, padding=1)
        self.down = nn.ModuleList()
        skips, ch = [channels], channels
        for i, mult in enumerate(channel_mults):
            for _ in range(res_blocks):
                self.down.append(ResBlock(ch, channels * mult, emb_dim, dropout))
                ch = channels * mult
                skips.append(ch)
            if i < len(channel_mults) - 1:
                # a level too small to halve keeps its size (Identity) but still leaves a skip
                if min(h, w) >= 4:
                    self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                    h, w = (h + 1) // 2, (w + 1) // 2
                else:
                    self.down.append(nn.Identity())
                skips.append(ch)
        self.mid1 = ResBlock(ch, ch, emb_dim, dropout)
        self.attn = SelfAttention(ch) if attention else nn.Identity()
        self.mid2 = ResBlock(ch, ch, emb_dim, dropout)
        self.up = nn.ModuleList()
        for mult in reversed(channel_mults):
            for _ in range(res_blocks + 1):
                self.up.append(ResBlock(ch + skips.pop(), channels * mult, emb_dim, dropout))
                ch = channels * mult
        self.out_norm = nn.GroupNorm(_groups(ch), ch)
        self.out = nn.Conv2d(ch, out_channels or c_img, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.embed(t, y)
        h = self.inp(x)
        hs = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            hs.append(h)
        h = self.mid2(self.attn(self.mid1(h, emb)), emb)
        for block in self.up:
            skip = hs.pop()
            if h.shape[-2:] != skip.shape[-2:]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), emb)
        return self.out(F.silu(self.out_norm(h)))


class MLPNet(nn.Module):
    """The same job for flat vectors (B, D) -> (B, D): residual SiLU layers with the
    embedding added to every hidden layer."""

    def __init__(self, dim: int, *, hidden: int, layers: int, num_classes: int | None,
                 vocab: int | None = None, word_dim: int = 32) -> None:
        super().__init__()
        self.embed = Embedding(64, hidden, num_classes, vocab, word_dim)
        self.inp = nn.Linear(dim, hidden)
        self.layers = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.out = nn.Linear(hidden, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.embed(t, y)  # (B, hidden)
        h = self.inp(x)
        for layer in self.layers:
            h = h + layer(F.silu(h + emb))
        return self.out(F.silu(h))

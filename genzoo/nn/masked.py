"""Masked linear layer, the building block of MADE-style autoregressive networks.

A binary connectivity mask multiplies the weight matrix so that chosen input -> output
connections are cut. Autoregressive models build the mask from unit degrees so that
output ``d`` only sees inputs earlier in the ordering (Germain et al. 2015, MADE).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Linear):
    """``nn.Linear`` whose weight is multiplied by a fixed 0/1 mask.

    The mask is a persistent boolean buffer of the weight's shape ``(out, in)`` (all
    ones until :meth:`set_mask` is called), so it moves with the module and is saved in
    ``state_dict``; being boolean it is untouched by dtype casts.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.register_buffer("mask", torch.ones(out_features, in_features, dtype=torch.bool))

    def set_mask(self, mask: torch.Tensor) -> None:
        """Set the connectivity ``mask`` of shape ``(out_features, in_features)``; nonzero = connected."""
        if tuple(mask.shape) != tuple(self.weight.shape):
            raise ValueError(f"mask shape {tuple(mask.shape)} != weight shape {tuple(self.weight.shape)}")
        self.mask.copy_(mask.to(device=self.mask.device, dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Masking the weight (not the output) keeps cut connections out of the gradient too.
        return F.linear(x, self.weight * self.mask, self.bias)

"""A small caption encoder shared by the text-conditioned models (t2i_gan, the diffusion
models with ``text=true``): word embeddings, a GRU, its state after the last word."""

from __future__ import annotations

import torch
from torch import nn


class TextEncoder(nn.Module):
    """Word ids (B, L) (0 = padding, at least one word each) -> caption embedding (B, D):
    the GRU's state after the last word."""

    def __init__(self, vocab: int, word_dim: int, text_dim: int) -> None:
        super().__init__()
        self.words = nn.Embedding(vocab, word_dim, padding_idx=0)
        self.gru = nn.GRU(word_dim, text_dim, batch_first=True)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = (ids != 0).sum(1).clamp_min(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.words(ids), lengths, batch_first=True, enforce_sorted=False)
        return self.gru(packed)[1][0]  # (B, D)

"""Output biases at the training split's per-dimension marginals.

MADE's and NADE's ``marginal_init``: an autoregressive model whose output biases are the
log-odds (binary) or log-frequencies (categorical) of each dimension starts training at
the independent-dimensions model instead of at D log K nats. Adam moves a bias by about
``lr`` per step, so from 0 a background pixel's bias (about -6) takes thousands of steps.
"""

from __future__ import annotations

import torch


def marginal_logits(x: torch.Tensor, *, num_values: int, categorical: bool) -> torch.Tensor:
    """Per-dimension log-odds (D,) of binary data, or add-one smoothed log-frequencies (D, K).

    Args:
        x: (N, D) training examples, flattened.
        num_values: K, the number of values of categorical data.
        categorical: whether ``x`` holds categories (else 0/1 values).
    """
    if categorical:
        N, D = x.shape
        counts = torch.zeros(D, num_values).scatter_add_(1, x.long().T, torch.ones(D, N))
        return torch.log((counts + 1.0) / (N + num_values))  # (D, K)
    p = x.float().mean(0).clamp(1e-3, 1 - 1e-3)  # (D,)
    return torch.log(p) - torch.log1p(-p)

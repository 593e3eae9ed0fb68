"""Negative log-likelihood in nats and bits/dim, labelled exact, bound or estimate."""

from __future__ import annotations

import math
from typing import Any

import torch
from tqdm.auto import tqdm

from genzoo.errors import CapabilityError
from genzoo.models.base import GenerativeModel


def bits_per_dim(nll_nats: float, dim: int) -> float:
    """Convert a per-example NLL in nats to bits per dimension."""
    return nll_nats / (dim * math.log(2))


@torch.no_grad()
def evaluate_nll(model: GenerativeModel, x: torch.Tensor, *, batch_size: int = 256, seed: int = 0,
                 progress: bool = False, **log_prob_kwargs: Any) -> dict[str, Any]:
    """Mean test NLL of ``x`` under ``model``.

    Returns a dict with ``nll_nats``, ``bits_per_dim``, ``kind`` (exact / bound /
    estimate), ``note`` (what exactly was computed) and ``n``. Stochastic bounds use a
    fixed seed so the same run gives the same number.
    """
    if model.likelihood is None:
        raise CapabilityError(f"model {model.name!r} has no likelihood (it is an implicit model)")
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        total, n = 0.0, 0
        model.eval()
        for i in tqdm(range(0, len(x), batch_size), disable=not progress, desc="eval", leave=False):
            xb = x[i:i + batch_size].to(model.device)
            lp = model.log_prob(xb, **log_prob_kwargs)
            total += float(lp.double().sum())
            n += len(xb)
    finally:
        torch.set_rng_state(state)
    nll = -total / max(n, 1)
    kind = getattr(model, "likelihood_kind", None) or model.likelihood
    return {"nll_nats": nll, "bits_per_dim": bits_per_dim(nll, model.spec.dim), "kind": kind,
            "note": model.likelihood_note(**log_prob_kwargs), "n": n}

"""Negative log-likelihood in nats and bits/dim, labelled exact, bound or estimate."""

from __future__ import annotations

import math
from typing import Any

import torch
from tqdm.auto import tqdm

from genzoo.errors import CapabilityError, GenzooError
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


@torch.no_grad()
def sliding_window_nll(model: GenerativeModel, ids: torch.Tensor, *, block: int, stride: int,
                       batch_size: int = 64) -> dict[str, Any]:
    """Mean NLL per token (nats) of one token stream ``ids`` (L,), each token scored once.

    Windows of ``block`` tokens start every ``stride`` tokens (the last one is moved back to
    end at the end of the stream); a window scores only the tokens the previous window
    did not reach, so every token after the first window is predicted from at least
    ``block - stride`` tokens of context (``stride=1``: from ``block - 1``). With
    ``stride == block`` this is the plain per-window evaluation, where each window's
    first token is predicted from nothing. Needs a token-stream model (``stream_logits``).
    """
    if not hasattr(model, "stream_logits"):
        raise CapabilityError(f"model {model.name!r} does not read token streams; the sliding-window "
                              "evaluation needs one (transformer, lstm, wavenet)")
    if not 1 <= stride <= block:
        raise GenzooError(f"bad stride {stride}: must be in [1, block={block}]")
    ids = ids.reshape(-1).long()
    L = len(ids)
    if L < block:
        raise GenzooError(f"the stream has {L} tokens, fewer than block={block}")
    starts = list(range(0, L - block + 1, stride))
    if starts[-1] + block < L:
        starts.append(L - block)
    # First position each window scores: where the previous window ended.
    first = [0] + [a_prev + block - a for a_prev, a in zip(starts[:-1], starts[1:])]
    model.eval()
    total, n = 0.0, 0
    offsets = torch.arange(block)
    for i in range(0, len(starts), batch_size):
        a = torch.tensor(starts[i:i + batch_size])
        win = ids[a[:, None] + offsets].to(model.device)  # (b, block)
        logp = torch.log_softmax(model.stream_logits(win).double(), -1)  # (b, block, K)
        lp = logp.gather(-1, win[..., None]).squeeze(-1)  # (b, block)
        keep = offsets.to(win.device)[None, :] >= torch.tensor(first[i:i + batch_size], device=win.device)[:, None]
        total += float(lp[keep].sum())
        n += int(keep.sum())
    assert n == L, (n, L)
    return {"nll_per_token": -total / n, "tokens": n, "block": block, "stride": stride,
            "min_context": block - stride if len(starts) > 1 else 0}

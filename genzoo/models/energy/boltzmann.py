"""What the Boltzmann machines of this family (rbm, dbm) share: enumerating binary
states, the annealed-importance-sampling loop, and a log Z cache.

Neal (2001), "Annealed importance sampling", Statistics and Computing 11; Salakhutdinov
& Murray (2008), "On the quantitative analysis of deep belief networks", ICML (AIS for
the partition function of an RBM).

AIS estimates ``Z_K / Z_0`` for unnormalised densities ``f_0 .. f_K`` (here
``f_k = f_{beta_k}``, beta from 0 to 1): start ``M`` runs with exact draws from
``p_0 = f_0 / Z_0``; at each k add ``log f_k(x) - log f_{k-1}(x)`` to the run's log
weight, then move x with a transition that leaves ``p_k`` invariant. The mean weight is
unbiased for ``Z_K / Z_0``, so ``log Z`` comes out low on average (Jensen) and a
likelihood computed with it high.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch


def all_states(n: int, lo: int, hi: int, *, dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """Binary states ``lo .. hi-1`` of ``n`` units as rows of 0/1: (hi - lo, n)."""
    idx = torch.arange(lo, hi, device=device)
    return ((idx[:, None] >> torch.arange(n, device=device)) & 1).to(dtype)


def ais_log_z(state: Any, *, runs: int, betas: Sequence[float], log_z0: float,
              log_ratio: Callable[[Any, float, float], torch.Tensor],
              move: Callable[[Any, float], Any]) -> tuple[float, float]:
    """AIS estimate of ``log Z_K`` and its delta-method standard error.

    Args:
        state: exact draws from ``p_0``, ``runs`` of them, in whatever form the two
            callables use (e.g. the units together with their pre-activations, so that
            the weight and the move share one matrix product).
        betas: the inverse temperatures ``0 = beta_0 < ... < beta_K = 1``.
        log_z0: ``log Z_0`` of the base distribution (known in closed form).
        log_ratio: ``(state, beta_k, beta_{k-1}) -> log f_k - log f_{k-1}`` at the state:
            (runs,) float64.
        move: ``(state, beta_k) -> state'``, a transition that leaves ``p_k`` invariant.
    """
    log_w = torch.zeros((), dtype=torch.float64)
    K = len(betas) - 1
    for k in range(1, K + 1):
        log_w = log_w + log_ratio(state, betas[k], betas[k - 1])
        if k < K:  # the last state is never used: its weight is complete
            state = move(state, betas[k])
    log_w = log_w.expand(runs)
    log_z = log_z0 + float(torch.logsumexp(log_w, 0)) - math.log(runs)
    w = torch.exp(log_w - log_w.max())
    std_err = float(w.std() / (math.sqrt(runs) * w.mean())) if runs > 1 else float("inf")
    return log_z, std_err


class LogZCache:
    """log Z results keyed by the AIS settings, valid while the given tensors keep their
    values (compared by value, so an optimizer step or a loaded state dict invalidates it)."""

    def __init__(self) -> None:
        self._values: dict[tuple[int, int], tuple[float, float]] = {}
        self._snapshot: tuple[torch.Tensor, ...] = ()

    def get(self, key: tuple[int, int], tensors: Sequence[torch.Tensor],
            compute: Callable[[], tuple[float, float]]) -> tuple[float, float]:
        """The cached value for ``key`` if ``tensors`` are unchanged, else ``compute()``."""
        same = len(self._snapshot) == len(tensors) and all(
            a.device == t.device and a.shape == t.shape and torch.equal(a, t.detach())
            for a, t in zip(self._snapshot, tensors))
        if not same:
            self._values, self._snapshot = {}, tuple(t.detach().clone() for t in tensors)
        if key not in self._values:
            self._values[key] = compute()
        return self._values[key]


@torch.no_grad()
def base_rate_bias(mean: torch.Tensor) -> torch.Tensor:
    """Visible biases of the AIS base-rate model: the logit of the (smoothed) data mean (D,)."""
    p = mean.double().clamp(1e-3, 1 - 1e-3)
    return torch.log(p) - torch.log1p(-p)


def track_mean(mean: torch.Tensor, seen: torch.Tensor, x: torch.Tensor) -> None:
    """Fold a batch ``x`` (B, D) into the running mean (D,) of all ``seen`` rows so far
    (both buffers updated in place): the AIS base rate follows the training data."""
    n, m = int(seen), x.shape[0]
    mean.add_((x.mean(0) - mean) * (m / (n + m)))
    seen.add_(m)

"""Gaussian noise schedules and the samplers that step them (no network in here).

Forward process (Ho et al. 2020): ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)``
for t = 1..T, with ``abar_t = prod_{s<=t} (1 - beta_s)`` and ``abar_0 = 1``.

* ``linear``: beta from 1e-4 to 0.02 over T = 1000 steps (Ho et al.), rescaled by
  1000 / T for other T (Nichol & Dhariwal 2021, so the end point stays noisy).
* ``cosine``: ``abar_t = f(t) / f(0)``, ``f(t) = cos((t/T + s) / (1 + s) * pi/2)^2`` with
  s = 0.008 and beta clipped at 0.999 (Nichol & Dhariwal 2021).

A sampler gets a *denoiser* ``x_t, t -> (x0_hat, eps_hat)`` (the two consistent:
``x_t = sqrt(abar_t) x0_hat + sqrt(1 - abar_t) eps_hat``) and steps from noise to data:

* :func:`ddim_step` (Song et al. 2020, eq. 12) from t to any s < t with
  ``sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)``;
* :func:`ancestral_step` (Ho et al. 2020) from t to t - 1 (or to any s < t on a
  respaced chain) with the posterior mean ``mu~(x_t, x0_hat)`` and variance ``beta~``.

With eta = 1 and s = t - 1 the two are the same Gaussian; both take the unit noise ``z``
as an argument, so with the same draws they give the same samples (tested).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

Denoiser = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


def alpha_bar(schedule: str, T: int) -> torch.Tensor:
    """``abar_t`` for t = 0..T: (T + 1,) float64, ``abar_0 = 1``, decreasing."""
    if schedule == "linear":
        scale = 1000.0 / T
        betas = torch.linspace(scale * 1e-4, min(scale * 0.02, 0.999), T, dtype=torch.float64)
    elif schedule == "cosine":
        s = 0.008
        t = torch.arange(T + 1, dtype=torch.float64) / T
        f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    else:
        raise ValueError(f"unknown schedule {schedule!r}")
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])


def posterior(abar: torch.Tensor, t: int, s: int) -> tuple[float, float, float]:
    """q(x_s | x_t, x_0) = N(c0 x_0 + ct x_t, var) for s < t: returns (c0, ct, var).
    With s = t - 1 this is Ho et al.'s posterior (eq. 7); other s give the respaced
    chain of Nichol & Dhariwal (2021), whose step has beta = 1 - abar_t / abar_s."""
    a_t, a_s = float(abar[t]), float(abar[s])
    beta = 1 - a_t / a_s
    c0 = math.sqrt(a_s) * beta / (1 - a_t)
    ct = math.sqrt(a_t / a_s) * (1 - a_s) / (1 - a_t)
    return c0, ct, (1 - a_s) / (1 - a_t) * beta


def ancestral_step(x_t: torch.Tensor, t: int, s: int, x0_hat: torch.Tensor, z: torch.Tensor,
                   abar: torch.Tensor) -> torch.Tensor:
    """x_s ~ N(mu~(x_t, x0_hat), beta~ I), drawn as mean + sqrt(beta~) z (s < t)."""
    c0, ct, var = posterior(abar, t, s)
    return c0 * x0_hat + ct * x_t + math.sqrt(var) * z


def ddim_sigma(abar: torch.Tensor, t: int, s: int, eta: float) -> float:
    a_t, a_s = float(abar[t]), float(abar[s])
    return eta * math.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))


def ddim_step(x0_hat: torch.Tensor, eps_hat: torch.Tensor, t: int, s: int, eta: float, z: torch.Tensor,
              abar: torch.Tensor) -> torch.Tensor:
    """x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps_hat + sigma z (s < t)."""
    sigma = ddim_sigma(abar, t, s, eta)
    a_s = float(abar[s])
    return math.sqrt(a_s) * x0_hat + math.sqrt(max(1 - a_s - sigma ** 2, 0.0)) * eps_hat + sigma * z


def renoise(x_s: torch.Tensor, s: int, t: int, z: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """q(x_t | x_s) for t > s: the forward process run on from step s (RePaint's jump back)."""
    a = float(abar[t]) / float(abar[s])
    return math.sqrt(a) * x_s + math.sqrt(1 - a) * z


def timesteps(T: int, steps: int) -> list[int]:
    """``steps`` + 1 descending times from T to 0, evenly spaced (DDIM's sub-sequence)."""
    return sorted({round(T * i / steps) for i in range(steps + 1)}, reverse=True)


def repaint_schedule(n: int, jump_length: int, jump_count: int) -> list[int]:
    """Levels n -> 0 visited by RePaint (Lugmayr et al. 2022): going down one level at a
    time, and at every ``jump_length``-th level going back up ``jump_length`` levels,
    ``jump_count - 1`` times, before going on down. ``jump_count = 1``: no resampling."""
    left = {j: jump_count - 1 for j in range(jump_length, n, jump_length)}
    seq, i = [n], n
    while i > 0:
        i -= 1
        seq.append(i)
        if left.get(i, 0) > 0 and i + jump_length <= n:
            left[i] -= 1
            for _ in range(jump_length):
                i += 1
                seq.append(i)
    return seq

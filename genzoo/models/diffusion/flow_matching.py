"""Flow matching: a velocity field trained on straight noise-to-data paths, sampled by an ODE.

Lipman, Chen, Ben-Hamu, Nickel & Le (2023), "Flow Matching for Generative Modeling",
ICLR, arXiv:2210.02747; Liu, Gong & Liu (2023), "Flow Straight and Fast: Learning to
Generate and Transfer Data with Rectified Flow", ICLR, arXiv:2209.03003.

With noise ``x_0 ~ N(0, I)`` and data ``x_1`` (on the [-1, 1] scale), the straight
(optimal-transport, sigma_min = 0) path ``x_t = (1 - t) x_0 + t x_1`` has the conditional
velocity ``x_1 - x_0``; conditional flow matching regresses the network ``v(x_t, t)`` onto
it at t ~ U[0, 1]. The learned field's ODE ``dx/dt = v(x, t)`` carries N(0, I) at t = 0
to the model at t = 1; it is solved by Euler, midpoint or Heun steps (:func:`ode_step`).

``log_prob`` runs the probability-flow ODE backwards from the data with the
instantaneous change of variables (Chen et al. 2018):
``log p_1(x_1) = log N(x_0; 0, I) - int_0^1 div v(x_t, t) dt``. The divergence is exact
(one backward pass per dimension) for small data and Hutchinson's estimate
``E[e^T (dv/dx) e]`` with Rademacher probes e (Grathwohl et al. 2019) otherwise. Either
way the finite step count makes the number an *estimate*. Discrete data (binary,
categorical(K)) is uniformly dequantized into K cells of [-1, 1], so
``log P(x) >= E_u[log p((cell of x) + u)] + D log(2 / K)``: a bound in expectation on top
of the ODE estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.base import Batch
from genzoo.models.diffusion.base import DiffusionModel, DiffusionNetConfig
from genzoo.models.registry import register
from genzoo.nn import rand
from genzoo.nn.modes import eval_mode
from genzoo.nn.values import num_levels

State = tuple[torch.Tensor, ...]


@dataclass
class FlowMatchingConfig(DiffusionNetConfig):
    """Flow-matching hyperparameters (network settings: :class:`DiffusionNetConfig`).

    Args:
        sampler: default ODE solver, ``euler``, ``heun`` or ``midpoint``.
        sample_steps: default number of solver steps from noise to data.
        guidance: classifier-free guidance weight used when sampling with labels.
        likelihood_steps: solver steps of the probability-flow ODE in ``log_prob``.
        divergence: ``exact``, ``hutchinson`` or ``auto`` (exact up to ``exact_max_dim``).
        exact_max_dim: largest data dimension for which ``auto`` takes the exact divergence.
        probes: Rademacher probes of the Hutchinson estimator.
    """

    sampler: str = "heun"
    sample_steps: int = 50
    guidance: float = 1.0
    likelihood_steps: int = 10
    divergence: str = "auto"
    exact_max_dim: int = 32
    probes: int = 2

    def validate(self) -> None:
        super().validate()
        choice(self.sampler, FlowMatching.samplers, "sampler")
        choice(self.divergence, ("auto", "exact", "hutchinson"), "divergence")
        for key in ("sample_steps", "likelihood_steps", "exact_max_dim", "probes"):
            positive(getattr(self, key), key)
        positive(self.guidance, "guidance", allow_zero=True)


def ode_step(f: Callable[[State, float], State], y: State, t: float, h: float, method: str) -> State:
    """One step of size h (negative runs backwards) of dy/dt = f(y, t) for a tuple state y."""
    def move(base: State, k: State, c: float) -> State:
        return tuple(a + c * b for a, b in zip(base, k))

    k1 = f(y, t)
    if method == "euler":
        return move(y, k1, h)
    if method == "midpoint":
        return move(y, f(move(y, k1, h / 2), t + h / 2), h)
    k2 = f(move(y, k1, h), t + h)  # heun: trapezoid with an Euler predictor
    return tuple(a + h / 2 * (b + c) for a, b, c in zip(y, k1, k2))


@register
class FlowMatching(DiffusionModel):
    """Conditional flow matching on the straight path; ODE samplers; likelihood by the ODE."""

    name = "flow_matching"
    Config = FlowMatchingConfig
    likelihood = "estimate"
    samplers = ("heun", "euler", "midpoint")

    def __init__(self, config: FlowMatchingConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.K = num_levels(spec)  # None for continuous data
        self.capabilities = (*self.capabilities, "encode", "decode")

    # ---- data <-> the [-1, 1] scale (dequantized cells for discrete data) ----------------
    def _unit(self, x: torch.Tensor, u: torch.Tensor | float = 0.5) -> torch.Tensor:
        """Data -> [-1, 1]; discrete level k goes to ``-1 + 2 (k + u) / K`` (u: cell offset)."""
        if self.K is None:
            return super()._unit(x)
        return -1 + 2 * (x.to(self.device).float() + u) / self.K

    def _data(self, u: torch.Tensor, generator: torch.Generator | None, stochastic: bool = True) -> torch.Tensor:
        if self.K is None:
            return super()._data(u, generator, stochastic)
        k = torch.floor((u + 1) / 2 * self.K).clamp(0, self.K - 1)
        return k if self.spec.value_type == "binary" else k.long()

    def _log_jacobian(self) -> float:
        """log |d unit / d data| summed over the D values (cell width 2/K for discrete data)."""
        if self.K is None:
            lo, hi = self.spec.value_range  # type: ignore[misc]
            return self.spec.dim * math.log(2.0 / (hi - lo))
        return self.spec.dim * math.log(2.0 / self.K)

    # ---- training -----------------------------------------------------------------------
    def velocity(self, x: torch.Tensor, t: float | torch.Tensor, y: torch.Tensor | None = None,
                 guidance: float = 0.0) -> torch.Tensor:
        """v(x, t) (guided when labels are given); t in [0, 1], a float or (B,)."""
        tt = torch.as_tensor(t, dtype=torch.float32, device=x.device).expand(x.shape[0])
        return self.predict(x, 1000.0 * tt, y, guidance)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """|v(x_t, t) - (x_1 - x_0)|^2 at t ~ U[0, 1] on the straight path (global RNG)."""
        x = batch["x"].to(self.device)
        x1 = self._unit(x, torch.rand(x.shape, device=self.device)) if self.K else self._unit(x)
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], device=self.device)
        tb = t.reshape(-1, *([1] * (x1.dim() - 1)))
        x_t = (1 - tb) * x0 + tb * x1
        out = self.net(x_t, 1000.0 * t, self.training_labels(batch))
        return {"loss": ((out - (x1 - x0)) ** 2).mean()}

    # ---- the ODE ----------------------------------------------------------------------
    def integrate(self, x: torch.Tensor, *, t0: float, t1: float, steps: int, method: str,
                  y: torch.Tensor | None = None, guidance: float = 0.0) -> torch.Tensor:
        """Solve dx/dt = v(x, t) from t0 to t1 in ``steps`` equal steps."""
        h = (t1 - t0) / steps
        for i in range(steps):
            (x,) = ode_step(lambda s, t: (self.velocity(s[0], t, y, guidance),), (x,), t0 + i * h, h, method)
        return x

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None, generator: torch.Generator | None = None,
               steps: int | None = None, sampler: str | None = None, eta: float | None = None,
               guidance: float | None = None) -> torch.Tensor:
        """n samples: x_0 ~ N(0, I) carried to t = 1 by ``steps`` steps of ``sampler``."""
        if eta is not None:
            raise GenzooError("eta is an option of DDIM sampling; flow_matching samples by an ODE "
                              f"({', '.join(self.samplers)})")
        labels, steps, sampler, _, guidance = self.sampling_options(
            n, condition=condition, steps=steps, sampler=sampler, eta=0.0, guidance=guidance)
        with eval_mode(self):
            x, _ = self._chain(n, labels=labels, steps=steps, sampler=sampler, eta=0.0, guidance=guidance,
                               generator=generator)
            return self._data(x, generator)

    def _chain(self, n: int, *, labels: torch.Tensor | None, steps: int, sampler: str, eta: float,
               guidance: float, generator: torch.Generator | None, every: int = 0
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Solve the ODE from x_0 ~ N(0, I) to t = 1; returns x_1 and every ``every``-th state."""
        x = rand.randn(n, *self.spec.shape, generator=generator, device=self.device)
        frames = [x]
        for i in range(1, steps + 1):
            x = self.integrate(x, t0=(i - 1) / steps, t1=i / steps, steps=1, method=sampler, y=labels,
                               guidance=guidance)
            if every and i % every == 0:
                frames.append(x)
        return x, frames

    @torch.no_grad()
    def encode(self, x: torch.Tensor, *, steps: int | None = None, sampler: str | None = None,
               **kwargs: Any) -> torch.Tensor:
        """Data -> noise x_0 by running the ODE backwards (discrete values at cell centres)."""
        with eval_mode(self):
            return self.integrate(self._unit(x), t0=1.0, t1=0.0, steps=steps or self.config.sample_steps,
                                  method=sampler or self.config.sampler)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, *, steps: int | None = None, sampler: str | None = None,
               **kwargs: Any) -> torch.Tensor:
        """Noise x_0 -> data: the ODE forwards, then back to the data's space (deterministic)."""
        with eval_mode(self):
            u = self.integrate(z.to(self.device), t0=0.0, t1=1.0, steps=steps or self.config.sample_steps,
                               method=sampler or self.config.sampler)
            return self._data(u, torch.Generator().manual_seed(0))

    # ---- completion: RePaint on the ODE's levels (level i is t = 1 - i / n) ----------------
    def _down(self, x, level, levels, y, generator):
        t = 1 - level / levels
        return self.integrate(x, t0=t, t1=t + 1 / levels, steps=1, method=self.config.sampler, y=y,
                              guidance=1.0 if y is not None else 0.0)

    def _marginal(self, x0, level, levels, generator):
        t = 1 - level / levels
        return t * x0 + (1 - t) * rand.randn(*x0.shape, generator=generator, device=x0.device)

    def _up(self, x, level, to, levels, generator):
        # x_s = (s/t) x_t + sqrt((1-s)^2 - (s/t)^2 (1-t)^2) z keeps the path's marginals (s < t)
        t, s = 1 - level / levels, 1 - to / levels
        std = math.sqrt(max((1 - s) ** 2 - (s / t) ** 2 * (1 - t) ** 2, 0.0))
        return (s / t) * x + std * rand.randn(*x.shape, generator=generator, device=x.device)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                 steps: int | None = None, jump_length: int | None = None, jump_count: int | None = None,
                 condition: torch.Tensor | None = None) -> torch.Tensor:
        """RePaint on the ODE (see :meth:`DiffusionModel.repaint`); observed entries unchanged."""
        return self.repaint(x, mask, generator=generator, steps=steps, jump_length=jump_length,
                            jump_count=jump_count, condition=condition)

    # ---- likelihood ---------------------------------------------------------------------
    def exact_divergence(self) -> bool:
        d = self.config.divergence
        return d == "exact" or (d == "auto" and self.spec.dim <= self.config.exact_max_dim)

    def _divergence(self, x: torch.Tensor, t: float, probes: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """v(x, t) and its divergence (B,): exact, or Hutchinson with ``probes`` (P, *x.shape).

        Both are ``mean_e e^T (dv/dx) e`` over a set of directions e: the D unit vectors
        (exact trace) or the P probes. The batch is repeated once per direction so that one
        backward pass gives every vector-Jacobian product."""
        b = x.shape[0]
        if probes is None:  # unit vectors: e_i^T J e_i summed over i is the trace
            d = x[0].numel()
            eye = torch.eye(d, device=x.device).reshape(d, 1, *x.shape[1:])
            dirs, scale = eye.expand(d, b, *x.shape[1:]), 1.0
        else:
            dirs, scale = probes, 1.0 / len(probes)
        n = dirs.shape[0]
        with torch.enable_grad():
            xr = x.detach().unsqueeze(0).expand(n, *x.shape).reshape(n * b, *x.shape[1:]).requires_grad_(True)
            v = self.velocity(xr, t)
            e = dirs.reshape(n * b, *x.shape[1:])
            (vjp,) = torch.autograd.grad((v * e).sum(), xr)
        div = (vjp * e).reshape(n, b, -1).sum((0, 2)) * scale
        return v.detach()[:b], div.detach()

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, *, steps: int | None = None, probes: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(x) in nats (B,) through the probability-flow ODE, unconditional (null label).

        Dequantization offsets and Hutchinson probes come from ``generator`` (None: the
        global RNG, which ``genzoo eval`` seeds)."""
        steps = steps or self.config.likelihood_steps
        with eval_mode(self):
            x1 = self._unit(x, rand.rand(*x.shape, generator=generator, device=self.device)) if self.K \
                else self._unit(x)
            e = None
            if not self.exact_divergence():
                p = probes or self.config.probes
                e = rand.rand(p, *x1.shape, generator=generator, device=self.device).lt(0.5).float() * 2 - 1
            b = x1.shape[0]

            def f(y: State, t: float) -> State:
                v, div = self._divergence(y[0], t, e)
                return v, div

            y: State = (x1, torch.zeros(b, device=self.device))
            h = -1.0 / steps
            for i in range(steps):
                y = ode_step(f, y, 1.0 + i * h, h, self.config.sampler)
            x0, ell = y  # ell = -int_0^1 div v dt along the path
            log_p0 = -0.5 * (x0 ** 2).reshape(b, -1).sum(1) - 0.5 * self.spec.dim * math.log(2 * math.pi)
            return log_p0 + ell + self._log_jacobian()

    @property
    def likelihood_kind(self) -> str:
        return "estimate"

    def likelihood_note(self, *, steps: int | None = None, probes: int | None = None, **kwargs: Any) -> str:
        steps = steps or self.config.likelihood_steps
        div = "exact divergence" if self.exact_divergence() else \
            f"Hutchinson divergence, {probes or self.config.probes} Rademacher probes"
        note = f"estimate: probability-flow ODE, {steps} {self.config.sampler} steps, {div}"
        if self.K is not None:
            note += "; uniform dequantization (a lower bound in expectation)"
        return note

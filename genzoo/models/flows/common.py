"""What the image flows (RealNVP, Glow) share once they map data to a flat Gaussian.

A subclass builds ``self.map`` (a :class:`~genzoo.models.flows.layers.DataToFlow`: data to the
flow's logit space, with its Jacobian), ``self.flow`` (a multi-scale flow from that
space to eps ~ N(0, I)), ``self.D`` and, optionally, ``self.dequantizer`` (a learned
q(u|x); None for uniform dequantization), and says which image shapes it can squeeze
in ``_shape_problem``. Everything else (the likelihood and its kind, the loss,
sampling, encode/decode and completion) is defined here once.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.flows.layers import eval_mode, fill_by_likelihood, standard_normal_log_prob
from genzoo.nn import rand


class ImageFlow(GenerativeModel):
    """Base class of the image flows: exact density, or the dequantization bound."""

    likelihood = "exact"
    accepts = (("image", "*"),)
    capabilities = ("encode", "decode", "complete")
    family = "flow"

    def __init__(self, config: Any, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.dequantizer: torch.nn.Module | None = None  # a learned q(u|x), if any

    @staticmethod
    def _shape_problem(spec: DataSpec) -> str | None:
        """What is wrong with the image shape for this flow (None: nothing)."""
        raise NotImplementedError

    @classmethod
    def accepts_spec(cls, spec: DataSpec) -> bool:
        return super().accepts_spec(spec) and cls._shape_problem(spec) is None

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        problem = cls._shape_problem(spec) if GenerativeModel.accepts_spec.__func__(cls, spec) else None
        if problem:
            raise IncompatibleDataError(f"model {cls.name!r} cannot model {spec.name!r} ({spec.describe}); "
                                        f"it accepts {problem}")
        super().check_spec(spec)

    # ---- the flow ---------------------------------------------------------------------
    def forward_flow(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flow-space images w (B, C, H, W) -> eps (B, D) ~ N(0, I) and log |det d eps/dw| (B,)."""
        return self.flow(w)

    def inverse_flow(self, eps: torch.Tensor) -> torch.Tensor:
        """eps (B, D) -> flow-space images w (B, C, H, W); inverse of :meth:`forward_flow`."""
        return self.flow.inverse(eps)

    def log_p_flow(self, w: torch.Tensor) -> torch.Tensor:
        """Exact log-density of flow-space images w: (B,)."""
        eps, log_det = self.flow(w)
        return standard_normal_log_prob(eps) + log_det

    def _log_p_data(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The exact log density (continuous data) or one draw of the dequantization bound
        (discrete data), (B,); noise from ``generator``, or the global RNG when None."""
        u, log_q = None, 0.0
        if self.map.K is not None:
            variational = self.dequantizer is not None
            if generator is None:  # training noise: the global RNG, drawn on the device
                noise = (torch.randn if variational else torch.rand)(x.shape, device=x.device)
            else:
                noise = (rand.randn if variational else rand.rand)(*x.shape, generator=generator, device=x.device)
            u, log_q = self.dequantizer(x, noise) if variational else (noise, 0.0)
        w, log_det = self.map.logit(self.map.to_cube(x, u))
        return self.log_p_flow(w) + log_det + self.map.log_jac - log_q

    # ---- the contract -----------------------------------------------------------------
    @property
    def likelihood_kind(self) -> str:
        """``"exact"`` on continuous data, ``"bound"`` on dequantized discrete data."""
        return "exact" if self.map.K is None else "bound"

    def likelihood_note(self, *, dequant_samples: int | None = None, **kwargs: Any) -> str:
        if self.map.K is None:
            return "exact"
        kind = "variational" if self.dequantizer is not None else "uniform"
        return f"bound ({kind} dequantization, {dequant_samples or self.config.dequant_samples} samples)"

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Negative log-likelihood (one dequantization draw on discrete data), in nats."""
        nll = -self._log_p_data(batch["x"], None).mean()
        return {"loss": nll, "bits_per_dim": nll.detach() / (self.D * math.log(2))}

    def log_prob(self, x: torch.Tensor, *, dequant_samples: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(x) in nats (B,), with running normalization statistics (eval mode).

        Continuous data: exact. Discrete data: the dequantization lower bound averaged
        over ``dequant_samples`` draws of u from ``generator`` (default: a fixed seed, so
        evaluation repeats).
        """
        with eval_mode(self):
            if self.map.K is None:
                return self._log_p_data(x, None)
            S = dequant_samples or self.config.dequant_samples
            g = generator if generator is not None else torch.Generator().manual_seed(0)
            return sum(self._log_p_data(x, g) for _ in range(S)) / S

    # ---- sampling, codes, completion ----------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """eps ~ N(0, temperature^2 I) through the inverse flow, back to data: (n, *shape)."""
        self.sample_condition(n, condition)
        eps = rand.randn(n, self.D, generator=generator, device=self.device) * self.config.temperature
        return self.decode(eps)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Data (B, *shape) -> eps (B, D); discrete values sit at their bin centres (u = 1/2)."""
        u = None if self.map.K is None else torch.full(x.shape, 0.5, device=x.device)
        with eval_mode(self):
            return self.flow(self.map.logit(self.map.to_cube(x, u))[0])[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """eps (B, D) -> data (B, *shape) of the spec's dtype (values clamped into range)."""
        with eval_mode(self):
            return self.map.from_cube(self.map.sigmoid(self.flow.inverse(z)))

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                 steps: int | None = None) -> torch.Tensor:
        """Fill the entries where ``mask`` is False by maximizing the flow-space density.

        Starts the unobserved entries from a model sample (drawn with ``generator``),
        then takes ``steps`` (default ``complete_steps``) Adam steps on them with the
        observed entries held at their values (discrete: bin centres). A likelihood
        mode-seeking fill, not a draw from p(missing | observed). Observed entries are
        returned unchanged.
        """
        if tuple(mask.shape) != tuple(x.shape):
            raise GenzooError(f"mask shape {tuple(mask.shape)} does not match x shape {tuple(x.shape)}")
        x = x.to(self.device)
        observed = mask.to(device=self.device, dtype=torch.bool)
        u = None if self.map.K is None else torch.full(x.shape, 0.5, device=self.device)
        with eval_mode(self):
            w_obs = self.map.logit(self.map.to_cube(x, u))[0]
            # unobserved entries may hold placeholders (e.g. -1) that map to NaN: zero them
            w_obs = torch.where(observed, w_obs, torch.zeros_like(w_obs))
            eps = rand.randn(x.shape[0], self.D, generator=generator, device=self.device)
            w_start = self.flow.inverse(eps * self.config.temperature)
            w = fill_by_likelihood(self.log_p_flow, w_obs, w_start, observed,
                                   steps=self.config.complete_steps if steps is None else steps)
            filled = self.map.from_cube(self.map.sigmoid(w))
        return torch.where(observed, x.to(self.spec.dtype), filled)

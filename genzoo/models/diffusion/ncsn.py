"""NCSN: a noise-conditional score network, sampled by annealed Langevin dynamics.

Song & Ermon (2019), "Generative Modeling by Estimating Gradients of the Data
Distribution", NeurIPS, arXiv:1907.05600; Song & Ermon (2020), "Improved Techniques for
Training Score-Based Generative Models", NeurIPS, arXiv:2006.09011 (the score
parameterised as ``net / sigma``, the final denoising step).

Data x (on the [-1, 1] scale) is perturbed at L noise levels, a geometric ladder
``sigma_1 > ... > sigma_L`` from ``sigma_max`` to ``sigma_min``. One network, told the
level, estimates the score ``s(x~, sigma) ~ grad log q_sigma(x~)`` of the perturbed data.
It is trained by denoising score matching (Vincent 2011): for ``x~ = x + sigma z`` the
score of q(x~ | x) is ``-z / sigma``, and with the paper's weighting lambda(sigma) =
sigma^2 the loss at a uniformly drawn level is

    1/2 sigma^2 |s(x~, sigma) + z / sigma|^2 = 1/2 |net(x~, sigma) + z|^2,

since the score is ``s = net / sigma`` (Song & Ermon 2020, technique 3). The loss is
averaged over the values of x (per dimension), not summed.

Sampling is annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1): from a
perturbed uniform draw, at each level i run ``sample_steps`` steps of
``x <- x + alpha_i / 2 s(x, sigma_i) + sqrt(alpha_i) z`` with ``alpha_i = step_size *
sigma_i^2 / sigma_L^2``, and (``denoise``) finish with Tweedie's step
``x <- x + sigma_L^2 s(x, sigma_L)``, the posterior mean of the clean data.

Completion (Song & Ermon 2019, appendix B.3) is the same chain with the observed values
replaced by freshly noised truth before every step; it runs through the family's RePaint
machinery with one RePaint level per Langevin step. There is no likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genzoo.config import positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.base import Batch
from genzoo.models.diffusion.base import DiffusionModel, DiffusionNetConfig
from genzoo.models.registry import register
from genzoo.nn import rand
from genzoo.nn.modes import eval_mode


@dataclass
class NCSNConfig(DiffusionNetConfig):
    """NCSN hyperparameters (network settings: :class:`DiffusionNetConfig`). Noise levels
    are on the [-1, 1] scale: the paper's 1 and 0.01 on [0, 1] data are 2 and 0.02 here.
    Sampling defaults to 20 Langevin steps per level with twice the paper's step
    (alpha_i / sigma_i^2 = 0.4), a fifth of its cost; the paper's is ``sample_steps=100,
    step_size=8e-5`` (recipes/ncsn-mnist-gpu.yaml).

    Args:
        sigma_max: the largest noise level sigma_1.
        sigma_min: the smallest noise level sigma_L.
        levels: L, the number of noise levels (a geometric ladder).
        sample_steps: Langevin steps at each noise level when sampling (the paper's T;
            ``genzoo sample --steps`` sets it).
        step_size: epsilon; the step at level i is ``epsilon sigma_i^2 / sigma_L^2``.
        denoise: finish sampling with the denoising step ``x + sigma_L^2 s(x, sigma_L)``.
        guidance: classifier-free guidance weight on the score when sampling with labels.
        complete_steps: Langevin steps per level when completing (``--steps`` overrides).
        jump_count: RePaint resampling; 1 (the default here) is Song & Ermon's plain
            chain, whose Langevin steps already mix at each level.
    """

    sigma_max: float = 2.0
    sigma_min: float = 0.02
    levels: int = 10
    sample_steps: int = 20
    step_size: float = 1.6e-4
    denoise: bool = True
    guidance: float = 1.0
    complete_steps: int = 20
    jump_count: int = 1

    def validate(self) -> None:
        super().validate()
        for key in ("sigma_min", "levels", "sample_steps", "step_size"):
            positive(getattr(self, key), key)
        if self.sigma_max < self.sigma_min or (self.levels > 1 and self.sigma_max == self.sigma_min):
            raise GenzooError(f"bad value {self.sigma_max!r} for sigma_max: must be above sigma_min "
                              f"({self.sigma_min!r}) when levels > 1")
        positive(self.guidance, "guidance", allow_zero=True)


def noise_levels(sigma_max: float, sigma_min: float, levels: int) -> torch.Tensor:
    """The geometric ladder sigma_1 = sigma_max > ... > sigma_L = sigma_min, (L,) float64."""
    return torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), levels, dtype=torch.float64))


@register
class NCSN(DiffusionModel):
    """Score network over a ladder of noise levels; annealed Langevin sampling; no likelihood."""

    name = "ncsn"
    Config = NCSNConfig
    likelihood = None
    samplers = ("langevin",)

    def __init__(self, config: NCSNConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.L = config.levels
        self.register_buffer("sigmas", noise_levels(config.sigma_max, config.sigma_min, config.levels),
                             persistent=False)

    # ---- the score ----------------------------------------------------------------------
    def level_time(self, i: torch.Tensor) -> torch.Tensor:
        """The network's time input for level indices i (B,): log sigma mapped from
        [log sigma_min, log sigma_max] onto [0, 1000], as ddpm's steps are."""
        span = math.log(self.config.sigma_max / self.config.sigma_min)
        if span == 0:
            return torch.zeros(i.shape, device=i.device)
        return (1000.0 * torch.log(self.sigmas[i] / self.config.sigma_min) / span).float()

    def score(self, x: torch.Tensor, i: int, y: torch.Tensor | None = None, guidance: float = 0.0) -> torch.Tensor:
        """s(x, sigma_i) = net(x, sigma_i) / sigma_i (guided when labels are given)."""
        ii = torch.full((x.shape[0],), i, device=x.device, dtype=torch.long)
        return self.predict(x, self.level_time(ii), y, guidance) / float(self.sigmas[i])

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Denoising score matching weighted by sigma^2 at a uniform level (global RNG):
        ``1/2 |net(x + sigma z, sigma) + z|^2`` per value."""
        x0 = self._unit(batch["x"])
        i = torch.randint(0, self.L, (x0.shape[0],), device=x0.device)
        sigma = self.sigmas[i].float().reshape(-1, *([1] * (x0.dim() - 1)))
        z = torch.randn_like(x0)
        x = x0 + sigma * z
        t = self.level_time(i)
        out = self.net(x, t, self.training_labels(batch))
        return {"loss": 0.5 * ((out + z) ** 2).mean()}

    # ---- annealed Langevin dynamics ------------------------------------------------------
    def _level_of(self, k: int, steps: int) -> int:
        """The noise level of Langevin step k (0-based) of a chain with ``steps`` per level."""
        return min(k // steps, self.L - 1)

    def _langevin(self, x: torch.Tensor, i: int, y: torch.Tensor | None, guidance: float,
                  generator: torch.Generator | None, last: bool) -> torch.Tensor:
        """One Langevin step at level i; the chain's ``last`` step adds the denoising step."""
        alpha = self.config.step_size * float(self.sigmas[i] / self.sigmas[-1]) ** 2
        z = rand.randn(*x.shape, generator=generator, device=x.device)
        x = x + alpha / 2 * self.score(x, i, y, guidance) + math.sqrt(alpha) * z
        if last and self.config.denoise:
            x = x + float(self.sigmas[-1]) ** 2 * self.score(x, self.L - 1, y, guidance)
        return x

    def _prior(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """The chain's start: uniform on [-1, 1] perturbed at sigma_1 (a draw of q_sigma_1 for uniform data)."""
        u = rand.rand(n, *self.spec.shape, generator=generator, device=self.device) * 2 - 1
        return u + float(self.sigmas[0]) * rand.randn(n, *self.spec.shape, generator=generator, device=self.device)

    def _chain(self, n: int, *, labels: torch.Tensor | None, steps: int, sampler: str, eta: float,
               guidance: float, generator: torch.Generator | None, every: int = 0
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Annealed Langevin with ``steps`` per level; returns x and every ``every``-th state."""
        x = self._prior(n, generator)
        frames = [x]
        total = steps * self.L
        for k in range(total):
            x = self._langevin(x, self._level_of(k, steps), labels, guidance, generator, last=k == total - 1)
            if every and (k + 1) % every == 0:
                frames.append(x)
        return x, frames

    def _options(self, n: int, condition: torch.Tensor | None, steps: int | None, sampler: str | None,
                 eta: float | None, guidance: float | None) -> tuple[torch.Tensor | None, int, float]:
        if eta is not None:
            raise GenzooError("eta is an option of DDIM sampling; ncsn samples by annealed Langevin dynamics")
        labels, steps, _, _, guidance = self.sampling_options(n, condition=condition, steps=steps, sampler=sampler,
                                                              eta=0.0, guidance=guidance)
        return labels, steps, guidance

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None, generator: torch.Generator | None = None,
               steps: int | None = None, sampler: str | None = None, eta: float | None = None,
               guidance: float | None = None) -> torch.Tensor:
        """n samples by annealed Langevin dynamics with ``steps`` Langevin steps per noise
        level (default ``sample_steps``); labels in ``condition`` with ``guidance``."""
        labels, steps, guidance = self._options(n, condition, steps, sampler, eta, guidance)
        with eval_mode(self):
            x, _ = self._chain(n, labels=labels, steps=steps, sampler="langevin", eta=0.0, guidance=guidance,
                               generator=generator)
            return self._data(x, generator)

    @torch.no_grad()
    def sample_chain(self, n: int, *, steps: int, generator: torch.Generator | None = None, every: int = 1,
                     condition: torch.Tensor | None = None, sampler: str | None = None, eta: float | None = None,
                     guidance: float | None = None) -> torch.Tensor:
        """Frames of ``n`` chains of ``steps`` Langevin steps in all, spread evenly over the
        L levels (at least one per level): the start and every ``every``-th state, in the
        data's space (binary thresholded): (1 + total // every, n, *shape)."""
        if every < 1 or steps < 1:
            raise GenzooError(f"steps and every must be >= 1, got {steps} and {every}")
        if eta is not None:
            raise GenzooError("eta is an option of DDIM sampling; ncsn samples by annealed Langevin dynamics")
        return super().sample_chain(n, steps=max(1, steps // self.L), generator=generator, every=every,
                                    condition=condition, sampler=sampler, guidance=guidance)

    # ---- completion: RePaint levels are the chain's Langevin steps ------------------------
    def _down(self, x, level, levels, y, generator):
        steps = levels // self.L
        return self._langevin(x, self._level_of(levels - level, steps), y, 1.0 if y is not None else 0.0,
                              generator, last=level == 1)

    def _sigma_at(self, level: int, levels: int) -> float:
        """The noise of the state at RePaint level ``level`` (the one before its Langevin step)."""
        return float(self.sigmas[self._level_of(levels - level, levels // self.L)]) if level > 0 else 0.0

    def _marginal(self, x0, level, levels, generator):
        return x0 + self._sigma_at(level, levels) * rand.randn(*x0.shape, generator=generator, device=x0.device)

    def _up(self, x, level, to, levels, generator):
        var = self._sigma_at(to, levels) ** 2 - self._sigma_at(level, levels) ** 2
        return x + math.sqrt(max(var, 0.0)) * rand.randn(*x.shape, generator=generator, device=x.device)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                 steps: int | None = None, jump_length: int | None = None, jump_count: int | None = None,
                 condition: torch.Tensor | None = None) -> torch.Tensor:
        """Fill the entries where ``mask`` is False by annealed Langevin dynamics with the
        observed entries replaced by their noised truth before every step, ``steps``
        Langevin steps per level (default ``complete_steps``); observed entries unchanged."""
        steps = self.config.complete_steps if steps is None else steps
        if not isinstance(steps, int) or steps < 1:
            raise GenzooError(f"bad value {steps!r} for steps: must be an integer >= 1")
        return self.repaint(x, mask, generator=generator, steps=steps * self.L, jump_length=jump_length,
                            jump_count=jump_count, condition=condition)

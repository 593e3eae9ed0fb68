"""DDPM: denoising diffusion probabilistic models, sampled by ancestral steps or DDIM.

Ho, Jain & Abbeel (2020), "Denoising Diffusion Probabilistic Models", NeurIPS,
arXiv:2006.11239; Nichol & Dhariwal (2021), "Improved Denoising Diffusion Probabilistic
Models", arXiv:2102.09672 (cosine schedule, respacing); Song, Meng & Ermon (2020),
"Denoising Diffusion Implicit Models", arXiv:2010.02502; Salimans & Ho (2022) for
v-prediction; Ho & Salimans (2022) for classifier-free guidance.

Data x (on the [-1, 1] scale) is noised by ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps``
(see :mod:`~genzoo.models.diffusion.schedule`) and a U-Net (an MLP for vectors) learns to
undo it. Its output is, by ``prediction``, the noise ``eps``, the clean ``x_0``, or
``v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0``; the loss is the mean squared error on that
target at a uniform t (Ho et al.'s L_simple). Every parameterisation is turned into the
pair ``(x0_hat, eps_hat)`` and the samplers in ``schedule`` step from there, so one trained
network is sampled by ancestral DDPM (``ddpm``) or DDIM (``ddim``, any step count and eta).

``log_prob`` is the variational bound (Ho et al. eq. 5), in nats:

    -log p(x) <= KL(q(x_T|x_0) || N(0, I)) + sum_{t=2..T} KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t))
                 - E log p(x_0 | x_1),

with ``p(x_{t-1}|x_t)`` of variance ``beta~_t`` so each KL is
``c0_t^2 |x_0 - x0_hat|^2 / (2 beta~_t)``. The decoder at t = 1 is a Bernoulli for binary
data, a Gaussian discretized over the K bins of categorical data (K = 256 for 8-bit
images, Ho et al. sec. 3.3), and a Gaussian density for continuous data (then the bound
is on the density, in the data's own units). The T - 1 middle terms are summed exactly
(``vlb_samples = 0``) or estimated without bias from ``vlb_samples`` uniform draws of t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.base import Batch
from genzoo.models.diffusion.base import DiffusionModel, DiffusionNetConfig
from genzoo.models.diffusion.schedule import alpha_bar, ancestral_step, ddim_step, renoise, timesteps
from genzoo.models.registry import register
from genzoo.nn import rand
from genzoo.nn.modes import eval_mode


@dataclass
class DDPMConfig(DiffusionNetConfig):
    """DDPM hyperparameters (network settings: :class:`DiffusionNetConfig`).

    Args:
        timesteps: T, the length of the forward process.
        schedule: ``linear`` (Ho et al.) or ``cosine`` (Nichol & Dhariwal).
        prediction: what the network outputs: ``eps``, ``x0`` or ``v``.
        clip_x0: clip the predicted x_0 to [-1, 1] when sampling and in the bound.
        sampler: default sampler, ``ddim`` or ``ddpm`` (ancestral).
        sample_steps: default number of sampler steps (at most T; ancestral DDPM with fewer
            than T steps runs the respaced chain).
        eta: DDIM noise, 0 (deterministic) to 1.
        guidance: classifier-free guidance weight used when sampling with labels
            (1 = plain conditional, 0 = unconditional).
        vlb_samples: t-draws estimating the T - 1 middle terms of the bound (0 = all terms).
        vlb_variance: variance of p(x_{t-1} | x_t) in the bound: ``beta`` (beta_t) or
            ``posterior`` (beta~_t), Ho et al.'s two fixed choices. ``beta`` is the tighter
            one at small t, where beta~_t underestimates the reverse step's spread.
    """

    timesteps: int = 1000
    schedule: str = "cosine"
    prediction: str = "eps"
    clip_x0: bool = True
    sampler: str = "ddim"
    sample_steps: int = 50
    eta: float = 0.0
    guidance: float = 1.0
    vlb_samples: int = 32
    vlb_variance: str = "beta"

    def validate(self) -> None:
        super().validate()
        positive(self.timesteps, "timesteps")
        choice(self.schedule, ("linear", "cosine"), "schedule")
        choice(self.prediction, ("eps", "x0", "v"), "prediction")
        choice(self.sampler, DDPM.samplers, "sampler")
        positive(self.sample_steps, "sample_steps")
        if self.sample_steps > self.timesteps:
            raise GenzooError(f"bad value {self.sample_steps} for sample_steps: at most timesteps ({self.timesteps})")
        if not 0.0 <= self.eta <= 1.0:
            raise GenzooError(f"bad value {self.eta!r} for eta: must be in [0, 1]")
        positive(self.guidance, "guidance", allow_zero=True)
        positive(self.vlb_samples, "vlb_samples", allow_zero=True)
        choice(self.vlb_variance, ("beta", "posterior"), "vlb_variance")


@register
class DDPM(DiffusionModel):
    """Gaussian diffusion with eps/x0/v prediction; ancestral or DDIM sampling; VLB in nats."""

    name = "ddpm"
    Config = DDPMConfig
    likelihood = "bound"
    samplers = ("ddim", "ddpm")

    def __init__(self, config: DDPMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.T = config.timesteps
        self.register_buffer("abar", alpha_bar(config.schedule, config.timesteps), persistent=False)

    # ---- forward process and the network's prediction ------------------------------
    def _a(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """abar_t (B,) broadcast against x, float32."""
        return self.abar[t].float().reshape(-1, *([1] * (x.dim() - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, for integer times t (B,)."""
        a = self._a(t, x0)
        return a.sqrt() * x0 + (1 - a).sqrt() * eps

    def denoise(self, x_t: torch.Tensor, t: int | torch.Tensor, y: torch.Tensor | None = None,
                guidance: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0_hat, eps_hat) at time t >= 1 (an int or one per example, (B,)), consistent
        with x_t: eps is recomputed after clipping x0."""
        tt = torch.as_tensor(t, device=x_t.device, dtype=torch.long).expand(x_t.shape[0])
        out = self.predict(x_t, tt.float(), y, guidance)
        a = self._a(tt, x_t)
        if self.config.prediction == "eps":
            x0 = (x_t - (1 - a).sqrt() * out) / a.sqrt()
        elif self.config.prediction == "x0":
            x0 = out
        else:  # v = sqrt(a) eps - sqrt(1 - a) x0
            x0 = a.sqrt() * x_t - (1 - a).sqrt() * out
        if self.config.clip_x0:
            x0 = x0.clamp(-1, 1)
        eps = (x_t - a.sqrt() * x0) / (1 - a).sqrt()
        return x0, eps

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """L_simple: mean squared error of the prediction at t ~ U{1..T} (global RNG)."""
        x0 = self._unit(batch["x"])
        b = x0.shape[0]
        t = torch.randint(1, self.T + 1, (b,), device=x0.device)
        eps = torch.randn_like(x0)
        x_t = self.q_sample(x0, t, eps)
        out = self.net(x_t, t.float(), self.training_labels(batch))
        a = self._a(t, x0)
        target = {"eps": eps, "x0": x0, "v": a.sqrt() * eps - (1 - a).sqrt() * x0}[self.config.prediction]
        return {"loss": ((out - target) ** 2).mean()}

    # ---- sampling ---------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None, generator: torch.Generator | None = None,
               steps: int | None = None, sampler: str | None = None, eta: float | None = None,
               guidance: float | None = None) -> torch.Tensor:
        """n samples in the data's space: x_T ~ N(0, I), then ``steps`` steps of ``sampler``.

        ``ddpm``: ancestral steps with the posterior variance (T steps is Ho et al.'s
        sampler; fewer run the respaced chain). ``ddim``: Song et al.'s update with ``eta``
        (0 deterministic; 1 with T steps is the ancestral sampler). Labels in
        ``condition`` (one per sample, or one for all) with classifier-free ``guidance``.
        """
        if eta is not None and (sampler or self.config.sampler) == "ddpm":
            raise GenzooError("eta is an option of the ddim sampler; the ddpm sampler's noise is fixed")
        labels, steps, sampler, eta, guidance = self.sampling_options(
            n, condition=condition, steps=steps, sampler=sampler, eta=eta, guidance=guidance)
        with eval_mode(self):
            x, _ = self._chain(n, labels=labels, steps=steps, sampler=sampler, eta=eta, guidance=guidance,
                               generator=generator)
            return self._data(x, generator)

    def _chain(self, n: int, *, labels: torch.Tensor | None, steps: int, sampler: str, eta: float,
               guidance: float, generator: torch.Generator | None, every: int = 0
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the sampler from x_T ~ N(0, I); returns x_0 and every ``every``-th state."""
        if steps > self.T:
            raise GenzooError(f"bad value {steps} for steps: this run has T = {self.T} diffusion steps")
        x = rand.randn(n, *self.spec.shape, generator=generator, device=self.device)
        frames = [x]
        ts = timesteps(self.T, steps)
        for i, (t, s) in enumerate(zip(ts[:-1], ts[1:]), 1):
            x0_hat, eps_hat = self.denoise(x, t, labels, guidance)
            z = rand.randn(*x.shape, generator=generator, device=self.device)
            if sampler == "ddpm":
                x = ancestral_step(x, t, s, x0_hat, z, self.abar)
            else:
                x = ddim_step(x0_hat, eps_hat, t, s, eta, z, self.abar)
            if every and i % every == 0:
                frames.append(x)
        return x, frames

    # RePaint levels are the respaced chain timesteps(T, steps); steps go down ancestrally.
    def _down(self, x, level, levels, y, generator):
        ts = timesteps(self.T, levels)
        t, s = ts[levels - level], ts[levels - level + 1]
        x0_hat, _ = self.denoise(x, t, y, 1.0 if y is not None else 0.0)
        return ancestral_step(x, t, s, x0_hat, rand.randn(*x.shape, generator=generator, device=x.device), self.abar)

    def _marginal(self, x0, level, levels, generator):
        t = timesteps(self.T, levels)[levels - level]
        eps = rand.randn(*x0.shape, generator=generator, device=x0.device)
        return self.q_sample(x0, torch.full((x0.shape[0],), t, device=x0.device, dtype=torch.long), eps)

    def _up(self, x, level, to, levels, generator):
        ts = timesteps(self.T, levels)
        z = rand.randn(*x.shape, generator=generator, device=x.device)
        return renoise(x, ts[levels - level], ts[levels - to], z, self.abar)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                 steps: int | None = None, jump_length: int | None = None, jump_count: int | None = None,
                 condition: torch.Tensor | None = None) -> torch.Tensor:
        """RePaint inpainting (see :meth:`DiffusionModel.repaint`); observed entries unchanged."""
        if steps is not None and steps > self.T:
            raise GenzooError(f"bad value {steps} for steps: this run has T = {self.T} diffusion steps")
        return self.repaint(x, mask, generator=generator, steps=steps, jump_length=jump_length,
                            jump_count=jump_count, condition=condition)

    # ---- the variational bound ---------------------------------------------------------
    def _decoder_log_prob(self, x0: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """log p(x_0 | x_1) per example (B,), decoder mean ``x0_hat`` at t = 1, unit scale."""
        dims = tuple(range(1, x0.dim()))
        sigma = math.sqrt(1 - float(self.abar[1]))
        vt = self.spec.value_type
        if vt == "binary":
            p = ((mean + 1) / 2).clamp(1e-6, 1 - 1e-6)
            return torch.where(x0 > 0, p.log(), (1 - p).log()).sum(dims)
        if vt == "categorical":  # Gaussian mass over the bin of each level; end bins open
            half = 1.0 / (int(self.spec.num_values) - 1)  # type: ignore[arg-type]
            upper = (x0 + half - mean) / sigma
            lower = (x0 - half - mean) / sigma
            log_cdf_up = torch.special.log_ndtr(upper)
            log_sf_low = torch.special.log_ndtr(-lower)
            mid = (torch.special.ndtr(upper) - torch.special.ndtr(lower)).clamp_min(1e-12).log()
            lp = torch.where(x0 < -1 + half / 2, log_cdf_up, torch.where(x0 > 1 - half / 2, log_sf_low, mid))
            return lp.sum(dims)
        lo, hi = self.spec.value_range  # type: ignore[misc]
        d = x0[0].numel()
        log_n = -0.5 * ((x0 - mean) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)
        return log_n.sum(dims) + d * math.log(2.0 / (hi - lo))  # density in the data's units

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, *, vlb_samples: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """The variational lower bound on log p(x), nats (B,); unconditional (null label).

        Noise and the sampled t come from ``generator`` (None: the global RNG, which
        ``genzoo eval`` seeds)."""
        S = self.config.vlb_samples if vlb_samples is None else vlb_samples
        if S < 0:
            raise GenzooError(f"bad value {S} for vlb_samples: must be >= 0 (0 = all terms)")
        with eval_mode(self):
            x0 = self._unit(x)
            b, dims = x0.shape[0], tuple(range(1, x0.dim()))
            # L_T: KL(N(sqrt(a) x0, 1 - a) || N(0, 1)) per value
            a_T = float(self.abar[self.T])
            prior = 0.5 * (a_T * x0 ** 2 + (1 - a_T) - 1 - math.log(1 - a_T)).sum(dims)

            def draw_t(t: torch.Tensor) -> torch.Tensor:
                eps = rand.randn(*x0.shape, generator=generator, device=x0.device)
                return self.q_sample(x0, t, eps)

            one = torch.ones(b, dtype=torch.long, device=x0.device)
            decoder = self._decoder_log_prob(x0, self.denoise(draw_t(one), one)[0])
            if S == 0 or self.T == 1:
                draws, weight = [one * t for t in range(2, self.T + 1)], 1.0
            else:  # t ~ U{2..T} independently per example and draw
                draws = [torch.randint(2, self.T + 1, (b,), generator=generator).to(x0.device) for _ in range(S)]
                weight = (self.T - 1) / S
            kl = torch.zeros(b, device=x0.device, dtype=torch.float64)
            shape = (-1, *([1] * (x0.dim() - 1)))
            for t in draws:
                a_t, a_s = self.abar[t].reshape(shape), self.abar[t - 1].reshape(shape)  # float64
                beta = 1 - a_t / a_s
                c0 = a_s.sqrt() * beta / (1 - a_t)
                var_q = (1 - a_s) / (1 - a_t) * beta
                var_p = var_q if self.config.vlb_variance == "posterior" else beta
                x0_hat = self.denoise(draw_t(t), t)[0]
                # KL(N(mu_q, var_q) || N(mu_p, var_p)) per value, mu_q - mu_p = c0 (x0 - x0_hat)
                kl = kl + 0.5 * (c0 ** 2 * (x0 - x0_hat) ** 2 / var_p + torch.log(var_p / var_q)
                                 + var_q / var_p - 1).sum(dims)
            return decoder - prior - (weight * kl).float()

    @property
    def likelihood_kind(self) -> str:
        return "bound"

    def likelihood_note(self, *, vlb_samples: int | None = None, **kwargs: Any) -> str:
        S = self.config.vlb_samples if vlb_samples is None else vlb_samples
        dec = {"binary": "Bernoulli", "categorical": "discretized Gaussian"}.get(self.spec.value_type,
                                                                              "Gaussian density")
        terms = (f"all {self.T} terms" if S == 0 else
                 f"{S} sampled t of the {self.T - 1} KL terms (unbiased estimate of the bound)")
        return f"variational bound, {dec} decoder, {terms}"

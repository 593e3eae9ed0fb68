"""D3PM with the absorbing ("mask") state: discrete diffusion for binary and categorical data.

Austin, Johnson, Ho, Tarlow & van den Berg (2021), "Structured Denoising Diffusion Models
in Discrete State-Spaces", NeurIPS, arXiv:2107.03006 (absorbing-state D3PM). The network
is time-free, as Ou et al. (2024), "Your Absorbing Discrete Diffusion Secretly Models the
Conditional Distributions of Clean Data", arXiv:2406.03736, show it may be: the mask
pattern is independent of x_0, so q(x_0 | x_t) depends on x_t only through its unmasked
tokens.

Each of the D values of x is a token in {0..K-1} (binary: K = 2); K is the mask. The
forward process masks each token independently and for good: a token survives to step
t with probability ``alpha_t`` (``linear``: 1 - t/T, Austin et al.'s beta_t = 1/(T-t+1);
``cosine``: cos(pi t / 2T)), alpha_0 = 1, alpha_T = 0, so x_T is all masks. The network
reads x_t (a U-Net over token embeddings for images, a bidirectional transformer for
sequences and vectors) and gives p(x_0^d | x_t) for every position d.

The variational bound. The reverse step is ``p(x_{t-1} | x_t) = sum_x0 q(x_{t-1} | x_t,
x_0) p(x_0 | x_t)`` per token: an unmasked token is kept; a masked one stays masked with
q's probability ``(1 - alpha_{t-1}) / (1 - alpha_t)`` and is otherwise drawn from the
network. In ``KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t))`` the mask terms cancel and what
is left is ``w_t (-log p(x_0^d | x_t))`` for every masked d, with

    w_t = (alpha_{t-1} - alpha_t) / (1 - alpha_t)       (linear schedule: w_t = 1/t).

The decoder term at t = 1 has the same form (w_1 = 1) and the prior term is 0 (x_T is
all masks under q and p), so exactly, for this discrete T,

    -log p(x_0) <= sum_{t=1..T} E_{q(x_t|x_0)} [ w_t sum_{d masked in x_t} -log p(x_0^d | x_t) ].

``loss`` is the one-draw estimate ``T w_t sum_d ...`` at t ~ U{1..T}, in nats per
example (Austin et al.'s L_vb; their hybrid auxiliary loss is not used). ``log_prob``
averages ``vlb_samples`` stratified draws of t (each with one draw of x_t): an unbiased
estimate of the bound, labelled as such; ``vlb_samples = 0`` takes every t once.

Sampling runs the reverse process from all masks with ``sample_steps`` steps on the
respaced chain (from t to s < t a masked token is revealed with probability
``(alpha_s - alpha_t) / (1 - alpha_t)``); a revealed token is never changed again, so
completion simply starts with the observed tokens revealed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.diffusion.networks import UNet
from genzoo.models.diffusion.schedule import timesteps
from genzoo.models.registry import register
from genzoo.nn import rand
from genzoo.nn.modes import eval_mode
from genzoo.nn.values import num_levels


@dataclass
class D3PMConfig:
    """Absorbing-state D3PM hyperparameters.

    Args:
        timesteps: T, the length of the forward process.
        schedule: ``linear`` (alpha_t = 1 - t/T) or ``cosine`` (alpha_t = cos(pi t / 2T)).
        network: ``auto`` (U-Net for images, transformer otherwise), ``unet`` or ``transformer``.
        channels, channel_mults, res_blocks, attention, dropout: the U-Net, as in the
            other diffusion models (:class:`~genzoo.models.diffusion.base.DiffusionNetConfig`).
        embed_dim: U-Net: the width of each token's embedding (per image channel).
        width, layers, heads: the transformer (heads must divide width).
        sample_steps: reverse steps when sampling and completing (at most T).
        vlb_samples: stratified t-draws estimating the bound in ``log_prob`` (0 = all T).
    """

    timesteps: int = 1000
    schedule: str = "linear"
    network: str = "auto"
    channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    res_blocks: int = 1
    attention: bool = True
    dropout: float = 0.0
    embed_dim: int = 16
    width: int = 128
    layers: int = 4
    heads: int = 4
    sample_steps: int = 1000
    vlb_samples: int = 16

    def validate(self) -> None:
        for key in ("timesteps", "channels", "res_blocks", "embed_dim", "width", "layers", "heads", "sample_steps"):
            positive(getattr(self, key), key)
        choice(self.schedule, ("linear", "cosine"), "schedule")
        choice(self.network, ("auto", "unet", "transformer"), "network")
        if not self.channel_mults:
            raise GenzooError("bad value () for channel_mults: give at least one level")
        if self.width % self.heads:
            raise GenzooError(f"bad value {self.heads} for heads: must divide width ({self.width})")
        if not 0.0 <= self.dropout < 1.0:
            raise GenzooError(f"bad value {self.dropout!r} for dropout: must be in [0, 1)")
        if self.sample_steps > self.timesteps:
            raise GenzooError(f"bad value {self.sample_steps} for sample_steps: at most timesteps ({self.timesteps})")
        positive(self.vlb_samples, "vlb_samples", allow_zero=True)


def keep_probability(schedule: str, T: int) -> torch.Tensor:
    """alpha_t = P(a token is not masked by step t), t = 0..T: (T + 1,) float64, 1 -> 0."""
    t = torch.arange(T + 1, dtype=torch.float64) / T
    alpha = 1 - t if schedule == "linear" else torch.cos(math.pi / 2 * t)
    alpha[-1] = 0.0
    return alpha


class TokenUNet(nn.Module):
    """Tokens (B, C, H, W) in {0..K} -> logits (B, C, H, W, K): an embedding per token,
    the family's U-Net over the C * embed_dim channels (time input held at 0)."""

    def __init__(self, shape: tuple[int, ...], k: int, cfg: D3PMConfig) -> None:
        super().__init__()
        c, h, w = shape
        self.k = k
        self.embed = nn.Embedding(k + 1, cfg.embed_dim)
        self.unet = UNet((c * cfg.embed_dim, h, w), channels=cfg.channels, channel_mults=tuple(cfg.channel_mults),
                         res_blocks=cfg.res_blocks, attention=cfg.attention, dropout=cfg.dropout, num_classes=None,
                         out_channels=c * k)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, c, h, w = tokens.shape
        e = self.embed(tokens).permute(0, 1, 4, 2, 3).reshape(b, -1, h, w)
        out = self.unet(e, torch.zeros(b, device=tokens.device))
        return out.reshape(b, c, self.k, h, w).permute(0, 1, 3, 4, 2)


class TokenTransformer(nn.Module):
    """Tokens (B, *shape) in {0..K} -> logits (B, *shape, K): a bidirectional
    (pre-norm) transformer over the D positions with learned position embeddings."""

    def __init__(self, length: int, k: int, cfg: D3PMConfig) -> None:
        super().__init__()
        self.k = k
        self.tok = nn.Embedding(k + 1, cfg.width)
        self.pos = nn.Parameter(0.02 * torch.randn(length, cfg.width))
        layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, 4 * cfg.width, cfg.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.width)
        self.out = nn.Linear(cfg.width, k)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.tok(tokens.reshape(tokens.shape[0], -1)) + self.pos)
        return self.out(self.norm(h)).reshape(*tokens.shape, self.k)


@register
class D3PM(GenerativeModel):
    """Absorbing-state discrete diffusion; the variational bound in nats; reverse-process sampling."""

    name = "d3pm"
    family = "diffusion"
    Config = D3PMConfig
    likelihood = "bound"
    accepts = tuple((kind, vt) for kind in ("image", "sequence", "vector") for vt in ("binary", "categorical"))
    capabilities = ("complete",)

    def __init__(self, config: D3PMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.K = int(num_levels(spec))  # type: ignore[arg-type]
        self.mask_id = self.K
        self.T = config.timesteps
        self.register_buffer("alpha", keep_probability(config.schedule, config.timesteps), persistent=False)
        unet = config.network == "unet" or (config.network == "auto" and spec.kind == "image")
        if unet and spec.kind != "image":
            raise GenzooError(f"network=unet needs images; {spec.name!r} is {spec.kind} data (use transformer)")
        self.net: nn.Module = TokenUNet(spec.shape, self.K, config) if unet else \
            TokenTransformer(spec.dim, self.K, config)

    # ---- tokens, the forward process and the bound ---------------------------------------
    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device).long()

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x_t: each token of x0 (B, *shape) masked with probability 1 - alpha_t, t (B,)."""
        keep = self.alpha[t].float().reshape(-1, *([1] * (x0.dim() - 1)))
        u = rand.rand(*x0.shape, generator=generator, device=x0.device)
        return torch.where(u < keep, x0, torch.full_like(x0, self.mask_id))

    def weight(self, t: torch.Tensor) -> torch.Tensor:
        """w_t = (alpha_{t-1} - alpha_t) / (1 - alpha_t) for t >= 1, float64."""
        return (self.alpha[t - 1] - self.alpha[t]) / (1 - self.alpha[t])

    def bound_term(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """w_t sum_{d masked in x_t} -log p(x_0^d | x_t): (B,) nats, x0 and x_t tokens."""
        logp = torch.log_softmax(self.net(x_t).float(), -1)
        nll = -logp.gather(-1, x0.unsqueeze(-1)).squeeze(-1)
        masked = (x_t == self.mask_id).reshape(x0.shape[0], -1)
        return (nll.reshape(x0.shape[0], -1) * masked).sum(1) * self.weight(t).float()

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The bound estimated at one t ~ U{1..T} per example (global RNG), nats per example."""
        x0 = self._tokens(batch["x"])
        t = torch.randint(1, self.T + 1, (x0.shape[0],), device=x0.device)
        nll = (self.T * self.bound_term(x0, self.q_sample(x0, t), t)).mean()
        return {"loss": nll, "bits_per_dim": nll.detach() / (self.spec.dim * math.log(2))}

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, *, vlb_samples: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Minus the variational bound on -log p(x), nats (B,): the mean over ``vlb_samples``
        stratified t per example (the s-th from the s-th of S equal slices of [1, T]) of
        ``T w_t sum_d ...``; 0 takes every t once. Random numbers come from ``generator``
        (None: the global RNG, which ``genzoo eval`` seeds)."""
        S = self.config.vlb_samples if vlb_samples is None else vlb_samples
        if S < 0:
            raise GenzooError(f"bad value {S} for vlb_samples: must be >= 0 (0 = all T terms)")
        with eval_mode(self):
            x0 = self._tokens(x)
            b = x0.shape[0]
            total = torch.zeros(b, dtype=torch.float64, device=x0.device)
            if S == 0:
                draws, scale = [torch.full((b,), t, device=x0.device) for t in range(1, self.T + 1)], 1.0
            else:
                u = (torch.arange(S, dtype=torch.float64)[:, None] + rand.rand(S, b, generator=generator).double()) / S
                draws, scale = list((u * self.T).long().clamp(max=self.T - 1).add(1).to(x0.device)), self.T / S
            for t in draws:
                total += self.bound_term(x0, self.q_sample(x0, t, generator), t).double()
            return -(scale * total).float()

    @property
    def likelihood_kind(self) -> str:
        return "bound"

    def likelihood_note(self, *, vlb_samples: int | None = None, **kwargs: Any) -> str:
        S = self.config.vlb_samples if vlb_samples is None else vlb_samples
        terms = (f"all {self.T} terms, one masking draw each" if S == 0 else
                 f"{S} stratified draws of t of {self.T} (unbiased estimate of the bound)")
        return f"variational bound, absorbing diffusion ({self.config.schedule} schedule), {terms}"

    # ---- the reverse process ----------------------------------------------------------
    def reverse(self, x: torch.Tensor, steps: int, generator: torch.Generator | None,
                trace: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Run the reverse process from x_T = ``x`` (tokens, masks where unknown) to x_0 in
        ``steps`` respaced steps; a revealed token is never changed. Logits are computed
        again only when the tokens changed (the network does not read t)."""
        if not isinstance(steps, int) or steps < 1 or steps > self.T:
            raise GenzooError(f"bad value {steps!r} for steps: must be an integer in 1..{self.T} (T)")
        ts = timesteps(self.T, steps)
        logits = None
        for t, s in zip(ts[:-1], ts[1:]):
            reveal = (float(self.alpha[s]) - float(self.alpha[t])) / (1 - float(self.alpha[t]))
            u = rand.rand(*x.shape, generator=generator, device=x.device)
            now = (x == self.mask_id) & (u < reveal)
            if now.any():
                if logits is None:
                    logits = self.net(x)
                x = x.masked_scatter(now, rand.categorical(logits[now], generator=generator))
                logits = None
            if trace is not None:
                trace.append(x)
        return x

    def _data(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.to(self.spec.dtype)

    @torch.no_grad()
    def sample(self, n: int, *, condition: torch.Tensor | None = None, generator: torch.Generator | None = None,
               steps: int | None = None) -> torch.Tensor:
        """n samples: the reverse process from all masks in ``steps`` steps (default
        ``sample_steps``; T is the exact chain, fewer reveal more tokens at once)."""
        self.sample_condition(n, condition)
        with eval_mode(self):
            x = torch.full((n, *self.spec.shape), self.mask_id, dtype=torch.long, device=self.device)
            return self._data(self.reverse(x, self.config.sample_steps if steps is None else steps, generator))

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                 steps: int | None = None) -> torch.Tensor:
        """Fill the entries where ``mask`` is False: the reverse process from x_T with the
        observed tokens revealed; observed entries come back unchanged."""
        if tuple(mask.shape) != tuple(x.shape):
            raise GenzooError(f"mask shape {tuple(mask.shape)} does not match x shape {tuple(x.shape)}")
        observed = mask.to(device=self.device, dtype=torch.bool)
        start = torch.where(observed, self._tokens(torch.where(observed, x, torch.zeros_like(x))), self.mask_id)
        with eval_mode(self):
            out = self.reverse(start, self.config.sample_steps if steps is None else steps, generator)
        return torch.where(observed, x.to(self.device, self.spec.dtype), self._data(out))

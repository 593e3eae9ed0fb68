"""Per-pixel output distributions for autoregressive image models (PixelCNN family).

A network predicts ``P = params_per_channel`` maps per image channel; a
:class:`PixelOutput` turns them into a distribution over that channel's value:

* ``"categorical"``: a softmax over every value the pixel can take, as in PixelRNN /
  PixelCNN (van den Oord et al. 2016). Binary data uses a single Bernoulli logit
  (``P = 1``); categorical data with K values a softmax over K (grey levels or a
  palette); continuous data a softmax over its 256 8-bit bins.
* ``"logistic_mixture"``: the discretized mixture of logistics of PixelCNN++ (Salimans,
  Karpathy, Chen & Kingma 2017): ``P = 3M`` maps (mixture logits, means, log scales).
  The K ordered bins are centred at evenly spaced points of ``[-1, 1]`` (ends included,
  see :func:`genzoo.nn.values.level_centers`), each ``2 / (K - 1)`` wide, and the two
  edge bins take the tails, so the bin probabilities sum to exactly 1.

Continuous data is never given a density here: a value in ``value_range`` is rounded to
the nearest of 256 evenly spaced levels (ends included: 8-bit pixels ``k / 255`` of the
range fall exactly on a level) and ``log_prob`` is the log probability of that 8-bit
bin. Models report this as a *discrete 8-bit likelihood* (:attr:`PixelOutput.note`), so
bits/dim are the numbers the PixelCNN papers quote, not a continuous density.
Samples of continuous data are the bin levels, mapped back to ``value_range``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.config import choice, positive
from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError
from genzoo.nn import rand
from genzoo.nn.values import level_centers

#: bins used for continuous data: the 8-bit pixel values of the papers
CONTINUOUS_BINS = 256
#: PixelCNN++ keeps logistic scales above exp(-7) so a bin never gets all the mass
MIN_LOG_SCALE = -7.0


class PixelOutput(nn.Module):
    """Per-pixel output distribution for an image spec.

    Attributes:
        params_per_channel: network output maps needed per image channel (P).
        num_bins: the number of values one channel can take (K; 256 for continuous data).
        note: how ``log_prob`` should be described next to reported numbers.
    """

    params_per_channel: int
    num_bins: int
    note: str

    def __init__(self, spec: DataSpec) -> None:
        super().__init__()
        self.spec = spec
        if spec.value_type == "binary":
            self.num_bins = 2
        elif spec.value_type == "categorical":
            self.num_bins = int(spec.num_values)  # type: ignore[arg-type]
        elif spec.value_type == "continuous":
            self.num_bins = CONTINUOUS_BINS
        else:
            raise GenzooError(f"no per-pixel output for {spec.value_type} data")
        lo_hi = spec.value_range
        self.note = (f"discrete 8-bit likelihood ({CONTINUOUS_BINS} bins over [{lo_hi[0]:g}, {lo_hi[1]:g}])"
                     if spec.value_type == "continuous" and lo_hi is not None else "exact discrete likelihood")

    # ---- values <-> bin indices ----------------------------------------------------
    def to_index(self, x: torch.Tensor) -> torch.Tensor:
        """Data values (any shape, spec dtype) -> bin indices int64 in [0, K)."""
        if self.spec.value_type == "continuous":
            lo, hi = self.spec.value_range  # type: ignore[misc]
            k = torch.round((x.float() - lo) * ((self.num_bins - 1) / (hi - lo)))
            return k.long().clamp(0, self.num_bins - 1)
        return x.long()

    def from_index(self, k: torch.Tensor) -> torch.Tensor:
        """Bin indices int64 -> data values in the spec's dtype and range."""
        if self.spec.value_type == "binary":
            return k.float()
        if self.spec.value_type == "categorical":
            return k.long()
        lo, hi = self.spec.value_range  # type: ignore[misc]
        return lo + k.float() * ((hi - lo) / (self.num_bins - 1))

    # ---- the distribution ----------------------------------------------------------
    def log_prob_index(self, params: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """log P(bin k) from params (..., P) and indices k (...) of the same leading shape -> (...) nats."""
        raise NotImplementedError

    def log_probs_all(self, params: torch.Tensor) -> torch.Tensor:
        """log P of every bin: params (..., P) -> (..., K) nats."""
        raise NotImplementedError

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x) per pixel and channel: params (B, C, P, H, W), x (B, C, H, W) -> (B, C, H, W)."""
        return self.log_prob_index(params.movedim(2, -1), self.to_index(x))

    def sample(self, params: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw one value per row: params (N, P) -> (N,) in the spec's dtype and range.

        One seeded draw over all N (a single ``rand`` call), so callers that make the
        same calls in the same order get the same values.
        """
        return self.from_index(rand.categorical(self.log_probs_all(params), generator=generator))


class CategoricalOutput(PixelOutput):
    """Softmax over the K values (one Bernoulli logit for binary data)."""

    def __init__(self, spec: DataSpec) -> None:
        super().__init__(spec)
        self.bernoulli = spec.value_type == "binary"
        self.params_per_channel = 1 if self.bernoulli else self.num_bins

    def log_prob_index(self, params: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        if self.bernoulli:
            logit = params[..., 0]
            # log sigmoid(l) for a 1, log sigmoid(-l) for a 0
            return F.logsigmoid(torch.where(k == 1, logit, -logit))
        return F.log_softmax(params, -1).gather(-1, k.unsqueeze(-1)).squeeze(-1)

    def log_probs_all(self, params: torch.Tensor) -> torch.Tensor:
        if self.bernoulli:
            logit = params[..., 0]
            return torch.stack([F.logsigmoid(-logit), F.logsigmoid(logit)], -1)
        return F.log_softmax(params, -1)

    def sample(self, params: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.bernoulli:
            return rand.bernoulli(torch.sigmoid(params[:, 0].float()), generator=generator)
        return super().sample(params, generator=generator)


def _log1mexp(a: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(a)) for a < 0, accurate both near 0 and far below (Maechler 2012)."""
    return torch.where(a > -0.6931, torch.log(-torch.expm1(a)), torch.log1p(-torch.exp(a)))


class LogisticMixtureOutput(PixelOutput):
    """Discretized mixture of M logistics over K ordered bins (PixelCNN++)."""

    def __init__(self, spec: DataSpec, mixtures: int) -> None:
        super().__init__(spec)
        self.mixtures = mixtures
        self.params_per_channel = 3 * mixtures
        self.register_buffer("centers", level_centers(self.num_bins), persistent=False)  # (K,)
        self.half_width = 1.0 / (self.num_bins - 1)

    def log_prob_index(self, params: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        M = self.mixtures
        logit_pi, mu, log_s = params[..., :M], params[..., M:2 * M], params[..., 2 * M:]
        log_s = log_s.clamp_min(MIN_LOG_SCALE)
        inv_s = torch.exp(-log_s)
        c = self.centers[k].unsqueeze(-1)  # (..., 1)
        upper = inv_s * (c + self.half_width - mu)  # (..., M) standardised bin edges
        lower = inv_s * (c - self.half_width - mu)
        # sigmoid(u) - sigmoid(l) = sigmoid(u) * sigmoid(-l) * (1 - exp(l - u)): exact in log
        # space even where both edges sit far in a tail, so no pdf approximation is needed.
        mid = F.logsigmoid(upper) + F.logsigmoid(-lower) + _log1mexp(-2 * self.half_width * inv_s)
        kk = k.unsqueeze(-1)
        log_bin = torch.where(kk == 0, F.logsigmoid(upper),  # left tail included
                              torch.where(kk == self.num_bins - 1, F.logsigmoid(-lower), mid))
        return torch.logsumexp(F.log_softmax(logit_pi, -1) + log_bin, -1)

    def log_probs_all(self, params: torch.Tensor) -> torch.Tensor:
        # broadcast (..., 1, P) params against the (K,) bins instead of copying them
        return self.log_prob_index(params.unsqueeze(-2), torch.arange(self.num_bins, device=params.device))


def make_pixel_output(spec: DataSpec, kind: str = "auto", *, mixtures: int = 5) -> PixelOutput:
    """The per-pixel output for ``spec``.

    Args:
        spec: an image spec with binary, categorical or continuous values.
        kind: ``"categorical"``, ``"logistic_mixture"`` or ``"auto"`` (categorical for
            binary/categorical data, logistic mixture for continuous data).
        mixtures: logistic components for ``"logistic_mixture"``.
    """
    choice(kind, ("auto", "categorical", "logistic_mixture"), "output")
    if spec.value_type not in ("binary", "categorical", "continuous"):
        raise GenzooError(f"no per-pixel output for {spec.value_type} data")
    if kind == "auto":
        kind = "logistic_mixture" if spec.value_type == "continuous" else "categorical"
    if kind == "categorical":
        return CategoricalOutput(spec)
    positive(mixtures, "mixtures")
    if spec.value_type != "continuous" and int(spec.num_values) < 2:  # type: ignore[arg-type]
        raise GenzooError("a logistic mixture needs at least 2 ordered values")
    return LogisticMixtureOutput(spec, mixtures)

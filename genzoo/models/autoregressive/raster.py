"""What the convolutional raster-order image models (pixelcnn, gated_pixelcnn) share.

Both factorise ``p(x) = prod_i prod_c p(x_{i,c} | x_<i, x_{i,<c})`` over pixels i in
raster order and channels c in order within a pixel, with one masked network that gives
every conditional's parameters in a single pass, and a per-pixel output distribution
(:mod:`genzoo.models.autoregressive.pixel_outputs`). A subclass builds that network and implements

* ``network(u, y)``: the output parameters (B, C, P, H, W) for inputs ``u`` (B, C, H, W)
  scaled to [-1, 1] (:func:`genzoo.nn.values.to_unit`) and labels ``y``; entry
  [:, c, :, i, j] may depend only on pixels before (i, j) and channels < c of (i, j);
* ``cached_pass(x, y)``: the state of its fast sampler (a :class:`CachedPass`).

The likelihood (exact; for a conditional model also marginal over a uniform label
prior), the loss, sampling and completion are defined here once. Sampling draws one
value at a time in generation order from the same random stream whichever path computes
the parameters, so cached and naive sampling give the same images.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import torch

from genzoo.data.spec import DataSpec
from genzoo.errors import GenzooError, IncompatibleDataError
from genzoo.models.autoregressive.pixel_outputs import make_pixel_output
from genzoo.models.base import Batch, GenerativeModel
from genzoo.nn import rand
from genzoo.nn.modes import eval_mode
from genzoo.nn.values import to_unit


def channel_groups(n: int, C: int) -> torch.Tensor:
    """Group (image channel 0..C-1) of each of ``n`` feature maps: C contiguous, near-equal
    blocks, so that group g may see the image channels < g of the current pixel."""
    return torch.arange(n) * C // n


class CachedPass(Protocol):
    """A fast sampler's state over images ``x`` (n, C, H, W) being filled in place.

    ``params(i, j)`` gives the output parameters (n, C, P) at pixel (i, j) from the values
    written so far (it is called once per channel of a pixel, and always at the last
    channel, so it may store that pixel's features for later pixels); ``drawn(i, j, c)``
    says that ``x[:, c, i, j]`` has just been written; ``row_done(i)`` that row i is full.
    """

    def params(self, i: int, j: int) -> torch.Tensor: ...

    def drawn(self, i: int, j: int, c: int) -> None: ...

    def row_done(self, i: int) -> None: ...


class RasterImageModel(GenerativeModel):
    """Base class: masked convolutional image models with exact ``log_prob``.

    The Config has ``output``, ``mixtures`` and ``conditional`` (class conditioning)."""

    likelihood = "exact"
    accepts = (("image", "binary"), ("image", "categorical"), ("image", "continuous"))
    capabilities = ("complete",)
    family = "autoregressive"

    def __init__(self, config: Any, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.C, self.H, self.W = spec.shape
        if config.conditional:
            if not spec.num_classes:
                raise IncompatibleDataError(f"conditional {self.name} needs labelled data; {spec.name!r} has no labels")
            self.capabilities = ("complete", "conditional")
        self.num_classes = int(spec.num_classes) if config.conditional else None
        self.output = make_pixel_output(spec, config.output, mixtures=config.mixtures)
        self.P = self.output.params_per_channel

    def network(self, u: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Output parameters (B, C, P, H, W) for inputs (B, C, H, W) in [-1, 1]."""
        raise NotImplementedError

    def cached_pass(self, x: torch.Tensor, y: torch.Tensor | None) -> CachedPass:
        raise NotImplementedError

    # ---- labels ------------------------------------------------------------------
    def _labels(self, y: torch.Tensor | None, B: int) -> torch.Tensor | None:
        """Checked class ids (B,) on the model's device; None for an unconditional model."""
        if self.num_classes is None:
            return None
        if y is None:
            raise GenzooError(f"conditional {self.name} needs class labels (batch['y'] / condition=)")
        y = torch.as_tensor(y, device=self.device).long().reshape(-1)
        if y.shape[0] != B or (y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes)):
            raise GenzooError(f"labels must be {B} class ids in [0, {self.num_classes}), got shape {tuple(y.shape)}")
        return y

    # ---- the contract --------------------------------------------------------------
    def _log_prob(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        x = x.to(self.device)
        return self.output.log_prob(self.network(to_unit(x, self.spec), y), x).flatten(1).sum(1)  # (B,)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Mean negative log-likelihood in nats (given the labels if conditional); also bits/dim."""
        x = batch["x"]
        nll = -self._log_prob(x, self._labels(batch.get("y"), x.shape[0])).mean()
        return {"loss": nll, "bits_per_dim": nll.detach() / (self.spec.dim * math.log(2))}

    def log_prob(self, x: torch.Tensor, *, y: torch.Tensor | None = None, **kwargs: object) -> torch.Tensor:
        """Exact log p(x) in nats, (B,). A conditional model gives log p(x | y) for labels ``y``
        (B,), else log p(x) under a uniform label prior (log-mean-exp over the classes)."""
        with eval_mode(self):
            if self.num_classes is None or y is not None:
                return self._log_prob(x, self._labels(y, x.shape[0]))
            B = x.shape[0]
            per_class = [self._log_prob(x, torch.full((B,), k, device=self.device))
                         for k in range(self.num_classes)]
            return torch.logsumexp(torch.stack(per_class), 0) - math.log(self.num_classes)

    def likelihood_note(self, *, y: torch.Tensor | None = None, **kwargs: object) -> str:
        kind = "logistic mixture" if hasattr(self.output, "mixtures") else "categorical"
        # continuous data: the probability of its 8-bit bin, as the PixelCNN papers report
        note = f"{self.output.note}, {kind} output"
        if self.num_classes is not None and y is None:
            return f"{note}, marginal over classes (uniform prior)"
        return note

    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None, cached: bool = True) -> torch.Tensor:
        """Draw ``n`` images (n, C, H, W) pixel by pixel in raster order, channel by channel.

        Args:
            condition: class labels (n,) int64 for a conditional model (None: drawn
                uniformly with ``generator``).
            generator: CPU generator, the only source of randomness.
            cached: the fast sampler (Ramachandran et al. 2017); False recomputes the whole
                network for every pixel and channel. Both draw the same random numbers.
        """
        self.sample_condition(n, condition)
        x = torch.zeros(n, *self.spec.shape, dtype=self.spec.dtype, device=self.device)
        observed = torch.zeros(x.shape, dtype=torch.bool, device=self.device)
        return self._generate(x, observed, condition, generator, cached)

    def complete(self, x: torch.Tensor, mask: torch.Tensor, *, generator: torch.Generator | None = None,
                 condition: torch.Tensor | None = None, cached: bool = True) -> torch.Tensor:
        """Fill the values where ``mask`` is False in raster order (channels in order),
        keeping the observed ones. Exact draws from p(missing | observed) when the observed
        values come first in that order (e.g. the top rows); otherwise observed values after
        a gap do not inform the draws before them. ``condition`` and ``cached`` are as in
        :meth:`sample` (a conditional model without labels draws them uniformly)."""
        self.sample_condition(x.shape[0], condition)
        flat, observed = self.flat_for_completion(x, mask)
        shape = (x.shape[0], *self.spec.shape)
        return self._generate(flat.view(shape).clone(), observed.view(shape), condition, generator, cached)

    # ---- generation ----------------------------------------------------------------
    @torch.no_grad()
    def _generate(self, x: torch.Tensor, observed: torch.Tensor, condition: torch.Tensor | None,
                  generator: torch.Generator | None, cached: bool) -> torch.Tensor:
        """Draw the unobserved values of ``x`` (n, C, H, W) in place, in generation order."""
        n = x.shape[0]
        y = None
        if self.num_classes is not None:
            if condition is None:  # drawn first, so both paths see the same labels
                condition = torch.floor(self.num_classes * rand.rand(n, generator=generator)).long()
            y = self._labels(condition, n)
        with eval_mode(self):
            fast = self.cached_pass(x, y) if cached else None
            for i in range(self.H):
                for j in range(self.W):
                    for c in range(self.C):
                        free = ~observed[:, c, i, j]  # (n,)
                        if not bool(free.any()) and not (fast is not None and c == self.C - 1):
                            continue
                        if fast is not None:
                            params = fast.params(i, j)  # (n, C, P)
                        else:
                            params = self.network(to_unit(x, self.spec), y)[:, :, :, i, j]
                        if bool(free.any()):
                            v = self.output.sample(params[:, c], generator=generator).to(x.dtype)  # (n,)
                            x[:, c, i, j] = torch.where(free, v, x[:, c, i, j])
                            if fast is not None:
                                fast.drawn(i, j, c)
                if fast is not None:
                    fast.row_done(i)
        return x

"""Exponential moving average of a model's weights (sampling often looks better with it)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class EMA:
    """Shadow copy: ``shadow = decay * shadow + (1 - decay) * weights`` after every step.

    Floating-point parameters and buffers are averaged; integer buffers are copied.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        # The first update copies the weights instead of averaging: layers with a
        # data-dependent initialisation (actnorm) only get their values in the first step.
        self.started = False

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        if not self.started:
            for k, v in model.state_dict().items():
                self.shadow[k].copy_(v)
            self.started = True
            return
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if v.is_floating_point():
                s.lerp_(v.detach(), 1.0 - self.decay)
            else:
                s.copy_(v)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.shadow.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for k, v in state.items():
            self.shadow[k].copy_(v)
        self.started = True

    @contextlib.contextmanager
    def swapped(self, model: nn.Module) -> Iterator[None]:
        """Temporarily put the EMA weights into ``model``."""
        saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield
        finally:
            model.load_state_dict(saved)

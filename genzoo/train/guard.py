"""The NaN guard's pieces: the exception a bad step raises, the device-side note of the
first non-finite value (read back only at checks), and the ``GENZOO_INJECT_NAN`` test hook.
The trainer (:mod:`genzoo.train.trainer`) rolls back when they fire."""

from __future__ import annotations

import os

import torch

from genzoo.errors import GenzooError


class NonFiniteLoss(Exception):
    """Raised inside a step when a loss or the weights stop being finite.

    ``step``: the step index where it first happened (None: the current one).
    """

    def __init__(self, why: str, step: int | None = None) -> None:
        super().__init__(why)
        self.step = step


INJECT_ENV = "GENZOO_INJECT_NAN"


def injected_fault() -> tuple[int, float] | None:
    """Parse ``GENZOO_INJECT_NAN=STEP[,nan|inf]`` into (step index, value added to the loss)."""
    raw = os.environ.get(INJECT_ENV, "").strip()
    if not raw:
        return None
    step, _, kind = raw.partition(",")
    kind = kind.strip().lower() or "nan"
    if not step.strip().isdigit() or kind not in ("nan", "inf"):
        raise GenzooError(f"bad {INJECT_ENV}={raw!r}: expected STEP or STEP,nan or STEP,inf (STEP >= 0)")
    return int(step), float(kind)


class FiniteWatch:
    """Remembers the first non-finite loss or gradient norm without a host sync.

    ``note`` runs a few tiny tensor operations on the value's device; only ``first``
    reads them back, so the trainer syncs once per check (every ``train.check_every``
    steps and before anything is logged, validated or saved) instead of every step.
    """

    def __init__(self) -> None:
        self.labels: list[str] = []
        self._step: torch.Tensor | None = None
        self._value: torch.Tensor | None = None
        self._label: torch.Tensor | None = None

    def note(self, value: torch.Tensor, *, step: int, label: str) -> None:
        if label not in self.labels:
            self.labels.append(label)
        v = value.detach().float().reshape(())
        if self._step is None:
            self._step = torch.full((), -1, dtype=torch.long, device=v.device)
            self._value = torch.zeros((), device=v.device)
            self._label = torch.zeros((), dtype=torch.long, device=v.device)
        new = ~torch.isfinite(v) & (self._step < 0)
        self._step = torch.where(new, step, self._step)
        self._value = torch.where(new, v, self._value)
        self._label = torch.where(new, self.labels.index(label), self._label)

    def first(self) -> tuple[int, str, float] | None:
        """(step index, what, value) of the first non-finite value noted, or None (syncs)."""
        if self._step is None or int(self._step) < 0:
            return None
        return int(self._step), self.labels[int(self._label)], float(self._value)

    def reset(self) -> None:
        self._step = self._value = self._label = None

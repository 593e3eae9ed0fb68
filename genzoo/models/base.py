"""The one model contract every genzoo model implements.

A model is an ``nn.Module`` built from ``(config, spec)``:

* ``loss(batch) -> dict[str, Tensor]`` with key ``"loss"``; other keys are logged.
* ``sample(n, *, condition=None, generator=None) -> Tensor`` in the data's own space.
* ``log_prob(x) -> Tensor[B]`` in nats, where the family has one; ``likelihood``
  says whether it is ``"exact"``, a ``"bound"`` or an ``"estimate"`` (None: no
  likelihood, e.g. GANs).
* ``players() -> list[Player]``: who updates which parameters with which loss. One
  player minimizing ``loss`` by default; a GAN returns a discriminator and a generator.
* optional capabilities (``encode``, ``decode``, ``complete``, ...) listed in
  ``capabilities``; asking for a missing one raises :class:`CapabilityError`.

Batches are dicts: ``{"x": (B, *spec.shape), "y": (B,) labels if the data has them}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from genzoo.data.spec import DataSpec
from genzoo.errors import CapabilityError, GenzooError, IncompatibleDataError

Likelihood = Literal["exact", "bound", "estimate"]
Batch = dict[str, torch.Tensor]


@dataclass
class Player:
    """One participant in training.

    Args:
        name: for logs (``"model"``, ``"discriminator"``, ``"generator"``).
        parameters: the parameters this player's optimizer updates.
        loss: batch -> dict with ``"loss"`` (the scalar this player minimizes).
        steps: how many updates this player makes per training step (e.g. n_critic).
        lr: learning-rate override for this player (None: the trainer's ``lr``).
        betas: Adam betas override (None: the trainer's).
        update: for players trained without gradients (EM, Gibbs statistics):
            batch -> dict of logged floats; called under ``torch.no_grad`` instead of
            an optimizer step. ``loss`` is then used only for logging.
    """

    name: str
    parameters: list[nn.Parameter]
    loss: Callable[[Batch], dict[str, torch.Tensor]]
    steps: int = 1
    lr: float | None = None
    betas: tuple[float, float] | None = None
    update: Callable[[Batch], dict[str, float]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class GenerativeModel(nn.Module):
    """Base class: subclasses set ``name``, ``Config``, ``likelihood``, ``accepts``."""

    name: ClassVar[str] = "model"
    Config: ClassVar[type]
    likelihood: ClassVar[Likelihood | None] = None
    #: accepted (kind, value_type) pairs; ``"*"`` matches anything in that slot, except
    #: that a ``"*"`` value type does not match ``count`` (bag-of-words counts are a
    #: different kind of data; a model that handles them lists ``count`` explicitly) and a
    #: ``"*"`` kind does not match ``video`` (frames over time; listed explicitly too).
    accepts: ClassVar[tuple[tuple[str, str], ...]] = (("*", "*"),)
    #: optional capabilities this class implements.
    capabilities: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str] = ""

    def __init__(self, config: Any, spec: DataSpec) -> None:
        super().__init__()
        type(self).check_spec(spec)
        self.config = config
        self.spec = spec

    # ---- data compatibility ------------------------------------------------------
    @classmethod
    def accepts_spec(cls, spec: DataSpec) -> bool:
        return any((k == spec.kind or (k == "*" and spec.kind != "video"))
                   and (v == spec.value_type or (v == "*" and spec.value_type != "count"))
                   for k, v in cls.accepts)

    @classmethod
    def check_spec(cls, spec: DataSpec) -> None:
        """Raise IncompatibleDataError naming what the model accepts."""
        if not cls.accepts_spec(spec):
            ok = ", ".join(f"{'any' if k == '*' else k} {'any' if v == '*' else v}" for k, v in cls.accepts)
            if spec.value_type == "count" and any(v == "*" for _, v in cls.accepts):
                ok += " (but not count data)"
            if spec.kind == "video" and any(k == "*" for k, _ in cls.accepts):
                ok += " (but not video)"
            raise IncompatibleDataError(
                f"model {cls.name!r} cannot model {spec.name!r} ({spec.describe}); it accepts: {ok}")

    # ---- the contract ------------------------------------------------------------
    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample(self, n: int, *, condition: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        raise CapabilityError(f"model {self.name!r} has no likelihood (it is an implicit model); "
                              "use sample-quality metrics instead")

    def players(self) -> list[Player]:
        return [Player("model", [p for p in self.parameters() if p.requires_grad], self.loss)]

    def prepare(self, data: Any) -> None:
        """Called once by the Trainer before training, with the whole Dataset: for models
        that need more than minibatches (the labelled subset of a semi-supervised model).
        Whatever it sets must live in buffers, so a saved model needs no data. Default: nothing."""

    def likelihood_note(self, **kwargs: Any) -> str:
        """What ``log_prob`` computes, e.g. ``"ELBO (k=1)"``; shown beside every number."""
        return self.likelihood or "none"

    # ---- capabilities ------------------------------------------------------------
    def has(self, capability: str) -> bool:
        return capability in self.capabilities

    def require(self, capability: str) -> None:
        if not self.has(capability):
            have = ", ".join(self.capabilities) or "none"
            raise CapabilityError(f"model {self.name!r} cannot {capability} (its capabilities: {have})")

    def encode(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        self.require("encode")
        raise AssertionError

    def decode(self, z: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        self.require("decode")
        raise AssertionError

    def complete(self, x: torch.Tensor, mask: torch.Tensor, *,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        self.require("complete")
        raise AssertionError

    def flat_for_completion(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Check a completion request and flatten it: returns ``(flat (B, D), observed (B, D))``
        on the model's device, with unobserved entries zeroed (they may hold placeholders
        such as -1 that would break one-hot encodings or indexing)."""
        if tuple(mask.shape) != tuple(x.shape):
            raise GenzooError(f"mask shape {tuple(mask.shape)} does not match x shape {tuple(x.shape)}")
        b = x.shape[0]
        observed = mask.reshape(b, -1).to(device=self.device, dtype=torch.bool)
        flat = x.reshape(b, -1).to(device=self.device, dtype=self.spec.dtype)
        return torch.where(observed, flat, torch.zeros_like(flat)), observed

    # ---- helpers -----------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def sample_condition(self, n: int, condition: torch.Tensor | None) -> torch.Tensor | None:
        """Check a class condition for a conditional model (None when unconditional)."""
        if condition is not None and "conditional" not in self.capabilities:
            raise CapabilityError(f"model {self.name!r} is not conditional; sample without a condition")
        return condition


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters; for models fitted without gradients (EM) their fitted buffers."""
    n = sum(p.numel() for p in model.parameters())
    return n or sum(b.numel() for b in model.buffers() if b.is_floating_point())


def all_parameters(players: Iterable[Player]) -> list[nn.Parameter]:
    seen: dict[int, nn.Parameter] = {}
    for p in players:
        for q in p.parameters:
            seen[id(q)] = q
    return list(seen.values())

"""Trainer settings: one dataclass, saved in every run's config.json."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genzoo.config import positive
from genzoo.errors import GenzooError


@dataclass
class TrainConfig:
    """How to train. Every field can be set with ``--set train.KEY=VALUE``.

    ``batch_size`` is the global batch (split across processes); 0 means the whole
    training set every step (full-batch EM, for example).

    Validation (:mod:`genzoo.train.validation`): every ``eval_every`` steps (0 = never)
    the model (its EMA weights when EMA is on) is scored on up to ``eval_examples``
    validation examples (0 = all) with ``eval_metric`` (``auto``: NLL for likelihood
    models; ``fid`` must be asked for); the best weights go to ``best.safetensors``, and
    ``patience`` evaluations in a row without improvement (0 = never) stop training.

    ``fused``: Adam and AdamW use PyTorch's fused kernel on CPU and CUDA (about 5x faster
    per step than the per-tensor loop for an MLP on CPU; the same update up to rounding);
    false gives the per-tensor loop, as runs before this setting used.

    The NaN guard notes every loss and gradient norm on the device and reads the note
    back (one host sync) every ``check_every`` steps and at every step that logs,
    validates, samples or saves; a non-finite value rolls training back to the last
    checkpoint with half the learning rate, so nothing non-finite is ever saved.
    ``check_every=1`` checks every step.
    """

    steps: int = 1000
    batch_size: int = 64
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    fused: bool = True
    warmup: int = 0
    schedule: Literal["constant", "cosine"] = "constant"
    min_lr_ratio: float = 0.0
    clip_grad: float = 0.0
    ema: float = 0.0
    ema_warmup: bool = True
    seed: int = 0
    device: str = "auto"
    amp: Literal["none", "bf16"] = "none"
    compile: bool = False
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 25
    sample_every: int = 0
    max_retries: int = 3
    check_every: int = 25
    tensorboard: bool = False
    eval_every: int = 0
    eval_examples: int = 2000
    eval_metric: Literal["auto", "nll", "fid"] = "auto"
    patience: int = 0
    sync_batchnorm: bool = False
    dist_timeout: float = 1800.0

    def validate(self) -> None:
        positive(self.steps, "train.steps", allow_zero=True)
        positive(self.batch_size, "train.batch_size", allow_zero=True)
        positive(self.lr, "train.lr")
        positive(self.warmup, "train.warmup", allow_zero=True)
        positive(self.clip_grad, "train.clip_grad", allow_zero=True)
        positive(self.checkpoint_every, "train.checkpoint_every", allow_zero=True)
        positive(self.keep_checkpoints, "train.keep_checkpoints")
        positive(self.log_every, "train.log_every")
        positive(self.sample_every, "train.sample_every", allow_zero=True)
        positive(self.max_retries, "train.max_retries", allow_zero=True)
        positive(self.check_every, "train.check_every")
        positive(self.eval_every, "train.eval_every", allow_zero=True)
        positive(self.eval_examples, "train.eval_examples", allow_zero=True)
        positive(self.patience, "train.patience", allow_zero=True)
        if self.patience and not self.eval_every:
            raise GenzooError("train.patience counts validations: it needs train.eval_every > 0")
        positive(self.dist_timeout, "train.dist_timeout")
        if not 0.0 <= self.ema < 1.0:
            raise GenzooError(f"bad value {self.ema!r} for train.ema: must be in [0, 1) (0 turns EMA off)")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise GenzooError(f"bad value {self.min_lr_ratio!r} for train.min_lr_ratio: must be in [0, 1]")
        if not all(0.0 <= b < 1.0 for b in self.betas) or len(self.betas) != 2:
            raise GenzooError(f"bad value {self.betas!r} for train.betas: two numbers in [0, 1)")
        if self.device not in ("auto", "cpu", "mps") and not self.device.startswith("cuda"):
            raise GenzooError(f"bad value {self.device!r} for train.device: auto, cpu, cuda, cuda:N or mps")

    def lr_factor(self, step: int) -> float:
        """Multiplier on ``lr`` at ``step``: linear warm-up, then constant or cosine decay."""
        import math

        if self.warmup and step < self.warmup:
            return (step + 1) / self.warmup
        if self.schedule == "cosine":
            span = max(1, self.steps - self.warmup)
            t = min(1.0, (step - self.warmup) / span)
            return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
        return 1.0

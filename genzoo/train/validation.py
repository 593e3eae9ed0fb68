"""Validation during training: score held-out data, keep the best weights, stop early.

Every ``train.eval_every`` steps the trainer scores the model on the validation split
(the dataset's own, or the seeded ``data.valid_fraction`` of train held out by
:func:`genzoo.data.dataset.hold_out_valid`), with the EMA weights when EMA is on, since
those are the weights a finished run is used with. Lower is better for both metrics:

* ``nll``: the mean negative log-likelihood in nats (exact, bound or estimate, as the
  model states) of up to ``train.eval_examples`` validation examples, computed by
  :func:`genzoo.evaluate.likelihood.evaluate_nll` with its fixed seed;
* ``fid``: the Frechet distance between as many samples (fixed seed) and validation
  examples in the dataset's feature space (:func:`genzoo.evaluate.metrics.judge_for`),
  opt-in for models without a likelihood because it costs time.

The examples are a fixed seeded subset (:func:`genzoo.data.dataset.random_rows`, seed 0)
of the validation split with the dataset's random transform applied once with seed 0
(:meth:`genzoo.data.dataset.Dataset.fixed`), so the same examples score every evaluation.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genzoo.data.dataset import Dataset, random_rows
from genzoo.errors import GenzooError
from genzoo.models.base import GenerativeModel
from genzoo.train import checkpoint as ckpt
from genzoo.train.config import TrainConfig

BEST_WEIGHTS = "best.safetensors"
BEST_INFO = "best.json"
SUBSET_SEED = 0


class Validator:
    """Scores a model on a fixed subset of the validation split; ``key`` names the value
    that selects the best weights (``valid/nll`` or ``valid/fid``)."""

    def __init__(self, model: GenerativeModel, data: Dataset, cfg: TrainConfig) -> None:
        metric = cfg.eval_metric
        if metric == "auto":
            if model.likelihood is None:
                raise GenzooError(
                    f"model {model.name!r} has no likelihood to validate with: set train.eval_metric=fid "
                    "(FID of samples against the validation split; costs time) or leave train.eval_every=0")
            metric = "nll"
        if metric == "nll" and model.likelihood is None:
            raise GenzooError(f"train.eval_metric=nll: model {model.name!r} has no likelihood; use fid")
        if data.valid is None:
            raise GenzooError(f"train.eval_every needs a validation split and dataset {data.spec.name!r} has none: "
                              "hold out part of train with --set data.valid_fraction=0.1")
        valid = data.fixed("valid")
        n = cfg.eval_examples or len(valid)
        self.x = random_rows(valid.x, n, seed=SUBSET_SEED)  # (n, *shape)
        self.metric = metric
        self.key = f"valid/{metric}"
        self.split = ("valid" if "valid_fraction" not in data.info
                      else f"valid_fraction {data.info['valid_fraction']:g} of train (seed {data.info['valid_seed']})")
        self._judge = None
        self._real_features: torch.Tensor | None = None
        if metric == "fid":
            from genzoo.evaluate.metrics import judge_for

            if len(self.x) < 10:
                raise GenzooError(f"train.eval_metric=fid needs at least 10 validation examples, got {len(self.x)}")
            self._judge = judge_for(data.spec.name, data, download=False)
            self._real_features = self._judge.features(self.x)

    def __call__(self, model: GenerativeModel) -> dict[str, float]:
        """The ``valid/...`` scores of ``model`` as it is now (puts it in eval mode)."""
        if self.metric == "nll":
            from genzoo.evaluate.likelihood import evaluate_nll

            r = evaluate_nll(model, self.x)
            return {"valid/nll": r["nll_nats"], "valid/bits_per_dim": r["bits_per_dim"]}
        from genzoo.evaluate.metrics import draw_samples
        from genzoo.evaluate.quality import frechet_distance

        fake = draw_samples(model, len(self.x), seed=SUBSET_SEED)
        return {"valid/fid": frechet_distance(self._real_features, self._judge.features(fake))}

    def describe(self) -> dict[str, Any]:
        return {"metric": self.key, "examples": len(self.x), "split": self.split}


@dataclass
class Best:
    """The best validation value so far, its step, and evaluations since it improved."""

    step: int | None = None
    value: float | None = None
    bad_evals: int = 0

    def improves(self, value: float) -> bool:
        return math.isfinite(value) and (self.value is None or value < self.value)

    def record(self, step: int, value: float, improved: bool) -> None:
        if improved:
            self.step, self.value, self.bad_evals = step, float(value), 0
        else:
            self.bad_evals += 1

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "value": self.value, "bad_evals": self.bad_evals}

    def load_state_dict(self, d: dict[str, Any] | None) -> None:
        d = d or {}
        self.step, self.value, self.bad_evals = d.get("step"), d.get("value"), int(d.get("bad_evals", 0))


def write_best(run_dir: Path, state: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
    """Write ``best.safetensors`` and then ``best.json``, each atomically."""
    ckpt.save_weights(state, run_dir / BEST_WEIGHTS)
    tmp = run_dir / f".{BEST_INFO}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, run_dir / BEST_INFO)


def remove_best(run_dir: Path) -> None:
    """Remove best files written after the checkpoint a resumed run starts from."""
    for name in (BEST_INFO, BEST_WEIGHTS):
        (run_dir / name).unlink(missing_ok=True)


def read_best_info(run_dir: str | Path) -> dict[str, Any] | None:
    """The contents of a run's ``best.json`` (None when it has none)."""
    p = Path(run_dir) / BEST_INFO
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise ckpt.CheckpointError(f"{p} is corrupt ({e})") from None

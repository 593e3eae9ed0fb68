"""Run directories: assemble a run's config, write it, and rebuild a model from it.

A run's ``config.json`` holds everything needed to rebuild the model without touching
the data: the model name and Config, the dataset name, options and DataSpec, and the
trainer settings.

Recipes are YAML files with up to three sections::

    model: {name: made, hidden: [512]}
    data:  {name: binarized_mnist}
    train: {steps: 3000, lr: 1e-3}

Precedence, lowest first: Config defaults, recipe, ``--set key=value``, explicit flags.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genzoo.config import build_config, load_yaml, route_overrides
from genzoo.data.dataset import Dataset, load_dataset, options_class
from genzoo.data.spec import DataSpec
from genzoo.errors import CheckpointError, GenzooError
from genzoo.models.base import GenerativeModel
from genzoo.models.registry import get_model_class
from genzoo.train.config import TrainConfig

FORMAT_VERSION = 1
# Settings that may change when a run is resumed; anything else must match.
# Validation settings other than patience (a stopping rule, like steps) are not: they
# decide what the recorded best values mean.
RESUMABLE_CHANGES = {"steps", "device", "log_every", "sample_every", "tensorboard",
                     "checkpoint_every", "keep_checkpoints", "compile", "patience", "dist_timeout"}
WEIGHTS = ("auto", "best", "ema", "model")


@dataclass
class RunConfig:
    """A fully resolved run: model, data and trainer settings."""

    model: str
    model_config: Any
    data: str
    data_options: Any
    data_dir: str | None
    train: TrainConfig

    def to_dict(self, spec: DataSpec | None = None) -> dict[str, Any]:
        from genzoo import __version__

        d = {"format": FORMAT_VERSION, "genzoo": __version__, "model": self.model,
             "model_config": dataclasses.asdict(self.model_config),
             "data": {"name": self.data, "options": dataclasses.asdict(self.data_options),
                      "data_dir": self.data_dir},
             "train": dataclasses.asdict(self.train)}
        if spec is not None:
            d["spec"] = spec.to_dict()
        return d


def resolve(model: str | None = None, data: str | None = None, *, recipe: dict[str, Any] | str | Path | None = None,
            overrides: dict[str, Any] | None = None, train_flags: dict[str, Any] | None = None,
            data_dir: str | None = None) -> RunConfig:
    """Combine defaults, a recipe, overrides and flags into a checked RunConfig."""
    rec = load_yaml(recipe) if isinstance(recipe, (str, Path)) else dict(recipe or {})
    unknown = set(rec) - {"model", "data", "train"}
    if unknown:
        raise GenzooError(f"unknown recipe section(s) {', '.join(sorted(unknown))}; "
                          "a recipe has sections model, data and train")
    sections = {}
    for sec in ("model", "data", "train"):
        v = rec.get(sec) or {}
        if isinstance(v, str):
            v = {"name": v}
        if not isinstance(v, dict):
            raise GenzooError(f"recipe section {sec!r} must be a mapping of key: value")
        sections[sec] = dict(v)
    model_name = _pick_name("model", model, sections["model"].pop("name", None))
    data_name = _pick_name("data", data, sections["data"].pop("name", None)) or "digits"
    if model_name is None:
        raise GenzooError("no model given: name one (genzoo list models) or give a recipe with model.name")
    sections["train"].pop("name", None)
    cls = get_model_class(model_name)
    opt_cls = options_class(data_name)
    routed = route_overrides(overrides or {}, {"model": cls.Config, "train": TrainConfig, "data": opt_cls})
    mcfg = build_config(cls.Config, {**sections["model"], **routed["model"]}, what=f"key of model {model_name!r}")
    dopts = build_config(opt_cls, {**sections["data"], **routed["data"]}, what=f"option of dataset {data_name!r}")
    tvals = {**sections["train"], **routed["train"], **{k: v for k, v in (train_flags or {}).items() if v is not None}}
    tcfg = build_config(TrainConfig, tvals, what="train key")
    return RunConfig(model_name, mcfg, data_name, dopts, data_dir, tcfg)


def _pick_name(what: str, given: str | None, from_recipe: str | None) -> str | None:
    if given and from_recipe and given != from_recipe:
        raise GenzooError(f"the recipe is for {what} {from_recipe!r} but {given!r} was given")
    return given or from_recipe


def load_data(config: RunConfig, *, download: bool = True) -> Dataset:
    return load_dataset(config.data, root=config.data_dir, download=download,
                        **dataclasses.asdict(config.data_options))


def build(config: RunConfig, spec: DataSpec) -> GenerativeModel:
    return get_model_class(config.model)(config.model_config, spec)  # __init__ checks the spec


def new_run_dir(base: str | Path, model: str, data: str) -> Path:
    """``base/<model>-<data>``, or ``-2``, ``-3``... so no earlier run is overwritten."""
    base = Path(base)
    p = base / f"{model}-{data}"
    i = 2
    while p.exists():
        p = base / f"{model}-{data}-{i}"
        i += 1
    return p


def write_config(run_dir: Path, config: RunConfig, spec: DataSpec) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / ".config.json.tmp"
    tmp.write_text(json.dumps(config.to_dict(spec), indent=2) + "\n")
    tmp.replace(run_dir / "config.json")


def read_config(run_dir: str | Path) -> dict[str, Any]:
    p = Path(run_dir)
    if not p.is_dir():
        raise CheckpointError(f"run directory not found: {p}")
    f = p / "config.json"
    if not f.is_file():
        raise CheckpointError(f"{p} is not a genzoo run (no config.json)")
    try:
        d = json.loads(f.read_text())
    except ValueError as e:
        raise CheckpointError(f"{f} is corrupt ({e})") from None
    for key in ("model", "model_config", "data", "train", "spec"):
        if key not in d:
            raise CheckpointError(f"{f} is incomplete: no {key!r}")
    return d


def runconfig_from_dict(d: dict[str, Any]) -> RunConfig:
    """Rebuild the RunConfig that a config.json describes (values re-checked)."""
    cls = get_model_class(d["model"])
    opt_cls = options_class(d["data"]["name"])
    return RunConfig(d["model"], build_config(cls.Config, d["model_config"], what=f"key of model {d['model']!r}"),
                   d["data"]["name"], build_config(opt_cls, d["data"].get("options", {}), what="data option"),
                   d["data"].get("data_dir"), build_config(TrainConfig, d["train"], what="train key"))


def check_resumable(saved: RunConfig, new: RunConfig) -> None:
    """Refuse to resume a run with a different model, data or optimisation."""
    a, b = saved.to_dict(), new.to_dict()
    for key in ("model", "model_config", "data"):
        if key == "data":
            a[key] = {k: v for k, v in a[key].items() if k != "data_dir"}
            b[key] = {k: v for k, v in b[key].items() if k != "data_dir"}
        if a[key] != b[key]:
            raise CheckpointError(f"cannot resume: the run was trained with {key} {_short(a[key])}, "
                                  f"not {_short(b[key])}")
    for k, v in a["train"].items():
        if k not in RESUMABLE_CHANGES and b["train"].get(k) != v:
            raise CheckpointError(f"cannot resume: the run was trained with train.{k}={v!r}, "
                                  f"not {b['train'].get(k)!r}")


def _short(v: Any) -> str:
    s = json.dumps(v) if not isinstance(v, str) else repr(v)
    return s if len(s) < 120 else s[:117] + "..."


@dataclass
class LoadedRun:
    """A trained model rebuilt from its run directory."""

    path: Path
    config: RunConfig
    spec: DataSpec
    model: GenerativeModel
    weights: str


def load_run(run_dir: str | Path, *, weights: str = "auto", device: str = "cpu") -> LoadedRun:
    """Rebuild the model of a run from ``config.json`` and its safetensors weights.

    Args:
        weights: ``"model"`` (the final weights), ``"ema"`` (their moving average),
            ``"best"`` (the best on validation, ``best.safetensors``: EMA weights when EMA
            was on), or ``"auto"``: best when the run has them, else EMA, else model.
    """
    from genzoo.train.checkpoint import list_checkpoints, load_state_dict_checked, load_weights

    path = Path(run_dir)
    d = read_config(path)
    config = runconfig_from_dict(d)
    spec = DataSpec.from_dict(d["spec"])
    model = build(config, spec)
    if weights not in WEIGHTS:
        raise GenzooError(f"bad value {weights!r} for weights: one of {', '.join(WEIGHTS)}")
    files = {w: path / f"{w}.safetensors" for w in ("best", "ema", "model")}
    if weights == "auto":
        weights = next((w for w in ("best", "ema") if files[w].exists()), "model")
    f = files[weights]
    if weights == "best" and not f.exists():
        raise CheckpointError(f"run {path} has no best weights (no best.safetensors): they are kept "
                              "only when it was trained with train.eval_every > 0")
    if not f.exists() and weights == "model":
        found = list_checkpoints(path / "checkpoints")
        if not found:
            raise CheckpointError(f"run {path} has no weights yet (no model.safetensors, no checkpoint)")
        f = found[-1][1] / "model.safetensors"
    load_state_dict_checked(model, load_weights(f), f)
    model.to(device).eval()
    return LoadedRun(path, config, spec, model, weights)

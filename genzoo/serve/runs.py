"""The runs a playground serves: named at start, loaded once, looked up by index or name.

A request names a run by its index in the list or by its name (the run directory's
name, made unique with ``-2``, ``-3``...); nothing a request sends ever becomes a path.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genzoo.errors import GenzooError
from genzoo.run import LoadedRun, load_data, load_run
from genzoo.serve.jobs import ServeError
from genzoo.tasks.evaluation import read_kept, summary_lines
from genzoo.tasks.primer import is_music
from genzoo.train.logging import read_metrics

MAX_CURVE_POINTS = 400  # points per metric sent to the page (evenly thinned)


@dataclass
class ServedRun:
    """A run loaded for serving; ``data`` (its test split) is loaded on first use."""

    index: int
    name: str
    loaded: LoadedRun
    _data: Any = None
    _data_error: str | None = None
    _data_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def model(self):
        return self.loaded.model

    @property
    def spec(self):
        return self.loaded.spec

    @property
    def lane(self) -> str:
        return f"run:{self.index}"

    def views(self) -> list[str]:
        """The playground pages this run can be used on."""
        m, s = self.model, self.spec
        v = []
        sequence_model = hasattr(m, "generate") and s.kind == "sequence" and s.vocabulary is not None
        if s.kind == "image" or (s.kind == "vector" and s.shape == (2,)) or sequence_model:
            v.append("sample")
        if s.kind == "image" and m.has("complete"):
            v.append("complete")
        if s.kind == "image" and (latent_kind(m) is not None):
            v.append("latent")
            if latent_kind(m) == "encode" and latent_dim(m) == 2:
                v.append("latent_map")
        if sequence_model:
            v.append("music" if is_music(s) else "text")
        return v

    def test_data(self):
        """The run's test split (data loaded without downloading; errors are 400s)."""
        with self._data_lock:
            if self._data is None and self._data_error is None:
                try:
                    self._data = load_data(self.loaded.config, download=False).test
                except GenzooError as e:
                    self._data_error = str(e)
            if self._data_error is not None:
                raise ServeError(f"the test data of run {self.name!r} is not available here: {self._data_error}")
            return self._data

    def info(self) -> dict[str, Any]:
        m, s, cfg = self.model, self.spec, self.loaded.config
        return {"index": self.index, "name": self.name, "model": cfg.model, "family": getattr(m, "family", ""),
                "data": cfg.data, "spec": s.describe, "kind": s.kind, "shape": list(s.shape),
                "value_type": s.value_type, "num_classes": s.num_classes,
                "likelihood": m.likelihood or "none", "capabilities": list(m.capabilities), "views": self.views(),
                "conditional": m.has("conditional"), "latent_dim": latent_dim(m), "weights": self.loaded.weights,
                "sample_options": sample_options(m),
                "parameters": sum(p.numel() for p in m.parameters()),
                "steps": cfg.train.steps, "summary": metric_summary(read_metrics(self.loaded.path)),
                "eval": {key: summary_lines(res) for key, res in read_kept(self.loaded.path).items()}}

    def curves(self) -> dict[str, Any]:
        """Every numeric metric of metrics.jsonl as ``{name: [[step, value], ...]}``."""
        rows = read_metrics(self.loaded.path)
        series: dict[str, list[list[float]]] = {}
        for r in rows:
            step = r.get("step")
            if not isinstance(step, (int, float)):
                continue
            for k, v in r.items():
                if k in ("step", "time") or isinstance(v, bool) or not isinstance(v, (int, float)):
                    continue
                if math.isfinite(v):
                    series.setdefault(k, []).append([step, v])
        return {"name": self.name, "curves": {k: thin(v, MAX_CURVE_POINTS) for k, v in series.items()}}


def sample_options(model) -> list[str]:
    """The sampler settings a model's ``sample`` takes as keywords (diffusion models:
    ``steps``, ``sampler``); the model checks their values."""
    import inspect

    params = inspect.signature(model.sample).parameters
    return [k for k in ("steps", "sampler") if k in params]


def latent_kind(model) -> str | None:
    """``encode`` for models that encode and decode, ``generator`` for GANs (a prior
    code through G), None otherwise."""
    if model.has("encode") and model.has("decode"):
        return "encode"
    if hasattr(model, "generate_unit") and hasattr(model.config, "latent_dim"):
        return "generator"
    if model.has("decode"):
        return "decode"
    return None


def latent_dim(model) -> int | None:
    d = getattr(model.config, "latent_dim", None)
    return d if isinstance(d, int) else None


def thin(points: list, limit: int) -> list:
    if len(points) <= limit:
        return points
    step = len(points) / limit
    kept = [points[int(i * step)] for i in range(limit)]
    if kept[-1] is not points[-1]:
        kept[-1] = points[-1]
    return kept


def metric_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The last logged value of every numeric metric (training and validation rows)."""
    last: dict[str, Any] = {}
    for r in rows:
        for k, v in r.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                last[k] = v
    return last


class RunTable:
    """The served runs, by index and by unique name."""

    def __init__(self, paths: list[str | Path], *, weights: str = "auto", device: str = "cpu") -> None:
        if not paths:
            raise GenzooError("no runs to serve: name run directories or give --runs-dir")
        self.runs: list[ServedRun] = []
        names: set[str] = set()
        for i, p in enumerate(paths):
            loaded = load_run(p, weights=weights, device=device)
            base = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(p).resolve().name)[:90] or "run"
            name, k = base, 2
            while name in names or name.isdigit():
                name, k = f"{base}-{k}", k + 1
            names.add(name)
            self.runs.append(ServedRun(i, name, loaded))

    def get(self, key: str) -> ServedRun:
        """The run with this index or name; 404 otherwise (the key is never a path)."""
        if isinstance(key, str) and key.isdigit() and len(key) < 6:
            i = int(key)
            if i < len(self.runs):
                return self.runs[i]
        for r in self.runs:
            if r.name == key:
                return r
        raise ServeError("no such run (use an index or a name from /api/runs)", 404)


def find_runs(runs_dir: str | Path) -> list[Path]:
    """Run directories (holding config.json) directly under ``runs_dir``, sorted."""
    d = Path(runs_dir)
    if not d.is_dir():
        raise GenzooError(f"runs directory not found: {d}")
    found = sorted(p for p in d.iterdir() if (p / "config.json").is_file())
    if not found:
        raise GenzooError(f"no runs (directories with config.json) under {d}")
    return found

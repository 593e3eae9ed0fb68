"""Metrics: one JSON object per logged step in metrics.jsonl, optional TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class MetricsLog:
    """Appends to ``run_dir/metrics.jsonl``; on resume drops lines past the checkpoint."""

    def __init__(self, run_dir: Path | None, *, tensorboard: bool = False, resume_step: int | None = None):
        self.path = run_dir / "metrics.jsonl" if run_dir is not None else None
        self.tb = None
        if self.path is not None and resume_step is not None and self.path.exists():
            kept = [ln for ln in self.path.read_text().splitlines()
                    if ln.strip() and _step_of(ln) is not None and _step_of(ln) <= resume_step]
            self.path.write_text("".join(k + "\n" for k in kept))
        if tensorboard and run_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                from genzoo.errors import GenzooError

                raise GenzooError("train.tensorboard=true needs the tensorboard package: "
                                  "pip install 'genzoo[tensorboard]'") from None
            self.tb = SummaryWriter(str(run_dir / "tensorboard"))

    def write(self, row: dict[str, Any]) -> None:
        if self.path is not None:
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, row["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _step_of(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All rows of a run's metrics.jsonl (skipping damaged lines)."""
    p = Path(run_dir) / "metrics.jsonl"
    rows = []
    if p.exists():
        for ln in p.read_text().splitlines():
            try:
                rows.append(json.loads(ln))
            except ValueError:
                continue
    return rows

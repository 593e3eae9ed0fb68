"""Injected non-finite losses: every run recovers by rolling back with a lower learning
rate, and no checkpoint or weight file ever holds a non-finite value.

Each run sets ``GENZOO_INJECT_NAN=STEP,KIND`` (STEP drawn uniformly from the run's steps,
KIND nan or inf), which makes the loss at that step non-finite once. A run counts as
recovered when it finishes all its steps with exit code 0, says it rolled back, trains on
at half the learning rate (the ``lr`` column of ``metrics.jsonl``), ends with a finite
loss, and when no ``.safetensors`` file and no ``state.pt`` anywhere in the run directory
holds a NaN or an infinity: every checkpoint is kept (``keep_checkpoints`` above their
number), as are the final and any best weights. The recipe is a small MLP VAE with EMA
on ``digits``, a checkpoint every 5 steps and a sample grid every 10.

    python benchmarks/reliability/nan_injection.py [--runs 10] [--steps 40] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from pathlib import Path

from common import machine, non_finite_files, report, train, warm_up

LR = 1e-3


def recipe(steps: int) -> list[str]:
    return ["vae", "--data", "digits", "--steps", str(steps), "--batch-size", "32", "--seed", "4",
            "--checkpoint-every", "5", "--no-progress", "--offline", "--set", "arch=mlp",
            "--set", "hidden=32", "--set", "latent_dim=4", "--set", f"train.lr={LR}", "--set", "train.ema=0.9",
            "--set", "train.sample_every=10", "--set", "train.log_every=1", "--set", "train.keep_checkpoints=1000"]


def last_row(run: Path) -> dict:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return rows[-1] if rows else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="runs with one injected NaN or Inf (default 10)")
    ap.add_argument("--steps", type=int, default=40, help="training steps per run (default 40)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the injection points")
    ap.add_argument("--keep", action="store_true", help="keep the run directories (printed)")
    args = ap.parse_args()
    warm_up()
    work = Path(tempfile.mkdtemp(prefix="genzoo-nan-"))
    t_start = time.perf_counter()
    ref = work / "reference"
    assert train([*recipe(args.steps), "--run-dir", str(ref)], log=work / "ref.log") == 0
    ref_loss = last_row(ref).get("model/loss", math.nan)
    rng = random.Random(args.seed)
    rows, recovered = [], 0
    for i in range(args.runs):
        step, kind = rng.randrange(args.steps), rng.choice(["nan", "inf"])
        run, log = work / f"run-{i}", work / f"run-{i}.log"
        rc = train([*recipe(args.steps), "--run-dir", str(run)], log=log,
                   env={"GENZOO_INJECT_NAN": f"{step},{kind}"})
        text = log.read_text()
        rolled = [ln for ln in text.splitlines() if "rolled back to step" in ln]
        row = last_row(run) if (run / "metrics.jsonl").exists() else {}
        bad = non_finite_files(run)
        loss = row.get("model/loss", math.nan)
        ok = (rc == 0 and len(rolled) == 1 and row.get("step") == args.steps
              and math.isclose(row.get("lr", 0.0), LR / 2) and math.isfinite(loss) and not bad)
        recovered += ok
        back_to = rolled[0].split("rolled back to step ")[1].split()[0] if rolled else "-"
        rows.append({"run": i + 1, "injected": f"{kind} at step {step}", "exit": rc, "rolled back to": back_to,
                     "final lr": f"{row['lr']:g}" if "lr" in row else "-", "final loss": round(loss, 2),
                     "files scanned": sum(1 for f in run.rglob("*") if f.suffix == ".safetensors" or f.name == "state.pt"),
                     "non-finite files": len(bad), "recovered": "yes" if ok else "NO"})
        print(f"run {i + 1}/{args.runs}: {rows[-1]}", flush=True)
    report(rows, f"injected non-finite losses: {recovered} of {args.runs} runs recovered by rollback at half the "
          f"learning rate with no non-finite value in any checkpoint or weight file (uninterrupted "
          f"reference final loss {ref_loss:.2f}; {time.perf_counter() - t_start:.0f} s; {machine()})", work, keep=args.keep)


if __name__ == "__main__":
    main()

"""Random kills: runs of a recipe SIGKILLed at random points and resumed end bitwise
equal to a run that was never interrupted.

Each run is killed once, at a random point drawn from four phases: just before a
training step, while the sample grid is written (``train.sample_every``), at a random
line inside a checkpoint save, or at a random line inside the final ``model.safetensors``
write. It is then resumed with ``genzoo train --resume`` and its final weights (and EMA
weights) are compared bit for bit with the uninterrupted reference. The recipe is a
small MLP VAE on ``digits`` (stochastic loss, cosine schedule with warm-up, EMA).

    python benchmarks/reliability/random_kills.py [--runs 20] [--steps 40] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from common import machine, newest_checkpoint_usable, report, same_weights, train, warm_up

EVERY, SAMPLE_EVERY = 5, 10


def recipe(steps: int) -> list[str]:
    return ["vae", "--data", "digits", "--steps", str(steps), "--batch-size", "32", "--seed", "3",
            "--checkpoint-every", str(EVERY), "--no-progress", "--offline",
            "--set", "arch=mlp", "--set", "hidden=32", "--set", "latent_dim=4",
            "--set", f"train.sample_every={SAMPLE_EVERY}", "--set", "train.schedule=cosine",
            "--set", "train.warmup=5", "--set", "train.ema=0.9", "--set", "train.log_every=5"]


def draw_plan(rng: random.Random, steps: int, lines: dict[str, int]) -> dict:
    phase = rng.choice(["train", "sample", "save", "final"])
    if phase == "train":
        return {"phase": phase, "step": rng.randint(1, steps - 1)}
    if phase == "sample":
        return {"phase": phase, "step": rng.choice(range(SAMPLE_EVERY, steps + 1, SAMPLE_EVERY))}
    if phase == "save":
        step = rng.choice(range(EVERY, steps + 1, EVERY))
        return {"phase": phase, "step": step, "line": rng.randint(1, lines[f"save:{step}"])}
    return {"phase": phase, "step": steps, "line": rng.randint(1, lines["final:model.safetensors"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="killed-and-resumed runs (default 20)")
    ap.add_argument("--steps", type=int, default=40, help="training steps per run (default 40)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill points")
    ap.add_argument("--keep", action="store_true", help="keep the run directories (printed)")
    args = ap.parse_args()
    warm_up()
    work = Path(tempfile.mkdtemp(prefix="genzoo-kills-"))
    t_start = time.perf_counter()
    ref, counts = work / "reference", work / "lines.json"
    assert train([*recipe(args.steps), "--run-dir", str(ref)], count_path=counts, log=work / "ref.log") == 0, \
        (work / "ref.log").read_text()[-2000:]
    import json

    lines = json.loads(counts.read_text())
    rng = random.Random(args.seed)
    rows, ok = [], 0
    for i in range(args.runs):
        plan = draw_plan(rng, args.steps, lines)
        run, log = work / f"run-{i}", work / f"run-{i}.log"
        t0 = time.perf_counter()
        rc_kill = train([*recipe(args.steps), "--run-dir", str(run)], plan=plan, log=log)
        start, why = newest_checkpoint_usable(run / "checkpoints")
        rc_resume = train(["--run-dir", str(run), "--resume", "--no-progress", "--offline"], log=log)
        equal = rc_kill == -9 and rc_resume == 0 and not why and same_weights(run, ref)
        ok += equal
        rows.append({"run": i + 1, "phase": plan["phase"], "step": plan["step"], "line": plan.get("line", ""),
                     "kill exit": rc_kill, "resumed at": "start" if start is None else start,
                     "resume exit": rc_resume, "bitwise equal": "yes" if equal else "NO",
                     "seconds": round(time.perf_counter() - t0, 1)})
        print(f"run {i + 1}/{args.runs}: {rows[-1]}", flush=True)
    report(rows, f"random kills: {ok} of {args.runs} resumed runs bitwise equal to the uninterrupted run "
          f"({args.steps} steps each; {time.perf_counter() - t_start:.0f} s; {machine()})", work, keep=args.keep)


if __name__ == "__main__":
    main()

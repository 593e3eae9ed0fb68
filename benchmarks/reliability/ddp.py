"""Two processes under torchrun: a killed worker stops the whole run within seconds,
the run resumes from its last checkpoint, and the resumed run ends bitwise equal to an
uninterrupted two-process run (every rank's random state is in the checkpoints).

Each trial SIGKILLs one worker (rank 0 and rank 1 in turn) just before a random training
step, measures the time from the kill until ``torchrun`` has exited, checks that no
worker process is left, resumes with ``torchrun ... genzoo train --resume`` and compares
the final weights (and EMA weights) bit for bit with the reference. torchrun is used with
its defaults (``--max-restarts 0``, ``--monitor-interval 0.1``): when one worker dies it
terminates the others. The recipe is a small MLP VAE with EMA on ``digits`` (each rank
draws its own noise), gloo on CPU, a checkpoint every 5 steps.

    python benchmarks/reliability/ddp.py [--kills 2] [--steps 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import HERE, ROOT, machine, newest_checkpoint_usable, report, same_weights

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def recipe(steps: int) -> list[str]:
    return ["vae", "--data", "digits", "--steps", str(steps), "--batch-size", "32", "--seed", "2",
            "--device", "cpu", "--checkpoint-every", "5", "--no-progress", "--offline", "--set", "arch=mlp",
            "--set", "hidden=32", "--set", "latent_dim=4", "--set", "train.ema=0.9", "--set", "train.log_every=5"]


def torchrun(argv: list[str], log: Path, pids: Path, plan: dict | None = None) -> tuple[int, float]:
    """Run the driver under torchrun; (exit code, wall time when it exited)."""
    pids.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "GENZOO_BENCH_PIDS": str(pids)}
    if plan is not None:
        env["GENZOO_BENCH_KILL"] = json.dumps(plan)
    with open(log, "a") as out:
        rc = subprocess.run([*TORCHRUN, str(HERE / "_driver.py"), "train", *argv], env=env, stdout=out,
                            stderr=subprocess.STDOUT, timeout=900).returncode
    return rc, time.time()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=2, help="killed-and-resumed two-process runs (default 2)")
    ap.add_argument("--steps", type=int, default=30, help="training steps per run (default 30)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill points")
    ap.add_argument("--keep", action="store_true", help="keep the run directories (printed)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="genzoo-ddp-"))
    t_start = time.perf_counter()
    ref = work / "reference"
    rc, _ = torchrun([*recipe(args.steps), "--run-dir", str(ref)], work / "ref.log", work / "pids-ref")
    assert rc == 0, (work / "ref.log").read_text()[-3000:]
    rng = random.Random(args.seed)
    rows, ok = [], 0
    for i in range(args.kills):
        rank, step = i % 2, rng.randint(6, args.steps - 1)
        run, log, pids, stamp = work / f"run-{i}", work / f"run-{i}.log", work / f"pids-{i}", work / f"stamp-{i}"
        plan = {"phase": "train", "step": step, "rank": rank, "stamp": str(stamp)}
        rc_kill, t_exit = torchrun([*recipe(args.steps), "--run-dir", str(run)], log, pids, plan)
        killed_at = json.loads(stamp.read_text())["time"] if stamp.exists() else float("nan")
        left = [int(p.read_text()) for p in pids.iterdir() if alive(int(p.read_text()))]
        start, why = newest_checkpoint_usable(run / "checkpoints")
        rc_resume, _ = torchrun(["--run-dir", str(run), "--resume", "--no-progress", "--offline"], log,
                                work / f"pids-{i}-resume")
        stopped = t_exit - killed_at
        equal = rc_resume == 0 and not why and same_weights(run, ref)
        good = rc_kill != 0 and not left and stopped < 10 and equal
        ok += good
        rows.append({"run": i + 1, "killed rank": rank, "before step": step, "torchrun exit": rc_kill,
                     "stopped after s": round(stopped, 2), "workers left": len(left),
                     "resumed at": "start" if start is None else start, "resume exit": rc_resume,
                     "bitwise equal": "yes" if equal else "NO"})
        print(f"run {i + 1}/{args.kills}: {rows[-1]}", flush=True)
    report(rows, f"two-process runs: {ok} of {args.kills} stopped within 10 s of a worker's SIGKILL with no worker "
          f"left, resumed, and ended bitwise equal to the uninterrupted two-process run "
          f"({time.perf_counter() - t_start:.0f} s; {machine()})", work, keep=args.keep)


if __name__ == "__main__":
    main()

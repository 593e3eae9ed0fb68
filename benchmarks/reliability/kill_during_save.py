"""Kills during checkpoint saves: after every kill the newest complete checkpoint is
readable and usable, and the run still ends bitwise equal to an uninterrupted one.

One run directory is killed again and again: each link of the chain resumes the run
(the first one starts it) and SIGKILLs itself at a uniformly drawn line among the lines
that ``write_checkpoint`` (and the helpers it calls in checkpoint.py) executes for a
randomly chosen upcoming save: before, between or after writing the files, the fsyncs,
the rename that publishes ``step-N``, and the pruning of old checkpoints. After each
kill the newest ``step-N`` must read back (weights, EMA, optimizer and RNG state) with
finite weights and the right step; the next resume must start from it. At the end the
run is resumed to completion and compared with the uninterrupted reference.
The recipe is a small MADE with EMA on ``digits``, a checkpoint every 2 steps.

    python benchmarks/reliability/kill_during_save.py [--kills 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from common import machine, newest_checkpoint_usable, print_table, same_weights, train, warm_up

EVERY = 2


def recipe(steps: int) -> list[str]:
    return ["made", "--data", "digits", "--steps", str(steps), "--batch-size", "32", "--seed", "5",
            "--checkpoint-every", str(EVERY), "--no-progress", "--offline", "--set", "hidden=16,16",
            "--set", "train.ema=0.9", "--set", "train.keep_checkpoints=2", "--set", "train.log_every=10"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=100, help="kills inside a save (default 100)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill points")
    ap.add_argument("--keep", action="store_true", help="keep the run directories (printed)")
    args = ap.parse_args()
    steps = EVERY * (2 * args.kills + 2)  # room for every kill to land on a later save
    warm_up()
    work = Path(tempfile.mkdtemp(prefix="genzoo-savekills-"))
    t_start = time.perf_counter()
    ref, counts, run = work / "reference", work / "lines.json", work / "run"
    assert train([*recipe(steps), "--run-dir", str(ref)], count_path=counts, log=work / "ref.log") == 0, \
        (work / "ref.log").read_text()[-2000:]
    lines = json.loads(counts.read_text())
    rng = random.Random(args.seed)
    at, broken, resume_failed, rows = 0, 0, 0, []
    published = collections.Counter()  # did the kill land before or after step-N appeared?
    for i in range(args.kills):
        target = at + EVERY * rng.randint(1, 2)
        plan = {"phase": "save", "step": target, "line": rng.randint(1, lines[f"save:{target}"])}
        argv = [*recipe(steps), "--run-dir", str(run)] if i == 0 else \
            ["--run-dir", str(run), "--resume", "--no-progress", "--offline"]
        rc = train(argv, plan=plan, log=work / "run.log")
        newest, why = newest_checkpoint_usable(run / "checkpoints")
        if rc != -9:
            resume_failed += 1  # this link should have resumed and then been killed
            why = why or f"exit {rc}"
        broken += bool(why) or newest is None
        published["after publish" if newest == target else "before publish"] += 1
        at = newest or 0
        rows.append({"kill": i + 1, "save at step": target, "line": plan["line"],
                     "of lines": lines[f"save:{target}"], "newest step-N": newest, "usable": why or "yes"})
        if (i + 1) % 10 == 0:
            print(f"{i + 1} kills, {broken} broken", flush=True)
    rc = train(["--run-dir", str(run), "--resume", "--no-progress", "--offline"], log=work / "run.log")
    equal = rc == 0 and same_weights(run, ref)
    print()
    print_table(rows[:10] + rows[-5:] if len(rows) > 15 else rows, list(rows[0]))
    print(f"\nkills during save: {broken} of {args.kills} left the newest checkpoint broken "
          f"({published['before publish']} landed before step-N was published, "
          f"{published['after publish']} after); links that failed to resume: {resume_failed}; "
          f"final weights bitwise equal to the uninterrupted run: {'yes' if equal else 'NO'} "
          f"({time.perf_counter() - t_start:.0f} s; {machine()})")
    if args.keep:
        print(f"run directories: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

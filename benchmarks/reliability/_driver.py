"""Runs ``genzoo`` with a planned SIGKILL, for the reliability scripts.

The plan comes from the environment as JSON (``GENZOO_BENCH_KILL``)::

    {"phase": "train" | "sample" | "save" | "final", "step": S, "line": K, "rank": R,
     "stamp": "path"}

* ``train``: just before step index S runs;
* ``sample``: in the sample grid written after step S, after the model drew the samples;
* ``save``: at the K-th line executed inside ``write_checkpoint`` for step S (or at its
  return if it runs fewer lines);
* ``final``: at the K-th line executed inside ``save_weights`` of ``model.safetensors``.

Only process ``rank`` (default 0) kills itself; it first writes the time to ``stamp``.
``GENZOO_BENCH_COUNT=path`` instead records how many lines each save executed (JSON), so
a script can draw K uniformly. Every process writes its pid to ``GENZOO_BENCH_PIDS/rank``.

Run as a script (``python _driver.py train ...``, also under torchrun) or call
:func:`install` in a forked child.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def _die(plan: dict) -> None:
    if plan.get("stamp"):
        Path(plan["stamp"]).write_text(json.dumps({"time": time.time(), "pid": os.getpid()}))
    os.kill(os.getpid(), signal.SIGKILL)


def _traced(fn, plan: dict | None, counts: dict, key: str):
    """Call ``fn`` counting the lines it executes in checkpoint.py; kill at line ``plan['line']``."""
    from genzoo.train import checkpoint as ck

    where = ck.__file__
    seen = [0]

    def local(frame, event, arg):
        if event == "line":
            seen[0] += 1
            if plan is not None and seen[0] >= plan["line"]:
                _die(plan)
        elif event == "return" and plan is not None and frame.f_code is fn.__code__:
            _die(plan)  # fewer lines than planned: die on the way out, still inside
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code.co_filename == where else None

    def wrapper(*a, **k):
        sys.settrace(tracer)
        try:
            return fn(*a, **k)
        finally:
            sys.settrace(None)
            counts[key] = seen[0]

    return wrapper


def install(plan: dict | None, count_path: str | None = None):
    """Patch the trainer so this process dies where ``plan`` says (None: never).

    Returns a function that writes the line counts to ``count_path`` (call it at exit).
    """
    from genzoo.report import render
    from genzoo.train import checkpoint as ck
    from genzoo.train import trainer as tr

    rank = int(os.environ.get("RANK", "0"))
    if os.environ.get("GENZOO_BENCH_PIDS"):
        Path(os.environ["GENZOO_BENCH_PIDS"], str(rank)).write_text(str(os.getpid()))
    if plan is not None and int(plan.get("rank", 0)) != rank:
        plan = None
    counts: dict[str, int] = {}
    phase = plan["phase"] if plan else None

    if phase == "train":
        orig_step = tr.Trainer._train_step

        def train_step(self, step, *a, **k):
            if step == plan["step"]:
                _die(plan)
            return orig_step(self, step, *a, **k)

        tr.Trainer._train_step = train_step
    if phase == "sample":
        orig_samples = tr.Trainer.save_samples

        def save_samples(self, *a, **k):
            if self.step == plan["step"]:
                def render_then_die(*ra, **rk):
                    _die(plan)
                render.save_samples = render_then_die
            return orig_samples(self, *a, **k)

        tr.Trainer.save_samples = save_samples
    orig_write, orig_weights = ck.write_checkpoint, ck.save_weights

    def write_checkpoint(ckpt_dir, step, **k):
        target = plan if phase == "save" and step == plan["step"] else None
        fn = _traced(orig_write, target, counts, f"save:{step}") if target or count_path else orig_write
        return fn(ckpt_dir, step, **k)

    def save_weights(state, path):
        target = plan if phase == "final" and Path(path).name == "model.safetensors" else None
        fn = _traced(orig_weights, target, counts, f"final:{Path(path).name}") if target or count_path else orig_weights
        return fn(state, path)

    ck.write_checkpoint, ck.save_weights = write_checkpoint, save_weights

    def finish() -> None:
        if count_path:
            Path(count_path).write_text(json.dumps(counts))

    return finish


def main() -> int:
    raw = os.environ.get("GENZOO_BENCH_KILL")
    finish = install(json.loads(raw) if raw else None, os.environ.get("GENZOO_BENCH_COUNT"))
    from genzoo.cli.main import main as genzoo_main

    rc = genzoo_main(sys.argv[1:])
    finish()
    return rc


if __name__ == "__main__":
    sys.exit(main())

"""Steps against quality: one trained ddpm or flow_matching run, sampled by each of its
samplers at several step counts (issue 13). Trains nothing.

For every (sampler, step count) the script draws the same number of samples from one
seeded generator (so the deterministic samplers start from the same noise), at batch 64,
and reports

* FID and KID against as many examples of the test split, in genzoo's in-domain feature
  network (the same computation as ``genzoo eval --metrics fid,kid``:
  :func:`genzoo.evaluate.metrics.sample_metrics`);
* network evaluations per image, counted on the network itself (Heun and midpoint take
  two per step, guidance doubles the batch);
* the sampling time per image at that batch on this machine (wall time of drawing all
  samples, divided by their number), and the CPU time of this process per image (on a
  shared machine, with ``--threads 1``, the better guide to what an idle core takes).

Samplers: ddpm runs ``ddpm`` (ancestral, posterior variance), ``ddim-eta0`` and
``ddim-eta1`` (any ``ddim-etaX``, X in [0, 1]); flow_matching runs ``euler``, ``heun``
and ``midpoint``. Default step counts 10, 20, 50, 100, 1000 (Song et al. 2020, Table 1).
1000 steps on a CPU is slow (about 1000 network passes per image); ``--quick`` runs
10, 20, 50 steps on 500 samples.

    python benchmarks/diffusion_steps.py RUN [--samplers ddim-eta0,ddim-eta1] [--steps 10,20,50]
        [--samples 2000] [--quick] [--json FILE] [--csv FILE]

Samples are unconditional (the null label of a class-conditional run) unless
``--guidance W`` is given, which draws the classes in turn with classifier-free guidance.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from genzoo.errors import GenzooError

SAMPLERS = {"ddpm": ("ddpm", "ddim-eta0", "ddim-eta1"), "flow_matching": ("euler", "heun", "midpoint")}
STEPS = (10, 20, 50, 100, 1000)
QUICK_STEPS, QUICK_SAMPLES = (10, 20, 50), 500
COLUMNS = ["sampler", "steps", "evals/image", "FID", "KID", "KID std", "ms/image", "CPU ms/image"]


def sampler_options(model_name: str, label: str) -> dict[str, Any]:
    """``model.sample`` keywords of a sampler label (``ddim-eta0.5`` -> ddim with eta 0.5)."""
    known = SAMPLERS[model_name]
    if model_name == "ddpm" and label.startswith("ddim-eta"):
        try:
            eta = float(label[len("ddim-eta"):])
        except ValueError:
            raise GenzooError(f"bad sampler {label!r}: write ddim-etaX with X a number in [0, 1]") from None
        return {"sampler": "ddim", "eta": eta}
    if label not in known or label.startswith("ddim"):
        raise GenzooError(f"sampler {label!r} is not one of the {model_name} samplers here: "
                          f"{', '.join(known)}{' (or ddim-etaX)' if model_name == 'ddpm' else ''}")
    return {"sampler": label}


class EvalCounter:
    """Counts the rows the model's network is called on (network evaluations)."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.rows = 0
        self._hook = net.register_forward_pre_hook(self._count)

    def _count(self, module: torch.nn.Module, args: tuple) -> None:
        self.rows += int(args[0].shape[0])

    def close(self) -> None:
        self._hook.remove()


def steps_table(loaded: Any, *, samplers: list[str] | None = None, steps: list[int] | tuple[int, ...] = STEPS,
                samples: int = 2000, batch_size: int = 64, seed: int = 0, split: str = "test",
                guidance: float | None = None, features_root: str | None = None,
                progress: bool = True) -> dict[str, Any]:
    """FID, KID, network evaluations and time per image of a loaded ddpm or flow_matching
    run (:class:`genzoo.run.LoadedRun`) for each sampler and step count; every option is
    checked before any sampling starts."""
    from genzoo.data.dataset import random_rows
    from genzoo.evaluate.metrics import draw_samples, judge_for, sample_metrics
    from genzoo.run import load_data

    model, name = loaded.model, loaded.config.model
    if name not in SAMPLERS:
        raise GenzooError(f"the steps benchmark is for {' and '.join(SAMPLERS)} runs; this run is {name!r}")
    configs = [(label, sampler_options(name, label)) for label in samplers or SAMPLERS[name]]
    if samples < 10:
        raise GenzooError(f"bad value {samples} for samples: FID and KID need at least 10")
    if batch_size < 1:
        raise GenzooError(f"bad value {batch_size} for batch size: must be >= 1")
    if not steps:
        raise GenzooError("give at least one step count")
    for s in steps:  # the model's own checks (steps, eta, guidance, labels), once up front
        for _, opts in configs:
            model.sampling_options(1, condition=None, steps=s, sampler=opts["sampler"], eta=opts.get("eta"),
                                   guidance=guidance)
        if name == "ddpm" and s > model.T:
            raise GenzooError(f"bad value {s} for steps: this run has T = {model.T} diffusion steps")
    data = load_data(loaded.config, download=False)
    real = data.fixed(split)
    ref = random_rows(real.x, samples, seed=seed)
    judge = judge_for(loaded.config.data, data, root=loaded.config.data_dir, features_root=features_root,
                      progress=progress)
    options = {} if guidance is None else {"guidance": guidance}
    rows = []
    counter = EvalCounter(model.net)
    try:
        bar = tqdm([(c, s) for c in configs for s in steps], desc="samplers x steps", disable=not progress)
        for (label, opts), s in bar:
            bar.set_postfix_str(f"{label} {s} steps")
            counter.rows = 0
            t0, c0 = time.perf_counter(), time.process_time()
            fake = draw_samples(model, samples, batch_size=batch_size, seed=seed, progress=progress,
                                options={**opts, **options, "steps": s})
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            res = sample_metrics(fake, ref, judge, ["fid", "kid"], split=split, seed=seed, name=loaded.config.data)
            rows.append({"sampler": label, "steps": s, "evals/image": counter.rows / samples,
                         "FID": res["fid"]["value"], "KID": res["kid"]["value"], "KID std": res["kid"]["std"],
                         "ms/image": 1000 * seconds / samples, "CPU ms/image": 1000 * cpu / samples,
                         "sampling_seconds": seconds})
    finally:
        counter.close()
    return {"run": str(loaded.path), "model": name, "data": loaded.config.data, "weights": loaded.weights,
            "split": split, "samples": samples, "real": len(ref), "batch_size": batch_size, "seed": seed,
            "guidance": guidance, "features": judge.describe, "kid_subsets": 100,
            "kid_subset_size": min(1000, samples, len(ref)), "torch_threads": torch.get_num_threads(),
            "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}", "rows": rows}


def _fmt(col: str, v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if col in ("KID", "KID std"):
            return f"{v:.4f}"
        return f"{v:.3g}" if col == "evals/image" else f"{v:.2f}"
    return str(v)


def markdown(result: dict[str, Any]) -> str:
    """The full table (one row per sampler and step count) and FID by steps (one row per sampler)."""
    rows = result["rows"]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(c, r[c]) for c in COLUMNS) + " |" for r in rows]
    steps = sorted({r["steps"] for r in rows})
    labels = list(dict.fromkeys(r["sampler"] for r in rows))
    fid = {(r["sampler"], r["steps"]): r["FID"] for r in rows}
    lines += ["", "FID by steps:", "", "| sampler | " + " | ".join(str(s) for s in steps) + " |",
              "|---|" + "---|" * len(steps)]
    lines += ["| " + lab + " | " + " | ".join(_fmt("FID", fid[lab, s]) if (lab, s) in fid else ""
                                              for s in steps) + " |" for lab in labels]
    lines += ["", f"{result['model']} run {result['run']} ({result['weights']} weights), {result['samples']} samples "
              f"(seed {result['seed']}, batch {result['batch_size']}"
              f"{'' if result['guidance'] is None else ', guidance ' + str(result['guidance'])}) against "
              f"{result['real']} {result['split']} examples of {result['data']}, in {result['features']}; KID over "
              f"{result['kid_subsets']} subsets of {result['kid_subset_size']}; {result['torch_threads']} torch "
              f"threads."]
    return "\n".join(lines)


def write_csv(result: dict[str, Any], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, "sampling_seconds"])
        w.writeheader()
        w.writerows(result["rows"])


def _ints(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise GenzooError(f"bad value {text!r} for --steps: comma-separated integers") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a ddpm or flow_matching run directory")
    ap.add_argument("--samplers", help="comma-separated; ddpm: ddpm, ddim-eta0, ddim-eta1 (any ddim-etaX); "
                    "flow_matching: euler, heun, midpoint (default: all of the model's)")
    ap.add_argument("--steps", help=f"comma-separated step counts (default {','.join(map(str, STEPS))})")
    ap.add_argument("--samples", type=int, help="samples per row, and as many real examples (default 2000)")
    ap.add_argument("--quick", action="store_true",
                    help=f"steps {','.join(map(str, QUICK_STEPS))} on {QUICK_SAMPLES} samples (unless given)")
    ap.add_argument("--batch-size", type=int, default=64, help="sampling batch, the one timed (default 64)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="test")
    ap.add_argument("--guidance", type=float, help="class-conditional runs: guidance weight (classes in turn)")
    ap.add_argument("--weights", default="auto", choices=("auto", "model", "ema", "best"))
    ap.add_argument("--data-dir", help="where the run's dataset files are (default: as in training)")
    ap.add_argument("--features-data-dir", help="MNIST files, for the feature network of binarized_mnist")
    ap.add_argument("--json", help="also write the result as JSON to this file")
    ap.add_argument("--csv", help="also write the rows as CSV to this file")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice; stated in the output)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        from genzoo.run import load_run

        steps = _ints(args.steps) if args.steps else list(QUICK_STEPS if args.quick else STEPS)
        if any(s < 1 for s in steps):
            raise GenzooError(f"bad value {args.steps!r} for --steps: every count must be >= 1")
        samples = args.samples or (QUICK_SAMPLES if args.quick else 2000)
        loaded = load_run(args.run, weights=args.weights)
        if args.data_dir:
            loaded.config.data_dir = args.data_dir
        samplers = [s.strip() for s in args.samplers.split(",") if s.strip()] if args.samplers else None
        result = steps_table(loaded, samplers=samplers, steps=steps, samples=samples, batch_size=args.batch_size,
                             seed=args.seed, split=args.split, guidance=args.guidance,
                             features_root=args.features_data_dir, progress=not args.no_progress)
    except GenzooError as e:
        print(f"diffusion_steps: error: {e}", file=sys.stderr)
        return 2
    print(markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if args.csv:
        write_csv(result, Path(args.csv))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Compare models on the same data and budget: train every entry of a suite, evaluate
all with the same metrics and sample counts, write tables and a report.

  genzoo bench quick                   # every family on the built-in digits (CPU, ~10 min)
  genzoo bench mnist --data-dir ../shared/data/binarized_mnist --features-data-dir ../shared/data/mnist
  genzoo bench my-suite.yaml --models made,vae --scale 0.1

  genzoo bench fidelity --only made-1mask    # one row of the published-numbers suite

Shipped suites: quick, quickstart (what ``genzoo quickstart`` runs), mnist (the CPU
recipes on binarized MNIST), mnist-gpu (the GPU recipes), fidelity (published numbers
reproduced, one row per paper result; a table with published, target, ours and met).
Writes bench/<suite>/results.json, results.csv, results.md and index.html
(with one sample grid per model and the settings used) and keeps every run in runs/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train and evaluate a suite of models on the same data and budget"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("suite", help="a suite YAML file, or a shipped suite: quick, quickstart, mnist, mnist-gpu, fidelity")
    p.add_argument("--out", help="output folder (default bench/<suite>, or bench/<suite>-N if that exists)")
    p.add_argument("--models", "--only", dest="models", help="only these entries (labels, comma-separated)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every entry's steps (e.g. 0.1 for a smoke run)")
    p.add_argument("--seeds", type=int, help="fidelity rows measured over several seeds (modes): use at most this many")
    p.add_argument("--data-dir", help="where the suite's dataset files are (a fidelity suite: the folder holding "
                                      "each row's data folder, default its data_root)")
    p.add_argument("--features-data-dir", help="where the MNIST files are, for the feature network of binarized_mnist")
    p.add_argument("--device", help="auto, cpu, cuda, ... (default: as in the suite)")
    p.add_argument("--no-progress", action="store_true")


def execute(args: argparse.Namespace) -> int:
    from genzoo.errors import GenzooError
    from genzoo.tasks.bench import fresh_out, load_suite, run_suite

    if args.seeds is not None and args.seeds < 1:
        raise GenzooError(f"bad value {args.seeds} for --seeds: must be >= 1")
    suite, path = load_suite(args.suite)
    out = fresh_out(args.out, Path("bench") / suite["name"])
    only = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    if suite.get("kind") == "fidelity":
        from genzoo.tasks.fidelity import run_fidelity

        run_fidelity(suite, path, out, only=only, scale=args.scale, device=args.device, data_root=args.data_dir,
                     seeds=args.seeds, progress=not args.no_progress)
        print(f"\nwrote {out}/results.json, results.csv, results.md")
        return 0
    res = run_suite(suite, path, out, only=only, scale=args.scale, device=args.device, data_dir=args.data_dir,
                    features_data_dir=args.features_data_dir, progress=not args.no_progress)
    print(f"\nwrote {out}/results.json, results.csv, results.md; report: {res['report']}")
    return 0

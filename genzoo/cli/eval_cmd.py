"""Evaluate a trained run: test NLL in nats and bits/dim (labelled exact, bound or
estimate), and sample-quality metrics in a feature space (FID, KID, an Inception-Score
analogue, precision/recall, density/coverage), mode counts, the classification
accuracy score, the test accuracy of models that classify, and the reconstruction error
of models that encode and decode (``recon``). Every number is printed with the settings it depends on (sample counts,
features, k). Default: ``nll`` for models with a likelihood, else the sample metrics
that suit the data."""

from __future__ import annotations

import argparse
import json

from genzoo.cli.runargs import add_run_arguments, load_run_from_args

HELP = "evaluate a trained run (NLL, FID, KID, IS, PRDC, modes, CAS, reconstruction)"
# as genzoo.evaluate.metrics.METRICS (tested), named here so that --help imports no torch
METRICS = ("nll", "fid", "kid", "is", "prdc", "modes", "cas", "accuracy", "recon")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--split", default="test", help="test (default), valid or train")
    p.add_argument("--metrics", help=f"comma-separated, from: {', '.join(METRICS)} "
                   "(default: nll, or for implicit models the sample metrics)")
    p.add_argument("--samples", type=int, help="samples for the sample metrics (default: the split's size, at most 10,000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
    p.add_argument("--k", type=int, help="importance samples for models whose likelihood is a bound")
    p.add_argument("--ensemble", type=int,
                   help="for mask ensembles (made): average the probabilities of this many masks")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--features-data-dir",
                   help="where the MNIST files are, for the feature network of binarized_mnist and stacked_mnist")
    add_run_arguments(p)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print JSON")


def execute(args: argparse.Namespace) -> int:
    from genzoo.tasks.evaluation import evaluate_run, summary_lines
    from genzoo.train.distributed import resolve_device

    loaded = load_run_from_args(args.run, args, device=str(resolve_device(args.device)))
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    out = evaluate_run(loaded, metrics=metrics, split=args.split, samples=args.samples, seed=args.seed, k=args.k,
                       ensemble=args.ensemble, batch_size=args.batch_size, features_root=args.features_data_dir,
                       progress=not args.json)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{loaded.config.model} on {loaded.config.data} [{args.split}, {loaded.weights} weights]")
    for line in summary_lines(out):
        print("  " + line)
    return 0

"""The main job: four families on the built-in digits, side by side, on the CPU.

Runs the shipped suite ``quickstart`` (genzoo/suites/quickstart.yaml, the same as
``genzoo bench quickstart``): trains gmm (mixture), made (autoregressive), vae (latent
variable) and dcgan (adversarial) on scikit-learn's 8x8 digits, each with its recipe of
recipes/<model>-digits.yaml; prints a comparison table (test NLL in nats and bits/dim
where the model has one, train time, sampling speed) and writes OUT/report.html with each
model's samples beside real digits and the loss curves, the samples as
OUT/samples-<model>.png and every run under OUT/runs/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "train four model families on the built-in digits and write a report"
SUITE = "quickstart"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="output directory (default: ./quickstart, or quickstart-N if that exists)")
    p.add_argument("--models", help="comma-separated subset of gmm, made, vae, dcgan (default: all four)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every recipe's steps (e.g. 0.1 for a smoke run)")
    p.add_argument("--seed", type=int, default=0, help="seed of training and sampling (default 0)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")


def execute(args: argparse.Namespace) -> int:
    from genzoo.tasks.bench import fresh_out, load_suite, run_suite

    suite, path = load_suite(SUITE)
    out = fresh_out(args.out, Path("quickstart"))
    only = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    res = run_suite(suite, path, out, only=only, scale=args.scale, device=args.device, seed=args.seed,
                    progress=not args.no_progress)
    print(f"\nreport: {res['report']}")
    return 0

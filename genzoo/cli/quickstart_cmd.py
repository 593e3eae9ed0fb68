"""The main job: four families on the built-in digits, side by side, on the CPU.

Trains gmm (mixture), made (autoregressive), vae (latent variable) and dcgan
(adversarial) on scikit-learn's 8x8 digits, prints a comparison table (test NLL in
nats and bits/dim where the model has one, train time, sampling speed) and writes
OUT/report.html with each model's samples beside real digits and the loss curves.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

HELP = "train four model families on the built-in digits and write a report"

# The recipes; each also lives in recipes/<model>-digits.yaml for `genzoo train --config`.
RECIPES: dict[str, dict[str, Any]] = {
    "gmm": {"model": {"components": 10, "covariance": "full"},
            "train": {"steps": 60, "batch_size": 0, "log_every": 5}},
    # 1,438 training digits are few for a 512x512 MADE; order-agnostic training over 8
    # masks acts as a regularizer (Germain et al. 2015, sec. 4).
    "made": {"model": {"hidden": [512, 512], "order_agnostic": True, "num_masks": 8},
             "train": {"steps": 3000, "batch_size": 64, "lr": 1e-3, "schedule": "cosine", "log_every": 50}},
    "vae": {"model": {"latent_dim": 16},
            "train": {"steps": 3000, "batch_size": 64, "lr": 1e-3, "schedule": "cosine", "log_every": 50}},
    "dcgan": {"model": {},
              "train": {"steps": 3000, "batch_size": 64, "log_every": 50, "ema": 0.999}},
}
FAMILY = {"gmm": "mixture", "made": "autoregressive", "vae": "latent variable", "dcgan": "adversarial"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", help="output directory (default: ./quickstart, or quickstart-N if that exists)")
    p.add_argument("--models", default="gmm,made,vae,dcgan", help="comma-separated subset")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every recipe's steps (e.g. 0.1 for a smoke run)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    import torch

    from genzoo import run as runs
    from genzoo.errors import GenzooError
    from genzoo.evaluate.likelihood import evaluate_nll
    from genzoo.report.html import loss_curves, write_report
    from genzoo.report.render import save_samples
    from genzoo.report.tables import format_table
    from genzoo.train.logging import read_metrics
    from genzoo.train.trainer import Trainer

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in RECIPES:
            raise GenzooError(f"unknown quickstart model {m!r}; choose from {', '.join(RECIPES)}")
    if args.scale <= 0:
        raise GenzooError(f"bad value {args.scale} for --scale: must be > 0")
    if args.out is None:
        out, i = Path("quickstart"), 2
        while out.exists():
            out, i = Path(f"quickstart-{i}"), i + 1
    else:
        out = Path(args.out)
        if out.exists() and any(out.iterdir()):
            raise GenzooError(f"{out} exists and is not empty; choose another --out (nothing was overwritten)")
    rows, curves, figures = [], {}, []
    data = None
    for name in models:
        rec = {k: dict(v) for k, v in RECIPES[name].items()}
        rec["train"]["steps"] = max(1, int(rec["train"]["steps"] * args.scale))
        rec["train"]["checkpoint_every"] = 0
        spec = runs.resolve(name, "digits", recipe=rec, train_flags={"seed": args.seed, "device": args.device})
        data = data or runs.load_data(spec)
        torch.manual_seed(spec.train.seed)
        model = runs.build(spec, data.spec)
        run_dir = out / "runs" / name
        runs.write_config(run_dir, spec, data.spec)
        print(f"[{name}] training {spec.train.steps} steps ...", flush=True)
        res = Trainer(model, data, spec.train, run_dir=run_dir, progress=not args.no_progress).fit()
        loaded = runs.load_run(run_dir)  # evaluate what was saved, as a user would
        m = loaded.model
        row: dict[str, Any] = {"model": name, "family": FAMILY[name], "train s": res["seconds"]}
        if m.likelihood is not None:
            ev = evaluate_nll(m, data.fixed("test").x)
            row.update({"test NLL (nats)": ev["nll_nats"], "bits/dim": ev["bits_per_dim"], "likelihood": ev["note"]})
        else:
            row.update({"test NLL (nats)": float("nan"), "bits/dim": float("nan"), "likelihood": "none (implicit)"})
        g = torch.Generator().manual_seed(args.seed)
        t0 = time.perf_counter()
        with torch.no_grad():
            x = m.sample(256, generator=g)
        row["samples/s"] = 256 / (time.perf_counter() - t0)
        rows.append(row)
        figures.append((f"{name} samples", save_samples(x[:64], data.spec, out / f"samples-{name}.png")))
        curves[name] = read_metrics(run_dir)
        print(f"[{name}] {res['seconds']:.1f}s; test NLL "
              + (f"{row['test NLL (nats)']:.2f} nats ({row['likelihood']})" if m.likelihood else "n/a"), flush=True)
    real = save_samples(data.test.x[:64], data.spec, out / "samples-real.png")
    figures.insert(0, ("real test digits", real))
    figures.append(("loss curves", loss_curves(curves, out / "loss-curves.png")))
    cols = ["model", "family", "test NLL (nats)", "bits/dim", "likelihood", "train s", "samples/s"]
    print()
    print(format_table(rows, cols))
    report = write_report(
        out / "report.html", title="genzoo quickstart: four families on 8x8 digits",
        intro=(f"Trained on {len(data.train)} digits (8x8, 17 grey levels, categorical), evaluated on "
               f"{len(data.test)} held-out digits, CPU, seed {args.seed}. NLL is -log P(x) of the discrete "
               "image; a bound is an upper bound on the NLL."),
        columns=cols, rows=rows, figures=figures,
        notes=["gmm models dequantized pixels; its NLL is the dequantization bound.",
               "dcgan has no likelihood: judge it by its samples."])
    print(f"\nreport: {report}")
    return 0


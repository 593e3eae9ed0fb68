"""Evaluate a trained run: negative log-likelihood in nats and bits/dim, and its kind."""

from __future__ import annotations

import argparse
import inspect
import json

HELP = "evaluate a trained run (test NLL)"
METRICS = ("nll",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--split", default="test", help="test (default), valid or train")
    p.add_argument("--metrics", default="nll", help=f"comma-separated, from: {', '.join(METRICS)}")
    p.add_argument("--k", type=int, help="importance samples for models whose likelihood is a bound")
    p.add_argument("--ensemble", type=int,
                   help="for mask ensembles (made): average the probabilities of this many masks")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--data-dir", help="where the dataset files are (default: as in training)")
    p.add_argument("--weights", choices=["auto", "model", "ema"], default="auto")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from genzoo.errors import GenzooError
    from genzoo.evaluate.likelihood import evaluate_nll
    from genzoo.run import load_data, load_run
    from genzoo.train.distributed import resolve_device

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    for m in metrics:
        if m not in METRICS:
            raise GenzooError(f"unknown metric {m!r}; available: {', '.join(METRICS)}")
    loaded = load_run(args.run, weights=args.weights, device=str(resolve_device(args.device)))
    if args.data_dir:
        loaded.run.data_dir = args.data_dir
    model = loaded.model
    if model.likelihood is None:
        raise GenzooError(f"model {model.name!r} has no likelihood, so no NLL (it is an implicit model)")
    kwargs = {}
    if args.k is not None:
        if "k" not in inspect.signature(model.log_prob).parameters:
            raise GenzooError(f"--k is for models whose likelihood is an importance-weighted bound; "
                              f"{model.name!r} has an {model.likelihood} likelihood")
        if args.k < 1:
            raise GenzooError(f"bad value {args.k} for --k: must be >= 1")
        kwargs["k"] = args.k
    if args.ensemble is not None:
        if "ensemble" not in inspect.signature(model.log_prob).parameters:
            raise GenzooError(f"--ensemble is for models with mask ensembles (made); {model.name!r} has none")
        kwargs["ensemble"] = args.ensemble
    data = load_data(loaded.run, download=False)
    split = data.fixed(args.split)
    res = evaluate_nll(model, split.x, batch_size=args.batch_size, progress=not args.json, **kwargs)
    out = {"run": str(loaded.path), "model": loaded.run.model, "data": loaded.run.data, "split": args.split,
           "weights": loaded.weights, **res}
    if loaded.spec.value_type == "count":
        # bits per vocabulary entry means nothing for bags of words; per-word perplexity does
        out.pop("bits_per_dim")
        if hasattr(model, "perplexity"):
            out["perplexity"] = model.perplexity(split.x.to(model.device))
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{loaded.run.model} on {loaded.run.data} [{args.split}, {res['n']} examples, {loaded.weights} weights]")
        if "bits_per_dim" in out:
            print(f"  NLL {res['nll_nats']:.3f} nats   {res['bits_per_dim']:.4f} bits/dim   ({res['note']})")
        else:
            print(f"  NLL {res['nll_nats']:.3f} nats per document   ({res['note']})")
        if "perplexity" in out:
            print(f"  held-out perplexity {out['perplexity']:.2f} per word")
    return 0

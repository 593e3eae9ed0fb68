"""Evaluate a trained run: test NLL in nats and bits/dim (labelled exact, bound or
estimate), and sample-quality metrics in a feature space (FID, KID, an Inception-Score
analogue, precision/recall, density/coverage), mode counts, the classification
accuracy score, and the test accuracy of models that classify. Every number is printed with the settings it depends on (sample counts,
features, k). Default: ``nll`` for models with a likelihood, else the sample metrics
that suit the data."""

from __future__ import annotations

import argparse
import inspect
import json

from genzoo.cli.runargs import add_run_arguments, load_run_from_args

HELP = "evaluate a trained run (NLL, FID, KID, IS, PRDC, modes, CAS)"
# as genzoo.evaluate.metrics.METRICS (tested), named here so that --help imports no torch
METRICS = ("nll", "fid", "kid", "is", "prdc", "modes", "cas", "accuracy")


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


def default_metrics(model, spec) -> list[str]:
    """nll where there is a likelihood; else what suits the data (and the model's own
    classifier's accuracy, if it has one)."""
    if model.likelihood is not None:
        return ["nll"]
    if model.has("classify"):
        return ["accuracy", "fid", "kid", "prdc"] if spec.kind == "image" else ["accuracy"]
    if spec.kind == "image":
        return ["fid", "kid", "prdc", "is"] if spec.num_classes else ["fid", "kid", "prdc"]
    if "modes" in spec.extra:
        return ["modes", "fid", "prdc"]
    from genzoo.errors import GenzooError

    raise GenzooError(f"model {model.name!r} has no likelihood and {spec.name!r} ({spec.describe}) has no "
                      "sample-quality metric; nothing to evaluate")


def execute(args: argparse.Namespace) -> int:
    from genzoo.errors import GenzooError
    from genzoo.evaluate.metrics import evaluate
    from genzoo.run import load_data
    from genzoo.train.distributed import resolve_device

    loaded = load_run_from_args(args.run, args, device=str(resolve_device(args.device)))
    model = loaded.model
    metrics = ([m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics
               else default_metrics(model, loaded.spec))
    if "nll" in metrics and model.likelihood is None:
        raise GenzooError(f"model {model.name!r} has no likelihood, so no NLL (it is an implicit model); "
                          "try --metrics fid,kid,prdc")
    if args.samples is not None and args.samples < 10:
        raise GenzooError(f"bad value {args.samples} for --samples: must be >= 10")
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
    data = load_data(loaded.config, download=False)
    res = evaluate(model, data, metrics, name=loaded.config.data, split=args.split, samples=args.samples,
                   seed=args.seed, root=loaded.config.data_dir, features_root=args.features_data_dir,
                   nll_kwargs=kwargs, batch_size=args.batch_size, progress=not args.json)
    out = {"run": str(loaded.path), "model": loaded.config.model, "data": loaded.config.data, "split": args.split,
           "weights": loaded.weights}
    if "nll" in res:
        nll = res.pop("nll")
        if loaded.spec.value_type == "count":
            # bits per vocabulary entry means nothing for bags of words; per-word perplexity does
            nll.pop("bits_per_dim")
            if hasattr(model, "perplexity"):
                nll["perplexity"] = model.perplexity(data.fixed(args.split).x.to(model.device))
        out.update(nll)  # the NLL's keys at the top level, as before
    out.update(res)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{loaded.config.model} on {loaded.config.data} [{args.split}, {loaded.weights} weights]")
    for line in summary_lines(out):
        print("  " + line)
    return 0


def summary_lines(out: dict) -> list[str]:
    """One line per metric, with its settings."""
    lines = []
    if "nll_nats" in out:
        if "bits_per_dim" in out:
            lines.append(f"NLL {out['nll_nats']:.3f} nats   {out['bits_per_dim']:.4f} bits/dim   "
                         f"({out['note']}; {out['n']} examples)")
        else:
            lines.append(f"NLL {out['nll_nats']:.3f} nats per document   ({out['note']}; {out['n']} examples)")
        if "perplexity" in out:
            lines.append(f"held-out perplexity {out['perplexity']:.2f} per word")
    counts = None
    for key in ("fid", "kid", "is", "prdc"):
        if key in out:
            r = out[key]
            counts = f"{r['samples']} samples vs {r['real']} {r['real_split']} examples, {r['features']}"
    if "fid" in out:
        lines.append(f"FID {out['fid']['value']:.3f}")
    if "kid" in out:
        r = out["kid"]
        lines.append(f"KID {r['value']:.5f} +/- {r['std']:.5f}   ({r['subsets']} subsets of {r['subset_size']})")
    if "is" in out:
        r = out["is"]
        lines.append(f"IS analogue {r['value']:.3f} +/- {r['std']:.3f}   (real data: {r['real_data_value']:.3f}; "
                     f"{r['splits']} splits)")
    if "prdc" in out:
        r = out["prdc"]
        lines.append(f"precision {r['precision']:.3f}  recall {r['recall']:.3f}  (k={r['k_pr']})   "
                     f"density {r['density']:.3f}  coverage {r['coverage']:.3f}  (k={r['k_dc']})")
    if counts:
        lines.append(f"  [{counts}]")
    if "modes" in out:
        r = out["modes"]
        if "high_quality" in r:
            lines.append(f"modes {r['modes_covered']}/{r['modes_total']}   high quality {r['high_quality']:.1%}   "
                         f"reverse KL {r['reverse_kl']:.3f}   ({r['samples']} samples, {r['rule']})")
        else:
            lines.append(f"modes {r['modes_covered']}/{r['modes_total']}   KL to uniform {r['kl_to_uniform']:.3f}   "
                         f"({r['samples']} samples)")
    if "accuracy" in out:
        r = out["accuracy"]
        lines.append(f"classifier: test accuracy {r['accuracy']:.2%} ({r['errors']} errors of {r['examples']})")
    if "cas" in out:
        r = out["cas"]
        lines.append(f"CAS {r['accuracy']:.2%} (classifier trained on {r['train_examples']} samples; the same "
                     f"classifier on as many real examples: {r['real_data_accuracy']:.2%})")
    return lines

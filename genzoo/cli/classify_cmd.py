"""Classify with generative models by Bayes' rule.

  genzoo classify RUN                       # a class-conditional run (cvae, pixelcnn conditional=true)
  genzoo classify made --data digits --labels 5,20,all --steps 500
  genzoo classify pixelcnn --data digits --conditional --labels 10,all
  genzoo classify RUN --reject                                    # with a reject option
  genzoo classify made --data digits --labels all --steps 500 --reject

With a run directory: the test accuracy of p(y|x) from its class-conditional likelihood,
and a confusion-matrix picture. With a model name: a learning curve. For each number of
labelled examples per class, genzoo trains one model per class (or one conditional
model with ``--conditional``) and a discriminative MLP of about the same size on the
same labels, and writes results.json, results.md and learning_curve.png into ``--out``.

``--reject`` adds the reject option (genzoo.tasks.reject): inputs atypical under every
class model are rejected instead of labelled. On test examples mixed with the outlier
sets of ``genzoo outliers`` it reports, over a range of thresholds, the accuracy on the
accepted test examples and the share of test examples and of outliers rejected, and
writes reject.json and reject.png. With a model name it trains one classifier first, on
one ``--labels`` count (default all) less the ``--holdout`` share kept to measure what is
typical; a run directory's models are measured on training examples.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genzoo.cli.runargs import add_run_arguments, load_run_from_args

HELP = "classify by Bayes' rule with class-conditional likelihoods; learning curves"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="a run directory, or a model name to train per class")
    p.add_argument("--data", default="digits", help="dataset for a model name (default: digits)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="model, train.* or data.* settings for the trained models")
    p.add_argument("--config", help="a recipe YAML file for the trained models")
    p.add_argument("--labels", default=None,
                   help="labelled examples per class, comma-separated ('all': every one); default 10,50,all "
                        "(with --reject: one count, default all)")
    p.add_argument("--conditional", action="store_true", help="one class-conditional model instead of one per class")
    p.add_argument("--steps", type=int, help="training steps of each generative model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default classify/<model>-<data>)")
    p.add_argument("--split", default="test")
    add_run_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--reject", action="store_true",
                   help="reject inputs atypical under every class model; curve over the threshold")
    p.add_argument("--reject-rate", type=float, default=0.05,
                   help="with --reject: the operating point rejects this share of training examples (default 0.05)")
    p.add_argument("--holdout", type=float, default=0.1,
                   help="with --reject and a model name: share of the labelled examples held out from training "
                        "to measure what is typical (default 0.1)")
    p.add_argument("--count", type=int, default=1000,
                   help="with --reject: test examples, and outliers per set (default 1000)")
    p.add_argument("--sets", default="noise,noisy,inverted,shifted,glyphs",
                   help="with --reject: outlier sets, comma-separated")


def parse_label_counts(text: str) -> list[int | None]:
    from genzoo.errors import GenzooError

    out: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        if part == "all":
            out.append(None)
            continue
        try:
            n = int(part)
        except ValueError:
            raise GenzooError(f"bad value {part!r} in --labels: numbers of labels per class, or 'all'") from None
        if n < 1:
            raise GenzooError(f"bad value {n} in --labels: must be >= 1")
        out.append(n)
    return out


def execute(args: argparse.Namespace) -> int:
    if Path(args.target).is_dir():
        return _classify_run(args)
    if args.reject:
        return _reject_trained(args)
    return _learning_curve(args)


def _classify_run(args: argparse.Namespace) -> int:
    from genzoo.tasks.classify import classify_run, run_classifier

    loaded = load_run_from_args(args.target, args)
    out = Path(args.out) if args.out else loaded.path / "classify"
    if args.reject:
        _check_reject(args)
        data, clf = run_classifier(loaded)
        return _reject(args, clf, data, out, f"{loaded.config.model} on {loaded.config.data}",
                       loaded.model.likelihood_note(y=data.test.y[:1]))
    res = classify_run(loaded, args.split, out)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"{loaded.config.model} on {loaded.config.data}: Bayes-rule test accuracy {res['accuracy']:.2%} "
              f"({res['examples']} examples; p(x|y): {res['likelihood']})")
        print(f"wrote {out / 'confusion.png'} and {out / 'results.json'}")
    return 0


def _reject_trained(args: argparse.Namespace) -> int:
    import dataclasses

    from genzoo import run as runs
    from genzoo.config import split_overrides
    from genzoo.errors import GenzooError
    from genzoo.tasks.classify import labelled_subset, train_generative_classifier
    from genzoo.tasks.reject import split_off_reference

    _check_reject(args)
    sizes = parse_label_counts(args.labels or "all")
    if len(sizes) != 1:
        raise GenzooError("--reject trains one classifier: give one --labels count (or 'all')")
    run_config = runs.resolve(args.target, args.data, recipe=args.config, overrides=split_overrides(args.set),
                        train_flags={"steps": args.steps, "seed": args.seed}, data_dir=args.data_dir)
    data = runs.load_data(run_config)
    K = int(data.spec.num_classes or 0)
    if not K or data.train.y is None:
        raise GenzooError(f"{run_config.data!r} has no labels to classify")
    labelled, reference = split_off_reference(labelled_subset(data.train, sizes[0], K, seed=args.seed),
                                              args.holdout, seed=args.seed)
    clf = train_generative_classifier(run_config.model, data, labelled, config=dataclasses.asdict(run_config.model_config),
                                      train=run_config.train, conditional=args.conditional,
                                      progress=not args.no_progress)
    out = Path(args.out) if args.out else Path("classify") / f"{run_config.model}-{run_config.data}-reject"
    kind = "one conditional model" if args.conditional else "one model per class"
    return _reject(args, clf, data, out, f"{run_config.model} ({kind}, {len(labelled)} labels) on {run_config.data}",
                   clf.models[0].likelihood_note() if isinstance(clf.models, list) else clf.models.likelihood_note(),
                   reference)


def _sets(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(s.strip() for s in args.sets.split(",") if s.strip())


def _check_reject(args: argparse.Namespace) -> None:
    from genzoo.tasks.reject import check_options

    check_options(count=args.count, sets=_sets(args), reject_rate=args.reject_rate)


def _reject(args: argparse.Namespace, clf, data, out: Path, what: str, note: str, reference=None) -> int:
    from genzoo.report.plots import reject_curve_png
    from genzoo.tasks.reject import classify_with_reject

    res = classify_with_reject(clf, data, count=args.count, sets=_sets(args), reject_rate=args.reject_rate,
                               seed=args.seed, reference=reference)
    out.mkdir(parents=True, exist_ok=True)
    res.update(what=what, likelihood=note)
    (out / "reject.json").write_text(json.dumps(res, indent=2))
    op = res["operating_point"]
    reject_curve_png(res["curve"], out / "reject.png", title=f"{what}: classify or reject",
                     operating=op["threshold"])
    if args.json:
        print(json.dumps({k: v for k, v in res.items() if k != "curve"}, indent=2))
        return 0

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    print(f"{what}: {res['count']} test examples and {res['count']} outliers per set "
          f"({', '.join(res['sets'])}); p(x|y): {note}")
    print(f"  without rejection: accuracy {res['accuracy_without_reject']:.2%}")
    print(f"  threshold {op['threshold']:.3g} (rejects {args.reject_rate:.0%} of the {res['reference']}): "
          f"accuracy on accepted {pct(op['accuracy_accepted'])}, test examples rejected "
          f"{pct(op['clean_rejected'])}, outliers rejected {pct(op['outliers_rejected'])} ("
          + ", ".join(f"{k} {pct(v)}" for k, v in op["rejected"].items()) + ")")
    print(f"wrote {out / 'reject.json'} and {out / 'reject.png'}")
    return 0


def _learning_curve(args: argparse.Namespace) -> int:
    import dataclasses

    from genzoo import run as runs
    from genzoo.config import split_overrides
    from genzoo.report.plots import learning_curve_png
    from genzoo.tasks.classify import learning_curve

    sizes = parse_label_counts(args.labels or "10,50,all")
    run_config = runs.resolve(args.target, args.data, recipe=args.config, overrides=split_overrides(args.set),
                        train_flags={"steps": args.steps, "seed": args.seed}, data_dir=args.data_dir)
    data = runs.load_data(run_config)
    config = dataclasses.asdict(run_config.model_config)
    rows = learning_curve(run_config.model, data, sizes, config=config, train=run_config.train, conditional=args.conditional,
                          seed=args.seed, progress=not args.no_progress)
    out = Path(args.out) if args.out else Path("classify") / f"{run_config.model}-{run_config.data}"
    out.mkdir(parents=True, exist_ok=True)
    kind = "one conditional model" if args.conditional else "one model per class"
    res = {"model": run_config.model, "data": run_config.data, "generative": kind, "steps": run_config.train.steps,
           "discriminative": "MLP (2 hidden layers, ReLU, dropout 0.2, AdamW, 2,000 steps)", "rows": rows}
    (out / "results.json").write_text(json.dumps(res, indent=2))
    lines = [f"# {run_config.model} ({kind}, {run_config.train.steps} steps each) vs an MLP of similar size, {run_config.data}", "",
             "| labels per class | labelled | generative acc | discriminative acc | gen. params | disc. params |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['labels_per_class']} | {r['labelled']} | {r['generative_accuracy']:.2%} | "
                     f"{r['discriminative_accuracy']:.2%} | {r['generative_parameters']:,} | "
                     f"{r['discriminative_parameters']:,} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    learning_curve_png(rows, out / "learning_curve.png", title=f"{run_config.model} ({kind}) vs MLP on {run_config.data}")
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print("\n".join(lines[2:]))
        print(f"wrote {out}/results.json, results.md, learning_curve.png")
    return 0

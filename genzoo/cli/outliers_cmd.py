"""Detect outliers with a trained likelihood model.

  genzoo outliers runs/pixelcnn-mnist --count 1000
  genzoo outliers runs/made-digits --scores likelihood,typicality --sets noise,inverted

Scores the run's test images and outliers made from them (uniform noise, noisy images,
inverted images, shifted images, letters and signs from a font) by negative
log-likelihood, by typicality (distance of the NLL from the training entropy) and by a
likelihood ratio against a per-pixel background model; prints the AUROC of every
(outlier set, score) and writes results.json, roc.png and scores.png into ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genzoo.cli.runargs import add_run_arguments, load_run_from_args

HELP = "score outliers by likelihood, typicality and likelihood ratio (AUROC)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory of a model with a likelihood")
    p.add_argument("--count", type=int, default=1000, help="test images and outliers per set (default 1000)")
    p.add_argument("--sets", default="noise,noisy,inverted,shifted,glyphs", help="outlier sets, comma-separated")
    p.add_argument("--scores", default="likelihood,typicality,ratio", help="scores, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default RUN/outliers)")
    add_run_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON")


def execute(args: argparse.Namespace) -> int:
    from genzoo.errors import GenzooError
    from genzoo.report.plots import roc_png, score_histograms_png
    from genzoo.run import load_data
    from genzoo.tasks.outliers import detect, roc_curve

    if args.count < 2:
        raise GenzooError(f"bad value {args.count} for --count: must be >= 2")
    loaded = load_run_from_args(args.run, args)
    data = load_data(loaded.config, download=False)
    sets = tuple(s.strip() for s in args.sets.split(",") if s.strip())
    scores = tuple(s.strip() for s in args.scores.split(",") if s.strip())
    res = detect(loaded.model, data, count=args.count, sets=sets, scores=scores, seed=args.seed)
    out = Path(args.out) if args.out else loaded.path / "outliers"
    out.mkdir(parents=True, exist_ok=True)
    inl = res["scores"]["inliers"]
    panels = {name: {s: (*roc_curve(inl[name], res["scores"][s][name]), res["auroc"][s][name]) for s in sets}
              for name in scores}
    roc_png(panels, out / "roc.png", title=f"{loaded.config.model} on {loaded.config.data}: test images vs outliers")
    score_histograms_png({k: v["likelihood"] if "likelihood" in v else next(iter(v.values()))
                          for k, v in res["scores"].items()}, out / "scores.png",
                         title=f"{loaded.config.model}: scores of test images and outliers",
                         xlabel=scores[0] if "likelihood" not in scores else "negative log-likelihood (nats)")
    summary = {k: v for k, v in res.items() if k != "scores"}
    summary.update(run=str(loaded.path), model=loaded.config.model, data=loaded.config.data)
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{loaded.config.model} on {loaded.config.data}: AUROC, {res['count']} test images vs {res['count']} outliers "
          f"per set (likelihood: {res['likelihood']}; training entropy estimate {res['typical_nll']:.2f} nats)")
    print(f"  {'outliers':<10}" + "".join(f"{s:>12}" for s in scores))
    for s in sets:
        print(f"  {s:<10}" + "".join(f"{res['auroc'][s][name]:>12.3f}" for name in scores))
    print(f"wrote {out}/results.json, roc.png, scores.png")
    return 0

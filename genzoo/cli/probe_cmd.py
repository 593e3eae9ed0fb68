"""Linear probe on a model's learned codes (feature learning).

  genzoo probe runs/vae-mnist
  genzoo probe runs/rbm-digits --labels 5,20,all

Encodes the training and test images with the run's encoder (vae, ae, aae, bigan,
realnvp, glow, rbm), fits a logistic regression on the codes of ``--labels`` labelled examples per
class and reports its test accuracy beside the same probe on the raw pixels. Writes
results.json, results.md and probe.png (accuracy against labels) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genzoo.cli.runargs import add_run_arguments, load_run_from_args

HELP = "linear probe on learned codes: test accuracy vs labels, against raw pixels"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory of a model with an encoder")
    p.add_argument("--labels", default="10,100,all",
                   help="labelled examples per class, comma-separated ('all': every one); default 10,100,all")
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the logistic regression (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="test")
    p.add_argument("--out", help="output folder (default RUN/probe)")
    add_run_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON")


def execute(args: argparse.Namespace) -> int:
    from genzoo.cli.classify_cmd import parse_label_counts
    from genzoo.errors import GenzooError
    from genzoo.report.plots import learning_curve_png
    from genzoo.run import load_data
    from genzoo.tasks.probe import probe

    if args.C <= 0:
        raise GenzooError(f"bad value {args.C} for --C: must be > 0")
    sizes = parse_label_counts(args.labels)
    loaded = load_run_from_args(args.run, args)
    data = load_data(loaded.config, download=False)
    res = probe(loaded.model, data, sizes=sizes, split=args.split, C=args.C, seed=args.seed)
    res.update(run=str(loaded.path), model=loaded.config.model, data=loaded.config.data)
    out = Path(args.out) if args.out else loaded.path / "probe"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2))
    lines = [f"# Linear probe: {loaded.config.model} codes ({res['code_dim']}-d) vs pixels ({res['pixel_dim']}-d), "
             f"{loaded.config.data}, {res['test']} {args.split} examples", "",
             "| labels per class | labelled | codes | pixels |", "|---:|---:|---:|---:|"]
    for r in res["rows"]:
        lines.append(f"| {r['per_class']} | {r['labelled']} | {r['code_accuracy']:.2%} | {r['pixel_accuracy']:.2%} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    learning_curve_png(res["rows"], out / "probe.png", title=f"linear probe: {loaded.config.model} codes vs pixels",
                       series={"code_accuracy": f"{loaded.config.model} codes", "pixel_accuracy": "raw pixels"})
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print("\n".join([lines[0][2:]] + lines[2:]))
    print(f"wrote {out}/results.json, results.md, probe.png")
    return 0

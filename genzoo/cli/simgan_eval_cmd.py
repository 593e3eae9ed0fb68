"""Train a digit classifier on rendered digits, raw and refined by a simgan run; test on MNIST.

  genzoo simgan-eval runs/simgan --data-dir ../shared/data/mnist --real
  genzoo simgan-eval runs/simgan --steps 300 --count 2000 --json
  genzoo simgan-eval runs/simgan --steps 400 --seeds 0,1,2,3,4

The same small CNN (the feature network behind FID and CAS, same seed and steps) is
trained (a) on the run's rendered training digits, (b) on the same digits through the
refiner and, with ``--real``, (c) on as many real MNIST digits (the ceiling); each is
tested on the MNIST test set. Prints the accuracies, how many refined digits the raw-digit
classifier still reads as their label (label drift) and writes ``grid.png`` (rendered
rows above refined rows) and ``results.json`` to ``RUN/simgan-eval`` (or ``--out``). With ``--seeds`` each
classifier is trained once per seed and the means, the spread and the paired refined - raw
differences are printed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genzoo.cli.runargs import add_run_arguments, load_run_from_args
from genzoo.errors import GenzooError

HELP = "SimGAN's use: MNIST accuracy of a classifier trained on raw vs refined rendered digits"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="a simgan run trained on glyph_mnist")
    p.add_argument("--steps", type=int, default=600, help="training steps of each classifier (default 600, "
                                                          "rounded up to whole passes)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--count", type=int, help="rendered digits to train on (default: all of the run's)")
    p.add_argument("--test-count", type=int, help="MNIST test digits to score (default: all)")
    p.add_argument("--real", action="store_true", help="also train on real MNIST digits (the ceiling)")
    p.add_argument("--seed", type=int, default=0, help="picks the digits (--count, --test-count) and seeds the "
                                                       "classifiers")
    p.add_argument("--seeds", help="comma-separated classifier seeds, e.g. 0,1,2,3,4: each classifier trained once "
                                   "per seed; prints means, spread and refined - raw per seed")
    p.add_argument("--out", help="output folder (default RUN/simgan-eval)")
    add_run_arguments(p)
    p.add_argument("--json", action="store_true")


def execute(args: argparse.Namespace) -> int:
    from genzoo.tasks import simgan_eval

    seeds = None
    if args.seeds is not None:
        try:
            seeds = [int(v) for v in args.seeds.split(",")]
        except ValueError:
            raise GenzooError(f"bad value {args.seeds!r} for --seeds: give integers separated by commas") from None
    loaded = load_run_from_args(args.run, args)
    out = Path(args.out) if args.out else loaded.path / "simgan-eval"
    res = simgan_eval.simgan_eval(loaded, out, steps=args.steps, batch_size=args.batch_size, count=args.count,
                                  test_count=args.test_count, real=args.real, seed=args.seed,
                                  seeds=seeds)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print("\n".join(simgan_eval.format_results(res)))
    print(f"wrote {res['grid']} (rendered rows above refined rows) and {out / 'results.json'}")
    return 0

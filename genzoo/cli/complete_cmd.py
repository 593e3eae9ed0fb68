"""Fill in covered parts of test examples with a trained model.

Images: writes a grid whose rows are the covered input (covered part tinted red), K
completions, and the original. Sequences (text, melodies): the visible part is a prompt
the model continues (``--cover end-0.5`` by default); writes a text file (or, for
music, MIDI and MusicXML files) with each prompt, its K completions and the original.
Prints how often the completions agree with the truth on the covered positions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.cli.runargs import add_run_arguments, load_run_from_args

HELP = "fill in covered parts of test images"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--cover", help="images: bottom-0.5 (default), bottom-0.75, right-0.5, top/left/center-F, or "
                   "MASK.png (white = covered, the model's image size); sequences: end-0.5 (default), start-F, center-F")
    p.add_argument("-n", type=int, default=4, help="completions per image (default 4)")
    p.add_argument("--count", type=int, default=8, help="test examples (default 8)")
    p.add_argument("--steps", type=int, help="iterations for iterative completers (pseudo-Gibbs, optimisation, chains)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="test")
    p.add_argument("--out", help="output PNG (default RUN/complete-COVER.png)")
    add_run_arguments(p)
    p.add_argument("--device", default="cpu")


def execute(args: argparse.Namespace) -> int:
    from genzoo.tasks.complete import complete_run, completion_grid, write_sequence_completions
    from genzoo.train.distributed import resolve_device

    loaded = load_run_from_args(args.run, args, device=str(resolve_device(args.device)))
    res = complete_run(loaded, cover=args.cover, samples=args.n, count=args.count, split=args.split,
                       steps=args.steps, seed=args.seed)
    if loaded.spec.kind == "sequence":
        out = write_sequence_completions(res.x, res.observed, res.completions, loaded.spec,
                                         Path(args.out) if args.out else loaded.path / f"complete-{res.tag}")
    else:
        out = Path(args.out) if args.out else loaded.path / f"complete-{res.tag}.png"
        completion_grid(res.x, res.observed, res.completions, loaded.spec, out)
    print(res.summary)
    print(f"wrote {out}")
    return 0

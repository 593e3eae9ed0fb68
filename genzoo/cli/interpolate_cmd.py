"""Interpolate in a model's latent space, or re-draw test images as other classes.

Each row of the output grid walks from one end to the other: between two encoded
test images (default) or two random prior codes (--random). With --arithmetic each
row is a test image re-drawn as every class: z(x) - mean(class of x) + mean(class c).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.cli.runargs import add_run_arguments, load_run_from_args

HELP = "interpolate between codes, or latent arithmetic on class means"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--mode", choices=["slerp", "linear"], default="slerp")
    p.add_argument("--steps", type=int, default=10, help="images per row (default 10)")
    p.add_argument("--pairs", type=int, default=6, help="rows (default 6)")
    p.add_argument("--random", action="store_true", help="between random prior codes, not test images")
    p.add_argument("--arithmetic", action="store_true", help="latent arithmetic on class means instead")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output PNG (default RUN/interpolate-MODE.png)")
    add_run_arguments(p)


def execute(args: argparse.Namespace) -> int:
    from PIL import Image

    from genzoo.report.render import image_grid
    from genzoo.tasks.interpolate import interpolate_run

    loaded = load_run_from_args(args.run, args)
    res = interpolate_run(loaded, mode=args.mode, steps=args.steps, pairs=args.pairs, random=args.random,
                          arithmetic=args.arithmetic, seed=args.seed)
    b, k = res.grid.shape[:2]
    out = Path(args.out) if args.out else loaded.path / f"interpolate-{res.tag}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(res.grid.reshape(b * k, *loaded.spec.shape), loaded.spec, ncol=k)).save(out)
    print(f"{res.what}\nwrote {out}")
    return 0

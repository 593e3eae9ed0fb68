"""Interpolate in a model's latent space, re-draw test images as other classes, or move
codes along an attribute vector.

Each row of the output grid walks from one end to the other: between the codes of two
test images (default; a GAN finds them by GAN inversion, --invert-steps) or two random
prior codes (--random). With --arithmetic each row is a test image re-drawn as every
class: z(x) - mean(class of x) + mean(class c), or for a conditional model (cvae, cgan)
its code decoded with every label. With --attribute thickness|slant each row averages the
codes of the three thinnest (least slanted) test images of a digit and adds s times the
attribute vector (mean code of thick samples - of thin ones): "thin 7 - thin + thick";
the measured attribute along the vector is printed and written beside the PNG as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genzoo.cli.runargs import add_run_arguments, load_run_from_args

HELP = "interpolate between codes, latent arithmetic on class means, attribute vectors"
ATTRIBUTES = ("thickness", "slant")  # as genzoo.data.attributes.ATTRIBUTES (tested)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--mode", choices=["slerp", "linear"], default="slerp", help="the path between two codes")
    p.add_argument("--steps", type=int, help="images per row (default 10; 9 with --attribute)")
    p.add_argument("--pairs", type=int, help="rows (default 6; with --attribute: digits 0.., default 10)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--random", action="store_true", help="between random prior codes, not test images")
    what.add_argument("--arithmetic", action="store_true", help="latent arithmetic on class means instead")
    what.add_argument("--attribute", choices=ATTRIBUTES, help="move codes along this attribute's vector instead")
    p.add_argument("--invert-steps", type=int, default=300,
                   help="GANs: Adam steps of the inversion that finds a test image's code (default 300)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output PNG (default RUN/interpolate-MODE.png)")
    add_run_arguments(p)


def execute(args: argparse.Namespace) -> int:
    from PIL import Image

    from genzoo.report.render import image_grid
    from genzoo.tasks.interpolate import interpolate_run
    from genzoo.tasks.latent_attributes import attribute_run

    loaded = load_run_from_args(args.run, args)
    if args.attribute:
        res = attribute_run(loaded, args.attribute, steps=args.steps or 9, pairs=args.pairs or 10, seed=args.seed,
                            invert_steps=args.invert_steps)
    else:
        res = interpolate_run(loaded, mode=args.mode, steps=args.steps or 10, pairs=args.pairs or 6,
                              random=args.random, arithmetic=args.arithmetic, seed=args.seed,
                              invert_steps=args.invert_steps)
    b, k = res.grid.shape[:2]
    out = Path(args.out) if args.out else loaded.path / f"interpolate-{res.tag}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(res.grid.reshape(b * k, *loaded.spec.shape), loaded.spec, ncol=k)).save(out)
    print(res.what)
    for line in res.table or []:
        print(line)
    if res.numbers is not None:
        out.with_suffix(".json").write_text(json.dumps(res.numbers, indent=2))
        print(f"wrote {out} and {out.with_suffix('.json')}")
    else:
        print(f"wrote {out}")
    return 0

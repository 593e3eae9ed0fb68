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


def run(args: argparse.Namespace) -> int:
    import torch
    from PIL import Image

    from genzoo.errors import GenzooError
    from genzoo.report.render import image_grid
    from genzoo.run import load_data
    from genzoo.tasks import interpolate as interp

    if args.pairs < 1:
        raise GenzooError("--pairs must be >= 1")
    loaded = load_run_from_args(args.run, args)
    model, spec = loaded.model, loaded.spec
    model.require("decode")
    if spec.kind != "image":
        raise GenzooError(f"interpolate draws image grids; {spec.name!r} holds {spec.kind}s")
    g = torch.Generator().manual_seed(args.seed)
    if args.arithmetic:
        if not spec.num_classes:
            raise GenzooError(f"latent arithmetic needs labelled data; {spec.name!r} has no labels")
        data = load_data(loaded.run, download=False)
        train, test = data.fixed("train"), data.fixed("test")
        means = None if model.has("conditional") else \
            interp.class_means(interp.encode(model, train.x), train.y, spec.num_classes)
        pick = torch.randperm(len(test), generator=g)[: args.pairs]
        rows = interp.analogies(model, test.x[pick], test.y[pick], means)
        grid = torch.cat([test.x[pick].unsqueeze(1), rows], dim=1)  # original, then each class
        what = f"latent arithmetic: each row is a test image, then it re-drawn as class 0..{spec.num_classes - 1}"
        tag = "arithmetic"
    else:
        d = int(getattr(model.config, "latent_dim", 0)) or None
        if args.random:
            if d is None:
                raise GenzooError(f"model {model.name!r} has no latent_dim; use test images instead of --random")
            z0, z1 = torch.randn(args.pairs, d, generator=g), torch.randn(args.pairs, d, generator=g)
            ends, labels = None, None
            if model.has("conditional"):  # one random label per row
                labels = torch.randint(0, spec.num_classes, (args.pairs,), generator=g)
        else:
            test = load_data(loaded.run, download=False).fixed("test")
            pick = torch.randperm(len(test), generator=g)[: 2 * args.pairs]
            a, b = test.x[pick[: args.pairs]], test.x[pick[args.pairs:]]
            if len(b) < len(a):
                raise GenzooError("not enough test images for that many --pairs")
            labels = None
            if model.has("conditional"):  # each row keeps the label of its first image
                labels = test.y[pick[: args.pairs]]
                z0 = interp.encode(model, a, condition=labels)
                z1 = interp.encode(model, b, condition=labels)
            else:
                z0, z1 = interp.encode(model, a), interp.encode(model, b)
            ends = (a, b)
        rows = interp.interpolation(model, z0, z1, steps=args.steps, mode=args.mode, condition=labels)
        grid = rows if ends is None else torch.cat([ends[0].unsqueeze(1), rows, ends[1].unsqueeze(1)], dim=1)
        what = (f"{args.mode} interpolation between {'random codes' if args.random else 'two test images'}"
                + ("" if args.random else " (first and last columns: the originals)"))
        tag = args.mode
    b, k = grid.shape[:2]
    out = Path(args.out) if args.out else loaded.path / f"interpolate-{tag}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(grid.reshape(b * k, *spec.shape), spec, ncol=k)).save(out)
    print(f"{what}\nwrote {out}")
    return 0

"""Plot the learned manifold of a model with a 2-D latent space.

Writes RUN/manifold-grid.png (decodings over a grid of the latent plane) and
RUN/manifold-codes.png (the encoded test set coloured by label).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.cli.runargs import add_run_arguments, load_run_from_args

HELP = "decodings over the 2-D latent plane and the encoded test set"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("--size", type=int, default=15, help="grid points per side (default 15)")
    p.add_argument("--out-dir", help="where to write (default: the run directory)")
    p.add_argument("--label", type=int, default=0, help="class to decode with, for a conditional model (default 0)")
    add_run_arguments(p)


def execute(args: argparse.Namespace) -> int:
    from PIL import Image

    from genzoo.errors import GenzooError
    from genzoo.report.render import image_grid
    from genzoo.run import load_data
    from genzoo.tasks.manifold import code_scatter, manifold_grid

    if args.size < 2:
        raise GenzooError("--size must be >= 2")
    loaded = load_run_from_args(args.run, args)
    model, spec = loaded.model, loaded.spec
    model.require("encode")
    if spec.kind != "image":
        raise GenzooError(f"the manifold grid draws images; {spec.name!r} holds {spec.kind}s")
    out = Path(args.out_dir) if args.out_dir else loaded.path
    if model.has("conditional") and not 0 <= args.label < (spec.num_classes or 0):
        raise GenzooError(f"bad value {args.label} for --label: 0 to {(spec.num_classes or 1) - 1}")
    grid = manifold_grid(model, size=args.size, label=args.label)
    out.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image_grid(grid, spec, ncol=args.size)).save(out / "manifold-grid.png")
    test = load_data(loaded.config, download=False).fixed("test")
    code_scatter(model, test.x[:5000], None if test.y is None else test.y[:5000], out / "manifold-codes.png")
    print(f"wrote {out / 'manifold-grid.png'} and {out / 'manifold-codes.png'}")
    return 0

"""Fill in covered parts of test examples with a trained model.

Images: writes a grid whose rows are the covered input (covered part tinted red), K
completions, and the original. Sequences (text, melodies): the visible part is a prompt
the model continues (``--cover end-0.5`` by default); writes a text file (or, for
music, MIDI and MusicXML files) with each prompt, its K completions and the original.
Prints how often the completions agree with the truth on the covered positions.
"""

from __future__ import annotations

import argparse
import inspect
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


def run(args: argparse.Namespace) -> int:
    from genzoo.errors import GenzooError
    from genzoo.run import load_data
    from genzoo.tasks.complete import complete_images, completion_grid, cover_mask, write_sequence_completions
    from genzoo.train.distributed import resolve_device

    if args.n < 1 or args.count < 1:
        raise GenzooError("-n and --count must be >= 1")
    loaded = load_run_from_args(args.run, args, device=str(resolve_device(args.device)))
    model, spec = loaded.model, loaded.spec
    model.require("complete")
    cover = args.cover or ("end-0.5" if spec.kind == "sequence" else "bottom-0.5")
    observed = cover_mask(cover, spec)
    data = load_data(loaded.run, download=False)
    x = data.fixed(args.split).x[: args.count]
    kwargs = {}
    if args.steps is not None:
        params = inspect.signature(model.complete).parameters
        key = next((k for k in ("steps", "complete_steps") if k in params), None)
        if key is None:
            raise GenzooError(f"model {model.name!r} completes in one pass; --steps does not apply")
        kwargs[key] = args.steps
    comps = complete_images(model, x, observed, samples=args.n, seed=args.seed, **kwargs)
    cov = ~observed
    truth = x.unsqueeze(1).expand_as(comps)[:, :, cov]
    guess = comps[:, :, cov]
    what = "positions" if spec.kind == "sequence" else "pixels"
    if spec.value_type == "continuous":
        err = f"mean squared error on covered pixels {float(((guess - truth) ** 2).mean()):.4f}"
    else:
        err = f"covered {what} equal to the original: {float((guess == truth).float().mean()):.1%}"
    tag = Path(cover).stem if cover.lower().endswith((".png", ".gif", ".jpg", ".jpeg", ".bmp")) else cover
    if spec.kind == "sequence":
        out = write_sequence_completions(x, observed, comps, spec,
                                         Path(args.out) if args.out else loaded.path / f"complete-{tag}")
    else:
        out = Path(args.out) if args.out else loaded.path / f"complete-{tag}.png"
        completion_grid(x, observed, comps, spec, out)
    print(f"{model.name}: {len(x)} examples x {args.n} completions, cover {cover} "
          f"({int(cov.sum())} of {cov.numel()} values); {err}")
    print(f"wrote {out}")
    return 0

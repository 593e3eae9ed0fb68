"""Draw samples from a trained run: a PNG grid for images, a scatter plot for 2-D data."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "draw samples from a trained run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory")
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output file (default RUN/samples/sample-seedS.png)")
    p.add_argument("--weights", choices=["auto", "model", "ema"], default="auto",
                   help="auto uses the EMA weights when the run has them")
    p.add_argument("--device", default="cpu")


def run(args: argparse.Namespace) -> int:
    import torch

    from genzoo.errors import GenzooError
    from genzoo.report.render import save_samples
    from genzoo.run import load_run
    from genzoo.train.distributed import resolve_device

    if args.n <= 0:
        raise GenzooError(f"bad value {args.n} for -n: must be > 0")
    loaded = load_run(args.run, weights=args.weights, device=str(resolve_device(args.device)))
    g = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        x = loaded.model.sample(args.n, generator=g).cpu()
    reference = None
    if loaded.spec.kind == "vector" and loaded.spec.shape == (2,):
        from genzoo.run import load_data

        reference = load_data(loaded.run, download=False).test.x[:2000]
    out = Path(args.out) if args.out else loaded.path / "samples" / f"sample-seed{args.seed}.png"
    written = save_samples(x, loaded.spec, out, title=f"{loaded.run.model} samples", reference=reference)
    print(f"wrote {args.n} samples to {written}")
    return 0

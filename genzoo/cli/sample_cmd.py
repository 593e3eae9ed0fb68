"""Draw samples from a trained run: a PNG grid for images, a scatter plot for 2-D data,
or (--gif) an animation of a Markov-chain sampler."""

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
    p.add_argument("--gif", metavar="FILE", help="for Markov-chain models: write the sampling chain as an animated GIF")
    p.add_argument("--chain-steps", type=int, default=200, help="chain length for --gif (default 200)")
    p.add_argument("--frames", type=int, default=50, help="frames in the GIF (default 50)")


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
    if args.gif:
        from genzoo.report.render import save_chain_gif

        loaded.model.require("chain")
        if loaded.spec.kind != "image":
            raise GenzooError("--gif animates image chains")
        if args.chain_steps < 1 or args.frames < 1:
            raise GenzooError("--chain-steps and --frames must be >= 1")
        every = max(1, args.chain_steps // args.frames)
        with torch.no_grad():
            frames = loaded.model.sample_chain(args.n, steps=args.chain_steps, generator=g, every=every).cpu()
        path = save_chain_gif(frames, loaded.spec, Path(args.gif))
        print(f"wrote a {len(frames)}-frame chain of {args.n} samples ({args.chain_steps} steps) to {path}")
        return 0
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

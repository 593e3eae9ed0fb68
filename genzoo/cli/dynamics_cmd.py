"""The GAN dynamics lab.

  genzoo dynamics game                     # min_x max_y x*y from (2, 2) under five update rules
  genzoo dynamics modes --seeds 3          # mode collapse on the toy ring and grid, with and without packing
  genzoo dynamics modes --losses all --packs 1,2,4 --steps 5000

``game`` plots the trajectories (game.png) and tabulates the distance to the equilibrium
at steps 0, 10, 100 and 1000. ``modes`` trains the MLP ``gan`` on the 8-mode ring and the
25-mode grid and reports modes covered, the high-quality fraction (within 3 sigma) and the
reverse KL of the mode histogram, averaged over seeds (modes.md, modes.json), with scatter
plots of the samples over training (modes-SHAPE.png). Everything goes to ``--out``
(default dynamics/).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "GAN dynamics lab: the x*y game and mode-collapse experiments"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", choices=["game", "modes", "all"], help="which experiment")
    p.add_argument("--out", default="dynamics", help="output folder (default dynamics/)")
    p.add_argument("--steps", type=int, help="game: iterations (default 1000); modes: training steps (default 3000)")
    p.add_argument("--eta", type=float, default=0.1, help="game: step size (default 0.1)")
    p.add_argument("--gamma", type=float, default=1.0, help="game: consensus weight (default 1)")
    p.add_argument("--shapes", default="ring,grid", help="modes: toy2d shapes (default ring,grid)")
    p.add_argument("--losses", default="non_saturating",
                   help="modes: GAN losses, comma-separated, or 'all' (default non_saturating)")
    p.add_argument("--packs", default="1,2", help="modes: PacGAN degrees m (default 1,2)")
    p.add_argument("--seeds", type=int, default=3, help="modes: seeds per setting (default 3)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="modes: gan settings")
    p.add_argument("--no-progress", action="store_true")


def execute(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.experiment in ("game", "all"):
        _game(args, out)
    if args.experiment in ("modes", "all"):
        _modes(args, out)
    return 0


def _game(args: argparse.Namespace, out: Path) -> None:
    from genzoo.report.plots import trajectories_png
    from genzoo.tasks.dynamics import METHODS, bilinear_game, game_table

    steps = args.steps if args.steps is not None else 1000
    trajs = {m: bilinear_game(m, steps=steps, eta=args.eta, gamma=args.gamma) for m in METHODS}
    at = tuple(s for s in (0, 10, 100, 1000, 10000) if s <= steps)
    rows = game_table(trajs, at)
    trajectories_png(trajs, out / "game.png", title=f"min_x max_y x*y from (2, 2), eta = {args.eta}")
    lines = [f"# min_x max_y x*y from (2, 2), step size {args.eta}: distance to (0, 0)", "",
             "| method | " + " | ".join(f"step {s}" for s in at) + " |", "|---|" + "---:|" * len(at)]
    lines += ["| " + r["method"] + " | " + " | ".join(f"{r[f'step {s}']:.4g}" for s in at) + " |" for r in rows]
    (out / "game.md").write_text("\n".join(lines) + "\n")
    (out / "game.json").write_text(json.dumps({"eta": args.eta, "gamma": args.gamma, "rows": rows}, indent=2))
    print("\n".join(lines[2:]))
    print(f"wrote {out}/game.png, game.md, game.json")


def _modes(args: argparse.Namespace, out: Path) -> None:
    from genzoo.config import split_overrides
    from genzoo.data.dataset import load_dataset
    from genzoo.errors import GenzooError
    from genzoo.models.adversarial.losses import LOSSES
    from genzoo.report.plots import snapshots_png
    from genzoo.tasks.dynamics import mode_collapse

    losses = LOSSES if args.losses == "all" else tuple(s.strip() for s in args.losses.split(",") if s.strip())
    for loss in losses:
        if loss not in LOSSES:
            raise GenzooError(f"unknown GAN loss {loss!r}; available: {', '.join(LOSSES)}")
    try:
        packs = tuple(int(m) for m in args.packs.split(","))
    except ValueError:
        raise GenzooError(f"bad value {args.packs!r} for --packs: comma-separated integers") from None
    if any(m < 1 for m in packs) or args.seeds < 1:
        raise GenzooError("--packs must be >= 1 and --seeds >= 1")
    shapes = tuple(s.strip() for s in args.shapes.split(",") if s.strip())
    for s in shapes:
        if s not in ("ring", "grid"):
            raise GenzooError(f"bad shape {s!r} for --shapes: ring or grid (the shapes with known modes)")
    config = {k.removeprefix("model."): v for k, v in split_overrides(args.set).items()}
    res = mode_collapse(shapes, losses, packs, tuple(range(args.seeds)), steps=args.steps or 3000, config=config,
                        progress=not args.no_progress, log=print)
    refs = {s: load_dataset("toy2d", shape=s).test.x for s in shapes}
    for shape in shapes:
        rows = {k: v for k, v in res["snapshots"].items() if k.startswith(shape + "/")}
        if rows:
            snapshots_png(rows, out / f"modes-{shape}.png", reference=refs, title=f"gan on the {shape}: samples over training (seed 0)")
    lines = [f"# Mode collapse of `gan` ({res['settings']['steps']} steps, batch {res['settings']['batch_size']}, "
             f"{res['settings']['samples']} samples, mean +/- std over {args.seeds} seeds)", "",
             "| shape | loss | pack | modes covered | high-quality fraction | reverse KL (nats) |",
             "|---|---|---:|---:|---:|---:|"]
    for r in res["summary"]:
        lines.append(f"| {r['shape']} | {r['loss']} | {r['pack']} | {r['modes_covered']:.1f} +/- {r['modes_covered_std']:.1f}"
                     f" of {r['modes_total']} | {r['high_quality']:.3f} +/- {r['high_quality_std']:.3f} | "
                     f"{r['reverse_kl']:.3f} +/- {r['reverse_kl_std']:.3f} |")
    (out / "modes.md").write_text("\n".join(lines) + "\n")
    (out / "modes.json").write_text(json.dumps({k: v for k, v in res.items() if k != "snapshots"}, indent=2))
    print("\n".join(lines[2:]))
    print(f"wrote {out}/modes.md, modes.json and the scatter plots modes-*.png")

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
    from genzoo.tasks.dynamics import game_report

    table = game_report(out, steps=args.steps if args.steps is not None else 1000, eta=args.eta, gamma=args.gamma)
    print(table)
    print(f"wrote {out}/game.png, game.md, game.json")


def _modes(args: argparse.Namespace, out: Path) -> None:
    from genzoo.config import split_overrides
    from genzoo.tasks.dynamics import modes_report

    config = {k.removeprefix("model."): v for k, v in split_overrides(args.set).items()}
    table = modes_report(out, shapes=args.shapes, losses=args.losses, packs=args.packs, seeds=args.seeds,
                         steps=args.steps or 3000, config=config, progress=not args.no_progress)
    print(table)
    print(f"wrote {out}/modes.md, modes.json and the scatter plots modes-*.png")

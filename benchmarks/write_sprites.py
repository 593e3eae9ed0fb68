"""Write the built-in ``sprites`` as a folder of RGB PNG files, for the ``images`` dataset.

The ``sprites`` dataset generates its pictures in memory; this writes the same pictures
(train split first, then test) as 20x20 PNGs, so the path your own sprite folder takes
(``--data images --data-dir DIR --set data.colors=K --set data.mode=rgb --set data.size=20``)
can be tried on them:

    python benchmarks/write_sprites.py OUT_DIR [--n 800] [--size 20] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.data.sprites import make_sprites, write_pngs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--size", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    paths = write_pngs(make_sprites(args.n, args.size, args.seed), args.out)
    print(f"wrote {len(paths)} sprites to {args.out}")


if __name__ == "__main__":
    main()

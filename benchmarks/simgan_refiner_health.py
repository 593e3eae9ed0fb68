"""Is a trained SimGAN refiner alive, and does it add ink or only take it away?

For each run given, on its first ``--count`` rendered training digits, prints:

* per layer of the refiner, the share of positive activations (a block whose units are
  never positive passes nothing on: with ``relu(h + ...)`` blocks the refiner then sits
  at the identity for good) and their mean size;
* the refiner's proposed change ``net(x)`` on the black background (its mean and
  minimum: far below 0 the change is clipped away, and without ``reg_unclipped`` nothing
  pulls it back, so the refiner cannot add ink there);
* the ink the refined image adds and takes away, per pixel on the [-1, 1] scale;
* the mean stroke thickness in pixels (``genzoo.data.attributes.thickness``) of the
  rendered and the refined digits (MNIST's: 2.44, ``benchmarks/glyph_render.py``).

    python benchmarks/simgan_refiner_health.py RUN [RUN ...] [--count 512]
"""

from __future__ import annotations

import argparse

import torch

from genzoo.data.attributes import thickness
from genzoo.run import load_data, load_run


@torch.no_grad()
def health(run: str, count: int) -> None:
    loaded = load_run(run)
    refiner = loaded.model.refiner
    x = load_data(loaded.config, download=False).train.extra["source"][:count] * 2 - 1  # (B, 1, 28, 28)
    print(f"{run} ({loaded.weights} weights; preact={loaded.model.config.preact}, "
          f"reg_unclipped={loaded.model.config.reg_unclipped})")
    h = x
    for i, layer in enumerate(refiner.net):
        h = layer(h)
        print(f"  layer {i:>2} {type(layer).__name__:<8} positive {100 * float((h > 0).float().mean()):6.2f}%  "
              f"mean |h| {float(h.abs().mean()):9.3f}")
    change = refiner.net(x)
    background = x < -0.99
    refined = refiner(x)
    print(f"  proposed change on the background: mean {float(change[background].mean()):.3f}, "
          f"min {float(change[background].min()):.3f}")
    print(f"  ink added {float((refined - x).clamp_min(0).mean()):.4f}, "
          f"taken away {float((x - refined).clamp_min(0).mean()):.4f} per pixel ([-1, 1] scale)")
    print(f"  stroke thickness: rendered {float(thickness((x + 1) / 2).mean()):.2f}, "
          f"refined {float(thickness((refined + 1) / 2).mean()):.2f} pixels")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="simgan run directories")
    ap.add_argument("--count", type=int, default=512, help="rendered training digits looked at")
    args = ap.parse_args()
    for run in args.runs:
        health(run, args.count)


if __name__ == "__main__":
    main()

"""How much can changing only the look of the rendered digits move MNIST accuracy?

A control for ``genzoo simgan-eval``: a refiner held to the simulator's shapes by its
self-regularisation can only change how the strokes look. Here fixed, hand-made changes
of the look stand in for a refiner: the rendered training digits of ``glyph_mnist`` are
thinned, blurred, binarised or thickened, and the same classifier as simgan-eval's (same
steps, batch and seeds) is trained on each and tested on the MNIST test digits. If no
such change moves the accuracy by more than the spread between seeds, neither can a
refiner that changes the look alone.

    python benchmarks/simgan_look_controls.py --data-dir ../shared/data/mnist [--elastic 34]
        [--bold 1] [--seeds 0,1,2] [--looks raw,thin,blur,binary,thick,erode,erode1] [--steps 400]
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch
import torch.nn.functional as F

from genzoo.data.dataset import load_dataset
from genzoo.tasks.simgan_eval import train_on


def _blur(x: torch.Tensor, sigma: float = 0.7) -> torch.Tensor:
    t = torch.arange(-2, 3, dtype=x.dtype)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(x, k.view(1, 1, 1, 5), padding=(0, 2))
    return F.conv2d(x, k.view(1, 1, 5, 1), padding=(2, 0))


LOOKS = {  # (B, 1, 28, 28) in [0, 1] -> the same digits with another look
    "raw": lambda x: x,
    "thin": lambda x: ((x - 0.3) / 0.7).clamp(0, 1),  # the faint edge of each stroke dropped
    "blur": _blur,  # Gaussian, sigma 0.7 pixels
    "binary": lambda x: (x > 0.5).to(x.dtype),  # no anti-aliasing
    "thick": lambda x: 0.5 * x + 0.5 * F.max_pool2d(x, 3, 1, 1),  # half a 3x3 dilation
    "erode": lambda x: 0.5 * x - 0.5 * F.max_pool2d(-x, 3, 1, 1),  # half a 3x3 erosion
    "erode1": lambda x: -F.max_pool2d(-x, 3, 1, 1),  # a full 3x3 erosion
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, help="the MNIST files")
    ap.add_argument("--elastic", type=float, default=34.0, help="glyph_mnist's elastic option (its recipe: 34)")
    ap.add_argument("--bold", type=float, default=0.0, help="glyph_mnist's bold option (0: the plain pen)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--looks", default=",".join(LOOKS))
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    looks = args.looks.split(",")
    unknown = [k for k in looks if k not in LOOKS]
    if unknown:
        raise SystemExit(f"unknown look {unknown[0]!r}; choose from {', '.join(LOOKS)}")
    glyphs = load_dataset("glyph_mnist", root=args.data_dir, download=False, elastic=args.elastic,
                          bold=args.bold).train
    x, y = glyphs.extra["source"], glyphs.extra["source_y"]
    test = load_dataset("mnist", root=args.data_dir, download=False, scale="unit").test
    print(f"# {len(x)} rendered digits (elastic {args.elastic}, bold {args.bold}), classifier {args.steps} steps of {args.batch_size}, "
          f"{torch.get_num_threads()} thread(s), load average {os.getloadavg()[0]:.2f}")
    acc: dict[str, list[float]] = {}
    for look in looks:
        acc[look] = [100 * train_on(LOOKS[look](x), y, test, steps=args.steps, batch_size=args.batch_size,
                                    seed=s).test_accuracy for s in seeds]
    print(f"| look | {' | '.join(f'seed {s}' for s in seeds)} | mean ± sd | minus raw (paired) |")
    print("|---|" + "---:|" * (len(seeds) + 2))
    for look, a in acc.items():
        sd = statistics.stdev(a) if len(a) > 1 else 0.0
        diff = ""
        if "raw" in acc and look != "raw":
            d = [u - v for u, v in zip(a, acc["raw"])]
            diff = f"{statistics.mean(d):+.2f}" + (f" ± {statistics.stdev(d):.2f}" if len(d) > 1 else "")
        print(f"| {look} | {' | '.join(f'{v:.2f}' for v in a)} | {statistics.mean(a):.2f} ± {sd:.2f} | {diff} |")


if __name__ == "__main__":
    main()

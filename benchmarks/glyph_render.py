"""CPU cost of rendering `glyph_digits`, with and without the elastic distortion, and
the mean stroke thickness of the digits at each `bold` setting (against MNIST's).

Rendering runs whenever `glyph_digits` or `glyph_mnist` is loaded (nothing is cached),
so its cost is part of every SimGAN run and evaluation. Prints the CPU time per digit
(process time, so another job on the machine changes it little) for each strength.

    python benchmarks/glyph_render.py [--count 2000] [--elastic 0,34] [--threads 1]
        [--bold 0,0.5,1,1.5 --data-dir ../shared/data/mnist]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from genzoo.data.attributes import thickness
from genzoo.data.dataset import load_dataset
from genzoo.data.glyph_digits import rendered_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000, help="digits rendered per strength")
    ap.add_argument("--elastic", default="0,34", help="strengths, comma-separated")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bold", default="", help="bold settings to measure thickness at (with the last elastic)")
    ap.add_argument("--data-dir", help="MNIST files, for MNIST's thickness beside the bold rows")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# glyph_digits rendering, {args.count} digits, {args.threads} thread(s), torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, load average {os.getloadavg()[0]:.2f}")
    print("| elastic | CPU ms per digit | wall s |")
    print("|---:|---:|---:|")
    for alpha in (float(a) for a in args.elastic.split(",")):
        cpu, wall = time.process_time(), time.perf_counter()
        rendered_split(args.count, seed=0, elastic=alpha)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"| {alpha:g} | {cpu / args.count * 1e3:.2f} | {wall:.1f} |")
    if args.bold:
        print(f"\n| bold (elastic {alpha:g}) | mean stroke thickness, pixels |\n|---:|---:|")
        for bold in (float(b) for b in args.bold.split(",")):
            x, _ = rendered_split(args.count, seed=0, elastic=alpha, bold=bold)
            print(f"| {bold:g} | {float(thickness(torch.from_numpy(x).float() / 255).mean()):.2f} |")
        if args.data_dir:
            mnist = load_dataset("mnist", root=args.data_dir, download=False, scale="unit").train.x[:args.count]
            print(f"| MNIST (first {args.count} training digits) | {float(thickness(mnist).mean()):.2f} |")


if __name__ == "__main__":
    main()

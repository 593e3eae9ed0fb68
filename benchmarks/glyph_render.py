"""CPU cost of rendering `glyph_digits`, with and without the elastic distortion.

Rendering runs whenever `glyph_digits` or `glyph_mnist` is loaded (nothing is cached),
so its cost is part of every SimGAN run and evaluation. Prints the CPU time per digit
(process time, so another job on the machine changes it little) for each strength.

    python benchmarks/glyph_render.py [--count 2000] [--elastic 0,34] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from genzoo.data.glyph_digits import rendered_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000, help="digits rendered per strength")
    ap.add_argument("--elastic", default="0,34", help="strengths, comma-separated")
    ap.add_argument("--threads", type=int, default=1)
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


if __name__ == "__main__":
    main()

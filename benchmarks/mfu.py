"""Model FLOP utilisation (MFU) of training steps on this machine.

Measures the float32 matrix-multiply peak (``torch.mm`` on large square matrices, all
threads, best of several runs), then for each recipe below runs genzoo's own training
step (``Trainer._train_step``: every player, backward, clipping, optimizer, EMA) and
reports the achieved FLOP/s as a fraction of that peak. FLOPs are counted once per step
with ``torch.utils.flop_counter.FlopCounterMode`` (matrix products and convolutions,
forward and backward; element-wise work is not counted, so MFU is a lower bound on how
busy the cores are).

    python benchmarks/mfu.py                          # all rows, eager
    python benchmarks/mfu.py --compile                # the same with torch.compile
    python benchmarks/mfu.py --channels-last --only pixelcnn,vae_conv,dcgan
    python benchmarks/mfu.py --steps 20 --json out.json

Targets on 2 CPU cores (issue 17): transformer at least 60% of peak, convolutional
models at least 40%. Time it on an idle machine: other jobs on the cores lower both the
peak and the rows, and not by the same factor.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from genzoo.run import build, load_data, resolve
from genzoo.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

# name: (recipe, data folder under ../shared/data, what it stands for)
ROWS: dict[str, tuple[str | dict, str, str]] = {
    "transformer": ("recipes/transformer-shakespeare-fidelity.yaml", "text", "char transformer, nanoGPT CPU size"),
    "pixelcnn": ("recipes/pixelcnn-binarized_mnist-cpu.yaml", "binarized_mnist", "PixelCNN CPU recipe"),
    "vae_conv": ({"model": {"name": "vae", "arch": "conv"}, "data": {"name": "mnist"},
                  "train": {"batch_size": 128}}, "mnist", "conv VAE, default width, batch 128"),
    "dcgan": ("recipes/dcgan-mnist-cpu.yaml", "mnist", "DCGAN CPU recipe (D and G steps)"),
    "ddpm": ("recipes/ddpm-mnist-cpu.yaml", "mnist", "DDPM U-Net CPU recipe"),
}


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 ``torch.mm`` rate in FLOP/s on n x n matrices."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def measure(name: str, *, steps: int, warmup: int, compile_: bool, channels_last: bool) -> dict:
    recipe, folder, what = ROWS[name]
    if isinstance(recipe, str):
        recipe = ROOT / recipe
    flags = {"steps": warmup + steps + 1, "checkpoint_every": 0, "eval_every": 0, "patience": 0,
             "sample_every": 0, "compile": compile_, "device": "cpu", "amp": "none"}
    config = resolve(recipe=recipe, train_flags=flags, data_dir=str(SHARED / folder))
    data = load_data(config, download=False)
    model = build(config, data.spec)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    trainer = Trainer(model, data, config.train, progress=False)
    logs: dict = defaultdict(list)
    for s in range(warmup):  # compile, allocator and caches settle here
        trainer._train_step(s, logs, False)
    with FlopCounterMode(display=False) as counter:
        trainer._train_step(warmup, logs, False)
    flops = counter.get_total_flops()
    t0 = time.perf_counter()
    for s in range(warmup + 1, warmup + 1 + steps):
        trainer._train_step(s, logs, False)
    seconds = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    return {"row": name, "what": what, "params": params, "batch": trainer.batch_size,
            "gflop_per_step": flops / 1e9, "steps_per_s": steps / seconds,
            "gflops": flops * steps / seconds / 1e9}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="", help=f"comma-separated rows of {', '.join(ROWS)}")
    ap.add_argument("--steps", type=int, default=30, help="timed training steps per row")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--compile", action="store_true", help="train.compile=true (torch.compile)")
    ap.add_argument("--channels-last", action="store_true", help="convolution weights in channels-last")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(ROWS)
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        print(f"unknown row(s) {', '.join(unknown)}; rows: {', '.join(ROWS)}", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    peak = matmul_peak()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, load average {load:.2f}; compile={args.compile}, "
          f"channels_last={args.channels_last}")
    print(f"float32 matmul peak (torch.mm 2048^2): {peak / 1e9:.1f} GFLOP/s\n")
    print("| row | what | params | batch | GFLOP/step | steps/s | GFLOP/s | MFU |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    for name in names:
        r = measure(name, steps=args.steps, warmup=args.warmup, compile_=args.compile,
                    channels_last=args.channels_last)
        r["mfu"] = r["gflops"] * 1e9 / peak
        rows.append(r)
        print(f"| {name} | {r['what']} | {r['params']:,} | {r['batch']} | {r['gflop_per_step']:.3f} | "
              f"{r['steps_per_s']:.2f} | {r['gflops']:.1f} | {100 * r['mfu']:.0f}% |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"peak_gflops": peak / 1e9, "load": load, "compile": args.compile,
                                               "channels_last": args.channels_last, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

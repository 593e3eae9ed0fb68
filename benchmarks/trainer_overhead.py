"""Trainer overhead: steps/s of genzoo's Trainer against a bare PyTorch loop.

Both train the same VAE on the same data with the same batch size and optimizer; the
bare loop does only what training needs (batch indexing, forward, backward, Adam). The
ratio trainer/bare is the target (>= 0.95). Checkpoints and sample grids are off in
both: they are I/O, not loop overhead. Each side runs ``--repeats`` times, alternating,
and the median is reported.

    python benchmarks/trainer_overhead.py [--data digits|mnist] [--data-dir DIR] [--steps 300]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from genzoo.data.dataset import load_dataset
from genzoo.models.registry import build_model
from genzoo.train.config import TrainConfig
from genzoo.train.trainer import Trainer


def bare_loop(model, data, steps: int, batch_size: int, lr: float) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(data.train)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    per_epoch = n // batch_size
    model.train()
    t0 = time.perf_counter()
    for step in range(steps):
        j = step % per_epoch
        if j == 0:
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(step))
        idx = perm[j * batch_size:(j + 1) * batch_size]
        batch = {"x": data.train.x[idx]}
        opt.zero_grad(set_to_none=True)
        loss = model.loss(batch)["loss"]
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def trainer_loop(model, data, steps: int, batch_size: int, lr: float) -> float:
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, checkpoint_every=0, log_every=25)
    res = Trainer(model, data, cfg, progress=True).fit()
    return res["steps_per_sec"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="digits")
    ap.add_argument("--data-dir")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    opts = {"binarize": "threshold"} if args.data == "mnist" else {}
    data = load_dataset(args.data, root=args.data_dir, **opts)
    results = {"bare": [], "trainer": []}
    for _ in range(args.repeats):
        for name, fn in (("bare", bare_loop), ("trainer", trainer_loop)):
            torch.manual_seed(0)
            model = build_model("vae", data.spec)
            fn(model, data, 20, args.batch_size, 1e-3)  # warm-up (allocator, caches)
            torch.manual_seed(0)
            model = build_model("vae", data.spec)
            results[name].append(fn(model, data, args.steps, args.batch_size, 1e-3))
    bare, trainer = statistics.median(results["bare"]), statistics.median(results["trainer"])
    print(f"\nmachine: {platform.machine()} {platform.processor() or ''}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    print(f"model: vae defaults on {args.data} {data.spec.describe}, batch {args.batch_size}, "
          f"{args.steps} steps x {args.repeats} repeats (median)\n")
    print("| loop | steps/s |")
    print("|---|---|")
    print(f"| bare PyTorch | {bare:.1f} |")
    print(f"| genzoo Trainer | {trainer:.1f} |")
    print(f"| ratio (target >= 0.95) | {trainer / bare:.3f} |")


if __name__ == "__main__":
    main()

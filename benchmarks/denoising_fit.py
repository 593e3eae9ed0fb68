"""Train against test loss of a trained diffusion run: is it underfitted or overfitted?

The ddpm and flow_matching losses are Monte Carlo estimates over a random time and noise.
This script draws them once, with a seeded generator, and scores the same ``--examples``
training and test images under the same draws, for each of the run's weights (the final
ones and the EMA average when the run kept one). Equal train and test losses with a
training loss still falling in ``metrics.jsonl`` mean the network is too small or trained
too briefly for its data; a test loss well above the train loss means overfitting.

    python benchmarks/denoising_fit.py RUN [--examples 2048] [--seed 0] [--data-dir DIR]

Prints one row per weights file: train loss, test loss, their difference, and the last
logged training loss.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from genzoo.data.dataset import load_dataset, random_rows
from genzoo.run import load_run


def scored_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None, *, seed: int,
                batch: int = 256) -> float:
    """The model's training loss on ``x``, averaged over batches, with seeded draws of t and noise
    (the global generator is reseeded per batch, so every weights file sees the same draws)."""
    total, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            torch.manual_seed(seed + i)
            b = {"x": x[i:i + batch]}
            if y is not None:
                b["y"] = y[i:i + batch]
            out = model.loss(b)
            total += float(out["loss"]) * b["x"].shape[0]
            n += b["x"].shape[0]
    return total / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--examples", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()

    run = Path(args.run)
    cfg = json.loads((run / "config.json").read_text())
    data = load_dataset(cfg["data"]["name"], root=args.data_dir or cfg["data"].get("data_dir"), download=False,
                        **cfg["data"].get("options", {}))
    splits = {}
    for name in ("train", "test"):
        split = getattr(data, name)
        idx = random_rows(torch.arange(len(split)), min(args.examples, len(split)), seed=args.seed)
        splits[name] = (split.x[idx], split.y[idx] if split.y is not None else None)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    last = next((r[k] for r in reversed(rows) for k in r if k.endswith("/loss")), float("nan"))

    print(f"{run}: {cfg['model']}, {args.examples} train and test examples, seed {args.seed}")
    print(f"{'weights':<8} {'train':>10} {'test':>10} {'test-train':>11} {'last logged train':>18}")
    for weights in ("model", "ema"):
        if not (run / f"{weights}.safetensors").exists():
            continue
        model = load_run(run, weights=weights).model
        model.train(False)
        tr = scored_loss(model, *splits["train"], seed=args.seed)
        te = scored_loss(model, *splits["test"], seed=args.seed)
        print(f"{weights:<8} {tr:>10.5f} {te:>10.5f} {te - tr:>+11.5f} {last:>18.5f}")


if __name__ == "__main__":
    main()

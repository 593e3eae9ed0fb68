"""Plain RNN, GRU and LSTM cells of ``lstm`` compared on the text recipe's data.

Each cell is trained on the data of ``recipes/lstm-text.yaml`` (the built-in pydoc
corpus, blocks of 96 characters) for the same wall-clock budget, with the recipe's
layers, embedding, dropout, batch size, learning rate and gradient clipping, and a
cosine learning-rate decay over the budget (time, not steps, so each cell gets the same
time). The LSTM keeps the recipe's width; the RNN and the GRU get the width that brings
their parameter count closest to the LSTM's, so the comparison is at (roughly) equal
parameters and equal time. The table reports bits per character on the whole test split
(exact: log_prob of every test block / (block size * ln 2)).

    python benchmarks/rnn_cells.py [--seconds 60] [--cells rnn,gru,lstm] [--threads 2]

The default budget is short (a check that the comparison runs, not the recipe's
8-minute training): numbers from short budgets favour whichever cell learns fastest
early, not whichever is best at convergence.
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from genzoo.run import build, load_data, resolve

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "lstm-text.yaml"


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def sized_model(run_config, spec, cell: str, target: int | None) -> torch.nn.Module:
    """The recipe's model with ``cell``; its width chosen so the parameter count is
    closest to ``target`` (None: the recipe's width)."""
    def make(hidden: int) -> torch.nn.Module:
        return build(replace(run_config, model_config=replace(run_config.model_config, cell=cell, hidden=hidden)), spec)

    width = run_config.model_config.hidden
    if target is None:
        return make(width)
    # parameters grow monotonically with the width: bisect for the closest count
    lo, hi = 1, 4 * width
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if n_params(make(mid)) < target else (lo, mid)
    return min((make(lo), make(hi)), key=lambda m: abs(n_params(m) - target))


def train_for(model: torch.nn.Module, data, *, seconds: float, batch_size: int, lr: float, clip: float,
              seed: int) -> int:
    """Adam with cosine decay over ``seconds`` of wall clock; returns the steps taken."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    steps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * elapsed / seconds))
        idx = torch.randint(len(data.train), (batch_size,), generator=g)
        loss = model.loss(data.train.batch(idx))["loss"]
        opt.zero_grad()
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        steps += 1
    return steps


@torch.no_grad()
def test_bpc(model, data, *, batch: int = 128) -> float:
    x = data.test.x
    nll = sum(float(-model.log_prob(x[i:i + batch]).sum()) for i in range(0, len(x), batch))
    return nll / (x.numel() * math.log(2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="training time per cell (default 60)")
    ap.add_argument("--cells", default="rnn,gru,lstm")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    run_config = resolve(recipe=RECIPE)
    data = load_data(run_config)
    tc = run_config.train
    torch.manual_seed(args.seed)
    target = n_params(sized_model(run_config, data.spec, "lstm", None))
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"{args.seconds:g} s per cell, recipe {RECIPE.name}: {run_config.model_config.layers} layers, "
          f"batch {tc.batch_size}, lr {tc.lr:g}, {len(data.train)} train / {len(data.test)} test blocks "
          f"of {data.spec.shape[0]} chars")
    print(f"{'cell':<6}{'hidden':>8}{'params':>10}{'steps':>8}{'test bits/char':>16}")
    for cell in args.cells.split(","):
        torch.manual_seed(args.seed)
        model = sized_model(run_config, data.spec, cell, None if cell == "lstm" else target)
        steps = train_for(model, data, seconds=args.seconds, batch_size=tc.batch_size, lr=tc.lr,
                          clip=tc.clip_grad, seed=args.seed)
        print(f"{cell:<6}{model.config.hidden:>8}{n_params(model):>10}{steps:>8}{test_bpc(model, data):>16.3f}",
              flush=True)


if __name__ == "__main__":
    main()

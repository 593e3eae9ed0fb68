"""Autoregressive sampling: cached (fast) against naive, per model and batch size.

Naive sampling recomputes the whole network for every new position; the cached
samplers compute only what the new position needs (activation caches for the PixelCNNs,
per-layer queues for WaveNet, a key/value cache for the Transformer, carried state for
the LSTMs). Both draw the same random numbers, so the script also checks that they give
identical samples. Weights are random (speed does not depend on them); sizes are the
CPU-recipe sizes of each model.

Targets at batch 16 on 2 CPU cores: PixelCNN on 28x28 at least 20x, WaveNet with at
least 10 layers at least 10x, Transformer generating 512 tokens with a 512 context at
least 5x.

    python benchmarks/ar_sampling.py [--models pixelcnn,wavenet] [--batch-sizes 1,16,64] [--repeats 1]
    python benchmarks/ar_sampling.py --run runs/wavenet-audio --batch-sizes 1,16 --naive-limit 0

Naive sampling is slow by design (minutes for a PixelCNN at batch 64); ``--naive-limit
SECONDS`` skips the naive run of a (model, batch) whose estimate from batch 1 exceeds it
(0: no naive runs at all). ``--run RUN`` times the trained model of a run instead of the
built-in cases (for an audio run, tokens per second is the sampling rate achieved, in
samples per second, against the run's sample rate: the real-time factor).
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from genzoo.data.spec import DataSpec
from genzoo.models.registry import build_model

MNIST = DataSpec("binarized_mnist", "image", (1, 28, 28), "binary")
TOKENS_512 = DataSpec("tokens", "sequence", (512,), "categorical", num_values=96)
AUDIO = DataSpec("audio-8bit", "sequence", (1024,), "categorical", num_values=256)


@dataclass
class Case:
    model: str
    spec: DataSpec
    config: dict[str, Any] = field(default_factory=dict)
    what: str = ""
    target: float | None = None  # speedup wanted at batch 16


CASES = [
    Case("pixelcnn", MNIST, {"channels": 64, "layers": 8}, "28x28 binary, 8 layers x 64 ch", 20.0),
    Case("gated_pixelcnn", MNIST, {"channels": 64, "layers": 8}, "28x28 binary, 8 layers x 64 ch"),
    Case("pixel_lstm", MNIST, {"hidden": 128, "layers": 1}, "28x28 binary, raster LSTM 128"),
    Case("pixel_lstm", MNIST, {"variant": "row", "hidden": 32, "layers": 3}, "28x28 binary, Row LSTM 3x32"),
    Case("wavenet", AUDIO, {"residual_channels": 64, "gate_channels": 64, "skip_channels": 128,
                            "layers_per_stack": 10}, "1024 tokens of 8-bit audio, 10 layers x 64 ch", 10.0),
    Case("transformer", TOKENS_512, {"layers": 4, "width": 128, "heads": 4}, "512 tokens, context 512, 4x128",
         5.0),
    Case("lstm", TOKENS_512, {"hidden": 256, "layers": 2}, "512 tokens, 2x256"),
]


def time_sample(model, n: int, cached: bool, seed: int = 0) -> tuple[float, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    with torch.no_grad():
        x = model.sample(n, generator=g, cached=cached)
    return time.perf_counter() - t0, x


def run_case(run: str) -> tuple[Case, torch.nn.Module]:
    """The case and trained model of a run directory (its spec's length is T)."""
    from genzoo.run import load_run

    loaded = load_run(run)
    what = f"{loaded.config.model} of {run} ({loaded.spec.describe})"
    return Case(loaded.config.model, loaded.spec, what=what), loaded.model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated subset of: " + ", ".join(c.model for c in CASES))
    ap.add_argument("--batch-sizes", default="1,16,64")
    ap.add_argument("--naive-limit", type=float, default=600.0,
                    help="skip a naive run whose estimate (from batch 1) exceeds this many seconds")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--run", help="time this run's trained model instead of the built-in cases")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = set(args.models.split(",")) if args.models else None
    batches = [int(b) for b in args.batch_sizes.split(",")]

    print(f"# autoregressive sampling, cached vs naive ({platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__})")
    print("| model | setting | batch | naive s | cached s | speedup | identical | target | cached tokens/s |")
    print("|---|---|---:|---:|---:|---:|---|---|---:|")
    cases = [run_case(args.run)] if args.run else [
        (c, None) for c in CASES if not wanted or c.model in wanted]
    for case, model in cases:
        if model is None:
            torch.manual_seed(0)
            model = build_model(case.model, case.spec, dict(case.config)).eval()
        per_example_naive = None
        for b in batches:
            cached_s, xc = time_sample(model, b, cached=True)
            rate = f"{b * case.spec.dim / cached_s:,.0f}"
            estimate = per_example_naive * b if per_example_naive is not None else 0.0
            if estimate > args.naive_limit or args.naive_limit <= 0:
                skipped = f"(skipped, ~{estimate:.0f})" if estimate else "(skipped)"
                print(f"| {case.model} | {case.what} | {b} | {skipped} | {cached_s:.2f} | | | | {rate} |", flush=True)
                continue
            naive_s, xn = time_sample(model, b, cached=False)
            if per_example_naive is None:
                per_example_naive = naive_s / b
            speedup = naive_s / cached_s
            same = "yes" if torch.equal(xc, xn) else "NO"
            target = ""
            if case.target is not None and b == 16:
                target = f">= {case.target:g}x: {'met' if speedup >= case.target else 'MISSED'}"
            print(f"| {case.model} | {case.what} | {b} | {naive_s:.2f} | {cached_s:.2f} | {speedup:.1f}x | "
                  f"{same} | {target} | {rate} |", flush=True)


if __name__ == "__main__":
    main()

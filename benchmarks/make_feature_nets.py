"""Regenerate the feature networks shipped in genzoo/evaluate/weights/.

Trains each network of ``genzoo.evaluate.features.SHIPPED`` with the fixed recipe of
:func:`~genzoo.evaluate.features.train_feature_net` (seed 0), rounds its weights to
float16, checks the test accuracy of the rounded network against the float32 one, and
writes ``<name>.safetensors`` (float16) and ``<name>.json`` (dataset, options, spec,
variant, test accuracy in float16 and float32, training settings, version, sha256 of the
weights, training time). Prints one line per network.

    python benchmarks/make_feature_nets.py --mnist-dir ../shared/data/mnist --out genzoo/evaluate/weights
    python benchmarks/make_feature_nets.py --only digits --out genzoo/evaluate/weights

The MNIST networks take minutes each on 2 CPU cores; digits takes seconds.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from genzoo.data.dataset import load_dataset
from genzoo.evaluate.features import SHIPPED, FeatureNet, sha256_of, train_feature_net, variant


def accuracy(net: FeatureNet, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((net.probs(x).argmax(1) == y).double().mean())


def make(stem: str, *, roots: dict[str, Path | None], out: Path, progress: bool) -> dict:
    name, opts = SHIPPED[stem]
    data = load_dataset(name, root=roots.get(name), download=False, **opts)
    t0 = time.perf_counter()
    trained = train_feature_net(data, progress=progress)
    seconds = time.perf_counter() - t0
    half = {k: v.detach().to(torch.float16).contiguous() for k, v in trained.net.state_dict().items()}
    rounded = FeatureNet(data.spec, int(data.spec.num_classes))
    rounded.load_state_dict({k: v.float() for k, v in half.items()})
    test = data.fixed("test")
    acc16 = accuracy(rounded, test.x, test.y)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{stem}.safetensors"
    save_file(half, str(weights), metadata={"dataset": name, "variant": variant(data.spec, dynamic=data.transform is not None)})
    info = {**trained.info, "test_accuracy": acc16, "test_accuracy_float32": trained.test_accuracy,
            "dtype": "float16", "options": opts, "variant": variant(data.spec, dynamic=data.transform is not None),
            "spec": data.spec.to_dict(), "train_seconds": round(seconds, 1), "torch": torch.__version__,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
            "sha256": sha256_of(weights), "bytes": weights.stat().st_size}
    (out / f"{stem}.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mnist-dir", help="folder with the MNIST IDX files (default: $GENZOO_HOME/mnist)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "genzoo" / "evaluate" / "weights"))
    p.add_argument("--only", help=f"comma-separated, from: {', '.join(SHIPPED)} (default: all)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    stems = [s.strip() for s in args.only.split(",")] if args.only else list(SHIPPED)
    for s in stems:
        if s not in SHIPPED:
            p.error(f"unknown network {s!r}; available: {', '.join(SHIPPED)}")
    roots = {"mnist": Path(args.mnist_dir) if args.mnist_dir else None}
    for stem in stems:
        info = make(stem, roots=roots, out=Path(args.out), progress=not args.no_progress)
        print(f"{stem}: test accuracy {info['test_accuracy']:.4f} float16 ({info['test_accuracy_float32']:.4f} "
              f"float32) on {info['test_examples']} test images; {info['train_examples']} training images, "
              f"{info['steps']} steps in {info['train_seconds']:.0f} s; {info['bytes'] / 1e6:.2f} MB", flush=True)


if __name__ == "__main__":
    main()

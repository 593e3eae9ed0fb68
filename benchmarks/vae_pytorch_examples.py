"""Per-step time of genzoo's vae against a script-style loop, in pytorch/examples' setting.

The fidelity row ``vae-pytorch-examples`` (docs/results.md, "Fidelity"): MLP 784-400-20,
Bernoulli decoder, batch 128, Adam 1e-3 on the fixed binarized MNIST. The plain loop is
written the way pytorch/examples' vae/main.py computes a step (its own five linear layers,
summed binary cross-entropy plus the KL term, PyTorch's default Adam) but without its
DataLoader; genzoo's side is the Trainer with recipes/vae-pytorch_examples-fidelity.yaml's
model. Both run ``--steps`` steps, alternating, ``--repeats`` times after a warm-up, so on a
shared machine both see the same load.

    python benchmarks/vae_pytorch_examples.py --data-dir ../shared/data/binarized_mnist [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from genzoo import run as runs
from genzoo.train.trainer import Trainer


def plain_loop(x_train: torch.Tensor, steps: int) -> float:
    """ms per step of a script-style VAE step (no DataLoader)."""
    enc, mu, logvar = torch.nn.Linear(784, 400), torch.nn.Linear(400, 20), torch.nn.Linear(400, 20)
    dec1, dec2 = torch.nn.Linear(20, 400), torch.nn.Linear(400, 784)
    params = [p for m in (enc, mu, logvar, dec1, dec2) for p in m.parameters()]
    opt = torch.optim.Adam(params, 1e-3)
    perm = torch.randperm(len(x_train))
    per_epoch = len(x_train) // 128
    t = time.perf_counter()
    for i in range(steps):
        j = i % per_epoch
        x = x_train[perm[j * 128:(j + 1) * 128]].view(-1, 784)  # (128, 784)
        h = F.relu(enc(x))
        m, lv = mu(h), logvar(h)
        z = m + torch.randn_like(m) * torch.exp(0.5 * lv)
        logits = dec2(F.relu(dec1(z)))
        loss = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") \
            - 0.5 * torch.sum(1 + lv - m.pow(2) - lv.exp())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t) / steps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True, help="the binarized_mnist folder")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    recipe = {"model": {"name": "vae", "arch": "mlp", "hidden": 400, "depth": 1, "latent_dim": 20,
                        "decoder": "bernoulli", "input_range": "unit"},
              "data": {"name": "binarized_mnist"},
              "train": {"steps": args.steps, "batch_size": 128, "lr": 1e-3, "checkpoint_every": 0, "log_every": 100}}
    spec = runs.resolve(recipe=recipe, train_flags={"device": "cpu"}, data_dir=args.data_dir)
    data = runs.load_data(spec)

    def genzoo_step() -> float:
        torch.manual_seed(0)
        model = runs.build(spec, data.spec)
        t = time.perf_counter()
        Trainer(model, data, spec.train, run_dir=None, progress=False).fit()
        return (time.perf_counter() - t) / args.steps * 1e3

    genzoo_step(), plain_loop(data.train.x, args.steps)  # warm-up
    ours, plain = [], []
    for _ in range(args.repeats):
        ours.append(genzoo_step())
        plain.append(plain_loop(data.train.x, args.steps))
    a, b = statistics.median(ours), statistics.median(plain)
    print(f"threads {args.threads}, load {os.getloadavg()[0]:.1f}: genzoo Trainer {a:.2f} ms/step, "
          f"script-style loop {b:.2f} ms/step (medians of {args.repeats}); plain/genzoo {b / a:.2f}")


if __name__ == "__main__":
    main()

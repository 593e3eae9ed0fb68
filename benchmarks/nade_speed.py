"""NADE training-step time: the block-wise pass against materialising (D, B, H).

NADE's conditionals share one running pre-activation, a_{i+1} = a_i + x_i W_i, so all D
of them cost O(BDH). Until stop 21 genzoo computed every a_i at once as a (D, B, H)
tensor (blocked matmuls and a cumulative sum) and let autograd differentiate it: about
twenty passes over 157 MB per step at the recipe's size (D=784, B=100, H=500), bound by
memory traffic. ``genzoo.models.autoregressive.nade.binary_conditionals`` now carries a_i
one position at a time with fused ``addcmul`` steps, applies the activation and the
output layer to blocks of 28 positions whose tensors stay in the cache, and has a
hand-written backward that recomputes each block. This script times one Adam step
(forward, backward, update) of both on the same batch and checks that their losses and
gradients agree.

    python benchmarks/nade_speed.py [--threads 2] [--batch 100] [--hidden 500] [--repeats 5]

Timings need idle cores: state the machine's load beside them.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import torch
import torch.nn.functional as F

from genzoo.models.autoregressive.nade import binary_conditionals


def materialised_logits(xo, Wo, c, Vo, bo):
    """Stop 20's pass: every a_i as one (D, B, H) tensor, differentiated by autograd."""
    B, D = xo.shape
    H = Wo.shape[1]
    L = math.isqrt(D - 1) + 1
    nb = -(-D // L)
    P = nb * L
    xb = F.pad(xo, (0, P - D)).view(B, nb, L)
    Wb = F.pad(Wo, (0, 0, 0, P - D)).view(nb, L, H)
    totals = torch.einsum("bnl,nlh->nbh", xb, Wb)  # (nb, B, H)
    before = c + torch.cumsum(F.pad(totals[:-1], (0, 0, 0, 0, 1, 0)), 0)
    tri = torch.ones(L, L).tril(-1)
    masked = xb.permute(1, 0, 2)[:, None] * tri[None, :, None, :]  # (nb, L, B, L)
    within = torch.bmm(masked.reshape(nb, L * B, L), Wb).view(nb, L, B, H)
    h = torch.sigmoid((within + before[:, None]).view(P, B, H)[:D])  # (D, B, H)
    return torch.bmm(h, Vo[:, :, None]).squeeze(-1).t() + bo  # (B, D)


def step_time(fn, params, xo, *, repeats: int) -> tuple[float, float]:
    opt = torch.optim.Adam(params, lr=1e-3)
    snapshot = [p.detach().clone() for p in params]

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(fn(xo, *params), xo, reduction="sum") / xo.shape[0]
        loss.backward()
        opt.step()
        return float(loss.detach())

    step()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    with torch.no_grad():
        for p, s in zip(params, snapshot):
            p.copy_(s)
    return sorted(times)[len(times) // 2], min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--dim", type=int, default=784)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    D, H, B = args.dim, args.hidden, args.batch
    xo = (torch.rand(B, D, generator=g) < 0.13).float()  # about binarized MNIST's ink share
    params = [(torch.randn(D, H, generator=g) / math.sqrt(D)).requires_grad_(),
              torch.zeros(H, requires_grad=True),
              (torch.randn(D, H, generator=g) / math.sqrt(H)).requires_grad_(),
              torch.zeros(D, requires_grad=True)]

    # same numbers first: loss and gradients of both passes
    grads = []
    for fn in (materialised_logits, binary_conditionals):
        loss = F.binary_cross_entropy_with_logits(fn(xo, *params), xo, reduction="sum") / B
        grads.append(torch.autograd.grad(loss, params))
    worst = max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-12)) for a, b in zip(*grads))

    print(f"# NADE step, D={D}, H={H}, batch {B}, {args.threads} thread(s), torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, load average {os.getloadavg()[0]:.2f}")
    print(f"# largest relative gradient difference between the two: {worst:.1e}")
    print("| pass | median s/step | best s/step |")
    print("|---|---:|---:|")
    rows = []
    for name, fn in (("materialised (D, B, H), autograd", materialised_logits),
                     ("block-wise, hand-written backward", binary_conditionals)):
        med, best = step_time(fn, params, xo, repeats=args.repeats)
        rows.append(med)
        print(f"| {name} | {med:.3f} | {best:.3f} |")
    print(f"# speed-up (median): {rows[0] / rows[1]:.1f}x; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

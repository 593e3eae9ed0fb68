"""Training speed of the raster pixel LSTM on palette sprites: nn.LSTM against the fused LSTM.

One training step (loss, backward, Adam) of ``pixel_lstm variant=raster`` on a batch of
the ``sprites`` data (20x20, 168 colours), timed two ways in the same process, alternating
so that both see the same machine load:

* ``nn.LSTM``: the model's LSTM run by ``torch.nn.LSTM`` itself (how the model trained
  before; on CPU it calls oneDNN's RNN kernel);
* ``fused``: the same parameters run by the hand-fused LSTM of ``benchmarks/fused_lstm.py``
  (input projection of all positions in one matmul, one fused gate matmul per step into
  preallocated buffers, a hand-written backward with one weight-gradient matmul).

It first checks that both give the same loss and gradients (float32 tolerance), then
prints a profile summary of one ``nn.LSTM`` step (where the time goes).

    python benchmarks/pixel_lstm_speed.py [--hidden 512] [--layers 1] [--batch 32] [--repeats 5]

``--sweep 32,64,128`` times only ``nn.LSTM`` at each batch size instead, and prints the
time per batch and per sprite with the achieved matmul rate: the LSTM's gate matmuls and
the output layer, counted by hand (forward 2 B L 4H (E + H) + 2 B L H K FLOPs for one
layer, backward twice that), against this machine's float32 peak from
``benchmarks/mfu.py``: does a larger batch (bigger matmuls per step of the 400-step
recurrence) lower the time per sprite? On the 2-core development machine it did not
(docs/results.md, "Palette sprites").
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from fused_lstm import run_lstm  # benchmarks/fused_lstm.py, next to this script

from genzoo.data.dataset import load_dataset
from genzoo.models.registry import build_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--embed", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5, help="timed steps per implementation")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--sweep", default="", help="comma-separated batch sizes: time nn.LSTM at each")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.sweep:
        sweep([int(b) for b in args.sweep.split(",")], args)
        return
    data = load_dataset("sprites")
    x = data.train.x[:args.batch]
    torch.manual_seed(0)
    model = build_model("pixel_lstm", data.spec, {"variant": "raster", "hidden": args.hidden,
                                                  "layers": args.layers, "embed": args.embed})
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    module_lstm = model.rnn

    class Fused(torch.nn.Module):  # stands in for model.rnn, with the same parameters
        def forward(self, inp: torch.Tensor, state: object) -> object:
            return run_lstm(module_lstm, inp, state)

    impls = {"nn.LSTM": module_lstm, "fused": Fused()}

    def step(name: str) -> tuple[float, float, list[torch.Tensor]]:
        object.__setattr__(model, "rnn", impls[name])  # the only difference between the two timings
        t0 = time.perf_counter()
        loss = model.loss({"x": x})["loss"]
        opt.zero_grad()
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters()]
        opt.step()
        return time.perf_counter() - t0, loss.item(), grads

    try:
        # equal results: one step of each from the same weights (lr tiny, compared before Adam moves far)
        snapshot = {k: v.clone() for k, v in model.state_dict().items()}
        _, loss_a, grads_a = step("nn.LSTM")
        model.load_state_dict(snapshot)
        _, loss_b, grads_b = step("fused")
        err = max(float((a - b).abs().max() / (a.abs().max() + 1e-12)) for a, b in zip(grads_a, grads_b))
        times: dict[str, list[float]] = {k: [] for k in impls}
        for _ in range(args.repeats):
            for name in impls:
                times[name].append(step(name)[0])
    finally:
        object.__setattr__(model, "rnn", module_lstm)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step("nn.LSTM")
    load = os.getloadavg()
    print(f"pixel_lstm raster {args.layers}x{args.hidden}, embed {args.embed}, sprites 20x20 (168 colours), "
          f"batch {args.batch}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.machine()}, {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"same step: loss {loss_a:.6f} vs {loss_b:.6f}, largest relative gradient difference {err:.2e}")
    print("| implementation | median s/batch | min s/batch |")
    print("|---|---:|---:|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.3f} | {min(ts):.3f} |")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"fused / nn.LSTM time (median): {med['fused'] / med['nn.LSTM']:.2f}")
    print("where one nn.LSTM step goes (self CPU time):")
    total = sum(e.self_cpu_time_total for e in prof.key_averages())
    for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:5]:
        print(f"  {e.key:40s} {e.self_cpu_time_total / total:6.1%}")


def sweep(batches: list[int], args: argparse.Namespace) -> None:
    """Time one nn.LSTM training step at each batch size; per-sprite time and matmul rate."""
    data = load_dataset("sprites")
    length, k = data.spec.dim, int(data.spec.num_values)
    h, e = args.hidden, args.embed
    load = os.getloadavg()
    print(f"pixel_lstm raster {args.layers}x{h}, embed {e}, sprites 20x20 ({k} colours); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {args.repeats} timed steps after one warm-up")
    print("| batch | median s/batch | min s/batch | ms/sprite (median) | GFLOP/batch | GFLOP/s (median) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for b in batches:
        reps = -(-b // len(data.train))  # tile the 720 training sprites for batches above it
        x = data.train.x.repeat(reps, *([1] * (data.train.x.dim() - 1)))[:b]
        torch.manual_seed(0)
        model = build_model("pixel_lstm", data.spec, {"variant": "raster", "hidden": h, "layers": args.layers,
                                                      "embed": e})
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        times = []
        for i in range(args.repeats + 1):
            t0 = time.perf_counter()
            loss = model.loss({"x": x})["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i:
                times.append(time.perf_counter() - t0)
        layer_in = [e] + [h] * (args.layers - 1)
        flops = 3 * (sum(2 * b * length * 4 * h * (i + h) for i in layer_in) + 2 * b * length * h * k)
        med = statistics.median(times)
        print(f"| {b} | {med:.3f} | {min(times):.3f} | {1000 * med / b:.2f} | {flops / 1e9:.1f} | "
              f"{flops / med / 1e9:.0f} |")


if __name__ == "__main__":
    main()

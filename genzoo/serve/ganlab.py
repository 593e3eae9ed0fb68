"""The GAN lab's server side: the x*y game under the five update rules of
:mod:`genzoo.tasks.dynamics`, and a tiny GAN trained live on the 2-D ring or grid.

The live GAN is kept small (two hidden layers of 64 units, batch 128, at most
:data:`MAX_STEPS` steps) so it costs little CPU; it runs in the lab's own job lane, a new
one cancels the one before, and it stops by itself when no client has read its state
for :data:`IDLE_STOP` seconds (the page was closed) or after its steps.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from genzoo.models.adversarial.losses import LOSSES
from genzoo.serve.inputs import MAX_SEED, get_choice, get_float, get_int
from genzoo.serve.jobs import Job
from genzoo.tasks.dynamics import METHODS, bilinear_game

MAX_STEPS = 3000
MAX_GAME_STEPS = 2000
IDLE_STOP = 15.0  # seconds without a client reading the job: the page is gone
LAB_SAMPLES = 256


def game(d: dict[str, Any]) -> dict[str, Any]:
    """Trajectories (steps + 1, 2) of ``min_x max_y x y`` for every update rule."""
    steps = get_int(d, "steps", 300, 1, MAX_GAME_STEPS)
    eta = get_float(d, "eta", 0.1, 0.0, 0.5, open_lo=True)
    out = {m: bilinear_game(m, steps=steps, eta=eta).float() for m in METHODS}
    return {"steps": steps, "eta": eta, "methods": list(METHODS),
            "trajectories": {m: [[round(a, 5), round(b, 5)] for a, b in t.tolist()] for m, t in out.items()}}


def parse_live(d: dict[str, Any]) -> dict[str, Any]:
    return {"shape": get_choice(d, "shape", "ring", ("ring", "grid")),
            "loss": get_choice(d, "loss", "non_saturating", LOSSES),
            "steps": get_int(d, "steps", 1500, 1, MAX_STEPS), "every": get_int(d, "every", 25, 1, 500),
            "lr": get_float(d, "lr", 1e-3, 0.0, 0.1, open_lo=True), "seed": get_int(d, "seed", 0, 0, MAX_SEED)}


def live(p: dict[str, Any], job: Job) -> dict[str, Any]:
    """Train a tiny GAN on toy 2-D data, reporting samples, D(x), D(G(z)) and both
    players' gradient norms every ``every`` steps."""
    from genzoo.data.dataset import load_dataset
    from genzoo.models.registry import build_model
    from genzoo.train.config import TrainConfig
    from genzoo.train.trainer import Trainer

    data = load_dataset("toy2d", shape=p["shape"])
    torch.manual_seed(p["seed"])
    cfg = {"loss": p["loss"], "g_hidden": (64, 64), "d_hidden": (64, 64), "g_batch_norm": False,
           "lr_g": p["lr"], "lr_d": p["lr"], "betas": (0.5, 0.9)}
    model = build_model("gan", data.spec, cfg)
    train = TrainConfig(steps=p["steps"], batch_size=128, seed=p["seed"], checkpoint_every=0,
                        log_every=p["every"])
    z_gen = torch.Generator().manual_seed(p["seed"] + 1)  # the same z every frame: points move smoothly
    real = data.train.x[torch.randperm(len(data.train), generator=z_gen)[:512]]
    history: list[dict[str, float]] = []
    t0 = time.monotonic()

    def on_step(step: int, trainer: Trainer) -> None:
        if time.monotonic() - job.touched > IDLE_STOP:
            job.cancel()
        job.check()
        if step % p["every"] and step != p["steps"]:
            return
        stats = _probe(trainer, {"x": real})
        stats["step"] = step
        history.append(stats)
        trainer.model.eval()
        with torch.no_grad():
            pts = trainer.model.sample(LAB_SAMPLES, generator=torch.Generator().manual_seed(p["seed"] + 2))
        trainer.model.train()
        job.report(step / p["steps"], step=step, history=history[-200:], samples=pts.tolist(),
                   seconds=round(time.monotonic() - t0, 2))

    job.report(0.0, step=0, history=[], samples=[], modes=data.spec.extra.get("modes"),
               reference=real[:LAB_SAMPLES].tolist())
    Trainer(model, data, train, progress=False, on_step=on_step).fit()
    return {"steps": p["steps"], "history": history[-200:], "seconds": round(time.monotonic() - t0, 2)}


def _probe(trainer, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """D(x), D(G(z)) on a fixed real batch and each player's gradient norm there (the
    gradients are dropped afterwards; the trainer zeroes them before every update)."""
    out: dict[str, float] = {}
    for p in trainer.players:
        with torch.enable_grad():
            logs = p.loss(batch)
            logs["loss"].backward()
        sq = sum(float(q.grad.pow(2).sum()) for q in p.parameters if q.grad is not None)
        out[f"{p.name}_grad_norm"] = math.sqrt(sq)
        for q in p.parameters:
            q.grad = None
        if p.name == "discriminator":
            out["d_real"] = float(logs["d_real"])
            out["d_fake"] = float(logs["d_fake"])
        out[f"{p.name}_loss"] = float(logs["loss"].detach())
    return out


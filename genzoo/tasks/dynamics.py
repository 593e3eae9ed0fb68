"""The GAN dynamics lab: why adversarial training is hard, made visible and measurable.

**The bilinear game.** ``min_x max_y f(x, y) = x y`` has its only equilibrium at (0, 0).
From (2, 2) with step size ``eta`` (the vector field is ``v = (df/dx, -df/dy) = (y, -x)``):

* ``simultaneous`` gradient descent-ascent: ``(x, y) <- (x - eta y, y + eta x)``; each
  step multiplies the distance to (0, 0) by ``sqrt(1 + eta^2)``: it spirals outwards;
* ``alternating``: y moves after x, seeing the new x; the iterates circle on a bounded
  orbit that never closes in;
* ``optimistic`` (OGDA, Daskalakis et al. 2018): ``z <- z - eta (2 v(z_t) - v(z_{t-1}))``;
* ``extragradient`` (Korpelevich 1976): a look-ahead step ``z' = z - eta v(z)``, then
  ``z <- z - eta v(z')``; each step multiplies the distance by ``sqrt(1 - eta^2 + eta^4)``;
* ``consensus`` optimization (Mescheder et al. 2017): descend ``v + gamma grad(|v|^2 / 2)``.

The last three converge to (0, 0). :func:`bilinear_game` returns the trajectories.

**Mode collapse** (:func:`mode_collapse`): ``gan`` on the toy 2-D ring (8 modes) and
grid (25 modes), for each loss and with and without packing, over several seeds, with the
PacGAN/VEEGAN protocol of :func:`genzoo.evaluate.modes.mixture_modes` (modes covered,
high-quality fraction within 3 sigma, reverse KL of the mode histogram); snapshots of the
samples over training for scatter plots.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from genzoo.errors import GenzooError

METHODS = ("simultaneous", "alternating", "optimistic", "extragradient", "consensus")


def bilinear_game(method: str, *, steps: int = 1000, eta: float = 0.1, start: tuple[float, float] = (2.0, 2.0),
                  gamma: float = 1.0) -> torch.Tensor:
    """Iterates (steps + 1, 2) of (x, y) for ``min_x max_y x y`` under ``method``."""
    if method not in METHODS:
        raise GenzooError(f"unknown method {method!r}; available: {', '.join(METHODS)}")
    if steps < 0 or eta <= 0:
        raise GenzooError("steps must be >= 0 and eta > 0")

    def v(z: torch.Tensor) -> torch.Tensor:  # (df/dx, -df/dy): descent direction is -v
        return torch.stack([z[1], -z[0]])

    z = torch.tensor(start, dtype=torch.float64)
    out, prev = [z.clone()], v(z)
    for _ in range(steps):
        if method == "simultaneous":
            z = z - eta * v(z)
        elif method == "alternating":
            x = z[0] - eta * z[1]
            z = torch.stack([x, z[1] + eta * x])
        elif method == "optimistic":
            g = v(z)
            z, prev = z - eta * (2 * g - prev), g
        elif method == "extragradient":
            z = z - eta * v(z - eta * v(z))
        else:  # consensus: v + gamma * grad(|v|^2 / 2), and |v|^2 / 2 = (x^2 + y^2) / 2 here
            z = z - eta * (v(z) + gamma * z)
        out.append(z.clone())
    return torch.stack(out)


def game_table(trajectories: dict[str, torch.Tensor], at: tuple[int, ...] = (0, 10, 100, 1000)) -> list[dict[str, Any]]:
    """Distance to the equilibrium (0, 0) of each method at the given steps."""
    rows = []
    for name, t in trajectories.items():
        d = t.norm(dim=1)
        rows.append({"method": name, **{f"step {s}": float(d[s]) for s in at if s < len(d)}})
    return rows


def mode_collapse(shapes: tuple[str, ...] = ("ring", "grid"), losses: tuple[str, ...] = ("non_saturating",),
                  packs: tuple[int, ...] = (1, 2), seeds: tuple[int, ...] = (0, 1, 2), *, steps: int = 3000,
                  batch_size: int = 100, samples: int = 2500, snapshots: int = 4, config: dict[str, Any] | None = None,
                  progress: bool = False, log=None) -> dict[str, Any]:
    """Train ``gan`` for every (shape, loss, pack, seed); mode counts at the end, means and
    standard deviations over the seeds, and sample snapshots over training (seed 0)."""
    from genzoo.data.dataset import load_dataset
    from genzoo.evaluate.modes import toy2d_modes
    from genzoo.models.registry import build_model
    from genzoo.train.config import TrainConfig
    from genzoo.train.trainer import Trainer

    runs, snaps = [], {}
    every = max(1, steps // snapshots)
    for shape in shapes:
        data = load_dataset("toy2d", shape=shape)
        for loss in losses:
            for m in packs:
                for seed in seeds:
                    cfg = {**(config or {}), "loss": loss, "pack": m}
                    if loss == "wasserstein_gp":
                        cfg.setdefault("betas", (0.5, 0.9))
                    torch.manual_seed(seed)
                    model = build_model("gan", data.spec, cfg)
                    train = TrainConfig(steps=steps, batch_size=batch_size, seed=seed, checkpoint_every=0,
                                        log_every=max(1, steps // 20))
                    key = f"{shape}/{loss}/pack{m}"
                    shots = []

                    def on_step(step: int, trainer, _shots=shots, _seed=seed) -> None:
                        if _seed == seeds[0] and (step % every == 0 or step == steps):
                            was = trainer.model.training
                            trainer.model.eval()
                            _shots.append((step, trainer.model.sample(1000, generator=torch.Generator().manual_seed(0))))
                            trainer.model.train(was)

                    Trainer(model, data, train, progress=progress, on_step=on_step).fit()
                    model.eval()
                    x = model.sample(samples, generator=torch.Generator().manual_seed(1000 + seed))
                    r = toy2d_modes(x, data.spec)
                    runs.append({"shape": shape, "loss": loss, "pack": m, "seed": seed, **{
                        k: r[k] for k in ("modes_covered", "modes_total", "high_quality", "reverse_kl")}})
                    if shots:
                        snaps[key] = shots
                    if log:
                        log(f"{key} seed {seed}: {r['modes_covered']}/{r['modes_total']} modes, "
                            f"high quality {r['high_quality']:.1%}, reverse KL {r['reverse_kl']:.3f}")
    return {"runs": runs, "summary": summarize(runs), "snapshots": snaps,
            "settings": {"steps": steps, "batch_size": batch_size, "samples": samples, "seeds": list(seeds),
                         "config": config or {}}}


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds for each (shape, loss, pack)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["shape"], r["loss"], r["pack"]), []).append(r)
    rows = []
    for (shape, loss, m), rs in groups.items():
        row: dict[str, Any] = {"shape": shape, "loss": loss, "pack": m, "seeds": len(rs), "modes_total": rs[0]["modes_total"]}
        for k in ("modes_covered", "high_quality", "reverse_kl"):
            v = torch.tensor([r[k] for r in rs], dtype=torch.float64)
            finite = v[torch.isfinite(v)]
            row[k] = float(finite.mean()) if len(finite) else math.inf
            row[f"{k}_std"] = float(finite.std()) if len(finite) > 1 else 0.0
        rows.append(row)
    return rows



def game_report(out: Path, *, steps: int = 1000, eta: float = 0.1, gamma: float = 1.0) -> str:
    """Run the x*y game under every update rule; write ``out/game.png``, ``game.md`` and
    ``game.json``; returns the table (distance to the equilibrium at a few steps)."""
    from genzoo.report.plots import trajectories_png

    trajs = {m: bilinear_game(m, steps=steps, eta=eta, gamma=gamma) for m in METHODS}
    at = tuple(s for s in (0, 10, 100, 1000, 10000) if s <= steps)
    rows = game_table(trajs, at)
    out.mkdir(parents=True, exist_ok=True)
    trajectories_png(trajs, out / "game.png", title=f"min_x max_y x*y from (2, 2), eta = {eta}")
    lines = [f"# min_x max_y x*y from (2, 2), step size {eta}: distance to (0, 0)", "",
             "| method | " + " | ".join(f"step {s}" for s in at) + " |", "|---|" + "---:|" * len(at)]
    lines += ["| " + r["method"] + " | " + " | ".join(f"{r[f'step {s}']:.4g}" for s in at) + " |" for r in rows]
    (out / "game.md").write_text("\n".join(lines) + "\n")
    (out / "game.json").write_text(json.dumps({"eta": eta, "gamma": gamma, "rows": rows}, indent=2))
    return "\n".join(lines[2:])


def modes_report(out: Path, *, shapes: str = "ring,grid", losses: str = "non_saturating", packs: str = "1,2", seeds: int = 3,
                 steps: int = 3000, config: dict | None = None, progress: bool = True) -> str:
    """The mode-collapse lab from comma-separated ``shapes``, ``losses`` (or ``all``) and
    ``packs``: runs :func:`mode_collapse`, writes ``out/modes.md``, ``modes.json`` and the
    scatter plots ``modes-SHAPE.png``; returns the table."""
    from genzoo.data.dataset import load_dataset
    from genzoo.models.adversarial.losses import LOSSES
    from genzoo.report.plots import snapshots_png

    loss_names = LOSSES if losses == "all" else tuple(s.strip() for s in losses.split(",") if s.strip())
    for loss in loss_names:
        if loss not in LOSSES:
            raise GenzooError(f"unknown GAN loss {loss!r}; available: {', '.join(LOSSES)}")
    try:
        pack_sizes = tuple(int(m) for m in packs.split(","))
    except ValueError:
        raise GenzooError(f"bad value {packs!r} for --packs: comma-separated integers") from None
    if any(m < 1 for m in pack_sizes) or seeds < 1:
        raise GenzooError("--packs must be >= 1 and --seeds >= 1")
    shape_names = tuple(s.strip() for s in shapes.split(",") if s.strip())
    for s in shape_names:
        if s not in ("ring", "grid"):
            raise GenzooError(f"bad shape {s!r} for --shapes: ring or grid (the shapes with known modes)")
    res = mode_collapse(shape_names, loss_names, pack_sizes, tuple(range(seeds)), steps=steps, config=config or {},
                        progress=progress, log=print)
    out.mkdir(parents=True, exist_ok=True)
    refs = {s: load_dataset("toy2d", shape=s).test.x for s in shape_names}
    for shape in shape_names:
        rows = {k: v for k, v in res["snapshots"].items() if k.startswith(shape + "/")}
        if rows:
            snapshots_png(rows, out / f"modes-{shape}.png", reference=refs,
                          title=f"gan on the {shape}: samples over training (seed 0)")
    lines = [f"# Mode collapse of `gan` ({res['settings']['steps']} steps, batch {res['settings']['batch_size']}, "
             f"{res['settings']['samples']} samples, mean +/- std over {seeds} seeds)", "",
             "| shape | loss | pack | modes covered | high-quality fraction | reverse KL (nats) |",
             "|---|---|---:|---:|---:|---:|"]
    for r in res["summary"]:
        lines.append(f"| {r['shape']} | {r['loss']} | {r['pack']} | {r['modes_covered']:.1f} +/- {r['modes_covered_std']:.1f}"
                     f" of {r['modes_total']} | {r['high_quality']:.3f} +/- {r['high_quality_std']:.3f} | "
                     f"{r['reverse_kl']:.3f} +/- {r['reverse_kl_std']:.3f} |")
    (out / "modes.md").write_text("\n".join(lines) + "\n")
    (out / "modes.json").write_text(json.dumps({k: v for k, v in res.items() if k != "snapshots"}, indent=2))
    return "\n".join(lines[2:])
